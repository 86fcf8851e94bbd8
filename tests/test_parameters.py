"""External parameters: archives, the io_parameters module, dump-parameters, views.

Differential throughout: the same modules and parameter files through IREE's
tools (iree-run-module, iree-dump-parameters, iree-create-parameters,
iree-convert-parameters, iree-compile's parameter export) and through iree_lab.
Test modules come from tests/programs/parameters; archives from the runtime
wheel's tools and from this project's own writers (tests/paramfiles.py).

Every run case is parametrized by TARGETS: VMVX executables (nested Python VM)
and llvm-cpu ones (native code through iree_lab.hal.native).
"""

from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from paramfiles import gguf_bytes, irpa_bytes, safetensors_bytes

import iree_lab
from iree_lab import vm
from iree_lab.cli.main import main
from iree_lab.format.parameters import (
    ParameterFormatError,
    ScopeMap,
    open_parameter_file,
)
from iree_lab.hal import Device, Recorder, Session
from iree_lab.hal.parameters import (
    ModuleParameters,
    ParameterProvider,
    ParametersModule,
    parameter_bindings,
)
from iree_lab.testing import corpus
from iree_lab.views.rich import render_html
from iree_lab.vm.buffer import Buffer as VMBuffer
from iree_lab.vm.status import StatusCode, VMStatus

TARGETS = {
    "vmvx": ["--iree-hal-target-device=local", "--iree-hal-local-target-device-backends=vmvx"],
    # Native CPU executables (iree_lab.hal.native): parameters feed llvm-cpu dispatches too.
    "llvm_cpu": corpus._LOCAL_LLVM_CPU,
}


def _program(name: str, target: str) -> Path:
    return corpus.build(corpus.Program(f"parameters_{name}_{target}", f"parameters/{name}.mlir",
                                       tuple(TARGETS[target])))


# -- Archives ---------------------------------------------------------------------------------

WEIGHT = np.array([0.5, -2.0, 3.25, 1e-3], dtype=np.float32)
BIAS = np.array([1.0, 2.0, -3.0, 0.125], dtype=np.float32)
TABLE = np.arange(-3, 3, dtype=np.int32).reshape(2, 3)
FC_W = np.linspace(-1, 1, 32, dtype=np.float32).reshape(8, 4)
FC_B = np.array([0.1, 0.2, 0.3, 0.4], dtype=np.float32)


def _tool(name: str, *args) -> subprocess.CompletedProcess:
    return subprocess.run([corpus.tool_path(name), *map(str, args)], capture_output=True)


