"""Execution traces: one line per executed instruction, as IREE's debug builds print them.

IREE (built with ``IREE_VM_EXECUTION_TRACING_ENABLE``) prints, before each
instruction, ``[module.function+PPPPPPPP]`` + four spaces + the instruction
disassembled with operand values (``iree_vm_bytecode_trace_disassembly``).
:class:`Tracer` produces the same lines from the stepping tier's hook (the
instruction text comes from :func:`iree_lab.isa.format_instruction`), and a
JSONL form with full typed values for tools: each record has the operands'
typed values read before the instruction and, where the next instruction runs
in the same frame, the results' values after it.

Like IREE, only the context the tracer is installed on is traced: VMVX
dispatch functions run in their own context, which IREE creates without the
trace flag (``vmvx_module_loader.c``); pass ``dispatches=True`` to
:func:`trace_program` to include them anyway.

    tracer = Tracer(sys.stderr)
    ctx = vm.Context(modules, hook=tracer.hook)   # __init is traced too, like IREE
    ctx.call("loop_sum", 3)
"""

from __future__ import annotations

import json
import sys

import numpy as np

from iree_lab.debug.values import summarize_ref, trace_ref_text
from iree_lab.isa import format_instruction
from iree_lab.isa import tables as T
from iree_lab.vm.registers import slot_word


class FrameValues:
    """:class:`iree_lab.isa.RegisterValues` over a live frame (what the trace prints)."""

    __slots__ = ("R", "RR", "state")

    def __init__(self, frame):
        self.R = frame.R
        self.RR = frame.RR
        self.state = frame.code.state

    def i32(self, slot: int) -> int:
        return slot_word(self.R[slot])

    def ref(self, slot: int) -> str | None:
        return trace_ref_text(self.RR[slot])

    def rwdata(self, offset: int, size: int) -> bytes:
        return bytes(self.state.rwdata[offset:offset + size])

    def global_ref(self, ordinal: int) -> str | None:
        refs = self.state.global_refs
        return trace_ref_text(refs[ordinal]) if 0 <= ordinal < len(refs) else None


def trace_prefix(frame, k: int) -> str:
    """``[module.function+PPPPPPPP]`` (``[module@ordinal+...]`` for unnamed functions)."""
    code = frame.code
    name = code.module.source.functions[code.ordinal].name
    where = f".{name}" if name else f"@{code.ordinal}"
    return f"[{code.module.name}{where}+{code.pcs[k]:08X}]"


def trace_line(frame, k: int) -> str:
    """The trace line of instruction ``k`` of ``frame`` (before it executes)."""
    code = frame.code
    inst = code.instructions[k]
    text = format_instruction(inst, code.decoded, values=FrameValues(frame), block_names=False)
    return f"{trace_prefix(frame, k)}    {text}"


# -- Typed operand values (JSONL) ----------------------------------------------------------

_KIND_TYPES = {T.I32: "i32", T.I64: "i64", T.F32: "f32", T.F64: "f64",
               T.REF: "ref", T.REF_MOVE: "ref", T.ANY: "any"}  # fmt: skip


def _typed(kind: str, R, RR, raw: int) -> dict:
    if kind == "ref" or (kind == "any" and raw & T.REF_REGISTER_TYPE_BIT):
        slot = raw & T.REF_REGISTER_MASK
        obj = RR[slot] if slot < len(RR) else None
        out = {"register": f"%r{slot}", "type": "ref",
               "value": trace_ref_text(obj), "summary": summarize_ref(obj)}
        if raw & T.REF_REGISTER_MOVE_BIT:
            out["move"] = True
        return out
    slot = raw & T.I32_REGISTER_MASK
    if slot >= len(R):
        return {"register": f"%i{slot}", "type": kind, "value": None}
    word = slot_word(R[slot])
    if kind in ("i64", "f64"):
        hi = slot_word(R[slot + 1]) if slot + 1 < len(R) else 0
        raw64 = word | (hi << 32)
        if kind == "i64":
            value = raw64 - (1 << 64) if raw64 >> 63 else raw64
        else:
            value = _json_float(float(np.uint64(raw64).view(np.float64)))
        return {"register": f"%i{slot}:{slot + 1}", "type": kind, "value": value}
    if kind == "f32":
        return {"register": f"%i{slot}", "type": "f32",
                "value": _json_float(float(np.uint32(word).view(np.float32)))}
    if kind == "any":  # a list entry: one 32-bit slot, unsigned (IREE's spelling)
        return {"register": f"%i{slot}", "type": "i32", "value": word}
    return {"register": f"%i{slot}", "type": "i32",
            "value": word - (1 << 32) if word & 0x80000000 else word}


def _json_float(x: float):
    # JSON has no NaN/Inf: spell them like C's printf.
    if x != x:
        return "nan"
    if x in (float("inf"), float("-inf")):
        return "inf" if x > 0 else "-inf"
    return x


def register_fields(inst, access: str):
    """(field name, kind name, raw register) of an instruction's READ or WRITE registers."""
    out = []
    for field, value in zip(inst.op.fields, inst.values, strict=False):
        if field.access != access:
            continue
        kind = _KIND_TYPES.get(field.kind)
        if kind is not None:
            out.append((field.name, kind, value))
        elif field.kind == T.REG_LIST:
            element = _KIND_TYPES.get(field.element, "any")
            for j, raw in enumerate(value):
                out.append((f"{field.name}[{j}]", element, raw))
    return out


