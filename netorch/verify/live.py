"""The model's inputs as the devices run them: netorch's nftables table read back as filters,
the RIB as RIB entries, the kernel's addresses and link state as interfaces. Pure: the texts
and tables come from the transports (netorch.verify.against collects them).

What is read, and what is not (stated, tested):
- filters: the chains the `forward` chain of `table inet netorch` jumps to from an
  `iifname`/`oifname` match, in jump order, with the rules netorch renders (`ip saddr`,
  `ip daddr`, `tcp|udp dport`, `meta l4proto`, `ip protocol`, `counter`, accept/drop/reject,
  `comment`). A statement outside that grammar is left out of the model and named in the
  report's notes, as are a forward chain without `ct state established,related accept` or
  with a drop policy (the model keeps FRR's stateful, accept-by-default semantics) and other
  tables (never modelled);
- routes: the RIB's selected entries with their next hops installed in the FIB (an equal-cost
  route is followed through its lowest next hop, as the intents' model does); a blackhole or
  unreachable entry has no next hop and is not modelled;
- interfaces: an interface is up when the kernel says it is administratively up with carrier;
  its address is the kernel's (the intended one when the kernel has it)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, summarize_address_range
from typing import Any

from netorch.configtree.frr import KernelInterface
from netorch.configtree.nft import parse_nft
from netorch.configtree.registry import packet_filter_artifact
from netorch.model.desired import DesiredInterface, DesiredState, FilterAction, FilterRule, InterfaceFilter
from netorch.model.intents import Protocol
from netorch.model.types import PortRange
from netorch.topology import Topology
from netorch.transport.base import InterfaceState
from netorch.verify.model import RIB_SOURCES, RibEntry, RibSource

_TOKEN = re.compile(r'"[^"]*"|[{},]|[^\s{},]+')
_JUMP = re.compile(r'^(iifname|oifname) "?([^"\s]+)"? (?:jump|goto) (\S+)$')
_POLICY = re.compile(r"policy (\w+);")
_PROTOCOLS = {"tcp": Protocol.TCP, "udp": Protocol.UDP, "icmp": Protocol.ICMP}


class Unmodelled(ValueError):
    """A statement outside the grammar the model reads."""


def _tokens(statement: str) -> list[str]:
    return _TOKEN.findall(statement)


def _elements(tokens: list[str], i: int) -> tuple[list[str], int]:
    """A set `{ a, b }` or a single element at tokens[i]; returns the elements and the next index."""
    if i >= len(tokens):
        raise Unmodelled("a match without a value")
    if tokens[i] != "{":
        return [tokens[i]], i + 1
    out: list[str] = []
    i += 1
    while i < len(tokens) and tokens[i] != "}":
        if tokens[i] != ",":
            out.append(tokens[i])
        i += 1
    if i >= len(tokens):
        raise Unmodelled("an unterminated set")
    return out, i + 1


def _nets(values: list[str]) -> list[IPv4Network]:
    nets: list[IPv4Network] = []
    for v in values:
        try:
            if "-" in v:
                lo, hi = (IPv4Address(x) for x in v.split("-", 1))
                nets.extend(summarize_address_range(lo, hi))
            else:
                nets.append(IPv4Network(v, strict=False))
        except ValueError:
            raise Unmodelled(f"address {v!r}") from None
    return nets


def _ports(values: list[str]) -> list[PortRange]:
    out = []
    for v in values:
        lo, _, hi = v.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            raise Unmodelled(f"port {v!r}")
        try:
            out.append(PortRange(start=int(lo), end=int(hi or lo)))
        except ValueError:
            raise Unmodelled(f"port {v!r}") from None
    return out


def parse_rule(statement: str, origin: str) -> FilterRule:
    """One rule of a filter chain as netorch renders it (and `nft list` prints it back)."""
    tokens = _tokens(statement)
    sources: list[IPv4Network] = []
    destinations: list[IPv4Network] = []
    protocol = Protocol.ANY
    ports: list[PortRange] = []
    action: FilterAction | None = None
    comment = ""
    i = 0
    while i < len(tokens):
        word = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if word == "ip" and nxt in ("saddr", "daddr"):
            if i + 2 < len(tokens) and tokens[i + 2] == "!=":
                raise Unmodelled("a negated match")
            values, i = _elements(tokens, i + 2)
            (sources if nxt == "saddr" else destinations).extend(_nets(values))
        elif word in ("tcp", "udp") and nxt == "dport":
            values, i = _elements(tokens, i + 2)
            protocol, ports = _PROTOCOLS[word], ports + _ports(values)
        elif (word, nxt) in (("meta", "l4proto"), ("ip", "protocol")):
            values, i = _elements(tokens, i + 2)
            if len(values) != 1 or values[0] not in _PROTOCOLS:
                raise Unmodelled(f"protocol {' '.join(values)}")
            protocol = _PROTOCOLS[values[0]]
        elif word == "counter":
            i += 1
            while i + 1 < len(tokens) and tokens[i] in ("packets", "bytes"):
                i += 2
        elif word in ("accept", "drop", "reject"):
            action = FilterAction.ACCEPT if word == "accept" else FilterAction.DROP
            i += 1
            if word == "reject" and nxt == "with":
                i += 3  # reject with icmp|tcp TYPE: still no connection
        elif word == "comment":
            comment = nxt.strip('"')
            i += 2
        else:
            raise Unmodelled(f"{word!r}")
    if action is None:
        raise Unmodelled("a rule without accept or drop")
    return FilterRule(action=action, protocol=protocol, sources=tuple(sources), destinations=tuple(destinations),
                      ports=tuple(ports), origin=f"{comment or origin} (live)")


def _chain_headers(text: str) -> dict[str, str]:
    """chain name -> its `type ... hook ...; policy ...;` line, where it has one."""
    headers: dict[str, str] = {}
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        m = re.match(r"^chain (\S+) \{$", line)
        if m:
            current = m.group(1)
        elif current and line.startswith("type "):
            headers[current] = line
    return headers


def parse_filters(host: str, text: str, intended: tuple[InterfaceFilter, ...]) -> tuple[tuple[InterfaceFilter, ...],
                                                                                        list[str]]:
    """The filters of netorch's nftables table (`nft list table inet netorch`), in jump order,
    and notes on what the model leaves out."""
    chains = parse_nft(text)
    notes: list[str] = []
    forward = chains.get("forward")
    if forward is None:
        return (), ([f"{host}: netorch's nftables table has no forward chain"] if text.strip() else [])
    policy = _POLICY.search(_chain_headers(text).get("forward", ""))
    if policy is not None and policy.group(1) != "accept":
        notes.append(f"{host}: the forward chain's policy is {policy.group(1)} (modelled as accept)")
    domains = {f.name: f.domain for f in intended}
    filters: list[InterfaceFilter] = []
    stateful = False
    for statement in forward:
        if statement.startswith("type "):
            continue
        if statement.startswith("ct state established,related accept"):
            stateful = True
            continue
        if statement.startswith("meta nfproto ipv6 "):
            continue  # IPv6: netorch manages IPv4 only
        m = _JUMP.match(statement)
        if m is None:
            notes.append(f"{host}: forward chain: not modelled: {statement}")
            continue
        direction = "in" if m.group(1) == "iifname" else "out"
        name = m.group(3)
        rules: list[FilterRule] = []
        for index, rule in enumerate(chains.get(name, [])):
            try:
                rules.append(parse_rule(rule, f"{name} rule {index + 1}"))
            except Unmodelled as exc:
                notes.append(f"{host}: chain {name}: not modelled ({exc}): {rule}")
        filters.append(InterfaceFilter(name=name, interface=m.group(2), domain=domains.get(name, ""),
                                       direction=direction, rules=tuple(rules)))
    if filters and not stateful:
        notes.append(f"{host}: the forward chain does not accept established connections first "
                     "(modelled as stateful)")
    return tuple(filters), notes


def live_interfaces(intended: tuple[DesiredInterface, ...], kernel: Mapping[str, KernelInterface] | None,
                    links: Mapping[str, InterfaceState] | None) -> tuple[DesiredInterface, ...]:
    """The intended interfaces with the kernel's address and state (where the transport reads them)."""
    out = []
    for iface in intended:
        address, enabled = iface.address, iface.enabled
        k = kernel.get(iface.name) if kernel is not None else None
        if kernel is not None:
            if k is None:
                address, enabled = None, False
            else:
                have = [IPv4Interface(a) for a in k.addresses]
                address = iface.address if iface.address in have else (have[0] if have else None)
                enabled = k.admin_up
        link = links.get(iface.name) if links is not None else None
        if link is not None:
            enabled = enabled and link.is_enabled and link.is_up
        out.append(iface.model_copy(update={"address": address, "enabled": enabled}))
    return tuple(out)


