"""The commands that change devices, or plan to: plan, apply, rollback and recover, with
verify's check before plan and apply."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from netorch.cli.common import (
    EXIT_ERROR,
    PATH_METAVAR,
    CredOpt,
    JsonOpt,
    LimitOpt,
    LockWaitOpt,
    WorkersOpt,
    keep_verification,
    make_engine,
    notice_interrupted,
)
from netorch.cli.output import err, out, print_model, print_report, print_verify, run_with_progress
from netorch.defaults import CONFIRM_TIMEOUT, LOCK_WAIT, WORKERS
from netorch.run.options import ApplyOptions, PlanOptions, RecoverOptions
from netorch.util import nonempty_path

if TYPE_CHECKING:  # imported when used: `netorch --help` stays light
    from netorch.cli.common import State
    from netorch.run.engine import Engine
    from netorch.service import Workspace

NoVerifyOpt = Annotated[bool, typer.Option("--no-verify", help="Skip `netorch verify` (by default a failed "
                                           "promise refuses the run before any device is touched).")]
ConfirmTimeoutOpt = Annotated[int | None, typer.Option(
    "--confirm-timeout", min=5, max=3600, help="Devices with a revert timer of their own (FRR, NETCONF) "
    "always commit confirmed: they revert by themselves unless the run confirms within S seconds "
    f"(default {CONFIRM_TIMEOUT}; netorch re-arms the timer when a slow device needs more).")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Load and diff only; commit nothing.")]


def _link_verification(engine: Engine, verification: int | None, run_id: int | None) -> None:
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
        keep_verification(workspace, kind, exc.report, {"limit": limit})
        print_verify(exc.report, False, err)
        err.print("refused: a promise of the intents fails on the compiled network (nothing was pushed; "
                  "--no-verify skips this check)", style="bold red")
        raise typer.Exit(EXIT_ERROR) from None
    return keep_verification(workspace, kind, report, {"limit": limit})


def plan_cmd(
    ctx: typer.Context,
    limit: LimitOpt = None,
    as_json: JsonOpt = False,
    workers: WorkersOpt = WORKERS,
    save: Annotated[Path | None, typer.Option("--out", "-o", help="Also write a saved plan FILE that "
                                              "`netorch apply FILE` applies exactly.", parser=nonempty_path,
                                              metavar=PATH_METAVAR)] = None,
    credentials: CredOpt = None,
    no_verify: NoVerifyOpt = False,
) -> None:
    """Show, per device, the diff between live config and desired config.

    Exit 0 when nothing would change, 2 when something would, 1 on error."""
    state: State = ctx.obj
    if save is not None:  # before any device is read: a plan that cannot be written is known now
        if save.is_dir():
            raise typer.BadParameter(f"{save} is a folder: name the plan FILE to write", param_hint=["--out", "-o"])
        if not save.parent.is_dir():
            raise typer.BadParameter(f"{save}: no folder {save.parent} to write it in", param_hint=["--out", "-o"])
    verification = _verify_first(state.workspace, limit, no_verify, "plan")
    engine = make_engine(state, credentials)
    notice_interrupted(engine)
    total = len(state.workspace.select(limit))
    options = PlanOptions(limit=limit, workers=workers, record=True, out=save)
    report = run_with_progress(
        lambda progress: engine.plan(options, progress=progress), total, as_json)
    _link_verification(engine, verification, report.run_id)
    print_report(report, as_json)
    raise typer.Exit(report.exit_code)


def apply_cmd(
    ctx: typer.Context,
    plan_file: Annotated[Path | None, typer.Argument(metavar="PLANFILE", help="A saved plan (`plan --out`): "
                                                     "apply exactly it.", parser=nonempty_path)] = None,
    limit: LimitOpt = None,
    dry_run: DryRunOpt = False,
    workers: WorkersOpt = WORKERS,
    confirm_timeout: ConfirmTimeoutOpt = None,
    best_effort: Annotated[bool, typer.Option("--best-effort", help="Keep the devices that succeeded; "
                                              "by default any failure rolls every device back.")] = False,
    canary: Annotated[str | None, typer.Option("--canary", metavar="HOSTS|N", help="Staged rollout: these "
                                               "devices (a comma list), or the first N, first.")] = None,
    wave_size: Annotated[str | None, typer.Option("--wave-size", metavar="N|P%", help="Staged rollout: "
                                                  "then waves of N devices or P% of them.")] = None,
    max_failures: Annotated[int, typer.Option("--max-failures", min=0, help="Staged rollout: failures "
                                              "allowed before the rollout stops and rolls back.")] = 0,
    pause: Annotated[float, typer.Option("--pause", min=0, max=86400, help="Staged rollout: seconds between "
                                         "waves.")] = 0.0,
    keep_completed: Annotated[bool, typer.Option("--keep-completed", help="Staged rollout: when it stops, "
                                                 "keep the waves that completed.")] = False,
    lock_wait: LockWaitOpt = LOCK_WAIT,
    as_json: JsonOpt = False,
    credentials: CredOpt = None,
    no_verify: NoVerifyOpt = False,
) -> None:
    """Push the desired configs: load and diff every device first, then commit, verify and
    confirm; any failure rolls back the devices already committed (unless --best-effort).
    Every touched device is read back at the end: the report says what it is now."""
    from netorch.plans import SavedPlan
    from netorch.run.rollout import Rollout
    from netorch.store import Store

    state: State = ctx.obj
    verification = _verify_first(state.workspace, limit, no_verify, "apply")
    store = Store()
    engine = make_engine(state, credentials, store)
    notice_interrupted(engine)
    saved = None
    if plan_file is not None:
        if limit is not None:
            raise typer.BadParameter("a saved plan names its devices: no --limit with PLANFILE")
        saved = SavedPlan.load(plan_file, store.path)
    staged = canary is not None or wave_size is not None
    rollout = Rollout.parse(canary, wave_size, max_failures, pause, keep_completed) if staged else None
    total = len(saved.devices) if saved else len(state.workspace.select(limit))
    options = ApplyOptions(limit=limit, workers=workers, dry_run=dry_run, confirm_timeout=confirm_timeout
                           or CONFIRM_TIMEOUT, best_effort=best_effort, lock_wait=lock_wait, rollout=rollout)
    report = run_with_progress(
        lambda progress: engine.apply(options, saved=saved, progress=progress), total, as_json)
    _link_verification(engine, verification, report.run_id)
    print_report(report, as_json)
    raise typer.Exit(report.exit_code)


def rollback_cmd(
    ctx: typer.Context,
    to: Annotated[str | None, typer.Option("--to", metavar="RUN|REV", help="An apply run id or a revision "
                                           "(default: the revision before the latest applied one).")] = None,
    limit: LimitOpt = None,
    dry_run: DryRunOpt = False,
    workers: WorkersOpt = WORKERS,
    confirm_timeout: ConfirmTimeoutOpt = None,
    lock_wait: LockWaitOpt = LOCK_WAIT,
    as_json: JsonOpt = False,
    credentials: CredOpt = None,
) -> None:
    """Re-apply exactly what an earlier apply run pushed (its stored artifacts), through the same
    transaction as apply: the devices go back to that revision."""
    from netorch.run.revisions import target
    from netorch.store import Store

    state: State = ctx.obj
    store = Store()
    engine = make_engine(state, credentials, store)
    notice_interrupted(engine)
    hosts = [h.name for h in state.workspace.select(limit)] if limit is not None else None
    goal = target(store, to, hosts)
    options = ApplyOptions(workers=workers, dry_run=dry_run, confirm_timeout=confirm_timeout or CONFIRM_TIMEOUT,
                           lock_wait=lock_wait)
    report = run_with_progress(
        lambda progress: engine.apply(options, target=goal, progress=progress),
        len(goal.jobs), as_json)
    print_report(report, as_json)
    raise typer.Exit(report.exit_code)


def recover_cmd(
    ctx: typer.Context,
    workers: WorkersOpt = WORKERS,
    lock_wait: LockWaitOpt = LOCK_WAIT,
    abandon: Annotated[int | None, typer.Option("--abandon", metavar="RUN", help="Close interrupted run RUN "
                                                "without touching its devices (they stay as they are); with "
                                                "--json, print that run as `history RUN --json` does.")] = None,
    as_json: JsonOpt = False,
    credentials: CredOpt = None,
) -> None:
    """Finish interrupted runs (a killed or crashed apply) from the store's journal: every device
    such a run may have changed is rolled back to its configuration from before the run."""
    from netorch.run.recover import abandon_run, recover

    state: State = ctx.obj
    engine = make_engine(state, credentials)
    if abandon is not None:
        said = abandon_run(engine.store, abandon)
        record = engine.store.run(abandon) if engine.store is not None and as_json else None
        if record is not None:  # --json: the abandoned run in full, as `history RUN --json` shows it
            from netorch.cli.models import RunJson

            print_model(RunJson.model_validate(record.as_dict()))
            return
        out.print(said, highlight=False)
        return
    report = run_with_progress(
        lambda progress: recover(engine, RecoverOptions(workers=workers, lock_wait=lock_wait), progress=progress),
        0, as_json)
    print_report(report, as_json, show_diff=False)
    raise typer.Exit(report.exit_code)
