#!/usr/bin/env python3
"""Scale-out benchmark on a real generated lab (root): drift and apply in process against the
Celery executor through 1 and 3 `netorch worker` processes, all in the same run, and the
controller's own cost per device with the Celery executor, extrapolated to 100,000 devices.

    sudo .venv/bin/python bench/scaleout.py --routers 50
    sudo .venv/bin/python bench/scaleout.py --routers 200

Setup: a generated lab (prefix nosc, management 198.19.0.0/16), a copy of its inventory where
the routers get `data.region` round-robin over --regions regions (region0, region1, ...), a
redis-server on a free loopback port (tests/executor_procs.py) and the workers as
subprocesses: "1 worker" serves every region, "3 workers" one region each.

Every measured run is a controller of its own (a fresh `python bench/scaleout.py --child`
process, as the CLI is): its wall time, its CPU time (time.process_time: every thread of the
controller process, user + system), its RSS before the run and its peak RSS (ru_maxrss), and
the Celery tasks it sent (app.send_task calls). Before the measured run, each controller plans
one device in process (untimed): the modules a run needs are loaded and the inventory is read,
so what is measured is the run itself, not Python's imports. Broker commands are Redis's own count
(INFO total_commands_processed) over the run, from every client (controller and workers,
heartbeats included).

apply  each measured apply replaces the --routes static routes of every router by as many
       others (a new intents folder each time), so every apply changes every router the same
       way: prepare, confirmed commit, verify, confirm, read back (the transaction as usual).
drift  a full drift check of every router (in sync after the apply).

In process every run opens its connections afresh (as the CLI does). A worker keeps its
sessions warm between runs, so the distributed runs are measured both "cold" (the first run
after the workers started) and "warm" (the next run, sessions open): cold drift, then warm
apply; workers restarted; cold apply, then warm drift.

Extrapolation (stated again in the output): linear in the number of devices. Controller CPU
and broker commands per device measured at N are multiplied by 100,000; memory is the RSS
before the run plus (peak - before) / N per device; tasks: Celery tasks are batches (at most
50 devices per task, per queue and phase), so tasks are also computed exactly from the phases
per run measured here, for 50 regions of 2,000 devices with one worker each.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from netorch.run.options import ApplyOptions, DriftOptions, PlanOptions

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

TARGET = 1.2
BIG_DEVICES, BIG_REGIONS = 100_000, 50


# -- one controller run, in a process of its own ----------------------------------------------
def vm_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one apply or drift as a controller and measure it (this is the --child process)."""
    from netorch.executor import executor_from_spec
    from netorch.executor.celery import CeleryExecutor
    from netorch.run.drift import DriftChecker
    from netorch.run.engine import Engine
    from netorch.service import Workspace
    from netorch.store import Store

    executor = executor_from_spec(spec["executor"])
    sent = [0]
    if isinstance(executor, CeleryExecutor):
        app = executor.app
        send_task = app.send_task

        def counting(*args: Any, **kwargs: Any) -> Any:
            sent[0] += 1
            return send_task(*args, **kwargs)

        app.send_task = counting  # type: ignore[method-assign]
    workspace = Workspace(Path(spec["inventory"]), Path(spec["intents"]), ROOT / "netorch" / "templates")
    # untimed warm-up: a plan of one device in process loads every module a run needs (and the
    # inventory's caches), and the executor connects; what is measured after it is the run's own
    Engine(workspace, Store(Path(spec["store"])), spec["credentials"]).plan(
        PlanOptions(limit=spec["warmup"], workers=1))
    executor.check()
    engine = Engine(workspace, Store(Path(spec["store"])), spec["credentials"], executor=executor)
    rss_before = vm_rss_kib()
    cpu, start = time.process_time(), time.perf_counter()
    if spec["action"] == "apply":
        report = engine.apply(ApplyOptions(workers=spec["workers"]))
        ok = report.exit_code == 0
        status = report.message or report.status
        good = sum(1 for d in report.devices if d.status == "changed")
    else:
        drift = DriftChecker(engine).check(DriftOptions(workers=spec["workers"]))
        ok = drift.status == "in_sync"
        status = drift.status
        good = sum(1 for d in drift.devices if d.status == "in_sync")
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"wall_s": wall, "cpu_s": cpu, "rss_before_kib": rss_before,
            "rss_peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            "tasks": sent[0], "ok": ok, "status": status, "good": good}


