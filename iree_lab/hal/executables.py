"""Finding a module's executables, and the host code that selects and dispatches them.

Nothing runs: the facts come from decoded bytecode plus rodata. A small
forward data-flow pass over each function tracks what every register holds
(a rodata segment, a global, a constant, the result of a HAL call) and reads
the arguments of the HAL calls that matter:

* ``hal.executable.create(device, affinity, format, data, constants)``: the
  format string and the rodata segment holding the executable blob; the result
  is usually stored into a global ref.
* ``hal.device.query.i64(device, category, key)``: device/variant selection
  (``hal.device.id`` patterns and ``hal.executable.format`` support checks).
* ``hal.executable.lookup.function(executable, name)``: the export name host
  code resolves (an i64 ordinal).
* ``hal.command_buffer.dispatch[.indirect](cmd, executable, ordinal, ...)``:
  each dispatch site, linked to the export by lookup name or constant ordinal.

The pass is linear per function (branch remaps copy values along), which is
exact for the straight-line code the compiler emits around these calls.
Damaged bytecode never raises: the function is skipped with a note.
"""

from __future__ import annotations

import dataclasses
import functools

from iree_lab.errors import FormatError
from iree_lab.format.executables import Executable, parse_executable, sniff_container
from iree_lab.format.executables.model import Note
from iree_lab.format.module import cconv_fragments
from iree_lab.isa import tables as T

NON_VARIADIC = 0xFFFF  # segment size marking a non-variadic argument


@dataclasses.dataclass(frozen=True, slots=True)
class CodeSite:
    """An instruction in host code: function (display name and ordinal) and pc."""

    function: str
    function_ordinal: int
    pc: int

    def __str__(self) -> str:
        return f"{self.function}+{self.pc:08X}"


@dataclasses.dataclass(frozen=True, slots=True)
class DeviceQuery:
    """A ``hal.device.query.i64`` with constant strings (device/variant selection)."""

    site: CodeSite
    category: str
    key: str


@dataclasses.dataclass(frozen=True, slots=True)
class DispatchSite:
    """A ``hal.command_buffer.dispatch`` (or ``.indirect``) of one executable export."""

    site: CodeSite
    import_name: str
    export_ordinal: int | None
    export_name: str | None
    # Constant workgroup counts (None where not a constant or indirect).
    workgroup_count: tuple[int | None, int | None, int | None] | None
    constant_count: int | None
    binding_count: int | None


@dataclasses.dataclass(frozen=True, slots=True)
class LookupSite:
    site: CodeSite
    name: str


@dataclasses.dataclass(slots=True)
class ModuleExecutable:
    """One executable of a module: its blob, how it is selected, where it is used."""

    ordinal: int
    rodata_ordinal: int
    format: str | None
    size: int
    file_offset: int
    archive_name: str | None
    create_sites: list[CodeSite] = dataclasses.field(default_factory=list)
    global_ordinals: list[int] = dataclasses.field(default_factory=list)
    # The device-selection queries (hal.device.id) and format checks
    # (hal.executable.format == this format) found in the creating functions.
    device_queries: list[DeviceQuery] = dataclasses.field(default_factory=list)
    format_queries: list[DeviceQuery] = dataclasses.field(default_factory=list)
    lookups: list[LookupSite] = dataclasses.field(default_factory=list)
    dispatches: list[DispatchSite] = dataclasses.field(default_factory=list)
    _module: object = dataclasses.field(default=None, repr=False)
    _parsed: Executable | None = dataclasses.field(default=None, repr=False)

    @property
    def data(self) -> memoryview:
        return self._module.rodata[self.rodata_ordinal].data

    @property
    def container(self) -> str:
        return sniff_container(self.data[:16])

    def parse(self) -> Executable:
        """The parsed container (cached); damage is in ``.notes``, never raised."""
        if self._parsed is None:
            try:
                data = self.data
            except FormatError as e:
                exe = parse_executable(b"", self.format)
                exe.notes.insert(0, Note(f"rodata segment unreadable: {e}"))
                self._parsed = exe
            else:
                self._parsed = parse_executable(data, self.format)
        return self._parsed

    @property
    def device_ids(self) -> list[str]:
        return sorted({q.key for q in self.device_queries})

    @property
    def looked_up_names(self) -> list[str]:
        return list(dict.fromkeys(lookup.name for lookup in self.lookups))

    def dispatches_of(self, export) -> list[DispatchSite]:
        """Dispatch sites of an export (ordinal, name or ExecutableExport)."""
        if hasattr(export, "ordinal") and hasattr(export, "name"):
            ordinal, name = export.ordinal, export.name
        elif isinstance(export, int):
            ordinal, name = export, None
        else:
            ordinal, name = None, export
            try:
                ordinal = self.parse().export(export).ordinal
            except KeyError:
                pass
        return [d for d in self.dispatches
                if (name is not None and d.export_name == name) or
                (d.export_name is None and ordinal is not None and d.export_ordinal == ordinal)]

    @property
    def name(self) -> str:
        """A display name: the ZIP entry name without extension, else ``executable_N``."""
        if self.archive_name:
            return self.archive_name.rsplit(".", 1)[0]
        return f"executable_{self.ordinal}"


