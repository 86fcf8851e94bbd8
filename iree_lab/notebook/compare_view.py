"""CompareView: where two builds diverge, dispatch by dispatch (anywidget).

The rows and the detail come from :mod:`iree_lab.views.compare_data` (pure,
tested without a browser); ``widgets/compare_view.js`` draws each dispatch's
largest relative error of its written bindings as a bar on a log scale (red
beyond tolerance, the first divergence marked) and, for the clicked dispatch,
both sides' bindings with the differing elements highlighted, laid out like
HALView's binding contents. Synced state: ``selected`` (dispatch ordinal, -1
for none; a click sets it); ``detail`` follows it.
"""

from __future__ import annotations

import traitlets as t

from iree_lab.debug.compare import Comparison
from iree_lab.notebook.widgets import LabWidget
from iree_lab.views.compare_data import compare_selection, compare_view_data

__all__ = ["CompareView"]


class CompareView(LabWidget):
    """A :class:`~iree_lab.debug.compare.Comparison` (``compare_modules(...)``).

    ``CompareView(comparison)`` selects the first divergence when there is
    one; :meth:`select` is the same as clicking a bar. The comparison's
    spilled captures must still exist (do not ``cleanup()`` it before).
    """

    _entry = "compare_view.js"
    data = t.Dict().tag(sync=True)
    selected = t.Int(-1).tag(sync=True)
    detail = t.Dict().tag(sync=True)

    def __init__(self, comparison: Comparison, **kwargs):
        if not isinstance(comparison, Comparison):
            raise TypeError(f"CompareView needs a Comparison, not {type(comparison).__name__}")
        self.comparison = comparison
        data = compare_view_data(comparison)
        if "selected" not in kwargs and data["first_divergence"] is not None:
            kwargs["selected"] = data["first_divergence"]
        super().__init__(data=data, **kwargs)
        self._show()

    @t.observe("selected")
    def _on_selected(self, change):
        self._show()

    def _show(self) -> None:
        self.detail = compare_selection(self.comparison, self.selected) \
            if self.selected >= 0 else {}

    def select(self, ordinal: int) -> dict:
        """Shows dispatch ``ordinal`` and returns its detail."""
        self.selected = ordinal
        return self.detail
