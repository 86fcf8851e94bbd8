"""Lifted VMVX dispatches (iree_lab/hal/vmvx_lift.py) vs iree-run-module, bit for bit.

Every case runs a function of ``tests/programs/hal/lift.mlir`` (or a model block)
through iree-run-module ``--device=local-sync`` and through iree_lab, with inputs
from ``.npy`` files and results written as ``.npy`` by both, and compares the
bytes (so NaN payloads and denormals count, not only printed text). Each case
also checks that its dispatches did run lifted (not in the VM) and that turning
lifting off gives the same bytes. Further tests: a workgroup whose plan sees a
possible out-of-bounds access runs in the VM and fails like it, leaving no
lifted writes behind; overlapping bindings keep the VM's order.
"""

from __future__ import annotations

import numpy as np
import pytest

from iree_lab import vm
from iree_lab.hal import Device, io, vmvx_lift, vmvx_module
from iree_lab.hal.module import HALModule
from iree_lab.vm.status import StatusCode, VMStatus

RNG = np.random.default_rng(7)


def _f32_bits(bits) -> np.ndarray:
    return np.array(bits, dtype=np.uint32).view(np.float32)


def _special_f32(shape) -> np.ndarray:
    """Normals, denormals, zeros, infinities and NaNs with payloads (quiet and signalling)."""
    special = _f32_bits([0x00000001, 0x80000001, 0x007FFFFF, 0x00400000, 0x80012345,
                         0x00800000, 0x00000000, 0x80000000, 0x7F800000, 0xFF800000,
                         0x7FC12345, 0xFFC00001, 0x7FA00005, 0xFF800ABC, 0x7F7FFFFF,
                         0x0DA24260])
    values = (RNG.standard_normal(shape) * 3).astype(np.float32)
    flat = values.reshape(-1)
    flat[:: 3][: special.size] = special[: flat[:: 3].size]
    return values


def _inputs(function: str) -> list[np.ndarray]:
    if function == "f32_arith":
        return [_special_f32((4, 16)), _special_f32((4, 16))[::-1].copy()]
    if function == "f32_unary":
        x = np.concatenate([_special_f32((16,)), np.linspace(-90, 90, 48, dtype=np.float32)])
        return [x.astype(np.float32)]
    if function == "i32_wrap":
        edge = np.array([2**31 - 1, -2**31, -1, 0, 1, 65536, 46341, -46341], np.int32)
        a = np.concatenate([edge, RNG.integers(-2**31, 2**31, 24, dtype=np.int64)
                            .astype(np.int32)])
        b = np.concatenate([edge[::-1], RNG.integers(-2**31, 2**31, 24, dtype=np.int64)
                            .astype(np.int32)])
        return [a, b]
    if function == "i8_add":
        return [RNG.integers(-128, 128, 48).astype(np.int8),
                RNG.integers(-128, 128, 48).astype(np.int8)]
    if function == "reductions":
        x = (RNG.standard_normal((24, 40)) * 10).astype(np.float32)
        x[3, 5] = _f32_bits([0x7FC0BEEF])[0]  # NaN payload through a max reduction
        x[7, :] = _f32_bits([0x00000010])[0]  # denormals summed (flushed in dispatches)
        return [x]
    if function == "matmul":
        return [(RNG.standard_normal((33, 48))).astype(np.float32),
                (RNG.standard_normal((48, 40))).astype(np.float32)]
    if function == "conv":
        return [RNG.standard_normal((1, 10, 12, 8)).astype(np.float32),
                RNG.standard_normal((3, 3, 8, 16)).astype(np.float32)]
    if function == "softmax":
        x = (RNG.standard_normal((16, 130)) * 4).astype(np.float32)
        x[2, 7] = _f32_bits([0x7FC00ABC])[0]  # a NaN payload through max, exp and sum
        x[5, :] = _f32_bits([0x00000200])[0]  # a row of denormals
        return [x]
    if function == "resnet_pieces":
        x = RNG.standard_normal((1, 16, 16, 8)).astype(np.float32)
        x[0, 3, 4, 2] = _f32_bits([0x7FC01234])[0]  # a NaN payload through pool and conv
        return [x, RNG.standard_normal((1, 1, 8, 16)).astype(np.float32),
                RNG.standard_normal(16).astype(np.float32),
                RNG.standard_normal(16).astype(np.float32)]
    if function == "const_bias":
        return [_special_f32((8, 16))]
    if function == "stem_conv":
        x = _special_f32((1, 3, 132, 132))
        return [x, RNG.standard_normal((4, 3, 7, 7)).astype(np.float32),
                RNG.standard_normal(4).astype(np.float32)]
    if function == "counter_hash":
        return [np.array([4, 3], np.int32)]  # counter 3 << 32 | 4: products past 2**63
    if function == "reverse_transpose":
        return [RNG.standard_normal((37, 20)).astype(np.float32)]
    if function == "block":
        shapes = [(128, 256), (256,), (256,), (256, 256), (256, 256), (256, 256), (256, 256),
                  (256,), (256,), (256, 1024), (1024, 256)]
        return [(RNG.standard_normal(s) * 0.1).astype(np.float32) for s in shapes]
    raise AssertionError(function)


