"""Every HAL-free module of the shared corpus (iree-compile output and other VM assembly),
every export with scalar arguments, vs IREE in both iree_lab tiers.

Inputs are edge values of the cconv unless listed; inputs that make IREE crash
(SIGFPE on INT_MIN / -1) or loop for minutes (negative sizes, huge counts) are
left out on purpose.
"""

from __future__ import annotations

import pytest
from test_vm_support import check_same, input_combinations

from iree_lab import vm
from iree_lab.testing import corpus

PROGRAMS = ("scalar_vmvx", "control_flow_vm", "cfg_large", "isa_integer", "isa_refs",
            "isa_ext_f32", "isa_ext_f64")  # fmt: skip
INPUTS = {
    ("isa_refs", "lists"): [(n,) for n in (0, 1, 2, 5, 63, 64, 65)],
    ("isa_refs", "buffers"): [(n,) for n in (0, 1, 7, 8, 64, 100)],
    ("cfg_large", "big"): [(n,) for n in (0, 1, 2, 5, 17, 100, 1000)],
    ("control_flow_vm", "collatz_steps"): [(n,) for n in (0, 1, 2, 3, 7, 27, 97, 871)],
    ("scalar_vmvx", "loop_sum"): [(n,) for n in (0, 1, 10, 1000, -5)],
}
SKIP = {("control_flow_vm", "checked_div"): {(-(2**31), -1)}}


def _cases():
    for program in PROGRAMS:
        module = vm.BytecodeModule.load(corpus.build(program))
        for name, fn in module.exports.items():
            if fn.cconv is None or "r" in fn.cconv.arguments or name.startswith("__"):
                continue
            yield pytest.param(program, name, fn.cconv, id=f"{program}.{name}")


@pytest.mark.parametrize(("program", "name", "cconv"), list(_cases()))
def test_corpus_export_matches_iree(program, name, cconv):
    path = corpus.build(program)
    inputs = INPUTS.get((program, name)) or input_combinations(cconv.arguments, limit=120)
    skip = SKIP.get((program, name), set())
    checked = [check_same(path, name, args, cconv) for args in inputs if tuple(args) not in skip]
    assert checked