# -- the benchmark ----------------------------------------------------------------------------
def regional_inventory(source: Path, folder: Path, regions: int) -> dict[str, str]:
    """A copy of the generated inventory, routers given a region round-robin."""
    shutil.copytree(source, folder)
    hosts: dict[str, Any] = yaml.safe_load((folder / "hosts.yaml").read_text())
    names = sorted((h for h in hosts if h.startswith("r") and h[1:].isdigit()), key=lambda h: int(h[1:]))
    placed = {}
    for i, host in enumerate(names):
        placed[host] = f"region{i % regions}"
        hosts[host].setdefault("data", {})["region"] = placed[host]
    (folder / "hosts.yaml").write_text(yaml.safe_dump(hosts))
    return placed


class Bench:
    def __init__(self, run_dir: Path, work: Path, inventory: Path, routes: int, workers: int) -> None:
        from network import route_lines, write_intents

        self.run_dir, self.work, self.inventory = run_dir, work, inventory
        self.workers = workers
        self.routes = routes
        self._route_lines, self._write_intents = route_lines, write_intents
        self.generation = 0
        self.intents = self.next_intents()
        self.redis: Any = None
        self.warmup = "r1"

    def next_intents(self) -> Path:
        """A new set of routes (as many per router as before, other prefixes)."""
        folder = self.work / f"intents-{self.generation}"
        self._write_intents(folder, self._route_lines(self.inventory, self.routes, self.generation * self.routes))
        self.generation += 1
        return folder

    def broker_commands(self) -> int:
        if self.redis is None:
            return 0
        return int(self.redis.client().info("stats")["total_commands_processed"])

    def run(self, action: str, executor: str) -> dict[str, Any]:
        if action == "apply":
            self.intents = self.next_intents()
        spec = {"action": action, "executor": executor, "inventory": str(self.inventory),
                "intents": str(self.intents), "store": str(self.work / "bench.db"),
                "credentials": str(self.run_dir / "credentials.yaml"), "workers": self.workers,
                "warmup": self.warmup}
        before = self.broker_commands()
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)],
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                              check=False, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"{action} through {executor} failed: {proc.stderr[-2000:]}")
        result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
        result["broker_commands"] = self.broker_commands() - before
        if not result["ok"]:
            raise RuntimeError(f"{action} through {executor}: {result['status']}")
        return result


def start_workers(pool: Any, layout: list[str], concurrency: int) -> None:
    client = pool.redis.client()
    # a queue's binding stays in Redis after its worker stopped: drop it, so that start()
    # waits until the new worker really consumes (nothing is queued between runs)
    for key in client.keys("_kombu.binding.netorch.region.*"):
        client.delete(key)
    for i, queues in enumerate(layout):
        pool.start(f"w{i}", queues, concurrency=concurrency)


def measure(args: argparse.Namespace, run_dir: Path, work: Path) -> dict[str, Any]:
    from executor_procs import Workers, redis_server

    placed = regional_inventory(run_dir / "inventory", work / "inventory", args.regions)
    bench = Bench(run_dir, work, work / "inventory", args.routes, args.workers)
    # the routers at a known state first (not timed)
    bench.run("apply", "inprocess")
    results: dict[str, Any] = {"routers": len(placed), "regions": args.regions, "distributed": {}}
    local = {"drift": bench.run("drift", "inprocess"), "apply": bench.run("apply", "inprocess")}
    local["drift2"] = bench.run("drift", "inprocess")
    results["inprocess"] = local
    regions = [f"region{i}" for i in range(args.regions)]
    layouts = {"1 worker": [",".join(regions)], f"{args.regions} workers": regions}
    with redis_server(work / "redis") as redis:
        bench.redis = redis
        executor = f"celery:{redis.url}"
        for label, layout in layouts.items():
            concurrency = args.concurrency or len(regions) // len(layout) + 1
            pool = Workers(redis, bench.inventory, bench.intents, run_dir / "credentials.yaml", work)
            out: dict[str, Any] = {"workers": len(layout), "concurrency": concurrency}
            try:
                start_workers(pool, layout, concurrency)
                out["drift_cold"] = bench.run("drift", executor)
                out["apply_warm"] = bench.run("apply", executor)
                pool.stop_all()
                start_workers(pool, layout, concurrency)
                out["apply_cold"] = bench.run("apply", executor)
                out["drift_warm"] = bench.run("drift", executor)
            finally:
                pool.stop_all()
            results["distributed"][label] = out
    return results


