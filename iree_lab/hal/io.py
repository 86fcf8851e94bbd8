"""``iree-run-module`` value I/O: parse ``--input`` specs and print results.

Parsing follows ``runtime/src/iree/tooling/function_io.c`` and
``hal/buffer_view_util.c``/``hal/string_util.c``; printing produces the same
bytes ``iree-run-module`` writes to stdout::

    result[0]: hal.buffer_view
    2x2xf32=[1 2][3 4]

Input forms (each ``--input`` consumes the next calling-convention character):

- ``42``, ``-1.5``: a primitive of the function's argument type (i32/i64/f32/f64);
- ``(null)`` / ``(ignored)``: a null ref or zero value;
- ``2x3xf32=1 2 3 4 5 6``, ``2x2xi32=[[1 2][3 4]]``, ``4xf32=1.5`` (a splat),
  ``f32=3`` (rank 0), ``4xf32`` (zeros): a buffer view;
- ``2x2xi32=@file.bin`` / ``+file.bin``: raw bytes from a file (``+`` continues
  where the previous read of the same file stopped);
- ``@file.npy`` / ``+file.npy`` / ``*file.npy`` (all arrays): numpy arrays;
- ``&4xf32=...``: the buffer of a buffer view (a ``!hal.buffer`` argument).

Failures raise :class:`~iree_lab.vm.status.VMStatus` with IREE's code, message
and annotations (``parsing input `...```).
"""

from __future__ import annotations

import math
import os

import numpy as np

from iree_lab.hal import cparse, floats
from iree_lab.hal.buffer_view import BufferView
from iree_lab.hal.types import (
    BufferUsage,
    ElementType,
    EncodingType,
    MemoryType,
    NumericalType,
    element_dense_byte_count,
    element_numerical_type,
    element_packed_byte_count,
    format_element_type,
    make_element_type,
    parse_element_type,
    status,
)
from iree_lab.vm.ref import RefObject
from iree_lab.vm.status import StatusCode, VMStatus

# ``--output_max_element_count`` default of iree-run-module.
DEFAULT_MAX_ELEMENT_COUNT = 1024
# Ranks above this are refused while parsing (``iree_hal_buffer_view_parse``).
MAX_RANK = 128


# -- Shapes ---------------------------------------------------------------------------------


def parse_shape(text: str) -> tuple[int, ...]:
    """``iree_hal_parse_shape``: ``2x3`` -> (2, 3); empty -> ()."""
    if not text:
        return ()
    parts = text.split("x")
    dims = []
    for i, part in enumerate(parts):
        if not part:
            break
        value = cparse.atoi_int64(part)
        if value is None or value < 0:
            raise status(
                StatusCode.INVALID_ARGUMENT,
                f"shape[{i}] invalid value '{part}' of '{text}'",
            )
        dims.append(value)
    if len(dims) != len(parts):
        raise status(StatusCode.INVALID_ARGUMENT, f"invalid shape specification: '{text}'")
    return tuple(dims)


def format_shape(shape) -> str:
    return "x".join(str(int(d)) for d in shape)


def split_shape_and_type(text: str) -> tuple[tuple[int, ...], int, str | None]:
    """Splits ``2x3xf32=...`` into (shape, element type, data or None)."""
    meta, eq, data = text.partition("=")
    last_x = meta.rfind("x")
    if last_x < 0:
        shape_text, type_text = "", meta
    else:
        shape_text, type_text = meta[:last_x], meta[last_x + 1 :]
    if shape_text.count("x") + 1 > MAX_RANK and shape_text:
        raise status(
            StatusCode.RESOURCE_EXHAUSTED,
            f"a shape rank of {shape_text.count('x') + 1} is just a little bit excessive, eh?",
        )
    shape = parse_shape(shape_text)
    element_type = parse_element_type(type_text)
    return shape, element_type, (data if eq else None)


# -- Elements -------------------------------------------------------------------------------

