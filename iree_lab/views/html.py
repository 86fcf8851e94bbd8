"""HTML building blocks shared by the renderers.

Everything that comes from a module (names, strings, attributes) is untrusted
and goes through :func:`esc`; the helpers below escape their cell text unless
a cell is wrapped in :class:`Raw` (already-built HTML).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

# Scoped to .iree-lab so a notebook's own styles are untouched. The widgets load
# widgets/iree_lab.css instead; these rules cover the static (rich display) HTML.
STYLE = """<style>
.iree-lab{font-family:var(--jp-ui-font-family,system-ui,sans-serif);font-size:13px;line-height:1.35}
.iree-lab h3{font-size:14px;margin:4px 0}
.iree-lab .il-mono,.iree-lab pre,.iree-lab code{font-family:var(--jp-code-font-family,monospace);font-size:12px}
.iree-lab pre{margin:2px 0;white-space:pre;overflow-x:auto}
.iree-lab table.il-table{border-collapse:collapse;margin:2px 0}
.iree-lab table.il-table td,.iree-lab table.il-table th{padding:1px 8px;text-align:left;vertical-align:top;border-bottom:1px solid rgba(127,127,127,.2)}
.iree-lab table.il-table th{font-weight:600}
.iree-lab details>summary{cursor:pointer;font-weight:600;margin:3px 0}
.iree-lab .il-dim{opacity:.65}
.iree-lab .il-pc{opacity:.6}
.iree-lab .il-block{font-weight:600}
.iree-lab .il-note{color:#b35900}
.iree-lab .il-kv td:first-child{opacity:.7}
.iree-lab .il-line{white-space:pre;font-family:var(--jp-code-font-family,monospace);font-size:12px}
.iree-lab .il-blockline{font-weight:600}
.iree-lab .il-loc{margin-left:24px;opacity:.5}
</style>"""


class Raw(str):
    """A string of HTML that must not be escaped again (Raw + Raw stays Raw)."""

    __slots__ = ()

    def __add__(self, other):
        joined = str.__add__(self, other)
        return Raw(joined) if isinstance(other, Raw) else joined


def esc(value) -> str:
    """Escapes any value for HTML text or attribute context."""
    if isinstance(value, Raw):
        return value
    return html.escape("" if value is None else str(value), quote=True)


def tag(name: str, content="", **attrs) -> Raw:
    """``<name attrs>content</name>``; ``class_`` becomes ``class``."""
    parts = [name]
    for key, value in attrs.items():
        if value is None:
            continue
        parts.append(f'{key.rstrip("_").replace("_", "-")}="{esc(value)}"')
    return Raw(f"<{' '.join(parts)}>{esc(content)}</{name}>")


def join(items: Iterable) -> Raw:
    return Raw("".join(esc(i) for i in items))


def table(header: Sequence[str] | None, rows: Iterable[Sequence], *, class_: str = "il-table",
          mono_columns: Sequence[int] = ()) -> Raw:
    """A table; cells are escaped unless Raw. ``mono_columns`` get a monospace font."""
    out = [f'<table class="{esc(class_)}">']
    if header:
        out.append("<tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>")
    mono = set(mono_columns)
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            cls = ' class="il-mono"' if i in mono else ""
            cells.append(f"<td{cls}>{esc(cell)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return Raw("".join(out))


def key_values(pairs: Iterable[tuple[str, object]]) -> Raw:
    """A two-column table of facts (None values are left out)."""
    return table(None, [(k, v) for k, v in pairs if v is not None], class_="il-table il-kv")


def section(title: str, body, *, open_: bool = False, count: int | None = None) -> Raw:
    """A collapsible section (``<details>``) titled ``title (count)``."""
    label = f"{title} ({count})" if count is not None else title
    return Raw(f"<details{' open' if open_ else ''}><summary>{esc(label)}</summary>"
               f"{esc(body)}</details>")


def pre(lines: Iterable[str], *, class_: str | None = None) -> Raw:
    cls = f' class="{esc(class_)}"' if class_ else ""
    return Raw(f"<pre{cls}>{esc(chr(10).join(lines))}</pre>")


def document(*parts, title: str | None = None) -> str:
    """A complete rich-display fragment: the shared style plus a scoped root element."""
    head = f"<h3>{esc(title)}</h3>" if title else ""
    return STYLE + '<div class="iree-lab tex2jax_ignore mathjax_ignore">' + head + "".join(esc(p) for p in parts) + "</div>"


def human_size(n: int) -> str:
    """``1234`` -> ``1.2 KiB`` (bytes below 1 KiB stay exact)."""
    if n < 1024:
        return f"{n} B"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        n /= 1024.0
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}"
    return f"{n} B"  # unreachable
