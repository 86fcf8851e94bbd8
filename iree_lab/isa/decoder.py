"""Bytecode decoder: function bytes -> :class:`Instruction` s, blocks and a CFG.

A function is decoded once, verified the way IREE's bytecode verifier does
(opcodes known, operands in bounds, registers of the right bank and within the
function's register counts, ordinals within the module's tables, every block
entered by a marker, branch targets on block markers, calls matching their
callee's calling convention) and cached on the module.

Values are kept raw and compact for the VM: each :class:`Instruction` holds its
:class:`~iree_lab.isa.tables.OpInfo` and a tuple with one value per encoded
field (``op.fields``). Per field kind (``tables.*``) the value is:

* registers (i32, i64, f32, f64, ref, ref_move): the raw u16 ordinal, ref
  type/move bits kept (see :class:`Register` / :func:`register_name`);
* type, global_offset, global_ref, rodata: the u32 id, byte offset or ordinal;
* func, import: the u32 function ordinal, ``FUNCTION_ORDINAL_IMPORT_BIT`` set
  for imports;
* const_i32/const_i64: signed int; const_f32/const_f64: float;
* string: str (UTF-8; undecodable bytes kept via surrogateescape);
* reg_list, segment_sizes: tuple of u16;
* branch_target: pc of the target block's marker;
* branch_remap: tuple of (source, destination) raw register pairs;
* branch_table: tuple of (target pc, remap) per case.

Typed views (:attr:`Instruction.operands`, :class:`Register`) are built only
on request.

Malformed bytecode raises :class:`BytecodeError` (a ``FormatError``) naming the
function, pc and opcode byte; the instructions decoded before the fault are
kept in ``error.partial``.
"""

from __future__ import annotations

import bisect
import math
import weakref
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from iree_lab.errors import FormatError
from iree_lab.format.module import cconv_fragments
from iree_lab.isa import _opdecode
from iree_lab.isa import tables as T
from iree_lab.isa.cfg import Block, ControlFlowGraph, build_blocks

__all__ = [
    "BytecodeError",
    "DecodedFunction",
    "Instruction",
    "ModuleContext",
    "Operand",
    "Register",
    "decode_bytecode",
    "decode_function",
    "register_name",
]



class BytecodeError(FormatError):
    """Malformed function bytecode.

    ``function_name``/``function_ordinal`` name the function, ``pc`` is the
    function-relative offset of the faulting instruction, ``opcode`` its first
    byte (None past the end), ``partial`` the :class:`DecodedFunction` with the
    instructions decoded before the fault (when decoding got that far).
    """

    def __init__(
        self,
        what: str,
        *,
        function_name: str | None = None,
        function_ordinal: int | None = None,
        pc: int | None = None,
        opcode: int | None = None,
        offset: int | None = None,
    ):
        self.function_name = function_name
        self.function_ordinal = function_ordinal
        self.pc = pc
        self.opcode = opcode
        self.partial: DecodedFunction | None = None
        parts = []
        if function_name is not None or function_ordinal is not None:
            label = f"@{function_name}" if function_name else "function"
            if function_ordinal is not None:
                label += f" (ordinal {function_ordinal})"
            parts.append(label)
        if pc is not None:
            parts.append(f"pc 0x{pc:08X}")
        if opcode is not None:
            parts.append(f"opcode 0x{opcode:02X}")
        super().__init__(what, offset=offset, where=", ".join(parts) or None)


# ---------------------------------------------------------------------------
# Registers
# ---------------------------------------------------------------------------


def register_name(kind: int, raw: int, *, show_move: bool = True) -> str:
    """IREE's register spelling: %i3, %i4:5 (i64/f64 pair), %r1, %R1 (moved ref)."""
    if kind == T.I32 or kind == T.F32:
        return f"%i{raw & T.I32_REGISTER_MASK}"
    if kind == T.I64 or kind == T.F64:
        r = raw & T.I32_REGISTER_MASK
        return f"%i{r}:{r + 1}"
    if kind == T.ANY and not raw & T.REF_REGISTER_TYPE_BIT:
        return f"%i{raw & T.I32_REGISTER_MASK}"
    if show_move and raw & T.REF_REGISTER_MOVE_BIT and kind != T.REF:
        return f"%R{raw & T.REF_REGISTER_MASK}"
    return f"%r{raw & T.REF_REGISTER_MASK}"


