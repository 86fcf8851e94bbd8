"""Full structural verification of a FlatBuffer, equivalent to flatcc's verifier.

IREE runs flatcc's generated ``*_verify_as_root`` before it reads a module
(iree-dump-module prints ``FlatBuffer verification failed: <reason>`` and
stops). :func:`verify_flatbuffer` checks the same rules in the same order,
driven by the generated layouts, and raises FormatError with flatcc's
reason text, so ``iree-lab dump`` accepts and rejects exactly the files
iree-dump-module does. The lazy accessors in flatbuffer.py stay the safety
net for code that skips verification; this pass adds flatcc's alignment and
union rules on top.

Rules (flatcc ``verifier.c``): offsets are non-zero and 4-byte aligned;
tables, vtables (2-aligned, size >= 4 and even), vectors (count * element
size inside the buffer, elements aligned), strings (NUL-terminated) and
scalar fields (aligned to their size in memory, which for a mapped file is
the file offset) lie inside the buffer; required fields are present;
union type/value pairs are consistent; union vectors have as many types as
values. Unknown union types are accepted, like flatcc's generated code.

Amplification guard: tables may be shared (a DAG), so a small hostile file
can describe an exponential number of visits. A table already verified at
the same position is not visited again, and the total number of visits is
capped at a multiple of what a buffer of this size could hold without
sharing; exceeding it raises FormatError instead of hanging.
"""

from __future__ import annotations

import struct
import sys

from iree_lab.errors import FormatError
from iree_lab.format.flatbuffer import Buffer
from iree_lab.format.flatbuffer_rules import (
    MAX_LEVELS,
    UOFFSET_MAX,
    VTABLE_MIN_SIZE,
    aligned,
    field_in_table,
    offset_ok,
    string_in_buffer,
    table_size_ok,
    vector_aligned,
    vector_count_ok,
    vector_in_buffer,
    verification_plan,
    vtable_header_in_buffer,
    vtable_position_ok,
    vtable_size_ok,
)

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")


