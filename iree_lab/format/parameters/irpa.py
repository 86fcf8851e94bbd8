"""IREE parameter archives (``.irpa``): ``runtime/src/iree/schemas/parameter_archive.h``.

A file holds one or more archive headers linked by ``next_header_offset``; each
v0 header names an entry table, a metadata segment (names, metadata blobs) and
a storage segment (parameter bytes), all relative to the header. Entries are
SKIP, SPLAT, DATA or EXTERNAL; like IREE's parser
(``io/formats/irpa/irpa_parser.c``) EXTERNAL entries are rejected
(UNIMPLEMENTED). Every range is checked against the file before it is used.
"""

from __future__ import annotations

import struct

from iree_lab.format.parameters.archive import ParameterEntry, ParameterFile, ParameterFormatError

MAGIC = 0x41505249  # "IRPA"
ENTRY_ALIGNMENT = 16
HEADER_ALIGNMENT = 16
ENTRY_TYPES = {0: "SKIP", 1: "SPLAT", 2: "DATA", 3: "EXTERNAL"}

# iree_io_parameter_archive_header_prefix_t: magic, major, minor, header_size,
# next_header_offset, flags.
PREFIX = struct.Struct("<IHHQQQ")
# iree_io_parameter_archive_header_v0_t after the prefix: entry_count, then the
# entry, metadata and storage segments as (offset, length).
HEADER_V0 = struct.Struct("<IHHQQQ" + "Q" + "QQ" * 3)
# iree_io_parameter_archive_entry_header_t: entry_size, type, flags, name ref,
# metadata ref, minimum_alignment (packed: the u32 type is not padded).
ENTRY_HEADER = struct.Struct("<QIQQQQQQ")
SPLAT_TAIL = struct.Struct("<Q16sB")  # length, pattern[16], pattern_length
DATA_TAIL = struct.Struct("<QQ")  # storage offset, length
SPLAT_ENTRY_SIZE = ENTRY_HEADER.size + SPLAT_TAIL.size
DATA_ENTRY_SIZE = ENTRY_HEADER.size + DATA_TAIL.size
MAX_CHAINED_HEADERS = 1 << 16


def parse_irpa(file: ParameterFile) -> list[ParameterEntry]:
    """The entries of every archive in ``file`` (raises ParameterFormatError)."""
    entries: list[ParameterEntry] = []
    base = 0
    seen = set()
    while True:
        if base in seen or len(seen) >= MAX_CHAINED_HEADERS:
            raise ParameterFormatError("archive header chain loops back on itself",
                                       code="INVALID_ARGUMENT", path=file.path, offset=base)
        seen.add(base)
        next_offset = _parse_archive(file, base, entries)
        if next_offset == 0:
            return entries
        base += next_offset


def _fail(file, what, code, offset=None, key=None):
    return ParameterFormatError(what, code=code, path=file.path, offset=offset, key=key)


