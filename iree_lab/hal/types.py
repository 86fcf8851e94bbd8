"""HAL enums, bitfields and element types with IREE's numbering and spelling.

Values match ``runtime/src/iree/hal/*.h`` so that numbers seen in a module's
bytecode (``vm.const.i32 553648160  // 0x21000020``) mean the same thing here.
Bitfields format like ``iree_bitfield_format`` (combined names first, leftover
bits as ``%Xh``) because IREE puts those strings into its error messages.
"""

from __future__ import annotations

import enum
import functools

import numpy as np

from iree_lab.vm.status import StatusCode, status  # noqa: F401 (status: the hal API)

# ``IREE_HAL_WHOLE_BUFFER``: (iree_device_size_t)-1, what an i64 -1 becomes.
WHOLE_BUFFER = (1 << 64) - 1
DEVICE_SIZE_MASK = (1 << 64) - 1
# ``IREE_HAL_QUEUE_AFFINITY_ANY``.
QUEUE_AFFINITY_ANY = (1 << 64) - 1


def device_size(value: int) -> int:
    """An i64 from the VM as ``iree_device_size_t`` (unsigned 64-bit)."""
    return int(value) & DEVICE_SIZE_MASK


def check_deref(value, cls, *, nullable: bool = False):
    """``iree_*_check_deref`` of a ref argument: the object, or INVALID_ARGUMENT like IREE."""
    if value is None:
        if nullable:
            return None
        raise status(StatusCode.INVALID_ARGUMENT, "ref is null")
    if not isinstance(value, cls):
        raise status(StatusCode.INVALID_ARGUMENT, "ref type mismatch")
    return value


class MemoryType(enum.IntFlag):
    """``iree_hal_memory_type_bits_t``."""

    NONE = 0
    OPTIMAL = 1 << 0
    HOST_VISIBLE = 1 << 1
    HOST_COHERENT = 1 << 2
    HOST_CACHED = 1 << 3
    HOST_LOCAL = HOST_VISIBLE | HOST_COHERENT | (1 << 6)
    OPTIMAL_FOR_HOST = OPTIMAL | HOST_LOCAL
    DEVICE_VISIBLE = 1 << 4
    DEVICE_LOCAL = DEVICE_VISIBLE | (1 << 5)
    OPTIMAL_FOR_DEVICE = OPTIMAL | DEVICE_LOCAL


class MemoryAccess(enum.IntFlag):
    """``iree_hal_memory_access_bits_t``."""

    NONE = 0
    READ = 1 << 0
    WRITE = 1 << 1
    DISCARD = 1 << 2
    DISCARD_WRITE = WRITE | DISCARD
    MAY_ALIAS = 1 << 3
    UNALIGNED = 1 << 4
    ANY = 1 << 5
    ALL = READ | WRITE | DISCARD


class BufferUsage(enum.IntFlag):
    """``iree_hal_buffer_usage_bits_t``."""

    NONE = 0
    TRANSFER_SOURCE = 1 << 0
    TRANSFER_TARGET = 1 << 1
    TRANSFER = TRANSFER_SOURCE | TRANSFER_TARGET
    DISPATCH_INDIRECT_PARAMETERS = 1 << 8
    DISPATCH_UNIFORM_READ = 1 << 9
    DISPATCH_STORAGE_READ = 1 << 10
    DISPATCH_STORAGE_WRITE = 1 << 11
    DISPATCH_STORAGE = DISPATCH_STORAGE_READ | DISPATCH_STORAGE_WRITE
    DISPATCH_IMAGE_READ = 1 << 12
    DISPATCH_IMAGE_WRITE = 1 << 13
    DISPATCH_IMAGE = DISPATCH_IMAGE_READ | DISPATCH_IMAGE_WRITE
    DISPATCH = (
        DISPATCH_INDIRECT_PARAMETERS | DISPATCH_UNIFORM_READ | DISPATCH_STORAGE | DISPATCH_IMAGE
    )
    SHARING_EXPORT = 1 << 16
    SHARING_REPLICATE = 1 << 17
    SHARING_CONCURRENT = 1 << 18
    SHARING_IMMUTABLE = 1 << 19
    MAPPING_SCOPED = 1 << 24
    MAPPING_PERSISTENT = 1 << 25
    MAPPING_OPTIONAL = 1 << 26
    MAPPING_ACCESS_RANDOM = 1 << 27
    MAPPING_ACCESS_SEQUENTIAL_WRITE = 1 << 28
    MAPPING = MAPPING_SCOPED | MAPPING_ACCESS_RANDOM
    DEFAULT = TRANSFER | DISPATCH_STORAGE


