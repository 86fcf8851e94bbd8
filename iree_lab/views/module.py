"""The module explorer's data: a tree of everything in a module, HTML for each
node, and search over names, disassembly, strings and locations.

:class:`ModuleView` caches what it derives (decoded listings, the executable
scan) for one module; it holds no UI state. Node ids are paths such as
``functions/2``, ``rodata/4``, ``exports/0``; :meth:`ModuleView.node_html`
renders one, :meth:`ModuleView.search` returns matching ids with context.
"""

from __future__ import annotations

import functools

from iree_lab.errors import FormatError
from iree_lab.format.module import cconv_fragments
from iree_lab.isa import tables as T
from iree_lab.views.disassembly import DisassemblyLine, function_listing
from iree_lab.views.hexdump import hexdump, is_text, printable_strings
from iree_lab.views.html import Raw, esc, human_size, key_values, pre, section, table

# A tree never lists more children than this under one node (search finds the rest).
MAX_CHILDREN = 2000
# Bytes shown per page of a rodata hex view.
HEX_PAGE_BYTES = 4096
MAX_SEARCH_RESULTS = 200

_CCONV_TYPES = {"i": "i32", "I": "i64", "f": "f32", "F": "f64", "r": "!vm.ref<?>", "v": ""}


def cconv_text(cconv: str | None) -> str:
    """``0ri_r`` -> ``(!vm.ref<?>, i32) -> (!vm.ref<?>)``; variadic spans as ``...``."""
    try:
        args, results = cconv_fragments(cconv)
    except FormatError:
        return str(cconv)

    def names(fragment: str) -> str:
        out = []
        for c in fragment:
            if c == "C":
                out.append("(")
            elif c == "D":
                out.append(")...")
            else:
                out.append(_CCONV_TYPES.get(c, c))
        text = ", ".join(x for x in out if x)
        return text.replace("(, ", "(").replace(", )...", ")...")

    return f"({names(args)}) -> ({names(results)})"


def function_facts(f) -> list[tuple[str, object]]:
    """What the module view and a function's rich display say about a function."""
    return [
        ("function", f"@{f.iree_name} (ordinal {f.ordinal})"),
        ("exported as", ", ".join(f"@{n}" for n in f.export_names) or None),
        ("calling convention", f"{f.calling_convention}  {cconv_text(f.calling_convention)}"),
        ("ABI declaration", f.attrs.get("iree.abi.declaration")),
        ("bytecode", f"{f.bytecode_length} bytes at offset {f.bytecode_offset} "
                     f"(0x{f.bytecode_offset:X}) of bytecode_data"),
        ("blocks", f.block_count),
        ("registers", f"{f.i32_register_count} i32, {f.ref_register_count} ref"),
        ("requirements", feature_text(f.requirements) if f.requirements else None),
    ]


def feature_text(flags) -> str:
    """``YIELD|UNWIND`` for a FeatureBits value (``none`` when empty)."""
    names = [bit.name for bit in type(flags) if bit.value and bit in flags and bit.name]
    return "|".join(names) or "none"


def lines_html(lines: list[DisassemblyLine], locations: dict[int, str] | None = None) -> Raw:
    """Disassembly lines as elements: ``.il-line[data-pc]`` holding ``.il-text``
    (exactly the tool's line) and, when known, ``.il-loc`` (source location)."""
    out = ['<div class="il-listing il-mono">']
    for line in lines:
        cls = "il-line il-blockline" if line.is_block else "il-line il-inst"
        loc = locations.get(line.pc) if locations else None
        loc_html = f'<span class="il-loc">{esc(loc)}</span>' if loc else ""
        out.append(f'<div class="{cls}" data-pc="{line.pc}" data-block="{line.block}">'
                   f'<span class="il-text">{esc(line.line)}</span>{loc_html}</div>')
    out.append("</div>")
    return Raw("".join(out))


