"""Status codes and the VM error type.

IREE reports failures as an ``iree_status_t``: a code from a fixed enum, a message
and a chain of annotations ("while calling import", "at module.fn+00000012").
:class:`VMError` carries the same three things plus a VM backtrace, so that a
failure seen here can be matched with what ``iree-run-module`` prints.

Inside the interpreter failures travel as :class:`VMStatus` (cheap to raise, no
backtrace yet); the invocation boundary turns them into :class:`VMError`.
"""

from __future__ import annotations

import dataclasses
import enum

from iree_lab.errors import IreeLabError


class StatusCode(enum.IntEnum):
    """``iree_status_code_t``: the codes IREE uses, with the same numbers."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16
    DEFERRED = 17
    INCOMPATIBLE = 18

    @classmethod
    def from_raw(cls, value: int) -> StatusCode:
        """Maps a raw code (as passed to vm.fail) like IREE: masked to 5 bits."""
        value &= 0x1F
        try:
            return cls(value)
        except ValueError:
            return cls.UNKNOWN


@dataclasses.dataclass(frozen=True)
class BacktraceFrame:
    """One VM stack frame of a backtrace: ``module.function+offset``."""

    module: str
    function: str
    pc: int | None = None
    # "file:line:col" from the module's debug database, when it has one.
    location: str | None = None

    def __str__(self) -> str:
        text = f"{self.module}.{self.function}"
        if self.pc is not None:
            text += f"+{self.pc:08X}"
        if self.location:
            text += f" at {self.location}"
        return text


class VMStatus(Exception):
    """A failure in flight inside the VM (internal; surfaces as :class:`VMError`).

    ``frames`` collects the backtrace innermost-first while the failure unwinds.
    """

    def __init__(self, code: StatusCode, message: str = "", annotations: list[str] | None = None):
        super().__init__(message)
        self.code = StatusCode(code)
        self.message = message
        self.annotations = annotations if annotations is not None else []
        self.frames: list[BacktraceFrame] = []
        # Set on the status a KeyboardInterrupt became: it surfaces as VMInterrupt.
        self.interrupted = False

    @classmethod
    def interrupt(cls) -> VMStatus:
        """The status a KeyboardInterrupt becomes (CANCELLED, surfacing as VMInterrupt)."""
        status = cls(StatusCode.CANCELLED, "interrupted (KeyboardInterrupt)")
        status.interrupted = True
        return status

    @classmethod
    def clone(cls, failure: VMStatus | VMError) -> VMStatus:
        """``iree_status_clone``: a fresh status with ``failure``'s code, message and
        annotations (a raised status is consumed; a VMError's backtrace stays behind)."""
        return cls(failure.code, failure.message, list(failure.annotations))

    def annotate(self, text: str) -> VMStatus:
        self.annotations.append(text)
        return self

    def status_text(self) -> str:
        """IREE's status text: ``CODE; message; annotation; ...``."""
        return _status_text(self.code, self.message, self.annotations)


def _status_text(code: StatusCode, message: str, annotations) -> str:
    parts = [code.name]
    if message:
        parts.append(message)
    parts.extend(annotations)
    return "; ".join(parts)


class VMError(IreeLabError):
    """A runtime failure of the VM: what IREE would return as a non-OK status.

    ``code`` is the :class:`StatusCode` IREE reports for the same failure,
    ``message`` its message, ``annotations`` the context IREE appends, and
    ``backtrace`` the VM frames (outermost first) active when it failed.
    """

    def __init__(
        self,
        code: StatusCode,
        message: str,
        *,
        annotations: list[str] | tuple[str, ...] = (),
        backtrace: list[BacktraceFrame] | tuple[BacktraceFrame, ...] = (),
    ):
        self.code = StatusCode(code)
        self.message = message
        self.annotations = tuple(annotations)
        self.backtrace = tuple(backtrace)
        super().__init__(self._render())

    @property
    def code_name(self) -> str:
        return self.code.name

    def status_text(self) -> str:
        return _status_text(self.code, self.message, self.annotations)

    def _render(self) -> str:
        text = self.status_text()
        if self.backtrace:
            text += "\nVM backtrace (most recent call last):\n" + "\n".join(
                f"  {frame}" for frame in self.backtrace
            )
        return text

    @classmethod
    def from_status(cls, status: VMStatus) -> VMError:
        """The error a failed status surfaces as (``VMInterrupt.from_status`` for an interrupt)."""
        return cls(
            status.code,
            status.message,
            annotations=status.annotations,
            backtrace=list(reversed(status.frames)),
        )

    @staticmethod
    def surfacing(status: VMStatus) -> VMError:
        """The error a failed invocation's status surfaces as: :class:`VMInterrupt`
        when a KeyboardInterrupt stopped it, else :class:`VMError`."""
        return (VMInterrupt if status.interrupted else VMError).from_status(status)


class VMInterrupt(VMError, KeyboardInterrupt):
    """Execution stopped by KeyboardInterrupt; the context stays usable.

    Catching ``KeyboardInterrupt`` catches it too, so Ctrl-C behaves as usual.
    """


def status(code: StatusCode, message: str = "") -> VMStatus:
    """The failure an operation raises (IREE returns it as ``iree_status_t``)."""
    return VMStatus(code, message)
