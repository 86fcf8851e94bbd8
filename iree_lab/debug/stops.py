"""What a debugger stop shows: frames, stops, events, changes and globals.

Plain data built on the worker thread while it is blocked in a stop and read
by the caller; shared by :class:`~iree_lab.debug.Debugger` and the fiber
debugger (:mod:`iree_lab.debug.fibers`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from iree_lab.debug import breakpoints as B
from iree_lab.debug.program import DebugError
from iree_lab.debug.source import SourceLocation
from iree_lab.debug.trace import trace_line
from iree_lab.debug.values import RefInfo, RegisterValue, ref_infos, register_values
from iree_lab.vm.interpreter import NativeFrame
from iree_lab.vm.scheduler import Fiber, FiberState

Breakpoint = B.Breakpoint
Watchpoint = B.Watchpoint

# Source lines per compiled function, shared by every debugger and breakpoint table.
LINE_TABLES = B.LineTables()

# -- What a stop shows ---------------------------------------------------------------------


@dataclasses.dataclass
class StackFrame:
    """One frame of the combined call stack (outermost first).

    ``kind``: ``bytecode`` (a VM function), ``native`` (a Python import that
    suspended), ``import`` (the native import running a nested dispatch),
    ``dispatch`` (a dispatch of native CPU code, see :class:`NativeDispatch`). The
    live VM frame is ``frame``: its registers are readable while the
    debugger is stopped at the stop this frame belongs to.
    """

    level: int
    kind: str
    module: str
    function: str
    pc: int | None = None
    k: int | None = None
    invocation: int = 0  # 0: the debugged call; 1: a dispatch it runs; ...
    workgroup: tuple[int, int, int] | None = None
    frame: object = dataclasses.field(default=None, repr=False)

    @property
    def name(self) -> str:
        where = f"{self.module}.{self.function}"
        return where if self.pc is None else f"{where}+{self.pc:08X}"

    @property
    def instruction(self):
        if self.frame is None or self.k is None:
            return None
        return self.frame.code.instructions[self.k]

    def instruction_text(self) -> str | None:
        """The instruction with operand values, as IREE's trace prints it."""
        if self.kind != "bytecode" or self.k is None:
            return None
        return trace_line(self.frame, self.k).split("]    ", 1)[1]

    def location(self) -> SourceLocation | None:
        if self.kind != "bytecode" or self.pc is None:
            return None
        return LINE_TABLES.get(self.frame.code).location(self.pc)

    def registers(self) -> list[RegisterValue]:
        if self.kind != "bytecode":
            return []
        return register_values(self.frame.registers)

    def refs(self) -> list[RefInfo]:
        if self.kind != "bytecode":
            return []
        return ref_infos(self.frame.registers)

    def __str__(self) -> str:
        text = f"#{self.level} {self.name}"
        if self.kind != "bytecode":
            text += f" ({self.kind})"
        if self.workgroup is not None:
            text += " workgroup ({}, {}, {})".format(*self.workgroup)
        return text


@dataclasses.dataclass(frozen=True)
class Change:
    """A value that differs from the previous stop."""

    name: str
    old: object
    new: object

    def __str__(self) -> str:
        return f"{self.name}: {self.old} -> {self.new}"


@dataclasses.dataclass
class NativeDispatch:
    """A dispatch of native CPU code as the debugger shows it (all its workgroups at once).

    ``bindings`` are copies of the bound byte ranges at the stop: the inputs
    before the dispatch runs, the written results after.
    """

    executable_format: str
    library: str
    function: int
    export_name: str
    workgroup_count: tuple[int, int, int]
    workgroup_size: tuple[int, int, int]
    constants: tuple[int, ...]
    bindings: list[bytes]
    _executable: object = dataclasses.field(default=None, repr=False)

    def listing(self) -> tuple[str, list[str]]:
        """(what it is, lines): the export's machine code, disassembled."""
        return self._executable.listing(self.function)

    @property
    def workgroups(self) -> int:
        x, y, z = self.workgroup_count
        return x * y * z

    def __str__(self) -> str:
        x, y, z = self.workgroup_count
        return (f"{self.export_name} ({self.executable_format}) {x}x{y}x{z} workgroups, "
                f"{len(self.bindings)} bindings, {len(self.constants)} constants")


