"""The notebook on model-sized modules, in JupyterLab + Chromium, as a new user meets it.

The modules are corpus.MODELS (a ResNet-18: 28 dispatches, 47 MB of weights; a GPT-2-style
transformer), compiled here for llvm-cpu and vmvx and put in the folder JupyterLab serves. The
test double-clicks a .vmfb in the file browser (the iree-lab-vmfb extension opens it in a
notebook with a ModuleExplorer), then drives every widget on it: search, collapse, CFG fit,
the export list, a dispatch, debugger steps, a HAL recording with hundreds of dispatches and
thousands of hal calls, with a progress bar. It checks that no pane clips its content without
a scroll bar and that nothing was typeset as math (every dispatch name holds a `$`), and
prints how long things take (never asserted). Screenshots go to test-artifacts/ (docs/ with
IREE_LAB_UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_debugger_browser import ROUND_TRIP_JS
from test_notebook_browser import wait_idle

from iree_lab.testing import corpus

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "programs"))
import gen_cfg_large  # noqa: E402

RUNS = 1500  # sample predictions recorded for HALView: 1,500 dispatches, ~15,000 hal calls

pytestmark = pytest.mark.slow

# Elements inside a widget that hide overflowing content with no way to scroll to it. The CFG
# viewport and the timeline are pan/zoom canvases (clipping there is the design).
CLIPPED_JS = """(root) => {
  const bad = [];
  const name = (el) => el.tagName.toLowerCase() + '.' + [...el.classList].join('.');
  for (const el of [root, ...root.querySelectorAll('*')]) {
    if (!el.offsetParent && el !== root) continue;  // not displayed
    if (el.closest('.il-cfg-viewport') || el.closest('.il-tl-body')) continue;
    const cs = getComputedStyle(el);
    if (cs.display === 'inline') continue;
    const clipX = cs.overflowX === 'hidden' || cs.overflowX === 'clip';
    const clipY = cs.overflowY === 'hidden' || cs.overflowY === 'clip';
    if (clipX && el.scrollWidth > el.clientWidth + 1) bad.push(`${name(el)} clips ${el.scrollWidth - el.clientWidth}px wide`);
    if (clipY && el.scrollHeight > el.clientHeight + 1) bad.push(`${name(el)} clips ${el.scrollHeight - el.clientHeight}px tall`);
  }
  // The widget itself must fit the output area that holds it (which clips).
  const area = root.closest('.jp-OutputArea-output');
  if (area && root.getBoundingClientRect().right > area.getBoundingClientRect().right + 1) bad.push('widget wider than its output area');
  for (const b of root.querySelectorAll('.il-cfg-block')) {
    if (b.scrollWidth > b.clientWidth + 1) bad.push(`CFG block ${b.dataset.block} clips its text`);
  }
  return bad;
}"""

# What MathJax leaves behind when it typesets.
MATH_JS = """() => document.querySelectorAll('mjx-container, .MathJax, .MathJax_Display, mjx-math').length"""


def open_from_file_browser(page, lab, name: str, open_with: bool = False) -> float:
    """Double-clicks ``name`` in the file browser (or picks Open With -> iree_lab from its
    context menu); returns seconds until the ModuleExplorer's tree is on screen in the
    notebook the extension opened."""
    item = page.locator(f'.jp-DirListing-item[data-file-type="iree-vmfb"]:has-text("{name}")')
    item.wait_for(timeout=120_000)
    start = time.perf_counter()
    if open_with:
        item.click(button="right")
        page.locator(".lm-Menu-item", has_text="Open With").hover()
        page.locator(".lm-Menu-item", has_text="iree_lab").click()
    else:
        item.dblclick()
    page.wait_for_function("""(path) => {
        const w = window.jupyterapp.shell.currentWidget;
        return w && w.context && w.context.path === path && w.content && w.content.widgets;
    }""", arg=name + ".ipynb", timeout=120_000)
    page.wait_for_function("""() => {
        const s = window.jupyterapp.shell.currentWidget.sessionContext.session;
        return s && s.kernel && s.kernel.connectionStatus === 'connected';
    }""", timeout=120_000)
    wait_idle(page)
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .il-explorer .il-node-row").first.wait_for(
        timeout=120_000)
    elapsed = time.perf_counter() - start
    # The extension saves the notebook it ran: closing it asks nothing.
    page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty",
                           timeout=30_000)
    assert (lab.root / (name + ".ipynb")).exists()
    return elapsed


def run_code(page, code: str) -> str:
    """Appends a cell with ``code`` to the current notebook, runs it, returns its outputs'
    text."""
    count = page.evaluate("""(code) => {
        const nb = window.jupyterapp.shell.currentWidget.content;
        nb.activeCellIndex = nb.widgets.length - 1;
        return window.jupyterapp.commands.execute('notebook:insert-cell-below').then(() => {
            nb.activeCell.model.sharedModel.setSource(code);
            return nb.widgets.length;
        });
    }""", code)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-cell')")
    page.wait_for_function("""(count) => {
        const w = window.jupyterapp.shell.currentWidget;
        const cell = w.content.widgets[count - 1];
        return w.sessionContext.session.kernel.status === 'idle' &&
               cell.model.executionCount !== null;
    }""", arg=count, timeout=120_000)
    cell = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell").nth(count - 1)
    return "\n".join(cell.locator(".jp-OutputArea-output").all_inner_texts())


def check_widget(page, locator, what: str) -> None:
    bad = locator.evaluate(CLIPPED_JS)
    assert not bad, f"{what}: {bad}"
    assert page.evaluate(MATH_JS) == 0, f"{what}: something was typeset as math"


def test_models_in_jupyterlab(models_lab, browser_context, artifacts, publish_screenshot):
    page = browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(models_lab.lab_url(), wait_until="domcontentloaded", timeout=120_000)
    page.wait_for_function("window.jupyterapp && window.jupyterapp.shell", timeout=120_000)
    # No "news" question over the page.
    page.locator(".jp-DirListing-item").first.wait_for(timeout=120_000)
    assert page.locator(".jp-toast-message", has_text="news").count() == 0

    # -- Open the ResNet-18 (llvm-cpu) from the file browser -----------------------------
    seconds = open_from_file_browser(page, models_lab, "resnet18_llvm_cpu.vmfb")
    print(f"\nresnet18_llvm_cpu.vmfb (45 MB): double-click -> ModuleExplorer tree on screen "
          f"{seconds:.1f} s (kernel start included)")
    page.screenshot(path=str(artifacts / "models_opened.png"))
    nb = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    explorer = nb.locator(".il-explorer").first
    # One naming rule: the tools' names, ordinals alongside; `$` shown as typed, not math.
    functions = explorer.locator('.il-node-row[data-node^="functions/"]')
    labels = functions.locator(".il-node-label").all_text_contents()
    assert labels == ["@__init", "@main$async", "@__init"], labels
    assert functions.locator(".il-node-detail").first.inner_text().startswith("#0 ")
    check_widget(page, explorer, "ModuleExplorer")

    # Search (a kernel round trip) for a dispatch.
    start = time.perf_counter()
    explorer.locator(".il-search").fill("dispatch_17")
    explorer.locator(".il-result").first.wait_for()
    print(f"ModuleExplorer search 'dispatch_17': {(time.perf_counter() - start) * 1000:.0f} ms "
          f"({explorer.locator('.il-result').count()} matches; includes the 200 ms debounce)")
    assert "main$async_dispatch_17" in explorer.locator(".il-results").inner_text()
    explorer.locator(".il-search").fill("")
    # Collapse and expand a group.
    group = explorer.locator('.il-node-row[data-node="functions"]')
    group.locator(".il-twisty").click()
    assert not functions.first.is_visible()
    group.locator(".il-twisty").click()
    functions.first.wait_for()
    # The entry point, its CFG fitted.
    start = time.perf_counter()
    explorer.locator('.il-node-row[data-node="functions/1"]').click()
    explorer.locator(".il-detail-title", has_text="main$async").wait_for()
    print(f"ModuleExplorer select @main$async: {(time.perf_counter() - start) * 1000:.0f} ms")
    explorer.locator(".il-tab", has_text="CFG").click()
    explorer.locator(".il-detail-cfg .il-cfg-block").first.wait_for()
    explorer.locator(".il-detail-cfg .il-btn", has_text="fit").click()
    assert_blocks_in_view(explorer.locator(".il-detail-cfg"))
    explorer.locator(".il-tab", has_text="details").click()
    check_widget(page, explorer, "ModuleExplorer (function)")
    shot = artifacts / "module_explorer.png"
    explorer.screenshot(path=str(shot))
    publish_screenshot(shot, "module_explorer.png")

    # -- The rich display of the module (HTML output: the place JupyterLab typesets) --------
    run_code(page, "explorer.module")
    rich = nb.locator(".jp-OutputArea-output .iree-lab", has_text="main$async").last
    rich.wait_for()
    assert page.evaluate(MATH_JS) == 0, "the rich display was typeset as math"
    assert "main$async" in rich.inner_text()
    check_widget(page, rich, "rich display of the module")

    # -- BlobView: every export, searchable; a dispatch's code --------------------------------
    start = time.perf_counter()
    run_code(page, "from iree_lab.notebook import BlobView\nblob = BlobView(explorer.module)\nblob")
    blob = nb.locator(".il-blob").last
    blob.locator(".il-tab", has_text="exports").click()
    rows = blob.locator("tr.il-export-row")
    rows.first.wait_for()
    print(f"BlobView of the llvm-cpu executable: {(time.perf_counter() - start) * 1000:.0f} ms")
    assert rows.count() == 28
    blob.locator(".il-blob-exports-tools .il-search").fill("conv_512")
    assert 0 < rows.count() < 28
    assert all("conv_512" in t for t in rows.locator("td:nth-child(2)").all_text_contents())
    check_widget(page, blob, "BlobView (exports)")
    rows.first.click()
    blob.locator(".il-blob-listing pre").first.wait_for()
    blob.locator(".il-tab", has_text="exports").click()
    blob.locator(".il-blob-exports-tools .il-search").fill("")
    assert rows.count() == 28
    check_widget(page, blob, "BlobView (exports, all)")
    shot = artifacts / "blob_view.png"
    blob.screenshot(path=str(shot))
    publish_screenshot(shot, "blob_view.png")

    # -- CFGView of the function with the most instructions: opens readable -----------------
    run_code(page, "from iree_lab.notebook import CFGView\ncfg = CFGView(explorer.module)\ncfg")
    cfg = nb.locator(".il-cfg").last
    cfg.locator(".il-cfg-block").first.wait_for()
    page.wait_for_function("(el) => el.dataset.drawMs", arg=cfg.element_handle())
    print(f"CFGView (largest function, {cfg.locator('.il-cfg-inst').count()} instructions): "
          f"drawn in {float(cfg.get_attribute('data-draw-ms')):.0f} ms")
    assert_entry_readable(cfg)
    cfg.locator(".il-btn", has_text="fit").click()
    assert_blocks_in_view(cfg)
    check_widget(page, cfg, "CFGView")

    # -- A 3,000-instruction function: opens at the entry block, readable; fit shows all ---
    vmasm = models_lab.root / "cfg_3000.vmasm"
    vmasm.write_text(gen_cfg_large.generate(3000))
    subprocess.run([corpus.tool_path("iree-as-module"), f"--output={vmasm.with_suffix('.vmfb')}",
                    str(vmasm)], check=True)
    run_code(page, "big = CFGView('cfg_3000.vmfb', 'big', height=600)\nbig")
    big = nb.locator(".il-cfg").last
    page.wait_for_function("(el) => el.dataset.drawMs", arg=big.element_handle(), timeout=60_000)
    count = big.locator(".il-cfg-inst").count()
    assert count >= 2900
    print(f"CFGView of a {count}-instruction function: drawn in "
          f"{float(big.get_attribute('data-draw-ms')):.0f} ms")
    facts = assert_entry_readable(big)
    assert facts["scale"] >= 0.5 and "fit" in big.locator(".il-cfg-status").inner_text()
    check_widget(page, big, "CFGView (3,000 instructions)")
    shot = artifacts / "cfg_view.png"
    big.screenshot(path=str(shot))
    publish_screenshot(shot, "cfg_view.png")
    big.locator(".il-btn", has_text="fit").click()
    assert_blocks_in_view(big)

    # -- DebuggerPanel on the ResNet-18 (vmvx): steps ------------------------------------
    start = time.perf_counter()
    run_code(page, "from iree_lab.notebook import DebuggerPanel\n"
                   "panel = DebuggerPanel('resnet18_vmvx.vmfb', 'main$async', "
                   "['1x3x224x224xf32=0'])\npanel")
    panel = nb.locator(".il-debugger").last
    panel.locator(".il-cfg-block").first.wait_for()
    print(f"DebuggerPanel on resnet18_vmvx.vmfb (launch + first draw): "
          f"{(time.perf_counter() - start):.1f} s")
    times = [page.evaluate(ROUND_TRIP_JS, [0, "step", None]) for _ in range(5)]
    print(f"DebuggerPanel step round trips (ms): {', '.join(f'{t:.0f}' for t in times)}")
    assert panel.get_attribute("data-pc") not in (None, "-1")
    where = panel.locator(".il-dbg-where").inner_text()
    assert "main$async" in where and "(ordinal 1)" in where, where
    stack = panel.locator(".il-dbg-frame").first.inner_text()
    assert "main$async" in stack and "(ordinal 1)" in stack, stack
    check_widget(page, panel, "DebuggerPanel")
    shot = artifacts / "debugger_panel.png"
    panel.screenshot(path=str(shot))
    publish_screenshot(shot, "debugger_panel.png")

    # A command that runs for seconds shows a bar with the time taken, gone when it ends.
    run_code(page, "from iree_lab import samples\n"
                   "loop = DebuggerPanel(samples.path('mlp'), 'loop_sum', ['6000000'])\nloop")
    loop = nb.locator(".il-debugger").last
    loop.locator(".il-cfg-block").first.wait_for()
    loop.locator('.il-dbg-btn[data-command="continue"]').click()
    page.wait_for_function("(el) => el.dataset.lastRunMs", arg=loop.element_handle(),
                           timeout=120_000)
    ran_ms = int(loop.get_attribute("data-last-run-ms"))
    shown = loop.get_attribute("data-progress-shown") == "1"
    print(f"DebuggerPanel continue through loop_sum(6000000): {ran_ms / 1000:.1f} s "
          f"(progress bar {'shown' if shown else 'not shown'})")
    assert shown == (ran_ms >= 1200) or 1000 <= ran_ms < 1200
    assert loop.locator(".il-dbg-progress").is_hidden()

    # -- A long recording with a progress bar; HALView and TimelineView of it --------------
    start = time.perf_counter()
    run_code(page, f"""from IPython.display import display
