"""Modules built by older IREE releases (3.0, 3.9, 3.10, 3.12) read and run as there.

tests/releases/<version>/ holds modules compiled from this project's sources by each
release, with that release's own iree-dump-module metadata and iree-run-module outputs
(tools/build_old_release_corpus.py). iree_lab must print the same metadata and the
same run output (VMVX, and llvm-cpu: 3.0's executables are executable-library format 0.5,
which the native loader reads with 0.5's layout); no old release is needed to run these tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iree_lab.cli.main import main

RELEASES_DIR = Path(__file__).parent / "releases"
RELEASES = ("3.0.0", "3.9.0", "3.10.0", "3.12.0")


def _manifest(version: str) -> dict:
    return json.loads((RELEASES_DIR / version / "manifest.json").read_text())


# Programs a release cannot compile (the tool records its compiler's error instead of a
# module): math.fpowi has no VMVX lowering before vm.fpowi (3.12); 3.9/3.10 fail on every
# inline-dynamic program.
_CANNOT_COMPILE = {
    **{(v, "gpt2_block_vmvx"): "failed to legalize operation 'math.fpowi'"
       for v in ("3.0.0", "3.9.0", "3.10.0")},
    **{(v, "inline_vmvx"): "failed to inline into combined initializer"
       for v in ("3.9.0", "3.10.0")},
}


def _modules():
    for version in RELEASES:
        for name, entry in _manifest(version)["modules"].items():
            if (version, name) in _CANNOT_COMPILE:
                assert _CANNOT_COMPILE[(version, name)] in entry["error"], entry
                continue
            assert "error" not in entry, (version, name, entry.get("error"))
            yield version, name, entry


def _runs():
    for version, name, entry in _modules():
        for run in entry["runs"]:
            yield pytest.param(version, name, entry, run,
                               id=f"{version}-{run['output'].removesuffix('.run.txt')}")


def test_corpus_is_complete():
    names = {(v, n) for v, n, _ in _modules()}
    assert len(names) == 4 * 10 - len(_CANNOT_COMPILE)
    for version in RELEASES:
        assert _manifest(version)["compiler"].startswith(f"IREE compiler version {version}")


def _cli(capsys, args) -> tuple[int, str]:
    capsys.readouterr()
    code = main(args)
    return code, capsys.readouterr().out


@pytest.mark.parametrize(("version", "name", "entry"),
                         [pytest.param(*m, id=f"{m[0]}-{m[1]}") for m in _modules()])
def test_metadata_matches_release_dump(capsys, version, name, entry):
    folder = RELEASES_DIR / version
    expected = (folder / entry["metadata"]).read_text()
    code, out = _cli(capsys, ["dump", "--output=metadata", str(folder / entry["module"])])
    assert code == 0
    assert out == expected


# local-task: old modules call hal.fence.await with a plain vm.call (no yieldable calls
# before bytecode 17), which must wait inline; the output is the same as local-sync's.
@pytest.mark.parametrize("device", ["local-sync", "local-task"])
@pytest.mark.parametrize(("version", "name", "entry", "run"), list(_runs()))
def test_run_matches_release_run_module(capsys, version, name, entry, run, device):
    folder = RELEASES_DIR / version
    expected = (folder / run["output"]).read_text()
    code, out = _cli(capsys, ["run", f"--device={device}", f"--module={folder / entry['module']}",
                              f"--function={run['function']}",
                              *[f"--input={i}" for i in run["inputs"]]])
    assert out + f"exit: {code}\n" == expected


# -- Per-version rules -----------------------------------------------------------------------

from iree_lab.isa import BytecodeError, decode_bytecode, tables  # noqa: E402
from iree_lab.isa.decoder import ModuleContext  # noqa: E402

# Ops 3.0's runtime lacks that 15.x gained without a bump (3.9 has them).
_ADDED_WITHIN_15 = {"vm.cast.si64.f32", "vm.cast.ui64.f32"}


@pytest.mark.parametrize("version", RELEASES)
def test_opcode_sets_match_each_release_runtime(version):
    """tables.ops_of_bytecode_major vs the opcode bytes each release's verifier knows."""
    record = json.loads((RELEASES_DIR / version / "opcodes.json").read_text())
    major = record["bytecode_major"]
    ours = {}
    for op in tables.ops_of_bytecode_major(major):
        ours.setdefault(op.opcode_set, set()).add(op.opcode)
    theirs = {name: set(opcodes) for name, opcodes in record["known_opcodes"].items()}
    if version == "3.0.0":
        for name in _ADDED_WITHIN_15:
            op = tables.lookup(name)
            ours[op.opcode_set].discard(op.opcode)
    assert theirs == ours


