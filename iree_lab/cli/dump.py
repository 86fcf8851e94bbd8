"""``iree-lab dump``: prints what ``iree-dump-module`` prints, byte for byte.

Flags follow iree-dump-module: ``--output=all|metadata|disassembly|flatbuffer-binary|
flatbuffer-json`` (default ``all``), ``--function=NAME|ORDINAL``, ``--bytecode_offsets``
and ``--pretty``.
The metadata text reproduces IREE 3.13's printf formats exactly, including
C details: ``%d`` of unsigned fields, ``(null)`` for absent strings, strings
cut at an embedded NUL, size_t wrap-around of the state size estimate.
"""

from __future__ import annotations

import argparse
import functools
import io
import sys

from iree_lab.errors import FormatError, IreeLabError

_RULE = "//===" + "-" * 110 + "===//\n"
_MASK64 = (1 << 64) - 1
# Bytes for which C's isprint() is true in the "C" locale.
_PRINTABLE = bytes(range(0x20, 0x7F))
_SCAN_CHUNK = 1 << 16


def add_parser(sub) -> None:
    p = sub.add_parser(
        "dump",
        help="print module metadata and disassembly (like iree-dump-module)",
        description="Prints VM module details, byte-identical to iree-dump-module.",
    )
    p.add_argument("--output", default="all",
                   help="all (default) | metadata | disassembly | flatbuffer-binary | "
                        "flatbuffer-json")
    p.add_argument("--function", default="",
                   help="limit disassembly to one function (name or internal ordinal)")
    _add_bool_flag(p, "--bytecode_offsets", "include bytecode offsets in the disassembly")
    _add_bool_flag(p, "--pretty", "indent --output=flatbuffer-json")
    p.add_argument("module", metavar="FILE", help="module file (.vmfb)")
    p.set_defaults(func=run)


def _add_bool_flag(parser, flag: str, help: str) -> None:
    """An IREE-style boolean flag: ``--flag``, ``--flag=true`` or ``--flag=false``.

    Never ``--flag VALUE``: like IREE's parser, the next word stays a positional
    (``--pretty module.vmfb`` must not read the file name as the flag's value).
    """
    dest = flag.lstrip("-")
    parser.add_argument(flag, dest=dest, action="store_true", help=help)
    for value in ("true", "1"):
        parser.add_argument(f"{flag}={value}", dest=dest, action="store_true",
                            help=argparse.SUPPRESS)
    for value in ("false", "0"):
        parser.add_argument(f"{flag}={value}", dest=dest, action="store_false",
                            help=argparse.SUPPRESS)


def run(args) -> int:
    from iree_lab.format import open_module

    output = args.output
    if output not in ("all", "metadata", "disassembly", "flatbuffer-binary", "flatbuffer-json"):
        raise IreeLabError(f"unrecognized --output= flag value '{output}'")
    bytecode_offsets = args.bytecode_offsets
    pretty = args.pretty
    try:
        module = open_module(args.module)
    except OSError as e:
        raise IreeLabError(f"failed to open file '{args.module}': {e.strerror or e}") from e
    # Like iree-dump-module: refuse (with flatcc's reason) what IREE's verifier refuses.
    module.verify_flatbuffer()
    stdout = sys.stdout.buffer
    if output == "flatbuffer-binary":
        stdout.write(module.flatbuffer)
        stdout.flush()
        return 0
    if output == "flatbuffer-json":
        from iree_lab.format.json_printer import flatbuffer_json
        from iree_lab.format.module import ROOT_TYPE

        text = flatbuffer_json(module.container.flatbuffer, ROOT_TYPE, pretty=pretty)
        stdout.write(text.encode("utf-8", "surrogateescape"))
        stdout.flush()
        return 0
    # Metadata is read from the FlatBuffer whatever the version (iree-dump-module prints it
    # too); decoding bytecode needs rules iree_lab knows.
    disassemble = output in ("all", "disassembly")
    if disassemble:
        module.check_bytecode_version()
    note = module.bytecode_version_note
    if note:  # stdout stays what that release's iree-dump-module prints
        print(f"iree-lab dump: note: {args.module}: {note}", file=sys.stderr)
    text = io.StringIO()
    if output in ("all", "metadata"):
        write_metadata(module, text)
    if output == "all":
        text.write("\n")
    if disassemble:
        from iree_lab.isa.disassembler import write_disassembly

        write_disassembly(module, text, bytecode_offsets=bytecode_offsets,
                          function=args.function or None)
    # Everything is formatted before anything is written: an error never leaves half a dump.
    stdout.write(text.getvalue().encode("utf-8", "surrogateescape"))
    stdout.flush()
    return 0


