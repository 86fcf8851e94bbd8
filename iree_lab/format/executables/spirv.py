"""A SPIR-V binary reader: header, instructions with decoded operands, module facts.

Operand layouts and names come from the SPIR-V grammar (spirv_grammar.py).
:meth:`SpirvModule.listing` prints instructions the way ``spirv-dis --raw-id
--no-indent --no-header`` does, so the two can be compared line for line.

Damage never raises: a word count of zero or one that runs past the end
stops decoding with a note, and operands that run out are reported on the
instruction (``SpirvInstruction.error``).
"""

from __future__ import annotations

import dataclasses
import math
import struct

from iree_lab.format.executables import spirv_grammar as grammar
from iree_lab.format.executables.model import Note

MAGIC = 0x07230203
HEADER_WORDS = 5
MAX_INSTRUCTIONS = 1 << 22

_ID_KINDS = frozenset({"IdResultType", "IdResult", "IdRef", "IdScope", "IdMemorySemantics"})
_BIT_ENUMS = frozenset(grammar.BIT_ENUMS)
# Parsed operand lists, cached per opcode: ((kind, quantifier), ...).
_OPERANDS: dict[int, tuple[tuple[str, str], ...]] = {}


def _operand_spec(text: str) -> tuple[tuple[str, str], ...]:
    spec = []
    for item in text.split():
        if item[-1] in "?*":
            spec.append((item[:-1], item[-1]))
        else:
            spec.append((item, ""))
    return tuple(spec)


def opcode_name(opcode: int) -> str:
    entry = grammar.INSTRUCTIONS.get(opcode)
    return entry[0] if entry else f"Op{opcode}"


def enum_name(kind: str, value: int) -> str:
    entry = grammar.ENUMS.get(kind, {}).get(value)
    if entry is None:
        return str(value)
    return entry if isinstance(entry, str) else entry[0]


@dataclasses.dataclass(slots=True)
class SpirvInstruction:
    offset: int  # byte offset in the SPIR-V module
    opcode: int
    words: tuple[int, ...]  # operand words (the first word, count|opcode, excluded)
    result_type: int | None = None
    result_id: int | None = None
    # Rendered operands after the result type/id, in spirv-dis spelling.
    operands: list[str] = dataclasses.field(default_factory=list)
    error: str | None = None

    @property
    def name(self) -> str:
        return opcode_name(self.opcode)

    def __str__(self) -> str:
        parts = [self.name]
        if self.result_type is not None:
            parts.append(f"%{self.result_type}")
        parts.extend(self.operands)
        text = " ".join(parts)
        if self.result_id is not None:
            text = f"%{self.result_id} = {text}"
        if self.error:
            text += f"  ; {self.error}"
        return text


@dataclasses.dataclass(frozen=True, slots=True)
class EntryPoint:
    execution_model: str
    function_id: int
    name: str
    interface: tuple[int, ...]


