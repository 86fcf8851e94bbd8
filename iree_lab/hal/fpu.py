"""Denormals flushed to zero around dispatches, as IREE's local HAL does.

IREE's inline command buffer (``hal/local/inline_command_buffer.c``) runs each
dispatch inside ``iree_fpu_state_push(IREE_FPU_STATE_FLAG_FLUSH_DENORMALS_TO_ZERO)``
(``base/internal/fpu_state.c``): on x86 the MXCSR gets FTZ|DAZ (``0x8040``), on
AArch64 the FPCR gets FZ|FZ16 (``0x1080000``). Denormal operands then read as
zero and denormal results become zero in the VM's float ops, the vmvx kernels
and the C math library alike (``logf`` of a denormal is ``-103.972``, not
``-103.279``). iree_lab sets the same bits on the calling thread for the
duration of a dispatch, through the C library's ``fegetenv``/``fesetenv``, so
numpy and libm compute what the native dispatch computes. hal_loader's inline
dispatches (inline-dynamic programs) keep the caller's state, as in IREE.

Where the layout of ``fenv_t`` is not known (or the self-test fails),
:data:`SUPPORTED` is False and :func:`flush_denormals` changes nothing: results
involving denormals can then differ from IREE's.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
import sys

import numpy as np

# (byte offset of the control word in fenv_t, flush bits), by (platform, machine).
_LAYOUTS = {
    ("linux", "x86_64"): (28, 0x8040),  # glibc: x87 environment, then __mxcsr
    ("linux", "aarch64"): (0, 0x1080000),  # glibc: __fpcr, __fpsr
    ("darwin", "x86_64"): (4, 0x8040),  # __control, __status, __mxcsr
    ("darwin", "arm64"): (8, 0x1080000),  # __fpsr, __fpcr (64-bit words)
}
_ENV_BYTES = 64  # at least sizeof(fenv_t) on every platform above
_Env = ctypes.c_ubyte * _ENV_BYTES


def _load():
    layout = _LAYOUTS.get((sys.platform, platform.machine()))
    if layout is None:
        return None
    for name in ("libm.so.6", ctypes.util.find_library("m"), ctypes.util.find_library("c")):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            get, set_ = lib.fegetenv, lib.fesetenv
        except (OSError, AttributeError):
            continue
        get.argtypes = set_.argtypes = [ctypes.c_void_p]
        get.restype = set_.restype = ctypes.c_int
        return get, set_, layout
    return None


_API = _load()


class flush_denormals:  # noqa: N801 - used as a context manager, like a function
    """``with flush_denormals(): ...`` runs the block with denormals flushed to zero."""

    __slots__ = ("_saved",)

    def __enter__(self):
        self._saved = None
        if _API is None:
            return self
        get, set_, (offset, bits) = _API
        saved = _Env()
        if get(saved) != 0:
            return self
        flushed = _Env.from_buffer_copy(saved)
        word = int.from_bytes(bytes(flushed[offset:offset + 4]), "little") | bits
        flushed[offset:offset + 4] = word.to_bytes(4, "little")
        if set_(flushed) == 0:
            self._saved = saved
        return self

    def __exit__(self, *exc_info):
        if self._saved is not None:
            _API[1](self._saved)
            self._saved = None
        return False


def _self_test() -> bool:
    """Whether flushing works here (denormal in, zero out) and is undone afterwards."""
    if _API is None:
        return False
    tiny = np.float32(1e-39)  # a denormal
    with flush_denormals():
        flushed = tiny * np.float32(1.0)
    return bool(flushed == 0 and tiny * np.float32(1.0) == tiny)


SUPPORTED = _self_test()
if not SUPPORTED:
    _API = None
