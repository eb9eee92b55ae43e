"""`netorch schema`: every file netorch reads and every --json output has a JSON Schema, and the
files and outputs netorch writes validate against them; the field reference is current."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from netorch.cli import main
from netorch.cli.schema import SCHEMAS, reference
from netorch.device.drift import DeviceDrift
from netorch.device.messages import DeviceRequest, DeviceResult
from netorch.executor.scripted import ScriptedExecutor
from netorch.run.drift import DriftChecker
from netorch.run.engine import Engine
from netorch.run.options import ApplyOptions, DriftOptions, PlanOptions
from netorch.service import Workspace
from netorch.store import Store
from netorch.yamlsrc import load_file

ROOT = Path(__file__).resolve().parent.parent


def schema_of(kind: str) -> dict[str, Any]:
    found = SCHEMAS[kind]()
    jsonschema.Draft202012Validator.check_schema(found)
    return found


def valid(kind: str, document: Any) -> None:
    jsonschema.Draft202012Validator(schema_of(kind)).validate(document)


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code = main(list(argv))
    return code, json.loads(capsys.readouterr().out)


def test_the_field_reference_is_current() -> None:
    """docs/reference.md is `netorch schema --reference`: regenerate it after changing a model."""
    assert (ROOT / "docs" / "reference.md").read_text() == reference()
    text = reference()
    for field in ("redistribute", "or_longer", "route_reflectors", "probe_from", "mgmt_interface"):
        assert f"| `{field}` |" in text


@pytest.mark.parametrize("kind", sorted(SCHEMAS))
def test_every_schema_prints_as_json_schema(kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, printed = cli_json(capsys, "schema", kind)
    assert code == 0 and printed == schema_of(kind)


def test_an_unknown_schema_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "nothing"]) == 1
    assert "intents, inventory" in capsys.readouterr().err


def read(path: Path) -> Any:
    """A YAML file as netorch reads it (YAML 1.2 scalars: `rd: 65001:1` is a string)."""
    data, problems = load_file(path)
    assert problems == []
    return json.loads(json.dumps(data if data is not None else {}))


def test_the_example_files_validate_against_their_schemas() -> None:
    examples = [ROOT, *sorted(p for p in (ROOT / "tests" / "cases").iterdir() if p.is_dir())]
    for example in examples:
        for path in sorted((example / "intents").glob("*.yaml")):
            valid("intents", read(path))
        for name in ("hosts.yaml", "groups.yaml"):
            if (example / "inventory" / name).exists():
                valid("inventory", read(example / "inventory" / name))
    valid("daemon-config", {"inventory": "inventory", "intents": "intents", "port": 8040})


def test_the_schemas_refuse_what_netorch_refuses() -> None:
    with pytest.raises(jsonschema.ValidationError):
        valid("intents", {"routes": [{"name": "a", "prefix": "10.0.0.0/8", "hosts": ["r1"], "nexthop": "x"}]})
    with pytest.raises(jsonschema.ValidationError):
        valid("intents", {"route": []})
    with pytest.raises(jsonschema.ValidationError):
        valid("daemon-config", {"port": 70000})


def test_validate_and_verify_json_outputs(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETORCH_STORE", str(tmp_path / "store.db"))
    base = ["--inventory", str(ROOT / "inventory"), "--intents", str(ROOT / "intents")]
    code, document = cli_json(capsys, *base, "validate", "--json")
    assert code == 0 and document["ok"]
    valid("validate", document)
    bad = tmp_path / "intents"
    bad.mkdir()
    (bad / "x.yaml").write_text("routes:\n  - name: a\n    prefix: 10.9.0.0/24\n    hosts: [nobody]\n")
    code, document = cli_json(capsys, "--inventory", str(ROOT / "inventory"), "--intents", str(bad),
                              "validate", "--json")
    assert code == 1 and document["problems"]
    valid("validate", document)
    code, document = cli_json(capsys, *base, "verify", "--json")
    assert code == 0
    valid("verify", document)


def device(phase: str, req: DeviceRequest) -> DeviceResult:
    answers: dict[str, dict[str, Any]] = {
        "prepare": {"status": "changes", "diff": "+ line", "opened": True, "fingerprint": "f"},
        "commit": {"status": "changed"}, "read_back": {"final": "new"},
        "drift": {"drift": DeviceDrift(host=req.host, platform="frr", transport="napalm",
                                       status="in_sync").model_dump(mode="json")},
    }
    return DeviceResult(host=req.host, action=req.action, **answers.get(req.action, {}))


def test_run_reports_validate_against_their_schemas(tmp_path: Path) -> None:
    ws = Workspace(ROOT / "inventory", ROOT / "intents", ROOT / "netorch" / "templates")
    engine = Engine(ws, Store(tmp_path / "store.db"), executor=ScriptedExecutor(device))
    plan = engine.plan(PlanOptions(limit="r1,r2"))
    applied = engine.apply(ApplyOptions(limit="r1,r2"))
    assert plan.exit_code == 2 and applied.exit_code == 0
    valid("plan", json.loads(json.dumps(plan.as_dict())))
    valid("apply", json.loads(json.dumps(applied.as_dict())))
    drift = DriftChecker(engine).check(DriftOptions(limit="r1,r2"))
    valid("drift", json.loads(drift.model_dump_json()))
    broken = applied.as_dict()
    broken["devices"][0]["status"] = "fine"
    with pytest.raises(jsonschema.ValidationError):
        valid("apply", broken)
