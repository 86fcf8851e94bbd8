"""What a debugger shows of VM values: registers in every typed view, refs summarised.

Registers are read from a frame's live lists through
:class:`iree_lab.vm.Registers`, which materialises IREE's raw 32-bit words
bit-exactly. A ref is described by its type, an identity (``0x...`` like the
pointer IREE's trace prints, plus the HAL's small per-device id where the
object has one) and a short summary of its contents. :func:`state_digest`
hashes everything a program can observe (stack, registers, globals and the
contents of every reachable ref) without identities, so two runs that reach
the same state give the same digest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import struct

import numpy as np

from iree_lab.vm import List, Registers
from iree_lab.vm.buffer import Buffer as VMBuffer
from iree_lab.vm.value import ValueType

# Bytes of a buffer a summary shows.
PREVIEW_BYTES = 16
# Elements of a buffer view a summary shows.
PREVIEW_ELEMENTS = 16


@dataclasses.dataclass(frozen=True)
class RegisterValue:
    """One i32-bank register slot: its raw word and typed readings.

    ``i64``/``f64`` read the aligned pair starting at this slot (None for an
    odd slot or the last one), as IREE's ``%iN:N+1`` registers do.
    """

    slot: int
    word: int
    i32: int
    f32: float
    i64: int | None
    f64: float | None

    @property
    def name(self) -> str:
        return f"%i{self.slot}"


@dataclasses.dataclass(frozen=True)
class RefInfo:
    """A ref register or global: type name, identity and a one-line summary."""

    slot: int
    type: str | None  # e.g. "hal.buffer_view"; None for a null ref
    identity: str | None  # "0x7f..." (Python object identity)
    summary: str

    @property
    def name(self) -> str:
        return f"%r{self.slot}"

    def __str__(self) -> str:
        if self.type is None:
            return "(null)"
        return f"!{self.type}/{self.identity} {self.summary}".rstrip()


def register_values(regs: Registers) -> list[RegisterValue]:
    """Every i32-bank slot with its raw word and i32/f32 (and i64/f64 pair) readings."""
    words = regs.raw_words()
    out = []
    n = len(words)
    for slot, word in enumerate(words):
        i32 = word - (1 << 32) if word & 0x80000000 else word
        f32 = float(np.uint32(word).view(np.float32))
        if slot % 2 == 0 and slot + 1 < n:
            raw = word | (words[slot + 1] << 32)
            i64 = raw - (1 << 64) if raw >> 63 else raw
            f64 = struct.unpack("<d", struct.pack("<Q", raw))[0]
        else:
            i64 = f64 = None
        out.append(RegisterValue(slot, word, i32, f32, i64, f64))
    return out


def identity(obj) -> str:
    return f"0x{id(obj):x}"


def ref_type_name(obj) -> str | None:
    if obj is None:
        return None
    ref_type = getattr(obj, "ref_type", None)
    return ref_type.name if ref_type is not None else type(obj).__name__


def _hex(data) -> str:
    return " ".join(f"{b:02x}" for b in bytes(data))


def summarize_ref(obj) -> str:
    """A one-line summary of a ref's contents (never raises)."""
    if obj is None:
        return "(null)"
    try:
        return _summary(obj)
    except Exception as e:  # a summary must never break a stop
        return f"<unreadable: {type(e).__name__}>"


def _summary(obj) -> str:
    from iree_lab.hal.buffer import Buffer as HALBuffer
    from iree_lab.hal.buffer_view import BufferView

    if isinstance(obj, VMBuffer):
        head = bytes(obj.data[:PREVIEW_BYTES])
        more = " ..." if obj.length > PREVIEW_BYTES else ""
        access = "rw" if obj.is_mutable else "ro"
        return f"length={obj.length} {access} [{_hex(head)}{more}]"
    if isinstance(obj, List):
        return f"size={len(obj)} element_type={obj.element_type.name}"
    if isinstance(obj, BufferView):
        values = np.asarray(obj.to_numpy()).reshape(-1)
        shown = ", ".join(_element(v) for v in values[:PREVIEW_ELEMENTS])
        more = ", ..." if values.size > PREVIEW_ELEMENTS else ""
        return f"#{obj.id} {obj.type_text} [{shown}{more}]"
    if isinstance(obj, HALBuffer):
        data = obj.contents()
        more = " ..." if obj.byte_length > PREVIEW_BYTES else ""
        return f"#{obj.id} length={obj.byte_length} [{_hex(data[:PREVIEW_BYTES])}{more}]"
    # Other HAL objects describe themselves (<hal.fence #3 [...]>): drop the brackets
    # and the type name the RefInfo already shows.
    text = repr(obj)
    name = ref_type_name(obj)
    if text.startswith(f"<{name}") and text.endswith(">"):
        text = text[len(name) + 1:-1].strip()
    return text if len(text) <= 120 else text[:117] + "..."


