"""A read-only, validated view of a Nornir SimpleInventory (hosts/groups/defaults.yaml).

Inheritance follows Nornir: a host attribute or data key is taken from the host,
then from its groups in order (each group before its parents), then from the
defaults. Credentials are never accepted in these files: a key that looks like a
secret (SECRET_KEY_RE: password, passwd, passphrase, secret, token, community,
api_key, private_key, pre-shared keys, any case, anywhere in an entry) is refused.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field, ValidationError

from netorch.errors import NetorchError, Problem, YamlSyntaxError
from netorch.model.ownership import DEFAULT as DEFAULT_OWNERSHIP
from netorch.model.ownership import Ownership
from netorch.model.types import Bool, Frozen, HostAddress, IfAddress, IfName, Name, SafeText, TcpPort, unknown_field
from netorch.platforms import Platform, Transport, platform_name, spec
from netorch.util import unknown_name
from netorch.yamlsrc import LocatedDict, format_loc, line_of, load_file

Source = tuple[str, Any, tuple[Any, ...]]
INVENTORY_FILES = ("hosts.yaml", "groups.yaml", "defaults.yaml")
"""The SimpleInventory files; each may also be spelled .yml (the .yaml one wins when both exist)."""


def inventory_files(directory: Path) -> dict[str, Path]:
    """hosts.yaml, groups.yaml, defaults.yaml -> the file of that name in `directory`, as .yaml or,
    when only that exists, as .yml (the .yaml path when neither does)."""
    found: dict[str, Path] = {}
    for name in INVENTORY_FILES:
        path = directory / name
        other = path.with_suffix(".yml")
        found[name] = other if not os.path.lexists(path) and os.path.lexists(other) else path
    return found
SECRET_KEY_RE = re.compile(
    r"pass(?:word|wd|phrase)|secret|token|community|api[_-]?key|private[_-]?key|pre[_-]?shared"
    r"|(?:^|[_-])psk(?:$|[_-])",
    re.IGNORECASE,
)
"""Mapping keys that name a secret, searched anywhere in the key: enable_password, snmp_community..."""
NORNIR_FIELDS = frozenset(
    {"hostname", "port", "username", "password", "platform", "groups", "data", "connection_options"}
)


class InterfaceData(Frozen):
    address: IfAddress | None = None
    """The interface's address with its prefix length (10.0.12.1/30)."""
    description: SafeText | None = None
    """Rendered as the interface's description."""
    enabled: Bool = True
    """Administratively up (false: shut down)."""


class HostData(Frozen):
    """The data keys netorch understands. Other keys are kept for other tools, never rendered."""

    interfaces: dict[IfName, InterfaceData] = Field(default_factory=dict)
    """The interfaces netorch manages on the host, by name."""
    mgmt_interface: IfName | None = None
    """The management interface: never rendered, never touched."""
    deploy: Bool = True
    """false: render only, never contacted (plan, apply and drift skip it)."""
    site: Name | None = None
    """Free grouping name."""
    region: Name | None = None
    """The executor queue its work goes to (netorch worker --queues REGION)."""
    credentials_file: str | None = None
    """The credentials file of this host (see Credentials files)."""
    known_hosts: str | None = None
    """The OpenSSH known_hosts file its host key is checked against (relative to the inventory folder)."""
    transport: Transport | None = None
    """How it is pushed, when not its platform's: napalm, netmiko or ncclient."""
    ownership: Ownership = DEFAULT_OWNERSHIP
    """What netorch owns on it beyond its platform's table (see Ownership)."""


class HostEntry(Frozen):
    """One entry of hosts.yaml (and, without hostname, of groups.yaml; defaults.yaml is one such
    entry): the Nornir fields netorch reads. Credentials are never accepted here."""

    model_config = ConfigDict(extra="allow")

    hostname: str | None = None
    """The management address or name (the entry's name when unset)."""
    port: TcpPort | None = None
    """The management port (the transport's default when unset)."""
    platform: str | None = None
    """frr, netconf, cisco_ios, arista_eos, juniper_junos, or their NAPALM / netmiko names (ios, eos, junos)."""
    groups: list[str] = Field(default_factory=list)
    """The groups it inherits from, in order."""
    username: str | None = None
    """The login (also from the credentials)."""
    data: HostData | None = None
    """What netorch reads of the host (other keys are kept for other tools)."""
    connection_options: dict[str, Any] = Field(default_factory=dict)
    """Nornir's per-connection options (secrets refused: they belong in the credentials)."""


