"""Disassembly lines with bytecode offsets, one per instruction.

The text of each line is exactly what ``iree-dump-module --output=disassembly
--bytecode_offsets`` prints for it (``[0000002B]  %i3 = vm.cmp...``, block
markers as ``[0000002A]^bb1:``), so a user can diff a view against the tool.
Unlike the tool, nothing here formats the module header (rodata hex of a
multi-GB module) to show one function.
"""

from __future__ import annotations

from typing import NamedTuple

from iree_lab.errors import FormatError
from iree_lab.isa import DecodedFunction, decode_function
from iree_lab.isa import disassembler as _dis


class DisassemblyLine(NamedTuple):
    """One instruction: ``pc``, its block ordinal, whether it is a block marker,
    the instruction ``text`` and ``line`` (the tool's line with the offset)."""

    pc: int
    block: int
    is_block: bool
    text: str
    line: str
    name: str


def function_lines(fn: DecodedFunction) -> list[DisassemblyLine]:
    """Every instruction of ``fn`` (block markers included) as tool-identical lines."""
    module = fn.module
    names = _dis.Names(module) if module is not None else _dis.Names(None)
    ctx = _dis.FormatContext(names, {b.pc: b.ordinal for b in fn.blocks})
    out = []
    for inst in fn.instructions:
        if inst.is_block_marker:
            text = f"^bb{inst.block}:"
            line = f"[{inst.pc:08X}]{text}"
        else:
            text = _dis.format_in_context(inst, ctx)
            line = f"[{inst.pc:08X}]  {text}"
        out.append(DisassemblyLine(inst.pc, inst.block, inst.is_block_marker, text, line,
                                   inst.op.name))
    return out


def function_header(module, ordinal: int) -> list[str]:
    """The tool's ``vm.export ...`` and ``vm.func @name(signature) {`` lines."""
    descriptor = module.functions[ordinal]
    name = descriptor.iree_name
    lines = []
    for export in module.exports:
        if export.internal_ordinal == ordinal:
            lines.append(f"vm.export @{export.local_name}" if export.local_name == name
                         else f"vm.export @{export.local_name} = @{name}")
    try:
        signature = _dis.function_signature(descriptor.calling_convention)
    except _dis.SignatureError as e:
        return [*lines, f"vm.func @{name}", f"  // error: {e}"]
    return [*lines, f"vm.func @{name}{signature} {{"]


def function_listing(module, function) -> tuple[list[str], list[DisassemblyLine], str | None]:
    """(header lines, instruction lines, error text) of one function of ``module``.

    Damaged bytecode does not raise: the instructions decoded before the fault
    are returned with the error's text (the tool would print nothing).
    """
    try:
        fn = decode_function(module, function, strict=False)
    except FormatError as error:
        partial = getattr(error, "partial", None)
        lines = function_lines(partial) if partial is not None else []
        ordinal = getattr(error, "function_ordinal", None)
        header = function_header(module, ordinal) if ordinal is not None else []
        return header, lines, str(error)
    return function_header(module, fn.ordinal), function_lines(fn), None
