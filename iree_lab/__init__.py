"""iree_lab: explore, run and single-step IREE VM modules (.vmfb)."""

from __future__ import annotations

import sys

from iree_lab.errors import FormatError, IreeLabError

__all__ = ["FormatError", "IreeLabError", "open", "open_parameters"]
__version__ = "0.1.0"


def open(source, /):  # noqa: A001 - mirrors builtins.open on purpose: iree_lab.open(path)
    """Opens a VM module from a path, bytes-like object or open binary file.

    Returns a lazy :class:`iree_lab.format.Module`; see that class for what it
    exposes. Raises :class:`FormatError` when the input is not a valid module.
    """
    from iree_lab.format import open_module

    return open_module(source)


def open_parameters(source, /, *, format=None):  # noqa: A002 - IREE's word
    """Opens a parameter file (.irpa, .safetensors, .gguf; path or bytes with ``format``).

    Returns an indexed, memory-mapped :class:`iree_lab.format.parameters.ParameterFile`
    (iterate its entries, ``params["key"].read()``); raises
    :class:`~iree_lab.format.parameters.ParameterFormatError` (a FormatError) for a
    malformed file. Pass ``parameters=["scope=file.irpa"]`` to
    :class:`iree_lab.debug.Program` or :meth:`iree_lab.hal.Session.for_modules` to run
    a module with it.
    """
    from iree_lab.format.parameters import open_parameter_file

    return open_parameter_file(source, format=format)


def _register_rich_display() -> None:
    # In IPython/Jupyter, `import iree_lab` is enough for modules, functions and
    # executables to show rich views. Registration is by type name and imports no
    # view code, so plain Python pays nothing.
    if "IPython" in sys.modules:
        from iree_lab.notebook import display

        display.register()


_register_rich_display()
