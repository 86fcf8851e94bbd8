"""Fibers and a cooperative scheduler: several invocations interleaved, IREE-style.

IREE runs every call as a fiber: an :class:`~iree_lab.vm.interpreter.Invocation`
with its own stack of frames that can stop and continue later
(``iree_vm_begin_invoke`` / ``iree_vm_resume_invoke`` in
``runtime/src/iree/vm/invocation.c``). A fiber stops with DEFERRED in one of
three ways; every record here names them with the same words:

``yield``
    The bytecode executed ``vm.yield``. It branches (with its remap) before it
    stops, so the frame's pc already is the resume point: the first instruction
    of the target block. Nothing else is saved.
``deferred``
    A native import called through ``vm.call.yieldable`` (or
    ``vm.call.variadic.yieldable``) suspended without saying what it waits
    for. The caller's pc stays on the call, which "re-executes" on resume to
    collect the import's results; ``return_registers`` remembers where they go;
    the import's own frame (a Python generator) stays on the stack above it.
``wait``
    The import suspended with a :class:`WaitFrame` (IREE's
    ``iree_vm_wait_frame_t``), e.g. ``hal.fence.await``: the fiber is resumed
    only once the wait resolves (or times out).

The wait-source protocol (so this layer never imports the HAL): a native
import written as a Python generator may ``yield`` a :class:`WaitFrame` of
:class:`WaitSource` objects. A source names what it waits on (``resource``,
e.g. ``"hal.semaphore #3"``, and the ``value`` to reach) and answers
``query()`` with IREE's wait-source codes: OK once resolved, DEFERRED while
pending, any other code when it failed. Before resuming the import the
scheduler stores the outcome in ``WaitFrame.wait_status`` (OK, the failure
code, or DEADLINE_EXCEEDED), like IREE's ``iree_vm_wait_result_t``; the
generator then returns its results or raises. A plain ``yield`` (no frame) is
a ``deferred`` suspension: the fiber is ready again next round. Drivers that
know nothing of waits (``Context.call``) simply resume the generator, which
must then re-check its condition itself.

Scheduling order (deterministic): fibers are kept in creation order and run
round-robin. Each :meth:`Scheduler.step` runs one *slice* of the next fiber
after the previous one (wrapping around) that can run: READY (new, yielded or
deferred), PAUSED by a hook, or WAITING on a wait frame that has resolved (it
is polled when its turn comes). A slice lasts until the fiber yields, waits,
pauses, completes or fails. So a yielded fiber runs again next round, after
every other fiber had its turn, and a fiber woken by a signal in this round
runs in its own turn.

Time: the logical clock counts slices (slice ``n`` runs from step ``n`` to
``n + 1``). Finite wait timeouts use virtual milliseconds that pass only when
no fiber can run: the scheduler then jumps to the earliest deadline and those
waits end with DEADLINE_EXCEEDED, so results never depend on machine speed.
When every live fiber waits without a deadline, nothing can ever signal them:
:meth:`Scheduler.run` raises :class:`DeadlockError` naming each fiber and what
it waits on (IREE would block forever). The fibers stay as they were, so the
host may signal something and call ``run()`` again.

Every transition is recorded as a plain :class:`FiberEvent` (logical step and
wall time); :meth:`Scheduler.timeline` derives per-fiber :class:`FiberSpan`
records (running / ready / waiting / paused) that
:mod:`iree_lab.views.fibers` draws. Typical use::

    sched = Scheduler(context)
    a = sched.spawn("worker", 3, name="A")
    b = sched.spawn("worker", 5, name="B")
    sched.run()
    a.result(), b.result()
    sched.timeline().spans
"""

from __future__ import annotations

import dataclasses
import enum
import time
from collections.abc import Callable, Iterable, Mapping

import numpy as np

from iree_lab.vm import calls
from iree_lab.vm.interpreter import Frame, Invocation, InvocationState, NativeFrame
from iree_lab.vm.module import Function
from iree_lab.vm.status import StatusCode, VMError, VMInterrupt, VMStatus

