#!/usr/bin/env python3
"""Regenerates the code derived from schemas/*.fbs.

Two products per run, both committed:

* ``flatc --python`` readers/builders for every schema, under
  ``tests/flatc_generated/iree/...`` (only tests use them, so they are not part of the
  runtime package). flatc writes absolute imports (``from iree.vm.X``) which would
  resolve to IREE's own ``iree`` package, so they are rewritten to
  ``flatc_generated.iree...``. These are flatc's unchecked readers: tests use them as
  an independent oracle and to build hostile modules.
* ``iree_lab/format/generated/layouts.py``: a compact description of every table, struct,
  enum and union (field slots, kinds, defaults, struct layouts). The checked
  reader in ``iree_lab/format/flatbuffer.py`` is driven by it, so field slots
  are never written by hand. It is produced by the small .fbs parser below
  (our schemas only use the plain subset of the language); tests cross-check
  every slot against flatc's generated code.

Usage: python tools/gen_schemas.py [--flatc PATH]
"""

from __future__ import annotations

import argparse
import pprint
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCHEMAS = REPO / "schemas"
OUT = REPO / "iree_lab" / "format" / "generated"
FLATC_OUT = REPO / "tests" / "flatc_generated"

# FlatBuffers scalar type -> (struct format char, byte size).
SCALARS = {
    "bool": ("?", 1), "byte": ("b", 1), "ubyte": ("B", 1), "int8": ("b", 1), "uint8": ("B", 1),
    "short": ("h", 2), "ushort": ("H", 2), "int16": ("h", 2), "uint16": ("H", 2),
    "int": ("i", 4), "uint": ("I", 4), "int32": ("i", 4), "uint32": ("I", 4),
    "long": ("q", 8), "ulong": ("Q", 8), "int64": ("q", 8), "uint64": ("Q", 8),
    "float": ("f", 4), "double": ("d", 8), "float32": ("f", 4), "float64": ("d", 8),
}

_TOKEN = re.compile(
    r'\s*(?:(//[^\n]*)|("(?:[^"\\]|\\.)*")|([A-Za-z_][A-Za-z0-9_.]*)|(-?[0-9][0-9a-fA-Fx.]*)|(\S))'
)


def _tokenize(text: str) -> list[str]:
    tokens = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            break
        pos = m.end()
        if m.group(1):
            continue  # comment
        tokens.append(next(g for g in m.groups()[1:] if g is not None))
    return tokens


class _Parser:
    """Parses the subset of the FlatBuffers schema language our schemas use."""

    def __init__(self, path: Path):
        self.path = path
        self.tokens = _tokenize(path.read_text())
        self.i = 0
        self.namespace = ""
        self.includes: list[str] = []
        self.identifier: str | None = None
        self.root_type: str | None = None
        # Qualified name -> definition (ordered as declared).
        self.enums: dict[str, dict] = {}
        self.unions: dict[str, dict] = {}
        self.structs: dict[str, dict] = {}
        self.tables: dict[str, dict] = {}

    def peek(self):
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, expected=None):
        tok = self.peek()
        if tok is None or (expected is not None and tok != expected):
            raise SyntaxError(f"{self.path}: expected {expected!r}, got {tok!r}")
        self.i += 1
        return tok

    def qualify(self, name: str) -> str:
        return name if "." in name else f"{self.namespace}.{name}"

    def attributes(self) -> dict:
        attrs = {}
        if self.peek() == "(":
            self.take("(")
            while self.peek() != ")":
                key = self.take()
                value = True
                if self.peek() == ":":
                    self.take(":")
                    value = self.take().strip('"')
                attrs[key] = value
                if self.peek() == ",":
                    self.take(",")
            self.take(")")
        return attrs

    def parse(self):
        while (tok := self.peek()) is not None:
            if tok == "namespace":
                self.take()
                self.namespace = self.take()
                self.take(";")
            elif tok == "include":
                self.take()
                self.includes.append(self.take().strip('"'))
                self.take(";")
            elif tok in ("file_identifier", "file_extension", "root_type", "attribute"):
                self.take()
                value = self.take().strip('"')
                self.take(";")
                if tok == "file_identifier":
                    self.identifier = value
                elif tok == "root_type":
                    self.root_type = self.qualify(value)
            elif tok in ("enum", "union"):
                self.parse_enum(self.take())
            elif tok in ("table", "struct"):
                self.parse_table(self.take())
            else:
                raise SyntaxError(f"{self.path}: unexpected {tok!r}")
        return self

    def parse_enum(self, kind: str):
        name = self.qualify(self.take())
        base = "ubyte"
        if self.peek() == ":":
            self.take(":")
            base = self.take()
        attrs = self.attributes()
        self.take("{")
        values: dict[str, int] = {}
        next_value = 1 if kind == "union" else 0
        if kind == "union":
            values["NONE"] = 0
        while self.peek() != "}":
            member = self.take()
            value = next_value
            if self.peek() == "=":
                self.take("=")
                value = int(self.take(), 0)
            if attrs.get("bit_flags"):
                value_out = 1 << value
            else:
                value_out = value
            values[self.qualify(member) if kind == "union" else member] = value_out
            next_value = value + 1
            if self.peek() == ",":
                self.take(",")
        self.take("}")
        if kind == "union":
            self.unions[name] = {tag: member for member, tag in values.items() if tag}
        else:
            self.enums[name] = {"base": base, "bit_flags": bool(attrs.get("bit_flags")),
                                "values": values}

    def parse_table(self, kind: str):
        name = self.qualify(self.take())
        attrs = self.attributes()
        self.take("{")
        fields = []
        while self.peek() != "}":
            field = self.take()
            self.take(":")
            if self.peek() == "[":
                self.take("[")
                ftype = ("vector", self.take())
                self.take("]")
            else:
                ftype = ("single", self.take())
            default = None
            if self.peek() == "=":
                self.take("=")
                default = self.take()
            fattrs = self.attributes()
            self.take(";")
            fields.append((field, ftype, default, fattrs))
        self.take("}")
        target = self.tables if kind == "table" else self.structs
        target[name] = {"fields": fields, "attrs": attrs}