class Register(NamedTuple):
    """A decoded register reference.

    ``bank`` is "i32", "i64", "f32", "f64" or "ref"; ``ordinal`` the slot (the
    first of the pair for i64/f64, the ref table index for refs); ``move``
    whether a ref operand transfers ownership; ``raw`` the encoded u16.
    """

    bank: str
    ordinal: int
    move: bool
    raw: int

    @classmethod
    def decode(cls, kind: int, raw: int) -> Register:
        if kind == T.ANY:
            kind = T.REF_MOVE if raw & T.REF_REGISTER_TYPE_BIT else T.I32
        if kind in (T.REF, T.REF_MOVE):
            return cls(
                "ref", raw & T.REF_REGISTER_MASK, bool(raw & T.REF_REGISTER_MOVE_BIT), raw
            )
        bank = T.KIND_NAMES[kind]
        return cls(bank, raw & T.I32_REGISTER_MASK, False, raw)

    @property
    def is_ref(self) -> bool:
        return self.bank == "ref"

    @property
    def slots(self) -> tuple[int, ...]:
        """The i32 slots (or the ref slot) this register occupies."""
        if self.bank in ("i64", "f64"):
            return (self.ordinal, self.ordinal + 1)
        return (self.ordinal,)

    def __str__(self) -> str:
        if self.bank == "ref":
            return f"%{'R' if self.move else 'r'}{self.ordinal}"
        if self.bank in ("i64", "f64"):
            return f"%i{self.ordinal}:{self.ordinal + 1}"
        return f"%i{self.ordinal}"


class Operand(NamedTuple):
    """One field of an instruction with its decoded value (see :func:`field_values`)."""

    field: T.Field
    value: Any

    @property
    def name(self) -> str:
        return self.field.name

    @property
    def registers(self) -> tuple[Register, ...]:
        """The registers this operand names (empty for immediates)."""
        kind, value = self.field.kind, self.value
        if kind in T.REGISTER_KINDS:
            return (Register.decode(kind, value),)
        if kind == T.REG_LIST:
            return tuple(Register.decode(self.field.element, r) for r in value)
        if kind == T.BRANCH_REMAP:
            return tuple(Register.decode(T.ANY, src) for src, _ in value)
        if kind == T.BRANCH_TABLE:
            return tuple(Register.decode(T.ANY, src) for _, remap in value for src, _ in remap)
        return ()


# ---------------------------------------------------------------------------
# Instructions
# ---------------------------------------------------------------------------


