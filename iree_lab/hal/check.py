"""The ``check`` VM module and the test runner of ``iree-lab check``.

IREE tests its compiler and runtime with ``check.expect_*`` ops, which compile to
optional imports of a ``check`` module that only ``iree-check-module`` provides
(``runtime/src/iree/modules/check/module.cc``, ``tools/iree-check-module-main.cc``).
This is that module with 3.13's signatures and semantics:

* ``expect_true`` (``0i_v``): operand != 0.
* ``expect_false`` (``0i_v``): operand == 0.
* ``expect_all_true`` (``0rr_v``): every element != 0 (i8..i64 signless, signed or
  unsigned, f32, f64; other element types: INVALID_ARGUMENT).
* ``expect_eq`` (``0rrr_v``): same element type, same shape, same bytes.
* ``expect_almost_eq`` (``0rrrff_v``, atol and rtol as f32): same element type and shape
  and, per element, ``lhs == rhs or both NaN or (isfinite(rhs) and |lhs - rhs| <= atol +
  rtol * |rhs|)`` in double precision (f64, f32, f16, bf16, the f8 types; others:
  INVALID_ARGUMENT). A test that gives no tolerances gets the check dialect's defaults,
  atol 1e-4 and rtol 0.

``lhs`` is the value computed by the test (actual), ``rhs`` the expected one: the
relative tolerance scales with ``|rhs|``. A failed check is non-fatal, like gtest's
EXPECT: it is recorded as a :class:`CheckFailure` (the calling function and
instruction, the source location when the module's debug database has it, both
operands and the first differing elements) and the function goes on.

:func:`run_checks` runs every export of a module as one test in a fresh context, as
iree-check-module does, and returns a :class:`CheckReport`; ``iree-lab check`` prints it
in gtest's format.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time

import numpy as np

from iree_lab.hal import floats
from iree_lab.hal.buffer_view import BufferView
from iree_lab.hal.io import format_buffer_view
from iree_lab.hal.types import (
    BufferUsage,
    ElementType,
    MappingMode,
    MemoryAccess,
    MemoryType,
    element_bit_count,
    format_element_type,
    status,
)
from iree_lab.vm.native import NativeModule, export
from iree_lab.vm.status import BacktraceFrame, StatusCode, VMError

# Differing elements listed per failed check (text and notebook).
MAX_LISTED_ELEMENTS = 16
# BufferViewToString in module.cc formats at most this many elements per operand.
MESSAGE_MAX_ELEMENT_COUNT = 1024
# The check dialect's defaults (CheckOps.td, ExpectAlmostEqOp): a test that gives no
# tolerances compiles to these arguments.
DEFAULT_ATOL = 1.0e-4
DEFAULT_RTOL = 0.0

_ALL_TRUE_TYPES = {
    ElementType.INT_8: np.int8, ElementType.SINT_8: np.int8, ElementType.UINT_8: np.uint8,
    ElementType.INT_16: np.int16, ElementType.SINT_16: np.int16,
    ElementType.UINT_16: np.uint16,
    ElementType.INT_32: np.int32, ElementType.SINT_32: np.int32,
    ElementType.UINT_32: np.uint32,
    ElementType.INT_64: np.int64, ElementType.SINT_64: np.int64,
    ElementType.UINT_64: np.uint64,
    ElementType.FLOAT_32: np.float32, ElementType.FLOAT_64: np.float64,
}
_NARROW_FLOATS = (
    ElementType.FLOAT_16, ElementType.BFLOAT_16, ElementType.FLOAT_8_E4M3_FN,
    ElementType.FLOAT_8_E4M3_FNUZ, ElementType.FLOAT_8_E5M2, ElementType.FLOAT_8_E5M2_FNUZ,
    ElementType.FLOAT_8_E8M0_FNU,
)


@dataclasses.dataclass
class Operand:
    """One operand of a failed check, copied at the time of the check."""

    type_text: str  # 4x2xf32
    element_type: int
    shape: tuple[int, ...]
    text: str  # iree_hal_buffer_view_format, as module.cc prints it
    values: np.ndarray | None  # decoded elements (None: opaque element type)

    @classmethod
    def of(cls, view: BufferView, data: bytes) -> Operand:
        return cls(view.type_text, view.element_type, view.shape,
                   _format(view), _decode(view, data))


@dataclasses.dataclass
class CheckFailure:
    """A ``check.expect_*`` call that did not hold."""

    check: str  # expect_eq, ...
    message: str  # module.cc's text
    # The calling function and instruction (location from the debug database).
    site: BacktraceFrame | None = None
    lhs: Operand | None = None  # actual
    rhs: Operand | None = None  # expected
    # Flat indices of the first differing elements (at most MAX_LISTED_ELEMENTS) and how
    # many differ in all (0 when element types or shapes differ).
    differing: list[int] = dataclasses.field(default_factory=list)
    differing_count: int = 0
    atol: float | None = None
    rtol: float | None = None

    @property
    def location(self) -> str | None:
        """The check op's ``file:line:col`` (first of the debug database's location chain)."""
        if self.site is None or not self.site.location:
            return None
        return self.site.location.splitlines()[0].strip()

    @property
    def call_site(self) -> str | None:
        """``module.function+PC`` of the ``vm.call`` to the check."""
        if self.site is None:
            return None
        pc = f"+{self.site.pc:08X}" if self.site.pc is not None else ""
        return f"{self.site.module}.{self.site.function}{pc}"

    @property
    def where(self) -> str:
        if self.site is None:
            return "check"
        return self.location or f"{self.site.module}.{self.site.function}"

    def differing_elements(self) -> list[tuple[tuple[int, ...], object, object]]:
        """(index, lhs value, rhs value) of the listed differing elements."""
        out = []
        shape = self.lhs.shape if self.lhs else ()
        for flat in self.differing:
            index = tuple(int(i) for i in np.unravel_index(flat, shape)) if shape else ()
            out.append((index, _element(self.lhs, flat), _element(self.rhs, flat)))
        return out

    def format(self) -> str:
        """gtest-style: ``where: Failure``, the message, the call site, differing elements."""
        lines = [f"{self.where}: Failure", self.message]
        if self.site is not None:
            lines.append(f"  at {self.call_site}")
        if self.differing:
            more = self.differing_count - len(self.differing)
            lines.append(f"  {self.differing_count} differing element"
                         f"{'s' if self.differing_count != 1 else ''}"
                         f"{f', first {len(self.differing)}' if more > 0 else ''}:")
            for index, a, b in self.differing_elements():
                text = f"    [{', '.join(map(str, index))}] lhs={_value_text(a)}"
                lines.append(text if self.rhs is None else f"{text} rhs={_value_text(b)}")
        return "\n".join(lines)

    __str__ = format


class CheckModule(NativeModule):
    """The ``check`` module (version 0). Failures go to ``failures`` (and ``on_failure``).

    ``raise_on_failure=True`` makes a failed check fatal (a FAILED_PRECONDITION error
    from the call), for callers that want the first failure to stop the function.
    """

    name = "check"
    version = 0

    def __init__(self, *, on_failure=None, raise_on_failure: bool = False):
        super().__init__()
        self.failures: list[CheckFailure] = []
        self.on_failure = on_failure
        self.raise_on_failure = raise_on_failure
        self.context = None
        self.checks_run = 0

    def create_state(self, context):
        self.context = context
        return super().create_state(context)

    def _fail(self, failure: CheckFailure) -> None:
        failure.site = _calling_site()
        self.failures.append(failure)
        if self.on_failure is not None:
            self.on_failure(failure)
        if self.raise_on_failure:
            raise status(StatusCode.FAILED_PRECONDITION, failure.format())

    @export("0i_v")
    def expect_true(self, operand):
        self.checks_run += 1
        value = _i32(operand)
        if not value:
            self._fail(CheckFailure("expect_true", f"Expected {value} to be nonzero."))

    @export("0i_v")
    def expect_false(self, operand):
        self.checks_run += 1
        value = _i32(operand)
        if value:
            self._fail(CheckFailure("expect_false", f"Expected {value} to be zero."))

    @export("0rr_v")
    def expect_all_true(self, device, operand):
        self.checks_run += 1
        view = _view(operand)
        data = _host_bytes(view)
        dtype = _ALL_TRUE_TYPES.get(view.element_type)
        if dtype is None:
            raise _unsupported(view.element_type)
        itemsize = np.dtype(dtype).itemsize
        values = np.frombuffer(data, dtype=dtype, count=len(data) // itemsize)
        zero = np.flatnonzero(values == 0)
        if zero.size:
            first = int(zero[0])
            self._fail(CheckFailure(
                "expect_all_true",
                "Expected all elements to be nonzero (Each(Not(0))); element "
                f"#{first} is 0.\n  operand:\n    {_format(view)}",
                lhs=Operand.of(view, data), differing=zero[:MAX_LISTED_ELEMENTS].tolist(),
                differing_count=int(zero.size)))

    @export("0rrr_v")
    def expect_eq(self, device, lhs, rhs):
        self.checks_run += 1
        lhs, rhs = _view(lhs), _view(rhs)
        lhs_data, rhs_data = _host_bytes(lhs), _host_bytes(rhs)
        types_eq = lhs.element_type == rhs.element_type
        shape_eq = lhs.shape == rhs.shape
        contents_eq = lhs_data == rhs_data
        if types_eq and shape_eq and contents_eq:
            return
        text = "Expected equality of these values."
        if not types_eq:
            text += " Element types do not match."
        if not shape_eq:
            text += " Shapes do not match."
        if not contents_eq:
            text += " Contents does not match."
        failure = CheckFailure("expect_eq", _with_operands(text, lhs, rhs),
                               lhs=Operand.of(lhs, lhs_data), rhs=Operand.of(rhs, rhs_data))
        if types_eq and shape_eq:
            differs = _differing_bytes(lhs, lhs_data, rhs_data)
            failure.differing = differs[:MAX_LISTED_ELEMENTS].tolist()
            failure.differing_count = int(differs.size)
        self._fail(failure)

    @export("0rrrff_v")
    def expect_almost_eq(self, device, lhs, rhs, atol, rtol):
        self.checks_run += 1
        lhs, rhs = _view(lhs), _view(rhs)
        lhs_data, rhs_data = _host_bytes(lhs), _host_bytes(rhs)
        # module.cc takes float tolerances and widens them to double.
        atol, rtol = float(np.float32(atol)), float(np.float32(rtol))
        types_eq = lhs.element_type == rhs.element_type
        shape_eq = lhs.shape == rhs.shape
        differs = np.zeros(0, dtype=np.intp)
        if types_eq and shape_eq:
            a = _float_values(lhs.element_type, lhs_data)
            b = _float_values(rhs.element_type, rhs_data)
            differs = np.flatnonzero(~fuzzy_equal(a, b, atol, rtol))
        if types_eq and shape_eq and not differs.size:
            return
        text = "Expected near equality of these values."
        if not types_eq:
            text += " Element types do not match."
        if not shape_eq:
            text += " Shapes do not match."
        if differs.size:
            i = int(differs[0])
            x, y = float(a[i]), float(b[i])
            text += (f" Contents does not match to tolerance parameters atol={_cpp(atol)}, "
                     f"rtol={_cpp(rtol)}. The first failure occurs at index {i} as the lhs "
                     f"value {_cpp(x)} differs from the rhs value {_cpp(y)} by "
                     f"{_cpp_scientific(y - x)}.")
        self._fail(CheckFailure(
            "expect_almost_eq", _with_operands(text, lhs, rhs),
            lhs=Operand.of(lhs, lhs_data), rhs=Operand.of(rhs, rhs_data),
            differing=differs[:MAX_LISTED_ELEMENTS].tolist(),
            differing_count=int(differs.size), atol=atol, rtol=rtol))


def fuzzy_equal(actual, expected, atol: float, rtol: float) -> np.ndarray:
    """``iree_math_fuzzy_compare_f64`` element-wise (float64 arrays)."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        close = np.abs(actual - expected) <= atol + rtol * np.abs(expected)
        return ((actual == expected) | (np.isnan(actual) & np.isnan(expected))
                | (np.isfinite(expected) & close))


