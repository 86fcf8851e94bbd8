"""Parameter files as HTML (pure renderers).

:func:`parameter_file_html` and :func:`module_parameters_html` are the
notebook's rich views of a parameter file and of which module globals load
which parameter keys. The text IREE prints (``iree-dump-parameters``) is
:mod:`iree_lab.format.parameters.dump`.
"""

from __future__ import annotations

from iree_lab.format.parameters import ParameterEntry, ParameterFile
from iree_lab.views.html import Raw, document, esc, human_size, key_values, section, table


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


def parameter_bindings_table(bindings, *, anchor: str | None = None,
                             position: dict | None = None, files_given: bool = False) -> Raw:
    """One row per parameter a module loads: global, scope, key, the loading call.

    With ``anchor``, globals get ids and keys found in ``position`` link to their
    parameter row (see :func:`module_parameters_html`)."""
    position = position or {}
    rows = []
    for g, b in enumerate(bindings):
        name = esc(b.global_name or "(not stored to a global)")
        if anchor is not None:
            name = Raw(f'<span id="{esc(anchor)}-g{g}">{name}</span>')
        key = esc(f"`{b.key}`")
        if anchor is not None and b.key in position:
            key = Raw(f'<a href="#{esc(anchor)}-p{position[b.key]}">{key}</a>')
        span = f"{b.length} bytes" + (f" at +{b.parameter_offset}" if b.parameter_offset else "")
        if b.buffer_offset:
            span += f" into buffer +{b.buffer_offset}"
        status = ("missing" if files_given and b.key not in position else "")
        rows.append((name, "<global>" if b.scope == "" else (b.scope or "?"), key, span,
                     f"io_parameters.{b.op} in @{b.function}+{b.pc:08X}", status))
    return table(("global", "scope", "key", "span", "loaded by", ""), rows,
                 mono_columns=(0, 2, 4))


def module_parameters_html(bindings, files=(), *, anchor: str = "ilparams") -> str:
    """Which globals load which parameter keys, linked both ways.

    ``bindings``: :class:`iree_lab.hal.parameters.ParameterBinding` s; ``files``:
    ParameterFiles whose entries (sizes, ranges, dtypes) are listed with links back
    to the globals that load them.
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
    for g, b in enumerate(bindings):
        users.setdefault(b.key, []).append((g, b.global_name or "(local)"))
    parts = [section("Globals loaded from parameters",
                     parameter_bindings_table(bindings, anchor=anchor, position=position,
                                              files_given=bool(files)),
                     open_=True, count=len(bindings))]
    if entries:
        parts.append(section("Parameters", table(
            ("key", "bytes", "file range / splat", "dtype", "shape", "loaded into"),
            _entry_rows(entries, anchor, users), mono_columns=(0, 2, 3, 4)),
            open_=True, count=len(entries)))
    return document(*parts, title=f"{len(bindings)} parameters loaded by the module")
