"""The debugger engine: one controller/worker protocol, one breakpoint table, two drivers.

:class:`~iree_lab.debug.Debugger` (one invocation) and
:class:`~iree_lab.debug.FiberDebugger` (a Scheduler's fibers) are thin fronts
over the pieces here:

* :class:`Worker`: the controller/worker protocol. The debugged code runs on a
  worker thread; to stop, a hook blocks it in :meth:`Worker.pause` and hands a
  stop to the caller, whose next command (a :class:`Plan`) unblocks it.
* :class:`BreakpointTable`: breakpoints and watchpoints (ids, location
  validation, enable/delete, temporary ones), listeners, the versioned per
  function hot sets the hooks test, and the one condition policy
  (:meth:`BreakpointTable.hits`: hit counts, ``ignore``, a condition that raises
  stops with reason ``condition-error``). Conditions and ``print`` expressions
  evaluate in a :class:`Scope`.
* :class:`Timeline`: positions reached across every world built for one
  debugger (the determinism check of re-execution, ``Event.replay``).
* Two drivers on the worker: :class:`InvocationEngine` runs one invocation
  (snapshots, lifted dispatches, counting runs, native dispatch stops) and
  :class:`SchedulerEngine` a Scheduler's round robin (every fiber's invocation
  gets the hook; the scheduler never sees a pause).

Plan modes, stop reasons and event kinds are string enums: they compare equal
to their text (``stop.reason == "breakpoint"``).
"""

from __future__ import annotations

import ast
import bisect
import dataclasses
import enum
import fnmatch
import queue
import threading
import weakref
from collections.abc import Callable, Mapping

import numpy as np

from iree_lab.debug import breakpoints as B
from iree_lab.debug import snapshot as S
from iree_lab.debug.program import DebugError
from iree_lab.debug.stops import (
    LINE_TABLES,
    Event,
    FiberStop,
    GlobalsView,
    NativeDispatch,
    StackFrame,
    Stop,
    fiber_view,
)
from iree_lab.debug.trace import trace_line
from iree_lab.debug.values import trace_ref_text
from iree_lab.hal.native import NativeExecutable
from iree_lab.hal.vmvx_module import RestartWorkgroup
from iree_lab.vm import InvocationState
from iree_lab.vm.interpreter import Counting, NativeFrame
from iree_lab.vm.registers import slot_word
from iree_lab.vm.value import i32

_INF = float("inf")
ABORT = object()
_DISPATCH_CCONV = "0rrriiiiiiiii_v"
# How many stop positions are remembered to detect a replay that diverged.
_HISTORY_LIMIT = 100_000


class PlanMode(enum.StrEnum):
    """What the worker runs to: a step, the next stop, or a position (time travel)."""

    INTO = "into"
    OVER = "over"
    OUT = "out"
    CONTINUE = "continue"
    POSITION = "position"  # to ``Plan.target``
    SCAN = "scan"  # to ``Plan.target``, noting every breakpoint/watchpoint hit on the way


class StopReason(enum.StrEnum):
    """Why a stop was made (see :class:`~iree_lab.debug.Stop` and ``FiberStop``)."""

    ENTRY = "entry"
    STEP = "step"
    BREAKPOINT = "breakpoint"
    WATCHPOINT = "watchpoint"
    SUSPEND = "suspend"
    POSITION = "position"
    START = "start"
    INTERRUPT = "interrupt"
    CONDITION_ERROR = "condition-error"
    DONE = "done"
    FAILED = "failed"
    SCAN = "scan"  # internal: a scan reached its end
    FIBER_DONE = "fiber-done"
    FIBER_FAILED = "fiber-failed"


class EventKind(enum.StrEnum):
    """What a listener's :class:`~iree_lab.debug.Event` reports."""

    CALL = "call"
    RETURN = "return"
    IMPORT_CALL = "import_call"
    IMPORT_RETURN = "import_return"
    DISPATCH = "dispatch"
    SUSPEND = "suspend"
    RESUME = "resume"
    DONE = "done"
    FAILED = "failed"
    INSTRUCTION = "instruction"


_TRAVEL = (PlanMode.POSITION, PlanMode.SCAN)


@dataclasses.dataclass
class Plan:
    """A command for the worker."""

    mode: PlanMode
    start: int = 0  # the position the command was given at
    depth: int = 0  # the stack depth then (over/out)
    target: int = 0  # position/scan: where to stop
    reason: StopReason | None = None  # overrides the stop reason at the target
    fiber: int | None = None  # the fiber a step acts on (fiber debugger)


class Abandon(BaseException):
    """Unwinds an abandoned run (not an Exception: the VM must not catch it)."""


# -- The controller/worker protocol --------------------------------------------------------


class Worker:
    """A worker thread that runs debugged code and blocks in :meth:`pause` to stop.

    Only the worker touches the program's objects while it runs; the controller
    reads them only while the worker is blocked in a stop.
    """

    def __init__(self, name: str):
        self.name = name
        self.thread: threading.Thread | None = None
        self.to_worker: queue.Queue = queue.Queue()
        self.to_controller: queue.Queue = queue.Queue()

    @property
    def started(self) -> bool:
        return self.thread is not None

    def start(self, body: Callable[[], None]) -> None:
        def main():
            try:
                with np.errstate(all="ignore"):
                    body()
            except Abandon:
                return
            except BaseException as e:  # a debugger or VM bug: report it, do not hang
                self.to_controller.put(("error", e))

        self.thread = threading.Thread(target=main, name=self.name, daemon=True)
        self.thread.start()

    def pause(self, stop):
        """(worker) Hands ``stop`` to the controller; returns the next command."""
        self.to_controller.put(("stop", stop))
        command = self.to_worker.get()
        if command is ABORT:
            raise Abandon()
        return command

    def send(self, command) -> None:
        """(controller) Unblocks the worker with ``command``."""
        self.to_worker.put(command)

    def wait(self, on_interrupt: Callable[[], None] | None = None, doing: str = "running"):
        """(controller) The next stop; Ctrl-C while waiting calls ``on_interrupt``."""
        while True:
            try:
                kind, item = self.to_controller.get(timeout=0.25)
            except queue.Empty:
                if self.thread is not None and not self.thread.is_alive():
                    raise DebugError("the debugger's worker ended unexpectedly") from None
                continue
            except KeyboardInterrupt:
                if on_interrupt is None:
                    raise
                on_interrupt()
                continue
            if kind == "error":
                self.thread = None
                raise DebugError(f"internal error while {doing}: {type(item).__name__}: "
                                 f"{item}") from item
            return item

    def abort(self) -> None:
        """Stops the worker (blocked in a stop) and waits for it to unwind."""
        thread = self.thread
        if thread is None:
            return
        if thread.is_alive():
            self.to_worker.put(ABORT)
            thread.join(timeout=30)
        self.thread = None
        # Drain anything the worker left for the controller.
        while not self.to_controller.empty():
            self.to_controller.get_nowait()


# -- Breakpoints, watchpoints, listeners ---------------------------------------------------


_SAFE_BUILTINS = {"__builtins__": {}}


def evaluate(code, scope: Mapping):
    """The one evaluator of conditions and ``print`` expressions (no builtins but the
    scope's own)."""
    return eval(code, _SAFE_BUILTINS, scope)  # noqa: S307


