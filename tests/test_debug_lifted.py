"""Where the debugger skips work: VMVX dispatches without a possible stop run lifted to
numpy, and register-only breakpoint conditions are tested without the hook's bookkeeping.

Positions must stay those of a fully hooked run (the lifted run advances them by the
instructions the VM would have executed): every check compares a debugger run with
lifting against one with it off (``vmvx_module.LIFT = False``: every dispatch
instruction through the hook), on the same program and inputs.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from iree_lab.debug import Debugger
from iree_lab.hal import vmvx_lift, vmvx_module
from iree_lab.testing import corpus

INPUTS = ["4096xf32=1", "4096xf32=2"]


@pytest.fixture
def lifted_runs(monkeypatch):
    """Counts dispatches the debugger let run lifted."""
    count = {"n": 0}
    original = vmvx_lift.Prepared.run

    def counted(self):
        count["n"] += 1
        return original(self)

    monkeypatch.setattr(vmvx_lift.Prepared, "run", counted)
    return count


def _session(setup, lift: bool, program="debug_tensors", function="scale_add",
             inputs=INPUTS):
    vmvx_module.LIFT = lift
    try:
        with Debugger.launch(corpus.build(program), function, inputs) as dbg:
            return setup(dbg)
    finally:
        vmvx_module.LIFT = True


def _text(stop) -> str:
    """The stop's instruction text without ref identities (new objects per world)."""
    return re.sub(r"/0x[0-9a-f]+", "", stop.text or "")


