"""The daemon's webhook outbox, its state after a restart and its drift scope, for real: a
webhook receiver on a loopback port that is down (connection refused: the port is bound but
not listening) and comes up later, the daemon's API under uvicorn on loopback, restarts as a
new Runtime on the same store, drift checks and applies that really run against devices
whose management port refuses connections. No device and no lab are needed. Every wait is
bounded (a poll with a deadline)."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import re
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import waiting

from netorch.daemon.config import DaemonConfig
from netorch.daemon.main import build, scheduled_drift, setup_logging, uvicorn_config
from netorch.daemon.runtime import Runtime
from netorch.device.drift import DeviceDrift
from netorch.run.drift import DriftReport
from netorch.run.options import ApplyOptions
from netorch.store import DeviceRecord, Store

ROOT = Path(__file__).resolve().parent.parent
READ = "read-token-" + "r" * 24
LAB = ["nc1", "r1", "r2", "r3", "r4", "up1"]  # the example inventory's deployable hosts
FAST = {"backoff": 0.05, "backoff_max": 0.2, "timeout": 2}


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    return waiting.wait_for(condition, timeout, what, interval=0.02)


class Receiver:
    """A webhook receiver on a loopback port: bound at once (so the port is ours) but listening
    only after up(); until then a connection is refused. Records every POST it answers."""

    def __init__(self) -> None:
        self.posts: list[tuple[dict[str, Any], dict[str, str], bytes]] = []
        self.status = 204
        me = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                me.posts.append((json.loads(body), {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(me.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
        self.server.server_bind()
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._thread: threading.Thread | None = None

    def refuses(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except ConnectionRefusedError:
            return True
        return False

    def up(self) -> None:
        self.server.server_activate()
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def events(self) -> list[dict[str, Any]]:
        return [body for body, _, _ in self.posts]

    def close(self) -> None:
        if self._thread is not None:
            self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    assert r.refuses(), "the receiver's port must refuse connections until it is up"
    yield r
    r.close()


@pytest.fixture()
def dead_port() -> Iterator[int]:
    """A loopback port that refuses connections (bound, never listening): the devices' port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield int(sock.getsockname()[1])
    sock.close()


def offline_inventory(tmp_path: Path, port: int) -> Path:
    """The example inventory with every device on 127.0.0.1:`port` (which refuses)."""
    inventory = tmp_path / "inventory"
    if not inventory.is_dir():
        shutil.copytree(ROOT / "inventory", inventory)
        hosts = inventory / "hosts.yaml"
        text = re.sub(r"\n  port: \d+", "", hosts.read_text())
        hosts.write_text(re.sub(r"hostname: \S+", f"hostname: 127.0.0.1\n  port: {port}", text))
    return inventory


def config(tmp_path: Path, port: int, **overrides: Any) -> DaemonConfig:
    data: dict[str, Any] = {
        "inventory": offline_inventory(tmp_path, port), "intents": ROOT / "intents",
        "templates": ROOT / "netorch" / "templates", "store": tmp_path / "netorch.db", "port": 0, "workers": 5,
        "tokens": [{"name": "viewer", "role": "read", "token": READ}],
    }
    data.update(overrides)
    return DaemonConfig.model_validate(data)


@contextmanager
def runtime(cfg: DaemonConfig) -> Iterator[Runtime]:
    rt = Runtime(cfg)
    try:
        yield rt
    finally:
        rt.close()


@contextmanager
def serving(cfg: DaemonConfig) -> Iterator[tuple[httpx.Client, Runtime]]:
    """The daemon (API, scheduler, runtime) under its uvicorn settings on a loopback port."""
    app, rt = build(cfg)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn_config(app, cfg, timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, 15, "the daemon to start")
        with httpx.Client(base_url=f"http://127.0.0.1:{sock.getsockname()[1]}", timeout=10,
                          headers={"Authorization": f"Bearer {READ}"}) as client:
            yield client, rt
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()
    assert not thread.is_alive(), "the daemon did not stop"


