"""The host CPU as IREE's local HAL describes it to native executables.

Every CPU executable receives ``iree_hal_processor_v0_t`` in its environment:
eight 64-bit words of feature bits (``runtime/src/iree/schemas/cpu_feature_bits.inl``,
filled by ``base/internal/cpu.c``). Generated code and microkernels pick their
code paths from these bits (AVX-512 tiles, dot-product instructions, ...), so a
dispatch computes what the native runtime computes only if the bits are the same.

IREE reads them with ``cpuid`` (x86-64) or ``getauxval`` (AArch64). iree_lab
never executes code of its own making, so on x86-64 it reads the kernel's view
of the same ``cpuid`` bits from ``/proc/cpuinfo`` (the kernel drops AVX/AVX-512/AMX
when the OS does not enable their register state, which is IREE's XCR0 rule);
on AArch64 ``getauxval(AT_HWCAP/AT_HWCAP2)`` like IREE.
``iree-cpuinfo`` (runtime wheel) prints IREE's own reading: the tests compare.
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform
import sys

# IREE_ARCH of the host: executable formats name it (embedded-elf-x86_64).
_ARCHES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm_64", "arm64": "arm_64",
           "riscv64": "riscv_64"}
HOST_ARCH: str | None = _ARCHES.get(platform.machine().lower())

PROCESSOR_DATA_CAPACITY = 8  # IREE_HAL_PROCESSOR_DATA_CAPACITY_V0

# (IREE feature name, bit in data word 0, how the host reports it) per arch.
# x86-64: the /proc/cpuinfo flag for the cpuid bit IREE tests.
X86_64_FEATURES = (
    ("sse3", 0, "pni"), ("ssse3", 1, "ssse3"), ("sse4.1", 2, "sse4_1"),
    ("sse4.2", 3, "sse4_2"), ("sse4a", 4, "sse4a"), ("avx", 10, "avx"), ("fma", 11, "fma"),
    ("fma4", 12, "fma4"), ("xop", 13, "xop"), ("f16c", 14, "f16c"), ("avx2", 15, "avx2"),
    ("avx512f", 20, "avx512f"), ("avx512cd", 21, "avx512cd"), ("avx512vl", 22, "avx512vl"),
    ("avx512dq", 23, "avx512dq"), ("avx512bw", 24, "avx512bw"),
    ("avx512ifma", 25, "avx512ifma"), ("avx512vbmi", 26, "avx512vbmi"),
    ("avx512vpopcntdq", 27, "avx512_vpopcntdq"), ("avx512vnni", 28, "avx512_vnni"),
    ("avx512vbmi2", 29, "avx512_vbmi2"), ("avx512bitalg", 30, "avx512_bitalg"),
    ("avx512bf16", 31, "avx512_bf16"), ("avx512fp16", 32, "avx512_fp16"),
    ("amx-tile", 50, "amx_tile"), ("amx-int8", 51, "amx_int8"), ("amx-bf16", 52, "amx_bf16"),
)
# AArch64 (Linux): (name, bit, (auxv index 0=AT_HWCAP 1=AT_HWCAP2, hwcap bit)).
ARM_64_FEATURES = (
    ("fp-armv8", 0, (0, 0)), ("lse", 1, (0, 8)), ("fullfp16", 10, (0, 10)),
    ("fp16fml", 11, (0, 23)), ("dotprod", 12, (0, 20)), ("i8mm", 13, (1, 13)),
    ("bf16", 14, (1, 14)), ("sve", 20, (0, 22)), ("sve2", 21, (1, 1)),
    ("sve2p1", 22, (1, 36)), ("sve2-bitperm", 23, (1, 4)), ("f32mm", 24, (1, 10)),
    ("f64mm", 25, (1, 11)), ("sme", 30, (1, 23)), ("sme2", 31, (1, 37)),
    ("sme2p1", 32, (1, 38)), ("sme-f16f16", 33, (1, 42)), ("sme-f64f64", 34, (1, 25)),
    ("sme-i16i64", 35, (1, 24)),
)
_AT_HWCAP, _AT_HWCAP2 = 16, 26


def _x86_64_word0() -> int:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
            else:
                return 0
    except OSError:
        return 0
    return sum(1 << bit for _, bit, flag in X86_64_FEATURES if flag in flags)


def _arm_64_word0() -> int:
    if not sys.platform.startswith("linux"):
        return 0
    try:
        getauxval = ctypes.CDLL(None).getauxval
    except (OSError, AttributeError):
        return 0
    getauxval.argtypes = [ctypes.c_ulong]
    getauxval.restype = ctypes.c_ulong
    hwcaps = (getauxval(_AT_HWCAP), getauxval(_AT_HWCAP2))
    return sum(1 << bit for _, bit, (word, cap) in ARM_64_FEATURES
               if hwcaps[word] >> cap & 1)


@functools.cache
def processor_data() -> tuple[int, ...]:
    """``iree_cpu_read_data``: the eight words handed to every CPU executable."""
    word0 = {"x86_64": _x86_64_word0, "arm_64": _arm_64_word0}.get(HOST_ARCH, lambda: 0)()
    return (word0,) + (0,) * (PROCESSOR_DATA_CAPACITY - 1)


def features() -> dict[str, bool]:
    """Feature name -> present, in ``iree-cpuinfo``'s order and spelling."""
    table = {"x86_64": X86_64_FEATURES, "arm_64": ARM_64_FEATURES}.get(HOST_ARCH, ())
    word0 = processor_data()[0]
    return {name: bool(word0 >> bit & 1) for name, bit, _ in table}


def task_worker_count() -> int:
    """Workers of a ``local-task`` device: the CPUs this process may run on (at most 64)."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    return max(1, min(count, 64))
