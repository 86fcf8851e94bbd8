"""HTML for embedded HAL executables (any container format).

Input is a :class:`~iree_lab.hal.executables.ModuleExecutable` (an executable
found in a module: selection queries, dispatch sites) or a parsed
:class:`~iree_lab.format.executables.Executable` (just the blob).
"""

from __future__ import annotations

from iree_lab.format.executables import Executable, ExecutableExport
from iree_lab.hal.executables import ModuleExecutable, export_listing
from iree_lab.views.hexdump import hexdump, printable_strings
from iree_lab.views.html import Raw, esc, human_size, key_values, pre, section, table

HEX_PREVIEW_BYTES = 256
MAX_LISTING_LINES = 4000


def _size(n: int | None) -> str | None:
    return None if n is None else f"{n} bytes ({human_size(n)})" if n >= 1024 else f"{n} bytes"


def _triple(value) -> str | None:
    return None if value is None else " x ".join(str(v) for v in value)


def executable_facts(mexe: ModuleExecutable | None, exe: Executable) -> list[tuple[str, object]]:
    facts: list[tuple[str, object]] = []
    if mexe is not None:
        facts += [("name", mexe.name), ("rodata segment", f".rodata[{mexe.rodata_ordinal}]"),
                  ("file offset", f"{mexe.file_offset} (0x{mexe.file_offset:X})"),
                  ("archive entry", mexe.archive_name)]
    facts += [
        ("format", exe.format),
        ("container", exe.container + (f" ({exe.identifier})" if exe.identifier else "")),
        ("target", exe.target),
        ("size", _size(exe.size)),
        ("exports", len(exe.exports)),
        ("code objects", ", ".join(f"{c.kind} ({human_size(c.size)})" for c in exe.code_objects)
         or None),
    ]
    if mexe is not None:
        facts += [
            ("selected on devices", ", ".join(mexe.device_ids) or None),
            ("created at", ", ".join(str(s) for s in mexe.create_sites) or None),
            ("stored in ref globals", ", ".join(str(g) for g in mexe.global_ordinals) or None),
        ]
    return facts


def exports_table(exe: Executable, mexe: ModuleExecutable | None = None) -> Raw:
    rows = []
    for e in exe.exports:
        dispatches = mexe.dispatches_of(e) if mexe is not None else []
        rows.append((
            e.ordinal,
            e.name or "",
            e.symbol if e.symbol != e.name else "",
            _triple(e.workgroup_size) or "",
            "" if e.binding_count is None else e.binding_count,
            "" if e.constant_count is None else e.constant_count,
            "" if e.local_memory_size is None else e.local_memory_size,
            str(e.location) if e.location else "",
            ", ".join(str(d.site) + (f" [{_triple(d.workgroup_count)}]" if d.workgroup_count
                                     else "") for d in dispatches),
        ))
    return table(("#", "name", "symbol", "workgroup size", "bindings", "constants",
                  "local memory", "source", "dispatched at"), rows, mono_columns=(1, 2))


def export_rows(exe: Executable, mexe: ModuleExecutable | None = None) -> list[dict]:
    """Every export as JSON-friendly facts (BlobView's searchable list)."""
    rows = []
    for e in exe.exports:
        dispatches = mexe.dispatches_of(e) if mexe is not None else []
        rows.append({
            "ordinal": e.ordinal, "name": e.name or str(e.ordinal),
            "symbol": e.symbol if e.symbol != e.name else "",
            "workgroup_size": _triple(e.workgroup_size) or "",
            "bindings": e.binding_count, "constants": e.constant_count,
            "source": str(e.location) if e.location else "",
            "dispatched_at": [str(d.site) + (f" [{_triple(d.workgroup_count)}]"
                                             if d.workgroup_count else "") for d in dispatches],
        })
    return rows


def export_listing_html(exe: Executable, export: ExecutableExport,
                        max_lines: int = MAX_LISTING_LINES) -> Raw:
    """The format-specific code listing of one export (never raises)."""
    kind, lines = export_listing(exe, export)
    more = len(lines) - max_lines
    shown = lines[:max_lines] + ([f"... {more} more lines"] if more > 0 else [])
    return Raw(f'<div class="il-listing-title il-dim">{esc(kind)}</div>'
               + pre(shown, class_="il-code"))


def hex_preview(data, *, base: int = 0, length: int = HEX_PREVIEW_BYTES) -> Raw:
    lines = hexdump(data, base=base, length=length)
    if len(data) > length:
        lines.append(f"... {len(data) - length} more bytes")
    return pre(lines, class_="il-hex")


def executable_html(item: ModuleExecutable | Executable, *, listings: bool = True,
                    hex_bytes: int = HEX_PREVIEW_BYTES) -> Raw:
    """Facts, exports (with dispatch sites), notes, per-export code and a hex preview."""
    mexe = item if isinstance(item, ModuleExecutable) else None
    exe = item.parse() if mexe is not None else item
    parts = [key_values(executable_facts(mexe, exe))]
    if exe.notes:
        parts.append(Raw('<div class="il-note">' + "<br>".join(esc(str(n)) for n in exe.notes)
                         + "</div>"))
    parts.append(section("Exports", exports_table(exe, mexe), open_=True, count=len(exe.exports)))
    if listings:
        for e in exe.exports:
            parts.append(section(f"Code of {e.name or e.ordinal}", export_listing_html(exe, e)))
    if exe.source_files:
        parts.append(section("Embedded sources", Raw("".join(
            f"<div>{esc(f.path)}</div>" + pre(f.text.splitlines()[:MAX_LISTING_LINES])
            for f in exe.source_files)), count=len(exe.source_files)))
    strings = printable_strings(exe.data[:1 << 20], min_length=6, limit=200)
    if strings:
        parts.append(section("Strings", table(("offset", "text"),
                                              [(f"{o:08x}", s) for o, s in strings],
                                              mono_columns=(0, 1)), count=len(strings)))
    parts.append(section(f"Hex (first {min(hex_bytes, exe.size)} of {exe.size} bytes)",
                         hex_preview(exe.data, length=hex_bytes)))
    return Raw("".join(parts))


def executables_table(discovery) -> Raw:
    """One row per executable of a module (``find_executables`` result)."""
    rows = []
    for x in discovery:
        exe = x.parse()
        rows.append((x.ordinal, x.name, x.format or "", exe.container, human_size(x.size),
                     ", ".join(e.name or str(e.ordinal) for e in exe.exports),
                     ", ".join(x.device_ids)))
    return table(("#", "name", "format", "container", "size", "exports", "devices"), rows,
                 mono_columns=(1, 2, 5))
