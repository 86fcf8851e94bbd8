"""The ``vmvx`` VM module (microkernels on numpy) and VMVX dispatch execution.

Exports and calling conventions follow ``runtime/src/iree/modules/vmvx/exports.inl``.
Buffers arrive as ``!vm.buffer`` with element offsets and strides; every
access is bounds-checked like ``MAP_BUFFER_2D_*`` (offset + the last element
of the strided 2-D region must lie inside the buffer). Elementwise kernels are
exact: IEEE f32 arithmetic in numpy equals C ``float`` arithmetic, and ``exp`` /
``log`` call the platform libm's ``expf`` / ``logf`` like IREE's kernels
(``elementwise.c``), through :mod:`iree_lab.vm.libm`, so they agree with
iree-run-module to the last bit (numpy's SIMD ``exp`` / ``log`` differ in the
last ulp for many inputs: ~40% / ~8% of uniform samples). ``mmt4d`` accumulates
in the tile functions' order (k, then k0), with a fused multiply-add where the
host's native module has an FMA tile function for the tile shape (see
:func:`uses_fma_tile`), so f32 results match IREE's bit for bit.
"""

from __future__ import annotations

import functools
import platform

import numpy as np

from iree_lab.hal import vmvx_lift
from iree_lab.hal.executable import DispatchState
from iree_lab.hal.types import status
from iree_lab.vm import libm
from iree_lab.vm.buffer import Buffer as VMBuffer
from iree_lab.vm.buffer import BufferAccess
from iree_lab.vm.list import List
from iree_lab.vm.native import NativeModule, export
from iree_lab.vm.ref import RefType
from iree_lab.vm.status import StatusCode, VMError, VMStatus
from iree_lab.vm.value import TypeDef

_U64 = (1 << 64) - 1
# Workgroups per dispatch the Python loader will run (each is a VM call); more
# fails with RESOURCE_EXHAUSTED instead of running for days.
MAX_WORKGROUPS = 1 << 24
_BUFFER_LIST_TYPE = TypeDef(ref_type=RefType.get("vm.buffer"), name="!vm.buffer")


def _map_2d(buffer, dtype, offset, stride0, stride1, size0, size1, *, write: bool,
            name: str) -> np.ndarray:
    """A strided 2-D numpy view of ``buffer`` (``MAP_BUFFER_2D_RO/RW``)."""
    if not isinstance(buffer, VMBuffer):
        raise status(StatusCode.INVALID_ARGUMENT,
                     "ref is null" if buffer is None else "ref type mismatch")
    dtype = np.dtype(dtype)
    size = dtype.itemsize
    size0 &= _U64
    size1 &= _U64
    stride0 &= _U64
    stride1 &= _U64
    overflow = (size0 >> 32) | (size1 >> 32) | ((stride0 + 1) >> 32) | ((stride1 + 1) >> 32)
    if overflow:
        raise status(StatusCode.INVALID_ARGUMENT, f"buffer overflow for {name}")
    last = ((size0 - 1) * stride0 + (size1 - 1) * stride1) & _U64
    length = ((last + 1) * size) & _U64
    byte_offset = (size * (offset & _U64)) & _U64
    span = buffer.map_rw(byte_offset, length, size) if write else \
        buffer.map_ro(byte_offset, length, size)
    if size0 == 0 or size1 == 0:
        return np.zeros((int(size0), int(size1)), dtype=dtype)
    # A strided view straight over the mapped span (bounds were checked above).
    return np.ndarray((int(size0), int(size1)), dtype, span, 0,
                      (int(stride0) * size, int(stride1) * size))


def _map_flat(buffer, elem_size, offset, stride0, size0, size1, *, write, name) -> np.ndarray:
    """A (size0, size1) byte-element view with unit inner stride (mmt4d/pack/unpack)."""
    dtype = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[elem_size]
    return _map_2d(buffer, dtype, offset, stride0, 1, size0, size1, write=write, name=name)


