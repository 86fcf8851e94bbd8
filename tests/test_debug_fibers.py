"""The debugger over a scheduler's fibers (iree_lab/debug/fibers.py).

Ground truth: the same scheduler run without the debugger. Stacks and registers
of the fibers that are not running at a stop are compared with a reference
scheduler advanced slice by slice to the same point; the stopped fiber's
registers with values known from its arguments; the final results and the
scheduler's event order with an undebugged run (and the worker's results with
IREE's non-suspending twin, as tests/test_fibers.py does).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from test_vm_support import canonical, iree_call

from iree_lab import vm
from iree_lab.debug import DebugError, Debugger, FiberDebugger
from iree_lab.testing import corpus
from iree_lab.vm.scheduler import Scheduler

HOST_FILE = Path(__file__).parent / "programs" / "fibers" / "host.py"


def _host_module():
    spec = importlib.util.spec_from_file_location("fibers_host_for_debug_tests", HOST_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_HOST = _host_module()


@pytest.fixture(scope="module")
def fibers_path():
    return corpus.build("fibers")


def _mixed(path):
    """A yielding worker, a waiter on a host flag and the raiser of that flag."""
    host = _HOST.Host()
    sched = Scheduler(vm.Context([host, vm.BytecodeModule.load(path)]))
    sched.spawn("worker", 1, 3, name="A")
    sched.spawn("waiter", 1, name="B")
    sched.spawn("raiser", 1, 2, name="C")
    return sched, host


def _events(sched):
    return [(e.step, e.fiber, e.kind, e.reason) for e in sched.events]


def _stack_state(fiber):
    """(function, pc, raw words) of each bytecode frame of a fiber not running now."""
    out = []
    for f in fiber.invocation.stack:
        if hasattr(f, "code"):
            out.append((f.code.name, f.code.pcs[f.k], f.registers.raw_words()))
        else:
            out.append((f.function.full_name, None, None))
    return out


def _view_state(view):
    return [(fr.function if fr.kind == "bytecode" else f"{fr.module}.{fr.function}", fr.pc,
             [r.word for r in fr.registers()] if fr.kind == "bytecode" else None)
            for fr in view.frames]


def test_breakpoint_in_one_fiber_shows_every_fiber(fibers_path):
    sched, host = _mixed(fibers_path)
    dbg = Debugger.for_scheduler(sched)
    assert isinstance(dbg, FiberDebugger)
    with dbg:
        assert dbg.stop.reason == "entry"
        assert [v.state for v in dbg.stop.fibers] == ["ready"] * 3
        bp = dbg.break_import("host.raise_flag")
        stop = dbg.cont()
        assert stop.reason == "breakpoint" and stop.breakpoints == [bp]
        assert stop.fiber == 2 and stop.view.name == "C"
        assert "host.raise_flag" in stop.text
        a, b, c = stop.fibers
        assert (a.name, b.name, c.name) == ("A", "B", "C")
        assert c.state == "running"
        assert b.state == "waiting" and "host.flag #1" in b.reason
        assert a.state == "suspended" and a.reason == "yield"
        # The waiter's stack: its bytecode frame on the yieldable call, the import above.
        assert [fr.kind for fr in b.frames] == ["bytecode", "native"]
        assert b.frames[1].function == "wait_flag"
        # The raiser (i0 = flag 1, i1 = 2 rounds) counted its rounds in i2.
        regs = {r.slot: r.i32 for r in c.registers()}
        assert (regs[0], regs[1], regs[2]) == (1, 2, 2)
        assert c.frame.function == "raiser"
        # Other fibers against a reference run advanced to the same slice.
        ref, _ = _mixed(fibers_path)
        while ref.step_count < stop.step:
            ref.step()
        assert host.notes == ref.context.modules[0].notes  # A's rounds so far
        for index in (0, 1):
            assert _view_state(stop.fibers[index]) == _stack_state(ref.fibers[index])
        done = dbg.cont()
        assert done.reason == "done" and done.finished
        assert [v.state for v in done.fibers] == ["done"] * 3
    plain, _ = _mixed(fibers_path)
    assert plain.run() is None
    assert [f.results for f in sched.fibers] == [f.results for f in plain.fibers]
    assert [v.results for v in done.fibers] == [f.results for f in plain.fibers]
    assert [e[1:] for e in _events(sched)] == [e[1:] for e in _events(plain)]
    assert all(f.invocation.hook is None for f in sched.fibers)


def test_step_acts_on_the_stopped_fiber_across_yields(fibers_path):
    sched, _ = _mixed(fibers_path)
    with FiberDebugger(sched) as dbg:
        # vm.yield in the worker, only in fiber A (the raiser yields too).
        dbg.break_opcode("vm.yield", fiber=0)
        first = dbg.cont()
        assert first.fiber == 0 and "vm.yield" in first.text
        stop = dbg.step()
        # The next instruction of A runs only after B and C had their turns.
        assert stop.reason == "step" and stop.fiber == 0
        assert stop.step == first.step + 3
        assert stop.fibers[0].frame.function == "worker"
        assert stop.text == "%i6 = vm.cmp.lt.i32.s %i2(1), %i1(3)"
        assert stop.fibers[2].state == "suspended"
        stop = dbg.next()
        assert stop.fiber == 0 and stop.position == dbg.position
        # A's second yield: the breakpoint again; the rounds counted so far in i2.
        second = dbg.cont()
        assert second.fiber == 0 and second.reason == "breakpoint"
        assert {r.slot: r.i32 for r in second.view.registers()}[2] == 2
        done = dbg.cont()
        while not done.finished:
            done = dbg.cont()
    plain, _ = _mixed(fibers_path)
    plain.run()
    assert [e[1:] for e in _events(sched)] == [e[1:] for e in _events(plain)]
    assert [f.results for f in sched.fibers] == [f.results for f in plain.fibers]


def test_three_workers_match_iree(fibers_path):
    host = _HOST.Host()
    sched = Scheduler(vm.Context([host, vm.BytecodeModule.load(fibers_path)]))
    args = [(0, 2), (1, 3), (2, 1)]
    for i, (w, n) in enumerate(args):
        sched.spawn("worker", w, n, name=f"w{i}")
    with FiberDebugger(sched) as dbg:
        dbg.break_at("worker", block=3, fiber=1)  # ^bb3: vm.return in fiber 1 only
        stop = dbg.cont()
        assert stop.fiber == 1 and "vm.return" in stop.text
        regs = {r.slot: r.i32 for r in stop.view.registers()}
        assert regs[3] == sum(10 + j for j in range(3))  # the sum it returns
        assert [v.state for v in stop.fibers] == ["done", "running", "done"]
        assert dbg.cont().reason == "done"
    cconv = vm.BytecodeModule.load(fibers_path).exports["worker"].cconv.results
    for fiber, a in zip(sched.fibers, args, strict=True):
        expected = canonical(iree_call(fibers_path, "worker_plain", a, "ii"), cconv)
        assert canonical(("ok", fiber.result()), cconv) == expected


def test_finish_and_errors(fibers_path):
    host = _HOST.Host()
    sched = Scheduler(vm.Context([host, vm.BytecodeModule.load(fibers_path)]))
    for x in (1, 2, 3):
        sched.spawn("nest", x)
    with FiberDebugger(sched) as dbg:
        with pytest.raises(DebugError):
            dbg.break_at("nest", pc=1, block=1)
        # host.pause is called by nest_leaf (unnamed in the module: nest -> fn5 -> fn6).
        bp = dbg.break_import("host.pause", fiber=2)
        stop = dbg.cont()
        assert stop.fiber == 2 and stop.reason == "breakpoint"
        assert [f.function for f in stop.frames][0] == "nest" and len(stop.frames) == 3
        # Fibers 0 and 1 are suspended in the same place (they ran the same code first).
        assert [len(v.frames) for v in stop.fibers] == [4, 4, 3]  # + host.pause's frame
        assert [v.frames[-1].kind for v in stop.fibers] == ["native", "native", "bytecode"]
        dbg.delete(bp.id)  # the yieldable call re-executes on resume: it would stop again
        out = dbg.finish()
        assert out.reason == "step" and out.fiber == 2 and len(out.frames) == 2
        assert dbg.cont().finished
    plain = Scheduler(vm.Context([_HOST.Host(), vm.BytecodeModule.load(fibers_path)]))
    for x in (1, 2, 3):
        plain.spawn("nest", x)
    plain.run()
    assert [f.results for f in sched.fibers] == [f.results for f in plain.fibers]
    hooked = Scheduler(vm.Context([_HOST.Host(), vm.BytecodeModule.load(fibers_path)]))
    hooked.spawn("worker", 0, 1, hook=lambda inv, frame, k: False)
    with pytest.raises(DebugError):
        FiberDebugger(hooked)


def _async_chain():
    """fibers_async: three async-external ``total`` calls chained by fences (2 -> 1 -> 0)."""
    import numpy as np

    from iree_lab.hal import Session, io

    user = vm.BytecodeModule.load(corpus.build("fibers_async"))
    session = Session.for_modules([user])
    device = session.device
    sched = Scheduler(vm.Context(session.modules + [user]))
    fences = [device.create_fence([(device.create_semaphore(0), 1)]) for _ in range(3)]
    inputs = [np.array([1, 2, 3, 4], np.int32), np.array([10, -20, 30, 2**30], np.int32),
              np.array([7, 7, 7, -7], np.int32)]
    waits = [fences[1], fences[2], None]
    for i in range(3):
        sched.spawn("total", io.buffer_view_from_numpy(inputs[i], device), waits[i], fences[i],
                    name=f"t{i}")
    return sched


def test_async_fibers_waiting_on_fences():
    sched = _async_chain()
    with FiberDebugger(sched) as dbg:
        dbg.break_at("total", block=0, fiber=2)
        stop = dbg.cont()
        assert stop.fiber == 2 and stop.reason == "breakpoint"
        for view in stop.fibers[:2]:
            assert view.state == "waiting" and "hal.semaphore" in view.reason
            assert [f.kind for f in view.frames] == ["bytecode", "native"]
            assert view.frames[1].module == "hal" and view.frames[1].function == "fence.await"
        ref = _async_chain()
        while ref.step_count < stop.step:
            ref.step()
        for index in (0, 1):
            assert _view_state(stop.fibers[index]) == _stack_state(ref.fibers[index])
        assert dbg.cont().reason == "done"
    plain = _async_chain()
    assert plain.run() is None
    assert [e[1:] for e in _events(sched)] == [e[1:] for e in _events(plain)]
    assert [f.results for f in sched.fibers] == [f.results for f in plain.fibers]
    assert all(isinstance(f.results[0], int) for f in sched.fibers)