class Instruction(NamedTuple):
    """One decoded instruction (immutable; a tuple so decoding allocates little).

    ``pc`` is its offset from the start of the function (the value IREE prints
    with --bytecode_offsets), ``end`` the offset just past it, ``op`` its
    :class:`OpInfo`, ``values`` one decoded value per ``op.fields`` entry and
    ``block`` the ordinal of the block containing it.
    """

    pc: int
    end: int
    op: T.OpInfo
    values: tuple
    block: int

    @property
    def name(self) -> str:
        return self.op.name

    @property
    def length(self) -> int:
        return self.end - self.pc

    @property
    def opcode_set(self) -> str:
        return self.op.opcode_set

    @property
    def is_block_marker(self) -> bool:
        return self.op.flow == T.FLOW_BLOCK

    def get(self, field_name: str) -> Any:
        """The decoded value of the field named ``field_name``."""
        for field, value in zip(self.op.fields, self.values, strict=True):
            if field.name == field_name:
                return value
        raise KeyError(f"{self.op.name} has no field {field_name!r}")

    @property
    def fields(self) -> tuple[Operand, ...]:
        return tuple(Operand(f, v) for f, v in zip(self.op.fields, self.values, strict=True))

    @property
    def operands(self) -> tuple[Operand, ...]:
        """Fields the instruction reads (registers, register lists, branch operands)."""
        return tuple(o for o in self.fields if o.field.access == T.READ)

    @property
    def results(self) -> tuple[Operand, ...]:
        """Fields the instruction writes."""
        return tuple(o for o in self.fields if o.field.access == T.WRITE)

    @property
    def attributes(self) -> tuple[Operand, ...]:
        """Immediate fields: constants, ordinals, type ids, strings, branch targets."""
        return tuple(o for o in self.fields if o.field.access is None)

    @property
    def branches(self) -> tuple[tuple[str, int, tuple[tuple[int, int], ...]], ...]:
        """(label, target pc, remap pairs) for every block this instruction may enter.

        Labels: "dest" (br, yield, break, cond_break), "true"/"false" (cond_br),
        "default"/"case N" (br_table), "resume" (yieldable calls; no remaps).
        """
        flow = self.op.flow
        v = self.values
        if flow in (T.FLOW_BRANCH, T.FLOW_YIELD):
            return (("dest", v[0], v[1]),)
        if flow == T.FLOW_BREAK:
            return (("dest", v[-2], v[-1]),)
        if flow == T.FLOW_COND_BRANCH:
            return (("true", v[1], v[2]), ("false", v[3], v[4]))
        if flow == T.FLOW_BRANCH_TABLE:
            out = [("default", v[1], v[2])]
            out.extend((f"case {i}", pc, remap) for i, (pc, remap) in enumerate(v[3]))
            return tuple(out)
        if flow == T.FLOW_CALL_YIELDABLE:
            return (("resume", v[-2], ()),)
        return ()

    @property
    def callee(self) -> int | None:
        """Encoded callee ordinal of a call (import bit set for imports), else None."""
        if self.op.flow in (T.FLOW_CALL, T.FLOW_CALL_YIELDABLE):
            return self.values[0]
        return None

    def __repr__(self) -> str:
        return f"<Instruction {self.pc:08X} {self.op.name} {self.values!r}>"

    # Identity, not value equality: two identical ops at different pcs differ
    # and an instruction is a node (dict keys, sets) in CFGs and debuggers.
    __eq__ = object.__eq__
    __ne__ = object.__ne__
    __hash__ = object.__hash__


# ---------------------------------------------------------------------------
# Module context (what verification needs to know about the module)
# ---------------------------------------------------------------------------


class ModuleContext(NamedTuple):
    """Module-level facts used to verify a function. None disables a check."""

    name: str = "module"
    type_count: int | None = None
    import_count: int | None = None
    function_count: int | None = None
    rodata_count: int | None = None
    rwdata_size: int | None = None
    global_ref_count: int | None = None
    # Calling conventions ("0ii_i") of imports and internal functions.
    import_cconvs: Sequence[str | None] | None = None
    function_cconvs: Sequence[str | None] | None = None
    # The module's bytecode major version (None: the newest): selects the opcodes a
    # runtime of that version knows and, before 16, its lenient move-bit rule.
    bytecode_major: int | None = None


def _round_up_pow2(n: int) -> int:
    n = max(1, n)
    return 1 << (n - 1).bit_length()


# ---------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------


