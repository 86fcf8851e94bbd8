"""ISA tables, decoder API, opcode coverage and hand-built bytecode."""

from __future__ import annotations

import functools
import json
import os
import struct
from pathlib import Path

import pytest

import iree_lab
from iree_lab.errors import FormatError
from iree_lab.isa import (
    ALL_OPS,
    BytecodeError,
    Register,
    decode_bytecode,
    decode_function,
    decode_functions,
    disassemble,
    format_instruction,
    lookup,
    tables,
)
from iree_lab.testing import corpus

# The project's shared folder sits next to the project root (session and CI);
# IREE_LAB_SHARED overrides that for a checkout that lives elsewhere.
SHARED_DIR = Path(os.environ.get("IREE_LAB_SHARED") or corpus.REPO_ROOT.parent / "shared")
ISA_JSON = SHARED_DIR / "reference" / "isa.json"
# Ops the pinned 3.13 tools decode that the Aug 2026 isa.json snapshot predates (found
# by test_opcode_bytes_match_pinned_runtime's sweep).
NEWER_THAN_SNAPSHOT = {"vm.fpowi.f32", "vm.fpowi.f64"}
PROGRAMS_DIR = Path(__file__).parent / "programs" / "isa"


@functools.cache
def _module(name: str):
    return iree_lab.open(str(corpus.build(name)))


# ---------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------


def test_table_shape():
    assert len(tables.CORE_OPS) == 137  # 0x00-0x88, the block marker (0x79) included
    assert len(tables.EXT_F32_OPS) == 63  # 0x00-0x3E
    assert len(tables.EXT_F64_OPS) == 65  # 0x00-0x40
    keys = [op.key for op in ALL_OPS]
    assert len(keys) == len(set(keys))
    assert len({op.name for op in ALL_OPS}) == len(ALL_OPS)
    assert tables.PREFIX_OPCODES == {0xE0: "ext_f32", 0xE1: "ext_f64"}
    # Prefix bytes and unassigned core opcodes decode to nothing.
    core = tables.OPCODE_TABLES["core"]
    assert core[0xE0] is None and core[0x89] is None
    assert lookup("vm.add.i32") is lookup("AddI32") is core[0x22]
    assert lookup("add.f32").encoded_opcode == b"\xe0\x0a"
    with pytest.raises(KeyError):
        lookup("vm.no_such_op")


def _resolved_fields(isa, encoding):
    """isa.json fields of an encoding with class parameters substituted."""
    enc = isa["encodings"][encoding]
    if "class" not in enc:
        return enc["fields"]
    params = enc.get("parameters", {})
    out = []
    for field in isa["operation_classes"][enc["class"]]["fields"]:
        field = dict(field)
        for k, v in list(field.items()):
            if isinstance(v, str) and v.startswith("$"):
                field[k] = params[v[1:]]
        out.append(field)
    return out


_BANK = {"i32": tables.I32, "i64": tables.I64, "f32": tables.F32, "f64": tables.F64}
_ATTR = {
    "i32": tables.CONST_I32,
    "i64": tables.CONST_I64,
    "f32": tables.CONST_F32,
    "f64": tables.CONST_F64,
}


def _expected_kind(field):
    kind = field["kind"]
    if kind == "register":
        if field["bank"] == "ref":
            return tables.REF_MOVE if field.get("move") == "allow" else tables.REF
        return _BANK[field["bank"]]
    if kind == "attribute":
        return _ATTR[field["type"]]
    simple = {
        "type_of": tables.TYPE,
        "rodata_attr": tables.RODATA,
        "string_attr": tables.STRING,
        "branch_target": tables.BRANCH_TARGET,
        "branch_operands": tables.BRANCH_REMAP,
        "branch_table_cases": tables.BRANCH_TABLE,
    }
    if kind in simple:
        return simple[kind]
    if kind in ("global_attr",):
        return (tables.GLOBAL_OFFSET, tables.GLOBAL_REF)
    if kind == "func_attr":
        return (tables.FUNC, tables.IMPORT)
    raise AssertionError(kind)


