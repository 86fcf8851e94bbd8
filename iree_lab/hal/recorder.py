"""The submission recorder: every HAL call and queue operation as plain records.

Attach a :class:`Recorder` to a device (``Device(recorder=Recorder())`` or
``device.recorder = rec``) and it collects:

- ``calls``: every ``hal.*`` export the VM called (name, arguments summary);
- ``buffers``: allocations and subspans with their lifetimes;
- ``executables`` and ``command_buffers`` (with their recorded commands);
- ``queue_operations``: alloca/dealloca/execute/fill/copy/... with their wait and
  signal timepoints, logical and wall times and final status;
- ``dispatches``: every dispatch as it executed, with the bindings resolved
  through the binding table to buffer ids;
- ``semaphore_events`` and ``waits``;
- ``buffer_views``: every buffer view created on the device (host or program),
  which says what element type and shape a byte range holds.

Opt-in, ``Recorder(capture_buffers=True)`` also keeps a copy of every bound
byte range before and after each dispatch (``DispatchExecution.snapshots``),
bounded by ``capture_limit`` bytes in all and ``capture_range_limit`` per range.
``Recorder(keep_executable_data=True)`` keeps each executable's bytes as loaded
(``executable_data``), which a standalone dispatch repro needs.
:func:`binding_element_type` says how a dispatch binding's bytes are read
(HALView, ``iree-lab compare``).

Objects are named by small integer ids, unique per kind among the devices sharing
the recorder (devices are numbered in the order the recorder is attached to them).
Logical time (``at`` fields) is one counter shared by all events, so records
order totally; wall times are nanoseconds since the recorder was created.
Records are dataclasses so they convert to dicts/JSON with ``dataclasses.asdict``.
"""

from __future__ import annotations

import dataclasses
import re
import time
from typing import Any

import numpy as np

from iree_lab.hal.types import (
    element_bit_count,
    element_dtype,
    format_element_type,
    parse_element_type,
)
from iree_lab.vm.status import VMStatus

# IREE names dispatches ``<function>_dispatch_<n>_<op>_<shape>_<element type>``.
_EXPORT_TYPE = re.compile(r"_((?:i|si|ui|f|bf)\d+)$")


@dataclasses.dataclass(frozen=True)
class Timepoint:
    """A (semaphore id, value) pair of a fence or a wait/signal list."""

    semaphore: int
    value: int


@dataclasses.dataclass(frozen=True)
class BufferRef:
    """A buffer reference as recorded in a command: direct (``buffer``) or by ``slot``."""

    slot: int | None
    buffer: int | None
    offset: int
    length: int


@dataclasses.dataclass(frozen=True)
class BindingTableEntry:
    buffer: int | None
    offset: int
    length: int


@dataclasses.dataclass(frozen=True)
class ResolvedBinding:
    """A binding after binding-table resolution: ``buffer`` is the allocated buffer id
    and ``offset`` is absolute within that allocation."""

    buffer: int
    offset: int
    length: int


# -- Commands ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DispatchCommand:
    executable: int
    function: int
    export_name: str
    workgroup_count: tuple[int, int, int] | None
    workgroups_ref: BufferRef | None
    constants: tuple[int, ...]
    bindings: tuple[BufferRef, ...]
    flags: int
    kind: str = "dispatch"


@dataclasses.dataclass(frozen=True)
class FillCommand:
    target: BufferRef
    pattern: int
    pattern_length: int
    kind: str = "fill"


@dataclasses.dataclass(frozen=True)
class UpdateCommand:
    target: BufferRef
    data: bytes
    kind: str = "update"


@dataclasses.dataclass(frozen=True)
class CopyCommand:
    source: BufferRef
    target: BufferRef
    kind: str = "copy"


@dataclasses.dataclass(frozen=True)
class BarrierCommand:
    source_stage: int
    target_stage: int
    flags: int
    kind: str = "barrier"


@dataclasses.dataclass(frozen=True)
class DebugGroupCommand:
    label: str | None  # None ends the innermost group
    kind: str = "debug_group"


@dataclasses.dataclass(frozen=True)
class AdviseCommand:
    target: BufferRef
    flags: int
    arg0: int
    arg1: int
    kind: str = "advise"


