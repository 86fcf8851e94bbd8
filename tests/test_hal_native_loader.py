"""The native CPU loaders: processor bits, policy, and damaged or hostile ELF images.

A damaged embedded ELF must fail in :func:`iree_lab.hal.elf_module.plan` (pure
Python, nothing mapped, nothing run) with a VMStatus naming what and where,
using IREE's status code and text where IREE's loader checks the same thing.
"""

from __future__ import annotations

import ctypes
import random
import struct

import pytest

import iree_lab
from iree_lab.format.executables import parse_executable
from iree_lab.hal import Device, cpu, elf_module, native
from iree_lab.testing import corpus
from iree_lab.vm.status import StatusCode, VMStatus

pytestmark = pytest.mark.skipif(cpu.HOST_ARCH != "x86_64",
                                reason="the corpus ELFs are x86-64; this host is not")


def _elf_blob(program: str) -> bytes:
    module = iree_lab.open(corpus.build(program))
    return next(bytes(s.data) for s in module.rodata if bytes(s.data[:4]) == b"\x7fELF")


@pytest.fixture(scope="module")
def embedded() -> bytes:
    return _elf_blob("exe_llvm_cpu")


def test_processor_bits_match_iree_cpuinfo(iree_tool):
    """The feature bits handed to executables are the ones IREE's runtime reads."""
    out = iree_tool("iree-cpuinfo").stdout.decode()
    expected = {name: value == "1" for name, value in
                (line.split() for line in out.splitlines() if line.strip())}
    assert cpu.features() == expected


def test_native_false_refuses_native_formats(embedded):
    device = Device(native=False)
    assert device.query_i64("hal.executable.format", "embedded-elf-x86_64") == 1
    with pytest.raises(VMStatus) as e:
        device.create_executable("embedded-elf-x86_64", embedded)
    assert e.value.code == StatusCode.PERMISSION_DENIED
    assert "--no_native" in e.value.message


def test_cli_no_native(capsys):
    from iree_lab.cli.main import main

    path = corpus.build("tensor_llvm_cpu")
    code = main(["run", "--no_native", f"--module={path}", "--function=add",
                 "--input=4xf32=1", "--input=4xf32=2"])
    captured = capsys.readouterr()
    assert code == 1 and captured.out == ""
    assert "PERMISSION_DENIED; executable format 'embedded-elf-x86_64' runs native code" in \
        captured.err


@pytest.mark.parametrize("program", ["exe_llvm_cpu", "exe_llvm_cpu_system"])
def test_loaded_exports_match_the_static_reading(program):
    """What the library reports at run time agrees with iree_lab's static reader."""
    blob = _elf_blob(program)
    fmt = "embedded-elf-x86_64" if program == "exe_llvm_cpu" else "system-elf-x86_64"
    exe = Device().create_executable(fmt, blob)
    assert isinstance(exe, native.NativeExecutable)
    static = parse_executable(blob, fmt)
    assert [e.name for e in exe.exports] == [e.name for e in static.exports]
    for ours, theirs in zip(exe.exports, static.exports, strict=True):
        assert ours.binding_count == theirs.binding_count
        assert ours.constant_count == theirs.constant_count


def test_segments_are_never_writable_and_executable(embedded):
    """After loading, every page of the image is W^X (read from /proc/self/maps)."""
    exe = Device().create_executable("embedded-elf-x86_64", embedded)
    image = exe._image
    lo, hi = image.base, image.base + image.plan.size
    perms = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            span, mode = line.split()[:2]
            start, end = (int(v, 16) for v in span.split("-"))
            if start < hi and end > lo:
                perms.append(mode)
    assert perms and all(not ("w" in p and "x" in p) for p in perms)
    assert any("x" in p for p in perms)


# -- Damaged images --------------------------------------------------------------------------


def _phdrs(blob: bytes):
    phoff, phnum = struct.unpack_from("<Q", blob, 32)[0], struct.unpack_from("<H", blob, 56)[0]
    return [(phoff + i * 56, struct.unpack_from("<IIQQQQQQ", blob, phoff + i * 56))
            for i in range(phnum)]


def _vaddr_to_offset(blob: bytes, vaddr: int) -> int:
    for _, (p_type, _, off, va, _, filesz, _, _) in _phdrs(blob):
        if p_type == 1 and va <= vaddr < va + filesz:
            return off + vaddr - va
    raise AssertionError(hex(vaddr))


