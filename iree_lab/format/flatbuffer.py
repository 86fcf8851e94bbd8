"""Checked, lazy FlatBuffer access driven by the generated schema layouts.

Why not flatc's Python readers at run time: they trust every offset (a hostile
file gives struct.error, IndexError or, worse, silently wrapped negative
slices) and importing the ``flatbuffers`` runtime pulls in numpy (~0.2 s),
which alone would make ``iree-lab dump`` slower than ``iree-dump-module``.

Design: *checked accessors* instead of an up-front full verification pass.
Every read validates exactly what it touches, so opening a module costs only
the header and root table checks, and a 100k-entry debug database is not
walked unless asked for. The checks are those of flatcc's verifier (which
IREE runs before loading): tables, vtables, vectors, strings (including
their NUL terminator) and union members must lie inside the buffer, vtables
must be large enough for the table's inline fields, required fields must be
present, offsets must be non-zero (the bounds rules of flatbuffer_rules.py,
the verifiers' own). Alignment is not checked: Python reads
unaligned data fine and IREE's writer always aligns. Any violation raises
:class:`~iree_lab.errors.FormatError` naming the structure path and the file
offset. Nothing recurses on data (the schema is not recursive), allocations
are bounded by the buffer size (a vector's byte extent is checked before any
element is read) and no loop runs longer than a vector's checked length.

Field slots come from ``generated/layouts.py`` (see tools/gen_schemas.py).
"""

from __future__ import annotations

import struct

from iree_lab.errors import FormatError
from iree_lab.format._record import Record
from iree_lab.format.flatbuffer_rules import (
    VTABLE_MIN_SIZE,
    field_in_table,
    string_in_buffer,
    table_size_ok,
    vector_in_buffer,
    vtable_size_ok,
)
from iree_lab.format.generated import layouts

TABLES = layouts.TABLES
STRUCTS = layouts.STRUCTS
UNIONS = layouts.UNIONS

_U8 = struct.Struct("<B")
_U16 = struct.Struct("<H")
_HH = struct.Struct("<HH")
_I32 = struct.Struct("<i")
_U32 = struct.Struct("<I")
_SCALAR = {fmt: struct.Struct("<" + fmt) for fmt in "?bBhHiIqQfd"}
# Type name -> ((field, vtable offset), ...) of its required fields.
_REQUIRED = {
    name: tuple((field, spec[0]) for field, spec in fields.items() if spec[4])
    for name, fields in TABLES.items()
}


class Buffer:
    """A FlatBuffer's bytes plus where they sit in the file, for error offsets."""

    __slots__ = ("data", "size", "base", "name")

    def __init__(self, data, base: int = 0, name: str = "module.fb"):
        self.data = data if isinstance(data, memoryview) else memoryview(data)
        if self.data.format != "B" or self.data.ndim != 1:
            self.data = self.data.cast("B")
        self.size = len(self.data)
        self.base = base
        self.name = name

    def error(self, what: str, pos: int | None, where) -> FormatError:
        return FormatError(
            what,
            offset=None if pos is None else self.base + pos,
            where=_render(where, self.name),
        )

    def check(self, pos: int, length: int, what: str, where) -> None:
        if pos < 0 or length < 0 or pos + length > self.size:
            raise self.error(
                f"{what} [{pos}, {pos + length}) is outside the {self.size}-byte FlatBuffer",
                pos if 0 <= pos < self.size else None,
                where,
            )

    def u32(self, pos: int, where) -> int:
        self.check(pos, 4, "offset", where)
        return _U32.unpack_from(self.data, pos)[0]

    def uoffset(self, pos: int, what: str, where) -> int:
        """Follows the unsigned offset stored at ``pos``; returns the target."""
        self.check(pos, 4, f"{what} offset", where)
        rel = _U32.unpack_from(self.data, pos)[0]
        if rel == 0:
            raise self.error(f"{what} offset is null", pos, where)
        target = pos + rel
        if target >= self.size:
            raise self.error(
                f"{what} offset points past the end of the {self.size}-byte FlatBuffer "
                f"(to {target})",
                pos,
                where,
            )
        return target

    def table(self, pos: int, type_name: str, where) -> Table:
        return Table(self, pos, type_name, where)

    def root(self, type_name: str, where=None) -> Table:
        pos = self.uoffset(0, "root table", where)
        return Table(self, pos, type_name, where)


