"""Lifted VMVX dispatch functions: loop nests of buffer loads/stores run as numpy.

A VMVX dispatch function without microkernels is bytecode loops over
``vm.buffer.load/store`` and scalar arithmetic, one instruction at a time per
element. This module recovers the loop structure of such a function from its
verified bytecode and runs whole loop nests as numpy operations over index
ranges, with results bit-identical to the VM's.

Per function, once (:func:`lift`): the CFG must be a sequence of straight-line
code and counted loops (header block ``cmp.lt.i{32,64}.s iv, bound`` +
``cond_br``, body ending in ``iv = add iv, step`` + a branch back), using only
ops this module knows. Registers a loop reads before writing them in an
iteration (carried) or that are read after it keep it sequential.

Per workgroup, two passes over the structure:

* **plan** (no side effects): integer values are affine forms over the loop
  induction variables (coefficients are concrete numbers: workgroup ids,
  constants, values loaded from the read-only constants buffer); data is
  opaque. It checks every access against its buffer's bounds and mutability,
  that no index arithmetic wraps and that no op can fail, and picks for each
  top-level nest the outer loops it may run *at once*: every memory class a
  nest stores to is accessed through one address form that determines those
  loops' induction variables (so no two of their iterations touch the same
  element), in which case reordering them innermost changes nothing.
* **run**: those outer loops become numpy axes (addresses become strided
  views), inner loops run in Python with array values; stores inside loops are
  deferred and read back by the loads of the same elements (accumulators).

Indices split by ``div``/``rem`` by constants are bounded intervals: enough for
gathers (loads), not for stores. All workgroups of a dispatch run at once
(:func:`prepare`) when the workgroup ids, taken as three more loops, pass the
same proof. The plan also counts the VM instructions the dispatch would have
executed, which lets the debugger skip the hook for it (``Device.dispatch_gate``).

Anything the plan cannot prove (a possible out-of-bounds access or fault, a
data-dependent address, an unknown op) sends the workgroup to the VM, before
anything was written. Generated Python (the scalar form of an op, applied to
concrete values and, element by element, to rare vector cases) comes only from
the VM's own templates (:mod:`iree_lab.vm.emit`); the common float and integer
ops have numpy forms with the same rounding and NaN rules (x86: first NaN
operand, quieted; else the default NaN).
"""

from __future__ import annotations

import numpy as np

from iree_lab.isa import tables as T
from iree_lab.vm import libm
from iree_lab.vm.emit import RUNTIME, ConstantPool, EmitContext, Naming, emit
from iree_lab.vm.status import VMStatus

TYPE_BIT = T.REF_REGISTER_TYPE_BIT
MOVE_BIT = T.REF_REGISTER_MOVE_BIT
REF_MASK = T.REF_REGISTER_MASK

_I32_MIN, _I32_MAX = -(1 << 31), (1 << 31) - 1
_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1
# Most elements one lifted array may have (workgroups x vectorised iterations).
MAX_LANES = 1 << 24
_DEFAULT_NAN_BITS = np.uint32(0xFFC00000)
_QUIET_BIT = np.uint32(0x400000)

# Element formats of buffer loads/stores: symbol -> (numpy dtype char, register kind).
_LOADS = {"BufferLoadI8U": ("B", "i"), "BufferLoadI8S": ("b", "i"), "BufferLoadI16U": ("H", "i"),
          "BufferLoadI16S": ("h", "i"), "BufferLoadI32": ("i", "i"), "BufferLoadI64": ("q", "l"),
          "BufferLoadF32": ("f", "f")}  # fmt: skip
_STORES = {"BufferStoreI8": "B", "BufferStoreI16": "H", "BufferStoreI32": "i",
           "BufferStoreI64": "q", "BufferStoreF32": "f"}  # fmt: skip
_AFFINE = {"AddI32", "AddI64", "SubI32", "SubI64", "MulI32", "MulI64", "FMAI32", "FMAI64",
           "ExtI32I64S", "ExtI32I64U", "TruncI64I32"}  # fmt: skip
# Ops that can fail in the VM: only run on concrete values (the plan proves them).
_FAILING = ("DivI", "RemI")
_LOOP_CMP = {"CmpLTI64S": (_I64_MIN, _I64_MAX), "CmpLTI32S": (_I32_MIN, _I32_MAX)}


def _supported(sym: str) -> bool:
    """Ops the lifter knows: buffer element access, the bindings list, allocation, and
    straight-line scalar ops without f64 or refs (templates or numpy forms)."""
    if sym in _LOADS or sym in _STORES or sym in _AFFINE:
        return True
    if sym in ("BufferAlloc", "ListGetRef", "DiscardRefs", "ConstRefRodata"):
        return True
    if "F64" in sym or "Ref" in sym or sym.startswith(("Buffer", "List", "Global", "Call",
                                                       "Switch")):
        return False
    return sym.startswith(("Const", "Add", "Sub", "Mul", "Div", "Rem", "And", "Or", "Xor",
                           "Min", "Max", "Shl", "Shr", "Cmp", "Select", "Not", "Abs", "Ctlz",
                           "Trunc", "Ext", "Cast", "Bitcast", "FMA", "Neg", "Ceil", "Floor",
                           "Round", "Sqrt", "Rsqrt", "Exp", "Log", "Tanh", "Erf", "Atan", "Cos",
                           "Sin", "Pow"))


class Unliftable(Exception):
    """This function (or this workgroup) runs in the VM instead."""


class _Opaque:
    """Plan-time data value (contents unknown until run)."""

    __slots__ = ()

    def __repr__(self):
        return "<data>"


OPAQUE = _Opaque()


class Interval:
    """Plan-time integer data with known bounds (e.g. an index split by div/rem)."""

    __slots__ = ("lo", "hi")

    def __init__(self, lo: int, hi: int):
        self.lo, self.hi = lo, hi


class _Hi:
    """The high word of an i64 pair: never read by lifted code."""

    __slots__ = ()


HI = _Hi()


class _Poison:
    """A register a vectorised loop wrote (its last-iteration value is not kept)."""

    __slots__ = ()


POISON = _Poison()


class Aff:
    """``base + sum(coef * index[key])``: an integer affine in loop indices."""

    __slots__ = ("base", "terms")

    def __init__(self, base: int, terms: dict):
        self.base = base
        self.terms = terms

    def __repr__(self):
        return f"Aff({self.base}, {self.terms})"


class _Digit:
    """Plan-time index of one digit of a loop split in mixed radix (see ``_Walker._split``)."""

    __slots__ = ()


def _aff(base: int, terms: dict):
    terms = {k: c for k, c in terms.items() if c}
    return Aff(base, terms) if terms else base


def _parts(x) -> tuple[int, dict]:
    return (x, {}) if type(x) is int else (x.base, x.terms)


def _aff_add(a, b, sign=1):
    ab, at = _parts(a)
    bb, bt = _parts(b)
    terms = dict(at)
    for k, c in bt.items():
        terms[k] = terms.get(k, 0) + sign * c
    return _aff(ab + sign * bb, terms)


def _aff_scale(a, s: int):
    ab, at = _parts(a)
    return _aff(ab * s, {k: c * s for k, c in at.items()})


