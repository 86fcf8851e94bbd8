"""The ``host`` module fibers.vmasm imports: native functions written as Python generators.

Each ``yield`` suspends the calling fiber (the call must be ``vm.call.yieldable``):
a bare ``yield`` defers (the fiber is ready again next round), ``yield WaitFrame``
waits until the frame resolves. ``note`` keeps the order fibers called it in, so
tests can assert the exact interleaving.
"""

from iree_lab.vm import NativeModule, export
from iree_lab.vm.scheduler import WaitFrame, WaitSource
from iree_lab.vm.status import StatusCode


class Host(NativeModule):
    name = "host"
    version = 1

    def __init__(self, pause_yields: int = 2):
        super().__init__()
        self.notes: list[tuple[int, int]] = []
        self.flags: set[int] = set()
        self.pause_yields = pause_yields

    @export("0ii_v")
    def note(self, fiber_id, value):
        self.notes.append((fiber_id, value))

    @export("0i_i")
    def pause(self, x):
        """Defers ``pause_yields`` times, then returns x + 1."""
        for _ in range(self.pause_yields):
            yield
        return x + 1

    @export("0iCiD_iI")
    def gather(self, base, values):
        """Defers once per element; returns (base + sum, count << 33)."""
        total = base
        for value in values:
            yield
            total += value
        return total, len(values) << 33

    def flag_source(self, flag: int) -> WaitSource:
        return WaitSource(f"host.flag #{flag}", 1, query=lambda: (
            StatusCode.OK if flag in self.flags else StatusCode.DEFERRED),
            current=lambda: int(flag in self.flags))

    @export("0i_i")
    def wait_flag(self, flag):
        """Waits until ``raise_flag(flag)``; returns the flag."""
        while flag not in self.flags:
            yield WaitFrame.all([self.flag_source(flag)])
        return flag

    @export("0i_v")
    def raise_flag(self, flag):
        self.flags.add(flag)

    @export("0i_i")
    def sleep(self, ms):
        """Waits ``ms`` (virtual) milliseconds; returns the wait's status code."""
        wait = WaitFrame.until(ms)
        yield wait
        return int(wait.wait_status if wait.wait_status is not None else StatusCode.OK)
