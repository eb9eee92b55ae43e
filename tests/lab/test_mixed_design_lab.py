"""A mixed design written the way an operator writes it (tests/cases/mixed: an OSPF core,
static stubs redistributed at the edge, an eBGP upstream receiving a summary-only aggregate),
with no workaround routes: it validates, verifies, applies, converges to exactly the RIB the
control-plane model computes on every router, carries real traffic as the intents say, and
shows clean drift; a core link down moves every router as the model says. On a lab of its own."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from ipaddress import IPv4Network
from pathlib import Path

import pytest
from conftest import alt_topology, make_run_dir, require_lab

from netorch.lab import LabStatus, down, exec_in, up
from netorch.lab.probe import probe
from netorch.rib import ControlPlane
from netorch.rib.frr import Selected, frr_selected, model_selected
from netorch.run.drift import DriftChecker
from netorch.run.engine import Engine
from netorch.run.options import ApplyOptions, DriftOptions
from netorch.service import Workspace
from netorch.store import Store
from netorch.verify.verifier import verify

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]
MIXED = ROOT / "tests" / "cases" / "mixed" / "intents"
HOSTS = "lab_routers,lab_netconf"
ROUTERS = ("r1", "r2", "r3", "r4", "up1")


def live_rib(lab: LabStatus, router: str) -> Selected:
    doc = json.loads(exec_in(lab.run_dir, router, ["vtysh", "-c", "show ip route json"]).stdout or "{}")
    return frr_selected(doc, ignore_interfaces={"eth0"})


def differences(lab: LabStatus, plane: ControlPlane) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for router in ROUTERS:
        real, model = live_rib(lab, router), model_selected(plane.rib(router), ignore_interfaces={"eth0"})
        diff = [f"{p}: router {real.get(p)}, model {model.get(p)}" for p in sorted(set(real) | set(model))
                if real.get(p) != model.get(p)]
        if diff:
            out[router] = diff
    return out


def wait_same(lab: LabStatus, plane: ControlPlane, timeout: float = 90.0) -> None:
    """Until every router's RIB is the model's (bounded; the differences when it is not)."""
    deadline = time.monotonic() + timeout
    while True:
        found = differences(lab, plane)
        if not found:
            return
        if time.monotonic() > deadline:
            bgp = {r: exec_in(lab.run_dir, r, ["vtysh", "-c", "show bgp summary", "-c", "show bgp ipv4 unicast"]).stdout
                   for r in found}
            raise AssertionError(f"the routers' RIBs are not the model's after {timeout:.0f}s: {found}; BGP: {bgp}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def mixed_lab() -> Iterator[LabStatus]:
    """A lab of its own (the default topology under another prefix and management subnet, its
    own inventory): the design changes every router, and nothing needs putting back."""
    require_lab()
    run_dir = make_run_dir("mixed")
    try:
        status = up(alt_topology(), run_dir)
        assert status.state == "up", status
        yield status
    finally:
        down(run_dir)
        shutil.rmtree(run_dir.parent, ignore_errors=True)


@pytest.fixture(scope="module")
def mixed(mixed_lab: LabStatus, tmp_path_factory: pytest.TempPathFactory) -> Engine:
    assert mixed_lab.inventory_dir is not None
    ws = Workspace(mixed_lab.inventory_dir, MIXED, ROOT / "netorch" / "templates")
    return Engine(ws, Store(tmp_path_factory.mktemp("mixed") / "store.db"),
                  credentials=str(mixed_lab.credentials_file))


def test_the_mixed_design_validates_verifies_applies_converges_and_has_no_drift(mixed: Engine,
                                                                                  mixed_lab: LabStatus) -> None:
    lab = mixed_lab
    assert mixed.ws.validate().problems == ()
    desired = mixed.ws.compile()
    # no workaround: the only static routes are the design's own
    assert {r.origin for s in desired.values() for r in s.routes if s.host in ROUTERS} == {
        "route:servers-from-r2", "route:servers-from-r3", "route:r4-default", "route:r4-default-backup"}
    report = verify(mixed.ws)
    assert not report.failures, report.lines()
    plane = ControlPlane(desired)
    # the upstream gets the aggregate alone; r1 reaches the servers by OSPF, as an external route
    up1 = model_selected(plane.rib("up1"))
    assert up1["10.0.0.0/13"] == ("bgp", (("10.0.25.1", "eth1"),))
    assert not any(p.startswith(("10.1.", "10.2.", "10.3.")) for p in up1)
    servers = plane.rib("r1").best(IPv4Network("10.2.0.0/24"))
    assert servers is not None and (servers.protocol, servers.detail) == ("ospf", "e2")
    assert [str(h.address) for h in servers.next_hops] == ["10.0.12.2"]

    applied = mixed.apply(ApplyOptions(limit=HOSTS, workers=10))
    assert applied.exit_code == 0, [(d.host, d.status, d.error) for d in applied.devices]
    wait_same(lab, plane)
    # real traffic between the hosts does what the intents say
    results = probe(mixed.ws, lab.run_dir)
    assert results and all(p.ok for p in results), [p.as_dict() for p in results if not p.ok]
    assert any(p.dst == "h4" and p.expected and p.src == "h2" for p in results)
    # drift: every device read, in sync (config and state, the protocol checks from the model)
    drift = DriftChecker(mixed).check(DriftOptions(limit=HOSTS, record=False))
    assert [(d.host, d.status) for d in drift.devices if d.status != "in_sync"] == []
    assert len(drift.devices) == 6


def test_a_core_link_down_moves_the_routers_as_the_model_says(mixed: Engine, mixed_lab: LabStatus) -> None:
    """r1-r2 down: r1 reaches the servers through r3's redistributed static (OSPF external), and
    the default route through r3's eBGP exit; every router's RIB is the model's again."""
    lab = mixed_lab
    desired = mixed.ws.compile()
    exec_in(lab.run_dir, "r1", ["ip", "link", "set", "eth1", "down"], check=True)
    try:
        wait_same(lab, ControlPlane(desired, down=[("r1", "eth1"), ("r2", "eth1")]))
    finally:
        exec_in(lab.run_dir, "r1", ["ip", "link", "set", "eth1", "up"], check=True)
    wait_same(lab, ControlPlane(desired))