# --------------------------------------------------------------------------
# --output=metadata
# --------------------------------------------------------------------------


def _cstr(value: str | None) -> str:
    """What printf("%s") shows: "(null)" for NULL, text up to the first NUL."""
    if value is None:
        return "(null)"
    return value.split("\0", 1)[0]


def _i32(value: int) -> int:
    """An unsigned 32-bit value printed with %d."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def _section_header(out, title: str) -> None:
    out.write(_RULE)
    out.write(f"// {title}\n")
    out.write(_RULE)


def format_feature_bits(bits: int) -> str:
    """iree-dump-module's feature list: EXT_F32/EXT_F64 by name, other bits as %08X."""
    parts = []
    if bits & 1:
        parts.append("EXT_F32")
        bits &= ~1
    if bits & 2:
        parts.append("EXT_F64")
        bits &= ~2
    if bits:
        parts.append(f"{bits:08X}")
    return " | ".join(parts)


def _cconv_fragment(fragment: str, where: str) -> str:
    parts = []
    i = 0
    while i < len(fragment):
        c = fragment[i]
        text = {"v": "", "i": "i32", "f": "f32", "I": "i64", "F": "f64", "r": "!vm.ref<?>"}.get(c)
        if text is None:
            if c != "C":
                raise FormatError(f"unsupported cconv type '{c}'", where=where)
            end = fragment.find("D", i + 1)
            if end < 0:
                raise FormatError("unterminated cconv span", where=where)
            text = f"tuple<{_cconv_fragment(fragment[i + 1:end], where)}>..."
            i = end
        parts.append(text)
        i += 1
    return ", ".join(parts)


def format_cconv(calling_convention: str, where: str) -> str:
    """``(args) -> (results)`` as iree-dump-module prints a calling convention."""
    try:
        return _format_cconv(_cstr(calling_convention))
    except FormatError as e:
        raise FormatError(e.what, where=where) from None


@functools.lru_cache(maxsize=4096)  # modules repeat a few conventions many times
def _format_cconv(cconv: str) -> str:
    from iree_lab.format import cconv_fragments

    arguments, results = cconv_fragments(cconv)
    return f"({_cconv_fragment(arguments, None)}) -> ({_cconv_fragment(results, None)})"


def _write_attrs(out, table, indent: int) -> None:
    attrs = table.vector("attrs") if table is not None else None
    for attr in attrs or ():
        out.write(" " * indent)
        out.write(f"{_cstr(attr.string('key'))}: {_cstr(attr.string('value'))}\n")


def _string_preview(data: memoryview) -> str | None:
    """iree_tooling_data_is_string: printable up to the first NUL (or the end)."""
    total = len(data)
    length = total
    preview = b""
    for start in range(0, total, _SCAN_CHUNK):
        chunk = bytes(data[start:start + _SCAN_CHUNK])
        nul = chunk.find(0)
        if nul >= 0:
            chunk = chunk[:nul]
            length = start + nul
        if chunk.translate(None, _PRINTABLE):
            return None
        if len(preview) < 32:
            preview += chunk[:32 - len(preview)]
        if nul >= 0:
            break
    text = preview.decode("ascii")
    return f" `{text}`" + ("..." if length >= 32 else "")


