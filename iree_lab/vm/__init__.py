"""Layer 3: the VM — values, refs, buffers, lists, modules, contexts and execution.

Run a function of a module exactly as IREE's runtime would::

    from iree_lab import vm
    ctx = vm.Context([vm.BytecodeModule.load("prog.vmfb")])
    ctx.call("add_i32", 3, 4)          # -> 7

Failures raise :class:`VMError` carrying IREE's status code, message and a VM
backtrace. Native modules are Python classes (:class:`NativeModule`,
:func:`export`). :meth:`Context.invoke` returns a resumable
:class:`Invocation` for stepping, hooks and yields.
"""

from __future__ import annotations

from iree_lab.vm.buffer import Buffer, BufferAccess
from iree_lab.vm.context import Context, Instance
from iree_lab.vm.interpreter import Frame, Invocation, InvocationState
from iree_lab.vm.list import List
from iree_lab.vm.module import BytecodeModule, Dependency, Function, ImportDecl, Module
from iree_lab.vm.native import NativeModule, export, load_module_file, load_module_path
from iree_lab.vm.ref import RefObject, RefType
from iree_lab.vm.registers import Registers
from iree_lab.vm.status import BacktraceFrame, StatusCode, VMError, VMInterrupt, VMStatus
from iree_lab.vm.value import CallingConvention, TypeDef, ValueType

__all__ = [
    "BacktraceFrame",
    "Buffer",
    "BufferAccess",
    "BytecodeModule",
    "CallingConvention",
    "Context",
    "Dependency",
    "Frame",
    "Function",
    "ImportDecl",
    "Instance",
    "Invocation",
    "InvocationState",
    "List",
    "Module",
    "NativeModule",
    "RefObject",
    "RefType",
    "Registers",
    "StatusCode",
    "TypeDef",
    "VMError",
    "VMInterrupt",
    "VMStatus",
    "ValueType",
    "export",
    "load_module_file",
    "load_module_path",
]