@dataclasses.dataclass(slots=True)
class ExecutableDiscovery:
    executables: list[ModuleExecutable]
    notes: list[Note]
    # Dispatches whose executable could not be traced to a create call.
    unresolved_dispatches: list[DispatchSite]

    def __iter__(self):
        return iter(self.executables)

    def __len__(self):
        return len(self.executables)

    def __getitem__(self, i):
        return self.executables[i]

    def find(self, key) -> ModuleExecutable:
        """By ordinal, rodata ordinal (``"rodata:N"``), name, or an export's name."""
        for exe in self.executables:
            if key == exe.ordinal or key == exe.name or key == f"rodata:{exe.rodata_ordinal}":
                return exe
        for exe in self.executables:
            if isinstance(key, str) and (key in exe.looked_up_names or
                                         any(key in (e.name, e.symbol)
                                             for e in exe.parse().exports)):
                return exe
        raise KeyError(key)


def find_executables(module) -> ExecutableDiscovery:
    """Every executable of ``module`` with its format, selection and dispatch sites."""
    from iree_lab.isa import decode_function

    notes: list[Note] = []
    state = _State(module, notes)
    try:
        functions = module.functions
    except FormatError as e:
        notes.append(Note(f"function table unreadable: {e}"))
        functions = ()
    for ordinal in range(len(functions)):
        try:
            fn = decode_function(module, ordinal)
        except FormatError as e:
            notes.append(Note(f"function {ordinal} not analysed: {e.what}", e.where, e.offset))
            partial = getattr(e, "partial", None)
            if partial is None:
                continue
            fn = partial
        state.scan(functions[ordinal], fn)
    return state.finish()


