"""Native CPU executables: ``embedded-elf-*`` and ``system-elf-*`` libraries run through ctypes.

These are the executables ``iree-compile`` writes for the ``llvm-cpu`` backend.
Each is a shared object exporting ``iree_hal_executable_library_query``, which
returns the library table of ``hal/local/executable_library.h`` (version 0.6):
a header, imports, and the export table of dispatch functions with their
attributes. IREE's local HAL calls a dispatch function once per workgroup with
three pointers: the executable's environment, the dispatch state (workgroup
size and count, constants, binding pointers) and the workgroup state (id,
processor, local memory). iree_lab does exactly that with ctypes: binding
pointers point straight into the HAL buffers (no copies).

Loading follows IREE's loaders:

* embedded ELF (``loaders/embedded_elf_loader.c``): the image is validated and
  mapped by :mod:`iree_lab.hal.elf_module` (no system loader involved);
* system ELF (``loaders/system_library_loader.c``): the library (less an optional
  ``IREEDBG`` footer) goes to a private temporary file that the OS loader opens;
  the headers are validated first and the file is removed once loaded.

Native code runs only when an executable is created or dispatched, which only
running a program does; a device made with ``native=False`` refuses these
formats with PERMISSION_DENIED. ``local-task`` devices run a dispatch's
workgroups on a thread pool (ctypes releases the GIL during each call), each
worker with its own workgroup state and local memory, like IREE's task system;
results are the same as ``local-sync`` because workgroups write disjoint data.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import functools
import os
import shutil
import struct
import sys
import tempfile
import threading

import numpy as np

from iree_lab.format.executables.library import (
    LIBRARY_LAYOUTS,
    LibraryLayout,
    read_dispatch_attrs,
)
from iree_lab.hal import cpu, elf_module
from iree_lab.hal.buffer import aligned_zeros
from iree_lab.hal.executable import (
    LOCAL_MEMORY_PAGE_SIZE,
    DispatchState,
    Executable,
    ExecutableExport,
    ExecutableLoader,
)
from iree_lab.hal.fpu import flush_denormals
from iree_lab.hal.types import status
from iree_lab.vm.status import StatusCode

LIBRARY_QUERY_SYMBOL = "iree_hal_executable_library_query"
LIBRARY_VERSION = 0x00000006  # IREE_HAL_EXECUTABLE_LIBRARY_VERSION_0_6 (3.13's latest)
MAX_CONSTANT_COUNT = 64  # IREE_HAL_EXECUTABLE_MAX_CONSTANT_COUNT
MAX_BINDING_COUNT = 64  # IREE_HAL_EXECUTABLE_MAX_BINDING_COUNT
SANITIZER_NAMES = {1: "ASAN", 2: "MSAN", 3: "TSAN", 4: "UBSAN"}
MAX_EXPORTS = 1 << 16


class EnvironmentV0(ctypes.Structure):
    """``iree_hal_executable_environment_v0_t``."""

    _fields_ = [
        ("constants", ctypes.c_void_p),
        ("import_thunk", ctypes.c_void_p),
        ("import_funcs", ctypes.c_void_p),
        ("import_contexts", ctypes.c_void_p),
        ("processor", ctypes.c_uint64 * cpu.PROCESSOR_DATA_CAPACITY),
    ]


class DispatchStateV0(ctypes.Structure):
    """``iree_hal_executable_dispatch_state_v0_t``."""

    _fields_ = [
        ("workgroup_size_x", ctypes.c_uint32),
        ("workgroup_size_y", ctypes.c_uint32),
        ("workgroup_size_z", ctypes.c_uint16),
        ("constant_count", ctypes.c_uint16),
        ("workgroup_count_x", ctypes.c_uint32),
        ("workgroup_count_y", ctypes.c_uint32),
        ("workgroup_count_z", ctypes.c_uint16),
        ("max_concurrency", ctypes.c_uint8),
        ("binding_count", ctypes.c_uint8),
        ("constants", ctypes.c_void_p),
        ("binding_ptrs", ctypes.c_void_p),
        ("binding_lengths", ctypes.c_void_p),
    ]


class WorkgroupStateV0(ctypes.Structure):
    """``iree_hal_executable_workgroup_state_v0_t``."""

    _fields_ = [
        ("workgroup_id_x", ctypes.c_uint32),
        ("workgroup_id_y", ctypes.c_uint32),
        ("workgroup_id_z", ctypes.c_uint16),
        ("reserved", ctypes.c_uint16),
        ("processor_id", ctypes.c_uint32),
        ("local_memory", ctypes.c_void_p),
        ("local_memory_size", ctypes.c_uint32),
    ]


_QUERY_FN = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p)
_DISPATCH_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
# iree_hal_executable_import_thunk_v0_t: thunk(fn, params, context, reserved).
_IMPORT_THUNK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                                 ctypes.c_void_p, ctypes.c_void_p)
_IMPORT_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)


@_IMPORT_THUNK
def _import_thunk(fn, params, context, reserved):
    # Only optional imports exist here (required ones refuse to load) and they
    # resolve to NULL, which generated code checks before calling.
    if not fn:
        return -1
    return _IMPORT_FN(fn)(params, context, reserved)


class _Reader:
    """Bounded reads of a loaded library's tables (pointers from native code)."""

    def __init__(self, read):
        self._read = read  # (address, size) -> bytes | None

    def bytes(self, address: int, size: int, what: str) -> bytes:
        raw = self._read(address, size) if address else None
        if raw is None or len(raw) != size:
            raise status(StatusCode.FAILED_PRECONDITION,
                         f"executable library {what} at 0x{address:x} ({size} bytes) is not "
                         "inside the loaded image")
        return raw

    def u32(self, address: int, what: str) -> int:
        return struct.unpack("<I", self.bytes(address, 4, what))[0]

    def ptr(self, address: int, what: str) -> int:
        return struct.unpack("<Q", self.bytes(address, 8, what))[0]

    def cstring(self, address: int, what: str) -> str:
        chunk = b""
        while len(chunk) < 4096:
            piece = self._read(address + len(chunk), 64) or self._read(address + len(chunk), 1)
            if not piece:
                break
            chunk += piece
            end = chunk.find(b"\0")
            if end >= 0:
                return chunk[:end].decode("utf-8", "replace")
        raise status(StatusCode.FAILED_PRECONDITION,
                     f"executable library {what} at 0x{address:x} is not a NUL-terminated "
                     "string inside the loaded image")


