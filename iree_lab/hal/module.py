"""The ``hal`` VM module (version 7) as a Python native module.

Exports, calling conventions and argument handling follow
``runtime/src/iree/modules/hal/exports.inl`` and ``module.c``; the objects are
those of :mod:`iree_lab.hal`. ``hal.fence.await`` suspends the calling fiber
(it is a generator export) while its fence is not reached and queue work or
another fiber may still signal it; when nothing can, it fails with
DEADLINE_EXCEEDED instead of blocking forever as IREE would.

Usage::

    from iree_lab import vm
    from iree_lab.hal import Device, Recorder
    from iree_lab.hal.module import HALModule

    device = Device(recorder=Recorder())
    ctx = vm.Context([HALModule([device]), vm.BytecodeModule.load("prog.vmfb")])
"""

from __future__ import annotations

import functools

import numpy as np

from iree_lab.hal.buffer import HEAP_BUFFER_ALIGNMENT, Allocator, Buffer
from iree_lab.hal.buffer_view import BufferView
from iree_lab.hal.command_buffer import BufferBinding, BufferRef, CommandBuffer
from iree_lab.hal.device import Device, File
from iree_lab.hal.executable import Executable
from iree_lab.hal.semaphore import Fence, join_fences
from iree_lab.hal.types import (
    WHOLE_BUFFER,
    BufferUsage,
    DispatchFlags,
    MemoryAccess,
    check_deref,
    device_size,
    element_bit_count,
    element_is_integer,
    element_is_opaque,
    format_buffer_usage,
    format_element_type,
    format_memory_type,
    status,
)
from iree_lab.vm.buffer import Buffer as VMBuffer
from iree_lab.vm.buffer import BufferAccess
from iree_lab.vm.native import NativeModule, export
from iree_lab.vm.ref import RefObject
from iree_lab.vm.scheduler import WaitFrame, WaitSource
from iree_lab.vm.status import StatusCode, VMStatus

HAL_MODULE_VERSION = 7
# ``IREE_HAL_MODULE_MAX_DESCRIPTOR_BINDING_COUNT``.
MAX_DESCRIPTOR_BINDING_COUNT = 32
# fence.await gives up after this many consecutive resumptions without any HAL
# progress (no semaphore changed): nothing left can ever signal the fence.
AWAIT_IDLE_LIMIT = 64
_INFINITE_TIMEOUT = 0xFFFFFFFF


def executable_constants(constants) -> tuple[int, ...]:
    """The 32-bit constants of hal.executable.create / hal_loader.executable.load."""
    if not isinstance(constants, VMBuffer):
        return ()
    if constants.length % 4:
        raise status(
            StatusCode.INVALID_ARGUMENT,
            "constant buffer data must contain 4-byte elements but data length is "
            f"{constants.length}",
        )
    return tuple(np.frombuffer(constants.data, dtype=np.uint32).tolist())


def buffer_subspan(source_buffer, source_offset, length) -> Buffer:
    """``buffer.subspan`` of hal and hal_inline: a failure names the range like IREE's."""
    buffer = check_deref(source_buffer, Buffer)
    try:
        return buffer.subspan(device_size(source_offset), device_size(length))
    except VMStatus as e:
        raise e.annotate(
            "invalid subspan of an existing buffer "
            f"(source_offset={source_offset}, length={length})"
        ) from None


def buffer_string(value) -> str:
    """``iree_vm_buffer_as_string`` of a ``!vm.buffer`` argument."""
    buffer = check_deref(value, VMBuffer)
    return bytes(buffer.data).decode("utf-8", "replace")


def _host_alignment(source: VMBuffer, offset: int) -> int:
    """The alignment of IREE's pointer to byte ``offset`` of ``source``.

    Module rodata sits at its file offset in a page-aligned load of the module;
    ``vm.buffer.alloc``/``clone`` data at least at its requested alignment. Below
    64 bytes IREE's outcome depends on where its malloc put the data, so iree_lab
    takes that of its own storage.
    """
    base = source.alignment
    if not base or (base < HEAP_BUFFER_ALIGNMENT and not source.access & BufferAccess.ORIGIN_MODULE):
        address = np.frombuffer(source.data, dtype=np.uint8).ctypes.data if source.length else 0
        base = address & -address if address else 1 << 12
    return min(base, offset & -offset) if offset else base


def _summary(value):
    """A compact, JSON-friendly description of an argument for the call record."""
    if value is None or isinstance(value, int | float | str):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, VMBuffer):
        if value.length <= 64:
            try:
                return bytes(value.data).decode("ascii")
            except UnicodeDecodeError:
                pass
        return f"vm.buffer[{value.length}]"
    if isinstance(value, RefObject):
        obj_id = getattr(value, "id", None)
        name = value.ref_type.name
        return f"{name}#{obj_id}" if obj_id is not None else name
    if isinstance(value, list | tuple):
        return [_summary(v) for v in value]
    return repr(value)


