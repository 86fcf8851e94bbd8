"""Breakpoints and watchpoints: where and when the debugger stops.

A breakpoint names *where* (a function offset, a block, a source line, an
opcode, an import, a VMVX dispatch) and optionally *when* (a condition over
registers and globals, a number of hits to ignore). Locations are resolved
per compiled function the first time the debugger enters it, into the set of
instruction indices that stop there; the per-instruction hook then only tests
``k in hot``. A watchpoint stops after an instruction changed a register (in
frames of one function) or a global.
"""

from __future__ import annotations

import dataclasses
import enum
import fnmatch

from iree_lab.debug.program import DebugError
from iree_lab.debug.source import FunctionLines
from iree_lab.isa import tables as T


class BreakpointKind(enum.StrEnum):
    """Where a breakpoint applies (compares equal to its text: ``bp.kind == "offset"``)."""

    OFFSET = "offset"
    BLOCK = "block"
    SOURCE = "source"
    OPCODE = "opcode"
    IMPORT = "import"
    DISPATCH = "dispatch"


class WatchKind(enum.StrEnum):
    REGISTER = "register"
    GLOBAL = "global"


KINDS = tuple(BreakpointKind)


@dataclasses.dataclass(eq=False)
class Breakpoint:
    """One breakpoint. ``kind`` is one of :data:`KINDS`.

    * ``offset``: ``function`` (``name`` or ``module.name``) and ``pc``; a pc on a
      block marker stops at the block's first instruction.
    * ``block``: ``function`` and ``block`` (its ordinal, ``^bbN``).
    * ``source``: ``file`` (path or base name) and ``line`` from the debug database.
    * ``opcode``: ``opcode`` (``vm.add.i32``; ``*`` patterns allowed).
    * ``import``: ``name`` of the import (``hal.command_buffer.dispatch``, patterns
      allowed); stops at the call instruction, arguments in place.
    * ``dispatch``: ``name`` pattern of a VMVX dispatch function (default ``*``),
      optionally one ``workgroup`` (x, y, z); stops at its first instruction.

    ``condition`` is a Python expression over ``i3`` (i32), ``r0`` (ref),
    ``i64(2)``/``f32(4)``/``f64(6)``/``word(1)``, ``g`` (globals:
    ``g.i32(offset)``, ``g.ref(ordinal)``), ``pc``, ``function``, ``position``
    and ``workgroup``. ``hits`` counts the times it matched with its condition
    true; the first ``ignore`` of them do not stop. ``temporary`` ones are
    deleted when they stop.
    """

    id: int
    kind: str
    function: str | None = None
    pc: int | None = None
    block: int | None = None
    file: str | None = None
    line: int | None = None
    opcode: str | None = None
    name: str | None = None
    workgroup: tuple[int, int, int] | None = None
    condition: str | None = None
    ignore: int = 0
    enabled: bool = True
    temporary: bool = False
    hits: int = 0
    # Only in this fiber (the fiber debugger; None: every fiber).
    fiber: int | None = None
    _compiled: object = dataclasses.field(default=None, repr=False)
    _registers: object = dataclasses.field(default=None, repr=False)

    def __post_init__(self):
        if self.kind in KINDS:
            self.kind = BreakpointKind(self.kind)  # else validate() names the bad kind

    def describe(self) -> str:
        if self.kind == "offset":
            where = f"{self.function}+{self.pc:08X}"
        elif self.kind == "block":
            where = f"{self.function} ^bb{self.block}"
        elif self.kind == "source":
            where = f"{self.file}:{self.line}"
        elif self.kind == "opcode":
            where = f"opcode {self.opcode}"
        elif self.kind == "import":
            where = f"import {self.name}"
        else:
            where = f"dispatch {self.name or '*'}"
            if self.workgroup is not None:
                where += " workgroup ({}, {}, {})".format(*self.workgroup)
        parts = [f"#{self.id}", where]
        if self.condition:
            parts.append(f"if {self.condition}")
        if self.ignore:
            parts.append(f"ignore {self.ignore}")
        if self.fiber is not None:
            parts.append(f"fiber {self.fiber}")
        if not self.enabled:
            parts.append("(disabled)")
        parts.append(f"hits={self.hits}")
        return " ".join(parts)

    def register_names(self):
        """((name, slot), ...) when the condition reads only i32 registers (``i3``), else None."""
        code = self.compiled_condition()
        if code is None:
            return None
        if self._registers is None:
            names = []
            for name in code.co_names:
                if name[:1] != "i" or not name[1:].isdigit():
                    names = False
                    break
                names.append((name, int(name[1:])))
            self._registers = tuple(names) if names is not False else False
        if self._registers is False:
            return None
        return self._registers or None

    def compiled_condition(self):
        if self.condition and self._compiled is None:
            try:
                self._compiled = compile(self.condition, f"<breakpoint {self.id}>", "eval")
            except SyntaxError as e:
                raise DebugError(f"breakpoint condition {self.condition!r}: {e.msg}") from None
        return self._compiled


