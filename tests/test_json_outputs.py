"""Every command that prints a table or columns has --json, and every --json output validates
against the JSON Schema `netorch schema KIND` prints for it: the store's outputs (history, diff,
verify --against) from runs made with the scripted executor, render's, the schema list, and the
lab's (status, up, probe) from data built without a lab."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import typer.main

from netorch.cli import main
from netorch.cli.app import app
from netorch.cli.schema import SCHEMAS
from netorch.device.messages import DeviceRequest, DeviceResult
from netorch.executor.scripted import ScriptedExecutor
from netorch.lab.probe import Probe, ProbesJson
from netorch.lab.state import LabStatus, NodeStatus
from netorch.run.engine import Engine
from netorch.run.options import ApplyOptions, PlanOptions
from netorch.service import Workspace
from netorch.store import Store

ROOT = Path(__file__).resolve().parent.parent


def valid(kind: str, document: Any) -> None:
    schema = SCHEMAS[kind]()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(document)


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code = main(list(argv))
    captured = capsys.readouterr()
    try:
        return code, json.loads(captured.out)
    except json.JSONDecodeError:
        raise AssertionError(f"not JSON (exit {code}): {captured.out!r} {captured.err!r}") from None


def commands(group: Any, prefix: str = "") -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group (typer's own click: not click.Group)
            found |= commands(command, f"{prefix}{name}-")
        else:
            found[prefix + name] = command
    return found


def test_every_json_option_has_its_schema() -> None:
    """A command with --json names its output's schema `netorch schema <command>` (lab up:
    lab-up); history's three outputs and verify --against have their own."""
    everything = commands(typer.main.get_group(app))
    with_json = {name for name, command in everything.items()
                 if any("--json" in getattr(p, "opts", ()) for p in command.params)}
    assert {"validate", "render", "plan", "apply", "rollback", "recover", "drift", "verify", "diff", "history",
            "schema", "lab-up", "lab-status", "lab-probe"} <= with_json
    assert with_json <= set(SCHEMAS)
    assert {"history-run", "history-verify", "verify-against"} <= set(SCHEMAS)


def scripted(phase: str, req: DeviceRequest) -> DeviceResult:
    answers: dict[str, dict[str, Any]] = {
        "prepare": {"status": "changes", "diff": "+ line", "opened": True, "fingerprint": "f"},
        "commit": {"status": "changed"}, "read_back": {"final": "new"},
    }
    return DeviceResult(host=req.host, action=req.action, **answers.get(req.action, {}))


@pytest.fixture
def store_with_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[int], list[str]]:
    """A store holding a plan and two applies of two revisions of the example intents (the second
    one with a route moved), made by the scripted executor; NETORCH_STORE names it."""
    path = tmp_path / "store.db"
    monkeypatch.setenv("NETORCH_STORE", str(path))
    second = tmp_path / "intents"
    shutil.copytree(ROOT / "intents", second)
    text = (ROOT / "intents" / "branch.yaml").read_text()
    (second / "branch.yaml").write_text(text.replace("routes:\n", "routes:\n  - name: branch-extra\n"
                                                     "    prefix: 10.29.0.0/24\n    next_hop: 10.20.12.2\n"
                                                     "    hosts: [eos1]\n", 1))
    assert (second / "branch.yaml").read_text() != text
    runs: list[int] = []
    revisions: list[str] = []
    store = Store(path)
    try:
        for intents in (ROOT / "intents", second):
            ws = Workspace(ROOT / "inventory", intents, ROOT / "netorch" / "templates")
            engine = Engine(ws, store, executor=ScriptedExecutor(scripted))
            assert engine.plan(PlanOptions(limit="r1,eos1", record=True)).exit_code == 2
            report = engine.apply(ApplyOptions(limit="r1,eos1"))
            assert report.exit_code == 0 and report.run_id is not None
            runs.append(report.run_id)
            revisions.append(report.revision)
    finally:
        store.close()
    assert revisions[0] != revisions[1]
    return path, runs, revisions


