"""DeviceSession over netmiko: CLI-only devices, pushed as a merge of computed lines.

The desired configuration is the platform's artifact of kind "config" (frr.conf for
FRR); the live configuration is `show running-config`. hier_config computes, from
the two, the *remediation* (the lines that bring running to desired, including
`no ...` lines for managed lines that must go: replace semantics, pushed as a merge)
and the *rollback* (the lines that bring it back). netorch emulates confirmed
commits from the controller (native_confirm = False): commit(revert_in=N) pushes
and verifies but does not `write memory`; confirm() writes, rollback() restores.

Only the part of the configuration that netorch manages counts: see MANAGED (a
documented list per platform). Everything else on the device (`frr version`,
`frr defaults`, `log ...`, `line vty`, routing protocols, `!` comments, ...) is
neither diffed nor touched. The pure functions (remediation, rollback_lines,
structured_diff, same_meaning, readable_diff, route_checks_from_rib, cli_errors)
need no device: drift detection and tests use them directly.

hier_config (3.x) has no FRR driver. FrrDriver derives from its *generic* driver,
not from cisco_ios: IOS rules are wrong for FRR (an interface holds several
`ip address` lines in FRR, so `ip address` must not be idempotent; IOS drops `no ip
address`, handles ACL sequence numbers and `exit-address-family`, ...). FrrDriver
adds what FRR needs: `!` separators, `end`, `exit` and `exit-vrf` lines are syntax,
not configuration; sections are left with `exit` (interface) and `exit-vrf` (vrf);
`hostname`, `[no] ip[v6] forwarding` and an interface's `description` are single
valued (a new value replaces the old one, no `no` line needed); a description is
removed with a bare `no description`.

FRR quirks found on FRR 8.4 through a vtysh login shell (netmiko device_type
cisco_ios):
- vtysh keeps going after a rejected line: the lines after it are applied. Errors
  are lines starting with "% " ("% Unknown command: ...", "% Command incomplete: ...",
  "% Refusing to remove a non-existent route", or "% Configuration failed." followed
  by "Error type" / "Error description" lines). "% Warning..." is not an error.
- `ip route P WORD` accepts any word as an interface name: `ip route 10.99.0.0/24
  not-an-address` (or `... 10.0.13.1 300`, `... 999.0.0.1`) is *accepted*; a
  malformed prefix or extra words (`... not an address`) are rejected.
- `no description TEXT` is refused ("% Unknown command"): only `no description` works.
- `no interface X` is refused for an interface that exists in the kernel ("only
  inactive interfaces can be deleted"): an interface that must lose its managed
  lines is emptied line by line instead.
- A `vrf X` section disappears from the running config once its last route is gone,
  but zebra keeps the VRF ("show vrf": "inactive (configured)") until `no vrf X`.
- `write memory` prints "% Warning: can't chown configuration file" in the lab and
  still succeeds ("Integrated configuration saved to ...").
- Static routes whose next hop does not resolve are not in `show ip route json`.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import paramiko
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
from netmiko.exceptions import (
    NetmikoAuthenticationException,
    NetmikoBaseException,
    NetmikoTimeoutException,
    ReadTimeout,
)

from netorch.errors import DeviceRejected, DeviceUnreachable, NetorchError, TransportError
from netorch.model.desired import DesiredRoute
from netorch.ownership import Ownership
from netorch.platforms import PLATFORMS, Platform
from netorch.protocols.state import COMMANDS as PROTOCOL_COMMANDS
from netorch.protocols.state import ProtocolCheck, has_protocols, parse_state, protocol_checks
from netorch.transport.base import DeviceJob, DeviceSession, RouteCheck
from netorch.transport.hostkeys import KnownHosts, verifying_client

#: the Nornir connection plugin this module registers (nornir_netmiko's "netmiko" + host key checking)
CONNECTION_NAME = "netorch_netmiko"

_T = TypeVar("_T")

HEADER_RE = re.compile(r"\A\s*(Building configuration\.\.\.\s*\n)?\s*(Current configuration:[^\n]*\n)?")
#: a CLI prompt echoing a command: "r3(config-if)# description x" -> "description x"
PROMPT_RE = re.compile(r"^[^\s#%()]+(?:\([\w.-]+\))?#\s?(.*)$")
ERROR_PREFIX = "% "
WRITE_OK_RE = re.compile(r"\[OK\]|[Cc]onfiguration saved to|saved to ")
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


#: What netorch manages on an FRR router: exactly what templates/frr/frr.conf.j2 renders.
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
    """Ownership as netorch.ownership states it: an interface or VRF block the desired config does
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


