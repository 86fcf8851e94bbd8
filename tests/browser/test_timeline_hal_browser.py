"""TimelineView and HALView in a real browser: JupyterLab + Chromium (Playwright).

Runs tour notebooks 04 (HAL submissions) and 03 (suspend and resume) top to
bottom in JupyterLab. HALView: the dispatches are listed with their export
names; clicking one shows each binding's contents before and after, and the
values equal what the kernel printed for that call (its iree-run-module-style
results); another element type re-reads the bytes. TimelineView: fiber lanes,
queue operations and dispatches are drawn; hovering shows their details;
zoom, the clock toggle and a click reach the kernel.
"""

from __future__ import annotations

import json
import re
import struct
import time

import pytest

pytestmark = pytest.mark.slow

RUN_TIMEOUT_MS = 180_000


NOTEBOOKS = ("04_hal_submissions.ipynb", "03_suspend_resume.ipynb")


def kernel_idle(page) -> None:
    page.wait_for_function("""() => {
        const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
        const k = w && w.sessionContext && w.sessionContext.session &&
                  w.sessionContext.session.kernel;
        return k && k.connectionStatus === 'connected' && k.status === 'idle';
    }""", timeout=120_000)


def all_cells_ran(page) -> None:
    page.wait_for_function("""() => {
        const w = window.jupyterapp.shell.currentWidget;
        const cells = w.content.widgets.filter((c) => c.model.type === 'code');
        return w.sessionContext.session.kernel.status === 'idle' &&
               cells.every((c) => c.model.executionCount !== null);
    }""", timeout=RUN_TIMEOUT_MS, polling=250)


@pytest.fixture(scope="module")
def running(jupyter_lab, browser_context):
    """Both notebooks open in their own tab, 'run all' started in each: their kernels
    start and run side by side. name -> (page, page errors)."""
    pages = {}
    for name in NOTEBOOKS:
        page = browser_context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
        page.goto(jupyter_lab.notebook_url(name), wait_until="domcontentloaded", timeout=120_000)
        pages[name] = (page, errors)
    for page, _ in pages.values():
        kernel_idle(page)
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    yield pages
    for page, _ in pages.values():
        page.close()


def run_code(page, code: str) -> str:
    """Appends a cell with ``code``, runs it and returns its output text."""
    page.evaluate("""(code) => {
        const nb = window.jupyterapp.shell.currentWidget.content;
        nb.activeCellIndex = nb.widgets.length - 1;
        return window.jupyterapp.commands.execute('notebook:insert-cell-below').then(() => {
            nb.activeCell.model.sharedModel.setSource(code);
        });
    }""", code)
    page.wait_for_function("(code) => window.jupyterapp.shell.currentWidget.content.activeCell"
                           ".model.sharedModel.getSource() === code", arg=code)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-cell')")
    page.wait_for_function("""() => {
        const w = window.jupyterapp.shell.currentWidget;
        const last = w.content.widgets[w.content.widgets.length - 1];
        return w.sessionContext.session.kernel.status === 'idle' &&
               last.model.executionCount !== null;
    }""", timeout=60_000)
    outputs = page.locator(".jp-Notebook .jp-Cell").last.locator(".jp-OutputArea-output")
    return outputs.inner_text() if outputs.count() else ""


def printed_results(page) -> list[list[str]]:
    """The result values the notebook's first code cell printed (``1x4xf32=[...]``)."""
    text = page.locator(".jp-Notebook .jp-CodeCell").first.locator(".jp-OutputArea-output") \
        .inner_text()
    return [m.split() for m in re.findall(r"1x4xf32=\[([^\]]*)\]", text)]


