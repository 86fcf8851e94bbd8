"""The object model shared by every executable container reader.

An :class:`Executable` is what one ``hal.executable.create`` call receives: a
blob in one of the HAL executable formats. Whatever the format, a reader fills
the same fields (exports with their dispatch metadata, the code objects that
hold the machine or shader code, embedded source files) so that the layers
above can show any executable the same way. Readers never raise on damaged
input: they record a :class:`Note` and return what they could read.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True, slots=True)
class Note:
    """Something that could not be read (or looks wrong), with where it was found.

    ``offset`` is a byte offset in the executable blob (not the file), when known.
    """

    what: str
    where: str | None = None
    offset: int | None = None

    def __str__(self) -> str:
        parts = [self.what]
        if self.where:
            parts.append(f"in {self.where}")
        if self.offset is not None:
            parts.append(f"at blob offset {self.offset} (0x{self.offset:X})")
        return " ".join(parts)


@dataclasses.dataclass(frozen=True, slots=True)
class SourceLocation:
    """A file/line location; ``stage`` names the compilation stage (debug level 3)."""

    path: str
    line: int
    stage: str | None = None

    def __str__(self) -> str:
        text = f"{self.path}:{self.line}"
        return f"{self.stage}: {text}" if self.stage else text


@dataclasses.dataclass(frozen=True, slots=True)
class SourceFile:
    """A source file embedded in the executable (for example a dispatch's MLIR)."""

    path: str
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


@dataclasses.dataclass(slots=True)
class CodeObject:
    """One unit of code inside an executable: a shader/kernel module or library.

    ``kind`` is one of ``spirv``, ``ptx``, ``hsaco``, ``msl``, ``metallib``,
    ``wgsl``, ``elf``, ``vmfb``, ``unknown``. ``offset`` is where ``data``
    starts in the executable blob.
    """

    ordinal: int
    kind: str
    data: bytes
    offset: int | None = None
    # Extra facts about the code object (language version, source map, ...).
    attributes: dict = dataclasses.field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def is_text(self) -> bool:
        return self.kind in ("ptx", "msl", "wgsl")

    @property
    def text(self) -> str | None:
        """The source text of PTX, MSL and WGSL code objects (None for binaries)."""
        if not self.is_text:
            return None
        return self.data.decode("utf-8", "replace")


@dataclasses.dataclass(slots=True)
class ExecutableExport:
    """One dispatch function of an executable, in executable ordinal order.

    ``name`` is the name host code looks up (``hal.executable.lookup.function``);
    ``symbol`` is the entry point / kernel / function symbol inside the code,
    which can differ (``.kd`` suffixes, MSL-rewritten names). Fields a format
    does not carry are None.
    """

    ordinal: int
    name: str | None
    symbol: str | None = None
    code_ordinal: int | None = None
    workgroup_size: tuple[int, int, int] | None = None
    binding_count: int | None = None
    # Per binding, the set flag names (e.g. ("READ_ONLY", "INDIRECT")).
    binding_flags: list[tuple[str, ...]] | None = None
    constant_count: int | None = None
    subgroup_size: int | None = None
    # Workgroup-local (shared/threadgroup) memory in bytes, when declared.
    local_memory_size: int | None = None
    location: SourceLocation | None = None
    stage_locations: list[SourceLocation] = dataclasses.field(default_factory=list)
    # Format-specific facts (pipeline layout, register counts, code address, ...).
    attributes: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(slots=True)
class Executable:
    """A parsed executable blob.

    ``format`` is the format string the module passes to
    ``hal.executable.create`` (when known); ``container`` is what the bytes
    turned out to be: ``flatbuffer`` (with ``identifier`` such as ``VKE1``),
    ``elf``, ``vmfb`` or ``unknown``.
    """

    data: bytes
    format: str | None
    container: str
    identifier: str | None = None
    # Target named by the container (AMDGPU ISA, ELF machine, ...).
    target: str | None = None
    exports: list[ExecutableExport] = dataclasses.field(default_factory=list)
    code_objects: list[CodeObject] = dataclasses.field(default_factory=list)
    source_files: list[SourceFile] = dataclasses.field(default_factory=list)
    notes: list[Note] = dataclasses.field(default_factory=list)
    attributes: dict = dataclasses.field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def is_damaged(self) -> bool:
        return bool(self.notes)

    def export(self, key: int | str) -> ExecutableExport:
        """The export with ordinal ``key`` or with ``key`` as its name or symbol."""
        for e in self.exports:
            if key == e.ordinal if isinstance(key, int) else key in (e.name, e.symbol):
                return e
        raise KeyError(key)

    def code_object_for(self, export: ExecutableExport) -> CodeObject | None:
        ordinal = export.code_ordinal
        if ordinal is None:
            return self.code_objects[0] if len(self.code_objects) == 1 else None
        for code in self.code_objects:
            if code.ordinal == ordinal:
                return code
        return None
