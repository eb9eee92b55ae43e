"""BGP as FRR computes it from what netorch renders: which sessions come up, what each router
originates (network statements whose prefix is in its RIB, redistribution, default-originate),
what it sends to each peer (best path only, iBGP split horizon and route reflection, outbound
prefix-lists and route-maps, AS path and next hop rewritten as FRR does), what each peer keeps
(AS-path loop check, inbound prefix-lists and route-maps, maximum-prefix), and the best path
with FRR's order of comparisons and its default multipath. Rounds of exchange run until
nothing changes, as the routers' updates do. Pure."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address, IPv4Network

from netorch.model.desired import BgpNeighbor, DesiredState
from netorch.rib.policy import Policies
from netorch.rib.types import NextHop

LOCAL_WEIGHT = 32768
DEFAULT_LOCAL_PREF = 100
ORIGIN_IGP, ORIGIN_INCOMPLETE = 0, 2
DEFAULT = IPv4Network("0.0.0.0/0")

#: How a router reaches an address over its non-BGP routes: (metric, resolved next hops), or None.
Resolver = Callable[[str, IPv4Address], tuple[int, frozenset[NextHop]] | None]
#: The metric of a router's route to exactly this prefix (any protocol but BGP), or None.
ExactRoute = Callable[[str, IPv4Network], int | None]
#: A router's routes of one protocol, for redistribution: (prefix, metric, gateway or None).
Redistributed = Callable[[str, str], Iterable[tuple[IPv4Network, int, IPv4Address | None]]]


@dataclass(frozen=True)
class Path:
    prefix: IPv4Network
    as_path: tuple[int, ...]
    origin: int
    med: int | None
    local_pref: int
    weight: int
    #: as sent or received; originated here: None, or a redistributed route's gateway (FRR keeps it)
    next_hop: IPv4Address | None
    peer: str | None = None  # the router it was learned from
    peer_address: IPv4Address | None = None
    peer_router_id: IPv4Address | None = None
    ebgp: bool = False
    originator: IPv4Address | None = None
    clusters: frozenset[IPv4Address] = frozenset()
    igp_metric: int = 0
    hops: frozenset[NextHop] = frozenset()
    aggregate: bool = False

    @property
    def local(self) -> bool:
        return self.peer is None

    @property
    def neighbor_as(self) -> int | None:
        return self.as_path[0] if self.as_path else None


@dataclass
class Session:
    a: str
    b: str
    a_neighbor: BgpNeighbor  # a's configuration of b
    b_neighbor: BgpNeighbor
    a_address: IPv4Address  # a's own address on the session
    ebgp: bool
    a_interface: str | None  # eBGP: a's interface towards b


@dataclass
class Best:
    best: Path
    multipath: tuple[Path, ...]


@dataclass
class BgpResult:
    sessions: list[Session] = field(default_factory=list)
    loc: dict[str, dict[IPv4Network, Best]] = field(default_factory=dict)
    down: list[tuple[str, str, str]] = field(default_factory=list)  # (a, b, why)
    converged: bool = True
    #: when BGP does not converge: the prefixes whose best paths still change
    unsettled: frozenset[IPv4Network] = frozenset()
    #: what each router originates (network statements, redistribution, after its route-maps)
    originated: dict[str, list[Path]] = field(default_factory=dict)


def _addresses(state: DesiredState, down: set[tuple[str, str]]) -> dict[str, tuple[IPv4Address, IPv4Network]]:
    return {i.name: (i.address.ip, i.address.network) for i in state.interfaces
            if i.address is not None and i.enabled and not i.vrf and (state.host, i.name) not in down}


class BgpComputation:
    def __init__(self, states: dict[str, DesiredState], down: set[tuple[str, str]], resolve: Resolver,
                 exact: ExactRoute, redistributed: Redistributed) -> None:
        self.states = {h: s for h, s in states.items() if s.bgp is not None}
        self.down = down
        self.resolve = resolve
        self.exact = exact
        self.redistributed = redistributed
        self.addrs = {h: _addresses(s, down) for h, s in self.states.items()}
        self.owner: dict[IPv4Address, str] = {}
        for h, ifaces in self.addrs.items():
            for ip, _ in ifaces.values():
                self.owner.setdefault(ip, h)
        self.policies = {h: Policies(s) for h, s in self.states.items()}

    # -- sessions ---------------------------------------------------------------------------------
    def _source(self, host: str, n: BgpNeighbor) -> tuple[IPv4Address, str | None] | None:
        ifaces = self.addrs[host]
        if n.update_source:
            found = ifaces.get(n.update_source)
            return (found[0], None) if found else None
        for ifname, (ip, net) in sorted(ifaces.items()):
            if n.address in net and n.address != ip and net.prefixlen < 32:
                return ip, ifname
        return None

    def sessions(self, excluded: set[tuple[str, str]]) -> list[Session]:
        out = []
        for a in sorted(self.states):
            sa = self.states[a]
            assert sa.bgp is not None
            for n in sa.bgp.neighbors:
                b = self.owner.get(n.address)
                if b is None or b == a or (a, b) in excluded:
                    continue
                sb = self.states[b]
                assert sb.bgp is not None
                if n.remote_as != sb.bgp.asn:
                    continue
                src = self._source(a, n)
                if src is None:
                    continue
                back = next((m for m in sb.bgp.neighbors if m.address == src[0]), None)
                if back is None or back.remote_as != sa.bgp.asn:
                    continue
                back_src = self._source(b, back)
                if back_src is None or back_src[0] != n.address:
                    continue
                ebgp = sa.bgp.asn != sb.bgp.asn
                if ebgp and src[1] is None:
                    continue  # single-hop eBGP needs the peer on a connected subnet
                if not ebgp and (self.resolve(a, n.address) is None or self.resolve(b, src[0]) is None):
                    continue
                out.append(Session(a, b, n, back, src[0], ebgp, src[1]))
        return out

    # -- what a router originates -----------------------------------------------------------------
    def originated(self, host: str) -> list[Path]:
        state = self.states[host]
        assert state.bgp is not None
        out = []
        for prefix in state.bgp.networks:
            metric = self.exact(host, prefix)
            if metric is not None:  # FRR's network import-check: the prefix must be in the RIB
                out.append(Path(prefix, (), ORIGIN_IGP, metric, DEFAULT_LOCAL_PREF, LOCAL_WEIGHT, None))
        policies = self.policies[host]
        for redis in state.bgp.redistribute:
            for prefix, metric, gateway in self.redistributed(host, redis.protocol):
                if not prefix.prefixlen:
                    continue  # a default route takes default-information originate
                if policies.route_map(redis.route_map, prefix) is not None:
                    out.append(Path(prefix, (), ORIGIN_INCOMPLETE, metric, DEFAULT_LOCAL_PREF, LOCAL_WEIGHT,
                                    gateway))
        return out

    def aggregates(self, host: str, loc: dict[IPv4Network, Best]) -> list[Path]:
        """The aggregates `host` announces: those with a longer prefix within them in its BGP
        table (FRR), originated here with a discard route."""
        state = self.states[host]
        assert state.bgp is not None
        out = []
        for agg in state.bgp.aggregates:
            if any(p != agg.prefix and p.subnet_of(agg.prefix) and not chosen.best.aggregate
                   for p, chosen in loc.items()):
                out.append(Path(agg.prefix, (), ORIGIN_IGP, None, DEFAULT_LOCAL_PREF, LOCAL_WEIGHT, None,
                                aggregate=True))
        return out

    def suppressed(self, host: str, prefix: IPv4Network, loc: dict[IPv4Network, Best]) -> bool:
        """Whether a summary-only aggregate of `host` that is announced hides `prefix`."""
        state = self.states[host]
        assert state.bgp is not None
        return any(agg.summary_only and prefix != agg.prefix and prefix.subnet_of(agg.prefix)
                   and agg.prefix in loc and loc[agg.prefix].best.aggregate for agg in state.bgp.aggregates)

    # -- exchange -----------------------------------------------------------------------------------
    def advertise(self, s: Session, loc: dict[IPv4Network, Best],
                  reflector: dict[tuple[str, str], bool]) -> dict[IPv4Network, Path]:
        """What router s.a sends to s.b (before s.b's inbound policy)."""
        a, b, n = s.a, s.b, s.a_neighbor
        sa = self.states[a]
        assert sa.bgp is not None
        policies = self.policies[a]
        out: dict[IPv4Network, Path] = {}
        for prefix, chosen in loc.items():
            best = chosen.best
            if best.peer == b or self.suppressed(a, prefix, loc):
                continue
            if not s.ebgp and not best.local and not best.ebgp:
                # iBGP-learned to an iBGP peer: only a route reflector passes it on
                from_client = reflector.get((a, best.peer or ""), False)
                to_client = n.reflector_client
                if not (from_client or to_client):
                    continue
            if not policies.prefix_list(n.prefix_list_out, prefix):
                continue
            sets = policies.route_map(n.route_map_out, prefix)
            if sets is None:
                continue
            if s.ebgp:
                # a next hop on the subnet shared with the peer is kept (a third-party next hop)
                shared = (s.a_interface is not None and best.next_hop is not None
                          and best.next_hop in self.addrs[a][s.a_interface][1])
                out[prefix] = Path(prefix, (*sets.prepend, sa.bgp.asn, *best.as_path), best.origin,
                                   best.med if best.local else None, DEFAULT_LOCAL_PREF, 0,
                                   best.next_hop if shared else s.a_address)
            else:
                reflected = not best.local and not best.ebgp
                nh = best.next_hop
                if (n.next_hop_self and (best.local or best.ebgp)) or nh is None:
                    nh = s.a_address  # (originated: a redistributed route's gateway stays the next hop)
                out[prefix] = Path(
                    prefix, (*sets.prepend, *best.as_path), best.origin, best.med, best.local_pref, 0, nh,
                    originator=(best.originator or best.peer_router_id) if reflected else best.originator,
                    clusters=best.clusters | {sa.bgp.router_id} if reflected else best.clusters)
        if s.ebgp and n.default_originate:
            out[DEFAULT] = Path(DEFAULT, (sa.bgp.asn,), ORIGIN_IGP, None, DEFAULT_LOCAL_PREF, 0, s.a_address)
        return out

    def receive(self, s: Session, sent: dict[IPv4Network, Path]) -> dict[IPv4Network, Path]:
        """What s.b keeps of what s.a sent, as paths with their resolved next hops."""
        a, b, n = s.a, s.b, s.b_neighbor
        sb, sa = self.states[b], self.states[a]
        assert sb.bgp is not None and sa.bgp is not None
        policies = self.policies[b]
        out: dict[IPv4Network, Path] = {}
        for prefix, p in sent.items():
            if s.ebgp and sb.bgp.asn in p.as_path:
                continue
            if not s.ebgp and (p.originator == sb.bgp.router_id or sb.bgp.router_id in p.clusters):
                continue
            if not policies.prefix_list(n.prefix_list_in, prefix):
                continue
            sets = policies.route_map(n.route_map_in, prefix)
            if sets is None:
                continue
            lp = sets.local_preference if sets.local_preference is not None else (
                DEFAULT_LOCAL_PREF if s.ebgp else p.local_pref)
            assert p.next_hop is not None
            if any(p.next_hop == ip for ip, _ in self.addrs[b].values()):
                continue  # FRR: a next hop that is one of the router's own addresses is martian
            if s.ebgp:
                iface = next((ifname for ifname, (ip, net) in self.addrs[b].items()
                              if p.next_hop in net and p.next_hop != ip), None)
                if iface is None:
                    continue
                metric, hops = 0, frozenset({NextHop(p.next_hop, iface)})
            else:
                found = self.resolve(b, p.next_hop)
                if found is None:
                    continue  # next hop unreachable: the path is not valid
                metric, hops = found
            out[prefix] = replace(p, as_path=(*sets.prepend, *p.as_path) if sets.prepend else p.as_path,
                                  local_pref=lp, peer=a, peer_address=n.address,
                                  peer_router_id=sa.bgp.router_id, ebgp=s.ebgp, igp_metric=metric, hops=hops)
        return out

    # -- best path ----------------------------------------------------------------------------------
    @staticmethod
    def select(paths: list[Path]) -> Best:
        """FRR's order: weight, local preference, locally originated, AS path length, origin, MED
        (between paths from the same neighbouring AS), eBGP over iBGP, IGP metric to the next
        hop; equal up to there with the same AS path: multipath; then the lowest router id
        (originator), the shortest cluster list, the lowest peer address."""
        def head(p: Path) -> tuple[int, int, int, int, int]:
            return (-p.weight, -p.local_pref, 0 if p.local else 1, len(p.as_path), p.origin)

        top = min(head(p) for p in paths)
        cands = [p for p in paths if head(p) == top]
        by_as: dict[int | None, int] = {}
        for p in cands:
            med = p.med or 0
            by_as[p.neighbor_as] = min(by_as.get(p.neighbor_as, med), med)
        cands = [p for p in cands if (p.med or 0) == by_as[p.neighbor_as]]
        if any(p.ebgp for p in cands):
            cands = [p for p in cands if p.ebgp]
        low = min(p.igp_metric for p in cands)
        cands = [p for p in cands if p.igp_metric == low]

        def tie(p: Path) -> tuple[int, int, int]:
            rid = p.originator or p.peer_router_id
            return (int(rid) if rid else 0, len(p.clusters), int(p.peer_address) if p.peer_address else 0)

        cands.sort(key=tie)
        best = cands[0]
        multi = tuple(p for p in cands if p.as_path == best.as_path and not p.local)
        return Best(best, multi or (best,))

    # -- the whole exchange -------------------------------------------------------------------------
    def run(self, max_rounds: int | None = None) -> BgpResult:
        excluded: set[tuple[str, str]] = set()
        result = BgpResult()
        for _ in range(len(self.states) + 1):
            result = self._run(excluded, max_rounds)
            over = [(a, b, why) for a, b, why in result.down if (a, b) not in excluded]
            if not over:
                return result
            for a, b, _why in over:
                excluded.add((a, b))
                excluded.add((b, a))
        return result

    def _run(self, excluded: set[tuple[str, str]], max_rounds: int | None) -> BgpResult:
        sessions = self.sessions(excluded)
        down: list[tuple[str, str, str]] = [(a, b, "maximum-prefix") for a, b in sorted(excluded) if a < b]
        reflector = {(s.a, s.b): s.a_neighbor.reflector_client for s in sessions}
        local = {h: self.originated(h) for h in self.states}
        adj_in: dict[tuple[str, str], dict[IPv4Network, Path]] = {}
        loc: dict[str, dict[IPv4Network, Best]] = {}
        rounds = max_rounds if max_rounds is not None else 4 * len(self.states) + 8
        converged = False
        previous: dict[str, dict[IPv4Network, Best]] = {}
        for _ in range(rounds):
            previous = loc
            loc = {}
            for host in self.states:
                paths: dict[IPv4Network, list[Path]] = {}
                for p in [*local[host], *self.aggregates(host, previous.get(host, {}))]:
                    paths.setdefault(p.prefix, []).append(p)
                for (_a, b), got in adj_in.items():
                    if b == host:
                        for p in got.values():
                            paths.setdefault(p.prefix, []).append(p)
                loc[host] = {prefix: self.select(ps) for prefix, ps in paths.items()}
            new: dict[tuple[str, str], dict[IPv4Network, Path]] = {}
            for s in sessions:
                new[(s.a, s.b)] = self.receive(s, self.advertise(s, loc[s.a], reflector))
            aggregated = {h: {p for p, c in rib.items() if c.best.aggregate} for h, rib in loc.items()}
            before = {h: {p for p, c in rib.items() if c.best.aggregate} for h, rib in previous.items()}
            if new == adj_in and all(aggregated[h] == before.get(h, set()) for h in aggregated) and previous:
                converged = True
                break
            adj_in = new
        for s in sessions:
            limit = s.b_neighbor.max_prefix
            if limit is not None and len(adj_in.get((s.a, s.b), {})) > limit:
                down.append((s.a, s.b, "maximum-prefix"))
        unsettled = frozenset() if converged else frozenset(
            p for h in loc for p in set(loc[h]) | set(previous.get(h, {}))
            if loc[h].get(p) != previous.get(h, {}).get(p))
        return BgpResult(sessions, loc, down, converged, unsettled, local)
