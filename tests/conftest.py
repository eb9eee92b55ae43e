"""Shared fixtures: the repository's example workspace and a scratch copy of it."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from netorch.service import Workspace

ROOT = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite tests/golden/ from the current templates")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests of a real Nautobot run last: CI builds Nautobot (minutes, the first time) in the
    background while the others run (.ci/run), so they seldom wait for it."""
    items.sort(key=lambda item: "test_nautobot_lab.py" in item.nodeid)  # stable: the rest keep their order


@pytest.fixture(autouse=True)
def _state_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """netorch's default store is in the XDG state directory: each test gets a folder of its own
    for it, never the home folder of the machine that runs the tests."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


#: the static-route network (the shipped example before it routed with OSPF and BGP): the
#: tests of static routes, domains, services and validation are written against it
STATIC = ROOT / "tests" / "cases" / "static"


@pytest.fixture()
def example() -> Workspace:
    return Workspace(STATIC / "inventory", STATIC / "intents", ROOT / "netorch" / "templates")


@pytest.fixture()
def shipped() -> Workspace:
    """The shipped example (intents/, inventory/): the lab network with OSPF and BGP."""
    return Workspace(ROOT / "inventory", ROOT / "intents", ROOT / "netorch" / "templates")


@pytest.fixture()
def scratch(tmp_path: Path) -> Path:
    """A writable copy of the static-route example's inventory and intents."""
    shutil.copytree(STATIC / "inventory", tmp_path / "inventory")
    shutil.copytree(STATIC / "intents", tmp_path / "intents")
    return tmp_path


@pytest.fixture()
def make_ws(scratch: Path) -> Callable[..., Workspace]:
    """Add intent files (name -> YAML text) to the scratch copy and return its workspace."""

    def make(files: dict[str, str] | None = None, *, replace: bool = False) -> Workspace:
        intents = scratch / "intents"
        if replace:
            for p in intents.glob("*.yaml"):
                p.unlink()
        for name, text in (files or {}).items():
            (intents / name).write_text(text)
        return Workspace(scratch / "inventory", intents, ROOT / "netorch" / "templates")

    return make
