"""IREE's executable library tables, read statically out of a CPU ELF image.

``iree_hal_executable_library_query`` returns a pointer to an
``iree_hal_executable_library_v0_t`` (runtime/src/iree/hal/local/
executable_library.h): a header (version, name), the import table, the export
table (dispatch function pointers, attributes, names, source locations) and the
embedded source files. The runtime gets there by calling the query function;
we never run module code, so we find the table in the unrelocated image
instead: its first slot is a relocated pointer to a header whose own name slot
points at a NUL-terminated string. Every candidate is validated field by field
and every read is bounds-checked through :class:`ElfImage`.

All structs are laid out with natural alignment, so with pointer size ``p``
every library field sits at a multiple of ``p`` (the table is ``16 * p`` bytes).
"""

from __future__ import annotations

import dataclasses

from iree_lab.format.executables.elf import ElfImage
from iree_lab.format.executables.model import (
    ExecutableExport,
    Note,
    SourceFile,
    SourceLocation,
)

LOCAL_MEMORY_PAGE_SIZE = 4096  # IREE_HAL_EXECUTABLE_WORKGROUP_LOCAL_MEMORY_PAGE_SIZE


@dataclasses.dataclass(frozen=True)
class LibraryLayout:
    """``iree_hal_executable_library_v0_t`` as one library version lays it out.

    0.6 (IREE 3.7 on, 3.13's) added params/occupancy/parameter_names to the export table
    and flags + workgroup size to 64-byte dispatch attrs; 0.5 (IREE 3.0-3.6) has 72-byte
    attrs holding only local memory pages and constant/binding counts. Every field sits
    at a pointer-size multiple: header, imports {count, symbols}, exports {count, the
    ``export_fields`` pointers}, constants {count}, sources {count, files}.
    """

    version: int
    export_fields: tuple[str, ...]
    attrs_size: int  # sizeof(iree_hal_executable_dispatch_attrs_v0_t)
    attrs_have_flags: bool  # attrs start with 64-bit flags and carry workgroup sizes

    def export_field(self, name: str, p: int) -> int:
        """Offset of the export table's pointer field ``name`` (pointer size ``p``)."""
        return (4 + self.export_fields.index(name)) * p

    def constant_count(self, p: int) -> int:
        return (4 + len(self.export_fields)) * p

    def sources(self, p: int) -> int:
        return (5 + len(self.export_fields)) * p


# Newest first: a library's query answers only the version it was built for.
LIBRARY_LAYOUTS = (
    LibraryLayout(6, ("ptrs", "attrs", "params", "occupancy", "names", "tags",
                      "parameter_names", "source_locations", "stage_locations"), 64, True),
    LibraryLayout(5, ("ptrs", "attrs", "names", "tags", "source_locations",
                      "stage_locations"), 72, False),
)


def library_layout(version: int) -> LibraryLayout | None:
    return next((layout for layout in LIBRARY_LAYOUTS if layout.version == version), None)


def read_dispatch_attrs(raw: bytes, layout: LibraryLayout, order: str = "little"
                        ) -> tuple[int, int, int, int, tuple[int, int, int], int]:
    """(flags, local memory pages, constant count, binding count, workgroup size,
    parameter count) from the first 24 bytes (0.6) or 4 bytes (0.5) of one export's attrs."""
    def field(offset: int, size: int) -> int:
        return int.from_bytes(raw[offset:offset + size], order)

    if not layout.attrs_have_flags:
        return 0, field(0, 2), field(2, 1), field(3, 1), (0, 0, 0), 0
    return (field(0, 8), field(8, 2), field(10, 1), field(11, 1),
            (field(12, 4), field(16, 4), field(20, 2)), field(22, 2))
# Sanity bounds: the runtime itself caps constants/bindings far lower; these
# only stop a hostile count from driving a long loop.
MAX_EXPORTS = 1 << 16
MAX_SOURCES = 1 << 12
MAX_SOURCE_BYTES = 1 << 28
SANITIZERS = {0: None, 1: "address", 2: "memory", 3: "thread", 4: "undefined"}
DISPATCH_FLAGS = {1: "SEQUENTIAL", 2: "WORKGROUP_SIZE_DYNAMIC"}