class _Verifier:
    def __init__(self, buf: Buffer):
        self.buf = buf
        self.data = buf.data
        self.end = buf.size
        self.address = buf.base  # memory alignment follows the file offset (mmap)
        self.done: set[tuple[int, str]] = set()
        # Without sharing, a buffer holds at most end/4 offsets; allow generous slack.
        self.budget = 64 + 4 * self.end
        self.methods = {kind: getattr(self, "_" + kind) for kind in (
            "field", "string", "vector", "string_vector", "table", "table_vector", "union",
            "union_vector")}

    def fail(self, reason: str, pos: int | None, where) -> FormatError:
        return self.buf.error(f"FlatBuffer verification failed: {reason}", pos, where)

    def u32(self, pos: int) -> int:
        return _U32.unpack_from(self.data, pos)[0]

    def table(self, base: int, offset: int, type_name: str, ttl: int, where) -> None:
        ttl -= 1
        if ttl == 0:
            raise self.fail("max nesting level reached", base, where)
        if not offset_ok(base, offset, self.end):
            raise self.fail("table header out of range or unaligned", base, where)
        table = base + offset
        key = (table, type_name)
        if key in self.done:
            return
        self.budget -= 1
        if self.budget < 0:
            raise self.fail("tables are shared more often than this buffer size allows "
                            "(amplification)", table, where)
        vbase = (table - self.u32(table)) & UOFFSET_MAX
        if not vtable_position_ok(vbase):
            raise self.fail("vtable offset out of range or unaligned", table, where)
        if not vtable_header_in_buffer(vbase, self.end):
            raise self.fail("vtable header out of range", table, where)
        vsize = _U16.unpack_from(self.data, vbase)[0]
        if not vtable_size_ok(vbase, vsize, self.end):
            raise self.fail("vtable size out of range or unaligned", vbase, where)
        if vsize < VTABLE_MIN_SIZE:
            raise self.fail("vtable header too small", vbase, where)
        tsize = _U16.unpack_from(self.data, vbase + 2)[0]
        if not table_size_ok(table, tsize, self.end):
            raise self.fail("table size out of range", table, where)
        t = (table, vbase, vsize, tsize)
        methods = self.methods
        for step in verification_plan(type_name).steps:
            if step[0] == "field":  # the common case, inlined: no where tuple unless it fails
                voffset = step[2]
                vte = _U16.unpack_from(self.data, vbase + voffset)[0] if voffset < vsize else 0
                if vte and not (field_in_table(vte, step[3], tsize)
                                and aligned(self.address + table + vte, step[4])):
                    self._check_field(t, voffset, step[3], step[4], step[5], (where, step[1]))
                elif not vte and step[5]:
                    raise self.fail("required field missing", table, (where, step[1]))
                continue
            methods[step[0]](t, step, ttl, (where, step[1]))
        self.done.add(key)

    def vt_entry(self, t, voffset: int) -> int:
        if voffset >= t[2]:
            return 0
        return _U16.unpack_from(self.data, t[1] + voffset)[0]

    def _check_field(self, t, voffset, size, align, required, where) -> int:
        vte = _U16.unpack_from(self.data, t[1] + voffset)[0] if voffset < t[2] else 0
        if not vte:
            if required:
                raise self.fail("required field missing", t[0], where)
            return 0
        if not field_in_table(vte, size, t[3]):
            raise self.fail("table field out of range", t[0], where)
        if not aligned(self.address + t[0] + vte, align):
            raise self.fail("table field not aligned", t[0] + vte, where)
        return t[0] + vte

    def _offset_field(self, t, voffset, required, where) -> int:
        """flatcc get_offset_field: position of an offset field (0 if absent); a uoffset
        field (the buffer's base is 4-aligned, checked first)."""
        return self._check_field(t, voffset, 4, 4, required, where)

    def string(self, base: int, offset: int, where) -> None:
        if not offset_ok(base, offset, self.end):
            raise self.fail("string header out of range or unaligned", base, where)
        pos = base + offset
        n = self.u32(pos)
        pos += 4
        if not string_in_buffer(pos, n, self.end):
            raise self.fail("string out of range", pos - 4, where)
        if self.data[pos + n] != 0:
            raise self.fail("string not zero terminated", pos - 4, where)

    def vector(self, base: int, offset: int, elem_size: int, align: int, where) -> tuple[int, int]:
        if not offset_ok(base, offset, self.end):
            raise self.fail("vector header out of range or unaligned", base, where)
        pos = base + offset
        n = self.u32(pos)
        pos += 4
        if not vector_aligned(pos, n, align):
            raise self.fail("vector header out of range or unaligned", pos - 4, where)
        if not vector_count_ok(n, elem_size):
            raise self.fail("vector count exceeds representable vector size", pos - 4, where)
        if not vector_in_buffer(pos, n, elem_size, self.end):
            raise self.fail("vector out of range", pos - 4, where)
        return pos, n

    # -- steps ---------------------------------------------------------------

    def _field(self, t, step, ttl, where) -> None:
        self._check_field(t, step[2], step[3], step[4], step[5], where)

    def _string(self, t, step, ttl, where) -> None:
        k = self._offset_field(t, step[2], step[3], where)
        if k:
            self.string(k, self.u32(k), where)

    def _vector(self, t, step, ttl, where) -> None:
        k = self._offset_field(t, step[2], step[3], where)
        if k:
            self.vector(k, self.u32(k), step[4], step[5], where)

    def _string_vector(self, t, step, ttl, where) -> None:
        k = self._offset_field(t, step[2], step[3], where)
        if k:
            pos, n = self.vector(k, self.u32(k), 4, 4, where)
            self._spend(n, pos, where)
            for i in range(n):
                p = pos + 4 * i
                self.string(p, self.u32(p), (where, "", i))

    def _table(self, t, step, ttl, where) -> None:
        k = self._offset_field(t, step[2], step[3], where)
        if k:
            self.table(k, self.u32(k), step[4], ttl, where)

    def _table_vector(self, t, step, ttl, where) -> None:
        k = self._offset_field(t, step[2], step[3], where)
        if not k:
            return
        if ttl <= 0:
            raise self.fail("max nesting level reached", k, where)
        pos, n = self.vector(k, self.u32(k), 4, 4, where)
        self._spend(n, pos, where)
        for i in range(n):
            p = pos + 4 * i
            self.table(p, self.u32(p), step[4], ttl - 1, (where, "", i))

    def _union(self, t, step, ttl, where) -> None:
        voffset, required, members = step[2], step[3], step[4]
        vte_type = self.vt_entry(t, voffset - 2)
        if not vte_type:
            if self.vt_entry(t, voffset):
                raise self.fail("union cannot have a table without a type", t[0], where)
            if required:
                raise self.fail("type field absent from required union field", t[0], where)
            return
        type_pos = self._check_field(t, voffset - 2, 1, 1, False, where)
        tag = self.data[type_pos]
        if not tag:
            if self.vt_entry(t, voffset):
                raise self.fail("union value field present with type NONE", t[0], where)
            return
        k = self._offset_field(t, voffset, required, where)
        if not k:
            return
        member = members.get(tag)
        if member is not None:  # flatcc accepts unknown union types
            self.table(k, self.u32(k), member, ttl, where)

    def _union_vector(self, t, step, ttl, where) -> None:
        voffset, required, type_voffset, members = step[2], step[3], step[4], step[5]
        if not self.vt_entry(t, type_voffset) and not self.vt_entry(t, voffset) and required:
            raise self.fail("type field absent from required union vector field", t[0], where)
        k = self._offset_field(t, type_voffset, required, where)
        if not k:
            return
        types_pos, count = self.vector(k, self.u32(k), 1, 1, where)
        k = self._offset_field(t, voffset, required, where)
        if not k:
            return
        if ttl <= 0:
            raise self.fail("max nesting level reached", k, where)
        pos, n = self.vector(k, self.u32(k), 4, 4, where)
        if n != count:
            raise self.fail("union type and table vectors have different lengths", k, where)
        self._spend(n, pos, where)
        for i in range(n):
            p = pos + 4 * i
            elem = self.u32(p)
            tag = self.data[types_pos + i]
            if elem == 0:
                if tag != 0:
                    raise self.fail("union element absent without type NONE", p, (where, "", i))
            else:
                if tag == 0:
                    raise self.fail("union element present with type NONE", p, (where, "", i))
                member = members.get(tag)
                if member is not None:
                    self.table(p, elem, member, ttl - 1, (where, "", i))

    def _spend(self, n: int, pos: int, where) -> None:
        self.budget -= n
        if self.budget < 0:
            raise self.fail("tables are shared more often than this buffer size allows "
                            "(amplification)", pos, where)


