"""Execution traces in IREE's ``--trace_execution`` format (../shared/DESIGN.md), and the JSONL form.

IREE's release tools print no trace (it needs a debug build), so the trace is
checked against what the release tools do print: every line, with its
operand values taken out and its ``^PPPPPPPP`` targets named, must be the
``iree-dump-module --bytecode_offsets`` disassembly line at the same offset;
the executed paths follow IREE's dispatch loop (branches land after block
markers, ``<block>`` only at function entry, ``vm.call.yieldable`` of an
import re-executed on every resume); ``iree-lab run --trace_execution``
prints stdout byte-identical to iree-run-module.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import iree_lab
from iree_lab import samples
from iree_lab.debug import Program, Tracer, trace_program
from iree_lab.testing import corpus

DBGNATIVE = str(Path(__file__).parent / "programs" / "debug" / "dbgnative.py")
_LINE = re.compile(r"^\[(?P<module>[\w$.]+?)(?:\.(?P<function>[\w$]+)|@(?P<ordinal>\d+))"
                   r"\+(?P<pc>[0-9A-F]{8})\]    (?P<text>.*)$")


def _dump_lines(path) -> dict[int, dict[int, str]]:
    """{function ordinal: {pc: text}} from iree-dump-module --bytecode_offsets."""
    out = subprocess.run([corpus.tool_path("iree-dump-module"), "--output=disassembly",
                          "--bytecode_offsets", str(path)],
                         check=True, capture_output=True, text=True).stdout
    functions: dict[int, dict[int, str]] = {}
    current = None
    for line in out.splitlines():
        if line.startswith("vm.func "):
            current = functions.setdefault(len(functions), {})
        elif current is not None and line.startswith("["):
            pc = int(line[1:9], 16)
            current[pc] = line[10:].strip()
        elif line.startswith("}"):
            current = None
    return functions


def _normalize(text: str, decoded, pc: int) -> str:
    """A trace line's instruction as the disassembler prints it (values removed)."""
    if text == "<block>":
        return f"^bb{decoded.block_ordinals[pc]}:"
    text = re.sub(r"(%[iRr]\d+(?::\d+)?)\([^()]*\)", r"\1", text)
    text = re.sub(r"(\.(?:refs|rwdata)\[\d+\])\([^()]*\)", r"\1", text)
    return re.sub(r"\^([0-9A-F]{8})\b",
                  lambda m: f"^bb{decoded.block_ordinals[int(m.group(1), 16)]}", text)


def _check_against_dump(path, lines: list[str]) -> int:
    module = iree_lab.open(path)
    by_name = {f.name: i for i, f in enumerate(module.functions) if f.name}
    dump = _dump_lines(path)
    checked = 0
    for line in lines:
        m = _LINE.match(line)
        assert m, line
        ordinal = int(m["ordinal"]) if m["ordinal"] else by_name[m["function"]]
        pc = int(m["pc"], 16)
        decoded = iree_lab.isa.decode_function(module, ordinal)
        assert _normalize(m["text"], decoded, pc) == dump[ordinal][pc], line
        checked += 1
    return checked


def _trace(program, **kwargs) -> tuple[list, list[str]]:
    out = io.StringIO()
    results = trace_program(program, out, **kwargs)
    return results, out.getvalue().splitlines()


def test_scalar_trace_is_iree_disassembly_with_values():
    path = corpus.build("scalar_vmvx")
    results, lines = _trace(Program(path, "loop_sum", ["3"]))
    assert results == [3]
    assert _check_against_dump(path, lines) == len(lines) == 6 + 3 * 6 + 3
    # IREE's spelling of values: i64 pairs, remaps as unsigned slots, branch targets.
    assert lines[0] == "[module.loop_sum+00000000]    <block>"
    assert lines[5] == ("[module.loop_sum+00000017]    vm.br ^0000002A(%i1(0)->%i2, %i2(0)->%i0, "
                        "%i3(0)->%i1)")
    assert lines[6] == "[module.loop_sum+0000002B]    %i3 = vm.cmp.lt.i64.s %i0:1(0), %i6:7(3)"
    assert lines[-1] == "[module.loop_sum+00000063]    vm.return %i2(3)"
    # <block> appears only at function entry: loops branch past their block markers.
    assert sum("<block>" in line for line in lines) == 1


def test_trace_values_i64_f32_and_negative_slots():
    path = corpus.build("scalar_vmvx")
    _, lines = _trace(Program(path, "mul_add_i64", ["-3", "5", "2"]))
    assert lines[1].endswith("vm.fma.i64 %i0:1(-3), %i2:3(5), %i4:5(2)")
    # A return operand list prints one 32-bit slot, unsigned (-13 -> 4294967283).
    assert lines[2].endswith("vm.return %i4(4294967283)")
    _, lines = _trace(Program(path, "fma_f32", ["1.5", "2", "0.25"]))
    assert "%i0(1.5), %i1(2), %i2(0.25)" in lines[1]
    assert _check_against_dump(path, lines) == len(lines)


