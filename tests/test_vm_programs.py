"""Hand-written VM programs (control flow, calls, buffers, lists, globals, refs) vs IREE.

Every export of every program runs in IREE (iree.runtime) and in both iree_lab
tiers on the same inputs; results and failure status codes must agree.
Inputs come from the cconv (edge values) unless a function lists its own.
"""

from __future__ import annotations

import pytest
from test_vm_support import check_same, exports_of, input_combinations

from iree_lab.testing import corpus

# Explicit inputs per (program, function); others use edge values of their cconv.
INPUTS = {
    ("vm_control", "fib"): [(n,) for n in (0, 1, 2, 5, 10, 15)],
    # IREE's stack holds 6476 frames of @depth (1036288 bytes): the limit must match.
    ("vm_control", "depth"): [(0,), (1,), (100,), (6475,), (6476,), (1_000_000,)],
    ("vm_control", "table"): [(n,) for n in (-1, 0, 1, 2, 3, 7, 0x7FFFFFFF)],
    ("vm_control", "sum_i64"): [(n,) for n in (0, 1, 3, 10)],
    # Status 17 (DEFERRED) is left out: IREE treats it as a yield and spins forever.
    ("vm_control", "fail_if"): [(n,) for n in (0, 1, 3, 5, 11, 16, 18, 99)],
    ("vm_control", "nested_fail"): [(0,), (9,)],
    ("vm_control", "nested"): [(n,) for n in (-3, 0, 1, 3, 7, 8, 20)],
}
# Element offsets whose bounds arithmetic cannot wrap around in IREE (a wrapped
# check lets IREE read outside the buffer; iree_lab reports OUT_OF_RANGE there).
_OFFSETS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 13, 27, 28, 100, 2**40)
_VALUES32 = (0, -1, 0x1234, -129, 0x7FFFFFFF, -0x80000000, 0x12345678)
_STORE_OFFSETS = (0, 1, 3, 7, 15, 16, 100)
for _w in ("i8u", "i8s", "i16u", "i16s", "i32", "i64", "f32", "f64"):
    INPUTS[("vm_buffers", f"rodata_load_{_w}")] = [(o,) for o in _OFFSETS]
for _w in ("i8", "i16", "i32"):
    INPUTS[("vm_buffers", f"store_load_{_w}")] = [(o, v) for o in _STORE_OFFSETS
                                                 for v in _VALUES32]  # fmt: skip
INPUTS[("vm_buffers", "store_load_i64")] = [(o, v) for o in _STORE_OFFSETS
                                            for v in (0, -1, 2**63 - 1, 0x123456789)]
INPUTS[("vm_buffers", "store_load_f32")] = [(o, v) for o in _STORE_OFFSETS
                                            for v in (0.0, -0.0, 1.5, float("inf"))]
INPUTS[("vm_buffers", "store_load_f64")] = [(o, v) for o in _STORE_OFFSETS
                                            for v in (0.0, -2.5, 1e300, float("nan"))]
INPUTS[("vm_buffers", "rodata_store")] = [(0, 1), (100, 1)]
_FILLS = [(0, 0), (0, 4), (2, 3), (1, 1), (30, 2), (31, 2), (0, 33), (7, 1), (3, 2**40),
          (2**40, 1)]  # fmt: skip
for _w, _v in (("i8", -2), ("i16", 0x1234), ("i32", -0x12345678), ("i64", -(2**40) - 3),
               ("f32", 1.5), ("f64", -2.25)):  # fmt: skip
    INPUTS[("vm_buffers", f"fill_{_w}")] = [(o, n, _v) for o, n in _FILLS]
_RANGES = [(0, 0, 0), (0, 0, 8), (1, 2, 5), (8, 0, 16), (0, 8, 16), (20, 0, 8), (0, 20, 8),
           (16, 8, 16), (0, 0, 24), (0, 0, 25), (100, 0, 1)]  # fmt: skip
INPUTS[("vm_buffers", "copy")] = _RANGES
INPUTS[("vm_buffers", "compare")] = [(a, b, n) for a, b, n in _RANGES]
INPUTS[("vm_buffers", "hash")] = [(o, n) for o in (0, 1, 7, 8, 27, 28, 29)
                                  for n in (0, 1, 7, 8, 9, 16, 20)]  # fmt: skip
INPUTS[("vm_buffers", "clone")] = [(o, n, a) for o, n in ((0, 1), (0, 28), (8, 8), (20, 10))
                                   for a in (0, 1, 3, 16, 64)]  # fmt: skip
INPUTS[("vm_buffers", "alloc")] = [(0, 0), (16, 0), (16, 3), (100, 64), (1, 128), (2**62, 0)]
INPUTS[("vm_lists", "i32_list_set_get")] = [
    (i, n, v) for i, n in ((0, 1), (3, 4), (4, 4), (-1, 4), (0, 0), (70, 100))
    for v in (5, -7)]  # fmt: skip
INPUTS[("vm_lists", "ref_list")] = [(0,), (1,), (2,), (-1,)]
INPUTS[("vm_lists", "reserve_and_resize")] = [(0, 0), (3, 1), (100, 70), (64, 65), (0, 200)]
# Indirect global offsets (IREE's uint32 bounds check wraps for offsets near 2^32).
INPUTS[("vm_globals", "bump")] = [(1,), (2,), (-5,), (0x7FFFFFFF,), (3,)]
INPUTS[("vm_globals", "indirect_i32")] = [(o, v) for o in (0, 4, 28, 29, 30, 32, 2**31)
                                          for v in (5, -1)]  # fmt: skip
INPUTS[("vm_globals", "indirect_i64")] = [(v, o) for o in (0, 8, 24, 25, 28, 2**31)
                                          for v in (5, -(2**40))]  # fmt: skip
INPUTS[("vm_globals", "indirect_f32")] = [(o, v) for o in (0, 4, 28, 31, 32) for v in (1.5,)]
INPUTS[("vm_globals", "ref_global")] = [(0,), (1,), (2,), (-1,)]
INPUTS[("vm_globals", "ref_ops")] = [(0,), (1,), (2,)]
PROGRAMS = ("vm_control", "vm_buffers", "vm_lists", "vm_globals")


def _cases():
    for program in PROGRAMS:
        path = corpus.build(program)
        for fn in exports_of(path):
            yield pytest.param(program, fn.name, fn.cconv, id=f"{program}.{fn.name}")


@pytest.mark.parametrize(("program", "name", "cconv"), list(_cases()))
def test_program_function_matches_iree(program, name, cconv):
    path = corpus.build(program)
    inputs = INPUTS.get((program, name)) or input_combinations(cconv.arguments, limit=200)
    outcomes = [check_same(path, name, args, cconv) for args in inputs]
    assert outcomes
