"""Time travel and watchpoints in the fiber debugger (engine.SchedulerEngine).

Ground truth: the same debugger moving only forward (``goto`` forward never
rebuilds), whose stops tests/test_debug_fibers.py checks against an undebugged
scheduler; plus a plain scheduler advanced slice by slice to each stop's step
for the fibers that are not running. Every revisit in another order (backwards
through re-execution in a rebuilt scheduler, then forwards) must show the same
position, fiber, slice, instruction text and every fiber's frames and register
words. Watchpoint stops are compared with the values the programs compute.
"""

from __future__ import annotations

import random
import re

import pytest
from test_debug_fibers import _HOST, _stack_state

from iree_lab import vm
from iree_lab.debug import (
    BreakpointKind,
    DebugError,
    Debugger,
    EventKind,
    FiberDebugger,
    StopReason,
)
from iree_lab.testing import corpus
from iree_lab.vm.scheduler import Scheduler


@pytest.fixture(scope="module")
def fibers_path():
    return corpus.build("fibers")


def _mixed_factory(path):
    """A yielding worker, a waiter on a host flag and the raiser of that flag."""

    def build():
        sched = Scheduler(vm.Context([_HOST.Host(), vm.BytecodeModule.load(path)]))
        sched.spawn("worker", 1, 3, name="A")
        sched.spawn("waiter", 1, name="B")
        sched.spawn("raiser", 1, 2, name="C")
        return sched

    return build


def _workers_factory(path, args=((0, 2), (1, 3), (2, 1))):
    def build():
        sched = Scheduler(vm.Context([_HOST.Host(), vm.BytecodeModule.load(path)]))
        for i, (w, n) in enumerate(args):
            sched.spawn("worker", w, n, name=f"w{i}")
        return sched

    return build


def _frames_state(frames):
    return [(fr.kind, fr.module, fr.function, fr.pc,
             [r.word for r in fr.registers()] if fr.kind == "bytecode" else None)
            for fr in frames]


def _state(stop):
    """Everything a stop shows, read while stopped there."""
    return (stop.position, stop.fiber, stop.step, re.sub(r"/0x[0-9a-f]+", "", stop.text or ""),
            [(v.id, v.state, v.reason, _frames_state(v.frames)) for v in stop.fibers])


def _forward_reference(build):
    """State at every position 1..end, moving only forward (no rebuild)."""
    with FiberDebugger(build()) as ref:
        states = {}
        position = 1
        while True:
            stop = ref.goto(position)
            if stop.finished:
                return states, stop.position
            assert stop.position == position and stop.reason == "position"
            states[position] = _state(stop)
            position += 1


@pytest.mark.parametrize("interval", [8, 0], ids=["snapshots", "re-execution"])
@pytest.mark.parametrize("factory", [_mixed_factory, _workers_factory],
                         ids=["mixed", "workers"])
