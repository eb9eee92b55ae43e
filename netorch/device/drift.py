"""One device's drift, where its session is: its live configuration and state against its job,
compared by meaning through the dialect of each artifact (netorch.configtree.registry), over
what netorch owns (netorch.model.ownership); then its service probes. The run level (many devices,
the store, remediation through apply) is netorch.run.drift.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from ipaddress import IPv4Address
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from netorch.configtree.base import Difference
from netorch.configtree.frr import KernelInterface
from netorch.configtree.nft import nft_interference
from netorch.configtree.registry import dialect, packet_filter_artifact
from netorch.device.messages import Probe
from netorch.errors import DeviceUnreachable, TransportError
from netorch.model.desired import DesiredState
from netorch.model.ownership import FRR as FRR_OWN
from netorch.model.ownership import daemons_needed
from netorch.platforms import spec, transport_spec
from netorch.protocols.state import ProtocolCheck
from netorch.transport.base import DeviceJob, DeviceSession, Snapshot

DriftStatus = Literal["in_sync", "drift", "unreachable", "error", "skipped"]


class DriftModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConfigDifference(DriftModel):
    """One difference of configuration, by meaning."""

    artifact: str = Field(description="the rendered artifact it belongs to, e.g. frr.conf")
    kind: Literal["missing", "unexpected", "changed", "interfering"] = Field(
        description="missing: intended, absent; unexpected: present, not intended, in a managed part; "
                    "changed: both present, different; interfering: not netorch's, but it changes "
                    "traffic the intents carry (never removed unless ownership says so)")
    path: list[str] = Field(description="the line and its parents (block header, chain)")
    detail: str = ""


class StateIssue(DriftModel):
    """One difference of live state."""

    kind: Literal["route_missing", "route_inactive", "interface_down", "service_unreachable", "daemon_down",
                  "ospf_adjacency_down", "bgp_session_down", "prefix_missing", "wrong_next_hop"]
    subject: str
    detail: str = ""


class DeviceDrift(DriftModel):
    host: str
    platform: str
    transport: str
    status: DriftStatus
    config: list[ConfigDifference] = Field(default_factory=list)
    state: list[StateIssue] = Field(default_factory=list)
    unmanaged: list[str] = Field(default_factory=list, description="live lines netorch does not manage "
                                 "(only with --show-unmanaged)")
    remediation: str = Field("", description="what brings the device back to intent")
    error: str = ""
    duration: float = 0.0
    unread: list[str] = Field(default_factory=list, description="artifacts its transport cannot read (netmiko: "
                              "the nftables ruleset): not compared, so in_sync says nothing of them")

    @property
    def drifted(self) -> bool:
        return bool(self.config or self.state)


# -- comparison ---------------------------------------------------------------------------------
def compare_artifact(platform: str, name: str, live: str, desired: str,
                     ignore_interfaces: tuple[str, ...] = (),
                     kernel: dict[str, KernelInterface] | None = None) -> list[Difference]:
    """The differences of one artifact, by meaning, in its dialect (netorch.platforms)."""
    return dialect(spec(platform).dialect(name)).compare(platform, live, desired, ignore_interfaces, kernel)


def remediation_text(job: DeviceJob, snapshot: Snapshot, diffs: dict[str, list[Difference]]) -> str:
    parts: list[str] = []
    how = transport_spec(job.transport).remediation
    for name, all_found in diffs.items():
        foreign = [d for d in all_found if d.kind == "interfering" and d.path[0].startswith("table ")]
        if foreign:
            parts.append("# left as is: not netorch's (remove it, or own it: data.ownership nft_tables: all)\n"
                         + "\n".join(f"#   {' / '.join(d.path)}" for d in foreign))
        found = [d for d in all_found if d not in foreign]
        if not found:
            continue
        written = dialect(spec(job.platform).dialect(name))
        edits = dialect(how) if how is not None and not written.packet_filter else written
        lines = edits.remediation(job.platform, snapshot.config.get(name, ""), job.artifacts[name], found)
        parts.append(written.remediation_text(lines))
    return "\n".join(parts)


def interference(desired: DesiredState, ruleset: str) -> list[Difference]:
    """Foreign nftables tables that drop traffic the intents carry (or, when the operator owns
    every table, foreign tables as unexpected)."""
    carried = [r.prefix for r in desired.routes]
    carried += [i.address.network for i in desired.interfaces if i.address is not None]
    for f in desired.filters:
        for rule in f.rules:
            carried += [*rule.sources, *rule.destinations]
    return nft_interference(ruleset, FRR_OWN.nft_table, carried, FRR_OWN.interfering_hooks,
                            owned_all=desired.ownership.nft_tables == "all")


def foreign_tables(ruleset: str) -> list[str]:
    return [f"nftables: {line.rstrip(' {')}" for line in ruleset.splitlines()
            if re.match(r"^table \S+ \S+ \{", line) and not line.startswith(f"table {FRR_OWN.nft_table} ")]


def state_issues(desired: DesiredState, snapshot: Snapshot) -> list[StateIssue]:
    issues: list[StateIssue] = []
    if snapshot.daemons is not None:
        features = {name for name, used in (("routes", desired.routes), ("ospf", desired.ospf),
                                            ("bgp", desired.bgp)) if used}
        for daemon in daemons_needed(features):
            if not snapshot.daemons.get(daemon, False):
                what = "the static routes" if daemon == "staticd" else "the configuration"
                issues.append(StateIssue(kind="daemon_down", subject=daemon,
                                         detail=f"{daemon} is not running: {what} cannot take effect; "
                                                "start it (remediation does not restart daemons)"))
    for check in snapshot.routes or []:
        subject = f"{check.route.prefix} via {check.route.next_hop or check.route.interface}"
        if not check.present:
            issues.append(StateIssue(kind="route_missing", subject=subject, detail=check.detail))
        elif check.detail:
            issues.append(StateIssue(kind="route_inactive", subject=subject, detail=check.detail))
    if snapshot.interfaces is not None:
        used = _used_interfaces(desired)
        for name in sorted(used):
            live = snapshot.interfaces.get(name)
            if live is None:
                issues.append(StateIssue(kind="interface_down", subject=name, detail="interface does not exist"))
            elif not (live.is_up and live.is_enabled):
                issues.append(StateIssue(kind="interface_down", subject=name,
                                         detail="administratively down" if not live.is_enabled else "link down"))
    return issues


def protocol_issues(checks: list[ProtocolCheck]) -> list[StateIssue]:
    """Failed protocol checks as state drift; the subject names the peer and area, or the prefix
    (and its VRF)."""
    return [StateIssue(kind=c.problem, subject=c.subject, detail=c.detail) for c in checks if c.problem is not None]


def _used_interfaces(desired: DesiredState) -> set[str]:
    """Interfaces the intents use: next-hop subnets of routes, domain members, explicit route
    interfaces, interfaces that form OSPF adjacencies."""
    used = {f.interface for f in desired.filters}
    if desired.ospf is not None:
        used |= {n.interface for n in desired.ospf.neighbors}
    for route in desired.routes:
        if route.interface:
            used.add(route.interface)
        for iface in desired.interfaces:
            if route.next_hop and iface.address and route.next_hop in iface.address.network \
                    and iface.address.network.prefixlen < 32:
                used.add(iface.name)
    enabled = {i.name for i in desired.interfaces if i.enabled}
    return used & enabled


def collect(job: DeviceJob, session_of: Callable[[], DeviceSession], drop: Callable[[], None],
            show_unmanaged: bool, probes: tuple[Probe, ...] = (), warm: bool = False) -> DeviceDrift:
    """One device's drift, where its session is: live config and state against the job, then
    its service probes. Never raises: an unreachable device is reported as such."""
    start = time.perf_counter()
    result = DeviceDrift(host=job.host, platform=job.platform, transport=job.transport.value, status="in_sync")
    try:
        try:
            session = session_of()
            snap = session.snapshot()
        except (DeviceUnreachable, TransportError):
            if not warm:
                raise
            # a warm session may have gone stale (device restarted): reconnect once
            drop()
            session = session_of()
            snap = session.snapshot()
        diffs: dict[str, list[Difference]] = {}
        mgmt = (job.desired.mgmt_interface,) if job.desired.mgmt_interface else ()
        platform = spec(job.platform)
        for name, desired_text in job.artifacts.items():
            if name not in snap.config:
                result.unread.append(name)  # this transport cannot see that artifact (netmiko: nftables)
                continue
            written = dialect(platform.dialect(name))
            diffs[name] = written.compare(job.platform, snap.config[name], desired_text, mgmt, snap.kernel)
            if written.packet_filter and snap.ruleset is not None:
                diffs[name] += interference(job.desired, snap.ruleset)
                if show_unmanaged:
                    result.unmanaged += foreign_tables(snap.ruleset)
            if show_unmanaged and written.unmanaged is not None:
                result.unmanaged += written.unmanaged(snap.config[name], desired_text, mgmt)
        result.state = state_issues(job.desired, snap) + protocol_issues(session.protocol_checks())
        down = {s.subject for s in result.state if s.kind == "daemon_down"}
        if "staticd" in down:
            # staticd's routes are unreadable while it is down: that is the drift, not them
            for name, found in diffs.items():
                routes = dialect(platform.dialect(name)).static_route_prefix
                if routes is not None:
                    found[:] = [d for d in found if not (d.kind == "missing" and d.path[-1].startswith(routes))]
        for name, found in diffs.items():
            result.config += [ConfigDifference(artifact=name, kind=d.kind, path=list(d.path), detail=d.detail)
                              for d in found]
        result.remediation = remediation_text(job, snap, diffs)
        result.status = "drift" if result.drifted else "in_sync"
        _probe(job, session, snap, result, probes)
    except DeviceUnreachable as exc:
        drop()
        result.status, result.error = "unreachable", exc.message
    except TransportError as exc:
        drop()
        result.status, result.error = "error", exc.message
    except Exception as exc:
        drop()
        result.status, result.error = "error", f"{type(exc).__name__}: {exc}"
    result.duration = time.perf_counter() - start
    return result


def _probe(job: DeviceJob, session: DeviceSession, snapshot: Snapshot, result: DeviceDrift,
           probes: tuple[Probe, ...]) -> None:
    """Ping each service provider from the device. A packet the router sends itself does not
    cross its own forward chain, which the consumers' packets do: that chain (as read live) is
    evaluated for the consumers' first packet too, from their interface to the egress."""
    for p in probes:
        try:
            ok = session.reach(p.provider, p.protocol if p.protocol == "tcp" else "icmp", p.port, p.source)
        except Exception as exc:
            ok = False
            detail = f"ping failed: {exc}"
        else:
            what = f"tcp/{p.port}" if p.protocol == "tcp" else "ping"
            detail = f"{what} to {p.provider} gets no answer" + (f" (source {p.source})" if p.source else "")
        ruleset = snapshot.config.get(packet_filter_artifact(job.platform) or "")
        if ok is not False and ruleset:
            verdict = _own_forward(job.desired, ruleset, p.source or "", p.provider, p.protocol, p.port, p.consumers)
            if verdict:
                ok, detail = False, verdict
        if ok is False:
            result.state.append(StateIssue(kind="service_unreachable", subject=f"{p.service} {p.provider}",
                                           detail=detail))
            result.status = "drift"


