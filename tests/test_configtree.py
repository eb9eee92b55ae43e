"""Comparison by meaning, and the round trip: running + remediation == desired."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netorch.configtree.base import Difference, render_diffs
from netorch.configtree.frr import diff_frr, frr_remediation, parse_frr
from netorch.configtree.nft import diff_nft
from netorch.model.ownership import Ownership, protocol_kinds, retire_protocols

RUNNING = """Building configuration...

Current configuration:
!
frr version 8.4.4
frr defaults traditional
hostname r1
log file /var/log/frr.log
no ipv6 forwarding
service integrated-vtysh-config
!
ip route 10.2.0.0/24 10.0.12.2
!
interface eth1
 description to r2
 ip address 10.0.12.1/30
exit
!
interface eth0
exit
!
end
"""

DESIRED = """frr defaults traditional
hostname r1
no ipv6 forwarding
service integrated-vtysh-config
!
ip route 10.2.0.0/24 10.0.12.2
!
interface eth1
 ip address 10.0.12.1/30
 description to r2
exit
!
end
"""


def test_order_and_unmanaged_lines_do_not_count() -> None:
    assert diff_frr(RUNNING, DESIRED) == []
    assert "log file /var/log/frr.log" in parse_frr(RUNNING).ignored


def test_classes() -> None:
    running = RUNNING.replace("ip route 10.2.0.0/24 10.0.12.2", "ip route 10.9.0.0/24 10.0.12.2\n"
                              "ip route 10.2.0.0/24 10.0.12.2 200")
    running = running.replace(" description to r2\n", "")
    diffs = {(d.kind, d.path) for d in diff_frr(running, DESIRED)}
    assert ("unexpected", ("ip route 10.9.0.0/24 10.0.12.2",)) in diffs
    assert ("changed", ("ip route 10.2.0.0/24 10.0.12.2",)) in diffs
    assert ("missing", ("interface eth1", "description to r2")) in diffs
    assert not any(d[1] == ("ip route 10.2.0.0/24 10.0.12.2 200",) for d in diffs)


def test_hostname_is_unmanaged() -> None:
    # FRR takes it from the kernel, and each vtysh process prints its own: netorch does not own it
    running = RUNNING.replace("hostname r1", "hostname other")
    assert diff_frr(running, DESIRED) == []
    assert "hostname other" in parse_frr(running).ignored


NFT_RUNNING = """table inet netorch {
	chain forward {
		type filter hook forward priority filter; policy accept;
		iifname "eth3" jump a
	}

	chain a {
		ip saddr 10.1.0.0/24 accept comment "x"
		ip saddr 10.3.0.0/24 drop comment "y"
	}
}
"""


def test_nft_order_matters_and_missing_table() -> None:
    desired = "table inet netorch\ndelete table inet netorch\n" + NFT_RUNNING
    assert diff_nft(NFT_RUNNING, desired) == []
    swapped = NFT_RUNNING.replace('accept comment "x"\n\t\tip saddr 10.3.0.0/24 drop comment "y"',
                                  'drop comment "y"\n\t\tip saddr 10.1.0.0/24 accept comment "x"')
    swapped = swapped.replace("ip saddr 10.1.0.0/24 drop", "ip saddr 10.3.0.0/24 drop")
    assert diff_nft(swapped, desired)
    kinds = {d.kind for d in diff_nft(None, desired)}
    assert kinds == {"missing"}


def _bgp_line(children: list[str], line: str) -> bool:
    """FRR's neighbours: `no neighbor X` or `no neighbor X remote-as N` delete every line about X;
    a line about a neighbour without a remote-as is refused; a new remote-as replaces the old.
    True when handled."""
    words = line.removeprefix("no ").split()
    if len(words) < 2 or words[0] != "neighbor":
        return False
    about = f"neighbor {words[1]} "
    exists = any(c.startswith(about + "remote-as ") for c in children)
    if not exists and not (not line.startswith("no ") and words[2:3] == ["remote-as"]):
        raise AssertionError(f"FRR refuses {line!r}: specify remote-as first")
    if line.startswith("no ") and (len(words) == 2 or words[2] == "remote-as"):
        children[:] = [c for c in children if not c.startswith(about)]
        return True
    if words[2] == "remote-as":
        children[:] = [c for c in children if not c.startswith(about + "remote-as ")]
    return False


def apply_vtysh(running: str, commands: list[str]) -> str:
    """A tiny model of what vtysh does with configuration commands, for the round trip."""
    config = parse_frr(running)
    leaves = list(config.leaves)
    blocks = {k: list(v) for k, v in config.blocks.items()}
    current: str | None = None
    for raw in commands:
        line = raw.strip()
        if line in ("exit", "exit-vrf"):
            current = None
            continue
        if raw.startswith(" ") and current is not None:
            if line.startswith("no description "):
                raise AssertionError(f"FRR refuses {line!r}: only a bare `no description` exists")
            if current.startswith("router bgp ") and _bgp_line(blocks[current], line):
                continue
            if line == "no description":
                blocks[current] = [c for c in blocks[current] if not c.startswith("description ")]
            elif line.startswith("no "):
                blocks[current] = [c for c in blocks[current] if c != line[3:]]
            elif line.startswith("description "):  # single-valued: replaces
                blocks[current] = [c for c in blocks[current] if not c.startswith("description ")] + [line]
            elif line not in blocks[current]:
                blocks[current].append(line)
            continue
        if line.startswith("no interface "):
            raise AssertionError(f"FRR refuses {line!r} for an interface the kernel has")
        if line.split(" ", 1)[0] in ("interface", "vrf", "router", "route-map"):
            current = line
            blocks.setdefault(line, [])
            continue
        if line.startswith(("no router ", "no route-map ")):
            assert line[3:] in blocks, f"FRR refuses {line!r}: no such block"
            del blocks[line[3:]]
            continue
        if line.startswith("no "):
            leaves = [x for x in leaves if x != line[3:]]
        elif line.startswith("hostname "):
            leaves = [x for x in leaves if not x.startswith("hostname ")] + [line]
        elif line not in leaves:
            leaves.append(line)
    text = "\n".join(leaves) + "\n"
    for header, children in blocks.items():
        text += header + "\n" + "".join(f" {c}\n" for c in children) + "exit\n"
    return text


route = st.builds(lambda a, b, hop: f"ip route 10.{a}.{b}.0/24 10.0.12.{hop}",
                  st.integers(0, 20), st.integers(0, 3), st.sampled_from([2, 6]))
desc = st.sampled_from(["to r2", "uplink", "users subnet", None])


def config(routes: list[str], description: str | None, hostname: str) -> str:
    text = f"frr defaults traditional\nhostname {hostname}\nno ipv6 forwarding\n!\n"
    text += "".join(f"{r}\n" for r in routes)
    text += "interface eth1\n" + (f" description {description}\n" if description else "")
    text += " ip address 10.0.12.1/30\nexit\n"
    return text


@settings(max_examples=200, deadline=None)
@given(st.lists(route, max_size=8, unique=True), st.lists(route, max_size=8, unique=True), desc, desc,
       st.sampled_from(["r1", "r9"]))
def test_round_trip_running_plus_remediation_is_desired(have: list[str], want: list[str], d1: str | None,
                                                        d2: str | None, host: str) -> None:
    running = config(have, d1, host)
    desired = config(want, d2, "r1")
    diffs = diff_frr(running, desired)
    fixed = apply_vtysh(running, frr_remediation(diffs))
    assert diff_frr(fixed, desired) == [], render_diffs(diff_frr(fixed, desired))
    assert (diffs == []) == (set(have) == set(want) and d1 == d2)


# -- ownership ------------------------------------------------------------------------------
FOREIGN = """vrf blue
 ip route 10.77.0.0/16 10.0.12.2
