"""Compare FRR configurations by meaning, not by text. Pure, no I/O.

`show running-config` is a list of top-level lines and blocks (`interface X`, `vrf X`,
`router ...`) whose children FRR may print in another order; lines that netorch does not
manage (`frr version`, `log ...`, comments) are ignored unless asked. The kernel's view of
the interfaces (addresses, admin state) is compared beside it.

Each difference is classified: missing (intended, absent), unexpected (present, not
intended, in a part netorch manages), changed (both present, different content).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from netorch.configtree.base import Difference
from netorch.model.ownership import FRR as FRR_OWN
from netorch.model.ownership import Ownership

# Top-level FRR lines netorch never renders and never manages.
FRR_UNMANAGED = (
    re.compile(r"^frr version "),
    re.compile(r"^frr defaults "),
    re.compile(r"^log "),
    re.compile(r"^hostname "),  # FRR takes it from the kernel; each vtysh prints its own
    re.compile(r"^line vty"),
    re.compile(r"^(end|exit|exit-vrf|!.*)$"),
    re.compile(r"^Building configuration"),
    re.compile(r"^Current configuration"),
)
BLOCK_ENDS = ("exit", "exit-vrf", "!", "end")


@dataclass
class FrrConfig:
    """Top-level leaf lines and blocks (header -> child lines)."""

    leaves: list[str] = field(default_factory=list)
    blocks: dict[str, list[str]] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)


def managed(line: str) -> bool:
    return not any(p.match(line) for p in FRR_UNMANAGED)


def parse_frr(text: str) -> FrrConfig:
    config = FrrConfig()
    current: str | None = None
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line.strip():
            continue
        if line[0] in " \t":
            child = line.strip()
            if current is not None and child not in BLOCK_ENDS and not child.startswith("!"):
                config.blocks[current].append(child)
            continue
        if current is not None and line in BLOCK_ENDS:
            current = None
            continue
        current = None
        if not managed(line):
            if line.strip() != "!":
                config.ignored.append(line)
            continue
        if _opens_block(line):
            current = line
            config.blocks.setdefault(line, [])
        else:
            config.leaves.append(line)
    return config


def _opens_block(line: str) -> bool:
    return line.split(" ", 1)[0] in ("interface", "vrf", "router", "route-map", "line", "key", "bfd",
                                     "segment-routing", "mpls", "pseudowire", "nexthop-group", "control-plane")


def _route_key(line: str) -> str | None:
    """`ip route P NH [distance]` -> 'ip route P NH' so a changed distance reads as changed."""
    m = re.match(r"^(ip route \S+ \S+(?: (?!\d+$)\S+)?)(?: (\d+))?$", line)
    if m:
        return m.group(1)
    return None


@dataclass(frozen=True)
class KernelInterface:
    """An interface as the kernel has it (`ip -j addr`): IPv4 addresses (global scope) and admin state."""

    addresses: tuple[str, ...]
    admin_up: bool


KERNEL_ABSENT = "configured in FRR, absent from the kernel"
KERNEL_ONLY = "in the kernel only (not in FRR's configuration)"
KERNEL_DOWN = "administratively down in the kernel"


@dataclass
class _Scope:
    """Which parts of a running FRR configuration are netorch's (ownership.FRR + the widening
    stated by the desired artifact + what the desired artifact renders)."""

    own: Ownership
    want: FrrConfig
    ignore_interfaces: tuple[str, ...]

    def leaf(self, line: str) -> bool:
        if line in self.want.leaves or line.startswith(FRR_OWN.leaves):
            return True
        if line.startswith("ip prefix-list "):
            name = line.split()[2]
            return self.own.prefix_lists == "all" or name.startswith(FRR_OWN.policy_prefix) or any(
                w.startswith(f"ip prefix-list {name} ") for w in self.want.leaves)
        return False

    def block(self, header: str) -> Literal["all", "routes", "interface", "none"]:
        """all: the block is netorch's; routes: only its `ip route` lines; interface: its owned lines."""
        word, _, name = header.partition(" ")
        if word == "interface":
            if name in self.ignore_interfaces:
                return "none"
            return "interface" if header in self.want.blocks or self.own.interfaces == "all" else "none"
        if header in self.want.blocks or self._protocol(header):
            return "all"
        if word == "vrf":
            if self.own.vrfs == "all":
                return "all"
            return "routes" if self.own.static_routes == "all" else "none"
        if word == "route-map" and (self.own.route_maps == "all" or name.startswith(FRR_OWN.policy_prefix) or any(
                h.startswith(f"route-map {name.split(' ', 1)[0]} ") for h in self.want.blocks)):
            return "all"  # every entry of a route-map netorch writes is netorch's
        return "none"

    def child(self, header: str, child: str) -> bool:
        scope = self.block(header)
        if scope == "all":
            return True
        if scope == "routes":
            return child.startswith(FRR_OWN.route_children)
        if scope == "interface":
            return (child.startswith(FRR_OWN.interface_children) or child in self.want.blocks.get(header, [])
                    or any(child.startswith(start) and self._owns_kind(kind)
                           for start, kind in FRR_OWN.protocol_interface_children))
        return False

    def _renders(self, pattern: str) -> bool:
        return any(re.fullmatch(pattern, h) for h in self.want.blocks)

    def _protocol(self, header: str) -> bool:
        """A default-VRF protocol block of a kind netorch renders on this device (or owns there
        without rendering it: ownership `protocols`)."""
        return any(re.fullmatch(p, header) and self._owns_kind(p) for _kind, p in FRR_OWN.protocol_blocks)

    def _owns_kind(self, pattern: str) -> bool:
        """Whether the protocol blocks of this kind (their header pattern) are netorch's here."""
        owned = {"rendered": (), "all": ("ospf", "bgp")}.get(self.own.protocols, (self.own.protocols,))
        return self._renders(pattern) or any(p == pattern and kind in owned for kind, p in FRR_OWN.protocol_blocks)


