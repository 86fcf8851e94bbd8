"""Damaged executables, WebGPU containers (built here) and embedded source files.

Damage: seeded corruptions of every container kind must give an Executable
with notes (lenient API) or a FormatError (strict API), never another
exception; a module whose executable blob is damaged still lists it.
WebGPU: IREE 3.13 has no WebGPU target, so a WGS1 container is built with
flatc's generated builders and read back. Sources: iree-compile embeds a
variant's ``sources`` into the container; the test substitutes a dumped
executable with one that carries a source file (the same route IREE's
debug level 3 takes) and checks the file and its content come back.
"""

from __future__ import annotations

import random
import struct
import subprocess

import pytest

import iree_lab
from iree_lab.errors import FormatError
from iree_lab.format.executables import open_executable, parse_executable
from iree_lab.hal.executables import export_listing, find_executables
from iree_lab.testing import corpus

BLOB_PROGRAMS = ["exe_vmvx", "exe_llvm_cpu", "exe_llvm_cpu_system", "exe_aarch64",
                 "exe_riscv64", "exe_vulkan", "exe_cuda", "exe_hip", "exe_hip_hsaco",
                 "exe_amdgpu", "exe_metal"]


def _blobs(build_module, name):
    module = iree_lab.open(build_module(name))
    return [(exe.format, bytes(exe.data)) for exe in find_executables(module)]


def _mutations(rng: random.Random, data: bytes, count: int):
    n = len(data)
    for i in range(count):
        blob = bytearray(data)
        kind = i % 4
        if kind == 0:  # flip bytes in the first KiB (headers, tables, offsets)
            for _ in range(rng.randint(1, 8)):
                blob[rng.randrange(min(n, 1024))] = rng.randrange(256)
        elif kind == 1:  # flip bytes anywhere
            for _ in range(rng.randint(1, 16)):
                blob[rng.randrange(n)] = rng.randrange(256)
        elif kind == 2:  # truncate
            del blob[rng.randrange(n):]
        else:  # overwrite a 4-byte word with an extreme value (huge offsets/counts)
            pos = rng.randrange(max(1, n - 4)) & ~3
            blob[pos:pos + 4] = struct.pack("<I", rng.choice(
                [0, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, n, n + 4, 0x10000]))
        yield bytes(blob)


def _exercise(exe) -> None:
    """Touches everything a view would: exports, listings, code object text."""
    for export in exe.exports:
        export_listing(exe, export)
    for code in exe.code_objects:
        _ = code.text
    for f in exe.source_files:
        _ = f.text


@pytest.mark.parametrize("name", BLOB_PROGRAMS)
def test_seeded_corruptions_give_notes_never_other_exceptions(build_module, name):
    rng = random.Random(f"executables-{name}")
    damaged_with_notes = 0
    for fmt, data in _blobs(build_module, name)[:2]:
        intact = parse_executable(data, fmt)
        assert intact.notes == []
        for blob in _mutations(rng, data, 60):
            exe = parse_executable(blob, fmt)  # must not raise
            _exercise(exe)
            if exe.notes:
                damaged_with_notes += 1
                with pytest.raises(FormatError):
                    open_executable(blob, fmt)
            else:
                assert open_executable(blob, fmt).size == len(blob)
    # Truncations alone guarantee that many mutations are detected.
    assert damaged_with_notes >= 20


