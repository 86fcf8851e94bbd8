"""``iree-lab run``: run a function like ``iree-run-module``, in iree_lab's VM.

Accepts iree-run-module's flags (``--module=`` repeatable, ``--function=``,
``--input=`` repeatable, ``--device=``) and prints the same stdout
(``EXEC @fn`` then ``result[i]: ...``) byte for byte. ``--module=x.py`` loads
native modules written in Python (see :mod:`iree_lab.vm.native`). Failures
exit with status 1 and IREE-style status text (``CODE; message; context``)
plus the VM backtrace on stderr.
"""

from __future__ import annotations

import ctypes
import math
import sys

import numpy as np

from iree_lab.errors import IreeLabError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "run",
        help="run a function of a module (flags of iree-run-module)",
        description="Runs a function in iree_lab's Python VM and prints its results "
        "exactly like iree-run-module.",
    )
    p.add_argument("--module", action="append", default=[], metavar="FILE",
                   help="a .vmfb (or a .py file defining native modules); repeatable, "
                   "registered in order; the function is looked up in the last one")
    p.add_argument("--function", default="", help="exported function to run")
    p.add_argument("--input", action="append", default=[], metavar="VALUE",
                   help="function argument (i32/i64/f32/f64 values, or (null))")
    p.add_argument("--device", action="append", default=[],
                   help="accepted for compatibility (the VM needs no device)")
    p.set_defaults(func=run)


def run(args) -> int:
    from iree_lab.vm import BytecodeModule, Context, VMError, load_module_file
    from iree_lab.vm.status import StatusCode, VMStatus

    if not args.module:
        _fail("INVALID_ARGUMENT; no user module specified; use --module=file.vmfb to load "
              "from a file")
        return 1
    modules = []
    try:
        for path in args.module:
            if path.endswith(".py"):
                modules.extend(load_module_file(path))
            else:
                modules.append(BytecodeModule.load(path))
    except VMStatus as status:
        _fail(status.status_text() + "; loading modules and dependencies; creating run context")
        return 1
    except IreeLabError as e:
        _fail(f"{e}; loading modules and dependencies; creating run context")
        return 1
    except OSError as e:
        _fail(f"NOT_FOUND; failed to open file '{e.filename}'; loading modules and "
              "dependencies; creating run context")
        return 1
    main_module = modules[-1]
    try:
        context = Context(modules)
    except VMError as e:
        _fail(_text(e, ["creating VM context", "creating run context"]))
        return 1

    try:
        function = _select_function(main_module, args.function)
    except VMStatus as status:
        extra = [f"looking up function '{args.function}'"] if args.function else []
        _fail(_text(status, extra + ["creating run context"]))
        return 1
    decl = function.attrs.get("iree.abi.declaration") if function.attrs else None
    decl_note = [f"`{decl}`"] if decl else []

    fragment = function.cconv.arguments if function.cconv else ""
    try:
        inputs = parse_inputs(fragment, args.input)
    except VMStatus as status:
        _fail(_text(status, ["parsing function inputs"] + decl_note))
        return 1

    sys.stdout.write(f"EXEC @{function.name}\n")
    sys.stdout.flush()
    try:
        expected = _count_args(fragment)
        if len(inputs) != expected:
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"input list and function mismatch; expected {expected} arguments "
                          f"but passed {len(inputs)}")
        results = context.call_function(function, inputs)
    except VMError as e:
        _fail(_text(e, [f"invoking function '{function.name}'"] + decl_note))
        return 1
    result_fragment = function.cconv.results if function.cconv else ""
    out = []
    for i, value in enumerate(results):
        ch = result_fragment[i] if i < len(result_fragment) else "r"
        out.append(f"result[{i}]: {format_variant(ch, value)}\n")
    sys.stdout.write("".join(out))
    sys.stdout.flush()
    context.close()
    return 0


def _select_function(module, name: str):
    from iree_lab.vm.status import StatusCode, VMStatus

    if name:
        return module.lookup_export(name)
    candidates = [fn for fn_name, fn in module.exports.items()
                  if not fn_name.startswith("__") and "$" not in fn_name]
    if not candidates:
        raise VMStatus(StatusCode.INVALID_ARGUMENT,
                       "no exported functions found in module; at least one must be present")
    if len(candidates) > 1:
        raise VMStatus(StatusCode.INVALID_ARGUMENT,
                       "more than one exported function present; --function= must be "
                       "specified explicitly")
    return candidates[0]


def _count_args(fragment: str) -> int:
    from iree_lab.vm.context import _count_arguments

    return _count_arguments(fragment)


def _text(error, annotations: list[str]) -> str:
    text = "; ".join([error.status_text()] + annotations)
    frames = getattr(error, "backtrace", None)
    if frames is None and getattr(error, "frames", None):
        frames = list(reversed(error.frames))
    if frames:
        text += "\nVM backtrace (most recent call last):\n" + "\n".join(f"  {f}" for f in frames)
    return text


def _fail(text: str) -> None:
    sys.stdout.flush()
    print(f"iree-lab run: {text}", file=sys.stderr)


