"""The check module and ``iree-lab check`` (iree_lab.hal.check, iree_lab.cli.check).

Programs: tests/programs/check/expect_pass.mlir (every check export, each element-type
class and tolerance edge; all must hold) and expect_fail.mlir (negative controls: every
test must fail, with the exact message module.cc writes). Differential parts: the
imports 3.13 emits are checked against iree-dump-module, check call sites against
iree-dump-module's bytecode offsets, and ``iree-lab run`` without ``--check`` against
iree-run-module (which skips the optional check imports).
"""

from __future__ import annotations

import math
import re
import subprocess
import sys

import numpy as np
import pytest

from iree_lab.hal import floats
from iree_lab.hal.check import (
    DEFAULT_ATOL,
    DEFAULT_RTOL,
    CheckModule,
    check_functions,
    format_report,
    fuzzy_equal,
    run_checks,
)
from iree_lab.hal.types import ElementType
from iree_lab.testing import check_suite, corpus
from iree_lab.vm import BytecodeModule
from iree_lab.vm.status import StatusCode, VMStatus


@pytest.fixture(scope="module")
def pass_path():
    return corpus.build("check_expect_pass")


@pytest.fixture(scope="module")
def fail_path():
    return corpus.build("check_expect_fail")


def _run_tool(*args):
    return subprocess.run([sys.executable, "-m", "iree_lab", *args], capture_output=True,
                          text=True, cwd=corpus.REPO_ROOT)


# -- The module's imports as 3.13 emits them ------------------------------------------------


def test_exports_match_the_imports_iree_compile_emits(fail_path):
    dump = subprocess.run([corpus.tool_path("iree-dump-module"), "--output=disassembly",
                           str(fail_path)], capture_output=True, text=True, check=True).stdout
    imports = {}
    for line in dump.splitlines():
        if line.startswith("vm.import optional @check."):
            name = line.split("@check.", 1)[1].split()[0]
            imports[name] = line.split('cconv "', 1)[1].rstrip('"')
    check = CheckModule()
    assert set(imports) == set(check.exports) == {
        "expect_true", "expect_false", "expect_all_true", "expect_eq", "expect_almost_eq"}
    for name, cconv in imports.items():
        assert check.exports[name].cconv.text == cconv, name


# -- Checks that hold -----------------------------------------------------------------------

# Checks each test of expect_pass.mlir calls: a test that silently skipped its checks
# (an unresolved optional import) would pass with 0.
PASS_CHECKS = {
    "scalars": 5, "all_true_integers": 4, "eq_integers": 4, "eq_floats_bitwise": 1,
    "almost_eq_default_tolerance": 1, "almost_eq_explicit_tolerances": 2,
    "almost_eq_non_finite": 1, "almost_eq_f64": 2, "almost_eq_f16": 1, "almost_eq_bf16": 1,
    "all_true_floats": 1, "almost_eq_f8": 2, "sort_constant_in_place": 1,
}


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "interpreter"])
def test_passing_checks_all_run_and_hold(pass_path, fast):
    report = run_checks([BytecodeModule.load(pass_path)], fast=fast)
    assert {t.function: t.checks for t in report.tests} == PASS_CHECKS
    assert report.ok and report.exit_code == 0
    assert all(t.passed and t.error is None for t in report.tests)


# -- Negative controls ------------------------------------------------------------------------

