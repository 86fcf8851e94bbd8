"""The corpus of test modules: sources under tests/programs, compiled on demand and cached.

Each program is a source file (MLIR for iree-compile, VM assembly for iree-as-module)
plus the flags it is compiled with. Compiled modules are cached by a hash of the
source, the flags and the tool version, so a rerun compiles nothing.

Cache location: $IREE_LAB_CACHE or ~/.cache/iree_lab (override per run if needed).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PROGRAMS_DIR = REPO_ROOT / "tests" / "programs"

_LOCAL_VMVX = ["--iree-hal-target-device=local", "--iree-hal-local-target-device-backends=vmvx"]
_LOCAL_LLVM_CPU = [
    "--iree-hal-target-device=local",
    "--iree-hal-local-target-device-backends=llvm-cpu",
    "--iree-llvmcpu-target-cpu=generic",
]


@dataclasses.dataclass(frozen=True)
class Program:
    """One test module: a source file under tests/programs and how to build it."""

    name: str
    source: str
    flags: tuple[str, ...] = ()
    # "compile" -> iree-compile, "assemble" -> iree-as-module.
    tool: str = "compile"
    # Whether the module can be run on the CPU by iree-run-module (vs compile-only targets).
    runnable: bool = True
    # Generated sources (.py): arguments of the generator, and whether it externalizes the
    # weights into a parameter file (written beside the module: parameters_path()).
    generator_args: tuple[str, ...] = ()
    parameters: bool = False

    @property
    def source_path(self) -> Path:
        return PROGRAMS_DIR / self.source

    @property
    def generated(self) -> bool:
        """The source is a Python script that writes the MLIR to stdout (model-sized programs
        whose weights would make a committed source file tens of megabytes)."""
        return self.source.endswith(".py")


def _program(name, source, flags=(), **kwargs) -> Program:
    return Program(name, source, tuple(flags), **kwargs)


_EXECUTABLE_TARGETS = [
    ("vmvx", _LOCAL_VMVX, True),
    ("llvm_cpu", _LOCAL_LLVM_CPU, True),
    ("llvm_cpu_system", _LOCAL_LLVM_CPU + ["--iree-llvmcpu-link-embedded=false"], True),
    ("aarch64", _LOCAL_LLVM_CPU + ["--iree-llvmcpu-target-triple=aarch64-unknown-linux-gnu"],
     False),
    ("riscv64", _LOCAL_LLVM_CPU + ["--iree-llvmcpu-target-triple=riscv64-unknown-linux-gnu",
                                   "--iree-llvmcpu-target-cpu-features=+m,+a,+f,+d,+c",
                                   "--iree-llvmcpu-target-abi=lp64d"], False),
    ("vulkan", ["--iree-hal-target-device=vulkan", "--iree-vulkan-target=rdna3"], False),
    ("cuda", ["--iree-hal-target-device=cuda", "--iree-cuda-target=sm_80"], False),
    ("hip", ["--iree-hal-target-device=hip", "--iree-rocm-target=gfx942"], False),
    ("hip_hsaco", ["--iree-hal-target-device=hip", "--iree-rocm-target=gfx942",
                   "--iree-rocm-container-type=hsaco"], False),
    ("amdgpu", ["--iree-hal-target-device=amdgpu", "--iree-rocm-target=gfx942"], False),
    ("metal", ["--iree-hal-target-device=metal"], False),
    # The inline HAL: hal_loader.executable.load/dispatch instead of hal.*.
    ("vmvx_inline", _LOCAL_VMVX + ["--iree-execution-model=inline-dynamic"], True),
    ("llvm_cpu_inline", _LOCAL_LLVM_CPU + ["--iree-execution-model=inline-dynamic"], True),
]

# VM assembly programs under tests/programs/vm (owned by the VM tests).
_VM_ASM_PROGRAMS = ("int_ops", "float_ops", "control", "buffers", "lists", "globals", "bench",
                    "lib", "app", "app_mismatch", "app_unknown", "yields", "results")

# The corpus. Names are stable: tests and benchmarks refer to them.
PROGRAMS: dict[str, Program] = {
    p.name: p
    for p in [
        _program("scalar_vmvx", "scalar.mlir", _LOCAL_VMVX),
        _program("tensor_vmvx", "tensor.mlir", _LOCAL_VMVX),
        _program("tensor_llvm_cpu", "tensor.mlir", _LOCAL_LLVM_CPU),
        _program(
            "tensor_llvm_cpu_system",
            "tensor.mlir",
            _LOCAL_LLVM_CPU + ["--iree-llvmcpu-link-embedded=false"],
        ),
        _program("rodata_vmvx", "rodata.mlir", _LOCAL_VMVX),
        _program("globals_vmvx", "globals.mlir", _LOCAL_VMVX),
        _program(
            "async_vmvx",
            "tensor.mlir",
            _LOCAL_VMVX + ["--iree-execution-model=async-external"],
        ),
        _program(
            "tensor_vulkan",
            "tensor.mlir",
            ["--iree-hal-target-device=vulkan", "--iree-vulkan-target=rdna3"],
            runnable=False,
        ),
        _program(
            "tensor_cuda",
            "tensor.mlir",
            ["--iree-hal-target-device=cuda", "--iree-cuda-target=sm_80"],
            runnable=False,
        ),
        # More executable containers (format coverage; not runnable here).
        _program("tensor_hip", "tensor.mlir",
                 ["--iree-hal-target-device=hip", "--iree-rocm-target=gfx942"], runnable=False),
        _program("tensor_amdgpu", "tensor.mlir",
                 ["--iree-hal-target-device=amdgpu", "--iree-rocm-target=gfx942"],
                 runnable=False),
        _program("tensor_metal", "tensor.mlir",
                 ["--iree-hal-target-device=metal", "--iree-metal-compile-to-metallib=false"],
                 runnable=False),
        _program("control_flow_vm", "control_flow.mlir", ["--iree-hal-target-device=local",
                                                           "--iree-hal-local-target-device-backends=vmvx"]),
        # Format coverage: metadata fields, a stripped debug database, a bare FlatBuffer
        # with external rodata (no ZIP).
        _program("metadata_vm", "metadata_vm.mlir",
                 ["--compile-from=vm", "--iree-vm-target-extension-f64"], runnable=False),
        # Two local devices sharing one recorder (tests/test_hal_recorder.py).
        _program("two_devices", "two_devices.mlir",
                 ["--iree-hal-target-device=dev_a=local[0]", "--iree-hal-target-device=dev_b=local[1]",
                  "--iree-hal-local-target-device-backends=vmvx"]),
        # hal.allocator.import probes at the VM level (tests/test_hal_import.py).
        _program("vm_allocator_import", "vm/allocator_import.mlir", ["--compile-from=vm"]),
        _program("scalar_vmvx_stripped", "scalar.mlir",
                 _LOCAL_VMVX + ["--iree-vm-bytecode-module-strip-source-map"]),
        _program("rodata_vmvx_bare", "rodata.mlir",
                 _LOCAL_VMVX + ["--iree-vm-emit-polyglot-zip=false"]),
        _program("vm_assembly", "basic.vmasm", tool="assemble"),
        _program("cfg_large", "cfg_large.vmasm", tool="assemble"),  # ~2,000-instruction CFG
        # The debugger's programs (tests/test_debug*.py).
        _program("debug_app", "debug/app.vmasm", tool="assemble"),
        _program("debug_source", "debug/source.mlir", _LOCAL_VMVX),
        _program("debug_tensors", "debug/tensors.mlir", _LOCAL_VMVX),
        # The check module's own tests (tests/test_check.py): checks that hold and
        # negative controls that must fail, f64 kept.
        *[_program(f"check_{p.stem}", f"check/{p.name}", _LOCAL_VMVX + [
            "--iree-input-demote-f64-to-f32=false", "--iree-vm-target-extension-f64"])
          for p in sorted((PROGRAMS_DIR / "check").glob("*.mlir"))],
        # Fibers and the scheduler (tests/test_fibers*.py).
        _program("fibers", "fibers/fibers.vmasm", tool="assemble"),
        _program("fibers_async", "fibers/async.mlir",
                 _LOCAL_VMVX + ["--iree-execution-model=async-external"]),
        # HAL programs (every tests/programs/hal/*.mlir, for vmvx, f64 kept): tests/test_hal*.py.
        *[_program(f"hal_{p.stem}", f"hal/{p.name}", _LOCAL_VMVX + [
            "--iree-input-demote-f64-to-f32=false", "--iree-vm-target-extension-f64"])
          for p in sorted((PROGRAMS_DIR / "hal").glob("*.mlir"))],
        # The VM's op-coverage programs (tests/test_vm*.py), VM assembly unless .mlir.
        *[_program(f"vm_{n}", f"vm/{n}.vmasm", tool="assemble") for n in _VM_ASM_PROGRAMS],
        # Executable containers: one program compiled for every HAL target (compile-only
        # except the local CPU ones); see tests/test_executables*.py.
        *[
            _program(f"exe_{name}", "executables/dispatches.mlir", flags, runnable=run)
            for name, flags, run in _EXECUTABLE_TARGETS
        ],
        # A GPT-2-style transformer block (attention + tanh GELU with math.fpowi).
        _program("model_gpt2_block_vmvx", "models/gpt2_block.mlir", _LOCAL_VMVX),
        # ISA coverage (with the compiled modules these use every opcode of iree_lab.isa).
        *[
            _program(f"isa_{n}", f"isa/{n}.vmasm", tool="assemble", runnable=n != "control")
            for n in ("integer", "refs", "control", "ext_f32", "ext_f64")
        ],
    ]
}


# Model-sized modules, kept out of PROGRAMS (which every format test walks, mutating copies):
# a ResNet-18 (28 dispatches, 47 MB of weights) and a GPT-2-style transformer (17 dispatches,
# 15 MB), from generated MLIR. tests/test_models.py and tests/browser/test_models_browser.py.
MODELS: dict[str, Program] = {
    p.name: p
    for p in [
        _program(f"model_{model}_{target}", f"models/{model}.py", flags)
        for model in ("resnet18", "transformer")
        for target, flags in (("vmvx", _LOCAL_VMVX), ("llvm_cpu", _LOCAL_LLVM_CPU))
    ]
}
# Variants: weights in a parameter file (.safetensors, --parameters=model=FILE), and reduced
# widths for the llvm-cpu differential tests (tests/test_hal_native.py); the full-size
# parameter variant is benchmarks/native_models.py's.
_RESNET18_SMALL = ("--width=16", "--image=64", "--classes=100")
MODEL_VARIANTS: dict[str, Program] = {
    p.name: p
    for p in [
        _program("model_resnet18_params_llvm_cpu", "models/resnet18.py", _LOCAL_LLVM_CPU,
                 parameters=True),
        _program("model_resnet18_small_llvm_cpu", "models/resnet18.py", _LOCAL_LLVM_CPU,
                 generator_args=_RESNET18_SMALL),
        _program("model_resnet18_small_params_llvm_cpu", "models/resnet18.py",
                 _LOCAL_LLVM_CPU, generator_args=_RESNET18_SMALL, parameters=True),
    ]
}


def cache_dir() -> Path:
    root = os.environ.get("IREE_LAB_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "iree_lab"
    )
    path = Path(root) / "modules"
    path.mkdir(parents=True, exist_ok=True)
    return path


@functools.cache
def tool_path(name: str) -> str:
    """Path of an IREE tool (iree-compile, iree-dump-module, ...) from the pinned packages."""
    # Runtime tools on PATH are Python wrappers that exec the binary shipped in
    # iree._runtime_libs (~0.2 s of startup per call); run that binary directly.
    if name != "iree-compile" and os.environ.get("IREE_PY_RUNTIME", "default") == "default":
        try:
            import iree._runtime_libs as libs  # type: ignore

            native = Path(libs.__file__).parent / name
            if native.exists():
                return str(native)
        except ImportError:
            pass
    found = shutil.which(name)
    if found:
        return found
    # The tools live next to the iree packages even when their bin/ is not on PATH.
    try:
        if name == "iree-compile":
            import iree.compiler.tools.binaries as binaries  # type: ignore

            return binaries.find_tool(name)
        import iree._runtime_libs as libs  # type: ignore

        candidate = Path(libs.__file__).parent / name
        if candidate.exists():
            return str(candidate)
    except ImportError:
        pass
    raise FileNotFoundError(
        f"IREE tool {name!r} not found: install the test extra (pip install -e '.[test]')"
    )


@functools.cache
def tool_version(tool: str) -> str:
    out = subprocess.run([tool_path(tool), "--version"], capture_output=True, text=True)
    return (out.stdout + out.stderr).strip()


def find_program(name: str) -> Program:
    """The corpus program called ``name`` (test programs, models and model variants)."""
    return PROGRAMS.get(name) or MODELS.get(name) or MODEL_VARIANTS[name]


def build(name_or_program: str | Program) -> Path:
    """Returns the path of the compiled module, compiling it into the cache if needed."""
    if isinstance(name_or_program, str):
        program = find_program(name_or_program)
    else:
        program = name_or_program
    source = program.source_path.read_bytes()
    if program.generated:  # the generator and the helpers beside it
        source += b"".join(p.read_bytes() for p in sorted(program.source_path.parent.glob("*.py")))
    tool = "iree-compile" if program.tool == "compile" else "iree-as-module"
    key = hashlib.sha256()
    # The source path is part of the key: compiled modules embed it in their debug
    # locations, so a checkout elsewhere (CI's fresh clone) must not reuse them.
    parts = (source, str(program.source_path).encode(), "\0".join(program.flags).encode(),
             tool_version(tool).encode(), "\0".join(program.generator_args).encode(),
             b"parameters" if program.parameters else b"")
    for part in parts:
        key.update(part)
        key.update(b"\x00")
    out = cache_dir() / f"{program.name}-{key.hexdigest()[:16]}.vmfb"
    if out.exists():
        return out
    with tempfile.NamedTemporaryFile(dir=out.parent, suffix=".tmp", delete=False) as tmp:
        tmp_path = Path(tmp.name)
    gen_dir = None
    try:
        if program.generated:
            # Named after the script: iree-compile names executables after the source file.
            gen_dir = Path(tempfile.mkdtemp(dir=out.parent, suffix=".gen"))
            mlir = gen_dir / (program.source_path.stem + ".mlir")
            args = list(program.generator_args)
            if program.parameters:
                args.append(f"--params={gen_dir / 'parameters.safetensors'}")
            with mlir.open("wb") as f:
                subprocess.run([sys.executable, str(program.source_path), *args], stdout=f,
                               check=True)
            cmd = [tool_path(tool), *program.flags, str(mlir), "-o", str(tmp_path)]
        elif program.tool == "compile":
            cmd = [tool_path(tool), *program.flags, str(program.source_path), "-o", str(tmp_path)]
        else:
            cmd = [tool_path(tool), f"--output={tmp_path}", str(program.source_path)]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(
                f"building {program.name} failed ({' '.join(cmd)}):\n{result.stderr}"
            )
        if program.parameters:  # first, so a module in the cache always has its file
            os.replace(gen_dir / "parameters.safetensors", parameters_path(out))
        os.replace(tmp_path, out)  # atomic: parallel test workers never see a partial file
    finally:
        tmp_path.unlink(missing_ok=True)
        if gen_dir is not None:
            shutil.rmtree(gen_dir, ignore_errors=True)
    return out


def parameters_path(module: Path) -> Path:
    """The parameter file of a built ``Program(parameters=True)`` (scope ``model``)."""
    return Path(module).with_suffix(".safetensors")
