"""What the debugger panel shows, as plain data: stop line, call stack, registers, refs.

Data in (a :class:`~iree_lab.debug.Stop`, its frames, the debugger's
breakpoints), JSON-ready dicts out, no widget state. The panel sends only the
selected frame's registers, so a step's payload stays small.

Registers are shown as IREE lays them out: the i32 bank's raw 32-bit words,
each read as i32 and f32, and each aligned pair (``%iN:N+1``) as i64 and f64.
Numbers are formatted like IREE's execution trace (i32/i64 signed decimal,
f32 ``%.9g``, f64 ``%.17g``, NaNs as glibc spells them), so what the panel shows matches
``--trace_execution`` and ``iree-lab debug``. A register is *changed* when
the debugger core reports it changed since the previous stop (same frame); a
pair is changed when either of its words is.
"""

from __future__ import annotations

import re

from iree_lab.isa.decoder import format_f32, format_f64

# The typed readings a register row carries (the panel's view selector picks among them).
REGISTER_VIEWS = ("raw", "i32", "i64", "f32", "f64")

_REG = re.compile(r"^%([ir])(\d+)$")

# Changes listed in the panel (the rest are counted).
MAX_CHANGES = 24


def changed_slots(changes) -> tuple[set[int], set[int]]:
    """(i32 slots, ref slots) named by ``Change`` records (``%i3``, ``%r1``)."""
    ints: set[int] = set()
    refs: set[int] = set()
    for change in changes or ():
        m = _REG.match(change.name)
        if m:
            (ints if m.group(1) == "i" else refs).add(int(m.group(2)))
    return ints, refs


def register_rows(registers, changed: set[int] = frozenset()) -> list[dict]:
    """One row per i32-bank slot: the raw word and every typed reading as text.

    ``i64``/``f64`` are the aligned pair starting at the slot ("" for odd slots);
    ``changed`` marks the slot, ``pair_changed`` the pair (either word).
    """
    rows = []
    for r in registers:
        pair = r.i64 is not None
        rows.append({
            "slot": r.slot,
            "name": r.name,
            "raw": f"0x{r.word:08X}",
            "i32": str(r.i32),
            "f32": format_f32(r.f32),
            "i64": str(r.i64) if pair else "",
            "f64": format_f64(r.f64) if pair else "",
            "pair": f"%i{r.slot}:{r.slot + 1}" if pair else "",
            "changed": r.slot in changed,
            "pair_changed": pair and (r.slot in changed or r.slot + 1 in changed),
        })
    return rows


def ref_rows(refs, changed: set[int] = frozenset()) -> list[dict]:
    """One row per ref register: type, identity and contents summary."""
    return [{
        "slot": r.slot,
        "name": r.name,
        "type": r.type or "",
        "identity": r.identity or "",
        "summary": r.summary,
        "null": r.type is None,
        "changed": r.slot in changed,
    } for r in refs]


def frame_rows(frames) -> list[dict]:
    """The combined call stack, outermost first (the panel lists it innermost first)."""
    rows = []
    for f in frames:
        rows.append({
            "level": f.level,
            "kind": f.kind,
            "module": f.module,
            "function": f.function,
            "pc": f.pc if f.pc is not None else -1,
            "name": f.name,
            "label": frame_label(f),
            "shown": _tools_name(f)[0], "ordinal": _tools_name(f)[1],
            "nested": f.invocation > 0,
            "workgroup": list(f.workgroup) if f.workgroup is not None else None,
        })
    return rows


def _tools_name(frame) -> tuple[str, int | None]:
    """``module.function+PC`` with the function named as IREE's tools name it, and its
    ordinal (None for frames that are not bytecode)."""
    code = getattr(frame.frame, "code", None) if frame.kind == "bytecode" else None
    functions = getattr(getattr(getattr(code, "module", None), "source", None), "functions", None)
    ordinal = getattr(code, "ordinal", None)
    if functions is None or ordinal is None or not 0 <= ordinal < len(functions):
        return frame.name, None
    shown = f"{frame.module}.{functions[ordinal].iree_name}"
    return (shown if frame.pc is None else f"{shown}+{frame.pc:08X}"), ordinal


