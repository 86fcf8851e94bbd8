"""ELF images inside executables: CPU libraries (embedded or system) and AMDGPU HSACO.

Parsing goes through pyelftools; everything it reads is wrapped so that a
damaged image yields :class:`Note` entries and partial tables instead of
pyelftools' (or struct's) exceptions. Virtual addresses are resolved through
PT_LOAD segments with explicit bounds checks, and pointer-sized slots are
resolved through RELATIVE relocations, so the IREE executable library tables
in an (unloaded, unrelocated) shared object can be read without running it.

Machine code is only ever disassembled (capstone), never executed.
"""

from __future__ import annotations

import bisect
import dataclasses
import io
import struct

from iree_lab.format.executables.model import Note

# e_machine values (ELF gABI) and their display names.
EM_386 = 3
EM_ARM = 40
EM_X86_64 = 62
EM_AARCH64 = 183
EM_AMDGPU = 224
EM_RISCV = 243
MACHINE_NAMES = {
    EM_386: "x86",
    EM_ARM: "arm",
    EM_X86_64: "x86_64",
    EM_AARCH64: "aarch64",
    EM_AMDGPU: "amdgpu",
    EM_RISCV: "riscv",
}

# Relocation types whose target is "load base + addend" (per-architecture psABIs).
_RELATIVE_RELOCS = {
    EM_X86_64: {8},  # R_X86_64_RELATIVE
    EM_386: {8},  # R_386_RELATIVE
    EM_AARCH64: {1027},  # R_AARCH64_RELATIVE
    EM_ARM: {23},  # R_ARM_RELATIVE
    EM_RISCV: {3},  # R_RISCV_RELATIVE
    EM_AMDGPU: {13},  # R_AMDGPU_RELATIVE64
}
# Absolute pointer relocations against a symbol: target = S + A.
_ABSOLUTE_RELOCS = {
    EM_X86_64: {1},  # R_X86_64_64
    EM_AARCH64: {257},  # R_AARCH64_ABS64
    EM_RISCV: {2},  # R_RISCV_64
    EM_386: {1},  # R_386_32
    EM_ARM: {2},  # R_ARM_ABS32
}

# Upper bound on what one table read may produce: a hostile header claiming a
# billion symbols must not allocate a billion Python objects.
MAX_TABLE_ENTRIES = 1 << 20
MAX_CSTRING = 1 << 16


@dataclasses.dataclass(frozen=True, slots=True)
class ElfSection:
    index: int
    name: str
    type: str
    address: int
    offset: int
    size: int
    flags: int
    alignment: int
    entry_size: int

    @property
    def is_executable(self) -> bool:
        return bool(self.flags & 0x4)  # SHF_EXECINSTR

    @property
    def flag_letters(self) -> str:
        """readelf-style flag letters for the common flags (W, A, X, M, S)."""
        letters = [(0x1, "W"), (0x2, "A"), (0x4, "X"), (0x10, "M"), (0x20, "S")]
        return "".join(c for bit, c in letters if self.flags & bit)


@dataclasses.dataclass(frozen=True, slots=True)
class ElfSegment:
    type: str
    offset: int
    address: int
    file_size: int
    memory_size: int
    flags: int
    alignment: int


@dataclasses.dataclass(frozen=True, slots=True)
class ElfSymbol:
    name: str
    value: int
    size: int
    type: str  # STT_FUNC -> "FUNC", ...
    bind: str
    visibility: str
    section_index: int | str
    table: str  # ".symtab" or ".dynsym"


@dataclasses.dataclass(frozen=True, slots=True)
class ElfNote:
    owner: str
    type: int | str
    description: bytes
    section: str


@dataclasses.dataclass(frozen=True, slots=True)
class MachineInstruction:
    address: int
    bytes: bytes
    mnemonic: str
    operands: str

    def __str__(self) -> str:
        return f"{self.address:8x}:  {self.bytes.hex(' '):<30} {self.mnemonic} {self.operands}".rstrip()


@dataclasses.dataclass(frozen=True, slots=True)
class ElfFunction:
    """A function with a known address range (from a symbol or an IREE export table)."""

    name: str
    address: int
    size: int


def _strip_prefix(value, prefix: str) -> str:
    text = str(value)
    return text[len(prefix):] if text.startswith(prefix) else text


