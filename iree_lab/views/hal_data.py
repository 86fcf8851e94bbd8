"""What the HALView widget shows, as plain data: submissions, command buffers,
dispatches and the contents of a dispatch's buffers before and after it ran.

Everything here reads a :class:`iree_lab.hal.Recorder` and returns dicts,
lists and strings (JSON-friendly); nothing is kept between calls.

* :func:`hal_view_data` — the lists: every queue operation with its wait and
  signal timepoints (and the ``hal.fence`` objects that carried them), every
  command buffer with its commands, every dispatch as it executed.
* :func:`hal_selection` — the detail of one selected item (``op:D:ID``,
  ``dispatch:N``, ``cb:D:ID``): facts as HTML, and for a dispatch the
  before/after contents of each binding (:func:`dispatch_contents`).
* :func:`binding_element_type` — how a binding's bytes are read: the element
  type of a buffer view over the same range (the program or host created it),
  else the type IREE ends a dispatch's name with (``..._matmul_1x4x8_f32``),
  else hex bytes.
* :func:`recorder_html` — the rich-display summary of a recorder.

Buffer contents exist only when the recorder captured them
(``Recorder(capture_buffers=True)``); values are compared element by element
as raw bytes, so a NaN that stays NaN is unchanged and -0.0 → 0.0 is a change.
"""

from __future__ import annotations

import numpy as np

from iree_lab.hal import recorder as rec
from iree_lab.hal.recorder import binding_element_type  # noqa: F401 (part of this view's API)
from iree_lab.hal.types import (
    WHOLE_BUFFER,
)
from iree_lab.views import hal as hv
from iree_lab.views.html import Raw, document, esc, human_size, key_values

# Element types a user can pick for a binding (``hex``: raw bytes).
ELEMENT_CHOICES = ("hex", "i8", "ui8", "i16", "ui16", "i32", "ui32", "i64", "ui64",
                   "f16", "bf16", "f32", "f64")
# At most this many elements of one binding go to the browser.
MAX_ELEMENTS = 1024
NOT_CAPTURED = ("buffer contents were not captured: record with "
                "Recorder(capture_buffers=True)")


# -- Names ----------------------------------------------------------------------------------


def op_id(op: rec.QueueOperationRecord) -> str:
    return f"op:{op.device}:{op.id}"


def dispatch_id(index: int) -> str:
    return f"dispatch:{index}"


def command_buffer_id(cb: rec.CommandBufferRecord) -> str:
    return f"cb:{cb.device}:{cb.id}"


def _workgroups(count) -> str:
    return "×".join(str(v) for v in count) if count is not None else "?"


def _dispatch_device(recorder: rec.Recorder, d: rec.DispatchExecution) -> int:
    executable = recorder.executables.get(d.executable)
    return executable.device if executable is not None else 0


def _table_entry(entry: rec.BindingTableEntry, device: int) -> str:
    if entry.buffer is None:
        return "(null)"
    length = "whole" if entry.length == WHOLE_BUFFER else f"+{entry.length}"
    return f"buffer {hv.buffer_name(device, entry.buffer)} [{entry.offset}, {length})"


def _binding_text(device: int, b: rec.ResolvedBinding) -> str:
    return f"{hv.buffer_name(device, b.buffer)}[{b.offset}:+{b.length}]"


def _executable_text(recorder: rec.Recorder, executable: int) -> str:
    record = recorder.executables.get(executable)
    return f"#{executable}" + (f" ({record.format})" if record is not None else "")


def _timepoints(timepoints, fence: str | None) -> list[dict]:
    return [{"semaphore": tp.semaphore, "value": tp.value, "fence": fence} for tp in timepoints]


def _op_target(op: rec.QueueOperationRecord) -> str:
    parts = []
    if op.command_buffer is not None:
        parts.append(f"cb#{op.command_buffer}")
    if op.buffer is not None:
        parts.append(f"buffer {hv.buffer_name(op.device, op.buffer)}")
    if op.kind == "alloca":
        parts.append(human_size(op.details.get("size", 0)))
    elif "length" in op.details:
        parts.append(f"{op.details['length']} B")
    if hv.parameter_text(op):
        parts.append(hv.parameter_text(op))
    return ", ".join(parts)


# -- The lists --------------------------------------------------------------------------------


