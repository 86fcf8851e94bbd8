"""Per-opcode operand decoders, generated from the tables at import time.

Each op gets a function ``decode(code, pc, n, il, rl, strict, tc, ordinals, targets, start)``
that reads the op's fields starting at ``pc`` (just past the opcode bytes),
verifies them and returns ``(values, pc)``. Runs of fixed-size fields are read
with one ``struct`` call; register checks are inlined. The source is built
only from our own tables (no module data), then compiled once.

Arguments: ``n`` bytes in the function, ``il``/``rl`` the i32/ref register
limits, ``strict`` whether single registers are checked, ``tc`` the type count
(None: unchecked), ``ordinals`` a callable checking u32 ordinals (None:
unchecked), ``targets`` a list collecting (branch target pc, ``start``, first
opcode byte) for every branch target, ``start`` the pc of the instruction.
"""

from __future__ import annotations

import struct

from iree_lab.isa import tables as T

_U16 = struct.Struct("<H")
_U16N: dict[int, struct.Struct] = {}


# ``strict`` value for bytecode 15.x (IREE 3.0-3.9): checks like True, but a move bit
# on a non-moving ref operand is accepted (and dropped), as that runtime did.
LEGACY_MOVE_BITS = 2


class Fault(Exception):
    """A decode failure: (message, pc or None, opcode or None)."""


def u16s(code, pc: int, count: int) -> tuple[int, ...]:
    s = _U16N.get(count)
    if s is None:
        s = _U16N[count] = struct.Struct(f"<{count}H")
    return s.unpack_from(code, pc)


def register_error(kind: int, raw: int, il: int, rl: int) -> Fault:
    bank = T.KIND_NAMES[kind]
    if kind in (T.REF, T.REF_MOVE):
        if not raw & T.REF_REGISTER_TYPE_BIT:
            return Fault(f"ref register required but non-ref %i{raw} provided", None, None)
        if kind == T.REF and raw & T.REF_REGISTER_MOVE_BIT:
            return Fault(
                f"ref register %R{raw & T.REF_REGISTER_MASK} has the move bit but the op "
                "does not move",
                None,
                None,
            )
        return Fault(
            f"ref register %r{raw & T.REF_REGISTER_MASK} out of range ({rl} ref registers)",
            None,
            None,
        )
    if kind == T.ANY:
        if raw & T.REF_REGISTER_TYPE_BIT:
            return Fault(
                f"ref register %r{raw & T.REF_REGISTER_MASK} out of range ({rl} ref registers)",
                None,
                None,
            )
        return Fault(f"i32 register %i{raw} out of range ({il} i32 registers)", None, None)
    if raw & T.REF_REGISTER_TYPE_BIT:
        return Fault(
            f"{bank} register required but ref register %r{raw & T.REF_REGISTER_MASK} provided",
            None,
            None,
        )
    if kind in (T.I64, T.F64) and raw & 1:
        return Fault(f"{bank} register %i{raw}:{raw + 1} is not 8-byte aligned", None, None)
    return Fault(f"{bank} register %i{raw} out of range ({il} i32 registers)", None, None)


# Condition (over raw value `r`) under which a register of each kind is INVALID.
_TYPE = f"{T.REF_REGISTER_TYPE_BIT:#x}"
_TYPE_MOVE = f"{T.REF_REGISTER_TYPE_BIT | T.REF_REGISTER_MOVE_BIT:#x}"
_SLOT = f"{T.REF_REGISTER_MASK:#x}"
_BAD = {
    T.I32: "{r} >= il",
    T.F32: "{r} >= il",
    T.I64: "({r} & 1 or {r} + 1 >= il)",
    T.F64: "({r} & 1 or {r} + 1 >= il)",
    T.REF: "(({r} & " + _TYPE_MOVE + ") != " + _TYPE + " or {r} & " + _SLOT + " >= rl)",
    T.REF_MOVE: "(not {r} & " + _TYPE + " or {r} & " + _SLOT + " >= rl)",
    T.ANY: "(({r} & " + _SLOT + " >= rl) if {r} & " + _TYPE + " else {r} >= il)",
}

# Fixed-size kinds: struct code and byte size.
_FIXED = {
    T.I32: ("H", 2),
    T.I64: ("H", 2),
    T.F32: ("H", 2),
    T.F64: ("H", 2),
    T.REF: ("H", 2),
    T.REF_MOVE: ("H", 2),
    T.TYPE: ("I", 4),
    T.GLOBAL_OFFSET: ("I", 4),
    T.GLOBAL_REF: ("I", 4),
    T.RODATA: ("I", 4),
    T.FUNC: ("I", 4),
    T.IMPORT: ("I", 4),
    T.CONST_I32: ("i", 4),
    T.CONST_F32: ("f", 4),
    T.CONST_I64: ("q", 8),
    T.CONST_F64: ("d", 8),
    T.BRANCH_TARGET: ("I", 4),
}
_ORDINAL_KINDS = (T.GLOBAL_OFFSET, T.GLOBAL_REF, T.RODATA, T.FUNC, T.IMPORT)