def failed_attempts(store: Store) -> int:
    pending = store.outbox_events("pending")
    return pending[0].attempts if pending else 0


def metric_lines(text: str, *prefixes: str) -> list[str]:
    return sorted(line for line in text.splitlines() if line.startswith(prefixes))


def record_drift(rt: Runtime, statuses: dict[str, str]) -> DriftReport:
    """A drift check's result recorded in the store as the drift checker records one, then
    handed to the runtime as a finished check: for the in_sync/drift results that need a
    device answering, which this offline test has not."""
    devices = [DeviceDrift(host=h, platform="frr", transport="napalm", status=s) for h, s in statuses.items()]
    report = DriftReport(revision="test", status="drift" if "drift" in statuses.values() else "in_sync",
                         exit_code=0, duration=0.0, devices=devices)
    run_id = rt.store.start_run("drift", "test", report.revision, {})
    for d in devices:
        rt.store.record_device(run_id, DeviceRecord(d.host, d.status, d.status == "drift", "", "",
                                                    {"config": [], "state": []}, 0.0))
    rt.store.finish_run(run_id, report.status, {})
    report.run_id = run_id
    rt._after_drift(report)
    return report


# -- the outbox -------------------------------------------------------------------------------
def test_events_wait_for_a_receiver_that_is_down_then_arrive_in_order_exactly_once(
        tmp_path: Path, dead_port: int, receiver: Receiver) -> None:
    cfg = config(tmp_path, dead_port, webhook={"url": receiver.url, **FAST})
    with runtime(cfg) as rt:
        for n in range(5):
            rt.notifier.send({"event": "drift", "host": f"r{n}", "n": n})
        wait_for(lambda: failed_attempts(rt.store) >= 3, 20, "several failed attempts while the receiver is down")
        assert receiver.posts == []
        assert rt.notifier.counts() == {"pending": 5, "delivered": 0, "dead": 0, "dropped": 0}
        receiver.up()
        wait_for(lambda: rt.notifier.counts()["delivered"] == 5, 20, "the 5 events delivered")
        assert rt.notifier.counts()["pending"] == 0
    assert [e["n"] for e in receiver.events()] == [0, 1, 2, 3, 4]
    ids = [e["event_id"] for e in receiver.events()]
    assert ids == sorted(set(ids)) and len(ids) == 5
    assert [h["x-netorch-event-id"] for _, h, _ in receiver.posts] == [str(i) for i in ids]


def test_events_pending_when_the_daemon_stops_are_sent_after_it_restarts(
        tmp_path: Path, dead_port: int, receiver: Receiver) -> None:
    cfg = config(tmp_path, dead_port, webhook={"url": receiver.url, **FAST})
    with runtime(cfg) as first:
        for n in range(3):
            first.notifier.send({"event": "drift", "host": "r1", "n": n})
        wait_for(lambda: failed_attempts(first.store) >= 1, 20, "a failed attempt")
    with serving(cfg) as (client, second):  # the daemon again, on the same store
        second.notifier.send({"event": "in_sync", "host": "r1", "n": 3})
        metrics = client.get("/metrics").text
        assert "netorch_webhook_outbox_pending 4.0" in metrics
        receiver.up()
        wait_for(lambda: second.notifier.counts()["delivered"] == 4, 20, "the 4 events delivered")
        metrics = client.get("/metrics").text
        assert "netorch_webhook_outbox_pending 0.0" in metrics
        assert 'netorch_webhook_events_total{state="delivered"} 4.0' in metrics
    assert [e["n"] for e in receiver.events()] == [0, 1, 2, 3]
    assert len({e["event_id"] for e in receiver.events()}) == 4


