"""Differential tests: iree_lab's disassembly vs `iree-dump-module --output=disassembly`.

Every corpus module (and every VMVX executable nested in one) is disassembled
by both, with and without --bytecode_offsets and filtered to each function by
name and by ordinal; outputs must be byte-identical.
"""

from __future__ import annotations

import functools

import pytest

import iree_lab
from iree_lab.isa import disassemble
from iree_lab.testing import corpus

PROGRAMS = sorted(corpus.PROGRAMS)


@functools.cache
def _module(name: str):
    return iree_lab.open(str(corpus.build(name)))


def _dump(iree_tool, path, *flags) -> str:
    result = iree_tool("iree-dump-module", "--output=disassembly", *flags, str(path))
    return result.stdout.decode()


def _assert_same(ours: str, iree_tool, path, *flags) -> None:
    """ours == iree-dump-module's output, except where IREE cannot print an op.

    IREE 3.13's disassembler has no case for vm.cast.ui64.f32: it stops at the
    function using it ("unhandled ext opcode") while iree_lab prints it. Then
    IREE's partial output must be a prefix of ours and the next function body
    must contain the op.
    """
    result = iree_tool("iree-dump-module", "--output=disassembly", *flags, str(path), check=False)
    expected = result.stdout.decode()
    if result.returncode == 0:
        assert ours == expected
        return
    assert b"unhandled ext opcode" in result.stderr, result.stderr.decode()
    assert expected.rstrip("\n").endswith("{"), "IREE stops right after a vm.func line"
    assert ours.startswith(expected)
    body = ours[len(expected) :].split("\n}\n", 1)[0]
    assert "vm.cast.ui64.f32" in body


def _nested_executables(name: str) -> list[tuple[int, bytes]]:
    """(rodata ordinal, bytes) of every VM module embedded in a module's rodata."""
    out = []
    for segment in _module(name).rodata:
        data = bytes(segment.data)
        if data[:4] == b"PK\x03\x04" or data[4:8] == b"IREE":
            out.append((segment.ordinal, data))
    return out


@pytest.mark.parametrize("offsets", [False, True], ids=["plain", "offsets"])
@pytest.mark.parametrize("name", PROGRAMS)
def test_module_disassembly_matches(name, offsets, iree_tool):
    flags = ["--bytecode_offsets"] if offsets else []
    ours = disassemble(_module(name), bytecode_offsets=offsets)
    assert ours.startswith("vm.module @")
    _assert_same(ours, iree_tool, corpus.build(name), *flags)


@pytest.mark.parametrize("name", PROGRAMS)
def test_per_function_disassembly_matches(name, iree_tool):
    module = _module(name)
    path = corpus.build(name)
    assert module.functions
    for f in module.functions:
        # By name without offsets, by ordinal with them.
        for key, flags in ((f.iree_name, []), (str(f.ordinal), ["--bytecode_offsets"])):
            ours = disassemble(module, function=key, bytecode_offsets=bool(flags))
            assert f"vm.func @{f.iree_name}" in ours
            _assert_same(ours, iree_tool, path, f"--function={key}", *flags)


def test_function_filter_without_match(iree_tool):
    expected = _dump(iree_tool, corpus.build("tensor_vmvx"), "--function=no_such_function")
    assert "vm.func" not in expected
    assert disassemble(_module("tensor_vmvx"), function="no_such_function") == expected


# Modules compiled for VMVX that dispatch work (so embed VMVX executables).
VMVX_PROGRAMS = ["tensor_vmvx", "rodata_vmvx", "globals_vmvx", "async_vmvx"]


@pytest.mark.parametrize("name", VMVX_PROGRAMS)
def test_nested_vmvx_executables_match(name, iree_tool, tmp_path):
    executables = _nested_executables(name)
    assert executables, f"{name} embeds no VMVX executable"
    for ordinal, data in executables:
        path = tmp_path / f"{name}-rodata{ordinal}.vmfb"
        path.write_bytes(data)
        inner = iree_lab.open(data)
        for offsets in (False, True):
            flags = ["--bytecode_offsets"] if offsets else []
            expected = _dump(iree_tool, path, *flags)
            assert disassemble(inner, bytecode_offsets=offsets) == expected
        for f in inner.functions:
            expected = _dump(iree_tool, path, f"--function={f.iree_name}")
            assert disassemble(inner, function=f.iree_name) == expected


# --- the iree-lab dump command -------------------------------------------------


def _lab_dump(capsysbinary, *args) -> tuple[int, bytes, bytes]:
    from iree_lab.cli.main import main

    code = main(["dump", *args])
    captured = capsysbinary.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("name", ["tensor_vmvx", "isa_control", "isa_ext_f64", "async_vmvx"])
def test_cli_disassembly_matches(name, iree_tool, capsysbinary):
    path = str(corpus.build(name))
    for flags in ([], ["--bytecode_offsets"], ["--function=1"], ["--function=__init"]):
        expected = iree_tool("iree-dump-module", "--output=disassembly", *flags, path).stdout
        code, out, err = _lab_dump(capsysbinary, "--output=disassembly", *flags, path)
        assert (code, err) == (0, b"")
        assert out == expected, flags


def test_cli_damaged_module_exits_nonzero(capsysbinary, tmp_path):
    module = _module("control_flow_vm")
    data = bytearray(corpus.build("control_flow_vm").read_bytes())
    # The first opcode of @collatz_steps after its block marker becomes unknown.
    data[module.bytecode_file_offset + module.functions[1].bytecode_offset + 1] = 0x8F
    path = tmp_path / "damaged.vmfb"
    path.write_bytes(data)
    code, _, err = _lab_dump(capsysbinary, "--output=disassembly", str(path))
    assert code != 0
    assert b"unknown opcode 0x8F" in err and b"@collatz_steps" in err and b"pc 0x00000001" in err


@pytest.mark.parametrize(
    "key", ["01", "010", "08", "+1", "-1", "1a", "0x2", "0x", " 1", "4294967298", "-4294967295",
            "99999999999999999999", "classify"],
)  # fmt: skip
def test_function_filter_parses_like_iree(key, iree_tool):
    """--function is tried as C strtoul(base 0) first (octal, hex, junk suffixes, wrap-around)."""
    path = corpus.build("control_flow_vm")
    expected = _dump(iree_tool, path, f"--function={key}")
    assert disassemble(_module("control_flow_vm"), function=key) == expected
