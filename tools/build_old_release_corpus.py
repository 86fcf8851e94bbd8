"""Builds tests/programs with older IREE releases: the modules users keep from them.

    python tools/build_old_release_corpus.py [--releases 3.0.0,3.9.0,...] [--venv-root /tmp]

For each release, a throwaway venv (``<venv-root>/iree<version>``, created and
filled with ``pip install iree-base-compiler==V iree-base-runtime==V`` unless it
already exists) compiles every program of ``CORPUS`` from this project's own
sources, then that release's own ``iree-dump-module --output=metadata`` and
``iree-run-module`` outputs are recorded next to the module:

    tests/releases/<version>/<name>.vmfb
    tests/releases/<version>/<name>.metadata.txt
    tests/releases/<version>/<name>.disassembly.txt           (releases that have it)
    tests/releases/<version>/<name>.<function>-<k>.run.txt    (stdout, then "exit: N")
    tests/releases/<version>/manifest.json                    (what was built and run)
    tests/releases/<version>/opcodes.json                     (opcode bytes its runtime knows)

opcodes.json comes from sweeping every byte of every opcode set through that
release's bytecode verifier (iree.runtime of the venv), in the sweep module of
tests/test_isa_pinned.py with its bytecode version set to the release's.

The modules are small and built by this project, so they are committed: tests
(tests/test_old_releases.py) compare iree_lab with these recorded outputs and need
no old release installed. Sources are compiled from the repository root with
relative paths, so no machine path enters a module's debug locations. 3.10's compiler
is not deterministic (its modules differ from run to run); each recorded output always
belongs to the module written next to it. A program a release cannot compile is
recorded with its compiler's diagnostics instead of a module.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
OUT_ROOT = REPO_ROOT / "tests" / "releases"
RELEASES = ("3.0.0", "3.9.0", "3.10.0", "3.12.0")

_VMVX = ("--iree-hal-target-device=local", "--iree-hal-local-target-device-backends=vmvx")
_LLVM_CPU = ("--iree-hal-target-device=local", "--iree-hal-local-target-device-backends=llvm-cpu",
             "--iree-llvmcpu-target-cpu=generic")
_ASYNC = ("--iree-execution-model=async-external",)

_F4A = "4xf32=1 2.5 -3 4"
_F4B = "4xf32=10 -20 0.25 40.5"
_M48 = "4x8xf32=" + " ".join(str((i % 7) * 0.5 - 1) for i in range(32))
_M84 = "8x4xf32=" + " ".join(str(i % 5 - 2) for i in range(32))
_I16 = "16xi32=" + " ".join(str(i * 3 - 20) for i in range(16))
_CONV_IN = "1x6x6x2xf32=" + " ".join(str((i % 9) * 0.25 - 1) for i in range(72))
_CONV_F = "3x3x2x4xf32=" + " ".join(str((i * 5) % 7 - 3) for i in range(72))

def _gpt2_inputs() -> list[str]:
    """Deterministic weights of moderate size for tests/programs/models/gpt2_block.mlir."""
    shapes = [(8, 16), (16, 16), (16, 16), (16, 16), (16, 16), (16, 32), (32, 16), (16,), (16,)]
    out = []
    for k, shape in enumerate(shapes):
        count = 1
        for d in shape:
            count *= d
        scale = 0.5 if k == 0 else 0.125
        values = [((i * 37 + k * 11) % 17 - 8) * scale / 4 for i in range(count)]
        if k == 7:
            values = [1 + v / 4 for v in values]
        dims = "x".join(str(d) for d in shape)
        out.append(f"{dims}xf32=" + " ".join(repr(v) for v in values))
    return out


# name -> (source under tests/programs, flags, [(function, [inputs])]).
CORPUS: dict[str, tuple[str, tuple[str, ...], list[tuple[str, list[str]]]]] = {
    "scalar_vmvx": ("scalar.mlir", _VMVX, [
        ("add_i32", ["3", "4"]), ("mul_add_i64", ["9223372036854775807", "2", "1"]),
        ("fma_f32", ["1.5", "2", "0.1"]), ("loop_sum", ["100"]), ("fdiv_f32", ["1", "0"]),
    ]),
    "lists_vmvx": ("releases/lists.mlir", _VMVX, [
        ("squares", ["5"]), ("sum_squares", ["12"]),
    ]),
    "stateful_vmvx": ("hal/stateful.mlir", _VMVX, [
        ("accumulate", [_F4A]), ("calls", []),
        ("three_dispatches", ["4x4xf32=" + " ".join(str(i * 0.5) for i in range(16)),
                              "4x4xf32=" + " ".join(str(i % 3 - 1) for i in range(16))]),
    ]),
    "tensor_vmvx": ("tensor.mlir", _VMVX, [
        ("add", [_F4A, _F4B]), ("matmul", [_M48, _M84]), ("sum", [_I16]),
    ]),
    "conv_vmvx": ("releases/conv.mlir", _VMVX, [("conv2d", [_CONV_IN, _CONV_F])]),
    "async_vmvx": ("tensor.mlir", _VMVX + _ASYNC, [
        ("add", [_F4A, _F4B]), ("matmul", [_M48, _M84]),
    ]),
    # inline-dynamic: hal_inline + hal_loader instead of hal (3.9/3.10's compilers fail
    # on it: "util.initializer op failed to inline into combined initializer").
    "inline_vmvx": ("tensor.mlir", _VMVX + ("--iree-execution-model=inline-dynamic",), [
        ("add", [_F4A, _F4B]), ("matmul", [_M48, _M84]),
    ]),
    # A GPT-2-style block (attention, softmax, layernorm, tanh GELU with math.fpowi).
    "gpt2_block_vmvx": ("models/gpt2_block.mlir", _VMVX, [("block", _gpt2_inputs())]),
    # llvm-cpu: metadata comparison now; runs are recorded for when native CPU
    # executables run in iree_lab.
    "tensor_llvm_cpu": ("tensor.mlir", _LLVM_CPU, [("add", [_F4A, _F4B]), ("matmul", [_M48, _M84])]),
    "conv_llvm_cpu": ("releases/conv.mlir", _LLVM_CPU, [("conv2d", [_CONV_IN, _CONV_F])]),
}


def _venv(root: Path, version: str) -> Path:
    venv = root / f"iree{version}"
    if not (venv / "bin" / "iree-compile").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q",
                        f"iree-base-compiler=={version}", f"iree-base-runtime=={version}"],
                       check=True)
    return venv / "bin"


def _tool(bindir: Path, name: str) -> str:
    # Run the runtime tools' native binaries (the bin/ entries are Python wrappers).
    libs = sorted(bindir.parent.glob("lib/python*/site-packages/iree/_runtime_libs"))
    if name != "iree-compile" and libs and (libs[0] / name).exists():
        return str(libs[0] / name)
    return str(bindir / name)


def build_release(version: str, bindir: Path, out_root: Path = OUT_ROOT) -> dict:
    out = out_root / version
    out.mkdir(parents=True, exist_ok=True)
    version_text = subprocess.run([_tool(bindir, "iree-compile"), "--version"],
                                  capture_output=True, text=True).stdout
    compiler = next(line.strip() for line in version_text.splitlines() if "compiler version" in line)
    manifest = {"release": version, "compiler": compiler,
                "modules": {}}
    for name, (source, flags, cases) in CORPUS.items():
        module = out / f"{name}.vmfb"
        cmd = [_tool(bindir, "iree-compile"), *flags, f"tests/programs/{source}", "-o",
               str(module.relative_to(REPO_ROOT))]
        result = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True)
        if result.returncode != 0:
            # The diagnostics, not the IR dumps around them.
            error = "\n".join(line for line in result.stderr.splitlines()
                              if "error:" in line)[:2000] or result.stderr[-2000:]
            print(f"{version} {name}: compile failed\n{error}", file=sys.stderr)
            manifest["modules"][name] = {"source": source, "flags": list(flags),
                                         "error": error}
            continue
        rel = module.relative_to(REPO_ROOT)
        dump = subprocess.run([_tool(bindir, "iree-dump-module"), "--output=metadata", str(rel)],
                              cwd=REPO_ROOT, capture_output=True)
        (out / f"{name}.metadata.txt").write_bytes(dump.stdout)
        # --output=disassembly exists from 3.10 on (3.10's format differs from 3.12's).
        dis = subprocess.run([_tool(bindir, "iree-dump-module"), "--output=disassembly",
                              str(rel)], cwd=REPO_ROOT, capture_output=True)
        disassembly = None
        if dis.returncode == 0:
            disassembly = f"{name}.disassembly.txt"
            (out / disassembly).write_bytes(dis.stdout)
        runs = []
        for k, (function, inputs) in enumerate(cases):
            run = subprocess.run([_tool(bindir, "iree-run-module"), "--device=local-sync",
                                  f"--module={rel}", f"--function={function}",
                                  *[f"--input={i}" for i in inputs]],
                                 cwd=REPO_ROOT, capture_output=True)
            stem = f"{name}.{function}-{k}.run.txt"
            (out / stem).write_bytes(run.stdout + f"exit: {run.returncode}\n".encode())
            runs.append({"function": function, "inputs": inputs, "output": stem,
                         "exit": run.returncode})
        manifest["modules"][name] = {"source": source, "flags": list(flags),
                                     "module": module.name, "metadata": f"{name}.metadata.txt",
                                     "disassembly": disassembly, "runs": runs}
        print(f"{version} {name}: ok ({len(runs)} runs)")
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


# Run by the release's own Python: which opcode bytes its verifier knows.
_SWEEP_SCRIPT = r"""
import json, re, sys
import iree.runtime as rt
data = open(sys.argv[1], "rb").read()
major, start, end_pc = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
assert data.count((17 << 16).to_bytes(4, "little")) == 1
data = data.replace((17 << 16).to_bytes(4, "little"), (major << 16).to_bytes(4, "little"))
instance = rt.VmInstance()
known = {}
for name, prefix in (("core", None), ("ext_f32", 0xE0), ("ext_f64", 0xE1)):
    known[name] = []
    for byte in range(256):
        if prefix is None and byte in (0xE0, 0xE1):
            continue
        encoded = bytes([byte]) if prefix is None else bytes([prefix, byte])
        body = encoded + b"\xff" * (end_pc - 1 - len(encoded))
        try:
            rt.VmModule.copy_buffer(instance, data[:start + 1] + body + data[start + end_pc:])
            verdict = "OK"
        except Exception as e:
            verdict = str(e)
        unknown = re.search(r"unrecognized opcode (\d+)|unhandled ext \w+ opcode", verdict)
        at = re.search(r"@0\+([0-9A-Fa-f]{8})", verdict)
        if not (unknown and at and int(at.group(1), 16) == 1):
            known[name].append(byte)
