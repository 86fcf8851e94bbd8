"""The fast tier: each bytecode function becomes one specialised Python function.

Registers become Python locals (``i3``, ``r1``), straight-line ops are the
templates of :mod:`iree_lab.vm.emit`, blocks with a single predecessor are
inlined at their branch and the rest are dispatched from one ``while`` loop,
internal calls are direct Python calls and imports call their resolved
targets. Nothing is allocated per instruction and there is no per-instruction
hook: the fast tier runs when no hook or instruction budget is installed
(a hook forces the stepping tier, :mod:`iree_lab.vm.interpreter`).

Code is generated only from verified instructions: register ordinals, block
indices, counts and offsets are numbers the decoder validated; everything
else a module supplies reaches generated code through constant-pool names.

The high word of an i64/f64 register pair is only kept where the function
reads that odd register as a 32-bit value (the raw register view is a
stepping-tier feature). Functions that can suspend (``vm.yield``, yieldable
calls) run in the stepping tier, driven to completion.
"""

from __future__ import annotations

import itertools
import linecache

from iree_lab.isa import tables as T
from iree_lab.vm import calls
from iree_lab.vm.emit import (
    REF_MASK,
    RUNTIME,
    ConstantPool,
    EmitContext,
    Naming,
    UnsupportedOp,
    can_fail,
    compare_condition,
    emit,
    register_slots,
    remap_lines,
)
from iree_lab.vm.interpreter import (
    MAX_STACK_BYTES,
    Invocation,
    InvocationState,
    const_f32_exact,
    frame_bytes,
    stack_overflow,
)
from iree_lab.vm.module import BytecodeModule, BytecodeModuleState
from iree_lab.vm.native import NativeFunction
from iree_lab.vm.status import BacktraceFrame, StatusCode, VMError, VMStatus
from iree_lab.vm.value import CallingConvention, cconv_register_layout

MOVE_BIT = T.REF_REGISTER_MOVE_BIT
TYPE_BIT = T.REF_REGISTER_TYPE_BIT
_YIELDING = ("Yield", "CallYieldable", "CallVariadicYieldable")
_source_ids = itertools.count()


def eligible(state, ordinal: int) -> bool:
    """Every function can be called through the fast tier (yielding ones delegate)."""
    return True


class LocalNaming(Naming):
    """Registers as Python locals; ``live`` is the set of i32 slots live after the
    instruction being emitted, so a 64-bit write stores its high word only when
    the odd register is read later as a 32-bit value."""

    def __init__(self):
        self.live: set[int] = set()

    def i(self, slot: int) -> str:
        return f"i{slot}"

    def r(self, slot: int) -> str:
        return f"r{slot}"

    def wants_hi(self, slot: int) -> bool:
        return (slot + 1) in self.live


# -----------------------------------------------------------------------------------------
# Per-module-state namespace: one per context and module, functions compiled lazily.
# -----------------------------------------------------------------------------------------


class FastModule:
    """Generated functions of one bytecode module state (``F<ordinal>`` globals)."""

    def __init__(self, state: BytecodeModuleState):
        self.state = state
        self.module: BytecodeModule = state.module
        self.namespace = dict(RUNTIME)
        self.namespace["S"] = state
        self.namespace["_BT"] = BacktraceFrame
        self.namespace["_internal"] = _internal_error
        self.namespace["_interrupt"] = VMStatus.interrupt
        self.namespace["_overflow"] = stack_overflow
        self.namespace["SB"] = state.context.stack_bytes
        self.consts = ConstantPool("K")
        self.recursive = _recursive_functions(self.module)
        count = len(self.module.source.functions)
        for ordinal in range(count):
            self.namespace[f"F{ordinal}"] = self._stub(ordinal)
        for index in range(len(self.module.imports)):
            self.namespace[f"IMP{index}"] = self._import_stub(index)

    def function(self, ordinal: int):
        fn = self.namespace[f"F{ordinal}"]
        if getattr(fn, "_iree_lab_stub", False):
            fn = self._compile(ordinal)
        return fn

    def _stub(self, ordinal: int):
        def stub(*args):
            return self._compile(ordinal)(*args)

        stub._iree_lab_stub = True
        return stub

    def _import_stub(self, index: int):
        def stub(*args):
            target = self._bind_import(index)
            return target(*args)

        return stub

    def _bind_import(self, index: int):
        target = self.state.imports[index]
        decl = self.module.imports[index]
        if target is None:
            message = (f"optional import `{decl.full_name}` (ordinal {index}) not resolved")

            def unresolved(*args):
                raise VMStatus(StatusCode.NOT_FOUND, message).annotate("while calling import")

            fn = unresolved
        elif isinstance(target, NativeFunction):
            fn = _native_caller(target, (decl.cconv or target.cconv).results)
        else:
            callee_state = self.state.context.state_of(target.module)
            fn = fast_module(callee_state).function(target.ordinal)
        self.namespace[f"IMP{index}"] = fn
        return fn

    def _compile(self, ordinal: int):
        source, name = FunctionCompiler(self, ordinal).generate()
        filename = f"<iree_lab fast {self.module.name}.{name} #{next(_source_ids)}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        code = compile(source, filename, "exec")
        self.namespace.update(self.consts.namespace())
        exec(code, self.namespace)  # noqa: S102 - generated from our templates only
        fn = self.namespace[f"F{ordinal}"]
        return fn


