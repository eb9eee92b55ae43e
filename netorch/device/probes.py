"""The service probes a device sends (drift's reachability checks, a rollout's health gate):
built once, from the service intents, for both. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from netorch.device.messages import Probe
from netorch.model.desired import DesiredState
from netorch.model.intents import ServiceIntent


def service_probes(services: Iterable[ServiceIntent], desired: Mapping[str, DesiredState]) -> dict[str, list[Probe]]:
    """The probes each selected device sends: to each provider of a service whose intent names it
    in probe_from, sourced from that device's address in a consumer domain."""
    probes: dict[str, list[Probe]] = {}
    for svc in services:
        if svc.probe_from is None or svc.probe_from not in desired:
            continue
        source = consumer_source(desired[svc.probe_from], svc.consumers)
        port = svc.ports[0].start if svc.ports else None
        for provider in svc.providers:
            probes.setdefault(svc.probe_from, []).append(Probe(
                service=svc.name, provider=str(provider), protocol=svc.protocol.value, port=port,
                source=source or None, consumers=svc.consumers))
    return probes


def consumer_source(desired: DesiredState, consumers: tuple[str, ...]) -> str | None:
    for iface in desired.interfaces:
        if iface.domain in consumers and iface.address is not None:
            return str(iface.address.ip)
    return None