def test_hal_trace_covers_init_and_skips_dispatches_like_iree():
    path = samples.path("mlp")
    results, lines = _trace(Program(path, "predict", ["1x8xf32=1 2 3 4 5 6 7 8"]))
    assert results[0].to_numpy().ravel().tolist() == pytest.approx([10.1, 13.55, 11.3, 14.6])
    # __init runs under the trace first (IREE traces the context's __init too).
    assert lines[0].startswith("[module.__init+00000000]")
    assert any(line.startswith("[module@0+") for line in lines)  # the unnamed function
    assert not any("dispatch" in line.split("]")[0] for line in lines)
    assert _check_against_dump(path, lines) == len(lines)
    refs = [line for line in lines if "(!hal.device/0x" in line]
    assert refs, "ref operands print as (!type/0x...)"
    # On request, the VMVX dispatch functions are traced too (IREE does not).
    _, with_dispatches = _trace(Program(path, "predict", ["1x8xf32=1 2 3 4 5 6 7 8"]),
                                dispatches=True)
    inner = [line for line in with_dispatches if "predict_dispatch_0" in line.split("]")[0]]
    assert inner and len(with_dispatches) == len(lines) + len(inner)


def test_yieldable_import_call_is_retraced_on_each_resume():
    app = corpus.build("debug_app")
    results, lines = _trace(Program([DBGNATIVE, app], "work", ["2"]))
    calls = [line for line in lines if "vm.call.yieldable @dbgnative.slow_double" in line]
    # Called once, suspended three times: IREE re-executes the call on every resume.
    assert len(calls) == 4 and len(set(calls)) == 1
    yields = [line for line in lines if "vm.yield" in line]
    assert len(yields) == 2
    # After a vm.yield execution resumes at the target block, past its marker.
    after = lines[lines.index(yields[0]) + 1]
    assert after.startswith("[dbg.work+00000043]")
    assert _check_against_dump(app, lines) == len(lines)
    assert results == [2 * (0 + 1 + sum(int(v) for v in _noise(lines)))]


def _noise(lines):
    """The values dbgnative.noise returned (masked to 3 bits), read back from the trace."""
    out = []
    for line in lines:
        m = re.search(r"%i5 = vm.and.i32 %i5\((-?\d+)\), %i6\(7\)", line)
        if m:
            out.append(int(m.group(1)) & 7)
    return out


def test_jsonl_records_carry_typed_operands_and_results():
    path = corpus.build("scalar_vmvx")
    out = io.StringIO()
    trace_program(Program(path, "mul_add_i64", ["-3", "5", "2"]), out, jsonl=True)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["position"] for r in records] == [1, 2, 3]
    fma = records[1]
    assert fma["op"] == "vm.fma.i64" and fma["pc"] == 1
    assert [(o["register"], o["type"], o["value"]) for o in fma["operands"]] == [
        ("%i0:1", "i64", -3), ("%i2:3", "i64", 5), ("%i4:5", "i64", 2)]
    assert fma["results"] == [{"register": "%i4:5", "type": "i64", "value": -13,
                               "field": "result"}]
    out = io.StringIO()
    trace_program(Program(path, "fma_f32", ["1.5", "2", "0.25"]), out, jsonl=True)
    fma = [json.loads(line) for line in out.getvalue().splitlines()][1]
    assert fma["results"][0]["type"] == "f32" and fma["results"][0]["value"] == 3.25
    # Refs carry their summary (HAL buffer views: shape, type, values).
    out = io.StringIO()
    trace_program(Program(samples.path("mlp"), "predict", ["1x8xf32=1 2 3 4 5 6 7 8"]), out,
                  jsonl=True)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    ret = [r for r in records if r["function"] == "predict" and r["op"] == "vm.return"][0]
    assert "1x4xf32 [10.1, 13.55, 11.3, 14.6]" in ret["operands"][0]["summary"]


def test_tracer_limit_bounds_output():
    out = io.StringIO()
    tracer = Tracer(out, limit=10)
    from iree_lab import vm

    ctx = vm.Context([vm.BytecodeModule.load(corpus.build("scalar_vmvx"))], hook=tracer.hook)
    assert ctx.call("loop_sum", 1000) == 499500
    assert tracer.count > 1000 and len(out.getvalue().splitlines()) == 10


def _run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "iree_lab", "run", *args],
                          capture_output=True, text=True, check=False)


@pytest.mark.parametrize("module,function,inputs", [
    ("scalar_vmvx", "loop_sum", ["5"]),
    ("tensor_vmvx", "add", ["4xf32=1 2 3 4", "4xf32=10 20 30 40"]),
])
def test_run_trace_execution_flag(module, function, inputs, iree_tool, tmp_path):
    path = corpus.build(module)
    flags = [f"--module={path}", f"--function={function}"] + [f"--input={v}" for v in inputs]
    ours = _run(*flags, "--trace_execution", f"--trace_execution_jsonl={tmp_path / 't.jsonl'}")
    assert ours.returncode == 0, ours.stderr
    theirs = iree_tool("iree-run-module", *flags)
    assert ours.stdout == theirs.stdout.decode()
    lines = ours.stderr.splitlines()
    assert lines and _check_against_dump(path, lines) == len(lines)
    records = (tmp_path / "t.jsonl").read_text().splitlines()
    assert [json.loads(r)["text"] for r in records] == [line.split("]    ", 1)[1]
                                                         for line in lines]
    off = _run(*flags, "--trace_execution=false")
    assert off.returncode == 0 and off.stderr == "" and off.stdout == theirs.stdout.decode()
