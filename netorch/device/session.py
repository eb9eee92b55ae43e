"""A device's session, opened through its transport's session class (netorch.transport.registry)
on the Nornir host's connection, kept in a dict its owner shares (warm between runs)."""

from __future__ import annotations

import contextlib
import threading

from nornir.core.task import Task

from netorch.errors import DeviceUnreachable
from netorch.transport.base import DeviceJob, DeviceSession
from netorch.transport.registry import session_class


def open_session(task: Task, job: DeviceJob, sessions: dict[str, DeviceSession],
                 lock: threading.Lock) -> DeviceSession:
    """The device's session: the warm one (serving the current job), or a new one."""
    existing = sessions.get(job.host)
    if existing is not None:
        existing.job = job
        return existing
    cls = session_class(job.transport)
    try:
        conn = task.host.get_connection(cls.connection_name, task.nornir.config)
    except DeviceUnreachable:
        raise
    except Exception as exc:  # any library's connect failure
        hint = ""
        if not (task.host.username or task.host.password):
            hint = " (no credentials: set NETORCH_CREDENTIALS, --credentials or NETORCH_USERNAME/PASSWORD)"
        raise DeviceUnreachable(job.host, f"cannot connect over {job.transport.value}: "
                                f"{type(exc).__name__}: {exc}{hint}") from None
    session = cls(job.host, conn, job)
    with lock:
        sessions[job.host] = session
    return session


def drop_session(task: Task, job: DeviceJob, sessions: dict[str, DeviceSession], lock: threading.Lock) -> None:
    """Forget a broken session so that the next run reconnects."""
    with lock:
        sessions.pop(job.host, None)
    with contextlib.suppress(Exception):
        task.host.close_connection(session_class(job.transport).connection_name)
