"""What the CompareView widget shows, as plain data: the dispatches of two runs
side by side (:class:`iree_lab.debug.compare.Comparison`) and, for a selected
dispatch, both sides' bindings with the elements that differ beyond tolerance.

* :func:`compare_view_data` — one row per paired dispatch (errors for the
  log-scale bars, counts, whether its inputs agree), the verdict lines.
* :func:`compare_selection` — one dispatch: each binding of A and B as typed
  values (:func:`iree_lab.views.hal_data.format_values`, as HALView shows
  them), the differing element indices, and the comparison numbers.

Values are read back from the comparison's spilled captures on demand, at most
``max_elements`` per binding.
"""

from __future__ import annotations

import math

import numpy as np

from iree_lab.debug import compare as cmp
from iree_lab.hal.recorder import changed_mask
from iree_lab.views.hal_data import MAX_ELEMENTS, format_values


def _finite(x: float) -> float | None:
    """JSON has no inf: None stands for it (a NaN/Inf difference)."""
    return None if math.isinf(x) or math.isnan(x) else float(x)


def compare_view_data(comparison: cmp.Comparison) -> dict:
    first = comparison.first_divergence
    rows = []
    for d in comparison.dispatches:
        outs = d.outputs
        rows.append({
            "ordinal": d.ordinal, "export_a": d.export_a, "export_b": d.export_b,
            "workgroups": ["x".join(map(str, d.workgroups_a)),
                           "x".join(map(str, d.workgroups_b))],
            "max_abs": _finite(d.max_abs), "max_rel": _finite(d.max_rel),
            "differing": sum(b.differing for b in outs),
            "compared": sum(b.compared for b in outs),
            "nan_inf": sum(b.nan_differences + b.inf_differences for b in outs),
            "outputs_agree": d.outputs_agree, "inputs_agree": d.inputs_agree,
            "first_divergence": first is not None and d.ordinal == first.ordinal,
            "notes": list(d.notes),
        })
    return {
        "a": comparison.a.modules[-1], "b": comparison.b.modules[-1],
        "function": comparison.a.function,
        "counts": [len(comparison.a.dispatches), len(comparison.b.dispatches)],
        "dispatches": rows,
        "verdict": cmp.verdict(comparison),
        "first_divergence": None if first is None else first.ordinal,
    }


def compare_selection(comparison: cmp.Comparison, ordinal: int, *,
                      max_elements: int = MAX_ELEMENTS) -> dict:
    """Both sides of dispatch ``ordinal``: bindings with values and differing indices."""
    match = [d for d in comparison.dispatches if d.ordinal == ordinal]
    if not match:
        return {}
    d = match[0]
    ra, rb = comparison.a.recorder, comparison.b.recorder
    bindings = []
    for bc in d.bindings:
        k = bc.binding
        role = "alias" if bc.alias_of is not None else ("output" if bc.written else "input")
        entry = {"binding": k, "role": role, "element": bc.element, "alias_of": bc.alias_of,
                 "length": bc.length, "differing": bc.differing, "compared": bc.compared,
                 "max_abs": _finite(bc.max_abs), "max_rel": _finite(bc.max_rel),
                 "first_index": bc.first_index, "nan": bc.nan_differences,
                 "inf": bc.inf_differences, "a": [], "b": [], "differ": [], "note": ""}
        if bc.alias_of is None:
            read_a = ra.after if bc.written else ra.before
            read_b = rb.after if bc.written else rb.before
            data_a, data_b = read_a(ordinal, k), read_b(ordinal, k)
            va, dtype = cmp.typed_array(data_a, bc.element)
            vb, _ = cmp.typed_array(data_b, bc.element)
            size = 1 if dtype is None else dtype.itemsize
            mask = None
            if bc.written:
                mask = changed_mask(ra.before(ordinal, k), data_a, size) | \
                    changed_mask(rb.before(ordinal, k), data_b, size)
            atol, rtol = comparison.tolerances.get(bc.element,
                                                   cmp.default_tolerance(bc.element))
            n = min(va.size, max_elements)
            differ = _differing(va[:n], vb[:n], dtype, atol, rtol,
                                None if mask is None else mask[:n])
            element = bc.element if dtype is not None else "hex"
            entry["a"] = format_values(data_a[: n * size], element)
            entry["b"] = format_values(data_b[: n * size], element)
            entry["differ"] = differ
            if n < va.size:
                entry["note"] = f"first {n} of {va.size} elements"
        bindings.append(entry)
    return {"ordinal": ordinal, "export_a": d.export_a, "export_b": d.export_b,
            "inputs_agree": d.inputs_agree, "outputs_agree": d.outputs_agree,
            "bindings": bindings}


def _differing(a, b, dtype, atol, rtol, mask) -> list[int]:
    """Indices (ascending) of elements that differ beyond tolerance (within ``mask``)."""
    bad = cmp.differing_mask(a, b, dtype, atol, rtol)
    if mask is not None:
        bad &= mask
    return [int(i) for i in np.flatnonzero(bad)]