def _render(where, default: str) -> str:
    """Renders a lazily built path: (parent, "field") / (parent, "field", index)."""
    parts = []
    while where is not None:
        if isinstance(where, str):
            parts.append(where)
            break
        parent, piece = where[0], where[1]
        parts.append(piece if len(where) == 2 else f"{piece}[{where[2]}]")
        where = parent
    text = default
    for part in reversed(parts):
        if part:
            text += part if part.startswith("[") else "/" + part
    return text


class Table:
    """One FlatBuffer table; fields are read (and checked) on access."""

    __slots__ = ("buf", "pos", "vtable", "vtable_size", "inline_size", "layout", "type_name",
                 "where")

    def __init__(self, buf: Buffer, pos: int, type_name: str, where):
        self.buf = buf
        self.pos = pos
        self.type_name = type_name
        self.layout = TABLES[type_name]
        self.where = where
        data, size = buf.data, buf.size
        if pos < 0 or pos + 4 > size:
            buf.check(pos, 4, "table", where)
        vtable = pos - _I32.unpack_from(data, pos)[0]
        if vtable < 0 or vtable + 4 > size:
            raise buf.error(f"vtable of {_short(type_name)} at {vtable} is outside the buffer",
                            pos, where)
        vtable_size, inline_size = _HH.unpack_from(data, vtable)
        if vtable_size < VTABLE_MIN_SIZE or not vtable_size_ok(vtable, vtable_size, size):
            raise buf.error(f"vtable of {_short(type_name)} has bad size {vtable_size}", vtable,
                            where)
        if not table_size_ok(pos, inline_size, size):
            raise buf.error(f"{_short(type_name)} has bad inline size {inline_size}", pos, where)
        self.vtable = vtable
        self.vtable_size = vtable_size
        self.inline_size = inline_size
        required = _REQUIRED[type_name]
        if required:
            for field, voffset in required:
                if self._slot(voffset) == 0:
                    raise buf.error(f"required field {field!r} of {_short(type_name)} is "
                                    "missing", pos, where)

    def _slot(self, voffset: int) -> int:
        """Offset of a field within the table (0 when absent)."""
        if voffset + 2 > self.vtable_size:
            return 0
        return _U16.unpack_from(self.buf.data, self.vtable + voffset)[0]

    def _field_pos(self, name: str, size: int) -> int:
        voffset = self.layout[name][0]
        if voffset + 2 > self.vtable_size:
            return 0
        rel = _U16.unpack_from(self.buf.data, self.vtable + voffset)[0]
        if rel == 0:
            return 0
        if not field_in_table(rel, size, self.inline_size):
            raise self.buf.error(
                f"field {name!r} at +{rel} ({size} bytes) overruns the {self.inline_size}-byte "
                f"{_short(self.type_name)}",
                self.pos,
                self.where,
            )
        return self.pos + rel

    def has(self, name: str) -> bool:
        """Whether the field is present in the vtable (flatcc's ``_is_present``)."""
        return self._slot(self.layout[name][0]) != 0

    def scalar(self, name: str):
        spec = self.layout[name]
        voffset, fmt, default = spec[0], spec[2], spec[3]
        if voffset + 2 > self.vtable_size:
            return default
        data = self.buf.data
        rel = _U16.unpack_from(data, self.vtable + voffset)[0]
        if rel == 0:
            return default
        s = _SCALAR[fmt]
        if not field_in_table(rel, s.size, self.inline_size):
            self._field_pos(name, s.size)  # raises the precise error
        return s.unpack_from(data, self.pos + rel)[0]

    def _target(self, name: str) -> int:
        pos = self._field_pos(name, 4)
        if pos == 0:
            return 0
        buf = self.buf
        rel = _U32.unpack_from(buf.data, pos)[0]  # pos + 4 <= inline end <= size
        target = pos + rel
        if rel == 0 or target >= buf.size:
            return buf.uoffset(pos, name, (self.where, name))  # raises the precise error
        return target

    def string(self, name: str) -> str | None:
        # The hot path of every reader: _field_pos + _target + read_string, inlined.
        voffset = self.layout[name][0]
        if voffset + 2 > self.vtable_size:
            return None
        buf = self.buf
        data = buf.data
        rel = _U16.unpack_from(data, self.vtable + voffset)[0]
        if rel == 0:
            return None
        if not field_in_table(rel, 4, self.inline_size):
            self._field_pos(name, 4)  # raises the precise error
        pos = self.pos + rel
        target = pos + _U32.unpack_from(data, pos)[0]
        if target == pos or target + 4 > buf.size:
            return read_string(buf, self._target(name), (self.where, name))  # raises
        length = _U32.unpack_from(data, target)[0]
        end = target + 4 + length
        if not string_in_buffer(target + 4, length, buf.size) or data[end] != 0:
            return read_string(buf, target, (self.where, name))  # raises
        return bytes(data[target + 4:end]).decode("utf-8", "surrogateescape")

    def string_bytes(self, name: str) -> bytes | None:
        target = self._target(name)
        if target == 0:
            return None
        return read_string_bytes(self.buf, target, (self.where, name))

    def table(self, name: str) -> Table | None:
        target = self._target(name)
        if target == 0:
            return None
        return Table(self.buf, target, self.layout[name][2], (self.where, name))

    def union(self, name: str) -> Table | None:
        """The union member table, typed by the ``<name>_type`` tag; None if NONE/absent."""
        tag = self.scalar(f"{name}_type")
        target = self._target(name)
        if tag == 0 or target == 0:
            return None
        members = UNIONS[self.layout[name][2]]
        if tag not in members:
            raise self.buf.error(f"unknown {name} union type {tag}", self.pos, self.where)
        return Table(self.buf, target, members[tag], (self.where, name))

    def struct(self, name: str) -> StructView | None:
        type_name = self.layout[name][2]
        pos = self._field_pos(name, STRUCTS[type_name]["size"])
        if pos == 0:
            return None
        return StructView(self.buf, pos, type_name)

    def vector(self, name: str) -> Vector | None:
        target = self._target(name)
        if target == 0:
            return None
        return Vector(self.buf, target, self.layout[name][2], (self.where, name))

    def vector_len(self, name: str) -> int:
        vec = self.vector(name)
        return 0 if vec is None else len(vec)

    def __repr__(self):
        return f"<{_short(self.type_name)} table at {self.buf.base + self.pos}>"


