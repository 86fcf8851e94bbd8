"""The stepping tier: an explicit-stack interpreter that can pause, step and yield.

Every bytecode function is compiled (once per module state) into a list of
small Python functions, one per instruction, generated from the templates in
:mod:`iree_lab.vm.emit`. A handler takes the frame's register lists and
returns the index of the next instruction; control-flow ops that need the
stack (calls, returns, yields, failures) return ``-(index + 1)`` and the loop
in :class:`Invocation` performs them. All state lives in :class:`Frame`
objects, so an invocation can stop between any two instructions (a hook
asked to pause, the instruction budget ran out, a ``vm.yield``) and resume
later: this is IREE's fiber model (``invocation.c``).
"""

from __future__ import annotations

import enum
import itertools
import linecache

from iree_lab.isa import tables as T
from iree_lab.vm import calls
from iree_lab.vm.emit import (
    RUNTIME,
    ConstantPool,
    EmitContext,
    ListNaming,
    UnsupportedOp,
    emit,
    remap_lines,
)
from iree_lab.vm.module import BytecodeModule, BytecodeModuleState
from iree_lab.vm.native import NativeFunction
from iree_lab.vm.registers import Registers
from iree_lab.vm.status import BacktraceFrame, StatusCode, VMStatus
from iree_lab.vm.value import CallingConvention

# IREE's VM stack: frames are allocated from one block that may grow (doubling)
# to at most 1 MiB; from an invocation's initial 8096-byte block that allows
# 8096 * 128 bytes of frames. A frame costs a 80-byte header, a 48-byte
# bytecode frame header and its registers (16-byte aligned i32 bank, 16-byte
# refs). Deeper stacks fail with RESOURCE_EXHAUSTED, like IREE.
MAX_STACK_BYTES = 8096 * 128
IREE_VM_STACK_MAX_SIZE = 1024 * 1024
# Python recursion headroom for the fast tier (frames).
MAX_STACK_DEPTH = MAX_STACK_BYTES // 128 + 64


def frame_bytes(i32_register_count: int, ref_register_count: int) -> int:
    """Bytes of IREE VM stack one bytecode frame of this shape takes."""
    return 128 + ((i32_register_count * 4 + 15) & ~15) + ref_register_count * 16


def stack_overflow(needed: int) -> VMStatus:
    capacity = MAX_STACK_BYTES
    while capacity < needed:
        capacity *= 2
    return VMStatus(
        StatusCode.RESOURCE_EXHAUSTED,
        f"new stack size would exceed maximum size: {capacity} > {IREE_VM_STACK_MAX_SIZE}",
    )

_CONTROL_FLOWS = (T.FLOW_CALL, T.FLOW_CALL_YIELDABLE, T.FLOW_RETURN, T.FLOW_YIELD, T.FLOW_FAIL)
_source_ids = itertools.count()


class Control:
    """What a control-flow instruction does (interpreted by the invocation loop)."""

    __slots__ = ("kind", "inst", "callee", "is_import", "segment_sizes", "operands", "results",
                 "resume_index", "yieldable", "status_reg", "message", "arg_plan",
                 "callee_code", "result_plans")  # fmt: skip

    def __init__(self, kind: str, inst):
        self.kind = kind
        self.inst = inst
        self.callee = None
        self.is_import = False
        self.segment_sizes = None
        self.operands = ()
        self.results = ()
        self.resume_index = -1
        self.yieldable = False
        self.status_reg = 0
        self.message = ""
        self.arg_plan = None
        self.callee_code = None
        self.result_plans = None  # return: {caller's result registers: calls.result_plan}


