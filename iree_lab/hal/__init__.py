"""The HAL in Python: devices, buffers, command buffers, queues and executables.

Layer 4 of iree_lab (imports format, isa and vm). The objects mirror IREE's
``iree_hal_*`` types and are the ref objects the ``hal`` VM module hands to
programs; :mod:`iree_lab.hal.io` reads and prints ``iree-run-module`` values and
:mod:`iree_lab.hal.recorder` records every submission.

Failures raise :class:`iree_lab.vm.status.VMStatus` (IREE's ``iree_status_t``);
the VM turns them into :class:`iree_lab.vm.status.VMError` at the invocation
boundary.
"""

from iree_lab.hal.buffer import Allocator, Buffer
from iree_lab.hal.buffer_view import BufferView
from iree_lab.hal.command_buffer import BufferBinding, BufferRef, CommandBuffer
from iree_lab.hal.device import Device, File
from iree_lab.hal.executable import Executable, ExecutableExport
from iree_lab.hal.io import (
    buffer_view_from_numpy,
    format_buffer_view,
    format_results,
    parse_buffer_view,
    parse_inputs,
)
from iree_lab.hal.recorder import Recorder
from iree_lab.hal.semaphore import Fence, Semaphore
from iree_lab.hal.types import (
    BufferUsage,
    CommandBufferMode,
    CommandCategory,
    ElementType,
    EncodingType,
    MemoryAccess,
    MemoryType,
    format_element_type,
    parse_element_type,
)

__all__ = [
    "Allocator",
    "Buffer",
    "BufferBinding",
    "BufferRef",
    "BufferUsage",
    "BufferView",
    "CommandBuffer",
    "CommandBufferMode",
    "CommandCategory",
    "Device",
    "ElementType",
    "EncodingType",
    "Executable",
    "ExecutableExport",
    "Fence",
    "File",
    "MemoryAccess",
    "MemoryType",
    "Recorder",
    "Semaphore",
    "buffer_view_from_numpy",
    "format_buffer_view",
    "format_element_type",
    "format_results",
    "parse_buffer_view",
    "parse_element_type",
    "parse_inputs",
]
