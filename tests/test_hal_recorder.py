"""The submission recorder, asserted in detail on a 3-dispatch program.

``stateful.three_dispatches`` multiplies, matmuls and reduces: the compiler
records one command buffer in ``__init`` with three dispatches separated by
barriers, and every call allocates a result and a transient buffer, executes
the command buffer through a binding table, deallocates the transient and
waits on a fence.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from iree_lab import vm
from iree_lab.hal import Device, Recorder, io
from iree_lab.hal.module import HALModule


@pytest.fixture(scope="module")
def recorded(build_module):
    recorder = Recorder()
    device = Device(recorder=recorder)
    ctx = vm.Context([HALModule([device]),
                      vm.BytecodeModule.load(build_module("hal_stateful"))])
    init_calls = len(recorder.calls)
    init_ops = len(recorder.queue_operations)
    fn = ctx.lookup_function("three_dispatches")
    a = np.arange(16, dtype=np.float32).reshape(4, 4) - 8
    b = (np.arange(16, dtype=np.float32).reshape(4, 4) % 3) - 1
    args = [io.buffer_view_from_numpy(a, device), io.buffer_view_from_numpy(b, device)]
    (result,) = ctx.call_function(fn, args)
    return recorder, init_calls, init_ops, args, result, (a, b)


def test_result_is_correct(recorded):
    *_, result, (a, b) = recorded
    expected = np.max((a * a) @ b, axis=1)
    assert result.to_numpy().tolist() == expected.tolist()


def test_command_buffer_recorded_once_in_init(recorded):
    recorder, *_ = recorded
    cbs = [cb for cb in recorder.command_buffers.values() if any(
        c.kind == "dispatch" and c.export_name.startswith("three_dispatches")
        for c in cb.commands)]
    assert len(cbs) == 1
    cb = cbs[0]
    assert cb.finalized_at is not None and cb.binding_capacity == 4
    assert [c.kind for c in cb.commands] == ["dispatch", "barrier"] * 3
    dispatches = cb.dispatches
    assert [d.export_name for d in dispatches] == [
        "three_dispatches_dispatch_0_elementwise_16_f32",
        "three_dispatches_dispatch_1_matmul_4x4x4_f32",
        "three_dispatches_dispatch_2_reduction_4x4_f32",
    ]
    for d in dispatches:
        assert d.workgroup_count == (1, 1, 1) and d.constants == () and d.flags == 0
        assert d.executable == 0
        # All bindings are indirect (slots of the binding table), never direct buffers.
        assert all(b.buffer is None and b.slot is not None for b in d.bindings)
    assert [d.function for d in dispatches] == [1, 2, 3]  # ordinal 0 is accumulate's
    assert [[b.slot for b in d.bindings] for d in dispatches] == [[0, 3], [3, 1, 3], [3, 2]]
    # The transient (slot 3) is bound whole; the dispatches address its two halves
    # with offsets compiled into their code.
    assert [[(b.offset, b.length) for b in d.bindings] for d in dispatches] == [
        [(0, 64), (0, 128)], [(0, 128), (0, 64), (0, 128)], [(0, 128), (0, 16)]]
    barrier = cb.commands[1]
    assert (barrier.source_stage, barrier.target_stage) == (28, 13)


def test_queue_operations_and_timeline(recorded):
    recorder, _, init_ops, args, result, _ = recorded
    ops = recorder.queue_operations[init_ops:]
    assert [op.kind for op in ops] == ["alloca", "alloca", "execute", "dealloca"]
    result_alloca, transient_alloca, execute, dealloca = ops
    assert all(op.status == "OK" and not op.deferred for op in ops)
    assert result_alloca.wait == () and transient_alloca.wait == ()
    assert result_alloca.details["size"] == 16 and transient_alloca.details["size"] == 128
    # execute waits for both allocations (a joined fence) and dealloca waits for execute.
    assert {tp.semaphore for tp in execute.wait} == {
        result_alloca.signal[0].semaphore, transient_alloca.signal[0].semaphore}
    assert recorder.dependencies(execute) == [result_alloca, transient_alloca]
    assert recorder.dependencies(dealloca) == [execute]
    assert dealloca.buffer == transient_alloca.buffer
    # The binding table: input a, input b, the result, the transient.
    table = [(e.buffer, e.offset, e.length) for e in execute.binding_table]
    assert table == [(args[0].buffer.id, 0, 64), (args[1].buffer.id, 0, 64),
                     (result.buffer.id, 0, 16), (transient_alloca.buffer, 0, 128)]
    assert result_alloca.buffer == result.buffer.id
    # Logical time orders submission, start and completion.
    for op in ops:
        assert op.submitted_at < op.started_at < op.completed_at
        assert 0 <= op.start_wall_ns <= op.end_wall_ns
    assert execute.started_at > transient_alloca.completed_at


def test_dispatch_executions_resolve_bindings(recorded):
    recorder, _, init_ops, args, result, _ = recorded
    execute = recorder.queue_operations[init_ops + 2]
    runs = execute.dispatches
    assert [d.command_index for d in runs] == [0, 2, 4]
    assert all(d.queue_operation == execute.id and d.status == "OK" for d in runs)
    transient = execute.binding_table[3].buffer
    resolved = [[(b.buffer, b.offset, b.length) for b in d.bindings] for d in runs]
    assert resolved == [
        [(args[0].buffer.id, 0, 64), (transient, 0, 128)],
        [(transient, 0, 128), (args[1].buffer.id, 0, 64), (transient, 0, 128)],
        [(transient, 0, 128), (result.buffer.id, 0, 16)],
    ]
    assert runs[0].completed_at < runs[1].started_at < runs[1].completed_at < runs[2].started_at
    assert recorder.dispatches_of("three_dispatches_dispatch_1_matmul_4x4x4_f32") == [runs[1]]
    assert [b.id for b in recorder.buffers_used_by(runs[2])] == [transient, result.buffer.id]


def test_buffer_lifetimes(recorded):
    recorder, _, init_ops, _, result, _ = recorded
    ops = recorder.queue_operations[init_ops:]
    transient = recorder.buffers[ops[1].buffer]
    assert transient.origin == "alloca" and transient.byte_length == 128
    assert transient.queue_operation == ops[1].id
    assert transient.dealloca_operation == ops[3].id
    assert transient.created_at < ops[2].started_at < transient.dealloca_at
    assert transient not in recorder.live_buffers(recorder.now)
    assert recorder.buffers[result.buffer.id] in recorder.live_buffers(recorder.now)
    assert transient in recorder.live_buffers(ops[2].started_at)


def test_hal_calls_recorded_in_order(recorded):
    recorder, init_calls, init_ops, *_ = recorded
    names = [c.name for c in recorder.calls[init_calls:]]
    assert names == [
        "buffer_view.assert", "buffer_view.buffer", "device.allocator", "buffer.assert",
        "buffer_view.assert", "buffer_view.buffer", "buffer.assert",
        "fence.create", "device.queue.alloca", "fence.create", "device.queue.alloca",
        "fence.join", "fence.create", "device.queue.execute.indirect",
        "fence.create", "device.queue.dealloca", "fence.await", "buffer_view.create",
    ]
    calls = recorder.calls[init_calls:]
    assert [c.at for c in calls] == sorted(c.at for c in calls)
    execute_call = calls[13]
    execute_op = recorder.queue_operations[init_ops + 2]
    assert execute_call.at < execute_op.submitted_at
    transient = execute_op.binding_table[3].buffer
    assert execute_call.args["binding_table"][3] == [f"hal.buffer#{transient}", 0, 128]
    assert calls[0].args["message"] == "input0" and calls[0].args["shape"] == [4, 4]
    dealloca_signal = calls[15].args["signal_fence"]
    assert calls[16].args == {"timeout_millis": 0xFFFFFFFF, "fences": [dealloca_signal]}


def test_records_are_plain_data(recorded):
    recorder, *_ = recorded
    payload = {
        "operations": [dataclasses.asdict(op) for op in recorder.queue_operations],
        "command_buffers": [dataclasses.asdict(cb) for cb in recorder.command_buffers.values()],
        "calls": [dataclasses.asdict(c) for c in recorder.calls],
    }
    text = json.dumps(payload, default=lambda o: o.hex() if isinstance(o, bytes) else str(o))
    assert "three_dispatches_dispatch_1_matmul_4x4x4_f32" in text
    summary = recorder.summary()
    assert "execute cb#" in summary and "dispatch three_dispatches_dispatch_2" in summary


def test_two_devices_sharing_a_recorder_have_distinct_ids(build_module, iree_tool):
    """A module compiled for two devices runs as with ``iree-run-module --device=local-sync
    --device=local-sync``; each device has its own id and every object id is unique among
    the recorder's devices, so the records say which device did what."""
    path = build_module("two_devices")
    inputs = ["4xf32=1 2 3 4"]
    expected = iree_tool("iree-run-module", "--device=local-sync", "--device=local-sync",
                         f"--module={path}", "--function=two_devices",
                         *[f"--input={i}" for i in inputs]).stdout.decode()
    recorder = Recorder()
    devices = [Device(), Device()]
    ctx = vm.Context([HALModule(devices, recorder=recorder), vm.BytecodeModule.load(path)])
    fn = ctx.lookup_function("two_devices")
    results = ctx.call_function(fn, io.parse_inputs(devices[0], fn.cconv.arguments, inputs))
    assert f"EXEC @two_devices\n{io.format_results(results, fn.cconv.results)}" == expected
    assert [d.id for d in devices] == [0, 1]
    # A dispatch on each device, each of its own executable.
    by_device = {}
    for d in recorder.dispatches:
        by_device.setdefault(recorder.executables[d.executable].device, []).append(d)
    assert sorted(by_device) == [0, 1]
    assert len(recorder.executables) == 2
    assert {e.device for e in recorder.executables.values()} == {0, 1}
    # Ids of every kind are unique across the two devices (dict keys would collide).
    buffers = [b for b in recorder.buffers.values()]
    assert {b.device for b in buffers} == {0, 1}
    assert len({op.id for op in recorder.queue_operations}) == len(recorder.queue_operations)
    assert {op.device for op in recorder.queue_operations} == {0, 1}
    # Bindings name recorded buffers (local devices share host memory, so a
    # dispatch on one device may bind a buffer allocated on the other).
    assert all(b.buffer in recorder.buffers for d in recorder.dispatches for b in d.bindings)


def test_device_attached_late_keeps_its_ids_unique():
    recorder = Recorder()
    first = Device(recorder=recorder)
    late = Device()
    before = late.allocator.allocate(0, 0, 4)  # id 0 on its own counters
    late.recorder = recorder
    after = late.allocator.allocate(0, 0, 4)
    on_first = first.allocator.allocate(0, 0, 4)
    assert (first.id, late.id) == (0, 1)
    assert len({before.id, after.id, on_first.id}) == 3
    assert recorder.buffers[after.id].device == 1 and recorder.buffers[on_first.id].device == 0