def _parse_archive(file: ParameterFile, base: int, entries: list[ParameterEntry]) -> int:
    data, size = file.data, file.size
    if size < base + PREFIX.size:
        raise _fail(file, "not enough bytes for a valid IRPA header; file may be empty or "
                    "truncated", "INVALID_ARGUMENT", base)
    magic, major, minor, header_size, next_offset, _flags = PREFIX.unpack_from(data, base)
    if magic != MAGIC:
        raise _fail(file, f"IRPA file magic missing or invalid {magic:08X}; expected "
                    f"{MAGIC:08X}", "INVALID_ARGUMENT", base)
    if base + header_size > size:
        raise _fail(file, f"file buffer underrun parsing header of reported size {header_size} "
                    f"(only {size - base} bytes available)", "OUT_OF_RANGE", base)
    if next_offset != 0 and size < base + next_offset + PREFIX.size:
        raise _fail(file, f"file buffer underrun verifying linked header at offset "
                    f"{base + next_offset} (only {size} bytes available)", "OUT_OF_RANGE",
                    base + 16)
    if major != 0:
        raise _fail(file, f"IRPA major version {major}.{minor} not supported by this runtime",
                    "UNIMPLEMENTED", base + 4)
    if minor > 0:
        raise _fail(file, f"IRPA version {major}.{minor} not supported (major supported but "
                    "minor is newer than the runtime trying to parse it)", "UNIMPLEMENTED",
                    base + 4)
    if header_size != HEADER_V0.size:
        raise _fail(file, f"IRPA v0 header expected to be exactly {HEADER_V0.size} bytes but "
                    f"was reported as {header_size}", "INVALID_ARGUMENT", base + 8)
    fields = HEADER_V0.unpack_from(data, base)
    entry_count = fields[6]
    segments = {"entry table": fields[7:9], "metadata segment": fields[9:11],
                "storage segment": fields[11:13]}
    for what, (offset, length) in segments.items():
        if length and base + offset + length > size:
            raise _fail(file, f"file segment out of range ({base + offset} to "
                        f"{base + offset + length - 1} for {length}, file_size={size}); "
                        f"verifying {what}", "OUT_OF_RANGE", base)
    entry_segment_offset, entry_segment_length = segments["entry table"]
    metadata_offset, metadata_length = segments["metadata segment"]
    storage_offset, storage_length = segments["storage segment"]

    metadata_start = base + metadata_offset
    metadata = bytes(data[metadata_start:metadata_start + metadata_length])

    def metadata_ref(offset, length, what, at):
        if length == 0:
            return b""
        if offset + length > metadata_length:
            raise _fail(file, f"metadata segment reference out of range ({offset} to "
                        f"{offset + length - 1} for {length}, segment_size={metadata_length}); "
                        f"resolving entry {what}", "OUT_OF_RANGE", at)
        return metadata[offset:offset + length]

    position = base + entry_segment_offset
    remaining = entry_segment_length
    if entry_count > remaining // ENTRY_HEADER.size + 1:
        # Each entry needs at least a header: a larger count cannot be honest.
        raise _fail(file, f"entry table truncated; {entry_count} entries declared in "
                    f"{remaining} bytes", "OUT_OF_RANGE", base + 40)
    unpack_header = ENTRY_HEADER.unpack_from
    header_size = ENTRY_HEADER.size
    append = entries.append
    for i in range(entry_count):
        if remaining < header_size:
            raise _fail(file, f"entry table truncated; insufficient bytes for base entry header "
                        f"(entry {i})", "OUT_OF_RANGE", position)
        (entry_size, entry_type, _eflags, name_off, name_len, meta_off, meta_len,
         min_alignment) = unpack_header(data, position)
        if entry_size < header_size or remaining < entry_size:
            raise _fail(file, f"entry table truncated; insufficient bytes for sized header "
                        f"(entry {i}, entry_size={entry_size}, {remaining} bytes left)",
                        "OUT_OF_RANGE", position)
        entry_at = position
        aligned = (entry_size + ENTRY_ALIGNMENT - 1) & -ENTRY_ALIGNMENT
        position += aligned
        remaining = remaining - aligned if remaining > aligned else 0
        if name_len and name_off + name_len <= metadata_length:
            name = metadata[name_off:name_off + name_len].decode("utf-8", "surrogateescape")
        else:
            name = metadata_ref(name_off, name_len, "name", entry_at).decode(
                "utf-8", "surrogateescape")
        metadata_blob = metadata_ref(meta_off, meta_len, "metadata", entry_at) if meta_len else b""
        if entry_type == 0:  # SKIP
            continue
        if entry_type == 1:  # SPLAT
            if entry_size < SPLAT_ENTRY_SIZE:
                raise _fail(file, "splat entry length underflow", "OUT_OF_RANGE", entry_at, name)
            length, pattern, pattern_length = SPLAT_TAIL.unpack_from(
                data, entry_at + ENTRY_HEADER.size)
            if pattern_length > 16:
                raise _fail(file, f"splat pattern length {pattern_length} out of bounds 16",
                            "INVALID_ARGUMENT", entry_at, name)
            entries.append(ParameterEntry(
                name, length, "splat", file, pattern=pattern[:pattern_length],
                metadata=metadata_blob, header_offset=entry_at, alignment=min_alignment))
        elif entry_type == 2:  # DATA
            if entry_size < DATA_ENTRY_SIZE:
                raise _fail(file, "data entry length underflow", "OUT_OF_RANGE", entry_at, name)
            offset, length = DATA_TAIL.unpack_from(data, entry_at + ENTRY_HEADER.size)
            absolute = 0
            if length:
                if offset + length > storage_length:
                    raise _fail(file, f"storage segment reference out of range ({offset} to "
                                f"{offset + length - 1} for {length}, segment_size="
                                f"{storage_length})", "OUT_OF_RANGE", entry_at, name)
                absolute = base + storage_offset + offset
            append(ParameterEntry(
                name, length, "file", file, offset=absolute, metadata=metadata_blob,
                header_offset=entry_at, alignment=min_alignment))
        else:
            what = ("external entries (data in another file) are not supported"
                    if entry_type == 3 else "unknown entry type")
            raise _fail(file, f"parser does not support entry type {entry_type}: {what}",
                        "UNIMPLEMENTED", entry_at, name)
    return next_offset
