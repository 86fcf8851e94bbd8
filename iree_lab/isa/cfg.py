"""Control-flow graphs of decoded functions.

A :class:`Block` is the run of instructions after a block marker up to its
terminator; its ``successors`` are :class:`Edge` s carrying the branch's
register remaps (the block arguments). Exits (``vm.return``, ``vm.fail``),
suspension points (``vm.yield`` and yieldable calls, whose resume targets are
edges) and call sites are marked so that viewers and the debugger need not
re-derive them. :meth:`ControlFlowGraph.to_dot` renders graphviz text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING

from iree_lab.isa import tables as T

if TYPE_CHECKING:
    from iree_lab.isa.decoder import DecodedFunction, Instruction

__all__ = ["Block", "ControlFlowGraph", "Edge", "build_blocks"]

# Edge kinds by the flow of the instruction that creates them.
EDGE_KINDS = {
    T.FLOW_BRANCH: "branch",
    T.FLOW_COND_BRANCH: "branch",
    T.FLOW_BRANCH_TABLE: "branch",
    T.FLOW_BREAK: "break",
    T.FLOW_YIELD: "yield",  # the fiber suspends, then resumes at the target
    T.FLOW_CALL_YIELDABLE: "resume",  # the callee may suspend; resumes at the target
}


@dataclasses.dataclass(eq=False)
class Edge:
    """A control transfer from ``source`` to ``target``.

    ``label`` says which branch of the terminator it is ("dest", "true",
    "false", "default", "case N", "resume"); ``remaps`` are the (source,
    destination) raw register pairs copied on the way.
    """

    source: Block
    target: Block
    kind: str
    label: str
    remaps: tuple[tuple[int, int], ...]
    instruction: Instruction

    @property
    def remap_text(self) -> str:
        from iree_lab.isa.decoder import register_name

        return ", ".join(
            f"{register_name(T.ANY, s)}->{register_name(T.ANY, d)}" for s, d in self.remaps
        )

    @property
    def text(self) -> str:
        """``true``, ``case 2: %i1->%i3``, ``%i3->%i2``; empty for a plain branch without
        remaps."""
        parts = []
        if self.label != "dest":
            parts.append(self.label)
        if self.remaps:
            parts.append(self.remap_text)
        return ": ".join(parts)

    def __repr__(self) -> str:
        return f"<Edge ^bb{self.source.ordinal} -{self.label}-> ^bb{self.target.ordinal}>"


@dataclasses.dataclass(eq=False)
class Block:
    """A basic block: its marker, the instructions after it and its edges."""

    ordinal: int
    # pc of the block marker (what branches target); end: pc past the last instruction.
    pc: int
    end: int
    marker: Instruction
    # Instructions after the marker, terminator last.
    instructions: list[Instruction]
    successors: list[Edge] = dataclasses.field(default_factory=list)
    predecessors: list[Edge] = dataclasses.field(default_factory=list)

    @property
    def name(self) -> str:
        return f"bb{self.ordinal}"

    @property
    def terminator(self) -> Instruction | None:
        if self.instructions and self.instructions[-1].op.terminator:
            return self.instructions[-1]
        return None

    @property
    def exit(self) -> str | None:
        """"return" or "fail" when the block leaves the function, else None."""
        term = self.terminator
        if term is not None and term.op.flow in (T.FLOW_RETURN, T.FLOW_FAIL):
            return term.op.flow
        return None

    @property
    def suspends(self) -> bool:
        """Whether the block may suspend the fiber (vm.yield or a yieldable call)."""
        term = self.terminator
        return term is not None and term.op.flow in (T.FLOW_YIELD, T.FLOW_CALL_YIELDABLE)

    @property
    def calls(self) -> list[Instruction]:
        """Call instructions in the block (import and internal callees)."""
        return [i for i in self.instructions if i.op.flow in (T.FLOW_CALL, T.FLOW_CALL_YIELDABLE)]

    def __iter__(self) -> Iterator[Instruction]:
        return iter(self.instructions)

    def __repr__(self) -> str:
        succ = ", ".join(f"^bb{e.target.ordinal}" for e in self.successors)
        return f"<Block ^bb{self.ordinal} @{self.pc:08X} {len(self.instructions)} ops -> [{succ}]>"


def build_blocks(fn: DecodedFunction, *, strict: bool) -> list[Block]:
    """Groups ``fn.instructions`` into blocks and links their edges.

    With ``strict`` False (a partially decoded function) edges to blocks that
    were never decoded are dropped.
    """
    blocks: list[Block] = []
    for inst in fn.instructions:
        if inst.op.flow == T.FLOW_BLOCK:
            blocks.append(Block(len(blocks), inst.pc, inst.end, inst, []))
        elif blocks:
            blocks[-1].instructions.append(inst)
            blocks[-1].end = inst.end
    by_pc = {b.pc: b for b in blocks}
    for block in blocks:
        term = block.terminator
        if term is None:
            continue
        kind = EDGE_KINDS.get(term.op.flow)
        if kind is None:
            continue
        for label, target_pc, remaps in term.branches:
            target = by_pc.get(target_pc)
            if target is None:
                if strict:
                    raise AssertionError(f"unverified branch target {target_pc:08X}")
                continue
            edge = Edge(block, target, kind, label, remaps, term)
            block.successors.append(edge)
            target.predecessors.append(edge)
    return blocks


class ControlFlowGraph:
    """The CFG of a decoded function (``DecodedFunction.cfg``)."""

    def __init__(self, function: DecodedFunction):
        self.function = function

    @property
    def blocks(self) -> list[Block]:
        return self.function.blocks

    @property
    def entry(self) -> Block:
        return self.function.blocks[0]

    @property
    def edges(self) -> list[Edge]:
        return [e for b in self.blocks for e in b.successors]

    @property
    def exits(self) -> list[Block]:
        """Blocks that return or fail."""
        return [b for b in self.blocks if b.exit is not None]

    @property
    def call_sites(self) -> list[Instruction]:
        return [i for b in self.blocks for i in b.calls]

    def reachable(self) -> list[Block]:
        """Blocks reachable from the entry block, in depth-first preorder."""
        if not self.blocks:
            return []
        seen: set[int] = set()
        order: list[Block] = []
        stack = [self.entry]
        while stack:
            block = stack.pop()
            if block.ordinal in seen:
                continue
            seen.add(block.ordinal)
            order.append(block)
            stack.extend(reversed([e.target for e in block.successors]))
        return order

    def loops(self) -> list[Edge]:
        """Back edges (to a block on the current depth-first path): one per loop latch."""
        back: list[Edge] = []
        state: dict[int, int] = {}  # 1 = on stack, 2 = done
        if not self.blocks:
            return back
        stack: list[tuple[Block, Iterator[Edge]]] = [(self.entry, iter(self.entry.successors))]
        state[self.entry.ordinal] = 1
        while stack:
            block, it = stack[-1]
            edge = next(it, None)
            if edge is None:
                state[block.ordinal] = 2
                stack.pop()
                continue
            s = state.get(edge.target.ordinal)
            if s == 1:
                back.append(edge)
            elif s is None:
                state[edge.target.ordinal] = 1
                stack.append((edge.target, iter(edge.target.successors)))
        return back

    def to_dot(self, *, bytecode_offsets: bool = True, max_instructions: int | None = None) -> str:
        """Graphviz DOT text: one record node per block, edges labelled with remaps."""
        from iree_lab.isa.disassembler import format_instruction

        fn = self.function
        title = f"@{fn.name}" if fn.name else f"function {fn.ordinal}"
        lines = [
            f"digraph {_dot_id(title)} {{",
            f"  label={_dot_str(title)};",
            '  node [shape=box, fontname="monospace", fontsize=10];',
            '  edge [fontname="monospace", fontsize=9];',
        ]
        for block in self.blocks:
            rows = [f"^bb{block.ordinal}:"]
            insts = block.instructions
            shown = insts if max_instructions is None else insts[:max_instructions]
            for inst in shown:
                text = format_instruction(inst, fn)
                rows.append(f"[{inst.pc:08X}] {text}" if bytecode_offsets else text)
            if len(shown) < len(insts):
                rows.append(f"... {len(insts) - len(shown)} more")
            attrs = ""
            if block.exit == T.FLOW_RETURN:
                attrs = ", peripheries=2"
            elif block.exit == T.FLOW_FAIL:
                attrs = ', color="red", peripheries=2'
            elif block.suspends:
                attrs = ', style="dashed"'
            label = "".join(_dot_escape(r) + "\\l" for r in rows)
            lines.append(f'  bb{block.ordinal} [label="{label}"{attrs}];')
        for edge in self.edges:
            text = edge.text
            attrs = []
            if text:
                attrs.append(f"label={_dot_str(text)}")
            if edge.kind in ("yield", "resume"):
                attrs.append('style="dashed"')
            elif edge.kind == "break":
                attrs.append('style="dotted"')
            attr_text = f" [{', '.join(attrs)}]" if attrs else ""
            lines.append(f"  bb{edge.source.ordinal} -> bb{edge.target.ordinal}{attr_text};")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def __repr__(self) -> str:
        return f"<ControlFlowGraph {len(self.blocks)} blocks, {len(self.edges)} edges>"


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _dot_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot_id(text: str) -> str:
    return _dot_str(text)
