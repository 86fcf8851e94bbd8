"""The ``io_parameters`` VM module (version 0) and parameter providers.

Follows ``runtime/src/iree/modules/io/parameters/module.c`` and
``runtime/src/iree/io/parameter_index_provider.c``. A program's ``__init``
calls ``io_parameters.load`` (or ``gather``) with a scope, a key table of
``{u32 offset, u32 length}`` into key data and spans of ``{u64 parameter
offset, u64 buffer offset, u64 length}``; the provider whose scope matches
resolves each key in its :class:`~iree_lab.format.parameters.ParameterIndex`
and enqueues ordinary HAL queue operations on the device, batched like IREE:
up to 8 timelines, each entry an ``alloca`` (load) plus a file ``read`` on the
least-loaded timeline, splats as fills in one transfer command buffer, and a
final ``barrier`` joining the timelines into the caller's signal fence. So the
recorder (:mod:`iree_lab.hal.recorder`) sees weight loading as queue
operations whose details name the parameter (``parameter``, ``scope``,
``parameter_file``, ``parameter_offset``). Usage::

    from iree_lab.format.parameters import ScopeMap
    from iree_lab.hal.parameters import ParametersModule

    scopes = ScopeMap.from_flags(["model=weights.irpa"])
    ctx = vm.Context([HALModule([device]), ParametersModule.from_scope_map(scopes), user])
"""

from __future__ import annotations

import dataclasses
import struct

from iree_lab.errors import FormatError
from iree_lab.format.parameters import (
    ParameterEntry,
    ParameterFile,
    ParameterFormatError,
    ParameterIndex,
    ScopeMap,
)
from iree_lab.hal.buffer import Buffer
from iree_lab.hal.command_buffer import BufferRef
from iree_lab.hal.device import Device, File
from iree_lab.hal.semaphore import Fence
from iree_lab.hal.types import (
    CommandBufferMode,
    CommandCategory,
    MemoryAccess,
    check_deref,
    status,
)
from iree_lab.vm.buffer import Buffer as VMBuffer
from iree_lab.vm.list import List
from iree_lab.vm.native import NativeModule, export
from iree_lab.vm.ref import RefType
from iree_lab.vm.status import StatusCode, VMStatus
from iree_lab.vm.value import TypeDef

IO_PARAMETERS_MODULE_VERSION = 0
# IREE_IO_PARAMETER_OP_BATCH_MAX_CONCURRENCY and the tools' default provider setting.
MAX_CONCURRENCY = 8
DEFAULT_MAX_CONCURRENT_OPERATIONS = 16
_STRING_ENTRY = struct.Struct("<II")
_SPAN_ENTRY = struct.Struct("<QQQ")
_BUFFER_LIST_TYPE = TypeDef(ref_type=RefType.get("hal.buffer"), name="!hal.buffer")


def format_status(error: ParameterFormatError) -> VMStatus:
    """A parameter file defect as the VMStatus IREE would return."""
    code = StatusCode[error.code] if error.code in StatusCode.__members__ else (
        StatusCode.INVALID_ARGUMENT)
    return VMStatus(code, str(error))


