"""The module's debug database: source maps (bytecode offset -> location).

IREE's schema says source maps are 1:1 with function descriptors, but
iree-compile 3.13 writes fewer of them (often only one) in an unrelated
order, so they are keyed by function *name* here. IREE's own runtime indexes
them by ordinal and therefore sometimes reports the wrong function; see
:attr:`iree_lab.format.Function.iree_name` for what IREE shows.

Locations refer to each other by index. They are resolved lazily, memoized
(a shared sub-location is one object, so hostile DAGs stay linear) and
checked for cycles and excessive nesting, which raise FormatError.
"""

from __future__ import annotations

import abc
import bisect

from iree_lab.errors import FormatError
from iree_lab.format._record import Record
from iree_lab.format.flatbuffer import Table

# LocationTypeDef union tags (see schemas/bytecode_module_def.fbs).
_CALL_SITE, _FILE_LINE_COL, _FUSED, _NAME = 1, 2, 3, 4
_TAG_TABLES = {
    _CALL_SITE: "iree.vm.CallSiteLocDef",
    _FILE_LINE_COL: "iree.vm.FileLineColLocDef",
    _FUSED: "iree.vm.FusedLocDef",
    _NAME: "iree.vm.NameLocDef",
}
# Deeper nesting than this is treated as malformed (MLIR inlining stacks are far shallower).
MAX_LOCATION_DEPTH = 200


class Location(Record, abc.ABC):
    """Base class of resolved source locations (MLIR location attributes)."""

    __slots__ = ()

    @abc.abstractmethod
    def format(self) -> str:
        """The text IREE prints for this location in stack traces."""

    def __str__(self):
        return self.format()


class UnknownLoc(Location):
    """A NONE entry of the location table (IREE prints ``[unknown]``)."""

    __slots__ = ()

    def format(self) -> str:
        return "[unknown]"


class FileLineColLoc(Location):
    __slots__ = ("filename", "line", "column")

    def format(self) -> str:
        return f"{self.filename}:{self.line}:{self.column}"


class NameLoc(Location):
    __slots__ = ("name", "child")  # child: Location | None

    def format(self) -> str:
        text = f'"{self.name}"'
        return text if self.child is None else f"{text}({self.child.format()})"


class CallSiteLoc(Location):
    __slots__ = ("callee", "caller")

    def format(self) -> str:
        # Callee first, like a stack trace (IREE's order, the reverse of MLIR's).
        return f"{self.callee.format()}\n      at {self.caller.format()}"


class FusedLoc(Location):
    __slots__ = ("metadata", "locations")  # str | None, tuple[Location, ...]

    def format(self) -> str:
        head = "" if self.metadata is None else f"<{self.metadata}>"
        body = ",\n    ".join(loc.format() for loc in self.locations)
        return f"{head}[\n    {body}\n  ]" if self.locations else f"{head}[\n\n  ]"


class FunctionSourceMap:
    """Bytecode offsets (relative to the function start) of one function -> locations.

    ``entries``: (bytecode_offset, location index) pairs in stored order,
    read on first use (a module can have thousands of source maps).
    """

    __slots__ = ("local_name", "database", "_table", "_entries")

    def __init__(self, local_name: str | None, table: Table, database: DebugDatabase):
        self.local_name = local_name
        self.database = database
        self._table = table
        self._entries = None

    @property
    def entries(self) -> tuple[tuple[int, int], ...]:
        if self._entries is None:
            locations = self._table.vector("locations")
            self._entries = locations.unpack_all("ii") if locations is not None else ()
        return self._entries

    def __repr__(self):
        return f"<FunctionSourceMap {self.local_name!r}: {len(self.entries)} locations>"

    def location_at(self, bytecode_offset: int) -> Location | None:
        """The location recorded for the instruction at exactly this offset (IREE's lookup)."""
        for offset, index in self.entries:
            if offset == bytecode_offset:
                return self.database.location(index)
        return None

    def location_before(self, bytecode_offset: int) -> Location | None:
        """The location of the last recorded offset <= bytecode_offset (for any pc)."""
        offsets = [offset for offset, _ in self.entries]
        i = bisect.bisect_right(offsets, bytecode_offset)
        return self.database.location(self.entries[i - 1][1]) if i else None

    def items(self):
        """(bytecode_offset, Location) pairs."""
        for offset, index in self.entries:
            yield offset, self.database.location(index)