# -- Objects -------------------------------------------------------------------------------


@dataclasses.dataclass
class BufferRecord:
    id: int
    device: int
    allocated: int
    byte_offset: int
    byte_length: int
    memory_type: int
    usage: int
    origin: str
    created_at: int
    queue_operation: int | None = None
    dealloca_at: int | None = None
    dealloca_operation: int | None = None

    @property
    def is_subspan(self) -> bool:
        return self.allocated != self.id


@dataclasses.dataclass
class ExecutableRecord:
    id: int
    device: int
    format: str
    exports: tuple[str, ...]
    constants: tuple[int, ...]
    data_size: int
    created_at: int


@dataclasses.dataclass
class CommandBufferRecord:
    id: int
    device: int
    mode: int
    categories: int
    queue_affinity: int
    binding_capacity: int
    created_at: int
    finalized_at: int | None = None
    commands: list = dataclasses.field(default_factory=list)

    @property
    def dispatches(self) -> list[DispatchCommand]:
        return [c for c in self.commands if c.kind == "dispatch"]


@dataclasses.dataclass(frozen=True)
class BufferSnapshot:
    """One binding's byte range copied before and after a dispatch ran.

    ``before``/``after`` hold the first ``len(before)`` bytes of the
    ``length``-byte range (less when over the per-range limit); both are None
    when the recorder's capture budget was already spent.
    """

    binding: int
    buffer: int
    offset: int
    length: int
    before: bytes | None
    after: bytes | None

    @property
    def truncated(self) -> bool:
        return self.before is None or len(self.before) < self.length


def changed_mask(before: bytes, after: bytes, size: int) -> np.ndarray:
    """Per element of ``size`` bytes (of the bytes both hold): whether a dispatch changed it."""
    n = min(len(before), len(after)) // size
    x = np.frombuffer(before[: n * size], np.uint8).reshape(n, size)
    y = np.frombuffer(after[: n * size], np.uint8).reshape(n, size)
    return (x != y).any(axis=1)


@dataclasses.dataclass
class DispatchExecution:
    """One dispatch as it ran (all workgroups)."""

    queue_operation: int | None
    command_buffer: int | None
    command_index: int
    executable: int
    function: int
    export_name: str
    workgroup_count: tuple[int, int, int]
    constants: tuple[int, ...]
    bindings: tuple[ResolvedBinding, ...]
    started_at: int
    completed_at: int | None = None
    start_wall_ns: int = 0
    end_wall_ns: int = 0
    status: str = "running"
    # One per binding when the recorder captures buffers (Recorder(capture_buffers=True)).
    snapshots: tuple[BufferSnapshot, ...] = ()


@dataclasses.dataclass
class QueueOperationRecord:
    id: int
    device: int
    kind: str
    queue_affinity: int
    wait: tuple[Timepoint, ...]
    signal: tuple[Timepoint, ...]
    submitted_at: int
    submit_wall_ns: int
    command_buffer: int | None = None
    binding_table: tuple[BindingTableEntry, ...] = ()
    buffer: int | None = None
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    started_at: int | None = None
    completed_at: int | None = None
    start_wall_ns: int | None = None
    end_wall_ns: int | None = None
    status: str = "pending"
    message: str = ""
    dispatches: list[DispatchExecution] = dataclasses.field(default_factory=list)

    @property
    def deferred(self) -> bool:
        """Whether it waited for a semaphore after submission (did not run at once)."""
        return self.started_at is not None and self.started_at > self.submitted_at + 1


@dataclasses.dataclass(frozen=True)
class BufferViewRecord:
    """A buffer view as created: the element type and shape of a byte range.

    ``buffer`` is the view's buffer (perhaps a subspan), ``allocated`` its
    allocation and ``byte_offset`` absolute within that allocation.
    """

    id: int
    device: int
    buffer: int
    allocated: int
    byte_offset: int
    byte_length: int
    element_type: int
    shape: tuple[int, ...]
    created_at: int