print(json.dumps(known))
"""


def sweep_opcodes(version: str, bindir: Path, major: int, out_root: Path = OUT_ROOT) -> dict:
    sys.path.insert(0, str(REPO_ROOT))
    import iree_lab
    from iree_lab.testing import corpus

    program = corpus.Program("isa_opcode_sweep", "isa/opcode_sweep.vmasm", tool="assemble")
    path = corpus.build(program)
    module = iree_lab.open(str(path))
    fn = module.functions[0]
    start = module.bytecode_file_offset + fn.bytecode_offset
    result = subprocess.run([str(bindir / "python"), "-c", _SWEEP_SCRIPT, str(path), str(major),
                             str(start), str(fn.bytecode_length - 3)],
                            capture_output=True, text=True, check=True)
    known = json.loads(result.stdout)
    record = {"release": version, "bytecode_major": major, "known_opcodes": known}
    (out_root / version / "opcodes.json").write_text(json.dumps(record) + "\n")
    return record


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", default=",".join(RELEASES))
    parser.add_argument("--venv-root", default="/tmp", type=Path)
    args = parser.parse_args(argv)
    for version in args.releases.split(","):
        bindir = _venv(args.venv_root, version)
        manifest = build_release(version, bindir)
        sys.path.insert(0, str(REPO_ROOT))
        import iree_lab

        scalar = manifest["modules"]["scalar_vmvx"]["module"]
        major = iree_lab.open(str(OUT_ROOT / version / scalar)).bytecode_version_major
        sweep_opcodes(version, bindir, major)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