def may_stop_in(bp: Breakpoint, function: str, instructions, workgroup=None) -> bool:
    """Whether ``bp`` could stop in the function named ``function`` (conservative: a
    source line could map anywhere; an import breakpoint never matches a function that
    makes no calls, which is the only kind asked about); with ``workgroup`` (x, y, z),
    in that workgroup's call of it."""
    if bp.kind in ("offset", "block"):
        target = bp.function or ""
        return target == function or target.endswith("." + function)
    if bp.kind == "opcode":
        pattern = bp.opcode or "*"
        return any(fnmatch.fnmatchcase(inst.op.name, pattern) for inst in instructions)
    if bp.kind == "dispatch":
        if workgroup is not None and bp.workgroup is not None \
                and tuple(bp.workgroup) != tuple(workgroup):
            return False
        return fnmatch.fnmatchcase(function, bp.name or "*")
    if bp.kind == "import":
        return False
    return True


@dataclasses.dataclass(eq=False)
class Watchpoint:
    """Stops after the watched value changes.

    ``register`` watches (``function``, ``register`` like ``i3``, ``i2:3``/``i64 2``
    via ``type``, or ``r1``) in every frame of that function; ``global`` watches
    (``module``, byte ``offset`` + ``type``) of rwdata or a ref global
    (``type="ref"``, ``offset`` = ordinal).
    """

    id: int
    kind: WatchKind
    type: str  # i32 / i64 / f32 / f64 / ref
    slot: int = 0  # register slot, rwdata byte offset or ref-global ordinal
    function: str | None = None
    module: str | None = None
    enabled: bool = True
    hits: int = 0

    def __post_init__(self):
        self.kind = WatchKind(self.kind)

    def describe(self) -> str:
        if self.kind == "register":
            reg = f"r{self.slot}" if self.type == "ref" else f"{self.type} i{self.slot}"
            where = f"{self.function} {reg}"
        elif self.type == "ref":
            where = f"{self.module or '*'} global ref {self.slot}"
        else:
            where = f"{self.module or '*'} global {self.type} @{self.slot}"
        state = "" if self.enabled else " (disabled)"
        return f"watch #{self.id} {where}{state} hits={self.hits}"


def function_matches(spec: str | None, code) -> bool:
    """Whether ``spec`` (``fn``, ``module.fn``, patterns allowed) names compiled ``code``."""
    if spec is None:
        return True
    module, dot, name = spec.rpartition(".")
    if not dot:
        return fnmatch.fnmatchcase(code.name, spec)
    if fnmatch.fnmatchcase(f"{code.module.name}.{code.name}", spec):
        return True
    # Function names may contain dots? They do not in IREE, but a module-less
    # name with a pattern should still match.
    return module == "" and fnmatch.fnmatchcase(code.name, name)


def _block_first_index(code, marker_index: int) -> int:
    # Branches land just past a block's marker (the entry block's marker does run).
    return marker_index + 1 if marker_index + 1 < len(code.instructions) else marker_index


