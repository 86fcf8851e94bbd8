"""The fast tier (placeholder while the stepping tier is brought up)."""

from __future__ import annotations


def eligible(state, ordinal: int) -> bool:
    return False


def call(context, fn, values):  # pragma: no cover
    raise NotImplementedError
