"""Register files as IREE lays them out: raw 32-bit words with typed views.

In IREE the i32 bank is plain memory: an i64/f64 occupies an aligned pair of
32-bit registers and an f32 shares bits with an i32. iree_lab keeps typed
Python values in the slots (see :mod:`iree_lab.vm.value`); this class
materialises the raw words from them bit-exactly and reads/writes any typed
view on top of those words.
"""

from __future__ import annotations

import numpy as np

from iree_lab.vm import ops
from iree_lab.vm.value import MASK32, i32


def slot_word(value) -> int:
    """The raw (unsigned) 32-bit word a register slot holds."""
    if isinstance(value, np.float32):
        return ops.f32_bits(value) & MASK32
    if isinstance(value, float):  # the even slot of an f64 pair
        return ops.f64_bits(value) & MASK32
    return int(value) & MASK32


class Registers:
    """A view of one frame's registers (lists shared with the running frame)."""

    __slots__ = ("R", "RR")

    def __init__(self, R: list, RR: list):
        self.R = R
        self.RR = RR

    @property
    def i32_count(self) -> int:
        return len(self.R)

    @property
    def ref_count(self) -> int:
        return len(self.RR)

    def raw_words(self) -> list[int]:
        """Every i32-bank register as an unsigned 32-bit word."""
        return [slot_word(v) for v in self.R]

    def word(self, slot: int) -> int:
        return slot_word(self.R[slot])

    def i32(self, slot: int) -> int:
        return i32(self.word(slot))

    def i64(self, slot: int) -> int:
        value = self.R[slot]
        if isinstance(value, int) and not isinstance(value, bool):
            lo = value & MASK32
        else:
            lo = slot_word(value)
        hi = self.word(slot + 1)
        raw = (hi << 32) | lo
        return raw - (1 << 64) if raw >> 63 else raw

    def f32(self, slot: int) -> np.float32:
        return ops.f32_from_bits(self.word(slot))

    def f64(self, slot: int) -> float:
        return ops.f64_from_bits(self.i64(slot))

    def ref(self, slot: int):
        return self.RR[slot]

    def set_i32(self, slot: int, value: int) -> None:
        self.R[slot] = i32(value)

    def set_i64(self, slot: int, value: int) -> None:
        value = ((value + (1 << 63)) & ((1 << 64) - 1)) - (1 << 63)
        self.R[slot] = value
        self.R[slot + 1] = value >> 32

    def set_f32(self, slot: int, value) -> None:
        self.R[slot] = np.float32(value)

    def set_f64(self, slot: int, value: float) -> None:
        self.R[slot] = float(value)
        self.R[slot + 1] = ops.f64_hi(float(value))

    def set_ref(self, slot: int, value) -> None:
        self.RR[slot] = value

    def __repr__(self) -> str:
        words = " ".join(f"{w:08X}" for w in self.raw_words())
        return f"<Registers i32=[{words}] refs={self.RR!r}>"