class ParameterProvider:
    """``iree_io_parameter_index_provider_t``: serves one scope from one index."""

    def __init__(self, scope: str, index: ParameterIndex,
                 max_concurrent_operations: int = DEFAULT_MAX_CONCURRENT_OPERATIONS):
        self.scope = scope
        self.index = index
        self.max_concurrent_operations = max(1, min(max_concurrent_operations, MAX_CONCURRENCY))
        # iree_hal_file_cache_t: one HAL file per (device, parameter file).
        self._files: dict[tuple[int, int], File] = {}

    def query_support(self, scope: str) -> bool:
        return scope == self.scope

    def hal_file(self, device: Device, file: ParameterFile) -> File:
        key = (id(device), id(file))
        hal_file = self._files.get(key)
        if hal_file is None:
            hal_file = self._files[key] = device.create_file_from_memory(
                file.data, MemoryAccess.READ, host_source=file)
        return hal_file

    def resolve(self, key: str, span, access: MemoryAccess) -> ParameterEntry:
        """Looks up ``key`` and checks the span lies inside the parameter."""
        try:
            entry = self.index.lookup(key)
        except ParameterFormatError as e:
            raise format_status(e) from None
        if access & MemoryAccess.WRITE:
            # Files are opened read-only (as IREE's tools open them); splats are synthetic.
            raise status(
                StatusCode.PERMISSION_DENIED,
                f"parameter `{key}` storage does not support the requested access type; "
                f"parameter allows READ, operation requires WRITE")
        parameter_offset, _, length = span
        if parameter_offset + length > entry.length:
            raise status(
                StatusCode.OUT_OF_RANGE,
                f"parameter `{key}` range out of bounds (offset={parameter_offset}, "
                f"length={length}, size={entry.length}){_where(self.scope, entry)}")
        return entry

    def __repr__(self) -> str:
        return f"<ParameterProvider scope={self.scope!r} {len(self.index)} entries>"


def _where(scope: str, entry: ParameterEntry) -> str:
    path = entry.file.path if entry.file is not None else "?"
    scope_text = f"scope `{scope}`, " if scope else ""
    if entry.storage == "splat":
        return f" ({scope_text}splat entry in '{path}')"
    return f" ({scope_text}'{path}' bytes {entry.offset}..{entry.end})"


class _Batch:
    """``iree_io_parameter_op_batch_t``: operations spread over up to N timelines."""

    def __init__(self, provider: ParameterProvider, device: Device, queue_affinity: int,
                 wait_fence: Fence | None, signal_fence: Fence | None, scope: str):
        self.provider = provider
        self.device = device
        self.queue_affinity = queue_affinity
        self.wait_fence = wait_fence
        self.signal_fence = signal_fence
        self.scope = scope
        self.concurrency = provider.max_concurrent_operations
        self.bytes_outstanding = [0] * self.concurrency
        self.semaphores: list = []  # created on first use, in timeline order
        self.values = [0] * self.concurrency
        self.transfer = None  # command buffer of splat fills
        self.transfer_bytes = 0
        self.transfer_keys: list[str] = []

    def advance(self, op_bytes: int) -> tuple[Fence | None, Fence]:
        """Wait and signal fences of the next operation on the least-loaded timeline."""
        index = min(range(self.concurrency), key=lambda i: (self.bytes_outstanding[i], i))
        device = self.device
        if index == len(self.semaphores):
            self.semaphores.append(device.create_semaphore(0))
            wait = self.wait_fence  # the first wave waits on the caller's fence
        else:
            wait = device.create_fence([(self.semaphores[index], self.values[index])])
        self.values[index] += 1
        self.bytes_outstanding[index] += op_bytes
        return wait, device.create_fence([(self.semaphores[index], self.values[index])])

    def note(self, key: str, entry: ParameterEntry, parameter_offset: int) -> dict:
        return {"parameter": key, "scope": self.scope,
                "parameter_file": entry.file.path if entry.file is not None else None,
                "parameter_offset": parameter_offset}

    def alloca(self, key, entry, memory_type, usage, length) -> Buffer:
        wait, signal = self.advance(0)
        return self.device.queue_alloca(self.queue_affinity, wait, signal, memory_type, usage,
                                        length, note=self.note(key, entry, 0))

    def read(self, key, entry, parameter_offset, target: Buffer, buffer_offset, length):
        _check_target(key, entry, target, buffer_offset, length)
        wait, signal = self.advance(length)
        self.device.queue_read(
            self.queue_affinity, wait, signal, self.provider.hal_file(self.device, entry.file),
            entry.offset + parameter_offset, target, buffer_offset, length,
            note=self.note(key, entry, parameter_offset))

    def splat(self, key, entry, target: Buffer, buffer_offset, length):
        _check_target(key, entry, target, buffer_offset, length)
        if self.transfer is None:
            self.transfer = self.device.create_command_buffer(
                CommandBufferMode.ONE_SHOT, CommandCategory.TRANSFER, self.queue_affinity)
        self.transfer_bytes += length
        self.transfer_keys.append(key)
        pattern = int.from_bytes(entry.pattern, "little")
        self.transfer.fill_buffer(BufferRef(target, 0, buffer_offset, length), pattern,
                                  len(entry.pattern))

    def flush(self) -> None:
        device = self.device
        if self.transfer is not None:
            self.transfer.finalize()
            wait, signal = self.advance(self.transfer_bytes)
            device.queue_execute(self.queue_affinity, wait, signal, self.transfer,
                                 note={"parameters": list(self.transfer_keys),
                                       "scope": self.scope})
        if not self.semaphores:
            device.queue_barrier(self.queue_affinity, self.wait_fence, self.signal_fence,
                                 note={"scope": self.scope})
        else:
            live = len(self.semaphores)
            join = device.create_fence(list(zip(self.semaphores, self.values[:live], strict=True)))
            device.queue_barrier(self.queue_affinity, join, self.signal_fence,
                                 note={"scope": self.scope})

    def fail(self, failure: VMStatus) -> None:
        if self.signal_fence is not None:
            self.signal_fence.fail(failure, source="io_parameters")


