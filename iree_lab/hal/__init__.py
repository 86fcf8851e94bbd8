"""The HAL in Python: devices, buffers, command buffers, queues and executables.

Layer 4 of iree_lab (imports format, isa and vm). The objects mirror IREE's
``iree_hal_*`` types and are the ref objects the ``hal`` VM module
(:class:`HALModule`, :mod:`iree_lab.hal.module`) hands to programs;
``hal_inline``/``hal_loader`` live in :mod:`iree_lab.hal.inline`, ``io_parameters``
(parameter files) in :mod:`iree_lab.hal.parameters`. VMVX
executables run in a nested VM (:mod:`iree_lab.hal.vmvx`,
:mod:`iree_lab.hal.vmvx_module`). :mod:`iree_lab.hal.io` reads and prints
``iree-run-module`` values, :mod:`iree_lab.hal.recorder` records every
submission and :class:`Session` (:mod:`iree_lab.hal.tooling`) is what
``iree-lab run`` uses; the ``check`` module and the runner of ``iree-lab check`` are in
:mod:`iree_lab.hal.check`. Running a tensor program::

    from iree_lab import vm
    from iree_lab.hal import Recorder, Session

    user = vm.BytecodeModule.load("model.vmfb")
    session = Session.for_modules([user], recorder=Recorder())
    ctx = vm.Context(session.modules + [user])
    fn = ctx.lookup_function("predict")
    results = ctx.call_function(fn, session.parse_inputs(fn.cconv.arguments, ["4xf32=1"]))
    print(session.format_results(results, fn.cconv.results), end="")

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
from iree_lab.hal.module import HALModule, create_hal_module
from iree_lab.hal.parameters import ParameterProvider, ParametersModule
from iree_lab.hal.recorder import Recorder
from iree_lab.hal.semaphore import Fence, Semaphore
from iree_lab.hal.tooling import Session, create_device
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
    "HALModule",
    "MemoryAccess",
    "MemoryType",
    "ParameterProvider",
    "ParametersModule",
    "Recorder",
    "Semaphore",
    "Session",
    "buffer_view_from_numpy",
    "create_device",
    "create_hal_module",
    "format_buffer_view",
    "format_element_type",
    "format_results",
    "parse_buffer_view",
    "parse_element_type",
    "parse_inputs",
]