def _x32b(fn):
    def kernel(self, lhs, lhs_offset, lhs_stride0, lhs_stride1, rhs, rhs_offset, rhs_stride0,
               rhs_stride1, out, out_offset, out_stride0, out_stride1, size0, size1):
        a = _map_2d(lhs, np.uint32, lhs_offset, lhs_stride0, lhs_stride1, size0, size1,
                    write=False, name="lhs")
        b = _map_2d(rhs, np.uint32, rhs_offset, rhs_stride0, rhs_stride1, size0, size1,
                    write=False, name="rhs")
        o = _map_2d(out, np.uint32, out_offset, out_stride0, out_stride1, size0, size1,
                    write=True, name="out")
        if o.size:
            o[...] = fn(a, b)

    kernel.__name__ = fn.__name__
    return kernel


def _x32u(fn):
    def kernel(self, inp, in_offset, in_stride0, in_stride1, out, out_offset, out_stride0,
               out_stride1, size0, size1):
        a = _map_2d(inp, np.uint32, in_offset, in_stride0, in_stride1, size0, size1,
                    write=False, name="in")
        o = _map_2d(out, np.uint32, out_offset, out_stride0, out_stride1, size0, size1,
                    write=True, name="out")
        if o.size:
            o[...] = fn(a)

    kernel.__name__ = fn.__name__
    return kernel


def _f(a):
    return a.view(np.float32)


def _s(a):
    return a.view(np.int32)


def _bits(x):
    return np.asarray(x).view(np.uint32)


def _libm_f32(name: str):
    """An elementwise f32 kernel calling the C function ``{name}f`` (bits in, bits out)."""
    if not libm.HAVE_LIBM:
        ufunc = getattr(np, name)
        return lambda a: _bits(ufunc(_f(a)))
    fn = libm.F32[name]

    def apply(a):
        values = _f(a)
        # np.float32 elements, not Python floats: under the dispatch's flush-to-zero
        # state a conversion to double would read denormals as zero before libm sees them.
        out = np.fromiter((fn(x) for x in values.ravel()), np.float32, values.size)
        return _bits(out.reshape(values.shape))

    apply.__name__ = name + "f"
    return apply


def _int_div(a, b, signed: bool):
    if np.any(b == 0):
        raise status(StatusCode.INVALID_ARGUMENT, "integer division by zero in vmvx kernel")
    if signed:
        sa, sb = _s(a), _s(b)
        if np.any((sa == np.int32(-(1 << 31))) & (sb == -1)):
            raise status(StatusCode.INVALID_ARGUMENT, "integer overflow (INT_MIN / -1)")
        q = np.trunc(sa.astype(np.int64) / sb.astype(np.int64))
        return _bits(q.astype(np.int32))
    return a // b


def _ctlz(a):
    out = np.full(a.shape, 32, dtype=np.uint32)
    nz = a != 0
    out[nz] = 31 - np.floor(np.log2(a[nz].astype(np.float64))).astype(np.uint32)
    return out