class HostView(Frozen):
    name: Name
    hostname: HostAddress
    port: TcpPort | None = None
    platform: Platform
    groups: tuple[Name, ...] = ()
    all_groups: tuple[Name, ...] = ()
    data: HostData

    @property
    def transport(self) -> Transport:
        """How the host is pushed: its data.transport, else its platform's (netorch.platforms)."""
        return self.data.transport or spec(self.platform).transport


@dataclass(frozen=True)
class InventoryView:
    """Hosts (resolved), groups (with their parents), and where each host was declared."""

    hosts: dict[str, HostView]
    groups: dict[str, tuple[str, ...]]
    host_lines: dict[str, tuple[str, int]]
    directory: str
    raw_hosts: dict[str, Any]
    broken: dict[str, tuple[str, int]] = field(default_factory=dict)
    """Hosts declared but invalid (their problem is reported where it is): name -> (file, line).
    Later checks know them by name and stay silent about what fails only because of them."""
    broken_groups: frozenset[str] = frozenset()
    """Groups declared but invalid, likewise."""
    data_where: dict[str, dict[str, Source]] = field(default_factory=dict)
    """host -> data key -> where the host's value of it was declared (the host, a group, defaults)."""

    def declared(self, host: str) -> bool:
        """The host is in the inventory, valid or not."""
        return host in self.hosts or host in self.broken

    def locate(self, host: str, *keys: Any) -> tuple[str, int, str]:
        """(file, line, path) of a key under the host's data (e.g. "interfaces", "eth1", "address"),
        in the file that declared it (the host, one of its groups or the defaults); the host's own
        line when it is not found."""
        found = self.data_where.get(host, {}).get(str(keys[0])) if keys else None
        if found is None:
            file, line = self.host_lines.get(host, (os.path.join(self.directory, "hosts.yaml"), 0))
            return file, line, host
        file, root, base = found
        full = (*base, *keys[1:])
        return file, line_of(root, full), format_loc(full)
    source: str = ""
    """The Nornir config file the hosts came from through an inventory plugin ("" for a folder)."""

    def members(self, group: str) -> list[str]:
        index = self.__dict__.get("_members")
        if index is None:
            index = {}
            for host in self.hosts.values():
                for g in host.all_groups:
                    index.setdefault(g, []).append(host.name)
            index = {g: sorted(names) for g, names in index.items()}
            object.__setattr__(self, "_members", index)
        return list(index.get(group, []))

    def select(self, limit: str | None) -> list[HostView]:
        """Hosts named by `limit` (a host, a group, or a comma list of either), sorted; every host
        when `limit` is None. A limit that names nothing ("", " , ") is an error, never every host."""
        if limit is None:
            return [self.hosts[n] for n in sorted(self.hosts)]
        parts = [p for p in (p.strip() for p in limit.split(",")) if p]
        if not parts:
            raise NetorchError(f"--limit is empty ({limit!r}): name hosts or groups, or leave it out "
                               "for every host")
        wanted: set[str] = set()
        for part in parts:
            if part in self.hosts:
                wanted.add(part)
            elif part in self.groups:
                wanted.update(self.members(part))
            else:
                raise NetorchError(f"--limit {part!r} matches no host or group of the inventory")
        return [self.hosts[n] for n in sorted(wanted)]


