"""vm.switch.ref runs like IREE's: iree-as-module cannot assemble it, so the module is
the hand-built one from test_isa.py, run by iree.runtime and by both iree_lab tiers."""

from __future__ import annotations

import pytest
from test_isa import _switch_ref_module

from iree_lab import vm

INDICES = [0, 1, 2, -1, 7]


def _iree_lengths() -> list[int]:
    rt = pytest.importorskip("iree.runtime")
    instance = rt.VmInstance()
    module = rt.VmModule.mmap(instance, str(_switch_ref_module()))
    context = rt.VmContext(instance, modules=[module])
    function = module.lookup_function("switch_ref")
    lengths = []
    for index in INDICES:
        args, results = rt.VmVariantList(3), rt.VmVariantList(1)
        args.push_int(index)
        args.push_ref(rt.VmBuffer(4))  # case 0
        args.push_ref(rt.VmBuffer(8))  # case 1, and the default
        context.invoke(function, args, results)
        lengths.append(len(memoryview(results.get_as_object(0, rt.VmBuffer))))
    return lengths


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "stepping"])
def test_switch_ref_matches_iree(fast):
    expected = _iree_lengths()
    assert expected == [4, 8, 8, 8, 8]  # the program really selects by index
    context = vm.Context([vm.BytecodeModule.load(str(_switch_ref_module()))], fast=fast)
    function = context.lookup_function("switch_ref")
    ours = []
    for index in INDICES:
        case0, case1 = vm.Buffer.allocate(4), vm.Buffer.allocate(8)
        (selected,) = context.call_function(function, [index, case0, case1])
        assert selected is case0 or selected is case1  # the same ref, not a copy
        ours.append(len(selected.data))
    assert ours == expected
