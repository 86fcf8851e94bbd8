"""Every arithmetic/compare/convert VM op, on edge values, in IREE and in both iree_lab tiers.

The programs (tests/programs/vm/int_ops.vmasm, float_ops.vmasm) have one
exported function per op; each is called with every combination of edge
values for its argument types and the results compared bit for bit.
"""

from __future__ import annotations

import math
import signal

import pytest
from test_vm_support import (
    check_same,
    exports_of,
    input_combinations,
    iree_run_module,
    lab_call,
)

from iree_lab import vm
from iree_lab.testing import corpus

_PROGRAMS = ("vm_int_ops", "vm_float_ops")


def _cases():
    for program in _PROGRAMS:
        path = corpus.build(program)
        for fn in exports_of(path):
            yield pytest.param(program, fn.name, fn.cconv, id=f"{program}.{fn.name}")


def _traps(name: str, args) -> bool:
    """Inputs that kill iree-run-module with SIGFPE (x86 idiv faults)."""
    if not (name.startswith("div_") or name.startswith("rem_")):
        return False
    a, b = args
    if b == 0:
        return True
    int_min = -(2**63) if "i64" in name else -(2**31)
    return name.endswith("_s") and a == int_min and b == -1


@pytest.mark.parametrize(("program", "name", "cconv"), list(_cases()))
def test_op_matches_iree(program, name, cconv):
    path = corpus.build(program)
    checked = 0
    for args in input_combinations(cconv.arguments):
        if _traps(name, args):
            continue
        check_same(path, name, args, cconv)
        checked += 1
    assert checked > 0


@pytest.mark.parametrize(
    ("name", "a", "b", "what"),
    [
        ("div_i32_s", "7", "0", "division by zero"),
        ("rem_i32_u", "7", "0", "division by zero"),
        ("div_i32_s", "-2147483648", "-1", "division overflow"),
        ("rem_i64_s", "-9223372036854775808", "-1", "division overflow"),
    ],
)
def test_division_traps_are_vm_errors(name, a, b, what):
    path = corpus.build("vm_int_ops")
    result = iree_run_module(path, name, [a, b])
    assert result.returncode in (-signal.SIGFPE, 128 + signal.SIGFPE), result
    outcome = lab_call(path, name, [int(a), int(b)], fast=False)
    assert outcome[0] == "error" and outcome[1] == "INVALID_ARGUMENT", outcome
    mnemonic = "vm." + name.replace("_", ".")
    assert what in outcome[2] and mnemonic in outcome[2], outcome[2]
    assert f"int_ops.{name}+00000001" in outcome[2]  # the backtrace names the instruction
    assert lab_call(path, name, [int(a), int(b)], fast=True)[:2] == outcome[:2]


# vm.fpowi (3.13): the i64 exponent reaches compiler-rt's __powi[sd]f2 as a C int (low
# 32 bits), so exponents past 2**31 wrap; square-and-multiply rounds at every step.
_POWI_BASES = [2.0, -2.0, 0.0, -0.0, 1.0, -1.0, 0.5, 1.0000001, 0.9999999, 3.3, -1.1,
               math.nan, -math.nan, math.inf, -math.inf, 1e-20, 1e20, 1e-45, 1e-310]  # fmt: skip
_POWI_EXPONENTS = [0, 1, -1, 2, -2, 3, -3, 7, -7, 31, 127, 128, -149, -150, 1075, 1000000,
                   2**31 - 1, -(2**31), 2**31, 2**32, 2**32 + 3, -(2**32) + 5, 3 << 40,
                   2**63 - 1, -(2**63)]  # fmt: skip


@pytest.mark.parametrize("name", ["fpowi_f32", "fpowi_f64"])
def test_fpowi_edge_cases(name):
    path = corpus.build("vm_float_ops")
    fn = vm.BytecodeModule.load(path).exports[name]
    outcomes = set()
    for base in _POWI_BASES:
        for exponent in _POWI_EXPONENTS:
            args = (exponent, base) if fn.cconv.arguments == "If" else (base, exponent)
            outcomes.add(repr(check_same(path, name, args, fn.cconv)))
    assert len(outcomes) > 40  # the cases exercise many distinct results
