"""Pure renderers (iree_lab.views): text checked against IREE's tools, HTML content checked."""

from __future__ import annotations

import html
import re
import shutil
import subprocess

import pytest

import iree_lab
from iree_lab import isa, samples
from iree_lab.hal.executables import find_executables
from iree_lab.views import cfg_data, function_lines, hexdump, printable_strings
from iree_lab.views.disassembly import function_header, function_listing
from iree_lab.views.module import ModuleView, cconv_text
from iree_lab.views.rich import render_html

MODULES = ["cfg_large", "control_flow_vm", "isa_control", "globals_vmvx", "metadata_vm",
           "scalar_vmvx_stripped"]


def _tool_functions(text: str) -> dict[str, list[str]]:
    """iree-dump-module disassembly split per function: name -> its lines (header to '}')."""
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    pending: list[str] = []
    for line in text.splitlines():
        if line.startswith("vm.export"):
            pending.append(line)
        elif line.startswith("vm.func @"):
            name = re.match(r"vm\.func @([^\s(]+)", line).group(1)
            current = out.setdefault(f"{len(out)}:{name}", [*pending, line])
            pending = []
        elif current is not None:
            current.append(line)
            if line == "}":
                current = None
    return out


@pytest.fixture(scope="module", params=["mlp", *MODULES])
def module_and_path(request, build_module):
    path = samples.path("mlp") if request.param == "mlp" else build_module(request.param)
    return iree_lab.open(path), path


def test_function_lines_match_iree_dump_module(module_and_path, iree_tool):
    module, path = module_and_path
    tool = iree_tool("iree-dump-module", "--output=disassembly", "--bytecode_offsets", str(path))
    expected = list(_tool_functions(tool.stdout.decode()).values())
    assert len(expected) == len(module.functions)
    for ordinal, want in enumerate(expected):
        header, lines, error = function_listing(module, ordinal)
        assert error is None
        assert header + [x.line for x in lines] + ["}"] == want, f"function {ordinal}"
        assert function_header(module, ordinal) == header


def test_function_lines_fields():
    module = iree_lab.open(samples.path("mlp"))
    fn = isa.decode_function(module, "loop_sum")
    lines = function_lines(fn)
    assert [x.pc for x in lines] == [i.pc for i in fn.instructions]
    markers = [x for x in lines if x.is_block]
    assert [x.text for x in markers] == ["^bb0:", "^bb1:", "^bb2:", "^bb3:"]
    ret = lines[-1]
    assert (ret.pc, ret.text, ret.name, ret.block) == (0x63, "vm.return %i2", "vm.return", 3)


def test_cfg_data_loop_sum():
    module = iree_lab.open(samples.path("mlp"))
    fn = isa.decode_function(module, "loop_sum")
    data = cfg_data(fn)
    assert data["function"] == "loop_sum"
    assert data["instruction_count"] == 12
    assert [b["name"] for b in data["blocks"]] == ["^bb0", "^bb1", "^bb2", "^bb3"]
    assert data["blocks"][3]["exit"] == "return"
    assert data["blocks"][1]["lines"] == [
        {"pc": 0x2B, "text": "%i3 = vm.cmp.lt.i64.s %i0:1, %i6:7", "op": "vm.cmp.lt.i64.s"},
        {"pc": 0x32, "text": "vm.cond_br %i3, ^bb2(), ^bb3()", "op": "vm.cond_br"},
    ]
    edges = {(e["source"], e["target"]): e for e in data["edges"]}
    assert set(edges) == {(0, 1), (1, 2), (1, 3), (2, 1)}
    assert edges[0, 1]["label"] == "%i1->%i2, %i2->%i0, %i3->%i1"
    assert edges[0, 1]["remaps"] == [["%i1", "%i2"], ["%i2", "%i0"], ["%i3", "%i1"]]
    assert (edges[1, 2]["label"], edges[1, 3]["label"]) == ("true", "false")
    assert edges[2, 1]["label"] == "%i3->%i2"


def test_cfg_data_large_function(build_module):
    module = iree_lab.open(build_module("cfg_large"))
    fn = isa.decode_function(module, "big")
    data = cfg_data(fn)
    assert data["instruction_count"] >= 2000
    pcs = [line["pc"] for b in data["blocks"] for line in b["lines"]]
    assert pcs == [i.pc for i in fn.instructions if not i.is_block_marker]
    assert len(data["edges"]) == len(fn.cfg.edges)
    # br_table edges are labelled by case.
    assert {e["branch"] for e in data["edges"]} >= {"dest", "true", "false", "default", "case 2"}


