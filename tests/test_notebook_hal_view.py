"""HALView's data (iree_lab.views.hal_data) and widget, without a browser.

Two recordings with ``Recorder(capture_buffers=True)``: the bundled MLP sample
(one dispatch per call, inputs and results in host buffer views) and
``stateful.three_dispatches`` (an elementwise, a matmul and a reduction
through one transient buffer that no buffer view covers). Dispatch contents
are checked against numpy and, for results, against iree-run-module's output
on the same module and inputs.
"""

from __future__ import annotations

import json
import re

import ml_dtypes
import numpy as np
import pytest

from iree_lab import samples, vm
from iree_lab.hal import Device, Recorder, Session, io
from iree_lab.hal import recorder as rec
from iree_lab.hal.module import HALModule
from iree_lab.views import hal_data as hd
from iree_lab.views.rich import render_html

MLP_INPUTS = ("1x8xf32=1 2 3 4 5 6 7 8", "1x8xf32=0.5")
A = np.arange(16, dtype=np.float32).reshape(4, 4) - 8
B = (np.arange(16, dtype=np.float32).reshape(4, 4) % 3) - 1


def _values(texts) -> list[float]:
    return [float(np.float32(t)) for t in texts]


def _iree_results(iree_tool, module, function, inputs) -> list[list[float]]:
    """The values of each result iree-run-module prints (``4xf32=40 8 8 40``)."""
    out = iree_tool("iree-run-module", "--device=local-sync", f"--module={module}",
                    f"--function={function}", *[f"--input={i}" for i in inputs]).stdout.decode()
    return [_values(re.sub(r"[\[\]]", " ", line.split("=", 1)[1]).split())
            for line in out.splitlines() if re.match(r"^[0-9x]+xf32=", line)]


@pytest.fixture(scope="module")
def mlp():
    recorder = Recorder(capture_buffers=True)
    user = vm.BytecodeModule.load(samples.path("mlp"))
    session = Session.for_modules([user], recorder=recorder)
    context = vm.Context(session.modules + [user])
    predict = context.lookup_function("predict")
    results = []
    for text in MLP_INPUTS:
        inputs = session.parse_inputs(predict.cconv.arguments, [text])
        (result,) = context.call_function(predict, inputs)
        results.append(result.to_numpy())
    return recorder, results


@pytest.fixture(scope="module")
def three(build_module):
    recorder = Recorder(capture_buffers=True)
    device = Device(recorder=recorder)
    ctx = vm.Context([HALModule([device]),
                      vm.BytecodeModule.load(build_module("hal_stateful"))])
    fn = ctx.lookup_function("three_dispatches")
    args = [io.buffer_view_from_numpy(A, device), io.buffer_view_from_numpy(B, device)]
    (result,) = ctx.call_function(fn, args)
    return recorder, result.to_numpy()


# -- The lists ----------------------------------------------------------------------------------


def test_submissions_with_fences_and_dispatches(mlp):
    recorder, _ = mlp
    data = hd.hal_view_data(recorder)
    subs = data["submissions"]
    assert [(s["name"], s["kind"]) for s in subs] == [
        ("q0", "alloca"), ("q1", "execute"), ("q2", "alloca"), ("q3", "execute")]
    q0, q1 = subs[0], subs[1]
    assert q0["wait"] == [] and q0["target"] == "buffer #1, 16 B"
    assert q0["signal"] == [{"semaphore": 0, "value": 1, "fence": "hal.fence#0"}]
    # The execute waits for the alloca's fence and signals the fence the host awaits.
    assert q1["wait"] == [{"semaphore": 0, "value": 1, "fence": "hal.fence#0"}]
    assert q1["signal"] == [{"semaphore": 1, "value": 1, "fence": "hal.fence#1"}]
    assert q1["dispatches"] == ["dispatch:0"] and q1["status"] == "OK"
    op = recorder.operation(1)
    assert q1["times"] == [op.submitted_at, op.started_at, op.completed_at]
    d0 = data["dispatches"][0]
    assert d0 == {
        "id": "dispatch:0", "index": 0, "export": "predict_dispatch_0_matmul_1x4x8_f32",
        "executable": "#0 (vmvx-bytecode-fb)", "function": 0, "workgroups": "1×1×1",
        "constants": [], "bindings": ["#0[0:+32]", "#1[0:+16]"], "op": "op:0:1",
        "command_buffer": "cb#0", "command_index": 0, "status": "OK", "captured": True}
    assert data["dispatches"][1]["bindings"] == ["#2[0:+32]", "#3[0:+16]"]
    (cb,) = data["command_buffers"]
    assert cb["commands"] == [
        {"index": 0, "kind": "dispatch", "text": "predict_dispatch_0_matmul_1x4x8_f32 1×1×1"},
        {"index": 1, "kind": "barrier", "text": ""}]
    assert cb["executions"] == ["q1", "q3"]
    assert data["capturing"] and data["counts"]["captured_bytes"] == recorder.captured_bytes == 192
    assert json.loads(json.dumps(data)) == data


