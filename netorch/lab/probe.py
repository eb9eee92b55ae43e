"""`netorch lab probe`: real traffic between the lab's end hosts, compared with what the
intents say it should do (netorch.simulate computes the expectation from the desired state).

Probes: ping between every ordered pair of hosts; a TCP connect to every TCP port any
service or rule names (each port of a range: see probe_ports), to every host (a host that is
no destination of that port must refuse it as the intents say), from every other host
(listeners are started on the destination hosts for the duration)."""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, RootModel

from netorch.lab.nodes import listening, ping, tcp_connect
from netorch.lab.state import LabState
from netorch.model.intents import DomainIntent, Protocol, Sourced
from netorch.model.types import PortRange
from netorch.service import Workspace
from netorch.simulate import expect
from netorch.topology import Topology
from netorch.validate import DomainSubnet, domain_subnets


@dataclass(frozen=True)
class Probe:
    src: str
    dst: str
    dst_ip: str
    protocol: str
    port: int | None
    expected: bool
    reason: str
    observed: bool | None = None

    @property
    def ok(self) -> bool:
        return self.observed == self.expected

    def flow(self) -> str:
        what = "ping" if self.protocol == "icmp" else f"{self.protocol}/{self.port}"
        return f"{self.src}->{self.dst} {what}"

    def as_dict(self) -> dict[str, object]:
        return {"src": self.src, "dst": self.dst, "dst_ip": self.dst_ip, "protocol": self.protocol,
                "port": self.port, "expected": self.expected, "observed": self.observed, "ok": self.ok,
                "reason": self.reason}


class ProbeJson(BaseModel):
    """One flow of `netorch lab probe --json`: what the intents say and what the network did."""

    model_config = ConfigDict(extra="forbid")

    src: str = Field(description="the lab host the flow starts from")
    dst: str = Field(description="the lab host it goes to")
    dst_ip: str
    protocol: str = Field(description="icmp (a ping) or tcp (a connect)")
    port: int | None
    expected: bool = Field(description="the intents allow the flow")
    observed: bool | None = Field(description="the flow passed (null: not sent)")
    ok: bool = Field(description="the network did what the intents say")
    reason: str = Field(description="why the intents allow or deny it")


class ProbesJson(RootModel[list[ProbeJson]]):
    """`netorch lab probe --json`: every flow sent."""


#: a range of up to this many ports is probed port by port; a longer one at its edges and middle
FULL_RANGE = 64


def probe_ports(ranges: list[PortRange]) -> set[int]:
    """The ports that stand for a list of ranges: every port of a range of up to FULL_RANGE
    ports; for a longer one both edges, their neighbours and the middle (where an off-by-one or
    a truncated range shows)."""
    out: set[int] = set()
    for r in ranges:
        if r.end - r.start < FULL_RANGE:
            out.update(range(r.start, r.end + 1))
        else:
            out.update({r.start, r.start + 1, (r.start + r.end) // 2, r.end - 1, r.end})
    return out


def plan_probes(ws: Workspace, state: LabState) -> list[Probe]:
    desired = ws.compile()
    topo = Topology.build(ws.inventory())
    hosts = {name: h.address.ip for name, h in sorted(state.topology.hosts.items())}
    _, intents, _ = ws.load()
    ranges: list[PortRange] = []
    for svc in intents.services:
        if svc.value.protocol == Protocol.TCP:
            ranges += svc.value.ports
    for rule in intents.rules:
        if rule.value.protocol == Protocol.TCP and rule.value.ports:
            ranges += rule.value.ports
    every = probe_ports(ranges)
    ports: dict[str, set[int]] = {name: every for name in hosts}
    probes = []
    for src, src_ip in hosts.items():
        for dst, dst_ip in hosts.items():
            if src == dst:
                continue
            v = expect(desired, topo, src_ip, dst_ip, "icmp")
            probes.append(Probe(src, dst, str(dst_ip), "icmp", None, v.allowed, v.reason))
            for port in sorted(ports[dst]):
                v = expect(desired, topo, src_ip, dst_ip, "tcp", port)
                probes.append(Probe(src, dst, str(dst_ip), "tcp", port, v.allowed, v.reason))
    return probes


def _domain_nets(domain: Sourced[DomainIntent], topo: Topology) -> list[DomainSubnet]:
    return domain_subnets(domain, topo)


def run_probes(run_dir: Path, probes: list[Probe], timeout: float = 1.5) -> list[Probe]:
    listeners = sorted({(p.dst, p.port) for p in probes if p.protocol == "tcp" and p.port is not None})
    with contextlib.ExitStack() as stack:
        for node, port in listeners:
            stack.enter_context(listening(run_dir, node, int(port)))

        def one(p: Probe) -> Probe:
            if p.protocol == "icmp":
                seen = ping(run_dir, p.src, p.dst_ip, count=1, timeout=timeout)
            else:
                seen = tcp_connect(run_dir, p.src, p.dst_ip, int(p.port or 0), timeout=timeout)
            return Probe(p.src, p.dst, p.dst_ip, p.protocol, p.port, p.expected, p.reason, seen)

        with ThreadPoolExecutor(max_workers=16) as pool:
            return list(pool.map(one, probes))


def probe(ws: Workspace, run_dir: Path) -> list[Probe]:
    state = LabState.load(run_dir)
    if state is None:
        from netorch.errors import LabError

        raise LabError(f"no lab in {run_dir}: run `netorch lab up` first")
    return run_probes(run_dir, plan_probes(ws, state))


__all__ = ["IPv4Address", "Probe", "plan_probes", "probe", "probe_ports", "run_probes"]
