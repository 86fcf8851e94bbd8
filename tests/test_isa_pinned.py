"""The opcode tables against the pinned IREE 3.13 runtime, byte by byte.

Every byte of every opcode set (core, ext_f32, ext_f64) is written into a function
of a small module (tests/programs/isa/opcode_sweep.vmasm) and the module is loaded by
IREE's own bytecode verifier (``iree.runtime``, the pinned release). An opcode the
runtime does not know fails with "unrecognized opcode" / "unhandled ext ... opcode";
every other byte is an op, and iree_lab's tables must have it. For each op iree_lab
knows, its operands are encoded from iree_lab's field layout and followed by an
unassigned byte (0xFF): the runtime must accept the operands and stop exactly at that
byte, so it read as many operand bytes as iree_lab's layout says. Finally every op is
placed in a complete, verifiable function and the pinned iree-dump-module's
disassembly of that module (mnemonic, operand kinds and order) must equal iree_lab's.
"""

from __future__ import annotations

import functools
import re
import struct

import pytest

import iree_lab
from iree_lab.isa import _opdecode, tables
from iree_lab.testing import corpus

_SWEEP = corpus.Program("isa_opcode_sweep", "isa/opcode_sweep.vmasm", tool="assemble")
_UNASSIGNED = 0xFF  # no set assigns it (checked below)
_UNKNOWN_RE = re.compile(r"unrecognized opcode (\d+)|unhandled ext \w+ opcode ([0-9A-F]{2})")
_AT_RE = re.compile(r"at sweep@0\+([0-9A-Fa-f]{8})")


@functools.cache
def _base():
    path = corpus.build(_SWEEP)
    module = iree_lab.open(str(path))
    fn = module.functions[0]
    data = bytes(path.read_bytes())
    start = module.bytecode_file_offset + fn.bytecode_offset
    length = fn.bytecode_length
    # The body ends with `vm.return` (opcode + empty register list, 3 bytes; its list
    # is 2-aligned, so the opcode may be preceded by one padding byte that we overwrite).
    assert data[start + length - 3] == tables.lookup("vm.return").opcode
    return data, start, length - 3


def _load(body: bytes) -> str:
    """Loads the sweep module with ``body`` at pc 1; IREE's verdict ("OK" or the error)."""
    import iree.runtime as rt

    data, start, end_pc = _base()
    assert len(body) <= end_pc - 1
    body = body + bytes([_UNASSIGNED]) * (end_pc - 1 - len(body))
    patched = data[: start + 1] + body + data[start + end_pc :]
    try:
        rt.VmModule.copy_buffer(_instance(), patched)
    except Exception as e:  # the binding raises with IREE's status text
        return str(e)
    return "OK"


@functools.cache
def _instance():
    import iree.runtime as rt

    return rt.VmInstance()


def _unknown(verdict: str, byte: int) -> bool:
    """Whether IREE rejected the candidate byte (at pc 1, or 2 past a prefix) as no op."""
    m = _UNKNOWN_RE.search(verdict)
    if m is None or _error_pc(verdict) != 1:
        return False
    return (int(m.group(1)) if m.group(1) else int(m.group(2), 16)) == byte


def _error_pc(verdict: str) -> int | None:
    m = _AT_RE.search(verdict)
    return int(m.group(1), 16) if m else None


