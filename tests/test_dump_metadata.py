"""Differential: ``iree-lab dump --output=metadata`` vs ``iree-dump-module --output=metadata``."""

from __future__ import annotations

import pytest

import iree_lab
from iree_lab.cli.main import main
from iree_lab.testing import corpus

PROGRAMS = sorted(corpus.PROGRAMS)


def _lab_dump(capsysbinary, *args) -> tuple[int, bytes, bytes]:
    code = main(["dump", *args])
    captured = capsysbinary.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("program", PROGRAMS)
def test_metadata_matches_iree_dump_module(program, build_module, iree_tool, capsysbinary):
    path = str(build_module(program))
    expected = iree_tool("iree-dump-module", "--output=metadata", path).stdout
    code, out, err = _lab_dump(capsysbinary, "--output=metadata", path)
    assert code == 0, err
    assert out.decode() == expected.decode()  # readable diff on failure
    assert out == expected


@pytest.mark.parametrize("program", ["tensor_vmvx", "rodata_vmvx"])
def test_metadata_of_vmvx_executable(program, build_module, iree_tool, capsysbinary, tmp_path):
    """A VMVX executable is itself a (ZIP) bytecode module; dump it the same way."""
    module = iree_lab.open(build_module(program))
    blobs = [s for s in module.rodata if (s.archive_name or "").endswith("_vmvx_bytecode_fb.fb")]
    assert blobs
    for segment in blobs:
        path = tmp_path / segment.archive_name
        path.write_bytes(segment.data)
        expected = iree_tool("iree-dump-module", "--output=metadata", str(path)).stdout
        code, out, err = _lab_dump(capsysbinary, "--output=metadata", str(path))
        assert code == 0, err
        assert out == expected


@pytest.mark.parametrize("program", ["scalar_vmvx", "vm_assembly"])
def test_flatbuffer_binary_matches(program, build_module, iree_tool, capsysbinary):
    path = str(build_module(program))
    expected = iree_tool("iree-dump-module", "--output=flatbuffer-binary", path).stdout
    code, out, _ = _lab_dump(capsysbinary, "--output=flatbuffer-binary", path)
    assert code == 0
    assert out == expected


@pytest.mark.parametrize("program", ["vm_assembly", "scalar_vmvx", "tensor_vmvx"])
def test_dump_all(program, build_module, iree_tool, capsysbinary):
    path = str(build_module(program))
    expected = iree_tool("iree-dump-module", path).stdout
    code, out, err = _lab_dump(capsysbinary, path)
    assert code == 0, err
    assert out == expected


def test_errors_exit_nonzero(tmp_path, build_module, capsysbinary, iree_tool):
    path = str(build_module("vm_assembly"))
    code, out, err = _lab_dump(capsysbinary, "--output=bogus", path)
    assert code == 1 and out == b""
    assert b"unrecognized --output= flag value 'bogus'" in err
    assert iree_tool("iree-dump-module", "--output=bogus", path, check=False).returncode == 1

    code, out, err = _lab_dump(capsysbinary, "--output=metadata", str(tmp_path / "missing.vmfb"))
    assert code == 1 and out == b"" and b"failed to open file" in err

    text = tmp_path / "notes.txt"
    text.write_text("this is not a module, just some text that is long enough\n")
    code, out, err = _lab_dump(capsysbinary, "--output=metadata", str(text))
    assert code == 1 and out == b""
    assert b"FlatBuffer" in err
    assert iree_tool("iree-dump-module", "--output=metadata", str(text),
                     check=False).returncode == 1


@pytest.mark.parametrize("pretty", [False, True], ids=["compact", "pretty"])
@pytest.mark.parametrize("program", PROGRAMS)
def test_flatbuffer_json_matches(program, pretty, build_module, iree_tool, capsysbinary):
    """--output=flatbuffer-json reproduces flatcc's JSON printer (skip defaults)."""
    path = str(build_module(program))
    flags = ["--output=flatbuffer-json"] + (["--pretty"] if pretty else [])
    expected = iree_tool("iree-dump-module", *flags, path).stdout
    code, out, err = _lab_dump(capsysbinary, *flags, path)
    assert code == 0, err
    assert out == expected


def test_iree_style_boolean_flags(build_module, capsysbinary):
    """`--flag`, `--flag=true|false|1|0`; a following word stays the FILE argument."""
    path = str(build_module("vm_assembly"))
    _, compact, _ = _lab_dump(capsysbinary, "--output=flatbuffer-json", path)
    _, pretty, _ = _lab_dump(capsysbinary, "--output=flatbuffer-json", "--pretty", path)
    _, pretty_true, _ = _lab_dump(capsysbinary, "--output=flatbuffer-json", "--pretty=true", path)
    _, pretty_false, _ = _lab_dump(capsysbinary, "--output=flatbuffer-json", "--pretty=0", path)
    assert pretty == pretty_true != compact == pretty_false
    assert pretty.endswith(b"}\n") and not compact.endswith(b"\n")


def test_no_schema_has_float_fields():
    """The JSON printer has no float formatting (flatcc's grisu3) because no table or
    struct field of IREE's schemas is a float; a schema that gains one fails here."""
    from iree_lab.format.generated import layouts

    floats = [f"{table}.{name}" for table, fields in layouts.TABLES.items()
              for name, spec in fields.items()
              if spec[1] == "scalar" and spec[2] in ("f", "d")
              or spec[1] == "vector" and spec[2][:2] in (("scalar", "f"), ("scalar", "d"))]
    floats += [f"{struct}.{name}" for struct, info in layouts.STRUCTS.items()
               for name, spec in info["fields"].items() if spec[1] in ("f", "d")]
    assert floats == []
