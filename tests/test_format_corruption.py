"""Hostile input: mutated corpus modules only ever open fine or raise FormatError.

Each case opens the bytes, touches everything (every field, rodata bytes,
locations, the ZIP directory), runs the full FlatBuffer verification and the
metadata dump. Anything but FormatError escaping (IndexError, struct.error,
ValueError, RecursionError, ...) fails the test and prints the seed.
"""

from __future__ import annotations

import io
import random
import struct
import zipfile

import pytest

import iree_lab
from iree_lab.cli.dump import write_metadata
from iree_lab.errors import FormatError

# Programs covering both containers, external rodata, debug info and many tables.
PROGRAMS = ["vm_assembly", "scalar_vmvx", "rodata_vmvx", "tensor_vmvx", "globals_vmvx",
            "control_flow_vm"]
CASES_PER_PROGRAM = 600
_INTERESTING_U32 = [0, 1, 2, 3, 4, 8, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFFFFFF, 0x80000000,
                    0xFFFFFFFF, 0xFFFFFFFE, 0x10000]


def exercise(data) -> str:
    """Opens and touches everything; returns 'ok' or 'format-error'."""
    try:
        m = iree_lab.open(data)
        repr(m)
        m.touch_all()
        m.verify_flatbuffer()
        db = m.debug_database
        if db is not None:
            for loc in db.locations:
                loc.format()
        write_metadata(m, io.StringIO())
        for f in m.functions:
            m.source_map(f)
        return "ok"
    except FormatError as e:
        str(e)
        return "format-error"


def mutate(data: bytes, rng: random.Random, fb_start: int, fb_end: int) -> bytes:
    buf = bytearray(data)
    # Most mutations hit the FlatBuffer, where the structure is.
    def pos(width=1):
        if rng.random() < 0.85 and fb_end - fb_start > width:
            return rng.randrange(fb_start, fb_end - width + 1)
        return rng.randrange(0, max(1, len(buf) - width + 1))

    kind = rng.randrange(6)
    if kind == 0:  # bit flips
        for _ in range(rng.randint(1, 4)):
            p = pos()
            buf[p] ^= 1 << rng.randrange(8)
    elif kind == 1:  # byte overwrites
        for _ in range(rng.randint(1, 8)):
            buf[pos()] = rng.choice([0, 0xFF, 0x7F, 0x80, rng.randrange(256)])
    elif kind == 2:  # an interesting 32-bit value (offsets, lengths, counts)
        p = pos(4) & ~3 if rng.random() < 0.7 else pos(4)
        p = min(p, len(buf) - 4)
        value = rng.choice(_INTERESTING_U32 + [rng.randrange(len(buf) + 64)])
        struct.pack_into("<I", buf, p, value)
    elif kind == 3:  # 16-bit values (vtable entries)
        p = min(pos(2) & ~1, len(buf) - 2)
        struct.pack_into("<H", buf, p, rng.choice([0, 2, 4, 0xFFFF, 0x8000,
                                                   rng.randrange(0x10000)]))
    elif kind == 4:  # truncation
        return bytes(buf[: rng.randrange(len(buf))])
    else:  # splice a chunk from elsewhere
        length = rng.randint(1, 64)
        src = rng.randrange(0, max(1, len(buf) - length))
        dst = pos(length)
        chunk = buf[src:src + length]
        buf[dst:dst + len(chunk)] = chunk
    return bytes(buf)


@pytest.mark.parametrize("program", PROGRAMS)
def test_mutations_raise_only_format_error(program, build_module):
    data = build_module(program).read_bytes()
    m = iree_lab.open(data)
    fb_start = m.container.flatbuffer_offset - 4
    fb_end = m.container.flatbuffer_offset + m.flatbuffer_size
    assert exercise(data) == "ok"
    outcomes = {"ok": 0, "format-error": 0}
    rng = random.Random(f"iree_lab-corruption-{program}")
    for case in range(CASES_PER_PROGRAM):
        mutated = mutate(data, rng, fb_start, fb_end)
        try:
            outcomes[exercise(mutated)] += 1
        except Exception as e:  # noqa: BLE001 - the point is to report any escape
            pytest.fail(f"case {case} of {program} raised {type(e).__name__}: {e}")
    # Both outcomes occur: the mutations reach the structure, and checks do not over-reject.
    assert outcomes["format-error"] > CASES_PER_PROGRAM // 10
    assert outcomes["ok"] > 0


