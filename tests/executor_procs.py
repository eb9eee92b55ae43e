"""Real processes for the executor tests: a redis-server on a free loopback port (no
persistence, in a temporary folder) and `netorch worker` subprocesses, stopped by pid."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from waiting import wait_for

ROOT = Path(__file__).resolve().parent.parent




def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_redis() -> str:
    path = shutil.which("redis-server")
    if path is None:
        reason = "redis-server is not installed (Debian package redis-server; .ci/setup installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@dataclass
class Redis:
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self):  # type: ignore[no-untyped-def]
        import redis

        return redis.Redis.from_url(self.url)


@contextlib.contextmanager
def redis_server(folder: Path) -> Iterator[Redis]:
    binary = require_redis()
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(folder), "--daemonize", "no"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    server = Redis(port, proc)
    try:
        def up() -> bool:
            try:
                return bool(server.client().ping())
            except Exception:
                return False

        wait_for(up, 20, "redis-server to answer")
        yield server
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@dataclass
class Workers:
    """`netorch worker` subprocesses against one broker and one workspace."""

    redis: Redis
    inventory: Path
    intents: Path
    credentials: Path | None
    log_dir: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, queues: str, concurrency: int = 2) -> subprocess.Popen[bytes]:
        before = self.alive()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        args = [sys.executable, "-m", "netorch", "--executor", f"celery:{self.redis.url}",
                "--inventory", str(self.inventory), "--intents", str(self.intents),
                "--templates", str(ROOT / "netorch" / "templates"), "worker", "--queues", queues,
                "--concurrency", str(concurrency)]
        if self.credentials is not None:
            args += ["--credentials", str(self.credentials)]
        log = (self.log_dir / f"worker-{name}.log").open("ab")
        proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=log, stderr=log)
        self.procs[name] = proc
        # it serves once its heartbeat is there and Celery consumes its queues
        wait_for(lambda: len(self.alive() - before) >= 1 or proc.poll() is not None, 60, f"worker {name} to start")
        assert proc.poll() is None, (self.log_dir / f"worker-{name}.log").read_text()[-2000:]
        wait_for(lambda: self._consuming(queues), 60, f"worker {name} to consume its queues")
        return proc

    def _consuming(self, queues: str) -> bool:
        client = self.redis.client()
        return all(client.exists(f"_kombu.binding.netorch.region.{q}") for q in queues.split(","))

    def alive(self) -> set[str]:
        return {k.decode() for k in self.redis.client().keys("netorch:alive:*")}

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        for name in list(self.procs):
            proc = self.procs.pop(name)
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
