"""Views of recorded HAL activity: timelines, listings, graphs and traces.

Everything here reads a :class:`iree_lab.hal.Recorder` (plain records) and
returns a picture or text; nothing is kept between calls.

* :func:`queue_timeline` — queue operations as bars on a time axis, one lane
  per (device, queue), coloured by kind, with fence dependencies as arrows
  (matplotlib ``Figure``).
* :func:`buffer_lifetimes` — one bar per allocation from creation to release,
  with the dispatches that used it (matplotlib ``Figure``).
* :func:`command_buffers_html` — every command buffer's commands in order, and
  :func:`queue_operations_html` — the submissions with their timepoints.
* :func:`dependency_dot` — queue operations, semaphores and host waits as a
  Graphviz DOT graph, waits and signals as edges labelled with their values.
* :func:`hal_trace` / :func:`write_hal_trace` — Chrome/Perfetto trace JSON.

The derived model the pictures share is public so tests and widgets agree on
it: :func:`dependencies` (which queue operation or host signal satisfies each
wait), :func:`host_waits` (``hal.fence.await`` calls and host-side device
waits) and :func:`fence_timepoints` (what each ``hal.fence#N`` named in the
call records stands for).

Times are logical by default (``clock="logical"``: the recorder's event
counter, deterministic) or wall time (``clock="wall"``: microseconds since the
recorder was created; records without a wall stamp, such as buffer creation,
are placed by interpolating between their logical neighbours).

Semaphore ids are unique per device; the recorder's timepoints do not name
the device, so a recorder shared by several devices that wait across devices
on equal semaphore ids is ambiguous (as it is for :meth:`Recorder.signaler_of`).
"""

from __future__ import annotations

import bisect
import dataclasses
import enum
from collections.abc import Iterable
from pathlib import Path

from iree_lab.hal import recorder as rec
from iree_lab.hal.types import (
    QUEUE_AFFINITY_ANY,
    WHOLE_BUFFER,
    CommandBufferMode,
    CommandCategory,
    ExecutionStage,
    format_buffer_usage,
    format_memory_type,
)
from iree_lab.views.html import Raw, document, esc, human_size, key_values
from iree_lab.views.trace import TraceBuilder

# Queue operation kinds (``iree_hal_device_queue_*``) and their colours.
KIND_COLORS = {
    "alloca": "#5b9e3b",
    "dealloca": "#a8cf8e",
    "execute": "#3b6fb6",
    "copy": "#d9822b",
    "fill": "#e3b23c",
    "update": "#b5651d",
    "read": "#8e6bb8",
    "write": "#6b4e9b",
    "barrier": "#8c8c8c",
}
OTHER_COLOR = "#b0b0b0"
FAILED_COLOR = "#c0392b"
DISPATCH_COLOR = "#1f3f73"
ORIGIN_COLORS = {
    "alloca": "#5b9e3b",
    "allocate": "#3b6fb6",
    "host": "#d9822b",
    "import": "#8e6bb8",
}
# Above this many operations the timeline leaves out per-bar labels (they would overlap).
MAX_LABELED_OPERATIONS = 40

_QUEUE_CALL_KINDS = {
    "device.queue.alloca": "alloca",
    "device.queue.dealloca": "dealloca",
    "device.queue.fill": "fill",
    "device.queue.update": "update",
    "device.queue.copy": "copy",
    "device.queue.read": "read",
    "device.queue.write": "write",
    "device.queue.barrier": "barrier",
    "device.queue.execute": "execute",
    "device.queue.execute.indirect": "execute",
}


# -- Names ------------------------------------------------------------------------------------


def op_name(op: rec.QueueOperationRecord) -> str:
    """``q4`` (``d1.q4`` on devices other than device 0): ids are per device."""
    return f"q{op.id}" if op.device == 0 else f"d{op.device}.q{op.id}"


def buffer_name(device: int, buffer: int) -> str:
    return f"#{buffer}" if device == 0 else f"d{device}#{buffer}"


def timepoints_text(timepoints: Iterable[rec.Timepoint], relation: str) -> str:
    """``s2>=1 s3>=1`` (``relation`` ``>=`` for waits, ``=`` for signals)."""
    return " ".join(f"s{t.semaphore}{relation}{t.value}" for t in timepoints)


def queue_text(queue_affinity: int) -> str:
    """``queue any``, ``queue 1`` or ``queues 0,2`` (affinity bit N is queue N)."""
    affinity = queue_affinity & QUEUE_AFFINITY_ANY
    if affinity == QUEUE_AFFINITY_ANY:
        return "queue any"
    bits = [i for i in range(64) if affinity >> i & 1]
    if not bits:
        return "queue none"
    return f"queue {bits[0]}" if len(bits) == 1 else "queues " + ",".join(map(str, bits))


def parameter_text(op) -> str | None:
    """Which parameter(s) an io_parameters queue operation moves, from its details."""
    details = op.details
    scope = details.get("scope")
    prefix = f"{scope}::" if scope else ""
    if "parameter" in details:
        return f"parameter {prefix}{details['parameter']}"
    if details.get("parameters"):
        keys = details["parameters"]
        more = f" +{len(keys) - 3}" if len(keys) > 3 else ""
        return "parameters " + ", ".join(prefix + k for k in keys[:3]) + more
    return None


def queue_label(device: int, queue_affinity: int) -> str:
    """``device 0 · queue any``: a timeline lane."""
    return f"device {device} · {queue_text(queue_affinity)}"


def flag_names(value: int, flags: type[enum.IntFlag], *, zero: str = "NONE") -> str:
    """``DISPATCH|TRANSFER``: the single-bit members of ``flags`` set in ``value``,
    lowest bit first, then any unknown bits in hex."""
    value = int(value)
    if value == 0:
        return zero
    parts, known = [], 0
    for member in flags:
        bit = int(member)
        if bit and bit & (bit - 1) == 0 and value & bit:
            parts.append(member.name)
            known |= bit
    if value & ~known:
        parts.append(f"{value & ~known:#x}")
    return "|".join(parts)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "es" if noun.endswith("ch") else "s")


def buffer_ref_text(ref: rec.BufferRef, device: int = 0) -> str:
    """``slot 3 [0, +128)`` or ``buffer #5 [16, +64)`` (``whole`` for the whole buffer)."""
    where = f"slot {ref.slot}" if ref.slot is not None else f"buffer {buffer_name(device, ref.buffer)}"
    return f"{where} {_range_text(ref.offset, ref.length)}"


