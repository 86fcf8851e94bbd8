"""Code templates: one place that says what every straight-line VM op does.

Both execution tiers are generated from these templates: the stepping
interpreter compiles each instruction into a tiny function over register lists
(``R[3]``), the fast tier compiles whole functions over Python locals (``i3``).
Generated code is built only from our templates and validated numbers (register
ordinals, offsets, counts); every other value a module supplies (strings,
floats, types, rodata) enters through :class:`ConstantPool` names.

Register representation (see :mod:`iree_lab.vm.value`): a 32-bit slot holds an
``int`` (i32) or ``numpy.float32`` (f32); an i64/f64 register pair keeps the
full value in its even slot and, where a naming asks for it, the high word
(as a signed i32) in the odd slot so the raw 32-bit view stays exact.
"""

from __future__ import annotations

import abc
import struct

import numpy as np

from iree_lab.isa import tables as T
from iree_lab.vm import libm, ops
from iree_lab.vm.buffer import Buffer
from iree_lab.vm.list import List
from iree_lab.vm.status import StatusCode, VMStatus
from iree_lab.vm.value import ValueType

REF_MASK = T.REF_REGISTER_MASK
MOVE_BIT = T.REF_REGISTER_MOVE_BIT
TYPE_BIT = T.REF_REGISTER_TYPE_BIT

# Names every generated module can use.
RUNTIME = {
    "_VMStatus": VMStatus,
    "_SC": StatusCode,
    "_Buffer": Buffer,
    "_List": List,
    "_ops": ops,
    "_np": np,
    "_f32": np.float32,
    "_L32": libm.F32,
    "_L64": libm.F64,
    "_VT": ValueType,
}

W32 = "if not -2147483648 <= {d} <= 2147483647: {d} = (({d} + 2147483648) & 4294967295) - 2147483648"
W64 = (
    "if not -9223372036854775808 <= {d} <= 9223372036854775807: "
    "{d} = (({d} + 9223372036854775808) & 18446744073709551615) - 9223372036854775808"
)


class ConstantPool:
    """Objects referenced by generated code, named ``K0``, ``K1``, ..."""

    def __init__(self, prefix: str = "K"):
        self.prefix = prefix
        self.values: list = []
        self._index: dict = {}

    def name(self, value) -> str:
        key = (type(value), id(value)) if not _hashable(value) else (type(value), value)
        index = self._index.get(key)
        if index is None:
            index = self._index[key] = len(self.values)
            self.values.append(value)
        return f"{self.prefix}{index}"

    def namespace(self) -> dict:
        return {f"{self.prefix}{i}": v for i, v in enumerate(self.values)}


def _hashable(value) -> bool:
    if isinstance(value, float | np.floating):
        return False  # nan != nan; -0.0 == 0.0
    try:
        hash(value)
    except TypeError:
        return False
    return True


class Naming(abc.ABC):
    """How generated code spells registers; subclasses pick lists or locals."""

    @abc.abstractmethod
    def i(self, slot: int) -> str:  # 32-bit slot, or the full value of a pair
        ...

    @abc.abstractmethod
    def r(self, slot: int) -> str:
        ...

    def wants_hi(self, slot: int) -> bool:
        """Whether a 64-bit write to ``slot`` must also store the high word."""
        return True


class ListNaming(Naming):
    """Registers as ``R[n]`` / ``RR[n]`` (the stepping interpreter)."""

    def i(self, slot: int) -> str:
        return f"R[{slot}]"

    def r(self, slot: int) -> str:
        return f"RR[{slot}]"


class EmitContext:
    """What templates need beyond the instruction: constants and module facts."""

    def __init__(self, consts: ConstantPool, *, types, rodata, state_name: str = "S",
                 op_label: str = ""):
        self.consts = consts
        self.types = types  # list[TypeDef], index = type id
        self.rodata = rodata  # list of Buffer, index = rodata ordinal
        self.state = state_name  # name of the module state object in generated code
        self.op_label = op_label

    def const(self, value) -> str:
        return self.consts.name(value)

    def type_def(self, type_id: int):
        # iree_vm_map_type clamps out-of-range ids to 0 (the verifier rejects them).
        types = self.types
        return types[type_id] if type_id < len(types) else types[0]


# -----------------------------------------------------------------------------------------
# Helpers producing lines
# -----------------------------------------------------------------------------------------


def _set32(n: Naming, slot: int, expr: str, wrap: bool = False) -> list[str]:
    d = n.i(slot)
    lines = [f"{d} = {expr}"]
    if wrap:
        lines.append(W32.format(d=d))
    return lines


def _set64(n: Naming, slot: int, expr: str, wrap: bool = False) -> list[str]:
    d = n.i(slot)
    if not n.wants_hi(slot):
        lines = [f"{d} = {expr}"]
        if wrap:
            lines.append(W64.format(d=d))
        return lines
    lines = [f"_t = {expr}"]
    if wrap:
        lines.append(W64.format(d="_t"))
    lines.append(f"{d} = _t")
    lines.append(f"{n.i(slot + 1)} = _t >> 32")
    return lines


def _setf64(n: Naming, slot: int, expr: str) -> list[str]:
    d = n.i(slot)
    if not n.wants_hi(slot):
        return [f"{d} = {expr}"]
    return [f"_t = {expr}", f"{d} = _t", f"{n.i(slot + 1)} = _ops.f64_hi(_t)"]


