#!/usr/bin/env bash
# Sets up iree_lab with the reference IREE tools and runs the whole test suite.
# Extra arguments go to pytest (e.g. -m "not slow" to skip the browser tests, -x, -k NAME).
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh" dev
# Debian packages some tests compare against or drive: installed when missing and
# possible (root + apt-get); otherwise those tests skip and say which package is missing.
#   chromium: the real-browser notebook tests (tests/browser)
#   spirv-tools, spirv-headers: spirv-dis listings and the SPIR-V grammar
#   binutils, llvm: readelf / llvm-objdump views of executable ELFs
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v spirv-dis >/dev/null 2>&1 || missing+=(spirv-tools)
[ -f /usr/include/spirv/unified1/spirv.core.grammar.json ] ||
  missing+=(spirv-headers)
command -v readelf >/dev/null 2>&1 || missing+=(binutils)
command -v llvm-objdump >/dev/null 2>&1 || missing+=(llvm)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "iree_lab: installing ${missing[*]} for the tests"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; } ||
      echo "iree_lab: installing ${missing[*]} failed; the tests that need them will be skipped"
  else
    echo "iree_lab: ${missing[*]} not found and not installable here (needs root and apt-get);" \
         "the tests that need them will be skipped"
  fi
fi
ruff check "$REPO"
exec python -m pytest "$@"
