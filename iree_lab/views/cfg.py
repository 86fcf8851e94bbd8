"""A function's control-flow graph as JSON-ready data (what the CFG widget draws).

The layout is not computed here: the widget lays the graph out in the browser
(widgets/cfg_layout.js) so that no graphviz binary is needed. This module only
says what to draw: blocks with their instruction lines (tool-identical text),
edges with their branch label and the registers each one copies.
"""

from __future__ import annotations

from iree_lab.isa import DecodedFunction
from iree_lab.views.disassembly import function_lines


def cfg_data(fn: DecodedFunction) -> dict:
    """The CFG of ``fn`` as plain data.

    ``blocks``: ``{id, name, pc, end, exit, suspends, lines: [{pc, text, op}]}``
    (the marker is the block itself; ``lines`` are the instructions after it).
    ``edges``: ``{source, target, kind, label, branch, remaps}`` where ``label``
    is the text drawn on the edge and ``remaps`` the ``[src, dst]`` register names.
    """
    lines = function_lines(fn)
    blocks = [
        {
            "id": b.ordinal,
            "name": f"^bb{b.ordinal}",
            "pc": b.pc,
            "end": b.end,
            "exit": b.exit,
            "suspends": b.suspends,
            "lines": [],
        }
        for b in fn.blocks
    ]
    for line in lines:
        if not line.is_block and 0 <= line.block < len(blocks):
            blocks[line.block]["lines"].append({"pc": line.pc, "text": line.text, "op": line.name})
    edges = []
    for block in fn.blocks:
        for edge in block.successors:
            remaps = [[s, d] for s, d in (part.split("->") for part in edge.remap_text.split(", "))
                      ] if edge.remaps else []
            edges.append({
                "source": edge.source.ordinal,
                "target": edge.target.ordinal,
                "kind": edge.kind,
                "branch": edge.label,
                "label": edge.text,
                "remaps": remaps,
            })
    return {
        "function": fn.name or (f"fn{fn.ordinal}" if fn.ordinal is not None else "function"),
        "ordinal": fn.ordinal,
        "instruction_count": sum(1 for line in lines if not line.is_block),
        "blocks": blocks,
        "edges": edges,
        "error": str(fn.error) if fn.error is not None else None,
    }
