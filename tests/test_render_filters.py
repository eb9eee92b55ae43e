"""Render filters that stand in for longer Jinja expressions give exactly what those expressions give."""

from __future__ import annotations

from ipaddress import IPv4Network

import jinja2

from netorch.model.desired import DesiredRoute
from netorch.render import vrf_names


def _route(vrf: str | None, n: int) -> DesiredRoute:
    return DesiredRoute(prefix=IPv4Network(f"10.{n}.0.0/16"), interface="eth1", vrf=vrf, origin=f"route:r{n}")


def test_vrf_names_is_the_jinja_expression() -> None:
    routes = [_route(v, i) for i, v in enumerate(["red", None, "Blue", "blue", "RED", None, "green", "Alpha", "red"])]
    expression = jinja2.Environment().from_string(
        '{{ routes | map(attribute="vrf") | reject("none") | unique | sort | join(",") }}')
    assert ",".join(vrf_names(routes)) == expression.render(routes=routes) == "Alpha,Blue,green,red"
    assert vrf_names([_route(None, 1)]) == []
