"""Debugging a :class:`~iree_lab.vm.scheduler.Scheduler`: every fiber at every stop.

:class:`FiberDebugger` (also ``Debugger.for_scheduler(scheduler)``) runs the
scheduler's documented round-robin on a worker thread, like :class:`Debugger`
runs one invocation: each fiber's invocation gets a hook, and to stop the hook
blocks the worker inside the fiber's slice. The scheduler never sees a pause
(no fiber goes PAUSED, no slice ends early), so the order of slices, events
and results is exactly the order of a run without the debugger.

A :class:`FiberStop` names the fiber that stopped and shows every fiber
(:class:`FiberView`): id, name, state (``running``, ``ready`` = not started,
``suspended`` = yielded or deferred, ``waiting`` on a wait frame, ``done``,
``failed``) with the reason, and its call stack as the same
:class:`~iree_lab.debug.StackFrame` objects the single-invocation debugger
gives (typed registers per frame). ``step``/``next``/``finish`` act on the
fiber that stopped: other fibers run their turns in between (stopping only at
breakpoints) until that fiber executes its next instruction.

Scope: no time travel, watchpoints or listeners here; breakpoints of kinds
offset, block, source, opcode and import (optionally limited to one fiber,
conditions over ``i<N>``/``r<N>``/``pc``/``fiber`` like :class:`Debugger`'s).
A yieldable import call re-executes on every resume (IREE semantics), so an
import breakpoint stops again each time its fiber resumes there.
"""

from __future__ import annotations

import dataclasses
import queue
import threading

import numpy as np

from iree_lab.debug import breakpoints as B
from iree_lab.debug.program import DebugError
from iree_lab.debug.stops import StackFrame
from iree_lab.debug.trace import trace_line
from iree_lab.debug.values import RegisterValue
from iree_lab.vm.interpreter import NativeFrame
from iree_lab.vm.scheduler import DeadlockError, Fiber, FiberState, Scheduler
from iree_lab.vm.status import VMError

_INF = float("inf")
_ABORT = object()


class _Abandon(BaseException):
    """Unwinds an abandoned run (not an Exception: the VM must not catch it)."""


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

    ``reason``: ``entry``, ``breakpoint``, ``step``, ``fiber-done`` /
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
        if self.breakpoints:
            head += "  " + ", ".join(f"breakpoint #{b.id}" for b in self.breakpoints)
        if self.message:
            head += f"  ({self.message})"
        return head


def _frames_of(fiber: Fiber, top=None) -> list[StackFrame]:
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


def _view(fiber: Fiber, top=None) -> FiberView:
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
                     [] if fiber.finished else _frames_of(fiber, top),
                     list(fiber.results) if fiber.results is not None else None,
                     fiber.error.status_text() if fiber.error is not None else None)


