"""Careless input on the command line: out-of-range numbers, empty values, paths that are files,
folders or missing. Every one is a clear error (exit 1) that names the option or the value,
never a traceback or an "internal error", and none reaches a device: the workspace's hosts
are 127.0.0.1 on port 1, where nothing listens, and each case fails before any connection."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from netorch.cli import main
from netorch.errors import NetorchError
from netorch.plans import PlanError, new_plan
from netorch.service import write_rendered
from netorch.store import ROWID_MAX, Store

ROOT = Path(__file__).resolve().parent.parent
HUGE = "99999999999999999999"  # beyond SQLite's INTEGER and C's long


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The current folder: the shipped intents, an inventory whose hosts are 127.0.0.1:1, a
    text file `afile`, a folder `adir`, a folder `taken` whose eos1 is a file, and a store
    (NETORCH_STORE) holding one successful apply run."""
    shutil.copytree(ROOT / "intents", tmp_path / "intents")
    shutil.copytree(ROOT / "inventory", tmp_path / "inventory")
    hosts = tmp_path / "inventory" / "hosts.yaml"
    text = re.sub(r"(?m)^  port: \d+\n", "", hosts.read_text())
    hosts.write_text(re.sub(r"(?m)^  hostname: .*$", "  hostname: 127.0.0.1\n  port: 1", text))
    (tmp_path / "afile").write_text("just text\n")
    (tmp_path / "adir").mkdir()
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "eos1").write_text("a file where a host's folder goes\n")
    store = Store(tmp_path / "state" / "netorch.db")
    run = store.start_run("apply", "alice", "abc123")
    store.save_revision("abc123", "", {"intents/x.yaml": "routes: []\n"})
    store.finish_run(run, "changed", {})
    store.close()
    monkeypatch.setenv("NETORCH_STORE", str(tmp_path / "state" / "netorch.db"))
    for name in ("NETORCH_INVENTORY", "NETORCH_INTENTS", "NETORCH_TEMPLATES", "NETORCH_EXECUTOR",
                 "NETORCH_CREDENTIALS", "NETORCH_LAB_DIR", "NETORCH_DAEMON_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


# (argv, what the message must name)
CASES: list[tuple[list[str], str]] = [
    # history
    (["history", HUGE], f"no run {HUGE}"),
    (["history", "--last", "-1"], "--last"),
    (["history", "--last", "0"], "--last"),
    (["history", "--last", ""], "--last"),
    (["history", "--host", ""], "--host"),
    (["history", "--kind", "bogus"], "bogus"),
    # the global options
    (["--inventory", "", "validate"], "--inventory"),
    (["--intents", "", "validate"], "--intents"),
    (["--templates", "", "validate"], "--templates"),
    (["--inventory", "missing", "validate"], "missing"),
    (["--intents", "missing", "validate"], "missing"),
    (["--templates", "afile", "render", "--out", "adir"], "afile"),
    (["--executor", "bogus", "plan", "--no-verify"], "bogus"),
    # render
    (["render", "--out", "afile"], "--out"),
    (["render", "--out", "/dev/null"], "--out"),
    (["render", "--out", ""], "--out"),
    (["render", "--out", "taken"], "taken/eos1"),
    (["render", "--out", "adir", "--limit", ""], "--limit"),
    (["render", "--out", "adir", "--limit", "nosuch"], "nosuch"),
    # verify
    (["verify", "--against", HUGE], f"no run {HUGE}"),
    (["verify", "--against", ""], "--against"),
    (["verify", "--against", "\u00b2"], "\u00b2"),
    (["verify", "--against", "%"], "'%'"),
    (["verify", "--failures", "2"], "--failures"),
    (["verify", "--workers", "0"], "--workers"),
    (["verify", "--limit", ""], "--limit"),
    (["verify", "--credentials", "", "--against", "live"], "--credentials"),
    # plan
    (["plan", "--out", "adir"], "--out"),
    (["plan", "--out", ""], "--out"),
    (["plan", "--out", "missing/plan.json"], "--out"),
    (["plan", "--workers", "501"], "--workers"),
    (["plan", "--limit", ""], "--limit"),
    (["plan", "--no-verify", "--credentials", "adir", "--limit", "r1"], "adir"),
    # apply
    (["apply", ""], "PLANFILE"),
    (["apply", "adir"], "adir"),
    (["apply", "afile"], "afile"),
    (["apply", "missing.plan"], "missing.plan"),
    (["apply", "--no-verify", "--canary", "nosuch", "--limit", "r1"], "nosuch"),
    (["apply", "--no-verify", "--canary", "-1", "--limit", "r1"], "--canary"),
    (["apply", "--no-verify", "--canary", "\u00b2", "--limit", "r1"], "\u00b2"),
    (["apply", "--no-verify", "--canary", "", "--limit", "r1"], "--canary"),
    (["apply", "--no-verify", "--canary", " , ", "--limit", "r1"], "--canary"),
    (["apply", "--no-verify", "--wave-size", "0%", "--limit", "r1"], "--wave-size"),
    (["apply", "--no-verify", "--wave-size", "abc", "--limit", "r1"], "--wave-size"),
    (["apply", "--max-failures", "-1"], "--max-failures"),
    (["apply", "--pause", "nan"], "--pause"),
    (["apply", "--lock-wait", "-1"], "--lock-wait"),
    (["apply", "--confirm-timeout", HUGE], "--confirm-timeout"),
    (["apply", "--workers", "0"], "--workers"),
    # rollback, recover, diff
    (["rollback", "--to", HUGE], f"no apply run {HUGE}"),
    (["rollback", "--to", ""], "--to"),
    (["rollback", "--to", "\u00b2"], "\u00b2"),
    (["rollback", "--workers", "0"], "--workers"),
    (["recover", "--abandon", HUGE], HUGE),
    (["recover", "--abandon", ""], "--abandon"),
    (["recover", "--lock-wait", "nan"], "--lock-wait"),
    (["diff", "", "abc123"], "''"),
    (["diff", "%", "abc123"], "'%'"),
    (["diff", HUGE, "abc123"], HUGE),
    # drift, daemon, worker
    (["drift", "--limit", ""], "--limit"),
    (["drift", "--workers", "0"], "--workers"),
    (["daemon", "--config", ""], "--config"),
    (["daemon", "--config", "adir"], "adir"),
    (["daemon", "--config", "missing.yaml"], "missing.yaml"),
    (["daemon", "--config", "afile"], "afile"),
    (["worker", "--queues", ""], "--queues"),
    (["worker", "--queues", "a", "--concurrency", "0"], "--concurrency"),
    # the lab: only inputs refused before anything is read or built
    (["lab", "up", "--routers", "0"], "n_routers"),
    (["lab", "up", "--routers", HUGE], "n_routers"),
    (["lab", "up", "--topology", ""], "--topology"),
    (["lab", "up", "--topology", "adir"], "adir"),
    (["lab", "status", "--run-dir", "afile"], "afile"),
    (["lab", "status", "--run-dir", ""], "--run-dir"),
    (["lab", "down", "--run-dir", "afile"], "afile"),
    (["lab", "probe", "--run-dir", "afile"], "afile"),
    (["version", "extra"], "extra"),
]


@pytest.mark.parametrize(("argv", "names"), CASES, ids=[" ".join(a) or "-" for a, _ in CASES])
def test_bad_input_is_a_clear_error(work: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                    names: str) -> None:
    code = main(argv)
    out, err = capsys.readouterr()
    text = out + err
    assert code != 0, text
    assert names in text, text
    assert "Traceback" not in text and "internal error" not in text, text
    assert "unreachable" not in text and "cannot connect" not in text, text  # refused before any device


def test_daemon_schedules_out_of_range_are_config_errors(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for interval in (HUGE, "1e400", "-5", "0", ".nan"):
        (work / "daemon.yaml").write_text(f"port: 0\nschedules:\n  - {{name: a, interval: {interval}}}\n")
        assert main(["daemon", "--config", "daemon.yaml"]) == 1
        err = capsys.readouterr().err
        assert "schedules.0.interval" in err and "internal error" not in err, (interval, err)


def test_render_writes_nothing_into_the_current_folder_on_an_empty_out(work: Path) -> None:
    before = sorted(p.name for p in work.iterdir())
    assert main(["render", "--out", ""]) == 1
    assert sorted(p.name for p in work.iterdir()) == before


# -- the same edges one layer down: the store, saved plans, rendered files ------------------------


def test_the_store_answers_numbers_beyond_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path / "s.db")
    run = store.start_run("apply", "alice", "rev")
    assert store.run(ROWID_MAX + 1) is None and store.run(-1) is None and store.run(0) is None
    assert store.verification(ROWID_MAX + 1) is None
    assert [r.id for r in store.runs(limit=ROWID_MAX + 1)] == [run]
    assert store.verifications(limit=ROWID_MAX + 1) == []
    monkeypatch.setenv("NETORCH_RETENTION", HUGE)
    assert store.prune() == 0


def test_a_revision_prefix_is_taken_as_written(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.save_revision("abc123", "", {})
    assert store.revision_files("abc") is not None
    for prefix in ("", "%", "_", "a%", "ABC"):
        assert store.revision_files(prefix) is None, prefix


def test_a_plan_that_cannot_be_written_is_a_plan_error(tmp_path: Path) -> None:
    plan = new_plan("rev", "alice", None, [])
    with pytest.raises(PlanError, match="cannot write the plan"):
        plan.save(tmp_path, tmp_path / "store.db")  # a folder
    (tmp_path / "file").write_text("")
    with pytest.raises(PlanError, match=r"plan key .* unreadable"):
        plan.save(tmp_path / "p.json", tmp_path / "file" / "store.db")  # the store's folder is a file
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    with pytest.raises(PlanError, match="cannot create the plan key"):
        plan.save(tmp_path / "p.json", tmp_path / "dangling" / "store.db")  # a folder that cannot be made


def test_rendered_files_that_cannot_be_written_are_errors(tmp_path: Path) -> None:
    (tmp_path / "r1").write_text("")
    with pytest.raises(NetorchError, match=r"cannot write .*r1"):
        write_rendered({"r1": {"frr.conf": "!"}}, tmp_path)
