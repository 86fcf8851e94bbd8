"""HAL views: command buffer listing, dependency graph, timelines, Perfetto trace.

Two recordings: ``stateful.three_dispatches`` run through the hal module (the
compiler's own submissions: allocas joined into an execute of a command
buffer with three dispatches, a dealloca, a fence.await), and a hand-built
device scenario with two queues, a host-signaled gate (deferred work), a
failing operation, a never-signaled wait and a command buffer with debug
groups and transfer commands.
"""

from __future__ import annotations

import io as _io
import json
import re

import matplotlib
import numpy as np
import pytest

from iree_lab import vm
from iree_lab.hal import (
    BufferBinding,
    BufferRef,
    BufferUsage,
    CommandCategory,
    Device,
    MemoryType,
    Recorder,
    io,
)
from iree_lab.hal.module import HALModule
from iree_lab.views import hal as hv
from iree_lab.views.trace import validate_trace
from iree_lab.vm.status import VMStatus

# The views draw on plain Figures (no pyplot); Agg keeps any backend use headless.
matplotlib.use("Agg")

EXPORTS = [
    "three_dispatches_dispatch_0_elementwise_16_f32",
    "three_dispatches_dispatch_1_matmul_4x4x4_f32",
    "three_dispatches_dispatch_2_reduction_4x4_f32",
]


@pytest.fixture(scope="module")
def three(build_module):
    """(recorder, init op count, input buffer ids, result buffer id)."""
    recorder = Recorder()
    device = Device(recorder=recorder)
    ctx = vm.Context([HALModule([device]),
                      vm.BytecodeModule.load(build_module("hal_stateful"))])
    init_ops = len(recorder.queue_operations)
    fn = ctx.lookup_function("three_dispatches")
    a = np.arange(16, dtype=np.float32).reshape(4, 4) - 8
    args = [io.buffer_view_from_numpy(a, device), io.buffer_view_from_numpy(a.T.copy(), device)]
    (result,) = ctx.call_function(fn, args)
    return recorder, init_ops, [b.buffer.id for b in args], result.buffer.id


def _fence(device):
    return device.create_fence([(device.create_semaphore(0), 1)])


@pytest.fixture(scope="module")
def scenario():
    """A device driven by hand: every queue-operation state the views must draw."""
    recorder = Recorder()
    device = Device(recorder=recorder)
    gate, allocated, filled, executed = (_fence(device) for _ in range(4))
    buffer = device.queue_alloca(0b01, gate, allocated, MemoryType.DEVICE_LOCAL,
                                 BufferUsage.DEFAULT, 64)
    device.queue_fill(0b10, allocated, filled, buffer, 0, 64, 7, 1)
    cb = device.create_command_buffer(0, CommandCategory.ANY, -1, 1)
    cb.begin_debug_group('outer <b>"&')
    cb.fill_buffer(BufferRef(None, 0, 0, 16), 0xAB, 1)
    cb.begin_debug_group("inner")
    cb.update_buffer(bytes(range(20)), BufferRef(None, 0, 16, 20))
    cb.end_debug_group()
    cb.execution_barrier(0b100, 0b1000, 0)
    cb.copy_buffer(BufferRef(None, 0, 0, 8), BufferRef(None, 0, 40, 8))
    cb.end_debug_group()
    cb.finalize()
    device.queue_execute(0b01, filled, executed, cb, [BufferBinding(buffer)])
    assert [op.status for op in recorder.queue_operations] == ["pending"] * 3
    gate.signal()  # the host releases all three
    failed = _fence(device)
    with pytest.raises(VMStatus):
        device.queue_fill(0b01, executed, failed, buffer, 60, 8, 0, 1)  # out of range
    never = _fence(device)
    device.queue_barrier(0b10, never, _fence(device))  # stays pending
    device.queue_dealloca(0b01, executed, _fence(device), buffer)
    device.wait([executed])
    return recorder


# -- Derived model -------------------------------------------------------------------------------


def _consumer_key(dep):
    c = dep.consumer
    return ("wait", c.index) if isinstance(c, hv.HostWait) else ("op", c.id)


