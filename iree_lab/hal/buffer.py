"""HAL buffers and the heap allocator, backed by numpy byte arrays.

An *allocated* buffer owns a ``numpy.uint8`` array; a *subspan* shares its
allocated buffer's array at an offset (IREE never nests subspans: a subspan of
a subspan points at the allocated buffer). Range checks, access checks and
their error messages follow ``runtime/src/iree/hal/buffer.c``.

Memory never leaves the host: "mapping" returns a numpy view of the bytes.
"""

from __future__ import annotations

import numpy as np

from iree_lab.hal.types import (
    QUEUE_AFFINITY_ANY,
    WHOLE_BUFFER,
    BufferUsage,
    MappingMode,
    MemoryAccess,
    MemoryType,
    format_buffer_usage,
    format_memory_access,
    format_memory_type,
    status,
)
from iree_lab.vm.ref import RefObject, RefType
from iree_lab.vm.status import StatusCode

# Largest single allocation the Python HAL makes; beyond it allocation fails with
# RESOURCE_EXHAUSTED (what IREE's heap allocator reports when malloc fails)
# instead of exhausting the host.
MAX_ALLOCATION_SIZE = 1 << 32

# ``IREE_HAL_BUFFER_PLACEMENT_FLAG_*``.
PLACEMENT_FLAG_NONE = 0
PLACEMENT_FLAG_ASYNCHRONOUS = 1 << 0
PLACEMENT_FLAG_INDETERMINATE_LIFETIME = 1 << 1


def calculate_range(base_offset: int, max_length: int, offset: int, length: int):
    """``iree_hal_buffer_calculate_range``: (absolute offset, length) or OUT_OF_RANGE."""
    if offset > max_length:
        raise status(
            StatusCode.OUT_OF_RANGE,
            "attempted to access an address off the end of the valid buffer range "
            f"(offset={_dsz(offset)}, length={_dsz(length)}, buffer byte_length={max_length})",
        )
    adjusted_length = max_length - offset if length == WHOLE_BUFFER else length
    if adjusted_length == 0:
        return base_offset + offset, 0
    end = offset + adjusted_length - 1
    if end >= max_length:
        raise status(
            StatusCode.OUT_OF_RANGE,
            "attempted to access an address outside of the valid buffer range "
            f"(offset={_dsz(offset)}, adjusted_length={_dsz(adjusted_length)}, "
            f"end={_dsz(end)}, buffer byte_length={max_length})",
        )
    return base_offset + offset, adjusted_length


def _dsz(value: int) -> int:
    # PRIdsz prints iree_device_size_t as a signed 64-bit number.
    value &= (1 << 64) - 1
    return value - (1 << 64) if value & (1 << 63) else value


def validate_access(allowed: int, required: int) -> None:
    """``iree_hal_buffer_validate_access``."""
    if required & MemoryAccess.ANY == MemoryAccess.ANY:
        return
    if not required & (MemoryAccess.READ | MemoryAccess.WRITE):
        raise status(
            StatusCode.INVALID_ARGUMENT,
            "memory access must specify one or more of _READ or _WRITE",
        )
    if allowed & required != required:
        raise status(
            StatusCode.PERMISSION_DENIED,
            "buffer does not support the requested access type; buffer allows "
            f"{format_memory_access(allowed)}, operation requires "
            f"{format_memory_access(required)}",
        )


def validate_usage(allowed: int, required: int) -> None:
    """``iree_hal_buffer_validate_usage``."""
    if allowed & required != required:
        raise status(
            StatusCode.PERMISSION_DENIED,
            "requested usage was not specified when the buffer was allocated; buffer allows "
            f"{format_buffer_usage(allowed)}, operation requires {format_buffer_usage(required)}",
        )


def validate_memory_type(actual: int, expected: int) -> None:
    """``iree_hal_buffer_validate_memory_type``."""
    if actual & expected != expected:
        raise status(
            StatusCode.PERMISSION_DENIED,
            "buffer memory type is not compatible with the requested operation; buffer has "
            f"{format_memory_type(actual)}, operation requires {format_memory_type(expected)}",
        )