def read_string_bytes(buf: Buffer, pos: int, where) -> bytes:
    data = buf.data
    if pos + 4 > buf.size:
        buf.check(pos, 4, "string length", where)
    length = _U32.unpack_from(data, pos)[0]
    end = pos + 4 + length
    # +1: FlatBuffers strings carry a NUL terminator that C readers rely on.
    if not string_in_buffer(pos + 4, length, buf.size):
        buf.check(pos + 4, length + 1, "string", where)
    if data[end] != 0:
        raise buf.error("string is not NUL-terminated", pos, where)
    return bytes(data[pos + 4 : end])


def read_string(buf: Buffer, pos: int, where) -> str:
    # surrogateescape keeps arbitrary bytes round-trippable for byte-exact output.
    return read_string_bytes(buf, pos, where).decode("utf-8", "surrogateescape")


class Vector:
    """A checked FlatBuffer vector: its whole extent is validated up front."""

    __slots__ = ("buf", "start", "count", "element", "stride", "where", "_elem_layout")

    def __init__(self, buf: Buffer, pos: int, element: tuple, where):
        self.buf = buf
        self.where = where
        self.element = element
        count = buf.u32(pos, where)
        kind = element[0]
        if kind == "scalar":
            stride = _SCALAR[element[1]].size
        elif kind == "struct":
            stride = STRUCTS[element[1]]["size"]
        else:
            stride = 4
        if not vector_in_buffer(pos + 4, count, stride, buf.size):
            buf.check(pos + 4, count * stride, f"vector of {count} elements", where)
        self.start = pos + 4
        self.count = count
        self.stride = stride
        self._elem_layout = STRUCTS[element[1]] if kind == "struct" else None

    def __len__(self):
        return self.count

    def _index(self, i: int) -> int:
        if i < 0:
            i += self.count
        if not 0 <= i < self.count:
            raise IndexError(i)
        return i

    def __getitem__(self, i: int):
        i = self._index(i)
        kind = self.element[0]
        pos = self.start + i * self.stride
        if kind == "scalar":
            return _SCALAR[self.element[1]].unpack_from(self.buf.data, pos)[0]
        if kind == "struct":
            return StructView(self.buf, pos, self.element[1])
        where = (self.where, "", i)
        target = pos + _U32.unpack_from(self.buf.data, pos)[0]  # in bounds: vector checked
        if target == pos or target >= self.buf.size:
            target = self.buf.uoffset(pos, "element", where)  # raises the precise error
        if kind == "string":
            return read_string(self.buf, target, where)
        return Table(self.buf, target, self.element[1], where)

    def __iter__(self):
        if self.element[0] != "table":
            for i in range(self.count):
                yield self[i]
            return
        buf, data, size, type_name = self.buf, self.buf.data, self.buf.size, self.element[1]
        pos = self.start
        for i in range(self.count):
            target = pos + _U32.unpack_from(data, pos)[0]
            if target == pos or target >= size:
                buf.uoffset(pos, "element", (self.where, "", i))  # raises the precise error
            yield Table(buf, target, type_name, (self.where, "", i))
            pos += 4

    def raw_offset(self, i: int) -> int:
        """The stored offset of element ``i`` of a vector of tables (0 = null)."""
        return _U32.unpack_from(self.buf.data, self.start + self._index(i) * 4)[0]

    def table_at(self, i: int, type_name: str) -> Table:
        """Element ``i`` read as ``type_name`` (for vectors of unions)."""
        i = self._index(i)
        where = (self.where, "", i)
        target = self.buf.uoffset(self.start + i * 4, "element", where)
        return Table(self.buf, target, type_name, where)

    def memoryview(self) -> memoryview:
        """The raw element bytes (no copy)."""
        return self.buf.data[self.start : self.start + self.count * self.stride]

    @property
    def file_offset(self) -> int:
        return self.buf.base + self.start

    def unpack_all(self, fmt: str) -> tuple:
        """All struct elements as tuples of ``fmt`` (fast path for big tables)."""
        s = struct.Struct("<" + fmt)
        if s.size != self.stride:
            raise ValueError("format does not match the element size")
        return tuple(s.iter_unpack(self.memoryview()))


