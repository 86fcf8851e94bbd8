"""``iree-lab run-dispatch DIR``: re-run an extracted dispatch and check its outputs.

Exit status 0 when every binding ends bit for bit as in the original run, 1
when one does not (or the repro cannot be run).
"""

from __future__ import annotations

import sys


def add_parser(sub) -> None:
    p = sub.add_parser(
        "run-dispatch",
        help="re-run a dispatch extracted by extract-dispatch and compare with its "
        "expected outputs",
        description="Runs the dispatch of an `iree-lab extract-dispatch` folder standalone "
        "through iree_lab's HAL and compares every binding bit for bit.",
    )
    p.add_argument("folder", metavar="DIR")
    p.add_argument("--device", default="local-sync",
                   help="HAL device: local-sync (default) or local-task")
    p.add_argument("--no_native", action="store_true",
                   help="refuse executables that run native code (llvm-cpu)")
    p.set_defaults(func=run)


def run(args) -> int:
    from iree_lab.debug.compare import CompareError
    from iree_lab.debug.repro import load_manifest, run_dispatch

    try:
        manifest = load_manifest(args.folder)
        results = run_dispatch(args.folder, device=args.device, native=not args.no_native)
    except CompareError as e:
        print(f"iree-lab run-dispatch: {e}", file=sys.stderr)
        return 1
    print(f"dispatch {manifest['export_name']} "
          f"(workgroups {'x'.join(map(str, manifest['workgroup_count']))})")
    for r in results:
        role = "output" if r.written else "input"
        state = ("bit-identical" if r.identical else
                 f"{r.differing_bytes} of {r.length} bytes differ, first at byte {r.first_byte}")
        print(f"  binding {r.binding} ({role}, {r.length} bytes): {state}")
    ok = all(r.identical for r in results)
    print("reproduced bit for bit" if ok else "NOT reproduced")
    return 0 if ok else 1