class VMVXModule(NativeModule):
    """The ``vmvx`` module: microkernels that VMVX dispatch functions import."""

    name = "vmvx"
    version = 0

    def __init__(self):
        super().__init__()
        # Logical processor of the current workgroup (IREE's module state).
        self.processor_id = 0

    # -- Elementwise (x32 binary) -------------------------------------------------------

    add_2d_f32 = export("0rIIIrIIIrIIIII_v", name="add.2d.f32")(
        _x32b(lambda a, b: _bits(_f(a) + _f(b))))
    add_2d_i32 = export("0rIIIrIIIrIIIII_v", name="add.2d.i32")(_x32b(lambda a, b: a + b))
    and_2d_i32 = export("0rIIIrIIIrIIIII_v", name="and.2d.i32")(_x32b(lambda a, b: a & b))
    div_2d_f32 = export("0rIIIrIIIrIIIII_v", name="div.2d.f32")(
        _x32b(lambda a, b: _bits(_f(a) / _f(b))))
    divs_2d_i32 = export("0rIIIrIIIrIIIII_v", name="divs.2d.i32")(
        _x32b(lambda a, b: _int_div(a, b, True)))
    divu_2d_i32 = export("0rIIIrIIIrIIIII_v", name="divu.2d.i32")(
        _x32b(lambda a, b: _int_div(a, b, False)))
    mul_2d_f32 = export("0rIIIrIIIrIIIII_v", name="mul.2d.f32")(
        _x32b(lambda a, b: _bits(_f(a) * _f(b))))
    mul_2d_i32 = export("0rIIIrIIIrIIIII_v", name="mul.2d.i32")(_x32b(lambda a, b: a * b))
    or_2d_i32 = export("0rIIIrIIIrIIIII_v", name="or.2d.i32")(_x32b(lambda a, b: a | b))
    # Shift counts >= 32 are undefined in C; x86 masks them to 5 bits, so do we.
    shl_2d_i32 = export("0rIIIrIIIrIIIII_v", name="shl.2d.i32")(
        _x32b(lambda a, b: a << (b & np.uint32(31))))
    shrs_2d_i32 = export("0rIIIrIIIrIIIII_v", name="shrs.2d.i32")(
        _x32b(lambda a, b: _bits(_s(a) >> _s(b & np.uint32(31)))))
    shru_2d_i32 = export("0rIIIrIIIrIIIII_v", name="shru.2d.i32")(
        _x32b(lambda a, b: a >> (b & np.uint32(31))))
    sub_2d_f32 = export("0rIIIrIIIrIIIII_v", name="sub.2d.f32")(
        _x32b(lambda a, b: _bits(_f(a) - _f(b))))
    sub_2d_i32 = export("0rIIIrIIIrIIIII_v", name="sub.2d.i32")(_x32b(lambda a, b: a - b))
    xor_2d_i32 = export("0rIIIrIIIrIIIII_v", name="xor.2d.i32")(_x32b(lambda a, b: a ^ b))

    # -- Elementwise (x32 unary) --------------------------------------------------------

    abs_2d_f32 = export("0rIIIrIIIII_v", name="abs.2d.f32")(
        _x32u(lambda a: a & np.uint32(0x7FFFFFFF)))
    ceil_2d_f32 = export("0rIIIrIIIII_v", name="ceil.2d.f32")(
        _x32u(lambda a: _bits(np.ceil(_f(a)))))
    ctlz_2d_i32 = export("0rIIIrIIIII_v", name="ctlz.2d.i32")(_x32u(_ctlz))
    exp_2d_f32 = export("0rIIIrIIIII_v", name="exp.2d.f32")(
        _x32u(_libm_f32("exp")))
    floor_2d_f32 = export("0rIIIrIIIII_v", name="floor.2d.f32")(
        _x32u(lambda a: _bits(np.floor(_f(a)))))
    log_2d_f32 = export("0rIIIrIIIII_v", name="log.2d.f32")(
        _x32u(_libm_f32("log")))
    neg_2d_f32 = export("0rIIIrIIIII_v", name="neg.2d.f32")(
        _x32u(lambda a: a ^ np.uint32(0x80000000)))
    rsqrt_2d_f32 = export("0rIIIrIIIII_v", name="rsqrt.2d.f32")(
        _x32u(lambda a: _bits(np.float32(1.0) / np.sqrt(_f(a)))))

    # -- Copies and fills ---------------------------------------------------------------

    def _copy(self, dtype, inp, in_offset, in_stride0, in_stride1, out, out_offset,
              out_stride0, out_stride1, size0, size1):
        a = _map_2d(inp, dtype, in_offset, in_stride0, in_stride1, size0, size1, write=False,
                    name="in")
        o = _map_2d(out, dtype, out_offset, out_stride0, out_stride1, size0, size1,
                    write=True, name="out")
        if o.size:
            o[...] = a.copy()

    @export("0rIIIrIIIII_v", name="copy.2d.x8")
    def copy_2d_x8(self, *args):
        self._copy(np.uint8, *args)

    @export("0rIIIrIIIII_v", name="copy.2d.x16")
    def copy_2d_x16(self, *args):
        self._copy(np.uint16, *args)

    @export("0rIIIrIIIII_v", name="copy.2d.x32")
    def copy_2d_x32(self, *args):
        self._copy(np.uint32, *args)

    @export("0rIIIrIIIII_v", name="copy.2d.x64")
    def copy_2d_x64(self, *args):
        self._copy(np.uint64, *args)

    @export("0irIIII_v", name="fill.2d.x32")
    def fill_2d_x32(self, fill_value, out, out_offset, out_row_stride, size0, size1):
        o = _map_2d(out, np.uint32, out_offset, out_row_stride, 1, size0, size1, write=True,
                    name="out")
        if o.size:
            o[...] = np.uint32(fill_value & 0xFFFFFFFF)

    # -- Tiled matmul and layout ---------------------------------------------------------

    @export("0rIIrIIrIIIIIiiii_v", name="mmt4d")
    def mmt4d(self, lhs, lhs_offset, lhs_row_stride, rhs, rhs_offset, rhs_row_stride, out,
              out_offset, out_row_stride, m, n, k, m0, n0, k0, flags):
        kind = flags & 0xFF
        if kind == 0x01:
            in_size, out_size, in_dtype, acc_dtype = 4, 4, np.float32, np.float32
        elif kind == 0x02:
            in_size, out_size, in_dtype, acc_dtype = 1, 4, np.int8, np.int32
        else:
            raise status(StatusCode.INVALID_ARGUMENT, "unhandled flags")
        m, n, k, m0, n0, k0 = (int(v) for v in (m, n, k, m0, n0, k0))
        lhs_v = _map_flat(lhs, in_size, lhs_offset, lhs_row_stride, m, k * m0 * k0,
                          write=False, name="lhs")
        rhs_v = _map_flat(rhs, in_size, rhs_offset, rhs_row_stride, n, k * n0 * k0,
                          write=False, name="rhs")
        out_v = _map_flat(out, out_size, out_offset, out_row_stride, m, n * m0 * n0,
                          write=True, name="out")
        accumulate = bool(flags & 0x100)
        if m == 0 or n == 0 or (k == 0 and accumulate):
            return
        a = lhs_v.view(in_dtype).reshape(m, k, m0, k0)
        b = rhs_v.view(in_dtype).reshape(n, k, n0, k0)
        o = out_v.view(acc_dtype).reshape(m, n, m0, n0)
        acc = o.copy() if accumulate else np.zeros((m, n, m0, n0), dtype=acc_dtype)
        fused = kind == 0x01 and uses_fma_tile(m0, n0, k0)
        with np.errstate(all="ignore"):
            for kk in range(k):
                for kk0 in range(k0):
                    lhs_col = a[:, kk, :, kk0].astype(acc_dtype)  # (m, m0)
                    rhs_col = b[:, kk, :, kk0].astype(acc_dtype)  # (n, n0)
                    if fused:
                        acc = fma_f32(lhs_col[:, None, :, None], rhs_col[None, :, None, :], acc)
                    else:
                        acc += lhs_col[:, None, :, None] * rhs_col[None, :, None, :]
        o[...] = acc

    @export("0rIIIrIIIIIIIIIIi_v", name="pack")
    def pack(self, inp, in_offset, in_stride0, in_stride1, out, out_offset, out_stride0,
             out_stride1, in_size0, in_size1, out_size0, out_size1, out_size2, out_size3,
             padding_value, flags):
        kind = flags & 0xFF
        elem_size = {0x01: 4, 0x03: 4, 0x02: 1}.get(kind)
        if elem_size is None:
            raise status(StatusCode.INVALID_ARGUMENT, "unhandled flags")
        in_size0, in_size1, o0, o1, o2, o3 = (int(v) for v in (
            in_size0, in_size1, out_size0, out_size1, out_size2, out_size3))
        src = _map_2d(inp, {1: np.uint8, 4: np.uint32}[elem_size], in_offset, in_stride0,
                      in_stride1, in_size0, in_size1, write=False, name="in")
        dst = _map_flat(out, elem_size, out_offset, out_stride0, o0, o1 * o2 * o3,
                        write=True, name="out").reshape(o0, o1, o2, o3)
        transpose_inner = bool(flags & 0x100)
        transpose_outer = bool(flags & 0x200)
        tile_r, tile_c = (o3, o2) if transpose_inner else (o2, o3)
        rows, cols = (o1, o0) if transpose_outer else (o0, o1)
        pad = np.array([padding_value & _U64], dtype=np.uint64).view(
            {1: np.uint8, 4: np.uint32}[elem_size])[0]
        padded = np.full((rows * tile_r, cols * tile_c), pad, dtype=src.dtype)
        r, c = min(in_size0, rows * tile_r), min(in_size1, cols * tile_c)
        padded[:r, :c] = src[:r, :c]
        tiles = padded.reshape(rows, tile_r, cols, tile_c).transpose(0, 2, 1, 3)
        if transpose_inner:
            tiles = tiles.transpose(0, 1, 3, 2)
        if transpose_outer:
            tiles = tiles.transpose(1, 0, 2, 3)
        dst[...] = tiles

    @export("0rIIIrIIIIIIIIIi_v", name="unpack")
    def unpack(self, inp, in_offset, in_stride0, in_stride1, out, out_offset, out_stride0,
               out_stride1, in_size0, in_size1, in_size2, in_size3, out_size0, out_size1,
               flags):
        kind = flags & 0xFF
        if kind not in (0x01, 0x03):
            raise status(StatusCode.INVALID_ARGUMENT, "unhandled flags")
        i0, i1, i2, i3, out0, out1 = (int(v) for v in (
            in_size0, in_size1, in_size2, in_size3, out_size0, out_size1))
        src = _map_flat(inp, 4, in_offset, in_stride0, i0, i1 * i2 * i3, write=False,
                        name="in").reshape(i0, i1, i2, i3)
        dst = _map_2d(out, np.uint32, out_offset, out_stride0, out_stride1, out0, out1,
                      write=True, name="out")
        tiles = src
        if flags & 0x200:
            tiles = tiles.transpose(1, 0, 2, 3)
        if flags & 0x100:
            tiles = tiles.transpose(0, 1, 3, 2)
        rows, cols, tile_r, tile_c = tiles.shape
        full = tiles.transpose(0, 2, 1, 3).reshape(rows * tile_r, cols * tile_c)
        if dst.size:
            dst[...] = full[:out0, :out1]

    @export("0IIi_II", name="query_tile_sizes.2d")
    def query_tile_sizes_2d(self, size0, size1, flags):
        """The matmul tile IREE's ukernels pick on this host (M0xK0 / N0xK0 / M0xN0)."""
        m, k, n = matmul_tile_sizes((flags >> 8) & 0xFF)
        role = flags & 0xFF
        if role == 0x01:
            return m, k
        if role == 0x02:
            return n, k
        if role == 0x03:
            return m, n
        return 0, 0