class MappingMode(enum.IntFlag):
    """``iree_hal_mapping_mode_bits_t``."""

    SCOPED = 1 << 0
    PERSISTENT = 1 << 1


class CommandBufferMode(enum.IntFlag):
    """``iree_hal_command_buffer_mode_bits_t``."""

    DEFAULT = 0
    ONE_SHOT = 1 << 0
    ALLOW_INLINE_EXECUTION = 1 << 4
    UNVALIDATED = 1 << 5
    UNRETAINED = 1 << 6
    RETAIN_PROFILE_METADATA = 1 << 7
    RETAIN_DISPATCH_METADATA = 1 << 8


class CommandCategory(enum.IntFlag):
    """``iree_hal_command_category_bits_t``."""

    NONE = 0
    TRANSFER = 1 << 0
    DISPATCH = 1 << 1
    ANY = TRANSFER | DISPATCH


class ExecutionStage(enum.IntFlag):
    """``iree_hal_execution_stage_bits_t``."""

    NONE = 0
    COMMAND_ISSUE = 1 << 0
    COMMAND_PROCESS = 1 << 1
    DISPATCH = 1 << 2
    TRANSFER = 1 << 3
    COMMAND_RETIRE = 1 << 4
    HOST = 1 << 5


class DispatchFlags(enum.IntFlag):
    """``iree_hal_dispatch_flag_bits_t``."""

    NONE = 0
    DYNAMIC_INDIRECT_PARAMETERS = 1 << 0
    STATIC_INDIRECT_PARAMETERS = 1 << 1
    CUSTOM_DIRECT_ARGUMENTS = 1 << 2
    DYNAMIC_INDIRECT_ARGUMENTS = 1 << 3
    STATIC_INDIRECT_ARGUMENTS = 1 << 4
    ALLOW_INLINE_EXECUTION = 1 << 5
    BORROW_RESOURCE_LIFETIMES = 1 << 6

    @property
    def uses_indirect_parameters(self) -> bool:
        return bool(self & (DispatchFlags.STATIC_INDIRECT_PARAMETERS
                            | DispatchFlags.DYNAMIC_INDIRECT_PARAMETERS))

    @property
    def uses_custom_arguments(self) -> bool:
        return bool(self & (DispatchFlags.CUSTOM_DIRECT_ARGUMENTS
                            | DispatchFlags.STATIC_INDIRECT_ARGUMENTS
                            | DispatchFlags.DYNAMIC_INDIRECT_ARGUMENTS))


class EncodingType(enum.IntEnum):
    """``iree_hal_encoding_types_t``."""

    OPAQUE = 0
    DENSE_ROW_MAJOR = 1


# -- Bitfield formatting (iree_bitfield_format) ---------------------------------------