class _State:
    def __init__(self, module, notes: list[Note]):
        self.module = module
        self.notes = notes
        self.by_rodata: dict[int, ModuleExecutable] = {}
        # global ref ordinal -> rodata ordinals of executables stored there
        self.global_exes: dict[int, set[int]] = {}
        # Per function, facts waiting for the global map: (site, exe value, ...).
        self.pending_lookups: list[tuple[LookupSite, tuple]] = []
        self.pending_dispatches: list[tuple[DispatchSite, tuple]] = []
        self.queries: dict[int, list[DeviceQuery]] = {}  # function ordinal -> queries
        self.imports = self._imports()

    def _imports(self) -> list[tuple[str, str]]:
        out = []
        try:
            for imp in self.module.imports:
                out.append((imp.full_name or "", _cconv_args(imp.calling_convention)))
        except FormatError as e:
            self.notes.append(Note(f"import table unreadable: {e}"))
        return out

    @functools.cached_property
    def rodata(self):
        try:
            return self.module.rodata
        except FormatError as e:
            self.notes.append(Note(f"rodata table unreadable: {e}"))
            return ()

    def rodata_string(self, ordinal: int) -> str | None:
        if not 0 <= ordinal < len(self.rodata):
            return None
        segment = self.rodata[ordinal]
        if segment.size > 4096:
            return None
        try:
            raw = bytes(segment.data)
        except FormatError:
            return None
        text = raw.decode("utf-8", "replace")
        return text if text.isprintable() else None

    # -- per function ----------------------------------------------------------
    def scan(self, function, fn) -> None:
        name = function.iree_name  # the name IREE's tools print, as every view shows it
        values: dict[tuple[str, int], tuple] = {}
        queries = self.queries.setdefault(function.ordinal, [])

        def site(pc: int) -> CodeSite:
            return CodeSite(name, function.ordinal, pc)

        for inst in fn:
            op = inst.name
            if op == "vm.const.ref.rodata":
                values[_ref(inst.get("value"))] = ("rodata", inst.get("rodata"))
            elif op == "vm.global.load.ref":
                values[_ref(inst.get("value"))] = ("global", inst.get("global"))
            elif op == "vm.global.store.ref":
                value = values.get(_ref(inst.get("value")))
                if value and value[0] == "executable":
                    self.global_exes.setdefault(inst.get("global"), set()).add(value[1])
                    exe = self.by_rodata.get(value[1])
                    if exe is not None and inst.get("global") not in exe.global_ordinals:
                        exe.global_ordinals.append(inst.get("global"))
            elif op in ("vm.const.i32", "vm.const.i64"):
                values[_int(inst.get("result"))] = ("const", inst.get("value"))
            elif op in ("vm.const.i32.zero", "vm.const.i64.zero"):
                values[_int(inst.get("result"))] = ("const", 0)
            elif op.startswith("vm.call"):
                self._call(inst, values, site, queries)
                continue
            else:
                # Any other write makes the destination unknown.
                for result in inst.results:
                    for reg in result.registers:
                        values.pop(_key(reg), None)
            for _label, _target, remap in inst.branches:
                moved = {}
                for src, dst in remap:
                    moved[_raw_key(dst)] = values.get(_raw_key(src))
                for k, v in moved.items():
                    if v is None:
                        values.pop(k, None)
                    else:
                        values[k] = v

    def _call(self, inst, values, site, queries) -> None:
        callee = inst.callee or 0
        results = inst.get("results")
        for raw in results:
            values.pop(_raw_key(raw), None)
        if not callee & T.FUNCTION_ORDINAL_IMPORT_BIT:
            return
        ordinal = callee & ~T.FUNCTION_ORDINAL_IMPORT_BIT
        if ordinal >= len(self.imports):
            return
        import_name, cconv = self.imports[ordinal]
        try:
            segments = inst.get("segment_sizes")
        except KeyError:
            segments = None
        args = _expand(cconv, segments, inst.get("operands"))
        if args is None:
            return

        def val(arg):
            return values.get(_raw_key(arg)) if isinstance(arg, int) else None

        def rodata_of(arg):
            v = val(arg)
            return v[1] if v and v[0] == "rodata" else None

        def const_of(arg):
            v = val(arg)
            return v[1] if v and v[0] == "const" else None

        if import_name in ("hal.executable.create", "hal_loader.executable.load") and \
                len(args) >= 3:
            # hal v6/v7: (device, queue affinity, format, data, constants); v5 (IREE
            # 3.0): (device, format, data, constants); hal_loader: (format, data, constants).
            if import_name == "hal_loader.executable.load":
                fmt_arg, data_arg = args[0], args[1]
            elif cconv == "rrrr":
                fmt_arg, data_arg = args[1], args[2]
            elif len(args) >= 4:
                fmt_arg, data_arg = args[2], args[3]
            else:
                return
            fmt_ordinal, data_ordinal = rodata_of(fmt_arg), rodata_of(data_arg)
            if data_ordinal is None:
                self.notes.append(Note(f"{site(inst.pc)}: {import_name} data is not a "
                                       "rodata segment"))
                return
            exe = self._executable(data_ordinal,
                                   self.rodata_string(fmt_ordinal) if fmt_ordinal is not None
                                   else None)
            exe.create_sites.append(site(inst.pc))
            for q in queries:
                target = exe.format_queries if q.category == "hal.executable.format" else \
                    exe.device_queries if q.category == "hal.device.id" else None
                if target is not None and q not in target and (
                        q.category != "hal.executable.format" or q.key == exe.format):
                    target.append(q)
            if results:
                values[_raw_key(results[0])] = ("executable", data_ordinal)
        elif import_name == "hal.device.query.i64" and len(args) >= 3:
            category, key = rodata_of(args[1]), rodata_of(args[2])
            if category is not None and key is not None:
                cat, k = self.rodata_string(category), self.rodata_string(key)
                if cat is not None and k is not None:
                    queries.append(DeviceQuery(site(inst.pc), cat, k))
        elif import_name == "hal_loader.executable.query_support" and len(args) >= 1:
            # The inline HAL's format support check (a hal.executable.format query).
            fmt = rodata_of(args[0])
            key = self.rodata_string(fmt) if fmt is not None else None
            if key is not None:
                queries.append(DeviceQuery(site(inst.pc), "hal.executable.format", key))
        elif import_name in ("hal.executable.lookup.function",
                             "hal_loader.executable.lookup.function") and len(args) >= 2:
            name_ordinal = rodata_of(args[1])
            name = self.rodata_string(name_ordinal) if name_ordinal is not None else None
            if name is None:
                return
            lookup = LookupSite(site(inst.pc), name)
            self.pending_lookups.append((lookup, val(args[0])))
            if results:
                values[_raw_key(results[0])] = ("export", name)
        elif import_name in ("hal.command_buffer.dispatch",
                             "hal.command_buffer.dispatch.indirect") and len(args) >= 7:
            ordinal_value = val(args[2])
            export_name = ordinal_value[1] if ordinal_value and ordinal_value[0] == "export" \
                else None
            export_ordinal = ordinal_value[1] if ordinal_value and ordinal_value[0] == "const" \
                else None
            direct = import_name == "hal.command_buffer.dispatch"
            counts = tuple(const_of(a) for a in args[3:6]) if direct else None
            spans = [a for a in args if isinstance(a, list)]
            dispatch = DispatchSite(
                site(inst.pc), import_name, export_ordinal, export_name, counts,
                len(spans[0]) if len(spans) >= 1 else None,
                len(spans[1]) if len(spans) >= 2 else None,
            )
            self.pending_dispatches.append((dispatch, val(args[1])))
        elif import_name == "hal_loader.executable.dispatch" and len(args) >= 5:
            # (executable, function, workgroup x, y, z, constants, bindings): inline.
            ordinal_value = val(args[1])
            spans = [a for a in args if isinstance(a, list)]
            dispatch = DispatchSite(
                site(inst.pc), import_name,
                ordinal_value[1] if ordinal_value and ordinal_value[0] == "const" else None,
                ordinal_value[1] if ordinal_value and ordinal_value[0] == "export" else None,
                tuple(const_of(a) for a in args[2:5]),
                len(spans[0]) if len(spans) >= 1 else None,
                len(spans[1]) if len(spans) >= 2 else None,
            )
            self.pending_dispatches.append((dispatch, val(args[0])))

    def _executable(self, rodata_ordinal: int, fmt: str | None) -> ModuleExecutable:
        exe = self.by_rodata.get(rodata_ordinal)
        if exe is not None:
            if exe.format is None:
                exe.format = fmt
            return exe
        size = offset = 0
        archive = None
        if 0 <= rodata_ordinal < len(self.rodata):
            segment = self.rodata[rodata_ordinal]
            size, offset = segment.size, segment.file_offset
            try:
                archive = segment.archive_name
            except FormatError:
                archive = None
        exe = ModuleExecutable(len(self.by_rodata), rodata_ordinal, fmt, size, offset, archive,
                               _module=self.module)
        self.by_rodata[rodata_ordinal] = exe
        return exe

    def _resolve(self, value) -> list[ModuleExecutable]:
        if not value:
            return []
        if value[0] == "executable":
            exe = self.by_rodata.get(value[1])
            return [exe] if exe else []
        if value[0] == "global":
            return [self.by_rodata[r] for r in sorted(self.global_exes.get(value[1], ()))
                    if r in self.by_rodata]
        return []

    def finish(self) -> ExecutableDiscovery:
        # Blobs that no create call names (e.g. the bytecode could not be
        # decoded) are still listed when their bytes say they are executables.
        for segment in self.rodata:
            if segment.ordinal in self.by_rodata or segment.size < 64:
                continue
            try:
                head = bytes(segment.data[:16])
            except FormatError:
                continue
            if sniff_container(head) in ("flatbuffer", "elf"):
                self._executable(segment.ordinal, None)
        unresolved = []
        for lookup, value in self.pending_lookups:
            for exe in self._resolve(value):
                exe.lookups.append(lookup)
        for dispatch, value in self.pending_dispatches:
            targets = self._resolve(value)
            if not targets:
                unresolved.append(dispatch)
            for exe in targets:
                exe.dispatches.append(dispatch)
        executables = sorted(self.by_rodata.values(), key=lambda e: e.ordinal)
        return ExecutableDiscovery(executables, self.notes, unresolved)


