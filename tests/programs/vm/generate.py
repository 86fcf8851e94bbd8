"""Writes the generated op-coverage programs (one function per VM op) in this folder.

    python tests/programs/vm/generate.py

Each function takes its operands as arguments and returns the op's result, so
tests can feed edge-case values through iree_lab and IREE and compare. The
assembler wants argument registers sequential from %i0, so i64/f64 arguments
(aligned pairs) come before i32/f32 ones. Hand-written programs (control
flow, buffers, lists, globals, calls) live next to the generated ones.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent

# (op, argument types, result type); names derive from the op.
INT_OPS = [
    *[(f"vm.{op}", "ii", "i") for op in (
        "add.i32", "sub.i32", "mul.i32", "div.i32.s", "div.i32.u", "rem.i32.s", "rem.i32.u",
        "and.i32", "or.i32", "xor.i32", "min.i32.s", "min.i32.u", "max.i32.s", "max.i32.u",
        "shl.i32", "shr.i32.s", "shr.i32.u", "cmp.eq.i32", "cmp.ne.i32", "cmp.lt.i32.s",
        "cmp.lt.i32.u",
    )],  # fmt: skip
    ("vm.fma.i32", "iii", "i"),
    *[(f"vm.{op}", "i", "i") for op in (
        "not.i32", "abs.i32", "ctlz.i32", "trunc.i32.i8", "trunc.i32.i16", "ext.i8.i32.s",
        "ext.i8.i32.u", "ext.i16.i32.s", "ext.i16.i32.u", "cmp.nz.i32",
    )],  # fmt: skip
    *[(f"vm.{op}", "II", "I") for op in (
        "add.i64", "sub.i64", "mul.i64", "div.i64.s", "div.i64.u", "rem.i64.s", "rem.i64.u",
        "and.i64", "or.i64", "xor.i64", "min.i64.s", "min.i64.u", "max.i64.s", "max.i64.u",
    )],  # fmt: skip
    *[(f"vm.{op}", "II", "i") for op in (
        "cmp.eq.i64", "cmp.ne.i64", "cmp.lt.i64.s", "cmp.lt.i64.u",
    )],  # fmt: skip
    ("vm.fma.i64", "III", "I"),
    *[(f"vm.{op}", "Ii", "I") for op in ("shl.i64", "shr.i64.s", "shr.i64.u")],
    *[(f"vm.{op}", "I", "I") for op in ("not.i64", "abs.i64", "ctlz.i64")],
    ("vm.cmp.nz.i64", "I", "i"),
    ("vm.trunc.i64.i32", "I", "i"),
    ("vm.ext.i32.i64.s", "i", "I"),
    ("vm.ext.i32.i64.u", "i", "I"),
    ("vm.select.i32", "iii", "i"),
    ("vm.select.i64", "iII", "I"),
]

FLOAT_OPS = []
for t, T in (("f32", "f"), ("f64", "F")):
    FLOAT_OPS += [(f"vm.{op}.{t}", T + T, T) for op in (
        "add", "sub", "mul", "div", "rem", "min", "max", "atan2", "pow")]  # fmt: skip
    FLOAT_OPS += [(f"vm.fma.{t}", T * 3, T)]
    FLOAT_OPS += [(f"vm.{op}.{t}", T, T) for op in (
        "abs", "neg", "ceil", "floor", "round", "atan", "cos", "sin", "exp", "exp2", "expm1",
        "log", "log10", "log1p", "log2", "rsqrt", "sqrt", "tanh", "erf")]  # fmt: skip
    FLOAT_OPS += [(f"vm.round.{t}.even", T, T)]
    FLOAT_OPS += [(f"vm.select.{t}", "i" + T + T, T)]
    FLOAT_OPS += [(f"vm.cmp.{op}.{t}.{o}", T + T, "i") for op in ("eq", "ne", "lt", "lte")
                  for o in ("o", "u")]  # fmt: skip
    FLOAT_OPS += [(f"vm.cmp.nan.{t}", T, "i")]
    FLOAT_OPS += [(f"vm.fpowi.{t}", T + "I", T)]
FLOAT_OPS += [
    ("vm.cast.si32.f32", "i", "f"), ("vm.cast.ui32.f32", "i", "f"),
    ("vm.cast.f32.si32", "f", "i"), ("vm.cast.f32.ui32", "f", "i"),
    ("vm.cast.f32.si64", "f", "I"), ("vm.cast.f32.ui64", "f", "I"),
    ("vm.cast.si64.f32", "I", "f"), ("vm.cast.ui64.f32", "I", "f"),
    ("vm.bitcast.i32.f32", "i", "f"), ("vm.bitcast.f32.i32", "f", "i"),
    ("vm.trunc.f64.f32", "F", "f"), ("vm.ext.f32.f64", "f", "F"),
    ("vm.cast.si32.f64", "i", "F"), ("vm.cast.ui32.f64", "i", "F"),
    ("vm.cast.f64.si32", "F", "i"), ("vm.cast.f64.ui32", "F", "i"),
    ("vm.cast.si64.f64", "I", "F"), ("vm.cast.ui64.f64", "I", "F"),
    ("vm.cast.f64.si64", "F", "I"), ("vm.cast.f64.ui64", "F", "I"),
    ("vm.bitcast.i64.f64", "I", "F"), ("vm.bitcast.f64.i64", "F", "I"),
]  # fmt: skip

_TYPE = {"i": "i32", "I": "i64", "f": "f32", "F": "f64"}


def _layout(types: str) -> list[str]:
    """Register names for arguments: pairs first (the assembler wants them sequential)."""
    order = sorted(range(len(types)), key=lambda k: types[k] not in "IF")
    regs = [""] * len(types)
    next_reg = 0
    for k in order:
        if types[k] in "IF":
            regs[k] = f"%i{next_reg}:{next_reg + 1}"
            next_reg += 2
        else:
            regs[k] = f"%i{next_reg}"
            next_reg += 1
    return regs, order, next_reg


def function(op: str, args: str, result: str) -> str:
    name = op[3:].replace(".", "_")
    regs, order, next_reg = _layout(args)
    if next_reg % 2:
        next_reg += 1
    res = f"%i{next_reg}:{next_reg + 1}" if result in "IF" else f"%i{next_reg}"
    params = ", ".join(f"{regs[k]}: {_TYPE[args[k]]}" for k in order)
    if op == "vm.fpowi.f32":
        # 3.13's assembler reads this op as f32_binary (its exponent a scalar register
        # name) but encodes the same ordinal; the disassembler prints it as the i64 pair.
        regs = [r.split(":")[0] for r in regs]
    operands = ", ".join(regs)
    if op.startswith("vm.select."):
        operands = f"{regs[0]} ? {regs[1]} : {regs[2]}"
    return (
        f"vm.export @{name}\n"
        f"vm.func @{name}({params}) -> ({_TYPE[result]}) {{\n"
        f"^bb0:\n"
        f"  {res} = {op} {operands}\n"
        f"  vm.return {res}\n"
        f"}}\n"
    )


def program(module: str, ops) -> str:
    header = f"vm.module @{module} version 0\nvm.type i32\nvm.type i64\nvm.type f32\nvm.type f64\n"
    return header + "\n" + "\n".join(function(*op) for op in ops)


def main() -> None:
    (HERE / "int_ops.vmasm").write_text(program("int_ops", INT_OPS))
    (HERE / "float_ops.vmasm").write_text(program("float_ops", FLOAT_OPS))


if __name__ == "__main__":
    main()
