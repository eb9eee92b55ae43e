"""The lab topology file: what `netorch lab up` builds.

The format (see lab/topology.yaml for the documented default)::

    prefix: nol                       # names of namespaces / host links / bridge
    mgmt_gateway: 198.18.0.1/16       # the host bridge address
    routers:
      r1:
        mgmt: 198.18.0.11
        loopback: 10.255.0.1/32
        ospf: true                              # also run ospfd (bgp: true: bgpd)
        interfaces:
          eth1: {address: 10.0.12.1/30}           # description defaults to "to r2 eth1"
          eth3: {address: 10.1.0.1/24, description: users subnet}
    links:
      - [r1:eth1, r2:eth1]
    hosts:
      h1: {router: r1, interface: eth3, address: 10.1.0.10/24, gateway: 10.1.0.1}
    netconf:
      nc1:
        mgmt: 198.18.0.21
        port: 830
        interfaces:
          eth1: {address: 10.9.0.1/24, description: netconf managed}

A router interface that is neither in a link nor has a host attached becomes a
dummy interface. Pure: no I/O except `load_topology`.
"""

from __future__ import annotations

import hashlib
import re
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path
from typing import Annotated, Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from netorch.errors import LabError

NODE_NAME = re.compile(r"^[a-z][a-z0-9]{0,8}$")
IFACE_NAME = re.compile(r"^eth[1-9][0-9]{0,2}$")
DESCRIPTION = re.compile(r"^[A-Za-z0-9 _.,:/()@+=-]*$")
RESERVED_NAMES = frozenset({"br"})


