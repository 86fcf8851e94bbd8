"""The recorder's opt-in buffer capture and buffer-view records (what HALView shows).

``Recorder(capture_buffers=True)`` copies every bound range before and after
each dispatch, within ``capture_limit`` bytes in all and ``capture_range_limit``
per range. Without it nothing changes: the same records, the same logical times.
"""

from __future__ import annotations

import numpy as np
import pytest

from iree_lab import vm
from iree_lab.hal import Device, Recorder, io
from iree_lab.hal.module import HALModule
from iree_lab.hal.types import format_element_type

A = np.arange(16, dtype=np.float32).reshape(4, 4) - 8
B = (np.arange(16, dtype=np.float32).reshape(4, 4) % 3) - 1


def _run(build_module, recorder, calls: int = 1):
    device = Device(recorder=recorder)
    ctx = vm.Context([HALModule([device]),
                      vm.BytecodeModule.load(build_module("hal_stateful"))])
    fn = ctx.lookup_function("three_dispatches")
    results = []
    for _ in range(calls):
        args = [io.buffer_view_from_numpy(A, device), io.buffer_view_from_numpy(B, device)]
        (result,) = ctx.call_function(fn, args)
        results.append(result.to_numpy())
    return results


def test_capture_is_opt_in_and_changes_no_record(build_module):
    plain, captured = Recorder(), Recorder(capture_buffers=True)
    assert _run(build_module, plain)[0].tolist() == _run(build_module, captured)[0].tolist()
    assert not plain.capture_buffers and plain.captured_bytes == 0
    assert all(d.snapshots == () for d in plain.dispatches)
    # The same calls, operations and dispatches at the same logical times.
    assert [(c.at, c.name) for c in plain.calls] == [(c.at, c.name) for c in captured.calls]
    assert [(o.submitted_at, o.started_at, o.completed_at) for o in plain.queue_operations] == \
        [(o.submitted_at, o.started_at, o.completed_at) for o in captured.queue_operations]
    assert [(d.started_at, d.completed_at) for d in plain.dispatches] == \
        [(d.started_at, d.completed_at) for d in captured.dispatches]


def test_snapshots_hold_each_binding_before_and_after(build_module):
    recorder = Recorder(capture_buffers=True)
    (result,) = _run(build_module, recorder)
    d0, d1, d2 = recorder.dispatches
    for d in (d0, d1, d2):
        assert [s.binding for s in d.snapshots] == list(range(len(d.bindings)))
        for snap, binding in zip(d.snapshots, d.bindings, strict=True):
            assert (snap.buffer, snap.offset, snap.length) == \
                (binding.buffer, binding.offset, binding.length)
            assert len(snap.before) == len(snap.after) == snap.length and not snap.truncated
    f32 = lambda data: np.frombuffer(data, "<f4")  # noqa: E731
    assert f32(d0.snapshots[0].before).tolist() == A.ravel().tolist()
    assert f32(d0.snapshots[1].after)[:16].tolist() == (A * A).ravel().tolist()
    # One dispatch's "after" is the next one's "before" on the serial queue.
    assert d0.snapshots[1].after == d1.snapshots[0].before
    assert f32(d1.snapshots[2].after)[16:].tolist() == ((A * A) @ B).ravel().tolist()
    assert f32(d2.snapshots[1].after).tolist() == result.tolist()
    total = sum(len(s.before) + len(s.after) for d in recorder.dispatches for s in d.snapshots)
    assert recorder.captured_bytes == total


def test_capture_limits(build_module):
    # 64 bytes per range: the 128-byte transient is cut, the 64-byte inputs are whole.
    recorder = Recorder(capture_buffers=True, capture_range_limit=64)
    _run(build_module, recorder)
    d0 = recorder.dispatches[0]
    assert [len(s.before) for s in d0.snapshots] == [64, 64]
    assert [s.truncated for s in d0.snapshots] == [False, True]
    # 400 bytes in all: the first dispatch (64 + 128 bytes, twice) fits, the next one's
    # first range in part (8 bytes), the rest gets nothing; the budget is never exceeded.
    recorder = Recorder(capture_buffers=True, capture_limit=400)
    _run(build_module, recorder, calls=2)
    assert recorder.captured_bytes <= 400
    sizes = [len(s.before) if s.before is not None else None
             for d in recorder.dispatches for s in d.snapshots]
    assert sizes[:3] == [64, 128, 8] and set(sizes[3:]) == {None}
    missing = next(s for d in recorder.dispatches for s in d.snapshots if s.before is None)
    assert missing.after is None and missing.truncated
    assert sum(2 * n for n in sizes if n) == recorder.captured_bytes


def test_buffer_views_are_recorded(build_module):
    recorder = Recorder()
    (result,) = _run(build_module, recorder)
    views = list(recorder.buffer_views.values())
    # Two inputs made by the host, the result made by the program (hal.buffer_view.create).
    assert [(v.shape, format_element_type(v.element_type), v.byte_length) for v in views] == \
        [((4, 4), "f32", 64), ((4, 4), "f32", 64), ((4,), "f32", 16)]
    assert views[2].allocated == recorder.dispatches[2].bindings[1].buffer
    create = recorder.calls_to("buffer_view.create")[-1]
    assert views[2].created_at == create.at  # stamped with the call, no tick of its own
    assert result.tolist() == np.max((A * A) @ B, axis=1).tolist()


def test_subspan_views_name_their_allocation():
    recorder = Recorder()
    device = Device(recorder=recorder)
    view = io.buffer_view_from_numpy(np.zeros(8, np.int32), device)
    from iree_lab.hal.buffer_view import BufferView
    from iree_lab.hal.types import ElementType

    sub = BufferView(view.buffer.subspan(8, 16), [4], ElementType.INT_32)
    record = recorder.buffer_views[sub.id]
    assert (record.allocated, record.byte_offset, record.byte_length, record.shape) == \
        (view.buffer.allocated_buffer.id, 8, 16, (4,))


@pytest.mark.parametrize("limit", [0, 1])
def test_tiny_budgets_capture_nothing(build_module, limit):
    recorder = Recorder(capture_buffers=True, capture_limit=limit)
    _run(build_module, recorder)
    assert recorder.captured_bytes == 0
    assert all(s.before is None and s.after is None
               for d in recorder.dispatches for s in d.snapshots)
