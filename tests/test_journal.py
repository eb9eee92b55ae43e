"""The store's journal and leases across real processes: a second process cannot take a
device another one holds, a dead holder's lease is stale, a dead run shows as interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from netorch.errors import DeviceBusy
from netorch.store import Store

HOLD = """
import sys, time
from netorch.store import Store
s = Store(sys.argv[1])
run = s.start_run("apply", "alice", "rev1")
s.journal(run, [("r1", "frr", "napalm", "committing", {"diff": "+ ip route"})])
s.acquire(["r1", "r2"], run, "alice", "apply")
print(run, flush=True)
time.sleep(60)
"""


def holder(db: Path) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(db)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip(), "the holder process did not start"
    return proc, int(line)


def test_a_lease_held_by_a_live_process_is_refused_with_who_and_since(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    proc, run = holder(db)
    try:
        store = Store(db)
        mine = store.start_run("apply", "bob", "rev2")
        started = time.monotonic()
        with pytest.raises(DeviceBusy) as info:
            store.acquire(["r2", "r3"], mine, "bob", "apply", wait=0.5)
        assert time.monotonic() - started >= 0.5  # it waited up to its bound
        assert f"r2 is busy in run {run} (apply by alice, since " in str(info.value)
        # nothing was taken: r3 stays free for anyone
        assert [lease.host for lease in store.leases()] == ["r1", "r2"]
        # a device the other process does not hold is free
        store.acquire(["r3"], mine, "bob", "apply")
        assert store.runs(limit=5)[-1].status == "running"
        assert store.interrupted_runs() == []
    finally:
        proc.kill()
        proc.wait()


def test_a_killed_holder_leaves_a_stale_lease_and_an_interrupted_run(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    proc, run = holder(db)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = Store(db)
    interrupted = store.interrupted_runs()
    assert [r.id for r in interrupted] == [run]
    assert store.run(run) is not None and store.run(run).status == "interrupted"  # type: ignore[union-attr]
    entries = store.journal_entries(run)
    assert [(e.host, e.phase, e.data) for e in entries] == [("r1", "committing", {"diff": "+ ip route"})]
    mine = store.start_run("apply", "bob", "rev2")
    holder_id = store.acquire(["r1", "r2"], mine, "bob", "apply")  # the dead process's lease is stale
    assert {lease.holder for lease in store.leases()} == {holder_id}
    store.release(holder_id)
    assert store.leases() == []


def test_an_expired_lease_is_taken_over_and_a_renewed_one_is_not(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    first = store.start_run("apply", "alice", "r")
    other = store.start_run("apply", "bob", "r")
    h1 = store.acquire(["r1"], first, "alice", "apply", ttl=0.2, holder="other-controller")
    with pytest.raises(DeviceBusy):
        store.acquire(["r1"], other, "bob", "apply")
    store.renew(h1, ttl=0.2)
    time.sleep(0.3)  # let the lease expire (a holder that stopped renewing)
    h2 = store.acquire(["r1"], other, "bob", "apply")
    assert [lease.holder for lease in store.leases()] == [h2]


def test_journal_merges_data_per_phase(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    run = store.start_run("apply", "alice", "r")
    store.journal(run, [("r1", "frr", "napalm", "committing", {"artifacts": {"frr.conf": "x"}})])
    store.journal(run, [("r1", "frr", "napalm", "committed", {"session": {"tag": "t"}})])
    (entry,) = store.journal_entries(run)
    assert entry.phase == "committed"
    assert entry.data == {"artifacts": {"frr.conf": "x"}, "session": {"tag": "t"}}