def test_three_dispatch_listing(three):
    recorder, _ = three
    data = hd.hal_view_data(recorder)
    assert [d["export"] for d in data["dispatches"]] == [
        "three_dispatches_dispatch_0_elementwise_16_f32",
        "three_dispatches_dispatch_1_matmul_4x4x4_f32",
        "three_dispatches_dispatch_2_reduction_4x4_f32"]
    execute = next(s for s in data["submissions"] if s["kind"] == "execute")
    assert execute["dispatches"] == ["dispatch:0", "dispatch:1", "dispatch:2"]
    assert len(execute["wait"]) >= 1 and execute["wait"][0]["fence"].startswith("hal.fence#")
    dealloca = next(s for s in data["submissions"] if s["kind"] == "dealloca")
    assert dealloca["wait"][0]["semaphore"] == execute["signal"][0]["semaphore"]


# -- Contents -----------------------------------------------------------------------------------


def test_mlp_contents_match_numpy_and_iree_run_module(mlp, iree_tool):
    recorder, results = mlp
    for call, (text, result) in enumerate(zip(MLP_INPUTS, results, strict=True)):
        inputs, outputs = hd.dispatch_contents(recorder, recorder.dispatches[call])
        assert inputs["element"] == outputs["element"] == "f32"
        assert inputs["source"] == f"buffer view #{2 * call} (1x8xf32)"
        assert outputs["source"] == f"buffer view #{2 * call + 1} (1x4xf32)"
        assert (inputs["row"], outputs["row"]) == (8, 4)
        x = np.broadcast_to(np.array(text.split("=")[1].split(), np.float32), (8,))
        assert _values(inputs["before"]) == _values(inputs["after"]) == x.tolist()
        assert inputs["changed"] == []
        assert _values(outputs["before"]) == [0.0] * 4
        assert _values(outputs["after"]) == result.ravel().tolist()
        assert outputs["changed"] == [0, 1, 2, 3]
        (iree,) = _iree_results(iree_tool, samples.path("mlp"), "predict", [text])
        assert _values(outputs["after"]) == iree
    # The text is the shortest that round-trips in f32, as iree-run-module prints it.
    assert hd.dispatch_contents(recorder, recorder.dispatches[0])[1]["after"] == \
        ["10.1", "13.55", "11.3", "14.6"]


def test_transient_contents_and_the_element_type_from_the_export_name(three, iree_tool,
                                                                      build_module):
    recorder, result = three
    d0, d1, d2 = (hd.dispatch_contents(recorder, d) for d in recorder.dispatches)
    # dispatch 0: a*a into the first half of the transient (no buffer view covers it).
    assert d0[0]["source"] == "buffer view #0 (4x4xf32)" and d0[0]["row"] == 4
    assert d0[1]["source"] == "guessed from the export name" and d0[1]["element"] == "f32"
    assert d0[1]["count"] == 32
    assert _values(d0[1]["after"][:16]) == (A * A).ravel().tolist()
    assert d0[1]["changed"] == [i for i in range(16) if (A * A).ravel()[i] != 0]
    # dispatch 1: the matmul writes the second half.
    product = (A * A) @ B
    assert _values(d1[2]["after"][16:]) == product.ravel().tolist()
    assert all(16 <= i < 32 for i in d1[2]["changed"])
    assert _values(d1[1]["after"]) == B.ravel().tolist()
    # dispatch 2: the row maxima are the call's result, as iree-run-module computes it.
    assert _values(d2[1]["after"]) == result.tolist() == np.max(product, axis=1).tolist()
    inputs = ["4x4xf32=" + " ".join(str(v) for v in m.ravel()) for m in (A, B)]
    (iree,) = _iree_results(iree_tool, build_module("hal_stateful"), "three_dispatches", inputs)
    assert _values(d2[1]["after"]) == iree


