"""GGUF files (v2, v3): header, metadata key/values, tensor infos, aligned tensor data.

Follows IREE's parser (``io/formats/gguf/gguf_parser.c``): metadata values are
skipped except ``general.alignment`` (uint32, default 32), the tensor data
starts at the end of the tensor infos rounded up to that alignment, and each
tensor's byte size is computed from its ggml type and dimensions (types IREE
does not know are UNIMPLEMENTED). Unlike IREE, a zero or non-power-of-two
alignment and a data start past the end of the file are errors here.
"""

from __future__ import annotations

import struct

from iree_lab.format.parameters.archive import ParameterEntry, ParameterFile, ParameterFormatError

MAGIC = 0x46554747  # "GGUF"
DEFAULT_ALIGNMENT = 32

# ggml type -> (name, block size in elements, bytes per block), as IREE's table.
GGML_TYPES = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 40),
    10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292),
    16: ("I8", 1, 1), 17: ("I16", 1, 2), 18: ("I32", 1, 4),
}
# Metadata value type -> byte size (0: variable: string 8, array 9).
VALUE_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 8: 0, 9: 0, 10: 8, 11: 8, 12: 8}
TYPE_UINT32, TYPE_STRING, TYPE_ARRAY = 4, 8, 9
MAX_DIMENSIONS = 1 << 16


class _Reader:
    def __init__(self, file: ParameterFile):
        self.file = file
        self.data = file.data
        self.pos = 0

    def fail(self, what, code="OUT_OF_RANGE", at=None, key=None):
        return ParameterFormatError(what, code=code, path=self.file.path,
                                    offset=self.pos if at is None else at, key=key)

    def take(self, n: int, what: str) -> int:
        if self.file.size - self.pos < n:
            raise self.fail(f"file buffer underrun parsing {what} ({n} bytes needed, "
                            f"{self.file.size - self.pos} available)")
        at = self.pos
        self.pos += n
        return at

    def u32(self, what="4 byte value") -> int:
        return struct.unpack_from("<I", self.data, self.take(4, what))[0]

    def u64(self, what="8 byte value") -> int:
        return struct.unpack_from("<Q", self.data, self.take(8, what))[0]

    def string(self, what="string") -> str:
        n = self.u64(f"{what} length")
        at = self.take(n, what)
        return bytes(self.data[at:at + n]).decode("utf-8", "surrogateescape")

    def skip_value(self, value_type: int, key: str) -> int | None:
        """Skips one metadata value; returns it when it is a uint32."""
        if value_type not in VALUE_SIZES:
            raise self.fail(f"unsupported metadata value type {value_type}",
                            "INVALID_ARGUMENT", key=key)
        if value_type == TYPE_STRING:
            self.string("metadata string")
        elif value_type == TYPE_ARRAY:
            element_type = self.u32("array element type")
            count = self.u64("array length")
            if element_type == TYPE_ARRAY:
                raise self.fail("nested arrays not supported in gguf", "INVALID_ARGUMENT",
                                key=key)
            if element_type not in VALUE_SIZES:
                raise self.fail(f"unsupported metadata value type {element_type}",
                                "INVALID_ARGUMENT", key=key)
            if element_type == TYPE_STRING:
                if count > (self.file.size - self.pos) // 8:
                    raise self.fail("file buffer underrun parsing array", key=key)
                for _ in range(count):
                    self.string("metadata string")
            else:
                self.take(count * VALUE_SIZES[element_type], "array")
        else:
            at = self.take(VALUE_SIZES[value_type], "metadata value")
            if value_type == TYPE_UINT32:
                return struct.unpack_from("<I", self.data, at)[0]
        return None

    def tensor_info(self):
        at = self.pos
        name = self.string("tensor name")
        n_dims = self.u32("tensor dimension count")
        if n_dims > MAX_DIMENSIONS:
            raise self.fail(f"tensor has {n_dims} dimensions", "INVALID_ARGUMENT", at, name)
        dims_at = self.take(8 * n_dims, "tensor dimensions")
        dims = struct.unpack_from(f"<{n_dims}Q", self.data, dims_at)
        ggml_type = self.u32("tensor type")
        offset = self.u64("tensor offset")
        return at, name, dims, ggml_type, offset


def parse_gguf(file: ParameterFile) -> list[ParameterEntry]:
    r = _Reader(file)
    magic = r.u32("magic")
    if magic != MAGIC:
        raise r.fail(f"GGUF file magic missing or invalid {magic:08X}; expected {MAGIC:08X}",
                     "INVALID_ARGUMENT", 0)
    version = r.u32("version")
    if not 2 <= version <= 3:
        raise r.fail(f"GGUF format version {version} is unsupported; expected version 2-3",
                     "UNIMPLEMENTED", 4)
    tensor_count = r.u64("tensor count")
    kv_count = r.u64("metadata count")
    if tensor_count == 0:
        return []  # legal, if unlikely to be what anyone wanted (IREE stops here too)
    alignment = DEFAULT_ALIGNMENT
    for _ in range(kv_count):
        at = r.pos
        key = r.string("metadata key")
        value_type = r.u32("metadata value type")
        value = r.skip_value(value_type, key)
        if key == "general.alignment":
            if value_type != TYPE_UINT32:
                raise r.fail("general.alignment metadata value must be uint32",
                             "INVALID_ARGUMENT", at, key)
            if value == 0 or value & (value - 1):
                raise r.fail(f"general.alignment {value} is not a power of two",
                             "INVALID_ARGUMENT", at, key)
            alignment = value
    infos_at = r.pos
    infos = [r.tensor_info() for _ in range(tensor_count)]
    data_offset = (r.pos + alignment - 1) // alignment * alignment
    if data_offset > file.size:
        raise r.fail(f"tensor data would start at {data_offset}, past the end of the "
                     f"{file.size}-byte file", at=infos_at)
    data_size = file.size - data_offset
    entries = []
    for at, name, dims, ggml_type, offset in infos:
        traits = GGML_TYPES.get(ggml_type)
        if traits is None:
            raise r.fail(f"GGML tensor type {ggml_type} not supported", "UNIMPLEMENTED", at,
                         name)
        type_name, block_size, block_bytes = traits
        count = 1
        for d in dims:
            count *= d
        length = count * block_bytes // block_size
        end = offset + length
        if end > data_size:
            raise r.fail(f"entry has data offsets outside of the available data (begin={offset}, "
                         f"end={end}, available={data_size})", "INVALID_ARGUMENT", at, name)
        entries.append(ParameterEntry(
            name, length, "file", file, offset=data_offset + offset, dtype=type_name,
            shape=tuple(reversed(dims)), header_offset=at, alignment=alignment))
    return entries
