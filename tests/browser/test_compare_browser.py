"""CompareView in a real browser: JupyterLab + Chromium (Playwright).

A notebook written at test time compares chain.mlir for vmvx with its NaN
variant for llvm-cpu (tests/test_compare.py) and shows a CompareView: three
bars, the first divergence (dispatch 1) selected with its NaN outputs
highlighted; clicking dispatch 0's bar shows it agreeing.
"""

from __future__ import annotations

import json

import pytest
from conftest import REPO
from test_timeline_hal_browser import all_cells_ran, kernel_idle

pytestmark = pytest.mark.slow

CODE = [
    "import sys\nsys.path.insert(0, {tests!r})\nimport numpy as np\n"
    "from test_compare import build\n"
    "from iree_lab.debug.compare import compare_modules\n"
    "from iree_lab.notebook import CompareView\n"
    "rng = np.random.default_rng(18)\n"
    "np.save('x.npy', rng.standard_normal((8, 16)).astype(np.float32))\n"
    "np.save('w.npy', (rng.standard_normal((16, 16)) * 0.3).astype(np.float32))\n"
    "c = compare_modules([build('same', 'vmvx')], [build('nan', 'llvm_cpu')], 'main',\n"
    "                    ['@x.npy', '@w.npy'])\n"
    "print(c.first_divergence.ordinal)",
    "CompareView(c)",
]


def _notebook(path) -> None:
    cells = [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
              "source": src.format(tests=str(REPO / "tests"))} for src in CODE]
    metadata = {"kernelspec": {"display_name": "Python 3", "language": "python",
                               "name": "python3"}, "language_info": {"name": "python"}}
    path.write_text(json.dumps({"cells": cells, "metadata": metadata, "nbformat": 4,
                                "nbformat_minor": 5}))


def test_compare_view_in_a_notebook(jupyter_lab, lab_root, browser_context, artifacts,
                                    publish_screenshot):
    _notebook(lab_root / "compare_view_test.ipynb")
    page = browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(jupyter_lab.notebook_url("compare_view_test.ipynb"), wait_until="domcontentloaded",
              timeout=120_000)
    kernel_idle(page)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    all_cells_ran(page)
    view = page.locator(".il-compare").first
    view.locator(".il-compare-bar").first.wait_for()
    assert view.locator(".il-compare-bar").count() == 3
    page.wait_for_function("document.querySelector('.il-compare').dataset.detail === '1'")
    binding0 = view.locator('.il-hal-binding[data-binding="0"]')
    highlighted = binding0.locator(".il-changed").all_inner_texts()
    # 128 elements differ, highlighted on both sides (A's numbers, B's NaNs).
    assert len(highlighted) == 256 and highlighted.count("nan") == 128
    view.scroll_into_view_if_needed()
    shot = artifacts / "compare_view.png"
    page.screenshot(path=str(shot), full_page=False)
    publish_screenshot(shot, "compare_view.png")

    view.locator('.il-compare-bar[data-ordinal="0"]').click()
    page.wait_for_function("document.querySelector('.il-compare').dataset.detail === '0'")
    assert view.locator(".il-changed").count() == 0
    assert "outputs agree" in view.locator(".il-detail-title").inner_text()
    assert errors == []
    page.close()