class Buffer(RefObject):
    """An ``iree_hal_buffer_t``: a byte range of an allocation.

    ``id`` is a small number unique within the device (what the recorder and
    the views show). ``origin`` says how the allocation came to be
    (``allocate``, ``alloca``, ``import``, ``wrap``); subspans keep their
    allocated buffer's origin.
    """

    __slots__ = (
        "id",
        "device",
        "_allocated",
        "_storage",
        "byte_offset",
        "byte_length",
        "memory_type",
        "allowed_access",
        "allowed_usage",
        "queue_affinity",
        "placement_flags",
        "preserve_count",
        "origin",
        "host_source",
        "deallocated",
    )
    ref_type = RefType.get("hal.buffer")

    def __init__(
        self,
        *,
        storage: np.ndarray | None,
        allocated: Buffer | None,
        byte_offset: int,
        byte_length: int,
        memory_type: int,
        allowed_access: int,
        allowed_usage: int,
        device=None,
        queue_affinity: int = QUEUE_AFFINITY_ANY,
        placement_flags: int = PLACEMENT_FLAG_NONE,
        origin: str = "allocate",
        buffer_id: int = -1,
        host_source=None,
    ):
        self.id = buffer_id
        self.device = device
        self._allocated = allocated if allocated is not None else self
        self._storage = storage if allocated is None else None
        self.byte_offset = byte_offset
        self.byte_length = byte_length
        self.memory_type = MemoryType(memory_type & 0xFFFFFFFF)
        self.allowed_access = MemoryAccess(allowed_access & 0xFFFF)
        self.allowed_usage = BufferUsage(allowed_usage & 0xFFFFFFFF)
        self.queue_affinity = queue_affinity
        self.placement_flags = placement_flags
        self.preserve_count = 1
        self.origin = origin
        # The object whose memory an imported buffer aliases (kept alive with it).
        self.host_source = host_source
        self.deallocated = False

    # -- Identity -------------------------------------------------------------------------

    @property
    def allocated_buffer(self) -> Buffer:
        return self._allocated

    @property
    def is_allocated(self) -> bool:
        return self._allocated is self

    @property
    def allocation_size(self) -> int:
        return int(self._allocated._storage.size)

    @property
    def storage(self) -> np.ndarray:
        """The whole allocation's bytes (shared with every subspan)."""
        return self._allocated._storage

    def __repr__(self) -> str:
        kind = "" if self.is_allocated else f" subspan of #{self._allocated.id}"
        return (
            f"<hal.buffer #{self.id}{kind} offset={self.byte_offset} "
            f"length={self.byte_length} {format_memory_type(self.memory_type)}>"
        )

    # -- Subspans -------------------------------------------------------------------------

    def subspan(self, byte_offset: int, byte_length: int) -> Buffer:
        """``iree_hal_buffer_subspan`` (returns ``self`` for the whole range)."""
        offset, length = calculate_range(
            self.byte_offset, self.byte_length, byte_offset, byte_length
        )
        relative = offset - self.byte_offset
        if relative == 0 and length == self.byte_length:
            return self
        allocated = self._allocated
        if allocated is not self:
            return allocated.subspan(offset, length)
        sub = Buffer(
            storage=None,
            allocated=allocated,
            byte_offset=offset,
            byte_length=length,
            memory_type=allocated.memory_type,
            allowed_access=allocated.allowed_access,
            allowed_usage=allocated.allowed_usage,
            device=allocated.device,
            queue_affinity=allocated.queue_affinity,
            origin=allocated.origin,
        )
        if allocated.device is not None:
            allocated.device._register_buffer(sub, parent=allocated)
        return sub

    # -- Allocation lifetime (preserve/discard) -------------------------------------------

    def allocation_preserve(self) -> None:
        self._allocated.preserve_count += 1

    def allocation_discard(self) -> bool:
        """Drops one preserve; True when it was the last (caller may deallocate)."""
        allocated = self._allocated
        allocated.preserve_count -= 1
        return allocated.preserve_count == 0

    def allocation_is_terminal(self) -> bool:
        return self._allocated.preserve_count == 1

    # -- Mapping --------------------------------------------------------------------------

    def map_range(
        self,
        mode: int,
        access: int,
        byte_offset: int = 0,
        byte_length: int = WHOLE_BUFFER,
    ) -> np.ndarray:
        """``iree_hal_buffer_map_range``: a uint8 view of the mapped bytes.

        The view is read-only unless ``access`` includes WRITE (or ANY).
        """
        validate_access(self.allowed_access, access)
        if mode & MappingMode.PERSISTENT:
            validate_memory_type(self.memory_type, MemoryType.HOST_VISIBLE)
            validate_usage(
                self.allowed_usage,
                BufferUsage.MAPPING_PERSISTENT
                if mode == MappingMode.PERSISTENT
                else BufferUsage.MAPPING_SCOPED,
            )
        offset, length = calculate_range(
            self.byte_offset, self.byte_length, byte_offset, byte_length
        )
        view = self.storage[offset : offset + length]
        if access & MemoryAccess.ANY and not view.flags.writeable and \
                self._allocated.origin == "import":
            # Dispatch bindings are mapped with ACCESS_ANY and IREE's CPU executables
            # write through them even into an import of module rodata (iree-run-module
            # reads the vmfb into writable heap memory; stablehlo sort runs in place on
            # its constant input). The mmap'd rodata here is read-only, so the allocation
            # takes a private writable copy (its subspans share it).
            allocated = self._allocated
            private = aligned_zeros(allocated._storage.size)  # native code: aligned loads
            private[:] = allocated._storage
            allocated._storage = private
            view = self.storage[offset : offset + length]
        if not access & (MemoryAccess.WRITE | MemoryAccess.ANY) and view.flags.writeable:
            view = view.view()
            view.flags.writeable = False
        return view

    def contents(self) -> np.ndarray:
        """Read-only uint8 view of the buffer's bytes (no access checks; for tools)."""
        view = self.storage[self.byte_offset : self.byte_offset + self.byte_length].view()
        view.flags.writeable = False
        return view

    # -- Transfers (iree_hal_buffer_map_*) ------------------------------------------------

    def map_read(self, byte_offset: int, byte_length: int) -> bytes:
        if byte_length == 0:
            return b""
        view = self.map_range(MappingMode.SCOPED, MemoryAccess.READ, byte_offset, byte_length)
        return view.tobytes()

    def map_write(self, byte_offset: int, data) -> None:
        data = memoryview(data).cast("B")
        if data.nbytes == 0:
            return
        view = self.map_range(
            MappingMode.SCOPED, MemoryAccess.DISCARD_WRITE, byte_offset, data.nbytes
        )
        _writable(view)[:] = np.frombuffer(data, dtype=np.uint8)

    def map_fill(self, byte_offset: int, byte_length: int, pattern: bytes) -> None:
        pattern_length = len(pattern)
        if pattern_length not in (1, 2, 4):
            raise status(
                StatusCode.INVALID_ARGUMENT,
                f"fill patterns must be 1, 2, or 4 bytes (got {pattern_length})",
            )
        if byte_length == 0:
            return
        view = self.map_range(
            MappingMode.SCOPED, MemoryAccess.DISCARD_WRITE, byte_offset, byte_length
        )
        if byte_length == WHOLE_BUFFER:
            byte_length = view.size
        if byte_offset % pattern_length or byte_length % pattern_length:
            raise status(
                StatusCode.INVALID_ARGUMENT,
                f"attempting to fill a range with {pattern_length} byte values that is not "
                f"aligned (offset={_dsz(byte_offset)}, length={_dsz(byte_length)})",
            )
        fill_bytes(_writable(view), pattern)

    def map_copy(self, source_offset: int, target: Buffer, target_offset: int,
                 length: int) -> None:
        """``iree_hal_buffer_map_copy`` (ranges in the same allocation must not overlap)."""
        if length == 0:
            return
        if self.test_overlap(source_offset, length, target, target_offset, length):
            raise status(
                StatusCode.INVALID_ARGUMENT,
                "source and target ranges must not overlap within the same buffer",
            )
        src = self.map_range(MappingMode.SCOPED, MemoryAccess.READ, source_offset, length)
        dst = target.map_range(
            MappingMode.SCOPED, MemoryAccess.DISCARD_WRITE, target_offset, length
        )
        _writable(dst)[:] = src

    def test_overlap(self, offset: int, length: int, other: Buffer, other_offset: int,
                     other_length: int) -> bool:
        """Whether two ranges touch the same bytes of one allocation."""
        if self._allocated is not other._allocated:
            return False
        a0 = self.byte_offset + offset
        b0 = other.byte_offset + other_offset
        a1 = a0 + (self.byte_length - offset if length == WHOLE_BUFFER else length)
        b1 = b0 + (other.byte_length - other_offset if other_length == WHOLE_BUFFER
                   else other_length)
        return a0 < b1 and b0 < a1


