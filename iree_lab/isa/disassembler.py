"""Disassembler: the text ``iree-dump-module --output=disassembly`` prints, byte for byte.

:func:`write_disassembly` prints a whole module as VM assembly (the format
``iree-as-module`` reads back); :func:`format_instruction` one instruction.

Instruction text comes from each op's template (``OpInfo.template``):
``{M}`` is the mnemonic, ``{N}`` field N printed by its kind (registers as
``%i3``, ``%i4:5``, ``%r1`` or ``%R1`` for moved refs, type ids by name, callees
by name, branch targets as ``^bbN``, remaps as ``%i1->%i2``), and ``{N:fmt}``
one of: ``plain`` (ref without the move marker), ``rodata_size`` (segment
size), ``results`` (call results followed by `` = ``, or nothing),
``prefixed`` (a space and the list, or nothing).

Where IREE 3.13's disassembler differs from its own decoder we follow the tool
(it is the reference users diff against); those spots are commented.
"""

from __future__ import annotations

import io
import re
import struct
from typing import Protocol, TextIO

from iree_lab.errors import FormatError
from iree_lab.format.module import cconv_fragments
from iree_lab.isa import _module as M
from iree_lab.isa import tables as T
from iree_lab.isa.decoder import (
    BytecodeError,
    DecodedFunction,
    Instruction,
    decode_function,
    format_f32,
    format_f64,
)

__all__ = ["RegisterValues", "disassemble", "format_instruction", "write_disassembly"]


# ---------------------------------------------------------------------------
# Names: how references to module tables print.
# ---------------------------------------------------------------------------


class Names:
    """Resolves type ids, callees and rodata sizes of one module for printing."""

    def __init__(self, module=None):
        self.module = module
        if module is None:
            self.module_name = "module"
            self._types: tuple = ()
            self._imports: tuple = ()
            self._internal: tuple = ()
            self._rodata_sizes: tuple = ()
            return
        self.module_name = module.name
        self._types = tuple(t.full_name for t in module.types)
        self._imports = tuple(i.full_name for i in module.imports)
        self._internal = tuple(
            M.debug_function_name(module, i) for i in range(len(module.functions))
        )
        self._rodata_sizes = tuple(s.size for s in module.rodata)

    def type_name(self, type_id: int) -> str:
        if type_id < len(self._types) and self._types[type_id]:
            return self._types[type_id]
        # IREE clamps an out-of-range id to type 0 and prints its runtime type:
        # value types by name, !vm.list<...> as the bare list type, !vm.opaque
        # (no type) as "*".
        first = self._types[0] if self._types else None
        if first is None or first == "!vm.opaque":
            return "*"
        if first.startswith("!vm.list"):
            return "!vm.list"
        return first

    def callee(self, ordinal: int) -> str:
        """IREE's spelling: import full name, "module.fn" or "module:N" if unnamed."""
        if ordinal & T.FUNCTION_ORDINAL_IMPORT_BIT:
            index = ordinal & ~T.FUNCTION_ORDINAL_IMPORT_BIT
            name = self._imports[index] if index < len(self._imports) else None
            return name if name else f"import:{index}"
        name = self._internal[ordinal] if ordinal < len(self._internal) else None
        if name:
            return f"{self.module_name}.{name}"
        return f"{self.module_name}:{ordinal}"

    def rodata_size(self, ordinal: int) -> int:
        return self._rodata_sizes[ordinal] if ordinal < len(self._rodata_sizes) else 0


# ---------------------------------------------------------------------------
# Instruction formatting: templates compiled to Python functions.
# ---------------------------------------------------------------------------


def _reg(raw: int) -> str:
    """A register from a list (type bit decides the bank; i64 prints one slot)."""
    if raw & T.REF_REGISTER_TYPE_BIT:
        return _ref_move(raw)
    return f"%i{raw & T.I32_REGISTER_MASK}"


def _reg_list(regs) -> str:
    return ", ".join([_reg(r) for r in regs])


def _remap(pairs) -> str:
    return ", ".join([f"{_reg(s)}->{_reg(d)}" for s, d in pairs])


def _ref_move(raw: int) -> str:
    slot = raw & T.REF_REGISTER_MASK
    return f"%R{slot}" if raw & T.REF_REGISTER_MOVE_BIT else f"%r{slot}"


