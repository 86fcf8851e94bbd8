"""Shared fixtures: the compiled module corpus and the IREE reference tools."""

from __future__ import annotations

import subprocess

import pytest

from iree_lab.testing import corpus


@pytest.fixture(scope="session")
def build_module():
    """build_module(name) -> Path of the compiled (cached) test module."""
    return corpus.build


def run_tool(tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Runs an IREE reference tool and returns its completed process (bytes output)."""
    result = subprocess.run([corpus.tool_path(tool), *args], capture_output=True)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{tool} {' '.join(args)} failed ({result.returncode}):\n"
            f"{result.stderr.decode(errors='replace')}"
        )
    return result


@pytest.fixture(scope="session")
def iree_tool():
    """iree_tool(tool, *args, check=True) -> CompletedProcess with bytes stdout/stderr."""
    return run_tool
