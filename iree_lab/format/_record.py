"""A minimal immutable record base class.

Used instead of dataclasses for the format layer's value types: importing
dataclasses (and the inspect module it pulls in) and building a dozen
dataclasses costs ~20 ms, a tenth of ``iree-lab dump``'s whole run.
"""

from __future__ import annotations


class Record:
    """Fields are the subclass's ``__slots__``; equality and repr go by them."""

    __slots__ = ()
    # Fields left out of repr and equality (e.g. back references).
    _hidden: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs):
        names = self.__slots__
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__} takes {len(names)} fields")
        setter = object.__setattr__
        for name, value in zip(names, args, strict=False):
            setter(self, name, value)
        for name, value in kwargs.items():
            if name not in names:
                raise TypeError(f"{type(self).__name__} has no field {name!r}")
            setter(self, name, value)
        for name in names:
            if not hasattr(self, name):
                raise TypeError(f"{type(self).__name__} is missing field {name!r}")

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is read-only")

    def _fields(self) -> tuple:
        return tuple(getattr(self, n) for n in self.__slots__ if n not in self._hidden)

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self):
        return hash((type(self), self._fields()))

    def __repr__(self):
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__
                           if n not in self._hidden)
        return f"{type(self).__name__}({fields})"
