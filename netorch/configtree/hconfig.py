"""The part of an IOS-style configuration that netorch owns, and hier_config's view of it.

The desired configuration is the platform's artifact of kind "config" (frr.conf for
FRR); the live configuration is `show running-config`. hier_config computes, from
the two, the *remediation* (the lines that bring running to desired, including
`no ...` lines for managed lines that must go: replace semantics, pushed as a merge)
and the *rollback* (the lines that bring it back). Pure, no I/O: the netmiko transport
(netorch.transport.netmiko) pushes these lines; drift detection and tests use the
functions directly.

Only the part of the configuration that netorch manages counts: see MANAGED (a
documented list per platform). Everything else on the device (`frr version`,
`frr defaults`, `log ...`, `line vty`, routing protocols, `!` comments, ...) is
neither diffed nor touched.

hier_config (3.x) has no FRR driver. FrrDriver derives from its *generic* driver,
not from cisco_ios: IOS rules are wrong for FRR (an interface holds several
`ip address` lines in FRR, so `ip address` must not be idempotent; IOS drops `no ip
address`, handles ACL sequence numbers and `exit-address-family`, ...). FrrDriver
adds what FRR needs: `!` separators, `end`, `exit` and `exit-vrf` lines are syntax,
not configuration; sections are left with `exit` (interface) and `exit-vrf` (vrf);
`hostname`, `[no] ip[v6] forwarding` and an interface's `description` are single
valued (a new value replaces the old one, no `no` line needed); a description is
removed with a bare `no description`.

FRR quirks found on FRR 8.4 through a vtysh login shell that the computed lines allow for:
- `no description TEXT` is refused ("% Unknown command"): only `no description` works.
- `no interface X` is refused for an interface that exists in the kernel ("only
  inactive interfaces can be deleted"): an interface that must lose its managed
  lines is emptied line by line instead.
- A `vrf X` section disappears from the running config once its last route is gone,
  but zebra keeps the VRF ("show vrf": "inactive (configured)") until `no vrf X`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from hier_config import HConfig, HConfigChild, MatchRule, get_hconfig
from hier_config.exceptions import DuplicateChildError
from hier_config.models import (
    IdempotentCommandsRule,
    NegationSubRule,
    PerLineSubRule,
    SectionalExitingRule,
)
from hier_config.platforms.driver_base import HConfigDriverBase, HConfigDriverRules
from hier_config.platforms.generic.driver import HConfigDriverGeneric

from netorch.errors import NetorchError
from netorch.model.ownership import Ownership
from netorch.platforms import PLATFORMS, Platform

HEADER_RE = re.compile(r"\A\s*(Building configuration\.\.\.\s*\n)?\s*(Current configuration:[^\n]*\n)?")
#: section lines FRR leaves with their own exit command
SECTION_EXIT = {"interface ": "exit", "vrf ": "exit-vrf", "router ": "exit", "route-map ": "exit"}
_BGP = MatchRule(startswith="router bgp ")
_AF = MatchRule(startswith="address-family ")
_IFACE = MatchRule(startswith="interface ")
#: single-valued lines (a new value replaces the old, no `no` line): (section, re with the key as groups).
#: `neighbor X remote-as N` above all: `no neighbor X remote-as N` would delete the whole neighbour.
SINGLE_VALUED: tuple[tuple[tuple[MatchRule, ...], str], ...] = (
    ((MatchRule(startswith="router ospf"),), r"^ospf (router-id) "),
    ((_BGP,), r"^bgp (router-id) "),
    ((_BGP,), r"^neighbor (\S+) (remote-as|description|update-source) "),
    ((_BGP, _AF), r"^neighbor (\S+) (maximum-prefix) "),
    ((_BGP, _AF), r"^neighbor (\S+) (prefix-list|route-map) \S+ (in|out)$"),
    ((_IFACE,), r"^ip ospf (area|cost|network) "),
    ((MatchRule(startswith="route-map "),), r"^(set local-preference|match ip address prefix-list) "),
)
NEIGHBOR_RE = re.compile(r"^neighbor (\S+) ")
PATH_SEP = " > "


# ------------------------------------------------------------------------ what is managed


@dataclass(frozen=True)
class Managed:
    """One kind of top-level line that netorch manages.

    pattern: regular expression a whole top-level line must match.
    children: for a section, the regular expression its managed child lines match
    (other child lines are ignored); None for a single line.
    what: why netorch owns it.
    """

    pattern: str
    children: str | None
    what: str
    #: the section is netorch's whole (protocol sections, route-maps): children keep their own
    #: children (`address-family ...`), and a section the desired config lacks is removed with
    #: `no HEADER` instead of being emptied line by line
    whole: bool = False

    def matches(self, text: str) -> bool:
        return re.fullmatch(self.pattern, text) is not None

    def child_matches(self, text: str) -> bool:
        return self.children is not None and re.fullmatch(self.children, text) is not None


#: What netorch manages on an FRR router: exactly what netorch/templates/frr/frr.conf.j2 renders.
#: Unmanaged (ignored in diffs, never touched): `frr version ...`, `frr defaults ...`
#: (fixed at daemon start), `log ...`, `line vty`, `banner ...`, `!` comments, `end`,
#: prefix lists and route maps netorch did not write (netorch's are named `netorch_...`),
#: protocol sections of other VRFs, and any interface or vrf child line that is not listed
#: here. The management interface (the desired state's mgmt_interface) is left alone entirely.
FRR_MANAGED: tuple[Managed, ...] = (
    Managed(r"hostname \S+", None, "the router's name"),
    Managed(r"(no )?ip forwarding", None,
            "IPv4 forwarding: absent means on (FRR's default), `no ip forwarding` would stop routing"),
    Managed(r"(no )?ipv6 forwarding", None, "IPv6 forwarding: netorch renders `no ipv6 forwarding`"),
    Managed(r"(no )?service integrated-vtysh-config", None, "one frr.conf for all daemons"),
    Managed(r"ip route \S+ .+", None, "static routes of the default VRF (route intents)"),
    Managed(r"vrf \S+", r"ip route \S+ .+", "static routes of other VRFs: only their `ip route` lines"),
    Managed(r"interface \S+( vrf \S+)?", r"description .+|ip address \S+|shutdown|ip ospf .+",
            "interfaces: description, IPv4 addresses, admin state, OSPF settings"),
    Managed(r"router ospf", r".+", "OSPF of the default VRF (ospf intents)", whole=True),
    Managed(r"router bgp \d+", r".+", "BGP of the default VRF, with its address families (bgp intents)",
            whole=True),
    Managed(r"ip prefix-list netorch_[\w-]+ seq \d+ .+", None, "prefix lists netorch writes (netorch_...)"),
    Managed(r"route-map netorch_[\w-]+ (permit|deny) \d+", r".+", "route maps netorch writes (netorch_...)",
            whole=True),
)

#: the managed scope per platform; platforms not listed are refused by the netmiko transport
#: (a full replace of a real IOS config against a template that renders a fraction of it
#: would negate everything else)
MANAGED: dict[str, tuple[Managed, ...]] = {Platform.FRR.value: FRR_MANAGED}


class FrrDriver(HConfigDriverGeneric):
    """hier_config driver for FRR's `show running-config` (see the module docstring)."""

    @staticmethod
    def _instantiate_rules() -> HConfigDriverRules:
        return HConfigDriverRules(
            indentation=1,
            per_line_sub=[
                PerLineSubRule(search=r"^Building configuration.*", replace=""),
                PerLineSubRule(search=r"^Current configuration.*", replace=""),
                PerLineSubRule(search=r"^\s*!.*", replace=""),
                PerLineSubRule(search=r"^\s*end\s*$", replace=""),
                PerLineSubRule(search=r"^\s*exit(-[a-z-]+)?\s*$", replace=""),
            ],
            sectional_exiting=[
                SectionalExitingRule(match_rules=(MatchRule(startswith=start),), exit_text=exit_text,
                                     exit_text_parent_level=True)
                for start, exit_text in SECTION_EXIT.items()
            ] + [SectionalExitingRule(match_rules=(_BGP, _AF), exit_text="exit-address-family",
                                      exit_text_parent_level=True)],
            idempotent_commands=[
                IdempotentCommandsRule(match_rules=(MatchRule(startswith="hostname "),)),
                IdempotentCommandsRule(match_rules=(MatchRule(re_search=r"^(no )?ip forwarding$"),)),
                IdempotentCommandsRule(match_rules=(MatchRule(re_search=r"^(no )?ipv6 forwarding$"),)),
                IdempotentCommandsRule(match_rules=(MatchRule(startswith="interface "),
                                                    MatchRule(startswith="description "))),
                *(IdempotentCommandsRule(match_rules=(*section, MatchRule(re_search=line)))
                  for section, line in SINGLE_VALUED),
            ],
            negation_sub=[  # FRR refuses `no description TEXT`: only `no description` works
                NegationSubRule(match_rules=(MatchRule(startswith="interface "), MatchRule(startswith="description ")),
                                search=r"^no description .*$", replace="no description"),
            ],
        )

    @staticmethod
    def config_preprocessor(config_text: str) -> str:
        # hier_config's loader treats `banner ...` as a multi-line banner and would swallow
        # the lines after it; FRR banners are one line and unmanaged
        return "\n".join(line for line in config_text.splitlines() if not line.startswith("banner "))


