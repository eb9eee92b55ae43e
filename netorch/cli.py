"""The netorch command line: a thin adapter over netorch.service.

Exit codes: 0 success (nothing to change / in sync); 1 error (invalid input,
device failure, bad usage); 2 changes pending (plan) or drift found (drift)."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

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


@dataclass(frozen=True)
class State:
    """What the global options name, kept on typer's context (ctx.obj) for every command,
    the lab's included."""

    workspace: Workspace
    executor: str | None = None


@app.callback()
def _global(
    ctx: typer.Context,
    inventory: Annotated[Path, typer.Option("--inventory", "-i", envvar="NETORCH_INVENTORY",
                                            help="Nornir SimpleInventory folder.")] = Path("inventory"),
    intents: Annotated[Path, typer.Option("--intents", envvar="NETORCH_INTENTS",
                                          help="Folder (or file) of intent YAML files.")] = Path("intents"),
    templates: Annotated[Path, typer.Option("--templates", envvar="NETORCH_TEMPLATES",
                                            help="Templates folder (templates/<platform>/).")] = Path("templates"),
    executor: Annotated[str | None, typer.Option(
        "--executor", envvar="NETORCH_EXECUTOR", show_envvar=True,
        help="Where device work runs: inprocess (default), celery (Redis at 127.0.0.1:6379/0) or "
             "celery:redis://HOST:PORT/DB (see `netorch worker`).")] = None,
    accept_new_host_keys: Annotated[bool, typer.Option(
        "--accept-new-host-keys",
        help="Trust unknown SSH host keys on first use and add them to known_hosts (changed keys are always "
             "refused); also NETORCH_ACCEPT_NEW_HOST_KEYS=1.")] = False,
) -> None:
    ctx.obj = State(Workspace(inventory, intents, templates), executor)
    if accept_new_host_keys:
        from netorch.credentials import set_accept_new_host_keys

        set_accept_new_host_keys(True)


def print_problems(problems: list[Problem] | tuple[Problem, ...]) -> None:
    for problem in problems:
        err.print(str(problem), markup=False, highlight=False)
    err.print(f"{len(problems)} problem(s) found", style="bold red")


