"""``iree-lab extract-dispatch``: one dispatch of a run as a standalone repro folder.

See :mod:`iree_lab.debug.repro` for what the folder holds; ``iree-lab
run-dispatch DIR`` re-runs it, ``DIR/benchmark.sh`` times it with
``iree-benchmark-executable``.
"""

from __future__ import annotations

import sys


def add_parser(sub) -> None:
    from iree_lab.cli.compare import add_run_flags

    p = sub.add_parser(
        "extract-dispatch",
        help="write one dispatch of a run (executable, bindings, constants, expected "
        "outputs) to a folder",
        description="Runs a function and writes the dispatch with the given ordinal "
        "(execution order, as `iree-lab compare` numbers them) as a standalone repro.",
    )
    p.add_argument("module", metavar="FILE", help="the .vmfb")
    add_run_flags(p)
    p.add_argument("--dispatch", type=int, required=True, metavar="N",
                   help="ordinal of the dispatch in execution order (0 = first)")
    p.add_argument("--output-dir", "--output_dir", dest="output_dir", required=True,
                   metavar="DIR")
    p.set_defaults(func=extract)


def extract(args) -> int:
    from iree_lab.debug.compare import CompareError
    from iree_lab.debug.repro import extract_dispatch

    try:
        manifest = extract_dispatch([args.module], args.function, args.input, args.dispatch,
                                    args.output_dir, device=args.device,
                                    native=not args.no_native)
    except CompareError as e:
        print(f"iree-lab extract-dispatch: {e}", file=sys.stderr)
        return 1
    wg = "x".join(str(v) for v in manifest["workgroup_count"])
    written = [b["binding"] for b in manifest["bindings"] if b["expected"]]
    print(f"dispatch {args.dispatch} {manifest['export_name']} "
          f"({manifest['executable']['format']}, entry point {manifest['entry_point']}, "
          f"workgroups {wg}, {len(manifest['bindings'])} bindings, writes "
          f"{', '.join(map(str, written)) or 'none'}) -> {args.output_dir}")
    return 0
