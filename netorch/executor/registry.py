"""The executor seam's register: where the per-device work of a run's phases runs.

    inprocess                      Nornir's threaded runner in this process (the default)
    celery[:redis://HOST:PORT/DB]  Celery workers near the devices (netorch worker)

A factory takes the text after the executor's name ('' when none) and returns the executor.
"""

from __future__ import annotations

from collections.abc import Callable

from netorch.errors import NetorchError
from netorch.executor.base import Executor
from netorch.register import Register

DEFAULT_BROKER = "redis://127.0.0.1:6379/0"

EXECUTORS: Register[Callable[[str], Executor]] = Register("executor")


def _inprocess(argument: str) -> Executor:
    from netorch.executor.inprocess import InProcessExecutor

    return InProcessExecutor()


def _celery(argument: str) -> Executor:
    from netorch.executor.celery import CeleryExecutor

    return CeleryExecutor(argument or DEFAULT_BROKER)


EXECUTORS.register("inprocess", _inprocess)
EXECUTORS.register("celery", _celery)


def executor_from_spec(spec: str | None) -> Executor:
    """`inprocess` (or empty), `celery` (the default broker) or `celery:redis://HOST:PORT/DB`."""
    text = (spec or "inprocess").strip() or "inprocess"
    name, _, argument = text.partition(":")
    if name not in EXECUTORS or (name == "inprocess" and argument):
        raise NetorchError(f"--executor {text!r}: use inprocess, celery or celery:redis://HOST:PORT/DB")
    return EXECUTORS.get(name)(argument)