class CompiledFunction:
    """Stepping-tier code of one bytecode function in one module state."""

    def __init__(self, state: BytecodeModuleState, ordinal: int):
        module: BytecodeModule = state.module
        self.state = state
        self.module = module
        self.ordinal = ordinal
        self.decoded = decoded = module.decode(ordinal)
        self.name = module.function_name(ordinal)
        descriptor = module.source.functions[ordinal]
        self.cconv = (
            CallingConvention(descriptor.calling_convention)
            if descriptor.calling_convention else CallingConvention("0v_v")
        )
        insts = decoded.instructions
        self.instructions = insts
        self.pcs = [inst.pc for inst in insts]
        self.index_of_pc = {inst.pc: k for k, inst in enumerate(insts)}
        # Register files are sized to the verifier's limit (counts rounded up to a
        # power of two), so every register the verifier accepts exists.
        self.i32_count = _round_up_pow2(descriptor.i32_register_count)
        self.ref_count = _round_up_pow2(descriptor.ref_register_count)
        self.frame_bytes = frame_bytes(descriptor.i32_register_count,
                                       descriptor.ref_register_count)
        self.controls: list[Control | None] = [None] * len(insts)
        self.handlers = self._compile(insts)

    def _target(self, pc: int) -> int:
        # Branches land just past the target block's marker.
        return self.index_of_pc[pc] + 1

    def compiled_part(self, k: int, inst, naming, ctx, code_bytes, record: bool = True):
        """(lines, exits) of instruction ``k``; exits are (condition, remap lines, target).

        A condition of None is the unconditional (last) exit; plain ops fall
        through to ``k + 1``. Control ops (calls, returns, ...) return None (and,
        with ``record``, leave their :class:`Control` in ``controls``).
        """
        op = inst.op
        flow = op.flow
        if flow == T.FLOW_BLOCK:
            return [], [(None, [], k + 1)]
        if flow in (T.FLOW_BRANCH, T.FLOW_BREAK):
            if op.symbol == "CondBreak":
                _cond, target, remap = inst.values
            else:
                target, remap = inst.values
            return [], [(None, remap_lines(remap, naming), self._target(target))]
        if flow == T.FLOW_COND_BRANCH:
            cond, t_pc, t_remap, f_pc, f_remap = inst.values
            return [], [(f"if {naming.i(cond)}:", remap_lines(t_remap, naming),
                         self._target(t_pc)),
                        (None, remap_lines(f_remap, naming), self._target(f_pc))]  # fmt: skip
        if flow == T.FLOW_BRANCH_TABLE:
            index, d_pc, d_remap, cases = inst.values
            exits = [(f"if _i == {case_index}:", remap_lines(c_remap, naming), self._target(c_pc))
                     for case_index, (c_pc, c_remap) in enumerate(cases)]  # fmt: skip
            exits.append((None, remap_lines(d_remap, naming), self._target(d_pc)))
            return [f"_i = {naming.i(index)}"], exits
        if flow in _CONTROL_FLOWS:
            if record:
                self.controls[k] = self._control(inst)
            return None
        if op.symbol == "ConstF32":
            # Keep the exact bits (a NaN payload would not survive a float round trip).
            inst = const_f32_exact(inst, code_bytes())
        ctx.op_label = op.name
        try:
            return emit(inst, naming, ctx), [(None, [], k + 1)]
        except UnsupportedOp:
            raise VMStatus(StatusCode.UNIMPLEMENTED, f"unhandled opcode {op.name}") from None

    def _compile(self, insts) -> list:
        consts = ConstantPool()
        ctx = EmitContext(consts, types=self.module.types, rodata=self.state.rodata)
        naming = ListNaming()
        cache = []

        def code_bytes():
            if not cache:
                cache.append(self.module.function_bytes(self.ordinal))
            return cache[0]

        parts = [self.compiled_part(k, inst, naming, ctx, code_bytes) for k, inst in enumerate(insts)]
        src = []
        for k, part in enumerate(parts):
            src.append(f"def _h{k}(R, RR):")
            if part is None:
                body = [f"return {-(k + 1)}"]
            else:
                lines, exits = part
                body = list(lines)
                for condition, remap, target in exits:
                    if condition is None:
                        body += remap + [f"return {target}"]
                    else:
                        body += [condition] + ["    " + x for x in remap + [f"return {target}"]]
            src += ["    " + line for line in body]
        src.append("HANDLERS = [" + ", ".join(f"_h{k}" for k in range(len(insts))) + "]")
        src += self._block_runner(parts)
        text = "\n".join(src) + "\n"
        namespace = dict(RUNTIME)
        namespace.update(consts.namespace())
        namespace["S"] = self.state
        filename = f"<iree_lab stepping {self.module.name}.{self.name} #{next(_source_ids)}>"
        linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
        exec(compile(text, filename, "exec"), namespace)  # noqa: S102 - our own templates
        self.block_run = namespace["BLOCK_RUN"]
        self._parts_list = parts
        self._namespace = namespace
        self._count_runners: dict = {}
        self._probed_runners: dict = {}
        self._direct_entries: dict = {}
        self._direct_ok = None
        self._direct_closure = None
        return namespace["HANDLERS"]

    def probed_runner(self, plan: tuple, plan_of=None):
        """``(entry keys, PROBE_RUN)``: :meth:`count_runner` for ``plan`` (hot, guards)
        with registers as locals, returning (never calling the hook) where the hook is
        due; with ``plan_of`` it calls internal functions directly (their plans from
        ``plan_of(code)``). See :mod:`iree_lab.vm.probed`."""
        from iree_lab.vm import probed

        key = probed.cache_key(self, plan, plan_of)
        entry = self._probed_runners.get(key)
        if entry is None:
            if len(self._probed_runners) > 16:
                self._probed_runners.clear()
            entry = self._probed_runners[key] = probed.compile_probed(self, *plan,
                                                                      plan_of=plan_of)
        return entry

    def count_runner(self, hot: frozenset, guards: tuple = ()):
        """``(entry keys, COUNT_RUN)`` for an invocation with a :class:`Counting`.

        ``COUNT_RUN(R, RR, F, I, H, k, C)`` runs like ``BLOCK_RUN`` but calls the
        hook only at the instructions in ``hot``: every other straight-line run of
        ``n`` instructions adds ``n`` to the position ``C[0]`` at its start when
        ``C[0] + n < C[1]`` (the hook would have returned False at each of them),
        else runs with the hook before each instruction. ``guards`` are ``(k, fn)``
        with ``k`` in ``hot``: where ``fn(R)`` is true the hook would return False at
        ``k``, so it is counted like the rest. Compiled once per hot set and guards.
        """
        key = (hot, guards)
        entry = self._count_runners.get(key)
        if entry is None:
            if len(self._count_runners) > 16:
                self._count_runners.clear()
            keys = set(self.entry_keys)
            for k in hot:
                if 0 <= k < len(self.instructions):
                    keys.add(k)
                    if k + 1 < len(self.instructions):
                        keys.add(k + 1)
            guarded = frozenset(k for k, _fn in guards)
            bounds = set(self.entry_keys)
            for k in hot - guarded:
                bounds.update((k, k + 1))
            text = "\n".join(self._counting_runner(keys, bounds, hot - guarded, guarded)) + "\n"
            filename = (f"<iree_lab counting {self.module.name}.{self.name} "
                        f"#{next(_source_ids)}>")
            linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
            namespace = dict(self._namespace)
            namespace.update({f"_G{k}": fn for k, fn in guards})
            exec(compile(text, filename, "exec"), namespace)  # noqa: S102
            entry = (frozenset(keys), namespace["COUNT_RUN"])
            self._count_runners[key] = entry
        return entry

    def _counting_runner(self, keys: set, bounds: set, hot, guarded) -> list[str]:
        """Cases at every key in ``keys``; counted runs end only at ``bounds``: they
        test a guarded instruction's guard inline and, where it fails, go to its
        hooked case with the position before it."""
        parts = self._parts_list

        def segment(start):
            return straight_run(parts, start, bounds)

        def tail(k, part):
            if part is None:
                return [f"return {-(k + 1)}"]
            lines, exits = part
            if falls_through(part, k):
                return list(lines) + [f"k = {k + 1}", "continue"]
            return list(lines) + exit_lines(exits)

        def run(seg, hooked, open_end=False):
            body = []
            for i, (k, part) in enumerate(seg):
                if hooked:
                    body += [f"F.k = {k}", f"if H(I, F, {k}): return {PAUSED_CODE}"]
                else:
                    if k in guarded:
                        body += [f"if not _G{k}(R):", f"    C[0] = _cb + {k - 1}",
                                 f"    k = {k}", "    continue"]
                    body.append(f"_cj = {k}")
                if part is None:
                    body.append(f"return {-(k + 1)}")
                elif i + 1 < len(seg):
                    body += part[0]
                elif open_end:  # the jump's remap, without the jump
                    body += part[0] + part[1][0][1]
                else:
                    body += tail(k, part)
            return body

        def successor(start, seg):
            """The key an unconditional jump at the end of ``seg`` goes to, when its run
            can follow in the same counted run (one dispatch and one count per loop)."""
            k, part = seg[-1]
            if part is None or len(part[1]) != 1 or part[1][0][0] is not None:
                return None
            target = part[1][0][2]
            if target == start or target not in keys or target in hot:
                return None
            return target

        cases = []
        for start in sorted(keys):
            seg = segment(start)
            if start in hot or start in guarded:
                if start in guarded:
                    seg = [(start, parts[start])]  # the guard failed: the hook decides
                body = ["_cj = -1"] + run(seg, True)
            else:
                n = len(seg)
                target = successor(start, seg)
                following = segment(target) if target is not None else []
                total = n + len(following)
                body = [f"_cp = C[0] + {total}", "if _cp < C[1]:", "    C[0] = _cp",
                        f"    _cb = _cp - {total - 1 + start}"]
                if following:
                    # _cb + _cj is the position of instruction _cj (see the except below).
                    fast = run(seg, False, open_end=True)
                    fast += [f"_cb = _cp - {len(following) - 1 + target}"]
                    fast += run(following, False)
                else:
                    fast = run(seg, False)
                body += ["    " + x for x in fast]
                body += ["_cj = -1"] + run(seg, True)
            cases.append((start, body))
        lines = ["def COUNT_RUN(R, RR, F, I, H, k, C):", "    _cj = -1", "    try:",
                 "        while True:"]
        lines += ["            " + x for x in index_dispatch(cases)]
        # A trap inside a counted run: the position is that of the failing instruction.
        lines += ["    except BaseException:", "        if _cj >= 0:",
                  "            C[0] = _cb + _cj", "            F.k = _cj", "        raise"]
        return lines

    def _block_runner(self, parts) -> list[str]:
        """``BLOCK_RUN``: straight-line runs of instructions with the hook inlined.

        Entered at block starts and call-return points (``entry_keys``); calls the
        hook before every instruction like the per-instruction loop, without a
        Python call per instruction. Returns a control code ``-(k + 1)``, PAUSED
        (the hook asked to stop before ``F.k``) or an index it has no entry for.
        """
        insts = self.instructions
        keys = {0}
        for k, inst in enumerate(insts):
            if inst.op.flow == T.FLOW_BLOCK:
                keys.add(k + 1)
            elif inst.op.flow == T.FLOW_CALL:
                keys.add(k + 1)
        keys = {k for k in keys if k < len(insts)}
        self.entry_keys = frozenset(keys)
        cases = []
        for start in sorted(keys):
            body = []
            k = start
            while True:
                part = parts[k]
                body += [f"F.k = {k}", f"if H(I, F, {k}): return {PAUSED_CODE}"]
                if part is None:
                    body.append(f"return {-(k + 1)}")
                    break
                lines, exits = part
                body += lines
                if falls_through(part, k):
                    k += 1
                    if k in keys or k >= len(insts):
                        body += [f"k = {k}", "continue"]
                        break
                    continue
                body += exit_lines(exits)
                break
            cases.append((start, body))
        lines = ["def BLOCK_RUN(R, RR, F, I, H, k, C=None):", "    while True:"]
        lines += ["        " + x for x in index_dispatch(cases)]
        return lines

    def _control(self, inst) -> Control:
        op = inst.op
        v = inst.values
        flow = op.flow
        if flow == T.FLOW_RETURN:
            c = Control("return", inst)
            c.operands = v[0]
            return c
        if flow == T.FLOW_FAIL:
            c = Control("fail", inst)
            c.status_reg = v[0]
            c.message = v[1]
            return c
        if flow == T.FLOW_YIELD:
            c = Control("yield", inst)
            target, remap = v
            c.resume_index = self._target(target)
            c.operands = remap
            return c
        # Calls.
        c = Control("call", inst)
        c.callee = v[0] & ~T.FUNCTION_ORDINAL_IMPORT_BIT
        c.is_import = bool(v[0] & T.FUNCTION_ORDINAL_IMPORT_BIT)
        variadic = op.symbol in ("CallVariadic", "CallVariadicYieldable")
        if variadic:
            c.segment_sizes = v[1]
            c.operands = v[2]
        else:
            c.operands = v[1]
        c.results = v[-1]
        c.yieldable = flow == T.FLOW_CALL_YIELDABLE
        if c.yieldable:
            c.resume_index = self._target(v[-2])
        return c


