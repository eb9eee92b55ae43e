"""The forwarding and filtering model of the compiled network, built from the desired state.

Per router and VRF: the routes the one control-plane model (netorch.rib) says the router
selects under the failure scenario (connected subnets of the interfaces that are up, static
routes whose next hop is reachable, OSPF and BGP as the routers compute them; `RIB_SOURCES`,
to which `verify --against live` adds the routes read from the devices), a FIB of the best
entry per prefix (lowest distance) among the entries that resolve, longest-prefix match, and next hops resolved
to the neighbour across the link. Per domain member interface: the filters with their
platform's semantics (`SEMANTICS`). Pure, no I/O.

Modelling choices (stated, tested): traffic arriving on an interface uses the table of the
interface's VRF (connected subnets of the default VRF are also found from other tables); an interface
route hands packets to the one other router of a point-to-point link, and onto the link when
the destination is on it or the link has no single peer; a next hop that belongs to no router
of the inventory takes packets out of the managed network ("exit"); a failed router takes its
point-to-point links down with it (their peers lose carrier)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Literal

from netorch.model.desired import DesiredState, FilterAction, FilterRule, InterfaceFilter
from netorch.model.intents import Protocol
from netorch.platforms import Platform
from netorch.rib import ControlPlane
from netorch.topology import Topology
from netorch.verify.headerspace import ALL_SERVICES, EMPTY, Atoms, AtomSet, Services, services

Kind = Literal["forward", "reply"]


# -- platform semantics, as data ----------------------------------------------------------------
@dataclass(frozen=True)
class FilterSemantics:
    """How a platform's filters treat packets.

    stateful     replies of a connection the router forwarded pass (nftables conntrack:
                 `ct state established,related accept` before the chains)
    one_verdict  the first accept or drop of any of the router's filters decides (nftables:
                 every chain is jumped to from one base chain, in the rendered order); otherwise
                 each filter (an in ACL, an out ACL) decides on its own and both must accept
    reply_rules  the filter carries the compiler's explicit reply entries (stateless ACLs and
                 firewall filters: TCP "established"/"tcp-established", ICMP echo-reply, UDP by
                 source port)"""

    stateful: bool
    one_verdict: bool
    reply_rules: bool


SEMANTICS: dict[Platform, FilterSemantics] = {
    Platform.FRR: FilterSemantics(stateful=True, one_verdict=True, reply_rules=False),
    Platform.NETCONF: FilterSemantics(stateful=False, one_verdict=False, reply_rules=True),
    Platform.CISCO_IOS: FilterSemantics(stateful=False, one_verdict=False, reply_rules=True),
    Platform.ARISTA_EOS: FilterSemantics(stateful=False, one_verdict=False, reply_rules=True),
    Platform.JUNIPER_JUNOS: FilterSemantics(stateful=False, one_verdict=False, reply_rules=True),
}


# -- failures -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Failure:
    """Elements that are down: links (by their subnet) and routers."""

    links: frozenset[IPv4Network] = frozenset()
    routers: frozenset[str] = frozenset()

    def __str__(self) -> str:
        return ", ".join([*(f"link {n}" for n in sorted(self.links)), *(f"router {r}" for r in sorted(self.routers))])


NO_FAILURE = Failure()


def down_interfaces(topo: Topology, failure: Failure) -> set[tuple[str, str]]:
    """(host, interface) pairs that are down under `failure`."""
    down: set[tuple[str, str]] = set()
    for net in failure.links:
        down.update(topo.attached.get(net, ()))
    for router in failure.routers:
        for ifname in topo.addresses.get(router, {}):
            down.add((router, ifname))
        for lk in topo.links.get(router, []):
            if len(topo.attached.get(lk.network, ())) == 2:  # point-to-point: the peer loses carrier
                down.update(topo.attached[lk.network])
    return down


# -- the RIB and its sources (the seam for protocol routes) ---------------------------------------
@dataclass(frozen=True)
class RibEntry:
    prefix: IPv4Network
    vrf: str
    source: str  # "connected", "static"; protocol sources add "ospf", "bgp", ...
    distance: int
    next_hop: IPv4Address | None
    interface: str | None
    origin: str  # what the report names: "connected:eth1", "route:NAME", "service:NAME"


RibSource = Callable[[Mapping[str, DesiredState], Topology, set[tuple[str, str]]], Iterator[tuple[str, RibEntry]]]


def intended_routes(desired: Mapping[str, DesiredState], topo: Topology,
                    down: set[tuple[str, str]]) -> Iterator[tuple[str, RibEntry]]:
    """The routes the control-plane model (netorch.rib) says each router selects with `down`
    failed: connected, static, OSPF and BGP, iBGP next hops already resolved through the IGP.
    Equal-cost next hops: the lowest one (a trace follows one path)."""
    plane = ControlPlane(desired, down=down)
    for host in plane.hosts():
        for vrf in {"", *plane.vrfs(host)}:
            for route in plane.rib(host, vrf).selected():
                if not route.next_hops:  # a discard route (an aggregate's)
                    yield host, RibEntry(route.prefix, vrf, "blackhole", route.distance, None, None, route.origin)
                    continue
                hop = min(route.next_hops)
                yield host, RibEntry(route.prefix, vrf, route.protocol, route.distance, hop.address, hop.interface,
                                     route.origin)


# The intended routes are one source; `verify --against live` adds the routes read from devices
# (netorch.verify.live), with the same signature: the desired state of every router, the
# topology and what is down.
RIB_SOURCES: list[RibSource] = [intended_routes]


# -- forwarding ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class FibEntry:
    entry: RibEntry
    out_if: str
    next_hop: IPv4Address | None  # None: the destination is on the link (connected or interface route)


@dataclass(frozen=True)
class Hop:
    """A router on a packet's way: where it came in, where it goes out, and the route used."""

    host: str
    in_if: str | None
    out_if: str | None
    origin: str

    def __str__(self) -> str:
        way = f"{self.in_if or '-'}>{self.out_if or '-'}"
        return f"{self.host}[{way}]" + (f" ({self.origin})" if self.origin else "")


