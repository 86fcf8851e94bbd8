"""A GPT-2-style transformer block compiled by 3.13 for VMVX runs as in iree-run-module.

tests/programs/models/gpt2_block.mlir: layernorm, causal single-head attention with a
softmax, and an MLP whose tanh GELU computes x**3 with math.fpowi, which 3.13 lowers to
vm.fpowi.f32 inside the VMVX executable (the op GPT-2 exports from iree-turbine hit).
"""

from __future__ import annotations

import numpy as np
import pytest

import iree_lab
from iree_lab import vm
from iree_lab.hal import Device, io
from iree_lab.hal.module import HALModule
from iree_lab.isa import decode_functions

_SHAPES = [(8, 16), (16, 16), (16, 16), (16, 16), (16, 16), (16, 32), (32, 16), (16,), (16,)]


def _inputs(seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for k, shape in enumerate(_SHAPES):
        scale = 1.0 if k == 0 else 0.35
        values = (rng.standard_normal(shape) * scale).astype(np.float32)
        if k == 7:
            values = (1.0 + 0.1 * values).astype(np.float32)  # layernorm gain near 1
        dims = "x".join(str(d) for d in shape)
        out.append(f"{dims}xf32=" + " ".join(repr(float(v)) for v in values.flat))
    return out


def _executable_ops(path) -> set[str]:
    module = iree_lab.open(str(path))
    names = set()
    for segment in module.rodata:
        data = bytes(segment.data)
        if data[:4] == b"PK\x03\x04" or data[4:8] == b"IREE":
            for fn in decode_functions(iree_lab.open(data)):
                names.update(inst.name for inst in fn)
    return names


def test_block_uses_fpowi(build_module):
    assert "vm.fpowi.f32" in _executable_ops(build_module("model_gpt2_block_vmvx"))


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "stepping"])
@pytest.mark.parametrize("seed", [0, 1])
def test_block_matches_iree_run_module(iree_tool, build_module, seed, fast):
    path = build_module("model_gpt2_block_vmvx")
    inputs = _inputs(seed)
    expected = iree_tool("iree-run-module", "--device=local-sync", f"--module={path}",
                         "--function=block", *[f"--input={i}" for i in inputs])
    device = Device()
    ctx = vm.Context([HALModule([device]), vm.BytecodeModule.load(path)], fast=fast)
    fn = ctx.lookup_function("block")
    results = ctx.call_function(fn, io.parse_inputs(device, fn.cconv.arguments, inputs))
    ours = "EXEC @block\n" + io.format_results(results, fn.cconv.results)
    assert ours == expected.stdout.decode()
    assert "nan" not in ours and "inf" not in ours  # a meaningful, finite block output
