"""Readers for the FlatBuffer executable containers of the GPU HAL drivers.

Vulkan (``VKE1``), CUDA (``CDA1``), HIP (``HIP1``), AMDGPU (``AMD1``), Metal
(``MTL1``) and WebGPU (``WGS1``) executables are a 64-byte
``iree_flatbuffer_file_header_t`` (magic, version, content size, reserved)
followed by a FlatBuffer with the same file identifier
(runtime/src/iree/hal/utils/executable_header.c). Tables are read with the
checked reader of :mod:`iree_lab.format.flatbuffer`; each field read that
fails becomes a :class:`Note` and the rest is still read.
"""

from __future__ import annotations

import struct

from iree_lab.errors import FormatError
from iree_lab.format.executables.model import (
    CodeObject,
    Executable,
    ExecutableExport,
    Note,
    SourceFile,
    SourceLocation,
)

HEADER_SIZE = 64
# file identifier -> (schema namespace, format name for display)
IDENTIFIERS = {
    b"VKE1": "vulkan",
    b"CDA1": "cuda",
    b"HIP1": "hip",
    b"AMD1": "amdgpu",
    b"MTL1": "metal",
    b"WGS1": "webgpu",
}
_VK_DESCRIPTOR_TYPES = {0: "SAMPLER", 6: "UNIFORM_BUFFER", 7: "STORAGE_BUFFER"}
_VK_DISPATCH_ABIS = {0: "DESCRIPTOR", 1: "BDA_V1"}
_BINDING_BITS = {
    "metal": {1: "IMMUTABLE"},
}
_DEFAULT_BINDING_BITS = {1: "READ_ONLY", 2: "INDIRECT"}


def sniff_identifier(data: bytes) -> bytes | None:
    """The container's file identifier when ``data`` starts with a known header magic."""
    magic = bytes(data[:4])
    return magic if magic in IDENTIFIERS else None


class _Reader:
    """Shared state: the executable being filled and note-taking field access."""

    def __init__(self, exe: Executable, namespace: str):
        self.exe = exe
        self.ns = namespace

    def note(self, what: str, where: str | None = None, offset: int | None = None) -> None:
        if len(self.exe.notes) < 256:
            self.exe.notes.append(Note(what, where, offset))

    def guard(self, fn, default=None, where: str | None = None):
        """Runs one checked read; a FormatError becomes a note and ``default``."""
        try:
            return fn()
        except FormatError as e:
            self.note(e.what, e.where or where, e.offset)
            return default

    def vector(self, table, name: str) -> list:
        vec = self.guard(lambda: table.vector(name), None)
        if vec is None:
            return []
        items = []
        for i in range(len(vec)):
            item = self.guard(lambda i=i: vec[i], None)
            items.append(item)
        return items

    def string(self, table, name: str) -> str | None:
        return self.guard(lambda: table.string(name)) if table is not None else None

    def string_bytes(self, table, name: str) -> bytes | None:
        return self.guard(lambda: table.string_bytes(name)) if table is not None else None

    def scalar(self, table, name: str, default=None):
        return self.guard(lambda: table.scalar(name), default) if table is not None else default

    def dims(self, table, name: str) -> tuple[int, int, int] | None:
        s = self.guard(lambda: table.struct(name)) if table is not None else None
        return None if s is None else (s.x, s.y, s.z)

    def binding_flags(self, table) -> list[tuple[str, ...]] | None:
        vec = self.guard(lambda: table.vector("binding_flags"))
        if vec is None:
            return None
        bits = _BINDING_BITS.get(self.ns, _DEFAULT_BINDING_BITS)
        out = []
        for value in vec:  # a scalar vector is checked whole on construction
            names = tuple(n for bit, n in bits.items() if value & bit)
            rest = value & ~sum(bits)
            out.append(names + ((f"0x{rest:x}",) if rest else ()))
        return out

    def debug_info(self, export: ExecutableExport, table) -> None:
        info = self.guard(lambda: table.table("debug_info")) if table is not None else None
        if info is None:
            return
        name = self.string(info, "name")
        if name:
            export.attributes["debug_name"] = name
        loc = self.guard(lambda: info.table("location"))
        export.location = self.location(loc, None)
        for stage_loc in self.vector(info, "stage_locations"):
            if stage_loc is None:
                continue
            stage = self.string(stage_loc, "stage")
            loc = self.location(self.guard(lambda s=stage_loc: s.table("location")), stage)
            if loc is not None:
                export.stage_locations.append(loc)

    def location(self, loc, stage: str | None) -> SourceLocation | None:
        if loc is None:
            return None
        path = self.string(loc, "filename")
        if path is None:
            return None
        return SourceLocation(path, self.scalar(loc, "line", 0), stage)

    def source_files(self, root) -> None:
        for i, f in enumerate(self.vector(root, "source_files")):
            if f is None:
                continue
            path = self.string(f, "path") or f"source{i}"
            content = self.guard(lambda f=f: f.vector("content"))
            if content is None:
                self.note(f"source file {path!r} has no content", "source_files")
                continue
            self.exe.source_files.append(SourceFile(path, bytes(content.memoryview())))