# Operand values the sweep module makes valid, by field kind.
def _operands(op: tables.OpInfo, pc: int) -> bytes:
    """``op``'s operand bytes starting at function pc ``pc``, from iree_lab's layout."""
    out = bytearray()
    for field in op.fields:
        kind = field.kind
        if kind in (tables.REG_LIST, tables.SEGMENT_SIZES, tables.BRANCH_REMAP,
                    tables.BRANCH_TABLE):  # fmt: skip
            if (pc + len(out)) % 2:
                out += b"\x00"  # lists are 2-aligned within the function
            out += struct.pack("<H", 0)
        elif kind in (tables.REF, tables.REF_MOVE):
            out += struct.pack("<H", tables.REF_REGISTER_TYPE_BIT)  # %r0
        elif kind in (tables.I64, tables.F64):
            out += struct.pack("<H", 2)  # %i2:3
        elif kind in tables.REGISTER_KINDS:
            out += struct.pack("<H", 0)  # %i0
        elif kind == tables.TYPE:
            out += struct.pack("<I", 1)  # !vm.buffer
        elif kind == tables.IMPORT or (kind == tables.FUNC and "variadic" in op.name):
            # @other.fn (IREE takes variadic calls only to imports)
            out += struct.pack("<I", tables.FUNCTION_ORDINAL_IMPORT_BIT)
        elif kind == tables.BRANCH_TARGET:
            out += struct.pack("<I", 0)  # the entry block
        elif kind in (tables.CONST_I64, tables.CONST_F64):
            out += bytes(8)
        elif kind == tables.STRING:
            out += struct.pack("<H", 0)
        else:  # global offset/ordinal, rodata, function 0 (@sweep itself, "0v"), i32/f32
            out += bytes(4)
    return bytes(out)


def _encoded(op: tables.OpInfo) -> bytes:
    opcode = op.encoded_opcode
    return opcode + _operands(op, 1 + len(opcode))


def _sweep() -> dict[tuple[str, int], str]:
    verdicts = {}
    for name, opcode_set in tables.OPCODE_SETS.items():
        for byte in range(256):
            if opcode_set.prefix is None and byte in tables.PREFIX_OPCODES:
                continue
            prefix = b"" if opcode_set.prefix is None else bytes([opcode_set.prefix])
            verdicts[(name, byte)] = _load(prefix + bytes([byte]))
    return verdicts


def test_every_opcode_byte_is_assigned_as_in_the_pinned_runtime():
    verdicts = _sweep()
    assert len(verdicts) == 3 * 256 - len(tables.PREFIX_OPCODES)
    disagree = []
    for (name, byte), verdict in verdicts.items():
        ours = tables.OPCODE_TABLES[name][byte]
        if _unknown(verdict, byte) != (ours is None):
            disagree.append(f"{name} 0x{byte:02X}: iree_lab {ours}, IREE 3.13: {verdict[-160:]}")
    assert disagree == []
    known = sum(not _unknown(v, byte) for (_, byte), v in verdicts.items())
    assert known == len(tables.ALL_OPS) == 137 + 63 + 65
    # The filler byte is unassigned everywhere.
    assert all(tables.OPCODE_TABLES[s][_UNASSIGNED] is None for s in tables.OPCODE_SETS)


_BLOCK = bytes([tables.BLOCK_OPCODE])


@pytest.mark.parametrize("op", tables.ALL_OPS, ids=lambda op: op.name)
def test_operand_layout_matches_the_pinned_runtime(op):
    if op is tables.BLOCK_OP:
        # A block marker may only follow a terminator: `vm.return` first.
        ret = _encoded(tables.lookup("vm.return"))
        verdict = _load(ret + _BLOCK)
        assert f"unrecognized opcode {_UNASSIGNED}" in verdict, verdict
        assert _error_pc(verdict) == 1 + len(ret) + 1, verdict
        return
    encoded = _encoded(op)
    # A terminator must be followed by a block marker before the filler.
    verdict = _load(encoded + _BLOCK if op.terminator else encoded)
    end = 1 + len(encoded)
    if op.terminator:
        assert _error_pc(verdict) == end + 1 and "unrecognized opcode" in verdict, (
            f"{op.name}: iree_lab's layout is {len(encoded)} bytes; IREE 3.13 says: {verdict}"
        )
        verdict = verdict.replace(f"+{end + 1:08X}", f"+{end:08X}")
    # IREE decoded exactly len(encoded) bytes and stopped at the unassigned filler.
    assert f"unrecognized opcode {_UNASSIGNED}" in verdict and _error_pc(verdict) == end, (
        f"{op.name}: iree_lab's layout is {len(encoded)} bytes; IREE 3.13 says: {verdict}"
    )
    # iree_lab's own decoder reads the same bytes the same way.
    first = _opdecode.CORE[op.opcode] if op.prefix is None else (
        _opdecode.PREFIXED[op.prefix][op.opcode])
    decoded_op, decode = first
    assert decoded_op is op
    _, next_pc = decode(bytes([0x79]) + encoded, 1 + len(op.encoded_opcode), 1 + len(encoded),
                        8, 4, False, None, None, [], 1)
    assert next_pc == end


