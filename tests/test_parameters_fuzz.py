"""Hostile parameter files: seeded mutations only ever index fine or raise ParameterFormatError.

Each case mutates a valid .irpa / .safetensors / .gguf (bit flips, interesting
integers over header fields, truncation, splices), indexes it, reads every
entry's bytes and dumps it. Anything but ParameterFormatError escaping fails and
prints the seed. A slice of the cases is also run through iree-dump-parameters:
whenever IREE indexes a mutated file iree_lab must print the same dump, and when
iree_lab accepts a file IREE must accept it too.
"""

from __future__ import annotations

import random
import struct
import subprocess

import numpy as np
import pytest
from paramfiles import gguf_bytes, irpa_bytes, safetensors_bytes

from iree_lab.format.parameters import ParameterFormatError, ParameterIndex, open_parameter_file
from iree_lab.format.parameters.dump import dump_index
from iree_lab.testing import corpus

CASES_PER_FORMAT = 3000
DIFFERENTIAL_EVERY = 6  # every 6th case also through iree-dump-parameters
_INTERESTING = [0, 1, 2, 3, 7, 8, 15, 16, 17, 31, 32, 63, 64, 0x7F, 0x80, 0xFF, 0xFFFF,
                0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x100000000, (1 << 63), (1 << 64) - 1]

_TENSORS = {"w": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.arange(5, dtype=np.int8),
            "s": np.array([1, -1], dtype=np.int16)}
SEEDS = {
    "irpa": irpa_bytes([("data", "w", _TENSORS["w"].tobytes()), ("skip", "gone"),
                        ("splat", "z", 64, b"\x01\x02"), ("data", "b", _TENSORS["b"].tobytes())],
                       data_alignment=16),
    "safetensors": safetensors_bytes(_TENSORS, metadata={"k": "v"}),
    "gguf": gguf_bytes({"w": _TENSORS["w"], "b": _TENSORS["b"], "s": _TENSORS["s"]},
                       metadata=[("general.name", 8, struct.pack("<Q", 2) + b"ab"),
                                 ("arr", 9, struct.pack("<IQ", 5, 2) + b"\0" * 8)]),
}


def mutate(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    if not buf:
        return data
    # Most mutations land in the headers, where the structure is.
    def pos(width=1):
        limit = min(len(buf), 400) if rng.random() < 0.8 else len(buf)
        return rng.randrange(0, max(1, limit - width + 1))

    kind = rng.randrange(6)
    if kind == 0:
        for _ in range(rng.randint(1, 4)):
            p = pos()
            buf[p] ^= 1 << rng.randrange(8)
    elif kind == 1:
        p = pos(4)
        buf[p:p + 4] = struct.pack("<I", rng.choice(_INTERESTING) & 0xFFFFFFFF)
    elif kind == 2:
        p = pos(8)
        buf[p:p + 8] = struct.pack("<Q", rng.choice(_INTERESTING) & ((1 << 64) - 1))
    elif kind == 3:
        del buf[rng.randrange(0, len(buf)):]
    elif kind == 4:
        p, q = pos(), pos()
        n = rng.randint(1, 32)
        buf[p:p + n] = bytes(buf[q:q + n])
    else:
        p = pos()
        buf[p] = rng.randrange(256)
    return bytes(buf)


def exercise(data: bytes, fmt: str) -> str | None:
    """The dump text, or None for a ParameterFormatError."""
    try:
        file = open_parameter_file(data, format=fmt)
        for entry in file.entries:
            n = min(entry.length, 1 << 16)
            assert len(entry.read(entry.length - n, n)) == n
            repr(entry)
        return dump_index(ParameterIndex("", [file]))
    except ParameterFormatError as e:
        str(e)
        assert e.code and e.path
        return None


@pytest.mark.parametrize("fmt", list(SEEDS))
def test_mutated_parameter_files(fmt, tmp_path):
    outcomes = {"ok": 0, "error": 0}
    agreed = 0
    for case in range(CASES_PER_FORMAT):
        seed = case * 7919 + len(fmt)
        rng = random.Random(seed)
        data = SEEDS[fmt]
        for _ in range(rng.randint(1, 3)):
            data = mutate(data, rng)
        try:
            text = exercise(data, fmt)
        except Exception as e:  # noqa: BLE001 - the point: nothing else may escape
            pytest.fail(f"{fmt} seed {seed}: {type(e).__name__}: {e}")
        outcomes["ok" if text is not None else "error"] += 1
        if case % DIFFERENTIAL_EVERY:
            continue
        path = tmp_path / f"m.{fmt}"
        path.write_bytes(data)
        ref = subprocess.run([corpus.tool_path("iree-dump-parameters"), f"--parameters={path}"],
                             capture_output=True, timeout=60)
        if ref.returncode == 0:
            # Where IREE's unchecked arithmetic lets a file through that iree_lab rejects
            # (documented in the parsers), iree_lab is stricter; otherwise identical.
            if text is not None:
                assert text.encode("utf-8", "surrogateescape") == ref.stdout, f"seed {seed}"
                agreed += 1
        else:
            assert text is None, f"{fmt} seed {seed}: IREE rejects, iree_lab accepts"
            agreed += 1
    assert outcomes["ok"] and outcomes["error"], outcomes
    print(f"{fmt}: {outcomes}, {agreed} agreed with iree-dump-parameters")
    assert agreed >= CASES_PER_FORMAT // DIFFERENTIAL_EVERY * 9 // 10, agreed
