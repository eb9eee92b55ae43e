"""Where the local store is: NETORCH_STORE, else netorch/netorch.db in the XDG state directory
($XDG_STATE_HOME, default ~/.local/state). The commands that only read intents (validate,
render, verify, diff) write nothing into the current folder, which is usually the user's
repository of intents."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from netorch.cli import main
from netorch.errors import StoreError
from netorch.store import Store, default_path

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path]:
    """(work, home, state): a folder holding only intents/ and inventory/ as the current folder,
    a home folder and an XDG state directory of their own; no NETORCH_STORE."""
    work, home, state = tmp_path / "work", tmp_path / "home", tmp_path / "state"
    work.mkdir()
    home.mkdir()
    shutil.copytree(ROOT / "intents", work / "intents")
    shutil.copytree(ROOT / "inventory", work / "inventory")
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    for name in ("NETORCH_STORE", "NETORCH_TEMPLATES", "NETORCH_INVENTORY", "NETORCH_INTENTS"):
        monkeypatch.delenv(name, raising=False)
    return work, home, state


def listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def test_verify_writes_nothing_into_the_current_folder(user: tuple[Path, Path, Path],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    work, home, state = user
    before = listing(work)
    assert main(["verify"]) == 0
    assert "not kept" not in capsys.readouterr().err
    assert listing(work) == before
    assert listing(home) == set()
    kept = state / "netorch" / "netorch.db"
    assert kept.is_file()
    assert (kept.parent.stat().st_mode & 0o077) == 0  # the folder it made is the user's only
    assert main(["history", "--kind", "verify", "--json"]) == 0
    kept_runs = json.loads(capsys.readouterr().out)
    assert [(v["kind"], v["verdict"]) for v in kept_runs] == [("verify", "ok")]


def test_the_reading_commands_write_nothing_into_the_current_folder(user: tuple[Path, Path, Path],
                                                                    tmp_path: Path) -> None:
    work, _, _ = user
    before = listing(work)
    assert main(["validate"]) == 0
    assert main(["render", "--out", str(tmp_path / "out")]) == 0
    assert main(["diff", "aaaa", "bbbb"]) == 1  # no stored revision: an error, and still nothing here
    assert main(["history"]) == 0
    assert listing(work) == before


def test_without_xdg_state_home_the_store_is_under_the_home_folder(user: tuple[Path, Path, Path],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    work, home, _ = user
    monkeypatch.delenv("XDG_STATE_HOME")
    assert default_path() == home / ".local" / "state" / "netorch" / "netorch.db"
    monkeypatch.setenv("XDG_STATE_HOME", "")  # empty: unset
    assert default_path() == home / ".local" / "state" / "netorch" / "netorch.db"
    monkeypatch.setenv("XDG_STATE_HOME", "relative/state")  # relative: ignored, as the specification says
    assert default_path() == home / ".local" / "state" / "netorch" / "netorch.db"
    before = listing(work)
    assert main(["verify"]) == 0
    assert (home / ".local" / "state" / "netorch" / "netorch.db").is_file()
    assert listing(work) == before


def test_netorch_store_overrides_the_default(user: tuple[Path, Path, Path], tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    _, _, state = user
    chosen = tmp_path / "elsewhere" / "mine.db"
    monkeypatch.setenv("NETORCH_STORE", str(chosen))
    assert default_path() == chosen
    assert main(["verify"]) == 0
    assert chosen.is_file()
    assert not state.exists()
    monkeypatch.setenv("NETORCH_STORE", "")  # empty: unset, not the current folder
    assert default_path() == state / "netorch" / "netorch.db"


def test_no_home_folder_is_a_store_error(user: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    work, _, _ = user
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setattr("os.path.expanduser", lambda path: path)  # no HOME, no password entry
    with pytest.raises(StoreError, match="set NETORCH_STORE or XDG_STATE_HOME"):
        Store()
    assert main(["history"]) == 1
    assert "error: no home folder for the default store" in capsys.readouterr().err
    assert not (work / ".local").exists() and not (work / ".netorch").exists()
