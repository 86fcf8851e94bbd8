"""Model-sized modules (corpus.MODELS: a ResNet-18 and a GPT-2-style transformer, for vmvx and
llvm-cpu) through iree_lab vs IREE's tools: metadata and disassembly byte-identical to
iree-dump-module, every executable found with all its exports, and the facts the notebook's
widgets rely on (names with `$`, instruction counts)."""

from __future__ import annotations

import pytest

import iree_lab
from iree_lab.cli.main import main
from iree_lab.hal.executables import find_executables
from iree_lab.testing import corpus
from iree_lab.views.module import ModuleView, largest_function

pytestmark = pytest.mark.slow

MODELS = sorted(corpus.MODELS)


@pytest.mark.parametrize("program", MODELS)
@pytest.mark.parametrize("output", ["metadata", "disassembly"])
def test_dump_matches_iree_dump_module(program, output, build_module, iree_tool, capsysbinary):
    path = str(build_module(program))
    expected = iree_tool("iree-dump-module", f"--output={output}", path).stdout
    assert main(["dump", f"--output={output}", path]) == 0
    out = capsysbinary.readouterr().out
    assert out.decode() == expected.decode()


@pytest.mark.parametrize("program", MODELS)
def test_model_scale_and_names(program, build_module, iree_tool):
    path = build_module(program)
    m = iree_lab.open(path)
    # As big as the real models: weights as rodata, dispatch names with `$` (turbine-style).
    weights = sum(s.size for s in m.rodata)
    assert weights > (40 << 20 if "resnet18" in program else 12 << 20)
    (exe,) = find_executables(m).executables
    exports = exe.parse().exports
    assert len(exports) >= (28 if "resnet18" in program else 17)
    assert all(e.name.startswith("main$async_dispatch_") for e in exports)
    # Every export's dispatch site is found, named as the tools name the function.
    assert all(exe.dispatches_of(e) for e in exports)
    # The export count equals what iree-dump-module lists for the executable.
    listed = iree_tool("iree-dump-module", "--output=metadata", str(path)).stdout.decode()
    assert listed.count("main$async_dispatch_") >= len(exports)
    view = ModuleView(m)
    functions = next(n for n in view.tree() if n["id"] == "functions")
    assert [c["label"] for c in functions["children"]] == [f"@{f.iree_name}" for f in m.functions]
    assert largest_function(m) is not None