def test_hexdump_matches_hexdump_c(tmp_path):
    data = bytes(range(256))[::7] * 3 + b"tail"
    lines = hexdump(data, base=0)
    assert lines[0] == ("00000000  00 07 0e 15 1c 23 2a 31  38 3f 46 4d 54 5b 62 69  "
                        "|.....#*18?FMT[bi|")
    if shutil.which("hexdump") is None:
        pytest.skip("hexdump(1) not installed for the differential half")
    path = tmp_path / "blob"
    path.write_bytes(data)
    tool = subprocess.run(["hexdump", "-C", str(path)], capture_output=True, text=True,
                          check=True).stdout.splitlines()
    assert lines == tool[:-1]  # the tool ends with the total length


def test_hexdump_window_and_base():
    data = bytes(range(64))
    lines = hexdump(data, base=0x1000, offset=16, length=20)
    assert len(lines) == 2
    assert lines[0].startswith("00001010  10 11 12 13 14 15 16 17  18 19 1a 1b 1c 1d 1e 1f  |")
    assert lines[1].startswith("00001020  20 21 22 23 ")
    assert lines[1].endswith("| !\"#|")


def test_printable_strings_match_strings(tmp_path):
    data = b"\x00\x01hello world\x00ab\x00\xffIREE module\x02xyz!\x00" + bytes(range(0, 20))
    found = printable_strings(data, min_length=4)
    assert found == [(2, "hello world"), (18, "IREE module"), (30, "xyz!")]
    if shutil.which("strings") is None:
        pytest.skip("strings(1) not installed")
    path = tmp_path / "blob"
    path.write_bytes(data)
    tool = subprocess.run(["strings", "-a", "-n", "4", "-t", "d", str(path)],
                          capture_output=True, text=True, check=True).stdout
    expected = [(int(o), s) for o, s in (line.strip().split(" ", 1) for line in tool.splitlines())]
    assert found == expected


def test_cconv_text():
    assert cconv_text("0ri_r") == "(!vm.ref<?>, i32) -> (!vm.ref<?>)"
    assert cconv_text("0v_v") == "() -> ()"
    assert cconv_text("0rIIiiCID_r") == "(!vm.ref<?>, i64, i64, i32, i32, (i64)...) -> (!vm.ref<?>)"


# -- the module explorer's data -------------------------------------------------------


@pytest.fixture(scope="module")
def mlp():
    return iree_lab.open(samples.path("mlp"))


def _ids(nodes):
    for n in nodes:
        yield n["id"]
        yield from _ids(n.get("children", ()))


def test_module_tree_lists_everything(mlp):
    tree = ModuleView(mlp).tree()
    ids = set(_ids(tree))
    assert {"metadata", "exports", "imports", "functions", "rodata", "state", "debug",
            "executables"} <= ids
    assert {f"exports/{i}" for i in range(len(mlp.exports))} <= ids
    assert {f"imports/{i}" for i in range(len(mlp.imports))} <= ids
    assert {f"functions/{i}" for i in range(len(mlp.functions))} <= ids
    assert {f"rodata/{i}" for i in range(len(mlp.rodata))} <= ids
    assert "executables/0" in ids
    exports = next(n for n in tree if n["id"] == "exports")
    assert exports["children"][0]["detail"] == mlp.exports[0].attrs["iree.abi.declaration"]


def _texts(fragment: str, cls: str) -> list[str]:
    return [html.unescape(t) for t in re.findall(rf'<span class="{cls}">(.*?)</span>', fragment)]


def test_function_node_shows_tool_lines(mlp, iree_tool):
    view = ModuleView(mlp)
    ordinal = mlp.function("loop_sum").ordinal
    fragment = view.node_html(f"functions/{ordinal}")
    tool = iree_tool("iree-dump-module", "--output=disassembly", "--bytecode_offsets",
                     "--function=loop_sum", str(samples.path("mlp"))).stdout.decode()
    want = [line for line in tool.splitlines() if line.startswith("[")]
    assert _texts(fragment, "il-text") == want
    assert "sync func @loop_sum(%input0: i32) -&gt; (%output0: i32)" in fragment
    assert 'data-pc="43"' in fragment  # 0x2B, addressable for highlighting


def test_node_html_contents(mlp):
    view = ModuleView(mlp)
    assert "@predict" in view.node_html("exports/0")
    assert "tensor&lt;1x8xf32&gt;" in view.node_html("exports/0")
    dispatch = mlp.lookup_import("hal.command_buffer.dispatch")
    imp = view.node_html(f"imports/{dispatch.ordinal}")
    assert "Call sites (1)" in imp and "vm.call.variadic @hal.command_buffer.dispatch" in imp
    meta = view.node_html("metadata")
    assert "bytecode version" in meta and "17.0" in meta and "!hal.buffer" in meta
    state = view.node_html("state")
    assert "ref globals" in state and "ref global 0" in state
    exe = view.node_html("executables/0")
    assert "vmvx-bytecode-fb" in exe and "predict_dispatch_0_matmul_1x4x8_f32" in exe
    debug = view.node_html("debug/0")
    assert "mlp.mlir" in debug


