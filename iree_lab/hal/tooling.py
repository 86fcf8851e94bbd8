"""What ``iree-lab run`` needs from the HAL, in iree-run-module's terms.

``iree-run-module`` creates the HAL modules a program depends on before the
program itself (``tooling/context_util.c``), parses ``--input`` values onto the
device and prints results; these helpers do the same for iree_lab::

    from iree_lab.hal import tooling

    session = tooling.Session.for_modules(user_modules, device_uri="local-sync")
    context = vm.Context(session.modules + user_modules)
    args = session.parse_inputs(fn.cconv.arguments, ["4xf32=1 2 3 4"])
    results = context.call_function(fn, args)
    sys.stdout.write(session.format_results(results, fn.cconv.results))
"""

from __future__ import annotations

import dataclasses

from iree_lab.hal import io
from iree_lab.hal.device import Device
from iree_lab.hal.recorder import Recorder
from iree_lab.hal.types import status
from iree_lab.vm.status import StatusCode

# Devices iree_lab can stand in for: VMVX executables run in the Python VM, CPU
# libraries (embedded/system ELF for the host) natively; local-task spreads a
# dispatch's workgroups over a thread pool.
LOCAL_DEVICES = ("local-sync", "local-task")


def create_device(uri: str = "local-sync", *, recorder: Recorder | None = None,
                  native: bool = True) -> Device:
    """A device for ``--device=URI`` (``local-sync`` / ``local-task``).

    ``native=False`` refuses executables that would run native code (llvm-cpu).
    """
    name = uri.split("://", 1)[0].split(":", 1)[0] or "local-sync"
    if name not in LOCAL_DEVICES:
        raise status(
            StatusCode.NOT_FOUND,
            f"no driver registered for device '{uri}'; iree_lab provides "
            f"{', '.join(LOCAL_DEVICES)} (VMVX and host CPU executables)",
        )
    return Device(name, recorder=recorder, native=native)


def parameters_module(parameters=None):
    """An ``io_parameters`` module from ``--parameters`` flags, a ScopeMap or a module."""
    from iree_lab.format.parameters import ScopeMap
    from iree_lab.hal.parameters import ParametersModule

    if isinstance(parameters, ParametersModule):
        return parameters
    if not isinstance(parameters, ScopeMap):
        parameters = ScopeMap.from_flags([parameters] if isinstance(parameters, str)
                                         else list(parameters or ()))
    return ParametersModule.from_scope_map(parameters)


def required_hal_modules(modules) -> set[str]:
    """Names of HAL modules (hal, hal_inline, hal_loader) the given modules depend on."""
    names = set()
    for module in modules:
        for dep in module.dependencies:
            if dep.name in ("hal", "hal_inline", "hal_loader"):
                names.add(dep.name)
    return names


@dataclasses.dataclass
class Session:
    """A device plus the HAL modules to register ahead of the user's modules."""

    device: Device
    modules: list

    @classmethod
    def for_modules(cls, user_modules, *, device_uri: str = "local-sync",
                    recorder: Recorder | None = None, native: bool = True,
                    parameters=None) -> Session:
        """``parameters``: ``--parameters=[scope=]FILE`` strings, a
        :class:`~iree_lab.format.parameters.ScopeMap`, or a ready
        :class:`~iree_lab.hal.parameters.ParametersModule`; the ``io_parameters``
        module is added when a module depends on it (raises ParameterFormatError
        for a bad parameter file)."""
        from iree_lab.hal.inline import HALInlineModule
        from iree_lab.hal.module_versions import hal_loader_module_class, hal_module_class

        device = create_device(device_uri, recorder=recorder, native=native)
        needed = required_hal_modules(user_modules)
        modules = []
        if "hal" in needed:
            # The hal version the modules were built against (older releases: 5, 6).
            modules.append(hal_module_class(user_modules)([device]))
        if "hal_inline" in needed or "hal_loader" in needed:
            modules += [HALInlineModule(device), hal_loader_module_class(user_modules)(device)]
        if any(dep.name == "io_parameters" for m in user_modules for dep in m.dependencies):
            modules.append(parameters_module(parameters))
        return cls(device, modules)

    def parse_inputs(self, cconv_arguments: str, specs, base_dir: str | None = None) -> list:
        """``--input`` values for a function's argument cconv (raises VMStatus)."""
        return io.parse_inputs(self.device, cconv_arguments, specs, base_dir)

    @staticmethod
    def format_results(values, cconv_results: str,
                       max_element_count: int = io.DEFAULT_MAX_ELEMENT_COUNT) -> str:
        """The ``result[i]: ...`` lines exactly as iree-run-module prints them."""
        return io.format_results(values, cconv_results, max_element_count=max_element_count)
