"""Damaged bytecode: one documented error with what and where, partial decodes,
and (differentially) the same accept/reject decisions and output as iree-dump-module."""

from __future__ import annotations

import functools
import io
import random
import struct

import pytest

import iree_lab
from iree_lab.errors import FormatError
from iree_lab.isa import (
    BytecodeError,
    ModuleContext,
    decode_bytecode,
    decode_function,
    disassemble,
    write_disassembly,
)
from iree_lab.testing import corpus


class Code:
    """Tiny bytecode builder: ops, u16/u32 fields and 2-aligned lists."""

    def __init__(self):
        self.data = bytearray()

    def op(self, *opcode_bytes: int) -> Code:
        self.data.extend(opcode_bytes)
        return self

    def u16(self, *values: int) -> Code:
        for v in values:
            self.data += struct.pack("<H", v)
        return self

    def u32(self, *values: int) -> Code:
        for v in values:
            self.data += struct.pack("<I", v)
        return self

    def raw(self, hexdata: str) -> Code:
        self.data += bytes.fromhex(hexdata)
        return self

    def align(self) -> Code:
        if len(self.data) & 1:
            self.data.append(0)
        return self

    def list(self, *regs: int) -> Code:
        return self.align().u16(len(regs), *regs)

    def block(self) -> Code:
        return self.op(0x79)

    def ret(self, *regs: int) -> Code:
        return self.op(0x5A).list(*regs)

    def hex(self) -> str:
        return self.data.hex()


def _decode(code, **kw):
    args = dict(i32_register_count=4, ref_register_count=2, block_count=1, name="f", ordinal=7)
    args.update(kw)
    data = code.data if isinstance(code, Code) else bytes.fromhex(code)
    return decode_bytecode(bytes(data), **args)


def _error(code, **kw) -> BytecodeError:
    with pytest.raises(BytecodeError) as info:
        _decode(code, **kw)
    return info.value


def C() -> Code:
    return Code().block()


def test_well_formed_minimal_function():
    fn = _decode(C().ret())
    assert [i.name for i in fn] == ["vm.block", "vm.return"]


@pytest.mark.parametrize(
    ("code", "what", "pc", "opcode"),
    [
        # Unknown core opcode after a valid constant.
        (C().op(0x0D).u32(5).u16(0).op(0x8F), "unknown opcode 0x8F", 8, 0x8F),
        # Unknown ext_f32 opcode.
        (C().op(0xE0, 0xFF), "unknown ext_f32 opcode 0xFF", 1, 0xE0),
        # Prefix byte at the very end.
        (C().op(0xE0), "truncated extension opcode", 1, 0xE0),
        # vm.add.i32 missing its result register.
        (C().op(0x22).u16(0, 1), "truncated vm.add.i32 operand 'result'", 1, 0x22),
        # vm.const.i32 with 3 of 4 immediate bytes.
        (C().op(0x0D).raw("050000"), "truncated vm.const.i32 field 'value'", 1, 0x0D),
        # i32 register beyond the (rounded) register count.
        (C().op(0x0C).u16(9).ret(), "i32 register %i9 out of range (4 i32 registers)", 1, 0x0C),
        # A ref register where an i32 is required.
        (C().op(0x0C).u16(0x8001).ret(), "i32 register required but ref register %r1", 1, 0x0C),
        # Odd i64 register pair.
        (C().op(0x0E).u16(1).ret(), "i64 register %i1:2 is not 8-byte aligned", 1, 0x0E),
        # Move bit on an operand that cannot move (vm.cmp.nz.ref).
        (C().op(0x55).u16(0xC000, 0).ret(), "has the move bit", 1, 0x55),
        # Branch to a pc that is not a block marker.
        (C().op(0x56).u32(2).list(), "branch target 0x00000002 is not a block", 1, 0x56),
        # An op before the first block marker.
        (Code().op(0x0C).u16(0).ret(), "vm.const.i32.zero is not inside a block", 0, 0x0C),
        # A block marker while the previous block has no terminator.
        (C().op(0x0C).u16(0).block().ret(), "block marker inside a block", 4, 0x79),
        # Function ends without a terminator.
        (C().op(0x0C).u16(0), "function missing terminator in the last block", 4, None),
        # Huge string length.
        (C().op(0x5B).u16(0, 0xFFFF).raw("41"), "truncated vm.fail string", 1, 0x5B),
        # br_table claiming 65535 cases.
        (C().op(0x83).u16(0).u32(0).list().u16(0xFFFF), "truncated br_table case", 1, 0x83),
        # A register list longer than the bytes left.
        (C().op(0x85).align().u16(0xFF), "truncated vm.discard.refs list", 1, 0x85),
    ],
)
def test_malformed_bytecode_names_what_and_where(code, what, pc, opcode):
    error = _error(code)
    assert isinstance(error, FormatError)
    assert what in str(error)
    assert error.pc == pc and error.opcode == opcode
    assert error.function_name == "f" and error.function_ordinal == 7
    assert "@f (ordinal 7)" in str(error)
    assert error.partial is not None and not error.partial.complete
    assert error.partial.error is error