def _bool(expr: str) -> str:
    return f"1 if {expr} else 0"


# -----------------------------------------------------------------------------------------
# Op tables
# -----------------------------------------------------------------------------------------

# i32 binary ops: symbol -> (expression over {a},{b}, needs wrap)
_I32_BINARY = {
    "AddI32": ("{a} + {b}", True),
    "SubI32": ("{a} - {b}", True),
    "MulI32": ("{a} * {b}", True),
    "AndI32": ("{a} & {b}", False),
    "OrI32": ("{a} | {b}", False),
    "XorI32": ("{a} ^ {b}", False),
    "MinI32S": ("{b} if {b} < {a} else {a}", False),
    "MaxI32S": ("{b} if {a} < {b} else {a}", False),
    "MinI32U": ("{b} if ({b} & 4294967295) < ({a} & 4294967295) else {a}", False),
    "MaxI32U": ("{b} if ({a} & 4294967295) < ({b} & 4294967295) else {a}", False),
    "ShlI32": ("{a} << ({b} & 31)", True),
    "ShrI32S": ("{a} >> ({b} & 31)", False),
    "ShrI32U": ("({a} & 4294967295) >> ({b} & 31)", True),
    "CmpEQI32": (_bool("{a} == {b}"), False),
    "CmpNEI32": (_bool("{a} != {b}"), False),
    "CmpLTI32S": (_bool("{a} < {b}"), False),
    "CmpLTI32U": (_bool("({a} & 4294967295) < ({b} & 4294967295)"), False),
}
_I64_BINARY = {
    "AddI64": ("{a} + {b}", True),
    "SubI64": ("{a} - {b}", True),
    "MulI64": ("{a} * {b}", True),
    "AndI64": ("{a} & {b}", False),
    "OrI64": ("{a} | {b}", False),
    "XorI64": ("{a} ^ {b}", False),
    "MinI64S": ("{b} if {b} < {a} else {a}", False),
    "MaxI64S": ("{b} if {a} < {b} else {a}", False),
    "MinI64U": (
        "{b} if ({b} & 18446744073709551615) < ({a} & 18446744073709551615) else {a}", False
    ),
    "MaxI64U": (
        "{b} if ({a} & 18446744073709551615) < ({b} & 18446744073709551615) else {a}", False
    ),
    "ShlI64": ("{a} << ({b} & 63)", True),
    "ShrI64S": ("{a} >> ({b} & 63)", False),
    "ShrI64U": ("({a} & 18446744073709551615) >> ({b} & 63)", True),
}
# i64 comparisons produce an i32.
_I64_CMP = {
    "CmpEQI64": _bool("{a} == {b}"),
    "CmpNEI64": _bool("{a} != {b}"),
    "CmpLTI64S": _bool("{a} < {b}"),
    "CmpLTI64U": _bool("({a} & 18446744073709551615) < ({b} & 18446744073709551615)"),
}
_I32_UNARY = {
    "NotI32": ("~{a}", False),
    "AbsI32": ("-{a} if {a} < 0 else {a}", True),
    "CtlzI32": ("_ops.ctlz32({a})", False),
    "TruncI32I8": ("{a} & 255", False),
    "TruncI32I16": ("{a} & 65535", False),
    "ExtI8I32S": ("(({a} + 128) & 255) - 128", False),
    "ExtI8I32U": ("{a} & 255", False),
    "ExtI16I32S": ("(({a} + 32768) & 65535) - 32768", False),
    "ExtI16I32U": ("{a} & 65535", False),
    "CmpNZI32": (_bool("{a} != 0"), False),
}
_I64_UNARY = {
    "NotI64": ("~{a}", False),
    "AbsI64": ("-{a} if {a} < 0 else {a}", True),
    "CtlzI64": ("_ops.ctlz64({a})", False),
}
# f32 binary ops over numpy float32 scalars.
_F32_BINARY = {
    "AddF32": "{a} + {b}",
    "SubF32": "{a} - {b}",
    "MulF32": "{a} * {b}",
    "DivF32": "{a} / {b}",
    "RemF32": "_L32['remainder']({a}, {b})",
    "MinF32": "{b} if {b} < {a} else {a}",
    "MaxF32": "{b} if {a} < {b} else {a}",
    "Atan2F32": "_L32['atan2']({a}, {b})",
    "PowF32": "_L32['pow']({a}, {b})",
    "FPowI32": "_ops.fpowi_f32({a}, {b})",  # {b}: the i64 exponent (even slot)
}
_NAN_ARITH = frozenset({"AddF32", "SubF32", "MulF32", "DivF32", "AddF64", "SubF64", "MulF64",
                        "DivF64"})