# ``iree.abi.model`` of functions compiled with --iree-execution-model=async-external:
# they take (wait fence, signal fence) after their arguments.
COARSE_FENCES = "coarse-fences"


def is_coarse_fences(function: Function) -> bool:
    """Whether ``function`` uses the async-external ABI (two trailing fence arguments)."""
    attrs = getattr(function, "attrs", None) or {}
    return attrs.get("iree.abi.model") == COARSE_FENCES


# -----------------------------------------------------------------------------------------
# Wait sources and wait frames
# -----------------------------------------------------------------------------------------


class WaitType(enum.Enum):
    """``iree_vm_wait_type_t``."""

    ALL = "all"  # every source resolves
    ANY = "any"  # one source resolves
    UNTIL = "until"  # only the timeout ends it (a sleep)


class WaitSource:
    """One thing a fiber can wait on (IREE's ``iree_wait_source_t``).

    ``query`` is a callable returning OK (resolved), DEFERRED (pending) or the
    code of a failure (raising a VMStatus counts as its code, any other
    exception as INTERNAL); ``current`` (optional) returns the present value
    for messages and timelines (a semaphore's payload).
    """

    __slots__ = ("resource", "value", "_query", "_current")

    def __init__(self, resource: str, value: int | None = None, *,
                 query: Callable[[], StatusCode | int],
                 current: Callable[[], object] | None = None):
        self.resource = resource
        self.value = value
        self._query = query
        self._current = current

    def query(self) -> StatusCode:
        try:
            return StatusCode(int(self._query()))
        except VMStatus as status:  # a source may raise its failure instead
            return status.code
        except Exception:  # a broken source fails its waiters rather than the scheduler
            return StatusCode.INTERNAL

    def current(self):
        return self._current() if self._current is not None else None

    def describe(self) -> str:
        text = self.resource if self.value is None else f"{self.resource} >= {self.value}"
        current = self.current()
        return text if current is None else f"{text} (at {current})"

    def record(self) -> dict:
        """A plain description: resource, value, current value, status."""
        return {"resource": self.resource, "value": self.value, "current": self.current(),
                "status": self.query().name}

    def __repr__(self) -> str:
        return f"<WaitSource {self.describe()}>"


class WaitFrame:
    """What a suspending import waits on (IREE's ``iree_vm_wait_frame_t``).

    ``timeout_ms`` None waits forever. The scheduler sets ``wait_status``
    before resuming the import: OK, DEADLINE_EXCEEDED, or a failed source's code.
    """

    __slots__ = ("wait_type", "sources", "timeout_ms", "wait_status", "deadline_ms")

    def __init__(self, wait_type: WaitType, sources: Iterable[WaitSource] = (),
                 timeout_ms: int | None = None):
        self.wait_type = WaitType(wait_type)
        self.sources = tuple(sources)
        self.timeout_ms = timeout_ms
        self.wait_status: StatusCode | None = None
        # Virtual time at which the wait times out (set when a scheduler starts it).
        self.deadline_ms: int | None = None

    @classmethod
    def all(cls, sources: Iterable[WaitSource], timeout_ms: int | None = None) -> WaitFrame:
        return cls(WaitType.ALL, sources, timeout_ms)

    @classmethod
    def any(cls, sources: Iterable[WaitSource], timeout_ms: int | None = None) -> WaitFrame:
        return cls(WaitType.ANY, sources, timeout_ms)

    @classmethod
    def until(cls, timeout_ms: int) -> WaitFrame:
        return cls(WaitType.UNTIL, (), timeout_ms)

    def poll(self) -> StatusCode:
        """OK when resolved, DEFERRED while pending, or the first failed source's code."""
        if self.wait_type == WaitType.UNTIL:
            return StatusCode.DEFERRED
        codes = [source.query() for source in self.sources]
        for code in codes:
            if code not in (StatusCode.OK, StatusCode.DEFERRED):
                return code
        if not codes:
            return StatusCode.OK
        if self.wait_type == WaitType.ALL:
            done = all(code == StatusCode.OK for code in codes)
        else:
            done = any(code == StatusCode.OK for code in codes)
        return StatusCode.OK if done else StatusCode.DEFERRED

    def pending(self) -> list[WaitSource]:
        return [s for s in self.sources if s.query() == StatusCode.DEFERRED]

    def describe(self) -> str:
        if self.wait_type == WaitType.UNTIL:
            text = f"a {self.timeout_ms} ms timeout"
        else:
            points = self.pending() or list(self.sources)
            joiner = " and " if self.wait_type == WaitType.ALL else " or "
            text = joiner.join(s.describe() for s in points) or "nothing"
            if self.timeout_ms is not None:
                text += f" (timeout {self.timeout_ms} ms)"
        return text

    def record(self) -> dict:
        return {"wait_type": self.wait_type.value, "timeout_ms": self.timeout_ms,
                "sources": [s.record() for s in self.sources]}

    def __repr__(self) -> str:
        return f"<WaitFrame {self.wait_type.value}: {self.describe()}>"