def _resolve(parsers: list[_Parser], name: str, namespace: str):
    """Finds what a type name refers to: ('enum'|'union'|'struct'|'table', qualified)."""
    candidates = [name] if "." in name else [f"{namespace}.{name}", name]
    for candidate in candidates:
        for p in parsers:
            for kind, defs in (("enum", p.enums), ("union", p.unions),
                               ("struct", p.structs), ("table", p.tables)):
                if candidate in defs:
                    return kind, candidate
    raise SyntaxError(f"unknown type {name!r}")


def _enum_base(parsers: list[_Parser], qname: str) -> str:
    return next(p.enums[qname]["base"] for p in parsers if qname in p.enums)


def _enum_default(enum: dict, default: str | None) -> int:
    if default is None:
        return 0
    if re.fullmatch(r"-?[0-9]+", default):
        return int(default)
    total = 0
    for part in default.split():  # bit_flags defaults may name several flags
        total |= enum["values"][part]
    return total


def _layouts(parsers: list[_Parser]) -> dict:
    enums, unions, structs, tables, schemas = {}, {}, {}, {}, {}
    for p in parsers:
        ns = p.namespace
        for name, e in p.enums.items():
            enums[name] = {"format": SCALARS[e["base"]][0], "bit_flags": e["bit_flags"],
                           "values": e["values"]}
        for name, u in p.unions.items():
            unions[name] = u
        for name, s in p.structs.items():
            offset, align, members = 0, 1, {}
            for field, ftype, _default, _attrs in s["fields"]:
                if ftype[0] != "single":
                    raise SyntaxError(f"{name}.{field}: arrays in structs are not supported")
                tname = ftype[1]
                enum_name = None
                if tname in SCALARS:
                    fmt, size = SCALARS[tname]
                else:
                    kind, enum_name = _resolve(parsers, tname, ns)
                    if kind != "enum":
                        raise SyntaxError(f"{name}.{field}: nested structs are not supported")
                    fmt, size = SCALARS[_enum_base(parsers, enum_name)]
                offset = (offset + size - 1) // size * size
                members[field] = (offset, fmt, enum_name)
                offset += size
                align = max(align, size)
            align = max(align, int(s["attrs"].get("force_align", 1)))
            size = (offset + align - 1) // align * align
            structs[name] = {"size": size, "align": align, "fields": members}
        for name, t in p.tables.items():
            fields = {}
            slot = 0
            for field, ftype, default, fattrs in t["fields"]:
                if "id" in fattrs:
                    raise SyntaxError(f"{name}.{field}: explicit ids are not supported")
                required = bool(fattrs.get("required"))
                tname = ftype[1]
                if ftype[0] == "vector":
                    if tname == "string":
                        element = ("string",)
                    elif tname in SCALARS:
                        element = ("scalar", SCALARS[tname][0])
                    else:
                        kind, qname = _resolve(parsers, tname, ns)
                        if kind == "enum":
                            element = ("scalar", SCALARS[_enum_base(parsers, qname)][0], qname)
                        elif kind in ("table", "struct"):
                            element = (kind, qname)
                        else:
                            raise SyntaxError(f"{name}.{field}: vectors of unions: see schema note")
                    fields[field] = (4 + 2 * slot, "vector", element, None, required, None)
                elif tname == "string":
                    fields[field] = (4 + 2 * slot, "string", None, None, required, None)
                elif tname in SCALARS:
                    fmt = SCALARS[tname][0]
                    value = 0 if default is None else (
                        float(default) if fmt in "fd" else
                        (default == "true") if fmt == "?" else int(default, 0))
                    fields[field] = (4 + 2 * slot, "scalar", fmt, value, required, None)
                else:
                    kind, qname = _resolve(parsers, tname, ns)
                    if kind == "enum":
                        enum = next(pp.enums[qname] for pp in parsers if qname in pp.enums)
                        fields[field] = (4 + 2 * slot, "scalar", SCALARS[enum["base"]][0],
                                         _enum_default(enum, default), required, qname)
                    elif kind == "union":
                        # A union field takes two slots: its type tag, then its value.
                        fields[f"{field}_type"] = (4 + 2 * slot, "scalar", "B", 0, False, None)
                        slot += 1
                        fields[field] = (4 + 2 * slot, "union", qname, None, required, None)
                    else:
                        fields[field] = (4 + 2 * slot, kind, qname, None, required, None)
                slot += 1
            tables[name] = fields
        if p.root_type:
            schemas[p.path.stem] = {"root_type": p.root_type, "file_identifier": p.identifier}
    return {"SCHEMAS": schemas, "ENUMS": enums, "UNIONS": unions, "STRUCTS": structs,
            "TABLES": tables}


