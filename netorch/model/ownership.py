"""What netorch owns on a device, as data: one table per platform, and the per-device widening
an operator writes in the inventory (`data.ownership`).

Owned parts are compared with the desired state and brought back to it; everything else is
unmanaged: not reported as drift, never removed by a commit or a remediation, listed by
`drift --show-unmanaged`. Render (the ownership header of a widened device), the FRR driver's
replace (configtree.diff_frr / frr_remediation), drift and remediation all read this module.

Pure: no I/O, imports nothing above the model's value types.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from netorch.model.types import Frozen

#: the line a widened FRR artifact starts its ownership with (an FRR comment: vtysh ignores it)
HEADER = "! netorch-ownership:"
HEADER_RE = re.compile(r"^! netorch-ownership:(?P<items>( [a-z_]+=[a-z_]+)*)\s*$", re.MULTILINE)


class Ownership(Frozen):
    """An operator's widening of what netorch owns on a device (inventory `data.ownership`).

    The defaults are the platform's table; each field widens one part to `all`."""

    static_routes: Literal["default_vrf", "all"] = "default_vrf"
    """default_vrf: static routes of the default VRF and of the VRF blocks netorch renders;
    all: also the `ip route` lines of VRF blocks netorch does not render (the blocks stay)."""
    vrfs: Literal["rendered", "all"] = "rendered"
    """all: every VRF block is netorch's; one it does not render is removed."""
    interfaces: Literal["inventory", "all"] = "inventory"
    """all: the owned lines (address, description, shutdown) of interfaces outside the inventory
    too (the management interface is never netorch's)."""
    prefix_lists: Literal["rendered", "all"] = "rendered"
    route_maps: Literal["rendered", "all"] = "rendered"
    protocols: Literal["rendered", "ospf", "bgp", "all"] = "rendered"
    """rendered: a default-VRF protocol block (router ospf, router bgp) is netorch's where netorch
    renders one of its kind; ospf, bgp, all: that kind is netorch's even where netorch renders
    none, so it is removed. netorch sets it by itself for a kind it pushed to the device before
    (its last apply) and renders no more: a router taken out of an OSPF or BGP intent loses the
    block netorch wrote."""
    nft_tables: Literal["netorch", "all"] = "netorch"
    """all: every nftables table is netorch's: foreign tables are drift and a commit replaces
    the whole ruleset (`flush ruleset`)."""

    @property
    def widened(self) -> bool:
        return self != DEFAULT

    def header(self) -> str:
        """`! netorch-ownership: k=v ...` with the widened fields only ('' when none)."""
        items = [f"{k}={v}" for k, v in self.model_dump().items() if v != DEFAULT.model_dump()[k]]
        return f"{HEADER} {' '.join(items)}" if items else ""

    @classmethod
    def from_artifact(cls, text: str) -> Ownership:
        """The ownership a rendered artifact states (its header), the defaults without one."""
        match = HEADER_RE.search(text)
        if match is None:
            return DEFAULT
        items = dict(item.split("=", 1) for item in match.group("items").split())
        return cls.model_validate(items)


DEFAULT = Ownership()


@dataclass(frozen=True)
class FrrOwnership:
    """The FRR router's table (Linux + FRR + nftables)."""

    #: top-level lines netorch owns (by their start), rendered or not: an unrendered one is removed
    leaves: tuple[str, ...]
    #: child lines of an owned interface block netorch owns (by their start)
    interface_children: tuple[str, ...]
    #: child lines of a VRF block that static route ownership covers
    route_children: tuple[str, ...]
    #: the nftables table netorch replaces
    nft_table: str
    #: routing daemons the configuration needs: daemon -> the feature that needs it ("always",
    #: "routes": static routes, "ospf", "bgp")
    daemons: tuple[tuple[str, str], ...]
    #: nftables hooks where a foreign table's verdict changes forwarded traffic
    interfering_hooks: tuple[str, ...]
    #: default-VRF protocol blocks (regular expressions of their header): where netorch renders
    #: one of a kind, every block of that kind is netorch's (one BGP instance per VRF: a block
    #: with another ASN is replaced, not kept beside it)
    protocol_blocks: tuple[tuple[str, str], ...] = (("ospf", r"router ospf"), ("bgp", r"router bgp \d+"))
    #: interface child lines owned where netorch renders the protocol they belong to
    protocol_interface_children: tuple[tuple[str, str], ...] = (("ip ospf ", r"router ospf"),)
    #: prefix-lists and route-maps with this name prefix are netorch's, rendered or not (its
    #: compiler names every policy so): a stale one is removed
    policy_prefix: str = "netorch_"


