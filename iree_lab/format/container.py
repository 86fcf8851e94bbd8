"""Module containers: where the FlatBuffer and the external rodata are in a file.

Two containers exist (IREE 3.13):

* ZIP (from iree-compile): an uncompressed zip64 archive whose *first* entry
  is ``module.fb`` (the size-prefixed FlatBuffer), followed by one entry per
  external rodata segment (executables, large constants). IREE does not read
  the ZIP directory at load time: it skips the first local file header
  (30 bytes + name + extra field) and finds the FlatBuffer right after it.
* Bare (from iree-as-module): the size-prefixed FlatBuffer alone.

In both, external rodata offsets are relative to the end of the FlatBuffer
rounded up to 64 bytes (IREE_VM_ARCHIVE_SEGMENT_ALIGNMENT), measured from
the start of the file (``iree_vm_bytecode_archive_parse_header``).

Bytes are never copied: files are memory-mapped and everything is a
memoryview slice, so opening a multi-GB file touches a few pages only.
"""

from __future__ import annotations

import io
import mmap
import os
import struct

from iree_lab.errors import FormatError
from iree_lab.format._record import Record
from iree_lab.format.flatbuffer import Buffer

# IREE_VM_ARCHIVE_SEGMENT_ALIGNMENT: alignment of the rodata base after the FlatBuffer.
ARCHIVE_SEGMENT_ALIGNMENT = 64
FILE_IDENTIFIER = b"IREE"

_ZIP_LOCAL = struct.Struct("<IHHHHHIIIHH")  # 30 bytes
_ZIP_LOCAL_SIGNATURE = 0x04034B50
_ZIP_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")  # 46 bytes
_ZIP_CENTRAL_SIGNATURE = 0x02014B50
_ZIP_EOCD = struct.Struct("<IHHHHIIH")  # 22 bytes
_ZIP_EOCD_SIGNATURE = 0x06054B50
_ZIP64_LOCATOR = struct.Struct("<IIQI")  # 20 bytes
_ZIP64_LOCATOR_SIGNATURE = 0x07064B50
_ZIP64_EOCD = struct.Struct("<IQHHIIQQQQ")  # 56 bytes
_ZIP64_EOCD_SIGNATURE = 0x06064B50


class ArchiveEntry(Record):
    """One file of a ZIP container (from its central directory).

    ``data_offset`` is the file offset of the entry's first byte;
    ``compression_method`` 0 is stored (the only kind IREE writes).
    """

    __slots__ = ("name", "data_offset", "size", "compression_method")


def map_source(source) -> tuple[memoryview, object]:
    """Returns (bytes, keepalive) for a path, bytes-like object or binary file.

    Files are memory-mapped read-only; the keepalive (the mmap) must outlive
    every memoryview taken from the bytes.
    """
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            return _map_file(f, os.fspath(source))
    if isinstance(source, (bytes, bytearray, memoryview, mmap.mmap)):
        view = memoryview(source)
        if view.ndim != 1 or view.format not in ("B", "b", "c"):
            view = view.cast("B")
        elif view.format != "B":
            view = view.cast("B")
        return view, source
    if hasattr(source, "read"):
        try:
            source.fileno()
        except (OSError, AttributeError, io.UnsupportedOperation):
            data = source.read()
            if not isinstance(data, (bytes, bytearray)):
                raise TypeError("iree_lab.open needs a binary file") from None
            return memoryview(data), data
        return _map_file(source, getattr(source, "name", "<file>"))
    raise TypeError(
        f"iree_lab.open takes a path, bytes-like object or binary file, not {type(source).__name__}"
    )


def _map_file(f, name) -> tuple[memoryview, object]:
    size = os.fstat(f.fileno()).st_size
    if size == 0:
        raise FormatError(f"{name!s} is empty, not a VM module", offset=0)
    mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    return memoryview(mapped), mapped


