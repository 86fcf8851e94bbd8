#!/usr/bin/env bash
# The main job: sets up iree_lab and opens JupyterLab on the tour notebooks.
# Extra arguments go to `jupyter lab` (e.g. --no-browser --port=8899).
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh" lab
extra=()
# Containers and CI machines often run as root, which Jupyter refuses without this.
[ "$(id -u)" = 0 ] && extra+=(--allow-root)
exec jupyter lab --notebook-dir="$REPO/notebooks" "${extra[@]}" "$@"
