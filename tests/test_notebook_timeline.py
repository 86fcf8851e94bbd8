"""TimelineView's data (iree_lab.views.timeline_data) and widget, without a browser.

The main scenario is tour 3's: three ``total`` calls (async-external) chained
through fences on a device with a recorder. C signals ``first``, which B's
queue work waits for; B signals ``second``, which A's queue work waits for;
each fiber awaits its own work with ``hal.fence.await``. The scheduler runs A,
B, C, then C to completion, B, A: A's queue work is submitted in A's first
slice (step 0) and runs in B's second slice (step 3), B's in B's first slice
(step 1) and in C's slice (step 2). What the browser draws is in tests/browser.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from iree_lab import vm
from iree_lab.hal import Recorder, Session, io
from iree_lab.hal.recorder import HalCall
from iree_lab.testing import corpus
from iree_lab.views import fibers as fv
from iree_lab.views.timeline_data import timeline_data, timeline_html
from iree_lab.vm.scheduler import FiberEvent, FiberInfo, Scheduler, Timeline

HOST_FILE = Path(__file__).parent / "programs" / "fibers" / "host.py"
NODE = shutil.which("node")
QUEUE_LANE = f"queue:0:{2**64 - 1}"


def _offset(scheduler, recorder):
    # What iree_lab.notebook.timeline.clock_offset computes: both count on perf_counter.
    return recorder.origin_ns / 1e9 - scheduler._t0, scheduler.timeline()


@pytest.fixture(scope="module")
def chained():
    """(scheduler, recorder, timeline, offset, fibers A B C)."""
    module = vm.BytecodeModule.load(corpus.build("fibers_async"))
    recorder = Recorder()
    session = Session.for_modules([module], recorder=recorder)
    context = vm.Context(session.modules + [module])
    device = session.device

    def fence():
        return device.create_fence([(device.create_semaphore(0), 1)])

    first, second, third = fence(), fence(), fence()
    sched = Scheduler(context)
    a = sched.spawn("total", io.parse_buffer_view("4xi32=1 2 3 4", device), second, third,
                    name="A")
    b = sched.spawn("total", io.parse_buffer_view("4xi32=10 20 30 40", device), first, second,
                    name="B")
    c = sched.spawn("total", io.parse_buffer_view("4xi32=100 200 300 400", device), None, first,
                    name="C")
    sched.run()
    assert (a.result(), b.result(), c.result()) == ([10], [100], [1000])
    offset, timeline = _offset(sched, recorder)
    return sched, recorder, timeline, offset


@pytest.fixture(scope="module")
def data(chained):
    _, recorder, timeline, offset = chained
    return timeline_data(timeline, recorder, hal_offset_s=offset)


def _items(data, kind):
    return [i for i in data["items"] if i["kind"] == kind]


def test_lanes_and_fiber_spans(chained, data):
    _, _, timeline, _ = chained
    assert [(lane["id"], lane["label"], lane["sub"]) for lane in data["lanes"]] == [
        ("fiber:0", "0 A", "module.total"), ("fiber:1", "1 B", "module.total"),
        ("fiber:2", "2 C", "module.total"), (QUEUE_LANE, "device 0 · queue any", "HAL queue")]
    spans = _items(data, "span")
    assert [(s["lane"], s["class"], s["step"]) for s in spans] == [
        (f"fiber:{s.fiber}", s.state, [s.start_step, s.end_step]) for s in timeline.spans]
    running = [(s["lane"], s["step"]) for s in spans if s["class"] == "running"]
    assert running == [("fiber:0", [0, 1]), ("fiber:0", [4, 5]), ("fiber:1", [1, 2]),
                       ("fiber:1", [3, 4]), ("fiber:2", [2, 3])]
    markers = _items(data, "marker")
    assert [(m["id"], m["class"], m["step"]) for m in markers] == [
        ("end:0", "done", [5, 5]), ("end:1", "done", [4, 4]), ("end:2", "done", [3, 3])]
    assert ["results", "10"] in markers[0]["detail"]
    assert data["axes"]["step"]["range"] == [0.0, 5.0]
    assert data["axes"]["step"]["label"].startswith("scheduler step")


def test_waiting_fibers_name_their_semaphore_and_its_signaler(chained, data):
    _, recorder, _, _ = chained
    waiting = {s["lane"]: s for s in _items(data, "span") if s["class"] == "waiting"}
    assert sorted(waiting) == ["fiber:0", "fiber:1"]
    for span in waiting.values():
        detail = dict(span["detail"])
        semaphore = int(detail["waits on"].split("#")[1].split()[0])
        producer = recorder.signaler_of(semaphore, 1)
        # Each fiber awaits its own dealloca's signal (the last op it queued).
        assert producer.kind == "dealloca"
        assert detail["signaled by"] == f"q{producer.id} dealloca"
        assert detail["stopped by"] == f"wait hal.semaphore #{semaphore} >= 1"
        assert detail["import"] == "hal.fence.await"
        assert detail["resumes at"].startswith("module.total+")
        assert {"from": f"op:0:{producer.id}", "to": span["id"], "kind": "signal",
                "label": f"s{semaphore}>=1"} in data["links"]


def _slice(step: float) -> int:
    assert step != int(step), f"{step} is on a slice boundary"
    return int(step)


def test_queue_operations_sit_in_the_slice_that_ran_them(chained, data):
    _, recorder, _, _ = chained
    ops = {i["id"]: i for i in _items(data, "op")}
    assert len(ops) == len(recorder.queue_operations) == 12
    # Who queued what: A q0-q3, B q4-q7, C q8-q11 (allocas, execute, dealloca each).
    for op in recorder.queue_operations:
        item = ops[f"op:0:{op.id}"]
        fiber = "ABC"[op.id // 4]
        submitted = item["waiting"]["step"][0] if "waiting" in item else item["step"][0]
        assert _slice(submitted) == {"A": 0, "B": 1, "C": 2}[fiber], item
        # Queued behind another fiber's fence, it runs in that fiber's slice.
        assert _slice(item["step"][0]) == {"A": 3, "B": 2, "C": 2}[fiber], item
        assert ("waiting" in item) == (fiber != "C")
        assert item["step"][0] <= item["step"][1]
        assert item["class"] == op.kind and item["lane"] == QUEUE_LANE
    # Recorder order is kept on the step clock.
    by_tick = sorted(recorder.queue_operations, key=lambda o: o.started_at)
    starts = [ops[f"op:0:{o.id}"]["step"][0] for o in by_tick]
    assert starts == sorted(starts)


def test_both_clocks_agree_on_the_slice(chained, data):
    """An operation placed in slice n on the step clock lies inside slice n's wall time."""
    _, _, timeline, _ = chained
    slices = {s.start_step: (s.start_wall * 1e3, s.end_wall * 1e3)
              for s in timeline.spans if s.state == "running"}
    for item in _items(data, "op") + _items(data, "dispatch"):
        for k in (0, 1):
            w0, w1 = slices[_slice(item["step"][k])]
            assert w0 <= item["wall"][k] <= w1, item


