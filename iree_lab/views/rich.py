"""Rich display: the HTML a notebook shows for iree_lab objects.

:func:`render_html` picks a renderer by type and returns an HTML fragment, or
None for objects it does not know (the notebook then falls back to repr).
The format and ISA layers stay free of any view code: the notebook layer
registers these renderers with IPython by type name (see
:mod:`iree_lab.notebook.display`).
"""

from __future__ import annotations

from iree_lab.errors import FormatError
from iree_lab.format.executables import Executable
from iree_lab.format.module import Function, Module
from iree_lab.hal.executables import ExecutableDiscovery, ModuleExecutable
from iree_lab.hal.recorder import Recorder
from iree_lab.isa import Block, ControlFlowGraph, DecodedFunction, Instruction
from iree_lab.views.disassembly import function_lines
from iree_lab.views.executables import executable_html, executables_table
from iree_lab.views.html import Raw, document, esc, human_size, key_values, section, table
from iree_lab.views.module import (
    ModuleView,
    cconv_text,
    feature_text,
    function_facts,
    functions_table,
    lines_html,
    rodata_table,
)
from iree_lab.vm.scheduler import Timeline

# Rich display of a function lists at most this many instructions (the widget shows all).
MAX_RICH_INSTRUCTIONS = 5000


def module_html(module: Module) -> str:
    """Header facts plus collapsible exports, imports, functions, rodata, executables."""
    m = module
    try:
        facts = key_values([
            ("module", f"@{m.name} version {m.version}"),
            ("file", f"{m.source_name or '(bytes)'}: {human_size(m.file_size)}, "
                     f"{'ZIP' if m.container.kind == 'zip' else 'bare FlatBuffer'}"),
            ("bytecode version", f"{m.bytecode_version_major}.{m.bytecode_version_minor}"),
            ("requirements", feature_text(m.requirements)),
            ("dependencies", ", ".join(f"{d.name}>={d.minimum_version}"
                                       + (" (optional)" if d.is_optional else "")
                                       for d in m.dependencies) or None),
            ("module state", f"{m.global_bytes_capacity} rwdata bytes, "
                             f"{m.global_ref_count} ref globals"),
            ("debug database", f"{m.debug_database.location_count} locations"
             if m.debug_database else None),
        ])
        exports = table(("name", "cconv", "ABI declaration"), [
            (f"@{e.local_name}", e.calling_convention, e.attrs.get("iree.abi.declaration", ""))
            for e in m.exports], mono_columns=(0, 1, 2))
        imports = table(("#", "name", "signature"), [
            (i.ordinal, f"@{i.full_name}", cconv_text(i.calling_convention)
             + (" (optional)" if i.is_optional else "")) for i in m.imports], mono_columns=(1, 2))
        parts = [
            facts,
            section("Exports", exports, open_=True, count=len(m.exports)),
            section("Imports", imports, count=len(m.imports)),
            section("Functions", functions_table(m), open_=True, count=len(m.functions)),
            section("Read-only data", rodata_table(m), count=len(m.rodata)),
        ]
        try:
            discovery = ModuleView(m).executables
        except FormatError:
            discovery = None
        if discovery is not None and len(discovery):
            parts.append(section("Executables", executables_table(discovery), open_=True,
                                 count=len(discovery)))
        if any(d.name == "io_parameters" for d in m.dependencies):
            from iree_lab.hal.parameters import parameter_bindings
            from iree_lab.views.parameters import parameter_bindings_table

            bindings = parameter_bindings(m)
            parts.append(section("Parameters", parameter_bindings_table(bindings),
                                 count=len(bindings)))
    except FormatError as e:
        parts = [Raw(f'<div class="il-note">malformed module: {esc(e)}</div>')]
    return document(*parts, title=f"IREE VM module @{_safe_name(m)}")


def _safe_name(m: Module) -> str:
    try:
        return m.name
    except FormatError:
        return "?"


def function_html(fn: DecodedFunction, *, max_instructions: int = MAX_RICH_INSTRUCTIONS) -> str:
    """Facts, the disassembly (tool-identical lines, grouped by block) and the edges."""
    lines = function_lines(fn)
    shown = lines[:max_instructions]
    facts = key_values([
        ("function", f"@{fn.name}" if fn.name else f"ordinal {fn.ordinal}"),
        ("bytecode", f"{fn.length} bytes"),
        ("instructions", sum(1 for x in lines if not x.is_block)),
        ("blocks", len(fn.blocks)),
        ("registers", f"{fn.i32_register_count} i32, {fn.ref_register_count} ref"),
        ("decode error", str(fn.error) if fn.error else None),
    ])
    more = (f'<div class="il-dim">... {len(lines) - len(shown)} more lines</div>'
            if len(lines) > len(shown) else "")
    edges = table(("from", "to", "kind", "label"), [
        (f"^bb{e.source.ordinal}", f"^bb{e.target.ordinal}", e.kind, e.text)
        for e in fn.cfg.edges], mono_columns=(0, 1, 3))
    return document(facts, section("Disassembly", lines_html(shown) + Raw(more), open_=True),
                    section("Edges", edges, count=len(fn.cfg.edges)),
                    title=f"function @{fn.name}" if fn.name else "function")