_MEMORY_TYPE_NAMES = (
    (MemoryType.HOST_LOCAL, "HOST_LOCAL"),
    (MemoryType.DEVICE_LOCAL, "DEVICE_LOCAL"),
    (MemoryType.OPTIMAL, "OPTIMAL"),
    (MemoryType.HOST_VISIBLE, "HOST_VISIBLE"),
    (MemoryType.HOST_COHERENT, "HOST_COHERENT"),
    (MemoryType.HOST_CACHED, "HOST_CACHED"),
    (MemoryType.DEVICE_VISIBLE, "DEVICE_VISIBLE"),
)
_MEMORY_ACCESS_NAMES = (
    (MemoryAccess.ALL, "ALL"),
    (MemoryAccess.DISCARD_WRITE, "DISCARD_WRITE"),
    (MemoryAccess.READ, "READ"),
    (MemoryAccess.WRITE, "WRITE"),
    (MemoryAccess.DISCARD, "DISCARD"),
    (MemoryAccess.MAY_ALIAS, "MAY_ALIAS"),
    (MemoryAccess.ANY, "ANY"),
)
_BUFFER_USAGE_NAMES = (
    (BufferUsage.TRANSFER, "TRANSFER"),
    (BufferUsage.DISPATCH, "DISPATCH"),
    (BufferUsage.DISPATCH_STORAGE, "DISPATCH_STORAGE"),
    (BufferUsage.DISPATCH_IMAGE, "DISPATCH_IMAGE"),
    (BufferUsage.MAPPING, "MAPPING"),
    (BufferUsage.TRANSFER_SOURCE, "TRANSFER_SOURCE"),
    (BufferUsage.TRANSFER_TARGET, "TRANSFER_TARGET"),
    (BufferUsage.DISPATCH_INDIRECT_PARAMETERS, "DISPATCH_INDIRECT_PARAMETERS"),
    (BufferUsage.DISPATCH_UNIFORM_READ, "DISPATCH_UNIFORM_READ"),
    (BufferUsage.DISPATCH_STORAGE_READ, "DISPATCH_STORAGE_READ"),
    (BufferUsage.DISPATCH_STORAGE_WRITE, "DISPATCH_STORAGE_WRITE"),
    (BufferUsage.DISPATCH_IMAGE_READ, "DISPATCH_IMAGE_READ"),
    (BufferUsage.DISPATCH_IMAGE_WRITE, "DISPATCH_IMAGE_WRITE"),
    (BufferUsage.SHARING_EXPORT, "SHARING_EXPORT"),
    (BufferUsage.SHARING_REPLICATE, "SHARING_REPLICATE"),
    (BufferUsage.SHARING_CONCURRENT, "SHARING_CONCURRENT"),
    (BufferUsage.SHARING_IMMUTABLE, "SHARING_IMMUTABLE"),
    (BufferUsage.MAPPING_SCOPED, "MAPPING_SCOPED"),
    (BufferUsage.MAPPING_PERSISTENT, "MAPPING_PERSISTENT"),
    (BufferUsage.MAPPING_OPTIONAL, "MAPPING_OPTIONAL"),
    (BufferUsage.MAPPING_ACCESS_RANDOM, "MAPPING_ACCESS_RANDOM"),
    (BufferUsage.MAPPING_ACCESS_SEQUENTIAL_WRITE, "MAPPING_ACCESS_SEQUENTIAL_WRITE"),
)


def _format_bitfield(value: int, names) -> str:
    remaining = int(value) & 0xFFFFFFFF
    parts = []
    for bits, name in names:
        bits = int(bits)
        if remaining & bits == bits:
            parts.append(name)
            remaining &= ~bits
    if remaining:
        parts.append(f"{remaining:X}h")
    return "|".join(parts)


def format_memory_type(value: int) -> str:
    return _format_bitfield(value, _MEMORY_TYPE_NAMES)


def format_memory_access(value: int) -> str:
    return _format_bitfield(value, _MEMORY_ACCESS_NAMES)


def format_buffer_usage(value: int) -> str:
    return _format_bitfield(value, _BUFFER_USAGE_NAMES)


# -- Element types (iree_hal_element_type_t) ------------------------------------------


class NumericalType(enum.IntEnum):
    """``iree_hal_numerical_type_t`` (the top byte of an element type)."""

    UNKNOWN = 0x00
    INTEGER = 0x10
    INTEGER_SIGNED = 0x11
    INTEGER_UNSIGNED = 0x12
    BOOLEAN = 0x13
    FLOAT = 0x20
    FLOAT_IEEE = 0x21
    FLOAT_BRAIN = 0x22
    FLOAT_COMPLEX = 0x23
    FLOAT_8_E5M2 = 0x24
    FLOAT_8_E4M3FN = 0x25
    FLOAT_8_E5M2_FNUZ = 0x26
    FLOAT_8_E4M3_FNUZ = 0x27
    FLOAT_8_E8M0_FNU = 0x28


def make_element_type(numerical_type: int, bit_count: int) -> int:
    return ((int(numerical_type) & 0xFF) << 24) | (int(bit_count) & 0xFF)


