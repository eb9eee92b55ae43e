"""The distributed executor: Celery workers near the devices, Redis as broker and result backend.

    controller --(netorch.region.R)--> a worker of region R     prepare, drift: any worker of R
               <--------- results, and that worker's private queue
               --(netorch.worker.ID)--> the same worker           commit, verify, confirm,
                                                                   rollback, read back

Each worker runs the device work with Nornir in its own process and keeps the sessions
warm; a device's session stays on the worker that prepared it for the whole transaction.
A worker renews `netorch:alive:<its queue>` and `netorch:serves:<region>` every second
(expiry 3 s) and marks every task it takes (`netorch:claim:<task id>`): the controller sees
a worker die within a few seconds and reports its devices as lost (unknown: they revert by
their own timers). The controller keeps `netorch:wanted:<task id>` alive while it waits; a
worker drops a task nobody waits for any more (its controller gave up, or died).
A per-device lock with expiry in Redis keeps two controllers off one device.
Only JSON crosses the wire (netorch.device.messages).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import threading
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from netorch.defaults import CONNECT_TIMEOUT
from netorch.device.messages import DeviceRequest, DeviceResult
from netorch.device.work import DeviceWork
from netorch.errors import DeviceBusy, ExecutorUnavailable, NetorchError
from netorch.executor.base import ProgressFn, RunTarget
from netorch.transport.base import DeviceJob, DeviceSession

if TYPE_CHECKING:
    from celery import Celery

    from netorch.credentials import CredentialStore
    from netorch.service import Workspace

TASK = "netorch.batch"
ALIVE_TTL = 3.0
ALIVE_EVERY = 1.0
LOCK_TTL = 30.0
#: how long a region may have no live worker before its devices are given up
CLAIM_TIMEOUT = 20.0
#: a task's "still wanted" mark, renewed by the controller while it waits; a worker drops a task
#: whose mark expired (its controller gave up or died)
WANTED_TTL = 10.0
#: a run's mark (netorch:run:<token>), renewed by its controller: a worker closes the sessions of
#: a run whose mark expired (the controller died mid-transaction)
RUN_TTL = 10.0
#: the longest one phase may take on a worker that is alive
PHASE_TIMEOUT = 900.0
BATCH = 50


def region_queue(region: str) -> str:
    return f"netorch.region.{region}"


def safe_url(url: str) -> str:
    """The broker URL without its password (for messages)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _redis(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)


def make_app(broker: str) -> Celery:
    from celery import Celery

    app = Celery("netorch", broker=broker, backend=broker)
    app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"],
                    result_accept_content=["json"], worker_prefetch_multiplier=1, task_acks_late=False,
                    result_expires=3600, broker_connection_retry_on_startup=True,
                    broker_connection_max_retries=0, worker_hijack_root_logger=False,
                    worker_send_task_events=False, task_default_queue=region_queue("default"))

    @app.task(name=TASK, bind=True)  # type: ignore[untyped-decorator]
    def batch(self: Any, payload: dict[str, Any]) -> dict[str, Any]:
        if _WORKER is None:
            raise NetorchError("this process is not a netorch worker")
        return _WORKER.serve(self.request.id, payload)

    return app


