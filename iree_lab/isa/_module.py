"""What the ISA layer reads from an ``iree_lab.format`` Module, in one place."""

from __future__ import annotations

from iree_lab.isa import decoder as D


def resolve_function(module, function) -> int:
    """Internal ordinal of a Function descriptor, ordinal or name."""
    if isinstance(function, int):
        if not 0 <= function < len(module.functions):
            raise KeyError(
                f"no internal function with ordinal {function} (module has "
                f"{len(module.functions)})"
            )
        return function
    if isinstance(function, str):
        for f in module.functions:
            if f.iree_name == function:
                return f.ordinal
        return module.function(function).ordinal
    return function.ordinal


def descriptor(module, ordinal: int):
    return module.functions[ordinal]


def function_bytes(module, descriptor, ordinal: int) -> memoryview:
    return module.function_bytecode(descriptor)


def display_name(module, ordinal: int) -> str:
    """The name IREE's tools give internal function ``ordinal`` (export, debug name, fnN)."""
    return module.functions[ordinal].iree_name


def function_cconv(module, ordinal: int) -> str | None:
    return module.functions[ordinal].calling_convention


def debug_function_name(module, ordinal: int) -> str | None:
    """IREE's runtime name of an internal function: the debug database entry at
    this *ordinal* (IREE indexes the sparse table by ordinal), None if absent."""
    db = module.debug_database
    if db is None:
        return None
    maps = db.source_maps
    if ordinal < len(maps):
        return maps[ordinal].local_name or None
    return None


def context(module) -> D.ModuleContext:
    return D.ModuleContext(
        name=module.name,
        type_count=len(module.types),
        import_count=len(module.imports),
        function_count=len(module.functions),
        rodata_count=len(module.rodata),
        rwdata_size=module.global_bytes_capacity,
        global_ref_count=module.global_ref_count,
        import_cconvs=tuple(i.calling_convention for i in module.imports),
        function_cconvs=tuple(f.calling_convention for f in module.functions),
        bytecode_major=getattr(module, "bytecode_version_major", None),
    )