def test_dispatches_and_op_details(chained, data):
    _, recorder, _, _ = chained
    dispatches = _items(data, "dispatch")
    assert [d["label"] for d in dispatches] == ["total_dispatch_0_reduction_4_i32"] * 3
    ops = {i["id"]: i for i in _items(data, "op")}
    for d in dispatches:
        parent = ops[d["parent"]]
        assert parent["class"] == "execute"
        assert parent["step"][0] <= d["step"][0] <= d["step"][1] <= parent["step"][1]
        detail = dict(d["detail"])
        assert detail["workgroups"] == "1×1×1" and detail["queue operation"].endswith("execute")
    q4 = dict(ops["op:0:4"]["detail"])
    op = recorder.operation(4)
    assert q4["operation"] == "q4 alloca"
    assert q4["waits for"].startswith(f"s{op.wait[0].semaphore}>=1 (hal.fence#")
    assert q4["signals"].startswith(f"s{op.signal[0].semaphore}=1 (hal.fence#")
    assert q4["ticks (submitted / started / completed)"] == \
        f"{op.submitted_at} / {op.started_at} / {op.completed_at}"
    assert q4["deferred"].startswith("waited")
    q2 = dict(ops["op:0:2"]["detail"])
    assert q2["dispatch"] == "total_dispatch_0_reduction_4_i32 1×1×1"
    # Fence dependencies between operations: each execute waits for its two allocas.
    fence_links = [(link["from"], link["to"]) for link in data["links"]
                   if link["kind"] == "fence"]
    assert ("op:0:0", "op:0:2") in fence_links and ("op:0:1", "op:0:2") in fence_links
    assert len(fence_links) == 9


def test_legend_and_json(data):
    labels = [entry["label"] for entry in data["legend"]]
    assert labels == ["fiber running", "fiber ready", "fiber waiting", "fiber done",
                      "queue alloca", "queue execute", "queue dealloca", "dispatch",
                      "waiting for timepoints", "signal → waiting fiber", "fence dependency"]
    colors = {entry["label"]: entry["color"] for entry in data["legend"]}
    assert colors["fiber running"] != colors["queue execute"]
    assert json.loads(json.dumps(data, allow_nan=False)) == data


