"""BGP in the routing plan: ASNs, eBGP sessions over links and named ones, iBGP full mesh or
route reflectors over loopbacks the IGP carries, what each router originates, accepts and
prefers. Pure, no I/O."""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Any

from netorch.model.intents import Sourced
from netorch.model.routing import BgpIntent, Scope
from netorch.protocols.planbase import BgpNetwork, BgpSessionPlan, PlannerBase, RoutingPlan
from netorch.topology import Link


class BgpPlanner(PlannerBase):
    # -- BGP ----------------------------------------------------------------------------------
    def bgp(self, item: Sourced[BgpIntent], plan: RoutingPlan) -> BgpNetwork:
        intent = item.value
        net = BgpNetwork(item)
        by_host: dict[str, tuple[int, bool]] = {}  # host -> (asn, from a host entry)
        for i, router in enumerate(intent.routers):
            for host in self.scope(item, router, ("routers", i)):
                if not self.supports(item, ("routers", i), host, "bgp"):
                    continue
                explicit = router.host is not None
                prev = by_host.get(host)
                if prev is not None and prev[1] == explicit and prev[0] != router.asn:
                    self.add(item, ("routers", i, "asn"), f"{host} is given two ASNs ({prev[0]} and "
                             f"{router.asn})", "conflict")
                    continue
                if prev is None or explicit:
                    by_host[host] = (router.asn, explicit)
        net.asn = {h: a for h, (a, _) in sorted(by_host.items())}
        for host in net.asn:
            lo = self.address(host, intent.loopback)
            if lo is not None:
                net.loopbacks[host] = lo
                net.loopback_names[host] = self.loopback_name(host, intent.loopback)
            proc = plan.ospf_of(host)
            rid = proc.router_ids.get(host) if proc is not None else None
            rid = rid or lo
            if rid is None:
                self.add(item, ("loopback",), f"{host} has no address on {intent.loopback} for its "
                         "BGP router id and iBGP sessions", "reference")
                continue
            net.router_ids[host] = rid
        seen: set[frozenset[str]] = set()
        if intent.ebgp_links:
            for host in net.asn:
                for link in self.topo.links.get(host, []):
                    if link.peer in net.asn and net.asn[link.peer] != net.asn[host] and host < link.peer:
                        self.ebgp(net, host, link, None)
                        seen.add(frozenset((host, link.peer)))
        for i, session in enumerate(intent.sessions):
            a, b = session.hosts
            if not self.pair(item, ("sessions", i), (a, b), net.asn, "is not a router of this BGP intent "
                             "(missing peer: give it an ASN in routers)"):
                continue
            if net.asn[a] == net.asn[b]:
                self.add(item, ("sessions", i, "hosts"), f"{a} and {b} are both in AS {net.asn[a]}: an "
                         "explicit session is eBGP (iBGP sessions follow `ibgp`)", "link")
                continue
            shared = next((lk for lk in self.topo.links.get(a, []) if lk.peer == b), None)
            if shared is None:
                self.add(item, ("sessions", i, "hosts"), f"eBGP neighbour {b} is on no subnet connected "
                         f"to {a}", "next-hop")
                continue
            if frozenset((a, b)) not in seen:
                seen.add(frozenset((a, b)))
                self.ebgp(net, a, shared, session.description)
        self.ibgp(item, net, plan)
        for i, orig in enumerate(intent.originate):
            for host in self.routers_of(item, net, orig, ("originate", i)):
                # whether the prefix is in the router's RIB (connected, static, OSPF...) is the
                # control-plane model's to say: validate asks it once the design compiles
                for prefix in orig.prefixes:
                    net.originate.setdefault(host, []).append(prefix)
        for i, agg in enumerate(intent.aggregate):
            for host in self.routers_of(item, net, agg, ("aggregate", i)):
                for prefix in agg.prefixes:
                    net.aggregates.setdefault(host, []).append((prefix, agg.summary_only))
        for i, acc in enumerate(intent.accept):
            if acc.peer not in self.inventory.hosts:
                self.unknown(item, ("accept", i, "from"), "host", acc.peer)
                continue
            for host in self.scope(item, acc, ("accept", i)):
                if host not in net.asn:
                    self.add(item, ("accept", i), f"{host} is not a router of this BGP intent", "reference",
                             follow_on=True)
                    continue
                if not any(p == acc.peer for p, _, _ in net.peers(host)):
                    self.add(item, ("accept", i, "from"), f"{host} has no BGP session with {acc.peer!r}",
                             "reference", follow_on=True)
                    continue
                net.accept[(host, acc.peer)] = (acc.prefixes, acc.or_longer, acc.max_prefix)
        for i, pref in enumerate(intent.prefer):
            asns = set()
            for j, exit_host in enumerate(pref.exits):
                if exit_host not in self.inventory.hosts:
                    self.unknown(item, ("prefer", i, "exits", j), "host", exit_host)
                    continue
                if exit_host not in net.asn:
                    self.add(item, ("prefer", i, "exits", j), f"{exit_host} is not a router of this BGP "
                             "intent", "reference", follow_on=True)
                    continue
                asns.add(net.asn[exit_host])
                if not any(s.kind == "ebgp" for _, _, s in net.peers(exit_host)):
                    self.add(item, ("prefer", i, "exits", j), f"{exit_host} has no eBGP session: it is no "
                             "exit", "reference", follow_on=True)
            if len(asns) > 1:
                self.add(item, ("prefer", i, "exits"), "the exits of a preference are in one AS", "conflict")
        for i, redis in enumerate(intent.redistribute):
            if redis.protocol == "bgp":
                self.add(item, ("redistribute", i, "protocol"), "BGP cannot redistribute into itself", "feedback")
                continue
            for host in (self.members(item, redis.hosts, redis.groups, ("redistribute", i))
                         if redis.hosts or redis.groups else list(net.asn)):
                if host in net.asn:
                    net.redistribute.setdefault(host, []).append(redis)
        return net

    def routers_of(self, item: Sourced[BgpIntent], net: BgpNetwork, entry: Scope,
                   base: tuple[object, ...]) -> list[str]:
        """The hosts an entry names that are routers of the intent; each other one reported."""
        out = []
        for host in self.scope(item, entry, base):
            if host in net.asn:
                out.append(host)
            else:
                self.add(item, base, f"{host} is not a router of this BGP intent", "reference", follow_on=True)
        return out

    def _route_hosts(self, item: Sourced[Any]) -> set[str]:
        route = item.value
        hosts = set(route.hosts)
        for group in route.groups:
            hosts.update(self.inventory.members(group))
        return hosts

    def ebgp(self, net: BgpNetwork, host: str, link: Link, description: str | None) -> None:
        local = self.topo.addresses[host][link.interface].ip
        net.sessions.append(BgpSessionPlan(host, link.peer, "ebgp", local, link.peer_address,
                                           description=description))

    def ibgp(self, item: Sourced[BgpIntent], net: BgpNetwork, plan: RoutingPlan) -> None:
        intent = item.value
        if intent.ibgp == "none":
            return
        reflectors = set(intent.route_reflectors)
        for i, name in enumerate(intent.route_reflectors):
            if name not in self.inventory.hosts:
                self.unknown(item, ("route_reflectors", i), "host", name)
            elif name not in net.asn:
                self.add(item, ("route_reflectors", i), f"{name} is not a router of this BGP intent", "reference",
                         follow_on=True)
        if intent.ibgp == "route-reflectors" and not reflectors:
            self.add(item, ("route_reflectors",), "ibgp: route-reflectors needs route_reflectors", "reference")
        by_as: dict[int, list[str]] = {}
        for host, asn in net.asn.items():
            by_as.setdefault(asn, []).append(host)
        for asn, hosts in sorted(by_as.items()):
            for x, a in enumerate(hosts):
                for b in hosts[x + 1:]:
                    rr: str | None = None
                    if intent.ibgp == "route-reflectors":
                        if a not in reflectors and b not in reflectors:
                            continue
                        rr = a if a in reflectors else b
                    la, lb = net.loopbacks.get(a), net.loopbacks.get(b)
                    if la is None or lb is None:
                        continue  # reported with the router ids
                    for host, addr in ((a, la), (b, lb)):
                        if not self.igp_carries(plan, host, addr, a if host == b else b):
                            self.add(item, ("ibgp",), f"iBGP {a} - {b} (AS {asn}): the loopback {addr} of "
                                     f"{host} is carried by no IGP that reaches the other router", "igp",
                                     follow_on=True)
                    net.sessions.append(BgpSessionPlan(a, b, "ibgp", la, lb, reflector=rr))

    def igp_carries(self, plan: RoutingPlan, host: str, address: IPv4Address, other: str) -> bool:
        proc = plan.ospf_of(host)
        if proc is None or other not in proc.routers:
            return False
        for (h, _), port in proc.ports.items():
            if h == host and address in port.network:
                return True
        return any(r.protocol == "connected" and (not r.prefixes or any(address in p for p in r.prefixes))
                   for r in proc.redistribute.get(host, []))
