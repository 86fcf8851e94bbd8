"""Where do two builds diverge? Dispatch-by-dispatch comparison of two runs.

:func:`record_run` runs a function of a module (like ``iree-lab run``) with a
:class:`SpillRecorder`, which writes every dispatch's bound byte ranges before
and after it ran to a folder instead of keeping them in memory (one dispatch's
bindings are in memory at a time, so big models stay bounded).
:func:`compare_runs` pairs the dispatches of two such runs and compares each
pair's written bindings; :func:`compare_modules` does both.

Pairing is by execution order, cross-checked by the export name's op/shape
part (what follows ``_dispatch_<n>_``), the binding count and binding sizes;
workgroup counts may differ between backends and are only reported. When a
cross-check fails the pairing is ambiguous: comparison stops there and says so
rather than guessing.

A binding is *written* by a dispatch when its bytes changed in either run;
only the elements that changed in either run are compared (bindings may cover
more than the dispatch touches, with offsets passed as constants, and the
untouched rest of a transient buffer holds whatever was there before). The
other bindings, and the elements of written bindings that neither run changed
(a dispatch may read one half of a binding and write the other), are the
dispatch's inputs; they *agree* when equal within tolerance. The first divergence is the first dispatch whose
written elements differ beyond tolerance while its inputs agree.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np

from iree_lab.errors import IreeLabError
from iree_lab.hal import Session
from iree_lab.hal.recorder import (
    DispatchExecution,
    Recorder,
    binding_dtype,
    binding_element_type,
    changed_mask,
)
from iree_lab.vm import Context, load_module_path
from iree_lab.vm.status import VMError, VMStatus


class CompareError(IreeLabError):
    """A comparison or dispatch extraction that cannot be done (bad module, input, ordinal)."""


# Default (atol, rtol) per element type: the absolute thresholds of
# iree-run-module's --expected_output (--expected_f16/f32/f64_threshold), used
# as relative ones too so large values get the same slack; bf16 (no IREE flag)
# keeps 8 bits of mantissa.
DEFAULT_TOLERANCES = {
    "f16": (1e-3, 1e-3),
    "bf16": (1e-2, 1e-2),
    "f32": (1e-4, 1e-4),
    "f64": (1e-4, 1e-4),
}
_EXACT = (0.0, 0.0)  # integers, raw bytes


def default_tolerance(element: str) -> tuple[float, float]:
    return DEFAULT_TOLERANCES.get(element, _EXACT)


# -- Recording -------------------------------------------------------------------------------


class SpillRecorder(Recorder):
    """A recorder that writes each dispatch's bound ranges to ``folder``.

    Contents are stored by digest, each distinct byte string once: weights and
    constant pools that every dispatch binds cost their size once, not once per
    dispatch. ``before(i, b)`` / ``after(i, b)`` read back binding ``b`` of
    dispatch ``i`` (in execution order); ``digest(i, b, when)`` names the
    contents without reading them. ``progress(i, record)`` is called after each
    dispatch.
    """

    def __init__(self, folder: str | os.PathLike, *, progress=None,
                 keep_executable_data: bool = False):
        super().__init__(capture_buffers=True, keep_executable_data=keep_executable_data)
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.progress = progress
        self.spilled_bytes = 0  # what was written to disk
        self.captured_bytes = 0  # what the dispatches bound, before and after
        self._digests: dict[tuple[int, int], tuple[str, str]] = {}

    def capture_before(self, views):
        return [view.tobytes() for view in views]

    def _store(self, data: bytes) -> str:
        digest = hashlib.blake2b(data, digest_size=16).hexdigest()
        path = self.folder / digest
        if not path.exists():
            path.write_bytes(data)
            self.spilled_bytes += len(data)
        return digest

    def capture_after(self, record: DispatchExecution, before, views) -> None:
        index = len(self.dispatches) - 1
        for i, data in enumerate(before):
            after = views[i].tobytes()
            self.captured_bytes += 2 * len(data)
            first = self._store(data)
            self._digests[index, i] = (first, first if after == data else self._store(after))
        if self.progress is not None:
            self.progress(index, record)

    def digest(self, index: int, binding: int, when: str = "before") -> str:
        return self._digests[index, binding][0 if when == "before" else 1]

    def before(self, index: int, binding: int) -> bytes:
        return (self.folder / self.digest(index, binding, "before")).read_bytes()

    def after(self, index: int, binding: int) -> bytes:
        return (self.folder / self.digest(index, binding, "after")).read_bytes()

    def written(self, index: int, binding: int) -> bool:
        before, after = self._digests[index, binding]
        return before != after


@dataclasses.dataclass
class RecordedRun:
    """One run of a function: its recorder (with the spilled captures) and results."""

    modules: list[str]
    function: str
    recorder: SpillRecorder
    results_text: str
    _direct: list | None = dataclasses.field(default=None, repr=False)

    @property
    def dispatches(self) -> list[DispatchExecution]:
        return self.recorder.dispatches

    def element_type(self, index: int, binding: int) -> str:
        return self.element_type_and_source(index, binding)[0]

    def element_type_and_source(self, index: int, binding: int) -> tuple[str, str]:
        """How binding ``binding`` of dispatch ``index`` is read: a buffer view or the
        export name (:func:`~iree_lab.hal.recorder.binding_element_type`), else the
        type another dispatch reads or writes the same bytes as (nearest in execution
        order first: a copy or a softmax store whose name ends without a type moves
        the values a neighbour names), else raw bytes (``hex``, compared exactly)."""
        if self._direct is None:
            self._direct = [[binding_element_type(self.recorder, d, k)[:2]
                             for k in range(len(d.bindings))] for d in self.dispatches]
        element, source = self._direct[index][binding]
        if element != "hex":
            return element, source
        b = self.dispatches[index].bindings[binding]
        order = sorted(range(len(self.dispatches)), key=lambda j: (abs(j - index), j))
        for j in order:
            for k, other in enumerate(self.dispatches[j].bindings):
                candidate = self._direct[j][k][0]
                if (j, k) == (index, binding) or candidate == "hex" or \
                        other.buffer != b.buffer or \
                        other.offset >= b.offset + b.length or b.offset >= other.offset + \
                        other.length:
                    continue
                dtype = binding_dtype(candidate)
                if dtype is not None and b.length % dtype.itemsize == 0:
                    return candidate, f"as dispatch {j} binding {k} over the same bytes"
        return element, source


def _load_modules(paths):
    modules = []
    for path in paths:
        try:
            modules.extend(load_module_path(path))
        except OSError as e:
            raise CompareError(f"cannot open module '{path}': {e.strerror}") from None
        except VMStatus as e:
            raise CompareError(f"cannot load module '{path}': {e.status_text()}") from None
    if not modules:
        raise CompareError("no module given")
    return modules


def _select_function(module, name: str):
    if name:
        try:
            return module.lookup_export(name)
        except VMStatus as e:
            raise CompareError(f"{e.status_text()}; looking up function '{name}'") from None
    candidates = [fn for fn_name, fn in module.exports.items()
                  if not fn_name.startswith("__") and "$" not in fn_name]
    if len(candidates) != 1:
        raise CompareError("the module exports several functions (or none); name one with "
                           "--function=")
    return candidates[0]


def record_run(modules, function: str, inputs, folder, *, device: str = "local-sync",
               native: bool = True, progress=None, keep_executable_data: bool = False,
               base_dir: str | None = None) -> RecordedRun:
    """Runs ``function`` of the last of ``modules`` on ``inputs`` (``--input`` strings),
    spilling every dispatch's bindings to ``folder``."""
    from iree_lab.vm.scheduler import Scheduler, is_coarse_fences

    loaded = _load_modules(modules)
    recorder = SpillRecorder(folder, progress=progress,
                             keep_executable_data=keep_executable_data)
    try:
        session = Session.for_modules(loaded, device_uri=device, recorder=recorder,
                                      native=native)
        context = Context(session.modules + loaded)
        fn = _select_function(loaded[-1], function)
        args = session.parse_inputs(fn.cconv.arguments if fn.cconv else "", list(inputs),
                                    base_dir)
        signal = None
        if is_coarse_fences(fn):
            signal = session.device.create_fence([(session.device.create_semaphore(0), 1)])
            args = list(args) + [None, signal]
        if signal is None:
            results = context.call_function(fn, args)
        else:
            scheduler = Scheduler(context)
            fiber = scheduler.spawn(fn, *args)
            scheduler.run()
            results = fiber.result()
        text = session.format_results(results, fn.cconv.results if fn.cconv else "")
    except (VMStatus, VMError) as e:
        raise CompareError(f"running '{modules[-1]}': {e.status_text()}") from None
    return RecordedRun([str(m) for m in modules], fn.name, recorder, text)


