"""Compare configurations by meaning, not by text. Pure, no I/O.

FRR: `show running-config` is a list of top-level lines and blocks (`interface X`,
`vrf X`, `router ...`) whose children FRR may print in another order; lines that
netorch does not manage (`frr version`, `log ...`, comments) are ignored unless asked.

nftables: netorch owns one table; rules are compared per chain, in order (order is
meaning in a firewall), from the text `nft list table` prints.

Each difference is classified: missing (intended, absent), unexpected (present, not
intended, in a part netorch manages), changed (both present, different content).
"""

from __future__ import annotations

import contextlib
import difflib
import re
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, summarize_address_range
from typing import Literal

from netorch.ownership import FRR as FRR_OWN
from netorch.ownership import Ownership

Kind = Literal["missing", "unexpected", "changed", "interfering"]

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


@dataclass(frozen=True)
class Difference:
    kind: Kind
    path: tuple[str, ...]
    detail: str = ""

    def __str__(self) -> str:
        where = " / ".join(self.path)
        return f"{self.kind}: {where}" + (f" ({self.detail})" if self.detail else "")

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "path": list(self.path), "detail": self.detail}


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
                    or any(child.startswith(start) and self._renders(kind)
                           for start, kind in FRR_OWN.protocol_interface_children))
        return False

    def _renders(self, pattern: str) -> bool:
        return any(re.fullmatch(pattern, h) for h in self.want.blocks)

    def _protocol(self, header: str) -> bool:
        """A default-VRF protocol block of a kind netorch renders on this device."""
        return any(re.fullmatch(p, header) and self._renders(p) for p in FRR_OWN.protocol_blocks)


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


# -- nftables ---------------------------------------------------------------------------------
CHAIN_RE = re.compile(r"^\s*chain (\S+) \{\s*$")
OBJECT_RE = re.compile(r"^\s*(set|map|flowtable|counter|quota|limit|ct helper) (\S+) \{\s*$")
TABLE_RE = re.compile(r"^table (\S+) (\S+) \{\s*$")
HOOK_RE = re.compile(r"type (\S+) hook (\S+) (?:device \S+ )?priority ([^;]+);(?: policy (\S+);)?")


def parse_nft(text: str) -> dict[str, list[str]]:
    """chain name -> statements in order, from `nft list table` text (or netorch's rendering)."""
    return _parse_nft(text)[0]


