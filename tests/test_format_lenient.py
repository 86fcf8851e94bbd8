"""Lenient reading in the format layer: executable headers, ``open_root(report=)``, Lenient.

Differential: on the HAL executables that the pinned iree-compile writes, every
field read through :class:`Lenient` equals what flatc's generated Python readers
(an independent implementation) read, with nothing reported. Damaged buffers give
reports (FormatError) and defaults, never another exception; a small hostile
buffer of shared tables is stopped by the read budget (the verifier accepts it).
"""

from __future__ import annotations

import importlib
import struct

import flatbuffers
import pytest

import iree_lab
from iree_lab.errors import FormatError
from iree_lab.format.executables import open_executable, parse_executable
from iree_lab.format.flatbuffer import (
    EXECUTABLE_HEADER,
    Lenient,
    open_executable_root,
    open_root,
    read_executable_header,
)
from iree_lab.format.generated import layouts

# corpus program -> schema of its executables
PROGRAMS = {
    "tensor_vulkan": "vulkan_executable_def",
    "tensor_cuda": "cuda_executable_def",
    "tensor_hip": "hip_executable_def",
    "tensor_amdgpu": "amdgpu_executable_def",
    "tensor_metal": "metal_executable_def",
}


def _blobs(build_module, program: str) -> list[bytes]:
    identifier = layouts.SCHEMAS[PROGRAMS[program]]["file_identifier"].encode()
    module = iree_lab.open(build_module(program))
    blobs = [bytes(s.data) for s in module.rodata if bytes(s.data[:4]) == identifier]
    assert blobs
    return blobs


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _struct_fields(view, flatc, type_name: str) -> None:
    for field in layouts.STRUCTS[type_name]["fields"]:
        assert getattr(view, field) == getattr(flatc, _camel(field))(), field


def _compare(lenient: Lenient, table, flatc, type_name: str) -> int:
    """Every field of ``table`` read leniently equals flatc's reading; returns fields seen."""
    seen = 0
    for field, spec in layouts.TABLES[type_name].items():
        kind, arg, method = spec[1], spec[2], _camel(field)
        seen += 1
        if kind == "scalar":
            assert lenient.scalar(table, field) == getattr(flatc, method)(), field
        elif kind == "string":
            assert lenient.string_bytes(table, field) == getattr(flatc, method)(), field
        elif kind == "struct":
            view, other = lenient.struct(table, field), getattr(flatc, method)()
            assert (view is None) == (other is None), field
            if view is not None:
                _struct_fields(view, other, arg)
        elif kind == "table":
            sub, other = lenient.table(table, field), getattr(flatc, method)()
            assert (sub is None) == (other is None), field
            if sub is not None:
                seen += _compare(lenient, sub, other, arg)
        else:
            assert kind == "vector", (field, kind)
            count = getattr(flatc, method + "Length")()
            if arg[0] == "table":
                items = lenient.elements(table, field)
                assert len(items) == count, field
                for i, item in enumerate(items):
                    seen += _compare(lenient, item, getattr(flatc, method)(i), arg[1])
            else:
                values = lenient.values(table, field)
                if getattr(flatc, method + "IsNone")():
                    assert values is None, field
                    continue
                assert len(values) == count, field
                for i, value in enumerate(values):
                    other = getattr(flatc, method)(i)
                    if arg[0] == "struct":
                        _struct_fields(value, other, arg[1])
                    else:
                        assert value == other, (field, i)
    return seen


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_lenient_reads_equal_flatc_readers(program, build_module):
    schema = PROGRAMS[program]
    root_type = layouts.SCHEMAS[schema]["root_type"]
    package, name = root_type.rsplit(".", 1)
    flatc_type = getattr(importlib.import_module(f"flatc_generated.{package}.{name}"),
                         name)
    for blob in _blobs(build_module, program):
        reports = []
        lenient = Lenient(reports.append, len(blob))
        root = open_executable_root(blob, schema, report=reports.append)
        flatc_root = flatc_type.GetRootAs(blob[EXECUTABLE_HEADER.size:], 0)
        seen = _compare(lenient, root, flatc_root, root_type)
        assert reports == []
        assert seen > 10