def hal_export(cconv: str, name: str):
    """An export of the hal module whose calls go to the recorder, when one is attached."""

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(self, *args):
            recorder = self.recorder
            if recorder is None:
                return fn(self, *args)
            # The call is stamped when it starts, so the queue operations and
            # objects it creates come after it in logical time.
            at = recorder.tick()
            wall = recorder.wall_ns()
            try:
                result = fn(self, *args)
            except VMStatus as e:
                recorder.record_call(name, _call_args(fn, args), e.code.name, at=at, wall_ns=wall)
                raise
            recorder.record_call(name, _call_args(fn, args), at=at, wall_ns=wall)
            return result

        return export(cconv, name=name)(wrapper)

    return decorate


def _call_args(fn, args) -> dict:
    names = fn.__code__.co_varnames[1 : 1 + len(args)]
    return {n: _summary(a) for n, a in zip(names, args, strict=False)}


def unimplemented(name: str):
    """Raises UNIMPLEMENTED for an export iree_lab's HAL does not provide."""
    raise status(
        StatusCode.UNIMPLEMENTED,
        f"hal.{name} is not implemented by iree_lab's HAL (no collective channels)",
    )


class HALModule(NativeModule):
    """The ``hal`` module over a list of :class:`~iree_lab.hal.device.Device`."""

    name = "hal"
    version = HAL_MODULE_VERSION

    def __init__(self, devices=None, *, recorder=None, buffer_view_trace=None):
        super().__init__()
        if devices is None:
            devices = [Device(recorder=recorder)]
        self.devices: list[Device] = list(devices)
        if recorder is not None:
            for device in self.devices:
                device.recorder = recorder
        # Called as buffer_view_trace(key, [BufferView]) for hal.buffer_view.trace.
        self.buffer_view_trace = buffer_view_trace

    @property
    def recorder(self):
        return self.devices[0].recorder if self.devices else None

    @property
    def device(self) -> Device:
        return self.devices[0]

    # -- Experimental ------------------------------------------------------------------

    @hal_export("0rIirIIi_r", "ex.file.from_memory")
    def ex_file_from_memory(self, device, queue_affinity, access, buffer, offset, length,
                            flags):
        device = check_deref(device, Device)
        vm_buffer = check_deref(buffer, VMBuffer)
        if access & ~int(MemoryAccess.READ):
            raise status(
                StatusCode.PERMISSION_DENIED,
                "only read-only memory can be accessed via a file handle (today)",
            )
        span = vm_buffer.map_ro(offset, length, 1)
        return device.create_file_from_memory(span, access, host_source=vm_buffer)

    # -- Allocator ---------------------------------------------------------------------

    @hal_export("0iiICrID_rI", "allocator.select")
    def allocator_select(self, memory_types, buffer_usage, flags, pairs):
        if not pairs:
            raise status(
                StatusCode.INVALID_ARGUMENT,
                "at least one device/queue affinity pair must be provided",
            )
        device, affinity = pairs[0]
        return check_deref(device, Device), affinity

    @hal_export("0rIiiI_r", "allocator.allocate")
    def allocator_allocate(self, allocator, queue_affinity, memory_types, buffer_usage,
                           allocation_size):
        allocator = check_deref(allocator, Allocator)
        size = device_size(allocation_size)
        try:
            return allocator.allocate(memory_types & 0xFFFFFFFF, buffer_usage & 0xFFFFFFFF,
                                      size, queue_affinity=device_size(queue_affinity))
        except VMStatus as e:
            raise e.annotate(f"failed to allocate buffer of length {allocation_size}") from None

    @hal_export("0riIiirII_r", "allocator.import")
    def allocator_import(self, allocator, is_try, queue_affinity, memory_types, buffer_usage,
                         source, offset, length):
        allocator = check_deref(allocator, Allocator)
        source = check_deref(source, VMBuffer)
        buffer_length = source.length
        if length == -1:
            length = buffer_length
        if length < 0 or offset < 0 or offset > buffer_length or \
                offset + length > buffer_length:
            raise status(
                StatusCode.INVALID_ARGUMENT,
                f"byte range out of bounds (requested {offset}-{offset + length - 1} of "
                f"available {buffer_length})",
            )
        usage = buffer_usage & 0xFFFFFFFF
        access = int(MemoryAccess.READ)
        if not source.is_mutable:
            if not usage & BufferUsage.SHARING_IMMUTABLE:
                raise status(
                    StatusCode.PERMISSION_DENIED,
                    "source buffer is immutable and can only be imported for constant usage",
                )
        elif not usage & BufferUsage.SHARING_IMMUTABLE:
            access |= int(MemoryAccess.WRITE)
        span = source.data[offset : offset + length]
        try:
            return allocator.import_host(memory_types & 0xFFFFFFFF, usage, span, access=access,
                                         queue_affinity=device_size(queue_affinity),
                                         host_source=source,
                                         host_alignment=_host_alignment(source, offset))
        except VMStatus:
            if is_try:  # a try import that fails yields null (the caller allocates and copies)
                return None
            raise

    # -- Buffers ---------------------------------------------------------------------------

    @hal_export("0rrrIii_v", "buffer.assert")
    def buffer_assert(self, buffer, message, allocator, minimum_length, memory_types,
                      buffer_usage):
        buffer = check_deref(buffer, Buffer)
        text = buffer_string(message)
        actual = buffer.byte_length
        minimum = device_size(minimum_length)
        if actual < minimum:
            raise status(
                StatusCode.INVALID_ARGUMENT,
                f"{text} buffer byte length {actual} less than expected minimum "
                f"{minimum_length}",
            )
        required_type = memory_types & 0xFFFFFFFF
        if buffer.memory_type & required_type != required_type:
            raise status(
                StatusCode.PERMISSION_DENIED,
                f"{text} buffer memory type is not compatible; buffer has "
                f"{format_memory_type(buffer.memory_type)}, operation requires "
                f"{format_memory_type(required_type)}",
            )
        required_usage = buffer_usage & 0xFFFFFFFF
        if buffer.allowed_usage & required_usage != required_usage:
            raise status(
                StatusCode.PERMISSION_DENIED,
                f"{text} requested usage was not specified when the buffer was allocated; "
                f"buffer allows {format_buffer_usage(buffer.allowed_usage)}, operation "
                f"requires {format_buffer_usage(required_usage)}",
            )
        check_deref(allocator, Allocator)

    @hal_export("0r_v", "buffer.allocation.preserve")
    def buffer_allocation_preserve(self, buffer):
        check_deref(buffer, Buffer).allocation_preserve()

    @hal_export("0r_i", "buffer.allocation.discard")
    def buffer_allocation_discard(self, buffer):
        return 1 if check_deref(buffer, Buffer).allocation_discard() else 0

    @hal_export("0r_i", "buffer.allocation.is_terminal")
    def buffer_allocation_is_terminal(self, buffer):
        return 1 if check_deref(buffer, Buffer).allocation_is_terminal() else 0

    @hal_export("0rII_r", "buffer.subspan")
    def buffer_subspan(self, source_buffer, source_offset, length):
        return buffer_subspan(source_buffer, source_offset, length)

    @hal_export("0r_I", "buffer.length")
    def buffer_length(self, buffer):
        return check_deref(buffer, Buffer).byte_length

    @hal_export("0rIi_i", "buffer.load")
    def buffer_load(self, source_buffer, source_offset, length):
        buffer = check_deref(source_buffer, Buffer)
        length &= 0xFFFFFFFF
        if length > 4:
            raise status(StatusCode.INVALID_ARGUMENT,
                         f"load length byte count {length} exceeds max")
        data = buffer.map_read(device_size(source_offset), length)
        return int.from_bytes(data.ljust(4, b"\0"), "little")

    @hal_export("0irIi_v", "buffer.store")
    def buffer_store(self, value, target_buffer, target_offset, length):
        buffer = check_deref(target_buffer, Buffer)
        length &= 0xFFFFFFFF
        offset = device_size(target_offset)
        if length > 4:
            raise status(StatusCode.INVALID_ARGUMENT,
                         f"store length byte count {length} exceeds max")
        if offset + length > buffer.byte_length:
            raise status(
                StatusCode.OUT_OF_RANGE,
                f"store out of bounds (target_offset={target_offset}, length={length} into "
                f"max {buffer.byte_length})",
            )
        buffer.map_write(offset, (value & 0xFFFFFFFF).to_bytes(4, "little")[:length])

    # -- Buffer views ------------------------------------------------------------------------

    @hal_export("0rIIiiCID_r", "buffer_view.create")
    def buffer_view_create(self, buffer, source_offset, source_length, element_type,
                           encoding_type, shape):
        buffer = check_deref(buffer, Buffer)
        offset = device_size(source_offset)
        length = device_size(source_length)
        if offset != 0 or length != buffer.byte_length:
            try:
                buffer = buffer.subspan(offset, length)
            except VMStatus as e:
                raise e.annotate(
                    "invalid subspan of an existing buffer "
                    f"(source_offset={source_offset}, length={source_length})"
                ) from None
        return BufferView(buffer, [device_size(d) for d in shape], element_type & 0xFFFFFFFF,
                          encoding_type & 0xFFFFFFFF)

    @hal_export("0rriiCID_v", "buffer_view.assert")
    def buffer_view_assert(self, buffer_view, message, element_type, encoding_type, shape):
        assert_buffer_view(buffer_view, message, element_type, encoding_type, shape)

    @hal_export("0r_r", "buffer_view.buffer")
    def buffer_view_buffer(self, buffer_view):
        return check_deref(buffer_view, BufferView).buffer

    @hal_export("0r_i", "buffer_view.element_type")
    def buffer_view_element_type(self, buffer_view):
        return check_deref(buffer_view, BufferView).element_type

    @hal_export("0r_i", "buffer_view.encoding_type")
    def buffer_view_encoding_type(self, buffer_view):
        return check_deref(buffer_view, BufferView).encoding_type

    @hal_export("0r_i", "buffer_view.rank")
    def buffer_view_rank(self, buffer_view):
        return check_deref(buffer_view, BufferView).rank

    @hal_export("0ri_I", "buffer_view.dim")
    def buffer_view_dim(self, buffer_view, index):
        return check_deref(buffer_view, BufferView).dim(index & 0xFFFFFFFF)

    @hal_export("0rCrD_v", "buffer_view.trace")
    def buffer_view_trace(self, key, buffer_views):
        if self.buffer_view_trace is None and self.recorder is None:
            return
        text = buffer_string(key)
        if len(buffer_views) > 128:
            raise status(StatusCode.RESOURCE_EXHAUSTED,
                         "too many buffer views for a single trace call")
        views = [check_deref(v, BufferView) for v in buffer_views]
        if self.buffer_view_trace is not None:
            self.buffer_view_trace(text, views)

    # -- Channels ------------------------------------------------------------------------------

    @hal_export("0rIIrrii_r", "channel.create")
    def channel_create(self, device, queue_affinity, flags, channel_id, group, rank, count):
        unimplemented("channel.create")

    @hal_export("0riiI_r", "channel.split")
    def channel_split(self, channel, color, key, flags):
        unimplemented("channel.split")

    @hal_export("0r_ii", "channel.rank_and_count")
    def channel_rank_and_count(self, channel):
        unimplemented("channel.rank_and_count")

    # -- Command buffers -----------------------------------------------------------------------

    @hal_export("0riiIi_r", "command_buffer.create")
    def command_buffer_create(self, device, modes, command_categories, queue_affinity,
                              binding_capacity):
        device = check_deref(device, Device)
        return device.create_command_buffer(modes & 0xFFFFFFFF, command_categories & 0xFFFFFFFF,
                                            device_size(queue_affinity),
                                            binding_capacity & 0xFFFFFFFF)

    @hal_export("0r_v", "command_buffer.finalize")
    def command_buffer_finalize(self, command_buffer):
        check_deref(command_buffer, CommandBuffer).finalize()

    @hal_export("0rr_v", "command_buffer.begin_debug_group")
    def command_buffer_begin_debug_group(self, command_buffer, label):
        cb = check_deref(command_buffer, CommandBuffer)
        cb.begin_debug_group(buffer_string(label))

    @hal_export("0r_v", "command_buffer.end_debug_group")
    def command_buffer_end_debug_group(self, command_buffer):
        check_deref(command_buffer, CommandBuffer).end_debug_group()

    @hal_export("0riiI_v", "command_buffer.execution_barrier")
    def command_buffer_execution_barrier(self, command_buffer, source_stage_mask,
                                         target_stage_mask, flags):
        cb = check_deref(command_buffer, CommandBuffer)
        cb.execution_barrier(source_stage_mask & 0xFFFFFFFF, target_stage_mask & 0xFFFFFFFF,
                             device_size(flags))

    @hal_export("0rrIIIi_v", "command_buffer.advise_buffer")
    def command_buffer_advise_buffer(self, command_buffer, buffer, flags, arg0, arg1,
                                     buffer_slot):
        cb = check_deref(command_buffer, CommandBuffer)
        ref = BufferRef(check_deref(buffer, Buffer, nullable=True), buffer_slot & 0xFFFFFFFF, 0,
                        WHOLE_BUFFER)
        cb.advise_buffer(ref, device_size(flags), device_size(arg0), device_size(arg1))

    @hal_export("0rrIIiIiI_v", "command_buffer.fill_buffer")
    def command_buffer_fill_buffer(self, command_buffer, target_buffer, target_offset, length,
                                   target_buffer_slot, pattern, pattern_length, flags):
        cb = check_deref(command_buffer, CommandBuffer)
        ref = BufferRef(check_deref(target_buffer, Buffer, nullable=True),
                        target_buffer_slot & 0xFFFFFFFF, device_size(target_offset),
                        device_size(length))
        cb.fill_buffer(ref, device_size(pattern), pattern_length & 0xFFFFFFFF,
                       device_size(flags))

    @hal_export("0rrIrIIiI_v", "command_buffer.update_buffer")
    def command_buffer_update_buffer(self, command_buffer, source_buffer, source_offset,
                                     target_buffer, target_offset, length, target_buffer_slot,
                                     flags):
        cb = check_deref(command_buffer, CommandBuffer)
        source = check_deref(source_buffer, VMBuffer)
        ref = BufferRef(check_deref(target_buffer, Buffer, nullable=True),
                        target_buffer_slot & 0xFFFFFFFF, device_size(target_offset),
                        device_size(length))
        data = source.map_ro(source_offset, length, 1)
        cb.update_buffer(bytes(data), ref, device_size(flags))

    @hal_export("0riirIrIII_v", "command_buffer.copy_buffer")
    def command_buffer_copy_buffer(self, command_buffer, source_buffer_slot,
                                   target_buffer_slot, source_buffer, source_offset,
                                   target_buffer, target_offset, length, flags):
        cb = check_deref(command_buffer, CommandBuffer)
        length = device_size(length)
        source = BufferRef(check_deref(source_buffer, Buffer, nullable=True),
                           source_buffer_slot & 0xFFFFFFFF, device_size(source_offset), length)
        target = BufferRef(check_deref(target_buffer, Buffer, nullable=True),
                           target_buffer_slot & 0xFFFFFFFF, device_size(target_offset), length)
        cb.copy_buffer(source, target, device_size(flags))

    @hal_export("0rriiiirrIIIII_v", "command_buffer.collective")
    def command_buffer_collective(self, command_buffer, channel, op, param, send_slot,
                                  recv_slot, send_buffer, recv_buffer, send_offset, send_length,
                                  recv_offset, recv_length, element_count):
        unimplemented("command_buffer.collective")

    def _binding_refs(self, bindings) -> list[BufferRef]:
        if len(bindings) > MAX_DESCRIPTOR_BINDING_COUNT:
            raise status(StatusCode.OUT_OF_RANGE,
                         f"binding count {len(bindings)} > {MAX_DESCRIPTOR_BINDING_COUNT}")
        refs = []
        for _ordinal, slot, buffer, offset, length in bindings:
            refs.append(BufferRef(check_deref(buffer, Buffer, nullable=True), slot & 0xFFFFFFFF,
                                  device_size(offset), device_size(length)))
        return refs

    @hal_export("0rrIiiiICiDCiirIID_v", "command_buffer.dispatch")
    def command_buffer_dispatch(self, command_buffer, executable, function_id,
                                workgroup_count_x, workgroup_count_y, workgroup_count_z, flags,
                                constants, bindings):
        cb = check_deref(command_buffer, CommandBuffer)
        exe = check_deref(executable, Executable)
        refs = self._binding_refs(bindings)
        cb.dispatch(exe, device_size(function_id),
                    (workgroup_count_x & 0xFFFFFFFF, workgroup_count_y & 0xFFFFFFFF,
                     workgroup_count_z & 0xFFFFFFFF),
                    constants, refs, device_size(flags))

    @hal_export("0rrIirIICiDCiirIID_v", "command_buffer.dispatch.indirect")
    def command_buffer_dispatch_indirect(self, command_buffer, executable, function_id,
                                         workgroups_buffer_slot, workgroups_buffer,
                                         workgroups_offset, flags, constants, bindings):
        cb = check_deref(command_buffer, CommandBuffer)
        exe = check_deref(executable, Executable)
        workgroups = BufferRef(check_deref(workgroups_buffer, Buffer, nullable=True),
                               workgroups_buffer_slot & 0xFFFFFFFF,
                               device_size(workgroups_offset), 12)
        refs = self._binding_refs(bindings)
        flags = device_size(flags)
        if not flags & DispatchFlags.STATIC_INDIRECT_PARAMETERS:
            flags |= int(DispatchFlags.DYNAMIC_INDIRECT_PARAMETERS)
        cb.dispatch(exe, device_size(function_id), None, constants, refs, flags,
                    workgroups_ref=workgroups)

    # -- Devices -------------------------------------------------------------------------------

    @hal_export("0r_r", "device.allocator")
    def device_allocator(self, device):
        return check_deref(device, Device).allocator

    @hal_export("0rrr_iI", "device.query.i64")
    def device_query_i64(self, device, category, key):
        device = check_deref(device, Device)
        category = buffer_string(category)
        key = buffer_string(key)
        try:
            return 1, device.query_i64(category, key)
        except VMStatus:
            return 0, 0

    @hal_export("0rIrrIiiII_r", "device.queue.alloca")
    def device_queue_alloca(self, device, queue_affinity, wait_fence, signal_fence, pool,
                            memory_types, buffer_usage, allocation_size, flags):
        device = check_deref(device, Device)
        wait = check_deref(wait_fence, Fence, nullable=True)
        signal = check_deref(signal_fence, Fence, nullable=True)
        if pool != 0:
            raise status(StatusCode.UNIMPLEMENTED, "VM queue allocation pools are not supported")
        return device.queue_alloca(device_size(queue_affinity), wait, signal,
                                   memory_types & 0xFFFFFFFF, buffer_usage & 0xFFFFFFFF,
                                   device_size(allocation_size), device_size(flags))

    @hal_export("0rIrrrI_v", "device.queue.dealloca")
    def device_queue_dealloca(self, device, queue_affinity, wait_fence, signal_fence, buffer,
                              flags):
        device = check_deref(device, Device)
        wait = check_deref(wait_fence, Fence, nullable=True)
        signal = check_deref(signal_fence, Fence, nullable=True)
        device.queue_dealloca(device_size(queue_affinity), wait, signal,
                              check_deref(buffer, Buffer), device_size(flags))

    @hal_export("0rIrrrIIIiI_v", "device.queue.fill")
    def device_queue_fill(self, device, queue_affinity, wait_fence, signal_fence,
                          target_buffer, target_offset, length, pattern, pattern_length, flags):
        device = check_deref(device, Device)
        wait = check_deref(wait_fence, Fence, nullable=True)
        signal = check_deref(signal_fence, Fence, nullable=True)
        device.queue_fill(device_size(queue_affinity), wait, signal,
                          check_deref(target_buffer, Buffer), device_size(target_offset),
                          device_size(length), device_size(pattern),
                          pattern_length & 0xFFFFFFFF, device_size(flags))

    @hal_export("0rIrrrIrIII_v", "device.queue.update")
    def device_queue_update(self, device, queue_affinity, wait_fence, signal_fence,
                            source_buffer, source_offset, target_buffer, target_offset, length,
                            flags):
        device = check_deref(device, Device)
        wait = check_deref(wait_fence, Fence, nullable=True)
        signal = check_deref(signal_fence, Fence, nullable=True)
        source = check_deref(source_buffer, VMBuffer)
        target = check_deref(target_buffer, Buffer)
        data = source.map_ro(source_offset, length, 1)
        device.queue_update(device_size(queue_affinity), wait, signal, bytes(data), target,
                            device_size(target_offset), device_size(length),
                            device_size(flags))

    @hal_export("0rIrrrIrIII_v", "device.queue.copy")
    def device_queue_copy(self, device, queue_affinity, wait_fence, signal_fence,
                          source_buffer, source_offset, target_buffer, target_offset, length,
                          flags):
        device = check_deref(device, Device)
        wait = check_deref(wait_fence, Fence, nullable=True)
        signal = check_deref(signal_fence, Fence, nullable=True)
        device.queue_copy(device_size(queue_affinity), wait, signal,
                          check_deref(source_buffer, Buffer), device_size(source_offset),
                          check_deref(target_buffer, Buffer), device_size(target_offset),
                          device_size(length), device_size(flags))

    @hal_export("0rIrrrIrIII_v", "device.queue.read")
    def device_queue_read(self, device, queue_affinity, wait_fence, signal_fence, source_file,
                          source_offset, target_buffer, target_offset, length, flags):
        device = check_deref(device, Device)
        wait = check_deref(wait_fence, Fence, nullable=True)
        signal = check_deref(signal_fence, Fence, nullable=True)
        device.queue_read(device_size(queue_affinity), wait, signal, check_deref(source_file, File),
                          device_size(source_offset), check_deref(target_buffer, Buffer),
                          device_size(target_offset), device_size(length), device_size(flags))

    @hal_export("0rIrrrIrIII_v", "device.queue.write")
    def device_queue_write(self, device, queue_affinity, wait_fence, signal_fence,
                           source_buffer, source_offset, target_file, target_offset, length,
                           flags):
        device = check_deref(device, Device)
        wait = check_deref(wait_fence, Fence, nullable=True)
        signal = check_deref(signal_fence, Fence, nullable=True)
        device.queue_write(device_size(queue_affinity), wait, signal,
                           check_deref(source_buffer, Buffer), device_size(source_offset),
                           check_deref(target_file, File), device_size(target_offset),
                           device_size(length), device_size(flags))

    @hal_export("0rIrrI_v", "device.queue.barrier")
    def device_queue_barrier(self, device, queue_affinity, wait_fence, signal_fence, flags):
        device = check_deref(device, Device)
        device.queue_barrier(device_size(queue_affinity),
                             check_deref(wait_fence, Fence, nullable=True),
                             check_deref(signal_fence, Fence, nullable=True), device_size(flags))

    @hal_export("0rIrrrI_v", "device.queue.execute")
    def device_queue_execute(self, device, queue_affinity, wait_fence, signal_fence,
                             command_buffer, flags):
        device = check_deref(device, Device)
        device.queue_execute(device_size(queue_affinity),
                             check_deref(wait_fence, Fence, nullable=True),
                             check_deref(signal_fence, Fence, nullable=True),
                             check_deref(command_buffer, CommandBuffer), (), device_size(flags))

    @hal_export("0rIrrrICrIID_v", "device.queue.execute.indirect")
    def device_queue_execute_indirect(self, device, queue_affinity, wait_fence, signal_fence,
                                      command_buffer, flags, binding_table):
        device = check_deref(device, Device)
        table = [
            BufferBinding(check_deref(buffer, Buffer, nullable=True), device_size(offset),
                          device_size(length))
            for buffer, offset, length in binding_table
        ]
        device.queue_execute(device_size(queue_affinity),
                             check_deref(wait_fence, Fence, nullable=True),
                             check_deref(signal_fence, Fence, nullable=True),
                             check_deref(command_buffer, CommandBuffer), table, device_size(flags))

    @hal_export("0rI_v", "device.queue.flush")
    def device_queue_flush(self, device, queue_affinity):
        check_deref(device, Device).queue_flush(device_size(queue_affinity))

    @hal_export("0v_i", "devices.count")
    def devices_count(self):
        return len(self.devices)

    @hal_export("0i_r", "devices.get")
    def devices_get(self, index):
        return self.devices[index] if 0 <= index < len(self.devices) else None

    # -- Executables -----------------------------------------------------------------------

    @hal_export("0rIrrr_r", "executable.create")
    def executable_create(self, device, queue_affinity, executable_format, executable_data,
                          constants):
        device = check_deref(device, Device)
        fmt = buffer_string(executable_format)
        data = check_deref(executable_data, VMBuffer)
        values = executable_constants(constants)
        return device.create_executable(fmt, data.data, values, device_size(queue_affinity))

    @hal_export("0rr_I", "executable.lookup.function")
    def executable_lookup_function(self, executable, function_name):
        exe = check_deref(executable, Executable)
        return exe.lookup_function(buffer_string(function_name))

    # -- Fences ------------------------------------------------------------------------------

    @hal_export("0rI_r", "fence.create")
    def fence_create(self, device, flags):
        device = check_deref(device, Device)
        semaphore = device.create_semaphore(0)
        return device.create_fence([(semaphore, 1)])

    @hal_export("0ICrD_r", "fence.join")
    def fence_join(self, flags, fences):
        fences = [check_deref(f, Fence, nullable=True) for f in fences]
        device = next((f.device for f in fences if f is not None), None)
        fence_id = device.next_id("fence") if device is not None else -1
        return join_fences(fences, device, fence_id)

    @hal_export("0r_i", "fence.query")
    def fence_query(self, fence):
        return int(check_deref(fence, Fence).query())

    @hal_export("0r_v", "fence.signal")
    def fence_signal(self, fence):
        check_deref(fence, Fence).signal(source="hal.fence.signal")

    @hal_export("0ri_v", "fence.fail")
    def fence_fail(self, fence, status_code):
        fence = check_deref(fence, Fence)
        fence.fail(VMStatus(StatusCode.from_raw(status_code)), source="hal.fence.fail")

    @export("0iICrD_i", name="fence.await")
    def fence_await(self, timeout_millis, flags, fences):
        """Suspends while the fences are pending and something may still signal them."""
        fences = [check_deref(f, Fence, nullable=True) for f in fences]
        recorder = self.recorder
        if recorder is not None:
            recorder.record_call("fence.await", {
                "timeout_millis": timeout_millis & 0xFFFFFFFF,
                "fences": [_summary(f) for f in fences],
            })
        timeout = timeout_millis & 0xFFFFFFFF
        idle = 0
        progress = self._progress()
        while True:
            pending = self._pending_timepoints(fences)  # raises a failed fence's status
            if not pending:
                return 0
            if timeout == 0:
                return int(StatusCode.DEADLINE_EXCEEDED)
            if idle >= AWAIT_IDLE_LIMIT:
                if timeout != _INFINITE_TIMEOUT:
                    return int(StatusCode.DEADLINE_EXCEEDED)
                points = ", ".join(f"semaphore #{s.id} >= {v} (at {s.value})" for s, v in pending)
                raise status(
                    StatusCode.DEADLINE_EXCEEDED,
                    f"hal.fence.await would wait forever: {points} never signaled; no queued "
                    "work or other fiber can signal it",
                )
            # A scheduler (iree_lab.vm.scheduler) resumes this only once the wait resolves.
            wait = WaitFrame.all([_timepoint_source(s, v) for s, v in pending],
                                 None if timeout == _INFINITE_TIMEOUT else timeout)
            yield wait
            if wait.wait_status == StatusCode.DEADLINE_EXCEEDED:
                return int(StatusCode.DEADLINE_EXCEEDED)
            now = self._progress()
            idle = 0 if now != progress else idle + 1
            progress = now

    def _progress(self) -> int:
        return sum(d.progress_count for d in self.devices)

    @staticmethod
    def _pending_timepoints(fences):
        pending = []
        for fence in fences:
            if fence is None:
                continue
            for semaphore, value in fence.timepoints:
                if not semaphore.is_reached(value):  # raises a failed semaphore's status
                    pending.append((semaphore, value))
        return pending