class StructView:
    """An inline struct (always in bounds: its vector or table was checked)."""

    __slots__ = ("buf", "pos", "layout", "type_name")

    def __init__(self, buf: Buffer, pos: int, type_name: str):
        self.buf = buf
        self.pos = pos
        self.type_name = type_name
        self.layout = STRUCTS[type_name]["fields"]

    def __getattr__(self, name: str):
        try:
            offset, fmt = self.layout[name][:2]
        except KeyError:
            raise AttributeError(name) from None
        return _SCALAR[fmt].unpack_from(self.buf.data, self.pos + offset)[0]


def open_root(data, schema: str, *, base: int = 0, name: str | None = None,
              verify: bool = True, report=None) -> Table | None:
    """The checked root table of a FlatBuffer of ``schema`` (a schemas/*.fbs stem).

    ``data`` is the FlatBuffer without a size prefix; its file identifier
    must match the schema's. ``base`` is where ``data`` starts in the file;
    ``name`` (default: the schema) starts every error path.
    With ``verify`` the whole buffer is first verified like flatcc does
    (see verifier.py), as IREE's HAL drivers do before loading.

    ``report`` (a callable taking a FormatError) makes it lenient, for
    showing damaged buffers: a wrong identifier or a failed verification is
    reported instead of raised and the root is still returned, read through
    the checked accessors, which go on guarding every read (see
    :class:`Lenient`); None only when there is no root table to read.
    """
    info = layouts.SCHEMAS[schema]
    buf = Buffer(data, base=base, name=name or schema)
    identifier = info["file_identifier"].encode()
    if buf.size < 8 or bytes(buf.data[4:8]) != identifier:
        found = bytes(buf.data[4:8])
        _fail(buf.error(f"FlatBuffer file identifier is {found!r}, not {identifier!r}",
                        4 if buf.size >= 8 else None, None), report)
        if buf.size < 8:
            return None
        identifier = None  # reported once: verification goes on without it
    if verify:
        from iree_lab.format.verifier import verify_flatbuffer

        _attempt(lambda: verify_flatbuffer(buf, info["root_type"], identifier), report)
    return _attempt(lambda: buf.root(info["root_type"]), report)


def _fail(error: FormatError, report) -> None:
    if report is None:
        raise error
    report(error)


def _attempt(read, report):
    """``read()``; with ``report``, a FormatError is reported and gives None."""
    if report is None:
        return read()
    try:
        return read()
    except FormatError as e:
        report(e)
        return None


# IREE's 64-byte header in front of HAL executable FlatBuffers
# (iree_flatbuffer_file_header_t): magic, version, content size, reserved.
EXECUTABLE_HEADER = struct.Struct("<4sIQ48x")


class ExecutableHeader(Record):
    """A HAL executable blob's header; ``body`` is the FlatBuffer it announces."""

    __slots__ = ("magic", "version", "content_size", "body")
    _hidden = ("body",)


