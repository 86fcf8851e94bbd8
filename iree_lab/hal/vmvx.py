"""The VMVX executable loader: dispatches run as VM bytecode in a nested VM.

A ``vmvx-bytecode-fb`` executable is itself a VM module (a ``.vmfb``). Every
export is a dispatch function with the calling convention ``0rrriiiiiiiii_v``::

    (local_memory: !vm.buffer, constants: !vm.buffer, bindings: !vm.list<!vm.buffer>,
     workgroup_id_x/y/z, workgroup_size_x/y/z, workgroup_count_x/y/z: i32)

and is called once per workgroup (``hal/local/loaders/vmvx_module_loader.c``).
The executable's context links the Python ``vmvx`` module first, then the
dispatch module, like IREE's loader.
"""

from __future__ import annotations

import numpy as np

from iree_lab.errors import FormatError
from iree_lab.hal.executable import (
    LOCAL_MEMORY_PAGE_SIZE,
    DispatchState,
    Executable,
    ExecutableExport,
    ExecutableLoader,
)
from iree_lab.hal.fpu import flush_denormals
from iree_lab.hal.types import status
from iree_lab.vm.status import StatusCode, VMStatus

VMVX_FORMAT = "vmvx-bytecode-fb"
ENTRY_SIGNATURE = "0rrriiiiiiiii_v"


def _attr_u32(attrs: dict, name: str) -> int:
    # iree_string_view_atoi_uint32 on the attribute, 0 when absent or malformed.
    text = attrs.get(name, "")
    try:
        value = int(text, 0) if text else 0
    except ValueError:
        return 0
    return value & 0xFFFFFFFF


class VMVXExecutable(Executable):
    """An executable whose dispatch functions run in the iree_lab VM."""

    __slots__ = ("module", "source", "_context", "_functions", "instruction_limit", "lifted")

    def __init__(self, source, module, exports, constants, data_size):
        super().__init__(None, VMVX_FORMAT, exports, constants, data_size)
        self.source = source  # the iree_lab.format.Module of the dispatch module
        self.module = module  # the VM bytecode module
        self._context = None
        self._functions: dict[int, object] = {}
        self.instruction_limit = None
        # Dispatch functions lifted to numpy, by ordinal (None: runs in the VM).
        self.lifted: dict[int, object] = {}

    def context(self):
        """The VM context (vmvx module + dispatch module), created on first use."""
        if self._context is None:
            from iree_lab.hal.vmvx_module import create_vmvx_context

            options = self.device.dispatch_context_options if self.device is not None else {}
            self._context = create_vmvx_context(self.module, **options)
            _set_constants(self._context, self.module, self.constants)
        return self._context

    def dispatch(self, function: int, state: DispatchState, on_workgroup=None) -> None:
        from iree_lab.hal.vmvx_module import run_workgroups

        info = self.function_info(function)
        if not state.flush_denormals:
            run_workgroups(self, info, state, on_workgroup)
            return
        with flush_denormals():
            run_workgroups(self, info, state, on_workgroup)


def _set_constants(context, module, constants) -> None:
    """Calls ``__set_constants`` with the executable-level constants, if it exists."""
    from iree_lab.hal.vmvx_module import call_set_constants

    has_setter = "__set_constants" in module.exports
    if not has_setter:
        if constants:
            raise status(
                StatusCode.INVALID_ARGUMENT,
                "executable has no executable-level constants but "
                f"{len(constants)} constants were provided",
            )
        return
    if not constants:
        raise status(
            StatusCode.INVALID_ARGUMENT,
            "executable requires executable-level constants but none were provided",
        )
    call_set_constants(context, module, np.asarray(constants, dtype=np.uint32))


class VMVXLoader(ExecutableLoader):
    """Loads ``vmvx-bytecode-fb`` executables."""

    formats = (VMVX_FORMAT,)

    def try_load(self, device, executable_format: str, data, constants) -> VMVXExecutable:
        import iree_lab
        from iree_lab.vm.module import BytecodeModule

        blob = bytes(memoryview(data).cast("B"))  # private copy, like IREE's loader
        try:
            source = iree_lab.open(blob)
        except FormatError as e:
            raise status(
                StatusCode.INVALID_ARGUMENT, f"failed to load VMVX executable module: {e}"
            ) from None
        exports = []
        for ordinal, export in enumerate(source.exports):
            if export.local_name == "__set_constants":
                continue
            cconv = export.calling_convention or ""
            if cconv != ENTRY_SIGNATURE:
                raise status(
                    StatusCode.INVALID_ARGUMENT,
                    "executable entry point does not match the expected calling convention; "
                    f"expected '{ENTRY_SIGNATURE}' but got '{cconv}', possible ABI version "
                    "mismatch",
                )
            attrs = export.attrs or {}
            local_memory = _attr_u32(attrs, "local_memory")
            exports.append(ExecutableExport(
                ordinal=len(exports),
                name=export.local_name or f"export{ordinal}",
                constant_count=_attr_u32(attrs, "constant_count") & 0xFF,
                binding_count=_attr_u32(attrs, "binding_count") & 0xFF,
                # IREE keeps local memory as a uint16 page count.
                local_memory_size=((local_memory // LOCAL_MEMORY_PAGE_SIZE) & 0xFFFF)
                * LOCAL_MEMORY_PAGE_SIZE,
            ))
        try:
            module = BytecodeModule(source)
        except VMStatus:
            raise
        return VMVXExecutable(source, module, exports, constants, len(blob))
