"""Loading an embedded ELF into executable memory, as IREE's platform-agnostic loader does.

IREE's ``hal/local/elf/elf_module.c`` (+ ``arch/*.c``) loads the shared objects
that ``iree-compile`` embeds for ``embedded-elf-*`` targets without the system
loader: it maps the ``PT_LOAD`` segments, applies ``RELA`` relocations, refuses
imported symbols, protects the segments and runs the initializers. This module
does the same in two strictly separated phases:

1. :func:`plan` reads only the file bytes. It validates the ELF header, the
   program headers, the dynamic table, the symbol and string tables, every
   relocation (type, symbol ordinal, target range) and the entry points, and
   builds the relocated image in a Python ``bytearray``. Every read is
   bounds-checked; a malformed or hostile image fails here with a
   :class:`~iree_lab.vm.status.VMStatus` naming what and where (IREE's status
   code and text where IREE checks the same thing).
2. :meth:`LoadPlan.map` copies the finished image into a fresh read-write
   mapping and only then changes each page to its final protection. No page
   is ever writable and executable at once (segments that would share such a
   page are refused), pages between segments stay inaccessible, and
   ``PT_GNU_RELRO`` ends read-only. Only after that do initializers run.

Only ELF64 little-endian images for the host's machine load (the formats the
loaders accept name the host architecture); 32-bit hosts are not supported.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import mmap
import struct
import sys
import weakref

from iree_lab.hal.cpu import HOST_ARCH
from iree_lab.hal.types import status
from iree_lab.vm.status import StatusCode

# e_machine of each IREE_ARCH and the relocation types IREE's loader applies there:
# type -> (name, width in bytes, formula) with S = symbol address, A = addend,
# B = load bias, P = place (address of the relocated field).
EM_X86_64, EM_AARCH64 = 0x3E, 0xB7
MACHINES = {"x86_64": EM_X86_64, "arm_64": EM_AARCH64}
RELOCATIONS = {
    EM_X86_64: {
        1: ("R_X86_64_64", 8, "S+A"),
        2: ("R_X86_64_PC32", 4, "S+A-P"),
        5: ("R_X86_64_COPY", 8, "S"),
        6: ("R_X86_64_GLOB_DAT", 8, "S"),
        7: ("R_X86_64_JUMP_SLOT", 8, "S"),
        8: ("R_X86_64_RELATIVE", 8, "B+A"),
        10: ("R_X86_64_32", 4, "S+A"),
        11: ("R_X86_64_32S", 4, "S+A signed"),
    },
    EM_AARCH64: {
        257: ("R_AARCH64_ABS64", 8, "S+A"),
        1025: ("R_AARCH64_GLOB_DAT", 8, "S+A"),
        1026: ("R_AARCH64_JUMP_SLOT", 8, "S+A"),
        1027: ("R_AARCH64_RELATIVE", 8, "B+A"),
    },
}
ARCH_LABELS = {EM_X86_64: "x86_64", EM_AARCH64: "aarch64"}

PT_LOAD, PT_DYNAMIC, PT_GNU_RELRO = 1, 2, 0x6474E552
PF_X, PF_W, PF_R = 1, 2, 4
PROT_NONE = 0  # (the mmap module has PROT_READ/WRITE/EXEC only)
DT_NULL, DT_PLTRELSZ, DT_HASH, DT_STRTAB, DT_SYMTAB, DT_RELA, DT_RELASZ, DT_RELAENT = (
    0, 2, 4, 5, 6, 7, 8, 9)
DT_STRSZ, DT_SYMENT, DT_INIT, DT_REL, DT_RELSZ, DT_RELENT, DT_PLTREL, DT_JMPREL = (
    10, 11, 12, 17, 18, 19, 20, 23)
DT_INIT_ARRAY, DT_INIT_ARRAYSZ = 25, 27
STB_GLOBAL, STB_WEAK = 1, 2

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")  # Elf64_Ehdr, 64 bytes
_PHDR = struct.Struct("<IIQQQQQQ")  # Elf64_Phdr, 56 bytes
_DYN = struct.Struct("<qQ")
_SYM = struct.Struct("<IBBHQQ")
_RELA = struct.Struct("<QQq")
_SHDR_SIZE = 64

# Guards against hostile sizes: no embedded executable comes near these.
MAX_IMAGE_BYTES = 1 << 30
MAX_SYMBOLS = 1 << 20
MAX_RELOCATIONS = 1 << 22


def _fail(code: StatusCode, message: str, where: str | None = None):
    return status(code, f"{message}{f' ({where})' if where else ''}")


def _precondition(message: str, where: str | None = None):
    return _fail(StatusCode.FAILED_PRECONDITION, message, where)


def page_size() -> int:
    return mmap.PAGESIZE


@dataclasses.dataclass(frozen=True)
class Segment:
    """A ``PT_LOAD`` segment: its memory range and final protection."""

    index: int
    vaddr: int
    memsz: int
    offset: int
    filesz: int
    flags: int

    @property
    def end(self) -> int:
        return self.vaddr + self.memsz

    @property
    def executable(self) -> bool:
        return bool(self.flags & PF_X)

    @property
    def writable(self) -> bool:
        return bool(self.flags & PF_W)

    def describe(self) -> str:
        rwx = "".join(c if self.flags & b else "-" for c, b in (("R", PF_R), ("W", PF_W),
                                                               ("X", PF_X)))
        return f"PT_LOAD[{self.index}] 0x{self.vaddr:x}-0x{self.end:x} {rwx}"


@dataclasses.dataclass(frozen=True)
class Relocation:
    offset: int  # vaddr of the relocated field
    type: int
    symbol: int
    addend: int


@dataclasses.dataclass
class LoadPlan:
    """A validated ELF: what to map where, with relocations resolved against a bias."""

    machine: int
    vaddr_min: int  # page-aligned start of the image
    size: int  # page-aligned size of the image
    segments: list[Segment]
    relro: list[tuple[int, int]]
    image: bytearray  # the segments' bytes at vaddr - vaddr_min, unrelocated
    relocations: list[Relocation]
    symbol_values: list[int]  # st_value per dynamic symbol
    exports: dict[str, int]  # global/weak defined symbol name -> st_value
    init: int  # DT_INIT vaddr or 0
    init_array: tuple[int, int]  # (vaddr, count) of DT_INIT_ARRAY

    def segment_at(self, vaddr: int, size: int = 1) -> Segment | None:
        for seg in self.segments:
            if seg.vaddr <= vaddr and vaddr + size <= seg.end:
                return seg
        return None

    def lookup_export(self, name: str) -> int:
        """vaddr of a global symbol (``iree_elf_module_lookup_export``), validated as code."""
        value = self.exports.get(name)
        if value is None:
            raise status(StatusCode.NOT_FOUND,
                         f"exported symbol with name '{name}' not found in module")
        self._check_code(value, f"symbol '{name}'")
        return value

    def _check_code(self, vaddr: int, what: str) -> None:
        seg = self.segment_at(vaddr)
        if seg is None or not seg.executable:
            raise _precondition(f"{what} at 0x{vaddr:x} is not inside an executable segment")

    def relocate(self, bias: int) -> bytearray:
        """The image with every relocation applied for a load at ``vaddr + bias``."""
        image = bytearray(self.image)
        table = RELOCATIONS[self.machine]
        base = self.vaddr_min
        for r in self.relocations:
            _, width, formula = table[r.type]
            s = bias + self.symbol_values[r.symbol] if r.symbol else 0
            if formula == "B+A":
                value = bias + r.addend
            elif formula == "S":
                value = s
            elif formula == "S+A-P":
                value = s + r.addend - (bias + r.offset)
            else:  # S+A, S+A signed
                value = s + r.addend
            mask = (1 << (8 * width)) - 1
            struct.pack_into("<Q" if width == 8 else "<I", image, r.offset - base, value & mask)
        return image

    def map(self) -> LoadedImage:
        """Maps the image (read-write), relocates, protects, then runs the initializers."""
        mem = _Memory.get()
        base = mem.reserve(self.size)
        loaded = LoadedImage(self, base, mem)
        try:
            bias = base - self.vaddr_min
            image = self.relocate(bias)
            ctypes.memmove(base, bytes(image), len(image))
            # init_array entries are final only after relocation; validate before running.
            init_vaddrs = []
            if self.init:
                init_vaddrs.append(self.init)
            address, count = self.init_array
            for i in range(count):
                (entry,) = struct.unpack_from("<Q", image, address - self.vaddr_min + 8 * i)
                if entry in (0, (1 << 64) - 1):
                    continue
                init_vaddrs.append(entry - bias)
            for vaddr in init_vaddrs:
                self._check_code(vaddr, "initializer")
            loaded.protect()
            for vaddr in init_vaddrs:
                ctypes.CFUNCTYPE(None)(bias + vaddr)()
        except BaseException:
            loaded.release()
            raise
        return loaded


class LoadedImage:
    """A mapped, relocated and protected image; unmapped when released or collected."""

    def __init__(self, plan: LoadPlan, base: int, mem: _Memory):
        self.plan = plan
        self.base = base
        self.bias = base - plan.vaddr_min
        self._finalizer = weakref.finalize(self, mem.release, base, plan.size)

    def address(self, vaddr: int) -> int:
        return self.bias + vaddr

    def protect(self) -> None:
        """Final page protections (``iree_elf_module_protect_segments``)."""
        plan, mem, page = self.plan, _Memory.get(), page_size()
        pages: dict[int, int] = {}
        for seg in plan.segments:
            prot = mmap.PROT_READ
            if seg.writable:
                prot |= mmap.PROT_WRITE
            if seg.executable:
                prot |= mmap.PROT_EXEC
            for p in range(seg.vaddr // page * page, seg.end, page):
                pages[p] = pages.get(p, 0) | prot
        for start, end in plan.relro:
            for p in range(start // page * page, end, page):
                if p in pages and start <= p and p + page <= end:
                    pages[p] = mmap.PROT_READ
        run_start, run_prot = plan.vaddr_min, None
        for p in range(plan.vaddr_min, plan.vaddr_min + plan.size + page, page):
            prot = pages.get(p, PROT_NONE) if p < plan.vaddr_min + plan.size else None
            if prot != run_prot:
                if run_prot is not None:  # one mprotect per run of equal pages
                    mem.protect(self.bias + run_start, p - run_start, run_prot)
                run_start, run_prot = p, prot
        if any(prot & mmap.PROT_EXEC for prot in pages.values()):
            mem.flush_icache(self.base, plan.size)

    def readable(self, address: int, size: int) -> bool:
        """Whether [address, address+size) lies in one mapped segment."""
        vaddr = address - self.bias
        return size >= 0 and self.plan.segment_at(vaddr, max(size, 1)) is not None

    def read(self, address: int, size: int) -> bytes | None:
        if not self.readable(address, size):
            return None
        return ctypes.string_at(address, size)

    def read_cstring(self, address: int, limit: int = 1 << 16) -> str | None:
        seg = self.plan.segment_at(address - self.bias) if address else None
        if seg is None:
            return None
        available = min(limit, seg.end - (address - self.bias))
        raw = ctypes.string_at(address, available)
        end = raw.find(b"\0")
        return raw[:end].decode("utf-8", "replace") if end >= 0 else None

    def release(self) -> None:
        self._finalizer()


class _Memory:
    """Anonymous mappings through the C library (page-granular protection control)."""

    _instance: _Memory | None = None

    def __init__(self):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        self._mmap = libc.mmap
        self._mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                               ctypes.c_int, ctypes.c_long]
        self._mmap.restype = ctypes.c_void_p
        self._mprotect = libc.mprotect
        self._mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        self._mprotect.restype = ctypes.c_int
        self._munmap = libc.munmap
        self._munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        self._munmap.restype = ctypes.c_int
        self._clear_cache = None
        if sys.platform.startswith("linux") and EM_AARCH64 == MACHINES.get(HOST_ARCH):
            try:  # libgcc's cache maintenance for freshly written code
                self._clear_cache = ctypes.CDLL("libgcc_s.so.1").__clear_cache
                self._clear_cache.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
            except (OSError, AttributeError):
                self._clear_cache = None

    @classmethod
    def get(cls) -> _Memory:
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def reserve(self, size: int) -> int:
        flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
        address = self._mmap(None, size, mmap.PROT_READ | mmap.PROT_WRITE, flags, -1, 0)
        if address in (None, ctypes.c_void_p(-1).value):
            raise status(StatusCode.RESOURCE_EXHAUSTED,
                         f"unable to reserve {size} bytes for an executable image "
                         f"(errno {ctypes.get_errno()})")
        return address

    def protect(self, address: int, size: int, prot: int) -> None:
        if self._mprotect(address, size, prot) != 0:
            raise status(StatusCode.PERMISSION_DENIED,
                         f"mprotect of executable image page 0x{address:x} failed "
                         f"(errno {ctypes.get_errno()})")

    def flush_icache(self, address: int, size: int) -> None:
        if self._clear_cache is not None:
            self._clear_cache(address, address + size)

    def release(self, address: int, size: int) -> None:
        self._munmap(address, size)


def plan(data, *, machine: int | None = None) -> LoadPlan:
    """Validates ``data`` (an ELF shared object) completely and plans its load.

    ``machine`` defaults to the host's; raises VMStatus on anything malformed.
    """
    raw = bytes(memoryview(data).cast("B"))
    if machine is None:
        machine = MACHINES.get(HOST_ARCH or "", -1)
    ehdr = verify_ehdr(raw, machine)
    (_, _, _, _, _, phoff, _, _, _, _, phnum, _, _, _) = ehdr
    segments, dynamic, relro = read_program_headers(raw, phoff, phnum)
    vaddr_min, size = _image_range(segments)
    image = bytearray(size)
    for seg in segments:
        start = seg.vaddr - vaddr_min
        image[start:start + seg.filesz] = raw[seg.offset:seg.offset + seg.filesz]
    view = _ImageView(image, vaddr_min, segments)
    dyn = _read_dynamic(view, dynamic)
    symbols, names = _read_symbols(view, dyn)
    for i, (name, sym) in enumerate(zip(names, symbols, strict=True)):
        if i and sym[3] == 0:  # st_shndx == SHN_UNDEF
            raise status(StatusCode.UNAVAILABLE,
                         f"ELF imports one or more symbols (trying '{name}'); imports are not "
                         "supported in the platform-agnostic loader")
    relocations = _read_relocations(view, dyn, machine, len(symbols))
    exports = {}
    for i in range(len(symbols) - 1, 0, -1):  # last definition wins, like IREE's lookup
        st_info, st_value = symbols[i][1], symbols[i][4]
        if st_info >> 4 in (STB_GLOBAL, STB_WEAK) and names[i] and names[i] not in exports:
            exports[names[i]] = st_value
    init = dyn.get(DT_INIT, 0)
    init_array = (0, 0)
    if DT_INIT_ARRAY in dyn:
        count = dyn.get(DT_INIT_ARRAYSZ, 0) // 8
        view.check(dyn[DT_INIT_ARRAY], 8 * count, "DT_INIT_ARRAY")
        init_array = (dyn[DT_INIT_ARRAY], count)
    result = LoadPlan(machine, vaddr_min, size, segments, relro, image, relocations,
                      [s[4] for s in symbols], exports, init, init_array)
    if init:
        result._check_code(init, "DT_INIT")
    return result


def verify_ehdr(raw: bytes, machine: int):
    """``iree_elf_module_verify_ehdr``: same checks, order, codes and messages."""
    if len(raw) < _EHDR.size:
        raise status(StatusCode.FAILED_PRECONDITION,
                     f"ELF data provided ({len(raw)}) is smaller than ehdr ({_EHDR.size})")
    ehdr = _EHDR.unpack_from(raw)
    ident = ehdr[0]
    if ident[:4] != b"\x7fELF":
        raise _precondition("data provided does not contain the ELF identifier")
    if ident[4] != 2:
        raise _precondition("system/ELF class mismatch: expected 64-bit")
    if ident[5] != 1:
        raise _precondition("system/ELF endianness mismatch: expected little-endian")
    (_, e_type, e_machine, e_version, _, phoff, shoff, _, ehsize, phentsize, phnum,
     shentsize, shnum, _) = ehdr
    if e_version != 1:
        raise _precondition(f"ELF version {e_version} unsupported; expected 1")
    if e_machine != machine:
        raise _precondition(f"ELF machine specification ({e_machine:04X}) does not match the "
                            "running architecture")
    if e_type != 3:  # ET_DYN
        raise _precondition("only shared object ELFs are supported")
    if ehsize != _EHDR.size or phentsize != _PHDR.size or shentsize != _SHDR_SIZE:
        raise _precondition("ELF entity size mismatch")
    if phoff == 0 or phnum == 0 or phoff + phnum * phentsize > len(raw):
        raise _precondition("invalid mandatory phdr table")
    if shoff == 0 or shnum == 0 or shoff + shnum * shentsize > len(raw):
        raise _precondition("invalid mandatory shdr table")
    return ehdr


def read_program_headers(raw: bytes, phoff: int, phnum: int):
    """(loadable segments, PT_DYNAMIC, PT_GNU_RELRO ranges) from the ELF program headers."""
    segments: list[Segment] = []
    dynamic = None
    relro = []
    for i in range(phnum):
        p_type, p_flags, p_offset, p_vaddr, _, p_filesz, p_memsz, p_align = \
            _PHDR.unpack_from(raw, phoff + i * _PHDR.size)
        where = f"program header {i}"
        if p_type == PT_LOAD:
            if p_offset + p_filesz > len(raw):
                raise _precondition(
                    f"phdr reference outside of file extents: {p_offset}-{p_offset + p_filesz}"
                    f"of max {len(raw)}")
            if p_filesz > p_memsz:
                raise _precondition(f"PT_LOAD file size {p_filesz} exceeds its memory size "
                                    f"{p_memsz}", where)
            if p_align > 1 and p_align & (p_align - 1):
                raise _precondition(f"PT_LOAD alignment {p_align} is not a power of two", where)
            if p_vaddr + p_memsz > MAX_IMAGE_BYTES:
                raise _fail(StatusCode.RESOURCE_EXHAUSTED,
                            f"PT_LOAD 0x{p_vaddr:x}+0x{p_memsz:x} exceeds the "
                            f"{MAX_IMAGE_BYTES >> 20} MiB image limit", where)
            if p_flags & PF_X and p_flags & PF_W:
                raise status(StatusCode.PERMISSION_DENIED,
                             f"unable to create a writable executable segment ({where})")
            if p_memsz:
                segments.append(Segment(i, p_vaddr, p_memsz, p_offset, p_filesz, p_flags))
        elif p_type == PT_DYNAMIC and dynamic is None:
            dynamic = (p_vaddr, p_filesz, i)
        elif p_type == PT_GNU_RELRO:
            relro.append((p_vaddr, p_vaddr + p_memsz))
    if not segments:
        raise _precondition("no PT_LOAD segments")
    ordered = sorted(segments, key=lambda s: s.vaddr)
    for a, b in zip(ordered, ordered[1:], strict=False):
        if b.vaddr < a.end:
            raise _precondition(f"{a.describe()} overlaps {b.describe()}")
    # No page may end up writable and executable because two segments share it.
    page = page_size()
    for a, b in zip(ordered, ordered[1:], strict=False):
        if (a.end - 1) // page == b.vaddr // page and (
                (a.writable and b.executable) or (a.executable and b.writable)):
            raise status(StatusCode.PERMISSION_DENIED,
                         f"{a.describe()} and {b.describe()} share a page: it would be "
                         "writable and executable")
    return segments, dynamic, relro


def _image_range(segments: list[Segment]) -> tuple[int, int]:
    page = page_size()
    lo = min(s.vaddr for s in segments) // page * page
    hi = -(-max(s.end for s in segments) // page) * page
    return lo, hi - lo


class _ImageView:
    """Bounds-checked reads of the (unrelocated) image by virtual address."""

    def __init__(self, image: bytearray, vaddr_min: int, segments: list[Segment]):
        self.image = image
        self.vaddr_min = vaddr_min
        self.segments = segments

    def check(self, vaddr: int, size: int, what: str) -> int:
        for seg in self.segments:
            if seg.vaddr <= vaddr and vaddr + size <= seg.end:
                return vaddr - self.vaddr_min
        raise _precondition(f"{what} at 0x{vaddr:x} ({size} bytes) is outside the loaded "
                            "segments")

    def unpack(self, fmt: struct.Struct, vaddr: int, what: str):
        return fmt.unpack_from(self.image, self.check(vaddr, fmt.size, what))

    def bytes(self, vaddr: int, size: int, what: str) -> bytes:
        start = self.check(vaddr, size, what)
        return bytes(self.image[start:start + size])


def _read_dynamic(view: _ImageView, dynamic) -> dict[int, int]:
    if dynamic is None or dynamic[1] < _DYN.size:
        raise _precondition("no PT_DYNAMIC/.dynamic segment")
    vaddr, filesz, _ = dynamic
    dyn: dict[int, int] = {}
    for i in range(filesz // _DYN.size):
        tag, value = view.unpack(_DYN, vaddr + i * _DYN.size, f"dynamic entry {i}")
        if tag == DT_NULL:
            break
        if tag == DT_SYMENT and value != _SYM.size:
            raise _precondition("DT_SYMENT size mismatch")
        if tag == DT_RELENT and value != 16:  # sizeof(Elf64_Rel)
            raise _precondition("DT_RELENT size mismatch")
        if tag == DT_RELAENT and value != _RELA.size:
            raise _precondition("DT_RELAENT size mismatch")
        if tag in (DT_REL, DT_RELSZ):
            raise _precondition("unsupported DT_REL relocations")
        if tag == DT_PLTREL and value != DT_RELA:
            raise _precondition("unsupported DT_PLTREL != DT_RELA")
        dyn.setdefault(tag, value)
    if DT_HASH in dyn:
        dyn[-DT_HASH] = view.unpack(struct.Struct("<II"), dyn[DT_HASH], "DT_HASH")[1]
    if not dyn.get(DT_STRTAB) or not dyn.get(DT_STRSZ) or not dyn.get(DT_SYMTAB) or \
            not dyn.get(-DT_HASH):
        raise _precondition("missing .dynsym/.dynstr in ELF .dynamic segment")
    return dyn


def _read_symbols(view: _ImageView, dyn: dict[int, int]):
    count = dyn[-DT_HASH]
    if count > MAX_SYMBOLS:
        raise _precondition(f"dynamic symbol count {count} is implausible", "DT_HASH")
    strtab = view.bytes(dyn[DT_STRTAB], dyn[DT_STRSZ], "DT_STRTAB")
    view.check(dyn[DT_SYMTAB], count * _SYM.size, "DT_SYMTAB")
    symbols, names = [], []
    for i in range(count):
        sym = view.unpack(_SYM, dyn[DT_SYMTAB] + i * _SYM.size, f"symbol {i}")
        st_name = sym[0]
        if st_name >= len(strtab):
            raise _precondition(f"symbol {i} name offset {st_name} is outside .dynstr "
                                f"({len(strtab)} bytes)")
        end = strtab.find(b"\0", st_name)
        if end < 0:
            raise _precondition(f"symbol {i} name is not NUL-terminated in .dynstr")
        symbols.append(sym)
        names.append(strtab[st_name:end].decode("utf-8", "replace"))
    return symbols, names


def _read_relocations(view: _ImageView, dyn: dict[int, int], machine: int,
                      symbol_count: int) -> list[Relocation]:
    table = RELOCATIONS[machine]
    arch = ARCH_LABELS[machine]
    out: list[Relocation] = []
    for addr_tag, size_tag, label in ((DT_RELA, DT_RELASZ, "DT_RELA"),
                                      (DT_JMPREL, DT_PLTRELSZ, "DT_JMPREL")):
        if not dyn.get(addr_tag):
            continue
        count = dyn.get(size_tag, 0) // _RELA.size
        if count > MAX_RELOCATIONS:
            raise _precondition(f"{label} relocation count {count} is implausible")
        view.check(dyn[addr_tag], count * _RELA.size, label)
        for i in range(count):
            r_offset, r_info, r_addend = view.unpack(_RELA, dyn[addr_tag] + i * _RELA.size,
                                                     f"{label} entry {i}")
            rtype, sym = r_info & 0xFFFFFFFF, r_info >> 32
            if rtype == 0:
                continue
            if sym and sym >= symbol_count:
                raise status(StatusCode.OUT_OF_RANGE, f"invalid symbol in relocation: {sym}")
            if rtype not in table:
                raise status(StatusCode.UNIMPLEMENTED,
                             f"unimplemented {arch} relocation type {rtype:08X} "
                             f"({label} entry {i} at 0x{r_offset:x})")
            view.check(r_offset, table[rtype][1], f"{label} entry {i} target")
            out.append(Relocation(r_offset, rtype, sym, r_addend))
    return out
