"""Run every check of `netorch verify` on the compiled network, with everything up and under
single failures, and collect the findings into one report."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network

from netorch.model.desired import DesiredState
from netorch.model.intents import IntentSet
from netorch.service import Workspace
from netorch.topology import Topology
from netorch.util import paused_gc
from netorch.verify.checks import (
    Evaluator,
    Member,
    PairResult,
    Promise,
    Specification,
    Universe,
    decided,
    hop_text,
    packet,
    route_reason,
    universe_prefixes,
)
from netorch.verify.filters import filter_findings
from netorch.verify.headerspace import AtomRange, Atoms, HeaderSpace, Services, minus, packet_services, sample_service
from netorch.verify.model import NO_FAILURE, Failure, Network, Trace, down_interfaces, model_prefixes
from netorch.verify.report import Finding, Report, Severity, VerifyFailed

PairKey = tuple[int, int, int]  # (member index, source atom, destination atom)


@dataclass
class Collector:
    """Findings merged per (check, subject, failed element): the first counterexample is kept,
    the failing flows are summed up."""

    found: dict[tuple[str, str, str], Finding] = field(default_factory=dict)
    sets: dict[tuple[str, str, str], HeaderSpace] = field(default_factory=dict)

    def add(self, finding: Finding, s: int = -1, d: int = -1, svc: Services | None = None) -> None:
        key = (finding.check, finding.subject, finding.element)
        have = self.found.get(key)
        if have is None:
            self.found[key] = finding
            self.sets[key] = HeaderSpace()
        else:
            have.count += 1
        if s >= 0 and svc is not None:
            self.sets[key].add(s, d, svc)

    def findings(self, atoms: Atoms) -> list[Finding]:
        out = []
        for key, f in self.found.items():
            hs = self.sets[key]
            if not hs.is_empty():
                f.flows = hs.describe(atoms)
                f.count = len(hs)
            out.append(f)
        return out


class Verifier:
    def __init__(self, desired: Mapping[str, DesiredState], topo: Topology, intents: IntentSet,
                 hosts: set[str] | None = None) -> None:
        self.desired = desired
        self.topo = topo
        self.intents = intents
        self.hosts = hosts
        self.atoms = Atoms(model_prefixes(desired, topo) | universe_prefixes(intents, topo))
        self.universe = Universe(intents, topo, self.atoms)
        self.spec = Specification(intents, self.universe, self.atoms)
        self.collector = Collector()
        self.pairs = 0
        self.index: dict[str, list[PairKey]] = {}
        self.networks: dict[Failure, Network] = {}

    # -- promises between and inside domains -------------------------------------------------------
    def check_pairs(self, net: Network, element: str = "", only: Iterable[PairKey] | None = None,
                    resilient_only: bool = False, record: bool = False) -> None:
        ev = Evaluator(net)
        members = self.universe.members
        keys: Iterable[PairKey] = only if only is not None else self._all_pairs()
        down = net.down
        for mi, s, d in keys:
            member = members[mi]
            if element and (member.host not in net.routers or (member.host, member.interface) in down
                            or self._dst_down(d, net)):
                continue
            result = ev.pair(member, s, d)
            hosts = result.forward.hosts() | (result.reply.hosts() if result.reply else frozenset())
            if self.hosts is not None and not hosts & self.hosts:
                continue
            self.pairs += 1
            if record:
                for h in hosts:
                    self.index.setdefault(h, []).append((mi, s, d))
            dst_domain = self.universe.domain_of[d]
            promise = self.spec.promise(member.domain, dst_domain, d)
            if not resilient_only or promise.resilient:
                # under a failure that only resilient promises are re-checked for, a path nothing
                # resilient takes may break
                self._loops(result, member, d, promise, element)
            if result.conn is promise.allowed or result.conn == promise.allowed:
                continue
            if not resilient_only and member.domain != dst_domain:
                extra = minus(result.conn, promise.allowed)
                if not extra.empty:
                    self._extra(result, member, dst_domain, s, d, extra, element)
            for piece, origin in promise.pieces:
                if resilient_only and origin not in promise.resilient:
                    continue
                missing = minus(piece, result.conn)
                if not missing.empty:
                    self._missing(result, member, dst_domain, s, d, missing, origin, element)

    def _all_pairs(self) -> Iterable[PairKey]:
        subnet_of = self.universe.subnet_of
        dsts = self.universe.dst_atoms
        for mi, member in enumerate(self.universe.members):
            for s in member.atoms:
                for d in dsts:
                    if subnet_of[d] != member.subnet:
                        yield mi, s, d

    def _dst_down(self, d: int, net: Network) -> bool:
        subnet = self.universe.subnet_of[d]
        ends = self.topo.attached.get(subnet, [])
        return bool(ends) and all(e[0] not in net.routers or e in net.down for e in ends)

    def _paths(self, result: PairResult) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return hop_text(result.forward.hops), hop_text(result.reply.hops) if result.reply else ()

    def _extra(self, result: PairResult, member: Member, dst_domain: str, s: int, d: int, extra: Services,
               element: str) -> None:
        point = sample_service(extra)
        path, reply = self._paths(result)
        by = decided(result.decisions, point, accepted=True) or "no filter on the way drops it"
        self.collector.add(Finding(
            "isolation", "fail", f"{member.domain} -> {dst_domain}",
            f"{member.domain} can open connections to {dst_domain} that no rule or service allows",
            packet=packet(self.atoms, s, d, point), path=path, reply_path=reply, decided_by=by,
            element=element), s, d, extra)

    def _missing(self, result: PairResult, member: Member, dst_domain: str, s: int, d: int, missing: Services,
                 origin: str, element: str) -> None:
        point = sample_service(missing)
        path, reply = self._paths(result)
        kind, name = origin.split(":", 1)
        if kind == "service":
            check, subject = "service", f"service {name} from {member.domain}"
            what = f"{member.domain} cannot reach provider {self.atoms.sample(d)}"
        elif kind == "rule":
            check, subject = "rule", f"rule {name} ({member.domain} -> {dst_domain})"
            what = f"{member.domain} cannot reach {dst_domain} as the rule allows"
        else:
            check, subject = "domain", f"inside {member.domain}"
            what = f"{member.subnet} cannot reach {self.universe.subnet_of[d]} of the same domain"
        if result.route_block is not None and point in result.route_block[0]:
            by = result.route_block[1]
        else:
            by = decided(result.decisions, point, accepted=False) or "the reply does not come back"
        self.collector.add(Finding(check, "fail", subject, what, packet=packet(self.atoms, s, d, point),
                                   path=path, reply_path=reply, decided_by=by, element=element), s, d, missing)

    def _loops(self, result: PairResult, member: Member, d: int, promise: Promise, element: str) -> None:
        for trace in (result.forward, result.reply):
            if trace is None or trace.outcome not in ("loop", "no-route"):
                continue
            if trace.outcome == "no-route" and promise.allowed.empty:
                continue  # nothing may go there: no route is no broken promise
            check = "loop" if trace.outcome == "loop" else "blackhole"
            subnet = self.universe.subnet_of[d] if trace is result.forward else member.subnet
            self.collector.add(Finding(
                check, "fail", f"{subnet} from {trace.hops[0].host}",
                f"packets for {subnet} {'loop' if check == 'loop' else 'are dropped for lack of a route'}",
                packet=None, path=hop_text(trace.hops), decided_by=route_reason(trace), element=element))

    # -- routes ------------------------------------------------------------------------------------
    def check_routes(self, net: Network, element: str = "") -> int:
        """Every installed static route leads somewhere: no loop, no router without a route on
        the way. Each route is followed for the destinations it decides: its prefix's atoms in the
        domains' space, and its first address (the rest of a prefix outside the domains)."""
        checked = 0
        ranges: dict[IPv4Network, AtomRange] = {}
        for host, router in net.routers.items():
            if self.hosts is not None and host not in self.hosts:
                continue
            for r in self.desired[host].routes:
                first = ranges.get(r.prefix)
                if first is None:
                    first = ranges[r.prefix] = self.atoms.of(r.prefix)
                for atom in self._route_atoms(first.first, first.last):
                    fe = router.lookup(self.atoms.first(atom), r.vrf or "")
                    if fe is None or fe.entry.origin != r.origin or fe.entry.prefix != r.prefix:
                        continue
                    checked += 1
                    trace = net.trace(host, atom, r.vrf or "")
                    if trace.outcome == "loop" or (trace.outcome == "no-route" and not element):
                        self._route_finding(trace, r.origin, str(r.prefix), element,
                                            atom in self.universe.domain_of)
                    break
        return checked

    def _route_atoms(self, first: int, last: int) -> Iterable[int]:
        yield first
        for atom in range(first + 1, min(last, first + 64)):
            if atom in self.universe.domain_of:
                yield atom

    def _route_finding(self, trace: Trace, origin: str, prefix: str, element: str, in_domains: bool) -> None:
        """A loop fails; a route that ends at a router without a route onward fails for the
        domains' addresses and is a warning elsewhere (e.g. a default route towards a router
        that only knows the networks it serves)."""
        check = "loop" if trace.outcome == "loop" else "blackhole"
        severity: Severity = "fail" if check == "loop" or in_domains else "warning"
        self.collector.add(Finding(
            check, severity, f"{origin} ({prefix})",
            "the route sends packets round in a loop" if check == "loop" else
            "the route leads to a router that has no route onward",
            path=hop_text(trace.hops), decided_by=route_reason(trace), element=element))

    # -- single failures ----------------------------------------------------------------------------
    def scenarios(self) -> list[tuple[Failure, str, set[str]]]:
        """(failure, its name, the routers whose forwarding it changes) for each single link and
        each single router."""
        out = []
        for net, ends in sorted(self.topo.attached.items()):
            hosts = sorted({h for h, _ in ends})
            if len(hosts) < 2 or not all(h in self.desired for h in hosts):
                continue
            name = "link " + "-".join(f"{h}:{i}" for h, i in ends) + f" ({net})"
            out.append((Failure(links=frozenset({net})), name, set(hosts)))
        for host in sorted(self.desired):
            peers = {lk.peer for lk in self.topo.links.get(host, [])}
            if peers:
                out.append((Failure(routers=frozenset({host})), f"router {host}", peers | {host}))
        return out

    def check_failures(self, resilient_only: bool) -> int:
        count = 0
        for failure, name, affected in self.scenarios():
            net = Network(self.desired, self.topo, self.atoms, failure)
            keys = sorted({k for h in affected for k in self.index.get(h, [])})
            self.check_pairs(net, name, keys, resilient_only=resilient_only)
            if not resilient_only:
                self.check_routes(net, name)
            count += 1
        return count

    def network(self, failure: Failure = NO_FAILURE) -> Network:
        """The model under `failure` (built once per failure)."""
        net = self.networks.get(failure)
        if net is None:
            net = self.networks[failure] = Network(self.desired, self.topo, self.atoms, failure)
        return net

    def flow(self, src: IPv4Address, dst: IPv4Address, protocol: str, port: int | None,
             failure: Failure = NO_FAILURE) -> tuple[bool, PairResult | None]:
        """Whether one connection works (the forward packet and its reply), by the model: what a
        probe between two end hosts should observe."""
        net = self.network(failure)
        s, d = self.atoms.find(src), self.atoms.find(dst)
        member = next((m for m in self.universe.members if src in m.subnet and m.host in net.routers
                       and (m.host, m.interface) not in net.down), None)
        if member is None or d not in self.universe.domain_of:
            return False, None
        result = Evaluator(net).pair(member, s, d)
        return packet_services(protocol, port) in result.conn, result

    def run(self, failures: int = 0) -> Report:
        started = time.perf_counter()
        base = Network(self.desired, self.topo, self.atoms, NO_FAILURE)
        resilient = any(r.value.resilient for r in self.intents.rules) or any(
            s.value.resilient for s in self.intents.services)
        self.check_pairs(base, record=failures > 0 or resilient)
        routes = self.check_routes(base)
        for f in filter_findings(base, self.hosts, set(self.universe.domain_of)):
            self.collector.add(f)
        scenarios = 1
        if failures > 0 or resilient:
            scenarios += self.check_failures(resilient_only=failures == 0)
        stats = {"routers": len(base.routers), "atoms": len(self.atoms), "members": len(self.universe.members),
                 "pairs": self.pairs, "routes": routes, "scenarios": scenarios, "failures": failures,
                 "resilient_only": failures == 0 and resilient}
        return Report(self.collector.findings(self.atoms), stats, time.perf_counter() - started)


def verify_state(desired: Mapping[str, DesiredState], topo: Topology, intents: IntentSet,
                 hosts: set[str] | None = None, failures: int = 0) -> Report:
    return Verifier(desired, topo, intents, hosts).run(failures)


def verify(workspace: Workspace, limit: str | None = None, failures: int = 0) -> Report:
    """Verify the workspace's compiled intents (raises ValidationFailed on invalid intents)."""
    if failures not in (0, 1):
        from netorch.errors import NetorchError

        raise NetorchError("--failures takes 0 or 1 (single link and router failures)")
    desired = workspace.compile()
    _, intents, _ = workspace.load()
    hosts = {h.name for h in workspace.select(limit)} if limit is not None else None
    with paused_gc():
        return verify_state(desired, workspace.topology(), intents, hosts, failures)


def verify_or_refuse(workspace: Workspace, limit: str | None = None) -> Report:
    """Verify before a push: the report when every promise holds; VerifyFailed (with the
    report and its counterexamples) otherwise."""
    report = verify(workspace, limit)
    if not report.ok:
        raise VerifyFailed(report)
    return report


__all__ = ["Verifier", "down_interfaces", "verify", "verify_or_refuse", "verify_state"]
