"""The netorch command line: a thin adapter over netorch.service.

Exit codes: 0 success (nothing to change / in sync); 1 error (invalid input,
device failure, bad usage); 2 changes pending (plan) or drift found (drift)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from netorch import __version__
from netorch.errors import NetorchError, Problem, ValidationFailed
from netorch.service import Workspace, write_rendered

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2

HELP = """netorch: declare routes, security domains and services as intents; netorch
validates them against a Nornir inventory, compiles and renders per-device configs,
plans and applies them, and detects drift.

Exit codes: 0 success or in sync; 1 error (invalid input, device failure, bad usage);
2 changes pending (plan) or drift found (drift)."""

app = typer.Typer(help=HELP, no_args_is_help=True, add_completion=False,
                  context_settings={"help_option_names": ["-h", "--help"]})
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class State:
    workspace: Workspace


state = State()


@app.callback()
def _global(
    inventory: Annotated[Path, typer.Option("--inventory", "-i", envvar="NETORCH_INVENTORY",
                                            help="Nornir SimpleInventory folder.")] = Path("inventory"),
    intents: Annotated[Path, typer.Option("--intents", envvar="NETORCH_INTENTS",
                                          help="Folder (or file) of intent YAML files.")] = Path("intents"),
    templates: Annotated[Path, typer.Option("--templates", envvar="NETORCH_TEMPLATES",
                                            help="Templates folder (templates/<platform>/).")] = Path("templates"),
) -> None:
    state.workspace = Workspace(inventory, intents, templates)


def print_problems(problems: list[Problem] | tuple[Problem, ...]) -> None:
    for problem in problems:
        err.print(str(problem), markup=False, highlight=False)
    err.print(f"{len(problems)} problem(s) found", style="bold red")


@app.command("validate")
def validate_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Validate intents against the inventory; report every problem with file:line."""
    result = state.workspace.validate()
    if as_json:
        out.print_json(json.dumps({
            "ok": result.ok, "summary": result.summary(),
            "problems": [{"file": p.file, "line": p.line, "path": p.path, "message": p.message,
                          "code": p.code} for p in result.problems],
        }))
        raise typer.Exit(EXIT_OK if result.ok else EXIT_ERROR)
    if not result.ok:
        print_problems(result.problems)
        raise typer.Exit(EXIT_ERROR)
    out.print(f"valid: {result.summary()}", highlight=False)


@app.command("render")
def render_cmd(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Write DIR/<host>/<artifact>.")] = Path("out"),
    limit: Annotated[str | None, typer.Option("--limit", "-l", help="Host or group (comma list).")] = None,
) -> None:
    """Compile the intents and render every host's config artifacts into DIR/<host>/."""
    rendered = state.workspace.render(limit)
    written = write_rendered(rendered, out_dir)
    out.print(f"rendered {len(written)} artifact(s) for {len(rendered)} host(s) into {out_dir}/",
              highlight=False)
    for host, files in sorted(rendered.items()):
        out.print(f"  {host}: {', '.join(sorted(files))}", highlight=False)


@app.command("version")
def version_cmd() -> None:
    """Print netorch's version."""
    out.print(__version__)


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
        result: Any = app(args=argv, standalone_mode=False, prog_name="netorch")
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


if __name__ == "__main__":
    sys.exit(main())