class ElfImage:
    """A lazily parsed ELF image. Construction never raises; see :attr:`notes`."""

    def __init__(self, data: bytes, *, where: str = "elf"):
        self.data = bytes(data)
        self.where = where
        self.notes: list[Note] = []
        self._elf = None
        self.machine: int | None = None
        self.elf_class = 64
        self.little_endian = True
        self.header: dict = {}
        self._sections: list[ElfSection] | None = None
        self._segments: list[ElfSegment] | None = None
        self._symbols: list[ElfSymbol] | None = None
        self._elf_notes: list[ElfNote] | None = None
        self._relocs: dict[int, int] | None = None
        if len(self.data) < 16 or self.data[:4] != b"\x7fELF":
            self._note("not an ELF image (bad magic)", 0)
            return
        try:
            from elftools.elf.elffile import ELFFile

            self._elf = ELFFile(io.BytesIO(self.data))
            h = self._elf.header
            self.elf_class = self._elf.elfclass
            self.little_endian = self._elf.little_endian
            # Raw e_machine: pyelftools only names the machines it knows.
            self.machine = struct.unpack_from(
                "<H" if self.little_endian else ">H", self.data, 18)[0]
            self.header = {
                "class": f"ELF{self.elf_class}",
                "data": "little-endian" if self.little_endian else "big-endian",
                "type": _strip_prefix(h["e_type"], "ET_"),
                "machine": MACHINE_NAMES.get(self.machine, _strip_prefix(h["e_machine"], "EM_")),
                "osabi": _strip_prefix(h["e_ident"]["EI_OSABI"], "ELFOSABI_"),
                "abi_version": int(h["e_ident"]["EI_ABIVERSION"]),
                "entry": int(h["e_entry"]),
                "flags": int(h["e_flags"]),
            }
        except Exception as e:  # pyelftools raises many types on bad input
            self._note(f"ELF header is unreadable: {_describe(e)}", 0)
            self._elf = None

    # -- helpers -------------------------------------------------------------
    def _note(self, what: str, offset: int | None = None, where: str | None = None) -> None:
        if len(self.notes) < 256:  # a hostile image must not produce unbounded notes
            self.notes.append(Note(what, where or self.where, offset))

    @property
    def ok(self) -> bool:
        return self._elf is not None

    @property
    def machine_name(self) -> str | None:
        if self.machine is None:
            return None
        return MACHINE_NAMES.get(self.machine, f"machine {self.machine}")

    @property
    def pointer_size(self) -> int:
        return 8 if self.elf_class == 64 else 4

    # -- tables --------------------------------------------------------------
    @property
    def sections(self) -> list[ElfSection]:
        if self._sections is None:
            self._sections = []
            if self._elf is not None:
                try:
                    count = min(self._elf.num_sections(), MAX_TABLE_ENTRIES)
                except Exception as e:
                    self._note(f"section header table is unreadable: {_describe(e)}")
                    count = 0
                for i in range(count):
                    try:
                        s = self._elf.get_section(i)
                        self._sections.append(ElfSection(
                            i, s.name, _strip_prefix(s["sh_type"], "SHT_"), int(s["sh_addr"]),
                            int(s["sh_offset"]), int(s["sh_size"]), int(s["sh_flags"]),
                            int(s["sh_addralign"]), int(s["sh_entsize"]),
                        ))
                    except Exception as e:
                        self._note(f"section {i} is unreadable: {_describe(e)}")
        return self._sections

    @property
    def segments(self) -> list[ElfSegment]:
        if self._segments is None:
            self._segments = []
            if self._elf is not None:
                try:
                    count = min(self._elf.num_segments(), MAX_TABLE_ENTRIES)
                except Exception as e:
                    self._note(f"program header table is unreadable: {_describe(e)}")
                    count = 0
                for i in range(count):
                    try:
                        p = self._elf.get_segment(i)
                        self._segments.append(ElfSegment(
                            _strip_prefix(p["p_type"], "PT_"), int(p["p_offset"]),
                            int(p["p_vaddr"]), int(p["p_filesz"]), int(p["p_memsz"]),
                            int(p["p_flags"]), int(p["p_align"]),
                        ))
                    except Exception as e:
                        self._note(f"program header {i} is unreadable: {_describe(e)}")
        return self._segments

    @property
    def symbols(self) -> list[ElfSymbol]:
        """Symbols of .symtab and .dynsym (in that order)."""
        if self._symbols is None:
            self._symbols = []
            if self._elf is not None:
                from elftools.elf.sections import SymbolTableSection

                for section in self._iter_sections():
                    if not isinstance(section, SymbolTableSection):
                        continue
                    try:
                        count = min(section.num_symbols(), MAX_TABLE_ENTRIES)
                    except Exception as e:
                        self._note(f"symbol table {section.name} is unreadable: {_describe(e)}")
                        continue
                    for i in range(count):
                        try:
                            sym = section.get_symbol(i)
                            info = sym["st_info"]
                            self._symbols.append(ElfSymbol(
                                sym.name, int(sym["st_value"]), int(sym["st_size"]),
                                _strip_prefix(info["type"], "STT_"),
                                _strip_prefix(info["bind"], "STB_"),
                                _strip_prefix(sym["st_other"]["visibility"], "STV_"),
                                sym["st_shndx"] if isinstance(sym["st_shndx"], int)
                                else _strip_prefix(sym["st_shndx"], "SHN_"),
                                section.name,
                            ))
                        except Exception as e:
                            self._note(f"symbol {i} of {section.name} is unreadable: "
                                       f"{_describe(e)}")
                            break
        return self._symbols

    def _iter_sections(self):
        if self._elf is None:
            return
        try:
            count = min(self._elf.num_sections(), MAX_TABLE_ENTRIES)
        except Exception:
            return
        for i in range(count):
            try:
                yield self._elf.get_section(i)
            except Exception:
                continue  # already noted by .sections

    def symbol(self, name: str) -> ElfSymbol | None:
        for sym in self.symbols:
            if sym.name == name:
                return sym
        return None

    @property
    def elf_notes(self) -> list[ElfNote]:
        """ELF notes (SHT_NOTE sections), e.g. AMDGPU code object metadata."""
        if self._elf_notes is None:
            self._elf_notes = []
            for s in self.sections:
                if s.type != "NOTE":
                    continue
                body = self.file_bytes(s.offset, s.size)
                if body is None:
                    self._note(f"note section {s.name} lies outside the image", s.offset)
                    continue
                self._elf_notes.extend(self._parse_notes(body, s))
        return self._elf_notes

    def _parse_notes(self, body: bytes, section: ElfSection) -> list[ElfNote]:
        # Notes are parsed by hand: the layout is trivial and pyelftools only
        # knows the GNU note types.
        notes = []
        pos = 0
        order = "<" if self.little_endian else ">"
        while pos + 12 <= len(body) and len(notes) < 4096:
            namesz, descsz, ntype = struct.unpack_from(order + "III", body, pos)
            name_end = pos + 12 + namesz
            desc_start = pos + 12 + _align4(namesz)
            desc_end = desc_start + descsz
            if name_end > len(body) or desc_end > len(body):
                self._note("ELF note overruns its section", section.offset + pos, section.name)
                break
            owner = body[pos + 12:name_end].rstrip(b"\0").decode("ascii", "replace")
            notes.append(ElfNote(owner, ntype, bytes(body[desc_start:desc_end]), section.name))
            pos = desc_start + _align4(descsz)
        return notes

    # -- addresses -------------------------------------------------------------
    def file_bytes(self, offset: int, size: int) -> bytes | None:
        if offset < 0 or size < 0 or offset + size > len(self.data):
            return None
        return self.data[offset:offset + size]

    def address_to_offset(self, address: int, size: int = 1) -> int | None:
        """File offset of ``[address, address + size)`` when it is file-backed."""
        for seg in self.segments:
            if seg.type != "LOAD":
                continue
            if seg.address <= address and address + size <= seg.address + seg.file_size:
                offset = seg.offset + (address - seg.address)
                if offset + size <= len(self.data):
                    return offset
                return None
        # Images without program headers (relocatable objects): use sections.
        for s in self.sections:
            if s.address and s.type != "NOBITS" and s.address <= address and \
                    address + size <= s.address + s.size:
                offset = s.offset + (address - s.address)
                return offset if offset + size <= len(self.data) else None
        return None

    def read(self, address: int, size: int) -> bytes | None:
        offset = self.address_to_offset(address, size)
        return None if offset is None else self.data[offset:offset + size]

    def read_u(self, address: int, size: int) -> int | None:
        raw = self.read(address, size)
        if raw is None:
            return None
        return int.from_bytes(raw, "little" if self.little_endian else "big")

    @property
    def relocated_pointers(self) -> dict[int, int]:
        """Address of each pointer slot with a RELATIVE/absolute relocation -> target."""
        if self._relocs is None:
            self._relocs = {}
            if self._elf is not None:
                self._load_relocations()
        return self._relocs

    def _load_relocations(self) -> None:
        from elftools.elf.relocation import RelocationSection

        relative = _RELATIVE_RELOCS.get(self.machine, set())
        absolute = _ABSOLUTE_RELOCS.get(self.machine, set())
        for section in self._iter_sections():
            if not isinstance(section, RelocationSection):
                continue
            try:
                count = min(section.num_relocations(), MAX_TABLE_ENTRIES)
                symtab = None
                for i in range(count):
                    rel = section.get_relocation(i)
                    rtype = rel["r_info_type"]
                    where = int(rel["r_offset"])
                    if rel.is_RELA():
                        addend = int(rel["r_addend"])
                    else:  # REL: the addend sits in the slot itself
                        addend = self.read_u(where, self.pointer_size) or 0
                    if rtype in relative:
                        self._relocs[where] = addend
                    elif rtype in absolute:
                        if symtab is None:
                            symtab = self._elf.get_section(section["sh_link"])
                        sym = symtab.get_symbol(rel["r_info_sym"])
                        self._relocs[where] = int(sym["st_value"]) + addend
            except Exception as e:
                self._note(f"relocations in {section.name} are unreadable: {_describe(e)}")

    def read_pointer(self, address: int) -> int | None:
        """The pointer stored at ``address`` after load-time relocation (base 0)."""
        target = self.relocated_pointers.get(address)
        if target is not None:
            return target
        return self.read_u(address, self.pointer_size)

    def read_cstring(self, address: int, limit: int = MAX_CSTRING) -> str | None:
        offset = self.address_to_offset(address)
        if offset is None:
            return None
        end = self.data.find(b"\0", offset, min(len(self.data), offset + limit))
        if end < 0:
            return None
        return self.data[offset:end].decode("utf-8", "replace")

    # -- code ------------------------------------------------------------------
    def functions(self) -> list[ElfFunction]:
        """Function symbols with a non-zero size, by address."""
        seen = {}
        for sym in self.symbols:
            if sym.type == "FUNC" and sym.size and sym.value not in seen:
                seen[sym.value] = ElfFunction(sym.name, sym.value, sym.size)
        return sorted(seen.values(), key=lambda f: f.address)

    def code_section_for(self, address: int) -> ElfSection | None:
        for s in self.sections:
            if s.is_executable and s.address <= address < s.address + s.size:
                return s
        return None

    def extent_from(self, address: int, others: list[int]) -> int:
        """Size of the code starting at ``address``: up to the next known start or section end."""
        section = self.code_section_for(address)
        if section is None:
            return 0
        end = section.address + section.size
        starts = sorted(a for a in others if address < a < end)
        i = bisect.bisect_right(starts, address)
        if i < len(starts):
            end = starts[i]
        return end - address

    def disassemble(self, address: int, size: int, *, limit: int = 100_000
                    ) -> list[MachineInstruction]:
        """Disassembles ``[address, address + size)`` with capstone (never executes it).

        Raises :class:`LookupError` when the machine has no capstone backend
        here and :class:`ValueError` when the range is not file-backed code.
        """
        code = self.read(address, size)
        if code is None:
            raise ValueError(f"no file-backed code at 0x{address:x} (+{size})")
        md = self.capstone()
        out = []
        pos = 0
        # capstone stops at undecodable bytes; show them as data and resume so
        # that one bad byte does not hide the rest of the function.
        while pos < len(code) and len(out) < limit:
            decoded = False
            for insn in md.disasm(code[pos:], address + pos):
                out.append(MachineInstruction(insn.address, bytes(insn.bytes), insn.mnemonic,
                                              insn.op_str))
                pos += insn.size
                decoded = True
                if len(out) >= limit:
                    break
            if pos < len(code) and (not decoded or len(out) < limit):
                step = min(self._min_insn_size(), len(code) - pos)
                out.append(MachineInstruction(address + pos, code[pos:pos + step], ".byte",
                                              ", ".join(f"0x{b:02x}" for b in code[pos:pos + step])))
                pos += step
        return out

    def _min_insn_size(self) -> int:
        return {EM_AARCH64: 4, EM_ARM: 4, EM_RISCV: 2}.get(self.machine, 1)

    def capstone(self):
        try:
            import capstone
        except ImportError as e:  # pragma: no cover - capstone is a dependency
            raise LookupError("capstone is not installed") from e
        arch_mode = {
            EM_X86_64: (capstone.CS_ARCH_X86, capstone.CS_MODE_64),
            EM_386: (capstone.CS_ARCH_X86, capstone.CS_MODE_32),
            EM_AARCH64: (capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM),
            EM_ARM: (capstone.CS_ARCH_ARM, capstone.CS_MODE_ARM),
            EM_RISCV: (capstone.CS_ARCH_RISCV,
                       (capstone.CS_MODE_RISCV64 if self.elf_class == 64
                        else capstone.CS_MODE_RISCV32) | capstone.CS_MODE_RISCVC),
        }.get(self.machine)
        if arch_mode is None:
            raise LookupError(f"no disassembler for {self.machine_name or 'this machine'}")
        md = capstone.Cs(*arch_mode)
        if not self.little_endian:
            md.mode |= capstone.CS_MODE_BIG_ENDIAN
        return md

    @property
    def can_disassemble(self) -> bool:
        return self.machine in (EM_X86_64, EM_386, EM_AARCH64, EM_ARM, EM_RISCV)


def _align4(n: int) -> int:
    return (n + 3) & ~3


def _describe(e: Exception) -> str:
    text = str(e) or type(e).__name__
    return text if len(text) < 200 else text[:200] + "..."