@pytest.fixture(scope="module")
def archives(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("params")
    files: dict[str, Path] = {}

    def write(name, data):
        files[name] = d / name
        files[name].write_bytes(data)

    write("model.safetensors", safetensors_bytes({"weight": WEIGHT, "bias": BIAS},
                                                 metadata={"format": "pt"}))
    write("extra.safetensors", safetensors_bytes({"table": TABLE}))
    write("model.gguf", gguf_bytes({"weight": WEIGHT, "bias": BIAS}, metadata=[
        ("general.name", 8, struct.pack("<Q", 4) + b"test"),
        ("tokenizer.scores", 9, struct.pack("<IQ", 6, 3) + np.ones(3, np.float32).tobytes()),
        ("tokenizer.tokens", 9, struct.pack("<IQ", 8, 2) + struct.pack("<Q", 1) + b"a"
         + struct.pack("<Q", 2) + b"bc"),
        ("general.flag", 7, b"\x01"), ("general.big", 12, struct.pack("<d", 2.5))]))
    write("model_v2.gguf", gguf_bytes({"bias": BIAS, "weight": WEIGHT}, version=2,
                                      alignment=64))
    write("extra.gguf", gguf_bytes({"table": TABLE}))
    write("fc.safetensors", safetensors_bytes({"fc.weight": FC_W, "fc.bias": FC_B}))
    write("fc.gguf", gguf_bytes({"fc.bias": FC_B, "fc.weight": FC_W}))
    write("own.irpa", irpa_bytes([("data", "weight", WEIGHT.tobytes()),
                                  ("skip", "erased"),
                                  ("splat", "bias", 16, struct.pack("<f", 1.5)),
                                  ("data", "unused", b"abc")]))
    write("extra_own.irpa", irpa_bytes([("data", "table", TABLE.tobytes())], data_alignment=16))
    write("acc.safetensors", safetensors_bytes({"acc": np.array([1, 2, 3, 4], np.int32)}))
    write("empty.safetensors", safetensors_bytes({}))
    write("empty.gguf", gguf_bytes({}))
    write("empty.irpa", irpa_bytes([]))
    # The runtime wheel's tools.
    files["model.irpa"] = d / "model.irpa"
    _check(_tool("iree-convert-parameters", f"--parameters={files['model.safetensors']}",
                 f"--output={files['model.irpa']}"))
    files["model_gguf.irpa"] = d / "model_gguf.irpa"
    _check(_tool("iree-convert-parameters", f"--parameters={files['model.gguf']}",
                 f"--output={files['model_gguf.irpa']}"))
    files["extra.irpa"] = d / "extra.irpa"
    _check(_tool("iree-create-parameters", "--data=table=2x3xi32", "--data=pad=3xi8",  # (a --data pattern fails to write in 3.13)
                 f"--output={files['extra.irpa']}", "--quiet"))
    files["splat.irpa"] = d / "splat.irpa"
    _check(_tool("iree-create-parameters", "--splat=weight=4xf32=2.5",
                 "--splat=bias=8xi16=-3", "--splat=table=24xi8=5",
                 f"--output={files['splat.irpa']}", "--quiet"))
    files["mixed.irpa"] = d / "mixed.irpa"
    _check(_tool("iree-convert-parameters", f"--parameters={files['model.safetensors']}",
                 f"--parameters={files['extra.irpa']}", "--exclude=pad",
                 "--rename=bias=renamed", "--splat=weight=f32=4.5",
                 f"--output={files['mixed.irpa']}"))
    files["stripped.irpa"] = d / "stripped.irpa"
    _check(_tool("iree-convert-parameters", f"--parameters={files['model.irpa']}", "--strip",
                 f"--output={files['stripped.irpa']}"))
    return files


def _check(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stderr.decode(errors="replace")


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, Path]:
    """inline.mlir compiled with the compiler's parameter export and splat passes."""
    d = tmp_path_factory.mktemp("exported")
    out = {"vmfb": d / "inline.vmfb", "irpa": d / "exported.irpa", "splat": d / "splat.irpa"}
    source = corpus.PROGRAMS_DIR / "parameters" / "inline.mlir"
    # --iree-opt-export-parameters (now --iree-parameter-export) runs after const-eval,
    # when 3.13 has already folded these globals away; the same pass as preprocessing
    # exports them (the flag's documented alternative).
    _check(_tool("iree-compile", *TARGETS["vmvx"], source,
                 "--iree-preprocessing-pass-pipeline=builtin.module(iree-io-export-parameters"
                 f"{{path=model={out['irpa']} minimum-size=0}})",
                 f"--iree-opt-splat-parameters={out['splat']}", "-o", out["vmfb"]))
    out["vmfb_vmvx"] = out["vmfb"]
    for target in TARGETS:  # the same export for every target (the archives are the same)
        if target != "vmvx":
            out[f"vmfb_{target}"] = d / f"inline_{target}.vmfb"
            _check(_tool("iree-compile", *TARGETS[target], source,
                         "--iree-preprocessing-pass-pipeline=builtin.module("
                         f"iree-io-export-parameters{{path=model={d / 'unused.irpa'} "
                         "minimum-size=0})", f"--iree-opt-splat-parameters={d / 'unused.splat'}",
                         "-o", out[f"vmfb_{target}"]))
    return out


# -- Running: iree-lab run vs iree-run-module ---------------------------------------------------

RUN_CASES = [
    # (program, function, inputs, parameter flags by archive name)
    ("scoped", "predict", ["4xf32=1 2 3 4"], ["model=model.safetensors", "extra=extra.safetensors"]),
    ("scoped", "predict", ["4xf32=1 2 3 4"], ["model=model.gguf", "extra=extra.gguf"]),
    ("scoped", "predict", ["4xf32=1 2 3 4"], ["model=model_v2.gguf", "extra=extra.gguf"]),
    ("scoped", "predict", ["4xf32=-1 0 1 2"], ["model=model.irpa", "extra=extra.irpa"]),
    ("scoped", "predict", ["4xf32=-1 0 1 2"], ["model=model_gguf.irpa", "extra=extra_own.irpa"]),
    ("scoped", "predict", ["4xf32=1 1 1 1"], ["model=own.irpa", "extra=extra.safetensors"]),
    # Splats of 4- and 1-byte patterns (fills on the queue); 2-byte below.
    ("scoped", "predict", ["4xf32=1 2 3 4"], ["model=splat.irpa", "extra=splat.irpa"]),
    # Several files in one scope: the first file with a key wins.
    ("scoped", "predict", ["4xf32=1 2 3 4"],
     ["model=splat.irpa", "model=model.safetensors", "extra=extra.gguf"]),
    ("scoped", "predict", ["4xf32=1 2 3 4"], ["model=mixed.irpa", "model=model.gguf",
                                              "extra=mixed.irpa"]),
    ("scoped", "predict", ["4xf32=1 2 3 4"], ["model=stripped.irpa", "extra=extra.irpa"]),
    ("unscoped", "fc", ["2x8xf32=1 2 3 4 5 6 7 8 -1 -2 -3 -4 -5 -6 -7 -8"], ["fc.safetensors"]),
    ("unscoped", "fc", ["2x8xf32=0.5"], ["fc.gguf"]),
    ("mutable", "step", ["4xi32=10 20 30 40"], ["model=acc.safetensors"]),
    # Failures, same status code as IREE: no such key, no provider for a scope, a
    # parameter shorter than its global, an 8-byte splat (fills take 1, 2 or 4).
    ("scoped", "predict", ["4xf32=1"], ["model=extra.safetensors", "extra=extra.gguf"]),
    ("scoped", "predict", ["4xf32=1"], ["model=model.safetensors"]),
    ("scoped", "predict", ["4xf32=1"], ["extra=model.safetensors", "model=extra.gguf"]),
    ("scoped", "predict", ["4xf32=1"], ["model.safetensors", "extra.safetensors"]),
    ("unscoped", "fc", ["2x8xf32=1"], []),
    ("unscoped", "fc", ["2x8xf32=1"], ["missing.irpa"]),
    ("unscoped", "fc", ["2x8xf32=1"], ["fc.txt"]),
]


def _status(text: str) -> str | None:
    m = re.search(r"\b([A-Z][A-Z_]{3,});", text)
    return m.group(1) if m else None


def _compare_run(capsys, module: Path, function: str, inputs, flags):
    argv = [f"--module={module}", f"--function={function}", "--device=local-sync"]
    argv += [f"--input={x}" for x in inputs] + [f"--parameters={f}" for f in flags]
    expected = subprocess.run([corpus.tool_path("iree-run-module"), *argv], capture_output=True,
                              text=True)
    code = main(["run", *argv])
    out, err = capsys.readouterr()
    assert out == expected.stdout, err
    assert (code == 0) == (expected.returncode == 0), (err, expected.stderr)
    if code:
        assert _status(err) == _status(expected.stderr), (err, expected.stderr)
    return code, out, err


@pytest.mark.parametrize("target", list(TARGETS))
@pytest.mark.parametrize(("program", "function", "inputs", "flags"), RUN_CASES,
                         ids=[f"{c[0]}[{','.join(c[3])}]" for c in RUN_CASES])
def test_run_matches_iree_run_module(capsys, archives, target, program, function, inputs,
                                     flags):
    module = _program(program, target)
    resolved = []
    for flag in flags:
        scope, sep, name = flag.rpartition("=")
        path = archives.get(name, archives["model.safetensors"].parent / name)
        resolved.append(f"{scope}{sep}{path}")
    _compare_run(capsys, module, function, inputs, resolved)


def test_run_two_byte_splat(capsys, tmp_path):
    params = tmp_path / "i16.irpa"
    _check(_tool("iree-create-parameters", "--splat=acc=8xi16=-2", f"--output={params}",
                 "--quiet"))
    code, out, _ = _compare_run(capsys, _program("mutable", "vmvx"), "step", ["4xi32=1 2 3 4"],
                                [f"model={params}"])
    assert code == 0 and "4xi32=-65537 -65536 -65535 -65534" in out


@pytest.mark.parametrize("target", list(TARGETS))
def test_run_compiler_exported_archives(capsys, exported, target):
    module = exported[f"vmfb_{target}"]
    for archive in ("irpa", "splat"):
        code, out, _ = _compare_run(capsys, module, "main", ["2x3xf32=1 2 3 4 5 6"],
                                    [f"model={exported[archive]}"])
        assert code == 0
    assert "2x3xf32=[1 4 9][16 25 36]" in _compare_run(
        capsys, module, "main", ["2x3xf32=1 2 3 4 5 6"], [f"model={exported['irpa']}"])[1]


# -- dump-parameters vs iree-dump-parameters -----------------------------------------------------

DUMP_CASES = [
    ["model.safetensors"], ["extra.safetensors"], ["model.gguf"], ["model_v2.gguf"],
    ["extra.gguf"], ["own.irpa"], ["extra_own.irpa"], ["model.irpa"], ["model_gguf.irpa"],
    ["extra.irpa"], ["splat.irpa"], ["mixed.irpa"], ["stripped.irpa"], ["empty.safetensors"],
    ["empty.gguf"], ["empty.irpa"], ["fc.safetensors", "fc.gguf"],
    ["a=model.safetensors", "b=model.gguf", "model.irpa", "a=extra.irpa", "=splat.irpa"],
]


def _dump_pair(capsysbinary, flags):
    expected = _tool("iree-dump-parameters", *[f"--parameters={f}" for f in flags])
    code = main(["dump-parameters", *[f"--parameters={f}" for f in flags]])
    out, err = capsysbinary.readouterr()
    return expected, code, out, err


def _resolve(archives, flags):
    out = []
    for flag in flags:
        scope, sep, name = flag.rpartition("=")
        out.append(f"{scope}{sep}{archives[name]}")
    return out


@pytest.mark.parametrize("flags", DUMP_CASES, ids=["+".join(c) for c in DUMP_CASES])
def test_dump_parameters_identical(capsysbinary, archives, flags):
    expected, code, out, err = _dump_pair(capsysbinary, _resolve(archives, flags))
    assert expected.returncode == 0 and code == 0, err
    assert out == expected.stdout


def test_dump_parameters_compiler_archives(capsysbinary, exported):
    for archive in ("irpa", "splat"):
        expected, code, out, _ = _dump_pair(capsysbinary, [f"model={exported[archive]}"])
        assert code == 0 and out == expected.stdout


def test_dump_parameters_positional_and_extract(capsysbinary, archives, tmp_path):
    path = archives["model.safetensors"]
    target = tmp_path / "bias.bin"
    # IREE extracts only from preloaded files (its default file mode refuses with
    # UNIMPLEMENTED); iree_lab reads the mapped range either way.
    expected = _tool("iree-dump-parameters", f"--parameters=m={path}", "--parameter_mode=preload",
                     f"--extract=m::bias={tmp_path / 'ref.bin'}")
    code = main(["dump-parameters", f"--parameters=m={path}", f"--extract=m::bias={target}"])
    out, _ = capsysbinary.readouterr()
    assert code == 0 and out.replace(b"bias.bin", b"ref.bin") == expected.stdout
    assert target.read_bytes() == (tmp_path / "ref.bin").read_bytes() == BIAS.tobytes()
    expected = _tool("iree-dump-parameters", f"--parameters={path}")
    assert main(["dump-parameters", str(path)]) == 0
    assert capsysbinary.readouterr().out == expected.stdout


# -- Bad input ------------------------------------------------------------------------------------


def _damaged(archives, tmp_path) -> dict[str, bytes]:
    st = archives["model.safetensors"].read_bytes()
    gg = archives["model.gguf"].read_bytes()
    ir = archives["model.irpa"].read_bytes()
    header_len = struct.unpack_from("<Q", st)[0]
    return {
        "truncated.safetensors": st[:-5],
        "short_header.safetensors": st[:4],
        "header_overrun.safetensors": struct.pack("<Q", 1 << 40) + st[8:],
        "bad_json.safetensors": st[:8] + b"[" + st[9:],
        "bad_offsets.safetensors": st.replace(b'"data_offsets":[0,16]',
                                              b'"data_offsets":[9,"a"]'),
        "reversed_offsets.safetensors": st.replace(b'"data_offsets":[0,16]',
                                                   b'"data_offsets":[16,0]'),
        "no_offsets.safetensors": st.replace(b'"data_offsets"', b'"data_offsetz"'),
        "header_only.safetensors": st[:8 + header_len],
        "truncated.gguf": gg[:-3],
        "bad_magic.gguf": b"GGUX" + gg[4:],
        "v1.gguf": gg[:4] + struct.pack("<I", 1) + gg[8:],
        "cut_header.gguf": gg[:30],
        "truncated.irpa": ir[:open_parameter_file(archives["model.irpa"]).entries[-1].offset + 4],
        "bad_magic.irpa": b"IRPX" + ir[4:],
        "tiny.irpa": ir[:10],
        "v1.irpa": ir[:4] + struct.pack("<H", 1) + ir[6:],
        "minor.irpa": ir[:6] + struct.pack("<H", 1) + ir[8:],
        "header_size.irpa": ir[:8] + struct.pack("<Q", 80) + ir[16:],
        "external.irpa": irpa_bytes([("external", "far")]),
        "entry_count.irpa": irpa_bytes([("data", "x", b"1234")], entry_count=9),
        "splat_length.irpa": irpa_bytes([("splat", "s", 4, b"\x01")]).replace(
            b"\x01\x00" * 1 + b"\x00" * 14 + b"\x01", b"\x01" + b"\x00" * 15 + b"\x11"),
        "chain_past_end.irpa": irpa_bytes([("data", "x", b"1")], next_header_offset=1 << 20),
    }


def test_bad_archives_fail_like_iree(capsysbinary, archives, tmp_path):
    compared = 0
    for name, data in _damaged(archives, tmp_path).items():
        path = tmp_path / name
        path.write_bytes(data)
        expected = _tool("iree-dump-parameters", f"--parameters={path}")
        code = main(["dump-parameters", f"--parameters={path}"])
        out, err = capsysbinary.readouterr()
        text = err.decode()
        assert expected.returncode != 0, name
        assert code == 1 and out == b"", name
        assert _status(text) == _status(expected.stderr.decode()), (name, text, expected.stderr)
        assert str(path) in text, text  # the file is named
        compared += 1
        with pytest.raises(ParameterFormatError) as info:
            open_parameter_file(path)
        assert info.value.path == str(path)
    assert compared == 22


def test_scope_with_equals_sign(capsysbinary, archives):
    # Split at the first '=': scope "x", file "y=..." (which does not exist) - both fail.
    expected, code, out, err = _dump_pair(capsysbinary, [f"x=y={archives['own.irpa']}"])
    assert expected.returncode != 0 and code == 1 and out == b""
    assert _status(err.decode()) == _status(expected.stderr.decode()) == "NOT_FOUND"


def test_error_names_key_and_offset(archives, tmp_path):
    path = tmp_path / "x.safetensors"
    path.write_bytes(archives["model.safetensors"].read_bytes().replace(
        b'"data_offsets":[16,32]', b'"data_offsets":[16,99]'))
    with pytest.raises(ParameterFormatError) as info:
        open_parameter_file(path)
    e = info.value
    assert e.code == "INVALID_ARGUMENT" and e.key == "bias" and e.offset is not None
    assert "bias" in str(e) and str(path) in str(e) and "end=99" in str(e)


def test_scope_mismatch_and_missing_key_name_the_scope_and_file(capsys, archives):
    module = _program("scoped", "vmvx")
    code, _, err = _compare_run(capsys, module, "predict", ["4xf32=1"],
                                [f"model={archives['model.safetensors']}"])
    assert code == 1 and "scopes like 'extra'" in err and "'model'" in err
    code, _, err = _compare_run(capsys, module, "predict", ["4xf32=1"],
                                [f"model={archives['extra.gguf']}",
                                 f"extra={archives['extra.gguf']}"])
    assert code == 1 and "key 'weight'" in err and "extra.gguf" in err


# -- The module directly: gather, spans, scatter, recording ------------------------------------


def _args(keys, spans):
    data = b"".join(k.encode() for k in keys)
    table, offset = b"", 0
    for k in keys:
        table += struct.pack("<II", offset, len(k))
        offset += len(k)
    span_bytes = b"".join(struct.pack("<QQQ", *s) for s in spans)
    return (VMBuffer.from_bytes(table), VMBuffer.from_bytes(data), VMBuffer.from_bytes(span_bytes))


def _module_for(path, scope="m"):
    scopes = ScopeMap()
    scopes.add_file(scope, path)
    return ParametersModule.from_scope_map(scopes)


def test_gather_reads_spans_into_one_buffer(archives):
    recorder = Recorder()
    device = Device(recorder=recorder)
    module = _module_for(archives["own.irpa"])
    target = device.allocator.allocate(0x30, 0x3, 64)
    signal = device.create_fence([(device.create_semaphore(0), 1)])
    module.gather(device, -1, None, signal, VMBuffer.from_bytes(b"m"), target,
                  *_args(["weight", "bias", "weight"], [(0, 0, 16), (4, 16, 8), (8, 40, 8)]))
    assert signal.is_reached()
    data = target.map_read(0, 48)
    assert data[:16] == WEIGHT.tobytes()
    assert data[16:24] == struct.pack("<f", 1.5) * 2
    assert data[40:48] == WEIGHT.tobytes()[8:]
    reads = recorder.operations("read")
    assert [op.details["parameter"] for op in reads] == ["weight", "weight"]
    assert {op.buffer for op in reads} == {target.id}
    fills = recorder.operations("execute")
    assert fills and fills[0].details["parameters"] == ["bias"]
    barrier = recorder.operations("barrier")[-1]
    assert [t.semaphore for t in barrier.signal] == [signal.timepoints[0][0].id]
    assert recorder.calls_to("io_parameters.gather")


@pytest.mark.parametrize(("span", "code", "words"), [
    ((0, 40, 16), StatusCode.OUT_OF_RANGE, ["weight", "buffer_offset=40", "own.irpa"]),
    ((8, 0, 16), StatusCode.OUT_OF_RANGE, ["weight", "offset=8", "size=16"]),
])
def test_gather_span_errors_name_key_and_offset(archives, span, code, words):
    device = Device()
    module = _module_for(archives["own.irpa"])
    target = device.allocator.allocate(0x30, 0x3, 48)
    signal = device.create_fence([(device.create_semaphore(0), 1)])
    with pytest.raises(VMStatus) as info:
        module.gather(device, -1, None, signal, VMBuffer.from_bytes(b"m"), target,
                      *_args(["weight"], [span]))
    assert info.value.code == code
    for word in words:
        assert word in str(info.value)
    assert signal.failure() is not None  # the caller's fence fails like IREE's batch end


def test_malformed_indirect_arguments():
    device = Device()
    module = ParametersModule([])
    with pytest.raises(VMStatus, match="no provider registered"):
        module.gather(device, -1, None, None, None, device.allocator.allocate(0x30, 0x3, 4),
                      *_args(["k"], [(0, 0, 4)]))
    module = ParametersModule([ParameterProvider("", ScopeMap().lookup(""))])
    target = device.allocator.allocate(0x30, 0x3, 4)
    table, data, spans = _args(["k"], [(0, 0, 4)])
    cases = [
        (table, data, VMBuffer.from_bytes(b"\0" * 23), StatusCode.INVALID_ARGUMENT),
        (VMBuffer.from_bytes(b"\0" * 4), data, spans, StatusCode.INVALID_ARGUMENT),
        (VMBuffer.from_bytes(struct.pack("<II", 5, 1)), data, spans, StatusCode.OUT_OF_RANGE),
        (VMBuffer.from_bytes(struct.pack("<II", 0, 9)), data, spans, StatusCode.OUT_OF_RANGE),
        (table, data, spans, StatusCode.NOT_FOUND),
    ]
    for t, d, s, code in cases:
        with pytest.raises(VMStatus) as info:
            module.gather(device, -1, None, None, None, target, t, d, s)
        assert info.value.code == code


def test_scatter_is_refused_like_iree(archives):
    device = Device()
    module = _module_for(archives["own.irpa"])
    source = device.allocator.allocate(0x30, 0x3, 16)
    with pytest.raises(VMStatus) as info:
        module.scatter(device, -1, None, None, source, VMBuffer.from_bytes(b"m"),
                       *_args(["weight"], [(0, 0, 16)]))
    assert info.value.code == StatusCode.PERMISSION_DENIED and "weight" in str(info.value)


def test_recorder_shows_weight_loading(archives):
    module = vm.BytecodeModule.load(_program("scoped", "vmvx"))
    recorder = Recorder()
    session = Session.for_modules([module], recorder=recorder, parameters=[
        f"model={archives['model.safetensors']}", f"extra={archives['extra.gguf']}"])
    context = vm.Context(session.modules + [module])
    fn = context.lookup_function("predict")
    results = context.call_function(fn, session.parse_inputs(fn.cconv.arguments, ["4xf32=1"]))
    assert "4xf32=1.5 0 0.25 0.126" in session.format_results(results, fn.cconv.results)
    reads = recorder.operations("read")
    assert [(op.details["scope"], op.details["parameter"], op.details["length"]) for op in reads] \
        == [("model", "weight", 16), ("model", "bias", 16), ("extra", "table", 24)]
    allocas = {op.buffer: op for op in recorder.operations("alloca")}
    for op in reads:  # each read fills the buffer its alloca made, on the same timeline
        alloca = allocas[op.buffer]
        assert alloca.details["parameter"] == op.details["parameter"]
        assert op.wait == alloca.signal
        assert op.status == "OK"
    assert [c.args["scope"] for c in recorder.calls_to("io_parameters.load")] == ["model", "extra"]
    # The statically found bindings name the globals that hold the loaded bytes.
    state = context.state_of(module)
    expected = {"weight": WEIGHT.tobytes(), "bias": BIAS.tobytes(), "table": TABLE.tobytes()}
    bindings = parameter_bindings(iree_lab.open(_program("scoped", "vmvx")))
    for b in bindings:
        buffer = state.global_refs[b.global_ordinal]
        assert buffer.map_read(0, b.length) == expected[b.key], b
    # The HAL views say which parameter each operation moves.
    from iree_lab.views.hal import dependency_dot, queue_operations_html
    from iree_lab.views.hal_data import hal_view_data

    assert "parameter model::weight" in queue_operations_html(recorder)
    assert "parameter extra::table" in dependency_dot(recorder)
    assert "parameter model::bias" in str(hal_view_data(recorder))
    context.close()


# -- Static analysis and views -----------------------------------------------------------------


def test_bindings_from_init_bytecode(archives):
    bindings = parameter_bindings(iree_lab.open(_program("scoped", "vmvx")))
    assert [(b.scope, b.key, b.length, b.op) for b in bindings] == [
        ("model", "weight", 16, "load"), ("model", "bias", 16, "load"),
        ("extra", "table", 24, "load")]
    assert len({b.global_ordinal for b in bindings}) == 3
    assert all(b.global_name.startswith(".refs[") for b in bindings)
    unscoped = parameter_bindings(iree_lab.open(_program("unscoped", "vmvx")))
    assert [(b.scope, b.key, b.length) for b in unscoped] == [("", "fc.weight", 128),
                                                              ("", "fc.bias", 16)]
    # The globals named are the ones iree-dump-module's disassembly stores the loaded
    # buffers into.
    text = _tool("iree-dump-module", "--output=disassembly",
                 _program("scoped", "vmvx")).stdout.decode()
    for b in bindings:
        assert re.search(rf"vm.global.store.ref %[rR]\d+, {re.escape(b.global_name)} : !hal.buffer",
                         text), b
    assert parameter_bindings(iree_lab.open(corpus.build("tensor_vmvx"))) == []


def test_rich_views(archives):
    html = render_html(open_parameter_file(archives["splat.irpa"]))
    assert "splat" in html and "`bias`" in html and "0xFFFD (2-byte pattern)" in html
    html = render_html(open_parameter_file(archives["model.gguf"]))
    assert "F32" in html and "`weight`" in html
    params = ModuleParameters(iree_lab.open(_program("scoped", "vmvx")),
                              [archives["model.safetensors"]])
    html = render_html(params)
    # Globals link to their parameter rows and parameters link back to the globals.
    anchor = f"ilparams{id(params):x}"
    assert f'href="#{anchor}-p0"' in html and f'href="#{anchor}-g0"' in html
    assert f'id="{anchor}-p0"' in html and f'id="{anchor}-g0"' in html
    assert [b.key for b in params.missing] == ["table"]
    assert "Parameters (3)" in render_html(iree_lab.open(_program("scoped", "vmvx")))


def test_open_parameters_api_and_lazy_mapping(tmp_path):
    # A 3 GiB sparse safetensors file: indexing touches the header only.
    path = tmp_path / "big.safetensors"
    header = safetensors_bytes({"a": np.zeros(4, np.float32)})
    size = 3 << 30
    head = header.replace(b'"data_offsets":[0,16]', f'"data_offsets":[0,{size}]'.encode())
    head = head.replace(b'"shape":[4]', f'"shape":[{size // 4}]'.encode())
    head_len = len(head) - 8 - 16
    head = struct.pack("<Q", head_len) + head[8:8 + head_len]
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(len(head) + size)
    params = iree_lab.open_parameters(path)
    (entry,) = params.entries
    assert entry.key == "a" and entry.length == size and entry.shape == (size // 4,)
    assert bytes(entry.read(size - 4, 4)) == b"\0" * 4
    with pytest.raises(ParameterFormatError):
        entry.read(size - 4, 8)
    with pytest.raises(ParameterFormatError, match="outside of the available data"):
        iree_lab.open_parameters(path.read_bytes()[:len(head)], format="safetensors")
    with pytest.raises(ParameterFormatError, match="unsupported file format"):
        iree_lab.open_parameters(b"", format="npz")


# -- A realistic model: a conv net with 42 MB of external weights --------------------------------


def _convnet_generator():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "gen_convnet", corpus.PROGRAMS_DIR / "parameters" / "gen_convnet.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    return gen


def test_convnet_generator_is_current():
    gen = _convnet_generator()
    assert (corpus.PROGRAMS_DIR / "parameters" / "convnet.mlir").read_text() == gen.mlir()


@pytest.mark.parametrize("target", list(TARGETS))
def test_convnet_with_42mb_of_parameters(capsys, tmp_path, target):
    gen = _convnet_generator()
    rng = np.random.default_rng(7)
    entries = [("data", key, (rng.standard_normal(shape, dtype=np.float32)
                              * (0.05 if key.startswith("fc") else 0.3)).tobytes())
               for key, shape in gen.LAYERS.items()]
    archive = tmp_path / "convnet.irpa"
    archive.write_bytes(irpa_bytes(entries))
    assert archive.stat().st_size >= 40 << 20
    image = tmp_path / "image.npy"
    np.save(image, rng.standard_normal((1, gen.H + 2, gen.W + 2, gen.C0), dtype=np.float32))
    module = _program("convnet", target)
    argv = [f"--module={module}", "--function=forward", f"--input=@{image}",
            f"--parameters=model={archive}", "--output_max_element_count=4096"]
    expected = subprocess.run([corpus.tool_path("iree-run-module"), *argv], capture_output=True,
                              text=True)
    assert expected.returncode == 0, expected.stderr
    assert main(["run", *argv]) == 0
    out = capsys.readouterr().out
    assert out == expected.stdout
    assert out.count(" ") > gen.OUT // 2  # all 2912 values printed, not elided


def test_chained_irpa_headers(tmp_path):
    first = irpa_bytes([("data", "first", b"1111")])
    first = irpa_bytes([("data", "first", b"1111")], next_header_offset=len(first) + 12)
    first += b"\0" * 12  # the next header starts 16-aligned after padding
    second = irpa_bytes([("data", "second", b"22222222"), ("splat", "s", 8, b"\x05")])
    path = tmp_path / "chain.irpa"
    path.write_bytes(first + second)
    params = open_parameter_file(path)
    assert [(e.key, bytes(e.read())) for e in params] == [
        ("first", b"1111"), ("second", b"22222222"), ("s", b"\x05" * 8)]
    assert params["second"].offset > len(first)
    # IREE 3.13 resolves the second archive's segments through the first header
    # (irpa_parser.c reads the v0 header at offset 0 for every base offset), so
    # iree-dump-parameters fails here; iree_lab follows the format's definition.
    ref = _tool("iree-dump-parameters", f"--parameters={path}")
    assert ref.returncode != 0 and b"metadata segment reference out of range" in ref.stderr


def test_async_external_function_with_parameters(capsys, archives):
    # Coarse-fences exports: the parameter loads of __init and the call's own queue
    # work are ordered by fences only.
    module = corpus.build(corpus.Program(
        "parameters_scoped_async_vmvx", "parameters/scoped.mlir",
        (*TARGETS["vmvx"], "--iree-execution-model=async-external")))
    code, out, _ = _compare_run(capsys, module, "predict", ["4xf32=1 2 3 4"], [
        f"model={archives['model.gguf']}", f"extra={archives['extra.safetensors']}"])
    assert code == 0 and "2x3xi32=[-3 -2 -1][0 1 2]" in out


def test_program_api_and_debug_cli_take_parameters(archives, capsys, monkeypatch):
    import io

    from iree_lab.debug import Program
    from iree_lab.hal import io as hal_io

    program = Program(_program("scoped", "vmvx"), "predict", ["4xf32=2 2 2 2"], parameters=[
        f"model={archives['own.irpa']}", f"extra={archives['extra_own.irpa']}"])
    results = program.run()
    text = hal_io.format_results(results, "rr")
    assert "4xf32=2.5 -2.5 8 1.502" in text and "2x3xi32=[-3 -2 -1][0 1 2]" in text
    assert len(program.run()) == 2  # a second world reuses the opened files
    monkeypatch.setattr("sys.stdin", io.StringIO("continue\nquit\n"))
    assert main(["debug", f"--module={_program('scoped', 'vmvx')}", "--function=predict",
                 "--input=4xf32=2", f"--parameters=model={archives['own.irpa']}",
                 f"--parameters=extra={archives['extra_own.irpa']}"]) == 0
    assert "2x3xi32=[-3 -2 -1][0 1 2]" in capsys.readouterr().out
    assert main(["debug", f"--module={_program('scoped', 'vmvx')}", "--function=predict",
                 "--parameters=model=missing.irpa"]) == 1
    assert "NOT_FOUND; failed to open file 'missing.irpa'" in capsys.readouterr().err


# -- Against iree.runtime's own parameter index -------------------------------------------------


def test_entries_match_iree_runtime_index(archives, exported, tmp_path):
    """Every entry (key, length, storage, splat pattern, metadata, file bytes) as
    iree.runtime.ParameterIndex reads it, including an archive written by
    iree.runtime itself (with metadata blobs)."""
    rt = pytest.importorskip("iree.runtime", reason="the iree-base-runtime wheel")
    index = rt.ParameterIndex()
    index.add_buffer("w", np.arange(10, dtype=np.float32), metadata='{"dtype": "f32"}')
    index.add_splat("s", np.array([3], dtype=np.int16), 64, metadata="splat meta")
    index.add_buffer("b", b"hello")
    written = tmp_path / "runtime.irpa"
    index.create_archive_file(str(written))
    paths = [written, *(p for name, p in archives.items() if not name.startswith("empty")),
             exported["irpa"], exported["splat"]]
    compared = 0
    for path in paths:
        reference = rt.ParameterIndex()
        reference.load(str(path))
        ours = open_parameter_file(path)
        assert [k for k, _ in reference.items()] == [e.key for e in ours], path
        for (_, ref), entry in zip(reference.items(), ours, strict=True):
            assert ref.length == entry.length
            assert ref.is_splat == (entry.storage == "splat")
            assert bytes(ref.metadata or b"") == entry.metadata
            if ref.is_splat:
                assert bytes(ref.splat_pattern) == entry.pattern
            else:
                assert ref.file_storage[1] == entry.offset
                assert bytes(ref.file_view) == bytes(entry.read())
            compared += 1
    assert compared >= 35
    assert open_parameter_file(written)["w"].metadata == b'{"dtype": "f32"}'
