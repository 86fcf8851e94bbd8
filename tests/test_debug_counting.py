"""The debugged invocation counts straight-line runs instead of hooking each instruction.

While running quiet (``cont``, ``goto``, time-travel re-execution) the VM adds a run's
length to the position where the hook would have done nothing, and calls the hook only
at instructions carrying a breakpoint (register-only conditions are tested by a compiled
guard). Every check here runs the same command script twice, once counting and once with
``debugger.COUNTING = False`` (every instruction through the hook), and compares every
stop (reason, position, instruction, function, hits, messages).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from iree_lab.debug import Debugger
from iree_lab.debug import debugger as debugger_module
from iree_lab.testing import corpus

DBGNATIVE = str(Path(__file__).parent / "programs" / "debug" / "dbgnative.py")


def _record(stop):
    frame = stop.frame
    return (stop.reason, stop.position, stop.phase, re.sub(r"/0x[0-9a-f]+", "", stop.text or ""),
            frame.function if frame is not None else None,
            frame.pc if frame is not None else None, stop.message,
            tuple(bp.id for bp in stop.breakpoints))


def _both(script, program, function, inputs, **options):
    """(counting, hooked) records of ``script(dbg, out)``; asserts counting really ran."""
    results = []
    for counting in (True, False):
        debugger_module.COUNTING = counting
        try:
            modules = ([corpus.build(program)] if isinstance(program, str)
                       else [*program[:-1], corpus.build(program[-1])])
            with Debugger.launch(modules, function, inputs, **options) as dbg:
                out: list = []
                script(dbg, out)
                out.append(("hits", tuple(bp.hits for bp in dbg._breakpoints.values())))
                out.append(("counting", dbg.engine.inv.counting is not None))
                results.append(out)
        finally:
            debugger_module.COUNTING = True
    counting, hooked = results
    assert counting[-1] == ("counting", True) and hooked[-1] == ("counting", False)
    return counting[:-1], hooked[:-1]


def _until_done(dbg, out, command, limit=200):
    """Records up to ``limit`` stops of ``command``, until the run ends."""
    for _ in range(limit):
        stop = command()
        out.append(_record(stop))
        if stop.finished:
            return


def _operands(records):
    """Records with the instruction's operand values left out."""
    return [(r[0], r[1], r[2], re.sub(r"\([^()]*\)", "", r[3]), *r[4:]) if len(r) > 4 else r
            for r in records]


def _assert_same(script, program, function, inputs, values=True, **options):
    counting, hooked = _both(script, program, function, inputs, **options)
    if not values:
        counting, hooked = _operands(counting), _operands(hooked)
    assert counting == hooked
    assert len(counting) > 1
    return counting


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