def cli_errors(output: str) -> list[tuple[str, str]]:
    """(command, error text) for every line a CLI rejected in a configuration session's
    output (the echo "r3(config)# cmd" names the command; "% ..." lines and the lines
    after them up to the next prompt are the error). "% Warning..." is not an error."""
    errors: list[tuple[str, str]] = []
    command = ""
    current: list[str] | None = None

    def close() -> None:
        if current:
            errors.append((command, " ".join(part for part in current if part)))

    for raw in output.splitlines():
        line = raw.strip()
        prompt = PROMPT_RE.match(line)
        if prompt:
            close()
            current = None
            command = prompt.group(1).strip()
        elif line.startswith(ERROR_PREFIX.strip()) and not line.startswith("% Warning"):
            close()
            current = [line]
        elif current is not None:
            current.append(line)
    close()
    return errors


def route_checks_from_rib(routes: Iterable[DesiredRoute], tables: dict[str, dict[str, Any]]) -> list[RouteCheck]:
    """Match intended routes against FRR `show ip route [vrf NAME] json` tables, keyed by VRF
    name ("" for the default VRF). present: a static entry with the prefix, next hop,
    interface and distance exists; active: that entry is selected and installed with an
    active next hop."""
    out = []
    for route in routes:
        table = tables.get(route.vrf or "", {})
        entries = [e for e in table.get(str(route.prefix), [])
                   if e.get("protocol") == "static" and int(e.get("distance", route.distance)) == route.distance]
        present = active = False
        for entry in entries:
            hops = [h for h in entry.get("nexthops", [])
                    if (route.next_hop is None or h.get("ip") == str(route.next_hop))
                    and (route.interface is None or h.get("interfaceName") == route.interface)]
            if hops:
                present = True
                if entry.get("selected") and entry.get("installed") and any(h.get("active") for h in hops):
                    active = True
        via = f"{route.next_hop or ''} {route.interface or ''}".strip()
        where = f" (vrf {route.vrf})" if route.vrf else ""
        detail = ("" if active else
                  f"static route {route.prefix} via {via}{where} is in the RIB but not active" if present else
                  f"static route {route.prefix} via {via}{where} is not in the RIB")
        out.append(RouteCheck(route=route, present=present, active=active, detail=detail))
    return out


# ------------------------------------------------------------------------ errors and connections


def describe_error(exc: BaseException, where: str = "") -> str:
    """A short, secret-free description of a netmiko/paramiko/socket failure."""
    at = f" {where}" if where else ""
    if isinstance(exc, (NetmikoAuthenticationException, paramiko.AuthenticationException)):
        return f"authentication failed{at}"
    if isinstance(exc, ReadTimeout):
        return f"no answer from the device{at} within the read timeout"
    if isinstance(exc, (NetmikoTimeoutException, socket.timeout, TimeoutError)):
        return f"timed out{at} (unreachable or not answering)"
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused{at}"
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"network error{at}: {exc.strerror or exc}"
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    return f"{type(exc).__name__}{at}: {first}" if first else f"{type(exc).__name__}{at}"


def _scrub(text: str, secret: object) -> str:
    return text.replace(secret, "***") if isinstance(secret, str) and len(secret) >= 4 else text


#: what counts as "the device cannot be reached/talked to" during a session
UNREACHABLE = (NetmikoBaseException, paramiko.SSHException, socket.timeout, OSError, EOFError)


def open_netmiko(args: dict[str, Any], known: KnownHosts) -> Any:
    """ConnectHandler(**args), its SSH client checking the host key against `known` (before any
    credential is sent: HostKeyRejected) instead of netmiko's AutoAddPolicy / RejectPolicy."""
    from netmiko import ConnectHandler

    conn = ConnectHandler(**{**args, "auto_connect": False})
    conn._build_ssh_client = lambda: verifying_client(known)  # type: ignore[method-assign]
    try:
        conn._open()
    except BaseException:
        with contextlib.suppress(Exception):
            conn.disconnect()  # closes the SSH client, drops netmiko's log filter
        raise
    return conn