class BreakpointTable:
    """Everything that can stop or observe a run, shared by the worlds one debugger builds.

    ``version`` changes whenever what the hooks must test changes; hot sets
    (per compiled function: instruction index -> breakpoints) are cached per
    world and rebuilt when it moved on.
    """

    def __init__(self):
        self.breakpoints: dict[int, B.Breakpoint] = {}
        self.watchpoints: dict[int, B.Watchpoint] = {}
        self.next_id = 1
        self.version = 0
        self.lines = LINE_TABLES
        self.listeners: list[tuple[Callable, bool]] = []
        self.instruction_listeners = False
        self.progress_listeners: list[Callable] = []

    # -- The registry -------------------------------------------------------------------------

    def add(self, bp: B.Breakpoint, modules=None, dispatches: bool = False) -> B.Breakpoint:
        """Registers ``bp`` after checking it (and its location in ``modules`` when given)."""
        bp.id = self.next_id
        B.validate(bp)
        if modules is not None:
            self.check_location(bp, modules, dispatches)
        self.next_id += 1
        self.breakpoints[bp.id] = bp
        self.version += 1
        return bp

    def check_location(self, bp: B.Breakpoint, modules, dispatches: bool) -> None:
        """Offset/block breakpoints must name a function and a valid place in it
        (any function when ``dispatches``: it may be a dispatch function loaded later)."""
        if bp.kind not in ("offset", "block"):
            return
        from iree_lab.vm import BytecodeModule

        found = False
        for module in modules:
            if not isinstance(module, BytecodeModule):
                continue
            for ordinal in range(len(module.source.functions)):
                code = B.StaticCode(module, ordinal)
                if B.function_matches(bp.function, code):
                    B.resolve(bp, code, self.lines)  # raises DebugError when invalid
                    found = True
        if not found and not dispatches:
            raise DebugError(f"no function {bp.function!r} in the program")

    def add_watch(self, wp: B.Watchpoint) -> B.Watchpoint:
        wp.id = self.next_id
        self.next_id += 1
        self.watchpoints[wp.id] = wp
        self.version += 1
        return wp

    def delete(self, ident: int) -> None:
        if self.breakpoints.pop(ident, None) is None and \
                self.watchpoints.pop(ident, None) is None:
            raise DebugError(f"no breakpoint or watchpoint #{ident}")
        self.version += 1

    def enable(self, ident: int, enabled: bool = True) -> None:
        item = self.breakpoints.get(ident) or self.watchpoints.get(ident)
        if item is None:
            raise DebugError(f"no breakpoint or watchpoint #{ident}")
        item.enabled = enabled
        self.version += 1

    def remove_temporary(self, hits) -> None:
        """Temporary breakpoints are deleted when they stop."""
        for bp in hits:
            if bp.temporary:
                self.breakpoints.pop(bp.id, None)
                self.version += 1

    def set_listeners(self, listeners: list[tuple[Callable, bool]]) -> None:
        self.listeners = listeners
        self.instruction_listeners = any(i for _, i in listeners)
        self.version += 1  # import calls are events: they join the hot sets

    def counts(self) -> dict:
        """Hit counts (restored with the state they belong to by time travel)."""
        return {"hits": {i: bp.hits for i, bp in self.breakpoints.items()},
                "watch_hits": {i: wp.hits for i, wp in self.watchpoints.items()}}

    def restore_counts(self, counts: dict) -> None:
        for i, bp in self.breakpoints.items():
            bp.hits = counts["hits"].get(i, 0)
        for i, wp in self.watchpoints.items():
            wp.hits = counts["watch_hits"].get(i, 0)

    # -- Hot sets -----------------------------------------------------------------------------

    def hot_entry(self, cache: dict, code) -> tuple:
        """``(code, version, hot indices, {k: [breakpoints]})`` of ``code`` in ``cache``
        (one per world; callers may append derived items)."""
        entry = cache.get(id(code))
        version = self.version
        if entry is None or entry[0] is not code or entry[1] != version:
            by_k: dict[int, list] = {}
            if self.listeners:
                # Import calls are events: their instructions take the slow path.
                for k, control in enumerate(code.controls):
                    if control is not None and control.kind == "call" and control.is_import:
                        by_k.setdefault(k, [])
            for bp in self.breakpoints.values():
                if not bp.enabled:
                    continue
                try:
                    ks = B.resolve(bp, code, self.lines)
                except DebugError:
                    ks = set()
                for k in ks:
                    by_k.setdefault(k, []).append(bp)
            entry = (code, version, frozenset(by_k), by_k)
            cache[id(code)] = entry
        return entry

    def conditions_false(self, cache: dict, frame, k) -> bool:
        """Whether every breakpoint at ``k`` has a register-only condition that is false now
        (then the hit needs no bookkeeping). Anything else takes the full path."""
        entry = cache.get(id(frame.code))
        if entry is None or entry[0] is not frame.code or entry[1] != self.version:
            return False
        candidates = entry[3].get(k)
        if not candidates:
            return False
        regs = None
        for bp in candidates:
            if not bp.enabled or bp.kind == "dispatch":
                return False
            names = bp.register_names()
            if names is None:
                return False
            if regs is None:
                regs = frame.registers
            try:
                values = {name: regs.i32(n) for name, n in names}
                if evaluate(bp.compiled_condition(), values):
                    return False
            except Exception:
                return False
        return True

    # -- The condition policy -----------------------------------------------------------------

    @staticmethod
    def hits(candidates, scope: Callable[[], Mapping], accept=None) -> list:
        """The breakpoints of ``candidates`` that stop here: enabled, accepted, condition
        true (evaluated in ``scope()``), past their ``ignore`` count. A condition that
        raises stops like gdb: its entry is ``(bp, message)`` (see :func:`outcome`)."""
        out: list = []
        for bp in candidates:
            if not bp.enabled or (accept is not None and not accept(bp)):
                continue
            code = bp.compiled_condition()
            if code is not None:
                try:
                    ok = evaluate(code, scope())
                except Exception as e:  # a bad condition stops, like gdb
                    bp.hits += 1
                    out.append((bp, f"condition of breakpoint #{bp.id} raised "
                                    f"{type(e).__name__}: {e}"))
                    continue
                if not ok:
                    continue
            bp.hits += 1
            if bp.hits > bp.ignore:
                out.append(bp)
        return out


def outcome(hits, watch) -> tuple[StopReason | None, str, list]:
    """(reason, message, breakpoints) of what :meth:`BreakpointTable.hits` and the
    watchpoints found: a raising condition first, then breakpoints, then watchpoints."""
    error = next((h for h in hits if isinstance(h, tuple)), None)
    bps = [h[0] if isinstance(h, tuple) else h for h in hits]
    if error is not None:
        return StopReason.CONDITION_ERROR, error[1], bps
    return _hit_reason(bps, watch), "", bps


def _hit_reason(hits, watch) -> StopReason | None:
    if hits:
        return StopReason.BREAKPOINT
    if watch:
        return StopReason.WATCHPOINT
    return None


class Timeline:
    """Positions reached across every world one debugger builds."""

    def __init__(self):
        self.furthest = 0
        self.history: dict[int, tuple] = {}
        self.snapshot_note = ""  # why the last snapshot could not be taken

    def arrived(self, position: int, phase: str, where, finished: bool) -> None:
        """Notes a stop; a position reached again must show the same place (determinism)."""
        key = (phase, where)
        seen = self.history.get(position)
        if seen is not None and seen[0] == phase and seen != key and not finished and \
                phase == "before":
            raise DebugError(f"re-execution diverged at position {position}: was "
                             f"{seen[1]}, now {key[1]} (a nondeterministic import? see "
                             "Program(replay_imports=...))")
        if len(self.history) < _HISTORY_LIMIT:
            self.history[position] = key
        self.furthest = max(self.furthest, position)


# -- Expression scopes ---------------------------------------------------------------------


class Scope(Mapping):
    """Names a condition or ``print`` expression can use, resolved on lookup.

    Built per evaluation, so it computes nothing up front: conditions run on
    every hit of their breakpoint.
    """

    __slots__ = ("engine", "inv", "frame", "k", "_regs")

    _BUILTINS = {"abs": abs, "min": min, "max": max, "len": len, "int": int, "float": float,
                 "bool": bool, "hex": hex, "round": round, "any": any, "all": all}  # fmt: skip
    _NAMES = ("i32", "i64", "f32", "f64", "word", "ref", "g", "pc", "function", "module",
              "position", "workgroup", "fiber")

    def __init__(self, engine, inv, frame, k):
        self.engine = engine
        self.inv = inv
        self.frame = frame
        self.k = k
        self._regs = None

    @property
    def regs(self):
        if self._regs is None:
            self._regs = self.frame.registers
        return self._regs

    def __getitem__(self, name: str):
        first = name[0]
        if (first == "i" or first == "r") and name[1:].isdigit() and name not in _TYPE_NAMES:
            n = int(name[1:])
            regs = self.regs
            if first == "i" and n < len(regs.R):
                return regs.i32(n)
            if first == "r" and n < len(regs.RR):
                return regs.ref(n)
            raise KeyError(name)
        frame = self.frame
        if name == "pc":
            return frame.code.pcs[self.k] if self.k is not None else None
        if name == "function":
            return frame.code.name
        if name == "module":
            return frame.code.module.name
        if name == "position":
            return self.engine.position
        if name == "workgroup":
            return self.engine.workgroup_of(self.inv)
        if name == "fiber":
            fiber = self.engine.fiber_of(self.inv)
            if fiber is None:
                raise KeyError(name)  # only the fiber debugger has fibers
            return fiber
        if name == "g":
            return GlobalsView(frame.code.state)
        regs = self.regs
        if name == "i32":
            return regs.i32
        if name == "i64":
            return regs.i64
        if name == "f32":
            return lambda n: float(regs.f32(n))
        if name == "f64":
            return regs.f64
        if name == "word":
            return regs.word
        if name == "ref":
            return regs.ref
        value = self._BUILTINS.get(name)
        if value is not None:
            return value
        raise KeyError(name)

    def __iter__(self):
        return iter(self._NAMES + tuple(self._BUILTINS))

    def __len__(self) -> int:
        return len(self._NAMES) + len(self._BUILTINS)


