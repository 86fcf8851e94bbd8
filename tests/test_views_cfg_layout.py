"""The CFG layout (widgets/cfg_layout.js), run under node on real CFGs.

Checks geometric properties of the result rather than pixels: blocks do not
overlap, forward edges go down, every edge starts and ends on its blocks'
borders, labels sit clear of blocks, the main flow of a large function stays
on a vertical spine. The same code runs in the browser (tests/browser).
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

import iree_lab
from iree_lab import isa, samples
from iree_lab.notebook._bundle import widgets_dir
from iree_lab.views import cfg_data

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node not installed: layout runs in the browser tests only")

CHAR_W, LINE_H = 7.2, 16

_RUNNER = """
import { layoutGraph } from '%s';
let input = '';
process.stdin.on('data', (d) => { input += d; });
process.stdin.on('end', () => {
  const graph = JSON.parse(input);
  process.stdout.write(JSON.stringify(layoutGraph(graph)));
});
"""


def layout(graph: dict) -> dict:
    runner = _RUNNER % (widgets_dir() / "cfg_layout.js").as_uri()
    result = subprocess.run([NODE, "--input-type=module", "-e", runner], input=json.dumps(graph),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def sized(data: dict) -> dict:
    """Node and label sizes the way the widget measures them (fixed-width font)."""
    nodes = []
    for b in data["blocks"]:
        cols = max([len(b["name"]) + 12] + [11 + len(x["text"]) for x in b["lines"]])
        nodes.append({"width": cols * CHAR_W + 16, "height": (len(b["lines"]) + 1) * LINE_H + 16})
    edges = [{"source": e["source"], "target": e["target"],
              "labelWidth": len(e["label"]) * CHAR_W if e["label"] else 0,
              "labelHeight": LINE_H if e["label"] else 0} for e in data["edges"]]
    return {"nodes": nodes, "edges": edges}


def overlap(a, b) -> bool:
    return (a["x"] < b["x"] + b["width"] - 0.5 and b["x"] < a["x"] + a["width"] - 0.5 and
            a["y"] < b["y"] + b["height"] - 0.5 and b["y"] < a["y"] + a["height"] - 0.5)


def check(graph: dict, result: dict) -> None:
    nodes = result["nodes"]
    assert len(nodes) == len(graph["nodes"])
    for i, a in enumerate(nodes):
        for b in nodes[i + 1:]:
            assert not overlap(a, b), (a, b)
    for e, route in zip(graph["edges"], result["edges"], strict=True):
        s, t = nodes[e["source"]], nodes[e["target"]]
        (x0, y0), (x1, y1) = route["points"][0], route["points"][-1]
        if route["selfLoop"]:
            continue
        if route["reversed"]:
            assert t["y"] < s["y"] and y0 == s["y"] and y1 == t["y"] + t["height"]
        else:
            assert t["y"] > s["y"] and y0 == s["y"] + s["height"] and y1 == t["y"]
        assert s["x"] <= x0 <= s["x"] + s["width"] and t["x"] <= x1 <= t["x"] + t["width"]
        # Routes move monotonically between layers.
        ys = [p[1] for p in route["points"]]
        assert ys == sorted(ys, reverse=route["reversed"])
        if route["label"]:
            for n in nodes:
                assert not overlap(route["label"], n)
    assert result["width"] >= max(n["x"] + n["width"] for n in nodes)
    assert result["height"] >= max(n["y"] + n["height"] for n in nodes)


def test_layout_of_a_loop():
    module = iree_lab.open(samples.path("mlp"))
    graph = sized(cfg_data(isa.decode_function(module, "loop_sum")))
    result = layout(graph)
    check(graph, result)
    assert result["stats"]["reversedEdges"] == 1  # the loop's back edge
    assert result["stats"]["crossings"] == 0
    ys = [n["y"] for n in result["nodes"]]
    assert ys[0] < ys[1] < ys[2] and ys[1] < ys[3]


@pytest.mark.parametrize("name", ["isa_control", "control_flow_vm", "exe_vmvx"])
def test_layout_of_compiled_functions(build_module, name):
    module = iree_lab.open(build_module(name))
    for fn in isa.decode_functions(module):
        graph = sized(cfg_data(fn))
        check(graph, layout(graph))


def test_layout_of_a_self_loop_and_parallel_edges():
    graph = {"nodes": [{"width": 120, "height": 40}, {"width": 100, "height": 60},
                       {"width": 80, "height": 30}],
             "edges": [{"source": 0, "target": 1, "labelWidth": 30, "labelHeight": 16},
                       {"source": 0, "target": 1, "labelWidth": 40, "labelHeight": 16},
                       {"source": 1, "target": 1, "labelWidth": 50, "labelHeight": 16},
                       {"source": 1, "target": 2, "labelWidth": 0, "labelHeight": 0}]}
    result = layout(graph)
    check(graph, result)
    loop = result["edges"][2]
    block = result["nodes"][1]
    assert loop["selfLoop"] and loop["label"]["x"] >= block["x"] + block["width"]
    # The two parallel edges leave from different ports.
    assert result["edges"][0]["points"][0] != result["edges"][1]["points"][0]


def test_layout_of_a_large_function(build_module):
    module = iree_lab.open(build_module("cfg_large"))
    fn = isa.decode_function(module, "big")
    graph = sized(cfg_data(fn))
    result = layout(graph)
    check(graph, result)
    stats = result["stats"]
    print(f"\ncfg_large: {len(graph['nodes'])} blocks, {stats}")
    assert stats["crossings"] <= 10
    # The main flow (the blocks that continue the outer loop) stays on one spine:
    # the graph is tall and narrow, not a diagonal.
    assert result["width"] < result["height"] / 10