def connect(host: str, hostname: str, username: str, password: str | None = None, *, port: int = 22,
            device_type: str = "cisco_ios", timeout: float = 30, key_file: str | None = None,
            known_hosts: str | None = None, accept_new_host_keys: bool = False, **extras: Any) -> Any:
    """Open a netmiko connection (outside Nornir: tests, tools); connect/auth/timeout
    failures raise DeviceUnreachable naming host, address and user, never the password.
    The host key is checked against known_hosts (default ~/.ssh/known_hosts): HostKeyRejected."""
    args: dict[str, Any] = {"device_type": device_type, "host": hostname, "port": port, "username": username,
                            "fast_cli": True, "conn_timeout": timeout, "auth_timeout": timeout,
                            "banner_timeout": timeout, "session_log": None}
    if password:
        args.update(password=password, use_keys=False, allow_agent=False)
    elif key_file:
        args.update(use_keys=True, key_file=key_file, allow_agent=False)
    args.update(extras)
    try:
        return open_netmiko(args, KnownHosts.of(known_hosts, accept_new_host_keys, host))
    except UNREACHABLE as exc:
        raise DeviceUnreachable(host, _scrub("cannot connect over netmiko: "
                                + describe_error(exc, f"for {username}@{hostname}:{port}"), password)) from None


class NetmikoConnection:
    """Nornir connection plugin "netorch_netmiko": nornir_netmiko's, with host key checking.

    extras: what ConnectHandler takes, plus known_hosts (default ~/.ssh/known_hosts),
    accept_new_host_keys (trust on first use) and netorch_host (the device's name in messages)."""

    def __init__(self) -> None:
        self.connection: Any = None

    def open(self, hostname: str | None, username: str | None, password: str | None, port: int | None,
             platform: str | None, extras: dict[str, Any] | None = None, configuration: Any = None) -> None:
        opts = dict(extras or {})
        known = KnownHosts.of(opts.pop("known_hosts", None), bool(opts.pop("accept_new_host_keys", False)),
                              str(opts.pop("netorch_host", None) or hostname or ""))
        args: dict[str, Any] = {"host": hostname, "username": username, "password": password, "port": port}
        if platform is not None:
            args["device_type"] = platform
        self.connection = open_netmiko({**args, **opts}, known)

    def close(self) -> None:
        conn, self.connection = self.connection, None
        if conn is not None:
            conn.disconnect()


def register() -> None:
    """Register NetmikoConnection with Nornir as "netorch_netmiko" (idempotent)."""
    from nornir.core.plugins.connections import ConnectionPluginRegister

    if ConnectionPluginRegister.available.get(CONNECTION_NAME) is not NetmikoConnection:
        ConnectionPluginRegister.register(CONNECTION_NAME, NetmikoConnection)


# ------------------------------------------------------------------------ the session