# -- Host-dependent tile sizes --------------------------------------------------------------

_GENERIC_TILE = (8, 4, 8)


@functools.cache
def _cpu_features() -> frozenset[str]:
    """CPU feature names of this host (Linux /proc/cpuinfo; empty elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    return frozenset(value.split())
    except OSError:
        pass
    return frozenset()


def _x86_64_levels(features: frozenset[str]) -> tuple[bool, bool]:
    """(avx2_fma, avx512_base) as IREE's ukernels test them on x86-64."""
    avx2_fma = {"avx2", "fma", "f16c"} <= features
    avx512 = avx2_fma and {"avx512f", "avx512bw", "avx512dq", "avx512vl",
                           "avx512cd"} <= features
    return avx2_fma, avx512


def uses_fma_tile(m0: int, n0: int, k0: int, machine: str | None = None,
                  features: frozenset[str] | None = None) -> bool:
    """Whether the host's native f32 ``mmt4d`` runs this tile with fused multiply-adds.

    An architecture tile function (``arch/*/mmt4d_*_tiles.inl``: AVX2/AVX-512
    ``fmadd``, NEON ``fmla``) exists only for some (M0, N0, K0); others run the
    generic C loop, a multiply then an add. The rounding differs.
    """
    if k0 != 1 or m0 not in (1, 2, 4, 8, 16):
        return False
    machine = (machine or platform.machine()).lower()
    features = _cpu_features() if features is None else features
    if machine in ("x86_64", "amd64"):
        avx2_fma, avx512 = _x86_64_levels(features)
        return (avx512 and n0 == 16) or (avx2_fma and n0 == 8 and m0 <= 8)
    if machine in ("aarch64", "arm64"):
        return n0 == 8 and m0 <= 8
    return False