class DebugDatabase:
    """Lazy view of ``DebugDatabaseDef``."""

    def __init__(self, table: Table):
        self._table = table
        self._types = table.vector("location_table_type")
        self._values = table.vector("location_table")
        self._cache: dict[int, Location] = {}
        self._source_maps: tuple[FunctionSourceMap, ...] | None = None

    @property
    def location_count(self) -> int:
        """Entries of the location table (what iree-dump-module reports as Locations)."""
        return 0 if self._values is None else len(self._values)

    def location(self, index: int) -> Location:
        """Resolves location table entry ``index`` (FormatError if out of range or cyclic)."""
        cached = self._cache.get(index)
        if cached is not None:
            return cached
        return self._resolve(index, set(), 0)

    @property
    def locations(self) -> tuple[Location, ...]:
        return tuple(self.location(i) for i in range(self.location_count))

    def _error(self, what: str, index: int) -> FormatError:
        return self._table.buf.error(what, self._table.pos,
                                     (self._table.where, "debug_database/location_table", index))

    def _resolve(self, index: int, active: set[int], depth: int) -> Location:
        cached = self._cache.get(index)
        if cached is not None:
            return cached
        if not 0 <= index < self.location_count:
            raise self._error(f"location index {index} is out of range "
                              f"(table has {self.location_count})", index)
        if index in active:
            raise self._error(f"location {index} refers to itself (cycle)", index)
        if depth > MAX_LOCATION_DEPTH:
            raise self._error(f"locations nest deeper than {MAX_LOCATION_DEPTH}", index)
        types = self._types
        tag = types[index] if types is not None and index < len(types) else 0
        if tag == 0:
            # flatcc rejects a NONE element that still points at a table; so do we.
            if self._values.raw_offset(index) != 0:
                raise self._error("union element present with type NONE", index)
            loc: Location = UnknownLoc()
            self._cache[index] = loc
            return loc
        if tag not in _TAG_TABLES:
            raise self._error(f"unknown location type {tag}", index)
        t = self._values.table_at(index, _TAG_TABLES[tag])
        active.add(index)
        if tag == _FILE_LINE_COL:
            loc = FileLineColLoc(t.string("filename") or "", t.scalar("line"), t.scalar("column"))
        elif tag == _NAME:
            child = (self._resolve(t.scalar("child_location"), active, depth + 1)
                     if t.has("child_location") else None)
            loc = NameLoc(t.string("name") or "", child)
        elif tag == _CALL_SITE:
            loc = CallSiteLoc(self._resolve(t.scalar("callee"), active, depth + 1),
                              self._resolve(t.scalar("caller"), active, depth + 1))
        else:
            children = t.vector("locations") or ()
            loc = FusedLoc(t.string("metadata"),
                           tuple(self._resolve(i, active, depth + 1) for i in children))
        active.discard(index)
        self._cache[index] = loc
        return loc

    @property
    def source_maps(self) -> tuple[FunctionSourceMap, ...]:
        """All function source maps in stored order."""
        if self._source_maps is None:
            maps = []
            functions = self._table.vector("functions")
            for t in functions or ():
                maps.append(FunctionSourceMap(t.string("local_name"), t, self))
            self._source_maps = tuple(maps)
        return self._source_maps

    def source_map(self, name: str) -> FunctionSourceMap | None:
        """The source map of the function called ``name`` (first one if repeated)."""
        for source_map in self.source_maps:
            if source_map.local_name == name:
                return source_map
        return None

    def __repr__(self):
        names = ", ".join(str(m.local_name) for m in self.source_maps)
        return f"<DebugDatabase: {self.location_count} locations, source maps for [{names}]>"
