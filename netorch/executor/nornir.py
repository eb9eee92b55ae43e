"""The Nornir plumbing every executor and reader of devices shares: build a Nornir for a run
target, run one phase over some of its hosts, close it. Used by the in-process executor, the
Celery worker, the daemon's warm pool, `recover` and `verify --against live`."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from nornir.core import Nornir
from nornir.core.task import Result, Task

from netorch.credentials import CredentialStore
from netorch.executor.base import ProgressFn, RunTarget
from netorch.transport.nornir_setup import build_nornir, credential_store


def build(target: RunTarget, hosts: list[str]) -> tuple[Nornir, CredentialStore]:
    """A Nornir over these hosts of the target's inventory, and the credentials it uses."""
    creds = credential_store(target.inventory, target.credentials)
    return build_nornir(target.inventory, hosts, target.workers, creds, target.timeout), creds


def run_phase(nr: Nornir, name: str, hosts: set[str], fn: Callable[[Task], None],
              progress: ProgressFn | None = None) -> None:
    """fn on each of these hosts, in Nornir's threads; progress(name, host, "done") after each."""
    if not hosts:
        return

    def task(t: Task) -> Result:
        fn(t)
        if progress is not None:
            progress(name, t.host.name, "done")
        return Result(host=t.host)

    nr.filter(filter_func=lambda h: h.name in hosts).run(task=task, name=name, raise_on_error=False)


def close(nr: Nornir) -> None:
    """Close every connection; closing a broken session must never fail a run."""
    with contextlib.suppress(Exception):
        nr.close_connections(on_good=True, on_failed=True)
