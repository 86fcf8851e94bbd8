"""What the debugger runs: modules, a function and its inputs, rebuilt on demand.

Time travel re-executes a program deterministically, so the debugger must be
able to build a fresh *world* (HAL device and modules, context, inputs) that
behaves exactly like the first one. A :class:`Program` holds the recipe:

* modules: ``.vmfb`` paths or :class:`iree_lab.vm.BytecodeModule` objects
  (immutable, shared between worlds), ``.py`` files of native modules
  (re-loaded per world), native module instances (the first world uses the
  instance, later ones ``type(instance)()``) or zero-argument factories;
* the HAL modules a program depends on come from :class:`iree_lab.hal.Session`
  (a fresh device per world), and ``io_parameters`` from ``parameters``
  (``[scope=]FILE`` strings or a ScopeMap; files are opened once, shared by
  every world);
* inputs: ``iree-run-module`` ``--input`` strings, or Python values (ints,
  floats, numpy arrays become buffer views).

Native imports must be deterministic for re-execution to reach the same
state. Imports that are not (clocks, random numbers, I/O) are named in
``replay_imports`` (``"module.function"`` or ``"module.*"``): their results are
recorded the first time each call happens and replayed on re-execution.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from pathlib import Path

import numpy as np

from iree_lab.errors import IreeLabError
from iree_lab.hal import Session, io
from iree_lab.vm import BytecodeModule, Context, Module, NativeModule, load_module_file
from iree_lab.vm.status import VMError, VMStatus


class DebugError(IreeLabError):
    """A debugger request that cannot be honoured (bad breakpoint, no such frame, ...)."""


@dataclasses.dataclass
class World:
    """One instance of a program: its session (device, HAL modules), context and inputs."""

    program: Program
    session: Session
    context: Context
    function: object  # iree_lab.vm.Function
    arguments: list
    replay: ImportReplay | None = None

    def invoke(self, hook=None):
        return self.context.invoke(self.function, *self.arguments, hook=hook)

    @property
    def device(self):
        return self.session.device

    def format_results(self, results) -> str:
        fragment = self.function.cconv.results if self.function.cconv else ""
        return io.format_results(results, fragment)


class ImportReplay:
    """Records the results of nondeterministic native imports, replays them on re-execution.

    ``cursor`` (calls made so far in this run) is part of the debugger's
    restorable state; ``log`` persists across worlds.
    """

    def __init__(self, patterns):
        self.patterns = tuple(patterns)
        self.log: list = []
        self.cursor = 0

    def matches(self, full_name: str) -> bool:
        return any(fnmatch.fnmatchcase(full_name, p) for p in self.patterns)

    def install(self, modules) -> None:
        for module in modules:
            if not isinstance(module, NativeModule):
                continue
            for fn in module.exports.values():
                if self.matches(fn.full_name):
                    fn.method = self._wrap(fn.full_name, fn.method, fn.is_generator)

    def _wrap(self, name: str, method, is_generator: bool):
        replay = self

        def take():
            if replay.cursor < len(replay.log):
                recorded_name, entry = replay.log[replay.cursor]
                if recorded_name != name:
                    raise DebugError(f"replay diverged: call {replay.cursor} was {recorded_name}, "
                                     f"now {name}")
                replay.cursor += 1
                return True, entry
            return False, None

        def record(entry):
            replay.log.append((name, entry))
            replay.cursor += 1

        if is_generator:
            def generator(*args):
                found, entry = take()
                if found:
                    yields, result = entry
                    for _ in range(yields):
                        yield
                    return result
                yields = 0
                gen = method(*args)
                try:
                    while True:
                        next(gen)
                        yields += 1
                        yield
                except StopIteration as stop:
                    record((yields, stop.value))
                    return stop.value

            return generator

        def plain(*args):
            found, entry = take()
            if found:
                return entry
            result = method(*args)
            record(result)
            return result

        return plain


def _scope_map(parameters):
    """A ScopeMap of ``[scope=]FILE`` strings (one string: one file), kept as given
    when it already is one. Bad files raise ParameterFormatError now."""
    from iree_lab.format.parameters import ScopeMap

    if isinstance(parameters, ScopeMap):
        return parameters
    if isinstance(parameters, str | Path):
        parameters = [parameters]
    return ScopeMap.from_flags([str(p) for p in parameters])


def _fresh_native(module: NativeModule) -> NativeModule:
    try:
        return type(module)()
    except TypeError as e:
        raise DebugError(
            f"cannot re-create native module {module.name!r} for re-execution ({e}); pass a "
            "factory (a zero-argument callable) instead of an instance") from None


class Program:
    """A function of some modules with inputs: everything needed to (re)build a run."""

    def __init__(self, modules, function: str, inputs=(), *, device: str = "local-sync",
                 replay_imports=(), base_dir: str | None = None, native: bool = True,
                 parameters=()):
        if isinstance(modules, str | Path | Module):
            modules = [modules]
        self.module_specs = list(modules)
        self.function_name = function
        self.inputs = list(inputs)
        self.device_uri = device
        self.native = native  # False refuses native CPU executables
        self.base_dir = base_dir
        self.replay_imports = tuple(replay_imports)
        self._bytecode: dict[int, BytecodeModule] = {}
        self._worlds_built = 0
        self.parameters = _scope_map(parameters)

    def _modules(self) -> list[Module]:
        first = self._worlds_built == 0
        out: list[Module] = []
        for i, spec in enumerate(self.module_specs):
            if isinstance(spec, BytecodeModule):
                out.append(spec)
            elif isinstance(spec, NativeModule):
                out.append(spec if first else _fresh_native(spec))
            elif isinstance(spec, str | Path):
                if str(spec).endswith(".py"):
                    out.extend(load_module_file(spec))
                else:
                    module = self._bytecode.get(i)
                    if module is None:
                        module = self._bytecode[i] = BytecodeModule.load(spec)
                    out.append(module)
            elif callable(spec):
                made = spec()
                out.extend(made if isinstance(made, list | tuple) else [made])
            else:
                raise DebugError(f"not a module: {spec!r}")
        return out

    def build(self, *, hook=None, dispatch_hook=None, recorder=None,
              replay: ImportReplay | None = None, tracer=None, dispatch_gate=None) -> World:
        """A fresh world. ``hook`` is installed on the context (so ``__init`` runs under
        it), ``dispatch_hook`` on the VMVX dispatch contexts of the device (with
        ``dispatch_gate`` deciding which dispatches may skip it and run lifted); a
        ``tracer`` also sees yieldable imports resume (:meth:`Tracer.attach_resumes`)."""
        try:
            modules = self._modules()
        except VMStatus as status:
            raise VMError.from_status(status) from None
        self._worlds_built += 1
        if replay is not None:
            replay.cursor = 0
            replay.install(modules)
        session = Session.for_modules(modules, device_uri=self.device_uri, recorder=recorder,
                                      native=self.native, parameters=self.parameters)
        if dispatch_hook is not None:
            session.device.dispatch_context_options["hook"] = dispatch_hook
            session.device.dispatch_gate = dispatch_gate
        if tracer is not None:
            tracer.attach_resumes(session.modules + modules)
        context = Context(session.modules + modules, hook=hook)
        function = context.lookup_function(self.function_name)
        arguments = self._arguments(session, function)
        return World(self, session, context, function, arguments, replay)

    def _arguments(self, session: Session, function) -> list:
        fragment = function.cconv.arguments if function.cconv else ""
        try:
            if all(isinstance(v, str) for v in self.inputs):
                return session.parse_inputs(fragment, self.inputs, self.base_dir)
            values = []
            for i, value in enumerate(self.inputs):
                ch = fragment[i] if i < len(fragment) else "r"
                if isinstance(value, str):
                    values.extend(session.parse_inputs(ch, [value], self.base_dir))
                elif isinstance(value, np.ndarray):
                    values.append(io.buffer_view_from_numpy(value, session.device))
                else:
                    values.append(value)
            return values
        except VMStatus as status:
            raise VMError.from_status(status) from None

    def run(self, *, hook=None, dispatch_hook=None, tracer=None) -> list:
        """Builds a world and runs the function to completion (yields resumed at once)."""
        world = self.build(hook=hook, dispatch_hook=dispatch_hook, tracer=tracer)
        try:
            return world.context.call_function(world.function, list(world.arguments))
        finally:
            world.context.close()

    def __repr__(self) -> str:
        names = [getattr(m, "name", None) or str(m) for m in self.module_specs]
        return f"<Program {self.function_name} of {names} inputs={self.inputs!r}>"
