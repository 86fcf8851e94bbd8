"""Fiber timelines: who ran when, and why each fiber stopped.

Everything here reads a :class:`iree_lab.vm.scheduler.Timeline` (plain records;
a :class:`~iree_lab.vm.scheduler.Scheduler` is accepted too and asked for its
timeline) and returns a picture, text or trace JSON; nothing is kept between
calls.

* :func:`fiber_timeline` — one lane per fiber, bars coloured by state
  (running, ready after a yield or deferral, waiting on a wait frame, paused),
  each stop annotated with its reason (``yield``, ``deferred host.pause``,
  ``wait hal.semaphore #3 >= 1``), a marker at completion or failure
  (matplotlib ``Figure``).
* :func:`fiber_trace` / :func:`write_fiber_trace` — Chrome/Perfetto trace JSON
  (:class:`~iree_lab.views.trace.TraceBuilder`): one thread per fiber, one
  ``X`` slice per span, instants for suspensions, completion and failure.
* :func:`format_events` — the events as text, one line each.

Clocks: ``"step"`` (default for pictures) is the scheduler's logical clock —
slice ``n`` runs from step ``n`` to ``n + 1``, identical on every run;
``"wall"`` is seconds since the scheduler was created (microseconds in traces).
"""

from __future__ import annotations

from pathlib import Path

from iree_lab.views.trace import TraceBuilder
from iree_lab.vm.scheduler import FiberEvent, FiberSpan, Timeline

STATE_COLORS = {
    "running": "#3b6fb6",
    "ready": "#e3b23c",
    "waiting": "#8e6bb8",
    "paused": "#8c8c8c",
}
DONE_COLOR = "#2e8b57"
FAILED_COLOR = "#c0392b"
# Above this many stops the timeline leaves out per-stop labels (they would overlap).
MAX_LABELED_STOPS = 60
# Trace JSON: the process holding one thread per fiber.
FIBERS_PID = 1


def _timeline(source) -> Timeline:
    if isinstance(source, Timeline):
        return source
    timeline = getattr(source, "timeline", None)
    if callable(timeline):
        return timeline()
    raise TypeError(f"expected a Timeline or a Scheduler, got {type(source).__name__}")


def _check_clock(clock: str) -> None:
    if clock not in ("step", "wall"):
        raise ValueError(f"clock must be 'step' or 'wall' (got {clock!r})")


def stop_label(reason: str, detail) -> str:
    """Short text for why a fiber stopped (``wait hal.semaphore #3 >= 1``)."""
    if reason == "wait":
        wait = detail.get("wait") or {}
        sources = wait.get("sources") or []
        if wait.get("wait_type") == "until":
            return f"sleep {wait.get('timeout_ms')} ms"
        pending = [s for s in sources if s.get("status") == "DEFERRED"] or sources
        points = [f"{s['resource']} >= {s['value']}" if s.get("value") is not None
                  else s["resource"] for s in pending]
        text = "wait " + (", ".join(points[:2]) if points else "")
        if len(points) > 2:
            text += f" +{len(points) - 2}"
        return text.rstrip()
    if reason == "deferred":
        return f"deferred {detail.get('import', '')}".rstrip()
    if reason == "timeout":
        return "timed out"
    return reason


def _span_bounds(span: FiberSpan, clock: str) -> tuple[float, float]:
    if clock == "step":
        return float(span.start_step), float(span.end_step)
    return span.start_wall, span.end_wall


def _event_x(event: FiberEvent, clock: str) -> float:
    return float(event.step) if clock == "step" else event.wall


def final_event(tl: Timeline, fiber: int) -> FiberEvent | None:
    """The event that ended ``fiber`` (its last ``done`` or ``fail``), None while it runs."""
    finals = [e for e in tl.events if e.fiber == fiber and e.kind in ("done", "fail")]
    return finals[-1] if finals else None


def fiber_label(info) -> str:
    return f"{info.id} {info.name}" if info.name else str(info.id)