class ModuleView:
    """Tree, node HTML and search for one module (derived data cached)."""

    def __init__(self, module):
        self.module = module

    # -- derived data ------------------------------------------------------------

    @functools.cache  # noqa: B019 - the view lives exactly as long as its module
    def listing(self, ordinal: int):
        """(header, lines, error) of internal function ``ordinal``."""
        return function_listing(self.module, ordinal)

    @functools.cached_property
    def executables(self):
        from iree_lab.hal.executables import find_executables

        return find_executables(self.module)

    def locations(self, ordinal: int) -> dict[int, str]:
        """pc -> one-line source location, from the function's source map."""
        try:
            source_map = self.module.source_map(ordinal)
            if source_map is None:
                return {}
            return {offset: " ".join(str(loc).split()) for offset, loc in source_map.items()}
        except FormatError:
            return {}

    @functools.cached_property
    def call_sites(self) -> dict[int, list[tuple[int, int, str]]]:
        """import ordinal -> [(function ordinal, pc, instruction text)] of its calls."""
        sites: dict[int, list[tuple[int, int, str]]] = {}
        for ordinal in range(len(self.module.functions)):
            fn = self._decoded(ordinal)
            if fn is None:
                continue
            text = {line.pc: line.text for line in self.listing(ordinal)[1]}
            for inst in fn.instructions:
                callee = inst.callee
                if callee is not None and callee & T.FUNCTION_ORDINAL_IMPORT_BIT:
                    sites.setdefault(callee & ~T.FUNCTION_ORDINAL_IMPORT_BIT, []).append(
                        (ordinal, inst.pc, text.get(inst.pc, inst.op.name)))
        return sites

    def _decoded(self, ordinal: int):
        from iree_lab.isa import decode_function

        try:
            return decode_function(self.module, ordinal, strict=False)
        except FormatError as e:
            return getattr(e, "partial", None)

    @functools.cached_property
    def globals_use(self) -> dict[tuple[str, int], list[tuple[str, int, str]]]:
        """(kind, offset or ordinal) -> [(function, pc, op)] for global loads/stores."""
        use: dict[tuple[str, int], list[tuple[str, int, str]]] = {}
        for ordinal, f in enumerate(self.module.functions):
            fn = self._decoded(ordinal)
            if fn is None:
                continue
            for inst in fn.instructions:
                for field, value in zip(inst.op.fields, inst.values, strict=True):
                    if field.kind == T.GLOBAL_OFFSET:
                        key = ("rwdata", value)
                    elif field.kind == T.GLOBAL_REF:
                        key = ("ref", value)
                    else:
                        continue
                    use.setdefault(key, []).append((f.iree_name, inst.pc, inst.op.name))
        return use

    # -- tree --------------------------------------------------------------------

    def tree(self) -> list[dict]:
        """The tree: ``[{id, label, kind, detail, children?}]`` (JSON-ready)."""
        m = self.module
        roots = [self._node("metadata", f"@{m.name} (version {m.version})", "metadata",
                            f"{human_size(m.file_size)}, bytecode "
                            f"{m.bytecode_version_major}.{m.bytecode_version_minor}")]
        roots.append(self._group("exports", "Exports", [
            self._node(f"exports/{e.ordinal}", f"@{e.local_name}", "export",
                       e.attrs.get("iree.abi.declaration") or cconv_text(e.calling_convention))
            for e in m.exports]))
        roots.append(self._group("imports", "Imports", [
            self._node(f"imports/{i.ordinal}", f"@{i.full_name}", "import",
                       cconv_text(i.calling_convention) + (" optional" if i.is_optional else ""))
            for i in m.imports]))
        roots.append(self._group("functions", "Functions", [
            self._node(f"functions/{f.ordinal}", function_label(f), "function",
                       f"#{f.ordinal} \u00b7 {f.bytecode_length} bytes, {f.block_count} blocks")
            for f in m.functions]))
        roots.append(self._group("rodata", "Read-only data", [
            self._node(f"rodata/{s.ordinal}", f".rodata[{s.ordinal}]", "rodata",
                       f"{human_size(s.size)} {'external' if s.is_external else 'embedded'}")
            for s in m.rodata]))
        roots.append(self._node("state", "Module state", "state",
                                f"{m.global_bytes_capacity} rwdata bytes, "
                                f"{m.global_ref_count} ref globals"))
        db = m.debug_database
        if db is not None:
            roots.append(self._group("debug", "Debug locations", [
                self._node(f"debug/{k}", f"@{sm.local_name}", "source_map",
                           f"{len(sm.entries)} locations")
                for k, sm in enumerate(db.source_maps)], detail=f"{db.location_count} locations"))
        try:
            exes = list(self.executables)
        except FormatError:
            exes = []
        roots.append(self._group("executables", "Executables", [
            self._node(f"executables/{x.ordinal}", x.name, "executable",
                       f"{x.format or '?'}, {human_size(x.size)}")
            for x in exes]))
        return roots

    @staticmethod
    def _node(node_id: str, label: str, kind: str, detail: str = "") -> dict:
        return {"id": node_id, "label": label, "kind": kind, "detail": detail}

    @staticmethod
    def _group(node_id: str, label: str, children: list[dict], detail: str | None = None) -> dict:
        node = {"id": node_id, "label": label, "kind": "group",
                "detail": detail if detail is not None else str(len(children)),
                "children": children[:MAX_CHILDREN]}
        if len(children) > MAX_CHILDREN:
            node["children"].append({"id": node_id, "label": f"... {len(children) - MAX_CHILDREN}"
                                     " more (use search)", "kind": "more", "detail": ""})
        return node

    # -- node HTML ----------------------------------------------------------------

    def node_html(self, node_id: str, *, offset: int = 0) -> str:
        """HTML for one tree node (``offset`` pages rodata hex views)."""
        kind, _, index = node_id.partition("/")
        try:
            if kind == "metadata":
                return self._metadata_html()
            if kind == "state":
                return self._state_html()
            if not index:
                return self._group_html(kind)
            i = int(index)
            render = {
                "exports": self._export_html, "imports": self._import_html,
                "functions": self._function_html, "rodata": lambda n: self._rodata_html(n, offset),
                "debug": self._source_map_html, "executables": self._executable_html,
            }.get(kind)
            if render is None:
                return f'<div class="il-note">unknown node {esc(node_id)}</div>'
            return render(i)
        except (FormatError, IndexError, KeyError, ValueError) as e:
            # Damaged modules still get a view: say what could not be read.
            return f'<div class="il-note">cannot show {esc(node_id)}: {esc(e)}</div>'

    def _metadata_html(self) -> str:
        m = self.module
        facts = key_values([
            ("name", m.name), ("version", m.version),
            ("container", "ZIP" if m.container.kind == "zip" else "FlatBuffer"),
            ("file size", f"{m.file_size} bytes ({human_size(m.file_size)})"),
            ("FlatBuffer size", f"{m.flatbuffer_size} bytes"),
            ("bytecode version", f"{m.bytecode_version_major}.{m.bytecode_version_minor}"),
            ("requirements", feature_text(m.requirements)),
            ("source", m.source_name),
        ])
        parts = [facts]
        if m.attrs:
            parts.append(section("Attributes", table(("key", "value"), m.attrs.items()),
                                 open_=True, count=len(m.attrs)))
        parts.append(section("Types", table(("#", "type"), [(t.ordinal, t.full_name)
                                                           for t in m.types], mono_columns=(1,)),
                             count=len(m.types)))
        if m.dependencies:
            parts.append(section("Dependencies", table(
                ("module", "minimum version", "optional"),
                [(d.name, d.minimum_version, "yes" if d.is_optional else "")
                 for d in m.dependencies]), open_=True, count=len(m.dependencies)))
        if m.archive_entries:
            parts.append(section("Archive entries", table(
                ("name", "data offset", "size"),
                [(e.name, e.data_offset, e.size) for e in m.archive_entries],
                mono_columns=(0,)), count=len(m.archive_entries)))
        return "".join(parts)

    def _group_html(self, kind: str) -> str:
        m = self.module
        if kind == "exports":
            return table(("#", "name", "function", "cconv", "ABI declaration"), [
                (e.ordinal, f"@{e.local_name}", f"@{m.functions[e.internal_ordinal].iree_name}"
                 if 0 <= e.internal_ordinal < len(m.functions) else e.internal_ordinal,
                 e.calling_convention, e.attrs.get("iree.abi.declaration", ""))
                for e in m.exports], mono_columns=(1, 2, 3, 4))
        if kind == "imports":
            return table(("#", "name", "cconv", "flags"), [
                (i.ordinal, f"@{i.full_name}", i.calling_convention,
                 "optional" if i.is_optional else "required") for i in m.imports],
                mono_columns=(1, 2))
        if kind == "functions":
            return functions_table(m)
        if kind == "rodata":
            return rodata_table(m)
        if kind == "debug":
            db = m.debug_database
            return key_values([("locations", db.location_count),
                               ("source maps", ", ".join(f"@{s.local_name}"
                                                        for s in db.source_maps))])
        if kind == "executables":
            from iree_lab.views.executables import executables_table

            return executables_table(self.executables)
        return ""

    def _export_html(self, i: int) -> str:
        m = self.module
        e = m.exports[i]
        target = m.functions[e.internal_ordinal] if 0 <= e.internal_ordinal < len(
            m.functions) else None
        parts = [key_values([
            ("export", f"@{e.local_name}"),
            ("function", f"@{target.iree_name} (ordinal {e.internal_ordinal})" if target
             else f"ordinal {e.internal_ordinal} (out of range)"),
            ("calling convention", f"{e.calling_convention}  {cconv_text(e.calling_convention)}"),
            ("ABI declaration", e.attrs.get("iree.abi.declaration")),
        ])]
        other = {k: v for k, v in e.attrs.items() if k != "iree.abi.declaration"}
        if other:
            parts.append(section("Reflection attributes", table(("key", "value"), other.items()),
                                 open_=True, count=len(other)))
        return "".join(parts)

    def _import_html(self, i: int) -> str:
        m = self.module
        imp = m.imports[i]
        callers = [(f"@{m.functions[o].iree_name}", f"{pc:08X}", text)
                   for o, pc, text in self.call_sites.get(i, ())]
        parts = [key_values([
            ("import", f"@{imp.full_name}"), ("module", imp.module_name),
            ("calling convention", f"{imp.calling_convention}  {cconv_text(imp.calling_convention)}"),
            ("flags", "optional" if imp.is_optional else "required"),
        ])]
        if imp.attrs:
            parts.append(section("Attributes", table(("key", "value"), imp.attrs.items()),
                                 open_=True))
        parts.append(section("Call sites", table(("function", "pc", "instruction"), callers,
                                                 mono_columns=(1, 2)),
                             open_=True, count=len(callers)))
        return "".join(parts)

    def _function_html(self, i: int) -> str:
        m = self.module
        f = m.functions[i]
        header, lines, error = self.listing(i)
        facts = key_values(function_facts(f))
        error_html = f'<div class="il-note">{esc(error)}</div>' if error else ""
        listing = (pre(header, class_="il-header") + lines_html(lines, self.locations(i))
                   + pre(["}"], class_="il-header"))
        return facts + error_html + Raw(f'<div class="il-disassembly" data-function="{i}">'
                                        f"{listing}</div>")

    def _rodata_html(self, i: int, offset: int) -> str:
        s = self.module.rodata[i]
        data = s.data
        offset = max(0, min(offset, s.size - 1))
        offset -= offset % 16
        facts = key_values([
            ("segment", f".rodata[{i}]"),
            ("size", f"{s.size} bytes ({human_size(s.size)})"),
            ("storage", "external (after the FlatBuffer)" if s.is_external else "embedded"),
            ("file offset", f"{s.file_offset} (0x{s.file_offset:X})"),
            ("alignment", s.alignment), ("archive entry", s.archive_name),
            ("compression", s.compression),
        ])
        parts = [facts]
        users = [x for x in self._executables_or_empty() if x.rodata_ordinal == i]
        if users:
            parts.append(Raw(f'<div>executable <a class="il-link" data-node="executables/'
                             f'{users[0].ordinal}">{esc(users[0].name)}</a> '
                             f'({esc(users[0].format)})</div>'))
        if is_text(data) and s.size <= 65536:
            parts.append(section("Text", pre(bytes(data).decode("utf-8", "replace").split("\n")),
                                 open_=True))
        end = min(s.size, offset + HEX_PAGE_BYTES)
        nav = (f'<div class="il-pager" data-node="rodata/{i}" data-offset="{offset}" '
               f'data-page="{HEX_PAGE_BYTES}" data-size="{s.size}">bytes {offset}..{end} of '
               f"{s.size}</div>")
        parts.append(section("Hex", Raw(nav) + pre(hexdump(data, offset=offset,
                                                           length=HEX_PAGE_BYTES),
                                                   class_="il-hex"), open_=True))
        strings = printable_strings(data[:1 << 20], limit=500)
        if strings:
            parts.append(section("Strings", table(("offset", "text"),
                                                  [(f"{o:08x}", t) for o, t in strings],
                                                  mono_columns=(0, 1)), count=len(strings)))
        return "".join(parts)

    def _state_html(self) -> str:
        m = self.module
        parts = [key_values([("rwdata (global bytes)", m.global_bytes_capacity),
                             ("ref globals", m.global_ref_count),
                             ("rwdata segments", len(m.rwdata))])]
        use = self.globals_use
        rows = []
        for (kind, key), sites in sorted(use.items()):
            name = f"rwdata+{key}" if kind == "rwdata" else f"ref global {key}"
            loads = sorted({f"@{fn}" for fn, _, op in sites if ".load" in op})
            stores = sorted({f"@{fn}" for fn, _, op in sites if ".store" in op})
            rows.append((name, ", ".join(loads), ", ".join(stores)))
        parts.append(section("Globals by use", table(("global", "loaded in", "stored in"), rows,
                                                     mono_columns=(0,)),
                             open_=True, count=len(rows)))
        return "".join(parts)

    def _source_map_html(self, k: int) -> str:
        sm = self.module.debug_database.source_maps[k]
        rows = [(f"{offset:08X}", str(loc)) for offset, loc in sm.items()]
        return key_values([("function", f"@{sm.local_name}"), ("locations", len(rows))]) + table(
            ("pc", "location"), rows, mono_columns=(0, 1))

    def _executables_or_empty(self):
        try:
            return list(self.executables)
        except FormatError:
            return []

    def _executable_html(self, i: int) -> str:
        from iree_lab.views.executables import executable_html

        return executable_html(self.executables.find(i))

    # -- search ------------------------------------------------------------------

    def search(self, query: str, limit: int = MAX_SEARCH_RESULTS) -> list[dict]:
        """Nodes matching ``query`` (case-insensitive): ``[{id, label, context}]``.

        Looks at names (exports, imports, functions), disassembly lines,
        rodata strings, source locations and executable export names.
        """
        q = query.strip().lower()
        if not q:
            return []
        m = self.module
        out: list[dict] = []

        def add(node_id, label, context=""):
            out.append({"id": node_id, "label": label, "context": context})
            return len(out) >= limit

        for e in m.exports:
            if q in (e.local_name or "").lower() or q in e.attrs.get(
                    "iree.abi.declaration", "").lower():
                if add(f"exports/{e.ordinal}", f"@{e.local_name}", "export"):
                    return out
        for i in m.imports:
            if q in (i.full_name or "").lower():
                if add(f"imports/{i.ordinal}", f"@{i.full_name}", "import"):
                    return out
        for f in m.functions:
            if q in f.iree_name.lower() or (f.name and q in f.name.lower()):
                if add(f"functions/{f.ordinal}", f"@{f.iree_name}", "function"):
                    return out
        for f in m.functions:
            _, lines, _ = self.listing(f.ordinal)
            for line in lines:
                if q in line.text.lower():
                    if add(f"functions/{f.ordinal}", f"@{f.iree_name}", line.line):
                        return out
        for s in m.rodata:
            try:
                strings = printable_strings(s.data[:1 << 20], limit=2000)
            except FormatError:
                continue
            for o, text in strings:
                if q in text.lower():
                    if add(f"rodata/{s.ordinal}", f".rodata[{s.ordinal}]", f"+{o:x}: {text[:120]}"):
                        return out
        for x in self._executables_or_empty():
            exe = x.parse()
            for e in exe.exports:
                if q in (e.name or "").lower() or q in (x.format or "").lower():
                    if add(f"executables/{x.ordinal}", x.name, f"export {e.name}"):
                        return out
        db = m.debug_database
        if db is not None:
            for k, sm in enumerate(db.source_maps):
                try:
                    items = list(sm.items())
                except FormatError:
                    continue
                for offset, loc in items:
                    if q in str(loc).lower():
                        if add(f"debug/{k}", f"@{sm.local_name}", f"{offset:08X} {loc}"):
                            return out
        return out


