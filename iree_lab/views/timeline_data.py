"""What the TimelineView widget draws, as plain data: fiber lanes and HAL queue
lanes on one time axis.

:func:`timeline_data` reads a scheduler :class:`~iree_lab.vm.scheduler.Timeline`
(fibers running, ready, waiting, paused), a :class:`~iree_lab.hal.Recorder`
(queue operations and their dispatches), or both, and returns lanes, items
with a position on each clock, hover details and links (JSON-friendly). The
browser only draws it; nothing here keeps state.

Two clocks, both precomputed for every item, so toggling costs nothing:

``step``
    The scheduler's logical clock: slice ``n`` runs from step ``n`` to
    ``n + 1``. HAL records are placed inside the slice that was running when
    they happened (the recorder and the scheduler run on one thread), at
    their rank among the recorder ticks of that slice, so the picture is the
    same on every run. Records made while no slice ran (the host between
    ``run`` calls) sit on the slice boundary. Without a timeline the step
    clock is the recorder's own tick.
``wall``
    Milliseconds since the scheduler was created (or the recorder, without a
    timeline). The recorder's wall stamps are moved onto the scheduler's clock
    by ``hal_offset_s``: seconds to add to a recorder time to get scheduler
    time (the notebook layer measures it, see
    :func:`iree_lab.notebook.timeline.clock_offset`).

Item ids: ``span:FIBER:INDEX`` (index into ``Timeline.spans``), ``end:FIBER``
(completion or failure), ``op:DEVICE:ID`` (a queue operation), ``dispatch:N``
(index into ``Recorder.dispatches``). Lanes: ``fiber:ID``, ``queue:DEVICE:AFFINITY``.
"""

from __future__ import annotations

import bisect
import re

from iree_lab.hal import recorder as rec
from iree_lab.hal.types import QUEUE_AFFINITY_ANY
from iree_lab.views import fibers as fv
from iree_lab.views import hal as hv
from iree_lab.views.html import Raw, document, esc, key_values, pre
from iree_lab.vm.scheduler import Timeline

WAITING_FOR_TIMEPOINTS = "#b0b0b0"
LINK_COLORS = {"signal": "#7b5ea7", "fence": "#90a4ae"}
# Queue operations keep their HAL colours, except execute: the HAL's blue is also the
# colour of a running fiber.
OP_COLORS = {**hv.KIND_COLORS, "execute": "#2a8c82"}
_SEMAPHORE = re.compile(r"^hal\.semaphore #(\d+)$")


def _r(value: float) -> float:
    return round(float(value), 6)


def _wall_text(ms: float) -> str:
    return f"{ms:.3f} ms"


