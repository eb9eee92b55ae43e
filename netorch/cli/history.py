"""netorch history: the runs and the verifications kept in the local store, as tables, one
run in full, or --json."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from netorch.cli.common import EXIT_ERROR, JsonOpt
from netorch.cli.output import err, out, print_model, table

if TYPE_CHECKING:  # imported when used: `netorch --help` stays light
    from netorch.store import Store, VerificationRecord


class RunKind(StrEnum):
    APPLY = "apply"
    PLAN = "plan"
    DRIFT = "drift"
    RECOVER = "recover"
    VERIFY = "verify"


def history_cmd(
    run_id: Annotated[int | None, typer.Argument(metavar="RUN", help="Show this run in full.",
                                                 show_default=False)] = None,
    limit: Annotated[int, typer.Option("--last", "-n", min=1, help="How many runs (or verifications) to list.")] = 20,
    kind: Annotated[RunKind | None, typer.Option("--kind", metavar="KIND", help="Only the runs of this kind: "
                                                 "apply, plan, drift or recover; verify: the verifications kept "
                                                 "instead (each `netorch verify`, and plan's and apply's before "
                                                 "any device is touched).")] = None,
    host: Annotated[str | None, typer.Option("--host", metavar="HOST", help="Only the runs that touched this "
                                             "device.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Runs recorded in the local store (who, when, revision, outcome, per-device diffs)."""
    import datetime

    from netorch.store import Store

    if host is not None and not host.strip():
        raise typer.BadParameter("is empty: name a device, or leave it out for every run", param_hint=["--host"])
    store = Store()
    store.interrupted_runs()  # a run whose process is gone shows as interrupted
    if run_id is not None:
        record = store.run(run_id)
        if record is None:
            err.print(f"no run {run_id} in {store.path}")
            raise typer.Exit(EXIT_ERROR)
        if as_json:
            from netorch.cli.models import RunJson

            print_model(RunJson.model_validate(record.as_dict()))
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
        from netorch.cli.models import HistoryJson

        print_model(HistoryJson.model_validate([{**r.as_dict(with_devices=False), "verification": verified.get(r.id)}
                                                for r in runs]))
        return
    shown = table(f"netorch history ({store.path})", ("run", "kind", "started", "actor", "revision", "status",
                                                      "verified", "devices"))
    for r in runs:
        when = datetime.datetime.fromtimestamp(r.started_at).isoformat(sep=" ", timespec="seconds")
        counts = r.summary.get("counts", {})
        shown.add_row(str(r.id), r.kind, when, r.actor, r.revision, r.status, verified.get(r.id, ""),
                      ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    out.print(shown)


def _print_verification(v: VerificationRecord) -> None:
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


def _verification_history(store: Store, limit: int, as_json: bool) -> None:
    import datetime

    found = store.verifications(limit=limit)
    if as_json:
        from netorch.cli.models import VerificationsJson

        print_model(VerificationsJson.model_validate([v.as_dict() for v in found]))
        return
    shown = table(f"netorch verifications ({store.path})", ("id", "kind", "run", "when", "actor", "revision",
                                                            "against", "verdict"))
    for v in found:
        when = datetime.datetime.fromtimestamp(v.created_at).isoformat(sep=" ", timespec="seconds")
        shown.add_row(str(v.id), v.kind, str(v.run_id or ""), when, v.actor, v.revision, Text(v.against), v.verdict)
    out.print(shown)
    out.print("`netorch history --kind verify --json`: each one's failures and differences in full", highlight=False)