def test_goto_back_and_forth_matches_forward_run(fibers_path, factory, interval):
    build = factory(fibers_path)
    states, last = _forward_reference(build)
    assert last == len(states) and last > 20
    # The fibers not running at a stop, against a plain scheduler at the same slice.
    plain = build()
    compared = 0
    for position in sorted(states):
        _, fiber, step, _, views = states[position]
        while plain.step_count < step:
            plain.step()
        for fid, _state_name, _reason, frames in views:
            if fid != fiber and frames:
                expected = _stack_state(plain.fibers[fid])
                assert [(f[2] if f[0] == "bytecode" else f"{f[1]}.{f[2]}", f[3], f[4])
                        for f in frames] == expected, (position, fid)
                compared += 1
    assert compared > last  # more than one other fiber per stop on average
    order = list(range(last, 0, -1))
    shuffled = list(states)
    random.Random(19).shuffle(shuffled)
    with FiberDebugger(build(), rebuild=build, snapshot_interval=interval) as dbg:
        end = dbg.cont()
        assert end.reason == "done" and end.position == last
        for position in order[:6] + shuffled:
            stop = dbg.goto(position)
            assert stop.reason == "position" and stop.phase == "before"
            assert _state(stop) == states[position], f"position {position}"
        if interval:
            # Snapshots between slices roll the same scheduler back (some refused where a
            # fiber waits in a native generator frame: those trips rebuild).
            assert dbg.restores > 0
        else:
            assert dbg.worlds_built > len(shuffled) // 2 and dbg.restores == 0
        # back() steps one position back from wherever it is, through a rebuild.
        dbg.goto(last // 2)
        for position in range(last // 2 - 1, last // 2 - 6, -1):
            stop = dbg.back()
            assert stop.reason == "step" and _state(stop) == states[position]
        # From the end, back() lands before the last instruction.
        assert dbg.goto(last + 5).reason == "done"
        assert _state(dbg.back()) == states[last]
        # A rebuilt scheduler runs to the same results and event order as a plain one.
        done = dbg.cont()
        assert done.reason == "done"
        plain = build()
        plain.run()
        assert [f.results for f in dbg.scheduler.fibers] == [f.results for f in plain.fibers]
        assert [(e.fiber, e.kind, e.reason) for e in dbg.scheduler.events] == \
            [(e.fiber, e.kind, e.reason) for e in plain.events]


def test_reverse_continue_retraces_breakpoint_stops(fibers_path):
    build = _mixed_factory(fibers_path)
    with FiberDebugger(build(), rebuild=build) as dbg:
        dbg.break_opcode("vm.yield")
        forward = []
        stop = dbg.cont()
        while not stop.finished:
            forward.append(_state(stop))
            stop = dbg.cont()
        assert len(forward) >= 4
        assert {s[1] for s in forward} == {0, 2}  # the worker's and the raiser's yields
        backward = []
        stop = dbg.reverse_continue()
        while stop.reason != "start":
            assert stop.reason == "breakpoint"
            backward.append(_state(stop))
            stop = dbg.reverse_continue()
        assert backward == forward[::-1]
        assert stop.position == 1
        # Hit counts are those of the point travelled to: counted again on re-execution.
        again = dbg.cont()
        assert _state(again) == forward[0] and dbg.breakpoints[0].hits == 1


@pytest.mark.parametrize("interval", [4, 0], ids=["snapshots", "re-execution"])
def test_register_watchpoint_per_fiber(fibers_path, interval):
    args = ((0, 2), (1, 3), (2, 1))
    build = _workers_factory(fibers_path, args)
    with FiberDebugger(build(), rebuild=build, snapshot_interval=interval) as dbg:
        wp = dbg.watch_register("worker", "i2")  # the round counter
        changes = []
        stop = dbg.cont()
        while not stop.finished:
            assert stop.reason == "watchpoint" and stop.watch[0][0] is wp
            changes.append((stop.fiber, stop.watch[0][1], stop.watch[0][2], stop.position))
            stop = dbg.cont()
        # Each fiber counts its own rounds 0 -> 1 -> ... -> n: no change is reported
        # when the round robin switches between fibers at different counts.
        for fid, (_, rounds) in enumerate(args):
            mine = [(old, new) for f, old, new, _ in changes if f == fid]
            assert mine == [(r, r + 1) for r in range(rounds)], fid
        assert wp.hits == sum(n for _, n in args)
        # Back through them: the same stops in reverse.
        seen = []
        stop = dbg.reverse_continue()
        while stop.reason != "start":
            seen.append((stop.fiber, stop.watch[0][1], stop.watch[0][2], stop.position))
            stop = dbg.reverse_continue()
        assert seen == changes[::-1]
        assert (dbg.restores > 0) == bool(interval)


def test_global_watchpoint_across_fibers():
    path = corpus.build("vm_globals")
    amounts = (5, -2, 40)

    def build():
        sched = Scheduler(vm.Context([vm.BytecodeModule.load(path)]))
        for amount in amounts:
            sched.spawn("bump", amount)
        return sched

    with FiberDebugger(build(), rebuild=build) as dbg:
        dbg.watch_global(0, "i32")
        stops = []
        stop = dbg.cont()
        while not stop.finished:
            assert stop.reason == "watchpoint"
            stops.append((stop.fiber, stop.watch[0][1], stop.watch[0][2]))
            stop = dbg.cont()
        assert stops == [(0, 0, 5), (1, 5, 3), (2, 3, 43)]
        assert [f.results for f in stop.fibers] == [[5], [3], [43]]
        back = dbg.reverse_continue()
        assert (back.fiber, back.watch[0][1], back.watch[0][2]) == (2, 3, 43)


def test_one_condition_policy_and_location_checks(fibers_path):
    build = _workers_factory(fibers_path)
    with Debugger.for_scheduler(build(), rebuild=build) as dbg:
        with pytest.raises(DebugError, match="no function"):
            dbg.break_at("no_such_function", pc=0)
        with pytest.raises(DebugError, match="not an instruction boundary"):
            dbg.break_at("worker", pc=0x7777)
        # ``fiber`` is a condition name; a condition that raises stops like Debugger's.
        only = dbg.break_opcode("vm.yield", condition="fiber == 1 and i2 == 2")
        stop = dbg.cont()
        assert stop.reason == "breakpoint" and stop.fiber == 1 and stop.breakpoints == [only]
        assert {r.slot: r.i32 for r in stop.view.registers()}[2] == 2
        dbg.delete(only.id)
        bad = dbg.break_opcode("vm.yield", condition="no_such_name > 1")
        stop = dbg.cont()
        assert stop.reason == "condition-error" and stop.breakpoints == [bad]
        assert "NameError" in stop.message and "no_such_name" in stop.message
        assert "condition of breakpoint" in str(stop)
        # A temporary breakpoint goes when it stops.
        dbg.delete(bad.id)
        once = dbg.break_at("worker", block=3, temporary=True)
        stop = dbg.cont()
        assert stop.breakpoints == [once] and once not in dbg.breakpoints


def test_travel_back_without_a_rebuild(fibers_path):
    build = _workers_factory(fibers_path)
    with FiberDebugger(build(), snapshot_interval=0) as dbg:
        assert dbg.goto(5).position == 5  # forward: no rebuild needed
        with pytest.raises(DebugError, match="rebuild"):
            dbg.back()
    # With snapshots (the default) the entry snapshot is enough to go back.
    with FiberDebugger(build()) as dbg, FiberDebugger(build()) as ref:
        ref.goto(4)
        expected = _state(ref.stop)
        dbg.goto(9)
        assert _state(dbg.back(5)) == expected and dbg.restores == 1
    # fiber= is the fiber debugger's: the single-invocation front refuses it.
    with Debugger.launch([corpus.build("vm_globals")], "bump", ["3"]) as single:
        with pytest.raises(DebugError, match="fiber="):
            single.break_opcode("vm.add.i32", fiber=0)
        events = []
        single.add_listener(events.append)
        bp = single.break_opcode("vm.add.i32")
        stop = single.cont()
        # Reasons and kinds are typed, and still equal their text.
        assert stop.reason is StopReason.BREAKPOINT and stop.reason == "breakpoint"
        assert bp.kind is BreakpointKind.OPCODE and bp.kind == "opcode"
        assert "[breakpoint]" in str(stop)
        done = single.cont()
        assert done.reason is StopReason.DONE and done.results == [3]
        assert events[-1].kind is EventKind.DONE and events[-1].kind == "done"