def _timepoint_source(semaphore, value: int) -> WaitSource:
    """``iree_hal_semaphore_await``: a wait source for one semaphore timepoint."""

    def query() -> StatusCode:
        if semaphore.failure is not None:
            return semaphore.failure.code
        return StatusCode.OK if semaphore.value >= value else StatusCode.DEFERRED

    return WaitSource(f"hal.semaphore #{semaphore.id}", value, query=query,
                      current=lambda: semaphore.value)


def assert_buffer_view(buffer_view, message, element_type, encoding_type, shape) -> None:
    """``iree_hal_modules_buffer_view_assert`` (shared by hal and hal_inline)."""
    view = check_deref(buffer_view, BufferView)
    text = buffer_string(message)
    expected_encoding = encoding_type & 0xFFFFFFFF
    if view.encoding_type != 0 and view.encoding_type != expected_encoding:
        raise status(
            StatusCode.INVALID_ARGUMENT,
            f"{text} encoding mismatch; expected {expected_encoding:08X} but have "
            f"{view.encoding_type:08X}",
        )
    expected_type = element_type & 0xFFFFFFFF
    actual_type = view.element_type
    compatible = (
        element_is_opaque(actual_type)
        or (element_is_integer(actual_type) and element_is_integer(expected_type)
            and element_bit_count(actual_type) == element_bit_count(expected_type))
        or actual_type == expected_type
    )
    if not compatible:
        raise status(
            StatusCode.INVALID_ARGUMENT,
            f"{text} element type mismatch; expected {format_element_type(expected_type)} "
            f"({expected_type:08X}) but have {format_element_type(actual_type)} "
            f"({actual_type:08X})",
        )
    expected_shape = [device_size(d) for d in shape]
    actual_shape = list(view.shape)
    failure = None
    if len(actual_shape) != len(expected_shape):
        failure = status(
            StatusCode.INVALID_ARGUMENT,
            f"{text} shape rank mismatch; expected {len(expected_shape)}"
            f"{' (scalar)' if not expected_shape else ''} but have {len(actual_shape)}"
            f"{' (scalar)' if not actual_shape else ''}",
        )
    else:
        for i, (a, e) in enumerate(zip(actual_shape, expected_shape, strict=True)):
            if a != e:
                failure = status(
                    StatusCode.INVALID_ARGUMENT,
                    f"{text} shape dimension {i} mismatch; expected {_dim(e)} but have "
                    f"{_dim(a)}",
                )
                break
    if failure is not None:
        failure.annotate(
            f"expected shape `{_shape_text(expected_shape)}`, actual shape "
            f"`{_shape_text(actual_shape)}`"
        )
        raise failure


def _dim(value: int) -> int:
    # PRIdim is signed 64-bit.
    return value - (1 << 64) if value & (1 << 63) else value


def _shape_text(shape) -> str:
    return "x".join(str(_dim(d)) for d in shape)


def create_hal_module(devices=None, *, recorder=None) -> HALModule:
    """A ``hal`` module over ``devices`` (default: one local-sync device)."""
    return HALModule(devices, recorder=recorder)


__all__ = ["HALModule", "create_hal_module"]
