"""Hosts from Nautobot: what netorch reads of a device beyond what nornir-nautobot gives.

nornir-nautobot's NautobotInventory gives each device as a Nornir host with its name,
`hostname` (the primary IPv4 address, else the primary IPv6, else the name) and `platform`
(the Nautobot platform's network driver), and keeps the pynautobot record of the device in
`host.data["pynautobot_object"]`. netorch then reads, over the same API session (the plugin's
URL, token and TLS settings), in a few bulk queries rather than one per device:

| netorch                  | Nautobot                                                              |
|--------------------------|-----------------------------------------------------------------------|
| host name                | device name                                                           |
| hostname                 | primary IPv4 (else IPv6) address of the device (the plugin)           |
| platform                 | the platform's network driver, through netutils' lib_mapper           |
| groups                   | the device's role name, then its tags' names                          |
| data.interfaces          | its interfaces with an IP address, a description, or disabled:        |
|   .address               |   the IP address assigned to the interface (IPAM), one per interface  |
|   .description, .enabled |   the interface's description and enabled                             |
| data.mgmt_interface      | the interface marked management-only, else the one holding the        |
|                          | primary IP (never rendered, like any mgmt_interface)                  |
| data.region              | the name of the device's location                                     |
| data.site                | the name of that location's parent (the location's own when none)     |
| port and other data keys | the `netorch` mapping of the device's config context (rendered with  |
|                          | filter_parameters {include: config_context}, else the local one):     |
|                          | port, deploy, transport, known_hosts, credentials_file, ownership...  |

The config context wins over what is derived; what a user's transform function already set in
the host's data is kept. A problem found here, or later in netorch's view of a host, names the
Nautobot object it is about (the device, the interface, or the IP address, with its API URL).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from netorch.errors import Problem

NAUTOBOT_OBJECT = "pynautobot_object"
"""The data key under which NautobotInventory keeps a host's pynautobot device record."""
CONTEXT_KEY = "netorch"
"""The key of a device's config context that holds netorch's data keys (and port)."""
CONTEXT_KEYS = frozenset({"port", "deploy", "transport", "known_hosts", "credentials_file", "ownership", "site",
                          "region", "mgmt_interface", "interfaces"})
CHUNK = 50
"""Object ids per bulk query (they travel in the URL)."""

Origins = dict[str, dict[tuple[Any, ...], str]]
"""host -> (loc inside its HostView -> the source object a problem there is about)"""


def _chunks(ids: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(ids), CHUNK):
        yield ids[i:i + CHUNK]


def _fetch(endpoint: Any, key: str, ids: Iterable[str]) -> list[Any]:
    found: list[Any] = []
    for chunk in _chunks(sorted(set(ids))):
        found.extend(endpoint.filter(**{key: chunk}))
    return found


def _id(record: Any) -> str | None:
    if record is None:
        return None
    value = getattr(record, "id", None)
    return str(value) if value is not None else None


def _describe(kind: str, name: str, record: Any) -> str:
    url = getattr(record, "url", None)
    return f"Nautobot {kind} {name!r}" + (f" ({url})" if url else "")


