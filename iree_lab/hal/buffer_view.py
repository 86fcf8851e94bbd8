"""HAL buffer views: a buffer with a shape, an element type and an encoding."""

from __future__ import annotations

import numpy as np

from iree_lab.hal.buffer import Buffer
from iree_lab.hal.types import (
    EncodingType,
    element_bit_count,
    element_dtype,
    element_packed_byte_count,
    format_element_type,
)
from iree_lab.vm.ref import RefObject, RefType


class BufferView(RefObject):
    """An ``iree_hal_buffer_view_t``.

    ``byte_length`` is the packed size of the shape (sub-byte elements share
    bytes), as ``iree_hal_buffer_view_create`` computes it.
    """

    __slots__ = ("id", "buffer", "shape", "element_type", "encoding_type", "byte_length")
    ref_type = RefType.get("hal.buffer_view")

    def __init__(self, buffer: Buffer, shape, element_type: int,
                 encoding_type: int = EncodingType.DENSE_ROW_MAJOR):
        self.buffer = buffer
        device = buffer.device
        self.id = device.next_id("buffer_view") if device is not None else -1
        self.shape = tuple(int(d) for d in shape)
        self.element_type = int(element_type) & 0xFFFFFFFF
        self.encoding_type = int(encoding_type) & 0xFFFFFFFF
        count = 1
        for d in self.shape:
            count *= d
        self.byte_length = element_packed_byte_count(self.element_type, count)
        recorder = getattr(device, "recorder", None)
        if recorder is not None:
            recorder.record_buffer_view(self)

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def element_count(self) -> int:
        count = 1
        for d in self.shape:
            count *= d
        return count

    def dim(self, index: int) -> int:
        """``iree_hal_buffer_view_shape_dim`` (0 outside the shape)."""
        return self.shape[index] if 0 <= index < len(self.shape) else 0

    @property
    def type_text(self) -> str:
        """``4x8xf32``-style shape and element type (as iree-run-module prints it)."""
        dims = "x".join(str(d) for d in self.shape)
        element = format_element_type(self.element_type)
        return f"{dims}x{element}" if dims else element

    def __repr__(self) -> str:
        return f"<hal.buffer_view #{self.id} {self.type_text} buffer=#{self.buffer.id}>"

    def to_numpy(self) -> np.ndarray:
        """A copy of the contents as a numpy array of the view's shape.

        Sub-byte integers (i4) are unpacked, low nibble first; opaque element
        types come back as raw bytes (uint8 with a trailing byte dimension).
        """
        data = self.buffer.contents()
        dtype = element_dtype(self.element_type)
        bits = element_bit_count(self.element_type)
        count = self.element_count
        if dtype is not None and bits < 8:
            packed = data[: self.byte_length]
            per_byte = 8 // bits
            mask = (1 << bits) - 1
            shifts = np.arange(per_byte, dtype=np.uint8) * bits
            unpacked = ((packed[:, None] >> shifts) & mask).reshape(-1)[:count]
            if dtype.name.startswith("int"):
                sign = 1 << (bits - 1)
                values = (unpacked.astype(np.int16) ^ sign) - sign
            else:
                values = unpacked
            return values.astype(dtype).reshape(self.shape)
        if dtype is None:
            size = max(1, (bits + 7) // 8)
            return data[: count * size].copy().reshape(self.shape + (size,))
        return data[: count * dtype.itemsize].view(dtype).copy().reshape(self.shape)