@dataclasses.dataclass(frozen=True)
class SemaphoreEvent:
    at: int
    wall_ns: int
    semaphore: int
    kind: str  # "create" | "signal" | "fail"
    value: int
    source: str
    status: str = "OK"


@dataclasses.dataclass(frozen=True)
class WaitRecord:
    at: int
    wall_ns: int
    timepoints: tuple[Timepoint, ...]
    timeout_ms: int | None
    result: str


@dataclasses.dataclass(frozen=True)
class HalCall:
    """One call of a ``hal`` module export (or a host HAL API call)."""

    at: int
    wall_ns: int
    name: str
    args: dict[str, Any]
    status: str = "OK"


class Recorder:
    """Collects HAL activity of the devices it is attached to."""

    def __init__(self, *, capture_buffers: bool = False, capture_limit: int = 8 << 20,
                 capture_range_limit: int = 256 << 10, keep_executable_data: bool = False):
        self.capture_buffers = capture_buffers
        self.keep_executable_data = keep_executable_data
        self.executable_data: dict[int, bytes] = {}
        self.capture_limit = capture_limit
        self.capture_range_limit = capture_range_limit
        self.captured_bytes = 0
        self._clock = 0
        self._start_ns = time.perf_counter_ns()
        self.calls: list[HalCall] = []
        self.buffers: dict[int, BufferRecord] = {}
        self.executables: dict[int, ExecutableRecord] = {}
        self.command_buffers: dict[int, CommandBufferRecord] = {}
        self.queue_operations: list[QueueOperationRecord] = []
        self.dispatches: list[DispatchExecution] = []
        self.semaphore_events: list[SemaphoreEvent] = []
        self.waits: list[WaitRecord] = []
        self.buffer_views: dict[int, BufferViewRecord] = {}
        self._ids: dict[str, int] = {}  # kind -> next object id (shared by the devices)

    # -- Clocks ---------------------------------------------------------------------------

    def tick(self) -> int:
        self._clock += 1
        return self._clock

    @property
    def now(self) -> int:
        return self._clock

    def wall_ns(self) -> int:
        return time.perf_counter_ns() - self._start_ns

    @property
    def origin_ns(self) -> int:
        """``time.perf_counter_ns()`` when the recorder was created (wall times count from it)."""
        return self._start_ns

    # -- Ids (drawn by the devices) -------------------------------------------------------

    def next_id(self, kind: str) -> int:
        n = self._ids.get(kind, 0)
        self._ids[kind] = n + 1
        return n

    def adopt_counters(self, counters: dict[str, int]) -> None:
        """Continues after the ids a device gave out before the recorder was attached."""
        for kind, n in counters.items():
            self._ids[kind] = max(self._ids.get(kind, 0), n)

    # -- Recording (called by the HAL) ----------------------------------------------------

    def record_call(self, name: str, args: dict[str, Any], status: str = "OK", *,
                    at: int | None = None, wall_ns: int | None = None) -> HalCall:
        """Appends a call; ``at``/``wall_ns`` default to now (pass the start of the call)."""
        call = HalCall(self.tick() if at is None else at,
                       self.wall_ns() if wall_ns is None else wall_ns, name, args, status)
        self.calls.append(call)
        return call

    def record_buffer(self, record: BufferRecord) -> None:
        self.buffers[record.id] = record

    def record_executable(self, record: ExecutableRecord, data=None) -> None:
        self.executables[record.id] = record
        if self.keep_executable_data and data is not None:
            self.executable_data[record.id] = bytes(memoryview(data).cast("B"))

    def record_command_buffer(self, record: CommandBufferRecord) -> None:
        self.command_buffers[record.id] = record

    def record_queue_operation(self, record: QueueOperationRecord) -> None:
        self.queue_operations.append(record)

    def record_dispatch(self, record: DispatchExecution) -> None:
        self.dispatches.append(record)

    def record_buffer_view(self, view) -> None:
        """Called by every new :class:`~iree_lab.hal.buffer_view.BufferView` on the device."""
        buffer = view.buffer
        self.buffer_views[view.id] = BufferViewRecord(
            view.id, getattr(buffer.device, "id", 0), buffer.id, buffer.allocated_buffer.id,
            buffer.byte_offset, buffer.byte_length, view.element_type, view.shape, self.now)

    def capture_before(self, views) -> list[bytes | None] | None:
        """Copies of a dispatch's bound ranges (uint8 arrays) before it runs; None when
        not capturing. Room for the copies after is reserved now, so pairs stay whole."""
        if not self.capture_buffers:
            return None
        copies = []
        for view in views:
            room = (self.capture_limit - self.captured_bytes) // 2
            n = min(len(view), self.capture_range_limit, max(room, 0))
            if n <= 0 and len(view):
                copies.append(None)
                continue
            self.captured_bytes += 2 * n
            copies.append(view[:n].tobytes())
        return copies

    def capture_after(self, record: DispatchExecution, before: list[bytes | None],
                      views) -> None:
        """Stores the snapshots of ``record`` (the dispatch ran, or failed part way)."""
        record.snapshots = tuple(
            BufferSnapshot(i, b.buffer, b.offset, b.length, data,
                           None if data is None else views[i][:len(data)].tobytes())
            for i, (b, data) in enumerate(zip(record.bindings, before, strict=True)))

    def record_semaphore_event(self, semaphore: int, kind: str, value: int, source: str,
                               status: str = "OK") -> None:
        self.semaphore_events.append(
            SemaphoreEvent(self.tick(), self.wall_ns(), semaphore, kind, value, source, status)
        )

    def record_wait(self, timepoints, timeout_ms, result: str) -> None:
        self.waits.append(
            WaitRecord(self.tick(), self.wall_ns(), tuple(timepoints), timeout_ms, result)
        )

    # -- Queries --------------------------------------------------------------------------

    def operations(self, kind: str | None = None) -> list[QueueOperationRecord]:
        """Queue operations in submission order, optionally of one ``kind``."""
        return [op for op in self.queue_operations if kind is None or op.kind == kind]

    def operation(self, op_id: int) -> QueueOperationRecord:
        for op in self.queue_operations:
            if op.id == op_id:
                return op
        raise KeyError(f"no queue operation #{op_id}")

    def dispatches_of(self, export_name: str | None = None,
                      executable: int | None = None) -> list[DispatchExecution]:
        return [
            d for d in self.dispatches
            if (export_name is None or d.export_name == export_name)
            and (executable is None or d.executable == executable)
        ]

    def calls_to(self, name: str) -> list[HalCall]:
        return [c for c in self.calls if c.name == name]

    def signaler_of(self, semaphore: int, value: int) -> QueueOperationRecord | None:
        """The queue operation that signals ``semaphore`` to at least ``value``."""
        for op in self.queue_operations:
            for tp in op.signal:
                if tp.semaphore == semaphore and tp.value >= value:
                    return op
        return None

    def waiters_on(self, semaphore: int, value: int | None = None) -> list[QueueOperationRecord]:
        return [
            op for op in self.queue_operations
            if any(tp.semaphore == semaphore and (value is None or tp.value <= value)
                   for tp in op.wait)
        ]

    def dependencies(self, op: QueueOperationRecord) -> list[QueueOperationRecord]:
        """Queue operations whose signals satisfy ``op``'s waits (its direct producers)."""
        found = []
        for tp in op.wait:
            producer = self.signaler_of(tp.semaphore, tp.value)
            if producer is not None and producer is not op and producer not in found:
                found.append(producer)
        return found

    def allocations(self) -> list[BufferRecord]:
        """Allocated buffers (not subspans) in creation order."""
        return sorted((b for b in self.buffers.values() if not b.is_subspan),
                      key=lambda b: b.created_at)

    def live_buffers(self, at: int) -> list[BufferRecord]:
        """Allocations created at or before logical time ``at`` and not yet deallocated."""
        return [
            b for b in self.allocations()
            if b.created_at <= at and (b.dealloca_at is None or b.dealloca_at > at)
        ]

    def buffers_used_by(self, dispatch: DispatchExecution) -> list[BufferRecord]:
        return [self.buffers[b.buffer] for b in dispatch.bindings if b.buffer in self.buffers]

    def wall_stamps(self, *, dispatches: bool = False) -> list[tuple[int, int]]:
        """(logical tick, wall ns) of each record stamped on both clocks, sorted: calls,
        semaphore events, waits and queue operations, with ``dispatches`` their starts
        and ends too. Views map ticks to wall time through them."""
        pairs = [(c.at, c.wall_ns) for c in self.calls]
        pairs += [(e.at, e.wall_ns) for e in self.semaphore_events]
        pairs += [(w.at, w.wall_ns) for w in self.waits]
        for op in self.queue_operations:
            pairs.append((op.submitted_at, op.submit_wall_ns))
            if op.started_at is not None and op.start_wall_ns is not None:
                pairs.append((op.started_at, op.start_wall_ns))
            if op.completed_at is not None and op.end_wall_ns is not None:
                pairs.append((op.completed_at, op.end_wall_ns))
        if dispatches:
            for d in self.dispatches:
                if d.start_wall_ns:
                    pairs.append((d.started_at, d.start_wall_ns))
                if d.completed_at is not None and d.end_wall_ns:
                    pairs.append((d.completed_at, d.end_wall_ns))
        pairs.sort()
        return pairs

    def summary(self) -> str:
        """A short text overview (one line per queue operation and dispatch)."""
        lines = []
        for op in self.queue_operations:
            waits = " ".join(f"s{t.semaphore}>={t.value}" for t in op.wait) or "-"
            signals = " ".join(f"s{t.semaphore}={t.value}" for t in op.signal) or "-"
            extra = ""
            if op.command_buffer is not None:
                extra = f" cb#{op.command_buffer}"
            if op.buffer is not None:
                extra += f" buffer#{op.buffer}"
            lines.append(f"q{op.id} {op.kind}{extra} wait[{waits}] signal[{signals}] {op.status}")
            for d in op.dispatches:
                wg = "x".join(str(v) for v in d.workgroup_count)
                binds = ", ".join(f"#{b.buffer}[{b.offset}:+{b.length}]" for b in d.bindings)
                lines.append(f"  dispatch {d.export_name} {wg} ({binds}) {d.status}")
        return "\n".join(lines)


