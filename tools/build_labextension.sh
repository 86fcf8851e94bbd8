#!/usr/bin/env bash
# Rebuilds the prebuilt JupyterLab extension (labextension/src -> labextension/share/...), which
# is committed so that installing iree_lab needs no node. Needs node and npm (dev time only).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../labextension"
npm install --no-audit --no-fund
core="$(python -c 'import jupyterlab, os; print(os.path.join(os.path.dirname(jupyterlab.__file__), "staging"))')"
rm -rf share
node node_modules/@jupyterlab/builder/lib/build-labextension.js --core-path "$core" .