# -- Input parsing: the C library's strtol/strtof, exactly as iree-run-module ----------------

_libc = ctypes.CDLL(None, use_errno=True)
_strtol = _libc.strtol
_strtol.restype = ctypes.c_long
_strtol.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int]
_strtoll = _libc.strtoll
_strtoll.restype = ctypes.c_longlong
_strtoll.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int]
_strtof = _libc.strtof
_strtof.restype = ctypes.c_float
_strtof.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p)]
_strtod = _libc.strtod
_strtod.restype = ctypes.c_double
_strtod.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p)]

_LONG_MIN = -(1 << 63)
_LONG_MAX = (1 << 63) - 1


def _c_parse(fn, text: str, limit: int, *base):
    """Runs a strto* function like iree_string_view_ato*: (ok, value)."""
    data = text.encode("utf-8", "surrogateescape")
    if len(data) >= limit:
        return False, None
    buf = ctypes.create_string_buffer(data, limit)
    end = ctypes.c_char_p()
    ctypes.set_errno(0)
    value = fn(buf, ctypes.byref(end), *base)
    errno = ctypes.get_errno()
    consumed = ctypes.cast(end, ctypes.c_void_p).value - ctypes.addressof(buf)
    if consumed == 0:
        return False, None
    return True, (value, errno)


def parse_inputs(fragment: str, specs: list[str]) -> list:
    from iree_lab.vm.status import StatusCode, VMStatus
    from iree_lab.vm.value import i32

    values = []
    cconv = list(fragment)
    for raw in specs:
        text = raw.strip()
        try:
            if not text:
                raise VMStatus(StatusCode.INVALID_ARGUMENT, "no value specified for input")
            if not cconv:
                raise VMStatus(StatusCode.INVALID_ARGUMENT, "function expected fewer input values")
            ch = cconv.pop(0)
            if text in ("(null)", "(ignored)"):
                values.append({"i": 0, "I": 0, "f": np.float32(0.0), "F": 0.0, "r": None}[ch])
                continue
            if ch == "r":
                raise VMStatus(StatusCode.UNIMPLEMENTED,
                               "ref inputs (tensors, files) need the HAL, which iree_lab's VM "
                               "does not provide yet; only (null) refs can be passed")
            if ch in "iI":
                ok, res = _c_parse(_strtol if ch == "i" else _strtoll, text,
                                   16 if ch == "i" else 32, 0)
                if ok:
                    value, errno = res
                    if value in (_LONG_MIN, _LONG_MAX) and errno == 34:  # ERANGE
                        ok = False
                    elif value == 0 and errno != 0:
                        ok = False
                if not ok:
                    raise VMStatus(StatusCode.INVALID_ARGUMENT,
                                   f"parsing value `{text}` as {'i32' if ch == 'i' else 'i64'}")
                values.append(i32(value) if ch == "i" else value)
            elif ch in "fF":
                ok, res = _c_parse(_strtof if ch == "f" else _strtod, text, 32)
                if ok:
                    value, errno = res
                    if value == 0 and errno != 0:
                        ok = False
                if not ok:
                    raise VMStatus(StatusCode.INVALID_ARGUMENT,
                                   f"parsing value `{text}` as {'f32' if ch == 'f' else 'f64'}")
                values.append(np.float32(value) if ch == "f" else float(value))
            else:
                raise VMStatus(StatusCode.UNIMPLEMENTED, f"unimplemented cconv type `{ch}`")
        except VMStatus as status:
            raise status.annotate(f"parsing input `{text}`") from None
    return values


# -- Result printing (iree_tooling_format_variant) -------------------------------------------


def format_float(value: float) -> str:
    """C's ``%g`` (glibc spells NaN with its sign)."""
    if math.isnan(value):
        return "-nan" if math.copysign(1.0, value) < 0 else "nan"
    return "%g" % value  # noqa: UP031 - C printf semantics on purpose


def format_variant(ch: str, value) -> str:
    from iree_lab.vm import List

    if ch == "i":
        return f"i32={int(value)}"
    if ch == "I":
        return f"i64={int(value)}"
    if ch == "f":
        return f"f32={format_float(float(value))}"
    if ch == "F":
        return f"f64={format_float(float(value))}"
    if value is None:
        return "(null)"
    name = value.ref_type.name
    if isinstance(value, List):
        lines = []
        for i in range(len(value)):
            lines.append(f"child_list[{i}]: {_format_list_element(value, i)}\n")
        return f"{name}\n" + "".join(lines)
    return f"{name}\n(no printer)"


def _format_list_element(lst, index: int) -> str:
    from iree_lab.vm.value import ValueType

    vt = lst.element_value_type(index)
    element = lst.get_variant(index)
    if vt is None:
        if element is None:
            return "(null)"
        return format_variant("r", element)
    if vt in (ValueType.F32, ValueType.F64):
        return f"f{32 if vt == ValueType.F32 else 64}={format_float(float(element))}"
    bits = {ValueType.I8: 8, ValueType.I16: 16, ValueType.I32: 32, ValueType.I64: 64}[vt]
    return f"i{bits}={int(element)}"
