"""Time travel: going back then forward reproduces identical state.

``state_digest()`` hashes everything a program can observe (stack, every
register word, globals, the contents of every reachable buffer, list and
buffer view) without object identities. Each test records digests while
running forward, then revisits the positions out of order (backwards and
forwards, through snapshots and through re-execution in a fresh world) and
requires the same digest and the same instruction at each.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from iree_lab import samples
from iree_lab.debug import Debugger
from iree_lab.testing import corpus

DBGNATIVE = str(Path(__file__).parent / "programs" / "debug" / "dbgnative.py")
WORK_CALL_NOISE = 0x6F


def app(function, inputs, **kw) -> Debugger:
    kw.setdefault("replay_imports", ("dbgnative.noise",))
    replay = kw.pop("replay_imports")
    return Debugger.launch([DBGNATIVE, corpus.build("debug_app")], function, inputs,
                           replay_imports=replay, **kw)


def _text(stop) -> str:
    # Refs created after the point travelled back to are new objects on re-execution:
    # same contents (the digest), another address.
    return re.sub(r"/0x[0-9a-f]+", "/0x?", stop.text or "")


def _record(dbg, positions) -> dict[int, tuple[str, str]]:
    seen = {}
    for p in sorted(positions):
        stop = dbg.goto(p)
        assert stop.position == p and stop.phase == "before"
        seen[p] = (dbg.state_digest(), _text(stop))
    return seen


def _revisit(dbg, seen, order) -> None:
    for p in order:
        stop = dbg.goto(p)
        assert (dbg.state_digest(), _text(stop)) == seen[p], f"position {p}"


@pytest.mark.parametrize("interval", [64, 0], ids=["snapshots", "re-execution"])
def test_back_and_forth_with_imports_and_yields(interval):
    with app("work", ["60"], snapshot_interval=interval) as dbg:
        end = dbg.cont()
        assert end.reason == "done"
        last = end.position
        half, three_quarters = last // 2, last * 3 // 4
        positions = [1, 2, 13, 14, 17, 18, 19, 200, 201, half, three_quarters, last - 5,
                     last - 1, last]
        seen = _record(dbg, positions)
        order = [last, 1, half, 19, three_quarters, 14, last - 1, 200, 201, 18, 2, last - 5,
                 13, 17]
        _revisit(dbg, seen, order)
        # Single steps back and forth agree with the recorded states too.
        dbg.goto(201)
        assert dbg.back().position == 200 and dbg.state_digest() == seen[200][0]
        assert dbg.step().position == 201 and dbg.state_digest() == seen[201][0]
        # ... and the run still ends with the same results.
        final = dbg.cont()
        assert final.reason == "done" and final.results == end.results
        if interval:
            assert dbg.engine.snapshots and dbg.restores > 0 and dbg.worlds_built == 1
        else:
            assert dbg.worlds_built > 1 and dbg.restores == 0


def test_without_replay_a_nondeterministic_import_breaks_reproduction():
    # The reason replay_imports exists: dbgnative.noise returns random numbers.
    with app("work", ["40"], replay_imports=()) as dbg:
        end = dbg.cont()
        digest = dbg.state_digest()
        dbg.goto(1)
        again = dbg.cont()
        assert again.position == end.position  # control flow does not depend on it...
        assert dbg.state_digest() != digest  # ...the values do


def test_snapshots_and_re_execution_agree_on_a_long_loop():
    positions = [1, 5, 12_345, 99_999, 150_000, 199_990]
    total = sum(i * i for i in range(20000))
    expected = (total + 2**31) % 2**32 - 2**31  # i32 arithmetic wraps
    digests = []
    for interval in (5_000, 0):
        with app("spin", ["20000"], snapshot_interval=interval) as dbg:
            end = dbg.cont()
            assert end.results == [expected] and dbg.globals("dbg").i32(4) == 20000
            seen = _record(dbg, positions)
            _revisit(dbg, seen, positions[::-1])
            assert dbg.globals("dbg").i32(4) == 0  # back at position 1: globals rolled back
            digests.append(seen)
    assert digests[0] == digests[1]


def test_reverse_continue_visits_breakpoint_hits_backwards():
    with app("work", ["4"]) as dbg:
        bp = dbg.break_import("dbgnative.noise")
        forward = []
        while dbg.cont().reason == "breakpoint":
            forward.append(dbg.stop.position)
        assert len(forward) == 4 and bp.hits == 4
        backward = []
        stop = dbg.reverse_continue()
        while stop.reason == "breakpoint":
            assert stop.frame.pc == WORK_CALL_NOISE and stop.breakpoints == [bp]
            backward.append(stop.position)
            assert bp.hits == len(forward) - len(backward) + 1  # counts travel too
            stop = dbg.reverse_continue()
        assert backward == forward[::-1]
        assert stop.reason == "start" and stop.position == 1
        # A watchpoint works backwards as well: the counter's last change.
        dbg.delete(bp.id)
        dbg.watch_global(0, "i32", module="dbg")
        dbg.goto(forward[-1])
        stop = dbg.reverse_continue()
        assert stop.reason == "watchpoint" and stop.watch[0][1:] == (2, 3)


def test_time_travel_through_suspensions():
    with app("work", ["2"]) as dbg:
        suspends = []
        dbg.break_on_suspend = True
        stop = dbg.cont()
        while stop.reason == "suspend":
            suspends.append((stop.position, stop.frame.kind, dbg.state_digest()))
            stop = dbg.cont()
        assert [kind for _, kind, _ in suspends] == ["bytecode"] * 2 + ["native"] * 3
        # Back from a suspension lands before the instruction that suspended.
        dbg.goto(suspends[0][0])
        assert dbg.stop.text.startswith("vm.yield")
        dbg.break_on_suspend = False
        assert dbg.cont().reason == "done" and dbg.stop.results == stop.results


def test_time_travel_into_and_out_of_a_dispatch():
    with Debugger.launch(samples.path("mlp"), "predict", ["1x8xf32=1 2 3 4 5 6 7 8"],
                         snapshot_interval=50) as dbg:
        dbg.break_dispatch()
        entry = dbg.cont()
        dbg.step(10)
        inside = (dbg.stop.position, dbg.state_digest(), [str(f) for f in dbg.frames])
        after = dbg.finish()
        assert len(after.frames) == 1
        # Step back from the caller into the dispatch's last instruction.
        stop = dbg.back()
        assert stop.frame.function.startswith("predict_dispatch_0")
        assert stop.text == "vm.return" and len(stop.frames) == 3
        stop = dbg.goto(inside[0])
        assert (dbg.state_digest(), [str(f) for f in dbg.frames]) == inside[1:]
        assert dbg.back(10).position == entry.position
        assert dbg.stop.frame.pc == 0 and dbg.stop.frame.workgroup == (0, 0, 0)
        end = dbg.cont()
        assert end.reason == "done"
        values = end.results[0].to_numpy().ravel().tolist()
        assert values == pytest.approx([10.1, 13.55, 11.3, 14.6])