def test_element_type_overrides(mlp):
    recorder, _ = mlp
    d = recorder.dispatches[0]
    hexed = hd.dispatch_contents(recorder, d, {"1": "hex"})[1]
    assert hexed["element"] == "hex" and hexed["source"] == "chosen" and hexed["row"] == 16
    assert "".join(hexed["after"]) == np.array([10.1, 13.55, 11.3, 14.6], "<f4").tobytes().hex()
    assert hexed["changed"] == list(range(16))
    as_int = hd.dispatch_contents(recorder, d, {1: "i32"})[1]
    assert as_int["after"][0] == str(np.array([10.1], "<f4").view("<i4")[0])
    halves = hd.dispatch_contents(recorder, d, {1: "f16"})[1]
    assert halves["count"] == 8 and len(halves["after"]) == 8
    # An unknown name is ignored; f64 over 16 bytes fits, over 32 too.
    assert hd.dispatch_contents(recorder, d, {1: "f128"})[1]["element"] == "f32"
    assert hd.dispatch_contents(recorder, d, {0: "f64"})[0]["count"] == 4


def _hand_made(before: bytes, after: bytes, export: str = "k_dispatch_0_generic_4_f32"):
    recorder = Recorder()
    binding = rec.ResolvedBinding(7, 0, len(before))
    d = rec.DispatchExecution(None, None, 0, 0, 0, export, (1, 1, 1), (), (binding,), 1, 2,
                              snapshots=(rec.BufferSnapshot(0, 7, 0, len(before), before,
                                                            after),))
    recorder.dispatches.append(d)
    return recorder, d


def test_changes_are_bytewise_and_formats_are_exact():
    before = np.array([np.nan, 0.0, 1.5, -2.0], "<f4").tobytes()
    after = np.array([np.nan, -0.0, 1.5, np.inf], "<f4").tobytes()
    recorder, d = _hand_made(before, after)
    (c,) = hd.dispatch_contents(recorder, d)
    assert c["before"] == ["nan", "0.0", "1.5", "-2.0"]
    assert c["after"] == ["nan", "-0.0", "1.5", "inf"]
    assert c["changed"] == [1, 3]  # NaN stays NaN; -0.0 is not 0.0
    # No buffer view and no usable type in the name: hex bytes.
    recorder, d = _hand_made(b"\x00\x01\x02", b"\x00\xff\x02", "k_dispatch_0_copy")
    (c,) = hd.dispatch_contents(recorder, d)
    assert (c["element"], c["before"], c["after"], c["changed"]) == \
        ("hex", ["00", "01", "02"], ["00", "ff", "02"], [1])
    assert c["source"] == "no buffer view over this range"
    # A type in the name that does not divide the range is not used.
    recorder, d = _hand_made(bytes(6), bytes(6))
    assert hd.dispatch_contents(recorder, d)[0]["element"] == "hex"
    # Integers print as integers, booleans as 0/1.
    assert hd.format_values(np.array([-1, 7], "<i4").tobytes(), "i32") == ["-1", "7"]
    assert hd.format_values(np.array([-1, 7], "<i4").tobytes(), "ui32") == ["4294967295", "7"]
    assert hd.format_values(b"\x01\x00", "i1") == ["1", "0"]
    assert hd.format_values(bytes(2), "bf16") == ["0.0"]
    # bf16 prints its shortest round-trip text, not float32's (1.1015625).
    bf16 = np.array([1.1, -3e10], np.float32).astype(ml_dtypes.bfloat16).tobytes()
    assert hd.format_values(bf16, "bf16") == ["1.1", "-3e+10"]


def test_element_cap():
    values = np.arange(3000, dtype="<f4")
    recorder, d = _hand_made(values.tobytes(), (values + 1).tobytes())
    (c,) = hd.dispatch_contents(recorder, d, max_elements=100)
    assert c["count"] == 3000 and len(c["after"]) == 100 and c["after"][99] == "100.0"
    assert c["changed"] == list(range(100)) and c["note"] == "first 100 of 3000 elements"


# -- Selection ----------------------------------------------------------------------------------