def test_partial_decode_keeps_what_decoded():
    error = _error(C().op(0x0D).u32(5).u16(0).op(0x0D).u32(7).u16(1).op(0x8F))
    partial = error.partial
    assert [i.name for i in partial] == ["vm.block", "vm.const.i32", "vm.const.i32"]
    assert partial.instructions[-1].end == error.pc == 15
    assert len(partial.blocks) == 1 and len(partial.blocks[0].instructions) == 2


def test_block_count_must_match_descriptor():
    assert "declares 2 blocks, bytecode has 1" in str(_error(C().ret(), block_count=2))
    two_blocks = C().op(0x56).u32(8).list().block().ret()
    assert _decode(two_blocks, block_count=2).blocks[1].pc == 8
    assert "more blocks than the 1" in str(_error(two_blocks, block_count=1))


def test_module_table_checks():
    ctx = ModuleContext(type_count=1, import_count=1, function_count=1, rodata_count=1,
                        rwdata_size=8, global_ref_count=1)  # fmt: skip
    cases = [
        # vm.const.ref.rodata 3 -> %r0
        (C().op(0x11).u32(3).u16(0x8000).ret(), "rodata ordinal 3 out of range"),
        # vm.global.load.i64 .rwdata[4] (needs 8 bytes)
        (C().op(0x04).u32(4).u16(0).ret(), "global byte offset 4 out of range"),
        # vm.global.load.ref .refs[2] : type 0
        (C().op(0x08).u32(2, 0).u16(0x8000).ret(), "global ref ordinal 2 out of range"),
        # vm.list.alloc with type 5
        (C().op(0x12).u32(5).u16(0, 0x8000).ret(), "type id 5 out of range"),
        # vm.call @import:4()
        (C().op(0x58).u32(0x80000004).list().list().ret(), "import ordinal 4 out of range"),
        # vm.call @internal:3()
        (C().op(0x58).u32(3).list().list().ret(), "function ordinal 3 out of range"),
    ]
    for code, what in cases:
        assert what in str(_error(code, context=ctx)), what
        _decode(code)  # without module context these are not checked
    # vm.import.resolved on an internal ordinal is malformed in any module.
    assert "is not an import ordinal" in str(_error(C().op(0x5C).u32(0).u16(0).ret()))


def test_calls_are_checked_against_the_callee_cconv():
    ctx = ModuleContext(import_count=1, import_cconvs=("0r_i",))
    # vm.call @import:0(%i0) -> (%i1): an i32 passed where a ref is expected.
    bad = C().op(0x58).u32(0x80000000).list(0).list(1).ret()
    assert "does not match calling convention type 'r'" in str(_error(bad, context=ctx))
    _decode(C().op(0x58).u32(0x80000000).list(0x8000).list(1).ret(), context=ctx)
    # Return values must match the function's own results.
    assert "register list underflow" in str(_error(C().ret(), cconv="0v_i"))
    _decode(C().ret(1), cconv="0v_i")


def test_non_strict_decode_accepts_what_iree_accepts():
    code = C().op(0x0C).u16(9).ret()  # %i9 with 4 registers
    fn = _decode(code, strict=False)
    assert fn.instructions[1].values == (9,) and not fn.strict


@functools.cache
def _module_bytes(name: str) -> bytes:
    return corpus.build(name).read_bytes()


def _damage(name: str, function: int, pc: int, value: int) -> bytes:
    module = iree_lab.open(_module_bytes(name))
    data = bytearray(_module_bytes(name))
    data[module.bytecode_file_offset + module.functions[function].bytecode_offset + pc] = value
    return bytes(data)


