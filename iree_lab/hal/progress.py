"""Progress of long HAL work: dispatches submitted and done on a device.

``Device.progress`` is a :class:`DispatchProgress` that command buffers update as
they run (``submitted`` grows by a command buffer's dispatch count when it starts
executing, ``done`` after each dispatch). Listeners are called with the progress
object after every change; they decide how often to draw (``iree-lab run`` draws
on a terminal's stderr, the notebook a bar). A listener that raises
``KeyboardInterrupt`` stops the run like Ctrl-C does: the VM raises ``VMInterrupt``
and the context stays usable.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class DispatchProgress:
    """Counts of dispatches submitted and done, the current one, time since the first."""

    __slots__ = ("submitted", "done", "current", "started", "_listeners")

    def __init__(self):
        self.submitted = 0
        self.done = 0
        self.current: str | None = None  # export name of the dispatch running now
        self.started: float | None = None
        self._listeners: list[Callable[[DispatchProgress], None]] = []

    @property
    def elapsed(self) -> float:
        """Seconds since the first dispatch was submitted (0 before)."""
        return 0.0 if self.started is None else time.monotonic() - self.started

    def add_listener(self, fn: Callable[[DispatchProgress], None]) -> None:
        self._listeners.append(fn)

    def remove_listener(self, fn) -> None:
        self._listeners = [f for f in self._listeners if f is not fn]

    def reset(self) -> None:
        self.submitted = self.done = 0
        self.current = self.started = None

    def submit(self, count: int) -> None:
        if count <= 0:
            return
        if self.started is None:
            self.started = time.monotonic()
        self.submitted += count
        self._notify()

    def begin(self, name: str) -> None:
        self.current = name
        self._notify()

    def finish(self) -> None:
        self.done += 1
        self.current = None
        self._notify()

    def _notify(self) -> None:
        for fn in self._listeners:
            fn(self)


class TerminalProgress:
    """A listener drawing ``dispatches 12/40  3.2 s  name`` on one terminal line.

    Draws at most ``rate`` times a second and only after ``delay`` seconds (short
    runs print nothing); :meth:`close` clears the line.
    """

    def __init__(self, stream, *, delay: float = 1.0, rate: float = 10.0):
        self.stream = stream
        self.delay = delay
        self.interval = 1.0 / rate
        self.last = 0.0
        self.drawn = False

    def __call__(self, progress: DispatchProgress) -> None:
        now = time.monotonic()
        if progress.elapsed < self.delay or now - self.last < self.interval:
            return
        self.last = now
        name = progress.current or ""
        line = (f"\r[iree-lab] dispatches {progress.done}/{progress.submitted}  "
                f"{progress.elapsed:.1f} s  {name}")[:120]
        self.stream.write(line + "\x1b[K")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.drawn = False
