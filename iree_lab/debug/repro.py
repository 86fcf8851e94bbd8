"""Standalone dispatch repros: one dispatch of a run, in a folder, re-runnable alone.

:func:`extract_dispatch` runs a function (like ``iree-lab run``), takes the
dispatch with the given ordinal (execution order, as ``iree-lab compare``
numbers them) and writes to a folder:

* ``executable.bin``: the executable as the program loaded it (its format in
  the manifest: ``vmvx-bytecode-fb``, ``embedded-elf-x86_64``, ...);
* ``binding_<i>.npy``: each binding's contents before the dispatch (typed when
  the element type is known and numpy has it, else bytes);
* ``expected_<i>.npy``: each written binding's contents after it;
* ``manifest.json``: entry point, export name, workgroup count, constants,
  executable constants, bindings (which share an allocation, at which offsets);
* ``benchmark.flags`` and ``benchmark.sh``: ``iree-benchmark-executable`` with
  the same executable, entry point, constants, bindings and workgroup count.

:func:`run_dispatch` re-runs exactly that dispatch through iree_lab's HAL and
compares every binding with the expected contents, bit for bit. Bindings of
one allocation share one buffer again (at their offsets modulo 64, so native
code sees the same alignment), because IREE binds aliasing ranges of one
transient buffer; ``iree-benchmark-executable`` takes one buffer per binding,
which times the same work but does not alias.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from iree_lab.debug.compare import CompareError, RecordedRun, record_run
from iree_lab.hal.recorder import binding_dtype
from iree_lab.vm.status import VMStatus

MANIFEST = "manifest.json"
EXECUTABLE_FILE = "executable.bin"
# Buffers of a repro keep each binding's offset modulo this (IREE's allocations
# are at least this aligned), so vectorized native code sees the same alignment.
ALIGNMENT = 64


def _numpy_dtype(element: str):
    dtype = binding_dtype(element)
    return dtype if dtype is not None and dtype.kind in "biuf" and dtype.isnative else None


def _save(path: Path, data: bytes, element: str) -> None:
    dtype = _numpy_dtype(element)
    if dtype is None or len(data) % dtype.itemsize:
        array = np.frombuffer(data, np.uint8)
    else:
        array = np.frombuffer(data, dtype)
    np.save(path, array)


def _load_bytes(path: Path) -> bytes:
    return np.load(path, allow_pickle=False).tobytes()


def extract_dispatch(modules, function: str, inputs, ordinal: int, output_dir, *,
                     device: str = "local-sync", native: bool = True,
                     base_dir: str | None = None) -> dict:
    """Writes dispatch ``ordinal`` of the run as a standalone repro; returns the manifest."""
    spill = Path(tempfile.mkdtemp(prefix="iree-lab-extract-"))
    try:
        run = record_run(modules, function, inputs, spill, device=device, native=native,
                         keep_executable_data=True, base_dir=base_dir)
        manifest = write_repro(run, ordinal, output_dir)
        manifest["source"].update(inputs=list(inputs), device=device)
        (Path(output_dir) / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        return manifest
    finally:
        shutil.rmtree(spill, ignore_errors=True)


def write_repro(run: RecordedRun, ordinal: int, output_dir) -> dict:
    """Writes dispatch ``ordinal`` of ``run`` (recorded with ``keep_executable_data``)."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    dispatches = run.recorder.dispatches
    if not 0 <= ordinal < len(dispatches):
        raise CompareError(f"--dispatch={ordinal} is out of range: the run executed "
                           f"{len(dispatches)} dispatches (0..{len(dispatches) - 1})")
    d = dispatches[ordinal]
    executable = run.recorder.executables[d.executable]
    if d.executable not in run.recorder.executable_data:
        raise CompareError("the run was recorded without keep_executable_data=True")
    (out / EXECUTABLE_FILE).write_bytes(run.recorder.executable_data[d.executable])
    # Bindings of one allocation go into one buffer again, at their offsets.
    groups: dict[int, int] = {}
    bindings = []
    for i, b in enumerate(d.bindings):
        element, source = run.element_type_and_source(ordinal, i)
        group = groups.setdefault(b.buffer, len(groups))
        entry = {"binding": i, "group": group, "offset": b.offset, "length": b.length,
                 "element": element, "element_source": source,
                 "input": f"binding_{i}.npy", "expected": None}
        _save(out / entry["input"], run.recorder.before(ordinal, i), element)
        if run.recorder.written(ordinal, i):
            entry["expected"] = f"expected_{i}.npy"
            _save(out / entry["expected"], run.recorder.after(ordinal, i), element)
        bindings.append(entry)
    manifest = {
        "source": {"modules": list(run.modules), "function": run.function,
                   "dispatch": ordinal},
        "executable": {"file": EXECUTABLE_FILE, "format": executable.format,
                       "constants": list(executable.constants)},
        "entry_point": d.function,
        "export_name": d.export_name,
        "workgroup_count": list(d.workgroup_count),
        "constants": list(d.constants),
        "bindings": bindings,
    }
    manifest["benchmark_flags"] = benchmark_flags(manifest)
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    (out / "benchmark.flags").write_text("\n".join(manifest["benchmark_flags"]) + "\n")
    script = out / "benchmark.sh"
    script.write_text("#!/bin/sh\n# Times this dispatch natively with IREE's tool (from "
                      "the iree-base-runtime wheel).\ncd \"$(dirname \"$0\")\" && exec "
                      "iree-benchmark-executable --flagfile=benchmark.flags \"$@\"\n")
    script.chmod(0o755)
    return manifest