# What BLOCK_RUN returns when the hook asked to pause (below every control code).
PAUSED_CODE = -(1 << 40)
# What a probed run returns after pushing the frames of direct calls that handed over
# (vm.probed): continue with the new top frame, or perform its control op first.
SWITCH_CODE = -(1 << 41)
TOP_CONTROL_CODE = -(1 << 42)


def falls_through(part, k: int) -> bool:
    """Whether compiled instruction ``part`` (lines, exits) at index ``k`` only continues
    with the next instruction (no branch, no remap)."""
    _lines, exits = part
    return len(exits) == 1 and exits[0][2] == k + 1 and not exits[0][1]


def straight_run(parts, start: int, bounds) -> list:
    """[(k, part)] of the straight-line run from ``start``: through fall-throughs, ending at
    an instruction with other exits, one without a compiled part (None), or before an
    index in ``bounds`` or past the end."""
    out = []
    k = start
    while True:
        part = parts[k]
        out.append((k, part))
        if part is None or not falls_through(part, k):
            return out
        k += 1
        if k in bounds or k >= len(parts):
            return out


def exit_lines(exits) -> list[str]:
    """The branches of a compiled instruction's ``exits`` (condition, remap, target) as
    lines of a ``while``-dispatched runner."""
    body = []
    for condition, remap, target in exits:
        jump = remap + [f"k = {target}", "continue"]
        if condition is None:
            body += jump
        else:
            body += [condition] + ["    " + x for x in jump]
    return body