def hal_view_data(recorder: rec.Recorder) -> dict:
    """Submissions, command buffers and dispatches of a recording (JSON-friendly)."""
    fences = hv.fences_by_operation(recorder)
    index_of = {id(d): i for i, d in enumerate(recorder.dispatches)}
    submissions = []
    for op in recorder.queue_operations:
        wait_fence, signal_fence = fences.get(id(op), (None, None))
        submissions.append({
            "id": op_id(op), "name": hv.op_name(op), "kind": op.kind,
            "queue": hv.queue_text(op.queue_affinity), "target": _op_target(op),
            "wait": _timepoints(op.wait, wait_fence),
            "signal": _timepoints(op.signal, signal_fence),
            "status": op.status, "message": op.message, "deferred": op.deferred,
            "times": [op.submitted_at, op.started_at, op.completed_at],
            "dispatches": [dispatch_id(index_of[id(d)]) for d in op.dispatches
                           if id(d) in index_of],
        })
    dispatches = []
    for index, d in enumerate(recorder.dispatches):
        device = _dispatch_device(recorder, d)
        dispatches.append({
            "id": dispatch_id(index), "index": index, "export": d.export_name,
            "executable": _executable_text(recorder, d.executable), "function": d.function,
            "workgroups": _workgroups(d.workgroup_count),
            "constants": list(d.constants),
            "bindings": [_binding_text(device, b) for b in d.bindings],
            "op": None if d.queue_operation is None else f"op:{device}:{d.queue_operation}",
            "command_buffer": None if d.command_buffer is None else f"cb#{d.command_buffer}",
            "command_index": d.command_index, "status": d.status,
            "captured": bool(d.snapshots),
        })
    command_buffers = []
    for cb in recorder.command_buffers.values():
        executions = [hv.op_name(op) for op in recorder.queue_operations
                      if op.kind == "execute" and op.command_buffer == cb.id
                      and op.device == cb.device]
        commands = []
        for i, c in enumerate(cb.commands):
            text = c.export_name if c.kind == "dispatch" else ""
            if c.kind == "dispatch":
                text += f" {_workgroups(c.workgroup_count)}"
            commands.append({"index": i, "kind": c.kind, "text": text.strip()})
        command_buffers.append({
            "id": command_buffer_id(cb),
            "name": ("#" if cb.device == 0 else f"d{cb.device}#") + str(cb.id),
            "commands": commands, "dispatches": len(cb.dispatches), "executions": executions,
        })
    calls = [{"id": call_id(i), "index": i, "at": c.at, "name": c.name,
              "args": _call_args_text(c.args), "status": c.status}
             for i, c in enumerate(recorder.calls)]
    return {
        "submissions": submissions, "dispatches": dispatches, "command_buffers": command_buffers,
        "calls": calls,
        "capturing": bool(recorder.capture_buffers),
        "counts": {"calls": len(recorder.calls), "operations": len(recorder.queue_operations),
                   "dispatches": len(recorder.dispatches),
                   "command_buffers": len(recorder.command_buffers),
                   "captured_bytes": recorder.captured_bytes},
    }


# -- Element types and contents ---------------------------------------------------------------


def format_values(data: bytes, element: str) -> list[str]:
    """``data`` as text, one string per element (``hex``: one per byte)."""
    dtype = rec.binding_dtype(element)
    if dtype is None:
        return [f"{b:02x}" for b in data]
    values = np.frombuffer(data[: len(data) - len(data) % dtype.itemsize], dtype=dtype)
    if dtype.kind == "b":
        return [str(int(v)) for v in values]
    if dtype.kind in "iu":
        return [str(int(v)) for v in values]
    if dtype in (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)) or \
            dtype.kind == "c":
        return [str(v) for v in values]  # numpy: the shortest text that round-trips
    return [_short_float(v, dtype) for v in values]  # bf16, f8: ml_dtypes prints 6 digits


def _short_float(value, dtype: np.dtype) -> str:
    """The shortest ``%g`` text that reads back as the same ``dtype`` value."""
    x = float(value)
    if not np.isfinite(x):
        return str(x)
    for digits in range(1, 18):
        text = f"{x:.{digits}g}"
        if np.array(float(text)).astype(dtype) == value:
            break
    if "e" not in text and "." not in text:
        text += ".0"
    return text


