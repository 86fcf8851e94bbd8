"""Fixtures for real-browser tests: a headless JupyterLab and Debian's Chromium via Playwright.

Playwright's own browser download does not work here, so the browser is the
system ``chromium`` (tools/test.sh installs it when it can). Everything is
skipped with a clear message when chromium, playwright or jupyterlab is
missing. Screenshots go to ``test-artifacts/`` (git-ignored); with
``IREE_LAB_UPDATE_SCREENSHOTS=1`` the final ones are also copied into ``docs/``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
DOCS = REPO / "docs"
LABEXTENSIONS = REPO / "labextension" / "share" / "jupyter" / "labextensions"

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("chromium not installed (Debian package 'chromium'; tools/test.sh installs it "
                    "as root): browser tests skipped")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterLab:
    """A JupyterLab server on a free local port, serving ``root`` with a token."""

    def __init__(self, root: Path):
        self.root = root
        self.port = _free_port()
        self.token = secrets.token_hex(16)
        self.log_path = root.parent / "jupyterlab.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 90.0) -> None:
        state = self.root.parent / "jupyter-state"
        args = [
            sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={self.port}",
            "--ip=127.0.0.1", f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}", "--LabApp.expose_app_in_browser=True",
            "--LabApp.news_url=None",
            # The .vmfb opener (prebuilt JupyterLab extension) from this checkout.
            f"--LabApp.extra_labextensions_path={LABEXTENSIONS}",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            f"--LabApp.workspaces_dir={state / 'workspaces'}",
            f"--LabApp.user_settings_dir={state / 'settings'}",
        ]
        if hasattr(os, "getuid") and os.getuid() == 0:
            args.append("--allow-root")
        # Render every cell (no virtual scrolling): widgets in cells off screen must
        # exist in the DOM for the assertions, as they would after a user scrolls.
        tracker = state / "settings" / "@jupyterlab" / "notebook-extension"
        tracker.mkdir(parents=True, exist_ok=True)
        (tracker / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
        # No "get notified about news?" toast over the widgets (nothing can be fetched anyway).
        apputils = state / "settings" / "@jupyterlab" / "apputils-extension"
        apputils.mkdir(parents=True, exist_ok=True)
        (apputils / "notification.jupyterlab-settings").write_text(
            '{"fetchNews": "false", "checkForUpdates": false}')
        env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(state / "runtime"),
                   JUPYTER_CONFIG_DIR=str(state / "config"), PYTHONUNBUFFERED="1")
        self.log = self.log_path.open("w")
        self.process = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                        cwd=self.root)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited early:\n{self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status?token={self.token}",
                                            timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"jupyter lab did not start in {timeout}s:\n{self.log_path.read_text()}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def lab_url(self) -> str:
        """JupyterLab with its file browser on the root folder (a fresh workspace)."""
        return f"{self.url}/lab?token={self.token}&reset"

    def notebook_url(self, name: str) -> str:
        return f"{self.url}/lab/tree/{name}?token={self.token}&reset"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if getattr(self, "log", None):
            self.log.close()


@pytest.fixture(scope="session")
def lab_root():
    pytest.importorskip("jupyterlab", reason="jupyterlab not installed: browser tests skipped")
    pytest.importorskip("anywidget", reason="anywidget not installed: browser tests skipped")
    tmp = Path(tempfile.mkdtemp(prefix="iree_lab_browser_"))
    root = tmp / "notebooks"
    shutil.copytree(REPO / "notebooks", root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    yield root
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def jupyter_lab(lab_root):
    chromium_path()  # skip before starting a server nobody can look at
    server = JupyterLab(lab_root)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser_context(tmp_path_factory):
    executable = chromium_path()
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright not installed: browser tests skipped")
    user_data = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(user_data), executable_path=executable, headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000}, device_scale_factor=1)
        context.set_default_timeout(30_000)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="session")
def artifacts():
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def publish_screenshot():
    """publish_screenshot(path, name): copies a screenshot into docs/ when
    IREE_LAB_UPDATE_SCREENSHOTS=1 (a plain run leaves the committed ones alone)."""

    def publish(path: Path, name: str) -> None:
        if os.environ.get("IREE_LAB_UPDATE_SCREENSHOTS") == "1":
            DOCS.mkdir(exist_ok=True)
            shutil.copyfile(path, DOCS / name)

    return publish


# The model-sized modules a user would bring (tests/browser/test_models_browser.py).
MODEL_FILES = {"resnet18_llvm_cpu.vmfb": "model_resnet18_llvm_cpu",
               "resnet18_vmvx.vmfb": "model_resnet18_vmvx",
               "transformer_vmvx.vmfb": "model_transformer_vmvx"}


@pytest.fixture(scope="session")
def models_lab():
    """A JupyterLab serving a working folder that holds model-sized .vmfb files."""
    chromium_path()
    pytest.importorskip("jupyterlab", reason="jupyterlab not installed: browser tests skipped")
    pytest.importorskip("anywidget", reason="anywidget not installed: browser tests skipped")
    from iree_lab.testing import corpus

    tmp = Path(tempfile.mkdtemp(prefix="iree_lab_models_"))
    root = tmp / "work"
    root.mkdir()
    start = time.perf_counter()
    for name, program in MODEL_FILES.items():
        shutil.copyfile(corpus.build(program), root / name)
    print(f"\nmodel modules built or taken from the cache: {time.perf_counter() - start:.1f} s")
    server = JupyterLab(root)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
