"""Pure parsing of what the Linux side of an FRR router prints into NAPALM's shapes: the
neighbour tables (`ip -j -s neigh`), interface counters (`ip -j -s link`), network instances
(`ip -j -d link` with FRR's VRF sections), environment (/proc and /sys), users (/etc/passwd,
authorized keys), NTP servers (chrony, ntpd, timesyncd), SNMP (net-snmp's snmpd.conf), LLDP
neighbours (lldpd's `lldpcli -f json0`), traceroute (the driver's own probe script), and the
secrets removed from a configuration. No I/O."""

from __future__ import annotations

import json
import re
from typing import Any

from napalm.base.helpers import mac as napalm_mac


def _json_list(text: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(text) if text.strip() else []
    except json.JSONDecodeError:
        return []
    return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []


def _mac(raw: str) -> str:
    try:
        return str(napalm_mac(raw))
    except Exception:  # not an EUI (e.g. an IP tunnel's address): as the kernel prints it
        return raw


def neighbors(text: str, ipv6: bool = False) -> list[dict[str, Any]]:
    """NAPALM get_arp_table (or get_ipv6_neighbors_table with ipv6) from `ip -j -s neigh show`:
    the resolved entries (an entry without a link-layer address, INCOMPLETE or FAILED, is not a
    neighbour); the age is the seconds since the kernel last confirmed the entry."""
    out: list[dict[str, Any]] = []
    for entry in _json_list(text):
        if "lladdr" not in entry or "dst" not in entry:
            continue
        age = entry.get("confirmed", entry.get("updated", entry.get("used")))
        row: dict[str, Any] = {"interface": str(entry.get("dev", "")), "mac": _mac(str(entry["lladdr"])),
                               "ip": str(entry["dst"]), "age": float(age) if age is not None else -1.0}
        if ipv6:
            row["state"] = " ".join(str(s) for s in entry.get("state", [])) or "UNKNOWN"
        out.append(row)
    return out


def interface_counters(text: str) -> dict[str, dict[str, int]]:
    """NAPALM get_interfaces_counters from `ip -j -s link show`. Linux counts multicast received
    but neither multicast sent nor broadcast: those are 0, and unicast received is the packets
    received less the multicast ones."""
    out: dict[str, dict[str, int]] = {}
    for link in _json_list(text):
        stats = link.get("stats64") or link.get("stats") or {}
        rx, tx = stats.get("rx", {}), stats.get("tx", {})
        multicast = int(rx.get("multicast", 0))
        out[str(link["ifname"])] = {
            "tx_errors": int(tx.get("errors", 0)), "rx_errors": int(rx.get("errors", 0)),
            "tx_discards": int(tx.get("dropped", 0)), "rx_discards": int(rx.get("dropped", 0)),
            "tx_octets": int(tx.get("bytes", 0)), "rx_octets": int(rx.get("bytes", 0)),
            "tx_unicast_packets": int(tx.get("packets", 0)),
            "rx_unicast_packets": max(0, int(rx.get("packets", 0)) - multicast),
            "tx_multicast_packets": 0, "rx_multicast_packets": multicast,
            "tx_broadcast_packets": 0, "rx_broadcast_packets": 0,
        }
    return out


VRF_SECTION = re.compile(r"^(?:router bgp \d+ vrf|vrf) (\S+)\s*$")
RD_LINE = re.compile(r"^\s*rd (?:vpn export )?(\S+)\s*$")


def network_instances(links: str, running: str, name: str = "") -> dict[str, dict[str, Any]]:
    """NAPALM get_network_instances from `ip -j -d link show` (VRF devices and their members)
    and FRR's running config (each VRF's route distinguisher, `rd vpn export` in its BGP
    instance). Every interface in no VRF is the default instance's."""
    rds: dict[str, str] = {}
    current = ""
    for line in running.splitlines():
        found = VRF_SECTION.match(line)
        if found:
            current = found.group(1)
        elif line and not line.startswith(" "):
            current = ""
        elif current and (rd := RD_LINE.match(line)):
            rds.setdefault(current, rd.group(1))
    out: dict[str, dict[str, Any]] = {
        "default": {"name": "default", "type": "DEFAULT_INSTANCE", "state": {"route_distinguisher": ""},
                    "interfaces": {"interface": {}}}}
    data = _json_list(links)
    for link in data:
        if link.get("linkinfo", {}).get("info_kind") == "vrf":
            vrf = str(link["ifname"])
            out[vrf] = {"name": vrf, "type": "L3VRF", "state": {"route_distinguisher": rds.get(vrf, "")},
                        "interfaces": {"interface": {}}}
    for link in data:
        info = link.get("linkinfo", {})
        if info.get("info_kind") == "vrf":
            continue
        master = str(link.get("master", "")) if info.get("info_slave_kind") == "vrf" else ""
        out[master if master in out else "default"]["interfaces"]["interface"][str(link["ifname"])] = {}
    return {k: v for k, v in out.items() if not name or k == name}


def _sections(text: str) -> dict[str, str]:
    """A batch step's output split at lines `@@name`."""
    out: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("@@"):
            current = line[2:].strip()
            out.setdefault(current, [])
        else:
            out.setdefault(current, []).append(line)
    return {k: "\n".join(v) for k, v in out.items()}


def _cpu_times(text: str) -> dict[str, tuple[int, int]]:
    """`cpuN user nice system idle iowait ...` lines as {cpuN: (busy, total)}."""
    out: dict[str, tuple[int, int]] = {}
    for line in text.splitlines():
        words = line.split()
        if words and words[0].startswith("cpu") and len(words) > 5:
            values = [int(w) for w in words[1:] if w.isdigit()]
            idle = values[3] + values[4]  # idle + iowait
            out[words[0]] = (sum(values[:8]) - idle, sum(values[:8]))
    return out


def environment(text: str) -> dict[str, Any]:
    """NAPALM get_environment from the environment script's sections: CPU usage per CPU between
    two samples of /proc/stat (`stat1`, `stat2`), memory from /proc/meminfo in bytes (used is
    MemTotal less MemAvailable), thermal zones (`temp`: type, millidegrees, alert and critical
    trip points) and fans (`fans`: hwmon's fan inputs, in rpm). A router in a container or a
    virtual machine has no fans, sensors or power supplies to read: those are empty."""
    parts = _sections(text)
    first, second = _cpu_times(parts.get("stat1", "")), _cpu_times(parts.get("stat2", ""))
    cpu: dict[int, dict[str, float]] = {}
    for key, (busy2, total2) in second.items():
        if key == "cpu" or key not in first:
            continue
        busy1, total1 = first[key]
        delta = total2 - total1
        cpu[int(key[3:])] = {"%usage": round(100.0 * (busy2 - busy1) / delta, 1) if delta > 0 else 0.0}
    mem = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in parts.get("mem", "").splitlines()
           if ":" in line and len(line.split()) >= 2 and line.split()[1].isdigit()}
    total = mem.get("MemTotal", 0)
    temperature: dict[str, dict[str, Any]] = {}
    for line in parts.get("temp", "").splitlines():
        words = line.split()
        if len(words) < 2 or not words[1].lstrip("-").isdigit():
            continue
        degrees = int(words[1]) / 1000.0
        alert = int(words[2]) / 1000.0 if len(words) > 2 and words[2].isdigit() else None
        critical = int(words[3]) / 1000.0 if len(words) > 3 and words[3].isdigit() else None
        temperature[words[0]] = {"temperature": degrees,
                                 "is_alert": alert is not None and degrees >= alert,
                                 "is_critical": critical is not None and degrees >= critical}
    fans = {line.split()[0]: {"status": int(line.split()[1]) > 0}
            for line in parts.get("fans", "").splitlines() if len(line.split()) == 2 and line.split()[1].isdigit()}
    return {"fans": fans, "temperature": temperature, "power": {}, "cpu": cpu,
            "memory": {"available_ram": total, "used_ram": total - mem.get("MemAvailable", mem.get("MemFree", 0))}}