_DRIVERS: dict[str, Callable[[], HConfigDriverBase]] = {Platform.FRR.value: FrrDriver}


def managed_scope(platform: str) -> tuple[Managed, ...]:
    try:
        return MANAGED[platform]
    except KeyError:
        raise NetorchError(f"the netmiko transport has no managed scope for platform {platform!r} "
                           f"(supported: {', '.join(sorted(MANAGED))})") from None


def config_artifact(platform: str) -> str:
    """The filename of the platform's artifact of kind "config" (frr.conf for frr)."""
    try:
        pspec = PLATFORMS[Platform(platform)]
    except ValueError:
        raise NetorchError(f"unknown platform {platform!r}") from None
    return next(a.filename for a in pspec.artifacts if a.kind == "config")


# ------------------------------------------------------------------------ pure functions


def strip_header(running: str) -> str:
    """`show running-config` without its "Building configuration..." header."""
    return HEADER_RE.sub("", running, count=1)


def parse(text: str, platform: str = "frr", *, ignore_interfaces: Iterable[str] = ()) -> HConfig:
    """The managed part of a configuration text as a hier_config tree.

    Unmanaged lines are dropped, and so are managed interface and vrf sections left without a
    managed child (FRR prints or forgets them at will); a whole section stays even when empty
    (`route-map X permit 1000` with no line is the route-map's permit-everything-else entry)."""
    scope = managed_scope(platform)
    try:
        tree = get_hconfig(_DRIVERS[platform](), strip_header(text))
    except DuplicateChildError as exc:
        raise NetorchError(f"configuration text has a duplicate section: {exc}") from None
    ignored = {f"interface {name}" for name in ignore_interfaces if name}
    for child in tuple(tree.children):
        kind = next((m for m in scope if m.matches(child.text)), None)
        if kind is None or " ".join(child.text.split()[:2]) in ignored:
            child.delete()
            continue
        for sub in tuple(child.children):
            if not kind.child_matches(sub.text):
                sub.delete()
            elif not kind.whole:
                for grandchild in tuple(sub.children):
                    grandchild.delete()
        if kind.children is not None and not kind.whole and not child.children:
            child.delete()
    return tree