@dataclasses.dataclass
class Stop:
    """Where and why the debugger stopped.

    ``reason``: ``entry``, ``step``, ``breakpoint``, ``watchpoint``, ``suspend``,
    ``position`` (time travel), ``start`` (reverse-continue found nothing
    earlier), ``interrupt``, ``condition-error``, ``done``, ``failed``.
    ``phase`` is ``before`` (about to execute the instruction at ``position``)
    or ``after`` (suspends and the end of the run); at a dispatch of native
    code, ``dispatch`` (about to run it) or ``dispatched`` (it ran), with
    ``dispatch`` describing it: such code has no instructions to step, so the
    stop sits inside the HAL call at the position of the instruction that made it.
    """

    reason: str
    position: int
    phase: str = "before"
    frames: list[StackFrame] = dataclasses.field(default_factory=list)
    breakpoints: list[Breakpoint] = dataclasses.field(default_factory=list)
    watch: list[tuple[Watchpoint, object, object]] = dataclasses.field(default_factory=list)
    changes: list[Change] = dataclasses.field(default_factory=list)
    results: list | None = None
    results_text: str | None = None
    status: object = None  # the VMStatus of a failed run
    message: str = ""
    # The top instruction with its operand values when the stop was made.
    text: str | None = None
    # The native dispatch stopped at (phases ``dispatch`` / ``dispatched``).
    dispatch: NativeDispatch | None = None
    # Eager copies for "what changed": top frame words/refs and globals per module.
    _words: list | None = dataclasses.field(default=None, repr=False)
    _refs: list | None = dataclasses.field(default=None, repr=False)
    _globals: dict | None = dataclasses.field(default=None, repr=False)

    @property
    def frame(self) -> StackFrame | None:
        return self.frames[-1] if self.frames else None

    @property
    def finished(self) -> bool:
        return self.reason in ("done", "failed")

    def __str__(self) -> str:
        head = f"[{self.reason}] position {self.position}"
        if self.phase == "after":
            head += " (after)"
        frame = self.frame
        if self.reason == "done":
            return f"{head}: returned {self.results_text.strip() if self.results_text else ''}"
        if self.reason == "failed":
            return f"{head}: {self.message}"
        if frame is None:
            return head
        if self.dispatch is not None:
            return (f"{head} ({'before' if self.phase == 'dispatch' else 'after'} native "
                    f"dispatch) {self.dispatch}" + "".join(
                        f"  breakpoint #{b.id}" for b in self.breakpoints))
        text = f"{head} {frame.name}"
        if self.text is not None:
            text += f"    {self.text}"
        elif frame.kind == "native":
            text += " (native suspend point)"
        return text + _marks(self.breakpoints, self.watch, self.message)


def _marks(breakpoints, watch, message: str) -> str:
    """What a stop's text adds after the instruction: breakpoints, watch changes, message."""
    text = ""
    if breakpoints:
        text += "  " + ", ".join(f"breakpoint #{b.id}" for b in breakpoints)
    for wp, old, new in watch:
        text += f"  watch #{wp.id}: {old} -> {new}"
    if message:
        text += f"  ({message})"
    return text


@dataclasses.dataclass
class Event:
    """What a listener receives (on the worker thread)."""

    kind: str
    position: int
    depth: int
    frame: object = None  # live VM frame (bytecode) where relevant
    k: int | None = None
    invocation: int = 0
    detail: dict = dataclasses.field(default_factory=dict)
    replay: bool = False  # re-executed (time travel) rather than new


# -- Globals -------------------------------------------------------------------------------


class GlobalsView:
    """A module state's globals: ``i32(offset)``, ``i64``, ``f32``, ``f64``, ``ref(ordinal)``."""

    def __init__(self, state):
        self.state = state

    def _word(self, offset: int, size: int) -> bytes:
        data = self.state.rwdata
        if offset < 0 or offset + size > len(data):
            raise DebugError(f"global offset {offset} out of range ({len(data)} bytes)")
        return bytes(data[offset:offset + size])

    def i32(self, offset: int) -> int:
        return int.from_bytes(self._word(offset, 4), "little", signed=True)

    def i64(self, offset: int) -> int:
        return int.from_bytes(self._word(offset, 8), "little", signed=True)

    def f32(self, offset: int) -> float:
        return float(np.frombuffer(self._word(offset, 4), np.float32)[0])

    def f64(self, offset: int) -> float:
        return float(np.frombuffer(self._word(offset, 8), np.float64)[0])

    def ref(self, ordinal: int):
        refs = self.state.global_refs
        if not 0 <= ordinal < len(refs):
            raise DebugError(f"no ref global {ordinal} ({len(refs)} ref globals)")
        return refs[ordinal]

    def read(self, type_: str, slot: int):
        return getattr(self, type_)(slot)

    @property
    def size(self) -> int:
        return len(self.state.rwdata)

    @property
    def ref_count(self) -> int:
        return len(self.state.global_refs)