def _recursive_functions(module: BytecodeModule) -> set[int]:
    """Internal functions on a call-graph cycle (only these can grow the stack unboundedly)."""
    count = len(module.source.functions)
    edges: dict[int, set[int]] = {k: set() for k in range(count)}
    for k in range(count):
        for inst in module.decode(k).instructions:
            if inst.op.flow in (T.FLOW_CALL, T.FLOW_CALL_YIELDABLE):
                callee = inst.values[0]
                if not callee & T.FUNCTION_ORDINAL_IMPORT_BIT:
                    edges[k].add(callee)
    # Tarjan's strongly connected components (iterative).
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    result: set[int] = set()
    counter = 0
    for root in range(count):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == node:
                        break
                if len(component) > 1 or node in edges[node]:
                    result.update(component)
    return result


def fast_module(state: BytecodeModuleState) -> FastModule:
    fm = state.fast_code.get("module")
    if fm is None:
        fm = state.fast_code["module"] = FastModule(state)
    return fm


def _internal_error(e: Exception, where: str) -> VMStatus:
    status = VMStatus(StatusCode.INTERNAL, f"{type(e).__name__} executing {where}: {e}")
    status.__cause__ = e
    return status


def _native_caller(target: NativeFunction, result_fragment: str):
    method = target.method
    n = len(result_fragment)
    name = target.full_name

    def call(*args):
        try:
            result = method(*args)
            if target.is_generator:
                # A plain call runs a suspending import to completion, except that
                # IREE cannot take results from an import that yielded.
                gen = result
                while True:
                    try:
                        next(gen)
                    except StopIteration as stop:
                        result = stop.value
                        break
                    if n:
                        gen.close()
                        raise VMStatus(StatusCode.UNIMPLEMENTED,
                                       "yield in imports with results not supported")
        except VMStatus as status:
            raise status.annotate("while calling import") from None
        except Exception as e:
            raise VMStatus(StatusCode.INTERNAL,
                           f"native function {name} raised {type(e).__name__}: {e}"
                           ).annotate("while calling import") from e
        values = calls.normalize_native_results(result_fragment, result)
        if n == 1:
            return values[0]
        return tuple(values) if n else None

    return call


# -----------------------------------------------------------------------------------------
# Function compiler
# -----------------------------------------------------------------------------------------