def _range_text(offset: int, length: int) -> str:
    return f"[{offset}, {'whole' if length == WHOLE_BUFFER else f'+{length}'})"


# -- Model derived from the records -----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class HostWait:
    """The host (VM fiber or API caller) waiting for timepoints.

    ``source`` is ``fence.await`` (a ``hal.fence.await`` call; its fences are
    resolved to timepoints through the queue calls that used them) or
    ``device.wait`` (a host API wait, :class:`iree_lab.hal.recorder.WaitRecord`).
    """

    index: int
    at: int
    wall_ns: int
    source: str
    fences: tuple[str, ...]
    timepoints: tuple[rec.Timepoint, ...]
    result: str


@dataclasses.dataclass(frozen=True, eq=False)
class Dependency:
    """One wait (``semaphore >= value``) of ``consumer`` and what satisfies it.

    ``producer`` is the queue operation whose signal reaches the value;
    ``host_signal`` the host's signal that does when no queue operation
    (signaled earlier) does; both None: nothing recorded ever signals it.
    """

    semaphore: int
    value: int
    consumer: rec.QueueOperationRecord | HostWait
    producer: rec.QueueOperationRecord | None = None
    host_signal: rec.SemaphoreEvent | None = None

    @property
    def satisfied(self) -> bool:
        return self.producer is not None or self.host_signal is not None


def queue_call_operations(recorder: rec.Recorder) -> list[tuple[rec.HalCall,
                                                                rec.QueueOperationRecord]]:
    """Pairs each ``device.queue.*`` call with the queue operation it submitted.

    Calls are stamped when they start and the VM is single threaded, so a
    call's operation is the first one of its kind submitted after the call's
    stamp and before the next call's.
    """
    calls = recorder.calls
    ops = sorted(recorder.queue_operations, key=lambda o: o.submitted_at)
    submitted = [o.submitted_at for o in ops]
    pairs = []
    for index, call in enumerate(calls):
        kind = _QUEUE_CALL_KINDS.get(call.name)
        if kind is None:
            continue
        limit = calls[index + 1].at if index + 1 < len(calls) else None
        i = bisect.bisect_right(submitted, call.at)
        while i < len(ops) and (limit is None or ops[i].submitted_at < limit):
            if ops[i].kind == kind:
                pairs.append((call, ops[i]))
                break
            i += 1
    return pairs


def fences_by_operation(recorder: rec.Recorder) -> dict[int, tuple[str | None, str | None]]:
    """id(op) -> (wait fence, signal fence) named in the hal call that submitted it."""
    fences = {}
    for call, op in queue_call_operations(recorder):
        wait, signal = call.args.get("wait_fence"), call.args.get("signal_fence")
        fences[id(op)] = (wait if isinstance(wait, str) else None,
                          signal if isinstance(signal, str) else None)
    return fences


def fence_timepoints(recorder: rec.Recorder) -> dict[str, tuple[rec.Timepoint, ...]]:
    """``{"hal.fence#5": (Timepoint(4, 1),), ...}`` for every fence a queue call used
    as its wait or signal fence (the submitted operation's timepoints)."""
    fences: dict[str, tuple[rec.Timepoint, ...]] = {}
    for call, op in queue_call_operations(recorder):
        for key, timepoints in (("wait_fence", op.wait), ("signal_fence", op.signal)):
            name = call.args.get(key)
            if isinstance(name, str) and name not in fences:
                fences[name] = timepoints
    return fences


def host_waits(recorder: rec.Recorder) -> list[HostWait]:
    """``hal.fence.await`` calls and host device waits, in time order."""
    fences = fence_timepoints(recorder)
    found = []
    for call in recorder.calls_to("fence.await"):
        names = tuple(f for f in call.args.get("fences", ()) if isinstance(f, str))
        timepoints = tuple(tp for f in names for tp in fences.get(f, ()))
        found.append((call.at, call.wall_ns, "fence.await", names, timepoints, call.status))
    for wait in recorder.waits:
        found.append((wait.at, wait.wall_ns, "device.wait", (), tuple(wait.timepoints),
                      wait.result))
    found.sort(key=lambda w: w[0])
    return [HostWait(i, *w) for i, w in enumerate(found)]


def dependencies(recorder: rec.Recorder, waits: list[HostWait] | None = None
                 ) -> list[Dependency]:
    """Every wait of every queue operation and host wait, with what satisfies it.

    Waits an initial semaphore value already satisfies are left out. Of a
    queue operation that signals the value and a host signal, the earlier wins.
    """
    initial: dict[int, int] = {}
    host_signals: dict[int, list[rec.SemaphoreEvent]] = {}
    for event in recorder.semaphore_events:
        if event.kind == "create":
            initial.setdefault(event.semaphore, event.value)
        elif event.kind == "signal" and not event.source.startswith("queue:"):
            host_signals.setdefault(event.semaphore, []).append(event)
    signalers: dict[int, list[tuple[int, rec.QueueOperationRecord]]] = {}
    for op in recorder.queue_operations:
        for tp in op.signal:
            signalers.setdefault(tp.semaphore, []).append((tp.value, op))

    def resolve(consumer, tp) -> Dependency | None:
        if initial.get(tp.semaphore, 0) >= tp.value:
            return None
        producer = next((op for value, op in signalers.get(tp.semaphore, ())
                         if value >= tp.value and op is not consumer), None)
        host = next((e for e in host_signals.get(tp.semaphore, ()) if e.value >= tp.value),
                    None)
        if producer is not None and host is not None:
            done = producer.completed_at
            if done is None or host.at < done:
                producer = None
            else:
                host = None
        return Dependency(tp.semaphore, tp.value, consumer, producer, host)

    found = []
    for op in recorder.queue_operations:
        for tp in op.wait:
            dep = resolve(op, tp)
            if dep is not None:
                found.append(dep)
    for wait in host_waits(recorder) if waits is None else waits:
        for tp in wait.timepoints:
            dep = resolve(wait, tp)
            if dep is not None:
                found.append(dep)
    return found


def queue_lanes(recorder: rec.Recorder) -> list[tuple[int, int]]:
    """The (device, queue affinity) pairs that queue operations used, sorted."""
    return sorted({(op.device, op.queue_affinity & QUEUE_AFFINITY_ANY)
                   for op in recorder.queue_operations})


def _lane_of(op: rec.QueueOperationRecord) -> tuple[int, int]:
    return op.device, op.queue_affinity & QUEUE_AFFINITY_ANY


