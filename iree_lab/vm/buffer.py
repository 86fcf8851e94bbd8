"""``vm.buffer``: byte buffers with IREE's access rules and bounds checks.

Offsets and lengths reach the VM as i64 registers and IREE reinterprets them as
``iree_host_size_t`` (unsigned), so a negative offset is a huge one and fails the
bounds check. Element loads/stores/fills take *element* offsets and counts
(``vm_buffer_load_i32`` indexes ``int32_t*``); copy/compare/hash/clone take bytes.
Where IREE's 64-bit bounds arithmetic could wrap around (and then touch memory
out of bounds) iree_lab reports OUT_OF_RANGE instead.
"""

from __future__ import annotations

import enum
import struct

import numpy as np

from iree_lab.vm.ref import RefObject, RefType
from iree_lab.vm.status import StatusCode, VMStatus
from iree_lab.vm.value import MASK64


class BufferAccess(enum.IntFlag):
    """``iree_vm_buffer_access_bits_t``."""

    MUTABLE = 1 << 0
    ORIGIN_MODULE = 1 << 1
    ORIGIN_GUEST = 1 << 2
    ORIGIN_HOST = 1 << 3


# Largest buffer the VM will allocate; beyond it allocation fails with
# RESOURCE_EXHAUSTED (as IREE's allocator does when malloc fails) instead of
# exhausting the host.
MAX_ALLOCATION_SIZE = 1 << 32

_FORMAT_SIZES = {"b": 1, "B": 1, "h": 2, "H": 2, "i": 4, "I": 4, "q": 8, "Q": 8, "f": 4, "d": 8}


def _oob(offset: int, length: int, alignment: int, buffer_length: int) -> VMStatus:
    return VMStatus(
        StatusCode.OUT_OF_RANGE,
        f"out-of-bounds access detected (offset={offset & MASK64}, length={length & MASK64}, "
        f"alignment={alignment}, buffer length={buffer_length})",
    )


def _read_only() -> VMStatus:
    return VMStatus(
        StatusCode.PERMISSION_DENIED, "buffer is read-only and cannot be mapped for mutation"
    )


def check_alignment(alignment: int) -> int:
    """``iree_allocator_malloc_aligned``'s alignment rule (0 or a power of two)."""
    alignment &= MASK64
    if alignment != 0 and (alignment & (alignment - 1)) != 0:
        raise VMStatus(
            StatusCode.INVALID_ARGUMENT, f"alignments must be powers of two (got {alignment})"
        )
    return alignment