# -- Operands -------------------------------------------------------------------------------


def _i32(value) -> int:
    value = int(value) & 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def _view(value) -> BufferView:
    if value is None:
        raise status(StatusCode.INVALID_ARGUMENT, "ref is null")
    if not isinstance(value, BufferView):
        raise status(StatusCode.INVALID_ARGUMENT, "ref type mismatch")
    return value


def _host_bytes(view: BufferView) -> bytes:
    """The view's bytes, mapped like module.cc (transferred first when not mappable)."""
    buffer = view.buffer
    if (buffer.memory_type & MemoryType.HOST_VISIBLE
            and buffer.allowed_usage & BufferUsage.MAPPING_SCOPED):
        if view.byte_length == 0:
            return b""
        return buffer.map_range(MappingMode.SCOPED, MemoryAccess.READ, 0,
                                view.byte_length).tobytes()
    # TransferBuffersToHost copies the whole buffer to a host-local one.
    data = buffer.contents().tobytes()
    if view.byte_length > len(data):
        raise status(StatusCode.OUT_OF_RANGE,
                     f"buffer view of {view.byte_length} bytes over a buffer of {len(data)}")
    return data[: view.byte_length]


def _unsupported(element_type: int):
    return status(StatusCode.INVALID_ARGUMENT,
                  f"unsupported element type {format_element_type(element_type)}")