class _Clock:
    """Times of records on the chosen axis (logical ticks or wall microseconds)."""

    def __init__(self, recorder: rec.Recorder, clock: str):
        if clock not in ("logical", "wall"):
            raise ValueError(f"clock must be 'logical' or 'wall' (got {clock!r})")
        self.wall = clock == "wall"
        self.unit = "µs since the recorder started" if self.wall else "recorder ticks"
        pairs = recorder.wall_stamps() if self.wall else []
        self._ats = [a for a, _ in pairs]
        walls, high = [], 0
        for _, w in pairs:
            high = max(high, w)  # keep the map monotonic
            walls.append(high)
        self._walls = walls

    def at(self, logical: int) -> float:
        """A logical time on this axis."""
        if not self.wall:
            return float(logical)
        ats, walls = self._ats, self._walls
        if not ats:
            return 0.0
        i = bisect.bisect_left(ats, logical)
        if i < len(ats) and ats[i] == logical:
            return walls[i] / 1000.0
        if i == 0:
            return walls[0] / 1000.0
        if i == len(ats):
            return walls[-1] / 1000.0
        a0, a1, w0, w1 = ats[i - 1], ats[i], walls[i - 1], walls[i]
        return (w0 + (w1 - w0) * (logical - a0) / (a1 - a0)) / 1000.0

    def stamp(self, logical: int | None, wall_ns: int | None) -> float | None:
        """A record's time: its wall stamp on the wall axis, else its logical time."""
        if logical is None:
            return None
        if self.wall:
            return wall_ns / 1000.0 if wall_ns is not None else self.at(logical)
        return float(logical)

    def op_span(self, op: rec.QueueOperationRecord):
        """(submitted, started or None, completed or None)."""
        return (self.stamp(op.submitted_at, op.submit_wall_ns),
                self.stamp(op.started_at, op.start_wall_ns),
                self.stamp(op.completed_at, op.end_wall_ns))

    def dispatch_span(self, d: rec.DispatchExecution):
        start = self.stamp(d.started_at, d.start_wall_ns if d.start_wall_ns else None)
        end = self.stamp(d.completed_at, d.end_wall_ns if d.end_wall_ns else None)
        return start, end


class _LabelPlacer:
    """Staggers labels that would overlap onto a second row, by estimated text width."""

    def __init__(self, span: float, axes_inches: float):
        # Data units per character of a ~7 pt font (average glyph about 0.6 em).
        self.per_char = span * 1.04 / max(axes_inches, 1.0) * 7 * 0.62 / 72
        self.ends: dict[object, list[float]] = {}

    def level(self, row, x: float, chars: int) -> int:
        ends = self.ends.setdefault(row, [float("-inf"), float("-inf")])
        right = x + chars * self.per_char
        for level, end in enumerate(ends):
            if end <= x:
                ends[level] = right
                return level
        level = min(range(len(ends)), key=ends.__getitem__)
        ends[level] = right
        return level


def _end_of_recording(recorder: rec.Recorder, clock: _Clock) -> float:
    if clock.wall:
        return max([clock.at(recorder.now)] + [
            t for op in recorder.queue_operations for t in clock.op_span(op) if t is not None])
    return float(recorder.now)


# -- Queue timeline -------------------------------------------------------------------------


