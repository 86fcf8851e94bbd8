"""ELF executables: CPU libraries (``embedded-elf-*``, ``system-elf-*``) and raw HSACO.

A CPU library's exports come from IREE's library table (see library.py),
whose function pointers give each dispatch's code address; sizes come from
symbols when the image has them (system ELFs) and otherwise run up to the
next known function start. An AMDGPU image (``rocm-hsaco-fb`` with the raw
HSACO container type) describes its kernels in an ``NT_AMDGPU_METADATA`` note.
"""

from __future__ import annotations

from iree_lab.format.executables.elf import EM_AMDGPU, ElfImage
from iree_lab.format.executables.model import CodeObject, Executable, ExecutableExport, Note

NT_AMDGPU_METADATA = 32


def read_elf_executable(exe: Executable) -> None:
    image = ElfImage(exe.data, where="elf")
    exe.code_objects.append(CodeObject(0, "elf", exe.data, 0))
    exe.attributes["elf"] = image
    if not image.ok:
        exe.notes.extend(image.notes)
        return
    exe.target = image.machine_name
    if image.machine == EM_AMDGPU:
        exe.code_objects[0].kind = "hsaco"
        _read_hsaco_exports(exe, image)
    else:
        _read_cpu_library(exe, image)
    exe.notes.extend(image.notes)


def _read_cpu_library(exe: Executable, image: ElfImage) -> None:
    from iree_lab.format.executables.library import read_executable_library

    library = read_executable_library(image, exe.notes)
    if library is None:
        return
    exe.attributes["library"] = {
        "name": library.name,
        "version": library.version,
        "features": library.features,
        "sanitizer": library.sanitizer,
        "imports": library.imports,
        "constant_count": library.constant_count,
        "address": library.address,
    }
    exe.source_files.extend(library.source_files)
    by_address = {f.address: f for f in image.functions()}
    starts = [e.attributes["address"] for e in library.exports if "address" in e.attributes]
    starts += list(by_address)
    query = image.symbol("iree_hal_executable_library_query")
    if query is not None:
        starts.append(query.value)
    for export in library.exports:
        export.code_ordinal = 0
        address = export.attributes.get("address")
        if address is not None:
            fn = by_address.get(address)
            export.attributes["size"] = fn.size if fn is not None else \
                image.extent_from(address, starts)
            if fn is not None and fn.name != export.name:
                export.attributes["elf_symbol"] = fn.name
        exe.exports.append(export)


def amdgpu_kernels(data: bytes, where: str = "hsaco") -> tuple[list[dict], list[Note]]:
    """Kernel descriptions (``amdhsa.kernels``) from an HSACO image's metadata note."""
    image = ElfImage(data, where=where)
    return _kernels(image), list(image.notes)


def _unpack_metadata(data: bytes):
    """The first MessagePack value of ``data`` (the AMDGPU metadata note).

    Bounded by the note's size: it lies inside the image, and no string, blob,
    array, map or extension may claim more than its bytes (msgpack's limits), so
    damaged counts fail instead of allocating. Raises ValueError when malformed.
    """
    import msgpack

    data = bytes(data)
    n = len(data)
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=False, max_str_len=n,
                               max_bin_len=n, max_array_len=n, max_map_len=n, max_ext_len=n)
    except msgpack.ExtraData as e:  # padding after the value: keep the value
        return e.unpacked
    except (msgpack.UnpackException, ValueError, TypeError) as e:
        # UnpackValueError, FormatError, StackError (nesting), truncated data,
        # invalid UTF-8, unhashable map keys.
        raise ValueError(str(e) or type(e).__name__) from None


def _kernels(image: ElfImage) -> list[dict]:
    for note in image.elf_notes:
        if note.owner != "AMDGPU" or note.type != NT_AMDGPU_METADATA:
            continue
        if len(note.description) > len(image.data):
            image.notes.append(Note("AMDGPU metadata note overruns the image", image.where))
            return []
        try:
            metadata = _unpack_metadata(note.description)
        except ValueError as e:
            image.notes.append(Note(f"AMDGPU metadata is malformed: {e}", image.where))
            return []
        if not isinstance(metadata, dict):
            image.notes.append(Note("AMDGPU metadata is not a map", image.where))
            return []
        kernels = metadata.get("amdhsa.kernels")
        if not isinstance(kernels, list):
            return []
        return [k for k in kernels if isinstance(k, dict)]
    return []


def _read_hsaco_exports(exe: Executable, image: ElfImage) -> None:
    kernels = _kernels(image)
    exe.code_objects[0].attributes["kernels"] = kernels
    for i, k in enumerate(kernels):
        name = k.get(".name") if isinstance(k.get(".name"), str) else None
        symbol = k.get(".symbol") if isinstance(k.get(".symbol"), str) else name
        export = ExecutableExport(ordinal=i, name=name, symbol=symbol, code_ordinal=0)
        size = k.get(".reqd_workgroup_size")
        if isinstance(size, list) and len(size) == 3 and all(isinstance(v, int) for v in size):
            export.workgroup_size = tuple(size)
        args = k.get(".args")
        if isinstance(args, list):
            export.binding_count = sum(
                1 for a in args if isinstance(a, dict) and a.get(".value_kind") == "global_buffer")
        local = k.get(".group_segment_fixed_size")
        if isinstance(local, int):
            export.local_memory_size = local
        apply_kernel_metadata(export, k)
        exe.exports.append(export)


def apply_kernel_metadata(export: ExecutableExport, kernel: dict) -> None:
    """Copies register counts, segment sizes and the wavefront size onto ``export``."""
    for key in (".sgpr_count", ".vgpr_count", ".agpr_count", ".sgpr_spill_count",
                ".vgpr_spill_count", ".group_segment_fixed_size",
                ".private_segment_fixed_size", ".kernarg_segment_size",
                ".max_flat_workgroup_size", ".wavefront_size"):
        if key in kernel:
            export.attributes[key.lstrip(".")] = kernel[key]
    if export.subgroup_size is None and isinstance(kernel.get(".wavefront_size"), int):
        export.subgroup_size = kernel[".wavefront_size"]
