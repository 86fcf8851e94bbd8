"""The async ABI on fibers: coarse-fences (async-external) calls and hal.fence.await.

Several async-external calls run concurrently, each its own fiber, chained or
released through HAL fences. Ground truth: ``iree.runtime`` calling the same
functions with real fences (results), IREE's disassembly (where a waiting
fiber stops), and ``iree-run-module`` (``iree-lab run`` output byte for byte).
"""

from __future__ import annotations

import functools
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from test_vm_support import iree_run_module

from iree_lab import vm
from iree_lab.cli.main import main
from iree_lab.hal import Session, io
from iree_lab.testing import corpus
from iree_lab.vm.scheduler import DeadlockError, FiberState, Scheduler, is_coarse_fences
from iree_lab.vm.status import StatusCode, VMStatus

HOST_FILE = Path(__file__).parent / "programs" / "fibers" / "host.py"


# -- IREE -------------------------------------------------------------------------------------


@functools.cache
def _iree(path: str):
    import iree.runtime as rt

    config = rt.Config("local-sync")
    hal = rt.create_hal_module(config.vm_instance, config.device)
    module = rt.VmModule.mmap(config.vm_instance, path)
    return rt, config.device, rt.VmContext(config.vm_instance, modules=[hal, module]), module


def iree_async_call(path, name: str, arrays) -> list:
    """Results of a coarse-fences call in iree.runtime (signaled wait fence; waits on the
    signal fence). i32 results as ints, tensors as numpy arrays."""
    rt, device, context, module = _iree(str(path))
    fn = module.lookup_function(name)
    assert fn.reflection["iree.abi.model"] == "coarse-fences"
    args = rt.VmVariantList(len(arrays) + 2)
    for array in arrays:
        args.push_ref(rt.asdevicearray(device, array)._buffer_view)
    signal = rt.HalFence.create_at(device.create_semaphore(0), 1)
    args.push_ref(rt.HalFence.create_at(device.create_semaphore(1), 1))  # already reached
    args.push_ref(signal)
    results = rt.VmVariantList(4)
    context.invoke(fn, args, results)
    signal.wait()
    cconv = vm.BytecodeModule.load(path).exports[name].cconv.results
    return [results.get_variant(i) if ch == "i" else
            rt.DeviceArray(device, results.get_as_object(i, rt.HalBufferView)).to_host()
            for i, ch in enumerate(cconv)]


# -- iree_lab ---------------------------------------------------------------------------------


def _lab(name: str):
    user = vm.BytecodeModule.load(corpus.build(name))
    session = Session.for_modules([user])
    return vm.Context(session.modules + [user]), session.device


def _fence(device, initial: int = 0):
    return device.create_fence([(device.create_semaphore(initial), 1)])


def _plain(values) -> list:
    return [v.to_numpy() if hasattr(v, "to_numpy") else v for v in values]


def _same(lab_values, iree_values) -> bool:
    return all(np.array_equal(np.asarray(a), np.asarray(b))
               for a, b in zip(_plain(lab_values), iree_values, strict=True))


A = np.array([1, 2, 3, 4], np.int32)
B = np.array([10, -20, 30, 2**30], np.int32)
C = np.array([7, 7, 7, -7], np.int32)
F = np.array([1.5, -2, 0.25, 1e30], np.float32)


@pytest.fixture(scope="module")
def await_offset(iree_tool):
    """Offset of total's hal.fence.await call in IREE's own disassembly."""
    text = iree_tool("iree-dump-module", "--output=disassembly", "--bytecode_offsets",
                     str(corpus.build("fibers_async"))).stdout.decode()
    body = text[text.index("vm.func @total("):]
    m = re.search(r"^\[([0-9A-F]{8})\]\s+vm\.call\.variadic\.yieldable @hal\.fence\.await",
                  body, re.M)
    return int(m.group(1), 16)


def test_async_exports_use_coarse_fences():
    ctx, _ = _lab("fibers_async")
    for name in ("total", "scale"):
        fn = ctx.lookup_function(name)
        assert is_coarse_fences(fn) and fn.cconv.arguments.endswith("rr")
    assert not is_coarse_fences(vm.BytecodeModule.load(corpus.build("fibers")).exports["nest"])


