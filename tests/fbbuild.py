"""Test helper: builds FlatBuffers of our schemas from nested Python values.

Used to make modules that no compiler emits (rwdata, unusual flags, odd
strings, every location kind) for differential tests against
iree-dump-module, whose flatcc reader uses IREE's own schema: a wrong slot in
our layouts would show up as a difference.

Values: ``{"field": value}`` for tables, ``Struct("Type", {...})`` for
structs, lists for vectors, ``str``/``bytes`` for strings (``bytes`` also for
uint8 vectors), ``Union(tag, {...})`` for union fields (the ``<field>_type``
slot is filled in), ``Present(v)`` to store a scalar even when it equals the
default.
"""

from __future__ import annotations

import struct

import flatbuffers

from iree_lab.format.generated import layouts

_PREPEND = {"?": "Bool", "b": "Int8", "B": "Uint8", "h": "Int16", "H": "Uint16",
            "i": "Int32", "I": "Uint32", "q": "Int64", "Q": "Uint64", "f": "Float32",
            "d": "Float64"}


class Struct:
    def __init__(self, type_name: str, values: dict):
        self.type_name = type_name
        self.values = values


class Union:
    def __init__(self, tag: int, type_name: str, values: dict):
        self.tag = tag
        self.type_name = type_name
        self.values = values


class Present:
    def __init__(self, value):
        self.value = value


class RawOffsets:
    """A vector of tables of mixed types (vector of unions): [(type_name, values) | None]."""

    def __init__(self, items):
        self.items = items


def _struct(builder, s: Struct):
    layout = layouts.STRUCTS[s.type_name]
    builder.Prep(layout["align"], layout["size"])
    # Structs are written back to front.
    fields = sorted(layout["fields"].items(), key=lambda kv: kv[1][0], reverse=True)
    end = layout["size"]
    for name, (offset, fmt, *_) in fields:
        size = struct.calcsize(fmt)
        builder.Pad(end - (offset + size))
        getattr(builder, "Prepend" + _PREPEND[fmt])(s.values.get(name, 0))
        end = offset
    builder.Pad(end)
    return builder.Offset()


def _vector(builder, element, items):
    kind = element[0]
    if kind == "scalar":
        if element[1] == "B" and isinstance(items, (bytes, bytearray)):
            return builder.CreateByteVector(bytes(items))
        size = struct.calcsize(element[1])
        builder.StartVector(size, len(items), size)
        for item in reversed(items):
            getattr(builder, "Prepend" + _PREPEND[element[1]])(item)
        return builder.EndVector()
    if kind == "struct":
        layout = layouts.STRUCTS[element[1]]
        builder.StartVector(layout["size"], len(items), layout["align"])
        for item in reversed(items):
            _struct(builder, Struct(element[1], item))
        return builder.EndVector()
    if kind == "string":
        offsets = [builder.CreateString(item) for item in items]
    elif isinstance(items, RawOffsets):
        offsets = [None if item is None else table(builder, *item) for item in items.items]
    else:
        offsets = [table(builder, element[1], item) for item in items]
    builder.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        if offset is None:  # a NONE element of a vector of unions
            builder.PrependUint32(0)
        else:
            builder.PrependUOffsetTRelative(offset)
    return builder.EndVector()


def table(builder, type_name: str, values: dict) -> int:
    layout = layouts.TABLES[type_name]
    # Children first: FlatBuffers cannot nest object construction.
    refs = {}
    for name, value in values.items():
        kind = layout[name][1]
        if kind == "string":
            refs[name] = builder.CreateString(value)
        elif kind == "vector":
            refs[name] = _vector(builder, layout[name][2], value)
        elif kind == "table":
            refs[name] = table(builder, layout[name][2], value)
        elif kind == "union":
            refs[name] = table(builder, value.type_name, value.values)
    slots = max((spec[0] - 4) // 2 for spec in layout.values()) + 1 if layout else 0
    builder.StartObject(slots)
    for name, value in values.items():
        voffset, kind, arg, default = layout[name][:4]
        slot = (voffset - 4) // 2
        if kind == "scalar":
            prepend = getattr(builder, f"Prepend{_PREPEND[arg]}Slot")
            if isinstance(value, Present):
                builder.ForceDefaults(True)
                prepend(slot, value.value, default)
                builder.ForceDefaults(False)
            else:
                prepend(slot, value, default)
        elif kind == "struct":
            _struct(builder, value)
            builder.Slot(slot)
        elif kind == "union":
            tag_slot = slot - 1
            builder.PrependUint8Slot(tag_slot, value.tag, 0)
            builder.PrependUOffsetTRelativeSlot(slot, refs[name], 0)
        else:
            builder.PrependUOffsetTRelativeSlot(slot, refs[name], 0)
    return builder.EndObject()


def module_bytes(values: dict) -> bytes:
    """A size-prefixed ``IREE`` module FlatBuffer (what iree-as-module writes)."""
    builder = flatbuffers.Builder(1024)
    root = table(builder, "iree.vm.BytecodeModuleDef", values)
    builder.FinishSizePrefixed(root, file_identifier=b"IREE")
    return bytes(builder.Output())