def test_dependencies_of_the_compiled_program(three):
    recorder, init_ops, *_ = three
    deps = hv.dependencies(recorder)
    edges = {(d.producer.id if d.producer else None, _consumer_key(d), d.semaphore, d.value)
             for d in deps}
    ops = recorder.queue_operations
    # __init: alloca -> fill -> fence.await; the call: 2 allocas -> execute -> dealloca -> await.
    q_alloca, q_fill = ops[0], ops[1]
    r_alloca, t_alloca, execute, dealloca = ops[init_ops:]
    s = {op.id: op.signal[0].semaphore for op in ops}
    assert edges == {
        (q_alloca.id, ("op", q_fill.id), s[q_alloca.id], 1),
        (q_fill.id, ("wait", 0), s[q_fill.id], 1),
        (r_alloca.id, ("op", execute.id), s[r_alloca.id], 1),
        (t_alloca.id, ("op", execute.id), s[t_alloca.id], 1),
        (execute.id, ("op", dealloca.id), s[execute.id], 1),
        (dealloca.id, ("wait", 1), s[dealloca.id], 1),
    }
    # The same producers as the recorder's own query.
    for op in ops:
        mine = [d.producer for d in deps if d.consumer is op]
        assert mine == recorder.dependencies(op)
    waits = hv.host_waits(recorder)
    assert [(w.source, w.fences) for w in waits] == [
        ("fence.await", ("hal.fence#1",)), ("fence.await", ("hal.fence#6",))]
    # fence.join's result (the execute's wait fence) stands for both allocas' timepoints.
    fences = hv.fence_timepoints(recorder)
    execute_call = next(c for c in recorder.calls if c.name == "device.queue.execute.indirect")
    assert fences[execute_call.args["wait_fence"]] == execute.wait
    assert len(execute.wait) == 2


def test_dependencies_of_the_scenario(scenario):
    ops = scenario.queue_operations
    alloca, fill, execute, bad_fill, barrier, dealloca = ops
    deps = hv.dependencies(scenario)
    by_consumer = {_consumer_key(d): d for d in deps}
    gate = by_consumer[("op", alloca.id)]
    assert gate.producer is None and gate.host_signal is not None
    assert gate.host_signal.source == "host" and gate.satisfied
    assert by_consumer[("op", fill.id)].producer is alloca
    assert by_consumer[("op", execute.id)].producer is fill
    assert by_consumer[("op", bad_fill.id)].producer is execute
    assert by_consumer[("op", dealloca.id)].producer is execute
    assert not by_consumer[("op", barrier.id)].satisfied  # nothing ever signals it
    (wait,) = hv.host_waits(scenario)
    assert wait.source == "device.wait" and wait.timepoints == execute.signal
    assert by_consumer[("wait", 0)].producer is execute
    assert hv.queue_lanes(scenario) == [(0, 1), (0, 2)]
    assert [hv.queue_label(d, q) for d, q in hv.queue_lanes(scenario)] == [
        "device 0 · queue 0", "device 0 · queue 1"]
    assert hv.queue_text(-1) == "queue any" and hv.queue_text(0b101) == "queues 0,2"
    assert [op.status for op in ops] == ["OK", "OK", "OK", "OUT_OF_RANGE", "pending", "OK"]
    assert alloca.deferred and fill.deferred and execute.deferred


# -- Command buffer listing ------------------------------------------------------------------------

_ROW_START = re.compile(r'(\w+)" data-index="(\d+)">')


def _rows(html: str, cb_id: int):
    """[(kind, index, row html)] of one command buffer's listing, and its whole section."""
    section = html.split(f'id="cb-0-{cb_id}"', 1)[1].split('class="il-command-buffer"', 1)[0]
    commands = section.split('class="il-table il-commands"', 1)[1].split('<div class="il-dim">')[0]
    rows = []
    for piece in commands.split('<tr data-command="')[1:]:
        kind, index = _ROW_START.match(piece).groups()
        rows.append((kind, int(index), piece))
    return rows, section


