#!/usr/bin/env python3
"""Benchmark: real-model-sized llvm-cpu modules, ``iree-lab run`` vs ``iree-run-module``.

Models (MLIR written by this project, ``tests/programs/models/generate.py``):
ResNet-18 (11.7 M parameters embedded, 46.8 MB) on a 224x224 image, the same with
its weights in a 46.7 MB .safetensors file (``--parameters``), and a GPT-2
small transformer block (7.1 M parameters, sequence 128), compiled for
``llvm-cpu`` (embedded ELF, host CPU). Times in the same run, best of N:

* ``iree-run-module`` (native binary) as a process;
* ``iree-lab run`` as a process (includes Python start-up and imports);
* Python start-up alone (``python -c "import iree_lab.cli.main"``), to separate it;
* iree_lab in process: open + context + ``__init`` + call (no start-up), without and
  with a Recorder (the HAL recording overhead), and with buffer capture.

Outputs are compared byte for byte. Goal (DESIGN): iree-lab run within 3x of
iree-run-module plus Python start-up.

Usage: python benchmarks/native_models.py [--runs 3] [--models resnet18,gpt2_block]
       [--device local-sync]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "programs" / "models"))

INPUT_SHAPES = {"resnet18": (1, 224, 224, 3), "resnet18_small": (1, 64, 64, 3),
                "gpt2_block": (128, 768), "gpt2_block_small": (32, 128),
                "resnet18_ext": (1, 224, 224, 3)}
FLAGS = ["--iree-hal-target-device=local", "--iree-hal-local-target-device-backends=llvm-cpu",
         "--iree-llvmcpu-target-cpu=host"]


def build(name: str) -> tuple[Path, list[str]]:
    """(module, --parameters flags): *_ext models keep their weights in a .safetensors file."""
    import generate

    from iree_lab.testing import corpus

    source = generate.source(name, corpus.cache_dir())
    module = corpus.build(corpus.Program(f"model_{name}", str(source), tuple(FLAGS)))
    params = generate.parameters(source)
    return module, ([f"--parameters=model={params}"] if params.exists() else [])


def median_time(fn, runs: int) -> float:
    """Best of ``runs``: on a shared machine the minimum is the least disturbed run."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


# Users' Pythons cache bytecode: time the CLI the same way (some CI images set
# PYTHONDONTWRITEBYTECODE, which recompiles every module at each start).
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run_process(cmd: list[str]) -> bytes:
    out = subprocess.run(cmd, capture_output=True, check=True, env=_ENV)
    return out.stdout


def in_process(path: Path, input_path: Path, device: str, recorder=None, parameters=()) -> str:
    from iree_lab import vm
    from iree_lab.hal import tooling

    module = vm.BytecodeModule.load(path)
    session = tooling.Session.for_modules(
        [module], device_uri=device, recorder=recorder,
        parameters=[p.split("=", 1)[1] for p in parameters] or None)
    ctx = vm.Context(session.modules + [module])
    fn = ctx.lookup_function("main")
    args = session.parse_inputs(fn.cconv.arguments, [f"@{input_path}"])
    results = ctx.call_function(fn, args)
    return session.format_results(results, fn.cconv.results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--models", default="resnet18,gpt2_block,resnet18_ext")
    parser.add_argument("--device", default="local-sync")
    args = parser.parse_args()
    from iree_lab.testing import corpus

    native = corpus.tool_path("iree-run-module")
    python = sys.executable
    # What `iree-lab run` imports before it opens a module (Python itself included).
    imports = "import iree_lab.cli.main, iree_lab.cli.run, iree_lab.cli.debug, iree_lab.hal.tooling"
    startup = median_time(lambda: run_process([python, "-c", imports]), args.runs)
    print(f"python start-up + iree_lab import: {startup * 1e3:.0f} ms")
    print(f"{'model':<18}{'iree-run-module':>16}{'iree-lab run':>14}{'ratio':>8}"
          f"{'minus start-up':>16}{'in-process':>12}{'+Recorder':>11}{'+capture':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            bench_model(name, Path(tmp), args, native, startup)


def bench_model(name: str, tmp: Path, args, native: str, startup: float) -> None:
    from iree_lab.hal.recorder import Recorder

    python = sys.executable
    t0 = time.perf_counter()
    path, parameters = build(name)
    build_s = time.perf_counter() - t0
    x = np.random.default_rng(0).standard_normal(INPUT_SHAPES[name]).astype(np.float32)
    input_path = tmp / f"{name}.npy"
    np.save(input_path, x)
    common = [f"--device={args.device}", f"--module={path}", "--function=main",
              f"--input=@{input_path}", *parameters]
    ours_cmd = [python, "-m", "iree_lab.cli.main", "run", *common]
    assert run_process(ours_cmd) == run_process([native, *common]), f"{name}: outputs differ"
    t_native = median_time(lambda: run_process([native, *common]), args.runs)
    t_ours = median_time(lambda: run_process(ours_cmd), args.runs)
    def once(recorder=None):
        return in_process(path, input_path, args.device, recorder, parameters)

    once()  # warm: page cache, libm, loaders
    t_in = median_time(once, args.runs)
    t_rec = median_time(lambda: once(Recorder()), args.runs)
    t_cap = median_time(lambda: once(Recorder(capture_buffers=True)), args.runs)
    size_mb = path.stat().st_size / 1e6
    print(f"{name:<18}{t_native * 1e3:>13.0f} ms{t_ours * 1e3:>11.0f} ms"
          f"{t_ours / t_native:>7.2f}x{(t_ours - startup) / t_native:>15.2f}x"
          f"{t_in * 1e3:>9.0f} ms{t_rec / t_in:>10.2f}x{t_cap / t_in:>9.2f}x"
          f"   ({size_mb:.1f} MB module, built in {build_s:.0f} s)")

if __name__ == "__main__":
    main()
