"""OSPF as the routers compute it from what netorch renders: per area a link-state graph of the
routers and their transit networks, shortest paths from every router (equal-cost paths kept),
intra-area routes, inter-area routes through the area border routers, and external routes
(type 2 by default, metric 20) from the routers that redistribute. Pure, computed lazily per
router so that a large flat area costs only what is asked of it.

What the model assumes of the platform (FRR's behaviour): an interface without a cost has cost
10 (the lab's veth interfaces carry no speed); a loopback advertises each address as a host
route of cost 0; two non-passive OSPF interfaces of one area on one subnet, both up, form an
adjacency (the subnet is a transit network, reached at the lowest cost of its routers)."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from netorch.model.desired import DesiredState
from netorch.rib.policy import Policies
from netorch.rib.types import NextHop

DEFAULT_COST = 10
EXTERNAL_METRIC = 20
DEFAULT_METRIC = 10  # FRR's metric of a default route it originates (default-information)
DEFAULT = IPv4Network("0.0.0.0/0")
INFINITY = 1 << 62

Node = tuple[str, str]  # ("r", host) or ("n", network)
Hops = frozenset[NextHop]


def is_loopback(ifname: str) -> bool:
    name = ifname.lower()
    return name == "lo" or name.startswith("loopback") or name == "lo0" or name.startswith("lo0.")


@dataclass(frozen=True)
class Port:
    host: str
    interface: str
    area: int
    cost: int
    passive: bool
    address: IPv4Interface
    network: IPv4Network  # a loopback's: its host route


def _port(host: str, interface: str, area: int, cost: int, passive: bool, address: IPv4Interface) -> Port:
    network = IPv4Network((int(address.ip), 32)) if is_loopback(interface) else address.network
    return Port(host, interface, area, cost, passive, address, network)


@dataclass(frozen=True)
class OspfRoute:
    prefix: IPv4Network
    kind: str  # intra | inter | e1 | e2
    cost: int  # e2: the external metric
    hops: Hops
    forward: int = 0  # e1/e2: the cost to the ASBR


@dataclass
class Area:
    area: int
    graph: dict[Node, list[tuple[int, Node, NextHop | None]]] = field(default_factory=dict)
    stubs: dict[str, list[tuple[IPv4Network, int, str]]] = field(default_factory=dict)  # host -> (net, cost, ifname)
    transit: set[IPv4Network] = field(default_factory=set)


class OspfDomain:
    """One OSPF process across the routers that run it (netorch renders one per router)."""

    def __init__(self, states: dict[str, DesiredState], down: set[tuple[str, str]],
                 redistributed: Callable[[str, str], Iterable[tuple[IPv4Network, int]]] | None = None,
                 has_default: Callable[[str], bool] | None = None,
                 gateway: Callable[[str, IPv4Network], IPv4Address | None] | None = None) -> None:
        self.states = states
        self.down = down
        self.redistributed = redistributed
        self.has_default = has_default
        self.gateway = gateway
        self._forwarding: dict[tuple[str, IPv4Network], IPv4Address] = {}
        #: (asbr, prefix) -> the protocol its external route was redistributed from
        self.external_source: dict[tuple[str, IPv4Network], str] = {}
        self.areas: dict[int, Area] = {}
        self.router_areas: dict[str, set[int]] = {}
        self.ports: dict[str, list[Port]] = {}
        self._spf: dict[tuple[int, str], tuple[dict[Node, int], dict[Node, Hops]]] = {}
        self._intra: dict[tuple[int, str], dict[IPv4Network, OspfRoute]] = {}
        self._routes: dict[str, dict[IPv4Network, OspfRoute]] = {}
        self._externals: list[tuple[str, IPv4Network, int, int]] | None = None  # (asbr, prefix, metric, type)
        self._advertisers: dict[int, dict[int, tuple[IPv4Network, frozenset[str]]]] | None = None
        self._components: dict[str, int] | None = None
        self._stubs: dict[IPv4Network, list[tuple[str, int, str]]] | None = None
        self._build()

    # -- the link-state database -----------------------------------------------------------------
    def _build(self) -> None:
        by_net: dict[tuple[int, IPv4Network], list[Port]] = {}
        for host, state in sorted(self.states.items()):
            if state.ospf is None:
                continue
            addrs = {i.name: i for i in state.interfaces}
            ports = []
            for oi in state.ospf.interfaces:
                iface = addrs.get(oi.name)
                if iface is None or iface.address is None or not iface.enabled or iface.vrf:
                    continue
                if (host, oi.name) in self.down:
                    continue
                cost = 0 if is_loopback(oi.name) else (oi.cost or DEFAULT_COST)
                port = _port(host, oi.name, oi.area, cost, oi.passive or is_loopback(oi.name), iface.address)
                ports.append(port)
                if not port.passive:
                    by_net.setdefault((oi.area, port.network), []).append(port)
            self.ports[host] = ports
            self.router_areas[host] = {p.area for p in ports}
            for p in ports:
                area = self.areas.setdefault(p.area, Area(p.area))
                area.graph.setdefault(("r", host), [])
        for (area_id, net), members in by_net.items():
            area = self.areas[area_id]
            if len({p.host for p in members}) < 2:
                continue
            area.transit.add(net)
            node: Node = ("n", str(net))
            area.graph.setdefault(node, [])
            for p in members:
                area.graph[("r", p.host)].append((p.cost, node, None))
                area.graph[node].append((0, ("r", p.host), NextHop(p.address.ip, None)))
        for host, ports in self.ports.items():
            for p in ports:
                area = self.areas[p.area]
                if p.passive or p.network not in area.transit:
                    area.stubs.setdefault(host, []).append((p.network, p.cost, p.interface))

    # -- a fast answer for one question: does OSPF alone carry a packet there -----------------------
    def advertisers(self) -> dict[int, dict[int, tuple[IPv4Network, frozenset[str]]]]:
        """Every prefix advertised in the (single) area, by prefix length and address, with the
        routers that advertise it."""
        if self._advertisers is None:
            found: dict[IPv4Network, set[str]] = {}
            for area in self.areas.values():
                for host, stubs in area.stubs.items():
                    for net, _, _ in stubs:
                        found.setdefault(net, set()).add(host)
                for host, ports in self.ports.items():
                    for port in ports:
                        if port.network in area.transit and port.area == area.area:
                            found.setdefault(port.network, set()).add(host)
            index: dict[int, dict[int, tuple[IPv4Network, frozenset[str]]]] = {}
            for net, hosts in found.items():
                index.setdefault(net.prefixlen, {})[int(net.network_address)] = (net, frozenset(hosts))
            self._advertisers = index
        return self._advertisers

    def route(self, root: str, prefix: IPv4Network) -> OspfRoute | None:
        """root's OSPF route to one prefix: the same as routes(root)[prefix], computed for that
        prefix alone when the domain is one area without external routes (the shortest-path
        tree of root is still computed once)."""
        done = self._routes.get(root)
        if done is not None:
            return done.get(prefix)
        if len(self.areas) != 1 or self.externals():
            return self.routes(root).get(prefix)
        [area] = self.areas.values()
        if root not in self.router_areas or area.area not in self.router_areas[root]:
            return None
        dist, hops = self.spf(area.area, root)
        best: OspfRoute | None = None

        def offer(cost: int, via: Hops) -> None:
            nonlocal best
            if best is None or cost < best.cost:
                best = OspfRoute(prefix, "intra", cost, via)
            elif cost == best.cost:
                best = OspfRoute(prefix, "intra", cost, best.hops | via)

        if prefix in area.transit:
            node: Node = ("n", str(prefix))
            if node in dist:
                via = hops[node]
                if not via:
                    via = frozenset({NextHop(None, p.interface) for p in self.ports.get(root, [])
                                     if p.area == area.area and p.network == prefix})
                offer(dist[node], via)
        for host, cost, ifname in self._stub_index().get(prefix, ()):
            rnode: Node = ("r", host)
            if rnode in dist:
                offer(dist[rnode] + cost, hops[rnode] if host != root else frozenset({NextHop(None, ifname)}))
        return best

    def _stub_index(self) -> dict[IPv4Network, list[tuple[str, int, str]]]:
        if self._stubs is None:
            index: dict[IPv4Network, list[tuple[str, int, str]]] = {}
            for area in self.areas.values():
                for host, stubs in area.stubs.items():
                    for net, cost, ifname in stubs:
                        index.setdefault(net, []).append((host, cost, ifname))
            self._stubs = index
        return self._stubs

    def component(self, host: str) -> int | None:
        """A label shared by the routers OSPF connects (one area), None outside OSPF."""
        if self._components is None:
            labels: dict[str, int] = {}
            for area in self.areas.values():
                for start in area.graph:
                    if start[0] != "r" or start[1] in labels:
                        continue
                    label = len(labels) + 1
                    stack = [start]
                    seen = {start}
                    while stack:
                        node = stack.pop()
                        if node[0] == "r":
                            labels[node[1]] = label
                        for _, nxt, _ in area.graph.get(node, ()):
                            if nxt not in seen:
                                seen.add(nxt)
                                stack.append(nxt)
            self._components = labels
        return self._components.get(host)

    def routers(self) -> list[str]:
        return sorted(self.ports)

    def abrs(self) -> set[str]:
        return {h for h, areas in self.router_areas.items() if 0 in areas and len(areas) > 1}

    # -- shortest paths ---------------------------------------------------------------------------
    def spf(self, area_id: int, root: str) -> tuple[dict[Node, int], dict[Node, Hops]]:
        key = (area_id, root)
        done = self._spf.get(key)
        if done is not None:
            return done
        area = self.areas[area_id]
        start: Node = ("r", root)
        dist: dict[Node, int] = {start: 0}
        hops: dict[Node, set[NextHop]] = {start: set()}
        # the interface of the root on each transit network it is attached to
        out_if = {p.network: p.interface for p in self.ports.get(root, []) if p.area == area_id}
        heap: list[tuple[int, Node]] = [(0, start)]
        while heap:
            d, node = heapq.heappop(heap)
            if d > dist[node]:
                continue
            for cost, nxt, gateway in area.graph.get(node, ()):
                if nxt == start:
                    continue
                nd = d + cost
                if node == start:
                    via: set[NextHop] = set()  # a transit network the root is attached to
                elif node[0] == "n" and not hops[node]:
                    # through a network the root is attached to: the neighbour's address on it
                    assert gateway is not None
                    via = {NextHop(gateway.address, out_if.get(IPv4Network(node[1])))}
                else:
                    via = hops[node]
                if nd < dist.get(nxt, INFINITY):
                    dist[nxt] = nd
                    hops[nxt] = set(via)
                    heapq.heappush(heap, (nd, nxt))
                elif nd == dist[nxt]:
                    hops[nxt] |= via
        out = (dist, {n: frozenset(h) for n, h in hops.items()})
        self._spf[key] = out
        return out

    # -- routes -----------------------------------------------------------------------------------
    def intra(self, area_id: int, root: str) -> dict[IPv4Network, OspfRoute]:
        key = (area_id, root)
        done = self._intra.get(key)
        if done is not None:
            return done
        dist, hops = self.spf(area_id, root)
        area = self.areas[area_id]
        out: dict[IPv4Network, OspfRoute] = {}

        def offer(prefix: IPv4Network, cost: int, via: Hops) -> None:
            have = out.get(prefix)
            if have is None or cost < have.cost:
                out[prefix] = OspfRoute(prefix, "intra", cost, via)
            elif cost == have.cost:
                out[prefix] = OspfRoute(prefix, "intra", cost, have.hops | via)

        for net in area.transit:
            node: Node = ("n", str(net))
            if node in dist:
                via = hops[node]
                if not via:  # attached: the root's own interface on it
                    via = frozenset({NextHop(None, p.interface) for p in self.ports.get(root, [])
                                     if p.area == area_id and p.network == net})
                offer(net, dist[node], via)
        for host, stubs in area.stubs.items():
            rnode: Node = ("r", host)
            if rnode not in dist:
                continue
            for net, cost, ifname in stubs:
                via = hops[rnode] if host != root else frozenset({NextHop(None, ifname)})
                offer(net, dist[rnode] + cost, via)
        self._intra[key] = out
        return out

    def _inter(self, root: str) -> dict[IPv4Network, OspfRoute]:
        """Inter-area routes of `root`: summaries of the ABRs of its areas (an ABR itself takes
        only the backbone's)."""
        out: dict[IPv4Network, OspfRoute] = {}
        abrs = self.abrs()
        areas = self.router_areas.get(root, set())
        if root in abrs:
            areas = {0}
        for area_id in sorted(areas):
            dist, hops = self.spf(area_id, root)
            for abr in sorted(abrs):
                if abr == root or 0 not in self.router_areas[abr] or area_id not in self.router_areas[abr]:
                    continue
                node: Node = ("r", abr)
                if node not in dist:
                    continue
                # an ABR summarises into the backbone its non-backbone areas, and into others all
                summaries = self._summaries(abr, area_id)
                for prefix, cost in summaries.items():
                    total = dist[node] + cost
                    have = out.get(prefix)
                    if have is None or total < have.cost:
                        out[prefix] = OspfRoute(prefix, "inter", total, hops[node])
                    elif total == have.cost:
                        out[prefix] = OspfRoute(prefix, "inter", total, have.hops | hops[node])
        return out

    def _summaries(self, abr: str, into: int) -> dict[IPv4Network, int]:
        out: dict[IPv4Network, int] = {}
        for area_id in sorted(self.router_areas.get(abr, ())):
            if area_id == into:
                continue
            for prefix, r in self.intra(area_id, abr).items():
                if prefix not in out or r.cost < out[prefix]:
                    out[prefix] = r.cost
        if into != 0:
            # routes the ABR learned over the backbone from other ABRs
            dist, _ = self.spf(0, abr)
            for other in sorted(self.abrs()):
                if other == abr or ("r", other) not in dist:
                    continue
                for area_id in sorted(self.router_areas[other]):
                    if area_id in (0, into):
                        continue
                    for prefix, r in self.intra(area_id, other).items():
                        total = dist[("r", other)] + r.cost
                        if prefix not in out or total < out[prefix]:
                            out[prefix] = total
        return out

    def _to_router(self, root: str, target: str) -> tuple[int, Hops] | None:
        """The cost and first hops from root to another router (an ASBR): inside a common area,
        else through an ABR of root's areas."""
        best: tuple[int, Hops] | None = None
        for area_id in sorted(self.router_areas.get(root, ())):
            if area_id not in self.router_areas.get(target, ()):
                continue
            dist, hops = self.spf(area_id, root)
            node: Node = ("r", target)
            if node in dist:
                cand = (dist[node], hops[node])
                best = _merge(best, cand)
        if best is not None:
            return best
        abrs = self.abrs()
        for area_id in sorted(self.router_areas.get(root, ())):
            dist, hops = self.spf(area_id, root)
            for abr in sorted(abrs):
                if abr == root or ("r", abr) not in dist:
                    continue
                inner = None
                for a2 in sorted(self.router_areas[abr]):
                    if a2 == area_id or a2 not in self.router_areas.get(target, ()):
                        continue
                    d2, _ = self.spf(a2, abr)
                    if ("r", target) in d2:
                        c = d2[("r", target)]
                        inner = c if inner is None else min(inner, c)
                if inner is not None:
                    best = _merge(best, (dist[("r", abr)] + inner, hops[("r", abr)]))
        return best

    @staticmethod
    def _to_address(fa: IPv4Address, own: set[IPv4Address],
                    internal: dict[IPv4Network, OspfRoute]) -> tuple[int, Hops] | None:
        """The cost and first hops to an external route's forwarding address: through root's
        intra- or inter-area route to it (longest prefix); none when it is root's own address
        (FRR skips the LSA) or no such route exists."""
        if fa in own:
            return None
        best: OspfRoute | None = None
        for prefix, r in internal.items():
            if fa in prefix and (best is None or prefix.prefixlen > best.prefix.prefixlen):
                best = r
        if best is None:
            return None
        hops = frozenset(NextHop(fa, h.interface) if h.address is None else h for h in best.hops)
        return best.cost, hops

    def externals(self) -> list[tuple[str, IPv4Network, int, int]]:
        if self._externals is None:
            ext: list[tuple[str, IPv4Network, int, int]] = []
            if self.redistributed is not None:
                for host in self.routers():
                    state = self.states[host]
                    assert state.ospf is not None
                    policies = Policies(state)
                    seen: set[IPv4Network] = set()
                    for redis in state.ospf.redistribute:
                        for prefix, _metric in self.redistributed(host, redis.protocol):
                            if not prefix.prefixlen:
                                continue  # a default route takes default-information originate
                            if prefix in seen or policies.route_map(redis.route_map, prefix) is None:
                                continue
                            seen.add(prefix)
                            ext.append((host, prefix, EXTERNAL_METRIC, 2))
                            self.external_source[(host, prefix)] = redis.protocol
                            fa = self.gateway(host, prefix) if self.gateway is not None else None
                            if fa is not None and any(fa in p.address.network for p in self.ports.get(host, ())):
                                # FRR: a next hop on one of the ASBR's OSPF subnets is the LSA's
                                # forwarding address, which the other routers route to instead
                                self._forwarding[(host, prefix)] = fa
            for host in self.routers():
                mode = self.states[host].ospf.default_originate  # type: ignore[union-attr]
                if mode == "always" or (mode == "if-present" and self.has_default is not None
                                        and self.has_default(host)):
                    ext.append((host, DEFAULT, DEFAULT_METRIC, 2))
            self._externals = ext
        return self._externals

    def routes(self, root: str) -> dict[IPv4Network, OspfRoute]:
        """Every OSPF route of `root`: intra-area over inter-area over external (E1 over E2)."""
        done = self._routes.get(root)
        if done is not None:
            return done
        out: dict[IPv4Network, OspfRoute] = {}
        for area_id in sorted(self.router_areas.get(root, ())):
            for prefix, r in self.intra(area_id, root).items():
                have = out.get(prefix)
                if have is None or r.cost < have.cost:
                    out[prefix] = r
                elif r.cost == have.cost:
                    out[prefix] = OspfRoute(prefix, "intra", r.cost, have.hops | r.hops)
        for prefix, r in self._inter(root).items():
            out.setdefault(prefix, r)
        ext: dict[IPv4Network, OspfRoute] = {}
        own = {i.address.ip for i in self.states[root].interfaces if i.address is not None}
        for asbr, prefix, metric, mtype in self.externals():
            if asbr == root or prefix in out:
                continue
            fa = self._forwarding.get((asbr, prefix))
            path = self._to_router(root, asbr) if fa is None else self._to_address(fa, own, out)
            if path is None:
                continue
            fwd, hops = path
            kind = "e2" if mtype == 2 else "e1"
            cost = metric if mtype == 2 else metric + fwd
            cand = OspfRoute(prefix, kind, cost, hops, fwd)
            have = ext.get(prefix)
            if have is None or (have.kind, have.cost, have.forward) > (cand.kind, cand.cost, cand.forward):
                ext[prefix] = cand
            elif (have.kind, have.cost, have.forward) == (cand.kind, cand.cost, cand.forward):
                ext[prefix] = OspfRoute(prefix, kind, cost, have.hops | hops, fwd)
        out.update(ext)
        self._routes[root] = out
        return out


def _merge(best: tuple[int, Hops] | None, cand: tuple[int, Hops]) -> tuple[int, Hops]:
    if best is None or cand[0] < best[0]:
        return cand
    if cand[0] == best[0]:
        return (best[0], best[1] | cand[1])
    return best


def router_id_of(state: DesiredState) -> IPv4Address | None:
    return state.ospf.router_id if state.ospf is not None else None