def test_command_buffer_listing_shows_the_three_dispatches(three):
    recorder, init_ops, inputs, result = three
    html = hv.command_buffers_html(recorder)
    cb = next(cb for cb in recorder.command_buffers.values()
              if any(getattr(c, "export_name", "") == EXPORTS[0] for c in cb.commands))
    rows, section = _rows(html, cb.id)
    assert [(k, i) for k, i, _ in rows] == [
        ("dispatch", 0), ("barrier", 1), ("dispatch", 2), ("barrier", 3), ("dispatch", 4),
        ("barrier", 5)]
    dispatches = [body for kind, _, body in rows if kind == "dispatch"]
    for body, export, ordinal in zip(dispatches, EXPORTS, (1, 2, 3), strict=True):
        assert f"@{export} [ordinal {ordinal}]" in body
        assert "executable #0 (vmvx-bytecode-fb)" in body and "1×1×1" in body
    bindings = [re.findall(r"<li>(.*?)</li>", body) for body in dispatches]
    assert bindings == [
        ["slot 0 [0, +64)", "slot 3 [0, +128)"],
        ["slot 3 [0, +128)", "slot 1 [0, +64)", "slot 3 [0, +128)"],
        ["slot 3 [0, +128)", "slot 2 [0, +16)"],
    ]
    barrier = rows[1][2]
    assert "DISPATCH|TRANSFER|COMMAND_RETIRE" in barrier  # 28
    assert "COMMAND_ISSUE|DISPATCH|TRANSFER" in barrier  # 13
    # The execution that replayed it, with its binding table resolved to buffers.
    execute = recorder.queue_operations[init_ops + 2]
    transient = execute.binding_table[3].buffer
    assert f"{hv.op_name(execute)} (OK)" in section
    table = re.search(r'class="il-mono il-binding-table">(.*?)</ol>', section).group(1)
    assert re.findall(r"<li>(.*?)</li>", table) == [
        f"buffer #{inputs[0]} [0, +64)", f"buffer #{inputs[1]} [0, +64)",
        f"buffer #{result} [0, +16)", f"buffer #{transient} [0, +128)"]
    # Only the listed command buffers when asked.
    only = hv.command_buffers_html(recorder, [cb.id])
    assert only.count('class="il-command-buffer"') == 1 and EXPORTS[1] in only


def test_command_buffer_listing_escapes_and_nests(scenario):
    html = hv.command_buffers_html(scenario)
    assert 'outer <b>"&' not in html
    assert "begin “outer &lt;b&gt;&quot;&amp;”" in html
    rows, _ = _rows(html, 0)
    assert [k for k, _, _ in rows] == ["debug_group", "fill", "debug_group", "update",
                                      "debug_group", "barrier", "copy", "debug_group"]
    indents = [re.search(r"padding-left:(\d+)px", body) for _, _, body in rows]
    depth = [int(m.group(1)) if m else 0 for m in indents]
    # outer group members are indented once, the update inside "inner" twice.
    assert depth == [0, 22, 22, 36, 22, 22, 22, 0]
    fill, update, barrier, copy = rows[1][2], rows[3][2], rows[5][2], rows[6][2]
    assert "slot 0 [0, +16)" in fill and "0xab (1 B)" in fill
    assert "slot 0 [16, +20)" in update and "20 B: 00 01 02 03" in update and "…" in update
    assert "DISPATCH" in barrier and "TRANSFER" in barrier
    assert "slot 0 [0, +8) → slot 0 [40, +8)" in copy
    assert "mode</td><td>DEFAULT" in html and "TRANSFER|DISPATCH" in html


def test_queue_operations_table(scenario):
    html = hv.queue_operations_html(scenario)
    rows = re.findall(r'<tr data-op="0:(\d+)">(.*?)</tr>', html)
    assert [int(i) for i, _ in rows] == [op.id for op in scenario.queue_operations]
    alloca, fill = rows[0][1], rows[1][1]
    assert "queue 0" in alloca and "alloca" in alloca and "64 B" in alloca
    assert "s0≥1" in alloca and "s1=1" in alloca
    assert "queue 1" in fill and "s1≥1" in fill
    assert 'class="il-note">OUT_OF_RANGE' in rows[3][1]
    assert ">pending<" in rows[4][1]


# -- Dependency graph ------------------------------------------------------------------------------

_EDGE = re.compile(r'^\s+(\w+) -> (\w+) \[label="([^"]*)"', re.M)
_NODE = re.compile(r"^\s+(\w+) \[", re.M)


