"""``hal.allocator.import`` on the local-sync device, differentially against IREE 3.13.

IREE's heap allocator imports any host allocation, but ``iree_hal_heap_buffer_wrap``
refuses data whose pointer is not 64-byte aligned (``IREE_HAL_HEAP_BUFFER_ALIGNMENT``;
the HAL module never asks for UNALIGNED access): a try import then yields null and
the program allocates and copies instead, a plain import fails with OUT_OF_RANGE.
Module rodata sits at its file offset in a page-aligned load of the module, so the
outcome follows the data's file offset. The probes (tests/programs/vm/allocator_import.mlir)
return whether the import yielded a buffer; iree.runtime runs the same module.
"""

from __future__ import annotations

import io
import itertools

import pytest

from iree_lab import vm
from iree_lab.debug import Program, trace_program
from iree_lab.hal import Device
from iree_lab.hal.module import HALModule
from iree_lab.hal.types import BufferUsage, MemoryType
from iree_lab.testing import corpus

rt = pytest.importorskip("iree.runtime", reason="iree.runtime (pinned IREE 3.13) not installed")

IMMUTABLE = int(BufferUsage.SHARING_IMMUTABLE)
USAGES = [IMMUTABLE | int(BufferUsage.DEFAULT), IMMUTABLE, int(BufferUsage.DEFAULT)]
MEMORY_TYPES = [0, int(MemoryType.DEVICE_LOCAL), int(MemoryType.HOST_VISIBLE)]
OFFSETS = [0, 4, 8, 16, 32, 48, 64, 96, 128]


@pytest.fixture(scope="module")
def path():
    return corpus.build("vm_allocator_import")


@pytest.fixture(scope="module")
def native(path):
    """call(function, *args) -> int result or the IREE status code name."""
    instance = rt.VmInstance()
    device = rt.get_device("local-sync")
    module = rt.VmModule.copy_buffer(instance, path.read_bytes())
    context = rt.VmContext(instance, [rt.create_hal_module(instance, device), module])

    def call(function, *args):
        invoker = rt.FunctionInvoker(context, device, module.lookup_function(function))
        try:
            return int(invoker(*args))
        except (RuntimeError, IndexError) as e:  # iree.runtime maps OUT_OF_RANGE to IndexError
            return next(code for code in ("OUT_OF_RANGE", "PERMISSION_DENIED") if code in str(e))

    return call


@pytest.fixture(scope="module")
def ours(path):
    context = vm.Context([HALModule([Device()]), vm.BytecodeModule.load(path)])

    def call(function, *args):
        try:
            (result,) = context.call_function(context.lookup_function(function), list(args))
        except vm.VMError as e:
            return e.code.name
        return int(result)

    return call


def test_rodata_imports_match_iree(native, ours):
    cases = list(itertools.product(OFFSETS, MEMORY_TYPES, USAGES, [1, 0]))
    outcomes = {}
    for case in cases:
        expected = native("rodata", *case)
        assert ours("rodata", *case) == expected, case
        outcomes[expected] = outcomes.get(expected, 0) + 1
    # All three outcomes occur: imported, null from a try, and each error.
    assert set(outcomes) == {0, 1, "OUT_OF_RANGE", "PERMISSION_DENIED"}, outcomes


def test_guest_buffer_imports_match_iree(native, ours):
    # vm.buffer.alloc with alignment 64: IREE's pointer is 64-aligned, so the
    # outcome follows the offset (below 64 it would depend on IREE's malloc).
    for case in itertools.product(OFFSETS, USAGES, [1, 0]):
        assert ours("guest", *case) == native("guest", *case), case


def test_trace_at_the_import_follows_alignment(path):
    """The instruction after the import sees null exactly where IREE's import fails."""
    usage = str(IMMUTABLE | int(BufferUsage.DEFAULT))
    for offset, imported in [("0", True), ("8", False), ("64", True), ("96", False)]:
        out = io.StringIO()
        (result,) = trace_program(Program(path, "rodata", [offset, "48", usage, "1"]), out)
        lines = out.getvalue().splitlines()
        (at,) = [i for i, line in enumerate(lines) if "@hal.allocator.import(" in line]
        assert "vm.cmp.nz.ref" in lines[at + 1]
        assert lines[at + 1].endswith("(null)") is not imported, lines[at + 1]
        assert result == int(imported)


@pytest.mark.parametrize("mode", ["preload", "mmap"])
def test_iree_run_module_agrees(path, ours, iree_tool, mode):
    """iree-run-module loads the module file page-aligned in both --module_mode's."""
    usage = IMMUTABLE | int(BufferUsage.DEFAULT)
    for offset in (0, 16, 64, 72):
        out = iree_tool("iree-run-module", "--device=local-sync", f"--module_mode={mode}",
                        f"--module={path}", "--function=rodata", f"--input={offset}",
                        "--input=48", f"--input={usage}", "--input=1").stdout.decode()
        assert out.splitlines()[-1] == f"result[0]: i32={ours('rodata', offset, 48, usage, 1)}"
