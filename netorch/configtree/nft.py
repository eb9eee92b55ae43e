"""Compare nftables rulesets by meaning. Pure, no I/O.

netorch owns one table; rules are compared per chain, in order (order is meaning in a
firewall), from the text `nft list table` prints; set elements are compared as the
addresses and ports they cover. A foreign table that touches traffic the intents carry is
interference.
"""

from __future__ import annotations

import contextlib
import difflib
import re
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, summarize_address_range

from netorch.configtree.base import Difference

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
