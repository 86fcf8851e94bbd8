"""The HAL object model: buffers, views, semaphores/fences, command buffers, queues, executables.

Where IREE defines an error message the test pins it (copied from the
runtime's behaviour in buffer.c / command_buffer_validation.c / module.c),
because iree-run-module prints those messages and iree_lab must print the same.
"""

from __future__ import annotations

import numpy as np
import pytest

from iree_lab import vm
from iree_lab.hal import (
    BufferBinding,
    BufferRef,
    BufferUsage,
    CommandBufferMode,
    CommandCategory,
    Device,
    ElementType,
    MemoryAccess,
    MemoryType,
    Recorder,
    format_element_type,
    io,
    parse_element_type,
)
from iree_lab.hal.cpu import HOST_ARCH
from iree_lab.hal.module import HALModule
from iree_lab.hal.types import WHOLE_BUFFER, format_buffer_usage, format_memory_type
from iree_lab.vm.status import StatusCode, VMError, VMStatus

# hal module v7 exports and calling conventions (runtime/src/iree/modules/hal/exports.inl).
HAL_EXPORTS = {
    "allocator.allocate": "0rIiiI_r",
    "allocator.import": "0riIiirII_r",
    "allocator.select": "0iiICrID_rI",
    "buffer.allocation.discard": "0r_i",
    "buffer.allocation.is_terminal": "0r_i",
    "buffer.allocation.preserve": "0r_v",
    "buffer.assert": "0rrrIii_v",
    "buffer.length": "0r_I",
    "buffer.load": "0rIi_i",
    "buffer.store": "0irIi_v",
    "buffer.subspan": "0rII_r",
    "buffer_view.assert": "0rriiCID_v",
    "buffer_view.buffer": "0r_r",
    "buffer_view.create": "0rIIiiCID_r",
    "buffer_view.dim": "0ri_I",
    "buffer_view.element_type": "0r_i",
    "buffer_view.encoding_type": "0r_i",
    "buffer_view.rank": "0r_i",
    "buffer_view.trace": "0rCrD_v",
    "channel.create": "0rIIrrii_r",
    "channel.rank_and_count": "0r_ii",
    "channel.split": "0riiI_r",
    "command_buffer.advise_buffer": "0rrIIIi_v",
    "command_buffer.begin_debug_group": "0rr_v",
    "command_buffer.collective": "0rriiiirrIIIII_v",
    "command_buffer.copy_buffer": "0riirIrIII_v",
    "command_buffer.create": "0riiIi_r",
    "command_buffer.dispatch": "0rrIiiiICiDCiirIID_v",
    "command_buffer.dispatch.indirect": "0rrIirIICiDCiirIID_v",
    "command_buffer.end_debug_group": "0r_v",
    "command_buffer.execution_barrier": "0riiI_v",
    "command_buffer.fill_buffer": "0rrIIiIiI_v",
    "command_buffer.finalize": "0r_v",
    "command_buffer.update_buffer": "0rrIrIIiI_v",
    "device.allocator": "0r_r",
    "device.query.i64": "0rrr_iI",
    "device.queue.alloca": "0rIrrIiiII_r",
    "device.queue.barrier": "0rIrrI_v",
    "device.queue.copy": "0rIrrrIrIII_v",
    "device.queue.dealloca": "0rIrrrI_v",
    "device.queue.execute": "0rIrrrI_v",
    "device.queue.execute.indirect": "0rIrrrICrIID_v",
    "device.queue.fill": "0rIrrrIIIiI_v",
    "device.queue.flush": "0rI_v",
    "device.queue.read": "0rIrrrIrIII_v",
    "device.queue.update": "0rIrrrIrIII_v",
    "device.queue.write": "0rIrrrIrIII_v",
    "devices.count": "0v_i",
    "devices.get": "0i_r",
    "ex.file.from_memory": "0rIirIIi_r",
    "executable.create": "0rIrrr_r",
    "executable.lookup.function": "0rr_I",
    "fence.await": "0iICrD_i",
    "fence.create": "0rI_r",
    "fence.fail": "0ri_v",
    "fence.join": "0ICrD_r",
    "fence.query": "0r_i",
    "fence.signal": "0r_v",
}


@pytest.fixture
def device():
    return Device(recorder=Recorder())


def _code(excinfo) -> str:
    return excinfo.value.code.name


# -- Enums and element types -------------------------------------------------------------------