# -----------------------------------------------------------------------------------------
# Records
# -----------------------------------------------------------------------------------------


class FiberState(enum.Enum):
    READY = "ready"  # can run: new, yielded (vm.yield) or deferred by an import
    RUNNING = "running"
    WAITING = "waiting"  # suspended on a wait frame that has not resolved
    PAUSED = "paused"  # a hook paused it before an instruction
    DONE = "done"
    FAILED = "failed"


@dataclasses.dataclass(frozen=True)
class Suspension:
    """Why and where a fiber stopped.

    ``frame`` is the bytecode frame that continues on resume
    (``module.function``) and ``pc`` its saved pc: for ``yield`` the first
    instruction of the target block, for ``deferred``/``wait`` the yieldable
    call that re-executes to collect the import's results. ``function`` names
    the import for ``deferred``/``wait``; ``depth`` counts the frames on the
    fiber's stack (the import's own frame included).
    """

    reason: str
    frame: str | None
    pc: int | None
    function: str | None
    depth: int
    wait: WaitFrame | None = None

    @property
    def where(self) -> str:
        if self.frame is None:
            return self.function or "?"
        return f"{self.frame}+{self.pc:08X}" if self.pc is not None else self.frame

    def record(self) -> dict:
        out = {"reason": self.reason, "frame": self.frame, "pc": self.pc, "depth": self.depth}
        if self.function is not None:
            out["import"] = self.function
        if self.wait is not None:
            out["wait"] = self.wait.record()
        return out


@dataclasses.dataclass(frozen=True)
class FiberEvent:
    """One transition of one fiber.

    ``kind``: ``spawn``; ``start`` / ``resume`` (a slice begins; ``reason`` is
    what made it runnable: ``yield``, ``deferred``, ``reached``, ``failed``,
    ``timeout`` or ``paused``); ``suspend`` (``reason`` ``yield``,
    ``deferred`` or ``wait``); ``timeout`` (a wait's virtual deadline passed);
    ``pause``; ``done``; ``fail``. ``step`` is the logical clock (slices run so
    far), ``wall`` seconds since the scheduler was created.
    """

    step: int
    wall: float
    fiber: int
    kind: str
    reason: str = ""
    detail: Mapping = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class FiberSpan:
    """A stretch of one fiber in one state, in logical steps and wall seconds.

    ``state``: ``running``, ``ready`` (yielded/deferred, waiting for its turn),
    ``waiting`` (on a wait frame) or ``paused``. ``reason``/``detail`` say why
    a ``ready``/``waiting``/``paused`` span began (the suspension record).
    ``open``: the fiber was still in this state when the timeline was taken.
    """

    fiber: int
    state: str
    start_step: int
    end_step: int
    start_wall: float
    end_wall: float
    reason: str = ""
    detail: Mapping = dataclasses.field(default_factory=dict)
    open: bool = False


