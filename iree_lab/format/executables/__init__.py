"""HAL executable containers: every format a module can hand to ``hal.executable.create``.

Entry points:

* :func:`parse_executable` (lenient): never raises; damage is recorded in
  ``Executable.notes`` and whatever could be read is returned.
* :func:`open_executable` (strict): the same, but raises
  :class:`~iree_lab.errors.FormatError` (and only that) when anything is damaged.

The container is recognised from its bytes (the format string only names it
when the bytes do not): a 64-byte-header FlatBuffer (Vulkan/SPIR-V, CUDA/PTX,
HIP and AMDGPU/HSACO, Metal/MSL, WebGPU/WGSL), an ELF image (CPU libraries,
embedded or system; raw HSACO), a VM bytecode module (VMVX, ZIP-wrapped or
bare), or unknown (kept as bytes for a hex view).
"""

from __future__ import annotations

from iree_lab.errors import FormatError
from iree_lab.format.container import FILE_IDENTIFIER
from iree_lab.format.executables.flatbuffers import (
    IDENTIFIERS,
    read_flatbuffer_executable,
    sniff_identifier,
)
from iree_lab.format.executables.model import (
    CodeObject,
    Executable,
    ExecutableExport,
    Note,
    SourceFile,
    SourceLocation,
)

__all__ = [
    "CodeObject",
    "Executable",
    "ExecutableExport",
    "Note",
    "SourceFile",
    "SourceLocation",
    "open_executable",
    "parse_executable",
    "sniff_container",
]

_ELF_MAGIC = b"\x7fELF"
_ZIP_MAGIC = b"PK\x03\x04"


def sniff_container(data) -> str:
    """``flatbuffer``, ``elf``, ``vmfb`` or ``unknown``, from the leading bytes."""
    head = bytes(data[:8])
    if sniff_identifier(head) is not None:
        return "flatbuffer"
    if head[:4] == _ELF_MAGIC:
        return "elf"
    # A ZIP-wrapped vmfb, or a bare size-prefixed VM FlatBuffer ("IREE" at +8).
    if head[:4] == _ZIP_MAGIC or bytes(data[8:12]) == FILE_IDENTIFIER:
        return "vmfb"
    return "unknown"


def parse_executable(data, format: str | None = None) -> Executable:  # noqa: A002
    """Parses an executable blob; never raises (see ``Executable.notes``)."""
    blob = bytes(data)
    exe = Executable(data=blob, format=format, container=sniff_container(blob))
    try:
        if exe.container == "flatbuffer":
            read_flatbuffer_executable(exe)
            _describe_hsaco_code(exe)
            _describe_spirv_code(exe)
        elif exe.container == "elf":
            from iree_lab.format.executables.cpu import read_elf_executable

            read_elf_executable(exe)
        elif exe.container == "vmfb":
            from iree_lab.format.executables.vmvx import read_vmvx_executable

            read_vmvx_executable(exe)
        else:
            exe.code_objects.append(CodeObject(0, "unknown", blob, 0))
            if format is not None:
                exe.notes.append(Note(f"unrecognised container for format {format!r}",
                                      "header", 0))
    except FormatError as e:
        exe.notes.append(Note(e.what, e.where, e.offset))
    except RecursionError:  # defensive: no reader recurses on data
        exe.notes.append(Note("container nesting too deep", None, None))
    return exe


def open_executable(data, format: str | None = None) -> Executable:  # noqa: A002
    """Like :func:`parse_executable` but raises FormatError on any damage."""
    exe = parse_executable(data, format)
    if exe.notes:
        first = exe.notes[0]
        more = f" (+{len(exe.notes) - 1} more)" if len(exe.notes) > 1 else ""
        raise FormatError(first.what + more, offset=first.offset,
                          where=f"executable/{first.where}" if first.where else "executable")
    return exe


def _describe_hsaco_code(exe: Executable) -> None:
    """Adds AMDGPU kernel metadata from embedded HSACO images to the exports."""
    hsaco = [c for c in exe.code_objects if c.kind == "hsaco"]
    if not hsaco:
        return
    from iree_lab.format.executables.cpu import amdgpu_kernels, apply_kernel_metadata

    by_symbol = {}
    for code in hsaco:
        kernels, notes = amdgpu_kernels(code.data, where=f"code_objects[{code.ordinal}]")
        exe.notes.extend(notes)
        code.attributes["kernels"] = kernels
        for k in kernels:
            by_symbol[(code.ordinal, k.get(".name"))] = k
            by_symbol[(code.ordinal, k.get(".symbol"))] = k
    for export in exe.exports:
        k = by_symbol.get((export.code_ordinal or 0, export.symbol))
        if k is not None:
            apply_kernel_metadata(export, k)


def _describe_spirv_code(exe: Executable) -> None:
    """Adds workgroup (LocalSize) and subgroup sizes from SPIR-V entry points."""
    modules = {}
    for code in exe.code_objects:
        if code.kind == "spirv":
            from iree_lab.format.executables.spirv import SpirvModule

            module = SpirvModule(code.data, where=f"code_objects[{code.ordinal}]")
            exe.notes.extend(module.notes)
            modules[code.ordinal] = module
    for export in exe.exports:
        module = modules.get(export.code_ordinal)
        if module is None or export.symbol is None:
            continue
        if module.entry_point(export.symbol) is None:
            exe.notes.append(Note(f"entry point {export.symbol!r} is not in shader module "
                                  f"{export.code_ordinal}", f"pipelines[{export.ordinal}]"))
            continue
        export.workgroup_size = module.local_size(export.symbol)
        if export.subgroup_size is None:
            export.subgroup_size = module.subgroup_size(export.symbol)


def identifiers() -> dict[bytes, str]:
    """The known FlatBuffer container identifiers and their driver names."""
    return dict(IDENTIFIERS)
