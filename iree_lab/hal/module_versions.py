"""The ``hal`` (5, 6) and ``hal_loader`` (0) module versions older releases import.

Each version keeps version 7's objects and semantics and differs only where IREE's
``runtime/src/iree/modules/hal/exports.inl`` / ``module.c`` of that version differ
(signatures taken from its git history):

- 6 -> 7: ``command_buffer.dispatch[.indirect]`` take an i32 export ordinal (7: an i64
  function id from ``executable.lookup.function``, which 6 lacks).
- 5 -> 6: no flags on execution_barrier (i32), fill/update/copy_buffer,
  queue.alloca/dealloca/execute.indirect, fence.create (i32)/join/await; queue.read/write
  flags are i32; ``queue.execute`` takes a list of zero or one command buffers;
  ``executable.create`` has no queue affinity; fill_buffer's pattern is i32.

``hal_loader`` 0 -> 1 (inline-dynamic modules): ``executable.dispatch`` takes an i32
export ordinal (1: an i64 function id from ``executable.lookup.function``, which 0
lacks). ``hal_inline`` did not change.

:func:`hal_module_class` / :func:`hal_loader_module_class` pick the class for the
version a module requires.
"""

from __future__ import annotations

from iree_lab.hal.command_buffer import CommandBuffer
from iree_lab.hal.device import Device
from iree_lab.hal.inline import HALLoaderModule
from iree_lab.hal.module import (
    HAL_MODULE_VERSION,
    HALModule,
    hal_export,
    unimplemented,
)
from iree_lab.hal.semaphore import Fence
from iree_lab.hal.types import check_deref, device_size, status
from iree_lab.vm.native import export
from iree_lab.vm.status import StatusCode

_V7 = HALModule


class HALModuleV6(HALModule):
    """``hal`` version 6 (IREE 3.1 - 3.10)."""

    version = 6
    executable_lookup_function = None  # added in version 7

    @hal_export("0rriiiiICiDCiirIID_v", "command_buffer.dispatch")
    def command_buffer_dispatch(self, command_buffer, executable, entry_point,
                                workgroup_count_x, workgroup_count_y, workgroup_count_z, flags,
                                constants, bindings):
        _V7.command_buffer_dispatch.__wrapped__(
            self, command_buffer, executable, entry_point & 0xFFFFFFFF, workgroup_count_x,
            workgroup_count_y, workgroup_count_z, flags, constants, bindings)

    @hal_export("0rriirIICiDCiirIID_v", "command_buffer.dispatch.indirect")
    def command_buffer_dispatch_indirect(self, command_buffer, executable, entry_point,
                                         workgroups_buffer_slot, workgroups_buffer,
                                         workgroups_offset, flags, constants, bindings):
        _V7.command_buffer_dispatch_indirect.__wrapped__(
            self, command_buffer, executable, entry_point & 0xFFFFFFFF, workgroups_buffer_slot,
            workgroups_buffer, workgroups_offset, flags, constants, bindings)


