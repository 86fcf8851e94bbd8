"""Chrome / Perfetto trace JSON: a small builder and a structural validator.

The JSON Trace Event Format (``{"traceEvents": [...]}``) is what
ui.perfetto.dev and chrome://tracing open. Nothing here knows about the HAL:
the HAL views (:mod:`iree_lab.views.hal`) and the fiber timeline build their
traces with :class:`TraceBuilder`, and tests check them with
:func:`validate_trace`.

Timestamps (``ts``) and durations (``dur``) are microseconds (floats keep
nanosecond resolution). Every event carries ``ph``, ``ts``, ``pid``, ``tid``
and ``name`` — metadata events too (at ``ts`` 0) — so consumers can index
events uniformly. Phases used:

``X`` complete slice, ``B``/``E`` nested begin/end on one thread, ``i``
instant (scope ``t`` thread, ``p`` process, ``g`` global), ``C`` counter,
``s``/``f`` a flow arrow from the slice enclosing the ``s`` to the slice
enclosing the ``f`` (``bp: "e"``), ``M`` process/thread names and sort order.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

PHASES = frozenset("XBEisfCM")
# JavaScript numbers are doubles: larger integers would silently change in the viewer.
_JS_SAFE_INT = (1 << 53) - 1


def jsonable(value):
    """``value`` as JSON-safe data: bytes as hex, huge ints as hex strings, other
    objects by ``str``; dict keys become strings; NaN/inf become strings."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if -_JS_SAFE_INT <= value <= _JS_SAFE_INT else hex(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return str(value)


class TraceBuilder:
    """Collects trace events; :meth:`to_json` returns the trace object."""

    def __init__(self, *, metadata: Mapping | None = None):
        self.events: list[dict] = []
        self.metadata = dict(metadata or {})
        self._next_flow = 0

    # -- Names ----------------------------------------------------------------------------

    def process(self, pid: int, name: str, *, sort_index: int | None = None) -> None:
        self.events.append(_event("M", "process_name", 0, pid, 0, args={"name": name}))
        if sort_index is not None:
            self.events.append(_event("M", "process_sort_index", 0, pid, 0,
                                      args={"sort_index": sort_index}))

    def thread(self, pid: int, tid: int, name: str, *, sort_index: int | None = None) -> None:
        self.events.append(_event("M", "thread_name", 0, pid, tid, args={"name": name}))
        if sort_index is not None:
            self.events.append(_event("M", "thread_sort_index", 0, pid, tid,
                                      args={"sort_index": sort_index}))

    # -- Events ---------------------------------------------------------------------------

    def complete(self, name: str, ts: float, dur: float, pid: int, tid: int, *,
                 cat: str = "", args: Mapping | None = None) -> dict:
        if dur < 0:
            raise ValueError(f"negative duration {dur} for {name!r}")
        event = _event("X", name, ts, pid, tid, cat=cat, args=args)
        event["dur"] = dur
        self.events.append(event)
        return event

    def begin(self, name: str, ts: float, pid: int, tid: int, *, cat: str = "",
              args: Mapping | None = None) -> dict:
        event = _event("B", name, ts, pid, tid, cat=cat, args=args)
        self.events.append(event)
        return event

    def end(self, name: str, ts: float, pid: int, tid: int, *, cat: str = "") -> dict:
        event = _event("E", name, ts, pid, tid, cat=cat)
        self.events.append(event)
        return event

    def instant(self, name: str, ts: float, pid: int, tid: int, *, scope: str = "t",
                cat: str = "", args: Mapping | None = None) -> dict:
        if scope not in ("t", "p", "g"):
            raise ValueError(f"instant scope must be t, p or g (got {scope!r})")
        event = _event("i", name, ts, pid, tid, cat=cat, args=args)
        event["s"] = scope
        self.events.append(event)
        return event

    def counter(self, name: str, ts: float, pid: int, values: Mapping[str, float], *,
                cat: str = "") -> dict:
        event = _event("C", name, ts, pid, 0, cat=cat, args=dict(values))
        self.events.append(event)
        return event

    def flow(self, name: str, source: tuple[float, int, int], target: tuple[float, int, int],
             *, cat: str = "flow", args: Mapping | None = None) -> int:
        """An arrow from the slice enclosing ``source`` (ts, pid, tid) to the slice
        enclosing ``target``; returns the flow id."""
        flow_id = self._next_flow
        self._next_flow += 1
        start = _event("s", name, source[0], source[1], source[2], cat=cat, args=args)
        start["id"] = flow_id
        finish = _event("f", name, target[0], target[1], target[2], cat=cat, args=args)
        finish["id"] = flow_id
        finish["bp"] = "e"
        self.events.extend((start, finish))
        return flow_id

    # -- Output ---------------------------------------------------------------------------

    def to_json(self) -> dict:
        trace = {"traceEvents": self.events, "displayTimeUnit": "ns"}
        if self.metadata:
            trace["otherData"] = jsonable(self.metadata)
        return trace

    def dumps(self, **kwargs) -> str:
        return json.dumps(self.to_json(), allow_nan=False, **kwargs)

    def write(self, path) -> Path:
        path = Path(path)
        path.write_text(self.dumps())
        return path


