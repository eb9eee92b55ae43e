"""The checks of `netorch verify`, exhaustive over sets of packets.

For every domain member interface (where traffic of a domain enters the network), every
source atom of its subnet and every destination atom of every domain, the model computes the
set of services (protocol x port) whose connections work: the initiating packet follows the
FIB hop by hop through the filters it meets, and the reply comes back the same way (stateful
routers that forwarded the connection pass it; stateless filters need their reply entries).
The intents' promise for the pair (from the intents, not from the compiled filters) is:
everything inside a domain; between domains, the first match of the rules (by sequence),
then the services, then deny. Any difference is a failed promise with a counterexample.

Also: forwarding loops and blackholes, shadowed filter rules (warnings) and explicit denies
shadowed by an earlier allow (failures), and every promise again under single failures."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from netorch.model.intents import Action, IntentSet, RuleIntent, ServiceIntent
from netorch.topology import Topology, domain_subnets
from netorch.verify.headerspace import (
    ALL_SERVICES,
    EMPTY,
    Atoms,
    Packet,
    Services,
    meet,
    minus,
    service_of,
    services,
)
from netorch.verify.model import Filter, Hop, Kind, MatchRule, Network, Router, Trace

Decision = tuple[Services, str, str, bool]  # (services, host, rule, accepted)


@dataclass(frozen=True)
class Member:
    domain: str
    host: str
    interface: str
    subnet: IPv4Network
    atoms: tuple[int, ...]


@dataclass
class PairResult:
    conn: Services
    forward: Trace
    reply: Trace | None
    decisions: list[Decision]
    route_block: tuple[Services, str] | None


@dataclass
class Promise:
    """What the intents allow for one (source domain, destination atom): allowed pieces, each
    with the intent that allows it."""

    allowed: Services
    pieces: tuple[tuple[Services, str], ...]
    resilient: frozenset[str]

    def origin_of(self, point: int) -> str:
        return next((o for svc, o in self.pieces if point in svc), "")


def hop_text(hops: Iterable[Hop]) -> tuple[str, ...]:
    return tuple(str(h) for h in hops)


class Universe:
    """The domains' address space as atoms: member subnets without their network, broadcast
    and router addresses (traffic to and from routers themselves is not modelled)."""

    def __init__(self, intents: IntentSet, topo: Topology, atoms: Atoms) -> None:
        self.atoms = atoms
        self.members: list[Member] = []
        self.domain_of: dict[int, str] = {}
        self.subnet_of: dict[int, IPv4Network] = {}
        router_addrs = {int(i.ip) for addrs in topo.addresses.values() for i in addrs.values()}
        for d in intents.domains:
            for m in domain_subnets(d, topo):
                rng = atoms.of(m.subnet)
                net = m.subnet
                edges = ({int(net.network_address), int(net.broadcast_address)} if net.prefixlen <= 30 else set())
                keep = tuple(a for a in range(rng.first, rng.last)
                             if not (atoms.size(a) == 1 and (atoms.first(a) in router_addrs
                                                             or atoms.first(a) in edges)))
                self.members.append(Member(m.domain, m.host, m.interface, m.subnet, keep))
                for a in keep:
                    self.domain_of[a] = m.domain
                    self.subnet_of[a] = m.subnet
        self.dst_atoms = sorted(self.domain_of)


def universe_prefixes(intents: IntentSet, topo: Topology) -> set[IPv4Network]:
    nets: set[IPv4Network] = set()
    for d in intents.domains:
        for m in domain_subnets(d, topo):
            nets.add(m.subnet)
            if m.subnet.prefixlen <= 30:
                nets.add(IPv4Network(f"{m.subnet.network_address}/32"))
                nets.add(IPv4Network(f"{m.subnet.broadcast_address}/32"))
    for s in intents.services:
        nets.update(IPv4Network(f"{p}/32") for p in s.value.providers)
    return nets


class Specification:
    """The intents' promises per (source domain, destination domain, destination atom)."""

    def __init__(self, intents: IntentSet, universe: Universe, atoms: Atoms) -> None:
        self.universe = universe
        self.rules: dict[tuple[str, str], list[RuleIntent]] = {}
        for r in sorted((r.value for r in intents.rules), key=lambda r: r.sequence):
            self.rules.setdefault((r.source, r.destination), []).append(r)
        # destination atom -> services whose provider it is
        self.provided: dict[int, list[ServiceIntent]] = {}
        for s in intents.services:
            for p in sorted(set(s.value.providers)):
                self.provided.setdefault(atoms.find(p), []).append(s.value)
        self._memo: dict[tuple[str, str, int], Promise] = {}

    def promise(self, src_domain: str, dst_domain: str, dst_atom: int) -> Promise:
        provided = tuple(s.name for s in self.provided.get(dst_atom, ()))
        key = (src_domain, dst_domain, dst_atom if provided else -1)
        found = self._memo.get(key)
        if found is not None:
            return found
        if src_domain == dst_domain:
            found = Promise(ALL_SERVICES, ((ALL_SERVICES, f"domain:{src_domain}"),), frozenset())
        else:
            entries: list[tuple[Services, bool, str, bool]] = [
                (services(r.protocol, r.ports), r.action == Action.ALLOW, f"rule:{r.name}", r.resilient)
                for r in self.rules.get((src_domain, dst_domain), [])]
            entries += [(services(s.protocol, s.ports), True, f"service:{s.name}", s.resilient)
                        for s in self.provided.get(dst_atom, ()) if src_domain in s.consumers]
            remaining, allowed = ALL_SERVICES, EMPTY
            pieces: list[tuple[Services, str]] = []
            resilient: set[str] = set()
            for svc, allow, origin, res in entries:
                piece = remaining & svc
                if allow and not piece.empty:
                    pieces.append((piece, origin))
                    allowed = allowed | piece
                    if res:
                        resilient.add(origin)
                remaining = remaining - svc
            found = Promise(allowed, tuple(pieces), frozenset(resilient))
        self._memo[key] = found
        return found


