"""Debugging a :class:`~iree_lab.vm.scheduler.Scheduler`: every fiber at every stop.

:class:`FiberDebugger` (also ``Debugger.for_scheduler(scheduler)``) is a thin
front over :class:`~iree_lab.debug.engine.SchedulerEngine`, which runs the
scheduler's documented round robin on the engine's worker like
:class:`~iree_lab.debug.Debugger` runs one invocation: each fiber's invocation
gets a hook, and to stop the hook blocks the worker inside the fiber's slice.
The scheduler never sees a pause (no fiber goes PAUSED, no slice ends early),
so the order of slices, events and results is exactly the order of a run
without the debugger.

A :class:`FiberStop` names the fiber that stopped and shows every fiber
(:class:`FiberView`): id, name, state (``running``, ``ready`` = not started,
``suspended`` = yielded or deferred, ``waiting`` on a wait frame, ``done``,
``failed``) with the reason, and its call stack as the same
:class:`~iree_lab.debug.StackFrame` objects the single-invocation debugger
gives (typed registers per frame). ``step``/``next``/``finish`` act on the
fiber that stopped: other fibers run their turns in between (stopping only at
breakpoints) until that fiber executes its next instruction.

Breakpoints are the engine's one table (kinds offset, block, source, opcode,
import; ``fiber=`` limits one to a fiber; conditions over the same names as
:class:`Debugger`'s plus ``fiber``; a condition that raises stops with reason
``condition-error``), and so are watchpoints (a register watch compares each
fiber's frames with that fiber's last value; a global watch compares across
fibers). A yieldable import call re-executes on every resume (IREE
semantics), so an import breakpoint stops again each time its fiber resumes there.

Time travel (``goto``, ``back``, ``reverse_continue``) re-executes the
deterministic round robin: from the latest snapshot before the target (taken
every ``snapshot_interval`` instructions between slices, when the world can be
rolled back), else in a fresh scheduler that ``rebuild()`` returns (a new
Scheduler over new module instances with the same fibers spawned, like the
one given). Going forward needs neither.
"""

from __future__ import annotations

from collections.abc import Callable

from iree_lab.debug.engine import (
    BreakpointCommands,
    BreakpointTable,
    Plan,
    PlanMode,
    SchedulerEngine,
    StopReason,
    Timeline,
)
from iree_lab.debug.program import DebugError
from iree_lab.debug.stops import FiberStop, FiberView
from iree_lab.vm.scheduler import Scheduler


