"""Source mapping: the MLIR location of a bytecode instruction and its source line.

The debug database keeps, per function, (bytecode offset, location) pairs; an
instruction takes the location of the last recorded offset at or before it
(``FunctionSourceMap.location_before``). Locations nest (call sites, names,
fused locations); the *primary* file location is the innermost callee's
``file:line:col``, which is what a reader wants to see highlighted. IREE
3.13's compiler writes one source map per function ordinal and collapses
functions without an ordinal onto slot 0, so many functions of a real module
have no map at all: every lookup here may return None.
"""

from __future__ import annotations

import bisect
import dataclasses
import linecache
import os

from iree_lab.format.debug_database import (
    CallSiteLoc,
    FileLineColLoc,
    FusedLoc,
    Location,
    NameLoc,
)


@dataclasses.dataclass(frozen=True)
class SourceLocation:
    """Where an instruction came from: IREE's location text and the primary file line."""

    text: str  # as IREE prints it in backtraces (may span lines for call sites)
    file: str | None = None
    line: int | None = None
    column: int | None = None

    @property
    def short(self) -> str:
        """``file:line:col`` of the primary location (or the full text when none)."""
        if self.file is None:
            return self.text
        return f"{self.file}:{self.line}:{self.column}"

    def source_line(self) -> str | None:
        """The text of the primary line when the file is readable (no trailing newline)."""
        if self.file is None or self.line is None:
            return None
        text = linecache.getline(self.file, self.line)
        return text.rstrip("\n") if text else None

    def __str__(self) -> str:
        return self.short


def primary_file_location(location: Location | None, depth: int = 0) -> FileLineColLoc | None:
    """The innermost callee's file location of a (possibly nested) location."""
    if location is None or depth > 64:
        return None
    if isinstance(location, FileLineColLoc):
        return location
    if isinstance(location, CallSiteLoc):
        return (primary_file_location(location.callee, depth + 1)
                or primary_file_location(location.caller, depth + 1))
    if isinstance(location, NameLoc):
        return primary_file_location(location.child, depth + 1)
    if isinstance(location, FusedLoc):
        for loc in location.locations:
            found = primary_file_location(loc, depth + 1)
            if found is not None:
                return found
    return None


class FunctionLines:
    """Source locations of every instruction of one function (built once, cached).

    ``location(pc)`` is the location in effect at ``pc``; ``line_starts(file,
    line)`` the pcs where execution enters that line (the first instruction of
    each maximal run of instructions mapped to it), which is where a source
    breakpoint stops.
    """

    def __init__(self, format_module, ordinal: int, pcs: list[int]):
        self.pcs = pcs
        self._entries: list[tuple[int, Location]] = []
        try:
            source_map = format_module.source_map(ordinal)
            if source_map is not None:
                self._entries = sorted(source_map.items(), key=lambda item: item[0])
        except Exception:  # a damaged debug database only loses source locations
            self._entries = []
        self._offsets = [offset for offset, _ in self._entries]
        self._cache: dict[int, SourceLocation | None] = {}

    @property
    def has_map(self) -> bool:
        return bool(self._entries)

    def location(self, pc: int) -> SourceLocation | None:
        hit = self._cache.get(pc, 0)
        if hit != 0:
            return hit
        i = bisect.bisect_right(self._offsets, pc)
        result = None
        if i:
            loc = self._entries[i - 1][1]
            try:
                text = loc.format()
            except Exception:
                text = "[unknown]"
            primary = primary_file_location(loc)
            if primary is not None:
                result = SourceLocation(text, primary.filename, primary.line, primary.column)
            else:
                result = SourceLocation(text)
        self._cache[pc] = result
        return result

    def line_starts(self, file: str, line: int) -> list[int]:
        """pcs of instructions where the mapped line becomes ``file:line``."""
        out = []
        previous = None
        for pc in self.pcs:
            loc = self.location(pc)
            here = (loc.file, loc.line) if loc is not None and loc.file is not None else None
            if here is not None and here[1] == line and same_file(here[0], file) and \
                    here != previous:
                out.append(pc)
            previous = here
        return out


def same_file(recorded: str, wanted: str) -> bool:
    """Whether a recorded file name matches what the user typed (path or base name)."""
    if recorded == wanted:
        return True
    if os.sep in wanted or "/" in wanted:
        try:
            return os.path.realpath(recorded) == os.path.realpath(wanted)
        except (OSError, ValueError):
            return False
    return os.path.basename(recorded) == wanted
