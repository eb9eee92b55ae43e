"""A device that was not read is never counted in sync or unchanged; a drift check or a plan that
read no device never exits 0; every summary says how many devices were read. Through the
scripted executor, and through the command line against devices on a closed loopback port."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from netorch.device.drift import DeviceDrift
from netorch.device.messages import DeviceRequest, DeviceResult
from netorch.executor.scripted import ScriptedExecutor
from netorch.run.drift import DriftChecker
from netorch.run.engine import Engine
from netorch.run.options import DriftOptions, PlanOptions
from netorch.service import Workspace
from netorch.store import Store

ROOT = Path(__file__).resolve().parent.parent
LAB = ["nc1", "r1", "r2", "r3", "r4", "up1"]  # the deployed hosts of the example (the branch is render-only)


class Network:
    """Scripted devices: those in `down` cannot be reached, the others are in sync and unchanged."""

    def __init__(self, down: set[str]) -> None:
        self.down = down

    def __call__(self, phase: str, req: DeviceRequest) -> DeviceResult | None:
        host = req.host
        if req.action == "drift":
            assert req.job is not None
            platform, transport = req.job.platform, req.job.transport
            drift = DeviceDrift(host=host, platform=platform, transport=transport,
                                status="unreachable" if host in self.down else "in_sync",
                                error="cannot connect: connection refused" if host in self.down else "")
            return DeviceResult(host=host, action="drift", drift=drift.model_dump(mode="json"))
        if req.action == "prepare":
            if host in self.down:
                return DeviceResult(host=host, action="prepare", status="unreachable", ok=False,
                                    error="cannot connect: connection refused")
            return DeviceResult(host=host, action="prepare", status="unchanged", opened=True, fingerprint="f",
                                journal={})
        return DeviceResult(host=host, action=req.action)


def _engine(tmp_path: Path, down: set[str]) -> tuple[Engine, Store]:
    ws = Workspace(ROOT / "inventory", ROOT / "intents", ROOT / "netorch" / "templates")
    store = Store(tmp_path / "store.db")
    return Engine(ws, store, executor=ScriptedExecutor(Network(down))), store


def test_drift_with_every_device_unreachable_is_unknown_even_when_unreachable_is_allowed(tmp_path: Path) -> None:
    eng, store = _engine(tmp_path, set(LAB))
    report = DriftChecker(eng).check(DriftOptions(allow_unreachable=True))
    assert (report.status, report.exit_code, report.checked) == ("unknown", 1, 0)
    assert not any(d.status == "in_sync" for d in report.devices)
    run = store.runs(kind="drift")[0]
    assert run.status == "unknown" and run.summary["checked"] == 0
    assert run.summary["counts"]["unreachable"] == len(LAB)


def test_drift_with_some_devices_unreachable_counts_only_those_read(tmp_path: Path) -> None:
    eng, store = _engine(tmp_path, {"r2", "up1"})
    allowed = DriftChecker(eng).check(DriftOptions(allow_unreachable=True))
    assert (allowed.status, allowed.exit_code, allowed.checked) == ("in_sync", 0, len(LAB) - 2)
    assert {d.host for d in allowed.devices if d.status == "unreachable"} == {"r2", "up1"}
    strict = DriftChecker(eng).check(DriftOptions())
    assert (strict.status, strict.exit_code, strict.checked) == ("error", 1, len(LAB) - 2)
    assert store.runs(kind="drift")[0].summary["checked"] == len(LAB) - 2


def test_drift_of_render_only_devices_reads_nothing_and_says_so(tmp_path: Path) -> None:
    eng, _ = _engine(tmp_path, set())
    report = DriftChecker(eng).check(DriftOptions(limit="eos1,ios1"))
    assert {d.status for d in report.devices} == {"skipped"}
    assert (report.status, report.exit_code, report.checked) == ("unknown", 1, 0)


def test_a_plan_that_read_no_device_does_not_exit_0(tmp_path: Path) -> None:
    eng, store = _engine(tmp_path, set())
    report = eng.plan(PlanOptions(limit="eos1,ios1", record=True))
    assert (report.status, report.exit_code, report.checked) == ("unknown", 1, 0)
    assert report.message.startswith("no device was read (2 selected, 2 skipped)")
    assert report.as_dict()["checked"] == 0
    assert store.runs(kind="plan")[0].summary["checked"] == 0


def test_a_plan_counts_the_devices_it_read(tmp_path: Path) -> None:
    eng, store = _engine(tmp_path, {"r3"})
    report = eng.plan(PlanOptions(record=True))
    assert report.exit_code == 1 and report.checked == len(LAB) - 1
    assert {d.host: d.status for d in report.devices if d.host in LAB}["r3"] == "unreachable"
    assert store.runs(kind="plan")[0].summary["checked"] == len(LAB) - 1
    fine = _engine(tmp_path / "b", set())[0].plan(PlanOptions())
    assert (fine.status, fine.exit_code, fine.checked) == ("unchanged", 0, len(LAB))


# -- the command line, against devices nobody answers for ------------------------------------------
def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed when the socket is: connections are refused


@pytest.fixture
def offline(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    inv = tmp_path / "inventory"
    inv.mkdir()
    port = _closed_port()
    hosts = {name: {"hostname": "127.0.0.1", "port": port, "platform": "frr",
                    "data": {"interfaces": {"lo": {"address": f"10.255.9.{i}/32"}}}}
             for i, name in enumerate(("x1", "x2"), start=1)}
    (inv / "hosts.yaml").write_text(yaml.safe_dump(hosts))
    (tmp_path / "intents").mkdir()
    (tmp_path / "intents" / "routes.yaml").write_text("routes: []\n")
    env = {**os.environ, "NETORCH_STORE": str(tmp_path / "store.db"), "PYTHONPATH": str(ROOT),
           "NETORCH_USERNAME": "netorch", "NETORCH_PASSWORD": "not-a-real-secret"}
    env.pop("NETORCH_CREDENTIALS", None)
    return tmp_path, env


def _netorch(folder: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "netorch", "-i", str(folder / "inventory"), "--intents",
                           str(folder / "intents"), "--templates", str(ROOT / "netorch" / "templates"), *args],
                          env=env, cwd=folder, capture_output=True, text=True, timeout=120, check=False)


def test_the_cli_never_calls_unreachable_devices_in_sync(offline: tuple[Path, dict[str, str]]) -> None:
    folder, env = offline
    proc = _netorch(folder, env, "drift", "--allow-unreachable", "--json")
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    report = json.loads(proc.stdout)
    assert (report["status"], report["checked"]) == ("unknown", 0)
    assert {d["status"] for d in report["devices"]} == {"unreachable"}
    text = _netorch(folder, env, "drift", "--allow-unreachable")
    assert text.returncode == 1 and "no device was read (2 selected)" in text.stdout, text.stdout
    assert "Traceback" not in text.stderr
    plan = _netorch(folder, env, "plan", "--no-verify")
    assert plan.returncode == 1 and "0 of 2 device(s) read" in plan.stdout, plan.stdout
    store = Store(folder / "store.db")
    drifts = store.runs(kind="drift")
    assert drifts and all(r.status == "unknown" and r.summary["checked"] == 0 for r in drifts)


def test_an_artifact_the_transport_cannot_read_is_named_not_counted_in_sync() -> None:
    from netorch.device.drift import collect
    from netorch.transport.base import DeviceJob, Snapshot

    ws = Workspace(ROOT / "inventory", ROOT / "intents", ROOT / "netorch" / "templates")
    rendered, desired = ws.render("r3")["r3"], ws.compile()["r3"]
    host = ws.inventory().hosts["r3"]
    assert len(rendered) > 1, rendered.keys()  # the FRR configuration and the nftables ruleset
    seen, hidden = sorted(rendered)[0], sorted(rendered)[1:]

    class Session:  # a transport that sees one artifact of the device only
        def snapshot(self) -> Snapshot:
            return Snapshot(config={seen: rendered[seen]}, routes=None, interfaces=None)

        def protocol_checks(self) -> list[object]:
            return []

    job = DeviceJob("r3", host.platform.value, host.transport, rendered, desired, {})
    result = collect(job, Session, lambda: None, False)  # type: ignore[arg-type]
    assert result.status == "in_sync" and not result.config  # of what it read
    assert result.unread == hidden