def index_dispatch(cases: list[tuple[int, list[str]]]) -> list[str]:
    """if/elif over the instruction index ``k`` (a binary tree when there are many)."""
    if len(cases) <= 4:
        out = []
        for j, (index, body) in enumerate(cases):
            out.append(f"{'if' if j == 0 else 'elif'} k == {index}:")
            out += ["    " + x for x in body]
        out += ["else:", "    return k"]
        return out
    mid = len(cases) // 2
    pivot = cases[mid][0]
    return ([f"if k < {pivot}:"] + ["    " + x for x in index_dispatch(cases[:mid])]
            + ["else:"] + ["    " + x for x in index_dispatch(cases[mid:])])  # fmt: skip


def _round_up_pow2(n: int) -> int:
    n = max(1, n)
    return 1 << (n - 1).bit_length()


def const_f32_exact(inst, code: bytes):
    """``vm.const.f32`` with its value as the exact float32 of the bytecode bits (decoded value is a Python float)."""
    import struct

    import numpy as np

    from iree_lab.vm.ops import f32_from_bits

    start = inst.pc + 2
    bits = struct.unpack_from("<I", code, start)[0]
    value = f32_from_bits(bits)

    class _Exact:
        __slots__ = ("op", "values", "pc")

    exact = _Exact()
    exact.op = inst.op
    exact.pc = inst.pc
    exact.values = (np.float32(value),) + tuple(inst.values[1:])
    return exact