def instruction_record(frame, k: int, position: int | None = None, level: int = 0) -> dict:
    """A JSON-ready record of the instruction at ``k`` with its operands' typed values."""
    code = frame.code
    inst = code.instructions[k]
    R, RR = frame.R, frame.RR
    name = code.module.source.functions[code.ordinal].name
    record = {
        "module": code.module.name,
        "function": name if name else f"@{code.ordinal}",
        "pc": inst.pc,
        "op": inst.op.name,
        "text": format_instruction(inst, code.decoded, values=FrameValues(frame),
                                   block_names=False),
        "operands": [dict(_typed(kind, R, RR, raw), field=fname)
                     for fname, kind, raw in register_fields(inst, T.READ)],
    }
    if position is not None:
        record["position"] = position
    if level:
        record["level"] = level
    location = code.module.source_location(code.ordinal, inst.pc)
    if location:
        record["location"] = location
    return record


def fill_results(record: dict, frame, k: int) -> None:
    """Adds the results' values (read after the instruction ran in ``frame``)."""
    inst = frame.code.instructions[k]
    record["results"] = [dict(_typed(kind, frame.R, frame.RR, raw), field=fname)
                         for fname, kind, raw in register_fields(inst, T.WRITE)]


# -- The tracer --------------------------------------------------------------------------


class Tracer:
    """Writes a trace line (or a JSONL record) per instruction; ``hook`` is the VM hook.

    ``out`` is a text stream (default stderr, like IREE). ``jsonl=True``
    writes records instead of lines. ``limit`` stops writing (not running)
    after that many instructions, so a trace of a long loop stays bounded.
    """

    def __init__(self, out=None, *, jsonl: bool = False, limit: int | None = None):
        self.out = out if out is not None else sys.stderr
        self.jsonl = jsonl
        self.limit = limit
        self.count = 0
        self._pending = None  # (record, frame, k) awaiting result values
        self._last = None  # (frame, k) of the last traced instruction
        self.hook = self._hook_jsonl if jsonl else self._hook_text

    def _hook_text(self, inv, frame, k) -> bool:
        self.count += 1
        self._last = (frame, k)
        if self.limit is None or self.count <= self.limit:
            self.out.write(trace_line(frame, k) + "\n")
        return False

    def _hook_jsonl(self, inv, frame, k) -> bool:
        self.count += 1
        self._last = (frame, k)
        self._flush(frame)
        if self.limit is None or self.count <= self.limit:
            record = instruction_record(frame, k, self.count)
            self._pending = (record, frame, k)
        return False

    def attach_resumes(self, modules) -> None:
        """Traces the re-execution of ``vm.call.yieldable`` when a suspended import resumes.

        IREE re-executes a yieldable call of an import each time the fiber
        resumes (to collect the import's results), so its trace shows the call
        line once more per suspension. The VM resumes the import's generator
        without calling the hook; wrapping the generator exports of the given
        native modules lets the tracer print those lines too.
        """
        from iree_lab.vm import NativeModule

        for module in modules:
            if not isinstance(module, NativeModule):
                continue
            for fn in module.exports.values():
                if fn.is_generator and not getattr(fn.method, "_traces_resumes", False):
                    fn.method = self._resume_tracing(fn.method)

    def _resume_tracing(self, method):
        tracer = self

        def generator(*args):
            call = tracer._last  # the hook saw the calling instruction just before
            inner = method(*args)
            try:
                value = next(inner)
                while True:
                    yield value
                    tracer._resumed(call)
                    value = next(inner)
            except StopIteration as stop:
                return stop.value

        generator._traces_resumes = True
        return generator

    def _resumed(self, call) -> None:
        if call is None:
            return
        frame, k = call
        if frame.code.instructions[k].op.flow != T.FLOW_CALL_YIELDABLE:
            return  # a plain call runs the import to completion: nothing re-executes
        self.count += 1
        if self.limit is not None and self.count > self.limit:
            return
        if self.jsonl:
            self._flush()
            record = instruction_record(frame, k, self.count)
            record["resume"] = True
            self.out.write(json.dumps(record) + "\n")
        else:
            self.out.write(trace_line(frame, k) + "\n")

    def _flush(self, next_frame=None) -> None:
        pending = self._pending
        if pending is None:
            return
        record, frame, k = pending
        self._pending = None
        flow = frame.code.instructions[k].op.flow
        if next_frame is frame and flow not in (T.FLOW_CALL, T.FLOW_CALL_YIELDABLE):
            fill_results(record, frame, k)
        self.out.write(json.dumps(record) + "\n")

    def close(self) -> None:
        """Writes a pending JSONL record (call once the traced run finished)."""
        self._flush()
        self.out.flush()


def trace_program(program, out=None, *, jsonl: bool = False, dispatches: bool = False,
                  limit: int | None = None):
    """Runs a :class:`~iree_lab.debug.Program` with a tracer; returns its results.

    ``dispatches=True`` also traces VMVX dispatch functions (IREE does not).
    """
    tracer = Tracer(out, jsonl=jsonl, limit=limit)
    try:
        return program.run(hook=tracer.hook, dispatch_hook=tracer.hook if dispatches else None,
                           tracer=tracer)
    finally:
        tracer.close()