def _event(ph: str, name: str, ts: float, pid: int, tid: int, *, cat: str = "",
           args: Mapping | None = None) -> dict:
    event = {"ph": ph, "name": str(name), "ts": _ts(ts), "pid": int(pid), "tid": int(tid)}
    if cat:
        event["cat"] = cat
    if args:
        event["args"] = jsonable(args)
    return event


def _ts(value: float) -> float | int:
    if isinstance(value, int):
        return value
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"timestamp must be finite (got {value})")
    # Nanosecond resolution in microseconds; stable text in the JSON.
    return round(value, 3)


def validate_trace(trace) -> list[str]:
    """Structural problems of a trace object (an empty list: it is well formed).

    Checks what viewers rely on: every event has ph/ts/pid/tid/name with known
    phases and numeric times, ``X`` durations are non-negative, ``B``/``E``
    nest per thread, instants have a scope, counters have numeric values, and
    every flow start has exactly one finish (same id, category and name) that
    is not earlier than it.
    """
    problems: list[str] = []
    if not isinstance(trace, Mapping) or not isinstance(trace.get("traceEvents"), list):
        return ["not a trace object: no traceEvents list"]
    stacks: dict[tuple, list[tuple[str, float]]] = {}
    flows: dict[tuple, dict[str, list]] = {}
    for index, event in enumerate(trace["traceEvents"]):
        where = f"event {index}"
        if not isinstance(event, Mapping):
            problems.append(f"{where}: not an object")
            continue
        missing = [k for k in ("ph", "ts", "pid", "tid", "name") if k not in event]
        if missing:
            problems.append(f"{where}: missing {', '.join(missing)}")
            continue
        ph, ts = event["ph"], event["ts"]
        if ph not in PHASES:
            problems.append(f"{where}: unknown phase {ph!r}")
            continue
        if not _is_number(ts):
            problems.append(f"{where}: ts {ts!r} is not a number")
            continue
        if not isinstance(event["pid"], int) or not isinstance(event["tid"], int):
            problems.append(f"{where}: pid/tid must be integers")
        thread = (event["pid"], event["tid"])
        if ph == "X":
            dur = event.get("dur")
            if not _is_number(dur) or dur < 0:
                problems.append(f"{where}: X event {event['name']!r} has duration {dur!r}")
        elif ph == "B":
            stacks.setdefault(thread, []).append((event["name"], ts))
        elif ph == "E":
            stack = stacks.get(thread)
            if not stack:
                problems.append(f"{where}: E without an open B on {thread}")
            else:
                name, begun = stack.pop()
                if ts < begun:
                    problems.append(f"{where}: E of {name!r} before its B")
        elif ph == "i":
            if event.get("s", "t") not in ("t", "p", "g"):
                problems.append(f"{where}: instant scope {event.get('s')!r}")
        elif ph == "C":
            values = event.get("args")
            if not isinstance(values, Mapping) or not values or not all(
                    _is_number(v) for v in values.values()):
                problems.append(f"{where}: counter without numeric values")
        elif ph in ("s", "f"):
            if "id" not in event:
                problems.append(f"{where}: flow event without id")
                continue
            # Viewers pair v1 flow events by (id, category, name).
            key = (event["id"], event.get("cat", ""), event["name"])
            flows.setdefault(key, {"s": [], "f": []})[ph].append((ts, index))
    for thread, stack in stacks.items():
        for name, _ in stack:
            problems.append(f"B of {name!r} on {thread} never ends")
    for (flow_id, cat, _), ends in flows.items():
        if len(ends["s"]) != 1 or len(ends["f"]) != 1:
            problems.append(f"flow {flow_id} ({cat}): {len(ends['s'])} starts, "
                            f"{len(ends['f'])} finishes")
        elif ends["f"][0][0] < ends["s"][0][0]:
            problems.append(f"flow {flow_id} ({cat}) finishes before it starts")
    return problems


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)