def _is_section(platform: str, text: str) -> bool:
    """A section that is emptied line by line rather than removed whole."""
    return any(m.children is not None and not m.whole and m.matches(text) for m in managed_scope(platform))


def _aligned(running: HConfig, desired: HConfig, platform: str) -> None:
    """Give each tree an (empty) copy of the other's managed sections, so that a section
    to be removed is emptied line by line (`interface X` + ` no ip address ...`)
    rather than deleted whole (`no interface X` is refused by FRR)."""
    for a, b in ((running, desired), (desired, running)):
        for child in a.children:
            if _is_section(platform, child.text) and child.text not in b.children:
                b.add_child(child.text)


def _owned(running: HConfig, desired: HConfig, desired_text: str) -> None:
    """Ownership as netorch.model.ownership states it: an interface or VRF block the desired config does
    not render is not netorch's (an interface outside the inventory, a VRF an operator made), unless
    the device's ownership (the artifact's header) widens interfaces or VRFs to all."""
    own = Ownership.from_artifact(desired_text)
    # the sections the template renders, even those with no managed line left (parse drops them)
    rendered = {" ".join(line.split()) for line in desired_text.splitlines() if line.startswith(("interface ", "vrf "))}
    for child in tuple(running.children):
        if desired.children.get(child.text) is not None or child.text in rendered:
            continue
        foreign_interface = child.text.startswith("interface ") and own.interfaces != "all"
        foreign_vrf = child.text.startswith("vrf ") and own.vrfs != "all" and own.static_routes != "all"
        if foreign_interface or foreign_vrf:
            child.delete()