class SpirvModule:
    """A decoded SPIR-V module. Construction never raises; see :attr:`notes`."""

    def __init__(self, data: bytes, *, where: str = "spirv"):
        self.data = bytes(data)
        self.where = where
        self.notes: list[Note] = []
        self.version: tuple[int, int] | None = None
        self.generator = 0
        self.bound = 0
        self.schema = 0
        self.instructions: list[SpirvInstruction] = []
        self.capabilities: list[str] = []
        self.extensions: list[str] = []
        self.ext_inst_imports: dict[int, str] = {}
        self.memory_model: tuple[str, str] | None = None
        self.entry_points: list[EntryPoint] = []
        self.execution_modes: dict[int, list[tuple[str, tuple[int, ...]]]] = {}
        self.names: dict[int, str] = {}
        # Result id -> (kind, width, signed) for int/float types, for constants.
        self._number_types: dict[int, tuple[str, int, bool]] = {}
        # Result id -> its result type id, for OpSwitch literal widths.
        self._value_types: dict[int, int] = {}
        self._decode()

    def _note(self, what: str, offset: int | None = None) -> None:
        if len(self.notes) < 256:
            self.notes.append(Note(what, self.where, offset))

    def _decode(self) -> None:
        data = self.data
        if len(data) % 4:
            self._note(f"size {len(data)} is not a multiple of 4; trailing bytes ignored")
        count = len(data) // 4
        if count < HEADER_WORDS:
            self._note("too short for the 5-word SPIR-V header", 0)
            return
        order = "<"
        if struct.unpack_from("<I", data, 0)[0] != MAGIC:
            if struct.unpack_from(">I", data, 0)[0] == MAGIC:
                order = ">"
            else:
                self._note(f"bad magic 0x{struct.unpack_from('<I', data, 0)[0]:08x}", 0)
                return
        words = struct.unpack_from(f"{order}{count}I", data, 0)
        version = words[1]
        self.version = ((version >> 16) & 0xFF, (version >> 8) & 0xFF)
        self.generator, self.bound, self.schema = words[2], words[3], words[4]
        pos = HEADER_WORDS
        while pos < count:
            first = words[pos]
            word_count, opcode = first >> 16, first & 0xFFFF
            if word_count == 0:
                self._note(f"instruction {opcode_name(opcode)} has word count 0", pos * 4)
                return
            if pos + word_count > count:
                self._note(f"instruction {opcode_name(opcode)} ({word_count} words) runs past "
                           "the end of the module", pos * 4)
                return
            if len(self.instructions) >= MAX_INSTRUCTIONS:
                self._note("too many instructions", pos * 4)
                return
            inst = SpirvInstruction(pos * 4, opcode, words[pos + 1:pos + word_count])
            self._decode_operands(inst)
            self._record(inst)
            self.instructions.append(inst)
            pos += word_count

    # -- operands ----------------------------------------------------------------
    def _decode_operands(self, inst: SpirvInstruction) -> None:
        entry = grammar.INSTRUCTIONS.get(inst.opcode)
        if entry is None:
            inst.operands = [str(w) for w in inst.words]
            inst.error = "unknown opcode"
            return
        spec = _OPERANDS.get(inst.opcode)
        if spec is None:
            spec = _OPERANDS[inst.opcode] = _operand_spec(entry[1])
        cursor = _Cursor(inst.words)
        try:
            self._decode_list(inst, spec, cursor)
            if not cursor.done:
                inst.error = f"{len(inst.words) - cursor.pos} extra operand words"
                inst.operands.extend(str(w) for w in inst.words[cursor.pos:])
        except _OutOfWords:
            inst.error = "operands run past the instruction's word count"

    def _decode_list(self, inst, spec, cursor) -> None:
        for kind, quantifier in spec:
            if quantifier == "?":
                if not cursor.done:
                    self._decode_one(inst, kind, cursor)
            elif quantifier == "*":
                while not cursor.done:
                    self._decode_one(inst, kind, cursor)
            else:
                self._decode_one(inst, kind, cursor)

    def _decode_one(self, inst: SpirvInstruction, kind: str, cursor: _Cursor) -> None:
        out = inst.operands
        if kind == "IdResultType":
            inst.result_type = cursor.take()
        elif kind == "IdResult":
            inst.result_id = cursor.take()
        elif kind in _ID_KINDS:
            out.append(f"%{cursor.take()}")
        elif kind == "LiteralInteger":
            out.append(str(cursor.take()))
        elif kind == "LiteralString":
            out.append(_quote(cursor.string()))
        elif kind == "LiteralContextDependentNumber":
            out.append(self._number(inst.result_type, cursor))
        elif kind == "LiteralExtInstInteger":
            number = cursor.take()
            set_id = inst.words[2] if len(inst.words) > 2 else None
            if self.ext_inst_imports.get(set_id) == "GLSL.std.450":
                out.append(grammar.GLSL_STD_450.get(number, str(number)))
            else:
                out.append(str(number))
        elif kind == "LiteralSpecConstantOpInteger":
            opcode = cursor.take()
            out.append(opcode_name(opcode)[2:] if opcode in grammar.INSTRUCTIONS
                       else str(opcode))
            while not cursor.done:
                out.append(f"%{cursor.take()}")
        elif kind == "PairLiteralIntegerIdRef":
            # OpSwitch: the literal's width follows the selector's type.
            selector_type = self._id_type(inst.words[0]) if inst.words else None
            out.append(self._number(selector_type, cursor, all_words=False))
            out.append(f"%{cursor.take()}")
        elif kind == "PairIdRefLiteralInteger":
            out.append(f"%{cursor.take()}")
            out.append(str(cursor.take()))
        elif kind == "PairIdRefIdRef":
            out.append(f"%{cursor.take()}")
            out.append(f"%{cursor.take()}")
        elif kind in grammar.ENUMS:
            self._enum(inst, kind, cursor)
        else:
            out.append(str(cursor.take()))

    def _enum(self, inst: SpirvInstruction, kind: str, cursor: _Cursor) -> None:
        value = cursor.take()
        table = grammar.ENUMS[kind]
        if kind in _BIT_ENUMS:
            names, params = [], []
            if value == 0:
                names.append(enum_name(kind, 0) if 0 in table else "None")
            rest = value
            bit = 1
            while rest:
                if rest & bit:
                    rest &= ~bit
                    entry = table.get(bit)
                    if entry is None:
                        names.append(f"0x{bit:x}")
                    elif isinstance(entry, str):
                        names.append(entry)
                    else:
                        names.append(entry[0])
                        params.append(entry[1])
                bit <<= 1
            inst.operands.append("|".join(names))
            for p in params:
                self._decode_list(inst, _operand_spec(p), cursor)
            return
        entry = table.get(value)
        if entry is None:
            inst.operands.append(str(value))
        elif isinstance(entry, str):
            inst.operands.append(entry)
        else:
            inst.operands.append(entry[0])
            self._decode_list(inst, _operand_spec(entry[1]), cursor)

    def _id_type(self, value_id: int) -> int | None:
        return self._value_types.get(value_id)

    def _number(self, type_id: int | None, cursor: _Cursor, all_words: bool = True) -> str:
        info = self._number_types.get(type_id) if type_id is not None else None
        if info is None:
            if all_words:
                values = []
                while not cursor.done:
                    values.append(str(cursor.take()))
                return " ".join(values)
            return str(cursor.take())
        kind, width, signed = info
        nwords = 2 if width > 32 else 1
        low = cursor.take()
        value = low | (cursor.take() << 32) if nwords == 2 else low
        if kind == "int":
            bits = 64 if nwords == 2 else 32
            if width < 32:
                value &= (1 << width) - 1
                bits = width
            if signed and value >> (bits - 1):
                value -= 1 << bits
            return str(value)
        if width == 16:
            return _format_float(struct.unpack("<e", struct.pack("<H", value & 0xFFFF))[0],
                                 5, value & 0xFFFF, 16)
        if nwords == 2:
            return _format_float(struct.unpack("<d", struct.pack("<Q", value))[0], 17, value, 64)
        return _format_float(struct.unpack("<f", struct.pack("<I", value))[0], 9, value, 32)

    # -- module facts ------------------------------------------------------------
    def _record(self, inst: SpirvInstruction) -> None:
        op = inst.opcode
        w = inst.words
        if inst.result_id is not None and inst.result_type is not None:
            self._value_types[inst.result_id] = inst.result_type
        if inst.error:
            return
        if op == 17:  # OpCapability
            self.capabilities.append(inst.operands[0])
        elif op == 10:  # OpExtension
            self.extensions.append(_unquote(inst.operands[0]))
        elif op == 11:  # OpExtInstImport
            self.ext_inst_imports[inst.result_id] = _unquote(inst.operands[0])
        elif op == 14:  # OpMemoryModel
            self.memory_model = (inst.operands[0], inst.operands[1])
        elif op == 15 and len(w) >= 2:  # OpEntryPoint
            name = _unquote(inst.operands[2])
            interface = tuple(int(x[1:]) for x in inst.operands[3:])
            self.entry_points.append(EntryPoint(inst.operands[0], w[1], name, interface))
        elif op in (16, 331) and len(w) >= 2:  # OpExecutionMode(Id)
            self.execution_modes.setdefault(w[0], []).append((inst.operands[1], tuple(w[2:])))
        elif op == 5 and len(w) >= 1:  # OpName
            self.names[w[0]] = _unquote(inst.operands[1])
        elif op == 21 and len(w) >= 3:  # OpTypeInt
            self._number_types[inst.result_id] = ("int", w[1], bool(w[2]))
        elif op == 22 and len(w) >= 2:  # OpTypeFloat
            self._number_types[inst.result_id] = ("float", w[1], True)

    def entry_point(self, name: str) -> EntryPoint | None:
        for e in self.entry_points:
            if e.name == name:
                return e
        return None

    def local_size(self, name: str) -> tuple[int, int, int] | None:
        """The LocalSize execution mode of entry point ``name``, if declared."""
        e = self.entry_point(name)
        if e is None:
            return None
        for mode, params in self.execution_modes.get(e.function_id, []):
            if mode == "LocalSize" and len(params) == 3:
                return tuple(params)
        return None

    def subgroup_size(self, name: str) -> int | None:
        e = self.entry_point(name)
        if e is None:
            return None
        for mode, params in self.execution_modes.get(e.function_id, []):
            if mode == "SubgroupSize" and len(params) == 1:
                return params[0]
        return None

    def listing(self) -> list[str]:
        """One line per instruction, as ``spirv-dis --raw-id --no-indent --no-header``."""
        return [str(i) for i in self.instructions]

    def function_instructions(self, function_id: int) -> list[SpirvInstruction]:
        """The instructions from ``OpFunction`` with that result id to ``OpFunctionEnd``."""
        out = []
        inside = False
        for inst in self.instructions:
            if inst.opcode == 54 and inst.result_id == function_id:  # OpFunction
                inside = True
            if inside:
                out.append(inst)
                if inst.opcode == 56:  # OpFunctionEnd
                    break
        return out


