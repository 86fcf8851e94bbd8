"""Front-end code for the widgets: ES modules in the top-level ``widgets/`` folder.

Where they are: a wheel carries ``widgets/`` as ``iree_lab/notebook/frontend/`` (setup.py
maps it at build time); a checkout (source tree on ``sys.path``, or an editable install)
reads the top-level ``widgets/`` next to the package.

Each widget's entry module (``cfg_view.js``, ...) imports helpers from sibling
modules (``import { h } from './common.js';``). anywidget loads one module per
widget from a string, where relative imports cannot resolve, so :func:`bundle`
inlines the imported modules first (dependencies before dependents, each once)
and drops the relative import lines. The sources stay plain ES modules that a
browser or node can also load directly (the layout tests do).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

_INSTALLED = Path(__file__).resolve().parent / "frontend"
_CHECKOUT = Path(__file__).resolve().parents[2] / "widgets"

_IMPORT = re.compile(r"""^import\s+\{[^}]*\}\s+from\s+['"]\./([\w.-]+\.js)['"];?\s*$""", re.M)


@functools.cache
def widgets_dir() -> Path:
    for path in (_INSTALLED, _CHECKOUT):
        if (path / "common.js").is_file():
            return path
    raise FileNotFoundError(
        f"iree_lab's widget front end is missing (neither {_INSTALLED} nor {_CHECKOUT}): "
        "reinstall iree_lab from a wheel or a checkout")


def _read(name: str) -> str:
    return (widgets_dir() / name).read_text(encoding="utf-8")


def dependencies(name: str) -> list[str]:
    """``name`` and every module it imports, dependencies first (each once)."""
    order: list[str] = []
    active: set[str] = set()

    def visit(n: str) -> None:
        if n in order:
            return
        if n in active:
            raise ValueError(f"widgets/{n}: import cycle")
        active.add(n)
        for dep in _IMPORT.findall(_read(n)):
            visit(dep)
        active.discard(n)
        order.append(n)

    visit(name)
    return order


@functools.cache
def bundle(name: str) -> str:
    """One self-contained ES module: ``name`` with its relative imports inlined."""
    parts = []
    for n in dependencies(name):
        parts.append(f"// ---- widgets/{n}\n" + _IMPORT.sub("", _read(n)))
    return "\n".join(parts)


@functools.cache
def stylesheet() -> str:
    return _read("iree_lab.css")