class ElementType(enum.IntEnum):
    """The named ``IREE_HAL_ELEMENT_TYPE_*`` values (other values are legal too)."""

    NONE = make_element_type(NumericalType.UNKNOWN, 0)
    OPAQUE_8 = make_element_type(NumericalType.UNKNOWN, 8)
    OPAQUE_16 = make_element_type(NumericalType.UNKNOWN, 16)
    OPAQUE_32 = make_element_type(NumericalType.UNKNOWN, 32)
    OPAQUE_64 = make_element_type(NumericalType.UNKNOWN, 64)
    BOOL_8 = make_element_type(NumericalType.BOOLEAN, 8)
    INT_4 = make_element_type(NumericalType.INTEGER, 4)
    SINT_4 = make_element_type(NumericalType.INTEGER_SIGNED, 4)
    UINT_4 = make_element_type(NumericalType.INTEGER_UNSIGNED, 4)
    INT_8 = make_element_type(NumericalType.INTEGER, 8)
    SINT_8 = make_element_type(NumericalType.INTEGER_SIGNED, 8)
    UINT_8 = make_element_type(NumericalType.INTEGER_UNSIGNED, 8)
    INT_16 = make_element_type(NumericalType.INTEGER, 16)
    SINT_16 = make_element_type(NumericalType.INTEGER_SIGNED, 16)
    UINT_16 = make_element_type(NumericalType.INTEGER_UNSIGNED, 16)
    INT_32 = make_element_type(NumericalType.INTEGER, 32)
    SINT_32 = make_element_type(NumericalType.INTEGER_SIGNED, 32)
    UINT_32 = make_element_type(NumericalType.INTEGER_UNSIGNED, 32)
    INT_64 = make_element_type(NumericalType.INTEGER, 64)
    SINT_64 = make_element_type(NumericalType.INTEGER_SIGNED, 64)
    UINT_64 = make_element_type(NumericalType.INTEGER_UNSIGNED, 64)
    FLOAT_16 = make_element_type(NumericalType.FLOAT_IEEE, 16)
    FLOAT_32 = make_element_type(NumericalType.FLOAT_IEEE, 32)
    FLOAT_64 = make_element_type(NumericalType.FLOAT_IEEE, 64)
    BFLOAT_16 = make_element_type(NumericalType.FLOAT_BRAIN, 16)
    COMPLEX_FLOAT_64 = make_element_type(NumericalType.FLOAT_COMPLEX, 64)
    COMPLEX_FLOAT_128 = make_element_type(NumericalType.FLOAT_COMPLEX, 128)
    FLOAT_8_E5M2 = make_element_type(NumericalType.FLOAT_8_E5M2, 8)
    FLOAT_8_E4M3_FN = make_element_type(NumericalType.FLOAT_8_E4M3FN, 8)
    FLOAT_8_E5M2_FNUZ = make_element_type(NumericalType.FLOAT_8_E5M2_FNUZ, 8)
    FLOAT_8_E4M3_FNUZ = make_element_type(NumericalType.FLOAT_8_E4M3_FNUZ, 8)
    FLOAT_8_E8M0_FNU = make_element_type(NumericalType.FLOAT_8_E8M0_FNU, 8)


def element_numerical_type(element_type: int) -> int:
    return (int(element_type) >> 24) & 0xFF


def element_bit_count(element_type: int) -> int:
    return int(element_type) & 0xFF


def element_dense_byte_count(element_type: int) -> int:
    """``iree_hal_element_dense_byte_count``: bytes per element, sub-byte rounded up."""
    return (element_bit_count(element_type) + 7) // 8


def element_packed_byte_count(element_type: int, element_count: int) -> int:
    """``iree_hal_element_packed_byte_count``: sub-byte types share bytes."""
    return (element_count * element_bit_count(element_type) + 7) // 8


def element_is_integer(element_type: int) -> bool:
    n = element_numerical_type(element_type)
    return n & NumericalType.INTEGER == NumericalType.INTEGER


def element_is_opaque(element_type: int) -> bool:
    return element_numerical_type(element_type) == NumericalType.UNKNOWN


