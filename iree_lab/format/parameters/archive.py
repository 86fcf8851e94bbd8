"""Parameter files and their index: what every format parser produces.

IREE reads parameter files into an index of entries (``runtime/src/iree/io/
parameter_index.c``): each entry has a key, a length and either a byte range of
the file (FILE storage) or a repeating pattern (SPLAT storage). A scope holds
one index built from any number of files; a key lookup returns the first entry
added with that key. :class:`ParameterFile` maps the file read-only, so
opening a multi-GB archive costs only the header pages a parser touches and a
load reads only the requested range.
"""

from __future__ import annotations

import dataclasses
import mmap
import os
from pathlib import Path

from iree_lab.errors import FormatError

# ``iree_io_parse_file_index`` picks the parser by extension (case-insensitive).
FORMATS = ("irpa", "gguf", "safetensors")
# Splat entries are virtual: reading one materialises the bytes, up to this many at once.
MAX_SPLAT_READ = 1 << 30


class ParameterFormatError(FormatError):
    """A parameter file is malformed, truncated or refers outside itself.

    ``code`` is the name of the ``iree_status_code_t`` IREE reports for the
    same defect (``INVALID_ARGUMENT``, ``OUT_OF_RANGE``, ``UNIMPLEMENTED``,
    ...), ``path`` the file and ``key`` the parameter, when known.
    """

    def __init__(self, what: str, *, code: str = "INVALID_ARGUMENT", path: str | None = None,
                 key: str | None = None, offset: int | None = None, where: str | None = None):
        self.code = code
        self.path = path
        self.key = key
        if where is None:
            parts = []
            if path is not None:
                parts.append(f"parameter file '{path}'")
            if key is not None:
                parts.append(f"entry `{key}`")
            where = ", ".join(parts) or None
        super().__init__(what, offset=offset, where=where)

    def status_text(self) -> str:
        """``CODE; message`` like an ``iree_status_t`` printed by an IREE tool."""
        return f"{self.code}; {self}"


@dataclasses.dataclass(eq=False, slots=True)
class ParameterEntry:
    """``iree_io_parameter_index_entry_t`` plus what the file format says about it.

    ``storage`` is ``"file"`` (bytes ``[offset, offset + length)`` of ``file``)
    or ``"splat"`` (``pattern`` repeated over ``length`` bytes). ``dtype`` and
    ``shape`` are filled where the format carries them (safetensors, gguf);
    ``metadata`` is the irpa entry's metadata blob. ``header_offset`` is where
    the entry is described in the file (for error messages and views).
    """

    key: str
    length: int
    storage: str
    file: ParameterFile | None = None
    offset: int = 0
    pattern: bytes = b""
    metadata: bytes = b""
    dtype: str | None = None
    shape: tuple[int, ...] | None = None
    header_offset: int | None = None
    alignment: int = 0

    @property
    def end(self) -> int:
        return self.offset + self.length

    def read(self, offset: int = 0, length: int | None = None) -> memoryview:
        """Bytes ``[offset, offset + length)`` of the parameter (a view into the mapping
        for FILE storage; materialised for SPLAT)."""
        if length is None:
            length = self.length - offset
        if offset < 0 or length < 0 or offset + length > self.length:
            raise ParameterFormatError(
                f"parameter `{self.key}` range out of bounds (offset={offset}, "
                f"length={length}, size={self.length})", code="OUT_OF_RANGE",
                path=self.file.path if self.file is not None else None, key=self.key)
        if self.storage == "splat":
            if length > MAX_SPLAT_READ:
                raise ParameterFormatError(
                    f"splat parameter `{self.key}`: {length} bytes requested at once (at most "
                    f"{MAX_SPLAT_READ} are materialised; read it in pieces)",
                    code="RESOURCE_EXHAUSTED",
                    path=self.file.path if self.file is not None else None, key=self.key)
            return memoryview(splat_bytes(self.pattern, offset, length))
        return self.file.view(self.offset + offset, length)

    def __repr__(self) -> str:
        where = (f"splat {self.pattern.hex()}" if self.storage == "splat"
                 else f"[{self.offset}, {self.end})")
        return f"<ParameterEntry `{self.key}` {self.length} bytes {where}>"


def splat_bytes(pattern: bytes, offset: int, length: int) -> bytes:
    """``length`` bytes of ``pattern`` repeated, starting ``offset`` bytes into it."""
    if not pattern or length <= 0:
        return b"\0" * max(length, 0)
    start = offset % len(pattern)
    reps = (start + length + len(pattern) - 1) // len(pattern)
    return (pattern * reps)[start:start + length]


