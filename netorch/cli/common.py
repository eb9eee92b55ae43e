"""What the command groups share: exit codes, the options several commands take, the engine
over the workspace, the notice of interrupted runs, and keeping verifications in the store."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from netorch.cli.output import err
from netorch.util import bare_flags, narrow_help, nonempty_path

if TYPE_CHECKING:  # imported when used: `netorch --help` stays light
    from netorch.run.engine import Engine
    from netorch.service import Workspace
    from netorch.store import Store
    from netorch.verify.differential import Differential
    from netorch.verify.report import Report

@dataclass(frozen=True)
class State:
    """What the global options name, kept on typer's context (ctx.obj) for every command,
    the lab's included."""

    workspace: Workspace
    executor: str | None = None


class Command(TyperCommand):
    """Every netorch command: its flags show no value in --help, which is plain text in a narrow terminal."""

    def get_params(self, ctx: Any) -> list[Any]:
        return bare_flags(super().get_params(ctx))

    def get_help(self, ctx: Any) -> str:
        return narrow_help(self, ctx, super().get_help)


class Group(TyperGroup):
    """netorch and its sub-apps: their flags show no value in --help."""

    def get_params(self, ctx: Any) -> list[Any]:
        return bare_flags(super().get_params(ctx))

    def get_help(self, ctx: Any) -> str:
        return narrow_help(self, ctx, super().get_help)


EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2

#: every path option and argument: parser=nonempty_path (an empty path is a usage error, not the
#: current folder), shown as <path> like any path
PATH_METAVAR = "<path>"

CredOpt = Annotated[Path | None, typer.Option("--credentials", envvar="NETORCH_CREDENTIALS",
                                              help="The credentials file (see the README).", show_envvar=True,
                                              parser=nonempty_path, metavar=PATH_METAVAR)]


COMPLETION_TIMEOUT = 5.0
"""Most seconds shell completion waits for an inventory plugin (a Nautobot) to give the hosts."""


def complete_limit(ctx: typer.Context, incomplete: str) -> list[str]:
    """Shell completion of --limit: the inventory's host and group names (after the last comma of
    a comma list). The inventory is the one the command line names (--inventory,
    NETORCH_INVENTORY, ./inventory), a Nornir config file's within COMPLETION_TIMEOUT; an unreadable one
    completes nothing."""
    from netorch.model.nornir_config import load_any

    root = ctx.find_root()
    folder = root.params.get("inventory") or os.environ.get("NETORCH_INVENTORY") or "inventory"
    done, _, last = incomplete.rpartition(",")
    try:
        view, _ = load_any(Path(folder), timeout=COMPLETION_TIMEOUT)
    except Exception:  # completion never fails the shell
        return []
    if view is None:
        return []
    names = sorted({*view.hosts, *view.groups})
    taken = set(done.split(",")) if done else set()
    prefix = f"{done}," if done else ""
    return [prefix + n for n in names if n.startswith(last) and n not in taken]


LimitOpt = Annotated[str | None, typer.Option("--limit", "-l", metavar="HOSTS", help="The devices: a host or "
                                              "group, or a comma list of them (default: every host).",
                                              autocompletion=complete_limit)]
WorkersOpt = Annotated[int, typer.Option("--workers", "-w", min=1, max=500, help="Parallel devices.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout (`netorch schema` "
                                       "lists the JSON Schema of every output).")]
LockWaitOpt = Annotated[float, typer.Option("--lock-wait", min=0, max=3600, help="Seconds to wait for devices "
                                            "another run holds before giving up.")]


def make_engine(state: State, credentials: Path | None, store: Store | None = None) -> Engine:
    """The engine over the workspace, recording into `store` (by default the local store,
    NETORCH_STORE), its device work on the executor of --executor."""
    from netorch.run.engine import open_engine
    from netorch.store import Store

    return open_engine(state.workspace, store if store is not None else Store(), credentials, state.executor)


def notice_interrupted(engine: Engine) -> None:
    from netorch.run.recover import pending_notice

    if engine.store is not None:
        for line in pending_notice(engine.store):
            err.print(f"warning: {line}", style="yellow", markup=False, highlight=False)


def keep_verification(workspace: Workspace, kind: str, result: Report | Differential,
                      options: dict[str, str | int | None] | None = None) -> int | None:
    """Keep a verification in the store; a store that cannot be written only warns (verify is
    offline and useful without one; plan and apply fail on such a store anyway)."""
    from netorch.errors import StoreError
    from netorch.run.report import actor_name
    from netorch.store import Store
    from netorch.verify.records import save

    try:
        store = Store()
        try:
            return save(store, kind, actor_name(), workspace.revision(), result, options)
        finally:
            store.close()
    except StoreError as exc:
        err.print(f"warning: the verification is not kept: {exc}", markup=False, highlight=False)
        return None