_TYPE_NAMES = frozenset({"i32", "i64"})



# -- Driver 1: one invocation --------------------------------------------------------------


class InvocationEngine:
    """One built world of a :class:`~iree_lab.debug.Debugger`, the hook installed in
    it, its worker and snapshots.

    ``options``: the debugger front (its public settings: ``program``,
    ``dispatches``, ``init``, ``replay``, ``break_on_suspend``, snapshot
    limits); ``table`` and ``timeline`` outlive the engine (time travel builds
    new worlds). ``counting``: let the VM count straight-line runs while quiet; ``probed``:
    with registers in Python locals (vm.probed).
    """

    def __init__(self, options, table: BreakpointTable, timeline: Timeline,
                 counting: bool = True, probed: bool = True):
        # Weak: the worker thread keeps the engine alive, and a debugger dropped without
        # close() must still be collected (its finalizer then stops the worker).
        self.dbg = weakref.proxy(options)
        self.table = table
        self.timeline = timeline
        self.counting = counting
        self.probed = probed
        self.limit = [_INF]
        # [position, counting limit]: the VM counts straight-line runs without calling
        # the hook while running quiet below the limit (vm.interpreter.Counting).
        self.cell = [0, 0]
        self.reenter = False  # a stop ended: make the invocation pause once (see hook)
        self.snapshot_wanted = False
        # Whether calls and returns need no bookkeeping (running free: no step depth,
        # listeners or watchpoints), so the hook only swaps breakpoint sets on them.
        self.quiet = [False]
        self.active = False
        self.plan = Plan(PlanMode.POSITION, target=1)
        self.worker = Worker("iree_lab-debugger")
        self.snapshots: dict[int, S.Snapshot] = {}
        self.snapshot_positions: list[int] = []
        self.snapshots_enabled = options.snapshot_interval > 0
        self.snapshot_interval = options.snapshot_interval
        self.next_snapshot = 1
        self.last_frame = None
        self.last_depth = 0
        self.pending_import = None
        self.finished = False
        self.interrupt = False
        self.scan_hits: list[int] | None = None
        self.dispatches: dict[int, tuple] = {}  # id(inv) -> (inv, function name, workgroup)
        # Workgroups under the hook that may restart lifted: id(inv) -> (function name,
        # lifted function, workgroup, start position); restart_at: the next one's start.
        self.restartable: dict[int, tuple] = {}
        self.restart_at: tuple | None = None
        self.watch_values: dict[int, object] = {}
        self.hot_cache: dict[int, tuple] = {}
        self.snapshot_failures = 0
        self.hook, self.set_position, self.reset_frame, self._position = self._make_hook()
        self.world = None
        self.inv = None
        self.invs = []
        if options.init:
            # The modules' __init functions are debugged too: the worker builds the
            # world with the hook active (see _drive_loop).
            self.active = True
            return
        self._build()
        self.set_position(0)
        self.active = True

    def _build(self) -> None:
        dbg = self.dbg
        self.world = dbg.program.build(hook=self.hook,
                                       dispatch_hook=self.hook if dbg.dispatches else None,
                                       dispatch_gate=self.dispatch_gate,
                                       replay=dbg.replay)
        if dbg.dispatches:
            self.world.device.dispatch_observers.append(self.on_dispatch)
        self.inv = self.world.invoke(hook=self.hook)
        if self.counting:
            self.inv.counting = Counting(self.cell, self.count_plan, probed=self.probed)
        self.invs = [self.inv]
        for fn in self.table.progress_listeners:
            self.world.session.device.progress.add_listener(fn)

    # -- Dispatches without a stop run lifted ------------------------------------------------

    def dispatch_gate(self, name: str, lifted, instructions: int, workgroup=None,
                      restartable: bool = False) -> bool:
        """Whether a VMVX dispatch (or, with ``workgroup``, one of its workgroups) may run
        lifted to numpy instead of under the hook.

        Only when nothing could stop or be reported inside it: running free or to a
        position beyond it, no listeners or watchpoints, no breakpoint that can resolve
        into the dispatch function (in that workgroup). Then the position advances by the
        ``instructions`` the VM would have executed (exact: positions stay those of a
        hooked run). Refused for a ``restartable`` workgroup (see
        :meth:`_restart_workgroup`), its start position is kept for the invocation that
        runs it under the hook.
        """
        self.restart_at = None
        if not self._may_lift(name, lifted, workgroup):
            if restartable and workgroup is not None:
                self.restart_at = (name, tuple(workgroup), self.position, lifted)
            return False
        position = self.position
        plan = self.plan
        stop = plan.target if plan.mode in _TRAVEL else _INF
        if position + instructions >= stop:
            return False
        self.set_position(position + instructions)
        return True

    def _may_lift(self, name: str, lifted, workgroup) -> bool:
        """Nothing could stop or be reported in this dispatch (workgroup) while running
        free, travelling (the target position aside) or stepping over / out of code in
        the debugged invocation (a dispatch's instructions are deeper than any frame of
        it, so such a step cannot end inside one)."""
        table = self.table
        if not self.active or self.interrupt or table.listeners or table.watchpoints:
            return False
        plan = self.plan
        if plan.mode in (PlanMode.OVER, PlanMode.OUT):
            if self.inv is None or plan.depth > len(self.inv.stack):
                return False
        elif plan.mode not in _TRAVEL and plan.mode != "continue":
            return False
        return not any(bp.enabled and B.may_stop_in(bp, name, lifted.insts, workgroup)
                       for bp in table.breakpoints.values())

    def _restart_workgroup(self, inv) -> None:
        """After a stop inside a VMVX workgroup that may run lifted from its start
        (:attr:`iree_lab.hal.vmvx_lift.Prepared.restartable`), continuing where nothing
        can stop in the rest of it drops its VM frames and rewinds the position to its
        start: the HAL then runs it lifted and counts its instructions (the position at
        its end is the hooked run's), instead of stepping the rest under the hook."""
        start = self.restartable.get(id(inv))
        if start is None or inv is not self.invs[-1] or self.plan.mode != "continue" \
                or self.interrupt or not self._may_lift(start[0], start[1], start[2]):
            return
        self.invs.pop()
        self.dispatches.pop(id(inv), None)
        del self.restartable[id(inv)]
        self.set_position(start[3])
        raise RestartWorkgroup

    # -- The hook ----------------------------------------------------------------------------

    def _make_hook(self):
        limit = self.limit
        cell = self.cell
        cur_frame = None
        cur_inv = None
        hot: frozenset | set = frozenset()
        engine = self

        def hook(inv, frame, k):
            position = cell[0] + 1
            cell[0] = position
            if position >= limit[0] or frame is not cur_frame or k in hot:
                return slow(inv, frame, k)
            return False

        quiet = self.quiet
        hot_set = self.hot_set

        conditions_false = self.conditions_false

        def slow(inv, frame, k):
            nonlocal cur_frame, cur_inv, hot
            if not engine.active:
                cur_frame = frame
                hot = frozenset()
                return False
            position = cell[0]
            if quiet[0] and frame is cur_frame and inv is cur_inv and position < limit[0] \
                    and conditions_false(frame, k):
                # Running free past breakpoints whose conditions do not hold: nothing to do.
                return False
            if quiet[0] and inv is cur_inv and position < limit[0] and frame is not cur_frame:
                # A call or return while running free: only the breakpoint set changes.
                cur_frame = frame
                hot = hot_set(frame.code)
                if k not in hot:
                    return False
            pause = engine.on_instruction(inv, frame, k)
            cur_frame = frame
            cur_inv = inv
            hot = hot_set(frame.code)
            engine.snapshot_wanted = pause
            if engine.reenter and inv is engine.inv:
                # A stop may have changed the breakpoints: the VM's counting run was
                # compiled for the old ones, so pause to let it pick a new one.
                engine.reenter = False
                return True
            return pause

        def set_position(p: int) -> None:
            nonlocal cur_frame, cur_inv
            cell[0] = p
            cur_frame = None
            cur_inv = None

        def get_position() -> int:
            return cell[0]

        def reset_frame() -> None:
            nonlocal cur_frame, cur_inv
            cur_frame = None
            cur_inv = None

        return hook, set_position, reset_frame, get_position

    @property
    def position(self) -> int:
        """Instructions executed so far in the debugged call (the hook's counter)."""
        return self._position()

    def depth(self) -> int:
        invs = self.invs
        return sum(len(i.stack) for i in invs) + len(invs) - 1

    def hot_set(self, code):
        return self.table.hot_entry(self.hot_cache, code)[2]

    def count_plan(self, code) -> tuple:
        """``(hot indices, guards)`` of ``code`` for the VM's counting runs: guards skip
        the hook where every breakpoint's register-only condition is false (exactly
        where ``conditions_false`` would send the hook back without bookkeeping)."""
        hot = self.hot_set(code)
        entry = self.hot_cache[id(code)]
        if len(entry) == 4:
            guards = []
            for k in sorted(entry[3]):
                guard = _register_guard(entry[3][k])
                if guard is not None:
                    guards.append((k, guard))
            entry = entry + ((hot, tuple(guards)),)
            self.hot_cache[id(code)] = entry
        return entry[4]

    def _emit(self, kind: str, frame=None, k=None, **detail) -> None:
        listeners = self.table.listeners
        if not listeners:
            return
        event = Event(EventKind(kind), self.position, self.last_depth, frame, k, len(self.invs) - 1,
                      detail, replay=self.position <= self.timeline.furthest)
        for fn, instructions in list(listeners):
            if kind != "instruction" or instructions:
                fn(event)

    def on_instruction(self, inv, frame, k) -> bool:
        """The slow path of the hook; returns True to pause for a snapshot."""
        pos = self.position
        invs = self.invs
        if not invs or inv is not invs[-1]:
            self._switch_invocation(inv, frame)
        if frame is not self.last_frame:
            self._frame_changed(frame, k)
        pending = self.pending_import
        if pending is not None and pending[0] is frame:
            self.pending_import = None
            self._emit("import_return", frame, k, name=pending[1])
        code = frame.code
        control = code.controls[k]
        if control is not None and control.kind == "call" and control.is_import:
            name = code.module.imports[control.callee].full_name
            self.pending_import = (frame, name)
            self._emit("import_call", frame, k, name=name)
        if self.table.instruction_listeners:
            self._emit("instruction", frame, k)

        hits = self._breakpoint_hits(inv, frame, k)
        watch = self._watch_changes(frame) if self.table.watchpoints else []
        plan = self.plan
        reason, message, hits = decide(plan, pos, hits, watch, self.scan_hits, self.interrupt,
                                       lambda: pos > plan.start and _stepped(plan, self.depth()))
        if reason is not None:
            self.interrupt = False
            if reason != StopReason.SCAN:
                self.table.remove_temporary(hits)
            stop = self.make_stop(reason, frame, k, hits=hits, watch=watch, message=message)
            self.pause(stop)
            if self.restartable:
                self._restart_workgroup(inv)
        self._update_limit()
        return self._snapshot_due(inv)

    def on_dispatch(self, phase: str, executable, function: int, state) -> None:
        """The device's dispatch observer: stops at dispatches of native code.

        VMVX dispatches need nothing here (their bytecode runs under the hook).
        Before a native dispatch: a matching dispatch breakpoint or a step into
        stops; after it, a step into stops again to show what it wrote.
        """
        if not self.active or not isinstance(executable, NativeExecutable):
            return
        plan = self.plan
        if plan.mode in _TRAVEL:
            return
        info = executable.function_info(function)
        hits = []
        if phase == "before":
            for bp in list(self.table.breakpoints.values()):
                if not bp.enabled or bp.kind != "dispatch" or bp.condition:
                    continue
                if not fnmatch.fnmatchcase(info.name, bp.name or "*"):
                    continue
                if bp.workgroup is not None and not all(
                        0 <= w < int(c) for w, c in zip(bp.workgroup, state.workgroup_count,
                                                        strict=True)):
                    continue
                bp.hits += 1
                if bp.hits > bp.ignore:
                    hits.append(bp)
        if hits:
            reason = StopReason.BREAKPOINT
            self.table.remove_temporary(hits)
        elif self.interrupt:
            reason = StopReason.INTERRUPT
        elif plan.mode == PlanMode.INTO:
            reason = StopReason.STEP
        else:
            return
        self.interrupt = False
        dispatch = NativeDispatch(
            executable.format, executable.library_name, function, info.name,
            tuple(int(c) for c in state.workgroup_count),
            tuple(int(v) or 1 for v in state.workgroup_size),
            tuple(int(c) for c in state.constants), [bytes(b) for b in state.bindings],
            executable)
        top = (executable.format, info.name)
        self.pause(self.make_stop(reason, hits=hits, dispatch=dispatch, dispatch_frame=top,
                                  phase="dispatch" if phase == "before" else "dispatched"))
        self._update_limit()

    def _update_limit(self) -> None:
        plan = self.plan
        pos = self.position
        mode = plan.mode
        if mode in _TRAVEL:
            limit = plan.target
        elif mode == "into" or self.pending_import is not None or self.table.watchpoints \
                or self.table.instruction_listeners:
            limit = pos + 1
        elif mode == "over" and self.depth() <= plan.depth:
            limit = pos + 1
        else:
            limit = _INF
        if self.pending_import is not None or self.table.instruction_listeners or \
                (self.table.watchpoints and mode in _TRAVEL):
            limit = pos + 1
        if self.snapshots_enabled and self.next_snapshot < limit:
            limit = self.next_snapshot
        self.limit[0] = limit
        quiet = mode in ("continue", "position", "scan") and not self.table.listeners \
            and not self.table.watchpoints
        self.quiet[0] = quiet
        # Counting skips frame changes, so only while quiet (stepping needs them).
        count_limit = limit if quiet else 0
        if self.cell[1] <= pos + 1 < count_limit:
            # The VM may have picked its plain runner (nothing to count): let it re-pick.
            self.reenter = True
        self.cell[1] = count_limit
        if self.interrupt:
            # Tested after the writes: a Ctrl-C (request_interrupt, controller thread)
            # landing while they are made must not be overwritten.
            self.slow_path()

    def _switch_invocation(self, inv, frame) -> None:
        invs = self.invs
        if inv in invs:
            while invs[-1] is not inv:
                invs.pop()
            return
        floor = 0 if self.inv is None else 1  # module __init calls come and go
        while len(invs) > floor and invs[-1].state in (InvocationState.DONE,
                                                       InvocationState.FAILED):
            invs.pop()
        invs.append(inv)
        fn = inv.function
        workgroup = None
        if fn.cconv is not None and fn.cconv.text == _DISPATCH_CCONV and frame.k == 0:
            R = frame.R
            workgroup = (int(R[0]) & 0xFFFFFFFF, int(R[1]) & 0xFFFFFFFF,
                         int(R[2]) & 0xFFFFFFFF)
        self.dispatches[id(inv)] = (inv, fn.name, workgroup)
        restart, self.restart_at = self.restart_at, None
        if restart is not None and restart[:2] == (fn.name, workgroup):
            self.restartable[id(inv)] = (fn.name, restart[3], workgroup, restart[2])
        if len(self.dispatches) > 64:
            live = {id(i) for i in invs}
            self.dispatches = {key: v for key, v in self.dispatches.items() if key in live}
            self.restartable = {key: v for key, v in self.restartable.items() if key in live}
        self._emit(EventKind.DISPATCH, frame, 0, function=fn.name, workgroup=workgroup)

    def _frame_changed(self, frame, k) -> None:
        previous = self.last_frame
        depth = self.depth()
        if self.table.listeners:
            if depth > self.last_depth:
                self.last_depth = depth
                self._emit("call", frame, k, function=frame.code.name)
            elif depth < self.last_depth:
                self.last_depth = depth
                self._emit("return", frame, k,
                           function=previous.code.name if previous is not None else None)
            elif previous is not None:
                self._emit("return", frame, k, function=previous.code.name)
                self._emit("call", frame, k, function=frame.code.name)
        self.last_depth = depth
        self.last_frame = frame

    def _breakpoint_hits(self, inv, frame, k) -> list:
        candidates = self.table.hot_entry(self.hot_cache, frame.code)[3].get(k)
        if not candidates:
            return []
        return self.table.hits(candidates, lambda: self.scope(inv, frame, k),
                               lambda bp: bp.kind != "dispatch" or self._in_dispatch(bp, inv))

    def _in_dispatch(self, bp, inv) -> bool:
        """Whether ``inv`` is at the start of a VMVX dispatch that ``bp`` names."""
        info = self.dispatches.get(id(inv))
        if info is None or len(inv.stack) != 1 or info[0] is not inv:
            return False
        if not fnmatch.fnmatchcase(info[1], bp.name or "*"):
            return False
        return bp.workgroup is None or tuple(bp.workgroup) == info[2]

    def conditions_false(self, frame, k) -> bool:
        return self.table.conditions_false(self.hot_cache, frame, k)

    def scope(self, inv, frame, k) -> Scope:
        return Scope(self, inv, frame, k)

    def workgroup_of(self, inv):
        info = self.dispatches.get(id(inv))
        return info[2] if info is not None and info[0] is inv else None

    @staticmethod
    def fiber_of(inv) -> None:
        return None

    def _watch_changes(self, frame) -> list:
        context = self.world.context if self.world is not None else None
        return watch_changes(self.table, self.watch_values, frame, context)

    def watch_added(self, wp, stop) -> None:
        """(controller, stopped) Notes the value a new watchpoint starts from."""
        top = stop.frame if stop is not None else None
        if top is None:
            return
        try:
            value = watch_read(wp, top.frame if top.kind == "bytecode" else None,
                               self.world.context if self.world is not None else None)
            if value is not _NOT_IN_SCOPE:
                self.watch_values[wp.id] = value
        except Exception:
            pass
        self.slow_path()

    def slow_path(self) -> None:
        """(controller) Make the hook take its slow path at the next instruction."""
        self.limit[0] = 0
        self.cell[1] = 0

    def request_interrupt(self) -> None:
        """(controller, Ctrl-C) Stop at the next instruction the hook sees."""
        self.interrupt = True
        self.slow_path()

    # -- Stops -------------------------------------------------------------------------------

    def frames(self) -> list[StackFrame]:
        out: list[StackFrame] = []
        invs = self.invs
        for level, inv in enumerate(invs):
            info = self.dispatches.get(id(inv)) if level else None
            workgroup = info[2] if info is not None and info[0] is inv else None
            for f in inv.stack:
                if type(f) is NativeFrame:
                    out.append(StackFrame(len(out), "native", f.function.module.name,
                                          f.function.name, invocation=level, frame=f))
                    continue
                code = f.code
                k = f.k if 0 <= f.k < len(code.pcs) else None
                out.append(StackFrame(len(out), "bytecode", code.module.name, code.name,
                                      code.pcs[k] if k is not None else None, k,
                                      invocation=level, workgroup=workgroup, frame=f))
            if level + 1 < len(invs) and inv.stack:
                top = inv.stack[-1]
                name = "?"
                if type(top) is not NativeFrame and 0 <= top.k < len(top.code.controls):
                    control = top.code.controls[top.k]
                    if control is not None and control.kind == "call" and control.is_import:
                        name = top.code.module.imports[control.callee].full_name
                module, _, function = name.partition(".")
                out.append(StackFrame(len(out), "import", module, function, invocation=level))
        return out

    def make_stop(self, reason, frame=None, k=None, *, hits=(), watch=(), message="",
                  phase="before", dispatch=None, dispatch_frame=None, **results) -> Stop:
        frames = self.frames()
        if frame is not None and frames and frames[-1].frame is frame and k is not None:
            top = frames[-1]
            top.k = k
            top.pc = frame.code.pcs[k]
        top = frames[-1] if frames else None
        text = words = refs = None
        if top is not None and top.kind == "bytecode":
            if top.k is not None:
                text = trace_line(top.frame, top.k).split("]    ", 1)[1]
            words = top.frame.registers.raw_words()
            refs = [trace_ref_text(r) for r in top.frame.RR]
        if dispatch_frame is not None:
            frames.append(StackFrame(len(frames), "dispatch", *dispatch_frame,
                                     invocation=len(self.invs)))
        return Stop(StopReason(reason), self.position, phase, frames, list(hits), list(watch),
                    message=message, text=text, dispatch=dispatch, _words=words, _refs=refs,
                    _globals=globals_copy(self.world.context if self.world is not None
                                          else None), **results)

    def pause(self, stop: Stop) -> None:
        """Hands ``stop`` to the controller and blocks until the next command."""
        self.plan = self.worker.pause(stop)
        self.reset_frame()
        self.reenter = True

    # -- Snapshots ---------------------------------------------------------------------------

    def _snapshot_due(self, inv) -> bool:
        if not self.snapshots_enabled or self.position < self.next_snapshot:
            return False
        if inv is not self.inv or len(self.invs) != 1:
            return False
        if any(type(f) is NativeFrame for f in inv.stack):
            self.next_snapshot = self.position + 1  # try again soon
            return False
        if self.position in self.snapshots:
            self.next_snapshot = self.position + self.snapshot_interval
            return False
        return True

    def take_snapshot(self) -> None:
        pos = self.position
        extra = {
            "position": pos,
            "depth": self.last_depth,
            **self.table.counts(),
            "watch_values": dict(self.watch_values),
            "cursor": self.world.replay.cursor if self.world.replay is not None else 0,
        }
        snap = try_snapshot(self, [self.inv, self.world.context, self.world.session], extra,
                            self.dbg.snapshot_max_bytes, first=pos == 1)
        if snap is not None:
            keep_snapshot(self, pos, snap, self.dbg.max_snapshots)

    def best_snapshot(self, target: int):
        i = bisect.bisect_right(self.snapshot_positions, target)
        if i == 0:
            return None
        pos = self.snapshot_positions[i - 1]
        return self.snapshots[pos]

    def restore(self, snap: S.Snapshot) -> None:
        """Rolls the world back (the worker must not be running)."""
        snap.restore()
        extra = snap.extra
        self.set_position(extra["position"])
        self.invs = [self.inv]
        self.last_frame = None
        self.last_depth = extra["depth"]
        self.pending_import = None
        self.finished = False
        self.interrupt = False
        self.dispatches = {}
        self.watch_values = dict(extra["watch_values"])
        self.table.restore_counts(extra)
        if self.world.replay is not None:
            self.world.replay.cursor = extra["cursor"]
        self.next_snapshot = extra["position"] + self.snapshot_interval
        self.limit[0] = _INF
        self.cell[1] = 0

    # -- The worker --------------------------------------------------------------------------

    def resume(self, plan: Plan) -> None:
        """(controller) Starts the invocation's worker with ``plan``, or resumes it."""
        if not self.worker.started:
            self.start_worker(plan)
        else:
            self.worker.send(plan)

    def start_worker(self, plan: Plan) -> None:
        self.plan = plan
        self._update_limit_for_start()
        self.worker.start(self._drive_loop)

    def scan(self, start: int, end: int) -> list[int]:
        """(controller) Positions in ``start``..``end`` - 1 where a breakpoint or watchpoint
        would stop, re-executing from ``start`` (0: a fresh world; 1: restored to entry)."""
        self.scan_hits = []
        if end <= start:
            return []
        if start == 1:
            # The entry instruction itself is not re-run by the hook: check it here.
            top = self.inv.stack[-1]
            if self._breakpoint_hits(self.inv, top, top.k) and end > 1:
                self.scan_hits.append(1)
        self.resume(Plan(PlanMode.SCAN, start=start, target=end))
        self.worker.wait(doing="scanning")
        return sorted(set(p for p in self.scan_hits if p < end))

    def _update_limit_for_start(self) -> None:
        # Before the first hook call of a run: make sure the hook takes the slow path.
        self.reset_frame()
        self.limit[0] = 0
        self.cell[1] = 0

    def _drive_loop(self) -> None:
        if self.world is None:
            from iree_lab.vm.status import VMError

            try:
                self._build()
            except VMError as e:  # an __init failed: the run ends here
                self.finished = True
                self.invs = []
                while True:
                    self.pause(self.make_stop(StopReason.FAILED, phase="after",
                                              message=str(e)))
            self._update_limit()
        inv = self.inv
        while True:
            state = inv.run()
            if state == InvocationState.PAUSED:
                if self.snapshot_wanted:
                    self.take_snapshot()
                self._update_limit()
                continue
            if state == InvocationState.SUSPENDED:
                self._emit(EventKind.SUSPEND, inv.stack[-1] if inv.stack else None)
                plan = self.plan
                if plan.mode not in _TRAVEL and (
                        plan.mode == PlanMode.INTO or self.dbg.break_on_suspend or
                        self.interrupt):
                    self.interrupt = False
                    self.pause(self.make_stop(StopReason.SUSPEND, phase="after"))
                    self._update_limit()
                self._emit(EventKind.RESUME, inv.stack[-1] if inv.stack else None)
                continue
            break
        self.finished = True
        self.invs = [inv]
        done = inv.state == InvocationState.DONE
        if done:
            self._emit(EventKind.DONE, results=inv.results)
        else:
            self._emit(EventKind.FAILED, status=inv.status)
        while True:
            if done:
                try:
                    text = self.world.format_results(inv.results)
                except Exception as e:  # printing must not break the stop
                    text = f"<unprintable results: {e}>"
                stop = self.make_stop(StopReason.DONE, phase="after", results=inv.results,
                                      results_text=text)
            else:
                stop = self.make_stop(StopReason.FAILED, phase="after", status=inv.status,
                                      message=inv.status.status_text()
                                      if inv.status is not None else "")
            self.pause(stop)

    def abort(self) -> None:
        """Stops the worker (blocked in a stop) and waits for it to unwind."""
        self.worker.abort()

    @property
    def thread(self) -> threading.Thread | None:
        return self.worker.thread


