"""How the command line shows things: the consoles (out, err), status styles, the run report
table (print_report), verify's findings (print_verify) and differential (print_differential),
problems with file:line (print_problems), and the progress display of device work."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel
from rich.console import Console
from rich.text import Text

from netorch.errors import Problem

if TYPE_CHECKING:  # imported when used: `netorch --help` stays light
    from rich.progress import Progress, TaskID
    from rich.table import Table

    from netorch.executor.base import ProgressFn
    from netorch.run.report import RunReport
    from netorch.verify.differential import Differential
    from netorch.verify.report import Report

R = TypeVar("R")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

STATUS_STYLE = {"unchanged": "green", "changes": "yellow", "changed": "cyan", "failed": "bold red",
                "interrupted": "bold red", "recovered": "magenta",
                "unreachable": "bold red", "rolled_back": "magenta", "reverted": "magenta", "skipped": "dim",
                "in_sync": "green", "drift": "yellow", "unknown": "bold red"}
DIFF_STYLE = {"NEWLY ALLOWED": "yellow", "NEWLY BLOCKED": "bold red", "NOTE": "dim", "UNREADABLE": "bold red"}


DEFERRED = ("paths, loops and what routers share (links, sessions, areas) are checked once these are "
            "fixed: they may fail only because of them")


def table(title: str, columns: tuple[str, ...]) -> Table:
    """A table whose cells wrap, and fold a word longer than their column, in a narrow terminal:
    never cut with an ellipsis. Free text (errors, hints) goes under a table as whole lines
    (print_notes), where a narrow terminal wraps it and nothing is cut."""
    from rich import box
    from rich.table import Table

    narrow = out.width < 80  # no vertical borders: their columns go to the cells
    found = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD if narrow else box.HEAVY_HEAD,
                  pad_edge=not narrow)
    for column in columns:
        found.add_column(column, overflow="fold")
    return found


def print_notes(notes: list[tuple[str, str]], style: str = "") -> None:
    """`subject: text` lines, whole (soft-wrapped by the terminal, never cut by netorch)."""
    for subject, text in notes:
        out.print(f"{subject}: {text}", style=style, markup=False, highlight=False, soft_wrap=True)


def heading(text: str) -> None:
    """A rule with `text` in it; a line starting with one when the terminal is too narrow for a
    rule around the whole text (a rule would cut it with an ellipsis)."""
    if len(text) + 8 <= out.width:
        out.rule(text, style="dim")
    else:
        out.print(f"── {text}", style="dim", markup=False, highlight=False, soft_wrap=True)


def print_model(document: BaseModel, to: Console | None = None) -> None:
    """A --json output: the document as its model dumps it (the model `netorch schema` prints)."""
    (to or out).print_json(document.model_dump_json())


def print_problems(problems: list[Problem] | tuple[Problem, ...], deferred: bool = False) -> None:
    for problem in problems:
        err.print(str(problem), markup=False, highlight=False)
    err.print(f"{len(problems)} problem(s) found", style="bold red")
    if deferred:
        err.print(DEFERRED, style="dim", highlight=False)


def progress_display(total: int, enabled: bool) -> AbstractContextManager[Progress | None]:
    if not enabled or not out.is_terminal:
        return nullcontext(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=True)


def run_with_progress(run: Callable[[ProgressFn | None], R], total: int, as_json: bool) -> R:
    """run(progress): the device work, given a progress callback (None without a terminal, or
    with --json) that advances one bar per phase over `total` devices."""
    with progress_display(total, not as_json) as bar:
        if bar is None:
            return run(None)
        tasks: dict[str, TaskID] = {}

        def tick(phase: str, host: str, status: str) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.advance(tasks[phase])

        return run(tick)


def print_report(report: RunReport, as_json: bool, show_diff: bool = True) -> None:
    if as_json:
        from netorch.run.report import RunReportJson

        print_model(RunReportJson.model_validate(report.as_dict()))
        return
    if not report.devices:
        out.print(f"netorch {report.kind}: {report.message} (no device read)", highlight=False)
        return
    shown = table(f"netorch {report.kind}: {report.status}", ("device", "platform", "via", "status", "now", "detail"))
    for d in report.devices:
        detail = "error (below)" if d.error else f"{len(d.diff.splitlines())} line(s) of diff" if d.diff else ""
        shown.add_row(d.host, d.platform, d.transport, f"[{STATUS_STYLE.get(d.status, '')}]{d.status}[/]",
                      d.final, Text(detail))
    out.print(shown)
    print_notes([(d.host, d.error) for d in report.devices if d.error], style="red")
    if show_diff:
        for d in report.devices:
            if d.diff:
                heading(d.host)
                for line in d.diff.splitlines():
                    style = "green" if line.startswith("+") else "red" if line.startswith("-") else ""
                    out.print(line, style=style, markup=False, highlight=False)
    tail = f" (run {report.run_id})" if report.run_id else ""
    out.print(f"{report.message}{tail}; {report.checked} of {len(report.devices)} device(s) read, in "
              f"{report.duration:.1f}s", highlight=False)


def print_verify(report: Report, as_json: bool, to: Console) -> None:
    if as_json:
        from netorch.verify.report import VerifyReportJson

        print_model(VerifyReportJson.model_validate(report.as_dict()), to)
        return
    for line in report.lines():
        style = "bold red" if line.startswith("FAIL") else "yellow" if line.startswith("WARNING") else ""
        to.print(line, style=style, markup=False, highlight=False)


def print_differential(diff: Differential, as_json: bool) -> None:
    if as_json:
        from netorch.cli.models import DifferentialJson

        print_model(DifferentialJson.model_validate(diff.as_dict()))
        return
    for line in diff.lines():
        style = next((v for k, v in DIFF_STYLE.items() if line.startswith(k)), "")
        out.print(line, style=style, markup=False, highlight=False)
