"""HAL executables and executable loaders (the interface; VMVX lives in vmvx.py).

A loader turns executable bytes of a format it supports into an
:class:`Executable`. An executable has a table of exports (its functions);
``hal.executable.lookup.function`` maps a name to the export's index, which is
the function id that ``hal.command_buffer.dispatch`` passes back.
"""

from __future__ import annotations

import abc
import dataclasses

import numpy as np

from iree_lab.hal.types import status
from iree_lab.vm.ref import RefObject, RefType
from iree_lab.vm.status import StatusCode

# ``IREE_HAL_EXECUTABLE_WORKGROUP_LOCAL_MEMORY_PAGE_SIZE``.
LOCAL_MEMORY_PAGE_SIZE = 4096


@dataclasses.dataclass(frozen=True)
class ExecutableExport:
    """One exported function of an executable (``iree_hal_executable_function_info_t``)."""

    ordinal: int
    name: str
    constant_count: int = 0
    binding_count: int = 0
    local_memory_size: int = 0
    workgroup_size: tuple[int, int, int] = (0, 0, 0)


@dataclasses.dataclass
class DispatchState:
    """What one dispatch hands every workgroup (``iree_hal_executable_dispatch_state_v0_t``).

    ``bindings`` are writable uint8 numpy views of the bound byte ranges.
    ``flush_denormals``: run with denormals flushed to zero, as command buffer
    dispatches do in IREE's local HAL; hal_loader's inline dispatches do not
    (see :mod:`iree_lab.hal.fpu`).
    """

    workgroup_count: tuple[int, int, int]
    workgroup_size: tuple[int, int, int]
    constants: np.ndarray  # uint32
    bindings: list[np.ndarray]
    local_memory_size: int = 0
    flush_denormals: bool = True
    # Workers that may run workgroups at once (``max_concurrency``): 1 inline,
    # the task system's worker count on local-task.
    max_concurrency: int = 1


class Executable(RefObject):
    """``iree_hal_executable_t``: subclasses implement :meth:`dispatch`."""

    __slots__ = ("id", "device", "format", "exports", "constants", "data_size")
    ref_type = RefType.get("hal.executable")

    def __init__(self, device, executable_format: str, exports, constants=(), data_size: int = 0,
                 executable_id: int = -1):
        self.id = executable_id
        self.device = device
        self.format = executable_format
        self.exports: tuple[ExecutableExport, ...] = tuple(exports)
        self.constants = tuple(int(c) & 0xFFFFFFFF for c in constants)
        self.data_size = data_size

    def __repr__(self) -> str:
        return f"<hal.executable #{self.id} {self.format} exports={len(self.exports)}>"

    def lookup_function(self, name: str) -> int:
        """``iree_hal_executable_lookup_function_by_name``: the function id of ``name``."""
        for export in self.exports:
            if export.name == name:
                return export.ordinal
        raise status(
            StatusCode.NOT_FOUND,
            f"no exported function with the name `{name}` found in module",
        )

    def function_info(self, function: int) -> ExecutableExport:
        if not 0 <= function < len(self.exports):
            raise status(
                StatusCode.OUT_OF_RANGE,
                f"function id {function & ((1 << 64) - 1)} out of range "
                f"(count: {len(self.exports)})",
            )
        return self.exports[function]

    def dispatch(self, function: int, state: DispatchState, on_workgroup=None) -> None:
        """Runs every workgroup of ``function`` (z, then y, then x innermost)."""
        raise status(
            StatusCode.UNIMPLEMENTED, f"executable format {self.format!r} cannot be executed"
        )


class ExecutableLoader(abc.ABC):
    """Loads executables of the formats it supports."""

    formats: tuple[str, ...] = ()

    def query_support(self, executable_format: str) -> bool:
        return executable_format in self.formats

    @abc.abstractmethod
    def try_load(self, device, executable_format: str, data, constants) -> Executable:
        """The executable for ``data`` (raises the VM status IREE's loader would)."""