_F64_BINARY = {
    "AddF64": "{a} + {b}",
    "SubF64": "{a} - {b}",
    "MulF64": "{a} * {b}",
    "DivF64": "({a} / {b} if {b} else _ops.div_f64({a}, {b}))",
    "RemF64": "_L64['remainder']({a}, {b})",
    "MinF64": "{b} if {b} < {a} else {a}",
    "MaxF64": "{b} if {a} < {b} else {a}",
    "Atan2F64": "_L64['atan2']({a}, {b})",
    "PowF64": "_L64['pow']({a}, {b})",
    "FPowI64": "_ops.fpowi_f64({a}, {b})",
}
_F32_UNARY = {
    "AbsF32": "abs({a})",
    "NegF32": "-{a}",
    "CeilF32": "_L32['ceil']({a})",
    "FloorF32": "_L32['floor']({a})",
    "RoundF32": "_L32['round']({a})",
    "RoundF32Even": "_ops.round_f32_even({a})",
    "AtanF32": "_L32['atan']({a})",
    "CosF32": "_L32['cos']({a})",
    "SinF32": "_L32['sin']({a})",
    "ExpF32": "_L32['exp']({a})",
    "Exp2F32": "_L32['exp2']({a})",
    "ExpM1F32": "_L32['expm1']({a})",
    "LogF32": "_L32['log']({a})",
    "Log10F32": "_L32['log10']({a})",
    "Log1pF32": "_L32['log1p']({a})",
    "Log2F32": "_L32['log2']({a})",
    "RsqrtF32": "_ops.rsqrt_f32({a})",
    "SqrtF32": "_np.sqrt({a})",
    "TanhF32": "_L32['tanh']({a})",
    "ErfF32": "_L32['erf']({a})",
}
_F64_UNARY = {
    "AbsF64": "abs({a})",
    "NegF64": "-{a}",
    "CeilF64": "_L64['ceil']({a})",
    "FloorF64": "_L64['floor']({a})",
    "RoundF64": "_L64['round']({a})",
    "RoundF64Even": "_ops.round_f64_even({a})",
    "AtanF64": "_L64['atan']({a})",
    "CosF64": "_L64['cos']({a})",
    "SinF64": "_L64['sin']({a})",
    "ExpF64": "_L64['exp']({a})",
    "Exp2F64": "_L64['exp2']({a})",
    "ExpM1F64": "_L64['expm1']({a})",
    "LogF64": "_L64['log']({a})",
    "Log10F64": "_L64['log10']({a})",
    "Log1pF64": "_L64['log1p']({a})",
    "Log2F64": "_L64['log2']({a})",
    "RsqrtF64": "_ops.rsqrt_f64({a})",
    "SqrtF64": "_L64['sqrt']({a})",
    "TanhF64": "_L64['tanh']({a})",
    "ErfF64": "_L64['erf']({a})",
}
_F_CMP = {
    "CmpEQF32O": "{a} == {b}",
    "CmpEQF32U": "{a} == {b} or {a} != {a} or {b} != {b}",
    "CmpNEF32O": "{a} != {b}",
    "CmpNEF32U": "{a} != {b}",
    "CmpLTF32O": "{a} < {b}",
    "CmpLTF32U": "{a} < {b} or {a} != {a} or {b} != {b}",
    "CmpLTEF32O": "{a} <= {b}",
    "CmpLTEF32U": "{a} <= {b} or {a} != {a} or {b} != {b}",
}
_F_CMP.update({k.replace("F32", "F64"): v for k, v in list(_F_CMP.items())})

# Conversions: symbol -> (source kind, result kind, expression over {a})
_CONVERSIONS = {
    "TruncI64I32": ("l", "i", "{a} if -2147483648 <= {a} <= 2147483647 else "
                    "(({a} + 2147483648) & 4294967295) - 2147483648"),
    "ExtI32I64S": ("i", "l", "{a}"),
    "ExtI32I64U": ("i", "l", "{a} & 4294967295"),
    "CastSI32F32": ("i", "f", "_f32({a})"),
    "CastUI32F32": ("i", "f", "_ops.cast_ui32_f32({a})"),
    "CastF32SI32": ("f", "i", "_ops.cast_f32_si32({a})"),
    "CastF32UI32": ("f", "i", "_ops.cast_f32_ui32({a})"),
    "CastF32SI64": ("f", "l", "_ops.cast_f32_si64({a})"),
    "CastF32UI64": ("f", "l", "_ops.cast_f32_ui64({a})"),
    "CastSI64F32": ("l", "f", "_ops.cast_si64_f32({a})"),
    "CastUI64F32": ("l", "f", "_ops.cast_ui64_f32({a})"),
    "BitcastI32F32": ("i", "f", "_ops.f32_from_bits({a})"),
    "BitcastF32I32": ("f", "i", "_ops.f32_bits({a})"),
    "TruncF64F32": ("d", "f", "_f32({a})"),
    "ExtF32F64": ("f", "d", "float({a})"),
    "CastSI32F64": ("i", "d", "float({a})"),
    "CastUI32F64": ("i", "d", "float({a} & 4294967295)"),
    "CastF64SI32": ("d", "i", "_ops.cast_f64_si32({a})"),
    "CastF64UI32": ("d", "i", "_ops.cast_f64_ui32({a})"),
    "CastSI64F64": ("l", "d", "float({a})"),
    "CastUI64F64": ("l", "d", "float({a} & 18446744073709551615)"),
    "CastF64SI64": ("d", "l", "_ops.cast_f64_si64({a})"),
    "CastF64UI64": ("d", "l", "_ops.cast_f64_ui64({a})"),
    "BitcastI64F64": ("l", "d", "_ops.f64_from_bits({a})"),
    "BitcastF64I64": ("d", "l", "_ops.f64_bits({a})"),
}

