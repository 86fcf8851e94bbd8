#!/usr/bin/env bash
# The main job: sets up iree_lab and opens JupyterLab in the current directory, where the
# user's own .vmfb files are (double-click one to open it in iree_lab). The tour notebooks are
# reachable from there: under notebooks/ when run inside the checkout, else through an
# `iree_lab_tours` link created next to the user's files on first start.
# Extra arguments go to `jupyter lab` (e.g. --no-browser --port=8899).
here="$(pwd -P)"
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh" lab
tours="$(cd "$REPO/notebooks" && pwd -P)"
case "$tours/" in
  "$here"/*) ;;  # inside the served folder already
  *)
    if [ ! -e "$here/iree_lab_tours" ]; then
      ln -s "$tours" "$here/iree_lab_tours"
      echo "iree_lab: tour notebooks linked as $here/iree_lab_tours" >&2
    fi
    ;;
esac
# No "news" question over the first page: JupyterLab's settings overrides in this venv (only
# written when the user has none of their own there).
overrides="$VENV/share/jupyter/lab/settings/overrides.json"
if [ ! -e "$overrides" ]; then
  mkdir -p "$(dirname "$overrides")"
  printf '%s\n' '{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}}' > "$overrides"
fi
extra=()
# Containers and CI machines often run as root, which Jupyter refuses without this.
[ "$(id -u)" = 0 ] && extra+=(--allow-root)
# The .vmfb opener (labextension/, prebuilt) from the checkout; a wheel installs it itself.
exec jupyter lab --ServerApp.root_dir="$here" \
  --LabApp.extra_labextensions_path="$REPO/labextension/share/jupyter/labextensions" \
  --LabApp.news_url=None "${extra[@]}" "$@"