class DecodedFunction:
    """A decoded (and verified) internal function.

    ``instructions`` lists every instruction in order, block markers included;
    ``blocks`` the :class:`~iree_lab.isa.cfg.Block` s (CFG nodes with their
    successor edges). When decoding stopped at malformed bytecode, ``error`` is
    the :class:`BytecodeError` and the lists hold what decoded before it.
    """

    def __init__(
        self,
        *,
        ordinal: int | None,
        name: str | None,
        length: int,
        i32_register_count: int,
        ref_register_count: int,
        block_count: int,
        bytecode_offset: int = 0,
    ):
        self.ordinal = ordinal
        self.name = name
        self.length = length
        self.bytecode_offset = bytecode_offset
        self.i32_register_count = i32_register_count
        self.ref_register_count = ref_register_count
        self.block_count = block_count
        # Whether single register operands and type ids were verified (see decode_bytecode).
        self.strict = True
        self.instructions: list[Instruction] = []
        self._blocks: list[Block] | None = None
        self._block_ordinals: dict[int, int] | None = None
        self.error: BytecodeError | None = None
        self._by_pc: dict[int, Instruction] | None = None
        self._starts: list[int] | None = None
        self._cfg: ControlFlowGraph | None = None
        self._module_ref: Any = None

    @property
    def module(self):
        """The Module this function was decoded from (None for raw bytecode)."""
        return self._module_ref() if self._module_ref is not None else None

    @property
    def blocks(self) -> list[Block]:
        """The CFG blocks (built on first use: bulk disassembly does not need them)."""
        if self._blocks is None:
            self._blocks = build_blocks(self, strict=self.error is None)
        return self._blocks

    @property
    def block_ordinals(self) -> dict[int, int]:
        """Block marker pc -> block ordinal (what ``^bbN`` branch targets print)."""
        if self._block_ordinals is None:
            block = T.FLOW_BLOCK
            self._block_ordinals = {i.pc: i.block for i in self.instructions if i.op.flow == block}
        return self._block_ordinals

    @property
    def complete(self) -> bool:
        return self.error is None

    def __iter__(self) -> Iterator[Instruction]:
        return iter(self.instructions)

    def __len__(self) -> int:
        return len(self.instructions)

    def _index(self) -> dict[int, Instruction]:
        if self._by_pc is None:
            self._by_pc = {inst.pc: inst for inst in self.instructions}
            self._starts = [inst.pc for inst in self.instructions]
        return self._by_pc

    def instruction_at(self, pc: int) -> Instruction:
        """The instruction starting at ``pc``; KeyError if none starts there."""
        inst = self._index().get(pc)
        if inst is None:
            raise KeyError(f"no instruction starts at pc 0x{pc:08X} in {self._label()}")
        return inst

    def instruction_containing(self, pc: int) -> Instruction:
        """The instruction whose bytes include ``pc``."""
        self._index()
        i = bisect.bisect_right(self._starts, pc) - 1  # type: ignore[arg-type]
        if i >= 0 and pc < self.instructions[i].end:
            return self.instructions[i]
        raise KeyError(f"pc 0x{pc:08X} is outside the instructions of {self._label()}")

    def block_at(self, pc: int) -> Block:
        """The block containing ``pc``."""
        return self.blocks[self.instruction_containing(pc).block]

    def block_by_pc(self, pc: int) -> Block:
        """The block whose marker is at ``pc`` (a branch target)."""
        for block in self.blocks:
            if block.pc == pc:
                return block
        raise KeyError(f"no block starts at pc 0x{pc:08X} in {self._label()}")

    @property
    def cfg(self) -> ControlFlowGraph:
        if self._cfg is None:
            self._cfg = ControlFlowGraph(self)
        return self._cfg

    def _label(self) -> str:
        return f"@{self.name}" if self.name else f"function {self.ordinal}"

    def __repr__(self) -> str:
        state = "" if self.complete else " (partial)"
        return (
            f"<DecodedFunction {self._label()} {len(self.instructions)} instructions, "
            f"{len(self.blocks)} blocks{state}>"
        )


_Fault = _opdecode.Fault  # internal: carries (message, pc, opcode) out of the decode loop


def decode_bytecode(
    code: bytes | bytearray | memoryview,
    *,
    i32_register_count: int,
    ref_register_count: int,
    block_count: int | None = None,
    ordinal: int | None = None,
    name: str | None = None,
    cconv: str | None = None,
    context: ModuleContext | None = None,
    bytecode_offset: int = 0,
    strict: bool = True,
) -> DecodedFunction:
    """Decodes and verifies one function's bytecode (exactly its bytes).

    Raises :class:`BytecodeError` with ``partial`` set when the bytes are
    malformed. ``context`` (and ``cconv``, the function's calling convention)
    enable the checks that need the module's tables.

    ``strict`` (the default, what the VM uses) also checks every single
    register operand against its bank and the function's register counts and
    every type id against the type table. IREE 3.13's verifier skips those two
    checks (its decoder's validation hooks are not wired up), so
    ``strict=False`` accepts exactly what IREE loads; the disassembler uses it
    to print what iree-dump-module prints.
    """
    code = bytes(code)
    ctx = context or ModuleContext()
    fn = DecodedFunction(
        ordinal=ordinal,
        name=name,
        length=len(code),
        i32_register_count=i32_register_count,
        ref_register_count=ref_register_count,
        block_count=block_count if block_count is not None else -1,
        bytecode_offset=bytecode_offset,
    )
    fn.strict = strict
    if not strict:
        ctx = ctx._replace(type_count=None)
    try:
        _decode_into(fn, code, ctx, cconv, strict)
    except _Fault as fault:
        what, pc, opcode = fault.args
        error = BytecodeError(
            what, function_name=name, function_ordinal=ordinal, pc=pc, opcode=opcode
        )
        fn.error = error
        error.partial = fn
        raise error from None
    return fn