def test_dependency_dot_edges(three):
    recorder, init_ops, *_ = three
    dot = hv.dependency_dot(recorder)
    assert dot.startswith('digraph "hal_submissions" {') and dot.rstrip().endswith("}")
    edges = set(_EDGE.findall(dot))
    nodes = set(_NODE.findall(dot)) - {"node", "edge"}
    assert all(a in nodes and b in nodes for a, b, _ in edges)
    ops = recorder.queue_operations
    s = {op.id: op.signal[0].semaphore for op in ops}
    r_alloca, t_alloca, execute, dealloca = (f"op_0_{op.id}" for op in ops[init_ops:])
    r, t, x, d = (s[op.id] for op in ops[init_ops:])
    expected_call = {
        (r_alloca, f"sem_{r}", "signal 1"), (t_alloca, f"sem_{t}", "signal 1"),
        (f"sem_{r}", execute, "wait ≥ 1"), (f"sem_{t}", execute, "wait ≥ 1"),
        (execute, f"sem_{x}", "signal 1"), (f"sem_{x}", dealloca, "wait ≥ 1"),
        (dealloca, f"sem_{d}", "signal 1"), (f"sem_{d}", "wait_1", "wait ≥ 1"),
    }
    assert expected_call <= edges
    # One edge per timepoint of every operation and host wait; nothing else.
    count = sum(len(op.wait) + len(op.signal) for op in ops) + sum(
        len(w.timepoints) for w in hv.host_waits(recorder))
    assert len(edges) == count == len(_EDGE.findall(dot))
    assert 'label="q4 execute\\ncb#1, 3 dispatches\\nOK"' in dot
    assert f'sem_{r} [shape=ellipse, color="#333333", label="semaphore {r}\\nfence#2, fence#4' in dot


def test_dependency_dot_marks_host_failures_and_pending(scenario):
    dot = hv.dependency_dot(scenario)
    edges = _EDGE.findall(dot)
    alloca, _, _, bad_fill, barrier, _ = scenario.queue_operations
    gate = alloca.wait[0].semaphore
    assert ("host", f"sem_{gate}", "signal 1") in edges
    assert f'op_0_{bad_fill.id} [shape=box, style="filled", fillcolor="#e3b23c", ' \
           f'color="{hv.FAILED_COLOR}", penwidth=2' in dot
    assert f'op_0_{barrier.id} [shape=box, style="filled,dashed"' in dot
    never = barrier.wait[0].semaphore
    assert f'label="semaphore {never}\\nnever signaled"' in dot
    failed = bad_fill.signal[0].semaphore
    assert f'label="semaphore {failed}\\nfailed OUT_OF_RANGE"' in dot
    assert "wait_0 [shape=hexagon" in dot


def test_dot_strings_are_escaped():
    assert hv._dot_string('a "b" \\ c\nd') == '"a \\"b\\" \\\\ c\\nd"'


# -- Timelines -------------------------------------------------------------------------------------


def _artists(fig, prefix: str):
    return {a.get_gid(): a for a in fig.findobj(lambda a: (a.get_gid() or "").startswith(prefix))}


def _png(fig) -> bytes:
    out = _io.BytesIO()
    fig.savefig(out, format="png", dpi=60)
    return out.getvalue()


def test_queue_timeline_bars_and_arrows(three):
    recorder, *_ = three
    fig = hv.queue_timeline(recorder)
    bars = _artists(fig, "op:")
    assert sorted(bars) == sorted(f"op:0:{op.id}" for op in recorder.queue_operations)
    for op in recorder.queue_operations:
        bar = bars[f"op:0:{op.id}"]
        assert (bar.get_x(), bar.get_x() + bar.get_width()) == (op.started_at, op.completed_at)
        assert matplotlib.colors.to_hex(bar.get_facecolor()) == hv.KIND_COLORS[op.kind]
    dispatches = _artists(fig, "dispatch:")
    assert len(dispatches) == 3 == len(recorder.dispatches)
    arrows = _artists(fig, "dependency:")
    satisfied = [d for d in hv.dependencies(recorder) if d.satisfied]
    assert len(arrows) == len(satisfied) == 6
    assert len(_artists(fig, "host-wait:")) == 2 and not _artists(fig, "waiting:")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["host", "device 0 · queue any"]
    texts = [t.get_text() for t in ax.texts]
    assert "q4 execute cb#1" in texts and "wait s2≥1 s3≥1 → signal s4=1" in texts
    assert _png(fig).startswith(b"\x89PNG")
    # The wall clock places each operation at its wall stamps (microseconds).
    wall = _artists(hv.queue_timeline(recorder, clock="wall", labels=False), "op:")
    for op in recorder.queue_operations:
        bar = wall[f"op:0:{op.id}"]
        assert bar.get_x() == pytest.approx(op.start_wall_ns / 1000)
        assert bar.get_x() + bar.get_width() >= op.end_wall_ns / 1000 - 1e-6
    with pytest.raises(ValueError):
        hv.queue_timeline(recorder, clock="cpu")


