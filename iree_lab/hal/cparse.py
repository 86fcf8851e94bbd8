"""C library number parsing as IREE's string utilities use it.

``iree_string_view_atoi_*`` copy the token into a small NUL-terminated scratch
buffer and call ``strtol``/``strtoul``/``strtoll``/``strtoull`` with base 0, and
``iree_string_view_atof``/``atod`` call ``strtof``/``strtod``. These accept a
*prefix* of the token (``"12abc"`` parses as 12), base prefixes (``0x10``,
``010`` is octal), leading whitespace and signs, ``inf``/``nan`` and hex floats,
and fail only when no digits are consumed, on range errors, or when the token
does not fit the scratch buffer. Reproducing that exactly is what makes
``--input`` parsing byte-identical to ``iree-run-module``.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

import numpy as np

_C_SPACE = " \t\n\v\f\r"

_INT_PREFIX = re.compile(r"[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")
_FLOAT_PREFIX = re.compile(
    r"[ \t\n\v\f\r]*([+-]?)("
    r"0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?"
    r"|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
    r"|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?"
    r"|[nN][aA][nN](?:\([0-9A-Za-z_]*\))?"
    r")"
)


def _strto_int(text: str) -> tuple[int, bool] | None:
    """The integer ``strtol(base=0)`` reads from the start of ``text`` (None: no digits)."""
    m = _INT_PREFIX.match(text)
    if m is None:
        return None
    sign, digits = m.group(1), m.group(2)
    if digits[:2] in ("0x", "0X"):
        value = int(digits[2:], 16)
    elif digits.startswith("0"):
        value = int(digits, 8) if len(digits) > 1 else 0
    else:
        value = int(digits)
    return (-value if sign == "-" else value), sign == "-"


# The scratch buffers (``char temp[N]``) iree_string_view_atoi_*/atof/atod copy a token
# into, NUL included: a longer token fails. 32-bit integers get 16, the rest 32.
_SCRATCH_32 = 16
_SCRATCH_64 = 32


def _strtol(text: str, scratch: int) -> int | None:
    """``strtol``/``strtoll`` (64-bit long) of a token copied into ``scratch`` bytes."""
    if len(text.encode()) >= scratch:
        return None
    parsed = _strto_int(text)
    if parsed is None:
        return None
    value = parsed[0]
    if not -(1 << 63) <= value < (1 << 63):
        return None  # LONG_MIN/LONG_MAX with ERANGE
    return value


def _strtoul(text: str, scratch: int) -> int | None:
    """``strtoul``/``strtoull`` (64-bit, negation wraps) of a token copied into ``scratch``
    bytes."""
    if len(text.encode()) >= scratch:
        return None
    parsed = _strto_int(text)
    if parsed is None:
        return None
    value, negative = parsed
    magnitude = -value if negative else value
    if magnitude >= (1 << 64):
        return None  # ULONG_MAX with ERANGE
    return value & 0xFFFFFFFFFFFFFFFF


def atoi_int32(text: str) -> int | None:
    """``iree_string_view_atoi_int32``: strtol then a wrapping cast to int32."""
    value = _strtol(text, _SCRATCH_32)
    if value is None:
        return None
    return ((value + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def atoi_uint32(text: str) -> int | None:
    """``iree_string_view_atoi_uint32``: strtoul (negation wraps) then a cast."""
    value = _strtoul(text, _SCRATCH_32)
    return None if value is None else value & 0xFFFFFFFF


def atoi_int64(text: str) -> int | None:
    return _strtol(text, _SCRATCH_64)


def atoi_uint64(text: str) -> int | None:
    return _strtoul(text, _SCRATCH_64)


def _exact_float(sign: str, body: str) -> Fraction | float:
    """The exact value of a strtod-style number (a Fraction), or inf/nan as floats."""
    negative = sign == "-"
    lower = body.lower()
    if lower.startswith("inf"):
        return -math.inf if negative else math.inf
    if lower.startswith("nan"):
        return -math.nan if negative else math.nan
    if lower.startswith("0x"):
        mantissa, _, exponent = lower[2:].partition("p")
        whole, _, frac = mantissa.partition(".")
        digits = (whole or "0") + frac
        value = Fraction(int(digits, 16), 16 ** len(frac))
        if exponent:
            value *= Fraction(2) ** int(exponent)
    else:
        value = Fraction(lower)
    return -value if negative else value


def _strtod(text: str) -> tuple[str, Fraction | float] | None:
    """(sign, exact value) of the number strtod/strtof read from the start of a token
    copied into the 32-byte scratch buffer; None when there is none."""
    if len(text.encode()) >= _SCRATCH_64:
        return None
    m = _FLOAT_PREFIX.match(text)
    if m is None:
        return None
    return m.group(1), _exact_float(m.group(1), m.group(2))


def atod(text: str) -> float | None:
    """``iree_string_view_atod``: strtod; None when it fails like IREE's wrapper."""
    parsed = _strtod(text)
    if parsed is None:
        return None
    sign, exact = parsed
    if isinstance(exact, float):
        return exact
    try:
        value = float(exact)  # correctly rounded
    except OverflowError:
        return -math.inf if exact < 0 else math.inf
    if value == 0.0 and exact != 0:
        return None  # underflow to zero sets ERANGE; IREE treats it as a failure
    if exact == 0 and sign == "-":
        return -0.0
    return value


_F32_MAX = Fraction(float(np.finfo(np.float32).max))
_F32_OVERFLOW = _F32_MAX + Fraction(2) ** (127 - 24)  # max + half an ulp


def atof(text: str) -> np.float32 | None:
    """``iree_string_view_atof``: strtof (correctly rounded, no double rounding)."""
    parsed = _strtod(text)
    if parsed is None:
        return None
    sign, exact = parsed
    if isinstance(exact, float):
        return np.float32(exact)
    value = round_to_f32(exact)
    if value == 0 and exact != 0:
        return None
    if exact == 0 and sign == "-":
        return np.float32(-0.0)
    return value


def round_to_f32(exact: Fraction) -> np.float32:
    """Rounds an exact rational to the nearest float32, ties to even."""
    if exact == 0:
        return np.float32(0.0)
    magnitude = abs(exact)
    if magnitude >= _F32_OVERFLOW:
        result = np.float32(np.inf)
    else:
        guess = np.float32(float(magnitude))
        best = guess
        with np.errstate(over="ignore"):
            neighbors = (np.nextafter(guess, np.float32(0.0)),
                         np.nextafter(guess, np.float32(np.inf)))
        for candidate in neighbors:
            if not np.isfinite(candidate):
                continue
            d_best = abs(Fraction(float(best)) - magnitude)
            d_cand = abs(Fraction(float(candidate)) - magnitude)
            if d_cand < d_best or (
                d_cand == d_best
                and int(np.array(candidate).view(np.uint32)) % 2 == 0
            ):
                best = candidate
        result = best
    return np.float32(-result) if exact < 0 else np.float32(result)


def trim(text: str) -> str:
    """``iree_string_view_trim`` (C isspace)."""
    return text.strip(_C_SPACE)


def is_c_space(ch: str) -> bool:
    return ch in _C_SPACE