def test_element_types_round_trip_and_values():
    assert int(ElementType.FLOAT_32) == 0x21000020
    assert int(ElementType.INT_32) == 0x10000020
    assert int(ElementType.BOOL_8) == 0x13000008
    for text in ["f32", "f16", "bf16", "i1", "i4", "si8", "ui64", "cf64", "*32", "f8E4M3FN",
                 "f8E5M2FNUZ", "f8E8M0FNU"]:
        assert format_element_type(parse_element_type(text)) == text
    assert format_element_type(parse_element_type("x16")) == "*16"
    with pytest.raises(VMStatus) as e:
        parse_element_type("q32")
    assert e.value.message == "unhandled element type prefix in 'q32'"
    with pytest.raises(VMStatus) as e:
        parse_element_type("i300")
    assert e.value.message == "out of range bit count in 'i300'"


def test_bitfield_formatting_matches_iree():
    assert format_memory_type(MemoryType.DEVICE_LOCAL | MemoryType.HOST_VISIBLE) == \
        "DEVICE_LOCAL|HOST_VISIBLE"
    assert format_memory_type(MemoryType.HOST_LOCAL) == "HOST_LOCAL"
    assert format_buffer_usage(BufferUsage.DEFAULT) == "TRANSFER|DISPATCH_STORAGE"
    assert format_buffer_usage(0x80000000 | BufferUsage.TRANSFER_SOURCE) == \
        "TRANSFER_SOURCE|80000000h"


# -- Device queries ------------------------------------------------------------------------------


def test_device_queries_like_local_sync(device):
    assert device.query_i64("hal.device.id", "local*") == 1
    assert device.query_i64("hal.device.id", "local-sync") == 1
    assert device.query_i64("hal.device.id", "vulkan*") == 0
    assert device.query_i64("hal.executable.format", "vmvx-bytecode-fb") == 1
    assert device.query_i64("hal.executable.format", f"embedded-elf-{HOST_ARCH}") == 1
    assert device.query_i64("hal.executable.format", f"system-elf-{HOST_ARCH}") == 1
    assert device.query_i64("hal.executable.format", "embedded-elf-riscv_32") == 0
    assert device.query_i64("hal.dispatch", "concurrency") == 1
    with pytest.raises(VMStatus) as e:
        device.query_i64("hal.device", "nope")
    assert e.value.message == "unknown device configuration key value 'hal.device :: nope'"


# -- Buffers -------------------------------------------------------------------------------------


def test_allocation_params_and_mapping(device):
    buffer = device.allocator.allocate(MemoryType.DEVICE_LOCAL, BufferUsage.DEFAULT, 64)
    assert buffer.memory_type == MemoryType.DEVICE_LOCAL | MemoryType.HOST_VISIBLE
    assert buffer.allowed_usage & BufferUsage.MAPPING_SCOPED
    buffer.map_write(8, np.arange(4, dtype=np.float32).tobytes())
    assert np.frombuffer(buffer.map_read(8, 16), np.float32).tolist() == [0, 1, 2, 3]
    buffer.map_fill(32, 16, b"\xAB\xCD")
    assert buffer.map_read(32, 4) == b"\xAB\xCD\xAB\xCD"
    with pytest.raises(VMStatus) as e:
        buffer.map_fill(1, 4, b"\x00\x00\x01\x00")
    assert e.value.message == ("attempting to fill a range with 4 byte values that is not "
                               "aligned (offset=1, length=4)")
    with pytest.raises(VMStatus) as e:
        buffer.map_read(60, 8)
    assert _code(e) == "OUT_OF_RANGE"
    assert e.value.message == ("attempted to access an address outside of the valid buffer "
                               "range (offset=60, adjusted_length=8, end=67, buffer "
                               "byte_length=64)")


def test_subspans_share_storage_and_flatten(device):
    buffer = device.allocator.allocate(0, 0, 32)
    sub = buffer.subspan(8, 16)
    subsub = sub.subspan(4, 8)
    assert subsub.allocated_buffer is buffer  # never nested
    assert (subsub.byte_offset, subsub.byte_length) == (12, 8)
    assert sub.subspan(0, WHOLE_BUFFER) is sub
    subsub.map_write(0, b"\x01" * 8)
    assert buffer.map_read(12, 8) == b"\x01" * 8
    with pytest.raises(VMStatus) as e:
        sub.subspan(17, 1)
    assert e.value.message.startswith("attempted to access an address off the end")


