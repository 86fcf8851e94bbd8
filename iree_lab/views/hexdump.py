"""Hex dumps and printable strings of byte data (rodata, executable blobs)."""

from __future__ import annotations

import re

_PRINTABLE = bytes(range(0x20, 0x7F))
_TRANSLATE = bytes(c if c in _PRINTABLE else ord(".") for c in range(256))


def hexdump(data, *, base: int = 0, offset: int = 0, length: int | None = None,
            width: int = 16) -> list[str]:
    """Lines of ``OFFSET  hh hh ...  |ascii|`` for ``data[offset:offset+length]``.

    Offsets printed are ``base + position`` (``base`` is e.g. the file offset of
    the data), eight hex digits; a short last line is padded so columns align.
    """
    view = memoryview(data).cast("B") if not isinstance(data, (bytes, bytearray)) else data
    end = len(view) if length is None else min(len(view), offset + max(0, length))
    lines = []
    half = width // 2
    for pos in range(max(0, offset), end, width):
        chunk = bytes(view[pos:min(pos + width, end)])
        cells = [f"{b:02x}" for b in chunk] + ["  "] * (width - len(chunk))
        hex_text = " ".join(cells[:half]) + "  " + " ".join(cells[half:])
        lines.append(f"{base + pos:08x}  {hex_text}  |{chunk.translate(_TRANSLATE).decode('ascii')}|")
    return lines




def printable_strings(data, *, min_length: int = 4, limit: int = 1000) -> list[tuple[int, str]]:
    """(offset, text) of runs of at least ``min_length`` printable ASCII bytes."""
    pattern = re.compile(rb"[\x20-\x7e]{%d,}" % max(1, min_length))
    out = []
    for match in pattern.finditer(bytes(data)):
        out.append((match.start(), match.group().decode("ascii")))
        if len(out) >= limit:
            break
    return out


def is_text(data, *, sample: int = 4096) -> bool:
    """Whether ``data`` looks like printable text (for choosing a preview)."""
    head = bytes(data[:sample])
    if not head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\n\r\t" for c in text.rstrip("\x00"))
