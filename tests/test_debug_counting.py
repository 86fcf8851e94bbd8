"""The debugged invocation counts straight-line runs instead of hooking each instruction.

While running quiet (``cont``, ``goto``, time-travel re-execution) the VM adds a run's
length to the position where the hook would have done nothing, and calls the hook only
at instructions carrying a breakpoint (register-only conditions are tested by a compiled
guard). Every check here runs the same command script three ways: probed (registers in
Python locals, ``vm.probed``), counting over the frames' register lists
(``debugger.PROBED = False``) and every instruction through the hook
(``debugger.COUNTING = False``), and compares every stop (reason, position, instruction,
every frame with its registers and refs, hits, messages, state digest).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from iree_lab.debug import Debugger
from iree_lab.debug import debugger as debugger_module
from iree_lab.debug.values import trace_ref_text
from iree_lab.testing import corpus

DBGNATIVE = str(Path(__file__).parent / "programs" / "debug" / "dbgnative.py")


_CURRENT: list = []  # the debugger of the session being recorded (for state_digest)
MODES = ("probed", "counting", "hooked")


def _slot(value):
    text = repr(value)
    return (type(value).__name__, text if text != "nan" else (text, str(np.float64(value))))


def _record(stop):
    """What a stop shows: reason, position, instruction, every frame with its registers
    (raw words and the slots' Python values and types) and refs, and the state digest."""
    frame = stop.frame
    frames = []
    for f in stop.frames:
        entry = (f.kind, f.module, f.function, f.pc)
        if f.kind == "bytecode":
            entry += (tuple(f.frame.registers.raw_words()), tuple(_slot(v) for v in f.frame.R),
                      tuple(re.sub(r"0x[0-9a-f]+", "", trace_ref_text(r) or "") for r in f.frame.RR))
        frames.append(entry)
    return (stop.reason, stop.position, stop.phase, re.sub(r"/0x[0-9a-f]+", "", stop.text or ""),
            frame.function if frame is not None else None,
            frame.pc if frame is not None else None, stop.message,
            tuple(bp.id for bp in stop.breakpoints), tuple(frames), _CURRENT[-1].state_digest())


def _both(script, program, function, inputs, **options):
    """Records of ``script(dbg, out)`` per mode (probed counting runs, counting over register
    lists, every instruction hooked); asserts each mode really ran as asked."""
    results = []
    for mode in MODES:
        debugger_module.COUNTING = mode != "hooked"
        debugger_module.PROBED = mode == "probed"
        try:
            modules = ([corpus.build(program)] if isinstance(program, str)
                       else [*program[:-1], corpus.build(program[-1])])
            with Debugger.launch(modules, function, inputs, **options) as dbg:
                _CURRENT.append(dbg)
                out: list = []
                script(dbg, out)
                out.append(("hits", tuple(bp.hits for bp in dbg._breakpoints.values())))
                counting = dbg.engine.inv.counting
                out.append(("mode", None if counting is None else counting.probed))
                results.append(out)
        finally:
            _CURRENT.clear()
            debugger_module.COUNTING = True
            debugger_module.PROBED = True
    assert [r[-1] for r in results] == [("mode", True), ("mode", False), ("mode", None)]
    return [r[:-1] for r in results]


def _until_done(dbg, out, command, limit=200):
    """Records up to ``limit`` stops of ``command``, until the run ends."""
    for _ in range(limit):
        stop = command()
        out.append(_record(stop))
        if stop.finished:
            return


def _operands(records):
    """Records with the instruction's operand values, registers and digests left out."""
    return [(r[0], r[1], r[2], re.sub(r"\([^()]*\)", "", r[3]), *r[4:8],
             tuple(f[:4] for f in r[8])) if len(r) > 4 else r for r in records]


def _assert_same(script, program, function, inputs, values=True, **options):
    runs = _both(script, program, function, inputs, **options)
    if not values:
        runs = [_operands(r) for r in runs]
    probed, counting, hooked = runs
    assert counting == hooked
    assert probed == hooked
    assert len(hooked) > 1
    return hooked


def test_free_run_and_time_travel_positions():
    def script(dbg, out):
        end = dbg.cont()
        out.append(_record(end))
        for target in (1, 2, 7, 8, 9, end.position // 3, end.position // 2, end.position - 1):
            out.append(_record(dbg.goto(target)))
            out.append(_record(dbg.step()))
        out.append(_record(dbg.back()))
        out.append(_record(dbg.cont()))

    records = _assert_same(script, "scalar_vmvx", "loop_sum", ["300"], dispatches=False)
    assert records[0][0] == "done" and records[0][1] == 6 * 300 + 9


@pytest.mark.parametrize("condition", [None, "i2 > 1000", "i0 == 37", "i3 % 7 == 3 and i2 > 10",
                                       "i2 // (i0 - 5) > 1", "(i0 == 40) and position > 0"])
@pytest.mark.parametrize("pc", [0x4F, 0x2B, 0x56])
def test_conditional_breakpoint_in_the_loop(condition, pc):
    """Guards (register-only conditions) skip the hook only where it would do nothing:
    conditions that hold, raise (``i0 - 5`` is zero once) or read more than registers
    stop exactly where the hooked run stops. The loop body's add (inside a run), the
    loop header's compare (a run reached by branches) and the body's branch."""
    def script(dbg, out):
        dbg.break_at("loop_sum", pc, condition=condition)
        _until_done(dbg, out, dbg.cont, limit=12)
        out.append(_record(dbg.reverse_continue()))
        out.append(_record(dbg.reverse_continue()))
        out.append(_record(dbg.step()))
        out.append(_record(dbg.next()))

    _assert_same(script, "scalar_vmvx", "loop_sum", ["60"], dispatches=False,
                 snapshot_interval=50)


def test_breakpoints_set_while_stopped_take_effect():
    """A stop may add or remove breakpoints: the counting run compiled for the old set
    is replaced before the next instruction."""
    def script(dbg, out):
        first = dbg.break_at("loop_sum", 0x4F, condition="i2 > 100")
        out.append(_record(dbg.cont()))
        dbg.delete(first.id)
        dbg.break_opcode("vm.return")
        out.append(_record(dbg.cont()))
        out.append(_record(dbg.goto(20)))
        dbg.break_at("loop_sum", 0x4F, condition="i0 == 50")
        out.append(_record(dbg.cont()))
        out.append(_record(dbg.cont()))

    _assert_same(script, "scalar_vmvx", "loop_sum", ["80"], dispatches=False)


def test_calls_finish_and_next():
    def script(dbg, out):
        out.append(_record(dbg.step()))
        for _ in range(30):
            out.append(_record(dbg.next()))
        end = dbg.cont()
        out.append(_record(end))
        out.append(_record(dbg.goto(end.position // 2)))
        out.append(_record(dbg.step()))
        out.append(_record(dbg.finish()))
        out.append(_record(dbg.back(3)))

    _assert_same(script, "vm_bench", "call_loop", ["40"], dispatches=False)


@pytest.mark.parametrize("function", ["work", "fail_after", "spin"])
def test_imports_and_yields(function):
    """The debug app: internal and native imports, a suspending native generator,
    vm.yield, globals, a replayed nondeterministic import (its values differ between
    the two sessions, so operand values are left out)."""
    def script(dbg, out):
        dbg.break_opcode("vm.call*")
        _until_done(dbg, out, dbg.cont)
        out.append(_record(dbg.goto(5)))
        _until_done(dbg, out, dbg.step, limit=600)
        out.append(_record(dbg.goto(out[-1][1] // 2)))
        out.append(_record(dbg.finish()))

    _assert_same(script, (DBGNATIVE, "debug_app"), function, ["3"], values=False,
                 replay_imports=("dbgnative.noise",))


@pytest.mark.parametrize("dispatch_breakpoint", [False, True])
def test_dispatches_lifted_or_hooked(dispatch_breakpoint):
    def script(dbg, out):
        dbg.break_opcode("vm.return")
        if dispatch_breakpoint:
            dbg.break_dispatch("*", workgroup=(0, 0, 0))
        _until_done(dbg, out, dbg.cont)
        out.append(_record(dbg.back()))
        out.append(_record(dbg.goto(out[0][1] // 2)))
        out.append(_record(dbg.reverse_continue()))

    _assert_same(script, "debug_tensors", "scale_add", ["4096xf32=1", "4096xf32=2"])


@pytest.mark.parametrize("function,inputs", [("rodata_load_i8u", ["100"]),
                                             ("store_load_i32", ["100", "7"])])
def test_a_trap_inside_a_counted_run_fails_at_its_position(function, inputs):
    def script(dbg, out):
        stop = dbg.cont()
        assert stop.reason == "failed"
        out.append(_record(stop))
        out.append(_record(dbg.back()))

    _assert_same(script, "vm_buffers", function, inputs)


@pytest.mark.parametrize("inputs", [["0", "1"], ["3", "5"], ["4", "4"]])
def test_a_trap_in_a_run_entered_by_a_branch(inputs):
    """Counted runs continue through unconditional branches into the next block: a trap
    there still fails at its own position."""
    def script(dbg, out):
        out.append(_record(dbg.cont()))
        out.append(_record(dbg.back()))
        out.append(_record(dbg.goto(3)))
        out.append(_record(dbg.cont()))

    records = _assert_same(script, (DBGNATIVE, "debug_app"), "sum_list", inputs)
    assert records[0][0] == ("done" if inputs == ["4", "4"] else "failed")


@pytest.mark.parametrize("condition", [None, "i0 == 2", "i0 > 100", "i4 // (i0 - 3) > 0"])
@pytest.mark.parametrize("pc", [0x2C, 0x54])
def test_breakpoints_in_a_recursive_callee(condition, pc):
    """fib calls itself: a breakpoint in the callee (mid-block, after a call) with a
    condition that holds sometimes, never, or raises (``i0 - 3`` is zero in some frames)."""
    def script(dbg, out):
        dbg.break_at("fib", pc, condition=condition)
        _until_done(dbg, out, dbg.cont, limit=25)
        out.append(_record(dbg.reverse_continue()))
        out.append(_record(dbg.back(5)))
        out.append(_record(dbg.finish()))
        out.append(_record(dbg.goto(max(1, out[0][1] + 3))))
        out.append(_record(dbg.cont()))

    _assert_same(script, "vm_control", "fib", ["9"], snapshot_interval=40)


def test_i64_and_f64_register_pairs_live_at_stops():
    """Stops in a callee with i64/f64 pairs in registers (arguments, results through an
    internal call) and in a loop carrying an i64 through branch remaps as two halves."""
    def script(dbg, out):
        dbg.break_opcode("vm.mul.f64")
        dbg.break_opcode("vm.return")
        _until_done(dbg, out, dbg.cont)
        for target in (2, 3, 4, 5, 6):
            out.append(_record(dbg.goto(target)))

    _assert_same(script, "vm_control", "call_mix", ["-5", "2.5", "3", "1.5"])

    def loop(dbg, out):
        dbg.break_at("sum_i64", 0x4D, condition="i8 % 4 == 1")
        _until_done(dbg, out, dbg.cont, limit=20)
        end = out[-1][1]
        for target in (end // 3, end // 2 + 1, end - 2):
            out.append(_record(dbg.goto(target)))
        out.append(_record(dbg.reverse_continue()))

    _assert_same(loop, "vm_control", "sum_i64", ["30"], snapshot_interval=25)


@pytest.mark.parametrize("function,inputs", [("store_load_i32", ["3", "7"]),
                                             ("clone", ["0", "28", "16"]),
                                             ("copy", ["1", "2", "5"])])
def test_refs_live_at_stops(function, inputs):
    def script(dbg, out):
        dbg.break_opcode("vm.buffer.*")
        _until_done(dbg, out, dbg.cont)
        out.append(_record(dbg.goto(out[-1][1] // 2)))
        out.append(_record(dbg.back()))

    _assert_same(script, "vm_buffers", function, inputs)


@pytest.mark.parametrize("n", ["3", "9"])
@pytest.mark.parametrize("condition", [None, "i5 == 2", "i5 < 0", "i2 // (i5 - 1) > 0"])
def test_breakpoints_two_direct_calls_deep(n, condition):
    """nested -> nest_mid -> nest_inner (no recursion: probed runs call them as Python
    functions): a breakpoint in the innermost loop, time travel across the calls, and
    for n = 9 a trap in the innermost frame."""
    def script(dbg, out):
        dbg.break_at("fn15", 0x3C, condition=condition)  # nest_inner's buffer store
        _until_done(dbg, out, dbg.cont, limit=30)
        end = out[-1][1]
        for target in (end // 2, end - 3, 4):
            out.append(_record(dbg.goto(target)))
            out.append(_record(dbg.finish()))
        out.append(_record(dbg.reverse_continue()))

    _assert_same(script, "vm_control", "nested", [n], snapshot_interval=30)


@pytest.mark.parametrize("program,function", [("scalar_vmvx", "loop_sum"),
                                              ("vm_bench", "call_loop")])
def test_ctrl_c_stops_a_probed_loop(program, function):
    """A probed loop reads the limit again (the controller lowers it on Ctrl-C), also
    with no snapshots to stop it on the way. The controller's Ctrl-C handling is called
    from a timer (test_debug.py delivers a real signal): a SIGINT reaches the main thread
    only when it gets the GIL, which this test must not depend on."""
    import threading

    with Debugger.launch([corpus.build(program)], function, ["200000000"],
                         dispatches=False, snapshot_interval=0) as dbg:
        assert dbg.engine.inv.counting.probed
        timer = threading.Timer(0.3, dbg.engine.request_interrupt)  # Ctrl-C in 0.3 s
        timer.start()
        try:
            stop = dbg.cont()
        finally:
            timer.cancel()
        assert stop.reason == "interrupt" and stop.position > 1000
        assert dbg.step().position == stop.position + 1
        assert dbg.back().position == stop.position