Outcome = Literal["delivered", "no-route", "exit", "loop", "down"]


@dataclass(frozen=True)
class Trace:
    outcome: Outcome
    hops: tuple[Hop, ...]
    detail: str = ""

    @cached_property
    def hostset(self) -> frozenset[str]:
        return frozenset(h.host for h in self.hops)

    def hosts(self) -> frozenset[str]:
        return self.hostset

    def entering(self, in_if: str | None) -> Trace:
        """The same trace for a packet that entered the first router on `in_if`."""
        if not self.hops or self.hops[0].in_if == in_if:
            return self
        first = self.hops[0]
        return Trace(self.outcome, (Hop(first.host, in_if, first.out_if, first.origin), *self.hops[1:]), self.detail)


@dataclass(frozen=True)
class MatchRule:
    """A filter rule as sets: what it matches of connection-initiating packets (forward) and of
    replies, with its verdict and its place."""

    index: int
    accept: bool
    sources: AtomSet
    destinations: AtomSet
    forward: Services
    reply: Services
    origin: str
    rule: FilterRule

    def matches(self, kind: Kind) -> Services:
        return self.forward if kind == "forward" else self.reply


@dataclass
class Filter:
    host: str
    interface: str
    direction: Literal["in", "out"]
    name: str
    rules: tuple[MatchRule, ...]
    position: int  # order among the router's filters (nftables jump order)


def match_rule(index: int, rule: FilterRule, atoms: Atoms, semantics: FilterSemantics) -> MatchRule | None:
    """A rendered rule as sets, or None when the platform does not render it (reply entries on
    a stateful filter). Initiating packets (TCP SYN, ICMP echo request, UDP from an ephemeral
    port) match a reply entry only when it is for any protocol; replies match an entry with
    ports only when it is a reply entry (the client's ephemeral port is outside every rule's
    port list)."""
    if rule.reply and not semantics.reply_rules:
        return None
    svc = services(rule.protocol, rule.ports)
    if rule.reply:
        forward = ALL_SERVICES if rule.protocol == Protocol.ANY else EMPTY
        reply = svc
    else:
        forward = svc
        reply = EMPTY if rule.ports else svc
    return MatchRule(index, rule.action == FilterAction.ACCEPT, atoms.of_nets(rule.sources),
                     atoms.of_nets(rule.destinations), forward, reply, rule.origin, rule)