def test_hal_view_in_notebook_04(running, artifacts, publish_screenshot):
    page, errors = running["04_hal_submissions.ipynb"]
    page.bring_to_front()
    all_cells_ran(page)
    results = printed_results(page)
    assert len(results) == 2 and results[0] == ["10.1", "13.55", "11.3", "14.6"], results

    hal = page.locator(".il-hal").first
    hal.locator(".il-hal-dispatch").first.wait_for()
    hal.scroll_into_view_if_needed()
    rows = hal.locator(".il-hal-dispatch")
    assert rows.count() == 2
    exports = hal.locator(".il-hal-dispatch .il-hal-export").all_inner_texts()
    assert exports == ["predict_dispatch_0_matmul_1x4x8_f32"] * 2
    assert hal.locator(".il-hal-op").count() == 4
    assert "s0\u22651" in hal.locator('.il-hal-op[data-id="op:0:1"] .il-hal-wait').inner_text()

    # Click the first call's dispatch: a kernel round trip, then typed contents.
    start = time.perf_counter()
    hal.locator('.il-hal-dispatch[data-id="dispatch:0"]').click()
    page.wait_for_function("document.querySelector('.il-hal').dataset.detail === 'dispatch:0'")
    hal.locator('.il-hal-binding[data-binding="1"] .il-after .il-val').first.wait_for()
    click_ms = (time.perf_counter() - start) * 1000
    binding1 = hal.locator('.il-hal-binding[data-binding="1"]')
    binding0 = hal.locator('.il-hal-binding[data-binding="0"]')
    after = binding1.locator(".il-after .il-val").all_inner_texts()
    assert after == results[0]  # the values the kernel printed for this call
    assert binding1.locator(".il-before .il-val").all_inner_texts() == ["0.0"] * 4
    assert binding1.locator(".il-after .il-val.il-changed").count() == 4
    assert binding0.locator(".il-before .il-val").all_inner_texts() == \
        [f"{v}.0" for v in range(1, 9)]  # the input, unchanged
    assert binding0.locator(".il-val.il-changed").count() == 0
    assert "buffer view #1" in binding1.locator(".il-hal-binding-head").inner_text()
    facts = hal.locator(".il-hal-facts").inner_text()
    assert "1×1×1" in facts and "vmvx-bytecode-fb" in facts

    # Read the result as hex instead: the float32 bytes, little-endian.
    binding1.locator("select").select_option("hex")
    page.wait_for_function("""() => {
        const b = document.querySelector('.il-hal-binding[data-binding="1"]');
        return b && b.querySelectorAll('.il-after .il-val').length === 16;
    }""")
    hex_after = hal.locator('.il-hal-binding[data-binding="1"] .il-after .il-val') \
        .all_inner_texts()
    expected = struct.pack("<4f", *(float(v) for v in results[0])).hex()
    assert "".join(hex_after) == expected

    # The second call: its dispatch's result is the second printed result.
    hal.locator('.il-hal-dispatch[data-id="dispatch:1"]').click()
    page.wait_for_function("document.querySelector('.il-hal').dataset.detail === 'dispatch:1'")
    page.wait_for_function("""() => document.querySelectorAll(
        '.il-hal-binding[data-binding="1"] .il-after .il-val').length === 4""")
    assert hal.locator('.il-hal-binding[data-binding="1"] .il-after .il-val') \
        .all_inner_texts() == results[1]

    # A submission: what satisfied its wait and who waited for its signal.
    hal.locator('.il-hal-op[data-id="op:0:1"]').click()
    page.wait_for_function("document.querySelector('.il-hal').dataset.detail === 'op:0:1'")
    facts = hal.locator(".il-hal-facts").inner_text()
    assert "s0 ≥ 1 ← q0 alloca" in facts and "hal.fence#1" in facts, facts
    # The kernel sees the selection.
    assert run_code(page, "print(hal_view.selected)").strip() == "op:0:1"

    hal.locator('.il-hal-dispatch[data-id="dispatch:0"]').click()
    page.wait_for_function("document.querySelector('.il-hal').dataset.detail === 'dispatch:0'")
    hal.locator('.il-hal-binding[data-binding="1"] .il-after .il-val').first.wait_for()
    shot = artifacts / "hal_view.png"
    hal.screenshot(path=str(shot))
    publish_screenshot(shot, "hal_view.png")
    print(f"\nHALView click -> kernel -> contents on screen: {click_ms:.0f} ms")
    assert not errors, errors


