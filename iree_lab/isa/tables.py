"""Opcode tables of the VM bytecode ISA, version 17.0 (what IREE 3.13 emits and runs),
checked byte by byte against the pinned tools (tests/test_isa_pinned.py); the subsets
older bytecode versions (15.0, 16.0) know: :func:`ops_of_bytecode_major`.

Every instruction is described by an :class:`OpInfo`: its opcode set (``core`` or
one of the prefixed extension sets), opcode byte, IREE symbol (``AddI32``),
mnemonic (``vm.add.i32``), encoding name and the ordered tuple of
:class:`Field` s its operands are encoded as. The decoder walks these fields;
the disassembler prints an instruction with the op's ``template``.

Encoding facts (IREE ``runtime/src/iree/vm/bytecode``): little-endian, no
padding except that register lists, remap lists and branch-operand lists are
aligned to 2 bytes relative to the start of the function. Registers are 16-bit
ordinals: i32/f32 use one slot, i64/f64 an even/odd pair named by the even
slot; ref registers carry a type bit (0x8000) and a move bit (0x4000) on a
14-bit ordinal. Function ordinals with the high bit set refer to imports.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

from iree_lab.format.module import SUPPORTED_BYTECODE_VERSIONS

BYTECODE_VERSION_MAJOR = 17
BYTECODE_VERSION_MINOR = 0

# Register ordinal encoding.
I32_REGISTER_MASK = 0x7FFF
REF_REGISTER_TYPE_BIT = 0x8000
REF_REGISTER_MOVE_BIT = 0x4000
REF_REGISTER_MASK = 0x3FFF
# Function ordinals referring to imports carry this bit.
FUNCTION_ORDINAL_IMPORT_BIT = 0x80000000
# Largest block pc the runtime accepts (it steals the high bits for flags).
PC_BLOCK_MAX = 0x00FFFFFF

# ---------------------------------------------------------------------------
# Field kinds. Plain ints (not an Enum) because the decoder compares them in its
# hot loop.
# ---------------------------------------------------------------------------

# Single registers (u16 ordinal).
I32 = 0  # one i32 slot
I64 = 1  # an i32 pair (even ordinal), named %iN:N+1
F32 = 2  # one slot holding f32 bits
F64 = 3  # a pair holding f64 bits
REF = 4  # ref register; the move bit is not allowed
REF_MOVE = 5  # ref register; the move bit transfers ownership
ANY = 6  # element of a register list: i32 slot or ref (by the type bit)
# Immediates.
TYPE = 7  # u32 type id (index into the module's type table)
GLOBAL_OFFSET = 8  # u32 byte offset into rwdata (Field.width bytes accessed)
GLOBAL_REF = 9  # u32 ordinal into the global ref table
RODATA = 10  # u32 rodata segment ordinal
FUNC = 11  # u32 function ordinal; import when FUNCTION_ORDINAL_IMPORT_BIT is set
IMPORT = 12  # u32 function ordinal that must be an import
CONST_I32 = 13  # i32 immediate
CONST_I64 = 14  # i64 immediate
CONST_F32 = 15  # f32 immediate
CONST_F64 = 16  # f64 immediate
STRING = 17  # u16 length + bytes
# Variable-length lists (aligned to 2 bytes).
REG_LIST = 18  # u16 count + count u16 registers (Field.element: their kind)
SEGMENT_SIZES = 19  # u16 count + count u16 segment sizes of a variadic call
BRANCH_TARGET = 20  # u32 pc of the target block's marker
BRANCH_REMAP = 21  # u16 count + count (src, dst) register pairs
BRANCH_TABLE = 22  # u16 case count + per case (u32 target, remap list)

KIND_NAMES = (
    "i32", "i64", "f32", "f64", "ref", "ref_move", "any",
    "type", "global_offset", "global_ref", "rodata", "func", "import",
    "const_i32", "const_i64", "const_f32", "const_f64", "string",
    "reg_list", "segment_sizes", "branch_target", "branch_remap", "branch_table",
)  # fmt: skip

REGISTER_KINDS = frozenset({I32, I64, F32, F64, REF, REF_MOVE, ANY})

# Field access.
READ = "read"
WRITE = "write"


class Field(NamedTuple):
    """One encoded field of an instruction, in encoding order."""

    name: str
    kind: int
    # READ (operand), WRITE (result) or None (immediate/attribute/branch data).
    access: str | None = None
    # REG_LIST: the kind of each listed register.
    element: int | None = None
    # GLOBAL_OFFSET: bytes accessed at the offset (4 or 8).
    width: int = 0

    @property
    def kind_name(self) -> str:
        return KIND_NAMES[self.kind]


# Control-flow behaviour of an instruction (OpInfo.flow).
FLOW_NONE = None
FLOW_BRANCH = "branch"  # vm.br
FLOW_COND_BRANCH = "cond_branch"  # vm.cond_br
FLOW_BRANCH_TABLE = "branch_table"  # vm.br_table
FLOW_CALL = "call"  # vm.call / vm.call.variadic (returns to the next op)
FLOW_CALL_YIELDABLE = "call_yieldable"  # may suspend; resumes at its target block
FLOW_RETURN = "return"
FLOW_FAIL = "fail"
FLOW_YIELD = "yield"  # branches, then suspends the fiber
FLOW_BREAK = "break"  # vm.break / vm.cond_break (debugger break, then branch)
FLOW_BLOCK = "block"  # the block marker


@dataclasses.dataclass(frozen=True, eq=False)
class OpInfo:
    """Static description of one opcode."""

    # "core", "ext_f32" or "ext_f64".
    opcode_set: str
    # Opcode byte within its set (after the prefix byte for extension sets).
    opcode: int
    # IREE's C symbol, e.g. "AddI32" (IREE_VM_OP_CORE_AddI32).
    symbol: str
    # Assembly mnemonic, e.g. "vm.add.i32" ("vm.block" for the block marker).
    name: str
    # Name of the operand encoding (IREE's isa.json encoding names).
    encoding: str
    fields: tuple[Field, ...]
    # Disassembly template (see iree_lab.isa.disassembler).
    template: str
    # Control-flow behaviour (FLOW_*), None for straight-line ops.
    flow: str | None = None
    # Whether the op ends a block (the verifier requires a block marker next).
    terminator: bool = False

    @property
    def prefix(self) -> int | None:
        """The prefix byte that selects this op's set, None for core ops."""
        return OPCODE_SETS[self.opcode_set].prefix

    @property
    def key(self) -> int:
        """Unique small int: opcode for core ops, (prefix << 8) | opcode otherwise."""
        prefix = self.prefix
        return self.opcode if prefix is None else (prefix << 8) | self.opcode

    @property
    def encoded_opcode(self) -> bytes:
        """The opcode bytes as they appear in bytecode."""
        prefix = self.prefix
        return bytes([self.opcode]) if prefix is None else bytes([prefix, self.opcode])

    @property
    def operand_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.access == READ)

    @property
    def result_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.access == WRITE)

    def __repr__(self) -> str:
        return f"<OpInfo {self.name} {self.opcode_set}:0x{self.opcode:02X}>"


