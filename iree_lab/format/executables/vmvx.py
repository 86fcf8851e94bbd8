"""VMVX executables: the blob is itself a VM bytecode module.

Each export of the nested module is a dispatch function; the runtime's VMVX
loader reads its dispatch attributes from function reflection attributes
(``binding_count``, ``constant_count``, ``local_memory``, ``parameter_count``;
runtime/src/iree/hal/local/loaders/vmvx_module_loader.c).
"""

from __future__ import annotations

from iree_lab.errors import FormatError
from iree_lab.format.executables.model import CodeObject, Executable, ExecutableExport, Note


def read_vmvx_executable(exe: Executable) -> None:
    from iree_lab.format import open_module

    exe.code_objects.append(CodeObject(0, "vmfb", exe.data, 0))
    try:
        module = open_module(exe.data)
        exe.attributes["module"] = module
        exe.target = "vmvx"
        exports = module.exports
    except FormatError as e:
        exe.notes.append(Note(f"nested VM module: {e.what}", e.where, e.offset))
        return
    for export in exports:
        attrs = export.attrs
        item = ExecutableExport(ordinal=export.ordinal, name=export.local_name,
                                symbol=export.local_name, code_ordinal=0)
        item.binding_count = _int_attr(attrs, "binding_count", exe, export.local_name)
        item.constant_count = _int_attr(attrs, "constant_count", exe, export.local_name) or 0
        item.local_memory_size = _int_attr(attrs, "local_memory", exe, export.local_name) or 0
        item.attributes["function_ordinal"] = export.internal_ordinal
        item.attributes["calling_convention"] = export.calling_convention
        exe.exports.append(item)


def _int_attr(attrs: dict, key: str, exe: Executable, where) -> int | None:
    text = attrs.get(key)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        exe.notes.append(Note(f"reflection attribute {key}={text!r} is not an integer",
                              f"exports/{where}"))
        return None
