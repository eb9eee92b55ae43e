"""The netorch command line: the typer app, its global options and the State they name (kept
on typer's context, ctx.obj), the commands of each group mounted in order, `version`, the
optional `lab` sub-app, and main().

Exit codes: 0 success (nothing to change / in sync); 1 error (invalid input, device failure,
bad usage); 2 changes pending (plan) or drift found (drift)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from netorch import __version__
from netorch.cli import drift, history, offline, run, schema, serve
from netorch.cli.common import EXIT_ERROR, EXIT_OK, PATH_METAVAR, Command, Group, State
from netorch.cli.output import err, out, print_problems
from netorch.errors import NetorchError, ValidationFailed
from netorch.service import Workspace, templates_folder
from netorch.util import nonempty_path, reflow

HELP = """netorch: declare routes, security domains and services as intents; netorch
validates them against a Nornir inventory, compiles and renders per-device configs,
plans and applies them, and detects drift.

Exit codes: 0 success or in sync; 1 error (invalid input, device failure, bad usage);
2 changes pending (plan) or drift found (drift)."""

app = typer.Typer(help=reflow(HELP), no_args_is_help=True, add_completion=True, cls=Group,
                  context_settings={"help_option_names": ["-h", "--help"]})


@app.callback()
def _global(
    ctx: typer.Context,
    inventory: Annotated[Path, typer.Option("--inventory", "-i", envvar="NETORCH_INVENTORY",
                                            help="Nornir SimpleInventory folder, or a Nornir config file (any inventory"
                                                 " plugin, e.g. Nautobot).", parser=nonempty_path,
                                            metavar=PATH_METAVAR)] = Path("inventory"),
    intents: Annotated[Path, typer.Option("--intents", envvar="NETORCH_INTENTS",
                                          help="The intents: a folder (or file) of intent YAML files.",
                                          parser=nonempty_path,
                                          metavar=PATH_METAVAR)] = Path("intents"),
    templates: Annotated[Path | None, typer.Option(
        "--templates", show_default=False,
        help="The templates folder (<platform>/*.j2). Default: $NETORCH_TEMPLATES, else ./templates if it "
             "exists, else the templates netorch ships.", parser=nonempty_path, metavar=PATH_METAVAR)] = None,
    executor: Annotated[str | None, typer.Option(
        "--executor", envvar="NETORCH_EXECUTOR", show_envvar=True, metavar="EXECUTOR",
        help="Where device work runs: inprocess (default), celery (Redis at 127.0.0.1:6379/0) or "
             "celery:redis://HOST:PORT/DB (see `netorch worker`).")] = None,
    accept_new_host_keys: Annotated[bool, typer.Option(
        "--accept-new-host-keys",
        help="Trust unknown SSH host keys on first use and add them to known_hosts (changed keys are always "
             "refused); also NETORCH_ACCEPT_NEW_HOST_KEYS=1.")] = False,
) -> None:
    ctx.obj = State(Workspace(inventory, intents, templates_folder(templates)), executor)
    if accept_new_host_keys:
        from netorch.credentials import set_accept_new_host_keys

        set_accept_new_host_keys(True)


def version_cmd() -> None:
    """Print netorch's version."""
    out.print(__version__)


COMMANDS = (
    ("validate", offline.validate_cmd),
    ("render", offline.render_cmd),
    ("verify", offline.verify_cmd),
    ("plan", run.plan_cmd),
    ("apply", run.apply_cmd),
    ("rollback", run.rollback_cmd),
    ("diff", offline.diff_cmd),
    ("recover", run.recover_cmd),
    ("drift", drift.drift_cmd),
    ("daemon", serve.daemon_cmd),
    ("worker", serve.worker_cmd),
    ("history", history.history_cmd),
    ("schema", schema.schema_cmd),
    ("version", version_cmd),
)
for _name, _command in COMMANDS:
    app.command(_name, cls=Command, help=reflow(_command.__doc__))(_command)


def _mount_optional() -> None:
    try:
        from netorch.lab.cli import app as lab_app
    except ImportError:  # pragma: no cover - lab package absent
        return
    app.add_typer(lab_app, name="lab", help="A real lab network on this machine (root).")


_mount_optional()


def main(argv: list[str] | None = None) -> int:
    """Entry point: never lets a traceback reach the user for an expected failure."""
    try:
        result: object = app(args=argv, standalone_mode=False, prog_name="netorch")
    except ValidationFailed as exc:
        print_problems(exc.problems)
        return EXIT_ERROR
    except NetorchError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        return EXIT_ERROR
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    except Exception as exc:
        # Typer vendors its own click: recognise its exceptions by shape.
        show = getattr(exc, "show", None)
        if callable(show) and hasattr(exc, "exit_code"):
            show()
            return EXIT_ERROR
        if type(exc).__name__ == "Abort":
            err.print("aborted")
            return EXIT_ERROR
        if os.environ.get("NETORCH_DEBUG"):
            raise
        err.print(f"internal error: {type(exc).__name__}: {exc} (set NETORCH_DEBUG=1 for a traceback)",
                  markup=False, highlight=False)
        return EXIT_ERROR
    return int(result) if isinstance(result, int) else EXIT_OK