class _Axes:
    """Positions of recorder ticks on the step and wall clocks."""

    def __init__(self, recorder: rec.Recorder, timeline: Timeline | None,
                 offset_s: float):
        pairs = recorder.wall_stamps(dispatches=True)
        self.ticks: list[int] = []
        self.walls: list[float] = []  # seconds on the scheduler's clock, non-decreasing
        high = float("-inf")
        for tick, wall_ns in pairs:
            high = max(high, wall_ns / 1e9 + offset_s)
            self.ticks.append(tick)
            self.walls.append(high)
        self.offset_s = offset_s
        self.timeline = timeline
        # Slices in time order: (step, start wall, end wall, first tick, last tick).
        self.slices: list[tuple[int, float, float, int | None, int | None]] = []
        if timeline is not None:
            open_: dict[int, tuple[int, float]] = {}
            for e in timeline.events:
                if e.kind in ("start", "resume"):
                    open_[e.fiber] = (e.step, e.wall)
                elif e.kind in ("suspend", "pause", "done", "fail") and e.fiber in open_:
                    step, w0 = open_.pop(e.fiber)
                    lo = bisect.bisect_left(self.walls, w0)
                    hi = bisect.bisect_right(self.walls, e.wall) - 1
                    ticks = (self.ticks[lo], self.ticks[hi]) if lo <= hi else (None, None)
                    self.slices.append((step, w0, e.wall, *ticks))
            self.slices.sort(key=lambda s: s[1])
        self._starts = [s[1] for s in self.slices]

    def wall_s(self, tick: int, wall_ns: int | None = None) -> float:
        """Scheduler-clock seconds of a record: its own stamp, else interpolated."""
        if wall_ns:
            return wall_ns / 1e9 + self.offset_s
        ticks, walls = self.ticks, self.walls
        if not ticks:
            return self.offset_s
        i = bisect.bisect_left(ticks, tick)
        if i < len(ticks) and ticks[i] == tick:
            return walls[i]
        if i == 0:
            return walls[0]
        if i == len(ticks):
            return walls[-1]
        t0, t1, w0, w1 = ticks[i - 1], ticks[i], walls[i - 1], walls[i]
        return w0 + (w1 - w0) * (tick - t0) / (t1 - t0)

    def step(self, tick: int, wall_ns: int | None = None) -> float:
        """A recorder tick on the step clock (the tick itself without a timeline)."""
        if self.timeline is None:
            return float(tick)
        if not self.slices:
            return 0.0
        wall = self.wall_s(tick, wall_ns)
        k = bisect.bisect_right(self._starts, wall) - 1
        if k < 0:
            return float(self.slices[0][0])
        step, w0, w1, lo, hi = self.slices[k]
        if wall > w1:  # between slices (or after the last): on the boundary
            return float(step + 1)
        if lo is None:
            return step + 0.5
        # Rank among the slice's ticks; unstamped ticks just outside stay inside the slice.
        rank = min(max(tick, lo - 0.5), hi + 0.5)
        return step + (rank - lo + 1) / (hi - lo + 2)

    def at(self, tick: int | None, wall_ns: int | None = None) -> tuple[float, float] | None:
        """(step, wall ms) of a record."""
        if tick is None:
            return None
        return _r(self.step(tick, wall_ns)), _r(self.wall_s(tick, wall_ns) * 1e3)


def _fiber_items(tl: Timeline, signalers) -> tuple[list, list, list]:
    lanes, items, links = [], [], []
    names = {}
    for info in tl.fibers:
        names[info.id] = fv.fiber_label(info)
        lanes.append({"id": f"fiber:{info.id}", "kind": "fiber", "label": fv.fiber_label(info),
                      "sub": info.function, "state": info.state})
    for index, span in enumerate(tl.spans):
        info_label = f"{names.get(span.fiber, span.fiber)}"
        detail = [["fiber", info_label], ["state", span.state],
                  ["steps", f"{span.start_step} → {span.end_step}"],
                  ["wall", f"{_wall_text(span.start_wall * 1e3)} → "
                           f"{_wall_text(span.end_wall * 1e3)}"]]
        title = f"{info_label}: {span.state}"
        if span.state == "running":
            if span.reason:
                detail.append(["runnable after", span.reason])
            status = span.detail.get("wait_status")
            if status:
                detail.append(["wait status", str(status)])
        elif span.state in ("ready", "waiting"):
            label = fv.stop_label(span.reason, span.detail) if span.reason != "spawn" \
                else "spawned"
            title += f" ({label})"
            detail.append(["stopped by", label])
            frame, pc = span.detail.get("frame"), span.detail.get("pc")
            if frame:
                detail.append(["resumes at", f"{frame}+{pc:08X}" if pc is not None else frame])
            if span.detail.get("import"):
                detail.append(["import", str(span.detail["import"])])
            wait = span.detail.get("wait") or {}
            for source in wait.get("sources") or []:
                point = source.get("resource", "?")
                if source.get("value") is not None:
                    point += f" >= {source['value']}"
                detail.append(["waits on", point])
                match = _SEMAPHORE.match(str(source.get("resource", "")))
                if match and source.get("value") is not None:
                    producer = signalers(int(match.group(1)), int(source["value"]))
                    if producer is not None:
                        detail.append(["signaled by", f"{hv.op_name(producer)} {producer.kind}"])
                        links.append({"from": f"op:{producer.device}:{producer.id}",
                                      "to": f"span:{span.fiber}:{index}", "kind": "signal",
                                      "label": f"s{match.group(1)}>={source['value']}"})
            if wait.get("timeout_ms") is not None:
                detail.append(["timeout", f"{wait['timeout_ms']} ms"])
        elif span.state == "paused":
            frame = span.detail.get("frame")
            if frame:
                detail.append(["paused at", str(frame)])
        if span.open:
            detail.append(["open", "still in this state when the timeline was taken"])
        items.append({
            "id": f"span:{span.fiber}:{index}", "lane": f"fiber:{span.fiber}", "kind": "span",
            "class": span.state, "color": fv.STATE_COLORS.get(span.state, "#cccccc"),
            "step": [span.start_step, span.end_step],
            "wall": [_r(span.start_wall * 1e3), _r(span.end_wall * 1e3)],
            "title": title, "detail": detail,
        })
    for info in tl.fibers:
        e = fv.final_event(tl, info.id)
        if e is None:
            continue
        done = e.kind == "done"
        detail = [["fiber", names[info.id]], ["function", info.function],
                  ["step", str(e.step)], ["wall", _wall_text(e.wall * 1e3)]]
        if done:
            detail.append(["results", ", ".join(str(v) for v in e.detail.get("results", []))])
        else:
            detail.append(["status", str(e.detail.get("status", e.reason))])
        items.append({
            "id": f"end:{info.id}", "lane": f"fiber:{info.id}", "kind": "marker",
            "class": "done" if done else "failed",
            "color": fv.DONE_COLOR if done else fv.FAILED_COLOR,
            "step": [e.step, e.step], "wall": [_r(e.wall * 1e3)] * 2,
            "title": f"{names[info.id]}: {'done' if done else 'failed'}", "detail": detail,
        })
    return lanes, items, links