def test_queue_timeline_states(scenario):
    fig = hv.queue_timeline(scenario)
    ops = scenario.queue_operations
    alloca, fill, execute, bad_fill, barrier, dealloca = ops
    bars = _artists(fig, "op:")
    assert len(bars) == len(ops)
    waiting = _artists(fig, "waiting:")
    assert sorted(waiting) == sorted(f"waiting:0:{op.id}" for op in ops if op.deferred)
    w = waiting[f"waiting:0:{alloca.id}"]
    assert w.get_x() == alloca.submitted_at and w.get_x() + w.get_width() == alloca.started_at
    failed = bars[f"op:0:{bad_fill.id}"]
    assert matplotlib.colors.to_hex(failed.get_edgecolor()) == hv.FAILED_COLOR
    assert failed.get_hatch() == "xx"
    pending = bars[f"op:0:{barrier.id}"]
    assert pending.get_hatch() == "//" and pending.get_x() == barrier.submitted_at
    assert pending.get_x() + pending.get_width() >= scenario.now
    # Lanes: host on top, then queue 0 and queue 1.
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["host", "device 0 · queue 0", "device 0 · queue 1"]
    ys = {t.get_text(): y for t, y in zip(ax.get_yticklabels(), ax.get_yticks(), strict=True)}
    assert bars[f"op:0:{fill.id}"].get_y() + bars[f"op:0:{fill.id}"].get_height() / 2 == \
        pytest.approx(ys["device 0 · queue 1"])
    assert len(_artists(fig, "host-signal:")) == 1 and len(_artists(fig, "host-wait:")) == 1
    # host gate -> alloca, alloca -> fill, fill -> execute, execute -> bad fill,
    # execute -> dealloca, execute -> host wait; the never-signaled wait has no arrow.
    assert len(_artists(fig, "dependency:")) == 6
    assert _png(fig).startswith(b"\x89PNG")


def test_buffer_lifetimes(three):
    recorder, init_ops, inputs, result = three
    fig = hv.buffer_lifetimes(recorder)
    allocations = recorder.allocations()
    bars = _artists(fig, "buffer:")
    assert sorted(bars) == sorted(f"buffer:0:{b.id}" for b in allocations)
    transient = recorder.buffers[recorder.queue_operations[init_ops + 1].buffer]
    bar = bars[f"buffer:0:{transient.id}"]
    assert (bar.get_x(), bar.get_x() + bar.get_width()) == (transient.created_at,
                                                          transient.dealloca_at)
    live = _artists(fig, "live:")
    assert sorted(live) == sorted(f"live:0:{b.id}" for b in allocations if b.dealloca_at is None)
    assert f"live:0:{transient.id}" not in live
    uses = _artists(fig, "uses:")
    # The transient is bound by all three dispatches, each input by one, the result by one.
    assert len(uses[f"uses:0:{transient.id}"].get_xdata()) == 3
    assert list(uses[f"uses:0:{result}"].get_xdata()) == [recorder.dispatches[2].started_at]
    assert {f"uses:0:{i}" for i in inputs} <= set(uses)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert f"#{transient.id} 128 B" in labels
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any(t.startswith("alloca · TRANSFER|DISPATCH_STORAGE") for t in texts)
    assert _png(fig).startswith(b"\x89PNG")
    wall = hv.buffer_lifetimes(recorder, clock="wall")
    assert len(_artists(wall, "buffer:")) == len(allocations)


# -- Perfetto trace --------------------------------------------------------------------------------


def _by(trace, ph, cat):
    return [e for e in trace["traceEvents"] if e["ph"] == ph and e.get("cat") == cat]


