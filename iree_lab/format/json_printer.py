"""FlatBuffer -> JSON text, exactly as flatcc's JSON printer writes it.

``iree-dump-module --output=flatbuffer-json [--pretty]`` prints a module with
flatcc's generated printer (skip defaults on). This reproduces that text from
the generated layouts: fields in id order; scalars equal to their default or
absent are skipped; enums by name (bit flags as a quoted, space-separated
list in declaration order, or a number when zero or when unknown bits are
set); union types by member name (``"NONE"`` for unknown tags, whose values
print nothing); struct members always printed; strings escaped like flatcc
(control characters, ``"`` and ``\\``; other bytes raw). ``pretty`` uses
flatcc's 2-space layout, including its quirks (``[{`` for table vectors,
one scalar per line).

The buffer should be verified first (:meth:`Module.verify_flatbuffer`), as
iree-dump-module does; reads still go through the checked accessors.
"""

from __future__ import annotations

from iree_lab.format.flatbuffer import STRUCTS, UNIONS, Buffer, StructView, Table, Vector
from iree_lab.format.flatbuffer_rules import UNION_VECTORS
from iree_lab.format.generated import layouts

_ENUMS = layouts.ENUMS
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\t": "\\t", "\f": "\\f", "\r": "\\r", "\n": "\\n",
            "\b": "\\b"}


def _escape(text: str) -> str:
    if not any(c < " " or c in '"\\' for c in text):
        return text
    out = []
    for c in text:
        if c < " " or c in '"\\':
            out.append(_ESCAPES.get(c) or f"\\u00{ord(c):02x}")
        else:
            out.append(c)
    return "".join(out)


