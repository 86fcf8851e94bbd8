"""Primitive values, type definitions and calling conventions of the VM.

Representation used throughout iree_lab.vm (and the generated fast tier):

- i32 / i64: Python ``int`` in the signed range of the type (two's complement
  wrap-around is applied by every operation that can leave the range).
- f32: ``numpy.float32`` scalars, so that arithmetic rounds exactly like C
  ``float`` and NaN payloads survive bitcasts.
- f64: Python ``float`` (an IEEE double, same as C ``double``).
- refs: ``None`` (null) or a :class:`iree_lab.vm.ref.RefObject`.

IREE's i32 register bank is raw 32-bit memory where i64/f64 occupy an aligned
register pair. :mod:`iree_lab.vm.registers` materialises that raw view on demand.
"""

from __future__ import annotations

import enum
import math
import struct

import numpy as np

from iree_lab.errors import FormatError
from iree_lab.format.module import cconv_fragments
from iree_lab.vm.status import StatusCode, VMStatus


class ValueType(enum.IntEnum):
    """``iree_vm_value_type_t``."""

    NONE = 0
    I8 = 1
    I16 = 2
    I32 = 3
    I64 = 4
    F32 = 5
    F64 = 6


VALUE_TYPE_SIZES = {
    ValueType.NONE: 0,
    ValueType.I8: 1,
    ValueType.I16: 2,
    ValueType.I32: 4,
    ValueType.I64: 8,
    ValueType.F32: 4,
    ValueType.F64: 8,
}

VALUE_TYPE_NAMES = {
    "i8": ValueType.I8,
    "i16": ValueType.I16,
    "i32": ValueType.I32,
    "i64": ValueType.I64,
    "f32": ValueType.F32,
    "f64": ValueType.F64,
}


# -- Integer wrap-around --------------------------------------------------------------

MASK32 = 0xFFFFFFFF
MASK64 = 0xFFFFFFFFFFFFFFFF
I32_MIN = -0x80000000
I32_MAX = 0x7FFFFFFF
I64_MIN = -0x8000000000000000
I64_MAX = 0x7FFFFFFFFFFFFFFF


def i32(value: int) -> int:
    """Wraps an int to signed 32 bits."""
    return ((value + 0x80000000) & MASK32) - 0x80000000


def i64(value: int) -> int:
    """Wraps an int to signed 64 bits."""
    return ((value + 0x8000000000000000) & MASK64) - 0x8000000000000000


def u32(value: int) -> int:
    return value & MASK32


def u64(value: int) -> int:
    return value & MASK64


# -- Floating point ------------------------------------------------------------------

f32 = np.float32

_F32_STRUCT = struct.Struct("<f")
_I32_STRUCT = struct.Struct("<i")
_F64_STRUCT = struct.Struct("<d")
_Q64_STRUCT = struct.Struct("<q")


def f32_from_bits(bits: int) -> np.float32:
    """Bitcast of a 32-bit pattern to f32 (NaN payloads preserved)."""
    return np.array([bits & MASK32], dtype=np.uint32).view(np.float32)[0]


def f32_bits(value) -> int:
    """Bitcast of an f32 to its signed 32-bit pattern."""
    return int(np.array([value], dtype=np.float32).view(np.int32)[0])


def f64_from_bits(bits: int) -> float:
    return _F64_STRUCT.unpack(_Q64_STRUCT.pack(i64(bits)))[0]


def f64_bits(value: float) -> int:
    return _Q64_STRUCT.unpack(_F64_STRUCT.pack(value))[0]


def to_f32(value) -> np.float32:
    """Rounds a Python number to f32 the way a C ``(float)`` cast does."""
    return np.float32(value)


def to_f64(value) -> float:
    return float(value)


# -- Type definitions -----------------------------------------------------------------


class TypeDef:
    """``iree_vm_type_def_t``: a value type, a ref type, or neither (variant/opaque).

    ``ref_type`` is a :class:`iree_lab.vm.ref.RefType` or ``None``.
    """

    __slots__ = ("value_type", "ref_type", "name")

    def __init__(self, value_type: ValueType = ValueType.NONE, ref_type=None, name: str = ""):
        self.value_type = ValueType(value_type)
        self.ref_type = ref_type
        self.name = name or (
            ref_type.name if ref_type is not None else _VALUE_TYPE_TEXT.get(self.value_type, "?")
        )

    @property
    def is_value(self) -> bool:
        return self.value_type != ValueType.NONE

    @property
    def is_ref(self) -> bool:
        return self.ref_type is not None

    @property
    def is_variant(self) -> bool:
        return self.value_type == ValueType.NONE and self.ref_type is None

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, TypeDef)
            and self.value_type == other.value_type
            and self.ref_type is other.ref_type
        )

    def __hash__(self) -> int:
        return hash((int(self.value_type), id(self.ref_type)))

    def __repr__(self) -> str:
        return f"TypeDef({self.name})"


