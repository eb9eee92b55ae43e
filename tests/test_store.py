from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from netorch.credentials import CredentialStore, scrub
from netorch.store import MIGRATIONS, DeviceRecord, Store


def test_store_records_runs_and_survives_reopen(tmp_path: Path) -> None:
    db = tmp_path / "sub" / "netorch.db"
    store = Store(db)
    run = store.start_run("apply", "alice", "abc123", {"workers": 4})
    store.record_device(run, DeviceRecord("r1", "changed", True, "+ip route x", "", {"n": 1}, 0.5))
    store.record_device(run, DeviceRecord("r2", "failed", False, "", "boom", {}, 0.1))
    store.finish_run(run, "failed", {"changed": 1, "failed": 1})
    store.close()

    again = Store(db)
    record = again.run(run)
    assert record is not None
    assert record.actor == "alice" and record.status == "failed" and record.summary == {"changed": 1, "failed": 1}
    assert [d.host for d in record.devices] == ["r1", "r2"]
    assert record.devices[0].diff == "+ip route x" and record.devices[0].changed
    assert [r.id for r in again.runs(host="r2")] == [run]
    assert again.runs(kind="drift") == []
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_latest_by_host(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    first = store.start_run("drift", "cli", "r", {})
    store.record_device(first, DeviceRecord("r1", "drift", True, "d", "", {}, 0))
    store.record_device(first, DeviceRecord("r2", "in_sync", False, "", "", {}, 0))
    second = store.start_run("drift", "cli", "r", {})
    store.record_device(second, DeviceRecord("r1", "in_sync", False, "", "", {}, 0))
    latest = store.latest_by_host("drift")
    assert latest["r1"][0] == second and latest["r1"][1].status == "in_sync"
    assert latest["r2"][0] == first


def test_credentials_resolution_and_scrubbing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NETORCH_CREDENTIALS", raising=False)
    monkeypatch.setenv("NETORCH_USERNAME", "envuser")
    monkeypatch.setenv("NETORCH_PASSWORD", "envpass")
    file = tmp_path / "creds.yaml"
    file.write_text("default: {username: admin, password: s3cret-default}\n"
                    "platforms: {netconf: {username: nc, password: nc-pass}}\n"
                    "connections: {netmiko: {username: cli}}\n"
                    "hosts: {r2: {password: r2-pass, connections: {netmiko: {password: r2-cli}}}}\n")
    file.chmod(0o600)
    store = CredentialStore.load(file)
    assert store.resolve("r1", "frr").username == "admin"
    assert store.resolve("r1", "frr", connection="netmiko").username == "cli"
    assert store.resolve("r1", "frr", connection="netmiko").password == "s3cret-default"
    assert store.resolve("r2", "frr", connection="netmiko").password == "r2-cli"
    assert store.resolve("r2", "frr").password == "r2-pass"
    assert store.resolve("nc1", "netconf").username == "nc"
    assert "s3cret" not in repr(store.resolve("r1", "frr"))
    assert scrub("login failed for s3cret-default and envpass", store.secrets()) == "login failed for *** and ***"
    assert CredentialStore.load(None).resolve("r1", "frr").username == "envuser"