def write_metadata(module, out) -> None:
    """Writes ``iree-dump-module --output=metadata`` text for ``module`` to ``out``."""
    root = module.root_table
    version = _i32(module.version)
    _section_header(out, f"@{_cstr(module.name)} : version {version}")
    out.write("\n")

    if root.has("requirements"):
        out.write(f"Requirements: {format_feature_bits(module.requirements)}\n\n")

    if root.has("attrs"):
        out.write("Attributes:\n")
        _write_attrs(out, root, 2)
        out.write("\n")

    if root.has("types"):
        out.write("Required Types:\n")
        for t in module.types:
            out.write(f"  [{t.ordinal:3d}] {_cstr(t.full_name)}\n")
        out.write("\n")

    if root.has("dependencies"):
        out.write("Module Dependencies:\n")
        for d in module.dependencies:
            kind = "optional" if d.is_optional else "required"
            out.write(f"  {_cstr(d.name)}, version >= {_i32(d.minimum_version)}, {kind}\n")
        out.write("\n")

    if root.has("imported_functions"):
        from iree_lab.format.module import FLAG_OPTIONAL

        out.write("Imported Functions:\n")
        for i, t in enumerate(root.vector("imported_functions")):
            where = f"module.fb/imported_functions[{i}]"
            optional = "?" if t.scalar("flags") & FLAG_OPTIONAL else ""
            line = f"  [{i:3d}] {optional}{_cstr(t.string('full_name'))}"
            signature = t.table("signature")
            if signature is not None and signature.has("calling_convention"):
                line += format_cconv(signature.string("calling_convention"), where)
            out.write(line + "\n")
            _write_attrs(out, signature, 8)
        out.write("\n")

    if root.has("exported_functions"):
        out.write("Exported Functions:\n")
        signatures = root.vector("function_signatures")
        for i, t in enumerate(root.vector("exported_functions")):
            where = f"module.fb/exported_functions[{i}]"
            ordinal = t.scalar("internal_ordinal")
            if signatures is None or not 0 <= ordinal < len(signatures):
                raise FormatError(
                    f"export refers to internal function {ordinal} but the module has "
                    f"{0 if signatures is None else len(signatures)} function signatures",
                    where=where)
            signature = signatures[ordinal]
            line = f"  [{i:3d}] {_cstr(t.string('local_name'))}"
            if signature.has("calling_convention"):
                line += format_cconv(signature.string("calling_convention"), where)
            out.write(line + "\n")
            _write_attrs(out, signature, 8)
        out.write("\n")

    _section_header(out, "Sections")
    out.write("\n")

    if root.has("module_state"):
        capacity, refs = module.global_bytes_capacity, module.global_ref_count
        total = (capacity + 16 * refs) & _MASK64  # + sizeof(iree_vm_ref_t) * refs, in size_t
        out.write(f"Module State:\n  {capacity} bytes, {refs} refs, ~{total} bytes total\n\n")

    out.write(f"FlatBuffer: {module.flatbuffer_size} bytes\n")
    if root.has("bytecode_data"):
        out.write(f"  Bytecode: {len(module.bytecode)} bytes\n")
    external_size = 0
    for segment in module.rodata:
        line = f"  .rodata[{segment.ordinal:3d}] "
        if segment.compression == "uncompressed":
            line += "uncompressed "
        if not segment.is_external:
            line += f"embedded {segment.size:8d} bytes"
            preview = _string_preview(segment.data)
            if preview is not None:
                line += preview
        else:
            offset, length = segment.external_data_offset, segment.external_data_length
            external_size = (external_size + length) & _MASK64
            line += (f"external {length:8d} bytes (offset {offset} / {offset:X}h to "
                     f"{(offset + length) & _MASK64:X}h)")
        out.write(line + "\n")
    for segment in module.rwdata:
        out.write(f"  .rwdata[{segment.ordinal:3d}] {segment.byte_size} bytes\n")
    out.write("\n")
    if external_size > 0:
        out.write(f"External .rodata: ~{external_size} bytes\n\n")

    _section_header(out, f"Bytecode : version {version}")
    out.write("\n")

    if root.has("function_descriptors"):
        out.write("  # | Offset   |   Length | Blocks | i32 # | ref # | Requirements | Aliases\n")
        out.write("----+----------+----------+--------+-------+-------+--------------+-"
                  + "-" * 52 + "\n")
        aliases: dict[int, list[str]] = {}
        for t in root.vector("exported_functions") or ():
            aliases.setdefault(t.scalar("internal_ordinal"), []).append(
                _cstr(t.string("local_name")))
        rows = root.vector("function_descriptors").unpack_all("iiIhhhh")
        for i, (offset, length, requirements, _, blocks, i32s, refs) in enumerate(rows):
            bits = format_feature_bits(requirements)
            width = len(bits) - 3 * bits.count(" | ")  # IREE pads by name length only
            out.write(
                f"{i:3d} | {offset & 0xFFFFFFFF:08X} | {length:8d} | {blocks:6d} | {i32s:5d} | "
                f"{refs:5d} | {bits}{' ' * max(0, 12 - width)} | "
                f"{', '.join(aliases.get(i, ()))}\n")
    out.write("\n")

    if root.has("debug_database"):
        _section_header(out, "Debug Information")
        out.write("// NOTE: debug databases are large and should be stripped in deployed "
                  "artifacts.\n\n")
        out.write(f"Locations: {module.debug_database.location_count}\n\n")
