"""The VM bytecode module object model: a lazy view over a module file.

Names follow the schema (schemas/bytecode_module_def.fbs). Nothing is read
until touched; every property is computed once. Rodata bytes stay in the
file (mmap) until ``RodataSegment.data`` is used, and even then they are a
memoryview, not a copy.
"""

from __future__ import annotations

import enum
import functools

from iree_lab.errors import FormatError
from iree_lab.format._record import Record
from iree_lab.format.container import Container, map_source
from iree_lab.format.debug_database import DebugDatabase, FunctionSourceMap
from iree_lab.format.flatbuffer import Table

ROOT_TYPE = "iree.vm.BytecodeModuleDef"
FILE_IDENTIFIER = b"IREE"
# The bytecode this reader (and IREE 3.13's runtime) supports: 17.0, older minors allowed.
BYTECODE_VERSION_MAJOR = 17
BYTECODE_VERSION_MINOR = 0
# Bytecode versions iree_lab reads (major -> newest minor), each with its release's
# rules: 15.0 (IREE 3.0-3.9), 16.0 (3.10), 17.0 (3.11 on).
SUPPORTED_BYTECODE_VERSIONS = {15: 0, 16: 0, 17: 0}
_RELEASES_OF_MAJOR = {15: "IREE 3.0-3.9", 16: "IREE 3.10", 17: "IREE 3.11 and later"}
# Largest register counts a function may declare (IREE_VM_ISA_*_REGISTER_COUNT).
I32_REGISTER_COUNT = 0x7FFF
REF_REGISTER_COUNT = 0x3FFF


class FeatureBits(enum.IntFlag):
    """Runtime features a module or function requires (``iree.vm.FeatureBits``)."""

    EXT_F32 = 1 << 0
    EXT_F64 = 1 << 1
    YIELD = 1 << 2
    UNWIND = 1 << 3


# ImportFlagBits / ModuleDependencyFlagBits.
FLAG_REQUIRED = 1 << 0
FLAG_OPTIONAL = 1 << 1


def cconv_fragments(calling_convention: str | None) -> tuple[str, str]:
    """Splits a calling convention (``0<args>_<results>``) into (arguments, results).

    Mirrors ``iree_vm_function_call_get_cconv_fragments``: no cconv means
    ``() -> ()``, ``v`` means no values, only version ``0`` exists.
    """
    if not calling_convention:
        return "", ""
    if calling_convention[0] != "0":
        raise FormatError(f"unsupported calling convention version {calling_convention[0]!r} "
                          f"in {calling_convention!r}")
    body = calling_convention[1:]
    arguments, _, results = body.partition("_")
    return ("" if arguments == "v" else arguments), ("" if results == "v" else results)


class TypeDef(Record):
    """An entry of the type table (``full_name`` such as ``!hal.buffer``)."""

    __slots__ = ("ordinal", "full_name")


class Dependency(Record):
    """A module this one depends on (``ModuleDependencyDef``)."""

    __slots__ = ("name", "minimum_version", "flags")

    @property
    def is_optional(self) -> bool:
        return bool(self.flags & FLAG_OPTIONAL)


class Import(Record):
    """An imported function; ``attrs`` are its signature's reflection attributes."""

    __slots__ = ("ordinal", "full_name", "calling_convention", "attrs", "flags")

    @property
    def is_optional(self) -> bool:
        return bool(self.flags & FLAG_OPTIONAL)

    @property
    def module_name(self) -> str:
        return (self.full_name or "").partition(".")[0]


class Export(Record):
    """An exported name of an internal function.

    ``calling_convention`` and ``attrs`` (e.g. ``iree.abi.declaration``) come
    from ``function_signatures[internal_ordinal]`` (None/{} if out of range).
    """

    __slots__ = ("ordinal", "local_name", "internal_ordinal", "calling_convention", "attrs")


class Function(Record):
    """An internal function: its descriptor plus signature and names.

    ``export_names``: local_name of every export aliasing it, in export order.
    ``name``: the first export alias, else the debug database name when the
    database is 1:1 with descriptors, else None.
    ``iree_name``: what IREE's tools show: the export alias, else the debug
    database entry at this *ordinal* (IREE's lookup, wrong when the database
    is sparse, as iree-compile 3.13 writes it), else ``fnN``.
    """

    __slots__ = ("ordinal", "bytecode_offset", "bytecode_length", "requirements", "reserved",
                 "block_count", "i32_register_count", "ref_register_count",
                 "calling_convention", "attrs", "export_names", "name", "iree_name")

    @property
    def display_name(self) -> str:
        return self.name if self.name is not None else f"fn{self.ordinal}"


