"""SPIR-V: our listing vs spirv-dis, and the generated grammar tables vs the grammar JSON.

spirv-dis (SPIRV-Tools) and the grammar files (SPIRV-Headers) come from the
distribution packages ``spirv-tools`` / ``spirv-headers``; tests that need
them skip when absent. Regenerate the tables with
``python tests/test_executables_spirv.py --regenerate``.
"""

from __future__ import annotations

import json
import pprint
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import iree_lab
from iree_lab.format.executables.spirv import SpirvModule
from iree_lab.hal.executables import find_executables

GRAMMAR_DIR = Path("/usr/include/spirv/unified1")
CORE = GRAMMAR_DIR / "spirv.core.grammar.json"
GLSL = GRAMMAR_DIR / "extinst.glsl.std.450.grammar.json"
TABLES = Path(__file__).resolve().parents[1] / "iree_lab/format/executables/spirv_grammar.py"



def render(core_path: str, glsl_path: str) -> str:
    core = json.loads(Path(core_path).read_text())
    glsl = json.loads(Path(glsl_path).read_text())
    instructions = {}
    for inst in core["instructions"]:
        op = inst["opcode"]
        if op in instructions:
            continue
        operands = " ".join(o["kind"] + o.get("quantifier", "") for o in inst.get("operands", []))
        instructions[op] = (inst["opname"], operands)
    enums = {}
    bit_enums = set()
    for kind in core["operand_kinds"]:
        if kind["category"] not in ("ValueEnum", "BitEnum"):
            continue
        if kind["category"] == "BitEnum":
            bit_enums.add(kind["kind"])
        values = {}
        for e in kind["enumerants"]:
            v = e["value"]
            v = int(v, 16) if isinstance(v, str) else v
            if v in values:
                continue
            params = " ".join(p["kind"] + p.get("quantifier", "") for p in e.get("parameters", []))
            values[v] = (e["enumerant"], params) if params else e["enumerant"]
        enums[kind["kind"]] = values
    glsl_names = {i["opcode"]: i["opname"] for i in glsl["instructions"]}
    version = f'{core["major_version"]}.{core["minor_version"]} revision {core["revision"]}'
    out = [
        '"""SPIR-V opcode and operand tables (generated; do not edit).',
        "",
        f"Facts from the SPIR-V core grammar {version} and the GLSL.std.450",
        "extended instruction set grammar; regenerate with",
        "``python tests/test_executables_spirv.py --regenerate``.",
        "",
        "INSTRUCTIONS: opcode -> (name, operand kinds; ``?`` optional, ``*`` variadic).",
        "ENUMS: operand kind -> value -> name, or (name, parameter kinds).",
        '"""',
        "",
        "# fmt: off",
        f"INSTRUCTIONS = {pprint.pformat(instructions, width=100, compact=True)}",
        "",
        f"ENUMS = {pprint.pformat(enums, width=100, compact=True)}",
        "",
        f"BIT_ENUMS = {pprint.pformat(sorted(bit_enums), width=100, compact=True)}",
        "",
        f"GLSL_STD_450 = {pprint.pformat(glsl_names, width=100, compact=True)}",
        "",
    ]
    return "\n".join(out)



def _spirv_modules(build_module):
    module = iree_lab.open(build_module("exe_vulkan"))
    for exe in find_executables(module):
        for code in exe.parse().code_objects:
            yield exe.name, code.data


def test_listing_matches_spirv_dis(build_module, tmp_path):
    tool = shutil.which("spirv-dis")
    if tool is None:
        pytest.skip("spirv-dis not installed (apt-get install spirv-tools)")
    count = 0
    for name, data in _spirv_modules(build_module):
        path = tmp_path / f"{name}.spv"
        path.write_bytes(data)
        expected = subprocess.run([tool, "--raw-id", "--no-indent", "--no-header", str(path)],
                                  capture_output=True, text=True, check=True).stdout
        module = SpirvModule(data)
        assert module.notes == []
        assert "\n".join(module.listing()) + "\n" == expected, name
        count += 1
    assert count == 5


def test_header_fields(build_module):
    for _, data in _spirv_modules(build_module):
        module = SpirvModule(data)
        assert module.version is not None and module.version >= (1, 0)
        assert module.bound > max(i.result_id or 0 for i in module.instructions)
        assert module.schema == 0


def test_grammar_tables_match_grammar_json():
    if not CORE.exists() or not GLSL.exists():
        pytest.skip("SPIR-V grammar JSON not installed (apt-get install spirv-headers)")
    assert TABLES.read_text() == render(str(CORE), str(GLSL))


def test_damaged_spirv_gives_notes_not_exceptions():
    import random
    import struct

    rng = random.Random(1234)
    words = [0x07230203, 0x00010000, 0, 10, 0,
             (2 << 16) | 17, 1,            # OpCapability Shader
             (3 << 16) | 21, 1, 32]        # OpTypeInt, truncated (missing signedness)
    data = struct.pack(f"<{len(words)}I", *words)
    module = SpirvModule(data)
    assert module.capabilities == ["Shader"]
    assert module.instructions[-1].error
    for _ in range(300):
        blob = bytearray(data * 3)
        for _ in range(rng.randint(1, 6)):
            blob[rng.randrange(len(blob))] = rng.randrange(256)
        SpirvModule(bytes(blob[: rng.randrange(len(blob) + 1)]))  # must not raise
    zero = struct.pack("<6I", 0x07230203, 0x10000, 0, 1, 0, 17)  # word count 0
    assert SpirvModule(zero).notes


if __name__ == "__main__":
    if "--regenerate" in sys.argv:
        TABLES.write_text(render(str(CORE), str(GLSL)))
        print(f"wrote {TABLES}")
