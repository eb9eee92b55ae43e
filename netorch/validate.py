"""Semantic validation of intents against the inventory. Reports every problem at
once, each located at the file, line and field that caused it. Pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network
from typing import Any

from netorch.errors import Problem
from netorch.model.intents import (
    Action,
    DomainIntent,
    IntentSet,
    Protocol,
    RouteIntent,
    RuleIntent,
    ServiceIntent,
    Sourced,
)
from netorch.model.inventory import InventoryView
from netorch.platforms import spec
from netorch.topology import Topology


@dataclass(frozen=True)
class DomainSubnet:
    domain: str
    host: str
    interface: str
    subnet: IPv4Network


def route_hosts(route: RouteIntent, inventory: InventoryView) -> list[str]:
    """The hosts a route binds to (known hosts, members of its groups), sorted; memoised per
    inventory, since many routes share the same hosts and groups."""
    memo: dict[tuple[tuple[str, ...], tuple[str, ...]], list[str]] = inventory.__dict__.setdefault("_binds", {})
    key = (route.hosts, route.groups)
    found = memo.get(key)
    if found is None:
        hosts = {h for h in route.hosts if h in inventory.hosts}
        for group in route.groups:
            hosts.update(inventory.members(group))
        found = memo[key] = sorted(hosts)
    return found


def domain_subnets(
    domain: Sourced[DomainIntent], topo: Topology, problems: list[Problem] | None = None
) -> list[DomainSubnet]:
    """Resolve a domain's members to (host, interface, subnet); report bad members."""

    def bad(index: int, field: str, message: str) -> None:
        if problems is not None:
            problems.append(Problem(domain.file, domain.line("members", index, field),
                                    domain.path("members", index, field), message, "reference"))

    out: list[DomainSubnet] = []
    inventory = topo.inventory
    for i, member in enumerate(domain.value.members):
        host = inventory.hosts.get(member.host)
        if host is None:
            bad(i, "host", f"unknown host {member.host!r}")
            continue
        if member.interface is not None:
            if member.interface == host.data.mgmt_interface:
                bad(i, "interface", f"{member.interface} is the management interface of "
                    f"{member.host}; netorch does not manage it")
                continue
            data = host.data.interfaces.get(member.interface)
            if data is None:
                bad(i, "interface", f"host {member.host} has no interface {member.interface!r}")
                continue
            if data.address is None:
                bad(i, "interface", f"interface {member.host} {member.interface} has no address")
                continue
            out.append(DomainSubnet(domain.name, member.host, member.interface, data.address.network))
        elif member.subnet is not None:
            ifname = topo.interface_for_subnet(member.host, member.subnet)
            if ifname is None:
                bad(i, "subnet", f"subnet {member.subnet} is connected to no interface of {member.host}")
                continue
            out.append(DomainSubnet(domain.name, member.host, ifname, member.subnet))
    return out


def _proto_overlap(a: Protocol, b: Protocol) -> bool:
    return Protocol.ANY in (a, b) or a == b


def rule_blocks_service(rule: RuleIntent, service: ServiceIntent) -> bool:
    """True when a deny rule matches some of the service's traffic."""
    if rule.action != Action.DENY or not _proto_overlap(rule.protocol, service.protocol):
        return False
    if not rule.ports or not service.ports:
        return True
    return any(r.overlaps(s) for r in rule.ports for s in service.ports)


