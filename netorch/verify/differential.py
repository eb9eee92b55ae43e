"""The differential of `netorch verify --against`: two models of the network, the flows whose
outcome changes between them, exhaustively.

`before` is the older model, `after` the newer (`--against RUN|REV`: that run or revision, then
the current intents; `--against live`: the current intents, then the network as it runs). For
every domain member interface, every source address class of its subnet and every destination
address class of every domain, the connections that work in each model are computed as service
sets (protocol x ports) as `netorch verify` does (forward packet hop by hop through the filters, the reply back); a
service in `after` only is *newly allowed*, in `before` only *newly blocked*. The changes are
summarised per domain pair as exact rectangles (every source x every destination x the
services), each with one concrete example flow and what decides it on each side. Pure, no I/O."""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, summarize_address_range
from typing import Any, Literal

import portion as P

from netorch.model.desired import DesiredState
from netorch.model.intents import IntentSet
from netorch.topology import Topology
from netorch.verify.checks import (
    Evaluator,
    Member,
    PairResult,
    Universe,
    decided,
    hop_text,
    packet,
    route_reason,
    universe_prefixes,
)
from netorch.verify.headerspace import EMPTY, Atoms, Packet, Services, describe_services, minus, sample_service
from netorch.verify.model import Network, RibSource, model_prefixes

ChangeKind = Literal["newly allowed", "newly blocked"]
EXIT_SAME, EXIT_INCOMPLETE, EXIT_DIFFERENT = 0, 1, 2


@dataclass(frozen=True)
class Side:
    """One model of the network: desired states (intended, stored, or read back from the devices),
    the topology, the intents whose domains it serves, and its RIB sources (None: the intended ones)."""

    label: str
    desired: Mapping[str, DesiredState]
    topo: Topology
    intents: IntentSet
    sources: Sequence[RibSource] | None = None
    prefixes: frozenset[IPv4Network] = frozenset()  # further prefixes it tells apart (live RIB)
    notes: tuple[str, ...] = ()
    unreadable: tuple[str, ...] = ()  # "host: why" of devices that could not be read


@dataclass(frozen=True)
class Change:
    """Flows whose outcome changes: every source x every destination x the services."""

    kind: ChangeKind
    source_domain: str
    destination_domain: str
    sources: tuple[str, ...]
    destinations: tuple[str, ...]
    services: str
    example: Packet
    before: str  # what decides the example in the `before` model
    after: str
    path_before: tuple[str, ...]
    path_after: tuple[str, ...]
    classes: int  # (source, destination) address classes

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "source_domain": self.source_domain,
                "destination_domain": self.destination_domain, "sources": list(self.sources),
                "destinations": list(self.destinations), "services": self.services,
                "example": self.example.as_dict(), "before": self.before, "after": self.after,
                "path_before": list(self.path_before), "path_after": list(self.path_after), "classes": self.classes}

    def lines(self) -> list[str]:
        return [f"{self.kind.upper()} {self.source_domain} -> {self.destination_domain}: "
                f"{', '.join(self.sources)} -> {', '.join(self.destinations)}: {self.services}",
                f"    example: {self.example}",
                f"    before: {self.before}" + (f" [{' -> '.join(self.path_before)}]" if self.path_before else ""),
                f"    after:  {self.after}" + (f" [{' -> '.join(self.path_after)}]" if self.path_after else "")]


@dataclass
class Differential:
    before: str
    after: str
    changes: list[Change]
    notes: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    duration: float = 0.0
    against: str = ""  # what the intents were compared with: "live", "run 42 (revision ...)", "revision ..."

    @property
    def verdict(self) -> str:
        return "incomplete" if self.unreadable else "different" if self.changes else "same"

    @property
    def exit_code(self) -> int:
        """0 no difference, 2 differences, 1 a device could not be read (the answer is incomplete)."""
        return EXIT_INCOMPLETE if self.unreadable else EXIT_DIFFERENT if self.changes else EXIT_SAME

    def counts(self) -> dict[str, int]:
        return {k: sum(1 for c in self.changes if c.kind == k) for k in ("newly allowed", "newly blocked")}

    def summary(self) -> str:
        counts = self.counts()
        what = ("no flow changes its outcome" if not self.changes else
                f"{counts['newly allowed']} newly allowed, {counts['newly blocked']} newly blocked")
        tail = f"; {len(self.unreadable)} device(s) could not be read" if self.unreadable else ""
        return (f"verify --against: {self.before} -> {self.after}: {what}{tail} "
                f"({self.stats.get('pairs', 0)} flow classes, in {self.duration:.2f}s)")

    def as_dict(self) -> dict[str, Any]:
        return {"against": self.against or None, "before": self.before, "after": self.after,
                "verdict": self.verdict, "exit_code": self.exit_code,
                "summary": self.summary(), "counts": self.counts(), "changes": [c.as_dict() for c in self.changes],
                "notes": self.notes, "unreadable": self.unreadable, "stats": self.stats,
                "duration": round(self.duration, 3)}

    def lines(self) -> list[str]:
        out: list[str] = []
        for c in self.changes:
            out += c.lines()
        out += [f"NOTE {n}" for n in self.notes]
        out += [f"UNREADABLE {u}" for u in self.unreadable]
        out.append(self.summary())
        return out