def _offset_index(code, pc: int) -> int | None:
    k = code.index_of_pc.get(pc)
    if k is None:
        return None
    if code.instructions[k].op.flow == T.FLOW_BLOCK and k != 0:
        return _block_first_index(code, k)
    return k


class LineTables:
    """Per compiled-function source lines, shared by every source breakpoint."""

    LIMIT = 4096

    def __init__(self):
        self._tables: dict[int, tuple[object, FunctionLines]] = {}

    def get(self, code) -> FunctionLines:
        hit = self._tables.get(id(code))
        if hit is not None and hit[0] is code:
            return hit[1]
        lines = FunctionLines(code.module.source, code.ordinal, code.pcs)
        if len(self._tables) >= self.LIMIT:
            self._tables.clear()
        self._tables[id(code)] = (code, lines)
        return lines


class StaticCode:
    """What :func:`resolve` reads of a compiled function, from the decoder alone
    (checks a breakpoint without compiling functions that may never run)."""

    def __init__(self, module, ordinal: int):
        decoded = module.decode(ordinal)
        self.module = module
        self.ordinal = ordinal
        self.name = module.function_name(ordinal)
        self.instructions = decoded.instructions
        self.pcs = [inst.pc for inst in self.instructions]
        self.index_of_pc = {pc: k for k, pc in enumerate(self.pcs)}


def resolve(bp: Breakpoint, code, lines: LineTables) -> set[int]:
    """Instruction indices of ``code`` at which ``bp`` applies (may be empty).

    Dispatch breakpoints resolve at run time (they depend on the invocation);
    here they give the entry index of every function, filtered later.
    """
    insts = code.instructions
    kind = bp.kind
    if kind == "offset":
        if not function_matches(bp.function, code):
            return set()
        k = _offset_index(code, bp.pc)
        if k is None:
            raise DebugError(f"{bp.function}+{bp.pc:08X} is not an instruction boundary")
        return {k}
    if kind == "block":
        if not function_matches(bp.function, code):
            return set()
        markers = [k for k, inst in enumerate(insts) if inst.op.flow == T.FLOW_BLOCK]
        if bp.block is None or not 0 <= bp.block < len(markers):
            raise DebugError(f"{code.module.name}.{code.name} has no block ^bb{bp.block} "
                             f"({len(markers)} blocks)")
        return {_block_first_index(code, markers[bp.block])}
    if kind == "source":
        table = lines.get(code)
        if not table.has_map:
            return set()
        return {code.index_of_pc[pc] for pc in table.line_starts(bp.file, bp.line)}
    if kind == "opcode":
        return {k for k, inst in enumerate(insts) if fnmatch.fnmatchcase(inst.op.name, bp.opcode)}
    if kind == "import":
        out = set()
        for k, control in enumerate(code.controls):
            if control is not None and control.kind == "call" and control.is_import:
                full = code.module.imports[control.callee].full_name
                if fnmatch.fnmatchcase(full, bp.name):
                    out.add(k)
        return out
    if kind == "dispatch":
        return {0}
    raise DebugError(f"unknown breakpoint kind {kind!r}")


def validate(bp: Breakpoint) -> None:
    """Checks a new breakpoint's fields (before any function is resolved)."""
    if bp.kind not in KINDS:
        raise DebugError(f"unknown breakpoint kind {bp.kind!r}; one of {', '.join(KINDS)}")
    required = {"offset": ("function", "pc"), "block": ("function", "block"),
                "source": ("file", "line"), "opcode": ("opcode",), "import": ("name",),
                "dispatch": ()}[bp.kind]  # fmt: skip
    for name in required:
        if getattr(bp, name) is None:
            raise DebugError(f"a {bp.kind} breakpoint needs {name}")
    if bp.kind == "opcode" and "*" not in bp.opcode and "?" not in bp.opcode:
        if not any(op.name == bp.opcode for op in T.ALL_OPS):
            raise DebugError(f"no opcode named {bp.opcode!r}")
    bp.compiled_condition()
