"""The Nornir SimpleInventory and credentials file that a running lab writes for itself.

<run_dir>/inventory/{hosts,groups,defaults}.yaml and <run_dir>/credentials.yaml (0600); both
name <run_dir>/known_hosts (the lab devices' host keys), which `up` writes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from netorch.lab.state import LabState


def _interfaces(state: LabState, router: str) -> dict[str, dict[str, str]]:
    topo = state.topology
    r = topo.routers[router]
    out: dict[str, dict[str, str]] = {}
    if r.loopback is not None:
        out["lo"] = {"address": str(r.loopback)}
    for name in sorted(r.interfaces, key=lambda n: int(n[3:])):
        entry = {"address": str(r.interfaces[name].address)}
        description = topo.description(router, name)
        if description:
            entry["description"] = description
        out[name] = entry
    return out


def hosts_data(state: LabState) -> dict[str, Any]:
    topo = state.topology
    hosts: dict[str, Any] = {}
    for name, router in topo.routers.items():
        hosts[name] = {
            "hostname": str(router.mgmt),
            "platform": "frr",
            "groups": ["lab_routers"],
            "data": {
                "site": topo.site,
                "mgmt_interface": "eth0",
                "interfaces": _interfaces(state, name),
            },
        }
    for name, dev in topo.netconf.items():
        ifaces: dict[str, dict[str, str]] = {}
        for iname, iface in dev.interfaces.items():
            ifaces[iname] = {"address": str(iface.address)}
            if iface.description:
                ifaces[iname]["description"] = iface.description
        hosts[name] = {
            "hostname": str(dev.mgmt),
            "port": dev.port,
            "platform": "netconf",
            "groups": ["lab_netconf"],
            "data": {"site": topo.site, "interfaces": ifaces},
        }
    return hosts


def _write(path: Path, data: Any, mode: int = 0o644, header: str = "") -> None:
    text = header + yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path, mode)


def write_inventory(state: LabState, credentials: dict[str, Any]) -> Path:
    """Write inventory/ and credentials.yaml; returns the inventory dir."""
    inv = state.run_dir / "inventory"
    inv.mkdir(mode=0o755, exist_ok=True)
    header = "# written by `netorch lab up`; removed by `netorch lab down`\n"
    _write(inv / "hosts.yaml", hosts_data(state), header=header)
    _write(
        inv / "groups.yaml",
        {"lab_routers": {"data": {"deploy": True}}, "lab_netconf": {"data": {"deploy": True}}},
        header=header,
    )
    _write(
        inv / "defaults.yaml",
        {"data": {"credentials_file": str(state.run_dir / "credentials.yaml"),
                  "known_hosts": str(state.run_dir / "known_hosts")}},
        header=header,
    )
    _write(state.run_dir / "credentials.yaml", credentials, mode=0o600, header=header)
    return inv