@pytest.mark.parametrize("clock", ["wall", "logical"])
def test_trace_matches_records_one_to_one(three, clock):
    recorder, *_ = three
    trace = json.loads(json.dumps(hv.hal_trace(recorder, clock=clock), allow_nan=False))
    assert validate_trace(trace) == []
    for e in trace["traceEvents"]:
        assert {"ph", "ts", "pid", "tid", "name"} <= set(e)
        assert e.get("dur", 0) >= 0
    assert {e["ph"] for e in trace["traceEvents"]} >= {"X", "i", "s", "f", "C", "M"}
    ops = _by(trace, "X", "queue")
    assert [e["args"]["id"] for e in ops] == [op.id for op in recorder.queue_operations]
    assert [e["name"].split()[0] for e in ops] == [op.kind for op in recorder.queue_operations]
    if clock == "logical":
        assert [(e["ts"], e["ts"] + e["dur"]) for e in ops] == [
            (op.started_at, op.completed_at) for op in recorder.queue_operations]
    else:
        assert [e["ts"] for e in ops] == pytest.approx(
            [op.start_wall_ns / 1000 for op in recorder.queue_operations], abs=1e-3)
    dispatches = _by(trace, "X", "dispatch")
    assert [e["name"] for e in dispatches] == [d.export_name for d in recorder.dispatches]
    execute = next(e for e in ops if e["name"].startswith("execute"))
    for e in dispatches:  # nested in the execute's slice, on its thread
        assert (e["pid"], e["tid"]) == (execute["pid"], execute["tid"])
        assert execute["ts"] <= e["ts"] and e["ts"] + e["dur"] <= execute["ts"] + execute["dur"]
    assert [e["args"]["bindings"] for e in dispatches] == [
        [[b.buffer, b.offset, b.length] for b in d.bindings] for d in recorder.dispatches]
    calls = _by(trace, "i", "hal.call")
    assert [e["name"] for e in calls] == [c.name for c in recorder.calls]
    assert len(_by(trace, "i", "semaphore")) == len(recorder.semaphore_events)
    assert len(_by(trace, "i", "host.wait")) == len(hv.host_waits(recorder)) == 2
    # One flow per dependency between two queue operations, from producer to consumer.
    starts, finishes = _by(trace, "s", "fence"), _by(trace, "f", "fence")
    op_deps = [d for d in hv.dependencies(recorder)
               if d.producer is not None and not isinstance(d.consumer, hv.HostWait)]
    assert len(starts) == len(finishes) == len(op_deps) == 4
    at = {(e["ts"], e["tid"]): e["args"]["id"] for e in ops}
    pairs = {(at[(s["ts"], s["tid"])], at[(f["ts"], f["tid"])])
             for s, f in zip(starts, finishes, strict=True)}
    assert pairs == {(d.producer.id, d.consumer.id) for d in op_deps}
    live = _by(trace, "C", "buffer")
    assert live[-1]["args"]["bytes"] == sum(
        b.byte_length for b in recorder.allocations() if b.dealloca_at is None)
    names = {(e["name"], e["args"]["name"]) for e in trace["traceEvents"] if e["ph"] == "M"
             and e["name"].endswith("_name")}
    assert ("process_name", "HAL device 0") in names and ("thread_name", "queue any") in names


def test_trace_of_the_scenario(scenario, tmp_path):
    path = hv.write_hal_trace(scenario, tmp_path / "hal.json", clock="logical")
    trace = json.loads(path.read_text())
    assert validate_trace(trace) == []
    ops = scenario.queue_operations
    queue = [e for e in trace["traceEvents"] if e.get("cat") == "queue"]
    assert [e["args"]["id"] for e in queue] == [op.id for op in ops]
    assert [e["ph"] for e in queue] == ["X", "X", "X", "X", "i", "X"]  # the barrier is pending
    assert queue[3]["args"]["status"] == "OUT_OF_RANGE" and queue[3]["args"]["message"]
    assert len({e["tid"] for e in queue}) == 2  # two queues, two threads
    # Debug groups open and close around the execute's commands, nested.
    groups = [(e["ph"], e["name"]) for e in trace["traceEvents"] if e.get("cat") == "debug_group"]
    assert groups == [("B", 'outer <b>"&'), ("B", "inner"), ("E", "inner"),
                      ("E", 'outer <b>"&')]
    flows = _by(trace, "s", "fence")
    assert len(flows) == 4  # alloca->fill->execute->{bad fill, dealloca}
    assert len(_by(trace, "i", "host.wait")) == 1