_DECODE_TABLES: dict[int, np.ndarray] = {}


def _decode_table(element_type: int) -> np.ndarray:
    """f32 value of every encoding of a narrow float type (IREE's conversions)."""
    table = _DECODE_TABLES.get(element_type)
    if table is None:
        bits = element_bit_count(element_type)
        table = np.array([floats.bits_to_f32(b, element_type) for b in range(1 << bits)],
                         dtype=np.float64)
        _DECODE_TABLES[element_type] = table
    return table


def _float_values(element_type: int, data: bytes) -> np.ndarray:
    """The elements of an expect_almost_eq operand as float64 (exact)."""
    if element_type == ElementType.FLOAT_64:
        return np.frombuffer(data, dtype=np.float64)
    if element_type == ElementType.FLOAT_32:
        return np.frombuffer(data, dtype=np.float32).astype(np.float64)
    if element_type in _NARROW_FLOATS:
        dtype = np.uint16 if element_bit_count(element_type) == 16 else np.uint8
        return _decode_table(element_type)[np.frombuffer(data, dtype=dtype)]
    raise _unsupported(element_type)


def _decode(view: BufferView, data: bytes) -> np.ndarray | None:
    try:
        if view.element_type in _NARROW_FLOATS:
            return _float_values(view.element_type, data).reshape(view.shape)
        values = view.to_numpy()
    except Exception:  # an odd element type or a short buffer: the text still shows it
        return None
    if values.dtype == np.uint8 and values.shape != view.shape:
        return None  # opaque bytes
    return values