# -- output -----------------------------------------------------------------------------------
def extrapolate(results: dict[str, Any]) -> dict[str, Any]:
    """The controller's cost per device (Celery executor, the run through the most workers)
    and its linear extrapolation to 100,000 devices in 50 regions."""
    n, regions = results["routers"], results["regions"]
    label = f"{regions} workers"
    per_region = math.ceil(n / regions)
    big_batches = BIG_REGIONS * math.ceil(BIG_DEVICES / BIG_REGIONS / 50)  # per phase, one worker per region
    out: dict[str, Any] = {"from": label}
    for action in ("drift", "apply"):
        runs = [results["distributed"][label][f"{action}_cold"], results["distributed"][label][f"{action}_warm"]]
        cpu = max(r["cpu_s"] for r in runs) / n
        growth = max(r["rss_peak_kib"] - r["rss_before_kib"] for r in runs) / n
        before = max(r["rss_before_kib"] for r in runs)
        tasks = max(r["tasks"] for r in runs)
        phases = tasks / (regions * math.ceil(per_region / 50))
        commands = max(r["broker_commands"] for r in runs) / n
        out[action] = {
            "cpu_ms_per_device": round(cpu * 1000, 2), "rss_kib_per_device": round(growth, 1),
            "rss_before_mib": round(before / 1024, 1), "tasks_per_device": round(tasks / n, 3),
            "phases": round(phases, 2), "broker_commands_per_device": round(commands, 1),
            "big_cpu_s": round(cpu * BIG_DEVICES, 1),
            "big_rss_mib": round((before + growth * BIG_DEVICES) / 1024),
            "big_tasks_linear": round(tasks / n * BIG_DEVICES),
            "big_tasks_batched": round(phases * big_batches),
            "big_broker_commands": round(commands * BIG_DEVICES),
        }
    return out