def unmanaged_frr(running: str, desired: str, ignore_interfaces: tuple[str, ...] = ()) -> list[str]:
    """The live lines netorch does not own (never drift, never removed): for --show-unmanaged."""
    have, want = parse_frr(running), parse_frr(desired)
    scope = _Scope(Ownership.from_artifact(desired), want, ignore_interfaces)
    out = [line for line in have.leaves if not scope.leaf(line)]
    for header, children in have.blocks.items():
        if scope.block(header) == "none":
            out.append(f"{header} ({len(children)} line(s))")
        else:
            out += [f"{header} / {c}" for c in children if not scope.child(header, c)]
    return out + have.ignored


def diff_frr(running: str, desired: str, ignore_interfaces: tuple[str, ...] = (),
             kernel: dict[str, KernelInterface] | None = None) -> list[Difference]:
    """Differences by meaning, over what netorch owns (ownership.FRR, widened by the desired
    artifact's ownership header). Interfaces in ignore_interfaces (the management interface) are
    never netorch's. With `kernel` (the kernel's addresses and admin state per interface), an
    owned interface whose kernel addresses or admin state differ from FRR's is drift too."""
    have, want = parse_frr(running), parse_frr(desired)
    scope = _Scope(Ownership.from_artifact(desired), want, ignore_interfaces)
    out: list[Difference] = []
    have_leaves = {line for line in have.leaves if scope.leaf(line)}
    want_leaves = set(want.leaves)
    single = {"hostname"}
    for line in sorted(want_leaves - have_leaves):
        word = line.split(" ", 1)[0]
        other = next((h for h in have_leaves if h.split(" ", 1)[0] == word and word in single), None)
        key = _route_key(line)
        same_route = next((h for h in have_leaves - want_leaves if key and _route_key(h) == key), None)
        if other is not None:
            out.append(Difference("changed", (line,), f"running: {other}"))
        elif same_route is not None:
            out.append(Difference("changed", (line,), f"running: {same_route}"))
        else:
            out.append(Difference("missing", (line,)))
    changed_from = {d.detail.removeprefix("running: ") for d in out if d.kind == "changed"}
    for line in sorted(have_leaves - want_leaves):
        if line not in changed_from:
            out.append(Difference("unexpected", (line,)))
    for header in sorted(set(want.blocks) | set(have.blocks)):
        block = scope.block(header)
        if block == "none":
            continue
        if header not in have.blocks:
            out.append(Difference("missing", (header,), f"{len(want.blocks[header])} line(s)"))
            out += [Difference("missing", (header, c)) for c in want.blocks[header]]
        elif header not in want.blocks and block == "all":
            out.append(Difference("unexpected", (header,), f"{len(have.blocks[header])} line(s)"))
            continue
        else:
            # an interface cannot be removed, an unrendered VRF block with owned routes stays:
            # only their owned lines count
            h = {c for c in have.blocks[header] if scope.child(header, c)}
            w = set(want.blocks.get(header, []))
            out += [Difference("missing", (header, child)) for child in sorted(w - h)]
            out += [Difference("unexpected", (header, child)) for child in sorted(h - w)]
        if kernel is not None and header.startswith("interface ") and header in want.blocks:
            out += _kernel_diffs(header, have.blocks.get(header, []), want.blocks[header],
                                 kernel.get(header.split(" ", 1)[1]))
    return out


def _kernel_diffs(header: str, have: list[str], want: list[str], live: KernelInterface | None) -> list[Difference]:
    if live is None:
        return []  # an interface that does not exist is state (interface_down), not config
    configured = {c.removeprefix("ip address ") for c in have if c.startswith("ip address ")}
    wanted = {c.removeprefix("ip address ") for c in want if c.startswith("ip address ")}
    out = [Difference("missing", (header, f"ip address {a}"), KERNEL_ABSENT)
           for a in sorted(configured & wanted) if a not in live.addresses]
    out += [Difference("unexpected", (header, f"ip address {a}"), KERNEL_ONLY)
            for a in sorted(set(live.addresses) - configured - wanted)]
    if not live.admin_up and "shutdown" not in want:
        out.append(Difference("missing", (header, "no shutdown"), KERNEL_DOWN))
    return out


