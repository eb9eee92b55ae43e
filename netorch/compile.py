"""Compile validated intents + inventory into a vendor-neutral desired state per
device. Deterministic: objects are processed in name order, never in file order.
Pure, no I/O."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping
from ipaddress import IPv4Address, IPv4Network
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

from netorch.model.desired import (
    DEFAULT_ORIGIN,
    DesiredInterface,
    DesiredRoute,
    DesiredState,
    FilterAction,
    FilterRule,
    InterfaceFilter,
    Ipv6Drop,
    ServiceBinding,
)
from netorch.model.intents import Action, IntentSet, Protocol, ServiceIntent
from netorch.model.inventory import HostView, InventoryView
from netorch.model.types import PortRange
from netorch.platforms import spec
from netorch.protocols.compile import HostRouting, compile_routing, expected_routes
from netorch.protocols.plan import plan_routing
from netorch.rib import ControlPlane
from netorch.topology import DomainSubnet, Topology, domain_subnets, route_hosts, routes_between

M = TypeVar("M", bound=BaseModel)


def trusted(cls: type[M], **values: Any) -> M:
    """A model built from values that were validated already (every field given): the compiler
    makes hundreds of thousands of these, and validating them again would dominate its time."""
    obj = cls.__new__(cls)
    object.__setattr__(obj, "__dict__", values)
    object.__setattr__(obj, "__pydantic_fields_set__", set(values))
    object.__setattr__(obj, "__pydantic_extra__", None)
    object.__setattr__(obj, "__pydantic_private__", None)
    return obj


Flow = tuple[str, str, Protocol, tuple[PortRange, ...], tuple[IPv4Network, ...], str]

# Filter names are "netorch_<domain>_<interface>_<direction>", each part escaped so that it holds
# no "_": "-" becomes "--", "_" "-u", "." "-d", "/" "-s", ":" "-c", anything else "-x" and four hex
# digits. Splitting at "_" and unescaping gives the parts back, so distinct inputs never share a
# name (two domains' rules never merge into one chain). A name longer than the platform allows
# becomes "netorch_<domain>_<interface>_<direction>_<hash>" with truncated parts and 16 hex digits
# of the SHA-256 of the exact original parts: five "_"-separated parts, never four, so it cannot
# equal an escaped name either.
_ESCAPES = {"-": "--", "_": "-u", ".": "-d", "/": "-s", ":": "-c"}
_HASH_DIGITS = 16
# three "_"-separated parts: never equal to a name made by filter_name()
IPV6_FILTER_NAME = "netorch_ipv6_drop"


def escape_name_part(text: str) -> str:
    return "".join(ch if ch.isascii() and ch.isalnum() else _ESCAPES.get(ch, f"-x{ord(ch):04x}")
                   for ch in text)


def filter_name(domain: str, interface: str, direction: str, max_length: int) -> str:
    """The name of the filter of `interface` (a member of `domain`) for `direction`: injective,
    at most `max_length` characters of [A-Za-z0-9_-]."""
    dom, ifname = escape_name_part(domain), escape_name_part(interface)
    name = f"netorch_{dom}_{ifname}_{direction}"
    if len(name) <= max_length:
        return name
    digest = hashlib.sha256(f"{domain}\0{interface}\0{direction}".encode()).hexdigest()[:_HASH_DIGITS]
    budget = max_length - len(f"netorch___{direction}_{digest}")
    keep_dom = min(len(dom), max(budget // 2, budget - len(ifname)))
    keep_if = budget - keep_dom
    return f"netorch_{dom[:keep_dom]}_{ifname[:keep_if]}_{direction}_{digest}"


def _nets(items: list[DomainSubnet]) -> tuple[IPv4Network, ...]:
    return tuple(sorted({d.subnet for d in items}, key=lambda n: (int(n.network_address), n.prefixlen)))


def _host32(addresses: tuple[IPv4Address, ...]) -> tuple[IPv4Network, ...]:
    return tuple(IPv4Network(f"{a}/32") for a in sorted(set(addresses)))


class Compiler:
    def __init__(self, inventory: InventoryView, intents: IntentSet, topo: Topology | None = None) -> None:
        self.inventory = inventory
        self.intents = intents
        self.topo = topo or Topology.build(inventory)
        self.domains: dict[str, list[DomainSubnet]] = {
            d.name: domain_subnets(d, self.topo) for d in intents.domains
        }
        self._nets_of: dict[str, tuple[IPv4Network, ...]] = {name: _nets(nets) for name, nets in self.domains.items()}
        self.domain_of_if: dict[tuple[str, str], str] = {
            (n.host, n.interface): name for name, nets in self.domains.items() for n in nets
        }
        # a sequence orders the rules of one domain pair; rules of two pairs never match the same
        # packet (domains do not overlap), so equal sequences of two pairs keep a fixed order by name
        self.rules = sorted((r.value for r in intents.rules), key=lambda r: (r.sequence, r.name))
        self.services = [s.value for s in intents.services]
        self._provider_domain: dict[IPv4Address, str | None] = {}
        # per service: the hosts its providers are attached to, and the hosts of its consumer domains
        self._provider_hosts = {svc.name: {h for p in svc.providers for h, _ in self.topo.locate(p)}
                                for svc in self.services}
        self._consumer_hosts = {svc.name: {n.host for c in svc.consumers for n in self.domains.get(c, [])}
                                for svc in self.services}
        self.plan = plan_routing(inventory, intents, self.topo)
        self._routing: dict[str, HostRouting] | None = None

    def provider_domain(self, address: IPv4Address) -> str | None:
        if address in self._provider_domain:
            return self._provider_domain[address]
        found = None
        for name in sorted(self.domains):
            if any(address in n.subnet for n in self.domains[name]):
                found = name
                break
        self._provider_domain[address] = found
        return found

    # -- routes ---------------------------------------------------------------------------
    def routes(self) -> dict[str, list[DesiredRoute]]:
        """Every host's routes: the intents' and those services generate, sorted. Memoised on the
        topology for this intent set (validation follows them, compilation renders them)."""
        memo = self.topo.compiled_routes
        if memo is not None and memo[0] is self.intents:
            return memo[1]
        found = self._routes()
        self.topo.compiled_routes = (self.intents, found)
        return found

    def _routes(self) -> dict[str, list[DesiredRoute]]:
        out: dict[str, list[DesiredRoute]] = defaultdict(list)
        # sort keys, computed once per route object (the hosts of one intent share its object)
        keys: dict[int, tuple[str, int, int, int, int, str]] = {}
        for item in self.intents.routes:
            r = item.value
            hosts = route_hosts(r, self.inventory)
            if not hosts:
                continue
            # values come from validated intents: construct without validating again; a frozen
            # route says nothing of its host, so every host of the intent holds the same object
            route = trusted(DesiredRoute, prefix=r.prefix, next_hop=r.next_hop, interface=r.interface,
                            distance=r.distance, vrf=r.vrf, origin=f"route:{r.name}")
            keys[id(route)] = route.key()
            for host in hosts:
                out[host].append(route)
        generated: dict[tuple[str, IPv4Network], DesiredRoute] = {}
        covering: dict[str, set[tuple[int, int]]] = {}

        def covered(host: str, prefix: IPv4Network) -> bool:
            """Whether an explicit (default VRF) route of host covers prefix."""
            if host not in covering:
                covering[host] = {(int(e.prefix.network_address), e.prefix.prefixlen)
                                  for e in out.get(host, []) if e.vrf is None}
            have = covering[host]
            value = int(prefix.network_address)
            for plen in range(prefix.prefixlen + 1):
                mask = (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF if plen else 0
                if (value & mask, plen) in have:
                    return True
            return False

        # with dynamic routing, a service gets static routes only where the control-plane model of
        # the network without them delivers its traffic, or the replies, nowhere
        plane = self._plane(out) if self.services and (self.plan.ospf or self.plan.bgp) else None
        for svc in self.services:
            for provider in sorted(set(svc.providers)):
                located = self.topo.locate(provider)
                if not located:
                    continue
                dst_host = located[0][0]
                dst = IPv4Network(f"{provider}/32")
                for consumer in svc.consumers:
                    for net in self.domains.get(consumer, []):
                        if plane is not None and _delivered(plane, net.host, provider) and _delivered(
                                plane, dst_host, net.subnet.network_address):
                            continue  # the routers carry this path both ways: no static routes
                        for g in routes_between(self.topo, net.host, net.subnet, dst_host, dst) or []:
                            if covered(g.host, g.prefix):
                                continue
                            key = (g.host, g.prefix)
                            if key not in generated:
                                generated[key] = DesiredRoute(prefix=g.prefix, next_hop=g.next_hop,
                                                              distance=1, origin=f"service:{svc.name}")
        for (host, _), route in generated.items():
            out[host].append(route)
            keys[id(route)] = route.key()
        return {h: sorted(rs, key=lambda r: keys[id(r)]) for h, rs in out.items()}

    # -- filters --------------------------------------------------------------------------
    def _flows(self) -> list[Flow]:
        """Allowed flows between domains: (src domain, dst domain, proto, ports, dst nets or (), origin)."""
        flows: list[Flow] = []
        for rule in self.rules:
            if rule.action == Action.ALLOW:
                flows.append((rule.source, rule.destination, rule.protocol, rule.ports, (), f"rule:{rule.name}"))
        for svc in self.services:
            for consumer in svc.consumers:
                for provider in sorted(set(svc.providers)):
                    pdom = self.provider_domain(provider)
                    if pdom is None or pdom == consumer:
                        continue
                    flows.append((consumer, pdom, svc.protocol, svc.ports, _host32((provider,)),
                                  f"service:{svc.name}"))
        return flows

    def _reply_rules(self, flows: list[Flow], src_dom: str, dst_dom: str) -> list[FilterRule]:
        """Rules that let replies of flows dst_dom -> src_dom through a stateless filter."""
        rules = []
        for f_src, f_dst, proto, ports, dst_nets, origin in flows:
            if f_src == dst_dom and f_dst == src_dom:
                sources = dst_nets or self._nets_of[f_dst]
                rules.append(FilterRule(action=FilterAction.ACCEPT, protocol=proto, sources=sources,
                                        destinations=self._nets_of[f_src], ports=ports,
                                        reply=True, origin=origin))
        return rules

    def _service_rules(self, svc: ServiceIntent, consumer: str, provider_domain: str) -> list[FilterRule]:
        dests = _host32(tuple(p for p in svc.providers if self.provider_domain(p) == provider_domain))
        if not dests:
            return []
        return [FilterRule(action=FilterAction.ACCEPT, protocol=svc.protocol,
                           sources=self._nets_of[consumer], destinations=dests,
                           ports=svc.ports, origin=f"service:{svc.name}")]

    def filter_for(self, host: HostView, ifname: str, domain: str, direction: str,
                   flows: list[Flow]) -> InterfaceFilter:
        stateful = spec(host.platform).stateful_filter
        own = self._nets_of[domain]
        others = sorted(d for d in self.domains if d != domain)
        rules: list[FilterRule] = []
        if direction == "in":
            if not stateful:
                for other in others:
                    rules += self._reply_rules(flows, domain, other)
            rules.append(FilterRule(action=FilterAction.ACCEPT, sources=own, destinations=own,
                                    origin=f"domain:{domain}"))
            for rule in self.rules:
                if rule.source == domain and rule.destination in self.domains:
                    rules.append(FilterRule(
                        action=FilterAction.ACCEPT if rule.action == Action.ALLOW else FilterAction.DROP,
                        protocol=rule.protocol, sources=own,
                        destinations=self._nets_of[rule.destination], ports=rule.ports,
                        origin=f"rule:{rule.name}"))
            for svc in self.services:
                if domain in svc.consumers:
                    for pdom in sorted({self.provider_domain(p) or "" for p in svc.providers} - {"", domain}):
                        rules += self._service_rules(svc, domain, pdom)
            for other in others:
                rules.append(FilterRule(action=FilterAction.DROP, sources=own,
                                        destinations=self._nets_of[other], origin=f"{DEFAULT_ORIGIN}{other}"))
        else:
            if not stateful:
                for other in others:
                    rules += self._reply_rules(flows, other, domain)
            rules.append(FilterRule(action=FilterAction.ACCEPT, sources=own, destinations=own,
                                    origin=f"domain:{domain}"))
            for rule in self.rules:
                if rule.destination == domain and rule.source in self.domains:
                    rules.append(FilterRule(
                        action=FilterAction.ACCEPT if rule.action == Action.ALLOW else FilterAction.DROP,
                        protocol=rule.protocol, sources=self._nets_of[rule.source],
                        destinations=own, ports=rule.ports, origin=f"rule:{rule.name}"))
            for svc in self.services:
                for consumer in svc.consumers:
                    if consumer != domain and consumer in self.domains:
                        rules += self._service_rules(svc, consumer, domain)
            for other in others:
                rules.append(FilterRule(action=FilterAction.DROP, sources=self._nets_of[other],
                                        destinations=own, origin=f"{DEFAULT_ORIGIN}{other}"))
        rules = self._localise(rules, direction, own, self._local_nets(host.name, ifname, domain))
        name = filter_name(domain, ifname, direction, spec(host.platform).filter_names.max_length)
        return InterfaceFilter(name=name, interface=ifname, domain=domain,
                               direction="in" if direction == "in" else "out", rules=tuple(rules))

    def _local_nets(self, host: str, ifname: str, domain: str) -> tuple[IPv4Network, ...]:
        return tuple(sorted({n.subnet for n in self.domains[domain] if n.host == host and n.interface == ifname},
                            key=lambda n: (int(n.network_address), n.prefixlen)))

    @staticmethod
    def _localise(rules: list[FilterRule], direction: str, own: tuple[IPv4Network, ...],
                  local: tuple[IPv4Network, ...]) -> list[FilterRule]:
        """A member interface only carries its own subnets: the domain side of each rule (sources
        entering, destinations leaving) narrows from the whole domain to the interface's subnets."""
        field = "sources" if direction == "in" else "destinations"
        out = []
        for rule in rules:
            nets: tuple[IPv4Network, ...] = getattr(rule, field)
            if nets == own:
                narrowed = local
            else:
                narrowed = tuple(n for n in nets if any(n.overlaps(m) for m in local))
                if not narrowed:
                    continue  # e.g. a provider address on another member subnet
            out.append(rule if narrowed == nets else rule.model_copy(update={field: narrowed}))
        return out

    # -- services -------------------------------------------------------------------------
    def bindings(self, host: str) -> list[ServiceBinding]:
        out = []
        for svc in self.services:
            role: Literal["consumer-edge", "provider-edge"] | None = None
            if host in self._provider_hosts[svc.name]:
                role = "provider-edge"
            elif host in self._consumer_hosts[svc.name]:
                role = "consumer-edge"
            if role is not None:
                out.append(ServiceBinding(service=svc.name, role=role,
                                          providers=tuple(sorted(set(svc.providers))),
                                          protocol=svc.protocol, ports=svc.ports,
                                          consumers=tuple(sorted(svc.consumers))))
        return out

    def run(self) -> dict[str, DesiredState]:
        return self.run_with_plane()[0]

    def routing(self) -> dict[str, HostRouting]:
        """The protocol sections of every host, memoised on the topology for this intent set."""
        if self._routing is None:
            memo = self.topo.compiled_routing
            if memo is not None and memo[0] is self.intents:
                self._routing = memo[1]  # type: ignore[assignment]
            else:
                self._routing = compile_routing(self.plan, self.topo)
                self.topo.compiled_routing = (self.intents, self._routing)
        assert self._routing is not None
        return self._routing

    def _plane(self, routes: Mapping[str, list[DesiredRoute]]) -> ControlPlane:
        """The control plane of the interfaces, `routes` and the protocols (no filters)."""
        routing = self.routing()
        states: dict[str, DesiredState] = {}
        for name in sorted(self.inventory.hosts):
            host = self.inventory.hosts[name]
            interfaces = tuple(
                DesiredInterface(name=ifname, address=data.address, enabled=data.enabled,
                                 vrf=self.plan.vrf_of_if.get((name, ifname)))
                for ifname, data in sorted(host.data.interfaces.items()) if ifname != host.data.mgmt_interface)
            states[name] = DesiredState(
                host=name, platform=host.platform, stateful_filter=False, interfaces=interfaces,
                routes=tuple(routes.get(name, ())), filters=(), services=(),
                **(routing[name].fields() if name in routing else {}))
        return ControlPlane(states)

    def run_with_plane(self) -> tuple[dict[str, DesiredState], ControlPlane]:
        routes = self.routes()
        flows = self._flows()
        routing = self.routing()
        out: dict[str, DesiredState] = {}
        for name in sorted(self.inventory.hosts):
            host = self.inventory.hosts[name]
            interfaces = []
            filters = []
            for ifname in sorted(host.data.interfaces):
                if ifname == host.data.mgmt_interface:
                    continue
                data = host.data.interfaces[ifname]
                domain = self.domain_of_if.get((name, ifname))
                interfaces.append(DesiredInterface(name=ifname, address=data.address,
                                                   description=data.description, enabled=data.enabled,
                                                   domain=domain, vrf=self.plan.vrf_of_if.get((name, ifname))))
                if domain is not None:
                    filters.append(self.filter_for(host, ifname, domain, "in", flows))
                    filters.append(self.filter_for(host, ifname, domain, "out", flows))
            out[name] = DesiredState(
                host=name, platform=host.platform, mgmt_interface=host.data.mgmt_interface,
                ownership=host.data.ownership,
                stateful_filter=spec(host.platform).stateful_filter,
                interfaces=tuple(interfaces), routes=tuple(routes.get(name, ())),
                filters=tuple(filters), services=tuple(self.bindings(name)),
                ipv6_drop=Ipv6Drop(name=IPV6_FILTER_NAME,
                                   interfaces=tuple(dict.fromkeys(f.interface for f in filters)))
                if filters else None,
                **(routing[name].fields() if name in routing else {}),
            )
        plane = ControlPlane(out)
        for name, expected in expected_routes(out, plane).items():
            out[name] = out[name].model_copy(update={"expected_routes": expected})
        return out, plane


def _delivered(plane: ControlPlane, host: str, address: IPv4Address) -> bool:
    return plane.reaches(host, address) or plane.follow(host, address).outcome == "delivered"


def compile_intents(inventory: InventoryView, intents: IntentSet,
                    topo: Topology | None = None) -> dict[str, DesiredState]:
    """The desired state of every host of the inventory. Intents must be valid."""
    return compile_with_plane(inventory, intents, topo)[0]


def compile_with_plane(inventory: InventoryView, intents: IntentSet,
                       topo: Topology | None = None) -> tuple[dict[str, DesiredState], ControlPlane]:
    """The desired state of every host and the control-plane model computed from it, memoised on
    the topology for this intent set (validation traces flows over the model, compilation
    takes the routes it expects from it)."""
    topo = topo or Topology.build(inventory)
    memo = topo.compiled_states
    if memo is not None and memo[0] is intents:
        return memo[1], memo[2]  # type: ignore[return-value]
    states, plane = Compiler(inventory, intents, topo).run_with_plane()
    topo.compiled_states = (intents, states, plane)
    return states, plane