def try_snapshot(engine, roots, extra: dict, max_bytes: int, first: bool):
    """A snapshot of ``roots``, or None where the world cannot be rolled back (noted in the
    timeline; a driver gives up on snapshots when the ``first`` one fails, or after 8)."""
    try:
        return S.take(roots, extra=extra, max_bytes=max_bytes)
    except S.NotSnapshottable as e:
        engine.snapshot_failures += 1
        engine.timeline.snapshot_note = str(e)
        if first or engine.snapshot_failures > 8:
            engine.snapshots_enabled = False
        engine.next_snapshot = extra["position"] + engine.snapshot_interval
        return None


def keep_snapshot(engine, pos: int, snap: S.Snapshot, limit: int) -> None:
    """Stores ``snap`` (taken at ``pos``) in a driver's ``snapshots``; past ``limit`` keeps
    the entry snapshot, every other one and the newest, and spaces new ones wider."""
    engine.snapshots[pos] = snap
    bisect.insort(engine.snapshot_positions, pos)
    engine.next_snapshot = pos + engine.snapshot_interval
    if len(engine.snapshots) > limit:
        keep = engine.snapshot_positions[::2]
        if engine.snapshot_positions[-1] not in keep:
            keep.append(engine.snapshot_positions[-1])
        for p in engine.snapshot_positions:
            if p not in keep:
                del engine.snapshots[p]
        engine.snapshot_positions = keep
        engine.snapshot_interval *= 2