def instructions_html(instructions, fn: DecodedFunction | None = None) -> str:
    """A table of instructions: pc, mnemonic, tool text."""
    from iree_lab.isa import format_instruction

    rows = []
    for inst in instructions:
        text = f"^bb{inst.block}:" if inst.is_block_marker else format_instruction(inst, fn)
        rows.append((f"{inst.pc:08X}", inst.op.name, text))
    return document(table(("pc", "op", "instruction"), rows, mono_columns=(0, 1, 2)),
                    title=f"{len(rows)} instructions")


def block_html(block: Block) -> str:
    """A block's instructions (branch targets print as ^PC: a block does not know its
    function's block numbering) and its successors."""
    from iree_lab.isa import format_instruction

    body = table(("pc", "instruction"), [
        (f"{i.pc:08X}", format_instruction(i)) for i in block.instructions], mono_columns=(0, 1))
    succ = ", ".join(f"^bb{e.target.ordinal}" + (f" ({e.text})" if e.text else "")
                     for e in block.successors)
    return document(key_values([("block", f"^bb{block.ordinal} at {block.pc:08X}"),
                                ("successors", succ or None),
                                ("exit", block.exit)]), body, title=f"block ^bb{block.ordinal}")


def cfg_html(cfg: ControlFlowGraph) -> str:
    fn = cfg.function
    rows = [(f"^bb{b.ordinal}", f"{b.pc:08X}", len(b.instructions),
             ", ".join(f"^bb{e.target.ordinal}" for e in b.successors),
             ", ".join(f"^bb{e.source.ordinal}" for e in b.predecessors), b.exit or "")
            for b in cfg.blocks]
    return document(table(("block", "pc", "instructions", "successors", "predecessors", "exit"),
                          rows, mono_columns=(0, 1)),
                    Raw('<div class="il-dim">draw it with iree_lab.notebook.CFGView</div>'),
                    title=f"CFG of @{fn.name}: {len(cfg.blocks)} blocks, {len(cfg.edges)} edges")


def function_descriptor_html(f: Function) -> str:
    return document(key_values(function_facts(f)), title=f"function @{f.iree_name}")


def executable_document(item: ModuleExecutable | Executable) -> str:
    name = item.name if isinstance(item, ModuleExecutable) else (item.format or "executable")
    return document(executable_html(item), title=f"executable {name}")


def discovery_html(discovery: ExecutableDiscovery) -> str:
    notes = "".join(f'<div class="il-note">{esc(n)}</div>' for n in discovery.notes)
    return document(executables_table(discovery), Raw(notes),
                    title=f"{len(discovery)} executables")


def render_html(obj) -> str | None:
    """HTML for an iree_lab object, None when there is no rich view for it."""
    if isinstance(obj, Module):
        return module_html(obj)
    if isinstance(obj, DecodedFunction):
        return function_html(obj)
    if isinstance(obj, ControlFlowGraph):
        return cfg_html(obj)
    if isinstance(obj, Block):
        return block_html(obj)
    if isinstance(obj, Instruction):
        return instructions_html([obj])
    if isinstance(obj, Function):
        return function_descriptor_html(obj)
    if isinstance(obj, (ModuleExecutable, Executable)):
        return executable_document(obj)
    if isinstance(obj, ExecutableDiscovery):
        return discovery_html(obj)
    if isinstance(obj, (list, tuple)) and obj and all(isinstance(i, Instruction) for i in obj):
        return instructions_html(obj)
    if isinstance(obj, Recorder):
        from iree_lab.views.hal_data import recorder_html

        return recorder_html(obj)
    if type(obj).__module__ == "iree_lab.hal.check":
        from iree_lab.views import check

        if type(obj).__name__ == "CheckReport":
            return check.report_html(obj)
        if type(obj).__name__ == "CheckFailure":
            return check.check_failure_html(obj)
    if isinstance(obj, Timeline):
        from iree_lab.views.timeline_data import timeline_html

        return timeline_html(obj)
    return _parameters_html(obj)


def _parameters_html(obj) -> str | None:
    from iree_lab.format.parameters import ParameterFile
    from iree_lab.hal.parameters import ModuleParameters
    from iree_lab.views.parameters import module_parameters_html, parameter_file_html

    if isinstance(obj, ParameterFile):
        return parameter_file_html(obj)
    if isinstance(obj, ModuleParameters):
        # Anchors unique per object: several views can share one notebook page.
        return module_parameters_html(obj.bindings, obj.files, anchor=f"ilparams{id(obj):x}")
    return None