_VALUE_TYPE_TEXT = {v: k for k, v in VALUE_TYPE_NAMES.items()}


def value_type_def(value_type: ValueType) -> TypeDef:
    return _VALUE_TYPE_DEFS[ValueType(value_type)]


_VALUE_TYPE_DEFS = {vt: TypeDef(vt) for vt in ValueType if vt != ValueType.NONE}
VARIANT_TYPE = TypeDef(ValueType.NONE, None, "?")


# -- Calling conventions --------------------------------------------------------------

# cconv characters (``IREE_VM_CCONV_TYPE_*``).
CCONV_VOID = "v"
CCONV_I32 = "i"
CCONV_F32 = "f"
CCONV_I64 = "I"
CCONV_F64 = "F"
CCONV_REF = "r"
CCONV_SPAN_START = "C"
CCONV_SPAN_END = "D"
CCONV_VALUE_CHARS = "ifIFr"


class CallingConvention:
    """A parsed calling convention string such as ``0iCrD_i``.

    ``arguments`` and ``results`` are the fragments after dropping the version
    character and ``v`` (void) markers; spans (``C...D``) stay in place.
    """

    __slots__ = ("text", "arguments", "results", "is_variadic")

    def __init__(self, text: str):
        # The VM requires the full ``0<args>_<results>`` form; a missing cconv
        # (``() -> ()`` to the module format) is not a callable signature here.
        if not text or "_" not in text:
            raise VMStatus(
                StatusCode.INVALID_ARGUMENT, f"unsupported cconv version/format: {text!r}"
            )
        try:
            args, results = cconv_fragments(text)
        except FormatError:
            raise VMStatus(
                StatusCode.INVALID_ARGUMENT, f"unsupported cconv version/format: {text!r}"
            ) from None
        self.text = text
        for ch in args + results:
            if ch not in "vifIFrCD":
                raise VMStatus(
                    StatusCode.INVALID_ARGUMENT, f"invalid cconv type {ch!r} in {text!r}"
                )
        # Void markers inside a fragment count for nothing, as in IREE's fragment walks.
        self.arguments = args.replace(CCONV_VOID, "")
        self.results = results.replace(CCONV_VOID, "")
        self.is_variadic = CCONV_SPAN_START in self.arguments

    def __repr__(self) -> str:
        return f"CallingConvention({self.text!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, CallingConvention) and self.text == other.text

    def __hash__(self) -> int:
        return hash(self.text)


def cconv_register_layout(fragment: str) -> list[tuple[str, int]]:
    """Maps a non-variadic cconv fragment to ABI registers: [(type char, register)].

    Each bank starts at 0; i64/f64 are aligned to an even i32 register pair
    (``iree_vm_bytecode_external_enter``).
    """
    layout = []
    i32_reg = 0
    ref_reg = 0
    for ch in fragment:
        if ch in "if":
            layout.append((ch, i32_reg))
            i32_reg += 1
        elif ch in "IF":
            i32_reg = (i32_reg + 1) & ~1
            layout.append((ch, i32_reg))
            i32_reg += 2
        elif ch == "r":
            layout.append((ch, ref_reg))
            ref_reg += 1
    return layout


# -- Conversions between Python values and VM values -----------------------------------


def coerce_value(ch: str, value):
    """Converts a Python/numpy scalar to the VM representation of cconv type ``ch``."""
    if ch == "i":
        return i32(_as_int(value))
    if ch == "I":
        return i64(_as_int(value))
    if ch == "f":
        return np.float32(value)
    if ch == "F":
        return float(value)
    raise VMStatus(StatusCode.INVALID_ARGUMENT, f"not a value cconv type: {ch!r}")


def _as_int(value) -> int:
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and value == int(value):
        return int(value)
    raise VMStatus(
        StatusCode.INVALID_ARGUMENT, f"expected an integer value, got {value!r}"
    )