# Buffer element access: symbol -> (memoryview format or "f"/"d", element size, kind)
_BUFFER_LOADS = {
    "BufferLoadI8U": ("B", 1, "i"),
    "BufferLoadI8S": ("b", 1, "i"),
    "BufferLoadI16U": ("H", 2, "i"),
    "BufferLoadI16S": ("h", 2, "i"),
    "BufferLoadI32": ("i", 4, "i"),
    "BufferLoadI64": ("q", 8, "l"),
    "BufferLoadF32": ("f", 4, "f"),
    "BufferLoadF64": ("d", 8, "d"),
}
_BUFFER_STORES = {
    "BufferStoreI8": ("B", 1, "{v} & 255"),
    "BufferStoreI16": ("H", 2, "{v} & 65535"),
    "BufferStoreI32": ("i", 4, "{v}"),
    "BufferStoreI64": ("q", 8, "{v}"),
    "BufferStoreF32": ("f", 4, "{v}"),
    "BufferStoreF64": ("d", 8, "{v}"),
}
_BUFFER_FILLS = {
    "BufferFillI8": ("B", "{v} & 255"),
    "BufferFillI16": ("H", "{v} & 65535"),
    "BufferFillI32": ("I", "{v} & 4294967295"),
    "BufferFillI64": ("Q", "{v} & 18446744073709551615"),
    "BufferFillF32": ("f", "{v}"),
    "BufferFillF64": ("d", "{v}"),
}
_VIEW_ATTR = {"b": "v_b", "B": "v_B", "h": "v_h", "H": "v_H", "i": "v_i", "q": "v_q",
              "f": "v_f", "d": "v_d"}  # fmt: skip
_COUNT_ATTR = {1: "n1", 2: "n2", 4: "n4", 8: "n8"}

# Global (rwdata) access: symbol -> (kind, width, load?, indirect?)
_GLOBALS = {}
for _kind, _w, _suffix in (("i", 4, "I32"), ("l", 8, "I64"), ("f", 4, "F32"), ("d", 8, "F64")):
    _GLOBALS[f"GlobalLoad{_suffix}"] = (_kind, _w, True, False)
    _GLOBALS[f"GlobalStore{_suffix}"] = (_kind, _w, False, False)
    _GLOBALS[f"GlobalLoadIndirect{_suffix}"] = (_kind, _w, True, True)
    _GLOBALS[f"GlobalStoreIndirect{_suffix}"] = (_kind, _w, False, True)
# Typed views of rwdata in the module state, by value kind.
_RW_VIEW = {"i": "rw_i32", "l": "rw_i64", "f": "rw_f32", "d": "rw_f64"}
# The bounds check IREE performs for indirect access (f64 checks only 4 bytes, but
# iree_lab checks what is actually read).
_LIST_VALUE_TYPES = {"I32": ValueType.I32, "I64": ValueType.I64, "F32": ValueType.F32,
                     "F64": ValueType.F64}  # fmt: skip

# Ops that can raise a VM error (the fast tier records their pc for backtraces).
FAILABLE_PREFIXES = ("Buffer", "List", "Global", "DivI", "RemI", "CastAnyRef", "SelectRef",
                     "SwitchRef", "ConstRefRodata", "AssignRef")  # fmt: skip


def can_fail(symbol: str) -> bool:
    if symbol.startswith("GlobalLoadI") or symbol.startswith("GlobalStoreI"):
        return "Indirect" in symbol or symbol.endswith("Ref")
    if symbol.startswith("GlobalLoadF") or symbol.startswith("GlobalStoreF"):
        return "Indirect" in symbol
    return symbol.startswith(FAILABLE_PREFIXES)


class UnsupportedOp(Exception):
    """The op is not a straight-line op (control flow is emitted by each tier)."""


