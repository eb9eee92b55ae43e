"""An inventory from any Nornir inventory plugin, named by a Nornir config file.

`--inventory` names either a SimpleInventory folder (netorch.model.inventory) or a file: a
Nornir config file as InitNornir(config_file=...) reads it, of which netorch reads the
`inventory` section:

    inventory:
      plugin: NautobotInventory            # any registered Nornir inventory plugin
      options: {nautobot_url: https://nautobot.example.net, nautobot_token: null}
      transform_function: my_transform     # optional, a registered transform function
      transform_function_options: {}       # optional

The plugin loads a Nornir Inventory (after which the transform function runs on every host,
as in Nornir); hosts built by nornir-nautobot's NautobotInventory are then completed from
Nautobot (netorch.model.nautobot); and the Inventory becomes netorch's InventoryView:

- host name, hostname, port and platform: the Nornir host's (with Nornir's inheritance from
  groups and defaults); the platform through netutils' lib_mapper like any platform name;
- groups: the Nornir host's groups, all_groups their closure (Host.extended_groups);
- data: the keys of netorch.model.inventory.HostData in the host's data, inherited from groups
  and defaults like Nornir's; other keys stay the plugin's, unread.

A file named hosts.yaml (or hosts.yml) is the SimpleInventory folder it is in. The other
sections of a Nornir config file (runner, logging, ssh, core, user_defined) are allowed and
not read. Paths in `options` are read by the plugin as Nornir does: relative to the current
folder. Secrets are refused in the file as in inventory files (SECRET_KEY_RE): give
`nautobot_token: null` and NAUTOBOT_TOKEN in the environment. Problems of a host name its
source (the Nautobot object, or the plugin and host), since there is no file and line.

A stored revision keeps the hosts a plugin gave (RESOLVED_NAME); a folder holding that file and
no hosts.yaml loads from it, as it was, without asking the plugin again.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from netorch.errors import Problem, YamlSyntaxError
from netorch.model.inventory import (
    HostData,
    HostView,
    InventoryView,
    load_inventory,
    walk_secrets,
)
from netorch.model.nautobot import NAUTOBOT_OBJECT, Origins, complete_from_nautobot
from netorch.platforms import Platform, platform_name
from netorch.yamlsrc import format_loc, line_of, load_file

NORNIR_SECTIONS = frozenset({"inventory", "runner", "logging", "ssh", "core", "user_defined"})
"""The sections of a Nornir config file (nornir.core.configuration.Config); only inventory is read."""
INVENTORY_KEYS = frozenset({"plugin", "options", "transform_function", "transform_function_options"})
PLUGIN_TIMEOUT = 300.0
"""Most seconds an inventory plugin (with its transform function, and netorch's reading of Nautobot)
may take to give the inventory."""
RESOLVED_NAME = "resolved-hosts.json"
"""The name under which a stored revision keeps the hosts a plugin gave (see resolved_text)."""


def is_config_file(path: Path) -> bool:
    """True when `path` names a Nornir config file rather than a SimpleInventory folder: an existing
    file other than hosts.yaml/hosts.yml, or a missing path ending in .yaml/.yml."""
    if path.name in ("hosts.yaml", "hosts.yml"):
        return False
    if os.path.lexists(path):
        return not path.is_dir()
    return path.suffix in (".yaml", ".yml")


def load_any(path: Path, timeout: float | None = None) -> tuple[InventoryView | None, list[Problem]]:
    """The inventory `--inventory` names: a SimpleInventory folder, its hosts.yaml, or a Nornir
    config file (any inventory plugin, given `timeout` s, by default PLUGIN_TIMEOUT). Returns the
    view (None if unusable) and the problems."""
    if path.name in ("hosts.yaml", "hosts.yml") and path.is_file():
        return load_inventory(path.parent)
    if not is_config_file(path):
        resolved = path / RESOLVED_NAME
        if resolved.is_file() and not any((path / n).exists() for n in ("hosts.yaml", "hosts.yml")):
            return load_resolved(resolved)
        return load_inventory(path)
    return load_config(path, timeout)


def load_resolved(path: Path) -> tuple[InventoryView | None, list[Problem]]:
    """The hosts a stored revision kept of an inventory plugin (resolved_text): a revision's
    inventory folder holding them is loaded as they were, without asking the source again."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        groups = {str(g): tuple(str(p) for p in parents) for g, parents in data.pop("__groups__").items()}
        hosts = {str(n): HostView.model_validate(h) for n, h in data.items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        return None, [Problem(str(path), 0, "", f"not the hosts of a stored revision: {_failure(exc)}", "schema")]
    view = InventoryView(hosts=hosts, groups=groups, host_lines={n: (str(path), 0) for n in hosts},
                         directory=str(path.parent), raw_hosts={}, source=str(path))
    return view, []


def _plain(value: Any) -> Any:
    """YAML's located mappings and lists as plain ones, for a plugin's constructor."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _section(path: Path) -> tuple[dict[str, Any] | None, Any, list[Problem]]:
    """The inventory section of the config file, checked, and the file's root for lines."""
    name = str(path)
    if not os.path.lexists(path):
        return None, None, [Problem(name, 0, "", "inventory not found (a SimpleInventory folder or a Nornir "
                                                 "config file)", "io")]
    try:
        root, problems = load_file(path)
    except YamlSyntaxError as exc:
        return None, None, [exc.problem]
    if problems:
        return None, root, problems
    if not isinstance(root, dict) or not isinstance(root.get("inventory"), dict):
        return None, root, [Problem(name, getattr(root, "line", 1), "inventory",
                                    "a Nornir config file holds an `inventory` mapping with `plugin` and `options` "
                                    "(or name a SimpleInventory folder)", "schema")]
    for key in root:
        if key not in NORNIR_SECTIONS:
            problems.append(Problem(name, line_of(root, (key,)), format_loc((key,)),
                                    f"unknown section {key!r} (Nornir's: {', '.join(sorted(NORNIR_SECTIONS))})",
                                    "schema"))
    section = root["inventory"]
    for key in section:
        if key not in INVENTORY_KEYS:
            problems.append(Problem(name, line_of(root, ("inventory", key)), format_loc(("inventory", key)),
                                    f"unknown field {key!r} (Nornir's: {', '.join(sorted(INVENTORY_KEYS))})",
                                    "schema"))
    if not isinstance(section.get("plugin"), str) or not section["plugin"]:
        problems.append(Problem(name, line_of(root, ("inventory",)), "inventory.plugin",
                                "missing inventory plugin name (e.g. SimpleInventory, NautobotInventory)", "schema"))
    for key in ("options", "transform_function_options"):
        if section.get(key) is not None and not isinstance(section[key], dict):
            problems.append(Problem(name, line_of(root, ("inventory", key)), f"inventory.{key}",
                                    f"{key} must be a mapping of the plugin's parameters", "schema"))
    transform = section.get("transform_function")
    if transform is not None and (not isinstance(transform, str) or not transform):
        problems.append(Problem(name, line_of(root, ("inventory", "transform_function")),
                                "inventory.transform_function", "transform_function must be a name", "schema"))
    for loc in walk_secrets(section, ("inventory",)):
        problems.append(Problem(name, line_of(root, loc), format_loc(loc),
                                f"{loc[-1]!r} looks like a secret: it must not be stored in the inventory's config "
                                "file: set it to null and give it in the environment the plugin reads "
                                "(NAUTOBOT_TOKEN for NautobotInventory)", "secret"))
    return (None if problems else dict(section)), root, problems


def _failure(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if len(text) > 300:
        text = text[:300] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def load_config(path: Path, timeout: float | None = None) -> tuple[InventoryView | None, list[Problem]]:
    """Load the inventory of a Nornir config file through its plugin; see the module docstring."""
    from nornir.core.exceptions import PluginNotRegistered
    from nornir.core.plugins.inventory import InventoryPluginRegister, TransformFunctionRegister

    section, root, problems = _section(path)
    if section is None:
        return None, problems
    name = str(path)
    plugin_name = str(section["plugin"])
    at = line_of(root, ("inventory", "plugin"))
    InventoryPluginRegister.auto_register()
    try:
        plugin = InventoryPluginRegister.get_plugin(plugin_name)
    except PluginNotRegistered:
        known = ", ".join(sorted(InventoryPluginRegister.available)) or "none"
        return None, [Problem(name, at, "inventory.plugin", f"unknown Nornir inventory plugin {plugin_name!r} "
                              f"(registered: {known}; is its package installed?)", "reference")]
    transform: Callable[..., Any] | None = None
    transform_name = section.get("transform_function")
    if transform_name:
        TransformFunctionRegister.auto_register()
        try:
            transform = TransformFunctionRegister.get_plugin(str(transform_name))
        except PluginNotRegistered:
            known = ", ".join(sorted(TransformFunctionRegister.available)) or "none"
            return None, [Problem(name, line_of(root, ("inventory", "transform_function")),
                                  "inventory.transform_function",
                                  f"unknown Nornir transform function {transform_name!r} (registered: {known})",
                                  "reference")]
    options = _plain(section.get("options") or {})
    transform_options = _plain(section.get("transform_function_options") or {})
    transform_at = line_of(root, ("inventory", "transform_function"))
    transform_fn = transform

    def run() -> tuple[Any, Origins, list[Problem]]:
        try:
            # a plugin is foreign code: whatever it raises (or exits with) is its failure, reported
            inventory = plugin(**options).load()
        except (Exception, SystemExit) as exc:
            return None, {}, [Problem(name, at, "inventory.plugin",
                                      f"inventory plugin {plugin_name} failed: {_failure(exc)}", "io")]
        for host in inventory.hosts.values():
            try:
                if transform_fn is not None:
                    transform_fn(host, **transform_options)
            except (Exception, SystemExit) as exc:
                return None, {}, [Problem(name, transform_at, "inventory.transform_function",
                                          f"transform function {transform_name} failed on host {host.name}: "
                                          f"{_failure(exc)}", "io")]
        if not any(NAUTOBOT_OBJECT in host.data for host in inventory.hosts.values()):
            return inventory, {}, []
        try:
            origins, found = complete_from_nautobot(inventory)
        except Exception as exc:  # the Nautobot API, over the network: any failure is reported
            return None, {}, [Problem(name, at, "inventory.plugin",
                                      f"reading interfaces and addresses from Nautobot failed: {_failure(exc)}", "io")]
        return inventory, origins, found

    done: list[tuple[Any, Origins, list[Problem]]] = []
    # a plugin may wait on the network without a bound of its own (NautobotInventory's requests)
    worker = threading.Thread(target=lambda: done.append(run()), name="netorch-inventory-plugin", daemon=True)
    worker.start()
    bound = PLUGIN_TIMEOUT if timeout is None else timeout
    worker.join(bound)
    if not done:
        return None, [Problem(name, at, "inventory.plugin", f"inventory plugin {plugin_name} gave no inventory "
                              f"within {bound:g} s (is its source of truth reachable?)", "io")]
    inventory, origins, found = done[0]
    problems.extend(found)
    if inventory is None:
        return None, problems
    view, found = view_of(inventory, path, f"{name}: {plugin_name} host", origins)
    problems.extend(found)
    return view, problems


def view_of(inventory: Any, source: Path, label: str, origins: Origins | None = None
            ) -> tuple[InventoryView, list[Problem]]:
    """netorch's view of a Nornir Inventory loaded from the config file `source`. A host's problems
    name `origins[host][loc]` (the longest matching loc), else "`label` NAME"."""
    origins = origins or {}
    problems: list[Problem] = []

    def origin(host: str, loc: tuple[Any, ...] = ()) -> str:
        known = origins.get(host, {})
        for n in range(len(loc), -1, -1):
            if loc[:n] in known:
                return known[loc[:n]]
        return f"{label} {host!r}"

    hosts: dict[str, HostView] = {}
    for key, host in inventory.hosts.items():
        name = str(key)
        if host.password:
            problems.append(Problem(origin(name), 0, "password", "the inventory gives a password: credentials must "
                                    "not come from the inventory: use NETORCH_USERNAME/NETORCH_PASSWORD or a "
                                    "credentials file (NETORCH_CREDENTIALS)", "secret"))
            continue
        data = {k: v for k, v in host.extended_data().items() if not str(k).startswith("pynautobot_")}
        secret = next(iter(walk_secrets(data, ("data",))), None)
        if secret is not None:
            problems.append(Problem(origin(name, secret), 0, format_loc(secret),
                                    f"{secret[-1]!r} looks like a secret: credentials must not come from the "
                                    "inventory (use a credentials file, NETORCH_CREDENTIALS)", "secret"))
            continue
        if not host.platform:
            problems.append(Problem(origin(name, ("platform",)), 0, "platform", "host has no platform", "schema"))
            continue
        raw: dict[str, Any] = {
            "name": name, "hostname": host.hostname or name, "port": host.port,
            "platform": platform_name(host.platform),
            "groups": tuple(g.name for g in host.groups),
            "all_groups": tuple(g.name for g in host.extended_groups()),
            "data": {k: _plain(v) for k, v in data.items() if k in HostData.model_fields},
        }
        try:
            hosts[name] = HostView.model_validate(raw)
        except ValidationError as exc:
            for err in exc.errors():
                loc = tuple(err["loc"])
                msg = str(err["msg"]).removeprefix("Value error, ")
                if err["type"] == "enum":
                    msg = (f"unknown platform {err.get('input')!r}; expected one of: "
                           f"{', '.join(p.value for p in Platform)} (or their NAPALM and netmiko names)")
                problems.append(Problem(origin(name, loc), 0, format_loc(loc), msg, "schema"))
    groups = {str(n): tuple(p.name for p in g.groups) for n, g in inventory.groups.items()}
    for host_view in hosts.values():  # groups a plugin names on hosts only
        for g in host_view.all_groups:
            groups.setdefault(g, ())
    view = InventoryView(hosts=hosts, groups=groups, host_lines={n: (origin(n), 0) for n in hosts},
                         directory=str(source.parent), raw_hosts={}, source=str(source))
    return view, problems


def resolved_text(view: InventoryView) -> str:
    """The hosts a plugin gave, as JSON: what a stored revision keeps of an inventory that lives
    elsewhere (Nautobot), so that a change there is a new revision."""
    return json.dumps({n: h.model_dump(mode="json") for n, h in sorted(view.hosts.items())} |
                      {"__groups__": {g: list(p) for g, p in sorted(view.groups.items())}},
                      indent=1, sort_keys=True)