def walk_secrets(value: Any, loc: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, sub in value.items():
            if isinstance(key, str) and SECRET_KEY_RE.search(key):
                if sub is None or sub == "":
                    continue  # an empty value holds no secret (NAPALM's `secret: ""`)
                yield (*loc, key)
            else:
                yield from walk_secrets(sub, (*loc, key))
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            yield from walk_secrets(sub, (*loc, i))


def _entry_problems(
    file: str, root: Any, name: Any, entry: Any, kind: str, problems: list[Problem]
) -> bool:
    loc: tuple[Any, ...] = (name,) if kind != "defaults" else ()
    if not isinstance(entry, dict):
        problems.append(Problem(file, line_of(root, loc), format_loc(loc), f"a {kind} entry must be a mapping"))
        return False
    ok = True
    for key in entry:
        allowed = NORNIR_FIELDS - ({"groups"} if kind == "defaults" else set())
        if key not in allowed:
            problems.append(
                Problem(file, line_of(root, (*loc, key)), format_loc((*loc, key)),
                        f"unknown field {key!r} (Nornir fields: {', '.join(sorted(allowed))})")
            )
            ok = False
    for secret_loc in walk_secrets(entry, loc):
        problems.append(
            Problem(file, line_of(root, secret_loc), format_loc(secret_loc),
                    f"{secret_loc[-1]!r} looks like a secret: credentials must not be stored in inventory "
                    "files: use NETORCH_USERNAME/NETORCH_PASSWORD or a credentials file "
                    "(NETORCH_CREDENTIALS, data.credentials_file)", "secret")
        )
        ok = False
    if "data" in entry and entry["data"] is not None and not isinstance(entry["data"], dict):
        problems.append(Problem(file, line_of(root, (*loc, "data")), format_loc((*loc, "data")),
                                "data must be a mapping"))
        ok = False
    if kind != "defaults":
        groups = entry.get("groups", [])
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            problems.append(Problem(file, line_of(root, (*loc, "groups")), format_loc((*loc, "groups")),
                                    "groups must be a list of group names"))
            ok = False
    return ok


def _load(path: Path, problems: list[Problem]) -> Any:
    if not os.path.lexists(path):  # a dangling link is not an absent file: the reader refuses it
        return LocatedDict()
    try:
        data, found = load_file(path)
    except YamlSyntaxError as exc:
        problems.append(exc.problem)
        return None
    problems.extend(found)
    if data is None:
        return LocatedDict()
    if not isinstance(data, dict):
        problems.append(Problem(str(path), getattr(data, "line", 1), "", "the file must hold a mapping"))
        return None
    return data


def load_inventory(directory: Path) -> tuple[InventoryView | None, list[Problem]]:
    """Load and validate a SimpleInventory folder. Returns the view (None if unusable) and problems."""
    problems: list[Problem] = []
    files = inventory_files(directory)
    if not os.path.lexists(files["hosts.yaml"]):
        return None, [Problem(str(directory / "hosts.yaml"), 0, "", "inventory hosts.yaml (or hosts.yml) not found")]
    hosts_raw = _load(files["hosts.yaml"], problems)
    groups_raw = _load(files["groups.yaml"], problems)
    defaults_raw = _load(files["defaults.yaml"], problems)
    if hosts_raw is None or groups_raw is None or defaults_raw is None:
        return None, problems

    hfile, gfile, dfile = (str(files[n]) for n in INVENTORY_FILES)
    good_hosts = {n: e for n, e in hosts_raw.items()
                  if _entry_problems(hfile, hosts_raw, n, e, "host", problems)}
    good_groups = {n: e for n, e in groups_raw.items()
                   if _entry_problems(gfile, groups_raw, n, e, "group", problems)}
    broken = {str(n): (hfile, line_of(hosts_raw, (n,))) for n in hosts_raw if n not in good_hosts}
    broken_groups = frozenset(str(n) for n in groups_raw if n not in good_groups)
    if defaults_raw:
        _entry_problems(dfile, defaults_raw, None, defaults_raw, "defaults", problems)

    parents: dict[str, tuple[str, ...]] = {
        str(n): tuple(e.get("groups") or ()) for n, e in good_groups.items()
    }
    for gname, plist in parents.items():
        for i, parent in enumerate(plist):
            if parent not in parents and parent not in broken_groups:
                problems.append(Problem(gfile, line_of(groups_raw, (gname, "groups", i)),
                                        format_loc((gname, "groups", i)), unknown_name("group", parent, parents),
                                        "reference"))

    def closure(groups: tuple[str, ...]) -> list[str]:
        order: list[str] = []
        stack = list(groups)
        seen: set[str] = set()

        def visit(g: str) -> None:
            if g in seen:
                return
            seen.add(g)
            order.append(g)
            for p in parents.get(g, ()):
                visit(p)

        for g in stack:
            visit(g)
        return order

    hosts: dict[str, HostView] = {}
    host_lines: dict[str, tuple[str, int]] = dict(broken)
    data_sources: dict[str, dict[str, Source]] = {}
    for name, entry in good_hosts.items():
        host_lines[str(name)] = (hfile, line_of(hosts_raw, (name,)))
        own_groups = tuple(entry.get("groups") or ())
        bad_group = False
        for i, g in enumerate(own_groups):
            if g in broken_groups:
                bad_group = True
            elif g not in parents:
                problems.append(Problem(hfile, line_of(hosts_raw, (name, "groups", i)),
                                        format_loc((name, "groups", i)), unknown_name("group", g, parents),
                                        "reference"))
                bad_group = True
        chain = closure(own_groups)
        sources: list[tuple[str, Any, tuple[Any, ...]]] = [(hfile, hosts_raw, (name,))]
        sources += [(gfile, groups_raw, (g,)) for g in chain if g in good_groups]
        sources.append((dfile, defaults_raw, ()))

        def attr(key: str, sources: list[Source] = sources) -> tuple[Any, Source | None]:
            for src in sources:
                _, root, loc = src
                node = root
                for part in loc:
                    node = node[part]
                if isinstance(node, dict) and key in node and node[key] is not None:
                    return node[key], (src[0], root, (*loc, key))
            return None, None

        merged_data: dict[str, Any] = {}
        data_where: dict[str, tuple[str, Any, tuple[Any, ...]]] = {}
        for fname, root, loc in reversed(sources):
            node = root
            for part in loc:
                node = node[part]
            data = node.get("data") if isinstance(node, dict) else None
            if isinstance(data, dict):
                for key, value in data.items():
                    merged_data[key] = value
                    data_where[key] = (fname, root, (*loc, "data", key))
        known = {k: v for k, v in merged_data.items() if k in HostData.model_fields}
        raw: dict[str, Any] = {"name": name, "groups": own_groups, "all_groups": tuple(chain), "data": known}
        where: dict[str, tuple[str, Any, tuple[Any, ...]]] = {}
        for key in ("hostname", "port", "platform"):
            value, src = attr(key)
            if value is not None and src is not None:
                raw[key] = platform_name(value) if key == "platform" else value
                where[key] = src
        if "hostname" not in raw:
            raw["hostname"] = str(name)
        if "platform" not in raw:
            if not bad_group:  # its group may be the one that would have named the platform
                problems.append(Problem(hfile, line_of(hosts_raw, (name,)), str(name),
                                        "host has no platform (set it on the host, a group or defaults)", "schema"))
            broken[str(name)] = host_lines[str(name)]
            continue
        data_sources[str(name)] = data_where
        try:
            hosts[str(name)] = HostView.model_validate(raw)
        except ValidationError as exc:
            broken[str(name)] = host_lines[str(name)]
            for err in exc.errors():
                loc = tuple(err["loc"])
                if loc and loc[0] == "data" and len(loc) > 1 and loc[1] in data_where:
                    fname, root, base = data_where[str(loc[1])]
                    full = (*base, *loc[2:])
                elif loc and loc[0] in where:
                    fname, root, full = where[str(loc[0])]
                else:
                    fname, root, full = hfile, hosts_raw, (name, *loc)
                msg = err["msg"].removeprefix("Value error, ")
                if err["type"] == "extra_forbidden":
                    msg = unknown_field(loc, HostView)
                elif err["type"] == "enum":
                    choices = ", ".join(p.value for p in Platform)
                    msg = (f"unknown platform {err.get('input')!r}; expected one of: {choices} "
                           "(or their NAPALM and netmiko names, e.g. ios, eos, junos)")
                problems.append(Problem(fname, line_of(root, full), format_loc(full), msg, "schema"))
        if bad_group:
            continue
    view = InventoryView(
        hosts=hosts,
        groups=parents,
        host_lines=host_lines,
        directory=str(directory),
        raw_hosts=dict(hosts_raw),
        broken=broken,
        broken_groups=broken_groups,
        data_where=data_sources,
    )
    return view, problems
