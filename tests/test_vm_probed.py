"""Probed runs (iree_lab/vm/probed.py) hand the stepping tier exactly its own frames.

A probed runner keeps registers in Python locals and writes the frame back where the
hook is due. For every export of the hand-written VM programs (and the benchmark loops)
each run is made three ways: every instruction hooked (the reference), counting over
register lists (``COUNT_RUN``) and probed. The hook limits the counted runs to a sweep of
target positions, so a probed run must stop at each of them; there every live frame
(function, instruction index, every register slot with its Python type and value, refs)
must equal the reference's at the same position, and the runs must end alike (results,
failure status, the failing instruction's position).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_vm_programs import INPUTS
from test_vm_support import exports_of, input_combinations

from iree_lab import vm
from iree_lab.testing import corpus
from iree_lab.vm.buffer import Buffer
from iree_lab.vm.interpreter import Counting, NativeFrame
from iree_lab.vm.list import List

PROGRAMS = ("vm_control", "vm_buffers", "vm_lists", "vm_globals", "scalar_vmvx", "vm_bench")
# Longer runs are left out (a hooked reference run per input is slow).
MAX_POSITIONS = 60_000


def _ref(value):
    if value is None:
        return None
    if isinstance(value, Buffer):
        return ("buffer", bytes(value.data))
    if isinstance(value, List):
        return ("list", len(value.items))
    return type(value).__name__


def _slot(value):
    if isinstance(value, float) and math.isnan(value):
        return (type(value).__name__, "nan", math.copysign(1.0, value))
    return (type(value).__name__, repr(value))


def _frames(inv):
    out = [inv.stack_bytes]
    for f in inv.stack:
        if type(f) is NativeFrame:
            out.append(("native", f.function.full_name))
            continue
        out.append((f.code.name, f.k, [_slot(v) for v in f.R], [_ref(r) for r in f.RR]))
    return out


def _every_seventh(code):
    """Breakpoint-like hot instructions (the hook is called there) and guards: a register
    guard with its inline form at some, a plain (list-reading) guard at others."""
    hot = frozenset(k for k in range(len(code.instructions)) if k % 7 == 3)
    guards = []
    for k in sorted(hot):
        if k % 3 == 0:
            def guard(R):
                return R[0] != 1  # the hook is skipped unless i0 holds 1

            guard.reads = (0,)
            guard.inline = "_g0 != 1"
            guards.append((k, guard))
        elif k % 3 == 1:
            guards.append((k, lambda R: True))
    return hot, tuple(guards)


def _nothing_hot(code):
    return frozenset(), ()


def _run(ctx, name, args, mode, targets, plan=_every_seventh):
    """(captures by position, end) of one run; ``mode``: hooked / counting / probed;
    ``plan``: the hot instructions and guards of counted runs."""
    cell = [0, 0]
    pending = sorted(targets, reverse=True)
    captures = {}

    def hook(inv, frame, k):
        cell[0] += 1
        position = cell[0]
        assert frame is inv.stack[-1] and frame.k == k
        while pending and pending[-1] <= position:
            if pending.pop() == position:
                captures[position] = _frames(inv)
        cell[1] = pending[-1] if pending else math.inf
        return False

    inv = ctx.invoke(name, *args, hook=hook)
    if mode != "hooked":
        inv.counting = Counting(cell, plan, probed=mode == "probed")
        cell[1] = pending[-1] if pending else math.inf
    with np.errstate(all="ignore"):
        state = inv.run()
        while state == vm.InvocationState.SUSPENDED:
            state = inv.run()
    while state == vm.InvocationState.SUSPENDED:
        state = inv.run()
    if state == vm.InvocationState.DONE:
        end = ("done", cell[0], [_slot(v) if _ref(v) == type(v).__name__ else _ref(v)
                                 for v in inv.results])  # fmt: skip
    else:
        end = ("failed", cell[0], inv.status.code.name, inv.status.message)
    return captures, end


def _cases():
    for program in PROGRAMS:
        path = corpus.build(program)
        for fn in exports_of(path):
            inputs = INPUTS.get((program, fn.name)) or input_combinations(
                fn.cconv.arguments if fn.cconv else "", limit=3)
            if program == "scalar_vmvx" or program == "vm_bench":
                inputs = [(3,), (40,)] if fn.cconv and fn.cconv.arguments == "i" else inputs[:2]
            for args in inputs if fn.name == "nested" else inputs[:3]:
                yield pytest.param(program, fn.name, args, id=f"{program}.{fn.name}{args}")


@pytest.mark.parametrize(("program", "name", "args"), list(_cases()))
def test_probed_frames_equal_the_stepping_tier_at_every_swept_position(program, name, args):
    path = corpus.build(program)

    def context():
        return vm.Context([vm.BytecodeModule.load(path)], fast=False)

    _, end = _run(context(), name, args, "hooked", [])
    total = end[1]
    if total > MAX_POSITIONS:
        pytest.skip(f"{total} positions (a hooked reference run is too slow for a sweep)")
    step = max(1, total // 60)
    dense = sorted({*range(1, total + 1, step), 2, 3, 5, 8, 13, total - 1, total} - {0, -1})
    # Sparse targets leave long counted runs (traps inside them, loops run through).
    sparse = sorted({total // 3} - {0})
    for targets in (dense, sparse):
        reference = _run(context(), name, args, "hooked", targets)
        assert reference[1] == end
        assert set(reference[0]) == {t for t in targets if 1 <= t <= total}
        # Nothing hot: loops run as counted loops (vm.probed.counted_loop).
        for mode, plan in (("counting", _every_seventh), ("probed", _every_seventh),
                           ("probed", _nothing_hot)):
            captures, mode_end = _run(context(), name, args, mode, targets, plan)
            assert mode_end == end, (mode, plan.__name__)
            for position in sorted(reference[0]):
                assert captures.get(position) == reference[0][position], (mode, position)