@pytest.mark.parametrize("bound", [{"max_attempts": 3}, {"max_attempts": 1000, "max_age": 0.5}])
def test_an_event_that_fails_past_its_bound_is_dead_logged_once_and_the_next_goes(
        tmp_path: Path, dead_port: int, receiver: Receiver, bound: dict[str, Any]) -> None:
    log = io.StringIO()
    setup_logging("info", log)
    receiver.status = 500
    receiver.up()
    cfg = config(tmp_path, dead_port, webhook={"url": receiver.url, **FAST, **bound})
    with runtime(cfg) as rt:
        rt.notifier.send({"event": "drift", "host": "r1", "n": 0})
        wait_for(lambda: rt.notifier.counts()["dead"] == 1, 20, "the event to be dead")
        tries = len(receiver.posts)
        if "max_age" not in bound:
            assert tries == 3
        assert {e["n"] for e in receiver.events()} == {0} and tries >= 2
        dead = rt.store.outbox_events("dead")
        assert [(e.payload["n"], e.attempts, e.last_error) for e in dead] == [(0, tries, "HTTP 500")]
        receiver.status = 204
        rt.notifier.send({"event": "in_sync", "host": "r1", "n": 1})
        wait_for(lambda: rt.notifier.counts()["delivered"] == 1, 20, "the next event delivered")
        assert rt.notifier.counts() == {"pending": 0, "delivered": 1, "dead": 1, "dropped": 0}
    logging.getLogger().handlers.clear()
    giving_up = [line for line in log.getvalue().splitlines() if "webhook: giving up on" in line]
    assert len(giving_up) == 1
    assert "drift event" in giving_up[0] and "for r1" in giving_up[0] and "HTTP 500" in giving_up[0]
    assert len(receiver.posts) == tries + 1


def test_the_outbox_is_bounded_the_oldest_undelivered_events_are_dropped_and_counted(
        tmp_path: Path, dead_port: int, receiver: Receiver) -> None:
    cfg = config(tmp_path, dead_port, webhook={"url": receiver.url, **FAST, "max_pending": 3})
    with serving(cfg) as (client, rt):
        for n in range(5):
            rt.notifier.send({"event": "drift", "host": "r1", "n": n})
        assert rt.notifier.counts() == {"pending": 3, "delivered": 0, "dead": 0, "dropped": 2}
        assert 'netorch_webhook_events_total{state="dropped"} 2.0' in client.get("/metrics").text
        receiver.up()
        wait_for(lambda: rt.notifier.counts()["delivered"] == 3, 20, "the 3 kept events delivered")
    assert [e["n"] for e in receiver.events()] == [2, 3, 4]


def test_no_secret_reaches_the_outbox_or_the_log(tmp_path: Path, dead_port: int, receiver: Receiver,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    hmac_key = "hmac-signing-key-" + "k" * 20
    password, query_token = "url-password-" + "p" * 12, "query-token-" + "q" * 12
    monkeypatch.setenv("NETORCH_TEST_WEBHOOK_KEY", hmac_key)
    url = f"http://netorch:{password}@127.0.0.1:{receiver.port}/hook?token={query_token}"
    log = io.StringIO()
    setup_logging("debug", log)
    cfg = config(tmp_path, dead_port, webhook={"url": url, "secret_env": "NETORCH_TEST_WEBHOOK_KEY", **FAST})
    with runtime(cfg) as rt:
        rt.apply("ci", ApplyOptions(limit="r1"))  # a real apply (r1 refuses): its apply_finished event goes out
        wait_for(lambda: failed_attempts(rt.store) >= 2, 20, "failed attempts")
        receiver.up()
        wait_for(lambda: rt.notifier.counts()["delivered"] == 1, 20, "the event delivered")
    logging.getLogger().handlers.clear()
    (body, headers, raw), = receiver.posts
    assert body["event"] == "apply_finished" and body["actor"] == "ci" and body["devices"] == {"unreachable": 1}
    assert body["checked"] == 0  # the event says how many devices were read: none
    assert headers["x-netorch-signature"] == "sha256=" + hmac.new(hmac_key.encode(), raw, hashlib.sha256).hexdigest()
    text = log.getvalue()
    assert f"http://127.0.0.1:{receiver.port}" in text  # the receiver is named, by host and port only
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("netorch.db*"))
    assert b"apply_finished" in stored
    for secret in (hmac_key, password, query_token):
        assert secret not in text
        assert secret.encode() not in stored


