"""The debugger front: stepping, breakpoints, watchpoints, events and time travel.

UI-free, in the spirit of Python's ``bdb``: :class:`Debugger` runs a
:class:`~iree_lab.debug.Program` and returns a :class:`Stop` from every motion
command (``step``, ``next``, ``finish``, ``cont``, ``run_to``, ``back``,
``reverse_continue``, ``goto``); the CLI prompt and the notebook panel are
thin layers over it.

How it runs (the pieces live in :mod:`iree_lab.debug.engine`: the worker
protocol, the breakpoint table and the single-invocation driver, one per built
world, that this front keeps). The program executes on a worker thread; the VM
calls the debugger's hook before every bytecode instruction (the stepping tier), in the
debugged invocation and in every VMVX dispatch the HAL runs (the device passes
the hook to its nested dispatch contexts). To stop, the hook blocks the worker
and hands a :class:`Stop` to the caller; the next command unblocks it. Nested
dispatches run inside a native HAL call, where the VM cannot pause, so
blocking a thread is what lets a step land inside them. Only the worker ever
touches the program's objects while it runs; the caller reads them only while
the worker is blocked.

The hook is cheap unless something needs it: a counter increment and three
tests per instruction (the position reached a limit, the frame changed, the
instruction index is in the current function's breakpoint set). Everything
else (calls and returns, imports, dispatch entry, step conditions,
conditions, watchpoints) runs on the slow path those tests select. While
running quiet, the debugged invocation skips even that where nothing can stop:
the VM counts straight-line runs (``vm.interpreter.Counting``) and calls the
hook only at breakpoint instructions whose compiled guard does not rule a stop
out.

Events (derived in the hook, since the VM reports only instructions and
invocation states): ``call``/``return`` from stack depth changes,
``import_call`` at the call instruction of an import and ``import_return`` when
its frame resumes, ``dispatch`` when a VMVX workgroup function starts,
``suspend``/``resume`` around yields, ``done``/``failed``, and ``instruction``
for listeners that ask for it.

Time travel. A *position* counts the instructions executed since the debugged
call started (dispatch instructions included); a stop is "before" the
instruction at its position, or "after" it for suspends and the end of the
run. Execution is deterministic, so any position can be reached again by
re-executing: from a periodic in-place snapshot (:mod:`iree_lab.debug.snapshot`,
taken at instruction boundaries of the debugged invocation) or, when the world
cannot be snapshotted, from a freshly built world. Imports that are not
deterministic are recorded and replayed (``Program(replay_imports=...)``).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

from iree_lab.debug import breakpoints as B
from iree_lab.debug.engine import (
    BreakpointCommands,
    BreakpointTable,
    InvocationEngine,
    Plan,
    PlanMode,
    StopReason,
    Timeline,
    evaluate,
    module_state,
)
from iree_lab.debug.program import DebugError, ImportReplay, Program
from iree_lab.debug.source import SourceLocation
from iree_lab.debug.stops import (
    Change,
    Event,
    GlobalsView,
    NativeDispatch,
    StackFrame,
    Stop,
)
from iree_lab.debug.values import (
    Digest,
    RefInfo,
    RegisterValue,
    ref_info,
)

# Whether the debugged invocation counts straight-line runs without the hook where nothing
# can stop (vm.interpreter.Counting); False runs every instruction through the hook.
COUNTING = True
# Whether those counting runs keep registers in Python locals (vm.probed); False counts
# over the frame's register lists.
PROBED = True

Breakpoint = B.Breakpoint
Watchpoint = B.Watchpoint


# -- The debugger --------------------------------------------------------------------------


class Debugger(BreakpointCommands):
    """Runs a :class:`Program` under control. Every motion command returns a :class:`Stop`.

    ``dispatches``: step into VMVX dispatch functions the HAL runs (their
    instructions count as positions). ``init``: start in the modules' ``__init``
    functions (where IREE programs create executables and record their command
    buffers), before the debugged call; positions then count from there. ``snapshot_interval``: instructions
    between snapshots of the debugged invocation (0 disables them: time travel
    then re-executes from a fresh world). ``break_on_suspend``: stop whenever
    the fiber suspends. ``replay_imports`` (with a Program built here) records
    and replays nondeterministic imports.
    """

    def __init__(self, program: Program, *, dispatches: bool = True, init: bool = False,
                 snapshot_interval: int = 20_000, max_snapshots: int = 64,
                 snapshot_max_bytes: int = 1 << 28, break_on_suspend: bool = False):
        self.program = program
        self.dispatches = dispatches
        self.init = init
        self.snapshot_interval = snapshot_interval
        self.max_snapshots = max(2, max_snapshots)
        self.snapshot_max_bytes = snapshot_max_bytes
        self.break_on_suspend = break_on_suspend
        self.replay = ImportReplay(program.replay_imports) if program.replay_imports else None
        # What the engines share (time travel builds new worlds, each with its engine).
        self.table = BreakpointTable()
        self.timeline = Timeline()
        self._engine: InvocationEngine | None = None
        self.stop: Stop | None = None
        self.previous: Stop | None = None
        self.worlds_built = 0
        self.restores = 0

    @classmethod
    def launch(cls, modules, function: str, inputs=(), *, device: str = "local-sync",
               replay_imports=(), **options) -> Debugger:
        """Builds a :class:`Program`, starts it and stops at its first instruction."""
        dbg = cls(Program(modules, function, inputs, device=device,
                          replay_imports=replay_imports), **options)
        dbg.start()
        return dbg

    @staticmethod
    def for_scheduler(scheduler, rebuild=None, **options):
        """A :class:`~iree_lab.debug.fibers.FiberDebugger` over every fiber of ``scheduler``
        (``rebuild()``: a fresh, identically spawned scheduler, to travel back)."""
        from iree_lab.debug.fibers import FiberDebugger

        return FiberDebugger(scheduler, rebuild, **options)

    # -- Lifecycle ---------------------------------------------------------------------------

    def start(self) -> Stop:
        """(Re)starts the program from scratch and stops at the first instruction."""
        self._new_engine()
        return self._run(Plan(PlanMode.POSITION, target=1, reason=StopReason.ENTRY))

    def _new_engine(self) -> InvocationEngine:
        if self._engine is not None:
            self._engine.abort()
        self._engine = None
        self._engine = engine = InvocationEngine(self, self.table, self.timeline, COUNTING,
                                                   PROBED)
        weakref.finalize(self, engine.abort)
        self.worlds_built += 1
        return engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.abort()
            self._engine.active = False  # __deinit runs unobserved
            try:
                if self._engine.world is not None:
                    self._engine.world.context.close()
            except Exception:
                pass
            self._engine = None

    def __enter__(self) -> Debugger:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def engine(self) -> InvocationEngine:
        if self._engine is None:
            raise DebugError("the debugger has not been started (call start())")
        return self._engine

    @property
    def world(self):
        return self.engine.world

    @property
    def position(self) -> int:
        return self.stop.position if self.stop is not None else 0

    @property
    def frames(self) -> list[StackFrame]:
        return self.stop.frames if self.stop is not None else []

    @property
    def finished(self) -> bool:
        return self.stop is not None and self.stop.finished

    # -- Driving the worker ------------------------------------------------------------------

    @property
    def snapshot_note(self) -> str:
        """Why the last snapshot could not be taken ("" when every one could)."""
        return self.timeline.snapshot_note

    @property
    def _breakpoints(self) -> dict[int, Breakpoint]:
        return self.table.breakpoints

    def _run(self, plan: Plan) -> Stop:
        engine = self.engine
        engine.resume(plan)
        return self._arrived(engine.worker.wait(engine.request_interrupt))

    def _arrived(self, stop: Stop) -> Stop:
        top = stop.frame
        self.timeline.arrived(stop.position, stop.phase, top.name if top is not None else None,
                              stop.finished)
        stop.changes = self._changes(self.stop, stop)
        self.previous = self.stop
        self.stop = stop
        return stop

    def _plan(self, mode: PlanMode, **kw) -> Plan:
        engine = self.engine
        return Plan(mode, start=engine.position, depth=engine.depth(), **kw)

    # -- Motion ------------------------------------------------------------------------------

    def step(self, count: int = 1) -> Stop:
        """Step into: the next instruction, wherever it runs (callee, dispatch, suspend)."""
        for _ in range(max(1, count)):
            stop = self._run(self._plan(PlanMode.INTO))
            if stop.finished or stop.reason not in ("step", "suspend"):
                break
        return self.stop

    step_into = step

    def next(self, count: int = 1) -> Stop:
        """Step over: the next instruction at this call depth or shallower."""
        for _ in range(max(1, count)):
            stop = self._run(self._plan(PlanMode.OVER))
            if stop.finished or stop.reason != "step":
                break
        return self.stop

    step_over = next

    def finish(self) -> Stop:
        """Step out: run until the current function has returned."""
        return self._run(self._plan(PlanMode.OUT))

    step_out = finish

    def cont(self) -> Stop:
        """Continue to the next breakpoint, watchpoint, or the end."""
        return self._run(self._plan(PlanMode.CONTINUE))

    continue_ = cont

    def run_to(self, pc: int, function: str | None = None) -> Stop:
        """Continue to ``function+pc`` (default: the current function)."""
        if function is None:
            top = self.stop.frame if self.stop is not None else None
            if top is None or top.kind != "bytecode":
                raise DebugError("run_to needs a function when not stopped in bytecode")
            function = f"{top.module}.{top.function}"
        bp = self._add(Breakpoint(0, "offset", function=function, pc=pc, temporary=True))
        stop = self.cont()
        if bp.id in self.table.breakpoints:  # stopped elsewhere first
            self.delete(bp.id)
        return stop

    def goto(self, position: int, *, reason: str | None = None) -> Stop:
        """Travels to ``position`` (before its instruction), backwards or forwards."""
        position = max(1, int(position))
        current = self.stop
        if current is not None and current.position == position and current.phase == "before":
            return current
        if current is not None and (position > current.position) and not current.finished:
            return self._run(Plan(PlanMode.POSITION, start=self.engine.position,
                                   target=position, reason=reason))
        return self._rewind(position, reason)

    def back(self, count: int = 1) -> Stop:
        """Step back: the stop before the instruction ``count`` positions earlier."""
        current = self.stop
        if current is None:
            raise DebugError("the debugger has not been started (call start())")
        target = current.position - max(1, count) + (1 if current.phase == "after" else 0)
        return self.goto(max(1, target), reason=StopReason.STEP)

    step_back = back

    def reverse_continue(self) -> Stop:
        """Runs backwards to the previous breakpoint or watchpoint hit (or the start)."""
        current = self.stop
        if current is None:
            raise DebugError("the debugger has not been started (call start())")
        end = current.position + (1 if current.phase == "after" else 0)
        hits = self._scan(end)
        if not hits:
            return self.goto(1, reason=StopReason.START)
        return self.goto(hits[-1])

    def restart(self) -> Stop:
        """Back to the first instruction (same world when snapshots allow)."""
        return self.goto(1, reason=StopReason.ENTRY)

    def _rewind(self, position: int, reason: str | None) -> Stop:
        engine = self.engine
        snap = engine.best_snapshot(position) if engine.snapshots_enabled else None
        if snap is None:
            engine = self._new_engine()
            return self._run(Plan(PlanMode.POSITION, target=position, reason=reason))
        engine.abort()
        engine.restore(snap)
        self.restores += 1
        if snap.extra["position"] == position:
            inv = engine.inv
            top = inv.stack[-1]
            hits = []  # a restored stop re-evaluates nothing: it was reached before
            stop = engine.make_stop(reason or StopReason.POSITION, top, top.k, hits=hits)
            return self._arrived(stop)
        return self._run(Plan(PlanMode.POSITION, start=snap.extra["position"], target=position,
                               reason=reason))

    def _scan(self, end: int) -> list[int]:
        """Positions < ``end`` where a breakpoint or watchpoint would stop (re-executes)."""
        engine = self.engine
        snap = engine.best_snapshot(1) if engine.snapshots_enabled else None
        if snap is not None:
            engine.abort()
            engine.restore(snap)
            start = 1
        else:
            engine = self._new_engine()
            start = 0
        return engine.scan(start, end)

    # -- Breakpoints -------------------------------------------------------------------------

    def _locations(self):
        engine = self._engine
        world = engine.world if engine is not None else None
        return (world.context.modules if world is not None else None), self.dispatches

    def break_dispatch(self, name: str = "*", *, workgroup=None, condition: str | None = None,
                       ignore: int = 0) -> Breakpoint:
        """Breakpoint at dispatches the HAL runs whose export matches ``name``.

        VMVX: at the first instruction of the dispatch function (per workgroup).
        Native CPU code: before the dispatch runs (all its workgroups; a
        ``workgroup`` must lie in its grid; conditions are not evaluated there).
        """
        if not self.dispatches:
            raise DebugError("dispatch breakpoints need Debugger(dispatches=True)")
        wg = tuple(int(v) for v in workgroup) if workgroup is not None else None
        return self._add(Breakpoint(0, "dispatch", name=name, workgroup=wg,
                                    condition=condition, ignore=ignore))

    # -- Listeners ---------------------------------------------------------------------------

    def add_listener(self, fn: Callable[[Event], None], *, instructions: bool = False) -> None:
        """Calls ``fn(event)`` on the worker thread for every event (see the module doc).

        ``instructions=True`` also delivers one ``instruction`` event per instruction
        (which keeps the hook on its slow path)."""
        self.table.set_listeners([*self.table.listeners, (fn, instructions)])
        self._touch()

    def add_progress_listener(self, fn: Callable) -> None:
        """Calls ``fn(progress)`` (a :class:`iree_lab.hal.progress.DispatchProgress`) on the
        worker thread as dispatches are submitted and finish, in every world the debugger
        builds (time travel rebuilds worlds; their counts start again)."""
        self.table.progress_listeners.append(fn)
        engine = self._engine
        if engine is not None and engine.world is not None:
            engine.world.session.device.progress.add_listener(fn)

    def remove_progress_listener(self, fn) -> None:
        self.table.progress_listeners = [f for f in self.table.progress_listeners
                                         if f is not fn]
        engine = self._engine
        if engine is not None and engine.world is not None:
            engine.world.session.device.progress.remove_listener(fn)

    def remove_listener(self, fn) -> None:
        self.table.set_listeners([(f, i) for f, i in self.table.listeners if f is not fn])
        self._touch()

    # -- State -------------------------------------------------------------------------------

    def frame(self, level: int = -1) -> StackFrame:
        frames = self.frames
        if not frames:
            raise DebugError("no frames (the program is not stopped inside a function)")
        try:
            return frames[level]
        except IndexError:
            raise DebugError(f"no frame {level} (stack has {len(frames)})") from None

    def registers(self, level: int = -1) -> list[RegisterValue]:
        return self.frame(level).registers()

    def refs(self, level: int = -1) -> list[RefInfo]:
        return self.frame(level).refs()

    def ref(self, slot: int, level: int = -1) -> RefInfo:
        frame = self.frame(level)
        if frame.kind != "bytecode" or not 0 <= slot < len(frame.frame.RR):
            raise DebugError(f"no ref register %r{slot} in {frame.name}")
        return ref_info(slot, frame.frame.RR[slot])

    def globals(self, module: str | None = None) -> GlobalsView:
        """Globals of ``module`` (default: the module of the current frame)."""
        if module is None:
            top = self.stop.frame if self.stop is not None else None
            if top is not None and top.kind == "bytecode":
                return GlobalsView(top.frame.code.state)
        world = self.engine.world
        return GlobalsView(module_state(world.context if world is not None else None, module))

    def evaluate(self, expression: str, level: int = -1):
        """Evaluates a Python expression in a frame's scope (see :class:`Breakpoint`)."""
        frame = self.frame(level)
        if frame.kind != "bytecode":
            raise DebugError(f"frame {frame.name} has no registers")
        engine = self.engine
        inv = engine.invs[min(frame.invocation, len(engine.invs) - 1)]
        scope = engine.scope(inv, frame.frame, frame.k)
        try:
            return evaluate(compile(expression, "<print>", "eval"), scope)
        except SyntaxError as e:
            raise DebugError(f"{expression!r}: {e.msg}") from None
        except (KeyError, NameError) as e:
            name = e.args[0] if isinstance(e, KeyError) else getattr(e, "name", e)
            raise DebugError(f"unknown name {name!r} in {expression!r}") from None
        except DebugError:
            raise
        except Exception as e:
            raise DebugError(f"{expression!r} raised {type(e).__name__}: {e}") from None

    def location(self, level: int = -1) -> SourceLocation | None:
        frame = self.frame(level)
        return frame.location()

    def source(self, context: int = 3, level: int = -1) -> list[str]:
        """Source lines around the current location (``>`` marks it); [] when unknown."""
        loc = self.location(level)
        if loc is None or loc.file is None or loc.source_line() is None:
            return []
        import linecache

        out = []
        for n in range(max(1, loc.line - context), loc.line + context + 1):
            text = linecache.getline(loc.file, n)
            if not text:
                break
            mark = ">" if n == loc.line else " "
            out.append(f"{mark} {n:5d}  {text.rstrip()}")
        return out

    def disassemble(self, context: int = 4, level: int = -1) -> list[str]:
        """Instructions around the current one (``>`` marks it, ``*`` breakpoints)."""
        from iree_lab.isa import format_instruction

        frame = self.frame(level)
        if frame.kind == "dispatch" and self.stop is not None and self.stop.dispatch:
            # Native code: the export's whole machine-code listing (there is no pc).
            kind, lines = self.stop.dispatch.listing()
            return [f"; {kind} of {frame.function}", *lines]
        if frame.kind != "bytecode":
            return []
        code = frame.frame.code
        hot = self.engine.hot_set(code)
        k0 = frame.k if frame.k is not None else 0
        out = []
        for k in range(max(0, k0 - context), min(len(code.instructions), k0 + context + 1)):
            inst = code.instructions[k]
            mark = ">" if k == k0 else " "
            star = "*" if k in hot else " "
            out.append(f"{mark}{star} {inst.pc:08X}  {format_instruction(inst, code.decoded)}")
        return out

    def state_digest(self) -> str:
        """A hash of everything the program can observe now (stack, registers,
        globals, ref contents), independent of object identities."""
        digest = Digest()
        engine = self.engine
        stop = self.stop
        digest.put("position", stop.position if stop else 0, stop.phase if stop else None)
        for frame in self.frames:
            digest.put(frame.kind, frame.module, frame.function, frame.pc, frame.workgroup)
            if frame.kind == "bytecode":
                digest.registers(frame.frame.registers)
        from iree_lab.vm import BytecodeModule

        context = engine.world.context if engine.world is not None else None
        for module, state in zip(context.modules if context else (),
                                 context.states if context else (), strict=True):
            if isinstance(module, BytecodeModule):
                digest.put("globals", module.name)
                digest.h.update(bytes(state.rwdata))
                for obj in state.global_refs:
                    digest.ref(obj)
        if stop is not None and stop.results is not None:
            for value in stop.results:
                if hasattr(value, "ref_type"):
                    digest.ref(value)
                else:
                    digest.put(repr(value))
        return digest.hexdigest()

    # -- Changes between stops ---------------------------------------------------------------

    def _changes(self, old: Stop | None, new: Stop) -> list[Change]:
        if old is None:
            return []
        out: list[Change] = []
        a, b = old.frame, new.frame
        if a is not None and b is not None and a.kind == b.kind == "bytecode" and \
                a.frame is b.frame and old._words is not None and new._words is not None:
            for slot, (x, y) in enumerate(zip(old._words, new._words, strict=False)):
                if x != y:
                    out.append(Change(f"%i{slot}", _word_text(x), _word_text(y)))
            for slot, (x, y) in enumerate(zip(old._refs, new._refs, strict=False)):
                if x != y:
                    out.append(Change(f"%r{slot}", x or "(null)", y or "(null)"))
        elif a is not None and b is not None and a.name.split("+")[0] != b.name.split("+")[0]:
            out.append(Change("frame", a.name, b.name))
        for module, (data, refs) in (new._globals or {}).items():
            before = (old._globals or {}).get(module)
            if before is None:
                continue
            old_data, old_refs = before
            for offset in range(0, min(len(data), len(old_data)) - 3, 4):
                x = old_data[offset:offset + 4]
                y = data[offset:offset + 4]
                if x != y:
                    out.append(Change(f"{module} global @{offset}",
                                      _word_text(int.from_bytes(x, "little")),
                                      _word_text(int.from_bytes(y, "little"))))
            for i, (x, y) in enumerate(zip(old_refs, refs, strict=False)):
                if x != y:
                    out.append(Change(f"{module} global ref {i}", x or "(null)", y or "(null)"))
        return out




def _word_text(word: int) -> str:
    signed = word - (1 << 32) if word & 0x80000000 else word
    return f"0x{word:08X} ({signed})"


# Re-exported for callers that type-check events.
__all__ = ["Breakpoint", "Change", "Debugger", "Event", "GlobalsView", "NativeDispatch",
           "StackFrame", "Stop", "Watchpoint"]