def dispatch_contents(recorder: rec.Recorder, d: rec.DispatchExecution,
                      element_types: dict | None = None, *,
                      max_elements: int = MAX_ELEMENTS) -> list[dict]:
    """Each binding's captured bytes before and after ``d``, as typed values.

    ``element_types`` maps a binding index (int or str) to an element type name
    from :data:`ELEMENT_CHOICES` (overriding :func:`binding_element_type`).
    ``changed`` lists the element indices whose bytes differ. Empty when the
    recorder did not capture this dispatch.
    """
    overrides = {int(k): v for k, v in (element_types or {}).items()}
    device = _dispatch_device(recorder, d)
    out = []
    for snap in d.snapshots:
        element, source, shape = binding_element_type(recorder, d, snap.binding)
        if overrides.get(snap.binding) in ELEMENT_CHOICES and \
                overrides[snap.binding] != element:
            element, source, shape = overrides[snap.binding], "chosen", None
        dtype = rec.binding_dtype(element)
        if dtype is not None and snap.length % dtype.itemsize:
            element, source, dtype = "hex", f"{element} does not divide the range", None
        size = 1 if dtype is None else dtype.itemsize
        entry = {
            "binding": snap.binding, "buffer": hv.buffer_name(device, snap.buffer),
            "range": f"[{snap.offset}, +{snap.length})", "length": snap.length,
            "element": element, "source": source, "count": snap.length // size,
            "before": [], "after": [], "changed": [], "row": 16 if dtype is None else 8,
            "note": "",
        }
        if shape and len(shape) >= 2 and 0 < shape[-1] <= 64:
            entry["row"] = int(shape[-1])
        if snap.before is None or snap.after is None:
            entry["note"] = "not captured: the recorder's capture limit was reached"
            out.append(entry)
            continue
        limit = min(len(snap.before), max_elements * size)
        limit -= limit % size
        before, after = snap.before[:limit], snap.after[:limit]
        entry["before"] = format_values(before, element)
        entry["after"] = format_values(after, element)
        entry["changed"] = np.flatnonzero(rec.changed_mask(before, after, size)).tolist()
        shown = limit // size
        if shown < entry["count"]:
            entry["note"] = f"first {shown} of {entry['count']} elements"
        out.append(entry)
    return out


# -- Selection detail -------------------------------------------------------------------------


def call_id(index: int) -> str:
    return f"call:{index}"


_CALL_ARGS_CHARS = 160


def _call_args_text(args: dict) -> str:
    """A hal call's arguments on one line (the detail pane shows them whole)."""
    text = ", ".join(f"{k}={v}" for k, v in args.items())
    return text if len(text) <= _CALL_ARGS_CHARS else text[:_CALL_ARGS_CHARS - 1] + "\u2026"


def _parse_selection(selected: str) -> tuple[str, list[int]]:
    kind, _, rest = (selected or "").partition(":")
    try:
        numbers = [int(p) for p in rest.split(":")] if rest else []
    except ValueError:
        return "", []
    return kind, numbers


def _timepoint_rows(recorder, op, deps) -> tuple[str, str]:
    fences = hv.fences_by_operation(recorder).get(id(op), (None, None))
    waits = []
    for tp in op.wait:
        dep = next((d for d in deps if d.consumer is op and d.semaphore == tp.semaphore
                    and d.value == tp.value), None)
        by = ""
        if dep is not None and dep.producer is not None:
            by = f" ← {hv.op_name(dep.producer)} {dep.producer.kind}"
        elif dep is not None and dep.host_signal is not None:
            by = f" ← host ({dep.host_signal.source})"
        elif dep is None:
            by = " (already reached)"
        waits.append(f"s{tp.semaphore} ≥ {tp.value}{by}")
    signals = []
    for tp in op.signal:
        waiters = [hv.op_name(d.consumer) if not isinstance(d.consumer, hv.HostWait)
                   else f"host {d.consumer.source}" for d in deps
                   if d.producer is op and d.semaphore == tp.semaphore]
        signals.append(f"s{tp.semaphore} = {tp.value}"
                       + (f" → {', '.join(waiters)}" if waiters else ""))
    wait = ("; ".join(waits) or "—") + (f"  (fence {fences[0]})" if fences[0] else "")
    signal = ("; ".join(signals) or "—") + (f"  (fence {fences[1]})" if fences[1] else "")
    return wait, signal


def _op_detail(recorder: rec.Recorder, op: rec.QueueOperationRecord) -> dict:
    deps = hv.dependencies(recorder)
    wait, signal = _timepoint_rows(recorder, op, deps)
    times = " / ".join("—" if t is None else str(t)
                       for t in (op.submitted_at, op.started_at, op.completed_at))
    facts = [("kind", op.kind), ("queue", hv.queue_text(op.queue_affinity)),
             ("target", _op_target(op) or None), ("waits for", wait), ("signals", signal),
             ("submitted / started / completed", times + (" (deferred)" if op.deferred else "")),
             ("status", op.status + (f": {op.message}" if op.message else ""))]
    if op.binding_table:
        facts.append(("binding table", Raw("<ol start=\"0\" class=\"il-mono\">" + "".join(
            f"<li>{esc(_table_entry(e, op.device))}</li>"
            for e in op.binding_table) + "</ol>")))
    if op.dispatches:
        facts.append(("dispatches", ", ".join(d.export_name for d in op.dispatches)))
    return {"title": f"{hv.op_name(op)} {op.kind}", "html": key_values(facts), "contents": []}