class _Printer:
    def __init__(self, pretty: bool):
        self.indent = 2 if pretty else 0
        self.level = 0
        self.out: list[str] = []

    # flatcc's print_start / print_end / print_nl / print_name.
    def start(self, c: str) -> None:
        self.level += 1
        self.out.append(c)

    def end(self, c: str) -> None:
        if self.indent:
            self.level -= 1
            self.out.append("\n" + " " * (self.level * self.indent))
        self.out.append(c)

    def nl(self) -> None:
        if self.indent:
            self.out.append("\n" + " " * (self.level * self.indent))

    def name(self, name: str) -> None:
        self.nl()
        self.out.append(f'"{name}":' + (" " if self.indent else ""))

    # -- values ---------------------------------------------------------------

    def scalar(self, value, fmt: str, enum: str | None) -> str:
        if enum is not None:
            return _enum_text(value, enum)
        if fmt == "?":
            return "true" if value else "false"
        if fmt in "fd":
            # flatcc prints floats with grisu3; no field of IREE's schemas is a float
            # (tests/test_dump_metadata.py checks the layouts), so none is ever printed.
            raise ValueError(f"float field in JSON output ({fmt!r}): no IREE schema has one")
        return str(value)

    def table(self, t: Table) -> None:
        self.start("{")
        count = 0
        fields = list(t.layout.items())
        for i, (name, spec) in enumerate(fields):
            kind = spec[1]
            nxt = fields[i + 1][1] if i + 1 < len(fields) else None
            if kind == "scalar":
                if nxt is not None and nxt[1] == "union" and name.endswith("_type"):
                    continue  # printed with its union
                if not t.has(name):
                    continue
                value = t.scalar(name)
                if value == spec[3]:
                    continue
                count = self._sep(count)
                self.name(name)
                self.out.append(self.scalar(value, spec[2], spec[5]))
            elif kind == "string":
                value = t.string(name)
                if value is None:
                    continue
                count = self._sep(count)
                self.name(name)
                self.out.append(f'"{_escape(value)}"')
            elif kind == "table":
                child = t.table(name)
                if child is None:
                    continue
                count = self._sep(count)
                self.name(name)
                self.table(child)
            elif kind == "struct":
                view = t.struct(name)
                if view is None:
                    continue
                count = self._sep(count)
                self.name(name)
                self.struct(view)
            elif kind == "union":
                count = self._union(t, name, spec, count)
            else:
                element = spec[2]
                if (element[0] == "scalar" and nxt is not None and nxt[1] == "vector"
                        and nxt[2][0] == "table" and nxt[2][1] in UNION_VECTORS):
                    continue  # the tag vector of a vector of unions, printed with it
                if element[0] == "table" and element[1] in UNION_VECTORS:
                    count = self._union_vector(t, fields[i - 1][0], name, element[1], count)
                    continue
                vec = t.vector(name)
                if vec is None:
                    continue
                count = self._sep(count)
                self.name(name)
                self.vector(vec)
        self.end("}")

    def _sep(self, count: int) -> int:
        if count:
            self.out.append(",")
        return count + 1

    def struct(self, view: StructView) -> None:
        self.start("{")
        layout = STRUCTS[view.type_name]["fields"]
        for index, (name, (_offset, fmt, enum)) in enumerate(layout.items()):
            if index:
                self.out.append(",")
            self.name(name)
            self.out.append(self.scalar(getattr(view, name), fmt, enum))
        self.end("}")

    def vector(self, vec: Vector) -> None:
        element = vec.element
        kind = element[0]
        self.start("[")
        for i, item in enumerate(vec):
            if kind == "table":
                if i:
                    self.out.append(",")
                self.table(item)
                continue
            if i:
                self.out.append(",")
            self.nl()
            if kind == "scalar":
                self.out.append(self.scalar(item, element[1],
                                            element[2] if len(element) > 2 else None))
            elif kind == "string":
                self.out.append(f'"{_escape(item)}"')
            else:
                self.struct(item)
        self.end("]")

    def _union(self, t: Table, name: str, spec, count: int) -> int:
        if not (t.has(name) and t.has(f"{name}_type")):
            return count
        tag = t.scalar(f"{name}_type")
        members = UNIONS[spec[2]]
        count = self._sep(count)
        self.name(f"{name}_type")
        self.out.append(_union_type_text(tag, members))
        if tag != 0:
            self.out.append(",")
            self.name(name)
            member = members.get(tag)
            if member is not None:
                self.table(t.union(name))
        return count

    def _union_vector(self, t: Table, type_name: str, name: str, element: str,
                      count: int) -> int:
        types, values = t.vector(type_name), t.vector(name)
        if types is None or values is None:
            return count
        members = UNION_VECTORS[element]
        count = self._sep(count)
        self.name(type_name)
        self.start("[")
        for i, tag in enumerate(types):
            if i:
                self.out.append(",")
            self.nl()
            self.out.append(_union_type_text(tag, members))
        self.end("]")
        count = self._sep(count)
        self.name(name)
        self.start("[")
        for i in range(len(values)):
            if i:
                self.out.append(",")
            tag = types[i]  # verified: one tag per value
            if tag == 0:
                self.out.append("null")
            elif tag in members:
                self.table(values.table_at(i, members[tag]))
        self.end("]")
        return count


def _enum_text(value: int, enum_name: str) -> str:
    enum = _ENUMS[enum_name]
    values = enum["values"]
    if enum["bit_flags"]:
        known = 0
        for bit in values.values():
            known |= bit
        if value == 0 or value & ~known:
            return str(value)
        names = [name for name, bit in values.items() if value & bit]
        return '"' + " ".join(names) + '"'
    for name, member in values.items():
        if member == value:
            return f'"{name}"'
    return str(value)


def _union_type_text(tag: int, members: dict[int, str]) -> str:
    member = members.get(tag)
    return f'"{member.rsplit(".", 1)[-1]}"' if member is not None else '"NONE"'


def flatbuffer_json(buf: Buffer, root_type: str, *, pretty: bool = False) -> str:
    """The JSON flatcc's printer writes for a (verified) FlatBuffer."""
    printer = _Printer(pretty)
    printer.table(buf.root(root_type))
    if pretty:
        printer.out.append("\n")
    return "".join(printer.out)
