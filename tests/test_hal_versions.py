"""The ``hal`` module at each version older releases import: every export's calling
convention equals IREE's ``runtime/src/iree/modules/hal/exports.inl`` at that version,
and each release's modules link against the class iree_lab picks for them.

The tables are that file's EXPORT_FN entries at IREE commits 9650bfe441 (hal 5,
IREE 3.0), eec9316e7d (hal 6, 3.1-3.10) and the v3.13-era snapshot (hal 7).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_hal import HAL_EXPORTS

from iree_lab import vm
from iree_lab.hal.inline import HALInlineModule, HALLoaderModule
from iree_lab.hal.module import HALModule
from iree_lab.hal.module_versions import (
    HALLoaderModuleV0,
    HALModuleV5,
    HALModuleV6,
    hal_loader_module_class,
    hal_module_class,
)

# hal 7 (IREE 3.11 on): the table tests/test_hal.py checks HALModule against.
HAL_7 = HAL_EXPORTS
# hal 6 (3.1-3.10): function ids were i32 and executables had no lookup.function.
HAL_6 = {
    **{k: v for k, v in HAL_7.items() if k != "executable.lookup.function"},
    "command_buffer.dispatch": "0rriiiiICiDCiirIID_v",
    "command_buffer.dispatch.indirect": "0rriirIICiDCiirIID_v",
}
# hal 5 (3.0): fewer exports, i32 queue affinities and flags, fences without affinity.
HAL_5 = {
    **{k: v for k, v in HAL_6.items() if k not in (
        "allocator.select",
        "buffer.allocation.discard",
        "buffer.allocation.is_terminal",
        "buffer.allocation.preserve",
        "command_buffer.advise_buffer",
        "device.queue.barrier",
    )},
    "channel.create": "0rIirrii_r",
    "channel.split": "0riii_r",
    "command_buffer.copy_buffer": "0riirIrII_v",
    "command_buffer.execution_barrier": "0riii_v",
    "command_buffer.fill_buffer": "0rrIIiii_v",
    "command_buffer.update_buffer": "0rrIrIIi_v",
    "device.queue.alloca": "0rIrriiiI_r",
    "device.queue.dealloca": "0rIrrr_v",
    "device.queue.execute": "0rIrrCrD_v",
    "device.queue.execute.indirect": "0rIrrrCrIID_v",
    "device.queue.read": "0rIrrrIrIIi_v",
    "device.queue.write": "0rIrrrIrIIi_v",
    "executable.create": "0rrrr_r",
    "fence.await": "0iCrD_i",
    "fence.create": "0ri_r",
    "fence.join": "0CrD_r",
}

# runtime/src/iree/modules/hal/loader/exports.inl before and after 5e1a57678a.
HAL_LOADER_0 = {
    "executable.dispatch": "0riiiiCiDCrIID_v",
    "executable.load": "0rrr_r",
    "executable.query_support": "0r_i",
}
HAL_LOADER_1 = {
    "executable.dispatch": "0rIiiiCiDCrIID_v",
    "executable.load": "0rrr_r",
    "executable.lookup.function": "0rr_I",
    "executable.query_support": "0r_i",
}

RELEASES_DIR = Path(__file__).parent / "releases"


@pytest.mark.parametrize(("cls", "expected", "version"), [
    (HALModuleV5, HAL_5, 5), (HALModuleV6, HAL_6, 6), (HALModule, HAL_7, 7)])
def test_exports_match_exports_inl(cls, expected, version):
    module = cls()
    assert module.version == version
    ours = {name: fn.cconv.text for name, fn in module.exports.items()}
    assert ours == expected


@pytest.mark.parametrize(("cls", "expected", "version"), [
    (HALLoaderModuleV0, HAL_LOADER_0, 0), (HALLoaderModule, HAL_LOADER_1, 1)])
def test_loader_exports_match_exports_inl(cls, expected, version):
    module = cls()
    assert module.version == version
    assert {name: fn.cconv.text for name, fn in module.exports.items()} == expected


@pytest.mark.parametrize("release", ["3.0.0", "3.9.0", "3.10.0", "3.12.0"])
def test_each_release_links_against_its_hal_version(release):
    manifest = json.loads((RELEASES_DIR / release / "manifest.json").read_text())
    expected = {"3.0.0": 5, "3.9.0": 6, "3.10.0": 6, "3.12.0": 7}[release]
    checked = 0
    for entry in manifest["modules"].values():
        if "module" not in entry:
            continue  # a program that release cannot compile (see test_old_releases.py)
        module = vm.BytecodeModule.load(RELEASES_DIR / release / entry["module"])
        provided = {"hal": hal_module_class([module])(),
                    "hal_loader": hal_loader_module_class([module])(),
                    "hal_inline": HALInlineModule()}
        if any(d.name == "hal" for d in module.dependencies):
            assert provided["hal"].version == expected
        for imp in module.imports:
            name, _, function = imp.full_name.partition(".")
            if name in provided:
                exports = provided[name].exports
                assert exports[function].cconv.text == imp.cconv.text, imp.full_name
                checked += 1
    assert checked > 20
