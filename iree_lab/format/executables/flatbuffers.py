"""Readers for the FlatBuffer executable containers of the GPU HAL drivers.

Vulkan (``VKE1``), CUDA (``CDA1``), HIP (``HIP1``), AMDGPU (``AMD1``), Metal
(``MTL1``) and WebGPU (``WGS1``) executables are IREE's 64-byte executable
header followed by a FlatBuffer with the same file identifier
(runtime/src/iree/hal/utils/executable_header.c). The format layer checks
the header and verifies the FlatBuffer like the HAL drivers do
(:func:`~iree_lab.format.flatbuffer.open_executable_root`) and its
:class:`~iree_lab.format.flatbuffer.Lenient` reads go on past damage: every
problem becomes a :class:`Note` and the rest is still read.
"""

from __future__ import annotations

from iree_lab.errors import FormatError
from iree_lab.format.executables.model import (
    CodeObject,
    Executable,
    ExecutableExport,
    Note,
    SourceFile,
    SourceLocation,
)
from iree_lab.format.flatbuffer import (
    EXECUTABLE_HEADER,
    Lenient,
    open_root,
    read_executable_header,
)
from iree_lab.format.generated.layouts import SCHEMAS

# file identifier -> HAL driver, from the schemas named ``<driver>_executable_def``.
IDENTIFIERS = {
    info["file_identifier"].encode(): schema.removesuffix("_executable_def")
    for schema, info in SCHEMAS.items() if schema.endswith("_executable_def")
}
_VK_DESCRIPTOR_TYPES = {0: "SAMPLER", 6: "UNIFORM_BUFFER", 7: "STORAGE_BUFFER"}
_VK_DISPATCH_ABIS = {0: "DESCRIPTOR", 1: "BDA_V1"}
_BINDING_BITS = {
    "metal": {1: "IMMUTABLE"},
}
_DEFAULT_BINDING_BITS = {1: "READ_ONLY", 2: "INDIRECT"}
MAX_NOTES = 256


def sniff_identifier(data: bytes) -> bytes | None:
    """The container's file identifier when ``data`` starts with a known header magic."""
    magic = bytes(data[:4])
    return magic if magic in IDENTIFIERS else None


class _Reader(Lenient):
    """Lenient reads that note their damage on the executable being filled."""

    __slots__ = ("exe", "ns")

    def __init__(self, exe: Executable, driver: str):
        super().__init__(self.report_error, len(exe.data))
        self.exe = exe
        self.ns = driver

    def note(self, what: str, where: str | None = None, offset: int | None = None) -> None:
        if len(self.exe.notes) < MAX_NOTES:
            self.exe.notes.append(Note(what, where, offset))

    def report_error(self, e: FormatError) -> None:
        self.note(e.what, e.where, e.offset)

    def export_tables(self, root, name: str):
        """(ordinal, table) of each export table that reads; one that does not still
        takes its ordinal, as an export without a name."""
        for i, table in enumerate(self.elements(root, name)):
            if table is None:
                self.exe.exports.append(ExecutableExport(ordinal=i, name=None))
            else:
                yield i, table

    def dims(self, table, name: str) -> tuple[int, int, int] | None:
        s = self.struct(table, name)
        return None if s is None else (s.x, s.y, s.z)

    def binding_flags(self, table) -> list[tuple[str, ...]] | None:
        values = self.values(table, "binding_flags")
        if values is None:
            return None
        bits = _BINDING_BITS.get(self.ns, _DEFAULT_BINDING_BITS)
        out = []
        for value in values:
            names = tuple(n for bit, n in bits.items() if value & bit)
            rest = value & ~sum(bits)
            out.append(names + ((f"0x{rest:x}",) if rest else ()))
        return out

    def debug_info(self, export: ExecutableExport, table) -> None:
        info = self.table(table, "debug_info")
        if info is None:
            return
        name = self.string(info, "name")
        if name:
            export.attributes["debug_name"] = name
        export.location = self.location(self.table(info, "location"), None)
        for stage_loc in self.elements(info, "stage_locations"):
            if stage_loc is None:
                continue
            stage = self.string(stage_loc, "stage")
            loc = self.location(self.table(stage_loc, "location"), stage)
            if loc is not None:
                export.stage_locations.append(loc)

    def location(self, loc, stage: str | None) -> SourceLocation | None:
        path = self.string(loc, "filename")
        if path is None:
            return None
        return SourceLocation(path, self.scalar(loc, "line", 0), stage)

    def source_files(self, root) -> None:
        for i, f in enumerate(self.elements(root, "source_files")):
            if f is None:
                continue
            path = self.string(f, "path") or f"source{i}"
            content = self.vector(f, "content")
            if content is None:
                self.note(f"source file {path!r} has no content", "source_files")
                continue
            self.exe.source_files.append(SourceFile(path, bytes(content.memoryview())))


