"""The commands that touch no device: validate, render, verify (and its differential
--against, which reads live devices only when told) and diff between stored revisions."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import BaseModel, Field

from netorch.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    PATH_METAVAR,
    CredOpt,
    JsonOpt,
    LimitOpt,
    WorkersOpt,
    keep_verification,
)
from netorch.cli.output import out, print_differential, print_model, print_problems, print_verify, run_with_progress
from netorch.defaults import WORKERS
from netorch.service import write_rendered
from netorch.util import nonempty_path

if TYPE_CHECKING:
    from netorch.cli.common import State



class ProblemJson(BaseModel):
    file: str
    line: int
    path: str
    message: str
    code: str


class ValidationJson(BaseModel):
    """The --json output of `netorch validate`."""

    ok: bool
    summary: str
    problems: list[ProblemJson]
    deferred: bool = Field(False, description="paths, loops and what routers share were not checked: they wait "
                           "until the problems (an invalid or unknown object) are fixed")


def validate_cmd(
    ctx: typer.Context,
    as_json: JsonOpt = False,
) -> None:
    """Validate intents against the inventory; report every problem with file:line."""
    state: State = ctx.obj
    result = state.workspace.validate()
    if as_json:
        print_model(ValidationJson(
            ok=result.ok, summary=result.summary(), deferred=result.deferred,
            problems=[ProblemJson(file=p.file, line=p.line, path=p.path, message=p.message, code=p.code)
                      for p in result.problems]))
        raise typer.Exit(EXIT_OK if result.ok else EXIT_ERROR)
    if not result.ok:
        print_problems(result.problems, result.deferred)
        raise typer.Exit(EXIT_ERROR)
    out.print(f"valid: {result.summary()}", highlight=False)


def render_cmd(
    ctx: typer.Context,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Write DIR/<host>/<artifact>.", parser=nonempty_path,
                                          metavar=PATH_METAVAR)] = Path("out"),
    limit: LimitOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Compile the intents and render every host's config artifacts into DIR/<host>/."""
    state: State = ctx.obj
    if out_dir.exists() and not out_dir.is_dir():
        raise typer.BadParameter(f"{out_dir} is not a folder (render writes DIR/<host>/<artifact>)",
                                 param_hint=["--out", "-o"])
    rendered = state.workspace.render(limit, processes=os.cpu_count() or 1)
    written = write_rendered(rendered, out_dir)
    if as_json:
        from netorch.cli.models import RenderJson

        print_model(RenderJson(out=str(out_dir), hosts={h: sorted(files) for h, files in sorted(rendered.items())},
                               files=len(written)))
        return
    out.print(f"rendered {len(written)} artifact(s) for {len(rendered)} host(s) into {out_dir}/",
              highlight=False)
    for host, files in sorted(rendered.items()):
        out.print(f"  {host}: {', '.join(sorted(files))}", highlight=False)


def verify_cmd(
    ctx: typer.Context,
    limit: LimitOpt = None,
    as_json: JsonOpt = False,
    failures: Annotated[int, typer.Option("--failures", min=0, max=1, help="1: re-check every promise under "
                                          "each single link and each single router failure.")] = 0,
    against: Annotated[str | None, typer.Option(
        "--against", metavar="live|RUN|REV", help="Differential: the flows whose outcome differs between the "
        "network as it runs (live: read through the transports), or as apply run RUN or revision REV made it, "
        "and the current intents. Exit 0 no difference, 2 differences, 1 error or a device not read.")] = None,
    workers: WorkersOpt = WORKERS,
    credentials: CredOpt = None,
) -> None:
    """Prove every promise of the intents on the compiled network, for all packets: services,
    isolation between domains, reachability inside them, no loops or blackholes, shadowed
    rules. Exit 0 when every promise holds, 1 when one fails (with a counterexample).

    With --against: the flows newly allowed or newly blocked by the current intents compared
    with live|RUN|REV, per domain pair, each with an example flow; exit 0 no difference, 2
    differences, 1 error or a device that could not be read. Every verification is kept in the
    store (`netorch history --kind verify`)."""
    state: State = ctx.obj
    if against is not None:
        if not against.strip():
            raise typer.BadParameter("is empty: give live, a run id or a revision", param_hint=["--against"])
        if failures:
            raise typer.BadParameter("--failures does not apply to --against (a differential with every link up)")
        from netorch.store import Store
        from netorch.verify.against import verify_against

        store = Store()
        live = against == "live"
        total = len(state.workspace.select(limit)) if live else 0
        diff = run_with_progress(
            lambda progress: verify_against(ws=state.workspace, against=against, store=store,
                                            credentials=str(credentials) if credentials else None, limit=limit,
                                            workers=workers, progress=progress),
            total, as_json or not live)
        print_differential(diff, as_json)
        keep_verification(state.workspace, "verify", diff, {"limit": limit})
        raise typer.Exit(diff.exit_code)
    from netorch.verify import verify
    report = verify(state.workspace, limit, failures)
    print_verify(report, as_json, out)
    keep_verification(state.workspace, "verify", report, {"limit": limit, "failures": failures or None})
    raise typer.Exit(report.exit_code)


def diff_cmd(
    rev_a: Annotated[str, typer.Argument(metavar="REV_A", help="A stored revision (hash or prefix).")],
    rev_b: Annotated[str, typer.Argument(metavar="REV_B", help="Another one.")],
    as_json: JsonOpt = False,
) -> None:
    """The differences between two stored revisions: in the intents and inventory files, and in
    each device's configuration as those revisions' applies pushed it."""
    from netorch.run.revisions import diff
    from netorch.store import Store

    result = diff(Store(), rev_a, rev_b)
    if as_json:
        from netorch.cli.models import RevisionDiffJson

        print_model(RevisionDiffJson(a=result.a, b=result.b, intents=result.intents, devices=result.devices))
        return
    for line in result.text().splitlines():
        style = "green" if line.startswith("+") else "red" if line.startswith("-") else ""
        out.print(line, style=style, markup=False, highlight=False)
