"""The ``hal_inline`` and ``hal_loader`` modules for inline execution models.

Programs compiled with ``--iree-execution-model=inline-dynamic`` import these
instead of ``hal``: buffers are plain host memory whose storage the program
reads and writes as ``!vm.buffer``, and executables are loaded and dispatched
synchronously with no command buffers or queues
(``runtime/src/iree/modules/hal/inline`` and ``.../loader``).
"""

from __future__ import annotations

import weakref

import numpy as np

from iree_lab.hal import recorder as rec
from iree_lab.hal.buffer import Buffer
from iree_lab.hal.buffer_view import BufferView
from iree_lab.hal.device import Device
from iree_lab.hal.executable import DispatchState, Executable
from iree_lab.hal.module import (
    assert_buffer_view,
    buffer_string,
    buffer_subspan,
    executable_constants,
)
from iree_lab.hal.types import (
    WHOLE_BUFFER,
    BufferUsage,
    MappingMode,
    MemoryAccess,
    MemoryType,
    check_deref,
    device_size,
    status,
)
from iree_lab.vm.buffer import Buffer as VMBuffer
from iree_lab.vm.buffer import BufferAccess
from iree_lab.vm.native import NativeModule, export
from iree_lab.vm.status import StatusCode, VMStatus

_INLINE_USAGE = int(BufferUsage.TRANSFER | BufferUsage.DISPATCH_STORAGE | BufferUsage.MAPPING)


# Per device, the host address ranges of the allocations hal_inline handed out as
# storage, newest last: (start, end, allocated buffer id). hal_loader dispatches
# bind !vm.buffer storage, which the recorder names by the buffer it belongs to.
_STORAGE_RANGES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _address(array: np.ndarray) -> int:
    return array.ctypes.data if array.size else 0


def _storage(buffer: Buffer) -> VMBuffer:
    """``iree_hal_inline_storage_buffer_create``: a mutable vm.buffer over the buffer."""
    view = buffer.map_range(MappingMode.SCOPED, MemoryAccess.ANY, 0, WHOLE_BUFFER)
    device = buffer.device
    if device is not None and device.recorder is not None:
        allocated = buffer.allocated_buffer
        start = _address(allocated.storage)
        ranges = _STORAGE_RANGES.setdefault(device, [])
        entry = (start, start + allocated.storage.size, allocated.id)
        if entry not in ranges[-8:]:
            ranges.append(entry)
    return VMBuffer(view, BufferAccess.ORIGIN_HOST | BufferAccess.MUTABLE)


def _resolve_binding(device: Device, view: np.ndarray) -> rec.ResolvedBinding:
    """The allocation a bound ``!vm.buffer`` range lies in (the newest one holding its
    address), offset absolute within it; buffer -1 for memory of no HAL buffer
    (a module's rodata bound directly)."""
    address = _address(view)
    for start, end, buffer_id in reversed(_STORAGE_RANGES.get(device, ())):
        if start <= address and address + view.size <= end:
            return rec.ResolvedBinding(buffer_id, address - start, int(view.size))
    return rec.ResolvedBinding(-1, 0, int(view.size))


class HALInlineModule(NativeModule):
    """``hal_inline`` (version 0): host buffers and buffer views without queues."""

    name = "hal_inline"
    version = 0

    def __init__(self, device: Device | None = None):
        super().__init__()
        self.device = device if device is not None else Device()

    def _allocate(self, size: int) -> tuple[Buffer, VMBuffer]:
        buffer = self.device.allocator.allocate(int(MemoryType.OPTIMAL_FOR_HOST), _INLINE_USAGE,
                                                size)
        return buffer, _storage(buffer)

    @export("0iI_rr", name="buffer.allocate")
    def buffer_allocate(self, minimum_alignment, allocation_size):
        return self._allocate(device_size(allocation_size))

    @export("0irII_rr", name="buffer.allocate.initialized")
    def buffer_allocate_initialized(self, minimum_alignment, source, offset, length):
        source = check_deref(source, VMBuffer)
        data = source.map_ro(offset, length, 1)
        buffer, storage = self._allocate(device_size(length))
        buffer.storage[: len(data)] = np.frombuffer(data, dtype=np.uint8)
        return buffer, storage

    @export("0rII_r", name="buffer.wrap")
    def buffer_wrap(self, source, offset, length):
        raise status(StatusCode.UNIMPLEMENTED, "vm->hal buffer wrapping not yet implemented")

    @export("0rII_r", name="buffer.subspan")
    def buffer_subspan(self, source, offset, length):
        return buffer_subspan(source, offset, length)

    @export("0r_I", name="buffer.length")
    def buffer_length(self, buffer):
        return check_deref(buffer, Buffer).byte_length

    @export("0r_r", name="buffer.storage")
    def buffer_storage(self, buffer):
        return _storage(check_deref(buffer, Buffer))

    @export("0rIIiiCID_r", name="buffer_view.create")
    def buffer_view_create(self, buffer, source_offset, source_length, element_type,
                           encoding_type, shape):
        buffer = check_deref(buffer, Buffer)
        offset, length = device_size(source_offset), device_size(source_length)
        if offset != 0 or length != buffer.byte_length:
            buffer = buffer.subspan(offset, length)
        return BufferView(buffer, [device_size(d) for d in shape], element_type & 0xFFFFFFFF,
                          encoding_type & 0xFFFFFFFF)

    @export("0rriiCID_v", name="buffer_view.assert")
    def buffer_view_assert(self, buffer_view, message, element_type, encoding_type, shape):
        assert_buffer_view(buffer_view, message, element_type, encoding_type, shape)

    @export("0r_r", name="buffer_view.buffer")
    def buffer_view_buffer(self, buffer_view):
        return check_deref(buffer_view, BufferView).buffer

    @export("0r_i", name="buffer_view.element_type")
    def buffer_view_element_type(self, buffer_view):
        return check_deref(buffer_view, BufferView).element_type

    @export("0r_i", name="buffer_view.encoding_type")
    def buffer_view_encoding_type(self, buffer_view):
        return check_deref(buffer_view, BufferView).encoding_type

    @export("0r_i", name="buffer_view.rank")
    def buffer_view_rank(self, buffer_view):
        return check_deref(buffer_view, BufferView).rank

    @export("0ri_I", name="buffer_view.dim")
    def buffer_view_dim(self, buffer_view, index):
        return check_deref(buffer_view, BufferView).dim(index & 0xFFFFFFFF)

    @export("0rCrD_v", name="buffer_view.trace")
    def buffer_view_trace(self, key, buffer_views):
        return None

    @export("0rr_iI", name="device.query.i64")
    def device_query_i64(self, category, key):
        buffer_string(category)
        buffer_string(key)
        # Only hal.cpu keys are answered by IREE's inline module; the Python
        # device has no CPU features to report.
        return 0, 0