class Buffer(RefObject):
    """An ``iree_vm_buffer_t``.

    ``data`` is a writable ``bytearray``/``memoryview`` for mutable buffers and a
    read-only ``memoryview`` otherwise. ``v_*`` cache typed views used by element
    loads and stores (memoryviews for integers and f64, a numpy array for f32 so
    loads yield bit-exact ``numpy.float32``); ``n1``..``n8`` count whole elements.
    """

    __slots__ = (
        "access", "data", "length", "mutable", "alignment", "origin_name",
        "n1", "n2", "n4", "n8",
        "v_b", "v_B", "v_h", "v_H", "v_i", "v_I", "v_q", "v_Q", "v_f", "v_d",
    )  # fmt: skip
    ref_type = RefType.get("vm.buffer")

    def __init__(self, data, access: BufferAccess, *, alignment: int = 0, origin_name: str = ""):
        mv = memoryview(data)
        if mv.format != "B" or mv.ndim != 1:
            mv = mv.cast("B")
        self.data = mv
        self.length = n = mv.nbytes
        self.access = BufferAccess(access)
        self.mutable = bool(self.access & BufferAccess.MUTABLE)
        self.alignment = alignment
        self.origin_name = origin_name
        self.n1, self.n2, self.n4, self.n8 = n, n >> 1, n >> 2, n >> 3
        self.v_b = self.v_B = self.v_h = self.v_H = self.v_i = self.v_I = None
        self.v_q = self.v_Q = self.v_f = self.v_d = None

    def typed_view(self, fmt: str):
        """The typed view ``v_<fmt>`` over the buffer's whole elements (created once)."""
        size = _FORMAT_SIZES[fmt]
        count = self.length // size
        if fmt == "f":
            view = np.frombuffer(self.data, dtype=np.float32, count=count)
        else:
            view = self.data[: count * size].cast(fmt)
        setattr(self, "v_" + fmt, view)
        return view

    # -- Construction (vm.buffer.alloc / clone, rodata) ---------------------------------

    @classmethod
    def allocate(
        cls, length: int, alignment: int = 0, access=BufferAccess.MUTABLE | BufferAccess.ORIGIN_GUEST
    ) -> Buffer:
        alignment = check_alignment(alignment)
        length &= MASK64
        if length > MAX_ALLOCATION_SIZE:
            raise VMStatus(
                StatusCode.RESOURCE_EXHAUSTED,
                f"buffer allocation of {length} bytes exceeds the iree_lab limit "
                f"({MAX_ALLOCATION_SIZE} bytes)",
            )
        return cls(bytearray(length), access, alignment=alignment)

    @classmethod
    def wrap_rodata(cls, data, name: str = "", alignment: int = 0) -> Buffer:
        """A read-only buffer over module rodata (``ORIGIN_MODULE``, not mutable).

        ``alignment`` is the alignment IREE's pointer to the data has (the module
        file is loaded page-aligned, so that of the data's file offset); 0 if unknown.
        """
        mv = memoryview(data)
        if not mv.readonly:
            mv = mv.toreadonly()
        return cls(mv, BufferAccess.ORIGIN_MODULE, alignment=alignment, origin_name=name)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray, *, mutable: bool = True) -> Buffer:
        """A host-origin buffer holding a copy of ``data``."""
        if mutable:
            return cls(bytearray(data), BufferAccess.MUTABLE | BufferAccess.ORIGIN_HOST)
        return cls(memoryview(bytes(data)), BufferAccess.ORIGIN_HOST)

    def clone(self, offset: int, length: int, alignment: int) -> Buffer:
        span = self.map_ro(offset, length, 1)
        alignment = check_alignment(alignment)
        return Buffer(
            bytearray(span), BufferAccess.MUTABLE | BufferAccess.ORIGIN_GUEST, alignment=alignment
        )

    # -- Inspection -----------------------------------------------------------------------

    @property
    def is_mutable(self) -> bool:
        return self.mutable

    def tobytes(self) -> bytes:
        return self.data.tobytes()

    def __len__(self) -> int:
        return self.length

    def __repr__(self) -> str:
        kind = "mutable" if self.is_mutable else "read-only"
        name = f" {self.origin_name!r}" if self.origin_name else ""
        return f"<vm.buffer{name} {self.length} bytes {kind}>"

    # -- Byte ranges (iree_vm_buffer_map_ro/rw) -----------------------------------------

    def _map(self, offset: int, length: int, alignment: int) -> tuple[int, int]:
        offset &= MASK64
        length &= MASK64
        offset &= ~(alignment - 1) & MASK64
        length &= ~(alignment - 1) & MASK64
        if offset + length > self.length:
            raise VMStatus(
                StatusCode.OUT_OF_RANGE,
                f"out-of-bounds access detected (offset={offset}, length={length}, "
                f"alignment={alignment}, buffer length={self.length})",
            )
        return offset, length

    def map_ro(self, offset: int, length: int, alignment: int = 1) -> memoryview:
        offset, length = self._map(offset, length, alignment)
        return self.data[offset : offset + length]

    def map_rw(self, offset: int, length: int, alignment: int = 1) -> memoryview:
        if not self.mutable:
            raise _read_only()
        offset, length = self._map(offset, length, alignment)
        return self.data[offset : offset + length]

    # -- Element access (iree_vm_buffer_check_ro/rw) ------------------------------------

    def _check(self, element_offset: int, element_count: int, size: int, write: bool) -> int:
        if write and not self.access & BufferAccess.MUTABLE:
            raise _read_only()
        element_offset &= MASK64
        element_count &= MASK64
        end = (element_offset + element_count) * size
        if end > self.length:
            raise _oob(element_offset * size, element_count * size, size, self.length)
        return element_offset

    def load(self, fmt: str, element_offset: int):
        """Loads element ``element_offset`` (struct format ``fmt``: b/B/h/H/i/q/f/d)."""
        size = _FORMAT_SIZES[fmt]
        view = getattr(self, "v_" + fmt)
        if view is None:
            view = self.typed_view(fmt)
        if 0 <= element_offset < self.length // size:
            value = view[element_offset]
            return float(value) if fmt == "d" else value
        raise _oob(element_offset * size, size, size, self.length)

    def store(self, fmt: str, element_offset: int, value) -> None:
        if not self.mutable:
            raise _read_only()
        size = _FORMAT_SIZES[fmt]
        view = getattr(self, "v_" + fmt)
        if view is None:
            view = self.typed_view(fmt)
        if 0 <= element_offset < self.length // size:
            view[element_offset] = value
            return
        raise _oob(element_offset * size, size, size, self.length)

    def fill(self, fmt: str, element_offset: int, element_count: int, value) -> None:
        """``vm.buffer.fill.*``: element offset and count; ``fmt`` in B/H/I/Q/f/d."""
        size = _FORMAT_SIZES[fmt]
        start = self._check(element_offset, element_count, size, write=True)
        count = element_count & MASK64
        if count == 0:
            return
        if fmt == "f":
            view = self.v_f if self.v_f is not None else self.typed_view("f")
            view[start : start + count] = value
            return
        if fmt == "d":
            pattern = struct.pack("<d", value)
        else:
            pattern = int(value).to_bytes(size, "little", signed=False)
        self.data[start * size : (start + count) * size] = pattern * count

    # -- Whole-range ops ------------------------------------------------------------------

    def copy_to(self, source_offset: int, target: Buffer, target_offset: int, length: int) -> None:
        """``iree_vm_buffer_copy_bytes`` (overlap behaves like memmove)."""
        src = self.map_ro(source_offset, length, 1)
        dst = target.map_rw(target_offset, length, 1)
        dst[:] = bytes(src)

    def compare(self, lhs_offset: int, rhs: Buffer, rhs_offset: int, length: int) -> bool:
        lhs_span = self.map_ro(lhs_offset, length, 1)
        rhs_span = rhs.map_ro(rhs_offset, length, 1)
        return lhs_span == rhs_span

    def hash(self, offset: int, length: int) -> int:
        """``iree_vm_buffer_hash``: SipHash-2-4 with IREE's fixed key, as signed i64."""
        return siphash24(bytes(self.map_ro(offset, length, 1)))


