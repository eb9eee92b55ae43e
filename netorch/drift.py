"""Drift: the live configuration and live state of each device against the desired state.

Config drift is compared by meaning (netorch.configtree for FRR and nftables, hier_config
for IOS-style CLIs, canonical XML trees for NETCONF) over what netorch owns
(netorch.ownership: one table per platform, widened by the inventory's data.ownership), and
classified missing / unexpected / changed / interfering (not netorch's, but it drops traffic
the intents carry); unmanaged parts are never drift (listed with --show-unmanaged). The
kernel's addresses and admin state of owned interfaces count as config. State drift is
reported apart: routing daemons the config needs not running, intended static routes missing
or not active in the RIB, interfaces that intents use being down, and services unreachable
from the device the service intent names in `probe_from`. Remediation is shown per device
and, with --remediate, applied through the apply path (same transactions, same records).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from ipaddress import IPv4Address
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from netorch.configtree.base import Difference, render_diffs
from netorch.configtree.frr import KernelInterface, diff_frr, frr_remediation, unmanaged_frr
from netorch.configtree.nft import diff_nft, nft_interference
from netorch.configtree.xml import diff_xml
from netorch.engine import Engine, ProgressFn, RunReport, actor_name
from netorch.errors import DeviceUnreachable, StoreError, TransportError
from netorch.executor.messages import DeviceRequest, JobSpec, Probe
from netorch.model.desired import DesiredState
from netorch.ownership import FRR as FRR_OWN
from netorch.ownership import daemons_needed
from netorch.protocols.state import ProtocolCheck
from netorch.store import DeviceRecord
from netorch.transport.base import DeviceJob, DeviceSession, Snapshot

DriftStatus = Literal["in_sync", "drift", "unreachable", "error", "skipped"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConfigDifference(_Model):
    """One difference of configuration, by meaning."""

    artifact: str = Field(description="the rendered artifact it belongs to, e.g. frr.conf")
    kind: Literal["missing", "unexpected", "changed", "interfering"] = Field(
        description="missing: intended, absent; unexpected: present, not intended, in a managed part; "
                    "changed: both present, different; interfering: not netorch's, but it changes "
                    "traffic the intents carry (never removed unless ownership says so)")
    path: list[str] = Field(description="the line and its parents (block header, chain)")
    detail: str = ""


class StateIssue(_Model):
    """One difference of live state."""

    kind: Literal["route_missing", "route_inactive", "interface_down", "service_unreachable", "daemon_down",
                  "ospf_adjacency_down", "bgp_session_down", "prefix_missing", "wrong_next_hop"]
    subject: str
    detail: str = ""


class DeviceDrift(_Model):
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

    @property
    def drifted(self) -> bool:
        return bool(self.config or self.state)


class DriftReport(_Model):
    """The result of `netorch drift --json`."""

    kind: Literal["drift"] = "drift"
    run_id: int | None = None
    revision: str
    status: Literal["in_sync", "drift", "error"]
    exit_code: int
    duration: float
    devices: list[DeviceDrift]
    remediation_run: dict[str, object] | None = Field(
        None, description="with --remediate: the apply report of the remediation")
    recheck: DriftReport | None = Field(
        None, description="with --remediate: the drift check of the remediated devices, right after")


# -- comparison ---------------------------------------------------------------------------------
def compare_artifact(platform: str, name: str, live: str, desired: str,
                     ignore_interfaces: tuple[str, ...] = (),
                     kernel: dict[str, KernelInterface] | None = None) -> list[Difference]:
    if name == "frr.conf":
        return diff_frr(live, desired, ignore_interfaces, kernel)
    if name == "nftables.nft":
        return diff_nft(live or None, desired)
    if name.endswith(".xml"):
        return diff_xml(live, desired)
    from netorch.transport.netmiko_cli import structured_diff

    out = []
    for kind, path in structured_diff(live, desired, platform):
        out.append(Difference("missing" if kind == "missing" else "unexpected", tuple(path.split(" > "))))
    return out


def remediation_text(job: DeviceJob, snapshot: Snapshot, diffs: dict[str, list[Difference]]) -> str:
    parts: list[str] = []
    for name, all_found in diffs.items():
        foreign = [d for d in all_found if d.kind == "interfering" and d.path[0].startswith("table ")]
        if foreign:
            parts.append("# left as is: not netorch's (remove it, or own it: data.ownership nft_tables: all)\n"
                         + "\n".join(f"#   {' / '.join(d.path)}" for d in foreign))
        found = [d for d in all_found if d not in foreign]
        if not found:
            continue
        if name == "frr.conf":
            if job.transport.value == "netmiko":
                from netorch.transport.netmiko_cli import remediation

                lines = remediation(snapshot.config.get(name, ""), job.artifacts[name], job.platform)
            else:
                lines = frr_remediation(found)
            parts.append("! vtysh: configure terminal\n" + "\n".join(lines))
        elif name == "nftables.nft":
            parts.append("# nft -f (replaces table inet netorch atomically)\n" + job.artifacts[name].rstrip())
        elif name.endswith(".xml"):
            parts.append("<!-- edit-config on candidate, then commit -->\n" + job.artifacts[name].rstrip())
        else:
            from netorch.transport.netmiko_cli import remediation

            parts.append("\n".join(remediation(snapshot.config.get(name, ""), job.artifacts[name], job.platform)))
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
    import re

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


# -- the run ----------------------------------------------------------------------------------
class DriftChecker:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def check(self, limit: str | None = None, workers: int = 10, show_unmanaged: bool = False,
              allow_unreachable: bool = False, remediate: bool = False, actor: str | None = None,
              progress: ProgressFn | None = None, sessions: dict[str, DeviceSession] | None = None,
              nornir: object | None = None, record: bool = True, lock_wait: float = 10.0) -> DriftReport:
        started = time.perf_counter()
        eng = self.engine
        jobs, skipped = eng.jobs(limit)
        revision = eng.ws.revision()
        results: dict[str, DeviceDrift] = {}
        own_sessions = sessions is None
        sessions = {} if sessions is None else sessions
        creds = None
        if jobs:
            eng.executor.check()
            by_host = {j.host: j for j in jobs}
            probes = self._probes(jobs)
            # an apply and a drift check never overlap on a device, whichever process runs them:
            # a device another run holds (past lock_wait) is reported as skipped, busy
            holder = None
            if eng.store is not None:
                try:
                    holder, busy = eng.store.acquire_free(sorted(by_host), 0, actor or actor_name(), "drift",
                                                          wait=lock_wait)
                except StoreError:
                    busy = {}
                for host, why in busy.items():
                    job = by_host.pop(host)
                    results[host] = DeviceDrift(host=host, platform=job.platform, transport=job.transport.value,
                                                status="skipped", error=str(why))
            try:
                run = eng.executor.open(eng, list(by_host.values()), workers, progress, kind="drift",
                                        actor=actor or actor_name(), lock_wait=lock_wait, all_or_none=False,
                                        sessions=sessions, nornir=nornir)
                creds = run.creds
                for host, why in run.busy.items():
                    job = by_host.pop(host)
                    results[host] = DeviceDrift(host=host, platform=job.platform, transport=job.transport.value,
                                                status="skipped", error=str(why))
                try:
                    answers = run.run("drift", [DeviceRequest(host=h, action="drift", job=JobSpec.of(j),
                                                              show_unmanaged=show_unmanaged,
                                                              probes=tuple(probes.get(h, ())))
                                                for h, j in sorted(by_host.items())])
                finally:
                    if own_sessions:
                        run.close()
                for host, job in by_host.items():
                    answer = answers.get(host)
                    if answer is not None and answer.drift is not None:
                        results[host] = DeviceDrift.model_validate(answer.drift)
                    else:
                        error = (answer.error if answer is not None else None) or "no answer from the executor"
                        results[host] = DeviceDrift(host=host, platform=job.platform, transport=job.transport.value,
                                                    status="unreachable" if answer is None or answer.lost
                                                    else "error", error=error)
            finally:
                if holder is not None:
                    with contextlib.suppress(StoreError):
                        eng.store.release(holder)  # type: ignore[union-attr]
        devices = sorted(results.values(), key=lambda d: d.host)
        devices += [DeviceDrift(host=s.host, platform=s.platform, transport=s.transport, status="skipped",
                                error=s.error) for s in skipped]
        report = self._report(devices, revision, started, allow_unreachable)
        if record:
            report = self._record(report, actor or actor_name(), creds)
        if remediate and any(d.status == "drift" for d in devices):
            self.remediate(report, workers, actor, progress, sessions, nornir, record)
        return report

    def remediate(self, report: DriftReport, workers: int, actor: str | None, progress: ProgressFn | None,
                  sessions: dict[str, DeviceSession] | None = None, nornir: object | None = None,
                  record: bool = True, stop: threading.Event | None = None) -> None:
        """Apply the intents to the drifted devices (same transaction and records as apply), then
        check them again so that the report, the store and the daemon see the result."""
        eng = self.engine
        # a device whose routing daemon is down cannot take a configuration: it is reported, not pushed
        drifted = ",".join(d.host for d in report.devices if d.status == "drift"
                           and not any(s.kind == "daemon_down" for s in d.state))
        if not drifted:
            return
        fix: RunReport = eng.apply(limit=drifted, workers=workers, actor=actor, progress=progress, stop=stop)
        report.remediation_run = fix.as_dict()
        report.recheck = self.check(limit=drifted, workers=workers, actor=actor, progress=progress,
                                    sessions=sessions, nornir=nornir, record=record)
        if fix.exit_code != 0 or report.recheck.exit_code == 1:
            report.exit_code = 1

    def _probes(self, jobs: list[DeviceJob]) -> dict[str, list[Probe]]:
        """The service probes each device sends: to each provider, from the device its intent names
        in probe_from, sourced from that device's address in a consumer domain."""
        _, intents, _ = self.engine.ws.load()
        selected = {j.host: j for j in jobs}
        probes: dict[str, list[Probe]] = {}
        for item in intents.services:
            svc = item.value
            if svc.probe_from is None or svc.probe_from not in selected:
                continue
            source = consumer_source(selected[svc.probe_from].desired, svc.consumers)
            for provider in svc.providers:
                port = svc.ports[0].start if svc.ports else None
                probes.setdefault(svc.probe_from, []).append(Probe(
                    service=svc.name, provider=str(provider), protocol=svc.protocol.value, port=port,
                    source=source or None, consumers=svc.consumers))
        return probes

    @staticmethod
    def _report(devices: list[DeviceDrift], revision: str, started: float, allow_unreachable: bool) -> DriftReport:
        errors = [d for d in devices if d.status == "error" or (d.status == "unreachable" and not allow_unreachable)]
        drifted = [d for d in devices if d.status == "drift"]
        status: Literal["in_sync", "drift", "error"] = "error" if errors else ("drift" if drifted else "in_sync")
        code = 1 if errors else (2 if drifted else 0)
        return DriftReport(revision=revision, status=status, exit_code=code,
                           duration=round(time.perf_counter() - started, 3), devices=devices)

    def _record(self, report: DriftReport, actor: str, creds: object) -> DriftReport:
        # passwords never reach a report or the store, whatever a device or a library printed
        from netorch.credentials import scrub
        from netorch.transport.nornir_setup import credential_store

        secrets = credential_store(self.engine.ws.inventory(), self.engine.credentials_path).secrets()
        for d in report.devices:
            d.error = scrub(d.error, secrets)
        store = self.engine.store
        if store is None:
            return report
        run_id = store.start_run("drift", actor, report.revision, {})
        for d in report.devices:
            diff = render_diffs([Difference(c.kind, tuple(c.path), c.detail) for c in d.config])
            if d.state:
                diff += ("\n" if diff else "") + "\n".join(f"! state {s.kind}: {s.subject} {s.detail}".rstrip()
                                                           for s in d.state)
            store.record_device(run_id, DeviceRecord(
                d.host, d.status, d.drifted, diff, d.error,
                {"config": [c.model_dump() for c in d.config], "state": [s.model_dump() for s in d.state],
                 "remediation": d.remediation}, d.duration))
        counts: dict[str, int] = {}
        for d in report.devices:
            counts[d.status] = counts.get(d.status, 0) + 1
        store.finish_run(run_id, report.status, {"counts": counts, "duration": report.duration})
        report.run_id = run_id
        return report


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
        for name, desired_text in job.artifacts.items():
            if name not in snap.config:
                continue  # this transport cannot see that artifact (netmiko: nftables)
            mgmt = (job.desired.mgmt_interface,) if job.desired.mgmt_interface else ()
            diffs[name] = compare_artifact(job.platform, name, snap.config[name], desired_text, mgmt, snap.kernel)
            if name == "nftables.nft" and snap.ruleset is not None:
                diffs[name] += interference(job.desired, snap.ruleset)
            if show_unmanaged and name == "frr.conf":
                result.unmanaged += unmanaged_frr(snap.config[name], desired_text, mgmt)
            if show_unmanaged and name == "nftables.nft" and snap.ruleset is not None:
                result.unmanaged += foreign_tables(snap.ruleset)
        result.state = state_issues(job.desired, snap) + protocol_issues(session.protocol_checks())
        down = {s.subject for s in result.state if s.kind == "daemon_down"}
        if "staticd" in down and "frr.conf" in diffs:
            # staticd's routes are unreadable while it is down: that is the drift, not them
            diffs["frr.conf"] = [d for d in diffs["frr.conf"]
                                 if not (d.kind == "missing" and d.path[-1].startswith("ip route "))]
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
        if ok is not False and snapshot.config.get("nftables.nft"):
            verdict = _own_forward(job.desired, snapshot.config["nftables.nft"], p.source or "", p.provider,
                                   p.protocol, p.port, p.consumers)
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


def consumer_source(desired: DesiredState, consumers: tuple[str, ...]) -> str | None:
    for iface in desired.interfaces:
        if iface.domain in consumers and iface.address is not None:
            return str(iface.address.ip)
    return None


def schema() -> dict[str, object]:
    return DriftReport.model_json_schema()


__all__ = ["ConfigDifference", "DeviceDrift", "DriftChecker", "DriftReport", "StateIssue", "compare_artifact",
           "schema"]
