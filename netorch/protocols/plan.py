"""Resolve routing intents (OSPF, BGP, VRFs) against the inventory's topology: which interface is in
which area, which routers peer with which, what each router originates and accepts. Validation
reads the problems found on the way; the compiler reads the resolved plan (of valid intents).
Pure, no I/O. OSPF (plan_ospf) and BGP (plan_bgp) are planned in their own rooms on the shared
base (planbase); here: the order, VRFs and what spans protocols (feedback, router ids)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

from netorch.errors import Problem
from netorch.model.intents import IntentSet, Sourced
from netorch.model.inventory import InventoryView
from netorch.model.routing import VrfIntent
from netorch.protocols.plan_bgp import BgpPlanner
from netorch.protocols.plan_ospf import OspfPlanner
from netorch.protocols.planbase import BgpNetwork, RoutingPlan
from netorch.topology import Topology, interface_hint


class Planner(OspfPlanner, BgpPlanner):
    """Builds the RoutingPlan; every problem found is appended to `problems` with file:line."""

    def run(self) -> RoutingPlan:
        plan = RoutingPlan()
        for item in self.intents.vrfs:
            self.vrf(plan, item)
        self.check_targets()
        for ospf_item in self.intents.ospf:
            proc = self.ospf(ospf_item)
            taken = [h for h in proc.routers if plan.ospf_of(h) is not None]
            for host in taken:
                self.add(ospf_item, ("areas",), f"{host} is already in OSPF process "
                         f"{plan.ospf_of(host).name!r}: netorch runs one OSPF process per router",  # type: ignore[union-attr]
                         "conflict")
                proc.routers.pop(host)
            plan.ospf.append(proc)
        for bgp_item in self.intents.bgp:
            net = self.bgp(bgp_item, plan)
            taken = [h for h in net.asn if plan.bgp_of(h) is not None]
            for host in taken:
                self.add(bgp_item, ("routers",), f"{host} is already a router of BGP "
                         f"{plan.bgp_of(host).item.name!r}", "conflict")  # type: ignore[union-attr]
            plan.bgp.append(net)
        self.feedback(plan)
        return plan

    # -- VRFs ---------------------------------------------------------------------------------
    def vrf(self, plan: RoutingPlan, item: Sourced[VrfIntent]) -> None:
        vrf = item.value
        per_host: dict[str, list[str]] = {}
        for i, member in enumerate(vrf.members):
            host = self.inventory.hosts.get(member.host)
            if host is None:
                self.unknown(item, ("members", i, "host"), "host", member.host)
                continue
            if not self.supports(item, ("members", i, "host"), member.host, "vrfs"):
                continue
            if member.interface == host.data.mgmt_interface or member.interface not in host.data.interfaces:
                managed = [n for n in host.data.interfaces if n != host.data.mgmt_interface]
                self.add(item, ("members", i, "interface"), f"host {member.host} has no interface "
                         f"{member.interface!r} netorch manages{interface_hint(member.interface, managed)}",
                         "reference")
                continue
            key = (member.host, member.interface)
            other = plan.vrf_of_if.get(key)
            if other is not None and other != vrf.name:
                self.add(item, ("members", i, "interface"), f"{member.host} {member.interface} is "
                         f"already a member of VRF {other!r}", "conflict")
                continue
            plan.vrf_of_if[key] = vrf.name
            per_host.setdefault(member.host, []).append(member.interface)
        for name, ifaces in sorted(per_host.items()):
            for other_item, _ in plan.vrfs.get(name, []):
                if other_item.value.table == vrf.table:
                    self.add(item, ("table",), f"table {vrf.table} is VRF {other_item.name!r}'s on {name} "
                             f"({other_item.file}:{other_item.line('table')})", "conflict")
            plan.vrfs.setdefault(name, []).append((item, sorted(ifaces)))

    def check_targets(self) -> None:
        imported = {rt for item in self.intents.vrfs for rt in item.value.import_targets}
        for item in self.intents.vrfs:
            for i, rt in enumerate(item.value.export_targets):
                if rt not in imported:
                    self.add(item, ("export", i), f"route target {rt} is exported by VRF {item.name!r} "
                             "but no VRF imports it: its routes go nowhere", "reference")

    # -- across protocols ---------------------------------------------------------------------
    def feedback(self, plan: RoutingPlan) -> None:
        """A router that redistributes BGP into OSPF and OSPF into BGP, with filters that let a
        prefix through both ways: its routes feed back into their own source. (Across routers,
        the control-plane model finds the prefixes that go round: validate's check_settles.)"""
        for proc in plan.ospf:
            for host, redis in sorted(proc.redistribute.items()):
                into_ospf = [r for r in redis if r.protocol == "bgp"]
                net = plan.bgp_of(host)
                if not into_ospf or net is None:
                    continue
                for i, back in enumerate(net.item.value.redistribute):
                    if back.protocol != "ospf" or back not in net.redistribute.get(host, []):
                        continue
                    both = [_both_ways(r.prefixes, back.prefixes) for r in into_ospf]
                    if not any(b is not None for b in both):
                        continue
                    what = "every prefix" if any(b == [] for b in both) else ", ".join(
                        sorted({str(p) for b in both if b for p in b}))
                    self.add(net.item, ("redistribute", i), f"{host} redistributes OSPF into BGP and "
                             f"BGP into OSPF (OSPF {proc.name!r}) with filters that let {what} through both "
                             "ways: those routes feed back into their own source; give the two `prefixes:` "
                             "that do not overlap", "feedback")

    def router_ids(self, plan: RoutingPlan) -> None:
        """Router ids are unique in an OSPF process and in a BGP network. Two ids taken from
        interface addresses are equal only when one address is on two interfaces: the address plan
        reports that cause, with both places; an id given explicitly is reported here, with both."""
        reported: set[frozenset[str]] = set()
        for proc in plan.ospf:
            owner: dict[IPv4Address, str] = {}
            for host, rid in sorted(proc.router_ids.items()):
                first = owner.setdefault(rid, host)
                if first == host:
                    continue
                places = [self.rid_place(plan, h, None) for h in (first, host)]
                if not any(explicit for _, explicit in places):
                    continue
                reported.add(frozenset((first, host)))
                self.add(proc.item, ("router_ids", host) if host in proc.item.value.router_ids else
                         ("router_id_interface",), f"duplicate router id {rid}: {first} ({places[0][0]}) and "
                         f"{host} ({places[1][0]})", "duplicate")
        for net in plan.bgp:
            bgp_owner: dict[IPv4Address, str] = {}
            for host, rid in sorted(net.router_ids.items()):
                first = bgp_owner.setdefault(rid, host)
                if first == host or frozenset((first, host)) in reported:
                    continue
                places = [self.rid_place(plan, h, net) for h in (first, host)]
                if not any(explicit for _, explicit in places):
                    continue
                self.add(net.item, ("routers",), f"duplicate BGP router id {rid}: {first} "
                         f"({places[0][0]}) and {host} ({places[1][0]})", "duplicate")

    def rid_place(self, plan: RoutingPlan, host: str, net: BgpNetwork | None) -> tuple[str, bool]:
        """Where the router id of host comes from (file:line), and whether it is given explicitly
        (OSPF's router_ids) rather than taken from an interface's address."""
        proc = plan.ospf_of(host)
        if proc is not None and host in proc.item.value.router_ids:
            item = proc.item
            return f"{item.file}:{item.line('router_ids', host)}", True
        if (proc is not None and host in proc.router_ids) or net is None:
            ifname = proc.item.value.router_id_interface if proc is not None else "lo"
        else:
            ifname = net.item.value.loopback
        file, line, _ = self.inventory.locate(host, "interfaces", self.loopback_name(host, ifname), "address")
        return (f"{file}:{line}" if line else file), False


def _both_ways(a: tuple[IPv4Network, ...], b: tuple[IPv4Network, ...]) -> list[IPv4Network] | None:
    """What two redistribution filters (prefixes and their longer ones; empty: every prefix)
    both let through: [] for every prefix, the narrower prefixes where they overlap, None when
    they never do."""
    if not a or not b:
        return [] if not a and not b else list(a or b)
    out = [x if x.prefixlen >= y.prefixlen else y for x in a for y in b if x.overlaps(y)]
    return out or None


def plan_routing(inventory: InventoryView, intents: IntentSet, topo: Topology,
                 problems: list[Problem] | None = None) -> RoutingPlan:
    """The routing plan; problems (when a list is given) receive what is wrong."""
    memo = topo.routing_plan
    if memo is not None and memo[0] is intents and problems is None:
        return memo[1]  # type: ignore[return-value]
    planner = Planner(inventory, intents, topo)
    plan = planner.run()
    planner.router_ids(plan)
    if problems is not None:
        problems.extend(planner.found())
    topo.routing_plan = (intents, plan)
    return plan