@dataclasses.dataclass(frozen=True)
class OpcodeSet:
    name: str
    # Core opcode byte that introduces this set; None for the core set.
    prefix: int | None
    # Function requirement bit (FeatureBits in the module schema) it needs.
    feature: str | None
    description: str


OPCODE_SETS: dict[str, OpcodeSet] = {
    s.name: s
    for s in (
        OpcodeSet("core", None, None, "core VM opcodes"),
        OpcodeSet("ext_f32", 0xE0, "EXT_F32", "32-bit float extension"),
        OpcodeSet("ext_f64", 0xE1, "EXT_F64", "64-bit float extension"),
    )
}
# Opcode bytes of the core set that are prefixes rather than ops.
PREFIX_OPCODES: dict[int, str] = {s.prefix: s.name for s in OPCODE_SETS.values() if s.prefix}
BLOCK_OPCODE = 0x79  # the core Block marker


# ---------------------------------------------------------------------------
# Encodings. Each function returns (encoding name, fields, default template);
# templates use {N} for field N printed by its kind, {M} for the mnemonic and
# {N:fmt} for the special formats listed in iree_lab.isa.disassembler.
# ---------------------------------------------------------------------------

_R, _W = READ, WRITE
_BANK_KIND = {"i32": I32, "i64": I64, "f32": F32, "f64": F64, "ref": REF}
_WIDTH = {"i32": 4, "i64": 8, "f32": 4, "f64": 8}


def _k(bank):
    return _BANK_KIND[bank]


def _enc_unary(t):
    return f"{t}_unary", (Field("operand", _k(t), _R), Field("result", _k(t), _W)), "{1} = {M} {0}"


def _enc_binary(t):
    return (
        f"{t}_binary",
        (Field("left", _k(t), _R), Field("right", _k(t), _R), Field("result", _k(t), _W)),
        "{2} = {M} {0}, {1}",
    )


def _enc_ternary(t):
    return (
        f"{t}_ternary",
        (
            Field("first", _k(t), _R),
            Field("second", _k(t), _R),
            Field("third", _k(t), _R),
            Field("result", _k(t), _W),
        ),
        "{3} = {M} {0}, {1}, {2}",
    )


def _enc_powi(t):
    # vm.fpowi: a float base, an i64 exponent (IREE's "ComplexArithmetic" op class).
    return (
        f"{t}_i64_binary",
        (Field("lhs", _k(t), _R), Field("rhs", I64, _R), Field("result", _k(t), _W)),
        "{2} = {M} {0}, {1}",
    )


def _enc_shift(t):
    return (
        f"{t}_shift",
        (Field("operand", _k(t), _R), Field("amount", I32, _R), Field("result", _k(t), _W)),
        "{2} = {M} {0}, {1}",
    )


def _enc_select(t):
    return (
        f"{t}_select",
        (
            Field("condition", I32, _R),
            Field("true_value", _k(t), _R),
            Field("false_value", _k(t), _R),
            Field("result", _k(t), _W),
        ),
        "{3} = {M} {0} ? {1} : {2}",
    )


def _enc_switch(t):
    return (
        f"{t}_switch",
        (
            Field("index", I32, _R),
            Field("default_value", _k(t), _R),
            Field("values", REG_LIST, _R, element=_k(t)),
            Field("result", _k(t), _W),
        ),
        "{3} = {M} {0}[{2}] else {1}",
    )


def _enc_unary_cmp(t):
    return (
        f"{t}_unary_comparison",
        (Field("operand", _k(t), _R), Field("result", I32, _W)),
        "{1} = {M} {0}",
    )


def _enc_binary_cmp(t):
    return (
        f"{t}_binary_comparison",
        (Field("left", _k(t), _R), Field("right", _k(t), _R), Field("result", I32, _W)),
        "{2} = {M} {0}, {1}",
    )


def _enc_conversion(src, dst):
    return (
        f"{src}_to_{dst}_conversion",
        (Field("operand", _k(src), _R), Field("result", _k(dst), _W)),
        "{1} = {M} {0}",
    )


def _enc_global_load(t):
    return (
        f"{t}_global_load",
        (Field("byte_offset", GLOBAL_OFFSET, width=_WIDTH[t]), Field("result", _k(t), _W)),
        "{1} = {M} .rwdata[{0}]{0:global}",
    )


def _enc_global_store(t):
    return (
        f"{t}_global_store",
        (Field("byte_offset", GLOBAL_OFFSET, width=_WIDTH[t]), Field("value", _k(t), _R)),
        "{M} {1}, .rwdata[{0}]",
    )


def _enc_global_load_indirect(t):
    return (
        f"{t}_global_load_indirect",
        (Field("byte_offset", I32, _R), Field("result", _k(t), _W)),
        "{1} = {M} .rwdata[{0}]{0:global}",
    )