def _zip(entries: list[tuple[str, bytes]], compression=zipfile.ZIP_STORED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as z:
        for name, data in entries:
            z.writestr(name, data)
    return out.getvalue()


def _expect_format_error(data, *fragments):
    with pytest.raises(FormatError) as info:
        m = iree_lab.open(data)
        m.touch_all()
    for fragment in fragments:
        assert fragment in str(info.value)
    return info.value


def test_non_modules(tmp_path, build_module):
    _expect_format_error(b"", "less than 16 bytes")
    _expect_format_error(b"\x00" * 3, "less than 16 bytes")
    _expect_format_error(b"hello world, this is plainly text\n", "length prefix out of bounds")
    _expect_format_error(b"\x08\x00\x00\x00" + b"\x00" * 20, "identifier")
    empty = tmp_path / "empty.vmfb"
    empty.write_bytes(b"")
    error = _expect_format_error(empty, "empty")
    assert error.offset == 0
    elf = build_module("tensor_llvm_cpu")
    elf_bytes = next(s for s in iree_lab.open(elf).rodata if s.is_external).data
    _expect_format_error(bytes(elf_bytes))
    _expect_format_error(random.Random(7).randbytes(4096))


def test_zip_without_module_fb(build_module):
    module_fb = iree_lab.open(build_module("vm_assembly")).flatbuffer
    _expect_format_error(_zip([("weights.bin", b"\x01" * 100)]), "not 'module.fb'")
    _expect_format_error(_zip([("readme.txt", b"x"), ("module.fb", bytes(module_fb))]),
                         "'readme.txt'")
    _expect_format_error(_zip([]), "length prefix out of bounds")  # bare EOCD record
    size_prefixed = len(module_fb).to_bytes(4, "little") + bytes(module_fb)
    _expect_format_error(_zip([("module.fb", size_prefixed * 4)], zipfile.ZIP_DEFLATED),
                         "compressed")
    # A stored module.fb written by Python's zipfile opens (IREE finds it the same way).
    m = iree_lab.open(_zip([("module.fb", size_prefixed)]))
    assert m.name == "basic" and m.container.kind == "zip"
    assert [e.name for e in m.archive_entries] == ["module.fb"]


def test_truncated_zip_header():
    header = struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0, 0, 0, 0, 9, 0xFFFF)
    _expect_format_error(header + b"module.fb", "ZIP local file header")


def test_external_rodata_out_of_range(build_module):
    data = build_module("rodata_vmvx").read_bytes()
    m = iree_lab.open(data[: iree_lab.open(data).container.rodata_offset + 100])
    segment = next(s for s in m.rodata if s.is_external)
    with pytest.raises(FormatError) as info:
        segment.data  # noqa: B018
    assert "external rodata" in str(info.value)
    assert info.value.where == "module.fb/rodata_segments[0]"
    # Metadata does not need the rodata bytes, like iree-dump-module.
    write_metadata(m, io.StringIO())


def test_error_names_structure_and_offset(build_module):
    data = bytearray(build_module("vm_assembly").read_bytes())
    m = iree_lab.open(bytes(data))
    # Point the module name string far past the end of the buffer.
    name_field = m.root_table._field_pos("name", 4)
    struct.pack_into("<I", data, m.container.flatbuffer_offset + name_field, 0x7FFF0000)
    error = _expect_format_error(bytes(data))
    assert "name" in error.where
    assert error.offset == m.container.flatbuffer_offset + name_field


def test_location_cycles_are_reported(build_module):
    """A CallSite location that refers to itself must not recurse forever."""
    data = bytearray(build_module("tensor_vmvx").read_bytes())
    m = iree_lab.open(bytes(data))
    db = m.debug_database
    index = next(i for i, loc in enumerate(db.locations) if type(loc).__name__ == "CallSiteLoc")
    t = db._values.table_at(index, "iree.vm.CallSiteLocDef")
    callee = t._field_pos("callee", 4)
    struct.pack_into("<i", data, m.container.flatbuffer_offset + callee, index)
    broken = iree_lab.open(bytes(data))
    with pytest.raises(FormatError, match="cycle"):
        broken.debug_database.location(index)


def _native_dump_module() -> str:
    """The iree-dump-module binary itself (its pip console script adds ~0.1 s per call)."""
    try:
        import os

        import iree._runtime_libs as libs  # type: ignore

        path = os.path.join(libs.__path__[0], "iree-dump-module")
        if os.path.exists(path):
            return path
    except ImportError:
        pass
    from iree_lab.testing import corpus

    return corpus.tool_path("iree-dump-module")


DIFFERENTIAL_PROGRAMS = ["vm_assembly", "rodata_vmvx", "metadata_vm", "tensor_vmvx"]
DIFFERENTIAL_CASES = 150


