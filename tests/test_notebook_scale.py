"""Widget state for real-model scale, without a browser: math typesetting off in every rich
display, the function naming rule, HALView's hal calls, ProgressBar's throttling and
visibility, and the .vmfb opener's notebook (the browser side is tests/browser/)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from iree_lab import samples, vm
from iree_lab.format import open_module
from iree_lab.hal import Recorder, Session
from iree_lab.views import rich
from iree_lab.views.hal_data import hal_selection, hal_view_data
from iree_lab.views.module import ModuleView, function_label

pytest.importorskip("anywidget", reason="anywidget not installed (pip install 'iree_lab[lab]')")

from iree_lab.notebook import ProgressBar  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def mlp():
    return open_module(samples.path("mlp"))


def test_rich_displays_are_not_typeset(mlp):
    from iree_lab.isa import decode_function

    fn = decode_function(mlp, "predict")
    for html in (rich.render_html(mlp), rich.render_html(fn), rich.render_html(fn.cfg)):
        root = re.search(r'<div class="([^"]*)">', html.split("</style>", 1)[1]).group(1).split()
        assert {"iree-lab", "mathjax_ignore", "tex2jax_ignore"} <= set(root)


def test_one_naming_rule(mlp):
    tree = ModuleView(mlp).tree()
    functions = next(n for n in tree if n["id"] == "functions")["children"]
    for node, f in zip(functions, mlp.functions, strict=True):
        assert node["label"] == function_label(f) == f"@{f.iree_name}"
        assert node["detail"].startswith(f"#{f.ordinal} ")


def _recorded(runs: int) -> Recorder:
    user = vm.BytecodeModule.load(samples.path("mlp"))
    recorder = Recorder()
    session = Session.for_modules([user], recorder=recorder)
    context = vm.Context(session.modules + [user])
    predict = context.lookup_function("predict")
    for i in range(runs):
        context.call_function(predict, session.parse_inputs(predict.cconv.arguments,
                                                            [f"1x8xf32={i}"]))
    return recorder


def test_hal_view_lists_every_call():
    recorder = _recorded(3)
    data = hal_view_data(recorder)
    assert [c["name"] for c in data["calls"]] == [c.name for c in recorder.calls]
    assert all(len(c["args"]) <= 160 for c in data["calls"])
    last = len(recorder.calls) - 1
    detail = hal_selection(recorder, f"call:{last}")
    assert detail["title"] == f"hal call {last}: {recorder.calls[last].name}"
    for key in recorder.calls[last].args:
        assert key in detail["html"]
    assert hal_selection(recorder, f"call:{last + 1}")["title"] == ""


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_progress_bar_throttles_and_shows_after_a_second():
    clock = FakeClock()
    bar = ProgressBar("work", total=100, clock=clock)
    sent = []
    bar.observe(lambda change: sent.append(change["new"]), names="done")
    for i in range(50):  # 50 calls within 0.05 s: one message
        clock.now = i * 0.001
        bar(i + 1)
    assert sent == [1] and not bar.visible
    clock.now = 0.5
    bar(60)
    assert bar.done == 60 and not bar.visible
    clock.now = 1.2
    bar(70)
    assert bar.visible and bar.elapsed_s == 1.2
    bar.finish()
    assert bar.state == "done" and bar.done == 100


def test_progress_bar_short_work_stays_hidden_and_failures_show():
    clock = FakeClock()
    with ProgressBar("quick", total=3, clock=clock) as quick:
        for i in range(3):
            clock.now = i * 0.1
            quick(i + 1)
    assert quick.state == "done" and not quick.visible
    clock = FakeClock()
    bar = ProgressBar("fails", clock=clock)
    with pytest.raises(RuntimeError), bar:
        clock.now = 2.0
        bar(5)
        raise RuntimeError("boom")
    assert bar.state == "failed" and bar.visible and bar.total == 0


def test_progress_bar_listens_to_dispatch_progress():
    """The HAL's dispatch progress (done of submitted, the one running) drives it as is."""

    class Progress:
        done, submitted, current = 3, 28, "main$async_dispatch_3_conv"

    clock = FakeClock()
    bar = ProgressBar("dispatches", clock=clock)
    clock.now = 1.5
    bar(Progress())
    assert (bar.done, bar.total, bar.current, bar.visible) == (3, 28, Progress.current, True)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_vmfb_opener_notebook(tmp_path):
    """The notebook the JupyterLab extension writes (its notebookFor(), run under node) is
    valid nbformat and opens the module in a ModuleExplorer, with names that need quoting."""
    nbformat = pytest.importorskip("nbformat")
    source = (REPO / "labextension" / "src" / "index.js").read_text()
    body = source[source.index("function basename"):source.index("async function openInNotebook")]
    script = body.replace("export function", "function") + (
        "console.log(JSON.stringify(notebookFor(process.argv[2])));")
    runner = tmp_path / "run.js"
    runner.write_text(script)
    name = 'dir/my "model" $1.vmfb'
    out = subprocess.run(["node", str(runner), name], capture_output=True, text=True, check=True)
    nb = nbformat.from_dict(json.loads(out.stdout))
    nbformat.validate(nb)
    code = nb.cells[1].source
    ns = {}
    exec(code.replace("from iree_lab.notebook import ModuleExplorer",  # noqa: S102
                      "ModuleExplorer = lambda path: path"), ns)
    assert ns["explorer"] == 'my "model" $1.vmfb'
    # The prebuilt extension is the build of this source (rebuild: tools/build_labextension.sh).
    built = REPO / "labextension" / "share" / "jupyter" / "labextensions" / "iree-lab-vmfb"
    remote = next((built / "static").glob("remoteEntry.*.js"))
    chunks = "".join(p.read_text() for p in (built / "static").glob("*.js"))
    assert remote.exists() and "iree-vmfb" in chunks and "ModuleExplorer(" in chunks