#: login shells that are no login
NO_LOGIN = ("nologin", "false", "sync", "shutdown", "halt")
#: groups whose members can change the router's configuration (with the user root, and vtysh as a shell)
ADMIN_GROUPS = ("sudo", "wheel", "admin", "frrvty")


def users(text: str) -> dict[str, dict[str, Any]]:
    """NAPALM get_users from the users script's sections: `passwd` (/etc/passwd), `group`
    (/etc/group) and `keys <user>` (that user's authorized_keys). The users are the accounts
    with a login shell; level 15 for those who can change the router's configuration (root, a
    member of sudo, wheel, admin or frrvty, or whose shell is vtysh), 1 for the others. The
    password is "": the driver does not read /etc/shadow."""
    parts = _sections(text)
    admins: set[str] = set()
    for line in parts.get("group", "").splitlines():
        fields = line.split(":")
        if len(fields) >= 4 and fields[0] in ADMIN_GROUPS:
            admins.update(m for m in fields[3].split(",") if m)
    out: dict[str, dict[str, Any]] = {}
    for line in parts.get("passwd", "").splitlines():
        fields = line.split(":")
        if len(fields) < 7 or fields[6].rsplit("/", 1)[-1] in NO_LOGIN or not fields[6]:
            continue
        name = fields[0]
        level = 15 if fields[2] == "0" or name in admins or fields[6].endswith("vtysh") else 1
        keys = [k.strip() for k in parts.get(f"keys {name}", "").splitlines()
                if k.strip() and not k.lstrip().startswith("#")]
        out[name] = {"level": level, "password": "", "sshkeys": keys}
    return out