class FiberDebugger:
    """Debugs every fiber of ``scheduler`` (spawn them first; see the module doc).

    Each fiber's invocation gets the debugger's hook (a fiber spawned with its
    own hook is refused). Commands return a :class:`FiberStop`.
    """

    def __init__(self, scheduler: Scheduler):
        self.scheduler = scheduler
        for fiber in scheduler.fibers:
            if fiber.invocation.hook is not None:
                raise DebugError(f"fiber {fiber.id} '{fiber.name}' already has a hook")
        self._breakpoints: dict[int, B.Breakpoint] = {}
        self._bp_fiber: dict[int, int | None] = {}
        self._next_id = 1
        self._version = 0
        self._hot: dict[int, tuple] = {}
        self._lines = B.LineTables()
        self.position = 0
        self._plan: tuple = ("continue",)
        self._to_worker: queue.Queue = queue.Queue()
        self._to_controller: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self.stop: FiberStop | None = None
        for fiber in scheduler.fibers:
            fiber.invocation.hook = self._make_hook(fiber)
        self.stop = self._make_stop("entry", None)

    # -- Breakpoints -------------------------------------------------------------------------

    def _add(self, bp: B.Breakpoint, fiber: int | None) -> B.Breakpoint:
        bp.id = self._next_id
        B.validate(bp)
        bp.compiled_condition()
        self._next_id += 1
        self._breakpoints[bp.id] = bp
        self._bp_fiber[bp.id] = fiber
        self._version += 1
        return bp

    def break_at(self, function: str, pc: int | None = None, *, block: int | None = None,
                 fiber: int | None = None, condition: str | None = None,
                 ignore: int = 0) -> B.Breakpoint:
        """Breakpoint at ``function+pc`` or block ``^bbN``; ``fiber``: only in that fiber."""
        if (pc is None) == (block is None):
            raise DebugError("give exactly one of pc= or block=")
        kind = "offset" if pc is not None else "block"
        return self._add(B.Breakpoint(0, kind, function=function, pc=pc, block=block,
                                      condition=condition, ignore=ignore), fiber)

    def break_opcode(self, opcode: str, *, fiber: int | None = None,
                     condition: str | None = None) -> B.Breakpoint:
        return self._add(B.Breakpoint(0, "opcode", opcode=opcode, condition=condition), fiber)

    def break_import(self, name: str, *, fiber: int | None = None,
                     condition: str | None = None) -> B.Breakpoint:
        return self._add(B.Breakpoint(0, "import", name=name, condition=condition), fiber)

    def break_source(self, file: str, line: int, *, fiber: int | None = None,
                     condition: str | None = None) -> B.Breakpoint:
        return self._add(B.Breakpoint(0, "source", file=file, line=line,
                                      condition=condition), fiber)

    def delete(self, ident: int) -> None:
        if self._breakpoints.pop(ident, None) is None:
            raise DebugError(f"no breakpoint #{ident}")
        self._version += 1

    @property
    def breakpoints(self) -> list[B.Breakpoint]:
        return list(self._breakpoints.values())

    def _hot_set(self, code) -> dict:
        entry = self._hot.get(id(code))
        if entry is None or entry[0] is not code or entry[1] != self._version:
            by_k: dict[int, list] = {}
            for bp in self._breakpoints.values():
                try:
                    ks = B.resolve(bp, code, self._lines)
                except DebugError:
                    ks = set()
                for k in ks:
                    by_k.setdefault(k, []).append(bp)
            entry = (code, self._version, by_k)
            self._hot[id(code)] = entry
        return entry[2]

    def _hits(self, fiber: Fiber, frame, k) -> list:
        hits = []
        for bp in self._hot_set(frame.code).get(k, ()):
            if not bp.enabled:
                continue
            only = self._bp_fiber.get(bp.id)
            if only is not None and only != fiber.id:
                continue
            code = bp.compiled_condition()
            if code is not None:
                try:
                    ok = eval(code, {"__builtins__": {}}, _scope(fiber, frame, k))  # noqa: S307
                except Exception:
                    ok = True  # a broken condition stops, like gdb
                if not ok:
                    continue
            bp.hits += 1
            if bp.hits > bp.ignore:
                hits.append(bp)
        return hits

    # -- The hook ----------------------------------------------------------------------------

    def _make_hook(self, fiber: Fiber):
        def hook(inv, frame, k):
            self.position += 1
            plan = self._plan
            reason = None
            hits = self._hits(fiber, frame, k) if k in self._hot_set(frame.code) else []
            if hits:
                reason = "breakpoint"
            elif plan[0] != "continue" and plan[1] == fiber.id and self.position > plan[2]:
                depth = len(inv.stack)
                if plan[0] == "into" or (plan[0] == "over" and depth <= plan[3]) or \
                        (plan[0] == "out" and depth < plan[3]):
                    reason = "step"
            if reason is not None:
                self._pause(self._make_stop(reason, fiber, (frame, k), hits))
            return False  # never PAUSED: the scheduler's slices stay as they are

        return hook

    def _make_stop(self, reason: str, fiber: Fiber | None, top=None, hits=(),
                   message: str = "") -> FiberStop:
        views = [_view(f, top if f is fiber else None) for f in self.scheduler.fibers]
        text = None
        if top is not None:
            text = trace_line(top[0], top[1]).split("]    ", 1)[1]
        return FiberStop(reason, fiber.id if fiber is not None else None, self.position,
                         self.scheduler.step_count, views, list(hits), text, message)

    def _pause(self, stop: FiberStop) -> None:
        self._to_controller.put(("stop", stop))
        command = self._to_worker.get()
        if command is _ABORT:
            raise _Abandon()
        self._plan = command

    # -- The worker --------------------------------------------------------------------------

    def _drive(self) -> None:
        try:
            with np.errstate(all="ignore"):
                self._drive_loop()
        except _Abandon:
            return
        except BaseException as e:  # a debugger or VM bug: report it, do not hang
            self._to_controller.put(("error", e))

    def _drive_loop(self) -> None:
        sched = self.scheduler
        message = ""
        try:
            while not sched.finished:
                fiber = sched.step()
                if fiber is None:
                    # Scheduler.run's rule: expire finite waits in virtual time, else deadlock.
                    if sched._expire_timeouts():
                        continue
                    raise DeadlockError(sched.waiting())
                plan = self._plan
                if plan[0] != "continue" and plan[1] == fiber.id and fiber.finished:
                    self._pause(self._make_stop(f"fiber-{fiber.state.value}", fiber))
        except VMError as e:
            message = str(e)
        reason = "failed" if message else "done"
        while True:
            self._pause(self._make_stop(reason, None, message=message))

    def _resume(self, plan: tuple) -> FiberStop:
        if self.stop is not None and self.stop.finished:
            return self.stop
        if self._thread is None:
            self._plan = plan
            self._thread = threading.Thread(target=self._drive, name="iree_lab-fibers",
                                            daemon=True)
            self._thread.start()
        else:
            self._to_worker.put(plan)
        kind, value = self._to_controller.get()
        if kind == "error":
            raise DebugError(f"the debugged scheduler raised {type(value).__name__}: "
                             f"{value}") from value
        self.stop = value
        return value

    def _step_plan(self, mode: str) -> tuple:
        stop = self.stop
        if stop is None or stop.fiber is None or stop.reason.startswith("fiber-"):
            return ("continue",)  # no fiber to step: run to the next breakpoint
        return (mode, stop.fiber, self.position, len(stop.view.frames))

    # -- Commands ----------------------------------------------------------------------------

    def step(self) -> FiberStop:
        """The stopped fiber's next instruction (into calls)."""
        return self._resume(self._step_plan("into"))

    def next(self) -> FiberStop:
        """The stopped fiber's next instruction in this frame or a caller."""
        return self._resume(self._step_plan("over"))

    def finish(self) -> FiberStop:
        """Until the stopped fiber returns from its current frame."""
        return self._resume(self._step_plan("out"))

    def cont(self) -> FiberStop:
        """Until a breakpoint in any fiber, or the end of every fiber."""
        return self._resume(("continue",))

    def fiber(self, ident: int) -> FiberView:
        return self.stop.fibers[ident]

    def close(self) -> None:
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._to_worker.put(_ABORT)
            thread.join(timeout=30)
        self._thread = None
        for fiber in self.scheduler.fibers:
            fiber.invocation.hook = None

    def __enter__(self) -> FiberDebugger:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _scope(fiber: Fiber, frame, k) -> dict:
    """Names a breakpoint condition sees: i<N> (i32), r<N>, pc, fiber, function."""
    regs = frame.registers
    scope = {"pc": frame.code.pcs[k], "fiber": fiber.id, "function": frame.code.name}
    for slot in range(regs.i32_count):
        scope[f"i{slot}"] = regs.i32(slot)
    for slot in range(regs.ref_count):
        scope[f"r{slot}"] = regs.RR[slot]
    return scope


__all__ = ["FiberDebugger", "FiberStop", "FiberView"]
