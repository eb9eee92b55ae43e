"""The executor seam and the Celery executor, with real processes and no lab: a redis-server
started here on a loopback port, `netorch worker` subprocesses, devices on loopback ports
that refuse connections or never answer (the lab tests push real configurations)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from executor_procs import ROOT, Redis, Workers, free_port, redis_server, wait_for

from netorch.daemon.config import load_config
from netorch.device.messages import JobSpec
from netorch.errors import DeviceBusy, ExecutorUnavailable, NetorchError
from netorch.executor import celery as cel
from netorch.executor.celery import CeleryExecutor, RedisLocks, safe_url
from netorch.executor.inprocess import InProcessExecutor
from netorch.executor.registry import executor_from_spec
from netorch.run.drift import DriftChecker
from netorch.run.engine import Engine
from netorch.run.options import ApplyOptions, DriftOptions, PlanOptions
from netorch.service import Workspace
from netorch.store import Store


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Redis]:
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


def _inventory(folder: Path, hosts: dict[str, tuple[int, str]]) -> Path:
    """FRR hosts on 127.0.0.1:PORT in REGION."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {name: {"hostname": "127.0.0.1", "port": port, "platform": "frr",
                   "data": {"region": region, "interfaces": {"lo": {"address": f"10.255.9.{i + 1}/32"}}}}
            for i, (name, (port, region)) in enumerate(sorted(hosts.items()))}
    (folder / "hosts.yaml").write_text(yaml.safe_dump(data))
    (folder / "groups.yaml").write_text("{}\n")
    (folder / "defaults.yaml").write_text("data: {deploy: true}\n")
    return folder


def _intents(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "routes.yaml").write_text("routes: []\n")
    return folder


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts TCP connections and never says a word (an SSH banner never comes)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join(timeout=5)
    for conn in held:
        conn.close()
    server.close()


@pytest.fixture
def creds_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETORCH_USERNAME", "netorch")
    monkeypatch.setenv("NETORCH_PASSWORD", "not-a-real-secret")
    monkeypatch.delenv("NETORCH_CREDENTIALS", raising=False)


# -- messages and configuration -----------------------------------------------------------------
def test_a_job_crosses_the_wire_as_json_and_comes_back_equal(example: Workspace) -> None:
    desired = example.compile()
    rendered = example.render("r1")
    from netorch.platforms import Transport
    from netorch.transport.base import DeviceJob

    job = DeviceJob("r1", "frr", Transport.NAPALM, rendered["r1"], desired["r1"], {"run_id": 7})
    wire = JobSpec.of(job).model_dump_json()
    back = JobSpec.model_validate_json(wire).job()
    assert back == job
    assert back.desired.model_dump() == desired["r1"].model_dump()


def test_executor_specs_and_the_daemon_config(tmp_path: Path) -> None:
    assert isinstance(executor_from_spec(None), InProcessExecutor)
    assert isinstance(executor_from_spec("inprocess"), InProcessExecutor)
    ex = executor_from_spec("celery:redis://127.0.0.1:6390/2")
    assert isinstance(ex, CeleryExecutor) and ex.broker == "redis://127.0.0.1:6390/2"
    with pytest.raises(NetorchError, match="use inprocess, celery"):
        executor_from_spec("kafka")
    cfg = tmp_path / "d.yaml"
    cfg.write_text("executor: {kind: celery, broker: 'redis://127.0.0.1:6379/0'}\n")
    assert load_config(cfg).executor.spec() == "celery:redis://127.0.0.1:6379/0"
    assert load_config(None).executor.spec() == "inprocess"
    cfg.write_text("executor: {kind: celery, broker: 'http://x'}\n")
    with pytest.raises(NetorchError, match=r"executor\.broker"):
        load_config(cfg)
    assert safe_url("redis://:s3cret@10.0.0.1:6379/0") == "redis://:***@10.0.0.1:6379/0"