def _differing_bytes(view: BufferView, lhs: bytes, rhs: bytes) -> np.ndarray:
    """Flat indices of elements whose bytes differ (same type and shape)."""
    bits = element_bit_count(view.element_type)
    if bits >= 8 and bits % 8 == 0 and view.element_count:
        size = bits // 8
        a = np.frombuffer(lhs, dtype=np.uint8).reshape(view.element_count, size)
        b = np.frombuffer(rhs, dtype=np.uint8).reshape(view.element_count, size)
        return np.flatnonzero((a != b).any(axis=1))
    if bits and 8 % bits == 0 and view.element_count:
        per_byte = 8 // bits
        shifts = np.arange(per_byte, dtype=np.uint8) * bits
        mask = (1 << bits) - 1

        def unpack(data):
            packed = np.frombuffer(data, dtype=np.uint8)
            return ((packed[:, None] >> shifts) & mask).reshape(-1)[: view.element_count]

        return np.flatnonzero(unpack(lhs) != unpack(rhs))
    return np.zeros(0, dtype=np.intp)


def _element(operand: Operand | None, flat: int):
    if operand is None or operand.values is None:
        return None
    values = operand.values.reshape(-1)
    if flat >= values.size:
        return None
    value = values[flat].item()
    return int(value) if isinstance(value, bool) else value  # i1 as IREE's 0/1


def _value_text(value) -> str:
    if isinstance(value, float):
        return _cpp(value)
    return "?" if value is None else str(value)


def _format(view: BufferView) -> str:
    try:
        return format_buffer_view(view, MESSAGE_MAX_ELEMENT_COUNT)
    except Exception as e:  # never let the report of a failure fail
        return f"{view.type_text}=<{e}>"


def _with_operands(text: str, lhs: BufferView, rhs: BufferView) -> str:
    return f"{text}\n  lhs:\n    {_format(lhs)}\n  rhs:\n    {_format(rhs)}"


def _cpp(value: float) -> str:
    """A double through ``std::ostream <<`` with default flags (``%g``, glibc NaN)."""
    if math.isnan(value):
        return "-nan" if math.copysign(1.0, value) < 0 else "nan"
    return f"{value:g}"


