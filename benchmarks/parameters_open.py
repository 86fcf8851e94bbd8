#!/usr/bin/env python3
"""Benchmark: open + index a >= 1 GiB parameter archive, iree-lab vs iree-dump-parameters.

Writes (sparse, so the disk holds only headers) one archive per format of
``--size-gib`` GiB in ``--entries`` parameters, plus a many-entry irpa
(``--many`` small parameters), then times in the same run, alternating,
``--runs`` times each:

* ``iree-lab dump-parameters --parameters=FILE`` (``python -m iree_lab``),
* the native ``iree-dump-parameters`` binary,

and reports median wall times, their ratio and each process's peak RSS (from
``/usr/bin/time``): memory must not grow with file size (both map the file and touch
only the headers). Outputs are compared byte for byte as a sanity check.
Python start-up is included in iree-lab's time; ``python -c pass`` is shown
for reference.

Usage: python benchmarks/parameters_open.py [--size-gib 1] [--entries 512] [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _sparse(path: Path, head: bytes, size: int) -> Path:
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(max(size, len(head)))
    return path


def write_irpa(path: Path, sizes: list[int]) -> Path:
    """IRPA v0 (runtime/src/iree/schemas/parameter_archive.h): DATA entries, 64-aligned."""
    names = [f"layer{i}.weight".encode() for i in range(len(sizes))]
    metadata = b"".join(names)
    table = bytearray()
    storage, name_offset = 0, 0
    for name, size in zip(names, sizes, strict=True):
        table += struct.pack("<QIQQQQQQQQ", 76, 2, 0, name_offset, len(name), 0, 0, 64,
                             storage, size)
        table += b"\0" * (-len(table) % 16)
        name_offset += len(name)
        storage += (size + 63) // 64 * 64
    table_offset = 88
    metadata_offset = table_offset + len(table)
    storage_offset = (metadata_offset + len(metadata) + 4095) // 4096 * 4096
    header = struct.pack("<IHHQQQQQQQQQQ", 0x41505249, 0, 0, 88, 0, 0, len(sizes),
                         table_offset, len(table), metadata_offset, len(metadata),
                         storage_offset, storage)
    return _sparse(path, header + bytes(table) + metadata, storage_offset + storage)


def write_safetensors(path: Path, sizes: list[int]) -> Path:
    header, offset = {}, 0
    for i, size in enumerate(sizes):
        header[f"layer{i}.weight"] = {"dtype": "F32", "shape": [size // 4],
                                      "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return _sparse(path, struct.pack("<Q", len(text)) + text, 8 + len(text) + offset)


def write_gguf(path: Path, sizes: list[int]) -> Path:
    out = [struct.pack("<IIQQ", 0x46554747, 3, len(sizes), 0)]
    offset = 0
    for i, size in enumerate(sizes):
        name = f"layer{i}.weight".encode()
        out.append(struct.pack("<Q", len(name)) + name
                   + struct.pack("<IQIQ", 1, size // 4, 0, offset))
        offset += (size + 31) // 32 * 32
    head = b"".join(out)
    head += b"\0" * (-len(head) % 32)
    return _sparse(path, head, len(head) + offset)


def run(cmd: list[str]) -> tuple[float, int, bytes]:
    """Wall seconds, peak RSS (KiB) and stdout of one process.

    The peak RSS comes from ``/usr/bin/time -f %M`` (a small parent): a child
    forked from this Python process would count this process's pages as its own."""
    timed = ["/usr/bin/time", "-f", "%M", *cmd] if os.path.exists("/usr/bin/time") else cmd
    start = time.perf_counter()
    result = subprocess.run(timed, capture_output=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{result.stderr.decode(errors='replace')}")
    rss = int(result.stderr.split()[-1]) if timed is not cmd else 0
    return wall, rss, result.stdout


def _open_and_dump(path: Path) -> float:
    from iree_lab.format.parameters import ScopeMap
    from iree_lab.format.parameters.dump import dump_text

    start = time.perf_counter()
    scopes = ScopeMap.from_flags([str(path)])
    dump_text(scopes)
    elapsed = time.perf_counter() - start
    for index in scopes:
        for f in index.files:
            f.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-gib", type=float, default=1.0)
    parser.add_argument("--entries", type=int, default=512)
    parser.add_argument("--many", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    from iree_lab.testing import corpus

    native = corpus.tool_path("iree-dump-parameters")
    total = int(args.size_gib * (1 << 30))
    sizes = [total // args.entries] * args.entries
    with tempfile.TemporaryDirectory(prefix="iree_lab_params_") as tmp:
        tmp = Path(tmp)
        files = {
            "irpa": write_irpa(tmp / "big.irpa", sizes),
            "safetensors": write_safetensors(tmp / "big.safetensors", sizes),
            "gguf": write_gguf(tmp / "big.gguf", sizes),
            f"irpa {args.many} entries": write_irpa(tmp / "many.irpa", [256] * args.many),
        }
        small = write_irpa(tmp / "small.irpa", [256] * 4)
        print(f"python -c pass: {statistics.median(run([sys.executable, '-c', 'pass'])[0] for _ in range(3)) * 1e3:.0f} ms")
        print(f"{'archive':<24} {'size':>9} {'iree-lab':>10} {'native':>10} {'ratio':>6} "
              f"{'RSS lab':>9} {'RSS native':>10} {'in-process':>11}")
        for label, path in [*files.items(), ("irpa 4 entries", small)]:
            lab_cmd = [sys.executable, "-m", "iree_lab", "dump-parameters",
                       f"--parameters={path}"]
            native_cmd = [native, f"--parameters={path}"]
            lab_t, native_t, lab_rss, native_rss = [], [], 0, 0
            for _ in range(args.runs):
                t, rss, lab_out = run(lab_cmd)
                lab_t.append(t)
                lab_rss = max(lab_rss, rss)
                t, rss, native_out = run(native_cmd)
                native_t.append(t)
                native_rss = max(native_rss, rss)
                assert lab_out == native_out, f"outputs differ for {label}"
            lab_m, native_m = statistics.median(lab_t), statistics.median(native_t)
            in_process = statistics.median(_open_and_dump(path) for _ in range(args.runs))
            size = path.stat().st_size
            print(f"{label:<24} {size / (1 << 30):>7.2f}Gi {lab_m * 1e3:>8.0f}ms "
                  f"{native_m * 1e3:>8.0f}ms {lab_m / native_m:>5.1f}x "
                  f"{lab_rss / 1024:>7.1f}Mi {native_rss / 1024:>8.1f}Mi "
                  f"{in_process * 1e3:>9.1f}ms")
        print("in-process: open + index + dump text in this process (no interpreter start-up)")


if __name__ == "__main__":
    main()
