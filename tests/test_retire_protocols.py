"""A router taken out of a protocol's intent loses the block netorch pushed: the engine reads
the device's last apply from the store and marks the kind netorch's (ownership `protocols`) in
the job it plans, applies and checks drift with. No lab: the store and the jobs only."""

from __future__ import annotations

import shutil
from pathlib import Path

from netorch.model.ownership import Ownership
from netorch.run.engine import Engine
from netorch.service import Workspace
from netorch.store import DeviceRecord, Store

ROOT = Path(__file__).resolve().parents[1]


def _pushed(store: Store, host: str, frr_conf: str, status: str) -> None:
    run_id = store.start_run("apply", "test", "rev")
    store.save_artifacts(run_id, [(host, "frr", "napalm", {"frr.conf": frr_conf, "nftables.nft": ""}, {})])
    store.record_device(run_id, DeviceRecord(host, status, status == "changed", "", "", {}, 0.0))
    store.finish_run(run_id, "ok" if status != "failed" else "failed", {})


def test_a_router_taken_out_of_ospf_has_its_block_retired(tmp_path: Path) -> None:
    intents = tmp_path / "intents"
    shutil.copytree(ROOT / "intents", intents)
    store = Store(tmp_path / "store.db")
    ws = Workspace(ROOT / "inventory", intents, ROOT / "netorch" / "templates")
    jobs = {j.host: j for j in Engine(ws, store).jobs(None)[0]}
    with_ospf = [h for h, j in jobs.items() if "\nrouter ospf" in j.artifacts.get("frr.conf", "")]
    without_ospf = [h for h, j in jobs.items() if "frr.conf" in j.artifacts and h not in with_ospf]
    assert with_ospf and without_ospf
    gone, never = without_ospf[0], with_ospf[0]
    # `gone` had OSPF from netorch's last apply; a later failed apply does not count
    _pushed(store, gone, "router ospf\n ospf router-id 10.255.0.9\nexit\n", "changed")
    jobs = {j.host: j for j in Engine(ws, store).jobs(None)[0]}
    assert Ownership.from_artifact(jobs[gone].artifacts["frr.conf"]).protocols == "ospf"
    assert Ownership.from_artifact(jobs[never].artifacts["frr.conf"]).protocols == "rendered"
    _pushed(store, gone, "hostname x\n", "failed")
    assert Ownership.from_artifact(Engine(ws, store).jobs(gone)[0][0].artifacts["frr.conf"]).protocols == "ospf"
    # once an apply left the device without it, the kind is no longer netorch's there
    _pushed(store, gone, "hostname x\n", "changed")
    assert Ownership.from_artifact(Engine(ws, store).jobs(gone)[0][0].artifacts["frr.conf"]).protocols == "rendered"
    # without a store, nothing is retired
    assert Ownership.from_artifact(Engine(ws, None).jobs(gone)[0][0].artifacts["frr.conf"]).protocols == "rendered"