def compiled_function(state: BytecodeModuleState, ordinal: int) -> CompiledFunction:
    code = state.stepping_code.get(ordinal)
    if code is None:
        code = state.stepping_code[ordinal] = CompiledFunction(state, ordinal)
    return code


# -----------------------------------------------------------------------------------------
# Frames
# -----------------------------------------------------------------------------------------


class Frame:
    """A bytecode function activation: registers and the next instruction index.

    ``return_registers``/``return_fragment`` remember where a pending call's
    results go (IREE's ``frame_storage->return_registers``); ``results_cconv``
    says how this frame's ``vm.return`` values are typed.
    """

    __slots__ = ("code", "R", "RR", "k", "return_registers", "return_fragment",
                 "resume_index", "entry", "pending")  # fmt: skip

    def __init__(self, code: CompiledFunction):
        self.code = code
        self.R: list = [0] * code.i32_count
        self.RR: list = [None] * code.ref_count
        self.k = 0
        self.return_registers = None
        self.return_fragment = ""
        self.resume_index = -1
        # Whether this frame was entered from outside its module (an export
        # called by the host or through another module's import).
        self.entry = False
        self.pending = None

    @property
    def module_name(self) -> str:
        return self.code.module.name

    @property
    def function_name(self) -> str:
        return self.code.name

    @property
    def pc(self) -> int:
        """Byte offset of the next instruction to execute."""
        pcs = self.code.pcs
        return pcs[self.k] if 0 <= self.k < len(pcs) else -1

    @property
    def instruction(self):
        insts = self.code.instructions
        return insts[self.k] if 0 <= self.k < len(insts) else None

    @property
    def registers(self) -> Registers:
        return Registers(self.R, self.RR)

    def backtrace_frame(self, k: int | None = None) -> BacktraceFrame:
        k = self.k if k is None else k
        pcs = self.code.pcs
        pc = pcs[k] if 0 <= k < len(pcs) else None
        location = self.code.module.source_location(self.code.ordinal, pc) if pc is not None \
            else None
        return BacktraceFrame(self.module_name, self.function_name, pc, location)

    def __repr__(self) -> str:
        return f"<Frame {self.module_name}.{self.function_name}+{self.pc:08X}>"


class NativeFrame:
    """A native (Python) import that suspended: its generator and where results go."""

    __slots__ = ("function", "generator", "result_fragment", "yieldable", "yielded")

    def __init__(self, function: NativeFunction, generator, result_fragment: str,
                 yieldable: bool = True):
        self.function = function
        self.generator = generator
        self.result_fragment = result_fragment
        # What the generator last yielded: None, or a wait frame a scheduler
        # services before resuming it (iree_lab.vm.scheduler.WaitFrame).
        self.yielded = None
        # Called through vm.call.yieldable (or as the entry function): each yield
        # suspends the fiber. Through a plain vm.call it runs to completion.
        self.yieldable = yieldable

    def backtrace_frame(self, k=None) -> BacktraceFrame:
        return BacktraceFrame(self.function.module.name, self.function.name, None, "native")

    def __repr__(self) -> str:
        return f"<NativeFrame {self.function.full_name}>"


# -----------------------------------------------------------------------------------------
# Invocations (fibers)
# -----------------------------------------------------------------------------------------


class Counting:
    """Lets a hooked invocation skip the hook where it would return False.

    ``cell`` is ``[position, limit]``: the hook adds 1 to ``cell[0]`` per
    instruction it sees; straight-line runs that contain no instruction in
    ``hot(code)`` add their length instead, as long as the position stays below
    ``cell[1]``. ``hot(code)`` is ``(indices, guards)``: a frozenset of instruction
    indices and a tuple of ``(index, fn)`` (see CompiledFunction.count_runner). A hook may rely on this
    only if, below the limit, it does nothing but count at instructions outside
    ``hot`` (frame changes included).
    """

    __slots__ = ("cell", "hot", "probed")

    def __init__(self, cell: list, hot, probed: bool = False):
        self.cell = cell
        self.hot = hot
        # Count with registers as locals (CompiledFunction.probed_runner).
        self.probed = probed


class InvocationState(enum.Enum):
    READY = "ready"
    RUNNING = "running"
    SUSPENDED = "suspended"  # yielded (vm.yield or a yielding import); resume to continue
    PAUSED = "paused"  # a hook asked to stop before an instruction
    DONE = "done"
    FAILED = "failed"