# -- Fibers --------------------------------------------------------------------------------


@dataclasses.dataclass
class FiberView:
    """One fiber at a stop. ``frames`` outermost first (live while stopped here)."""

    id: int
    name: str
    function: str
    state: str
    reason: str = ""
    frames: list[StackFrame] = dataclasses.field(default_factory=list)
    results: list | None = None
    error: str | None = None

    @property
    def frame(self) -> StackFrame | None:
        return self.frames[-1] if self.frames else None

    def registers(self, level: int = -1) -> list[RegisterValue]:
        return self.frames[level].registers()

    def __str__(self) -> str:
        text = f"fiber {self.id} '{self.name}' {self.state}"
        if self.reason:
            text += f" ({self.reason})"
        if self.frame is not None:
            text += f" at {self.frame.name}"
        return text


@dataclasses.dataclass
class FiberStop:
    """Where and why the fiber debugger stopped.

    ``reason``: ``entry``, ``breakpoint``, ``watchpoint``, ``condition-error``,
    ``step``, ``position``/``start`` (time travel), ``fiber-done`` /
    ``fiber-failed`` (the stepped fiber ended), ``done`` (every fiber ended),
    ``failed`` (the scheduler raised, e.g. a deadlock). ``fiber``: the id of the
    fiber that stopped (None for entry/done/failed). ``position`` counts
    instructions of all fibers; ``step`` is the scheduler's slice count.
    """

    reason: str
    fiber: int | None
    position: int
    step: int
    fibers: list[FiberView]
    breakpoints: list[B.Breakpoint] = dataclasses.field(default_factory=list)
    text: str | None = None
    message: str = ""
    watch: list[tuple[B.Watchpoint, object, object]] = dataclasses.field(default_factory=list)

    @property
    def phase(self) -> str:
        """``before`` the instruction at ``position`` (a stop in a fiber), else ``after``."""
        return "after" if self.finished or self.reason in ("entry", "fiber-done",
                                                            "fiber-failed") else "before"

    @property
    def finished(self) -> bool:
        return self.reason in ("done", "failed")

    @property
    def view(self) -> FiberView | None:
        """The fiber that stopped."""
        return None if self.fiber is None else self.fibers[self.fiber]

    @property
    def frames(self) -> list[StackFrame]:
        view = self.view
        return view.frames if view is not None else []

    @property
    def frame(self) -> StackFrame | None:
        return self.frames[-1] if self.frames else None

    def __str__(self) -> str:
        head = f"[{self.reason}] position {self.position} step {self.step}"
        view = self.view
        if view is not None:
            head += f" fiber {view.id} '{view.name}'"
            if view.frame is not None:
                head += f" {view.frame.name}"
        if self.text:
            head += f"    {self.text}"
        return head + _marks(self.breakpoints, self.watch, self.message)


def fiber_frames(fiber: Fiber, top=None) -> list[StackFrame]:
    """The fiber's stack as StackFrames; ``top`` = (frame, k) where the hook stopped."""
    out: list[StackFrame] = []
    for f in fiber.invocation.stack:
        if type(f) is NativeFrame:
            out.append(StackFrame(len(out), "native", f.function.module.name, f.function.name,
                                  frame=f))
            continue
        code = f.code
        k = f.k
        if top is not None and top[0] is f:
            k = top[1]
        k = k if 0 <= k < len(code.pcs) else None
        out.append(StackFrame(len(out), "bytecode", code.module.name, code.name,
                              code.pcs[k] if k is not None else None, k, frame=f))
    return out


def fiber_view(fiber: Fiber, top=None) -> FiberView:
    state = fiber.state
    reason = ""
    if state == FiberState.WAITING:
        label, reason = "waiting", fiber.wait.describe()
    elif state == FiberState.READY and fiber.suspension is not None:
        label, reason = "suspended", fiber.suspension.reason
    else:
        label = state.value
    if state == FiberState.FAILED and fiber.error is not None:
        reason = fiber.error.status_text()
    module = getattr(fiber.function, "module", None)
    function = f"{module.name}.{fiber.function.name}" if module is not None else \
        fiber.function.name
    return FiberView(fiber.id, fiber.name, function, label, reason,
                     [] if fiber.finished else fiber_frames(fiber, top),
                     list(fiber.results) if fiber.results is not None else None,
                     fiber.error.status_text() if fiber.error is not None else None)