def _trees(running: str, desired: str, platform: str, ignore_interfaces: Iterable[str],
           owned: bool = True) -> tuple[HConfig, HConfig]:
    """Both texts' managed parts; with owned, desired is what netorch renders, and what it does
    not own is left out of running (without: back to an earlier config, rendered or not)."""
    ignore = tuple(ignore_interfaces)
    r = parse(running, platform, ignore_interfaces=ignore)
    d = parse(desired, platform, ignore_interfaces=ignore)
    if owned:
        _owned(r, d, desired)
    _aligned(r, d, platform)
    return r, d


def _removed_neighbors(tree: HConfig) -> None:
    """A BGP neighbour that goes away is removed with one `no neighbor X` (FRR deletes the whole
    neighbour with its first `no neighbor X remote-as N`; any `no neighbor X ...` after that
    is refused)."""
    for section in tree.children:
        if not section.text.startswith("router bgp "):
            continue
        gone = {m.group(1) for c in section.children
                if c.text.startswith("no ") and " remote-as " in c.text
                and (m := NEIGHBOR_RE.match(c.text.removeprefix("no "))) is not None}
        for address in gone:
            for child in tuple(section.all_children()):
                if child.text.startswith(f"no neighbor {address} remote-as "):
                    child.text = f"no neighbor {address}"
                elif child.text.startswith(f"no neighbor {address} "):
                    child.delete()


def _lines(tree: HConfig) -> list[str]:
    """The lines of a remediation tree, every `no ...` line first (so that an address or a
    route can move between sections in one change), each section left with its exit."""
    _removed_neighbors(tree)
    removals, additions = HConfig(tree.driver), HConfig(tree.driver)
    for leaf in tree.all_children_sorted():
        if not leaf.children:
            phase = removals if leaf.text.startswith(tree.driver.negation_prefix) else additions
            phase.add_children_deep(leaf.path())
    return [*removals.lines(sectional_exiting=True), *additions.lines(sectional_exiting=True)]


@dataclass(frozen=True)
class Plan:
    """What it takes to go from a running to a desired configuration, and back."""

    remediation: list[str]
    rollback: list[str]
    diff: str


