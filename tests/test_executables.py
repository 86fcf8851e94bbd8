"""Embedded HAL executables: discovery, container metadata per format, CLI, extraction.

One program (tests/programs/executables/dispatches.mlir) is compiled for every
HAL target; assertions compare what iree_lab reads from the device-side
containers with what the host bytecode says (dispatch binding/constant counts),
with the ZIP entries (Python's zipfile), with iree-dump-module (VMVX exports)
and with binutils/LLVM where installed (ELF sections, symbols, instruction
boundaries).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile

import pytest

import iree_lab
from iree_lab.cli.main import main as cli_main
from iree_lab.format.executables import parse_executable
from iree_lab.hal.executables import export_listing, find_executables

# Dispatch name prefix -> (binding count, has push constants).
DISPATCHES = {
    "add_dispatch_0": (3, False),
    "scale_dynamic_dispatch_0": (2, True),
    "softplus_dispatch_0": (2, False),
    "sum_dispatch_0": (2, False),
    "matmul_dispatch_0": (3, False),
}
# corpus name -> (format string, container, code kind, one executable per dispatch?)
TARGETS = {
    "exe_vmvx": ("vmvx-bytecode-fb", "vmfb", "vmfb", False),
    "exe_llvm_cpu": ("embedded-elf-x86_64", "elf", "elf", False),
    "exe_llvm_cpu_system": ("system-elf-x86_64", "elf", "elf", False),
    "exe_aarch64": ("embedded-elf-arm_64", "elf", "elf", False),
    "exe_riscv64": ("embedded-elf-riscv_64", "elf", "elf", False),
    "exe_vulkan": ("vulkan-spirv-fb", "flatbuffer", "spirv", True),
    "exe_cuda": ("cuda-nvptx-fb", "flatbuffer", "ptx", False),
    "exe_hip": ("rocm-hsaco-fb", "flatbuffer", "hsaco", False),
    "exe_hip_hsaco": ("rocm-hsaco-fb", "elf", "hsaco", False),
    "exe_amdgpu": ("gfx942", "flatbuffer", "hsaco", False),
    "exe_metal": ("metal-msl-fb", "flatbuffer", "msl", True),
}


def _prefix(name: str) -> str:
    for prefix in DISPATCHES:
        if name.startswith(prefix):
            return prefix
    raise AssertionError(f"unexpected export {name!r}")


@pytest.fixture(scope="module")
def discovered(build_module):
    cache = {}

    def get(name):
        if name not in cache:
            path = build_module(name)
            module = iree_lab.open(path)
            cache[name] = (path, module, find_executables(module))
        return cache[name]

    return get


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_discovery_and_metadata(discovered, name):
    path, module, found = discovered(name)
    fmt, container, code_kind, per_dispatch = TARGETS[name]
    assert found.notes == [] and found.unresolved_dispatches == []
    assert len(found) == (len(DISPATCHES) if per_dispatch else 1)
    seen = set()
    for exe in found:
        assert exe.format == fmt
        assert exe.create_sites and exe.create_sites[0].function == "__init"
        # Variant selection: the __init code checks this very format.
        assert {q.key for q in exe.format_queries} == {fmt}
        assert exe.device_ids, "device selection query (hal.device.id) not found"
        parsed = exe.parse()
        assert parsed.notes == []
        assert parsed.container == container
        assert {c.kind for c in parsed.code_objects} == {code_kind}
        # Every export name host code looks up exists in the container...
        names = {e.name for e in parsed.exports}
        assert set(exe.looked_up_names) <= names
        for export in parsed.exports:
            prefix = _prefix(export.name)
            seen.add(prefix)
            bindings, has_constants = DISPATCHES[prefix]
            # ...and is dispatched by host code with matching binding/constant counts.
            sites = exe.dispatches_of(export)
            assert sites, f"no dispatch site for {export.name}"
            for site in sites:
                assert site.binding_count == bindings
                assert site.site.pc >= 0
                if export.constant_count is not None:
                    assert site.constant_count == export.constant_count
            if export.binding_count is not None:
                assert export.binding_count == bindings
            if export.constant_count is not None:
                assert (export.constant_count > 0) == has_constants
            if export.binding_flags is not None:
                assert len(export.binding_flags) == bindings
                # The last binding is the output: never read-only.
                assert "READ_ONLY" not in export.binding_flags[-1]
                assert "IMMUTABLE" not in export.binding_flags[-1]
            if container == "flatbuffer":
                assert export.location is not None
                assert export.location.path.endswith("dispatches.mlir")
                assert export.location.line > 0
            if code_kind in ("spirv", "ptx", "msl", "hsaco"):
                assert export.workgroup_size is not None and all(export.workgroup_size)
    assert seen == set(DISPATCHES)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_zip_entries_are_the_executables(discovered, name):
    path, _, found = discovered(name)
    with zipfile.ZipFile(path) as z:
        entries = {i.filename for i in z.infolist()} - {"module.fb"}
        assert {exe.archive_name for exe in found} == entries
        for exe in found:
            assert bytes(exe.data) == z.read(exe.archive_name)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_every_export_has_a_listing(discovered, name):
    _, _, found = discovered(name)
    for exe in found:
        parsed = exe.parse()
        for export in parsed.exports:
            kind, lines = export_listing(parsed, export)
            assert lines and not lines[0].startswith("// error"), (kind, lines[:3])
            text = "\n".join(lines)
            if kind == "ptx":
                assert f".entry {export.symbol}(" in text
            elif kind == "msl":
                assert f"kernel void {export.symbol}(" in text
            elif kind == "spirv":
                assert lines[0].split(" = ")[1].startswith("OpFunction ")
                assert lines[-1] == "OpFunctionEnd"
            elif kind == "vm disassembly":
                assert f"vm.func @{export.name}(" in text
            elif kind.endswith("disassembly"):
                assert len(lines) >= 2 and ".byte" not in lines[0]


def test_vmvx_exports_match_iree_dump_module(discovered, iree_tool):
    _, _, found = discovered("exe_vmvx")
    exe = found[0]
    parsed = exe.parse()
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".vmfb") as f:
        f.write(parsed.data)
        f.flush()
        text = iree_tool("iree-dump-module", "--output=metadata", f.name).stdout.decode()
    exported = re.findall(r"^\s+\[\s*(\d+)\] (\w+)\(", text.split("Exported Functions:")[1],
                          re.MULTILINE)
    counts = re.findall(r"binding_count: (\d+)", text)
    assert [(int(i), n) for i, n in exported] == [(e.ordinal, e.name) for e in parsed.exports]
    assert [int(c) for c in counts] == [e.binding_count for e in parsed.exports]


def test_system_elf_library_table_matches_symbols(discovered):
    """Export addresses decoded from IREE's library table == the ELF's own symbols."""
    _, _, found = discovered("exe_llvm_cpu_system")
    parsed = found[0].parse()
    image = parsed.attributes["elf"]
    symbols = {s.name: s for s in image.symbols if s.type == "FUNC"}
    for export in parsed.exports:
        sym = symbols[export.name]
        assert export.attributes["address"] == sym.value
        assert export.attributes["size"] == sym.size


def _readelf(path, flag):
    if shutil.which("readelf") is None:
        pytest.skip("readelf not installed")
    return subprocess.run(["readelf", "-W", flag, str(path)], capture_output=True,
                          text=True, check=True).stdout


@pytest.mark.parametrize("name", ["exe_llvm_cpu", "exe_llvm_cpu_system", "exe_aarch64",
                                  "exe_riscv64", "exe_hip_hsaco"])
def test_elf_sections_and_symbols_match_readelf(discovered, name, tmp_path):
    _, _, found = discovered(name)
    parsed = found[0].parse()
    blob = tmp_path / "blob.so"
    blob.write_bytes(parsed.data)
    image = parsed.attributes["elf"]
    sections = re.findall(r"^\s*\[\s*(\d+)\]\s+(\S*)\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+"
                          r"([0-9a-f]+)", _readelf(blob, "-S"), re.MULTILINE)
    # Section 0 (SHT_NULL, no name) is printed without a name column: compare from 1.
    ours = [(s.index, s.name, s.address, s.offset, s.size) for s in image.sections[1:]]
    theirs = [(int(i), n, int(a, 16), int(o, 16), int(z, 16))
              for i, n, t, a, o, z in sections if int(i) > 0]
    assert len(theirs) == len(image.sections) - 1
    assert ours == theirs
    symbols = re.findall(r"^\s*\d+:\s+([0-9a-f]+)\s+(\d+)\s+(\w+)\s+\w+\s+\w+\s+\S+\s*(\S*)$",
                         _readelf(blob, "-s"), re.MULTILINE)
    assert sorted((int(v, 16), int(z), t, n) for v, z, t, n in symbols) == sorted(
        (s.value, s.size, s.type, s.name) for s in image.symbols)


@pytest.mark.parametrize("name", ["exe_llvm_cpu", "exe_aarch64", "exe_riscv64"])
def test_disassembly_boundaries_match_llvm_objdump(discovered, name, tmp_path):
    tool = shutil.which("llvm-objdump")
    if tool is None:
        pytest.skip("llvm-objdump not installed")
    _, _, found = discovered(name)
    parsed = found[0].parse()
    blob = tmp_path / "blob.so"
    blob.write_bytes(parsed.data)
    image = parsed.attributes["elf"]
    for export in parsed.exports:
        start = export.attributes["address"]
        end = start + export.attributes["size"]
        out = subprocess.run(
            [tool, "-d", f"--start-address={start}", f"--stop-address={end}", str(blob)],
            capture_output=True, text=True, check=True).stdout
        theirs = [int(a, 16) for a in re.findall(r"^\s*([0-9a-f]+):\s", out, re.MULTILINE)]
        ours = [i.address for i in image.disassemble(start, end - start)]
        assert ours == theirs, export.name


def test_hsaco_kernel_metadata(discovered):
    for name in ("exe_hip", "exe_hip_hsaco", "exe_amdgpu"):
        _, _, found = discovered(name)
        parsed = found[0].parse()
        assert parsed.exports
        for export in parsed.exports:
            assert export.subgroup_size in (32, 64)
            assert isinstance(export.attributes["vgpr_count"], int)
            assert isinstance(export.attributes["sgpr_count"], int)
            assert export.attributes["kernarg_segment_size"] >= 8 * export.binding_count
    _, _, found = discovered("exe_amdgpu")
    parsed = found[0].parse()
    assert parsed.target == "gfx942"
    for export in parsed.exports:
        assert export.symbol == export.name + ".kd"


def test_vulkan_spirv_facts(discovered):
    from iree_lab.format.executables.spirv import SpirvModule

    _, _, found = discovered("exe_vulkan")
    for exe in found:
        parsed = exe.parse()
        module = SpirvModule(parsed.code_objects[0].data)
        assert module.notes == []
        assert "Shader" in module.capabilities
        assert module.memory_model == ("Logical", "GLSL450")
        export = parsed.exports[0]
        entry = module.entry_point(export.symbol)
        assert entry is not None and entry.execution_model == "GLCompute"
        assert module.local_size(export.symbol) == export.workgroup_size
        if export.name.startswith("softplus"):
            assert "GLSL.std.450" in module.ext_inst_imports.values()
            listing = "\n".join(module.listing())
            assert re.search(r"OpExtInst %\d+ %\d+ Sqrt ", listing)


# -- CLI ----------------------------------------------------------------------
def test_cli_lists_executables(discovered, capsys):
    path, _, found = discovered("exe_vulkan")
    assert cli_main(["executables", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.count("format: vulkan-spirv-fb") == len(found)
    for prefix in DISPATCHES:
        assert prefix in out
    assert "dispatched at " in out


def test_cli_export_shows_metadata_and_code(discovered, capsys):
    path, _, found = discovered("exe_llvm_cpu")
    export = next(e for e in found[0].parse().exports if e.name.startswith("matmul"))
    assert cli_main(["executables", str(path), "--export", export.name]) == 0
    out = capsys.readouterr().out
    assert f"name: {export.name}" in out
    assert "binding count: 3" in out
    assert "code (x86_64 disassembly):" in out
    assert re.search(r"^\s+[0-9a-f]+:\s+([0-9a-f]{2} )+\s*\w+", out, re.MULTILINE)
    assert cli_main(["executables", str(path), "--export", "no_such_export"]) == 1


def test_cli_extract_writes_blobs_code_and_sources(discovered, tmp_path, capsys):
    path, _, found = discovered("exe_vulkan")
    assert cli_main(["extract", str(path), "--output-dir", str(tmp_path)]) == 0
    written = capsys.readouterr().out.split()
    assert len(written) == 2 * len(found)  # each blob plus its SPIR-V module
    for exe in found:
        blob = tmp_path / exe.archive_name
        assert blob.read_bytes() == bytes(exe.data)
        spv = tmp_path / exe.name / "spirv_0.spv"
        assert spv.read_bytes() == exe.parse().code_objects[0].data
        assert spv.read_bytes()[:4] == b"\x03\x02\x23\x07"


def test_extract_never_writes_outside(tmp_path):
    from iree_lab.cli.extract import safe_relative_path

    for hostile in ("/etc/passwd", "../../x", "a/../../b", "..", "", "C:\\win\\x", "a/./b"):
        rel = safe_relative_path(hostile, "fallback")
        assert not rel.is_absolute() and ".." not in rel.parts
        resolved = (tmp_path / rel).resolve()
        assert tmp_path.resolve() in resolved.parents


def test_parse_executable_unknown_blob_is_hex_not_error():
    exe = parse_executable(b"\x00\x01garbage" * 10, "some-future-format")
    assert exe.container == "unknown"
    assert exe.code_objects[0].kind == "unknown" and exe.size == 90
    assert exe.notes  # says it was not recognised


# Inline-dynamic modules: hal_loader.executable.load creates, hal_loader dispatches.
INLINE_TARGETS = {"exe_vmvx_inline": "vmvx-bytecode-fb",
                  "exe_llvm_cpu_inline": "embedded-elf-x86_64"}


@pytest.mark.parametrize("name", sorted(INLINE_TARGETS))
def test_inline_dynamic_executables_match_iree_dump_module(discovered, iree_tool, name):
    """Load and dispatch sites are those of iree-dump-module's disassembly."""
    path, module, found = discovered(name)
    fmt = INLINE_TARGETS[name]
    assert found.notes == [] and found.unresolved_dispatches == []
    (exe,) = found
    assert exe.format == fmt
    assert {q.key for q in exe.format_queries} == {fmt}
    text = iree_tool("iree-dump-module", "--output=disassembly", "--bytecode_offsets",
                     str(path)).stdout.decode()
    sites = {"load": set(), "dispatch": set()}
    function = None
    for line in text.splitlines():
        if line.startswith("vm.func @"):
            function = line[len("vm.func @"):].split("(")[0]
        m = re.match(r"\[([0-9A-F]{8})\].*@hal_loader\.executable\.(load|dispatch)[ (]", line)
        if m:
            sites[m[2]].add((function, int(m[1], 16)))
    assert {(s.function, s.pc) for s in exe.create_sites} == sites["load"] != set()
    dispatched = {(d.site.function, d.site.pc) for d in exe.dispatches}
    assert dispatched == sites["dispatch"] and len(dispatched) == len(DISPATCHES)
    with zipfile.ZipFile(path) as z:
        assert bytes(exe.data) == z.read(exe.archive_name)
    parsed = exe.parse()
    assert parsed.notes == []
    for export in parsed.exports:
        (site,) = exe.dispatches_of(export)
        assert site.import_name == "hal_loader.executable.dispatch"
        assert site.binding_count == DISPATCHES[_prefix(export.name)][0]


def test_cli_lists_inline_dynamic_executables(discovered, capsys):
    path, _, _ = discovered("exe_vmvx_inline")
    assert cli_main(["executables", str(path)]) == 0
    out = capsys.readouterr().out
    assert "no executables" not in out and "format: vmvx-bytecode-fb" in out
