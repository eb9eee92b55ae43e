"""The control-plane model (netorch.rib) against what FRR computed: the example network's
intents applied to the lab, every router's `show ip route json` recorded
(tests/data/frr_rib_example), compared route by route (prefix, protocol, next hops)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netorch.rib import ControlPlane
from netorch.rib.frr import frr_selected, model_selected
from netorch.service import Workspace

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "frr_rib_example"


@pytest.fixture(scope="module")
def plane() -> ControlPlane:
    return ControlPlane(Workspace(ROOT / "inventory", ROOT / "intents").compile())


@pytest.mark.parametrize("router", ["r1", "r2", "r3", "r4", "up1"])
def test_model_rib_equals_frr(plane: ControlPlane, router: str) -> None:
    mgmt = plane.states[router].mgmt_interface or "eth0"
    real = frr_selected(json.loads((DATA / f"rib_{router}.json").read_text()), ignore_interfaces={mgmt})
    model = model_selected(plane.rib(router))
    assert model == real
    protocols = {p for p, _ in model.values()}
    assert router == "up1" or {"bgp", "ospf"} <= protocols


@pytest.mark.parametrize("case", ["example", "routing", "features"])
def test_a_lookup_without_the_whole_rib_selects_what_the_rib_selects(case: str) -> None:
    """ControlPlane.lookup (one prefix at a time, for large flat fabrics) and the full RIB agree,
    for every address the design names and the ones next to them."""
    base = ROOT if case == "example" else ROOT / "tests" / "cases" / case
    desired = Workspace(base / "inventory", base / "intents").compile()
    lazy, full = ControlPlane(desired), ControlPlane(desired)
    addresses = set()
    for state in desired.values():
        for r in state.routes:
            addresses |= {r.prefix.network_address, r.prefix.broadcast_address}
        for i in state.interfaces:
            if i.address is not None:
                addresses |= {i.address.ip, i.address.network.network_address, i.address.network.broadcast_address + 1}
    assert len(addresses) > 20
    for host in desired:
        for address in sorted(addresses):
            assert lazy.lookup(host, address) == full.rib(host).lookup(address), (host, address)
