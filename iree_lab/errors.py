"""Error types shared by every layer of iree_lab.

Kept at the bottom of the layering so that every layer can raise them; each
layer documents which of them it raises.
"""

from __future__ import annotations


class IreeLabError(Exception):
    """Base class of every error iree_lab raises on purpose."""


class FormatError(IreeLabError):
    """A module or container is malformed, truncated or not what it claims to be.

    ``what`` says what was wrong, ``offset`` is the byte offset in the file (or
    in the buffer given to :func:`iree_lab.open`) where it was found, when
    known, and ``where`` names the structure being read (for example
    ``"module.fb/function_descriptors[3]"``).
    """

    def __init__(self, what: str, *, offset: int | None = None, where: str | None = None):
        self.what = what
        self.offset = offset
        self.where = where
        parts = [what]
        if where:
            parts.append(f"in {where}")
        if offset is not None:
            parts.append(f"at byte offset {offset} (0x{offset:X})")
        super().__init__(" ".join(parts))