# -- the state after a restart ----------------------------------------------------------------
def test_metrics_and_drift_status_after_a_restart_equal_the_state_before(
        tmp_path: Path, dead_port: int, receiver: Receiver) -> None:
    receiver.up()
    cfg = config(tmp_path, dead_port, webhook={"url": receiver.url, **FAST},
                 schedules=[{"name": "lab", "limit": "lab_routers,lab_netconf", "interval": 3600}])
    wanted = ("netorch_device_drift", "netorch_last_run_timestamp_seconds", "netorch_webhook_")
    with serving(cfg) as (client, rt):
        checked = rt.drift("lab_routers,lab_netconf", actor="test", warm=False)  # real: all unreachable
        assert {d.status for d in checked.devices} == {"unreachable"}
        record_drift(rt, {"r1": "drift", "r2": "in_sync"})
        record_drift(rt, {"r1": "drift"})
        rt.apply("ci", ApplyOptions(limit="r3"))
        wait_for(lambda: rt.notifier.counts()["delivered"] == 2, 20, "the drift and apply events")
        before = metric_lines(client.get("/metrics").text, *wanted)
        status_before = client.get("/drift/status").json()
    assert 'netorch_device_drift{host="r1"} 1.0' in before
    assert 'netorch_device_drift{host="r2"} 0.0' in before
    assert 'netorch_device_drift{host="r4"} -1.0' in before
    assert any(line.startswith('netorch_last_run_timestamp_seconds{kind="apply"}') for line in before)
    assert status_before["r1"]["status"] == "drift" and status_before["r4"]["status"] == "unreachable"
    with serving(cfg) as (client, rt):  # restarted: no check has run yet
        after = metric_lines(client.get("/metrics").text, *wanted)
        status_after = client.get("/drift/status").json()
        assert rt.store.runs(limit=100, kind="drift") and len(rt.store.runs(limit=100, kind="drift")) == 3
    assert after == before
    assert status_after == status_before
    assert [e["event"] for e in receiver.events()] == ["drift", "apply_finished"]


def test_a_scheduled_drift_that_reads_no_device_says_how_many_it_read(
        tmp_path: Path, dead_port: int, caplog: pytest.LogCaptureFixture) -> None:
    cfg = config(tmp_path, dead_port, schedules=[{"name": "lab", "limit": "lab_routers,lab_netconf", "interval": 3600}])
    with runtime(cfg) as rt, caplog.at_level(logging.INFO, logger="netorch.daemon"):
        scheduled_drift(rt, rt.config.schedules[0])  # real: every device unreachable
        run = rt.store.run(rt.store.runs(limit=1, kind="drift")[0].id)
        assert run is not None
        total = len(run.devices)
    assert run.status == "error" and run.summary["checked"] == 0 and total > 0  # unreachable: an error, never in sync
    assert f"drift run {run.id}: error, checked 0 of {total} device(s): unreachable={total}" in caplog.text


def test_a_transition_after_a_restart_is_measured_from_the_last_known_status(
        tmp_path: Path, dead_port: int, receiver: Receiver) -> None:
    receiver.up()
    cfg = config(tmp_path, dead_port, webhook={"url": receiver.url, **FAST})
    with runtime(cfg) as rt:
        record_drift(rt, {"r1": "drift"})
        rt.drift("r1", actor="test", warm=False)  # unreachable: no transition, and not the last status
        wait_for(lambda: rt.notifier.counts()["delivered"] == 1, 20, "the drift event")
    with runtime(cfg) as rt:
        record_drift(rt, {"r1": "drift"})  # still in drift: no event
        record_drift(rt, {"r1": "in_sync"})  # back in sync: one event, from drift
        wait_for(lambda: rt.notifier.counts()["delivered"] == 2, 20, "the in_sync event")
    assert [(e["event"], e["previous"]) for e in receiver.events()] == [("drift", None), ("in_sync", "drift")]


