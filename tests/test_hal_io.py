"""iree-run-module value I/O: our parsing and printing vs the real tool, byte for byte.

Each case runs an identity function of ``tests/programs/hal/io_identity.mlir``
through ``iree-run-module --device=local-sync`` and through iree_lab (inputs
parsed by :mod:`iree_lab.hal.io`, the function run in iree_lab's VM with the
Python HAL, results printed by :func:`iree_lab.hal.io.format_results`); stdout
must be identical. Failing inputs must fail with the same status text.
"""

from __future__ import annotations

import numpy as np
import pytest

from iree_lab import vm
from iree_lab.hal import Device, io
from iree_lab.hal.module import HALModule
from iree_lab.vm.status import VMError, VMStatus

# (function, inputs, extra iree-run-module flags)
OUTPUT_CASES = [
    ("f32", ["5xf32=1 2.5 1e20 -0 nan"], []),
    ("f32", ["4xf32=1.5"], []),
    ("f32", ["0xf32="], []),
    ("f32", ["3xf32=[1,2,3]"], []),
    ("f32", ["3xf32=1e-45 3.4e38 -inf"], []),
    ("f32", ["2xf32=0x1p-3 1e-40"], []),
    ("f32", ["3xf32=0.1 0.2 0.3"], []),
    ("f32", ["4xf32=123456789 1.23456789 0.000001 1e-5"], []),
    ("f32", ["3xf32=-nan inf -INFINITY"], []),
    ("f32", ["3xf32=1.5abc 2 3"], []),
    ("f32", ["2xf32=3.4028236e38 1e39"], []),
    ("f32", ["2xf32=0.10000000000000000555 16777217"], []),
    ("f32", ["3xf32=1.00000005960464477539062 1.00000017881393432617188 .5"], []),
    ("f32", ["4xf32"], []),
    ("f32", ["2000xf32=1.5"], []),
    ("f32", ["2000xf32=2.25"], ["--output_max_element_count=3"]),
    ("f32", ["5xf32=1 2 3 4 5"], ["--output_max_element_count=0"]),
    ("f32_2d", ["2x3xf32=[[1 2 3][4 5 6]]"], []),
    ("f32_2d", ["0x3xf32="], []),
    ("f32_2d", ["3x0xf32="], []),
    ("f32_2d", ["4x5xf32=7"], ["--output_max_element_count=7"]),
    ("f32_3d", ["2x2x2xf32=1 2 3 4 5 6 7 8"], []),
    ("f32_3d", ["2x3x4xf32=0.5"], ["--output_max_element_count=5"]),
    ("f32_0d", ["f32=3.5"], []),
    ("f32_0d", ['"f32=-2"'], []),
    ("f64", ["3xf64=0.1 1e300 -2.5"], []),
    ("f64", ["3xf64=1e-320 nan 123456789012"], []),
    ("f16", ["4xf16=1 2.5 0.1 65504"], []),
    ("f16", ["4xf16=70000 1e-7 -0 65519"], []),
    ("f16", ["4xf16=4e-8 3e-8 6e-8 -5.9604645e-8"], []),
    ("bf16", ["4xbf16=1 2.5 0.1 3.4e38"], []),
    ("bf16", ["3xbf16=1.00390625 1.01171875 -3"], []),
    ("f8e4m3fn", ["5xf8E4M3FN=1 0.3 448 500 -0.001"], []),
    ("f8e5m2", ["4xf8E5M2=1 0.3 57344 1e6"], []),
    ("f8e5m2", ["3xf8E5M2=1e-5 2e-5 -nan"], []),
    ("i1", ["4xi1=01 00 01 1F"], []),
    ("i8", ["4xi8=-128 127 255 -1"], []),
    ("i8", ["3xi8=0x10 010 -0x7f"], []),
    ("ui8", ["3xui8=0 255 7"], []),
    ("si8", ["2xsi8=-1000 5"], []),
    ("i16", ["3xi16=-32768 65535 1"], []),
    ("ui16", ["2xui16=65535 0"], []),
    ("i32", ["4xi32=2147483647 -2147483648 4294967295 1"], []),
    ("i32", ["2xi32=99999999999 12abc"], []),
    ("ui32", ["2xui32=4294967295 -1"], []),
    ("i64", ["3xi64=9223372036854775807 -9223372036854775808 1"], []),
    ("ui64", ["2xui64=18446744073709551615 1"], []),
    ("scalars", ["7", "-9", "2.5"], []),
    ("scalars", ["0x10", "1e3", "  -1.25e-3  "], []),
    ("scalars", ["4294967295", "010", "nan"], []),
    ("scalars", ["(null)", "(ignored)", "inf"], []),
    ("scalar_f64", ["0.1"], []),
    ("scalar_f64", ["-1e-300"], []),
    ("two", ["2xf32=1 2", "3xi32=4 5 6"], []),
]