def _cpp_scientific(value: float) -> str:
    """``std::scientific << std::setprecision(3)``."""
    if math.isnan(value):
        return "-nan" if math.copysign(1.0, value) < 0 else "nan"
    return f"{value:.3e}"


# -- Where a check was called from --------------------------------------------------------


def _calling_site() -> BacktraceFrame | None:
    """The bytecode function and instruction that called the running check export.

    Imports are plain Python calls in both execution tiers, so the caller is on the
    Python stack: the fast tier's generated ``F<ordinal>`` function (its globals hold
    the module state as ``S``, its local ``pc`` the current call instruction) or the
    interpreter's ``_call`` step (its local ``frame`` is the calling VM frame).
    """
    from iree_lab.vm.interpreter import Frame

    frame = sys._getframe(2)
    for _ in range(16):
        if frame is None:
            return None
        code = frame.f_code
        if code.co_filename.startswith("<iree_lab fast ") and code.co_name.startswith("F"):
            state = frame.f_globals.get("S")
            pc = frame.f_locals.get("pc")
            module = getattr(state, "module", None)
            if module is not None and isinstance(pc, int):
                ordinal = int(code.co_name[1:])
                return BacktraceFrame(module.name, module.function_name(ordinal), pc,
                                      module.source_location(ordinal, pc))
        elif code.co_name == "_call":
            vm_frame = frame.f_locals.get("frame")
            if isinstance(vm_frame, Frame):
                return vm_frame.backtrace_frame()
        frame = frame.f_back
    return None


# -- Running a module's tests (iree-check-module) -------------------------------------------


@dataclasses.dataclass
class CheckTest:
    """One exported function run as a test."""

    module: str
    function: str
    ordinal: int
    failures: list[CheckFailure] = dataclasses.field(default_factory=list)
    # A VM error that ended the function (IREE_EXPECT_OK(status) fails the test).
    error: str | None = None
    checks: int = 0  # check exports called
    seconds: float = 0.0

    @property
    def name(self) -> str:
        return f"{self.module}.{self.function}"

    @property
    def passed(self) -> bool:
        return not self.failures and self.error is None


@dataclasses.dataclass
class CheckReport:
    """The tests of one module (``run_checks``); ``exit_code`` as iree-check-module's."""

    module: str
    tests: list[CheckTest] = dataclasses.field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> list[CheckTest]:
        return [t for t in self.tests if t.passed]

    @property
    def failed(self) -> list[CheckTest]:
        return [t for t in self.tests if not t.passed]

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    @property
    def failures(self) -> list[CheckFailure]:
        return [f for t in self.tests for f in t.failures]

    def __str__(self) -> str:
        return format_report(self)


def check_functions(module) -> list:
    """The exports iree-check-module runs as tests, in ordinal order.

    Raises INVALID_ARGUMENT for an export with arguments or results, like it does.
    """
    from iree_lab.vm.calls import argument_count

    tests = []
    for name, fn in module.exports.items():
        if name.startswith("__") or "$" in name:
            continue
        cconv = fn.cconv
        if cconv is not None and (argument_count(cconv.arguments) or cconv.results):
            raise status(StatusCode.INVALID_ARGUMENT,
                         "expected function with no inputs or outputs, but export "
                         f"'{name}' has signature '{cconv.text}'")
        tests.append(fn)
    return sorted(tests, key=lambda fn: fn.ordinal)


def run_checks(modules, *, device_uri: str = "local-sync", function: str | None = None,
               observer=None, fast: bool = True, **session_options) -> CheckReport:
    """Runs each test function of the last of ``modules`` in a fresh context.

    ``modules``: VM modules or paths of ``.vmfb`` / ``.py`` module files (the last is the
    one tested; earlier ones are linked like extra ``--module=`` flags). ``function`` runs only that export. ``observer``, when
    given, is called as ``observer(event, test)`` with ``"start"``/``"end"`` (the CLI
    prints gtest's lines from it). ``fast=False`` runs in the stepping interpreter.
    ``session_options`` go to :meth:`Session.for_modules` (``native=False``,
    ``parameters=[...]``).
    """
    from iree_lab.hal.tooling import Session
    from iree_lab.vm import Context

    modules = _load_modules(modules)
    main = modules[-1]
    functions = check_functions(main)
    if function is not None:
        functions = [fn for fn in functions if fn.name == function]
        if not functions:
            main.lookup_export(function)  # NOT_FOUND like a lookup by name
            raise status(StatusCode.INVALID_ARGUMENT,
                         f"export '{function}' is not a test function (internal or "
                         "special name)")
    # Device and parameter errors (bad --device, --parameters) surface here, once.
    Session.for_modules(modules, device_uri=device_uri, **session_options)
    report = CheckReport(main.name)
    start = time.perf_counter()
    for fn in functions:
        test = CheckTest(main.name, fn.name, fn.ordinal)
        if observer is not None:
            observer("start", test)
        began = time.perf_counter()
        check = CheckModule()
        context = None
        try:
            session = Session.for_modules(modules, device_uri=device_uri, **session_options)
            context = Context([check, *session.modules, *modules], fast=fast)
            _require_check_imports(context, main)
            context.call_function(fn, [])
        except VMError as e:
            test.error = _error_text(e)
        finally:
            if context is not None:
                context.close()
        test.failures = check.failures
        test.checks = check.checks_run
        test.seconds = time.perf_counter() - began
        report.tests.append(test)
        if observer is not None:
            observer("end", test)
    report.seconds = time.perf_counter() - start
    return report