def _op_detail(op: rec.QueueOperationRecord, axes: _Axes, fences) -> list:
    wait_fence, signal_fence = fences.get(id(op), (None, None))
    detail = [["operation", f"{hv.op_name(op)} {op.kind}"],
              ["queue", hv.queue_label(op.device, op.queue_affinity)]]
    target = []
    if op.command_buffer is not None:
        target.append(f"cb#{op.command_buffer}")
    if op.buffer is not None:
        target.append(f"buffer {hv.buffer_name(op.device, op.buffer)}")
    if target:
        detail.append(["target", ", ".join(target)])
    waits = hv.timepoints_text(op.wait, ">=")
    signals = hv.timepoints_text(op.signal, "=")
    detail.append(["waits for", (waits or "—") + (f" ({wait_fence})" if wait_fence else "")])
    detail.append(["signals", (signals or "—") + (f" ({signal_fence})" if signal_fence else "")])
    ticks = " / ".join("—" if t is None else str(t)
                       for t in (op.submitted_at, op.started_at, op.completed_at))
    detail.append(["ticks (submitted / started / completed)", ticks])
    steps = [axes.at(op.submitted_at, op.submit_wall_ns), axes.at(op.started_at, op.start_wall_ns),
             axes.at(op.completed_at, op.end_wall_ns)]
    if axes.timeline is not None:
        detail.append(["steps", " / ".join("—" if s is None else f"{s[0]:.2f}" for s in steps)])
    if op.deferred:
        detail.append(["deferred", "waited for its timepoints after submission"])
    for d in op.dispatches:
        detail.append(["dispatch", f"{d.export_name} {'×'.join(map(str, d.workgroup_count))}"])
    detail.append(["status", op.status + (f": {op.message}" if op.message else "")])
    return detail