_INT_RANGES = {
    # element type: (parser, low, high) as parse_element_unsafe checks them.
    ElementType.INT_8: (cparse.atoi_int32, -(1 << 7), (1 << 8) - 1),
    ElementType.SINT_8: (cparse.atoi_int32, None, (1 << 7) - 1),
    ElementType.UINT_8: (cparse.atoi_uint32, None, (1 << 8) - 1),
    ElementType.INT_16: (cparse.atoi_int32, -(1 << 15), (1 << 16) - 1),
    ElementType.SINT_16: (cparse.atoi_int32, None, (1 << 15) - 1),
    ElementType.UINT_16: (cparse.atoi_uint32, None, (1 << 16) - 1),
    ElementType.INT_32: (cparse.atoi_int32, None, None),
    ElementType.SINT_32: (cparse.atoi_int32, None, None),
    ElementType.UINT_32: (cparse.atoi_uint32, None, None),
    ElementType.INT_64: (cparse.atoi_int64, None, None),
    ElementType.SINT_64: (cparse.atoi_int64, None, None),
    ElementType.UINT_64: (cparse.atoi_uint64, None, None),
}
_SMALL_FLOATS = {
    ElementType.FLOAT_16,
    ElementType.BFLOAT_16,
    ElementType.FLOAT_8_E5M2,
    ElementType.FLOAT_8_E4M3_FN,
    ElementType.FLOAT_8_E5M2_FNUZ,
    ElementType.FLOAT_8_E4M3_FNUZ,
    ElementType.FLOAT_8_E8M0_FNU,
}


def parse_element(text: str, element_type: int) -> bytes:
    """``iree_hal_parse_element``: one element's bytes (little-endian)."""
    element_type = int(element_type) & 0xFFFFFFFF
    size = element_dense_byte_count(element_type)
    spec = _INT_RANGES.get(element_type)
    if spec is not None:
        parser, low, high = spec
        value = parser(text)
        if value is None or (low is not None and value < low) or (
            high is not None and value > high
        ):
            raise status(StatusCode.INVALID_ARGUMENT, "")
        return (value & ((1 << (size * 8)) - 1)).to_bytes(size, "little")
    if element_type == ElementType.FLOAT_32:
        value = cparse.atof(text)
        if value is None:
            raise status(StatusCode.INVALID_ARGUMENT, "")
        return np.float32(value).tobytes()
    if element_type == ElementType.FLOAT_64:
        value = cparse.atod(text)
        if value is None:
            raise status(StatusCode.INVALID_ARGUMENT, "")
        return np.float64(value).tobytes()
    if element_type in _SMALL_FLOATS:
        value = cparse.atof(text)
        if value is None:
            raise status(StatusCode.INVALID_ARGUMENT, "")
        return floats.f32_to_bits(value, element_type).to_bytes(size, "little")
    # Any other type is read as binary hex (two characters per byte).
    if len(text) != size * 2:
        raise status(
            StatusCode.INVALID_ARGUMENT,
            f"binary hex element count mismatch: buffer length={len(text)} < "
            f"expected={size * 2}",
        )
    return bytes(_HEX.get(text[2 * i], 0) << 4 | _HEX.get(text[2 * i + 1], 0)
                 for i in range(size))


_HEX = {c: int(c, 16) for c in "0123456789abcdefABCDEF"}


def parse_buffer_elements(data: str, element_type: int, byte_length: int) -> bytes:
    """``iree_hal_parse_buffer_elements``: fills ``byte_length`` bytes (splats one value)."""
    element_size = element_dense_byte_count(element_type)
    capacity = byte_length // element_size if element_size else 0
    if not data:
        return bytes(byte_length)
    tokens: list[str] = []
    start = None
    for i, c in enumerate(data):
        separator = cparse.is_c_space(c) or c in ",[]"
        if start is None:
            if not separator:
                start = i
            continue
        if not separator:
            continue
        if len(tokens) >= capacity:
            raise status(
                StatusCode.OUT_OF_RANGE,
                f"output data buffer overflow: element_capacity={capacity} < "
                f"dst_i={len(tokens)}+",
            )
        tokens.append(data[start:i])
        start = None
    if start is not None:
        if len(tokens) >= capacity:
            raise status(
                StatusCode.OUT_OF_RANGE,
                f"output data overflow: element_capacity={capacity} < dst_i={len(tokens)}",
            )
        tokens.append(data[start:])
    out = bytearray(byte_length)
    for i, token in enumerate(tokens):
        out[i * element_size : (i + 1) * element_size] = parse_element(token, element_type)
    if len(tokens) == 1 and capacity > 1:
        first = bytes(out[:element_size])
        out[: capacity * element_size] = first * capacity
    elif len(tokens) < capacity:
        raise status(
            StatusCode.OUT_OF_RANGE,
            f"input data string underflow: dst_i={len(tokens)} < element_capacity={capacity}",
        )
    return bytes(out)


