"""libm calls keep float bits while the FPU flushes denormals (as in HAL dispatches).

IREE runs command buffer dispatches with denormals flushed to zero
(``iree_lab.hal.fpu``), and its VM ops hand the float's bits to libm
unconverted. A float->double conversion in Python would read a denormal as
zero there; ``iree_lab.vm.libm`` must not. The end-to-end check against
iree-run-module is ``elementwise.denormals`` in tests/test_hal_e2e.py.
"""

from __future__ import annotations

import pytest

from iree_lab.vm import libm
from iree_lab.vm.ops import f32_bits, f32_from_bits

fpu = pytest.importorskip("iree_lab.hal.fpu")
pytestmark = pytest.mark.skipif(not (libm.HAVE_LIBM and fpu.SUPPORTED),
                                reason="needs the platform libm and FPU flush control")

TINY = f32_from_bits(1)  # 1.4e-45, the smallest denormal
NEG_TINY = f32_from_bits(0x80000001)


def _bits(x) -> int:
    return f32_bits(x) & 0xFFFFFFFF


def test_denormal_arguments_reach_libm_under_flush():
    with fpu.flush_denormals():
        sin = libm.F32["sin"](TINY)
        log = libm.F32["log"](TINY)
        log_neg = libm.F32["log"](NEG_TINY)
        atan2 = libm.F32["atan2"](TINY, f32_from_bits(0x3F800000))
    assert _bits(sin) == 1  # sinf returns a tiny x itself
    # logf's subnormal path scales x by 2^23, which the flushed FPU reads as zero:
    # iree-run-module prints -103.972 for it inside a dispatch (not -INF, log(0)).
    assert _bits(log) == 0xC2CFF1B4
    assert log_neg != log_neg  # a negative input is invalid: NaN, not log(-0) = -INF
    assert _bits(atan2) == 1  # atan2f(tiny, 1) is tiny


def test_results_outside_flush_are_unchanged():
    assert _bits(libm.F32["log"](TINY)) == 0xC2CE8ED0  # -103.279
    assert _bits(libm.F32["log"](f32_from_bits(0))) == 0xFF800000  # -INF
    assert _bits(libm.F32["exp"](f32_from_bits(0x80000000))) == 0x3F800000
