"""VM modules: the interface a context links, and bytecode modules over iree_lab.format.

A module has a name, a version, dependencies, imports (declared by full name
``module.function`` with a calling convention) and exports. A context
instantiates each module once as a :class:`ModuleState` (IREE's
``iree_vm_module_state_t``): globals, the resolved import table, and the
module's compiled code for that state.
"""

from __future__ import annotations

import abc
import dataclasses

import numpy as np

from iree_lab.format import Module as FormatModule
from iree_lab.vm.buffer import Buffer
from iree_lab.vm.ref import RefType
from iree_lab.vm.status import StatusCode, VMStatus
from iree_lab.vm.value import VALUE_TYPE_NAMES, VARIANT_TYPE, CallingConvention, TypeDef

# Linkage of a function reference (``iree_vm_function_linkage_t``).
LINKAGE_INTERNAL = "internal"
LINKAGE_IMPORT = "import"
LINKAGE_EXPORT = "export"


@dataclasses.dataclass(frozen=True)
class Dependency:
    """A module this module requires (or optionally uses) at a minimum version."""

    name: str
    minimum_version: int = 0
    optional: bool = False


@dataclasses.dataclass(frozen=True)
class ImportDecl:
    """An import a module declares: ``full_name`` (module.function) and its cconv."""

    ordinal: int
    full_name: str
    cconv: CallingConvention | None
    optional: bool = False

    @property
    def module_name(self) -> str:
        return self.full_name.partition(".")[0]

    @property
    def function_name(self) -> str:
        return self.full_name.partition(".")[2]


class Function:
    """A callable function of a module (an export, or an internal function)."""

    __slots__ = ("module", "ordinal", "name", "cconv", "linkage", "attrs")

    def __init__(self, module, ordinal: int, name: str, cconv: CallingConvention | None,
                 linkage: str = LINKAGE_EXPORT, attrs: dict | None = None):
        self.module = module
        self.ordinal = ordinal
        self.name = name
        self.cconv = cconv
        self.linkage = linkage
        self.attrs = attrs or {}

    @property
    def full_name(self) -> str:
        return f"{self.module.name}.{self.name}"

    def __repr__(self) -> str:
        cconv = self.cconv.text if self.cconv else "?"
        return f"<vm.Function {self.full_name} {cconv}>"


class Module(abc.ABC):
    """Base of every VM module (bytecode or native)."""

    name: str = ""
    version: int = 0

    @property
    def dependencies(self) -> tuple[Dependency, ...]:
        return ()

    @property
    def imports(self) -> tuple[ImportDecl, ...]:
        return ()

    @property
    @abc.abstractmethod
    def exports(self) -> dict[str, Function]:
        ...

    def lookup_export(self, name: str) -> Function:
        fn = self.exports.get(name)
        if fn is None:
            raise VMStatus(StatusCode.NOT_FOUND, f"no function `{name}` exported by module")
        return fn

    def create_state(self, context) -> ModuleState:
        return ModuleState(self, context)


class ModuleState:
    """Per-context instance of a module: globals and the resolved import table."""

    def __init__(self, module: Module, context):
        self.module = module
        self.context = context
        imports = module.imports
        # Resolved import targets (None where an optional import is unresolved).
        self.imports: list = [None] * len(imports)
        self.import_resolved: list[int] = [0] * len(imports)


# -----------------------------------------------------------------------------------------
# Bytecode modules
# -----------------------------------------------------------------------------------------


def resolve_type(full_name: str | None) -> TypeDef:
    """``iree_vm_bytecode_module_resolve_type`` with placeholder ref types allowed."""
    if not full_name:
        raise VMStatus(StatusCode.INVALID_ARGUMENT, "type definition has no name")
    vt = VALUE_TYPE_NAMES.get(full_name)
    if vt is not None:
        return TypeDef(vt)
    if full_name == "!vm.opaque":
        return VARIANT_TYPE
    if full_name.startswith("!"):
        name = full_name[1:]
        if name.startswith("vm.list"):
            name = "vm.list"
        existing = RefType.lookup(name)
        ref_type = existing if existing is not None else RefType.get(name, placeholder=True)
        return TypeDef(ref_type=ref_type, name=full_name)
    raise VMStatus(StatusCode.NOT_FOUND, f"no type registered with name '{full_name}'")


