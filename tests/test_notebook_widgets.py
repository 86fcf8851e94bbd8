"""The notebook widgets from Python: state, what they compute, their bundled front-end.

What a user sees and clicks is tested in a real browser (tests/browser); here the
Python side: traitlets the front-end reads and writes, and the ES-module bundles.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess

import pytest

pytest.importorskip("anywidget")

import iree_lab  # noqa: E402
from iree_lab import isa, samples  # noqa: E402
from iree_lab.notebook import BlobView, CFGView, ModuleExplorer, display, show  # noqa: E402
from iree_lab.notebook._bundle import bundle, dependencies, stylesheet  # noqa: E402
from iree_lab.notebook.widgets import parse_node_id  # noqa: E402
from iree_lab.views import cfg_data  # noqa: E402


@pytest.fixture(scope="module")
def mlp():
    return iree_lab.open(samples.path("mlp"))


def test_module_explorer_state(mlp):
    w = ModuleExplorer(mlp)
    assert [n["id"] for n in w.tree][:4] == ["metadata", "exports", "imports", "functions"]
    assert w.selected == "metadata" and "bytecode version" in w.detail["html"]
    assert w.graph == {}
    ordinal = mlp.function("loop_sum").ordinal
    fragment = w.select(f"functions/{ordinal}")
    assert w.detail["title"] == "@loop_sum"
    assert "[0000002B]  %i3 = vm.cmp.lt.i64.s %i0:1, %i6:7" in html.unescape(fragment)
    assert w.graph == cfg_data(isa.decode_function(mlp, ordinal))
    # A search result can point at one instruction (functions/N#pc).
    w.selected = f"functions/{ordinal}#43"
    assert w.detail["pc"] == 43
    # Hex pages.
    w.selected = "rodata/4@4096"
    assert "bytes 2224..2229 of 2229" in w.detail["html"]  # clamped to the last row
    w.select("exports/0")
    assert w.graph == {}


def test_module_explorer_search(mlp):
    w = ModuleExplorer(mlp)
    results = w.search("hal.fence.await")
    assert results[0] == {"id": f"imports/{mlp.lookup_import('hal.fence.await').ordinal}",
                          "label": "@hal.fence.await", "context": "import"}
    assert any("vm.call" in r["context"] for r in results[1:])
    assert w.search("") == []


def test_module_explorer_opens_paths_and_rejects_others(mlp):
    w = ModuleExplorer(str(samples.path("mlp")))
    assert w.module.name == mlp.name
    with pytest.raises(TypeError):
        ModuleExplorer(42)


def test_parse_node_id():
    assert parse_node_id("rodata/4@4096") == ("rodata/4", 4096, None)
    assert parse_node_id("functions/1#43") == ("functions/1", 0, 43)
    assert parse_node_id("metadata") == ("metadata", 0, None)
    assert parse_node_id("functions/1#x") == ("functions/1", 0, None)


def test_cfg_view_breakpoints(mlp):
    view = CFGView(mlp, "loop_sum")
    assert view.current_pc == -1 and view.breakpoints == []
    assert view.graph["function"] == "loop_sum"
    assert view.toggle_breakpoint(0x2B) is True
    assert view.toggle_breakpoint(0x63) is True
    assert view.breakpoints == [0x2B, 0x63]
    assert view.toggle_breakpoint(0x2B) is False
    assert view.breakpoints == [0x63]
    # What the front-end sends is normalised: instruction starts only, sorted, unique.
    view.breakpoints = [0x63, 0x2B, 0x2B, 0x2C, 0x2A]  # 0x2C: mid-instruction; 0x2A: a marker
    assert view.breakpoints == [0x2B, 0x63]
    with pytest.raises(KeyError):
        view.toggle_breakpoint(0x2A)
    view.current_pc = 0x4F
    assert view.current_pc == 0x4F


def test_cfg_view_from_decoded_function(mlp):
    fn = isa.decode_function(mlp, "predict")
    view = CFGView(fn)
    assert view.function is fn and len(view.graph["blocks"]) == len(fn.blocks)
    # No function named: the one with the most instructions (not the most bytes).
    largest = CFGView(mlp)
    counts = {f.ordinal: len(isa.decode_function(mlp, f.ordinal).instructions)
              for f in mlp.functions}
    assert largest.function.ordinal == max(counts, key=counts.get)


def test_blob_view_vmvx(mlp):
    blob = BlobView(mlp)
    assert blob.title == "predict_dispatch_0_vmvx_bytecode_fb (vmvx-bytecode-fb)"
    assert blob.exports == [{
        "ordinal": 0, "name": "predict_dispatch_0_matmul_1x4x8_f32", "symbol": "",
        "workgroup_size": "", "bindings": 2, "constants": 0, "source": "",
        # The site names the function as IREE's tools do (@__init's ordinal 0 is unexported).
        "dispatched_at": ["__init+00000090 [1 x 1 x 1]"]}]
    assert "vm.func @predict_dispatch_0_matmul_1x4x8_f32" in html.unescape(blob.listing_html)
    assert blob.size == mlp.rodata[4].size
    assert "vmvx-bytecode-fb" in blob.info_html
    assert isinstance(blob.nested, ModuleExplorer)
    assert blob.nested.module.exports[0].local_name == "predict_dispatch_0_matmul_1x4x8_f32"
    first = blob.hex_text.splitlines()[0]
    assert first.startswith("00000000  50 4b 03 04")  # the nested module is a ZIP
    blob.hex_offset = 33  # rounded down to a row
    assert blob.hex_text.splitlines()[0].startswith("00000020  ")


def test_blob_view_cpu(build_module):
    module = iree_lab.open(build_module("exe_llvm_cpu"))
    blob = BlobView(module, 0)
    assert blob.nested is None
    assert len(blob.exports) == 5
    assert "x86_64 disassembly" in blob.listing_html
    blob.export_index = 1
    assert blob.exports[1]["name"] in blob.listing_html or "disassembly" in blob.listing_html
    assert BlobView(bytes(module.rodata[BlobView(module).module_executable.rodata_ordinal].data)
                    ).executable.container == "elf"


def test_show_picks_the_widget(mlp):
    assert isinstance(show(mlp), ModuleExplorer)
    assert isinstance(show(isa.decode_function(mlp, "loop_sum")), CFGView)
    with pytest.raises(TypeError):
        show(3)


def test_rich_display_registration(mlp):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    assert display.register(shell)
    data, _ = shell.display_formatter.format(mlp)
    assert "IREE VM module @module" in data["text/html"]
    fn = isa.decode_function(mlp, "loop_sum")
    data, _ = shell.display_formatter.format(list(fn)[:2])
    assert "vm.const.i64.zero" in data["text/html"]
    data, _ = shell.display_formatter.format([1, 2, 3])
    assert "text/html" not in data
    data, _ = shell.display_formatter.format(fn)
    assert "[00000063]  vm.return %i2" in html.unescape(data["text/html"])


# -- front-end bundles -----------------------------------------------------------------

ENTRIES = ["module_explorer.js", "cfg_view.js", "blob_view.js"]


@pytest.mark.parametrize("entry", ENTRIES)
def test_bundles_are_self_contained(entry):
    code = bundle(entry)
    assert not re.search(r"^import .* from ['\"]\./", code, re.M)
    assert code.count("export default") == 1
    assert dependencies(entry)[-1] == entry and dependencies(entry)[0] == "common.js"
    node = shutil.which("node")
    if node is None:
        pytest.skip("node not installed: syntax not checked")
    result = subprocess.run([node, "--input-type=module", "--check"], input=code, text=True,
                            capture_output=True)
    assert result.returncode == 0, result.stderr


def test_stylesheet_and_widget_code_loaded():
    assert ".il-cfg-inst.il-bp" in stylesheet()
    assert CFGView._esm == bundle("cfg_view.js")
    assert ModuleExplorer._css == stylesheet()