def report(results: dict[str, Any]) -> str:
    n = results["routers"]
    local = results["inprocess"]
    lines = [f"lab: {n} generated routers up in {results['lab_up_s']} s; {results['regions']} regions round-robin; "
             f"in process {results['workers']} Nornir workers; routes per router replaced by each apply: "
             f"{results['routes']}; load average at the end {results['load_average']}",
             "",
             "| run | drift s | ratio | apply s | ratio | controller CPU s (drift / apply) "
             "| tasks sent (drift / apply) |",
             "|---|---|---|---|---|---|---|"]
    base_drift = min(local["drift"]["wall_s"], local["drift2"]["wall_s"])
    base_apply = local["apply"]["wall_s"]
    lines.append(f"| in process | {base_drift:.2f} | 1.00x | {base_apply:.2f} | 1.00x | "
                 f"{local['drift']['cpu_s']:.2f} / {local['apply']['cpu_s']:.2f} | - |")
    for label, r in results["distributed"].items():
        for mode in ("cold", "warm"):
            d, a = r[f"drift_{mode}"], r[f"apply_{mode}"]
            lines.append(f"| {label} (concurrency {r['concurrency']}), {mode} | {d['wall_s']:.2f} | "
                         f"{d['wall_s'] / base_drift:.2f}x | {a['wall_s']:.2f} | {a['wall_s'] / base_apply:.2f}x | "
                         f"{d['cpu_s']:.2f} / {a['cpu_s']:.2f} | {d['tasks']} / {a['tasks']} |")
    lines.append(f"(target: distributed <= {TARGET}x in process; in process = the faster of two drift runs, "
                 "every in-process run opens its connections afresh; cold = first run after the workers "
                 "started, warm = the next one, sessions open)")
    x = results["extrapolated"]
    lines += ["", f"controller cost per device, Celery executor ({x['from']}, the worse of cold and warm), "
              f"and linearly extrapolated to {BIG_DEVICES:,} devices in {BIG_REGIONS} regions:",
              "| | CPU per device | RSS growth per device | tasks per device | broker commands per device "
              f"| at {BIG_DEVICES:,}: CPU | RSS | tasks (linear / batched) | broker commands |",
              "|---|---|---|---|---|---|---|---|---|"]
    for action in ("drift", "apply"):
        a = x[action]
        lines.append(f"| {action} | {a['cpu_ms_per_device']} ms | {a['rss_kib_per_device']} KiB | "
                     f"{a['tasks_per_device']} | {a['broker_commands_per_device']} | {a['big_cpu_s']} s | "
                     f"{a['big_rss_mib']} MiB | {a['big_tasks_linear']:,} / {a['big_tasks_batched']:,} | "
                     f"{a['big_broker_commands']:,} |")
    lines += ["method: CPU = time.process_time of the controller process over the run; RSS = VmRSS before "
              "the run + (ru_maxrss - that) / N per device; both and the broker commands (Redis "
              "total_commands_processed, every client) x 100,000 / N. tasks linear = tasks sent / N x 100,000; "
              "tasks batched = phases (tasks sent / batches per phase at N) x 50 regions x ceil(2,000 / 50) "
              "batches of at most 50 devices per phase, one worker per region."]
    return "\n".join(lines)


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(child(json.loads(sys.argv[2]))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--routers", type=int, default=50)
    parser.add_argument("--regions", type=int, default=3, help="regions round-robin (the many-worker run has one "
                                                               "worker per region)")
    parser.add_argument("--workers", type=int, default=20, help="Nornir workers of the controller (in process)")
    parser.add_argument("--concurrency", type=int, default=0,
                        help="batches a worker runs at once [its regions + 1]")
    parser.add_argument("--routes", type=int, default=5, help="static routes per router replaced by each apply")
    parser.add_argument("--keep", action="store_true", help="leave the lab up")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--save", type=Path, help="also write the raw figures (JSON) to this file")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/scaleout.py: run as root (it builds a lab)", file=sys.stderr)
        return 1
    if shutil.which("redis-server") is None:
        print("bench/scaleout.py: redis-server is not installed (Debian package redis-server)", file=sys.stderr)
        return 1
    if not 2 <= args.routers <= 4000 or args.regions < 1 or args.routes < 1:
        print("bench/scaleout.py: --routers 2..4000, --regions and --routes at least 1", file=sys.stderr)
        return 1
    from netorch.lab import down, generate, up

    # SIGTERM (a timeout, a ^C from a supervisor) still takes the lab down
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    base = Path(tempfile.mkdtemp(prefix="netorch-scalebench-"))
    base.chmod(0o755)
    run_dir, work = base / "lab", base / "work"
    work.mkdir()
    topo = generate(args.routers, hosts_every=0, prefix="nosc", mgmt_gateway="198.19.0.1/16")
    start = time.perf_counter()
    try:
        up(topo, run_dir)
        lab_up = round(time.perf_counter() - start, 1)
        results = measure(args, run_dir, work)
    finally:
        if not args.keep:
            down(run_dir)
            shutil.rmtree(base, ignore_errors=True)
    results.update(lab_up_s=lab_up, workers=args.workers, routes=args.routes,
                   load_average=[round(x, 2) for x in os.getloadavg()])
    if args.save is not None:
        args.save.write_text(json.dumps(results, indent=2))
    results["extrapolated"] = extrapolate(results)
    print(json.dumps(results, indent=2) if args.json else report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