def _check_target(key, entry, target: Buffer, buffer_offset: int, length: int) -> None:
    if buffer_offset + length > target.byte_length:
        raise status(
            StatusCode.OUT_OF_RANGE,
            f"parameter `{key}` span does not fit its target buffer (buffer_offset="
            f"{buffer_offset}, length={length}, buffer size={target.byte_length})"
            f"{_where('', entry)}")


def _scope(value) -> str:
    buffer = check_deref(value, VMBuffer, nullable=True)
    if buffer is None:
        return ""
    return bytes(buffer.data).decode("utf-8", "surrogateescape")


def indirect_args(key_table, key_data, spans) -> list[tuple[str, tuple[int, int, int]]]:
    """``iree_io_parameters_prepare_indirect_args`` + the enumerator: (key, span) pairs."""
    key_table = check_deref(key_table, VMBuffer)
    key_data = check_deref(key_data, VMBuffer)
    spans = check_deref(spans, VMBuffer)
    if spans.length % _SPAN_ENTRY.size:
        raise status(StatusCode.INVALID_ARGUMENT,
                      "buffer span storage must be aligned to iree_io_parameters_span_entry_t")
    count = spans.length // _SPAN_ENTRY.size
    if key_table.length < count * _STRING_ENTRY.size:
        raise status(StatusCode.INVALID_ARGUMENT,
                      "key string table must have enough data to service all defined spans")
    data = bytes(key_data.data)
    result = []
    for i in range(count):
        offset, length = _STRING_ENTRY.unpack_from(key_table.data, i * _STRING_ENTRY.size)
        if offset > len(data):
            raise status(StatusCode.OUT_OF_RANGE,
                          "attempted to access an address off the end of the valid buffer "
                          f"range (offset={offset}, length={length}, "
                          f"data_capacity={len(data)})")
        if length and offset + length > len(data):
            raise status(StatusCode.OUT_OF_RANGE,
                          "attempted to access an address outside of the valid buffer range "
                          f"(offset={offset}, length={length}, end(inc)={offset + length - 1}, "
                          f"data_capacity={len(data)})")
        key = data[offset:offset + length].decode("utf-8", "surrogateescape")
        result.append((key, _SPAN_ENTRY.unpack_from(spans.data, i * _SPAN_ENTRY.size)))
    return result


