"""Control-flow graphs: blocks, edges with remaps, exits, suspension points, DOT text."""

from __future__ import annotations

import functools
import re

import iree_lab
from iree_lab.isa import decode_function, decode_functions, register_name, tables
from iree_lab.testing import corpus


@functools.cache
def _module(name: str):
    return iree_lab.open(str(corpus.build(name)))


def _edges(fn):
    return [
        (e.source.ordinal, e.target.ordinal, e.kind, e.label, e.remap_text) for e in fn.cfg.edges
    ]


def test_loop():
    fn = decode_function(_module("isa_control"), "loop_sum")
    cfg = fn.cfg
    assert [b.name for b in cfg.blocks] == ["bb0", "bb1", "bb2", "bb3"]
    assert _edges(fn) == [
        (0, 1, "branch", "dest", "%i1->%i3, %i2->%i4"),
        (1, 2, "branch", "true", ""),
        (1, 3, "branch", "false", "%i4->%i6"),
        (2, 1, "branch", "dest", "%i3->%i3, %i4->%i4"),
    ]
    assert [(e.source.ordinal, e.target.ordinal) for e in cfg.loops()] == [(2, 1)]
    assert [b.ordinal for b in cfg.exits] == [3] and cfg.blocks[3].exit == "return"
    assert [e.source.ordinal for e in cfg.blocks[1].predecessors] == [0, 2]
    assert cfg.entry is cfg.blocks[0] and [b.ordinal for b in cfg.reachable()] == [0, 1, 2, 3]
    # Blocks partition the instructions: marker + body, terminator last.
    for block in cfg.blocks:
        assert block.marker.is_block_marker and block.marker.pc == block.pc
        assert block.terminator is block.instructions[-1]
        assert all(fn.block_at(i.pc) is block for i in block.instructions)
    assert sum(len(b.instructions) + 1 for b in cfg.blocks) == len(fn)


def test_branch_table_failure_and_calls():
    fn = decode_function(_module("isa_control"), "classify")
    assert _edges(fn) == [
        (0, 3, "branch", "default", "%i0->%i3"),
        (0, 1, "branch", "case 0", "%i1->%i3"),
        (0, 2, "branch", "case 1", "%i2->%i4"),
        (0, 3, "branch", "case 2", "%i2->%i3"),
    ]
    blocks = fn.cfg.blocks
    assert [b.exit for b in blocks] == [None, "return", "return", "fail"]
    assert [i.name for i in fn.cfg.call_sites] == ["vm.call"]
    assert blocks[2].calls[0].callee == 2  # the unexported @helper (internal ordinal 2)
    assert fn.cfg.loops() == []


def test_yield_break_and_resume_edges():
    module = _module("isa_control")
    co = decode_function(module, "coroutine").cfg
    assert [(e.source.ordinal, e.target.ordinal, e.kind) for e in co.edges] == [
        (0, 1, "yield"),
        (1, 2, "break"),
        (2, 3, "break"),
        (3, 4, "yield"),
    ]
    assert [b.suspends for b in co.blocks] == [True, False, False, True, False]
    assert co.edges[0].remaps == ((0, 1),)
    imports = decode_function(module, "imports").cfg
    resumes = [(e.source.ordinal, e.target.ordinal) for e in imports.edges if e.kind == "resume"]
    assert resumes == [(3, 4), (4, 5), (5, 6)]
    assert [b.ordinal for b in imports.blocks if b.suspends] == [3, 4, 5]
    callees = [i.callee for i in imports.call_sites]
    imp = tables.FUNCTION_ORDINAL_IMPORT_BIT
    assert callees == [imp | 1, imp | 0, imp | 2, imp | 0, 2]


def test_compiled_control_flow():
    module = _module("control_flow_vm")
    classify = decode_function(module, "classify").cfg
    assert [e.label for e in classify.edges] == ["default"] + [f"case {i}" for i in range(6)]
    assert {e.target.ordinal for e in classify.edges} == {1}
    collatz = decode_function(module, "collatz_steps").cfg
    assert [(e.source.ordinal, e.target.ordinal) for e in collatz.loops()] == [(2, 1)]
    back = collatz.loops()[0]
    assert back.remap_text == "%i0->%i3, %i10->%i0, %i11->%i1"
    checked = decode_function(module, "checked_div").cfg
    assert [b.exit for b in checked.blocks] == [None, "return", "fail"]


