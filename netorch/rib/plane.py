"""The control plane of the whole network, computed once from the desired state of every device:
per router and VRF, the routes it will hold (connected, static, OSPF, BGP), which one it selects
by administrative distance, and the next hops packets take (equal-cost paths kept, iBGP next
hops resolved through the IGP). Failure scenarios (interfaces or routers down) are further
instances of the same model. Validate, verify, compile's expected routes, apply's post-checks
and drift's state checks all read it. Pure, no I/O.

Order of computation, as on the routers: connected and static routes; OSPF over them (external
routes from what each router redistributes); BGP over the non-BGP routes (sessions, next-hop
tracking, import-check); then, when OSPF redistributes BGP or BGP originates what OSPF carries,
again until nothing changes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from ipaddress import IPv4Address, IPv4Network
from typing import Literal

from netorch.model.desired import DesiredState
from netorch.rib.bgp import ORIGIN_INCOMPLETE, BgpComputation, BgpResult
from netorch.rib.ospf import OspfDomain, OspfRoute
from netorch.rib.types import DISTANCE, NextHop, Rib, Route

DEFAULT = IPv4Network("0.0.0.0/0")
MAX_ITERATIONS = 6


@dataclass(frozen=True)
class Walk:
    """A packet's way over the selected routes: the routers and the route each used (its origin)."""

    outcome: Literal["delivered", "no-route", "discard", "out", "loop"]
    hops: tuple[tuple[str, str], ...]
    host: str  # where it ended


def _lowest_gateway(route: Route) -> IPv4Address | None:
    """The lowest gateway of a route's next hops (the one zebra hands a redistributing daemon
    first), None for a connected or discard route."""
    return min((h.address for h in route.next_hops if h.address is not None), default=None)


def _sort_key(r: Route) -> tuple[int, int]:
    return (0 if r.selected else 1, r.distance)