def largest_function(module) -> int | None:
    """Ordinal of the function with the most instructions (not bytes: an initializer full of
    constant operands is long in bytes and has one block); None when there are none."""
    from iree_lab.isa import BytecodeError, decode_function

    best, best_count = None, -1
    for f in module.functions:
        try:
            count = len(decode_function(module, f.ordinal, strict=False).instructions)
        except BytecodeError as e:
            count = len(e.partial.instructions) if e.partial is not None else 0
        except FormatError:
            continue
        if count > best_count:
            best, best_count = f.ordinal, count
    return best


def function_label(f) -> str:
    """How every view names an internal function: the name IREE's tools print
    (``Function.iree_name``: export alias, else the debug database entry at that ordinal,
    else ``fnN``), with ``@``. Views show the ordinal beside it (``#N``), which tells apart
    the functions that IREE's lookup names alike."""
    return f"@{f.iree_name}"


def functions_table(module) -> Raw:
    return table(("#", "name", "offset", "length", "blocks", "i32", "ref", "cconv"), [
        (f.ordinal, f"@{f.iree_name}", f"{f.bytecode_offset:08X}", f.bytecode_length,
         f.block_count, f.i32_register_count, f.ref_register_count, f.calling_convention)
        for f in module.functions], mono_columns=(1, 2, 7))


def rodata_table(module) -> Raw:
    rows = []
    for s in module.rodata:
        try:
            head = bytes(s.data[:32])
        except FormatError as e:
            head, preview = b"", f"unreadable: {e}"
        else:
            text = head.decode("ascii", "replace")
            preview = repr(text) if head.isascii() and text.isprintable() else head[:16].hex(" ")
        rows.append((f".rodata[{s.ordinal}]", s.size, "external" if s.is_external else "embedded",
                     s.file_offset, preview))
    return table(("segment", "bytes", "storage", "file offset", "preview"), rows,
                 mono_columns=(0, 4))