CASES = [("hal_lift", f) for f in ("f32_arith", "f32_unary", "i32_wrap", "i8_add", "reductions",
                                   "matmul", "conv", "reverse_transpose", "softmax",
                                   "resnet_pieces", "const_bias", "stem_conv",
                                   "counter_hash")]
CASES.append(("hal_model_transformer", "block"))


@pytest.fixture
def lift_counter(monkeypatch):
    """Counts workgroups run lifted (one per bulk run) and in the VM."""
    counts = {"lifted": 0, "vm": 0}
    run, run_bulk = vmvx_lift.run, vmvx_lift.run_bulk

    def counted(*args):
        ok = run(*args)
        counts["lifted" if ok else "vm"] += 1
        return ok

    def counted_bulk(*args):
        ok = run_bulk(*args)
        counts["lifted"] += ok
        return ok

    monkeypatch.setattr(vmvx_lift, "run", counted)
    monkeypatch.setattr(vmvx_lift, "run_bulk", counted_bulk)
    return counts


def _ours(path, function: str, specs: list[str]) -> list[bytes]:
    device = Device()
    ctx = vm.Context([HALModule([device]), vm.BytecodeModule.load(path)])
    fn = ctx.lookup_function(function)
    values = io.parse_inputs(device, fn.cconv.arguments, specs)
    results = ctx.call_function(fn, values)
    results = results if isinstance(results, tuple | list) else (results,)
    return [io.save_npy(r) for r in results]


@pytest.mark.parametrize(("program", "function"), CASES, ids=[c[1] for c in CASES])
def test_lifted_matches_iree_run_module(iree_tool, build_module, tmp_path, lift_counter,
                                        program, function):
    path = build_module(program)
    specs = []
    for i, array in enumerate(_inputs(function)):
        np.save(tmp_path / f"in{i}.npy", array)
        specs.append(f"@{tmp_path / f'in{i}.npy'}")
    ours = _ours(path, function, specs)
    outs = [tmp_path / f"out{i}.npy" for i in range(len(ours))]
    iree_tool("iree-run-module", "--device=local-sync", f"--module={path}",
              f"--function={function}", *[f"--input={s}" for s in specs],
              *[f"--output=@{o}" for o in outs])
    assert [o.read_bytes() for o in outs] == ours
    assert lift_counter["lifted"] > 0 and lift_counter["vm"] == 0, lift_counter
    if program == "hal_model_transformer":
        return  # the VM takes minutes on the model; iree-run-module was the reference
    vmvx_module.LIFT = False
    try:
        assert _ours(path, function, specs) == ours
    finally:
        vmvx_module.LIFT = True


def _dispatch_function(build_module, function_name: str):
    """(executable, export info, lifted function) of a dispatch of lift.mlir's ``function``."""
    import iree_lab
    from iree_lab.hal.executables import find_executables
    from iree_lab.hal.vmvx import VMVXLoader

    module = iree_lab.open(build_module("hal_lift"))
    for entry in find_executables(module):
        exe = VMVXLoader().try_load(None, "vmvx-bytecode-fb", entry.data, ())
        for info in exe.exports:
            if info.name.startswith(function_name):
                fn = exe.module.exports[info.name]
                return exe, info, vmvx_lift.lift(exe.module, fn.ordinal)
    raise AssertionError(function_name)


def _state(bindings, count=(1, 1, 1)):
    from iree_lab.hal.executable import DispatchState

    return DispatchState(workgroup_count=count, workgroup_size=(1, 1, 1),
                         constants=np.zeros(0, np.uint32), bindings=bindings)