@dataclasses.dataclass(slots=True)
class ExecutableLibrary:
    """The decoded library table of a CPU executable."""

    address: int
    version: int
    name: str | None
    features: int
    sanitizer: str | None
    imports: list[str]
    exports: list[ExecutableExport]
    constant_count: int
    source_files: list[SourceFile]


def read_executable_library(image: ElfImage, notes: list[Note]) -> ExecutableLibrary | None:
    """Finds and decodes the library table; None (with a note) when there is none."""
    if not image.ok:
        return None
    for address in _candidates(image):
        header = image.read_pointer(address)
        if header is None or not _looks_like_header(image, header):
            continue
        return _decode(image, address, header, notes)
    notes.append(Note("no iree_hal_executable_library_v0_t table found in the image",
                      "elf/library"))
    return None


def _candidates(image: ElfImage):
    """Pointer slots that may start the library table, most likely first."""
    relocs = image.relocated_pointers
    if relocs:
        yield from sorted(relocs)
        return
    # Position-dependent images carry final addresses in place: scan the
    # pointer-aligned slots of non-executable allocated sections.
    p = image.pointer_size
    budget = 1 << 20
    for s in image.sections:
        if not s.flags & 0x2 or s.is_executable or s.type == "NOBITS":
            continue
        for address in range(s.address + (-s.address % p), s.address + s.size - p + 1, p):
            budget -= 1
            if budget < 0:
                return
            yield address


def _looks_like_header(image: ElfImage, header: int) -> bool:
    p = image.pointer_size
    version = image.read_u(header, 4)
    if version is None or version > 0xFF:
        return False
    name_ptr = image.read_pointer(header + p)
    if not name_ptr:
        return False
    name = image.read_cstring(name_ptr, 4096)
    return bool(name) and name.isprintable()


