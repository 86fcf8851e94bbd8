"""Runtime helpers for VM op semantics (the parts too big to inline).

Everything here follows ``runtime/src/iree/vm/ops.h`` and ``dispatch.c``; the
generated code in :mod:`iree_lab.vm.emit` calls these for the less common
ops and for building errors. Names are short because generated code uses them.
"""

from __future__ import annotations

import struct

import numpy as np

from iree_lab.vm import libm
from iree_lab.vm.buffer import Buffer
from iree_lab.vm.list import List
from iree_lab.vm.ref import check_ref_type
from iree_lab.vm.status import StatusCode, VMStatus
from iree_lab.vm.value import MASK32, MASK64, i32

_F64 = struct.Struct("<d")
_Q64 = struct.Struct("<q")
_U32_ARRAY = np.zeros(1, dtype=np.uint32)
_F32_OF_U32 = _U32_ARRAY.view(np.float32)
_F32_ARRAY = np.zeros(1, dtype=np.float32)
_I32_OF_F32 = _F32_ARRAY.view(np.int32)


# -- Errors -----------------------------------------------------------------------------


def null_ref(what: str) -> VMStatus:
    return VMStatus(StatusCode.INVALID_ARGUMENT, f"{what} is null")


def div_by_zero(op_name: str) -> VMStatus:
    return VMStatus(
        StatusCode.INVALID_ARGUMENT,
        f"integer division by zero in {op_name} (iree-run-module dies with SIGFPE here)",
    )


def div_overflow(op_name: str) -> VMStatus:
    return VMStatus(
        StatusCode.INVALID_ARGUMENT,
        f"integer division overflow (INT_MIN / -1) in {op_name} "
        "(iree-run-module dies with SIGFPE here)",
    )


def global_oob(byte_offset: int, rwdata_size: int) -> VMStatus:
    # IREE formats the uint32 byte offset with %d.
    signed = byte_offset - (1 << 32) if byte_offset & 0x80000000 else byte_offset
    return VMStatus(
        StatusCode.OUT_OF_RANGE,
        f"global byte_offset out of range: {signed} (rwdata={rwdata_size})",
    )


def global_ref_oob(ordinal: int, count: int) -> VMStatus:
    signed = ordinal - (1 << 32) if ordinal & 0x80000000 else ordinal
    return VMStatus(
        StatusCode.OUT_OF_RANGE, f"global ref ordinal out of range: {signed} (table={count})"
    )


def oob(element_offset: int, size: int, buffer: Buffer) -> VMStatus:
    return VMStatus(
        StatusCode.OUT_OF_RANGE,
        f"out-of-bounds access detected (offset={(element_offset * size) & MASK64}, "
        f"length={size}, alignment={size}, buffer length={buffer.length})",
    )


def read_only() -> VMStatus:
    return VMStatus(
        StatusCode.PERMISSION_DENIED, "buffer is read-only and cannot be mapped for mutation"
    )


def fail(code: int, message: str) -> VMStatus:
    return VMStatus(StatusCode.from_raw(code), message)


def internal(message: str) -> VMStatus:
    return VMStatus(StatusCode.INTERNAL, message)


_RW_FORMATS = {"i": "<i", "l": "<q", "f": "<f", "d": "<d"}


def rw_load(state, kind: str, offset: int):
    """Unaligned global (rwdata) load."""
    if kind == "f":
        return f32_from_bits(struct.unpack_from("<I", state.rwdata, offset)[0])
    return struct.unpack_from(_RW_FORMATS[kind], state.rwdata, offset)[0]


def rw_store(state, kind: str, offset: int, value) -> None:
    if kind == "f":
        struct.pack_into("<i", state.rwdata, offset, f32_bits(value))
    else:
        struct.pack_into(_RW_FORMATS[kind], state.rwdata, offset, value)


# -- Integer arithmetic -------------------------------------------------------------------


def div_s(a: int, b: int) -> int:
    """C signed division (truncates toward zero); callers check b == 0 and overflow."""
    q = abs(a) // abs(b)
    return -q if (a < 0) != (b < 0) else q


def rem_s(a: int, b: int) -> int:
    """C signed remainder (sign of the dividend)."""
    r = abs(a) % abs(b)
    return -r if a < 0 else r


def ctlz32(a: int) -> int:
    return 32 - (a & MASK32).bit_length()


def ctlz64(a: int) -> int:
    return 64 - (a & MASK64).bit_length()


# -- Floating point -----------------------------------------------------------------------


def f32_from_bits(bits: int) -> np.float32:
    _U32_ARRAY[0] = bits & MASK32
    return _F32_OF_U32[0].copy()


def f32_bits(value) -> int:
    _F32_ARRAY[0] = value
    return int(_I32_OF_F32[0])


def f64_from_bits(bits: int) -> float:
    return _F64.unpack(_Q64.pack(bits))[0]


def f64_bits(value: float) -> int:
    return _Q64.unpack(_F64.pack(value))[0]


def f64_hi(value: float) -> int:
    """The high 32-bit word (signed) of an f64 register pair."""
    return f64_bits(value) >> 32


def f32_hi_word(value) -> int:
    return f32_bits(value)


# x86 SSE NaN rules (what IREE's compiled C does): an operation with a NaN operand
# returns the first NaN operand, quieted; an invalid operation (0 * inf, inf - inf,
# sqrt(-1)) returns the "default NaN", which has the sign bit set.
DEFAULT_NAN_F32 = f32_from_bits(0xFFC00000)
DEFAULT_NAN_F64 = f64_from_bits(-(1 << 51))  # 0xFFF8000000000000


