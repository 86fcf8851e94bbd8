"""The local device: allocator, executable loaders and a timeline-ordered queue.

:class:`Device` answers ``hal.device.query.i64`` like IREE's ``local-sync``
device (``hal/drivers/local_sync/sync_device.c``) and runs queue operations
in the same order IREE would: an operation whose wait timepoints are all
reached runs at once, inside the submitting call, and a failure is returned to
the caller and fails the operation's signal semaphores.

Where local-sync would block the thread forever (a wait on a timepoint that
nothing has signaled yet) this device instead parks the operation and runs it
as soon as its waits are reached, the way an asynchronous device orders work
by semaphores. A parked operation that fails fails its signal semaphores
(there is no caller left to return the failure to).
"""

from __future__ import annotations

import fnmatch

from iree_lab.hal import recorder as rec
from iree_lab.hal.buffer import PLACEMENT_FLAG_ASYNCHRONOUS, Allocator, Buffer
from iree_lab.hal.command_buffer import BufferBinding, CommandBuffer
from iree_lab.hal.cpu import task_worker_count
from iree_lab.hal.executable import Executable, ExecutableLoader
from iree_lab.hal.progress import DispatchProgress
from iree_lab.hal.semaphore import Fence, Semaphore
from iree_lab.hal.types import (
    QUEUE_AFFINITY_ANY,
    WHOLE_BUFFER,
    MappingMode,
    MemoryAccess,
    status,
)
from iree_lab.vm.ref import RefObject, RefType
from iree_lab.vm.status import StatusCode, VMStatus


def semaphore_list(fence: Fence | None) -> tuple[tuple[Semaphore, int], ...]:
    """``iree_hal_fence_semaphore_list``: a null fence is an empty list."""
    return tuple(fence.timepoints) if fence is not None else ()


class QueueOperation:
    """A queue operation waiting for its timepoints or running."""

    __slots__ = ("id", "kind", "wait", "signal", "body", "record")

    def __init__(self, op_id, kind, wait, signal, body, record):
        self.id = op_id
        self.kind = kind
        self.wait = wait
        self.signal = signal
        self.body = body
        self.record = record

    def wait_state(self) -> VMStatus | bool:
        """True when all waits are reached, False when some are pending, or the failure."""
        try:
            for semaphore, value in self.wait:
                if not semaphore.is_reached(value):
                    return False
        except VMStatus as failure:
            return failure
        return True


class File(RefObject):
    """``iree_hal_file_t`` over host memory (``hal.ex.file.from_memory``)."""

    __slots__ = ("id", "data", "access", "host_source")
    ref_type = RefType.get("hal.file")

    def __init__(self, data, access: int, host_source=None, file_id: int = -1):
        self.id = file_id
        self.data = memoryview(data).cast("B")
        self.access = access
        self.host_source = host_source

    def __repr__(self) -> str:
        return f"<hal.file #{self.id} {self.data.nbytes} bytes>"


