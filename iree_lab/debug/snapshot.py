"""In-place snapshots of a running world, for time travel.

A snapshot records the *contents* of every mutable object reachable from a
set of roots (the invocation, the context, the HAL session) and restoring
writes those contents back into the same objects. Identities never change,
which matters: compiled stepping-tier code is bound to its module state
object, typed memoryviews are bound to their byte arrays, and refs are
compared by identity. Objects created after the snapshot become unreachable
once every reference to them is rolled back.

Immutable or shared objects are not recorded: bytecode modules and their
format readers, compiled code, functions, types. A world holding something
that cannot be rolled back (a suspended native generator, a lock, a file)
raises :class:`NotSnapshottable`; the debugger then re-executes from the
start instead.
"""

from __future__ import annotations

import array
import collections
import enum
import mmap
import types

import numpy as np


class NotSnapshottable(Exception):
    """The world holds state that cannot be recorded and rolled back."""


# Types whose instances are immutable or shared between worlds (never recorded).
_ATOMIC_TYPES: tuple[type, ...] = (
    type(None), bool, int, float, complex, str, bytes, range, slice, type, enum.Enum,
    np.generic, np.dtype, types.ModuleType, types.BuiltinFunctionType, types.MethodType,
    types.CodeType, types.FunctionType, mmap.mmap, property, staticmethod, classmethod,
)  # fmt: skip
# Module prefixes whose objects are immutable for a running program.
_ATOMIC_MODULES = ("iree_lab.format", "iree_lab.isa")
_REFUSED_TYPES = (types.GeneratorType, types.CoroutineType, types.FrameType)


def _shared_vm_types() -> tuple[type, ...]:
    from iree_lab.vm.interpreter import CompiledFunction, Control
    from iree_lab.vm.module import BytecodeModule, Dependency, Function, ImportDecl
    from iree_lab.vm.ref import RefType
    from iree_lab.vm.value import CallingConvention, TypeDef

    return (CompiledFunction, Control, BytecodeModule, Function, ImportDecl, Dependency,
            RefType, TypeDef, CallingConvention)  # fmt: skip


class Snapshot:
    """Recorded contents of a world's mutable objects; :meth:`restore` rolls them back."""

    def __init__(self, entries: list, extra: dict, nbytes: int):
        self._entries = entries
        self.extra = extra
        self.nbytes = nbytes

    def restore(self) -> None:
        for restore, obj, saved in self._entries:
            restore(obj, saved)


# How instances of a type are recorded (_kind_of): decided once per type, since a
# snapshot visits the same few dozen objects every 20,000 instructions.
_KINDS: dict[type, str] = {}


def _kind_of(t: type) -> str:
    kind = _KINDS.get(t)
    if kind is not None:
        return kind
    from iree_lab.vm.module import BytecodeModuleState, ModuleState
    from iree_lab.vm.native import NativeModule

    if t is types.FunctionType:
        kind = "function"  # closures of the HAL's queued work (see _Capturer.walk)
    elif issubclass(t, _ATOMIC_TYPES):
        kind = "atomic"
    elif t in (list, dict, tuple, frozenset, set, bytearray, memoryview, collections.deque,
               array.array):
        kind = t.__name__
    elif issubclass(t, np.ndarray):
        kind = "ndarray"
    elif issubclass(t, _REFUSED_TYPES):
        kind = "refused"
    elif issubclass(t, _shared_vm_types()) or (t.__module__ or "").startswith(_ATOMIC_MODULES):
        kind = "atomic"
    elif issubclass(t, BytecodeModuleState):
        kind = "bytecode_state"
    elif issubclass(t, ModuleState):
        kind = "atomic"
    elif issubclass(t, NativeModule):
        kind = "native_module"
    else:
        kind = "object"
    _KINDS[t] = kind
    return kind


