"""``iree-lab executables``: list a module's executables, or explain one export.

Without ``--export``: every executable with its format, container, size, how
host code selects it (device id and format queries), and its exports with
their dispatch metadata and the host instructions that dispatch them.
With ``--export NAME``: that export's full metadata, its source location (with
the embedded source around it when present) and its code (disassembly,
SPIR-V, PTX/MSL/WGSL text or VM disassembly). Nothing is executed.
"""

from __future__ import annotations

import sys

from iree_lab.errors import IreeLabError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "executables",
        help="list embedded HAL executables (formats, exports, sizes); explain one export",
        description="Lists the HAL executables embedded in a module without running anything.",
    )
    p.add_argument("module", metavar="FILE", help="module file (.vmfb)")
    p.add_argument("--export", metavar="NAME", default=None,
                   help="show one export (name, symbol, or EXECUTABLE:ORDINAL) in full")
    p.add_argument("--executable", metavar="N", default=None,
                   help="limit to one executable (ordinal or name)")
    p.add_argument("--no-code", action="store_true",
                   help="with --export: omit the disassembly / shader listing")
    p.set_defaults(func=run)


def run(args) -> int:
    import iree_lab
    from iree_lab.hal.executables import find_executables

    module = iree_lab.open(args.module)
    discovery = find_executables(module)
    out = sys.stdout
    executables = list(discovery)
    if args.executable is not None:
        key = int(args.executable) if args.executable.isdigit() else args.executable
        try:
            executables = [discovery.find(key)]
        except KeyError:
            raise IreeLabError(f"no executable {args.executable!r}") from None
    if args.export is not None:
        return _show_export(out, executables, args.export, not args.no_code)
    if not executables:
        out.write("no executables\n")
    for exe in executables:
        _write_summary(out, exe)
    if module.bytecode_version_note:
        out.write(f"note: {module.bytecode_version_note}\n")
    for note in discovery.notes:
        out.write(f"note: {note}\n")
    for d in discovery.unresolved_dispatches:
        out.write(f"note: dispatch at {d.site} uses an executable not traced to a create call\n")
    return 0


def _size(dims) -> str:
    return "x".join("?" if v is None else str(v) for v in dims) if dims else "-"


def _write_summary(out, exe) -> None:
    parsed = exe.parse()
    where = f"rodata[{exe.rodata_ordinal}], {exe.size} bytes at file offset {exe.file_offset}"
    out.write(f"executable {exe.ordinal}: {exe.name} ({where})\n")
    container = parsed.container + (f" {parsed.identifier}" if parsed.identifier else "")
    target = f", target {parsed.target}" if parsed.target else ""
    out.write(f"  format: {exe.format or '?'}  container: {container}{target}\n")
    for site in exe.create_sites:
        out.write(f"  created at {site}\n")
    if exe.device_ids:
        out.write(f"  device: hal.device.id matches {', '.join(exe.device_ids)}\n")
    keys = sorted({q.key for q in exe.format_queries})
    if keys:
        out.write(f"  variant: selected when hal.executable.format supports {', '.join(keys)}\n")
    codes = ", ".join(f"{c.kind}[{c.ordinal}] {c.size} bytes" for c in parsed.code_objects)
    if codes:
        out.write(f"  code: {codes}\n")
    out.write(f"  exports ({len(parsed.exports)}):\n")
    for export in parsed.exports:
        out.write(f"    [{export.ordinal}] {export.name}\n")
        facts = [f"workgroup {_size(export.workgroup_size)}"]
        if export.binding_count is not None:
            facts.append(f"bindings {export.binding_count}")
        if export.constant_count is not None:
            facts.append(f"constants {export.constant_count}")
        if export.subgroup_size:
            facts.append(f"subgroup {export.subgroup_size}")
        if export.local_memory_size:
            facts.append(f"local memory {export.local_memory_size}")
        if export.location:
            facts.append(f"at {export.location}")
        out.write(f"        {'  '.join(facts)}\n")
        for d in exe.dispatches_of(export):
            out.write(f"        dispatched at {d.site} (workgroups {_size(d.workgroup_count)})\n")
    if parsed.source_files:
        out.write(f"  source files ({len(parsed.source_files)}):\n")
        for f in parsed.source_files:
            out.write(f"    {f.path} ({len(f.content)} bytes)\n")
    for note in parsed.notes:
        out.write(f"  note: {note}\n")
    out.write("\n")


def _find_export(executables, key: str):
    exe_key, _, ordinal = key.rpartition(":")
    for exe in executables:
        parsed = exe.parse()
        for export in parsed.exports:
            if key in (export.name, export.symbol):
                return exe, parsed, export
        if exe_key and ordinal.isdigit() and exe_key in (exe.name, str(exe.ordinal)):
            for export in parsed.exports:
                if export.ordinal == int(ordinal):
                    return exe, parsed, export
    raise IreeLabError(f"no export {key!r} in any executable")


def _show_export(out, executables, key: str, with_code: bool) -> int:
    from iree_lab.hal.executables import export_listing

    exe, parsed, export = _find_export(executables, key)
    out.write(f"export {export.ordinal} of executable {exe.ordinal} ({exe.name}, "
              f"{exe.format or parsed.container})\n")
    rows = [
        ("name", export.name),
        ("symbol", export.symbol),
        ("code object", export.code_ordinal),
        ("workgroup size", _size(export.workgroup_size) if export.workgroup_size else None),
        ("binding count", export.binding_count),
        ("binding flags", ", ".join("|".join(f) or "NONE" for f in export.binding_flags)
         if export.binding_flags is not None else None),
        ("constant count", export.constant_count),
        ("subgroup size", export.subgroup_size),
        ("local memory", export.local_memory_size),
        ("location", str(export.location) if export.location else None),
    ]
    for name, value in rows:
        if value is not None:
            out.write(f"  {name}: {value}\n")
    for loc in export.stage_locations:
        out.write(f"  stage location: {loc}\n")
    for k, v in sorted(export.attributes.items()):
        if k == "address":
            v = f"0x{v:x}"
        out.write(f"  {k}: {v}\n")
    for d in exe.dispatches_of(export):
        out.write(f"  dispatched at {d.site} via {d.import_name} "
                  f"(workgroups {_size(d.workgroup_count)}, bindings {d.binding_count}, "
                  f"constants {d.constant_count})\n")
    source = _source_excerpt(parsed, export)
    if source:
        out.write("\nsource:\n")
        out.writelines(line + "\n" for line in source)
    if with_code:
        kind, lines = export_listing(parsed, export)
        out.write(f"\ncode ({kind}):\n")
        out.writelines(line + "\n" for line in lines)
    return 0


def _source_excerpt(parsed, export, context: int = 12) -> list[str]:
    """Lines around the export's location in an embedded source file, if any."""
    locations = [export.location, *export.stage_locations]
    for loc in locations:
        if loc is None:
            continue
        for f in parsed.source_files:
            if f.path == loc.path or f.path.endswith("/" + loc.path):
                lines = f.text.splitlines()
                start = max(0, loc.line - 1 - 2)
                end = min(len(lines), loc.line - 1 + context)
                return [f"// {f.path}:{loc.line}"] + [
                    f"{n + 1:5d}{'>' if n + 1 == loc.line else ' '} {lines[n]}"
                    for n in range(start, end)
                ]
    return []