def _const_i32(v: int) -> str:
    return f"{v}  // 0x{v & 0xFFFFFFFF:08X}"


def _const_i64(v: int) -> str:
    return f"{v}  // 0x{v & 0xFFFFFFFFFFFFFFFF:016X}"


class FormatContext:
    """What formatting needs beyond the instruction: names, block ordinals and
    (for traces) register values."""

    __slots__ = ("names", "blocks", "values")

    def __init__(self, names: Names, blocks: dict[int, int] | None, values=None):
        self.names = names
        self.blocks = blocks
        self.values = values

    def block(self, pc: int) -> str:
        ordinal = self.blocks.get(pc) if self.blocks is not None else None
        if ordinal is None:
            return f"^{pc:08X}"  # IREE's spelling without a block list
        return f"^bb{ordinal}"

    def table(self, cases) -> str:
        return "".join(
            [f", {i}: {self.block(pc)}({_remap(remap)})" for i, (pc, remap) in enumerate(cases)]
        )

    def table_v(self, cases) -> str:
        return "".join(
            [
                f", {i}: {self.block(pc)}({_remap_v(self, remap)})"
                for i, (pc, remap) in enumerate(cases)
            ]
        )


# f-string fragment printing each field kind; `@` stands for the field value
# and `c` for the FormatContext. Fragments contain no quotes or backslashes.
_KIND_FRAGMENT = {
    T.I32: "%i{@ & 32767}",
    T.F32: "%i{@ & 32767}",
    T.I64: "%i{@ & 32767}:{(@ & 32767) + 1}",
    T.F64: "%i{@ & 32767}:{(@ & 32767) + 1}",
    T.REF: "%r{@ & 16383}",
    T.REF_MOVE: "{_ref_move(@)}",
    T.TYPE: "{c.names.type_name(@)}",
    T.GLOBAL_OFFSET: "{@}",
    T.GLOBAL_REF: "{@}",
    T.RODATA: "{@}",
    T.FUNC: "{c.names.callee(@)}",
    T.IMPORT: "{c.names.callee(@)}",
    T.CONST_I32: "{_const_i32(@)}",
    T.CONST_I64: "{_const_i64(@)}",
    T.CONST_F32: "{_f32(@)}",
    T.CONST_F64: "{_f64(@)}",
    T.STRING: "{@}",
    T.REG_LIST: "{_reg_list(@)}",
    T.SEGMENT_SIZES: "{_u16_list(@)}",
    T.BRANCH_TARGET: "{c.block(@)}",
    T.BRANCH_REMAP: "{_remap(@)}",
    T.BRANCH_TABLE: "{c.table(@)}",
}
_FORMAT_FRAGMENT = {
    "global": "",  # the loaded value: printed in traces only
    "plain": "%r{@ & 16383}",
    "rodata_size": "{c.names.rodata_size(@)}",
    "results": "{_results(@)}",
    "prefixed": "{_prefixed(@)}",
}


def _u16_list(values) -> str:
    return ", ".join(map(str, values))


def _results(regs) -> str:
    return _reg_list(regs) + " = " if regs else ""


def _prefixed(regs) -> str:
    return " " + _reg_list(regs) if regs else ""


_NAMESPACE = {
    "_ref_move": _ref_move,
    "_reg_list": _reg_list,
    "_remap": _remap,
    "_const_i32": _const_i32,
    "_const_i64": _const_i64,
    "_f32": format_f32,
    "_f64": format_f64,
    "_u16_list": _u16_list,
    "_results": _results,
    "_prefixed": _prefixed,
}
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{(M|\d+)(?::(\w+))?\}")


def _literal(text: str) -> str:
    """Template text as f-string literal text."""
    return (
        text.replace("\\", "\\\\").replace('"', '\\"').replace("{", "{{").replace("}", "}}")
    )


