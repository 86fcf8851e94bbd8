"""Test-only writers of parameter files: safetensors, GGUF and IREE parameter archives.

Written from the format descriptions (safetensors: 8-byte header length + JSON;
GGUF v2/v3: header, metadata, tensor infos, aligned data; IRPA: IREE's
``parameter_archive.h``) so tests can make files that IREE's tools then read,
including deliberately damaged ones.
"""

from __future__ import annotations

import json
import struct

import numpy as np

SAFETENSORS_DTYPES = {np.dtype(k): v for k, v in {
    "float32": "F32", "float16": "F16", "float64": "F64", "int8": "I8", "int16": "I16",
    "int32": "I32", "int64": "I64", "uint8": "U8", "bool": "BOOL"}.items()}


def safetensors_bytes(tensors: dict, *, metadata: dict | None = None, align: int = 8) -> bytes:
    """A safetensors file of ``name -> numpy array`` in the given order."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    blobs, offset = [], 0
    for name, array in tensors.items():
        array = np.ascontiguousarray(array)
        data = array.tobytes()
        header[name] = {"dtype": SAFETENSORS_DTYPES[array.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % align)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


GGML_TYPES = {np.dtype("float32"): 0, np.dtype("float16"): 1, np.dtype("int8"): 16,
              np.dtype("int16"): 17, np.dtype("int32"): 18}


def _gguf_string(s: str) -> bytes:
    data = s.encode()
    return struct.pack("<Q", len(data)) + data


def gguf_bytes(tensors: dict, *, version: int = 3, alignment: int | None = None,
               metadata: list | None = None) -> bytes:
    """A GGUF file; ``metadata`` is a list of (key, type id, packed value bytes)."""
    kvs = list(metadata or [])
    if alignment is not None:
        kvs.insert(0, ("general.alignment", 4, struct.pack("<I", alignment)))
    align = alignment or 32
    out = [struct.pack("<IIQQ", 0x46554747, version, len(tensors), len(kvs))]
    for key, vtype, packed in kvs:
        out.append(_gguf_string(key) + struct.pack("<I", vtype) + packed)
    infos, blobs, offset = [], [], 0
    for name, array in tensors.items():
        array = np.ascontiguousarray(array)
        dims = list(reversed(array.shape)) or [1]
        offset = (offset + align - 1) // align * align
        infos.append(_gguf_string(name) + struct.pack(f"<I{len(dims)}QIQ", len(dims), *dims,
                                                       GGML_TYPES[array.dtype], offset))
        blobs.append((offset, array.tobytes()))
        offset += array.nbytes
    head = b"".join(out) + b"".join(infos)
    head += b"\0" * (-len(head) % align)
    data = bytearray(offset)
    for at, blob in blobs:
        data[at:at + len(blob)] = blob
    return head + bytes(data)


def irpa_bytes(entries: list, *, data_alignment: int = 64, next_header_offset: int = 0,
               entry_count: int | None = None) -> bytes:
    """An IRPA v0 archive. ``entries``: ("data", name, bytes) | ("splat", name, length,
    pattern bytes) | ("skip", name) | ("external", name)."""
    metadata = bytearray()
    table = bytearray()
    storage = bytearray()
    for entry in entries:
        kind, name = entry[0], entry[1].encode()
        name_ref = (len(metadata), len(name))
        metadata += name
        types = {"skip": 0, "splat": 1, "data": 2, "external": 3}
        tail = b""
        if kind == "data":
            storage += b"\0" * (-len(storage) % data_alignment)
            tail = struct.pack("<QQ", len(storage), len(entry[2]))
            storage += entry[2]
        elif kind == "splat":
            pattern = entry[3]
            tail = struct.pack("<Q16sB", entry[2], pattern.ljust(16, b"\0"), len(pattern))
        elif kind == "external":
            tail = struct.pack("<QQQQ", 0, 0, 0, 0)
        size = 60 + len(tail)
        table += struct.pack("<QIQQQQQQ", size, types[kind], 0, *name_ref, 0, 0,
                             data_alignment if kind == "data" else 0) + tail
        table += b"\0" * (-len(table) % 16)
    header_size = 88
    table_offset = header_size
    metadata_offset = table_offset + len(table)
    storage_offset = (metadata_offset + len(metadata) + data_alignment - 1) // data_alignment \
        * data_alignment
    header = struct.pack("<IHHQQQQQQQQQQ", 0x41505249, 0, 0, header_size, next_header_offset, 0,
                         len(entries) if entry_count is None else entry_count,
                         table_offset, len(table), metadata_offset, len(metadata),
                         storage_offset, len(storage))
    body = header + bytes(table) + bytes(metadata)
    body += b"\0" * (storage_offset - len(body))
    return body + bytes(storage)
