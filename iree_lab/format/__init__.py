"""Layer 1: module containers and lazy, checked readers over the VM bytecode FlatBuffer.

Entry point: :func:`open_module` (also ``iree_lab.open``). Raises
:class:`~iree_lab.errors.FormatError` for malformed input, never a raw
IndexError/struct.error. See module.py for the object model.
"""

from __future__ import annotations

from iree_lab.format.debug_database import (
    CallSiteLoc,
    DebugDatabase,
    FileLineColLoc,
    FunctionSourceMap,
    FusedLoc,
    Location,
    NameLoc,
    UnknownLoc,
)
from iree_lab.format.module import (
    Dependency,
    Export,
    FeatureBits,
    Function,
    Import,
    Module,
    RodataSegment,
    RwdataSegment,
    TypeDef,
    cconv_fragments,
    open_module,
)

__all__ = [
    "CallSiteLoc",
    "DebugDatabase",
    "Dependency",
    "Export",
    "FeatureBits",
    "FileLineColLoc",
    "Function",
    "FunctionSourceMap",
    "FusedLoc",
    "Import",
    "Location",
    "Module",
    "NameLoc",
    "RodataSegment",
    "RwdataSegment",
    "TypeDef",
    "UnknownLoc",
    "cconv_fragments",
    "open_module",
]