# -- Comparing ---------------------------------------------------------------------------------

_DISPATCH_NAME = re.compile(r"^(?P<function>.*?)_dispatch_\d+_(?P<op>.*)$")


def export_shape(name: str) -> str:
    """The op/shape part of an export name (``main_dispatch_3_matmul_8x16_f32`` →
    ``matmul_8x16_f32``): what stays the same across builds that number dispatches
    differently."""
    match = _DISPATCH_NAME.match(name)
    return match.group("op") if match else name


@dataclasses.dataclass
class BindingComparison:
    binding: int
    element: str
    written: bool
    length: int
    compared: int = 0  # elements compared (for written bindings: those changed in a run)
    differing: int = 0  # beyond tolerance
    max_abs: float = 0.0
    max_rel: float = 0.0
    first_index: int | None = None  # element index within the binding
    nan_differences: int = 0  # NaN on one side only
    inf_differences: int = 0  # +-Inf on one side only (or of opposite sign)
    note: str = ""
    alias_of: int | None = None  # an earlier binding of the dispatch with the same range
    # For a written binding: elements it kept (unchanged in both runs) that differ
    # between the runs before the dispatch; a binding a dispatch reads in part and
    # writes in part (one transient buffer, offsets as constants) is an input there.
    kept_differing: int = 0

    @property
    def agrees(self) -> bool:
        return self.differing == 0 and not self.note