ERROR_CASES = [
    ("i1", ["4xi1=1 0 1 1"]),
    ("f32", ["3xf32=1 2"]),
    ("f32", ["2xf32=1 2 3"]),
    ("f32", ["4xq32=1"]),
    ("f32", ["axf32=1"]),
    ("f32", ["4"]),
    ("f32", [""]),
    ("f32", ["2xf32=1 x"]),
    ("i8", ["2xi8=300 1"]),
    ("ui8", ["2xui8=256 1"]),
    ("scalars", ["abc", "1", "1"]),
    ("scalars", ["1", "1.5x", "zz"]),
    ("scalars", ["1", "2", "1e-50"]),
    ("two", ["2xf32=1 2", "3xi32=1", "1xf32=1"]),
    ("f32", ["@missing.bin"]),
    ("f32", ["2xf32=0.1000000000000000055511151231257827 1"]),
]


@pytest.fixture(scope="module")
def identity_module(build_module):
    return build_module("hal_io_identity")


@pytest.fixture(scope="module")
def context(identity_module):
    device = Device()
    ctx = vm.Context([HALModule([device]), vm.BytecodeModule.load(identity_module)])
    return ctx, device


def _reference(iree_tool, module, function, inputs, flags, check=True, cwd=None):
    args = ["--device=local-sync", f"--module={module}", f"--function={function}"]
    args += [f"--input={i}" for i in inputs] + list(flags)
    return iree_tool("iree-run-module", *args, check=check)


def _max_count(flags) -> int:
    for flag in flags:
        if flag.startswith("--output_max_element_count="):
            return int(flag.split("=", 1)[1])
    return io.DEFAULT_MAX_ELEMENT_COUNT


def _ours(context, function, inputs, flags, base_dir=None) -> str:
    ctx, device = context
    fn = ctx.lookup_function(function)
    values = io.parse_inputs(device, fn.cconv.arguments, inputs, base_dir=base_dir)
    results = ctx.call_function(fn, values)
    return f"EXEC @{function}\n" + io.format_results(
        results, fn.cconv.results, max_element_count=_max_count(flags))


@pytest.mark.parametrize(("function", "inputs", "flags"), OUTPUT_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(OUTPUT_CASES)])
def test_output_matches_iree_run_module(iree_tool, identity_module, context, function, inputs,
                                        flags):
    expected = _reference(iree_tool, identity_module, function, inputs, flags).stdout.decode()
    assert _ours(context, function, inputs, flags) == expected


@pytest.mark.parametrize(("function", "inputs"), ERROR_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(ERROR_CASES)])
def test_input_errors_match_iree_run_module(iree_tool, identity_module, context, function,
                                            inputs):
    ref = _reference(iree_tool, identity_module, function, inputs, [], check=False)
    assert ref.returncode != 0
    ctx, device = context
    fn = ctx.lookup_function(function)
    with pytest.raises(VMStatus) as info:
        io.parse_inputs(device, fn.cconv.arguments, inputs)
    ours = info.value.status_text()
    assert ours in ref.stderr.decode(), (ours, ref.stderr.decode())