# -- registers ----------------------------------------------------------------


def _raw_key(raw: int) -> tuple[str, int]:
    if raw & T.REF_REGISTER_TYPE_BIT:
        return ("r", raw & T.REF_REGISTER_MASK)
    return ("i", raw & T.I32_REGISTER_MASK)


def _ref(raw: int) -> tuple[str, int]:
    return ("r", raw & T.REF_REGISTER_MASK)


def _int(raw: int) -> tuple[str, int]:
    return ("i", raw & T.I32_REGISTER_MASK)


def _key(reg) -> tuple[str, int]:
    return ("r", reg.ordinal) if reg.is_ref else ("i", reg.ordinal)


def _cconv_args(cconv: str | None) -> str:
    try:
        args, _ = cconv_fragments(cconv)
    except FormatError:
        return ""
    return args.replace("v", "")


def _expand(args: str, segments, registers) -> list | None:
    """Groups a call's flat register list by argument; variadic spans become lists."""
    items = []
    i = 0
    while i < len(args):
        if args[i] == "C":
            end = args.find("D", i)
            if end < 0:
                return None
            items.append(args[i + 1:end])
            i = end + 1
        else:
            items.append(None)
            i += 1
    out = []
    pos = 0
    for index, span in enumerate(items):
        if span is None:
            if pos >= len(registers):
                return None
            out.append(registers[pos])
            pos += 1
            continue
        count = segments[index] if segments is not None and index < len(segments) else 0
        if count == NON_VARIADIC:
            count = 1
        width = len(span)
        group = []
        for _ in range(count):
            if pos + width > len(registers):
                return None
            group.append(tuple(registers[pos:pos + width]))
            pos += width
        out.append(group)
    return out