def _enc_global_store_indirect(t):
    return (
        f"{t}_global_store_indirect",
        (Field("byte_offset", I32, _R), Field("value", _k(t), _R)),
        "{M} {1}, .rwdata[{0}]",
    )


_CONST_KIND = {"i32": CONST_I32, "i64": CONST_I64, "f32": CONST_F32, "f64": CONST_F64}


def _enc_constant(t):
    return (
        f"{t}_constant",
        (Field("value", _CONST_KIND[t]), Field("result", _k(t), _W)),
        "{1} = {M} {0}",
    )


def _enc_zero_constant(t):
    return f"{t}_zero_constant", (Field("result", _k(t), _W),), "{0} = {M}"


def _enc_list_get(t):
    return (
        f"{t}_list_get",
        (Field("list", REF, _R), Field("index", I32, _R), Field("result", _k(t), _W)),
        "{2} = {M} {0}, {1}",
    )


def _enc_list_set(t):
    return (
        f"{t}_list_set",
        (Field("list", REF, _R), Field("index", I32, _R), Field("value", _k(t), _R)),
        "{M} {0}, {1}, {2}",
    )


def _enc_buffer_load(t):
    return (
        f"{t}_buffer_load",
        (
            Field("source_buffer", REF, _R),
            Field("source_offset", I64, _R),
            Field("result", _k(t), _W),
        ),
        "{2} = {M} {0}, {1}",
    )


def _enc_buffer_store(t):
    return (
        f"{t}_buffer_store",
        (
            Field("target_buffer", REF, _R),
            Field("target_offset", I64, _R),
            Field("value", _k(t), _R),
        ),
        "{M} {2}, {0}, {1}",
    )


def _enc_buffer_fill(t):
    return (
        f"{t}_buffer_fill",
        (
            Field("target_buffer", REF, _R),
            Field("target_offset", I64, _R),
            Field("length", I64, _R),
            Field("value", _k(t), _R),
        ),
        "{M} {0}, {1}, {2}, {3}",
    )


def _remap(name):
    return Field(name, BRANCH_REMAP, _R)


