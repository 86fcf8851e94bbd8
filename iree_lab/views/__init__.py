"""Layer 6: pure renderers. Data in, text/HTML/JSON out; no widget state.

* :mod:`~iree_lab.views.html` — HTML building blocks (escaping, tables, the shared style).
* :mod:`~iree_lab.views.hexdump` — hex dumps and printable strings of byte data.
* :mod:`~iree_lab.views.disassembly` — per-instruction disassembly lines with offsets,
  the same text as ``iree-dump-module --output=disassembly --bytecode_offsets``.
* :mod:`~iree_lab.views.cfg` — a function's CFG as JSON (what the CFG widget lays out).
* :mod:`~iree_lab.views.module` — the module tree (JSON) and HTML for each of its nodes.
* :mod:`~iree_lab.views.executables` — HTML for embedded executables.
* :mod:`~iree_lab.views.rich` — ``_repr_html_``-style renderers for module objects
  (what a notebook shows when one is the last expression of a cell).
* :mod:`~iree_lab.views.timeline_data` — fibers and HAL queue operations on one time axis
  (what the TimelineView draws); :mod:`~iree_lab.views.hal_data` — submissions, dispatches
  and captured buffer contents (what the HALView shows).

Everything here is deterministic and side-effect free so that it can be tested
without a browser; the notebook layer turns it into widgets.
"""

from __future__ import annotations

from iree_lab.views.cfg import cfg_data
from iree_lab.views.disassembly import DisassemblyLine, function_lines
from iree_lab.views.hexdump import hexdump, printable_strings
from iree_lab.views.rich import render_html

__all__ = [
    "DisassemblyLine",
    "cfg_data",
    "function_lines",
    "hexdump",
    "printable_strings",
    "render_html",
]
