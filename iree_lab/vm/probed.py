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
dead registers are kept, compares are not fused into branches), so the frame
it writes back equals the stepping tier's frame at the same position. Calls,
returns, yields and failures leave the runner like they leave ``COUNT_RUN``
(``-(k + 1)``), so every live frame is always a stepping-tier frame between
runs: snapshots, stops and time travel see nothing else.
"""

from __future__ import annotations

import itertools
import linecache

from iree_lab.vm.emit import ConstantPool, EmitContext, Naming, register_slots
from iree_lab.vm.registers import slot_word
from iree_lab.vm.value import i32

_source_ids = itertools.count()
_MARK = "#@"  # generation-time mark: the next lines belong to instruction k


def _word_i32(value) -> int:
    return i32(slot_word(value))


class ExactLocals(Naming):
    """Registers as locals, every 64-bit write with its high word (the stepping tier's
    representation, so a frame written back is bit- and type-exact)."""

    def i(self, slot: int) -> str:
        return f"i{slot}"

    def r(self, slot: int) -> str:
        return f"r{slot}"


def compile_probed(code, hot: frozenset, guards: tuple):
    """``(keys, PROBE_RUN)`` of stepping-tier function ``code`` for breakpoint
    instructions ``hot`` and register guards ``guards`` ((k, fn) with k in hot;
    ``fn(R)`` true where the hook would return False; ``fn.reads``, when present,
    lists the register slots it reads)."""
    from iree_lab.vm.interpreter import _index_dispatch

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

    parts = [code._parts(k, inst, naming, ctx, code_bytes, record=False)
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
    ints = sorted(s for s in ints if s < code.i32_count)
    refs = sorted(s for s in refs if s < code.ref_count)
    load = [f"i{s} = R[{s}]" for s in ints] + [f"r{s} = RR[{s}]" for s in refs]
    store = [f"R[{s}] = i{s}" for s in ints] + [f"RR[{s}] = r{s}" for s in refs]

    def leave(position: str, code_value: str) -> list[str]:
        return store + [f"C[0] = {position}", f"return {code_value}"]

    def segment(start):
        out = []
        k = start
        while True:
            part = parts[k]
            out.append((k, part))
            if part is None:
                return out
            _lines, exits = part
            if len(exits) == 1 and exits[0][2] == k + 1 and not exits[0][1]:
                k += 1
                if k in bounds or k >= n_insts:
                    return out
                continue
            return out

    def jump(target, start):
        return ["continue"] if target == start else [f"k = {target}", "break"]

    def tail(k, part, start):
        if part is None:
            return leave("_p", str(-(k + 1)))
        lines, exits = part
        body = list(lines)
        if len(exits) == 1 and exits[0][2] == k + 1 and not exits[0][1]:
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
        hook = store + [f"C[0] = _p - {back + 1}", f"return {k}"]
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
        for i, (k, part) in enumerate(seg):
            if k in guard_of:
                body += guard_test(k, back - i)
            body.append(f"{_MARK}{k} {back - i}")  # where a trap on the next lines is
            if part is None:  # a control op ends its run (counted up to itself)
                body += leave("_p", str(-(k + 1)))
            elif i + 1 < len(seg):
                body += part[0]
            elif open_end:
                body += part[0] + part[1][0][1]
            else:
                body += tail(k, part, start)
        return body

    def successor(start, seg):
        k, part = seg[-1]
        if part is None or len(part[1]) != 1 or part[1][0][0] is not None:
            return None
        target = part[1][0][2]
        if target == start or target not in keys or target in plain_hot:
            return None
        return target

    cases = []
    for start in sorted(keys):
        if start in plain_hot:
            cases.append((start, leave("_p", str(start))))
            continue
        seg = segment(start)
        target = successor(start, seg)
        following = segment(target) if target is not None else []
        total = len(seg) + len(following)
        body = [f"_p += {total}", "if _p >= _L:", f"    _p -= {total}"]
        body += ["    " + x for x in leave("_p", str(start))]
        body += run(seg, start, total - 1, open_end=bool(following))
        if following:
            body += run(following, start, len(following) - 1)
        cases.append((start, ["while True:"] + ["    " + x for x in body]))

    lines = ["def PROBE_RUN(R, RR, F, I, H, k, C):"]
    lines += ["    " + x for x in load]
    lines += ["    _p = C[0]", "    _L = C[1]", "    try:", "        while True:"]
    # An index without a case (not one of the keys the caller checks): hook it.
    for line in _index_dispatch(cases):
        if line.strip() == "return k":
            pad = line[: len(line) - len(line.lstrip())]
            lines += ["            " + pad + x for x in leave("_p", "k")]
        else:
            lines.append("            " + line)
    # A trap: the frame written back, the position the failing instruction's (found
    # from the line it raised on: no per-instruction bookkeeping on the hot path).
    lines += ["    except BaseException as _e:"]
    lines += ["        " + x for x in store]
    lines += ["        _j = _LK[_e.__traceback__.tb_lineno]", "        if _j >= 0:",
              "            C[0] = _p - _LB[_e.__traceback__.tb_lineno]", "            F.k = _j",
              "        else:", "            C[0] = _p", "        raise"]
    # Marks become the line table: instruction index and position offset per line.
    out = []
    line_k = [-1]
    line_back = [0]
    k_now, back_now = -1, 0
    for line in lines:
        text = line.strip()
        if text.startswith(_MARK):
            k_now, back_now = (int(x) for x in text[len(_MARK):].split())
            continue
        if text.startswith(("_p += ", "except ")):  # a run starts: no instruction yet
            k_now, back_now = -1, 0
        out.append(line)
        line_k.append(k_now)
        line_back.append(back_now)
    lines = out
    text = "\n".join(lines) + "\n"
    filename = f"<iree_lab probed {code.module.name}.{code.name} #{next(_source_ids)}>"
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    namespace = dict(code._namespace)
    namespace.update(consts.namespace())
    namespace.update({f"_G{k}": fn for k, fn in guards})
    namespace["_word_i32"] = _word_i32
    namespace["_LK"] = line_k + [-1]
    namespace["_LB"] = line_back + [0]
    exec(compile(text, filename, "exec"), namespace)  # noqa: S102 - our own templates
    return frozenset(keys), namespace["PROBE_RUN"]