def _c_float_text(value: float, spec: str) -> str:
    """printf ``%G``/``%g`` of a double, including glibc's ``-nan``."""
    if math.isnan(value):
        text = "nan" if spec == "g" else "NAN"
        return ("-" if math.copysign(1.0, value) < 0 else "") + text
    return ("%" + spec) % value


def format_element(data: bytes, element_type: int) -> str:
    """``iree_hal_format_element``."""
    element_type = int(element_type) & 0xFFFFFFFF
    size = element_dense_byte_count(element_type)
    raw = bytes(data[:size])
    if element_type in (ElementType.INT_8, ElementType.SINT_8, ElementType.INT_16,
                        ElementType.SINT_16, ElementType.INT_32, ElementType.SINT_32,
                        ElementType.INT_64, ElementType.SINT_64):
        return str(int.from_bytes(raw, "little", signed=True))
    if element_type in (ElementType.UINT_8, ElementType.UINT_16, ElementType.UINT_32,
                        ElementType.UINT_64):
        return str(int.from_bytes(raw, "little", signed=False))
    if element_type == ElementType.FLOAT_64:
        return _c_float_text(float(np.frombuffer(raw, dtype=np.float64)[0]), "G")
    if element_type == ElementType.FLOAT_32:
        return _c_float_text(float(np.frombuffer(raw, dtype=np.float32)[0]), "G")
    if element_type in _SMALL_FLOATS:
        return _c_float_text(floats.bits_to_f32(int.from_bytes(raw, "little"), element_type),
                             "G")
    return raw.hex().upper()


def format_buffer_elements(data, shape, element_type: int, max_element_count: int) -> str:
    """``iree_hal_format_buffer_elements``: ``[1 2][3 4]``, eliding with ``...``."""
    data = memoryview(data).cast("B")
    element_size = element_dense_byte_count(element_type)
    remaining = [max_element_count]
    parts: list[str] = []

    def leaf(offset: int, count: int) -> None:
        take = min(remaining[0], count)
        if len(data) - offset < take * element_size:
            raise status(
                StatusCode.OUT_OF_RANGE,
                f"input data underflow; data_length={len(data) - offset} < "
                f"expected={take * element_size}",
            )
        remaining[0] -= take
        if element_type == ElementType.FLOAT_32 and take:
            values = np.frombuffer(data, dtype=np.float32, count=take, offset=offset)
            parts.append(" ".join(_c_float_text(float(v), "G") for v in values.tolist()))
        else:
            parts.append(" ".join(
                format_element(data[offset + i * element_size: offset + (i + 1) * element_size],
                               element_type)
                for i in range(take)
            ))
        if take < count:
            parts.append("...")

    def recurse(offset: int, dims: tuple[int, ...]) -> None:
        if len(dims) == 1:
            leaf(offset, dims[0])
            return
        inner = 1
        for d in dims[1:]:
            inner *= d
        stride = inner * element_size
        if len(data) - offset < stride * dims[0]:
            raise status(
                StatusCode.OUT_OF_RANGE,
                f"input data underflow: data_length={len(data) - offset} < "
                f"expected={stride * dims[0]}",
            )
        for i in range(dims[0]):
            parts.append("[")
            recurse(offset + i * stride, dims[1:])
            parts.append("]")

    recurse(0, tuple(shape) if shape else (1,))
    return "".join(parts)


def format_buffer_view(view: BufferView, max_element_count: int = DEFAULT_MAX_ELEMENT_COUNT
                       ) -> str:
    """``iree_hal_buffer_view_format``: ``4xf32=1 2 3 4``."""
    prefix = f"{format_shape(view.shape)}x" if view.shape else ""
    data = view.buffer.contents()
    return (f"{prefix}{format_element_type(view.element_type)}="
            f"{format_buffer_elements(data, view.shape, view.element_type, max_element_count)}")


