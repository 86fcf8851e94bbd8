#!/usr/bin/env python3
"""Benchmark: full disassembly, iree_lab vs iree-dump-module, in the same run.

Disassembles (``--output=disassembly``) the largest corpus module (by bytecode
size) and a synthetic large module (the ISA integer program's functions
repeated, assembled with iree-as-module), timing alternately, several times:

* iree_lab in-process: ``iree_lab.open`` + ``iree_lab.isa.disassemble`` on a
  fresh module each run (nothing cached);
* ``iree-lab dump --output=disassembly`` as a process (``python -m iree_lab``);
* the native ``iree-dump-module`` binary;
* ``iree-dump-module`` as users invoke it (the pip console script, a Python
  wrapper that execs the native binary).

Prints median wall times and ratios (goal: within 3x of iree-dump-module).
Outputs are compared byte for byte as a sanity check.

With --big PATH, also a (huge) module such as the 256 MiB one that
benchmarks/open_metadata.py builds (its disassembly is dominated by rodata hex).

Usage: python benchmarks/disassemble.py [--runs 15] [--copies 200] [--big PATH]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "benchmarks" / ".cache"
sys.path.insert(0, str(REPO))


def largest_corpus_module() -> tuple[str, Path]:
    import iree_lab
    from iree_lab.testing import corpus

    best = None
    for name in corpus.PROGRAMS:
        try:
            path = corpus.build(name)
            size = len(iree_lab.open(str(path)).bytecode)
        except Exception as e:  # a broken program elsewhere must not stop the benchmark
            print(f"  (skipping {name}: {e})", file=sys.stderr)
            continue
        if best is None or size > best[0]:
            best = (size, name, path)
    assert best is not None
    return best[1], best[2]


def synthetic_module(copies: int) -> Path:
    """The isa integer program with its functions repeated ``copies`` times."""
    from iree_lab.testing import corpus

    CACHE.mkdir(parents=True, exist_ok=True)
    out = CACHE / f"isa_integer_x{copies}.vmfb"
    if out.exists():
        return out
    source = (REPO / "tests" / "programs" / "isa" / "integer.vmasm").read_text()
    header, _, body = source.partition("\nvm.export ")
    body = "vm.export " + body
    parts = [header.replace("@isa_integer", "@isa_integer_big"), ""]
    for i in range(copies):
        parts.append(re.sub(r"@(\w+)", rf"@\1_{i}", body))
    asm = CACHE / f"isa_integer_x{copies}.vmasm"
    asm.write_text("\n".join(parts))
    subprocess.run(
        [corpus.tool_path("iree-as-module"), f"--output={out}", str(asm)], check=True
    )
    return out


def time_process(cmd: list[str]) -> tuple[float, bytes]:
    start = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True)
    elapsed = time.perf_counter() - start
    return elapsed, result.stdout


def time_in_process(path: Path) -> tuple[float, bytes]:
    import iree_lab
    from iree_lab.isa import disassemble

    start = time.perf_counter()
    text = disassemble(iree_lab.open(str(path)))
    elapsed = time.perf_counter() - start
    return elapsed, text.encode("utf-8", "surrogateescape")


def bench(label: str, path: Path, runs: int) -> None:
    from iree_lab.testing import corpus

    native = corpus.tool_path("iree-dump-module")
    wrapper = shutil.which("iree-dump-module")
    variants = {
        "iree_lab in-process": lambda: time_in_process(path),
        "iree-lab dump (CLI)": lambda: time_process(
            [sys.executable, "-m", "iree_lab", "dump", "--output=disassembly", str(path)]
        ),
        "iree-dump-module (native)": lambda: time_process(
            [native, "--output=disassembly", str(path)]
        ),
    }
    if wrapper and wrapper != native:
        variants["iree-dump-module (PATH)"] = lambda: time_process(
            [wrapper, "--output=disassembly", str(path)]
        )
    times: dict[str, list[float]] = {k: [] for k in variants}
    outputs: dict[str, bytes] = {}
    for _ in range(runs):
        for key, fn in variants.items():  # alternate so drift hits every variant alike
            elapsed, out = fn()
            times[key].append(elapsed)
            outputs[key] = out
    reference = outputs["iree-dump-module (native)"]
    for key, out in outputs.items():
        assert out == reference, f"{key} output differs from iree-dump-module"
    med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    print(f"\n{label}: {path.name} ({len(reference)} bytes of disassembly, {runs} runs)")
    for key, ms in med.items():
        print(f"  {key:28s} {ms:9.2f} ms (median)")
    n = med["iree-dump-module (native)"]
    print(f"  ratio in-process / native iree-dump-module: {med['iree_lab in-process'] / n:6.2f}x")
    print(f"  ratio CLI / native iree-dump-module:        {med['iree-lab dump (CLI)'] / n:6.2f}x")
    if "iree-dump-module (PATH)" in med:
        w = med["iree-dump-module (PATH)"]
        print(f"  ratio CLI / iree-dump-module (PATH):        {med['iree-lab dump (CLI)'] / w:6.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--copies", type=int, default=200)
    parser.add_argument("--big", type=Path, help="also time this module (3 runs)")
    args = parser.parse_args()
    name, path = largest_corpus_module()
    bench(f"largest corpus module ({name})", path, args.runs)
    if args.copies:
        bench(f"synthetic module ({args.copies} copies of isa_integer)",
              synthetic_module(args.copies), args.runs)  # fmt: skip
    if args.big:
        bench("big module", args.big, 3)


if __name__ == "__main__":
    main()
