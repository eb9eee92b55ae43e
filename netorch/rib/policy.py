"""Routing policy as FRR evaluates what netorch renders: prefix-lists (first matching entry
decides, nothing matched is denied) and route-maps (first matching entry decides and sets,
nothing matched is denied). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network

from netorch.model.desired import DesiredState, PrefixList, RouteMap


@dataclass(frozen=True)
class Sets:
    """What a permitting route-map entry changes on a route."""

    local_preference: int | None = None
    prepend: tuple[int, ...] = ()


PERMIT = Sets()


def prefix_list_permits(plist: PrefixList | None, prefix: IPv4Network) -> bool:
    if plist is None:
        return False
    for entry in sorted(plist.entries, key=lambda e: e.sequence):
        if not prefix.subnet_of(entry.prefix):
            continue
        if entry.le is None:
            if prefix.prefixlen != entry.prefix.prefixlen:
                continue
        elif not entry.prefix.prefixlen <= prefix.prefixlen <= entry.le:
            continue
        return entry.action == "permit"
    return False


class Policies:
    """One router's prefix-lists and route-maps, by name."""

    def __init__(self, state: DesiredState) -> None:
        self.prefix_lists: dict[str, PrefixList] = {p.name: p for p in state.prefix_lists}
        self.route_maps: dict[str, RouteMap] = {r.name: r for r in state.route_maps}

    def prefix_list(self, name: str | None, prefix: IPv4Network) -> bool:
        """Whether the named prefix-list permits `prefix` (no list named: everything passes; a
        name that does not exist: FRR permits everything, as an empty filter)."""
        if name is None or name not in self.prefix_lists:
            return True
        return prefix_list_permits(self.prefix_lists[name], prefix)

    def route_map(self, name: str | None, prefix: IPv4Network) -> Sets | None:
        """What the named route-map does with `prefix`: None when it denies it."""
        if name is None:
            return PERMIT
        rmap = self.route_maps.get(name)
        if rmap is None:
            return None  # FRR: a route-map that does not exist denies
        for entry in sorted(rmap.entries, key=lambda e: e.sequence):
            if entry.match_prefix_list is not None and not prefix_list_permits(
                    self.prefix_lists.get(entry.match_prefix_list), prefix):
                continue
            if entry.action == "deny":
                return None
            return Sets(entry.local_preference, entry.prepend)
        return None