# Ops the decode loop must look at after decoding (block ends, calls, returns).
_SPECIAL_OPS = frozenset(op for op in T.ALL_OPS if op.terminator or op.flow is not None)


def _decode_into(
    fn: DecodedFunction, code: bytes, ctx: ModuleContext, cconv: str | None, strict: bool
):
    n = len(code)
    il = _round_up_pow2(fn.i32_register_count)
    rl = _round_up_pow2(fn.ref_register_count)
    if il > T.I32_REGISTER_MASK or rl > T.REF_REGISTER_MASK:
        raise _Fault("register count overflow", None, None)
    if fn.block_count == 0:
        raise _Fault("no blocks declared; functions must have at least one block", None, None)
    if n == 0:
        raise _Fault("function has no bytecode", None, None)
    arg_cconv, result_cconv = _split_cconv(cconv)
    if cconv is not None:
        args_i32, args_ref = _count_cconv_registers(arg_cconv)
        if args_i32 > il or args_ref > rl:
            raise _Fault("insufficient register storage for function arguments", None, None)

    instructions = fn.instructions
    append = instructions.append
    if ctx.bytecode_major is not None and ctx.bytecode_major not in T.SUPPORTED_BYTECODE_MAJORS:
        raise _Fault(f"unsupported bytecode version {ctx.bytecode_major}.x (iree_lab reads "
                     + ", ".join(f"{v}.x" for v in T.SUPPORTED_BYTECODE_MAJORS) + ")",
                     None, None)
    core, prefixed = _opdecode.tables_for(ctx.bytecode_major)
    if strict and ctx.bytecode_major is not None and ctx.bytecode_major < 16:
        strict = _opdecode.LEGACY_MOVE_BITS
    block_count = fn.block_count
    block_ordinal = -1
    in_block = False
    targets: list[tuple[int, int, int]] = []  # (target pc, instruction pc, opcode byte)
    new = tuple.__new__
    tc = ctx.type_count
    ordinals = None
    if any(
        x is not None
        for x in (ctx.rodata_count, ctx.rwdata_size, ctx.global_ref_count, ctx.import_count,
                  ctx.function_count)
    ):  # fmt: skip

        def ordinals(kind, field, value):
            _check_ordinal(
                kind, field, value, None, ctx.rodata_count, ctx.rwdata_size,
                ctx.global_ref_count, ctx.import_count, ctx.function_count,
            )  # fmt: skip

    calls: list[Instruction] = []
    call_flows = (T.FLOW_CALL, T.FLOW_CALL_YIELDABLE)
    block_flow = T.FLOW_BLOCK
    return_flow = T.FLOW_RETURN
    block_op = T.BLOCK_OP
    special = _SPECIAL_OPS

    pc = 0
    start = 0
    opcode = None
    try:
        while pc < n:
            start = pc
            opcode = code[pc]
            entry = core[opcode]
            pc += 1
            if entry is None:
                table = prefixed.get(opcode)
                if table is None:
                    raise _Fault(f"unknown opcode 0x{opcode:02X}{_newer(ctx, 'core', opcode)}",
                                 start, opcode)
                if pc >= n:
                    raise _Fault("truncated extension opcode", start, opcode)
                entry = table[code[pc]]
                if entry is None:
                    set_name = T.PREFIX_OPCODES[opcode]
                    raise _Fault(
                        f"unknown {set_name} opcode 0x{code[pc]:02X}"
                        f"{_newer(ctx, set_name, code[pc])}",
                        start,
                        opcode,
                    )
                pc += 1
            op, decode = entry
            # Block structure: every op lives in a block; terminators end it.
            if op is block_op:
                if in_block:
                    raise _Fault("block marker inside a block (missing terminator)", start, opcode)
                if block_count >= 0 and block_ordinal + 1 >= block_count:
                    raise _Fault(
                        f"more blocks than the {block_count} the descriptor declares",
                        start,
                        opcode,
                    )
                if start >= T.PC_BLOCK_MAX:
                    raise _Fault("block pc out of range", start, opcode)
                block_ordinal += 1
                in_block = True
                append(new(Instruction, (start, pc, op, (), block_ordinal)))
                continue
            if not in_block:
                raise _Fault(f"{op.name} is not inside a block", start, opcode)
            values, pc = decode(code, pc, n, il, rl, strict, tc, ordinals, targets, start)
            inst = new(Instruction, (start, pc, op, values, block_ordinal))
            append(inst)
            if op in special:  # terminators, calls, returns
                if op.terminator:
                    in_block = False
                flow = op.flow
                if flow in call_flows:
                    calls.append(inst)
                elif flow == return_flow and cconv is not None:
                    _verify_registers(result_cconv, None, values[0], il, rl)
    except _Fault as fault:
        what, fpc, fop = fault.args
        if fpc is None:
            fpc, fop = start, opcode
        raise _Fault(what, fpc, fop) from None

    if in_block:
        raise _Fault("function missing terminator in the last block", n, None)
    # Every branch target must be a block marker of this function.
    markers = {inst.pc for inst in instructions if inst.op.flow == block_flow}
    for target, at, op_byte in targets:
        if target not in markers:
            raise _Fault(f"branch target 0x{target:08X} is not a block", at, op_byte)
    if block_count >= 0 and len(markers) != block_count:
        raise _Fault(
            f"descriptor declares {block_count} blocks, bytecode has {len(markers)}", None, None
        )
    _verify_calls(calls, ctx, il, rl)


