"""The long-running commands: daemon (scheduled drift checks and the HTTP API) and worker
(a Celery worker doing the device work of its regions)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from netorch.cli.common import PATH_METAVAR, CredOpt
from netorch.cli.output import err
from netorch.util import nonempty_path

if TYPE_CHECKING:
    from netorch.cli.common import State


def daemon_cmd(
    config: Annotated[Path | None, typer.Option("--config", "-c", envvar="NETORCH_DAEMON_CONFIG",
                                                help="The daemon's configuration file (YAML; see the README).",
                                                parser=nonempty_path,
                                                metavar=PATH_METAVAR)] = None,
) -> None:
    """Run the daemon in the foreground: scheduled drift checks and the HTTP API."""
    from netorch.daemon.main import serve

    raise typer.Exit(serve(config))


def worker_cmd(
    ctx: typer.Context,
    queues: Annotated[str, typer.Option("--queues", "-Q", metavar="REGIONS", help="The regions this worker "
                                        "serves (comma list; a device's region is its inventory data.region, "
                                        "else 'default').")],
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1, max=64,
                                             help="Batches this worker runs at once.")] = 2,
    credentials: CredOpt = None,
) -> None:
    """Run a Celery worker in the foreground for these regions: it runs the device work of
    plan, apply and drift with Nornir here, near its devices, and keeps the sessions warm.
    The broker is the one of --executor / NETORCH_EXECUTOR (celery:redis://HOST:PORT/DB)."""
    from netorch.executor.celery import serve_worker
    from netorch.executor.registry import DEFAULT_BROKER

    state: State = ctx.obj
    spec = (state.executor or "celery").strip()
    if spec != "celery" and not spec.startswith("celery:"):
        raise typer.BadParameter(f"a worker needs a celery executor (--executor celery:redis://HOST:PORT/DB), "
                                 f"not {spec!r}")
    broker = spec[len("celery:"):] if spec.startswith("celery:") else DEFAULT_BROKER
    regions = [q.strip() for q in queues.split(",") if q.strip()]
    if not regions:
        raise typer.BadParameter("--queues names no region")
    from netorch.executor.celery import safe_url
    from netorch.model.types import NAME_RE

    for region in regions:
        if not NAME_RE.fullmatch(region):
            raise typer.BadParameter(f"--queues: invalid region {region!r}: use a letter then up to 47 letters, "
                                     "digits, '_' or '-'")
    err.print(f"netorch worker: regions {', '.join(regions)} on {safe_url(broker or DEFAULT_BROKER)}",
              highlight=False)
    raise typer.Exit(serve_worker(broker or DEFAULT_BROKER, regions, concurrency, state.workspace,
                                  str(credentials) if credentials else None))
