"""Compile a RoutingPlan into the protocol sections of each device's desired state: OSPF, BGP (with
the prefix-lists and route-maps its policy needs) and VRFs. Pure, no I/O. The routes the protocols
are meant to install come from the control-plane model (netorch.rib), by `expected_routes`.

Policy names are netorch's own (`netorch_...`, letters, digits, '_' and '-' only, from intent
names that are already constrained), so that ownership can tell them from an operator's."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Network
from typing import Any

from netorch.model.desired import (
    BgpAggregate,
    BgpNeighbor,
    DesiredBgp,
    DesiredOspf,
    DesiredState,
    DesiredVrf,
    ExpectedRoute,
    OspfInterface,
    OspfNeighbor,
    PrefixList,
    PrefixListEntry,
    Redistribution,
    RouteMap,
    RouteMapEntry,
)
from netorch.model.routing import Redistribute
from netorch.protocols.planbase import BgpNetwork, OspfPort, OspfProcess, RoutingPlan
from netorch.rib import ControlPlane
from netorch.topology import Topology

DEFAULT_OSPF_COST = 10
"""The cost netorch assumes for an interface without one (for the shortest paths it expects)."""
LOCAL_PREF_STEP = 50
DENY_ALL = "netorch_deny_all"
ANY = IPv4Network("0.0.0.0/0")


def _plist(name: str, prefixes: list[IPv4Network] | tuple[IPv4Network, ...], or_longer: bool) -> PrefixList:
    entries = tuple(PrefixListEntry(sequence=5 * (i + 1), action="permit", prefix=p,
                                    le=32 if or_longer and p.prefixlen < 32 else None)
                    for i, p in enumerate(sorted(set(prefixes), key=lambda n: (int(n.network_address), n.prefixlen))))
    return PrefixList(name=name, entries=entries)


def _deny_all() -> PrefixList:
    return PrefixList(name=DENY_ALL, entries=(PrefixListEntry(sequence=5, action="deny", prefix=ANY, le=32),))


@dataclass
class HostRouting:
    """The protocol sections of one device's desired state."""

    ospf: DesiredOspf | None = None
    bgp: DesiredBgp | None = None
    prefix_lists: dict[str, PrefixList] = field(default_factory=dict)
    route_maps: dict[str, RouteMap] = field(default_factory=dict)
    vrfs: list[DesiredVrf] = field(default_factory=list)

    def fields(self) -> dict[str, Any]:
        return {
            "ospf": self.ospf, "bgp": self.bgp,
            "prefix_lists": tuple(self.prefix_lists[n] for n in sorted(self.prefix_lists)),
            "route_maps": tuple(self.route_maps[n] for n in sorted(self.route_maps)),
            "vrfs": tuple(sorted(self.vrfs, key=lambda v: v.name)),
        }