class FunctionCompiler:
    def __init__(self, fm: FastModule, ordinal: int):
        self.fm = fm
        self.module = fm.module
        self.ordinal = ordinal
        self.decoded = self.module.decode(ordinal)
        self.name = self.module.function_name(ordinal)
        descriptor = self.module.source.functions[ordinal]
        self.cconv = CallingConvention(descriptor.calling_convention or "0v_v")
        self.insts = self.decoded.instructions
        self.index_of_pc = {inst.pc: k for k, inst in enumerate(self.insts)}
        self.ctx = EmitContext(fm.consts, types=self.module.types, rodata=fm.state.rodata)
        self.code_bytes = None

    # -- Analysis ---------------------------------------------------------------------------

    def _callee_cconv(self, inst) -> CallingConvention:
        callee = inst.values[0]
        if callee & T.FUNCTION_ORDINAL_IMPORT_BIT:
            index = callee & ~T.FUNCTION_ORDINAL_IMPORT_BIT
            decl = self.module.imports[index]
            if decl.cconv is not None:
                return decl.cconv
            target = self.fm.state.imports[index]
            return target.cconv if target is not None else CallingConvention("0v_v")
        f = self.module.source.functions[callee]
        return CallingConvention(f.calling_convention or "0v_v")

    # Liveness of i32 slots with the fast tier's representation: a 64-bit value
    # lives in its even slot only, so reading an i64 reads one slot; the odd slot
    # matters only where something reads it as a 32-bit value.

    def _slot_effects(self, inst) -> tuple[list[int], list[int]]:
        """(slots read, slots written) by a non-terminator-remap part of ``inst``."""
        op = inst.op
        sym = op.symbol
        reads: list[int] = []
        writes: list[int] = []
        flow = op.flow
        if flow in (T.FLOW_CALL, T.FLOW_CALL_YIELDABLE):
            cconv = self._callee_cconv(inst)
            variadic = sym in ("CallVariadic", "CallVariadicYieldable")
            operands = inst.values[2] if variadic else inst.values[1]
            reads.extend(r for r in operands if not r & TYPE_BIT)
            writes.extend(r for ch, r in zip(cconv.results, inst.values[-1], strict=False)
                          if ch != "r")  # fmt: skip
            return reads, writes
        if flow == T.FLOW_RETURN:
            return [r for r in inst.values[0] if not r & TYPE_BIT], writes
        for field, value in zip(op.fields, inst.values, strict=True):
            kind = field.kind
            if kind in (T.I32, T.F32, T.I64, T.F64):
                (writes if field.access == T.WRITE else reads).append(value)
            elif kind == T.REG_LIST and field.access == T.READ:
                reads.extend(r for r in value if not r & TYPE_BIT)
        return reads, writes

    def _blocks_body(self) -> dict[int, list[int]]:
        bodies = {}
        for block in self.decoded.blocks:
            k = self.index_of_pc[block.pc] + 1
            ks = []
            while True:
                ks.append(k)
                if self.insts[k].op.terminator:
                    break
                k += 1
            bodies[block.pc] = ks
        return bodies

    @staticmethod
    def _through_remap(remap, live: set[int]) -> set[int]:
        live = set(live)
        for src, dst in reversed(remap):
            # A copy into a dead register is dropped, so its source is not read.
            if not src & TYPE_BIT and dst in live:
                live.discard(dst)
                live.add(src)
        return live

    def _analyze_liveness(self) -> None:
        """Fills ``live_in`` (per block) and ``live_after`` (per instruction index)."""
        bodies = self._blocks_body()
        effects = {k: self._slot_effects(self.insts[k]) for ks in bodies.values() for k in ks}
        live_in: dict[int, set[int]] = {pc: set() for pc in bodies}
        changed = True
        while changed:
            changed = False
            for pc in reversed(list(bodies)):
                ks = bodies[pc]
                cur: set[int] = set()
                for _label, target, remap in self.insts[ks[-1]].branches:
                    cur |= self._through_remap(remap, live_in.get(target, set()))
                for k in reversed(ks):
                    reads, writes = effects[k]
                    cur = (cur - set(writes)) | set(reads)
                if cur != live_in[pc]:
                    live_in[pc] = cur
                    changed = True
        live_after: dict[int, set[int]] = {}
        for ks in bodies.values():
            cur = set()
            for _label, target, remap in self.insts[ks[-1]].branches:
                cur |= self._through_remap(remap, live_in.get(target, set()))
            for k in reversed(ks):
                live_after[k] = cur
                reads, writes = effects[k]
                cur = (cur - set(writes)) | set(reads)
        self.live_in = live_in
        self.live_after = live_after

    # -- Generation -------------------------------------------------------------------------

    def generate(self) -> tuple[str, str]:
        if any(inst.op.symbol in _YIELDING for inst in self.insts):
            return self._delegate(), self.name
        self.naming = LocalNaming()
        self._analyze_liveness()
        blocks = self.decoded.blocks
        self.block_of_pc = {b.pc: b for b in blocks}
        preds: dict[int, int] = {b.pc: 0 for b in blocks}
        for inst in self.insts:
            for _label, target, _remap in inst.branches:
                if inst.op.flow != T.FLOW_CALL_YIELDABLE:
                    preds[target] = preds.get(target, 0) + 1
        entry = blocks[0].pc
        self.inlinable = {pc for pc, n in preds.items() if n == 1 and pc != entry}
        self.dispatch: list[int] = []
        self.dispatch_id: dict[int, int] = {}
        self.region = None
        self.region_loops = False
        self.emitted_inline: set[int] = set()

        params = []
        layout = cconv_register_layout(self.cconv.arguments)
        param_slots = set()
        for ch, reg in layout:
            name = f"r{reg}" if ch == "r" else f"i{reg}"
            params.append(name)
            param_slots.add(name)

        body = self._region(entry)
        # Other dispatch targets (added while emitting).
        bodies = {entry: body}
        k = 0
        while k < len(self.dispatch):
            pc = self.dispatch[k]
            if pc not in bodies:
                bodies[pc] = self._region(pc)
            k += 1

        lines = [f"def F{self.ordinal}({', '.join(params)}):"]
        init = self._register_inits(param_slots)
        entry_live = self.live_in[entry]
        for ch, reg in layout:
            if ch == "I" and reg + 1 in entry_live:
                init.append(f"i{reg + 1} = i{reg} >> 32")
            elif ch == "F" and reg + 1 in entry_live:
                init.append(f"i{reg + 1} = _ops.f64_hi(i{reg})")
        if self.ordinal in self.fm.recursive:
            # Recursive functions account their IREE stack frame (RESOURCE_EXHAUSTED
            # at the same depth as IREE); non-recursive ones cannot grow unboundedly.
            descriptor = self.module.source.functions[self.ordinal]
            cost = frame_bytes(descriptor.i32_register_count, descriptor.ref_register_count)
            init += ["_sb0 = SB[0]", f"_sb = _sb0 + {cost}",
                     f"if _sb > {MAX_STACK_BYTES}: raise _overflow(_sb)", "SB[0] = _sb"]
        lines += ["    " + x for x in init]
        lines.append("    pc = 0")
        lines.append("    try:")
        if not self.dispatch:
            lines += ["        " + x for x in body]
        else:
            ids = {pc: self._dispatch_index(pc) for pc in self.dispatch}
            entry_id = len(self.dispatch)
            lines.append(f"        b = {entry_id}")
            lines.append("        while True:")
            cases = [(ids[pc], bodies[pc]) for pc in self.dispatch]
            cases.append((entry_id, body))
            lines += ["            " + x for x in _dispatch_tree(cases)]
        here = self.fm.consts.name((self.module.name, self.name, self.ordinal))
        lines += [
            "    except _VMStatus as e:",
            f"        e.frames.append(_BT(*{here}[:2], pc, S.module.source_location("
            f"{self.ordinal}, pc)))",
            "        raise",
            "    except KeyboardInterrupt:",
            "        e = _interrupt()",
            f"        e.frames.append(_BT(*{here}[:2], pc, None))",
            "        raise e from None",
            "    except RecursionError:",
            "        raise",
            "    except Exception as e:",
            f"        s = _internal(e, {self.fm.consts.name(self.name)} + '+%08X' % pc)",
            f"        s.frames.append(_BT(*{here}[:2], pc, None))",
            "        raise s from e",
        ]
        return "\n".join(lines) + "\n", self.name

    def _region(self, pc: int) -> list[str]:
        """A dispatch case: the block at ``pc`` with its inlined successors, in a loop.

        Jumps back to ``pc`` are ``continue``; jumps to other dispatch cases set
        ``b`` and ``break`` out to the dispatch loop.
        """
        self.region = pc
        self.region_loops = False
        body = self._block_code(pc, depth=0)
        return ["while True:"] + ["    " + x for x in body]

    def _dispatch_index(self, pc: int) -> int:
        index = self.dispatch_id.get(pc)
        if index is None:
            index = self.dispatch_id[pc] = len(self.dispatch_id)
        return index

    def _register_inits(self, params: set[str]) -> list[str]:
        ints, refs = register_slots(self.insts)
        names = {f"i{r}" for r in ints} | {f"r{r}" for r in refs}
        names -= params
        ints = sorted((n for n in names if n[0] == "i"), key=lambda n: int(n[1:]))
        refs = sorted((n for n in names if n[0] == "r"), key=lambda n: int(n[1:]))
        lines = []
        if ints:
            lines.append(" = ".join(ints) + " = 0")
        if refs:
            lines.append(" = ".join(refs) + " = None")
        return lines

    def _goto(self, target_pc: int, remap, depth: int) -> list[str]:
        n = self.naming
        # Copies whose destination is dead at the target are dropped.
        needed = []
        live = set(self.live_in[target_pc])
        for src, dst in reversed(remap):
            if src & TYPE_BIT:
                needed.append((src, dst))
            elif dst in live:
                needed.append((src, dst))
                live.discard(dst)
                live.add(src)
        lines = remap_lines(list(reversed(needed)), n)
        if target_pc in self.inlinable and target_pc not in self.emitted_inline and depth < 40:
            self.emitted_inline.add(target_pc)
            return lines + self._block_code(target_pc, depth + 1)
        if target_pc == self.region:
            # A loop back to the block this dispatch case started at: each case
            # body runs inside its own `while True`, so this is a plain jump back.
            self.region_loops = True
            return lines + ["continue"]
        if target_pc not in self.dispatch:
            self.dispatch.append(target_pc)
        return lines + [f"b = {self._dispatch_index(target_pc)}", "break"]

    def _block_code(self, block_pc: int, depth: int) -> list[str]:
        k = self.index_of_pc[block_pc] + 1
        lines: list[str] = []
        while True:
            inst = self.insts[k]
            op = inst.op
            flow = op.flow
            sym = op.symbol
            if flow in (T.FLOW_BRANCH, T.FLOW_BREAK):
                if sym == "CondBreak":
                    _c, target, remap = inst.values
                else:
                    target, remap = inst.values
                return lines + self._goto(target, remap, depth)
            if flow == T.FLOW_COND_BRANCH:
                return lines + self._cond_branch(inst, depth, f"i{inst.values[0]}")
            if flow == T.FLOW_BRANCH_TABLE:
                index, d_pc, d_remap, cases = inst.values
                out = lines + [f"_i = i{index}"]
                for case_index, (c_pc, c_remap) in enumerate(cases):
                    out.append(f"if _i == {case_index}:")
                    out += ["    " + x for x in self._goto(c_pc, c_remap, depth)]
                return out + self._goto(d_pc, d_remap, depth)
            if flow == T.FLOW_RETURN:
                return lines + self._return(inst)
            if flow == T.FLOW_FAIL:
                lines.append(f"pc = {inst.pc}")
                msg = self.fm.consts.name(inst.values[1])
                lines.append(f"if i{inst.values[0]} & 4294967295: "
                             f"raise _ops.fail(i{inst.values[0]} & 4294967295, {msg})")
                if k + 1 >= len(self.insts) or self.insts[k + 1].op.flow == T.FLOW_BLOCK:
                    lines.append("raise _VMStatus(_SC.FAILED_PRECONDITION, 'vm.fail with status "
                                 "0 (OK) continued past the end of the block')")
                    return lines
                k += 1
                continue
            if flow == T.FLOW_CALL:
                self.naming.live = self.live_after[k]
                lines += self._call(inst)
                k += 1
                continue
            if flow == T.FLOW_BLOCK:  # pragma: no cover - blocks end with terminators
                raise VMStatus(StatusCode.INTERNAL, "block without terminator")
            if sym == "ConstF32":
                if self.code_bytes is None:
                    self.code_bytes = self.module.function_bytes(self.ordinal)
                inst = const_f32_exact(inst, self.code_bytes)
            fused = self._fused_branch(inst, k)
            if fused is not None:
                return lines + self._cond_branch(self.insts[k + 1], depth, fused)
            if can_fail(sym):
                lines.append(f"pc = {inst.pc}")
            self.naming.live = self.live_after[k]
            self.ctx.op_label = op.name
            try:
                lines += emit(inst, self.naming, self.ctx)
            except UnsupportedOp:
                raise VMStatus(StatusCode.UNIMPLEMENTED, f"unhandled opcode {op.name}") from None
            k += 1

    def _cond_branch(self, inst, depth: int, condition: str) -> list[str]:
        _cond, t_pc, t_remap, f_pc, f_remap = inst.values
        then = self._goto(t_pc, t_remap, depth)
        other = self._goto(f_pc, f_remap, depth)
        return [f"if {condition}:"] + ["    " + x for x in then] + other

    def _fused_branch(self, inst, k: int) -> str | None:
        """The condition to branch on directly when a compare only feeds the next cond_br."""
        nxt = self.insts[k + 1] if k + 1 < len(self.insts) else None
        if nxt is None or nxt.op.flow != T.FLOW_COND_BRANCH:
            return None
        found = compare_condition(inst, self.naming)
        if found is None:
            return None
        slot, condition = found
        cond, t_pc, t_remap, f_pc, f_remap = nxt.values
        if cond != slot or slot in self.live_in[t_pc] or slot in self.live_in[f_pc]:
            return None
        if any(s == slot for s, _d in t_remap + f_remap):
            return None
        return condition

    def _return(self, inst) -> list[str]:
        fragment = self.cconv.results
        regs = inst.values[0]
        lines = ["SB[0] = _sb0"] if self.ordinal in self.fm.recursive else []
        # The callee's registers per result (kinds 2/3: refs); an i64 is one local here.
        values = [f"r{src}" if kind >= 2 else f"i{src}"
                  for kind, src, _dst in calls.result_plan(fragment, regs, regs)]
        if not values:
            return lines + ["return None"]
        if len(fragment) == 1:
            return lines + [f"return {values[0]}"]
        return lines + [f"return ({', '.join(values)},)"]

    def _call(self, inst) -> list[str]:
        sym = inst.op.symbol
        v = inst.values
        callee = v[0]
        is_import = bool(callee & T.FUNCTION_ORDINAL_IMPORT_BIT)
        cconv = self._callee_cconv(inst)
        if sym == "CallVariadic":
            segments, operands, results = v[1], v[2], v[3]
        else:
            segments, operands, results = None, v[1], v[2]
        lines = [f"pc = {inst.pc}"]
        args, pre, post = self._call_args(cconv.arguments, operands, segments)
        lines += pre
        target = f"IMP{callee & ~T.FUNCTION_ORDINAL_IMPORT_BIT}" if is_import else f"F{callee}"
        call = f"{target}({', '.join(args)})"
        fragment = cconv.results
        count = min(len(fragment), len(results))
        n = self.naming
        if not fragment:
            lines.append(call)
        elif len(fragment) == 1:
            if count:
                lines.append(f"{self._result_target(fragment[0], results[0])} = {call}")
            else:
                lines.append(call)
        else:
            names = [self._result_target(fragment[j], results[j]) if j < count else "_"
                     for j in range(len(fragment))]  # fmt: skip
            lines.append(f"{', '.join(names)}, = {call}")
        for j in range(count):
            ch, raw = fragment[j], results[j]
            if ch == "I" and n.wants_hi(raw):
                lines.append(f"i{raw + 1} = i{raw} >> 32")
            elif ch == "F" and n.wants_hi(raw):
                lines.append(f"i{raw + 1} = _ops.f64_hi(i{raw})")
        return lines + post

    def _result_target(self, ch: str, raw: int) -> str:
        return f"r{raw & REF_MASK}" if ch == "r" else f"i{raw}"

    def _call_args(self, fragment: str, operands, segments):
        """(argument expressions, lines before, lines after) for a call."""
        args: list[str] = []
        pre: list[str] = []
        moved: list[str] = []

        def one(ch: str, raw: int) -> str:
            if ch == "r":
                name = f"r{raw & REF_MASK}"
                if raw & MOVE_BIT:
                    moved.append(name)
                return name
            return f"i{raw}"

        for arg in calls.operand_layout(fragment, operands, segments):
            if arg[0] == "span":
                items = []
                for element in arg[2]:
                    names = [one(ch, raw) for ch, raw in element]
                    items.append(names[0] if arg[1] == 1 else f"({', '.join(names)},)")
                args.append(f"[{', '.join(items)}]")
            else:
                args.append(one(*arg))
        if moved:
            # Moved refs leave the caller's registers when the call starts, after every
            # argument (variadic lists and non-moved uses of the same register included)
            # has been read, as IREE reads all operands before releasing moved ones.
            pre.append(f"_args = ({', '.join(args)},)")
            pre.extend(f"{name} = None" for name in dict.fromkeys(moved))
            args = ["*_args"]
        return args, pre, []

    def _delegate(self) -> str:
        """A function that may suspend: run it in the stepping tier to completion."""
        fn = self.fm.consts.name(self.module.internal_function(self.ordinal))
        runner = self.fm.consts.name(_run_stepping)
        fragment = self.cconv.arguments
        params = [f"r{reg}" if ch == "r" else f"i{reg}"
                  for ch, reg in cconv_register_layout(fragment)]  # fmt: skip
        count = len(self.cconv.results)
        lines = [f"def F{self.ordinal}({', '.join(params)}):",
                 f"    _r = {runner}(S, {fn}, [{', '.join(params)}])"]  # fmt: skip
        if count == 0:
            lines.append("    return None")
        elif count == 1:
            lines.append("    return _r[0]")
        else:
            lines.append("    return tuple(_r)")
        return "\n".join(lines) + "\n"


