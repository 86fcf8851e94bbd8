"""CompareView's data (iree_lab.views.compare_data) and widget, without a browser.

The comparison: chain.mlir for vmvx against its NaN variant for llvm-cpu
(tests/test_compare.py), so dispatch 0 agrees within tolerance, dispatch 1 is
the first divergence (every written element NaN) and dispatch 2 diverges with
differing inputs.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
from test_compare import build, inputs  # noqa: F401 (fixture)

from iree_lab.debug import compare as cmp
from iree_lab.views import compare_data as cd


@pytest.fixture(scope="module")
def comparison(inputs):  # noqa: F811
    c = cmp.compare_modules([build("same", "vmvx")], [build("nan", "llvm_cpu")], "main",
                            [i.removeprefix("--input=") for i in inputs])
    yield c
    c.cleanup()


def test_rows_and_verdict(comparison):
    data = cd.compare_view_data(comparison)
    json.dumps(data)  # what the widget syncs must be JSON (no inf)
    rows = data["dispatches"]
    assert [r["ordinal"] for r in rows] == [0, 1, 2]
    assert rows[0]["outputs_agree"] and rows[0]["inputs_agree"]
    assert 0 < rows[0]["max_rel"] < 1e-4  # vmvx vs llvm-cpu rounding
    assert rows[1]["first_divergence"] and rows[1]["max_rel"] is None  # NaN
    assert (rows[1]["differing"], rows[1]["compared"], rows[1]["nan_inf"]) == (128, 128, 128)
    assert not rows[2]["inputs_agree"] and not rows[2]["first_divergence"]
    assert data["first_divergence"] == 1
    assert data["verdict"] == ["first divergence: dispatch 1 main_dispatch_1_matmul_8x16x16_f32"]


def test_selection_shows_both_sides_with_differences(comparison):
    detail = cd.compare_selection(comparison, 1)
    assert [b["role"] for b in detail["bindings"]] == ["output", "input", "alias"]
    out = detail["bindings"][0]
    after_a = np.frombuffer(comparison.a.recorder.after(1, 0), np.float32)
    assert [np.float32(v) for v in out["a"]] == list(after_a)
    assert out["b"][128:] == ["nan"] * 128
    assert out["differ"] == list(range(128, 256))  # only the half the dispatch wrote
    assert detail["bindings"][1]["differ"] == [] and detail["bindings"][1]["role"] == "input"
    assert cd.compare_selection(comparison, 7) == {}
    capped = cd.compare_selection(comparison, 1, max_elements=10)["bindings"][0]
    assert len(capped["a"]) == 10 and capped["note"] == "first 10 of 256 elements"


def test_compare_view_widget(comparison):
    pytest.importorskip("anywidget")
    from iree_lab.notebook import CompareView

    view = CompareView(comparison)
    assert view.selected == 1 and view.detail["ordinal"] == 1  # the first divergence
    assert view.select(0)["outputs_agree"] is True
    assert "export default" in view._esm and "barLevel" in view._esm
    with pytest.raises(TypeError):
        CompareView(object())


@pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")
def test_bar_levels_under_node(tmp_path):
    from iree_lab.notebook._bundle import bundle

    (tmp_path / "cv.mjs").write_text(bundle("compare_view.js"))
    script = ("import('./cv.mjs').then(m => console.log(JSON.stringify("
              "[m.barLevel(1e-3, 0), m.barLevel(0, 0), m.barLevel(null, 2)])))")
    out = subprocess.run(["node", "-e", script], cwd=tmp_path, capture_output=True, text=True,
                         check=True).stdout
    assert json.loads(out) == [-3, -12, 3]
