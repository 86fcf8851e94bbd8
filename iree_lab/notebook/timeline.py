"""TimelineView: fibers and HAL queue operations on one time axis (anywidget).

The lanes, items, hover details and links come from
:func:`iree_lab.views.timeline_data.timeline_data` (pure, tested without a
browser); ``widgets/timeline.js`` draws them as SVG with zoom, pan, hover and
a clock toggle. Synced state: ``clock`` (``step`` or ``wall``), ``window``
(the visible ``[start, end]`` on that clock; empty: everything) and
``selected`` (the id of the clicked item; see :attr:`selected_item`).
"""

from __future__ import annotations

import time

import traitlets as t

from iree_lab.hal.recorder import Recorder
from iree_lab.notebook.widgets import LabWidget
from iree_lab.views.timeline_data import timeline_data
from iree_lab.vm.scheduler import Scheduler, Timeline

__all__ = ["TimelineView", "clock_offset"]


def clock_offset(scheduler: Scheduler, recorder: Recorder) -> tuple[float, Timeline]:
    """(seconds to add to a recorder time to get scheduler time, the timeline).

    Both count from their object's creation. A scheduler on its default clock
    (``time.perf_counter``, the recorder's clock too) gives the exact offset
    from the two origins; with another clock, the recorder's clock is read
    right before the scheduler's (``timeline()`` reads it first), which is
    right to within microseconds unless the process is preempted in between.
    """
    origin = getattr(scheduler, "_t0", None)  # the scheduler keeps its origin private
    if getattr(scheduler, "_clock", None) is time.perf_counter and origin is not None:
        return recorder.origin_ns / 1e9 - origin, scheduler.timeline()
    before = recorder.wall_ns()
    timeline = scheduler.timeline()
    return timeline.wall - before / 1e9, timeline


class TimelineView(LabWidget):
    """Fiber lanes (running, ready, waiting, paused; completion) and HAL queue
    lanes (queue operations, their dispatches, waits for timepoints) on one axis.

    ``TimelineView(scheduler, recorder)``, ``TimelineView(scheduler)``,
    ``TimelineView(recorder)`` or ``TimelineView(timeline, recorder,
    hal_offset_s=...)`` for a timeline taken earlier. Call :meth:`refresh`
    after running more. The front-end reports ``draw_ms``.
    """

    _entry = "timeline.js"
    data = t.Dict().tag(sync=True)
    clock = t.Enum(["step", "wall"], "step").tag(sync=True)
    window = t.List(t.Float()).tag(sync=True)
    selected = t.Unicode("").tag(sync=True)
    draw_ms = t.Float(0.0).tag(sync=True)
    height = t.Int(0).tag(sync=True)  # 0: as tall as the lanes need

    def __init__(self, source=None, recorder: Recorder | None = None, *,
                 hal_offset_s: float | None = None, **kwargs):
        if isinstance(source, Recorder) and recorder is None:
            source, recorder = None, source
        if source is not None and not isinstance(source, (Scheduler, Timeline)):
            raise TypeError(f"TimelineView needs a Scheduler, a Timeline and/or a Recorder, "
                            f"not {type(source).__name__}")
        if recorder is not None and not isinstance(recorder, Recorder):
            raise TypeError(f"recorder must be a Recorder, not {type(recorder).__name__}")
        if source is None and recorder is None:
            raise TypeError("TimelineView needs a Scheduler, a Timeline and/or a Recorder")
        self.source, self.recorder, self._offset = source, recorder, hal_offset_s
        super().__init__(data=self._data(), **kwargs)

    def _data(self) -> dict:
        timeline, offset = self.source, self._offset
        if isinstance(timeline, Scheduler):
            if self.recorder is not None and offset is None:
                offset, timeline = clock_offset(timeline, self.recorder)
            else:
                timeline = timeline.timeline()
        return timeline_data(timeline, self.recorder, hal_offset_s=offset)

    def refresh(self) -> None:
        """Re-reads the scheduler and recorder (after running more)."""
        self.data = self._data()

    @t.validate("selected")
    def _valid_selected(self, proposal):
        value = proposal["value"]
        if value and not any(i["id"] == value for i in self.data.get("items", ())):
            raise t.TraitError(f"no timeline item {value!r}")
        return value

    @property
    def items(self) -> list[dict]:
        return list(self.data.get("items", ()))

    @property
    def selected_item(self) -> dict | None:
        """The clicked item (id, lane, kind, positions, title, detail), or None."""
        return next((i for i in self.items if i["id"] == self.selected), None)
