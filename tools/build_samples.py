#!/usr/bin/env python3
"""Rebuilds the sample modules bundled with iree_lab (iree_lab/samples/*.vmfb).

Each sample is compiled from the MLIR next to it with the pinned iree-compile
(install the test extra first). The .vmfb files are committed so that the
notebooks run on a machine without the compiler.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[1] / "iree_lab" / "samples"

# sample name -> (MLIR source beside it, iree-compile flags)
BUILDS = {
    "mlp": ("mlp", [
        "--iree-hal-target-device=local",
        "--iree-hal-local-target-device-backends=vmvx",
    ]),
    # The same model as native x86-64 code (embedded ELF, baseline CPU: runs on any x86-64).
    "mlp_llvm_cpu": ("mlp", [
        "--iree-hal-target-device=local",
        "--iree-hal-local-target-device-backends=llvm-cpu",
        "--iree-llvmcpu-target-triple=x86_64-unknown-linux-gnu",
        "--iree-llvmcpu-target-cpu=generic",
    ]),
}


def main() -> int:
    for name, (stem, flags) in BUILDS.items():
        source = SAMPLES / f"{stem}.mlir"
        output = SAMPLES / f"{name}.vmfb"
        cmd = ["iree-compile", *flags, str(source), "-o", str(output)]
        print("+", " ".join(cmd))
        subprocess.run(cmd, check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