def rib_entries(table: Mapping[str, list[dict[str, Any]]]) -> list[RibEntry]:
    """RIB entries from a NAPALM get_route_to table: per prefix the selected route, through its
    next hops installed in the FIB (lowest address first)."""
    out: list[RibEntry] = []
    for prefix, entries in table.items():
        try:
            net = IPv4Network(prefix)
        except ValueError:
            continue
        chosen = [e for e in entries if e.get("current_active") and e.get("selected_next_hop")]
        if not chosen:
            continue
        protocol = str(chosen[0].get("protocol", "")).lower()
        vrf = str(chosen[0].get("routing_table", "default"))
        vrf = "" if vrf == "default" else vrf
        if protocol == "connected":
            iface = sorted(str(e.get("outgoing_interface", "")) for e in chosen)[0]
            out.append(RibEntry(net, vrf, "connected", 0, None, iface, f"connected:{iface}"))
            continue
        hops: list[tuple[int, IPv4Address | None, str | None]] = []
        for e in chosen:
            try:
                hop = IPv4Address(e["next_hop"]) if e.get("next_hop") else None
            except ValueError:
                continue
            hops.append((int(hop) if hop is not None else -1, hop, str(e.get("outgoing_interface") or "") or None))
        for _, hop, out_if in sorted(hops, key=lambda h: (h[0], h[2] or "")):
            out.append(RibEntry(net, vrf, f"live-{protocol}", int(chosen[0].get("preference", 0)), hop, out_if,
                                f"live:{protocol}"))
    return out