def test_executable_header_strict_and_lenient(build_module):
    (blob,) = _blobs(build_module, "tensor_cuda")
    schema = "cuda_executable_def"
    header = read_executable_header(blob, schema)
    (content_size,) = struct.unpack_from("<Q", blob, 8)
    assert (header.magic, header.version, header.content_size) == (b"CDA1", 0, content_size)
    body = blob[64:64 + content_size]
    assert bytes(header.body) == body

    bad_version = bytearray(blob)
    struct.pack_into("<I", bad_version, 4, 7)
    with pytest.raises(FormatError, match="version 7") as info:
        read_executable_header(bad_version, schema, base=1000)
    assert info.value.offset == 1004 and info.value.where == "cuda_executable_def/header"
    reports = []
    header = read_executable_header(bad_version, schema, name="CDA1 executable",
                                    report=reports.append)
    assert header.version == 7 and bytes(header.body) == body
    assert [(r.offset, r.where) for r in reports] == [(4, "CDA1 executable/header")]

    # A content size past the end: strict refuses, lenient reads the bytes that are there.
    too_long = bytearray(blob)
    struct.pack_into("<Q", too_long, 8, len(blob))
    with pytest.raises(FormatError, match="content size"):
        open_executable_root(too_long, schema)
    reports = []
    root = open_executable_root(too_long, schema, report=reports.append)
    assert len(reports) == 1 and reports[0].offset == 8
    assert root is not None and len(root.vector("exports")) == 3

    for short, what in ((blob[:40], "smaller than its 64-byte header"),
                        (b"VKE1" + blob[4:], "magic")):
        with pytest.raises(FormatError, match=what):
            read_executable_header(short, schema)
        reports = []
        assert open_executable_root(short, schema, report=reports.append) is None
        assert len(reports) == 1 and what in reports[0].what


def test_open_root_lenient_reports_and_goes_on(build_module):
    (blob,) = _blobs(build_module, "tensor_cuda")
    schema = "cuda_executable_def"
    body = blob[64:]
    # A wrong file identifier: reported once (not again by the verifier), still read.
    wrong_id = body[:4] + b"XXXX" + body[8:]
    with pytest.raises(FormatError, match="file identifier"):
        open_root(wrong_id, schema)
    reports = []
    root = open_root(wrong_id, schema, report=reports.append)
    assert [r.offset for r in reports] == [4] and len(root.vector("exports")) == 3
    # A failed verification (here: flatcc's alignment rule) is reported; reads go on.
    reports = []
    root = open_root(body, schema, base=2, report=reports.append)
    assert len(reports) == 1 and reports[0].what.startswith("FlatBuffer verification failed")
    assert len(root.vector("exports")) == 3
    with pytest.raises(FormatError, match="verification failed"):
        open_root(body, schema, base=2)
    # No root table at all: one report, None.
    reports = []
    assert open_root(body[:8], schema, verify=False, report=reports.append) is None
    assert len(reports) == 1


def test_damaged_field_costs_that_field_only(build_module):
    (blob,) = _blobs(build_module, "tensor_cuda")
    root = open_executable_root(blob, "cuda_executable_def")
    export = root.vector("exports")[1]
    slot = export._field_pos("kernel_name", 4)
    string = slot + struct.unpack_from("<I", export.buf.data, slot)[0]
    damaged = bytearray(blob)
    struct.pack_into("<I", damaged, 64 + string, 0xFFFFFFF0)  # string length past the end
    reports = []
    lenient = Lenient(reports.append, len(damaged))
    root = open_executable_root(bytes(damaged), "cuda_executable_def", name="CDA1",
                               report=reports.append)
    assert len(reports) == 1 and "verification failed" in reports[0].what
    names = [lenient.string(e, "kernel_name") for e in lenient.elements(root, "exports")]
    assert names[1] is None and all(names[i] for i in (0, 2))
    assert len(reports) == 2
    assert reports[1].where == "CDA1/exports[1]/kernel_name" and reports[1].offset == 64 + string + 4
    # The table helpers pass a missing table through as their default.
    assert lenient.scalar(None, "constant_count", 5) == 5 and lenient.elements(None, "x") == []