def _dispatch_detail(recorder: rec.Recorder, index: int, element_types) -> dict:
    d = recorder.dispatches[index]
    device = _dispatch_device(recorder, d)
    op = next((o for o in recorder.queue_operations if o.device == device
               and o.id == d.queue_operation), None)
    facts = [
        ("export", f"@{d.export_name} [ordinal {d.function}]"),
        ("executable", _executable_text(recorder, d.executable)),
        ("workgroups", _workgroups(d.workgroup_count)),
        ("constants", ", ".join(f"{c} ({c:#x})" for c in d.constants) or "none"),
        ("bindings", Raw("<ol start=\"0\" class=\"il-mono\">" + "".join(
            f"<li>{esc(_binding_text(device, b))}</li>" for b in d.bindings) + "</ol>")),
        ("queue operation", f"{hv.op_name(op)} {op.kind}" if op is not None else None),
        ("command", f"cb#{d.command_buffer} command {d.command_index}"
         if d.command_buffer is not None else None),
        ("logical time", f"{d.started_at} … {d.completed_at}"),
        ("status", d.status),
    ]
    contents = dispatch_contents(recorder, d, element_types)
    note = "" if contents else NOT_CAPTURED
    return {"title": f"dispatch {index}: {d.export_name}", "html": key_values(facts),
            "contents": contents, "note": note}


def hal_selection(recorder: rec.Recorder, selected: str,
                  element_types: dict | None = None) -> dict:
    """The detail of ``selected`` (``op:D:ID``, ``dispatch:N`` or ``cb:D:ID``):
    ``title``, ``html`` (facts) and ``contents`` (a dispatch's buffers)."""
    kind, numbers = _parse_selection(selected)
    if kind == "dispatch" and len(numbers) == 1 and 0 <= numbers[0] < len(recorder.dispatches):
        return {"id": selected, **_dispatch_detail(recorder, numbers[0], element_types)}
    if kind == "op" and len(numbers) == 2:
        for op in recorder.queue_operations:
            if (op.device, op.id) == tuple(numbers):
                return {"id": selected, **_op_detail(recorder, op)}
    if kind == "call" and len(numbers) == 1 and 0 <= numbers[0] < len(recorder.calls):
        c = recorder.calls[numbers[0]]
        facts = key_values([("call", c.name), ("recorder tick", c.at), ("status", c.status),
                            *((k, str(v)) for k, v in c.args.items())])
        return {"id": selected, "title": f"hal call {numbers[0]}: {c.name}",
                "html": str(facts), "contents": []}
    if kind == "cb" and len(numbers) == 2:
        for cb in recorder.command_buffers.values():
            if (cb.device, cb.id) == tuple(numbers):
                return {"id": selected, "title": f"command buffer #{cb.id}",
                        "html": str(hv.command_buffer_html(recorder, cb)), "contents": []}
    return {"id": selected, "title": "", "html": "", "contents": []}


# -- Rich display -----------------------------------------------------------------------------


def recorder_html(recorder: rec.Recorder) -> str:
    """A recorder as static HTML: counts, then one row per queue operation (and
    its dispatches) with timepoints and status."""
    data = hal_view_data(recorder)
    counts = data["counts"]
    facts = key_values([
        ("recorded", f"{counts['calls']} hal calls, {counts['operations']} queue operations, "
                     f"{counts['dispatches']} dispatches, "
                     f"{counts['command_buffers']} command buffers"),
        ("buffer contents", f"captured ({human_size(counts['captured_bytes'])})"
         if data["capturing"] else "not captured"),
    ])
    rows = ['<table class="il-table il-queue"><tr><th>op</th><th>kind</th><th>target</th>'
            "<th>wait</th><th>signal</th><th>status</th></tr>"]
    dispatches = {d["id"]: d for d in data["dispatches"]}

    def dispatch_row(d: dict, op: str) -> str:
        return (f'<tr class="il-dim"><td class="il-mono">{esc(op)}</td><td>dispatch</td>'
                f'<td class="il-mono" colspan="3">{esc(d["export"])} '
                f'{esc(d["workgroups"])} ({esc(", ".join(d["bindings"]))})</td>'
                f'<td>{esc(d["status"])}</td></tr>')

    for s in data["submissions"]:
        wait = " ".join(f"s{t['semaphore']}≥{t['value']}" for t in s["wait"]) or "—"
        signal = " ".join(f"s{t['semaphore']}={t['value']}" for t in s["signal"]) or "—"
        rows.append(f'<tr><td class="il-mono">{esc(s["name"])}</td><td>{esc(s["kind"])}</td>'
                    f'<td>{esc(s["target"])}</td><td class="il-mono">{esc(wait)}</td>'
                    f'<td class="il-mono">{esc(signal)}</td><td>{esc(s["status"])}</td></tr>')
        rows.extend(dispatch_row(dispatches[ref], "") for ref in s["dispatches"])
    # Inline HAL (hal_loader) dispatches run outside any queue operation.
    rows.extend(dispatch_row(d, "inline") for d in data["dispatches"] if d["op"] is None)
    rows.append("</table>")
    return document(facts, Raw("".join(rows)), title="HAL recorder")
