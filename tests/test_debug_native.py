"""The debugger on llvm-cpu modules: host bytecode steps as usual; native dispatches stop
before they run (inputs, constants, workgroup grid, machine code) and after (what they wrote)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from iree_lab import samples
from iree_lab.debug import Debugger
from iree_lab.hal import cpu

pytestmark = pytest.mark.skipif(cpu.HOST_ARCH != "x86_64",
                                reason="the llvm-cpu sample is x86-64 code")
INPUT = "1x8xf32=1 2 3 4 5 6 7 8"
EXPECTED = [10.1, 13.55, 11.3, 14.6]  # iree-run-module's output for INPUT


def test_dispatch_breakpoint_stops_before_and_step_shows_the_written_result():
    with Debugger.launch(samples.path("mlp_llvm_cpu"), "predict", [INPUT]) as dbg:
        bp = dbg.break_dispatch("*matmul*")
        stop = dbg.cont()
        assert stop.reason == "breakpoint" and stop.breakpoints == [bp]
        assert stop.phase == "dispatch" and stop.frame.kind == "dispatch"
        native = stop.dispatch
        assert native.export_name == "predict_dispatch_0_matmul_1x4x8_f32"
        assert native.executable_format == "embedded-elf-x86_64"
        assert native.workgroup_count == (1, 1, 1) and native.workgroups == 1
        assert np.frombuffer(native.bindings[0], np.float32)[:8].tolist() == list(range(1, 9))
        assert not np.frombuffer(native.bindings[-1], np.float32).any()  # not written yet
        # The frame below is the host instruction that submitted the work.
        assert stop.frames[-2].kind == "bytecode" and "hal." in (stop.text or "")
        kind, lines = native.listing()
        assert kind == "x86_64 disassembly" and any("ret" in line for line in lines)
        assert dbg.disassemble()[0].startswith("; x86_64 disassembly of predict_dispatch_0")

        after = dbg.step()
        assert after.reason == "step" and after.phase == "dispatched"
        assert after.position == stop.position
        result = np.frombuffer(after.dispatch.bindings[-1], np.float32)
        assert result.tolist() == pytest.approx(EXPECTED)
        assert result.tolist() == np.float32(EXPECTED).tolist()

        back_in_bytecode = dbg.step()
        assert back_in_bytecode.dispatch is None and back_in_bytecode.frame.kind == "bytecode"
        done = dbg.cont()
        assert done.reason == "done" and "1x4xf32=[10.1 13.55 11.3 14.6]" in done.results_text
        assert bp.hits == 1


def test_step_over_runs_native_dispatches_without_stopping():
    with Debugger.launch(samples.path("mlp_llvm_cpu"), "predict", [INPUT]) as dbg:
        positions = []
        stop = dbg.stop
        while not stop.finished:
            assert stop.dispatch is None
            positions.append(stop.position)
            stop = dbg.next()
        assert positions == sorted(positions)


def test_step_into_reaches_the_dispatch_from_the_submitting_instruction():
    with Debugger.launch(samples.path("mlp_llvm_cpu"), "predict", [INPUT]) as dbg:
        stop = dbg.stop
        seen = []
        while not stop.finished:
            if stop.dispatch is not None:
                seen.append(stop.phase)
            stop = dbg.step()
        assert seen == ["dispatch", "dispatched"]


def test_native_false_refuses_the_sample():
    from iree_lab.debug import Program
    from iree_lab.vm.status import VMError

    program = Program(samples.path("mlp_llvm_cpu"), "predict", [INPUT], native=False)
    with pytest.raises(VMError) as e:
        program.build()
    assert "PERMISSION_DENIED" in str(e.value)


def test_cli_prompt_shows_native_dispatches():
    script = "break dispatch:*matmul*\ncontinue\ndispatch\nlist\nstep\ndispatch\nquit\n"
    result = subprocess.run(
        [sys.executable, "-m", "iree_lab", "debug", f"--module={samples.path('mlp_llvm_cpu')}",
         "--function=predict", f"--input={INPUT}"], input=script, capture_output=True,
        text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "(before native dispatch) predict_dispatch_0_matmul_1x4x8_f32 (embedded-elf-x86_64) " \
        "1x1x1 workgroups, 2 bindings, 0 constants  breakpoint #1" in out
    assert "  workgroups 1x1x1 of 1x1x1; constants []" in out
    assert "; x86_64 disassembly of predict_dispatch_0_matmul_1x4x8_f32" in out
    assert "(after native dispatch)" in out
    assert "binding 1: 16 bytes  9a 99 21 41" in out  # 10.1f after the dispatch


def test_panel_state_carries_the_native_dispatch():
    from iree_lab.views.debugger_data import panel_state

    with Debugger.launch(samples.path("mlp_llvm_cpu"), "predict", [INPUT]) as dbg:
        dbg.break_dispatch()
        state = panel_state(dbg.cont(), -1, dbg.breakpoints)
        native = state["native"]
        assert native["export"] == "predict_dispatch_0_matmul_1x4x8_f32"
        assert native["phase"] == "before" and native["workgroup_count"] == [1, 1, 1]
        assert native["listing_kind"] == "x86_64 disassembly" and native["listing"]
        assert [b["bytes"] for b in native["bindings"]] == [32, 16]
        assert state["frame"]["kind"] == "dispatch"
        assert panel_state(dbg.step(), -1)["native"]["phase"] == "after"
        assert panel_state(dbg.step(), -1)["native"] is None
