"""What debugging costs: no hook vs the debugger's hook vs breakpoints and stepping.

    python benchmarks/debug_overhead.py [--quick]

On the same loops as benchmarks/vm_loop.py (``loop_sum`` from scalar.mlir,
``call_loop`` with one internal call per iteration) it measures the time per
loop iteration, as the difference between two iteration counts (start-up
cancels out), best of several runs, for:

- iree-run-module (native IREE),
- the fast tier with no hook installed (``Context.call``),
- the stepping tier with no hook (``Context(fast=False)``),
- the stepping tier with a no-op hook (the VM's hook point alone),
- the debugger running free (``Debugger.cont()``, no breakpoints), with its
  periodic time-travel snapshots and without them,
- the debugger with a breakpoint in another function (nothing to test in the loop),
- the debugger with a conditional breakpoint inside the loop that never holds
  (its condition is evaluated every iteration),
- the same debugger rows counting over the stepping tier's register lists
  (``debugger.PROBED = False``) and with every instruction through the hook
  (``debugger.COUNTING = False``, how the debugger ran before counting runs),

then the cost of interactive commands: one ``step()`` (a worker round trip)
and ``back()`` from the end of a long run (snapshot restore + re-execution).
Every ratio is against iree-run-module measured in the same run. The first
two rows show the claim that an absent hook costs nothing: the fast tier
never looks for one, and the stepping tier checks for it once per run of
straight-line code, not per instruction.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from iree_lab import vm  # noqa: E402
from iree_lab.debug import Debugger  # noqa: E402
from iree_lab.debug import debugger as debugger_module  # noqa: E402
from iree_lab.testing import corpus  # noqa: E402

LOOPS = [
    # (name, corpus program, function, pc of an instruction inside the loop)
    ("loop_sum", "scalar_vmvx", "loop_sum", 0x4F),
    ("call_loop", "vm_bench", "call_loop", None),
]


def _best(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def per_iteration(run, n: int, repeats: int) -> float:
    """Seconds per iteration: (time(n) - time(1)) / (n - 1)."""
    run(1)
    small = _best(lambda: run(1), repeats)
    large = _best(lambda: run(n), repeats)
    return max(large - small, 1e-12) / (n - 1)


def native(path, function: str, n: int, repeats: int) -> float:
    tool = corpus.tool_path("iree-run-module")

    def run(count):
        subprocess.run([tool, f"--module={path}", f"--function={function}",
                        f"--input={count}"], check=True, capture_output=True)

    return per_iteration(run, n, repeats)


def _noop_hook(invocation, frame, index):
    return False


def debugger_run(path, function: str, setup=None, counting=True, probed=True, **options):
    """A runner timing only ``cont()`` (building the world is outside the timing)."""

    def run(count):
        debugger_module.COUNTING = counting
        debugger_module.PROBED = probed
        try:
            dbg = Debugger.launch(path, function, [str(count)], dispatches=False, **options)
        finally:
            debugger_module.COUNTING = True
            debugger_module.PROBED = True
        if setup is not None:
            setup(dbg)
        t0 = time.perf_counter()
        stop = dbg.cont()
        elapsed = time.perf_counter() - t0
        assert stop.reason == "done", stop
        dbg.close()
        return elapsed

    return run


def per_iteration_timed(run, n: int, repeats: int) -> float:
    """Like per_iteration for runners that time themselves."""
    run(1)
    small = min(run(1) for _ in range(repeats))
    large = min(run(n) for _ in range(repeats))
    return max(large - small, 1e-12) / (n - 1)


def interactive(path, function: str, n: int) -> tuple[float, float, float]:
    """(seconds per step(), per back() from the end, per goto(middle)) on one long run."""
    dbg = Debugger.launch(path, function, [str(n)], dispatches=False)
    t0 = time.perf_counter()
    steps = 200
    for _ in range(steps):
        dbg.step()
    step = (time.perf_counter() - t0) / steps
    end = dbg.cont()
    t0 = time.perf_counter()
    dbg.back()
    back = time.perf_counter() - t0
    t0 = time.perf_counter()
    dbg.goto(end.position // 2)
    goto = time.perf_counter() - t0
    dbg.close()
    return step, back, goto


def measure(name: str, program: str, function: str, loop_pc, native_n: int, lab_n: int,
            repeats: int) -> None:
    path = corpus.build(program)
    base = native(path, function, native_n, repeats)
    rows = [("iree-run-module", base)]

    def ctx_runner(ctx):
        return lambda count: ctx.call(function, count)

    fast_ctx = vm.Context([vm.BytecodeModule.load(path)])
    rows.append(("fast tier, no hook", per_iteration(ctx_runner(fast_ctx), lab_n, repeats)))
    slow_ctx = vm.Context([vm.BytecodeModule.load(path)], fast=False)
    rows.append(("stepping tier, no hook", per_iteration(ctx_runner(slow_ctx), lab_n, repeats)))
    hook_ctx = vm.Context([vm.BytecodeModule.load(path)], hook=_noop_hook)
    rows.append(("stepping tier, no-op hook",
                 per_iteration(ctx_runner(hook_ctx), lab_n, repeats)))
    rows.append(("debugger cont, snapshots", per_iteration_timed(
        debugger_run(path, function), lab_n, repeats)))
    rows.append(("debugger cont, no snapshots", per_iteration_timed(
        debugger_run(path, function, snapshot_interval=0), lab_n, repeats)))
    rows.append(("debugger, breakpoint elsewhere", per_iteration_timed(
        debugger_run(path, function, setup=lambda d: d.break_opcode("vm.fail")),
        lab_n, repeats)))
    if loop_pc is not None:
        rows.append(("debugger, false condition in loop", per_iteration_timed(
            debugger_run(path, function,
                         setup=lambda d: d.break_at(function, loop_pc, condition="i2 < 0")),
            lab_n // 4, repeats)))
    for prefix, how in (("lists", {"probed": False}), ("all hooked", {"counting": False})):
        rows.append((f"{prefix}: debugger cont, snapshots", per_iteration_timed(
            debugger_run(path, function, **how), lab_n, repeats)))
        rows.append((f"{prefix}: breakpoint elsewhere", per_iteration_timed(
            debugger_run(path, function, setup=lambda d: d.break_opcode("vm.fail"), **how),
            lab_n, repeats)))
        if loop_pc is not None:
            rows.append((f"{prefix}: false condition in loop", per_iteration_timed(
                debugger_run(path, function, **how, setup=lambda d: d.break_at(
                    function, loop_pc, condition="i2 < 0")), lab_n // 4, repeats)))
    print(f"\n{name} (time per loop iteration; ratio vs iree-run-module)")
    for label, seconds in rows:
        print(f"  {label:<36} {seconds * 1e9:>10.1f} ns {seconds / base:>9.1f}x")
    fast, slow, hooked, free = rows[1][1], rows[2][1], rows[3][1], rows[4][1]
    print(f"  hook point: the stepping tier with a no-op hook runs at {hooked / slow:.2f}x the "
          f"time of the stepping tier without one; the fast tier (no hook) at "
          f"{fast / slow:.2f}x; the debugger running free at {free / hooked:.2f}x the no-op hook")
    step, back, goto = interactive(path, function, lab_n * 10)
    print(f"  interactive: step() {step * 1e3:.2f} ms, back() from the end of "
          f"{lab_n * 10} iterations {back * 1e3:.1f} ms, goto(middle) {goto * 1e3:.1f} ms")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations and repeats")
    args = parser.parse_args(argv)
    native_n = 2_000_000 if args.quick else 20_000_000
    lab_n = 10_000 if args.quick else 60_000
    repeats = 2 if args.quick else 5
    for name, program, function, loop_pc in LOOPS:
        measure(name, program, function, loop_pc, native_n, lab_n, repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