def read_flatbuffer_executable(exe: Executable) -> None:
    """Fills ``exe`` from a header-prefixed FlatBuffer container (notes on damage)."""
    from iree_lab.format.flatbuffer import Buffer

    data = exe.data
    identifier = sniff_identifier(data)
    if identifier is None:
        exe.notes.append(Note("unknown executable container magic", "header", 0))
        return
    exe.identifier = identifier.decode()
    namespace = IDENTIFIERS[identifier]
    if len(data) < HEADER_SIZE:
        exe.notes.append(Note(f"{len(data)}-byte blob is shorter than the 64-byte header",
                              "header", 0))
        return
    _magic, version, content_size = struct.unpack_from("<4sIQ", data, 0)
    exe.attributes["header_version"] = version
    if version != 0:
        exe.notes.append(Note(f"header version {version} (expected 0)", "header", 4))
    available = len(data) - HEADER_SIZE
    if content_size == 0 or content_size > available:
        exe.notes.append(Note(
            f"header content size {content_size} does not fit the {available} bytes after "
            "the header; reading what is there", "header", 8))
        content_size = available
    body = memoryview(data)[HEADER_SIZE:HEADER_SIZE + content_size]
    buffer = Buffer(body, base=HEADER_SIZE, name=f"{exe.identifier} executable")
    if len(body) < 8 or bytes(body[4:8]) != identifier:
        exe.notes.append(Note(
            f"FlatBuffer file identifier is {bytes(body[4:8])!r}, expected {identifier!r}",
            "header", HEADER_SIZE + 4))
    reader = _Reader(exe, namespace)
    root = reader.guard(lambda: buffer.root(f"iree.hal.{namespace}.ExecutableDef"))
    if root is None:
        return
    {
        "vulkan": _read_vulkan,
        "cuda": _read_cuda_like,
        "hip": _read_cuda_like,
        "amdgpu": _read_amdgpu,
        "metal": _read_metal,
        "webgpu": _read_webgpu,
    }[namespace](reader, root)
    reader.source_files(root)


def _export(reader: _Reader, ordinal: int, table, symbol: str | None) -> ExecutableExport:
    export = ExecutableExport(ordinal=ordinal, name=symbol, symbol=symbol)
    reader.debug_info(export, table)
    return export


def _read_vulkan(r: _Reader, root) -> None:
    set_layouts = []
    for layout in r.vector(root, "descriptor_set_layouts"):
        bindings = []
        for b in (r.vector(layout, "bindings") if layout is not None else []):
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
    for layout in r.vector(root, "pipeline_layouts"):
        if layout is None:
            pipeline_layouts.append(None)
            continue
        ordinals = r.guard(lambda lay=layout: lay.vector("descriptor_set_layout_ordinals"))
        ranges = r.guard(lambda lay=layout: lay.vector("push_constant_ranges"))
        pipeline_layouts.append({
            "descriptor_set_layout_ordinals": list(ordinals) if ordinals is not None else [],
            "push_constant_ranges": [(c.stage_flags, c.offset, c.size) for c in ranges]
            if ranges is not None else [],
        })
    r.exe.attributes["descriptor_set_layouts"] = set_layouts
    r.exe.attributes["pipeline_layouts"] = pipeline_layouts

    for i, p in enumerate(r.vector(root, "pipelines")):
        if p is None:
            r.exe.exports.append(ExecutableExport(ordinal=i, name=None))
            continue
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
        else:
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
        bda = r.guard(lambda p=p: p.table("bda_dispatch_layout"))
        if bda is not None:
            export.constant_count = r.scalar(bda, "constant_count", 0)
            export.binding_count = r.scalar(bda, "binding_count", 0)
            export.attributes["bda_dispatch_layout"] = {
                f: r.scalar(bda, f) for f in (
                    "abi_version", "root_push_constant_offset", "root_push_constant_length",
                    "constant_push_constant_offset", "binding_table_entry_type")
            }
        r.exe.exports.append(export)

    for i, module in enumerate(r.vector(root, "shader_modules")):
        code = r.guard(lambda m=module: m.vector("spirv_code")) if module is not None else None
        if code is None:
            r.note(f"shader module {i} has no SPIR-V code", f"shader_modules[{i}]")
            continue
        r.exe.code_objects.append(CodeObject(i, "spirv", bytes(code.memoryview()),
                                             code.file_offset))


