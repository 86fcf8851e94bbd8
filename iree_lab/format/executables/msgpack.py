"""A small, bounded MessagePack decoder for AMDGPU code object metadata.

HSACO images carry their kernel descriptions (names, register counts,
argument layouts) as a MessagePack map in an ``NT_AMDGPU_METADATA`` ELF note.
Only the types that metadata uses need to be fast, but every type of the
MessagePack spec is recognised so that a surprising one is reported, not
misread. Depth and element counts are bounded by the input size.
"""

from __future__ import annotations

import struct

MAX_DEPTH = 64


class MsgpackError(ValueError):
    """The MessagePack data is malformed; ``offset`` is where decoding stopped."""

    def __init__(self, what: str, offset: int):
        super().__init__(f"{what} at metadata offset {offset}")
        self.offset = offset


def unpack(data: bytes):
    """Decodes one MessagePack value spanning all of ``data``."""
    value, pos = _Decoder(bytes(data)).value(0, 0)
    return value


class _Decoder:
    def __init__(self, data: bytes):
        self.data = data

    def take(self, pos: int, n: int) -> bytes:
        if n < 0 or pos + n > len(self.data):
            raise MsgpackError(f"{n}-byte field overruns the {len(self.data)}-byte data", pos)
        return self.data[pos:pos + n]

    def unpack(self, fmt: str, pos: int):
        size = struct.calcsize(fmt)
        return struct.unpack(fmt, self.take(pos, size))[0], pos + size

    def value(self, pos: int, depth: int):
        if depth > MAX_DEPTH:
            raise MsgpackError("nesting too deep", pos)
        b = self.take(pos, 1)[0]
        pos += 1
        if b <= 0x7F:
            return b, pos
        if b >= 0xE0:
            return b - 0x100, pos
        if 0x80 <= b <= 0x8F:
            return self.map(pos, b & 0x0F, depth)
        if 0x90 <= b <= 0x9F:
            return self.array(pos, b & 0x0F, depth)
        if 0xA0 <= b <= 0xBF:
            return self.str(pos, b & 0x1F)
        simple = {0xC0: None, 0xC2: False, 0xC3: True}
        if b in simple:
            return simple[b], pos
        ints = {0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q",
                0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q", 0xCA: ">f", 0xCB: ">d"}
        if b in ints:
            return self.unpack(ints[b], pos)
        lengths = {0xD9: ">B", 0xDA: ">H", 0xDB: ">I"}
        if b in lengths:
            n, pos = self.unpack(lengths[b], pos)
            return self.str(pos, n)
        blobs = {0xC4: ">B", 0xC5: ">H", 0xC6: ">I"}
        if b in blobs:
            n, pos = self.unpack(blobs[b], pos)
            return self.take(pos, n), pos + n
        if b in (0xDC, 0xDD):
            n, pos = self.unpack(">H" if b == 0xDC else ">I", pos)
            return self.array(pos, n, depth)
        if b in (0xDE, 0xDF):
            n, pos = self.unpack(">H" if b == 0xDE else ">I", pos)
            return self.map(pos, n, depth)
        fixext = {0xD4: 1, 0xD5: 2, 0xD6: 4, 0xD7: 8, 0xD8: 16}
        if b in fixext:
            self.take(pos, 1 + fixext[b])
            return ("ext", self.data[pos], self.data[pos + 1:pos + 1 + fixext[b]]), \
                pos + 1 + fixext[b]
        if b in (0xC7, 0xC8, 0xC9):
            n, pos = self.unpack({0xC7: ">B", 0xC8: ">H", 0xC9: ">I"}[b], pos)
            body = self.take(pos, 1 + n)
            return ("ext", body[0], body[1:]), pos + 1 + n
        raise MsgpackError(f"unknown type byte 0x{b:02x}", pos - 1)

    def str(self, pos: int, n: int):
        return self.take(pos, n).decode("utf-8", "replace"), pos + n

    def array(self, pos: int, n: int, depth: int):
        # Every element takes at least one byte: a count past the end is damage.
        if n > len(self.data) - pos:
            raise MsgpackError(f"array of {n} elements overruns the data", pos)
        out = []
        for _ in range(n):
            item, pos = self.value(pos, depth + 1)
            out.append(item)
        return out, pos

    def map(self, pos: int, n: int, depth: int):
        if 2 * n > len(self.data) - pos:
            raise MsgpackError(f"map of {n} entries overruns the data", pos)
        out = {}
        for _ in range(n):
            key, pos = self.value(pos, depth + 1)
            item, pos = self.value(pos, depth + 1)
            out[key if isinstance(key, (str, int, bool, type(None))) else repr(key)] = item
        return out, pos
