"""The debugger panel: its pure data (iree_lab.views.debugger_data) and the widget from Python.

What the browser shows and clicks is tested in tests/browser/test_debugger_browser.py;
here: register views and change marks (content), the state a step pushes, commands,
breakpoints going from CFG clicks (the CFGView's ``breakpoints`` trait) into the
debugger core, frame selection, and the bundled front-end.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess

import pytest

from iree_lab import samples
from iree_lab.debug import Change, Debugger, RefInfo
from iree_lab.debug.values import register_values
from iree_lab.views.debugger_data import (
    changed_slots,
    frame_rows,
    panel_state,
    ref_rows,
    register_rows,
)


class _Words:
    """Just enough of vm.Registers for register_values: the raw i32 bank."""

    def __init__(self, words):
        self.words = words

    def raw_words(self):
        return list(self.words)


def _f32_word(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


def _f64_words(x: float) -> tuple[int, int]:
    raw = struct.unpack("<Q", struct.pack("<d", x))[0]
    return raw & 0xFFFFFFFF, raw >> 32


# -- Pure data ---------------------------------------------------------------------------


def test_register_rows_typed_views():
    lo, hi = _f64_words(3.141592653589793)
    words = [_f32_word(3.1415927), 0xFFFFFFFF, lo, hi, 1, 1, 0x80000000]
    rows = register_rows(register_values(_Words(words)))
    assert [r["name"] for r in rows] == [f"%i{i}" for i in range(7)]
    r0, r1, r2, r3, r4, _, r6 = rows
    assert r0["raw"] == "0x40490FDB" and r0["f32"] == "3.14159274"
    assert r0["i32"] == "1078530011"
    # Slot 0 starts the pair %i0:1 (low word first, like IREE's i64 registers).
    assert r0["pair"] == "%i0:1" and r0["i64"] == str((0xFFFFFFFF << 32) | 0x40490FDB - (1 << 64))
    assert r1["raw"] == "0xFFFFFFFF" and r1["i32"] == "-1" and r1["f32"] == "-nan"
    assert r1["pair"] == r1["i64"] == r1["f64"] == ""  # odd slots start no pair
    assert r2["f64"] == "3.1415926535897931" and r2["pair"] == "%i2:3"
    assert r3["i64"] == ""
    assert r4["i64"] == "4294967297"
    assert r4["f64"] == f'{struct.unpack("<d", struct.pack("<Q", (1 << 32) | 1))[0]:.17g}'
    # The last slot has no partner.
    assert r6["i32"] == "-2147483648" and r6["f32"] == "-0" and r6["i64"] == ""


def test_change_marks_words_and_pairs():
    changes = [Change("%i3", "0x00000000 (0)", "0x00000001 (1)"),
               Change("%r1", "(null)", "!vm.buffer/0x1"), Change("frame", "a", "b"),
               Change("module global @0", "0x0", "0x1")]
    ints, refs = changed_slots(changes)
    assert ints == {3} and refs == {1}
    rows = register_rows(register_values(_Words([0] * 6)), ints)
    assert [r["changed"] for r in rows] == [False, False, False, True, False, False]
    # The pair %i2:3 changed through its high word; %i0:1 and %i4:5 did not.
    assert [r["pair_changed"] for r in rows] == [False, False, True, False, False, False]
    refs_out = ref_rows([RefInfo(0, None, None, "(null)"),
                         RefInfo(1, "vm.buffer", "0x1", "length=4 rw [01 02 03 04]")], refs)
    assert refs_out == [
        {"slot": 0, "name": "%r0", "type": "", "identity": "", "summary": "(null)",
         "null": True, "changed": False},
        {"slot": 1, "name": "%r1", "type": "vm.buffer", "identity": "0x1",
         "summary": "length=4 rw [01 02 03 04]", "null": False, "changed": True}]


@pytest.fixture()
def loop_dbg():
    dbg = Debugger.launch(samples.path("mlp"), "loop_sum", ["5"])
    yield dbg
    dbg.close()


def test_panel_state_follows_the_debugger(loop_dbg, iree_tool):
    dbg = loop_dbg
    state = panel_state(dbg.stop, -1, dbg.breakpoints)
    assert state["reason"] == "entry" and state["position"] == 1 and state["pc"] == 0
    assert state["status"] == str(dbg.stop)
    assert state["frames"] == [{"level": 0, "kind": "bytecode", "module": "module",
                                "function": "loop_sum", "pc": 0,
                                "name": "module.loop_sum+00000000",
                                "label": "#0 module.loop_sum+00000000 (ordinal 2)",
                                "shown": "module.loop_sum+00000000", "ordinal": 2, "nested": False,
                                "workgroup": None}]
    assert state["registers"][0]["i32"] == "5"  # the argument
    for _ in range(3):
        dbg.step()
    stop = dbg.stop
    assert stop.position == 4
    state = panel_state(stop, -1, dbg.breakpoints)
    assert state["pc"] == stop.frame.pc and state["instruction"] == stop.text
    # Every typed column reads what the debugger's expressions read.
    for row in state["registers"]:
        assert int(row["i32"]) == dbg.evaluate(f"i{row['slot']}")
        assert int(row["raw"], 16) == dbg.evaluate(f"word({row['slot']})")
        if row["i64"]:
            assert int(row["i64"]) == dbg.evaluate(f"i64({row['slot']})")
    # The marks are exactly the core's changes since the previous stop.
    marked = {f"%i{r['slot']}" for r in state["registers"] if r["changed"]}
    assert marked == {c.name for c in stop.changes if c.name.startswith("%i")}
    assert marked == {"%i4"}  # vm.const.i64 1 wrote %i4:5 = 1 (only the low word changed)
    assert state["changes"] == ["%i4: 0x00000000 (0) -> 0x00000001 (1)"]
    pair = next(r for r in state["registers"] if r["slot"] == 4)
    assert pair["pair_changed"] and pair["i64"] == "1"
    # Run to the end: no frames, the results.
    state = panel_state(dbg.cont(), -1, ())
    assert state["finished"] and state["frames"] == [] and state["registers"] == []
    native = iree_tool("iree-run-module", f"--module={samples.path('mlp')}",
                       "--function=loop_sum", "--input=5").stdout.decode()
    assert native.splitlines()[1:] == [state["results"]] == ["result[0]: i32=10"]


def test_frame_rows_of_a_dispatch():
    dbg = Debugger.launch(samples.path("mlp"), "predict", ["1x8xf32=1 2 3 4 5 6 7 8"])
    try:
        dbg.break_dispatch(workgroup=(0, 0, 0))
        stop = dbg.cont()
        rows = frame_rows(stop.frames)
        assert [(r["kind"], r["function"], r["nested"]) for r in rows] == [
            ("bytecode", "predict", False), ("import", "device.queue.execute.indirect", False),
            ("bytecode", "predict_dispatch_0_matmul_1x4x8_f32", True)]
        assert rows[2]["workgroup"] == [0, 0, 0] and rows[2]["pc"] == 0
        # An outer frame shows its own registers, without change marks.
        outer = panel_state(stop, 0, dbg.breakpoints)
        assert outer["level"] == 0 and outer["pc"] == stop.frames[0].pc
        assert outer["instruction"].startswith("vm.call")
        assert not any(r["changed"] for r in outer["registers"])
        assert len(outer["registers"]) == len(stop.frames[0].registers())
        inner = panel_state(stop, -1, dbg.breakpoints)
        assert [r["type"] for r in inner["refs"][:3]] == ["vm.buffer", "vm.buffer", "vm.list"]
        assert inner["breakpoints"][0]["text"].startswith("#1 dispatch * workgroup (0, 0, 0)")
    finally:
        dbg.close()


# -- The widget ----------------------------------------------------------------------------

anywidget = pytest.importorskip("anywidget")

from iree_lab.notebook._bundle import bundle, dependencies, stylesheet  # noqa: E402
from iree_lab.notebook.debugger_panel import COMMANDS, DebuggerPanel  # noqa: E402


@pytest.fixture()
def panel():
    p = DebuggerPanel(samples.path("mlp"), "loop_sum", ["5"])
    yield p
    p.debugger.close()


def _messages(panel, *commands):
    for c in commands:
        panel._on_msg(panel, {"command": c}, [])


def test_panel_steps_by_message_and_pushes_state(panel):
    assert panel.state["position"] == 1 and panel.cfg.current_pc == 0
    assert panel.cfg.function.name == "loop_sum"
    reference = Debugger.launch(samples.path("mlp"), "loop_sum", ["5"])
    try:
        for _ in range(6):
            _messages(panel, "step")
            stop = reference.step()
            assert panel.state["status"] == str(stop)
            assert panel.cfg.current_pc == stop.frame.pc == panel.state["pc"]
            assert [r["raw"] for r in panel.state["registers"]] == \
                [f"0x{r.word:08X}" for r in reference.registers()]
        assert panel.state["seq"] == 6
        _messages(panel, "back")
        assert panel.state["position"] == 6
        assert panel.state["status"] == str(reference.back())
        _messages(panel, "over", "out")
        assert panel.state["finished"] and panel.state["results"] == "result[0]: i32=10"
        assert panel.cfg.current_pc == -1
        _messages(panel, "restart")
        assert panel.state["position"] == 1 and panel.cfg.current_pc == 0
        _messages(panel, "no-such-command")  # ignored
        assert panel.state["seq"] == 10
    finally:
        reference.close()
    with pytest.raises(ValueError, match="unknown debugger command"):
        panel.run("jump")


def test_cfg_clicks_set_breakpoints_in_the_debugger(panel):
    dbg = panel.debugger
    cfg = panel.cfg
    cfg.toggle_breakpoint(0x4F)  # what a click in the browser does to the trait
    assert [(b.kind, b.function, b.pc) for b in dbg.breakpoints] == [
        ("offset", "module.loop_sum", 0x4F)]
    assert panel.state["breakpoints"][0]["text"] == "#1 module.loop_sum+0000004F hits=0"
    stop = panel.cont()
    assert stop.reason == "breakpoint" and stop.frame.pc == 0x4F == cfg.current_pc
    # Breakpoints set on the debugger directly show in the CFG after a refresh.
    dbg.break_at("module.loop_sum", 0x2B)
    panel.refresh()
    assert cfg.breakpoints == [0x2B, 0x4F]
    cfg.toggle_breakpoint(0x4F)
    assert [b.pc for b in dbg.breakpoints] == [0x2B]
    assert panel.cont().frame.pc == 0x2B
    cfg.breakpoints = []
    assert dbg.breakpoints == []
    assert panel.cont().reason == "done"


def test_commands_after_the_end(panel):
    done = str(panel.cont())
    panel.run("step")  # nothing left to run: the panel stays at the end, usable
    assert panel.state["finished"] and panel.state["status"] == done
    assert panel.state["error"] == ""
    panel.run("back")  # time travel from the end
    assert not panel.state["finished"] and panel.state["frames"][0]["function"] == "loop_sum"
    assert panel.cfg.current_pc == panel.state["pc"] >= 0
    panel.frame_level = 7  # no such frame: the innermost one is shown
    assert panel.state["level"] == 0


def test_frames_switch_the_cfg_and_registers():
    dbg = Debugger.launch(samples.path("mlp"), "predict", ["1x8xf32=1 2 3 4 5 6 7 8"])
    dbg.break_dispatch(workgroup=(0, 0, 0))
    dbg.cont()
    panel = DebuggerPanel(dbg)
    try:
        dispatch_cfg = panel.cfg
        assert dispatch_cfg.function.name == "predict_dispatch_0_matmul_1x4x8_f32"
        assert dispatch_cfg.current_pc == 0
        panel.frame_level = 0  # a click on the outer frame
        assert panel.cfg.function.name == "predict"
        assert panel.cfg.current_pc == dbg.frames[0].pc == panel.state["pc"]
        assert panel.state["registers"][0]["raw"] == f"0x{dbg.registers(0)[0].word:08X}"
        # A breakpoint clicked in the dispatch's CFG stops in the next workgroup too.
        panel.frame_level = -1
        assert panel.cfg is dispatch_cfg  # one CFGView per function, reused
        pc = next(i.pc for i in dispatch_cfg.function.instructions
                  if not i.is_block_marker and i.pc > 0x20)
        dispatch_cfg.toggle_breakpoint(pc)
        assert any(b.kind == "offset" and b.pc == pc for b in dbg.breakpoints)
        stop = panel.cont()
        assert stop.reason == "breakpoint" and stop.frame.pc == pc == dispatch_cfg.current_pc
        stop = panel.out()
        assert stop.frame.function == "predict" and panel.cfg.function.name == "predict"
    finally:
        dbg.close()


def test_panel_options_and_bundle():
    with pytest.raises(TypeError, match="name the function"):
        DebuggerPanel(samples.path("mlp"))
    assert set(COMMANDS) == {"step", "over", "out", "continue", "back", "reverse", "restart"}
    assert all(hasattr(Debugger, m) for m in COMMANDS.values())
    assert DebuggerPanel._esm == bundle("debugger_panel.js")
    assert DebuggerPanel._css.startswith(stylesheet()) and ".il-dbg-regs" in DebuggerPanel._css
    code = bundle("debugger_panel.js")
    assert dependencies("debugger_panel.js") == ["common.js", "debugger_panel.js"]
    # Every command the kernel accepts has a button.
    assert set(re.findall(r"^\s*\['(\w+)', '", code, re.M)) == set(COMMANDS)
    node = shutil.which("node")
    if node is None:
        pytest.skip("node not installed: syntax not checked")
    result = subprocess.run([node, "--input-type=module", "--check"], input=code, text=True,
                            capture_output=True)
    assert result.returncode == 0, result.stderr
