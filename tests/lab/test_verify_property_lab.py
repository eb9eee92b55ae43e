"""Fidelity of `netorch verify` as a property, on a generated lab: for random valid intents
(2-3 domains over the end hosts' subnets, allow and deny rules, services) applied to a
6-router OSPF ring, the verifier's verdict for every sampled flow between end hosts (icmp,
tcp on every port the intents name and one other) equals real traffic.

The lab is its own (prefix nolv, mgmt 198.19/16), up once for the module, next to the session
lab. Hypothesis runs a few derandomised examples, so CI sees the same intents every time."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from netorch.lab import LabStatus, down, generate, up
from netorch.lab.nodes import exec_in
from netorch.lab.probe import Probe, run_probes
from netorch.lab.topology import Topology
from netorch.model.intents import Protocol
from netorch.run.engine import Engine
from netorch.run.options import ApplyOptions
from netorch.service import Workspace
from netorch.store import Store
from netorch.verify.verifier import Verifier

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]
ROUTERS = 6
RULE_PORTS = (22, 80, 443)
SERVICE_PORTS = (8080, 8443)
OTHER_PORT = 9999


def topology() -> Topology:
    """A ring of six OSPF routers, an end host behind each (hI on 10.64.I-1.0/24, router eth3)."""
    return generate(ROUTERS, hosts_every=1, prefix="nolv", mgmt_gateway="198.19.0.1/16", ospf=True)


TOPO = topology()
HOSTS = sorted(TOPO.hosts)  # h1 .. h6


# -- random valid intents ----------------------------------------------------------------------------

def ospf_intent() -> dict[str, Any]:
    """Area 0 over every link of the ring; loopbacks and host subnets passive (advertised)."""
    return {"ospf": [{"name": "ring", "areas": [{
        "area": 0, "groups": ["lab_routers"],
        "interfaces": [{"group": "lab_routers", "interface": "lo", "passive": True},
                       *({"host": h.router, "interface": h.interface, "passive": True}
                         for _, h in sorted(TOPO.hosts.items()))]}]}]}


@st.composite
def security_intents(draw: st.DrawFn) -> dict[str, Any]:
    """2-3 domains partitioning the end hosts (each a router + host interface member), 1-4 rules
    between distinct domains, 1-2 tcp services with a provider host and consumer domains."""
    n_domains = draw(st.integers(2, 3))
    # every domain gets at least one host, the rest are placed at random
    order = draw(st.permutations(HOSTS))
    owner = {h: i for i, h in enumerate(order[:n_domains])}
    for h in order[n_domains:]:
        owner[h] = draw(st.integers(0, n_domains - 1))
    names = [f"d{i}" for i in range(n_domains)]
    domains = [{"name": names[i], "members": [{"host": TOPO.hosts[h].router, "interface": TOPO.hosts[h].interface}
                                              for h in HOSTS if owner[h] == i]} for i in range(n_domains)]
    pairs = [(a, b) for a in names for b in names if a != b]
    rules = []
    for n in range(draw(st.integers(1, 4))):
        src, dst = draw(st.sampled_from(pairs))
        proto = draw(st.sampled_from(["tcp", "icmp", "any"]))
        rule: dict[str, Any] = {"name": f"rule{n}", "sequence": 10 * (n + 1), "from": src, "to": dst,
                                "protocol": proto, "action": draw(st.sampled_from(["allow", "deny"]))}
        if proto == "tcp":
            rule["ports"] = sorted(draw(st.sets(st.sampled_from(RULE_PORTS), min_size=1, max_size=2)))
        rules.append(rule)
    services = []
    for n in range(draw(st.integers(1, 2))):
        provider = draw(st.sampled_from(HOSTS))
        others = [d for d in names if d != names[owner[provider]]]
        services.append({
            "name": f"svc{n}", "providers": [str(TOPO.hosts[provider].address.ip)], "protocol": "tcp",
            "ports": sorted(draw(st.sets(st.sampled_from(SERVICE_PORTS), min_size=1, max_size=2))),
            "consumers": sorted(draw(st.sets(st.sampled_from(others), min_size=1)))})
    return {"domains": domains, "rules": rules, "services": services}


def write_intents(folder: Path, security: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "routing.yaml").write_text(yaml.safe_dump(ospf_intent(), sort_keys=False))
    (folder / "security.yaml").write_text(yaml.safe_dump(security, sort_keys=False))
    return folder


def workspace(inventory: Path, intents: Path) -> Workspace:
    return Workspace(inventory, intents, ROOT / "netorch" / "templates")


def verifier(ws: Workspace) -> Verifier:
    _, intents, _ = ws.load()
    return Verifier(ws.compile(), ws.topology(), intents)


# -- what the model says, what traffic does ----------------------------------------------------------

def flow_ports(v: Verifier) -> list[int]:
    """Every tcp port the intents name, and one they do not."""
    ports = {OTHER_PORT}
    for s in v.intents.services:
        if s.value.protocol == Protocol.TCP:
            ports.update(p for r in s.value.ports for p in range(r.start, r.end + 1))
    for r in v.intents.rules:
        if r.value.protocol == Protocol.TCP:
            ports.update(p for pr in r.value.ports for p in range(pr.start, pr.end + 1))
    return sorted(ports)


def predicted(v: Verifier) -> list[Probe]:
    """Every ordered pair of end hosts x (icmp, tcp on flow_ports), with the verifier's verdict."""
    probes = []
    for src in HOSTS:
        src_ip = TOPO.hosts[src].address.ip
        for dst in HOSTS:
            if src == dst:
                continue
            dst_ip = TOPO.hosts[dst].address.ip
            for proto, port in [("icmp", None), *(("tcp", p) for p in flow_ports(v))]:
                ok, _ = v.flow(src_ip, dst_ip, proto, port)
                probes.append(Probe(src, dst, str(dst_ip), proto, port, ok, "verify"))
    return probes