def complete_from_nautobot(inventory: Any) -> tuple[Origins, list[Problem]]:
    """Fill the netorch data keys of the hosts NautobotInventory loaded, from Nautobot (see the
    module docstring). Returns where each host's values came from, and the problems found."""
    from nornir.core.inventory import Group

    devices = {str(n): h.data[NAUTOBOT_OBJECT] for n, h in inventory.hosts.items() if NAUTOBOT_OBJECT in h.data}
    if not devices:
        return {}, []
    api = next(iter(devices.values())).api
    by_id = {str(d.id): name for name, d in devices.items()}
    origins: Origins = {name: {(): _describe("device", name, d)} for name, d in devices.items()}
    problems: list[Problem] = []

    interfaces = _fetch(api.dcim.interfaces, "device", by_id)
    iface_host: dict[str, tuple[str, Any]] = {}
    for iface in interfaces:
        host = by_id.get(_id(getattr(iface, "device", None)) or "")
        if host is not None:
            iface_host[str(iface.id)] = (host, iface)
    addresses: dict[str, list[Any]] = {}
    for link in _fetch(api.ipam.ip_address_to_interface, "interface", iface_host):
        iface_id = _id(getattr(link, "interface", None))
        if iface_id in iface_host and link.ip_address is not None:
            addresses.setdefault(iface_id, []).append(link.ip_address)
    missing = {_id(a) for found in addresses.values() for a in found if getattr(a, "address", None) is None}
    if missing:  # the API answered with ids only (no depth): read the addresses themselves
        full = {str(a.id): a for a in _fetch(api.ipam.ip_addresses, "id", [m for m in missing if m])}
        addresses = {k: [full.get(_id(a) or "", a) for a in v] for k, v in addresses.items()}
    locations = {_id(getattr(d, "location", None)) for d in devices.values()} - {None}
    location_of = {str(loc.id): loc for loc in _fetch(api.dcim.locations, "id", [x for x in locations if x])}
    parent_ids = {_id(getattr(loc, "parent", None)) for loc in location_of.values()} - {None}
    parents = {str(p.id): p for p in _fetch(api.dcim.locations, "id", [x for x in parent_ids if x])}

    derived: dict[str, dict[str, Any]] = {name: {"interfaces": {}} for name in devices}
    primary = {name: {_id(getattr(d, "primary_ip4", None)), _id(getattr(d, "primary_ip6", None))} - {None}
               for name, d in devices.items()}
    for iface_id, (host, iface) in iface_host.items():  # in Nautobot's order (natural, by name)
        name = str(iface.name)
        assigned = addresses.get(iface_id, [])
        data = derived[host]
        if getattr(iface, "mgmt_only", False) or any(_id(a) in primary[host] for a in assigned):
            data.setdefault("mgmt_interface", name)
            continue
        description = getattr(iface, "description", "") or None
        enabled = getattr(iface, "enabled", True) is not False
        if not assigned and description is None and enabled:
            continue
        where = ("data", "interfaces", name)
        origins[host][where] = _describe("interface", f"{host} {name}", iface)
        entry: dict[str, Any] = {"enabled": enabled}
        if description is not None:
            entry["description"] = description
        if len(assigned) > 1:
            shown = ", ".join(sorted(str(a.address) for a in assigned))
            problems.append(Problem(origins[host][where], 0, "interfaces." + name,
                                    f"{len(assigned)} IP addresses are assigned ({shown}): netorch manages one "
                                    "address per interface", "schema"))
        elif assigned:
            entry["address"] = str(assigned[0].address)
            origins[host][(*where, "address")] = _describe("IP address", entry["address"], assigned[0])
        data["interfaces"][name] = entry

    for name, device in devices.items():
        data = derived[name]
        location = location_of.get(_id(getattr(device, "location", None)) or "")
        if location is not None:
            data["region"] = str(location.name)
            parent = parents.get(_id(getattr(location, "parent", None)) or "")
            data["site"] = str(parent.name if parent is not None else location.name)
            origins[name][("data", "region")] = _describe("location", str(location.name), location)
            if parent is not None:
                origins[name][("data", "site")] = _describe("location", str(parent.name), parent)
        host = inventory.hosts[name]
        context = getattr(device, "config_context", None)
        if not isinstance(context, dict) or CONTEXT_KEY not in context:
            context = getattr(device, "local_config_context_data", None)
        ours = context.get(CONTEXT_KEY) if isinstance(context, dict) else None
        if ours is not None and not isinstance(ours, dict):
            problems.append(Problem(origins[name][()], 0, f"config_context.{CONTEXT_KEY}",
                                    f"the config context's {CONTEXT_KEY!r} must be a mapping of netorch data keys",
                                    "schema"))
            ours = None
        for key, value in (ours or {}).items():
            if key not in CONTEXT_KEYS:
                problems.append(Problem(origins[name][()], 0, f"config_context.{CONTEXT_KEY}.{key}",
                                        f"unknown key {key!r} (netorch's: {', '.join(sorted(CONTEXT_KEYS))})",
                                        "schema"))
            elif key == "port":
                host.port = value
            else:
                data[key] = value
                origins[name][("data", key)] = origins[name][()] + f" config context {CONTEXT_KEY}.{key}"
        for key, value in data.items():
            host.data.setdefault(key, value)
        groups = [str(device.role.name)] if getattr(device, "role", None) is not None else []
        groups += [str(t.name) for t in getattr(device, "tags", None) or []]
        for group in dict.fromkeys(groups):
            if group not in inventory.groups:
                inventory.groups[group] = Group(name=group, defaults=inventory.defaults)
            if group not in [g.name for g in host.groups]:
                host.groups.append(inventory.groups[group])
    return origins, problems