def emit(inst, n: Naming, ctx: EmitContext) -> list[str]:
    """Lines of Python performing straight-line instruction ``inst``."""
    op = inst.op
    sym = op.symbol
    v = inst.values
    i = n.i

    if sym in _I32_BINARY:
        expr, wrap = _I32_BINARY[sym]
        return _set32(n, v[2], expr.format(a=i(v[0]), b=i(v[1])), wrap)
    if sym in _I64_BINARY:
        expr, wrap = _I64_BINARY[sym]
        return _set64(n, v[2], expr.format(a=i(v[0]), b=i(v[1])), wrap)
    if sym in _I64_CMP:
        return _set32(n, v[2], _I64_CMP[sym].format(a=i(v[0]), b=i(v[1])))
    if sym in _I32_UNARY:
        expr, wrap = _I32_UNARY[sym]
        return _set32(n, v[1], expr.format(a=i(v[0])), wrap)
    if sym in _I64_UNARY:
        expr, wrap = _I64_UNARY[sym]
        return _set64(n, v[1], expr.format(a=i(v[0])), wrap)
    if sym == "CmpNZI64":
        return _set32(n, v[1], _bool(f"{i(v[0])} != 0"))
    if sym in _F32_BINARY:
        expr = _F32_BINARY[sym].format(a=i(v[0]), b=i(v[1]))
        if sym in _NAN_ARITH:
            # numpy's operand order can differ from IREE's: fix NaN results up.
            return [f"_t = {expr}", f"if _t != _t: _t = _ops.nan_f32({i(v[0])}, {i(v[1])})",
                    f"{i(v[2])} = _t"]  # fmt: skip
        return _set32(n, v[2], expr)
    if sym in _F64_BINARY:
        expr = _F64_BINARY[sym].format(a=i(v[0]), b=i(v[1]))
        if sym in _NAN_ARITH:
            return [f"_t = {expr}", f"if _t != _t: _t = _ops.nan_f64({i(v[0])}, {i(v[1])})"
                    ] + _setf64(n, v[2], "_t")  # fmt: skip
        return _setf64(n, v[2], expr)
    if sym in _F32_UNARY:
        return _set32(n, v[1], _F32_UNARY[sym].format(a=i(v[0])))
    if sym in _F64_UNARY:
        return _setf64(n, v[1], _F64_UNARY[sym].format(a=i(v[0])))
    if sym in _F_CMP:
        return _set32(n, v[2], _bool(_F_CMP[sym].format(a=i(v[0]), b=i(v[1]))))
    if sym in ("CmpNaNF32", "CmpNaNF64"):
        return _set32(n, v[1], _bool(f"{i(v[0])} != {i(v[0])}"))
    if sym in ("FMAI32", "FMAI64"):
        expr = f"{i(v[0])} * {i(v[1])} + {i(v[2])}"
        return (_set32 if sym == "FMAI32" else _set64)(n, v[3], expr, True)
    if sym == "FMAF32":
        # IREE builds without FP_FAST_FMAF: a * b + c with two roundings.
        return _set32(n, v[3], f"_ops.fma_f32({i(v[0])}, {i(v[1])}, {i(v[2])})")
    if sym == "FMAF64":
        return _setf64(n, v[3], f"_ops.fma_f64({i(v[0])}, {i(v[1])}, {i(v[2])})")
    if sym in _CONVERSIONS:
        _src, dst, expr = _CONVERSIONS[sym]
        expr = expr.format(a=i(v[0]))
        if dst == "l":
            return _set64(n, v[1], expr)
        if dst == "d":
            return _setf64(n, v[1], expr)
        return _set32(n, v[1], expr)
    if sym in ("DivI32S", "DivI32U", "RemI32S", "RemI32U", "DivI64S", "DivI64U", "RemI64S",
               "RemI64U"):  # fmt: skip
        return _emit_div(sym, v, n, ctx)

    # Constants.
    if sym == "ConstI32":
        return _set32(n, v[1], repr(int(v[0])))
    if sym == "ConstI32Zero":
        return _set32(n, v[0], "0")
    if sym == "ConstI64":
        return _set64(n, v[1], repr(int(v[0])))
    if sym == "ConstI64Zero":
        return _set64(n, v[0], "0")
    if sym == "ConstF32":
        return _set32(n, v[1], ctx.const(np.float32(v[0])))
    if sym == "ConstF32Zero":
        return _set32(n, v[0], ctx.const(np.float32(0.0)))
    if sym == "ConstF64":
        return _setf64(n, v[1], ctx.const(float(v[0])))
    if sym == "ConstF64Zero":
        return _setf64(n, v[0], "0.0")

    # Selects and switches.
    if sym == "SelectI32" or sym == "SelectF32":
        return _set32(n, v[3], f"{i(v[1])} if {i(v[0])} else {i(v[2])}")
    if sym == "SelectI64":
        return _set64(n, v[3], f"{i(v[1])} if {i(v[0])} else {i(v[2])}")
    if sym == "SelectF64":
        return _setf64(n, v[3], f"{i(v[1])} if {i(v[0])} else {i(v[2])}")
    if sym in ("SwitchI32", "SwitchF32", "SwitchI64", "SwitchF64"):
        return _emit_switch(sym, v, n)

    if sym.startswith("Global"):
        return _emit_global(sym, v, n, ctx)
    if sym.startswith("Buffer"):
        return _emit_buffer(sym, v, n, ctx)
    if sym.startswith("List"):
        return _emit_list(sym, v, n, ctx)
    lines = _emit_ref(sym, v, n, ctx)
    if lines is not None:
        return lines
    if sym in ("Trace", "Print"):
        # IREE does nothing but release operands marked move.
        regs = [r for r in v[1] if (r & (TYPE_BIT | MOVE_BIT)) == (TYPE_BIT | MOVE_BIT)]
        return [f"{n.r(r & REF_MASK)} = None" for r in regs] or ["pass"]
    if sym == "ImportResolved":
        index = v[0] & ~T.FUNCTION_ORDINAL_IMPORT_BIT
        return _set32(n, v[1], f"{ctx.state}.import_resolved[{index}]")
    raise UnsupportedOp(sym)


def _emit_div(sym, v, n, ctx):
    i = n.i
    a, b = i(v[0]), i(v[1])
    wide = "I64" in sym
    label = ctx.const(ctx.op_label or T.lookup(sym).name)
    lines = [f"if {b} == 0: raise _ops.div_by_zero({label})"]
    int_min = "-9223372036854775808" if wide else "-2147483648"
    mask = "18446744073709551615" if wide else "4294967295"
    setter = _set64 if wide else _set32
    if sym.endswith("S"):
        lines.append(f"if {a} == {int_min} and {b} == -1: raise _ops.div_overflow({label})")
        expr = f"_ops.div_s({a}, {b})" if sym.startswith("Div") else f"_ops.rem_s({a}, {b})"
        return lines + setter(n, v[2], expr)
    opchar = "//" if sym.startswith("Div") else "%"
    return lines + setter(n, v[2], f"({a} & {mask}) {opchar} ({b} & {mask})", True)