class FiberDebugger(BreakpointCommands):
    """Debugs every fiber of ``scheduler`` (spawn them first; see the module doc).

    Each fiber's invocation gets the debugger's hook (a fiber spawned with its
    own hook is refused). Commands return a :class:`FiberStop`. ``rebuild``:
    returns a fresh, identically spawned scheduler (to travel back where no
    snapshot reaches). ``snapshot_interval`` (0: none), ``max_snapshots`` and
    ``snapshot_max_bytes`` as for :class:`~iree_lab.debug.Debugger`.
    """

    has_fibers = True

    def __init__(self, scheduler: Scheduler, rebuild: Callable[[], Scheduler] | None = None,
                 *, snapshot_interval: int = 20_000, max_snapshots: int = 64,
                 snapshot_max_bytes: int = 1 << 28):
        self.rebuild = rebuild
        self.snapshot_interval = snapshot_interval
        self.max_snapshots = max_snapshots
        self.snapshot_max_bytes = snapshot_max_bytes
        self.table = BreakpointTable()
        self.timeline = Timeline()
        self._engine = self._driver(scheduler)
        self.worlds_built = 1
        self.restores = 0
        self.stop: FiberStop | None = None
        self.stop = self._engine.make_stop(StopReason.ENTRY)

    @property
    def scheduler(self) -> Scheduler:
        """The scheduler being debugged (a rebuilt one after travelling back)."""
        return self._engine.scheduler

    @property
    def position(self) -> int:
        return self._engine.position

    @property
    def snapshot_note(self) -> str:
        """Why the last snapshot could not be taken ("" when every one could)."""
        return self.timeline.snapshot_note

    def _driver(self, scheduler: Scheduler) -> SchedulerEngine:
        return SchedulerEngine(scheduler, self.table, self.timeline,
                               snapshot_interval=self.snapshot_interval,
                               max_snapshots=self.max_snapshots,
                               snapshot_max_bytes=self.snapshot_max_bytes)

    def _locations(self):
        return self.scheduler.context.modules, False

    # -- Driving the worker ------------------------------------------------------------------

    def _resume(self, plan: Plan) -> FiberStop:
        if self.stop is not None and self.stop.finished and plan.mode != PlanMode.POSITION:
            return self.stop
        engine = self._engine
        engine.resume(plan)
        stop = engine.worker.wait(doing="running the scheduler")
        top = stop.frame
        self.timeline.arrived(stop.position, stop.phase,
                              (stop.fiber, top.name if top is not None else None),
                              stop.finished)
        self.stop = stop
        return stop

    def _step_plan(self, mode: PlanMode) -> Plan:
        stop = self.stop
        if stop is None or stop.fiber is None or stop.reason.startswith("fiber-"):
            return Plan(PlanMode.CONTINUE)  # no fiber to step: run to the next breakpoint
        return Plan(mode, start=self.position, depth=len(stop.view.frames), fiber=stop.fiber)

    def _back_to(self, position: int) -> None:
        """Rolls back to a point before the instruction at ``position``: the latest
        snapshot that has it ahead, else a rebuilt world at the start."""
        snap = self._engine.best_snapshot(position)
        if snap is None:
            self._new_world()
            return
        self._engine.restore(snap)
        self.restores += 1

    def _new_world(self) -> SchedulerEngine:
        if self.rebuild is None:
            raise DebugError("travelling back re-executes the scheduler: give "
                             "FiberDebugger(scheduler, rebuild=...) a function that returns "
                             "a fresh scheduler with the same fibers spawned")
        scheduler = self.rebuild()
        old = self._engine
        engine = self._driver(scheduler)
        old.detach()
        self._engine = engine
        self.worlds_built += 1
        self.table.restore_counts({"hits": {}, "watch_hits": {}})  # counted again
        return engine

    # -- Commands ----------------------------------------------------------------------------

    def step(self) -> FiberStop:
        """The stopped fiber's next instruction (into calls)."""
        return self._resume(self._step_plan(PlanMode.INTO))

    def next(self) -> FiberStop:
        """The stopped fiber's next instruction in this frame or a caller."""
        return self._resume(self._step_plan(PlanMode.OVER))

    def finish(self) -> FiberStop:
        """Until the stopped fiber returns from its current frame."""
        return self._resume(self._step_plan(PlanMode.OUT))

    def cont(self) -> FiberStop:
        """Until a breakpoint or watchpoint in any fiber, or the end of every fiber."""
        return self._resume(Plan(PlanMode.CONTINUE))

    def goto(self, position: int, *, reason: StopReason | None = None) -> FiberStop:
        """Travels to ``position`` (before its instruction), backwards or forwards."""
        position = max(1, int(position))
        current = self.stop
        if current.position == position and current.phase == "before":
            return current
        if position <= current.position or current.finished:
            self._back_to(position)
        return self._resume(Plan(PlanMode.POSITION, start=self.position, target=position,
                                 reason=reason))

    def back(self, count: int = 1) -> FiberStop:
        """Step back: the stop before the instruction ``count`` positions earlier."""
        current = self.stop
        target = current.position - max(1, count) + (1 if current.phase == "after" else 0)
        return self.goto(max(1, target), reason=StopReason.STEP)

    def reverse_continue(self) -> FiberStop:
        """Runs backwards to the previous breakpoint or watchpoint hit (or the start)."""
        current = self.stop
        end = current.position + (1 if current.phase == "after" else 0)
        self._back_to(1)
        hits = self._engine.scan(end)
        if not hits:
            return self.goto(1, reason=StopReason.START)
        return self.goto(hits[-1])

    def fiber(self, ident: int) -> FiberView:
        return self.stop.fibers[ident]

    def close(self) -> None:
        self._engine.detach()

    def __enter__(self) -> FiberDebugger:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["FiberDebugger", "FiberStop", "FiberView"]
