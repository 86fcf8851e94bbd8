"""Moving values between registers and calls, by calling convention.

IREE marshals call arguments and results by the callee's (or the import's)
calling convention: each register-list entry is one argument, an i64/f64 entry
names the even register of its pair, refs are retained or moved according to
the move bit, and variadic spans (``C...D``) take their element count from the
call's segment sizes. These helpers do the same over Python register lists and
are shared by both execution tiers and the host API.
"""

from __future__ import annotations

import numpy as np

from iree_lab.isa import tables as T
from iree_lab.vm.ops import f64_hi
from iree_lab.vm.ref import RefObject
from iree_lab.vm.status import StatusCode, VMStatus
from iree_lab.vm.value import cconv_register_layout, coerce_value, i32, i64

TYPE_BIT = T.REF_REGISTER_TYPE_BIT
MOVE_BIT = T.REF_REGISTER_MOVE_BIT
REF_MASK = T.REF_REGISTER_MASK


def argument_count(fragment: str) -> int:
    """How many arguments a cconv fragment takes: a variadic span ``C...D`` is one (a list)."""
    count = 0
    in_span = False
    for ch in fragment:
        if ch == "C":
            in_span = True
            count += 1
        elif ch == "D":
            in_span = False
        elif not in_span:
            count += 1
    return count


def read_arg(ch: str, raw: int, R, RR):
    """Reads one argument of cconv type ``ch`` from register ``raw`` (moving refs)."""
    if ch == "r":
        slot = raw & REF_MASK
        value = RR[slot]
        if raw & MOVE_BIT:
            RR[slot] = None
        return value
    return R[raw]


def operand_layout(fragment: str, regs, segment_sizes=None) -> list:
    """The registers of each argument of ``fragment`` in call operand list ``regs``:
    ``(ch, register)``, or for a variadic span ``C...D`` ``("span", width, elements)``
    with one ``[(ch, register), ...]`` per element (its count from ``segment_sizes``)."""
    layout = []
    reg_i = 0
    seg_i = 0
    i = 0
    n = len(fragment)
    while i < n:
        ch = fragment[i]
        if ch == "C":
            end = fragment.index("D", i)
            span = fragment[i + 1 : end]
            count = segment_sizes[seg_i] if segment_sizes is not None else 0
            elements = []
            for _ in range(count):
                elements.append([(sch, regs[reg_i + m]) for m, sch in enumerate(span)])
                reg_i += len(span)
            layout.append(("span", len(span), elements))
            i = end + 1
        else:
            layout.append((ch, regs[reg_i]))
            reg_i += 1
            i += 1
        seg_i += 1
    return layout


def gather(fragment: str, regs, R, RR, segment_sizes=None) -> list:
    """Argument values for ``fragment`` from register list ``regs`` (in order, so a ref
    moved by one argument reads null in a later one)."""
    values = []
    for arg in operand_layout(fragment, regs, segment_sizes):
        if arg[0] == "span":
            items = []
            for element in arg[2]:
                read = [read_arg(ch, raw, R, RR) for ch, raw in element]
                items.append(read[0] if arg[1] == 1 else tuple(read))
            values.append(items)
        else:
            values.append(read_arg(arg[0], arg[1], R, RR))
    return values


def write_value(ch: str, raw: int, value, R, RR) -> None:
    """Stores a result of cconv type ``ch`` into register ``raw`` (with the pair's high word)."""
    if ch == "i" or ch == "f":
        R[raw] = value
    elif ch == "I":
        R[raw] = value
        R[raw + 1] = value >> 32
    elif ch == "F":
        R[raw] = value
        R[raw + 1] = f64_hi(value)
    elif ch == "r":
        RR[raw & REF_MASK] = value


def scatter(fragment: str, values, regs, R, RR) -> None:
    """Writes result ``values`` into register list ``regs`` (as many as both have)."""
    for k in range(min(len(fragment), len(regs), len(values))):
        write_value(fragment[k], regs[k], values[k], R, RR)


