"""The stepping tier: hooks, pausing and resuming, raw register views, instruction
budgets, KeyboardInterrupt, verification and the host API.

The instruction sequences and register layouts asserted here follow IREE's
dispatch loop (branches land after the target's block marker; the entry
block's marker executes; i64 pairs are (low, high) 32-bit words).
"""

from __future__ import annotations

import pytest

from iree_lab import vm
from iree_lab.testing import corpus

LOOP_SUM_PCS = [0x0, 0x1, 0x4, 0xF, 0x12, 0x17]
LOOP_BODY_PCS = [0x2B, 0x32, 0x43, 0x48, 0x4F, 0x56]
LOOP_EXIT_PCS = [0x2B, 0x32, 0x63]


@pytest.fixture
def scalar():
    return vm.Context([vm.BytecodeModule.load(corpus.build("scalar_vmvx"))])


def test_hook_sees_every_instruction_in_dispatch_order(scalar):
    seen = []

    def hook(inv, frame, k):
        seen.append(frame.code.pcs[k])
        return False

    inv = scalar.invoke("loop_sum", 3, hook=hook)
    assert inv.run() == vm.InvocationState.DONE and inv.results == [3]
    assert seen == LOOP_SUM_PCS + 3 * LOOP_BODY_PCS + LOOP_EXIT_PCS


def test_pause_inspect_and_resume(scalar):
    hits = []

    def hook(inv, frame, k):
        if frame.code.pcs[k] == 0x4F:  # vm.add.i64 (the loop counter)
            hits.append(k)
            return len(hits) == 2
        return False

    inv = scalar.invoke("loop_sum", 4, hook=hook)
    assert inv.run() == vm.InvocationState.PAUSED
    frame = inv.top
    assert frame.pc == 0x4F and frame.instruction.name == "vm.add.i64"
    regs = frame.registers
    # Second iteration: counter i0:1 = 1, partial sum i3 = 1, accumulator i2 = 0.
    assert regs.i64(0) == 1 and regs.i32(3) == 1 and regs.i32(2) == 0
    assert [b.function for b in inv.backtrace()] == ["loop_sum"]
    assert inv.run() == vm.InvocationState.DONE and inv.results == [6]
    assert len(hits) == 4  # the paused instruction is not reported twice


def test_raw_register_words_are_iree_layout(scalar):
    captured = {}

    def hook(inv, frame, k):
        if frame.instruction.name == "vm.return":
            captured["words"] = frame.registers.raw_words()
            captured["regs"] = frame.registers
        return False

    inv = scalar.invoke("mul_add_i64", -3, 5, 2, hook=hook)
    assert inv.run() == vm.InvocationState.DONE and inv.results == [-13]
    words = captured["words"]
    assert words[4:6] == [0xFFFFFFF3, 0xFFFFFFFF]  # i4:5 = -13 as (lo, hi)
    assert captured["regs"].i64(4) == -13

    inv = scalar.invoke("fma_f32", 1.5, 2.0, 0.25, hook=hook)
    assert inv.run() == vm.InvocationState.DONE
    assert captured["words"][2] == 0x40500000  # 3.25f
    assert float(captured["regs"].f32(2)) == 3.25


def test_registers_typed_writes_round_trip():
    regs = vm.Registers([0] * 4, [None])
    regs.set_f64(0, -2.5)
    regs.set_i32(2, -1)
    assert regs.raw_words() == [0x00000000, 0xC0040000, 0xFFFFFFFF, 0]
    assert regs.f64(0) == -2.5 and regs.i64(0) == -4610560118520545280  # 0xC004000000000000
    regs.set_i64(2, 2**40 + 7)
    assert regs.raw_words()[2:] == [7, 256]


def test_instruction_budget_stops_and_context_stays_usable(scalar):
    inv = scalar.invoke("loop_sum", 1000, instruction_budget=50)
    assert inv.run() == vm.InvocationState.FAILED
    assert inv.status.code == vm.StatusCode.DEADLINE_EXCEEDED
    budgeted = vm.Context([vm.BytecodeModule.load(corpus.build("scalar_vmvx"))],
                          instruction_budget=100)  # fmt: skip
    with pytest.raises(vm.VMError) as info:
        budgeted.call("loop_sum", 1000)
    assert info.value.code == vm.StatusCode.DEADLINE_EXCEEDED
    assert info.value.backtrace[-1].function == "loop_sum"
    assert budgeted.call("loop_sum", 5) == 10


def test_keyboard_interrupt_in_stepping_tier(scalar):
    count = [0]

    def hook(inv, frame, k):
        count[0] += 1
        if count[0] == 40:
            raise KeyboardInterrupt
        return False

    ctx = vm.Context([vm.BytecodeModule.load(corpus.build("scalar_vmvx"))], hook=hook)
    with pytest.raises(KeyboardInterrupt) as info:
        ctx.call("loop_sum", 1000)
    assert isinstance(info.value, vm.VMError)
    assert info.value.code == vm.StatusCode.CANCELLED
    assert info.value.backtrace[-1].function == "loop_sum"
    ctx.hook = None
    assert ctx.call("loop_sum", 10) == 45


