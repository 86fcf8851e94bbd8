"""BlobView renders every executable format iree-compile 3.13 produces (one corpus program
compiled for each HAL target), with the format-specific listing of its first export."""

from __future__ import annotations

import html

import pytest

import iree_lab
from iree_lab.testing import corpus

pytest.importorskip("anywidget")
from iree_lab.notebook import BlobView  # noqa: E402

# corpus program -> (format string, text the first export's listing must contain)
FORMATS = {
    "exe_vmvx": ("vmvx-bytecode-fb", "vm.func @"),
    "exe_llvm_cpu": ("embedded-elf-x86_64", "x86_64 disassembly"),
    "exe_llvm_cpu_system": ("system-elf-x86_64", "x86_64 disassembly"),
    "exe_aarch64": ("embedded-elf-arm_64", "disassembly"),
    "exe_riscv64": ("embedded-elf-riscv_64", "disassembly"),
    "exe_vulkan": ("vulkan-spirv-fb", "OpFunction"),
    "exe_cuda": ("cuda-nvptx-fb", ".entry"),
    "exe_hip": ("rocm-hsaco-fb", ".kernarg_segment_size"),
    "exe_hip_hsaco": ("rocm-hsaco-fb", ".kernarg_segment_size"),
    "exe_amdgpu": ("gfx942", ".kernarg_segment_size"),
    "exe_metal": ("metal-msl-fb", "kernel"),
    # inline-dynamic: the executable loaded through hal_loader.executable.load.
    "exe_vmvx_inline": ("vmvx-bytecode-fb", "vm.func @"),
    "exe_llvm_cpu_inline": ("embedded-elf-x86_64", "x86_64 disassembly"),
}


def test_every_executable_target_is_listed():
    assert set(FORMATS) == {name for name in corpus.PROGRAMS if name.startswith("exe_")}


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_blob_view_renders_format(name):
    module = iree_lab.open(corpus.build(name))
    blob = BlobView(module, 0)
    executable_format, listing_text = FORMATS[name]
    assert blob.title.endswith(f"({executable_format})")
    assert blob.exports and all(e["name"] for e in blob.exports)
    listing = html.unescape(blob.listing_html)
    assert listing_text in listing
    assert executable_format in html.unescape(blob.info_html)
    # The hex view starts at the blob's first byte.
    segment = module.rodata[blob.module_executable.rodata_ordinal]
    first_row = blob.hex_text.splitlines()[0]
    assert first_row.startswith("00000000  " + " ".join(f"{b:02x}" for b in bytes(segment.data[:4])))
    assert blob.size == segment.size
