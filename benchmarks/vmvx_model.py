#!/usr/bin/env python3
"""Benchmark: real-model-sized VMVX programs, iree_lab vs ``iree-run-module --device=local-sync``.

Two models written in this project (``tests/programs/hal/``), compiled for VMVX
with iree-compile's defaults (no microkernels: every dispatch is bytecode loops
of ``vm.buffer`` loads/stores):

* ``convnet``: a ResNet-18-shaped block: a stride-2 3x3 stem to 56x56x64, a 3x3
  64->64 convolution at 56x56 (ResNet-18's layer1 size, 115M multiply-adds) with
  bias, residual and relu, global average pool, a 64->10 fc;
* ``transformer``: a GPT-2-shaped block (sequence 128, width 256, 4 heads):
  layernorm, q/k/v, softmax attention, projection, residuals, a GELU MLP.

Times in the same run, on the same module and inputs (``@file.npy``):

* native: ``iree-run-module --device=local-sync`` as a process (median of runs);
* iree_lab in-process: ``Context.call_function`` with the Python HAL, dispatches
  lifted to numpy (:mod:`iree_lab.hal.vmvx_lift`), best of runs;
* ``iree-lab run`` as a process (Python start-up and imports included);
* with ``--vm``: iree_lab with lifting off (every dispatch in the VM's fast tier,
  the state before lifting existed; minutes).

and checks that iree_lab prints byte for byte what iree-run-module prints.

With ``--model resnet18``: the full ResNet-18 of ``tests/programs/models`` (224x224 image,
weights embedded), the issue's yardstick; iree-run-module takes ~40 s on it.

Usage: python benchmarks/vmvx_model.py [--runs 3] [--vm] [--model convnet] [--model resnet18]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MODELS = {
    # name: (corpus program, function, input shapes)
    "convnet": ("hal_model_convnet", "convnet",
                [(1, 113, 113, 3), (3, 3, 3, 64), (64,), (3, 3, 64, 64), (64,), (64, 10)]),
    "transformer": ("hal_model_transformer", "block",
                    [(128, 256), (256,), (256,), (256, 256), (256, 256), (256, 256), (256, 256),
                     (256,), (256,), (256, 1024), (1024, 256)]),
    # The whole ResNet-18 (tests/programs/models/resnet18.py, 224x224): minutes; opt-in.
    "resnet18": ("model_resnet18_vmvx", "main$async", [(1, 3, 224, 224)]),
}
DEFAULT_MODELS = ("convnet", "transformer")


def input_specs(name: str, shapes, directory: Path) -> list[str]:
    rng = np.random.default_rng(0)
    specs = []
    for i, shape in enumerate(shapes):
        path = directory / f"{name}_{i}.npy"
        np.save(path, (rng.standard_normal(shape) * 0.1).astype(np.float32))
        specs.append(f"@{path}")
    return specs


def time_process(argv: list[str], runs: int) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(runs):
        start = time.perf_counter()
        result = subprocess.run(argv, capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - start)
        out = result.stdout
    return statistics.median(times), out


def time_in_process(path: Path, function: str, specs: list[str], runs: int,
                    lift: bool) -> tuple[float, str]:
    from iree_lab import vm
    from iree_lab.hal import io, tooling, vmvx_module

    vmvx_module.LIFT = lift
    try:
        user = vm.BytecodeModule.load(path)
        session = tooling.Session.for_modules([user])
        ctx = vm.Context(session.modules + [user])
        fn = ctx.lookup_function(function)
        args = session.parse_inputs(fn.cconv.arguments, specs)
        best, results = float("inf"), None
        for _ in range(runs):
            start = time.perf_counter()
            results = ctx.call_function(fn, args)
            best = min(best, time.perf_counter() - start)
        return best, f"EXEC @{function}\n" + io.format_results(results, fn.cconv.results)
    finally:
        vmvx_module.LIFT = True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--vm", action="store_true",
                        help="also time iree_lab with lifting off (the VM runs every dispatch)")
    parser.add_argument("--model", choices=sorted(MODELS), action="append")
    args = parser.parse_args()
    from iree_lab.testing import corpus

    directory = Path(tempfile.mkdtemp(prefix="vmvx_model_bench_"))
    tool = corpus.tool_path("iree-run-module")
    ok = True
    for name in args.model or DEFAULT_MODELS:
        program, function, shapes = MODELS[name]
        path = corpus.build(program)
        specs = input_specs(name, shapes, directory)
        flags = [f"--module={path}", f"--function={function}", *[f"--input={s}" for s in specs]]
        native, expected = time_process([tool, "--device=local-sync", *flags], args.runs)
        lab, ours = time_in_process(path, function, specs, args.runs, lift=True)
        cli, cli_out = time_process([sys.executable, "-m", "iree_lab", "run", *flags], 1)
        same = ours == expected and cli_out == expected
        ok &= same
        print(f"{name:12} iree-run-module {native:7.2f} s | iree_lab call {lab:7.2f} s "
              f"({lab / native:5.2f}x) | iree-lab run {cli:7.2f} s ({cli / native:5.2f}x) | "
              f"output {'identical' if same else 'DIFFERENT'}", flush=True)
        if args.vm:
            vm_time, vm_out = time_in_process(path, function, specs, 1, lift=False)
            print(f"{'':12} without lifting (VM fast tier): {vm_time:7.1f} s "
                  f"({vm_time / native:6.1f}x) | output "
                  f"{'identical' if vm_out == expected else 'DIFFERENT'}", flush=True)
            ok &= vm_out == expected
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
