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

import difflib
import re
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["missing", "unexpected", "changed"]

# Top-level FRR lines netorch never renders and never manages.
FRR_UNMANAGED = (
    re.compile(r"^frr version "),
    re.compile(r"^frr defaults "),
    re.compile(r"^log "),
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


def diff_frr(running: str, desired: str, ignore_interfaces: tuple[str, ...] = ()) -> list[Difference]:
    """Differences by meaning; interfaces in ignore_interfaces (the management interface) are
    not netorch's and never count."""
    have, want = parse_frr(running), parse_frr(desired)
    out: list[Difference] = []
    have_leaves, want_leaves = set(have.leaves), set(want.leaves)
    single = {"hostname"}
    for line in sorted(want_leaves - have_leaves):
        word = line.split(" ", 1)[0]
        other = next((h for h in have.leaves if h.split(" ", 1)[0] == word and word in single), None)
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
        if header.startswith("interface ") and header.split(" ", 1)[1] in ignore_interfaces:
            continue
        if header not in have.blocks:
            out.append(Difference("missing", (header,), f"{len(want.blocks[header])} line(s)"))
            out += [Difference("missing", (header, c)) for c in want.blocks[header]]
            continue
        if header not in want.blocks:
            if header.startswith("interface "):
                if header.split(" ", 1)[1] in ignore_interfaces:
                    continue  # the management interface: not netorch's
                # an interface cannot be removed: what is configured on it is unexpected
                out += [Difference("unexpected", (header, c)) for c in have.blocks[header]]
                continue
            out.append(Difference("unexpected", (header,), f"{len(have.blocks[header])} line(s)"))
            continue
        h, w = set(have.blocks[header]), set(want.blocks[header])
        for child in sorted(w - h):
            out.append(Difference("missing", (header, child)))
        for child in sorted(h - w):
            out.append(Difference("unexpected", (header, child)))
    return out


def frr_remediation(diffs: list[Difference]) -> list[str]:
    """vtysh configuration commands that bring the running config to the desired one.

    FRR specifics: `description` is single-valued (setting one replaces the other, and only a
    bare `no description` removes it); an interface block cannot be removed (`no interface X`
    is refused for a kernel interface), so its lines are removed one by one; inside a block,
    removals come before additions (an address can move)."""
    lines: list[str] = []
    removals: dict[str, list[str]] = {}
    additions: dict[str, list[str]] = {}
    for d in diffs:
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
            header, child = d.path
            target = additions if d.kind == "missing" else removals
            target.setdefault(header, []).append(child)
    for header in [*removals, *(h for h in additions if h not in removals)]:
        adding = additions.get(header, [])
        sets_description = any(c.startswith("description ") for c in adding)
        children = []
        for child in removals.get(header, []):
            if child.startswith("description "):
                if not sets_description:
                    children.append("no description")
            else:
                children.append(_negate(child))
        children += adding
        lines.append(header)
        lines += [f" {c}" for c in children]
        lines.append("exit-vrf" if header.startswith("vrf ") else "exit")
    return lines


def _negate(line: str) -> str:
    return line[3:] if line.startswith("no ") else f"no {line}"


# -- nftables ---------------------------------------------------------------------------------
CHAIN_RE = re.compile(r"^\s*chain (\S+) \{\s*$")


def parse_nft(text: str) -> dict[str, list[str]]:
    """chain name -> statements in order, from `nft list table` text (or netorch's rendering)."""
    chains: dict[str, list[str]] = {}
    current: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = CHAIN_RE.match(raw)
        if m:
            current = m.group(1)
            chains[current] = []
            continue
        if line == "}":
            current = None
            continue
        if current is not None:
            chains[current].append(re.sub(r"\s+", " ", line))
    return chains


def diff_nft(running: str | None, desired: str | None) -> list[Difference]:
    have = parse_nft(running or "")
    want = parse_nft(desired or "")
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
        if have[chain] == want[chain]:
            continue
        matcher = difflib.SequenceMatcher(a=have[chain], b=want[chain], autojunk=False)
        for op, a1, a2, b1, b2 in matcher.get_opcodes():
            if op == "equal":
                continue
            if op in ("delete", "replace"):
                out += [Difference("unexpected", (f"chain {chain}", s)) for s in have[chain][a1:a2]]
            if op in ("insert", "replace"):
                out += [Difference("missing", (f"chain {chain}", s)) for s in want[chain][b1:b2]]
    return out


def render_diffs(diffs: list[Difference]) -> str:
    """A readable diff: '+' what is missing, '-' what is unexpected, '~' what changed."""
    lines = []
    last_parent: tuple[str, ...] = ()
    for d in diffs:
        sign = {"missing": "+", "unexpected": "-", "changed": "~"}[d.kind]
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