def fiber_timeline(source, *, clock: str = "step", labels: bool | None = None,
                   title: str | None = None, figsize=None):
    """Lanes of fiber states over time (matplotlib ``Figure``).

    One lane per fiber (top: the first created). Bars (artist gid
    ``span:FIBER:INDEX``) are coloured by state; every suspension is a small
    tick (``stop:FIBER:INDEX``) labelled with its reason; completion is a green
    dot, failure a red cross (``end:FIBER``). Labels default to on when there
    are at most :data:`MAX_LABELED_STOPS` suspensions.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch, Rectangle

    _check_clock(clock)
    tl = _timeline(source)
    stops = [e for e in tl.events if e.kind in ("suspend", "pause")]
    if labels is None:
        labels = len(stops) <= MAX_LABELED_STOPS
    count = max(len(tl.fibers), 1)
    if figsize is None:
        figsize = (11, 1.2 + (0.95 if labels else 0.55) * count)
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    lane_y = {info.id: count - 1 - i for i, info in enumerate(tl.fibers)}
    # The last thing that happened (open spans reach the time the timeline was taken).
    end = max([_span_bounds(s, clock)[1] for s in tl.spans]
              + [_event_x(e, clock) for e in tl.events] + [0.0])
    height = 0.44
    states_shown: list[str] = []
    for index, span in enumerate(tl.spans):
        y = lane_y[span.fiber]
        x0, x1 = _span_bounds(span, clock)
        if x1 <= x0:
            continue
        if span.state not in states_shown:
            states_shown.append(span.state)
        running = span.state == "running"
        bar = Rectangle((x0, y - height / 2), x1 - x0, height if running else height * 0.6,
                        facecolor=STATE_COLORS.get(span.state, "#cccccc"),
                        edgecolor="#333333" if running else "none", linewidth=0.5,
                        alpha=1.0 if running else 0.8)
        if not running:
            bar.set_y(y - height * 0.3)
        bar.set_gid(f"span:{span.fiber}:{index}")
        ax.add_patch(bar)
    # Suspension ticks and reasons, alternating above and below the lane.
    for index, event in enumerate(stops):
        y = lane_y[event.fiber]
        x = _event_x(event, clock)
        (tick,) = ax.plot([x, x], [y - height / 2, y + height / 2], color="#222222",
                          linewidth=0.8)
        tick.set_gid(f"stop:{event.fiber}:{index}")
        if labels:
            text = stop_label(event.reason, event.detail) if event.kind == "suspend" \
                else "paused"
            above = sum(1 for e in stops[:index] if e.fiber == event.fiber) % 2 == 0
            ax.annotate(text, (x, y + (height / 2 if above else -height / 2)),
                        xytext=(2, 2 if above else -2), textcoords="offset points",
                        fontsize=7, va="bottom" if above else "top", ha="left",
                        color="#222222", clip_on=True)
    for info in tl.fibers:
        event = final_event(tl, info.id)
        if event is None:
            continue
        x, y = _event_x(event, clock), lane_y[info.id]
        if event.kind == "done":
            (marker,) = ax.plot([x], [y], marker="o", color=DONE_COLOR, markersize=6)
        else:
            (marker,) = ax.plot([x], [y], marker="X", color=FAILED_COLOR, markersize=8)
        marker.set_gid(f"end:{info.id}")
        if labels and info.outcome:
            ax.annotate(info.outcome if len(info.outcome) <= 40 else info.outcome[:37] + "...",
                        (x, y), xytext=(5, 0), textcoords="offset points", fontsize=7,
                        va="center", color=DONE_COLOR if event.kind == "done" else FAILED_COLOR)
    ax.set_yticks([lane_y[i.id] for i in tl.fibers])
    ax.set_yticklabels([f"{fiber_label(i)}\n{i.function}" for i in tl.fibers], fontsize=8)
    ax.set_ylim(-0.8, count - 0.2)
    ax.set_xlim(0, end * 1.08 if end > 0 else 1)
    ax.set_xlabel("scheduler step (one slice per step)" if clock == "step"
                  else "wall time (s)")
    if clock == "step":
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(axis="x", color="#dddddd", linewidth=0.5)
    ax.set_axisbelow(True)
    handles = [Patch(facecolor=STATE_COLORS[s], label=s) for s in STATE_COLORS
               if s in states_shown]
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=8,
                   frameon=False)
    ax.set_title(title or f"{len(tl.fibers)} fibers, {tl.steps} slices", fontsize=10)
    return fig


def fiber_trace(source, *, clock: str = "wall") -> dict:
    """The timeline as Chrome/Perfetto trace JSON (open it in ui.perfetto.dev).

    Process :data:`FIBERS_PID` ("fibers") holds one thread per fiber (tid =
    fiber id + 1, named ``fiber N NAME (module.function)``). Each span is an
    ``X`` slice (cat ``fiber``; name = state, or the stop reason for
    ready/waiting spans) with its reason and detail as args; each suspension,
    completion and failure is an ``i`` instant. Times: microseconds of wall
    time, or one microsecond per step with ``clock="step"``.
    """
    _check_clock(clock)
    tl = _timeline(source)
    scale = 1.0 if clock == "step" else 1e6

    def ts_of(step: int, wall: float) -> float:
        return float(step) if clock == "step" else wall * scale

    tb = TraceBuilder(metadata={"source": "iree_lab fiber scheduler", "clock": clock,
                                "time_unit": "us" if clock == "wall" else "step",
                                "steps": tl.steps})
    tb.process(FIBERS_PID, "fibers", sort_index=0)
    for info in tl.fibers:
        tb.thread(FIBERS_PID, info.id + 1, f"fiber {fiber_label(info)} ({info.function})",
                  sort_index=info.id)
    for span in tl.spans:
        start = ts_of(span.start_step, span.start_wall)
        end = ts_of(span.end_step, span.end_wall)
        name = span.state if span.state in ("running", "paused") \
            else f"{span.state}: {stop_label(span.reason, span.detail)}"
        args = {"state": span.state, "steps": [span.start_step, span.end_step]}
        if span.reason:
            args["reason"] = span.reason
        if span.detail:
            args["detail"] = dict(span.detail)
        if span.open:
            args["open"] = True
        tb.complete(name, start, max(end - start, 0.0), FIBERS_PID, span.fiber + 1,
                    cat="fiber", args=args)
    for event in tl.events:
        if event.kind not in ("suspend", "pause", "done", "fail", "timeout"):
            continue
        name = {"suspend": stop_label(event.reason, event.detail), "pause": "paused",
                "done": "done", "fail": f"failed: {event.reason}",
                "timeout": "wait timed out"}[event.kind]
        tb.instant(name, ts_of(event.step, event.wall), FIBERS_PID, event.fiber + 1,
                   cat=f"fiber.{event.kind}", args={"step": event.step, **dict(event.detail)})
    return tb.to_json()


def write_fiber_trace(source, path, *, clock: str = "wall") -> Path:
    """Writes :func:`fiber_trace` JSON to ``path``; returns the path."""
    import json

    path = Path(path)
    path.write_text(json.dumps(fiber_trace(source, clock=clock), allow_nan=False))
    return path


def format_events(source) -> str:
    """One line per event: step, fiber, what happened and why."""
    tl = _timeline(source)
    names = {info.id: fiber_label(info) for info in tl.fibers}
    lines = []
    for e in tl.events:
        text = f"{e.step:6d}  fiber {names.get(e.fiber, e.fiber):<12} {e.kind:<8}"
        if e.kind == "suspend":
            where = e.detail.get("frame")
            pc = e.detail.get("pc")
            at = f" at {where}+{pc:08X}" if where and pc is not None else ""
            text += f" {stop_label(e.reason, e.detail)}{at}"
        elif e.kind in ("start", "resume") and e.reason:
            text += f" ({e.reason})"
        elif e.kind == "done":
            text += " " + ", ".join(str(v) for v in e.detail.get("results", []))
        elif e.kind == "fail":
            text += " " + str(e.detail.get("status", e.reason))
        elif e.kind == "spawn":
            text += f" {e.detail.get('function', '')}"
        lines.append(text.rstrip())
    return "\n".join(lines) + ("\n" if lines else "")
