"""The debugger core: stepping, breakpoints, watchpoints, events and time travel.

UI-free, in the spirit of Python's ``bdb``: :class:`Debugger` runs a
:class:`~iree_lab.debug.Program` and returns a :class:`Stop` from every motion
command (``step``, ``next``, ``finish``, ``cont``, ``run_to``, ``back``,
``reverse_continue``, ``goto``); the CLI prompt and the notebook panel are
thin layers over it.

How it runs. The program executes on a worker thread; the VM calls the
debugger's hook before every bytecode instruction (the stepping tier), in the
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

import ast
import bisect
import dataclasses
import fnmatch
import queue
import threading
import weakref
from collections.abc import Callable, Mapping

import numpy as np

from iree_lab.debug import breakpoints as B
from iree_lab.debug import snapshot as S
from iree_lab.debug.program import DebugError, ImportReplay, Program
from iree_lab.debug.source import SourceLocation
from iree_lab.debug.trace import trace_line
from iree_lab.debug.values import (
    Digest,
    RefInfo,
    RegisterValue,
    ref_info,
    ref_infos,
    register_values,
    trace_ref_text,
)
from iree_lab.hal.native import NativeExecutable
from iree_lab.vm import InvocationState
from iree_lab.vm.interpreter import Counting, NativeFrame
from iree_lab.vm.registers import slot_word
from iree_lab.vm.value import i32

_INF = float("inf")
_ABORT = object()
_DISPATCH_CCONV = "0rrriiiiiiiii_v"
# How many stop positions are remembered to detect a replay that diverged.
_HISTORY_LIMIT = 100_000


# Whether the debugged invocation counts straight-line runs without the hook where nothing
# can stop (vm.interpreter.Counting); False runs every instruction through the hook.
COUNTING = True
# Whether those counting runs keep registers in Python locals (vm.probed); False counts
# over the frame's register lists.
PROBED = True


class _Abandon(BaseException):
    """Unwinds an abandoned run (not an Exception: the VM must not catch it)."""


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
        return _lines_of(self.frame.code).location(self.pc)

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
        if self.breakpoints:
            text += "  " + ", ".join(f"breakpoint #{b.id}" for b in self.breakpoints)
        for wp, old, new in self.watch:
            text += f"  watch #{wp.id}: {old} -> {new}"
        if self.message:
            text += f"  ({self.message})"
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


@dataclasses.dataclass
class _Plan:
    mode: str  # into / over / out / continue / position / scan
    start: int = 0
    depth: int = 0
    target: int = 0
    reason: str | None = None  # overrides the stop reason at the target


_LINE_TABLES = B.LineTables()
_lines_of = _LINE_TABLES.get


Breakpoint = B.Breakpoint
Watchpoint = B.Watchpoint


# -- Expression scopes ---------------------------------------------------------------------


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


class _Scope(Mapping):
    """Names a condition or ``print`` expression can use, resolved on lookup.

    Built per evaluation, so it computes nothing up front: conditions run on
    every hit of their breakpoint.
    """

    __slots__ = ("engine", "inv", "frame", "k", "_regs")

    _BUILTINS = {"abs": abs, "min": min, "max": max, "len": len, "int": int, "float": float,
                 "bool": bool, "hex": hex, "round": round, "any": any, "all": all}  # fmt: skip
    _NAMES = ("i32", "i64", "f32", "f64", "word", "ref", "g", "pc", "function", "module",
              "position", "workgroup")

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
            info = self.engine.dispatches.get(id(self.inv))
            return info[2] if info is not None and info[0] is self.inv else None
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


_SAFE_BUILTINS = {"__builtins__": {}}
_TYPE_NAMES = frozenset({"i32", "i64"})


# -- The engine: one world and its worker ---------------------------------------------------


class _Engine:
    """One built world, the hook installed in it, its worker thread and snapshots."""

    def __init__(self, dbg: Debugger):
        # Weak: the worker thread keeps the engine alive, and a debugger dropped without
        # close() must still be collected (its finalizer then stops the worker).
        self.dbg = weakref.proxy(dbg)
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
        self.plan = _Plan("position", target=1)
        self.thread: threading.Thread | None = None
        self.to_worker: queue.Queue = queue.Queue()
        self.to_controller: queue.Queue = queue.Queue()
        self.snapshots: dict[int, S.Snapshot] = {}
        self.snapshot_positions: list[int] = []
        self.snapshots_enabled = dbg.snapshot_interval > 0
        self.snapshot_interval = dbg.snapshot_interval
        self.next_snapshot = 1
        self.last_frame = None
        self.last_depth = 0
        self.pending_import = None
        self.finished = False
        self.interrupt = False
        self.scan_hits: list[int] | None = None
        self.dispatches: dict[int, tuple] = {}  # id(inv) -> (inv, function name, workgroup)
        self.watch_values: dict[int, object] = {}
        self.hot_cache: dict[int, tuple] = {}
        self.snapshot_failures = 0
        self.hook, self.set_position, self.reset_frame, self._position = self._make_hook()
        self.world = None
        self.inv = None
        self.invs = []
        if dbg.init:
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
        if COUNTING:
            self.inv.counting = Counting(self.cell, self.count_plan, probed=PROBED)
        self.invs = [self.inv]
        for fn in dbg._progress_listeners:
            self.world.session.device.progress.add_listener(fn)

    # -- Dispatches without a stop run lifted ------------------------------------------------

    def dispatch_gate(self, name: str, lifted, instructions: int) -> bool:
        """Whether a VMVX dispatch may run lifted to numpy instead of under the hook.

        Only when nothing could stop or be reported inside it: running free or to a
        position beyond it, no listeners or watchpoints, no breakpoint that can resolve
        into the dispatch function. Then the position advances by the ``instructions``
        the VM would have executed (exact: positions stay those of a hooked run).
        """
        dbg = self.dbg
        if not self.active or self.interrupt or dbg._listeners or dbg._watchpoints:
            return False
        plan = self.plan
        if plan.mode in ("position", "scan"):
            stop = plan.target
        elif plan.mode == "continue":
            stop = _INF
        else:
            return False
        position = self.position
        if position + instructions >= stop:
            return False
        for bp in dbg._breakpoints.values():
            if bp.enabled and B.may_stop_in(bp, name, lifted.insts):
                return False
        self.set_position(position + instructions)
        return True

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
        entry = self.hot_cache.get(id(code))
        version = self.dbg._bp_version
        if entry is None or entry[0] is not code or entry[1] != version:
            by_k: dict[int, list] = {}
            if self.dbg._listeners:
                # Import calls are events: their instructions take the slow path.
                for k, control in enumerate(code.controls):
                    if control is not None and control.kind == "call" and control.is_import:
                        by_k.setdefault(k, [])
            for bp in self.dbg._breakpoints.values():
                if not bp.enabled:
                    continue
                try:
                    ks = B.resolve(bp, code, self.dbg._lines)
                except DebugError:
                    ks = set()
                for k in ks:
                    by_k.setdefault(k, []).append(bp)
            entry = (code, version, frozenset(by_k), by_k)
            self.hot_cache[id(code)] = entry
        return entry[2]

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
        listeners = self.dbg._listeners
        if not listeners:
            return
        event = Event(kind, self.position, self.last_depth, frame, k, len(self.invs) - 1,
                      detail, replay=self.position <= self.dbg._furthest)
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
        if self.dbg._instruction_listeners:
            self._emit("instruction", frame, k)

        hits = self._breakpoint_hits(inv, frame, k)
        watch = self._watch_changes(frame) if self.dbg._watchpoints else []
        plan = self.plan
        mode = plan.mode
        reason = None
        message = ""
        if mode == "position" or mode == "scan":
            if pos >= plan.target:
                if mode == "scan":
                    reason = "scan"
                else:
                    reason = plan.reason or _hit_reason(hits, watch) or "position"
            elif mode == "scan" and (hits or watch):
                self.scan_hits.append(pos)
        else:
            error = next((h for h in hits if isinstance(h, tuple)), None)
            if error is not None:
                reason, message = "condition-error", error[1]
                hits = [h[0] if isinstance(h, tuple) else h for h in hits]
            elif hits or watch:
                reason = _hit_reason(hits, watch)
            elif self.interrupt:
                reason = "interrupt"
            elif pos > plan.start:
                if mode == "into":
                    reason = "step"
                elif mode == "over" and self.depth() <= plan.depth:
                    reason = "step"
                elif mode == "out" and self.depth() < plan.depth:
                    reason = "step"
        if reason is not None:
            self.interrupt = False
            hits = [h[0] if isinstance(h, tuple) else h for h in hits]
            if reason not in ("scan",):
                for bp in hits:
                    if bp.temporary:
                        self.dbg._breakpoints.pop(bp.id, None)
                        self.dbg._bp_version += 1
            stop = self.make_stop(reason, frame, k, hits=hits, watch=watch, message=message)
            self.pause(stop)
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
        if plan.mode in ("position", "scan"):
            return
        info = executable.function_info(function)
        hits = []
        if phase == "before":
            for bp in list(self.dbg._breakpoints.values()):
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
            reason = "breakpoint"
            for bp in hits:
                if bp.temporary:
                    self.dbg._breakpoints.pop(bp.id, None)
                    self.dbg._bp_version += 1
        elif self.interrupt:
            reason = "interrupt"
        elif plan.mode == "into":
            reason = "step"
        else:
            return
        self.interrupt = False
        stop = self.make_stop(reason, hits=hits,
                              phase="dispatch" if phase == "before" else "dispatched")
        stop.dispatch = NativeDispatch(
            executable.format, executable.library_name, function, info.name,
            tuple(int(c) for c in state.workgroup_count),
            tuple(int(v) or 1 for v in state.workgroup_size),
            tuple(int(c) for c in state.constants), [bytes(b) for b in state.bindings],
            executable)
        stop.frames.append(StackFrame(len(stop.frames), "dispatch", executable.format,
                                      info.name, invocation=len(self.invs)))
        self.pause(stop)
        self._update_limit()

    def _update_limit(self) -> None:
        plan = self.plan
        pos = self.position
        mode = plan.mode
        if mode in ("position", "scan"):
            limit = plan.target
        elif mode == "into" or self.pending_import is not None or self.dbg._watchpoints \
                or self.dbg._instruction_listeners:
            limit = pos + 1
        elif mode == "over" and self.depth() <= plan.depth:
            limit = pos + 1
        else:
            limit = _INF
        if self.pending_import is not None or self.dbg._instruction_listeners or \
                (self.dbg._watchpoints and mode in ("position", "scan")):
            limit = pos + 1
        if self.snapshots_enabled and self.next_snapshot < limit:
            limit = self.next_snapshot
        if self.interrupt:
            limit = 0
        self.limit[0] = limit
        quiet = mode in ("continue", "position", "scan") and not self.dbg._listeners \
            and not self.dbg._watchpoints
        self.quiet[0] = quiet
        # Counting skips frame changes, so only while quiet (stepping needs them).
        count_limit = limit if quiet else 0
        if self.cell[1] <= pos + 1 < count_limit:
            # The VM may have picked its plain runner (nothing to count): let it re-pick.
            self.reenter = True
        self.cell[1] = count_limit

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
        if len(self.dispatches) > 64:
            live = {id(i) for i in invs}
            self.dispatches = {key: v for key, v in self.dispatches.items() if key in live}
        self._emit("dispatch", frame, 0, function=fn.name, workgroup=workgroup)

    def _frame_changed(self, frame, k) -> None:
        previous = self.last_frame
        depth = self.depth()
        if self.dbg._listeners:
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
        entry = self.hot_cache.get(id(frame.code))
        if entry is None or entry[0] is not frame.code or entry[1] != self.dbg._bp_version:
            self.hot_set(frame.code)
            entry = self.hot_cache[id(frame.code)]
        candidates = entry[3].get(k)
        if not candidates:
            return []
        hits = []
        for bp in candidates:
            if not bp.enabled:
                continue
            if bp.kind == "dispatch":
                info = self.dispatches.get(id(inv))
                if info is None or len(inv.stack) != 1 or info[0] is not inv:
                    continue
                if not fnmatch.fnmatchcase(info[1], bp.name or "*"):
                    continue
                if bp.workgroup is not None and tuple(bp.workgroup) != info[2]:
                    continue
            code = bp.compiled_condition()
            if code is not None:
                try:
                    ok = eval(code, _SAFE_BUILTINS, self.scope(inv, frame, k))  # noqa: S307
                except Exception as e:  # a bad condition stops, like gdb
                    bp.hits += 1
                    hits.append((bp, f"condition of breakpoint #{bp.id} raised "
                                     f"{type(e).__name__}: {e}"))
                    continue
                if not ok:
                    continue
            bp.hits += 1
            if bp.hits > bp.ignore:
                hits.append(bp)
        return hits

    def conditions_false(self, frame, k) -> bool:
        """Whether every breakpoint at ``k`` has a register-only condition that is false now
        (then the hit needs no bookkeeping). Anything else takes the full path."""
        entry = self.hot_cache.get(id(frame.code))
        if entry is None or entry[0] is not frame.code or entry[1] != self.dbg._bp_version:
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
                if eval(bp.compiled_condition(), _SAFE_BUILTINS, values):  # noqa: S307
                    return False
            except Exception:
                return False
        return True

    def scope(self, inv, frame, k) -> _Scope:
        return _Scope(self, inv, frame, k)

    def _watch_changes(self, frame) -> list:
        out = []
        for wp in self.dbg._watchpoints.values():
            if not wp.enabled:
                continue
            try:
                value = self.dbg._watch_read(wp, frame, self)
            except Exception:
                continue
            if value is _NOT_IN_SCOPE:
                continue
            key = wp.id
            if key not in self.watch_values:
                self.watch_values[key] = value
                continue
            old = self.watch_values[key]
            if not _same(old, value):
                self.watch_values[key] = value
                wp.hits += 1
                out.append((wp, _show(old), _show(value)))
        return out

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
                  phase="before") -> Stop:
        frames = self.frames()
        if frame is not None and frames and frames[-1].frame is frame and k is not None:
            top = frames[-1]
            top.k = k
            top.pc = frame.code.pcs[k]
        stop = Stop(reason, self.position, phase, frames, list(hits), list(watch),
                    message=message)
        top = stop.frame
        if top is not None and top.kind == "bytecode":
            if top.k is not None:
                stop.text = trace_line(top.frame, top.k).split("]    ", 1)[1]
            stop._words = top.frame.registers.raw_words()
            stop._refs = [trace_ref_text(r) for r in top.frame.RR]
        stop._globals = self.dbg._globals_copy(self)
        return stop

    def pause(self, stop: Stop) -> None:
        """Hands ``stop`` to the controller and blocks until the next command."""
        self.to_controller.put(("stop", stop))
        command = self.to_worker.get()
        if command is _ABORT:
            raise _Abandon()
        self.plan = command
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
            "hits": {i: bp.hits for i, bp in self.dbg._breakpoints.items()},
            "watch_hits": {i: wp.hits for i, wp in self.dbg._watchpoints.items()},
            "watch_values": dict(self.watch_values),
            "cursor": self.world.replay.cursor if self.world.replay is not None else 0,
        }
        try:
            snap = S.take([self.inv, self.world.context, self.world.session], extra=extra,
                          max_bytes=self.dbg.snapshot_max_bytes)
        except S.NotSnapshottable as e:
            self.snapshot_failures += 1
            self.dbg.snapshot_note = str(e)
            if pos == 1 or self.snapshot_failures > 8:
                self.snapshots_enabled = False
            self.next_snapshot = pos + self.snapshot_interval
            return
        self.snapshots[pos] = snap
        bisect.insort(self.snapshot_positions, pos)
        self.next_snapshot = pos + self.snapshot_interval
        if len(self.snapshots) > self.dbg.max_snapshots:
            # Thin out: keep the entry snapshot and every other one; space new ones wider.
            keep = self.snapshot_positions[::2]
            if self.snapshot_positions[-1] not in keep:
                keep.append(self.snapshot_positions[-1])
            for p in self.snapshot_positions:
                if p not in keep:
                    del self.snapshots[p]
            self.snapshot_positions = keep
            self.snapshot_interval *= 2

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
        for i, bp in self.dbg._breakpoints.items():
            bp.hits = extra["hits"].get(i, 0)
        for i, wp in self.dbg._watchpoints.items():
            wp.hits = extra["watch_hits"].get(i, 0)
        if self.world.replay is not None:
            self.world.replay.cursor = extra["cursor"]
        self.next_snapshot = extra["position"] + self.snapshot_interval
        self.limit[0] = _INF
        self.cell[1] = 0

    # -- The worker --------------------------------------------------------------------------

    def start_worker(self, plan: _Plan) -> None:
        self.plan = plan
        self._update_limit_for_start()
        self.thread = threading.Thread(target=self._drive, name="iree_lab-debugger",
                                       daemon=True)
        self.thread.start()

    def _update_limit_for_start(self) -> None:
        # Before the first hook call of a run: make sure the hook takes the slow path.
        self.reset_frame()
        self.limit[0] = 0
        self.cell[1] = 0

    def _drive(self) -> None:
        try:
            with np.errstate(all="ignore"):
                self._drive_loop()
        except _Abandon:
            return
        except BaseException as e:  # a debugger or VM bug: report it, do not hang
            self.to_controller.put(("error", e))

    def _drive_loop(self) -> None:
        if self.world is None:
            from iree_lab.vm.status import VMError

            try:
                self._build()
            except VMError as e:  # an __init failed: the run ends here
                self.finished = True
                self.invs = []
                while True:
                    stop = self.make_stop("failed", phase="after")
                    stop.message = str(e)
                    self.pause(stop)
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
                self._emit("suspend", inv.stack[-1] if inv.stack else None)
                plan = self.plan
                if plan.mode not in ("position", "scan") and (
                        plan.mode == "into" or self.dbg.break_on_suspend or self.interrupt):
                    self.interrupt = False
                    self.pause(self.make_stop("suspend", phase="after"))
                    self._update_limit()
                self._emit("resume", inv.stack[-1] if inv.stack else None)
                continue
            break
        self.finished = True
        self.invs = [inv]
        if inv.state == InvocationState.DONE:
            self._emit("done", results=inv.results)
        else:
            self._emit("failed", status=inv.status)
        while True:
            stop = self.make_stop("done" if inv.state == InvocationState.DONE else "failed",
                                  phase="after")
            if inv.state == InvocationState.DONE:
                stop.results = inv.results
                try:
                    stop.results_text = self.world.format_results(inv.results)
                except Exception as e:  # printing must not break the stop
                    stop.results_text = f"<unprintable results: {e}>"
            else:
                stop.status = inv.status
                stop.message = inv.status.status_text() if inv.status is not None else ""
            self.pause(stop)

    def abort(self) -> None:
        """Stops the worker (blocked in a stop) and waits for it to unwind."""
        thread = self.thread
        if thread is None:
            return
        if thread.is_alive():
            self.to_worker.put(_ABORT)
            thread.join(timeout=30)
        self.thread = None
        # Drain anything the worker left for the controller.
        while not self.to_controller.empty():
            self.to_controller.get_nowait()


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


def _hit_reason(hits, watch) -> str | None:
    if hits:
        return "breakpoint"
    if watch:
        return "watchpoint"
    return None


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


# -- The debugger --------------------------------------------------------------------------


class Debugger:
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
        self.snapshot_note = ""
        self._breakpoints: dict[int, Breakpoint] = {}
        self._watchpoints: dict[int, Watchpoint] = {}
        self._next_id = 1
        self._bp_version = 0
        self._lines = _LINE_TABLES
        self._listeners: list[tuple[Callable, bool]] = []
        self._progress_listeners: list[Callable] = []
        self._instruction_listeners = False
        self._engine: _Engine | None = None
        self._furthest = 0
        self._history: dict[int, tuple] = {}
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
    def for_scheduler(scheduler):
        """A :class:`~iree_lab.debug.fibers.FiberDebugger` over every fiber of ``scheduler``."""
        from iree_lab.debug.fibers import FiberDebugger

        return FiberDebugger(scheduler)

    # -- Lifecycle ---------------------------------------------------------------------------

    def start(self) -> Stop:
        """(Re)starts the program from scratch and stops at the first instruction."""
        self._new_engine()
        return self._run(_Plan("position", target=1, reason="entry"))

    def _new_engine(self) -> _Engine:
        if self._engine is not None:
            self._engine.abort()
        self._engine = None
        self._engine = engine = _Engine(self)
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
    def engine(self) -> _Engine:
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

    def _run(self, plan: _Plan) -> Stop:
        engine = self.engine
        if engine.thread is None:
            engine.start_worker(plan)
        else:
            engine.to_worker.put(plan)
        return self._wait(engine)

    def _wait(self, engine: _Engine) -> Stop:
        while True:
            try:
                kind, item = engine.to_controller.get(timeout=0.25)
            except queue.Empty:
                if engine.thread is not None and not engine.thread.is_alive():
                    raise DebugError("the debugger's worker ended unexpectedly") from None
                continue
            except KeyboardInterrupt:
                engine.interrupt = True
                engine.limit[0] = 0
                engine.cell[1] = 0
                continue
            if kind == "error":
                engine.thread = None
                raise DebugError(f"internal error while running: {type(item).__name__}: "
                                 f"{item}") from item
            return self._arrived(item)

    def _arrived(self, stop: Stop) -> Stop:
        # Positions reached again must show the same instruction (determinism check).
        top = stop.frame
        key = (stop.phase, top.name if top is not None else None)
        seen = self._history.get(stop.position)
        if seen is not None and seen[0] == stop.phase and seen != key and \
                stop.reason not in ("done", "failed") and stop.phase == "before":
            raise DebugError(f"re-execution diverged at position {stop.position}: was "
                             f"{seen[1]}, now {key[1]} (a nondeterministic import? see "
                             "Program(replay_imports=...))")
        if len(self._history) < _HISTORY_LIMIT:
            self._history[stop.position] = key
        self._furthest = max(self._furthest, stop.position)
        stop.changes = self._changes(self.stop, stop)
        self.previous = self.stop
        self.stop = stop
        return stop

    def _plan(self, mode: str, **kw) -> _Plan:
        engine = self.engine
        return _Plan(mode, start=engine.position, depth=engine.depth(), **kw)

    # -- Motion ------------------------------------------------------------------------------

    def step(self, count: int = 1) -> Stop:
        """Step into: the next instruction, wherever it runs (callee, dispatch, suspend)."""
        for _ in range(max(1, count)):
            stop = self._run(self._plan("into"))
            if stop.finished or stop.reason not in ("step", "suspend"):
                break
        return self.stop

    step_into = step

    def next(self, count: int = 1) -> Stop:
        """Step over: the next instruction at this call depth or shallower."""
        for _ in range(max(1, count)):
            stop = self._run(self._plan("over"))
            if stop.finished or stop.reason != "step":
                break
        return self.stop

    step_over = next

    def finish(self) -> Stop:
        """Step out: run until the current function has returned."""
        return self._run(self._plan("out"))

    step_out = finish

    def cont(self) -> Stop:
        """Continue to the next breakpoint, watchpoint, or the end."""
        return self._run(self._plan("continue"))

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
        if bp.id in self._breakpoints:  # stopped elsewhere first
            self.delete(bp.id)
        return stop

    def goto(self, position: int, *, reason: str | None = None) -> Stop:
        """Travels to ``position`` (before its instruction), backwards or forwards."""
        position = max(1, int(position))
        current = self.stop
        if current is not None and current.position == position and current.phase == "before":
            return current
        if current is not None and (position > current.position) and not current.finished:
            return self._run(_Plan("position", start=self.engine.position,
                                   target=position, reason=reason))
        return self._rewind(position, reason)

    def back(self, count: int = 1) -> Stop:
        """Step back: the stop before the instruction ``count`` positions earlier."""
        current = self.stop
        if current is None:
            raise DebugError("the debugger has not been started (call start())")
        target = current.position - max(1, count) + (1 if current.phase == "after" else 0)
        return self.goto(max(1, target), reason="step")

    step_back = back

    def reverse_continue(self) -> Stop:
        """Runs backwards to the previous breakpoint or watchpoint hit (or the start)."""
        current = self.stop
        if current is None:
            raise DebugError("the debugger has not been started (call start())")
        end = current.position + (1 if current.phase == "after" else 0)
        hits = self._scan(end)
        if not hits:
            return self.goto(1, reason="start")
        return self.goto(hits[-1])

    def restart(self) -> Stop:
        """Back to the first instruction (same world when snapshots allow)."""
        return self.goto(1, reason="entry")

    def _rewind(self, position: int, reason: str | None) -> Stop:
        engine = self.engine
        snap = engine.best_snapshot(position) if engine.snapshots_enabled else None
        if snap is None:
            engine = self._new_engine()
            return self._run(_Plan("position", target=position, reason=reason))
        engine.abort()
        engine.restore(snap)
        self.restores += 1
        if snap.extra["position"] == position:
            inv = engine.inv
            top = inv.stack[-1]
            hits = []  # a restored stop re-evaluates nothing: it was reached before
            stop = engine.make_stop(reason or "position", top, top.k, hits=hits)
            return self._arrived(stop)
        return self._run(_Plan("position", start=snap.extra["position"], target=position,
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
        engine.scan_hits = []
        if end <= start + 0:
            return []
        if start == 1:
            # The entry instruction itself is not re-run by the hook: check it here.
            top = engine.inv.stack[-1]
            hits = engine._breakpoint_hits(engine.inv, top, top.k)
            if hits and end > 1:
                engine.scan_hits.append(1)
        plan = _Plan("scan", start=start, target=end)
        if engine.thread is None:
            engine.start_worker(plan)
        else:
            engine.to_worker.put(plan)
        while True:
            kind, item = engine.to_controller.get()
            if kind == "error":
                engine.thread = None
                raise DebugError(f"internal error while scanning: {item}") from item
            break
        return sorted(set(p for p in engine.scan_hits if p < end))

    # -- Breakpoints -------------------------------------------------------------------------

    def _add(self, bp: Breakpoint) -> Breakpoint:
        bp.id = self._next_id
        B.validate(bp)
        self._check_location(bp)
        self._next_id += 1
        self._breakpoints[bp.id] = bp
        self._bp_version += 1
        return bp

    def _check_location(self, bp: Breakpoint) -> None:
        """Offset/block breakpoints must name a function and a valid place in it."""
        if bp.kind not in ("offset", "block") or self._engine is None or \
                self._engine.world is None:
            return
        from iree_lab.vm import BytecodeModule

        found = False
        for module in self.world.context.modules:
            if not isinstance(module, BytecodeModule):
                continue
            for ordinal in range(len(module.source.functions)):
                code = B.StaticCode(module, ordinal)
                if B.function_matches(bp.function, code):
                    B.resolve(bp, code, self._lines)  # raises DebugError when invalid
                    found = True
        if not found and not self.dispatches:
            raise DebugError(f"no function {bp.function!r} in the program")

    def break_at(self, function: str, pc: int | None = None, *, block: int | None = None,
                 condition: str | None = None, ignore: int = 0,
                 temporary: bool = False) -> Breakpoint:
        """Breakpoint at ``function+pc`` or at block ``^bbN`` of ``function``."""
        if (pc is None) == (block is None):
            raise DebugError("give exactly one of pc= or block=")
        kind = "offset" if pc is not None else "block"
        return self._add(Breakpoint(0, kind, function=function, pc=pc, block=block,
                                    condition=condition, ignore=ignore, temporary=temporary))

    def break_source(self, file: str, line: int, *, condition: str | None = None,
                     ignore: int = 0) -> Breakpoint:
        """Breakpoint where execution enters ``file:line`` (from the debug database)."""
        return self._add(Breakpoint(0, "source", file=file, line=int(line),
                                    condition=condition, ignore=ignore))

    def break_opcode(self, opcode: str, *, condition: str | None = None,
                     ignore: int = 0) -> Breakpoint:
        """Breakpoint before every instruction with this opcode name (patterns allowed)."""
        return self._add(Breakpoint(0, "opcode", opcode=opcode, condition=condition,
                                    ignore=ignore))

    def break_import(self, name: str, *, condition: str | None = None,
                     ignore: int = 0) -> Breakpoint:
        """Breakpoint at every call of the import ``name`` (e.g. ``hal.command_buffer.dispatch``)."""
        return self._add(Breakpoint(0, "import", name=name, condition=condition, ignore=ignore))

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

    def watch_register(self, function: str, register: str | int, type: str | None = None
                       ) -> Watchpoint:
        """Watch a register (``"i3"``, ``"r1"``, or a slot with ``type``) in ``function``."""
        kind, slot = _parse_register(register, type)
        wp = Watchpoint(self._next_id, "register", kind, slot, function=function)
        return self._add_watch(wp)

    def watch_global(self, offset: int, type: str = "i32", module: str | None = None
                     ) -> Watchpoint:
        """Watch a global: rwdata ``offset`` read as ``type``, or ref global ``offset``."""
        if type not in ("i32", "i64", "f32", "f64", "ref"):
            raise DebugError(f"unknown global type {type!r}")
        wp = Watchpoint(self._next_id, "global", type, int(offset), module=module)
        return self._add_watch(wp)

    def _add_watch(self, wp: Watchpoint) -> Watchpoint:
        self._next_id += 1
        self._watchpoints[wp.id] = wp
        self._bp_version += 1
        engine = self._engine
        if engine is not None and self.stop is not None and self.stop.frame is not None:
            top = self.stop.frame
            try:
                value = self._watch_read(wp, top.frame if top.kind == "bytecode" else None,
                                         engine)
                if value is not _NOT_IN_SCOPE:
                    engine.watch_values[wp.id] = value
            except Exception:
                pass
            engine.limit[0] = 0
            engine.cell[1] = 0
        return wp

    def _watch_read(self, wp: Watchpoint, frame, engine):
        if wp.kind == "register":
            if frame is None or type(frame) is NativeFrame or \
                    not B.function_matches(wp.function, frame.code):
                return _NOT_IN_SCOPE
            regs = frame.registers
            if wp.type == "ref":
                obj = regs.ref(wp.slot)
                return ("ref", trace_ref_text(obj) or "(null)")
            return _read_typed(regs, wp.type, wp.slot)
        state = self._module_state(wp.module, engine)
        view = GlobalsView(state)
        if wp.type == "ref":
            return ("ref", trace_ref_text(view.ref(wp.slot)) or "(null)")
        return view.read(wp.type, wp.slot)

    def _module_state(self, module: str | None, engine: _Engine | None = None):
        from iree_lab.vm import BytecodeModule

        world = (engine or self.engine).world
        if world is None:
            raise DebugError("module globals are available once the modules are registered "
                             "(the debugger is inside a module's __init)")
        context = world.context
        candidates = [(m, s) for m, s in zip(context.modules, context.states, strict=True)
                      if isinstance(m, BytecodeModule) and (module is None or m.name == module)]
        if not candidates:
            raise DebugError(f"no bytecode module {module!r} in the program")
        return candidates[-1][1]

    def delete(self, ident: int) -> None:
        if self._breakpoints.pop(ident, None) is None and \
                self._watchpoints.pop(ident, None) is None:
            raise DebugError(f"no breakpoint or watchpoint #{ident}")
        self._bp_version += 1
        self._touch()

    def enable(self, ident: int, enabled: bool = True) -> None:
        item = self._breakpoints.get(ident) or self._watchpoints.get(ident)
        if item is None:
            raise DebugError(f"no breakpoint or watchpoint #{ident}")
        item.enabled = enabled
        self._bp_version += 1
        self._touch()

    def disable(self, ident: int) -> None:
        self.enable(ident, False)

    def _touch(self) -> None:
        if self._engine is not None:
            self._engine.reset_frame()

    @property
    def breakpoints(self) -> list[Breakpoint]:
        return list(self._breakpoints.values())

    @property
    def watchpoints(self) -> list[Watchpoint]:
        return list(self._watchpoints.values())

    # -- Listeners ---------------------------------------------------------------------------

    def add_listener(self, fn: Callable[[Event], None], *, instructions: bool = False) -> None:
        """Calls ``fn(event)`` on the worker thread for every event (see the module doc).

        ``instructions=True`` also delivers one ``instruction`` event per instruction
        (which keeps the hook on its slow path)."""
        self._listeners.append((fn, instructions))
        self._instruction_listeners = any(i for _, i in self._listeners)
        self._bp_version += 1
        self._touch()

    def add_progress_listener(self, fn: Callable) -> None:
        """Calls ``fn(progress)`` (a :class:`iree_lab.hal.progress.DispatchProgress`) on the
        worker thread as dispatches are submitted and finish, in every world the debugger
        builds (time travel rebuilds worlds; their counts start again)."""
        self._progress_listeners.append(fn)
        engine = self._engine
        if engine is not None and engine.world is not None:
            engine.world.session.device.progress.add_listener(fn)

    def remove_progress_listener(self, fn) -> None:
        self._progress_listeners = [f for f in self._progress_listeners if f is not fn]
        engine = self._engine
        if engine is not None and engine.world is not None:
            engine.world.session.device.progress.remove_listener(fn)

    def remove_listener(self, fn) -> None:
        self._listeners = [(f, i) for f, i in self._listeners if f is not fn]
        self._instruction_listeners = any(i for _, i in self._listeners)
        self._bp_version += 1
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
        return GlobalsView(self._module_state(module))

    def evaluate(self, expression: str, level: int = -1):
        """Evaluates a Python expression in a frame's scope (see :class:`Breakpoint`)."""
        frame = self.frame(level)
        if frame.kind != "bytecode":
            raise DebugError(f"frame {frame.name} has no registers")
        engine = self.engine
        inv = engine.invs[min(frame.invocation, len(engine.invs) - 1)]
        scope = engine.scope(inv, frame.frame, frame.k)
        try:
            return eval(compile(expression, "<print>", "eval"), _SAFE_BUILTINS, scope)  # noqa: S307
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

    def _globals_copy(self, engine: _Engine) -> dict:
        from iree_lab.vm import BytecodeModule

        out = {}
        if engine.world is None:
            return out
        context = engine.world.context
        for module, state in zip(context.modules, context.states, strict=True):
            if isinstance(module, BytecodeModule):
                out[module.name] = (bytes(state.rwdata),
                                    [trace_ref_text(r) for r in state.global_refs])
        return out

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


def _read_typed(regs, type_: str, slot: int):
    if type_ == "i32":
        return regs.i32(slot)
    if type_ == "i64":
        return regs.i64(slot)
    if type_ == "f32":
        return float(regs.f32(slot))
    if type_ == "f64":
        return regs.f64(slot)
    raise DebugError(f"unknown register type {type_!r}")


def _parse_register(register: str | int, type_: str | None) -> tuple[str, int]:
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


# Re-exported for callers that type-check events.
__all__ = ["Breakpoint", "Change", "Debugger", "Event", "GlobalsView", "StackFrame", "Stop",
           "Watchpoint"]
