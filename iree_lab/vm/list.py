"""``vm.list``: typed (value or ref) and variant lists with IREE's conversion rules.

Storage modes follow ``iree_vm_list_t``: a list of a value type stores converted
values, a list of a ref type stores refs of exactly that type, and a list of
``?`` (variant) stores each element with its own type. Reading a value as
another type converts like ``iree_vm_list_convert_value_type``: integers
sign-extend or truncate, f32 <-> f64 convert, and every other pair reads as zero.
"""

from __future__ import annotations

import enum

import numpy as np

from iree_lab.vm.ref import RefObject, RefType, check_ref_type
from iree_lab.vm.status import StatusCode, VMStatus
from iree_lab.vm.value import (
    MASK32,
    MASK64,
    VALUE_TYPE_SIZES,
    VARIANT_TYPE,
    TypeDef,
    ValueType,
    i32,
    i64,
)

# Largest list capacity (in elements) the VM will reserve; beyond it reserve
# fails with RESOURCE_EXHAUSTED instead of exhausting the host.
MAX_LIST_CAPACITY = 1 << 26


class StorageMode(enum.IntEnum):
    VALUE = 0
    REF = 1
    VARIANT = 2


def _zero(value_type: ValueType):
    if value_type == ValueType.F32:
        return np.float32(0.0)
    if value_type == ValueType.F64:
        return 0.0
    return 0


def convert_value(source_type: ValueType, value, target_type: ValueType):
    """``iree_vm_list_convert_value_type``."""
    if source_type == target_type:
        return value
    if source_type in _INT_TYPES and target_type in _INT_TYPES:
        return _INT_WRAP[target_type](int(value))
    if source_type == ValueType.F32 and target_type == ValueType.F64:
        return float(value)
    if source_type == ValueType.F64 and target_type == ValueType.F32:
        return np.float32(value)
    return _zero(target_type)


def _i8(v: int) -> int:
    return ((v + 0x80) & 0xFF) - 0x80


def _i16(v: int) -> int:
    return ((v + 0x8000) & 0xFFFF) - 0x8000


_INT_TYPES = (ValueType.I8, ValueType.I16, ValueType.I32, ValueType.I64)
_INT_WRAP = {ValueType.I8: _i8, ValueType.I16: _i16, ValueType.I32: i32, ValueType.I64: i64}


class Variant:
    """A value element of a variant list: (value type, value)."""

    __slots__ = ("value_type", "value")

    def __init__(self, value_type: ValueType, value):
        self.value_type = ValueType(value_type)
        self.value = value

    def __repr__(self) -> str:
        return f"{self.value_type.name.lower()}={self.value}"


def _index_error(index: int, count: int) -> VMStatus:
    return VMStatus(StatusCode.OUT_OF_RANGE, f"index {index & MASK64} out of bounds ({count})")