def test_validate_trace_finds_problems():
    good = {"ph": "X", "ts": 0, "pid": 1, "tid": 1, "name": "a", "dur": 1}
    assert validate_trace({"traceEvents": [good]}) == []
    assert validate_trace({}) == ["not a trace object: no traceEvents list"]
    bad = [
        {**good, "dur": -1},
        {"ph": "X", "ts": 0, "pid": 1, "name": "no tid", "dur": 0},
        {"ph": "E", "ts": 0, "pid": 1, "tid": 2, "name": "e"},
        {"ph": "B", "ts": 5, "pid": 1, "tid": 3, "name": "open"},
        {"ph": "s", "ts": 3, "pid": 1, "tid": 1, "name": "f", "id": 7, "cat": "x"},
        {"ph": "s", "ts": 9, "pid": 1, "tid": 1, "name": "f", "id": 8, "cat": "x"},
        {"ph": "f", "ts": 1, "pid": 1, "tid": 1, "name": "f", "id": 8, "cat": "x", "bp": "e"},
        {"ph": "Q", "ts": 0, "pid": 1, "tid": 1, "name": "q"},
        {"ph": "C", "ts": 0, "pid": 1, "tid": 0, "name": "c", "args": {"v": "x"}},
    ]
    problems = validate_trace({"traceEvents": bad})
    assert len(problems) == 8, problems
    text = "\n".join(problems)
    for needle in ("duration -1", "missing tid", "E without an open B", "never ends",
                   "flow 7 (x): 1 starts, 0 finishes", "flow 8 (x) finishes before it starts",
                   "unknown phase 'Q'", "counter without numeric values"):
        assert needle in text


def test_timeline_semaphore_values_pick_their_signaler():
    """One semaphore counting 1, 2, 3: each wait is satisfied by the signal reaching it."""
    recorder = Recorder()
    device = Device(recorder=recorder)
    s = device.create_semaphore(0)
    at = [device.create_fence([(s, v)]) for v in range(4)]
    device.queue_barrier(-1, at[1], at[2])
    device.queue_barrier(-1, at[2], at[3])
    device.queue_barrier(-1, at[1], None)
    at[1].signal()
    first, second, third = recorder.queue_operations
    deps = {d.consumer.id: d for d in hv.dependencies(recorder)}
    assert deps[first.id].host_signal is not None and deps[first.id].producer is None
    assert deps[second.id].producer is first and deps[second.id].value == 2
    assert deps[third.id].host_signal is not None
    # A wait already satisfied by the initial value is no dependency at all.
    device.queue_barrier(-1, at[0], None)
    assert len(hv.dependencies(recorder)) == 3
    dot = hv.dependency_dot(recorder)
    assert (f"op_0_{first.id}", f"sem_{s.id}", "signal 2") in _EDGE.findall(dot)
    assert (f"sem_{s.id}", f"op_0_{second.id}", "wait ≥ 2") in _EDGE.findall(dot)
    assert f'label="semaphore {s.id}\\nvalue 3"' in dot