_SPECIAL_ELEMENT_NAMES = {
    ElementType.FLOAT_8_E5M2: "f8E5M2",
    ElementType.FLOAT_8_E4M3_FN: "f8E4M3FN",
    ElementType.FLOAT_8_E5M2_FNUZ: "f8E5M2FNUZ",
    ElementType.FLOAT_8_E4M3_FNUZ: "f8E4M3FNUZ",
    ElementType.FLOAT_8_E8M0_FNU: "f8E8M0FNU",
}
_SPECIAL_ELEMENT_TYPES = {name: value for value, name in _SPECIAL_ELEMENT_NAMES.items()}
_NUMERICAL_PREFIXES = {
    NumericalType.BOOLEAN: "i",
    NumericalType.INTEGER: "i",
    NumericalType.INTEGER_SIGNED: "si",
    NumericalType.INTEGER_UNSIGNED: "ui",
    NumericalType.FLOAT_IEEE: "f",
    NumericalType.FLOAT_BRAIN: "bf",
    NumericalType.FLOAT_COMPLEX: "cf",
}


def format_element_type(element_type: int) -> str:
    """``iree_hal_format_element_type``: ``f32``, ``i1`` (bool), ``si8``, ``*32``..."""
    element_type = int(element_type) & 0xFFFFFFFF
    special = _SPECIAL_ELEMENT_NAMES.get(element_type)
    if special is not None:
        return special
    numerical = element_numerical_type(element_type)
    bit_count = element_bit_count(element_type)
    if numerical == NumericalType.BOOLEAN:
        bit_count = 1
    return f"{_NUMERICAL_PREFIXES.get(numerical, '*')}{bit_count}"


def _atoi_u32(text: str) -> int | None:
    # iree_string_view_atoi_uint32: strtoul base 10 over the whole string.
    if not text or not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if value <= 0xFFFFFFFF else None


def parse_element_type(text: str) -> int:
    """``iree_hal_parse_element_type``; raises INVALID_ARGUMENT like IREE."""
    if text == "i1":
        return make_element_type(NumericalType.BOOLEAN, 8)
    rest = text
    if rest.startswith("i"):
        numerical, rest = NumericalType.INTEGER, rest[1:]
    elif rest.startswith("si"):
        numerical, rest = NumericalType.INTEGER_SIGNED, rest[2:]
    elif rest.startswith("ui"):
        numerical, rest = NumericalType.INTEGER_UNSIGNED, rest[2:]
    elif rest in _SPECIAL_ELEMENT_TYPES:
        return int(_SPECIAL_ELEMENT_TYPES[rest])
    elif rest.startswith("f"):
        numerical, rest = NumericalType.FLOAT_IEEE, rest[1:]
    elif rest.startswith("bf"):
        numerical, rest = NumericalType.FLOAT_BRAIN, rest[2:]
    elif rest.startswith("cf"):
        numerical, rest = NumericalType.FLOAT_COMPLEX, rest[2:]
    elif rest.startswith("x") or rest.startswith("*"):
        numerical, rest = NumericalType.UNKNOWN, rest[1:]
    else:
        raise status(StatusCode.INVALID_ARGUMENT, f"unhandled element type prefix in '{text}'")
    bit_count = _atoi_u32(rest)
    if bit_count is None or bit_count > 0xFF:
        raise status(StatusCode.INVALID_ARGUMENT, f"out of range bit count in '{text}'")
    return make_element_type(numerical, bit_count)


