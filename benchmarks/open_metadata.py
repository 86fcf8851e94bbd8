#!/usr/bin/env python3
"""Benchmark: open a large vmfb and print its metadata, iree-lab vs iree-dump-module.

Builds once (cached in benchmarks/.cache) a module of >= 200 MiB whose bulk is
a non-splat constant (a dense_resource blob written into the MLIR), and a
metadata-heavy module (3000 exported functions, from VM assembly), then
times in the same run, alternating, several times each:

* ``iree-lab dump --output=metadata BIG`` (``python -m iree_lab``),
* ``iree-dump-module --output=metadata BIG`` as users invoke it (the pip
  console script, itself a Python wrapper around the native tool),
* the native ``iree-dump-module`` binary directly,

and reports median wall times, ratios and each process's peak RSS (from
``os.wait4``), for the big module and a small corpus module: memory must not
grow with file size. Outputs are compared byte for byte as a sanity check.

Usage: python benchmarks/open_metadata.py [--size-mib 256] [--runs 9]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "benchmarks" / ".cache"
sys.path.insert(0, str(REPO))


def build_big_module(size_mib: int) -> Path:
    from iree_lab.testing import corpus

    out = CACHE / f"big_constant_{size_mib}mib.vmfb"
    if out.exists():
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    count = size_mib * (1 << 20) // 4
    mlir = CACHE / f"big_constant_{size_mib}mib.mlir"
    print(f"writing {mlir.name} ({2 * size_mib} MiB of hex)...", flush=True)
    with open(mlir, "w") as f:
        f.write(
            f"// {size_mib} MiB of distinct i32 values: a dense_resource is neither splat-folded\n"
            "// nor inlined, so iree-compile stores it as external rodata after the FlatBuffer.\n"
            f"util.global private @weights = dense_resource<weights> : tensor<{count}xi32>\n"
            "func.func @lookup(%i: index) -> i32 {\n"
            f"  %w = util.global.load @weights : tensor<{count}xi32>\n"
            f"  %v = tensor.extract %w[%i] : tensor<{count}xi32>\n"
            "  return %v : i32\n"
            "}\n"
            '{-#\n  dialect_resources: {\n    builtin: {\n      weights: "0x04000000')
        import numpy as np

        chunk = 1 << 20  # values per write: keeps this script's memory small
        for start in range(0, count, chunk):
            n = min(chunk, count - start)
            f.write(np.arange(start, start + n, dtype="<u4").tobytes().hex())
        f.write('"\n    }\n  }\n#-}\n')
    print("compiling (once; cached)...", flush=True)
    tmp = out.with_suffix(".tmp")
    subprocess.run([corpus.tool_path("iree-compile"), "--iree-hal-target-device=local",
                    "--iree-hal-local-target-device-backends=vmvx", str(mlir), "-o", str(tmp)],
                   check=True)
    os.replace(tmp, out)
    mlir.unlink()
    return out


def build_many_functions(count: int) -> Path:
    """A metadata-heavy module: ``count`` exported functions, from VM assembly (fast to build)."""
    from iree_lab.testing import corpus

    out = CACHE / f"many_functions_{count}.vmfb"
    if out.exists():
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    source = CACHE / f"many_functions_{count}.vmasm"
    with open(source, "w") as f:
        f.write("vm.module @many version 1\nvm.type i32\n")
        for i in range(count):
            f.write(f"vm.export @f{i}\nvm.func @f{i}(%i0: i32, %i1: i32) -> (i32) {{\n^bb0:\n"
                    f"  %i2 = vm.add.i32 %i0, %i1\n  %i3 = vm.const.i32 {i}\n"
                    "  %i0 = vm.mul.i32 %i2, %i3\n  vm.return %i0\n}\n")
    subprocess.run([corpus.tool_path("iree-as-module"), f"--output={out}", str(source)],
                   check=True)
    source.unlink()
    return out


def native_dump_module() -> str | None:
    try:
        import iree._runtime_libs as libs  # type: ignore
    except ImportError:
        return None
    path = Path(libs.__path__[0]) / "iree-dump-module"
    return str(path) if path.exists() else None


_TIME = shutil.which("time") or ("/usr/bin/time" if os.path.exists("/usr/bin/time") else None)


def run_once(cmd: list[str], env) -> tuple[float, bytes]:
    """(wall seconds, stdout) of one process."""
    start = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, env=env)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode})")
    return wall, result.stdout


def peak_rss_kib(cmd: list[str], env) -> int:
    """Peak RSS of one run, from /usr/bin/time (0 if unavailable).

    Not from os.wait4/RUSAGE_CHILDREN here: a child forked from this
    (numpy-sized) process reports this process's RSS as its own peak.
    """
    if _TIME is None:
        return 0
    result = subprocess.run([_TIME, "-f", "%M", *cmd], capture_output=True, env=env)
    return int(result.stderr.strip().splitlines()[-1])


def measure(commands: dict[str, list[str]], runs: int, env) -> dict[str, tuple[float, int]]:
    outputs = {}
    for name, cmd in commands.items():  # warm-up: page cache, .pyc files
        outputs[name] = run_once(cmd, env)[1]
    reference = next(iter(outputs.values()))
    for name, out in outputs.items():
        if out != reference:
            raise RuntimeError(f"{name} printed different metadata")
    times = {name: [] for name in commands}
    for _ in range(runs):
        for name, cmd in commands.items():  # alternate so drift hits every command alike
            times[name].append(run_once(cmd, env)[0])
    rss = {name: peak_rss_kib(cmd, env) for name, cmd in commands.items()}
    return {name: (statistics.median(times[name]), rss[name]) for name in commands}


def in_process_seconds(path: Path, runs: int) -> float:
    import io

    from iree_lab.cli.dump import write_metadata
    from iree_lab.format import open_module

    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        module = open_module(path)
        module.verify_flatbuffer()  # as `iree-lab dump` does, like iree-dump-module
        write_metadata(module, io.StringIO())
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--functions", type=int, default=3000)
    args = parser.parse_args()

    from iree_lab.testing import corpus

    big = build_big_module(args.size_mib)
    many = build_many_functions(args.functions)
    small = corpus.build("tensor_vmvx")
    # Users' Python writes .pyc files; this sandbox's PYTHONDONTWRITEBYTECODE would make
    # every iree-lab run recompile its sources, which no installed copy does.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    lab = [sys.executable, "-m", "iree_lab", "dump", "--output=metadata"]
    wrapper = shutil.which("iree-dump-module")
    native = native_dump_module()

    print(f"big module: {big.stat().st_size / (1 << 20):.1f} MiB; small: "
          f"{small.stat().st_size} bytes; {args.runs} runs each, medians")
    for label, path in (("big", big), ("many functions", many), ("small", small)):
        commands = {"iree-lab dump": lab + [str(path)]}
        if wrapper:
            commands["iree-dump-module (console script)"] = [wrapper, "--output=metadata",
                                                             str(path)]
        if native:
            commands["iree-dump-module (native binary)"] = [native, "--output=metadata",
                                                            str(path)]
        results = measure(commands, args.runs, env)
        lab_time = results["iree-lab dump"][0]
        print(f"\n[{label}: {path.name}, {path.stat().st_size} bytes]")
        for name, (median, peak) in results.items():
            ratio = lab_time / median
            print(f"  {name:36s} {median * 1000:8.1f} ms   peak RSS {peak / 1024:7.1f} MiB"
                  + ("" if name == "iree-lab dump" else f"   iree-lab/this = {ratio:.2f}x"))
        print(f"  in-process open + verify + metadata (no interpreter start): "
              f"{in_process_seconds(path, args.runs) * 1000:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
