"""Schemas and generated code: up to date, consistent with flatc, and matching real bytes."""

from __future__ import annotations

import filecmp
import importlib
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

import iree_lab
from iree_lab.format import FeatureBits
from iree_lab.format.flatbuffer import open_executable_root
from iree_lab.format.generated import layouts

REPO = Path(__file__).resolve().parents[1]
GENERATED = REPO / "iree_lab" / "format" / "generated"  # layouts.py (runtime)
FLATC_GENERATED = REPO / "tests" / "flatc_generated"  # flatc's readers (tests only)


@pytest.mark.skipif(shutil.which("flatc") is None, reason="flatc is not installed")
def test_generated_code_is_up_to_date(tmp_path):
    out, flatc_out = tmp_path / "generated", tmp_path / "flatc_generated"
    subprocess.run([sys.executable, str(REPO / "tools" / "gen_schemas.py"), "--out", str(out),
                    "--flatc-out", str(flatc_out)], check=True, capture_output=True)
    for committed_dir, fresh_dir in ((GENERATED, out), (FLATC_GENERATED, flatc_out)):
        committed = sorted(p.relative_to(committed_dir) for p in committed_dir.rglob("*.py"))
        fresh = sorted(p.relative_to(fresh_dir) for p in fresh_dir.rglob("*.py"))
        assert committed == fresh
        _, mismatch, errors = filecmp.cmpfiles(committed_dir, fresh_dir,
                                               [str(p) for p in committed], shallow=False)
        assert not mismatch and not errors, "run tools/gen_schemas.py"


def _flatc_class(qualified: str):
    module = importlib.import_module(f"flatc_generated.{qualified}")
    return module, getattr(module, qualified.rsplit(".", 1)[1])


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


@pytest.mark.parametrize("table", sorted(layouts.TABLES))
def test_layout_slots_match_flatc(table):
    """Our .fbs parser and flatc agree on every field's vtable slot."""
    module, _cls = _flatc_class(table)
    source = Path(module.__file__).read_text()
    for field, spec in layouts.TABLES[table].items():
        method = re.search(rf"    def {_camel(field)}\(self.*?\n(.*?)\n\n", source, re.S)
        assert method, f"{table}.{field} missing in flatc output"
        assert f"self._tab.Offset({spec[0]})" in method.group(1), f"{table}.{field}"


@pytest.mark.parametrize("name", sorted(layouts.STRUCTS))
def test_struct_layouts_match_flatc(name):
    module, cls = _flatc_class(name)
    assert cls.SizeOf() == layouts.STRUCTS[name]["size"]
    source = Path(module.__file__).read_text()
    for field, (offset, *_) in layouts.STRUCTS[name]["fields"].items():
        assert re.search(rf"def {_camel(field)}\(self\).*?py_type\({offset}\)\)", source, re.S)


def test_feature_bits_match_schema():
    assert {b.name: b.value for b in FeatureBits} == layouts.ENUMS["iree.vm.FeatureBits"]["values"]


def test_flatc_reader_agrees_with_ours(build_module):
    """flatc's unchecked reader (an independent implementation) reads the same values."""
    _, BytecodeModuleDef = _flatc_class("iree.vm.BytecodeModuleDef")
    m = iree_lab.open(build_module("tensor_vmvx"))
    fb = bytes(m.flatbuffer)
    root = BytecodeModuleDef.GetRootAs(fb, 0)
    assert root.Name().decode() == m.name
    assert root.ImportedFunctionsLength() == len(m.imports)
    for i, imp in enumerate(m.imports):
        assert root.ImportedFunctions(i).FullName().decode() == imp.full_name
        assert root.ImportedFunctions(i).Signature().CallingConvention().decode() == (
            imp.calling_convention)
    for i, f in enumerate(m.functions):
        d = root.FunctionDescriptors(i)
        assert (d.BytecodeOffset(), d.BytecodeLength(), d.BlockCount(), d.I32RegisterCount(),
                d.RefRegisterCount(), d.Requirements()) == (
            f.bytecode_offset, f.bytecode_length, f.block_count, f.i32_register_count,
            f.ref_register_count, f.requirements)
    db = root.DebugDatabase()
    assert db.LocationTableLength() == m.debug_database.location_count
    m.verify_flatbuffer()
    m.verify()


def _executables(module, suffix):
    return [s for s in module.rodata if (s.archive_name or "").endswith(suffix)]