class HALLoaderModule(NativeModule):
    """``hal_loader`` (version 1): load executables and dispatch them inline."""

    name = "hal_loader"
    version = 1

    def __init__(self, device: Device | None = None):
        super().__init__()
        self.device = device if device is not None else Device()

    @export("0r_i", name="executable.query_support")
    def executable_query_support(self, executable_format):
        fmt = buffer_string(executable_format)
        return 1 if any(loader.query_support(fmt) for loader in self.device.loaders) else 0

    @export("0rrr_r", name="executable.load")
    def executable_load(self, executable_format, executable_data, constants):
        fmt = buffer_string(executable_format)
        data = check_deref(executable_data, VMBuffer)
        values = executable_constants(constants)
        return self.device.create_executable(fmt, data.data, values)

    @export("0rr_I", name="executable.lookup.function")
    def executable_lookup_function(self, executable, function_name):
        return check_deref(executable, Executable).lookup_function(buffer_string(function_name))

    @export("0rIiiiCiDCrIID_v", name="executable.dispatch")
    def executable_dispatch(self, executable, function_id, workgroup_x, workgroup_y,
                            workgroup_z, constants, bindings):
        exe = check_deref(executable, Executable)
        function = device_size(function_id)
        if not function < len(exe.exports):
            raise status(StatusCode.OUT_OF_RANGE,
                         f"function id {function} out of range (count: {len(exe.exports)})")
        if len(bindings) > 32:
            raise status(StatusCode.RESOURCE_EXHAUSTED, "too many bindings")
        views = []
        for buffer, offset, length in bindings:
            buffer = check_deref(buffer, VMBuffer)
            span = buffer.map_ro(offset, length, 1)
            views.append(np.frombuffer(buffer.data, dtype=np.uint8)[
                offset : offset + len(span)] if len(span) else np.zeros(0, np.uint8))
        state = DispatchState(
            workgroup_count=(workgroup_x & 0xFFFFFFFF, workgroup_y & 0xFFFFFFFF,
                             workgroup_z & 0xFFFFFFFF),
            workgroup_size=(1, 1, 1),
            constants=np.asarray([c & 0xFFFFFFFF for c in constants], dtype=np.uint32),
            bindings=views,
            local_memory_size=0,
            flush_denormals=False,  # the loader module leaves the FPU state alone
        )
        device = self.device
        recorder = device.recorder
        record = before = None
        if recorder is not None:
            # No queue operation or command buffer: the inline HAL runs it right here.
            record = rec.DispatchExecution(
                queue_operation=None, command_buffer=None, command_index=0,
                executable=exe.id, function=function, export_name=exe.exports[function].name,
                workgroup_count=tuple(state.workgroup_count),
                constants=tuple(int(c) for c in state.constants),
                bindings=tuple(_resolve_binding(device, v) for v in views),
                started_at=recorder.tick(), start_wall_ns=recorder.wall_ns())
            recorder.record_dispatch(record)
            before = recorder.capture_before(views)
        observers = device.dispatch_observers
        for observer in observers:
            observer("before", exe, function, state)
        progress = device.progress
        progress.submit(1)
        progress.begin(exe.exports[function].name)
        try:
            exe.dispatch(function, state)
        except VMStatus as e:
            if record is not None:
                record.status = e.code.name
            raise
        else:
            if record is not None:
                record.status = "OK"
        finally:
            if record is not None:
                record.completed_at = recorder.tick()
                record.end_wall_ns = recorder.wall_ns()
                if before is not None:
                    recorder.capture_after(record, before, views)
        progress.finish()
        for observer in observers:
            observer("after", exe, function, state)


def inline_modules(device: Device | None = None) -> list:
    """``[hal_inline, hal_loader]`` sharing one device, in registration order."""
    device = device if device is not None else Device()
    return [HALInlineModule(device), HALLoaderModule(device)]