def test_chained_async_calls_complete_in_dependency_order(await_offset):
    """The first-created fiber waits on the fence the second one signals."""
    ctx, device = _lab("fibers_async")
    f1, f2 = _fence(device), _fence(device)
    sched = Scheduler(ctx)
    second = sched.spawn("total", io.buffer_view_from_numpy(A, device), f1, f2, name="second")
    first = sched.spawn("total", io.buffer_view_from_numpy(B, device), None, f1, name="first")
    assert sched.run() is None
    assert [(e.step, e.fiber, e.kind, e.reason) for e in sched.events if e.kind != "spawn"] == [
        (0, 0, "start", ""), (1, 0, "suspend", "wait"),
        (1, 1, "start", ""), (2, 1, "done", ""),
        (2, 0, "resume", "reached"), (3, 0, "done", "")]
    wait = next(e for e in sched.events if e.kind == "suspend")
    assert (wait.detail["frame"], wait.detail["pc"], wait.detail["import"]) == \
        ("module.total", await_offset, "hal.fence.await")
    [source] = wait.detail["wait"]["sources"]
    assert re.fullmatch(r"hal\.semaphore #\d+", source["resource"])
    assert (source["value"], source["current"], source["status"]) == (1, 0, "DEFERRED")
    assert f1.query() == StatusCode.OK and f2.query() == StatusCode.OK
    path = corpus.build("fibers_async")
    assert second.result() == iree_async_call(path, "total", [A]) == [10]
    assert first.result() == iree_async_call(path, "total", [B])


def test_concurrent_async_calls_wait_for_the_host():
    ctx, device = _lab("fibers_async")
    inputs = [A, B, C]
    waits = [_fence(device) for _ in inputs]
    signals = [_fence(device) for _ in inputs]
    sched = Scheduler(ctx)
    totals = [sched.spawn("total", io.buffer_view_from_numpy(x, device), w, s, name=f"t{i}")
              for i, (x, w, s) in enumerate(zip(inputs, waits, signals, strict=True))]
    scale_wait, scale_signal = _fence(device), _fence(device)
    scale = sched.spawn("scale", io.buffer_view_from_numpy(F, device), scale_wait, scale_signal)
    assert sched.run_until_blocked() == totals
    # scale returned at once: its work is queued behind its wait fence.
    assert scale.state == FiberState.DONE and scale_signal.query() == StatusCode.DEFERRED
    for index in (2, 0, 1):
        waits[index].signal()
    scale_wait.signal()
    assert sched.run() is None
    done = [e.fiber for e in sched.events if e.kind == "done"]
    assert done == [3, 0, 1, 2]  # all ready at once: resumed in round-robin order
    path = corpus.build("fibers_async")
    for fiber, x in zip(totals, inputs, strict=True):
        assert fiber.result() == iree_async_call(path, "total", [x])
    assert all(s.query() == StatusCode.OK for s in signals + [scale_signal])
    assert _same(scale.result(), iree_async_call(path, "scale", [F]))


def test_async_deadlock_names_the_semaphore_then_completes(await_offset):
    ctx, device = _lab("fibers_async")
    wait, signal = _fence(device), _fence(device)
    sched = Scheduler(ctx)
    fiber = sched.spawn("total", io.buffer_view_from_numpy(C, device), wait, signal, name="t")
    with pytest.raises(DeadlockError) as info:
        sched.run()
    source = fiber.wait.sources[0]
    assert info.value.message.endswith(
        f"fiber 0 't' at module.total+{await_offset:08X} waits on {source.resource} >= 1 "
        "(at 0)")
    wait.signal()
    assert sched.run() is None
    assert fiber.result() == iree_async_call(corpus.build("fibers_async"), "total", [C])


def test_failed_wait_fence_fails_the_waiting_fiber():
    ctx, device = _lab("fibers_async")
    wait, signal = _fence(device), _fence(device)
    sched = Scheduler(ctx)
    fiber = sched.spawn("total", io.buffer_view_from_numpy(A, device), wait, signal)
    assert sched.run_until_blocked() == [fiber]
    wait.fail(VMStatus(StatusCode.CANCELLED, "caller gave up"))
    assert sched.run() is None
    assert fiber.state == FiberState.FAILED
    assert (fiber.error.code, fiber.error.message) == (StatusCode.CANCELLED, "caller gave up")
    assert [e.reason for e in sched.events if e.kind == "resume"] == ["failed"]