# -- Disassembly of every op by the pinned iree-dump-module ----------------------------------

_I32_ZERO = tables.lookup("vm.const.i32.zero").encoded_opcode + bytes(2)  # %i0, 3 bytes
_F32_ZERO = tables.lookup("vm.const.f32.zero").encoded_opcode + bytes(2)  # %i0, 4 bytes
# IREE 3.13's disassembler cannot print these (documented in test_isa.py): it stops with
# "unhandled ext opcode" on vm.cast.ui64.f32 and misreads vm.switch.ref's type operand.
_IREE_CANNOT_PRINT = {"vm.cast.ui64.f32", "vm.switch.ref"}


def _fill(n: int) -> bytes:
    """``n`` bytes of straight-line filler (3- and 4-byte constant ops)."""
    for fours in range(n // 4 + 1):
        rest = n - 4 * fours
        if rest % 3 == 0:
            return _F32_ZERO * fours + _I32_ZERO * (rest // 3)
    raise AssertionError(f"cannot fill {n} bytes")


def _complete_body(op: tables.OpInfo) -> bytes:
    """A verifiable body for pc 1 up to the final `vm.return`: two blocks, ``op`` first."""
    _, _, end_pc = _base()
    if op is tables.BLOCK_OP:
        first = _encoded(tables.lookup("vm.return")) + _BLOCK
        return first + _fill(end_pc - 1 - len(first))
    encoded = _encoded(op)
    if op.terminator:
        first = encoded + _BLOCK
        return first + _fill(end_pc - 1 - len(first))
    # op, filler, `vm.br` to the last block (its remap list 2-aligned), the block marker.
    last = end_pc - 1
    br_length = 7 if last % 2 == 0 else 8
    br = (bytes([tables.lookup("vm.br").opcode]) + struct.pack("<I", last)
          + bytes(br_length - 7) + struct.pack("<H", 0))
    filler = _fill(last - br_length - 1 - len(encoded))
    return encoded + filler + br + _BLOCK


def test_every_op_disassembles_as_the_pinned_iree_dump_module(iree_tool, tmp_path):
    from iree_lab.isa import disassemble

    data, start, end_pc = _base()
    compared = 0
    for op in tables.ALL_OPS:
        body = _complete_body(op)
        assert len(body) == end_pc - 1, op
        path = tmp_path / f"{op.opcode_set}_{op.opcode:02x}.vmfb"
        path.write_bytes(data[: start + 1] + body + data[start + end_pc :])
        assert _load(body) == "OK", (op, _load(body))  # IREE's verifier accepts it
        ours = disassemble(iree_lab.open(str(path)))
        assert f"{op.name} " in ours or f"{op.name}\n" in ours or op is tables.BLOCK_OP
        result = iree_tool("iree-dump-module", "--output=disassembly", str(path), check=False)
        if op.name in _IREE_CANNOT_PRINT:
            assert result.stdout.decode() != ours, op
            continue
        assert result.returncode == 0, (op, result.stderr.decode())
        assert ours == result.stdout.decode(), op
        compared += 1
    assert compared == len(tables.ALL_OPS) - len(_IREE_CANNOT_PRINT)
