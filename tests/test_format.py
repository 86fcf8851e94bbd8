"""Reader tests: every field of every corpus module, cross-checked against
``iree-dump-module --output=flatbuffer-json`` (flatcc's own reading of the bytes)."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

import iree_lab
from iree_lab.format import FeatureBits, FileLineColLoc, Module, UnknownLoc
from iree_lab.testing import corpus

PROGRAMS = sorted(corpus.PROGRAMS)
_FEATURE_NAMES = {bit.name: bit.value for bit in FeatureBits}


def _flags(text: str | None) -> int:
    """flatcc prints bit flags as space-separated names (absent when default)."""
    value = 0
    for name in (text or "").split():
        value |= _FEATURE_NAMES[name]
    return value


@pytest.fixture(scope="module")
def reference(build_module, iree_tool):
    """name -> (path, flatbuffer json dict) computed once per program."""
    cache = {}

    def get(name):
        if name not in cache:
            path = build_module(name)
            out = iree_tool("iree-dump-module", "--output=flatbuffer-json", str(path))
            cache[name] = (path, json.loads(out.stdout))
        return cache[name]

    return get


@pytest.mark.parametrize("program", PROGRAMS)
def test_module_matches_flatcc_json(program, reference):
    path, ref = reference(program)
    m = iree_lab.open(path)
    assert m.name == ref["name"]
    assert m.version == ref.get("version", 0)
    assert m.requirements == _flags(ref.get("requirements"))
    assert m.attrs == {a["key"]: a["value"] for a in ref.get("attrs", [])}
    assert [t.full_name for t in m.types] == [t["full_name"] for t in ref.get("types", [])]
    assert [(d.name, d.minimum_version, d.flags, d.is_optional) for d in m.dependencies] == [
        (d["name"], d.get("minimum_version", 0),
         {"REQUIRED": 1, "OPTIONAL": 2}.get(d.get("flags", "REQUIRED"), 0),
         d.get("flags") == "OPTIONAL")
        for d in ref.get("dependencies", [])
    ]
    ref_imports = ref.get("imported_functions", [])
    assert len(m.imports) == len(ref_imports)
    for imp, r in zip(m.imports, ref_imports, strict=True):
        sig = r.get("signature", {})
        assert imp.full_name == r["full_name"]
        assert imp.calling_convention == sig.get("calling_convention")
        assert imp.attrs == {a["key"]: a["value"] for a in sig.get("attrs", [])}
        assert imp.is_optional == (r.get("flags") == "OPTIONAL")
    signatures = ref.get("function_signatures", [])
    ref_exports = ref.get("exported_functions", [])
    assert [(e.ordinal, e.local_name, e.internal_ordinal) for e in m.exports] == [
        (i, e["local_name"], e.get("internal_ordinal", 0)) for i, e in enumerate(ref_exports)
    ]
    for e in m.exports:
        sig = signatures[e.internal_ordinal]
        assert e.calling_convention == sig.get("calling_convention")
        assert e.attrs == {a["key"]: a["value"] for a in sig.get("attrs", [])}
    descriptors = ref.get("function_descriptors", [])
    assert len(m.functions) == len(descriptors)
    for f, d in zip(m.functions, descriptors, strict=True):
        assert (f.bytecode_offset, f.bytecode_length, f.block_count, f.i32_register_count,
                f.ref_register_count, f.reserved) == (
            d["bytecode_offset"], d["bytecode_length"], d["block_count"],
            d["i32_register_count"], d["ref_register_count"], d["reserved"])
        assert f.requirements == _flags(d.get("requirements"))
        assert f.calling_convention == signatures[f.ordinal].get("calling_convention")
        assert f.export_names == tuple(e["local_name"] for e in ref_exports
                                       if e.get("internal_ordinal", 0) == f.ordinal)
        assert len(m.function_bytecode(f)) == f.bytecode_length
    assert bytes(m.bytecode) == bytes(ref.get("bytecode_data", []))
    assert m.bytecode_version == ref["bytecode_version"] == 0x0011_0000
    assert (m.bytecode_version_major, m.bytecode_version_minor) == (17, 0)
    ref_rodata = ref.get("rodata_segments", [])
    assert len(m.rodata) == len(ref_rodata)
    for seg, r in zip(m.rodata, ref_rodata, strict=True):
        assert seg.is_external == ("embedded_data" not in r)
        if seg.is_external:
            assert seg.external_data_offset == r.get("external_data_offset", 0)
            assert seg.size == r["external_data_length"] == len(seg.data)
        else:
            assert bytes(seg.data) == bytes(r["embedded_data"])
    assert [s.byte_size for s in m.rwdata] == [
        s.get("byte_size", 0) for s in ref.get("rwdata_segments", [])]
    state = ref.get("module_state", {})
    assert m.global_bytes_capacity == state.get("global_bytes_capacity", 0)
    assert m.global_ref_count == state.get("global_ref_count", 0)
    db_ref = ref.get("debug_database")
    if db_ref is None:
        assert m.debug_database is None
    else:
        db = m.debug_database
        assert db.location_count == len(db_ref.get("location_table", []))
        for loc, kind, r in zip(db.locations, db_ref.get("location_table_type", []),
                                db_ref.get("location_table", []), strict=True):
            if kind == "NONE":
                assert isinstance(loc, UnknownLoc)
            elif kind == "FileLineColLocDef":
                assert loc == FileLineColLoc(r.get("filename", ""), r.get("line", 0),
                                             r.get("column", 0))
            else:
                assert type(loc).__name__ == kind.replace("Def", "")
        assert [(s.local_name, s.entries) for s in db.source_maps] == [
            (f["local_name"], tuple((loc.get("bytecode_offset", 0), loc.get("location", 0))
                                    for loc in f.get("locations", [])))
            for f in db_ref.get("functions", [])
        ]
    m.touch_all()


def test_external_rodata_matches_zip_entries(build_module):
    path = build_module("rodata_vmvx")
    m = iree_lab.open(path)
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        assert names[0] == "module.fb"
        external = [seg for seg in m.rodata if seg.is_external]
        assert external
        for seg in external:
            assert seg.archive_name in names
            assert bytes(seg.data) == z.read(seg.archive_name)
            assert seg.alignment >= 16
        # IREE's module.fb entry starts at the size prefix and its recorded length is the
        # FlatBuffer's, so the entry stops 4 bytes before the FlatBuffer does.
        entry = z.read("module.fb")
        assert len(entry) == m.flatbuffer_size
        assert entry[:4] == m.flatbuffer_size.to_bytes(4, "little")
        assert entry[4:] == bytes(m.flatbuffer[: m.flatbuffer_size - 4])
    assert [e.name for e in m.archive_entries] == names


def test_constant_is_the_dense_resource(build_module):
    """The external rodata of rodata.mlir holds the dense_resource bytes (minus the
    4-byte alignment header of the MLIR blob)."""
    import struct

    m = iree_lab.open(build_module("rodata_vmvx"))
    const = next(seg for seg in m.rodata if seg.archive_name == "_const.bin")
    floats = struct.unpack("<1024f", const.data)
    assert floats[:4] == (0.0, 0.25, 0.5, 0.75)


def test_vmvx_executable_is_a_module(build_module, iree_tool, tmp_path):
    m = iree_lab.open(build_module("tensor_vmvx"))
    blobs = [seg for seg in m.rodata if (seg.archive_name or "").endswith("_vmvx_bytecode_fb.fb")]
    assert blobs
    for seg in blobs:
        executable = iree_lab.open(seg.data)
        executable.touch_all()
        # The nested module reads the same as iree-dump-module reads it.
        blob_path = tmp_path / seg.archive_name
        blob_path.write_bytes(seg.data)
        ref = json.loads(iree_tool("iree-dump-module", "--output=flatbuffer-json",
                                   str(blob_path)).stdout)
        assert [e.local_name for e in executable.exports] == [
            e["local_name"] for e in ref["exported_functions"]]
        assert bytes(executable.bytecode) == bytes(ref["bytecode_data"])
        assert all(f.calling_convention == "0rrriiiiiiiii_v" for f in executable.functions)


def test_sources_bytes_file_and_path_agree(build_module):
    path = build_module("scalar_vmvx")
    data = path.read_bytes()
    from_path = iree_lab.open(path)
    from_str = iree_lab.open(str(path))
    from_bytes = iree_lab.open(data)
    from_bytearray = iree_lab.open(bytearray(data))
    from_memoryview = iree_lab.open(memoryview(data))
    with open(path, "rb") as f:
        from_file = iree_lab.open(f)
    from_bytesio = iree_lab.open(io.BytesIO(data))
    modules = [from_path, from_str, from_bytes, from_bytearray, from_memoryview, from_file,
               from_bytesio]
    for m in modules:
        assert isinstance(m, Module)
        assert [f.name for f in m.functions] == [f.name for f in from_path.functions]
        assert bytes(m.bytecode) == bytes(from_path.bytecode)


def test_lookups(build_module):
    m = iree_lab.open(build_module("tensor_vmvx"))
    assert m.function("add").export_names == ("add",)
    assert m.function(m.export("matmul").internal_ordinal).name == "matmul"
    assert m.function(0).name is None and m.function(0).display_name == "fn0"
    # IREE labels unexported functions by debug-database ordinal (here wrongly "__init").
    assert m.function(0).iree_name == "__init"
    assert m.lookup_import("hal.fence.await").calling_convention.startswith("0iI")
    with pytest.raises(KeyError):
        m.function("nope")
    with pytest.raises(KeyError):
        m.export("nope")
    with pytest.raises(KeyError):
        m.function(99)
    assert m.source_map("__init") is m.debug_database.source_map("__init")
    assert m.source_map("add") is None
    assert "iree.abi.declaration" in m.export("add").attrs
    assert "@module" in repr(m) and "7 functions" in repr(m)


def test_source_locations(build_module):
    m = iree_lab.open(build_module("tensor_vmvx"))
    source_map = m.source_map("__init")
    located = [(offset, loc) for offset, loc in source_map.items()
               if not isinstance(loc, UnknownLoc)]
    assert located
    offset, loc = located[0]
    assert source_map.location_at(offset) == loc
    assert source_map.location_before(offset + 1) == loc
    assert "tensor.mlir" in loc.format()


def test_bare_flatbuffer_from_iree_as_module(build_module):
    m = iree_lab.open(build_module("vm_assembly"))
    assert m.container.kind == "flatbuffer"
    assert m.archive_entries == ()
    assert (m.name, m.version) == ("basic", 3)
    assert [f.name for f in m.functions] == ["add_one", "count_down"]
    assert m.debug_database is None