class ParameterFile:
    """One parameter file (path or bytes), mapped read-only and indexed lazily.

    ``entries`` parses the file on first access with the parser its
    ``format`` names (``irpa``, ``safetensors``, ``gguf``); a malformed file
    raises :class:`ParameterFormatError`.
    """

    def __init__(self, source, *, format: str | None = None,  # noqa: A002 - IREE's word
                 path: str | None = None):
        self._mmap = None
        self._file = None
        if isinstance(source, str | os.PathLike):
            self.path = str(source) if path is None else path
            self._file = open(source, "rb")  # noqa: SIM115 - lives as long as the mapping
            size = os.fstat(self._file.fileno()).st_size
            if size:
                self._mmap = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
                self._data = memoryview(self._mmap)
            else:
                self._data = memoryview(b"")
        else:
            self.path = path or "<memory>"
            self._data = memoryview(source).cast("B")
        self.size = self._data.nbytes
        self.format = (format or format_of(self.path)).lower()
        if self.format not in FORMATS:
            raise ParameterFormatError(
                f"unsupported file format `{self.format}`; ensure the extension matches one "
                "of the supported formats: [.irpa, .gguf, .safetensors]",
                code="UNIMPLEMENTED", path=self.path)
        self._entries: list[ParameterEntry] | None = None

    @property
    def data(self) -> memoryview:
        """The whole file as a read-only byte view (pages load as they are touched)."""
        return self._data

    def view(self, offset: int, length: int) -> memoryview:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise ParameterFormatError(
                f"file range out of bounds (offset={offset}, length={length}, "
                f"file_size={self.size})", code="OUT_OF_RANGE", path=self.path, offset=offset)
        return self._data[offset:offset + length]

    @property
    def entries(self) -> list[ParameterEntry]:
        if self._entries is None:
            self._entries = _parse(self)
        return self._entries

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self):
        return iter(self.entries)

    def __getitem__(self, key: str) -> ParameterEntry:
        for entry in self.entries:
            if entry.key == key:
                return entry
        raise KeyError(key)

    @property
    def total_bytes(self) -> int:
        return sum(e.length for e in self.entries)

    def close(self) -> None:
        """Drops the mapping (entry views taken earlier must be released first)."""
        self._data.release()
        if self._mmap is not None:
            try:
                self._mmap.close()
            except BufferError:
                pass  # a view is still exported; the mapping goes with the last one
        if self._file is not None:
            self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        count = len(self._entries) if self._entries is not None else "?"
        return f"<ParameterFile {self.path!r} {self.format} {self.size} bytes, {count} entries>"


def format_of(path: str) -> str:
    """The format name ``iree_io_parse_file_index`` would pick for ``path``."""
    name = os.path.basename(path)
    stem, dot, ext = name.rpartition(".")
    return (ext if dot else name).lower()


def _parse(file: ParameterFile) -> list[ParameterEntry]:
    if file.format == "irpa":
        from iree_lab.format.parameters.irpa import parse_irpa

        return parse_irpa(file)
    if file.format == "safetensors":
        from iree_lab.format.parameters.safetensors import parse_safetensors

        return parse_safetensors(file)
    from iree_lab.format.parameters.gguf import parse_gguf

    return parse_gguf(file)


class ParameterIndex:
    """``iree_io_parameter_index_t``: the entries of one scope, from any number of files."""

    def __init__(self, scope: str = "", files=()):
        self.scope = scope
        self.files: list[ParameterFile] = []
        self.entries: list[ParameterEntry] = []
        self._by_key: dict[str, ParameterEntry] = {}
        for f in files:
            self.add_file(f)

    def add_file(self, file: ParameterFile) -> None:
        self.files.append(file)
        for entry in file.entries:
            self.entries.append(entry)
            self._by_key.setdefault(entry.key, entry)  # first added wins, as in IREE

    def lookup(self, key: str) -> ParameterEntry:
        """The first entry with ``key``; ParameterFormatError NOT_FOUND like IREE."""
        entry = self._by_key.get(key)
        if entry is None:
            scope = f" (scope `{self.scope}`)" if self.scope else ""
            files = ", ".join(f"'{f.path}'" for f in self.files) or "no files"
            raise ParameterFormatError(
                f"no parameter found in index with key '{key}'{scope}; indexed: {files}",
                code="NOT_FOUND", key=key, where="")
        return entry

    @property
    def total_bytes(self) -> int:
        return sum(e.length for e in self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self):
        return iter(self.entries)

    def __repr__(self) -> str:
        return f"<ParameterIndex scope={self.scope!r} {len(self.entries)} entries>"


def parse_parameters_flag(flag: str) -> tuple[str, str]:
    """``--parameters=[scope=]FILE`` split at the first ``=`` (scope may be empty)."""
    scope, sep, path = flag.partition("=")
    return (scope, path) if sep else ("", flag)


class ScopeMap:
    """``iree_io_scope_map_t``: one :class:`ParameterIndex` per scope, in first-use order."""

    def __init__(self):
        self.indices: dict[str, ParameterIndex] = {}

    def lookup(self, scope: str) -> ParameterIndex:
        index = self.indices.get(scope)
        if index is None:
            index = self.indices[scope] = ParameterIndex(scope)
        return index

    def add_file(self, scope: str, file: ParameterFile | str | Path) -> ParameterFile:
        if not isinstance(file, ParameterFile):
            file = open_parameter_file(file)
        self.lookup(scope).add_file(file)
        return file

    @classmethod
    def from_flags(cls, flags) -> ScopeMap:
        """Indices for ``--parameters=`` values, in order (raises ParameterFormatError)."""
        scope_map = cls()
        for flag in flags:
            scope, path = parse_parameters_flag(flag)
            scope_map.add_file(scope, path)
        return scope_map

    def __iter__(self):
        return iter(self.indices.values())

    def __len__(self) -> int:
        return len(self.indices)


def open_parameter_file(source, *, format: str | None = None) -> ParameterFile:  # noqa: A002
    """Opens and indexes a parameter file; ParameterFormatError names what is wrong.

    A missing file raises ParameterFormatError NOT_FOUND like IREE's
    ``iree_io_file_handle_open``.
    """
    try:
        file = ParameterFile(source, format=format)
    except FileNotFoundError as e:
        raise ParameterFormatError(f"failed to open file '{source}'", code="NOT_FOUND",
                                   path=str(source), where="") from e
    except IsADirectoryError as e:
        raise ParameterFormatError(f"failed to open file '{source}': is a directory",
                                   code="INVALID_ARGUMENT", path=str(source), where="") from e
    except PermissionError as e:
        raise ParameterFormatError(f"failed to open file '{source}': permission denied",
                                   code="PERMISSION_DENIED", path=str(source), where="") from e
    file.entries  # noqa: B018 - index now so that bad input fails here, like IREE
    return file