def model_next_hop(v: Verifier, router: str, subnet: IPv4Network) -> str:
    fe = v.network().routers[router].lookup(int(subnet.network_address) + 10)
    return "" if fe is None else f"via {fe.next_hop}" if fe.next_hop else f"dev {fe.out_if}"


def kernel_next_hops(run_dir: Path, router: str, subnet: IPv4Network) -> set[str]:
    words = exec_in(run_dir, router, ["ip", "-4", "-o", "route", "show", "exact", str(subnet)]).stdout.split()
    vias = {f"via {words[i + 1]}" for i, w in enumerate(words) if w == "via"}
    return vias or ({f"dev {words[words.index('dev') + 1]}"} if "dev" in words else {""})


def wait_converged(run_dir: Path, v: Verifier, timeout: float = 60.0) -> None:
    """Until every router's kernel route to every host subnet is the model's (one of its
    equal-cost next hops: the model follows the lowest)."""
    subnets = [h.address.network for _, h in sorted(TOPO.hosts.items())]
    deadline = time.monotonic() + timeout
    while True:
        diff = {(r, str(s)): (sorted(k), m) for r in sorted(TOPO.routers) for s in subnets
                if (m := model_next_hop(v, r, s)) not in (k := kernel_next_hops(run_dir, r, s))}
        if not diff:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"OSPF did not converge to the model in {timeout:.0f}s: {diff}")
        time.sleep(0.2)


# -- the lab -----------------------------------------------------------------------------------------

@dataclass
class GeneratedLab:
    status: LabStatus
    work: Path
    examples: int = 0

    @property
    def run_dir(self) -> Path:
        return self.status.run_dir

    @property
    def inventory(self) -> Path:
        return self.status.run_dir / "inventory"


@pytest.fixture(scope="module")
def generated_lab() -> Iterator[GeneratedLab]:
    from conftest import make_run_dir, require_lab

    require_lab()
    run_dir = make_run_dir("verifyprop")
    try:
        status = up(TOPO, run_dir)
        assert status.state == "up", status
        work = run_dir.parent / "work"
        work.mkdir()
        yield GeneratedLab(status, work)
    finally:
        down(run_dir)
        shutil.rmtree(run_dir.parent, ignore_errors=True)


@settings(max_examples=3, deadline=None, derandomize=True, database=None,
          phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much])
@given(security=security_intents())
def test_verdict_equals_traffic_for_random_intents(generated_lab: GeneratedLab, security: dict[str, Any]) -> None:
    lab = generated_lab
    lab.examples += 1
    ws = workspace(lab.inventory, write_intents(lab.work / f"intents-{lab.examples}", security))
    validation = ws.validate()
    assume(validation.ok)
    v = verifier(ws)
    engine = Engine(ws, Store(lab.work / "store.db"), credentials=str(lab.status.credentials_file))
    report = engine.apply(ApplyOptions(workers=ROUTERS))
    assert report.exit_code == 0, [(d.host, d.status, d.error) for d in report.devices]
    wait_converged(lab.run_dir, v)
    observed = run_probes(lab.run_dir, predicted(v))
    wrong = [f"{p.flow()}: verify says {p.expected}, traffic {p.observed}" for p in observed if not p.ok]
    assert not wrong, (f"{len(wrong)} of {len(observed)} flows differ for intents\n"
                       + yaml.safe_dump(security, sort_keys=False) + "\n".join(wrong))

