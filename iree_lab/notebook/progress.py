"""ProgressBar: progress of a run or a recording that takes longer than a second.

Anything that reports ``(done, total)`` can drive it: it is a plain callable, so a progress
callback takes it directly (``callback=bar``). It is also a listener for an object with
``done``, ``submitted`` and ``current`` (the HAL's dispatch progress:
``device.progress.add_listener(bar)``: dispatches done of submitted, the one running now).
A loop can call it::

    bar = ProgressBar("recording")      # shows nothing for the first second
    display(bar)
    for i, x in enumerate(inputs):
        ...
        bar(i + 1, len(inputs))
    bar.finish()

Updates reach the browser at most every ``interval_s`` (a tight loop calling it costs a time
check, not a message), and the bar appears only once the work has run for ``show_after_s``.
"""

from __future__ import annotations

import time

import traitlets as t

from iree_lab.notebook.widgets import LabWidget

__all__ = ["ProgressBar"]


class ProgressBar(LabWidget):
    """A labelled progress bar: ``bar(done, total)`` or ``bar(progress_object)``; see the
    module docstring."""

    _entry = "progress.js"
    description = t.Unicode("").tag(sync=True)
    done = t.Int(0).tag(sync=True)
    total = t.Int(0).tag(sync=True)  # 0: unknown (an indeterminate bar)
    state = t.Unicode("running").tag(sync=True)  # running, done, failed
    visible = t.Bool(False).tag(sync=True)
    elapsed_s = t.Float(0.0).tag(sync=True)
    current = t.Unicode("").tag(sync=True)  # what runs now (a dispatch's name), if known

    def __init__(self, description: str = "", total: int = 0, *, show_after_s: float = 1.0,
                 interval_s: float = 0.1, clock=time.monotonic, **kwargs):
        super().__init__(description=description, total=int(total), **kwargs)
        self._clock = clock
        self._start = clock()
        self._last = float("-inf")
        self.show_after_s = show_after_s
        self.interval_s = interval_s
        self._pending: tuple[int, int] | None = None
        self._current = ""

    def __call__(self, done, total: int | None = None) -> None:
        """Records progress (``done``, ``total``; or one object with ``done``, ``submitted``
        and ``current``); sends it when the last update is ``interval_s`` old."""
        if not isinstance(done, int) and hasattr(done, "done"):
            source = done
            done, total = source.done, getattr(source, "submitted", None)
            self._current = getattr(source, "current", None) or ""
        self._pending = (int(done), int(self.total if total is None else total))
        now = self._clock()
        if now - self._last >= self.interval_s:
            self._flush(now)

    update = __call__

    def _flush(self, now: float) -> None:
        self._last = now
        elapsed = now - self._start
        with self.hold_sync():
            if self._pending is not None:
                self.done, self.total = self._pending
            self.current = self._current
            self.elapsed_s = round(elapsed, 2)
            if not self.visible and elapsed >= self.show_after_s:
                self.visible = True

    def finish(self, failed: bool = False) -> None:
        """The work ended: the last numbers, a full (or failed) bar; still hidden when the
        whole thing took less than ``show_after_s``."""
        self._flush(self._clock())
        if not failed and self.total > 0:
            self.done = self.total
        self.state = "failed" if failed else "done"

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.finish(failed=exc_type is not None)