@dataclasses.dataclass
class DispatchComparison:
    ordinal: int
    export_a: str
    export_b: str
    workgroups_a: tuple[int, int, int]
    workgroups_b: tuple[int, int, int]
    bindings: list[BindingComparison]
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def outputs(self) -> list[BindingComparison]:
        return [b for b in self.bindings if b.written and b.alias_of is None]

    @property
    def inputs(self) -> list[BindingComparison]:
        return [b for b in self.bindings if not b.written and b.alias_of is None]

    @property
    def outputs_agree(self) -> bool:
        return all(b.agrees for b in self.outputs)

    @property
    def inputs_agree(self) -> bool:
        return all(b.agrees for b in self.inputs) and \
            not any(b.kept_differing for b in self.outputs)

    @property
    def max_abs(self) -> float:
        return max((b.max_abs for b in self.outputs), default=0.0)

    @property
    def max_rel(self) -> float:
        return max((b.max_rel for b in self.outputs), default=0.0)


@dataclasses.dataclass
class Comparison:
    a: RecordedRun
    b: RecordedRun
    dispatches: list[DispatchComparison]
    pairing_problem: str | None = None  # why pairing stopped (ambiguous), if it did
    tolerances: dict = dataclasses.field(default_factory=dict)
    spill_root: Path | None = None  # the folder compare_modules made for both runs

    @property
    def first_divergence(self) -> DispatchComparison | None:
        for d in self.dispatches:
            if not d.outputs_agree and d.inputs_agree:
                return d
        return None

    @property
    def first_difference(self) -> DispatchComparison | None:
        """The first dispatch whose outputs differ at all (its inputs may differ too)."""
        return next((d for d in self.dispatches if not d.outputs_agree), None)

    @property
    def diverges(self) -> bool:
        return self.first_difference is not None or self.pairing_problem is not None

    def cleanup(self) -> None:
        """Removes the spilled captures."""
        for run in (self.a, self.b):
            shutil.rmtree(run.recorder.folder, ignore_errors=True)
        if self.spill_root is not None:
            shutil.rmtree(self.spill_root, ignore_errors=True)


def typed_array(data: bytes, element: str) -> tuple[np.ndarray, np.dtype | None]:
    """``data`` as an array of binding element type ``element`` (raw bytes for "hex"), with its dtype."""
    dtype = binding_dtype(element)
    if dtype is None or len(data) % dtype.itemsize:
        return np.frombuffer(data, dtype=np.uint8), None
    return np.frombuffer(data, dtype=dtype), dtype


def differing_mask(a: np.ndarray, b: np.ndarray, dtype, atol: float,
                   rtol: float) -> np.ndarray:
    """Which elements of ``b`` differ from the reference ``a`` beyond tolerance.

    Floats: ``|a - b| <= atol + rtol * |a|``; NaN equals NaN, an infinity equals
    only the same infinity. Integers and raw bytes: exact.
    """
    if dtype is None or dtype.kind in "iub":
        return a != b
    fa, fb = a.astype(np.float64), b.astype(np.float64)
    nan_a, nan_b = np.isnan(fa), np.isnan(fb)
    inf = (np.isinf(fa) | np.isinf(fb)) & ~(nan_a | nan_b) & (fa != fb)
    finite = ~(nan_a | nan_b | np.isinf(fa) | np.isinf(fb))
    with np.errstate(all="ignore"):
        far = finite & (np.abs(fa - fb) > atol + rtol * np.abs(fa))
    return (nan_a != nan_b) | inf | far


