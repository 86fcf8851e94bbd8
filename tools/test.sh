#!/usr/bin/env bash
# Sets up iree_lab with the reference IREE tools and runs the whole test suite.
# Extra arguments go to pytest (e.g. -m "not slow" to skip the browser tests, -x, -k NAME).
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh" dev
ruff check "$REPO"
exec python -m pytest "$@"
