"""Differential tests on synthetic modules: fields and values no compiler emits.

Modules are built from our schema layouts (tests/fbbuild.py) and read both by
iree-dump-module (flatcc, IREE's own schema) and by iree_lab: any slot or
type mismatch in our schemas, and any formatting difference in edge cases
(C printf semantics, NULL strings, wrap-around, flags), shows up here.
"""

from __future__ import annotations

import pytest
from fbbuild import Present, RawOffsets, Union, module_bytes

import iree_lab
from iree_lab.cli.main import main
from iree_lab.errors import FormatError
from iree_lab.format import CallSiteLoc, FileLineColLoc, FusedLoc, NameLoc, UnknownLoc


def _fd(offset, length, requirements=0, blocks=1, i32=0, refs=0, reserved=0):
    return {"bytecode_offset": offset, "bytecode_length": length, "requirements": requirements,
            "reserved": reserved, "block_count": blocks, "i32_register_count": i32,
            "ref_register_count": refs}


KITCHEN_SINK = {
    "name": "sink",
    "version": 0x80000005,  # printed with %d: negative
    "requirements": 0x1 | 0x4 | 0x100,  # EXT_F32 | YIELD | unknown
    "attrs": [{"key": "a", "value": "b"}, {"key": "", "value": ""}, {"value": "keyless"}],
    "types": [{"full_name": "i32"}, {"full_name": ""}, {"full_name": "!hal.buffer"}],
    "dependencies": [
        {"name": "hal", "minimum_version": 7},
        {"name": "opt", "minimum_version": 0xFFFFFFFF, "flags": 2},
        {"name": "noflags", "flags": Present(0)},
    ],
    "imported_functions": [
        {"full_name": "hal.spans", "signature": {"calling_convention": "0iCiDCrIDr_iCID"}},
        {"full_name": "opt.fn", "flags": 2,
         "signature": {"calling_convention": "0v_v",
                       "attrs": [{"key": "note", "value": "imported attrs"}]}},
        {"full_name": "no.cconv", "signature": {}},
        {"full_name": "no.underscore", "signature": {"calling_convention": "0iI"}},
        {"full_name": "empty.cconv", "signature": {"calling_convention": ""}},
        {"full_name": "voids", "signature": {"calling_convention": "0ivf_vr"}},
    ],
    "exported_functions": [
        {"local_name": "main", "internal_ordinal": 1},
        {"local_name": "alias", "internal_ordinal": 1},
        {"local_name": "first", "internal_ordinal": 0},
        {"local_name": "", "internal_ordinal": 2},
    ],
    "function_signatures": [
        {"calling_convention": "0rrriiiiiiiii_v", "attrs": [{"key": "binding_count", "value": "4"}]},
        {"calling_convention": "0IfF_Ff",
         "attrs": [{"key": "iree.abi.declaration", "value": "sync func @main()"},
                   {"key": "second", "value": "attr"}]},
        {},
    ],
    "rodata_segments": [
        {"embedded_data": b"short text"},
        {"embedded_data": b"exactly thirty-two characters!!!"},
        {"embedded_data": b"thirty-one characters, not 32.."},
        {"embedded_data": b"a string longer than the thirty-two character preview"},
        {"embedded_data": b""},
        {"embedded_data": b"\x00starts with NUL"},
        {"embedded_data": b"text then NUL\x00\xff\xfe binary after"},
        {"embedded_data": b"\x7fDEL is not printable"},
        {"embedded_data": bytes(range(256))},
        {"embedded_data": "non-ascii \u00e9".encode()},
        {"compression_type": Union(1, "iree.vm.UncompressedDataDef", {}),
         "embedded_data": b"uncompressed"},
        {"compression_type": Union(1, "iree.vm.UncompressedDataDef", {}),
         "external_data_offset": 128, "external_data_length": 64},
        {"external_data_offset": 0xFFFFFFFFFFFFFFF0, "external_data_length": 0x20},
        {},
    ],
    "rwdata_segments": [{"byte_size": 16}, {"byte_size": -1}, {}],
    "module_state": {"global_bytes_capacity": -1, "global_ref_count": 2},
    "function_descriptors": [
        _fd(0, 8, requirements=0x3, blocks=-1, i32=32767, refs=-32768),
        _fd(8, 16, requirements=0x1 | 0x2 | 0x4, blocks=3),
        _fd(-16, 0x7FFFFFFF, requirements=0x10),
    ],
    "bytecode_version": 0x00110000,
    "bytecode_data": bytes(range(24)),
    "debug_database": {
        "location_table_type": [0, 2, 4, 1, 3, 4],
        "location_table": RawOffsets([
            None,
            ("iree.vm.FileLineColLocDef", {"filename": "a.mlir", "line": 3, "column": 7}),
            ("iree.vm.NameLocDef", {"name": "op", "child_location": 1}),
            ("iree.vm.CallSiteLocDef", {"callee": 2, "caller": 1}),
            ("iree.vm.FusedLocDef", {"metadata": "m", "locations": [1, 2, 0]}),
            ("iree.vm.NameLocDef", {"name": "childless"}),
        ]),
        "functions": [
            {"local_name": "main", "locations": [
                {"bytecode_offset": 0, "location": 1}, {"bytecode_offset": 4, "location": 4}]},
            {"local_name": "helper", "locations": []},
        ],
    },
}

