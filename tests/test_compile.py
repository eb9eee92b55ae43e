"""The compiler: routes and filters that intents and services produce, and determinism."""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import yaml

from netorch.model.desired import FilterAction, FilterRule
from netorch.rib import ControlPlane
from netorch.service import Workspace

MakeWs = Callable[..., Workspace]


def test_service_routes_follow_the_shortest_path(example: Workspace) -> None:
    desired = example.compile()
    # guests (r2) reach the guest portal on r4 directly: r4 needs the way back to guests
    r4 = {(str(r.prefix), str(r.next_hop)): r for r in desired["r4"].routes}
    assert ("10.3.0.0/24", "10.0.24.1") in r4
    assert r4[("10.3.0.0/24", "10.0.24.1")].origin == "service:guest-portal"
    # r2 already has an explicit route covering the provider: nothing generated there
    assert all(r.origin.startswith("route:") for r in desired["r2"].routes)
    # r3 is on no service path and only has its explicit routes
    assert {r.origin for r in desired["r3"].routes} == {"route:r3-servers", "route:r3-users"}


ROUTING = Path(__file__).resolve().parent / "cases" / "routing"


def test_services_whose_path_ospf_carries_get_no_static_routes() -> None:
    """The example network routed by OSPF and BGP (tests/cases/routing): no static routes."""
    desired = Workspace(ROUTING / "inventory", ROUTING / "intents", Path("templates")).compile()
    for host in ("r1", "r2", "r3", "r4"):
        assert desired[host].routes == (), host
        assert desired[host].ospf is not None
    # the provider's subnet is an OSPF route on r2 through r4
    r2 = {str(e.prefix): e for e in desired["r2"].expected_routes}
    assert r2["10.2.0.0/24"].protocol == "ospf"
    assert [str(h) for h in r2["10.2.0.0/24"].next_hops] == ["10.0.24.2"]
    # the default route: through r2's exit (local preference); r3's is the backup, which the
    # control-plane model gives when r2's exit is gone
    r1 = {str(e.prefix): e for e in desired["r1"].expected_routes}
    assert [str(h) for h in r1["0.0.0.0/0"].next_hops] == ["10.255.0.2"]
    backup = ControlPlane(desired, down=[("r2", "eth4"), ("up1", "eth1")]).rib("r1").best(IPv4Network("0.0.0.0/0"))
    assert backup is not None and [str(h) for h in backup.via] == ["10.255.0.3"]


def _rules(state: object, interface: str, direction: str) -> list[FilterRule]:
    for f in state.filters:  # type: ignore[attr-defined]
        if f.interface == interface and f.direction == direction:
            return list(f.rules)
    raise AssertionError(f"no {direction} filter on {interface}")


def _first_match(rules: list[FilterRule], src: str, dst: str, proto: str, port: int | None) -> FilterRule | None:
    for rule in rules:
        if rule.sources and not any(IPv4Address(src) in n for n in rule.sources):
            continue
        if rule.destinations and not any(IPv4Address(dst) in n for n in rule.destinations):
            continue
        if rule.protocol.value not in ("any", proto):
            continue
        if rule.ports and (port is None or not any(p.start <= port <= p.end for p in rule.ports)):
            continue
        return rule
    return None


def test_filters_allow_consumers_and_no_one_else(example: Workspace) -> None:
    desired = example.compile()
    r4_out = _rules(desired["r4"], "eth3", "out")  # traffic towards the servers
    web = _first_match(r4_out, "10.1.0.10", "10.2.0.10", "tcp", 8080)
    assert web is not None and web.action == FilterAction.ACCEPT and web.origin == "service:web"
    guests_web = _first_match(r4_out, "10.3.0.10", "10.2.0.10", "tcp", 8080)
    assert guests_web is not None and guests_web.action == FilterAction.DROP
    portal = _first_match(r4_out, "10.3.0.10", "10.2.0.10", "tcp", 8081)
    assert portal is not None and portal.action == FilterAction.ACCEPT
    # users may not reach the guest portal port
    users_portal = _first_match(r4_out, "10.1.0.10", "10.2.0.10", "tcp", 8081)
    assert users_portal is not None and users_portal.action == FilterAction.DROP
    # another address of the servers subnet is not a provider of the web service
    other = _first_match(r4_out, "10.1.0.10", "10.2.0.11", "tcp", 8080)
    assert other is not None and other.action == FilterAction.DROP
    # the explicit deny guests -> users, at the users' edge
    r1_out = _rules(desired["r1"], "eth3", "out")
    deny = _first_match(r1_out, "10.3.0.10", "10.1.0.10", "icmp", None)
    assert deny is not None and deny.origin == "rule:guests-never-reach-users"


def test_stateless_platforms_get_reply_rules_and_stateful_do_not(example: Workspace) -> None:
    desired = example.compile()
    assert not any(r.reply for f in desired["r1"].filters for r in f.rules)
    eos_out = _rules(desired["eos1"], "Ethernet3", "out")
    replies = [r for r in eos_out if r.reply]
    assert replies and {r.origin for r in replies} == {"service:branch-web", "rule:branch-users-ping-servers"}
    assert all(r.destinations == (IPv4Network("10.21.0.0/24"),) for r in replies)


