"""Fidelity of `netorch verify` on the lab: its verdict for every end-host pair x protocol
(icmp, tcp on every service and rule port, one other port) equals real traffic, with every link
up and with each core link down (set down inside a router's namespace, restored after)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from ipaddress import IPv4Network
from pathlib import Path

import pytest

from netorch.lab import LabStatus
from netorch.lab.nodes import exec_in
from netorch.lab.probe import Probe, run_probes
from netorch.lab.state import LabState
from netorch.model.intents import Protocol
from netorch.run.engine import Engine
from netorch.run.options import ApplyOptions
from netorch.service import Workspace
from netorch.store import Store
from netorch.verify.model import NO_FAILURE, Failure
from netorch.verify.verifier import Verifier

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]
OTHER_PORT = 9999
# the core links, named by one end (router, interface) and their subnet
CORE_LINKS = [("r1", "eth1", "10.0.12.0/30"), ("r1", "eth2", "10.0.13.0/30"),
              ("r2", "eth2", "10.0.24.0/30"), ("r3", "eth2", "10.0.34.0/30")]
WATCHED = ("10.1.0.0/24", "10.2.0.0/24", "10.3.0.0/24")


@pytest.fixture(scope="module")
def applied(lab: LabStatus, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Verifier]:
    ws = Workspace(ROOT / "inventory", ROOT / "intents", ROOT / "netorch" / "templates")
    engine = Engine(ws, Store(tmp_path_factory.mktemp("verify") / "store.db"),
                    credentials=str(lab.credentials_file))
    report = engine.apply(ApplyOptions(limit="lab_routers", workers=4))
    assert report.exit_code == 0, [(d.host, d.status, d.error) for d in report.devices]
    _, intents, _ = ws.load()
    yield Verifier(ws.compile(), ws.topology(), intents)


def kernel_next_hops(run_dir: Path, router: str) -> dict[str, frozenset[str]]:
    """prefix -> {'via ADDRESS', ...} (every next hop of an equal-cost OSPF route) or {'dev IFACE'}
    (connected) or {''} (no route), from the kernel."""
    out = {}
    for prefix in WATCHED:
        proc = exec_in(run_dir, router, ["ip", "-4", "-o", "route", "show", "exact", prefix])
        words = proc.stdout.split()
        vias = {f"via {words[i + 1]}" for i, w in enumerate(words) if w == "via"}
        out[prefix] = frozenset(vias or ({f"dev {words[words.index('dev') + 1]}"} if "dev" in words else {""}))
    return out


def model_next_hops(v: Verifier, failure: Failure, router: str) -> dict[str, str]:
    r = v.network(failure).routers[router]
    out = {}
    for prefix in WATCHED:
        fe = r.lookup(int(IPv4Network(prefix).network_address) + 10)
        out[prefix] = "" if fe is None else f"via {fe.next_hop}" if fe.next_hop else f"dev {fe.out_if}"
    return out


def wait_converged(run_dir: Path, v: Verifier, failure: Failure, timeout: float = 90.0) -> None:
    """Until every router's kernel routes for the domains' subnets are what the model's FIB says."""
    deadline = time.monotonic() + timeout
    while True:
        # the model follows one of equal-cost paths (the lowest next hop): it must be one of the kernel's
        diff = {r: (kernel_next_hops(run_dir, r), model_next_hops(v, failure, r)) for r in ("r1", "r2", "r3", "r4")}
        diff = {r: (k, m) for r, (k, m) in diff.items() if any(m[p] not in k[p] for p in WATCHED)}
        if not diff:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"routes did not converge to the model with {failure or 'all up'}: {diff}")
        time.sleep(0.2)


def matrix(v: Verifier, state: LabState, failure: Failure) -> list[Probe]:
    # the verifier's flows run between domain members (its promises are the domains'): the
    # external host behind up1 is in no domain (lab/test_routing_lab.py proves its traffic)
    hosts = {name: h.address.ip for name, h in sorted(state.topology.hosts.items())
             if any(h.address.ip in m.subnet for m in v.universe.members)}
    ports = {OTHER_PORT}
    for s in v.intents.services:
        if s.value.protocol == Protocol.TCP:
            ports.update(p.start for p in s.value.ports)
    for r in v.intents.rules:
        if r.value.protocol == Protocol.TCP:
            ports.update(p.start for p in r.value.ports)
    probes = []
    for src, src_ip in hosts.items():
        for dst, dst_ip in hosts.items():
            if src == dst:
                continue
            for proto, port in [("icmp", None), *(("tcp", p) for p in sorted(ports))]:
                ok, _ = v.flow(src_ip, dst_ip, proto, port, failure)
                probes.append(Probe(src, dst, str(dst_ip), proto, port, ok, "verify"))
    return probes