@pytest.mark.parametrize("program", DIFFERENTIAL_PROGRAMS)
def test_mutations_accepted_and_rejected_like_iree(program, build_module, tmp_path):
    """On mutated files, iree-lab accepts exactly what iree-dump-module accepts (flatcc's
    verifier) and then prints the same metadata. Where iree-dump-module crashes or reads
    out of bounds (undefined behaviour on hostile input) only FormatError is required."""
    import subprocess

    from iree_lab.cli.dump import write_metadata
    from iree_lab.format.json_printer import flatbuffer_json
    from iree_lab.format.module import ROOT_TYPE

    native = _native_dump_module()
    data = build_module(program).read_bytes()
    m = iree_lab.open(data)
    fb_start = m.container.flatbuffer_offset - 4
    fb_end = m.container.flatbuffer_offset + m.flatbuffer_size
    rng = random.Random(f"iree_lab-differential-{program}")
    path = tmp_path / "mutated.vmfb"
    agreed = {"accepted": 0, "rejected": 0}
    for case in range(DIFFERENTIAL_CASES):
        mutated = mutate(data, rng, fb_start, fb_end)
        path.write_bytes(mutated)
        ref = subprocess.run([native, "--output=metadata", str(path)], capture_output=True)
        try:
            module = iree_lab.open(mutated)
            module.verify_flatbuffer()
            out = io.StringIO()
            write_metadata(module, out)
            ours, error = out.getvalue().encode("utf-8", "surrogateescape"), None
        except FormatError as e:
            ours, error = None, e
        if ref.returncode not in (0, 1):
            continue  # iree-dump-module crashed (e.g. SIGSEGV): nothing to compare
        if ref.returncode == 1:
            if error is None and b"verification failed" not in ref.stderr:
                continue  # IREE rejected for a reason outside the format (none known)
            assert error is not None, f"case {case}: IREE rejects ({ref.stderr!r}), we accept"
            reason = ref.stderr.decode(errors="replace").rsplit("; ", 1)[-1].strip()
            if reason.startswith("FlatBuffer verification failed"):
                # Same checks in the same order: the same flatcc reason.
                assert reason in str(error), f"case {case}: IREE: {reason!r}, we: {error}"
            agreed["rejected"] += 1
        elif error is not None:
            # IREE printed metadata; we only refuse where IREE read out of bounds.
            assert "function signatures" in str(error), f"case {case}: we reject: {error}"
        else:
            assert ours == ref.stdout, f"case {case}: metadata differs"
            agreed["accepted"] += 1
            ref_json = subprocess.run([native, "--output=flatbuffer-json", str(path)],
                                      capture_output=True)
            if ref_json.returncode == 0:
                ours_json = flatbuffer_json(module.container.flatbuffer, ROOT_TYPE)
                assert ours_json.encode("utf-8", "surrogateescape") == ref_json.stdout, (
                    f"case {case}: JSON differs")
    assert agreed["accepted"] > 10 and agreed["rejected"] > 10


@pytest.mark.parametrize("program", ["tensor_vmvx", "metadata_vm"])
def test_fast_verifier_agrees_with_scalar_verifier(program, build_module):
    """The numpy verifier (used for large buffers) accepts exactly what the scalar one does."""
    from iree_lab.format import verifier
    from iree_lab.format.container import Container

    data = build_module(program).read_bytes()
    m = iree_lab.open(data)
    fb_start = m.container.flatbuffer_offset - 4
    fb_end = m.container.flatbuffer_offset + m.flatbuffer_size
    rng = random.Random(f"iree_lab-fast-verify-{program}")
    outcomes = {True: 0, False: 0}
    for case in range(300):
        mutated = mutate(data, rng, fb_start, fb_end)
        try:
            buf = Container(memoryview(mutated)).flatbuffer
        except FormatError:
            continue
        if buf.base & 3:
            continue  # rejected by the shared header checks before either verifier runs
        fast = verifier._fast_verify_passes(buf, "iree.vm.BytecodeModuleDef")
        try:
            v = verifier._Verifier(buf)
            v.table(0, v.u32(0), "iree.vm.BytecodeModuleDef", verifier.MAX_LEVELS, None)
            scalar = True
        except FormatError:
            scalar = False
        assert fast == scalar, f"case {case}: fast verifier says {fast}, scalar {scalar}"
        outcomes[fast] += 1
    assert outcomes[True] > 20 and outcomes[False] > 20


@pytest.mark.parametrize(("program", "schema", "suffix"), [
    ("tensor_vulkan", "vulkan_executable_def", "_vulkan_spirv_fb.fb"),
    ("tensor_cuda", "cuda_executable_def", "_cuda_nvptx_fb.fb"),
    ("tensor_metal", "metal_executable_def", "_metal_msl_fb.fb"),
])
def test_executable_mutations_raise_only_format_error(program, schema, suffix, build_module):
    """HAL executable containers: header + verification + reading every export."""
    from iree_lab.format.flatbuffer import open_executable_root

    m = iree_lab.open(build_module(program))
    data = bytes(next(s for s in m.rodata if (s.archive_name or "").endswith(suffix)).data)
    rng = random.Random(f"iree_lab-executable-{program}")
    outcomes = {"ok": 0, "format-error": 0}
    for case in range(300):
        mutated = mutate(data, rng, 0, min(len(data), 64 + 4096))
        try:
            root = open_executable_root(mutated, schema)
            for name in ("pipelines", "exports"):
                if name in root.layout:
                    for export in root.vector(name) or ():
                        export.string("entry_point" if "entry_point" in export.layout
                                      else "kernel_name")
                        debug = export.table("debug_info")
                        if debug is not None:
                            debug.string("name")
            outcomes["ok"] += 1
        except FormatError:
            outcomes["format-error"] += 1
        except Exception as e:  # noqa: BLE001
            pytest.fail(f"case {case} of {program} raised {type(e).__name__}: {e}")
    assert outcomes["ok"] > 10 and outcomes["format-error"] > 10
