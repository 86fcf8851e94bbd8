"""Contexts: modules linked in order, their states, and calling into them.

Mirrors ``iree_vm_context_register_modules``: modules are registered in order;
for each one the context checks its dependencies against the modules already
registered, resolves each import by full name (``module.function``) against the
exports of earlier modules (the last registered module of that name wins),
checks calling conventions, then runs the module's ``__init``. Contexts run
``__deinit`` in reverse order when closed.

Typical use::

    ctx = Context([BytecodeModule.load("prog.vmfb")])
    ctx.call("add", 1, 2)               # -> 3 (a tuple for several results)
    inv = ctx.invoke("add", 1, 2)       # a resumable Invocation (stepping tier)
"""

from __future__ import annotations

import contextlib
import sys

import numpy as np

from iree_lab.vm import calls
from iree_lab.vm.interpreter import MAX_STACK_DEPTH, Invocation, InvocationState
from iree_lab.vm.module import BytecodeModule, Function, Module, ModuleState
from iree_lab.vm.native import NativeFunction
from iree_lab.vm.status import StatusCode, VMError, VMStatus


class Instance:
    """Process-wide VM state (IREE's ``iree_vm_instance_t``).

    Ref types are interned globally in iree_lab (``RefType.get``), so the
    instance only carries defaults shared by its contexts.
    """

    def __init__(self, *, max_stack_depth: int = MAX_STACK_DEPTH):
        self.max_stack_depth = max_stack_depth


def _as_module(module) -> Module:
    if isinstance(module, Module):
        return module
    return BytecodeModule.load(module)