def verify_flatbuffer(buf: Buffer, root_type: str, identifier: bytes | None) -> None:
    """Verifies a whole FlatBuffer (no size prefix) like flatcc's ``verify_as_root``."""
    v = _Verifier(buf)
    if buf.base & 3:
        raise v.fail("runtime: buffer header not aligned", 0, None)
    if buf.size > UOFFSET_MAX - 8:
        raise v.fail("runtime: buffer size too large", None, None)
    if buf.size < 8:
        raise v.fail("buffer header too small", 0, None)
    if identifier and bytes(buf.data[4:8]) != identifier:
        raise v.fail("identifier mismatch", 4, None)
    fast = buf.size >= FAST_VERIFY_MIN_SIZE and (
        "numpy" in sys.modules or buf.size >= FAST_VERIFY_IMPORT_SIZE)
    if fast and _fast_verify_passes(buf, root_type):
        return
    v.table(0, v.u32(0), root_type, MAX_LEVELS, None)


# Buffers from this size on are first verified with numpy (one pass per vector
# rather than per element); smaller ones are faster to check one by one. The
# scalar verifier takes ~60 ms per MiB of tables; importing numpy ~100 ms, so
# numpy is imported for this only from FAST_VERIFY_IMPORT_SIZE on.
FAST_VERIFY_MIN_SIZE = 256 * 1024
FAST_VERIFY_IMPORT_SIZE = 2 * 1024 * 1024


def _fast_verify_passes(buf: Buffer, root_type: str) -> bool:
    """True if the numpy verifier accepts the buffer; False means: find the error."""
    try:
        from iree_lab.format.fast_verifier import Invalid, fast_verify
    except ImportError:  # numpy unavailable: the scalar verifier does everything
        return False
    try:
        fast_verify(buf, root_type)
    except Invalid:
        return False
    return True