class _Space:
    """The domains' address space shared by both models: the after side's universe, plus the
    before side's members on subnets the after side no longer has."""

    def __init__(self, before: Side, after: Side, atoms: Atoms) -> None:
        main = Universe(after.intents, after.topo, atoms)
        old = Universe(before.intents, before.topo, atoms)
        have = {m.subnet for m in main.members}
        self.members: list[Member] = main.members + [m for m in old.members if m.subnet not in have]
        self.domain_of = dict(old.domain_of)
        self.domain_of.update(main.domain_of)
        self.subnet_of = dict(old.subnet_of)
        self.subnet_of.update(main.subnet_of)
        self.dst_atoms = sorted(self.domain_of)
        self.subnet_atoms: dict[IPv4Network, frozenset[int]] = {}
        for a, net in self.subnet_of.items():
            self.subnet_atoms[net] = self.subnet_atoms.get(net, frozenset()) | {a}


def describe_addresses(atoms: Atoms, space: _Space, ids: Iterable[int]) -> tuple[str, ...]:
    """A set of address classes as prefixes: a whole domain subnet as its prefix, the rest as the
    prefixes (or, when that takes many, the range) of each run of adjacent classes."""
    remaining = set(ids)
    out: list[str] = []
    for net, members in sorted(space.subnet_atoms.items()):
        if members <= remaining:
            out.append(str(net))
            remaining -= members
    runs: list[list[int]] = []
    for a in sorted(remaining):
        if runs and atoms.ends[runs[-1][1]] == atoms.starts[a]:
            runs[-1][1] = a
        else:
            runs.append([a, a])
    for first, last in runs:
        lo, hi = IPv4Address(atoms.starts[first]), IPv4Address(atoms.ends[last] - 1)
        nets = list(summarize_address_range(lo, hi))
        if len(nets) <= 2:
            out += [str(n.network_address) if n.prefixlen == 32 else str(n) for n in nets]
        else:
            out.append(f"{lo}-{hi}")
    return tuple(out)


def _segments(svc: Services) -> Iterator[tuple[int, int]]:
    """The integer ranges [low, high) of a service set."""
    for atomic in svc:
        low = int(atomic.lower if atomic.left == P.CLOSED else atomic.lower + 1)
        high = int(atomic.upper if atomic.right == P.OPEN else atomic.upper + 1)
        if low < high:
            yield low, high


def rectangles(items: list[tuple[int, int, Services]]) -> list[tuple[frozenset[int], frozenset[int], Services]]:
    """Exact rectangles (sources x destinations x services) whose union is the set of flows
    `items` ((source, destination, services) per address-class pair): the service axis is cut
    where any of the sets starts or ends, the pieces that the same pairs share are one service
    set, and the pairs of a piece are grouped by source, then by their destinations."""
    cuts = sorted({b for _, _, svc in items for seg in _segments(svc) for b in seg})
    pieces: dict[int, set[tuple[int, int]]] = {}  # piece (index of its first cut) -> pairs
    for s, d, svc in items:
        for low, high in _segments(svc):
            for i in range(bisect.bisect_left(cuts, low), bisect.bisect_left(cuts, high)):
                pieces.setdefault(i, set()).add((s, d))
    by_pairs: dict[frozenset[tuple[int, int]], Services] = {}
    for i, found in pieces.items():
        key = frozenset(found)
        by_pairs[key] = by_pairs.get(key, EMPTY) | P.closedopen(cuts[i], cuts[i + 1])
    out: list[tuple[frozenset[int], frozenset[int], Services]] = []
    for pair_set, svc in by_pairs.items():
        dsts_of: dict[int, set[int]] = {}
        for s, d in pair_set:
            dsts_of.setdefault(s, set()).add(d)
        srcs_of: dict[frozenset[int], set[int]] = {}
        for s, ds in dsts_of.items():
            srcs_of.setdefault(frozenset(ds), set()).add(s)
        out += [(frozenset(ss), ds, svc) for ds, ss in srcs_of.items()]
    return sorted(out, key=lambda r: (min(r[0]), min(r[1]), int(r[2].lower)))


