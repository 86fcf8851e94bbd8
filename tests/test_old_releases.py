"""Modules built by older IREE releases (3.0, 3.9, 3.10, 3.12) read and run as there.

tests/releases/<version>/ holds modules compiled from this project's sources by each
release, with that release's own iree-dump-module metadata and iree-run-module outputs
(tools/build_old_release_corpus.py). iree_lab must print the same metadata and, for
VMVX modules, the same run output; no old release is needed to run these tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iree_lab.cli.main import main

RELEASES_DIR = Path(__file__).parent / "releases"
RELEASES = ("3.0.0", "3.9.0", "3.10.0", "3.12.0")


def _manifest(version: str) -> dict:
    return json.loads((RELEASES_DIR / version / "manifest.json").read_text())


def _modules():
    for version in RELEASES:
        for name, entry in _manifest(version)["modules"].items():
            assert "error" not in entry, (version, name, entry.get("error"))
            yield version, name, entry


def _runs():
    for version, name, entry in _modules():
        if "llvm_cpu" in name:
            continue  # native CPU executables: metadata only for now
        for run in entry["runs"]:
            yield pytest.param(version, name, entry, run,
                               id=f"{version}-{run['output'].removesuffix('.run.txt')}")


def test_corpus_is_complete():
    names = {(v, n) for v, n, _ in _modules()}
    assert len(names) == 4 * 8
    for version in RELEASES:
        assert _manifest(version)["compiler"].startswith(f"IREE compiler version {version}")


def _cli(capsys, args) -> tuple[int, str]:
    capsys.readouterr()
    code = main(args)
    return code, capsys.readouterr().out


@pytest.mark.parametrize(("version", "name", "entry"),
                         [pytest.param(*m, id=f"{m[0]}-{m[1]}") for m in _modules()])
def test_metadata_matches_release_dump(capsys, version, name, entry):
    folder = RELEASES_DIR / version
    expected = (folder / entry["metadata"]).read_text()
    code, out = _cli(capsys, ["dump", "--output=metadata", str(folder / entry["module"])])
    assert code == 0
    assert out == expected


@pytest.mark.parametrize(("version", "name", "entry", "run"), list(_runs()))
def test_run_matches_release_run_module(capsys, version, name, entry, run):
    folder = RELEASES_DIR / version
    expected = (folder / run["output"]).read_text()
    code, out = _cli(capsys, ["run", "--device=local-sync", f"--module={folder / entry['module']}",
                              f"--function={run['function']}",
                              *[f"--input={i}" for i in run["inputs"]]])
    assert out + f"exit: {code}\n" == expected