def _writable(view: np.ndarray) -> np.ndarray:
    if not view.flags.writeable:
        # The storage itself is read-only (an imported read-only host buffer).
        raise status(StatusCode.PERMISSION_DENIED, "buffer memory is read-only")
    return view


def fill_bytes(target: np.ndarray, pattern: bytes) -> None:
    """Repeats ``pattern`` (1, 2 or 4 bytes) over the uint8 array ``target``."""
    n = len(pattern)
    if n == 1 or pattern == bytes(n):
        target[:] = pattern[0] if n == 1 else 0
        return
    count = target.size // n
    target[: count * n] = np.frombuffer(pattern * count, dtype=np.uint8)


# IREE_HAL_HEAP_BUFFER_ALIGNMENT: generated CPU code uses aligned vector loads and
# stores (e.g. AVX-512 vmovaps) on bindings, so allocations start on 64 bytes.
HEAP_BUFFER_ALIGNMENT = 64


def aligned_zeros(size: int, alignment: int = HEAP_BUFFER_ALIGNMENT) -> np.ndarray:
    """``size`` zero bytes whose first byte sits on an ``alignment`` boundary."""
    raw = np.zeros(size + alignment, dtype=np.uint8)
    start = -raw.ctypes.data % alignment
    return raw[start:start + size]


