"""Reference types and ref-counted objects held in ref registers.

IREE's ``iree_vm_ref_t`` is a (pointer, type) pair with an intrusive reference
count. Here a ref register holds ``None`` (null) or a :class:`RefObject`;
Python's own reference counting keeps objects alive, and the VM's ownership
rules (retain vs. move) are modelled on the registers themselves: a *move*
clears the source register, a *retain* leaves it in place, so the set of
registers, list slots and globals referencing an object is exactly IREE's.
"""

from __future__ import annotations

import threading

from iree_lab.vm.status import StatusCode, VMStatus


class RefType:
    """A registered ref type (``iree_vm_ref_type_t``), e.g. ``vm.buffer``.

    Types are interned by name, so identity comparison is type equality.
    ``placeholder`` marks a type a module named that nothing in this process
    implements yet (IREE's tooling placeholder types): values of it can never
    be created, only passed around as null.
    """

    __slots__ = ("name", "placeholder")

    _registry: dict[str, RefType] = {}
    _lock = threading.Lock()

    def __init__(self, name: str, placeholder: bool):
        self.name = name
        self.placeholder = placeholder

    @classmethod
    def get(cls, name: str, *, placeholder: bool = False) -> RefType:
        """Returns the interned type ``name`` (without the leading ``!``)."""
        with cls._lock:
            existing = cls._registry.get(name)
            if existing is None:
                existing = cls._registry[name] = RefType(name, placeholder)
            elif not placeholder and existing.placeholder:
                existing.placeholder = False
            return existing

    @classmethod
    def lookup(cls, name: str) -> RefType | None:
        return cls._registry.get(name)

    def __repr__(self) -> str:
        return f"RefType({self.name!r})"


class RefObject:
    """Base of every object a ref register can hold.

    Subclasses set the class attribute ``ref_type``.
    """

    __slots__ = ("__weakref__",)
    ref_type: RefType

    @property
    def type_name(self) -> str:
        return self.ref_type.name


def check_ref_type(value, expected: RefType | None, *, allow_any: bool = False) -> None:
    """``iree_vm_ref_retain_or_move_checked``'s type test.

    ``expected`` is the ref type of the op's type operand; ``None`` is IREE's
    NULL ref type (what an opaque/variant type maps to), which only null refs
    satisfy. ``allow_any`` models ``IREE_VM_REF_TYPE_ANY``.
    """
    if value is not None and not allow_any and value.ref_type is not expected:
        raise VMStatus(StatusCode.INVALID_ARGUMENT, "source ref type mismatch")
