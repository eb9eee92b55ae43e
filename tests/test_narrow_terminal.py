"""Hints are never cut in a narrow terminal: at 40 and 60 columns every error, hint and fix text
a command prints appears whole (whitespace aside: the terminal may wrap it), and no table cuts
a cell with an ellipsis."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from netorch.cli import main, output
from netorch.device.drift import DeviceDrift
from netorch.lab import cli as lab_cli
from netorch.lab.probe import Probe
from netorch.run.drift import DriftChecker, DriftReport
from netorch.run.report import DeviceOutcome, RunReport

ROOT = Path(__file__).resolve().parent.parent
WIDTHS = (40, 60)
HINT = ("host key of r1 (198.18.0.11:22) is not known: run with --accept-new-host-keys to trust it on first use, "
        "or add it to /var/lib/netorch/known_hosts_of_a_long_path/known_hosts")
FIX = "eth1 is down on the device: bring it up (`ip link set eth1 up`) or remove it from the inventory"


def words(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(params=WIDTHS)
def width(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Every console netorch prints on, as wide as a terminal of `width` columns."""
    columns: int = request.param
    for console in (output.out, output.err, lab_cli.console, lab_cli.err_console):
        monkeypatch.setattr(console, "_width", columns)
    return columns


def whole(printed: str, *texts: str) -> None:
    assert "…" not in printed, printed
    for text in texts:
        assert words(text) in words(printed), (text, printed)


def test_run_report_errors_are_whole(width: int, capsys: pytest.CaptureFixture[str]) -> None:
    report = RunReport(kind="apply", status="failed", revision="abc123", message="1 device failed", devices=[
        DeviceOutcome(host="r1", platform="frr", transport="napalm", status="unreachable", error=HINT),
        DeviceOutcome(host="a-rather-long-device-name-in-a-datacentre", platform="frr", transport="napalm",
                      status="changed", diff="+ ip route 10.9.0.0/24 10.0.12.2", final="new")])
    output.print_report(report, as_json=False)
    printed = capsys.readouterr().out
    whole(printed, HINT, "a-rather-long-device-name-in-a-datacentre")
    assert "r1: " in printed


def test_drift_errors_are_whole(width: int, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                tmp_path: Path) -> None:
    monkeypatch.setenv("NETORCH_STORE", str(tmp_path / "store.db"))
    report = DriftReport(revision="abc123", status="error", exit_code=1, duration=0.5, devices=[
        DeviceDrift(host="r1", platform="frr", transport="napalm", status="unreachable", error=HINT),
        DeviceDrift(host="r2", platform="frr", transport="napalm", status="in_sync")])
    monkeypatch.setattr(DriftChecker, "check", lambda self, options, progress=None: report)
    code = main(["--inventory", str(ROOT / "inventory"), "--intents", str(ROOT / "intents"), "drift",
                 "--limit", "r1,r2"])
    assert code == 1
    whole(capsys.readouterr().out, HINT)


def test_lab_probe_mismatches_are_whole(width: int, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    results = [Probe(src="h1", dst="h2", dst_ip="10.2.0.10", protocol="tcp", port=443, expected=True,
                     reason=FIX, observed=False),
               Probe(src="h3", dst="h2", dst_ip="10.2.0.10", protocol="icmp", port=None, expected=False,
                     reason="no rule allows guests to reach servers", observed=False)]
    monkeypatch.setattr("netorch.lab.probe.probe", lambda workspace, run_dir: results)
    code = main(["--inventory", str(ROOT / "inventory"), "--intents", str(ROOT / "intents"), "lab", "probe"])
    assert code == 1
    printed = capsys.readouterr().out
    whole(printed, FIX, "1/2 flows behave as the intents say")
    assert "MISMATCH h1->h2 tcp/443" in words(printed)


def test_lab_status_and_schema_list_are_not_cut(width: int, capsys: pytest.CaptureFixture[str],
                                                tmp_path: Path) -> None:
    assert main(["lab", "status", "--run-dir", str(tmp_path / "a-lab-dir-with-a-long-name" / "run")]) == 1
    whole(capsys.readouterr().out, "no lab in")
    assert main(["schema"]) == 0
    whole(capsys.readouterr().out)


@pytest.mark.parametrize("columns", WIDTHS)
def test_an_error_in_a_narrow_terminal(columns: int, tmp_path: Path) -> None:
    """End to end, COLUMNS as a terminal sets it: a problem with its file:line and a usage error
    with its hint come out whole."""
    (tmp_path / "intents").mkdir()
    route = ["routes:", "  - name: a", "    prefix: 10.9.0.0/24", "    next_hop: 10.0.12.2",
             "    hosts: [nobody-we-know-of-in-this-inventory]"]
    (tmp_path / "intents" / "x.yaml").write_text("\n".join(route) + "\n")
    env = {**os.environ, "COLUMNS": str(columns), "PYTHONPATH": str(ROOT), "NETORCH_STORE": str(tmp_path / "s.db")}
    run = subprocess.run([sys.executable, "-m", "netorch", "--inventory", str(ROOT / "inventory"), "--intents",
                          str(tmp_path / "intents"), "validate"], capture_output=True, text=True, env=env,
                         timeout=60, check=False)
    assert run.returncode == 1
    assert "nobody-we-know-of-in-this-inventory" in run.stderr and f"{tmp_path / 'intents' / 'x.yaml'}:5" in run.stderr
    (tmp_path / "afile").write_text("")
    run = subprocess.run([sys.executable, "-m", "netorch", "render", "--out", str(tmp_path / "afile")],
                         capture_output=True, text=True, env=env, timeout=60, check=False)
    assert run.returncode == 1
    whole(run.stderr, f"{tmp_path / 'afile'} is not a folder (render writes DIR/<host>/<artifact>)")