# test -> (failed check, first line of module.cc's message) for expect_fail.mlir.
EXPECTED_FAILURES = {
    "fail_true": [("expect_true", "Expected 0 to be nonzero.")],
    "fail_false": [("expect_false", "Expected 42 to be zero.")],
    "fail_all_true_i8": [("expect_all_true", "Expected all elements to be nonzero "
                          "(Each(Not(0))); element #1 is 0.")],
    "fail_all_true_i64": [("expect_all_true", "Expected all elements to be nonzero "
                           "(Each(Not(0))); element #1 is 0.")],
    "fail_all_true_f32": [("expect_all_true", "Expected all elements to be nonzero "
                           "(Each(Not(0))); element #1 is 0.")],
    "fail_eq_i32": [("expect_eq", "Expected equality of these values. Contents does not "
                     "match.")],
    "fail_eq_i16": [("expect_eq", "Expected equality of these values. Contents does not "
                     "match.")],
    "fail_eq_negative_zero": [("expect_eq", "Expected equality of these values. Contents "
                               "does not match.")],
    # Same bytes in another shape: only the shape differs.
    "fail_eq_shape": [("expect_eq", "Expected equality of these values. Shapes do not "
                       "match.")],
    "fail_eq_element_type": [("expect_eq", "Expected equality of these values. Element "
                              "types do not match.")],
    "fail_almost_eq_f32_atol": [("expect_almost_eq", (
        "Expected near equality of these values. Contents does not match to tolerance "
        "parameters atol=0.0001, rtol=0. The first failure occurs at index 1 as the lhs "
        "value 2 differs from the rhs value 2.0002 by 2.000e-04."))],
    "fail_almost_eq_f32_rtol": [("expect_almost_eq", (
        "Expected near equality of these values. Contents does not match to tolerance "
        "parameters atol=0, rtol=0.01. The first failure occurs at index 0 as the lhs "
        "value 1000 differs from the rhs value 1011 by 1.100e+01."))],
    "fail_almost_eq_nan_vs_number": [("expect_almost_eq", (
        "Expected near equality of these values. Contents does not match to tolerance "
        "parameters atol=1e+30, rtol=0. The first failure occurs at index 0 as the lhs "
        "value nan differs from the rhs value 1 by nan."))],
    "fail_almost_eq_inf_expected": [("expect_almost_eq", (
        "Expected near equality of these values. Contents does not match to tolerance "
        "parameters atol=1e+38, rtol=1. The first failure occurs at index 0 as the lhs "
        "value 3e+38 differs from the rhs value inf by inf."))],
    "fail_almost_eq_f64": [("expect_almost_eq", (
        "Expected near equality of these values. Contents does not match to tolerance "
        "parameters atol=0, rtol=1e-09. The first failure occurs at index 1 as the lhs "
        "value 1e+300 differs from the rhs value 1e+300 by 1.000e+294."))],
    "fail_almost_eq_f16": [("expect_almost_eq", (
        "Expected near equality of these values. Contents does not match to tolerance "
        "parameters atol=0.0001, rtol=0. The first failure occurs at index 1 as the lhs "
        "value 2 differs from the rhs value 2.5 by 5.000e-01."))],
    "fail_almost_eq_bf16": [("expect_almost_eq", (
        "Expected near equality of these values. Contents does not match to tolerance "
        "parameters atol=0.01, rtol=0. The first failure occurs at index 1 as the lhs "
        "value 16 differs from the rhs value 16.125 by 1.250e-01."))],
    "fail_almost_eq_shape": [("expect_almost_eq", "Expected near equality of these values. "
                              "Shapes do not match.")],
    "fail_non_fatal": [("expect_true", "Expected 0 to be nonzero."),
                       ("expect_eq", "Expected equality of these values. Contents does not "
                        "match.")],
    "fail_many_elements": [("expect_almost_eq", (
        "Expected near equality of these values. Contents does not match to tolerance "
        "parameters atol=0.0001, rtol=0. The first failure occurs at index 0 as the lhs "
        "value 1 differs from the rhs value 2 by 1.000e+00."))],
    "fail_almost_eq_f8": [("expect_almost_eq", (
        "Expected near equality of these values. Contents does not match to tolerance "
        "parameters atol=0.0001, rtol=0. The first failure occurs at index 1 as the lhs "
        "value 2 differs from the rhs value 2.5 by 5.000e-01."))],
    "fail_eq_i1": [("expect_eq", "Expected equality of these values. Contents does not "
                    "match.")],
    "fail_all_true_f64": [("expect_all_true", "Expected all elements to be nonzero "
                           "(Each(Not(0))); element #0 is 0.")],
}


@pytest.fixture(scope="module")
def fail_report(fail_path):
    return run_checks([BytecodeModule.load(fail_path)])


def test_every_negative_control_fails_with_modules_cc_message(fail_report):
    got = {t.function: [(f.check, f.message.split("\n", 1)[0]) for f in t.failures]
           for t in fail_report.tests}
    assert got == EXPECTED_FAILURES
    assert not fail_report.passed and fail_report.exit_code == 1
    assert all(t.error is None for t in fail_report.tests)


