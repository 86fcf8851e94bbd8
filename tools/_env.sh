# Shared by tools/lab.sh and tools/test.sh: creates .venv (once) and installs
# iree_lab into it with the extras named in $1. Sourced, not run.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${IREE_LAB_VENV:-$REPO/.venv}"
PY="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
  echo "iree_lab: creating virtual environment in $VENV"
  "$PY" -m venv "$VENV"
fi
# Reinstall only when pyproject.toml changed since the last install.
stamp="$VENV/.iree_lab-$1-$(sha256sum "$REPO/pyproject.toml" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "iree_lab: installing iree_lab[$1] into $VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -e "$REPO[$1]"
  rm -f "$VENV"/.iree_lab-"$1"-* && touch "$stamp"
fi
export PATH="$VENV/bin:$PATH"
cd "$REPO"