def _element(v) -> str:
    if isinstance(v, np.floating):
        return f"{float(v):g}"
    if isinstance(v, np.ndarray):  # opaque elements: bytes
        return _hex(v.reshape(-1))
    return str(v.item() if hasattr(v, "item") else v)


def ref_info(slot: int, obj) -> RefInfo:
    if obj is None:
        return RefInfo(slot, None, None, "(null)")
    return RefInfo(slot, ref_type_name(obj), identity(obj), summarize_ref(obj))


def ref_infos(regs: Registers) -> list[RefInfo]:
    return [ref_info(i, obj) for i, obj in enumerate(regs.RR)]


def trace_ref_text(obj) -> str | None:
    """A ref as IREE's trace prints it: ``!type/0x...`` (None for null)."""
    if obj is None:
        return None
    return f"!{ref_type_name(obj)}/{identity(obj)}"


def typed_value(kind: str, regs: Registers, slot: int):
    """A register read as ``i32``/``i64``/``f32``/``f64``/``ref`` (for expressions)."""
    if kind == "i32":
        return regs.i32(slot)
    if kind == "i64":
        return regs.i64(slot)
    if kind == "f32":
        return float(regs.f32(slot))
    if kind == "f64":
        return regs.f64(slot)
    if kind == "ref":
        return regs.ref(slot)
    raise ValueError(f"unknown register kind {kind!r}")


# -- Structural digests ----------------------------------------------------------------------


class Digest:
    """Hashes values structurally: refs by contents and first-visit order, never by id."""

    def __init__(self):
        self.h = hashlib.sha256()
        self.seen: dict[int, int] = {}
        self._keep = []  # keeps visited objects alive so ids stay unique

    def put(self, *parts) -> None:
        for p in parts:
            self.h.update(repr(p).encode())
            self.h.update(b"\x00")

    def ref(self, obj) -> None:
        from iree_lab.hal.buffer import Buffer as HALBuffer
        from iree_lab.hal.buffer_view import BufferView

        if obj is None:
            self.put("null")
            return
        key = id(obj)
        if key in self.seen:
            self.put("seen", self.seen[key])
            return
        self.seen[key] = len(self.seen)
        self._keep.append(obj)
        self.put("ref", ref_type_name(obj))
        if isinstance(obj, VMBuffer):
            self.put(obj.length, obj.is_mutable)
            self.h.update(bytes(obj.data))
        elif isinstance(obj, List):
            self.put(obj.element_type.name, len(obj))
            for i in range(len(obj)):
                vt = obj.element_value_type(i)
                value = obj.get_variant(i)
                if vt is None:
                    self.ref(value)
                elif vt in (ValueType.F32, ValueType.F64):
                    self.put(int(vt), struct.pack("<d", float(value)))
                else:
                    self.put(int(vt), int(value))
        elif isinstance(obj, BufferView):
            self.put(obj.shape, obj.element_type, obj.encoding_type)
            self.ref(obj.buffer)
        elif isinstance(obj, HALBuffer):
            self.put(obj.byte_offset, obj.byte_length)
            self.h.update(obj.contents().tobytes())
        else:
            ident = getattr(obj, "id", None)
            self.put(type(obj).__name__, ident if isinstance(ident, int) else None)

    def registers(self, regs: Registers) -> None:
        self.put("R", regs.raw_words())
        for obj in regs.RR:
            self.ref(obj)

    def hexdigest(self) -> str:
        return self.h.hexdigest()