def compare_values(a: np.ndarray, b: np.ndarray, dtype, atol: float, rtol: float,
                   mask: np.ndarray | None = None) -> dict:
    """Element-wise comparison of ``a`` (reference) and ``b`` where ``mask`` is set:
    how many differ beyond tolerance (:func:`differing_mask`), the largest
    absolute/relative errors, the first differing index, NaN/Inf differences."""
    index = np.arange(a.size) if mask is None else np.flatnonzero(mask)
    a = a[index] if mask is not None else a
    b = b[index] if mask is not None else b
    out = {"compared": int(a.size), "differing": 0, "max_abs": 0.0, "max_rel": 0.0,
           "first_index": None, "nan_differences": 0, "inf_differences": 0}
    if a.size == 0:
        return out
    bad = differing_mask(a, b, dtype, atol, rtol)
    fa, fb = a.astype(np.float64), b.astype(np.float64)
    nan_a, nan_b = np.isnan(fa), np.isnan(fb)
    inf_a, inf_b = np.isinf(fa), np.isinf(fb)
    finite = ~(nan_a | nan_b | inf_a | inf_b)
    with np.errstate(all="ignore"):
        abs_err = np.where(finite, np.abs(fa - fb), 0.0)
        rel_err = np.where(finite & (fa != 0), abs_err / np.abs(fa), 0.0)
    rel_err = np.where(finite & (fa == 0) & (abs_err > 0), np.inf, rel_err)
    out["nan_differences"] = int((nan_a != nan_b).sum())
    out["inf_differences"] = int(((inf_a | inf_b) & ~(nan_a | nan_b) & (fa != fb)).sum())
    out["max_abs"] = float(abs_err.max())
    out["max_rel"] = float(rel_err.max())
    if out["nan_differences"] or out["inf_differences"]:
        out["max_abs"] = out["max_rel"] = math.inf
    out["differing"] = int(bad.sum())
    if out["differing"]:
        out["first_index"] = int(index[int(np.argmax(bad))])
    return out