def _emit_switch(sym, v, n):
    i = n.i
    index, default, values, result = v
    count = len(values)
    if sym == "SwitchI64":
        # IREE reads the selected register as a 32-bit value and sign-extends it.
        items = ", ".join(f"(({i(r)} + 2147483648) & 4294967295) - 2147483648" for r in values)
    else:
        items = ", ".join(i(r) for r in values)
    if count == 0:
        expr = i(default)
    else:
        expr = f"({items},)[{i(index)}] if 0 <= {i(index)} < {count} else {i(default)}"
    if sym == "SwitchI64":
        return _set64(n, result, expr)
    if sym == "SwitchF64":
        return _setf64(n, result, expr)
    return _set32(n, result, expr)


def _emit_global(sym, v, n, ctx):
    S = ctx.state
    if sym in ("GlobalLoadRef", "GlobalStoreRef", "GlobalLoadIndirectRef",
               "GlobalStoreIndirectRef"):  # fmt: skip
        return _emit_global_ref(sym, v, n, ctx)
    kind, width, load, indirect = _GLOBALS[sym]
    view = f"{S}.{_RW_VIEW[kind]}"
    value_slot = v[1]
    if indirect:
        lines = [f"_o = {n.i(v[0])} & 4294967295",
                 f"if _o + {width} > {S}.rwdata_size: raise _ops.global_oob(_o, {S}.rwdata_size)"]
        # Aligned offsets use the typed view; IREE also allows unaligned ones.
        if load:
            expr = f"({view}[_o >> {width.bit_length() - 1}] if not _o & {width - 1} else " \
                   f"_ops.rw_load({S}, {kind!r}, _o))"
        else:
            store = (f"if not _o & {width - 1}: {view}[_o >> {width.bit_length() - 1}] = "
                     f"{n.i(value_slot)}")
            return lines + [store, f"else: _ops.rw_store({S}, {kind!r}, _o, {n.i(value_slot)})"]
    else:
        byte_offset = v[0]
        lines = []
        if byte_offset % width:
            expr = f"_ops.rw_load({S}, {kind!r}, {byte_offset})"
            if not load:
                return [f"_ops.rw_store({S}, {kind!r}, {byte_offset}, {n.i(value_slot)})"]
        else:
            expr = f"{view}[{byte_offset // width}]"
            if not load:
                return [f"{expr} = {n.i(value_slot)}"]
    if kind == "l":
        return lines + _set64(n, value_slot, expr)
    if kind == "d":
        return lines + _setf64(n, value_slot, expr)
    return lines + _set32(n, value_slot, expr)


def _emit_global_ref(sym, v, n, ctx):
    S = ctx.state
    type_def = ctx.type_def(v[1])
    ref_type = ctx.const(type_def.ref_type) if type_def.ref_type is not None else "None"
    raw = v[2]
    reg = n.r(raw & REF_MASK)
    is_move = bool(raw & MOVE_BIT)
    lines = []
    if "Indirect" in sym:
        lines.append(f"_g = {n.i(v[0])} & 4294967295")
        lines.append(
            f"if _g >= {S}.global_ref_count: raise _ops.global_ref_oob(_g, {S}.global_ref_count)"
        )
        slot = f"{S}.global_refs[_g]"
    else:
        slot = f"{S}.global_refs[{int(v[0])}]"
    if sym.startswith("GlobalLoad"):
        lines.append(f"{reg} = _ops.checked({slot}, {ref_type})")
        if is_move:
            lines.append(f"{slot} = None")
    else:
        lines.append(f"{slot} = _ops.checked({reg}, {ref_type})")
        if is_move:
            lines.append(f"{reg} = None")
    return lines


def _buffer(n, raw, what) -> list[str]:
    return [f"_b = {n.r(raw & REF_MASK)}",
            f"if type(_b) is not _Buffer: raise _ops.null_ref({what!r})"]  # fmt: skip


def _view(fmt) -> list[str]:
    attr = _VIEW_ATTR[fmt]
    return [f"_v = _b.{attr}", f"if _v is None: _v = _b.typed_view({fmt!r})"]