def _shared_vulkan(n: int) -> bytes:
    """n pipelines sharing one pipeline layout of n set ordinals, all naming one set of n
    bindings: a few KiB that describe n**3 bindings."""
    from flatc_generated.iree.hal.vulkan import (
        DescriptorSetLayoutBindingDef as Binding,
    )
    from flatc_generated.iree.hal.vulkan import (
        DescriptorSetLayoutDef,
        ExecutableDef,
        PipelineDef,
        PipelineLayoutDef,
    )

    b = flatbuffers.Builder(1024)

    def shared_vector(start, item):
        start(b, n)
        for _ in range(n):
            b.PrependUOffsetTRelative(item)
        return b.EndVector()

    Binding.Start(b)
    Binding.AddDescriptorType(b, 7)
    binding = Binding.End(b)
    bindings = shared_vector(DescriptorSetLayoutDef.StartBindingsVector, binding)
    DescriptorSetLayoutDef.Start(b)
    DescriptorSetLayoutDef.AddBindings(b, bindings)
    set_layout = DescriptorSetLayoutDef.End(b)
    PipelineLayoutDef.StartDescriptorSetLayoutOrdinalsVector(b, n)
    for _ in range(n):
        b.PrependUint32(0)
    ordinals = b.EndVector()
    PipelineLayoutDef.Start(b)
    PipelineLayoutDef.AddDescriptorSetLayoutOrdinals(b, ordinals)
    pipeline_layout = PipelineLayoutDef.End(b)
    entry = b.CreateString("d0")
    PipelineDef.Start(b)
    PipelineDef.AddEntryPoint(b, entry)
    pipeline = PipelineDef.End(b)
    pipelines = shared_vector(ExecutableDef.StartPipelinesVector, pipeline)
    set_layouts = shared_vector(ExecutableDef.StartDescriptorSetLayoutsVector, set_layout)
    ExecutableDef.StartPipelineLayoutsVector(b, 1)
    b.PrependUOffsetTRelative(pipeline_layout)
    pipeline_layouts = b.EndVector()
    ExecutableDef.Start(b)
    ExecutableDef.AddPipelines(b, pipelines)
    ExecutableDef.AddDescriptorSetLayouts(b, set_layouts)
    ExecutableDef.AddPipelineLayouts(b, pipeline_layouts)
    b.Finish(ExecutableDef.End(b), file_identifier=b"VKE1")
    body = bytes(b.Output())
    return EXECUTABLE_HEADER.pack(b"VKE1", 0, len(body)) + body


def test_shared_tables_stop_at_the_read_budget():
    blob = _shared_vulkan(2000)
    assert len(blob) < 40_000
    root = open_executable_root(blob, "vulkan_executable_def")  # the verifier accepts it
    assert len(root.vector("pipelines")) == 2000
    exe = parse_executable(blob, "vulkan-spirv-fb")
    assert [n.what for n in exe.notes if "amplification" in n.what] == [
        "stopped reading: shared tables ask for more reads than a buffer of this size holds "
        "(amplification)"]
    assert len(exe.notes) <= 256
    with pytest.raises(FormatError, match="amplification"):
        open_executable(blob, "vulkan-spirv-fb")
    # A small fan-out stays under the budget and is read in full.
    exe = parse_executable(_shared_vulkan(8), "vulkan-spirv-fb")
    assert all("shader module" in n.what for n in exe.notes)  # it has no SPIR-V
    assert [e.binding_count for e in exe.exports] == [64] * 8


def test_lenient_budget_counts_reads():
    reports = []
    lenient = Lenient(reports.append, 0)  # 64 reads
    assert all(lenient.read(lambda: 1) == 1 for _ in range(64))
    assert lenient.read(lambda: 1, "default") == "default"
    assert lenient.read(lambda: 1) is None and len(reports) == 1
    assert not lenient.spend(0)
