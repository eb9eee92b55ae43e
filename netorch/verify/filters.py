"""Filter rules that no packet can reach (shadowed: warnings), and explicit deny rules that an
earlier allow shadows wholly or in part (failed promises: the deny does not hold for what the
allow takes first). Exhaustive: atoms with the same membership in every rule's sources (and
destinations) are one class, and every class pair is analysed over the whole service axis."""

from __future__ import annotations

from collections.abc import Iterator

from netorch.model.desired import DEFAULT_ORIGIN
from netorch.verify.headerspace import ALL_SERVICES, AtomSet, HeaderSpace, Services, sample_service
from netorch.verify.model import Filter, Kind, MatchRule, Network
from netorch.verify.report import Finding


def _classes(sets: list[AtomSet], total: int, prefer: set[int]) -> list[tuple[frozenset[int], int]]:
    """(rule indices whose set holds the atom, a representative atom: one of `prefer` where the
    class's first range has one near its start) per class of atoms, by a sweep over the ranges."""
    events: dict[int, list[tuple[int, int]]] = {0: []}
    anyone = frozenset(i for i, s in enumerate(sets) if s.any)
    for i, s in enumerate(sets):
        if s.any:
            continue
        for r in s.ranges:
            events.setdefault(r.first, []).append((i, 1))
            events.setdefault(r.last, []).append((i, -1))
    active: dict[int, int] = {}
    seen: dict[frozenset[int], int] = {}
    cuts = sorted(events)
    for k, pos in enumerate(cuts):
        if pos >= total:
            break
        for i, delta in events[pos]:
            active[i] = active.get(i, 0) + delta
            if active[i] == 0:
                del active[i]
        sig = frozenset(active) | anyone
        if sig not in seen:
            end = cuts[k + 1] if k + 1 < len(cuts) else total
            seen[sig] = next((a for a in range(pos, min(end, pos + 4)) if a in prefer), pos)
    return list(seen.items())


def _origin(rule: MatchRule) -> str:
    return rule.origin + (" (reply entry)" if rule.rule.reply else "")


def analyse(net: Network, flt: Filter, kinds: tuple[Kind, ...], prefer: set[int]) -> Iterator[Finding]:
    atoms = net.atoms
    total = len(atoms)
    reached: set[int] = set()
    applies: dict[int, list[int]] = {}  # rule -> earlier rules that took (part of) its region
    denied: dict[tuple[int, int], tuple[HeaderSpace, int, int, Services]] = {}
    for kind in kinds:
        rules = [r for r in flt.rules if not r.matches(kind).empty]
        if not rules:
            continue
        src = _classes([r.sources for r in rules], total, prefer)
        dst = _classes([r.destinations for r in rules], total, prefer)
        for s_sig, s_atom in src:
            for d_sig, d_atom in dst:
                both = sorted(s_sig & d_sig)
                remaining = ALL_SERVICES
                taken: list[tuple[Services, int]] = []
                for i in both:
                    rule = rules[i]
                    region = rule.matches(kind)
                    piece = remaining & region
                    if not piece.empty:
                        reached.add(rule.index)
                    covered = region - piece
                    if not covered.empty:
                        applies.setdefault(rule.index, []).extend(
                            rules[j].index for svc, j in taken if not (svc & covered).empty)
                    if (kind == "forward" and not rule.accept and rule.origin.startswith("rule:")
                            and not covered.empty):
                        for svc, j in taken:
                            over = svc & covered
                            if rules[j].accept and not over.empty:
                                key = (rule.index, rules[j].index)
                                have = denied.get(key)
                                hs = have[0] if have else HeaderSpace()
                                hs.add(s_atom, d_atom, over)
                                denied[key] = (hs, s_atom, d_atom, over) if have is None else (hs, *have[1:])
                    if not piece.empty:
                        taken.append((piece, i))
                    remaining = remaining - region
    by_index = {r.index: r for r in flt.rules}
    where = f"{flt.host} {flt.name} ({flt.interface} {flt.direction})"
    for (deny_i, allow_i), (hs, _s, _d, over) in sorted(denied.items()):
        deny, allow = by_index[deny_i], by_index[allow_i]
        point = sample_service(over)
        sample = hs.sample(atoms, prefer=(point,))
        wholly = deny.index not in reached
        yield Finding(
            "deny-shadowed", "fail", f"{deny.origin} shadowed by {_origin(allow)}",
            f"the deny is {'wholly' if wholly else 'partly'} shadowed by an earlier allow on {where}: "
            f"packets it should drop are accepted by rule #{allow.index + 1} before rule #{deny.index + 1}",
            packet=sample, path=(f"{flt.host}[{flt.interface} {flt.direction}]",),
            decided_by=f"{flt.host} {flt.name}: {_origin(allow)}", flows=hs.describe(atoms))
    for rule in flt.rules:
        if rule.index in reached or rule.origin.startswith(DEFAULT_ORIGIN):
            continue  # (a default entry netorch adds that the rules before it cover: nothing to say)
        earlier = sorted(set(applies.get(rule.index, [])))
        by = ", ".join(f"entry #{j + 1} ({_origin(by_index[j])})" for j in earlier) or "earlier entries"
        verb = "takes" if len(earlier) == 1 else "take"
        yield Finding("shadowed", "warning", f"{_origin(rule)} on {flt.host} {flt.name}",
                      f"{_origin(rule)} (entry #{rule.index + 1}) can match no packet: {by} {verb} "
                      "everything it matches", decided_by=by)


def filter_findings(net: Network, hosts: set[str] | None, prefer: set[int]) -> Iterator[Finding]:
    for host, router in sorted(net.routers.items()):
        if hosts is not None and host not in hosts:
            continue
        kinds: tuple[Kind, ...] = ("forward", "reply") if router.semantics.reply_rules else ("forward",)
        for flt in router.filters:
            yield from analyse(net, flt, kinds, prefer)
