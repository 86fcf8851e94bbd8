"""The debugger core: every breakpoint kind, every step kind, state views, events, failures.

Programs: tests/programs/debug/app.vmasm (``dbg``: internal calls, a
nondeterministic native import, globals, a buffer, a list, yields and a
suspending native import; offsets below are iree-dump-module's),
debug/source.mlir (a function with a complete source map), debug/tensors.mlir
(a 64-workgroup VMVX dispatch) and the bundled ``mlp`` sample. Expected values
come from the programs' semantics, checked where possible against
iree-run-module (the final results).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from iree_lab import samples
from iree_lab.debug import DebugError, Debugger
from iree_lab.testing import corpus

DBGNATIVE = str(Path(__file__).parent / "programs" / "debug" / "dbgnative.py")
SOURCE_MLIR = Path(__file__).parent / "programs" / "debug" / "source.mlir"
MLP_INPUT = ["1x8xf32=1 2 3 4 5 6 7 8"]
MLP_RESULT = [10.1, 13.55, 11.3, 14.6]

# dbg.work offsets (iree-dump-module --bytecode_offsets).
WORK_CALL_SQUARE = 0x5B
WORK_AFTER_SQUARE = 0x68
WORK_CALL_NOISE = 0x6F
WORK_AFTER_NOISE = 0x7A
WORK_STORE_COUNTER = 0xA4
WORK_YIELD = 0xDF
WORK_CALL_SLOW_DOUBLE = 0xE7
WORK_RETURN = 0xF9


def app(function="work", inputs=("3",), **kw) -> Debugger:
    return Debugger.launch([DBGNATIVE, corpus.build("debug_app")], function, list(inputs),
                           replay_imports=("dbgnative.noise",), **kw)


@pytest.fixture
def work():
    dbg = app()
    yield dbg
    dbg.close()


def top(dbg):
    return dbg.stop.frame


def where(stop) -> tuple[str, int | None]:
    return stop.frame.function, stop.frame.pc


# -- Steps ---------------------------------------------------------------------------------


def test_entry_then_step_into_a_callee_and_out(work):
    assert work.stop.reason == "entry" and work.stop.position == 1
    assert where(work.stop) == ("work", 0) and work.stop.text == "<block>"
    stop = work.run_to(WORK_CALL_SQUARE)
    assert where(stop) == ("work", WORK_CALL_SQUARE)
    stop = work.step()
    assert stop.reason == "step" and where(stop) == ("square", 0)
    assert [f.function for f in stop.frames] == ["work", "square"]
    assert stop.frames[0].pc == WORK_CALL_SQUARE  # the caller sits on its call
    assert work.step().frame.pc == 1
    stop = work.finish()
    assert where(stop) == ("work", WORK_AFTER_SQUARE)
    assert work.evaluate("i4") == 0  # square(0)


def test_step_over_calls_and_imports(work):
    work.run_to(WORK_CALL_SQUARE)
    assert where(work.next()) == ("work", WORK_AFTER_SQUARE)
    assert where(work.next()) == ("work", WORK_CALL_NOISE)
    stop = work.next()  # over the native import
    assert where(stop) == ("work", WORK_AFTER_NOISE)
    # 10 entry instructions, the loop test (2), the call, square's 3, the add, the call.
    assert stop.position == 10 + 2 + 1 + 3 + 1 + 1 + 1
    stop = work.next(3)
    assert stop.position == 22 and stop.reason == "step"


def test_step_into_native_suspend_points_and_over_yields():
    with app(inputs=["1"]) as dbg:
        stop = dbg.run_to(WORK_YIELD)
        stop = dbg.step()
        assert stop.reason == "suspend" and stop.phase == "after"
        # vm.yield branches before it suspends: the frame already sits at the target.
        assert where(stop) == ("work", 0x43)
        assert where(dbg.step()) == ("work", 0x43) and dbg.stop.phase == "before"
        dbg.run_to(WORK_CALL_SLOW_DOUBLE)
        suspends = []
        stop = dbg.step()
        while stop.reason == "suspend":
            suspends.append(stop)
            assert [f.kind for f in stop.frames] == ["bytecode", "native"]
            assert stop.frame.module == "dbgnative" and stop.frame.function == "slow_double"
            stop = dbg.step()
        assert len(suspends) == 3
        assert where(stop) == ("work", WORK_RETURN)
        assert dbg.evaluate("i9") == 2 * dbg.evaluate("i2")
        # Step over does not stop at suspensions of the call it steps over.
        dbg.goto(suspends[0].position)
        assert where(dbg.next()) == ("work", WORK_RETURN)


def test_continue_run_to_and_the_end(work):
    stop = work.run_to(WORK_STORE_COUNTER)
    assert where(stop) == ("work", WORK_STORE_COUNTER)
    assert not work.breakpoints  # run_to's breakpoint is temporary
    stop = work.cont()
    assert stop.reason == "done" and stop.phase == "after" and not stop.frames
    assert stop.results_text.startswith("result[0]: i32=")
    assert work.cont() is work.stop or work.cont().reason == "done"  # stays at the end
    assert work.step().reason == "done"


def test_step_into_a_vmvx_dispatch_and_out_again():
    with Debugger.launch(samples.path("mlp"), "predict", MLP_INPUT) as dbg:
        dbg.break_import("hal.device.queue.execute.indirect")
        stop = dbg.cont()
        assert stop.reason == "breakpoint" and stop.frame.function == "predict"
        call_pc = stop.frame.pc
        stop = dbg.step()
        kinds = [(f.kind, f.function) for f in stop.frames]
        assert kinds == [("bytecode", "predict"),
                         ("import", "device.queue.execute.indirect"),
                         ("bytecode", "predict_dispatch_0_matmul_1x4x8_f32")]
        assert stop.frame.pc == 0 and stop.frame.workgroup == (0, 0, 0)
        assert stop.frames[1].module == "hal" and stop.frames[-1].invocation == 1
        # The workgroup function's arguments: (local memory, constants, bindings, id xyz,
        # size xyz, count xyz).
        regs = dbg.registers()
        assert [r.i32 for r in regs[:9]] == [0, 0, 0, 1, 1, 1, 1, 1, 1]
        refs = dbg.refs()
        assert refs[2].type == "vm.list" and "size=2" in refs[2].summary
        stop = dbg.finish()
        assert stop.frame.function == "predict" and stop.frame.pc > call_pc
        assert len(stop.frames) == 1
        stop = dbg.cont()
        assert stop.reason == "done"
        assert np.allclose(stop.results[0].to_numpy().ravel(), MLP_RESULT)


# -- Breakpoints ---------------------------------------------------------------------------


def test_offset_and_block_breakpoints(work):
    bp = work.break_at("work", WORK_CALL_NOISE)
    positions = []
    stop = work.cont()
    while stop.reason == "breakpoint":
        assert where(stop) == ("work", WORK_CALL_NOISE) and stop.breakpoints == [bp]
        positions.append(stop.position)
        stop = work.cont()
    assert len(positions) == 3 and bp.hits == 3 and stop.reason == "done"
    work.restart()
    work.delete(bp.id)
    block = work.break_at("dbg.work", block=2)  # ^bb2 starts at its marker 0x5A
    assert where(work.cont()) == ("work", WORK_CALL_SQUARE)
    # A block marker's offset also means "the block's first instruction".
    work.delete(block.id)
    work.break_at("work", 0x5A)
    assert where(work.cont()) == ("work", WORK_CALL_SQUARE)


def test_breakpoint_locations_are_validated(work):
    with pytest.raises(DebugError, match="not an instruction boundary"):
        work.break_at("work", 0x5C)
    with pytest.raises(DebugError, match="no function"):
        Debugger.launch(corpus.build("scalar_vmvx"), "loop_sum", ["1"],
                        dispatches=False).break_at("nope", 0)
    with pytest.raises(DebugError, match="no block"):
        work.break_at("work", block=9)
    with pytest.raises(DebugError, match="no opcode"):
        work.break_opcode("vm.add.i33")
    with pytest.raises(DebugError, match="condition"):
        work.break_import("dbgnative.noise", condition="i0 ==")
    with pytest.raises(DebugError):
        work.break_at("work")


def test_source_breakpoint_and_source_mapping():
    with Debugger.launch(corpus.build("debug_source"), "collatz", ["6"]) as dbg:
        # Line 28 is `%h = arith.divsi %v, %c2` (the even branch): vm.div.i32.s at 0x6B.
        bp = dbg.break_source("source.mlir", 28)
        stop = dbg.cont()
        assert stop.reason == "breakpoint" and where(stop) == ("collatz", 0x6B)
        loc = dbg.location()
        assert loc.file == str(SOURCE_MLIR) and loc.line == 28 and loc.column == 12
        assert "arith.divsi" in loc.source_line()
        assert "at " in loc.text  # the call-site chain, as IREE prints it
        listing = dbg.source(context=1)
        assert listing[1].startswith(">    28") and "arith.divsi" in listing[1]
        # 6 -> 3 -> 10 -> 5 -> 16 -> 8 -> 4 -> 2 -> 1: six even steps.
        hits = 1
        while dbg.cont().reason == "breakpoint":
            hits += 1
        assert hits == bp.hits == 6 and dbg.stop.results == [8]
        # A full path names the same file.
        dbg.restart()
        dbg.delete(bp.id)
        dbg.break_source(str(SOURCE_MLIR), 31)
        assert where(dbg.cont()) == ("collatz", 0x7B)


def test_opcode_and_conditional_breakpoints(work):
    bp = work.break_opcode("vm.mul.i32", condition="i0 == 2")
    stop = work.cont()
    assert where(stop) == ("square", 1) and work.evaluate("i0") == 2
    assert bp.hits == 1  # counted only when the condition held
    work.delete(bp.id)
    pattern = work.break_opcode("vm.call*")
    stop = work.cont()
    assert stop.breakpoints == [pattern] and stop.frame.pc == WORK_CALL_NOISE
    work.delete(pattern.id)
    work.break_opcode("vm.call.*yieldable")
    assert work.cont().frame.pc == WORK_CALL_SLOW_DOUBLE


def test_import_breakpoints_hit_counts_ignore_enable_disable(work):
    bp = work.break_import("dbgnative.noise", ignore=1)
    stop = work.cont()
    assert where(stop) == ("work", WORK_CALL_NOISE)
    assert bp.hits == 2 and work.evaluate("i1") == 1  # the first hit was ignored
    work.disable(bp.id)
    assert work.cont().reason == "done" and bp.hits == 2
    work.restart()
    assert bp.hits == 0  # time travel rolls hit counts back
    work.enable(bp.id)
    assert work.cont().position == stop.position


def test_condition_errors_stop_and_say_why(work):
    work.break_at("work", WORK_CALL_NOISE, condition="r9.length > 0")
    stop = work.cont()
    assert stop.reason == "condition-error" and "raised" in stop.message


def test_dispatch_breakpoints_by_workgroup():
    path = corpus.build("debug_tensors")
    with Debugger.launch(path, "scale_add", ["4096xf32=1", "4096xf32=2"]) as dbg:
        bp = dbg.break_dispatch("scale_add_dispatch_*", workgroup=(5, 0, 0))
        stop = dbg.cont()
        assert stop.reason == "breakpoint" and stop.frame.pc == 0
        assert stop.frame.workgroup == (5, 0, 0) and dbg.evaluate("i0") == 5
        assert dbg.evaluate("workgroup") == (5, 0, 0)
        assert dbg.cont().reason == "done" and bp.hits == 1
        dbg.restart()
        every = dbg.break_dispatch(condition="workgroup[0] % 16 == 15")
        dbg.delete(bp.id)
        seen = []
        while dbg.cont().reason == "breakpoint":
            seen.append(dbg.stop.frame.workgroup)
        assert seen == [(15, 0, 0), (31, 0, 0), (47, 0, 0), (63, 0, 0)] and every.hits == 4
        out = dbg.stop.results[0].to_numpy()
        assert out.shape == (4096,) and np.all(out == 4.0)


# -- State ---------------------------------------------------------------------------------


def test_registers_in_every_typed_view():
    path = corpus.build("scalar_vmvx")
    with Debugger.launch(path, "mul_add_i64", ["-3", "5", "2"]) as dbg:
        stop = dbg.step(2)
        assert stop.text == "vm.return %i4(4294967283)"
        regs = dbg.registers()
        assert (regs[4].word, regs[5].word) == (0xFFFFFFF3, 0xFFFFFFFF)
        assert regs[4].i64 == -13 and regs[4].i32 == -13 and regs[5].i64 is None
        assert regs[0].i64 == -3 and dbg.evaluate("i64(0) * i64(2)") == -15
    with Debugger.launch(path, "fma_f32", ["1.5", "2", "0.25"]) as dbg:
        dbg.step(2)
        regs = dbg.registers()
        assert regs[2].word == 0x40500000 and regs[2].f32 == 3.25
        assert dbg.evaluate("f32(2)") == 3.25


def test_stack_frames_keep_their_own_registers(work):
    work.run_to(WORK_CALL_SQUARE)
    work.next(8)  # into the second iteration's call
    work.run_to(WORK_CALL_SQUARE)
    work.step()
    caller, callee = work.frames
    assert callee.function == "square" and callee.registers()[0].i32 == 1
    assert caller.registers()[1].i32 == 1  # the loop counter in work's frame
    assert work.evaluate("i1", level=0) == 1 and work.evaluate("i0", level=1) == 1


def test_ref_summaries_buffers_lists_and_buffer_views():
    with app(inputs=["2"]) as dbg:
        dbg.run_to(WORK_YIELD)
        r0, r1 = dbg.refs()[:2]
        assert r0.type == "vm.buffer" and r0.summary.startswith("length=64 rw [")
        assert r0.identity.startswith("0x")
        assert r1.type == "vm.list" and r1.summary == "size=1 element_type=i32"
        acc = dbg.evaluate("i2")
        first = int.from_bytes(dbg.evaluate("r0").data[:4], "little")
        assert first == acc
        assert dbg.globals().ref(0) is dbg.evaluate("r0")
    with Debugger.launch(samples.path("mlp"), "predict", MLP_INPUT) as dbg:
        dbg.break_opcode("vm.return", condition="function == 'predict'")
        stop = dbg.cont()
        assert stop.frame.function == "predict"
        info = dbg.ref(0)
        assert info.type == "hal.buffer_view"
        assert "1x4xf32 [10.1, 13.55, 11.3, 14.6]" in info.summary
        dbg.restart()
        dbg.break_import("hal.device.queue.execute.indirect")
        dbg.cont()
        buffers = [r for r in dbg.refs() if r.type == "hal.buffer"]
        assert {r.summary.split(" [")[0].split(" ", 1)[1] for r in buffers} == {
            "length=32", "length=16"}  # the input (1x8xf32) and the result (1x4xf32)


def test_changes_since_the_previous_stop(work):
    work.run_to(0xD8)  # %i1 = vm.add.i32 %i1, %i8 (the loop counter)
    stop = work.step()
    assert [str(c) for c in stop.changes] == ["%i1: 0x00000000 (0) -> 0x00000001 (1)"]
    work.run_to(WORK_STORE_COUNTER)
    stop = work.step()
    assert [str(c) for c in stop.changes if "global" in c.name] == [
        "dbg global @0: 0x00000001 (1) -> 0x00000002 (2)"]


def test_register_and_global_watchpoints(work):
    wp = work.watch_register("work", "i2")
    stop = work.cont()
    assert stop.reason == "watchpoint" and stop.watch[0][0] is wp
    old, new = stop.watch[0][1:]
    assert new == work.evaluate("i2") and old != new
    work.delete(wp.id)
    work.restart()
    gw = work.watch_global(0, "i32", module="dbg")
    stop = work.cont()
    assert stop.reason == "watchpoint" and stop.watch[0][1:] == (0, 1)
    # The store just ran: the stop is before the instruction after it.
    assert stop.frame.pc == 0xAB and work.globals("dbg").i32(0) == 1
    assert work.cont().watch[0][1:] == (1, 2) and gw.hits == 2
    rw = work.watch_global(0, "ref", module="dbg")
    assert rw.describe().startswith(f"watch #{rw.id}")


def test_events_calls_returns_imports_dispatches_suspends():
    with app(inputs=["1"]) as dbg:
        events = []
        dbg.add_listener(lambda e: events.append((e.kind, e.detail.get("name") or
                                                  e.detail.get("function"))))
        dbg.cont()
        kinds = [k for k, _ in events]
        assert ("call", "square") in events and ("return", "square") in events
        assert ("import_call", "dbgnative.noise") in events
        assert ("import_return", "dbgnative.noise") in events
        assert kinds.count("suspend") == 1 + 3 and kinds.count("resume") == 4
        assert kinds[-1] == "done"
        assert kinds.index("import_call") < kinds.index("import_return")
    with Debugger.launch(samples.path("mlp"), "predict", MLP_INPUT) as dbg:
        seen = []
        dbg.add_listener(lambda e: seen.append(e), instructions=True)
        dbg.cont()
        dispatches = [e for e in seen if e.kind == "dispatch"]
        assert len(dispatches) == 1 and dispatches[0].detail["workgroup"] == (0, 0, 0)
        assert dispatches[0].invocation == 1
        instructions = [e for e in seen if e.kind == "instruction"]
        assert len(instructions) == dbg.stop.position - 1  # all but the entry stop's


def test_failure_stops_and_back_reaches_the_failing_instruction():
    with app("fail_after", ["5"]) as dbg:
        stop = dbg.cont()
        assert stop.reason == "failed" and "fail_after says no" in stop.message
        assert stop.status.frames[0].function == "fail_after"
        stop = dbg.back()
        assert stop.frame.pc == 0x0F and stop.text.startswith("vm.fail %i2(14)")


def test_print_and_globals_errors_are_debug_errors(work):
    with pytest.raises(DebugError, match="unknown name"):
        work.evaluate("nosuch")
    with pytest.raises(DebugError, match="SyntaxError|invalid"):
        work.evaluate("1 +")
    with pytest.raises(DebugError, match="out of range"):
        work.globals().i32(1 << 20)
    with pytest.raises(DebugError, match="no frame"):
        work.frame(5)
    with pytest.raises(DebugError, match="not a register"):
        work.watch_register("work", "x1")


def test_steps_cross_module_boundaries_through_imports():
    lib, app_module = corpus.build("vm_lib"), corpus.build("vm_app")
    with Debugger.launch([lib, app_module], "use_add", ["3", "4"]) as dbg:
        events = []
        dbg.add_listener(lambda e: events.append((e.kind, e.detail.get("name"))))
        stop = dbg.step()
        assert stop.text == "%i2 = vm.call @lib.add(%i0(3), %i1(4))"
        stop = dbg.step()  # into the other module's export
        assert [(f.module, f.function, f.pc) for f in stop.frames] == [
            ("app", "use_add", 1), ("lib", "add", 0)]
        stop = dbg.finish()
        assert where(stop) == ("use_add", 0x10) and dbg.evaluate("i2") == 7
        assert ("import_call", "lib.add") in events and ("import_return", "lib.add") in events
        stop = dbg.next()  # over the second cross-module call
        assert where(stop) == ("use_add", 0x20) and dbg.evaluate("i2") == 14
        assert dbg.back(2).frames[-1].module == "lib"  # back inside lib.add's return
        assert dbg.cont().results == [14]


def test_debugging_module_init_where_command_buffers_are_recorded():
    with Debugger.launch(samples.path("mlp"), "predict", MLP_INPUT, init=True) as dbg:
        assert where(dbg.stop) == ("__init", 0) and dbg.stop.reason == "entry"
        with pytest.raises(DebugError, match="__init"):
            dbg.globals("module")
        bp = dbg.break_import("hal.command_buffer.dispatch")
        stop = dbg.cont()
        # __init calls the (unnamed) memoized recording function, which records the dispatch.
        assert [f.function for f in stop.frames] == ["__init", "fn0"]
        cb = dbg.ref(3)
        assert cb.type == "hal.command_buffer" and "recording" in cb.summary
        recorded_at = stop.position
        end = dbg.cont()
        assert end.reason == "done" and bp.hits == 1
        assert np.allclose(end.results[0].to_numpy().ravel(), MLP_RESULT)
        assert dbg.globals("module").ref(2).ref_type.name == "hal.command_buffer"
        # Travel back into __init (no snapshot there: the world is rebuilt and re-run).
        stop = dbg.reverse_continue()
        assert stop.position == recorded_at and stop.frames[-1].function == "fn0"


def test_ctrl_c_stops_a_long_run_where_it_is():
    import signal

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    with app("spin", ["100000000"]) as dbg:
        previous = signal.signal(signal.SIGALRM, interrupt)
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        try:
            stop = dbg.cont()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        assert stop.reason == "interrupt" and stop.position > 1000
        assert dbg.step().position == stop.position + 1  # the session stays usable
        assert dbg.back().position == stop.position


def test_a_dropped_debugger_stops_its_worker():
    import gc
    import threading

    dbg = app()
    thread = dbg.engine.thread
    assert thread.is_alive()
    del dbg
    gc.collect()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert not any(t.name == "iree_lab-debugger" and t is thread for t in threading.enumerate())