NTP_LINE = re.compile(r"^\s*(server|pool|peer)\s+(\S+)(.*)$")


def ntp_servers(text: str) -> dict[str, dict[str, Any]]:
    """NAPALM get_ntp_servers from the time daemons' configuration files (chrony's chrony.conf and
    sources, ntpd's ntp.conf: `server`, `pool`, `peer` lines; systemd-timesyncd: `NTP=`)."""
    out: dict[str, dict[str, Any]] = {}
    for line in text.splitlines():
        found = NTP_LINE.match(line)
        if found:
            kind, address, rest = found.groups()
            options = rest.split()
            row: dict[str, Any] = {"address": address, "association_type": kind.upper(),
                                   "iburst": "iburst" in options, "prefer": "prefer" in options}
            if "version" in options and options.index("version") + 1 < len(options):
                version = options[options.index("version") + 1]
                if version.isdigit():
                    row["version"] = int(version)
            if "key" in options and options.index("key") + 1 < len(options):
                key = options[options.index("key") + 1]
                if key.isdigit():
                    row["key_id"] = int(key)
            out.setdefault(address, row)
        elif line.strip().startswith("NTP="):  # systemd-timesyncd
            for address in line.split("=", 1)[1].split():
                out.setdefault(address, {"address": address, "association_type": "SERVER"})
    return out


def snmp_information(text: str) -> dict[str, Any]:
    """NAPALM get_snmp_information from net-snmp's snmpd.conf (and its snmpd.conf.d): communities
    (`rocommunity`, `rwcommunity`, their IPv6 forms; the source restriction as the ACL, "N/A" for
    none; `com2sec` names a community whose access its group decides: mode "ro"), sysLocation,
    sysContact, and sysName as the chassis id. Empty values when snmpd is not configured."""
    out: dict[str, Any] = {"chassis_id": "", "community": {}, "contact": "", "location": ""}
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        key = words[0].lower()
        if key in ("rocommunity", "rwcommunity", "rocommunity6", "rwcommunity6") and len(words) > 1:
            source = words[2] if len(words) > 2 and not words[2].startswith("-") else "N/A"
            out["community"][words[1]] = {"acl": "N/A" if source == "default" else source,
                                          "mode": "rw" if key.startswith("rw") else "ro"}
        elif key in ("com2sec", "com2sec6") and len(words) > 3:
            out["community"].setdefault(words[3], {"acl": words[2] if words[2] != "default" else "N/A",
                                                   "mode": "ro"})
        elif key == "syslocation":
            out["location"] = " ".join(words[1:])
        elif key == "syscontact":
            out["contact"] = " ".join(words[1:])
        elif key == "sysname":
            out["chassis_id"] = " ".join(words[1:])
    return out