def frr_remediation(diffs: list[Difference]) -> list[str]:
    """vtysh configuration commands that bring the running config to the desired one.

    FRR specifics: `description` is single-valued (setting one replaces the other, and only a
    bare `no description` removes it); an interface block cannot be removed (`no interface X`
    is refused for a kernel interface), so its lines are removed one by one; inside a block,
    removals come before additions (an address can move). The kernel is brought back through
    FRR: an address only the kernel has is adopted then removed (zebra refuses to remove an
    address it did not configure), an address the kernel lost is removed and configured again
    (zebra installs it anew), an interface down in the kernel gets `no shutdown`."""
    lines: list[str] = []
    removals: dict[str, list[str]] = {}
    additions: dict[str, list[str]] = {}
    kernel: dict[str, list[str]] = {}
    for d in diffs:
        if d.kind == "interfering":
            continue  # not netorch's to change
        if len(d.path) == 1:
            line = d.path[0]
            if d.kind in ("missing", "changed"):
                if d.kind == "changed" and not line.startswith("hostname"):
                    lines.append(f"no {d.detail.removeprefix('running: ')}")
                if d.kind == "missing" and d.detail.endswith("line(s)"):
                    additions.setdefault(line, [])
                else:
                    lines.append(line)
            elif d.kind == "unexpected":
                lines.append(_negate(line))
        else:
            header, child = d.path[0], d.path[-1]
            if d.detail == KERNEL_ONLY:
                kernel.setdefault(header, []).insert(0, _negate(child))
                kernel[header].insert(0, child)
            elif d.detail == KERNEL_ABSENT:
                kernel.setdefault(header, []).extend([_negate(child), child])
            else:
                target = additions if d.kind == "missing" else removals
                target.setdefault(header, []).append(child)
    for header in dict.fromkeys([*kernel, *removals, *additions]):
        adding = additions.get(header, [])
        sets_description = any(c.startswith("description ") for c in adding)
        children = list(kernel.get(header, []))
        for child in removals.get(header, []):
            if child.startswith("description "):
                if not sets_description:
                    children.append("no description")
            else:
                children.append(_negate(child))
        children += adding
        if header.startswith("router bgp "):
            children = _bgp_children(children)
        lines.append(header)
        lines += [f" {c}" for c in children]
        lines.append("exit-vrf" if header.startswith("vrf ") else "exit")
    return lines


#: child lines of `router bgp N` that belong to its `address-family ipv4 unicast` (FRR prints them
#: there; diff_frr compares a block's children flat, remediation puts them back in the family)
BGP_FAMILY_WORDS = ("network ", "redistribute ", "aggregate-address ", "maximum-paths ")
BGP_FAMILY_NEIGHBOR = re.compile(r"^(no )?neighbor \S+ (next-hop-self|prefix-list|route-map|maximum-prefix|"
                                 r"default-originate|route-reflector-client|activate|soft-reconfiguration|"
                                 r"allowas-in|remove-private-AS|send-community)\b")
BGP_FAMILY = "address-family ipv4 unicast"
BGP_NEIGHBOR_AS = re.compile(r"^neighbor (\S+) remote-as ")


def _bgp_children(children: list[str]) -> list[str]:
    """A `router bgp` block's remediation children in the order FRR takes them: a changed
    remote-as is set (its `no` would delete the neighbour with all its lines), a neighbour that
    goes is one `no neighbor X`, address-family lines inside `address-family ipv4 unicast`."""
    children = [c for c in children if not c.startswith("address-family ") and c != "exit-address-family"]
    set_as = {m.group(1) for c in children if (m := BGP_NEIGHBOR_AS.match(c))}
    gone = {m.group(1) for c in children if c.startswith("no ") and (m := BGP_NEIGHBOR_AS.match(c[3:]))} - set_as
    kept: list[str] = []
    for child in children:
        bare = child.removeprefix("no ")
        m = BGP_NEIGHBOR_AS.match(bare)
        if child.startswith("no ") and m and m.group(1) in set_as:
            continue  # replaced by the new remote-as
        words = bare.split()
        if child.startswith("no ") and len(words) > 1 and words[0] == "neighbor" and words[1] in gone:
            if m:
                kept.append(f"no neighbor {words[1]}")
            continue
        kept.append(child)
    family = [c for c in kept if c.removeprefix("no ").startswith(BGP_FAMILY_WORDS) or BGP_FAMILY_NEIGHBOR.match(c)]
    # removals first, then a new neighbour's remote-as before anything else about it
    top = sorted((c for c in kept if c not in family),
                 key=lambda c: 0 if c.startswith("no ") else 1 if BGP_NEIGHBOR_AS.match(c) else 2)
    return top + ([BGP_FAMILY, *(f" {c}" for c in family), "exit-address-family"] if family else [])


def _negate(line: str) -> str:
    return line[3:] if line.startswith("no ") else f"no {line}"