def test_tables_match_iree_isa_json():
    if not ISA_JSON.exists():
        pytest.fail(f"IREE's isa.json reference is missing: expected {ISA_JSON} (the shared "
                    "folder next to the project root, or set IREE_LAB_SHARED)")
    isa = json.loads(ISA_JSON.read_text())
    assert (isa["bytecode_version"]["major"], isa["bytecode_version"]["minor"]) == (
        tables.BYTECODE_VERSION_MAJOR,
        tables.BYTECODE_VERSION_MINOR,
    )
    ours = {(op.opcode_set, op.opcode): op for op in ALL_OPS}
    seen = set()
    for inst in isa["instructions"]:
        if inst.get("kind") == "prefix":
            assert tables.PREFIX_OPCODES[inst["opcode"]] == inst["target_opcode_set"]
            continue
        op = ours[(inst["opcode_set"], inst["opcode"])]
        seen.add(op)
        assert op.symbol == inst["symbol"]
        if op.name in NEWER_THAN_SNAPSHOT:
            # A newer snapshot names it "f32_binary"; 3.13 decodes an i64 exponent.
            assert op.name == "vm." + inst["mnemonic"]
            continue
        if inst.get("kind") == "marker":
            assert op is tables.BLOCK_OP
            continue
        assert op.name == "vm." + inst["mnemonic"]
        assert op.encoding == inst["encoding"]
        fields = [f for f in _resolved_fields(isa, inst["encoding"]) if f["kind"] != "const_i16"]
        assert [f.name for f in op.fields] == [f["name"] for f in fields], op
        for theirs, mine in zip(fields, op.fields, strict=True):
            if theirs["kind"] in ("variadic_operands", "variadic_results"):
                if theirs["name"] == "segment_sizes":
                    assert mine.kind == tables.SEGMENT_SIZES
                    continue
                assert mine.kind == tables.REG_LIST
                elem = theirs["type"]
                expected = {"any": tables.ANY, "ref": tables.REF_MOVE}.get(elem) or _BANK[elem]
                if elem == "ref" and theirs.get("move") != "allow":
                    expected = tables.REF
                assert mine.element == expected, op
                assert mine.access == ("write" if theirs["kind"] == "variadic_results" else "read")
                continue
            expected = _expected_kind(theirs)
            if isinstance(expected, tuple):
                assert mine.kind in expected, op
            else:
                assert mine.kind == expected, (op, mine)
            if theirs["kind"] == "register":
                assert mine.access == theirs["access"], op
    assert seen | {lookup(name) for name in NEWER_THAN_SNAPSHOT} == set(ALL_OPS)


# ---------------------------------------------------------------------------
# Opcode coverage: every table opcode appears in some decoded module
# ---------------------------------------------------------------------------

# Ops IREE's assembler cannot express; exercised by hand-built modules below.
HAND_BUILT = {"vm.switch.ref", "vm.cast.ui64.f32"}


def _ops_in(module, seen):
    for fn in decode_functions(module):
        seen.update(inst.op for inst in fn)
    for segment in module.rodata:
        data = bytes(segment.data)
        if data[:4] == b"PK\x03\x04" or data[4:8] == b"IREE":
            _ops_in(iree_lab.open(data), seen)


def test_every_opcode_is_covered():
    seen: set = set()
    for name in corpus.PROGRAMS:
        _ops_in(_module(name), seen)
    _ops_in(iree_lab.open(str(_switch_ref_module())), seen)
    _ops_in(iree_lab.open(str(corpus.build(_CAST_UI64_F32))), seen)
    missing = sorted(op.name for op in ALL_OPS if op not in seen)
    assert missing == []


# ---------------------------------------------------------------------------
# Hand-built bytecode: ops iree-as-module cannot assemble
# ---------------------------------------------------------------------------

_CAST_UI64_F32 = corpus.Program(
    "isa_cast_ui64_f32", "isa/cast_ui64_f32.vmasm", tool="assemble"
)
_SWITCH_REF_PLACEHOLDER = corpus.Program(
    "isa_switch_ref_placeholder", "isa/switch_ref_placeholder.vmasm", tool="assemble"
)