# -- Buffer views from text, files and numpy --------------------------------------------------


def _input_params():
    # iree_hal_buffer_view_parse: DEVICE_LOCAL memory with the default usage.
    return int(MemoryType.DEVICE_LOCAL), int(BufferUsage.DEFAULT)


def allocate_buffer_view(device, shape, element_type: int, contents: bytes | None = None,
                         encoding_type: int = EncodingType.DENSE_ROW_MAJOR) -> BufferView:
    """``iree_hal_buffer_view_generate_buffer``: a device buffer holding ``contents``."""
    count = 1
    for d in shape:
        count *= d
    size = element_packed_byte_count(element_type, count)
    memory_type, usage = _input_params()
    buffer = device.allocator.allocate(memory_type, usage, size, origin="host")
    if contents:
        buffer.storage[: len(contents)] = np.frombuffer(contents, dtype=np.uint8)
    return BufferView(buffer, shape, element_type, encoding_type)


def parse_buffer_view(text: str, device) -> BufferView:
    """``iree_hal_buffer_view_parse``: ``2x2xf32=1 2 3 4`` -> a buffer view on ``device``."""
    text = cparse.trim(text)
    if text.startswith('"'):
        text = text[1:]
    if text.endswith('"'):
        text = text[:-1]
    if not text:
        raise status(StatusCode.INVALID_ARGUMENT, "empty string input")
    shape, element_type, data = split_shape_and_type(text)
    count = 1
    for d in shape:
        count *= d
    size = element_packed_byte_count(element_type, count)
    contents = parse_buffer_elements(data or "", element_type, size)
    return allocate_buffer_view(device, shape, element_type, contents)


def buffer_view_from_numpy(array, device, element_type: int | None = None) -> BufferView:
    """A buffer view holding a copy of a numpy array (C order)."""
    from iree_lab.hal.types import element_type_for_dtype

    array = np.ascontiguousarray(array)
    if element_type is None:
        element_type = element_type_for_dtype(array.dtype)
    return allocate_buffer_view(device, array.shape, element_type, array.tobytes())


class StreamList:
    """Files opened by ``@``/``+`` specs; ``+`` continues after the previous read."""

    def __init__(self, base_dir: str | None = None):
        self.base_dir = base_dir
        self._files: dict[str, object] = {}

    def open(self, path: str, append: bool):
        f = self._files.get(path)
        if f is not None:
            if not append:
                f.seek(0)
            return f
        full = os.path.join(self.base_dir, path) if self.base_dir else path
        try:
            f = open(full, "rb")  # noqa: SIM115 - closed by close()
        except OSError as e:
            raise status(StatusCode.NOT_FOUND, f"failed to open file '{path}': {e.strerror}"
                         ) from None
        self._files[path] = f
        return f

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()


def _read_exact(f, length: int, what: str) -> bytes:
    data = f.read(length)
    if len(data) != length:
        raise status(StatusCode.OUT_OF_RANGE, f"{what} (wanted {length} bytes, got {len(data)})")
    return data


def _npy_element_type(descr: str) -> int:
    if not descr or descr[0] not in "|=<":
        raise status(StatusCode.UNIMPLEMENTED, f"unsupported byte order in descr '{descr}'")
    descr = descr[1:]
    if not descr:
        raise status(StatusCode.INVALID_ARGUMENT, "descr missing kind")
    kinds = {
        "b": NumericalType.BOOLEAN,
        "i": NumericalType.INTEGER_SIGNED,
        "u": NumericalType.INTEGER_UNSIGNED,
        "f": NumericalType.FLOAT_IEEE,
        "c": NumericalType.FLOAT_COMPLEX,
        "V": NumericalType.UNKNOWN,
    }
    kind = descr[0]
    if kind not in kinds:
        raise status(StatusCode.UNIMPLEMENTED, f"unsupported data type {kind}")
    width = cparse.atoi_uint32(descr[1:])
    if width is None:
        raise status(StatusCode.INVALID_ARGUMENT, "invalid descr byte width")
    return make_element_type(kinds[kind], width * 8)