class NetmikoSession(DeviceSession):
    """A merge-only CLI device made transactional by computed remediation and rollback.

    Round trips: load = 1 (`show running-config`); commit = one send_config_set call
    (`configure terminal`, the remediation lines, `end`: one round trip each), 1 `show
    running-config` to verify, 1 `write memory` (none with revert_in). A rejected or
    ineffective push costs 2 more `show running-config` and the restoring config session."""

    connection_name = CONNECTION_NAME
    checks_commit = True
    native_confirm = False

    def __init__(self, host: str, connection: Any, job: DeviceJob) -> None:
        super().__init__(host, connection, job)
        self.read_timeout = float(job.options.get("read_timeout", 30))
        mgmt = job.desired.mgmt_interface
        self.ignore_interfaces: tuple[str, ...] = (mgmt,) if mgmt else ()
        self._before: str | None = None  # running config when loaded: what rollback restores
        self._desired: str | None = None
        self._remediation: list[str] = []
        self._rollback: list[str] = []
        self._diff = ""

    # -- plumbing ----------------------------------------------------------------------
    @property
    def remediation(self) -> list[str]:
        """The lines commit() will push (after load())."""
        return list(self._remediation)

    @property
    def rollback_lines(self) -> list[str]:
        """The lines that undo the remediation (after load())."""
        return list(self._rollback)

    def _io(self, what: str, fn: Callable[[], _T]) -> _T:
        try:
            return fn()
        except NetorchError:
            raise
        except UNREACHABLE as exc:
            raise DeviceUnreachable(self.host, self._scrubbed(f"{what}: {describe_error(exc)}")) from None
        except Exception as exc:  # e.g. netmiko's ValueError: never a library exception to the engine
            raise TransportError(self.host, self._scrubbed(f"{what}: {describe_error(exc)}")) from None

    def _scrubbed(self, text: str) -> str:
        return _scrub(text, getattr(self.connection, "password", None))

    def _send(self, command: str) -> str:
        # expect the enable prompt at the end of the output: netmiko's default (auto_find_prompt)
        # costs one extra round trip per command. \S* because cisco_ios cuts base_prompt at 16.
        prompt = rf"{re.escape(str(self.connection.base_prompt))}\S*#\s*$"
        return self._io(command, lambda: str(self.connection.send_command(
            command, expect_string=prompt, read_timeout=self.read_timeout, strip_prompt=True, strip_command=True)))

    def _show_running(self) -> str:
        out = self._send("show running-config")
        if out.lstrip().startswith(ERROR_PREFIX):
            raise TransportError(self.host, f"show running-config: {out.strip()}")
        return out

    def _leave_config_mode(self) -> None:
        with contextlib.suppress(Exception):
            if self.connection.check_config_mode():
                self.connection.exit_config_mode()

    def _push(self, lines: Sequence[str]) -> list[tuple[str, str]]:
        """Send lines in one configuration session (one send_config_set call, one round trip
        per line: `configure terminal` and `end` are sent as lines, which spares netmiko's
        four prompt checks around them); the (command, error) pairs the device rejected.
        After a failure the session leaves configuration mode explicitly."""
        if not lines:
            return []
        try:
            output = self._io("configure", lambda: str(self.connection.send_config_set(
                ["configure terminal", *lines, "end"], read_timeout=self.read_timeout, cmd_verify=True,
                enter_config_mode=False, exit_config_mode=False)))
        except NetorchError:
            self._leave_config_mode()
            raise
        if any(line.startswith("hostname ") for line in lines):
            self._io("prompt", self.connection.set_base_prompt)  # the prompt follows the hostname
        return cli_errors(output)

    def _write_memory(self) -> None:
        out = self._send("write memory")
        if not WRITE_OK_RE.search(out):
            raise TransportError(self.host, f"write memory failed: {' '.join(out.split())[:300]}")

    def _desired_text(self) -> str:
        name = config_artifact(self.job.platform)
        try:
            return self.job.artifacts[name]
        except KeyError:
            raise TransportError(self.host, f"the job has no {name} artifact") from None

    def _compute(self, running: str, desired: str, owned: bool = True) -> list[str]:
        try:
            return remediation(running, desired, self.job.platform, ignore_interfaces=self.ignore_interfaces,
                               owned=owned)
        except NetorchError as exc:
            raise TransportError(self.host, str(exc)) from None

    def _restore(self) -> list[str]:
        """Bring the device back to the configuration it had at load(): push the rollback
        lines for its actual state (read first: they are the stored rollback lines when it
        is as committed, fewer after a partly rejected push, and right even if someone
        changed it meanwhile), then verify. Returns what is still left ([] = done)."""
        assert self._before is not None
        left: list[str] = []
        for _attempt in range(2):
            left = self._compute(self._show_running(), self._before, owned=False)
            if not left:
                return []
            self._push(left)
        return self._compute(self._show_running(), self._before, owned=False)

    # -- DeviceSession -----------------------------------------------------------------
    def load(self) -> None:
        if self.job.platform not in MANAGED:
            raise TransportError(self.host, f"the netmiko transport does not manage platform {self.job.platform!r} "
                                 f"(supported: {', '.join(sorted(MANAGED))})")
        desired = self._desired_text()
        running = self._show_running()
        try:
            computed = plan(running, desired, self.job.platform, ignore_interfaces=self.ignore_interfaces)
        except NetorchError as exc:
            raise TransportError(self.host, str(exc)) from None
        self._remediation, self._rollback, self._diff = computed.remediation, computed.rollback, computed.diff
        self._before, self._desired = running, desired

    def diff(self) -> str:
        if self._desired is None:
            raise TransportError(self.host, "diff() before load()")
        return self._diff

    def commit(self, revert_in: int | None = None) -> None:
        if self._desired is None or self._before is None:
            raise TransportError(self.host, "commit() before load()")
        if not self._remediation:
            return
        errors = self._push(self._remediation)
        if errors:
            left = self._restore()
            rejected = "; ".join(f"{cmd!r}: {err}" if cmd else err for cmd, err in errors)
            raise DeviceRejected(self.host, f"the device rejected {len(errors)} line(s): {rejected}; "
                                 + self._restored_text(left))
        still = self._compute(self._show_running(), self._desired)
        if still:
            left = self._restore()
            raise DeviceRejected(self.host, "the configuration did not take, still to do: "
                                 + " | ".join(still) + "; " + self._restored_text(left))
        if not revert_in:
            self._write_memory()

    @staticmethod
    def _restored_text(left: list[str]) -> str:
        if not left:
            return "the previous configuration was restored"
        return "RESTORE INCOMPLETE, still differs by: " + " | ".join(left)

    def confirm(self) -> None:
        self._write_memory()

    def rollback(self) -> None:
        if self._before is None:
            raise TransportError(self.host, "rollback() before load()")
        left = self._restore()
        if left:
            raise TransportError(self.host, "rollback incomplete, still differs by: " + " | ".join(left))
        self._write_memory()

    def discard(self) -> None:
        self._desired = None
        self._remediation, self._rollback, self._diff = [], [], ""

    def before(self) -> dict[str, str]:
        return {config_artifact(self.job.platform): strip_header(self._before)} if self._before is not None else {}

    def journal_data(self) -> dict[str, Any]:
        """The managed part of the configuration from before the run: without a timer of its own,
        this device is brought back from the journal if the controller dies mid-transaction."""
        if self._before is None:
            return {}
        tree = parse(self._before, self.job.platform, ignore_interfaces=self.ignore_interfaces)
        return {"before": "\n".join(tree.lines()) + "\n"}

    def recover(self, data: dict[str, Any]) -> str:
        before = data.get("before")
        if not before:
            return "nothing to restore (no configuration recorded before the run)"
        self._before = str(before)
        left = self._restore()
        if left:
            raise TransportError(self.host, "recovery incomplete, still differs by: " + " | ".join(left))
        self._write_memory()
        return "restored the configuration from before the run"

    def live_config(self) -> dict[str, str]:
        return {config_artifact(self.job.platform): strip_header(self._show_running())}

    def check_routes(self) -> list[RouteCheck]:
        routes = self.job.desired.routes
        tables: dict[str, dict[str, Any]] = {}
        for vrf in sorted({r.vrf or "" for r in routes}):
            command = f"show ip route vrf {vrf} json" if vrf else "show ip route json"
            out = self._send(command).strip()
            try:
                data = json.loads(out) if out else {}
            except ValueError:
                raise TransportError(self.host, f"{command}: not JSON: {out[:200]}") from None
            tables[vrf] = data if isinstance(data, dict) else {}
        return route_checks_from_rib(routes, tables)

    def rib(self) -> dict[str, list[dict[str, Any]]] | None:
        if self.job.platform != Platform.FRR.value:
            return None  # `show ip route json` is FRR's (vtysh)
        from netorch.transport.napalm_frr.parse import route_table

        out = self._send("show ip route json")
        try:
            return route_table(out)
        except ValueError:
            raise TransportError(self.host, f"show ip route json: not JSON: {out.strip()[:200]}") from None

    def protocol_checks(self) -> list[ProtocolCheck]:
        if not has_protocols(self.job.desired):
            return []
        return protocol_checks(self.job.desired, parse_state([self._send(c) for c in PROTOCOL_COMMANDS]))
