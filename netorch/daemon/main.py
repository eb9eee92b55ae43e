"""`netorch daemon`: the API server and the scheduler in one foreground process.

Logs go to stdout. SIGTERM/SIGINT stop it cleanly: no new run starts, a running apply that
has not committed yet stops before committing (one that has goes on to the end of its
transaction), a running drift check (read-only) finishes, connections are closed."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from fastapi import FastAPI

from netorch.daemon.app import create_app
from netorch.daemon.config import DaemonConfig, Schedule, load_config
from netorch.daemon.runtime import Busy, Runtime

log = logging.getLogger("netorch.daemon")


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("paramiko", "netmiko", "ncclient", "nornir", "apscheduler.executors", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def scheduled_drift(runtime: Runtime, schedule: Schedule) -> None:
    if runtime.stop_event.is_set():
        return
    try:
        report = runtime.drift(schedule.limit, actor=f"schedule:{schedule.name}", remediate=schedule.remediate)
    except Busy as exc:
        runtime.metrics.skipped.labels(schedule.name).inc()
        log.info("schedule %s skipped: %s", schedule.name, exc)
        return
    except Exception as exc:
        log.error("schedule %s failed: %s: %s", schedule.name, type(exc).__name__, exc)
        return
    counts: dict[str, int] = {}
    for d in report.devices:
        counts[d.status] = counts.get(d.status, 0) + 1
    log.info("schedule %s: drift run %s: %s %s in %.2fs", schedule.name, report.run_id, report.status,
             " ".join(f"{k}={v}" for k, v in sorted(counts.items())), report.duration)


def make_scheduler(runtime: Runtime) -> BackgroundScheduler:
    # one instance of a job at a time; a run missed while busy is skipped (coalesced), never queued
    scheduler = BackgroundScheduler(job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 1})
    for schedule in runtime.config.schedules:
        if schedule.interval is not None:
            trigger: IntervalTrigger | CronTrigger = IntervalTrigger(seconds=schedule.interval)
        else:
            trigger = CronTrigger.from_crontab(str(schedule.cron))
        scheduler.add_job(scheduled_drift, trigger, args=(runtime, schedule), id=schedule.name,
                          name=f"drift {schedule.name}")

    def skipped(event: JobExecutionEvent) -> None:
        runtime.metrics.skipped.labels(event.job_id).inc()
        log.info("schedule %s: run skipped, the previous one is still busy", event.job_id)

    def failed(event: JobExecutionEvent) -> None:
        log.error("schedule %s: run failed: %s", event.job_id, type(event.exception).__name__)

    scheduler.add_listener(skipped, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
    scheduler.add_listener(failed, EVENT_JOB_ERROR)
    return scheduler


def build(config: DaemonConfig) -> tuple[FastAPI, Runtime]:
    runtime = Runtime(config)
    scheduler = make_scheduler(runtime)
    app = create_app(runtime)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        scheduler.start()
        log.info("netorch daemon starting on %s:%s, %d schedule(s), store %s", config.listen, config.port,
                 len(config.schedules), config.store)
        try:
            yield
        finally:
            log.info("stopping: no new runs; waiting for the current one")
            runtime.stop_event.set()
            scheduler.shutdown(wait=True)
            runtime.close()
            log.info("stopped")

    app.router.lifespan_context = lifespan
    return app, runtime


def serve(config_path: Path | None) -> int:
    """Run until SIGTERM/SIGINT; exit 0 after a clean shutdown (a second SIGINT forces it)."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # like uvicorn's, but without re-raising the signal after a graceful shutdown,
            # so that a clean stop exits 0
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    config = load_config(config_path)
    setup_logging(config.log_level)
    app, _ = build(config)
    server = Server(uvicorn.Config(app, host=config.listen, port=config.port, log_config=None,
                                   access_log=False, lifespan="on", timeout_graceful_shutdown=60))
    try:
        server.run()
    except SystemExit as exc:  # uvicorn exits 3 when it cannot bind: netorch's errors exit 1
        log.error("the daemon could not start (exit %s)", exc.code)
        return 1
    return 0 if server.started else 1
