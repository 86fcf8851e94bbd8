"""hal_inline + hal_loader: inline-dynamic VMVX programs vs iree-run-module, and tooling."""

from __future__ import annotations

import numpy as np
import pytest
from test_hal_e2e import CASES, run_ours

from iree_lab import vm
from iree_lab.hal import io, tooling
from iree_lab.hal.inline import HALInlineModule, HALLoaderModule
from iree_lab.testing import corpus

INLINE_FLAGS = corpus._LOCAL_VMVX + ["--iree-execution-model=inline-dynamic"]
_PROGRAMS = {"tensor": "tensor.mlir", "linalg": "hal/linalg.mlir",
             "elementwise": "hal/elementwise.mlir", "stateful": "hal/stateful.mlir",
             "control": "hal/control.mlir", "ops": "hal/ops.mlir",
             "nn": "hal/nn.mlir", "halfs": "hal/halfs.mlir",
             "halfs_layout": "hal/halfs_layout.mlir"}
_INLINE_CASES = [c for c in CASES if c[0] in _PROGRAMS]


@pytest.fixture(scope="module")
def inline_contexts():
    cache = {}

    def get(program: str):
        if program not in cache:
            path = corpus.build(corpus.Program(f"hal_inline_{program}", _PROGRAMS[program],
                                               tuple(INLINE_FLAGS)))
            user = vm.BytecodeModule.load(path)
            session = tooling.Session.for_modules([user])
            assert [m.name for m in session.modules] == ["hal_inline", "hal_loader"]
            # Stepping tier: the fast tier drops refs moved inside variadic spans
            # (hal_loader.executable.dispatch's bindings).
            ctx = vm.Context(session.modules + [user])
            cache[program] = (path, ctx, session.device)
        return cache[program]

    return get


@pytest.mark.parametrize(("program", "function", "inputs"), _INLINE_CASES,
                         ids=[f"{c[0]}.{c[1]}-{i}" for i, c in enumerate(_INLINE_CASES)])
def test_inline_programs_match_iree_run_module(iree_tool, inline_contexts, program, function,
                                               inputs):
    path, ctx, device = inline_contexts(program)
    args = ["--device=local-sync", f"--module={path}", f"--function={function}"]
    expected = iree_tool("iree-run-module", *args, *[f"--input={i}" for i in inputs])
    assert run_ours(ctx, device, function, inputs) == expected.stdout.decode()


def test_inline_stateful_globals_match_iree_runtime(build_module, inline_contexts):
    """Globals persist across inline calls as they do with the full HAL in iree.runtime."""
    ireert = pytest.importorskip("iree.runtime")
    config = ireert.Config("local-sync")
    ref_ctx = ireert.SystemContext(config=config)
    ref_ctx.add_vm_module(ireert.VmModule.mmap(config.vm_instance,
                                               str(build_module("hal_stateful"))))
    ref = ref_ctx.modules.module
    _, ctx, device = inline_contexts("stateful")
    ctx = vm.Context(ctx.modules)  # fresh globals, whatever ran before
    fn = ctx.lookup_function("accumulate")
    for x in ([1, 2, 3, 4], [0.5, -1, 0.25, 8], [-10, 10, 1e-3, 0]):
        x = np.array(x, np.float32)
        expected = np.asarray(ref.accumulate(x))
        (view,) = ctx.call_function(fn, [io.buffer_view_from_numpy(x, device)])
        got = view.to_numpy()
        assert got.dtype == expected.dtype and got.tobytes() == expected.tobytes()
    assert ctx.call("calls") == int(ref.calls()) == 3


def test_inline_module_versions():
    assert (HALInlineModule.name, HALInlineModule.version) == ("hal_inline", 0)
    assert (HALLoaderModule.name, HALLoaderModule.version) == ("hal_loader", 1)
    loader = HALLoaderModule()
    assert {n: f.cconv.text for n, f in loader.exports.items()} == {
        "executable.query_support": "0r_i", "executable.load": "0rrr_r",
        "executable.lookup.function": "0rr_I", "executable.dispatch": "0rIiiiCiDCrIID_v"}
    assert len(HALInlineModule().exports) == 15


def test_session_selects_hal_modules(build_module):
    user = vm.BytecodeModule.load(build_module("tensor_vmvx"))
    session = tooling.Session.for_modules([user], device_uri="local-task")
    assert [m.name for m in session.modules] == ["hal"]
    assert session.device.identifier == "local-task"
    assert tooling.Session.for_modules([]).modules == []
    with pytest.raises(vm.VMStatus) as info:
        tooling.create_device("cuda")
    assert info.value.code.name == "NOT_FOUND"
    ctx = vm.Context(session.modules + [user])
    fn = ctx.lookup_function("add")
    values = session.parse_inputs(fn.cconv.arguments, ["4xf32=1", "4xf32=2"])
    text = session.format_results(ctx.call_function(fn, values), fn.cconv.results)
    assert text == "result[0]: hal.buffer_view\n4xf32=3 3 3 3\n"
    assert io.format_results([None, 7], "ri") == "result[0]: (null)\nresult[1]: i32=7\n"


def test_inline_dispatches_are_recorded(iree_tool):
    """hal_loader dispatches reach the Recorder (no queue operation or command buffer);
    the captured output of the last dispatch is what iree-run-module prints, and the
    HAL views show them."""
    import json

    from iree_lab.hal import Recorder
    from iree_lab.views import hal as hv
    from iree_lab.views import hal_data

    path = corpus.build(corpus.Program("hal_inline_elementwise", "hal/elementwise.mlir",
                                       tuple(INLINE_FLAGS)))
    inputs = ["16xf32=" + " ".join(str(i) for i in range(16)), "16xf32=0.5"]
    expected = iree_tool("iree-run-module", "--device=local-sync", f"--module={path}",
                         "--function=chain", *[f"--input={i}" for i in inputs])
    recorder = Recorder(capture_buffers=True)
    user = vm.BytecodeModule.load(path)
    session = tooling.Session.for_modules([user], recorder=recorder)
    ctx = vm.Context(session.modules + [user])
    out = run_ours(ctx, session.device, "chain", inputs)
    assert out == expected.stdout.decode()
    (d,) = recorder.dispatches  # chain: one dispatch
    assert (d.queue_operation, d.command_buffer) == (None, None)
    assert d.status == "OK" and d.completed_at > d.started_at
    assert d.export_name == recorder.executables[d.executable].exports[d.function]
    assert len(d.bindings) == 3
    # Every binding lies in an allocation hal_inline made and the recorder holds.
    for b in d.bindings:
        record = recorder.buffers[b.buffer]
        assert not record.is_subspan and b.offset + b.length <= record.byte_length
    # The output binding after the dispatch holds the printed result.
    values = np.frombuffer(d.snapshots[-1].after, dtype=np.float32)
    printed = expected.stdout.decode().splitlines()[-1].split("=", 1)[1].split()
    assert [f"{v:g}" for v in values] == printed
    # The views cope with a dispatch outside any queue operation.
    data = hal_data.hal_view_data(recorder)
    assert data["dispatches"][0]["op"] is None and data["dispatches"][0]["command_buffer"] is None
    detail = hal_data.hal_selection(recorder, "dispatch:0")
    assert "chain_dispatch_0" in detail["title"] + detail["html"]
    assert "chain_dispatch_0" in hal_data.recorder_html(recorder)
    trace = hv.hal_trace(recorder)
    assert any(e.get("cat") == "dispatch" for e in trace["traceEvents"])
    json.dumps(trace)
    hv.queue_timeline(recorder)
    hv.buffer_lifetimes(recorder)