class ParametersModule(NativeModule):
    """``io_parameters`` version 0: ``load``, ``gather`` and ``scatter``."""

    name = "io_parameters"
    version = IO_PARAMETERS_MODULE_VERSION

    def __init__(self, providers=()):
        super().__init__()
        self.providers: list[ParameterProvider] = list(providers)

    @classmethod
    def from_scope_map(cls, scope_map: ScopeMap) -> ParametersModule:
        """One provider per scope, as ``iree_tooling_create_parameters_module_from_flags``."""
        return cls([ParameterProvider(index.scope, index) for index in scope_map])

    def resolve_provider(self, scope: str) -> ParameterProvider:
        for provider in self.providers:
            if provider.query_support(scope):
                return provider
        known = ", ".join(f"'{p.scope}'" for p in self.providers) or "none"
        raise status(StatusCode.NOT_FOUND,
                     f"no provider registered that handles scopes like '{scope}' "
                     f"(scopes provided: {known})")

    def _record(self, device: Device, name: str, args: dict, run):
        recorder = device.recorder
        if recorder is None:
            return run()
        at, wall = recorder.tick(), recorder.wall_ns()
        try:
            result = run()
        except VMStatus as e:
            recorder.record_call(name, args, e.code.name, at=at, wall_ns=wall)
            raise
        recorder.record_call(name, args, at=at, wall_ns=wall)
        return result

    @export("0rIrrrIiirrr_r")
    def load(self, device, queue_affinity, wait_fence, signal_fence, source_scope,
             target_queue_affinity, target_memory_types, target_buffer_usage, key_table,
             key_data, spans):
        device = check_deref(device, Device)
        wait_fence = check_deref(wait_fence, Fence, nullable=True)
        signal_fence = check_deref(signal_fence, Fence, nullable=True)
        scope = _scope(source_scope)
        provider = self.resolve_provider(scope)
        items = indirect_args(key_table, key_data, spans)

        def run():
            buffers = List(_BUFFER_LIST_TYPE, len(items))
            batch = _Batch(provider, device, queue_affinity, wait_fence, signal_fence, scope)
            try:
                for key, span in items:
                    entry = provider.resolve(key, span, MemoryAccess.READ)
                    parameter_offset, buffer_offset, length = span
                    target = batch.alloca(key, entry, target_memory_types, target_buffer_usage,
                                          length)
                    if entry.storage == "splat":
                        batch.splat(key, entry, target, buffer_offset, length)
                    else:
                        batch.read(key, entry, parameter_offset, target, buffer_offset, length)
                    buffers.push_ref(target)
                batch.flush()
            except VMStatus as failure:
                batch.fail(failure)
                raise
            return buffers

        return self._record(device, "io_parameters.load",
                            {"scope": scope, "keys": [k for k, _ in items]}, run)

    @export("0rIrrrrrrr_v")
    def gather(self, device, queue_affinity, wait_fence, signal_fence, source_scope,
               target_buffer, key_table, key_data, spans):
        device = check_deref(device, Device)
        wait_fence = check_deref(wait_fence, Fence, nullable=True)
        signal_fence = check_deref(signal_fence, Fence, nullable=True)
        scope = _scope(source_scope)
        target = check_deref(target_buffer, Buffer)
        provider = self.resolve_provider(scope)
        items = indirect_args(key_table, key_data, spans)

        def run():
            batch = _Batch(provider, device, queue_affinity, wait_fence, signal_fence, scope)
            try:
                for key, span in items:
                    entry = provider.resolve(key, span, MemoryAccess.READ)
                    parameter_offset, buffer_offset, length = span
                    if entry.storage == "splat":
                        batch.splat(key, entry, target, buffer_offset, length)
                    else:
                        batch.read(key, entry, parameter_offset, target, buffer_offset, length)
                batch.flush()
            except VMStatus as failure:
                batch.fail(failure)
                raise

        return self._record(device, "io_parameters.gather",
                            {"scope": scope, "buffer": target.id,
                             "keys": [k for k, _ in items]}, run)

    @export("0rIrrrrrrr_v")
    def scatter(self, device, queue_affinity, wait_fence, signal_fence, source_buffer,
                target_scope, key_table, key_data, spans):
        device = check_deref(device, Device)
        check_deref(wait_fence, Fence, nullable=True)
        signal_fence = check_deref(signal_fence, Fence, nullable=True)
        check_deref(source_buffer, Buffer)
        scope = _scope(target_scope)
        provider = self.resolve_provider(scope)
        items = indirect_args(key_table, key_data, spans)

        def run():
            try:
                for key, span in items:
                    # Parameter files are opened read-only: every write is refused like
                    # IREE's provider refuses it (PERMISSION_DENIED).
                    provider.resolve(key, span, MemoryAccess.WRITE)
                if signal_fence is not None:  # nothing to write: link wait -> signal
                    device.queue_barrier(queue_affinity, wait_fence, signal_fence,
                                         note={"scope": scope})
            except VMStatus as failure:
                if signal_fence is not None:
                    signal_fence.fail(failure, source="io_parameters")
                raise

        return self._record(device, "io_parameters.scatter",
                            {"scope": scope, "keys": [k for k, _ in items]}, run)

    def __repr__(self) -> str:
        scopes = ", ".join(repr(p.scope) for p in self.providers)
        return f"<vm.NativeModule io_parameters version 0 scopes [{scopes}]>"