def queue_timeline(recorder: rec.Recorder, *, clock: str = "logical",
                   labels: bool | None = None, show_dispatches: bool = True,
                   show_host: bool = True, title: str | None = None, figsize=None):
    """Queue operations as bars, one lane per (device, queue), with fence arrows.

    Each queue operation is one bar (artist gid ``op:DEVICE:ID``) from start to
    completion, coloured by kind; one that never ran (a failed wait) or is
    still pending is a hatched bar from its submission. A deferred operation's
    wait for its timepoints is a thin bar below it (``waiting:DEVICE:ID``);
    dispatches are dark bars inside their execute (``dispatch:DEVICE:OP:INDEX``).
    Each satisfied :class:`Dependency` is one arrow (``dependency:N``) from the
    signaling operation's end to the waiting operation's start; the host lane
    shows host waits (``host-wait:N``) and host signals (``host-signal:N``).
    Labels name the operation and its timepoints (default: when there are at
    most :data:`MAX_LABELED_OPERATIONS` operations).
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch, Patch, Rectangle

    tm = _Clock(recorder, clock)
    ops = recorder.queue_operations
    waits = host_waits(recorder)
    deps = dependencies(recorder, waits)
    host_signal_events = [e for e in recorder.semaphore_events
                          if e.kind in ("signal", "fail") and not e.source.startswith("queue:")]
    lanes = queue_lanes(recorder)
    has_host = show_host and bool(waits or host_signal_events)
    rows = (["host"] if has_host else []) + [queue_label(d, q) for d, q in lanes]
    if labels is None:
        labels = len(ops) <= MAX_LABELED_OPERATIONS
    step = 1.5 if labels else 1.0  # room between lanes for two rows of labels
    lane_y = {lane: step * (i + (1 if has_host else 0)) for i, lane in enumerate(lanes)}
    host_y = 0.0
    end = _end_of_recording(recorder, tm)
    start = min([tm.op_span(op)[0] for op in ops] + [tm.stamp(w.at, w.wall_ns) for w in waits]
                or [0.0])
    span = max(end - start, 1e-9)
    min_width = span * 0.004  # keeps sub-microsecond work visible on a wall axis

    if figsize is None:
        figsize = (11, 1.4 + (1.1 if labels else 0.7) * max(len(rows), 1))
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    placer = _LabelPlacer(span, figsize[0] * 0.68)
    kinds_shown: list[str] = []
    anchors: dict[int, tuple[float, float, float, float]] = {}  # id(record) -> x0, x1, y0, y
    height = 0.5

    for op in ops:
        y = lane_y[_lane_of(op)]
        submitted, started, completed = tm.op_span(op)
        color = KIND_COLORS.get(op.kind, OTHER_COLOR)
        if op.kind not in kinds_shown:
            kinds_shown.append(op.kind)
        failed = op.status not in ("OK", "pending")
        edge = FAILED_COLOR if failed else "#333333"
        if started is not None:
            x0, x1 = started, max(completed if completed is not None else end,
                                  started + min_width)
            bar = Rectangle((x0, y - height / 2), x1 - x0, height, facecolor=color,
                            edgecolor=edge, linewidth=1.4 if failed else 0.6,
                            hatch="xx" if failed else None)
            if op.deferred:
                wait_bar = Rectangle((submitted, y + height / 2 + 0.03), max(x0 - submitted,
                                                                            min_width),
                                     0.08, facecolor=color, alpha=0.45, edgecolor="none")
                wait_bar.set_gid(f"waiting:{op.device}:{op.id}")
                ax.add_patch(wait_bar)
        else:
            # Never ran: waiting until it failed, or still pending at the end.
            x0 = submitted
            x1 = max(completed if completed is not None else end, submitted + min_width)
            bar = Rectangle((x0, y - height / 2), x1 - x0, height, facecolor=color, alpha=0.35,
                            edgecolor=edge, linewidth=1.2, hatch="//",
                            linestyle="--" if op.status == "pending" else "-")
        bar.set_gid(f"op:{op.device}:{op.id}")
        ax.add_patch(bar)
        anchors[id(op)] = (x0, x1, y - height / 2, y)
        if show_dispatches:
            for d in op.dispatches:
                d0, d1 = tm.dispatch_span(d)
                if d0 is None:
                    continue
                d1 = max(d1 if d1 is not None else x1, d0 + min_width)
                inner = Rectangle((d0, y - height / 4), d1 - d0, height / 2,
                                  facecolor=DISPATCH_COLOR,
                                  edgecolor=FAILED_COLOR if d.status not in ("OK", "running")
                                  else "none", linewidth=0.8)
                inner.set_gid(f"dispatch:{op.device}:{op.id}:{d.command_index}")
                ax.add_patch(inner)
        if labels:
            head = f"{op_name(op)} {op.kind}"
            if op.command_buffer is not None:
                head += f" cb#{op.command_buffer}"
            if op.buffer is not None:
                head += f" {buffer_name(op.device, op.buffer)}"
            if op.status != "OK":
                head += f" [{op.status}]"
            points = []
            if op.wait:
                points.append("wait " + timepoints_text(op.wait, "≥"))
            if op.signal:
                points.append("signal " + timepoints_text(op.signal, "="))
            points = " → ".join(points)
            chars = max(len(head), len(points))
            # Near the right edge a label ends at its bar instead of starting there.
            at_end = x0 + chars * placer.per_char > end + span * 0.02
            anchor = x1 if at_end else x0
            level = placer.level(_lane_of(op), anchor - chars * placer.per_char if at_end
                                 else x0, chars)
            ha = "right" if at_end else "left"
            ax.text(anchor, y - height / 2 - 0.04 - 0.22 * level, head, fontsize=7,
                    va="bottom", ha=ha, color=FAILED_COLOR if failed else "black",
                    clip_on=True)
            if points:
                below = 0.18 if op.deferred else 0.06  # clear of the waiting bar
                ax.text(anchor, y + height / 2 + below + 0.2 * level, points, fontsize=6.5,
                        va="top", ha=ha, color="#444444", clip_on=True)

    if has_host:
        for w in waits:
            x = tm.stamp(w.at, w.wall_ns)
            (marker,) = ax.plot([x], [host_y], marker="v", markersize=8, color="#222222",
                                linestyle="none")
            marker.set_gid(f"host-wait:{w.index}")
            anchors[id(w)] = (x, x, host_y, host_y)
            if labels:
                what = ", ".join(f.removeprefix("hal.") for f in w.fences) or \
                    timepoints_text(w.timepoints, "≥")
                text = f"{w.source}({what})"
                level = placer.level("host-wait", x, len(text))
                ax.text(x, host_y - 0.3 - 0.2 * level, text, fontsize=6.5, va="bottom",
                        ha="right" if x > start + 0.8 * span else "left", clip_on=True)
        for i, event in enumerate(host_signal_events):
            x = tm.stamp(event.at, event.wall_ns)
            (marker,) = ax.plot([x], [host_y], marker="^", markersize=8, linestyle="none",
                                color=FAILED_COLOR if event.kind == "fail" else "#2a7a2a")
            marker.set_gid(f"host-signal:{i}")
            anchors[id(event)] = (x, x, host_y, host_y)
            if labels:
                text = (f"{event.source}: s{event.semaphore}"
                        f"{'=' if event.kind == 'signal' else ' failed '}"
                        f"{event.value if event.kind == 'signal' else event.status}")
                level = placer.level("host-signal", x, len(text))
                ax.text(x, host_y + 0.3 + 0.2 * level, text, fontsize=6.5, va="top",
                        ha="right" if x > start + 0.8 * span else "left", clip_on=True)

    arrows = 0
    for n, dep in enumerate(deps):
        source = dep.producer if dep.producer is not None else dep.host_signal
        if source is None or id(source) not in anchors or id(dep.consumer) not in anchors:
            continue
        _, sx1, _, sy = anchors[id(source)]
        tx0, _, _, ty = anchors[id(dep.consumer)]
        same_lane = sy == ty
        arrow = FancyArrowPatch((sx1, sy), (tx0, ty), arrowstyle="-|>", mutation_scale=9,
                                color="#444444", linewidth=0.9, shrinkA=0, shrinkB=0,
                                connectionstyle=f"arc3,rad={-0.45 if same_lane else 0.08}",
                                zorder=5)
        arrow.set_gid(f"dependency:{n}")
        ax.add_patch(arrow)
        arrows += 1

    ax.set_yticks([step * i for i in range(len(rows))], rows)
    ax.set_ylim(step * (len(rows) - 1) + 0.75, -0.75 if not labels else -0.95)
    pad = span * 0.02
    ax.set_xlim(start - pad, end + pad)
    ax.set_xlabel(f"{'wall' if tm.wall else 'logical'} time ({tm.unit})")
    ax.grid(axis="x", alpha=0.25)
    ax.set_title(title or f"HAL queue timeline: {_count(len(ops), 'operation')}, "
                          f"{_count(sum(len(o.dispatches) for o in ops), 'dispatch')}, "
                          f"{arrows} fence dependenc{'y' if arrows == 1 else 'ies'}",
                 fontsize=10)
    handles = [Patch(facecolor=KIND_COLORS.get(k, OTHER_COLOR), label=k) for k in kinds_shown]
    if show_dispatches and any(o.dispatches for o in ops):
        handles.append(Patch(facecolor=DISPATCH_COLOR, label="dispatch"))
    if any(o.deferred for o in ops):
        handles.append(Patch(facecolor="#999999", alpha=0.45, label="waiting"))
    if arrows:
        handles.append(Line2D([], [], color="#444444", marker=">", label="fence dependency"))
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8,
                  frameon=False)
    return fig


# -- Buffer lifetimes -----------------------------------------------------------------------


def buffer_lifetimes(recorder: rec.Recorder, *, clock: str = "logical",
                     show_uses: bool = True, title: str | None = None, figsize=None):
    """One bar per allocation (subspans belong to theirs) from creation to release.

    Bars (gid ``buffer:DEVICE:ID``) are coloured by origin (``alloca``,
    ``allocate``, ``host``, ``import``) and labelled with size and allowed
    usage; a buffer still live when the recording ends gets an open end
    (``live:DEVICE:ID``). Dots (``uses:DEVICE:ID``) mark the dispatches that
    bound it.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch, Rectangle

    tm = _Clock(recorder, clock)
    allocations = recorder.allocations()
    end = _end_of_recording(recorder, tm)
    start = min([tm.at(b.created_at) for b in allocations] or [0.0])
    span = max(end - start, 1e-9)
    min_width = span * 0.004
    uses: dict[tuple[int, int], list[float]] = {}
    if show_uses:
        for d in recorder.dispatches:
            device = _dispatch_device(recorder, d)
            t, _ = tm.dispatch_span(d)
            if t is None:
                continue
            for b in d.bindings:
                record = recorder.buffers.get(b.buffer)
                allocated = record.allocated if record is not None else b.buffer
                points = uses.setdefault((device, allocated), [])
                if t not in points:
                    points.append(t)

    if figsize is None:
        figsize = (11, 1.2 + 0.42 * max(len(allocations), 1))
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    origins: list[str] = []
    rows = []
    for y, b in enumerate(allocations):
        x0 = tm.at(b.created_at)
        live = b.dealloca_at is None
        x1 = max(end if live else tm.at(b.dealloca_at), x0 + min_width)
        color = ORIGIN_COLORS.get(b.origin, OTHER_COLOR)
        if b.origin not in origins:
            origins.append(b.origin)
        bar = Rectangle((x0, y - 0.35), x1 - x0, 0.7, facecolor=color, alpha=0.8,
                        edgecolor="#333333", linewidth=0.5)
        bar.set_gid(f"buffer:{b.device}:{b.id}")
        ax.add_patch(bar)
        if live:
            (marker,) = ax.plot([x1], [y], marker=">", color=color, markersize=7,
                                linestyle="none")
            marker.set_gid(f"live:{b.device}:{b.id}")
        rows.append(f"{buffer_name(b.device, b.id)} {human_size(b.byte_length)}")
        usage = format_buffer_usage(b.usage) or "NONE"
        ax.text(x0 + span * 0.004, y - 0.12, f"{b.origin} · {usage}", fontsize=6.5, va="center",
                ha="left", clip_on=True)
        points = uses.get((b.device, b.id))
        if points:
            (dots,) = ax.plot(points, [y + 0.18] * len(points), marker="o", markersize=4,
                              color=DISPATCH_COLOR, linestyle="none")
            dots.set_gid(f"uses:{b.device}:{b.id}")
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_ylim(len(rows) - 0.4, -0.6)
    pad = span * 0.02
    ax.set_xlim(start - pad, end + pad * 3)
    ax.set_xlabel(f"{'wall' if tm.wall else 'logical'} time ({tm.unit})")
    ax.grid(axis="x", alpha=0.25)
    total = sum(b.byte_length for b in allocations)
    ax.set_title(title or f"Buffer lifetimes: {len(allocations)} allocations, "
                          f"{human_size(total)} in all", fontsize=10)
    handles = [Patch(facecolor=ORIGIN_COLORS.get(o, OTHER_COLOR), alpha=0.8, label=o)
               for o in origins]
    if uses:
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], marker="o", color=DISPATCH_COLOR, linestyle="none",
                              label="bound by a dispatch"))
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8,
                  frameon=False)
    return fig