def place_arguments(fragment: str, values, R, RR) -> None:
    """Places entry arguments into a fresh frame's ABI registers."""
    for (ch, reg), value in zip(cconv_register_layout(fragment), values, strict=False):
        if ch == "r":
            RR[reg] = value
        else:
            write_value(ch, reg, value, R, RR)


def read_results(fragment: str, regs, R, RR) -> list:
    """The values a ``vm.return`` with operand list ``regs`` returns (moving refs)."""
    return [read_arg(ch, raw, R, RR) for ch, raw in zip(fragment, regs, strict=False)]


def argument_plan(fragment: str, operands) -> list[tuple[int, int, int]]:
    """(kind, caller register, callee register) per argument of an internal call: the
    callee's ABI registers take the caller's slots as they are (an i64's high word too).

    kind: 0 = 32-bit slot, 1 = 64-bit pair (both slots), 2 = ref retained, 3 = ref moved
    (the caller's register is emptied when it is read, so a later argument naming the
    same register reads null).
    """
    plan = []
    for (ch, reg), raw in zip(cconv_register_layout(fragment), operands, strict=False):
        plan.append(_slot_move(ch, raw, reg))
    return plan


def result_plan(fragment: str, operands, results) -> list[tuple[int, int, int]]:
    """(kind, callee register, caller register) per result of an internal call's
    ``vm.return`` (kinds as in :func:`argument_plan`), as many as all three have."""
    return [_slot_move(ch, src, dst)
            for ch, src, dst in zip(fragment, operands, results, strict=False)]  # fmt: skip


def _slot_move(ch: str, src: int, dst: int) -> tuple[int, int, int]:
    if ch == "r":
        return (3 if src & MOVE_BIT else 2, src & REF_MASK, dst & REF_MASK)
    return (1 if ch in "IF" else 0, src, dst)


def coerce(fragment: str, values, what: str) -> list:
    """Converts host values to VM values of ``fragment`` (spans: lists)."""
    out = []
    i = 0
    k = 0
    n = len(fragment)
    while i < n:
        ch = fragment[i]
        if k >= len(values):
            raise VMStatus(StatusCode.INVALID_ARGUMENT,
                           f"{what}: expected more values for cconv {fragment!r}")
        value = values[k]
        if ch == "C":
            end = fragment.index("D", i)
            span = fragment[i + 1 : end]
            items = []
            for element in value:
                if len(span) == 1:
                    items.append(coerce_one(span, element, what))
                else:
                    items.append(tuple(coerce_one(s, e, what)
                                       for s, e in zip(span, element, strict=True)))
            out.append(items)
            i = end + 1
        else:
            out.append(coerce_one(ch, value, what))
            i += 1
        k += 1
    return out


def coerce_one(ch: str, value, what: str):
    if ch == "r":
        if value is not None and not isinstance(value, RefObject):
            raise VMStatus(StatusCode.INVALID_ARGUMENT,
                           f"{what}: expected a ref (or None), got {type(value).__name__}")
        return value
    try:
        return coerce_value(ch, value)
    except (TypeError, ValueError, OverflowError) as e:
        raise VMStatus(StatusCode.INVALID_ARGUMENT, f"{what}: {e}") from None


def normalize_native_results(fragment: str, result) -> list:
    """A native function's return value as a list of VM values of ``fragment``."""
    if not fragment:
        return []
    values = list(result) if len(fragment) > 1 else [result]
    if len(values) < len(fragment):
        raise VMStatus(StatusCode.INTERNAL,
                       f"native function returned {len(values)} values, cconv needs "
                       f"{len(fragment)}")
    out = []
    for ch, value in zip(fragment, values, strict=False):
        if ch == "i":
            out.append(i32(int(value)))
        elif ch == "I":
            out.append(i64(int(value)))
        elif ch == "f":
            out.append(np.float32(value))
        elif ch == "F":
            out.append(float(value))
        else:
            out.append(coerce_one("r", value, "native result"))
    return out