def binding_element_type(recorder: Recorder, d: DispatchExecution,
                         binding: int) -> tuple[str, str, tuple[int, ...] | None]:
    """(element type name or ``hex``, where it comes from, shape or None) for a binding.

    A buffer view over the same allocation wins: the one whose byte range
    equals the binding's, else the one overlapping it most. Otherwise the
    element type the export's name ends with, when the range holds whole
    elements of it; otherwise hex.
    """
    b = d.bindings[binding]
    best, best_overlap = None, 0
    for view in recorder.buffer_views.values():
        if view.allocated != b.buffer:
            continue
        overlap = min(view.byte_offset + view.byte_length, b.offset + b.length) - \
            max(view.byte_offset, b.offset)
        if view.byte_offset == b.offset and view.byte_length == b.length:
            best, best_overlap = view, b.length + 1  # exact beats any overlap
            break
        if overlap > best_overlap:
            best, best_overlap = view, overlap
    if best is not None and _readable(best.element_type, b.length):
        name = format_element_type(best.element_type)
        shape = best.shape if best_overlap > b.length else None
        dims = "x".join(str(s) for s in best.shape)
        return name, f"buffer view #{best.id} ({dims + 'x' if dims else ''}{name})", shape
    match = _EXPORT_TYPE.search(d.export_name)
    if match is not None:
        try:
            element_type = parse_element_type(match.group(1))
        except VMStatus:
            element_type = None
        if element_type is not None and _readable(element_type, b.length):
            return format_element_type(element_type), "guessed from the export name", None
    return "hex", "no buffer view over this range", None


def binding_dtype(element: str) -> np.dtype | None:
    """The numpy dtype of an element type name of :func:`binding_element_type` (None for
    ``hex`` and names without one)."""
    if element == "hex":
        return None
    try:
        return element_dtype(parse_element_type(element))
    except VMStatus:
        return None


def _readable(element_type: int, length: int) -> bool:
    dtype = element_dtype(element_type)
    return (dtype is not None and element_bit_count(element_type) >= 8
            and length % dtype.itemsize == 0)