class TopologyError(LabError):
    """The topology file is missing, malformed or inconsistent."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Interface(_Frozen):
    """A routed interface of a router (or a config entry of a NETCONF device)."""

    address: IPv4Interface
    description: str | None = None

    @field_validator("description")
    @classmethod
    def _description_chars(cls, value: str | None) -> str | None:
        if value is not None and not DESCRIPTION.match(value):
            raise ValueError(
                "description may only contain letters, digits, space and _.,:/()@+=- characters"
            )
        return value


class Router(_Frozen):
    """An FRR router: its own network + UTS namespace, zebra/staticd/sshd (+ ospfd, bgpd)."""

    mgmt: IPv4Address
    loopback: IPv4Interface | None = None
    ospf: bool = False
    """run ospfd (the router takes part in OSPF intents)"""
    bgp: bool = False
    """run bgpd (the router takes part in BGP intents)"""
    interfaces: dict[str, Interface] = Field(default_factory=dict)

    @field_validator("interfaces")
    @classmethod
    def _iface_names(cls, value: dict[str, Interface]) -> dict[str, Interface]:
        for name in value:
            if not IFACE_NAME.match(name):
                raise ValueError(f"interface name {name!r} must be eth1..eth999 (eth0 is mgmt)")
        return value


class Host(_Frozen):
    """An end host: a plain namespace with one veth (eth0) to its router."""

    router: str
    interface: str
    address: IPv4Interface
    gateway: IPv4Address


class NetconfDevice(_Frozen):
    """A NETCONF config store: netconfd behind its own sshd, in its own namespace."""

    mgmt: IPv4Address
    port: int = Field(default=830, ge=1, le=65535)
    interfaces: dict[str, Interface] = Field(default_factory=dict)


Endpoint = Annotated[str, Field(pattern=r"^[a-z][a-z0-9]{0,8}:eth[1-9][0-9]{0,2}$")]


class Topology(_Frozen):
    """The whole lab. Validated as a unit: every cross reference is checked."""

    prefix: str = Field(default="nol", pattern=r"^[a-z][a-z0-9]{1,4}$")
    site: str = "lab"
    mgmt_gateway: IPv4Interface = IPv4Interface("198.18.0.1/16")
    routers: dict[str, Router]
    links: list[tuple[Endpoint, Endpoint]] = Field(default_factory=list)
    hosts: dict[str, Host] = Field(default_factory=dict)
    netconf: dict[str, NetconfDevice] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems: list[str] = []
        names = [*self.routers, *self.hosts, *self.netconf]
        seen: set[str] = set()
        for name in names:
            if not NODE_NAME.match(name) or name in RESERVED_NAMES:
                problems.append(f"node name {name!r}: lowercase letter then up to 8 [a-z0-9]")
            if name in seen:
                problems.append(f"node name {name!r} is used twice")
            seen.add(name)
        mgmt_net = self.mgmt_gateway.network
        mgmts: dict[IPv4Address, str] = {self.mgmt_gateway.ip: "mgmt_gateway"}
        mgmt_nodes: list[tuple[str, Router | NetconfDevice]] = [
            *self.routers.items(), *self.netconf.items()
        ]
        for name, mgmt_node in mgmt_nodes:
            if mgmt_node.mgmt not in mgmt_net:
                problems.append(f"{name}: mgmt {mgmt_node.mgmt} is outside {mgmt_net}")
            if mgmt_node.mgmt in (mgmt_net.network_address, mgmt_net.broadcast_address):
                problems.append(f"{name}: mgmt {mgmt_node.mgmt} is not a host address")
            if mgmt_node.mgmt in mgmts:
                other = mgmts[mgmt_node.mgmt]
                problems.append(f"{name}: mgmt {mgmt_node.mgmt} also used by {other}")
            mgmts[mgmt_node.mgmt] = name
        used: dict[str, str] = {}

        def claim(endpoint: str, user: str) -> None:
            router, _, iface = endpoint.partition(":")
            if router not in self.routers:
                problems.append(f"{user}: unknown router {router!r}")
                return
            if iface not in self.routers[router].interfaces:
                problems.append(f"{user}: router {router} has no interface {iface}")
                return
            if endpoint in used:
                problems.append(f"{user}: {endpoint} is already used by {used[endpoint]}")
            used[endpoint] = user

        for a, b in self.links:
            claim(a, f"link {a}-{b}")
            claim(b, f"link {a}-{b}")
            if a.partition(":")[0] == b.partition(":")[0]:
                problems.append(f"link {a}-{b}: both ends on the same router")
        for name, host in self.hosts.items():
            claim(f"{host.router}:{host.interface}", f"host {name}")
            if host.gateway not in host.address.network:
                problems.append(
                    f"host {name}: gateway {host.gateway} not in {host.address.network}"
                )
            router = self.routers.get(host.router)
            iface = router.interfaces.get(host.interface) if router else None
            if iface is not None and host.address.network != iface.address.network:
                problems.append(
                    f"host {name}: {host.address} is not in the subnet of "
                    f"{host.router} {host.interface} ({iface.address.network})"
                )
        for name, router in self.routers.items():
            for iname, iface in router.interfaces.items():
                if iface.address.network.overlaps(mgmt_net):
                    problems.append(f"{name} {iname}: {iface.address} overlaps mgmt {mgmt_net}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def digest(self) -> str:
        """A stable fingerprint: a running lab with the same digest needs no change."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]

    def description(self, router: str, iface: str) -> str | None:
        """The description of an interface: explicit, else `to <peer> <peer-iface>`."""
        explicit = self.routers[router].interfaces[iface].description
        if explicit is not None:
            return explicit
        me = f"{router}:{iface}"
        for a, b in self.links:
            if me in (a, b):
                peer = b if me == a else a
                return "to " + peer.replace(":", " ")
        for hname, host in self.hosts.items():
            if (host.router, host.interface) == (router, iface):
                return f"to {hname}"
        return None