class Device(RefObject):
    """``iree_hal_device_t``: a local device that runs VMVX executables.

    ``identifier`` is what ``hal.device.id`` queries match against
    (``local-sync`` like ``iree-run-module --device=local-sync``).
    """

    ref_type = RefType.get("hal.device")

    def __init__(self, identifier: str = "local-sync", *, loaders=None, recorder=None,
                 dispatch_context_options: dict | None = None, native: bool = True):
        self.identifier = identifier
        # Whether native CPU executables may load (iree-lab run --no_native refuses them).
        self.native = native
        # Workers that run a dispatch's workgroups: local-task's pool, else 1.
        self.worker_count = task_worker_count() if identifier.startswith("local-task") else 1
        self._counters: dict[str, int] = {}
        self._recorder: rec.Recorder | None = None
        # Keyword arguments for the VM contexts that run dispatch functions
        # (``hook=``, ``instruction_budget=``, ``fast=``): how a debugger or a
        # cautious caller reaches into executables.
        self.dispatch_context_options: dict = dict(dispatch_context_options or {})
        # Dispatches submitted / done, for progress displays (iree_lab.hal.progress).
        self.progress = DispatchProgress()
        # With a dispatch hook: who may let a dispatch run lifted (hal/vmvx_module.py).
        self.dispatch_gate = None
        # Called as observer(phase, executable, function, state) around every dispatch
        # ("before" / "after"): how a debugger stops at dispatches that run native code.
        self.dispatch_observers: list = []
        self.allocator = Allocator(self)
        self.loaders: list[ExecutableLoader] = list(loaders) if loaders is not None else []
        if loaders is None:
            from iree_lab.hal.native import native_loaders
            from iree_lab.hal.vmvx import VMVXLoader

            self.loaders.append(VMVXLoader())
            self.loaders += native_loaders(native=native)
        self._clock = 0
        self._pending: list[QueueOperation] = []
        self._draining = False
        self._redrain = False
        self.id = 0
        self.recorder = recorder
        # Bumped on every semaphore signal/failure: waiters use it to tell whether
        # anything happened since they last looked.
        self.progress_count = 0

    def __repr__(self) -> str:
        return f"<hal.device {self.identifier!r}>"


    # -- Ids and clocks -------------------------------------------------------------------

    @property
    def recorder(self) -> rec.Recorder | None:
        """The attached Recorder. Attaching one gives the device its id among the
        recorder's devices; from then on its objects draw ids from the recorder's
        counters, so records of devices sharing a recorder never collide."""
        return self._recorder

    @recorder.setter
    def recorder(self, recorder: rec.Recorder | None) -> None:
        if recorder is self._recorder:
            return
        self._recorder = recorder
        if recorder is not None:
            self.id = recorder.next_id("device")
            recorder.adopt_counters(self._counters)

    def next_id(self, kind: str) -> int:
        """A new id for an object of ``kind`` (``buffer``, ``fence``, ...) of this device."""
        if self._recorder is not None:
            return self._recorder.next_id(kind)
        n = self._counters.get(kind, 0)
        self._counters[kind] = n + 1
        return n

    def _tick(self) -> int:
        if self.recorder is not None:
            return self.recorder.tick()
        self._clock += 1
        return self._clock

    def _register_buffer(self, buffer: Buffer, parent: Buffer | None = None,
                         queue_operation: int | None = None) -> None:
        buffer.id = self.next_id("buffer")
        if self.recorder is not None:
            allocated = buffer.allocated_buffer
            self.recorder.record_buffer(rec.BufferRecord(
                id=buffer.id,
                device=self.id,
                allocated=allocated.id,
                byte_offset=buffer.byte_offset,
                byte_length=buffer.byte_length,
                memory_type=int(buffer.memory_type),
                usage=int(buffer.allowed_usage),
                origin="subspan" if parent is not None else buffer.origin,
                created_at=self.recorder.tick(),
                queue_operation=queue_operation,
            ))

    # -- Queries --------------------------------------------------------------------------

    def query_i64(self, category: str, key: str) -> int:
        """``iree_hal_device_query_i64``; raises NOT_FOUND for unknown keys."""
        if category == "hal.device.id":
            return 1 if fnmatch.fnmatchcase(self.identifier, key) else 0
        if category == "hal.executable.format":
            return 1 if any(loader.query_support(key) for loader in self.loaders) else 0
        if category in ("hal.device", "hal.dispatch") and key == "concurrency":
            return 1
        raise status(
            StatusCode.NOT_FOUND,
            f"unknown device configuration key value '{category} :: {key}'",
        )

    # -- Object creation ------------------------------------------------------------------

    def create_semaphore(self, initial_value: int = 0) -> Semaphore:
        semaphore = Semaphore(self, initial_value, self.next_id("semaphore"))
        if self.recorder is not None:
            self.recorder.record_semaphore_event(semaphore.id, "create", initial_value, "host")
        return semaphore

    def create_fence(self, timepoints=()) -> Fence:
        return Fence(self, timepoints, fence_id=self.next_id("fence"))

    def create_command_buffer(self, mode: int, categories: int,
                              queue_affinity: int = QUEUE_AFFINITY_ANY,
                              binding_capacity: int = 0) -> CommandBuffer:
        cb_id = self.next_id("command_buffer")
        record = None
        if self.recorder is not None:
            record = rec.CommandBufferRecord(
                id=cb_id, device=self.id, mode=int(mode), categories=int(categories),
                queue_affinity=queue_affinity, binding_capacity=binding_capacity,
                created_at=self.recorder.tick(),
            )
            self.recorder.record_command_buffer(record)
        command_buffer = CommandBuffer(self, mode, categories, queue_affinity, binding_capacity,
                                       cb_id, record)
        command_buffer.begin()
        return command_buffer

    def create_executable(self, executable_format: str, data, constants=(),
                          queue_affinity: int = QUEUE_AFFINITY_ANY) -> Executable:
        """``iree_hal_executable_cache_prepare_executable``."""
        for loader in self.loaders:
            if loader.query_support(executable_format):
                executable = loader.try_load(self, executable_format, data, constants)
                executable.id = self.next_id("executable")
                executable.device = self
                if self.recorder is not None:
                    self.recorder.record_executable(rec.ExecutableRecord(
                        id=executable.id, device=self.id, format=executable_format,
                        exports=tuple(e.name for e in executable.exports),
                        constants=tuple(executable.constants),
                        data_size=len(memoryview(data).cast("B")),
                        created_at=self.recorder.tick(),
                    ), data)
                return executable
        raise status(
            StatusCode.NOT_FOUND,
            "no executable loader registered for the given executable format "
            f"'{executable_format}'",
        )

    def create_file_from_memory(self, data, access: int, host_source=None) -> File:
        if access & ~int(MemoryAccess.READ):
            raise status(
                StatusCode.PERMISSION_DENIED,
                "only read-only memory can be accessed via a file handle (today)",
            )
        return File(data, access, host_source, self.next_id("file"))

    # -- Queue ----------------------------------------------------------------------------

    def _submit(self, kind: str, queue_affinity: int, wait_fence, signal_fence, body,
                **record_fields) -> QueueOperation:
        wait = semaphore_list(wait_fence)
        signal = semaphore_list(signal_fence)
        op_id = self.next_id("queue_operation")
        record = None
        if self.recorder is not None:
            record = rec.QueueOperationRecord(
                id=op_id, device=self.id, kind=kind, queue_affinity=queue_affinity,
                wait=tuple(rec.Timepoint(s.id, v) for s, v in wait),
                signal=tuple(rec.Timepoint(s.id, v) for s, v in signal),
                submitted_at=self.recorder.tick(), submit_wall_ns=self.recorder.wall_ns(),
                **record_fields,
            )
            self.recorder.record_queue_operation(record)
        op = QueueOperation(op_id, kind, wait, signal, body, record)
        state = op.wait_state()
        if state is True:
            failure = self._run(op)
            if failure is not None:
                raise failure
        elif state is False:
            self._pending.append(op)
        else:
            # A failed wait: local-sync's semaphore wait returns the failure to the
            # caller; the operation never runs and its signals inherit the failure.
            self._finish(op, state, started=False)
            raise VMStatus.clone(state)
        return op

    def _run(self, op: QueueOperation) -> VMStatus | None:
        record = op.record
        if record is not None:
            record.started_at = self.recorder.tick()
            record.start_wall_ns = self.recorder.wall_ns()
        try:
            op.body(op)
        except VMStatus as failure:
            self._finish(op, failure, started=True)
            return failure
        self._finish(op, None, started=True)
        return None

    def _finish(self, op: QueueOperation, failure: VMStatus | None, *, started: bool) -> None:
        record = op.record
        if record is not None:
            record.completed_at = self.recorder.tick()
            record.end_wall_ns = self.recorder.wall_ns()
            record.status = "OK" if failure is None else failure.code.name
            if failure is not None:
                record.message = failure.status_text()
        source = f"queue:{op.id}"
        if failure is None:
            for semaphore, value in op.signal:
                semaphore.signal(value, source=source)
        else:
            for semaphore, _ in op.signal:
                semaphore.fail(failure, source=source)

    def _semaphore_changed(self, semaphore: Semaphore, *, source: str) -> None:
        self.progress_count += 1
        if self.recorder is not None:
            if semaphore.failure is not None:
                self.recorder.record_semaphore_event(
                    semaphore.id, "fail", semaphore.value, source, semaphore.failure.code.name
                )
            else:
                self.recorder.record_semaphore_event(semaphore.id, "signal", semaphore.value,
                                                     source)
        if not self._pending:
            return
        if self._draining:
            self._redrain = True
            return
        self._draining = True
        try:
            progress = True
            while progress:
                progress = False
                self._redrain = False
                for op in list(self._pending):
                    state = op.wait_state()
                    if state is False:
                        continue
                    self._pending.remove(op)
                    progress = True
                    if state is True:
                        self._run(op)
                    else:
                        self._finish(op, state, started=False)
                progress = progress or self._redrain
        finally:
            self._draining = False

    @property
    def pending_operations(self) -> list[QueueOperation]:
        """Operations parked on timepoints nothing has signaled yet."""
        return list(self._pending)

    def queue_alloca(self, queue_affinity: int, wait_fence, signal_fence, memory_type: int,
                     usage: int, allocation_size: int, flags: int = 0,
                     pool: int = 0, *, note: dict | None = None) -> Buffer:
        """``iree_hal_device_queue_alloca`` (no pools: a direct heap allocation).

        ``note`` (here and on the other queue methods) adds facts to the recorded
        operation's details, e.g. which parameter an io_parameters load is for."""
        if pool:
            raise status(StatusCode.UNIMPLEMENTED,
                         "VM queue allocation pools are not supported")
        buffer = self.allocator.allocate(
            memory_type, usage, allocation_size, queue_affinity=queue_affinity,
            origin="alloca", placement_flags=PLACEMENT_FLAG_ASYNCHRONOUS,
        )

        def body(op):
            if self.recorder is not None:
                self.recorder.buffers[buffer.id].queue_operation = op.id

        self._submit("alloca", queue_affinity, wait_fence, signal_fence, body,
                     buffer=buffer.id, details={"size": allocation_size,
                                                "memory_type": int(memory_type),
                                                "usage": int(usage), "flags": int(flags),
                                                **(note or {})})
        return buffer

    def queue_dealloca(self, queue_affinity: int, wait_fence, signal_fence, buffer: Buffer,
                       flags: int = 0) -> None:
        def body(op):
            allocated = buffer.allocated_buffer
            allocated.deallocated = True
            if self.recorder is not None and allocated.id in self.recorder.buffers:
                r = self.recorder.buffers[allocated.id]
                r.dealloca_at = self.recorder.now
                r.dealloca_operation = op.id

        self._submit("dealloca", queue_affinity, wait_fence, signal_fence, body,
                     buffer=buffer.allocated_buffer.id, details={"flags": int(flags)})

    def queue_fill(self, queue_affinity: int, wait_fence, signal_fence, target: Buffer,
                   target_offset: int, length: int, pattern: int, pattern_length: int,
                   flags: int = 0) -> None:
        pattern_bytes = (int(pattern) & ((1 << 64) - 1)).to_bytes(8, "little")
        if pattern_length not in (1, 2, 4):
            raise status(
                StatusCode.INVALID_ARGUMENT,
                f"fill patterns must be 1, 2, or 4 bytes (got {pattern_length})",
            )

        def body(op):
            target.map_fill(target_offset, length, pattern_bytes[:pattern_length])

        self._submit("fill", queue_affinity, wait_fence, signal_fence, body,
                     buffer=target.id, details={"offset": target_offset, "length": length,
                                                "pattern": int(pattern),
                                                "pattern_length": pattern_length})

    def queue_update(self, queue_affinity: int, wait_fence, signal_fence, source: bytes,
                     target: Buffer, target_offset: int, length: int, flags: int = 0) -> None:
        data = bytes(source)  # captured at submission, as IREE copies the host data

        def body(op):
            target.map_write(target_offset, data[:length])

        self._submit("update", queue_affinity, wait_fence, signal_fence, body,
                     buffer=target.id, details={"offset": target_offset, "length": length})

    def queue_copy(self, queue_affinity: int, wait_fence, signal_fence, source: Buffer,
                   source_offset: int, target: Buffer, target_offset: int, length: int,
                   flags: int = 0) -> None:
        def body(op):
            source.map_copy(source_offset, target, target_offset, length)

        self._submit("copy", queue_affinity, wait_fence, signal_fence, body,
                     buffer=target.id, details={"source": source.id,
                                                "source_offset": source_offset,
                                                "target_offset": target_offset,
                                                "length": length})

    def queue_read(self, queue_affinity: int, wait_fence, signal_fence, source: File,
                   source_offset: int, target: Buffer, target_offset: int, length: int,
                   flags: int = 0, *, note: dict | None = None) -> None:
        def body(op):
            end = source_offset + length
            if source_offset < 0 or end > source.data.nbytes:
                raise status(
                    StatusCode.OUT_OF_RANGE,
                    f"file read out of range (offset={source_offset}, length={length}, "
                    f"file size={source.data.nbytes})",
                )
            target.map_write(target_offset, source.data[source_offset:end])

        self._submit("read", queue_affinity, wait_fence, signal_fence, body,
                     buffer=target.id, details={"file": source.id,
                                                "source_offset": source_offset,
                                                "target_offset": target_offset,
                                                "length": length, **(note or {})})

    def queue_write(self, queue_affinity: int, wait_fence, signal_fence, source: Buffer,
                    source_offset: int, target: File, target_offset: int, length: int,
                    flags: int = 0) -> None:
        raise status(
            StatusCode.PERMISSION_DENIED,
            "file is read-only; only memory files from hal.ex.file.from_memory exist here",
        )

    def queue_barrier(self, queue_affinity: int, wait_fence, signal_fence,
                      flags: int = 0, *, note: dict | None = None) -> None:
        self._submit("barrier", queue_affinity, wait_fence, signal_fence, lambda op: None,
                     details={"flags": int(flags), **(note or {})})

    def queue_execute(self, queue_affinity: int, wait_fence, signal_fence,
                      command_buffer: CommandBuffer | None, binding_table=(),
                      flags: int = 0, *, note: dict | None = None) -> None:
        """``iree_hal_device_queue_execute`` with an optional binding table."""
        table = tuple(
            b if isinstance(b, BufferBinding) else BufferBinding(*b) for b in binding_table
        )
        if command_buffer is not None:
            command_buffer.validate_submission(table)

        def body(op):
            if command_buffer is not None:
                command_buffer.execute(table, op.record)

        self._submit(
            "execute", queue_affinity, wait_fence, signal_fence, body,
            command_buffer=command_buffer.id if command_buffer is not None else None,
            binding_table=tuple(
                rec.BindingTableEntry(b.buffer.id if b.buffer is not None else None, b.offset,
                                      b.length)
                for b in table
            ),
            details={"flags": int(flags), **(note or {})},
        )

    def queue_flush(self, queue_affinity: int) -> None:
        """Work is never batched here, so there is nothing to flush."""

    # -- Host waits -----------------------------------------------------------------------

    def wait(self, fences, timeout_ms: int | None = None) -> StatusCode:
        """Waits for all ``fences`` (None entries are immediate).

        Returns OK, or DEADLINE_EXCEEDED when a timepoint is not reached: work is
        only ever parked on semaphores, so waiting longer cannot help unless the
        host signals them. A failed fence raises its failure.
        """
        timepoints = [tp for f in fences if f is not None for tp in f.timepoints]
        result = StatusCode.OK
        failure = None
        try:
            for semaphore, value in timepoints:
                if not semaphore.is_reached(value):
                    result = StatusCode.DEADLINE_EXCEEDED
        except VMStatus as e:
            failure = e
        if self.recorder is not None:
            self.recorder.record_wait(
                [rec.Timepoint(s.id, v) for s, v in timepoints], timeout_ms,
                failure.code.name if failure is not None else result.name,
            )
        if failure is not None:
            raise failure
        return result


def map_whole(buffer: Buffer, access: int = MemoryAccess.READ):
    """A uint8 view of a whole buffer (host tools: printing, numpy conversion)."""
    return buffer.map_range(MappingMode.SCOPED, access, 0, WHOLE_BUFFER)

