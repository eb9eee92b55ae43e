"""What validate asks of the control-plane model about the routing design itself (not about a
flow): that every prefix a router originates is in its RIB, every aggregate has something within
it, every BGP session netorch configures comes up, and nothing goes round between BGP and OSPF or
keeps changing. Each problem at the intent's line that causes it. Pure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from netorch.model.intents import IntentSet, Sourced
from netorch.model.inventory import InventoryView
from netorch.rib.plane import ControlPlane

#: how a check reports: (intent item, its field path, message, code)
Report = Callable[[Sourced[Any], tuple[object, ...], str, str], None]


class PlaneChecks:
    def __init__(self, inventory: InventoryView, intents: IntentSet, add: Report) -> None:
        self.inventory = inventory
        self.intents = intents
        self.add = add

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
                hosts = [orig.host] if orig.host else sorted(self.inventory.members(orig.group or ""))
                for host in hosts:
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
                hosts = [agg.host] if agg.host else sorted(self.inventory.members(agg.group or ""))
                for host in hosts:
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
        for item in self.intents.bgp:
            members = {h for r in item.value.routers
                       for h in ([r.host] if r.host else sorted(self.inventory.members(r.group or "")))}
            for a, b, why in idle:
                if a in members and b in members:
                    self.add(item, ("routers",), f"the BGP session {a}-{b} cannot come up: {why}", "igp")

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
            for o_item in self.intents.ospf:
                members = self._members(o_item.value.areas)
                for i, redis in enumerate(o_item.value.redistribute):
                    if redis.protocol == "bgp" and (not feedback or self._covers(redis, members) & into_ospf):
                        self.add(o_item, ("redistribute", i), why, "loop")
            for b_item in self.intents.bgp:
                members = self._members(b_item.value.routers)
                for i, redis in enumerate(b_item.value.redistribute):
                    if redis.protocol == "ospf" and (not feedback or self._covers(redis, members) & into_bgp):
                        self.add(b_item, ("redistribute", i), why, "loop")
        rest = sorted((p for p, k in plane.unsettled.items() if k == "bgp"),
                      key=lambda n: (int(n.network_address), n.prefixlen))
        if rest:
            why = (f"BGP does not converge ({', '.join(map(str, rest[:4]))}): the routers' best paths keep "
                   "changing each other's (route oscillation); what they hold would depend on timing")
            for b_item in self.intents.bgp:
                self.add(b_item, ("routers",), why, "loop")

    def _members(self, scopes: Any) -> set[str]:
        """The hosts of intent entries that name a host or a group (OSPF areas, BGP routers)."""
        out: set[str] = set()
        for scope in scopes:
            for host in getattr(scope, "hosts", None) or ([scope.host] if getattr(scope, "host", None) else []):
                out.add(host)
            for group in getattr(scope, "groups", None) or ([scope.group] if getattr(scope, "group", None) else []):
                out |= set(self.inventory.members(group))
        return out

    def _covers(self, redis: Any, members: set[str]) -> set[str]:
        """The routers a redistribute entry names (every router of its intent when it names none)."""
        named = set(redis.hosts) | {h for g in redis.groups for h in self.inventory.members(g)}
        return named or members


__all__ = ["PlaneChecks"]