def _npy_dict_items(header: str):
    header = cparse.trim(header)
    if header.startswith("{"):
        header = header[1:]
    if header.endswith("}"):
        header = header[:-1]
    while header:
        key, colon, header = header.partition(":")
        if not colon:
            raise status(StatusCode.INVALID_ARGUMENT, "malformed header dict")
        key = key.strip().strip("'")
        header = cparse.trim(header)
        if header.startswith("True"):
            value, header = "True", header[4:]
        elif header.startswith("False"):
            value, header = "False", header[5:]
        elif header.startswith("'"):
            value, _, header = header[1:].partition("'")
        elif header.startswith("("):
            value, _, header = header[1:].partition(")")
        else:
            raise status(StatusCode.INVALID_ARGUMENT, "malformed header dict")
        if not header.startswith(","):
            raise status(StatusCode.INVALID_ARGUMENT, "malformed header dict")
        header = cparse.trim(header[1:])
        yield key, value


def load_npy(f, device) -> BufferView:
    """``iree_numpy_npy_load_ndarray``: the next array of an open .npy stream."""
    prefix = f.read(8)
    if not prefix:
        raise status(StatusCode.OUT_OF_RANGE, "end-of-file")
    if len(prefix) != 8:
        raise status(StatusCode.OUT_OF_RANGE, "unable to read entire header prefix")
    if prefix[:6] != b"\x93NUMPY":
        raise status(StatusCode.INVALID_ARGUMENT, "npy header magic mismatch")
    major, minor = prefix[6], prefix[7]
    if major <= 0 or major > 3:
        raise status(StatusCode.UNIMPLEMENTED, f"npy version {major}.{minor} not supported")
    length_size = 2 if major == 1 else 4
    header_length = int.from_bytes(_read_exact(f, length_size, "failed to read header length"),
                                   "little")
    header = _read_exact(f, header_length, "failed to read header string").decode("latin-1")
    shape: tuple[int, ...] = ()
    element_type = int(ElementType.NONE)
    encoding = EncodingType.OPAQUE
    for key, value in _npy_dict_items(header):
        if key == "descr":
            element_type = _npy_element_type(value)
        elif key == "fortran_order":
            if value != "False":
                raise status(StatusCode.UNIMPLEMENTED, "fortran order arrays not supported")
            encoding = EncodingType.DENSE_ROW_MAJOR
        elif key == "shape":
            dims_text = value.strip()
            if dims_text.endswith(","):
                dims_text = dims_text[:-1]
            dims = []
            if dims_text:
                for part in dims_text.split(","):
                    dim = cparse.atoi_int64(cparse.trim(part))
                    if dim is None:
                        raise status(StatusCode.INVALID_ARGUMENT,
                                     f"invalid shape dimension '{part}'")
                    dims.append(dim)
            if len(dims) > MAX_RANK:
                raise status(StatusCode.INVALID_ARGUMENT,
                             f"shape rank {len(dims)} too large; be reasonable please")
            shape = tuple(dims)
    count = 1
    for d in shape:
        count *= d
    size = element_packed_byte_count(element_type, count)
    contents = _read_exact(f, size, f"failed to read npy contents of {size} bytes")
    return allocate_buffer_view(device, shape, element_type, contents, encoding)


def save_npy(view: BufferView) -> bytes:
    """The .npy bytes ``--output=@file.npy`` writes for a buffer view."""
    element_type = view.element_type
    size = element_dense_byte_count(element_type)
    kinds = {
        NumericalType.UNKNOWN: "V",
        NumericalType.BOOLEAN: "b",
        NumericalType.INTEGER: "i",
        NumericalType.INTEGER_SIGNED: "i",
        NumericalType.INTEGER_UNSIGNED: "u",
        NumericalType.FLOAT_IEEE: "f",
        NumericalType.FLOAT_COMPLEX: "c",
    }
    kind = kinds.get(element_numerical_type(element_type))
    if kind is None:
        raise status(StatusCode.UNIMPLEMENTED, "unsupported data encoding")
    descr = ("|" if size == 1 else "<") + f"{kind}{size}"
    dims = ", ".join(str(d) for d in view.shape)
    if len(view.shape) == 1:
        dims += ","
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': ({dims}), }}"
    total = 10 + len(header) + 1
    header += " " * ((64 - total % 64) % 64) + "\n"
    return (b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode()
            + view.buffer.contents()[: view.byte_length].tobytes())