# -- Which globals load which parameters (static, from the bytecode) -------------------------


@dataclasses.dataclass(frozen=True)
class ParameterBinding:
    """One parameter a module loads: the ``io_parameters`` call, the key and its span,
    and the ref global (``.refs[N]``, as iree-dump-module names it) the loaded buffer
    is stored to, when the bytecode shows it."""

    function: str
    pc: int
    op: str  # "load" | "gather"
    scope: str | None  # None: not a rodata constant
    key: str
    parameter_offset: int
    buffer_offset: int
    length: int
    global_ordinal: int | None = None

    @property
    def global_name(self) -> str | None:
        return f".refs[{self.global_ordinal}]" if self.global_ordinal is not None else None


def parameter_bindings(module) -> list[ParameterBinding]:
    """The parameters a module's initializers load, found by reading their bytecode.

    Follows, in instruction order, rodata constants into ``io_parameters.load`` /
    ``gather`` calls, the loaded buffers out of the result list
    (``vm.list.get.ref``) and into ``vm.global.store.ref``. Register contents are
    tracked linearly (the compiler emits initializers as straight-line code);
    what cannot be followed is left unbound rather than guessed. Reads only.
    """
    from iree_lab.isa import decode_function
    from iree_lab.isa import tables as T
    from iree_lab.isa.decoder import Register

    imports = [i.full_name for i in module.imports]
    bindings: list[ParameterBinding] = []
    for function in module.functions:
        try:
            decoded = decode_function(module, function, strict=False)
        except FormatError:
            continue
        if not any(i.name.startswith("vm.call") for i in decoded.instructions):
            continue
        found = _bindings_of(module, function.iree_name, decoded, imports, T, Register)
        bindings.extend(found)
    return bindings


