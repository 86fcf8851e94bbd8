"""Layer 5: the debugger core, execution traces and source maps (UI-free).

In the spirit of Python's ``bdb`` under ``pdb``: :class:`Debugger` drives a
:class:`Program` and returns a :class:`Stop` from each command; the
``iree-lab debug`` prompt and the notebook panel sit on top::

    from iree_lab.debug import Debugger
    dbg = Debugger.launch("model.vmfb", "predict", ["1x8xf32=1 2 3 4 5 6 7 8"])
    dbg.break_import("hal.command_buffer.dispatch")
    dbg.break_dispatch()                 # first instruction of every VMVX workgroup
    print(dbg.cont())                    # -> Stop (reason, position, frames)
    dbg.registers()                      # raw words with i32/i64/f32/f64 readings
    dbg.back()                           # time travel: the previous instruction

:class:`Tracer` writes IREE's ``--trace_execution`` lines (or JSONL records);
:mod:`iree_lab.debug.source` maps instructions to MLIR source locations.
"""

from iree_lab.debug.breakpoints import Breakpoint, BreakpointKind, WatchKind, Watchpoint
from iree_lab.debug.debugger import Change, Debugger, Event, GlobalsView, StackFrame, Stop
from iree_lab.debug.engine import EventKind, PlanMode, StopReason
from iree_lab.debug.fibers import FiberDebugger, FiberStop, FiberView
from iree_lab.debug.program import DebugError, ImportReplay, Program, World
from iree_lab.debug.source import SourceLocation
from iree_lab.debug.trace import Tracer, instruction_record, trace_line, trace_program
from iree_lab.debug.values import RefInfo, RegisterValue, register_values, summarize_ref

__all__ = [
    "Breakpoint",
    "BreakpointKind",
    "Change",
    "DebugError",
    "Debugger",
    "Event",
    "EventKind",
    "FiberDebugger",
    "FiberStop",
    "FiberView",
    "GlobalsView",
    "ImportReplay",
    "PlanMode",
    "Program",
    "RefInfo",
    "RegisterValue",
    "SourceLocation",
    "StackFrame",
    "Stop",
    "StopReason",
    "Tracer",
    "WatchKind",
    "Watchpoint",
    "World",
    "instruction_record",
    "register_values",
    "summarize_ref",
    "trace_line",
    "trace_program",
]
