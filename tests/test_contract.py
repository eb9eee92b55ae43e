"""Contracts: netorch's NAPALM driver against NAPALM's NetworkDriver, and every transport
session against the DeviceSession interface."""

from __future__ import annotations

import inspect

import pytest
from napalm import get_network_driver
from napalm.base import NetworkDriver

from netorch.platforms import PLATFORMS, Transport
from netorch.transport.base import DeviceSession
from netorch.transport.napalm_frr.driver import FrrDriver
from netorch.transport.registry import session_class

REQUIRED = ["open", "close", "is_alive", "get_facts", "get_config", "get_interfaces", "get_interfaces_ip",
            "get_route_to", "ping", "cli", "load_replace_candidate", "load_merge_candidate", "compare_config",
            "commit_config", "confirm_commit", "has_pending_commit", "discard_config", "rollback"]


@pytest.mark.parametrize("method", REQUIRED)
def test_frr_driver_implements_the_napalm_method_with_its_signature(method: str) -> None:
    ours = getattr(FrrDriver, method)
    base = getattr(NetworkDriver, method)
    assert ours is not base, f"{method} is not implemented"
    theirs = inspect.signature(base).parameters
    mine = inspect.signature(ours).parameters
    assert list(mine) == list(theirs), f"{method}: parameters {list(mine)} != {list(theirs)}"
    for name, param in theirs.items():
        assert mine[name].default == param.default, f"{method}({name}=...) default differs"


def test_constructor_matches_napalm() -> None:
    assert list(inspect.signature(FrrDriver.__init__).parameters) == \
        list(inspect.signature(NetworkDriver.__init__).parameters)


def test_napalm_finds_the_driver_by_its_platform_name() -> None:
    assert get_network_driver(PLATFORMS[next(iter(PLATFORMS))].napalm_driver or "") is FrrDriver


def test_napalm_finds_the_driver_in_a_fresh_interpreter_without_netorch() -> None:
    """NAPALM's own convention (a community module napalm_<name>) finds the driver: nothing of
    netorch is imported before the call."""
    import subprocess
    import sys

    code = ("import sys\nfrom napalm import get_network_driver\nassert 'netorch' not in sys.modules\n"
            "d = get_network_driver('netorch_frr')\nprint(d.__module__, d.__name__, d.platform)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["netorch.transport.napalm_frr.driver", "FrrDriver", "netorch_frr"]


@pytest.mark.parametrize("transport", list(Transport))
def test_every_transport_session_implements_the_interface(transport: Transport) -> None:
    cls = session_class(transport)
    assert issubclass(cls, DeviceSession)
    assert not inspect.isabstract(cls), f"{cls.__name__} leaves abstract methods"
    assert cls.connection_name
    for name in ("load", "diff", "commit", "confirm", "rollback", "discard", "live_config", "check_routes",
                 "snapshot"):
        assert list(inspect.signature(getattr(cls, name)).parameters) == \
            list(inspect.signature(getattr(DeviceSession, name)).parameters), name