# -----------------------------------------------------------------------------------------
# Structure
# -----------------------------------------------------------------------------------------


class Loop:
    __slots__ = ("header", "iv", "bound", "cmp_dst", "cmp", "step", "incr", "body", "exit",
                 "exit_remap", "writes", "carried", "live_out", "chain", "divisors")

    def __init__(self, header, iv, bound, cmp_dst, cmp):
        self.header, self.iv, self.bound, self.cmp_dst, self.cmp = header, iv, bound, cmp_dst, cmp
        self.step = self.incr = self.exit = None
        self.exit_remap = ()
        self.body: list = []
        self.writes: frozenset = frozenset()
        self.carried = False
        self.live_out = False
        self.chain: list[Loop] = []  # top-level loops: the single-child chain below it
        self.divisors: tuple = ()  # i32/i64 slots its body divides by (vm.div/rem)


def _effects(inst) -> tuple[list, list]:
    """(register keys read, written): ('i', slot) / ('r', slot); i64 writes cover the pair."""
    reads, writes = [], []
    for field, value in zip(inst.op.fields, inst.values, strict=True):
        kind = field.kind
        if kind in (T.I32, T.F32, T.I64, T.F64):
            if field.access == T.WRITE:
                writes.append(("i", value))
                if kind in (T.I64, T.F64):
                    writes.append(("i", value + 1))
            elif field.access == T.READ:
                reads.append(("i", value))
        elif kind in (T.REF, T.REF_MOVE):
            key = ("r", value & REF_MASK)
            (writes if field.access == T.WRITE else reads).append(key)
        elif kind == T.REG_LIST:
            for r in value:
                key = ("r", r & REF_MASK) if r & TYPE_BIT else ("i", r)
                if inst.op.symbol == "DiscardRefs":
                    writes.append(key)
                elif field.access == T.READ:
                    reads.append(key)
    return reads, writes


def _move_key(raw):
    return ("r", raw & REF_MASK) if raw & TYPE_BIT else ("i", raw)


class _Parser:
    def __init__(self, decoded):
        self.insts = decoded.instructions
        self.k_of_pc = {inst.pc: k for k, inst in enumerate(self.insts)}
        self.preds: dict[int, int] = {}
        for inst in self.insts:
            for _label, target, _remap in inst.branches:
                self.preds[target] = self.preds.get(target, 0) + 1
        self.seen: set[int] = set()
        self.entry = decoded.blocks[0].pc

    def _visit(self, pc):
        if pc in self.seen:
            raise Unliftable("block reached twice")
        self.seen.add(pc)

    def header(self, pc):
        """The Loop if block ``pc`` is a counted-loop header."""
        k = self.k_of_pc[pc] + 1
        insts = self.insts
        if k + 1 >= len(insts) or self.preds.get(pc) != 2:
            return None
        cmp, br = insts[k], insts[k + 1]
        if cmp.op.symbol not in _LOOP_CMP or br.op.symbol != "CondBranch":
            return None
        a, b, dst = cmp.values
        cond, t_pc, t_remap, f_pc, f_remap = br.values
        if cond != dst or t_remap or a == dst or b == dst:
            return None
        loop = Loop(pc, a, b, dst, cmp.op.symbol)
        loop.exit = f_pc
        loop.exit_remap = f_remap
        return loop, t_pc

    def seq(self, pc, headers: tuple) -> tuple[list, str]:
        items: list = []
        while True:
            self._visit(pc)
            k = self.k_of_pc[pc] + 1
            while True:
                inst = self.insts[k]
                sym = inst.op.symbol
                if not inst.op.terminator:
                    if not _supported(sym):
                        raise Unliftable(f"op {inst.op.name}")
                    items.append(("op", k))
                    k += 1
                    continue
                if sym == "Return":
                    if headers:
                        raise Unliftable("return inside a loop")
                    items.append(("return", k))
                    return items, "return"
                if sym != "Branch":
                    raise Unliftable(f"control flow {inst.op.name}")
                target, remap = inst.values
                items.extend(("move", src, dst) for src, dst in remap)
                if headers and target == headers[-1]:
                    return items, "back"  # the back edge's vm.br is counted with the loop
                items.append(("br",))
                pc = self._enter(target, headers, items)
                break

    def _enter(self, target: int, headers: tuple, items: list) -> int:
        """Follows control into ``target``: loops are parsed (their exit edges followed,
        possibly into the next loop); returns the next straight-line block."""
        while True:
            if target in headers:
                raise Unliftable("branch to an outer loop")
            found = self.header(target)
            if found is None:
                if self.preds.get(target) != 1:
                    raise Unliftable("merge block")
                return target
            loop = self.loop(found, headers)
            items.append(("loop", loop))
            items.extend(("move", src, dst) for src, dst in loop.exit_remap)
            target = loop.exit

    def loop(self, found, headers) -> Loop:
        loop, body_pc = found
        self._visit(loop.header)
        if self.preds.get(body_pc) != 1:
            raise Unliftable("loop body with other predecessors")
        body, end = self.seq(body_pc, headers + (loop.header,))
        if end != "back" or not body or body[-1][0] != "op":
            raise Unliftable("loop without a back edge")
        incr = self.insts[body[-1][1]]
        want = "AddI64" if loop.cmp == "CmpLTI64S" else "AddI32"
        if incr.op.symbol != want:
            raise Unliftable("loop step")
        a, b, dst = incr.values
        if dst != loop.iv or not (a == loop.iv) ^ (b == loop.iv):
            raise Unliftable("loop step")
        loop.step = b if a == loop.iv else a
        loop.incr = body[-1][1]
        loop.body = body[:-1]
        loop.divisors = tuple(sorted({
            self.insts[item[1]].values[1] for item in loop.body
            if item[0] == "op" and self.insts[item[1]].op.symbol.startswith(_FAILING)}))
        return loop


def _analyze(items: list, insts, live_after: set) -> tuple[set, set]:
    """Fills loops' writes/carried/live_out; returns (upward-exposed reads, writes) of items."""
    ue: set = set()
    written: set = set()
    # Backwards to know what is read after each item.
    after = set(live_after)
    results = []
    for item in reversed(items):
        kind = item[0]
        if kind == "op":
            reads, writes = _effects(insts[item[1]])
            r, w = set(reads), set(writes)
        elif kind == "move":
            r, w = {_move_key(item[1])}, {_move_key(item[2])}
        elif kind == "return":
            reads, _ = _effects(insts[item[1]])
            r, w = set(reads), set()
        elif kind == "br":
            r, w = set(), set()
        else:
            loop = item[1]
            iv = ("i", loop.iv)
            body_ue, body_w = _analyze(loop.body, insts, set())
            step_key = ("i", loop.step)
            w = body_w | {iv, ("i", loop.iv + 1), ("i", loop.cmp_dst)}
            if loop.cmp == "CmpLTI32S":
                w.discard(("i", loop.iv + 1))
            loop.writes = frozenset(w)
            loop.carried = bool((body_ue - {iv}) & w) or step_key in w or ("i", loop.bound) in w
            loop.live_out = bool(after & w)
            r = body_ue | {iv, ("i", loop.bound), step_key}
        results.append((r, w))
        after = (after - w) | r
    for r, w in reversed(results):
        ue |= r - written
        written |= w
    return ue, written