def test_vulkan_executable_schema_matches_bytes(build_module):
    m = iree_lab.open(build_module("tensor_vulkan"))
    blobs = _executables(m, "_vulkan_spirv_fb.fb")
    assert len(blobs) == 3
    for seg in blobs:
        root = open_executable_root(seg.data, "vulkan_executable_def", base=seg.file_offset)
        pipeline = root.vector("pipelines")[0]
        entry_point = pipeline.string("entry_point")
        assert seg.archive_name.startswith(entry_point.split("_dispatch_")[0])
        assert pipeline.table("debug_info").string("name") == entry_point
        spirv = root.vector("shader_modules")[pipeline.scalar("shader_module_ordinal")]
        assert spirv.vector("spirv_code")[0] == 0x07230203  # SPIR-V magic
        layout = root.vector("pipeline_layouts")[pipeline.scalar("pipeline_layout_ordinal")]
        set_layout = root.vector("descriptor_set_layouts")[
            layout.vector("descriptor_set_layout_ordinals")[0]]
        bindings = set_layout.vector("bindings")
        assert [b.scalar("binding") for b in bindings] == list(range(len(bindings)))
        assert {b.scalar("descriptor_type") for b in bindings} == {7}  # STORAGE_BUFFER
        assert {b.scalar("stage_flags") for b in bindings} == {0x20}  # COMPUTE


def test_cuda_executable_schema_matches_bytes(build_module):
    m = iree_lab.open(build_module("tensor_cuda"))
    (seg,) = _executables(m, "_cuda_nvptx_fb.fb")
    root = open_executable_root(seg.data, "cuda_executable_def", base=seg.file_offset)
    exports = root.vector("exports")
    names = [e.string("kernel_name") for e in exports]
    assert any(n.startswith("add_dispatch") for n in names)
    assert any(n.startswith("matmul_dispatch") for n in names)
    for e in exports:
        dims = e.struct("block_dims")
        assert dims.x >= 1 and dims.y >= 1 and dims.z >= 1
        assert e.table("debug_info").string("name") == e.string("kernel_name")
        location = e.table("debug_info").table("location")
        assert location.string("filename").endswith("tensor.mlir")
        ptx = root.vector("modules")[e.scalar("module_ordinal")].string("ptx_image")
        assert f".entry {e.string('kernel_name')}" in ptx


@pytest.mark.parametrize("program", ["tensor_llvm_cpu", "tensor_llvm_cpu_system"])
def test_llvm_cpu_executables_are_raw_elf(program, build_module):
    m = iree_lab.open(build_module(program))
    blobs = [s for s in m.rodata if (s.archive_name or "").endswith(".so")]
    assert blobs
    for seg in blobs:
        assert bytes(seg.data[:4]) == b"\x7fELF"
        (e_machine,) = struct.unpack_from("<H", seg.data, 18)
        assert e_machine == 62  # x86-64


@pytest.mark.parametrize(("program", "schema", "name_field", "image_field"), [
    ("tensor_hip", "hip_executable_def", "kernel_name", "hsaco_image"),
    ("tensor_amdgpu", "amdgpu_executable_def", "symbol_name", "image"),
])
def test_rocm_executable_schemas_match_bytes(program, schema, name_field, image_field,
                                             build_module):
    m = iree_lab.open(build_module(program))
    (seg,) = [s for s in m.rodata if s.is_external and s.archive_name]
    root = open_executable_root(seg.data, schema, base=seg.file_offset)
    exports = list(root.vector("exports"))
    assert len(exports) == 3
    for e in exports:
        name = e.string(name_field)
        debug_name = e.table("debug_info").string("name")
        assert name.removesuffix(".kd") == debug_name  # AMDGPU exports the kernel descriptor
        dims = e.struct("block_dims" if schema.startswith("hip") else "workgroup_size")
        assert dims.x >= 1 and (dims.y, dims.z) == (1, 1)
        flags = list(e.vector("binding_flags"))
        assert flags[-1] == 2 and all(f == 3 for f in flags[:-1])  # inputs READ_ONLY|INDIRECT
    image = root.vector("modules")[0].string_bytes(image_field)
    assert image[:4] == b"\x7fELF"
    (e_machine,) = struct.unpack_from("<H", image, 18)
    assert e_machine == 224  # EM_AMDGPU
    if schema.startswith("amdgpu"):
        assert root.string("isa") == "gfx942"


def test_metal_executable_schema_matches_bytes(build_module):
    m = iree_lab.open(build_module("tensor_metal"))
    blobs = _executables(m, "_metal_msl_fb.fb")
    assert len(blobs) == 3
    for seg in blobs:
        root = open_executable_root(seg.data, "metal_executable_def", base=seg.file_offset)
        (pipeline,) = list(root.vector("pipelines"))
        entry_point = pipeline.string("entry_point")
        assert pipeline.table("debug_info").string("name") == entry_point
        size = pipeline.struct("threadgroup_size")
        assert size.x >= 1 and size.y >= 1 and size.z == 1
        library = root.vector("libraries")[pipeline.scalar("library_ordinal")]
        source = library.table("source")
        assert source.scalar("version") >= 0x10000  # MTLLanguageVersion major.minor
        code = source.string("code")
        assert "#include <metal_stdlib>" in code and entry_point in code
        assert not library.has("metallib")  # compiled with metallib disabled