@dataclass
class Router:
    host: str
    platform: Platform
    semantics: FilterSemantics
    addresses: dict[str, IPv4Interface]
    # vrf -> prefix length -> network (int) -> installed entry
    fib: dict[str, dict[int, dict[int, FibEntry]]] = field(default_factory=dict)
    lengths: dict[str, list[int]] = field(default_factory=dict)
    filters: list[Filter] = field(default_factory=list)
    by_interface: dict[tuple[str, str], Filter] = field(default_factory=dict)

    def lookup(self, value: int, vrf: str = "") -> FibEntry | None:
        for table_vrf in ((vrf, "") if vrf else ("",)):
            table = self.fib.get(table_vrf)
            if not table:
                continue
            for plen in self.lengths[table_vrf]:
                mask = (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF if plen else 0
                found = table[plen].get(value & mask)
                if found is not None and (table_vrf == vrf or found.entry.source == "connected"):
                    return found
        return None

    def filters_for(self, in_if: str | None, out_if: str | None) -> list[Filter]:
        found = []
        if in_if is not None and (in_if, "in") in self.by_interface:
            found.append(self.by_interface[(in_if, "in")])
        if out_if is not None and (out_if, "out") in self.by_interface:
            found.append(self.by_interface[(out_if, "out")])
        return sorted(found, key=lambda f: f.position)


def model_prefixes(desired: Mapping[str, DesiredState], topo: Topology) -> set[IPv4Network]:
    """Every prefix the model can tell apart: the atoms are cut along them."""
    nets: set[IPv4Network] = set(topo.attached)
    for addrs in topo.addresses.values():
        for iface in addrs.values():
            nets.add(IPv4Network((int(iface.ip), 32)))
    for state in desired.values():
        for r in state.routes:
            nets.add(r.prefix)
        nets.update(e.prefix for e in state.expected_routes)
        for f in state.filters:
            for rule in f.rules:
                nets.update(rule.sources)
                nets.update(rule.destinations)
        for b in state.services:
            nets.update(IPv4Network((int(p), 32)) for p in b.providers)
    return nets


class Network:
    """The compiled network under one failure scenario: routers, FIBs, filters, traces."""

    def __init__(self, desired: Mapping[str, DesiredState], topo: Topology, atoms: Atoms,
                 failure: Failure = NO_FAILURE, sources: Sequence[RibSource] | None = None) -> None:
        self.desired = desired
        self.sources = RIB_SOURCES if sources is None else sources
        self.topo = topo
        self.atoms = atoms
        self.failure = failure
        self.down = down_interfaces(topo, failure)
        # router addresses on up interfaces: a next hop there is that router
        self.owner: dict[int, tuple[str, str]] = {}
        self.routers: dict[str, Router] = {}
        self.if_vrf: dict[tuple[str, str], str] = {}  # (host, interface) -> VRF ("" default)
        for host, state in desired.items():
            if host in failure.routers:
                continue
            addrs = {i.name: i.address for i in state.interfaces
                     if i.address is not None and i.enabled and (host, i.name) not in self.down}
            for i in state.interfaces:
                self.if_vrf[(host, i.name)] = i.vrf or ""
            router = Router(host, state.platform, SEMANTICS[state.platform], addrs)
            for ifname, iface in addrs.items():
                self.owner[int(iface.ip)] = (host, ifname)
            self.routers[host] = router
        self._build_fibs()
        self._build_filters()
        self._memo: dict[tuple[str, int, str], Trace] = {}
        self._peers: dict[tuple[str, str], tuple[int, int, tuple[str, str] | None]] = {}

    # -- FIB ------------------------------------------------------------------------------------
    def _resolve(self, router: Router, entry: RibEntry) -> FibEntry | None:
        if entry.source == "connected":
            return FibEntry(entry, entry.interface or "", None)
        if entry.source == "blackhole":
            return FibEntry(entry, "", None)
        if entry.next_hop is not None:
            hop = int(entry.next_hop)
            for ifname, iface in router.addresses.items():
                net = iface.network
                if (entry.interface in (None, ifname) and net.prefixlen < 32
                        and int(net.network_address) <= hop < int(net.network_address) + net.num_addresses
                        and hop != int(iface.ip)):
                    return FibEntry(entry, ifname, entry.next_hop)
            return None
        if entry.interface in router.addresses:
            return FibEntry(entry, entry.interface, None)
        return None

    def _build_fibs(self) -> None:
        best: dict[tuple[str, str, IPv4Network], FibEntry] = {}
        for source in self.sources:
            for host, entry in source(self.desired, self.topo, self.down):
                router = self.routers.get(host)
                if router is None:
                    continue
                key = (host, entry.vrf, entry.prefix)
                resolved = self._resolve(router, entry)
                if resolved is None:
                    continue
                have = best.get(key)
                if have is None or entry.distance < have.entry.distance:
                    best[key] = resolved
        for (host, vrf, prefix), fe in best.items():
            router = self.routers[host]
            router.fib.setdefault(vrf, {}).setdefault(prefix.prefixlen, {})[int(prefix.network_address)] = fe
        for router in self.routers.values():
            router.lengths = {vrf: sorted(t, reverse=True) for vrf, t in router.fib.items()}

    def _build_filters(self) -> None:
        for host, router in self.routers.items():
            state = self.desired[host]
            for position, f in enumerate(state.filters):
                rules = tuple(m for i, r in enumerate(f.rules)
                              if (m := match_rule(i, r, self.atoms, router.semantics)) is not None)
                model = Filter(host, f.interface, f.direction, f.name, rules, position)
                router.filters.append(model)
                router.by_interface[(f.interface, f.direction)] = model

    def filter_source(self, flt: Filter) -> InterfaceFilter:
        return self.desired[flt.host].filters[flt.position]

    # -- traces ---------------------------------------------------------------------------------
    def _peer(self, host: str, out_if: str, value: int) -> tuple[str, str] | None:
        """The router an interface route hands a packet to: the one other router of the link."""
        key = (host, out_if)
        if key not in self._peers:
            net = self.routers[host].addresses[out_if].network
            ends = [e for e in self.topo.attached.get(net, ()) if e[0] != host and e not in self.down
                    and e[0] in self.routers]
            peer = ends[0] if len(ends) == 1 and len(self.topo.attached.get(net, ())) == 2 else None
            low = int(net.network_address)
            self._peers[key] = (low, low + net.num_addresses, peer)
        low, high, peer = self._peers[key]
        return None if low <= value < high else peer

    def trace(self, host: str, atom: int, vrf: str = "") -> Trace:
        """Where a packet for any address of `atom` goes from `host` (the first hop's in_if is
        None: use Trace.entering). Memoised per (router, atom, VRF)."""
        key = (host, atom, vrf)
        found = self._memo.get(key)
        if found is not None:
            return found
        value = self.atoms.first(atom)
        hops: list[Hop] = []
        seen: dict[str, int] = {}
        node, in_if, table = host, None, vrf
        result: Trace
        while True:
            router = self.routers.get(node)
            if router is None:
                result = Trace("down", tuple(hops), f"{node} is down")
                break
            if node in seen:
                result = Trace("loop", tuple(hops), f"loop through {node}")
                break
            memo = self._memo.get((node, atom, table)) if hops else None
            if memo is not None:
                if memo.hosts() & seen.keys():
                    loop_at = next(h.host for h in memo.hops if h.host in seen)
                    cut = next(i for i, h in enumerate(memo.hops) if h.host == loop_at)
                    result = Trace("loop", (*hops, *memo.entering(in_if).hops[:cut]), f"loop through {loop_at}")
                else:
                    result = Trace(memo.outcome, (*hops, *memo.entering(in_if).hops), memo.detail)
                break
            seen[node] = len(hops)
            owner = self.owner.get(value)
            if owner is not None and owner[0] == node and self.atoms.size(atom) == 1:
                hops.append(Hop(node, in_if, None, "local"))
                result = Trace("delivered", tuple(hops), f"{node} itself")
                break
            fe = router.lookup(value, table)
            if fe is None:
                hops.append(Hop(node, in_if, None, ""))
                result = Trace("no-route", tuple(hops), f"{node} has no route")
                break
            hops.append(Hop(node, in_if, fe.out_if or None, fe.entry.origin))
            if fe.entry.source == "blackhole":
                result = Trace("no-route", tuple(hops), f"{node} discards it ({fe.entry.origin})")
                break
            if fe.next_hop is None:
                peer = self._peer(node, fe.out_if, value) if fe.entry.source != "connected" else None
                if peer is None:
                    result = Trace("delivered" if fe.entry.source == "connected" else "exit", tuple(hops),
                                   f"onto {node} {fe.out_if}")
                    break
                node, in_if, table = peer[0], peer[1], self.if_vrf.get(peer, "")
                continue
            nxt = self.owner.get(int(fe.next_hop))
            if nxt is None:
                result = Trace("exit", tuple(hops), f"next hop {fe.next_hop} of {node} is outside the inventory")
                break
            node, in_if, table = nxt[0], nxt[1], self.if_vrf.get(nxt, "")
        self._memo[key] = result
        # every router after the first used its best route: its own trace is the suffix
        if result.outcome != "loop":
            for i in range(1, len(result.hops)):
                h = result.hops[i]
                suffix_key = (h.host, atom, self.if_vrf.get((h.host, h.in_if or ""), ""))
                if suffix_key in self._memo:
                    break  # the rest is memoised already
                self._memo[suffix_key] = Trace(
                    result.outcome, (Hop(h.host, None, h.out_if, h.origin), *result.hops[i + 1:]), result.detail)
        return result
