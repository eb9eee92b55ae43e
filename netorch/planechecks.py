"""What validate asks of the control-plane model about the routing design itself (not about a
flow): that every prefix a router originates is in its RIB, every aggregate has something within
it, every BGP session netorch configures comes up, and nothing goes round between BGP and OSPF or
keeps changing. Each problem at the intent's line that causes it. Pure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from netorch.model.intents import IntentSet, Sourced
from netorch.model.inventory import InventoryView
from netorch.model.routing import Scope
from netorch.protocols.planbase import RoutingPlan
from netorch.rib.plane import ControlPlane

#: how a check reports: (intent item, its field path, message, code)
Report = Callable[[Sourced[Any], tuple[object, ...], str, str], None]


class PlaneChecks:
    def __init__(self, inventory: InventoryView, intents: IntentSet, plan: RoutingPlan, add: Report) -> None:
        self.inventory = inventory
        self.intents = intents
        self.plan = plan  # which routers each intent and each of its entries covers
        self.add = add

    def hosts(self, entry: Scope) -> list[str]:
        return [entry.host] if entry.host else sorted(self.inventory.members(entry.group or ""))

    def run(self, plane: ControlPlane) -> None:
        self.check_originate(plane)
        self.check_aggregates(plane)
        self.check_sessions(plane)
        self.check_settles(plane)

    def check_originate(self, plane: ControlPlane) -> None:
        """A prefix a router originates in BGP must be in its RIB (connected, static, learned
        from OSPF): routers announce nothing else."""
        for item in self.intents.bgp:
            for i, orig in enumerate(item.value.originate):
                for host in self.hosts(orig):
                    missing = set(plane.unoriginated(host))
                    for j, prefix in enumerate(orig.prefixes):
                        if prefix in missing:
                            self.add(item, ("originate", i, "prefixes", j),
                                     f"{host} has no route to {prefix} in its RIB (connected, static, OSPF or "
                                     f"redistributed): there is nothing to originate", "reference")

    def check_aggregates(self, plane: ControlPlane) -> None:
        """An aggregate is announced only while the router has a longer prefix within it in its
        BGP table (FRR): one with nothing within it (nor the prefix itself, learned from another
        router that aggregates it) is never announced."""
        for item in self.intents.bgp:
            for i, agg in enumerate(item.value.aggregate):
                for host in self.hosts(agg):
                    loc = plane.bgp.loc.get(host, {})
                    for j, prefix in enumerate(agg.prefixes):
                        if prefix not in loc:  # (learned from another router that aggregates it: there)
                            self.add(item, ("aggregate", i, "prefixes", j),
                                     f"{host} has no route within {prefix} in its BGP table (originated, "
                                     "redistributed or learned): the aggregate is never announced", "reference")

    def check_sessions(self, plane: ControlPlane) -> None:
        """Every BGP session netorch configures comes up in the control-plane model: an iBGP one
        needs a route to each loopback that is not BGP's own."""
        idle = plane.idle_sessions()
        if not idle:
            return
        for net in self.plan.bgp:
            for a, b, why in idle:
                if a in net.asn and b in net.asn:
                    self.add(net.item, ("routers",), f"the BGP session {a}-{b} cannot come up: {why}", "igp")

    def check_settles(self, plane: ControlPlane) -> None:
        """Routes that go round between BGP and OSPF (redistributed from BGP into OSPF on one
        router, back from OSPF into BGP on another) feed themselves: they outlive their source,
        looping, and where BGP prefers them they never settle. Refused at both redistributions,
        with the prefixes; BGP policies whose choices keep changing each other (route oscillation)
        are refused at the BGP intent."""
        feedback = plane.feedback()
        unsettled = [p for p, k in plane.unsettled.items() if k == "redistribution"]
        if feedback or unsettled:
            nets = sorted({p for p, _a, _b in feedback} | set(unsettled),
                          key=lambda n: (int(n.network_address), n.prefixlen))
            shown = ", ".join(map(str, nets[:4])) + (f" and {len(nets) - 4} more" if len(nets) > 4 else "")
            into_ospf = {a for _p, a, _b in feedback}
            into_bgp = {b for _p, _a, b in feedback}
            how = (f" (BGP into OSPF on {', '.join(sorted(into_ospf))}, back into BGP on {', '.join(sorted(into_bgp))})"
                   if feedback else "")
            why = (f"routes redistributed between BGP and OSPF go round{how}: {shown}; such a route feeds itself, "
                   "outlives its source and loops, and may never settle; limit what is redistributed (prefixes:) so "
                   "that nothing redistributed from BGP into OSPF comes back into BGP")
            for proc in self.plan.ospf:
                for i, redis in enumerate(proc.item.value.redistribute):
                    if redis.protocol == "bgp" and (not feedback or any(
                            redis in proc.redistribute.get(h, ()) for h in into_ospf)):
                        self.add(proc.item, ("redistribute", i), why, "loop")
            for net in self.plan.bgp:
                for i, redis in enumerate(net.item.value.redistribute):
                    if redis.protocol == "ospf" and (not feedback or any(
                            redis in net.redistribute.get(h, ()) for h in into_bgp)):
                        self.add(net.item, ("redistribute", i), why, "loop")
        rest = sorted((p for p, k in plane.unsettled.items() if k == "bgp"),
                      key=lambda n: (int(n.network_address), n.prefixlen))
        if rest:
            why = (f"BGP does not converge ({', '.join(map(str, rest[:4]))}): the routers' best paths keep "
                   "changing each other's (route oscillation); what they hold would depend on timing")
            for b_item in self.intents.bgp:
                self.add(b_item, ("routers",), why, "loop")


__all__ = ["PlaneChecks"]