class _OutOfWords(Exception):
    pass


class _Cursor:
    __slots__ = ("words", "pos")

    def __init__(self, words):
        self.words = words
        self.pos = 0

    @property
    def done(self) -> bool:
        return self.pos >= len(self.words)

    def take(self) -> int:
        if self.pos >= len(self.words):
            raise _OutOfWords
        value = self.words[self.pos]
        self.pos += 1
        return value

    def string(self) -> str:
        raw = bytearray()
        while True:
            word = self.take()
            chunk = word.to_bytes(4, "little")
            end = chunk.find(0)
            if end >= 0:
                raw += chunk[:end]
                break
            raw += chunk
        return raw.decode("utf-8", "replace")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return text


def _format_float(value: float, digits: int, bits: int, width: int) -> str:
    if math.isfinite(value):
        text = f"{value:.{digits}g}"
        return text
    # spirv-dis prints infinities and NaNs as hex floats.
    mantissa_bits = {16: 10, 32: 23, 64: 52}[width]
    sign = "-" if bits >> (width - 1) else ""
    mantissa = bits & ((1 << mantissa_bits) - 1)
    exponent = {16: 16, 32: 128, 64: 1024}[width]
    if mantissa == 0:
        return f"{sign}0x1p+{exponent}"
    digits_hex = (mantissa_bits + 3) // 4
    frac = f"{mantissa << (digits_hex * 4 - mantissa_bits):0{digits_hex}x}".rstrip("0")
    return f"{sign}0x1.{frac}p+{exponent}"
