"""Topology file validation and generation: pure, no root needed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from netorch.lab import TopologyError, default_topology_path, generate, load_topology
from netorch.lab.cli import app
from netorch.lab.inventory import hosts_data
from netorch.lab.state import LabState
from netorch.lab.topology import dump_topology, parse_topology

pytestmark = pytest.mark.lab


def test_default_topology_is_the_documented_square() -> None:
    topo = load_topology(default_topology_path())
    assert set(topo.routers) == {"r1", "r2", "r3", "r4", "up1"}
    assert set(topo.hosts) == {"h1", "h2", "h3", "h4"}
    # the campus routers run OSPF and BGP, the upstream BGP only
    assert {n: (r.ospf, r.bgp) for n, r in topo.routers.items()} == {
        "r1": (True, True), "r2": (True, True), "r3": (True, True), "r4": (True, True), "up1": (False, True)}
    assert str(topo.netconf["nc1"].mgmt) == "198.18.0.21"
    state = LabState(run_dir=Path("/x"), prefix="nol", topology=topo, digest=topo.digest())
    hosts = hosts_data(state)
    assert hosts["r1"]["data"]["interfaces"] == {
        "lo": {"address": "10.255.0.1/32"},
        "eth1": {"address": "10.0.12.1/30", "description": "to r2 eth1"},
        "eth2": {"address": "10.0.13.1/30", "description": "to r3 eth1"},
        "eth3": {"address": "10.1.0.1/24", "description": "users subnet"},
    }
    assert hosts["r4"]["data"]["interfaces"]["eth2"] == {
        "address": "10.0.34.2/30", "description": "to r3 eth2",
    }
    assert hosts["nc1"] == {
        "hostname": "198.18.0.21", "port": 830, "platform": "netconf", "groups": ["lab_netconf"],
        "data": {"site": "lab",
                 "interfaces": {"eth1": {"address": "10.9.0.1/24",
                                         "description": "netconf managed"}}},
    }


def test_round_trip_and_digest() -> None:
    topo = load_topology(default_topology_path())
    again = parse_topology(yaml.safe_load(dump_topology(topo)))
    assert again == topo and again.digest() == topo.digest()


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"routers": {"r1": {"mgmt": "198.18.0.11", "colour": "red"}}}, "colour"),
        ({"links": [["r1:eth1", "r9:eth1"]]}, "unknown router 'r9'"),
        ({"hosts": {"h1": {"router": "r1", "interface": "eth3", "address": "10.7.0.10/24",
                           "gateway": "10.7.0.1"}}}, "not in the subnet"),
        ({"mgmt_gateway": "10.0.0.1/8"}, "overlaps mgmt"),
    ],
)
def test_bad_topologies_are_rejected_with_the_reason(patch: dict[str, object],
                                                     message: str) -> None:
    data = yaml.safe_load(default_topology_path().read_text())
    data.update(patch)
    with pytest.raises(TopologyError, match=message):
        parse_topology(data)


def test_generate_sizes() -> None:
    for n in (2, 8, 50, 200):
        topo = generate(n)
        assert len(topo.routers) == n and len(topo.hosts) == n
        assert len({r.mgmt for r in topo.routers.values()}) == n


def test_cli_bad_topology_exits_1_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("routers: {r1: {mgmt: not-an-ip}}\n")
    result = CliRunner().invoke(app, ["up", "--topology", str(bad), "--run-dir",
                                      str(tmp_path / "run")])
    assert result.exit_code == 1
    assert "invalid lab topology" in result.output or "invalid lab topology" in str(
        getattr(result, "stderr", ""))
    assert "Traceback" not in result.output
    assert not (tmp_path / "run").exists()
