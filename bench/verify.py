#!/usr/bin/env python3
"""Benchmark of `netorch verify`, against the sample-packet simulator in the same run.

1. all checks (services, isolation, inside domains, loops, blackholes, shadowed rules) on
   bench/core.py's generated 5,000-device network (its generator, its defaults), timed apart
   from load+validate+compile, with the peak RSS of the process;
2. single-failure analysis (`--failures 1`: every promise under each single link and router
   failure) of a 50-router generated network;
3. baseline: netorch/simulate.py (what `lab probe` uses: one sample packet at a time) over as
   many flows as verify has flow classes (one tcp/443 packet per class); capped at --baseline-cap
   seconds, the rest extrapolated (and said so).

    .venv/bin/python bench/verify.py             # 5,000 devices < 30 s and < 2 GB; 50 routers x failures < 30 s
    .venv/bin/python bench/verify.py --devices 500 --json
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import core  # noqa: E402  (bench/core.py: the generator)

from netorch.service import Workspace  # noqa: E402
from netorch.simulate import expect  # noqa: E402
from netorch.util import paused_gc  # noqa: E402
from netorch.verify.verifier import Verifier  # noqa: E402

TARGET_SECONDS = 30.0
TARGET_BYTES = 2_000_000_000


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def network(workdir: Path, argv: list[str]) -> Workspace:
    args = core.parse_args(argv)
    core.generate_in_child(args, workdir)
    return Workspace(workdir / "inventory", workdir / "intents", REPO / "netorch" / "templates")


def run(ws: Workspace, failures: int, baseline_cap: float) -> dict[str, Any]:
    start = time.perf_counter()
    with paused_gc():
        desired = ws.compile()
    compile_s = time.perf_counter() - start
    _, intents, _ = ws.load()
    start = time.perf_counter()
    with paused_gc():
        verifier = Verifier(desired, ws.topology(), intents)
        report = verifier.run(failures)
    verify_s = time.perf_counter() - start
    # baseline: one sample packet per flow class with the simulator
    atoms, members = verifier.atoms, verifier.universe.members
    classes = [(atoms.sample(s), atoms.sample(d)) for _, s, d in verifier._all_pairs()]
    # as many sample packets as verify has flow classes (under failures: every scenario's classes)
    flows = [classes[i % len(classes)] for i in range(report.stats["pairs"])] if classes else []
    topo = ws.topology()
    start = time.perf_counter()
    done = 0
    with paused_gc():
        for src, dst in flows:
            expect(desired, topo, src, dst, "tcp", 443)
            done += 1
            if done % 500 == 0 and time.perf_counter() - start > baseline_cap:
                break
    sim_s = time.perf_counter() - start
    sim_total = sim_s * len(flows) / done if done else 0.0
    return {"devices": len(desired), "members": len(members), "flow_classes": report.stats["pairs"],
            "scenarios": report.stats["scenarios"], "compile_s": round(compile_s, 2),
            "verify_s": round(verify_s, 2), "ok": report.ok, "failures": len(report.failures),
            "warnings": len(report.warnings), "peak_rss_mib": round(peak_rss() / 2**20),
            "baseline_flows": len(flows), "baseline_measured": done, "baseline_s": round(sim_total, 2),
            "baseline_extrapolated": done < len(flows),
            "baseline_us_per_flow": round(sim_s / done * 1e6, 1) if done else None,
            "verify_us_per_class": round(verify_s / max(1, report.stats["pairs"]) * 1e6, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, default=5000)
    ap.add_argument("--failure-routers", type=int, default=50)
    ap.add_argument("--baseline-cap", type=float, default=60.0, help="seconds of simulator time at most")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="netorch-verify-") as tmp:
        ws = network(Path(tmp) / "big", ["--devices", str(args.devices)])
        out["all_checks"] = run(ws, 0, args.baseline_cap)
        small = network(Path(tmp) / "small", ["--devices", str(args.failure_routers), "--domains", "4",
                                              "--members-per-domain", "4", "--rules", "6", "--services", "6",
                                              "--routes", "5", "--leaves-per-pod", "6"])
        out["single_failures"] = run(small, 1, args.baseline_cap)
    a, f = out["all_checks"], out["single_failures"]
    out["targets"] = {
        "all_checks": "PASS" if a["verify_s"] < TARGET_SECONDS and a["peak_rss_mib"] * 2**20 < TARGET_BYTES else "FAIL",
        "single_failures": "PASS" if f["verify_s"] < TARGET_SECONDS else "FAIL"}
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        for name, r in (("all checks", a), ("single failures", f)):
            print(f"{name}: {r['devices']} devices, {r['flow_classes']} flow classes, {r['scenarios']} scenario(s): "
                  f"verify {r['verify_s']} s (compile {r['compile_s']} s), peak {r['peak_rss_mib']} MiB, "
                  f"ok={r['ok']} ({r['failures']} failures, {r['warnings']} warnings); simulator "
                  f"{r['baseline_s']} s for {r['baseline_flows']} sample packets"
                  + (" (extrapolated)" if r["baseline_extrapolated"] else ""))
        print(f"targets: {out['targets']}")
    return 0 if set(out["targets"].values()) == {"PASS"} else 1


if __name__ == "__main__":
    sys.exit(main())