def _newer(ctx: ModuleContext, set_name: str, opcode: int) -> str:
    """Why an opcode the newest tables know is unknown to an older bytecode version."""
    op = T.OPCODE_TABLES[set_name][opcode]
    if op is None or ctx.bytecode_major is None:
        return ""
    return (f" ({op.name} is not in bytecode {ctx.bytecode_major}.x; it arrived with "
            f"{T.OP_FIRST_MAJOR[op.name]}.x)")


def _check_ordinal(
    kind, field, value, type_count, rodata_count, rwdata_size, global_ref_count, import_count,
    function_count,
):  # fmt: skip
    if kind == T.TYPE:
        if type_count is not None and value >= type_count:
            raise _Fault(f"type id {value} out of range ({type_count} types)", None, None)
    elif kind == T.RODATA:
        if rodata_count is not None and value >= rodata_count:
            raise _Fault(
                f"rodata ordinal {value} out of range ({rodata_count} segments)", None, None
            )
    elif kind == T.GLOBAL_OFFSET:
        if rwdata_size is not None and value + field.width > rwdata_size:
            raise _Fault(
                f"global byte offset {value} out of range ({rwdata_size} rwdata bytes)", None, None
            )
    elif kind == T.GLOBAL_REF:
        if global_ref_count is not None and value >= global_ref_count:
            raise _Fault(
                f"global ref ordinal {value} out of range ({global_ref_count} ref globals)",
                None,
                None,
            )
    elif kind in (T.FUNC, T.IMPORT):
        if value & T.FUNCTION_ORDINAL_IMPORT_BIT:
            index = value & ~T.FUNCTION_ORDINAL_IMPORT_BIT
            if import_count is not None and index >= import_count:
                raise _Fault(f"import ordinal {index} out of range ({import_count} imports)", None, None)
        elif kind == T.IMPORT:
            raise _Fault(f"function ordinal {value} is not an import ordinal", None, None)
        elif function_count is not None and value >= function_count:
            raise _Fault(
                f"function ordinal {value} out of range ({function_count} functions)", None, None
            )


# ---------------------------------------------------------------------------
# Calling-convention checks
# ---------------------------------------------------------------------------


def _split_cconv(cconv: str | None) -> tuple[str, str]:
    """(arguments, results) fragments of a cconv string like "0iI_r", as a decode fault."""
    try:
        return cconv_fragments(cconv)
    except FormatError as e:
        raise _Fault(e.what, None, None) from None


_SPLIT_CACHE: dict[str, tuple[str, str]] = {}