@functools.cache
def _switch_ref_module() -> Path:
    """The placeholder program with its 17 placeholder bytes replaced by a vm.switch.ref."""
    path = corpus.build(_SWITCH_REF_PLACEHOLDER)
    module = iree_lab.open(str(path))
    fn = decode_function(module, 0)
    first = fn.instructions[1]
    assert first.pc == 1 and first.name == "vm.list.get.ref"
    encoded = (
        bytes([tables.lookup("vm.switch.ref").opcode])
        + struct.pack("<HIH", 0, 0, 0x8001)  # index %i0, type 0, default %r1
        + struct.pack("<HHH", 2, 0x8000, 0x4000 | 0x8001)  # [%r0, %R1] (list at even pc 10)
        + struct.pack("<H", 0x8002)  # result %r2
    )
    assert fn.instructions[4].pc == 1 + len(encoded)  # exactly replaces 3 placeholder ops
    data = bytearray(path.read_bytes())
    start = module.bytecode_file_offset + module.functions[0].bytecode_offset + 1
    data[start : start + len(encoded)] = encoded
    out = corpus.cache_dir() / f"isa_switch_ref-{path.stem.rsplit('-', 1)[-1]}.vmfb"
    out.write_bytes(data)
    return out


def test_switch_ref_hand_built(iree_tool):
    module = iree_lab.open(str(_switch_ref_module()))
    fn = decode_function(module, 0)
    inst = fn.instructions[1]
    assert inst.name == "vm.switch.ref"
    assert inst.values == (0, 0, 0x8001, (0x8000, 0xC001), 0x8002)
    assert format_instruction(inst, fn) == "%r2 = vm.switch.ref %i0[%r0, %R1] else %r1"
    path = str(_switch_ref_module())
    # IREE's verifier accepts it (a verifier failure would name verifier.c), but
    # its disassembler forgets the type id and misreads what follows
    # (documented divergence): garbage or "unhandled core opcode".
    result = iree_tool("iree-dump-module", "--output=disassembly", path, check=False)
    assert b"verifier.c" not in result.stderr
    assert b"vm.switch.ref %i0[%r0, %R1] else %r1" not in result.stdout
    assert result.returncode != 0 or b"vm.switch.ref %i0[] else" in result.stdout
    assert "vm.switch.ref %i0[%r0, %R1] else %r1" in disassemble(module)


def test_cast_ui64_f32(iree_tool):
    path = corpus.build(_CAST_UI64_F32)
    module = iree_lab.open(str(path))
    text = disassemble(module, bytecode_offsets=True)
    assert "[00000001]  %i2 = vm.cast.ui64.f32 %i0:1\n" in text
    result = iree_tool("iree-dump-module", "--output=disassembly", str(path), check=False)
    assert result.returncode != 0 and b"unhandled ext opcode" in result.stderr
    assert text.startswith(result.stdout.decode())


# ---------------------------------------------------------------------------
# Decoder API
# ---------------------------------------------------------------------------


def test_decoded_function_api():
    module = _module("isa_control")
    fn = decode_function(module, "loop_sum")
    assert fn is decode_function(module, 0)  # cached; by name or ordinal
    assert fn is decode_function(module, module.functions[0])
    assert fn.name == "loop_sum" and fn.ordinal == 0 and fn.complete
    assert fn.module is module
    assert len(fn) == len(fn.instructions) and list(fn) == fn.instructions
    assert [b.pc for b in fn.blocks] == [0x00, 0x16, 0x32, 0x58]
    # pc -> instruction and block
    br = fn.instruction_at(0x07)
    assert br.name == "vm.br" and br.length == 0x16 - 0x07
    assert fn.instruction_containing(0x10) is br
    assert fn.block_at(0x10).ordinal == 0 and fn.block_at(0x16).ordinal == 1
    assert fn.block_by_pc(0x32).ordinal == 2
    with pytest.raises(KeyError):
        fn.instruction_at(0x08)
    # Instructions are contiguous and cover the whole function.
    assert fn.instructions[0].pc == 0 and fn.instructions[-1].end == fn.length
    for a, b in zip(fn.instructions, fn.instructions[1:], strict=False):
        assert a.end == b.pc
    # Typed views.
    cmp = fn.instruction_at(0x17)
    assert cmp.name == "vm.cmp.lt.i32.s" and cmp.opcode_set == "core"
    assert [str(r) for o in cmp.operands for r in o.registers] == ["%i3", "%i0"]
    assert [str(r) for o in cmp.results for r in o.registers] == ["%i5"]
    assert cmp.get("left") == 3
    cond = fn.instruction_at(0x1E)
    assert cond.branches == (("true", 0x32, ()), ("false", 0x58, ((4, 6),)))
    assert br.branches == (("dest", 0x16, ((1, 3), (2, 4))),)