def test_failures_are_non_fatal(fail_report):
    test = next(t for t in fail_report.tests if t.function == "fail_non_fatal")
    assert test.checks == 3 and len(test.failures) == 2


def test_failure_operands_and_differing_elements(fail_report):
    by = {t.function: t for t in fail_report.tests}
    eq = by["fail_eq_i32"].failures[0]
    assert eq.message.endswith("  lhs:\n    2x3xi32=[1 2 3][4 5 6]\n  rhs:\n"
                               "    2x3xi32=[1 2 3][4 50 6]")
    assert eq.differing == [4] and eq.differing_count == 1
    assert eq.differing_elements() == [((1, 1), 5, 50)]
    np.testing.assert_array_equal(eq.lhs.values, [[1, 2, 3], [4, 5, 6]])
    many = by["fail_many_elements"].failures[0]
    assert many.differing_count == 100 and len(many.differing) == 16
    assert (many.atol, many.rtol) == (float(np.float32(DEFAULT_ATOL)), DEFAULT_RTOL)
    assert "100 differing elements, first 16:" in many.format()
    bf16 = by["fail_almost_eq_bf16"].failures[0]
    assert bf16.differing_elements() == [((1,), 16.0, 16.125)]
    assert (bf16.atol, bf16.rtol) == (float(np.float32(1e-2)), 0.0)
    zero = by["fail_eq_negative_zero"].failures[0]  # bytes differ, values compare equal
    assert zero.differing == [0]
    assert by["fail_eq_i1"].failures[0].differing_elements() == [((1,), 0, 1)]
    all_true = by["fail_all_true_i8"].failures[0]
    assert all_true.differing == [1, 3] and all_true.rhs is None


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "interpreter"])
def test_failure_site_is_the_check_call(fail_path, fast):
    """The recorded pc is the `vm.call @check.*` instruction (iree-dump-module offsets)."""
    report = run_checks([BytecodeModule.load(fail_path)], fast=fast)
    dump = subprocess.run([corpus.tool_path("iree-dump-module"), "--output=disassembly",
                           "--bytecode_offsets", str(fail_path)],
                          capture_output=True, text=True, check=True).stdout
    lines_by_function: dict[str, dict[int, str]] = {}
    current = None
    for line in dump.splitlines():
        if line.startswith("vm.func @"):
            current = lines_by_function.setdefault(line.split("@", 1)[1].split("(")[0], {})
        elif current is not None and line.startswith("[") and "]" in line:
            current[int(line[1:9], 16)] = line[10:].strip()
    sites = 0
    for test in report.tests:
        for failure in test.failures:
            assert failure.site.module == "module" and failure.site.function == test.function
            instruction = lines_by_function[test.function][failure.site.pc]
            assert instruction.startswith(f"vm.call @check.{failure.check}("), instruction
            sites += 1
    assert sites == 24


# -- Semantics against module.cc's formulas ------------------------------------------------


def _iree_fuzzy(actual: float, expected: float, atol: float, rtol: float) -> bool:
    # iree_math_fuzzy_compare_f64, transcribed as a scalar reference.
    if actual == expected:
        return True
    if math.isnan(actual) and math.isnan(expected):
        return True
    if not math.isfinite(expected):
        return False
    return abs(actual - expected) <= atol + rtol * abs(expected)


def test_fuzzy_equal_matches_the_scalar_formula():
    specials = [0.0, -0.0, 1.0, -1.0, 1e-4, 1.0001, math.inf, -math.inf, math.nan, 1e300,
                -1e-300, 2.0, 1.5]
    tolerances = [(0.0, 0.0), (1e-4, 0.0), (0.0, 1e-2), (1e30, 1.0), (math.inf, 0.0)]
    for atol, rtol in tolerances:
        a = np.array([x for x in specials for _ in specials])
        b = np.array([y for _ in specials for y in specials])
        got = fuzzy_equal(a, b, atol, rtol)
        want = [_iree_fuzzy(x, y, atol, rtol) for x, y in zip(a, b, strict=True)]
        assert got.tolist() == want, (atol, rtol)