def test_i4_printing_fails_like_iree(iree_tool, identity_module, context):
    # i4 parses as one hex byte per element into a packed (2-byte) buffer; printing
    # then needs 4 bytes and both fail with OUT_OF_RANGE.
    ref = _reference(iree_tool, identity_module, "i4", ["4xi4=01 0F"], [], check=False)
    assert ref.returncode != 0 and b"OUT_OF_RANGE" in ref.stderr
    with pytest.raises((VMStatus, VMError)) as info:
        _ours(context, "i4", ["4xi4=01 0F"], [])
    assert info.value.code.name == "OUT_OF_RANGE"


def test_files_match_iree_run_module(iree_tool, identity_module, context, tmp_path):
    a = np.array([[1.5, -2.0], [3.25, 4.0]], dtype=np.float32)
    b = np.arange(5, dtype=np.int32) * 7
    np.save(tmp_path / "a.npy", a.reshape(-1))
    with open(tmp_path / "two.npy", "wb") as f:
        np.save(f, a.reshape(-1))
        np.save(f, b)
    (tmp_path / "raw.bin").write_bytes(np.arange(6, dtype=np.float32).tobytes())
    cases = [
        ("f32", [f"@{tmp_path / 'a.npy'}"]),
        ("two", [f"@{tmp_path / 'two.npy'}", f"+{tmp_path / 'two.npy'}"]),
        ("two", [f"*{tmp_path / 'two.npy'}"]),
        ("f32", [f"6xf32=@{tmp_path / 'raw.bin'}"]),
        ("f32_2d", [f"2x2xf32=@{tmp_path / 'raw.bin'}"]),
        ("two", [f"2xf32=@{tmp_path / 'raw.bin'}", f"1xi32=+{tmp_path / 'raw.bin'}"]),
    ]
    for function, inputs in cases:
        expected = _reference(iree_tool, identity_module, function, inputs, []).stdout.decode()
        assert _ours(context, function, inputs, []) == expected, inputs


def test_npy_round_trip(context):
    _, device = context
    view = io.parse_buffer_view("2x3xi16=1 -2 3 -4 5 -6", device)
    data = io.save_npy(view)
    import io as pyio

    loaded = np.load(pyio.BytesIO(data))
    assert loaded.dtype == np.int16 and loaded.tolist() == [[1, -2, 3], [-4, 5, -6]]
    back = io.load_npy(pyio.BytesIO(data), device)
    assert back.shape == (2, 3) and back.to_numpy().tolist() == loaded.tolist()
    assert io.format_buffer_view(back) == "2x3xsi16=[1 -2 3][-4 5 -6]"


def test_c_number_parsing_matches_libc():
    """cparse reproduces glibc strtol/strtof/strtod on awkward tokens."""
    import ctypes

    from iree_lab.hal import cparse

    libc = ctypes.CDLL(None)
    strtof = libc.strtof
    strtof.restype = ctypes.c_float
    strtof.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p)]
    strtol = libc.strtol
    strtol.restype = ctypes.c_long
    strtol.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int]
    rng = np.random.default_rng(7)
    tokens = ["0.1", "1e-38", "1.17549435e-38", "3.40282346639e38", "0x1.fffffep127",
              "  7.5", "-0", "+3", ".25e1", "1.", "0x10", "08", "1e", "inf", "nan(abc)"]
    tokens += [f"{rng.standard_normal() * 10.0 ** rng.integers(-40, 39):.{rng.integers(1, 12)}e}"
               for _ in range(300)]
    tokens += [repr(float(np.float32(v)) + float(np.float32(v)) * 2.0 ** -25)
               for v in rng.standard_normal(200)]
    for token in tokens:
        end = ctypes.c_char_p()
        expected = np.float32(strtof(token.encode(), ctypes.byref(end)))
        ours = cparse.atof(token)
        if ours is None:
            assert expected == 0, token
            continue
        assert np.array(ours).view(np.uint32) == np.array(expected).view(np.uint32), token
    for token in ["12", "-7", "0x1F", "017", "  +9", "12abc", "-0x10", "0x", "2147483648"]:
        end = ctypes.c_char_p()
        value = strtol(token.encode(), ctypes.byref(end), 0)
        assert cparse.atoi_int64(token) == value, token
