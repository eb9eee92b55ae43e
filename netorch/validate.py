"""Semantic validation of intents against the inventory. Reports every problem at
once, each located at the file, line and field that caused it. Pure, no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Any

from netorch.addressplan import address_problems, special_address
from netorch.compile import Compiler, compile_with_plane
from netorch.errors import Problem
from netorch.model.desired import DesiredRoute
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
from netorch.planechecks import PlaneChecks
from netorch.platforms import TRANSPORTS, spec, transport_spec
from netorch.protocols.plan import plan_routing
from netorch.rib.plane import ControlPlane, Walk
from netorch.topology import (
    DomainSubnet,
    Forwarding,
    Topology,
    Trace,
    domain_subnets,
    interface_hint,
    route_hosts,
)
from netorch.util import unknown_name

__all__ = ["DomainSubnet", "Validator", "domain_subnets", "route_hosts", "validate"]


NETWORK_WIDE = frozenset({"path", "igp", "loop"})
"""Problems of the network as a whole (a path with no route, a loopback no IGP carries, a loop):
checked only when every object is valid, since a dropped object fails every path through it."""


DROPPING = frozenset({"schema", "invalid", "reference", "platform"})
"""Problems that leave (part of) an object out of the model: an unknown name, a field a platform
cannot express, an invalid value."""


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
        self._own: dict[IPv4Address, tuple[str, str]] | None = None
        self._special: dict[str, dict[int, str]] = {}
        self.deferred = False
        """The network-wide checks (NETWORK_WIDE) were left for when every object is valid."""
        self.partial_domains: set[str] = set()
        """Domains with a member left out (its problem is reported): what is in no domain may be
        in that member's subnet."""

    def add(self, item: Sourced[Any], fields: tuple[object, ...], message: str, code: str) -> None:
        self.problems.append(Problem(item.file, item.line(*fields), item.path(*fields), message, code))

    def run(self) -> list[Problem]:
        self.check_routing()
        self.check_routes()
        self.check_domains()
        self.check_rules()
        self.check_services()
        self.check_address_plan()
        self.deferred = self.incomplete()
        if self.deferred:
            # the paths of a network part of which was dropped fail because of the part: they are
            # the follow-ons of the problems already found, checked once those are fixed
            self.problems = [p for p in self.problems if p.code not in NETWORK_WIDE]
        else:
            self.check_forwarding()
        return sorted(self.problems)

    def incomplete(self) -> bool:
        """Some object of the inputs is invalid, or names something that is not there: it is left
        out of the model, whole or in part."""
        return bool(self.inventory.broken or self.intents.broken
                    or any(p.code in DROPPING for p in self.problems))

    def unknown(self, item: Sourced[Any], fields: tuple[object, ...], kind: str, name: str) -> None:
        """A reference to a name nothing declares: "did you mean" and the names that exist. A name
        declared but invalid is silent: its own problem is the one reported."""
        if kind == "host":
            if self.inventory.declared(name):
                return
            known: Iterable[str] = self.inventory.hosts
        elif kind == "group":
            if name in self.inventory.broken_groups:
                return
            known = self.inventory.groups
        else:
            plural = {"domain": "domains", "VRF": "vrfs", "service": "services"}[kind]
            if self.intents.declared(plural, name):
                return
            known = [i.name for i in getattr(self.intents, plural)]
        self.add(item, fields, unknown_name(kind, name, known), "reference")

    # -- dynamic routing ------------------------------------------------------------------
    def check_routing(self) -> None:
        """OSPF, BGP and VRF intents (netorch.protocols.plan reports what is wrong with them)."""
        if not (self.intents.ospf or self.intents.bgp or self.intents.vrfs):
            return
        plan_routing(self.inventory, self.intents, self.topo, self.problems)

    # -- the address plan -----------------------------------------------------------------
    def check_address_plan(self) -> None:
        """Every address on one interface, no network or broadcast address on an interface, one
        subnet one link, no overlapping links (netorch.addressplan), across the whole inventory."""
        found, _ = address_problems(self.inventory, self.topo)
        self.problems += found

    # -- routes ---------------------------------------------------------------------------
    def check_routes(self) -> None:
        # (host, key) -> value, kept as key -> host -> value: one dict per key and route, not a
        # tuple per host and route (a route of a large group binds to hundreds of hosts)
        seen: dict[tuple[str, int], dict[str, tuple[Sourced[RouteIntent], str]]] = {}
        seen_target: dict[str, dict[str, tuple[Sourced[RouteIntent], int]]] = {}
        duplicates: dict[tuple[str, str, int], dict[str, Sourced[RouteIntent]]] = {}
        reported: set[tuple[str, str]] = set()
        hosts = self.inventory.hosts
        connected = self.topo.connected_interface
        for item in self.intents.routes:
            route = item.value
            # per route, not per host: these are the same for every host the route binds to
            vrf = route.vrf or ""
            prefix_key = f"{vrf}|{route.prefix}"
            target = f"{route.next_hop or ''} {route.interface or ''}".strip()
            target_key = f"{prefix_key}|{target}"
            distance = route.distance
            next_hop = route.next_hop
            interface = route.interface
            caps_matter = distance != 1 or route.vrf is not None
            if route.vrf is not None and not any(v.name == route.vrf for v in self.intents.vrfs):
                self.unknown(item, ("vrf",), "VRF", route.vrf)
                continue
            for i, host in enumerate(route.hosts):
                if host not in self.inventory.hosts:
                    self.unknown(item, ("hosts", i), "host", host)
            for i, group in enumerate(route.groups):
                if group not in self.inventory.groups:
                    self.unknown(item, ("groups", i), "group", group)
                elif not self.inventory.members(group):
                    self.add(item, ("groups", i), f"group {group!r} has no hosts", "reference")
            dup_of = duplicates.setdefault((prefix_key, target, distance), {})
            target_of = seen_target.setdefault(target_key, {})
            seen_of = seen.setdefault((prefix_key, distance), {})
            for host in route_hosts(route, self.inventory):
                hv = hosts[host]
                if caps_matter:
                    caps = spec(hv.platform)
                    if distance != 1 and not caps.route_distance:
                        self.add(item, ("distance",), f"platform {hv.platform.value} of {host} cannot "
                                 "express an administrative distance", "platform")
                        continue
                    if route.vrf is not None and not caps.vrf_routes:
                        self.add(item, ("vrf",), f"platform {hv.platform.value} of {host} has no VRF "
                                 "support in netorch", "platform")
                        continue
                if interface is not None:
                    if interface == hv.data.mgmt_interface:
                        self.add(item, ("interface",), f"{interface} is the management "
                                 f"interface of {host}; netorch does not route through it", "reference")
                        continue
                    iface = hv.data.interfaces.get(interface)
                    if iface is None:
                        self.add(item, ("interface",), f"host {host} has no interface {interface!r}"
                                 f"{interface_hint(interface, hv.data.interfaces)}", "reference")
                        continue
                    if next_hop is not None and (
                        iface.address is None or next_hop not in iface.address.network
                    ):
                        self.add(item, ("next_hop",), f"next hop {next_hop} is not on the subnet of "
                                 f"{host} {interface}", "next-hop")
                        continue
                if next_hop is not None:
                    if not self.usable_next_hop(item, host):
                        continue
                    if interface is None and connected(host, next_hop) is None:
                        self.add(item, ("next_hop",), f"next hop {next_hop} is on no connected "
                                 f"subnet of {host}", "next-hop")
                        continue
                twin = dup_of.setdefault(host, item)
                if twin is not item and twin.name != item.name and (twin.name, item.name) not in reported:
                    reported.add((twin.name, item.name))
                    self.add(item, ("prefix",), f"route {item.name!r} repeats route {twin.name!r} "
                             f"({twin.file}:{twin.line('prefix')}) on {host}: same prefix, next hop, "
                             "vrf and distance; keep one", "duplicate")
                    continue
                same_target = target_of.get(host)
                if same_target is not None and same_target[1] != distance:
                    other = same_target[0]
                    self.add(item, ("distance",), f"conflicting routes on {host}: {route.prefix} via {target} "
                             f"has distance {distance} here and {same_target[1]} in route {other.name!r} "
                             f"({other.file}:{other.line('distance')}); a device keeps one route per prefix "
                             "and next hop", "conflict")
                    continue
                target_of[host] = (item, distance)
                first = seen_of.get(host)
                if first is None:
                    seen_of[host] = (item, target)
                elif first[1] != target:
                    other = first[0]
                    self.add(item, ("prefix",), f"conflicting routes on {host}: {route.prefix}"
                             f"{' vrf ' + route.vrf if route.vrf else ''} distance {distance} "
                             f"goes to {target} here and to {first[1]} in route {other.name!r} "
                             f"({other.file}:{other.line('prefix')})", "conflict")

    def usable_next_hop(self, item: Sourced[RouteIntent], host: str) -> bool:
        """A next hop is another device on a connected subnet: not the host's own address, not a
        subnet's network or broadcast address (on subnets that have them, /30 and shorter)."""
        hop = item.value.next_hop
        assert hop is not None
        special = self._special.get(host)
        if special is None:
            special = self._special[host] = {}
            addrs = self.topo.addresses.get(host, {})
            for ifname, iface in addrs.items():
                plen = iface.network.prefixlen
                if plen <= 30:
                    mask = (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF
                    first = int(iface) & mask
                    net = f"{IPv4Address(first)}/{plen} ({host} {ifname}), not a device"
                    special[first] = f"the network address of {net}"
                    special[first | (~mask & 0xFFFFFFFF)] = f"the broadcast address of {net}"
            for ifname, iface in addrs.items():
                special[int(iface)] = f"the address of {host} {ifname} itself: a next hop must be another device"
        what = special.get(int(hop))
        if what is not None:
            self.add(item, ("next_hop",), f"next hop {hop} is {what}", "next-hop")
            return False
        return True

    # -- domains --------------------------------------------------------------------------
    def check_domains(self) -> None:
        owner: dict[tuple[str, str], tuple[str, Sourced[DomainIntent]]] = {}
        all_nets: list[tuple[DomainSubnet, Sourced[DomainIntent], int]] = []
        for item in self.intents.domains:
            before = len(self.problems)
            nets = domain_subnets(item, self.topo, self.problems)
            if len(self.problems) > before:
                self.partial_domains.add(item.name)
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
        sequences: dict[tuple[str, str, int], Sourced[RuleIntent]] = {}
        for item in self.intents.rules:
            rule = item.value
            for field, dom in (("from", rule.source), ("to", rule.destination)):
                if dom not in self.domain_nets:
                    self.unknown(item, (field,), "domain", dom)
            if rule.source == rule.destination:
                self.add(item, ("to",), "a rule inside one domain has no effect: traffic inside "
                         "a domain is always allowed", "reference")
            key = (rule.source, rule.destination, rule.sequence)  # the order among one pair's rules
            prev = sequences.get(key)
            if prev is not None:
                self.add(item, ("sequence",), f"sequence {rule.sequence} is already used by rule "
                         f"{prev.name!r} ({prev.file}:{prev.line('sequence')}) from {rule.source!r} to "
                         f"{rule.destination!r}", "duplicate")
            else:
                sequences[key] = item

    # -- services -------------------------------------------------------------------------
    def provider_domain(self, address: object) -> str | None:
        for name, nets in sorted(self.domain_nets.items()):
            if any(address in n.subnet for n in nets):
                return name
        return None

    def own_address(self, address: IPv4Address) -> tuple[str, str] | None:
        """(host, interface) whose own address `address` is, if any."""
        if self._own is None:
            self._own = {iface.ip: (host, ifname) for host, addrs in sorted(self.topo.addresses.items())
                         for ifname, iface in addrs.items()}
        return self._own.get(address)

    def check_probe(self, item: Sourced[ServiceIntent]) -> None:
        """probe_from names a device drift can ping from: known, deployable, pushed with NAPALM
        (the sessions that probe)."""
        name = item.value.probe_from
        if name is None:
            return
        host = self.inventory.hosts.get(name)
        if host is None:
            self.unknown(item, ("probe_from",), "host", name)
        elif not host.data.deploy:
            self.add(item, ("probe_from",), f"{name} is render-only (data.deploy is false): drift "
                     "never contacts it, so it cannot probe", "reference")
        elif not transport_spec(transport := host.transport).probes:
            able = ", ".join(t.value for t, s in TRANSPORTS.items() if s.probes)
            self.add(item, ("probe_from",), f"{name} cannot probe: drift probes with a ping from a "
                     f"router managed through {able}, and {name} (platform {host.platform.value}) is "
                     f"managed through {transport.value}", "reference")

    def special_provider(self, item: Sourced[ServiceIntent], index: int, located: list[tuple[str, str]]) -> bool:
        """A provider is a server: not the network or broadcast address of the subnet it is on."""
        provider = item.value.providers[index]
        for host, ifname in located:
            iface = self.topo.addresses[host][ifname]
            kind = special_address(IPv4Interface(f"{provider}/{iface.network.prefixlen}"))
            if kind is not None:
                file, line, _ = self.inventory.locate(host, "interfaces", ifname, "address")
                self.add(item, ("providers", index), f"provider {provider} is the {kind} address of "
                         f"{iface.network}, the subnet of {host} {ifname} ({file}:{line}), not a server's",
                         "address")
                return True
        return False

    def check_services(self) -> None:
        for item in self.intents.services:
            svc = item.value
            for i, consumer in enumerate(svc.consumers):
                if consumer not in self.domain_nets:
                    self.unknown(item, ("consumers", i), "domain", consumer)
            self.check_probe(item)
            for p_index, provider in enumerate(svc.providers):
                own = self.own_address(provider)
                if own is not None:
                    self.add(item, ("providers", p_index), f"provider {provider} is the address of "
                             f"{own[0]} {own[1]} itself: netorch filters traffic a router forwards, "
                             "not traffic to the router; name a server behind it", "reference")
                    continue
                located = self.topo.locate(provider)
                if not located:
                    if not self.inventory.broken:  # else it may be on a host left out as invalid
                        self.add(item, ("providers", p_index), f"provider {provider} is on no subnet "
                                 "connected to a host of the inventory", "reference")
                    continue
                if self.special_provider(item, p_index, located):
                    continue
                pdomain = self.provider_domain(provider)
                if pdomain is None and (self.partial_domains or any(
                        kind == "domains" for kind, _ in self.intents.broken)):
                    continue
                if pdomain is None:
                    where = ", ".join(f"{h} {i}" for h, i in located)
                    self.add(item, ("providers", p_index), f"provider {provider} is in no domain, so "
                             "netorch cannot keep everyone but the consumers away from it: add a domain "
                             f"with its subnet (a member {where})", "reference")
                    continue
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


    # -- forwarding -----------------------------------------------------------------------
    def check_forwarding(self) -> None:
        """Follow the compiled static routes (the intents' and those services generate) for
        loops, then every flow an allow rule or a service lets through, both ways, over the
        routes the control-plane model says the routers select (connected, static, OSPF with
        redistribution, BGP): a route each way. The model is computed from the compiled desired
        state, so the path checks run once everything else is valid (their errors would
        otherwise follow from the others)."""
        routes = Compiler(self.inventory, self.intents, self.topo).routes()
        fwd = Forwarding(self.topo, routes)
        self.check_loops(fwd, routes)
        if self.problems:
            self.deferred = True  # the model is computed from a design that compiles
            return
        plane = compile_with_plane(self.inventory, self.intents, self.topo)[1]
        PlaneChecks(self.inventory, self.intents, plan_routing(self.inventory, self.intents, self.topo),
                    self.add).run(plane)
        for item in self.intents.rules:
            rule = item.value
            if (rule.action == Action.ALLOW and rule.source != rule.destination
                    and rule.source in self.domain_nets and rule.destination in self.domain_nets):
                self.check_path(plane, item, ("to",), f"traffic of rule {rule.name!r} from {rule.source!r}",
                                self.domain_nets[rule.source],
                                [(n.host, n.subnet) for n in self.domain_nets[rule.destination]])
        for svc_item in self.intents.services:
            svc = svc_item.value
            targets = [(located[0][0], IPv4Network(f"{p}/32")) for p in svc.providers
                       if self.own_address(p) is None and (located := self.topo.locate(p))
                       and self.provider_domain(p) is not None]
            for c_index, consumer in enumerate(svc.consumers):
                nets = [n for n in self.domain_nets.get(consumer, ())
                        if all(self.topo.reachable(n.host, host) for host, _ in targets)]
                self.check_path(plane, svc_item, ("consumers", c_index),
                                f"traffic of service {svc.name!r} from {consumer!r}", nets,
                                [t for t in targets if self.provider_domain(t[1].network_address) != consumer])

    def check_loops(self, fwd: Forwarding, routes: dict[str, list[DesiredRoute]]) -> None:
        by_name = {item.name: item for item in self.intents.routes}
        cycles: dict[frozenset[tuple[str, str]], tuple[Trace, DesiredRoute]] = {}
        for host in sorted(routes):
            for route in routes[host]:
                if route.next_hop is None:
                    continue  # an interface route hands packets to its link: it cannot loop
                trace = fwd.trace(host, route.prefix.network_address, route.vrf or "", first=route)
                if trace.outcome == "loop":
                    key = frozenset((h.host, h.origin) for h in trace.cycle())
                    cycles.setdefault(key, (trace, route))
        for trace, route in cycles.values():
            cycle = trace.cycle()
            named = sorted((h.origin.removeprefix("route:"), i) for i, h in enumerate(cycle)
                           if h.origin.startswith("route:") and h.origin.removeprefix("route:") in by_name)
            if not named:
                continue  # the compiler's own routes follow shortest paths: they cannot loop alone
            name, start = named[0]
            item = by_name[name]
            hops = cycle[start:] + cycle[:start]
            path = " -> ".join(f"{h.host} ({_origin(h.origin)})" for h in hops) + f" -> {hops[0].host}"
            vrf = f" vrf {route.vrf}" if route.vrf else ""
            self.add(item, ("next_hop",) if item.value.next_hop is not None else ("interface",),
                     f"static routes loop for {route.prefix}{vrf}: {path}", "loop")

    def check_path(self, plane: ControlPlane, item: Sourced[Any], field: tuple[object, ...], what: str,
                   sources: list[DomainSubnet], targets: list[tuple[str, IPv4Network]]) -> None:
        """One problem at most per direction: the first source and target without a route, or
        whose packets loop."""
        for direction in ("there", "back"):
            for src in sources:
                found = None
                for host, net in targets:
                    if direction == "there":
                        if plane.reaches(src.host, net.network_address):
                            continue
                        walk = plane.follow(src.host, net.network_address)
                        where, verb, dst = f"{what} to {net}", "has", net
                    else:
                        if plane.reaches(host, src.subnet.network_address):
                            continue
                        walk = plane.follow(host, src.subnet.network_address)
                        where, verb, dst = f"{what}: replies from {net} to {src.subnet}", "have", src.subnet
                    if walk.outcome == "no-route":
                        found = f"{where} {verb} no route: {_walk(walk)}has no route to {dst}"
                    elif walk.outcome == "discard":
                        found = f"{where} {verb} no route: {_walk(walk)}discards them (an aggregate's discard route)"
                    elif walk.outcome == "loop":
                        found = f"{where} loop{'s' if verb == 'has' else ''}: {_walk(walk)}again"
                    elif walk.outcome == "out":
                        route = walk.hops[-1][1] if walk.hops else ""
                        before = "".join(f"{h} ({_origin(o)}) -> " for h, o in walk.hops[:-1])
                        found = (f"{where} {verb} no route: {before}{walk.host} sends them out of the network by "
                                 f"{_origin(route)} (a next hop outside the inventory), never to {dst}")
                    if found:
                        break
                if found:
                    self.add(item, field, found, "path")
                    break


def _origin(origin: str) -> str:
    kind, _, name = origin.partition(":")
    return f"{kind} {name}"


def _walk(walk: Walk) -> str:
    """'r1 (route a) -> r2 (ospf campus) -> r3 ' up to the router where the packet ended."""
    return "".join(f"{h} ({_origin(o)}) -> " for h, o in walk.hops) + f"{walk.host} "


def _path(trace: Trace) -> str:
    """'r1 (route a) -> r2 (service b) -> r3 ' up to the router where the trace ended."""
    return "".join(f"{h.host} ({_origin(h.origin)}) -> " for h in trace.hops) + f"{trace.host} "


def validate(inventory: InventoryView, intents: IntentSet, topo: Topology | None = None) -> list[Problem]:
    return Validator(inventory, intents, topo).run()