def test_possible_out_of_bounds_runs_in_the_vm_and_fails_like_it(build_module):
    """A binding too short for the loop: the plan refuses, the VM fails; nothing lifted ran."""
    exe, info, lifted = _dispatch_function(build_module, "i8_add")
    assert lifted is not None
    a = np.arange(48, dtype=np.int8).view(np.uint8)
    # The output binding is 28 bytes short of the 48 the loop writes.
    errors = []
    for lift in (True, False):
        vmvx_module.LIFT = lift
        out = np.full(20, 0xAA, np.uint8)
        try:
            exe.dispatch(info.ordinal, _state([a.copy(), a.copy(), out]))
        except VMStatus as e:
            errors.append((e.code, str(e).splitlines()[0], out.tobytes()))
        finally:
            vmvx_module.LIFT = True
    assert len(errors) == 2 and errors[0] == errors[1]
    assert errors[0][0] == StatusCode.OUT_OF_RANGE and "out-of-bounds" in errors[0][1]
    assert errors[0][2][:20] != b"\xaa" * 20  # the VM wrote up to the failing element


@pytest.mark.parametrize("shift", [0, 1])
def test_overlapping_bindings_keep_the_vm_order(build_module, lift_counter, shift):
    """The output aliases an input: in place (shift 0) lifts; shifted by one element it
    cannot be proven independent and runs in the VM. Both give the VM's bytes."""
    exe, info, lifted = _dispatch_function(build_module, "i8_add")
    assert lifted is not None
    base = RNG.integers(0, 256, 49).astype(np.uint8)
    other = RNG.integers(0, 256, 48).astype(np.uint8)
    results = []
    for lift in (True, False):
        vmvx_module.LIFT = lift
        try:
            memory = base.copy()
            exe.dispatch(info.ordinal, _state([other, memory[shift:shift + 48], memory[:48]]))
            results.append(memory.tobytes())
        finally:
            vmvx_module.LIFT = True
    assert results[0] == results[1]
    assert lift_counter == ({"lifted": 1, "vm": 0} if shift == 0 else {"lifted": 0, "vm": 1})


def test_restartable_only_when_it_never_loads_what_it_stores(build_module, monkeypatch):
    """A debugger may re-run a workgroup lifted from its start after the VM ran part of it
    only if no load can see the VM's partial stores: not when the output is an input."""
    exe, info, _lifted = _dispatch_function(build_module, "i8_add")
    plans = []
    plan = vmvx_lift.plan
    monkeypatch.setattr(vmvx_lift, "plan", lambda *a, **k: plans.append(plan(*a, **k)) or plans[-1])
    a = RNG.integers(0, 256, 48).astype(np.uint8)
    memory = RNG.integers(0, 256, 48).astype(np.uint8)
    exe.dispatch(info.ordinal, _state([a, memory.copy(), np.zeros(48, np.uint8)]))
    exe.dispatch(info.ordinal, _state([a, memory, memory]))  # in place
    assert [p.restartable for p in plans] == [True, False]


def test_unsupported_function_is_not_lifted(build_module):
    """Structure the lifter does not know (here: none of lift.mlir's) leaves the VM in charge."""
    exe, _info, _lifted = _dispatch_function(build_module, "matmul")
    # Every export of lift.mlir is a loop nest the lifter accepts.
    for info in exe.exports:
        fn = exe.module.exports[info.name]
        assert vmvx_lift.lift(exe.module, fn.ordinal) is not None, info.name


def test_nests_wider_than_the_lane_limit_run_in_the_vm(build_module, lift_counter, monkeypatch):
    """A cap on array sizes: past it the VM runs the workgroup (same bytes)."""
    exe, info, lifted = _dispatch_function(build_module, "i8_add")
    monkeypatch.setattr(vmvx_lift, "MAX_LANES", 16)
    a = RNG.integers(0, 256, 48).astype(np.uint8)
    b = RNG.integers(0, 256, 48).astype(np.uint8)
    out = np.zeros(48, np.uint8)
    exe.dispatch(info.ordinal, _state([a, b, out]))
    assert lift_counter == {"lifted": 0, "vm": 1}
    assert out.tobytes() == (a + b).tobytes()