def explain(result: PairResult | None, point: int, allowed: bool) -> str:
    """What decides one flow in one model: every accepting rule on its way, or what stops it."""
    if result is None:
        return "the source's router is not in this model"
    if allowed:
        return decided(result.decisions, point, accepted=True) or "no filter on the way drops it"
    dropped = decided(result.decisions, point, accepted=False)
    if dropped:
        return dropped
    if result.route_block is not None and point in result.route_block[0]:
        return result.route_block[1]
    if result.forward.outcome != "delivered":
        return route_reason(result.forward)
    if result.reply is not None and result.reply.outcome != "delivered":
        return "reply: " + route_reason(result.reply)
    return "the reply does not come back"


def differential(before: Side, after: Side, hosts: set[str] | None = None) -> Differential:
    """The flows whose outcome differs between `before` and `after`; with `hosts`, only flows
    whose path (on either side) crosses one of them."""
    started = time.perf_counter()
    atoms = Atoms(model_prefixes(before.desired, before.topo) | model_prefixes(after.desired, after.topo)
                  | universe_prefixes(before.intents, before.topo) | universe_prefixes(after.intents, after.topo)
                  | before.prefixes | after.prefixes)
    space = _Space(before, after, atoms)
    nets = (Network(before.desired, before.topo, atoms, sources=before.sources),
            Network(after.desired, after.topo, atoms, sources=after.sources))
    evs = (Evaluator(nets[0]), Evaluator(nets[1]))

    def pair(side: int, member: Member, s: int, d: int) -> PairResult:
        return evs[side].pair(member, s, d)

    # (kind, source domain, destination domain) -> [(source atom, destination atom, services)]
    found: dict[tuple[ChangeKind, str, str], list[tuple[int, int, Services]]] = {}
    where: dict[tuple[int, int], Member] = {}
    pairs = 0
    for member in space.members:
        for s in member.atoms:
            for d in space.dst_atoms:
                if space.subnet_of[d] == member.subnet:
                    continue
                rb, ra = pair(0, member, s, d), pair(1, member, s, d)
                if hosts is not None:
                    crossed = rb.forward.hosts() | ra.forward.hosts()
                    if not crossed & hosts:
                        continue
                pairs += 1
                if rb.conn is ra.conn or rb.conn == ra.conn:
                    continue
                dst_domain = space.domain_of[d]
                changed: tuple[tuple[ChangeKind, Services], ...] = (
                    ("newly allowed", minus(ra.conn, rb.conn)), ("newly blocked", minus(rb.conn, ra.conn)))
                for kind, svc in changed:
                    if not svc.empty:
                        found.setdefault((kind, member.domain, dst_domain), []).append((s, d, svc))
                        where.setdefault((s, d), member)
    changes: list[Change] = []
    for (kind, src_domain, dst_domain), items in found.items():
        for srcs, dsts, svc in rectangles(items):
            s0, d0 = min(srcs), min(dsts)
            member = where[(s0, d0)]
            point = sample_service(svc)
            rb, ra = pair(0, member, s0, d0), pair(1, member, s0, d0)
            allowed_after = kind == "newly allowed"
            changes.append(Change(
                kind, src_domain, dst_domain, describe_addresses(atoms, space, srcs),
                describe_addresses(atoms, space, dsts), describe_services(svc), packet(atoms, s0, d0, point),
                explain(rb, point, not allowed_after), explain(ra, point, allowed_after),
                hop_text(rb.forward.hops), hop_text(ra.forward.hops), len(srcs) * len(dsts)))
    changes.sort(key=lambda c: (c.kind, c.source_domain, c.destination_domain, int(c.example.src),
                                int(c.example.dst), c.services))
    stats = {"pairs": pairs, "atoms": len(atoms), "members": len(space.members),
             "routers": {"before": len(nets[0].routers), "after": len(nets[1].routers)}}
    return Differential(before.label, after.label, changes, [*before.notes, *after.notes],
                        [*before.unreadable, *after.unreadable], stats, time.perf_counter() - started)


__all__ = ["Change", "Differential", "Side", "describe_addresses", "differential", "explain", "rectangles"]