def _compile(op: T.OpInfo, fragments=None):
    """Turns op.template into `lambda v, c: f"..."` (built from our own templates only).

    ``fragments(op, index, fmt)`` overrides the text of each field (trace mode).
    """
    body: list[str] = []
    pos = 0
    template = op.template
    for m in _PLACEHOLDER.finditer(template):
        body.append(_literal(template[pos : m.start()]))
        pos = m.end()
        token = m.group(0)
        if token in ("{{", "}}"):
            body.append(_literal(token[0]))
            continue
        ref, fmt = m.group(1), m.group(2)
        if ref == "M":
            body.append(_literal(op.name))
            continue
        index = int(ref)
        if fragments is not None:
            fragment = fragments(op, index, fmt)
        else:
            fragment = _FORMAT_FRAGMENT[fmt] if fmt else _KIND_FRAGMENT[op.fields[index].kind]
        body.append(fragment.replace("@", f"v[{index}]"))
    body.append(_literal(template[pos:]))
    source = 'lambda v, c: f"' + "".join(body) + '"'
    return eval(source, dict(_NAMESPACE))  # noqa: S307 - built from our own templates


class _Formatters(dict):
    """OpInfo -> compiled formatter, compiled on first use (keeps import cheap)."""

    def __missing__(self, op):
        formatter = self[op] = _compile(op)
        return formatter


_FORMATTERS = _Formatters()


# ---------------------------------------------------------------------------
# Trace formatting: operands followed by their values (IREE's INLINE_VALUES).
# ---------------------------------------------------------------------------


class RegisterValues(Protocol):
    """What :func:`format_instruction` reads to print operand values.

    ``i32(slot)`` is the raw 32-bit content of an i32 register slot (any
    sign); ``ref(slot)`` a ref register's ``"!type/0x..."`` text or None when
    null; ``rwdata(offset, size)`` bytes of the module's global storage and
    ``global_ref(ordinal)`` a ref global's text (None: null) — used by global
    loads, which IREE also annotates with the loaded value.
    """

    def i32(self, slot: int) -> int: ...

    def ref(self, slot: int) -> str | None: ...

    def rwdata(self, offset: int, size: int) -> bytes: ...

    def global_ref(self, ordinal: int) -> str | None: ...


def _s32(x: int) -> int:
    x &= 0xFFFFFFFF
    return x - 0x100000000 if x & 0x80000000 else x


def _v_i32(c, raw: int) -> str:
    return f"({_s32(c.values.i32(raw & T.I32_REGISTER_MASK))})"


def _v_i64(c, raw: int) -> str:
    r = raw & T.I32_REGISTER_MASK
    v = (c.values.i32(r) & 0xFFFFFFFF) | ((c.values.i32(r + 1) & 0xFFFFFFFF) << 32)
    return f"({v - (1 << 64) if v >> 63 else v})"


def _v_f32(c, raw: int) -> str:
    bits = c.values.i32(raw & T.I32_REGISTER_MASK) & 0xFFFFFFFF
    return f"({format_f32(struct.unpack('<f', struct.pack('<I', bits))[0])})"


def _v_f64(c, raw: int) -> str:
    r = raw & T.I32_REGISTER_MASK
    bits = (c.values.i32(r) & 0xFFFFFFFF) | ((c.values.i32(r + 1) & 0xFFFFFFFF) << 32)
    return f"({format_f64(struct.unpack('<d', struct.pack('<Q', bits))[0])})"


def _v_ref(c, raw: int) -> str:
    text = c.values.ref(raw & T.REF_REGISTER_MASK)
    return "(null)" if text is None else f"({text})"


def _v_masked(c, raw: int, mask: int) -> str:
    return f"({c.values.i32(raw & T.I32_REGISTER_MASK) & mask})"


def _v_any(c, raw: int) -> str:
    """A list entry's value: ref text/"null", or the slot as unsigned 32 bits."""
    if raw & T.REF_REGISTER_TYPE_BIT:
        text = c.values.ref(raw & T.REF_REGISTER_MASK)
        return "(null)" if text is None else f"({text})"
    return f"({c.values.i32(raw & T.I32_REGISTER_MASK) & 0xFFFFFFFF})"


def _reg_list_v(c, regs) -> str:
    return ", ".join([f"{_reg(r)}{_v_any(c, r)}" for r in regs])


def _prefixed_v(c, regs) -> str:
    return " " + _reg_list_v(c, regs) if regs else ""


def _remap_v(c, pairs) -> str:
    return ", ".join([f"{_reg(s)}{_v_any(c, s)}->{_reg(d)}" for s, d in pairs])


_GLOBAL_FORMATS = {T.I32: ("<i", 4), T.I64: ("<q", 8), T.F32: ("<f", 4), T.F64: ("<d", 8)}