# -- per-export code ------------------------------------------------------------
def export_listing(exe: Executable, export) -> tuple[str, list[str]]:
    """The code of one export as (what it is, lines); never raises on damaged code.

    CPU ELF: the dispatch function disassembled with capstone; SPIR-V: the entry
    point's function (spirv-dis spelling); PTX/MSL/WGSL: the kernel's text;
    VMVX: the dispatch function's VM disassembly; HSACO: no disassembler here,
    so the kernel's symbols and metadata.
    """
    code = exe.code_object_for(export)
    if code is None:
        return ("none", [f"no code object for export {export.ordinal}"])
    try:
        if code.kind == "elf":
            return _elf_listing(exe, export)
        if code.kind == "spirv":
            return _spirv_listing(code, export)
        if code.kind in ("ptx", "msl", "wgsl"):
            from iree_lab.format.executables.text import function_text

            text = function_text(code.kind, code.text or "", export.symbol or "")
            if text is None:
                return (code.kind, [f"// {export.symbol!r} not found; whole source follows",
                                    *(code.text or "").splitlines()])
            return (code.kind, text.splitlines())
        if code.kind == "vmfb":
            return _vmvx_listing(exe, export)
        if code.kind == "hsaco":
            return _hsaco_listing(code, export)
    except FormatError as e:
        return ("error", [f"// error: {e}"])
    return (code.kind, [f"no listing for {code.kind} code ({code.size} bytes)"])


def _elf_listing(exe: Executable, export) -> tuple[str, list[str]]:
    image = exe.attributes.get("elf")
    address = export.attributes.get("address")
    size = export.attributes.get("size")
    if image is None or address is None or not size:
        return ("elf", ["no code address for this export"])
    if not image.can_disassemble:
        return ("elf", [f"no disassembler for {image.machine_name}"])
    try:
        lines = [str(i) for i in image.disassemble(address, size)]
    except (ValueError, LookupError) as e:
        return ("elf", [f"// cannot disassemble: {e}"])
    return (f"{image.machine_name} disassembly", lines)


def _spirv_listing(code, export) -> tuple[str, list[str]]:
    from iree_lab.format.executables.spirv import SpirvModule

    module = SpirvModule(code.data)
    entry = module.entry_point(export.symbol or "")
    if entry is None:
        return ("spirv", [f"; entry point {export.symbol!r} not found; whole module follows",
                          *module.listing()])
    return ("spirv", [str(i) for i in module.function_instructions(entry.function_id)])


def _vmvx_listing(exe: Executable, export) -> tuple[str, list[str]]:
    from iree_lab.isa import disassemble

    module = exe.attributes.get("module")
    if module is None:
        return ("vmfb", ["nested module unreadable"])
    text = disassemble(module, function=export.symbol)
    lines = text.splitlines()
    # Keep the function itself: from its `vm.func` line on.
    for i, line in enumerate(lines):
        if line.startswith("vm.func") or line.startswith("vm.export"):
            return ("vm disassembly", lines[i:])
    return ("vm disassembly", lines)


def _hsaco_listing(code, export) -> tuple[str, list[str]]:
    lines = ["; no AMDGPU disassembler in iree_lab (try llvm-objdump --triple=amdgcn)"]
    for k in code.attributes.get("kernels", []):
        if export.symbol in (k.get(".symbol"), k.get(".name")):
            # Keys come from the image: damaged metadata may mix types.
            for key in sorted(k, key=str):
                if key != ".args":
                    lines.append(f"; {key}: {k[key]}")
            args = k.get(".args")
            for i, arg in enumerate(args if isinstance(args, list) else []):
                lines.append(f"; arg {i}: {arg}")
    return ("hsaco", lines)
