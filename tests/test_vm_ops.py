"""Every arithmetic/compare/convert VM op, on edge values, in IREE and in both iree_lab tiers.

The programs (tests/programs/vm/int_ops.vmasm, float_ops.vmasm) have one
exported function per op; each is called with every combination of edge
values for its argument types and the results compared bit for bit.
"""

from __future__ import annotations

import signal

import pytest
from test_vm_support import (
    check_same,
    exports_of,
    input_combinations,
    iree_run_module,
    lab_call,
)

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
