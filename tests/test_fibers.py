"""Fibers and the scheduler on VM assembly (tests/programs/fibers/fibers.vmasm).

Ground truth: IREE runs each program's non-suspending twin (``*_plain``; IREE
spins on ``vm.yield``), and IREE's own disassembly (``iree-dump-module
--bytecode_offsets``) gives the offsets every suspension must stop at: after a
``vm.yield`` the first instruction of the target block, for a yieldable import
the call itself (it re-executes on resume). The ``host`` imports are Python
generators (tests/programs/fibers/host.py).
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
from test_vm_support import canonical, iree_call

from iree_lab import vm
from iree_lab.testing import corpus
from iree_lab.vm.scheduler import (
    DeadlockError,
    FiberState,
    Scheduler,
    WaitFrame,
    WaitSource,
    WaitType,
)
from iree_lab.vm.status import StatusCode, VMError, VMInterrupt

HOST_FILE = Path(__file__).parent / "programs" / "fibers" / "host.py"


def _host_module():
    spec = importlib.util.spec_from_file_location("fibers_host_for_tests", HOST_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_HOST = _host_module()


@pytest.fixture(scope="module")
def fibers_path():
    return corpus.build("fibers")


def _context(path, **host_kwargs):
    host = _HOST.Host(**host_kwargs)
    return vm.Context([host, vm.BytecodeModule.load(path)]), host


def _alone(path, name, *args):
    """Results of one fiber run by itself under a scheduler."""
    ctx, _ = _context(path)
    sched = Scheduler(ctx)
    fiber = sched.spawn(name, *args)
    assert sched.run() is None
    return fiber.result()


def _cconv(path, name):
    return vm.BytecodeModule.load(path).exports[name].cconv


def _iree_twin(path, name, args):
    cconv = _cconv(path, name)
    outcome = canonical(iree_call(path, name, args, cconv.arguments), cconv.results)
    assert outcome[0] == "ok", outcome
    return outcome


def _canon(path, name, results):
    return canonical(("ok", results), _cconv(path, name).results)


# -- IREE's disassembly: where each suspension must stop ---------------------------------------

_FUNC_RE = re.compile(r"^vm\.func @(\w+)\(")
_LINE_RE = re.compile(r"^\[([0-9A-F]{8})\](\^bb\d+:|\s+(.*))$")


@pytest.fixture(scope="module")
def iree_offsets(fibers_path, iree_tool):
    """{function: {"^bbN": first instruction offset, "yieldable": [call offsets],
    "lines": [(offset, text)]}}."""
    text = iree_tool("iree-dump-module", "--output=disassembly", "--bytecode_offsets",
                     str(fibers_path)).stdout.decode()
    out: dict[str, dict] = {}
    current = None
    for line in text.splitlines():
        m = _FUNC_RE.match(line)
        if m:
            current = out.setdefault(m.group(1), {"yieldable": [], "lines": []})
            continue
        m = _LINE_RE.match(line)
        if m and current is not None:
            offset = int(m.group(1), 16)
            if m.group(2).startswith("^bb"):
                current[m.group(2)[:-1]] = offset + 1  # past the block marker
            else:
                current["lines"].append((offset, m.group(3)))
                if ".yieldable" in m.group(3):
                    current["yieldable"].append(offset)
    return out


# -- Results vs IREE --------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 2, 7, 25])
def test_yield_loop_keeps_every_register_bank(fibers_path, n):
    """i32, an i64 pair, f32 and a list ref live across n yields (with a remap)."""
    expected = _iree_twin(fibers_path, "carry_plain", (n,))
    assert _canon(fibers_path, "carry", _alone(fibers_path, "carry", n)) == expected
    # The twin in iree_lab agrees too (both tiers).
    for fast in (False, True):
        ctx = vm.Context([vm.BytecodeModule.load(fibers_path)], fast=fast)
        assert _canon(fibers_path, "carry", list(ctx.call("carry_plain", n))) == expected


@pytest.mark.parametrize("x", [0, 1, -1, 3, 1000, 0x7FFFFFFF, -0x80000000])
def test_nested_yields_match_iree(fibers_path, x):
    expected = _iree_twin(fibers_path, "nest_plain", (x,))
    assert _canon(fibers_path, "nest", _alone(fibers_path, "nest", x)) == expected


@pytest.mark.parametrize(("worker", "n"), [(0, 0), (0, 3), (1, 2), (2, 5), (-7, 4)])
def test_worker_matches_iree(fibers_path, worker, n):
    expected = _iree_twin(fibers_path, "worker_plain", (worker, n))
    assert _canon(fibers_path, "worker", _alone(fibers_path, "worker", worker, n)) == expected


# -- Where fibers stop ------------------------------------------------------------------------


def test_nested_suspensions_stop_where_iree_does(fibers_path, iree_offsets):
    """Every suspension of nest(): reason, frame, saved pc (from IREE's offsets), depth."""
    ctx, _ = _context(fibers_path)
    sched = Scheduler(ctx)
    fiber = sched.spawn("nest", 3)
    sched.run()
    stops = [(e.reason, e.detail["frame"], e.detail["pc"], e.detail["depth"],
              e.detail.get("import")) for e in sched.events if e.kind == "suspend"]
    nest, mid, leaf = iree_offsets["nest"], iree_offsets["fn5"], iree_offsets["fn6"]
    pause_call = leaf["yieldable"][0]
    assert stops == [
        ("yield", "fibers.nest", nest["^bb1"], 1, None),
        ("yield", "fibers.fn5", mid["^bb1"], 2, None),
        ("yield", "fibers.fn6", leaf["^bb1"], 3, None),
        # host.pause defers twice; the caller's pc stays on the call (re-executed).
        ("deferred", "fibers.fn6", pause_call, 4, "host.pause"),
        ("deferred", "fibers.fn6", pause_call, 4, "host.pause"),
        ("yield", "fibers.fn6", leaf["^bb3"], 3, None),
        ("yield", "fibers.fn5", mid["^bb2"], 2, None),
        ("yield", "fibers.nest", nest["^bb3"], 1, None),
    ]
    assert fiber.state == FiberState.DONE


def test_frames_are_untouched_while_suspended(fibers_path):
    """A frame that executed nothing between two suspensions keeps every register and pc."""
    executed: set[int] = set()

    def hook(invocation, frame, k):
        executed.add(id(frame))
        return False

    ctx, _ = _context(fibers_path, pause_yields=3)
    sched = Scheduler(ctx)
    fiber = sched.spawn("nest", 11, hook=hook)
    compared = 0
    previous: dict[int, tuple] = {}
    while not fiber.finished:
        executed.clear()
        assert sched.step() is fiber
        if fiber.finished:
            break
        frames = [f for f in fiber.stack if type(f) is vm.Frame]
        snapshot = {id(f): (f.k, list(f.R), list(f.RR)) for f in frames}
        for key, state in snapshot.items():
            if key in previous and key not in executed:
                assert state == previous[key]
                compared += 1
        previous = snapshot
    # nest and fn5 sit still through fn6's yields and host.pause's deferrals.
    assert compared >= 10
    assert fiber.result() == _alone(fibers_path, "nest", 11)


def test_yieldable_variadic_import(fibers_path, iree_offsets):
    """host.gather(base, [a, b, c]) defers once per element; (i32, i64) results land."""
    ctx, _ = _context(fibers_path)
    sched = Scheduler(ctx)
    fiber = sched.spawn("gather", 1, 20, 300, -4000)
    sched.run()
    assert fiber.result() == [1 + 20 + 300 - 4000 + 5, 3 << 33]
    stops = [(e.reason, e.detail["import"], e.detail["pc"], e.detail["depth"])
             for e in sched.events if e.kind == "suspend"]
    call = iree_offsets["gather"]["yieldable"][0]
    assert stops == [("deferred", "host.gather", call, 2)] * 3
    # While deferred the caller keeps where the results go (IREE's return_registers).
    ctx, _ = _context(fibers_path)
    sched = Scheduler(ctx)
    probe = sched.spawn("gather", 2, 3, 4, 5)
    sched.step()
    caller, native = probe.stack
    assert type(native) is not vm.Frame and native.function.full_name == "host.gather"
    assert list(caller.return_registers) == [6, 8] and caller.pc == call
    sched.run()
    assert probe.result() == [19, 3 << 33] and not probe.stack
    # The synchronous drivers (both tiers) resume it right away: same results.
    for fast in (False, True):
        ctx2 = vm.Context([_HOST.Host(), vm.BytecodeModule.load(fibers_path)], fast=fast)
        assert list(ctx2.call("gather", 1, 20, 300, -4000)) == fiber.result()


def test_native_function_as_the_fiber_entry(fibers_path):
    ctx, _ = _context(fibers_path, pause_yields=4)
    sched = Scheduler(ctx)
    fiber = sched.spawn("host.pause", 41)
    sched.run()
    assert fiber.result() == [42]
    stops = [e for e in sched.events if e.kind == "suspend"]
    assert [(e.reason, e.detail["import"], e.detail["frame"]) for e in stops] == \
        [("deferred", "host.pause", None)] * 4


# -- Interleaving -----------------------------------------------------------------------------


def _three_workers(path):
    ctx, host = _context(path)
    sched = Scheduler(ctx)
    fibers = [sched.spawn("worker", 0, 2, name="A"), sched.spawn("worker", 1, 3, name="B"),
              sched.spawn("worker", 2, 1, name="C")]
    sched.run()
    return sched, fibers, host


def test_three_workers_interleave_round_robin(fibers_path):
    sched, fibers, host = _three_workers(fibers_path)
    # Round 1: A, B, C each note j=0 and yield; round 2: A, B note 1, C returns; ...
    assert host.notes == [(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (1, 2)]
    order = [(e.step, e.fiber, e.kind) for e in sched.events
             if e.kind in ("start", "resume", "done")]
    assert order == [(0, 0, "start"), (1, 1, "start"), (2, 2, "start"),
                     (3, 0, "resume"), (4, 1, "resume"), (5, 2, "resume"), (6, 2, "done"),
                     (6, 0, "resume"), (7, 0, "done"), (7, 1, "resume"), (8, 1, "resume"),
                     (9, 1, "done")]
    assert sched.step_count == 9
    # Interleaved results equal each fiber run alone, and IREE's twin.
    for fiber, (worker, n) in zip(fibers, [(0, 2), (1, 3), (2, 1)], strict=True):
        assert fiber.result() == _alone(fibers_path, "worker", worker, n)
        assert _canon(fibers_path, "worker", fiber.result()) == \
            _iree_twin(fibers_path, "worker_plain", (worker, n))


def test_scheduling_is_deterministic(fibers_path):
    def trace():
        sched, _, _ = _three_workers(fibers_path)
        return [(e.step, e.fiber, e.kind, e.reason) for e in sched.events]

    assert trace() == trace()


def test_mixed_fibers_interleave_exactly(fibers_path):
    """A yielding worker, a waiter, a raiser and a nested fiber (the tour's program)."""
    ctx, host = _context(fibers_path)
    sched = Scheduler(ctx)
    sched.spawn("worker", 1, 3, name="A")
    waiter = sched.spawn("waiter", 1, name="B")
    sched.spawn("raiser", 1, 2, name="C")
    sched.run()
    slices = [e.fiber for e in sched.events if e.kind in ("start", "resume")]
    assert slices == [0, 1, 2, 0, 2, 0, 2, 0, 1]
    assert [e.reason for e in sched.events if e.fiber == 1 and e.kind in
            ("suspend", "resume")] == ["wait", "reached"]
    assert waiter.result() == [1]
    wait = next(e for e in sched.events if e.kind == "suspend" and e.reason == "wait")
    assert wait.detail["wait"] == {"wait_type": "all", "timeout_ms": None, "sources": [
        {"resource": "host.flag #1", "value": 1, "current": 0, "status": "DEFERRED"}]}


# -- Waits, timeouts, deadlocks ---------------------------------------------------------------


def test_deadlock_names_who_waits_on_what(fibers_path, iree_offsets):
    ctx, host = _context(fibers_path)
    sched = Scheduler(ctx)
    sched.spawn("waiter", 7, name="W7")
    sched.spawn("waiter", 8, name="W8")
    sched.spawn("worker", 3, 1, name="busy")
    with pytest.raises(DeadlockError) as info:
        sched.run()
    at = f"fibers.waiter+{iree_offsets['waiter']['yieldable'][0]:08X}"
    assert info.value.code == StatusCode.DEADLINE_EXCEEDED
    assert info.value.message == (
        "deadlock: every fiber is waiting and none can run to signal them: "
        f"fiber 0 'W7' at {at} waits on host.flag #7 >= 1 (at 0); "
        f"fiber 1 'W8' at {at} waits on host.flag #8 >= 1 (at 0)")
    assert [f.name for f in info.value.waiters] == ["W7", "W8"]
    # The host signals one: the other still deadlocks; then both complete.
    host.flags.add(8)
    with pytest.raises(DeadlockError) as info:
        sched.run()
    assert [f.name for f in info.value.waiters] == ["W7"]
    host.flags.add(7)
    assert sched.run() is None
    assert [f.result() for f in sched.fibers] == [[7], [8], [30]]


def test_run_until_blocked_lets_the_host_signal(fibers_path):
    ctx, host = _context(fibers_path)
    sched = Scheduler(ctx)
    waiter = sched.spawn("waiter", 5)
    assert sched.run_until_blocked() == [waiter]
    assert waiter.state == FiberState.WAITING and waiter.wait.wait_type == WaitType.ALL
    assert waiter.suspension.reason == "wait" and waiter.suspension.function == "host.wait_flag"
    host.flags.add(5)
    assert sched.run_until_blocked() == []
    assert waiter.result() == [5]


def test_timeouts_expire_in_virtual_time(fibers_path):
    ctx, _ = _context(fibers_path)
    sched = Scheduler(ctx)
    sleepers = [sched.spawn("sleeper", ms) for ms in (30, 10, 20)]
    sched.run()
    done = [e.fiber for e in sched.events if e.kind == "done"]
    assert done == [1, 2, 0]
    assert sched.virtual_ms == 30
    assert [f.result() for f in sleepers] == [[int(StatusCode.DEADLINE_EXCEEDED)]] * 3
    assert [e.detail["virtual_ms"] for e in sched.events if e.kind == "timeout"] == [10, 20, 30]


def test_wait_frame_polling_rules():
    state = {"a": StatusCode.DEFERRED, "b": StatusCode.DEFERRED}
    a = WaitSource("a", 1, query=lambda: state["a"])
    b = WaitSource("b", None, query=lambda: state["b"])
    both, either = WaitFrame.all([a, b]), WaitFrame.any([a, b])
    assert (both.poll(), either.poll()) == (StatusCode.DEFERRED, StatusCode.DEFERRED)
    state["a"] = StatusCode.OK
    assert (both.poll(), either.poll()) == (StatusCode.DEFERRED, StatusCode.OK)
    assert both.describe() == "b"
    state["b"] = StatusCode.ABORTED
    assert (both.poll(), either.poll()) == (StatusCode.ABORTED, StatusCode.ABORTED)
    assert WaitFrame.all([]).poll() == StatusCode.OK
    assert WaitFrame.until(5).poll() == StatusCode.DEFERRED
    assert WaitFrame.until(5).describe() == "a 5 ms timeout"

    def raising():
        raise vm.VMStatus(StatusCode.DATA_LOSS, "gone")

    assert WaitSource("c", query=raising).query() == StatusCode.DATA_LOSS
    assert WaitSource("d", query=lambda: 1 // 0).query() == StatusCode.INTERNAL


def test_failed_wait_source_resumes_the_waiter_with_the_failure(fibers_path):
    class Failing(_HOST.Host):
        def flag_source(self, flag):
            return WaitSource(f"host.flag #{flag}", 1, query=lambda: StatusCode.ABORTED)

        @vm.export("0i_i")
        def wait_flag(self, flag):
            wait = WaitFrame.all([self.flag_source(flag)])
            yield wait
            raise vm.VMStatus(wait.wait_status, "flag source failed")

    ctx = vm.Context([Failing(), vm.BytecodeModule.load(fibers_path)])
    sched = Scheduler(ctx)
    fiber = sched.spawn("waiter", 3)
    sched.run()
    assert fiber.state == FiberState.FAILED
    assert (fiber.error.code, fiber.error.message) == (StatusCode.ABORTED, "flag source failed")
    assert [e.reason for e in sched.events if e.kind == "resume"] == ["failed"]
    with pytest.raises(VMError):
        fiber.result()


# -- Failures, limits, pauses -----------------------------------------------------------------


def test_a_failing_fiber_does_not_stop_the_others(fibers_path, iree_offsets):
    ctx = vm.Context([vm.BytecodeModule.load(fibers_path)])  # no host: host.note unresolved
    sched = Scheduler(ctx)
    broken = sched.spawn("worker", 1, 2, name="broken")
    healthy = sched.spawn("carry", 3, name="healthy")
    assert sched.run() is None
    assert broken.state == FiberState.FAILED and broken.error.code == StatusCode.NOT_FOUND
    assert "optional import `host.note`" in broken.error.message
    fail = next(e for e in sched.events if e.kind == "fail")
    note = next(o for o, text in iree_offsets["worker"]["lines"] if "@host.note" in text)
    assert fail.reason == "NOT_FOUND"
    assert fail.detail["backtrace"] == [f"fibers.worker+{note:08X}"]
    assert _canon(fibers_path, "carry", healthy.result()) == \
        _iree_twin(fibers_path, "carry_plain", (3,))


def test_step_and_instruction_budgets(fibers_path):
    ctx, _ = _context(fibers_path)
    sched = Scheduler(ctx)
    spinner = sched.spawn("spin", 1)
    with pytest.raises(VMError) as info:
        sched.run(max_steps=50)
    assert info.value.code == StatusCode.DEADLINE_EXCEEDED
    assert spinner.state == FiberState.READY and spinner.slices == 50
    bounded = sched.spawn("spin", 1, instruction_budget=100)
    with pytest.raises(VMError):
        sched.run(max_steps=200)
    assert bounded.state == FiberState.FAILED
    assert bounded.error.message == "instruction budget of 100 exhausted"
    stopped = sched.spawn("spin", 0)
    assert sched.fibers.index(stopped) == 2
    with pytest.raises(VMError) as info:
        sched.spawn("spin")
    assert info.value.code == StatusCode.INVALID_ARGUMENT


def test_hook_pause_returns_control_and_resumes(fibers_path):
    calls = {"n": 0}

    def hook(invocation, frame, k):
        calls["n"] += 1
        return calls["n"] == 3  # pause before the third instruction

    ctx, host = _context(fibers_path)
    sched = Scheduler(ctx)
    a = sched.spawn("worker", 0, 2, hook=hook)
    b = sched.spawn("worker", 1, 1)
    assert sched.run() is a and a.state == FiberState.PAUSED
    assert host.notes == []
    assert sched.run() is None
    assert a.result() == _alone(fibers_path, "worker", 0, 2)
    assert b.result() == _alone(fibers_path, "worker", 1, 1)
    kinds = [(e.fiber, e.kind, e.reason) for e in sched.events if e.fiber == 0][:4]
    assert kinds == [(0, "spawn", ""), (0, "start", ""), (0, "pause", ""),
                     (0, "resume", "paused")]


def test_keyboard_interrupt_stops_the_scheduler_cleanly(fibers_path):
    def hook(invocation, frame, k):
        raise KeyboardInterrupt

    ctx, _ = _context(fibers_path)
    sched = Scheduler(ctx)
    victim = sched.spawn("worker", 0, 3, hook=hook)
    other = sched.spawn("worker", 1, 2)
    with pytest.raises(VMInterrupt):
        sched.run()
    assert victim.state == FiberState.FAILED and victim.error.code == StatusCode.CANCELLED
    assert sched.run() is None  # the rest still runs
    assert other.result() == _alone(fibers_path, "worker", 1, 2)


# -- Records ----------------------------------------------------------------------------------


def test_timeline_records(fibers_path):
    sched, fibers, _ = _three_workers(fibers_path)
    tl = sched.timeline()
    assert [f.name for f in tl.fibers] == ["A", "B", "C"]
    assert [f.state for f in tl.fibers] == ["done"] * 3
    assert [f.outcome for f in tl.fibers] == ["1", "33", "20"]
    assert tl.steps == 9
    walls = [e.wall for e in tl.events]
    assert walls == sorted(walls)
    for fiber in fibers:
        spans = tl.spans_of(fiber.id)
        # Contiguous from spawn to completion, alternating ready and running.
        assert spans[0].start_step == 0 and spans[-1].end_step == \
            next(e.step for e in tl.events if e.fiber == fiber.id and e.kind == "done")
        for before, after in zip(spans, spans[1:], strict=False):
            assert before.end_step == after.start_step and before.end_wall == after.start_wall
        states = [s.state for s in spans]
        assert states == ["ready", "running"] * fiber.slices
        running = [s for s in spans if s.state == "running"]
        assert all(s.end_step - s.start_step == 1 for s in running)
        assert [s.reason for s in spans if s.state == "ready"][1:] == ["yield"] * (
            fiber.slices - 1)
        assert not any(s.open for s in spans)
    json.dumps(tl.to_dict())  # plain records


def test_open_spans_while_waiting(fibers_path):
    ctx, _ = _context(fibers_path)
    sched = Scheduler(ctx)
    sched.spawn("waiter", 9)
    sched.run_until_blocked()
    tl = sched.timeline()
    last = tl.spans[-1]
    assert (last.state, last.reason, last.open) == ("waiting", "wait", True)
    assert tl.fibers[0].outcome == "waits on host.flag #9 >= 1 (at 0)"
