"""The address plan checked across the whole inventory: each problem names both places, file:line."""

from __future__ import annotations

import shutil
from pathlib import Path

from netorch.errors import Problem
from netorch.service import Workspace

ROOT = Path(__file__).resolve().parent.parent


def _folder(tmp: Path) -> Path:
    shutil.copytree(ROOT / "inventory", tmp / "inventory")
    shutil.copytree(ROOT / "intents", tmp / "intents")
    return tmp


def _edit(folder: Path, rel: str, old: str, new: str) -> int:
    """Replace `old` (once) and return the line it is on."""
    path = folder / rel
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    return text[:text.index(old)].count("\n") + 1 + old[:len(old) - len(old.lstrip("\n"))].count("\n")


def _line(folder: Path, rel: str, text: str) -> int:
    lines = (folder / rel).read_text().splitlines()
    return next(i for i, line in enumerate(lines, start=1) if text in line)


def _problems(folder: Path) -> list[Problem]:
    ws = Workspace(folder / "inventory", folder / "intents", ROOT / "netorch" / "templates")
    return list(ws.validate().problems)


def test_two_routers_with_one_loopback_address_fail_at_both_places(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    r1_lo = _line(folder, "inventory/hosts.yaml", "lo: {address: 10.255.0.1/32}")
    line = _edit(folder, "inventory/hosts.yaml", "lo: {address: 10.255.0.4/32}", "lo: {address: 10.255.0.1/32}")
    problems = _problems(folder)
    # one problem, at its cause: the router ids (OSPF and BGP) that follow from it are not reported again
    assert len(problems) == 1, [str(p) for p in problems]
    found = problems[0]
    assert (found.file.endswith("hosts.yaml"), found.line, found.path) == (True, line, "r4.data.interfaces.lo.address")
    assert "10.255.0.1 is the address of r4 lo and of r1 lo (" in found.message
    assert f"hosts.yaml:{r1_lo})" in found.message


def test_an_explicit_router_id_equal_to_another_routers_names_both(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    line = _edit(folder, "intents/routing.yaml", "  - name: campus\n",
                 "  - name: campus\n    router_ids: {r2: 10.255.0.1}\n") + 1
    r1_lo = _line(folder, "inventory/hosts.yaml", "lo: {address: 10.255.0.1/32}")
    problems = _problems(folder)
    assert [(p.line, p.message) for p in problems] == [
        (line, f"duplicate router id 10.255.0.1: r1 ({folder}/inventory/hosts.yaml:{r1_lo}) and r2 "
               f"({folder}/intents/routing.yaml:{line})")]


def test_a_bgp_router_id_shared_with_a_router_outside_ospf(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    _edit(folder, "intents/routing.yaml", "  - name: campus\n", "  - name: campus\n    router_ids: {r2: 10.255.0.9}\n")
    up1_lo = _line(folder, "inventory/hosts.yaml", "lo: {address: 10.255.0.9/32}")
    messages = [p.message for p in _problems(folder)]
    assert len(messages) == 1 and messages[0].startswith("duplicate BGP router id 10.255.0.9: r2 ("), messages
    assert messages[0].endswith(f"and up1 ({folder}/inventory/hosts.yaml:{up1_lo})")


def test_one_subnet_on_two_interfaces_of_a_host_and_overlapping_links(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    eth3 = _line(folder, "inventory/hosts.yaml", "eth3: {address: 10.1.0.1/24")
    # r1 eth2 on r1 eth3's subnet; r4's servers subnet inside r2's guests subnet
    line = _edit(folder, "inventory/hosts.yaml", "eth2: {address: 10.0.13.1/30, description: to r3 eth1}",
                 "eth2: {address: 10.1.0.2/24, description: to r3 eth1}")
    guests = _line(folder, "inventory/hosts.yaml", "eth3: {address: 10.3.0.1/24")
    servers = _edit(folder, "inventory/hosts.yaml", "eth3: {address: 10.2.0.1/24", "eth3: {address: 10.3.0.129/25")
    found = {p.line: p.message for p in _problems(folder) if p.file.endswith("hosts.yaml")}
    # interfaces are taken in name order: the second one (eth3) names the first (eth2)
    assert found[eth3] == (f"r1 eth3 and r1 eth2 ({folder}/inventory/hosts.yaml:{line}) are both on 10.1.0.0/24: "
                           "one subnet is one link, and a router has one interface on a link")
    assert found[servers] == (f"the subnet 10.3.0.128/25 of r4 eth3 lies inside 10.3.0.0/24, the subnet of r2 eth3 "
                              f"({folder}/inventory/hosts.yaml:{guests}): two links cannot share addresses")


def test_an_interface_on_its_subnets_network_address(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    line = _edit(folder, "inventory/hosts.yaml", "eth3: {address: 10.2.0.1/24", "eth3: {address: 10.2.0.255/24")
    problems = _problems(folder)
    assert [(p.line, p.message) for p in problems] == [
        (line, "10.2.0.255/24 is the broadcast address of its subnet 10.2.0.0/24, not a device's: give the "
               "interface an address inside it")]


def test_a_route_in_a_vrf_nothing_declares(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    line = _edit(folder, "intents/branch.yaml", "    next_hop: 10.20.12.2\n",
                 "    next_hop: 10.20.12.2\n    vrf: green\n") + 1
    problems = _problems(folder)
    assert [(p.line, p.path, p.message) for p in problems] == [
        (line, "routes[0].vrf", "unknown VRF 'green' (no VRF is declared)")]


def test_a_provider_on_a_network_or_broadcast_address(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    servers = _line(folder, "inventory/hosts.yaml", "eth3: {address: 10.2.0.1/24")
    line = _edit(folder, "intents/services.yaml", "providers: [10.2.0.10]", "providers: [10.2.0.0]")
    problems = _problems(folder)
    assert [(p.line, p.message) for p in problems] == [
        (line, f"provider 10.2.0.0 is the network address of 10.2.0.0/24, the subnet of r4 eth3 "
               f"({folder}/inventory/hosts.yaml:{servers}), not a server's")]
