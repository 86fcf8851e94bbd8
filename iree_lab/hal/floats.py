"""Narrow float formats (f16, bf16, f8*) converted exactly as IREE's runtime does.

IREE's tools convert parsed f32 values to narrow formats with one generic
round-to-nearest-even routine (``base/internal/math.h``) that differs from a
correctly rounded conversion at the bottom of the range: values whose
subnormal encoding would need a shift wider than the f32 mantissa become zero.
Printing decodes back to f32. These scalar routines reproduce both directions
bit for bit.
"""

from __future__ import annotations

import math
import struct

from iree_lab.hal.types import ElementType

# element type: (exp_bits, mantissa_bits, have_infinity, have_nan, bias_tweak, nan_as_neg_zero)
FORMATS = {
    ElementType.FLOAT_16: (5, 10, True, True, 0, False),
    ElementType.BFLOAT_16: (8, 7, True, True, 0, False),
    ElementType.FLOAT_8_E5M2: (5, 2, True, True, 0, False),
    ElementType.FLOAT_8_E4M3_FN: (4, 3, False, True, 0, False),
    ElementType.FLOAT_8_E5M2_FNUZ: (5, 2, False, True, 1, True),
    ElementType.FLOAT_8_E4M3_FNUZ: (4, 3, False, True, 1, True),
}


def _f32_bits(value) -> int:
    return struct.unpack("<I", struct.pack("<f", float(value)))[0]


def _round_shift(value: int, shift: int) -> int:
    """Adds the round-to-nearest-even bias for a right shift by ``shift`` (no shift)."""
    even_bit = 1 << shift
    odd_bit = even_bit >> 1
    return value + (odd_bit if value & even_bit else odd_bit - 1)


def f32_to_bits(value, element_type: int) -> int:
    """The encoding of f32 ``value`` in a narrow format, rounded like IREE."""
    if element_type == ElementType.FLOAT_8_E8M0_FNU:
        return _f32_to_e8m0(value)
    exp_bits, man_bits, have_inf, have_nan, bias_tweak, nan_neg_zero = FORMATS[element_type]
    sign_shift = exp_bits + man_bits
    exp_mask = (1 << sign_shift) - (1 << man_bits)
    man_mask = (1 << man_bits) - 1
    bias = bias_tweak + (1 << (exp_bits - 1)) - 1
    bits = _f32_bits(value)
    sign = (bits & 0x80000000) >> (31 - sign_shift)
    f_exp = bits & 0x7F800000
    f_man = bits & 0x007FFFFF
    d_exp = 0
    d_man = 0
    gen_nan = gen_inf = False
    if f_exp == 0x7F800000:
        d_exp = exp_mask
        if f_man:
            gen_nan = True
        else:
            gen_inf = True
    elif f_exp == 0:
        if exp_bits == 8:
            shift = 23 - man_bits
            d_man = _round_shift(f_man, shift) >> shift
    else:
        arith_exp = (f_exp >> 23) - 127
        if arith_exp > (1 << (exp_bits - 1)) - have_inf:
            gen_inf = True
        elif arith_exp + bias <= 0:
            shift = 23 - man_bits - arith_exp + (1 - bias)
            if 0 <= shift <= 23:
                d_man = _round_shift((1 << 23) + f_man, shift) >> shift
        else:
            shift = 23 - man_bits
            biased = _round_shift(f_man, shift)
            if biased > 0x007FFFFF:
                biased = 0
                arith_exp += 1
            d_exp = (arith_exp + bias) << man_bits
            d_man = biased >> shift
            if not have_inf and d_exp > exp_mask:
                gen_nan = True
    if gen_inf:
        if have_inf:
            return sign | exp_mask
        if have_nan:
            gen_nan = True
        else:
            return sign | exp_mask | man_mask
    if gen_nan:
        if not have_nan:
            return 0
        if nan_neg_zero:
            return 1 << sign_shift
        return sign | exp_mask | man_mask
    if nan_neg_zero and d_exp == 0 and d_man == 0:
        return 0
    return sign | d_exp | d_man


def bits_to_f32(bits: int, element_type: int) -> float:
    """The f32 value (as a Python float) of a narrow-format encoding, like IREE."""
    if element_type == ElementType.FLOAT_8_E8M0_FNU:
        return math.nan if bits == 0xFF else math.ldexp(1.0, bits - 127)
    exp_bits, man_bits, have_inf, have_nan, bias_tweak, nan_neg_zero = FORMATS[element_type]
    sign_shift = exp_bits + man_bits
    sign_mask = 1 << sign_shift
    exp_mask = (1 << sign_shift) - (1 << man_bits)
    man_mask = (1 << man_bits) - 1
    bias = bias_tweak + (1 << (exp_bits - 1)) - 1
    sign = -1.0 if bits & sign_mask else 1.0
    s_exp = bits & exp_mask
    s_man = bits & man_mask
    if s_exp == exp_mask:
        if have_inf:
            if have_nan and s_man:
                return math.nan
            return sign * math.inf
        if have_nan and s_man == man_mask and not nan_neg_zero:
            return math.nan
    elif have_nan and nan_neg_zero and bits == sign_mask:
        return math.nan
    elif s_exp == 0:
        return sign * math.ldexp(s_man, 1 - bias - man_bits)
    return sign * math.ldexp(s_man + (1 << man_bits), (s_exp >> man_bits) - bias - man_bits)


def _f32_to_e8m0(value) -> int:
    value = float(value)
    if not math.isfinite(value):
        return 0xFF
    if value <= 0.0:
        return 0
    normalized, exp = math.frexp(value)
    biased = exp - (1 if normalized < 0.75 else 0) + 127
    return 0 if biased < 0 else 0xFF if biased > 0xFF else biased