def _read_cuda_like(r: _Reader, root) -> None:
    image_field = "ptx_image" if r.ns == "cuda" else "hsaco_image"
    for i, e in enumerate(r.vector(root, "exports")):
        if e is None:
            r.exe.exports.append(ExecutableExport(ordinal=i, name=None))
            continue
        export = _export(r, i, e, r.string(e, "kernel_name"))
        export.code_ordinal = r.scalar(e, "module_ordinal", 0)
        export.workgroup_size = r.dims(e, "block_dims")
        export.local_memory_size = r.scalar(e, "block_shared_memory_size", 0)
        export.constant_count = r.scalar(e, "constant_count", 0)
        export.binding_flags = r.binding_flags(e)
        export.binding_count = len(export.binding_flags) if export.binding_flags is not None \
            else 0
        r.exe.exports.append(export)
    for i, module in enumerate(r.vector(root, "modules")):
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
    for i, e in enumerate(r.vector(root, "exports")):
        if e is None:
            r.exe.exports.append(ExecutableExport(ordinal=i, name=None))
            continue
        symbol = r.string(e, "symbol_name")
        export = _export(r, i, e, symbol)
        # The HSA symbol carries a `.kd` suffix; the HAL export name does not.
        export.name = export.attributes.get("debug_name") or (
            symbol[:-3] if symbol and symbol.endswith(".kd") else symbol)
        export.code_ordinal = 0
        export.workgroup_size = r.dims(e, "workgroup_size")
        export.constant_count = r.scalar(e, "constant_count", 0)
        export.binding_flags = r.binding_flags(e)
        export.binding_count = len(export.binding_flags) if export.binding_flags is not None \
            else 0
        r.exe.exports.append(export)
    for i, module in enumerate(r.vector(root, "modules")):
        image = r.string_bytes(module, "image")
        if image is None:
            r.note(f"module {i} has no image", f"modules[{i}]")
            continue
        r.exe.code_objects.append(CodeObject(i, "hsaco", image))


def _read_metal(r: _Reader, root) -> None:
    for i, p in enumerate(r.vector(root, "pipelines")):
        if p is None:
            r.exe.exports.append(ExecutableExport(ordinal=i, name=None))
            continue
        export = _export(r, i, p, r.string(p, "entry_point"))
        # `name` is the un-rewritten HAL export name used for lookups.
        export.name = r.string(p, "name") or export.attributes.get("debug_name") or \
            export.symbol
        export.code_ordinal = r.scalar(p, "library_ordinal", 0)
        export.workgroup_size = r.dims(p, "threadgroup_size")
        export.constant_count = r.scalar(p, "constant_count", 0)
        export.binding_flags = r.binding_flags(p)
        export.binding_count = len(export.binding_flags) if export.binding_flags is not None \
            else 0
        max_threads = r.scalar(p, "max_threads_per_threadgroup", 0)
        if max_threads:
            export.attributes["max_threads_per_threadgroup"] = max_threads
        export.attributes["threadgroup_size_aligned"] = r.scalar(
            p, "threadgroup_size_aligned", False)
        r.exe.exports.append(export)
    for i, library in enumerate(r.vector(root, "libraries")):
        if library is None:
            continue
        source = r.guard(lambda lib=library: lib.table("source"))
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
    for i, e in enumerate(r.vector(root, "exports")):
        if e is None:
            r.exe.exports.append(ExecutableExport(ordinal=i, name=None))
            continue
        export = _export(r, i, e, r.string(e, "entry_point"))
        export.name = export.attributes.get("debug_name") or export.symbol
        export.code_ordinal = r.scalar(e, "shader_module_ordinal", 0)
        export.workgroup_size = r.dims(e, "workgroup_size")
        export.constant_count = r.scalar(e, "constant_count", 0)
        export.binding_flags = r.binding_flags(e)
        export.binding_count = len(export.binding_flags) if export.binding_flags is not None \
            else 0
        r.exe.exports.append(export)
    for i, module in enumerate(r.vector(root, "shader_modules")):
        source = r.string_bytes(module, "wgsl_source")
        if source is None:
            r.note(f"shader module {i} has no WGSL source", f"shader_modules[{i}]")
            continue
        attrs = {}
        source_map = r.string(module, "source_map")
        if source_map:
            attrs["source_map"] = source_map
        r.exe.code_objects.append(CodeObject(i, "wgsl", source, attributes=attrs))
