"""Sample modules bundled with iree_lab (rebuilt from the MLIR beside them by tools/build_samples.py)."""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def names() -> list[str]:
    """Names of the bundled samples, e.g. ['mlp']."""
    return sorted(p.stem for p in _HERE.glob("*.vmfb"))


def path(name: str) -> Path:
    """Path of the bundled sample module NAME (see names())."""
    p = _HERE / f"{name}.vmfb"
    if not p.is_file():
        raise FileNotFoundError(f"no bundled sample {name!r}; available: {', '.join(names())}")
    return p


def source(name: str) -> Path:
    """Path of the MLIR source the sample NAME was compiled from."""
    stem = name.removesuffix("_llvm_cpu")  # mlp_llvm_cpu: mlp.mlir for llvm-cpu
    return _HERE / f"{stem}.mlir"
