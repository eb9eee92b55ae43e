"""Render desired states through Jinja2 templates into per-platform config artifacts.

Templates live in <folder>/<platform>/ (netorch/templates/ is the set netorch ships; the folder is
chosen by service.templates_folder); undefined variables are errors (StrictUndefined) and a
failure names the host, the template and the variable."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from functools import lru_cache
from ipaddress import IPv4Interface, IPv4Network
from pathlib import Path
from typing import Any

import jinja2

from netorch.errors import RenderError
from netorch.model.desired import DesiredRoute, DesiredState, FilterRule
from netorch.model.types import PortRange
from netorch.platforms import spec


@lru_cache(maxsize=65536)
def ios_net(net: IPv4Network) -> str:
    """An address/wildcard pair as IOS ACLs write it."""
    if net.prefixlen == 32:
        return f"host {net.network_address}"
    if net.prefixlen == 0:
        return "any"
    return f"{net.network_address} {net.hostmask}"


@lru_cache(maxsize=65536)
def ip_mask(value: IPv4Interface | IPv4Network) -> str:
    if isinstance(value, IPv4Interface):
        return f"{value.ip} {value.netmask}"
    return f"{value.network_address} {value.netmask}"


@lru_cache(maxsize=65536)
def nft_addr(net: Any) -> str:
    """A prefix as nft prints it: host routes without /32."""
    if isinstance(net, IPv4Network) and net.prefixlen == 32:
        return str(net.network_address)
    return str(net)


def nft_set(nets: Iterable[Any]) -> str:
    items = [nft_addr(n) for n in nets]
    return items[0] if len(items) == 1 else "{ " + ", ".join(items) + " }"


def port_list(ports: Iterable[PortRange], sep: str = ", ") -> str:
    return sep.join(str(p) for p in ports)


def expand(rule: FilterRule) -> Iterator[tuple[IPv4Network | None, IPv4Network | None, PortRange | None]]:
    """Every (source, destination, port) combination of a rule, for one-line-per-entry ACLs."""
    sources: list[IPv4Network | None] = list(rule.sources) or [None]
    dests: list[IPv4Network | None] = list(rule.destinations) or [None]
    ports: list[PortRange | None] = list(rule.ports) or [None]
    yield from itertools.product(sources, dests, ports)


@lru_cache(maxsize=65536)
def ios_port(port: PortRange | None) -> str:
    if port is None:
        return ""
    return f"eq {port.start}" if port.start == port.end else f"range {port.start} {port.end}"


def by_prefix(routes: Iterable[DesiredRoute]) -> list[tuple[IPv4Network, list[DesiredRoute]]]:
    """Routes grouped by (vrf, prefix), lowest distance first (Junos qualified next hops)."""
    groups: dict[tuple[str, IPv4Network], list[DesiredRoute]] = {}
    for route in routes:
        groups.setdefault((route.vrf or "", route.prefix), []).append(route)
    return [(k[1], sorted(v, key=lambda r: r.distance)) for k, v in groups.items()]


def vrf_names(routes: Iterable[DesiredRoute]) -> list[str]:
    """The VRFs routes name, once each, sorted: what `routes | map(attribute="vrf") |
    reject("none") | unique | sort` gives (Jinja's unique and sort ignore case; of two names that
    differ only in case the first one stays), in one pass over a device's routes."""
    seen: set[str] = set()
    names: list[str] = []
    for route in routes:
        vrf = route.vrf
        if vrf is not None and (folded := vrf.lower()) not in seen:
            seen.add(folded)
            names.append(vrf)
    return sorted(names, key=str.lower)


def junos_unit(ifname: str) -> tuple[str, str]:
    name, _, unit = ifname.partition(".")
    return name, unit or "0"


REDISTRIBUTION_ORDER = ("connected", "static", "ospf", "bgp")
"""The order FRR and the other platforms print redistributed protocols in."""


def redistribution_order(items: Iterable[Any]) -> list[Any]:
    return sorted(items, key=lambda r: REDISTRIBUTION_ORDER.index(r.protocol))


def ospf_port(state: DesiredState, ifname: str) -> Any:
    """The OSPF settings of interface `ifname` of a device; None when it is not in OSPF."""
    if state.ospf is None:
        return None
    return next((o for o in state.ospf.interfaces if o.name == ifname), None)


def route_targets(vrfs: Iterable[Any]) -> list[str]:
    """Every route target the VRFs import or export, sorted, once."""
    return sorted({rt for v in vrfs for rt in (*v.import_targets, *v.export_targets)})


def dotted_area(area: int) -> str:
    """An OSPF area id in dotted form (Junos, EOS network statements): 1 -> 0.0.0.1."""
    return str(IPv4Network(area).network_address)


def make_environment(templates: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - configs, not HTML; values are validated upstream
    )
    env.filters.update(
        ios_net=ios_net, ip_mask=ip_mask, nft_addr=nft_addr, nft_set=nft_set, port_list=port_list, expand=expand,
        ios_port=ios_port, by_prefix=by_prefix, junos_unit=junos_unit, redistribution_order=redistribution_order,
        dotted_area=dotted_area, ospf_port=ospf_port, route_targets=route_targets, vrf_names=vrf_names,
    )
    return env


@lru_cache(maxsize=8)
def _environment(templates: str) -> jinja2.Environment:
    return make_environment(Path(templates))


def render_state(state: DesiredState, templates: Path) -> dict[str, str]:
    """Render every artifact of one device: {filename: text}."""
    env = _environment(str(templates.resolve()))
    out: dict[str, str] = {}
    context = {"d": state, "host": state.host, "routes": state.routes, "interfaces": state.interfaces,
               "filters": state.filters, "services": state.services}
    for artifact in spec(state.platform).artifacts:
        try:
            template = env.get_template(artifact.template)
            out[artifact.filename] = template.render(context)
        except jinja2.TemplateNotFound as exc:
            raise RenderError(state.host, artifact.template, f"template not found: {exc}") from None
        except jinja2.UndefinedError as exc:
            raise RenderError(state.host, artifact.template, f"undefined variable: {exc.message}") from None
        except jinja2.TemplateSyntaxError as exc:
            raise RenderError(state.host, artifact.template,
                              f"template syntax error at line {exc.lineno}: {exc.message}") from None
        except jinja2.TemplateError as exc:
            raise RenderError(state.host, artifact.template, str(exc)) from None
    return out