class BytecodeModule(Module):
    """A module loaded from a ``.vmfb`` (an :class:`iree_lab.format.Module`)."""

    def __init__(self, source: FormatModule):
        self.source = source
        self.name = source.name or ""
        self.version = source.version or 0
        self.types = [resolve_type(t.full_name) for t in source.types]
        self._exports: dict[str, Function] | None = None
        self._imports: tuple[ImportDecl, ...] | None = None
        self._rodata: list[Buffer] | None = None
        self._decoded: dict[int, object] = {}

    @classmethod
    def load(cls, path_or_bytes) -> BytecodeModule:
        from iree_lab.format import open_module

        return cls(open_module(path_or_bytes))

    @property
    def dependencies(self) -> tuple[Dependency, ...]:
        return tuple(
            Dependency(d.name or "", d.minimum_version, d.is_optional)
            for d in self.source.dependencies
        )

    @property
    def imports(self) -> tuple[ImportDecl, ...]:
        if self._imports is None:
            self._imports = tuple(
                ImportDecl(
                    i.ordinal,
                    i.full_name or "",
                    CallingConvention(i.calling_convention) if i.calling_convention else None,
                    i.is_optional,
                )
                for i in self.source.imports
            )
        return self._imports

    @property
    def exports(self) -> dict[str, Function]:
        if self._exports is None:
            exports = {}
            for e in self.source.exports:
                cconv = CallingConvention(e.calling_convention) if e.calling_convention else None
                exports[e.local_name or ""] = Function(
                    self, e.internal_ordinal, e.local_name or "", cconv, LINKAGE_EXPORT, e.attrs
                )
            self._exports = exports
        return self._exports

    def internal_function(self, ordinal: int) -> Function:
        f = self.source.functions[ordinal]
        cconv = CallingConvention(f.calling_convention) if f.calling_convention else None
        return Function(self, ordinal, f.display_name, cconv, LINKAGE_INTERNAL, f.attrs)

    def function_name(self, ordinal: int) -> str:
        functions = self.source.functions
        if 0 <= ordinal < len(functions):
            return functions[ordinal].display_name
        return f"fn{ordinal}"

    @property
    def rodata(self) -> list[Buffer]:
        """One read-only buffer per rodata segment (shared by all states, like IREE)."""
        if self._rodata is None:
            self._rodata = [
                Buffer.wrap_rodata(segment.data, name=f"{self.name}.rodata[{segment.ordinal}]",
                                   alignment=segment.alignment)
                for segment in self.source.rodata
            ]
        return self._rodata

    def decode(self, ordinal: int):
        """The verified :class:`~iree_lab.isa.DecodedFunction` of internal ``ordinal``."""
        fn = self._decoded.get(ordinal)
        if fn is None:
            from iree_lab.isa import decode_function

            fn = self._decoded[ordinal] = decode_function(self.source, ordinal)
        return fn

    def verify(self) -> None:
        """Decodes and verifies every function (IREE verifies at module load).

        Raises VMStatus(INVALID_ARGUMENT) naming the function and pc of the
        first malformed instruction.
        """
        from iree_lab.isa import BytecodeError

        for ordinal in range(len(self.source.functions)):
            try:
                self.decode(ordinal)
            except BytecodeError as e:
                where = f"at {self.name}.{self.function_name(ordinal)}"
                if e.pc is not None:
                    where += f"+{e.pc:08X}"
                raise VMStatus(StatusCode.INVALID_ARGUMENT, e.what).annotate(where) from None

    def function_bytes(self, ordinal: int) -> bytes:
        return bytes(self.source.function_bytecode(ordinal))

    def source_location(self, ordinal: int, pc: int) -> str | None:
        """``file:line:col`` of the instruction at ``pc`` from the debug database."""
        try:
            source_map = self.source.source_map(ordinal)
        except Exception:
            return None
        if source_map is None:
            return None
        try:
            loc = source_map.location_before(pc)
            return loc.format() if loc is not None else None
        except Exception:  # a damaged debug database must not hide the real error
            return None

    def create_state(self, context) -> BytecodeModuleState:
        return BytecodeModuleState(self, context)

    def __repr__(self) -> str:
        return f"<vm.BytecodeModule @{self.name} version {self.version}>"


class BytecodeModuleState(ModuleState):
    """Globals (rwdata bytes + ref table) and compiled code of a bytecode module."""

    def __init__(self, module: BytecodeModule, context):
        super().__init__(module, context)
        source = module.source
        size = source.global_bytes_capacity or 0
        self.rwdata_size = size
        self.rwdata = bytearray(size)
        whole = memoryview(self.rwdata)
        self.rw_i32 = whole[: size - size % 4].cast("i")
        self.rw_i64 = whole[: size - size % 8].cast("q")
        self.rw_f64 = whole[: size - size % 8].cast("d")
        self.rw_f32 = np.frombuffer(self.rwdata, dtype=np.float32, count=size // 4)
        self.global_ref_count = source.global_ref_count or 0
        self.global_refs: list = [None] * self.global_ref_count
        self.rodata = module.rodata
        # Compiled code caches, filled by the execution tiers.
        self.stepping_code: dict[int, object] = {}
        self.fast_code: dict[int, object] = {}