class NativeExecutable(Executable):
    """A loaded CPU library: its export table and dispatch function pointers."""

    __slots__ = ("library_name", "library_version", "data", "_image", "_environment",
                 "_dispatch_fns", "_keep", "_import_symbols", "_parsed")

    def __init__(self, executable_format: str, data, constants):
        data = memoryview(data).cast("B")
        super().__init__(None, executable_format, (), constants, len(data))
        self.data = data  # the executable's bytes (static reading: listings)
        self.library_name = ""
        self.library_version = 0
        self._parsed = None  # the static reading, for listings (parsed on first use)
        self._image = None  # LoadedImage (embedded) or ctypes.CDLL (system)
        self._environment = EnvironmentV0()
        self._environment.processor[:] = cpu.processor_data()
        self._dispatch_fns: list = []
        self._keep: list = []
        self._import_symbols: tuple[str, ...] = ()

    # -- Loading ------------------------------------------------------------------------

    def _set_constants(self) -> None:
        if self.constants:
            array = (ctypes.c_uint32 * len(self.constants))(*self.constants)
            self._keep.append(array)
            self._environment.constants = ctypes.addressof(array)

    def _query(self, query_address: int, reader: _Reader, is_code) -> None:
        """``query_library`` + import setup + ``iree_hal_executable_library_verify``."""
        self._set_constants()
        query = _QUERY_FN(query_address)
        for layout in LIBRARY_LAYOUTS:
            header_pp = query(layout.version, ctypes.addressof(self._environment))
            if header_pp:
                break
        else:
            raise status(StatusCode.FAILED_PRECONDITION,
                         "executable does not support this version of the runtime "
                         f"({LIBRARY_VERSION:08X})")
        self.library_version = layout.version
        library = header_pp  # the header pointer is the library table's first field
        header = reader.ptr(library, "header pointer")
        sanitizer = struct.unpack("<i", reader.bytes(header + 20, 4, "header"))[0]
        if sanitizer:
            name = SANITIZER_NAMES.get(sanitizer)
            raise status(
                StatusCode.UNAVAILABLE,
                f"executable library is compiled with {name} support but the host runtime is "
                "not compiled with it enabled" if name else
                "executable library requires a sanitizer the host runtime is not compiled to "
                f"enable/understand: {sanitizer}")
        name_ptr = reader.ptr(header + 8, "header name")
        self.library_name = reader.cstring(name_ptr, "name") if name_ptr else ""
        self._resolve_imports(reader, library)
        self._read_exports(reader, library, is_code, layout)

    def _resolve_imports(self, reader: _Reader, library: int) -> None:
        count = reader.u32(library + 8, "import count")
        if not count:
            return
        if count > MAX_EXPORTS:
            raise status(StatusCode.FAILED_PRECONDITION, f"import count {count} is implausible")
        symbols_ptr = reader.ptr(library + 16, "import symbols")
        symbols = tuple(reader.cstring(reader.ptr(symbols_ptr + 8 * i, "import symbol"),
                                       "import symbol") for i in range(count))
        self._import_symbols = symbols
        required = [s for s in symbols if not s.startswith("?")]
        if required:
            raise status(
                StatusCode.UNAVAILABLE,
                "no import provider registered for resolving required executable imports "
                f"({', '.join(required)}); iree_lab loads no executable plugins")
        funcs = (ctypes.c_void_p * count)()
        contexts = (ctypes.c_void_p * count)()
        self._keep += [funcs, contexts]
        self._environment.import_thunk = ctypes.cast(_import_thunk, ctypes.c_void_p).value
        self._environment.import_funcs = ctypes.addressof(funcs)
        self._environment.import_contexts = ctypes.addressof(contexts)

    def _read_exports(self, reader: _Reader, library: int, is_code,
                      layout: LibraryLayout = LIBRARY_LAYOUTS[0]) -> None:
        count = reader.u32(library + 3 * 8, "export count")
        if count > MAX_EXPORTS:
            raise status(StatusCode.FAILED_PRECONDITION, f"export count {count} is implausible")
        ptrs = reader.ptr(library + layout.export_field("ptrs", 8), "export pointers")
        attrs = reader.ptr(library + layout.export_field("attrs", 8), "export attributes")
        names = reader.ptr(library + layout.export_field("names", 8), "export names")
        constant_count = reader.u32(library + layout.constant_count(8), "constant count")
        # iree_hal_executable_library_verify, in its order.
        if constant_count != len(self.constants):
            raise status(StatusCode.FAILED_PRECONDITION,
                         f"executable requires {constant_count} constants but caller provided "
                         f"{len(self.constants)}; must match")
        if not attrs:
            raise status(StatusCode.FAILED_PRECONDITION,
                         "executable exports must provide dispatch attributes")
        if count and not names:
            raise status(StatusCode.FAILED_PRECONDITION,
                         "executable exports must provide function names")
        exports, fns = [], []
        for i in range(count):
            raw = reader.bytes(attrs + layout.attrs_size * i,
                               24 if layout.attrs_have_flags else 4, f"export {i} attributes")
            # 0.5 has no workgroup size (0: the dispatch says 1x1x1).
            _, pages, constants, bindings, size, _ = read_dispatch_attrs(raw, layout)
            if constants > MAX_CONSTANT_COUNT:
                raise status(StatusCode.OUT_OF_RANGE,
                             f"dispatch requiring {constants} constants exceeds limit of "
                             f"{MAX_CONSTANT_COUNT}")
            if bindings > MAX_BINDING_COUNT:
                raise status(StatusCode.OUT_OF_RANGE,
                             f"dispatch requiring {bindings} bindings exceeds limit of "
                             f"{MAX_BINDING_COUNT}")
            name_ptr = reader.ptr(names + 8 * i, f"export {i} name")
            name = reader.cstring(name_ptr, f"export {i} name") if name_ptr else ""
            if not name:
                raise status(StatusCode.FAILED_PRECONDITION,
                             f"executable export {i} missing function name")
            fn = reader.ptr(ptrs + 8 * i, f"export {i} function pointer") if ptrs else 0
            if not fn or not is_code(fn):
                raise status(StatusCode.FAILED_PRECONDITION,
                             f"executable export {i} ({name}) function pointer 0x{fn:x} is not "
                             "inside the image's code")
            exports.append(ExecutableExport(
                ordinal=i, name=name, constant_count=constants, binding_count=bindings,
                local_memory_size=pages * LOCAL_MEMORY_PAGE_SIZE,
                workgroup_size=size))
            fns.append(_DISPATCH_FN(fn))
        self.exports = tuple(exports)
        self._dispatch_fns = fns

    def listing(self, function: int) -> tuple[str, list[str]]:
        """The export's machine code disassembled (read statically, like BlobView)."""
        from iree_lab.format.executables import parse_executable
        from iree_lab.hal.executables import export_listing

        if self._parsed is None:
            self._parsed = parse_executable(self.data, self.format)
        parsed = self._parsed
        info = self.function_info(function)
        export = next((e for e in parsed.exports if e.name == info.name), None)
        if export is None:
            return ("none", [f"export {info.name!r} not found by the static reader"])
        return export_listing(parsed, export)

    # -- Dispatch -----------------------------------------------------------------------

    def dispatch(self, function: int, state: DispatchState, on_workgroup=None) -> None:
        """Calls the export once per workgroup (z, then y, then x innermost)."""
        info = self.function_info(function)
        fn = self._dispatch_fns[function]
        constants = np.ascontiguousarray(state.constants, dtype=np.uint32)
        views = state.bindings
        ptrs = (ctypes.c_void_p * max(len(views), 1))(*[v.ctypes.data for v in views])
        lengths = (ctypes.c_size_t * max(len(views), 1))(*[v.nbytes for v in views])
        size_x, size_y, size_z = (int(v) or 1 for v in state.workgroup_size)
        count_x, count_y, count_z = (int(v) & 0xFFFFFFFF for v in state.workgroup_count)
        dispatch_state = DispatchStateV0(
            workgroup_size_x=size_x, workgroup_size_y=size_y, workgroup_size_z=size_z & 0xFFFF,
            constant_count=len(constants), workgroup_count_x=count_x,
            workgroup_count_y=count_y, workgroup_count_z=count_z & 0xFFFF,
            max_concurrency=max(1, min(state.max_concurrency, 255)),
            binding_count=len(views), constants=constants.ctypes.data if len(constants) else None,
            binding_ptrs=ctypes.addressof(ptrs), binding_lengths=ctypes.addressof(lengths))
        total = count_x * count_y * dispatch_state.workgroup_count_z
        workers = 1 if on_workgroup is not None else min(state.max_concurrency, total)
        cancel = threading.Event()  # set: workers stop before their next workgroup
        args = (self, info.name, fn, dispatch_state, state.local_memory_size,
                state.flush_denormals, cancel)
        if workers <= 1:
            _run_workgroups(*args, 0, total, 0, on_workgroup)
            return
        pool = _pool(workers)
        chunk = -(-total // workers)
        futures = [pool.submit(_run_workgroups, *args, start, min(start + chunk, total), worker,
                               None)
                   for worker, start in enumerate(range(0, total, chunk))]
        try:
            errors = [f.exception() for f in futures]
        except BaseException:  # Ctrl-C while waiting: stop the workers, leave nothing running
            cancel.set()
            concurrent.futures.wait(futures)
            raise
        for error in errors:
            if error is not None:
                raise error


def _run_workgroups(executable, name, fn, dispatch_state, local_memory_size, flush, cancel,
                    start, end, processor_id, on_workgroup) -> None:
    """Workgroups [start, end) in z/y/x order (flat index x fastest) on this thread."""
    local = aligned_zeros(local_memory_size) if local_memory_size else None
    workgroup = WorkgroupStateV0(
        processor_id=processor_id,
        local_memory=local.ctypes.data if local is not None else None,
        local_memory_size=local_memory_size)
    env = ctypes.addressof(executable._environment)
    ds = ctypes.addressof(dispatch_state)
    wg = ctypes.addressof(workgroup)
    count_x, count_y = dispatch_state.workgroup_count_x, dispatch_state.workgroup_count_y
    with flush_denormals() if flush else contextlib.nullcontext():
        for index in range(start, end):
            if cancel.is_set():
                return
            x = index % count_x
            y = index // count_x % count_y
            z = index // (count_x * count_y)
            workgroup.workgroup_id_x, workgroup.workgroup_id_y, workgroup.workgroup_id_z = x, y, z
            if on_workgroup is not None:
                on_workgroup((x, y, z))
            ret = fn(env, ds, wg)
            if ret != 0:
                error = status(StatusCode.INTERNAL,
                               f"executable entry point returned catastrophic error {ret}")
                error.annotate(f"in native dispatch {name} workgroup {(x, y, z)}")
                raise error


@functools.cache
def _pool(workers: int) -> concurrent.futures.ThreadPoolExecutor:
    return concurrent.futures.ThreadPoolExecutor(max_workers=workers,
                                                 thread_name_prefix="iree_lab-task")


class _NativeLoader(ExecutableLoader):
    """Shared policy of the CPU loaders: host architecture only; native code opt-out."""

    prefix = ""

    def __init__(self, *, native: bool = True):
        self.native = native

    def query_support(self, executable_format: str) -> bool:
        return cpu.HOST_ARCH is not None and executable_format.startswith(
            f"{self.prefix}{cpu.HOST_ARCH}")

    def _refuse_if_disabled(self, executable_format: str) -> None:
        if not self.native:
            raise status(
                StatusCode.PERMISSION_DENIED,
                f"executable format '{executable_format}' runs native code and native "
                "executables are disabled (--no_native / native=False)")


class EmbeddedELFLoader(_NativeLoader):
    """``iree_hal_embedded_elf_loader``: formats ``embedded-elf-<host arch>``."""

    prefix = "embedded-elf-"

    def try_load(self, device, executable_format: str, data, constants) -> Executable:
        self._refuse_if_disabled(executable_format)
        raw = memoryview(data).cast("B")
        layout = elf_module.plan(raw)
        query_vaddr = layout.lookup_export(LIBRARY_QUERY_SYMBOL)  # before anything is mapped
        executable = NativeExecutable(executable_format, raw, constants)
        loaded = layout.map()
        executable._image = loaded

        def is_code(address: int) -> bool:
            seg = layout.segment_at(address - loaded.bias)
            return seg is not None and seg.executable

        query = loaded.address(query_vaddr)
        executable._query(query, _Reader(loaded.read), is_code)
        return executable


# iree_hal_system_executable_footer_t: magic, version, flags, library offset/size, debug.
_FOOTER = struct.Struct("<8sIIQQQQ")
_FOOTER_MAGIC = b"IREEDBG\0"


class SystemLibraryLoader(_NativeLoader):
    """``iree_hal_system_library_loader``: formats ``system-elf-<host arch>`` (OS loader)."""

    prefix = "system-elf-"

    def query_support(self, executable_format: str) -> bool:
        return sys.platform.startswith("linux") and super().query_support(executable_format)

    def try_load(self, device, executable_format: str, data, constants) -> Executable:
        self._refuse_if_disabled(executable_format)
        raw = bytes(memoryview(data).cast("B"))
        library_data = raw
        if len(raw) >= _FOOTER.size:
            magic, _, _, _, library_size, debug_offset, debug_size = _FOOTER.unpack_from(
                raw, len(raw) - _FOOTER.size)
            if magic == _FOOTER_MAGIC:
                length = len(raw) - _FOOTER.size
                if library_size > length or debug_offset + debug_size > length:
                    raise status(StatusCode.OUT_OF_RANGE,
                                 "system library footer references out of range bytes")
                library_data = raw[:library_size]
        # The OS loader maps it: check what iree_lab can before handing it over.
        machine = elf_module.MACHINES.get(cpu.HOST_ARCH or "", -1)
        ehdr = elf_module.verify_ehdr(library_data, machine)
        elf_module.read_program_headers(library_data, ehdr[5], ehdr[10])
        executable = NativeExecutable(executable_format, data, constants)
        directory = tempfile.mkdtemp(prefix="iree_lab-aot-")
        try:
            path = os.path.join(directory, "aot.so")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o500)
            with os.fdopen(fd, "wb") as f:
                f.write(library_data)
            try:
                handle = ctypes.CDLL(path, mode=os.RTLD_LOCAL | os.RTLD_NOW)
            except OSError as e:
                raise status(StatusCode.UNAVAILABLE,
                             f"unable to load the system library: {e}") from None
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        executable._image = handle
        try:
            query = ctypes.cast(getattr(handle, LIBRARY_QUERY_SYMBOL), ctypes.c_void_p).value
        except AttributeError:
            raise status(StatusCode.NOT_FOUND,
                         f"symbol '{LIBRARY_QUERY_SYMBOL}' not found in library") from None
        executable._query(query, _Reader(_read_process_memory), lambda address: True)
        return executable


def _read_process_memory(address: int, size: int) -> bytes | None:
    """Reads this process's memory without faulting on unmapped addresses."""
    try:
        fd = _proc_self_mem()
        return os.pread(fd, size, address)
    except (OSError, OverflowError, ValueError):
        return None


@functools.cache
def _proc_self_mem() -> int:
    return os.open("/proc/self/mem", os.O_RDONLY)


def native_loaders(*, native: bool = True) -> list[ExecutableLoader]:
    """The CPU loaders a local device registers (after VMVX), like IREE's registration."""
    return [EmbeddedELFLoader(native=native), SystemLibraryLoader(native=native)]