def test_rodata_node_pages_hex(mlp):
    view = ModuleView(mlp)
    segment = mlp.rodata[4]
    first = view.node_html("rodata/4")
    assert hexdump(segment.data, length=16)[0] in html.unescape(first)
    assert 'data-node="executables/0"' in first  # the blob links to its executable
    page = view.node_html("rodata/4", offset=2048)
    assert hexdump(segment.data, offset=2048, length=16)[0] in html.unescape(page)
    assert f"bytes 2048..{segment.size} of {segment.size}" in page
    strings = view.node_html("rodata/0")
    assert "hal.device.id" in strings


def test_search(mlp):
    view = ModuleView(mlp)
    ids = [r["id"] for r in view.search("loop_sum")]
    assert "exports/1" in ids and f"functions/{mlp.function('loop_sum').ordinal}" in ids
    hits = view.search("vm.cmp.lt.i64.s")
    assert hits and all("vm.cmp.lt.i64.s" in h["context"] for h in hits)
    assert any(h["id"].startswith("rodata/") for h in view.search("local*"))
    assert view.search("   ") == []
    assert view.search("no-such-thing-anywhere") == []


def test_globals_by_use(build_module):
    module = iree_lab.open(build_module("globals_vmvx"))
    use = ModuleView(module).globals_use
    assert use, "globals_vmvx loads and stores globals"
    for (kind, _), sites in use.items():
        assert kind in ("rwdata", "ref")
        assert all(op.startswith("vm.global.") for _, _, op in sites)


def test_untrusted_text_is_escaped(tmp_path, iree_tool):
    source = tmp_path / "hostile.vmasm"
    source.write_text(
        "vm.module @hostile version 1\n\n"
        "vm.export @main\n"
        "vm.func @main(%i0: i32) -> (i32) {\n"
        "^bb0:\n"
        '  vm.fail %i0, "<script>alert(1)</script>"\n'
        "}\n")
    out = tmp_path / "hostile.vmfb"
    iree_tool("iree-as-module", f"--output={out}", str(source))
    module = iree_lab.open(out)
    for fragment in (ModuleView(module).node_html("functions/0"), render_html(module),
                     render_html(isa.decode_function(module, "main"))):
        assert "<script>" not in fragment
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in ModuleView(module).node_html("functions/0")


# -- rich display ----------------------------------------------------------------------


def test_rich_html_of_module(mlp):
    fragment = render_html(mlp)
    assert "IREE VM module @module" in fragment
    for export in mlp.exports:
        assert f"@{export.local_name}" in fragment
    assert "Executables (1)" in fragment and "vmvx-bytecode-fb" in fragment
    assert "Imports (18)" in fragment
    assert "YIELD|UNWIND" in fragment  # requirements by name, not as a number


def test_rich_html_of_function_and_instructions(mlp):
    fn = isa.decode_function(mlp, "loop_sum")
    fragment = render_html(fn)
    assert _texts(fragment, "il-text")[1] == "[00000001]  %i2:3 = vm.const.i64.zero"
    assert "^bb2" in fragment and "%i3-&gt;%i2" in fragment  # an edge with its remap
    insts = render_html(list(fn)[1:3])
    assert "vm.const.i64.zero" in insts and "2 instructions" in insts
    assert "vm.return %i2" in render_html(fn.instructions[-1])
    assert "^bb1" in render_html(fn.cfg) and "4 blocks, 4 edges" in render_html(fn.cfg)
    assert "vm.cond_br" in render_html(fn.blocks[1])
    assert "sync func @loop_sum" in render_html(mlp.function("loop_sum"))
    assert render_html([1, 2]) is None and render_html([]) is None and render_html("x") is None


def test_rich_html_of_executables(mlp, build_module):
    discovery = find_executables(mlp)
    fragment = render_html(discovery[0])
    assert "predict_dispatch_0_matmul_1x4x8_f32" in fragment
    assert "vm disassembly" in fragment and "vm.func @predict_dispatch_0_matmul_1x4x8_f32" in html.unescape(fragment)
    assert "dispatched at" in fragment
    assert "1 executables" in render_html(discovery)
    cpu = find_executables(iree_lab.open(build_module("exe_llvm_cpu")))[0]
    fragment = render_html(cpu.parse())
    assert "embedded-elf-x86_64" in fragment and "x86_64 disassembly" in fragment