@pytest.mark.parametrize("element_type", [ElementType.FLOAT_16, ElementType.BFLOAT_16,
                                          ElementType.FLOAT_8_E4M3_FN,
                                          ElementType.FLOAT_8_E5M2,
                                          ElementType.FLOAT_8_E4M3_FNUZ,
                                          ElementType.FLOAT_8_E5M2_FNUZ,
                                          ElementType.FLOAT_8_E8M0_FNU])
def test_narrow_float_operands_decode_like_iree(element_type):
    from iree_lab.hal.check import _float_values
    from iree_lab.hal.types import element_dtype

    bits = 16 if element_type in (ElementType.FLOAT_16, ElementType.BFLOAT_16) else 8
    codes = np.arange(1 << bits, dtype=np.uint16 if bits == 16 else np.uint8)
    got = _float_values(element_type, codes.tobytes())
    with np.errstate(invalid="ignore"):
        want = codes.view(element_dtype(element_type)).astype(np.float64)
    np.testing.assert_array_equal(got, want)  # NaNs in the same places
    assert got[5] == floats.bits_to_f32(5, element_type)


def test_unsupported_element_types_are_errors_not_failures():
    from iree_lab.hal.buffer_view import BufferView
    from iree_lab.hal.device import Device
    from iree_lab.hal.io import buffer_view_from_numpy

    device = Device()
    check = CheckModule()
    ints = buffer_view_from_numpy(np.array([1, 2], dtype=np.int32), device)
    with pytest.raises(VMStatus, match="unsupported element type i32") as error:
        check.expect_almost_eq(None, ints, ints, 0.0, 0.0)
    assert error.value.code == StatusCode.INVALID_ARGUMENT
    bools = BufferView(ints.buffer, (2,), ElementType.BOOL_8)
    with pytest.raises(VMStatus, match="unsupported element type i1"):
        check.expect_all_true(None, bools)
    with pytest.raises(VMStatus, match="ref is null"):
        check.expect_eq(None, None, ints)
    assert check.failures == []


def test_dispatch_mapping_of_read_only_import_gets_a_private_copy():
    from iree_lab.hal.device import Device
    from iree_lab.hal.types import BufferUsage, MappingMode, MemoryAccess, MemoryType

    rodata = memoryview(bytes(range(16))).toreadonly()
    buffer = Device().allocator.import_host(MemoryType.HOST_LOCAL | MemoryType.DEVICE_VISIBLE,
                                   BufferUsage.DEFAULT | BufferUsage.MAPPING
                                   | BufferUsage.SHARING_IMMUTABLE,
                                   rodata, access=MemoryAccess.READ)
    sub = buffer.subspan(4, 4)
    assert not buffer.map_range(MappingMode.SCOPED, MemoryAccess.READ, 0, 4).flags.writeable
    view = sub.map_range(MappingMode.PERSISTENT, MemoryAccess.ANY, 0, 4)
    view[:] = 99
    assert buffer.contents().tolist()[:9] == [0, 1, 2, 3, 99, 99, 99, 99, 8]
    assert bytes(rodata) == bytes(range(16))  # the module's rodata is untouched


# -- iree-lab check ----------------------------------------------------------------------------


def test_cli_passing_module_prints_gtest_lines(pass_path):
    out = _run_tool("check", f"--module={pass_path}")
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[:3] == ["[==========] Running 13 tests from 1 test suite.",
                         "[----------] Global test environment set-up.",
                         "[----------] 13 tests from module"]
    assert [ln.split(" (")[0] for ln in lines if ln.startswith(("[ RUN", "[    "))] == [
        x for name in PASS_CHECKS for x in (f"[ RUN      ] module.{name}",
                                            f"[       OK ] module.{name}")]
    assert lines[-1] == "[  PASSED  ] 13 tests."


def test_cli_failing_module_exits_non_zero(fail_path):
    out = _run_tool("check", f"--module={fail_path}", "--function=fail_eq_i32")
    assert out.returncode == 1
    assert "[ RUN      ] module.fail_eq_i32" in out.stdout
    assert "module.fail_eq_i32: Failure\nExpected equality of these values. Contents does " \
           "not match.\n  lhs:\n    2x3xi32=[1 2 3][4 5 6]" in out.stdout
    assert re.search(r"^  at module\.fail_eq_i32\+[0-9A-F]{8}$", out.stdout, re.M)
    assert "    [1, 1] lhs=5 rhs=50" in out.stdout
    assert "[  FAILED  ] module.fail_eq_i32, where GetParam() = " in out.stdout
    assert out.stdout.rstrip().endswith(" 1 FAILED TEST\nTest failed")
    expect = _run_tool("check", f"--module={fail_path}", "--expect_failure")
    assert expect.returncode == 0 and "23 FAILED TESTS" in expect.stdout
    assert expect.stdout.rstrip().endswith("Test failed as expected")
    wrong = _run_tool("check", f"--module={corpus.build('check_expect_pass')}",
                      "--expect_failure")
    assert wrong.returncode == 1 and "Test passed but expected failure" in wrong.stdout


