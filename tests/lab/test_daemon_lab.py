"""The daemon for real: a subprocess on a free loopback port, checking the lab on a schedule."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import waiting
import yaml

from netorch.lab import LabStatus, exec_in
from netorch.run.engine import Engine
from netorch.run.options import ApplyOptions, PlanOptions
from netorch.service import Workspace
from netorch.store import Store

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]
LAB_HOSTS = os.environ.get("NETORCH_TEST_LAB_HOSTS", "lab_routers,lab_netconf")
READ = "read-token-" + "r" * 24
OPERATE = "operate-token-" + "o" * 24
INTERVAL = 2.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    return waiting.wait_for(condition, timeout, what, interval=0.1)


class Receiver:
    """A webhook receiver on loopback that records what it is sent."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        events = self.events

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                events.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


class Daemon:
    def __init__(self, config: Path, port: int, log: Path) -> None:
        self.config, self.port, self.log = config, port, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.base = f"http://127.0.0.1:{port}"

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "netorch", "daemon", "--config", str(self.config)],
                                     cwd=ROOT, stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        wait_for(self._healthy, 30, "the daemon to answer /health")

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"daemon exited {self.proc.returncode}: {self.log.read_text()[-2000:]}")
        try:
            return httpx.get(f"{self.base}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def get(self, path: str, token: str | None = READ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.get(f"{self.base}{path}", headers=headers, timeout=60)

    def post(self, path: str, body: dict[str, Any], token: str = OPERATE) -> httpx.Response:
        return httpx.post(f"{self.base}{path}", json=body, headers={"Authorization": f"Bearer {token}"},
                          timeout=120)

    def stop(self, timeout: float = 60) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # by pid, the one we started
        return self.proc.wait(timeout=timeout)


@pytest.fixture
def setup(lab: LabStatus, tmp_path: Path) -> Iterator[tuple[Daemon, Receiver, Path]]:
    ws = Workspace(ROOT / "inventory", ROOT / "intents", ROOT / "netorch" / "templates")
    report = Engine(ws, Store(tmp_path / "apply.db"), credentials=str(lab.credentials_file)).apply(
        ApplyOptions(limit=LAB_HOSTS))
    assert report.exit_code == 0
    receiver = Receiver()
    intents = tmp_path / "intents"
    shutil.copytree(ROOT / "intents", intents)
    port = free_port()
    config = tmp_path / "daemon.yaml"
    config.write_text(yaml.safe_dump({
        "listen": "127.0.0.1", "port": port, "inventory": str(ROOT / "inventory"), "intents": str(intents),
        "templates": str(ROOT / "netorch" / "templates"), "credentials": str(lab.credentials_file),
        "store": str(tmp_path / "daemon.db"), "workers": 10,
        "schedules": [{"name": "lab", "limit": LAB_HOSTS, "interval": INTERVAL}],
        "tokens": [{"name": "reader", "role": "read", "token": READ},
                   {"name": "alice", "role": "operate", "token": OPERATE}],
        "webhook": {"url": receiver.url, "timeout": 2, "retries": 1},
    }))
    daemon = Daemon(config, port, tmp_path / "daemon.log")
    daemon.start()
    try:
        yield daemon, receiver, tmp_path
    finally:
        daemon.stop()
        receiver.close()


def drift_runs(daemon: Daemon) -> list[dict[str, Any]]:
    response = daemon.get("/runs?kind=drift")
    assert response.status_code == 200
    return list(response.json())


def test_scheduled_check_runs_by_itself_and_catches_an_out_of_band_change(
        setup: tuple[Daemon, Receiver, Path], lab: LabStatus) -> None:
    daemon, receiver, _ = setup
    first = wait_for(lambda: [r for r in drift_runs(daemon) if r["actor"] == "schedule:lab"
                              and r["status"] != "running"], 4 * INTERVAL, "a scheduled drift run to finish")
    assert first[0]["status"] == "in_sync"
    exec_in(lab.run_dir, "r1", ["vtysh", "-c", "configure terminal", "-c", "ip route 10.70.0.0/16 10.0.12.2"],
            check=True)
    changed_at = time.monotonic()
    def r1_in_drift() -> dict[str, Any] | None:
        current: dict[str, Any] = daemon.get("/drift/status").json()
        return current if current["r1"]["status"] == "drift" else None

    status = wait_for(r1_in_drift, 3 * INTERVAL + 10, "r1 in drift through the API")
    assert status["r1"]["config_differences"] == 1
    assert time.monotonic() - changed_at < 3 * INTERVAL + 10
    event = wait_for(lambda: [e for e in receiver.events if e["host"] == "r1" and e["event"] == "drift"], 15,
                     "the webhook call")[0]
    assert "unexpected: ip route 10.70.0.0/16 10.0.12.2" in event["summary"]
    run = daemon.get(f"/runs/{status['r1']['run_id']}").json()
    r1 = next(d for d in run["devices"] if d["host"] == "r1")
    assert "- ip route 10.70.0.0/16 10.0.12.2" in r1["diff"]
    # remediate through the API (operate), then the scheduler sees it back in sync and says so
    fix = daemon.post("/drift", {"limit": LAB_HOSTS, "remediate": True})
    assert fix.status_code == 200, fix.text
    assert fix.json()["remediation_run"]["exit_code"] == 0
    wait_for(lambda: [e for e in receiver.events if e["host"] == "r1" and e["event"] == "in_sync"], 3 * INTERVAL + 15,
             "the in_sync webhook call")
    metrics = daemon.get("/metrics").text
    assert 'netorch_device_drift{host="r1"} 0.0' in metrics


def test_authentication_and_roles(setup: tuple[Daemon, Receiver, Path]) -> None:
    daemon, _, _ = setup
    assert daemon.get("/runs", token=None).status_code == 401
    assert daemon.get("/runs", token="not-a-token").status_code == 401
    assert daemon.get("/runs").status_code == 200
    denied = daemon.post("/apply", {"limit": LAB_HOSTS}, token=READ)
    assert denied.status_code == 403 and "operate" in denied.json()["error"]
    bad = daemon.post("/apply", {"limit": LAB_HOSTS, "colour": "blue"})
    assert bad.status_code == 422 and bad.json()["details"][0]["loc"] == ["body", "colour"]
    huge = httpx.post(f"{daemon.base}/validate", content=b"x" * 2_000_000,
                      headers={"Authorization": f"Bearer {READ}", "content-type": "application/json"})
    assert huge.status_code == 413
    unknown = daemon.post("/plan", {"limit": "no-such-host"})
    assert unknown.status_code == 400 and "no-such-host" in unknown.json()["error"]
    assert "Traceback" not in unknown.text
    dry = daemon.post("/apply", {"limit": LAB_HOSTS, "dry_run": True})
    assert dry.status_code == 200 and dry.json()["status"] in ("dry_run", "unchanged")
    assert daemon.get("/openapi.json", token=None).status_code == 401
    assert daemon.get("/openapi.json").status_code == 200
    log = (setup[2] / "daemon.log").read_text()
    assert READ not in log and OPERATE not in log


def test_restart_keeps_history(setup: tuple[Daemon, Receiver, Path]) -> None:
    daemon, _, _ = setup
    wait_for(lambda: drift_runs(daemon), 4 * INTERVAL, "a drift run")
    before = {r["id"] for r in drift_runs(daemon)}
    assert daemon.stop() == 0
    daemon.start()
    after = {r["id"] for r in drift_runs(daemon)}
    assert before <= after


def test_sigterm_during_an_apply_exits_cleanly_all_or_nothing(setup: tuple[Daemon, Receiver, Path],
                                                              lab: LabStatus) -> None:
    daemon, _, tmp = setup
    (tmp / "intents" / "extra.yaml").write_text(
        "routes:\n  - name: r1-extra\n    prefix: 10.71.0.0/16\n    next_hop: 10.0.12.2\n    hosts: [r1]\n"
        "  - name: r2-extra\n    prefix: 10.71.0.0/16\n    next_hop: 10.0.24.2\n    hosts: [r2]\n")
    result: dict[str, Any] = {}

    def call() -> None:
        try:
            result["response"] = daemon.post("/apply", {"limit": LAB_HOSTS})
        except httpx.HTTPError as exc:
            result["error"] = exc

    thread = threading.Thread(target=call)
    thread.start()
    wait_for(lambda: daemon.get("/health", token=None).json()["busy"], 30, "the apply to start")
    assert daemon.stop() == 0
    thread.join(timeout=60)
    ws = Workspace(ROOT / "inventory", tmp / "intents", ROOT / "netorch" / "templates")
    plan = Engine(ws, None, credentials=str(lab.credentials_file)).plan(PlanOptions(limit=LAB_HOSTS))
    changed = {d.host for d in plan.devices if d.changed}
    assert changed in (set(), {"r1", "r2"}), changed  # never half-applied
    assert not any(d.status in ("failed", "unreachable") for d in plan.devices)
    log = (tmp / "daemon.log").read_text()
    assert "stopped" in log and "Traceback" not in log
    (tmp / "intents" / "extra.yaml").unlink()
    Engine(ws, None, credentials=str(lab.credentials_file)).apply(ApplyOptions(limit=LAB_HOSTS))


def test_burst_of_200_concurrent_reads(setup: tuple[Daemon, Receiver, Path]) -> None:
    daemon, _, _ = setup
    paths = ["/drift/status", "/runs", "/health", "/inventory"] * 50

    def read(path: str) -> int:
        return daemon.get(path).status_code

    with ThreadPoolExecutor(max_workers=200) as pool:
        codes = list(pool.map(read, paths))
    assert codes == [200] * 200


def test_a_failing_webhook_never_stops_checks(lab: LabStatus, tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "daemon.yaml"
    config.write_text(yaml.safe_dump({
        "port": port, "inventory": str(ROOT / "inventory"), "intents": str(ROOT / "intents"),
        "templates": str(ROOT / "netorch" / "templates"), "credentials": str(lab.credentials_file),
        "store": str(tmp_path / "d.db"), "schedules": [{"name": "lab", "limit": "r1", "interval": 1}],
        "tokens": [{"name": "reader", "role": "read", "token": READ}],
        "webhook": {"url": f"http://127.0.0.1:{free_port()}/nobody-listens", "timeout": 1, "retries": 1},
    }))
    daemon = Daemon(config, port, tmp_path / "daemon.log")
    daemon.start()
    try:
        exec_in(lab.run_dir, "r1", ["vtysh", "-c", "configure terminal", "-c", "ip route 10.72.0.0/16 10.0.12.2"],
                check=True)
        wait_for(lambda: len(drift_runs(daemon)) >= 4, 30, "checks to go on")
        assert "webhook: giving up" in (tmp_path / "daemon.log").read_text()
    finally:
        exec_in(lab.run_dir, "r1", ["vtysh", "-c", "configure terminal", "-c",
                                    "no ip route 10.72.0.0/16 10.0.12.2"], check=True)
        assert daemon.stop() == 0
