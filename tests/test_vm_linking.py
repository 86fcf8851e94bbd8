"""Contexts and linking: imports across modules, optional imports, cconv checks, __init,
native (Python) modules, variadic imports and suspending (yielding) calls.

Bytecode-only cases run in IREE too (iree.runtime / iree-run-module with the
same modules in the same order). Native modules replace a bytecode module with
a Python one exporting the same functions, so the importer must behave the same.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from test_vm_support import check_same, iree_run_module

from iree_lab import vm
from iree_lab.testing import corpus

NATIVE_FILE = Path(__file__).parent / "programs" / "vm" / "native_lib.py"


def _native_modules():
    spec = importlib.util.spec_from_file_location("native_lib_for_tests", NATIVE_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _paths(*names):
    return [corpus.build(n) for n in names]


APP_CASES = [
    ("use_add", [(1, 2), (-5, 0x7FFFFFFF), (0x40000000, 0x40000000)]),
    ("use_pair", [(7, 3), (2**40, -2), (-1, 0)]),
    ("use_fail", [(0,), (5,), (9,)]),
    ("use_count", [(), (), ()]),
    ("resolved", [()]),
    ("call_missing", [(1,)]),
]


@pytest.mark.parametrize(("name", "inputs"), APP_CASES, ids=[c[0] for c in APP_CASES])
def test_imports_across_bytecode_modules_match_iree(name, inputs):
    paths = _paths("vm_lib", "vm_app")
    fn = vm.BytecodeModule.load(paths[1]).exports[name]
    outcomes = [check_same(paths, name, args, fn.cconv) for args in inputs]
    if name == "call_missing":
        assert outcomes[0] == ("error", "NOT_FOUND")
    if name == "use_count":  # lib.__init set the counter to 100 in both
        assert [o[1][0][1] for o in outcomes] == [101, 102, 103]


@pytest.mark.parametrize(
    ("program", "code", "text"),
    [
        ("vm_app_mismatch", "INTERNAL", "signature mismatch"),
        ("vm_app_unknown", "NOT_FOUND", "module 'nowhere' required for import 'nowhere.f'"),
    ],
)
def test_link_errors_match_iree(program, code, text):
    paths = _paths("vm_lib", program) if program == "vm_app_mismatch" else _paths(program)
    result = iree_run_module(paths, "f", ["1"])
    assert result.returncode != 0 and code in result.stderr and text in result.stderr
    with pytest.raises(vm.VMError) as info:
        vm.Context([vm.BytecodeModule.load(p) for p in paths])
    assert info.value.code.name == code and text in str(info.value)
    assert f"resolving module '{program[3:]}' imports" in str(info.value)


def test_missing_hal_dependency_is_a_clear_error():
    path = corpus.build("tensor_vmvx")
    with pytest.raises(vm.VMError) as info:
        vm.Context([vm.BytecodeModule.load(path)])
    assert info.value.code == vm.StatusCode.NOT_FOUND
    assert "hal" in str(info.value)


def test_optional_import_resolution_and_reregistration_order():
    lib = vm.BytecodeModule.load(corpus.build("vm_lib"))
    app = vm.BytecodeModule.load(corpus.build("vm_app"))
    ctx = vm.Context([lib, app])
    assert ctx.call("resolved") == (0, 1)
    assert ctx.call("app.use_add", 2, 3) == 10
    # The app must come after the module it imports from.
    with pytest.raises(vm.VMError) as info:
        vm.Context([vm.BytecodeModule.load(corpus.build("vm_app"))])
    assert info.value.code == vm.StatusCode.NOT_FOUND


def test_native_module_replaces_bytecode_module():
    natives = _native_modules()
    app_path = corpus.build("vm_app")
    native_ctx = vm.Context([natives.Lib(), vm.BytecodeModule.load(app_path)])
    bytecode_ctx = vm.Context([vm.BytecodeModule.load(corpus.build("vm_lib")),
                               vm.BytecodeModule.load(app_path)])  # fmt: skip
    for name, inputs in APP_CASES:
        for args in inputs:
            outcomes = []
            for ctx in (native_ctx, bytecode_ctx):
                try:
                    outcomes.append(("ok", ctx.call(name, *args)))
                except vm.VMError as e:
                    outcomes.append(("error", e.code))
            assert outcomes[0] == outcomes[1], (name, args, outcomes)


def test_native_failure_carries_status_and_annotation():
    natives = _native_modules()
    ctx = vm.Context([natives.Lib(), vm.BytecodeModule.load(corpus.build("vm_app"))])
    with pytest.raises(vm.VMError) as info:
        ctx.call("use_fail", 5)
    assert info.value.code == vm.StatusCode.NOT_FOUND
    assert info.value.message == "lib failed"
    assert "while calling import" in info.value.annotations
    assert [f.function for f in info.value.backtrace] == ["use_fail"]


# -- Yields, variadic imports and suspension ------------------------------------------------


def _yields_context(**kwargs):
    natives = _native_modules()
    native = natives.Native()
    ctx = vm.Context([native, vm.BytecodeModule.load(corpus.build("vm_yields"))], **kwargs)
    return ctx, native


@pytest.mark.parametrize("n", [0, 1, 2, 10, 31])
def test_yielding_function_completes_like_its_non_yielding_twin(n):
    path = corpus.build("vm_yields")
    twin = vm.BytecodeModule.load(path).exports["count_no_yield"]
    expected = check_same(path, "count_no_yield", (n,), twin.cconv)
    for fast in (True, False):
        ctx, _ = _yields_context(fast=fast)
        assert ctx.call("yield_count", n) == expected[1][0][1]
        assert ctx.call("call_yielding", n) == expected[1][0][1] + 1


def test_invocation_suspends_at_each_yield_and_resumes():
    ctx, _ = _yields_context()
    inv = ctx.invoke("yield_count", 7)
    suspensions = 0
    while inv.run() == vm.InvocationState.SUSPENDED:
        suspensions += 1
        assert inv.top.function_name == "yield_count"
    assert inv.state == vm.InvocationState.DONE
    assert inv.results == [9] and suspensions == 3


def test_native_import_suspends_through_yieldable_call():
    ctx, _ = _yields_context()
    inv = ctx.invoke("call_native_yieldable", 21)
    states = []
    while True:
        state = inv.run()
        states.append(state)
        if state != vm.InvocationState.SUSPENDED:
            break
    assert states == [vm.InvocationState.SUSPENDED] * 3 + [vm.InvocationState.DONE]
    assert inv.results == [42]
    assert ctx.call("call_native_yieldable", 5) == 10


def test_plain_call_runs_a_suspending_native_to_completion():
    ctx, native = _yields_context()
    assert ctx.call("call_native_plain", 4) == 4
    ctx2, native2 = _yields_context(fast=False)
    assert ctx2.call("call_native_plain", 6) == 6
    assert native.notes == [4] and native2.notes == [6]


@pytest.mark.parametrize("fast", [True, False])
def test_variadic_native_import(fast):
    ctx, _ = _yields_context(fast=fast)
    assert ctx.call("variadic_sum", 1, 2, 3) == 1 + (2 + 3 + 1)
    assert ctx.call("variadic_sum", -5, 0x7FFFFFFF, 1) == ((-5 + 0x7FFFFFFF + 1 - 5 + 2**31)
                                                          % 2**32) - 2**31


class _YieldsWithResults(vm.NativeModule):
    name = "native"
    version = 1

    @vm.export("0i_i")
    def slow_double(self, x):
        yield
        return 2 * x

    @vm.export("0iCiD_i")
    def sum(self, base, values):
        return base

    @vm.export("0i_v")
    def note(self, x):
        return None


@pytest.mark.parametrize("fast", [True, False])
def test_plain_call_of_yielding_import_with_results_is_unimplemented(fast):
    """IREE: "yield in imports with results not supported" (vm.call, not .yieldable)."""
    path = corpus.build("vm_yields")
    module = vm.BytecodeModule.load(path)
    # variadic_sum calls native.sum plainly; swap in a module whose sum yields.
    class Yielding(_YieldsWithResults):
        @vm.export("0iCiD_i")
        def sum(self, base, values):
            yield
            return base

    ctx = vm.Context([Yielding(), module], fast=fast)
    with pytest.raises(vm.VMError) as info:
        ctx.call("variadic_sum", 1, 2, 3)
    assert info.value.code == vm.StatusCode.UNIMPLEMENTED
    assert "while calling import" in info.value.annotations
    assert ctx.call("call_native_yieldable", 4) == 8


def test_dependency_versions_are_checked_like_iree():
    lib = vm.BytecodeModule.load(corpus.build("vm_lib"))  # version 3

    def needing(version, optional=False, module="lib"):
        class Needs(vm.NativeModule):
            name = "needs"
            module_dependencies = (vm.Dependency(module, version, optional),)

        return Needs()

    vm.Context([lib, needing(3)])
    with pytest.raises(vm.VMError) as info:
        vm.Context([lib, needing(4)])
    assert info.value.code == vm.StatusCode.NOT_FOUND
    assert "required module 'lib' version mismatch; have 3 but require 4" in info.value.message
    vm.Context([lib, needing(9, optional=True)])
    vm.Context([needing(1, optional=True, module="absent")])
    with pytest.raises(vm.VMError) as info:
        vm.Context([needing(1, module="absent")])
    assert "required module 'absent' not registered on the context" in info.value.message
