#!/usr/bin/env python3
"""Benchmarks on a real generated lab (root): push, drift and the daemon's warm drift check,
each against a baseline measured in the same run.

    sudo .venv/bin/python bench/network.py --routers 50 --workers 20
    sudo .venv/bin/python bench/network.py --routers 200 --workers 20

push   netorch apply of K static routes per router (load, diff, commit, read-back check,
       RIB post-check, persist) vs a plain Nornir + nornir_netmiko script that pushes the
       same lines with the same workers (netmiko_send_config through the vtysh login).
drift  netorch drift (config by meaning + RIB + interfaces + diffs) vs a plain Nornir +
       nornir_netmiko script that only fetches `show running-config` from each router.
daemon the daemon's warm drift check (POST /drift, second call) vs the cold CLI
       `netorch drift` (a new process, new connections), same routers.
ospf   (--only ospf, a lab of its own with ospfd on every router) netorch applies one OSPF
       intent (area 0 over every link, loopbacks passive), then a ring link is set down inside
       a router's namespace: the time from link down until r1's loopback reaches its former
       neighbour's loopback again the other way (polled with pings), and back after link up.
       FRR 8.4's default timers (hello 10 s, dead 40 s, SPF throttle 0/50/5000 ms).

The lab uses its own prefix (nolb) and management range (198.19.0.0/16) and is torn down
at the end (unless --keep).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml
from nornir import InitNornir
from nornir.core.task import Result, Task
from nornir_netmiko.tasks import netmiko_send_command, netmiko_send_config

from netorch.lab import down, generate, up
from netorch.run.drift import DriftChecker
from netorch.run.engine import Engine
from netorch.run.options import ApplyOptions, DriftOptions
from netorch.service import Workspace
from netorch.store import Store

ROOT = Path(__file__).resolve().parents[1]


def peer_of(address: str) -> str:
    ip, _, plen = address.partition("/")
    a, b, c, d = (int(x) for x in ip.split("."))
    assert plen == "30"
    d = d + 1 if d % 4 == 1 else d - 1
    return f"{a}.{b}.{c}.{d}"


def route_lines(inventory: Path, per_router: int, offset: int) -> dict[str, list[tuple[str, str]]]:
    hosts = yaml.safe_load((inventory / "hosts.yaml").read_text())
    out: dict[str, list[tuple[str, str]]] = {}
    for name, host in hosts.items():
        if host.get("platform") != "frr":
            continue
        index = int(name[1:])
        ifaces = host["data"]["interfaces"]
        uplink = next(v["address"] for k, v in sorted(ifaces.items()) if k != "lo" and v["address"].endswith("/30"))
        hop = peer_of(uplink)
        out[name] = [(f"172.{16 + offset + k}.{index // 256}.{index % 256}/32", hop) for k in range(per_router)]
    return out


def write_intents(folder: Path, routes: dict[str, list[tuple[str, str]]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    items = [{"name": f"{host}-b{k}", "prefix": prefix, "next_hop": hop, "hosts": [host]}
             for host, lines in sorted(routes.items()) for k, (prefix, hop) in enumerate(lines)]
    (folder / "routes.yaml").write_text(yaml.safe_dump({"routes": items}))


def baseline_nornir(inventory: Path, creds: dict[str, Any], workers: int) -> Any:
    nr = InitNornir(runner={"plugin": "threaded", "options": {"num_workers": workers}},
                    inventory={"plugin": "SimpleInventory", "options": {
                        "host_file": str(inventory / "hosts.yaml"), "group_file": str(inventory / "groups.yaml"),
                        "defaults_file": str(inventory / "defaults.yaml")}},
                    logging={"enabled": False})
    cli = creds["connections"]["netmiko"]
    for host in nr.inventory.hosts.values():
        host.username = cli["username"]
        host.password = cli["password"]
        host.platform = "cisco_ios"
    return nr.filter(filter_func=lambda h: h.platform == "cisco_ios" and h.name.startswith("r"))


def timed_run(nr: Any, task: Any, args: Callable[[str], dict[str, Any]]) -> tuple[float, list[float], int]:
    """Run a Nornir task on every host (args(host) are its arguments): wall time, per-device
    times, failed hosts. Connections are closed afterwards."""
    durations: list[float] = []

    def wrapped(t: Task) -> Result:
        start = time.perf_counter()
        t.run(task=task, **args(t.host.name))
        durations.append(time.perf_counter() - start)
        return Result(host=t.host)

    start = time.perf_counter()
    result = nr.run(task=wrapped)
    wall = time.perf_counter() - start
    nr.close_connections()
    return wall, durations, len(result.failed_hosts)


def bench_push(run_dir: Path, work: Path, creds: dict[str, Any], workers: int, per_router: int) -> dict[str, Any]:
    inventory = run_dir / "inventory"
    lines_a = route_lines(inventory, per_router, 0)
    write_intents(work / "intents-a", lines_a)
    write_intents(work / "intents-base", {})
    cred_file = str(run_dir / "credentials.yaml")

    def engine(folder: str) -> Engine:
        return Engine(Workspace(inventory, work / folder, ROOT / "netorch" / "templates"), Store(work / "bench.db"),
                      cred_file)

    # a baseline push of the lines, timed
    base_wall, durations, base_failed = timed_run(
        baseline_nornir(inventory, creds, workers), netmiko_send_config,
        lambda host: {"config_commands": [f"ip route {p} {h}" for p, h in lines_a[host]]})
    # back to the base state (not timed), then netorch applies the same routes, timed
    engine("intents-base").apply(ApplyOptions(workers=workers))
    start = time.perf_counter()
    report = engine("intents-a").apply(ApplyOptions(workers=workers))
    netorch_wall = time.perf_counter() - start
    again = engine("intents-a").apply(ApplyOptions(workers=workers))
    n = len(lines_a)
    return {
        "routers": n, "routes_per_router": per_router, "workers": workers,
        "baseline_wall_s": round(base_wall, 2), "baseline_failed": base_failed,
        "baseline_mean_device_s": round(statistics.mean(durations), 3),
        "netorch_wall_s": round(netorch_wall, 2), "netorch_status": report.status,
        "netorch_changed": sum(1 for d in report.devices if d.status == "changed"),
        "netorch_mean_device_s": round(statistics.mean(d.duration for d in report.devices), 3),
        "ratio": round(netorch_wall / base_wall, 2),
        "per_device_overhead_ms": round((netorch_wall - base_wall) / n * 1000, 1),
        "second_apply_wall_s": round(again.duration, 2), "second_apply_status": again.status,
    }


def bench_drift(run_dir: Path, work: Path, creds: dict[str, Any], workers: int) -> dict[str, Any]:
    inventory = run_dir / "inventory"
    base_wall, durations, base_failed = timed_run(baseline_nornir(inventory, creds, workers), netmiko_send_command,
                                                  lambda host: {"command_string": "show running-config"})
    engine = Engine(Workspace(inventory, work / "intents-a", ROOT / "netorch" / "templates"), Store(work / "bench.db"),
                    str(run_dir / "credentials.yaml"))
    start = time.perf_counter()
    report = DriftChecker(engine).check(DriftOptions(workers=workers))
    netorch_wall = time.perf_counter() - start
    return {
        "routers": len(durations), "workers": workers, "baseline_wall_s": round(base_wall, 2),
        "baseline_failed": base_failed, "netorch_wall_s": round(netorch_wall, 2),
        "netorch_status": report.status,
        "in_sync": sum(1 for d in report.devices if d.status == "in_sync"),
        "ratio": round(netorch_wall / base_wall, 2),
    }


def bench_daemon(run_dir: Path, work: Path, workers: int) -> dict[str, Any]:
    inventory = run_dir / "inventory"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = "bench-token-" + os.urandom(12).hex()
    config = work / "daemon.yaml"
    config.write_text(yaml.safe_dump({
        "port": port, "inventory": str(inventory), "intents": str(work / "intents-a"),
        "templates": str(ROOT / "netorch" / "templates"), "credentials": str(run_dir / "credentials.yaml"),
        "store": str(work / "daemon.db"), "workers": workers,
        "tokens": [{"name": "bench", "role": "operate", "token": token}]}))
    env = dict(os.environ, NETORCH_CREDENTIALS=str(run_dir / "credentials.yaml"),
               NETORCH_STORE=str(work / "cli.db"))
    cli = [sys.executable, "-m", "netorch", "--inventory", str(inventory), "--intents", str(work / "intents-a"),
           "--templates", str(ROOT / "netorch" / "templates"), "drift", "--workers", str(workers), "--json"]
    cold = []
    for _ in range(2):
        start = time.perf_counter()
        proc = subprocess.run(cli, env=env, capture_output=True, check=False)
        cold.append(time.perf_counter() - start)
        assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    daemon = subprocess.Popen([sys.executable, "-m", "netorch", "daemon", "--config", str(config)],
                              stdout=(work / "daemon.log").open("wb"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "daemon did not start"
            time.sleep(0.1)
        headers = {"Authorization": f"Bearer {token}"}
        warm = []
        for _ in range(4):
            start = time.perf_counter()
            r = httpx.post(f"http://127.0.0.1:{port}/drift", json={}, headers=headers, timeout=600)
            warm.append(time.perf_counter() - start)
            assert r.status_code == 200 and r.json()["status"] == "in_sync", r.text[:500]
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
    first, rest = warm[0], warm[1:]
    return {"routers": len(route_lines(inventory, 1, 0)), "workers": workers,
            "cold_cli_wall_s": round(min(cold), 2), "daemon_first_s": round(first, 2),
            "daemon_warm_s": round(statistics.median(rest), 2),
            "speedup": round(min(cold) / statistics.median(rest), 1)}


def write_ospf_intents(folder: Path, n_routers: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    intent = {"ospf": [{"name": "bench", "areas": [{
        "area": 0, "groups": ["lab_routers"],
        "interfaces": [{"group": "lab_routers", "interface": "lo", "passive": True}]}]}]}
    (folder / "routing.yaml").write_text(yaml.safe_dump(intent))


def bench_ospf(run_dir: Path, work: Path, workers: int, n_routers: int, timeout: float = 120.0) -> dict[str, Any]:
    """Convergence after a link failure (and its repair) on the generated ring."""
    from netorch.lab import exec_in

    inventory = run_dir / "inventory"
    write_ospf_intents(work / "intents-ospf", n_routers)
    engine = Engine(Workspace(inventory, work / "intents-ospf", ROOT / "netorch" / "templates"),
                    Store(work / "ospf.db"), str(run_dir / "credentials.yaml"))
    start = time.perf_counter()
    report = engine.apply(ApplyOptions(workers=workers))  # verify waits until every adjacency is Full
    apply_wall = time.perf_counter() - start
    assert report.exit_code == 0, [(d.host, d.status, d.error) for d in report.devices if d.error][:5]
    src, dst = "10.255.0.1", "10.255.0.2"  # r1 and its ring neighbour r2 (link r1:eth1-r2:eth1)

    def reaches() -> bool:
        return exec_in(run_dir, "r1", ["ping", "-n", "-q", "-c", "1", "-W", "1", "-I", src, dst],
                       timeout=5).returncode == 0

    def poll(condition: Callable[[], bool]) -> float:
        began = time.monotonic()
        while not condition():
            assert time.monotonic() - began < timeout, f"no convergence within {timeout} s"
            time.sleep(0.05)
        return time.monotonic() - began

    def via_ring_link() -> bool:
        out = exec_in(run_dir, "r1", ["ip", "-o", "route", "get", dst]).stdout
        return " dev eth1 " in out

    poll(lambda: reaches() and via_ring_link())
    exec_in(run_dir, "r1", ["ip", "link", "set", "eth1", "down"], check=True)
    down_s = poll(reaches)
    detour = exec_in(run_dir, "r1", ["ip", "-o", "route", "get", dst]).stdout.split()
    exec_in(run_dir, "r1", ["ip", "link", "set", "eth1", "up"], check=True)
    up_s = poll(lambda: via_ring_link() and reaches())
    return {"routers": n_routers, "apply_wall_s": round(apply_wall, 2), "link_down_to_traffic_s": round(down_s, 2),
            "link_up_to_primary_s": round(up_s, 2),
            "detour_via": detour[detour.index("via") + 1] if "via" in detour else ""}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--routers", type=int, default=50)
    parser.add_argument("--workers", type=int, default=20)
    parser.add_argument("--routes", type=int, default=10, help="static routes per router in the pushed change")
    parser.add_argument("--only", choices=("push", "drift", "daemon", "ospf"), action="append")
    parser.add_argument("--keep", action="store_true", help="leave the lab up")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/network.py: run as root (it builds a lab)", file=sys.stderr)
        return 1
    only = set(args.only or ("push", "drift", "daemon"))
    base = Path(tempfile.mkdtemp(prefix="netorch-bench-"))
    base.chmod(0o755)
    run_dir, work = base / "lab", base / "work"
    work.mkdir()
    topo = generate(args.routers, hosts_every=0, prefix="nolb", mgmt_gateway="198.19.0.1/16",
                    ospf="ospf" in only)
    results: dict[str, Any] = {}
    start = time.perf_counter()
    up(topo, run_dir)
    results["lab_up_s"] = round(time.perf_counter() - start, 1)
    try:
        creds = yaml.safe_load((run_dir / "credentials.yaml").read_text())
        if "drift" in only or "daemon" in only or "push" in only:
            results["push"] = bench_push(run_dir, work, creds, args.workers, args.routes)
        if "drift" in only:
            results["drift"] = bench_drift(run_dir, work, creds, args.workers)
        if "daemon" in only:
            results["daemon"] = bench_daemon(run_dir, work, args.workers)
        if "ospf" in only:
            results["ospf"] = bench_ospf(run_dir, work, args.workers, args.routers)
    finally:
        if not args.keep:
            down(run_dir)
            shutil.rmtree(base, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"lab: {args.routers} routers up in {results['lab_up_s']} s")
    if "push" in results:
        p = results["push"]
        print(f"push   {p['routers']} routers x {p['routes_per_router']} routes, {p['workers']} workers: "
              f"baseline (nornir_netmiko send_config) {p['baseline_wall_s']} s, netorch apply {p['netorch_wall_s']} s "
              f"({p['netorch_changed']} changed) -> ratio {p['ratio']}x (target <= 1.5x); per-device overhead "
              f"{p['per_device_overhead_ms']} ms; no-op re-apply {p['second_apply_wall_s']} s "
              f"({p['second_apply_status']})")
    if "drift" in results:
        d = results["drift"]
        print(f"drift  {d['routers']} routers, {d['workers']} workers: baseline (show running-config) "
              f"{d['baseline_wall_s']} s, netorch drift {d['netorch_wall_s']} s ({d['in_sync']} in sync) -> "
              f"ratio {d['ratio']}x (target <= 1.3x)")
    if "daemon" in results:
        m = results["daemon"]
        print(f"daemon {m['routers']} routers: cold CLI drift {m['cold_cli_wall_s']} s, daemon warm drift "
              f"{m['daemon_warm_s']} s (first {m['daemon_first_s']} s) -> {m['speedup']}x faster (target >= 3x)")
    if "ospf" in results:
        o = results["ospf"]
        print(f"ospf   {o['routers']} routers: apply (until every adjacency is Full) {o['apply_wall_s']} s; "
              f"link down -> traffic again {o['link_down_to_traffic_s']} s (via {o['detour_via']}); "
              f"link up -> back on the link {o['link_up_to_primary_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