def _dynamic(blob: bytes) -> dict[int, tuple[int, int]]:
    """tag -> (file offset of the entry, value)."""
    (off, filesz) = next((p[2], p[5]) for _, p in _phdrs(blob) if p[0] == 2)
    out = {}
    for i in range(filesz // 16):
        tag, value = struct.unpack_from("<qQ", blob, off + 16 * i)
        if tag == 0:
            break
        out[tag] = (off + 16 * i, value)
    return out


def _patch(blob: bytes, offset: int, fmt: str, *values) -> bytes:
    out = bytearray(blob)
    struct.pack_into(fmt, out, offset, *values)
    return bytes(out)


def _first_rela(blob: bytes) -> int:
    dyn = _dynamic(blob)
    return _vaddr_to_offset(blob, dyn[elf_module.DT_RELA][1])


def _symbol(blob: bytes, name: bytes) -> int:
    """File offset of the dynamic symbol called ``name``."""
    dyn = _dynamic(blob)
    strtab = _vaddr_to_offset(blob, dyn[elf_module.DT_STRTAB][1])
    symtab = _vaddr_to_offset(blob, dyn[elf_module.DT_SYMTAB][1])
    count = struct.unpack_from("<II", blob, _vaddr_to_offset(blob, dyn[elf_module.DT_HASH][1]))[1]
    for i in range(1, count):
        st_name = struct.unpack_from("<I", blob, symtab + 24 * i)[0]
        if blob[strtab + st_name:].split(b"\0", 1)[0] == name:
            return symtab + 24 * i
    raise AssertionError(name)


QUERY = native.LIBRARY_QUERY_SYMBOL.encode()

DAMAGES = [
    ("truncated header", lambda b: b[:40], StatusCode.FAILED_PRECONDITION,
     "ELF data provided (40) is smaller than ehdr (64)"),
    ("not an ELF", lambda b: b"\x7fELG" + b[4:], StatusCode.FAILED_PRECONDITION,
     "data provided does not contain the ELF identifier"),
    ("32-bit class", lambda b: _patch(b, 4, "<B", 1), StatusCode.FAILED_PRECONDITION,
     "system/ELF class mismatch: expected 64-bit"),
    ("other machine", lambda b: _patch(b, 18, "<H", 0xB7), StatusCode.FAILED_PRECONDITION,
     "ELF machine specification (00B7) does not match the running architecture"),
    ("executable type", lambda b: _patch(b, 16, "<H", 2), StatusCode.FAILED_PRECONDITION,
     "only shared object ELFs are supported"),
    ("phdr table past the end", lambda b: _patch(b, 32, "<Q", len(b) - 8),
     StatusCode.FAILED_PRECONDITION, "invalid mandatory phdr table"),
    ("truncated segments", lambda b: b[:len(b) // 3], StatusCode.FAILED_PRECONDITION,
     None),
    ("segment past the file", lambda b: _patch(b, next(o for o, p in _phdrs(b) if p[0] == 1)
                                              + 32, "<Q", len(b) * 4),
     StatusCode.FAILED_PRECONDITION, "phdr reference outside of file extents"),
    ("writable code", lambda b: _patch(b, next(o for o, p in _phdrs(b) if p[0] == 1 and p[1] & 1)
                                      + 4, "<I", 7),
     StatusCode.PERMISSION_DENIED, "unable to create a writable executable segment"),
    ("no dynamic segment", lambda b: _patch(b, next(o for o, p in _phdrs(b) if p[0] == 2),
                                           "<I", 0x70000000),
     StatusCode.FAILED_PRECONDITION, "no PT_DYNAMIC/.dynamic segment"),
    ("REL relocations", lambda b: _patch(b, _dynamic(b)[elf_module.DT_RELA][0], "<q",
                                         elf_module.DT_REL),
     StatusCode.FAILED_PRECONDITION, "unsupported DT_REL relocations"),
    ("unsupported relocation type", lambda b: _patch(b, _first_rela(b) + 8, "<Q", 37),
     StatusCode.UNIMPLEMENTED, "unimplemented x86_64 relocation type 00000025"),
    ("relocation symbol out of range", lambda b: _patch(b, _first_rela(b) + 8, "<Q",
                                                        (999 << 32) | 1),
     StatusCode.OUT_OF_RANGE, "invalid symbol in relocation: 999"),
    ("relocation outside the image", lambda b: _patch(b, _first_rela(b), "<Q", 1 << 40),
     StatusCode.FAILED_PRECONDITION, "is outside the loaded segments"),
    ("symbol table outside the image", lambda b: _patch(b, _dynamic(b)[elf_module.DT_SYMTAB][0]
                                                        + 8, "<Q", 1 << 36),
     StatusCode.FAILED_PRECONDITION, "DT_SYMTAB at 0x1000000000"),
    ("undefined symbol", lambda b: _patch(b, _symbol(b, QUERY) + 6, "<H", 0),
     StatusCode.UNAVAILABLE, "ELF imports one or more symbols (trying "
     "'iree_hal_executable_library_query'); imports are not supported"),
    ("query symbol outside the code", lambda b: _patch(b, _symbol(b, QUERY) + 8, "<Q", 1 << 33),
     StatusCode.FAILED_PRECONDITION, "symbol 'iree_hal_executable_library_query' at "
     "0x200000000 is not inside an executable segment"),
    ("query symbol renamed", lambda b: b.replace(QUERY, QUERY.upper()), StatusCode.NOT_FOUND,
     "exported symbol with name 'iree_hal_executable_library_query' not found in module"),
]


@pytest.mark.parametrize(("what", "damage", "code", "message"), DAMAGES,
                         ids=[d[0] for d in DAMAGES])
def test_damaged_elf_is_refused_before_mapping(embedded, monkeypatch, what, damage, code,
                                               message):
    blob = damage(embedded)
    # Nothing may be mapped for a refused image: fail loudly if the loader tries.
    monkeypatch.setattr(elf_module._Memory, "reserve", lambda *a: pytest.fail("mapped"))
    with pytest.raises(VMStatus) as e:
        Device().create_executable("embedded-elf-x86_64", blob)
    assert e.value.code == code, e.value.message
    if message:
        assert message in e.value.message


def test_seeded_mutations_only_raise_vmstatus(embedded):
    """Random damage to headers and tables: a clean VMStatus or a valid plan, nothing else."""
    rng = random.Random(1234)
    header_end = max(o + 56 for o, _ in _phdrs(embedded))
    dyn = _dynamic(embedded)
    tables = [(0, header_end), (min(o for o, _ in dyn.values()), max(o for o, _ in dyn.values())
                                + 16)]
    for tag in (elf_module.DT_SYMTAB, elf_module.DT_RELA, elf_module.DT_HASH):
        start = _vaddr_to_offset(embedded, dyn[tag][1])
        tables.append((start, start + 96))
    outcomes = {"ok": 0, "refused": 0}
    for _ in range(600):
        blob = bytearray(embedded)
        for _ in range(rng.randint(1, 4)):
            lo, hi = rng.choice(tables)
            blob[rng.randrange(lo, hi)] = rng.randrange(256)
        if rng.random() < 0.2:
            blob = blob[:rng.randrange(len(blob))]
        try:
            elf_module.plan(bytes(blob))
            outcomes["ok"] += 1
        except VMStatus:
            outcomes["refused"] += 1
    assert outcomes["refused"] > 100 and sum(outcomes.values()) == 600


def test_required_imports_are_unavailable_and_optional_ones_null():
    """Executable imports: required ones refuse to load, optional (``?name``) resolve to NULL."""
    names = [b"?optional_fn\0", b"required_fn\0"]
    strings = [ctypes.create_string_buffer(n) for n in names]
    table = (ctypes.c_void_p * 2)(*[ctypes.addressof(s) for s in strings])
    library = (ctypes.c_uint64 * 3)(0, 1, ctypes.addressof(table))
    reader = native._Reader(lambda address, size: ctypes.string_at(address, size))
    exe = native.NativeExecutable("embedded-elf-x86_64", b"", ())
    exe._resolve_imports(reader, ctypes.addressof(library))  # count 1: the optional one
    assert exe._import_symbols == ("?optional_fn",)
    funcs = (ctypes.c_void_p * 1).from_address(exe._environment.import_funcs)
    assert funcs[0] is None and exe._environment.import_thunk
    library[1] = 2
    exe = native.NativeExecutable("embedded-elf-x86_64", b"", ())
    with pytest.raises(VMStatus) as e:
        exe._resolve_imports(reader, ctypes.addressof(library))
    assert e.value.code == StatusCode.UNAVAILABLE and "required_fn" in e.value.message
    assert "?optional_fn" not in e.value.message


def test_recorder_and_views_see_native_dispatches():
    """The Recorder, its buffer capture and the HAL views work on native dispatches too."""
    import numpy as np

    from iree_lab import vm
    from iree_lab.hal import Recorder, Session
    from iree_lab.views import hal_data

    module = vm.BytecodeModule.load(corpus.build("tensor_llvm_cpu"))
    recorder = Recorder(capture_buffers=True)
    session = Session.for_modules([module], recorder=recorder)
    ctx = vm.Context(session.modules + [module])
    fn = ctx.lookup_function("add")
    (result,) = ctx.call_function(fn, session.parse_inputs(
        fn.cconv.arguments, ["4xf32=1 2 3 4", "4xf32=10 20 30 40"]))
    assert result.to_numpy().tolist() == [11, 22, 33, 44]
    (executable,) = recorder.executables.values()
    assert executable.format == "embedded-elf-x86_64"
    (dispatch,) = recorder.dispatches
    assert dispatch.status == "OK" and dispatch.export_name.startswith("add_dispatch")
    contents = hal_data.dispatch_contents(recorder, dispatch)
    assert [c["after"] for c in contents][-1] == ["11.0", "22.0", "33.0", "44.0"]
    assert any(c["changed"] for c in contents)
    assert np.asarray(result.to_numpy()).dtype == np.float32