def _v_global(c, where: int, result_kind: int, indirect: bool) -> str:
    """The value a global load reads (IREE prints it after the storage reference)."""
    location = _s32(c.values.i32(where & T.I32_REGISTER_MASK)) if indirect else where
    if result_kind in (T.REF, T.REF_MOVE):
        text = c.values.global_ref(location)
        return "(null)" if text is None else f"({text})"
    fmt, size = _GLOBAL_FORMATS[result_kind]
    value = struct.unpack(fmt, c.values.rwdata(location, size))[0]
    if result_kind == T.F32:
        return f"({format_f32(value)})"
    if result_kind == T.F64:
        return f"({format_f64(value)})"
    return f"({value})"


_VALUE_FRAGMENT = {
    T.I32: "{_v_i32(c, @)}",
    T.F32: "{_v_f32(c, @)}",
    T.I64: "{_v_i64(c, @)}",
    T.F64: "{_v_f64(c, @)}",
    T.REF: "{_v_ref(c, @)}",
    T.REF_MOVE: "{_v_ref(c, @)}",
}
# Stores and fills of narrow values print the value truncated to their width.
_VALUE_MASKS = {"BufferStoreI8": 0xFF, "BufferFillI8": 0xFF,
                "BufferStoreI16": 0xFFFF, "BufferFillI16": 0xFFFF}  # fmt: skip
_NAMESPACE.update(
    _v_i32=_v_i32, _v_i64=_v_i64, _v_f32=_v_f32, _v_f64=_v_f64, _v_ref=_v_ref,
    _v_masked=_v_masked, _reg_list_v=_reg_list_v, _prefixed_v=_prefixed_v,
    _remap_v=_remap_v, _v_global=_v_global,
)  # fmt: skip


def _value_fragment(op: T.OpInfo, index: int, fmt: str | None) -> str:
    field = op.fields[index]
    kind = field.kind
    if fmt == "global":
        result_kind = op.result_fields[0].kind
        indirect = kind == T.I32
        return f"{{_v_global(c, @, {result_kind}, {indirect})}}"
    if fmt == "prefixed":
        return "{_prefixed_v(c, @)}"
    if fmt:
        return _FORMAT_FRAGMENT[fmt]
    plain = _KIND_FRAGMENT[kind]
    if field.access != T.READ:
        return plain
    if kind == T.REG_LIST:
        return "{_reg_list_v(c, @)}"
    if kind == T.BRANCH_REMAP:
        return "{_remap_v(c, @)}"
    if kind == T.BRANCH_TABLE:
        return "{c.table_v(@)}"
    mask = _VALUE_MASKS.get(op.symbol)
    if mask is not None and field.name == "value":
        return plain + f"{{_v_masked(c, @, {mask})}}"
    return plain + _VALUE_FRAGMENT[kind]


class _TraceFormatters(dict):
    def __missing__(self, op):
        formatter = self[op] = _compile(op, _value_fragment)
        return formatter


_TRACE_FORMATTERS = _TraceFormatters()


def format_in_context(inst: Instruction, ctx: FormatContext) -> str:
    """One instruction's text given a :class:`FormatContext` (names, blocks, trace values)."""
    if inst.op.flow == T.FLOW_BLOCK:
        return f"^bb{inst.block}:" if ctx.blocks is not None else "<block>"
    if ctx.values is not None:
        return _TRACE_FORMATTERS[inst.op](inst.values, ctx)  # type: ignore[operator]
    return _FORMATTERS[inst.op](inst.values, ctx)  # type: ignore[operator]


def _function_context(fn: DecodedFunction, names: Names) -> FormatContext:
    return FormatContext(names, fn.block_ordinals)


def format_instruction(
    inst: Instruction,
    function: DecodedFunction | None = None,
    module=None,
    *,
    values: RegisterValues | None = None,
    block_names: bool = True,
) -> str:
    """One instruction as iree-dump-module prints it (without indentation/offset).

    With ``values`` (a :class:`RegisterValues`), operands are followed by their
    values the way IREE's execution trace prints them (``%i4(1)``,
    ``%i4:5(6227020800)``, ``%r0(!hal.buffer/0x...)``, ``(null)``; list and
    remap entries as one unsigned 32-bit slot; results without values).
    ``block_names=False`` prints branch targets as ``^PPPPPPPP`` and block
    markers as ``<block>``, IREE's trace spelling.
    """
    if module is None and function is not None:
        module = function.module
    names = _names(module)
    blocks = function.block_ordinals if function is not None and block_names else None
    return format_in_context(inst, FormatContext(names, blocks, values))