class Container:
    """Locates the FlatBuffer and rodata base of a module (ZIP or bare)."""

    __slots__ = ("data", "keepalive", "kind", "flatbuffer", "flatbuffer_offset",
                 "flatbuffer_size", "rodata_offset", "_entries")

    def __init__(self, data: memoryview, keepalive=None):
        self.data = data
        self.keepalive = keepalive
        self._entries = None
        size = len(data)
        start = 0
        self.kind = "flatbuffer"
        # Like IREE, trust only the first local header's lengths; its name and
        # compression method are reported only when no module follows it.
        zip_problem = None
        if size >= _ZIP_LOCAL.size and _U32(data, 0) == _ZIP_LOCAL_SIGNATURE:
            self.kind = "zip"
            fields = _ZIP_LOCAL.unpack_from(data, 0)
            method, name_length, extra_length = fields[3], fields[9], fields[10]
            start = _ZIP_LOCAL.size + name_length + extra_length
            if start > size:
                raise FormatError(
                    "ZIP local file header runs past the end of the file (a ZIP but too short "
                    "to contain a module)", offset=0, where="ZIP local file header")
            name = bytes(data[_ZIP_LOCAL.size:_ZIP_LOCAL.size + name_length])
            if name != b"module.fb":
                zip_problem = FormatError(
                    f"ZIP archive's first entry is {name.decode('utf-8', 'replace')!r}, not "
                    "'module.fb': not an IREE module archive", offset=_ZIP_LOCAL.size,
                    where="ZIP local file header")
            elif method != 0:
                zip_problem = FormatError(
                    f"module.fb is compressed (ZIP method {method}); IREE modules are stored "
                    "uncompressed", offset=8, where="ZIP local file header")
        try:
            self._locate_flatbuffer(data, start)
        except FormatError:
            if zip_problem is not None:
                raise zip_problem from None
            raise

    def _locate_flatbuffer(self, data: memoryview, start: int) -> None:
        size = len(data)
        if size - start < 16:
            raise FormatError(
                f"FlatBuffer data is not present or less than 16 bytes ({size - start} total)",
                offset=start, where="module.fb")
        length = _U32(data, start)
        if length > size - start - 4:
            raise FormatError(
                f"FlatBuffer length prefix out of bounds (prefix is {length} but only "
                f"{size - start - 4} available)", offset=start, where="module.fb")
        self.flatbuffer_offset = start + 4
        self.flatbuffer_size = length
        self.flatbuffer = Buffer(data[start + 4:start + 4 + length], base=start + 4)
        if length < 8 or bytes(data[start + 8:start + 12]) != FILE_IDENTIFIER:
            found = bytes(data[start + 8:start + 12])
            raise FormatError(
                f"FlatBuffer verification failed: identifier mismatch ({found!r}, not "
                f"{FILE_IDENTIFIER!r}: not a VM bytecode module)", offset=start + 8,
                where="module.fb")
        end = start + 4 + length
        self.rodata_offset = -(-end // ARCHIVE_SEGMENT_ALIGNMENT) * ARCHIVE_SEGMENT_ALIGNMENT

    @property
    def file_size(self) -> int:
        return len(self.data)

    def external_range(self, offset: int, length: int, where: str) -> tuple[int, int]:
        """File [start, end) of an external rodata segment, checked against the file."""
        start = self.rodata_offset + offset
        if offset < 0 or length < 0 or start + length > len(self.data):
            raise FormatError(
                f"external rodata [{offset}, {offset + length}) relative to the rodata base "
                f"{self.rodata_offset} lies outside the {len(self.data)}-byte file",
                offset=self.rodata_offset, where=where)
        return start, start + length

    @property
    def entries(self) -> tuple[ArchiveEntry, ...]:
        """ZIP entries from the central directory (empty for bare FlatBuffers)."""
        if self._entries is None:
            self._entries = _read_central_directory(self.data) if self.kind == "zip" else ()
        return self._entries


def _U32(data, pos: int) -> int:
    return struct.unpack_from("<I", data, pos)[0]


def _zip_error(what: str, offset: int | None) -> FormatError:
    return FormatError(what, offset=offset, where="ZIP central directory")


def _read_central_directory(data: memoryview) -> tuple[ArchiveEntry, ...]:
    size = len(data)
    # The end-of-central-directory record sits in the last 22 + 65535 bytes.
    lo = max(0, size - _ZIP_EOCD.size - 0xFFFF)
    tail = bytes(data[lo:size])
    eocd = tail.rfind(b"PK\x05\x06")
    if eocd < 0 or eocd + _ZIP_EOCD.size > len(tail):
        raise _zip_error("no end of central directory record", None)
    eocd += lo
    (_, _, _, _, count, cd_size, cd_offset, _) = _ZIP_EOCD.unpack_from(data, eocd)
    locator = eocd - _ZIP64_LOCATOR.size
    if locator >= 0 and _U32(data, locator) == _ZIP64_LOCATOR_SIGNATURE:
        zip64_eocd = _ZIP64_LOCATOR.unpack_from(data, locator)[2]
        if zip64_eocd + _ZIP64_EOCD.size > size or _U32(data, zip64_eocd) != _ZIP64_EOCD_SIGNATURE:
            raise _zip_error("bad zip64 end of central directory record", locator)
        fields = _ZIP64_EOCD.unpack_from(data, zip64_eocd)
        count, cd_size, cd_offset = fields[7], fields[8], fields[9]
    if cd_offset + cd_size > size or count * _ZIP_CENTRAL.size > cd_size:
        raise _zip_error(f"central directory [{cd_offset}, {cd_offset + cd_size}) with "
                         f"{count} entries does not fit the {size}-byte file", eocd)
    entries = []
    pos = cd_offset
    end = cd_offset + cd_size
    for _ in range(count):
        if pos + _ZIP_CENTRAL.size > end:
            raise _zip_error("central directory entry runs past the directory", pos)
        f = _ZIP_CENTRAL.unpack_from(data, pos)
        if f[0] != _ZIP_CENTRAL_SIGNATURE:
            raise _zip_error("bad central directory entry signature", pos)
        method, comp_size, uncomp_size = f[4], f[8], f[9]
        name_len, extra_len, comment_len, local_offset = f[10], f[11], f[12], f[16]
        rec_end = pos + _ZIP_CENTRAL.size + name_len + extra_len + comment_len
        if rec_end > end:
            raise _zip_error("central directory entry runs past the directory", pos)
        name_start = pos + _ZIP_CENTRAL.size
        name = bytes(data[name_start:name_start + name_len]).decode("utf-8", "replace")
        extra = bytes(data[name_start + name_len:name_start + name_len + extra_len])
        uncomp_size, comp_size, local_offset = _apply_zip64(
            extra, uncomp_size, comp_size, local_offset, pos)
        if local_offset + _ZIP_LOCAL.size > size or _U32(data, local_offset) != _ZIP_LOCAL_SIGNATURE:
            raise _zip_error(f"entry {name!r} has no local header at {local_offset}", pos)
        local = _ZIP_LOCAL.unpack_from(data, local_offset)
        data_offset = local_offset + _ZIP_LOCAL.size + local[9] + local[10]
        if data_offset + comp_size > size:
            raise _zip_error(f"entry {name!r} data runs past the end of the file", local_offset)
        entries.append(ArchiveEntry(name, data_offset, comp_size, method))
        pos = rec_end
    return tuple(entries)


def _apply_zip64(extra: bytes, uncomp: int, comp: int, local: int, pos: int):
    """Replaces 0xFFFFFFFF sizes/offsets by the values of the zip64 extra field."""
    i = 0
    while i + 4 <= len(extra):
        header_id, length = struct.unpack_from("<HH", extra, i)
        body = extra[i + 4:i + 4 + length]
        if header_id == 0x0001:
            values = [v[0] for v in struct.iter_unpack("<Q", body[: len(body) // 8 * 8])]
            if uncomp == 0xFFFFFFFF and values:
                uncomp = values.pop(0)
            if comp == 0xFFFFFFFF and values:
                comp = values.pop(0)
            if local == 0xFFFFFFFF and values:
                local = values.pop(0)
        i += 4 + length
    if 0xFFFFFFFF in (uncomp, comp, local):
        raise _zip_error("zip64 sizes missing from the extra field", pos)
    return uncomp, comp, local
