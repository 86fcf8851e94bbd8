"""HAL command buffers: recorded once, replayed by queue submissions.

Commands keep buffer references either direct (a :class:`~iree_lab.hal.buffer.Buffer`)
or indirect (a slot of the binding table supplied at ``queue.execute`` time),
which is how the compiler records a command buffer once in ``__init`` and
replays it for every call. Validation follows
``runtime/src/iree/hal/command_buffer_validation.c``; execution follows the
local inline command buffer (``hal/local/inline_command_buffer.c``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from iree_lab.hal import recorder as rec
from iree_lab.hal.buffer import Buffer, calculate_range, fill_bytes
from iree_lab.hal.executable import DispatchState, Executable
from iree_lab.hal.types import (
    WHOLE_BUFFER,
    CommandBufferMode,
    CommandCategory,
    DispatchFlags,
    MappingMode,
    MemoryAccess,
    status,
)
from iree_lab.vm.ref import RefObject, RefType
from iree_lab.vm.status import StatusCode, VMStatus

_CATEGORY_NAMES = ((CommandCategory.TRANSFER, "TRANSFER"), (CommandCategory.DISPATCH, "DISPATCH"))


def _format_categories(value: int) -> str:
    names = [name for bit, name in _CATEGORY_NAMES if value & bit]
    return "|".join(names) if names else "NONE"


@dataclasses.dataclass(frozen=True)
class BufferRef:
    """``iree_hal_buffer_ref_t``: a direct buffer or a binding-table ``slot``."""

    buffer: Buffer | None
    slot: int
    offset: int
    length: int

    def record(self) -> rec.BufferRef:
        if self.buffer is not None:
            return rec.BufferRef(None, self.buffer.id, self.offset, self.length)
        return rec.BufferRef(self.slot, None, self.offset, self.length)


@dataclasses.dataclass(frozen=True)
class BufferBinding:
    """``iree_hal_buffer_binding_t``: one binding table entry."""

    buffer: Buffer | None
    offset: int = 0
    length: int = WHOLE_BUFFER


@dataclasses.dataclass(frozen=True)
class _Dispatch:
    executable: Executable
    function: int
    workgroup_count: tuple[int, int, int] | None
    workgroups_ref: BufferRef | None
    constants: np.ndarray
    bindings: tuple[BufferRef, ...]
    flags: int


@dataclasses.dataclass(frozen=True)
class _Fill:
    target: BufferRef
    pattern: bytes


@dataclasses.dataclass(frozen=True)
class _Update:
    target: BufferRef
    data: bytes


@dataclasses.dataclass(frozen=True)
class _Copy:
    source: BufferRef
    target: BufferRef


@dataclasses.dataclass(frozen=True)
class _NoOp:
    """Barriers, debug groups and advice: ordering/annotation only on a serial queue."""


class CommandBuffer(RefObject):
    """``iree_hal_command_buffer_t``."""

    __slots__ = (
        "id",
        "device",
        "mode",
        "categories",
        "queue_affinity",
        "binding_capacity",
        "binding_count",
        "commands",
        "_began",
        "_ended",
        "_debug_depth",
        "_record",
    )
    ref_type = RefType.get("hal.command_buffer")

    def __init__(self, device, mode: int, categories: int, queue_affinity: int,
                 binding_capacity: int, command_buffer_id: int = -1, record=None):
        self.id = command_buffer_id
        self.device = device
        self.mode = CommandBufferMode(mode & 0xFFFFFFFF)
        self.categories = CommandCategory(categories & 0xFFFFFFFF)
        self.queue_affinity = queue_affinity
        self.binding_capacity = binding_capacity
        self.binding_count = 0
        self.commands: list = []
        self._began = False
        self._ended = False
        self._debug_depth = 0
        self._record: rec.CommandBufferRecord | None = record

    def __repr__(self) -> str:
        state = "finalized" if self._ended else "recording"
        return f"<hal.command_buffer #{self.id} {len(self.commands)} commands {state}>"

    @property
    def is_finalized(self) -> bool:
        return self._ended

    # -- Recording state ------------------------------------------------------------------

    def begin(self) -> None:
        if self._ended:
            raise status(
                StatusCode.FAILED_PRECONDITION,
                "command buffer has already been recorded; re-recording command buffers is "
                "not allowed",
            )
        if self._began:
            raise status(
                StatusCode.FAILED_PRECONDITION, "command buffer is already in a recording state"
            )
        self._began = True

    def finalize(self) -> None:
        if self._debug_depth != 0:
            raise status(
                StatusCode.FAILED_PRECONDITION,
                f"unbalanced debug group depth (expected 0, is {self._debug_depth})",
            )
        if not self._began or self._ended:
            raise status(
                StatusCode.FAILED_PRECONDITION, "command buffer is not in a recording state"
            )
        self._ended = True
        if self._record is not None:
            self._record.finalized_at = self.device._tick()

    def _check_recording(self, required: CommandCategory) -> None:
        if not self._began or self._ended:
            raise status(
                StatusCode.FAILED_PRECONDITION,
                "command buffer is not in a recording state; all recording must happen "
                "between a begin/end pair",
            )
        if self.categories & required != required:
            raise status(
                StatusCode.FAILED_PRECONDITION,
                f"operation requires categories {_format_categories(required)} but command "
                f"buffer only supports {_format_categories(self.categories)}",
            )

    def _check_ref(self, ref: BufferRef) -> None:
        if ref.buffer is not None:
            calculate_range(0, ref.buffer.byte_length, ref.offset, ref.length)
            return
        if ref.slot >= self.binding_capacity:
            raise status(
                StatusCode.OUT_OF_RANGE,
                f"indirect buffer reference slot {ref.slot} is out range of the declared "
                f"binding capacity of the command buffer {self.binding_capacity}",
            )
        self.binding_count = max(self.binding_count, ref.slot + 1)

    def _append(self, command, record) -> None:
        self.commands.append(command)
        if self._record is not None:
            self._record.commands.append(record)

    # -- Commands -------------------------------------------------------------------------

    def execution_barrier(self, source_stage: int, target_stage: int, flags: int) -> None:
        self._check_recording(CommandCategory.NONE)
        self._append(_NoOp(), rec.BarrierCommand(source_stage, target_stage, flags))

    def begin_debug_group(self, label: str) -> None:
        self._check_recording(CommandCategory.NONE)
        self._debug_depth += 1
        self._append(_NoOp(), rec.DebugGroupCommand(label))

    def end_debug_group(self) -> None:
        self._check_recording(CommandCategory.NONE)
        if self._debug_depth <= 0:
            raise status(
                StatusCode.FAILED_PRECONDITION, "unbalanced debug group end (no open group)"
            )
        self._debug_depth -= 1
        self._append(_NoOp(), rec.DebugGroupCommand(None))

    def advise_buffer(self, ref: BufferRef, flags: int, arg0: int, arg1: int) -> None:
        self._check_recording(CommandCategory.NONE)
        self._check_ref(ref)
        self._append(_NoOp(), rec.AdviseCommand(ref.record(), flags, arg0, arg1))

    def fill_buffer(self, target: BufferRef, pattern: int, pattern_length: int,
                    flags: int = 0) -> None:
        self._check_recording(CommandCategory.TRANSFER)
        if pattern_length not in (1, 2, 4):
            raise status(
                StatusCode.INVALID_ARGUMENT,
                "fill value length is not one of the supported values "
                f"(pattern_length={pattern_length})",
            )
        if target.offset % pattern_length or (
            target.length != WHOLE_BUFFER and target.length % pattern_length
        ):
            raise status(
                StatusCode.INVALID_ARGUMENT,
                "binding offset and/or length do not match the required alignment of one or "
                f"more command (offset={target.offset}, length={target.length}, "
                f"min_byte_alignment={pattern_length})",
            )
        self._check_ref(target)
        pattern_bytes = (int(pattern) & ((1 << 64) - 1)).to_bytes(8, "little")[:pattern_length]
        self._append(_Fill(target, pattern_bytes),
                     rec.FillCommand(target.record(), int(pattern), pattern_length))

    def update_buffer(self, data: bytes, target: BufferRef, flags: int = 0) -> None:
        self._check_recording(CommandCategory.TRANSFER)
        self._check_ref(target)
        data = bytes(data)
        self._append(_Update(target, data), rec.UpdateCommand(target.record(), data))

    def copy_buffer(self, source: BufferRef, target: BufferRef, flags: int = 0) -> None:
        self._check_recording(CommandCategory.TRANSFER)
        if source.length != target.length:
            raise status(
                StatusCode.INVALID_ARGUMENT,
                "copy spans between source and target must match "
                f"(source_length={source.length}, target_length={target.length})",
            )
        self._check_ref(source)
        self._check_ref(target)
        if (source.buffer is not None and target.buffer is not None
                and source.buffer.test_overlap(source.offset, source.length, target.buffer,
                                               target.offset, target.length)):
            raise status(
                StatusCode.INVALID_ARGUMENT,
                "source and target ranges overlap within the same buffer",
            )
        self._append(_Copy(source, target), rec.CopyCommand(source.record(), target.record()))

    def dispatch(self, executable: Executable, function: int, workgroup_count, constants,
                 bindings, flags: int = 0, workgroups_ref: BufferRef | None = None) -> None:
        """``iree_hal_command_buffer_dispatch`` (static or indirect workgroup count)."""
        self._check_recording(CommandCategory.DISPATCH)
        flags = DispatchFlags(int(flags) & 0xFFFFFFFFFFFFFFFF)
        constants = np.asarray([int(c) & 0xFFFFFFFF for c in constants], dtype=np.uint32)
        bindings = tuple(bindings)
        if workgroups_ref is not None:
            if workgroups_ref.offset % 4:
                raise status(
                    StatusCode.INVALID_ARGUMENT,
                    "workgroup count offset does not match the required natural alignment "
                    f"(offset={workgroups_ref.offset}, min_byte_alignment=4)",
                )
            self._check_ref(workgroups_ref)
        for i, ref in enumerate(bindings):
            try:
                self._check_ref(ref)
            except VMStatus as e:
                raise e.annotate(f"binding[{i}]") from None
        export = executable.function_info(function) if 0 <= function < len(
            executable.exports) else None
        self._append(
            _Dispatch(executable, function,
                      tuple(workgroup_count) if workgroup_count is not None else None,
                      workgroups_ref, constants, bindings, int(flags)),
            rec.DispatchCommand(
                executable.id,
                function,
                export.name if export is not None else f"<function {function}>",
                tuple(int(v) for v in workgroup_count) if workgroup_count is not None else None,
                workgroups_ref.record() if workgroups_ref is not None else None,
                tuple(int(c) for c in constants),
                tuple(r.record() for r in bindings),
                int(flags),
            ),
        )

    def collective(self, *args, **kwargs) -> None:
        raise status(
            StatusCode.UNIMPLEMENTED,
            "hal.command_buffer.collective is not implemented by the iree_lab local device",
        )

    # -- Execution ------------------------------------------------------------------------

    def validate_submission(self, binding_table) -> None:
        if not self._began:
            raise status(StatusCode.FAILED_PRECONDITION, "command buffer has not been recorded")
        if not self._ended:
            raise status(
                StatusCode.FAILED_PRECONDITION,
                "command buffer recording has not been ended and it is still in a recording "
                "state",
            )
        if self.binding_count and len(binding_table) < self.binding_count:
            raise status(
                StatusCode.INVALID_ARGUMENT,
                f"binding table has {len(binding_table)} entries but the command buffer uses "
                f"{self.binding_count}",
            )
        for i in range(self.binding_count):
            binding = binding_table[i]
            if binding.buffer is None:
                raise status(
                    StatusCode.INVALID_ARGUMENT,
                    "binding table slot requires a buffer but none was provided",
                ).annotate(f"binding table slot {i}")
            try:
                calculate_range(0, binding.buffer.byte_length, binding.offset, binding.length)
            except VMStatus as e:
                raise e.annotate(f"binding table slot {i}") from None

    def execute(self, binding_table, queue_op=None) -> None:
        """Runs every command in order (the local queue is serial, barriers are no-ops)."""
        progress = self.device.progress if self.device is not None else None
        if progress is not None:
            progress.submit(sum(1 for c in self.commands if type(c) is _Dispatch))
        for index, command in enumerate(self.commands):
            kind = type(command)
            if kind is _NoOp:
                continue
            if kind is _Dispatch:
                self._execute_dispatch(index, command, binding_table, queue_op)
            elif kind is _Fill:
                buffer, offset, length = resolve_ref(binding_table, command.target)
                view = buffer.allocated_buffer.map_range(
                    MappingMode.SCOPED, MemoryAccess.DISCARD_WRITE, offset, length
                )
                fill_bytes(view, command.pattern)
            elif kind is _Update:
                buffer, offset, length = resolve_ref(binding_table, command.target)
                data = command.data[: length]
                buffer.allocated_buffer.map_write(offset, data)
            elif kind is _Copy:
                src, src_offset, length = resolve_ref(binding_table, command.source)
                dst, dst_offset, _ = resolve_ref(binding_table, command.target)
                src.allocated_buffer.map_copy(src_offset, dst.allocated_buffer, dst_offset,
                                              length)

    def _execute_dispatch(self, index: int, command: _Dispatch, binding_table, queue_op) -> None:
        executable = command.executable
        function = command.function
        flags = DispatchFlags(command.flags)
        if flags.uses_custom_arguments:
            raise status(
                StatusCode.UNIMPLEMENTED,
                "direct/indirect arguments are not supported on the inline CPU command buffer",
            )
        info = executable.function_info(function)
        if command.workgroups_ref is not None:
            buffer, offset, _ = resolve_ref(binding_table, command.workgroups_ref)
            raw = buffer.allocated_buffer.map_range(
                MappingMode.SCOPED, MemoryAccess.READ, offset, 12
            )
            workgroup_count = tuple(int(v) for v in raw.view(np.uint32))
        else:
            workgroup_count = command.workgroup_count
        constants = command.constants
        if len(constants) != info.constant_count:
            raise status(
                StatusCode.INVALID_ARGUMENT,
                f"constant count mismatch, expected {info.constant_count} but was provided "
                f"{len(constants)}",
            )
        if len(command.bindings) != info.binding_count:
            raise status(
                StatusCode.INVALID_ARGUMENT,
                f"binding count mismatch, expected {info.binding_count} but was provided "
                f"{len(command.bindings)}",
            )
        views = []
        resolved = []
        for i, ref in enumerate(command.bindings):
            buffer, offset, length = resolve_ref(binding_table, ref)
            if buffer is None:
                raise status(
                    StatusCode.FAILED_PRECONDITION,
                    f"required binding {i} is NULL; all bindings must have a valid pointer",
                )
            allocated = buffer.allocated_buffer
            views.append(allocated.map_range(MappingMode.PERSISTENT, MemoryAccess.ANY,
                                             offset, length))
            resolved.append(rec.ResolvedBinding(allocated.id, offset, len(views[-1])))
        state = DispatchState(
            workgroup_count=workgroup_count,
            workgroup_size=tuple(v if v else 1 for v in info.workgroup_size),
            constants=constants,
            bindings=views,
            local_memory_size=info.local_memory_size,
            max_concurrency=self.device.worker_count if self.device is not None else 1,
        )
        device = self.device
        record = None
        if device is not None and device.recorder is not None:
            recorder = device.recorder
            record = rec.DispatchExecution(
                queue_operation=queue_op.id if queue_op is not None else None,
                command_buffer=self.id,
                command_index=index,
                executable=executable.id,
                function=function,
                export_name=info.name,
                workgroup_count=tuple(workgroup_count),
                constants=tuple(int(c) for c in constants),
                bindings=tuple(resolved),
                started_at=recorder.tick(),
                start_wall_ns=recorder.wall_ns(),
            )
            recorder.record_dispatch(record)
            if queue_op is not None:
                queue_op.dispatches.append(record)
        # Opt-in copies of the bound ranges (Recorder(capture_buffers=True)).
        before = device.recorder.capture_before(views) if record is not None else None
        progress = device.progress if device is not None else None
        if progress is not None:
            progress.begin(info.name)
        observers = device.dispatch_observers if device is not None else ()
        for observer in observers:
            observer("before", executable, function, state)
        try:
            executable.dispatch(function, state)
        except VMStatus as e:
            if record is not None:
                record.status = e.code.name
                record.completed_at = device.recorder.tick()
                record.end_wall_ns = device.recorder.wall_ns()
            raise
        finally:
            if before is not None:
                device.recorder.capture_after(record, before, views)
        if record is not None:
            record.status = "OK"
            record.completed_at = device.recorder.tick()
            record.end_wall_ns = device.recorder.wall_ns()
        if progress is not None:
            progress.finish()
        for observer in observers:
            observer("after", executable, function, state)


def resolve_ref(binding_table, ref: BufferRef) -> tuple[Buffer | None, int, int]:
    """``iree_hal_buffer_binding_table_resolve_ref``: (buffer, offset, length).

    The offset is absolute within ``buffer.allocated_buffer`` (subspan offsets
    folded in), which is what callers map.
    """
    if ref.buffer is not None:
        buffer = ref.buffer
        offset, length = calculate_range(
            buffer.byte_offset, buffer.byte_length, ref.offset, ref.length
        )
        return buffer, offset, length
    if not binding_table:
        return None, 0, 0
    if ref.slot >= len(binding_table):
        raise status(
            StatusCode.OUT_OF_RANGE,
            f"buffer binding {ref.slot} out of range of binding table with capacity "
            f"{len(binding_table)}",
        )
    binding = binding_table[ref.slot]
    buffer = binding.buffer
    if buffer is None:
        return None, 0, 0
    max_length = (binding.length if binding.length != WHOLE_BUFFER
                  else buffer.byte_length - binding.offset)
    offset, length = calculate_range(binding.offset, max_length, ref.offset, ref.length)
    # Offsets so far are relative to the bound buffer; make them absolute.
    return buffer, buffer.byte_offset + offset, length

