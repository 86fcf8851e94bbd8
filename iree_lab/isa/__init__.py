"""Layer 2: the VM bytecode ISA — opcode tables, decoder, disassembler and CFGs.

Typical use::

    module = iree_lab.open("model.vmfb")
    fn = iree_lab.isa.decode_function(module, "main")      # name, ordinal or descriptor
    for inst in fn:                                         # Instruction objects
        print(f"{inst.pc:08X}", inst.name, inst.values)
    fn.instruction_at(0x1C); fn.block_at(0x1C)              # pc -> instruction / block
    fn.cfg.to_dot()                                         # graphviz text
    iree_lab.isa.write_disassembly(module, sys.stdout)      # == iree-dump-module
    iree_lab.isa.format_instruction(inst, fn, values=regs)  # trace line with operand values

Decoding is verified (IREE's verifier rules) and cached per module; malformed
bytecode raises :class:`BytecodeError` (a ``FormatError``) whose ``partial``
holds what decoded. Tables: :mod:`iree_lab.isa.tables` (``ALL_OPS``,
``lookup("vm.add.i32")``, field kinds).
"""

from __future__ import annotations

from collections.abc import Iterator

from iree_lab.isa import tables
from iree_lab.isa.cfg import Block, ControlFlowGraph, Edge
from iree_lab.isa.decoder import (
    BytecodeError,
    DecodedFunction,
    Instruction,
    ModuleContext,
    Operand,
    Register,
    decode_bytecode,
    decode_function,
    register_name,
)
from iree_lab.isa.disassembler import (
    RegisterValues,
    disassemble,
    format_instruction,
    write_disassembly,
)
from iree_lab.isa.tables import ALL_OPS, Field, OpInfo, lookup

__all__ = [
    "ALL_OPS",
    "Block",
    "BytecodeError",
    "ControlFlowGraph",
    "DecodedFunction",
    "Edge",
    "Field",
    "Instruction",
    "ModuleContext",
    "OpInfo",
    "Operand",
    "Register",
    "RegisterValues",
    "decode_bytecode",
    "decode_function",
    "decode_functions",
    "disassemble",
    "format_instruction",
    "lookup",
    "register_name",
    "tables",
    "write_disassembly",
]


def decode_functions(module) -> Iterator[DecodedFunction]:
    """Decodes every internal function of ``module`` in ordinal order (cached).

    Raises :class:`BytecodeError` at the first malformed function.
    """
    for ordinal in range(len(module.functions)):
        yield decode_function(module, ordinal)