class Invocation:
    """One call of a function, run as a resumable fiber on an explicit stack.

    ``run()`` executes until the function returns, yields, pauses or fails
    and returns the new :class:`InvocationState`. ``results`` holds the
    return values once DONE; ``status`` the :class:`VMStatus` once FAILED.
    """

    def __init__(self, context, function, arguments: list, *, hook=None,
                 instruction_budget: int | None = None, max_depth: int = MAX_STACK_DEPTH):
        self.context = context
        self.function = function
        self.stack: list = []
        self.results: list | None = None
        self.status: VMStatus | None = None
        self.state = InvocationState.READY
        self.hook = hook
        self.instruction_budget = instruction_budget
        self.instructions_executed = 0
        self.max_depth = max_depth
        self.stack_bytes = 0
        self._skip_hook_once = False
        # A Counting: with a hook, count the instructions it would pass (see count_runner).
        self.counting = None
        self._result_fragment = function.cconv.results if function.cconv else ""
        self._start(function, arguments)

    # -- Entry ------------------------------------------------------------------------------

    def _start(self, function, arguments: list) -> None:
        if isinstance(function, NativeFunction):
            self._native_entry = (function, arguments)
            return
        self._native_entry = None
        state = self.context.state_of(function.module)
        frame = Frame(compiled_function(state, function.ordinal))
        frame.entry = True
        self.stack_bytes = frame.code.frame_bytes
        fragment = function.cconv.arguments if function.cconv else ""
        calls.place_arguments(fragment, arguments, frame.R, frame.RR)
        self.stack.append(frame)

    @property
    def top(self):
        return self.stack[-1] if self.stack else None

    def backtrace(self) -> list[BacktraceFrame]:
        return [f.backtrace_frame() for f in self.stack]

    # -- Running ----------------------------------------------------------------------------

    def run(self) -> InvocationState:
        if self.state in (InvocationState.DONE, InvocationState.FAILED):
            return self.state
        if self.state == InvocationState.PAUSED:
            self._skip_hook_once = True
        self.state = InvocationState.RUNNING
        try:
            if self._native_entry is not None:
                self._run_native_entry()
            else:
                self._loop()
        except VMStatus as status:
            self._fail(status)
        except KeyboardInterrupt:
            self._fail(VMStatus.interrupt())
        return self.state

    def _fail(self, status: VMStatus) -> None:
        if not status.frames:
            status.frames = [f.backtrace_frame() for f in reversed(self.stack)]
        self.stack.clear()
        self.status = status
        self.state = InvocationState.FAILED

    def _run_native_entry(self) -> None:
        function, arguments = self._native_entry
        result = _call_native(function, arguments)
        if function.is_generator:
            frame = NativeFrame(function, result, self._result_fragment)
            self._native_entry = None
            self.stack.append(frame)
            self._resume_native(frame)
            return
        self._native_entry = None
        self.results = calls.normalize_native_results(self._result_fragment, result)
        self.state = InvocationState.DONE

    def _loop(self) -> None:
        hook = self.hook
        budget = self.instruction_budget
        while self.state == InvocationState.RUNNING:
            frame = self.stack[-1]
            if type(frame) is NativeFrame:
                self._resume_native(frame)
                continue
            R = frame.R
            RR = frame.RR
            handlers = frame.code.handlers
            k = frame.k
            try:
                if hook is None and budget is None:
                    while k >= 0:
                        k = handlers[k](R, RR)
                else:
                    k = self._step_loop(frame, handlers, k, hook, budget)
                    if k is None:
                        return
            except VMStatus as status:
                frame.k = k
                status.frames = [f.backtrace_frame() for f in reversed(self.stack)]
                raise
            except KeyboardInterrupt:
                frame.k = k
                raise
            except Exception as e:  # a bug or type confusion: report where it happened
                frame.k = k
                insts = frame.code.instructions
                what = insts[k].op.name if 0 <= k < len(insts) else "past the end"
                status = VMStatus(StatusCode.INTERNAL,
                                  f"{type(e).__name__} executing {what}: {e}")
                status.frames = [f.backtrace_frame() for f in reversed(self.stack)]
                raise status from e
            if k <= SWITCH_CODE:  # direct calls handed their frames over (vm.probed)
                if k == TOP_CONTROL_CODE:
                    top = self.stack[-1]
                    self._control(top, top.code.controls[top.k])
                continue
            k = -k - 1
            frame.k = k
            self._control(frame, frame.code.controls[k])

    def _step_loop(self, frame, handlers, k, hook, budget):
        """The instrumented loop: hook before each instruction, optional budget."""
        R, RR = frame.R, frame.RR
        if self._skip_hook_once:
            # Resuming from a pause: the hook already saw this instruction.
            self._skip_hook_once = False
            if budget is not None:
                self._charge(frame, k, budget)
            k = handlers[k](R, RR)
        if budget is None:
            # frame.k (and so frame.pc/instruction) is current while the hook runs.
            code = frame.code
            counting = self.counting
            probe = None
            if counting is None or counting.cell[1] <= counting.cell[0] + 1:
                # Nothing to count now (stepping): the plain runner, nothing to compile.
                keys = code.entry_keys
                run = code.block_run
                cell = None
            else:
                plan = counting.hot(code)
                cell = counting.cell
                if counting.probed:
                    keys, probe = code.probed_runner(plan, counting.hot)
                else:
                    keys, run = code.count_runner(*plan)
            while k >= 0:
                if k in keys:
                    if probe is not None:
                        # Returns an index only where the hook is due: hook it below.
                        k = probe(R, RR, frame, self, hook, k, cell)
                        if k < 0:
                            continue
                    else:
                        k = run(R, RR, frame, self, hook, k, cell)
                        if k == PAUSED_CODE:
                            self.state = InvocationState.PAUSED
                            return None
                        if k < 0 or k in keys:
                            continue
                frame.k = k
                if hook(self, frame, k):
                    self.state = InvocationState.PAUSED
                    return None
                k = handlers[k](R, RR)
            return k
        while k >= 0:
            frame.k = k
            if hook is not None and hook(self, frame, k):
                self.state = InvocationState.PAUSED
                return None
            self._charge(frame, k, budget)
            k = handlers[k](R, RR)
        return k

    def _charge(self, frame, k, budget) -> None:
        self.instructions_executed += 1
        if self.instructions_executed > budget:
            frame.k = k
            raise VMStatus(StatusCode.DEADLINE_EXCEEDED,
                           f"instruction budget of {budget} exhausted")

    # -- Control flow -------------------------------------------------------------------------

    def _control(self, frame: Frame, c: Control) -> None:
        kind = c.kind
        if kind == "return":
            self._return(frame, c)
        elif kind == "call":
            self._call(frame, c)
        elif kind == "yield":
            # vm.yield branches first, so resuming needs no extra state.
            _apply_remap(c.operands, frame.R, frame.RR)
            frame.k = c.resume_index
            self.state = InvocationState.SUSPENDED
        elif kind == "fail":
            code = frame.R[c.status_reg] & 0xFFFFFFFF
            if code != 0:
                raise VMStatus(StatusCode.from_raw(code), c.message)
            if frame.k + 1 >= len(frame.code.handlers):
                # IREE would run on into whatever bytes follow the function.
                raise VMStatus(StatusCode.FAILED_PRECONDITION,
                               "vm.fail with status 0 (OK) continued past the end of the "
                               "function")
            frame.k += 1
        else:  # pragma: no cover - every control kind is handled above
            raise VMStatus(StatusCode.INTERNAL, f"unknown control op {kind}")

    def _return(self, frame: Frame, c: Control) -> None:
        # Results are typed by the returning function's own signature.
        fragment = frame.code.cconv.results
        stack = self.stack
        stack.pop()
        self.stack_bytes -= frame.code.frame_bytes
        caller = stack[-1] if stack else None
        if caller is not None and type(caller) is Frame and caller.return_fragment is None:
            # Bytecode caller of an internal call: copy result slots directly.
            R, RR, CR, CRR = caller.R, caller.RR, frame.R, frame.RR
            results = caller.return_registers
            plans = c.result_plans
            if plans is None:
                plans = c.result_plans = {}
            plan = plans.get(results)
            if plan is None:
                plan = plans[results] = calls.result_plan(fragment, c.operands, results)
            for kind, src, dst in plan:
                if kind == 0:
                    R[dst] = CR[src]
                elif kind == 1:
                    R[dst] = CR[src]
                    R[dst + 1] = CR[src + 1]
                else:
                    value = CRR[src]
                    if kind == 3:
                        CRR[src] = None
                    RR[dst] = value
            caller.return_registers = None
            caller.k = caller.resume_index
            return
        values = calls.read_results(fragment, c.operands, frame.R, frame.RR)
        self._deliver(values)

    def _deliver(self, values: list) -> None:
        """Hands a returning function's values to its caller (or the host)."""
        if not self.stack:
            self.results = values
            self.state = InvocationState.DONE
            return
        caller = self.stack[-1]
        if type(caller) is NativeFrame:  # pragma: no cover - natives call no bytecode yet
            raise VMStatus(StatusCode.UNIMPLEMENTED, "native frames calling bytecode")
        calls.scatter(caller.return_fragment, values, caller.return_registers,
                      caller.R, caller.RR)
        caller.return_registers = None
        caller.k = caller.resume_index

    def _call(self, frame: Frame, c: Control) -> None:
        state = frame.code.state
        frame.resume_index = c.resume_index if c.yieldable else frame.k + 1
        if not c.is_import:
            self._call_internal(frame, c, state)
            return
        target = state.imports[c.callee]
        if target is None:
            decl = state.module.imports[c.callee]
            raise VMStatus(StatusCode.NOT_FOUND,
                           f"optional import `{decl.full_name}` (ordinal {c.callee}) not "
                           "resolved").annotate("while calling import")
        decl = state.module.imports[c.callee]
        cconv = decl.cconv or target.cconv
        args = calls.gather(cconv.arguments, c.operands, frame.R, frame.RR, c.segment_sizes)
        result_fragment = cconv.results
        if isinstance(target, NativeFunction):
            try:
                result = _call_native(target, args)
            except VMStatus as status:
                raise status.annotate("while calling import") from None
            if target.is_generator:
                frame.return_registers = c.results
                frame.return_fragment = result_fragment
                native = NativeFrame(target, result, result_fragment, c.yieldable)
                self.stack.append(native)
                self._resume_native(native)
                return
            values = calls.normalize_native_results(result_fragment, result)
            calls.scatter(result_fragment, values, c.results, frame.R, frame.RR)
            frame.k = frame.resume_index
            return
        # Another bytecode module's export.
        callee_state = self.context.state_of(target.module)
        callee = compiled_function(callee_state, target.ordinal)
        self._push_bytecode(frame, callee, args, c.results, result_fragment, entry=True)

    def _call_internal(self, frame: Frame, c: Control, state) -> None:
        """Internal call: copy argument slots straight into the callee's ABI registers.

        Slots are copied rather than re-encoded so the callee's raw register
        words (an i64's high word included) are exactly the caller's.
        """
        plan = c.arg_plan
        if plan is None:
            callee = compiled_function(state, c.callee)
            c.callee_code = callee
            plan = c.arg_plan = calls.argument_plan(callee.cconv.arguments, c.operands)
        callee = c.callee_code
        needed = self.stack_bytes + callee.frame_bytes
        if needed > MAX_STACK_BYTES:
            raise stack_overflow(needed)
        self.stack_bytes = needed
        frame.return_registers = c.results
        frame.return_fragment = None  # results are copied slot-wise (see _return)
        new = Frame(callee)
        new.entry = True
        R, RR, NR, NRR = frame.R, frame.RR, new.R, new.RR
        for kind, src, dst in plan:
            if kind == 0:
                NR[dst] = R[src]
            elif kind == 1:
                NR[dst] = R[src]
                NR[dst + 1] = R[src + 1]
            elif kind == 2:
                NRR[dst] = RR[src]
            else:
                NRR[dst] = RR[src]
                RR[src] = None
        self.stack.append(new)

    def _push_bytecode(self, caller: Frame, callee: CompiledFunction, args, result_regs,
                       result_fragment: str, entry: bool = False) -> None:
        needed = self.stack_bytes + callee.frame_bytes
        if needed > MAX_STACK_BYTES:
            raise stack_overflow(needed)
        self.stack_bytes = needed
        caller.return_registers = result_regs
        caller.return_fragment = result_fragment
        frame = Frame(callee)
        frame.entry = True  # returns are typed by the callee's own signature
        calls.place_arguments(callee.cconv.arguments, args, frame.R, frame.RR)
        self.stack.append(frame)

    def _resume_native(self, native: NativeFrame) -> None:
        """Advances a native import's generator: suspends on yield or delivers results."""
        while True:
            try:
                native.yielded = next(native.generator)
            except StopIteration as stop:
                self.stack.pop()
                values = calls.normalize_native_results(native.result_fragment, stop.value)
                self._deliver(values)
                return
            except VMStatus as status:
                raise status.annotate("while calling import") from None
            except Exception as e:
                raise VMStatus(StatusCode.INTERNAL,
                               f"native function {native.function.full_name} raised "
                               f"{type(e).__name__}: {e}").annotate("while calling import") from e
            if native.yieldable:
                self.state = InvocationState.SUSPENDED
                return
            if native.result_fragment:
                # IREE: a plain vm.call cannot take results from an import that yielded.
                native.generator.close()
                raise VMStatus(StatusCode.UNIMPLEMENTED,
                               "yield in imports with results not supported").annotate(
                                   "while calling import")


def _apply_remap(pairs, R, RR) -> None:
    for src, dst in pairs:
        if src & calls.TYPE_BIT:
            s, d = src & calls.REF_MASK, dst & calls.REF_MASK
            if src & calls.MOVE_BIT:
                if s != d:
                    RR[d] = RR[s]
                    RR[s] = None
            else:
                RR[d] = RR[s]
        else:
            R[dst] = R[src]


def _call_native(function: NativeFunction, args: list):
    try:
        return function.method(*args)
    except VMStatus:
        raise
    except Exception as e:
        raise VMStatus(StatusCode.INTERNAL,
                       f"native function {function.full_name} raised {type(e).__name__}: {e}"
                       ) from e
