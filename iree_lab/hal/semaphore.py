"""Timeline semaphores and fences with IREE's semantics.

A semaphore holds a monotonically increasing 64-bit payload; reaching a value
means every timepoint at or below it is signaled. A failed semaphore carries
the failing status and every wait on it (at any value) fails with that status.
A fence is a set of (semaphore, value) timepoints, one per semaphore (inserting
a semaphore twice keeps the larger value), signaled when all are reached.
"""

from __future__ import annotations

from iree_lab.hal.types import status
from iree_lab.vm.ref import RefObject, RefType
from iree_lab.vm.status import StatusCode, VMStatus

# ``IREE_HAL_SEMAPHORE_MAX_VALUE``: payloads above it encode failure in IREE.
SEMAPHORE_MAX_VALUE = 2147483647 - 1


class Semaphore(RefObject):
    """``iree_hal_semaphore_t``: ``value`` and, once failed, ``failure``."""

    __slots__ = ("id", "device", "value", "failure")
    ref_type = RefType.get("hal.semaphore")

    def __init__(self, device=None, initial_value: int = 0, semaphore_id: int = -1):
        self.id = semaphore_id
        self.device = device
        self.value = int(initial_value)
        self.failure: VMStatus | None = None

    def __repr__(self) -> str:
        state = f"failed {self.failure.code.name}" if self.failure else f"value={self.value}"
        return f"<hal.semaphore #{self.id} {state}>"

    def query(self) -> int:
        """The current payload; raises the failure of a failed semaphore."""
        if self.failure is not None:
            raise VMStatus.clone(self.failure)
        return self.value

    def is_reached(self, value: int) -> bool:
        """Whether ``value`` is reached; raises the failure of a failed semaphore."""
        if self.failure is not None:
            raise VMStatus.clone(self.failure)
        return self.value >= value

    def signal(self, value: int, *, source: str = "host") -> None:
        """Advances the payload to ``value`` (which must be larger than the current one)."""
        value = int(value)
        if self.failure is not None:
            raise VMStatus.clone(self.failure)
        if value <= self.value:
            raise status(
                StatusCode.INVALID_ARGUMENT, f"semaphore already signaled past {value}"
            )
        self.value = value
        if self.device is not None:
            self.device._semaphore_changed(self, source=source)

    def fail(self, failure: VMStatus, *, source: str = "host") -> None:
        """Marks the semaphore failed; the first failure wins."""
        if self.failure is not None:
            return
        self.failure = VMStatus.clone(failure)
        if self.device is not None:
            self.device._semaphore_changed(self, source=source)


class Fence(RefObject):
    """``iree_hal_fence_t``: a list of semaphore timepoints."""

    __slots__ = ("id", "device", "timepoints")
    ref_type = RefType.get("hal.fence")

    def __init__(self, device=None, timepoints=(), fence_id: int = -1):
        self.id = fence_id
        self.device = device
        self.timepoints: list[tuple[Semaphore, int]] = []
        for semaphore, value in timepoints:
            self.insert(semaphore, value)

    def __repr__(self) -> str:
        points = ", ".join(f"#{s.id}>={v}" for s, v in self.timepoints)
        return f"<hal.fence #{self.id} [{points}]>"

    def insert(self, semaphore: Semaphore, value: int) -> None:
        """``iree_hal_fence_insert``: one timepoint per semaphore, max value wins."""
        for i, (existing, existing_value) in enumerate(self.timepoints):
            if existing is semaphore:
                self.timepoints[i] = (semaphore, max(existing_value, int(value)))
                return
        self.timepoints.append((semaphore, int(value)))

    def query(self) -> StatusCode:
        """``iree_hal_fence_query``: OK, DEFERRED, or the failure's code."""
        failure = self.failure()
        if failure is not None:
            return failure.code
        return StatusCode.OK if self.is_reached() else StatusCode.DEFERRED

    def failure(self) -> VMStatus | None:
        for semaphore, _ in self.timepoints:
            if semaphore.failure is not None:
                return VMStatus.clone(semaphore.failure)
        return None

    def is_reached(self) -> bool:
        """True when every timepoint is reached; raises if a semaphore failed."""
        for semaphore, value in self.timepoints:
            if not semaphore.is_reached(value):
                return False
        return True

    def signal(self, *, source: str = "host") -> None:
        """``iree_hal_fence_signal``: signals every timepoint (re-signaling fails)."""
        for semaphore, value in self.timepoints:
            semaphore.signal(value, source=source)

    def fail(self, failure: VMStatus, *, source: str = "host") -> None:
        for semaphore, _ in self.timepoints:
            semaphore.fail(failure, source=source)


def join_fences(fences, device=None, fence_id: int = -1) -> Fence | None:
    """``hal.fence.join``: None when no fence has a timepoint (an immediate fence)."""
    joined = Fence(device, fence_id=fence_id)
    for fence in fences:
        if fence is None:
            continue
        for semaphore, value in fence.timepoints:
            joined.insert(semaphore, value)
    return joined if joined.timepoints else None
