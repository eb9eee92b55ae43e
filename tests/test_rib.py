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