def _decode(image: ElfImage, base: int, header: int, notes: list[Note]) -> ExecutableLibrary:
    p = image.pointer_size
    where = "elf/library"

    def note(what: str, address: int | None = None) -> None:
        offset = image.address_to_offset(address) if address is not None else None
        notes.append(Note(what, where, offset))

    def u32(address: int, what: str) -> int:
        value = image.read_u(address, 4)
        if value is None:
            note(f"{what} at 0x{address:x} is outside the image", address)
            return 0
        return value

    def ptr(address: int) -> int:
        value = image.read_pointer(address)
        return value or 0

    def cstring(address: int, what: str, length: int | None = None) -> str | None:
        if not address:
            return None
        if length is not None:
            raw = image.read(address, length)
            if raw is None:
                note(f"{what} at 0x{address:x} ({length} bytes) is outside the image", address)
                return None
            return raw.decode("utf-8", "replace")
        text = image.read_cstring(address)
        if text is None:
            note(f"{what} at 0x{address:x} is outside the image or unterminated", address)
        return text

    version = u32(header, "header version")
    name = cstring(ptr(header + p), "library name")
    features = u32(header + 2 * p, "header features")
    sanitizer_kind = u32(header + 2 * p + 4, "header sanitizer")
    sanitizer = SANITIZERS.get(sanitizer_kind, f"unknown({sanitizer_kind})")

    imports: list[str] = []
    import_count = u32(base + p, "import count")
    import_symbols = ptr(base + 2 * p)
    if import_count > MAX_EXPORTS:
        note(f"import count {import_count} is implausible", base + p)
        import_count = 0
    for i in range(import_count):
        text = cstring(ptr(import_symbols + i * p), f"import symbol {i}") if import_symbols \
            else None
        imports.append(text or f"import{i}")

    count = u32(base + 3 * p, "export count")
    if count > MAX_EXPORTS:
        note(f"export count {count} is implausible", base + 3 * p)
        count = 0
    layout = library_layout(version)
    if layout is None:
        note(f"library version {version} unknown; read as {LIBRARY_LAYOUTS[0].version}", header)
        layout = LIBRARY_LAYOUTS[0]
    ptrs, attrs, names, tags, src_locs, stage_locs = (
        ptr(base + layout.export_field(name, p)) for name in
        ("ptrs", "attrs", "names", "tags", "source_locations", "stage_locations"))
    exports = []
    for i in range(count):
        export = ExecutableExport(ordinal=i, name=None)
        if names:
            export.name = cstring(ptr(names + i * p), f"export {i} name")
        export.symbol = export.name
        if tags:
            tag = cstring(ptr(tags + i * p), f"export {i} tag")
            if tag:
                export.attributes["tag"] = tag
        if ptrs:
            fn = image.read_pointer(ptrs + i * p)
            if fn is None:
                note(f"export {i} function pointer is outside the image", ptrs + i * p)
            else:
                export.attributes["address"] = fn
        if attrs:
            _read_attrs(image, attrs + i * layout.attrs_size, export, note, layout)
        if src_locs:
            export.location = _read_location(image, src_locs + i * (8 + p), None, cstring, u32,
                                             ptr)
        if stage_locs:
            table = stage_locs + i * 3 * p
            n = u32(table, f"export {i} stage location count")
            if n > 256:
                note(f"export {i} stage location count {n} is implausible", table)
                n = 0
            stage_names, locations = ptr(table + p), ptr(table + 2 * p)
            for k in range(n):
                stage = cstring(ptr(stage_names + k * p), "stage name") if stage_names else None
                loc = _read_location(image, locations + k * (8 + p), stage, cstring, u32, ptr) \
                    if locations else None
                if loc is not None:
                    export.stage_locations.append(loc)
        exports.append(export)

    constant_count = u32(base + layout.constant_count(p), "constant count")

    source_files: list[SourceFile] = []
    source_count = u32(base + layout.sources(p), "source file count")
    files = ptr(base + layout.sources(p) + p)
    if source_count > MAX_SOURCES:
        note(f"source file count {source_count} is implausible", base + layout.sources(p))
        source_count = 0
    for i in range(source_count if files else 0):
        entry = files + i * 4 * p
        path_length = u32(entry, f"source file {i} path length")
        path = cstring(ptr(entry + p), f"source file {i} path", path_length) or f"source{i}"
        content_length = u32(entry + 2 * p, f"source file {i} content length")
        content_ptr = ptr(entry + 3 * p)
        content = image.read(content_ptr, content_length) if content_ptr and \
            content_length <= MAX_SOURCE_BYTES else None
        if content is None:
            note(f"source file {path!r} content is outside the image", content_ptr)
            continue
        source_files.append(SourceFile(path, content))

    return ExecutableLibrary(base, version, name, features, sanitizer, imports, exports,
                             constant_count, source_files)


def _read_attrs(image: ElfImage, address: int, export: ExecutableExport, note,
                layout: LibraryLayout) -> None:
    raw = image.read(address, 24 if layout.attrs_have_flags else 4)
    if raw is None:
        note(f"dispatch attributes of export {export.ordinal} are outside the image", address)
        return
    order = "little" if image.little_endian else "big"
    flags, pages, constants, bindings, size, params = read_dispatch_attrs(raw, layout, order)
    export.attributes["flags"] = tuple(
        name for bit, name in DISPATCH_FLAGS.items() if flags & bit
    ) + ((f"0x{flags & ~3:x}",) if flags & ~3 else ())
    export.local_memory_size = pages * LOCAL_MEMORY_PAGE_SIZE
    export.constant_count = constants
    export.binding_count = bindings
    # Zero means "not specified at compile time" (the runtime picks 1).
    export.workgroup_size = size if any(size) else None
    export.attributes["parameter_count"] = params


def _read_location(image: ElfImage, address: int, stage, cstring, u32, ptr
                   ) -> SourceLocation | None:
    line = u32(address, "source location line")
    length = u32(address + 4, "source location path length")
    path_ptr = ptr(address + 8)
    if not path_ptr:
        return None
    path = cstring(path_ptr, "source location path", length)
    if path is None:
        return None
    return SourceLocation(path, line, stage)