def _hal_items(recorder: rec.Recorder, axes: _Axes) -> tuple[list, list, list, float, float]:
    lanes = [{"id": f"queue:{device}:{affinity}", "kind": "queue",
              "label": hv.queue_label(device, affinity), "sub": "HAL queue"}
             for device, affinity in hv.queue_lanes(recorder)]
    fences = hv.fences_by_operation(recorder)
    end = axes.at(recorder.now) or (0.0, 0.0)
    items, links = [], []
    dispatch_index = {id(d): i for i, d in enumerate(recorder.dispatches)}
    for op in recorder.queue_operations:
        lane = f"queue:{op.device}:{op.queue_affinity & QUEUE_AFFINITY_ANY}"
        submitted = axes.at(op.submitted_at, op.submit_wall_ns)
        started = axes.at(op.started_at, op.start_wall_ns)
        completed = axes.at(op.completed_at, op.end_wall_ns)
        ran = started is not None
        x0 = started if ran else submitted
        x1 = completed if completed is not None else end
        failed = op.status not in ("OK", "pending")
        item = {
            "id": f"op:{op.device}:{op.id}", "lane": lane, "kind": "op", "class": op.kind,
            "color": hv.FAILED_COLOR if failed else OP_COLORS.get(op.kind, hv.OTHER_COLOR),
            "step": [x0[0], x1[0]], "wall": [x0[1], x1[1]],
            "label": f"{hv.op_name(op)} {op.kind}",
            "title": f"{hv.op_name(op)} {op.kind} ({op.status})",
            "detail": _op_detail(op, axes, fences), "status": op.status,
            "open": completed is None,
        }
        if ran and started[0] > submitted[0] and op.deferred:
            item["waiting"] = {"step": [submitted[0], started[0]],
                               "wall": [submitted[1], started[1]]}
        items.append(item)
        for d in op.dispatches:
            index = dispatch_index.get(id(d))
            s0 = axes.at(d.started_at, d.start_wall_ns or None)
            s1 = axes.at(d.completed_at, d.end_wall_ns or None) or x1
            items.append({
                "id": f"dispatch:{index}", "lane": lane, "kind": "dispatch", "parent": item["id"],
                "class": "dispatch",
                "color": hv.FAILED_COLOR if d.status not in ("OK", "running")
                else hv.DISPATCH_COLOR,
                "step": [s0[0], s1[0]], "wall": [s0[1], s1[1]], "label": d.export_name,
                "title": f"dispatch {d.export_name}",
                "detail": [["dispatch", d.export_name],
                           ["executable", f"#{d.executable} export {d.function}"],
                           ["workgroups", "×".join(map(str, d.workgroup_count))],
                           ["constants", ", ".join(str(c) for c in d.constants) or "none"],
                           ["bindings", ", ".join(f"{hv.buffer_name(op.device, b.buffer)}"
                                                  f"[{b.offset}:+{b.length}]"
                                                  for b in d.bindings)],
                           ["queue operation", f"{hv.op_name(op)} {op.kind}"],
                           ["ticks", f"{d.started_at} … {d.completed_at}"],
                           ["status", d.status]],
            })
    for dep in hv.dependencies(recorder, waits=[]):
        if dep.producer is None or isinstance(dep.consumer, hv.HostWait):
            continue
        links.append({"from": f"op:{dep.producer.device}:{dep.producer.id}",
                      "to": f"op:{dep.consumer.device}:{dep.consumer.id}", "kind": "fence",
                      "label": f"s{dep.semaphore}>={dep.value}"})
    return lanes, items, links, end[0], end[1]


def timeline_data(timeline: Timeline | None = None, recorder: rec.Recorder | None = None, *,
                  hal_offset_s: float | None = None) -> dict:
    """Lanes, items, links, axes and legend for a timeline and/or a recording.

    With both, ``hal_offset_s`` (recorder time + offset = scheduler time, in
    seconds) is required: it places HAL records on the scheduler's clock.
    """
    if timeline is None and recorder is None:
        raise TypeError("timeline_data needs a scheduler Timeline, a Recorder or both")
    if timeline is not None and not isinstance(timeline, Timeline):
        if not callable(getattr(timeline, "timeline", None)):
            raise TypeError(f"expected a Timeline or a Scheduler, got {type(timeline).__name__}")
        timeline = timeline.timeline()
    if timeline is not None and recorder is not None and hal_offset_s is None:
        raise ValueError("a timeline with a recorder needs hal_offset_s (recorder time + "
                         "offset = scheduler time, seconds); TimelineView(scheduler, recorder) "
                         "measures it")
    lanes, items, links = [], [], []
    step_end, wall_end = 0.0, 0.0
    if timeline is not None:
        signaler = recorder.signaler_of if recorder is not None else (lambda s, v: None)
        lanes, items, links = _fiber_items(timeline, signaler)
        step_end, wall_end = float(timeline.steps), timeline.wall * 1e3
    if recorder is not None:
        axes = _Axes(recorder, timeline, hal_offset_s or 0.0)
        hal_lanes, hal_items, hal_links, s_end, w_end = _hal_items(recorder, axes)
        lanes += hal_lanes
        items += hal_items
        links += hal_links
        if timeline is None:
            step_end, wall_end = s_end, w_end
    ids = {i["id"] for i in items}
    links = [link for link in links if link["from"] in ids and link["to"] in ids]
    starts = [i["wall"][0] for i in items] + [0.0]
    ends = [i["wall"][1] for i in items] or [wall_end]
    if timeline is not None:
        step_label = "scheduler step (slice n runs from step n to n + 1)"
        wall_label = "ms since the scheduler was created"
    else:
        step_label = "recorder tick"
        wall_label = "ms since the recorder was created"
    return {
        "lanes": lanes, "items": items, "links": links,
        "axes": {"step": {"label": step_label, "range": [0.0, _r(max(step_end, 1.0))],
                          "integer": True},
                 "wall": {"label": wall_label,
                          "range": [_r(min(starts)), _r(max(max(ends), min(starts) + 1e-3))],
                          "integer": False}},
        "legend": _legend(items, links),
        "link_colors": dict(LINK_COLORS),
    }