def test_async_module_suspends_on_fence_await():
    for fn in decode_functions(_module("async_vmvx")):
        for block in fn.cfg.blocks:
            term = block.terminator
            if term is not None and term.op.flow == tables.FLOW_CALL_YIELDABLE:
                assert block.suspends
                assert [e.kind for e in block.successors] == ["resume"]


def test_every_corpus_cfg_is_consistent():
    for name in corpus.PROGRAMS:
        for fn in decode_functions(_module(name)):
            cfg = fn.cfg
            assert len(cfg.blocks) == fn.block_count
            for block in cfg.blocks:
                term = block.terminator
                assert term is not None, (name, fn.name, block.name)
                targets = sorted(pc for _, pc, _ in term.branches)
                assert sorted(e.target.pc for e in block.successors) == targets
                if term.op.flow in (tables.FLOW_RETURN, tables.FLOW_FAIL):
                    assert not block.successors and block.exit == term.op.flow
                for edge in block.successors:
                    assert edge in edge.target.predecessors


_NODE = re.compile(r'^  (bb\d+) \[label="((?:[^"\\]|\\.)*)"(?:, [a-z]+=(?:"[^"]*"|\w+))*\];$')
_EDGE = re.compile(r'^  (bb\d+) -> (bb\d+)(?: \[(?:label="((?:[^"\\]|\\.)*)")?(?:, )?(?:style="\w+")?\])?;$')


def _parse_dot(text: str):
    lines = text.splitlines()
    assert lines[0].startswith("digraph ") and lines[0].endswith("{") and lines[-1] == "}"
    nodes, edges = {}, []
    for line in lines[1:-1]:
        if m := _NODE.match(line):
            nodes[m.group(1)] = m.group(2)
        elif m := _EDGE.match(line):
            edges.append((m.group(1), m.group(2), m.group(3)))
        else:
            assert re.match(r"^  (label|node|edge)\b.*;$", line), line
    return nodes, edges


def test_to_dot():
    fn = decode_function(_module("isa_control"), "loop_sum")
    text = fn.cfg.to_dot()
    nodes, edges = _parse_dot(text)
    assert list(nodes) == ["bb0", "bb1", "bb2", "bb3"]
    assert "[00000007] vm.br ^bb1(%i1->%i3, %i2->%i4)\\l" in nodes["bb0"]
    assert edges == [
        ("bb0", "bb1", "%i1->%i3, %i2->%i4"),
        ("bb1", "bb2", "true"),
        ("bb1", "bb3", "false: %i4->%i6"),
        ("bb2", "bb1", "%i3->%i3, %i4->%i4"),
    ]
    plain = fn.cfg.to_dot(bytecode_offsets=False, max_instructions=1)
    nodes, _ = _parse_dot(plain)
    assert nodes["bb2"] == "^bb2:\\l%i4 = vm.add.i32 %i4, %i3\\l... 3 more\\l"
    # Quotes in instruction text are escaped.
    fail = decode_function(_module("isa_control"), "classify").cfg.to_dot()
    nodes, _ = _parse_dot(fail)
    assert 'vm.fail %i3, \\"unexpected case\\"' in nodes["bb3"]


def test_to_dot_of_every_corpus_function_parses():
    for name in corpus.PROGRAMS:
        for fn in decode_functions(_module(name)):
            nodes, edges = _parse_dot(fn.cfg.to_dot())
            assert len(nodes) == len(fn.blocks) and len(edges) == len(fn.cfg.edges)


def test_remap_text_uses_iree_register_names():
    assert register_name(tables.ANY, 0xC002) == "%R2"
    assert register_name(tables.ANY, 0x8002) == "%r2"
    assert register_name(tables.ANY, 7) == "%i7"