# -- the drift scope ---------------------------------------------------------------------------
def test_drift_status_and_metrics_cover_only_the_devices_the_schedules_check(tmp_path: Path, dead_port: int) -> None:
    cfg = config(tmp_path, dead_port, schedules=[{"name": "edge", "limit": "r1,r2", "interval": 3600},
                                                 {"name": "nc", "limit": "lab_netconf", "interval": 3600}])
    with serving(cfg) as (client, rt):
        fresh = client.get("/drift/status").json()
        assert fresh == {h: {"status": "unknown", "run_id": None, "config_differences": 0, "state_issues": 0,
                             "error": ""} for h in ("nc1", "r1", "r2")}
        report = rt.drift(None, actor="test", warm=False)  # every host: the lab's and the render-only ones
        assert {d.host for d in report.devices} == {*LAB, "eos1", "ios1", "junos1"}
        status = client.get("/drift/status").json()
        metrics = client.get("/metrics").text
        assert sorted(status) == ["nc1", "r1", "r2"]
        assert {s["status"] for s in status.values()} == {"unreachable"}
        assert {s["run_id"] for s in status.values()} == {report.run_id}
        assert drift_gauges(metrics) == ["nc1", "r1", "r2"]
        # the inventory is edited: nc1 becomes render-only, so the daemon no longer checks it
        hosts = cfg.inventory / "hosts.yaml"
        text = hosts.read_text()
        at = text.index("  data:\n", text.index("\nnc1:"))
        hosts.write_text(text[:at] + "  data:\n    deploy: false\n" + text[at + len("  data:\n"):])
        assert sorted(client.get("/drift/status").json()) == ["r1", "r2"]
        rt.drift("r1", actor="test", warm=False)
        assert drift_gauges(client.get("/metrics").text) == ["r1", "r2"]


def drift_gauges(metrics: str) -> list[str]:
    return sorted(re.findall(r'netorch_device_drift\{host="([^"]+)"\}', metrics))


def test_without_schedules_the_scope_is_every_deployable_host(tmp_path: Path, dead_port: int) -> None:
    cfg = config(tmp_path, dead_port)
    with serving(cfg) as (client, rt):
        rt.drift(None, actor="test", warm=False)
        status = client.get("/drift/status").json()
    assert sorted(status) == LAB  # the render-only branch hosts (skipped) are not checked


# -- the config -------------------------------------------------------------------------------
def test_webhook_config_bounds_and_the_older_retries_key(tmp_path: Path) -> None:
    from netorch.daemon.config import load_config
    from netorch.errors import NetorchError

    path = tmp_path / "daemon.yaml"
    path.write_text('webhook: {url: "http://127.0.0.1:9/h", retries: 2, secret: "a-signing-secret-of-32-chars!!!!"}\n')
    hook = load_config(path).webhook
    assert hook is not None and hook.max_attempts == 3 and hook.max_age == 86_400 and hook.max_pending == 10_000
    assert "a-signing-secret" not in repr(hook)
    for bad, says in (("max_attempts: 0", "webhook.max_attempts"), ("retries: many", "retries must be a whole"),
                      ("max_pending: -1", "webhook.max_pending"), ("secret: short", "webhook.secret")):
        path.write_text(f'webhook: {{url: "http://127.0.0.1:9/h", {bad}}}\n')
        with pytest.raises(NetorchError, match=re.escape(says)):
            load_config(path)