class ControlPlane:
    """The routes every router of `states` will hold, with `down` (host, interface) pairs and
    `routers_down` failed."""

    def __init__(self, states: Mapping[str, DesiredState], down: Iterable[tuple[str, str]] = (),
                 routers_down: Iterable[str] = ()) -> None:
        dead = set(routers_down)
        self.states: dict[str, DesiredState] = {h: s for h, s in states.items() if h not in dead}
        self.down: set[tuple[str, str]] = set(down)
        self.notes: list[str] = []
        #: prefixes the model cannot settle (BGP alone, or routes redistributed between OSPF and
        #: BGP): what the routers hold for them depends on timing, so nothing is predicted
        self.unsettled: dict[IPv4Network, str] = {}
        self._base: dict[str, dict[str, dict[IPv4Network, list[Route]]]] = {}
        self._ribs: dict[tuple[str, str], Rib] = {}
        self.bgp: BgpResult = BgpResult()
        self._bgp_routes: dict[str, list[Route]] = {}
        self._owners: dict[IPv4Address, str] | None = None
        self._others: dict[int, dict[int, set[str]]] | None = None
        self._advertised: dict[int, dict[int, IPv4Network]] | None = None
        self._advertised_by_length: list[tuple[int, dict[int, tuple[IPv4Network, frozenset[str]]]]] | None = None
        self._local_indexes: dict[tuple[str, str], dict[int, dict[int, list[Route]]]] = {}
        self.ospf = OspfDomain(self.states, self.down, self._redistributed_into_ospf, self._has_default,
                               self._gateway)
        if any(s.bgp is not None for s in self.states.values()):
            self._converge()

    # -- connected and static -----------------------------------------------------------------------
    def _local(self, host: str) -> dict[str, dict[IPv4Network, list[Route]]]:
        """Connected and static routes of `host`, per VRF (candidates, not yet selected)."""
        done = self._base.get(host)
        if done is not None:
            return done
        state = self.states[host]
        out: dict[str, dict[IPv4Network, list[Route]]] = {}
        up: dict[str, tuple[IPv4Network, str]] = {}
        for i in state.interfaces:
            if i.address is None or not i.enabled or (host, i.name) in self.down:
                continue
            vrf = i.vrf or ""
            up[i.name] = (i.address.network, vrf)
            out.setdefault(vrf, {}).setdefault(i.address.network, []).append(Route(
                i.address.network, "connected", DISTANCE["connected"], 0, (NextHop(None, i.name),), vrf=vrf,
                origin=f"connected:{i.name}"))
        statics: dict[tuple[str, IPv4Network, int], list[tuple[NextHop, str]]] = {}
        for r in state.routes:
            vrf = r.vrf or ""
            hop = self._static_hop(up, vrf, r.next_hop, r.interface)
            if hop is None:
                continue
            statics.setdefault((vrf, r.prefix, r.distance), []).append((hop, r.origin))
        for (vrf, prefix, distance), hops in statics.items():
            out.setdefault(vrf, {}).setdefault(prefix, []).append(Route(
                prefix, "static", distance, 0, tuple(sorted({h for h, _ in hops})),
                via=tuple(sorted({h.address for h, _ in hops if h.address is not None})), vrf=vrf,
                origin=hops[0][1]))
        self._base[host] = out
        return out

    @staticmethod
    def _static_hop(up: dict[str, tuple[IPv4Network, str]], vrf: str, next_hop: IPv4Address | None,
                    interface: str | None) -> NextHop | None:
        """A static route is active while its next hop is on a connected subnet that is up (on
        its interface, when it names one)."""
        if next_hop is None:
            return NextHop(None, interface) if interface in up and up[interface][1] == vrf else None
        for ifname, (net, ivrf) in sorted(up.items()):
            if ivrf == vrf and next_hop in net and net.prefixlen < 32 and interface in (None, ifname):
                return NextHop(next_hop, ifname)
        return None

    # -- the non-BGP routes -------------------------------------------------------------------------
    def _igp(self, host: str) -> dict[IPv4Network, Route]:
        """The selected non-BGP route per prefix of the default VRF."""
        cands: dict[IPv4Network, list[Route]] = {p: list(rs) for p, rs in self._local(host).get("", {}).items()}
        if self.states[host].ospf is not None:
            for prefix, r in self.ospf.routes(host).items():
                cands.setdefault(prefix, []).append(self._ospf_route(host, r))
        return {p: min(rs, key=lambda r: r.distance) for p, rs in cands.items()}

    def _ospf_route(self, host: str, r: OspfRoute) -> Route:
        state = self.states[host]
        assert state.ospf is not None
        return Route(r.prefix, "ospf", DISTANCE["ospf"], r.cost, tuple(sorted(r.hops)),
                     via=tuple(sorted({h.address for h in r.hops if h.address is not None})),
                     origin=f"ospf:{state.ospf.process}", detail=r.kind)

    def _igp_route(self, host: str, prefix: IPv4Network) -> Route | None:
        """The selected non-BGP route of `host` for exactly `prefix` (default VRF)."""
        cands = list(self._local(host).get("", {}).get(prefix, ()))
        if self.states[host].ospf is not None:
            o = self.ospf.route(host, prefix)
            if o is not None:
                cands.append(self._ospf_route(host, o))
        return min(cands, key=lambda r: r.distance) if cands else None

    def _ospf_prefixes(self, host: str) -> dict[int, dict[int, IPv4Network]]:
        """The OSPF prefixes `host` may have a route to, by length and address."""
        if len(self.ospf.areas) == 1 and not self.ospf.externals():
            if self._advertised is None:
                self._advertised = {plen: {k: v[0] for k, v in table.items()}
                                    for plen, table in self.ospf.advertisers().items()}
            return self._advertised
        index: dict[int, dict[int, IPv4Network]] = {}
        for prefix in self.ospf.routes(host):
            index.setdefault(prefix.prefixlen, {})[int(prefix.network_address)] = prefix
        return index

    def _resolve(self, host: str, address: IPv4Address) -> tuple[int, frozenset[NextHop]] | None:
        """How `host` reaches `address` over its non-BGP routes (never through a default route)."""
        value = int(address)
        prefixes: set[IPv4Network] = set()
        for plen, table in self._local_index(host, "").items():
            mask = (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF if plen else 0
            found = table.get(value & mask)
            if found is not None:
                prefixes.add(found[0].prefix)
        if self.states[host].ospf is not None:
            for plen, known in self._ospf_prefixes(host).items():
                mask = (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF if plen else 0
                hit = known.get(value & mask)
                if hit is not None:
                    prefixes.add(hit)
        for prefix in sorted(prefixes, key=lambda p: -p.prefixlen):
            if prefix == DEFAULT:
                continue
            best = self._igp_route(host, prefix)
            if best is None:
                continue
            if best.protocol == "connected":
                return 0, frozenset({NextHop(address, best.next_hops[0].interface)})
            return best.metric, frozenset(best.next_hops)
        return None

    def _exact(self, host: str, prefix: IPv4Network) -> int | None:
        r = self._igp_route(host, prefix)
        return None if r is None else r.metric

    def _selected_of(self, host: str, protocol: str) -> list[Route]:
        """The routes of one protocol (OSPF, static, connected) that `host` selects (what
        redistribution takes)."""
        if protocol == "ospf":
            return [r for r in self._igp(host).values() if r.protocol == "ospf"]
        local = self._local(host).get("", {})
        out = []
        for rs in local.values():
            best = min(rs, key=lambda r: r.distance)
            if best.protocol == protocol:
                out.append(best)
        return out

    def _gateway(self, host: str, prefix: IPv4Network) -> IPv4Address | None:
        """The gateway of the (non-OSPF) route `host` selects for `prefix`, if it has one."""
        cands = [r for r in self._local(host).get("", {}).get(prefix, ())]
        cands += [r for r in self._bgp_routes.get(host, []) if r.prefix == prefix and r.selected]
        if not cands:
            return None
        best = min(cands, key=lambda r: r.distance)
        if best.protocol == "bgp":  # zebra hands ospfd BGP's own next hop, not what it resolves to
            return min(best.via, default=None)
        return _lowest_gateway(best)

    def _has_default(self, host: str) -> bool:
        """Whether `host` has a default route of its own (static, or BGP): what
        default-information originate waits for."""
        if any(r.protocol != "connected" for r in self._local(host).get("", {}).get(DEFAULT, ())):
            return True
        return any(r.prefix == DEFAULT and r.selected for r in self._bgp_routes.get(host, []))

    def _redistributed_into_ospf(self, host: str, protocol: str) -> list[tuple[IPv4Network, int]]:
        if protocol == "bgp":
            return [(r.prefix, r.metric) for r in self._bgp_routes.get(host, []) if r.selected]
        return [(r.prefix, r.metric) for r in self._selected_of(host, protocol)]

    # -- BGP and the loop over both -----------------------------------------------------------------
    def _converge(self) -> None:
        redistributes_bgp = any(s.ospf is not None and (any(r.protocol == "bgp" for r in s.ospf.redistribute)
                                                        or s.ospf.default_originate == "if-present")
                                for s in self.states.values())
        previous: dict[str, list[Route]] | None = None
        changing: set[IPv4Network] = set()
        for _ in range(MAX_ITERATIONS):
            comp = BgpComputation(self.states, self.down, self._resolve, self._exact, self._bgp_redistributed)
            self.bgp = comp.run()
            self._bgp_routes = {h: self._bgp_rib(h) for h in comp.states}
            if not self.bgp.converged:
                self.notes.append("BGP does not converge: the routers' choices keep changing each other")
                self.unsettled.update((p, "bgp") for p in self.bgp.unsettled)
            for a, b, why in self.bgp.down:
                self.notes.append(f"BGP session {a}-{b} goes down: {why} exceeded")
            if not redistributes_bgp or self._bgp_routes == previous:
                return
            if previous is not None:
                changing = {r.prefix for h in self._bgp_routes.keys() | previous.keys()
                            for r in set(self._bgp_routes.get(h, [])) ^ set(previous.get(h, []))}
            previous = self._bgp_routes
            self.ospf = OspfDomain(self.states, self.down, self._redistributed_into_ospf, self._has_default,
                                   self._gateway)
            self._ribs.clear()
            self._others = None
            self._advertised = None
            self._advertised_by_length = None
        self.unsettled.update((p, "redistribution") for p in changing)
        shown = ", ".join(map(str, sorted(changing, key=lambda n: (int(n.network_address), n.prefixlen))[:4]))
        self.notes.append(f"OSPF and BGP do not settle: routes redistributed between them keep changing ({shown})")

    def _bgp_redistributed(self, host: str, protocol: str) -> list[tuple[IPv4Network, int, IPv4Address | None]]:
        """(prefix, metric, gateway) of what BGP takes from `protocol` on `host`: FRR keeps the
        route's gateway as the BGP next hop (its lowest one, for ECMP), none for a connected one."""
        if protocol == "bgp":
            return []
        return [(r.prefix, r.metric, _lowest_gateway(r)) for r in self._selected_of(host, protocol)]

    def _bgp_rib(self, host: str) -> list[Route]:
        """The BGP routes `host` installs: the best path and its multipaths, unless originated here;
        whether each is selected over the other protocols' routes."""
        state = self.states[host]
        assert state.bgp is not None
        out = []
        for prefix, chosen in sorted(self.bgp.loc.get(host, {}).items(),
                                     key=lambda t: (int(t[0].network_address), t[0].prefixlen)):
            best = chosen.best
            other = self._igp_route(host, prefix)
            if best.aggregate:  # FRR installs an aggregate as a discard route, at iBGP's distance
                out.append(Route(prefix, "bgp", DISTANCE["ibgp"], 0, (), selected=other is None
                                 or DISTANCE["ibgp"] < other.distance, origin=f"bgp:{state.bgp.asn}",
                                 detail="aggregate"))
                continue
            if best.local:
                continue
            distance = DISTANCE["ebgp"] if best.ebgp else DISTANCE["ibgp"]
            hops: set[NextHop] = set()
            for p in chosen.multipath:
                hops |= p.hops
            out.append(Route(prefix, "bgp", distance, best.med or 0, tuple(sorted(hops)),
                             via=tuple(dict.fromkeys(p.next_hop for p in (best, *chosen.multipath)
                                                     if p.next_hop is not None)),
                             selected=other is None or distance < other.distance,
                             origin=f"bgp:{state.bgp.asn}",
                             detail=("ebgp" if best.ebgp else "ibgp") + " " + " ".join(map(str, best.as_path))))
        return out

    # -- what every layer reads -----------------------------------------------------------------------
    def rib(self, host: str, vrf: str = "") -> Rib:
        key = (host, vrf)
        done = self._ribs.get(key)
        if done is not None:
            return done
        rib = Rib(host, vrf)
        if host not in self.states:
            self._ribs[key] = rib
            return rib
        cands: dict[IPv4Network, list[Route]] = {p: list(rs) for p, rs in self._local(host).get(vrf, {}).items()}
        if not vrf:
            if self.states[host].ospf is not None:
                for prefix, o in self.ospf.routes(host).items():
                    cands.setdefault(prefix, []).append(self._ospf_route(host, o))
            for bgp in self._bgp_routes.get(host, []):
                cands.setdefault(bgp.prefix, []).append(bgp)
        for prefix, rs in cands.items():
            best = min(rs, key=lambda r: (r.distance, r.protocol != "connected"))
            others = [r if not r.selected else replace(r, selected=False) for r in rs if r is not best]
            others.sort(key=_sort_key)
            rib.routes[prefix] = [best if best.selected else replace(best, selected=True), *others]
        self._ribs[key] = rib
        return rib

    def lookup(self, host: str, dst: IPv4Address, vrf: str = "") -> Route | None:
        """The route `host` selects for `dst` (longest prefix, then lowest distance): the same as
        rib(host, vrf).lookup(dst), without computing the whole RIB when it was not asked for."""
        done = self._ribs.get((host, vrf))
        if done is not None or host not in self.states:
            return done.lookup(dst) if done is not None else None
        value = int(dst)
        cands: dict[IPv4Network, list[Route]] = {}
        for plen, table in self._local_index(host, vrf).items():
            mask = (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF if plen else 0
            found = table.get(value & mask)
            if found is not None:
                cands[found[0].prefix] = list(found)
        if not vrf:
            if self.states[host].ospf is not None:
                if len(self.ospf.areas) != 1 or self.ospf.externals():
                    return self.rib(host, vrf).lookup(dst)
                for alen, advertised in self.ospf.advertisers().items():
                    mask = (0xFFFFFFFF << (32 - alen)) & 0xFFFFFFFF if alen else 0
                    hit = advertised.get(value & mask)
                    if hit is not None:
                        o = self.ospf.route(host, hit[0])
                        if o is not None:
                            cands.setdefault(hit[0], []).append(self._ospf_route(host, o))
            for route in self._bgp_routes.get(host, []):
                if dst in route.prefix:
                    cands.setdefault(route.prefix, []).append(route)
        if not cands:
            return None
        prefix = max(cands, key=lambda p: p.prefixlen)
        best = min(cands[prefix], key=lambda r: (r.distance, r.protocol != "connected"))
        return best if best.selected else replace(best, selected=True)

    def _local_index(self, host: str, vrf: str) -> dict[int, dict[int, list[Route]]]:
        key = (host, vrf)
        done = self._local_indexes.get(key)
        if done is None:
            done = {}
            for prefix, routes in self._local(host).get(vrf, {}).items():
                done.setdefault(prefix.prefixlen, {})[int(prefix.network_address)] = routes
            self._local_indexes[key] = done
        return done

    def reaches(self, host: str, dst: IPv4Address) -> bool:
        """True when OSPF alone is sure to carry a packet for `dst` from `host` to the router it
        is attached to: one area, the same connected part of it, and no router with any other
        route (static, connected, BGP, OSPF external) as long as or longer than OSPF's prefix for
        dst. False means "not sure": `follow` the packet. (Large flat OSPF fabrics ask this for
        every flow instead of a shortest-path tree per router.)"""
        if len(self.ospf.areas) != 1 or self.ospf.component(host) is None:
            return False
        value = int(dst)
        found: tuple[IPv4Network, frozenset[str]] | None = None
        if self._advertised_by_length is None:
            self._advertised_by_length = sorted(self.ospf.advertisers().items(), reverse=True)
        for plen, table in self._advertised_by_length:
            mask = (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF if plen else 0
            found = table.get(value & mask)
            if found is not None:
                break
        if found is None:
            return False
        prefix, owners = found
        label = self.ospf.component(host)
        if not any(self.ospf.component(o) == label for o in owners):
            return False
        return not self._overridden(dst, prefix, owners)

    def _overridden(self, dst: IPv4Address, prefix: IPv4Network, owners: frozenset[str]) -> bool:
        if self._others is None:
            index: dict[int, dict[int, set[str]]] = {}

            def add(net: IPv4Network, host: str) -> None:
                index.setdefault(net.prefixlen, {}).setdefault(int(net.network_address), set()).add(host)

            for host, state in self.states.items():
                for i in state.interfaces:
                    if i.address is not None and not i.vrf:
                        add(i.address.network, host)
                for r in state.routes:
                    if not r.vrf:
                        add(r.prefix, host)
            for host, routes in self._bgp_routes.items():
                for route in routes:
                    add(route.prefix, host)
            for asbr, ext, _, _ in self.ospf.externals():
                add(ext, asbr)
            self._others = index
        value = int(dst)
        for plen, table in self._others.items():
            if plen < prefix.prefixlen:
                continue
            mask = (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF if plen else 0
            hosts = table.get(value & mask)
            if hosts is None:
                continue
            if plen == prefix.prefixlen and hosts <= owners:
                continue  # the advertisers' own connected subnet
            return True
        return False

    def owner(self, address: IPv4Address) -> str | None:
        """The router that has `address` on an interface that is up."""
        if self._owners is None:
            self._owners = {}
            for host, state in self.states.items():
                for i in state.interfaces:
                    if i.address is not None and i.enabled and (host, i.name) not in self.down:
                        self._owners.setdefault(i.address.ip, host)
        return self._owners.get(address)

    def follow(self, host: str, dst: IPv4Address, vrf: str = "") -> Walk:
        """Where a packet for `dst` at `host` goes over the selected routes: delivered onto a
        connected subnet, no route, discarded, out of the modelled routers (a next hop that is
        none of them), or a loop. Equal-cost next hops split flows by hash, so every branch is
        followed: the first that does not deliver is the answer (a flow may take it), else the
        branch of the lowest next hops."""
        walks = self.walks(host, dst, vrf)
        return next((w for w in walks if w.outcome != "delivered"), walks[0])

    def walks(self, host: str, dst: IPv4Address, vrf: str = "", limit: int = 64) -> list[Walk]:
        """Every way a packet for `dst` at `host` can take over equal-cost next hops, the lowest
        next hops' first (at most `limit` ways)."""
        out: list[Walk] = []

        def walk(node: str, hops: tuple[tuple[str, str], ...], seen: frozenset[str]) -> None:
            if len(out) >= limit:
                return
            if node in seen:
                out.append(Walk("loop", hops, node))
                return
            route = self.lookup(node, dst, vrf)
            if route is None:
                out.append(Walk("no-route", hops, node))
                return
            hops = (*hops, (node, route.origin))
            if not route.next_hops:
                out.append(Walk("discard", hops, node))
                return
            for hop in sorted(route.next_hops):
                if hop.address is None:
                    out.append(Walk("delivered", hops, node))
                    continue
                nxt = self.owner(hop.address)
                if nxt is None:
                    out.append(Walk("out", hops, node))
                else:
                    walk(nxt, hops, seen | {node})

        walk(host, (), frozenset())
        return out

    def idle_sessions(self) -> list[tuple[str, str, str]]:
        """The BGP sessions the routers are configured with that will not come up, each once:
        (a, b, why)."""
        up = {(s.a, s.b) for s in self.bgp.sessions}
        out: list[tuple[str, str, str]] = []
        seen: set[frozenset[str]] = set()
        for a, state in sorted(self.states.items()):
            if state.bgp is None:
                continue
            for n in state.bgp.neighbors:
                b = n.peer
                if (a, b) in up or frozenset((a, b)) in seen or b not in self.states:
                    continue
                seen.add(frozenset((a, b)))
                why = "it does not come up"
                if n.kind == "ibgp" and self._resolve(a, n.address) is None:
                    why = f"{a} has no route to {n.address} ({b}) but through BGP or a default route"
                elif n.kind == "ibgp":
                    peer_bgp = self.states[b].bgp
                    back = next((m.address for m in (peer_bgp.neighbors if peer_bgp else ()) if m.peer == a), None)
                    if back is not None and self._resolve(b, back) is None:
                        why = f"{b} has no route to {back} ({a}) but through BGP or a default route"
                out.append((a, b, why))
        return out

    def feedback(self) -> list[tuple[IPv4Network, str, str]]:
        """Routes that go round: (prefix, a, b) where router a redistributes BGP into OSPF, b
        (another router) holds that external OSPF route and redistributes it back into BGP. Such a
        route feeds itself: once its source withdraws it, it stays (the model, computed from
        nothing, has it go; the routers, which had it, keep it, looping), and where BGP then
        prefers it, it never settles."""
        into_ospf: dict[IPv4Network, set[str]] = {}
        for a, prefix, _metric, _type in self.ospf.externals():
            if self.ospf.external_source.get((a, prefix)) == "bgp":
                into_ospf.setdefault(prefix, set()).add(a)
        out: set[tuple[IPv4Network, str, str]] = set()
        for b, paths in self.bgp.originated.items():
            for path in paths:  # redistributed (origin incomplete) while b's route is OSPF's external
                if path.origin != ORIGIN_INCOMPLETE or path.prefix not in into_ospf:
                    continue
                route = self._igp_route(b, path.prefix)
                if route is not None and route.protocol == "ospf" and route.detail in ("e1", "e2"):
                    out.update((path.prefix, a, b) for a in into_ospf[path.prefix] if a != b)
        return sorted(out, key=lambda t: (int(t[0].network_address), t[0].prefixlen, t[1], t[2]))

    def unoriginated(self, host: str) -> list[IPv4Network]:
        """The prefixes `host` names to originate in BGP that are not in its RIB (FRR's network
        import-check: it does not announce them)."""
        state = self.states.get(host)
        if state is None or state.bgp is None:
            return []
        return [p for p in state.bgp.networks if self._exact(host, p) is None]

    def bgp_routes(self, host: str) -> list[Route]:
        """The BGP routes `host` installs (each marked selected when it wins over the others)."""
        return list(self._bgp_routes.get(host, []))

    def hosts(self) -> list[str]:
        return sorted(self.states)

    def vrfs(self, host: str) -> list[str]:
        return sorted(self._local(host)) if host in self.states else []
