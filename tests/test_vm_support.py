"""Differential-testing support for the VM tests: run a function in IREE and in iree_lab.

IREE side: ``iree.runtime`` in-process (VmContext.invoke), or ``iree-run-module``
in a subprocess for inputs that crash IREE (SIGFPE). iree_lab side: both tiers
(the stepping interpreter and the fast tier). Results are compared bit-exactly
(floats by their bit patterns; any NaN matches any NaN of the same sign since
IREE's Python binding widens f32 to double).
"""

from __future__ import annotations

import functools
import itertools
import math
import re
import struct
import subprocess

import numpy as np
import pytest

from iree_lab import vm
from iree_lab.testing import corpus

I32_EDGES = [0, 1, -1, 2, 7, -7, 31, 32, 33, 127, 128, -128, 255, 65535, 65536, -32768,
             0x7FFFFFFF, -0x80000000, 0x12345678, -0x12345678]  # fmt: skip
I64_EDGES = [0, 1, -1, 5, -5, 63, 64, 65, 0x7FFFFFFF, 0x80000000, -0x80000000, 0xFFFFFFFF,
             2**63 - 1, -(2**63), 0x123456789ABCDEF0, -0x123456789ABCDEF]  # fmt: skip
F32_EDGES = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1.5, 2.5, -2.5, -3.75, 3.1415927, 1e-30, 1e30,
             3e9, -3e9, 1e20, 1e-45, math.inf, -math.inf, math.nan]  # fmt: skip
F64_EDGES = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.5, -3.75, 0.49999999999999994, 1e-300, 1e300,
             3e9, -3e9, 9.3e18, 2.0**63, 5e-324, math.inf, -math.inf, math.nan]  # fmt: skip
_EDGES = {"i": I32_EDGES, "I": I64_EDGES,
          "f": [float(np.float32(x)) for x in F32_EDGES], "F": F64_EDGES}  # fmt: skip
_SMALL = {"i": [0, 1, -1, 7, -0x80000000, 0x7FFFFFFF, 0x12345678],
          "I": [0, 1, -1, 7, -(2**63), 2**63 - 1, 0x123456789ABCDEF0],
          "f": [0.0, -0.0, 1.5, -2.5, 1e30, math.inf, math.nan],
          "F": [0.0, -0.0, 1.5, -2.5, 1e300, math.inf, math.nan]}  # fmt: skip


def input_combinations(fragment: str, limit: int = 450) -> list[tuple]:
    """Edge-value argument tuples for a cconv argument fragment."""
    pools = [_EDGES[c] for c in fragment] if len(fragment) <= 2 else [_SMALL[c] for c in fragment]
    combos = list(itertools.product(*pools))
    if len(combos) > limit:
        step = len(combos) / limit
        combos = [combos[int(k * step)] for k in range(limit)]
    return combos


# -- IREE ----------------------------------------------------------------------------------

_STATUS_RE = re.compile(r"\b([A-Z][A-Z_]+);")


@functools.cache
def _iree_context(paths: tuple[str, ...]):
    import iree.runtime as rt

    instance = rt.VmInstance()
    modules = [rt.VmModule.mmap(instance, p) for p in paths]
    return rt, rt.VmContext(instance, modules=modules), modules


def iree_call(paths, name: str, args, fragment: str):
    """("ok", [results]) or ("error", CODE_NAME, text) from iree.runtime in-process."""
    paths = tuple(str(p) for p in ([paths] if not isinstance(paths, list | tuple) else paths))
    rt, context, modules = _iree_context(paths)
    fn = modules[-1].lookup_function(name)
    arg_list = rt.VmVariantList(len(args))
    for ch, value in zip(fragment, args, strict=True):
        if ch in "iI":
            arg_list.push_int(int(value))
        elif ch in "fF":
            arg_list.push_float(float(value))
        else:
            raise ValueError("ref arguments are not supported by this helper")
    results = rt.VmVariantList(8)
    try:
        context.invoke(fn, arg_list, results)
    except Exception as e:  # the binding raises ValueError/RuntimeError with the status text
        m = _STATUS_RE.search(str(e))
        return ("error", m.group(1) if m else "UNKNOWN", str(e))
    return ("ok", [results.get_variant(i) for i in range(results.size)])


def iree_run_module(paths, name: str, inputs: list[str]) -> subprocess.CompletedProcess:
    paths = [paths] if not isinstance(paths, list | tuple) else paths
    cmd = [corpus.tool_path("iree-run-module"), *[f"--module={p}" for p in paths],
           f"--function={name}", *[f"--input={x}" for x in inputs]]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True)


# -- iree_lab ------------------------------------------------------------------------------


@functools.cache
def _lab_context(paths: tuple[str, ...], fast: bool):
    return vm.Context([vm.BytecodeModule.load(p) for p in paths], fast=fast)


def lab_call(paths, name: str, args, *, fast: bool):
    paths = tuple(str(p) for p in ([paths] if not isinstance(paths, list | tuple) else paths))
    ctx = _lab_context(paths, fast)
    fn = ctx.lookup_function(name)
    try:
        results = ctx.call_function(fn, list(args))
    except vm.VMError as e:
        return ("error", e.code.name, str(e))
    return ("ok", list(results))


# -- Comparison ----------------------------------------------------------------------------


def _canon(ch: str, value):
    if ch == "i":
        return ("i", ((int(value) + 2**31) % 2**32) - 2**31)
    if ch == "I":
        return ("I", ((int(value) + 2**63) % 2**64) - 2**63)
    if ch in "fF":
        x = float(value)
        if math.isnan(x):
            return (ch, "nan", math.copysign(1.0, x) < 0)
        if ch == "f":
            return ("f", struct.unpack("<I", struct.pack("<f", x))[0])
        return ("F", struct.unpack("<Q", struct.pack("<d", x))[0])
    return (ch, value)


def canonical(outcome, fragment: str):
    if outcome[0] == "error":
        return ("error", outcome[1])
    return ("ok", [_canon(ch, v) for ch, v in zip(fragment, outcome[1], strict=False)])


def check_same(paths, name: str, args, cconv: vm.CallingConvention, *, tiers=(False, True)):
    """Asserts IREE and iree_lab (each tier) agree on ``name(*args)``; returns the outcome."""
    expected = canonical(iree_call(paths, name, args, cconv.arguments), cconv.results)
    for fast in tiers:
        actual = canonical(lab_call(paths, name, args, fast=fast), cconv.results)
        assert actual == expected, (
            f"{name}{tuple(args)} [{'fast' if fast else 'stepping'} tier]: "
            f"iree_lab {actual} != IREE {expected}"
        )
    return expected


def exports_of(path) -> list[vm.Function]:
    return list(vm.BytecodeModule.load(path).exports.values())


# -- Self-checks of the helpers -------------------------------------------------------------


def test_canonical_distinguishes_signed_zero_and_nan_sign():
    assert _canon("f", 0.0) != _canon("f", -0.0)
    assert _canon("F", math.nan) != _canon("F", -math.nan)
    assert _canon("i", 2**32 - 1) == _canon("i", -1)


def test_input_combinations_are_bounded():
    assert len(input_combinations("ii")) == len(I32_EDGES) ** 2
    assert len(input_combinations("fff")) <= 450
    with pytest.raises(ValueError):
        iree_call(corpus.build("vm_assembly"), "add_one", [None], "r")