def truncated(op: T.OpInfo, field_index: int) -> Fault:
    field = op.fields[field_index]
    what = {
        T.REG_LIST: "list",
        T.SEGMENT_SIZES: "list",
        T.BRANCH_REMAP: "branch operands",
        T.BRANCH_TARGET: "branch target",
        T.STRING: "string",
    }.get(field.kind)
    if what is None:
        what = "operand" if field.kind in T.REGISTER_KINDS else "field"
    return Fault(f"truncated {op.name} {what} {field.name!r}", None, None)


def _first_truncated(op: T.OpInfo, first: int, pc: int, n: int) -> Fault:
    """Which field of a fixed run starting at field ``first`` runs past ``n``."""
    for i in range(first, len(op.fields)):
        size = _FIXED[op.fields[i].kind][1]
        if pc + size > n:
            return truncated(op, i)
        pc += size
    return truncated(op, len(op.fields) - 1)


def read_remap(code, pc: int, n: int, il: int, rl: int, op, field_index: int):
    pc += pc & 1
    if pc + 2 > n:
        raise truncated(op, field_index)
    count = _U16.unpack_from(code, pc)[0]
    pc += 2
    if pc + 4 * count > n:
        raise truncated(op, field_index)
    flat = u16s(code, pc, 2 * count)
    for r in flat:
        if ((r & T.REF_REGISTER_MASK) >= rl) if r & T.REF_REGISTER_TYPE_BIT else r >= il:
            raise register_error(T.ANY, r, il, rl)
    return tuple(zip(flat[0::2], flat[1::2], strict=True)), pc + 4 * count


def read_list(code, pc: int, n: int, op, field_index: int):
    pc += pc & 1
    if pc + 2 > n:
        raise truncated(op, field_index)
    count = _U16.unpack_from(code, pc)[0]
    pc += 2
    if pc + 2 * count > n:
        raise truncated(op, field_index)
    return u16s(code, pc, count), pc + 2 * count


def read_table(code, pc: int, n: int, il: int, rl: int, op, field_index: int, targets, site):
    if pc + 2 > n:
        raise Fault("truncated br_table size", None, None)
    count = _U16.unpack_from(code, pc)[0]
    pc += 2
    cases = []
    for _ in range(count):
        if pc + 4 > n:
            raise Fault("truncated br_table case", None, None)
        target = struct.unpack_from("<I", code, pc)[0]
        pc += 4
        targets.append((target, *site))
        remap, pc = read_remap(code, pc, n, il, rl, op, field_index)
        cases.append((target, remap))
    return tuple(cases), pc