def _dispatch_device(recorder: rec.Recorder, d: rec.DispatchExecution) -> int:
    executable = recorder.executables.get(d.executable)
    return executable.device if executable is not None else 0


# -- HTML -----------------------------------------------------------------------------------


def _binding_list(refs: Iterable[rec.BufferRef], device: int) -> Raw:
    items = "".join(f"<li>{esc(buffer_ref_text(r, device))}</li>" for r in refs)
    return Raw(f'<ol start="0" class="il-mono il-bindings">{items}</ol>') if items else Raw("—")


def _command_cells(command, recorder: rec.Recorder, device: int) -> tuple[str, Raw]:
    """(what, details) of one recorded command."""
    kind = command.kind
    if kind == "dispatch":
        executable = recorder.executables.get(command.executable)
        exe = f"executable #{command.executable}"
        if executable is not None:
            exe += f" ({executable.format})"
        if command.workgroup_count is not None:
            workgroups = "×".join(str(v) for v in command.workgroup_count)
        elif command.workgroups_ref is not None:
            workgroups = "indirect: " + buffer_ref_text(command.workgroups_ref, device)
        else:
            workgroups = "?"
        facts = [("executable", exe), ("export", f"@{command.export_name} "
                                                 f"[ordinal {command.function}]"),
                 ("workgroups", workgroups),
                 ("constants", ", ".join(f"{c:#x}" for c in command.constants) or "none")]
        if command.flags:
            facts.append(("flags", f"{command.flags:#x}"))
        facts.append(("bindings", _binding_list(command.bindings, device)))
        return command.export_name, key_values(facts)
    if kind == "fill":
        pattern = f"{command.pattern & ((1 << (8 * command.pattern_length)) - 1):#0{2 + 2 * command.pattern_length}x}"
        return (buffer_ref_text(command.target, device),
                key_values([("pattern", f"{pattern} ({command.pattern_length} B)")]))
    if kind == "update":
        preview = command.data[:16].hex(" ")
        if len(command.data) > 16:
            preview += " …"
        return (buffer_ref_text(command.target, device),
                key_values([("data", f"{len(command.data)} B: {preview}")]))
    if kind == "copy":
        return (f"{buffer_ref_text(command.source, device)} → "
                f"{buffer_ref_text(command.target, device)}", Raw(""))
    if kind == "barrier":
        facts = [("source stages", flag_names(command.source_stage, ExecutionStage)),
                 ("target stages", flag_names(command.target_stage, ExecutionStage))]
        if command.flags:
            facts.append(("flags", f"{command.flags:#x}"))
        return "", key_values(facts)
    if kind == "debug_group":
        return (f"begin “{command.label}”" if command.label is not None else "end"), Raw("")
    if kind == "advise":
        return (buffer_ref_text(command.target, device),
                key_values([("flags", f"{command.flags:#x}"),
                            ("args", f"{command.arg0}, {command.arg1}")]))
    return "", Raw(esc(repr(command)))