class RoutingCompiler:
    def __init__(self, plan: RoutingPlan, topo: Topology) -> None:
        self.plan = plan
        self.topo = topo
        self.hosts: dict[str, HostRouting] = {}
        self._paths: dict[str, dict[str, dict[str, Any]]] = {}

    def host(self, name: str) -> HostRouting:
        return self.hosts.setdefault(name, HostRouting())

    def run(self) -> dict[str, HostRouting]:
        for proc in self.plan.ospf:
            self.ospf(proc)
        for net in self.plan.bgp:
            self.bgp(net)
        for host, vrfs in self.plan.vrfs.items():
            for item, ifaces in vrfs:
                v = item.value
                self.host(host).vrfs.append(DesiredVrf(name=v.name, table=v.table, rd=v.rd,
                                                       import_targets=v.import_targets,
                                                       export_targets=v.export_targets,
                                                       interfaces=tuple(ifaces)))
        return self.hosts

    # -- OSPF ---------------------------------------------------------------------------------
    def redistribution(self, hr: HostRouting, owner: str, redis: list[Redistribute]) -> tuple[Redistribution, ...]:
        out = []
        for r in sorted(redis, key=lambda r: r.protocol):
            route_map = None
            if r.prefixes:
                name = f"netorch_{owner}_{r.protocol}"
                hr.prefix_lists[name] = _plist(name, r.prefixes, True)
                hr.route_maps[name] = RouteMap(name=name, entries=(
                    RouteMapEntry(sequence=10, action="permit", match_prefix_list=name),))
                route_map = name
            out.append(Redistribution(protocol=r.protocol, route_map=route_map))
        return tuple(out)

    def ospf(self, proc: OspfProcess) -> None:
        neighbors: dict[str, list[OspfNeighbor]] = {}
        for port, peer, _link in proc.adjacencies(self.topo):
            rid = proc.router_ids.get(peer.host)
            if rid is not None:
                neighbors.setdefault(port.host, []).append(OspfNeighbor(
                    router_id=rid, interface=port.interface, peer=peer.host, area=port.area))
        ports_of: dict[str, list[OspfPort]] = {}
        for (h, _), p in proc.ports.items():
            ports_of.setdefault(h, []).append(p)
        for host in sorted(proc.routers):
            rid = proc.router_ids.get(host)
            if rid is None:
                continue
            hr = self.host(host)
            ports = sorted(ports_of.get(host, ()), key=lambda p: p.interface)
            hr.ospf = DesiredOspf(
                process=proc.name, router_id=rid,
                interfaces=tuple(OspfInterface(name=p.interface, area=p.area, cost=p.cost,
                                               point_to_point=p.point_to_point and not p.passive,
                                               passive=p.passive) for p in ports),
                redistribute=self.redistribution(hr, "ospf", proc.redistribute.get(host, [])),
                default_originate=proc.default_originate.get(host, ""),
                neighbors=tuple(sorted(neighbors.get(host, []), key=lambda n: (n.interface, int(n.router_id)))))

    # -- BGP ----------------------------------------------------------------------------------
    def bgp(self, net: BgpNetwork) -> None:
        intent = net.item.value
        by_as: dict[int, list[str]] = {}
        for host, asn in net.asn.items():
            by_as.setdefault(asn, []).append(host)
        originated_by_as: dict[int, list[IPv4Network]] = {}
        for host, prefixes in net.originate.items():
            originated_by_as.setdefault(net.asn[host], []).extend(p for p in prefixes if p.prefixlen)
        for host, aggregates in net.aggregates.items():
            originated_by_as.setdefault(net.asn[host], []).extend(p for p, _ in aggregates if p.prefixlen)
        for host in sorted(net.asn):
            rid = net.router_ids.get(host)
            if rid is None:
                continue
            asn = net.asn[host]
            hr = self.host(host)
            ebgp_here = any(s.kind == "ebgp" for _, _, s in net.peers(host))
            neighbors = []
            for peer, addr, session in sorted(net.peers(host), key=lambda t: int(t[1])):
                values: dict[str, Any] = {"address": addr, "remote_as": net.asn[peer], "peer": peer,
                                          "kind": session.kind}
                if session.kind == "ibgp":
                    values["update_source"] = net.loopback_names.get(host, intent.loopback)
                    values["next_hop_self"] = ebgp_here
                    values["reflector_client"] = session.reflector == host
                else:
                    accepted = net.accept.get((host, peer))
                    if accepted is not None and accepted[0]:
                        name = f"netorch_in_{peer}"
                        hr.prefix_lists[name] = _plist(name, accepted[0], accepted[1])
                        values["prefix_list_in"] = name
                        values["max_prefix"] = accepted[2]
                        values["accepted"] = tuple(accepted[0])
                    else:
                        hr.prefix_lists[DENY_ALL] = _deny_all()
                        values["prefix_list_in"] = DENY_ALL
                    own = originated_by_as.get(asn, [])
                    if own:
                        name = f"netorch_out_as{asn}"
                        hr.prefix_lists[name] = _plist(name, own, False)
                        values["prefix_list_out"] = name
                    else:
                        hr.prefix_lists[DENY_ALL] = _deny_all()
                        values["prefix_list_out"] = DENY_ALL
                    values["default_originate"] = ANY in net.originate.get(host, [])
                    self.preference(net, hr, host, peer, values, originated_by_as.get(asn, []))
                neighbors.append(BgpNeighbor(**values))
            hr.bgp = DesiredBgp(asn=asn, router_id=rid, neighbors=tuple(neighbors),
                                networks=tuple(sorted({p for p in net.originate.get(host, []) if p.prefixlen},
                                                      key=lambda n: (int(n.network_address), n.prefixlen))),
                                aggregates=tuple(BgpAggregate(prefix=p, summary_only=s) for p, s in sorted(
                                    dict(net.aggregates.get(host, [])).items(),
                                    key=lambda t: (int(t[0].network_address), t[0].prefixlen))),
                                redistribute=self.redistribution(hr, "bgp", net.redistribute.get(host, [])))

    def preference(self, net: BgpNetwork, hr: HostRouting, host: str, peer: str, values: dict[str, Any],
                   originated: list[IPv4Network]) -> None:
        """Local preference in (learned prefixes) or AS-path prepend out (own prefixes) on an exit."""
        ins: list[RouteMapEntry] = []
        outs: list[RouteMapEntry] = []
        for i, pref in enumerate(net.item.value.prefer):
            if host not in pref.exits:
                continue
            rank = pref.exits.index(host)
            name = f"netorch_prefer_{i + 1}"
            hr.prefix_lists[name] = _plist(name, pref.prefixes, False)
            own = all(any(p.subnet_of(o) for o in originated) for p in pref.prefixes)
            if own:
                if rank:
                    outs.append(RouteMapEntry(sequence=10 * (len(outs) + 1), action="permit",
                                              match_prefix_list=name, prepend=(net.asn[host],) * rank))
            else:
                lp = 100 + LOCAL_PREF_STEP * (len(pref.exits) - 1 - rank)
                ins.append(RouteMapEntry(sequence=10 * (len(ins) + 1), action="permit",
                                         match_prefix_list=name, local_preference=lp))
        for direction, entries in (("in", ins), ("out", outs)):
            if entries:
                name = f"netorch_{direction}_{peer}"
                hr.route_maps[name] = RouteMap(name=name, entries=(
                    *entries, RouteMapEntry(sequence=1000, action="permit")))
                values[f"route_map_{direction}"] = name