def test_damaged_module_disassembly_shows_partial_function():
    # Overwrite the vm.return of @checked_div's first block with an unknown opcode.
    module = iree_lab.open(_module_bytes("control_flow_vm"))
    fn = decode_function(module, "checked_div")
    ret = next(i for i in fn if i.name == "vm.return")
    damaged = iree_lab.open(_damage("control_flow_vm", 2, ret.pc, 0x8F))
    out = io.StringIO()
    with pytest.raises(BytecodeError) as info:
        write_disassembly(damaged, out, bytecode_offsets=True)
    error = info.value
    assert error.function_name == "checked_div" and error.pc == ret.pc and error.opcode == 0x8F
    text = out.getvalue()
    # Undamaged functions are complete; the damaged one stops where decoding stopped.
    assert "vm.func @classify" in text and "vm.func @collatz_steps" in text
    tail = text.split("vm.func @checked_div", 1)[1]
    assert f"[{ret.pc - 7:08X}]  %i1 = vm.div.i32.s %i0, %i1\n" in tail
    assert "// error: unknown opcode 0x8F" in tail and tail.endswith("}\n")
    assert "vm.return %i1" not in tail
    with pytest.raises(BytecodeError):
        decode_function(damaged, 2)
    assert decode_function(damaged, 0).complete


MUTATED = ["control_flow_vm", "tensor_vmvx", "isa_control", "isa_refs", "isa_ext_f64"]


@pytest.mark.parametrize("name", MUTATED)
def test_random_damage_matches_iree(name, iree_tool, tmp_path):
    """Random byte damage: iree_lab rejects exactly what iree-dump-module rejects,
    prints the same text when both accept, and only ever raises FormatError."""
    rng = random.Random(f"isa-damage-{name}")
    module = iree_lab.open(_module_bytes(name))
    base, size = module.bytecode_file_offset, len(module.bytecode)
    path = tmp_path / "damaged.vmfb"
    accepted = rejected = 0
    for _ in range(25):
        data = bytearray(_module_bytes(name))
        for _ in range(rng.choice((1, 1, 2, 3))):
            data[base + rng.randrange(size)] = rng.randrange(256)
        path.write_bytes(data)
        result = iree_tool(
            "iree-dump-module", "--output=disassembly", "--bytecode_offsets", str(path),
            check=False,
        )  # fmt: skip
        try:
            ours = disassemble(iree_lab.open(bytes(data)), bytecode_offsets=True)
        except FormatError:
            assert result.returncode != 0, "iree_lab rejected what IREE accepts"
            rejected += 1
            continue
        assert result.returncode == 0, "iree_lab accepted what IREE rejects"
        assert ours.encode("utf-8", "surrogateescape") == result.stdout
        accepted += 1
    assert accepted and rejected


def test_truncations_never_escape_as_other_errors():
    module = iree_lab.open(_module_bytes("isa_control"))
    for f in module.functions:
        code = bytes(module.function_bytecode(f))
        for cut in range(len(code)):
            with pytest.raises(BytecodeError):
                decode_bytecode(
                    code[:cut], i32_register_count=f.i32_register_count,
                    ref_register_count=f.ref_register_count, block_count=f.block_count,
                )  # fmt: skip


def test_random_bytes_never_escape_as_other_errors():
    rng = random.Random(1234)
    for _ in range(2000):
        code = bytes([0x79]) + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
        try:
            decode_bytecode(code, i32_register_count=8, ref_register_count=4, block_count=2)
        except BytecodeError as error:
            assert error.pc is None or 0 <= error.pc <= len(code)


def test_register_count_overflow():
    assert "register count overflow" in str(_error(C().ret(), i32_register_count=40000))


def test_longest_register_list():
    # vm.discard.refs with 65535 entries (u16 count) followed by vm.return.
    fn = _decode(C().op(0x85).list(*([0] * 65535)).ret())
    assert len(fn.instructions[1].values[0]) == 65535
    assert fn.instructions[2].pc == 4 + 2 * 65535


def test_random_descriptor_damage_matches_iree(iree_tool, tmp_path):
    """Damaged block/register counts in function descriptors (the decoder's inputs)."""
    rng = random.Random("isa-descriptors")
    for name in ("tensor_vmvx", "isa_control"):
        module = iree_lab.open(_module_bytes(name))
        base = module.root_table.vector("function_descriptors").file_offset
        path = tmp_path / "damaged.vmfb"
        for _ in range(15):
            data = bytearray(_module_bytes(name))
            # FunctionDescriptor: offset, length, requirements (u32 each), reserved,
            # block_count, i32_register_count, ref_register_count (u16 each).
            field = rng.choice((14, 16, 18))
            data[base + 20 * rng.randrange(len(module.functions)) + field] = rng.choice(
                (0, 1, 2, 3, 255, rng.randrange(256))
            )
            path.write_bytes(data)
            result = iree_tool("iree-dump-module", "--output=disassembly", str(path), check=False)
            try:
                ours = disassemble(iree_lab.open(bytes(data)))
            except FormatError:
                assert result.returncode != 0
                continue
            assert result.returncode == 0
            assert ours.encode("utf-8", "surrogateescape") == result.stdout