def test_timeline_view_in_notebook_03(running, artifacts, publish_screenshot):
    page, errors = running["03_suspend_resume.ipynb"]
    page.bring_to_front()
    all_cells_ran(page)
    tl = page.locator(".il-timeline").first
    tl.locator("rect.il-tl-op").first.wait_for()
    tl.scroll_into_view_if_needed()

    # Lanes: three fibers and the device's queue.
    lanes = tl.locator(".il-tl-lane-label")
    assert [lanes.nth(i).get_attribute("data-lane") for i in range(lanes.count())] == \
        ["fiber:0", "fiber:1", "fiber:2", f"queue:0:{2**64 - 1}"]
    assert tl.locator(".il-tl-lane-fiber").all_inner_texts()[0].startswith("0 A")
    assert tl.locator("rect.il-tl-op").count() == 12
    assert tl.locator("rect.il-tl-dispatch").count() == 3
    assert tl.locator("rect.il-tl-span.il-tl-class-running").count() == 5
    assert tl.locator("rect.il-tl-span.il-tl-class-waiting").count() == 2
    assert tl.locator("circle.il-tl-marker").count() == 3
    assert tl.locator("path.il-tl-link-signal").count() == 2
    legend = tl.locator(".il-tl-legend").inner_text()
    assert "fiber waiting" in legend and "queue execute" in legend and "dispatch" in legend

    # Hover: an operation deferred behind another fiber's fence, a dispatch, a wait.
    tip = tl.locator(".il-tl-tip")
    start = time.perf_counter()
    tl.locator('[data-id="op:0:4"][data-kind="op"]').hover()
    tip.locator(".il-tl-tip-title", has_text="q4 alloca").wait_for()
    hover_ms = (time.perf_counter() - start) * 1000
    text = tip.inner_text()
    assert "s0>=1 (hal.fence#" in text, text
    assert re.search(r"steps\s+1\.\d+ / 2\.\d+ / 2\.\d+", text), text
    assert "deferred" in text
    tl.locator('[data-id="dispatch:2"]').hover()
    tip.locator(".il-tl-tip-title", has_text="dispatch total_dispatch_0_reduction_4_i32").wait_for()
    assert "q2 execute" in tip.inner_text()
    waiting_b = tl.locator('rect.il-tl-span.il-tl-class-waiting[data-id^="span:1:"]')
    waiting_b.hover()
    tip.locator(".il-tl-tip-title", has_text="1 B: waiting").wait_for()
    text = tip.inner_text()
    assert "hal.semaphore #10 >= 1" in text and "q7 dealloca" in text, text
    page.mouse.move(0, 0)

    # A click selects the item in the kernel.
    start = time.perf_counter()
    # (its top edge: the dispatch bar covers the middle)
    tl.locator('[data-id="op:0:6"][data-kind="op"]').click(position={"x": 1, "y": 3})
    tl.locator('[data-id="op:0:6"].il-selected').wait_for()
    assert run_code(page, "print(timeline_view.selected_item['label'])").strip() == "q6 execute"
    click_ms = (time.perf_counter() - start) * 1000

    # Zoom (wheel) narrows the window; the kernel gets it.
    plot = tl.locator("svg.il-tl-svg")
    plot.scroll_into_view_if_needed()
    box = plot.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.55, box["y"] + 20)
    page.mouse.wheel(0, -400)
    page.wait_for_timeout(400)  # the window is synced after a short pause
    window = json.loads(run_code(page, "import json; print(json.dumps(timeline_view.window))"))
    assert len(window) == 2 and 0 < window[1] - window[0] < 5.0, window
    # Python drives the window too: show steps 1.8 .. 4.2.
    run_code(page, "timeline_view.window = [1.8, 4.2]")
    page.wait_for_function("() => /1\\.80 \u2013 4\\.20/.test(document.querySelector("
                           "'.il-timeline .il-tl-status').textContent)")
    shot = artifacts / "timeline_view.png"
    tl.screenshot(path=str(shot))
    publish_screenshot(shot, "timeline_view.png")

    # The wall clock: another axis, the same items.
    tl.locator('.il-tab[data-clock="wall"]').click()
    tl.locator(".il-tl-axis-label", has_text="ms since the scheduler was created").wait_for()
    assert tl.locator("rect.il-tl-op").count() == 12
    assert run_code(page, "print(timeline_view.clock)").strip() == "wall"
    tl.locator('.il-tab[data-clock="step"]').click()
    tl.locator(".il-tl-axis-label", has_text="scheduler step").wait_for()
    draw_ms = float(tl.evaluate("(e) => e.dataset.drawMs"))

    # A bigger timeline: 8 fibers x 150 yields (about 2,400 spans) drawn and redrawn on zoom.
    run_code(page, "big = Scheduler(vm.Context([Host(), module]))\n"
                   "for i in range(8):\n    big.spawn('worker', i, 150, name=f'W{i}')\n"
                   "big.run()\nbig_view = TimelineView(big)\nbig_view")
    big = page.locator(".il-timeline").last
    big.locator(".il-tl-lane-label").nth(7).wait_for()
    page.wait_for_function("() => { const t = document.querySelectorAll('.il-timeline');"
                           " return t[t.length - 1].dataset.drawMs !== undefined; }")
    spans = big.locator("rect.il-tl-span").count()
    assert spans > 2000, spans
    first_ms = float(big.evaluate("(e) => e.dataset.drawMs"))
    big.locator("svg.il-tl-svg").scroll_into_view_if_needed()
    box = big.locator("svg.il-tl-svg").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 10)
    before = big.locator(".il-tl-status").inner_text()
    page.mouse.wheel(0, -300)
    page.wait_for_function("(b) => { const t = document.querySelectorAll('.il-timeline');"
                           " return t[t.length - 1].querySelector('.il-tl-status').textContent"
                           " !== b; }", arg=before)
    zoom_ms = float(big.evaluate("(e) => e.dataset.drawMs"))
    print(f"\nTimelineView: hover -> details on screen {hover_ms:.0f} ms (no kernel round trip); "
          f"click -> selection in the kernel (incl. running a cell) {click_ms:.0f} ms; "
          f"redraw {draw_ms:.1f} ms; {spans} spans: first draw {first_ms:.0f} ms, "
          f"redraw on zoom {zoom_ms:.0f} ms")
    assert not errors, errors