def read_flatbuffer_executable(exe: Executable) -> None:
    """Fills ``exe`` from a header-prefixed FlatBuffer container (notes on damage)."""
    identifier = sniff_identifier(exe.data)
    if identifier is None:
        exe.notes.append(Note("unknown executable container magic", "header", 0))
        return
    exe.identifier = identifier.decode()
    driver = IDENTIFIERS[identifier]
    schema = f"{driver}_executable_def"
    name = f"{exe.identifier} executable"
    reader = _Reader(exe, driver)
    header = read_executable_header(exe.data, schema, name=name, report=reader.report)
    if header is None:
        return
    exe.attributes["header_version"] = header.version
    root = open_root(header.body, schema, base=EXECUTABLE_HEADER.size, name=name,
                     report=reader.report)
    if root is None:
        return
    {
        "vulkan": _read_vulkan,
        "cuda": _read_cuda_like,
        "hip": _read_cuda_like,
        "amdgpu": _read_amdgpu,
        "metal": _read_metal,
        "webgpu": _read_webgpu,
    }[driver](reader, root)
    reader.source_files(root)


def _export(reader: _Reader, ordinal: int, table, symbol: str | None) -> ExecutableExport:
    export = ExecutableExport(ordinal=ordinal, name=symbol, symbol=symbol)
    reader.debug_info(export, table)
    return export


def _dispatch_layout(r: _Reader, export: ExecutableExport, table, size_field: str) -> None:
    """What CUDA, HIP, AMDGPU, Metal and WebGPU exports all declare for a dispatch."""
    export.workgroup_size = r.dims(table, size_field)
    export.constant_count = r.scalar(table, "constant_count", 0)
    export.binding_flags = r.binding_flags(table)
    export.binding_count = len(export.binding_flags) if export.binding_flags is not None \
        else 0


def _read_vulkan(r: _Reader, root) -> None:
    set_layouts = []
    for layout in r.elements(root, "descriptor_set_layouts"):
        bindings = []
        for b in r.elements(layout, "bindings"):
            if b is None:
                continue
            bindings.append({
                "binding": r.scalar(b, "binding", 0),
                "descriptor_type": _VK_DESCRIPTOR_TYPES.get(
                    r.scalar(b, "descriptor_type", 0), str(r.scalar(b, "descriptor_type", 0))),
                "descriptor_count": r.scalar(b, "descriptor_count", 0),
                "stage_flags": r.scalar(b, "stage_flags", 0),
            })
        set_layouts.append(bindings)
    pipeline_layouts = []
    for layout in r.elements(root, "pipeline_layouts"):
        if layout is None:
            pipeline_layouts.append(None)
            continue
        ordinals = r.values(layout, "descriptor_set_layout_ordinals")
        ranges = r.values(layout, "push_constant_ranges")
        pipeline_layouts.append({
            "descriptor_set_layout_ordinals": ordinals if ordinals is not None else [],
            "push_constant_ranges": [(c.stage_flags, c.offset, c.size) for c in ranges]
            if ranges is not None else [],
        })
    r.exe.attributes["descriptor_set_layouts"] = set_layouts
    r.exe.attributes["pipeline_layouts"] = pipeline_layouts
    # What listing a pipeline layout's bindings costs: pipelines may share layouts that
    # share set layouts, so the listings are charged to the read budget (see Lenient).
    expansion = [0 if layout is None else sum(
        1 + (len(set_layouts[o]) if o < len(set_layouts) else 0)
        for o in layout["descriptor_set_layout_ordinals"]) for layout in pipeline_layouts]

    for i, p in r.export_tables(root, "pipelines"):
        export = _export(r, i, p, r.string(p, "entry_point"))
        export.name = export.attributes.get("debug_name") or export.symbol
        export.code_ordinal = r.scalar(p, "shader_module_ordinal", 0)
        subgroup = r.scalar(p, "subgroup_size", 0)
        export.subgroup_size = subgroup or None
        abi = r.scalar(p, "dispatch_abi", 0)
        export.attributes["dispatch_abi"] = _VK_DISPATCH_ABIS.get(abi, str(abi))
        layout_ordinal = r.scalar(p, "pipeline_layout_ordinal", 0)
        export.attributes["pipeline_layout_ordinal"] = layout_ordinal
        layout = pipeline_layouts[layout_ordinal] if layout_ordinal < len(pipeline_layouts) \
            else None
        if layout is None:
            r.note(f"pipeline {i} names missing pipeline layout {layout_ordinal}",
                   f"pipelines[{i}]")
        elif r.spend(expansion[layout_ordinal]):
            bindings = []
            for set_ordinal in layout["descriptor_set_layout_ordinals"]:
                if set_ordinal < len(set_layouts):
                    bindings.extend(set_layouts[set_ordinal])
                else:
                    r.note(f"pipeline layout {layout_ordinal} names missing descriptor set "
                           f"layout {set_ordinal}", f"pipeline_layouts[{layout_ordinal}]")
            export.binding_count = len(bindings)
            export.attributes["bindings"] = bindings
            export.constant_count = sum(size for _, _, size in layout["push_constant_ranges"]) \
                // 4
        bda = r.table(p, "bda_dispatch_layout")
        if bda is not None:
            export.constant_count = r.scalar(bda, "constant_count", 0)
            export.binding_count = r.scalar(bda, "binding_count", 0)
            export.attributes["bda_dispatch_layout"] = {
                f: r.scalar(bda, f) for f in (
                    "abi_version", "root_push_constant_offset", "root_push_constant_length",
                    "constant_push_constant_offset", "binding_table_entry_type")
            }
        r.exe.exports.append(export)

    for i, module in enumerate(r.elements(root, "shader_modules")):
        code = r.vector(module, "spirv_code")
        if code is None:
            r.note(f"shader module {i} has no SPIR-V code", f"shader_modules[{i}]")
            continue
        r.exe.code_objects.append(CodeObject(i, "spirv", bytes(code.memoryview()),
                                             code.file_offset))