def test_read_only_import_denies_writes(device):
    rodata = vm.Buffer.wrap_rodata(b"\x01\x02\x03\x04")
    buffer = device.allocator.import_host(0, BufferUsage.SHARING_IMMUTABLE, rodata.data,
                                          access=MemoryAccess.READ)
    assert buffer.map_read(0, 4) == b"\x01\x02\x03\x04"
    with pytest.raises(VMStatus) as e:
        buffer.map_write(0, b"\x00")
    assert _code(e) == "PERMISSION_DENIED"
    assert e.value.message == ("buffer does not support the requested access type; buffer "
                               "allows READ, operation requires DISCARD_WRITE")


def test_preserve_discard_counts(device):
    buffer = device.allocator.allocate(0, 0, 4)
    assert buffer.allocation_is_terminal()
    buffer.subspan(0, 2).allocation_preserve()
    assert not buffer.allocation_is_terminal()
    assert buffer.allocation_discard() is False
    assert buffer.allocation_discard() is True


def test_buffer_view_to_numpy_unpacks_sub_byte(device):
    view = io.parse_buffer_view("3xbf16=1 -2.5 0.125", device)
    assert view.to_numpy().astype(np.float32).tolist() == [1.0, -2.5, 0.125]
    buffer = device.allocator.allocate(0, 0, 2)
    buffer.map_write(0, bytes([0x21, 0xF7]))
    from iree_lab.hal import BufferView

    i4 = BufferView(buffer, [4], ElementType.INT_4)
    assert i4.byte_length == 2
    assert i4.to_numpy().astype(np.int8).tolist() == [1, 2, 7, -1]


# -- Semaphores and fences -------------------------------------------------------------------------


def test_semaphores_are_monotonic_and_fail_sticky(device):
    sem = device.create_semaphore(0)
    sem.signal(3)
    assert sem.is_reached(2) and not sem.is_reached(4)
    with pytest.raises(VMStatus) as e:
        sem.signal(3)
    assert e.value.message == "semaphore already signaled past 3"
    sem.fail(VMStatus(StatusCode.ABORTED, "boom"))
    sem.fail(VMStatus(StatusCode.INTERNAL, "second"))  # first failure wins
    with pytest.raises(VMStatus) as e:
        sem.query()
    assert (e.value.code, e.value.message) == (StatusCode.ABORTED, "boom")


def test_fence_insert_join_query(device):
    a = device.create_semaphore()
    b = device.create_semaphore()
    fence = device.create_fence([(a, 1), (b, 2), (a, 3)])
    assert [(s.id, v) for s, v in fence.timepoints] == [(a.id, 3), (b.id, 2)]
    assert fence.query() == StatusCode.DEFERRED
    from iree_lab.hal.semaphore import join_fences

    assert join_fences([None, None]) is None
    joined = join_fences([fence, device.create_fence([(b, 5)])])
    assert [(s.id, v) for s, v in joined.timepoints] == [(a.id, 3), (b.id, 5)]
    a.signal(3)
    b.signal(2)
    assert fence.query() == StatusCode.OK and joined.query() == StatusCode.DEFERRED
    b.fail(VMStatus(StatusCode.DATA_LOSS, ""))
    assert joined.query() == StatusCode.DATA_LOSS


# -- Queue ordering ------------------------------------------------------------------------------


def _fence(device, value=1):
    return device.create_fence([(device.create_semaphore(0), value)])


def test_queue_operations_wait_for_timepoints(device):
    """Work waiting on an unsignaled timepoint is parked and runs when it is reached."""
    rec = device.recorder
    gate = _fence(device)
    after_alloca = _fence(device)
    after_fill = _fence(device)
    buffer = device.queue_alloca(-1, gate, after_alloca, MemoryType.DEVICE_LOCAL,
                                 BufferUsage.DEFAULT, 16)
    device.queue_fill(-1, after_alloca, after_fill, buffer, 0, 16, 0x3F800000, 4)
    assert [op.status for op in rec.operations()] == ["pending", "pending"]
    assert len(device.pending_operations) == 2
    assert buffer.map_read(0, 4) == bytes(4)
    gate.signal()
    assert after_fill.query() == StatusCode.OK
    assert np.frombuffer(buffer.map_read(0, 16), np.float32).tolist() == [1.0] * 4
    alloca, fill = rec.operations()
    assert alloca.status == fill.status == "OK"
    assert alloca.started_at > alloca.submitted_at and fill.started_at > alloca.completed_at
    assert rec.dependencies(fill) == [alloca]
    assert rec.signaler_of(after_fill.timepoints[0][0].id, 1) is fill