_ENCODINGS_FIXED = {
    "global_load_ref": (
        (Field("global", GLOBAL_REF), Field("type_def", TYPE), Field("value", REF_MOVE, _W)),
        "{2} = {M} .refs[{0}]{0:global} : {1}",
    ),
    "global_store_ref": (
        (Field("global", GLOBAL_REF), Field("type_def", TYPE), Field("value", REF_MOVE, _R)),
        "{M} {2}, .refs[{0}] : {1}",
    ),
    "global_load_indirect_ref": (
        (Field("global", I32, _R), Field("type_def", TYPE), Field("value", REF_MOVE, _W)),
        "{2} = {M} .refs[{0}]{0:global} : {1}",
    ),
    "global_store_indirect_ref": (
        (Field("global", I32, _R), Field("type_def", TYPE), Field("value", REF_MOVE, _R)),
        "{M} {2}, .refs[{0}] : {1}",
    ),
    # The move bit is accepted but the disassembler prints a plain %r.
    "const_ref_zero": ((Field("result", REF_MOVE, _W),), "{0:plain} = {M}"),
    "const_ref_rodata": (
        (Field("rodata", RODATA), Field("value", REF_MOVE, _W)),
        "{1} = {M} {0}  // {0:rodata_size}b",
    ),
    "list_alloc": (
        (
            Field("element_type", TYPE),
            Field("initial_capacity", I32, _R),
            Field("result", REF_MOVE, _W),
        ),
        "{2} = {M} {1} : !vm.list<{0}>",
    ),
    "list_reserve": (
        (Field("list", REF, _R), Field("minimum_capacity", I32, _R)),
        "{M} {0}, {1}",
    ),
    "list_size": ((Field("list", REF, _R), Field("result", I32, _W)), "{1} = {M} {0}"),
    "list_resize": ((Field("list", REF, _R), Field("new_size", I32, _R)), "{M} {0}, {1}"),
    "list_get_ref": (
        (
            Field("list", REF, _R),
            Field("index", I32, _R),
            Field("type_def", TYPE),
            Field("result", REF_MOVE, _W),
        ),
        "{3} = {M} {0}, {1} : {2}",
    ),
    "list_set_ref": (
        (Field("list", REF, _R), Field("index", I32, _R), Field("value", REF_MOVE, _R)),
        "{M} {0}, {1}, {2}",
    ),
    "select_ref": (
        (
            Field("condition", I32, _R),
            Field("true_value_type_def", TYPE),
            Field("true_value", REF_MOVE, _R),
            Field("false_value", REF_MOVE, _R),
            Field("result", REF_MOVE, _W),
        ),
        "{4} = {M} {0} ? {2} : {3} -> {1}",
    ),
    "switch_ref": (
        (
            Field("index", I32, _R),
            Field("type_def", TYPE),
            Field("default_value", REF_MOVE, _R),
            Field("values", REG_LIST, _R, element=REF_MOVE),
            Field("result", REF_MOVE, _W),
        ),
        "{4} = {M} {0}[{3}] else {2}",
    ),
    "ref_unary_comparison": (
        (Field("operand", REF, _R), Field("result", I32, _W)),
        "{1} = {M} {0}",
    ),
    "ref_binary_comparison": (
        (Field("left", REF, _R), Field("right", REF, _R), Field("result", I32, _W)),
        "{2} = {M} {0}, {1}",
    ),
    "branch": ((Field("dest_pc", BRANCH_TARGET), _remap("operands")), "{M} {0}({1})"),
    "conditional_branch": (
        (
            Field("condition", I32, _R),
            Field("true_dest_pc", BRANCH_TARGET),
            _remap("true_operands"),
            Field("false_dest_pc", BRANCH_TARGET),
            _remap("false_operands"),
        ),
        "{M} {0}, {1}({2}), {3}({4})",
    ),
    "conditional_break": (
        (Field("condition", I32, _R), Field("dest_pc", BRANCH_TARGET), _remap("operands")),
        "{M} {0}, {1}({2})",
    ),
    "branch_table": (
        (
            Field("index", I32, _R),
            Field("default_dest_pc", BRANCH_TARGET),
            _remap("default_operands"),
            Field("cases", BRANCH_TABLE, _R),
        ),
        "{M} {0} {{ default: {1}({2}){3} }}",
    ),
    "call": (
        (
            Field("callee_ordinal", FUNC),
            Field("operands", REG_LIST, _R, element=ANY),
            Field("results", REG_LIST, _W, element=ANY),
        ),
        "{2:results}{M} @{0}({1})",
    ),
    "call_variadic": (
        (
            Field("callee_ordinal", FUNC),
            Field("segment_sizes", SEGMENT_SIZES),
            Field("operands", REG_LIST, _R, element=ANY),
            Field("results", REG_LIST, _W, element=ANY),
        ),
        "{3:results}{M} @{0} segments[{1}]({2})",
    ),
    "yieldable_call": (
        (
            Field("callee_ordinal", FUNC),
            Field("operands", REG_LIST, _R, element=ANY),
            Field("dest_pc", BRANCH_TARGET),
            Field("results", REG_LIST, _W, element=ANY),
        ),
        "{M} @{0}({1}) -> {2}({3})",
    ),
    "call_variadic_yieldable": (
        (
            Field("callee_ordinal", FUNC),
            Field("segment_sizes", SEGMENT_SIZES),
            Field("operands", REG_LIST, _R, element=ANY),
            Field("dest_pc", BRANCH_TARGET),
            Field("results", REG_LIST, _W, element=ANY),
        ),
        "{M} @{0} segments[{1}]({2}) -> {3}({4})",
    ),
    "return": ((Field("operands", REG_LIST, _R, element=ANY),), "{M}{0:prefixed}"),
    "fail": ((Field("status", I32, _R), Field("message", STRING)), '{M} {0}, "{1}"'),
    "import_resolved": (
        (Field("import_ordinal", IMPORT), Field("result", I32, _W)),
        "{1} = {M} @{0}",
    ),
    "trace": (
        (Field("event_name", STRING), Field("operands", REG_LIST, _R, element=ANY)),
        '{M} "{0}"({1})',
    ),
    "buffer_alloc": (
        (Field("length", I64, _R), Field("alignment", I32, _R), Field("result", REF_MOVE, _W)),
        "{2} = {M} {0}, {1}",
    ),
    "buffer_clone": (
        (
            Field("source", REF, _R),
            Field("offset", I64, _R),
            Field("length", I64, _R),
            Field("alignment", I32, _R),
            Field("result", REF_MOVE, _W),
        ),
        "{4} = {M} {0}, {1}, {2}, {3}",
    ),
    "buffer_length": ((Field("buffer", REF, _R), Field("result", I64, _W)), "{1} = {M} {0}"),
    "buffer_copy": (
        (
            Field("source_buffer", REF, _R),
            Field("source_offset", I64, _R),
            Field("target_buffer", REF, _R),
            Field("target_offset", I64, _R),
            Field("length", I64, _R),
        ),
        "{M} {0}, {1}, {2}, {3}, {4}",
    ),
    "buffer_compare": (
        (
            Field("lhs_buffer", REF, _R),
            Field("lhs_offset", I64, _R),
            Field("rhs_buffer", REF, _R),
            Field("rhs_offset", I64, _R),
            Field("length", I64, _R),
            Field("result", I32, _W),
        ),
        "{5} = {M} {0}, {1}, {2}, {3}, {4}",
    ),
    "buffer_hash": (
        (
            Field("source_buffer", REF, _R),
            Field("source_offset", I64, _R),
            Field("length", I64, _R),
            Field("result", I64, _W),
        ),
        "{3} = {M} {0}, {1}, {2}",
    ),
    "cast_any_ref": (
        (Field("operand", REF_MOVE, _R), Field("result_type", TYPE), Field("result", REF_MOVE, _W)),
        "{2} = {M} {0} : !vm.ref<?> -> {1}",
    ),
    "discard_refs": ((Field("refs", REG_LIST, _R, element=ANY),), "{M} {0}"),
    "assign_ref": (
        (Field("source", REF_MOVE, _R), Field("result", REF_MOVE, _W)),
        "{1} = {M} {0}",
    ),
    "block": ((), "<block>"),
}

_PARAMETRIC = {
    "unary": _enc_unary,
    "binary": _enc_binary,
    "ternary": _enc_ternary,
    "shift": _enc_shift,
    "powi": _enc_powi,
    "select": _enc_select,
    "switch": _enc_switch,
    "unary_comparison": _enc_unary_cmp,
    "binary_comparison": _enc_binary_cmp,
    "global_load": _enc_global_load,
    "global_store": _enc_global_store,
    "global_load_indirect": _enc_global_load_indirect,
    "global_store_indirect": _enc_global_store_indirect,
    "constant": _enc_constant,
    "zero_constant": _enc_zero_constant,
    "list_get": _enc_list_get,
    "list_set": _enc_list_set,
    "buffer_load": _enc_buffer_load,
    "buffer_store": _enc_buffer_store,
    "buffer_fill": _enc_buffer_fill,
}


def _encoding(spec: str):
    """Resolves "class:type" (parametric) or a fixed encoding name."""
    if ":" in spec:
        cls, _, types = spec.partition(":")
        if cls == "conversion":
            src, dst = types.split(">")
            return _enc_conversion(src, dst)
        return _PARAMETRIC[cls](types)
    fields, template = _ENCODINGS_FIXED[spec]
    return spec, fields, template


# ---------------------------------------------------------------------------
# The opcode table: (opcode, symbol, mnemonic without "vm.", encoding spec).
# ---------------------------------------------------------------------------