def _parse_nft(text: str) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Chains (name -> statements in order) and named objects ("set NAME" -> lines) of one table."""
    chains: dict[str, list[str]] = {}
    objects: dict[str, list[str]] = {}
    current: list[str] | None = None
    depth = 0
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if depth == 0:
            m = CHAIN_RE.match(raw)
            o = OBJECT_RE.match(raw)
            if m:
                current = chains[m.group(1)] = []
                continue
            if o:
                current = objects[f"{o.group(1)} {o.group(2)}"] = []
                continue
        if line == "}" and depth == 0:
            current = None
            continue
        if current is not None:
            # elements of a set may span lines: keep them in one statement
            text = re.sub(r"\s+", " ", line)
            if depth > 0 and current:
                current[-1] += " " + text
            else:
                current.append(text)
            depth = max(depth + line.count("{") - line.count("}"), 0)
    return chains, objects


SET_RE = re.compile(r"\{ ([^{}]*) \}")


def _interval(element: str) -> tuple[str, int, int] | None:
    """An element of an nft set as (kind, first, last): an address, prefix or address range, or
    a number or number range (ports); None for anything else."""
    first, _, last = element.partition("-")
    with contextlib.suppress(ValueError):
        if first.isdigit() and (not last or last.isdigit()):
            return "n", int(first), int(last or first)
        if last:
            return "a", int(IPv4Address(first)), int(IPv4Address(last))
        net = IPv4Network(first)
        return "a", int(net.network_address), int(net.broadcast_address)
    return None


def _canonical_set(match: re.Match[str]) -> str:
    """A set's elements as merged, sorted intervals: nft merges adjacent and overlapping
    elements of an interval set when it lists them (10.64.2.0/24, 10.64.3.0/24 come back as
    10.64.2.0-10.64.3.255), so a comparison by meaning compares the merged form."""
    parsed = [_interval(e.strip()) for e in match.group(1).split(",")]
    if not parsed or any(p is None for p in parsed) or len({p[0] for p in parsed if p}) != 1:
        return match.group(0)
    merged: list[list[int]] = []
    for _, lo, hi in sorted(p for p in parsed if p):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    if parsed[0] and parsed[0][0] == "n":
        return "{ " + ", ".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in merged) + " }"
    out = []
    for lo, hi in merged:
        nets = list(summarize_address_range(IPv4Address(lo), IPv4Address(hi)))
        out.append(str(nets[0]) if len(nets) == 1 else f"{IPv4Address(lo)}-{IPv4Address(hi)}")
    return "{ " + ", ".join(out) + " }"


def _canonical(parsed: dict[str, list[str]]) -> dict[str, list[str]]:
    return {name: [SET_RE.sub(_canonical_set, stmt) for stmt in stmts] for name, stmts in parsed.items()}


def diff_nft(running: str | None, desired: str | None) -> list[Difference]:
    """Per chain, in order (order is meaning in a firewall): a rule that moved is `changed` with
    its running and intended position; named sets and maps netorch did not write are
    `interfering` (a rule can match them), changed ones `changed`. Sets compare by their
    elements' meaning (see _canonical_set)."""
    have_chains, have_objects = _parse_nft(running or "")
    want_chains, want_objects = _parse_nft(desired or "")
    have, want = _canonical(have_chains), _canonical(want_chains)
    out: list[Difference] = []
    for chain in sorted(set(want) | set(have)):
        if chain not in have:
            # a missing chain (or table) is shown with what it should hold
            out += [Difference("missing", (f"chain {chain}", stmt)) for stmt in want[chain]]
            if not want[chain]:
                out.append(Difference("missing", (f"chain {chain}",)))
            continue
        if chain not in want:
            out.append(Difference("unexpected", (f"chain {chain}",), f"{len(have[chain])} statement(s)"))
            continue
        if have[chain] != want[chain]:
            out += _chain_diff(chain, have[chain], want[chain])
    for name in sorted(set(want_objects) | set(have_objects)):
        if name not in have_objects:
            out.append(Difference("missing", (name,), "; ".join(want_objects[name])))
        elif name not in want_objects:
            out.append(Difference("interfering", (name,), "in table inet netorch, not written by netorch: "
                                  + "; ".join(have_objects[name])))
        elif _canonical(have_objects)[name] != _canonical(want_objects)[name]:
            out.append(Difference("changed", (name,), "running: " + "; ".join(have_objects[name])))
    return out


def _chain_diff(chain: str, have: list[str], want: list[str]) -> list[Difference]:
    where = f"chain {chain}"
    gone: list[tuple[int, str]] = []
    extra: list[tuple[int, str]] = []
    matcher = difflib.SequenceMatcher(a=have, b=want, autojunk=False)
    for op, a1, a2, b1, b2 in matcher.get_opcodes():
        if op in ("delete", "replace"):
            extra += [(i, have[i]) for i in range(a1, a2)]
        if op in ("insert", "replace"):
            gone += [(j, want[j]) for j in range(b1, b2)]
    moved = {s for _, s in extra} & {s for _, s in gone}
    out: list[Difference] = []
    for i, stmt in extra:
        if stmt in moved:
            j = next(j for j, s in gone if s == stmt)
            out.append(Difference("changed", (where, stmt), f"moved: rule {i + 1} of {len(have)} running, "
                                  f"rule {j + 1} of {len(want)} intended"))
        else:
            out.append(Difference("unexpected", (where, stmt)))
    out += [Difference("missing", (where, stmt)) for _, stmt in gone if stmt not in moved]
    return out


