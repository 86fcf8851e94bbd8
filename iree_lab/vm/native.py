"""Native modules written in Python.

A native module is a class deriving from :class:`NativeModule` whose exported
functions are methods marked with :func:`export`::

    from iree_lab.vm import NativeModule, export

    class Custom(NativeModule):
        name = "custom"
        version = 1

        @export("0ii_i")                 # cconv: (i32, i32) -> i32
        def add(self, a, b):
            return a + b

        @export("0iCiD_i")               # variadic: i32, then a span of i32
        def sum(self, base, values):     # values: list[int]
            return base + sum(values)

        @export("0i_i")
        def slow_double(self, x):        # a generator suspends the caller's fiber
            yield                        # at each yield (vm.call.yieldable)
            return 2 * x

Arguments arrive as VM values (int for i32/i64, numpy.float32 for f32, float
for f64, RefObject or None for refs). A span argument arrives as a list; for
spans of several types (``C ir D``) each element is a tuple. Results are
returned as a value, a tuple of values, or None; they are converted to the
declared types (ints wrap like C casts). Raise :class:`VMStatus`
(``iree_lab.vm.status``) to fail with a specific IREE status code; any other
exception fails the call with INTERNAL.

A module file for ``iree-lab run --module=custom.py`` defines one
NativeModule subclass at top level (or a ``create_module()`` function).
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import sys
from pathlib import Path

from iree_lab.vm.module import BytecodeModule, Dependency, Function, Module, ModuleState
from iree_lab.vm.status import StatusCode, VMStatus
from iree_lab.vm.value import CallingConvention


def export(cconv: str | None = None, *, name: str | None = None, args: str | None = None,
           results: str | None = None):
    """Marks a method as an export with calling convention ``cconv`` (e.g. ``0ii_i``).

    Alternatively give ``args``/``results`` fragments (``args="ii", results="i"``).
    ``name`` overrides the export name (default: the method name).
    """
    if cconv is None:
        cconv = f"0{args or 'v'}_{results or 'v'}"
    parsed = CallingConvention(cconv)

    def mark(fn):
        fn.__iree_export__ = (name or fn.__name__, parsed)
        return fn

    return mark


class NativeFunction(Function):
    """An export of a native module, bound to its Python method."""

    __slots__ = ("method", "is_generator")

    def __init__(self, module, ordinal, name, cconv, method):
        super().__init__(module, ordinal, name, cconv)
        self.method = method
        self.is_generator = inspect.isgeneratorfunction(method)


class NativeModule(Module):
    """Base class of Python-defined VM modules (see the module docstring)."""

    name = ""
    version = 0
    # Modules this module depends on (name, minimum version, optional).
    module_dependencies: tuple[Dependency, ...] = ()

    def __init__(self):
        if not self.name:
            raise VMStatus(StatusCode.INVALID_ARGUMENT,
                           f"native module {type(self).__name__} has no name")
        exports: dict[str, NativeFunction] = {}
        for attr in dir(type(self)):
            member = getattr(type(self), attr, None)
            marker = getattr(member, "__iree_export__", None)
            if marker is None:
                continue
            export_name, cconv = marker
            exports[export_name] = NativeFunction(
                self, len(exports), export_name, cconv, getattr(self, attr)
            )
        self._native_exports = exports

    @property
    def dependencies(self) -> tuple[Dependency, ...]:
        return tuple(self.module_dependencies)

    @property
    def exports(self) -> dict[str, NativeFunction]:
        return self._native_exports

    def create_state(self, context) -> ModuleState:
        return ModuleState(self, context)

    def __repr__(self) -> str:
        return f"<vm.NativeModule {self.name} version {self.version}>"


def load_module_file(path: str | Path) -> list[Module]:
    """Loads the native module(s) a Python file defines (for ``--module=x.py``)."""
    path = Path(path)
    module_name = f"_iree_lab_native_{path.stem}_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise VMStatus(StatusCode.INVALID_ARGUMENT, f"cannot load Python module file {path}")
    py_module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = py_module
    try:
        spec.loader.exec_module(py_module)
    except Exception as e:
        raise VMStatus(StatusCode.INVALID_ARGUMENT,
                       f"error loading native module file {path}: {type(e).__name__}: {e}") from e
    factory = getattr(py_module, "create_module", None)
    if factory is not None:
        created = factory()
        return list(created) if isinstance(created, list | tuple) else [created]
    classes = [
        obj for obj in vars(py_module).values()
        if inspect.isclass(obj) and issubclass(obj, NativeModule) and obj is not NativeModule
        and obj.__module__ == module_name
    ]
    if not classes:
        raise VMStatus(StatusCode.INVALID_ARGUMENT,
                       f"{path} defines no NativeModule subclass or create_module()")
    return [cls() for cls in classes]


def load_module_path(path: str | Path) -> list[Module]:
    """The modules ``--module=PATH`` names: those a ``.py`` file defines
    (:func:`load_module_file`), else the bytecode module the file holds."""
    path = os.fspath(path)
    if path.endswith(".py"):
        return load_module_file(path)
    return [BytecodeModule.load(path)]
