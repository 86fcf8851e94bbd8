"""The C math library functions IREE's VM ops call (``ops.h``), bit for bit.

iree-run-module calls the platform libm (``expf``, ``sinf``, ``remainderf``...),
so iree_lab calls the same functions through ctypes, bound to the same symbol
versions the IREE binaries link (glibc keeps old versions with different NaN
signs, e.g. ``log(-1)``): results match IREE bit for bit on the same machine
(tests/test_vm_ops.py checks every op on edge values). Without a loadable libm (non-glibc platforms) numpy's
implementations are used instead; they can differ in the last ulp for the
transcendental functions (exp, log, sin, cos, tan, atan, atan2, pow, erf, tanh,
expm1, log1p), never for the correctly rounded ones (sqrt, rounding, remainder).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math

import numpy as np

_UNARY = (
    "atan", "cos", "sin", "exp", "exp2", "expm1", "log", "log10", "log1p", "log2",
    "sqrt", "tanh", "erf", "ceil", "floor", "round",
)  # fmt: skip
_BINARY = ("atan2", "pow", "remainder", "fmod")


def _load_libm():
    for name in ("libm.so.6", ctypes.util.find_library("m")):
        if not name:
            continue
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


_LIBM = _load_libm()
HAVE_LIBM = _LIBM is not None


# iree-run-module (a manylinux build) links the oldest symbol versions of libm;
# glibc kept their behaviour (e.g. log(-1) is +nan there, -nan in the 2.29
# versions), so bind the same versions when the platform has them.
_SYMBOL_VERSIONS = {name: "GLIBC_2.27" for name in ("expf", "exp2f", "logf", "log2f", "powf")}
_DEFAULT_VERSION = "GLIBC_2.2.5"


def _dlvsym():
    for lib in (None, "libdl.so.2"):
        try:
            fn = ctypes.CDLL(lib).dlvsym
        except (OSError, AttributeError):
            continue
        fn.restype = ctypes.c_void_p
        fn.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
        return fn
    return None


_DLVSYM = _dlvsym() if _LIBM is not None else None


def _bind(name: str, ctype, arity: int, restype=None):
    prototype = ctypes.CFUNCTYPE(restype or ctype, *([ctype] * arity))
    if _DLVSYM is not None:
        version = _SYMBOL_VERSIONS.get(name, _DEFAULT_VERSION)
        address = _DLVSYM(_LIBM._handle, name.encode(), version.encode())
        if address:
            return prototype(address)
    return prototype((name, _LIBM))


class _RawF32(ctypes.c_float):
    """As a restype, a c_float subclass comes back as is: its bits, unconverted."""


def _raw_f32(x) -> ctypes.c_float:
    """``x`` as a C float argument with its bits unchanged."""
    return ctypes.c_float.from_buffer_copy(np.float32(x))


def _raw_call_f32(c_raw, *args) -> np.float32:
    """Calls a float function without converting floats to or from double.

    A float->double conversion reads a denormal as zero while the FPU flushes
    denormals (HAL dispatches run that way, as in IREE: ``iree_lab.hal.fpu``),
    but IREE's C code hands the float's bits to libm unconverted, so e.g.
    ``logf`` still sees the denormal and takes its subnormal path.
    """
    return np.frombuffer(bytes(c_raw(*[_raw_f32(a) for a in args])), np.float32)[0]


def _make_f32_unary(name):
    if HAVE_LIBM:
        c = _bind(name + "f", ctypes.c_float, 1)
        c_raw = _bind(name + "f", ctypes.c_float, 1, _RawF32)

        def f(x):
            v = float(x)
            if v == 0.0:  # also a denormal read as zero: pass the bits themselves
                return _raw_call_f32(c_raw, x)
            return np.float32(c(v))
    else:
        ufunc = _NUMPY_UNARY[name]

        def f(x):
            return np.float32(ufunc(np.float32(x)))

    f.__name__ = name + "f"
    return f


def _make_f64_unary(name):
    if HAVE_LIBM:
        c = _bind(name, ctypes.c_double, 1)

        def f(x):
            return c(x)
    else:
        ufunc = _NUMPY_UNARY[name]

        def f(x):
            return float(ufunc(np.float64(x)))

    f.__name__ = name
    return f


def _make_f32_binary(name):
    if HAVE_LIBM:
        c = _bind(name + "f", ctypes.c_float, 2)
        c_raw = _bind(name + "f", ctypes.c_float, 2, _RawF32)

        def f(x, y):
            v, w = float(x), float(y)
            if v == 0.0 or w == 0.0:  # see the unary case
                return _raw_call_f32(c_raw, x, y)
            return np.float32(c(v, w))
    else:
        ufunc = _NUMPY_BINARY[name]

        def f(x, y):
            return np.float32(ufunc(np.float32(x), np.float32(y)))

    f.__name__ = name + "f"
    return f


def _make_f64_binary(name):
    if HAVE_LIBM:
        c = _bind(name, ctypes.c_double, 2)

        def f(x, y):
            return c(x, y)
    else:
        ufunc = _NUMPY_BINARY[name]

        def f(x, y):
            return float(ufunc(np.float64(x), np.float64(y)))

    f.__name__ = name
    return f


def _np_round_half_away(x):
    return np.copysign(np.floor(np.abs(x) + 0.5), x) if np.isfinite(x) else x


def _np_erf(x):
    return np.vectorize(math.erf)(x)


_NUMPY_UNARY = {
    "atan": np.arctan, "cos": np.cos, "sin": np.sin, "exp": np.exp, "exp2": np.exp2,
    "expm1": np.expm1, "log": np.log, "log10": np.log10, "log1p": np.log1p, "log2": np.log2,
    "sqrt": np.sqrt, "tanh": np.tanh, "erf": _np_erf, "ceil": np.ceil, "floor": np.floor,
    "round": _np_round_half_away,
}  # fmt: skip
_NUMPY_BINARY = {
    "atan2": np.arctan2, "pow": np.power, "remainder": lambda a, b: a - np.round(a / b) * b,
    "fmod": np.fmod,
}  # fmt: skip

F32 = {name: _make_f32_unary(name) for name in _UNARY}
F32.update({name: _make_f32_binary(name) for name in _BINARY})
F64 = {name: _make_f64_unary(name) for name in _UNARY}
F64.update({name: _make_f64_binary(name) for name in _BINARY})


def _py_lround(x: float) -> int:
    """lround in Python: half away from zero; INT64_MIN where C's result is undefined."""
    if not math.isfinite(x):
        return -(1 << 63)
    a = abs(x)
    r = math.floor(a)
    if a - r >= 0.5:
        r += 1
    r = -r if x < 0 else r
    if not -(1 << 63) <= r < (1 << 63):
        return -(1 << 63)
    return int(r)


if HAVE_LIBM:
    _lroundf = _LIBM.lroundf
    _lroundf.restype = ctypes.c_long
    _lroundf.argtypes = [ctypes.c_float]
    _llround = _LIBM.llround
    _llround.restype = ctypes.c_longlong
    _llround.argtypes = [ctypes.c_double]

    def lroundf(x) -> int:
        """C ``lroundf`` (x86-64: INT64_MIN for NaN and out-of-range values)."""
        return _lroundf(float(x))

    def llround(x) -> int:
        return _llround(float(x))
else:

    def lroundf(x) -> int:
        return _py_lround(float(np.float32(x)))

    def llround(x) -> int:
        return _py_lround(float(x))
