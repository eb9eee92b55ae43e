"""netorch drift: live config and live state compared with the intents, its report shown
as a table and per-device differences (or --json, or --schema)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from netorch.cli.common import CredOpt, JsonOpt, LimitOpt, WorkersOpt, make_engine, notice_interrupted
from netorch.cli.output import STATUS_STYLE, heading, out, print_model, print_notes, run_with_progress, table
from netorch.defaults import WORKERS
from netorch.run.options import DriftOptions

if TYPE_CHECKING:
    from netorch.cli.common import State


def drift_cmd(
    ctx: typer.Context,
    limit: LimitOpt = None,
    as_json: JsonOpt = False,
    remediate: Annotated[bool, typer.Option("--remediate", help="Bring drifted devices back to intent "
                                            "through apply (same transaction and records).")] = False,
    workers: WorkersOpt = WORKERS,
    allow_unreachable: Annotated[bool, typer.Option("--allow-unreachable", help="Unreachable devices do not "
                                                    "make the exit code 1.")] = False,
    show_unmanaged: Annotated[bool, typer.Option("--show-unmanaged", help="Also list live lines netorch "
                                                 "does not manage.")] = False,
    show_schema: Annotated[bool, typer.Option("--schema", help="Print the JSON schema of --json and exit.")] = False,
    credentials: CredOpt = None,
) -> None:
    """Compare live config and live state with the intents. Exit 0 in sync, 2 drift, 1 error
    (an unreachable device is reported as unreachable, never as drift or in sync; a check that
    read no device exits 1 even with --allow-unreachable)."""
    from netorch.run.drift import DriftChecker, schema

    state: State = ctx.obj
    if show_schema:
        out.print_json(json.dumps(schema()))
        return
    engine = make_engine(state, credentials)
    notice_interrupted(engine)
    checker = DriftChecker(engine)
    total = len(state.workspace.select(limit))
    report = run_with_progress(
        lambda progress: checker.check(DriftOptions(limit=limit, workers=workers, remediate=remediate,
                                                    allow_unreachable=allow_unreachable,
                                                    show_unmanaged=show_unmanaged), progress=progress),
        total, as_json)
    if as_json:
        print_model(report)
        raise typer.Exit(report.exit_code)
    shown = table(f"netorch drift: {report.status}", ("device", "platform", "via", "status", "config", "state",
                                                        "detail"))
    for d in report.devices:
        kinds: dict[str, int] = {}
        for c in d.config:
            kinds[c.kind] = kinds.get(c.kind, 0) + 1
        config = ", ".join(f"{v} {k}" for k, v in sorted(kinds.items()))
        detail = "error (below)" if d.error else (f"not read over {d.transport}: {', '.join(d.unread)}"
                                                  if d.unread else "")
        shown.add_row(d.host, d.platform, d.transport, f"[{STATUS_STYLE.get(d.status, '')}]{d.status}[/]",
                      config, str(len(d.state)) if d.state else "", detail)
    out.print(shown)
    print_notes([(d.host, d.error) for d in report.devices if d.error], style="red")
    from netorch.configtree.base import Difference, render_diffs

    for d in report.devices:
        if not (d.config or d.state or d.unmanaged):
            continue
        heading(d.host)
        for artifact in sorted({c.artifact for c in d.config}):
            out.print(f"[bold]{artifact}[/]")
            text = render_diffs([Difference(c.kind, tuple(c.path), c.detail) for c in d.config
                                 if c.artifact == artifact])
            for line in text.splitlines():
                style = "green" if line.startswith("+") else "red" if line.startswith("-") else "yellow"
                out.print(line, style=style, markup=False, highlight=False)
        for s in d.state:
            out.print(f"state {s.kind}: {s.subject}  {s.detail}", style="yellow", markup=False, highlight=False)
        for line in d.unmanaged:
            out.print(f"unmanaged: {line}", style="dim", markup=False, highlight=False)
        if d.remediation and not remediate:
            out.print("[bold]remediation[/]")
            out.print(d.remediation, markup=False, highlight=False)
    if report.remediation_run is not None:
        rem = report.remediation_run
        out.print(f"remediation (apply run {rem.get('run_id')}): {rem.get('message')}", highlight=False)
    tail = f" (run {report.run_id})" if report.run_id else ""
    drifted = sum(1 for d in report.devices if d.status == "drift")
    total = len(report.devices)
    if not report.checked:
        out.print(f"no device was read ({total} selected){tail}: drift is unknown", style="bold red",
                  highlight=False)
    else:
        out.print(f"{drifted} device(s) drifted{tail}; {report.checked} of {total} device(s) read, in "
                  f"{report.duration:.1f}s", highlight=False)
    raise typer.Exit(report.exit_code)