class LiftedFunction:
    """The structure of one dispatch function, and its per-op scalar forms."""

    def __init__(self, module, ordinal: int):
        from iree_lab.vm.interpreter import const_f32_exact

        decoded = module.decode(ordinal)
        if getattr(decoded, "error", None) is not None:
            raise Unliftable("bytecode")
        self.insts = list(decoded.instructions)
        parser = _Parser(decoded)
        self.items, _end = parser.seq(parser.entry, ())
        code = None
        for k, inst in enumerate(self.insts):
            if inst.op.symbol == "ConstF32":
                if code is None:
                    code = module.function_bytes(ordinal)
                self.insts[k] = const_f32_exact(inst, code)
        _analyze(self.items, self.insts, set())
        for item in self.items:
            if item[0] == "loop":
                chain, loop = [], item[1]
                while True:
                    chain.append(loop)
                    inner = [x for x in loop.body if x[0] == "loop"]
                    if len(inner) != 1:
                        break
                    loop = inner[0][1]
                item[1].chain = chain
        self.allocates = any(inst.op.symbol == "BufferAlloc" for inst in self.insts)
        self.effects = [_effects(inst) if not inst.op.terminator and inst.op.flow is None
                        else ((), ()) for inst in self.insts]
        self.kinds = [_field_kinds(inst) for inst in self.insts]
        self.consts = ConstantPool("K")
        self.ctx = EmitContext(self.consts, types=module.types, rodata=[])
        # What templates read from the module state: its rodata segments (read-only
        # buffers shared by every state, constant data of the dispatch).
        self.state = _ModuleFacts(module.rodata)
        self._scalar: dict[int, object] = {}

    def scalar(self, k: int):
        """The op at index ``k`` as a Python function of its read registers (VM templates)."""
        fn = self._scalar.get(k)
        if fn is None:
            fn = self._scalar[k] = _compile_scalar(self.insts[k], self.ctx, self.consts,
                                                   self.state)
        return fn


class _Names(Naming):
    def i(self, slot: int) -> str:
        return f"i{slot}"

    def r(self, slot: int) -> str:
        return f"r{slot}"

    def wants_hi(self, slot: int) -> bool:
        return False


# Compiled scalar forms by source text (the text names constants, not their values).
_CODE_CACHE: dict[str, object] = {}


class _ModuleFacts:
    __slots__ = ("rodata",)

    def __init__(self, rodata):
        self.rodata = rodata


def _compile_scalar(inst, ctx, consts, state):
    """``f(*reads) -> write`` from the VM's template for ``inst`` (validated numbers only)."""
    reads, writes = _effects(inst)
    params, keys = [], []
    for bank, slot in reads:
        name = f"{bank}{slot}"
        if name not in params:
            params.append(name)
            keys.append((bank, slot))
    outs = [f"{bank}{slot}" for bank, slot in writes]
    if inst.op.symbol in ("ConstI64", "ConstI64Zero") or any(
            f.kind in (T.I64, T.F64) and f.access == T.WRITE for f in inst.op.fields):
        outs = outs[:1]
    lines = emit(inst, _Names(), ctx)
    src = [f"def _op({', '.join(params)}):"] + ["    " + x for x in lines]
    src.append(f"    return {outs[0] if outs else 'None'}")
    text = "\n".join(src)
    code = _CODE_CACHE.get(text)
    if code is None:
        code = _CODE_CACHE[text] = compile(text, f"<iree_lab lifted {inst.op.name}>", "exec")
    namespace = dict(RUNTIME)
    namespace.update(consts.namespace())
    namespace[ctx.state] = state
    exec(code, namespace)
    fn = namespace["_op"]
    fn.keys = keys
    fn.outs = outs[:1]
    return fn


def lift(module, ordinal: int) -> LiftedFunction | None:
    try:
        return LiftedFunction(module, ordinal)
    except Unliftable:
        return None


# -----------------------------------------------------------------------------------------
# Vector forms of common ops (same rounding and NaN rules as the scalar templates)
# -----------------------------------------------------------------------------------------


def _fix_nan(result, *operands):
    """Where ``result`` is NaN: the first NaN operand quieted, else the default NaN."""
    mask = np.isnan(result)
    if not mask.any():
        return result
    bits = np.array(result, dtype=np.float32, copy=True).view(np.uint32)
    fixed = np.broadcast_to(_DEFAULT_NAN_BITS, bits.shape).copy()
    done = np.zeros(bits.shape, dtype=bool)
    for x in operands:
        xb = np.broadcast_to(np.asarray(x, dtype=np.float32), bits.shape)
        xn = np.isnan(xb) & ~done
        fixed = np.where(xn, xb.view(np.uint32) | _QUIET_BIT, fixed)
        done |= xn
    bits = np.where(mask, fixed, bits)
    return bits.view(np.float32)


def _f_add(a, b):
    return _fix_nan(a + b, a, b)


def _f_sub(a, b):
    return _fix_nan(a - b, a, b)


def _f_mul(a, b):
    return _fix_nan(a * b, a, b)


def _f_div(a, b):
    return _fix_nan(a / b, a, b)


def _f_fma(a, b, c):
    p = _fix_nan(a * b, a, b)
    return _fix_nan(p + c, p, c)


def _b(x):
    return np.asarray(x).astype(np.int32)


def _unordered(a, b):
    return np.isnan(a) | np.isnan(b)


def _u32(x):
    return np.asarray(x).astype(np.int64) & 0xFFFFFFFF


def _u64(x):
    return np.asarray(x).astype(np.int64).view(np.uint64)


