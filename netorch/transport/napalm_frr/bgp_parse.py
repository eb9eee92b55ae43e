"""Pure parsing of FRR's BGP state and configuration into NAPALM's shapes: get_bgp_neighbors and
get_bgp_neighbors_detail from `show bgp vrf all summary json` and `show bgp vrf all neighbors
json`, get_bgp_config from the `router bgp` section of `show running-config`. No I/O."""

from __future__ import annotations

import json
import re
from typing import Any

#: FRR's address family keys (summary JSON) as NAPALM's family names
FAMILIES = {"ipv4Unicast": "ipv4", "ipv6Unicast": "ipv6", "ipv4Multicast": "ipv4_multicast",
            "ipv6Multicast": "ipv6_multicast", "ipv4Vpn": "vpnv4", "ipv6Vpn": "vpnv6",
            "l2VpnEvpn": "l2vpn_evpn", "ipv4Flowspec": "ipv4_flowspec", "ipv6Flowspec": "ipv6_flowspec",
            "ipv4LabeledUnicast": "ipv4_labeled_unicast", "ipv6LabeledUnicast": "ipv6_labeled_unicast"}


def load_json(text: str) -> dict[str, Any]:
    """A JSON object from a command's output; {} for nothing, an error line or anything else."""
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def vrf_name(vrf: str) -> str:
    """NAPALM names the default VRF "global"."""
    return "global" if vrf == "default" else vrf