def decide(plan: Plan, position: int, hits, watch, scan_hits, interrupt: bool,
           stepped: Callable[[], bool]) -> tuple[StopReason | None, str, list]:
    """The one stop policy of both drivers: (reason or None, message, breakpoints) at the
    instruction at ``position`` given the table's ``hits`` and the ``watch`` changes.

    Travelling (position/scan plans) stops only at the target, noting hits on the
    way when scanning; otherwise a hit (a raising condition first), an interrupt,
    or the end of a step (``stepped()``) stops.
    """
    mode = plan.mode
    if mode in _TRAVEL:
        bps = [h[0] if isinstance(h, tuple) else h for h in hits]
        if position >= plan.target:
            if mode == PlanMode.SCAN:
                return StopReason.SCAN, "", bps
            return plan.reason or _hit_reason(bps, watch) or StopReason.POSITION, "", bps
        if mode == PlanMode.SCAN and (bps or watch):
            scan_hits.append(position)
        return None, "", bps
    reason, message, bps = outcome(hits, watch)
    if reason is None and interrupt:
        reason = StopReason.INTERRUPT
    elif reason is None and stepped():
        reason = StopReason.STEP
    return reason, message, bps


def _stepped(plan: Plan, depth: int) -> bool:
    """Whether a step plan ends at an instruction at stack ``depth`` (past its start)."""
    mode = plan.mode
    return mode == PlanMode.INTO or (mode == PlanMode.OVER and depth <= plan.depth) or \
        (mode == PlanMode.OUT and depth < plan.depth)