_CORE = [
    (0x00, "GlobalLoadI32", "global.load.i32", "global_load:i32"),
    (0x01, "GlobalStoreI32", "global.store.i32", "global_store:i32"),
    (0x02, "GlobalLoadIndirectI32", "global.load.indirect.i32", "global_load_indirect:i32"),
    (0x03, "GlobalStoreIndirectI32", "global.store.indirect.i32", "global_store_indirect:i32"),
    (0x04, "GlobalLoadI64", "global.load.i64", "global_load:i64"),
    (0x05, "GlobalStoreI64", "global.store.i64", "global_store:i64"),
    (0x06, "GlobalLoadIndirectI64", "global.load.indirect.i64", "global_load_indirect:i64"),
    (0x07, "GlobalStoreIndirectI64", "global.store.indirect.i64", "global_store_indirect:i64"),
    (0x08, "GlobalLoadRef", "global.load.ref", "global_load_ref"),
    (0x09, "GlobalStoreRef", "global.store.ref", "global_store_ref"),
    (0x0A, "GlobalLoadIndirectRef", "global.load.indirect.ref", "global_load_indirect_ref"),
    (0x0B, "GlobalStoreIndirectRef", "global.store.indirect.ref", "global_store_indirect_ref"),
    (0x0C, "ConstI32Zero", "const.i32.zero", "zero_constant:i32"),
    (0x0D, "ConstI32", "const.i32", "constant:i32"),
    (0x0E, "ConstI64Zero", "const.i64.zero", "zero_constant:i64"),
    (0x0F, "ConstI64", "const.i64", "constant:i64"),
    (0x10, "ConstRefZero", "const.ref.zero", "const_ref_zero"),
    (0x11, "ConstRefRodata", "const.ref.rodata", "const_ref_rodata"),
    (0x12, "ListAlloc", "list.alloc", "list_alloc"),
    (0x13, "ListReserve", "list.reserve", "list_reserve"),
    (0x14, "ListSize", "list.size", "list_size"),
    (0x15, "ListResize", "list.resize", "list_resize"),
    (0x16, "ListGetI32", "list.get.i32", "list_get:i32"),
    (0x17, "ListSetI32", "list.set.i32", "list_set:i32"),
    (0x18, "ListGetI64", "list.get.i64", "list_get:i64"),
    (0x19, "ListSetI64", "list.set.i64", "list_set:i64"),
    (0x1A, "ListGetRef", "list.get.ref", "list_get_ref"),
    (0x1B, "ListSetRef", "list.set.ref", "list_set_ref"),
    (0x1C, "SelectI32", "select.i32", "select:i32"),
    (0x1D, "SelectI64", "select.i64", "select:i64"),
    (0x1E, "SelectRef", "select.ref", "select_ref"),
    (0x1F, "SwitchI32", "switch.i32", "switch:i32"),
    (0x20, "SwitchI64", "switch.i64", "switch:i64"),
    (0x21, "SwitchRef", "switch.ref", "switch_ref"),
    (0x22, "AddI32", "add.i32", "binary:i32"),
    (0x23, "SubI32", "sub.i32", "binary:i32"),
    (0x24, "MulI32", "mul.i32", "binary:i32"),
    (0x25, "DivI32S", "div.i32.s", "binary:i32"),
    (0x26, "DivI32U", "div.i32.u", "binary:i32"),
    (0x27, "RemI32S", "rem.i32.s", "binary:i32"),
    (0x28, "RemI32U", "rem.i32.u", "binary:i32"),
    (0x29, "FMAI32", "fma.i32", "ternary:i32"),
    (0x2A, "AddI64", "add.i64", "binary:i64"),
    (0x2B, "SubI64", "sub.i64", "binary:i64"),
    (0x2C, "MulI64", "mul.i64", "binary:i64"),
    (0x2D, "DivI64S", "div.i64.s", "binary:i64"),
    (0x2E, "DivI64U", "div.i64.u", "binary:i64"),
    (0x2F, "RemI64S", "rem.i64.s", "binary:i64"),
    (0x30, "RemI64U", "rem.i64.u", "binary:i64"),
    (0x31, "FMAI64", "fma.i64", "ternary:i64"),
    (0x32, "NotI32", "not.i32", "unary:i32"),
    (0x33, "AndI32", "and.i32", "binary:i32"),
    (0x34, "OrI32", "or.i32", "binary:i32"),
    (0x35, "XorI32", "xor.i32", "binary:i32"),
    (0x36, "NotI64", "not.i64", "unary:i64"),
    (0x37, "AndI64", "and.i64", "binary:i64"),
    (0x38, "OrI64", "or.i64", "binary:i64"),
    (0x39, "XorI64", "xor.i64", "binary:i64"),
    (0x3A, "ShlI32", "shl.i32", "shift:i32"),
    (0x3B, "ShrI32S", "shr.i32.s", "shift:i32"),
    (0x3C, "ShrI32U", "shr.i32.u", "shift:i32"),
    (0x3D, "ShlI64", "shl.i64", "shift:i64"),
    (0x3E, "ShrI64S", "shr.i64.s", "shift:i64"),
    (0x3F, "ShrI64U", "shr.i64.u", "shift:i64"),
    (0x40, "TruncI32I8", "trunc.i32.i8", "unary:i32"),
    (0x41, "TruncI32I16", "trunc.i32.i16", "unary:i32"),
    (0x42, "TruncI64I32", "trunc.i64.i32", "conversion:i64>i32"),
    (0x43, "ExtI8I32S", "ext.i8.i32.s", "unary:i32"),
    (0x44, "ExtI8I32U", "ext.i8.i32.u", "unary:i32"),
    (0x45, "ExtI16I32S", "ext.i16.i32.s", "unary:i32"),
    (0x46, "ExtI16I32U", "ext.i16.i32.u", "unary:i32"),
    (0x47, "ExtI32I64S", "ext.i32.i64.s", "conversion:i32>i64"),
    (0x48, "ExtI32I64U", "ext.i32.i64.u", "conversion:i32>i64"),
    (0x49, "CmpEQI32", "cmp.eq.i32", "binary_comparison:i32"),
    (0x4A, "CmpNEI32", "cmp.ne.i32", "binary_comparison:i32"),
    (0x4B, "CmpLTI32S", "cmp.lt.i32.s", "binary_comparison:i32"),
    (0x4C, "CmpLTI32U", "cmp.lt.i32.u", "binary_comparison:i32"),
    (0x4D, "CmpNZI32", "cmp.nz.i32", "unary_comparison:i32"),
    (0x4E, "CmpEQI64", "cmp.eq.i64", "binary_comparison:i64"),
    (0x4F, "CmpNEI64", "cmp.ne.i64", "binary_comparison:i64"),
    (0x50, "CmpLTI64S", "cmp.lt.i64.s", "binary_comparison:i64"),
    (0x51, "CmpLTI64U", "cmp.lt.i64.u", "binary_comparison:i64"),
    (0x52, "CmpNZI64", "cmp.nz.i64", "unary_comparison:i64"),
    (0x53, "CmpEQRef", "cmp.eq.ref", "ref_binary_comparison"),
    (0x54, "CmpNERef", "cmp.ne.ref", "ref_binary_comparison"),
    (0x55, "CmpNZRef", "cmp.nz.ref", "ref_unary_comparison"),
    (0x56, "Branch", "br", "branch"),
    (0x57, "CondBranch", "cond_br", "conditional_branch"),
    (0x58, "Call", "call", "call"),
    (0x59, "CallVariadic", "call.variadic", "call_variadic"),
    (0x5A, "Return", "return", "return"),
    (0x5B, "Fail", "fail", "fail"),
    (0x5C, "ImportResolved", "import.resolved", "import_resolved"),
    (0x5D, "Yield", "yield", "branch"),
    (0x5E, "Trace", "trace", "trace"),
    (0x5F, "Print", "print", "trace"),
    (0x60, "CondBreak", "cond_break", "conditional_break"),
    (0x61, "Break", "break", "branch"),
    (0x62, "BufferLoadI8U", "buffer.load.i8.u", "buffer_load:i32"),
    (0x63, "BufferLoadI8S", "buffer.load.i8.s", "buffer_load:i32"),
    (0x64, "BufferLoadI16U", "buffer.load.i16.u", "buffer_load:i32"),
    (0x65, "BufferLoadI16S", "buffer.load.i16.s", "buffer_load:i32"),
    (0x66, "BufferLoadI32", "buffer.load.i32", "buffer_load:i32"),
    (0x67, "BufferLoadI64", "buffer.load.i64", "buffer_load:i64"),
    (0x68, "BufferStoreI8", "buffer.store.i8", "buffer_store:i32"),
    (0x69, "BufferStoreI16", "buffer.store.i16", "buffer_store:i32"),
    (0x6A, "BufferStoreI32", "buffer.store.i32", "buffer_store:i32"),
    (0x6B, "BufferStoreI64", "buffer.store.i64", "buffer_store:i64"),
    (0x6C, "BufferAlloc", "buffer.alloc", "buffer_alloc"),
    (0x6D, "BufferClone", "buffer.clone", "buffer_clone"),
    (0x6E, "BufferLength", "buffer.length", "buffer_length"),
    (0x6F, "BufferCopy", "buffer.copy", "buffer_copy"),
    (0x70, "BufferCompare", "buffer.compare", "buffer_compare"),
    (0x71, "BufferFillI8", "buffer.fill.i8", "buffer_fill:i32"),
    (0x72, "BufferFillI16", "buffer.fill.i16", "buffer_fill:i32"),
    (0x73, "BufferFillI32", "buffer.fill.i32", "buffer_fill:i32"),
    (0x74, "BufferFillI64", "buffer.fill.i64", "buffer_fill:i64"),
    (0x75, "CtlzI32", "ctlz.i32", "unary:i32"),
    (0x76, "CtlzI64", "ctlz.i64", "unary:i64"),
    (0x77, "AbsI32", "abs.i32", "unary:i32"),
    (0x78, "AbsI64", "abs.i64", "unary:i64"),
    (0x79, "Block", "block", "block"),
    (0x7A, "MinI32S", "min.i32.s", "binary:i32"),
    (0x7B, "MinI32U", "min.i32.u", "binary:i32"),
    (0x7C, "MaxI32S", "max.i32.s", "binary:i32"),
    (0x7D, "MaxI32U", "max.i32.u", "binary:i32"),
    (0x7E, "MinI64S", "min.i64.s", "binary:i64"),
    (0x7F, "MinI64U", "min.i64.u", "binary:i64"),
    (0x80, "MaxI64S", "max.i64.s", "binary:i64"),
    (0x81, "MaxI64U", "max.i64.u", "binary:i64"),
    (0x82, "CastAnyRef", "cast.any.ref", "cast_any_ref"),
    (0x83, "BranchTable", "br_table", "branch_table"),
    (0x84, "BufferHash", "buffer.hash", "buffer_hash"),
    (0x85, "DiscardRefs", "discard.refs", "discard_refs"),
    (0x86, "AssignRef", "assign.ref", "assign_ref"),
    (0x87, "CallYieldable", "call.yieldable", "yieldable_call"),
    (0x88, "CallVariadicYieldable", "call.variadic.yieldable", "call_variadic_yieldable"),
]