def compare_binding(a: RecordedRun, b: RecordedRun, index_a: int, index_b: int, binding: int,
                    tolerances: dict | None = None) -> BindingComparison:
    ra, rb = a.recorder, b.recorder
    written = ra.written(index_a, binding) or rb.written(index_b, binding)
    element = a.element_type(index_a, binding)
    length = a.dispatches[index_a].bindings[binding].length
    result = BindingComparison(binding, element, written, length)
    atol, rtol = (tolerances or {}).get(element, default_tolerance(element))
    if written:
        before_a, after_a = ra.before(index_a, binding), ra.after(index_a, binding)
        before_b, after_b = rb.before(index_b, binding), rb.after(index_b, binding)
        va, dtype = typed_array(after_a, element)
        vb, _ = typed_array(after_b, element)
        size = 1 if dtype is None else dtype.itemsize
        changed = changed_mask(before_a, after_a, size) | changed_mask(before_b, after_b, size)
        stats = compare_values(va, vb, dtype, atol, rtol, changed)
        result.kept_differing = compare_values(typed_array(before_a, element)[0],
                                               typed_array(before_b, element)[0], dtype, atol, rtol,
                                               ~changed)["differing"]
    elif ra.digest(index_a, binding) == rb.digest(index_b, binding):
        # The same bytes (weights, inputs): nothing to read back.
        dtype = typed_array(b"", element)[1]
        size = 1 if dtype is None or length % dtype.itemsize else dtype.itemsize
        stats = {"compared": length // size}
    else:
        va, dtype = typed_array(ra.before(index_a, binding), element)
        vb, _ = typed_array(rb.before(index_b, binding), element)
        stats = compare_values(va, vb, dtype, atol, rtol)
    for key, value in stats.items():
        setattr(result, key, value)
    return result


def pairing_mismatch(da: DispatchExecution, db: DispatchExecution) -> str | None:
    """Why dispatches ``da`` and ``db`` cannot be the same dispatch of two builds."""
    if export_shape(da.export_name) != export_shape(db.export_name):
        return f"export {da.export_name} vs {db.export_name}"
    if len(da.bindings) != len(db.bindings):
        return f"{len(da.bindings)} vs {len(db.bindings)} bindings"
    for i, (x, y) in enumerate(zip(da.bindings, db.bindings, strict=True)):
        if x.length != y.length:
            return f"binding {i} is {x.length} vs {y.length} bytes"
    return None


def compare_runs(a: RecordedRun, b: RecordedRun, tolerances: dict | None = None,
                 progress=None) -> Comparison:
    """Pairs the dispatches of ``a`` and ``b`` in execution order and compares them."""
    comparison = Comparison(a, b, [], tolerances=dict(tolerances or {}))
    count = min(len(a.dispatches), len(b.dispatches))
    for i in range(count):
        da, db = a.dispatches[i], b.dispatches[i]
        problem = pairing_mismatch(da, db)
        if problem is not None:
            comparison.pairing_problem = (
                f"pairing is ambiguous at dispatch {i}: {problem}; the builds split the "
                "program into different dispatches, so nothing after it is compared")
            break
        d = DispatchComparison(i, da.export_name, db.export_name, da.workgroup_count,
                               db.workgroup_count,
                               [compare_binding(a, b, i, i, k, tolerances)
                                for k in range(len(da.bindings))])
        seen = {}
        for k, binding in enumerate(da.bindings):
            key = (binding.buffer, binding.offset, binding.length)
            if key in seen:
                d.bindings[k].alias_of = seen[key]
            else:
                seen[key] = k
        if da.workgroup_count != db.workgroup_count:
            d.notes.append("workgroup counts differ")
        comparison.dispatches.append(d)
        if progress is not None:
            progress(i, count)
    else:
        if len(a.dispatches) != len(b.dispatches):
            comparison.pairing_problem = (
                f"A ran {len(a.dispatches)} dispatches and B {len(b.dispatches)}; the "
                f"first {count} pair up, the rest have no partner")
    return comparison


def compare_modules(modules_a, modules_b, function: str, inputs, *, device: str = "local-sync",
                    native: bool = True, tolerances: dict | None = None,
                    spill_dir: str | None = None, progress=None,
                    base_dir: str | None = None) -> Comparison:
    """Runs both builds on the same inputs and compares them dispatch by dispatch.

    Captures are spilled under ``spill_dir`` (a temporary folder by default);
    :meth:`Comparison.cleanup` removes them.
    """
    root = Path(tempfile.mkdtemp(prefix="iree-lab-compare-", dir=spill_dir))

    def stage(name):
        if progress is None:
            return None
        return lambda i, _record: progress(f"running {name}: dispatch {i}")

    try:
        a = record_run(modules_a, function, inputs, root / "a", device=device, native=native,
                       progress=stage("A"), base_dir=base_dir)
        b = record_run(modules_b, function, inputs, root / "b", device=device, native=native,
                       progress=stage("B"), base_dir=base_dir)
        comparison = compare_runs(a, b, tolerances,
                                  None if progress is None
                                  else lambda i, n: progress(f"comparing: dispatch {i + 1}/{n}"))
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    comparison.spill_root = root
    return comparison


# -- Text ---------------------------------------------------------------------------------------


def _number(x: float) -> str:
    return "inf" if math.isinf(x) else ("0" if x == 0 else f"{x:.3g}")


def format_table(comparison: Comparison) -> str:
    """The comparison as a table in execution order, then the verdict lines."""
    header = ["#", "export (A)", "wg A", "wg B", "outputs", "max abs", "max rel", "differing",
              "first", "NaN/Inf", "inputs"]
    rows = []
    for d in comparison.dispatches:
        outs = d.outputs
        differing = sum(b.differing for b in outs)
        compared = sum(b.compared for b in outs)
        first = next((f"b{b.binding}[{b.first_index}]" for b in outs
                      if b.first_index is not None), "-")
        naninf = sum(b.nan_differences + b.inf_differences for b in outs)
        rows.append([str(d.ordinal), d.export_a, "x".join(map(str, d.workgroups_a)),
                     "x".join(map(str, d.workgroups_b)),
                     ",".join(f"b{b.binding}:{b.element}" for b in outs) or "-",
                     _number(d.max_abs), _number(d.max_rel), f"{differing}/{compared}", first,
                     str(naninf) if naninf else "-",
                     "agree" if d.inputs_agree else "DIFFER"])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in [header, *rows]]
    lines += verdict(comparison)
    return "\n".join(lines) + "\n"


def verdict(comparison: Comparison) -> list[str]:
    lines = []
    if comparison.pairing_problem:
        lines.append(comparison.pairing_problem)
    first = comparison.first_divergence
    if first is not None:
        lines.append(f"first divergence: dispatch {first.ordinal} {first.export_a}")
    elif comparison.first_difference is not None:
        d = comparison.first_difference
        lines.append(f"first difference: dispatch {d.ordinal} {d.export_a}, but its inputs "
                     "already differ (something outside the dispatches diverged first)")
    elif not comparison.pairing_problem:
        if not comparison.dispatches:
            lines.append("no dispatches to compare: neither run executed a dispatch")
        else:
            lines.append(f"no divergence ({len(comparison.dispatches)} dispatches compared)")
    return lines
