"""VM loop throughput: iree_lab vs iree-run-module on the same modules, in one run.

    python benchmarks/vm_loop.py [--quick] [--profile]

Loops: ``loop_sum`` (the counting loop iree-compile emits for scalar.mlir),
``call_loop`` (one internal call per iteration) and ``buffer_reduce`` (a
vm.buffer load per iteration), from tests/programs. For each loop the time per
iteration is measured as the difference between two iteration counts (so
process start-up and module loading cancel out), the best of several runs, for:

- iree-run-module (native IREE interpreter),
- iree_lab's fast tier (no hook installed),
- iree_lab's stepping tier with a no-op stepping hook (what a debugger costs).

It prints per-iteration times and the ratios against IREE (goals: fast tier
within 25x, stepping hook within 150x), then, with --profile, where the time
goes in each tier (cProfile, top entries).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from iree_lab import vm  # noqa: E402
from iree_lab.testing import corpus  # noqa: E402

LOOPS = [
    # (name, corpus program, function, iteration counts for native, for iree_lab)
    ("loop_sum", "scalar_vmvx", "loop_sum"),
    ("call_loop", "vm_bench", "call_loop"),
    ("buffer_reduce", "vm_bench", "buffer_reduce"),
]
GOAL_FAST = 25
GOAL_HOOK = 150


def _best(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def native_per_iteration(path: Path, function: str, n: int, repeats: int) -> float:
    tool = corpus.tool_path("iree-run-module")

    def run(count):
        subprocess.run([tool, f"--module={path}", f"--function={function}",
                        f"--input={count}"], check=True, capture_output=True)  # fmt: skip

    small = _best(lambda: run(1), repeats)
    large = _best(lambda: run(n), repeats)
    return max(large - small, 1e-9) / (n - 1)


def lab_per_iteration(ctx: vm.Context, function: str, n: int, repeats: int) -> float:
    ctx.call(function, 1)  # compile outside the timing
    small = _best(lambda: ctx.call(function, 1), repeats)
    large = _best(lambda: ctx.call(function, n), repeats)
    return max(large - small, 1e-12) / (n - 1)


def _noop_hook(invocation, frame, index):
    return False


def profile(ctx: vm.Context, function: str, n: int, label: str) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    ctx.call(function, n)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).sort_stats("tottime")
    stats.print_stats(6)
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    return f"--- profile: {label} ---\n" + "\n".join(lines[-8:])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations and repeats")
    parser.add_argument("--profile", action="store_true", help="print cProfile summaries")
    args = parser.parse_args(argv)
    native_n = 2_000_000 if args.quick else 20_000_000
    fast_n = 20_000 if args.quick else 200_000
    hook_n = 5_000 if args.quick else 40_000
    repeats = 2 if args.quick else 3

    rows = []
    profiles = []
    for name, program, function in LOOPS:
        path = corpus.build(program)
        module = vm.BytecodeModule.load(path)
        native = native_per_iteration(path, function, native_n, repeats)
        fast_ctx = vm.Context([module])
        fast = lab_per_iteration(fast_ctx, function, fast_n, repeats)
        hook_ctx = vm.Context([vm.BytecodeModule.load(path)], hook=_noop_hook)
        hooked = lab_per_iteration(hook_ctx, function, hook_n, repeats)
        rows.append((name, native, fast, hooked))
        if args.profile:
            profiles.append(profile(fast_ctx, function, fast_n, f"{name}, fast tier"))
            profiles.append(profile(hook_ctx, function, hook_n // 4, f"{name}, stepping + hook"))

    print(f"{'loop':<14} {'iree-run-module':>16} {'fast tier':>12} {'ratio':>8} "
          f"{'stepping+hook':>14} {'ratio':>8}")  # fmt: skip
    ok = True
    for name, native, fast, hooked in rows:
        fast_ratio = fast / native
        hook_ratio = hooked / native
        ok &= fast_ratio <= GOAL_FAST and hook_ratio <= GOAL_HOOK
        print(f"{name:<14} {native * 1e9:>13.1f} ns {fast * 1e9:>9.1f} ns {fast_ratio:>7.1f}x "
              f"{hooked * 1e9:>11.1f} ns {hook_ratio:>7.1f}x")  # fmt: skip
    print(f"goals: fast tier <= {GOAL_FAST}x, stepping hook <= {GOAL_HOOK}x: "
          f"{'met' if ok else 'NOT met'}")
    for text in profiles:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
