#!/usr/bin/env python3
"""Benchmark: VMVX programs end to end, iree_lab (VM + Python HAL) vs native IREE.

Runs ``tests/programs/hal/bench.mlir`` (a 256x256 f32 matmul and a 65536-element
elementwise chain) compiled for VMVX, plain and with microkernels + data tiling,
and times in the same run:

* native ``iree.runtime`` in-process with ``local-sync`` (the call only);
* native ``iree-run-module --device=local-sync`` as a process (whole run);
* iree_lab in-process: ``Context.call_function`` with the Python ``hal`` module
  (cold = first call, including code generation; warm = median of later calls).

Prints median wall times and ratios iree_lab / native. Results are compared
byte for byte (iree-run-module's printed output) as a sanity check.

Usage: python benchmarks/hal_vmvx.py [--runs 3] [--skip-plain-matmul]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

UKERNEL_FLAGS = ["--iree-vmvx-enable-microkernels", "--iree-dispatch-creation-data-tiling"]


def build(ukernels: bool) -> Path:
    from iree_lab.testing import corpus

    if not ukernels:
        return corpus.build("hal_bench")
    return corpus.build(corpus.Program("hal_bench_uk", "hal/bench.mlir",
                                       tuple(corpus._LOCAL_VMVX + UKERNEL_FLAGS)))


def inputs(function: str, directory: Path) -> tuple[list[np.ndarray], list[str]]:
    """Input arrays and ``@file.npy`` specs (the values are too long for a command line)."""
    rng = np.random.default_rng(0)
    if function == "matmul":
        arrays = [rng.integers(-4, 5, (256, 256)).astype(np.float32) * 0.5 for _ in range(2)]
    else:
        arrays = [rng.integers(-100, 100, 65536).astype(np.float32) * 0.25 for _ in range(2)]
    specs = []
    for i, a in enumerate(arrays):
        path = directory / f"{function}_{i}.npy"
        np.save(path, a)
        specs.append(f"@{path}")
    return arrays, specs


def time_native_process(path: Path, function: str, specs: list[str], runs: int):
    from iree_lab.testing import corpus

    tool = corpus.tool_path("iree-run-module")
    times = []
    out = None
    for _ in range(runs):
        start = time.perf_counter()
        result = subprocess.run([tool, "--device=local-sync", f"--module={path}",
                                 f"--function={function}", *[f"--input={s}" for s in specs]],
                                capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - start)
        out = result.stdout
    return statistics.median(times), out


def time_native_inprocess(path: Path, function: str, arrays, runs: int):
    import iree.runtime as ireert

    config = ireert.Config("local-sync")
    ctx = ireert.SystemContext(config=config)
    ctx.add_vm_module(ireert.VmModule.mmap(config.vm_instance, str(path)))
    fn = ctx.modules.module[function]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        np.asarray(fn(*arrays))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_iree_lab(path: Path, function: str, specs: list[str], runs: int):
    from iree_lab import vm
    from iree_lab.hal import io, tooling

    user = vm.BytecodeModule.load(path)
    session = tooling.Session.for_modules([user])
    ctx = vm.Context(session.modules + [user])
    fn = ctx.lookup_function(function)
    args = session.parse_inputs(fn.cconv.arguments, specs)
    start = time.perf_counter()
    results = ctx.call_function(fn, args)
    cold = time.perf_counter() - start
    warm = []
    for _ in range(max(0, runs - 1)):
        start = time.perf_counter()
        results = ctx.call_function(fn, args)
        warm.append(time.perf_counter() - start)
    text = f"EXEC @{function}\n" + io.format_results(results, fn.cconv.results)
    return cold, (statistics.median(warm) if warm else cold), text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-plain-matmul", action="store_true",
                        help="skip the ~minutes-long matmul without microkernels")
    args = parser.parse_args()
    import tempfile

    directory = Path(tempfile.mkdtemp(prefix="hal_vmvx_bench_"))
    rows = []
    for ukernels in (False, True):
        path = build(ukernels)
        mode = "vmvx+ukernels" if ukernels else "vmvx"
        for function in ("chain", "matmul"):
            if function == "matmul" and not ukernels and args.skip_plain_matmul:
                continue
            arrays, specs = inputs(function, directory)
            runs = 1 if (function == "matmul" and not ukernels) else args.runs
            native_call = time_native_inprocess(path, function, arrays, args.runs)
            native_proc, expected = time_native_process(path, function, specs, args.runs)
            cold, warm, ours = time_iree_lab(path, function, specs, runs)
            same = "identical" if ours == expected else "DIFFERENT"
            rows.append((mode, function, native_call, native_proc, cold, warm, same))
            print(f"{mode:14} {function:7} native call {native_call * 1e3:9.1f} ms | "
                  f"iree-run-module {native_proc * 1e3:8.1f} ms | iree_lab cold "
                  f"{cold * 1e3:9.1f} ms, warm {warm * 1e3:9.1f} ms | "
                  f"warm/native call {warm / native_call:8.1f}x | "
                  f"warm/iree-run-module {warm / native_proc:6.1f}x | output {same}",
                  flush=True)
    return 0 if all(r[-1] == "identical" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