MAX_EXPECTED_OSPF_ROUTERS = 256
"""Above this many routers in one OSPF process, its routers' state checks cover adjacencies (and
the BGP speakers' routes), not every router's route to every other router's subnets (a list that
grows with the square)."""


def expected_routes(states: Mapping[str, DesiredState], plane: ControlPlane) -> dict[str, tuple[ExpectedRoute, ...]]:
    """Per host, the protocol routes the control-plane model of `states` says it will select
    (apply's post-checks and drift's state checks compare the routers against them)."""
    sizes: dict[str, int] = {}
    for state in states.values():
        if state.ospf is not None:
            sizes[state.ospf.process] = sizes.get(state.ospf.process, 0) + 1
    out: dict[str, tuple[ExpectedRoute, ...]] = {}
    for host, state in states.items():
        ospf = state.ospf is not None and sizes[state.ospf.process] <= MAX_EXPECTED_OSPF_ROUTERS
        if not ospf and state.bgp is None:
            continue
        found = []
        routes = plane.rib(host).selected() if ospf else [r for r in plane.bgp_routes(host) if r.selected]
        for route in routes:
            if (route.protocol == "ospf" and ospf) or route.protocol == "bgp":
                found.append(ExpectedRoute(prefix=route.prefix, protocol=route.protocol, next_hops=route.via,
                                           origin=route.origin))
        out[host] = tuple(found)
    return out


def compile_routing(plan: RoutingPlan, topo: Topology) -> dict[str, HostRouting]:
    return RoutingCompiler(plan, topo).run()