# -- Driver 2: a Scheduler's round robin ---------------------------------------------------


class SchedulerEngine:
    """One scheduler world of a fiber debugger, its hooks and its worker.

    Every fiber's invocation gets a hook that counts the position (instructions
    of all fibers), tests the fiber's breakpoints (``Breakpoint.fiber`` limits
    one to a fiber) and watchpoints through the shared table and blocks the
    worker to stop; it never returns PAUSED, so the scheduler's slices, events
    and results are those of a run without the debugger. The world is rebuilt
    (``rebuild()``: a fresh Scheduler with the same fibers spawned) to travel
    back: the round robin is deterministic, so re-executing to a position
    reaches the same state. Snapshots (every ``snapshot_interval`` instructions, at
    slice boundaries, of everything reachable from the scheduler) shorten the
    way back; a world that cannot be snapshotted (a suspended native generator,
    ...) is re-executed from a rebuilt one.
    """

    def __init__(self, scheduler, table: BreakpointTable, timeline: Timeline, *,
                 snapshot_interval: int = 0, max_snapshots: int = 64,
                 snapshot_max_bytes: int = 1 << 28):
        for fiber in scheduler.fibers:
            if fiber.invocation.hook is not None:
                raise DebugError(f"fiber {fiber.id} '{fiber.name}' already has a hook")
        self.scheduler = scheduler
        self.table = table
        self.timeline = timeline
        self.position = 0
        self.plan = Plan(PlanMode.CONTINUE)
        self.worker = Worker("iree_lab-fibers")
        self.hot_cache: dict[int, tuple] = {}
        self.fibers = {id(f.invocation): f for f in scheduler.fibers}
        # Global watchpoints compare across fibers; register ones within each fiber.
        self.watch_values: dict[int, object] = {}
        self.fiber_watch_values: dict[int, dict] = {f.id: {} for f in scheduler.fibers}
        self.scan_hits: list[int] = []
        self.snapshots: dict[int, S.Snapshot] = {}
        self.snapshot_positions: list[int] = []
        self.snapshots_enabled = snapshot_interval > 0
        self.snapshot_interval = snapshot_interval
        self.max_snapshots = max(2, max_snapshots)
        self.snapshot_max_bytes = snapshot_max_bytes
        self.next_snapshot = 0
        self.snapshot_failures = 0
        for fiber in scheduler.fibers:
            fiber.invocation.hook = self._make_hook(fiber)

    # -- The hook ----------------------------------------------------------------------------

    def _make_hook(self, fiber):
        table = self.table
        accept = fiber.id

        def hook(inv, frame, k):
            self.position = position = self.position + 1
            candidates = table.hot_entry(self.hot_cache, frame.code)[3].get(k)
            hits = table.hits(candidates, lambda: Scope(self, inv, frame, k),
                              lambda bp: bp.fiber is None or bp.fiber == accept) \
                if candidates else []
            watch = self._watch_changes(fiber, frame) if table.watchpoints else []
            plan = self.plan
            reason, message, hits = decide(
                plan, position, hits, watch, self.scan_hits, False,
                lambda: plan.fiber == accept and position > plan.start and
                _stepped(plan, len(inv.stack)))
            if reason is not None:
                if reason != StopReason.SCAN:
                    table.remove_temporary(hits)
                self.pause(self.make_stop(reason, fiber, (frame, k), hits, watch, message))
            return False  # never PAUSED: the scheduler's slices stay as they are

        return hook

    def _watch_changes(self, fiber, frame) -> list:
        context = self.scheduler.context
        out = []
        registers = self.fiber_watch_values[fiber.id]
        for wp in self.table.watchpoints.values():
            values = registers if wp.kind == "register" else self.watch_values
            out += watch_changes(self.table, values, frame, context, only=wp)
        return out

    def watch_added(self, wp, stop) -> None:
        """(controller, stopped) Notes the value a new watchpoint starts from."""
        fiber = stop.fiber if stop is not None else None
        top = stop.frame if stop is not None else None
        values = self.fiber_watch_values.get(fiber) if wp.kind == "register" else \
            self.watch_values
        if values is None:
            return
        try:
            value = watch_read(wp, top.frame if top is not None and top.kind == "bytecode"
                               else None, self.scheduler.context)
            if value is not _NOT_IN_SCOPE:
                values[wp.id] = value
        except Exception:
            pass

    def reset_frame(self) -> None:
        """Nothing cached per frame here (the table's version covers the hot sets)."""

    def scope(self, inv, frame, k) -> Scope:
        return Scope(self, inv, frame, k)

    @staticmethod
    def workgroup_of(inv) -> None:
        return None

    def fiber_of(self, inv) -> int | None:
        fiber = self.fibers.get(id(inv))
        return fiber.id if fiber is not None else None

    # -- Stops -------------------------------------------------------------------------------

    def scan(self, end: int) -> list[int]:
        """(controller) Positions before ``end`` where a breakpoint or watchpoint would
        stop, re-executing from the current position."""
        self.scan_hits = []
        self.resume(Plan(PlanMode.SCAN, start=self.position, target=end))
        self.worker.wait(doing="scanning")
        return sorted(set(p for p in self.scan_hits if p < end))

    def make_stop(self, reason, fiber=None, top=None, hits=(), watch=(), message=""):
        views = [fiber_view(f, top if f is fiber else None) for f in self.scheduler.fibers]
        text = None
        if top is not None:
            text = trace_line(top[0], top[1]).split("]    ", 1)[1]
        return FiberStop(StopReason(reason), fiber.id if fiber is not None else None,
                         self.position, self.scheduler.step_count, views, list(hits), text,
                         message, list(watch))

    def pause(self, stop) -> None:
        self.plan = self.worker.pause(stop)

    # -- The worker --------------------------------------------------------------------------

    def resume(self, plan: Plan) -> None:
        """(controller) Starts the round robin on the worker with ``plan``, or resumes it."""
        if not self.worker.started:
            self.plan = plan
            self.worker.start(self._drive_loop)
        else:
            self.worker.send(plan)

    def _drive_loop(self) -> None:
        from iree_lab.vm.scheduler import DeadlockError
        from iree_lab.vm.status import VMError

        sched = self.scheduler
        message = ""
        try:
            while not sched.finished:
                if self.snapshots_enabled and self.position >= self.next_snapshot:
                    self.take_snapshot()
                fiber = sched.step()
                if fiber is None:
                    # Scheduler.run's rule: expire finite waits in virtual time, else deadlock.
                    if sched._expire_timeouts():
                        continue
                    raise DeadlockError(sched.waiting())
                plan = self.plan
                if plan.mode not in _TRAVEL and plan.mode != PlanMode.CONTINUE and \
                        plan.fiber == fiber.id and fiber.finished:
                    self.pause(self.make_stop(f"fiber-{fiber.state.value}", fiber))
        except VMError as e:
            message = str(e)
        reason = StopReason.FAILED if message else StopReason.DONE
        while True:
            self.pause(self.make_stop(reason, message=message))

    def abort(self) -> None:
        self.worker.abort()

    # -- Snapshots (between slices) ----------------------------------------------------------

    def take_snapshot(self) -> None:
        pos = self.position
        extra = {"position": pos, **self.table.counts(),
                 "watch_values": dict(self.watch_values),
                 "fiber_watch_values": {f: dict(v)
                                        for f, v in self.fiber_watch_values.items()}}
        snap = try_snapshot(self, [self.scheduler], extra, self.snapshot_max_bytes,
                            first=pos == 0)
        if snap is not None:
            keep_snapshot(self, pos, snap, self.max_snapshots)

    def best_snapshot(self, target: int):
        """The latest snapshot from which the instruction at ``target`` is still ahead."""
        if not self.snapshots_enabled:
            return None
        i = bisect.bisect_right(self.snapshot_positions, target - 1)
        return self.snapshots[self.snapshot_positions[i - 1]] if i else None

    def restore(self, snap: S.Snapshot) -> None:
        """(controller) Rolls the scheduler back to ``snap`` (stops the worker first)."""
        self.worker.abort()
        snap.restore()
        extra = snap.extra
        self.position = extra["position"]
        self.table.restore_counts(extra)
        self.watch_values = dict(extra["watch_values"])
        self.fiber_watch_values = {f: dict(v) for f, v in extra["fiber_watch_values"].items()}
        self.next_snapshot = self.position + self.snapshot_interval

    def detach(self) -> None:
        """Stops the worker and takes the hooks out of the scheduler's fibers."""
        self.worker.abort()
        for fiber in self.scheduler.fibers:
            fiber.invocation.hook = None