def nan_f32(*operands) -> np.float32:
    """The NaN an f32 arithmetic op with these operands produces on x86."""
    for x in operands:
        if x != x:
            return f32_from_bits(f32_bits(x) | 0x400000)
    return DEFAULT_NAN_F32


def nan_f64(*operands) -> float:
    for x in operands:
        if x != x:
            return f64_from_bits(f64_bits(x) | (1 << 51))
    return DEFAULT_NAN_F64


def fma_f32(a, b, c) -> np.float32:
    """``a * b + c`` in float with IREE's evaluation order for NaN results."""
    p = a * b
    if p != p:
        p = nan_f32(a, b)
    r = p + c
    if r != r:
        r = nan_f32(p, c)
    return r


def fma_f64(a: float, b: float, c: float) -> float:
    p = a * b
    if p != p:
        p = nan_f64(a, b)
    r = p + c
    if r != r:
        r = nan_f64(p, c)
    return r


def _powi(base, exponent: int, one):
    """``vm.fpowi``: IREE's runtime calls ``__builtin_powi[f](base, exponent)``, whose
    ``int`` parameter keeps only the low 32 bits of the i64 exponent; the builtin is
    compiler-rt's ``__powi[sd]f2``: square-and-multiply from the low bit, then one
    reciprocal for a negative exponent (checked against the 3.13 runtime bit for bit)."""
    n = exponent & 0xFFFFFFFF
    recip = n >= 0x80000000
    if recip:
        n = 0x100000000 - n  # |INT32_MIN| = 2**31 stays representable here
    r = one
    while True:
        if n & 1:
            r = r * base
        n >>= 1
        if n == 0:
            break
        base = base * base
    return one / r if recip else r


_F32_ONE = np.float32(1.0)


def fpowi_f32(base, exponent: int) -> np.float32:
    return _powi(np.float32(base), exponent, _F32_ONE)


def fpowi_f64(base: float, exponent: int) -> float:
    r = _powi(np.float64(base), exponent, np.float64(1.0))
    return float(r)


_F32_HALF = np.float32(0.5)
_F32_TWO = np.float32(2.0)


def round_f32_even(x) -> np.float32:
    """``vm_round_f32_even``'s pre-C23 fallback (note: -0.5 rounds to +0.0)."""
    rounded = libm.F32["round"](x)
    if abs(np.float32(x) - rounded) == _F32_HALF:
        if libm.F32["fmod"](rounded, _F32_TWO) != 0:
            rounded = rounded - np.float32(1.0) if rounded > 0 else rounded + np.float32(1.0)
    return np.float32(rounded)


def round_f64_even(x: float) -> float:
    rounded = libm.F64["round"](x)
    if abs(x - rounded) == 0.5:
        if libm.F64["fmod"](rounded, 2.0) != 0:
            rounded = rounded - 1.0 if rounded > 0 else rounded + 1.0
    return rounded


def rsqrt_f32(x) -> np.float32:
    return np.float32(1.0) / np.sqrt(np.float32(x))


def rsqrt_f64(x: float) -> float:
    return float(np.float64(1.0) / np.sqrt(np.float64(x)))


def div_f64(a: float, b: float) -> float:
    """C double division (inf/nan instead of ZeroDivisionError)."""
    return float(np.float64(a) / np.float64(b))


# Casts. float->int casts round to nearest (half away from zero) via lround.


def cast_f32_si32(x) -> int:
    return i32(libm.lroundf(x))


def cast_f32_ui32(x) -> int:
    return i32(libm.lroundf(x))


def cast_f32_si64(x) -> int:
    return libm.lroundf(x)


def cast_f32_ui64(x) -> int:
    """``(uint64_t)roundf(x)`` as x86-64 code computes it."""
    return _f_to_u64(float(libm.F32["round"](x)))


def cast_f64_si32(x: float) -> int:
    # IREE calls lroundf (the float version) on the double.
    return i32(libm.lroundf(np.float32(x)))


def cast_f64_ui32(x: float) -> int:
    return i32(libm.lroundf(np.float32(x)))


def cast_f64_si64(x: float) -> int:
    return libm.llround(x)


def cast_f64_ui64(x: float) -> int:
    return libm.llround(x)


def _cvtt_si64(x: float) -> int:
    """x86 cvttss2si/cvttsd2si: truncation; NaN/out of range -> INT64_MIN."""
    if x != x or x >= 9223372036854775808.0 or x < -9223372036854775808.0:
        return -(1 << 63)
    return int(x)


def _f_to_u64(r: float) -> int:
    # clang's branchless float -> uint64 on x86-64 (no AVX-512):
    # cvt(x) | (cvt(x - 2^63) & (cvt(x) >> 63)), reinterpreted as signed.
    lo = _cvtt_si64(r)
    hi = _cvtt_si64(r - 9223372036854775808.0)
    return lo | (hi & (lo >> 63))


def cast_si64_f32(x: int) -> np.float32:
    return np.float32(np.int64(x))


def cast_ui64_f32(x: int) -> np.float32:
    return np.float32(np.uint64(x & MASK64))


def cast_ui32_f32(x: int) -> np.float32:
    return np.float32(x & MASK32)


# -- Refs ---------------------------------------------------------------------------------


def checked(value, ref_type, allow_any=False):
    check_ref_type(value, ref_type, allow_any=allow_any)
    return value


def deref_list(value) -> List:
    if type(value) is not List:
        raise null_ref("list")
    return value


def deref_buffer(value, what: str) -> Buffer:
    if type(value) is not Buffer:
        raise null_ref(what)
    return value
