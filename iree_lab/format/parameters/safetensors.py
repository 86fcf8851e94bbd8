"""safetensors files: an 8-byte little-endian header length, a JSON header, then data.

Each header member other than ``__metadata__`` is ``"key": {"dtype": ...,
"shape": [...], "data_offsets": [begin, end]}`` with offsets relative to the
end of the header. As in IREE's parser (``io/formats/safetensors/
safetensors_parser.c``) keys are taken as written (escapes are not decoded),
members stay in file order and ranges are checked against the data size.
"""

from __future__ import annotations

import json
import re
import struct

from iree_lab.format.parameters.archive import ParameterEntry, ParameterFile, ParameterFormatError

_WS = re.compile(r"[ \t\r\n]*")
_DECODER = json.JSONDecoder()
# JSON header sizes beyond this are not metadata any more (safetensors caps at 100 MB).
MAX_HEADER_SIZE = 100 << 20


def parse_safetensors(file: ParameterFile) -> list[ParameterEntry]:
    size = file.size
    if size < 8:
        raise ParameterFormatError(
            f"insufficient capacity for safetensors header length (need at least 8 bytes but "
            f"have {size})", code="OUT_OF_RANGE", path=file.path, offset=0)
    (header_length,) = struct.unpack_from("<Q", file.data, 0)
    if size - 8 < header_length:
        raise ParameterFormatError(
            f"insufficient capacity for safetensors header contents (declared as "
            f"{header_length} but only {size - 8} bytes available)", code="OUT_OF_RANGE",
            path=file.path, offset=0)
    if header_length > MAX_HEADER_SIZE:
        raise ParameterFormatError(
            f"safetensors header of {header_length} bytes is larger than the "
            f"{MAX_HEADER_SIZE}-byte limit", code="OUT_OF_RANGE", path=file.path, offset=0)
    base = 8 + header_length
    data_size = size - base
    try:
        text = bytes(file.data[8:base]).decode("utf-8", "surrogateescape")
    except UnicodeDecodeError as e:  # pragma: no cover - surrogateescape decodes anything
        raise ParameterFormatError(str(e), path=file.path, offset=8) from e
    entries = []
    for key, value, at in _members(file, text):
        if key == "__metadata__":
            continue
        if not isinstance(value, dict) or "data_offsets" not in value:
            raise ParameterFormatError("JSON key 'data_offsets' not found", code="NOT_FOUND",
                                       path=file.path, key=key, offset=8 + at)
        offsets = value["data_offsets"]
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(type(v) is int and v >= 0 for v in offsets)):
            raise ParameterFormatError(
                f"failed to parse entry data offsets `{json.dumps(offsets)}`",
                path=file.path, key=key, offset=8 + at)
        begin, end = offsets
        if begin > end or end > data_size:
            raise ParameterFormatError(
                f"entry has data offsets outside of the available data (begin={begin}, "
                f"end={end}, available={data_size})", path=file.path, key=key, offset=8 + at)
        shape = value.get("shape")
        entries.append(ParameterEntry(
            key, end - begin, "file", file, offset=base + begin,
            dtype=value.get("dtype") if isinstance(value.get("dtype"), str) else None,
            shape=tuple(shape) if isinstance(shape, list)
            and all(type(d) is int for d in shape) else None,
            header_offset=8 + at))
    return entries


_ESCAPE = re.compile(r'\\(?:["\\/bfnrt]|u[0-9A-Fa-f]{4})')


def _string_problem(raw: str) -> str | None:
    """Why a raw JSON string body is invalid (RFC 8259, as IREE's JSON reader checks)."""
    for ch in raw:
        if ord(ch) < 0x20:
            return f"unescaped control character 0x{ord(ch):02X} in string"
    if "\\" in raw and "\\" in _ESCAPE.sub("", raw):
        return "unrecognized string escape code"
    return None


def _members(file: ParameterFile, text: str):
    """(raw key, decoded value, offset in the header) of the top-level JSON object."""

    def bad(what, at):
        return ParameterFormatError(f"malformed safetensors JSON header: {what}",
                                    path=file.path, offset=8 + at)

    pos = _WS.match(text, 0).end()
    if not text.startswith("{", pos):
        raise bad("missing object {", pos)
    pos = _WS.match(text, pos + 1).end()
    while pos < len(text) and text[pos] != "}":
        if text[pos] != '"':
            raise bad("expected a member name string", pos)
        key_at = pos
        end = pos + 1
        while True:
            end = text.find('"', end)
            if end < 0:
                raise bad("unterminated string", key_at)
            j = end - 1
            while text[j] == "\\":
                j -= 1
            if (end - 1 - j) % 2 == 0:
                break
            end += 1
        key = text[key_at + 1:end]
        problem = _string_problem(key)
        if problem:
            raise bad(problem, key_at)
        pos = _WS.match(text, end + 1).end()
        if not text.startswith(":", pos):
            raise bad("missing object member separator", pos)
        pos = _WS.match(text, pos + 1).end()
        try:
            value, pos = _DECODER.raw_decode(text, pos)
        except (json.JSONDecodeError, RecursionError) as e:
            raise bad(f"invalid value ({getattr(e, 'msg', 'nested too deeply')})", pos) from None
        yield key, value, key_at
        pos = _WS.match(text, pos).end()
        if text.startswith(",", pos):
            pos = _WS.match(text, pos + 1).end()
        elif not text.startswith("}", pos):
            raise bad("missing object }", pos)
    if pos >= len(text):
        raise bad("missing object }", pos)