def test_selection_details(mlp):
    recorder, _ = mlp
    op = hd.hal_selection(recorder, "op:0:1")
    assert op["title"] == "q1 execute" and op["contents"] == []
    assert "s0 ≥ 1 ← q0 alloca  (fence hal.fence#0)" in op["html"]
    assert "s1 = 1 → host fence.await  (fence hal.fence#1)" in op["html"]
    assert "buffer #0 [0, +32)" in op["html"]  # the binding table
    d = hd.hal_selection(recorder, "dispatch:1", {"1": "hex"})
    assert d["title"] == "dispatch 1: predict_dispatch_0_matmul_1x4x8_f32"
    assert "@predict_dispatch_0_matmul_1x4x8_f32 [ordinal 0]" in d["html"]
    assert "q3 execute" in d["html"] and "cb#0 command 0" in d["html"]
    assert [c["element"] for c in d["contents"]] == ["f32", "hex"] and d["note"] == ""
    cb = hd.hal_selection(recorder, "cb:0:0")
    assert cb["title"] == "command buffer #0" and "predict_dispatch_0_matmul_1x4x8_f32" in cb["html"]
    for bogus in ("", "dispatch:9", "op:0", "op:x:y", "cb:0:5", "nothing"):
        assert hd.hal_selection(recorder, bogus) == \
            {"id": bogus, "title": "", "html": "", "contents": []}


def test_not_captured_says_how(build_module):
    recorder = Recorder()
    device = Device(recorder=recorder)
    ctx = vm.Context([HALModule([device]),
                      vm.BytecodeModule.load(build_module("hal_stateful"))])
    args = [io.buffer_view_from_numpy(A, device), io.buffer_view_from_numpy(B, device)]
    ctx.call_function(ctx.lookup_function("three_dispatches"), args)
    detail = hd.hal_selection(recorder, "dispatch:0")
    assert detail["contents"] == [] and detail["note"] == hd.NOT_CAPTURED
    assert not hd.hal_view_data(recorder)["dispatches"][0]["captured"]


def test_recorder_rich_html(mlp):
    recorder, _ = mlp
    page = render_html(recorder)
    assert "HAL recorder" in page and "4 queue operations, 2 dispatches" in page
    assert "captured (192 B)" in page
    assert page.count("predict_dispatch_0_matmul_1x4x8_f32 1×1×1") == 2
    assert "s0≥1" in page and "s3=1" in page


# -- The widget ---------------------------------------------------------------------------------


def test_hal_view_widget(mlp):
    pytest.importorskip("anywidget")
    from iree_lab.notebook import HALView, show
    from iree_lab.notebook._bundle import bundle

    recorder, _ = mlp
    view = HALView(recorder)
    assert view.detail == {"id": "", "title": "", "html": "", "contents": []}
    assert view.data == hd.hal_view_data(recorder)
    assert view.element_choices[0] == "hex" and "f32" in view.element_choices
    detail = view.select("dispatch:0")
    assert detail["contents"][1]["after"] == ["10.1", "13.55", "11.3", "14.6"]
    view.element_types = {"1": "hex"}  # what the browser's menu sends
    assert view.detail["contents"][1]["element"] == "hex"
    view.selected = "dispatch:1"  # a new selection starts from the inferred types
    assert view.element_types == {} and view.detail["contents"][1]["element"] == "f32"
    assert view.detail["contents"][1]["after"] == ["1.1", "1.175", "1.3", "0.85"]
    assert isinstance(show(recorder), HALView)
    with pytest.raises(TypeError):
        HALView("not a recorder")
    code = bundle("hal_view.js")
    assert "il-hal-binding" in code and "from './" not in code


def test_hal_view_refresh(build_module):
    pytest.importorskip("anywidget")
    from iree_lab.notebook import HALView

    recorder = Recorder(capture_buffers=True)
    device = Device(recorder=recorder)
    ctx = vm.Context([HALModule([device]),
                      vm.BytecodeModule.load(build_module("hal_stateful"))])
    view = HALView(recorder)
    before = len(view.data["dispatches"])
    args = [io.buffer_view_from_numpy(A, device), io.buffer_view_from_numpy(B, device)]
    ctx.call_function(ctx.lookup_function("three_dispatches"), args)
    view.refresh()
    assert len(view.data["dispatches"]) == before + 3


def test_rich_display_of_a_recorder(mlp):
    pytest.importorskip("anywidget")
    from IPython.core.interactiveshell import InteractiveShell

    from iree_lab.notebook import display

    shell = InteractiveShell.instance()
    assert display.register(shell)
    recorder, _ = mlp
    formats, _ = shell.display_formatter.format(recorder)
    assert "application/vnd.jupyter.widget-view+json" in formats
    assert "HAL recorder" in formats["text/html"]