def _first(items: Any, key: str = "value") -> str:
    """lldpcli's json0 gives every value as a list of objects: the first one's value."""
    if isinstance(items, list) and items and isinstance(items[0], dict):
        return str(items[0].get(key, ""))
    return ""


#: lldpd's capability names as NAPALM's
CAPABILITIES = {"bridge": "bridge", "router": "router", "wlan": "wlan-access-point", "station": "station",
                "repeater": "repeater", "telephone": "telephone", "docsis": "docsis-cable-device",
                "other": "other"}


def lldp_neighbors_detail(text: str, interface: str = "") -> dict[str, list[dict[str, Any]]]:
    """NAPALM get_lldp_neighbors_detail from lldpd's `lldpcli -f json0 show neighbors details`
    (json0: the same data as `-f json`, with every value a list, so one neighbour and many read
    alike). No output (lldpd not running) is no neighbour."""
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError:
        return {}
    out: dict[str, list[dict[str, Any]]] = {}
    for block in data.get("lldp", []) if isinstance(data, dict) else []:
        for iface in block.get("interface", []) if isinstance(block, dict) else []:
            name = str(iface.get("name", ""))
            if interface and name != interface:
                continue
            chassis = (iface.get("chassis") or [{}])[0]
            port = (iface.get("port") or [{}])[0]
            capabilities = [c for c in chassis.get("capability", []) if isinstance(c, dict)]
            out.setdefault(name, []).append({
                "parent_interface": "",
                "remote_port": _first(port.get("id")),
                "remote_port_description": _first(port.get("descr")),
                "remote_chassis_id": _first(chassis.get("id")),
                "remote_system_name": _first(chassis.get("name")),
                "remote_system_description": _first(chassis.get("descr")),
                "remote_system_capab": sorted({CAPABILITIES.get(str(c.get("type", "")).lower(), "other")
                                               for c in capabilities}),
                "remote_system_enable_capab": sorted({CAPABILITIES.get(str(c.get("type", "")).lower(), "other")
                                                      for c in capabilities if c.get("enabled")}),
            })
    return out


def lldp_neighbors(text: str) -> dict[str, list[dict[str, str]]]:
    """NAPALM get_lldp_neighbors: per local interface, each neighbour's system name and port."""
    return {name: [{"hostname": n["remote_system_name"] or n["remote_chassis_id"], "port": n["remote_port"]}
                   for n in found] for name, found in lldp_neighbors_detail(text).items()}


def traceroute_result(text: str) -> dict[str, Any]:
    """NAPALM traceroute from the driver's probe script, which prints `hop probe address rtt_ms`
    per probe (`*` and 0 for no answer) or `error: ...`."""
    hops: dict[int, dict[str, Any]] = {}
    for line in text.splitlines():
        if line.startswith("error"):
            return {"error": line.partition(":")[2].strip() or line}
        words = line.split()
        if len(words) != 4 or not (words[0].isdigit() and words[1].isdigit()):
            continue
        address = words[2]
        hops.setdefault(int(words[0]), {"probes": {}})["probes"][int(words[1])] = {
            "rtt": float(words[3]), "ip_address": address, "host_name": address}
    if not hops:
        return {"error": text.strip() or "traceroute: no answer"}
    return {"success": hops}


#: FRR's secrets: session and area passwords, OSPF and RIP keys, key chains, vtysh passwords, SNMP
SECRETS = {
    r"^(\s*neighbor \S+ password) \S.*$": r"\1 <removed>",
    r"^(\s*(?:ip |ipv6 )?ospf authentication-key) \S+": r"\1 <removed>",
    r"^(\s*ip ospf message-digest-key \d+ md5) \S+": r"\1 <removed>",
    r"^(\s*ipv6 ospf6 authentication key-id \d+ hash-algo \S+ key) \S+": r"\1 <removed>",
    r"^(\s*(?:isis |area-|domain-)password(?: clear| md5)?) \S+": r"\1 <removed>",
    r"^(\s*key-string) \S.*$": r"\1 <removed>",
    r"^(\s*ip rip authentication string) \S+": r"\1 <removed>",
    r"^(\s*(?:enable )?password(?: 8)?) \S+": r"\1 <removed>",
    r"^(\s*snmp(?:-server)? community) \S+": r"\1 <removed>",
}