# Condition syntax a guard may compile: the eval of the same text on the same register
# values gives the same truth value (or raises where the guard answers "take the hook").
_GUARD_NODES = (
    ast.Expression, ast.Compare, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.IfExp, ast.Name,
    ast.Load, ast.Constant, ast.And, ast.Or, ast.Add, ast.Sub, ast.Mult, ast.Div,
    ast.FloorDiv, ast.Mod, ast.LShift, ast.RShift, ast.BitOr, ast.BitXor, ast.BitAnd,
    ast.Invert, ast.Not, ast.UAdd, ast.USub, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt,
    ast.GtE,
)


def _register_guard(bps):
    """``fn(R)``: true when every breakpoint in ``bps`` has a false register-only condition
    (i32 views of the frame's registers); None when any breakpoint is not of that kind."""
    if not bps:
        return None
    tests = []
    inline = []
    slots: dict[str, int] = {}
    for bp in bps:
        if not bp.enabled or bp.kind == "dispatch":
            return None
        names = bp.register_names()
        if names is None:
            return None
        tree = ast.parse(bp.condition.strip(), mode="eval")
        for node in ast.walk(tree):
            if not isinstance(node, _GUARD_NODES):
                return None
            if isinstance(node, ast.Constant) and type(node.value) not in (int, float, bool):
                return None
        tests.append(f"({ast.unparse(tree.body)})")
        slots.update(names)
        for node in ast.walk(tree):  # the same test over slot-named values, for inlining
            if isinstance(node, ast.Name):
                node.id = f"_g{dict(names)[node.id]}"
        inline.append(f"({ast.unparse(tree.body)})")
    lines = ["def guard(R):", "    try:"]
    for name, slot in sorted(slots.items()):
        lines += [f"        {name} = R[{slot}]",
                  f"        {name} = (({name} + 0x80000000) & 0xFFFFFFFF) - 0x80000000 "
                  f"if type({name}) is int else _word_i32({name})"]
    lines += [f"        return not ({' or '.join(tests)})", "    except Exception:",
              "        return False"]
    namespace = {"__builtins__": {}, "Exception": Exception, "type": type, "int": int,
                 "_word_i32": lambda v: i32(slot_word(v))}
    exec(compile("\n".join(lines) + "\n", "<breakpoint guard>", "exec"), namespace)  # noqa: S102
    guard = namespace["guard"]
    # For vm.probed: the R[slot] it reads, and its test over values named _g<slot> (the
    # slots' i32 views) that probed runs inline (raising where the guard returns False).
    guard.reads = tuple(sorted(set(slots.values())))
    guard.inline = f"not ({' or '.join(inline)})"
    return guard


