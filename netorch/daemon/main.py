"""`netorch daemon`: the API server and the scheduler in one foreground process.

Logs go to stdout. SIGTERM/SIGINT stop it cleanly: no new run starts, a running apply that
has not committed yet stops before committing (one that has goes on to the end of its
transaction), a running drift check (read-only) finishes, connections are closed.

Every log line is one line: control characters in a message (a newline or a terminal escape
in a request's `limit`, in host or intent data, in a device's error) are shown escaped, so
nothing a client or a device sends can forge a log line or drive an operator's terminal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO, Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from fastapi import FastAPI

from netorch.daemon.app import create_app
from netorch.daemon.config import DaemonConfig, Schedule, load_config
from netorch.daemon.runtime import Busy, Runtime
from netorch.run.report import status_counts, summary_line

log = logging.getLogger("netorch.daemon")

_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_ESCAPES.update({0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r", 0x2028: "\\u2028", 0x2029: "\\u2029"})


def escape_control(text: str) -> str:
    """Control characters (C0, DEL, C1, Unicode line separators) as visible escapes."""
    return text.translate(_ESCAPES)


class SafeFormatter(logging.Formatter):
    """A formatter whose message part never holds a control character (see the module docstring);
    a traceback, netorch's own text, still spans its lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_control(record.message)
        return super().formatMessage(record)


def setup_logging(level: str, stream: IO[str] | None = None) -> None:
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
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
    counts = status_counts(d.status for d in report.devices)
    log.info("schedule %s: drift run %s: %s, %s in %.2fs", schedule.name, report.run_id, report.status,
             summary_line(report.checked, len(report.devices), counts), report.duration)


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
        log.info("netorch daemon starting on %s://%s:%s, %d schedule(s), store %s",
                 "https" if config.tls else "http", config.listen, config.port, len(config.schedules), config.store)
        if config.exposed_in_clear:
            log.warning("insecure_http: the API listens on %s without TLS: bearer tokens, reports and diffs "
                        "cross the network in clear; configure tls: {cert, key}", config.listen)
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


def head_timeout_protocol(timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol, plus a deadline for a request's head: uvicorn only times out
    idle keep-alive connections, so a client that trickles its request line and headers
    (slowloris) would hold a connection for ever. The connection is closed instead."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeadTimeoutH11Protocol(H11Protocol):
        _head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:
                self._disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._head_timer = self.loop.call_later(timeout, self._expired)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _expired(self) -> None:
            self._head_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                log.debug("closing a connection that sent no complete request head within %ss", timeout)
                self.transport.close()

    return HeadTimeoutH11Protocol


def uvicorn_config(app: Any, config: DaemonConfig, **overrides: Any) -> Any:
    """The uvicorn settings of the daemon: h11 with a head deadline, short keep-alive, bounded
    connections and header size, TLS when configured, no access log, no server header."""
    import uvicorn

    options: dict[str, Any] = {
        "host": config.listen, "port": config.port, "log_config": None, "access_log": False, "lifespan": "on",
        "timeout_graceful_shutdown": 60, "http": head_timeout_protocol(config.header_timeout),
        "timeout_keep_alive": config.keep_alive_timeout, "limit_concurrency": config.max_connections,
        "h11_max_incomplete_event_size": 16 * 1024, "server_header": False, "proxy_headers": False,
    }
    if config.tls is not None:
        options.update(ssl_certfile=str(config.tls.cert), ssl_keyfile=str(config.tls.key))
    options.update(overrides)
    return uvicorn.Config(app, **options)


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
    if config.accept_new_host_keys:
        from netorch.credentials import set_accept_new_host_keys

        set_accept_new_host_keys(True)
        log.warning("accept_new_host_keys: unknown SSH host keys are trusted on first use and recorded")
    app, _ = build(config)
    server = Server(uvicorn_config(app, config))
    try:
        server.run()
    except SystemExit as exc:  # uvicorn exits 3 when it cannot bind: netorch's errors exit 1
        log.error("the daemon could not start (exit %s)", exc.code)
        return 1
    return 0 if server.started else 1