def test_register_views():
    assert str(Register.decode(tables.I64, 6)) == "%i6:7"
    assert Register.decode(tables.I64, 6).slots == (6, 7)
    r = Register.decode(tables.ANY, 0xC003)
    assert (r.bank, r.ordinal, r.move, str(r)) == ("ref", 3, True, "%R3")
    assert str(Register.decode(tables.ANY, 5)) == "%i5"
    assert str(Register.decode(tables.F32, 2)) == "%i2" and Register.decode(tables.F32, 2).bank == "f32"


def test_calls_and_immediates():
    module = _module("isa_control")
    fn = decode_function(module, "imports")
    variadic = next(i for i in fn if i.name == "vm.call.variadic")
    assert variadic.callee == tables.FUNCTION_ORDINAL_IMPORT_BIT | 0
    assert variadic.get("segment_sizes") == (65535, 2)
    assert variadic.get("operands") == (0, 1, 0)
    yieldable = next(i for i in fn if i.name == "vm.call.yieldable")
    assert yieldable.branches[0][0] == "resume"
    ints = decode_function(_module("isa_integer"), "i64_ops")
    consts = [i.values[0] for i in ints if i.name == "vm.const.i64"]
    assert consts == [7, -(2**63)]
    f32 = decode_function(_module("isa_ext_f32"), "f32_math")
    assert f32.instructions[1].name == "vm.const.f32" and f32.instructions[1].values[0] == 1.5
    assert f32.instructions[1].op.prefix == 0xE0 and f32.instructions[1].length == 8


def test_every_corpus_function_decodes_strictly():
    """The VM's strict verification accepts everything the compiler and assembler emit."""
    count = 0
    for name in corpus.PROGRAMS:
        for fn in decode_functions(_module(name)):
            assert fn.complete and fn.strict
            count += len(fn)
    assert count > 1000


def test_format_instruction_without_module():
    code = bytes.fromhex("79") + bytes.fromhex("0d05000000" "0100") + bytes.fromhex("5a0001000100")
    fn = decode_bytecode(code, i32_register_count=2, ref_register_count=0, block_count=1)
    assert [format_instruction(i, fn) for i in fn] == [
        "^bb0:",
        "%i1 = vm.const.i32 5  // 0x00000005",
        "vm.return %i1",
    ]


def test_bytecode_error_is_a_format_error():
    assert issubclass(BytecodeError, FormatError)


def test_every_decoder_and_formatter_compiles():
    # Both are generated from the tables lazily, on an op's first use.
    from iree_lab.isa import _opdecode, disassembler

    _opdecode.compile_all()
    assert all(
        entry is None or entry[1].__name__ == "decode"
        for table in (_opdecode.CORE, *_opdecode.PREFIXED.values())
        for entry in table
    )
    for op in ALL_OPS:
        assert callable(disassembler._FORMATTERS[op])


class _Regs:
    """RegisterValues over plain dicts (what a VM frame provides)."""

    def __init__(self, i32=None, refs=None, rwdata=b"", global_refs=None):
        self._i32, self._refs = i32 or {}, refs or {}
        self._rwdata, self._global_refs = rwdata, global_refs or {}

    def i32(self, slot):
        return self._i32.get(slot, 0)

    def ref(self, slot):
        return self._refs.get(slot)

    def rwdata(self, offset, size):
        return self._rwdata[offset : offset + size]

    def global_ref(self, ordinal):
        return self._global_refs.get(ordinal)