def _float_ops(t):
    """The ext_f32 / ext_f64 sets share their layout up to the conversions."""
    T = t.upper()
    ops = [
        (0x00, f"GlobalLoad{T}", f"global.load.{t}", f"global_load:{t}"),
        (0x01, f"GlobalStore{T}", f"global.store.{t}", f"global_store:{t}"),
        (0x02, f"GlobalLoadIndirect{T}", f"global.load.indirect.{t}", f"global_load_indirect:{t}"),
        (0x03, f"GlobalStoreIndirect{T}", f"global.store.indirect.{t}", f"global_store_indirect:{t}"),
        (0x04, f"Const{T}Zero", f"const.{t}.zero", f"zero_constant:{t}"),
        (0x05, f"Const{T}", f"const.{t}", f"constant:{t}"),
        (0x06, f"ListGet{T}", f"list.get.{t}", f"list_get:{t}"),
        (0x07, f"ListSet{T}", f"list.set.{t}", f"list_set:{t}"),
        (0x08, f"Select{T}", f"select.{t}", f"select:{t}"),
        (0x09, f"Switch{T}", f"switch.{t}", f"switch:{t}"),
        (0x0A, f"Add{T}", f"add.{t}", f"binary:{t}"),
        (0x0B, f"Sub{T}", f"sub.{t}", f"binary:{t}"),
        (0x0C, f"Mul{T}", f"mul.{t}", f"binary:{t}"),
        (0x0D, f"Div{T}", f"div.{t}", f"binary:{t}"),
        (0x0E, f"Rem{T}", f"rem.{t}", f"binary:{t}"),
        (0x0F, f"FMA{T}", f"fma.{t}", f"ternary:{t}"),
        (0x10, f"Abs{T}", f"abs.{t}", f"unary:{t}"),
        (0x11, f"Neg{T}", f"neg.{t}", f"unary:{t}"),
        (0x12, f"Ceil{T}", f"ceil.{t}", f"unary:{t}"),
        (0x13, f"Floor{T}", f"floor.{t}", f"unary:{t}"),
    ]  # fmt: skip
    return ops