def read_executable_header(data, schema: str, *, base: int = 0, name: str | None = None,
                           report=None) -> ExecutableHeader | None:
    """Checks what ``iree_hal_read_executable_flatbuffer_header`` checks.

    Magic equal to the schema's file identifier, version 0, non-zero content
    size that fits the blob. With ``report`` (lenient, see :func:`open_root`)
    a bad version or content size is reported and the bytes that are there
    are still returned as the body; None when the blob is shorter than the
    header or has another magic.
    """
    view = data if isinstance(data, memoryview) else memoryview(data)
    where = f"{name or schema}/header"
    identifier = layouts.SCHEMAS[schema]["file_identifier"].encode()
    if len(view) < EXECUTABLE_HEADER.size:
        _fail(FormatError(f"executable is {len(view)} bytes, smaller than its 64-byte header",
                          offset=base, where=where), report)
        return None
    magic, version, content_size = EXECUTABLE_HEADER.unpack_from(view, 0)
    if magic != identifier:
        _fail(FormatError(f"executable magic is {magic!r}, expected {identifier!r}",
                          offset=base, where=where), report)
        return None
    if version != 0:
        _fail(FormatError(f"executable header version {version} is not 0", offset=base + 4,
                          where=where), report)
    available = len(view) - EXECUTABLE_HEADER.size
    size = content_size
    if size == 0 or size > available:
        _fail(FormatError(f"executable content size {size} does not fit the {available} "
                          "bytes after the header", offset=base + 8, where=where), report)
        size = available
    body = view[EXECUTABLE_HEADER.size:EXECUTABLE_HEADER.size + size]
    return ExecutableHeader(magic, version, content_size, body)


def open_executable_root(data, schema: str, *, base: int = 0, name: str | None = None,
                         verify: bool = True, report=None) -> Table | None:
    """The root table of a HAL executable blob (64-byte IREE header + FlatBuffer).

    :func:`read_executable_header` then :func:`open_root` (``report``: lenient).
    """
    header = read_executable_header(data, schema, base=base, name=name, report=report)
    if header is None:
        return None
    return open_root(header.body, schema, base=base + EXECUTABLE_HEADER.size, name=name,
                     verify=verify, report=report)


class Lenient:
    """Reads that never raise, for showing what is left of a damaged buffer.

    Each read runs a function over the checked accessors; a FormatError it
    raises goes to ``report`` and the read yields a default, so a damaged
    field costs that field only. The helpers take a table that may be None
    (an earlier read failed) and then yield the default too.

    Shared tables let a small hostile buffer describe a huge walk (N
    elements all pointing at one table with an M-element vector, ...), so,
    like the verifier's visits, reads are capped by the buffer size: past
    ``READ_BUDGET_PER_BYTE`` reads per byte every read yields its default,
    and that is reported once.
    """

    READ_BUDGET_PER_BYTE = 16  # a walk of an unshared buffer reads each byte a few times

    __slots__ = ("report", "budget")

    def __init__(self, report, size: int):
        self.report = report
        self.budget = 64 + self.READ_BUDGET_PER_BYTE * size

    def spend(self, count: int) -> bool:
        """Charges ``count`` reads (also for work on data already read); False past the cap."""
        self.budget -= count
        if self.budget >= 0:
            return True
        if self.budget + count >= 0:  # crossed the cap just now: say so once
            self.report(FormatError("stopped reading: shared tables ask for more reads than a "
                                    "buffer of this size holds (amplification)"))
        return False

    def read(self, read, default=None):
        """``read()``, or ``default`` when it raises FormatError (reported) or the cap is hit."""
        if not self.spend(1):
            return default
        try:
            return read()
        except FormatError as e:
            self.report(e)
            return default

    def table(self, table: Table | None, name: str) -> Table | None:
        return None if table is None else self.read(lambda: table.table(name))

    def string(self, table: Table | None, name: str) -> str | None:
        return None if table is None else self.read(lambda: table.string(name))

    def string_bytes(self, table: Table | None, name: str) -> bytes | None:
        return None if table is None else self.read(lambda: table.string_bytes(name))

    def scalar(self, table: Table | None, name: str, default=None):
        return default if table is None else self.read(lambda: table.scalar(name), default)

    def struct(self, table: Table | None, name: str) -> StructView | None:
        return None if table is None else self.read(lambda: table.struct(name))

    def vector(self, table: Table | None, name: str) -> Vector | None:
        return None if table is None else self.read(lambda: table.vector(name))

    def elements(self, table: Table | None, name: str) -> list:
        """The elements of a vector field, None for each one that cannot be read."""
        vec = self.vector(table, name)
        if vec is None:
            return []
        return [self.read(lambda i=i: vec[i]) for i in range(len(vec))]

    def values(self, table: Table | None, name: str) -> list | None:
        """All of a vector of scalars or structs (checked whole when the vector is read)."""
        vec = self.vector(table, name)
        if vec is None or not self.spend(len(vec)):
            return None
        return list(vec)


def _short(type_name: str) -> str:
    return type_name.rsplit(".", 1)[-1]
