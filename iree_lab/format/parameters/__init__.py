"""Parameter files: IREE parameter archives (.irpa), safetensors and GGUF.

Layer 1 (format). :func:`open_parameter_file` maps a file read-only and indexes
it with the parser its extension names, like ``iree_io_parse_file_index``;
malformed input raises :class:`ParameterFormatError` (a FormatError naming the
file, entry key and byte offset, with the IREE status code IREE reports)::

    from iree_lab.format.parameters import open_parameter_file

    params = open_parameter_file("model.irpa")
    for entry in params:
        print(entry.key, entry.length, entry.storage)
    weights = params["fc.weight"].read()   # a memoryview into the mapping

:class:`ScopeMap` builds one :class:`ParameterIndex` per scope from
``--parameters=[scope=]FILE`` flags, as IREE's tools do.
"""

from __future__ import annotations

from iree_lab.format.parameters.archive import (
    FORMATS,
    ParameterEntry,
    ParameterFile,
    ParameterFormatError,
    ParameterIndex,
    ScopeMap,
    format_of,
    open_parameter_file,
    parse_parameters_flag,
    splat_bytes,
)

__all__ = [
    "FORMATS",
    "ParameterEntry",
    "ParameterFile",
    "ParameterFormatError",
    "ParameterIndex",
    "ScopeMap",
    "format_of",
    "open_parameter_file",
    "parse_parameters_flag",
    "splat_bytes",
]