#: administrative distances of the routes protocols install (FRR's defaults; iBGP is 200)
PROTOCOL_DISTANCE = {"ospf": 110, "bgp": 20}


def _egress(desired: DesiredState, dst: IPv4Address) -> str | None:
    """The interface the desired state forwards dst out of: connected first, then the longest
    prefix (a static route or one a protocol is meant to install) at its lowest distance."""
    for iface in desired.interfaces:
        if iface.address is not None and iface.address.network.prefixlen < 32 and dst in iface.address.network:
            return iface.name
    candidates: list[tuple[int, int, str | None, IPv4Address | None]] = [
        (r.prefix.prefixlen, r.distance, r.interface, r.next_hop)
        for r in desired.routes if r.vrf is None and dst in r.prefix]
    candidates += [(r.prefix.prefixlen, PROTOCOL_DISTANCE[r.protocol], None, r.next_hops[0])
                   for r in desired.expected_routes if r.vrf is None and dst in r.prefix and r.next_hops]
    if not candidates:
        return None
    _, _, interface, next_hop = min(candidates, key=lambda c: (-c[0], c[1]))
    if interface:
        return interface
    if next_hop is None:
        return None
    return _egress(desired, next_hop) if next_hop != dst else None


def _own_forward(desired: DesiredState, table: str, source: str, provider: str, protocol: str, port: int | None,
                 consumers: tuple[str, ...]) -> str:
    """'' when the router's live forward chain accepts the consumers' first packet to provider;
    otherwise why not (the rule that drops it)."""
    from netorch.simulate import chain_verdict

    iif = next((i.name for i in desired.interfaces if i.domain in consumers), None)
    oif = _egress(desired, IPv4Address(provider))
    if iif is None or oif is None or not source:
        return ""
    accepted, why = chain_verdict(table, IPv4Address(source), IPv4Address(provider), protocol, port, iif, oif)
    if accepted:
        return ""
    what = f"tcp/{port}" if protocol == "tcp" else protocol
    return f"the forward chain of {desired.host} drops the consumers' {what} to {provider} ({iif} -> {oif}): {why}"
