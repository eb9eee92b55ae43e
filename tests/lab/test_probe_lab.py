"""`netorch lab probe` on the lab: every port of every rule and service range, to every host
(also hosts that are no destination of the port), and real traffic agrees with the intents."""

from __future__ import annotations

from pathlib import Path

import pytest

from netorch.lab import LabStatus
from netorch.lab.probe import probe
from netorch.run.engine import Engine
from netorch.run.options import ApplyOptions
from netorch.service import Workspace
from netorch.store import Store

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]


def test_probe_covers_every_port_and_every_host(lab: LabStatus, tmp_path: Path) -> None:
    ws = Workspace(ROOT / "inventory", ROOT / "intents", ROOT / "netorch" / "templates")
    report = Engine(ws, Store(tmp_path / "s.db"), credentials=str(lab.credentials_file)).apply(
        ApplyOptions(limit="lab_routers"))
    assert report.exit_code == 0, [(d.host, d.error) for d in report.devices]
    results = probe(ws, lab.run_dir)
    tcp = {(p.src, p.dst, p.port) for p in results if p.protocol == "tcp"}
    # the web service's port to its provider (h2) and to hosts that provide nothing (h1, h3)
    assert {("h1", "h2", 8080), ("h2", "h1", 8080), ("h1", "h3", 8080)} <= tcp
    # a range (branch-web 8000-8080) at its edges and middle, not only its first port
    assert {8000, 8001, 8040, 8079, 8080} <= {port for _, _, port in tcp}
    assert [p.as_dict() for p in results if not p.ok] == []
    assert any(p.expected for p in results if p.protocol == "tcp") and any(
        not p.expected for p in results if p.protocol == "tcp")
