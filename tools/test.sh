#!/usr/bin/env bash
# Sets up iree_lab with the reference IREE tools and runs the whole test suite.
# Extra arguments go to pytest (e.g. -m "not slow" to skip the browser tests, -x, -k NAME).
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh" dev
# The browser tests (tests/browser) drive Debian's chromium; install it when we can.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "iree_lab: installing chromium for the browser tests"
    { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } ||
      echo "iree_lab: installing chromium failed; the browser tests will be skipped"
  else
    echo "iree_lab: chromium not found and not installable here (needs root and apt-get);" \
         "the browser tests will be skipped"
  fi
fi
ruff check "$REPO"
exec python -m pytest "$@"