@dataclasses.dataclass(frozen=True)
class FiberInfo:
    """A fiber in a timeline: id, name, entry function, final state and outcome."""

    id: int
    name: str
    function: str
    state: str
    outcome: str = ""


@dataclasses.dataclass(frozen=True)
class Timeline:
    """Plain records of a scheduler's run (what :mod:`iree_lab.views.fibers` draws)."""

    fibers: tuple[FiberInfo, ...]
    events: tuple[FiberEvent, ...]
    spans: tuple[FiberSpan, ...]
    steps: int
    wall: float

    def spans_of(self, fiber: int) -> list[FiberSpan]:
        return [s for s in self.spans if s.fiber == fiber]

    def events_of(self, fiber: int) -> list[FiberEvent]:
        return [e for e in self.events if e.fiber == fiber]

    def to_dict(self) -> dict:
        """Everything as dicts and lists (JSON-friendly once values are plain)."""
        return {
            "fibers": [dataclasses.asdict(f) for f in self.fibers],
            "events": [dataclasses.asdict(e) for e in self.events],
            "spans": [dataclasses.asdict(s) for s in self.spans],
            "steps": self.steps,
            "wall": self.wall,
        }


class DeadlockError(VMError):
    """Every live fiber waits and no fiber can run to signal what they wait on.

    ``waiters``: the waiting :class:`Fiber` objects (their ``wait`` frames say on what).
    """

    def __init__(self, waiters: list[Fiber]):
        parts = [f"fiber {f.id} '{f.name}' at {f.suspension.where} waits on "
                 f"{f.wait.describe()}" for f in waiters]
        super().__init__(
            StatusCode.DEADLINE_EXCEEDED,
            "deadlock: every fiber is waiting and none can run to signal them: "
            + "; ".join(parts),
        )
        self.waiters = list(waiters)


# -----------------------------------------------------------------------------------------
# Fibers
# -----------------------------------------------------------------------------------------


class Fiber:
    """One invocation scheduled by a :class:`Scheduler`.

    ``invocation`` holds the fiber's own stack of frames (``stack``);
    ``suspension`` says where and why it last stopped; ``wait`` is the wait
    frame while WAITING. ``results`` once DONE, ``error`` (a :class:`VMError`)
    once FAILED.
    """

    def __init__(self, fiber_id: int, name: str, invocation: Invocation):
        self.id = fiber_id
        self.name = name
        self.invocation = invocation
        self.state = FiberState.READY
        self.suspension: Suspension | None = None
        self.wait: WaitFrame | None = None
        self.results: list | None = None
        self.error: VMError | None = None
        self.slices = 0
        # What made the fiber runnable (the next start/resume event's reason).
        self._ready_reason = ""

    @property
    def function(self) -> Function:
        return self.invocation.function

    @property
    def stack(self) -> list:
        return self.invocation.stack

    @property
    def finished(self) -> bool:
        return self.state in (FiberState.DONE, FiberState.FAILED)

    def backtrace(self):
        return self.invocation.backtrace()

    def result(self):
        """The results (a list) once DONE; raises the fiber's :class:`VMError` once FAILED."""
        if self.state == FiberState.FAILED:
            raise self.error
        if self.state != FiberState.DONE:
            raise VMError(StatusCode.FAILED_PRECONDITION,
                          f"fiber {self.id} '{self.name}' has not completed ({self.state.value})")
        return self.results

    def __repr__(self) -> str:
        return f"<Fiber {self.id} '{self.name}' {self.state.value}>"


def _function_label(function) -> str:
    module = getattr(function, "module", None)
    return f"{module.name}.{function.name}" if module is not None else function.name


