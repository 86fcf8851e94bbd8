"""Rich display of check results (:mod:`iree_lab.hal.check`).

A report is a pass/fail table (one row per test: checks run, failures, time) followed
by each failed check: the message, where it was called, and lhs (actual) beside rhs
(expected) as grids with the differing elements highlighted.
"""

from __future__ import annotations

import numpy as np

from iree_lab.hal.check import CheckFailure, CheckReport, Operand
from iree_lab.views.html import Raw, document, esc, pre, table

# Elements drawn per operand grid (larger tensors show their first rows/columns).
MAX_GRID_ROWS = 16
MAX_GRID_COLUMNS = 16

_STYLE = Raw("""<style>
.iree-lab .il-pass{color:#2e7d32;font-weight:600}
.iree-lab .il-fail{color:#c62828;font-weight:600}
.iree-lab table.il-grid{border-collapse:collapse;margin:2px 8px 2px 0}
.iree-lab table.il-grid td{padding:0 5px;text-align:right;border:1px solid rgba(127,127,127,.2);font-family:var(--jp-code-font-family,monospace);font-size:12px}
.iree-lab table.il-grid td.il-diff{background:rgba(229,57,53,.28);font-weight:600}
.iree-lab .il-side{display:flex;gap:16px;align-items:flex-start;flex-wrap:wrap}
</style>""")


def _value(value) -> str:
    if isinstance(value, bool | np.bool_):
        return str(int(value))  # i1 as IREE prints it
    if isinstance(value, float | np.floating):
        return f"{float(value):g}"
    return str(value)


def operand_grid(operand: Operand, differing: set[int]) -> Raw:
    """An operand's elements as a 2-D grid (leading dims flattened into rows)."""
    if operand.values is None:
        return pre([operand.text])
    values = np.asarray(operand.values)
    if values.ndim == 0:
        values = values.reshape(1, 1)
    elif values.ndim == 1:
        values = values.reshape(1, -1)
    else:
        values = values.reshape(-1, values.shape[-1])
    rows, cols = values.shape
    out = ['<table class="il-grid">']
    for r in range(min(rows, MAX_GRID_ROWS)):
        cells = []
        for c in range(min(cols, MAX_GRID_COLUMNS)):
            cls = ' class="il-diff"' if r * cols + c in differing else ""
            cells.append(f"<td{cls}>{esc(_value(values[r, c].item()))}</td>")
        if cols > MAX_GRID_COLUMNS:
            cells.append("<td>…</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    if rows > MAX_GRID_ROWS:
        out.append(f"<tr><td colspan=\"{min(cols, MAX_GRID_COLUMNS)}\">… "
                   f"{rows - MAX_GRID_ROWS} more rows</td></tr>")
    out.append("</table>")
    return Raw("".join(out))


def failure_html(failure: CheckFailure) -> Raw:
    differing = set(failure.differing)
    head = f"<div class=\"il-fail\">{esc(failure.check)} failed"
    if failure.site is not None:
        where = failure.call_site + (f" ({failure.location})" if failure.location else "")
        head += f" <span class=\"il-dim\">at {esc(where)}</span>"
    parts = [Raw(head + "</div>"), pre([failure.message.split("\n", 1)[0]])]
    sides = []
    for label, operand in (("lhs (actual)", failure.lhs), ("rhs (expected)", failure.rhs)):
        if operand is None:
            continue
        sides.append(f"<div><div>{esc(label)} <span class=\"il-mono\">{esc(operand.type_text)}"
                     f"</span></div>{operand_grid(operand, differing)}</div>")
    if sides:
        parts.append(Raw(f"<div class=\"il-side\">{''.join(sides)}</div>"))
    if failure.differing_count:
        listed = failure.differing_elements()
        has_rhs = failure.rhs is not None
        rows = [(", ".join(map(str, index)), _value(a), *((_value(b),) if has_rhs else ()))
                for index, a, b in listed]
        parts.append(Raw(f"<div>{failure.differing_count} differing element"
                         f"{'s' if failure.differing_count != 1 else ''}</div>"))
        header = ["index", "lhs", "rhs"] if has_rhs else ["index", "value"]
        parts.append(table(header, rows, mono_columns=(0, 1, 2)))
    return Raw("".join(parts))


def report_html(report: CheckReport) -> str:
    rows = []
    for test in report.tests:
        status = (Raw('<span class="il-pass">OK</span>') if test.passed
                  else Raw('<span class="il-fail">FAILED</span>'))
        note = test.error.splitlines()[0] if test.error else ""
        rows.append((test.function, status, test.checks, len(test.failures),
                     f"{test.seconds * 1000:.0f} ms", note))
    summary = (f"{report.module}: {len(report.passed)} passed, {len(report.failed)} failed "
               f"of {len(report.tests)} tests")
    parts = [_STYLE,
             table(["test", "result", "checks", "failures", "time", "error"], rows,
                   mono_columns=(0,))]
    for test in report.failed:
        parts.append(Raw(f"<h3>{esc(test.name)}</h3>"))
        for failure in test.failures:
            parts.append(failure_html(failure))
        if test.error:
            parts.append(pre(test.error.splitlines()))
    return document(*parts, title=summary)


def check_failure_html(failure: CheckFailure) -> str:
    return document(_STYLE, failure_html(failure), title=f"{failure.check} failed")