@app.command("validate")
def validate_cmd(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Validate intents against the inventory; report every problem with file:line."""
    state: State = ctx.obj
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
    ctx: typer.Context,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Write DIR/<host>/<artifact>.")] = Path("out"),
    limit: Annotated[str | None, typer.Option("--limit", "-l", help="Host or group (comma list).")] = None,
) -> None:
    """Compile the intents and render every host's config artifacts into DIR/<host>/."""
    state: State = ctx.obj
    rendered = state.workspace.render(limit, processes=os.cpu_count() or 1)
    written = write_rendered(rendered, out_dir)
    out.print(f"rendered {len(written)} artifact(s) for {len(rendered)} host(s) into {out_dir}/",
              highlight=False)
    for host, files in sorted(rendered.items()):
        out.print(f"  {host}: {', '.join(sorted(files))}", highlight=False)


def _engine(state: State, credentials: Path | None, store: bool = True) -> Any:
    from netorch.engine import Engine
    from netorch.executor import executor_from_spec
    from netorch.store import Store

    return Engine(state.workspace, Store() if store else None, str(credentials) if credentials else None,
                  executor=executor_from_spec(state.executor))


CredOpt = Annotated[Path | None, typer.Option("--credentials", envvar="NETORCH_CREDENTIALS",
                                              help="Credentials file (see README).", show_envvar=True)]
LimitOpt = Annotated[str | None, typer.Option("--limit", "-l", help="Host or group (comma list).")]
WorkersOpt = Annotated[int, typer.Option("--workers", "-w", min=1, max=500, help="Parallel devices.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
LockWaitOpt = Annotated[float, typer.Option("--lock-wait", min=0, max=3600, help="Seconds to wait for devices "
                                            "another run holds before giving up.")]

class RunKind(StrEnum):
    APPLY = "apply"
    PLAN = "plan"
    DRIFT = "drift"
    RECOVER = "recover"
    VERIFY = "verify"


STATUS_STYLE = {"unchanged": "green", "changes": "yellow", "changed": "cyan", "failed": "bold red",
                "interrupted": "bold red", "recovered": "magenta",
                "unreachable": "bold red", "rolled_back": "magenta", "reverted": "magenta", "skipped": "dim",
                "in_sync": "green", "drift": "yellow"}


def _progress(total: int, enabled: bool) -> Any:
    from contextlib import nullcontext

    if not enabled or not out.is_terminal:
        return nullcontext(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=True)


def _run_with_progress(fn: Any, total: int, as_json: bool, **kwargs: Any) -> Any:
    with _progress(total, not as_json) as bar:
        if bar is None:
            return fn(**kwargs)
        tasks: dict[str, Any] = {}

        def tick(phase: str, host: str, status: str) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.advance(tasks[phase])

        return fn(progress=tick, **kwargs)


def print_report(report: Any, as_json: bool, show_diff: bool = True) -> None:
    if as_json:
        out.print_json(json.dumps(report.as_dict()))
        return
    from rich.table import Table

    if not report.devices:
        out.print(f"netorch {report.kind}: {report.message}", highlight=False)
        return
    table = Table(title=f"netorch {report.kind}: {report.status}", title_justify="left")
    for col in ("device", "platform", "via", "status", "now", "detail"):
        table.add_column(col)
    for d in report.devices:
        detail = d.error or (f"{len(d.diff.splitlines())} line(s) of diff" if d.diff else "")
        table.add_row(d.host, d.platform, d.transport, f"[{STATUS_STYLE.get(d.status, '')}]{d.status}[/]",
                      d.final, Text(detail))
    out.print(table)
    if show_diff:
        for d in report.devices:
            if d.diff:
                out.rule(f"{d.host}", style="dim")
                for line in d.diff.splitlines():
                    style = "green" if line.startswith("+") else "red" if line.startswith("-") else ""
                    out.print(line, style=style, markup=False, highlight=False)
    tail = f" (run {report.run_id})" if report.run_id else ""
    out.print(f"{report.message}{tail} in {report.duration:.1f}s", highlight=False)


NoVerifyOpt = Annotated[bool, typer.Option("--no-verify", help="Skip `netorch verify` (by default a failed "
                                           "promise refuses the run before any device is touched).")]


def print_verify(report: Any, as_json: bool, to: Console) -> None:
    if as_json:
        to.print_json(json.dumps(report.as_dict()))
        return
    for line in report.lines():
        style = "bold red" if line.startswith("FAIL") else "yellow" if line.startswith("WARNING") else ""
        to.print(line, style=style, markup=False, highlight=False)


def _keep_verification(workspace: Workspace, kind: str, result: Any,
                       options: dict[str, Any] | None = None) -> int | None:
    """Keep a verification in the store; a store that cannot be written only warns (verify is
    offline and useful without one; plan and apply fail on such a store anyway)."""
    from netorch.engine import actor_name
    from netorch.errors import StoreError
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


def _link_verification(engine: Any, verification: int | None, run_id: int | None) -> None:
    from netorch.errors import StoreError

    if verification is None or run_id is None or engine.store is None:
        return
    try:
        engine.store.link_verification(verification, run_id)
    except StoreError as exc:
        err.print(f"warning: verification {verification} is not linked to run {run_id}: {exc}", markup=False,
                  highlight=False)


def _verify_first(workspace: Workspace, limit: str | None, no_verify: bool, kind: str) -> int | None:
    """plan and apply: verify the compiled intents first (kept in the store, linked to the run
    once it exists); a failed promise refuses the run."""
    if no_verify:
        return None
    from netorch.verify import VerifyFailed, verify_or_refuse
    try:
        report = verify_or_refuse(workspace, limit)
    except VerifyFailed as exc:
        _keep_verification(workspace, kind, exc.report, {"limit": limit})
        print_verify(exc.report, False, err)
        err.print("refused: a promise of the intents fails on the compiled network (nothing was pushed; "
                  "--no-verify skips this check)", style="bold red")
        raise typer.Exit(EXIT_ERROR) from None
    return _keep_verification(workspace, kind, report, {"limit": limit})


DIFF_STYLE = {"NEWLY ALLOWED": "yellow", "NEWLY BLOCKED": "bold red", "NOTE": "dim", "UNREADABLE": "bold red"}


def print_differential(diff: Any, as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps(diff.as_dict()))
        return
    for line in diff.lines():
        style = next((v for k, v in DIFF_STYLE.items() if line.startswith(k)), "")
        out.print(line, style=style, markup=False, highlight=False)


@app.command("verify")
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
    workers: WorkersOpt = 10,
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
        if failures:
            raise typer.BadParameter("--failures does not apply to --against (a differential with every link up)")
        from netorch.store import Store
        from netorch.verify.against import verify_against

        store = Store()
        live = against == "live"
        total = len(state.workspace.select(limit)) if live else 0
        diff = _run_with_progress(verify_against, total, as_json or not live, ws=state.workspace, against=against,
                                  store=store, credentials=str(credentials) if credentials else None, limit=limit,
                                  workers=workers)
        print_differential(diff, as_json)
        _keep_verification(state.workspace, "verify", diff, {"limit": limit})
        raise typer.Exit(diff.exit_code)
    from netorch.verify import verify
    report = verify(state.workspace, limit, failures)
    print_verify(report, as_json, out)
    _keep_verification(state.workspace, "verify", report, {"limit": limit, "failures": failures or None})
    raise typer.Exit(report.exit_code)


@app.command("plan")
def plan_cmd(
    ctx: typer.Context,
    limit: LimitOpt = None,
    as_json: JsonOpt = False,
    workers: WorkersOpt = 10,
    save: Annotated[Path | None, typer.Option("--out", "-o", help="Also write a saved plan FILE that "
                                              "`netorch apply FILE` applies exactly.")] = None,
    credentials: CredOpt = None,
    no_verify: NoVerifyOpt = False,
) -> None:
    """Show, per device, the diff between live config and desired config.

    Exit 0 when nothing would change, 2 when something would, 1 on error."""
    state: State = ctx.obj
    verification = _verify_first(state.workspace, limit, no_verify, "plan")
    engine = _engine(state, credentials)
    _notice_interrupted(engine)
    total = len(state.workspace.select(limit))
    report = _run_with_progress(engine.plan, total, as_json, limit=limit, workers=workers, record=True, out=save)
    _link_verification(engine, verification, report.run_id)
    print_report(report, as_json)
    raise typer.Exit(report.exit_code)


ConfirmTimeoutOpt = Annotated[int | None, typer.Option(
    "--confirm-timeout", min=5, max=3600, help="Devices with a revert timer of their own (FRR, NETCONF) "
    "always commit confirmed: they revert by themselves unless the run confirms within S seconds "
    "(default 120; netorch re-arms the timer when a slow device needs more).")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Load and diff only; commit nothing.")]


@app.command("apply")
def apply_cmd(
    ctx: typer.Context,
    plan_file: Annotated[Path | None, typer.Argument(metavar="[PLANFILE]", help="A saved plan (`plan --out`): "
                                                     "apply exactly it.")] = None,
    limit: LimitOpt = None,
    dry_run: DryRunOpt = False,
    workers: WorkersOpt = 10,
    confirm_timeout: ConfirmTimeoutOpt = None,
    best_effort: Annotated[bool, typer.Option("--best-effort", help="Keep the devices that succeeded; "
                                              "by default any failure rolls every device back.")] = False,
    canary: Annotated[str | None, typer.Option("--canary", help="Staged rollout: these devices (a comma "
                                               "list) or the first N first.")] = None,
    wave_size: Annotated[str | None, typer.Option("--wave-size", help="Staged rollout: then waves of N "
                                                  "devices or P% of them.")] = None,
    max_failures: Annotated[int, typer.Option("--max-failures", min=0, help="Staged rollout: failures "
                                              "allowed before the rollout stops and rolls back.")] = 0,
    pause: Annotated[float, typer.Option("--pause", min=0, max=86400, help="Staged rollout: seconds between "
                                         "waves.")] = 0.0,
    keep_completed: Annotated[bool, typer.Option("--keep-completed", help="Staged rollout: when it stops, "
                                                 "keep the waves that completed.")] = False,
    lock_wait: LockWaitOpt = 30.0,
    as_json: JsonOpt = False,
    credentials: CredOpt = None,
    no_verify: NoVerifyOpt = False,
) -> None:
    """Push the desired configs: load and diff every device first, then commit, verify and
    confirm; any failure rolls back the devices already committed (unless --best-effort).
    Every touched device is read back at the end: the report says what it is now."""
    state: State = ctx.obj
    from netorch.plans import SavedPlan
    from netorch.rollout import Rollout

    verification = _verify_first(state.workspace, limit, no_verify, "apply")
    engine = _engine(state, credentials)
    _notice_interrupted(engine)
    saved = None
    if plan_file is not None:
        if limit is not None:
            raise typer.BadParameter("a saved plan names its devices: no --limit with PLANFILE")
        saved = SavedPlan.load(plan_file, engine.store.path)
    staged = canary is not None or wave_size is not None
    rollout = Rollout.parse(canary, wave_size, max_failures, pause, keep_completed) if staged else None
    total = len(saved.devices) if saved else len(state.workspace.select(limit))
    report = _run_with_progress(engine.apply, total, as_json, limit=limit, workers=workers, dry_run=dry_run,
                                confirm_timeout=confirm_timeout, best_effort=best_effort, lock_wait=lock_wait,
                                saved=saved, rollout=rollout)
    _link_verification(engine, verification, report.run_id)
    print_report(report, as_json)
    raise typer.Exit(report.exit_code)


@app.command("rollback")
def rollback_cmd(
    ctx: typer.Context,
    to: Annotated[str | None, typer.Option("--to", metavar="RUN|REV", help="An apply run id or a revision "
                                           "(default: the revision before the latest applied one).")] = None,
    limit: LimitOpt = None,
    dry_run: DryRunOpt = False,
    workers: WorkersOpt = 10,
    confirm_timeout: ConfirmTimeoutOpt = None,
    lock_wait: LockWaitOpt = 30.0,
    as_json: JsonOpt = False,
    credentials: CredOpt = None,
) -> None:
    """Re-apply exactly what an earlier apply run pushed (its stored artifacts), through the same
    transaction as apply: the devices go back to that revision."""
    state: State = ctx.obj
    from netorch.revisions import target

    engine = _engine(state, credentials)
    _notice_interrupted(engine)
    hosts = [h.name for h in state.workspace.select(limit)] if limit is not None else None
    goal = target(engine.store, to, hosts)
    report = _run_with_progress(engine.apply, len(goal.jobs), as_json, workers=workers, dry_run=dry_run,
                                confirm_timeout=confirm_timeout, lock_wait=lock_wait, target=goal)
    print_report(report, as_json)
    raise typer.Exit(report.exit_code)


@app.command("diff")
def diff_cmd(
    rev_a: Annotated[str, typer.Argument(metavar="REV_A", help="A stored revision (hash or prefix).")],
    rev_b: Annotated[str, typer.Argument(metavar="REV_B", help="Another one.")],
    as_json: JsonOpt = False,
) -> None:
    """The differences between two stored revisions: in the intents and inventory files, and in
    each device's configuration as those revisions' applies pushed it."""
    from netorch.revisions import diff
    from netorch.store import Store

    result = diff(Store(), rev_a, rev_b)
    if as_json:
        out.print_json(json.dumps({"a": result.a, "b": result.b, "intents": result.intents,
                                   "devices": result.devices}))
        return
    for line in result.text().splitlines():
        style = "green" if line.startswith("+") else "red" if line.startswith("-") else ""
        out.print(line, style=style, markup=False, highlight=False)


@app.command("recover")
def recover_cmd(
    ctx: typer.Context,
    workers: WorkersOpt = 10,
    lock_wait: LockWaitOpt = 30.0,
    abandon: Annotated[int | None, typer.Option("--abandon", metavar="RUN", help="Close interrupted run RUN "
                                                "without touching its devices (they stay as they are).")] = None,
    as_json: JsonOpt = False,
    credentials: CredOpt = None,
) -> None:
    """Finish interrupted runs (a killed or crashed apply) from the store's journal: every device
    such a run may have changed is rolled back to its configuration from before the run."""
    state: State = ctx.obj
    from netorch.recover import abandon_run, recover

    engine = _engine(state, credentials)
    if abandon is not None:
        out.print(abandon_run(engine.store, abandon), highlight=False)
        return
    report = _run_with_progress(recover, 0, as_json, engine=engine, workers=workers, lock_wait=lock_wait)
    print_report(report, as_json, show_diff=False)
    raise typer.Exit(report.exit_code)


def _notice_interrupted(engine: Any) -> None:
    from netorch.recover import pending_notice

    if engine.store is not None:
        for line in pending_notice(engine.store):
            err.print(f"warning: {line}", style="yellow", markup=False, highlight=False)


@app.command("drift")
def drift_cmd(
    ctx: typer.Context,
    limit: LimitOpt = None,
    as_json: JsonOpt = False,
    remediate: Annotated[bool, typer.Option("--remediate", help="Bring drifted devices back to intent "
                                            "through apply (same transaction and records).")] = False,
    workers: WorkersOpt = 10,
    allow_unreachable: Annotated[bool, typer.Option("--allow-unreachable", help="Unreachable devices do not "
                                                    "make the exit code 1.")] = False,
    show_unmanaged: Annotated[bool, typer.Option("--show-unmanaged", help="Also list live lines netorch "
                                                 "does not manage.")] = False,
    show_schema: Annotated[bool, typer.Option("--schema", help="Print the JSON schema of --json and exit.")] = False,
    credentials: CredOpt = None,
) -> None:
    """Compare live config and live state with the intents. Exit 0 in sync, 2 drift, 1 error
    (an unreachable device is reported as unreachable, never as drift)."""
    state: State = ctx.obj
    from netorch.drift import DriftChecker, schema

    if show_schema:
        out.print_json(json.dumps(schema()))
        return
    engine = _engine(state, credentials)
    _notice_interrupted(engine)
    checker = DriftChecker(engine)
    total = len(state.workspace.select(limit))
    report = _run_with_progress(checker.check, total, as_json, limit=limit, workers=workers,
                                remediate=remediate, allow_unreachable=allow_unreachable,
                                show_unmanaged=show_unmanaged)
    if as_json:
        out.print_json(report.model_dump_json())
        raise typer.Exit(report.exit_code)
    from rich.table import Table

    table = Table(title=f"netorch drift: {report.status}", title_justify="left")
    for col in ("device", "platform", "via", "status", "config", "state", "detail"):
        table.add_column(col)
    for d in report.devices:
        kinds: dict[str, int] = {}
        for c in d.config:
            kinds[c.kind] = kinds.get(c.kind, 0) + 1
        config = ", ".join(f"{v} {k}" for k, v in sorted(kinds.items()))
        table.add_row(d.host, d.platform, d.transport, f"[{STATUS_STYLE.get(d.status, '')}]{d.status}[/]",
                      config, str(len(d.state)) if d.state else "", d.error)
    out.print(table)
    from netorch.configtree.base import Difference, render_diffs

    for d in report.devices:
        if not (d.config or d.state or d.unmanaged):
            continue
        out.rule(d.host, style="dim")
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
    out.print(f"{drifted} device(s) drifted{tail} in {report.duration:.1f}s", highlight=False)
    raise typer.Exit(report.exit_code)


@app.command("daemon")
def daemon_cmd(
    config: Annotated[Path | None, typer.Option("--config", "-c", envvar="NETORCH_DAEMON_CONFIG",
                                                help="Daemon config (YAML); see README.")] = None,
) -> None:
    """Run the daemon in the foreground: scheduled drift checks and the HTTP API."""
    from netorch.daemon.main import serve

    raise typer.Exit(serve(config))


@app.command("worker")
def worker_cmd(
    ctx: typer.Context,
    queues: Annotated[str, typer.Option("--queues", "-Q", help="The regions this worker serves (comma list; "
                                        "a device's region is its inventory data.region, else 'default').")],
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1, max=64,
                                             help="Batches this worker runs at once.")] = 2,
    credentials: CredOpt = None,
) -> None:
    """Run a Celery worker in the foreground for these regions: it runs the device work of
    plan, apply and drift with Nornir here, near its devices, and keeps the sessions warm.
    The broker is the one of --executor / NETORCH_EXECUTOR (celery:redis://HOST:PORT/DB)."""
    state: State = ctx.obj
    from netorch.executor import DEFAULT_BROKER
    from netorch.executor.celery import serve_worker

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


@app.command("history")
def history_cmd(
    run_id: Annotated[int | None, typer.Argument(help="Show one run in full.")] = None,
    limit: Annotated[int, typer.Option("--last", "-n", help="How many runs.")] = 20,
    kind: Annotated[RunKind | None, typer.Option("--kind", help="apply, plan, drift, recover; verify: the "
                                                 "verifications kept (each `netorch verify`, and plan's and "
                                                 "apply's before any device is touched).")] = None,
    host: Annotated[str | None, typer.Option("--host", help="Runs that touched this device.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Runs recorded in the local store (who, when, revision, outcome, per-device diffs)."""
    import datetime

    from netorch.store import Store

    store = Store()
    store.interrupted_runs()  # a run whose process is gone shows as interrupted
    if run_id is not None:
        record = store.run(run_id)
        if record is None:
            err.print(f"no run {run_id} in {store.path}")
            raise typer.Exit(EXIT_ERROR)
        if as_json:
            out.print_json(json.dumps(record.as_dict()))
            return
        when = datetime.datetime.fromtimestamp(record.started_at).isoformat(timespec="seconds")
        out.print(f"run {record.id}: {record.kind} by {record.actor} at {when}, revision {record.revision}: "
                  f"{record.status}", highlight=False)
        for d in record.devices:
            final = f" (now {d.details['final']})" if d.details.get("final") else ""
            out.print(f"  {d.host}: {d.status}{final} {d.error}", highlight=False, markup=False)
            for line in d.diff.splitlines():
                out.print(f"    {line}", markup=False, highlight=False)
        if not record.devices or record.status in ("interrupted", "running"):
            for e in store.journal_entries(record.id):
                out.print(f"  {e.host}: last phase {e.phase}", highlight=False, markup=False)
        if record.status == "interrupted":
            out.print("  interrupted: run `netorch recover` to roll its devices back", highlight=False)
        for v in record.verifications:
            _print_verification(v)
        return
    if kind == RunKind.VERIFY:
        _verification_history(store, limit, as_json)
        return
    runs = store.runs(limit=limit, kind=kind.value if kind else None, host=host)
    verified: dict[int, str] = {}
    for v in store.verifications(limit=10 * len(runs) + 10, run_ids=[r.id for r in runs]):
        if v.run_id is not None:
            verified.setdefault(v.run_id, v.verdict)
    if as_json:
        out.print_json(json.dumps([{**r.as_dict(with_devices=False), "verification": verified.get(r.id)}
                                   for r in runs]))
        return
    from rich.table import Table

    table = Table(title=f"netorch history ({store.path})", title_justify="left")
    for col in ("run", "kind", "started", "actor", "revision", "status", "verified", "devices"):
        table.add_column(col)
    for r in runs:
        when = datetime.datetime.fromtimestamp(r.started_at).isoformat(sep=" ", timespec="seconds")
        counts = r.summary.get("counts", {})
        table.add_row(str(r.id), r.kind, when, r.actor, r.revision, r.status, verified.get(r.id, ""),
                      ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    out.print(table)


def _print_verification(v: Any) -> None:
    """One kept verification, in the run view: its verdict and each failed promise's counterexample."""
    against = f" against {v.against}" if v.against else ""
    out.print(f"  verification {v.id}{against}: {v.verdict}: {v.summary}", markup=False, highlight=False)
    for f in v.failures:
        pkt = f.get("packet")
        example = (f" ({pkt['src']} -> {pkt['dst']} {pkt['protocol']}"
                   + (f"/{pkt['port']}" if pkt.get("port") is not None else "") + ")") if pkt else ""
        out.print(f"    FAIL {f.get('check')}: {f.get('subject')}: {f.get('message')}{example}", markup=False,
                  highlight=False)
    for c in v.details.get("changes", []):
        ex = c.get("example", {})
        out.print(f"    {str(c.get('kind', '')).upper()} {c.get('source_domain')} -> {c.get('destination_domain')}: "
                  f"{', '.join(c.get('sources', []))} -> {', '.join(c.get('destinations', []))}: "
                  f"{c.get('services')} (e.g. {ex.get('src')} -> {ex.get('dst')})", markup=False, highlight=False)


def _verification_history(store: Any, limit: int, as_json: bool) -> None:
    import datetime

    found = store.verifications(limit=limit)
    if as_json:
        out.print_json(json.dumps([v.as_dict() for v in found]))
        return
    from rich.table import Table

    table = Table(title=f"netorch verifications ({store.path})", title_justify="left")
    for col in ("id", "kind", "run", "when", "actor", "revision", "against", "verdict"):
        table.add_column(col, no_wrap=col in ("verdict", "kind"))
    for v in found:
        when = datetime.datetime.fromtimestamp(v.created_at).isoformat(sep=" ", timespec="seconds")
        table.add_row(str(v.id), v.kind, str(v.run_id or ""), when, v.actor, v.revision, Text(v.against), v.verdict)
    out.print(table)
    out.print("`netorch history --kind verify --json`: each one's failures and differences in full", highlight=False)


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
