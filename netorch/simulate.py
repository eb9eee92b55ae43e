"""What the desired state says traffic will do: forwarding hop by hop over the routes the
control-plane model (netorch.rib) says each router selects (connected, static, OSPF, BGP),
through the domain filters at the edges. Pure, no I/O.

This is the expectation that `netorch lab probe` and the end-to-end tests compare real
traffic against: it is computed from the intents, never written by hand."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from netorch.model.desired import DesiredState, FilterAction, InterfaceFilter
from netorch.rib import ControlPlane
from netorch.topology import Topology

MAX_HOPS = 32


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str
    path: tuple[str, ...] = ()


def _matches(rule_nets: tuple[IPv4Network, ...], address: IPv4Address) -> bool:
    return not rule_nets or any(address in n for n in rule_nets)


def filter_verdict(flt: InterfaceFilter, src: IPv4Address, dst: IPv4Address, protocol: str,
                   port: int | None) -> tuple[bool, str]:
    """First match wins; traffic no rule matches is accepted (filters end with their drops)."""
    for rule in flt.rules:
        if rule.reply:
            continue
        if rule.protocol.value not in ("any", protocol):
            continue
        if not (_matches(rule.sources, src) and _matches(rule.destinations, dst)):
            continue
        if rule.ports and (port is None or not any(p.start <= port <= p.end for p in rule.ports)):
            continue
        return rule.action == FilterAction.ACCEPT, rule.origin
    return True, "no rule matched"


def _filter(state: DesiredState, interface: str, direction: str) -> InterfaceFilter | None:
    return next((f for f in state.filters if f.interface == interface and f.direction == direction), None)


_PLANE: list[tuple[dict[str, DesiredState], ControlPlane]] = []


def plane_of(desired: dict[str, DesiredState]) -> ControlPlane:
    """The control-plane model of `desired` (the last one is kept: a probe asks many flows)."""
    if _PLANE and _PLANE[0][0] is desired:
        return _PLANE[0][1]
    plane = ControlPlane(desired)
    _PLANE[:] = [(desired, plane)]
    return plane


def _lookup(state: DesiredState, topo: Topology, dst: IPv4Address,
            plane: ControlPlane) -> tuple[str, IPv4Address | None] | None:
    """(egress interface, next hop or None when dst is on the link) of the route the control-plane
    model selects for dst (equal-cost next hops: the lowest)."""
    route = plane.rib(state.host).lookup(dst)
    if route is None or not route.next_hops:
        return None
    hop = min(route.next_hops)
    return hop.interface or "?", hop.address


def forward(desired: dict[str, DesiredState], topo: Topology, src: IPv4Address, dst: IPv4Address,
            protocol: str = "icmp", port: int | None = None) -> Verdict:
    """Follow a packet from the router attached to src to the subnet of dst."""
    located = [(h, i) for h, i in topo.locate(src) if h in desired]
    if not located:
        return Verdict(False, f"{src} is on no subnet of a managed router")
    router, in_if = located[0]
    plane = plane_of(desired)
    path = [router]
    for _ in range(MAX_HOPS):
        state = desired[router]
        if in_if is not None:
            flt = _filter(state, in_if, "in")
            if flt is not None:
                ok, why = filter_verdict(flt, src, dst, protocol, port)
                if not ok:
                    return Verdict(False, f"dropped entering {router} {in_if} by {why}", tuple(path))
        hop = _lookup(state, topo, dst, plane)
        if hop is None:
            return Verdict(False, f"{router} has no route to {dst}", tuple(path))
        out_if, next_hop = hop
        flt = _filter(state, out_if, "out")
        if flt is not None:
            ok, why = filter_verdict(flt, src, dst, protocol, port)
            if not ok:
                return Verdict(False, f"dropped leaving {router} {out_if} by {why}", tuple(path))
        if next_hop is None:
            return Verdict(True, f"delivered by {router} {out_if}", tuple(path))
        owners = [(h, i) for h, i in topo.locate(next_hop) if topo.addresses.get(h, {}).get(i) is not None
                  and topo.addresses[h][i].ip == next_hop]
        if not owners or owners[0][0] not in desired:
            return Verdict(False, f"next hop {next_hop} of {router} is no managed router", tuple(path))
        router, in_if = owners[0]
        if router in path:
            return Verdict(False, f"routing loop through {router}", (*path, router))
        path.append(router)
    return Verdict(False, "too many hops", tuple(path))


def expect(desired: dict[str, DesiredState], topo: Topology, src: IPv4Address, dst: IPv4Address,
           protocol: str, port: int | None = None) -> Verdict:
    """Whether a connection (or ping) from src to dst works: forward path allowed and a route back."""
    there = forward(desired, topo, src, dst, protocol, port)
    if not there.allowed:
        return there
    # replies: stateful filters (nftables) pass them; the way back only needs routes
    back = _route_only(desired, topo, dst, src)
    if back is not None:
        return Verdict(False, f"reply cannot come back: {back}", there.path)
    return there


def _route_only(desired: dict[str, DesiredState], topo: Topology, src: IPv4Address,
                dst: IPv4Address) -> str | None:
    located = [(h, i) for h, i in topo.locate(src) if h in desired]
    if not located:
        return f"{src} is on no subnet of a managed router"
    router = located[0][0]
    plane = plane_of(desired)
    seen = {router}
    for _ in range(MAX_HOPS):
        hop = _lookup(desired[router], topo, dst, plane)
        if hop is None:
            return f"{router} has no route to {dst}"
        if hop[1] is None:
            return None
        owners = [h for h, i in topo.locate(hop[1]) if topo.addresses[h][i].ip == hop[1]]
        if not owners or owners[0] not in desired:
            return f"next hop {hop[1]} of {router} is no managed router"
        router = owners[0]
        if router in seen:
            return f"routing loop through {router}"
        seen.add(router)
    return "too many hops"


# -- the live forward chain of one router -------------------------------------------------------
_MATCH = re.compile(r'(iifname|oifname) (!= )?"([^"]+)"|ip (saddr|daddr) (!= )?(\{[^}]*\}|\S+)'
                    r'|(tcp|udp) dport (!= )?(\{[^}]*\}|\S+)|(?:meta l4proto|ip protocol) (!= )?(\S+)|ct state (\S+)'
                    r'|meta nfproto (\S+)')


def _in_set(value: str, item: str, is_port: bool) -> bool:
    for part in (p.strip() for p in value.strip("{} ").split(",")):
        if not part:
            continue
        if is_port:
            lo, _, hi = part.partition("-")
            if lo.isdigit() and int(lo) <= int(item) <= int(hi or lo):
                return True
        else:
            with contextlib.suppress(ValueError):
                if IPv4Address(item) in IPv4Network(part, strict=False):
                    return True
    return False


def _rule_matches(stmt: str, pkt: dict[str, str]) -> bool:
    for m in _MATCH.finditer(stmt.split(" comment ", 1)[0]):
        if m.group(1):
            ok = pkt[m.group(1)] == m.group(3)
            neg = bool(m.group(2))
        elif m.group(4):
            ok = _in_set(m.group(6), pkt[m.group(4)], False)
            neg = bool(m.group(5))
        elif m.group(7):
            ok = pkt["protocol"] == m.group(7) and pkt["port"] != "" and _in_set(m.group(9), pkt["port"], True)
            neg = bool(m.group(8))
        elif m.group(11):
            ok = pkt["protocol"] == m.group(11)
            neg = bool(m.group(10))
        elif m.group(12):
            ok = "new" in m.group(12).split(",")  # a probe's first packet is a new connection
            neg = False
        else:
            ok, neg = m.group(13) == "ipv4", False  # netorch's probes are IPv4
        if ok == neg:
            return False
    return True


def chain_verdict(table: str, src: IPv4Address, dst: IPv4Address, protocol: str, port: int | None,
                  iif: str, oif: str, chain: str = "forward") -> tuple[bool, str]:
    """What a live nftables table (as `nft list table` prints netorch's) does with the first
    packet of a flow at its `chain`: (accepted, the deciding rule or why). First match wins;
    jump and goto follow; the end of a base chain is its policy."""
    from netorch.configtree.nft import parse_nft

    chains = parse_nft(table)
    pkt = {"iifname": iif, "oifname": oif, "saddr": str(src), "daddr": str(dst), "protocol": protocol,
           "port": str(port) if port is not None else ""}

    def run(name: str, depth: int) -> tuple[bool | None, str]:
        if depth > 16 or name not in chains:
            return None, ""
        for stmt in chains[name]:
            if stmt.startswith("type "):
                continue
            if not _rule_matches(stmt, pkt):
                continue
            verdict = stmt.split(" comment ", 1)[0].split()[-2:]
            if verdict[-1] in ("accept", "drop", "reject"):
                return verdict[-1] == "accept", f"chain {name}: {stmt}"
            if verdict[0] in ("jump", "goto"):
                decided, why = run(verdict[1], depth + 1)
                if decided is not None or verdict[0] == "goto":
                    return decided, why
            if verdict[-1] == "return":
                return None, ""
        return None, ""

    decided, why = run(chain, 0)
    if decided is not None:
        return decided, why
    head = next((s for s in chains.get(chain, []) if s.startswith("type ")), "")
    return "policy drop" not in head, f"chain {chain}: policy" + (" drop" if "policy drop" in head else " accept")