_NAMES_CACHE: dict[int, tuple[object, Names]] = {}


def _names(module) -> Names:
    if module is None:
        return Names(None)
    hit = _NAMES_CACHE.get(id(module))
    if hit is not None and hit[0] is module:
        return hit[1]
    names = Names(module)
    if len(_NAMES_CACHE) > 64:
        _NAMES_CACHE.clear()
    _NAMES_CACHE[id(module)] = (module, names)
    return names


# ---------------------------------------------------------------------------
# Module disassembly
# ---------------------------------------------------------------------------

_CCONV_TYPE_NAMES = {"i": "i32", "I": "i64", "f": "f32", "F": "f64", "r": "!vm.ref<?>"}


def function_signature(cconv: str | None) -> str:
    """`(%i0: i32, %i2:3: i64, %r0: !vm.ref<?>) -> (i32)` from a cconv string."""
    try:
        args, results = cconv_fragments(cconv)
    except FormatError as e:
        raise SignatureError(e.what) from None
    out = []
    i32 = ref = 0
    for c in args:
        if c == "v":
            continue
        if c in "if":
            out.append(f"%i{i32}: {_CCONV_TYPE_NAMES[c]}")
            i32 += 1
        elif c in "IF":
            # No i64 alignment padding here: IREE's tool numbers slots densely.
            out.append(f"%i{i32}:{i32 + 1}: {_CCONV_TYPE_NAMES[c]}")
            i32 += 2
        elif c == "r":
            out.append(f"%r{ref}: !vm.ref<?>")
            ref += 1
        else:
            raise SignatureError(f"unsupported cconv argument type '{c}'")
    res = []
    for c in results:
        if c == "v":
            continue
        if c not in _CCONV_TYPE_NAMES:
            raise SignatureError(f"unsupported cconv type '{c}'")
        res.append(_CCONV_TYPE_NAMES[c])
    return f"({', '.join(out)}) -> ({', '.join(res)})"


class SignatureError(Exception):
    """A module IREE's tool refuses to print (reported as a FormatError)."""


def _c_atoi_u32(text: str) -> int | None:
    """IREE's iree_string_view_atoi_uint32: C strtoul(text, base 0) truncated to
    32 bits, accepting any trailing junk ("1a" -> 1, "010" -> 8, "-1" -> 2**32-1)."""
    raw = text.encode("utf-8", "surrogateescape")
    if len(raw) >= 16:
        return None
    s = raw.split(b"\0", 1)[0].decode("latin-1")
    i = 0
    while i < len(s) and s[i] in " \t\n\v\f\r":
        i += 1
    negative = False
    if i < len(s) and s[i] in "+-":
        negative = s[i] == "-"
        i += 1
    base = 10
    hex_digits = "0123456789abcdefABCDEF"
    if s[i : i + 2] in ("0x", "0X") and i + 2 < len(s) and s[i + 2] in hex_digits:
        base, i = 16, i + 2
    elif s[i : i + 1] == "0":
        base = 8
    digits = "0123456789abcdef"[:base]
    start = i
    value = 0
    while i < len(s) and s[i].lower() in digits:
        value = value * base + int(s[i], base)
        i += 1
    if i == start:
        return None
    if value > 0xFFFFFFFFFFFFFFFF:  # ERANGE
        return None
    if negative:
        value = -value & 0xFFFFFFFFFFFFFFFF
    return value & 0xFFFFFFFF


def _filter_matches(filter_text: str | None, ordinal: int, name: str) -> bool:
    if not filter_text:
        return True
    # IREE tries the filter as a u32 ordinal first, then as an exact name.
    number = _c_atoi_u32(filter_text)
    if number is not None:
        return number == ordinal
    return filter_text == name


_HEX_CHUNK = 1 << 20  # rodata bytes hex-encoded per write: bounded memory for GB modules