def test_cli_errors(fail_path):
    missing = _run_tool("check", f"--module={fail_path}", "--function=nope")
    assert missing.returncode == 1 and "NOT_FOUND" in missing.stderr
    device = _run_tool("check", f"--module={fail_path}", "--device=vulkan")
    assert (device.returncode, device.stdout) == (1, "")
    assert device.stderr.startswith("iree-lab check: NOT_FOUND; no driver registered for "
                                    "device 'vulkan'")
    # Exports with arguments are refused, like iree-check-module does.
    args = _run_tool("check", f"--module={corpus.build('scalar_vmvx')}")
    assert args.returncode == 1
    assert "INVALID_ARGUMENT; expected function with no inputs or outputs, but export" \
        in args.stderr
    with pytest.raises(VMStatus):
        check_functions(BytecodeModule.load(corpus.build("scalar_vmvx")))


def test_run_skips_checks_like_iree_run_module_unless_asked(fail_path):
    native = subprocess.run([corpus.tool_path("iree-run-module"), f"--module={fail_path}",
                             "--function=fail_non_fatal"], capture_output=True, text=True)
    plain = _run_tool("run", f"--module={fail_path}", "--function=fail_non_fatal")
    assert (plain.returncode, plain.stdout) == (native.returncode, native.stdout) == (
        0, "EXEC @fail_non_fatal\n")
    checked = _run_tool("run", f"--module={fail_path}", "--function=fail_non_fatal",
                        "--check")
    assert checked.returncode == 1 and checked.stdout == native.stdout
    assert checked.stderr.count(": Failure") == 2


def _assemble(tmp_path, import_line: str):
    source = tmp_path / "m.vmasm"
    source.write_text("vm.module @m version 0\nvm.type i32\nvm.type i64\n"
                      f"{import_line}\n\nvm.export @t\nvm.func @t() -> () {{\n^bb0:\n"
                      "  vm.return\n}\n")
    out = tmp_path / "m.vmfb"
    subprocess.run([corpus.tool_path("iree-as-module"), f"--output={out}", str(source)],
                   check=True, capture_output=True)
    return out


def test_unknown_check_import_fails_instead_of_skipping(tmp_path):
    # An optional check import this module does not export would be skipped by the
    # program (vm.import.resolved): the test must not pass vacuously.
    report = run_checks(_assemble(tmp_path, 'vm.import optional @check.expect_new cconv "0i_v"'))
    assert not report.ok
    assert report.tests[0].error.startswith(
        "NOT_FOUND; import check.expect_new (cconv 0i_v) is not provided by iree_lab's check "
        "module (version 0)")
    # A signature mismatch is refused when the context links (as IREE does).
    report = run_checks(_assemble(tmp_path, 'vm.import optional @check.expect_true cconv "0I_v"'))
    assert "signature mismatch" in report.tests[0].error


def test_failure_has_the_check_ops_source_location():
    path = corpus.build("check_expect_fail_located")
    source = corpus.PROGRAMS["check_expect_fail_located"].source_path
    line = next(k for k, text in enumerate(source.read_text().splitlines(), 1)
                if "check.expect_false" in text)
    report = run_checks(path)
    assert [t.passed for t in report.tests] == [True, False]
    failure = report.failures[0]
    assert failure.location == f"{source}:{line}:3"
    assert failure.format().splitlines()[:3] == [
        f"{source}:{line}:3: Failure", "Expected 7 to be zero.",
        f"  at {failure.call_site}"]
    assert failure.call_site.startswith("module.fail_located+")


