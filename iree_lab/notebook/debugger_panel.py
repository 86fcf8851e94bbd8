"""DebuggerPanel: single-step a VM function in the notebook.

The debugger core (:class:`iree_lab.debug.Debugger`) runs in the kernel. Each
button press (or shortcut) in the browser is a custom message
(``{"command": "step"}``); Python runs the command and pushes the new state:
``state`` (stop line, call stack, the selected frame's registers, refs and
changes, from :func:`iree_lab.views.debugger_data.panel_state`) and the
embedded :class:`CFGView`'s ``current_pc``. The CFG is the CFGView widget
itself, one per function (cached), embedded as a child widget; clicking an
instruction toggles its ``breakpoints`` trait, which the panel turns into
``break_at("module.function", pc)`` / ``delete`` in the debugger.
"""

from __future__ import annotations

import time

import traitlets as t
from ipywidgets import widget_serialization

from iree_lab.debug import DebugError, Debugger
from iree_lab.notebook._bundle import stylesheet, widgets_dir
from iree_lab.notebook.widgets import CFGView, LabWidget
from iree_lab.views.debugger_data import function_spec, panel_state

__all__ = ["COMMANDS", "DebuggerPanel"]

# Panel command -> Debugger method (the buttons and shortcuts send these names).
COMMANDS = {
    "step": "step",
    "over": "next",
    "out": "finish",
    "continue": "cont",
    "back": "back",
    "reverse": "reverse_continue",
    "restart": "restart",
}


class DebuggerPanel(LabWidget):
    """Buttons (step into / over / out, continue, back, reverse-continue, restart),
    the current function's CFG, the call stack, registers in every typed view
    with changed values marked, refs with summaries, the source location.

    ``DebuggerPanel(debugger)`` or ``DebuggerPanel(module_path, "function",
    inputs, **debugger_options)`` (launches a :class:`Debugger`, stopped at the
    first instruction). Python drives it like the buttons do:
    ``panel.step()``, ``panel.over()``, ``panel.run("continue")``.
    """

    _entry = "debugger_panel.js"
    cfg = t.Instance(CFGView, allow_none=True).tag(sync=True, **widget_serialization)
    state = t.Dict().tag(sync=True)
    # The frame shown (index into state["frames"]; -1: the innermost).
    frame_level = t.Int(-1).tag(sync=True)
    # Register column(s) shown: "all" or one of REGISTER_VIEWS.
    register_view = t.Unicode("all").tag(sync=True)
    # Kernel-side time of the last command (ms): the debugger step plus building the state.
    command_ms = t.Float(0.0).tag(sync=True)
    height = t.Int(440).tag(sync=True)

    def __init__(self, source, function: str | None = None, inputs=(), **options):
        widget_kwargs = {k: options.pop(k) for k in ("height", "frame_level", "register_view")
                         if k in options}
        if isinstance(source, Debugger):
            if function is not None or options:
                raise TypeError("DebuggerPanel(debugger) takes no function or options")
            dbg = source
        else:
            if function is None:
                raise TypeError("DebuggerPanel(module, function, inputs): name the function")
            dbg = Debugger(_program(source, function, inputs, options), **options)
        if dbg.stop is None:
            dbg.start()
        self.debugger = dbg
        self._views: dict[tuple, CFGView] = {}
        self._syncing = False
        self._seq = 0
        self._in_command = False
        self.error = ""
        super().__init__(**widget_kwargs)
        self.on_msg(self._on_msg)
        self._push()

    # -- Commands (the same as the buttons) ------------------------------------------------

    def run(self, command: str):
        """Runs a panel command (``step``, ``over``, ``out``, ``continue``, ``back``,
        ``reverse``, ``restart``) and shows the new state; returns the Stop."""
        method = COMMANDS.get(command)
        if method is None:
            raise ValueError(f"unknown debugger command {command!r} (one of {sorted(COMMANDS)})")
        start = time.perf_counter()
        self.error = ""
        try:
            getattr(self.debugger, method)()
        except DebugError as e:
            self.error = str(e)
        self._seq += 1
        self._in_command = True
        try:
            self.frame_level = -1  # a stop shows the innermost frame
        finally:
            self._in_command = False
        self._push()
        self.command_ms = (time.perf_counter() - start) * 1000
        return self.debugger.stop

    def step(self):
        return self.run("step")

    def over(self):
        return self.run("over")

    def out(self):
        return self.run("out")

    def cont(self):
        return self.run("continue")

    def back(self):
        return self.run("back")

    def reverse(self):
        return self.run("reverse")

    def refresh(self) -> None:
        """Shows the debugger's state again (after using ``panel.debugger`` directly)."""
        self._push()

    @property
    def stop(self):
        return self.debugger.stop

    def _on_msg(self, widget, content, buffers) -> None:
        command = content.get("command") if isinstance(content, dict) else None
        if command in COMMANDS:
            self.run(command)

    @t.observe("frame_level")
    def _on_frame_level(self, change) -> None:
        if not self._in_command:
            self._push()

    # -- State to the front-end -----------------------------------------------------------

    def _frame(self):
        frames = self.debugger.frames
        if not frames:
            return None
        level = self.frame_level
        return frames[level] if 0 <= level < len(frames) else frames[-1]

    def _push(self) -> None:
        dbg = self.debugger
        frame = self._frame()
        view, pc = self.cfg, -1
        if frame is not None and frame.kind == "bytecode":
            view = self._view_for(frame)
            pc = frame.pc if frame.pc is not None else -1
        if view is not None:
            # Before the state: the browser's "step done" is the state arriving.
            self._sync_view_breakpoints(view)
            view.current_pc = pc
        if view is not self.cfg:
            self.cfg = view
        state = panel_state(dbg.stop, self.frame_level, dbg.breakpoints)
        state["seq"] = self._seq
        state["error"] = self.error
        self.state = state

    def _key(self, frame) -> tuple:
        return (frame.invocation > 0, frame.module, frame.function)

    def _view_for(self, frame) -> CFGView:
        key = self._key(frame)
        view = self._views.get(key)
        if view is None:
            view = CFGView(frame.frame.code.decoded, height=self.height)
            view._panel_spec = function_spec(frame)
            view.observe(self._on_cfg_breakpoints, names="breakpoints")
            self._views[key] = view
        return view

    def _offset_breakpoints(self, spec: str) -> dict[int, int]:
        return {b.pc: b.id for b in self.debugger.breakpoints
                if b.kind == "offset" and b.function == spec and b.pc is not None}

    def _sync_view_breakpoints(self, view: CFGView) -> None:
        self._syncing = True
        try:
            view.breakpoints = sorted(self._offset_breakpoints(view._panel_spec))
        finally:
            self._syncing = False

    def _on_cfg_breakpoints(self, change) -> None:
        # A click in the CFG toggled a breakpoint: make the debugger's set match.
        if self._syncing:
            return
        view = change["owner"]
        spec = view._panel_spec
        have = self._offset_breakpoints(spec)
        want = set(change["new"])
        for pc, ident in have.items():
            if pc not in want:
                self.debugger.delete(ident)
        for pc in sorted(want - have.keys()):
            self.debugger.break_at(spec, pc)
        self._push()


def _program(source, function, inputs, options):
    from iree_lab.debug import Program

    program_options = {k: options.pop(k) for k in ("device", "replay_imports") if k in options}
    return Program(source, function, list(inputs), **program_options)


# The panel's own rules live in widgets/debugger_panel.css, after the shared stylesheet.
DebuggerPanel._css = stylesheet() + "\n" + (widgets_dir() / "debugger_panel.css").read_text(
    encoding="utf-8")
