"""HALView: submissions, command buffers, dispatches and buffer contents (anywidget).

The lists and every detail come from :mod:`iree_lab.views.hal_data` (pure,
tested without a browser); ``widgets/hal_view.js`` lays them out. Synced
state: ``selected`` (``op:D:ID``, ``dispatch:N`` or ``cb:D:ID``; a click sets
it) and ``element_types`` (binding index -> element type chosen in the
browser for the selected dispatch); ``detail`` follows both.
"""

from __future__ import annotations

import traitlets as t

from iree_lab.hal.recorder import Recorder
from iree_lab.notebook.widgets import LabWidget
from iree_lab.views.hal_data import ELEMENT_CHOICES, hal_selection, hal_view_data

__all__ = ["HALView"]


class HALView(LabWidget):
    """What a :class:`~iree_lab.hal.Recorder` saw: queue operations with their
    wait/signal fences and values, command buffers and their commands, each
    dispatch (executable, export, workgroups, constants, bindings) and, when
    recorded with ``Recorder(capture_buffers=True)``, each binding's contents
    before and after the dispatch, changed elements highlighted.

    ``HALView(recorder, selected="dispatch:0")``; :meth:`select` is the same
    as clicking; :meth:`refresh` re-reads the recorder after more work.
    """

    _entry = "hal_view.js"
    data = t.Dict().tag(sync=True)
    selected = t.Unicode("").tag(sync=True)
    element_types = t.Dict().tag(sync=True)
    element_choices = t.List(t.Unicode(), list(ELEMENT_CHOICES)).tag(sync=True)
    detail = t.Dict().tag(sync=True)

    def __init__(self, recorder: Recorder, **kwargs):
        if not isinstance(recorder, Recorder):
            raise TypeError(f"HALView needs a Recorder, not {type(recorder).__name__}")
        self.recorder = recorder
        super().__init__(data=hal_view_data(recorder), **kwargs)
        self._show()

    @t.observe("selected")
    def _on_selected(self, change):
        # Element types chosen for one dispatch do not carry over to the next.
        if self.element_types:
            self.element_types = {}  # its observer shows the new selection
        else:
            self._show()

    @t.observe("element_types")
    def _on_element_types(self, change):
        self._show()

    def _show(self) -> None:
        self.detail = hal_selection(self.recorder, self.selected, self.element_types)

    def select(self, item: str) -> dict:
        """Shows ``item`` (``dispatch:0``, ``op:0:1``, ``cb:0:0``) and returns its detail."""
        self.selected = item
        return self.detail

    def refresh(self) -> None:
        """Re-reads the recorder (after running more)."""
        self.data = hal_view_data(self.recorder)
        self._show()