def command_buffer_html(recorder: rec.Recorder, cb: rec.CommandBufferRecord) -> Raw:
    """One command buffer: its facts, its commands in order, and its executions."""
    executions = [op for op in recorder.queue_operations
                  if op.kind == "execute" and op.command_buffer == cb.id and op.device == cb.device]
    facts = key_values([
        ("mode", flag_names(cb.mode, CommandBufferMode, zero="DEFAULT")),
        ("categories", flag_names(cb.categories, CommandCategory)),
        ("queue affinity", queue_text(cb.queue_affinity)),
        ("binding capacity", cb.binding_capacity),
        ("recorded", f"t={cb.created_at}…" + (f"{cb.finalized_at}" if cb.finalized_at
                                              is not None else "(not finalized)")),
        ("executed by", ", ".join(f"{op_name(op)} ({op.status})" for op in executions)
         or "never"),
    ])
    rows = ['<table class="il-table il-commands"><tr><th>#</th><th>command</th>'
            "<th>target</th><th>details</th></tr>"]
    depth = 0
    for index, command in enumerate(cb.commands):
        if command.kind == "debug_group" and command.label is None:
            depth = max(depth - 1, 0)
        what, details = _command_cells(command, recorder, cb.device)
        indent = f' style="padding-left:{8 + 14 * depth}px"' if depth else ""
        rows.append(
            f'<tr data-command="{esc(command.kind)}" data-index="{index}">'
            f'<td class="il-pc">{index}</td><td{indent}>{esc(command.kind)}</td>'
            f'<td class="il-mono">{esc(what)}</td><td>{esc(details)}</td></tr>')
        if command.kind == "debug_group" and command.label is not None:
            depth += 1
    rows.append("</table>")
    parts = [Raw(f'<h3 id="cb-{cb.device}-{cb.id}">command buffer '
                 f'{esc(("#" if cb.device == 0 else f"d{cb.device}#") + str(cb.id))} '
                 f'<span class="il-dim">({_count(len(cb.commands), "command")}, '
                 f'{_count(len(cb.dispatches), "dispatch")})</span></h3>'), facts, Raw("".join(rows))]
    for op in executions:
        if not op.binding_table:
            continue
        entries = "".join(
            f"<li>{esc(_binding_table_entry(e, op.device))}</li>" for e in op.binding_table)
        parts.append(Raw(f'<div class="il-dim">{esc(op_name(op))} binding table:</div>'
                         f'<ol start="0" class="il-mono il-binding-table">{entries}</ol>'))
    return Raw('<div class="il-command-buffer">' + "".join(esc(p) for p in parts) + "</div>")


def _binding_table_entry(entry: rec.BindingTableEntry, device: int) -> str:
    if entry.buffer is None:
        return "(null)"
    return f"buffer {buffer_name(device, entry.buffer)} {_range_text(entry.offset, entry.length)}"


def command_buffers_html(recorder: rec.Recorder, command_buffers: Iterable[int] | None = None
                         ) -> str:
    """The listing of every recorded command buffer (or those with the given ids)."""
    wanted = None if command_buffers is None else set(command_buffers)
    cbs = [cb for cb in recorder.command_buffers.values() if wanted is None or cb.id in wanted]
    if not cbs:
        return document(Raw('<div class="il-dim">no command buffers recorded</div>'),
                        title="Command buffers")
    return document(*(command_buffer_html(recorder, cb) for cb in cbs),
                    title=f"Command buffers ({len(cbs)})")


def queue_operations_html(recorder: rec.Recorder) -> str:
    """Every queue operation: kind, target, timepoints, logical times, status."""
    rows = ['<table class="il-table il-queue"><tr><th>op</th><th>queue</th><th>kind</th>'
            "<th>target</th><th>wait</th><th>signal</th><th>submitted / started / completed"
            "</th><th>status</th></tr>"]
    for op in recorder.queue_operations:
        target = []
        if op.command_buffer is not None:
            target.append(f"cb#{op.command_buffer}")
            if op.dispatches:
                target.append(_count(len(op.dispatches), "dispatch"))
        if op.buffer is not None:
            target.append(f"buffer {buffer_name(op.device, op.buffer)}")
        if op.kind == "alloca":
            target.append(human_size(op.details.get("size", 0)))
            memory = op.details.get("memory_type")
            if memory is not None:
                target.append(format_memory_type(memory))
        elif "length" in op.details:
            target.append(f"{op.details['length']} B")
        if parameter_text(op):
            target.append(parameter_text(op))
        times = " / ".join("—" if t is None else str(t)
                           for t in (op.submitted_at, op.started_at, op.completed_at))
        status = op.status + (f": {op.message}" if op.message else "")
        cls = "" if op.status in ("OK", "pending") else ' class="il-note"'
        rows.append(
            f'<tr data-op="{op.device}:{op.id}"><td class="il-mono">{esc(op_name(op))}</td>'
            f"<td>{esc(queue_text(op.queue_affinity))}</td>"
            f"<td>{esc(op.kind)}</td><td>{esc(', '.join(target))}</td>"
            f'<td class="il-mono">{esc(timepoints_text(op.wait, "≥") or "—")}</td>'
            f'<td class="il-mono">{esc(timepoints_text(op.signal, "=") or "—")}</td>'
            f"<td>{esc(times)}</td><td{cls}>{esc(status)}</td></tr>")
    rows.append("</table>")
    return document(Raw("".join(rows)),
                    title=f"Queue operations ({len(recorder.queue_operations)})")


# -- Dependency graph (DOT) -----------------------------------------------------------------


def _dot_string(text: str) -> str:
    """A DOT quoted string; newlines become centred line breaks."""
    body = str(text).replace("\\", "\\\\").replace('"', '\\"')
    return '"' + body.replace("\r", "").replace("\n", "\\n") + '"'


