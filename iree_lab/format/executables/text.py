"""Finding one kernel's text inside PTX, MSL and WGSL sources.

The whole text of a code object is always available (``CodeObject.text``);
these helpers cut out the function of one export so a view can show just it.
They only match braces (skipping comments and string literals is not needed
for compiler-generated code, but a missing closing brace is tolerated: the
rest of the text is returned).
"""

from __future__ import annotations

import re

_MAX_SCAN = 1 << 24


def function_text(kind: str, text: str, name: str) -> str | None:
    """The definition of kernel/entry point ``name`` in a ``ptx``/``msl``/``wgsl`` text."""
    escaped = re.escape(name)
    patterns = {
        "ptx": rf"^[^\n]*\.entry\s+{escaped}\s*\(",
        "msl": rf"^[^\n]*\bkernel\s+[^\n(]*\b{escaped}\s*\(",
        "wgsl": rf"^[^\n]*\bfn\s+{escaped}\s*\(",
    }
    pattern = patterns.get(kind)
    if pattern is None:
        return None
    match = re.search(pattern, text, re.MULTILINE)
    if match is None:
        return None
    start = match.start()
    # WGSL attributes (@compute @workgroup_size(...)) sit on the lines above.
    if kind == "wgsl":
        while True:
            prev_end = text.rfind("\n", 0, start - 1) if start > 0 else -1
            line = text[prev_end + 1:start].strip()
            if start > 0 and line.startswith("@"):
                start = prev_end + 1
            else:
                break
    brace = text.find("{", match.end())
    if brace < 0:
        return text[start:]
    depth = 0
    for pos in range(brace, min(len(text), brace + _MAX_SCAN)):
        c = text[pos]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[start:pos + 1]
    return text[start:]