def fma_f32(a, b, c) -> np.ndarray:
    """``a * b + c`` rounded once to f32, elementwise (``fmaf``; broadcasts).

    The product of two floats is exact in double; the sum is rounded to double
    with round-to-odd (its exact error from TwoSum decides the last bit), after
    which rounding to float is correctly rounded (53 >= 2 * 24 + 2 bits).
    """
    with np.errstate(all="ignore"):
        a64 = np.asarray(a, np.float32).astype(np.float64)
        b64 = np.asarray(b, np.float32).astype(np.float64)
        c64 = np.asarray(c, np.float32).astype(np.float64)
        p = a64 * b64
        total = p + c64
        shifted = total - p
        error = (p - (total - shifted)) + (c64 - shifted)
        inexact_even = (error != 0) & np.isfinite(total) & ((total.view(np.int64) & 1) == 0)
        if inexact_even.any():
            toward = np.where(error > 0, np.inf, -np.inf)
            total = np.where(inexact_even, np.nextafter(total, toward), total)
        return total.astype(np.float32)


def matmul_tile_sizes(operation: int, machine: str | None = None,
                      features: frozenset[str] | None = None) -> tuple[int, int, int]:
    """(M0, K0, N0) as ``iree_uk_query_tile_sizes_2d`` returns them on the host.

    The native vmvx module is built for the host architecture, and data-tiled
    programs ask it for tile sizes at run time, so results can depend on them
    (notably on accumulation order); iree_lab answers like the host would.
    ``operation`` 1 is f32*f32->f32 and 2 is i8*i8->i32.
    """
    machine = (machine or platform.machine()).lower()
    features = _cpu_features() if features is None else features
    if machine in ("x86_64", "amd64"):
        avx2_fma, avx512 = _x86_64_levels(features)
        if operation == 1:
            return (16, 1, 16) if avx512 else (8, 1, 8) if avx2_fma else (8, 1, 4)
        if operation == 2:
            vnni = avx512 and ("avx512_vnni" in features or "avx512vnni" in features)
            return (16, 2, 16) if vnni else (8, 2, 8) if avx2_fma else (8, 2, 4)
    elif machine in ("aarch64", "arm64"):
        if operation == 1:
            return (8, 1, 8)
        if operation == 2:
            if "i8mm" in features:
                return (8, 8, 8)
            if "asimddp" in features:
                return (8, 4, 8)
            return (8, 1, 8)
    return _GENERIC_TILE


