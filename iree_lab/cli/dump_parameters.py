"""``iree-lab dump-parameters``: what ``iree-dump-parameters`` prints, byte for byte.

Takes iree-dump-parameters' flags (``--parameters=[scope=]FILE`` repeatable,
``--extract=[scope::]key=file.bin`` repeatable) and, for convenience, files as
positional arguments (global scope). Errors exit 1 with IREE-style status text.
"""

from __future__ import annotations

import sys


def add_parser(sub) -> None:
    p = sub.add_parser(
        "dump-parameters",
        help="list the parameters of .irpa/.safetensors/.gguf files (iree-dump-parameters)",
        description="Prints the parameter index of each scope exactly like "
        "iree-dump-parameters.",
    )
    p.add_argument("files", nargs="*", metavar="FILE",
                   help="parameter file in the global scope (same as --parameters=FILE)")
    p.add_argument("--parameters", action="append", default=[], metavar="[SCOPE=]FILE",
                   help="parameter file, global or under a named scope; repeatable")
    p.add_argument("--parameter_mode", default="file", choices=("file", "preload"),
                   help="accepted for compatibility; files are always memory-mapped")
    p.add_argument("--extract", action="append", default=[], metavar="[SCOPE::]KEY=FILE",
                   help="write a parameter's bytes to a file; repeatable")
    p.set_defaults(func=run)


def run(args) -> int:
    from iree_lab.format.parameters import ParameterFormatError, ScopeMap
    from iree_lab.format.parameters.dump import dump_text

    flags = list(args.parameters) + list(args.files)
    try:
        scope_map = ScopeMap.from_flags(flags)
    except ParameterFormatError as e:
        _fail(e.status_text())
        return 1
    out = sys.stdout.buffer
    out.write(dump_text(scope_map).encode("utf-8", "surrogateescape"))
    for flag in args.extract:
        try:
            _extract(scope_map, flag, out)
        except ParameterFormatError as e:
            _fail(f"{e.status_text()}; extracting parameter with flag `{flag}`")
            return 1
    out.flush()
    return 0


def _extract(scope_map, flag: str, out) -> None:
    from iree_lab.format.parameters import ParameterFormatError

    identifier, _, path = flag.partition("=")
    scope, sep, key = identifier.partition("::")
    if not sep:
        scope, key = "", identifier
    entry = scope_map.lookup(scope).lookup(key)
    prefix = f"{scope}::" if scope else ""
    out.write(f"Extracting parameter `{prefix}{key}` ({entry.length}b) to `{path}`...\n"
              .encode("utf-8", "surrogateescape"))
    if entry.storage != "file":
        raise ParameterFormatError("cannot extract parameters of type 1",
                                   code="FAILED_PRECONDITION", key=key)
    with open(path, "wb") as f:
        f.write(entry.read())


def _fail(text: str) -> None:
    sys.stdout.flush()
    print(f"iree-lab dump-parameters: {text}", file=sys.stderr)