def dependency_dot(recorder: rec.Recorder, *, name: str = "hal_submissions") -> str:
    """Queue operations, semaphores and host waits as a DOT digraph.

    Nodes: ``op_D_N`` (a queue operation, box, coloured by kind), ``sem_N`` (a
    semaphore, ellipse, labelled with the fences that name it and its last
    value), ``wait_N`` (a host wait), ``host`` (the host, when it signals).
    Edges: operation → semaphore ``signal V``; semaphore → operation or host
    wait ``wait ≥ V``; host → semaphore ``signal V`` / ``fail``.
    """
    waits = host_waits(recorder)
    fences = fence_timepoints(recorder)
    fence_names: dict[int, list[str]] = {}
    for fence, timepoints in fences.items():
        for tp in timepoints:
            names = fence_names.setdefault(tp.semaphore, [])
            short = fence.removeprefix("hal.")
            if short not in names:
                names.append(short)
    semaphores: list[int] = []

    def use(semaphore: int) -> str:
        if semaphore not in semaphores:
            semaphores.append(semaphore)
        return f"sem_{semaphore}"

    final: dict[int, str] = {}
    for event in recorder.semaphore_events:
        if event.kind == "signal":
            final[event.semaphore] = f"value {event.value}"
        elif event.kind == "fail":
            final[event.semaphore] = f"failed {event.status}"

    lines = [f"digraph {_dot_string(name)} {{", "  rankdir=LR;",
             '  node [fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=9];']
    edges = []
    for op in recorder.queue_operations:
        node = f"op_{op.device}_{op.id}"
        label = [f"{op_name(op)} {op.kind}"]
        if op.command_buffer is not None:
            label.append(f"cb#{op.command_buffer}" + (f", {_count(len(op.dispatches), 'dispatch')}"
                                                      if op.dispatches else ""))
        if op.buffer is not None:
            label.append(f"buffer {buffer_name(op.device, op.buffer)}")
        if parameter_text(op):
            label.append(parameter_text(op))
        label.append(op.status)
        failed = op.status not in ("OK", "pending")
        lines.append(
            f"  {node} [shape=box, style=\"filled{',dashed' if op.status == 'pending' else ''}\", "
            f"fillcolor=\"{KIND_COLORS.get(op.kind, OTHER_COLOR)}\", "
            f"color=\"{FAILED_COLOR if failed else '#333333'}\", "
            f"penwidth={2 if failed else 1}, label={_dot_string(chr(10).join(label))}];")
        for tp in op.wait:
            edges.append(f"  {use(tp.semaphore)} -> {node} [label={_dot_string(f'wait ≥ {tp.value}')}];")
        for tp in op.signal:
            edges.append(f"  {node} -> {use(tp.semaphore)} [label={_dot_string(f'signal {tp.value}')}];")
    for w in waits:
        node = f"wait_{w.index}"
        what = ", ".join(f.removeprefix("hal.") for f in w.fences)
        lines.append(f"  {node} [shape=hexagon, label="
                     f"{_dot_string(f'host wait #{w.index}' + chr(10) + f'{w.source}({what})')}];")
        for tp in w.timepoints:
            edges.append(f"  {use(tp.semaphore)} -> {node} [label={_dot_string(f'wait ≥ {tp.value}')}];")
    host_events = [e for e in recorder.semaphore_events
                   if e.kind in ("signal", "fail") and not e.source.startswith("queue:")]
    if host_events:
        lines.append('  host [shape=house, label="host"];')
        for e in host_events:
            label = f"signal {e.value}" if e.kind == "signal" else f"fail {e.status}"
            if e.source != "host":
                label += f" ({e.source})"
            edges.append(f"  host -> {use(e.semaphore)} [label={_dot_string(label)}, "
                         f"style=dashed];")
    for s in semaphores:
        label = [f"semaphore {s}"]
        if s in fence_names:
            label.append(", ".join(fence_names[s]))
        label.append(final.get(s, "never signaled"))
        color = FAILED_COLOR if final.get(s, "").startswith("failed") else "#333333"
        lines.append(f"  sem_{s} [shape=ellipse, color=\"{color}\", "
                     f"label={_dot_string(chr(10).join(label))}];")
    lines.extend(edges)
    lines.append("}")
    return "\n".join(lines) + "\n"


# -- Chrome / Perfetto trace ----------------------------------------------------------------

HOST_PID = 1
HOST_CALLS_TID = 1
HOST_SEMAPHORES_TID = 2
HOST_WAITS_TID = 3


def _device_pid(device: int) -> int:
    return 2 + device