def test_trace_format_with_values():
    """Operands with values, as IREE's --trace_execution prints them (../shared/DESIGN.md)."""
    ints = decode_function(_module("isa_integer"), "i32_ops")
    regs = _Regs({0: 5, 1: -7 & 0xFFFFFFFF, 2: 3, 14: 1, 8: 0xFFFFFFFF, 15: 0x80000000})

    def fmt(fn, pc, r, **kw):
        return format_instruction(fn.instruction_at(pc), fn, values=r, **kw)

    add = ints.instructions[1]
    assert format_instruction(add, ints, values=regs) == "%i2 = vm.add.i32 %i0(5), %i1(-7)"
    switch = next(i for i in ints if i.name == "vm.switch.i32")
    assert (
        format_instruction(switch, ints, values=regs)
        == "%i9 = vm.switch.i32 %i14(1)[%i9(0), %i8(4294967295), %i15(2147483648)] else %i6(0)"
    )
    i64 = decode_function(_module("isa_integer"), "i64_ops")
    pair = _Regs({0: 0x7328CC00, 1: 1, 2: 0xFFFFFFFF, 3: 0xFFFFFFFF})
    assert (
        format_instruction(i64.instructions[1], i64, values=pair)
        == "%i4:5 = vm.add.i64 %i0:1(6227020800), %i2:3(-1)"
    )
    ret = i64.instructions[-1]
    assert format_instruction(ret, i64, values=_Regs({16: 7, 17: 1})) == "vm.return %i16(7)"
    # f32 operands print their bits as %.9g.
    f32 = decode_function(_module("isa_ext_f32"), "f32_math")
    add_f = next(i for i in f32 if i.name == "vm.add.f32")
    fregs = _Regs({0: struct.unpack("<I", struct.pack("<f", 1.5))[0], 1: 0x7FC00000})
    assert format_instruction(add_f, f32, values=fregs) == "%i12 = vm.add.f32 %i0(1.5), %i1(nan)"
    # Refs, globals and their loaded values.
    refs = decode_function(_module("isa_refs"), "ref_values")
    rregs = _Regs({0: 1, 4: 1}, {2: "!vm.buffer/0x1000"}, global_refs={1: "!vm.buffer/0x2000"})
    lines = [format_instruction(i, refs, values=rregs) for i in refs.instructions[1:]]
    assert "%r4 = vm.select.ref %i0(1) ? %r2(!vm.buffer/0x1000) : %r3(null) -> !vm.buffer" in lines
    assert "%r6 = vm.global.load.ref .refs[0](null) : !vm.buffer" in lines
    assert "%r7 = vm.global.load.indirect.ref .refs[%i4(1)](!vm.buffer/0x2000) : !vm.buffer" in lines
    assert "vm.return %i1(0), %R7(null)" in lines
    glob = decode_function(_module("isa_integer"), "globals")
    gregs = _Regs({0: 9, 2: 0}, rwdata=struct.pack("<iiq", -3, 0, 1 << 40))
    glines = [format_instruction(i, glob, values=gregs) for i in glob.instructions[1:]]
    assert glines[:4] == [
        "vm.global.store.i32 %i0(9), .rwdata[0]",
        "%i1 = vm.global.load.i32 .rwdata[0](-3)",
        "%i2 = vm.const.i32.zero",
        "vm.global.store.indirect.i32 %i1(0), .rwdata[%i2(0)]",
    ]
    assert "%i6:7 = vm.global.load.i64 .rwdata[8](1099511627776)" in glines
    # Narrow stores print the truncated value; branch remaps their sources.
    buffers = decode_function(_module("isa_refs"), "buffers")
    store8 = next(i for i in buffers if i.name == "vm.buffer.store.i8")
    assert format_instruction(store8, buffers, values=_Regs({12: 0x1FF})) == (
        "vm.buffer.store.i8 %i12(255), %r2(null), %i4:5(0)"
    )
    loop = decode_function(_module("isa_control"), "loop_sum")
    br = loop.instruction_at(0x07)
    assert format_instruction(br, loop, values=_Regs({1: 1, 2: 0xFFFFFFFE})) == (
        "vm.br ^bb1(%i1(1)->%i3, %i2(4294967294)->%i4)"
    )
    assert format_instruction(br, loop, values=_Regs(), block_names=False) == (
        "vm.br ^00000016(%i1(0)->%i3, %i2(0)->%i4)"
    )
    assert format_instruction(loop.instructions[0], loop, block_names=False) == "<block>"