def test_failures_propagate_along_the_timeline(device):
    gate = _fence(device)
    middle = _fence(device)
    last = _fence(device)
    buffer = device.allocator.allocate(0, 0, 8)
    device.queue_fill(-1, gate, middle, buffer, 0, 8, 1, 1)
    device.queue_barrier(-1, middle, last)
    gate.fail(VMStatus(StatusCode.ABORTED, "upstream failed"))
    failure = last.failure()
    assert failure is not None and failure.code == StatusCode.ABORTED
    assert failure.message == "upstream failed"
    assert buffer.map_read(0, 8) == bytes(8)  # the fill never ran
    assert [op.status for op in device.recorder.operations()] == ["ABORTED", "ABORTED"]
    # Submitting after a failure fails at once, like local-sync's semaphore wait.
    with pytest.raises(VMStatus) as e:
        device.queue_barrier(-1, last, _fence(device))
    assert e.value.code == StatusCode.ABORTED


def test_a_failing_operation_fails_its_signal_and_raises(device):
    done = _fence(device)
    buffer = device.allocator.allocate(0, 0, 8)
    with pytest.raises(VMStatus) as e:
        device.queue_fill(-1, None, done, buffer, 4, 8, 0, 1)
    assert e.value.code == StatusCode.OUT_OF_RANGE
    assert done.query() == StatusCode.OUT_OF_RANGE


def test_queue_copy_update_and_wait(device):
    src = device.allocator.allocate(0, 0, 8)
    dst = device.allocator.allocate(0, 0, 8)
    device.queue_update(-1, None, None, b"abcdefgh", src, 0, 8)
    done = _fence(device)
    device.queue_copy(-1, None, done, src, 2, dst, 0, 4)
    assert dst.map_read(0, 4) == b"cdef"
    assert device.wait([done]) == StatusCode.OK
    assert device.wait([_fence(device)]) == StatusCode.DEADLINE_EXCEEDED
    with pytest.raises(VMStatus):
        src.map_copy(0, src, 4, 8)


# -- Command buffers -----------------------------------------------------------------------------


def test_command_buffer_recording_rules(device):
    cb = device.create_command_buffer(CommandBufferMode.DEFAULT, CommandCategory.TRANSFER, -1, 2)
    with pytest.raises(VMStatus) as e:
        cb.dispatch(None, 0, (1, 1, 1), [], [])
    assert e.value.message == ("operation requires categories DISPATCH but command buffer only "
                               "supports TRANSFER")
    with pytest.raises(VMStatus) as e:
        cb.fill_buffer(BufferRef(None, 2, 0, 4), 0, 4)
    assert e.value.message == ("indirect buffer reference slot 2 is out range of the declared "
                               "binding capacity of the command buffer 2")
    with pytest.raises(VMStatus) as e:
        cb.fill_buffer(BufferRef(None, 0, 0, 4), 0, 3)
    assert e.value.message == ("fill value length is not one of the supported values "
                               "(pattern_length=3)")
    with pytest.raises(VMStatus) as e:
        device.queue_execute(-1, None, None, cb, [])
    assert e.value.message == ("command buffer recording has not been ended and it is still "
                               "in a recording state")
    cb.begin_debug_group("group")
    with pytest.raises(VMStatus) as e:
        cb.finalize()
    assert e.value.message == "unbalanced debug group depth (expected 0, is 1)"
    cb.end_debug_group()
    cb.finalize()
    with pytest.raises(VMStatus) as e:
        cb.fill_buffer(BufferRef(None, 0, 0, 4), 0, 4)
    assert e.value.code == StatusCode.FAILED_PRECONDITION


def test_command_buffer_replays_with_binding_tables(device):
    """A command buffer recorded once against slots runs against different buffers."""
    cb = device.create_command_buffer(0, CommandCategory.ANY, -1, 2)
    cb.fill_buffer(BufferRef(None, 0, 4, 8), 0x01020304, 4)
    cb.execution_barrier(0, 0, 0)
    cb.copy_buffer(BufferRef(None, 0, 4, 8), BufferRef(None, 1, 0, 8))
    cb.update_buffer(b"\xEE\xFF", BufferRef(None, 1, 8, 2))
    cb.finalize()
    results = []
    for _ in range(2):
        a = device.allocator.allocate(0, 0, 16)
        b = device.allocator.allocate(0, 0, 16)
        # Slot 1 binds a subspan: command offsets are relative to it.
        device.queue_execute(-1, None, None, cb, [BufferBinding(a), BufferBinding(b, 4, 12)])
        results.append((a.map_read(0, 16), b.map_read(0, 16)))
    pattern = bytes([4, 3, 2, 1]) * 2
    expected = (bytes(4) + pattern + bytes(4), bytes(4) + pattern + b"\xEE\xFF" + bytes(2))
    assert results == [expected, expected]
    with pytest.raises(VMStatus) as e:
        device.queue_execute(-1, None, None, cb, [BufferBinding(a)])
    assert e.value.code == StatusCode.INVALID_ARGUMENT
    record = device.recorder.command_buffers[cb.id]
    assert [c.kind for c in record.commands] == ["fill", "barrier", "copy", "update"]
    executes = device.recorder.operations("execute")
    assert executes[1].binding_table[1].offset == 4