class RwdataSegment(Record):
    __slots__ = ("ordinal", "byte_size")


class RodataSegment:
    """A read-only data segment; ``data`` is a lazy memoryview into the file."""

    __slots__ = ("ordinal", "is_external", "size", "file_offset", "compression",
                 "external_data_offset", "external_data_length", "_module", "_table", "_data")

    def __init__(self, module: Module, ordinal: int, table: Table):
        self._module = module
        self._table = table
        self.ordinal = ordinal
        self._data = None
        tag = table.scalar("compression_type_type")
        self.compression = {0: None, 1: "uncompressed"}.get(tag, f"unknown({tag})")
        self.external_data_offset = table.scalar("external_data_offset")
        self.external_data_length = table.scalar("external_data_length")
        embedded = table.vector("embedded_data")
        self.is_external = embedded is None
        if embedded is not None:
            self.size = len(embedded)
            self.file_offset = embedded.file_offset
        else:
            self.size = self.external_data_length
            self.file_offset = module.container.rodata_offset + self.external_data_offset

    @property
    def alignment(self) -> int:
        """Largest power of two (up to 4096) that divides the data's file offset."""
        offset = self.file_offset
        return 4096 if offset % 4096 == 0 else offset & -offset

    @property
    def data(self) -> memoryview:
        """The segment's bytes (a view into the file; checked on first access)."""
        if self._data is None:
            if not self.is_external:
                self._data = self._table.vector("embedded_data").memoryview()
            else:
                start, end = self._module.container.external_range(
                    self.external_data_offset, self.external_data_length,
                    f"module.fb/rodata_segments[{self.ordinal}]")
                self._data = self._module.container.data[start:end]
        return self._data

    @property
    def archive_name(self) -> str | None:
        """Name of the ZIP entry holding this (external) segment, if any."""
        for entry in self._module.archive_entries:
            if entry.data_offset == self.file_offset and entry.size == self.size:
                return entry.name
        return None

    def __repr__(self):
        where = "external" if self.is_external else "embedded"
        return (f"<RodataSegment {self.ordinal}: {where}, {self.size} bytes at file offset "
                f"{self.file_offset}>")


