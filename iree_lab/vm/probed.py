"""Probed runs: a debugged invocation's counting runs with registers as Python locals.

The counting runner (:meth:`CompiledFunction.count_runner`) spares a hooked
invocation the hook where nothing can stop, but still reads and writes every
register through the frame's lists (``R[3]``). A probed runner is the same
runner compiled the fast tier's way: registers are locals (``i3``, ``r1``),
loaded from the frame when it is entered and written back at every exit, and
the position is a local added to once per straight-line run. It is a drop-in
for ``COUNT_RUN`` with the same signature and codes, with one difference: it
never calls the hook. Where the hook is due (a breakpoint instruction whose
guard does not rule a stop out, the position limit reached inside a run) it
writes the frame back and returns that instruction's index; the invocation
then hooks that instruction and steps on until the next key, where the probed
runner takes over again.

Exactness: every register is written exactly as the stepping tier writes it
(the same templates, a 64-bit write stores its high word, branch copies into
dead registers are kept; a compare fused into its branch writes its result in
each arm), so the frame it writes back equals the stepping tier's frame at the
same position. Returns, yields, failures and import calls leave the runner like
they leave ``COUNT_RUN`` (``-(k + 1)``). Internal calls to functions that are not
recursive and cannot yield are direct: a Python call of the callee's probed
entry, arguments and results slot by slot (``calls.argument_plan`` /
``calls.result_plan``). Where such a callee must give way to the stepping tier
(the hook is due, a control op, a trap: it then hands over just before the
failing instruction, which the stepping tier executes and fails at), it raises
:class:`HandOff` with its frame written back; each direct caller adds its own
frame and the invocation's runner pushes them (``SWITCH_CODE`` /
``TOP_CONTROL_CODE``). So between runs every live frame is a stepping-tier frame:
snapshots, stops and time travel see nothing else.
"""

from __future__ import annotations

import itertools
import linecache

from iree_lab.isa import tables as T
from iree_lab.vm import calls
from iree_lab.vm.emit import (
    ConstantPool,
    EmitContext,
    Naming,
    compare_condition,
    register_slots,
)
from iree_lab.vm.registers import slot_word
from iree_lab.vm.value import cconv_register_layout, i32

_source_ids = itertools.count()
_YIELDING = ("Yield", "CallYieldable", "CallVariadicYieldable")
_MARK = "#@"  # generation-time mark: the next lines belong to instruction k
_LOOP = "#%"  # generation-time mark: the next lines are (not) a counted loop's body
_ROUNDS = 1 << 16  # counted-loop iterations between two reads of the limit
_HANDLER = "except BaseException as _e:"  # the trap handler's first line
_SYNC = "#=position"  # generation-time line: where a counted loop must compute _p


def _word_i32(value) -> int:
    return i32(slot_word(value))


class ExactLocals(Naming):
    """Registers as locals, every 64-bit write with its high word (the stepping tier's
    representation, so a frame written back is bit- and type-exact)."""

    def i(self, slot: int) -> str:
        return f"i{slot}"

    def r(self, slot: int) -> str:
        return f"r{slot}"


class HandOff(BaseException):
    """Raised out of a direct call (a probed callee called as a Python function) where
    the stepping tier must continue: carries the callees' frames, innermost first, each
    written back; ``control``: the innermost frame's instruction is a control op for
    the invocation to perform (else the hook is due there). Not an Exception: nothing
    in between may catch it."""

    def __init__(self, control: bool):
        self.frames: list = []
        self.control = control


def recursive_functions(state) -> set[int]:
    """Internal functions of ``state``'s module on a call-graph cycle (never called
    directly: a direct call nests a Python frame per VM frame)."""
    found = state.fast_code.get("recursive")
    if found is None:
        from iree_lab.vm.fast import _recursive_functions

        found = state.fast_code["recursive"] = _recursive_functions(state.module)
    return found


def direct_callee(code, k: int):
    """The stepping-tier code of the internal function instruction ``k`` of ``code`` may
    call directly (a plain ``vm.call``, callee not recursive, cannot yield, returns what
    the call takes), else None."""
    from iree_lab.vm.interpreter import compiled_function

    inst = code.instructions[k]
    if inst.op.symbol != "Call" or inst.values[0] & T.FUNCTION_ORDINAL_IMPORT_BIT:
        return None
    ordinal = inst.values[0]
    if ordinal in recursive_functions(code.state):
        return None
    callee = compiled_function(code.state, ordinal)
    if callee._direct_ok is None:
        fragment = callee.cconv.results
        callee._direct_ok = all(
            i.op.symbol not in _YIELDING and (i.op.flow != T.FLOW_RETURN
                                              or len(i.values[0]) == len(fragment))
            for i in callee.instructions)  # fmt: skip
    if not callee._direct_ok or len(inst.values[2]) != len(callee.cconv.results):
        return None
    return callee