# -- SipHash-2-4 (key 00 01 02 ... 0f), as iree_vm_buffer_hash computes it ---------------


def _rotl(x: int, b: int) -> int:
    return ((x << b) | (x >> (64 - b))) & MASK64


def siphash24(data: bytes) -> int:
    v0 = 0x736F6D6570736575 ^ 0x0706050403020100
    v1 = 0x646F72616E646F6D ^ 0x0F0E0D0C0B0A0908
    v2 = 0x6C7967656E657261 ^ 0x0706050403020100
    v3 = 0x7465646279746573 ^ 0x0F0E0D0C0B0A0908

    def rounds(n, v0, v1, v2, v3):
        for _ in range(n):
            v0 = (v0 + v1) & MASK64
            v1 = _rotl(v1, 13) ^ v0
            v0 = _rotl(v0, 32)
            v2 = (v2 + v3) & MASK64
            v3 = _rotl(v3, 16) ^ v2
            v0 = (v0 + v3) & MASK64
            v3 = _rotl(v3, 21) ^ v0
            v2 = (v2 + v1) & MASK64
            v1 = _rotl(v1, 17) ^ v2
            v2 = _rotl(v2, 32)
        return v0, v1, v2, v3

    n = len(data)
    end = n - (n % 8)
    for i in range(0, end, 8):
        m = int.from_bytes(data[i : i + 8], "little")
        v3 ^= m
        v0, v1, v2, v3 = rounds(2, v0, v1, v2, v3)
        v0 ^= m
    tail = (n & 0xFF) << 56 | int.from_bytes(data[end:], "little")
    v3 ^= tail
    v0, v1, v2, v3 = rounds(2, v0, v1, v2, v3)
    v0 ^= tail
    v2 ^= 0xFF
    v0, v1, v2, v3 = rounds(4, v0, v1, v2, v3)
    h = v0 ^ v1 ^ v2 ^ v3
    return h - (1 << 64) if h & (1 << 63) else h
