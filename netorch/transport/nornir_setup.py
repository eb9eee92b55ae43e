"""Build a Nornir object from netorch's inventory: SimpleInventory plus the connection
options each platform needs and the credentials resolved per host and connection."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from nornir import InitNornir
from nornir.core import Nornir
from nornir.core.inventory import ConnectionOptions

from netorch.credentials import CredentialStore
from netorch.model.inventory import HostView, InventoryView
from netorch.platforms import spec


def credential_store(inventory: InventoryView, path: str | None = None) -> CredentialStore:
    if path:
        return CredentialStore.load(path)
    files = {h.data.credentials_file for h in inventory.hosts.values() if h.data.credentials_file}
    import os

    if os.environ.get("NETORCH_CREDENTIALS") or not files:
        return CredentialStore.load(None)
    return CredentialStore.load(sorted(files)[0])


def _options(host: HostView, creds: CredentialStore, connection: str, platform: str | None,
             extras: dict[str, Any]) -> ConnectionOptions:
    c = creds.resolve(host.name, host.platform.value, host.all_groups, connection)
    return ConnectionOptions(hostname=host.hostname, port=host.port, username=c.username,
                             password=c.password, platform=platform, extras=extras)


def build_nornir(inventory: InventoryView, hosts: list[str], workers: int, creds: CredentialStore,
                 timeout: int = 30) -> Nornir:
    """A Nornir over the selected hosts, with napalm / netmiko / netorch_ncclient options set."""
    try:
        from netorch.transport.netconf import register
    except ImportError:  # pragma: no cover
        pass
    else:
        register()
    logging.getLogger("nornir").setLevel(logging.CRITICAL)
    folder = Path(inventory.directory)
    options: dict[str, Any] = {"host_file": str(folder / "hosts.yaml")}
    for key, name in (("group_file", "groups.yaml"), ("defaults_file", "defaults.yaml")):
        if (folder / name).exists():
            options[key] = str(folder / name)
    nr = InitNornir(runner={"plugin": "threaded", "options": {"num_workers": max(1, workers)}},
                    inventory={"plugin": "SimpleInventory", "options": options},
                    logging={"enabled": False})
    wanted = set(hosts)
    for name, host in nr.inventory.hosts.items():
        if name not in wanted:
            continue
        view = inventory.hosts[name]
        pspec = spec(view.platform)
        base = creds.resolve(name, view.platform.value, view.all_groups)
        if base.username:
            host.username = base.username
        if base.password:
            host.password = base.password
        nap = creds.resolve(name, view.platform.value, view.all_groups, "napalm")
        napalm_args: dict[str, Any] = {"timeout": timeout}
        if view.data.mgmt_interface and view.platform.value == "frr":
            napalm_args["ignore_interfaces"] = [view.data.mgmt_interface]
        if nap.ssh_key_file:
            napalm_args["key_file"] = nap.ssh_key_file
        host.connection_options["napalm"] = _options(
            view, creds, "napalm", pspec.napalm_driver, {"optional_args": napalm_args, "timeout": timeout})
        nm = creds.resolve(name, view.platform.value, view.all_groups, "netmiko")
        netmiko_extras: dict[str, Any] = {"fast_cli": True, "conn_timeout": timeout, "auth_timeout": timeout,
                                          "banner_timeout": timeout, "session_log": None}
        if nm.ssh_key_file and not nm.password:
            netmiko_extras.update(use_keys=True, key_file=nm.ssh_key_file)
        else:
            netmiko_extras.update(use_keys=False, allow_agent=False)
        host.connection_options["netmiko"] = _options(view, creds, "netmiko", pspec.netmiko_device_type,
                                                      netmiko_extras)
        nc = creds.resolve(name, view.platform.value, view.all_groups, "netorch_ncclient")
        nc_extras: dict[str, Any] = {"timeout": timeout, "hostkey_verify": False}
        if nc.ssh_key_file and not nc.password:
            nc_extras["key_filename"] = nc.ssh_key_file
        host.connection_options["netorch_ncclient"] = _options(view, creds, "netorch_ncclient", None, nc_extras)
    return nr.filter(filter_func=lambda h: h.name in wanted)