def live_source(ribs: Mapping[str, list[RibEntry]]) -> RibSource:
    """A RIB source: the live RIB of the routers that were read, the intended sources for the others."""

    def source(desired: Mapping[str, DesiredState], topo: Topology,
               down: set[tuple[str, str]]) -> Iterator[tuple[str, RibEntry]]:
        for host, entries in ribs.items():
            for entry in entries:
                yield host, entry
        for intended in RIB_SOURCES:
            for host, entry in intended(desired, topo, down):
                if host not in ribs:
                    yield host, entry

    return source


@dataclass(frozen=True)
class Reading:
    """What the transport read from one device."""

    config: Mapping[str, str]
    kernel: Mapping[str, KernelInterface] | None
    links: Mapping[str, InterfaceState] | None
    rib: Mapping[str, list[dict[str, Any]]] | None


def live_state(state: DesiredState, reading: Reading, transport: str) -> tuple[DesiredState, list[RibEntry] | None,
                                                                               list[str]]:
    """One device as it runs: its desired state with the live interfaces and filters, its live RIB
    entries (None when the transport cannot read the RIB), and notes."""
    notes: list[str] = []
    update: dict[str, Any] = {"interfaces": live_interfaces(state.interfaces, reading.kernel, reading.links)}
    nft = reading.config.get(packet_filter_artifact(state.platform) or "")
    if nft is not None:
        filters, found = parse_filters(state.host, nft, state.filters)
        update["filters"] = filters
        notes += found
    elif state.filters:
        notes.append(f"{state.host}: filters not readable through {transport}: modelled as intended")
    entries = rib_entries(reading.rib) if reading.rib is not None else None
    if entries is None:
        notes.append(f"{state.host}: RIB not readable through {transport}: routes modelled as intended")
    return state.model_copy(update=update), entries, notes
