"""Saved plans, rollouts and revisions, without devices."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netorch.plans import PlanError, PlannedDevice, SavedPlan, fingerprint, new_plan
from netorch.run.rollout import Rollout, RolloutError
from netorch.store import Store


def a_plan() -> SavedPlan:
    desired = {"host": "r1", "platform": "frr", "stateful_filter": True, "interfaces": [], "routes": [],
               "filters": [], "services": []}
    return new_plan("abc123", "alice", "r1", [PlannedDevice("r1", "frr", "napalm", {"frr.conf": "hostname r1\n"},
                                                           desired, fingerprint({"frr.conf": "x"}), "+ ip route")])


def test_a_saved_plan_round_trips_and_rebuilds_its_jobs(tmp_path: Path) -> None:
    store = tmp_path / "netorch.db"
    a_plan().save(tmp_path / "p.json", store)
    loaded = SavedPlan.load(tmp_path / "p.json", store)
    assert loaded.revision == "abc123" and loaded.devices[0].diff == "+ ip route"
    job = loaded.devices[0].job()
    assert job.host == "r1" and job.artifacts == {"frr.conf": "hostname r1\n"}
    assert (tmp_path / "plan.key").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("damage", ["truncate", "edit", "other-store", "version", "not-json"])
def test_a_damaged_or_foreign_plan_is_refused(tmp_path: Path, damage: str) -> None:
    store = tmp_path / "netorch.db"
    path = tmp_path / "p.json"
    a_plan().save(path, store)
    text = path.read_text()
    if damage == "truncate":
        path.write_text(text[: len(text) // 2])
    elif damage == "edit":
        path.write_text(text.replace("hostname r1", "hostname evil"))
    elif damage == "other-store":
        store = tmp_path / "elsewhere" / "netorch.db"
    elif damage == "version":
        raw = json.loads(text)
        raw["plan"]["version"] = 99
        path.write_text(json.dumps(raw))
    else:
        path.write_text("hello")
    with pytest.raises(PlanError):
        SavedPlan.load(path, store)


def test_rollout_waves() -> None:
    hosts = ["r1", "r2", "r3", "r4", "r5"]
    assert Rollout.parse("r3", "2").waves(hosts, hosts) == [["r3"], ["r1", "r2"], ["r4", "r5"]]
    assert Rollout.parse("1", "50%").waves(hosts, hosts) == [["r1"], ["r2", "r3", "r4"], ["r5"]]
    assert Rollout.parse(None, "5").waves(hosts, hosts) == [hosts]
    with pytest.raises(RolloutError, match="not in this run"):
        Rollout.parse("r9", "1").waves(hosts, hosts)
    for bad in ("0%", "101%", "x", "0"):
        with pytest.raises(RolloutError):
            Rollout.parse(None, bad)
    with pytest.raises(RolloutError, match="empty"):
        Rollout.parse(" ", None)


def test_revisions_and_artifacts_are_kept_within_retention(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    runs = []
    for i in range(4):
        run = store.start_run("apply", "alice", f"rev{i}")
        store.save_revision(f"rev{i}", "", {"intents/x.yaml": f"v{i}"})
        store.save_artifacts(run, [("r1", "frr", "napalm", {"frr.conf": f"c{i}"}, {})])
        store.finish_run(run, "changed", {})
        runs.append(run)
    assert store.revision_files("rev2") == ("rev2", "", {"intents/x.yaml": "v2"})
    assert store.prune(keep=2) == 2
    assert store.artifacts(runs[0]) == {} and store.artifacts(runs[3])["r1"][2] == {"frr.conf": "c3"}
    assert store.revision_files("rev0") is None and store.revision_files("rev3") is not None