def direct_closure(code) -> tuple:
    """Every function ``code``'s probed code calls directly, transitively (cached)."""
    if code._direct_closure is None:
        seen: dict = {}
        work = [code]
        while work:
            c = work.pop()
            for k in range(len(c.instructions)):
                callee = direct_callee(c, k)
                if callee is not None and id(callee) not in seen:
                    seen[id(callee)] = callee
                    work.append(callee)
        code._direct_closure = tuple(seen.values())
    return code._direct_closure


def cache_key(code, plan, plan_of) -> tuple:
    """What ``code``'s probed code depends on: its plan and its direct callees' plans."""
    if plan_of is None:
        return (plan,)
    return (plan, tuple(plan_of(c) for c in direct_closure(code)))


def direct_entry(code, plan_of):
    """``DIRECT(C, I, *abi slots)``: ``code`` run from its entry as a direct call."""
    plan = plan_of(code)
    key = cache_key(code, plan, plan_of)
    entry = code._direct_entries.get(key)
    if entry is None:
        if len(code._direct_entries) > 16:
            code._direct_entries.clear()
        entry = code._direct_entries[key] = compile_probed(code, *plan, plan_of=plan_of,
                                                           direct=True)
    return entry


def compile_probed(code, hot: frozenset, guards: tuple, plan_of=None, direct: bool = False):
    """``(keys, PROBE_RUN)`` of stepping-tier function ``code`` for breakpoint
    instructions ``hot`` and register guards ``guards`` ((k, fn) with k in hot;
    ``fn(R)`` true where the hook would return False; ``fn.reads``, when present,
    lists the register slots it reads). With ``plan_of`` (code -> its (hot, guards)),
    internal calls to :func:`direct_callee` functions are Python calls of their
    :func:`direct_entry`; with ``direct``, the result is that entry itself."""
    from iree_lab.vm.interpreter import (
        MAX_STACK_BYTES,
        SWITCH_CODE,
        TOP_CONTROL_CODE,
        Frame,
        falls_through,
        index_dispatch,
        straight_run,
    )

    insts = code.instructions
    n_insts = len(insts)
    naming = ExactLocals()
    consts = ConstantPool("P")
    ctx = EmitContext(consts, types=code.module.types, rodata=code.state.rodata)
    cache: list = []

    def code_bytes():
        if not cache:
            cache.append(code.module.function_bytes(code.ordinal))
        return cache[0]

    parts = [code.compiled_part(k, inst, naming, ctx, code_bytes, record=False)
             for k, inst in enumerate(insts)]  # fmt: skip
    guard_of = dict(guards)
    plain_hot = hot - frozenset(guard_of)
    keys = set(code.entry_keys)
    for k in hot:
        if 0 <= k < n_insts:
            keys.add(k)
            if k + 1 < n_insts:
                keys.add(k + 1)
    bounds = set(code.entry_keys)
    for k in plain_hot:
        bounds.update((k, k + 1))

    ints, refs = register_slots(insts)
    params = []
    for ch, reg in cconv_register_layout(code.cconv.arguments):
        if ch == "r":
            params.append(f"r{reg}")
            refs.add(reg)
        else:
            params.append(f"i{reg}")
            ints.add(reg)
            if ch in "IF":
                params.append(f"i{reg + 1}")
                ints.add(reg + 1)
    ints = sorted(s for s in ints if s < code.i32_count)
    refs = sorted(s for s in refs if s < code.ref_count)
    load = [f"i{s} = R[{s}]" for s in ints] + [f"r{s} = RR[{s}]" for s in refs]
    store = [f"R[{s}] = i{s}" for s in ints] + [f"RR[{s}] = r{s}" for s in refs]
    consts_used: dict = {"_HO": HandOff, "_Frame": Frame, "_SWITCH": SWITCH_CODE,
                         "_TOP": TOP_CONTROL_CODE, "_CODE": code}
    callees = {}
    if plan_of is not None:
        for k in range(n_insts):
            callee = direct_callee(code, k)
            if callee is not None:
                callees[k] = callee
                consts_used[f"_D{k}"] = direct_entry(callee, plan_of)

    def materialize(k: str) -> list[str]:
        """A new frame of this function holding the locals, at instruction ``k``."""
        return (["_fr = _Frame(_CODE)", "R = _fr.R", "RR = _fr.RR"] + store
                + [f"_fr.k = {k}", "_fr.entry = True"])

    def leave(position: str, k: str, control: bool = False) -> list[str]:
        """Hands the frame to the stepping tier at ``k``: the hook is due there, or
        (``control``) the invocation performs its control op."""
        if direct:
            return ([f"C[0] = {position}"] + materialize(k)
                    + [f"_h = _HO({control})", "_h.frames.append(_fr)", "raise _h"])
        return store + [f"C[0] = {position}", f"return {-(int(k) + 1) if control else k}"]

    def call_lines(k) -> list[str]:
        """A direct call: arguments and results slot by slot as the stepping tier copies
        them (calls.argument_plan / calls.result_plan)."""
        inst = insts[k]
        callee = callees[k]
        _callee_ordinal, operands, results = inst.values
        body = ["C[0] = _p"]
        args = []
        plan = calls.argument_plan(callee.cconv.arguments, operands)
        moves = any(kind == 3 for kind, _s, _d in plan)
        for j, (kind, src, _dst) in enumerate(plan):
            if kind == 0:
                args.append(f"i{src}")
            elif kind == 1:
                args += [f"i{src}", f"i{src + 1}"]
            elif kind == 2 and not moves:
                args.append(f"r{src}")
            else:  # refs read in order: a move empties the register for later arguments
                body.append(f"_a{j} = r{src}")
                if kind == 3:
                    body.append(f"r{src} = None")
                args.append(f"_a{j}")
        targets = []
        for kind, _src, dst in calls.result_plan(callee.cconv.results, results, results):
            if kind == 1:
                targets += [f"i{dst}", f"i{dst + 1}"]
            elif kind >= 2:
                targets.append(f"r{dst}")
            else:
                targets.append(f"i{dst}")
        call = f"_D{k}(C, I{''.join(', ' + a for a in args)})"
        body.append("try:")
        body.append(f"    {', '.join(targets)}, = {call}" if targets else f"    {call}")
        consts_used[f"_RR{k}"] = results
        frame = "_fr" if direct else "F"
        caller = materialize(str(k)) if direct else store + [f"F.k = {k}"]
        caller += [f"{frame}.return_registers = _RR{k}", f"{frame}.return_fragment = None",
                   f"{frame}.resume_index = {k + 1}"]
        if direct:
            caller += ["_h.frames.append(_fr)", "raise"]
        else:
            caller += ["I.stack.extend(reversed(_h.frames))",
                       "return _TOP if _h.control else _SWITCH"]
        body += ["except _HO as _h:"] + ["    " + x for x in caller]
        return body + ["_p = C[0]"]

    def return_lines(k) -> list[str]:
        """``vm.return`` of a direct call: the result slots, as the stepping tier's
        return copies them into the caller (calls.result_plan)."""
        body = ["C[0] = _p", f"I.stack_bytes -= {code.frame_bytes}"]
        values = []
        operands = insts[k].values[0]
        plan = calls.result_plan(code.cconv.results, operands, operands)
        for j, (kind, src, _dst) in enumerate(plan):
            if kind == 1:
                values += [f"i{src}", f"i{src + 1}"]
            elif kind >= 2:  # refs read in order: a move empties the register
                body.append(f"_x{j} = r{src}")
                if kind == 3:
                    body.append(f"r{src} = None")
                values.append(f"_x{j}")
            else:
                values.append(f"i{src}")
        return body + ([f"return ({', '.join(values)},)"] if values else ["return None"])

    def segment(start):
        return straight_run(parts, start, bounds)

    def jump(target, start):
        return ["continue"] if target == start else [f"k = {target}", "break"]

    def fusable(seg, i):
        """(slot, condition) when instruction ``seg[i]`` is a compare whose result the
        run's final cond_br (next) branches on: branch on the condition directly and
        write the result register in each arm (the stepping tier's value: 1 or 0)."""
        k = seg[i][0]
        if i + 2 != len(seg) or k + 1 in guard_of or insts[k + 1].op.flow != T.FLOW_COND_BRANCH:
            return None
        found = compare_condition(insts[k], naming)
        if found is None or found[0] != insts[k + 1].values[0]:
            return None
        return found

    def tail(k, part, start, fused=None):
        if fused is not None:  # a cond_br on the compare before it
            slot, condition = fused
            (_c, then, t_target), (_n, other, f_target) = part[1]
            part = (part[0], [(f"if {condition}:", [f"i{slot} = 1"] + then, t_target),
                              (None, [f"i{slot} = 0"] + other, f_target)])
        if part is None:
            if k in callees:
                return call_lines(k) + jump(k + 1, start)
            if direct and insts[k].op.flow == T.FLOW_RETURN:
                return return_lines(k)
            return leave("_p", str(k), control=True)
        lines, exits = part
        body = list(lines)
        if falls_through(part, k):
            return body + jump(k + 1, start)
        for condition, remap, target in exits:
            go = remap + jump(target, start)
            if condition is None:
                body += go
            else:
                body += [condition] + ["    " + x for x in go]
        return body

    def guard_test(k, back) -> list[str]:
        fn = guard_of[k]
        reads = getattr(fn, "reads", None)
        inline = getattr(fn, "inline", None)
        hook = [_SYNC] + leave(f"_p - {back + 1}", str(k))
        if reads is not None and inline is not None:
            # The guard's own test, inlined: any exception means "take the hook".
            test = ["try:"]
            test += [f"    _g{s} = (((i{s} + 2147483648) & 4294967295) - 2147483648 "
                     f"if type(i{s}) is int else _word_i32(i{s}))" for s in reads]
            test += [f"    _gv = {inline}", "except Exception:", "    _gv = False",
                     "if not _gv:"]
            return test + ["    " + x for x in hook]
        if reads is not None:
            args = "{" + ", ".join(f"{s}: i{s}" for s in reads) + "}"
            test = [f"if not _G{k}({args}):"]
        else:  # the guard reads the frame's list: write it back first
            test = store + [f"if not _G{k}(R):"]
        return test + ["    " + x for x in hook]

    def run(seg, start, back, open_end=False):
        """Lines of counted run ``seg``; ``back``: the position of its first instruction
        is ``_p - back`` (``_p`` already counts the whole run)."""
        body = []
        fused = None
        for i, (k, part) in enumerate(seg):
            if k in guard_of:
                body += guard_test(k, back - i)
            body.append(f"{_MARK}{k} {back - i}")  # where a trap on the next lines is
            if part is None:  # a control op ends its run (counted up to itself)
                body += tail(k, part, start)
            elif i + 1 < len(seg):
                fused = fusable(seg, i)
                if fused is None:
                    body += part[0]
            elif open_end:
                body += part[0] + part[1][0][1]
            else:
                body += tail(k, part, start, fused)
        return body

    def successor(start, seg):
        k, part = seg[-1]
        if part is None or len(part[1]) != 1 or part[1][0][0] is not None:
            return None
        target = part[1][0][2]
        if target == start or target not in keys or target in plain_hot:
            return None
        return target

    def counted_loop(start, total, body) -> list[str]:
        """A run that loops back to its own start (no control op or call inside) as a
        ``for`` over the iterations that stay below the limit: the position is
        ``_pb + _it * total``, computed only where the loop is left."""
        # At most _ROUNDS iterations per entry: the limit is read again after them (an
        # interrupt lowers it from another thread).
        out = ["_n = C[1] - _p - 1",
               f"_n = _n // {total} if _n < {_ROUNDS * total} else {_ROUNDS}", "if _n <= 0:"]
        out += ["    " + x for x in leave("_p", str(start))]
        out += ["_pb = _p", f"{_LOOP}{total}", "for _it in range(1, _n + 1):"]
        for line in body:
            pad = line[: len(line) - len(line.lstrip())]
            if line.strip() == _SYNC:  # a guard hands over: the position first
                out.append(f"    {pad}_p = _pb + _it * {total}")
                continue
            if line.strip() == "break":  # left for another block: the position first
                out.append(f"    {pad}_p = _pb + _it * {total}")
            out.append("    " + line)
        out += [f"{_LOOP}0", "else:", f"    _p = _pb + _n * {total}"]
        out += ["    " + x for x in leave("_p", str(start))]
        return out  # left by a break: on to the dispatch on k

    cases = []
    for start in sorted(keys):
        if start in plain_hot:
            cases.append((start, leave("_p", str(start))))
            continue
        seg = segment(start)
        target = successor(start, seg)
        following = segment(target) if target is not None else []
        total = len(seg) + len(following)
        body = run(seg, start, total - 1, open_end=bool(following))
        if following:
            body += run(following, start, len(following) - 1)
        if all(parts[k] is not None for k, _ in seg + following) and any(
                x.strip() == "continue" for x in body):
            cases.append((start, counted_loop(start, total, body)))
            continue
        body = [x for x in body if x.strip() != _SYNC]
        head = [f"_p += {total}", "if _p >= C[1]:", f"    _p -= {total}"]
        head += ["    " + x for x in leave("_p", str(start))]
        cases.append((start, ["while True:"] + ["    " + x for x in head + body]))

    frame_cost = code.frame_bytes
    if direct:
        lines = [f"def DIRECT(C, I{''.join(', ' + p for p in params)}):"]
        inits = [f"i{s} = 0" for s in ints if f"i{s}" not in params]
        inits += [f"r{s} = None" for s in refs if f"r{s}" not in params]
        # Too deep for IREE's stack: the caller's call is performed by the invocation.
        inits += [f"_sb = I.stack_bytes + {frame_cost}",
                  f"if _sb > {MAX_STACK_BYTES}: raise _HO(True)", "I.stack_bytes = _sb",
                  "k = 0"]
        lines += ["    " + x for x in inits]
    else:
        lines = ["def PROBE_RUN(R, RR, F, I, H, k, C):"]
        lines += ["    " + x for x in load]
    lines += ["    _p = C[0]", "    try:", "        while True:"]
    # An index without a case (not one of the keys the caller checks): hook it.
    for line in index_dispatch(cases):
        if line.strip() == "return k":
            pad = line[: len(line) - len(line.lstrip())]
            lines += ["            " + pad + x for x in leave("_p", "k")]
        else:
            lines.append("            " + line)
    # Inside a counted loop the position is that of the iteration (see counted_loop).
    in_loop = ["        _t = _LT[_e.__traceback__.tb_lineno]", "        if _t:",
               "            _p = _pb + _it * _t"]
    # A trap: the position the failing instruction's (found from the line it raised on:
    # no per-instruction bookkeeping on the hot path). A direct call hands its frame
    # over before the failing instruction: the stepping tier fails there again.
    if direct:
        lines += ["    except _HO:", "        raise", "    except KeyboardInterrupt:",
                  "        raise", "    " + _HANDLER,
                  "        _j = _LK[_e.__traceback__.tb_lineno]", "        if _j < 0:",
                  "            raise", *in_loop]
        lines += ["        " + x for x in leave("_p - _LB[_e.__traceback__.tb_lineno] - 1",
                                               "_j")]
        lines[-1] = "        raise _h from None"
    else:
        lines += ["    " + _HANDLER, *in_loop]
        lines += ["        " + x for x in store]
        lines += ["        _j = _LK[_e.__traceback__.tb_lineno]", "        if _j >= 0:",
                  "            C[0] = _p - _LB[_e.__traceback__.tb_lineno]",
                  "            F.k = _j", "        else:", "            C[0] = _p", "        raise"]
    # Marks become the line table: instruction index and position offset per line.
    out = []
    line_k = [-1]
    line_back = [0]
    line_loop = [0]
    k_now, back_now, loop_now = -1, 0, 0
    for line in lines:
        text = line.strip()
        if text.startswith(_LOOP):
            loop_now = int(text[len(_LOOP):])
            continue
        if text.startswith(_MARK):
            k_now, back_now = (int(x) for x in text[len(_MARK):].split())
            continue
        if text.startswith(("_p += ", "_n = C[1]", _HANDLER)):  # no instruction yet
            k_now, back_now = -1, 0
        if text.startswith(_HANDLER):
            loop_now = 0
        out.append(line)
        line_k.append(k_now)
        line_back.append(back_now)
        line_loop.append(loop_now)
    lines = out
    text = "\n".join(lines) + "\n"
    filename = f"<iree_lab probed {code.module.name}.{code.name} #{next(_source_ids)}>"
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    namespace = dict(code._namespace)
    namespace.update(consts.namespace())
    namespace.update({f"_G{k}": fn for k, fn in guards})
    namespace["_word_i32"] = _word_i32
    namespace.update(consts_used)
    namespace["_LK"] = line_k + [-1]
    namespace["_LB"] = line_back + [0]
    namespace["_LT"] = line_loop + [0]
    exec(compile(text, filename, "exec"), namespace)  # noqa: S102 - our own templates
    if direct:
        return namespace["DIRECT"]
    return frozenset(keys), namespace["PROBE_RUN"]
