"""netorch's version is the installed distribution's (setuptools-scm writes it from the git tag at
build time); a source tree that is not installed says 0.1.0."""

from __future__ import annotations

import importlib.metadata
import os
import runpy

import pytest

import netorch
from netorch.cli import main


def test_the_version_is_the_installed_distributions(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        installed = importlib.metadata.version("netorch")
    except importlib.metadata.PackageNotFoundError:
        if os.environ.get("CI"):  # CI installs netorch (.ci/setup): there, not installed is a failure
            pytest.fail("netorch is not installed")
        pytest.skip("netorch is not installed")
    assert netorch.__version__ == installed
    assert main(["version"]) == 0
    assert capsys.readouterr().out.strip() == installed


def test_an_uninstalled_source_tree_says_0_1_0(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_installed(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    assert runpy.run_path(str(netorch.__file__))["__version__"] == "0.1.0"
