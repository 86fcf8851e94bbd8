"""Vectorized (numpy) form of verifier.py for large FlatBuffers.

The rules and the plan of the scalar verifier (flatbuffer_rules.py), applied to whole vectors of tables at
once: a module with 50k source locations verifies in milliseconds instead of
a second. It only answers "valid or not": on any failure the caller reruns
the scalar verifier, which reports flatcc's exact first error.

Work is bounded: every element of every vector is visited at most once per
path through the schema (which is not recursive), and the total number of
visited elements is capped like in the scalar verifier (shared tables).
"""

from __future__ import annotations

import numpy as np

from iree_lab.format.flatbuffer_rules import (
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


class Invalid(Exception):
    """Some check failed; the scalar verifier finds and reports which."""


def _ok(mask) -> None:
    if not mask.all():
        raise Invalid


class FastVerifier:
    def __init__(self, buf):
        self.end = end = buf.size
        self.address = buf.base
        raw = np.frombuffer(buf.data, dtype=np.uint8)
        self.u8 = raw
        # Aligned views; every index into them is checked for alignment first.
        self.u16 = raw[: end // 2 * 2].view("<u2")
        self.u32 = raw[: end // 4 * 4].view("<u4")
        self.budget = 64 + 4 * end

    def _spend(self, n: int) -> None:
        self.budget -= n
        if self.budget < 0:
            raise Invalid

    def read_u32(self, pos):
        """u32 at 4-aligned, in-bounds positions."""
        return self.u32[pos >> 2].astype(np.int64)

    def tables(self, base, type_name: str) -> None:
        """Verifies the tables that the uoffsets at positions ``base`` point to."""
        if base.size == 0:
            return
        self._spend(int(base.size))
        offset = self.read_u32(base)
        _ok(offset_ok(base, offset, self.end))
        table = np.unique(base + offset)  # shared tables are verified once
        soffset = self.u32[table >> 2].view("<i4").astype(np.int64)
        vbase = (table - soffset) & UOFFSET_MAX
        _ok(vtable_position_ok(vbase) & vtable_header_in_buffer(vbase, self.end))
        vsize = self.u16[vbase >> 1].astype(np.int64)
        _ok(vtable_size_ok(vbase, vsize, self.end) & (vsize >= VTABLE_MIN_SIZE))
        tsize = self.u16[(vbase + 2) >> 1].astype(np.int64)
        _ok(table_size_ok(table, tsize, self.end))
        t = (table, vbase, vsize, tsize)
        for step in verification_plan(type_name).steps:
            getattr(self, "_" + step[0])(t, step)

    def vt_entry(self, t, voffset: int):
        table, vbase, vsize, _ = t
        present = voffset < vsize
        entry = np.zeros(table.size, dtype=np.int64)
        entry[present] = self.u16[(vbase[present] + voffset) >> 1]
        return entry

    def field(self, t, voffset, size, align, required):
        """Positions of present fields (absent ones filtered out)."""
        vte = self.vt_entry(t, voffset)
        present = vte != 0
        if required:
            _ok(present)
        table, tsize = t[0][present], t[3][present]
        vte = vte[present]
        pos = table + vte
        _ok(field_in_table(vte, size, tsize) & aligned(self.address + pos, align))
        return pos

    def offset_field(self, t, voffset, required):
        """A uoffset field (the buffer's base is 4-aligned, checked first)."""
        return self.field(t, voffset, 4, 4, required)

    def strings(self, base) -> None:
        if base.size == 0:
            return
        offset = self.read_u32(base)
        _ok(offset_ok(base, offset, self.end))
        pos = base + offset
        n = self.read_u32(pos)
        pos = pos + 4
        _ok(string_in_buffer(pos, n, self.end))
        _ok(self.u8[pos + n] == 0)

    def vectors(self, base, elem_size: int, align: int):
        """(element start, count) of the vectors the uoffsets at ``base`` point to."""
        offset = self.read_u32(base)
        _ok(offset_ok(base, offset, self.end))
        pos = base + offset
        n = self.read_u32(pos)
        pos = pos + 4
        _ok(vector_aligned(pos, n, align))
        _ok(vector_count_ok(n, elem_size))
        _ok(vector_in_buffer(pos, n, elem_size, self.end))
        return pos, n

    def elements(self, start, count):
        """Positions of every uoffset element of the given vectors, concatenated."""
        total = int(count.sum())
        self._spend(total)
        if total == 0:
            return np.zeros(0, dtype=np.int64)
        first = np.repeat(start, count)
        index = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(count) - count, count)
        return first + 4 * index

    # -- steps (mirroring verifier._Verifier) ----------------------------------

    def _field(self, t, step):
        self.field(t, step[2], step[3], step[4], step[5])

    def _string(self, t, step):
        self.strings(self.offset_field(t, step[2], step[3]))

    def _vector(self, t, step):
        k = self.offset_field(t, step[2], step[3])
        if k.size:
            self.vectors(k, step[4], step[5])

    def _string_vector(self, t, step):
        k = self.offset_field(t, step[2], step[3])
        if k.size:
            self.strings(self.elements(*self.vectors(k, 4, 4)))

    def _table(self, t, step):
        self.tables(self.offset_field(t, step[2], step[3]), step[4])

    def _table_vector(self, t, step):
        k = self.offset_field(t, step[2], step[3])
        if k.size:
            self.tables(self.elements(*self.vectors(k, 4, 4)), step[4])

    def _union(self, t, step):
        voffset, required, members = step[2], step[3], step[4]
        type_vte = self.vt_entry(t, voffset - 2)
        value_vte = self.vt_entry(t, voffset)
        _ok((type_vte != 0) | (value_vte == 0))
        if required:
            _ok(type_vte != 0)
        has_type = type_vte != 0
        sub = tuple(a[has_type] for a in t)
        type_pos = self.field(sub, voffset - 2, 1, 1, False)
        tags = self.u8[type_pos].astype(np.int64)
        _ok((tags != 0) | (value_vte[has_type] == 0))
        tagged = tags != 0
        sub = tuple(a[tagged] for a in sub)
        tags = tags[tagged]
        k_vte = self.vt_entry(sub, voffset)
        present = k_vte != 0
        if required:
            _ok(present)
        sub = tuple(a[present] for a in sub)
        tags = tags[present]
        k = self.offset_field(sub, voffset, False)
        for tag, member in members.items():
            self.tables(k[tags == tag], member)

    def _union_vector(self, t, step):
        voffset, required, type_voffset, members = step[2], step[3], step[4], step[5]
        if required:
            _ok((self.vt_entry(t, type_voffset) != 0) | (self.vt_entry(t, voffset) != 0))
        type_vte = self.vt_entry(t, type_voffset)
        if required:
            _ok(type_vte != 0)
        has_types = type_vte != 0
        sub = tuple(a[has_types] for a in t)
        k = self.offset_field(sub, type_voffset, False)
        types_pos, count = self.vectors(k, 1, 1)
        value_vte = self.vt_entry(sub, voffset)
        present = value_vte != 0
        if required:
            _ok(present)
        sub = tuple(a[present] for a in sub)
        types_pos, count = types_pos[present], count[present]
        k = self.offset_field(sub, voffset, False)
        pos, n = self.vectors(k, 4, 4)
        _ok(n == count)
        elems = self.elements(pos, n)
        tags = self.u8[self.elements_bytes(types_pos, count)].astype(np.int64)
        values = self.read_u32(elems)
        _ok((values != 0) | (tags == 0))
        _ok((values == 0) | (tags != 0))
        for tag, member in members.items():
            self.tables(elems[(tags == tag) & (values != 0)], member)

    def elements_bytes(self, start, count):
        total = int(count.sum())
        if total == 0:
            return np.zeros(0, dtype=np.int64)
        first = np.repeat(start, count)
        return first + np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(count) - count,
                                                                    count)


def fast_verify(buf, root_type: str) -> None:
    """Raises Invalid if the buffer (header already checked) fails any rule."""
    v = FastVerifier(buf)
    v.tables(np.zeros(1, dtype=np.int64), root_type)