# Fields that are present but hold their default value still change the output.
PRESENT_DEFAULTS = {
    "name": "defaults",
    "version": Present(0),
    "requirements": Present(0),
    "attrs": [],
    "types": [],
    "dependencies": [],
    "imported_functions": [],
    "exported_functions": [],
    "function_signatures": [],
    "rodata_segments": [],
    "rwdata_segments": [],
    "module_state": {},
    "function_descriptors": [],
    "bytecode_data": b"",
    "debug_database": {},
}

MINIMAL = {"name": "m"}

CASES = {"kitchen_sink": KITCHEN_SINK, "present_defaults": PRESENT_DEFAULTS, "minimal": MINIMAL}


@pytest.fixture(params=sorted(CASES))
def synthetic(request, tmp_path):
    path = tmp_path / f"{request.param}.vmfb"
    path.write_bytes(module_bytes(CASES[request.param]))
    return request.param, path


def test_metadata_matches_iree_dump_module(synthetic, iree_tool, capsysbinary):
    _, path = synthetic
    expected = iree_tool("iree-dump-module", "--output=metadata", str(path)).stdout
    code = main(["dump", "--output=metadata", str(path)])
    captured = capsysbinary.readouterr()
    assert code == 0, captured.err
    assert captured.out.decode("utf-8", "replace") == expected.decode("utf-8", "replace")
    assert captured.out == expected


@pytest.mark.parametrize("pretty", [False, True], ids=["compact", "pretty"])
def test_flatbuffer_json_matches_iree_dump_module(synthetic, pretty, iree_tool, capsysbinary):
    _, path = synthetic
    flags = ["--output=flatbuffer-json"] + (["--pretty"] if pretty else [])
    expected = iree_tool("iree-dump-module", *flags, str(path)).stdout
    code = main(["dump", *flags, str(path)])
    captured = capsysbinary.readouterr()
    assert code == 0, captured.err
    assert captured.out == expected


def test_kitchen_sink_model():
    m = iree_lab.open(module_bytes(KITCHEN_SINK))
    assert m.version == 0x80000005
    assert m.requirements == 0x105
    assert m.attrs == {"a": "b", "": "keyless"}  # later keys win in the dict view
    assert [t.full_name for t in m.types] == ["i32", "", "!hal.buffer"]
    assert [(d.name, d.is_optional) for d in m.dependencies] == [
        ("hal", False), ("opt", True), ("noflags", False)]
    assert m.imports[1].is_optional and m.imports[1].attrs == {"note": "imported attrs"}
    assert m.imports[2].calling_convention is None
    assert [f.export_names for f in m.functions] == [("first",), ("main", "alias"), ("",)]
    assert m.function("alias").ordinal == 1
    assert [s.compression for s in m.rodata][10:12] == ["uncompressed", "uncompressed"]
    assert [s.byte_size for s in m.rwdata] == [16, -1, 0]
    assert (m.global_bytes_capacity, m.global_ref_count) == (-1, 2)
    assert m.functions[0].block_count == -1 and m.functions[0].ref_register_count == -32768
    db = m.debug_database
    file_loc = FileLineColLoc("a.mlir", 3, 7)
    name_loc = NameLoc("op", file_loc)
    assert db.locations == (UnknownLoc(), file_loc, name_loc, CallSiteLoc(name_loc, file_loc),
                            FusedLoc("m", (file_loc, name_loc, UnknownLoc())),
                            NameLoc("childless", None))
    assert db.location(3).format() == '"op"(a.mlir:3:7)\n      at a.mlir:3:7'
    assert db.location(4).format() == '<m>[\n    a.mlir:3:7,\n    "op"(a.mlir:3:7),\n    [unknown]\n  ]'
    source_map = m.source_map("main")
    assert source_map.location_at(4) == db.location(4)
    assert source_map.location_at(2) is None
    assert source_map.location_before(2) == file_loc
    assert m.source_map("first") is None
    # External rodata past the end of this tiny file is reported when its bytes are asked for.
    with pytest.raises(FormatError, match="external rodata"):
        m.rodata[12].data  # noqa: B018
    # A descriptor whose bytecode lies outside bytecode_data is reported, not sliced.
    with pytest.raises(FormatError, match="function_descriptors"):
        m.function_bytecode(2)


def test_absent_names_print_null():
    """iree-dump-module crashes on these (fputs(NULL)); iree_lab prints "(null)" like printf."""
    import io

    from iree_lab.cli.dump import write_metadata

    values = {"name": "nulls", "types": [{}], "function_signatures": [{}],
              "exported_functions": [{"internal_ordinal": 0}]}
    m = iree_lab.open(module_bytes(values))
    assert m.types[0].full_name is None and m.exports[0].local_name is None
    out = io.StringIO()
    write_metadata(m, out)
    assert out.getvalue().count("  [  0] (null)\n") == 2  # the type and the export


def test_bad_calling_conventions_raise_format_error():
    from iree_lab.cli.dump import write_metadata

    for cconv in ("1i_i", "0x_v", "0Ci_v"):
        values = {"name": "bad", "imported_functions": [
            {"full_name": "m.f", "signature": {"calling_convention": cconv}}]}
        m = iree_lab.open(module_bytes(values))
        with pytest.raises(FormatError):
            import io

            write_metadata(m, io.StringIO())


def test_export_with_out_of_range_ordinal():
    from iree_lab.cli.dump import write_metadata

    values = {"name": "bad", "exported_functions": [{"local_name": "f", "internal_ordinal": 5}],
              "function_signatures": [{}]}
    m = iree_lab.open(module_bytes(values))
    assert m.exports[0].calling_convention is None
    with pytest.raises(FormatError, match="internal function 5"):
        import io

        write_metadata(m, io.StringIO())
