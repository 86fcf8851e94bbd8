"""Fiber timeline rendering: the matplotlib figure, Perfetto trace JSON and event text."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import matplotlib
import pytest

from iree_lab import vm
from iree_lab.testing import corpus
from iree_lab.views import fibers as views
from iree_lab.views.trace import validate_trace
from iree_lab.vm.scheduler import Scheduler

matplotlib.use("Agg")

HOST_FILE = Path(__file__).parent / "programs" / "fibers" / "host.py"


def _host():
    spec = importlib.util.spec_from_file_location("fibers_host_for_views", HOST_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Host()


@pytest.fixture(scope="module")
def scheduler():
    """A worker, a waiter, a raiser and a nested fiber; plus one that fails."""
    ctx = vm.Context([_host(), vm.BytecodeModule.load(corpus.build("fibers"))])
    sched = Scheduler(ctx)
    sched.spawn("worker", 1, 3, name="A")
    sched.spawn("waiter", 1, name="B")
    sched.spawn("raiser", 1, 2, name="C")
    sched.spawn("nest", 2, name="D")
    sched.spawn("spin", 1, name="E", instruction_budget=40)
    sched.run()
    return sched


def _gids(fig, prefix):
    ax = fig.axes[0]
    return [a.get_gid() for a in list(ax.patches) + list(ax.lines)
            if (a.get_gid() or "").startswith(prefix)]


def test_timeline_figure_lanes_bars_and_labels(scheduler):
    tl = scheduler.timeline()
    fig = views.fiber_timeline(tl)
    ax = fig.axes[0]
    drawn = [s for s in tl.spans if s.end_step > s.start_step]
    assert len(_gids(fig, "span:")) == len(drawn)
    stops = [e for e in tl.events if e.kind == "suspend"]
    assert len(_gids(fig, "stop:")) == len(stops)
    assert sorted(_gids(fig, "end:")) == [f"end:{i}" for i in range(5)]
    texts = [t.get_text() for t in ax.texts]
    assert "wait host.flag #1 >= 1" in texts
    assert texts.count("deferred host.pause") == 2
    assert texts.count("yield") == sum(1 for e in stops if e.reason == "yield")
    assert any(t.startswith("DEADLINE_EXCEEDED; instruction budget") for t in texts)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["0 A\nfibers.worker", "1 B\nfibers.waiter", "2 C\nfibers.raiser",
                      "3 D\nfibers.nest", "4 E\nfibers.spin"]
    # Bars are coloured by state; running bars are one step wide on the step clock.
    for patch in ax.patches:
        _, fiber, index = patch.get_gid().split(":")
        span = tl.spans[int(index)]
        assert matplotlib.colors.to_hex(patch.get_facecolor()) == \
            views.STATE_COLORS[span.state]
        if span.state == "running":
            assert patch.get_width() == 1.0
    fig.canvas.draw()  # renders without error
    # The wall clock and a Scheduler argument work too; labels can be turned off.
    wall = views.fiber_timeline(scheduler, clock="wall", labels=False)
    assert not wall.axes[0].texts
    with pytest.raises(ValueError):
        views.fiber_timeline(tl, clock="cycles")
    with pytest.raises(TypeError):
        views.fiber_timeline(object())


@pytest.mark.parametrize("clock", ["wall", "step"])
def test_trace_json_validates(scheduler, clock, tmp_path):
    tl = scheduler.timeline()
    trace = views.fiber_trace(tl, clock=clock)
    assert validate_trace(trace) == []
    events = trace["traceEvents"]
    threads = {e["tid"]: e["args"]["name"] for e in events if e["name"] == "thread_name"}
    assert threads == {1: "fiber 0 A (fibers.worker)", 2: "fiber 1 B (fibers.waiter)",
                       3: "fiber 2 C (fibers.raiser)", 4: "fiber 3 D (fibers.nest)",
                       5: "fiber 4 E (fibers.spin)"}
    slices = [e for e in events if e["ph"] == "X"]
    assert len(slices) == len(tl.spans)
    waiting = [e for e in slices if e["args"]["state"] == "waiting"]
    assert [e["name"] for e in waiting] == ["waiting: wait host.flag #1 >= 1"]
    assert waiting[0]["tid"] == 2
    instants = [e for e in events if e["ph"] == "i"]
    assert sum(e["cat"] == "fiber.suspend" for e in instants) == \
        sum(e.kind == "suspend" for e in tl.events)
    assert [e["tid"] for e in instants if e["cat"] == "fiber.fail"] == [5]
    if clock == "step":
        running = [e for e in slices if e["name"] == "running"]
        assert all(e["dur"] == 1 for e in running)
        assert sorted(e["ts"] for e in running) == list(range(tl.steps))
    path = views.write_fiber_trace(tl, tmp_path / "fibers.json", clock=clock)
    assert validate_trace(json.loads(path.read_text())) == []


def test_event_text(scheduler):
    tl = scheduler.timeline()
    text = views.format_events(tl)
    lines = text.splitlines()
    assert len(lines) == len(tl.events)
    assert lines[0].split() == ["0", "fiber", "0", "A", "spawn", "fibers.worker"]
    assert any("suspend  wait host.flag #1 >= 1 at fibers.waiter+" in line for line in lines)
    assert any(line.endswith("done     1") for line in lines)
    assert any("fail     DEADLINE_EXCEEDED; instruction budget of 40 exhausted" in line
               for line in lines)


def test_stop_labels():
    assert views.stop_label("yield", {}) == "yield"
    assert views.stop_label("deferred", {"import": "host.pause"}) == "deferred host.pause"
    wait = {"wait": {"wait_type": "all", "sources": [
        {"resource": "hal.semaphore #1", "value": 2, "status": "OK"},
        {"resource": "hal.semaphore #4", "value": 1, "status": "DEFERRED"}]}}
    assert views.stop_label("wait", wait) == "wait hal.semaphore #4 >= 1"
    assert views.stop_label("wait", {"wait": {"wait_type": "until", "timeout_ms": 5,
                                              "sources": []}}) == "sleep 5 ms"