def _read_cuda_like(r: _Reader, root) -> None:
    image_field = "ptx_image" if r.ns == "cuda" else "hsaco_image"
    for i, e in r.export_tables(root, "exports"):
        export = _export(r, i, e, r.string(e, "kernel_name"))
        export.code_ordinal = r.scalar(e, "module_ordinal", 0)
        _dispatch_layout(r, export, e, "block_dims")
        export.local_memory_size = r.scalar(e, "block_shared_memory_size", 0)
        r.exe.exports.append(export)
    for i, module in enumerate(r.elements(root, "modules")):
        image = r.string_bytes(module, image_field)
        if image is None:
            r.note(f"module {i} has no {image_field}", f"modules[{i}]")
            continue
        kind = "ptx" if r.ns == "cuda" else "hsaco"
        if kind == "ptx" and image[:4] == b"\x7fELF":
            kind = "cubin"  # --iree-cuda-use-ptxas embeds a CUBIN instead of PTX
        r.exe.code_objects.append(CodeObject(i, kind, image))


def _read_amdgpu(r: _Reader, root) -> None:
    r.exe.target = r.string(root, "isa")
    for i, e in r.export_tables(root, "exports"):
        symbol = r.string(e, "symbol_name")
        export = _export(r, i, e, symbol)
        # The HSA symbol carries a `.kd` suffix; the HAL export name does not.
        export.name = export.attributes.get("debug_name") or (
            symbol[:-3] if symbol and symbol.endswith(".kd") else symbol)
        export.code_ordinal = 0
        _dispatch_layout(r, export, e, "workgroup_size")
        r.exe.exports.append(export)
    for i, module in enumerate(r.elements(root, "modules")):
        image = r.string_bytes(module, "image")
        if image is None:
            r.note(f"module {i} has no image", f"modules[{i}]")
            continue
        r.exe.code_objects.append(CodeObject(i, "hsaco", image))


def _read_metal(r: _Reader, root) -> None:
    for i, p in r.export_tables(root, "pipelines"):
        export = _export(r, i, p, r.string(p, "entry_point"))
        # `name` is the un-rewritten HAL export name used for lookups.
        export.name = r.string(p, "name") or export.attributes.get("debug_name") or \
            export.symbol
        export.code_ordinal = r.scalar(p, "library_ordinal", 0)
        _dispatch_layout(r, export, p, "threadgroup_size")
        max_threads = r.scalar(p, "max_threads_per_threadgroup", 0)
        if max_threads:
            export.attributes["max_threads_per_threadgroup"] = max_threads
        export.attributes["threadgroup_size_aligned"] = r.scalar(
            p, "threadgroup_size_aligned", False)
        r.exe.exports.append(export)
    for i, library in enumerate(r.elements(root, "libraries")):
        if library is None:
            continue
        source = r.table(library, "source")
        if source is not None:
            code = r.string_bytes(source, "code")
            if code is not None:
                version = r.scalar(source, "version", 0)
                attrs = {"language_version": _msl_version(version)} if version else {}
                r.exe.code_objects.append(CodeObject(i, "msl", code, attributes=attrs))
        metallib = r.string_bytes(library, "metallib")
        if metallib is not None:
            r.exe.code_objects.append(CodeObject(i, "metallib", metallib))
        symbols = r.string_bytes(library, "metallibsym")
        if symbols is not None:
            r.exe.code_objects.append(CodeObject(i, "metallibsym", symbols))


def _msl_version(value: int) -> str:
    # MTLLanguageVersion packs major << 16 | minor.
    return f"{value >> 16}.{value & 0xFFFF}"


def _read_webgpu(r: _Reader, root) -> None:
    for i, e in r.export_tables(root, "exports"):
        export = _export(r, i, e, r.string(e, "entry_point"))
        export.name = export.attributes.get("debug_name") or export.symbol
        export.code_ordinal = r.scalar(e, "shader_module_ordinal", 0)
        _dispatch_layout(r, export, e, "workgroup_size")
        r.exe.exports.append(export)
    for i, module in enumerate(r.elements(root, "shader_modules")):
        source = r.string_bytes(module, "wgsl_source")
        if source is None:
            r.note(f"shader module {i} has no WGSL source", f"shader_modules[{i}]")
            continue
        attrs = {}
        source_map = r.string(module, "source_map")
        if source_map:
            attrs["source_map"] = source_map
        r.exe.code_objects.append(CodeObject(i, "wgsl", source, attributes=attrs))
