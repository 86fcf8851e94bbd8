"""The notebook widgets (anywidget): ModuleExplorer, CFGView and BlobView.

State that the front-end and Python share lives in synced traitlets, so a
widget can be driven from Python (``view.current_pc = 0x2B``) and what the
user does in the browser comes back (``view.breakpoints``). All HTML and graph
data is produced by :mod:`iree_lab.views`; the front-end (``widgets/*.js``)
only lays out and draws it, offline, with no graphviz.

New widgets (the debugger panel, HAL timelines) subclass :class:`LabWidget`
with their own entry module in ``widgets/`` and reuse ``cfg_render.js`` /
``common.js`` by importing them; see ``iree_lab/notebook/__init__.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import anywidget
import traitlets as t
from ipywidgets import widget_serialization

from iree_lab.errors import FormatError
from iree_lab.format import Module, open_module
from iree_lab.format.executables import Executable, parse_executable
from iree_lab.hal.executables import ModuleExecutable, find_executables
from iree_lab.isa import BytecodeError, DecodedFunction, decode_function
from iree_lab.notebook._bundle import bundle, stylesheet
from iree_lab.views.cfg import cfg_data
from iree_lab.views.executables import executable_facts, export_listing_html, export_rows
from iree_lab.views.hexdump import hexdump
from iree_lab.views.html import Raw, esc, key_values
from iree_lab.views.module import ModuleView, largest_function

__all__ = ["BlobView", "CFGView", "LabWidget", "ModuleExplorer"]


def _as_module(source) -> Module:
    if isinstance(source, Module):
        return source
    if isinstance(source, (str, os.PathLike, bytes, bytearray, memoryview)):
        return open_module(Path(source) if isinstance(source, str) else source)
    raise TypeError(f"expected a Module, a path or bytes, not {type(source).__name__}")


class LabWidget(anywidget.AnyWidget):
    """Base of iree_lab's widgets: the shared stylesheet and a ``height`` in pixels.

    Subclasses set ``_entry`` to their module in ``widgets/``; the bundled
    ES module becomes anywidget's ``_esm``.
    """

    _entry = ""
    height = t.Int(520).tag(sync=True)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # Only where _entry is declared: traitlets' add_traits() derives classes too.
        if cls.__dict__.get("_entry"):
            cls._esm = bundle(cls._entry)
            cls._css = stylesheet()


class ModuleExplorer(LabWidget):
    """A module as a tree (metadata, exports with ABI declarations, imports,
    functions with their disassembly and CFG, rodata with hex and strings,
    module state, debug locations, executables) with search.

    ``selected`` is the node shown (``functions/2``; ``rodata/4@4096`` pages
    a hex view; ``functions/2#43`` marks pc 0x2B); ``query`` searches.
    """

    _entry = "module_explorer.js"
    tree = t.List().tag(sync=True)
    selected = t.Unicode("metadata").tag(sync=True)
    detail = t.Dict().tag(sync=True)
    graph = t.Dict().tag(sync=True)
    query = t.Unicode("").tag(sync=True)
    results = t.List().tag(sync=True)
    expanded = t.List(t.Unicode(), ["exports", "functions"]).tag(sync=True)

    def __init__(self, module, **kwargs):
        self.module = _as_module(module)
        self.view = ModuleView(self.module)
        super().__init__(tree=self.view.tree(), **kwargs)
        self._show()

    @t.observe("selected")
    def _on_selected(self, change):
        self._show()

    @t.observe("query")
    def _on_query(self, change):
        self.results = self.view.search(self.query)

    def _show(self) -> None:
        node_id, offset, pc = parse_node_id(self.selected)
        label = self._label(node_id)
        html = self.view.node_html(node_id, offset=offset)
        detail = {"id": node_id, "title": label, "html": html}
        if pc is not None:
            detail["pc"] = pc
        graph = {}
        kind, _, index = node_id.partition("/")
        if kind == "functions" and index.isdigit():
            graph = _function_graph(self.module, int(index))
        self.graph = graph
        self.detail = detail

    def _label(self, node_id: str) -> str:
        def find(nodes):
            for n in nodes:
                if n["id"] == node_id:
                    return n["label"]
                found = find(n.get("children", ()))
                if found:
                    return found
            return None

        return find(self.tree) or node_id

    # -- Python-side conveniences (the same as clicking) -------------------------------

    def select(self, node_id: str) -> str:
        """Shows ``node_id`` and returns its HTML."""
        self.selected = node_id
        self._show()  # also when already selected (an explicit refresh)
        return self.detail["html"]

    def search(self, query: str) -> list[dict]:
        self.query = query
        return self.results


def parse_node_id(selected: str) -> tuple[str, int, int | None]:
    """``rodata/4@4096`` -> ("rodata/4", 4096, None); ``functions/1#43`` -> (.., 0, 43)."""
    node_id, pc = selected, None
    if "#" in node_id:
        node_id, _, tail = node_id.partition("#")
        pc = int(tail) if tail.isdigit() else None
    offset = 0
    if "@" in node_id:
        node_id, _, tail = node_id.partition("@")
        offset = int(tail) if tail.isdigit() else 0
    return node_id, offset, pc


def _function_graph(module, ordinal: int) -> dict:
    try:
        fn = decode_function(module, ordinal, strict=False)
    except BytecodeError as e:
        if e.partial is None:
            return {}
        fn = e.partial
    except FormatError:
        return {}
    return cfg_data(fn)


class CFGView(LabWidget):
    """A function's control-flow graph, laid out in the browser.

    ``CFGView(decoded_function)`` or ``CFGView(module_or_path, "name" or ordinal)``;
    ``CFGView(module_or_path)`` shows the function with the most instructions.
    ``current_pc`` (-1: none) highlights an instruction; ``breakpoints`` lists
    breakpoint pcs (a click on an instruction toggles one, synced back here).
    The front-end reports ``draw_ms`` (layout + DOM) and ``layout_stats``.
    """

    _entry = "cfg_view.js"
    graph = t.Dict().tag(sync=True)
    current_pc = t.Int(-1).tag(sync=True)
    breakpoints = t.List(t.Int()).tag(sync=True)
    draw_ms = t.Float(0.0).tag(sync=True)
    layout_stats = t.Dict().tag(sync=True)
    height = t.Int(560).tag(sync=True)

    def __init__(self, source, function=None, **kwargs):
        if isinstance(source, DecodedFunction):
            fn = source
        else:
            module = _as_module(source)
            if function is None:
                function = largest_function(module)
                if function is None:
                    raise ValueError("CFGView: the module has no functions")
            fn = decode_function(module, function, strict=False)
        self.function = fn
        self._pcs = {i.pc for i in fn.instructions if not i.is_block_marker}
        super().__init__(graph=cfg_data(fn), **kwargs)

    @t.validate("breakpoints")
    def _valid_breakpoints(self, proposal):
        # Only instruction starts can hold a breakpoint; keep the list sorted and unique.
        return sorted({int(pc) for pc in proposal["value"] if int(pc) in self._pcs})

    def toggle_breakpoint(self, pc: int) -> bool:
        """Adds or removes a breakpoint at ``pc``; returns whether one is set now."""
        if pc not in self._pcs:
            raise KeyError(f"no instruction starts at pc 0x{pc:08X} in @{self.function.name}")
        bps = set(self.breakpoints)
        bps.symmetric_difference_update({pc})
        self.breakpoints = sorted(bps)
        return pc in bps


class BlobView(LabWidget):
    """One embedded executable: format, exports and sizes, the code listing of
    each export, a paged hex view, and for VMVX the nested module in a
    :class:`ModuleExplorer` (``nested``).

    ``BlobView(module_or_path, key)`` (key: executable ordinal, name or an
    export's name; default the first), ``BlobView(module_executable)`` or
    ``BlobView(executable_or_bytes)``.
    """

    _entry = "blob_view.js"
    title = t.Unicode().tag(sync=True)
    info_html = t.Unicode().tag(sync=True)
    exports = t.List().tag(sync=True)
    export_index = t.Int(0).tag(sync=True)
    listing_html = t.Unicode().tag(sync=True)
    size = t.Int(0).tag(sync=True)
    hex_offset = t.Int(0).tag(sync=True)
    hex_page = t.Int(4096).tag(sync=True)
    hex_text = t.Unicode().tag(sync=True)
    nested = t.Instance(ModuleExplorer, allow_none=True).tag(sync=True, **widget_serialization)

    def __init__(self, source, key=0, **kwargs):
        item = source
        if isinstance(source, (Module, str, os.PathLike)) and not isinstance(source, bytes):
            item = find_executables(_as_module(source)).find(key)
        if isinstance(item, ModuleExecutable):
            self.module_executable, self.executable = item, item.parse()
            title = f"{item.name} ({item.format or item.container})"
        elif isinstance(item, Executable):
            self.module_executable, self.executable = None, item
            title = f"executable ({item.format or item.container})"
        elif isinstance(item, (bytes, bytearray, memoryview)):
            self.module_executable, self.executable = None, parse_executable(item)
            title = f"executable ({self.executable.container})"
        else:
            raise TypeError(f"BlobView needs a module (and key), a ModuleExecutable, an "
                            f"Executable or bytes, not {type(source).__name__}")
        exe = self.executable
        nested_module = exe.attributes.get("module")
        nested = ModuleExplorer(nested_module) if isinstance(nested_module, Module) else None
        info = [key_values(executable_facts(self.module_executable, exe))]
        if exe.notes:
            info.append(Raw('<div class="il-note">' + "<br>".join(esc(str(n)) for n in exe.notes)
                            + "</div>"))
        # The exports are a searchable list of their own (the "exports" tab), not a table here.
        super().__init__(
            title=title, info_html="".join(info), size=exe.size, nested=nested,
            exports=export_rows(exe, self.module_executable), **kwargs)
        self._update_listing()
        self._update_hex()

    @t.observe("export_index")
    def _update_listing(self, change=None):
        exe = self.executable
        if not exe.exports:
            self.listing_html = '<div class="il-dim">no exports</div>'
            return
        index = min(max(0, self.export_index), len(exe.exports) - 1)
        self.listing_html = export_listing_html(exe, exe.exports[index])

    @t.observe("hex_offset", "hex_page")
    def _update_hex(self, change=None):
        offset = max(0, min(self.hex_offset, max(0, self.size - 1)))
        offset -= offset % 16
        self.hex_text = "\n".join(hexdump(self.executable.data, offset=offset,
                                          length=self.hex_page))