INLINE_CELL = """
import numpy as np
from iree_lab import vm
from iree_lab.hal import Recorder, io, tooling
from iree_lab.notebook.hal_view import HALView
from iree_lab.testing import corpus
_path = corpus.build(corpus.Program(
    "hal_inline_elementwise", "hal/elementwise.mlir",
    tuple(corpus._LOCAL_VMVX + ["--iree-execution-model=inline-dynamic"])))
inline_recorder = Recorder(capture_buffers=True)
_user = vm.BytecodeModule.load(_path)
_session = tooling.Session.for_modules([_user], recorder=inline_recorder)
_ctx = vm.Context(_session.modules + [_user])
_args = [io.buffer_view_from_numpy(np.arange(16, dtype=np.float32), _session.device),
         io.buffer_view_from_numpy(np.full(16, 0.5, np.float32), _session.device)]
(_out,) = _ctx.call_function(_ctx.lookup_function("chain"), _args)
print(" ".join(f"{v:g}" for v in _out.to_numpy()))
inline_view = HALView(inline_recorder)
"""


def test_hal_view_lists_inline_dispatches(running):
    """hal_loader dispatches (no queue operation) get their own group; a click shows
    the output binding holding the values the call returned."""
    page, errors = running["04_hal_submissions.ipynb"]
    page.bring_to_front()
    all_cells_ran(page)
    printed = run_code(page, INLINE_CELL).split()
    assert len(printed) == 16
    run_code(page, "inline_view")
    hal = page.locator(".jp-Notebook .jp-Cell").last.locator(".il-hal")
    hal.locator(".il-hal-dispatch").first.wait_for()
    assert "Inline dispatches (1)" in hal.locator(".il-hal-group").all_inner_texts()
    assert hal.locator(".il-hal-op").count() == 0
    assert hal.locator(".il-hal-dispatch .il-hal-export").all_inner_texts() == [
        "chain_dispatch_0_elementwise_16_f32"]
    hal.locator('.il-hal-dispatch[data-id="dispatch:0"]').click()
    page.wait_for_function("""() => {
        const hals = document.querySelectorAll('.il-hal');
        return hals[hals.length - 1].dataset.detail === 'dispatch:0'; }""")
    after = hal.locator('.il-hal-binding[data-binding="2"] .il-after .il-val')
    after.first.wait_for()
    assert [f"{float(v):g}" for v in after.all_inner_texts()] == printed
    assert not errors, errors