@dataclass(frozen=True)
class NftChain:
    table: str  # "inet filter"
    name: str
    hook: str | None
    priority: str
    policy: str
    rules: tuple[str, ...]


def parse_ruleset(text: str) -> list[NftChain]:
    """The chains of every table of `nft list ruleset`."""
    out: list[NftChain] = []
    table: str | None = None
    body: list[str] = []
    for raw in text.splitlines():
        m = TABLE_RE.match(raw)
        if m:
            table, body = f"{m.group(1)} {m.group(2)}", []
            continue
        if raw.startswith("}") and table is not None:
            chains, _ = _parse_nft("\n".join(body))
            for name, stmts in chains.items():
                hook = next((HOOK_RE.search(s) for s in stmts if HOOK_RE.search(s)), None)
                rules = tuple(s for s in stmts if not HOOK_RE.search(s))
                out.append(NftChain(table, name, hook.group(2) if hook else None,
                                    hook.group(3).strip() if hook else "", (hook.group(4) or "accept") if hook else "",
                                    rules))
            table = None
            continue
        if table is not None:
            body.append(raw)
    return out


ADDR_RE = re.compile(r"\bip (saddr|daddr) (!= )?(\{[^}]*\}|\S+)")


def nft_interference(ruleset: str, own_table: str, carried: list[IPv4Network],
                     hooks: tuple[str, ...], owned_all: bool = False) -> list[Difference]:
    """Base chains of tables other than netorch's that can drop traffic netorch's intents carry:
    a drop (or reject) rule whose addresses overlap the carried prefixes, or a drop policy, at a
    hook forwarded packets cross. An accept there changes nothing (it ends only its own base
    chain; netorch's chain still sees the packet), so it does not count. With owned_all (the
    operator owns every table) a foreign table is `unexpected` instead, and a commit removes it."""
    out: list[Difference] = []
    seen: set[str] = set()
    for chain in parse_ruleset(ruleset):
        if chain.table == own_table:
            continue
        if owned_all:
            if chain.table not in seen:
                seen.add(chain.table)
                out.append(Difference("unexpected", (f"table {chain.table}",), "not netorch's table"))
            continue
        if chain.hook not in hooks:
            continue
        where = (f"table {chain.table}", f"chain {chain.name}")
        for rule in chain.rules:
            if re.search(r"\b(drop|reject)\b", rule.split(" comment ")[0]) and _overlaps(rule, carried):
                out.append(Difference("interfering", (*where, rule),
                                      f"hook {chain.hook} priority {chain.priority}: drops traffic the intents carry"))
        if chain.policy == "drop":
            out.append(Difference("interfering", (*where, "policy drop"),
                                  f"hook {chain.hook} priority {chain.priority}: drops what no rule accepts"))
    return out


def _overlaps(rule: str, carried: list[IPv4Network]) -> bool:
    for _, negated, value in ADDR_RE.findall(rule):
        if negated:
            continue
        nets = []
        for item in value.strip("{} ").split(","):
            with contextlib.suppress(ValueError):
                nets.append(IPv4Network(item.strip(), strict=False))
        if nets and not any(n.overlaps(c) for n in nets for c in carried):
            return False
    return True


def render_diffs(diffs: list[Difference]) -> str:
    """A readable diff: '+' what is missing, '-' what is unexpected, '~' what changed."""
    lines = []
    last_parent: tuple[str, ...] = ()
    for d in diffs:
        sign = {"missing": "+", "unexpected": "-", "changed": "~", "interfering": "!"}[d.kind]
        if len(d.path) > 1:
            if d.path[:-1] != last_parent:
                lines.append(f"  {' / '.join(d.path[:-1])}")
                last_parent = d.path[:-1]
            lines.append(f"{sign}   {d.path[-1]}")
        else:
            last_parent = ()
            extra = f"    ({d.detail})" if d.detail else ""
            lines.append(f"{sign} {d.path[0]}{extra}")
    return "\n".join(lines)