# -- the broker down ----------------------------------------------------------------------------
def test_the_broker_down_is_one_line_and_nothing_is_recorded_or_pushed(tmp_path: Path, creds_env: None) -> None:
    dead = free_port()
    inv = _inventory(tmp_path / "inv", {"x1": (free_port(), "east")})
    store = tmp_path / "s.db"
    env = {**os.environ, "NETORCH_STORE": str(store), "PYTHONPATH": str(ROOT)}
    for cmd in (["apply", "--no-verify"], ["plan", "--no-verify"], ["drift"]):
        proc = subprocess.run([sys.executable, "-m", "netorch", "--executor", f"celery:redis://127.0.0.1:{dead}/0",
                               "-i", str(inv), "--intents", str(_intents(tmp_path / "intents")),
                               "--templates", str(ROOT / "netorch" / "templates"), *cmd],
                              env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 1, (cmd, proc.stdout, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: the executor's broker"), proc.stderr
        assert "nothing was sent to any device" in lines[0] and "Traceback" not in proc.stderr
    assert not store.exists() or not Store(store).runs(), "a run was recorded with the broker down"
    # a worker, too, says so and exits
    proc = subprocess.run([sys.executable, "-m", "netorch", "--executor", f"celery:redis://127.0.0.1:{dead}/0",
                           "-i", str(inv), "worker", "--queues", "east"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1 and "is not reachable" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "netorch", "worker", "--queues", "no spaces"], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1 and "invalid region 'no spaces'" in proc.stderr


# -- exclusion across controllers -----------------------------------------------------------------
def test_redis_locks_exclude_other_controllers_and_expire(broker: Redis) -> None:
    client = broker.client()
    a = RedisLocks(client, "apply:a")
    assert a.acquire(["d1", "d2"], 0, True, "apply", "alice") == {}
    b = RedisLocks(client, "drift:b")
    started = time.monotonic()
    busy = b.acquire(["d2", "d3"], 0.3, True, "apply", "bob")
    assert set(busy) == {"d2", "d3"} or set(busy) == {"d2"}
    assert time.monotonic() - started >= 0.3 and not b.held  # all or none: d3 was given back
    c = RedisLocks(client, "drift:c")
    busy = c.acquire(["d2", "d3"], 0, False, "drift", "carol")  # a drift check takes what is free
    assert set(busy) == {"d2"} and c.held == {"d3"} and "apply:a" in str(busy["d2"])
    c.close()
    a.close()
    assert client.get("netorch:lock:d1") is None and client.get("netorch:lock:d3") is None
    # a holder that died leaves a lock that expires by itself
    client.set("netorch:lock:d9", "dead-controller", px=300)
    d = RedisLocks(client, "apply:d")
    assert d.acquire(["d9"], 2.0, True, "apply", "dave") == {}
    d.close()


def test_an_apply_through_celery_refuses_a_device_another_controller_holds(
        broker: Redis, tmp_path: Path, creds_env: None) -> None:
    inv = _inventory(tmp_path / "inv", {"x1": (free_port(), "east")})
    eng = Engine(Workspace(inv, _intents(tmp_path / "intents"), ROOT / "netorch" / "templates"),
                 Store(tmp_path / "s.db"), executor=CeleryExecutor(broker.url))
    other = RedisLocks(broker.client(), "apply:elsewhere")
    assert other.acquire(["x1"], 0, True, "apply", "someone") == {}
    try:
        report = eng.apply(ApplyOptions(lock_wait=0.2))
    finally:
        other.close()
    assert report.exit_code == 1
    assert "held by another controller (apply:elsewhere)" in report.message and "nothing was pushed" in report.message


# -- workers ------------------------------------------------------------------------------------
@pytest.fixture
def workers(broker: Redis, tmp_path: Path, creds_env: None) -> Iterator[tuple[Workers, Engine, Engine, dict[str, int]]]:
    ports = {"refuses": free_port(), "later": free_port()}
    inv = _inventory(tmp_path / "inv", {"x1": (ports["refuses"], "east"), "x2": (ports["refuses"], "west"),
                                        "x3": (ports["later"], "nowhere")})
    intents = _intents(tmp_path / "intents")
    pool = Workers(broker, inv, intents, None, tmp_path)
    ws = Workspace(inv, intents, ROOT / "netorch" / "templates")
    celery_engine = Engine(ws, Store(tmp_path / "c.db"), executor=CeleryExecutor(broker.url), timeout=5)
    local_engine = Engine(ws, Store(tmp_path / "l.db"), timeout=5)
    try:
        yield pool, celery_engine, local_engine, ports
    finally:
        pool.stop_all()


def test_a_plan_through_workers_says_what_an_in_process_plan_says(workers: tuple[Workers, Engine, Engine,
                                                                                  dict[str, int]]) -> None:
    pool, celery_engine, local_engine, _ = workers
    pool.start("east", "east")
    pool.start("west", "west", concurrency=1)
    remote = {d.host: d for d in celery_engine.plan(PlanOptions(limit="x1,x2")).devices}
    local = {d.host: d for d in local_engine.plan(PlanOptions(limit="x1,x2")).devices}
    assert set(remote) == {"x1", "x2"}
    for host, there in remote.items():
        assert there.status == local[host].status == "unreachable"
        assert there.error == local[host].error and "cannot connect over napalm" in there.error
    drift_remote = {d.host: (d.status, d.error)
                    for d in DriftChecker(celery_engine).check(DriftOptions(limit="x1,x2")).devices}
    drift_local = {d.host: (d.status, d.error)
                   for d in DriftChecker(local_engine).check(DriftOptions(limit="x1,x2")).devices}
    assert drift_remote == drift_local and drift_remote["x1"][0] == "unreachable"


def test_a_region_no_worker_serves_is_named(workers: tuple[Workers, Engine, Engine, dict[str, int]],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    pool, celery_engine, _, _ = workers
    monkeypatch.setattr(cel, "CLAIM_TIMEOUT", 1.0)
    started = time.monotonic()
    report = celery_engine.plan(PlanOptions(limit="x3"))
    (x3,) = report.devices
    assert x3.status == "unreachable" and "no worker serves region 'nowhere'" in x3.error
    assert time.monotonic() - started < 10
    # a worker that comes later drops the work its controller gave up on, without touching the device
    import json

    client = pool.redis.client()
    assert client.llen("netorch.region.nowhere") == 1
    task_id = json.loads(client.lindex("netorch.region.nowhere", 0))["headers"]["id"]
    pool.start("nowhere", "nowhere")
    stale = cel.make_app(pool.redis.url).AsyncResult(task_id)
    wait_for(stale.ready, 30, "the late worker to answer the stale task")
    assert stale.get(timeout=5) == {"worker": stale.get()["worker"], "results": [], "dropped": True}
    assert client.get(f"netorch:claim:{task_id}") is None


def test_a_worker_killed_mid_task_is_noticed_and_a_restarted_one_serves_the_next_run(
        broker: Redis, tmp_path: Path, creds_env: None, silent_port: int) -> None:
    inv = _inventory(tmp_path / "inv", {"x1": (silent_port, "east")})
    intents = _intents(tmp_path / "intents")
    pool = Workers(broker, inv, intents, None, tmp_path)
    eng = Engine(Workspace(inv, intents, ROOT / "netorch" / "templates"), Store(tmp_path / "s.db"),
                 executor=CeleryExecutor(broker.url), timeout=60)
    try:
        pool.start("east", "east")
        client = broker.client()
        earlier = set(client.keys("netorch:claim:*"))
        result: dict[str, object] = {}
        thread = threading.Thread(target=lambda: result.update(report=eng.plan()))
        thread.start()
        # the worker took the task (it hangs on a device that never answers): kill it
        wait_for(lambda: set(client.keys("netorch:claim:*")) - earlier, 30, "the worker to take the task")
        killed = time.monotonic()
        pool.kill("east")
        thread.join(timeout=30)
        assert not thread.is_alive()
        noticed = time.monotonic() - killed
        (x1,) = result["report"].devices  # type: ignore[attr-defined]
        assert x1.status == "unreachable" and "was lost during prepare" in x1.error, x1.error
        assert noticed < cel.ALIVE_TTL + 5
        # a new worker for the region serves the next run
        pool.start("east-again", "east")
        again = eng.plan()
        assert "lost" not in again.devices[0].error and "cannot connect over napalm" in again.devices[0].error
    finally:
        pool.stop_all()


def test_busy_and_unavailable_are_netorch_errors() -> None:
    assert issubclass(ExecutorUnavailable, NetorchError) and issubclass(DeviceBusy, NetorchError)