# -- the worker --------------------------------------------------------------------------------
class WorkerState:
    """A worker's process: its private queue, its heartbeat, its warm sessions, its Nornir."""

    def __init__(self, broker: str, workspace: Workspace, credentials: str | None, workers: int = 20,
                 timeout: int = CONNECT_TIMEOUT, regions: tuple[str, ...] = ()) -> None:
        self.broker = broker
        self.regions = regions
        self.workspace = workspace
        self.credentials = credentials
        self.workers = workers
        self.timeout = timeout
        self.queue = f"netorch.worker.{socket.gethostname()}.{os.getpid()}.{secrets.token_hex(3)}"
        self.work = DeviceWork(worker=self.queue)
        self.redis = _redis(broker)
        self._nr: Any = None
        self._nr_lock = threading.Lock()
        self._stop = threading.Event()

    def beat(self) -> None:
        """This worker is alive, and its regions have a worker."""
        pipe = self.redis.pipeline()
        pipe.set(f"netorch:alive:{self.queue}", "1", px=int(ALIVE_TTL * 1000))
        for region in self.regions:
            pipe.set(f"netorch:serves:{region}", self.queue, px=int(ALIVE_TTL * 1000))
        pipe.execute()

    def start_heartbeat(self) -> None:
        self.beat()
        threading.Thread(target=self._beat, name="netorch-worker-alive", daemon=True).start()

    def _beat(self) -> None:
        while not self._stop.wait(ALIVE_EVERY):
            with contextlib.suppress(Exception):  # a broker that blinks: the next beat tries again
                self.beat()
                self.reap()

    def reap(self) -> None:
        """Close the sessions of runs whose controller is gone."""
        for run, hosts in self.work.open_runs().items():
            if self.redis.exists(f"netorch:run:{run}"):
                continue
            for host in hosts:
                self.work.abandon(host, self._close_connection)

    def _close_connection(self, session: DeviceSession) -> None:
        if self._nr is not None and session.host in self._nr.inventory.hosts:
            self._nr.inventory.hosts[session.host].close_connection(session.connection_name)

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(Exception):
            self.redis.delete(f"netorch:alive:{self.queue}")

    def nornir(self) -> Any:
        from netorch.executor import nornir as plumbing

        with self._nr_lock:
            if self._nr is None:
                inventory = self.workspace.inventory()
                target = RunTarget(inventory, self.credentials, self.timeout, self.workers)
                self._nr, _ = plumbing.build(target, sorted(inventory.hosts))
            return self._nr

    def serve(self, task_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        from nornir.core.task import Task

        from netorch.executor import nornir as plumbing

        if not self.redis.exists(f"netorch:wanted:{task_id}"):
            # its controller gave up on it, or died: work nobody waits for is never done
            return {"worker": self.queue, "results": [], "dropped": True}
        self.redis.set(f"netorch:claim:{task_id}", self.queue, ex=3600)
        requests = [DeviceRequest.model_validate(r) for r in payload["requests"]]
        nr = self.nornir()
        results: dict[str, DeviceResult] = {}
        by_host = {r.host: r for r in requests}
        for host in [h for h in by_host if h not in nr.inventory.hosts]:
            results[host] = DeviceResult(host=host, action=by_host[host].action, status="failed", ok=False,
                                         error=f"{host} is not in the inventory of worker {self.queue}",
                                         worker=self.queue)

        def fn(t: Task) -> None:
            results[t.host.name] = self.work.handle(t, by_host[t.host.name])

        plumbing.run_phase(nr, str(payload.get("phase")), {h for h in by_host if h not in results}, fn)
        return {"worker": self.queue, "results": [r.model_dump(mode="json") for r in results.values()]}


_WORKER: WorkerState | None = None


def serve_worker(broker: str, queues: list[str], concurrency: int, workspace: Workspace,
                 credentials: str | None) -> int:
    """Run a worker in this process for these regions, until it is stopped."""
    global _WORKER  # noqa: PLW0603 - one worker per process, as Celery has it
    try:
        _redis(broker).ping()
    except Exception as exc:
        raise ExecutorUnavailable(f"the broker {safe_url(broker)} is not reachable ({type(exc).__name__}): "
                                  "start redis-server first") from None
    worker = WorkerState(broker, workspace, credentials, workers=max(concurrency, 1) * 5, regions=tuple(queues))
    _WORKER = worker
    app = make_app(broker)
    worker.start_heartbeat()
    names = [region_queue(q) for q in queues] + [worker.queue]
    try:
        app.worker_main(argv=["worker", "--queues", ",".join(names), "--concurrency", str(concurrency),
                              "--pool", "threads", "--hostname", f"{worker.queue}@%h", "--without-gossip",
                              "--without-mingle", "--loglevel", "WARNING"])
    finally:
        worker.stop()
    return 0


# -- the controller ----------------------------------------------------------------------------
class RedisLocks:
    """A lock with expiry per device in Redis (renewed while held); exclusion across controllers."""

    RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
    RENEW = ("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) "
             "else return 0 end")

    def __init__(self, client: Any, holder: str) -> None:
        self.client = client
        self.holder = holder
        self.held: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @staticmethod
    def key(host: str) -> str:
        return f"netorch:lock:{host}"

    def _take(self, hosts: list[str]) -> list[str]:
        taken = []
        for host in hosts:
            if self.client.set(self.key(host), self.holder, nx=True, px=int(LOCK_TTL * 1000)):
                taken.append(host)
                self.held.add(host)
        return taken

    def acquire(self, hosts: list[str], wait: float, all_or_none: bool, kind: str, actor: str) -> dict[str, DeviceBusy]:
        deadline = time.monotonic() + max(0.0, wait)
        todo = sorted(set(hosts))
        while True:
            taken = self._take(todo)
            todo = [h for h in todo if h not in taken]
            if all_or_none and todo:
                self.release(taken)
                todo = sorted(set(hosts))
            if not todo or time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        busy = {}
        for host in [h for h in todo if h not in self.held]:
            other = self.client.get(self.key(host))
            who = other.decode() if isinstance(other, bytes) else str(other)
            busy[host] = DeviceBusy(host, 0, actor, kind, f"{host} is held by another controller ({who}) "
                                    f"in Redis after waiting {wait:g} s")
        if all_or_none and busy:
            self.release(list(self.held))
        if self.held:
            self._thread = threading.Thread(target=self._renew, name="netorch-redis-locks", daemon=True)
            self._thread.start()
        return busy

    def _renew(self) -> None:
        while not self._stop.wait(LOCK_TTL / 3):
            for host in list(self.held):
                with contextlib.suppress(Exception):
                    self.client.eval(self.RENEW, 1, self.key(host), self.holder, int(LOCK_TTL * 1000))

    def release(self, hosts: list[str] | None = None) -> None:
        for host in list(self.held if hosts is None else hosts):
            with contextlib.suppress(Exception):
                self.client.eval(self.RELEASE, 1, self.key(host), self.holder)
            self.held.discard(host)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.release()


class CeleryRun:
    """One run's phases as Celery tasks: a batch per worker (or per region, for prepare and drift)."""

    def __init__(self, executor: CeleryExecutor, regions: dict[str, str], progress: ProgressFn | None,
                 locks: RedisLocks, creds: CredentialStore | None) -> None:
        self.executor = executor
        self.regions = regions
        self.progress = progress
        self.locks = locks
        self.creds = creds
        self.busy: dict[str, DeviceBusy] = {}
        self.assigned: dict[str, str] = {}
        self.lost: dict[str, str] = {}
        self.token = secrets.token_hex(8)
        self._key = f"netorch:run:{self.token}"
        executor.redis.set(self._key, "1", px=int(RUN_TTL * 1000))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="netorch-run-mark", daemon=True)
        self._thread.start()

    def _renew(self) -> None:
        while not self._stop.wait(RUN_TTL / 5):
            with contextlib.suppress(Exception):
                self.executor.redis.pexpire(self._key, int(RUN_TTL * 1000))

    @property
    def placement(self) -> dict[str, str]:
        return dict(self.assigned)

    def _alive(self, queue: str) -> bool:
        return bool(self.executor.redis.exists(f"netorch:alive:{queue}"))

    def run(self, phase: str, requests: list[DeviceRequest]) -> dict[str, DeviceResult]:
        results: dict[str, DeviceResult] = {}
        groups: dict[str, list[DeviceRequest]] = {}
        requests = [r.model_copy(update={"run": self.token}) for r in requests]
        for req in requests:
            if req.host in self.lost:
                results[req.host] = self._lost(req, self.lost[req.host], phase)
            elif req.action in ("prepare", "drift"):
                groups.setdefault(region_queue(self.regions.get(req.host, "default")), []).append(req)
            elif req.host in self.assigned:
                groups.setdefault(self.assigned[req.host], []).append(req)
            else:
                results[req.host] = DeviceResult(host=req.host, action=req.action, status="unreachable", ok=False,
                                                 error="no worker holds a session of it (it was not prepared)")
        pending: dict[str, tuple[Any, str, list[DeviceRequest], float]] = {}
        app = self.executor.app
        for queue, reqs in groups.items():
            regional = queue.startswith("netorch.region.")
            for i in range(0, len(reqs), BATCH):
                chunk = reqs[i:i + BATCH]
                payload = {"phase": phase, "requests": [r.model_dump(mode="json") for r in chunk]}
                task_id = f"netorch-{secrets.token_hex(12)}"
                try:
                    self.executor.redis.set(f"netorch:wanted:{task_id}", "1", px=int(WANTED_TTL * 1000))
                    res = app.send_task(TASK, args=[payload], queue=queue, task_id=task_id)
                except Exception as exc:
                    for r in chunk:
                        results[r.host] = DeviceResult(host=r.host, action=r.action, status="unreachable", ok=False,
                                                       error=f"{phase}: the broker refused the task "
                                                             f"({type(exc).__name__})", lost=not regional)
                    continue
                pending[res.id] = (res, queue, chunk, time.monotonic())
        self._wait(phase, pending, results)
        for host, result in results.items():
            if result.action == "prepare" and result.opened and result.worker:
                self.assigned[host] = result.worker
            if self.progress is not None:
                self.progress(phase, host, "done")
        return results

    def _lost(self, req: DeviceRequest, worker: str, phase: str) -> DeviceResult:
        return DeviceResult(host=req.host, action=req.action, status="unreachable", ok=False, lost=True,
                            final="unknown", worker=worker,
                            error=f"worker {worker} was lost during {phase}: the device's state is unknown "
                                  "(a device with a revert timer restores its previous configuration by itself)")

    def _wait(self, phase: str, pending: dict[str, tuple[Any, str, list[DeviceRequest], float]],
              results: dict[str, DeviceResult]) -> None:
        redis = self.executor.redis
        renewed = 0.0
        unserved: dict[str, float] = {}  # region -> since when no worker serves it
        while pending:
            if time.monotonic() - renewed > 1.0:
                renewed = time.monotonic()
                pipe = redis.pipeline()
                for task_id in pending:
                    pipe.pexpire(f"netorch:wanted:{task_id}", int(WANTED_TTL * 1000))
                pipe.execute()
            for task_id, (res, queue, chunk, sent) in list(pending.items()):
                if res.ready():
                    del pending[task_id]
                    self._collect(phase, res, chunk, results)
                    with contextlib.suppress(Exception):
                        redis.delete(f"netorch:claim:{task_id}", f"netorch:wanted:{task_id}")
                    continue
                claim = redis.get(f"netorch:claim:{task_id}")
                worker = claim.decode() if isinstance(claim, bytes) else claim
                regional = queue.startswith("netorch.region.")
                waited = time.monotonic() - sent
                if worker is None and not regional:
                    worker = queue
                if worker is not None and not self._alive(worker):
                    if regional and claim is None:
                        continue
                    del pending[task_id]
                    for r in chunk:
                        self.lost[r.host] = worker
                        results[r.host] = self._lost(r, worker, phase)
                elif worker is None and regional and self._unserved(queue, unserved) > CLAIM_TIMEOUT:
                    del pending[task_id]
                    with contextlib.suppress(Exception):
                        redis.delete(f"netorch:wanted:{task_id}")  # a worker that comes later drops it
                    region = queue.removeprefix("netorch.region.")
                    for r in chunk:
                        results[r.host] = DeviceResult(
                            host=r.host, action=r.action, status="unreachable", ok=False,
                            error=f"no worker serves region {region!r}: none took the work within "
                                  f"{CLAIM_TIMEOUT:g} s (start `netorch worker --queues {region}`)")
                elif waited > PHASE_TIMEOUT:
                    del pending[task_id]
                    with contextlib.suppress(Exception):
                        redis.delete(f"netorch:wanted:{task_id}")
                    for r in chunk:
                        self.lost[r.host] = str(worker)
                        results[r.host] = self._lost(r, str(worker), phase)
            if pending:
                time.sleep(0.05)

    def _unserved(self, queue: str, since: dict[str, float]) -> float:
        """How long no worker has served this region queue (0 while one does)."""
        region = queue.removeprefix("netorch.region.")
        if self.executor.redis.exists(f"netorch:serves:{region}"):
            since.pop(region, None)
            return 0.0
        return time.monotonic() - since.setdefault(region, time.monotonic())

    @staticmethod
    def _collect(phase: str, res: Any, chunk: list[DeviceRequest], results: dict[str, DeviceResult]) -> None:
        try:
            answer = res.get(timeout=5, propagate=True)
            for item in answer["results"]:
                result = DeviceResult.model_validate(item)
                results[result.host] = result
        except Exception as exc:
            for r in chunk:
                results.setdefault(r.host, DeviceResult(host=r.host, action=r.action, status="failed", ok=False,
                                                        error=f"{phase}: the worker failed "
                                                              f"({type(exc).__name__}: {exc})"))
        finally:
            with contextlib.suppress(Exception):
                res.forget()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        with contextlib.suppress(Exception):
            self.executor.redis.delete(self._key)
        self.locks.close()