def _emit_buffer(sym, v, n, ctx):
    i = n.i
    if sym in _BUFFER_LOADS:
        fmt, size, kind = _BUFFER_LOADS[sym]
        lines = _buffer(n, v[0], "source_buffer") + _view(fmt)
        lines.append(f"_o = {i(v[1])}")
        lines.append(f"if not 0 <= _o < _b.{_COUNT_ATTR[size]}: raise _ops.oob(_o, {size}, _b)")
        expr = "_v[_o]"
        if kind == "l":
            return lines + _set64(n, v[2], expr)
        if kind == "d":
            return lines + _setf64(n, v[2], "float(_v[_o])")
        return lines + _set32(n, v[2], expr)
    if sym in _BUFFER_STORES:
        fmt, size, value = _BUFFER_STORES[sym]
        lines = _buffer(n, v[0], "target_buffer")
        lines.append("if not _b.mutable: raise _ops.read_only()")
        lines += _view(fmt)
        lines.append(f"_o = {i(v[1])}")
        lines.append(f"if not 0 <= _o < _b.{_COUNT_ATTR[size]}: raise _ops.oob(_o, {size}, _b)")
        lines.append(f"_v[_o] = {value.format(v=i(v[2]))}")
        return lines
    if sym in _BUFFER_FILLS:
        fmt, value = _BUFFER_FILLS[sym]
        lines = _buffer(n, v[0], "buffer")
        lines.append(f"_b.fill({fmt!r}, {i(v[1])}, {i(v[2])}, {value.format(v=i(v[3]))})")
        return lines
    if sym == "BufferAlloc":
        return [f"{n.r(v[2] & REF_MASK)} = _Buffer.allocate({i(v[0])}, {i(v[1])})"]
    if sym == "BufferClone":
        lines = _buffer(n, v[0], "source")
        lines.append(f"{n.r(v[4] & REF_MASK)} = _b.clone({i(v[1])}, {i(v[2])}, {i(v[3])})")
        return lines
    if sym == "BufferLength":
        lines = _buffer(n, v[0], "buffer")
        return lines + _set64(n, v[1], "_b.length")
    if sym == "BufferCopy":
        lines = _buffer(n, v[0], "source_buffer")
        lines += [f"_c = {n.r(v[2] & REF_MASK)}",
                  "if type(_c) is not _Buffer: raise _ops.null_ref('target_buffer')",
                  f"_b.copy_to({i(v[1])}, _c, {i(v[3])}, {i(v[4])})"]  # fmt: skip
        return lines
    if sym == "BufferCompare":
        lines = _buffer(n, v[0], "lhs_buffer")
        lines += [f"_c = {n.r(v[2] & REF_MASK)}",
                  "if type(_c) is not _Buffer: raise _ops.null_ref('rhs_buffer')"]  # fmt: skip
        return lines + _set32(n, v[5], f"1 if _b.compare({i(v[1])}, _c, {i(v[3])}, {i(v[4])}) else 0")
    if sym == "BufferHash":
        lines = _buffer(n, v[0], "source_buffer")
        return lines + _set64(n, v[3], f"_b.hash({i(v[1])}, {i(v[2])})")
    raise UnsupportedOp(sym)


def _list(n, raw) -> list[str]:
    return [f"_l = {n.r(raw & REF_MASK)}",
            "if type(_l) is not _List: raise _ops.null_ref('list')"]  # fmt: skip


def _emit_list(sym, v, n, ctx):
    i = n.i
    if sym == "ListAlloc":
        type_def = ctx.const(ctx.type_def(v[0]))
        return [f"{n.r(v[2] & REF_MASK)} = _List({type_def}, {i(v[1])} & 4294967295)"]
    lines = _list(n, v[0])
    if sym == "ListReserve":
        return lines + [f"_l.reserve({i(v[1])} & 4294967295)"]
    if sym == "ListResize":
        return lines + [f"_l.resize({i(v[1])} & 4294967295)"]
    if sym == "ListSize":
        return lines + _set32(n, v[1], "len(_l.items)")
    for suffix, vt in _LIST_VALUE_TYPES.items():
        if sym == f"ListGet{suffix}":
            expr = f"_l.get_value({i(v[1])} & 4294967295, {int(vt)})"
            if suffix == "I64":
                return lines + _set64(n, v[2], expr)
            if suffix == "F64":
                return lines + _setf64(n, v[2], expr)
            return lines + _set32(n, v[2], expr)
        if sym == f"ListSet{suffix}":
            return lines + [f"_l.set_value({i(v[1])} & 4294967295, {int(vt)}, {i(v[2])})"]
    if sym == "ListGetRef":
        type_def = ctx.type_def(v[2])
        raw = v[3]
        dst = n.r(raw & REF_MASK)
        move = "True" if raw & MOVE_BIT else "False"
        lines.append(f"_x = _l.get_ref({i(v[1])} & 4294967295, {move})")
        if type_def.is_value or type_def.ref_type is None:
            # A value/opaque type never matches a ref: IREE stores null (no error).
            lines.append(f"{dst} = None")
        else:
            ref_type = ctx.const(type_def.ref_type)
            lines.append(f"{dst} = _x if _x is None or _x.ref_type is {ref_type} else None")
        return lines
    if sym == "ListSetRef":
        raw = v[2]
        src = n.r(raw & REF_MASK)
        lines.append(f"_l.set_ref({i(v[1])} & 4294967295, {src})")
        if raw & MOVE_BIT:
            lines.append(f"{src} = None")
        return lines
    raise UnsupportedOp(sym)


def _move_or_retain(n, src_raw, dst_expr, check_type=None) -> list[str]:
    """``iree_vm_ref_retain_or_move(_checked)`` from register ``src_raw`` into ``dst_expr``."""
    src_slot = src_raw & REF_MASK
    src = n.r(src_slot)
    lines = []
    value = src if check_type is None else f"_ops.checked({src}, {check_type})"
    if src_raw & MOVE_BIT and dst_expr != src:
        lines.append(f"_x = {value}")
        lines.append(f"{src} = None")
        lines.append(f"{dst_expr} = _x")
    else:
        lines.append(f"{dst_expr} = {value}")
    return lines


