"""llvm-cpu programs (native CPU executables) vs iree-run-module, in every flavour.

The HAL programs of ``tests/programs/hal`` are compiled for the ``llvm-cpu``
backend in the flavours users meet: embedded ELF (IREE's own loader, here
:mod:`iree_lab.hal.elf_module`), system ELF (the OS loader), debug symbols,
microkernels with data tiling for the host CPU (code paths picked from the
processor feature bits), async-external (coarse fences) and inline-dynamic
(``hal_loader``). Each case runs through ``iree-lab run`` in process and
through ``iree-run-module``; stdout must be byte-identical, for
``--device=local-sync`` and for ``--device=local-task`` (workgroups on a
thread pool).
"""

from __future__ import annotations

import pytest
from test_hal_e2e import CASES, run_cli

from iree_lab.testing import corpus

_PROGRAMS = {"tensor": "tensor.mlir", **{p.stem: f"hal/{p.name}"
                                         for p in (corpus.PROGRAMS_DIR / "hal").glob("*.mlir")}}
_F64 = ["--iree-input-demote-f64-to-f32=false", "--iree-vm-target-extension-f64"]
_HOST_UKERNELS = ["--iree-hal-target-device=local",
                  "--iree-hal-local-target-device-backends=llvm-cpu",
                  "--iree-llvmcpu-target-cpu=host", "--iree-llvmcpu-enable-ukernels=all",
                  "--iree-dispatch-creation-data-tiling"]
FLAVOURS = {
    "embedded": corpus._LOCAL_LLVM_CPU,
    "system": corpus._LOCAL_LLVM_CPU + ["--iree-llvmcpu-link-embedded=false"],
    "debug_symbols": corpus._LOCAL_LLVM_CPU + ["--iree-llvmcpu-debug-symbols=true"],
    "host_ukernels": _HOST_UKERNELS,
    "async": corpus._LOCAL_LLVM_CPU + ["--iree-execution-model=async-external"],
    "inline": corpus._LOCAL_LLVM_CPU + ["--iree-execution-model=inline-dynamic"],
}


def native_module(program: str, flavour: str):
    flags = FLAVOURS[flavour] + (_F64 if program != "tensor" else [])
    return corpus.build(corpus.Program(f"hal_native_{flavour}_{program}", _PROGRAMS[program],
                                       tuple(flags)))


def _cases(flavour: str, devices=("local-sync",)):
    return [pytest.param(flavour, device, *case, id=f"{flavour}-{device}-{case[0]}.{case[1]}-{i}")
            for i, case in enumerate(CASES) for device in devices]


ALL_CASES = (_cases("embedded", ("local-sync", "local-task")) + _cases("system")
             + _cases("debug_symbols") + _cases("host_ukernels", ("local-sync", "local-task"))
             + _cases("async") + _cases("inline"))


@pytest.mark.parametrize(("flavour", "device", "program", "function", "inputs"), ALL_CASES)
def test_native_matches_iree_run_module(iree_tool, capsys, flavour, device, program, function,
                                        inputs):
    args = [f"--device={device}", f"--module={native_module(program, flavour)}",
            f"--function={function}", *[f"--input={i}" for i in inputs]]
    expected = iree_tool("iree-run-module", *args, check=False)
    code, out = run_cli(capsys, args)
    assert (code != 0) == (expected.returncode != 0)
    assert out == expected.stdout.decode()


# Real-model-shaped programs (tests/programs/models/generate.py), reduced in width so the
# suite stays quick: every dispatch kind of ResNet-18 and of a GPT-2 block.
# resnet18_small_ext: the same network with its weights in a .safetensors parameter file.
MODEL_INPUTS = {"resnet18_small": (1, 64, 64, 3), "gpt2_block_small": (32, 128),
                "resnet18_small_ext": (1, 64, 64, 3)}


def model_module(name: str) -> tuple:
    """(compiled module, --parameters flags) of a generated model."""
    import sys

    sys.path.insert(0, str(corpus.PROGRAMS_DIR / "models"))
    import generate

    source = generate.source(name, corpus.cache_dir())
    flags = corpus._LOCAL_LLVM_CPU[:-1] + ["--iree-llvmcpu-target-cpu=host"]
    module = corpus.build(corpus.Program(f"model_{name}", str(source), tuple(flags)))
    params = generate.parameters(source)
    return module, ([f"--parameters=model={params}"] if params.exists() else [])


@pytest.mark.parametrize("device", ["local-sync", "local-task"])
@pytest.mark.parametrize("name", sorted(MODEL_INPUTS))
def test_models_match_iree_run_module(iree_tool, capsys, tmp_path, name, device):
    import numpy as np

    x = np.random.default_rng(7).standard_normal(MODEL_INPUTS[name]).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    module, parameters = model_module(name)
    args = [f"--device={device}", f"--module={module}", "--function=main", *parameters,
            f"--input=@{tmp_path / 'x.npy'}", "--output_max_element_count=100000"]
    expected = iree_tool("iree-run-module", *args).stdout.decode()
    assert run_cli(capsys, args) == (0, expected)


def test_bundled_llvm_cpu_sample_matches_iree_run_module(iree_tool, capsys):
    from iree_lab import samples

    args = [f"--module={samples.path('mlp_llvm_cpu')}", "--function=predict",
            "--input=1x8xf32=1 2 3 4 5 6 7 8"]
    expected = iree_tool("iree-run-module", *args).stdout.decode()
    assert run_cli(capsys, args) == (0, expected)
