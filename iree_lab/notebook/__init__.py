"""Layer 7: the notebook UI — widgets and rich display.

``import iree_lab.notebook`` registers rich HTML views for modules, functions,
instructions, CFGs and executables with IPython (see :mod:`.display`), so
such an object shows a useful view when it is the last expression of a cell.

Widgets (anywidget; the front-end is ``widgets/*.js``, bundled per widget):

* :class:`ModuleExplorer` — tree, search, details and disassembly of a module.
* :class:`CFGView` — a function's CFG; ``current_pc`` and ``breakpoints`` are
  model state a debugger can drive, and clicks toggle breakpoints.
* :class:`BlobView` — an embedded executable, with the nested module for VMVX.
* :class:`TimelineView` — fiber lanes and HAL queue operations on one time axis.
* :class:`HALView` — submissions, command buffers, dispatches and buffer contents.
* :class:`ProgressBar` — ``(done, total)`` progress of a run or recording, shown after a
  second; a plain callable, so a progress callback takes it directly.
* :class:`CompareView` — two runs dispatch by dispatch: error bars, both sides' bindings.
* :class:`DebuggerPanel` — step/over/out/continue/back/reverse over
  :mod:`iree_lab.debug`, with an embedded :class:`CFGView` (it drives
  ``current_pc`` and turns clicked ``breakpoints`` into debugger breakpoints),
  the call stack, typed registers with changes, and the source location.

:func:`show` picks the widget for an object.

Adding a widget: subclass :class:`LabWidget`, set ``_entry = "my_widget.js"``,
keep derived HTML/data in ``iree_lab/views`` (pure, tested without a browser)
and only interaction state in traitlets; compose existing widgets (as
DebuggerPanel embeds CFGView) rather than re-implementing them.
"""

from __future__ import annotations

from iree_lab.notebook import display

__all__ = ["BlobView", "CFGView", "CompareView", "DebuggerPanel", "HALView", "LabWidget",
           "ModuleExplorer", "ProgressBar", "TimelineView", "load_ipython_extension", "show"]


_WIDGETS = {"BlobView": "widgets", "CFGView": "widgets", "LabWidget": "widgets",
            "ModuleExplorer": "widgets", "TimelineView": "timeline", "HALView": "hal_view",
            "DebuggerPanel": "debugger_panel", "ProgressBar": "progress",
            "CompareView": "compare_view"}


def __getattr__(name):
    # Widgets load anywidget/ipywidgets on first use, so rich display works without them.
    if name in _WIDGETS:
        import importlib

        try:
            widgets = importlib.import_module(f"iree_lab.notebook.{_WIDGETS[name]}")
        except ImportError as e:
            raise ImportError(f"iree_lab.notebook.{name} needs anywidget and ipywidgets "
                              f"(pip install 'iree_lab[lab]'): {e}") from e
        return getattr(widgets, name)
    raise AttributeError(f"module 'iree_lab.notebook' has no attribute {name!r}")


def show(obj, *args, **kwargs):
    """The widget for ``obj``: ModuleExplorer for a module, CFGView for a decoded
    function, BlobView for an executable, HALView for a HAL recorder,
    TimelineView for a scheduler or its timeline (``show(scheduler, recorder)``)."""
    from iree_lab.format import Module
    from iree_lab.format.executables import Executable
    from iree_lab.hal.executables import ModuleExecutable
    from iree_lab.isa import DecodedFunction
    from iree_lab.notebook.widgets import BlobView, CFGView, ModuleExplorer

    if isinstance(obj, Module):
        return ModuleExplorer(obj, *args, **kwargs)
    if isinstance(obj, DecodedFunction):
        return CFGView(obj, *args, **kwargs)
    if isinstance(obj, (ModuleExecutable, Executable)):
        return BlobView(obj, *args, **kwargs)
    from iree_lab.hal.recorder import Recorder
    from iree_lab.vm.scheduler import Scheduler, Timeline

    if isinstance(obj, Recorder):
        from iree_lab.notebook.hal_view import HALView

        return HALView(obj, *args, **kwargs)
    if isinstance(obj, (Scheduler, Timeline)):
        from iree_lab.notebook.timeline import TimelineView

        return TimelineView(obj, *args, **kwargs)
    raise TypeError(f"no widget for {type(obj).__name__}")


def load_ipython_extension(ipython) -> None:
    """``%load_ext iree_lab.notebook``: registers the rich views."""
    display.register(ipython)


display.register()
