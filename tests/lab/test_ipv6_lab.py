"""netorch manages IPv4 only, so the filters it installs must not let IPv6 through between
domains. On the lab: the users host h1 (r1) and the guests host h3 (r2) get IPv6 addresses
(ULA, inside the lab's namespaces only), r1 and r2 route IPv6 between them, and after an apply
of the example intents the IPv6 flow is blocked while the IPv4 flows the intents allow work."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from netorch.lab import LabStatus, exec_in, listening, ping, tcp_connect
from netorch.run.engine import Engine
from netorch.run.options import ApplyOptions
from netorch.service import Workspace
from netorch.store import Store

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]
USERS, TRANSIT, GUESTS = "fd00:6e:1::", "fd00:6e:12::", "fd00:6e:3::"
# node -> (interface, address/64) ; node -> (prefix, gateway)
ADDRESSES = {
    "h1": [("eth0", f"{USERS}10/64")],
    "r1": [("eth3", f"{USERS}1/64"), ("eth1", f"{TRANSIT}1/64")],
    "r2": [("eth1", f"{TRANSIT}2/64"), ("eth3", f"{GUESTS}1/64")],
    "h3": [("eth0", f"{GUESTS}10/64")],
}
ROUTES = {
    "h1": [("default", f"{USERS}1")],
    "r1": [(f"{GUESTS}/64", f"{TRANSIT}2")],
    "r2": [(f"{USERS}/64", f"{TRANSIT}1")],
    "h3": [("default", f"{GUESTS}1")],
}
ROUTERS = ("r1", "r2")


def run(lab: LabStatus, node: str, *argv: str) -> str:
    return exec_in(lab.run_dir, node, list(argv), check=True).stdout


def ping6(lab: LabStatus, src: str, dst: str) -> bool:
    proc = exec_in(lab.run_dir, src, ["ping", "-6", "-n", "-q", "-c", "1", "-W", "1", dst], timeout=10)
    return proc.returncode == 0


def eventually(check: Callable[[], bool], timeout: float) -> bool:
    """Whether check() holds within `timeout` seconds (polled; ND takes a moment)."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)


def set_forwarding(lab: LabStatus, value: int) -> None:
    for router in ROUTERS:
        run(lab, router, "sysctl", "-q", "-w", f"net.ipv6.conf.all.forwarding={value}")


@pytest.fixture
def ipv6(lab: LabStatus) -> Iterator[None]:
    """IPv6 addresses and routes on h1 - r1 - r2 - h3, removed afterwards."""
    try:
        for node, addrs in ADDRESSES.items():
            run(lab, node, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=0")
            for ifname, address in addrs:
                run(lab, node, "ip", "-6", "addr", "replace", address, "dev", ifname, "nodad")
        for node, routes in ROUTES.items():
            for prefix, gateway in routes:
                run(lab, node, "ip", "-6", "route", "replace", prefix, "via", gateway)
        set_forwarding(lab, 1)
        yield
    finally:
        for node, routes in ROUTES.items():
            for prefix, gateway in routes:
                exec_in(lab.run_dir, node, ["ip", "-6", "route", "del", prefix, "via", gateway])
        for node, addrs in ADDRESSES.items():
            for ifname, address in addrs:
                exec_in(lab.run_dir, node, ["ip", "-6", "addr", "del", address, "dev", ifname])
        for router in ROUTERS:
            exec_in(lab.run_dir, router, ["sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=0"])


def test_ipv6_between_domains_is_blocked_after_apply(lab: LabStatus, ipv6: None, tmp_path: Path) -> None:
    guest = f"{GUESTS}10"
    # without netorch's table, IPv6 crosses r1 and r2: the lab really forwards it
    for router in ROUTERS:
        exec_in(lab.run_dir, router, ["nft", "delete", "table", "inet", "netorch"])
    assert eventually(lambda: ping6(lab, "h1", guest), 10), "IPv6 h1 -> h3 does not work without filters"

    ws = Workspace(ROOT / "inventory", ROOT / "intents", ROOT / "netorch" / "templates")
    engine = Engine(ws, Store(tmp_path / "store.db"), credentials=str(lab.credentials_file))
    report = engine.apply(ApplyOptions(limit="lab_routers", workers=4))
    assert report.exit_code == 0, [(d.host, d.status, d.error) for d in report.devices]
    # FRR renders `no ipv6 forwarding`; the filter must hold even where IPv6 is forwarded
    set_forwarding(lab, 1)
    for router in ROUTERS:
        assert run(lab, router, "sysctl", "-n", "net.ipv6.conf.all.forwarding").strip() == "1"

    # IPv6 inside a subnet (neighbour discovery, traffic to the router) still works ...
    assert eventually(lambda: ping6(lab, "h1", f"{USERS}1"), 10)
    assert eventually(lambda: ping6(lab, "r1", f"{TRANSIT}2"), 10)
    # ... forwarded IPv6 between the domains does not, either way
    assert not ping6(lab, "h1", guest)
    assert not ping6(lab, "h3", f"{USERS}10")
    # while the IPv4 flows the intents allow still work
    assert ping(lab.run_dir, "h1", "10.2.0.10")
    with listening(lab.run_dir, "h2", 8081):
        assert tcp_connect(lab.run_dir, "h3", "10.2.0.10", 8081)
    assert not ping(lab.run_dir, "h3", "10.1.0.10")