def _split_cconv_cached(cconv: str) -> tuple[str, str]:
    hit = _SPLIT_CACHE.get(cconv)
    if hit is None:
        if len(_SPLIT_CACHE) > 4096:
            _SPLIT_CACHE.clear()
        hit = _SPLIT_CACHE[cconv] = _split_cconv(cconv)
    return hit


def _count_cconv_registers(fragment: str) -> tuple[int, int]:
    i32 = ref = 0
    for c in fragment:
        if c in "if":
            i32 += 1
        elif c in "IF":
            i32 += (i32 & 1) + 2
        elif c == "r":
            ref += 1
        elif c == "v":
            pass
        elif c == "C":
            raise _Fault("internal functions cannot take variadic arguments", None, None)
        else:
            raise _Fault(f"unsupported calling convention type {c!r}", None, None)
    return i32, ref


_CCONV_KIND = {"i": T.I32, "f": T.F32, "I": T.I64, "F": T.F64, "r": T.REF_MOVE}


# Span-free cconv fragments -> per-value codes (0: i32/f32, 1: i64/f64, 2: ref); the
# common case of _verify_registers, checked without re-parsing the string.
_FLAT_PLANS: dict[str, tuple[int, ...] | None] = {}
_PLAN_CODE = {"i": 0, "f": 0, "I": 1, "F": 1, "r": 2, "v": None}


def _flat_plan(fragment: str) -> tuple[int, ...] | None:
    plan = _FLAT_PLANS.get(fragment, ())
    if plan == ():
        if len(_FLAT_PLANS) > 4096:  # bounded: cconv strings come from untrusted modules
            _FLAT_PLANS.clear()
        if all(c in _PLAN_CODE for c in fragment):
            plan = tuple(_PLAN_CODE[c] for c in fragment if c != "v")
        else:
            plan = None  # spans or unknown types: the general path reports them
        _FLAT_PLANS[fragment] = plan
    return plan


def _verify_registers(fragment, segment_sizes, registers, i32_limit, ref_limit):
    """Checks ``registers`` against a cconv fragment, expanding spans by segment sizes."""
    plan = _flat_plan(fragment)
    if plan is not None and len(registers) >= len(plan):
        for code, raw in zip(plan, registers):  # noqa: B905 - extra registers are allowed
            if code == 0:
                bad = raw >= i32_limit
            elif code == 1:
                bad = raw & 1 or raw + 1 >= i32_limit
            else:
                bad = not raw & T.REF_REGISTER_TYPE_BIT or raw & T.REF_REGISTER_MASK >= ref_limit
            if bad:
                break
        else:
            return
    reg_i = 0

    def take(c):
        nonlocal reg_i
        if reg_i >= len(registers):
            raise _Fault(
                f"register list underflow (have {len(registers)}, need more for {fragment!r})",
                None,
                None,
            )
        raw = registers[reg_i]
        reg_i += 1
        kind = _CCONV_KIND[c]
        if kind == T.REF_MOVE:
            ok = raw & T.REF_REGISTER_TYPE_BIT and raw & T.REF_REGISTER_MASK < ref_limit
        elif kind in (T.I64, T.F64):
            ok = not raw & T.REF_REGISTER_TYPE_BIT and not raw & 1 and raw + 1 < i32_limit
        else:
            ok = not raw & T.REF_REGISTER_TYPE_BIT and raw < i32_limit
        if not ok:
            raise _Fault(
                f"register {register_name(T.ANY, raw)} does not match calling convention "
                f"type {c!r}",
                None,
                None,
            )

    i = seg_i = 0
    while i < len(fragment):
        c = fragment[i]
        if c in _CCONV_KIND:
            take(c)
        elif c == "C":
            end = fragment.find("D", i + 1)
            if end < 0:
                raise _Fault(f"unterminated span in calling convention {fragment!r}", None, None)
            if segment_sizes is None:
                raise _Fault("variadic callee called without segment sizes", None, None)
            if seg_i >= len(segment_sizes):
                raise _Fault("segment size list underflow", None, None)
            span = fragment[i + 1 : end]
            for _ in range(segment_sizes[seg_i]):
                for sc in span:
                    if sc in _CCONV_KIND:
                        take(sc)
                    elif sc != "v":
                        raise _Fault(f"unsupported calling convention type {sc!r}", None, None)
            i = end
        elif c != "v":
            raise _Fault(f"unsupported calling convention type {c!r}", None, None)
        i += 1
        seg_i += 1


