"""``iree-lab compare``: where do two builds of a program diverge?

Runs the function of two modules on the same inputs, pairs their dispatches
and compares each pair's written bindings (:mod:`iree_lab.debug.compare`);
prints a table in execution order and ``first divergence: dispatch N NAME``.
Exit status 0 when nothing diverges, 1 when something does (or the dispatches
cannot be paired), 2 on errors and when neither run dispatched anything.
"""

from __future__ import annotations

import sys


def add_parser(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="run two builds on the same inputs and find the first dispatch that diverges",
        description="Runs a function of two modules on the same inputs and compares them "
        "dispatch by dispatch.",
    )
    p.add_argument("module_a", metavar="A.vmfb")
    p.add_argument("module_b", metavar="B.vmfb")
    add_run_flags(p)
    p.add_argument("--atol", type=float, default=None,
                   help="absolute tolerance for float elements (default per type: "
                   "iree-run-module's --expected_*_threshold, f16 1e-3, f32 1e-4, f64 1e-4; "
                   "bf16 1e-2; integers and untyped bytes exact)")
    p.add_argument("--rtol", type=float, default=None,
                   help="relative tolerance for float elements (default: the same as --atol's "
                   "default per type)")
    p.add_argument("--spill_dir", default=None, metavar="DIR",
                   help="where the captured bindings go while comparing (default: a "
                   "temporary folder, removed afterwards)")
    p.set_defaults(func=compare)


def add_run_flags(p) -> None:
    """The flags of ``iree-lab run`` that choose what runs (also extract-dispatch)."""
    p.add_argument("--function", default="", help="exported function to run")
    p.add_argument("--input", action="append", default=[], metavar="VALUE",
                   help="function argument in iree-run-module's syntax; repeatable")
    p.add_argument("--device", default="local-sync",
                   help="HAL device: local-sync (default) or local-task")
    p.add_argument("--no_native", action="store_true",
                   help="refuse executables that run native code (llvm-cpu)")


def tolerances(args) -> dict:
    from iree_lab.debug.compare import DEFAULT_TOLERANCES

    return {element: (default[0] if args.atol is None else args.atol,
                      default[1] if args.rtol is None else args.rtol)
            for element, default in DEFAULT_TOLERANCES.items()}


def progress_printer():
    """A progress callback writing one updating line on stderr, or None when not a TTY."""
    if not sys.stderr.isatty():
        return None

    def show(text: str) -> None:
        sys.stderr.write(f"\r\x1b[K{text}")
        sys.stderr.flush()
    return show


def compare(args) -> int:
    from iree_lab.debug.compare import CompareError, compare_modules, format_table

    progress = progress_printer()
    try:
        comparison = compare_modules([args.module_a], [args.module_b], args.function,
                                     args.input, device=args.device,
                                     native=not args.no_native, tolerances=tolerances(args),
                                     spill_dir=args.spill_dir, progress=progress)
    except CompareError as e:
        if progress:
            sys.stderr.write("\r\x1b[K")
        print(f"iree-lab compare: {e}", file=sys.stderr)
        return 2
    if progress:
        sys.stderr.write("\r\x1b[K")
    try:
        sys.stdout.write(format_table(comparison))
    finally:
        comparison.cleanup()
    if not comparison.a.dispatches and not comparison.b.dispatches:
        return 2  # nothing was compared: not "no divergence"
    return 1 if comparison.diverges else 0