class Evaluator:
    """Filters and traces of one Network, evaluated per (source atom, destination atom)."""

    def __init__(self, net: Network) -> None:
        self.net = net
        self._cand: dict[tuple[int, str, str, int], frozenset[int]] = {}
        self._eval: dict[tuple[int, str, frozenset[int]], tuple[tuple[Services, MatchRule], ...]] = {}

    def _candidates(self, flt: Filter, kind: Kind, side: str, atom: int) -> frozenset[int]:
        key = (id(flt), kind, side, atom)
        found = self._cand.get(key)
        if found is None:
            found = frozenset(i for i, r in enumerate(flt.rules) if not r.matches(kind).empty
                              and atom in (r.sources if side == "s" else r.destinations))
            self._cand[key] = found
        return found

    def decide(self, flt: Filter, s: int, d: int, kind: Kind) -> tuple[tuple[Services, MatchRule], ...]:
        """First match: the disjoint pieces of the service axis each rule decides for (s, d)."""
        cand = self._candidates(flt, kind, "s", s) & self._candidates(flt, kind, "d", d)
        key = (id(flt), kind, cand)
        found = self._eval.get(key)
        if found is None:
            remaining, out = ALL_SERVICES, []
            for i in sorted(cand):
                rule = flt.rules[i]
                piece = meet(remaining, rule.matches(kind))
                if not piece.empty:
                    out.append((piece, rule))
                    remaining = minus(remaining, piece)
                    if remaining.empty:
                        break
            found = tuple(out)
            self._eval[key] = found
        return found

    def hop(self, router: Router, hop: Hop, s: int, d: int, kind: Kind, svc: Services, conntrack: bool,
            decisions: list[Decision]) -> Services:
        if kind == "reply" and router.semantics.stateful and conntrack:
            return svc
        flts = router.filters_for(hop.in_if, hop.out_if)
        if not flts:
            return svc
        if router.semantics.one_verdict:
            remaining, passed = svc, EMPTY
            for f in flts:
                for piece, rule in self.decide(f, s, d, kind):
                    m = meet(remaining, piece)
                    if m.empty:
                        continue
                    decisions.append((m, router.host, f"{f.name}: {rule.origin}", rule.accept))
                    if rule.accept:
                        passed = passed | m
                    remaining = minus(remaining, m)
                    if remaining.empty:
                        return passed
            return passed | remaining
        remaining = svc
        for f in flts:
            for piece, rule in self.decide(f, s, d, kind):
                m = meet(remaining, piece)
                if m.empty:
                    continue
                decisions.append((m, router.host, f"{f.name}: {rule.origin}", rule.accept))
                if not rule.accept:
                    remaining = minus(remaining, m)
            if remaining.empty:
                break
        return remaining

    def walk(self, trace: Trace, s: int, d: int, kind: Kind, svc: Services, conntrack: frozenset[str],
             decisions: list[Decision]) -> Services:
        for hop in trace.hops:
            router = self.net.routers[hop.host]
            if hop.out_if is None and trace.outcome != "delivered":
                break  # routing drops it here, before any forwarding filter
            svc = self.hop(router, hop, s, d, kind, svc, hop.host in conntrack, decisions)
            if svc.empty:
                break
        return svc

    def pair(self, member: Member, s: int, d: int) -> PairResult:
        net = self.net
        decisions: list[Decision] = []
        fwd_trace = net.trace(member.host, d, net.if_vrf.get((member.host, member.interface), "")
                              ).entering(member.interface)
        fwd = self.walk(fwd_trace, s, d, "forward", ALL_SERVICES, frozenset(), decisions)
        if fwd_trace.outcome != "delivered":
            block = (fwd, route_reason(fwd_trace)) if not fwd.empty else None
            return PairResult(EMPTY, fwd_trace, None, decisions, block)
        if fwd.empty:
            return PairResult(EMPTY, fwd_trace, None, decisions, None)
        last = fwd_trace.hops[-1]
        back = net.trace(last.host, s, net.if_vrf.get((last.host, last.out_if or ""), "")).entering(last.out_if)
        conntrack = fwd_trace.hosts()
        rep = self.walk(back, d, s, "reply", fwd, conntrack, decisions)
        if back.outcome != "delivered":
            block = (rep, "reply: " + route_reason(back)) if not rep.empty else None
            return PairResult(EMPTY, fwd_trace, back, decisions, block)
        return PairResult(rep, fwd_trace, back, decisions, None)


def route_reason(trace: Trace) -> str:
    last = trace.hops[-1] if trace.hops else None
    if trace.outcome == "no-route":
        return f"no route at {last.host if last else '?'}"
    if trace.outcome == "loop":
        return f"forwarding loop ({trace.detail})"
    if trace.outcome == "exit":
        return f"leaves the network: {trace.detail}"
    return trace.detail


def decided(decisions: list[Decision], point: int, accepted: bool | None = None) -> str:
    """The rules that decided the sample point: every accepting rule on the way, or the one
    that dropped it."""
    found = [f"{host} {rule}" for svc, host, rule, ok in decisions
             if point in svc and (accepted is None or ok == accepted)]
    return "; ".join(found)


def packet(atoms: Atoms, s: int, d: int, point: int) -> Packet:
    proto, port = service_of(point)
    return Packet(atoms.sample(s), atoms.sample(d), proto, port)


def atom_of(atoms: Atoms, address: IPv4Address) -> int:
    return atoms.find(address)