_MATH = [
    ("Atan", "atan", "unary"), ("Atan2", "atan2", "binary"), ("Cos", "cos", "unary"),
    ("Sin", "sin", "unary"), ("Exp", "exp", "unary"), ("Exp2", "exp2", "unary"),
    ("ExpM1", "expm1", "unary"), ("Log", "log", "unary"), ("Log10", "log10", "unary"),
    ("Log1p", "log1p", "unary"), ("Log2", "log2", "unary"), ("Pow", "pow", "binary"),
    ("Rsqrt", "rsqrt", "unary"), ("Sqrt", "sqrt", "unary"), ("Tanh", "tanh", "unary"),
    ("Erf", "erf", "unary"),
]  # fmt: skip
_CMP = [("EQ", "eq"), ("NE", "ne"), ("LT", "lt"), ("LTE", "lte")]


def _math_ops(t, first):
    T = t.upper()
    return [
        (first + i, f"{sym}{T}", f"{mn}.{t}", f"{cls}:{t}") for i, (sym, mn, cls) in enumerate(_MATH)
    ]


def _cmp_ops(t, first):
    T = t.upper()
    ops = []
    for i, (sym, mn) in enumerate(_CMP):
        ops.append((first + 2 * i, f"Cmp{sym}{T}O", f"cmp.{mn}.{t}.o", f"binary_comparison:{t}"))
        ops.append((first + 2 * i + 1, f"Cmp{sym}{T}U", f"cmp.{mn}.{t}.u", f"binary_comparison:{t}"))
    ops.append((first + 8, f"CmpNaN{T}", f"cmp.nan.{t}", f"unary_comparison:{t}"))
    return ops


def _buffer_ops(t, first):
    T = t.upper()
    return [
        (first, f"BufferLoad{T}", f"buffer.load.{t}", f"buffer_load:{t}"),
        (first + 1, f"BufferStore{T}", f"buffer.store.{t}", f"buffer_store:{t}"),
        (first + 2, f"BufferFill{T}", f"buffer.fill.{t}", f"buffer_fill:{t}"),
    ]


_EXT_F32 = (
    _float_ops("f32")
    + [
        (0x14, "CastSI32F32", "cast.si32.f32", "conversion:i32>f32"),
        (0x15, "CastUI32F32", "cast.ui32.f32", "conversion:i32>f32"),
        (0x16, "CastF32SI32", "cast.f32.si32", "conversion:f32>i32"),
        (0x17, "CastF32UI32", "cast.f32.ui32", "conversion:f32>i32"),
        (0x18, "BitcastI32F32", "bitcast.i32.f32", "conversion:i32>f32"),
        (0x19, "BitcastF32I32", "bitcast.f32.i32", "conversion:f32>i32"),
    ]
    + _math_ops("f32", 0x1A)
    + _cmp_ops("f32", 0x2A)
    + _buffer_ops("f32", 0x33)
    + [
        (0x36, "RoundF32", "round.f32", "unary:f32"),
        (0x37, "MinF32", "min.f32", "binary:f32"),
        (0x38, "MaxF32", "max.f32", "binary:f32"),
        (0x39, "RoundF32Even", "round.f32.even", "unary:f32"),
        (0x3A, "CastF32SI64", "cast.f32.si64", "conversion:f32>i64"),
        (0x3B, "CastF32UI64", "cast.f32.ui64", "conversion:f32>i64"),
        (0x3C, "CastSI64F32", "cast.si64.f32", "conversion:i64>f32"),
        (0x3D, "CastUI64F32", "cast.ui64.f32", "conversion:i64>f32"),
        # Newer than the Aug 2026 isa.json snapshot; found by sweeping the 3.13 tools.
        (0x3E, "FPowI32", "fpowi.f32", "powi:f32"),
    ]
)