def _run_stepping(state, function, args: list) -> list:
    inv = Invocation(state.context, function, args)
    while True:
        result = inv.run()
        if result == InvocationState.DONE:
            return inv.results
        if result == InvocationState.FAILED:
            status = inv.status
            raise status


def _dispatch_tree(cases: list[tuple[int, list[str]]]) -> list[str]:
    """if/elif dispatch over block ids, as a binary tree when there are many."""
    cases = sorted(cases)
    if len(cases) <= 6:
        out = []
        for j, (index, body) in enumerate(cases):
            if j == len(cases) - 1:
                out.append("else:" if j else "if True:")
            else:
                out.append(f"{'if' if j == 0 else 'elif'} b == {index}:")
            out += ["    " + x for x in body]
        return out
    mid = len(cases) // 2
    pivot = cases[mid][0]
    return ([f"if b < {pivot}:"] + ["    " + x for x in _dispatch_tree(cases[:mid])]
            + ["else:"] + ["    " + x for x in _dispatch_tree(cases[mid:])])  # fmt: skip


# -----------------------------------------------------------------------------------------
# Entry from the host
# -----------------------------------------------------------------------------------------


def call(context, fn, values: list) -> list:
    """Calls bytecode function ``fn`` with VM values through the fast tier."""
    from iree_lab.vm.context import recursion_headroom

    state = context.state_of(fn.module)
    fm = fast_module(state)
    code = fm.function(fn.ordinal)
    descriptor = fn.module.source.functions[fn.ordinal]
    saved_bytes = context.stack_bytes[0]
    # The entry frame counts; a recursive entry function counts itself.
    context.stack_bytes[0] = 0 if fn.ordinal in fm.recursive else frame_bytes(
        descriptor.i32_register_count, descriptor.ref_register_count)
    fragment = fn.cconv.results if fn.cconv else ""
    layout = cconv_register_layout(fn.cconv.arguments if fn.cconv else "")
    args = [values[k] for k in range(len(layout))]
    with recursion_headroom(context.instance.max_stack_depth):
        try:
            result = code(*args)
        except VMStatus as status:
            raise VMError.surfacing(status) from None
        except RecursionError:
            raise VMError(StatusCode.RESOURCE_EXHAUSTED,
                          f"VM stack overflow: call depth exceeds "
                          f"{context.instance.max_stack_depth} frames") from None
        finally:
            context.stack_bytes[0] = saved_bytes
    if not fragment:
        return []
    if len(fragment) == 1:
        return [result]
    return list(result)
