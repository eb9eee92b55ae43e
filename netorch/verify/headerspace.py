"""Sets of packets, exhaustively: the header space of netorch's filters and routes.

A packet header here is (source IPv4, destination IPv4, protocol, destination port). A set of
headers is a union of products (source interval set x destination interval set x protocol set
x port interval set), kept in a canonical form that makes the checks fast:

- the address axis is cut into *atoms*: the coarsest partition of 0.0.0.0-255.255.255.255
  such that every prefix the model mentions (domain subnets, filter nets, providers, router
  addresses, route prefixes) is a union of atoms. No rule or route can tell two addresses of
  one atom apart, so a set of addresses is a set of atoms, and each atom is an interval set
  (``portion``);
- protocol and port share one axis (``SERVICE``): tcp ports 0-65535, then udp ports 0-65535,
  then icmp, then every other protocol. A protocol set with port ranges is one interval set
  on it (``portion``).

A ``HeaderSpace`` maps (source atom, destination atom) to the service interval set of that
pair: the union over pairs of atom(src) x atom(dst) x services. Pure, no I/O."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import TypeAlias

import portion as P
from portion import Interval

from netorch.model.intents import Protocol
from netorch.model.types import PortRange

ADDRESSES = 1 << 32
PORTS = 1 << 16
TCP0, UDP0, ICMP0, OTHER0, END = 0, PORTS, 2 * PORTS, 2 * PORTS + 1, 2 * PORTS + 2

Services: TypeAlias = Interval
EMPTY: Services = P.empty()
ALL_SERVICES: Services = P.closedopen(0, END)
_PROTO_BASE = {Protocol.TCP: TCP0, Protocol.UDP: UDP0}


_AND: dict[tuple[Services, Services], Services] = {}
_SUB: dict[tuple[Services, Services], Services] = {}
_MEMO_MAX = 200_000


def meet(a: Services, b: Services) -> Services:
    """a & b, memoised: the checks intersect the same few service sets millions of times."""
    if a is b or b is ALL_SERVICES:
        return a
    if a is ALL_SERVICES:
        return b
    key = (a, b)
    found = _AND.get(key)
    if found is None:
        if len(_AND) > _MEMO_MAX:
            _AND.clear()
        found = _AND[key] = a & b
    return found


def minus(a: Services, b: Services) -> Services:
    """a - b, memoised."""
    if a is b or b is ALL_SERVICES:
        return EMPTY
    key = (a, b)
    found = _SUB.get(key)
    if found is None:
        if len(_SUB) > _MEMO_MAX:
            _SUB.clear()
        found = _SUB[key] = a - b
    return found


def services(protocol: Protocol, ports: Iterable[PortRange] = ()) -> Services:
    """The service set of a filter rule or an intent: protocol (any, tcp, udp, icmp) and
    destination ports (none: every port)."""
    if protocol == Protocol.ANY:
        return ALL_SERVICES
    if protocol == Protocol.ICMP:
        return P.closedopen(ICMP0, ICMP0 + 1)
    base = _PROTO_BASE[protocol]
    found = EMPTY
    for rng in ports:
        found = found | P.closedopen(base + rng.start, base + rng.end + 1)
    return found if ports else P.closedopen(base, base + PORTS)


def service_of(value: int) -> tuple[str, int | None]:
    """(protocol, port or None) of one point of the service axis."""
    if value < UDP0:
        return "tcp", value - TCP0
    if value < ICMP0:
        return "udp", value - UDP0
    return ("icmp", None) if value == ICMP0 else ("other", None)


def sample_service(svc: Services, prefer: Iterable[int] = ()) -> int:
    """One point of a non-empty service set: a preferred point when it holds one, else a port
    people recognise (the lowest port above 0 for tcp/udp), else the lowest point."""
    for value in prefer:
        if value in svc:
            return value
    for atomic in svc:
        low = atomic.lower if atomic.left == P.CLOSED else atomic.lower + 1
        if low in (TCP0, UDP0) and low + 1 in svc:
            return int(low + 1)
        return int(low)
    raise ValueError("empty service set")


def describe_services(svc: Services) -> str:
    """'tcp/22, tcp/8000-8080, icmp' style text of a service set."""
    if svc == ALL_SERVICES:
        return "any protocol, any port"
    parts: list[str] = []
    for atomic in svc:
        lo = int(atomic.lower if atomic.left == P.CLOSED else atomic.lower + 1)
        hi = int(atomic.upper if atomic.right == P.CLOSED else atomic.upper - 1)
        for base, end, name in ((TCP0, UDP0, "tcp"), (UDP0, ICMP0, "udp")):
            a, b = max(lo, base), min(hi, end - 1)
            if a <= b:
                if a == base and b == end - 1:
                    parts.append(f"{name} (any port)")
                else:
                    parts.append(f"{name}/{a - base}" + (f"-{b - base}" if b > a else ""))
        if lo <= ICMP0 <= hi:
            parts.append("icmp")
        if lo <= OTHER0 <= hi:
            parts.append("other protocols")
    return ", ".join(parts) or "nothing"


def _bounds(net: IPv4Network) -> tuple[int, int]:
    low = int(net.network_address)
    return low, low + net.num_addresses


@dataclass(frozen=True)
class AtomRange:
    """Atoms first..last-1: the atoms of one prefix (atoms are numbered in address order)."""

    first: int
    last: int

    def __contains__(self, atom: object) -> bool:
        return isinstance(atom, int) and self.first <= atom < self.last


class AtomSet:
    """A set of atoms given as ranges (the nets of a filter rule); empty ranges = any address."""

    __slots__ = ("_ends", "_starts", "any", "ranges")

    def __init__(self, ranges: Iterable[AtomRange], any_address: bool = False) -> None:
        self.ranges = tuple(sorted(ranges, key=lambda r: r.first))
        self.any = any_address
        merged: list[list[int]] = []
        for r in self.ranges:
            if merged and r.first <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], r.last)
            else:
                merged.append([r.first, r.last])
        self._starts = [m[0] for m in merged]
        self._ends = [m[1] for m in merged]

    def __contains__(self, atom: int) -> bool:
        if self.any:
            return True
        i = bisect.bisect_right(self._starts, atom) - 1
        return i >= 0 and atom < self._ends[i]

    def atoms(self, total: int) -> Iterator[int]:
        if self.any:
            yield from range(total)
            return
        for r in self.ranges:
            yield from range(r.first, r.last)


class Atoms:
    """The partition of the IPv4 space into atoms, from the prefixes the model mentions."""

    def __init__(self, prefixes: Iterable[IPv4Network]) -> None:
        cuts = {0, ADDRESSES}
        for net in prefixes:
            lo, hi = _bounds(net)
            cuts.add(lo)
            cuts.add(hi)
        self.starts: list[int] = sorted(cuts)[:-1]
        self.ends: list[int] = [*self.starts[1:], ADDRESSES]

    def __len__(self) -> int:
        return len(self.starts)

    def find(self, address: IPv4Address | int) -> int:
        return bisect.bisect_right(self.starts, int(address)) - 1

    def of(self, net: IPv4Network) -> AtomRange:
        lo, hi = _bounds(net)
        return AtomRange(self.find(lo), self.find(hi - 1) + 1)

    def of_nets(self, nets: Iterable[IPv4Network]) -> AtomSet:
        ranges = [self.of(n) for n in nets]
        return AtomSet(ranges, any_address=not ranges)

    def interval(self, atom: int) -> Interval:
        return P.closedopen(self.starts[atom], self.ends[atom])

    def first(self, atom: int) -> int:
        return self.starts[atom]

    def size(self, atom: int) -> int:
        return self.ends[atom] - self.starts[atom]

    def sample(self, atom: int) -> IPv4Address:
        """The first address of the atom (the domains' atoms hold no network, broadcast or
        router address)."""
        return IPv4Address(self.starts[atom])

    def describe(self, atoms: Iterable[int]) -> str:
        """The addresses of a set of atoms, as ranges (adjacent atoms merged)."""
        merged = P.empty()
        for a in atoms:
            merged = merged | self.interval(a)
        parts = []
        for atomic in merged:
            lo, hi = int(atomic.lower), int(atomic.upper) - 1
            parts.append(str(IPv4Address(lo)) if lo == hi else f"{IPv4Address(lo)}-{IPv4Address(hi)}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Packet:
    """One concrete packet of a set: a counterexample."""

    src: IPv4Address
    dst: IPv4Address
    protocol: str
    port: int | None

    def __str__(self) -> str:
        what = self.protocol if self.port is None else f"{self.protocol}/{self.port}"
        return f"{self.src} -> {self.dst} {what}"

    def as_dict(self) -> dict[str, object]:
        return {"src": str(self.src), "dst": str(self.dst), "protocol": self.protocol, "port": self.port}


class HeaderSpace:
    """A set of packets: (source atom, destination atom) -> services of that pair."""

    __slots__ = ("pairs",)

    def __init__(self, pairs: dict[tuple[int, int], Services] | None = None) -> None:
        self.pairs: dict[tuple[int, int], Services] = {k: v for k, v in (pairs or {}).items() if not v.empty}

    def add(self, src: int, dst: int, svc: Services) -> None:
        if svc.empty:
            return
        have = self.pairs.get((src, dst))
        self.pairs[(src, dst)] = svc if have is None else have | svc

    def union(self, other: HeaderSpace) -> HeaderSpace:
        out = HeaderSpace(dict(self.pairs))
        for (s, d), svc in other.pairs.items():
            out.add(s, d, svc)
        return out

    def intersection(self, other: HeaderSpace) -> HeaderSpace:
        small, big = (self, other) if len(self.pairs) <= len(other.pairs) else (other, self)
        return HeaderSpace({k: v & big.pairs[k] for k, v in small.pairs.items() if k in big.pairs})

    def difference(self, other: HeaderSpace) -> HeaderSpace:
        return HeaderSpace({k: (v - other.pairs[k]) if k in other.pairs else v for k, v in self.pairs.items()})

    def is_empty(self) -> bool:
        return not self.pairs

    def __len__(self) -> int:
        return len(self.pairs)

    def sample(self, atoms: Atoms, prefer: Iterable[int] = ()) -> Packet:
        (s, d), svc = min(self.pairs.items(), key=lambda kv: kv[0])
        proto, port = service_of(sample_service(svc, prefer))
        return Packet(atoms.sample(s), atoms.sample(d), proto, port)

    def describe(self, atoms: Atoms) -> dict[str, str]:
        """The set as the brief product form: sources, destinations, services (their unions)."""
        svc = EMPTY
        for v in self.pairs.values():
            svc = svc | v
        return {"sources": atoms.describe(sorted({s for s, _ in self.pairs})),
                "destinations": atoms.describe(sorted({d for _, d in self.pairs})),
                "services": describe_services(svc)}


def packet_services(protocol: str, port: int | None) -> int:
    """The service-axis point of a concrete (protocol, port)."""
    if protocol == "tcp":
        return TCP0 + (port or 0)
    if protocol == "udp":
        return UDP0 + (port or 0)
    return ICMP0 if protocol == "icmp" else OTHER0
