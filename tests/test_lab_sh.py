"""tools/lab.sh: serves the folder it is run from, with the tours reachable, the .vmfb opener
from the checkout and JupyterLab's news question off. Run against a stand-in venv whose
`jupyter` prints its arguments (the real start-up is what tests/browser exercises)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _fake_venv(tmp_path: Path) -> Path:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    jupyter = venv / "bin" / "jupyter"
    jupyter.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    jupyter.chmod(0o755)
    # The install stamp _env.sh looks for: nothing gets installed.
    digest = hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()[:16]
    (venv / f".iree_lab-lab-{digest}").touch()
    return venv


def _run(cwd: Path, venv: Path) -> list[str]:
    env = dict(os.environ, IREE_LAB_VENV=str(venv))
    out = subprocess.run(["bash", str(REPO / "tools" / "lab.sh"), "--no-browser"], cwd=cwd,
                         env=env, capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


def test_lab_sh_serves_the_users_folder(tmp_path):
    venv = _fake_venv(tmp_path)
    work = tmp_path / "my models"
    work.mkdir()
    args = _run(work, venv)
    assert args[:2] == ["lab", f"--ServerApp.root_dir={work.resolve()}"]
    assert f"--LabApp.extra_labextensions_path={REPO / 'labextension/share/jupyter/labextensions'}" in args
    assert "--LabApp.news_url=None" in args and args[-1] == "--no-browser"
    # The tours, linked next to the user's files.
    tours = work / "iree_lab_tours"
    assert tours.is_symlink() and tours.resolve() == (REPO / "notebooks").resolve()
    assert (tours / "01_explore_a_vmfb.ipynb").exists()
    overrides = json.loads((venv / "share/jupyter/lab/settings/overrides.json").read_text())
    assert overrides["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"
    # A second start changes nothing; inside the checkout no link is made.
    assert _run(work, venv) == args
    repo_args = _run(REPO, venv)
    assert repo_args[1] == f"--ServerApp.root_dir={REPO.resolve()}"
    assert not (REPO / "iree_lab_tours").exists()