class Module:
    """A VM bytecode module (``iree.vm.BytecodeModuleDef``), read lazily.

    Construct with :func:`open_module` (``iree_lab.open``). Properties map to
    schema fields; lookups: :meth:`function`, :meth:`export`, :meth:`lookup_import`.
    """

    def __init__(self, container: Container, source_name: str | None = None):
        self.container = container
        self.source_name = source_name

    @functools.cached_property
    def root_table(self) -> Table:
        """The checked ``BytecodeModuleDef`` root table (read on first use)."""
        return self.container.flatbuffer.root(ROOT_TYPE)

    # -- container ---------------------------------------------------------

    @property
    def flatbuffer(self) -> memoryview:
        """The FlatBuffer bytes (without the size prefix)."""
        return self.container.flatbuffer.data

    @property
    def flatbuffer_size(self) -> int:
        return self.container.flatbuffer_size

    @property
    def file_size(self) -> int:
        return self.container.file_size

    @property
    def archive_entries(self):
        """ZIP entries (name, data_offset, size) of a ZIP container; () for bare ones."""
        return self.container.entries

    # -- header ------------------------------------------------------------

    @functools.cached_property
    def name(self) -> str:
        return self.root_table.string("name")

    @functools.cached_property
    def version(self) -> int:
        return self.root_table.scalar("version")

    @functools.cached_property
    def requirements(self) -> FeatureBits:
        return FeatureBits(self.root_table.scalar("requirements"))

    @functools.cached_property
    def attrs(self) -> dict[str, str]:
        return _attrs(self.root_table.vector("attrs"))

    @functools.cached_property
    def types(self) -> tuple[TypeDef, ...]:
        return tuple(TypeDef(i, t.string("full_name"))
                     for i, t in enumerate(self.root_table.vector("types") or ()))

    @functools.cached_property
    def dependencies(self) -> tuple[Dependency, ...]:
        return tuple(
            Dependency(t.string("name"), t.scalar("minimum_version"), t.scalar("flags"))
            for t in self.root_table.vector("dependencies") or ())

    @functools.cached_property
    def imports(self) -> tuple[Import, ...]:
        result = []
        for i, t in enumerate(self.root_table.vector("imported_functions") or ()):
            signature = t.table("signature")
            cconv, attrs = _signature(signature)
            result.append(Import(i, t.string("full_name"), cconv, attrs, t.scalar("flags")))
        return tuple(result)

    @functools.cached_property
    def _signatures(self):
        return self.root_table.vector("function_signatures")

    def _signature_at(self, ordinal: int) -> tuple[str | None, dict[str, str]]:
        """(calling_convention, attrs) of internal function ``ordinal``, parsed once."""
        cache = self._signature_cache
        cached = cache.get(ordinal)
        if cached is None:
            signatures = self._signatures
            if signatures is None or not 0 <= ordinal < len(signatures):
                cached = (None, {})
            else:
                cached = _signature(signatures[ordinal])
            cache[ordinal] = cached
        return cached

    @functools.cached_property
    def _signature_cache(self) -> dict:
        return {}

    @functools.cached_property
    def exports(self) -> tuple[Export, ...]:
        result = []
        for i, t in enumerate(self.root_table.vector("exported_functions") or ()):
            internal = t.scalar("internal_ordinal")
            cconv, attrs = self._signature_at(internal)
            result.append(Export(i, t.string("local_name"), internal, cconv, attrs))
        return tuple(result)

    @functools.cached_property
    def functions(self) -> tuple[Function, ...]:
        descriptors = self.root_table.vector("function_descriptors")
        if descriptors is None:
            return ()
        rows = descriptors.unpack_all("iiIhhhh")
        aliases: dict[int, list[str]] = {}
        for export in self.exports:
            aliases.setdefault(export.internal_ordinal, []).append(export.local_name or "")
        source_maps = self.debug_database.source_maps if self.debug_database else ()
        one_to_one = len(source_maps) == len(rows)
        result = []
        for i, (offset, length, req, reserved, blocks, i32s, refs) in enumerate(rows):
            cconv, attrs = self._signature_at(i)
            names = tuple(aliases.get(i, ()))
            by_ordinal = source_maps[i].local_name if i < len(source_maps) else None
            name = names[0] if names else (by_ordinal if one_to_one else None)
            iree_name = names[0] if names else (by_ordinal or f"fn{i}")
            result.append(Function(i, offset, length, FeatureBits(req), reserved, blocks, i32s,
                                   refs, cconv, attrs, names, name, iree_name))
        return tuple(result)

    @functools.cached_property
    def bytecode(self) -> memoryview:
        """``bytecode_data``: all function bodies (empty if absent)."""
        vec = self.root_table.vector("bytecode_data")
        return vec.memoryview() if vec is not None else memoryview(b"")

    @property
    def bytecode_file_offset(self) -> int | None:
        vec = self.root_table.vector("bytecode_data")
        return vec.file_offset if vec is not None else None

    def function_bytecode(self, function: Function | int | str) -> memoryview:
        """The bytecode of one function, checked against ``bytecode_data``."""
        f = self.function(function) if not isinstance(function, Function) else function
        data = self.bytecode
        if f.bytecode_offset < 0 or f.bytecode_length < 0 or (
                f.bytecode_offset + f.bytecode_length > len(data)):
            raise FormatError(
                f"function {f.display_name} bytecode [{f.bytecode_offset}, "
                f"{f.bytecode_offset + f.bytecode_length}) is outside the {len(data)}-byte "
                "bytecode_data", offset=self.bytecode_file_offset,
                where=f"module.fb/function_descriptors[{f.ordinal}]")
        return data[f.bytecode_offset:f.bytecode_offset + f.bytecode_length]

    @functools.cached_property
    def bytecode_version(self) -> int:
        """``(major << 16) | minor``; see :attr:`bytecode_version_major`/``_minor``."""
        return self.root_table.scalar("bytecode_version")

    @property
    def bytecode_version_major(self) -> int:
        return self.bytecode_version >> 16

    @property
    def bytecode_version_minor(self) -> int:
        return self.bytecode_version & 0xFFFF

    @functools.cached_property
    def rodata(self) -> tuple[RodataSegment, ...]:
        return tuple(RodataSegment(self, i, t)
                     for i, t in enumerate(self.root_table.vector("rodata_segments") or ()))

    @functools.cached_property
    def rwdata(self) -> tuple[RwdataSegment, ...]:
        return tuple(RwdataSegment(i, t.scalar("byte_size"))
                     for i, t in enumerate(self.root_table.vector("rwdata_segments") or ()))

    @functools.cached_property
    def _module_state(self) -> Table | None:
        return self.root_table.table("module_state")

    @property
    def global_bytes_capacity(self) -> int:
        state = self._module_state
        return state.scalar("global_bytes_capacity") if state is not None else 0

    @property
    def global_ref_count(self) -> int:
        state = self._module_state
        return state.scalar("global_ref_count") if state is not None else 0

    @functools.cached_property
    def debug_database(self) -> DebugDatabase | None:
        table = self.root_table.table("debug_database")
        return DebugDatabase(table) if table is not None else None

    # -- lookups -----------------------------------------------------------

    def function(self, key: int | str) -> Function:
        """Internal function by ordinal, or by name (export alias or known name)."""
        functions = self.functions
        if isinstance(key, int):
            if not 0 <= key < len(functions):
                raise KeyError(f"no internal function with ordinal {key} "
                               f"(module has {len(functions)})")
            return functions[key]
        for f in functions:
            if f.name == key or key in f.export_names:
                return f
        raise KeyError(f"no function named {key!r} in module {self.name!r}")

    def export(self, local_name: str) -> Export:
        for e in self.exports:
            if e.local_name == local_name:
                return e
        raise KeyError(f"module {self.name!r} exports no function {local_name!r}")

    def lookup_import(self, full_name: str) -> Import:
        for i in self.imports:
            if i.full_name == full_name:
                return i
        raise KeyError(f"module {self.name!r} imports no function {full_name!r}")

    def source_map(self, function: Function | int | str) -> FunctionSourceMap | None:
        """The debug source map of a function, matched by name (None if absent)."""
        f = self.function(function) if not isinstance(function, Function) else function
        db = self.debug_database
        if db is None:
            return None
        for name in ((f.name,) if f.name else ()) + f.export_names:
            source_map = db.source_map(name)
            if source_map is not None:
                return source_map
        return None

    def verify_flatbuffer(self) -> None:
        """Verifies the whole FlatBuffer structure like flatcc (what IREE runs first).

        Raises FormatError("FlatBuffer verification failed: <flatcc reason>").
        """
        from iree_lab.format.verifier import verify_flatbuffer

        verify_flatbuffer(self.container.flatbuffer, ROOT_TYPE, FILE_IDENTIFIER)

    @property
    def bytecode_version_text(self) -> str:
        return f"{self.bytecode_version_major}.{self.bytecode_version_minor}"

    @property
    def bytecode_version_note(self) -> str | None:
        """A line naming an older bytecode version and whose rules apply; None for the
        current version (tools print it beside output that must stay byte-identical)."""
        major = self.bytecode_version_major
        if (major, self.bytecode_version_minor) == (BYTECODE_VERSION_MAJOR,
                                                    BYTECODE_VERSION_MINOR):
            return None
        rules = _RELEASES_OF_MAJOR.get(major)
        rules = f"read with the rules of {rules}" if rules else "not a version iree_lab reads"
        return f"bytecode version {self.bytecode_version_text} ({rules})"

    def check_bytecode_version(self) -> None:
        """FormatError unless iree_lab knows the rules of this module's bytecode version."""
        newest_minor = SUPPORTED_BYTECODE_VERSIONS.get(self.bytecode_version_major)
        if newest_minor is None or self.bytecode_version_minor > newest_minor:
            known = ", ".join(f"{major}.{minor}" for major, minor
                              in SUPPORTED_BYTECODE_VERSIONS.items())
            raise FormatError(f"unsupported bytecode version {self.bytecode_version_text}; "
                              f"iree_lab reads {known}", where="module.fb/bytecode_version")

    def verify(self) -> None:
        """What IREE checks before loading a module (iree_vm_bytecode_module_flatbuffer_verify).

        The FlatBuffer structure, then: a name, named types, external rodata
        inside the file, named dependencies and imports, one signature per
        descriptor, exports naming existing functions, a supported bytecode
        version (15.0, 16.0, 17.0), and descriptors with blocks, bytecode inside
        bytecode_data and register counts in range. Function bodies are
        verified by the ISA layer.
        """
        self.verify_flatbuffer()

        def fail(what, where=None):
            raise FormatError(what, where=where and f"module.fb/{where}")

        if not self.name:
            fail("module missing name field")
        unknown = self.requirements & ~0xF
        if unknown:
            fail(f"module requires unknown features {unknown:#x}", "requirements")
        for t in self.types:
            if not t.full_name:
                fail(f"types[{t.ordinal}] missing name", f"types[{t.ordinal}]")
        for segment in self.rodata:
            if segment.is_external:
                segment.data  # noqa: B018 - checks the range against the file
        for i, d in enumerate(self.dependencies):
            if not d.name:
                fail(f"dependencies[{i}] has no module name", f"dependencies[{i}]")
        for imp in self.imports:
            if not imp.full_name:
                fail(f"imports[{imp.ordinal}] missing full_name",
                     f"imported_functions[{imp.ordinal}]")
        signatures = self.root_table.vector_len("function_signatures")
        if signatures != len(self.functions):
            fail("function signature and descriptor table length mismatch "
                 f"({signatures} vs {len(self.functions)})")
        for e in self.exports:
            if not e.local_name:
                fail(f"exports[{e.ordinal}] missing local_name", f"exported_functions[{e.ordinal}]")
            if not 0 <= e.internal_ordinal < len(self.functions):
                fail(f"exports[{e.ordinal}] internal_ordinal out of bounds (0 < "
                     f"{e.internal_ordinal} < {len(self.functions)})",
                     f"exported_functions[{e.ordinal}]")
        self.check_bytecode_version()
        for f in self.functions:
            where = f"function_descriptors[{f.ordinal}]"
            if f.block_count == 0:
                fail(f"functions[{f.ordinal}] descriptor block count is 0; functions must "
                     "have at least 1 block", where)
            if f.bytecode_length == 0:
                fail(f"functions[{f.ordinal}] descriptor bytecode reports 0 length", where)
            self.function_bytecode(f)
            if (f.i32_register_count > I32_REGISTER_COUNT
                    or f.ref_register_count > REF_REGISTER_COUNT):
                fail(f"functions[{f.ordinal}] descriptor register count out of range", where)

    def touch_all(self) -> None:
        """Reads and checks every part of the module (rodata bytes included).

        Opening is lazy; this is the eager check used by tests and by callers
        that want malformed input rejected up front.
        """
        for attr in ("name", "version", "requirements", "attrs", "types", "dependencies",
                     "imports", "exports", "functions", "bytecode", "bytecode_version",
                     "rodata", "rwdata", "global_bytes_capacity", "global_ref_count",
                     "debug_database"):
            getattr(self, attr)
        for f in self.functions:
            self.function_bytecode(f)
            self.source_map(f)
        for segment in self.rodata:
            segment.data  # noqa: B018 - touching is the point
        db = self.debug_database
        if db is not None:
            db.locations  # noqa: B018
            for source_map in db.source_maps:
                for _offset, _loc in source_map.items():
                    pass
        self.archive_entries  # noqa: B018

    def __repr__(self):
        try:
            kind = "ZIP" if self.container.kind == "zip" else "FlatBuffer"
            return (f"<iree_lab Module @{self.name} version {self.version} ({kind}, "
                    f"{self.file_size} bytes): {len(self.functions)} functions, "
                    f"{len(self.exports)} exports, {len(self.imports)} imports, "
                    f"{len(self.rodata)} rodata segments>")
        except FormatError as e:
            return f"<iree_lab Module (malformed: {e})>"


def _attrs(vector) -> dict[str, str]:
    result: dict[str, str] = {}
    for t in vector or ():
        result[t.string("key") or ""] = t.string("value") or ""
    return result


def _signature(table: Table | None) -> tuple[str | None, dict[str, str]]:
    if table is None:
        return None, {}
    return table.string("calling_convention"), _attrs(table.vector("attrs"))


def open_module(source) -> Module:
    """Opens a module from a path, bytes-like object (e.g. a VMVX executable) or file."""
    data, keepalive = map_source(source)
    name = None
    if not isinstance(source, (bytes, bytearray, memoryview)):
        name = str(getattr(source, "name", source))
    return Module(Container(data, keepalive), name)
