"""Fixtures for the lab tests: a real lab (root + Debian packages needed).

Outside CI a machine that cannot run the lab skips these tests with the reason;
with CI=true they fail instead, so a broken CI machine cannot pass silently.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from netorch.lab import LabStatus, default_topology_path, down, load_topology, up
from netorch.lab._system import missing_prerequisites
from netorch.lab.topology import Topology, parse_topology
from netorch.run.options import ApplyOptions


def require_lab() -> None:
    missing = missing_prerequisites()
    if not missing:
        return
    reason = "netorch lab cannot run here: missing " + "; ".join(missing)
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def make_run_dir(tag: str) -> Path:
    """A fresh parent dir under /tmp (searchable by the lab users); the run dir inside."""
    base = Path(tempfile.mkdtemp(prefix=f"netorch-{tag}-"))
    base.chmod(0o755)
    return base / "run"


def alt_topology() -> Topology:
    """The default lab under another prefix and mgmt subnet (198.19/16, RFC 2544 too),
    so it can come up and down while the session lab is running."""
    data: dict[str, Any] = yaml.safe_load(default_topology_path().read_text())
    data["prefix"] = "nolt"
    data["mgmt_gateway"] = "198.19.0.1/16"
    for section in ("routers", "netconf"):
        for node in data[section].values():
            node["mgmt"] = node["mgmt"].replace("198.18.", "198.19.", 1)
    return parse_topology(data, "alt topology")


@pytest.fixture(scope="session")
def lab() -> Iterator[LabStatus]:
    """The default lab, up once per session in a temporary run dir, down at the end.

    NETORCH_TEST_LAB_DIR=DIR uses a default lab that is already up in DIR instead (for
    development: the lab is left up, but tests do change its routers' configuration)."""
    require_lab()
    existing = os.environ.get("NETORCH_TEST_LAB_DIR")
    if existing:
        from netorch.lab import status

        current = status(Path(existing))
        assert current.state == "up", f"no lab up in {existing}"
        yield current
        return
    run_dir = make_run_dir("lab")
    try:
        status = up(load_topology(default_topology_path()), run_dir)
        assert status.state == "up", status
        yield status
    finally:
        down(run_dir)
        shutil.rmtree(run_dir.parent, ignore_errors=True)


@pytest.fixture
def lab_dir(lab: LabStatus) -> Path:
    return lab.run_dir


@pytest.fixture
def credentials(lab: LabStatus) -> dict[str, Any]:
    assert lab.credentials_file is not None
    assert lab.credentials_file.stat().st_mode & 0o777 == 0o600
    data: dict[str, Any] = yaml.safe_load(lab.credentials_file.read_text())
    return data


@pytest.fixture
def lab_required() -> None:
    """For tests that build their own lab: skip (or fail in CI) if it cannot run."""
    require_lab()


@pytest.fixture
def alt_topo() -> Topology:
    return alt_topology()


@pytest.fixture
def fresh_run_dir(lab_required: None) -> Iterator[Path]:
    """A run dir that does not exist yet; whatever is left of it is removed afterwards."""
    run_dir = make_run_dir("test")
    try:
        yield run_dir
    finally:
        down(run_dir)
        shutil.rmtree(run_dir.parent, ignore_errors=True)


@pytest.fixture
def baseline(lab: LabStatus, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The example intents applied; what every device reads as then. Put back afterwards."""
    from faults import HOSTS, ROOT, engine_for, everything, wait_converged

    from netorch.store import Store

    eng = engine_for(lab, ROOT / "intents", Store(tmp_path / "base.db"))
    report = eng.apply(ApplyOptions(limit=HOSTS))
    assert report.exit_code == 0, [(d.host, d.status, d.error) for d in report.devices]
    wait_converged(lab)
    before = everything(lab)
    assert not any("10.91.0.0/16" in t for t in before.values())
    yield before
    again = eng.apply(ApplyOptions(limit=HOSTS))
    if again.exit_code != 0:
        pytest.fail("putting the example back failed: " + again.message + "\n"
                    + "\n".join(f"{d.host}: {d.status} {d.final} {d.error}" for d in again.devices))
    wait_converged(lab)