def _one_op(major: int, body: bytes) -> str:
    """Decodes a one-block function ``<block> body`` as bytecode ``major``; "" or the error."""
    code = bytes([tables.BLOCK_OPCODE]) + body
    try:
        decode_bytecode(code, i32_register_count=8, ref_register_count=8,
                        context=ModuleContext(bytecode_major=major))
    except BytecodeError as e:
        return str(e)
    return ""


def test_newer_ops_are_unknown_to_older_versions():
    call_yieldable = tables.lookup("vm.call.yieldable").encoded_opcode
    for major in (15, 16):
        error = _one_op(major, call_yieldable + bytes(16))
        assert "unknown opcode 0x87" in error and "arrived with 17.x" in error, error
    fpowi = tables.lookup("vm.fpowi.f32").encoded_opcode + bytes([0, 0, 2, 0, 4, 0])
    assert "vm.fpowi.f32 is not in bytecode 16.x" in _one_op(16, fpowi)
    ret = tables.lookup("vm.return").encoded_opcode + bytes(2)  # empty list at even pc 10
    assert _one_op(17, fpowi + ret) == ""


def test_move_bits_on_non_moving_refs_are_15_only():
    # vm.list.size %R1 (the move bit on an operand that does not move), then return.
    body = (tables.lookup("vm.list.size").encoded_opcode + (0xC001).to_bytes(2, "little")
            + (0).to_bytes(2, "little") + tables.lookup("vm.return").encoded_opcode
            + bytes(3))  # pad to even pc 8, empty list
    assert _one_op(15, body) == ""
    for major in (16, 17):
        assert "has the move bit but the op does not move" in _one_op(major, body)


def _with_version(tmp_path, major: int) -> Path:
    data = (RELEASES_DIR / "3.12.0" / "scalar_vmvx.vmfb").read_bytes()
    assert data.count((17 << 16).to_bytes(4, "little")) == 1
    path = tmp_path / f"bytecode{major}.vmfb"
    path.write_bytes(data.replace((17 << 16).to_bytes(4, "little"),
                                  (major << 16).to_bytes(4, "little")))
    return path