def _explode(src: Path, dst: Path, seed: int) -> None:
    """Write every intent object into its own file, with shuffled names and order."""
    rnd = random.Random(seed)
    objects = []
    for path in sorted(src.glob("*.yaml")):
        data = yaml.safe_load(path.read_text()) or {}
        for kind, items in data.items():
            objects += [(kind, item) for item in items]
    rnd.shuffle(objects)
    dst.mkdir()
    for i, (kind, item) in enumerate(objects):
        name = f"{rnd.randrange(10**6):06d}-{i}.yaml"
        (dst / name).write_text(yaml.safe_dump({kind: [item]}, sort_keys=bool(rnd.getrandbits(1))))


def test_rendering_is_byte_identical_whatever_the_file_order(tmp_path: Path, root: Path) -> None:
    base = Workspace(root / "inventory", root / "intents", root / "netorch" / "templates").render()
    for seed in (1, 2, 3):
        folder = tmp_path / f"i{seed}"
        _explode(root / "intents", folder, seed)
        again = Workspace(root / "inventory", folder, root / "netorch" / "templates").render()
        assert again == base


def test_limit_selects_hosts_and_groups(example: Workspace) -> None:
    assert sorted(example.render("r1")) == ["r1"]
    assert sorted(example.render("branch,nc1")) == ["eos1", "ios1", "junos1", "nc1"]


def test_render_writes_host_folders(tmp_path: Path, root: Path) -> None:
    from netorch.cli import main

    assert main(["--inventory", str(root / "inventory"), "--intents", str(root / "intents"),
                 "--templates", str(root / "netorch" / "templates"), "render", "--out", str(tmp_path)]) == 0
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert "r1/frr.conf" in written and "r1/nftables.nft" in written
    assert "nc1/config.xml" in written and "junos1/config.conf" in written
    assert len(written) == 14  # r1-r4 and up1: frr.conf + nftables.nft; nc1, eos1, ios1, junos1: one each


def test_missing_template_variable_names_host_template_and_variable(tmp_path: Path, root: Path) -> None:
    from netorch.errors import RenderError
    from netorch.render import _environment

    shutil.copytree(root / "netorch" / "templates", tmp_path / "templates")
    conf = tmp_path / "templates" / "frr" / "frr.conf.j2"
    conf.write_text(conf.read_text() + "{{ no_such_variable }}\n")
    _environment.cache_clear()
    ws = Workspace(root / "inventory", root / "intents", tmp_path / "templates")
    try:
        ws.render("r1")
    except RenderError as exc:
        assert exc.host == "r1" and exc.template == "frr/frr.conf.j2"
        assert "no_such_variable" in str(exc)
    else:
        raise AssertionError("render should have failed")


def _block(text: str, header: str) -> str:
    """The lines of an indented block that starts at `header` (IOS/EOS style, up to '!')."""
    lines = text.splitlines()
    start = lines.index(header)
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith(" "))
    return "\n".join(lines[start:end])


def test_nftables_drops_ipv6_forwarded_through_domain_interfaces(example: Workspace) -> None:
    from netorch.configtree.nft import parse_nft

    rendered = example.render()
    forward = parse_nft(rendered["r1"]["nftables.nft"])["forward"]
    drops = ['meta nfproto ipv6 iifname "eth3" drop comment "ipv6: netorch manages IPv4 only"',
             'meta nfproto ipv6 oifname "eth3" drop comment "ipv6: netorch manages IPv4 only"']
    # before established connections are accepted, so an IPv6 flow cannot outlive the apply
    assert forward[1:4] == [*drops, "ct state established,related accept"]
    # r3 has no domain member: nothing to drop there
    assert "nfproto ipv6" not in rendered["r3"]["nftables.nft"]


def test_acl_platforms_drop_ipv6_on_domain_interfaces(example: Workspace) -> None:
    rendered = example.render()
    ios = rendered["ios1"]["config.txt"]
    acl = _block(ios, "ipv6 access-list netorch_ipv6_drop")
    assert acl.splitlines()[-1] == " deny ipv6 any any"
    assert " permit icmp any any nd-ns" in acl  # neighbour discovery with the router itself
    member = _block(ios, "interface GigabitEthernet0/2")
    assert " ipv6 traffic-filter netorch_ipv6_drop in" in member
    assert " ipv6 traffic-filter netorch_ipv6_drop out" in member
    assert "ipv6" not in _block(ios, "interface GigabitEthernet0/1")

    eos = rendered["eos1"]["config.txt"]
    acl = _block(eos, "ipv6 access-list netorch_ipv6_drop")
    assert acl.splitlines()[-1] == "   50 deny ipv6 any any"
    member = _block(eos, "interface Ethernet3")
    assert "   ipv6 access-group netorch_ipv6_drop in" in member
    assert "   ipv6 access-group netorch_ipv6_drop out" in member
    assert "ipv6" not in _block(eos, "interface Ethernet1")


def test_junos_discards_ipv6_on_domain_units(example: Workspace) -> None:
    conf = example.render()["junos1"]["config.conf"]
    unit = conf[conf.index("    ge-0/0/1 {"):conf.index("    lo0 {")]
    assert ("family inet6 {\n                filter {\n                    input netorch_ipv6_drop;\n"
            "                    output netorch_ipv6_drop;") in unit
    assert "inet6" not in conf[conf.index("    ge-0/0/0 {"):conf.index("    ge-0/0/1 {")]
    v6 = conf[conf.index("    family inet6 {\n        filter netorch_ipv6_drop {"):]
    last_term = v6[v6.rindex("term "):]
    assert last_term.startswith("term ipv6-not-managed {\n                then discard;")