def _bindings_of(module, name, decoded, imports, T, Register) -> list[ParameterBinding]:
    regs: dict = {}
    calls: list[list[ParameterBinding]] = []

    def key(kind, raw):
        reg = Register.decode(kind, raw)
        return ("r" if reg.is_ref else "i", reg.ordinal)

    def rodata(ref_key) -> bytes | None:
        value = regs.get(ref_key)
        if isinstance(value, tuple) and value[0] == "rodata":
            try:
                return bytes(module.rodata[value[1]].data)
            except (IndexError, FormatError):
                return None
        return None

    for inst in decoded.instructions:
        op = inst.name
        fields = dict(zip((f.name for f in inst.op.fields), inst.values, strict=True))
        kinds = {f.name: f for f in inst.op.fields}
        handled = None
        if op in ("vm.const.i32", "vm.const.i64"):
            handled = (key(kinds["result"].kind, fields["result"]), fields["value"])
        elif op in ("vm.const.i32.zero", "vm.const.i64.zero"):
            handled = (key(kinds["result"].kind, fields["result"]), 0)
        elif op == "vm.const.ref.rodata":
            handled = (key(kinds["value"].kind, fields["value"]), ("rodata", fields["rodata"]))
        elif op == "vm.list.get.ref":
            source = regs.get(key(kinds["list"].kind, fields["list"]))
            index = regs.get(key(kinds["index"].kind, fields["index"]))
            value = None
            if isinstance(source, tuple) and source[0] == "load" and isinstance(index, int):
                value = ("buffer", source[1], index)
            handled = (key(kinds["result"].kind, fields["result"]), value)
        elif op == "vm.global.store.ref":
            value = regs.get(key(kinds["value"].kind, fields["value"]))
            if isinstance(value, tuple) and value[0] == "buffer":
                entries = calls[value[1]]
                if 0 <= value[2] < len(entries):
                    entries[value[2]] = dataclasses.replace(
                        entries[value[2]], global_ordinal=fields["global"])
            elif isinstance(value, tuple) and value[0] == "gather":
                calls[value[1]][:] = [dataclasses.replace(b, global_ordinal=fields["global"])
                                      for b in calls[value[1]]]
        elif op.startswith("vm.call") and "callee_ordinal" in fields:
            callee = fields["callee_ordinal"]
            callee_name = None
            if callee & 0x80000000 and (callee & 0x7FFFFFFF) < len(imports):
                callee_name = imports[callee & 0x7FFFFFFF]
            operands = [key(T.ANY, raw) for raw in fields.get("operands", ())]
            if callee_name in ("io_parameters.load", "io_parameters.gather") \
                    and len(operands) >= 9:
                kind = callee_name.split(".")[1]
                scope_bytes = rodata(operands[4])
                scope = (scope_bytes.decode("utf-8", "surrogateescape")
                         if scope_bytes is not None else
                         ("" if regs.get(operands[4], "?") is None else None))
                tail = operands[-3:]
                table, data, spans = (rodata(k) for k in tail)
                entries = []
                if table is not None and data is not None and spans is not None:
                    for i in range(len(spans) // _SPAN_ENTRY.size):
                        if (i + 1) * _STRING_ENTRY.size > len(table):
                            break
                        off, n = _STRING_ENTRY.unpack_from(table, i * _STRING_ENTRY.size)
                        p_off, b_off, length = _SPAN_ENTRY.unpack_from(spans, i * _SPAN_ENTRY.size)
                        entries.append(ParameterBinding(
                            name, inst.pc, kind, scope,
                            data[off:off + n].decode("utf-8", "surrogateescape"),
                            p_off, b_off, length))
                calls.append(entries)
                if kind == "gather":
                    regs[operands[5]] = ("gather", len(calls) - 1)
                results = [key(T.ANY, raw) for raw in fields.get("results", ())]
                if kind == "load" and results:
                    regs[results[0]] = ("load", len(calls) - 1)
                continue
        # Anything else an instruction writes is no longer known.
        for f, v in zip(inst.op.fields, inst.values, strict=True):
            if f.access == T.WRITE:
                if f.kind == T.REG_LIST:
                    for raw in v:
                        regs[key(f.element if f.element is not None else T.ANY, raw)] = None
                elif f.kind in T.REGISTER_KINDS:
                    regs[key(f.kind, v)] = None
        if handled is not None:
            regs[handled[0]] = handled[1]
    return [b for entries in calls for b in entries]


class ModuleParameters:
    """A module's parameter bindings next to the parameter files meant to serve them.

    ``files``: ParameterFiles or paths. ``missing`` lists bindings no file provides
    (by key; scopes are how the files are registered at run time, not known here).
    Shows as a table in a notebook, globals and keys linked both ways.
    """

    def __init__(self, module, files=()):
        from iree_lab.format.parameters import open_parameter_file

        self.module = module
        self.bindings = parameter_bindings(module)
        self.files = [f if isinstance(f, ParameterFile) else open_parameter_file(f)
                      for f in files]

    @property
    def missing(self) -> list[ParameterBinding]:
        keys = {e.key for f in self.files for e in f.entries}
        return [b for b in self.bindings if b.key not in keys]

    def __repr__(self) -> str:
        return (f"<ModuleParameters {len(self.bindings)} bindings, {len(self.files)} files, "
                f"{len(self.missing)} missing>")