FRR = FrrOwnership(
    leaves=("ip route ", "ip forwarding", "no ip forwarding", "ipv6 forwarding",
            "no ipv6 forwarding", "service integrated-vtysh-config"),
    interface_children=("description ", "ip address ", "shutdown"),
    route_children=("ip route ",),
    nft_table="inet netorch",
    daemons=(("zebra", "always"), ("staticd", "routes"), ("ospfd", "ospf"), ("bgpd", "bgp")),
    interfering_hooks=("prerouting", "forward", "postrouting"),
)

#: what netorch owns per platform, in words (the README's table states the same)
TABLE: dict[str, tuple[str, ...]] = {
    "frr": (
        "interfaces of the inventory: address (config and kernel), description, admin state",
        "static routes of the default VRF and of the VRF blocks netorch renders",
        "the protocol sections (router ospf/bgp) netorch renders (and any other of the same kind in the default "
        "VRF), with the interfaces' ip ospf lines; prefix-lists and route-maps netorch renders or names netorch_*",
        "ip/ipv6 forwarding, service integrated-vtysh-config (the hostname is not netorch's: FRR "
        "takes it from the kernel)",
        "the nftables table inet netorch (chains, rules, sets, maps)",
        "the routing daemons the config needs running (zebra; staticd, ospfd, bgpd when it has their sections)",
    ),
    "netconf": (
        "the interface entries of the inventory (ietf-interfaces)",
        "the control-plane-protocol entries netorch writes (ietf-routing), by identity namespace",
        "netorch-policy",
    ),
    "cli": ("the sections netorch.configtree.hconfig.FRR_MANAGED names (hier_config's scope; wider than the FRR table: "
            "hostname, routes of every VRF, owned lines of every interface but the management one)",),
}


def protocol_kinds(text: str) -> set[str]:
    """The kinds of default-VRF protocol blocks ("ospf", "bgp") an FRR artifact renders."""
    return {kind for kind, pattern in FRR.protocol_blocks
            if re.search(rf"^{pattern}\s*$", text, re.MULTILINE)}


def retire_protocols(text: str, kinds: set[str]) -> str:
    """The FRR artifact `text`, its ownership widened to the protocol `kinds` (what netorch
    pushed before and renders no more), so the blocks it wrote are removed."""
    own = Ownership.from_artifact(text)
    have = {"rendered": set(), "ospf": {"ospf"}, "bgp": {"bgp"}, "all": {"ospf", "bgp"}}[own.protocols]
    want = have | kinds
    if not kinds or want == have:
        return text
    value = "all" if want >= {"ospf", "bgp"} else next(iter(want))
    header = own.model_copy(update={"protocols": value}).header()
    if HEADER_RE.search(text):
        return re.sub(r"^! netorch-ownership:.*$", header, text, count=1, flags=re.MULTILINE)
    return f"{header}\n{text}"


def daemons_needed(features: set[str]) -> list[str]:
    """The FRR daemons a configuration with these features ("routes", "ospf", "bgp") needs running."""
    return [d for d, need in FRR.daemons if need == "always" or need in features]


__all__ = ["DEFAULT", "FRR", "HEADER", "TABLE", "FrrOwnership", "Ownership", "daemons_needed", "protocol_kinds",
           "retire_protocols"]