def _require_check_imports(context, module) -> None:
    """Fails when an optional check import stayed unresolved (a signature this module does
    not provide): the program would skip that check and the test would pass vacuously."""
    state = context.state_of(module)
    for decl, target in zip(module.imports, getattr(state, "imports", ()), strict=False):
        if decl.module_name == "check" and target is None:
            cconv = decl.cconv.text if decl.cconv is not None else "?"
            raise VMError(StatusCode.NOT_FOUND,
                          f"import {decl.full_name} (cconv {cconv}) is not provided by "
                          f"iree_lab's check module (version {CheckModule.version}); its "
                          "checks would be skipped")


def _load_modules(items) -> list:
    import os

    from iree_lab.vm import load_module_path

    if isinstance(items, str | os.PathLike):
        items = [items]
    modules = []
    for item in items:
        if isinstance(item, str | os.PathLike):
            modules.extend(load_module_path(item))
        else:
            modules.append(item)
    return modules


def _error_text(error) -> str:
    text = error.status_text()
    frames = getattr(error, "backtrace", None)
    if frames:
        text += "\nVM backtrace (most recent call last):\n" + "\n".join(f"  {f}" for f in frames)
    return text


# -- gtest's console output -------------------------------------------------------------------


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def format_header(report_module: str, test_count: int) -> str:
    return (f"[==========] Running {_count(test_count, 'test')} from 1 test suite.\n"
            "[----------] Global test environment set-up.\n"
            f"[----------] {_count(test_count, 'test')} from {report_module}\n")


def format_test_start(test: CheckTest) -> str:
    return f"[ RUN      ] {test.name}\n"


def format_test_end(test: CheckTest) -> str:
    out = []
    for failure in test.failures:
        out.append(failure.format() + "\n")
    if test.error is not None:
        out.append(f"{test.module}: Failure\nValue of: status\nExpected: is OK\n"
                   f"  Actual: {test.error}\n")
    tag = "[       OK ]" if test.passed else "[  FAILED  ]"
    param = "" if test.passed else f", where GetParam() = {test.ordinal}"
    out.append(f"{tag} {test.name}{param} ({_ms(test.seconds)} ms)\n")
    return "".join(out)


def format_footer(report: CheckReport) -> str:
    n = len(report.tests)
    ms = _ms(report.seconds)
    out = [f"[----------] {_count(n, 'test')} from {report.module} ({ms} ms total)\n\n",
           "[----------] Global test environment tear-down\n",
           f"[==========] {_count(n, 'test')} from 1 test suite ran. ({ms} ms total)\n",
           f"[  PASSED  ] {_count(len(report.passed), 'test')}.\n"]
    failed = report.failed
    if failed:
        out.append(f"[  FAILED  ] {_count(len(failed), 'test')}, listed below:\n")
        for test in failed:
            out.append(f"[  FAILED  ] {test.name}, where GetParam() = {test.ordinal}\n")
        out.append(f"\n{len(failed):2d} FAILED {'TEST' if len(failed) == 1 else 'TESTS'}\n")
    return "".join(out)


def format_report(report: CheckReport) -> str:
    """The whole gtest console output of a finished report."""
    parts = [format_header(report.module, len(report.tests))]
    for test in report.tests:
        parts += [format_test_start(test), format_test_end(test)]
    parts.append(format_footer(report))
    return "".join(parts)