class List(RefObject):
    """An ``iree_vm_list_t`` of ``element_type`` (a :class:`TypeDef`)."""

    __slots__ = ("element_type", "storage_mode", "capacity", "items", "element_size")
    ref_type = RefType.get("vm.list")

    def __init__(self, element_type: TypeDef = VARIANT_TYPE, initial_capacity: int = 0):
        self.element_type = element_type
        if element_type.is_value:
            self.storage_mode = StorageMode.VALUE
            self.element_size = VALUE_TYPE_SIZES[element_type.value_type]
        elif element_type.is_ref:
            self.storage_mode = StorageMode.REF
            self.element_size = 16
        else:
            self.storage_mode = StorageMode.VARIANT
            self.element_size = 24
        self.capacity = 0
        self.items: list = []
        self.reserve(initial_capacity)

    # -- Size and capacity ----------------------------------------------------------------

    @property
    def size(self) -> int:
        return len(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def reserve(self, minimum_capacity: int) -> None:
        minimum_capacity &= MASK64
        if self.capacity >= minimum_capacity:
            return
        # iree_vm_list_reserve: align to 64 elements, then grow at least 2x.
        aligned = (minimum_capacity + 63) & ~63
        new_capacity = max(aligned, self.capacity * 2)
        if new_capacity > MAX_LIST_CAPACITY:
            raise VMStatus(
                StatusCode.RESOURCE_EXHAUSTED,
                f"list capacity of {new_capacity} elements exceeds the iree_lab limit "
                f"({MAX_LIST_CAPACITY})",
            )
        self.capacity = new_capacity

    def resize(self, new_size: int) -> None:
        new_size &= MASK64
        count = len(self.items)
        if new_size == count:
            return
        if new_size < count:
            del self.items[new_size:]
            return
        if new_size > self.capacity:
            self.reserve(new_size)
        zero = (
            _zero(self.element_type.value_type)
            if self.storage_mode == StorageMode.VALUE
            else None
        )
        self.items.extend([zero] * (new_size - count))

    def clear(self) -> None:
        self.items.clear()

    # -- Values -------------------------------------------------------------------------

    def get_value(self, index: int, value_type: ValueType):
        """``iree_vm_list_get_value_as``: the element converted to ``value_type``."""
        items = self.items
        if not 0 <= index < len(items):
            raise _index_error(index, len(items))
        mode = self.storage_mode
        if mode == StorageMode.VALUE:
            return convert_value(self.element_type.value_type, items[index], value_type)
        if mode == StorageMode.VARIANT:
            element = items[index]
            if not isinstance(element, Variant):
                raise VMStatus(
                    StatusCode.FAILED_PRECONDITION,
                    f"variant at index {index} is not a value type",
                )
            return convert_value(element.value_type, element.value, value_type)
        raise VMStatus(StatusCode.FAILED_PRECONDITION, "list does not store values")

    def set_value(self, index: int, value_type: ValueType, value) -> None:
        """``iree_vm_list_set_value``: converts to the element type of a value list."""
        items = self.items
        if not 0 <= index < len(items):
            raise _index_error(index, len(items))
        mode = self.storage_mode
        if mode == StorageMode.VALUE:
            items[index] = convert_value(value_type, value, self.element_type.value_type)
        elif mode == StorageMode.VARIANT:
            items[index] = Variant(value_type, value)
        else:
            raise VMStatus(StatusCode.FAILED_PRECONDITION, "list cannot store values")

    def push_value(self, value_type: ValueType, value) -> None:
        self.resize(len(self.items) + 1)
        self.set_value(len(self.items) - 1, value_type, value)

    # -- Refs ---------------------------------------------------------------------------

    def get_ref(self, index: int, move: bool = False):
        """``iree_vm_list_get_ref_retain_or_move``."""
        items = self.items
        if not 0 <= index < len(items):
            raise _index_error(index, len(items))
        mode = self.storage_mode
        if mode == StorageMode.REF:
            value = items[index]
            if move:
                items[index] = None
            return value
        if mode == StorageMode.VARIANT:
            value = items[index]
            if value is not None and not isinstance(value, RefObject):
                raise VMStatus(StatusCode.FAILED_PRECONDITION, "")
            if move:
                items[index] = None
            return value
        raise VMStatus(StatusCode.FAILED_PRECONDITION, "list does not store refs")

    def set_ref(self, index: int, value) -> None:
        """``iree_vm_list_set_ref_retain/move`` (the caller clears a moved register)."""
        items = self.items
        if not 0 <= index < len(items):
            raise _index_error(index, len(items))
        mode = self.storage_mode
        if mode == StorageMode.REF:
            check_ref_type(value, self.element_type.ref_type)
            items[index] = value
        elif mode == StorageMode.VARIANT:
            items[index] = value
        else:
            raise VMStatus(StatusCode.FAILED_PRECONDITION, "list cannot store refs")

    def push_ref(self, value) -> None:
        self.resize(len(self.items) + 1)
        self.set_ref(len(self.items) - 1, value)

    # -- Variants (host API) ------------------------------------------------------------

    def get_variant(self, index: int):
        """The element as a Python object: a value, a RefObject, or None."""
        items = self.items
        if not 0 <= index < len(items):
            raise _index_error(index, len(items))
        element = items[index]
        if isinstance(element, Variant):
            return element.value
        return element

    def element_value_type(self, index: int) -> ValueType | None:
        element = self.items[index]
        if self.storage_mode == StorageMode.VALUE:
            return self.element_type.value_type
        if isinstance(element, Variant):
            return element.value_type
        return None

    def to_python(self) -> list:
        return [self.get_variant(i) for i in range(len(self.items))]

    def __repr__(self) -> str:
        return f"<vm.list<{self.element_type.name}> size={len(self.items)}>"


def index_u32(value: int) -> int:
    """i32 register -> uint32_t index, as the list ops cast it."""
    return value & MASK32