# -- Executing VMVX dispatches ---------------------------------------------------------------


def create_vmvx_context(module, **options):
    """A VM context with the vmvx module first and the dispatch module last."""
    from iree_lab.vm import Context

    return Context([VMVXModule(), module], **options)


def call_set_constants(context, module, constants: np.ndarray) -> None:
    buffer = VMBuffer(memoryview(constants.tobytes()), BufferAccess.ORIGIN_HOST)
    context.call("__set_constants", buffer)


def run_workgroups(executable, info, state: DispatchState, on_workgroup=None) -> None:
    """Calls the dispatch function once per workgroup (z, y, then x innermost)."""
    context = executable.context()
    fn = executable.module.exports[info.name]
    local_memory = VMBuffer(bytearray(state.local_memory_size),
                            BufferAccess.MUTABLE | BufferAccess.ORIGIN_HOST)
    constants = VMBuffer(memoryview(np.ascontiguousarray(state.constants).tobytes()),
                         BufferAccess.ORIGIN_HOST)
    bindings = List(_BUFFER_LIST_TYPE, len(state.bindings))
    for view in state.bindings:
        bindings.push_ref(VMBuffer(view, BufferAccess.MUTABLE | BufferAccess.ORIGIN_HOST))
    count_x, count_y, count_z = (int(v) & 0xFFFFFFFF for v in state.workgroup_count)
    if count_x * count_y * count_z > MAX_WORKGROUPS:
        raise status(
            StatusCode.RESOURCE_EXHAUSTED,
            f"dispatch {info.name} has {count_x}x{count_y}x{count_z} workgroups; iree_lab runs "
            f"at most {MAX_WORKGROUPS} per dispatch",
        )
    size_x, size_y, size_z = state.workgroup_size
    call = context.call_function
    lifted = _lifted(executable, context, fn)
    gate = None
    if lifted is not None and context.hook is not None:
        # A debugger's hook: the whole dispatch runs lifted only if every workgroup is
        # proven and the gate (which counts the instructions as executed) agrees; else
        # each workgroup asks (a stop may be due in some workgroups only, or a breakpoint
        # may have gone while one was stopped in).
        gate = executable.device.dispatch_gate
        prepared = vmvx_lift.prepare(
            lifted, lambda x, y, z: [local_memory, constants, bindings, x, y, z, size_x, size_y,
                                     size_z, count_x, count_y, count_z],
            (count_z, count_y, count_x))
        if prepared is not None and gate(info.name, lifted, prepared.instructions):
            prepared.run()
            return
        if prepared is None:
            gate = lifted = None
    if lifted is not None and gate is None and on_workgroup is None \
            and count_x * count_y * count_z > 1:
        args = [local_memory, constants, bindings, 0, 0, 0, size_x, size_y, size_z, count_x,
                count_y, count_z]
        if vmvx_lift.run_bulk(lifted, args, (count_z, count_y, count_x)):
            return
    for z in range(count_z):
        for y in range(count_y):
            for x in range(count_x):
                if on_workgroup is not None:
                    on_workgroup((x, y, z))
                args = [local_memory, constants, bindings, x, y, z, size_x, size_y, size_z,
                        count_x, count_y, count_z]
                one = None
                if gate is not None:
                    one = vmvx_lift.plan(lifted, args)
                    if one is not None and gate(info.name, lifted, one.instructions, (x, y, z),
                                                restartable=one.restartable):
                        one.run()
                        continue
                elif lifted is not None and vmvx_lift.run(lifted, args):
                    continue
                try:
                    try:
                        call(fn, args)
                    except RestartWorkgroup:
                        # Abandoned under the hook; its position is back at its start.
                        if gate(info.name, lifted, one.instructions, (x, y, z)):
                            one.run()
                        else:
                            call(fn, args)
                except VMStatus:
                    raise
                except Exception as e:
                    _reraise(e, info.name, (x, y, z))


