"""The parameter index as ``iree-dump-parameters`` prints it, byte for byte.

``iree_io_parameter_index_dump`` / ``iree_io_scope_map_dump``
(``runtime/src/iree/io/parameter_index.c``, ``scope_map.c``): per scope a
banner with the entry count and total bytes, then one row per entry (file
start, end, length, key; ``-`` for splats).
"""

from __future__ import annotations

from iree_lab.format.parameters.archive import ParameterIndex

_RULE = "//===" + "-" * 110 + "===//\n"
_COLUMNS_RULE = ("//===------------+------------------+------------------+"
                 + "-" * 59 + "===//\n")
_HEADINGS = "//         Start |              End |           Length | Key\n"
_ROWS_RULE = "//---------------+------------------+------------------+" + "-" * 62 + "//\n"


def dump_index(index: ParameterIndex) -> str:
    """``iree_io_parameter_index_dump`` of one scope."""
    scope = f"`{_c_string(index.scope)}`" if index.scope else "<global>"
    lines = [_RULE,
             f"// Parameter scope {scope} ({len(index.entries)} entries, "
             f"{index.total_bytes} total bytes)\n",
             _COLUMNS_RULE, _HEADINGS, _ROWS_RULE]
    for e in index.entries:
        key = _c_string(e.key)
        if e.storage == "splat":
            lines.append(f"               - |                - | {e.length:16d} | `{key}`\n")
        else:
            lines.append(f"{e.offset:16d} | {e.end:16d} | {e.length:16d} | `{key}`\n")
    lines.append("\n")
    return "".join(lines)


def _c_string(text: str) -> str:
    """What C's ``%.*s`` prints of a key: up to its first NUL."""
    return text.split("\0", 1)[0]


def dump_text(scope_map) -> str:
    """``iree_io_scope_map_dump``: every scope in first-use order."""
    return "".join(dump_index(index) for index in scope_map)
