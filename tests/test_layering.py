"""The layering of ../shared/DESIGN.md: each layer imports only from the layers before it.

Checked statically over every module of the package (imports inside functions
count too: a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "iree_lab"

# In order; a layer may import itself and any layer before it.
LAYERS = ["format", "isa", "vm", "hal", "debug", "views", "notebook", "cli"]
# Importable from every layer: error types and bundled sample data.
BASE = {"errors", "samples"}


def _layer_of(module_parts: tuple[str, ...]) -> str | None:
    return module_parts[0] if module_parts else None


def _imported_iree_lab_modules(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "iree_lab":
                    yield node.lineno, tuple(alias.name.split(".")[1:])
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            parts = node.module.split(".")
            if parts[0] == "iree_lab":
                if len(parts) == 1:  # from iree_lab import x
                    for alias in node.names:
                        yield node.lineno, (alias.name,)
                else:
                    yield node.lineno, tuple(parts[1:])


def _layered_files():
    for layer in LAYERS:
        for path in sorted((PACKAGE / layer).rglob("*.py")):
            if "generated" in path.parts:
                continue
            yield layer, path


@pytest.mark.parametrize("layer", LAYERS)
def test_layer_imports_only_earlier_layers(layer):
    allowed = set(LAYERS[: LAYERS.index(layer) + 1]) | BASE
    violations = []
    files = [p for lay, p in _layered_files() if lay == layer]
    for path in files:
        for lineno, parts in _imported_iree_lab_modules(path):
            target = _layer_of(parts)
            if target is not None and target not in allowed:
                violations.append(f"{path.relative_to(PACKAGE.parent)}:{lineno} imports iree_lab.{'.'.join(parts)}")
    assert not violations, "layering violations:\n" + "\n".join(violations)


def test_checker_sees_imports(tmp_path):
    # The checker itself must notice an upward import, or the tests above prove nothing.
    sample = tmp_path / "m.py"
    sample.write_text("import iree_lab.cli.main\nfrom iree_lab.vm import x\nfrom iree_lab import isa\n")
    found = [parts for _, parts in _imported_iree_lab_modules(sample)]
    assert found == [("cli", "main"), ("vm",), ("isa",)]