class CeleryExecutor:
    kind = "celery"

    def __init__(self, broker: str) -> None:
        self.broker = broker
        self._app: Celery | None = None
        self._redis: Any = None

    @property
    def app(self) -> Celery:
        if self._app is None:
            self._app = make_app(self.broker)
        return self._app

    @property
    def redis(self) -> Any:
        if self._redis is None:
            self._redis = _redis(self.broker)
        return self._redis

    def check(self) -> None:
        try:
            self.redis.ping()
        except Exception as exc:
            raise ExecutorUnavailable(
                f"the executor's broker {safe_url(self.broker)} is not reachable ({type(exc).__name__}): "
                "start redis-server and the workers, or use --executor inprocess; nothing was sent to any "
                "device") from None

    def open(self, target: RunTarget, jobs: list[DeviceJob], progress: ProgressFn | None, *,
             kind: str, actor: str, lock_wait: float, all_or_none: bool,
             sessions: dict[str, DeviceSession] | None = None, nornir: object | None = None) -> CeleryRun:
        from netorch.transport.nornir_setup import credential_store

        self.check()
        inventory = target.inventory
        regions = {j.host: inventory.hosts[j.host].data.region or "default" for j in jobs}
        holder = f"{kind}:{actor}:{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        locks = RedisLocks(self.redis, holder)
        busy = locks.acquire([j.host for j in jobs], lock_wait, all_or_none, kind, actor)
        if all_or_none and busy:
            locks.close()
            raise busy[min(busy)]
        # the controller's credentials serve only to scrub reports: the workers use their own
        run = CeleryRun(self, regions, progress, locks, credential_store(inventory, target.credentials))
        run.busy = busy
        return run