def _write_layouts(layouts: dict, path: Path):
    lines = [
        "# Generated by tools/gen_schemas.py from schemas/*.fbs. Do not edit.",
        "# Table field: (vtable offset, kind, type/element, default, required, enum or None).",
        "# Struct field: (offset, format, enum or None). Vector element: (kind, type[, enum]).",
        "",
    ]
    for key, value in layouts.items():
        lines.append(f"{key} = {pprint.pformat(value, width=100, sort_dicts=False)}")
        lines.append("")
    path.write_text("\n".join(lines))


def _run_flatc(flatc: str, schema_paths: list[Path], out: Path):
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([flatc, "--python", "-I", str(SCHEMAS), "-o", tmp,
                        *map(str, schema_paths)], check=True)
        for src in sorted(Path(tmp).rglob("*.py")):
            text = src.read_text()
            # Keep flatc's absolute imports inside our package (see module docstring).
            text = re.sub(r"\bfrom iree\.", "from flatc_generated.iree.", text)
            dst = out / src.relative_to(tmp)
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_text(text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flatc", default=shutil.which("flatc") or "flatc")
    parser.add_argument("--out", type=Path, default=OUT,
                        help="layouts.py's folder (default: iree_lab/format/generated)")
    parser.add_argument("--flatc-out", type=Path, default=FLATC_OUT,
                        help="flatc's readers' folder (default: tests/flatc_generated)")
    args = parser.parse_args(argv)
    schema_paths = sorted(SCHEMAS.glob("*.fbs"))
    parsers = [_Parser(p).parse() for p in schema_paths]
    header = '"""Generated from schemas/*.fbs by tools/gen_schemas.py. Do not edit."""\n'
    for out in (args.out.resolve(), args.flatc_out.resolve()):
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        (out / "__init__.py").write_text(header)
    _run_flatc(args.flatc, schema_paths, args.flatc_out.resolve())
    _write_layouts(_layouts(parsers), args.out.resolve() / "layouts.py")
    for out in (args.out, args.flatc_out):
        print(f"generated {sum(1 for _ in out.rglob('*.py'))} files in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