def benchmark_flags(manifest: dict) -> list[str]:
    """``iree-benchmark-executable`` flags for the repro (paths relative to its folder)."""
    flags = ["--device=local-sync",
             f"--executable_format={manifest['executable']['format']}",
             f"--executable_file={manifest['executable']['file']}",
             f"--entry_point={manifest['entry_point']}",
             "--workgroup_count=" + ",".join(str(v) for v in manifest["workgroup_count"])]
    flags += [f"--executable_constant={c}" for c in manifest["executable"]["constants"]]
    flags += [f"--constant={c}" for c in manifest["constants"]]
    flags += [f"--binding=@{b['input']}" for b in manifest["bindings"]]
    return flags


@dataclasses.dataclass
class BindingResult:
    binding: int
    written: bool
    length: int
    differing_bytes: int
    first_byte: int | None

    @property
    def identical(self) -> bool:
        return self.differing_bytes == 0


def load_manifest(folder) -> dict:
    path = Path(folder) / MANIFEST
    try:
        return json.loads(path.read_text())
    except OSError as e:
        raise CompareError(f"cannot read '{path}': {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise CompareError(f"'{path}' is not a dispatch repro manifest: {e}") from None


def run_dispatch(folder, *, device: str = "local-sync", native: bool = True) -> list:
    """Re-runs the repro in ``folder`` through iree_lab's HAL: one result per binding,
    comparing its contents after the dispatch with the expected ones (unwritten
    bindings must stay as they were)."""
    from iree_lab.hal import CommandCategory
    from iree_lab.hal.command_buffer import BufferRef
    from iree_lab.hal.tooling import create_device

    folder = Path(folder)
    manifest = load_manifest(folder)
    try:
        hal = create_device(device, native=native)
        exe_info = manifest["executable"]
        executable = hal.create_executable(exe_info["format"],
                                           (folder / exe_info["file"]).read_bytes(),
                                           exe_info["constants"])
        # One buffer per allocation the bindings came from.
        spans: dict[int, tuple[int, int]] = {}
        for b in manifest["bindings"]:
            lo, hi = spans.get(b["group"], (b["offset"], b["offset"] + b["length"]))
            spans[b["group"]] = (min(lo, b["offset"]), max(hi, b["offset"] + b["length"]))
        bases = {g: lo - lo % ALIGNMENT for g, (lo, _) in spans.items()}
        buffers = {g: hal.allocator.allocate(0, 0, max(hi - bases[g], 1))
                   for g, (_, hi) in spans.items()}
        refs = []
        for b in manifest["bindings"]:
            data = _load_bytes(folder / b["input"])
            if len(data) != b["length"]:
                raise CompareError(f"{b['input']} holds {len(data)} bytes, the binding "
                                   f"{b['length']}")
            buffer, offset = buffers[b["group"]], b["offset"] - bases[b["group"]]
            buffer.map_write(offset, data)
            refs.append(BufferRef(buffer, 0, offset, b["length"]))
        cb = hal.create_command_buffer(0, CommandCategory.DISPATCH, -1, 0)
        cb.dispatch(executable, manifest["entry_point"], tuple(manifest["workgroup_count"]),
                    manifest["constants"], refs)
        cb.finalize()
        hal.queue_execute(-1, None, None, cb)
    except VMStatus as e:
        raise CompareError(f"running the dispatch of '{folder}': {e.status_text()}") from None
    except OSError as e:
        raise CompareError(f"cannot read '{e.filename}': {e.strerror}") from None
    results = []
    for b, ref in zip(manifest["bindings"], refs, strict=True):
        got = np.frombuffer(ref.buffer.map_read(ref.offset, ref.length), np.uint8)
        want = np.frombuffer(_load_bytes(folder / (b["expected"] or b["input"])), np.uint8)
        diff = np.flatnonzero(got != want)
        results.append(BindingResult(b["binding"], b["expected"] is not None, b["length"],
                                     int(diff.size), int(diff[0]) if diff.size else None))
    return results
