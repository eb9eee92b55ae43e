"""Live protocol state against the intents: pure parsers of FRR's JSON and the checks apply's
verify phase and drift run. No I/O: the transports fetch the JSON, this module judges it.

Checks, each a ProtocolCheck:
- every intended OSPF adjacency (DesiredState.ospf.neighbors) is Full, on the intended interface;
- every intended BGP session (DesiredState.bgp.neighbors) is Established;
- every intended route (DesiredState.expected_routes) is there: for BGP, received from the
  intended peer (the best path's peer or next hop is the first intended next hop) and installed
  in the RIB; for OSPF, installed with the intended next hops (all of the equal-cost ones).

FRR's shapes (8.4, captured in tests/data/frr/): `show ip ospf neighbor json` nests the
neighbours (router id -> list) under "neighbors" (older releases put them at the top level);
`show bgp vrf all summary json` is VRF name -> {"ipv4Unicast": {"peers": {address: {...}}}}
(without `vrf all`: the "ipv4Unicast" object itself); `show bgp vrf all ipv4 json` is VRF name ->
{"routes": {prefix: [paths]}}; `show ip route [vrf NAME] json` is prefix -> [entries], a BGP route
learned over iBGP lists its recursive next hop and, flagged "resolver", the hop it resolves to.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any, Literal

from netorch.model.desired import DesiredState, ExpectedRoute

Problem = Literal["ospf_adjacency_down", "bgp_session_down", "prefix_missing", "wrong_next_hop"]

#: vtysh commands whose JSON the checks read, in order (one vtysh round trip)
COMMANDS = ("show ip ospf neighbor json", "show bgp vrf all summary json", "show bgp vrf all ipv4 json",
            "show ip route json")


@dataclass(frozen=True)
class ProtocolCheck:
    """The live state of one intended adjacency, session or route. problem is None when it holds."""

    kind: Literal["ospf_adjacency", "bgp_session", "route"]
    subject: str
    problem: Problem | None = None
    detail: str = ""
    peer: str = ""
    area: int | None = None
    prefix: str = ""
    vrf: str = ""

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class ProtocolState:
    """The parsed JSON documents; None where the daemon gave no (valid) answer."""

    ospf_neighbors: dict[str, Any] | None
    bgp_summary: dict[str, Any] | None
    bgp_routes: dict[str, Any] | None
    rib: dict[str, dict[str, Any]]
    """VRF name ("" for the default VRF) -> `show ip route json` of that VRF"""


def load_json(text: str) -> dict[str, Any] | None:
    """A vtysh JSON answer; None when it is empty or not JSON (the daemon is not running)."""
    try:
        value = json.loads(text)
    except (ValueError, TypeError):
        return None
    return value if isinstance(value, dict) else None


def parse_state(outputs: list[str]) -> ProtocolState:
    """ProtocolState from the outputs of COMMANDS, in that order."""
    ospf, summary, routes, rib = (load_json(t) for t in (outputs + [""] * 4)[:4])
    return ProtocolState(ospf, summary, routes, {"": rib or {}})


def ospf_neighbors(doc: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """router id -> adjacencies, from either shape of `show ip ospf neighbor json`."""
    inner = doc.get("neighbors", doc)
    return {rid: entries for rid, entries in inner.items() if isinstance(entries, list)}


def bgp_peers(doc: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """VRF name ("" for default) -> peer address -> summary entry, from either shape."""
    if "ipv4Unicast" in doc:
        doc = {"default": doc}
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for vrf, body in doc.items():
        if isinstance(body, dict):
            peers = body.get("ipv4Unicast", {}).get("peers", {})
            out["" if vrf == "default" else vrf] = peers if isinstance(peers, dict) else {}
    return out


def bgp_table(doc: dict[str, Any]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """VRF name ("" for default) -> prefix -> paths, from either shape of `show bgp ... ipv4 json`."""
    if "routes" in doc:
        doc = {"default": doc}
    return {("" if vrf == "default" else vrf): body.get("routes", {})
            for vrf, body in doc.items() if isinstance(body, dict)}


def _vrf_note(vrf: str | None) -> str:
    return f" (vrf {vrf})" if vrf else ""


def check_ospf(desired: DesiredState, state: ProtocolState) -> list[ProtocolCheck]:
    if desired.ospf is None:
        return []
    live = ospf_neighbors(state.ospf_neighbors) if state.ospf_neighbors is not None else None
    out = []
    for n in desired.ospf.neighbors:
        subject = f"ospf area {n.area} neighbour {n.peer} ({n.router_id}) on {n.interface}"
        fields: dict[str, Any] = {"kind": "ospf_adjacency", "subject": subject, "peer": n.peer, "area": n.area}
        if live is None:
            out.append(ProtocolCheck(**fields, problem="ospf_adjacency_down", detail="ospfd gives no state"))
            continue
        entries = live.get(str(n.router_id), [])
        here = [e for e in entries if str(e.get("ifaceName", "")).split(":", 1)[0] == n.interface]
        state_of = [str(e.get("nbrState", e.get("state", "?"))) for e in here]
        if any(s.startswith("Full") for s in state_of):
            out.append(ProtocolCheck(**fields))
        elif here:
            out.append(ProtocolCheck(**fields, problem="ospf_adjacency_down", detail=f"state {state_of[0]}"))
        elif entries:
            where = ", ".join(sorted({str(e.get("ifaceName", "?")).split(":", 1)[0] for e in entries}))
            out.append(ProtocolCheck(**fields, problem="ospf_adjacency_down",
                                     detail=f"seen on {where}, not on {n.interface}"))
        else:
            out.append(ProtocolCheck(**fields, problem="ospf_adjacency_down", detail="no adjacency"))
    return out


def check_bgp(desired: DesiredState, state: ProtocolState) -> list[ProtocolCheck]:
    if desired.bgp is None:
        return []
    live = bgp_peers(state.bgp_summary) if state.bgp_summary is not None else None
    out = []
    for n in desired.bgp.neighbors:
        subject = f"bgp neighbour {n.peer} ({n.address}, AS {n.remote_as})"
        fields: dict[str, Any] = {"kind": "bgp_session", "subject": subject, "peer": n.peer}
        if live is None:
            out.append(ProtocolCheck(**fields, problem="bgp_session_down", detail="bgpd gives no state"))
            continue
        peer = live.get("", {}).get(str(n.address))
        if peer is None:
            out.append(ProtocolCheck(**fields, problem="bgp_session_down", detail="not configured on the device"))
        elif peer.get("state") != "Established":
            out.append(ProtocolCheck(**fields, problem="bgp_session_down",
                                     detail=f"state {peer.get('state', '?')}"))
        else:
            out.append(ProtocolCheck(**fields, detail=f"{peer.get('pfxRcd', 0)} prefix(es) received"))
    return out


def _rib_entries(state: ProtocolState, route: ExpectedRoute) -> list[dict[str, Any]]:
    entries = state.rib.get(route.vrf or "", {}).get(str(route.prefix), [])
    return [e for e in entries if isinstance(e, dict)]


def _installed(entries: list[dict[str, Any]], protocol: str) -> dict[str, Any] | None:
    return next((e for e in entries if e.get("protocol") == protocol and e.get("selected")
                 and e.get("installed")), None)


def _hops(entry: dict[str, Any]) -> set[str]:
    """The next hops a RIB entry names (the recursive one for iBGP, not what it resolves to)."""
    return {str(h["ip"]) for h in entry.get("nexthops", []) if h.get("ip") and not h.get("resolver")
            and h.get("active", True)}


def check_routes(desired: DesiredState, state: ProtocolState) -> list[ProtocolCheck]:
    names: dict[str, str] = {}
    if desired.bgp is not None:
        names = {str(n.address): n.peer for n in desired.bgp.neighbors}
    table = bgp_table(state.bgp_routes) if state.bgp_routes is not None else {}
    out = []
    for route in desired.expected_routes:
        intended = [str(h) for h in route.next_hops]
        via = f" via {intended[0]}" + (f" ({names[intended[0]]})" if intended[0] in names else "") if intended else ""
        subject = f"{route.prefix} by {route.protocol}{via}{_vrf_note(route.vrf)}"
        fields: dict[str, Any] = {"kind": "route", "subject": subject, "prefix": str(route.prefix),
                                  "vrf": route.vrf or "", "peer": names.get(intended[0], "") if intended else ""}
        entries = _rib_entries(state, route)
        if route.protocol == "bgp":
            paths = [p for p in table.get(route.vrf or "", {}).get(str(route.prefix), []) if isinstance(p, dict)]
            if not paths:
                out.append(ProtocolCheck(**fields, problem="prefix_missing", detail="not in the BGP table"))
                continue
            best = next((p for p in paths if p.get("bestpath")), None)
            unheard = [h for h in intended if not any(_from(p, h) for p in paths)]
            if unheard:
                seen = ", ".join(sorted({_source(p) for p in paths}))
                out.append(ProtocolCheck(**fields, problem="prefix_missing",
                                         detail=f"not received from {unheard[0]} (only from {seen})"))
                continue
            # equal paths (multipath): FRR's best among them is the oldest eBGP one, any of them
            if intended and (best is None or not any(_from(best, h) for h in intended)):
                out.append(ProtocolCheck(**fields, problem="wrong_next_hop",
                                         detail=f"best path from {_source(best) if best else 'none'}"))
                continue
        installed = _installed(entries, route.protocol)
        if installed is None:
            other = next((e for e in entries if e.get("selected")), None)
            detail = "not installed" + (f" ({other.get('protocol')} route selected)" if other else " in the RIB")
            out.append(ProtocolCheck(**fields, problem="prefix_missing", detail=detail))
            continue
        hops = _hops(installed)
        if route.protocol == "ospf" and intended and hops != set(intended):
            out.append(ProtocolCheck(**fields, problem="wrong_next_hop",
                                     detail=f"installed via {', '.join(sorted(hops, key=_addr)) or 'none'}, "
                                            f"intended via {', '.join(intended)}"))
        elif route.protocol == "bgp" and intended and not set(intended) <= hops:
            out.append(ProtocolCheck(**fields, problem="wrong_next_hop",
                                     detail=f"installed via {', '.join(sorted(hops, key=_addr)) or 'none'}"))
        else:
            out.append(ProtocolCheck(**fields))
    return out


def _addr(text: str) -> int:
    try:
        return int(IPv4Address(text))
    except ValueError:
        return -1


def _from(path: dict[str, Any], address: str) -> bool:
    return path.get("peerId") == address or any(h.get("ip") == address for h in path.get("nexthops", []))


def _source(path: dict[str, Any]) -> str:
    hops = [str(h.get("ip")) for h in path.get("nexthops", []) if h.get("ip")]
    return str(path.get("peerId") or (hops[0] if hops else "?"))


def protocol_checks(desired: DesiredState, state: ProtocolState) -> list[ProtocolCheck]:
    """Every check the desired state asks for (none without protocol sections)."""
    return [*check_ospf(desired, state), *check_bgp(desired, state), *check_routes(desired, state)]


def has_protocols(desired: DesiredState) -> bool:
    return desired.ospf is not None or desired.bgp is not None or bool(desired.expected_routes)


def problems(checks: list[ProtocolCheck]) -> list[str]:
    """One line per failed check: what apply's verify reports."""
    return [f"{c.subject}: {c.detail}" if c.detail else c.subject for c in checks if not c.ok]


__all__ = ["COMMANDS", "ProtocolCheck", "ProtocolState", "bgp_peers", "bgp_table", "has_protocols", "load_json",
           "ospf_neighbors", "parse_state", "problems", "protocol_checks"]