class Validator:
    def __init__(self, inventory: InventoryView, intents: IntentSet, topo: Topology | None = None) -> None:
        self.inventory = inventory
        self.intents = intents
        self.topo = topo or Topology.build(inventory)
        self.problems: list[Problem] = []
        self.domain_nets: dict[str, list[DomainSubnet]] = {}

    def add(self, item: Sourced[Any], fields: tuple[object, ...], message: str, code: str) -> None:
        self.problems.append(Problem(item.file, item.line(*fields), item.path(*fields), message, code))

    def run(self) -> list[Problem]:
        self.check_routes()
        self.check_domains()
        self.check_rules()
        self.check_services()
        return sorted(self.problems)

    # -- routes ---------------------------------------------------------------------------
    def check_routes(self) -> None:
        seen: dict[tuple[str, str, int, int], tuple[Sourced[RouteIntent], str]] = {}
        seen_target: dict[tuple[str, str, str], tuple[Sourced[RouteIntent], int]] = {}
        hosts = self.inventory.hosts
        for item in self.intents.routes:
            route = item.value
            # per route, not per host: these are the same for every host the route binds to
            vrf = route.vrf or ""
            prefix_key = f"{vrf}|{route.prefix}"
            target = f"{route.next_hop or ''} {route.interface or ''}".strip()
            target_key = f"{prefix_key}|{target}"
            for i, host in enumerate(route.hosts):
                if host not in self.inventory.hosts:
                    self.add(item, ("hosts", i), f"unknown host {host!r}", "reference")
            for i, group in enumerate(route.groups):
                if group not in self.inventory.groups:
                    self.add(item, ("groups", i), f"unknown group {group!r}", "reference")
                elif not self.inventory.members(group):
                    self.add(item, ("groups", i), f"group {group!r} has no hosts", "reference")
            for host in route_hosts(route, self.inventory):
                hv = hosts[host]
                caps = spec(hv.platform)
                if route.distance != 1 and not caps.route_distance:
                    self.add(item, ("distance",), f"platform {hv.platform.value} of {host} cannot "
                             "express an administrative distance", "platform")
                    continue
                if route.vrf is not None and not caps.vrf_routes:
                    self.add(item, ("vrf",), f"platform {hv.platform.value} of {host} has no VRF "
                             "support in netorch", "platform")
                    continue
                if route.interface is not None:
                    if route.interface == hv.data.mgmt_interface:
                        self.add(item, ("interface",), f"{route.interface} is the management "
                                 f"interface of {host}; netorch does not route through it", "reference")
                        continue
                    iface = hv.data.interfaces.get(route.interface)
                    if iface is None:
                        self.add(item, ("interface",), f"host {host} has no interface {route.interface!r}",
                                 "reference")
                        continue
                    if route.next_hop is not None and (
                        iface.address is None or route.next_hop not in iface.address.network
                    ):
                        self.add(item, ("next_hop",), f"next hop {route.next_hop} is not on the subnet of "
                                 f"{host} {route.interface}", "next-hop")
                        continue
                elif route.next_hop is not None and self.topo.connected_interface(host, route.next_hop) is None:
                    self.add(item, ("next_hop",), f"next hop {route.next_hop} is on no connected "
                             f"subnet of {host}", "next-hop")
                    continue
                key = (host, prefix_key, route.distance, 0)
                same_target = seen_target.get((host, target_key, ""))
                if same_target is not None and same_target[1] != route.distance:
                    other = same_target[0]
                    self.add(item, ("distance",), f"conflicting routes on {host}: {route.prefix} via {target} "
                             f"has distance {route.distance} here and {same_target[1]} in route {other.name!r} "
                             f"({other.file}:{other.line('distance')}); a device keeps one route per prefix "
                             "and next hop", "conflict")
                    continue
                seen_target[(host, target_key, "")] = (item, route.distance)
                first = seen.get(key)
                if first is None:
                    seen[key] = (item, target)
                elif first[1] != target:
                    other = first[0]
                    self.add(item, ("prefix",), f"conflicting routes on {host}: {route.prefix}"
                             f"{' vrf ' + route.vrf if route.vrf else ''} distance {route.distance} "
                             f"goes to {target} here and to {first[1]} in route {other.name!r} "
                             f"({other.file}:{other.line('prefix')})", "conflict")

    # -- domains --------------------------------------------------------------------------
    def check_domains(self) -> None:
        owner: dict[tuple[str, str], tuple[str, Sourced[DomainIntent]]] = {}
        all_nets: list[tuple[DomainSubnet, Sourced[DomainIntent], int]] = []
        for item in self.intents.domains:
            nets = domain_subnets(item, self.topo, self.problems)
            self.domain_nets[item.name] = nets
            for net in nets:
                index = next(i for i, m in enumerate(item.value.members) if m.host == net.host and (
                    m.interface == net.interface or m.subnet == net.subnet))
                all_nets.append((net, item, index))
                key = (net.host, net.interface)
                prev = owner.get(key)
                if prev is not None and prev[0] != item.name:
                    self.add(item, ("members", index), f"{net.host} {net.interface} is already a member "
                             f"of domain {prev[0]!r}", "overlap")
                else:
                    owner[key] = (item.name, item)
        for i, (a, a_item, _a_idx) in enumerate(all_nets):
            for b, b_item, b_idx in all_nets[i + 1:]:
                if a.domain != b.domain and a.subnet.overlaps(b.subnet):
                    self.add(b_item, ("members", b_idx), f"overlapping domains: {b.subnet} of "
                             f"{b.domain!r} overlaps {a.subnet} of {a.domain!r} "
                             f"({a_item.file}:{a_item.line('members')})", "overlap")

    # -- rules ----------------------------------------------------------------------------
    def check_rules(self) -> None:
        sequences: dict[int, Sourced[RuleIntent]] = {}
        for item in self.intents.rules:
            rule = item.value
            for field, dom in (("from", rule.source), ("to", rule.destination)):
                if dom not in self.domain_nets:
                    self.add(item, (field,), f"unknown domain {dom!r}", "reference")
            if rule.source == rule.destination:
                self.add(item, ("to",), "a rule inside one domain has no effect: traffic inside "
                         "a domain is always allowed", "reference")
            prev = sequences.get(rule.sequence)
            if prev is not None:
                self.add(item, ("sequence",), f"sequence {rule.sequence} is already used by rule "
                         f"{prev.name!r} ({prev.file}:{prev.line('sequence')})", "duplicate")
            else:
                sequences[rule.sequence] = item

    # -- services -------------------------------------------------------------------------
    def provider_domain(self, address: object) -> str | None:
        for name, nets in sorted(self.domain_nets.items()):
            if any(address in n.subnet for n in nets):
                return name
        return None

    def check_services(self) -> None:
        for item in self.intents.services:
            svc = item.value
            for i, consumer in enumerate(svc.consumers):
                if consumer not in self.domain_nets:
                    self.add(item, ("consumers", i), f"unknown domain {consumer!r}", "reference")
            for p_index, provider in enumerate(svc.providers):
                located = self.topo.locate(provider)
                if not located:
                    self.add(item, ("providers", p_index), f"provider {provider} is on no subnet "
                             "connected to a host of the inventory", "reference")
                    continue
                pdomain = self.provider_domain(provider)
                for c_index, consumer in enumerate(svc.consumers):
                    if consumer not in self.domain_nets:
                        continue
                    if consumer == pdomain:
                        continue
                    for rule_item in sorted(self.intents.rules, key=lambda r: r.value.sequence):
                        rule = rule_item.value
                        if (rule.source == consumer and rule.destination == pdomain
                                and rule_blocks_service(rule, svc)):
                            self.add(item, ("consumers", c_index), f"consumer {consumer!r} cannot "
                                     f"reach this service: deny rule {rule.name!r} "
                                     f"({rule_item.file}:{rule_item.line('action')}) blocks "
                                     f"{svc.protocol.value} to {pdomain!r}", "blocked")
                            break
                    dst_host = located[0][0]
                    for net in self.domain_nets[consumer]:
                        if not self.topo.reachable(net.host, dst_host):
                            self.add(item, ("consumers", c_index), f"no path from {consumer!r} "
                                     f"({net.host}) to provider {provider} ({dst_host})", "path")


def validate(inventory: InventoryView, intents: IntentSet, topo: Topology | None = None) -> list[Problem]:
    return Validator(inventory, intents, topo).run()