class Context:
    """A set of linked module states that functions run against."""

    def __init__(self, modules=(), *, instance: Instance | None = None, hook=None,
                 instruction_budget: int | None = None, fast: bool = True):
        self.instance = instance or Instance()
        self.modules: list[Module] = []
        self.states: list[ModuleState] = []
        # A hook called before every instruction (the debugger's entry point):
        # hook(invocation, frame, index) -> True to pause. With a hook installed
        # every call runs in the stepping tier.
        self.hook = hook
        self.instruction_budget = instruction_budget
        self.fast = fast
        # IREE VM stack bytes in use by fast-tier calls (see interpreter.frame_bytes).
        self.stack_bytes = [0]
        self._closed = False
        self.register_modules(modules)

    # -- Registration and linking --------------------------------------------------------

    def register_modules(self, modules) -> None:
        """Registers modules in order, linking and initializing each (IREE semantics)."""
        for module in modules:
            module = _as_module(module)
            try:
                self._register(module)
            except VMStatus as status:
                raise VMError.from_status(status) from None

    def _register(self, module: Module) -> None:
        if isinstance(module, BytecodeModule):
            module.verify()
        state = module.create_state(self)
        self.modules.append(module)
        self.states.append(state)
        try:
            try:
                self._check_dependencies(module)
                self._resolve_imports(module, state)
            except VMStatus as status:
                raise status.annotate(f"resolving module '{module.name}' imports") from None
            self._run_optional(module, "__init")
        except BaseException:
            self.modules.pop()
            self.states.pop()
            raise

    def _check_dependencies(self, module: Module) -> None:
        registered = self.modules[:-1]
        for dep in module.dependencies:
            found = next((m for m in registered if m.name == dep.name), None)
            if found is None:
                if dep.optional:
                    continue
                raise VMStatus(StatusCode.NOT_FOUND,
                               f"required module '{dep.name}' not registered on the context")
            if not dep.optional and found.version < dep.minimum_version:
                raise VMStatus(
                    StatusCode.NOT_FOUND,
                    f"required module '{dep.name}' version mismatch; have {found.version} "
                    f"but require {dep.minimum_version}",
                )

    def _resolve_imports(self, module: Module, state: ModuleState) -> None:
        registered = self.modules[:-1]
        for decl in module.imports:
            module_name, dot, function_name = decl.full_name.partition(".")
            if not dot:
                raise VMStatus(StatusCode.INVALID_ARGUMENT,
                               f"import name not fully-qualified (module.func): "
                               f"'{decl.full_name}'")
            source = next((m for m in reversed(registered) if m.name == module_name), None)
            try:
                if source is None:
                    raise VMStatus(
                        StatusCode.NOT_FOUND,
                        f"module '{module_name}' required for import '{decl.full_name}' not "
                        "registered with the context",
                    )
                target = source.lookup_export(function_name)
            except VMStatus as status:
                if decl.optional and status.code == StatusCode.NOT_FOUND:
                    continue
                raise
            if decl.cconv is not None and target.cconv is not None and \
                    decl.cconv.text != target.cconv.text:
                raise VMStatus(
                    StatusCode.INTERNAL,
                    f"import function {decl.full_name} signature mismatch between "
                    f"{module.name} and source {source.name}; expected {decl.cconv.text} but "
                    f"got {target.cconv.text}",
                )
            state.imports[decl.ordinal] = target
            state.import_resolved[decl.ordinal] = 1

    def _run_optional(self, module: Module, name: str) -> None:
        fn = module.exports.get(name)
        if fn is None:
            return
        self._invoke_sync(fn, [])

    def close(self) -> None:
        """Runs ``__deinit`` of every module in reverse order (errors are ignored)."""
        if self._closed:
            return
        self._closed = True
        for module in reversed(self.modules):
            with contextlib.suppress(VMError):
                self._run_optional(module, "__deinit")

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- Lookup ---------------------------------------------------------------------------

    def state_of(self, module: Module) -> ModuleState:
        for m, s in zip(self.modules, self.states, strict=True):
            if m is module:
                return s
        raise VMStatus(StatusCode.NOT_FOUND, f"module {module.name} is not in this context")

    def lookup_function(self, name: str) -> Function:
        """Finds an export: ``"fn"`` (searched from the last module) or ``"module.fn"``."""
        module_name, dot, function_name = name.rpartition(".")
        candidates = reversed(self.modules)
        if dot:
            candidates = [m for m in candidates if m.name == module_name]
        else:
            function_name = name
        for module in candidates:
            fn = module.exports.get(function_name)
            if fn is not None:
                return fn
        if dot and not candidates:
            raise VMError(StatusCode.NOT_FOUND, f"no module named '{module_name}' in the context")
        raise VMError(StatusCode.NOT_FOUND, f"no function `{function_name}` exported by module")

    # -- Calling ----------------------------------------------------------------------------

    def call(self, function: str | Function, *args):
        """Calls an export with Python/numpy values; returns its result(s).

        None for no results, the value for one, a tuple for several. Raises
        :class:`VMError` (with IREE's status code) on failure.
        """
        fn = self.lookup_function(function) if isinstance(function, str) else function
        results = self.call_function(fn, list(args))
        if len(results) == 0:
            return None
        if len(results) == 1:
            return results[0]
        return tuple(results)

    def call_function(self, fn: Function, args: list) -> list:
        fragment = fn.cconv.arguments if fn.cconv else ""
        try:
            expected = calls.argument_count(fragment)
            if len(args) != expected:
                raise VMStatus(
                    StatusCode.INVALID_ARGUMENT,
                    f"input list and function mismatch; expected {expected} arguments but "
                    f"passed {len(args)}",
                )
            values = calls.coerce(fragment, args, f"calling {fn.name}")
        except VMStatus as status:
            raise VMError.from_status(status) from None
        return self._invoke_sync(fn, values)

    def invoke(self, function: str | Function, *args, hook=None,
               instruction_budget: int | None = None) -> Invocation:
        """A resumable invocation in the stepping tier (for stepping and debugging)."""
        fn = self.lookup_function(function) if isinstance(function, str) else function
        fragment = fn.cconv.arguments if fn.cconv else ""
        try:
            values = calls.coerce(fragment, list(args), f"calling {fn.name}")
        except VMStatus as status:
            raise VMError.from_status(status) from None
        return Invocation(self, fn, values, hook=hook if hook is not None else self.hook,
                          instruction_budget=instruction_budget or self.instruction_budget,
                          max_depth=self.instance.max_stack_depth)

    def _invoke_sync(self, fn: Function, values: list) -> list:
        """Runs to completion; yields are resumed right away (a trivial scheduler)."""
        with np.errstate(all="ignore"):
            if self._fast_eligible(fn):
                from iree_lab.vm import fast

                return fast.call(self, fn, values)
            inv = Invocation(self, fn, values, hook=self.hook,
                             instruction_budget=self.instruction_budget,
                             max_depth=self.instance.max_stack_depth)
            while True:
                state = inv.run()
                if state == InvocationState.DONE:
                    return inv.results
                if state == InvocationState.FAILED:
                    raise VMError.surfacing(inv.status)
                if state == InvocationState.PAUSED:
                    raise VMError(StatusCode.FAILED_PRECONDITION,
                                  "a hook paused a synchronous call; use Context.invoke()")

    def _fast_eligible(self, fn: Function) -> bool:
        if not self.fast or self.hook is not None or self.instruction_budget is not None:
            return False
        if isinstance(fn, NativeFunction) or not isinstance(fn.module, BytecodeModule):
            return False
        from iree_lab.vm import fast

        return fast.eligible(self.state_of(fn.module), fn.ordinal)


def recursion_headroom(frames: int):
    """Context manager raising Python's recursion limit for deep VM call stacks."""
    return _RecursionHeadroom(frames)


class _RecursionHeadroom:
    def __init__(self, frames: int):
        self.frames = frames
        self.saved = None

    def __enter__(self):
        self.saved = sys.getrecursionlimit()
        needed = _current_depth() + self.frames + 100
        if needed > self.saved:
            sys.setrecursionlimit(needed)
        return self

    def __exit__(self, *exc):
        sys.setrecursionlimit(self.saved)


def _current_depth() -> int:
    frame = sys._getframe()
    depth = 0
    while frame is not None:
        depth += 1
        frame = frame.f_back
    return depth