def test_run_checks_takes_paths(pass_path):
    report = run_checks(str(pass_path), function="scalars")
    assert [(t.function, t.checks, t.passed) for t in report.tests] == [("scalars", 5, True)]


def test_report_text_and_rich_display(fail_report):
    from iree_lab.views.rich import render_html

    text = format_report(fail_report)
    assert text.startswith("[==========] Running 23 tests from 1 test suite.")
    assert "[  FAILED  ] 23 tests, listed below:" in text
    html = render_html(fail_report)
    assert html.count("il-fail") >= 24 and "fail_eq_i32" in html
    failure = next(t for t in fail_report.tests if t.function == "fail_eq_i32").failures[0]
    one = render_html(failure)
    # lhs beside rhs, the differing element highlighted in both grids.
    assert one.count('<td class="il-diff">') == 2
    assert '<td class="il-diff">5</td>' in one and '<td class="il-diff">50</td>' in one


def test_ipython_shows_a_report_as_html(fail_path):
    code = (
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        "import iree_lab\n"
        "from iree_lab.hal.check import run_checks\n"
        f"report = run_checks({str(fail_path)!r}, function='fail_eq_i32')\n"
        "data, _ = shell.display_formatter.format(report)\n"
        "html = data.get('text/html', '')\n"
        "one, _ = shell.display_formatter.format(report.failures[0])\n"
        "print('fail_eq_i32' in html, 'il-diff' in one.get('text/html', ''))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=corpus.REPO_ROOT)
    assert out.stdout.strip() == "True True", out.stdout + out.stderr


# -- The suite tool ----------------------------------------------------------------------------


def test_cmake_suite_blocks_are_parsed():
    text = """
iree_check_single_backend_test_suite(
  NAME
    check_vmvx_local-task
  SRCS
    "a.mlir"
    # "b.mlir"  # TODO: disabled
    "c.mlir"
  TARGET_BACKEND
    "vmvx"
  DRIVER
    "local-task"
  COMPILER_FLAGS
    "--iree-vmvx-enable-microkernels"
    "--iree-preprocessing-pass-pipeline=builtin.module\\\\(func.func\\\\(p\\\\)\\\\)"
  WILL_FAIL
    "ON"
)

iree_check_single_backend_test_suite(
  NAME
    compile_only
  SRCS
    "d.mlir"
  TARGET_BACKEND
    "llvm-cpu"
)
"""
    suites = check_suite.parse_cmake_suites(text)
    assert suites == [
        {"NAME": ["check_vmvx_local-task"], "SRCS": ["a.mlir", "c.mlir"],
         "TARGET_BACKEND": ["vmvx"], "DRIVER": ["local-task"],
         "COMPILER_FLAGS": ["--iree-vmvx-enable-microkernels",
                            "--iree-preprocessing-pass-pipeline=builtin.module(func.func(p))"],
         "WILL_FAIL": ["ON"]},
        {"NAME": ["compile_only"], "SRCS": ["d.mlir"], "TARGET_BACKEND": ["llvm-cpu"]},
    ]


def test_directory_suite_runs_pass_and_fail_programs():
    directory = corpus.PROGRAMS_DIR / "check"
    flags = corpus.PROGRAMS["check_expect_pass"].flags
    results = {r.job.name: r for r in
               (check_suite.run_job(job) for job in check_suite.directory_jobs(directory, flags))}
    assert results["expect_pass.mlir"].outcome == "pass"
    assert results["expect_pass.mlir"].tests_passed == 13
    failing = results["expect_fail.mlir"]
    assert failing.outcome == "fail" and failing.tests_failed == 23
    assert failing.cause == "module.fail_true: Failure Expected 0 to be nonzero."
    located = results["expect_fail_located.mlir"]
    assert (located.outcome, located.tests_passed, located.tests_failed) == ("fail", 1, 1)
    summary = check_suite.summarize(list(results.values()))
    assert summary.startswith("3 jobs: 1 pass, 2 fail")
    # As negative controls they pass: the failing files must fail.
    jobs = check_suite.directory_jobs(directory, flags, will_fail="*fail*")
    assert [j.will_fail for j in jobs] == [True, True, False]
    control = check_suite.run_job(jobs[0])
    assert control.outcome == "pass" and control.tests_failed == 23
    assert control.output.rstrip().endswith("Test failed as expected")
