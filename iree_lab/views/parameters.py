"""Parameter files as text and HTML (pure renderers).

:func:`dump_text` is ``iree_io_scope_map_dump`` (what ``iree-dump-parameters``
prints, byte for byte); :func:`parameter_file_html` and
:func:`module_parameters_html` are the notebook's rich views of a parameter
file and of which module globals load which parameter keys.
"""

from __future__ import annotations

from iree_lab.format.parameters import ParameterEntry, ParameterFile, ParameterIndex
from iree_lab.views.html import Raw, document, esc, human_size, key_values, section, table

_RULE = "//===" + "-" * 110 + "===//\n"
_COLUMNS_RULE = ("//===------------+------------------+------------------+"
                 + "-" * 59 + "===//\n")
_HEADINGS = "//         Start |              End |           Length | Key\n"
_ROWS_RULE = "//---------------+------------------+------------------+" + "-" * 62 + "//\n"


def dump_index(index: ParameterIndex) -> str:
    """``iree_io_parameter_index_dump`` of one scope."""
    scope = f"`{index.scope}`" if index.scope else "<global>"
    lines = [_RULE,
             f"// Parameter scope {scope} ({len(index.entries)} entries, "
             f"{index.total_bytes} total bytes)\n",
             _COLUMNS_RULE, _HEADINGS, _ROWS_RULE]
    for e in index.entries:
        if e.storage == "splat":
            lines.append(f"               - |                - | {e.length:16d} | `{e.key}`\n")
        else:
            lines.append(f"{e.offset:16d} | {e.end:16d} | {e.length:16d} | `{e.key}`\n")
    lines.append("\n")
    return "".join(lines)


def dump_text(scope_map) -> str:
    """``iree_io_scope_map_dump``: every scope in first-use order."""
    return "".join(dump_index(index) for index in scope_map)


def _pattern_text(entry: ParameterEntry) -> str:
    if not entry.pattern:
        return "zeros"
    value = int.from_bytes(entry.pattern, "little")
    return f"0x{value:0{2 * len(entry.pattern)}X} ({len(entry.pattern)}-byte pattern)"


def _entry_rows(entries, anchor_prefix: str | None, users: dict | None):
    rows = []
    for i, e in enumerate(entries):
        key = esc(f"`{e.key}`")
        if anchor_prefix is not None:
            key = Raw(f'<span id="{esc(anchor_prefix)}-p{i}">{key}</span>')
        if e.storage == "splat":
            where = Raw(f'<span class="il-dim">splat</span> {esc(_pattern_text(e))}')
        else:
            where = f"{e.offset}..{e.end}"
        dtype = e.dtype or ""
        shape = "x".join(str(d) for d in e.shape) if e.shape is not None else ""
        row = [key, e.length, where, dtype, shape]
        if users is not None:
            links = users.get(e.key, [])
            row.append(Raw(", ".join(
                f'<a href="#{esc(anchor_prefix)}-g{g}">{esc(name)}</a>' for g, name in links)))
        rows.append(row)
    return rows


def parameter_file_html(file: ParameterFile, *, max_entries: int = 2000) -> str:
    """Facts plus one row per entry: key, bytes, file range or splat pattern, dtype/shape."""
    entries = file.entries
    shown = entries[:max_entries]
    facts = key_values([
        ("file", f"{file.path}: {human_size(file.size)}, {file.format}"),
        ("entries", f"{len(entries)} ({human_size(file.total_bytes)} of parameters)"),
        ("splat entries", sum(1 for e in entries if e.storage == "splat") or None),
    ])
    body = table(("key", "bytes", "file range / splat", "dtype", "shape"),
                 _entry_rows(shown, None, None), mono_columns=(0, 2, 3, 4))
    more = (Raw(f'<div class="il-dim">... {len(entries) - len(shown)} more entries</div>')
            if len(entries) > len(shown) else Raw(""))
    return document(facts, section("Entries", body + more, open_=True, count=len(entries)),
                    title=f"parameter file {file.path}")


def module_parameters_html(bindings, files=(), *, anchor: str = "ilparams") -> str:
    """Which globals load which parameter keys, linked both ways.

    ``bindings``: objects with ``global_name``, ``scope`` and ``key`` (see
    :func:`iree_lab.hal.parameters.parameter_bindings`); ``files``: optional
    ParameterFiles to show the keys' sizes and where they come from.
    """
    entries: list[ParameterEntry] = []
    seen = set()
    for f in files:
        for e in f.entries:
            if e.key not in seen:
                seen.add(e.key)
                entries.append(e)
    position = {e.key: i for i, e in enumerate(entries)}
    users: dict[str, list] = {}
    global_rows = []
    for g, b in enumerate(bindings):
        users.setdefault(b.key, []).append((g, b.global_name or "(local)"))
        target = (Raw(f'<a href="#{esc(anchor)}-p{position[b.key]}">{esc(f"`{b.key}`")}</a>')
                  if b.key in position else esc(f"`{b.key}`"))
        found = "" if not files else ("" if b.key in position else "missing")
        global_rows.append((Raw(f'<span id="{esc(anchor)}-g{g}">{esc(b.global_name or "")}</span>'),
                            b.scope or "<global>", target, b.function, found))
    parts = [section("Globals loaded from parameters",
                     table(("global", "scope", "key", "loaded in", ""), global_rows,
                           mono_columns=(0, 2)), open_=True, count=len(global_rows))]
    if entries:
        parts.append(section("Parameters", table(
            ("key", "bytes", "file range / splat", "dtype", "shape", "loaded into"),
            _entry_rows(entries, anchor, users), mono_columns=(0, 2, 3, 4)),
            open_=True, count=len(entries)))
    return document(*parts, title=f"{len(global_rows)} parameter-backed globals")