def test_fence_await_timeout_matches_iree():
    """A finite timeout on a fence nobody signals: DEADLINE_EXCEEDED (4) as the result."""
    path = corpus.build("hal_fences")
    rt, device, context, module = _iree(str(path))
    args = rt.VmVariantList(2)
    args.push_ref(rt.HalFence.create_at(device.create_semaphore(0), 1))
    args.push_int(10)
    results = rt.VmVariantList(1)
    context.invoke(module.lookup_function("wait_timeout"), args, results)
    expected = results.get_variant(0)
    assert expected == int(StatusCode.DEADLINE_EXCEEDED)

    ctx, lab_device = _lab("hal_fences")
    sched = Scheduler(ctx)
    timed = sched.spawn("wait_timeout", _fence(lab_device), 10)
    immediate = sched.spawn("wait_timeout", _fence(lab_device), 0)
    reached = sched.spawn("wait_timeout", _fence(lab_device, initial=1), 10)
    sched.run()
    assert timed.result() == immediate.result() == [expected]
    assert reached.result() == [0]
    assert sched.virtual_ms == 10
    assert [e.fiber for e in sched.events if e.kind == "timeout"] == [0]


# -- iree-lab run ----------------------------------------------------------------------------

CLI_CASES = [
    ("async_vmvx", "add", ["4xf32=1,2,3,4", "4xf32=0.5"]),
    ("async_vmvx", "sum", ["16xi32=1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 -16"]),
    ("async_vmvx", "matmul", ["4x8xf32=1", "8x4xf32=0.25"]),
    ("fibers_async", "total", ["4xi32=1 2 3 4"]),
    ("fibers_async", "scale", ["4xf32=1.5 -2 0.25 1e30"]),
]


def _cli(capsys, argv):
    code = main(["run", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(("program", "function", "inputs"), CLI_CASES,
                         ids=[f"{c[0]}.{c[1]}" for c in CLI_CASES])
def test_run_async_function_like_iree_run_module(capsys, program, function, inputs):
    path = corpus.build(program)
    expected = iree_run_module([path], function, inputs)
    assert expected.returncode == 0, expected.stderr
    code, out, err = _cli(capsys, [f"--module={path}", f"--function={function}",
                                   *[f"--input={x}" for x in inputs]])
    assert (code, out) == (0, expected.stdout), err


def test_run_async_reports_a_failure_like_iree(capsys):
    path = corpus.build("async_vmvx")
    inputs = ["4xf32=1,2,3,4", "3xf32=0.5"]  # wrong shape: buffer_view.assert fails
    expected = iree_run_module([path], "add", inputs)
    code, out, err = _cli(capsys, [f"--module={path}", "--function=add",
                                   *[f"--input={x}" for x in inputs]])
    assert expected.returncode != 0 and code == 1
    assert out == expected.stdout
    code_name = re.search(r"\b([A-Z][A-Z_]{3,});", expected.stderr).group(1)
    assert f"{code_name};" in err


@pytest.mark.parametrize(("function", "twin", "inputs", "with_host"), [
    ("carry", "carry_plain", ["25"], False),
    ("worker", "worker_plain", ["4", "6"], True),
    ("nest", "nest_plain", ["-12"], True),
])
def test_run_completes_functions_that_yield(capsys, function, twin, inputs, with_host):
    """iree-run-module spins on vm.yield; iree-lab run completes it (results = IREE's twin)."""
    path = corpus.build("fibers")
    expected = iree_run_module([path], twin, inputs)
    assert expected.returncode == 0
    modules = ([f"--module={HOST_FILE}"] if with_host else []) + [f"--module={path}"]
    code, out, err = _cli(capsys, [*modules, f"--function={function}",
                                   *[f"--input={x}" for x in inputs]])
    assert code == 0, err
    assert out == expected.stdout.replace(f"EXEC @{twin}\n", f"EXEC @{function}\n")


def test_iree_run_module_spins_on_vm_yield():
    """The fact the scheduler improves on: IREE's tool never returns from vm.yield."""
    cmd = [corpus.tool_path("iree-run-module"), f"--module={corpus.build('fibers')}",
           "--function=carry", "--input=2"]
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run(cmd, capture_output=True, timeout=2)