def _assignments(walker, keys):
    """Every assignment of values to loop keys over their trip counts."""
    import itertools

    for index in itertools.product(*[range(walker.trips[k]) for k in keys]):
        yield dict(zip(keys, index, strict=True))


def _at(form, assignment) -> int:
    base, terms = vmvx_lift._parts(form)
    return base + sum(c * assignment[k] for k, c in terms.items())


def _c_div(a: int, d: int) -> tuple[int, int]:
    q = abs(a) // abs(d) * (1 if (a < 0) == (d < 0) else -1)
    return q, a - q * d


def test_divmod_of_affine_indices_is_exact_or_refused():
    """vm.div/rem.i64.s of an affine index by a constant: whenever the lifter gives an
    affine form, it equals C's truncating division at every index; the mixed-radix
    digits of a split loop always give one."""
    rng = np.random.default_rng(11)
    walker = vmvx_lift._Walker(None, plan=True)
    refused = exact = 0
    for _ in range(400):
        keys = [vmvx_lift._Digit() for _ in range(rng.integers(1, 4))]
        for k in keys:
            walker.trips[k] = int(rng.integers(1, 6))
        a = vmvx_lift._aff(int(rng.integers(-6, 30)),
                           {k: int(rng.integers(-3, 13)) for k in keys})
        d = int(rng.integers(1, 13))
        for sym in ("DivI64S", "RemI64S"):
            got = walker._divmod(sym, a, d)
            if got is None:
                refused += 1
                continue
            exact += 1
            for point in _assignments(walker, keys):
                want = _c_div(_at(a, point), d)[0 if sym == "DivI64S" else 1]
                assert _at(got, point) == want, (a, d, sym, point)
    assert refused and exact

    # A linearised loop over (64, th, tw) tiles: n = (th*tw)*c + tw*h + w.
    for th, tw in ((64, 64), (48, 64), (64, 48), (48, 48), (7, 3)):
        trip = 64 * th * tw
        loop = vmvx_lift.Loop(0, 10, 11, 12, "CmpLTI64S")
        loop.divisors = (20, 22)
        walker.env = {("i", 20): th * tw, ("i", 22): tw}
        digits = walker._split(loop, trip)
        assert digits == ((64, th * tw), (th, tw), (tw, 1)), digits
        keys = [vmvx_lift._Digit() for _ in digits]
        for k, (size, _w) in zip(keys, digits, strict=True):
            walker.trips[k] = size
        n = vmvx_lift._aff(0, {k: w for k, (_s, w) in zip(keys, digits, strict=True)})
        c, rest = walker._divmod("DivI64S", n, th * tw), walker._divmod("RemI64S", n, th * tw)
        assert c.terms == {keys[0]: 1}
        assert walker._divmod("DivI64S", rest, tw).terms == {keys[1]: 1}
        assert walker._divmod("RemI64S", n, tw).terms == {keys[2]: 1}
        # Sign fix-ups fold: the index is never negative, the remainder never below 0.
        assert walker._fold("CmpLTI64S", [n, 0]) == 0
        assert walker._fold("CmpLTI64S", [rest, 0]) == 0
        assert walker._fold("AndI32", [vmvx_lift.OPAQUE, 0]) == 0
        assert walker._fold("SelectI64", [0, vmvx_lift.OPAQUE, c]) is c


def test_folded_compares_hold_at_every_index():
    rng = np.random.default_rng(12)
    walker = vmvx_lift._Walker(None, plan=True)
    ops = {"CmpLTI64S": lambda a, b: a < b, "CmpEQI64": lambda a, b: a == b,
           "CmpNEI64": lambda a, b: a != b, "CmpNZI64": lambda a, b: a != 0,
           "CmpLTI64U": lambda a, b: (a % 2**64) < (b % 2**64)}
    folded = 0
    for _ in range(300):
        key = vmvx_lift._Digit()
        walker.trips[key] = int(rng.integers(2, 6))
        a = vmvx_lift.Aff(int(rng.integers(-8, 8)), {key: int(rng.integers(-3, 4)) or 1})
        b = int(rng.integers(-10, 10))
        for sym, fn in ops.items():
            got = walker._fold(sym, [a, b] if sym != "CmpNZI64" else [a])
            if got is None:
                continue
            folded += 1
            for point in _assignments(walker, [key]):
                assert got == int(fn(_at(a, point), b)), (sym, a.base, a.terms, b)
    assert folded > 100