def hal_trace(recorder: rec.Recorder, *, clock: str = "wall") -> dict:
    """The recording as Chrome/Perfetto trace JSON (open it in ui.perfetto.dev).

    One process per device (pid 2 + device id) with a thread per queue lane
    (and an ``inline`` thread for dispatches outside queue operations), and a
    ``host`` process (pid 1). One event per record:

    * queue operation → ``X`` (cat ``queue``; a still-pending one → ``i``);
    * dispatch execution → ``X`` nested in its execute (cat ``dispatch``);
    * debug group of an executed command buffer → ``B``/``E`` around its dispatches;
    * ``hal.*`` call → ``i`` on host/calls (cat ``hal.call``);
    * semaphore create/signal/fail → ``i`` on host/semaphores (cat ``semaphore``);
    * host wait → ``i`` on host/waits (cat ``host.wait``);
    * each fence dependency between two queue operations → an ``s``/``f`` flow
      pair (cat ``fence``);
    * allocation and release → ``C`` "live bytes" per device (cat ``buffer``).
    """
    tm = _Clock(recorder, clock)
    tb = TraceBuilder(metadata={"source": "iree_lab HAL recorder", "clock": clock,
                                "time_unit": "us" if tm.wall else "logical tick"})
    lanes = queue_lanes(recorder)
    tids: dict[tuple[int, int], int] = {}
    devices = sorted({d for d, _ in lanes} | {b.device for b in recorder.buffers.values()}
                     | {e.device for e in recorder.executables.values()})
    tb.process(HOST_PID, "host", sort_index=0)
    tb.thread(HOST_PID, HOST_CALLS_TID, "hal calls", sort_index=0)
    tb.thread(HOST_PID, HOST_SEMAPHORES_TID, "semaphores", sort_index=1)
    tb.thread(HOST_PID, HOST_WAITS_TID, "host waits", sort_index=2)
    for device in devices:
        tb.process(_device_pid(device), f"HAL device {device}", sort_index=1 + device)
    for device, affinity in lanes:
        tid = sum(1 for (d, _) in tids if d == device) + 1
        tids[(device, affinity)] = tid
        tb.thread(_device_pid(device), tid, queue_text(affinity),
                  sort_index=tid)
    inline_tid, inline_pids = 1000, set()

    op_events: dict[int, dict] = {}
    for op in recorder.queue_operations:
        pid, tid = _device_pid(op.device), tids[_lane_of(op)]
        submitted, started, completed = tm.op_span(op)
        args = {"id": op.id, "device": op.device, "status": op.status,
                "wait": [[t.semaphore, t.value] for t in op.wait],
                "signal": [[t.semaphore, t.value] for t in op.signal],
                "submitted": submitted, "deferred": op.deferred}
        if op.command_buffer is not None:
            args["command_buffer"] = op.command_buffer
            args["binding_table"] = [[e.buffer, e.offset, e.length] for e in op.binding_table]
        if op.buffer is not None:
            args["buffer"] = op.buffer
        if op.details:
            args["details"] = op.details
        if op.message:
            args["message"] = op.message
        name = op.kind + (f" cb#{op.command_buffer}" if op.command_buffer is not None else "")
        if completed is None:
            op_events[id(op)] = tb.instant(f"{name} (pending)", submitted, pid, tid,
                                           cat="queue", args=args)
            continue
        begin = started if started is not None else submitted
        if started is None:
            args["ran"] = False
        op_events[id(op)] = tb.complete(name, begin, max(completed - begin, 0), pid, tid,
                                        cat="queue", args=args)
        if op.kind == "execute" and started is not None:
            _trace_command_buffer(tb, recorder, tm, op, pid, tid, begin, completed)

    for d in recorder.dispatches:
        if d.queue_operation is not None:
            continue  # traced with its execute
        start, end = tm.dispatch_span(d)
        if start is None:
            continue
        pid = _device_pid(_dispatch_device(recorder, d))
        if pid not in inline_pids:
            inline_pids.add(pid)
            tb.thread(pid, inline_tid, "inline dispatches", sort_index=inline_tid)
        tb.complete(d.export_name, start, max((end if end is not None else start) - start, 0),
                    pid, inline_tid, cat="dispatch", args=_dispatch_args(d))

    for call in recorder.calls:
        tb.instant(call.name, tm.stamp(call.at, call.wall_ns), HOST_PID, HOST_CALLS_TID,
                   cat="hal.call", args={"at": call.at, "status": call.status, **call.args})
    for event in recorder.semaphore_events:
        what = (f"s{event.semaphore} {event.kind} {event.value}" if event.kind != "fail"
                else f"s{event.semaphore} fail {event.status}")
        tb.instant(what, tm.stamp(event.at, event.wall_ns), HOST_PID, HOST_SEMAPHORES_TID,
                   cat="semaphore", args={"semaphore": event.semaphore, "kind": event.kind,
                                          "value": event.value, "source": event.source,
                                          "status": event.status, "at": event.at})
    waits = host_waits(recorder)
    for w in waits:
        tb.instant(f"{w.source} {' '.join(w.fences)}".strip(), tm.stamp(w.at, w.wall_ns),
                   HOST_PID, HOST_WAITS_TID, cat="host.wait",
                   args={"timepoints": [[t.semaphore, t.value] for t in w.timepoints],
                         "result": w.result, "at": w.at})

    for dep in dependencies(recorder, waits):
        producer, consumer = dep.producer, dep.consumer
        if producer is None or not isinstance(consumer, rec.QueueOperationRecord):
            continue
        source, target = op_events.get(id(producer)), op_events.get(id(consumer))
        if source is None or target is None or source["ph"] != "X" or target["ph"] != "X":
            continue  # flows bind to slices; pending operations are instants
        tb.flow(f"s{dep.semaphore}≥{dep.value}",
                (source["ts"], source["pid"], source["tid"]),
                (target["ts"], target["pid"], target["tid"]),
                cat="fence", args={"semaphore": dep.semaphore, "value": dep.value})

    changes: list[tuple[float, int, int, int]] = []  # (time, order, device, delta)
    for n, b in enumerate(recorder.allocations()):
        changes.append((tm.at(b.created_at), n, b.device, b.byte_length))
        if b.dealloca_at is not None:
            changes.append((tm.at(b.dealloca_at), n, b.device, -b.byte_length))
    live: dict[int, int] = {}
    for t, _, device, delta in sorted(changes):
        live[device] = live.get(device, 0) + delta
        tb.counter("live bytes", t, _device_pid(device), {"bytes": live[device]}, cat="buffer")
    return tb.to_json()


def _dispatch_args(d: rec.DispatchExecution) -> dict:
    return {"executable": d.executable, "ordinal": d.function,
            "workgroup_count": list(d.workgroup_count), "constants": list(d.constants),
            "bindings": [[b.buffer, b.offset, b.length] for b in d.bindings],
            "command_buffer": d.command_buffer, "command_index": d.command_index,
            "status": d.status}


def _trace_command_buffer(tb: TraceBuilder, recorder: rec.Recorder, tm: _Clock,
                          op: rec.QueueOperationRecord, pid: int, tid: int,
                          begin: float, end: float) -> None:
    """The dispatches of one execute, with its command buffer's debug groups around them."""
    cb = recorder.command_buffers.get(op.command_buffer)
    runs = {d.command_index: d for d in op.dispatches}
    cursor = begin
    open_groups: list[str] = []
    commands = cb.commands if cb is not None and cb.device == op.device else []
    for index, command in enumerate(commands):
        if command.kind == "debug_group":
            if command.label is not None:
                open_groups.append(command.label)
                tb.begin(command.label, cursor, pid, tid, cat="debug_group")
            elif open_groups:
                tb.end(open_groups.pop(), cursor, pid, tid, cat="debug_group")
            continue
        d = runs.pop(index, None)
        if d is None:
            continue
        start, stop = tm.dispatch_span(d)
        start = min(max(start if start is not None else cursor, cursor), end)
        stop = min(max(stop if stop is not None else start, start), end)
        tb.complete(d.export_name, start, stop - start, pid, tid, cat="dispatch",
                    args=_dispatch_args(d))
        cursor = stop
    for d in runs.values():  # dispatches whose command buffer was not recorded
        start, stop = tm.dispatch_span(d)
        start = min(max(start if start is not None else begin, begin), end)
        stop = min(max(stop if stop is not None else start, start), end)
        tb.complete(d.export_name, start, stop - start, pid, tid, cat="dispatch",
                    args=_dispatch_args(d))
    while open_groups:  # a failed dispatch leaves groups open: close them at the end
        tb.end(open_groups.pop(), max(cursor, begin), pid, tid, cat="debug_group")


def write_hal_trace(recorder: rec.Recorder, path, *, clock: str = "wall") -> Path:
    """Writes :func:`hal_trace` to ``path`` (open it in ui.perfetto.dev)."""
    import json

    path = Path(path)
    path.write_text(json.dumps(hal_trace(recorder, clock=clock), allow_nan=False))
    return path
