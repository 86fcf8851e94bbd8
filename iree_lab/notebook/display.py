"""Rich display of iree_lab objects in IPython/Jupyter.

The format, ISA and HAL layers know nothing about HTML. Instead, this module
registers :func:`iree_lab.views.rich.render_html` with IPython's HTML
formatter *by type name* (``for_type_by_name``), so nothing is imported to
register and no layer below the views imports them. It runs when
``iree_lab.notebook`` is imported (or ``%load_ext iree_lab.notebook``).
"""

from __future__ import annotations

# (module, class) of every type with a rich view; lists/tuples of instructions too.
RICH_TYPES = [
    ("iree_lab.format.module", "Module"),
    ("iree_lab.format.module", "Function"),
    ("iree_lab.isa.decoder", "DecodedFunction"),
    ("iree_lab.isa.decoder", "Instruction"),
    ("iree_lab.isa.cfg", "ControlFlowGraph"),
    ("iree_lab.isa.cfg", "Block"),
    ("iree_lab.hal.executables", "ModuleExecutable"),
    ("iree_lab.hal.executables", "ExecutableDiscovery"),
    ("iree_lab.format.executables.model", "Executable"),
    ("iree_lab.hal.recorder", "Recorder"),
    ("iree_lab.vm.scheduler", "Timeline"),
    ("iree_lab.format.parameters.archive", "ParameterFile"),
    ("iree_lab.hal.parameters", "ModuleParameters"),
    ("iree_lab.hal.check", "CheckReport"),
    ("iree_lab.hal.check", "CheckFailure"),
]
# Types shown as a widget where widgets render (the HTML above stays as the fallback).
WIDGET_TYPES = [
    ("iree_lab.hal.recorder", "Recorder"),
    ("iree_lab.vm.scheduler", "Timeline"),
]


def render(obj):
    """The HTML formatter callback (None: no rich view, IPython shows the repr)."""
    from iree_lab.views.rich import render_html

    return render_html(obj)


def widget_bundle(obj):
    """The mimebundle formatter callback: the object's widget (HALView for a
    recorder, TimelineView for a timeline), None without anywidget."""
    try:
        from iree_lab.notebook import show

        widget = show(obj)
    except ImportError:
        return None
    return widget._repr_mimebundle_()


def _render_sequence(obj):
    # Only sequences made entirely of instructions get a view; others keep the default.
    from iree_lab.isa import Instruction

    if obj and all(isinstance(i, Instruction) for i in obj):
        return render(obj)
    return None


def register(shell=None) -> bool:
    """Registers the rich views with ``shell`` (default: the running IPython).

    Returns False outside IPython. Safe to call more than once.
    """
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return False
        shell = get_ipython()
    if shell is None:
        return False
    formatter = shell.display_formatter.formatters["text/html"]
    for module_name, class_name in RICH_TYPES:
        formatter.for_type_by_name(module_name, class_name, render)
    bundles = shell.display_formatter.mimebundle_formatter
    for module_name, class_name in WIDGET_TYPES:
        bundles.for_type_by_name(module_name, class_name, widget_bundle)
    for seq in (list, tuple):
        existing = formatter.lookup_by_type(seq) if _has_type(formatter, seq) else None
        if existing is None or existing is _render_sequence:
            formatter.for_type(seq, _render_sequence)
    return True


def _has_type(formatter, typ) -> bool:
    try:
        formatter.lookup_by_type(typ)
        return True
    except KeyError:
        return False