@pytest.mark.parametrize("major", [14, 18])
def test_unknown_bytecode_version_is_a_clear_error(capsys, tmp_path, major):
    path = _with_version(tmp_path, major)
    # Metadata comes from the FlatBuffer, as iree-dump-module prints it; stderr names the
    # version.
    capsys.readouterr()
    assert main(["dump", "--output=metadata", str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("//===")
    assert f"bytecode version {major}.0 (not a version iree_lab reads)" in captured.err
    for args in (["dump", "--output=disassembly", str(path)], ["dump", str(path)],
                 ["run", f"--module={path}", "--function=add_i32", "--input=1", "--input=2"]):
        capsys.readouterr()
        code = main(args)
        captured = capsys.readouterr()
        assert code != 0, args
        assert f"unsupported bytecode version {major}.0" in captured.err, (args, captured.err)
        assert "15.0, 16.0, 17.0" in captured.err
        assert "result[0]" not in captured.out


@pytest.mark.parametrize(("version", "text"), [
    ("3.0.0", "bytecode version 15.0 (read with the rules of IREE 3.0-3.9)"),
    ("3.10.0", "bytecode version 16.0 (read with the rules of IREE 3.10)"),
])
def test_outputs_name_older_bytecode_versions(capsys, version, text):
    path = RELEASES_DIR / version / "tensor_vmvx.vmfb"
    for args in (["dump", "--output=metadata", str(path)],
                 ["run", f"--module={path}", "--function=add", "--input=4xf32=1",
                  "--input=4xf32=2"],
                 ["executables", str(path)]):
        capsys.readouterr()
        assert main(args) == 0
        captured = capsys.readouterr()
        assert text in captured.err + captured.out, args
    # The current version adds nothing to the output.
    capsys.readouterr()
    assert main(["dump", "--output=metadata", str(RELEASES_DIR / "3.12.0" / "tensor_vmvx.vmfb")]) == 0
    assert "bytecode version" not in capsys.readouterr().err


# -- Disassembly, trace and debugger on old modules -------------------------------------------


def _disassemblies():
    """Recorded disassemblies in the 3.11+ layout iree_lab prints (3.12's). 3.0/3.9 have no
    --output=disassembly; 3.10 printed an older layout (a banner per function, `<block>`
    lines, `^PPPPPPPP` targets, a process address in rodata comments) that iree_lab does
    not reproduce."""
    for version, name, entry in _modules():
        path = entry.get("disassembly")
        if path and (RELEASES_DIR / version / path).read_text().startswith("vm.module @"):
            yield pytest.param(version, name, entry, id=f"{version}-{name}")


def test_disassembly_records():
    recorded = {(v, n) for v, n, e in _modules() if e.get("disassembly")}
    assert {v for v, _ in recorded} == {"3.10.0", "3.12.0"}
    assert {p.values[:2] for p in _disassemblies()} == {r for r in recorded if r[0] == "3.12.0"}


@pytest.mark.parametrize(("version", "name", "entry"), list(_disassemblies()))
def test_disassembly_matches_release_dump(capsys, version, name, entry):
    expected = (RELEASES_DIR / version / entry["disassembly"]).read_text()
    code, out = _cli(capsys, ["dump", "--output=disassembly",
                              str(RELEASES_DIR / version / entry["module"])])
    assert code == 0
    assert out == expected


@pytest.mark.parametrize("version", ["3.0.0", "3.9.0", "3.10.0"])
def test_trace_and_debugger_run_old_modules(capsys, monkeypatch, version):
    import io

    entry = _manifest(version)["modules"]["tensor_vmvx"]
    run = entry["runs"][0]
    path = RELEASES_DIR / version / entry["module"]
    inputs = [f"--input={i}" for i in run["inputs"]]
    capsys.readouterr()
    code = main(["run", "--trace_execution", f"--module={path}", "--function=add", *inputs])
    captured = capsys.readouterr()
    assert captured.out + f"exit: {code}\n" == (RELEASES_DIR / version / run["output"]).read_text()
    trace = [line for line in captured.err.splitlines() if line.startswith("[")]
    assert any("hal.command_buffer.dispatch" in line for line in trace)
    assert len(trace) > 50
    monkeypatch.setattr("sys.stdin", io.StringIO("step\nstep\nbt\ncontinue\n"))
    code = main(["debug", f"--module={path}", "--function=add", *inputs])
    captured = capsys.readouterr()
    out = captured.out
    assert code == 0
    major = "16.0" if version == "3.10.0" else "15.0"
    assert f"bytecode version {major} (read with the rules of IREE 3." in captured.err
    assert "[step] position 2 module.add+00000001" in out
    assert "returned result[0]: hal.buffer_view" in out


def test_llvm_cpu_library_0_5_loads_with_its_layout():
    """3.0's llvm-cpu executables are executable-library format 0.5 (0.6 from Sep 2025): the
    loader asks for 0.6, then 0.5, and reads 0.5's export table and 72-byte attributes."""
    import iree_lab
    from iree_lab.hal import Device

    entry = _manifest("3.0.0")["modules"]["tensor_llvm_cpu"]
    module = iree_lab.open(str(RELEASES_DIR / "3.0.0" / entry["module"]))
    blob = next(bytes(s.data) for s in module.rodata if bytes(s.data[:4]) == b"\x7fELF")
    executable = Device().create_executable("embedded-elf-x86_64", blob)
    assert executable.library_version == 5
    assert executable.exports and all(e.name for e in executable.exports)


@pytest.mark.parametrize(("version", "name", "entry"),
                         [pytest.param(*m, id=f"{m[0]}-{m[1]}") for m in _modules()
                          if m[1] not in ("scalar_vmvx", "lists_vmvx")])
def test_executables_found_in_old_modules(version, name, entry):
    """`iree-lab executables`: every executable and dispatch site, whatever the hal /
    hal_loader version (3.0's executable.create had no queue affinity)."""
    import iree_lab
    from iree_lab.hal.executables import find_executables

    discovery = find_executables(iree_lab.open(str(RELEASES_DIR / version / entry["module"])))
    assert len(discovery) >= 1
    assert discovery.unresolved_dispatches == []
    for exe in discovery:
        assert exe.create_sites and exe.dispatches
        exports = exe.parse().exports
        for d in exe.dispatches:
            assert d.export_ordinal is not None or d.export_name is not None
            assert any(exe.dispatches_of(e) for e in exports)
