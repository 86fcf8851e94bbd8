"""The wheel works outside the checkout: `pip wheel .`, then `pip install iree_lab[lab]` of that
wheel into a clean virtual environment in a temporary folder, then all six widgets (with their
front end) and the .vmfb opener (JupyterLab extension) from there.

Slow (it installs JupyterLab and friends from the package index, or pip's cache). It needs the
package index; without one it fails with pip's message rather than skipping.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Runs inside the clean venv, from a folder outside the checkout.
_CHECK = r'''
import json, sys
from pathlib import Path
import iree_lab
from iree_lab import samples, vm
from iree_lab.hal import Recorder, Session
from iree_lab.notebook import (BlobView, CFGView, DebuggerPanel, HALView, ModuleExplorer,
                               TimelineView)
from iree_lab.notebook._bundle import widgets_dir

path = samples.path("mlp")
user = vm.BytecodeModule.load(path)
recorder = Recorder()
session = Session.for_modules([user], recorder=recorder)
context = vm.Context(session.modules + [user])
predict = context.lookup_function("predict")
context.call_function(predict, session.parse_inputs(predict.cconv.arguments,
                                                    ["1x8xf32=1 2 3 4 5 6 7 8"]))
widgets = [ModuleExplorer(path), CFGView(path, "loop_sum"), BlobView(path),
           DebuggerPanel(path, "loop_sum", ["5"]), HALView(recorder), TimelineView(recorder)]
print(json.dumps({
    "package": str(Path(iree_lab.__file__).parent),
    "frontend": str(widgets_dir()),
    "widgets": {type(w).__name__: {"esm": len(w._esm), "css": len(w._css),
                                   "default_export": "export default" in w._esm}
                for w in widgets},
}))
'''


def _clean_env(env_dir: Path, home: Path) -> dict:
    # Nothing from this process (PYTHONPATH pointing at a checkout, a venv) leaks in.
    env = {"PATH": f"{env_dir / 'bin'}:/usr/bin:/bin", "HOME": str(home)}
    env.update({k: v for k, v in os.environ.items()
                if k.startswith(("PIP_INDEX", "PIP_EXTRA_INDEX", "PIP_TRUSTED", "PIP_CACHE_DIR",
                                 "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy",
                                 "https_proxy", "no_proxy", "XDG_CACHE_HOME"))})
    return env


@pytest.mark.slow
def test_wheel_in_a_clean_venv_gives_all_widgets(tmp_path):
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(wheels),
                            str(REPO)], capture_output=True, text=True)
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = wheels.glob("iree_lab-*.whl")

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    env = _clean_env(env_dir, Path(os.path.expanduser("~")))
    install = subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                              f"{wheel}[lab]"], capture_output=True, text=True, env=env,
                             cwd=tmp_path)
    assert install.returncode == 0, install.stdout + install.stderr

    work = tmp_path / "elsewhere"
    work.mkdir()
    run = subprocess.run([str(python), "-c", _CHECK], capture_output=True, text=True, cwd=work,
                         env=env)
    assert run.returncode == 0, run.stderr
    facts = json.loads(run.stdout.strip().splitlines()[-1])
    site = str(env_dir)
    assert facts["package"].startswith(site) and facts["frontend"].startswith(site), facts
    assert sorted(facts["widgets"]) == sorted(["ModuleExplorer", "CFGView", "BlobView",
                                               "DebuggerPanel", "HALView", "TimelineView"])
    for name, w in facts["widgets"].items():
        assert w["esm"] > 1000 and w["css"] > 1000 and w["default_export"], (name, w)

    # The .vmfb opener is a prebuilt JupyterLab extension that JupyterLab in the venv lists.
    ext = env_dir / "share" / "jupyter" / "labextensions" / "iree-lab-vmfb"
    assert json.loads((ext / "package.json").read_text())["name"] == "iree-lab-vmfb"
    listing = subprocess.run([str(env_dir / "bin" / "jupyter"), "labextension", "list"],
                             capture_output=True, text=True, cwd=work, env=env)
    text = listing.stdout + listing.stderr
    assert "iree-lab-vmfb" in text and "enabled" in text.split("iree-lab-vmfb", 1)[1][:80], text