def _free_run(dbg):
    stop = dbg.cont()
    assert stop.reason == "done"
    back = dbg.back()
    middle = dbg.goto(stop.position // 2)
    return (stop.position, stop.results[0].to_numpy().tobytes(), back.position, _text(back),
            middle.position, _text(middle), middle.frame.function)


def test_free_run_positions_match_a_hooked_run(lifted_runs):
    lifted = _session(_free_run, True)
    assert lifted_runs["n"] > 0
    hooked = _session(_free_run, False)
    assert lifted == hooked
    out = np.frombuffer(lifted[1], np.float32)
    assert np.all(out == 4.0)


def _stops(dbg):
    dbg.break_opcode("vm.return")
    out = []
    while True:
        stop = dbg.cont()
        out.append((stop.reason, stop.position, _text(stop), stop.frame and stop.frame.function))
        if stop.reason == "done":
            return out


def test_breakpoint_inside_dispatches_keeps_them_hooked(lifted_runs):
    """vm.return is in every dispatch function: nothing may skip the hook."""
    lifted = _session(_stops, True)
    assert lifted_runs["n"] == 0
    assert lifted == _session(_stops, False)
    assert sum(1 for s in lifted if s[3] and "dispatch" in s[3]) == 64


def _to_workgroup(dbg):
    dbg.break_dispatch("scale_add_dispatch_*", workgroup=(40, 0, 0))
    stop = dbg.cont()
    return stop.position, stop.frame.workgroup, dbg.cont().position


def test_dispatch_breakpoint_and_positions(lifted_runs):
    assert _session(_to_workgroup, True) == _session(_to_workgroup, False)
    # The dispatch's 64 workgroups but the one with the breakpoint ran lifted.
    assert lifted_runs["n"] == 63


def _stop_then_delete(dbg):
    # Stopped in workgroup (2, 0, 0), the breakpoint goes: the rest of that workgroup runs
    # under the hook, the workgroups after it lifted; positions and results as hooked.
    bp = dbg.break_dispatch("scale_add_dispatch_*")
    stops = [dbg.cont() for _ in range(3)]
    dbg.delete(bp.id)
    end = dbg.cont()
    back = dbg.back(7)
    return ([(s.position, s.frame.workgroup) for s in stops], end.position,
            end.results[0].to_numpy().tobytes(), back.position, _text(back))


def test_workgroups_after_a_stop_run_lifted_once_nothing_can_stop(lifted_runs):
    lifted = _session(_stop_then_delete, True)
    assert lifted[0][2][1] == (2, 0, 0)
    assert lifted_runs["n"] >= 61  # workgroups 3..63 (back() re-executes some again)
    assert lifted == _session(_stop_then_delete, False)


def _stop_inside_then_continue(dbg):
    # Stopped 9 instructions into workgroup (5, 0, 0), its breakpoint gone: continuing
    # drops the workgroup's VM frames and runs it lifted from its start (it never loads
    # what it stores); the end position and the results are the hooked run's.
    bp = dbg.break_dispatch("scale_add_dispatch_*", workgroup=(5, 0, 0))
    first = dbg.cont()
    inside = dbg.step(9)
    dbg.delete(bp.id)
    end = dbg.cont()
    back = dbg.back(3)
    return (first.position, inside.position, _text(inside), end.reason, end.position,
            end.results[0].to_numpy().tobytes(), back.position, _text(back))


def test_continuing_inside_a_workgroup_restarts_it_lifted(lifted_runs, monkeypatch):
    from iree_lab.debug.engine import InvocationEngine

    restarts = []
    restart = InvocationEngine._restart_workgroup

    def counted(self, inv):
        try:
            restart(self, inv)
        except vmvx_module.RestartWorkgroup:
            restarts.append(self.position)
            raise

    monkeypatch.setattr(InvocationEngine, "_restart_workgroup", counted)
    lifted = _session(_stop_inside_then_continue, True)
    # Back to just before the workgroup's first instruction (where the first stop was).
    assert restarts == [lifted[0] - 1]
    assert lifted == _session(_stop_inside_then_continue, False)
    # workgroups 0-4 and 6-63 lifted around the stop, then 5 again from its start
    assert lifted_runs["n"] >= 64


def _step_over_everything(dbg):
    # next() over every instruction of the debugged function: the one whose import runs
    # the dispatches is stepped over with them lifted (a step in the debugged invocation
    # cannot end inside a dispatch); positions and results are the hooked run's.
    stops = [dbg.next()]
    while stops[-1].reason != "done":
        stops.append(dbg.next())
    finish = dbg.goto(stops[len(stops) // 2].position)
    return ([(s.reason, s.position, _text(s)) for s in stops],
            stops[-1].results[0].to_numpy().tobytes(), _text(finish))


def test_stepping_over_a_submission_runs_its_dispatches_lifted(lifted_runs):
    lifted = _session(_step_over_everything, True)
    assert lifted_runs["n"] > 0
    assert lifted == _session(_step_over_everything, False)


def _elsewhere(dbg):
    # A breakpoint in the caller only: dispatches run lifted, positions agree.
    bp = dbg.break_opcode("vm.call")
    stops = []
    while True:
        stop = dbg.cont()
        stops.append((stop.reason, stop.position, _text(stop)))
        if stop.reason == "done":
            return stops, bp.hits


def test_breakpoint_elsewhere_lets_dispatches_run_lifted(lifted_runs):
    lifted = _session(_elsewhere, True)
    assert lifted_runs["n"] > 0
    assert lifted == _session(_elsewhere, False)


def _goto_inside(dbg):
    end = dbg.cont().position
    stops = []
    for target in (end // 3, end // 2, end - 5):
        stop = dbg.goto(target)
        stops.append((stop.position, _text(stop), stop.frame.function, stop.frame.workgroup))
    return stops


def test_goto_into_a_dispatch_steps_it(lifted_runs):
    assert _session(_goto_inside, True) == _session(_goto_inside, False)


def test_progress_listener_sees_every_dispatch():
    seen = []

    def setup(dbg):
        dbg.add_progress_listener(lambda p: seen.append((p.submitted, p.done)))
        assert dbg.cont().reason == "done"
        return seen[-1]

    submitted, done = _session(setup, True)
    assert submitted == done > 0


@pytest.mark.parametrize("condition", ["i0 == 37", "i3 > 600"])
def test_register_conditions_stop_where_the_full_path_does(condition):
    """Register-only conditions are tested without the hook's bookkeeping while false;
    a condition that also names ``position`` takes the full path: same stops, hits."""
    def stops(cond):
        path = corpus.build("scalar_vmvx")
        with Debugger.launch(path, "loop_sum", ["100"], dispatches=False) as dbg:
            bp = dbg.break_at("loop_sum", 0x4F, condition=cond)
            first = dbg.cont()
            second = dbg.cont()
            back = dbg.reverse_continue()
            return [(s.reason, s.position, s.text) for s in (first, second, back)], bp.hits

    fast = stops(condition)
    assert fast[0][0][0] == "breakpoint"
    assert fast == stops(f"({condition}) and position >= 0")