class _Capturer:
    def __init__(self, skip_ids: set[int], max_bytes: int):
        self.seen: set[int] = set(skip_ids)
        self.entries: list = []
        self.nbytes = 0
        self.max_bytes = max_bytes
        self.keep: list = []

    def _count(self, n: int) -> None:
        self.nbytes += n
        if self.nbytes > self.max_bytes:
            raise NotSnapshottable(f"world state exceeds {self.max_bytes} bytes")

    def walk(self, root) -> None:
        stack = [root]
        kinds = _KINDS
        while stack:
            obj = stack.pop()
            t = type(obj)
            kind = kinds.get(t) or _kind_of(t)
            if kind == "atomic":
                continue
            if kind == "function":
                # Closures of the HAL's queued work hold buffers and fences.
                if obj.__closure__ and (obj.__module__ or "").startswith("iree_lab.hal"):
                    for cell in obj.__closure__:
                        if id(cell) not in self.seen:
                            self.seen.add(id(cell))
                            self.keep.append(cell)
                            try:
                                value = cell.cell_contents
                            except ValueError:
                                continue
                            self.entries.append((_restore_cell, cell, value))
                            stack.append(value)
                continue
            key = id(obj)
            if key in self.seen:
                continue
            self.seen.add(key)
            self.keep.append(obj)
            self._visit(obj, kind, stack)

    def _visit(self, obj, kind: str, stack) -> None:
        t = type(obj)
        if t is list:
            self.entries.append((_restore_list, obj, list(obj)))
            self._count(8 * len(obj))
            stack.extend(obj)
        elif t is dict:
            self.entries.append((_restore_dict, obj, dict(obj)))
            self._count(16 * len(obj))
            stack.extend(obj.values())
        elif t is tuple or t is frozenset:
            stack.extend(obj)
        elif t is set:
            self.entries.append((_restore_set, obj, set(obj)))
            stack.extend(obj)
        elif t is bytearray:
            self.entries.append((_restore_bytearray, obj, bytes(obj)))
            self._count(len(obj))
        elif t is memoryview:
            if not obj.readonly:
                stack.append(obj.obj)
        elif kind == "ndarray":
            if not obj.flags.writeable:
                return
            if obj.base is not None:
                stack.append(obj.base)
                return
            self.entries.append((_restore_array, obj, obj.copy()))
            self._count(obj.nbytes)
        elif t is collections.deque:
            self.entries.append((_restore_deque, obj, list(obj)))
            stack.extend(obj)
        elif t is array.array:
            self.entries.append((_restore_array_array, obj, obj.tobytes()))
            self._count(len(obj) * obj.itemsize)
        elif kind == "refused":
            raise NotSnapshottable(f"a {t.__name__} cannot be rolled back")
        elif kind == "bytecode_state":
            # Globals only: the import table is fixed once linked and compiled code
            # stays valid (it is bound to this very object).
            stack.append(obj.rwdata)
            stack.append(obj.global_refs)
        elif kind == "native_module":
            self._object(obj, stack, skip=("_native_exports",))
        else:
            self._object(obj, stack)

    def _object(self, obj, stack, skip=()) -> None:
        t = type(obj)
        saved = {}
        d = getattr(obj, "__dict__", None)
        if d is not None:
            saved["__dict__"] = {k: v for k, v in d.items() if k not in skip} if skip \
                else dict(d)
            stack.extend(saved["__dict__"].values())
        slots = _slots_of(t)
        if slots:
            values = {}
            for name in slots:
                try:
                    values[name] = object.__getattribute__(obj, name)
                except AttributeError:
                    values[name] = _UNSET
            saved["__slots__"] = values
            stack.extend(v for v in values.values() if v is not _UNSET)
        if saved:
            self.entries.append((_restore_object, obj, saved))
            self._count(16 * (len(saved.get("__dict__", ())) + len(saved.get("__slots__", ()))))
        elif not hasattr(obj, "__dict__") and not slots and t.__module__ == "builtins":
            raise NotSnapshottable(f"cannot record a {t.__name__}")


_UNSET = object()
_SLOTS_CACHE: dict[type, tuple[str, ...]] = {}


def _slots_of(t: type) -> tuple[str, ...]:
    names = _SLOTS_CACHE.get(t)
    if names is None:
        out = []
        for klass in t.__mro__:
            slots = klass.__dict__.get("__slots__", ())
            if isinstance(slots, str):
                slots = (slots,)
            out.extend(s for s in slots if s not in out and s not in ("__weakref__", "__dict__"))
        names = _SLOTS_CACHE[t] = tuple(out)
    return names


def _restore_list(obj, saved) -> None:
    obj[:] = saved


def _restore_dict(obj, saved) -> None:
    obj.clear()
    obj.update(saved)


def _restore_set(obj, saved) -> None:
    obj.clear()
    obj.update(saved)


def _restore_bytearray(obj, saved) -> None:
    if len(obj) == len(saved):
        obj[:] = saved
    else:  # raises BufferError while typed views exist; sizes never change then
        obj[:] = saved


def _restore_array(obj, saved) -> None:
    obj[...] = saved


def _restore_deque(obj, saved) -> None:
    obj.clear()
    obj.extend(saved)


def _restore_array_array(obj, saved) -> None:
    obj[:] = array.array(obj.typecode, saved)


def _restore_cell(cell, saved) -> None:
    cell.cell_contents = saved


def _restore_object(obj, saved) -> None:
    d = saved.get("__dict__")
    if d is not None:
        live = obj.__dict__
        for name in [k for k in live if k not in d and not _skipped(obj, k)]:
            del live[name]
        live.update(d)
    slots = saved.get("__slots__")
    if slots:
        for name, value in slots.items():
            if value is _UNSET:
                try:
                    object.__delattr__(obj, name)
                except AttributeError:
                    pass
            else:
                object.__setattr__(obj, name, value)


def _skipped(obj, name: str) -> bool:
    return name == "_native_exports"


def take(roots, *, skip=(), extra: dict | None = None, max_bytes: int = 1 << 28) -> Snapshot:
    """Records every mutable object reachable from ``roots`` (not those in ``skip``)."""
    capturer = _Capturer({id(o) for o in skip}, max_bytes)
    for root in roots:
        capturer.walk(root)
    snap = Snapshot(capturer.entries, dict(extra or {}), capturer.nbytes)
    snap._keep = capturer.keep  # the recorded objects must outlive the snapshot
    return snap