# -- Function inputs -------------------------------------------------------------------------


def _zero_of(ch: str):
    return {"i": 0, "I": 0, "f": np.float32(0.0), "F": 0.0}.get(ch)


class InputParser:
    """Turns ``--input`` specs into VM argument values for a calling convention."""

    def __init__(self, device, base_dir: str | None = None):
        self.device = device
        self.streams = StreamList(base_dir)

    def parse(self, cconv_arguments: str, specs) -> list:
        """Values for the argument cconv fragment (e.g. ``rri``) from ``specs``."""
        remaining = list(cconv_arguments)
        values: list = []
        try:
            for spec in specs:
                text = cparse.trim(spec)
                try:
                    self._parse_one(remaining, text, values)
                except VMStatus as e:
                    raise e.annotate(f"parsing input `{text}`") from None
        finally:
            self.streams.close()
        return values

    def _consume(self, remaining: list[str], expected: str | None = None) -> str:
        if not remaining:
            raise status(StatusCode.INVALID_ARGUMENT, "function expected fewer input values")
        ch = remaining.pop(0)
        if expected is not None and ch != expected:
            raise status(
                StatusCode.INVALID_ARGUMENT,
                f"function signature mismatch: expected cconv type `{expected}` but provided "
                f"type `{ch}`",
            )
        return ch

    def _parse_one(self, remaining: list[str], text: str, values: list) -> None:
        if not text:
            raise status(StatusCode.INVALID_ARGUMENT, "no value specified for input")
        if text in ("(null)", "(ignored)"):
            ch = self._consume(remaining)
            if ch == "r":
                values.append(None)
            elif ch in "iIfF":
                values.append(_zero_of(ch))
            else:
                raise status(StatusCode.UNIMPLEMENTED, f"unimplemented cconv type `{ch}`")
            return
        if text[0] in "@+*":
            self._parse_file(remaining, text, values)
            return
        if text.startswith("&"):
            self._consume(remaining, "r")
            values.append(self._parse_tensor(text[1:]).buffer)
            return
        if remaining and remaining[0] != "r":
            values.append(self._parse_primitive(self._consume(remaining), text))
            return
        self._consume(remaining, "r")
        if "=" not in text and "x" not in text:
            raise status(
                StatusCode.INVALID_ARGUMENT,
                "invalid tensor specification, requires at least a shape/type (`4x2xf32=...`)",
            )
        values.append(self._parse_tensor(text))

    def _parse_primitive(self, ch: str, text: str):
        parsers = {
            "i": (cparse.atoi_int32, "i32"),
            "I": (cparse.atoi_int64, "i64"),
            "f": (cparse.atof, "f32"),
            "F": (cparse.atod, "f64"),
        }
        if ch not in parsers:
            raise status(StatusCode.UNIMPLEMENTED, f"unimplemented cconv type `{ch}`")
        parser, name = parsers[ch]
        value = parser(text)
        if value is None:
            raise status(StatusCode.INVALID_ARGUMENT, f"parsing value `{text}` as {name}")
        return value

    def _parse_tensor(self, text: str) -> BufferView:
        meta, eq, contents = text.partition("=")
        if eq and contents[:1] in ("@", "+"):
            shape, element_type, _ = split_shape_and_type(meta)
            f = self.streams.open(contents[1:], append=contents[0] == "+")
            count = 1
            for d in shape:
                count *= d
            size = element_packed_byte_count(element_type, count)
            data = _read_exact(f, size, "failed to read file contents")
            return allocate_buffer_view(self.device, shape, element_type, data)
        return parse_buffer_view(text, self.device)

    def _parse_file(self, remaining: list[str], text: str, values: list) -> None:
        append = not text.startswith("@")
        splat = text.startswith("*")
        path = text[1:]
        if not path.endswith(".npy"):
            raise status(
                StatusCode.UNIMPLEMENTED,
                "only numpy (.npy) files are supported for metadata-less variant I/O",
            )
        f = self.streams.open(path, append)
        if not splat:
            self._consume(remaining, "r")
            values.append(load_npy(f, self.device))
            return
        while True:
            here = f.tell()
            if not f.read(1):
                break
            f.seek(here)
            self._consume(remaining, "r")
            values.append(load_npy(f, self.device))