from iree_lab import samples, vm
from iree_lab.hal import Recorder, Session
from iree_lab.notebook import HALView, ProgressBar, TimelineView
user = vm.BytecodeModule.load(samples.path("mlp"))
recorder = Recorder()
session = Session.for_modules([user], recorder=recorder)
context = vm.Context(session.modules + [user])
predict = context.lookup_function("predict")
bar = ProgressBar("recording {RUNS} predictions", total={RUNS})
display(bar)
with bar:
    for i in range({RUNS}):
        context.call_function(predict, session.parse_inputs(predict.cconv.arguments,
                                                            [f"1x8xf32={{i}}"]))
        bar(i + 1)
print(len(recorder.calls), "hal calls,", len(recorder.dispatches), "dispatches,",
      bar.elapsed_s, "s")""")
    progress = nb.locator(".il-progress").last
    progress.wait_for(state="attached")
    elapsed = float(run_code(page, "print(bar.elapsed_s)").strip())
    assert progress.get_attribute("data-state") == "done"
    # Shown exactly when the work took a second or more.
    assert progress.is_visible() == (elapsed >= 1.0), elapsed
    print(f"recording {RUNS} predictions: {elapsed:.1f} s in the kernel "
          f"(progress bar {'shown' if elapsed >= 1.0 else 'not shown: under a second'})")

    start = time.perf_counter()
    run_code(page, "hal = HALView(recorder)\nhal")
    hal = nb.locator(".il-hal").last
    hal.locator(".il-hal-row").first.wait_for()
    print(f"HALView of {RUNS} dispatches: on screen "
          f"{(time.perf_counter() - start) * 1000:.0f} ms after the cell ran")
    drawn = hal.locator(".il-hal-row, .il-hal-command, .il-hal-group").count()
    assert drawn < 200, f"{drawn} rows in the DOM: the list is not virtual"
    assert f"{RUNS} dispatches" in hal.locator(".il-hal-summary").inner_text()
    hal.locator(".il-hal-filter").select_option("dispatches")
    assert hal.locator(".il-hal-count").inner_text().startswith(f"{RUNS} of ")
    start = time.perf_counter()
    hal.locator(".il-hal-search").fill("dispatch 777")
    page.wait_for_function("(el) => el.querySelector('.il-hal-count').textContent"
                           ".startsWith('1 of')", arg=hal.element_handle(), timeout=10_000)
    print(f"HALView search among {RUNS} dispatches: {(time.perf_counter() - start) * 1000:.0f} ms "
          f"(includes the 120 ms debounce)")
    start = time.perf_counter()
    hal.locator('.il-hal-row[data-id="dispatch:777"]').click()
    hal.locator(".il-hal-title", has_text="dispatch 777").wait_for()
    print(f"HALView select a dispatch: {(time.perf_counter() - start) * 1000:.0f} ms")
    hal.locator(".il-hal-search").fill("")
    hal.locator(".il-hal-filter").select_option("calls")
    calls = int(hal.locator(".il-hal-count").inner_text().split()[0])
    assert calls >= 10 * RUNS
    # Scroll to the end of ~10,000 calls: the last rows are drawn.
    hal.locator(".il-hal-list").evaluate("(el) => { el.scrollTop = el.scrollHeight; }")
    hal.locator(f'.il-hal-row[data-id="call:{calls - 1}"]').wait_for()
    hal.locator(".il-hal-filter").select_option("all")
    check_widget(page, hal, "HALView")
    hal.locator(".il-hal-filter").select_option("dispatches")
    hal.locator(".il-hal-list").evaluate("(el) => { el.scrollTop = 0; }")
    hal.locator('.il-hal-row[data-id="dispatch:0"]').wait_for()
    shot = artifacts / "hal_view.png"
    hal.screenshot(path=str(shot))
    publish_screenshot(shot, "hal_view.png")

    start = time.perf_counter()
    run_code(page, "TimelineView(recorder)")
    timeline = nb.locator(".il-timeline").last
    timeline.locator("svg .il-tl-item").first.wait_for()
    print(f"TimelineView of {RUNS} predictions: {(time.perf_counter() - start) * 1000:.0f} ms")
    check_widget(page, timeline, "TimelineView")

    # -- The transformer (vmvx), opened with Open With -> iree_lab -------------------------------------
    seconds = open_from_file_browser(page, models_lab, "transformer_vmvx.vmfb", open_with=True)
    print(f"transformer_vmvx.vmfb: Open With -> iree_lab -> ModuleExplorer {seconds:.1f} s")
    explorer = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .il-explorer").first
    explorer.locator('.il-node-row[data-node="executables"]').click()
    explorer.locator(".il-detail-body", has_text="transformer_linked_vmvx").wait_for()
    check_widget(page, explorer, "ModuleExplorer (transformer)")
    assert page.evaluate(MATH_JS) == 0

    assert not errors, errors
    page.close()


def assert_blocks_in_view(cfg) -> None:
    """After "fit": every block inside the viewport (none cut at the left edge)."""
    out = cfg.evaluate("""(root) => {
        const v = root.querySelector('.il-cfg-viewport').getBoundingClientRect();
        return [...root.querySelectorAll('.il-cfg-block')].filter((b) => {
            const r = b.getBoundingClientRect();
            return r.left < v.left - 1 || r.right > v.right + 1 || r.top < v.top - 1;
        }).map((b) => b.dataset.block);
    }""")
    assert out == [], f"blocks outside the fitted view: {out}"


def assert_entry_readable(cfg) -> None:
    """The initial view shows the entry block's left edge (pcs, opcodes) at >= 50%, or the
    whole graph fitted."""
    facts = cfg.evaluate("""(root) => {
        const v = root.querySelector('.il-cfg-viewport').getBoundingClientRect();
        const e = root.querySelector('.il-cfg-block.il-entry').getBoundingClientRect();
        const m = /scale\\(([0-9.]+)\\)/.exec(root.querySelector('.il-cfg-stage').style.transform);
        return { left: e.left - v.left, top: e.top - v.top, width: v.width, scale: m ? Number(m[1]) : 0 };
    }""")
    assert facts["left"] >= -1 and facts["left"] < facts["width"] - 40, facts
    assert facts["top"] >= -1, facts
    return facts