def _peers_of(vrf_data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The neighbours of one VRF in `show bgp vrf all neighbors json` (its other keys are the VRF's)."""
    return {k: v for k, v in vrf_data.items() if isinstance(v, dict) and "remoteAs" in v}


def _enabled(peer: dict[str, Any]) -> bool:
    """An administratively shut neighbour: FRR says "Admin" in its state or peer state."""
    return "Admin" not in str(peer.get("state", "")) and peer.get("peerState") != "Admin" \
        and "Admin" not in str(peer.get("bgpState", ""))


def bgp_neighbors(summary: str, neighbors: str) -> dict[str, Any]:
    """NAPALM get_bgp_neighbors: per VRF ("global" for the default) the router id and the peers,
    with their address families. FRR counts the prefixes it accepted (pfxRcd, after the inbound
    policy); without soft-reconfiguration inbound it keeps no count of what was received before
    the policy, so received_prefixes is that count too."""
    details = load_json(neighbors)
    out: dict[str, Any] = {}
    for vrf, families in load_json(summary).items():
        if not isinstance(families, dict):
            continue
        entry = out.setdefault(vrf_name(vrf), {"router_id": "", "peers": {}})
        known = _peers_of(details.get(vrf, {})) if isinstance(details.get(vrf), dict) else {}
        for key, family in families.items():
            if not isinstance(family, dict) or "peers" not in family:
                continue
            entry["router_id"] = str(family.get("routerId", entry["router_id"]))
            for address, peer in family["peers"].items():
                detail = known.get(address, {})
                up = peer.get("state") == "Established"
                uptime_ms = int(peer.get("peerUptimeMsec", 0) or 0)
                row = entry["peers"].setdefault(address, {
                    "local_as": int(peer.get("localAs", family.get("as", 0)) or 0),
                    "remote_as": int(peer.get("remoteAs", 0) or 0),
                    "remote_id": str(detail.get("remoteRouterId", "")),
                    "is_up": up,
                    "is_enabled": _enabled(peer),
                    "description": str(peer.get("desc", detail.get("nbrDesc", ""))),
                    "uptime": uptime_ms // 1000 if uptime_ms else -1,
                    "address_family": {},
                })
                accepted = int(peer.get("pfxRcd", 0) or 0)
                row["address_family"][FAMILIES.get(key, key)] = {
                    "received_prefixes": accepted if up else -1,
                    "accepted_prefixes": accepted if up else -1,
                    "sent_prefixes": int(peer.get("pfxSnt", 0) or 0) if up else -1,
                }
    if out and "global" not in out:
        out["global"] = {"router_id": "", "peers": {}}
    return out


def _msgs(stats: dict[str, Any], what: str) -> int:
    return int(stats.get(what, 0) or 0)


def bgp_neighbors_detail(neighbors: str, summary: str = "", neighbor_address: str = "") -> dict[str, Any]:
    """NAPALM get_bgp_neighbors_detail: {vrf: {remote AS: [peer details]}} from FRR's
    `show bgp vrf all neighbors json` (the summary gives each VRF's router id and the prefixes
    the peers' best paths make active, where FRR's neighbour output does not)."""
    router_ids: dict[str, str] = {}
    for vrf, families in load_json(summary).items():
        for family in families.values() if isinstance(families, dict) else ():
            if isinstance(family, dict) and "routerId" in family:
                router_ids[vrf] = str(family["routerId"])
    out: dict[str, dict[int, list[dict[str, Any]]]] = {}
    for vrf, vrf_data in load_json(neighbors).items():
        if not isinstance(vrf_data, dict):
            continue
        for address, peer in _peers_of(vrf_data).items():
            if neighbor_address and address != neighbor_address:
                continue
            families = [f for f in peer.get("addressFamilyInfo", {}).values() if isinstance(f, dict)]
            stats = peer.get("messageStats", {})
            remote_as = int(peer.get("remoteAs", 0) or 0)
            local_as = int(peer.get("localAs", 0) or 0)
            up = peer.get("bgpState") == "Established"
            accepted = sum(int(f.get("acceptedPrefixCounter", 0) or 0) for f in families)
            imports = [str(f[k]) for f in families for k in ("routeMapForIncomingAdvertisements",)
                       if f.get(k)]
            exports = [str(f[k]) for f in families for k in ("routeMapForOutgoingAdvertisements",)
                       if f.get(k)]
            out.setdefault(vrf_name(vrf), {}).setdefault(remote_as, []).append({
                "up": up,
                "local_as": local_as,
                "remote_as": remote_as,
                "router_id": str(peer.get("localRouterId", router_ids.get(vrf, ""))),
                "local_address": str(peer.get("hostLocal", "")),
                "routing_table": vrf_name(vrf),
                "local_address_configured": bool(peer.get("updateSource")),
                "local_port": int(peer.get("portLocal", 0) or 0),
                "remote_address": address,
                "remote_port": int(peer.get("portForeign", 0) or 0),
                # an eBGP peer more than one hop away (FRR: 1 for a direct eBGP peer; iBGP has no limit)
                "multihop": int(peer.get("externalBgpNbrMaxHopsAway", 1) or 1) > 1,
                "multipath": False,
                "remove_private_as": any(f.get("privateAsNumsRemovedInUpdatesToNbr")
                                         or f.get("privateAsNumsAllRemovedInUpdatesToNbr") for f in families),
                "import_policy": " ".join(imports),
                "export_policy": " ".join(exports),
                "input_messages": _msgs(stats, "totalRecv"),
                "output_messages": _msgs(stats, "totalSent"),
                "input_updates": _msgs(stats, "updatesRecv"),
                "output_updates": _msgs(stats, "updatesSent"),
                "messages_queued_out": _msgs(stats, "depthOutq"),
                "connection_state": str(peer.get("bgpState", "")),
                # FRR keeps no previous FSM state; a session that was dropped was Established before
                "previous_connection_state": "Established" if int(peer.get("connectionsDropped", 0) or 0) else "",
                "last_event": str(peer.get("lastResetDueTo", "")),  # why the session last went down
                "suppress_4byte_as": "4byteAs" not in peer.get("neighborCapabilities", {"4byteAs": ""}),
                "local_as_prepend": False,  # FRR's neighbour JSON does not say (see get_bgp_config)
                "holdtime": int(peer.get("bgpTimerHoldTimeMsecs", 0) or 0) // 1000,
                "configured_holdtime": int(peer.get("bgpTimerConfiguredHoldTimeMsecs",
                                                    peer.get("bgpTimerHoldTimeMsecs", 0)) or 0) // 1000,
                "keepalive": int(peer.get("bgpTimerKeepAliveIntervalMsecs", 0) or 0) // 1000,
                "configured_keepalive": int(peer.get("bgpTimerConfiguredKeepAliveIntervalMsecs",
                                                     peer.get("bgpTimerKeepAliveIntervalMsecs", 0)) or 0) // 1000,
                "active_prefix_count": accepted if up else 0,
                "received_prefix_count": accepted,
                "accepted_prefix_count": accepted,
                "suppressed_prefix_count": 0,
                "advertised_prefix_count": sum(int(f.get("sentPrefixCounter", 0) or 0) for f in families),
                "flap_count": int(peer.get("connectionsDropped", 0) or 0),
            })
    return out


ROUTER_BGP = re.compile(r"^router bgp (\d+)\s*$")
NEIGHBOR = re.compile(r"^neighbor (\S+) (.*)$")


def _group(local_as: int) -> dict[str, Any]:
    return {"type": "", "description": "", "apply_groups": [], "multihop_ttl": 0, "multipath": False,
            "local_address": "", "local_as": local_as, "remote_as": 0, "import_policy": "",
            "export_policy": "", "remove_private_as": False, "prefix_limit": {}, "neighbors": {}}


def _neighbor(local_as: int) -> dict[str, Any]:
    return {"description": "", "import_policy": "", "export_policy": "", "local_address": "",
            "authentication_key": "", "nhs": False, "route_reflector_client": False,
            "local_as": local_as, "remote_as": 0, "prefix_limit": {}}


def _family_key(line: str) -> tuple[str, str]:
    """`address-family ipv4 unicast` as NAPALM's prefix_limit keys ("inet", "unicast")."""
    words = line.split()
    afi = {"ipv4": "inet", "ipv6": "inet6", "l2vpn": "l2vpn"}.get(words[1] if len(words) > 1 else "", "inet")
    return afi, words[2] if len(words) > 2 else "unicast"


def bgp_config(running: str, group: str = "", neighbor: str = "") -> dict[str, Any]:
    """NAPALM get_bgp_config from the default VRF's `router bgp` section of FRR's running config.
    Peer groups are NAPALM's groups; neighbours in none are in the group "_". The session
    password (`neighbor X password`) is the authentication_key, as NAPALM defines it."""
    lines = running.splitlines()
    start = next((i for i, line in enumerate(lines) if ROUTER_BGP.match(line)), None)
    if start is None:
        return {}
    local_as = int(ROUTER_BGP.match(lines[start]).group(1))  # type: ignore[union-attr]
    groups: dict[str, dict[str, Any]] = {"_": _group(local_as)}
    settings: dict[str, dict[str, Any]] = {}  # neighbour or group name -> its settings
    member: dict[str, str] = {}  # neighbour -> its group
    multipath = False
    family = ("inet", "unicast")
    for raw in lines[start + 1:]:
        if raw and not raw.startswith(" "):
            break  # `exit` or the next section
        line = raw.strip()
        if line.startswith("address-family "):
            family = _family_key(line)
            continue
        if line.startswith("maximum-paths"):
            multipath = multipath or int(line.split()[-1]) > 1 if line.split()[-1].isdigit() else multipath
            continue
        found = NEIGHBOR.match(line)
        if not found:
            continue
        name, rest = found.groups()
        words = rest.split()
        if words == ["peer-group"]:
            groups.setdefault(name, _group(local_as))
            settings.setdefault(name, {})
            continue
        item = settings.setdefault(name, {})
        key, args = words[0], words[1:]
        if key == "peer-group" and args:
            member[name] = args[0]
        elif key == "remote-as" and args:
            item["remote_as"] = local_as if args[0] == "internal" else int(args[0]) if args[0].isdigit() else 0
            item["type"] = "internal" if item["remote_as"] == local_as else "external"
        elif key == "description":
            item["description"] = " ".join(args)
        elif key == "update-source" and args:
            item["local_address"] = args[0]
        elif key == "password" and args:
            item["authentication_key"] = " ".join(args)
        elif key == "route-map" and len(args) == 2:
            item["import_policy" if args[1] == "in" else "export_policy"] = args[0]
        elif key in ("next-hop-self",):
            item["nhs"] = True
        elif key == "route-reflector-client":
            item["route_reflector_client"] = True
        elif key == "local-as" and args and args[0].isdigit():
            item["local_as"] = int(args[0])
        elif key == "ebgp-multihop":
            item["multihop_ttl"] = int(args[0]) if args and args[0].isdigit() else 255
        elif key == "remove-private-AS":
            item["remove_private_as"] = True
        elif key == "maximum-prefix" and args and args[0].isdigit():
            limit: dict[str, Any] = {"limit": int(args[0])}
            if len(args) > 1 and args[1].isdigit():
                limit["teardown"] = {"threshold": int(args[1])}
            item.setdefault("prefix_limit", {}).setdefault(family[0], {})[family[1]] = limit
    for name, item in settings.items():
        if name in groups:
            target = groups[name]
            for key, value in item.items():
                if key in target and key != "neighbors":
                    target[key] = value
            target["multipath"] = multipath
            continue
        row = _neighbor(local_as)
        inherited = settings.get(member.get(name, ""), {})
        for key in row:
            if key in inherited:
                row[key] = inherited[key]
            if key in item:
                row[key] = item[key]
        groups.setdefault(member.get(name, "_"), _group(local_as))["neighbors"][name] = row
    groups["_"]["multipath"] = multipath
    if neighbor:
        groups = {g: {**data, "neighbors": {n: v for n, v in data["neighbors"].items() if n == neighbor}}
                  for g, data in groups.items() if neighbor in data["neighbors"]}
    if group:
        groups = {g: data for g, data in groups.items() if g == group}
    return groups