_NOT_IN_SCOPE = object()


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    if isinstance(a, tuple) and isinstance(b, tuple):
        return a == b
    return a is b if not isinstance(a, int | float | str | type(None)) else a == b


def _show(value):
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "ref":
        return value[1]
    return value


# -- The breakpoint commands both fronts offer --------------------------------------------


class BreakpointCommands:
    """Breakpoint and watchpoint commands over a front's ``table``.

    The front provides ``table``, ``_engine`` (its current driver, or None),
    ``stop`` and ``_locations()`` (the modules to check locations in, or None
    before they exist, and whether functions may come from dispatches).
    ``fiber=`` limits a breakpoint to one fiber (the fiber debugger only).
    """

    has_fibers = False

    def _add(self, bp: B.Breakpoint) -> B.Breakpoint:
        if bp.fiber is not None and not self.has_fibers:
            raise DebugError("fiber= applies to the fiber debugger (Debugger.for_scheduler)")
        modules, dispatches = self._locations()
        return self.table.add(bp, modules, dispatches)

    def break_at(self, function: str, pc: int | None = None, *, block: int | None = None,
                 condition: str | None = None, ignore: int = 0, temporary: bool = False,
                 fiber: int | None = None) -> B.Breakpoint:
        """Breakpoint at ``function+pc`` or at block ``^bbN`` of ``function``."""
        if (pc is None) == (block is None):
            raise DebugError("give exactly one of pc= or block=")
        kind = "offset" if pc is not None else "block"
        return self._add(B.Breakpoint(0, kind, function=function, pc=pc, block=block,
                                      condition=condition, ignore=ignore, temporary=temporary,
                                      fiber=fiber))

    def break_source(self, file: str, line: int, *, condition: str | None = None,
                     ignore: int = 0, fiber: int | None = None) -> B.Breakpoint:
        """Breakpoint where execution enters ``file:line`` (from the debug database)."""
        return self._add(B.Breakpoint(0, "source", file=file, line=int(line),
                                      condition=condition, ignore=ignore, fiber=fiber))

    def break_opcode(self, opcode: str, *, condition: str | None = None,
                     ignore: int = 0, fiber: int | None = None) -> B.Breakpoint:
        """Breakpoint before every instruction with this opcode name (patterns allowed)."""
        return self._add(B.Breakpoint(0, "opcode", opcode=opcode, condition=condition,
                                      ignore=ignore, fiber=fiber))

    def break_import(self, name: str, *, condition: str | None = None,
                     ignore: int = 0, fiber: int | None = None) -> B.Breakpoint:
        """Breakpoint at every call of the import ``name`` (e.g. ``hal.command_buffer.dispatch``)."""
        return self._add(B.Breakpoint(0, "import", name=name, condition=condition,
                                      ignore=ignore, fiber=fiber))

    def watch_register(self, function: str, register: str | int, type: str | None = None
                       ) -> B.Watchpoint:
        """Watch a register (``"i3"``, ``"r1"``, or a slot with ``type``) in ``function``
        (with fibers: in each fiber's frames of it, compared per fiber)."""
        kind, slot = parse_register(register, type)
        return self._add_watch(B.Watchpoint(0, "register", kind, slot, function=function))

    def watch_global(self, offset: int, type: str = "i32", module: str | None = None
                     ) -> B.Watchpoint:
        """Watch a global: rwdata ``offset`` read as ``type``, or ref global ``offset``."""
        if type not in ("i32", "i64", "f32", "f64", "ref"):
            raise DebugError(f"unknown global type {type!r}")
        return self._add_watch(B.Watchpoint(0, "global", type, int(offset), module=module))

    def _add_watch(self, wp: B.Watchpoint) -> B.Watchpoint:
        self.table.add_watch(wp)
        if self._engine is not None:
            self._engine.watch_added(wp, self.stop)
        return wp

    def delete(self, ident: int) -> None:
        self.table.delete(ident)
        self._touch()

    def enable(self, ident: int, enabled: bool = True) -> None:
        self.table.enable(ident, enabled)
        self._touch()

    def disable(self, ident: int) -> None:
        self.enable(ident, False)

    def _touch(self) -> None:
        if self._engine is not None:
            self._engine.reset_frame()

    @property
    def breakpoints(self) -> list[B.Breakpoint]:
        return list(self.table.breakpoints.values())

    @property
    def watchpoints(self) -> list[B.Watchpoint]:
        return list(self.table.watchpoints.values())


def parse_register(register: str | int, type_: str | None) -> tuple[str, int]:
    """``"i3"`` -> (i32, 3); ``"i2:3"`` -> (i64, 2); ``"r1"`` -> (ref, 1); ints need type."""
    if isinstance(register, int):
        return (type_ or "i32"), register
    text = register.strip().lstrip("%")
    try:
        if text.startswith("r"):
            return "ref", int(text[1:])
        if text.startswith("i"):
            if ":" in text:
                lo, hi = text[1:].split(":")
                if int(hi) != int(lo) + 1 or int(lo) % 2:
                    raise ValueError
                return (type_ if type_ in ("i64", "f64") else "i64"), int(lo)
            return (type_ or "i32"), int(text[1:])
    except ValueError:
        pass
    raise DebugError(f"not a register: {register!r} (use i3, i2:3 or r1)")


# -- Watchpoints and globals ---------------------------------------------------------------


def watch_read(wp: B.Watchpoint, frame, context):
    """The watched value now (``_NOT_IN_SCOPE`` for a register outside its function)."""
    if wp.kind == "register":
        if frame is None or type(frame) is NativeFrame or \
                not B.function_matches(wp.function, frame.code):
            return _NOT_IN_SCOPE
        regs = frame.registers
        if wp.type == "ref":
            obj = regs.ref(wp.slot)
            return ("ref", trace_ref_text(obj) or "(null)")
        return read_typed(regs, wp.type, wp.slot)
    view = GlobalsView(module_state(context, wp.module))
    if wp.type == "ref":
        return ("ref", trace_ref_text(view.ref(wp.slot)) or "(null)")
    return view.read(wp.type, wp.slot)


def watch_changes(table: BreakpointTable, values: dict, frame, context, only=None) -> list:
    """``(watchpoint, old, new)`` of every enabled watchpoint (or just ``only``) whose value
    changed since ``values`` (updated; the first reading of one only notes its value)."""
    out = []
    for wp in (only,) if only is not None else table.watchpoints.values():
        if not wp.enabled:
            continue
        try:
            value = watch_read(wp, frame, context)
        except Exception:
            continue
        if value is _NOT_IN_SCOPE:
            continue
        key = wp.id
        if key not in values:
            values[key] = value
            continue
        old = values[key]
        if not _same(old, value):
            values[key] = value
            wp.hits += 1
            out.append((wp, _show(old), _show(value)))
    return out


def module_state(context, module: str | None):
    """The state of bytecode module ``module`` (default: the last one) in ``context``."""
    from iree_lab.vm import BytecodeModule

    if context is None:
        raise DebugError("module globals are available once the modules are registered "
                         "(the debugger is inside a module's __init)")
    candidates = [(m, s) for m, s in zip(context.modules, context.states, strict=True)
                  if isinstance(m, BytecodeModule) and (module is None or m.name == module)]
    if not candidates:
        raise DebugError(f"no bytecode module {module!r} in the program")
    return candidates[-1][1]


def globals_copy(context) -> dict:
    """Every bytecode module's globals now (rwdata bytes, ref texts), for "what changed"."""
    from iree_lab.vm import BytecodeModule

    out = {}
    if context is None:
        return out
    for module, state in zip(context.modules, context.states, strict=True):
        if isinstance(module, BytecodeModule):
            out[module.name] = (bytes(state.rwdata),
                                [trace_ref_text(r) for r in state.global_refs])
    return out


def read_typed(regs, type_: str, slot: int):
    if type_ == "i32":
        return regs.i32(slot)
    if type_ == "i64":
        return regs.i64(slot)
    if type_ == "f32":
        return float(regs.f32(slot))
    if type_ == "f64":
        return regs.f64(slot)
    raise DebugError(f"unknown register type {type_!r}")