class RestartWorkgroup(BaseException):  # noqa: N818 - a control transfer, not an error
    """Raised by a dispatch hook (the debugger) in a workgroup whose plan is
    ``restartable``: its VM frames are dropped and it runs again from its start (lifted
    if the gate lets it). Not an Exception: the VM must not catch it."""


# Whether dispatch functions may run lifted to numpy (iree_lab.hal.vmvx_lift) when no
# hook or instruction budget asks for the VM's instruction-by-instruction tiers.
LIFT = True


def _lifted(executable, context, fn):
    """The executable's lifted form of ``fn`` (built once), or None to use the VM.

    A hook on the dispatch context (the debugger) keeps dispatches in the VM unless the
    device has a ``dispatch_gate``: ``gate(export name, lifted function, instruction
    count) -> bool``, asked per dispatch, that advances its instruction count when it
    lets the dispatch run lifted.
    """
    if not LIFT or context.instruction_budget is not None or not context.fast:
        return None
    if context.hook is not None and (executable.device is None
                                     or executable.device.dispatch_gate is None):
        return None
    cache = executable.lifted
    if fn.ordinal not in cache:
        cache[fn.ordinal] = vmvx_lift.lift(executable.module, fn.ordinal)
    return cache[fn.ordinal]


def _reraise(error, name: str, workgroup) -> None:
    if isinstance(error, VMError) and not isinstance(error, KeyboardInterrupt):
        failure = VMStatus.clone(error)
        failure.annotate(f"in VMVX dispatch {name} workgroup {workgroup}")
        raise failure from error
    raise error