def _format_errors(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = str(err["msg"]).removeprefix("Value error, ")
        lines.append(f"  {loc}: {msg}")
    return "\n".join(lines)


def parse_topology(data: Any, source: str = "<topology>") -> Topology:
    """Validate already-loaded YAML data; raises TopologyError with every problem."""
    try:
        return Topology.model_validate(data)
    except ValidationError as exc:
        raise TopologyError(f"{source}: invalid lab topology:\n{_format_errors(exc)}") from None


def load_topology(path: Path) -> Topology:
    """Read and validate a topology file; raises TopologyError with a clear message."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TopologyError(f"{path}: cannot read topology: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TopologyError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise TopologyError(f"{path}: a topology must be a mapping with at least 'routers'")
    return parse_topology(data, str(path))


def generate(
    n_routers: int,
    *,
    hosts_every: int = 1,
    prefix: str = "nol",
    mgmt_gateway: str = "198.18.0.1/16",
    ospf: bool = False,
) -> Topology:
    """A ring of `n_routers` routers with ladder rungs, for benchmarks.

    Router rI: mgmt = gateway network + 10 + I, loopback 10.255.0.0 + I /32; ring
    links rI-rI+1 and a rung rI-rI+N/2 every 4th router (N >= 8), /30s from
    10.0.0.0/12; every `hosts_every` routers an end host hI on its own /24 from
    10.64.0.0/10 (router .1, host .10). No NETCONF device. ospf: every router runs ospfd.
    """
    if not 2 <= n_routers <= 4000:
        raise TopologyError("generate: n_routers must be between 2 and 4000")
    routers: dict[str, dict[str, Any]] = {}
    links: list[list[str]] = []
    hosts: dict[str, dict[str, Any]] = {}
    p2p = iter(IPv4Network("10.0.0.0/12").subnets(new_prefix=30))
    lans = iter(IPv4Network("10.64.0.0/10").subnets(new_prefix=24))
    ifaces: dict[str, dict[str, dict[str, str]]] = {}

    gateway = IPv4Interface(mgmt_gateway)

    def mgmt_of(i: int) -> str:
        return str(gateway.network.network_address + 10 + i)

    def next_iface(r: str) -> str:
        return f"eth{len(ifaces[r]) + 1}"

    for i in range(1, n_routers + 1):
        ifaces[f"r{i}"] = {}
    pairs = [(i, i % n_routers + 1) for i in range(1, n_routers + 1)]
    if n_routers == 2:
        pairs = [(1, 2)]
    pairs += [(i, i + n_routers // 2) for i in range(1, n_routers // 2 + 1, 4) if n_routers >= 8]
    for a, b in pairs:
        net = next(p2p)
        ra, rb = f"r{a}", f"r{b}"
        ia, ib = next_iface(ra), None
        ifaces[ra][ia] = {"address": f"{net.network_address + 1}/30"}
        ib = next_iface(rb)
        ifaces[rb][ib] = {"address": f"{net.network_address + 2}/30"}
        links.append([f"{ra}:{ia}", f"{rb}:{ib}"])
    for i in range(1, n_routers + 1):
        r = f"r{i}"
        if hosts_every and i % hosts_every == 0:
            lan = next(lans)
            iface = next_iface(r)
            ifaces[r][iface] = {"address": f"{lan.network_address + 1}/24", "description": "hosts"}
            hosts[f"h{i}"] = {
                "router": r,
                "interface": iface,
                "address": f"{lan.network_address + 10}/24",
                "gateway": str(lan.network_address + 1),
            }
        routers[r] = {
            "mgmt": mgmt_of(i),
            "loopback": f"{IPv4Address('10.255.0.0') + i}/32",
            "ospf": ospf,
            "interfaces": ifaces[r],
        }
    return parse_topology(
        {"prefix": prefix, "mgmt_gateway": mgmt_gateway, "routers": routers, "links": links,
         "hosts": hosts},
        f"generate({n_routers})",
    )


def dump_topology(topology: Topology) -> str:
    """The topology as YAML text (round-trips through load_topology)."""
    return yaml.safe_dump(topology.model_dump(mode="json", exclude_defaults=True), sort_keys=False)