class _Interrupting(vm.NativeModule):
    name = "native"
    version = 1

    @vm.export("0i_v")
    def note(self, x):
        raise KeyboardInterrupt

    @vm.export("0i_i")
    def slow_double(self, x):
        return 2 * x

    @vm.export("0iCiD_i")
    def sum(self, base, values):
        return base


def test_keyboard_interrupt_in_fast_tier():
    ctx = vm.Context([_Interrupting(), vm.BytecodeModule.load(corpus.build("vm_yields"))])
    with pytest.raises(KeyboardInterrupt) as info:
        ctx.call("call_native_plain", 1)
    assert isinstance(info.value, vm.VMInterrupt)
    assert [f.function for f in info.value.backtrace] == ["call_native_plain"]
    assert ctx.call("count_no_yield", 6) == 6


def test_argument_errors(scalar):
    with pytest.raises(vm.VMError) as info:
        scalar.call("add_i32", 1)
    assert info.value.code == vm.StatusCode.INVALID_ARGUMENT
    assert "expected 2 arguments but passed 1" in info.value.message
    with pytest.raises(vm.VMError) as info:
        scalar.call("nope")
    assert info.value.code == vm.StatusCode.NOT_FOUND
    with pytest.raises(vm.VMError):
        scalar.call("add_i32", "x", 1)


def test_backtrace_names_each_frame_and_source_location():
    ctx = vm.Context([vm.BytecodeModule.load(corpus.build("vm_control"))])
    with pytest.raises(vm.VMError) as info:
        ctx.call("nested_fail", 9)
    assert info.value.code == vm.StatusCode.FAILED_PRECONDITION  # 9
    assert info.value.message == "failing on purpose"
    fail_pc = next(i.pc for i in ctx.modules[0].decode(11).instructions
                   if i.name == "vm.fail")  # fmt: skip
    assert [(f.function, f.pc) for f in info.value.backtrace] == [("nested_fail", 1),
                                                                  ("fail_if", fail_pc)]
    mlir = vm.Context([vm.BytecodeModule.load(corpus.build("control_flow_vm"))], fast=False)
    with pytest.raises(vm.VMError) as info:
        mlir.call("checked_div", 1, 0)
    assert "control_flow.mlir:" in (info.value.backtrace[-1].location or "")


def test_malformed_bytecode_is_rejected_before_running(tmp_path):
    data = bytearray(corpus.build("vm_control").read_bytes())
    module = vm.BytecodeModule.load(bytes(data))
    offset = module.source.bytecode_file_offset
    # Replace the first function's first opcode after its block marker with an
    # unassigned opcode.
    first = module.source.functions[0]
    data[offset + first.bytecode_offset + 1] = 0xDD
    broken = vm.BytecodeModule.load(bytes(data))
    with pytest.raises(vm.VMError) as info:
        vm.Context([broken])
    assert info.value.code == vm.StatusCode.INVALID_ARGUMENT
    assert "control.fib+00000001" in str(info.value)


# -- Values on the host side ---------------------------------------------------------------


def test_list_api_follows_iree_conversions():
    lst = vm.List(vm.TypeDef(vm.ValueType.I8), 2)
    assert lst.capacity == 64 and len(lst) == 0
    lst.resize(2)
    lst.set_value(0, vm.ValueType.I32, 300)
    assert lst.get_value(0, vm.ValueType.I32) == 44  # truncated to i8
    assert lst.get_value(0, vm.ValueType.F32) == 0.0  # int -> float reads as zero
    with pytest.raises(vm.VMStatus) as info:
        lst.get_value(2, vm.ValueType.I32)
    assert info.value.code == vm.StatusCode.OUT_OF_RANGE
    variant = vm.List()
    variant.push_value(vm.ValueType.F64, 2.5)
    variant.push_ref(vm.Buffer.from_bytes(b"ab"))
    assert variant.get_variant(0) == 2.5 and len(variant.get_variant(1)) == 2
    with pytest.raises(vm.VMStatus) as info:
        variant.get_value(1, vm.ValueType.I32)
    assert info.value.code == vm.StatusCode.FAILED_PRECONDITION


def test_buffer_api_bounds_and_access():
    rodata = vm.Buffer.wrap_rodata(b"\x01\x02\x03\x04\x05")
    assert rodata.load("I", 0) == 0x04030201
    with pytest.raises(vm.VMStatus) as info:
        rodata.load("I", 1)
    assert info.value.code == vm.StatusCode.OUT_OF_RANGE
    with pytest.raises(vm.VMStatus) as info:
        rodata.store("B", 0, 1)
    assert info.value.code == vm.StatusCode.PERMISSION_DENIED
    with pytest.raises(vm.VMStatus) as info:
        vm.Buffer.allocate(8, alignment=3)
    assert info.value.code == vm.StatusCode.INVALID_ARGUMENT
    with pytest.raises(vm.VMStatus) as info:
        vm.Buffer.allocate(2**62)
    assert info.value.code == vm.StatusCode.RESOURCE_EXHAUSTED