def plan(running: str, desired: str, platform: str = "frr", *, ignore_interfaces: Iterable[str] = ()) -> Plan:
    """Remediation, rollback and readable diff from one parse of each text."""
    r, d = _trees(running, desired, platform, ignore_interfaces)
    return Plan(_lines(r.config_to_get_to(d).set_order_weight()),
                _lines(d.config_to_get_to(r).set_order_weight()),
                "\n".join(_diff_tree(r, d, 0)))


def remediation(running: str, desired: str, platform: str = "frr", *,
                ignore_interfaces: Iterable[str] = (), owned: bool = True) -> list[str]:
    """The configuration lines that bring `running` to `desired` (managed part only),
    with section exits, ready to send in configuration mode; [] when they already agree.
    owned=False when desired is an earlier config rather than what netorch renders."""
    r, d = _trees(running, desired, platform, ignore_interfaces, owned)
    return _lines(r.config_to_get_to(d).set_order_weight())


def rollback_lines(running: str, desired: str, platform: str = "frr", *,
                   ignore_interfaces: Iterable[str] = ()) -> list[str]:
    """The lines that bring a device from `desired` back to `running` (after a commit)."""
    return remediation(desired, running, platform, ignore_interfaces=ignore_interfaces, owned=False)


def _only_in(a: HConfig | HConfigChild, b: HConfig | HConfigChild) -> Iterator[str]:
    """Paths of the leaf lines of a that b lacks. (hier_config's own difference() skips
    `no ...` lines, but `no ipv6 forwarding` is a managed setting here.)"""
    for child in a.children:
        other = b.children.get(child.text)
        if other is None:
            leaves = [c for c in child.all_children() if not c.children] or [child]
            yield from (PATH_SEP.join(c.path()) for c in leaves)
        else:
            yield from _only_in(child, other)


def structured_diff(running: str, desired: str, platform: str = "frr", *,
                    ignore_interfaces: Iterable[str] = ()) -> list[tuple[str, str]]:
    """The managed differences by meaning, as ("missing", path) for lines of desired that
    running lacks and ("unexpected", path) for lines of running that desired lacks; a path
    is the line with its parent lines, joined by " > " ("interface eth1 > description x")."""
    ignore = tuple(ignore_interfaces)
    r = parse(running, platform, ignore_interfaces=ignore)
    d = parse(desired, platform, ignore_interfaces=ignore)
    _owned(r, d, desired)
    return [("missing", p) for p in _only_in(d, r)] + [("unexpected", p) for p in _only_in(r, d)]


def same_meaning(a: str, b: str, platform: str = "frr", *, ignore_interfaces: Iterable[str] = ()) -> bool:
    """True when two configuration texts agree on everything managed (order, `!`, `exit`
    lines and unmanaged lines aside)."""
    return not structured_diff(a, b, platform, ignore_interfaces=ignore_interfaces)


def _diff_tree(running: HConfig | HConfigChild, desired: HConfig | HConfigChild, depth: int) -> list[str]:
    pad = " " * depth
    out: list[str] = []
    for child in running.children:
        other = desired.children.get(child.text)
        if other is None:
            out.append(f"- {pad}{child.text}")
            out.extend(f"- {' ' * (depth + c.depth() - child.depth())}{c.text}" for c in child.all_children())
        else:
            sub = _diff_tree(child, other, depth + 1)
            if sub:
                out.append(f"  {pad}{child.text}")
                out.extend(sub)
    for child in desired.children:
        if child.text not in running.children:
            out.append(f"+ {pad}{child.text}")
            out.extend(f"+ {' ' * (depth + c.depth() - child.depth())}{c.text}" for c in child.all_children())
    return out


def readable_diff(running: str, desired: str, platform: str = "frr", *,
                  ignore_interfaces: Iterable[str] = ()) -> str:
    """'- line' for what goes, '+ line' for what comes, '  parent' for context; '' when none."""
    r, d = _trees(running, desired, platform, ignore_interfaces)
    return "\n".join(_diff_tree(r, d, 0))