class HALModuleV5(HALModuleV6):
    """``hal`` version 5 (IREE 3.0)."""

    version = 5
    # Added in version 6.
    allocator_select = None
    buffer_allocation_preserve = None
    buffer_allocation_discard = None
    buffer_allocation_is_terminal = None
    command_buffer_advise_buffer = None
    device_queue_barrier = None

    @hal_export("0rIirrii_r", "channel.create")
    def channel_create(self, device, queue_affinity, flags, id, group, rank, count):
        unimplemented("channel.create")

    @hal_export("0riii_r", "channel.split")
    def channel_split(self, channel, color, key, flags):
        unimplemented("channel.split")

    @hal_export("0riii_v", "command_buffer.execution_barrier")
    def command_buffer_execution_barrier(self, command_buffer, source_stage_mask,
                                         target_stage_mask, flags):
        _V7.command_buffer_execution_barrier.__wrapped__(
            self, command_buffer, source_stage_mask, target_stage_mask, flags & 0xFFFFFFFF)

    @hal_export("0rrIIiii_v", "command_buffer.fill_buffer")
    def command_buffer_fill_buffer(self, command_buffer, target_buffer, target_offset, length,
                                   target_buffer_slot, pattern, pattern_length):
        _V7.command_buffer_fill_buffer.__wrapped__(
            self, command_buffer, target_buffer, target_offset, length, target_buffer_slot,
            pattern & 0xFFFFFFFF, pattern_length, 0)

    @hal_export("0rrIrIIi_v", "command_buffer.update_buffer")
    def command_buffer_update_buffer(self, command_buffer, source_buffer, source_offset,
                                     target_buffer, target_offset, length, target_buffer_slot):
        _V7.command_buffer_update_buffer.__wrapped__(
            self, command_buffer, source_buffer, source_offset, target_buffer, target_offset,
            length, target_buffer_slot, 0)

    @hal_export("0riirIrII_v", "command_buffer.copy_buffer")
    def command_buffer_copy_buffer(self, command_buffer, source_buffer_slot,
                                   target_buffer_slot, source_buffer, source_offset,
                                   target_buffer, target_offset, length):
        _V7.command_buffer_copy_buffer.__wrapped__(
            self, command_buffer, source_buffer_slot, target_buffer_slot, source_buffer,
            source_offset, target_buffer, target_offset, length, 0)

    @hal_export("0rIrriiiI_r", "device.queue.alloca")
    def device_queue_alloca(self, device, queue_affinity, wait_fence, signal_fence, pool,
                            memory_types, buffer_usage, allocation_size):
        return _V7.device_queue_alloca.__wrapped__(
            self, device, queue_affinity, wait_fence, signal_fence, pool & 0xFFFFFFFF,
            memory_types, buffer_usage, allocation_size, 0)

    @hal_export("0rIrrr_v", "device.queue.dealloca")
    def device_queue_dealloca(self, device, queue_affinity, wait_fence, signal_fence, buffer):
        _V7.device_queue_dealloca.__wrapped__(
            self, device, queue_affinity, wait_fence, signal_fence, buffer, 0)

    @hal_export("0rIrrrIrIIi_v", "device.queue.read")
    def device_queue_read(self, device, queue_affinity, wait_fence, signal_fence, source_file,
                          source_offset, target_buffer, target_offset, length, flags):
        _V7.device_queue_read.__wrapped__(
            self, device, queue_affinity, wait_fence, signal_fence, source_file, source_offset,
            target_buffer, target_offset, length, flags & 0xFFFFFFFF)

    @hal_export("0rIrrrIrIIi_v", "device.queue.write")
    def device_queue_write(self, device, queue_affinity, wait_fence, signal_fence,
                           source_buffer, source_offset, target_file, target_offset, length,
                           flags):
        _V7.device_queue_write.__wrapped__(
            self, device, queue_affinity, wait_fence, signal_fence, source_buffer,
            source_offset, target_file, target_offset, length, flags & 0xFFFFFFFF)

    @hal_export("0rIrrCrD_v", "device.queue.execute")
    def device_queue_execute(self, device, queue_affinity, wait_fence, signal_fence,
                             command_buffers):
        if len(command_buffers) > 1:
            raise status(StatusCode.INVALID_ARGUMENT, "only zero or one command buffer is allowed")
        device = check_deref(device, Device)
        wait = check_deref(wait_fence, Fence, nullable=True)
        signal = check_deref(signal_fence, Fence, nullable=True)
        if not command_buffers:
            device.queue_barrier(device_size(queue_affinity), wait, signal, 0)
            return
        device.queue_execute(device_size(queue_affinity), wait, signal,
                             check_deref(command_buffers[0], CommandBuffer), (), 0)

    @hal_export("0rIrrrCrIID_v", "device.queue.execute.indirect")
    def device_queue_execute_indirect(self, device, queue_affinity, wait_fence, signal_fence,
                                      command_buffer, binding_table):
        _V7.device_queue_execute_indirect.__wrapped__(
            self, device, queue_affinity, wait_fence, signal_fence, command_buffer, 0,
            binding_table)

    @hal_export("0rrrr_r", "executable.create")
    def executable_create(self, device, executable_format, executable_data, constants):
        return _V7.executable_create.__wrapped__(
            self, device, -1, executable_format, executable_data, constants)

    @hal_export("0ri_r", "fence.create")
    def fence_create(self, device, flags):
        return _V7.fence_create.__wrapped__(self, device, flags & 0xFFFFFFFF)

    @hal_export("0CrD_r", "fence.join")
    def fence_join(self, fences):
        return _V7.fence_join.__wrapped__(self, 0, fences)

    @export("0iCrD_i", name="fence.await")
    def fence_await(self, timeout_millis, fences):
        return (yield from _V7.fence_await(self, timeout_millis, 0, fences))


class HALLoaderModuleV0(HALLoaderModule):
    """``hal_loader`` version 0 (IREE releases before May 2026, e.g. 3.0)."""

    version = 0
    executable_lookup_function = None  # added in version 1

    @export("0riiiiCiDCrIID_v", name="executable.dispatch")
    def executable_dispatch(self, executable, entry_point, workgroup_x, workgroup_y,
                            workgroup_z, constants, bindings):
        HALLoaderModule.executable_dispatch(self, executable, entry_point & 0xFFFFFFFF,
                                            workgroup_x, workgroup_y, workgroup_z, constants,
                                            bindings)


_CLASSES = {5: HALModuleV5, 6: HALModuleV6, HAL_MODULE_VERSION: HALModule}
_LOADER_CLASSES = {0: HALLoaderModuleV0, HALLoaderModule.version: HALLoaderModule}
SUPPORTED_VERSIONS = tuple(sorted(_CLASSES))


def hal_module_class(modules) -> type[HALModule]:
    """The ``hal`` module class for the version ``modules`` require: the newest
    minimum version any of them declares (what the release that built them
    provides); version 7 when none is declared or it is newer than 7 (linking then
    reports the version mismatch)."""
    required = [dep.minimum_version for module in modules for dep in module.dependencies
                if dep.name == "hal"]
    version = max(required, default=HAL_MODULE_VERSION)
    return _CLASSES.get(version, HALModule)


def hal_loader_module_class(modules) -> type[HALLoaderModule]:
    """The ``hal_loader`` class for the version ``modules`` require (as for ``hal``)."""
    required = [dep.minimum_version for module in modules for dep in module.dependencies
                if dep.name == "hal_loader"]
    version = max(required, default=HALLoaderModule.version)
    return _LOADER_CLASSES.get(version, HALLoaderModule)