def _plain(value):
    """A result as a plain value for records (refs by their repr)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float | np.floating):
        return float(value)
    if isinstance(value, np.integer):
        return int(value)
    return repr(value)


# -----------------------------------------------------------------------------------------
# The scheduler
# -----------------------------------------------------------------------------------------


class Scheduler:
    """Runs fibers of one :class:`~iree_lab.vm.Context` cooperatively (see the module doc)."""

    def __init__(self, context, *, clock: Callable[[], float] = time.perf_counter):
        self.context = context
        self.fibers: list[Fiber] = []
        self.events: list[FiberEvent] = []
        self.step_count = 0
        self.virtual_ms = 0
        self._cursor = 0
        self._clock = clock
        self._t0 = clock()

    # -- Fibers ---------------------------------------------------------------------------

    def spawn(self, function: str | Function, *args, name: str | None = None, hook=None,
              instruction_budget: int | None = None) -> Fiber:
        """A new READY fiber calling ``function`` with host values ``args``.

        ``hook``/``instruction_budget`` as for :meth:`Context.invoke`. Raises
        :class:`VMError` (INVALID_ARGUMENT) when the argument count does not match.
        """
        fn = self.context.lookup_function(function) if isinstance(function, str) else function
        fragment = fn.cconv.arguments if fn.cconv else ""
        expected = calls.argument_count(fragment)
        if len(args) != expected:
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"input list and function mismatch; expected {expected} arguments "
                          f"but passed {len(args)}")
        invocation = self.context.invoke(fn, *args, hook=hook,
                                         instruction_budget=instruction_budget)
        fiber = Fiber(len(self.fibers), name or fn.name, invocation)
        self.fibers.append(fiber)
        self._event(fiber, "spawn", detail={"function": _function_label(fn),
                                            "arguments": [_plain(a) for a in args]})
        return fiber

    def runnable(self, fiber: Fiber) -> bool:
        """Whether ``fiber`` can run now (polls its wait frame while WAITING)."""
        if fiber.state in (FiberState.READY, FiberState.PAUSED):
            return True
        if fiber.state != FiberState.WAITING:
            return False
        code = fiber.wait.poll()
        if code == StatusCode.DEFERRED:
            return False
        fiber.wait.wait_status = code
        fiber.state = FiberState.READY
        fiber._ready_reason = "reached" if code == StatusCode.OK else "failed"
        return True

    def waiting(self) -> list[Fiber]:
        return [f for f in self.fibers if f.state == FiberState.WAITING]

    @property
    def finished(self) -> bool:
        return all(f.finished for f in self.fibers)

    # -- Running --------------------------------------------------------------------------

    def step(self) -> Fiber | None:
        """Runs one slice of the next runnable fiber; None when no fiber can run."""
        count = len(self.fibers)
        for offset in range(count):
            index = (self._cursor + offset) % count
            fiber = self.fibers[index]
            if self.runnable(fiber):
                self._run_slice(fiber)
                # A paused fiber keeps its turn: the next step continues it.
                self._cursor = index if fiber.state == FiberState.PAUSED else index + 1
                return fiber
        return None

    def run(self, *, max_steps: int | None = None) -> Fiber | None:
        """Runs until every fiber is DONE or FAILED; returns None then.

        Returns early with the fiber a hook PAUSED (call ``run()`` again to go
        on). Expires finite waits in virtual time when nothing else can run;
        raises :class:`DeadlockError` when every live fiber waits forever,
        :class:`VMInterrupt` on KeyboardInterrupt, and VMError
        DEADLINE_EXCEEDED after ``max_steps`` slices.
        """
        for fiber in self._slices(max_steps):
            if fiber is None:
                if self._expire_timeouts():
                    continue
                raise DeadlockError(self.waiting())
            if fiber.state == FiberState.PAUSED:
                return fiber
        return None

    def run_until_blocked(self, *, max_steps: int | None = None) -> list[Fiber]:
        """Runs while some fiber can run; returns the fibers left WAITING.

        Unlike :meth:`run` it neither expires timeouts nor raises on a
        deadlock: the host may signal what they wait on and continue. Stops
        early (returning []) when a hook pauses a fiber.
        """
        for fiber in self._slices(max_steps):
            if fiber is None:
                break
            if fiber.state == FiberState.PAUSED:
                return []
        return self.waiting()

    def _slices(self, max_steps: int | None):
        """Runs slices until every fiber is finished, yielding each slice's fiber (None
        when no fiber could run); VMError DEADLINE_EXCEEDED after ``max_steps`` slices."""
        steps = 0
        while not self.finished:
            if max_steps is not None and steps >= max_steps:
                raise VMError(StatusCode.DEADLINE_EXCEEDED,
                              f"scheduler step budget of {max_steps} exhausted")
            fiber = self.step()
            if fiber is not None:
                steps += 1
                self._check_interrupt(fiber)
            yield fiber

    def _check_interrupt(self, fiber: Fiber) -> None:
        status = fiber.invocation.status
        if fiber.state == FiberState.FAILED and status.interrupted:
            raise VMInterrupt.from_status(status)

    def _expire_timeouts(self) -> bool:
        timed = [f for f in self.fibers
                 if f.state == FiberState.WAITING and f.wait.deadline_ms is not None]
        if not timed:
            return False
        now = min(f.wait.deadline_ms for f in timed)
        self.virtual_ms = max(self.virtual_ms, now)
        for fiber in timed:
            if fiber.wait.deadline_ms <= self.virtual_ms:
                fiber.wait.wait_status = StatusCode.DEADLINE_EXCEEDED
                fiber.state = FiberState.READY
                fiber._ready_reason = "timeout"
                self._event(fiber, "timeout", detail={"virtual_ms": self.virtual_ms,
                                                      "timeout_ms": fiber.wait.timeout_ms})
        return True

    def _run_slice(self, fiber: Fiber) -> None:
        inv = fiber.invocation
        if fiber.state == FiberState.PAUSED:
            fiber._ready_reason = "paused"
        kind = "start" if fiber.slices == 0 else "resume"
        detail = {}
        if fiber.wait is not None:
            detail["wait_status"] = fiber.wait.wait_status.name if fiber.wait.wait_status \
                is not None else None
        self._event(fiber, kind, fiber._ready_reason, detail)
        fiber.state = FiberState.RUNNING
        fiber.slices += 1
        with np.errstate(all="ignore"):  # VM arithmetic wraps and overflows silently
            state = inv.run()  # failures (KeyboardInterrupt too) come back as FAILED
        self.step_count += 1
        fiber.wait = None
        if state == InvocationState.DONE:
            fiber.state = FiberState.DONE
            fiber.results = inv.results
            fiber.suspension = None
            self._event(fiber, "done", detail={"results": [_plain(v) for v in inv.results]})
        elif state == InvocationState.FAILED:
            fiber.state = FiberState.FAILED
            fiber.error = VMError.from_status(inv.status)
            fiber.suspension = None
            self._event(fiber, "fail", inv.status.code.name,
                        {"status": inv.status.status_text(),
                         "backtrace": [str(f) for f in fiber.error.backtrace]})
        elif state == InvocationState.PAUSED:
            fiber.state = FiberState.PAUSED
            top = inv.top
            self._event(fiber, "pause", detail={"frame": repr(top) if top is not None else None})
        else:
            suspension = _suspension(inv)
            fiber.suspension = suspension
            if suspension.wait is not None:
                fiber.state = FiberState.WAITING
                fiber.wait = suspension.wait
                if suspension.wait.timeout_ms is not None:
                    suspension.wait.deadline_ms = self.virtual_ms + suspension.wait.timeout_ms
            else:
                fiber.state = FiberState.READY
            fiber._ready_reason = suspension.reason
            detail = suspension.record()
            detail["stack"] = [_frame_text(f) for f in inv.stack]
            self._event(fiber, "suspend", suspension.reason, detail)

    def _event(self, fiber: Fiber, kind: str, reason: str = "", detail=None) -> None:
        self.events.append(FiberEvent(self.step_count, self._clock() - self._t0, fiber.id,
                                      kind, reason, detail or {}))

    # -- Records --------------------------------------------------------------------------

    def timeline(self) -> Timeline:
        """The fibers, events and derived spans so far (plain records)."""
        now_wall = self._clock() - self._t0
        spans = []
        for fiber in self.fibers:
            spans.extend(_spans(fiber.id, [e for e in self.events if e.fiber == fiber.id],
                                self.step_count, now_wall))
        infos = []
        for f in self.fibers:
            if f.state == FiberState.DONE:
                outcome = ", ".join(str(_plain(v)) for v in f.results)
            elif f.state == FiberState.FAILED:
                outcome = f.error.status_text()
            elif f.state == FiberState.WAITING:
                outcome = f"waits on {f.wait.describe()}"
            else:
                outcome = ""
            infos.append(FiberInfo(f.id, f.name, _function_label(f.function), f.state.value,
                                   outcome))
        return Timeline(tuple(infos), tuple(self.events), tuple(spans), self.step_count,
                        now_wall)


def _frame_text(frame) -> str:
    """``module.function+PC`` of a bytecode frame, ``module.function (native)`` of an import."""
    if type(frame) is Frame:
        return f"{frame.module_name}.{frame.function_name}+{frame.pc:08X}"
    return f"{frame.function.full_name} (native)"


def _suspension(inv: Invocation) -> Suspension:
    """Where and why a SUSPENDED invocation stopped (read from its stack)."""
    stack = inv.stack
    top = stack[-1]
    depth = len(stack)
    if type(top) is NativeFrame:
        yielded = getattr(top, "yielded", None)
        if isinstance(yielded, WaitSource):
            yielded = WaitFrame.all([yielded])
        wait = yielded if isinstance(yielded, WaitFrame) else None
        caller = next((f for f in reversed(stack) if type(f) is Frame), None)
        return Suspension(
            "wait" if wait is not None else "deferred",
            f"{caller.module_name}.{caller.function_name}" if caller is not None else None,
            caller.pc if caller is not None else None,
            top.function.full_name, depth, wait)
    return Suspension("yield", f"{top.module_name}.{top.function_name}", top.pc, None, depth)


def _spans(fiber_id: int, events: list[FiberEvent], end_step: int,
           end_wall: float) -> list[FiberSpan]:
    """Per-state spans of one fiber from its events."""
    spans = []
    state = None  # (state, start step, start wall, reason, detail)
    for event in events:
        kind = event.kind
        if kind == "spawn":
            state = ("ready", event.step, event.wall, "spawn", {})
        elif kind in ("start", "resume"):
            if state is not None:
                spans.append(FiberSpan(fiber_id, state[0], state[1], event.step, state[2],
                                       event.wall, state[3], state[4]))
            state = ("running", event.step, event.wall, event.reason, dict(event.detail))
        elif kind in ("suspend", "pause", "done", "fail"):
            if state is not None:
                spans.append(FiberSpan(fiber_id, state[0], state[1], event.step, state[2],
                                       event.wall, state[3], state[4]))
            if kind == "suspend":
                after = "waiting" if event.reason == "wait" else "ready"
                state = (after, event.step, event.wall, event.reason, dict(event.detail))
            elif kind == "pause":
                state = ("paused", event.step, event.wall, "pause", dict(event.detail))
            else:
                state = None
        elif kind == "timeout" and state is not None and state[0] == "waiting":
            # The wait ended; the fiber waits for its turn from here on.
            spans.append(FiberSpan(fiber_id, state[0], state[1], event.step, state[2],
                                   event.wall, state[3], state[4]))
            state = ("ready", event.step, event.wall, "timeout", dict(event.detail))
    if state is not None:
        spans.append(FiberSpan(fiber_id, state[0], state[1], end_step, state[2], end_wall,
                               state[3], state[4], open=True))
    return spans


__all__ = [
    "COARSE_FENCES",
    "DeadlockError",
    "Fiber",
    "FiberEvent",
    "FiberInfo",
    "FiberSpan",
    "FiberState",
    "Scheduler",
    "Suspension",
    "Timeline",
    "WaitFrame",
    "WaitSource",
    "WaitType",
    "is_coarse_fences",
]
