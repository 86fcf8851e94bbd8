"""``iree-lab extract``: write every executable blob, code object and embedded source.

Layout under ``--output-dir``::

    <executable>.<ext>                   the blob as hal.executable.create gets it
    <executable>/<kind>_<n>.<ext>        each code object (SPIR-V, PTX, HSACO, MSL, ...)
    <executable>/sources/<path>          each embedded source file

``<executable>`` is the blob's ZIP entry name without extension (what
iree-compile named it), else ``executable_<N>``. Paths taken from the module
are sanitised: no absolute paths, no ``..``, nothing outside the output dir.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from iree_lab.errors import IreeLabError

_EXTENSIONS = {
    "spirv": "spv", "ptx": "ptx", "cubin": "cubin", "hsaco": "hsaco", "msl": "metal",
    "metallib": "metallib", "metallibsym": "metallibsym", "wgsl": "wgsl", "elf": "so",
    "vmfb": "vmfb", "unknown": "bin",
}
_SAFE = re.compile(r"[^A-Za-z0-9._+-]")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "extract",
        help="write embedded executables, their code objects and sources to a directory",
        description="Extracts every executable blob, code object and embedded source file.",
    )
    p.add_argument("module", metavar="FILE", help="module file (.vmfb)")
    p.add_argument("--output-dir", "--output_dir", dest="output_dir", required=True,
                   metavar="DIR", help="directory to write into (created if missing)")
    p.set_defaults(func=run)


def safe_relative_path(path: str, fallback: str) -> Path:
    """A relative path with only safe components (never absolute, never ``..``)."""
    parts = [_SAFE.sub("_", p) for p in re.split(r"[\\/]+", path) if p not in ("", ".", "..")]
    parts = [p for p in parts if p not in ("", ".", "..")]
    return Path(*parts) if parts else Path(fallback)


def extract(module, output_dir: Path) -> list[Path]:
    """Writes everything; returns the written paths (relative to ``output_dir``)."""
    from iree_lab.hal.executables import find_executables

    output_dir.mkdir(parents=True, exist_ok=True)
    root = output_dir.resolve()
    written: list[Path] = []

    def write(rel: Path, data: bytes) -> None:
        target = (root / rel).resolve()
        if root != target and root not in target.parents:
            raise IreeLabError(f"refusing to write outside {root}: {rel}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        written.append(target.relative_to(root))

    used: set[str] = set()
    for exe in find_executables(module):
        parsed = exe.parse()
        stem = _SAFE.sub("_", exe.name)
        if stem in used:
            stem = f"{stem}_{exe.ordinal}"
        used.add(stem)
        suffix = (exe.archive_name.rsplit(".", 1)[-1] if exe.archive_name and "." in
                  exe.archive_name else _EXTENSIONS.get(parsed.container, "bin"))
        write(Path(f"{stem}.{_SAFE.sub('_', suffix)}"), parsed.data)
        # A single code object that *is* the blob (ELF, VMVX) is not written twice.
        for code in parsed.code_objects:
            if code.data == parsed.data:
                continue
            ext = _EXTENSIONS.get(code.kind, "bin")
            write(Path(stem) / f"{code.kind}_{code.ordinal}.{ext}", code.data)
        for i, f in enumerate(parsed.source_files):
            write(Path(stem) / "sources" / safe_relative_path(f.path, f"source_{i}"),
                  f.content)
    return written


def run(args) -> int:
    import iree_lab

    module = iree_lab.open(args.module)
    out_dir = Path(args.output_dir)
    for rel in extract(module, out_dir):
        sys.stdout.write(f"{out_dir / rel}\n")
    return 0