# -- The hal module in a VM context -----------------------------------------------------------------


def test_module_exports_match_iree_hal_module_v7():
    module = HALModule()
    assert module.name == "hal" and module.version == 7
    cconvs = {name: fn.cconv.text for name, fn in module.exports.items()}
    assert cconvs == HAL_EXPORTS


def test_unsupported_exports_raise_unimplemented(device):
    module = HALModule([device])
    with pytest.raises(VMStatus) as e:
        module.exports["channel.create"].method(device, -1, 0, None, None, 0, 1)
    assert e.value.code == StatusCode.UNIMPLEMENTED
    assert "hal.channel.create" in e.value.message


@pytest.fixture
def fences_context(build_module, device):
    ctx = vm.Context([HALModule([device]), vm.BytecodeModule.load(build_module("hal_fences"))])
    return ctx, device


def test_fence_await_suspends_until_the_host_signals(fences_context):
    ctx, device = fences_context
    fence = _fence(device)
    inv = ctx.invoke("wait", fence)
    assert inv.run() == vm.InvocationState.SUSPENDED
    assert inv.run() == vm.InvocationState.SUSPENDED
    fence.signal()
    assert inv.run() == vm.InvocationState.DONE and inv.results == [0]


def test_fence_await_never_hangs(fences_context):
    ctx, device = fences_context
    with pytest.raises(VMError) as e:
        ctx.call("wait", _fence(device))
    assert e.value.code == StatusCode.DEADLINE_EXCEEDED
    assert "would wait forever" in e.value.message
    # A finite timeout reports DEADLINE_EXCEEDED as a result, like IREE.
    assert ctx.call("wait_timeout", _fence(device), 0) == int(StatusCode.DEADLINE_EXCEEDED)
    assert ctx.call("wait_timeout", _fence(device), 10) == int(StatusCode.DEADLINE_EXCEEDED)
    assert ctx.call("wait", None) == 0


def test_fence_await_returns_the_failure(fences_context):
    ctx, device = fences_context
    fence = _fence(device)
    fence.fail(VMStatus(StatusCode.DATA_LOSS, "disk on fire"))
    with pytest.raises(VMError) as e:
        ctx.call("wait", fence)
    assert (e.value.code, e.value.message) == (StatusCode.DATA_LOSS, "disk on fire")


def test_async_program_runs_when_its_wait_fence_is_signaled(build_module, device):
    """coarse-fences ABI: work is queued behind the caller's wait fence."""
    ctx = vm.Context([HALModule([device]),
                      vm.BytecodeModule.load(build_module("async_vmvx"))])
    fn = ctx.lookup_function("add")
    a = io.parse_buffer_view("4xf32=1 2 3 4", device)
    b = io.parse_buffer_view("4xf32=0.5", device)
    wait, signal = _fence(device), _fence(device)
    (out,) = ctx.call_function(fn, [a, b, wait, signal])
    assert signal.query() == StatusCode.DEFERRED
    assert out.to_numpy().tolist() == [0, 0, 0, 0]  # nothing ran yet
    wait.signal()
    assert signal.query() == StatusCode.OK
    assert out.to_numpy().tolist() == [1.5, 2.5, 3.5, 4.5]
    execute = device.recorder.operations("execute")[-1]
    assert execute.deferred and execute.status == "OK"
    # A failed wait fence fails the call's signal fence instead of running the dispatch.
    wait2, signal2 = _fence(device), _fence(device)
    ctx.call_function(fn, [a, b, wait2, signal2])
    wait2.fail(VMStatus(StatusCode.CANCELLED, "caller gave up"))
    assert signal2.query() == StatusCode.CANCELLED