def parse_inputs(device, cconv_arguments: str, specs, base_dir: str | None = None) -> list:
    """``iree_tooling_parse_variants``: VM values for a function's argument cconv.

    ``cconv_arguments`` is the argument fragment of the function's calling
    convention (``CallingConvention.arguments``, e.g. ``"rr"``). Raises a
    :class:`VMStatus` annotated like iree-run-module (``parsing input `...```).
    """
    return InputParser(device, base_dir).parse(cconv_arguments, specs)


# -- Results -----------------------------------------------------------------------------------

_VALUE_PREFIX = {"i": "i32", "I": "i64", "f": "f32", "F": "f64"}


def format_value(ch: str, value) -> str:
    """A primitive result (``i32=3``, ``f32=2.5``; floats with ``%g``)."""
    name = _VALUE_PREFIX.get(ch)
    if name is None:
        return "?"
    if ch in "fF":
        return f"{name}={_c_float_text(float(value), 'g')}"
    return f"{name}={int(value)}"


def format_variant(value, ch: str | None = None,
                   max_element_count: int = DEFAULT_MAX_ELEMENT_COUNT) -> str:
    """``iree_tooling_format_variant``: one value, without the trailing newline."""
    if value is None:
        return "(null)"
    if isinstance(value, RefObject):
        type_name = value.ref_type.name
        if isinstance(value, BufferView):
            return f"{type_name}\n{format_buffer_view(value, max_element_count)}"
        if type_name == "vm.list":
            return f"{type_name}\n{format_list(value, 'child_list', max_element_count)}"
        return f"{type_name}\n(no printer)"
    if ch is None:
        ch = _guess_cconv(value)
    return format_value(ch, value)


def _guess_cconv(value) -> str:
    if isinstance(value, np.float32):
        return "f"
    if isinstance(value, float):
        return "F"
    return "i"


_LIST_VALUE_PREFIX = {1: "i8", 2: "i16", 3: "i32", 4: "i64", 5: "f32", 6: "f64"}


def format_list(vm_list, list_name: str, max_element_count: int) -> str:
    """``iree_tooling_format_variants`` over a ``vm.list`` (each line ends with ``\\n``)."""
    lines = []
    for i in range(len(vm_list)):
        element = vm_list.get_variant(i)
        value_type = vm_list.element_value_type(i)
        if isinstance(element, RefObject) or element is None:
            text = format_variant(element, None, max_element_count)
        else:
            prefix = _LIST_VALUE_PREFIX.get(int(value_type), "?")
            if prefix.startswith("f"):
                text = f"{prefix}={_c_float_text(float(element), 'g')}"
            elif prefix == "?":
                text = "?"
            else:
                text = f"{prefix}={int(element)}"
        lines.append(f"{list_name}[{i}]: {text}\n")
    return "".join(lines)


def format_results(values, cconv_results: str | None = None, *, list_name: str = "result",
                   max_element_count: int = DEFAULT_MAX_ELEMENT_COUNT) -> str:
    """``iree_tooling_print_variants``: the exact stdout text for a function's results.

    ``cconv_results`` (e.g. ``"rI"``) tells i32 from i64 and f32 from f64; without
    it Python types decide (int -> i32, numpy.float32 -> f32, float -> f64).
    """
    out = []
    for i, value in enumerate(values):
        ch = cconv_results[i] if cconv_results and i < len(cconv_results) else None
        out.append(f"{list_name}[{i}]: {format_variant(value, ch, max_element_count)}\n")
    return "".join(out)


__all__ = [
    "DEFAULT_MAX_ELEMENT_COUNT",
    "InputParser",
    "allocate_buffer_view",
    "buffer_view_from_numpy",
    "format_buffer_elements",
    "format_buffer_view",
    "format_element",
    "format_results",
    "format_variant",
    "load_npy",
    "parse_buffer_elements",
    "parse_buffer_view",
    "parse_element",
    "parse_inputs",
    "parse_shape",
    "save_npy",
]