_EXT_F64 = (
    _float_ops("f64")
    + [
        (0x14, "TruncF64F32", "trunc.f64.f32", "conversion:f64>f32"),
        (0x15, "ExtF32F64", "ext.f32.f64", "conversion:f32>f64"),
        (0x16, "CastSI32F64", "cast.si32.f64", "conversion:i32>f64"),
        (0x17, "CastUI32F64", "cast.ui32.f64", "conversion:i32>f64"),
        (0x18, "CastF64SI32", "cast.f64.si32", "conversion:f64>i32"),
        (0x19, "CastF64UI32", "cast.f64.ui32", "conversion:f64>i32"),
        (0x1A, "CastSI64F64", "cast.si64.f64", "conversion:i64>f64"),
        (0x1B, "CastUI64F64", "cast.ui64.f64", "conversion:i64>f64"),
        (0x1C, "CastF64SI64", "cast.f64.si64", "conversion:f64>i64"),
        (0x1D, "CastF64UI64", "cast.f64.ui64", "conversion:f64>i64"),
        (0x1E, "BitcastI64F64", "bitcast.i64.f64", "conversion:i64>f64"),
        (0x1F, "BitcastF64I64", "bitcast.f64.i64", "conversion:f64>i64"),
    ]
    + _math_ops("f64", 0x20)
    + _cmp_ops("f64", 0x30)
    + _buffer_ops("f64", 0x39)
    + [
        (0x3C, "RoundF64", "round.f64", "unary:f64"),
        (0x3D, "MinF64", "min.f64", "binary:f64"),
        (0x3E, "MaxF64", "max.f64", "binary:f64"),
        (0x3F, "RoundF64Even", "round.f64.even", "unary:f64"),
        (0x40, "FPowI64", "fpowi.f64", "powi:f64"),
    ]
)

_FLOW = {
    "Branch": (FLOW_BRANCH, True),
    "CondBranch": (FLOW_COND_BRANCH, True),
    "BranchTable": (FLOW_BRANCH_TABLE, True),
    "Call": (FLOW_CALL, False),
    "CallVariadic": (FLOW_CALL, False),
    "CallYieldable": (FLOW_CALL_YIELDABLE, True),
    "CallVariadicYieldable": (FLOW_CALL_YIELDABLE, True),
    "Return": (FLOW_RETURN, True),
    "Fail": (FLOW_FAIL, True),
    "Yield": (FLOW_YIELD, True),
    "Break": (FLOW_BREAK, True),
    "CondBreak": (FLOW_BREAK, True),
    "Block": (FLOW_BLOCK, False),
}


def _build(opcode_set, rows):
    ops = []
    for opcode, symbol, mnemonic, spec in rows:
        encoding, fields, template = _encoding(spec)
        flow, terminator = _FLOW.get(symbol, (None, False))
        ops.append(
            OpInfo(
                opcode_set=opcode_set,
                opcode=opcode,
                symbol=symbol,
                name="vm." + mnemonic,
                encoding=encoding,
                fields=fields,
                template=template,
                flow=flow,
                terminator=terminator,
            )
        )
    return ops


CORE_OPS: tuple[OpInfo, ...] = tuple(_build("core", _CORE))
EXT_F32_OPS: tuple[OpInfo, ...] = tuple(_build("ext_f32", _EXT_F32))
EXT_F64_OPS: tuple[OpInfo, ...] = tuple(_build("ext_f64", _EXT_F64))
ALL_OPS: tuple[OpInfo, ...] = CORE_OPS + EXT_F32_OPS + EXT_F64_OPS

# 256-entry lookup tables per set: opcode byte -> OpInfo (None where unassigned).
OPCODE_TABLES: dict[str, tuple[OpInfo | None, ...]] = {}
for _set_name, _ops in (("core", CORE_OPS), ("ext_f32", EXT_F32_OPS), ("ext_f64", EXT_F64_OPS)):
    _table: list[OpInfo | None] = [None] * 256
    for _op in _ops:
        assert _table[_op.opcode] is None, _op
        _table[_op.opcode] = _op
    OPCODE_TABLES[_set_name] = tuple(_table)
del _set_name, _ops, _table, _op

OPS_BY_NAME: dict[str, OpInfo] = {op.name: op for op in ALL_OPS}
OPS_BY_SYMBOL: dict[tuple[str, str], OpInfo] = {(op.opcode_set, op.symbol): op for op in ALL_OPS}
BLOCK_OP: OpInfo = OPCODE_TABLES["core"][BLOCK_OPCODE]  # type: ignore[assignment]


SUPPORTED_BYTECODE_MAJORS = tuple(SUPPORTED_BYTECODE_VERSIONS)
# The first bytecode major version whose runtimes know an op, for ops newer than 15.0
# (found by sweeping every opcode byte through each release's verifier; see
# tools/build_old_release_corpus.py). Ops are also added without a bump:
# vm.cast.si64.f32 / cast.ui64.f32 arrived within 15.x (3.9 has them, 3.0 does not)
# and vm.fpowi.* within 17.x (3.12); a module's version cannot tell those apart, so
# each major accepts what its last release knows.
OP_FIRST_MAJOR: dict[str, int] = {
    "vm.discard.refs": 16,
    "vm.assign.ref": 16,
    "vm.call.yieldable": 17,
    "vm.call.variadic.yieldable": 17,
    "vm.fpowi.f32": 17,
    "vm.fpowi.f64": 17,
}


def ops_of_bytecode_major(major: int) -> tuple[OpInfo, ...]:
    """The ops a runtime of bytecode major version ``major`` decodes."""
    if major not in SUPPORTED_BYTECODE_MAJORS:
        raise ValueError(f"unsupported bytecode version {major}")
    return tuple(op for op in ALL_OPS if OP_FIRST_MAJOR.get(op.name, 15) <= major)


def lookup(name_or_symbol: str, opcode_set: str | None = None) -> OpInfo:
    """Finds an op by mnemonic ("vm.add.i32" or "add.i32") or symbol ("AddI32")."""
    if name_or_symbol in OPS_BY_NAME:
        return OPS_BY_NAME[name_or_symbol]
    if "vm." + name_or_symbol in OPS_BY_NAME:
        return OPS_BY_NAME["vm." + name_or_symbol]
    for set_name in (opcode_set,) if opcode_set else tuple(OPCODE_SETS):
        op = OPS_BY_SYMBOL.get((set_name, name_or_symbol))
        if op is not None:
            return op
    raise KeyError(f"no VM op named {name_or_symbol!r}")