def frame_label(frame) -> str:
    """A stack frame as the panel shows it: the debugger's text with the function named the
    way every view names it (the name IREE's tools print, ordinal alongside)."""
    shown, ordinal = _tools_name(frame)
    text = str(frame).replace(frame.name, shown, 1)
    return text if ordinal is None else f"{text} (ordinal {ordinal})"


def function_spec(frame) -> str:
    """How the panel names a frame's function to the debugger (``module.function``)."""
    return f"{frame.module}.{frame.function}"


def location_data(frame) -> dict | None:
    """The frame's MLIR source location and its source line when the file is readable."""
    if frame is None or frame.kind != "bytecode":
        return None
    loc = frame.location()
    if loc is None:
        return None
    return {"short": loc.short, "text": loc.text, "file": loc.file, "line": loc.line,
            "column": loc.column, "source": loc.source_line()}


def status_line(stop) -> str:
    """The stop reason and where, as ``iree-lab debug`` prints it."""
    if stop is None:
        return "not started"
    return str(stop)


def breakpoint_rows(breakpoints) -> list[dict]:
    return [{"id": b.id, "kind": b.kind, "text": b.describe(), "enabled": b.enabled,
             "hits": b.hits, "function": b.function, "pc": b.pc} for b in breakpoints]


# Machine-code lines a native dispatch sends to the panel (the rest are counted).
MAX_LISTING_LINES = 2000
BINDING_HEAD_BYTES = 64


def native_dispatch_data(stop) -> dict | None:
    """A stop at a dispatch of native code: export, grid, constants, bindings, listing."""
    native = getattr(stop, "dispatch", None) if stop is not None else None
    if native is None:
        return None
    kind, lines = native.listing()
    return {
        "export": native.export_name,
        "format": native.executable_format,
        "phase": "before" if stop.phase == "dispatch" else "after",
        "workgroup_count": list(native.workgroup_count),
        "workgroup_size": list(native.workgroup_size),
        "constants": [f"0x{c:08X}" for c in native.constants],
        "bindings": [{"binding": i, "bytes": len(b),
                      "head": b[:BINDING_HEAD_BYTES].hex(" ")} for i, b in
                     enumerate(native.bindings)],
        "listing_kind": kind,
        "listing": lines[:MAX_LISTING_LINES],
        "more_listing": max(0, len(lines) - MAX_LISTING_LINES),
    }


def panel_state(stop, level: int = -1, breakpoints=()) -> dict:
    """Everything the panel draws after a stop, for the frame at ``level`` (-1: innermost).

    Change highlighting applies to the innermost frame (what the core compares
    between stops); other frames show their registers unmarked.
    """
    frames = list(stop.frames) if stop is not None else []
    state = {
        "reason": stop.reason if stop is not None else "",
        "position": stop.position if stop is not None else 0,
        "phase": stop.phase if stop is not None else "",
        "finished": bool(stop is not None and stop.finished),
        "status": status_line(stop),
        "message": stop.message if stop is not None else "",
        "results": (stop.results_text or "").strip() if stop is not None else "",
        "frames": frame_rows(frames),
        "level": -1,
        "frame": None,
        "pc": -1,
        "instruction": None,
        "location": None,
        "registers": [],
        "refs": [],
        "changes": [],
        "more_changes": 0,
        "breakpoints": breakpoint_rows(breakpoints),
        "native": native_dispatch_data(stop),
    }
    if not frames:
        return state
    if level < 0 or level >= len(frames):
        level = len(frames) - 1
    frame = frames[level]
    top = level == len(frames) - 1
    ints, refs = changed_slots(stop.changes) if top else (set(), set())
    state["level"] = level
    state["frame"] = state["frames"][level]
    state["pc"] = frame.pc if frame.pc is not None else -1
    state["instruction"] = (stop.text if top else frame.instruction_text())
    state["location"] = location_data(frame)
    state["registers"] = register_rows(frame.registers(), ints)
    state["refs"] = ref_rows(frame.refs(), refs)
    changes = [str(c) for c in stop.changes]
    state["changes"] = changes[:MAX_CHANGES]
    state["more_changes"] = max(0, len(changes) - MAX_CHANGES)
    return state