exit-vrf
!
ip prefix-list theirs seq 5 permit 10.0.0.0/8
route-map theirs permit 10
exit
!
interface eth9
 description not in the inventory
exit
!
interface eth1
 description to r2
 ip address 10.0.12.1/30
 ip ospf cost 10
exit
"""


def test_unowned_parts_are_neither_drift_nor_removed() -> None:
    from netorch.configtree.frr import unmanaged_frr

    running = RUNNING.replace("interface eth1\n description to r2\n ip address 10.0.12.1/30\nexit\n", FOREIGN)
    assert diff_frr(running, DESIRED, ("eth0",)) == []
    assert frr_remediation(diff_frr(running, DESIRED, ("eth0",))) == []
    listed = unmanaged_frr(running, DESIRED, ("eth0",))
    assert {"vrf blue (1 line(s))", "ip prefix-list theirs seq 5 permit 10.0.0.0/8",
            "route-map theirs permit 10 (0 line(s))", "interface eth9 (1 line(s))",
            "interface eth1 / ip ospf cost 10"} <= set(listed)


def test_widened_ownership_from_the_artifact_header() -> None:


    running = RUNNING.replace("interface eth1\n description to r2\n ip address 10.0.12.1/30\nexit\n", FOREIGN)
    header = Ownership(static_routes="all", interfaces="all", prefix_lists="all").header()
    assert header == "! netorch-ownership: static_routes=all interfaces=all prefix_lists=all"
    diffs = {(d.kind, d.path) for d in diff_frr(running, header + "\n" + DESIRED, ("eth0",))}
    assert diffs == {("unexpected", ("vrf blue", "ip route 10.77.0.0/16 10.0.12.2")),
                     ("unexpected", ("ip prefix-list theirs seq 5 permit 10.0.0.0/8",)),
                     ("unexpected", ("interface eth9", "description not in the inventory"))}
    fix = frr_remediation(diff_frr(running, header + "\n" + DESIRED, ("eth0",)))
    assert "no vrf blue" not in fix and " no ip route 10.77.0.0/16 10.0.12.2" in fix
    whole = Ownership(vrfs="all").header() + "\n" + DESIRED
    assert [(d.kind, d.path) for d in diff_frr(running, whole, ("eth0",))] == [("unexpected", ("vrf blue",))]
    assert Ownership.from_artifact(whole) == Ownership(vrfs="all")


def test_ownership_schema_is_validated() -> None:
    import pytest
    from pydantic import ValidationError



    with pytest.raises(ValidationError):
        Ownership.model_validate({"static_routes": "some"})
    with pytest.raises(ValidationError):
        Ownership.model_validate({"vrf": "all"})


# -- kernel state ----------------------------------------------------------------------------
def test_kernel_address_change_is_config_drift_and_fixed_through_frr() -> None:
    from netorch.configtree.frr import KernelInterface

    kernel = {"eth1": KernelInterface(("10.0.12.9/30",), True)}
    diffs = diff_frr(RUNNING, DESIRED, ("eth0",), kernel)
    assert [(d.kind, d.path) for d in diffs] == [
        ("missing", ("interface eth1", "ip address 10.0.12.1/30")),
        ("unexpected", ("interface eth1", "ip address 10.0.12.9/30"))]
    assert frr_remediation(diffs) == ["interface eth1", " ip address 10.0.12.9/30", " no ip address 10.0.12.9/30",
                                      " no ip address 10.0.12.1/30", " ip address 10.0.12.1/30", "exit"]
    assert diff_frr(RUNNING, DESIRED, ("eth0",), {"eth1": KernelInterface(("10.0.12.1/30",), True)}) == []


def test_admin_down_in_the_kernel_is_brought_up() -> None:
    from netorch.configtree.frr import KernelInterface

    diffs = diff_frr(RUNNING, DESIRED, ("eth0",), {"eth1": KernelInterface(("10.0.12.1/30",), False),
                                                   "eth0": KernelInterface((), False)})
    assert [(d.kind, d.path, d.detail) for d in diffs] == [
        ("missing", ("interface eth1", "no shutdown"), "administratively down in the kernel")]
    assert frr_remediation(diffs) == ["interface eth1", " no shutdown", "exit"]


# -- nftables: sets, moves, foreign tables ----------------------------------------------------
def test_nft_extra_set_is_interfering_and_a_moved_rule_names_its_positions() -> None:
    desired = "table inet netorch\ndelete table inet netorch\n" + NFT_RUNNING
    with_set = NFT_RUNNING.replace("table inet netorch {\n", "table inet netorch {\n\tset evil {\n\t\ttype ipv4_addr\n"
                                   "\t\telements = { 10.1.0.5,\n\t\t\t     10.1.0.6 }\n\t}\n\n")
    assert [(d.kind, d.path, d.detail) for d in diff_nft(with_set, desired)] == [
        ("interfering", ("set evil",), "in table inet netorch, not written by netorch: type ipv4_addr; "
                                       "elements = { 10.1.0.5, 10.1.0.6 }")]
    swapped = NFT_RUNNING.replace('ip saddr 10.1.0.0/24 accept comment "x"\n\t\tip saddr 10.3.0.0/24 drop comment "y"',
                                  'ip saddr 10.3.0.0/24 drop comment "y"\n\t\tip saddr 10.1.0.0/24 accept comment "x"')
    moved = [(d.kind, d.path[-1], d.detail) for d in diff_nft(swapped, desired)]
    assert len(moved) == 1 and moved[0][0] == "changed"
    assert "running" in moved[0][2] and "intended" in moved[0][2]


RULESET = NFT_RUNNING + """table ip theirs {
	chain screen {
		type filter hook forward priority -10; policy accept;
		ip daddr 10.2.0.0/24 tcp dport 8080 drop
		ip daddr 192.0.2.0/24 drop
		ip daddr 10.2.0.0/24 accept
	}

	chain in {
		type filter hook input priority 0; policy drop;
	}
}
table inet strict {
	chain screen {
		type filter hook forward priority 0; policy drop;
	}
}
"""


def test_foreign_tables_that_drop_carried_traffic_are_interfering() -> None:
    from ipaddress import IPv4Network

    from netorch.configtree.nft import nft_interference

    carried = [IPv4Network("10.2.0.0/24"), IPv4Network("10.1.0.0/24")]
    found = [(d.kind, d.path) for d in nft_interference(RULESET, "inet netorch", carried, ("forward",))]
    assert found == [("interfering", ("table ip theirs", "chain screen", "ip daddr 10.2.0.0/24 tcp dport 8080 drop")),
                     ("interfering", ("table inet strict", "chain screen", "policy drop"))]
    owned = [(d.kind, d.path) for d in nft_interference(RULESET, "inet netorch", carried, ("forward",), True)]
    assert owned == [("unexpected", ("table ip theirs",)), ("unexpected", ("table inet strict",))]


# -- reports a person can act on ----------------------------------------------------------------
def test_a_missing_backup_route_says_why() -> None:
    from ipaddress import IPv4Address, IPv4Network

    from netorch.model.desired import DesiredRoute
    from netorch.transport.napalm_session import route_checks

    main = DesiredRoute(prefix=IPv4Network("10.2.0.0/24"), next_hop=IPv4Address("10.0.12.2"), origin="r")
    backup = DesiredRoute(prefix=IPv4Network("10.2.0.0/24"), next_hop=IPv4Address("10.0.13.2"), distance=200,
                          origin="r")
    table = {"10.2.0.0/24": [{"protocol": "static", "next_hop": "10.0.12.2", "preference": 1,
                              "current_active": True}]}
    checks = route_checks([main, backup], table)
    assert [(c.present, c.detail) for c in checks] == [
        (True, ""),
        (False, "backup static route 10.2.0.0/24 via 10.0.13.2 (distance 200) is not in the RIB: its next hop "
                "is not reachable, so it cannot take over")]


def test_a_timeout_says_how_long() -> None:
    from netorch.transport.napalm_frr.driver import FrrDriver

    drv = FrrDriver("192.0.2.1", "u", "p", timeout=7)
    assert drv._why(TimeoutError()) == "timed out after 7 s"
    assert drv._why(OSError("No route to host")) == "No route to host"


def test_every_entry_of_a_route_map_netorch_writes_is_owned_and_daemons_follow_sections() -> None:
    from netorch.model.ownership import daemons_needed

    desired = DESIRED.replace("end\n", "route-map OUT permit 10\n match ip address prefix-list P\nexit\nend\n")
    running = RUNNING.replace("end\n", "route-map OUT permit 10\n match ip address prefix-list P\nexit\n"
                              "route-map OUT deny 20\nexit\nroute-map THEIRS permit 5\nexit\nend\n")
    assert [(d.kind, d.path) for d in diff_frr(running, desired)] == [("unexpected", ("route-map OUT deny 20",))]
    assert daemons_needed(set()) == ["zebra"]
    assert daemons_needed({"routes", "bgp"}) == ["zebra", "staticd", "bgpd"]


def test_render_states_a_widened_ownership_and_only_then() -> None:
    from pathlib import Path

    from netorch.model.desired import DesiredState
    from netorch.platforms import Platform
    from netorch.render import render_state

    templates = Path(__file__).resolve().parents[1] / "netorch" / "templates"
    base = DesiredState(host="r9", platform=Platform.FRR, stateful_filter=True, interfaces=(), routes=(),
                        filters=(), services=())
    plain = render_state(base, templates)
    assert "netorch-ownership" not in plain["frr.conf"] and "flush ruleset" not in plain["nftables.nft"]
    wide = render_state(base.model_copy(update={"ownership": Ownership(vrfs="all", nft_tables="all")}), templates)
    assert wide["frr.conf"].splitlines()[0] == "! netorch-ownership: vrfs=all nft_tables=all"
    assert Ownership.from_artifact(wide["frr.conf"]) == Ownership(vrfs="all", nft_tables="all")
    assert "\nflush ruleset\n" in wide["nftables.nft"]


R2 = (Path(__file__).resolve().parent / "golden/frr/routing_r2/frr.conf").read_text()
PROTOCOL_DRIFT = {
    "no protocols": "\n".join(line for line in R2.splitlines()
                               if not line.startswith(("ip prefix-list", " ip ospf"))).split("router bgp")[0],
    "neighbour gone, cost, local preference": R2.replace(" neighbor 10.255.0.4 remote-as 65000\n", "")
    .replace(" neighbor 10.255.0.4 description r4\n neighbor 10.255.0.4 update-source lo\n", "")
    .replace("  neighbor 10.255.0.4 next-hop-self\n", "")
    .replace(" ip ospf network point-to-point\n", " ip ospf cost 5\n", 1)
    .replace("set local-preference 150", "set local-preference 90"),
    "extra neighbour and network, other remote-as": R2.replace(
        " neighbor 10.0.25.2 remote-as 64999\n",
        " neighbor 10.0.25.2 remote-as 64998\n neighbor 10.9.9.9 remote-as 1\n neighbor 10.9.9.9 description x\n")
    .replace("  network 10.3.0.0/24\n", "  network 10.3.0.0/24\n  network 10.66.0.0/16\n"
             "  neighbor 10.9.9.9 maximum-prefix 5\n"),
    "other AS": R2.replace("router bgp 65000", "router bgp 65111").replace("route-map netorch_in_up1 permit 1000\n"
                                                                        "exit\n", ""),
}


@pytest.mark.parametrize("case", sorted(PROTOCOL_DRIFT))
def test_protocol_round_trip(case: str) -> None:
    """running + remediation == desired with OSPF and BGP sections (the FRR driver's diff)."""
    running = PROTOCOL_DRIFT[case]
    diffs = diff_frr(running, R2)
    assert diffs
    commands = frr_remediation(diffs)
    fixed = apply_vtysh(running, commands)
    assert diff_frr(fixed, R2) == [], render_diffs(diff_frr(fixed, R2))


def test_bgp_remediation_keeps_the_address_family_and_the_neighbour() -> None:
    running = R2.replace(" neighbor 10.255.0.4 remote-as 65000\n", " neighbor 10.255.0.4 remote-as 65004\n")
    assert frr_remediation(diff_frr(running, R2)) == ["router bgp 65000", " neighbor 10.255.0.4 remote-as 65000",
                                                      "exit"]
    running = R2.replace("  network 10.3.0.0/24\n", "  network 10.7.0.0/24\n")
    assert frr_remediation(diff_frr(running, R2)) == [
        "router bgp 65000", " address-family ipv4 unicast", "  no network 10.7.0.0/24", "  network 10.3.0.0/24",
        " exit-address-family", "exit"]


def test_protocol_ownership_follows_what_netorch_renders() -> None:
    # another ASN's BGP in the default VRF is replaced (FRR runs one instance per VRF) ...
    other = R2.replace("router bgp 65000", "router bgp 65111")
    diffs = diff_frr(other, R2)
    assert Difference("unexpected", ("router bgp 65111",), "26 line(s)") in diffs
    fixed = frr_remediation(diffs)
    assert "no router bgp 65111" in fixed and "router bgp 65000" in fixed
    # ... an out-of-band OSPF cost on an owned interface is drift, a stale netorch_ policy too
    drifted = R2.replace(" ip ospf network point-to-point\n", " ip ospf network point-to-point\n ip ospf cost 500\n", 1)
    drifted += "ip prefix-list netorch_old seq 5 permit 10.9.0.0/16\nroute-map netorch_old permit 10\nexit\n"
    kinds = {(d.kind, d.path) for d in diff_frr(drifted, R2)}
    assert ("unexpected", ("interface eth1", "ip ospf cost 500")) in kinds
    assert ("unexpected", ("ip prefix-list netorch_old seq 5 permit 10.9.0.0/16",)) in kinds
    assert ("unexpected", ("route-map netorch_old permit 10",)) in {(k, p) for k, p in kinds if len(p) == 1}
    # where netorch renders no OSPF or BGP, the operator's are not netorch's
    bare = "\n".join(line for line in R2.splitlines() if not line.startswith(" ip ospf")).split("router bgp")[0]
    theirs = bare + ("router ospf\n ospf router-id 1.1.1.1\nexit\nrouter bgp 65111\nexit\n"
                     "interface eth1\n ip ospf cost 7\nexit\n")
    assert [d for d in diff_frr(theirs, bare) if "ospf" in str(d) or "bgp" in str(d)] == []


def test_nft_sets_compare_by_meaning_as_nft_merges_them() -> None:
    """nft lists adjacent elements of an interval set merged: that is the same rule."""
    from netorch.configtree.nft import diff_nft

    desired = ("table inet netorch {\n chain c {\n  ip daddr { 10.64.0.0/24, 10.64.2.0/24, 10.64.3.0/24 }"
               " tcp dport { 22, 8000-8080, 8081 } accept\n }\n}\n")
    listed = ("table inet netorch {\n chain c {\n  ip daddr { 10.64.0.0/24, 10.64.2.0-10.64.3.255 }"
              " tcp dport { 22, 8000-8081 } accept\n }\n}\n")
    assert diff_nft(listed, desired) == []
    narrower = listed.replace("10.64.2.0-10.64.3.255", "10.64.2.0/24")
    assert [d.kind for d in diff_nft(narrower, desired)] == ["unexpected", "missing"]
    other_port = listed.replace("8000-8081", "8000-8082")
    assert [d.kind for d in diff_nft(other_port, desired)] == ["unexpected", "missing"]


def test_a_protocol_netorch_pushed_before_is_removed_when_the_intents_drop_it() -> None:
    """A router taken out of the BGP intent: its desired config renders no `router bgp`. Without
    ownership `protocols` the block is not netorch's (it is kept); with the kind the engine marks
    as pushed before (retire_protocols), it is drift and its remediation removes it, while a
    kind netorch never pushed (a hand-written `router ospf`) stays unmanaged."""
    without_bgp = R2.split("router bgp")[0]
    assert not any("router bgp" in " ".join(d.path) for d in diff_frr(R2, without_bgp))
    assert protocol_kinds(R2) >= {"bgp"} and "bgp" not in protocol_kinds(without_bgp)
    retiring = retire_protocols(without_bgp, {"bgp"})
    assert Ownership.from_artifact(retiring).protocols == "bgp"
    diffs = diff_frr(R2, retiring)
    assert any(d.path[0].startswith("router bgp") for d in diffs), render_diffs(diffs)
    fixed = apply_vtysh(R2, frr_remediation(diffs))
    assert "router bgp" not in fixed
    assert diff_frr(fixed, retiring) == []
    hand_ospf = without_bgp.replace("router ospf", "router ospf") + "router ospf\n ospf router-id 9.9.9.9\nexit\n"
    own_ospf = "\n".join(line for line in retiring.splitlines() if not line.startswith((" ip ospf", "router ospf")))
    assert not any("ospf router-id 9.9.9.9" in " ".join(d.path) for d in diff_frr(hand_ospf, own_ospf))
    # both kinds: the header says all; an existing header keeps its other widenings
    wide = retire_protocols("! netorch-ownership: vrfs=all\n" + without_bgp, {"bgp", "ospf"})
    assert Ownership.from_artifact(wide) == Ownership(vrfs="all", protocols="all")
    assert wide.count("netorch-ownership") == 1