def test_truncated_flatbuffer_is_partial_with_clear_note(build_module):
    fmt, data = _blobs(build_module, "exe_cuda")[0]
    exe = parse_executable(data[:40], fmt)
    assert exe.exports == [] and "header" in str(exe.notes[0])
    exe = parse_executable(data[: len(data) // 2], fmt)
    assert any("content size" in n.what for n in exe.notes)


def test_damaged_library_table_keeps_other_exports(build_module):
    """Breaking one export's name pointer loses that name only."""
    from iree_lab.format.executables.elf import ElfImage

    fmt, data = _blobs(build_module, "exe_llvm_cpu")[0]
    image = ElfImage(data)
    intact = parse_executable(data, fmt)
    library = intact.attributes["library"]["address"]
    names_table = image.read_pointer(library + 8 * 8)  # exports.names
    slot = names_table + 8  # export 1's name pointer
    blob = bytearray(data)
    relocs = image.relocated_pointers
    assert slot in relocs
    # Point the relocation addend far outside the image.
    for section in image.sections:
        if section.type == "RELA":
            for i in range(section.size // 24):
                entry = section.offset + 24 * i
                if struct.unpack_from("<Q", blob, entry)[0] == slot:
                    struct.pack_into("<q", blob, entry + 16, 0x7FFFFFFF0000)
    exe = parse_executable(bytes(blob), fmt)
    assert exe.exports[1].name is None
    assert [e.name for e in exe.exports if e.ordinal != 1] == \
        [e.name for e in intact.exports if e.ordinal != 1]
    assert any("export 1 name" in n.what for n in exe.notes)


def test_module_with_damaged_executable_still_lists_it(build_module, tmp_path):
    path = build_module("exe_vulkan")
    module = iree_lab.open(path)
    first = find_executables(module)[0]
    raw = bytearray(path.read_bytes())
    start = first.file_offset
    raw[start + 64:start + 96] = b"\xff" * 32  # root offset and vtable area of the FlatBuffer
    damaged = tmp_path / "damaged.vmfb"
    damaged.write_bytes(bytes(raw))
    found = find_executables(iree_lab.open(damaged))
    assert len(found) == 5
    exe = found[0].parse()
    assert exe.notes and exe.exports == []
    # The other executables are unaffected.
    assert all(not e.parse().notes for e in found[1:])
    from iree_lab.cli.main import main

    assert main(["executables", str(damaged)]) == 0


def test_unknown_container_and_elf_machine_are_not_errors():
    exe = parse_executable(b"\x7fELF" + bytes(60), "system-elf-future")
    assert exe.container == "elf" and exe.notes
    exe = parse_executable(b"", None)
    assert exe.container == "unknown" and exe.size == 0


# -- WebGPU -------------------------------------------------------------------
def _build_wgs1() -> bytes:
    import flatbuffers
    from flatc_generated.iree.hal.debug import ExportDef as DebugExport
    from flatc_generated.iree.hal.debug import FileLineLocDef, SourceFileDef
    from flatc_generated.iree.hal.webgpu import (
        ExecutableDef,
        ExportDef,
        ShaderModuleDef,
        WorkgroupSize,
    )

    b = flatbuffers.Builder(1024)
    wgsl = b.CreateString("@compute @workgroup_size(64, 1, 1)\nfn d0() {\n  return;\n}\n")
    smap = b.CreateString('{"version":3}')
    ShaderModuleDef.Start(b)
    ShaderModuleDef.AddWgslSource(b, wgsl)
    ShaderModuleDef.AddSourceMap(b, smap)
    module = ShaderModuleDef.End(b)
    filename = b.CreateString("model.mlir")
    FileLineLocDef.Start(b)
    FileLineLocDef.AddFilename(b, filename)
    FileLineLocDef.AddLine(b, 12)
    loc = FileLineLocDef.End(b)
    debug_name = b.CreateString("add_dispatch_0")
    DebugExport.Start(b)
    DebugExport.AddName(b, debug_name)
    DebugExport.AddLocation(b, loc)
    debug = DebugExport.End(b)
    ExportDef.StartBindingFlagsVector(b, 2)
    b.PrependUint64(0)
    b.PrependUint64(1)
    flags = b.EndVector()
    entry = b.CreateString("d0")
    ExportDef.Start(b)
    ExportDef.AddShaderModuleOrdinal(b, 0)
    ExportDef.AddEntryPoint(b, entry)
    ExportDef.AddWorkgroupSize(b, WorkgroupSize.CreateWorkgroupSize(b, 64, 1, 1))
    ExportDef.AddConstantCount(b, 2)
    ExportDef.AddBindingFlags(b, flags)
    ExportDef.AddDebugInfo(b, debug)
    export = ExportDef.End(b)
    path = b.CreateString("model.mlir")
    content = b.CreateByteVector(b"line\n" * 20)
    SourceFileDef.Start(b)
    SourceFileDef.AddPath(b, path)
    SourceFileDef.AddContent(b, content)
    source = SourceFileDef.End(b)
    vectors = []
    for start, items in ((ExecutableDef.StartExportsVector, [export]),
                         (ExecutableDef.StartShaderModulesVector, [module]),
                         (ExecutableDef.StartSourceFilesVector, [source])):
        start(b, len(items))
        for item in reversed(items):
            b.PrependUOffsetTRelative(item)
        vectors.append(b.EndVector())
    ExecutableDef.Start(b)
    ExecutableDef.AddExports(b, vectors[0])
    ExecutableDef.AddShaderModules(b, vectors[1])
    ExecutableDef.AddSourceFiles(b, vectors[2])
    b.Finish(ExecutableDef.End(b), file_identifier=b"WGS1")
    body = bytes(b.Output())
    header = struct.pack("<4sIQ", b"WGS1", 0, len(body)) + bytes(48)
    return header + body


def test_webgpu_container_built_with_flatc_builders():
    exe = parse_executable(_build_wgs1(), "webgpu-wgsl-fb")
    assert exe.notes == []
    assert exe.identifier == "WGS1"
    (export,) = exe.exports
    assert (export.name, export.symbol) == ("add_dispatch_0", "d0")
    assert export.workgroup_size == (64, 1, 1)
    assert export.constant_count == 2 and export.binding_count == 2
    assert export.binding_flags == [("READ_ONLY",), ()]
    assert str(export.location) == "model.mlir:12"
    (code,) = exe.code_objects
    assert code.kind == "wgsl" and code.attributes["source_map"] == '{"version":3}'
    kind, lines = export_listing(exe, export)
    assert kind == "wgsl" and lines[0].startswith("@compute") and lines[-1] == "}"
    assert exe.source_files[0].content == b"line\n" * 20


# -- embedded sources --------------------------------------------------------------
_SOURCE_TEXT = "// embedded source of the sum dispatch\nfunc.func @sum() {}\n"


def _with_embedded_source(tmp_path, flags: list[str]) -> bytes:
    """Compiles dispatches.mlir with the sum dispatch's variant carrying a source file."""
    compile_tool = corpus.tool_path("iree-compile")
    source = corpus.PROGRAMS_DIR / "executables" / "dispatches.mlir"
    dumps = tmp_path / "dumps"
    subprocess.run([compile_tool, *flags, f"--iree-hal-dump-executable-sources-to={dumps}",
                    str(source), "-o", str(tmp_path / "a.vmfb")], check=True,
                   capture_output=True)
    (dumped,) = dumps.glob("*sum_dispatch_0*.mlir")
    text = dumped.read_text()
    content = _SOURCE_TEXT.encode()
    marker = "\n    hal.executable.export"
    head, sep, tail = text.partition(marker)
    assert sep and head.endswith(") {")
    attr = f' sources({{"sum_source.mlir" = dense_resource<sum_source> : vector<{len(content)}xi8>}})'
    text = head[:-2] + attr + " {" + sep + tail
    text += ('\n{-#\n  dialect_resources: {\n    builtin: {\n      sum_source: "0x01000000'
             + content.hex() + '"\n    }\n  }\n#-}\n')
    substitute = tmp_path / "sum_with_source.mlir"
    substitute.write_text(text)
    out = tmp_path / "b.vmfb"
    subprocess.run([compile_tool, *flags,
                    f"--iree-hal-substitute-executable-source=sum_dispatch_0={substitute}",
                    str(source), "-o", str(out)], check=True, capture_output=True)
    return out


@pytest.mark.parametrize("name", ["exe_vulkan", "exe_cuda", "exe_llvm_cpu"])
def test_embedded_source_files(tmp_path, name, capsys):
    path = _with_embedded_source(tmp_path, list(corpus.PROGRAMS[name].flags))
    found = find_executables(iree_lab.open(path))
    sum_exe = found.find("sum_dispatch_0_reduction_64_i32")
    parsed = sum_exe.parse()
    assert parsed.notes == []
    assert [(f.path, f.text) for f in parsed.source_files] == [("sum_source.mlir", _SOURCE_TEXT)]
    from iree_lab.cli.main import main

    out_dir = tmp_path / "out"
    assert main(["extract", str(path), "--output-dir", str(out_dir)]) == 0
    written = list(out_dir.rglob("sum_source.mlir"))
    assert len(written) == 1 and written[0].read_text() == _SOURCE_TEXT
    assert written[0].parent.name == "sources"


def test_amdgpu_metadata_damage_is_bounded(build_module):
    """The metadata note (MessagePack) of an HSACO image: counts past the note's
    size, truncation and garbage give a 'malformed' note, never an allocation the
    size of the claim or another exception; padding after the value is ignored."""
    from iree_lab.format.executables.cpu import amdgpu_kernels
    from iree_lab.format.executables.elf import ElfImage

    (fmt, data), = _blobs(build_module, "exe_hip_hsaco")
    kernels, notes = amdgpu_kernels(data)
    assert kernels and notes == []
    (note,) = [n for n in ElfImage(data).elf_notes if n.owner == "AMDGPU"]
    at = data.find(bytes(note.description))
    assert at > 0 and data[at] & 0xF0 == 0x80  # a fixmap
    length = len(note.description)

    def damaged(replacement: bytes) -> bytes:
        body = (replacement + bytes(note.description)[len(replacement):])[:length]
        return data[:at] + body + data[at + length:]

    cases = {
        "array32 of 2^32-1": b"\xdd\xff\xff\xff\xff",
        "map32 of 2^32-1": b"\xdf\xff\xff\xff\xff",
        "str32 of 2^31": b"\xdb\x80\x00\x00\x00",
        "bin32 of 2^31": b"\xc6\x80\x00\x00\x00",
        "reserved type byte": b"\xc1",
        "nesting": b"\x91" * length,
    }
    for what, replacement in cases.items():
        kernels, notes = amdgpu_kernels(damaged(replacement))
        assert kernels == [], what
        assert [n.what.startswith("AMDGPU metadata is malformed") for n in notes] == [True], \
            (what, notes)
    # Trailing bytes after a complete value: the value is kept.
    kernels, notes = amdgpu_kernels(damaged(b"\x80"))  # an empty map, then leftovers
    assert kernels == [] and notes == []