def test_recorder_alone_uses_its_own_clock(chained):
    _, recorder, _, _ = chained
    data = timeline_data(recorder=recorder)
    assert [lane["id"] for lane in data["lanes"]] == [QUEUE_LANE]
    assert data["axes"]["step"]["label"] == "recorder tick"
    for op in recorder.queue_operations:
        item = next(i for i in data["items"] if i["id"] == f"op:0:{op.id}")
        assert item["step"] == [float(op.started_at), float(op.completed_at)]
        assert item["wall"] == [round(op.start_wall_ns / 1e6, 6), round(op.end_wall_ns / 1e6, 6)]
        if op.deferred:
            assert item["waiting"]["step"] == [float(op.submitted_at), float(op.started_at)]


def _host():
    spec = importlib.util.spec_from_file_location("fibers_host_for_timeline", HOST_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Host()


def test_fibers_alone_with_pauses_and_a_failure():
    ctx = vm.Context([_host(), vm.BytecodeModule.load(corpus.build("fibers"))])
    sched = Scheduler(ctx)
    sched.spawn("worker", 1, 3, name="A")
    sched.spawn("waiter", 1, name="B")
    sched.spawn("raiser", 1, 2, name="C")
    sched.spawn("nest", 2, name="D")
    sched.spawn("spin", 1, name="E", instruction_budget=40)
    sched.run()
    data = timeline_data(sched)
    assert [lane["kind"] for lane in data["lanes"]] == ["fiber"] * 5
    assert not data["links"] and not _items(data, "op")
    failed = next(i for i in data["items"] if i["id"] == "end:4")
    assert failed["class"] == "failed" and "status" in dict(failed["detail"])
    waiting = next(s for s in _items(data, "span") if s["class"] == "waiting")
    assert dict(waiting["detail"])["waits on"] == "host.flag #1 >= 1"
    assert "signaled by" not in dict(waiting["detail"])
    ready = [s for s in _items(data, "span") if s["class"] == "ready"
             and dict(s["detail"]).get("stopped by") == "deferred host.pause"]
    assert ready and "fiber failed" in [e["label"] for e in data["legend"]]


def test_records_between_slices_sit_on_the_boundary():
    """Hand-made records: two slices (steps 0 and 1) and recorder calls before, in and
    between them; a call's step is its rank among the ticks of its slice."""
    events = (
        FiberEvent(0, 1.0, 0, "start"), FiberEvent(1, 2.0, 0, "suspend", "yield"),
        FiberEvent(1, 3.0, 0, "resume", "yield"), FiberEvent(2, 4.0, 0, "done"),
    )
    timeline = Timeline((FiberInfo(0, "A", "m.f", "done", ""),), events, (), 2, 5.0)
    recorder = Recorder()
    walls = {1: 0.5, 2: 1.2, 3: 1.5, 4: 2.5, 5: 3.2, 6: 3.4, 7: 3.6, 8: 4.5}
    recorder.calls = [HalCall(tick, int(wall * 1e9), f"call{tick}", {})
                      for tick, wall in walls.items()]
    from iree_lab.views.timeline_data import _Axes

    axes = _Axes(recorder, timeline, 0.0)
    steps = [axes.step(t) for t in walls]
    assert steps == [0.0, 1 / 3, 2 / 3, 1.0, 1.25, 1.5, 1.75, 2.0]
    # A tick without a wall stamp is interpolated between its neighbours.
    assert axes.wall_s(6) == pytest.approx(3.4)
    # With an offset, the same records move on the scheduler's clock.
    shifted = _Axes(recorder, timeline, 1.0)
    assert [shifted.step(t) for t in walls][:4] == [0.5, 1.0, 1.0, 1.5]


def test_errors():
    with pytest.raises(TypeError):
        timeline_data()
    timeline = Timeline((), (), (), 0, 0.0)
    with pytest.raises(ValueError, match="hal_offset_s"):
        timeline_data(timeline, Recorder())
    with pytest.raises(TypeError, match="Timeline or a Scheduler"):
        timeline_data(object())
    empty = timeline_data(timeline)
    assert empty["items"] == [] and empty["axes"]["step"]["range"] == [0.0, 1.0]


def test_timeline_html(chained):
    _, _, timeline, _ = chained
    page = timeline_html(timeline)
    assert "Fiber timeline: 3 fibers" in page
    assert page.count('<td class="il-mono">module.total</td>') == 3
    assert "<td>done</td><td>2</td><td>10</td>" in page  # A: 2 slices, result 10
    assert fv.format_events(timeline).splitlines()[0].strip() in page


# -- The front-end's axis arithmetic (widgets/timeline_scale.js) under node ----------------------

_RUNNER = """
import * as s from '%s';
const out = {
  ticks: s.niceTicks(0, 5.2, 8, true),
  wide: s.niceTicks(0, 5.2, 2, true),
  fine: s.niceTicks(0.013, 0.087, 4, false),
  none: s.niceTicks(3, 3, 5, false),
  fmt: [s.formatTick(0.04, 0.02), s.formatTick(2, 1), s.formatTick(1.25, 0.25)],
  zoom: s.zoomDomain([0, 10], 2, 5, [-1, 11], 0.01),
  zoomEdge: s.zoomDomain([0, 10], 2, 0, [0, 10], 0.01),
  zoomMin: s.zoomDomain([0, 10], 1e6, 5, [0, 10], 0.5),
  pan: s.panDomain([0, 4], 100, [0, 10]),
  fit: s.fitDomain([0, 5], 0.1),
};
process.stdout.write(JSON.stringify(out));
"""


@pytest.mark.skipif(NODE is None, reason="node not installed")
def test_timeline_scale_js():
    from iree_lab.notebook._bundle import widgets_dir

    runner = _RUNNER % (widgets_dir() / "timeline_scale.js").as_uri()
    result = subprocess.run([NODE, "--input-type=module", "-e", runner], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["ticks"] == [0, 1, 2, 3, 4, 5]
    assert out["wide"] == [0, 5]
    assert out["fine"] == [0.02, 0.04, 0.06, 0.08]
    assert out["none"] == []
    assert out["fmt"] == ["0.04", "2", "1.25"]
    assert out["zoom"] == [2.5, 7.5]  # the anchor stays where it was
    assert out["zoomEdge"] == [0, 5]
    assert out["zoomMin"] == [4.75, 5.25]
    assert out["pan"] == [6, 10]
    assert out["fit"] == [-0.5, 5.5]


# -- The widget ---------------------------------------------------------------------------------


def test_timeline_view_widget(chained):
    pytest.importorskip("anywidget")
    from iree_lab.notebook import TimelineView, show
    from iree_lab.notebook._bundle import bundle

    sched, recorder, _, _ = chained
    view = TimelineView(sched, recorder)
    items = {i["id"]: i for i in view.items}
    assert len(items) == 12 + 3 + 10 + 3  # operations, dispatches, spans, markers
    assert view.clock == "step" and view.window == [] and view.selected == ""
    # The offset is measured, so wall positions differ between widgets; steps do not.
    again = TimelineView(sched, recorder)
    assert [i["step"] for i in again.items] == [i["step"] for i in view.items]
    view.selected = "op:0:6"
    assert view.selected_item["label"] == "q6 execute"
    with pytest.raises(Exception, match="no timeline item"):
        view.selected = "op:0:99"
    hal_only = TimelineView(recorder)
    assert [lane["kind"] for lane in hal_only.data["lanes"]] == ["queue"]
    fibers_only = show(sched)
    assert isinstance(fibers_only, TimelineView)
    assert all(i["kind"] in ("span", "marker") for i in fibers_only.items)
    timeline = sched.timeline()
    with pytest.raises(ValueError, match="hal_offset_s"):
        TimelineView(timeline, recorder)
    explicit = TimelineView(timeline, recorder, hal_offset_s=0.5)
    assert explicit.data["axes"]["step"]["range"] == [0.0, 5.0]
    with pytest.raises(TypeError):
        TimelineView("not a scheduler")
    with pytest.raises(TypeError):
        TimelineView(sched, "not a recorder")
    # refresh() re-reads the scheduler: nothing new ran, the steps are the same.
    view.refresh()
    assert [i["step"] for i in view.items] == [i["step"] for i in again.items]
    code = bundle("timeline.js")
    assert "export function niceTicks" in code and "from './" not in code


def test_rich_display_of_a_timeline(chained):
    pytest.importorskip("anywidget")
    from IPython.core.interactiveshell import InteractiveShell

    from iree_lab.notebook import display

    shell = InteractiveShell.instance()
    assert display.register(shell)
    _, _, timeline, _ = chained
    formats, _ = shell.display_formatter.format(timeline)
    assert "application/vnd.jupyter.widget-view+json" in formats
    assert "Fiber timeline: 3 fibers" in formats["text/html"]
    # The records stay plain data (the widget does not change them).
    assert dataclasses.asdict(timeline.fibers[0])["name"] == "A"


def test_clock_offset(chained):
    pytest.importorskip("anywidget")
    import time

    from iree_lab.notebook.timeline import clock_offset

    sched, recorder, _, _ = chained
    offset, timeline = clock_offset(sched, recorder)
    # Both count on perf_counter: the offset is the difference of the origins, exactly.
    assert offset == recorder.origin_ns / 1e9 - sched._t0
    assert timeline.steps == 5
    # On another clock the two are read one after the other instead.
    shifted = Scheduler(sched.context, clock=lambda: time.perf_counter() + 100.0)
    estimate, _ = clock_offset(shifted, recorder)
    exact = recorder.origin_ns / 1e9 - (shifted._t0 - 100.0)
    assert abs(estimate - exact) < 0.05