def _emit_ref(sym, v, n, ctx):
    if sym == "ConstRefZero":
        return [f"{n.r(v[0] & REF_MASK)} = None"]
    if sym == "ConstRefRodata":
        return [f"{n.r(v[1] & REF_MASK)} = {ctx.state}.rodata[{int(v[0])}]"]
    if sym == "DiscardRefs":
        return [f"{n.r(r & REF_MASK)} = None" for r in v[0]] or ["pass"]
    if sym == "AssignRef":
        return _move_or_retain(n, v[0], n.r(v[1] & REF_MASK))
    if sym == "CastAnyRef":
        type_def = ctx.type_def(v[1])
        rt = ctx.const(type_def.ref_type) if type_def.ref_type is not None else "None"
        return _move_or_retain(n, v[0], n.r(v[2] & REF_MASK), rt)
    if sym == "CmpEQRef":
        return _set32(n, v[2], _bool(f"{n.r(v[0] & REF_MASK)} is {n.r(v[1] & REF_MASK)}"))
    if sym == "CmpNERef":
        return _set32(n, v[2], _bool(f"{n.r(v[0] & REF_MASK)} is not {n.r(v[1] & REF_MASK)}"))
    if sym == "CmpNZRef":
        return _set32(n, v[1], _bool(f"{n.r(v[0] & REF_MASK)} is not None"))
    if sym == "SelectRef":
        cond, type_id, true_raw, false_raw, result_raw = v
        type_def = ctx.type_def(type_id)
        rt = ctx.const(type_def.ref_type) if type_def.ref_type is not None else "None"
        dst = n.r(result_raw & REF_MASK)
        then = _move_or_retain(n, true_raw, dst, rt)
        if false_raw & MOVE_BIT and (false_raw & REF_MASK) != (result_raw & REF_MASK):
            then.append(f"{n.r(false_raw & REF_MASK)} = None")
        other = _move_or_retain(n, false_raw, dst, rt)
        if true_raw & MOVE_BIT and (true_raw & REF_MASK) != (result_raw & REF_MASK):
            other.append(f"{n.r(true_raw & REF_MASK)} = None")
        return ([f"if {n.i(cond)}:"] + ["    " + x for x in then] + ["else:"]
                + ["    " + x for x in other])  # fmt: skip
    if sym == "SwitchRef":
        index, type_id, default_raw, values, result_raw = v
        type_def = ctx.type_def(type_id)
        rt = ctx.const(type_def.ref_type) if type_def.ref_type is not None else "None"
        dst = n.r(result_raw & REF_MASK)
        idx = n.i(index)
        lines = []
        for k, raw in enumerate(values):
            lines.append(f"{'if' if k == 0 else 'elif'} {idx} == {k}:")
            lines += ["    " + x for x in _move_or_retain(n, raw, dst, rt)]
        if values:
            lines.append("else:")
            lines += ["    " + x for x in _move_or_retain(n, default_raw, dst, rt)]
        else:
            lines += _move_or_retain(n, default_raw, dst, rt)
        return lines
    return None


def compare_condition(inst, n: Naming) -> tuple[int, str] | None:
    """(result slot, boolean expression) of a compare op, for fusing with a branch."""
    sym = inst.op.symbol
    v = inst.values
    i = n.i
    if sym in _I32_BINARY and sym.startswith("Cmp"):
        expr = _I32_BINARY[sym][0]
    elif sym in _I64_CMP:
        expr = _I64_CMP[sym]
    elif sym in _F_CMP:
        return v[2], "(" + _F_CMP[sym].format(a=i(v[0]), b=i(v[1])) + ")"
    elif sym in ("CmpNZI32", "CmpNZI64"):
        return v[1], f"{i(v[0])} != 0"
    else:
        return None
    cond = expr[len("1 if "):-len(" else 0")]
    return v[2], cond.format(a=i(v[0]), b=i(v[1]))


def register_slots(insts) -> tuple[set[int], set[int]]:
    """(i32 slots, ref slots) the instructions name; a 64-bit operand names both halves."""
    ints: set[int] = set()
    refs: set[int] = set()

    def one(r: int, pair: bool) -> None:
        if r & TYPE_BIT:
            refs.add(r & REF_MASK)
        else:
            ints.add(r)
            if pair:
                ints.add(r + 1)

    for inst in insts:
        for field, value in zip(inst.op.fields, inst.values, strict=True):
            kind = field.kind
            if kind in (T.I32, T.F32, T.I64, T.F64):
                ints.add(value)
                if kind in (T.I64, T.F64):
                    ints.add(value + 1)
            elif kind in (T.REF, T.REF_MOVE):
                refs.add(value & REF_MASK)
            elif kind == T.REG_LIST:
                for r in value:
                    one(r, True)
            elif kind == T.BRANCH_REMAP:
                for s, d in value:
                    one(s, False)
                    one(d, False)
            elif kind == T.BRANCH_TABLE:
                for _pc, remap in value:
                    for s, d in remap:
                        one(s, False)
                        one(d, False)
    return ints, refs


def remap_lines(pairs, n: Naming, skip=None) -> list[str]:
    """Branch operand remapping: sequential copies/moves, exactly in list order."""
    lines = []
    for src, dst in pairs:
        if src & TYPE_BIT:
            s, d = src & REF_MASK, dst & REF_MASK
            if src & MOVE_BIT:
                if s != d:
                    lines.append(f"{n.r(d)} = {n.r(s)}")
                    lines.append(f"{n.r(s)} = None")
            else:
                lines.append(f"{n.r(d)} = {n.r(s)}")
        else:
            if src == dst or (skip is not None and skip(src, dst)):
                continue
            lines.append(f"{n.i(dst)} = {n.i(src)}")
    return lines


# Bytes of the f32 immediate of vm.const.f32: prefix, opcode, then the value.
CONST_F32_IMMEDIATE_OFFSET = 2
_U32 = struct.Struct("<I")
