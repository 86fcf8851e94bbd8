"""async-external VMVX programs (coarse-fences exports) vs iree-run-module.

The HAL programs are recompiled with ``--iree-execution-model=async-external``:
every export takes a wait fence and a signal fence after its arguments.
``iree-run-module`` passes a null wait fence and waits on a fresh signal fence;
``iree-lab run`` (run here in process) does the same on its fiber scheduler.
Stdout must be byte-identical.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_hal_e2e import CASES, run_cli

from iree_lab import vm
from iree_lab.hal import io, tooling
from iree_lab.testing import corpus
from iree_lab.vm.scheduler import Scheduler, is_coarse_fences
from iree_lab.vm.status import StatusCode

ASYNC_FLAGS = corpus._LOCAL_VMVX + ["--iree-execution-model=async-external"]
_PROGRAMS = {"tensor": "tensor.mlir", **{name: f"hal/{name}.mlir" for name in (
    "elementwise", "linalg", "stateful", "control", "nn", "ops", "halfs", "halfs_layout")}}
_ASYNC_CASES = [c for c in CASES if c[0] in _PROGRAMS]


def async_module(program: str):
    return corpus.build(corpus.Program(f"hal_async_{program}", _PROGRAMS[program],
                                       tuple(ASYNC_FLAGS)))


@pytest.mark.parametrize("program", sorted(_PROGRAMS))
def test_exports_take_wait_and_signal_fences(program):
    module = vm.BytecodeModule.load(async_module(program))
    exports = [f for name, f in module.exports.items() if not name.startswith("__")]
    assert exports
    for function in exports:
        assert is_coarse_fences(function), function.name
        assert function.cconv.arguments.endswith("rr"), function.name


@pytest.mark.parametrize(("program", "function", "inputs"), _ASYNC_CASES,
                         ids=[f"{c[0]}.{c[1]}-{i}" for i, c in enumerate(_ASYNC_CASES)])
def test_async_programs_match_iree_run_module(iree_tool, capsys, program, function, inputs):
    args = [f"--module={async_module(program)}", f"--function={function}",
            *[f"--input={i}" for i in inputs]]
    expected = iree_tool("iree-run-module", "--device=local-sync", *args).stdout.decode()
    assert run_cli(capsys, ["--device=local-sync", *args]) == (0, expected)


def test_async_stateful_globals_match_iree_runtime(build_module):
    """Tensor and scalar globals persist across async calls, each on its own fences."""
    ireert = pytest.importorskip("iree.runtime")
    config = ireert.Config("local-sync")
    ref_ctx = ireert.SystemContext(config=config)
    ref_ctx.add_vm_module(ireert.VmModule.mmap(config.vm_instance,
                                               str(build_module("hal_stateful"))))
    ref = ref_ctx.modules.module

    user = vm.BytecodeModule.load(async_module("stateful"))
    session = tooling.Session.for_modules([user])
    ctx = vm.Context(session.modules + [user])
    device = session.device

    def call(name, *args):
        signal = device.create_fence([(device.create_semaphore(0), 1)])
        scheduler = Scheduler(ctx)
        fiber = scheduler.spawn(name, *args, None, signal)
        scheduler.run()
        assert signal.query() == StatusCode.OK
        return fiber.result()

    inputs = [np.array([1, 2, 3, 4], np.float32), np.array([0.5, -1, 0.25, 8], np.float32),
              np.array([-10, 10, 1e-3, 0], np.float32)]
    for x in inputs:
        expected = np.asarray(ref.accumulate(x))
        (view,) = call("accumulate", io.buffer_view_from_numpy(x, device))
        got = view.to_numpy()
        assert got.dtype == expected.dtype and got.tobytes() == expected.tobytes()
    assert call("calls") == [int(ref.calls())] == [len(inputs)]
