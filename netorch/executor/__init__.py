"""Executors: where the per-device work of each phase runs (netorch.executor.base).

InProcessExecutor (Nornir's threaded runner, here) is the default; CeleryExecutor
(netorch.executor.celery) runs the same work on Celery workers near the devices."""

from __future__ import annotations

from netorch.errors import NetorchError
from netorch.executor.base import Executor, ExecutorRun
from netorch.executor.inprocess import InProcessExecutor
from netorch.executor.messages import DeviceRequest, DeviceResult, JobSpec, Probe

DEFAULT_BROKER = "redis://127.0.0.1:6379/0"


def executor_from_spec(spec: str | None) -> Executor:
    """`inprocess` (or empty), `celery` (the default broker) or `celery:redis://HOST:PORT/DB`."""
    text = (spec or "inprocess").strip()
    if text in ("", "inprocess"):
        return InProcessExecutor()
    if text == "celery" or text.startswith("celery:"):
        from netorch.executor.celery import CeleryExecutor

        broker = text[len("celery:"):] if text.startswith("celery:") else ""
        executor: Executor = CeleryExecutor(broker or DEFAULT_BROKER)
        return executor
    raise NetorchError(f"--executor {text!r}: use inprocess, celery or celery:redis://HOST:PORT/DB")


__all__ = ["DEFAULT_BROKER", "DeviceRequest", "DeviceResult", "Executor", "ExecutorRun", "InProcessExecutor",
           "JobSpec", "Probe", "executor_from_spec"]