def _compile(op: T.OpInfo):
    lines = ["def decode(code, pc, n, il, rl, strict, tc, ordinals, targets, start):"]
    first_byte = op.opcode if op.prefix is None else op.prefix
    emit = lines.append
    names = []
    fields = op.fields
    consts = {}
    i = 0
    while i < len(fields):
        kind = fields[i].kind
        if kind in _FIXED:
            j = i
            fmt = "<"
            size = 0
            while j < len(fields) and fields[j].kind in _FIXED:
                code, nbytes = _FIXED[fields[j].kind]
                fmt += code
                size += nbytes
                j += 1
            sname = f"S{i}"
            consts[sname] = struct.Struct(fmt)
            run = [f"v{k}" for k in range(i, j)]
            emit(f"    if pc + {size} > n:")
            emit(f"        raise first_truncated(op, {i}, pc, n)")
            target = ", ".join(run) + ("," if len(run) == 1 else "")
            emit(f"    {target} = {sname}.unpack_from(code, pc)")
            emit(f"    pc += {size}")
            for k in range(i, j):
                f = fields[k]
                v = f"v{k}"
                if f.kind == T.REF:
                    # Bytecode 15.x (LEGACY_MOVE_BITS) let a move bit through on ops that
                    # do not move; its runtime ignored it, so it is dropped here.
                    emit(f"    if strict and {_BAD[T.REF].format(r=v)}:")
                    emit(f"        if strict == {LEGACY_MOVE_BITS} and not "
                         f"{_BAD[T.REF_MOVE].format(r=v)}:")
                    emit(f"            {v} &= 0xBFFF")
                    emit("        else:")
                    emit(f"            raise register_error({f.kind}, {v}, il, rl)")
                elif f.kind in _BAD:
                    emit(f"    if strict and {_BAD[f.kind].format(r=v)}:")
                    emit(f"        raise register_error({f.kind}, {v}, il, rl)")
                elif f.kind == T.TYPE:
                    emit(f"    if tc is not None and {v} >= tc:")
                    emit(f"        raise Fault(f'type id {{{v}}} out of range ({{tc}} types)', None, None)")
                elif f.kind in _ORDINAL_KINDS:
                    if f.kind == T.IMPORT:
                        emit(f"    if not {v} & 0x80000000:")
                        emit(
                            f"        raise Fault(f'function ordinal {{{v}}} is not an import "
                            "ordinal', None, None)"
                        )
                    emit("    if ordinals is not None:")
                    emit(f"        ordinals({f.kind}, op.fields[{k}], {v})")
                elif f.kind == T.BRANCH_TARGET:
                    emit(f"    targets.append(({v}, start, {first_byte}))")
                names.append(v)
            i = j
            continue
        v = f"v{i}"
        if kind == T.REG_LIST:
            emit(f"    {v}, pc = read_list(code, pc, n, op, {i})")
            bad = _BAD[fields[i].element].format(r="r")
            emit(f"    for r in {v}:")
            emit(f"        if {bad}:")
            emit(f"            raise register_error({fields[i].element}, r, il, rl)")
        elif kind == T.SEGMENT_SIZES:
            emit(f"    {v}, pc = read_list(code, pc, n, op, {i})")
        elif kind == T.BRANCH_REMAP:
            emit(f"    {v}, pc = read_remap(code, pc, n, il, rl, op, {i})")
        elif kind == T.BRANCH_TABLE:
            emit(
                f"    {v}, pc = read_table(code, pc, n, il, rl, op, {i}, targets, "
                f"(start, {first_byte}))"
            )
        elif kind == T.STRING:
            emit("    if pc + 2 > n:")
            emit(f"        raise truncated(op, {i})")
            emit("    length = U16.unpack_from(code, pc)[0]")
            emit("    pc += 2")
            emit("    if pc + length > n:")
            emit(f"        raise truncated(op, {i})")
            emit(f"    {v} = code[pc : pc + length].decode('utf-8', 'surrogateescape')")
            emit("    pc += length")
        else:  # pragma: no cover - every kind is handled above
            raise AssertionError(f"unhandled field kind {kind}")
        names.append(v)
        i += 1
    result = ", ".join(names) + ("," if len(names) == 1 else "")
    emit(f"    return ({result}), pc")
    namespace = dict(
        consts,
        op=op,
        Fault=Fault,
        U16=_U16,
        first_truncated=_first_truncated,
        truncated=truncated,
        register_error=register_error,
        read_list=read_list,
        read_remap=read_remap,
        read_table=read_table,
    )
    exec("\n".join(lines), namespace)  # noqa: S102 - source built from our own tables
    return namespace["decode"]


def _lazy(table: list, index: int, op: T.OpInfo):
    """A stand-in that compiles the op's decoder on first use (most modules use few
    ops; compiling all of them would cost ~0.1 s at import)."""

    def first_call(*args):
        decode = _compile(op)
        table[index] = (op, decode)
        return decode(*args)

    return first_call


def _build(ops) -> list:
    table: list = [None] * 256
    for op in ops:
        table[op.opcode] = (op, _lazy(table, op.opcode, op))
    return table


def compile_all() -> None:
    """Compiles every decoder now (tests use this to check all of them build)."""
    for table in (CORE, *PREFIXED.values()):
        for entry in table:
            if entry is not None:
                op = entry[0]
                table[op.opcode] = (op, _compile(op))


# opcode byte -> (OpInfo, decoder) per opcode set; None where unassigned.
CORE = _build(T.CORE_OPS)
PREFIXED = {
    prefix: _build({"ext_f32": T.EXT_F32_OPS, "ext_f64": T.EXT_F64_OPS}[name])
    for prefix, name in T.PREFIX_OPCODES.items()
}


_BY_MAJOR: dict[int, tuple[list, dict[int, list]]] = {}


def tables_for(major: int | None) -> tuple[list, dict[int, list]]:
    """(core, prefixed) decoder tables for bytecode major version ``major`` (None: the
    newest): ops a runtime of that version did not know are unassigned there."""
    if major is None or major >= T.BYTECODE_VERSION_MAJOR:
        return CORE, PREFIXED
    hit = _BY_MAJOR.get(major)
    if hit is None:
        known = T.ops_of_bytecode_major(major)
        hit = _BY_MAJOR[major] = (
            _build([op for op in known if op.opcode_set == "core"]),
            {prefix: _build([op for op in known if op.opcode_set == name])
             for prefix, name in T.PREFIX_OPCODES.items()},
        )
    return hit
