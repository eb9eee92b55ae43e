"""Build a Nornir object from netorch's inventory: SimpleInventory plus the connection
options each platform needs, the credentials resolved per host and connection, and the
known_hosts file each host's SSH host key is checked against."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from nornir import InitNornir
from nornir.core import Nornir
from nornir.core.inventory import ConnectionOptions

from netorch.credentials import CredentialStore, accept_new_host_keys
from netorch.defaults import CONNECT_TIMEOUT
from netorch.model.inventory import HostView, InventoryView, inventory_files
from netorch.platforms import spec
from netorch.transport.hostkeys import DEFAULT_KNOWN_HOSTS
from netorch.transport.registry import connect_plugins


def credential_store(inventory: InventoryView, path: str | None = None) -> CredentialStore:
    """The credentials in use. A file given explicitly (--credentials, NETORCH_CREDENTIALS, the
    daemon's `credentials:`) serves every host; otherwise each host its own `data.credentials_file`
    (hosts without one, and render-only hosts, use the environment only)."""
    explicit = path or os.environ.get("NETORCH_CREDENTIALS")
    if explicit:
        return CredentialStore.load(explicit)
    return CredentialStore.per_host({name: h.data.credentials_file for name, h in inventory.hosts.items()
                                     if h.data.deploy})


def known_hosts_file(inventory: InventoryView, host: HostView, creds: CredentialStore) -> str:
    """Where the host's SSH host key is checked: the inventory's data.known_hosts (relative to the
    inventory folder), else the host's credentials file's known_hosts, else ~/.ssh/known_hosts."""
    if host.data.known_hosts:
        return str(Path(inventory.directory) / Path(host.data.known_hosts).expanduser())
    found = creds.resolve(host.name, host.platform.value, host.all_groups).known_hosts
    return str(Path(found or DEFAULT_KNOWN_HOSTS).expanduser())


def _options(host: HostView, creds: CredentialStore, connection: str, platform: str | None,
             extras: dict[str, Any]) -> ConnectionOptions:
    c = creds.resolve(host.name, host.platform.value, host.all_groups, connection)
    return ConnectionOptions(hostname=host.hostname, port=host.port, username=c.username,
                             password=c.password, platform=platform, extras=extras)


def build_nornir(inventory: InventoryView, hosts: list[str], workers: int, creds: CredentialStore,
                 timeout: int = CONNECT_TIMEOUT) -> Nornir:
    """A Nornir over the selected hosts, with napalm / netorch_netmiko / netorch_ncclient options set."""
    connect_plugins()
    logging.getLogger("nornir").setLevel(logging.CRITICAL)
    accept_new = accept_new_host_keys()
    nr = _from_files(inventory, workers) if not inventory.source else _from_view(inventory, hosts, workers)
    wanted = set(hosts)
    for name, host in nr.inventory.hosts.items():
        if name not in wanted:
            continue
        view = inventory.hosts[name]
        pspec = spec(view.platform)
        known = known_hosts_file(inventory, view, creds)
        hostkeys = {"known_hosts": known, "accept_new_host_keys": accept_new, "netorch_host": name}
        base = creds.resolve(name, view.platform.value, view.all_groups)
        if base.username:
            host.username = base.username
        if base.password:
            host.password = base.password
        nap = creds.resolve(name, view.platform.value, view.all_groups, "napalm")
        napalm_args: dict[str, Any] = {"timeout": timeout, **hostkeys}
        if pspec.napalm_strict_host_keys:  # core drivers over netmiko (ios): its strict checking
            napalm_args.update(ssh_strict=True, system_host_keys=False, alt_host_keys=True, alt_key_file=known)
        if view.data.mgmt_interface and pspec.napalm_ignores_mgmt:
            napalm_args["ignore_interfaces"] = [view.data.mgmt_interface]
        if nap.ssh_key_file:
            napalm_args["key_file"] = nap.ssh_key_file
        host.connection_options["napalm"] = _options(
            view, creds, "napalm", pspec.napalm_driver, {"optional_args": napalm_args, "timeout": timeout})
        nm = creds.resolve(name, view.platform.value, view.all_groups, "netmiko")
        netmiko_extras: dict[str, Any] = {"fast_cli": True, "conn_timeout": timeout, "auth_timeout": timeout,
                                          "banner_timeout": timeout, "session_log": None, **hostkeys}
        if nm.ssh_key_file and not nm.password:
            netmiko_extras.update(use_keys=True, key_file=nm.ssh_key_file)
        else:
            netmiko_extras.update(use_keys=False, allow_agent=False)
        host.connection_options["netorch_netmiko"] = _options(view, creds, "netmiko", pspec.netmiko_device_type,
                                                              netmiko_extras)
        nc = creds.resolve(name, view.platform.value, view.all_groups, "netorch_ncclient")
        nc_extras: dict[str, Any] = {"timeout": timeout, **hostkeys}
        if nc.ssh_key_file and not nc.password:
            nc_extras["key_filename"] = nc.ssh_key_file
        host.connection_options["netorch_ncclient"] = _options(view, creds, "netorch_ncclient", None, nc_extras)
    return nr.filter(filter_func=lambda h: h.name in wanted)


def _from_files(inventory: InventoryView, workers: int) -> Nornir:
    """A Nornir over a SimpleInventory folder, read by Nornir itself."""
    files = inventory_files(Path(inventory.directory))
    options: dict[str, Any] = {"host_file": str(files["hosts.yaml"])}
    for key, name in (("group_file", "groups.yaml"), ("defaults_file", "defaults.yaml")):
        if files[name].exists():
            options[key] = str(files[name])
    return InitNornir(runner={"plugin": "threaded", "options": {"num_workers": max(1, workers)}},
                      inventory={"plugin": "SimpleInventory", "options": options},
                      logging={"enabled": False})


def _from_view(inventory: InventoryView, hosts: list[str], workers: int) -> Nornir:
    """A Nornir over hosts an inventory plugin gave (a Nornir config file): built from netorch's
    view of them, without asking the plugin (Nautobot) again."""
    from nornir.core.configuration import Config
    from nornir.core.inventory import Defaults, Groups, Host, Hosts, Inventory
    from nornir.core.plugins.connections import ConnectionPluginRegister
    from nornir.plugins.runners import ThreadedRunner

    ConnectionPluginRegister.auto_register()  # napalm, netmiko: what InitNornir registers
    defaults = Defaults()
    built = Hosts({name: Host(name=name, hostname=view.hostname, port=view.port, platform=view.platform.value,
                              defaults=defaults)
                   for name in hosts if (view := inventory.hosts.get(name)) is not None})
    return Nornir(inventory=Inventory(hosts=built, groups=Groups(), defaults=defaults),
                  runner=ThreadedRunner(num_workers=max(1, workers)),
                  config=Config.from_dict(logging={"enabled": False}))