def _verify_calls(calls, ctx: ModuleContext, i32_limit, ref_limit):
    for inst in calls:
        callee = inst.values[0]
        variadic = inst.op.fields[1].kind == T.SEGMENT_SIZES
        segments = inst.values[1] if variadic else None
        operands = inst.values[2] if variadic else inst.values[1]
        results = inst.values[-1]
        if callee & T.FUNCTION_ORDINAL_IMPORT_BIT:
            cconvs = ctx.import_cconvs
            index = callee & ~T.FUNCTION_ORDINAL_IMPORT_BIT
        else:
            if variadic:
                raise _Fault(
                    "variadic calls are only supported for imports", inst.pc, _first_byte(inst)
                )
            cconvs = ctx.function_cconvs
            index = callee
        if cconvs is None or index >= len(cconvs) or cconvs[index] is None:
            continue
        try:
            args, res = _split_cconv_cached(cconvs[index])
            _verify_registers(args, segments, operands, i32_limit, ref_limit)
            _verify_registers(res, None, results, i32_limit, ref_limit)
        except _Fault as fault:
            raise _Fault(fault.args[0], inst.pc, _first_byte(inst)) from None


def _first_byte(inst: Instruction) -> int:
    prefix = inst.op.prefix
    return inst.op.opcode if prefix is None else prefix


# ---------------------------------------------------------------------------
# Module-level entry point (cached)
# ---------------------------------------------------------------------------

_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _module_cache(module) -> dict:
    try:
        cache = _CACHE.get(module)
        if cache is None:
            cache = _CACHE[module] = {}
        return cache
    except TypeError:  # not weak-referenceable: no caching
        return {}


def module_context(module) -> ModuleContext:
    """The verification context of an ``iree_lab.open`` Module."""
    cache = _module_cache(module)
    ctx = cache.get("context")
    if ctx is None:
        from iree_lab.isa import _module as M

        ctx = cache["context"] = M.context(module)
    return ctx


def decode_function(module, function, *, strict: bool = True) -> DecodedFunction:
    """Decodes internal function ``function`` of ``module`` (cached per module).

    ``function`` is a function descriptor from ``module.functions``, an
    internal ordinal, or a function name (export name or debug name).
    Raises :class:`BytecodeError` for malformed bytecode. ``strict``: see
    :func:`decode_bytecode`.
    """
    from iree_lab.isa import _module as M

    ordinal = M.resolve_function(module, function)
    cache = _module_cache(module)
    key = ("function", ordinal, strict)
    hit = cache.get(key)
    if hit is not None:
        if isinstance(hit, BytecodeError):
            raise hit
        return hit
    descriptor = M.descriptor(module, ordinal)
    code = M.function_bytes(module, descriptor, ordinal)
    try:
        fn = decode_bytecode(
            code,
            i32_register_count=descriptor.i32_register_count,
            ref_register_count=descriptor.ref_register_count,
            block_count=descriptor.block_count,
            ordinal=ordinal,
            name=M.display_name(module, ordinal),
            cconv=M.function_cconv(module, ordinal),
            context=module_context(module),
            bytecode_offset=descriptor.bytecode_offset,
            strict=strict,
        )
    except BytecodeError as error:
        if error.partial is not None:
            error.partial._module_ref = _weak(module)
        cache[key] = error
        raise
    fn._module_ref = _weak(module)
    cache[key] = fn
    return fn


def _weak(obj):
    try:
        return weakref.ref(obj)
    except TypeError:
        return lambda: obj


def format_f32(value: float) -> str:
    """C's "%.9g" for a float (nan spelled like glibc: "nan"/"-nan")."""
    if math.isnan(value):
        return "-nan" if math.copysign(1.0, value) < 0 else "nan"
    return f"{value:.9g}"


def format_f64(value: float) -> str:
    """C's "%.17g" for a double."""
    if math.isnan(value):
        return "-nan" if math.copysign(1.0, value) < 0 else "nan"
    return f"{value:.17g}"