class Allocator(RefObject):
    """``iree_hal_allocator_t`` of a local device: heap memory, host visible."""

    __slots__ = ("device", "bytes_allocated", "bytes_freed")
    ref_type = RefType.get("hal.allocator")

    def __init__(self, device=None):
        self.device = device
        self.bytes_allocated = 0
        self.bytes_freed = 0

    def __repr__(self) -> str:
        return "<hal.allocator heap>"

    @staticmethod
    def compatible_params(memory_type: int, usage: int) -> tuple[int, int]:
        """``iree_hal_heap_allocator_query_buffer_compatibility``'s param coercion."""
        if not usage:
            usage = int(BufferUsage.DEFAULT)
        if not memory_type:
            memory_type = int(MemoryType.OPTIMAL)
        memory_type |= MemoryType.HOST_VISIBLE
        memory_type &= ~MemoryType.OPTIMAL
        usage |= (
            BufferUsage.MAPPING_SCOPED
            | BufferUsage.MAPPING_PERSISTENT
            | BufferUsage.MAPPING_ACCESS_RANDOM
            | BufferUsage.TRANSFER
        )
        return int(memory_type), int(usage)

    def allocate(
        self,
        memory_type: int,
        usage: int,
        allocation_size: int,
        *,
        access: int = 0,
        queue_affinity: int = QUEUE_AFFINITY_ANY,
        origin: str = "allocate",
        placement_flags: int = PLACEMENT_FLAG_NONE,
    ) -> Buffer:
        """``iree_hal_allocator_allocate_buffer`` (zero-filled, like calloc)."""
        memory_type, usage = self.compatible_params(memory_type, usage)
        if allocation_size > MAX_ALLOCATION_SIZE:
            raise status(
                StatusCode.RESOURCE_EXHAUSTED,
                f"allocation of {allocation_size} bytes exceeds the iree_lab limit "
                f"({MAX_ALLOCATION_SIZE} bytes)",
            )
        buffer = Buffer(
            storage=aligned_zeros(allocation_size),
            allocated=None,
            byte_offset=0,
            byte_length=allocation_size,
            memory_type=memory_type,
            allowed_access=access or int(MemoryAccess.ALL),
            allowed_usage=usage,
            device=self.device,
            queue_affinity=queue_affinity or QUEUE_AFFINITY_ANY,
            placement_flags=placement_flags,
            origin=origin,
        )
        self.bytes_allocated += allocation_size
        if self.device is not None:
            self.device._register_buffer(buffer)
        return buffer

    def import_host(
        self,
        memory_type: int,
        usage: int,
        data,
        *,
        access: int,
        queue_affinity: int = QUEUE_AFFINITY_ANY,
        host_source=None,
        host_alignment: int | None = None,
    ) -> Buffer:
        """Wraps host memory (a writable or read-only buffer-protocol object) without copying.

        ``host_alignment`` is the alignment IREE's pointer to ``data`` would have (the
        ``hal.allocator.import`` path): ``iree_hal_heap_buffer_wrap`` refuses data not
        aligned to ``IREE_HAL_HEAP_BUFFER_ALIGNMENT`` unless UNALIGNED access is
        requested. Python callers leave it None and unaligned read-only data is copied.
        """
        memory_type, usage = self.compatible_params(memory_type, usage)
        if (host_alignment is not None and not access & MemoryAccess.UNALIGNED
                and host_alignment % HEAP_BUFFER_ALIGNMENT):
            raise status(
                StatusCode.OUT_OF_RANGE,
                f"imported heap buffer data must be aligned to {HEAP_BUFFER_ALIGNMENT}; "
                f"got data aligned to {host_alignment}",
            )
        storage = np.frombuffer(data, dtype=np.uint8) if len(memoryview(data)) else np.zeros(
            0, dtype=np.uint8
        )
        if storage.ctypes.data % HEAP_BUFFER_ALIGNMENT and not access & MemoryAccess.WRITE:
            # Read-only host data that is not 64-byte aligned (a module opened from
            # bytes): native dispatches may load it with aligned vector instructions.
            aligned = aligned_zeros(storage.size)
            aligned[:] = storage
            storage = aligned
        buffer = Buffer(
            storage=storage,
            allocated=None,
            byte_offset=0,
            byte_length=storage.size,
            memory_type=memory_type,
            allowed_access=access,
            allowed_usage=usage,
            device=self.device,
            queue_affinity=queue_affinity or QUEUE_AFFINITY_ANY,
            origin="import",
            host_source=host_source if host_source is not None else data,
        )
        if self.device is not None:
            self.device._register_buffer(buffer)
        return buffer
