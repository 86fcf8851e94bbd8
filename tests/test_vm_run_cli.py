"""``iree-lab run`` prints exactly what ``iree-run-module`` prints (stdout byte for byte).

Each case runs the real tool and iree_lab's CLI (in-process) with the same flags;
stdout must be identical and both must succeed or both fail. Failures must
carry the same IREE status code name on stderr.
"""

from __future__ import annotations

import re

import pytest
from test_vm_support import iree_run_module

from iree_lab.cli.main import main
from iree_lab.testing import corpus

NATIVE_FILE = "tests/programs/vm/native_lib.py"

CASES = [
    # (programs, function, inputs)
    (["scalar_vmvx"], "add_i32", ["3", "4"]),
    (["scalar_vmvx"], "add_i32", ["0x7fffffff", "1"]),
    (["scalar_vmvx"], "add_i32", ["010", " 5 "]),
    (["scalar_vmvx"], "add_i32", ["4294967297", "1"]),
    (["scalar_vmvx"], "add_i32", ["(null)", "2"]),
    (["scalar_vmvx"], "mul_add_i64", ["3", "4", "5"]),
    (["scalar_vmvx"], "mul_add_i64", ["9223372036854775807", "2", "1"]),
    (["scalar_vmvx"], "fma_f32", ["1.5", "2", "0.1"]),
    (["scalar_vmvx"], "fdiv_f32", ["1", "0"]),
    (["scalar_vmvx"], "fdiv_f32", ["-1", "0"]),
    (["scalar_vmvx"], "fdiv_f32", ["0", "0"]),
    (["scalar_vmvx"], "fdiv_f32", ["1e-30", "1e30"]),
    (["scalar_vmvx"], "fdiv_f32", ["inf", "nan"]),
    (["scalar_vmvx"], "fdiv_f32", ["0x1p-3", "3"]),
    (["scalar_vmvx"], "loop_sum", ["1000"]),
    (["scalar_vmvx"], "select_max", ["-3", "2"]),
    (["vm_results"], "buffer", []),
    (["vm_results"], "null_ref", []),
    (["vm_results"], "int_list", ["-7"]),
    (["vm_results"], "i8_list", ["300"]),
    (["vm_results"], "variant_list", ["5", "2.5"]),
    (["vm_results"], "mixed", ["0x7fffffffffffffff", "1e300", "010", "-nan"]),
    (["vm_lib", "vm_app"], "use_pair", ["7", "3"]),
    # vm.fpowi (3.13): fpowi_f32(exponent, base), fpowi_f64(base, exponent).
    (["vm_float_ops"], "fpowi_f32", ["3", "2"]),
    (["vm_float_ops"], "fpowi_f32", ["-3", "-1.5"]),
    (["vm_float_ops"], "fpowi_f32", ["0", "0"]),
    (["vm_float_ops"], "fpowi_f32", ["0", "nan"]),
    (["vm_float_ops"], "fpowi_f32", ["-1", "0"]),
    (["vm_float_ops"], "fpowi_f32", ["-1", "-0"]),
    (["vm_float_ops"], "fpowi_f32", ["5", "-inf"]),
    (["vm_float_ops"], "fpowi_f32", ["4294967298", "3"]),
    (["vm_float_ops"], "fpowi_f32", ["2147483647", "1.0000001"]),
    (["vm_float_ops"], "fpowi_f32", ["-9223372036854775808", "0.5"]),
    (["vm_float_ops"], "fpowi_f64", ["1.1", "-7"]),
    (["vm_float_ops"], "fpowi_f64", ["-0", "-3"]),
    (["vm_float_ops"], "fpowi_f64", ["nan", "2"]),
    (["vm_float_ops"], "fpowi_f64", ["10", "400"]),
    (["vm_float_ops"], "fpowi_f64", ["1.0000000001", "9223372036854775807"]),
    (["vm_lib", "vm_app"], "use_count", []),
    # Tensor programs through the Python HAL (hal module + VMVX executables).
    (["tensor_vmvx"], "add", ["4xf32=1 2 3 4", "4xf32=10 20 30 40.5"]),
    (["tensor_vmvx"], "matmul", ["4x8xf32=0.5", "8x4xf32=1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 "
                                 "17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32"]),
    (["tensor_vmvx"], "sum", ["16xi32=1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 -16"]),
    (["globals_vmvx"], "accumulate", ["4xf32=1 2 3 4"]),
    # Failures: at input parsing (no EXEC line), at run time (after EXEC), at lookup.
    (["scalar_vmvx"], "add_i32", ["3"]),
    (["scalar_vmvx"], "add_i32", ["1", "2", "3"]),
    (["scalar_vmvx"], "add_i32", ["abc", "2"]),
    (["scalar_vmvx"], "add_i32", ["99999999999999999999", "2"]),
    (["scalar_vmvx"], "nope", []),
    (["vm_control"], "fail_if", ["3"]),
    (["vm_buffers"], "null_length", []),
    (["vm_lib", "vm_app"], "call_missing", ["1"]),
    (["vm_lib", "vm_app_mismatch"], "f", ["1"]),
    (["tensor_vmvx"], "add", []),
    (["tensor_vmvx"], "add", ["4xf32=1 2 3 4", "3xf32=1 2 3"]),
]


def _lab(capsys, argv):
    code = main(["run", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _status(text: str) -> str | None:
    m = re.search(r"\b([A-Z][A-Z_]{3,});", text)
    return m.group(1) if m else None


@pytest.mark.parametrize(("programs", "function", "inputs"), CASES,
                         ids=[f"{c[1]}({','.join(c[2])})" for c in CASES])  # fmt: skip
def test_run_matches_iree_run_module(capsys, programs, function, inputs):
    paths = [corpus.build(p) for p in programs]
    expected = iree_run_module(paths, function, inputs)
    argv = [f"--module={p}" for p in paths] + [f"--function={function}"]
    argv += [f"--input={x}" for x in inputs]
    code, out, err = _lab(capsys, argv)
    assert out == expected.stdout
    assert (code == 0) == (expected.returncode == 0), (err, expected.stderr)
    if code != 0:
        assert _status(err) == _status(expected.stderr), (err, expected.stderr)


def test_run_native_module_file_matches_bytecode_library(capsys):
    app = corpus.build("vm_app")
    expected = iree_run_module([corpus.build("vm_lib"), app], "use_pair", ["6", "-4"])
    code, out, _ = _lab(capsys, [f"--module={NATIVE_FILE}", f"--module={app}",
                                 "--function=use_pair", "--input=6", "--input=-4"])  # fmt: skip
    assert code == 0 and out == expected.stdout


def test_run_single_export_needs_no_function_flag(capsys):
    path = corpus.build("vm_assembly")  # two exports: --function= is required
    expected = iree_run_module([path], "", [])
    code, out, err = _lab(capsys, [f"--module={path}"])
    assert code != 0 and out == "" and "more than one exported function" in err
    assert expected.returncode != 0 and "more than one exported function" in expected.stderr


def test_run_unknown_device_fails_clearly(capsys):
    code, out, err = _lab(capsys, [f"--module={corpus.build('tensor_vmvx')}", "--function=add",
                                   "--device=cuda"])
    assert code != 0 and out == ""
    assert "NOT_FOUND" in err and "cuda" in err