# numpy dtypes for element types whose bytes numpy can interpret directly.
_ELEMENT_DTYPES: dict[int, np.dtype] = {
    ElementType.BOOL_8: np.dtype(np.bool_),
    ElementType.INT_8: np.dtype(np.int8),
    ElementType.SINT_8: np.dtype(np.int8),
    ElementType.UINT_8: np.dtype(np.uint8),
    ElementType.INT_16: np.dtype(np.int16),
    ElementType.SINT_16: np.dtype(np.int16),
    ElementType.UINT_16: np.dtype(np.uint16),
    ElementType.INT_32: np.dtype(np.int32),
    ElementType.SINT_32: np.dtype(np.int32),
    ElementType.UINT_32: np.dtype(np.uint32),
    ElementType.INT_64: np.dtype(np.int64),
    ElementType.SINT_64: np.dtype(np.int64),
    ElementType.UINT_64: np.dtype(np.uint64),
    ElementType.FLOAT_16: np.dtype(np.float16),
    ElementType.FLOAT_32: np.dtype(np.float32),
    ElementType.FLOAT_64: np.dtype(np.float64),
    ElementType.COMPLEX_FLOAT_64: np.dtype(np.complex64),
    ElementType.COMPLEX_FLOAT_128: np.dtype(np.complex128),
}
# Element types numpy lacks, by their ml_dtypes name. ml_dtypes is imported on first
# use only: its import costs more than the rest of `iree-lab run`'s start-up.
_ML_DTYPE_NAMES: dict[int, str] = {
    ElementType.BFLOAT_16: "bfloat16",
    ElementType.FLOAT_8_E5M2: "float8_e5m2",
    ElementType.FLOAT_8_E4M3_FN: "float8_e4m3fn",
    ElementType.FLOAT_8_E5M2_FNUZ: "float8_e5m2fnuz",
    ElementType.FLOAT_8_E4M3_FNUZ: "float8_e4m3fnuz",
    ElementType.FLOAT_8_E8M0_FNU: "float8_e8m0fnu",
    ElementType.INT_4: "int4",
    ElementType.SINT_4: "int4",
    ElementType.UINT_4: "uint4",
}


@functools.cache
def _ml_dtype(name: str) -> np.dtype:
    import ml_dtypes

    return np.dtype(getattr(ml_dtypes, name))


def element_dtype(element_type: int) -> np.dtype | None:
    """The numpy dtype of one *unpacked* element, or None for opaque/odd types.

    Sub-byte types (i4) map to ml_dtypes' one-byte-per-element types; their
    packed storage needs :func:`unpack_sub_byte` first.
    """
    element_type = int(element_type) & 0xFFFFFFFF
    dtype = _ELEMENT_DTYPES.get(element_type)
    if dtype is None and element_type in _ML_DTYPE_NAMES:
        dtype = _ml_dtype(_ML_DTYPE_NAMES[element_type])
    return dtype


def element_type_for_dtype(dtype) -> int:
    """The element type IREE uses for a numpy dtype (as numpy_io does on load)."""
    dtype = np.dtype(dtype)
    for element_type, candidate in _DTYPE_ORDER:
        if candidate == dtype if isinstance(candidate, np.dtype) else candidate == dtype.name:
            return int(element_type)
    raise status(StatusCode.UNIMPLEMENTED, f"unsupported numpy dtype {dtype}")


# Preferred element type per dtype (ml_dtypes ones by name): signless integers as IREE's
# tools produce them.
_DTYPE_ORDER = [
    (ElementType.BOOL_8, np.dtype(np.bool_)),
    (ElementType.INT_8, np.dtype(np.int8)),
    (ElementType.UINT_8, np.dtype(np.uint8)),
    (ElementType.INT_16, np.dtype(np.int16)),
    (ElementType.UINT_16, np.dtype(np.uint16)),
    (ElementType.INT_32, np.dtype(np.int32)),
    (ElementType.UINT_32, np.dtype(np.uint32)),
    (ElementType.INT_64, np.dtype(np.int64)),
    (ElementType.UINT_64, np.dtype(np.uint64)),
    (ElementType.FLOAT_16, np.dtype(np.float16)),
    (ElementType.FLOAT_32, np.dtype(np.float32)),
    (ElementType.FLOAT_64, np.dtype(np.float64)),
    (ElementType.BFLOAT_16, "bfloat16"),
    (ElementType.COMPLEX_FLOAT_64, np.dtype(np.complex64)),
    (ElementType.COMPLEX_FLOAT_128, np.dtype(np.complex128)),
    (ElementType.FLOAT_8_E5M2, "float8_e5m2"),
    (ElementType.FLOAT_8_E4M3_FN, "float8_e4m3fn"),
    (ElementType.FLOAT_8_E5M2_FNUZ, "float8_e5m2fnuz"),
    (ElementType.FLOAT_8_E4M3_FNUZ, "float8_e4m3fnuz"),
    (ElementType.FLOAT_8_E8M0_FNU, "float8_e8m0fnu"),
    (ElementType.INT_4, "int4"),
    (ElementType.UINT_4, "uint4"),
]