def test_views_of_hand_made_records():
    """Records built directly (as another capture could produce them): an inline dispatch
    outside any queue operation, and an empty recorder."""
    from iree_lab.hal import recorder as rec

    empty = Recorder()
    assert validate_trace(hv.hal_trace(empty)) == []
    assert "no command buffers recorded" in hv.command_buffers_html(empty)
    assert not _EDGE.findall(hv.dependency_dot(empty))
    assert not _artists(hv.queue_timeline(empty), "op:")
    _png(hv.buffer_lifetimes(empty, clock="wall"))

    r = Recorder()
    r.record_executable(rec.ExecutableRecord(0, 0, "vmvx-bytecode-fb", ("k",), (), 10, r.tick()))
    r.record_buffer(rec.BufferRecord(7, 0, 7, 0, 32, 0, 0, "allocate", r.tick()))
    r.record_dispatch(rec.DispatchExecution(
        None, None, 0, 0, 0, "k", (2, 1, 1), (5,), (rec.ResolvedBinding(7, 0, 32),),
        started_at=r.tick(), completed_at=r.tick(), start_wall_ns=r.wall_ns(),
        end_wall_ns=r.wall_ns(), status="OK"))
    trace = hv.hal_trace(r, clock="logical")
    assert validate_trace(trace) == []
    (inline,) = _by(trace, "X", "dispatch")
    assert (inline["ts"], inline["dur"], inline["tid"]) == (3, 1, 1000)
    assert inline["args"]["workgroup_count"] == [2, 1, 1] and inline["args"]["constants"] == [5]
    threads = [e for e in trace["traceEvents"] if e["name"] == "thread_name"
               and e["args"]["name"] == "inline dispatches"]
    assert len(threads) == 1
    uses = _artists(hv.buffer_lifetimes(r), "uses:")
    assert list(uses["uses:0:7"].get_xdata()) == [3]


def _native_command_buffers(iree_tool, module, tmp_path) -> list[list[tuple]]:
    """Commands of every command buffer IREE's own runtime recorded for one call, from
    ``iree-run-module --device_replay_output`` decoded by ``iree-dump-replay``."""
    capture = tmp_path / "three.ireereplay"
    iree_tool("iree-run-module", "--device=local-sync", f"--module={module}",
              "--function=three_dispatches", "--input=4x4xf32=1", "--input=4x4xf32=2",
              f"--device_replay_output={capture}")
    dump = iree_tool("iree-dump-replay", "--format=jsonl", str(capture)).stdout.decode()
    buffers: dict[int, list[tuple]] = {}
    for line in dump.splitlines():
        record = json.loads(line)
        if record.get("object_type") != "command_buffer":
            continue
        commands = buffers.setdefault(record["object_id"], [])
        op, p = record["operation"], record.get("payload") or {}
        if op == "command_buffer.dispatch":
            commands.append(("dispatch", p["function_ordinal"], tuple(p["workgroup_count"]),
                             p["binding_count"], p["constants_length"] // 4))
        elif op == "command_buffer.execution_barrier":
            commands.append(("barrier", p["source_stage_mask"], p["target_stage_mask"]))
        elif op == "command_buffer.copy_buffer":
            commands.append(("copy", p["source"]["buffer_slot"], p["source"]["length"],
                             p["target"]["buffer_slot"], p["target"]["length"]))
        elif op not in ("none", "command_buffer.begin", "command_buffer.end"):
            commands.append((op,))
    return [buffers[k] for k in sorted(buffers)]


def test_command_buffer_listing_matches_iree_replay_capture(three, iree_tool, build_module,
                                                            tmp_path):
    """The listing shows what IREE's runtime records for the same program: per command
    buffer the same commands in order, with the same ordinals, workgroup counts, binding
    and constant counts, barrier stages and copy spans."""
    from iree_lab.hal.types import ExecutionStage

    native = _native_command_buffers(iree_tool, build_module("hal_stateful"), tmp_path)
    recorder, *_ = three
    html = hv.command_buffers_html(recorder)
    ours_ids = sorted(recorder.command_buffers)
    assert len(native) >= len(ours_ids) == 2  # iree-run-module adds its own readback copy
    for cb_id, expected in zip(ours_ids, native, strict=False):
        rows, _ = _rows(html, cb_id)
        assert len(rows) == len(expected)
        for (kind, _, body), command in zip(rows, expected, strict=True):
            assert kind == command[0]
            if kind == "dispatch":
                _, ordinal, workgroups, binding_count, constant_count = command
                assert f"[ordinal {ordinal}]" in body
                assert "×".join(map(str, workgroups)) in body
                assert len(re.findall(r"<li>", body)) == binding_count
                assert ("constants</td><td>none" in body) == (constant_count == 0)
            elif kind == "barrier":
                assert hv.flag_names(command[1], ExecutionStage) in body
                assert hv.flag_names(command[2], ExecutionStage) in body
            elif kind == "copy":
                _, src_slot, src_len, dst_slot, dst_len = command
                assert f"slot {src_slot} [0, +{src_len}) → slot {dst_slot} [0, +{dst_len})" in body