# symbol -> (operand kinds, result dtype, function). Kinds: i (i32), l (i64), f (f32).
_VEC = {
    "AddF32": ("ff", np.float32, _f_add),
    "SubF32": ("ff", np.float32, _f_sub),
    "MulF32": ("ff", np.float32, _f_mul),
    "DivF32": ("ff", np.float32, _f_div),
    "FMAF32": ("fff", np.float32, _f_fma),
    "MinF32": ("ff", np.float32, lambda a, b: np.where(b < a, b, a)),
    "MaxF32": ("ff", np.float32, lambda a, b: np.where(a < b, b, a)),
    "AbsF32": ("f", np.float32, np.abs),
    "NegF32": ("f", np.float32, np.negative),
    "SqrtF32": ("f", np.float32, np.sqrt),
    "RsqrtF32": ("f", np.float32, lambda a: np.float32(1.0) / np.sqrt(a)),
    "CmpEQF32O": ("ff", np.int32, lambda a, b: _b(a == b)),
    "CmpEQF32U": ("ff", np.int32, lambda a, b: _b((a == b) | _unordered(a, b))),
    "CmpNEF32O": ("ff", np.int32, lambda a, b: _b(a != b)),
    "CmpNEF32U": ("ff", np.int32, lambda a, b: _b(a != b)),
    "CmpLTF32O": ("ff", np.int32, lambda a, b: _b(a < b)),
    "CmpLTF32U": ("ff", np.int32, lambda a, b: _b((a < b) | _unordered(a, b))),
    "CmpLTEF32O": ("ff", np.int32, lambda a, b: _b(a <= b)),
    "CmpLTEF32U": ("ff", np.int32, lambda a, b: _b((a <= b) | _unordered(a, b))),
    "CmpNaNF32": ("f", np.int32, lambda a: _b(np.isnan(a))),
    "SelectF32": ("iff", np.float32, lambda c, a, b: np.where(c != 0, a, b)),
    "SelectI32": ("iii", np.int32, lambda c, a, b: np.where(c != 0, a, b)),
    "SelectI64": ("ill", np.int64, lambda c, a, b: np.where(c != 0, a, b)),
    "CastSI32F32": ("i", np.float32, lambda a: np.asarray(a).astype(np.float32)),
    "AddI32": ("ii", np.int32, np.add), "AddI64": ("ll", np.int64, np.add),
    "SubI32": ("ii", np.int32, np.subtract), "SubI64": ("ll", np.int64, np.subtract),
    "MulI32": ("ii", np.int32, np.multiply), "MulI64": ("ll", np.int64, np.multiply),
    "AndI32": ("ii", np.int32, np.bitwise_and), "AndI64": ("ll", np.int64, np.bitwise_and),
    "OrI32": ("ii", np.int32, np.bitwise_or), "OrI64": ("ll", np.int64, np.bitwise_or),
    "XorI32": ("ii", np.int32, np.bitwise_xor), "XorI64": ("ll", np.int64, np.bitwise_xor),
    "CmpEQI32": ("ii", np.int32, lambda a, b: _b(a == b)),
    "CmpNEI32": ("ii", np.int32, lambda a, b: _b(a != b)),
    "CmpLTI32S": ("ii", np.int32, lambda a, b: _b(a < b)),
    "CmpLTI32U": ("ii", np.int32, lambda a, b: _b(_u32(a) < _u32(b))),
    "CmpEQI64": ("ll", np.int32, lambda a, b: _b(a == b)),
    "CmpNEI64": ("ll", np.int32, lambda a, b: _b(a != b)),
    "CmpLTI64S": ("ll", np.int32, lambda a, b: _b(a < b)),
    "CmpLTI64U": ("ll", np.int32, lambda a, b: _b(_u64(a) < _u64(b))),
    "CmpNZI32": ("i", np.int32, lambda a: _b(a != 0)),
    "ExtI32I64S": ("i", np.int64, lambda a: np.asarray(a).astype(np.int64)),
    "ExtI32I64U": ("i", np.int64, lambda a: np.asarray(a).astype(np.int64) & 0xFFFFFFFF),
    "TruncI64I32": ("l", np.int32, lambda a: np.asarray(a).astype(np.int32)),
    "FMAI32": ("iii", np.int32, lambda a, b, c: a * b + c),
    "FMAI64": ("lll", np.int64, lambda a, b, c: a * b + c),
}  # fmt: skip
# f32 ops whose template is a call of the C library's float function (emit._F32_UNARY).
_LIBM_F32 = {"ExpF32": "exp", "TanhF32": "tanh", "LogF32": "log", "ErfF32": "erf",
             "Exp2F32": "exp2", "ExpM1F32": "expm1", "Log10F32": "log10", "Log1pF32": "log1p",
             "Log2F32": "log2", "CosF32": "cos", "SinF32": "sin", "AtanF32": "atan",
             "CeilF32": "ceil", "FloorF32": "floor", "RoundF32": "round"}
_KIND_DTYPE = {"i": np.int32, "l": np.int64, "f": np.float32}


def _field_kinds(inst) -> tuple[str, str]:
    """(kinds of read operands, kind of the result) as i/l/f/r."""
    reads, out = [], ""
    for field in inst.op.fields:
        kind = {T.I32: "i", T.I64: "l", T.F32: "f", T.REF: "r", T.REF_MOVE: "r"}.get(field.kind)
        if kind is None:
            continue
        if field.access == T.READ:
            reads.append(kind)
        elif field.access == T.WRITE:
            out = kind
    return "".join(reads), out


# -----------------------------------------------------------------------------------------
# Plan and run
# -----------------------------------------------------------------------------------------


class _Access:
    __slots__ = ("buffer", "size", "store", "addr")

    def __init__(self, buffer, size, store, addr):
        self.buffer, self.size, self.store, self.addr = buffer, size, store, addr


def _access_key(buffer, fmt, addr) -> tuple:
    base, terms = _parts(addr)
    return (id(buffer), fmt, base, tuple(sorted(terms.items())))


def _memory_range(buffer) -> tuple[int, int]:
    start = np.frombuffer(buffer.data, dtype=np.uint8).ctypes.data if buffer.length else 0
    return start, start + buffer.length


_NOT_CONCRETE = (np.ndarray, Aff, _Opaque, Interval)
_NOT_AFFINE = (np.ndarray, _Opaque, Interval)