def test_history_diff_and_differential_json(store_with_runs: tuple[Path, list[int], list[str]],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    _, runs, revisions = store_with_runs
    base = ["--inventory", str(ROOT / "inventory"), "--intents", str(ROOT / "intents")]
    code, listed = cli_json(capsys, "history", "--json")
    assert code == 0 and [r["id"] for r in listed if r["kind"] == "apply"] == sorted(runs, reverse=True)
    valid("history", listed)
    code, one = cli_json(capsys, "history", str(runs[1]), "--json")
    assert code == 0 and one["id"] == runs[1] and {d["host"] for d in one["devices"]} == {"r1", "eos1"}
    valid("history-run", one)
    code, verified = cli_json(capsys, *base, "verify", "--json")
    assert code == 0
    valid("verify", verified)
    code, kept = cli_json(capsys, "history", "--kind", "verify", "--json")
    assert code == 0 and kept and kept[0]["verdict"] == "ok"
    valid("history-verify", kept)
    code, diff = cli_json(capsys, "diff", revisions[0], revisions[1], "--json")
    assert code == 0 and "+    prefix: 10.29.0.0/24" in diff["intents"].splitlines()
    assert (diff["a"], diff["b"]) == (revisions[0], revisions[1])
    valid("diff", diff)
    code, differential = cli_json(capsys, *base, "verify", "--against", str(runs[1]), "--json")
    assert code in (0, 2) and differential["verdict"] in ("same", "different")
    valid("verify-against", differential)
    broken = dict(differential, verdict="maybe")
    with pytest.raises(jsonschema.ValidationError):
        valid("verify-against", broken)


def test_recover_json_with_nothing_to_recover(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("NETORCH_STORE", str(tmp_path / "store.db"))
    code, report = cli_json(capsys, "--inventory", str(ROOT / "inventory"), "--intents", str(ROOT / "intents"),
                            "recover", "--json")
    assert code == 0 and report["kind"] == "recover" and report["devices"] == []
    valid("recover", report)


def test_recover_abandon_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("NETORCH_STORE", str(tmp_path / "store.db"))
    store = Store(tmp_path / "store.db")
    run_id = store.start_run("apply", "someone", "abc123")
    store.set_status(run_id, "interrupted")
    store.close()
    code, record = cli_json(capsys, "--inventory", str(ROOT / "inventory"), "--intents", str(ROOT / "intents"),
                            "recover", "--abandon", str(run_id), "--json")
    assert code == 0 and record["id"] == run_id and record["status"] == "abandoned"
    valid("history-run", record)


def test_render_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, document = cli_json(capsys, "--inventory", str(ROOT / "inventory"), "--intents", str(ROOT / "intents"),
                              "render", "--out", str(tmp_path / "out"), "--limit", "r1,eos1", "--json")
    assert code == 0 and set(document["hosts"]) == {"r1", "eos1"}
    assert document["files"] == sum(1 for p in (tmp_path / "out").rglob("*") if p.is_file())
    valid("render", document)


def test_schema_list_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, listed = cli_json(capsys, "schema", "--json")
    assert code == 0 and [e["name"] for e in listed] == list(SCHEMAS)
    valid("schema", listed)
    assert main(["schema"]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    for name in SCHEMAS:
        assert name in printed


def lab_status() -> LabStatus:
    """A lab's status as `netorch lab status` reports it, built without a lab."""
    nodes = [NodeStatus(name="r1", kind="router", namespace="nol-r1", mgmt="198.18.0.11", port=22,
                        processes={"zebra": 101, "staticd": 102, "sshd": 103, "lldpd": None}, healthy=False),
             NodeStatus(name="h1", kind="host", namespace="nol-h1", healthy=True)]
    return LabStatus(run_dir=Path("/run/netorch-lab"), state="degraded", prefix="nol", bridge="nol-br",
                     inventory_dir=Path("/run/netorch-lab/inventory"), up_seconds=1.5, nodes=nodes)


def test_lab_status_and_up_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = json.loads(lab_status().model_dump_json())
    valid("lab-status", document)
    valid("lab-up", document)
    with pytest.raises(jsonschema.ValidationError):
        valid("lab-status", dict(document, state="sideways"))
    code, down = cli_json(capsys, "lab", "status", "--run-dir", str(tmp_path / "none"), "--json")
    assert code == 1 and down["state"] == "down"  # no lab there: reported, and not green
    valid("lab-status", down)


def test_lab_probe_json() -> None:
    probes = [Probe(src="h1", dst="h2", dst_ip="10.2.0.10", protocol="tcp", port=443, expected=True,
                    reason="service web", observed=False),
              Probe(src="h3", dst="h2", dst_ip="10.2.0.10", protocol="icmp", port=None, expected=False,
                    reason="no rule from guests to servers", observed=False)]
    document = json.loads(ProbesJson.model_validate([p.as_dict() for p in probes]).model_dump_json())
    assert [p["ok"] for p in document] == [False, True]
    valid("lab-probe", document)