def check(run_dir: Path, v: Verifier, failure: Failure) -> list[Probe]:
    state = LabState.load(run_dir)
    assert state is not None
    wait_converged(run_dir, v, failure)
    probes = matrix(v, state, failure)
    observed = run_probes(run_dir, probes)
    wrong = [f"{p.flow()}: verify says {p.expected}, traffic {p.observed}" for p in observed if not p.ok]
    assert not wrong, f"with {failure or 'all links up'}: " + "; ".join(wrong)
    return observed


def test_verdict_equals_traffic_all_links_up(lab: LabStatus, applied: Verifier) -> None:
    observed = check(lab.run_dir, applied, NO_FAILURE)
    assert any(p.observed for p in observed) and any(not p.observed for p in observed)


@pytest.mark.parametrize("router,iface,subnet", CORE_LINKS, ids=[c[2] for c in CORE_LINKS])
def test_verdict_equals_traffic_with_a_core_link_down(lab: LabStatus, applied: Verifier, router: str, iface: str,
                                                      subnet: str) -> None:
    failure = Failure(links=frozenset({IPv4Network(subnet)}))
    exec_in(lab.run_dir, router, ["ip", "link", "set", iface, "down"], check=True)
    try:
        check(lab.run_dir, applied, failure)
    finally:
        exec_in(lab.run_dir, router, ["ip", "link", "set", iface, "up"], check=True)
        wait_converged(lab.run_dir, applied, NO_FAILURE)


# -- the differential against the network as it runs -------------------------------------------------

def live_changes(ws: Workspace, store: Store, credentials: Path) -> list[tuple[str, str, str, tuple[str, ...],
                                                                              tuple[str, ...], str]]:
    from netorch.verify.against import verify_against

    diff = verify_against(ws, "live", store, str(credentials), limit="lab_routers", workers=4)
    assert not diff.unreadable, diff.unreadable
    return [(c.kind, c.source_domain, c.destination_domain, c.sources, c.destinations, c.services)
            for c in diff.changes]


def wait_no_difference(ws: Workspace, store: Store, credentials: Path, timeout: float = 60.0) -> None:
    """Until the network as it runs carries every flow as the intents do (OSPF and BGP converge)."""
    deadline = time.monotonic() + timeout
    while True:
        changes = live_changes(ws, store, credentials)
        if not changes:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"verify --against live still differs after {timeout}s: {changes}")
        time.sleep(1.0)


def test_against_live_shows_exactly_an_out_of_band_change(lab: LabStatus, applied: Verifier,
                                                          tmp_path: Path) -> None:
    """After the apply the network as it runs is the intents; with users -> servers ssh deleted
    from r4's nftables table by hand, exactly those flows are newly blocked; an apply undoes it."""
    ws = Workspace(ROOT / "inventory", ROOT / "intents", ROOT / "netorch" / "templates")
    store = Store(tmp_path / "store.db")
    wait_no_difference(ws, store, lab.credentials_file)
    chain = "netorch_servers_eth3_out"
    listing = exec_in(lab.run_dir, "r4", ["nft", "-a", "list", "chain", "inet", "netorch", chain], check=True).stdout
    handle = next(line.rsplit("# handle ", 1)[1].strip() for line in listing.splitlines()
                  if '"rule:users-ssh-to-servers"' in line)
    exec_in(lab.run_dir, "r4", ["nft", "delete", "rule", "inet", "netorch", chain, "handle", handle], check=True)
    try:
        assert live_changes(ws, store, lab.credentials_file) == [
            ("newly blocked", "users", "servers", ("10.1.0.0/24",), ("10.2.0.0/24",), "tcp/22")]
    finally:
        report = Engine(ws, store, credentials=str(lab.credentials_file)).apply(ApplyOptions(limit="r4", workers=1))
        assert report.exit_code == 0, [(d.host, d.status, d.error) for d in report.devices]
    wait_no_difference(ws, store, lab.credentials_file)