class _Walker:
    """Walks the structure; ``plan=True`` proves, ``plan=False`` computes."""

    def __init__(self, fn: LiftedFunction, plan: bool, vector_depth=None, digits=None,
                 counts=None):
        self.fn = fn
        self.plan = plan
        self.env: dict = {}
        self.trips: dict = {}  # plan: loop key -> trip count; run: axis -> trip count
        self.ndim = 0
        self.accesses: list[_Access] | None = None
        # Bulk mode: every workgroup at once, workgroup ids (z, y, x) as the first axes.
        self.counts = counts
        self.base = 0
        self.all_accesses: list[_Access] | None = None
        if counts is not None:
            self.base = self.ndim = 3
            self.all_accesses = []
            keys = _WG_KEYS if plan else (0, 1, 2)
            for key, count in zip(keys, counts, strict=True):
                self.trips[key] = count
        self.live = True
        self.depth = 0
        self.vector_depth = vector_depth if vector_depth is not None else {}
        # Loops whose index is split in mixed radix: loop -> ((size, weight), ...), most
        # significant digit first (the plan decides, the run follows); plan: their keys.
        self.digits = digits if digits is not None else {}
        self.loop_keys: dict = {}
        self._views: dict = {}
        self.pending: dict = {}  # run: deferred stores by access key
        # plan: VM instructions the function executes for one workgroup; a call starts
        # at the entry block's marker (the only marker executed: branches skip theirs).
        self.count = 1
        self._ranges: dict = {}
        # plan: the bytes it may load / store: (id(buffer), first address, end address)
        self.loaded: list = []
        self.stored: list = []

    # -- values ---------------------------------------------------------------------------

    def get(self, key):
        try:
            value = self.env[key]
        except KeyError:
            raise Unliftable(f"register {key} read before written") from None
        if value is HI or value is POISON:
            raise Unliftable("high word or vectorised register read")
        return value

    def _range(self, x) -> tuple[int, int]:
        base, terms = _parts(x)
        lo = hi = base
        for key, c in terms.items():
            span = c * (self.trips[key] - 1)
            if span < 0:
                lo += span
            else:
                hi += span
        return lo, hi

    def _span(self, x, intervals: bool = True) -> tuple[int, int] | None:
        """(lo, hi) of an integer value over the iteration space, None if unknown."""
        if type(x) is int:
            return x, x
        if type(x) is Aff:
            return self._range(x)
        if intervals and type(x) is Interval:
            return x.lo, x.hi
        return None

    def _materialize(self, x, dtype):
        if type(x) is int:
            return dtype(x)
        if type(x) is Aff:
            out = np.full((1,) * self.ndim, x.base, dtype=np.int64)
            for axis, c in x.terms.items():
                shape = [1] * self.ndim
                shape[axis] = self.trips[axis]
                out = out + (np.arange(self.trips[axis], dtype=np.int64) * c).reshape(shape)
            return out.astype(dtype)
        return x

    def _check_int(self, x, sym):
        """``x`` if the affine result of ``sym`` stays in its width everywhere; else the
        plan refuses and the run returns None (computed as data, which wraps like the VM:
        a value the plan saw as data, e.g. loaded at depth 0, is concrete in the run)."""
        if type(x) is Aff:
            lo, hi = self._range(x)
            lim = (_I32_MIN, _I32_MAX) if sym.endswith("I32") or sym == "TruncI64I32" \
                else (_I64_MIN, _I64_MAX)
            if lo < lim[0] or hi > lim[1]:
                if self.plan:
                    raise Unliftable("index arithmetic may wrap")
                return None
        return x

    # -- ops ------------------------------------------------------------------------------

    def op(self, k):
        inst = self.fn.insts[k]
        sym = inst.op.symbol
        v = inst.values
        env = self.env
        if sym in _LOADS:
            self.load(inst, sym)
            return
        if sym in _STORES:
            self.store(inst, sym)
            return
        if sym == "DiscardRefs":
            for raw in v[0]:
                if raw & TYPE_BIT:
                    env[("r", raw & REF_MASK)] = None
            return
        if sym == "BufferAlloc" and self.depth:
            raise Unliftable("allocation inside a loop")
        reads, writes = self.fn.effects[k]
        args = [self.get(key) for key in reads]
        if not any(isinstance(a, _NOT_CONCRETE) for a in args):
            fn = self.fn.scalar(k)
            try:
                result = fn(*[env[key] for key in fn.keys])
            except VMStatus:
                raise Unliftable(f"{inst.op.name} fails") from None
        elif (folded := self._fold(sym, args)) is not None:
            result = folded
        elif sym.startswith(_FAILING) and not (
                type(args[1]) is int and args[1] > 0 and args[1] & 0xFFFFFFFF
                and (sym.endswith("S") or args[1] <= _I32_MAX)):
            # Only a positive constant divisor cannot fail (zero, INT_MIN / -1).
            raise Unliftable(f"{inst.op.name} on vectors")
        elif sym.startswith(_FAILING) and (
                quotient := self._divmod(sym, args[0], args[1])) is not None:
            result = quotient
        elif sym in _AFFINE and not any(isinstance(a, _NOT_AFFINE)
                                        for a in args):
            result = self._check_int(self._affine(sym, args), sym)
            if result is None:
                result = self._vector(k, inst, sym, args)
        else:
            result = self._vector(k, inst, sym, args)
        if writes:
            env[writes[0]] = result
            for key in writes[1:]:
                env[key] = HI
        for field, raw in zip(inst.op.fields, v, strict=True):
            if field.kind == T.REF_MOVE and raw & MOVE_BIT and field.access == T.READ:
                if ("r", raw & REF_MASK) not in writes:
                    env[("r", raw & REF_MASK)] = None

    def _fold(self, sym, args):
        """Results known although an operand is not concrete: ``select`` on a concrete
        condition, ``and`` with 0, integer compares decided by the operands' ranges (the
        sign fix-ups that follow a signed div/rem of a non-negative index). The same in
        plan and run, so both see the same affine forms."""
        if sym.startswith("Select"):
            if sym != "SelectRef" and type(args[0]) is int:
                return args[1] if args[0] else args[2]
            return None
        if sym in ("AndI32", "AndI64"):
            return 0 if any(type(a) is int and a == 0 for a in args) else None
        if not sym.startswith(("CmpEQI", "CmpNEI", "CmpLTI", "CmpNZI")):
            return None
        # Not on intervals: the run holds those as arrays and must fold the same way.
        spans = [self._span(a, intervals=False) for a in args]
        if None in spans:
            return None
        if sym.endswith("U") and any(lo < 0 for lo, _hi in spans):
            return None  # registers hold signed values: unsigned order only agrees when >= 0
        (alo, ahi), rest = spans[0], spans[1:]
        if sym.startswith("CmpNZ"):
            return 1 if alo > 0 or ahi < 0 else None
        blo, bhi = rest[0]
        if sym.startswith("CmpLT"):
            return 1 if ahi < blo else 0 if alo >= bhi else None
        if ahi < blo or bhi < alo:  # disjoint: never equal
            return 0 if sym.startswith("CmpEQ") else 1
        return None

    def _divmod(self, sym, a, d: int):
        """``div``/``rem`` of a non-negative affine index by a positive constant ``d`` as
        an affine form, when the index is ``d * h + r`` with ``r`` in [0, d) everywhere
        (terms whose weights ``d`` divides form ``h``); truncating and floor division agree
        on non-negative values. Linearised tile loops, split in mixed radix
        (:meth:`_split`), recover their indices this way."""
        if type(a) is not Aff or self._range(a)[0] < 0:
            return None
        base, terms = _parts(a)
        high = {k: c // d for k, c in terms.items() if c % d == 0}
        low = _aff(base % d, {k: c for k, c in terms.items() if c % d})
        lo, hi = self._range(low)
        if lo < 0 or hi >= d:
            return None
        return _aff(base // d, high) if sym.startswith("Div") else low

    def _split(self, loop, trip: int):
        """Mixed-radix digits ``((size, weight), ...)`` of a loop's iteration number, or
        None: the divisors its body applies that are constant over it and chain
        (d1 | d2 | ... | dk | trip) give digits of sizes trip/dk, ..., d2/d1, d1, so that
        the index's div/rem by each ``d`` is affine in the digits (:meth:`_divmod`)."""
        if trip < 2 or not loop.divisors:
            return None
        found = set()
        for slot in loop.divisors:
            value = self.env.get(("i", slot))
            if ("i", slot) not in loop.writes and type(value) is int and 1 < value < trip:
                found.add(value)
        chain = []
        for d in sorted(found):
            if trip % d == 0 and (not chain or d % chain[-1] == 0):
                chain.append(d)
        if not chain:
            return None
        weights = chain[::-1] + [1]
        uppers = [trip] + chain[::-1]
        return tuple((upper // weight, weight)
                     for upper, weight in zip(uppers, weights, strict=True))

    def _affine(self, sym, args):
        if sym in ("ExtI32I64S", "TruncI64I32"):
            return args[0]
        if sym == "ExtI32I64U":
            if self._range(args[0])[0] < 0:
                if self.plan:
                    raise Unliftable("unsigned extension of a negative index")
                return None  # as data (see _check_int)
            return args[0]
        if sym.startswith("Add"):
            return _aff_add(args[0], args[1])
        if sym.startswith("Sub"):
            return _aff_add(args[0], args[1], -1)
        a, b = args[0], args[1]
        if type(a) is not int and type(b) is not int:
            return None
        product = _aff_scale(b, a) if type(a) is int else _aff_scale(a, b)
        if sym.startswith("FMA"):
            return _aff_add(product, args[2])
        return product

    def _interval(self, sym, args):
        """Bounds of an integer result over the plan's iteration space, or OPAQUE."""
        spans = [self._span(a) for a in args]
        if None in spans:
            return OPAQUE
        (alo, ahi), rest = spans[0], spans[1:]
        if sym.startswith("Add"):
            lo, hi = alo + rest[0][0], ahi + rest[0][1]
        elif sym.startswith("Sub"):
            lo, hi = alo - rest[0][1], ahi - rest[0][0]
        elif sym.startswith(("Mul", "FMA")):
            products = [x * y for x in (alo, ahi) for y in rest[0]]
            lo, hi = min(products), max(products)
            if sym.startswith("FMA"):
                lo, hi = lo + rest[1][0], hi + rest[1][1]
        elif sym.startswith(("Div", "Rem")) and alo >= 0:
            d = rest[0][0]  # a positive constant (checked before)
            lo, hi = (alo // d, ahi // d) if sym.startswith("Div") else (0, min(ahi, d - 1))
        elif sym in ("ExtI32I64S", "TruncI64I32") or sym == "ExtI32I64U" and alo >= 0:
            lo, hi = alo, ahi
        else:
            return OPAQUE
        lim = (_I32_MIN, _I32_MAX) if sym.endswith(("I32", "I32S", "I32U")) or \
            sym == "TruncI64I32" else (_I64_MIN, _I64_MAX)
        if lo < lim[0] or hi > lim[1]:
            return OPAQUE
        return Interval(lo, hi)

    def _vector(self, k, inst, sym, args):
        if self.plan:
            if self.fn.kinds[k][1] in "il":
                return self._interval(sym, args)
            return OPAQUE
        kinds, out = self.fn.kinds[k]
        vals = [self._materialize(a, _KIND_DTYPE[kd]) if kd in _KIND_DTYPE else a
                for a, kd in zip(args, kinds, strict=False)]
        with np.errstate(all="ignore"):
            if sym.startswith(_FAILING):
                a, d = vals[0], int(vals[1])
                if np.all(a >= 0):  # floor = trunc; the plan proved d > 0
                    return (a // d if sym.startswith("Div") else a % d).astype(a.dtype)
                return self._elementwise(k, vals, out)
            c_fn = libm.F32.get(_LIBM_F32.get(sym)) if libm.HAVE_LIBM else None
            if c_fn is not None:
                # The template calls _L32[name] on np.float32 values: so do we, per element.
                a = np.asarray(vals[0], dtype=np.float32)
                return np.fromiter(map(c_fn, a.ravel()), np.float32, a.size).reshape(a.shape)
            entry = _VEC.get(sym)
            if entry is not None:
                return np.asarray(entry[2](*vals), dtype=entry[1])
            return self._elementwise(k, vals, out)

    def _elementwise(self, k, vals, out):
        """The scalar template applied element by element (rare ops)."""
        fn = self.fn.scalar(k)
        reads, _w = self.fn.effects[k]
        unique = {}
        for key, x in zip(reads, vals, strict=True):
            unique.setdefault(key, x)
        vals = [unique[key] for key in fn.keys]
        arrays = np.broadcast_arrays(*[np.asarray(x) for x in vals])
        shape = arrays[0].shape
        columns = [a.ravel().tolist() if a.dtype.kind in "iu" else list(a.ravel())
                   for a in arrays]
        results = [fn(*row) for row in zip(*columns, strict=True)]
        return np.array(results, dtype=_KIND_DTYPE[out]).reshape(shape)

    # -- memory ---------------------------------------------------------------------------

    def _buffer(self, raw):
        from iree_lab.vm.buffer import Buffer

        b = self.get(("r", raw & REF_MASK))
        if type(b) is not Buffer:
            raise Unliftable("not a buffer")
        return b

    def _view(self, buffer, fmt):
        key = (id(buffer), fmt)
        view = self._views.get(key)
        if view is None:
            dtype = np.dtype(fmt)
            view = np.frombuffer(buffer.data, dtype=dtype,
                                 count=buffer.length // dtype.itemsize)
            self._views[key] = (view, buffer)
            return view
        return view[0]

    def _strided(self, buffer, fmt, addr):
        view = self._view(buffer, fmt)
        base, terms = _parts(addr)
        shape = [1] * self.ndim
        strides = [0] * self.ndim
        flips = []
        item = view.itemsize
        for axis, c in terms.items():
            n = self.trips[axis]
            shape[axis] = n
            if c < 0:
                base += c * (n - 1)
                flips.append(axis)
                c = -c
            strides[axis] = c * item
        arr = np.ndarray(tuple(shape), view.dtype, view, base * item, tuple(strides))
        if flips:
            index = [slice(None)] * self.ndim
            for axis in flips:
                index[axis] = slice(None, None, -1)
            arr = arr[tuple(index)]
        return arr

    def _record(self, buffer, size, store, addr):
        if not self.live:
            return
        lo, hi = self._range(addr) if type(addr) is Aff else \
            (addr.lo, addr.hi) if type(addr) is Interval else (addr, addr)
        if lo < 0 or hi >= buffer.length // size:
            raise Unliftable("access may be out of bounds")
        if store and not buffer.mutable:
            raise Unliftable("store to a read-only buffer")
        start = self._memory(buffer)[0]
        (self.stored if store else self.loaded).append(
            (id(buffer), start + lo * size, start + (hi + 1) * size))
        access = _Access(buffer, size, store, addr)
        if self.accesses is not None:
            self.accesses.append(access)
        if self.all_accesses is not None:
            self.all_accesses.append(access)

    def load(self, inst, sym):
        buf_raw, off, dst = inst.values
        fmt, kind = _LOADS[sym]
        buffer = self._buffer(buf_raw)
        addr = self.get(("i", off))
        if type(addr) is _Opaque:
            raise Unliftable("data-dependent address")
        size = np.dtype(fmt).itemsize
        if type(addr) is Interval:  # a gather from proven bounds
            self._record(buffer, size, False, addr)
            value = OPAQUE
        elif type(addr) is np.ndarray:
            self._flush_overlapping(buffer)
            value = self._view(buffer, fmt)[addr].astype(_KIND_DTYPE[kind])
        elif type(addr) is int and (not buffer.mutable or not self.plan and self.depth == 0):
            # Concrete: the VM's own template (a read-only buffer cannot change meanwhile).
            if self.plan and not 0 <= addr < buffer.length // size:
                raise Unliftable("load out of bounds")
            value = self._scalar_load(buffer, fmt, addr, kind)
        elif self.plan:
            self._record(buffer, size, False, addr)
            value = OPAQUE
        else:
            hit = self._pending_load(buffer, fmt, addr)
            if hit is not None:
                value = np.asarray(hit, dtype=_KIND_DTYPE[kind])
            else:
                arr = self._strided(buffer, fmt, addr) if type(addr) is Aff else \
                    self._view(buffer, fmt)[addr]
                value = np.array(arr, dtype=_KIND_DTYPE[kind])
        self.env[("i", dst)] = value
        if kind == "l":
            self.env[("i", dst + 1)] = HI

    @staticmethod
    def _scalar_load(buffer, fmt, addr, kind):
        raw = np.frombuffer(buffer.data, dtype=np.dtype(fmt), count=1,
                            offset=addr * np.dtype(fmt).itemsize)[0]
        return raw if kind == "f" else int(raw)

    def store(self, inst, sym):
        buf_raw, off, value_reg = inst.values
        fmt = _STORES[sym]
        buffer = self._buffer(buf_raw)
        addr = self.get(("i", off))
        if isinstance(addr, _NOT_AFFINE):
            raise Unliftable("data-dependent address")
        value = self.get(("i", value_reg))
        if self.plan:
            self._record(buffer, np.dtype(fmt).itemsize, True, addr)
            return
        if type(value) is Aff:
            value = self._materialize(value, np.int64)
        if fmt == "f":
            value = np.asarray(value, dtype=np.float32)
        else:
            value = np.asarray(value).astype(np.int64).astype(np.dtype(fmt))
        if self.depth:
            # Deferred: a later load of the same elements reads it back from here
            # (a loop's accumulator), other access to the memory writes it first.
            key = _access_key(buffer, fmt, addr)
            if key not in self.pending:
                self._flush_overlapping(buffer)
            self.pending[key] = (buffer, fmt, addr, value)
            return
        self._write(buffer, fmt, addr, value)

    def _write(self, buffer, fmt, addr, value):
        if type(addr) is Aff:
            self._strided(buffer, fmt, addr)[...] = value
        else:
            self._view(buffer, fmt)[addr] = value

    def _pending_load(self, buffer, fmt, addr):
        if not self.pending:
            return None
        hit = self.pending.get(_access_key(buffer, fmt, addr))
        if hit is not None:
            return hit[3]
        self._flush_overlapping(buffer)
        return None

    def _flush_overlapping(self, buffer):
        if not self.pending:
            return
        lo, hi = self._memory(buffer)
        for other, _fmt, _addr, _value in self.pending.values():
            olo, ohi = self._memory(other)
            if lo < ohi and olo < hi:
                self.flush()
                return

    def flush(self):
        """Writes the deferred stores."""
        pending, self.pending = self.pending, {}
        for buffer, fmt, addr, value in pending.values():
            self._write(buffer, fmt, addr, value)

    def _memory(self, buffer):
        found = self._ranges.get(id(buffer))
        if found is None:
            found = self._ranges[id(buffer)] = (_memory_range(buffer), buffer)
        return found[0]

    # -- structure ------------------------------------------------------------------------

    def seq(self, items):
        env = self.env
        for item in items:
            kind = item[0]
            if kind == "op":
                self.count += 1
                self.op(item[1])
            elif kind == "br" or kind == "return":
                self.count += 1
            elif kind == "move":
                src, dst = item[1], item[2]
                if src & TYPE_BIT:
                    value = env.get(("r", src & REF_MASK))
                    env[("r", dst & REF_MASK)] = value
                    if src & MOVE_BIT and (src & REF_MASK) != (dst & REF_MASK):
                        env[("r", src & REF_MASK)] = None
                elif src != dst:
                    if ("i", src) in env:
                        env[("i", dst)] = env[("i", src)]
            elif kind == "loop":
                self.loop(item[1])
            # "return": nothing to do (dispatch functions return no values)

    def _bounds(self, loop) -> tuple[int, int, int, int]:
        start = self.get(("i", loop.iv))
        bound = self.get(("i", loop.bound))
        step = self.get(("i", loop.step))
        if not (type(start) is int and type(bound) is int and type(step) is int):
            raise Unliftable("loop bounds vary")
        if step <= 0:
            raise Unliftable("loop step not positive")
        trip = max(0, -(-(bound - start) // step))
        lo, hi = _LOOP_CMP[loop.cmp]
        if start + trip * step > hi:
            raise Unliftable("induction variable may wrap")
        return start, bound, step, trip

    def loop(self, loop: Loop):
        start, _bound, step, trip = self._bounds(loop)
        env = self.env
        if self.plan:
            key = loop
            self.trips[key] = trip
            live = self.live
            self.live = live and trip > 0
            digits = self._split(loop, trip)
            if digits is None:
                env[("i", loop.iv)] = _aff(start, {key: step}) if trip > 1 else start
            else:
                self.digits[loop] = digits
                keys = self.loop_keys[loop] = [_Digit() for _ in digits]
                terms = {}
                for digit, (size, weight) in zip(keys, digits, strict=True):
                    self.trips[digit] = size
                    terms[digit] = step * weight
                env[("i", loop.iv)] = _aff(start, terms)
            if loop.cmp == "CmpLTI64S":
                env[("i", loop.iv + 1)] = HI
            top = self.depth == 0
            if top:
                self.accesses = []
            self.depth += 1
            before = self.count
            self.seq(loop.body)
            # Per iteration: cmp + cond_br, the body, the step and the back edge's br;
            # then the final cmp + cond_br.
            self.count = before + trip * (self.count - before + 4) + 2
            self.depth -= 1
            self.live = live
            if top:
                self.vector_depth[loop] = self._choose(loop)
                self.accesses = None
            for key in loop.writes:
                env[key] = POISON
            return
        # run
        if self.depth == 0:
            depth = self.vector_depth[loop]
            self._run_vector(loop, loop.chain[:depth])
            return
        self._run_sequential(loop, start, step, trip)

    def _run_sequential(self, loop, start, step, trip):
        env = self.env
        iv = ("i", loop.iv)
        hi = loop.cmp == "CmpLTI64S"
        self.depth += 1
        for n in range(trip):
            env[iv] = start + n * step
            if hi:
                env[("i", loop.iv + 1)] = HI
            self.seq(loop.body)
        self.depth -= 1
        env[iv] = start + trip * step
        env[("i", loop.cmp_dst)] = 0

    def _run_vector(self, top: Loop, chain: list):
        trips = []
        loop = top
        base = self.base
        self.trips = {axis: self.trips[axis] for axis in range(base)}
        self.ndim = base + sum(len(self.digits.get(loop, (None,))) for loop in chain)
        self.depth += 1
        env = self.env
        axis = base
        for index, loop in enumerate(chain):
            start, _bound, step, trip = self._bounds(loop)
            if trip == 0:
                break
            trips.append(trip)
            terms = {}
            for size, weight in self.digits.get(loop, ((trip, 1),)):
                self.trips[axis] = size
                terms[axis] = step * weight
                axis += 1
            env[("i", loop.iv)] = _aff(start, terms) if trip > 1 else start
            if loop.cmp == "CmpLTI64S":
                env[("i", loop.iv + 1)] = HI
            body = loop.body
            if index + 1 < len(chain):
                # Straight-line code around the single inner loop.
                inner = next(i for i, x in enumerate(body) if x[0] == "loop")
                self.seq(body[:inner])
                continue
            self.seq(body)
        # Code after each inner loop, innermost first (all of it when the inner loop ran 0 times).
        for axis in range(min(len(trips), len(chain) - 1) - 1, -1, -1):
            body = chain[axis].body
            inner = next(i for i, x in enumerate(body) if x[0] == "loop")
            self.seq(body[inner + 1:])
        self.depth -= 1
        self.flush()
        for key in top.writes:
            env[key] = POISON

    def _choose(self, top: Loop) -> int:
        """How many loops of ``top``'s chain may run at once (0: none)."""
        chain = top.chain
        best = 0
        lanes = 1 if self.counts is None else self.counts[0] * self.counts[1] * self.counts[2]
        for p in range(1, len(chain) + 1):
            if chain[p - 1].carried or chain[p - 1].live_out:
                break
            lanes *= max(1, self.trips[chain[p - 1]])
            if lanes > MAX_LANES:
                break  # arrays that large could exhaust memory the VM would not need
            if self._independent(self.accesses, chain[:p]):
                best = p
        if best == 0:
            raise Unliftable("no loop of a nest can run vectorised")
        return best

    def _independent(self, accesses, vector: list) -> bool:
        """Whether running the ``vector`` loops at once keeps every access's order.

        Buffers whose bytes overlap form a memory class. Where a class is stored
        to, accesses through the same address form must determine the vector
        loops' indices (then only one iteration of them touches each element),
        and accesses through different forms must touch disjoint bytes.
        """
        ranges = {}
        for a in accesses:
            if id(a.buffer) not in ranges:
                ranges[id(a.buffer)] = _memory_range(a.buffer)
        ids = sorted(ranges, key=lambda i: ranges[i])
        cls = {}
        current, end = None, -1
        for i in ids:
            lo, hi = ranges[i]
            if current is None or lo >= end:
                current = i
                end = hi
            else:
                end = max(end, hi)
            cls[i] = current
        stored = {cls[id(a.buffer)] for a in accesses if a.store}
        groups: dict = {}  # class -> form -> [store?, byte lo, byte hi, terms]
        for a in accesses:
            c = cls[id(a.buffer)]
            if c not in stored:
                continue
            if type(a.addr) is Interval:
                return False
            base, terms = _parts(a.addr)
            start = ranges[id(a.buffer)][0]
            form = (a.size, start + base * a.size,
                    tuple(sorted(((id(k), v * a.size) for k, v in terms.items()))))
            group = groups.setdefault(c, {}).get(form)
            if group is None:
                lo, hi = self._range(a.addr) if terms else (base, base)
                group = groups[c][form] = [False, start + lo * a.size,
                                           start + (hi + 1) * a.size, terms]
            group[0] = group[0] or a.store
        for forms in groups.values():
            entries = list(forms.values())
            for n, (store, lo, hi, terms) in enumerate(entries):
                if store and not self._injective(terms, vector):
                    return False
                for store2, lo2, hi2, _t in entries[n + 1:]:
                    if (store or store2) and lo < hi2 and lo2 < hi:
                        return False
        return True

    def _injective(self, terms: dict, vector: list) -> bool:
        for loop in vector:
            for key in self.loop_keys.get(loop, (loop,)):
                if self.trips[key] > 1 and key not in terms:
                    return False
        items = sorted(((abs(c), self.trips[k]) for k, c in terms.items() if self.trips[k] > 1))
        reach = 0
        for c, n in items:
            if c <= reach:
                return False
            reach += c * (n - 1)
        return True


class Prepared:
    """A dispatch proven liftable: :meth:`run` computes it; ``instructions`` is the
    number of VM instructions its workgroups would have executed. ``restartable``: it
    never loads memory it stores to (its own allocations aside), so running it from its
    start after the VM ran part of it leaves the memory the VM's whole run would."""

    def __init__(self, fn, runs):
        self.fn = fn
        self.runs = runs  # (args, vector_depth, digits, counts or None) per run
        self.instructions = 0
        self.restartable = False

    def run(self) -> None:
        for args, vector_depth, digits, counts in self.runs:
            runner = _Walker(self.fn, plan=False, vector_depth=vector_depth, digits=digits,
                             counts=counts)
            _bind(runner, args)
            runner.seq(self.fn.items)
            runner.flush()


def plan(fn: LiftedFunction, args: list, counts=None) -> Prepared | None:
    """Proves one workgroup (``counts`` None; ``args`` carry its ids) or all of them."""
    if counts is not None and fn.allocates:
        return None
    planner = _Walker(fn, plan=True, counts=counts)
    _bind(planner, args)
    try:
        planner.seq(fn.items)
        if counts is not None and not planner._independent(planner.all_accesses,
                                                             list(_WG_KEYS)):
            return None
    except Unliftable:
        return None
    prepared = Prepared(fn, [(args, planner.vector_depth, planner.digits, counts)])
    prepared.instructions = planner.count * (1 if counts is None else
                                             counts[0] * counts[1] * counts[2])
    prepared.restartable = _restartable(planner, args)
    return prepared


def _restartable(planner, args) -> bool:
    """No byte it may store to, outside its own allocations, is one it may load."""
    bindings = args[2]
    outside = {id(args[0]), id(args[1])} | {id(bindings.get_ref(i)) for i in range(len(bindings))}
    loaded = [(lo, hi) for i, lo, hi in planner.loaded if i in outside]
    return not any(lo < lhi and llo < hi for i, lo, hi in planner.stored if i in outside
                   for llo, lhi in loaded)


def prepare(fn: LiftedFunction, make_args, counts: tuple[int, int, int]) -> Prepared | None:
    """Every workgroup of a dispatch proven (at once if possible, else one by one), or None.

    ``make_args(x, y, z)`` gives a workgroup's arguments; ``counts`` is (z, y, x).
    """
    total = counts[0] * counts[1] * counts[2]
    if total > 1:
        prepared = plan(fn, make_args(0, 0, 0), counts)
        if prepared is not None:
            return prepared
    runs, instructions = [], 0
    for z in range(counts[0]):
        for y in range(counts[1]):
            for x in range(counts[2]):
                one = plan(fn, make_args(x, y, z))
                if one is None:
                    return None
                runs += one.runs
                instructions += one.instructions
    prepared = Prepared(fn, runs)
    prepared.instructions = instructions
    return prepared


def run(fn: LiftedFunction, args: list) -> bool:
    """Runs one workgroup; False (nothing done) when the VM must run it."""
    prepared = plan(fn, args)
    if prepared is None:
        return False
    prepared.run()
    return True


def run_bulk(fn: LiftedFunction, args: list, counts: tuple[int, int, int]) -> bool:
    """Runs every workgroup (ids z, y, x < ``counts``) at once; False: nothing done.

    Proven like a loop nest: the workgroup ids are three more loops around the
    function, and the function's accesses to memory it stores to must give
    different workgroups disjoint bytes (then any order of workgroups, including
    all at once, computes the same). Functions allocating local buffers run
    per workgroup.
    """
    prepared = plan(fn, args, counts)
    if prepared is None:
        return False
    prepared.run()
    return True


class _WorkgroupAxis:
    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name


_WG_KEYS = (_WorkgroupAxis("z"), _WorkgroupAxis("y"), _WorkgroupAxis("x"))


def _bind(walker, args):
    # cconv 0rrriiiiiiiii_v: refs r0..r2, i32 i0..i8 (workgroup id x, y, z first).
    env = walker.env
    for n in range(3):
        env[("r", n)] = args[n]
    for n in range(9):
        env[("i", n)] = args[3 + n]
    if walker.counts is not None:
        keys = _WG_KEYS if walker.plan else (0, 1, 2)
        for n, axis in ((0, 2), (1, 1), (2, 0)):  # x, y, z
            count = walker.counts[axis]
            env[("i", n)] = _aff(0, {keys[axis]: 1}) if count > 1 else 0