def _legend(items, links) -> list[dict]:
    legend, seen = [], set()
    for state, color in fv.STATE_COLORS.items():
        if any(i["kind"] == "span" and i["class"] == state for i in items):
            legend.append({"label": f"fiber {state}", "color": color, "shape": "bar"})
    for cls, label, color in (("done", "fiber done", fv.DONE_COLOR),
                              ("failed", "fiber failed", fv.FAILED_COLOR)):
        if any(i["kind"] == "marker" and i["class"] == cls for i in items):
            legend.append({"label": label, "color": color, "shape": "dot"})
    for item in items:
        if item["kind"] == "op" and item["class"] not in seen:
            seen.add(item["class"])
            legend.append({"label": f"queue {item['class']}",
                           "color": OP_COLORS.get(item["class"], hv.OTHER_COLOR),
                           "shape": "bar"})
    if any(i["kind"] == "dispatch" for i in items):
        legend.append({"label": "dispatch", "color": hv.DISPATCH_COLOR, "shape": "bar"})
    if any("waiting" in i for i in items):
        legend.append({"label": "waiting for timepoints", "color": WAITING_FOR_TIMEPOINTS,
                       "shape": "thin"})
    if any(i["kind"] == "op" and i["status"] not in ("OK", "pending") for i in items):
        legend.append({"label": "failed", "color": hv.FAILED_COLOR, "shape": "bar"})
    kinds = {link["kind"] for link in links}
    if "signal" in kinds:
        legend.append({"label": "signal → waiting fiber", "color": LINK_COLORS["signal"],
                       "shape": "line"})
    if "fence" in kinds:
        legend.append({"label": "fence dependency", "color": LINK_COLORS["fence"],
                       "shape": "line"})
    return legend


# -- Rich display -----------------------------------------------------------------------------


def timeline_html(timeline: Timeline) -> str:
    """A scheduler timeline as static HTML: one row per fiber, then the events."""
    rows = ['<table class="il-table"><tr><th>fiber</th><th>function</th><th>state</th>'
            "<th>slices</th><th>outcome</th></tr>"]
    for info in timeline.fibers:
        slices = sum(1 for s in timeline.spans if s.fiber == info.id and s.state == "running")
        rows.append(f'<tr><td class="il-mono">{esc(fv.fiber_label(info))}</td>'
                    f'<td class="il-mono">{esc(info.function)}</td><td>{esc(info.state)}</td>'
                    f"<td>{slices}</td><td>{esc(info.outcome)}</td></tr>")
    rows.append("</table>")
    facts = key_values([("steps", timeline.steps), ("events", len(timeline.events)),
                        ("wall", _wall_text(timeline.wall * 1e3))])
    events = fv.format_events(timeline).splitlines()
    body = Raw(f"<details><summary>events ({len(events)})</summary>{pre(events)}</details>")
    return document(facts, Raw("".join(rows)), body,
                    title=f"Fiber timeline: {len(timeline.fibers)} fibers")