# -- Hostile inputs ------------------------------------------------------------------------------


def _tensor_executable_blob(build_module) -> bytes:
    import iree_lab

    module = iree_lab.open(build_module("tensor_vmvx"))
    return next(bytes(s.data) for s in module.rodata if bytes(s.data[:2]) == b"PK")


def test_corrupt_executables_fail_cleanly(device, build_module):
    blob = _tensor_executable_blob(build_module)
    for data in (b"", b"garbage" * 10, blob[: len(blob) // 2], blob[:100] + bytes(50)):
        with pytest.raises(VMStatus) as e:
            device.create_executable("vmvx-bytecode-fb", data)
        assert e.value.code == StatusCode.INVALID_ARGUMENT
        assert e.value.message.startswith("failed to load VMVX executable module")
    with pytest.raises(VMStatus) as e:
        device.create_executable("embedded-elf-riscv_32", blob)
    assert e.value.message == ("no executable loader registered for the given executable format "
                               "'embedded-elf-riscv_32'")


def test_exports_check_ref_types(device):
    module = HALModule([device])
    length = module.exports["buffer.length"].method
    with pytest.raises(VMStatus) as e:
        length(None)
    assert e.value.message == "ref is null"
    with pytest.raises(VMStatus) as e:
        length(device)
    assert e.value.message == "ref type mismatch"


def test_dispatch_limits(build_module):
    device = Device(dispatch_context_options={"instruction_budget": 5})
    exe = device.create_executable("vmvx-bytecode-fb", _tensor_executable_blob(build_module))
    assert [e.name for e in exe.exports] == ["add_dispatch_0_elementwise_4_f32",
                                             "matmul_dispatch_0_matmul_4x4x8_f32",
                                             "sum_dispatch_0_reduction_16_i32"]
    assert exe.lookup_function("sum_dispatch_0_reduction_16_i32") == 2
    with pytest.raises(VMStatus) as e:
        exe.lookup_function("nope")
    assert e.value.message == "no exported function with the name `nope` found in module"
    buffers = [device.allocator.allocate(0, 0, 16) for _ in range(3)]

    def run(workgroups):
        cb = device.create_command_buffer(0, CommandCategory.DISPATCH, -1, 0)
        cb.dispatch(exe, 0, workgroups, [], [BufferRef(b, 0, 0, 16) for b in buffers])
        cb.finalize()
        device.queue_execute(-1, None, None, cb)

    with pytest.raises(VMStatus) as e:
        run((1 << 13, 1 << 12, 1))
    assert e.value.code == StatusCode.RESOURCE_EXHAUSTED
    with pytest.raises(VMStatus) as e:
        run((1, 1, 1))  # the instruction budget stops a runaway dispatch function
    assert e.value.code == StatusCode.DEADLINE_EXCEEDED
    with pytest.raises(VMStatus) as e:
        device.allocator.allocate(0, 0, 1 << 40)
    assert e.value.code == StatusCode.RESOURCE_EXHAUSTED


def test_denormal_flushing_is_scoped_to_dispatches(build_module):
    """Dispatches flush denormals (IREE's iree_fpu_state_push); the caller's state returns."""
    from iree_lab.hal import fpu

    if not fpu.SUPPORTED:
        pytest.skip("no FPU flush control on this platform")
    tiny = np.float32(1e-39)
    with fpu.flush_denormals():
        assert tiny * np.float32(1.0) == 0
        with fpu.flush_denormals():  # nests
            assert tiny * np.float32(1.0) == 0
        assert tiny * np.float32(1.0) == 0
    assert tiny * np.float32(1.0) == tiny
    with pytest.raises(ZeroDivisionError), fpu.flush_denormals():
        1 / 0  # noqa: B018
    assert tiny * np.float32(1.0) == tiny
    # A dispatch that fails half way (instruction budget) leaves the FPU as it was.
    device = Device(dispatch_context_options={"instruction_budget": 5})
    exe = device.create_executable("vmvx-bytecode-fb", _tensor_executable_blob(build_module))
    buffers = [device.allocator.allocate(0, 0, 16) for _ in range(3)]
    cb = device.create_command_buffer(0, CommandCategory.DISPATCH, -1, 0)
    cb.dispatch(exe, 0, (1, 1, 1), [], [BufferRef(b, 0, 0, 16) for b in buffers])
    cb.finalize()
    with pytest.raises(VMStatus):
        device.queue_execute(-1, None, None, cb)
    assert tiny * np.float32(1.0) == tiny
