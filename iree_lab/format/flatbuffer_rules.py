"""FlatBuffer layout rules (flatcc ``verifier.c``), each defined once.

The scalar verifier (verifier.py), its numpy form (fast_verifier.py) and the
checked lazy accessors (flatbuffer.py) all apply these rules; each caller keeps
its own error text (flatcc's reasons for the verifiers, a path and extent for
the accessors). A rule is a predicate written with ``&``, ``|`` and
comparisons only, so the same definition checks one position (ints) or many
at once (numpy arrays).

:func:`verification_plan` is the other half: which rule applies to which field
of each table type, in flatcc's order (field id order), from the generated
layouts.
"""

from __future__ import annotations

from iree_lab.format.generated import layouts

UOFFSET_MAX = 0xFFFFFFFF  # flatbuffers' uoffset_t: offsets and sizes are 32-bit
VTABLE_MIN_SIZE = 4  # a vtable's own header: its size and its table's size (2 x u16)
MAX_LEVELS = 100  # FLATCC_VERIFIER_MAX_LEVELS
SCALAR_SIZE = {"?": 1, "b": 1, "B": 1, "h": 2, "H": 2, "i": 4, "I": 4, "q": 8, "Q": 8,
               "f": 4, "d": 8}
# The value vectors of vectors of unions, spelled [Tag] + [LocationRef] in our schemas
# (see bytecode_module_def.fbs): element type -> {tag: member table}.
UNION_VECTORS = {
    "iree.vm.LocationRef": {
        value: f"iree.vm.{name}"
        for name, value in layouts.ENUMS["iree.vm.LocationTypeDef"]["values"].items() if value
    },
}


def offset_ok(pos, offset, end):
    """flatcc ``check_header``: the uoffset ``offset`` stored at ``pos`` is non-null and
    its target is 4-aligned with room for a uoffset before ``end``."""
    target = pos + offset
    return (offset != 0) & (target + 4 <= end) & ((target & 3) == 0)


def vtable_position_ok(vtable):
    """A table's soffset leads to a 2-aligned vtable (``vtable`` taken as a uoffset)."""
    return (vtable < 0x80000000) & ((vtable & 1) == 0)


def vtable_header_in_buffer(vtable, end):
    """The vtable's size field lies before ``end``."""
    return vtable + 2 <= end


def vtable_size_ok(vtable, vsize, end):
    """The vtable's ``vsize`` bytes lie before ``end`` and ``vsize`` is even (u16 entries);
    :data:`VTABLE_MIN_SIZE` is the separate lower bound."""
    return (vtable + vsize <= end) & ((vsize & 1) == 0)


def table_size_ok(table, tsize, end):
    """The table's inline ``tsize`` bytes lie before ``end``."""
    return end - table >= tsize


def field_in_table(vte, size, tsize):
    """A field at vtable entry ``vte`` with ``size`` bytes lies inside its table."""
    return vte + size <= tsize


def aligned(address, align):
    """``address`` is a multiple of ``align`` (a power of two)."""
    return (address & (align - 1)) == 0


def string_in_buffer(chars, length, end):
    """A string's ``length`` bytes at ``chars`` and its NUL terminator lie before ``end``."""
    return end - chars > length


def vector_aligned(elements, count, align):
    """A vector's elements start 4-aligned (its count is a uoffset) and, when there are
    any, aligned to the element's alignment."""
    return ((elements & 3) == 0) & ((count == 0) | ((elements & (align - 1)) == 0))


def vector_count_ok(count, elem_size):
    """``count`` elements of ``elem_size`` bytes fit a uoffset-sized vector."""
    return count <= UOFFSET_MAX // elem_size


def vector_in_buffer(elements, count, elem_size, end):
    """A vector's ``count * elem_size`` element bytes lie before ``end``."""
    return end - elements >= count * elem_size


class VerificationPlan:
    """Per table type: the checks flatcc's generated verifier runs, in field id order.

    Steps: ``("field", name, voffset, size, align, required)``, ``("string", name,
    voffset, required)``, ``("table", name, voffset, required, type)``, ``("union", name,
    voffset, required, members)``, ``("vector", name, voffset, required, size, align)``,
    ``("string_vector", ...)``, ``("union_vector", name, voffset, required,
    type_voffset, members)`` and ``("table_vector", name, voffset, required, type)``.
    """

    __slots__ = ("steps",)

    def __init__(self, type_name: str):
        fields = list(layouts.TABLES[type_name].items())
        steps = []
        for i, (name, spec) in enumerate(fields):
            voffset, kind, arg, required = spec[0], spec[1], spec[2], spec[4]
            nxt = fields[i + 1][1] if i + 1 < len(fields) else None
            if kind == "scalar":
                if nxt is not None and nxt[1] == "union" and name.endswith("_type"):
                    continue  # checked by the union that follows
                size = SCALAR_SIZE[arg]
                steps.append(("field", name, voffset, size, size, required))
            elif kind == "struct":
                s = layouts.STRUCTS[arg]
                steps.append(("field", name, voffset, s["size"], s["align"], required))
            elif kind == "string":
                steps.append(("string", name, voffset, required))
            elif kind == "table":
                steps.append(("table", name, voffset, required, arg))
            elif kind == "union":
                steps.append(("union", name, voffset, required, layouts.UNIONS[arg]))
            elif kind == "vector":
                ekind = arg[0]
                if (ekind == "scalar" and nxt is not None and nxt[1] == "vector"
                        and nxt[2][0] == "table" and nxt[2][1] in UNION_VECTORS):
                    continue  # the tag vector of a vector of unions
                if ekind == "scalar":
                    size = SCALAR_SIZE[arg[1]]
                    steps.append(("vector", name, voffset, required, size, size))
                elif ekind == "struct":
                    s = layouts.STRUCTS[arg[1]]
                    steps.append(("vector", name, voffset, required, s["size"], s["align"]))
                elif ekind == "string":
                    steps.append(("string_vector", name, voffset, required))
                elif arg[1] in UNION_VECTORS:
                    steps.append(("union_vector", name, voffset, required, fields[i - 1][1][0],
                                  UNION_VECTORS[arg[1]]))
                else:
                    steps.append(("table_vector", name, voffset, required, arg[1]))
        self.steps = tuple(steps)


_PLANS: dict[str, VerificationPlan] = {}


def verification_plan(type_name: str) -> VerificationPlan:
    """The checks of one table type in field order (built once, shared by both verifiers)."""
    plan = _PLANS.get(type_name)
    if plan is None:
        plan = _PLANS[type_name] = VerificationPlan(type_name)
    return plan