def _write_header(module, out: TextIO) -> bool:
    """Writes the module line and directives; True when they end with a blank line."""
    out.write(f"vm.module @{module.name} version {module.version}\n")
    directives = False
    lines = []
    for t in module.types:
        if t.full_name is not None:
            lines.append(f"vm.type {t.full_name}\n")
        directives = True
    for imp in module.imports:
        optional = "optional " if imp.is_optional else ""
        lines.append(f'vm.import {optional}@{imp.full_name} cconv "{imp.calling_convention or ""}"\n')
        directives = True
    out.write("".join(lines))
    for i, segment in enumerate(module.rodata):
        out.write(f"vm.rodata[{i}] = ")
        data = segment.data
        for offset in range(0, len(data), _HEX_CHUNK):
            out.write(bytes(data[offset : offset + _HEX_CHUNK]).hex().upper())
        out.write("\n")
        directives = True
    if directives:
        out.write("\n")
    return directives


def _function_lines(fn: DecodedFunction, names: Names, bytecode_offsets: bool, parts: list[str]):
    ctx = _function_context(fn, names)
    formatters = _FORMATTERS
    block_op = T.BLOCK_OP
    # Tuple unpacking of the (pc, end, op, values, block) instruction is the
    # cheapest access; this loop is most of the disassembler's time.
    if bytecode_offsets:
        parts.extend(
            [
                f"[{pc:08X}]^bb{block}:\n"
                if op is block_op
                else f"[{pc:08X}]  {formatters[op](values, ctx)}\n"
                for pc, _, op, values, block in fn.instructions
            ]
        )
    else:
        parts.extend(
            [
                f"^bb{block}:\n" if op is block_op else f"  {formatters[op](values, ctx)}\n"
                for _, _, op, values, block in fn.instructions
            ]
        )


def disassemble(module, *, bytecode_offsets: bool = False, function: str | None = None) -> str:
    """The whole disassembly as a string; see :func:`write_disassembly`."""
    out = io.StringIO()
    write_disassembly(module, out, bytecode_offsets=bytecode_offsets, function=function)
    return out.getvalue()


def write_disassembly(
    module, out: TextIO, *, bytecode_offsets: bool = False, function: str | None = None
) -> None:
    """Writes what ``iree-dump-module --output=disassembly`` prints for ``module``.

    ``function`` filters like ``--function``: an internal ordinal (decimal) or
    an exact function name. On malformed bytecode the functions that decode
    are printed in full, a damaged one up to where decoding stopped followed by
    a ``// error:`` line, and the first error is raised after everything is
    written (IREE's tool prints nothing for such a module).
    """
    names = _names(module)
    # IREE separates top-level items by exactly one blank line.
    blank_line = _write_header(module, out)
    first_error: Exception | None = None
    functions = module.functions
    exports_by_ordinal: dict[int, list] = {}
    for export in module.exports:
        exports_by_ordinal.setdefault(export.internal_ordinal, []).append(export)
    for ordinal, descriptor in enumerate(functions):
        name = descriptor.iree_name
        if not _filter_matches(function, ordinal, name):
            continue
        parts = [] if blank_line else ["\n"]
        blank_line = False
        for export in exports_by_ordinal.get(ordinal, ()):
            if export.local_name == name:
                parts.append(f"vm.export @{export.local_name}\n")
            else:
                parts.append(f"vm.export @{export.local_name} = @{name}\n")
        try:
            signature = function_signature(descriptor.calling_convention)
        except SignatureError as e:
            first_error = first_error or BytecodeError(
                str(e), function_name=name, function_ordinal=ordinal
            )
            parts.append(f"vm.func @{name}\n  // error: {e}\n")
            out.write("".join(parts))
            continue
        parts.append(f"vm.func @{name}{signature} {{\n")
        try:
            fn = decode_function(module, ordinal, strict=False)
        except BytecodeError as error:
            first_error = first_error or error
            if error.partial is not None:
                _function_lines(error.partial, names, bytecode_offsets, parts)
            parts.append(f"  // error: {error}\n")
        except FormatError as error:  # from the reader (e.g. a descriptor out of range)
            first_error = first_error or error
            parts.append(f"  // error: {error}\n")
        else:
            _function_lines(fn, names, bytecode_offsets, parts)
        parts.append("}\n")
        out.write("".join(parts))
    if first_error is not None:
        raise first_error
