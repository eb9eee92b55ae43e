"""Inventory from a real Nautobot: the lab's devices held in Nautobot (nautobot from PyPI on
PostgreSQL and Redis, tests/nautobot_server.py), read through nornir-nautobot's NautobotInventory
named by a Nornir config file; netorch applies the example intents from it, drift is clean, and an
address changed in Nautobot's IPAM shows in `netorch plan`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import nautobot_server  # tests/nautobot_server.py
import pytest

from netorch.lab import LabStatus
from netorch.model.inventory import load_inventory
from netorch.model.nornir_config import load_any

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]
LAB_HOSTS = "lab_routers,lab_netconf"


@pytest.fixture(scope="module")
def nautobot() -> Iterator[nautobot_server.Nautobot]:
    """A Nautobot holding the hosts of the repository's inventory (the lab's and the branch's)."""
    missing = nautobot_server.missing_prerequisites()
    if missing:
        reason = "Nautobot cannot run here: missing " + "; ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    server = nautobot_server.start()
    try:
        view, problems = load_inventory(ROOT / "inventory")
        assert view is not None and problems == []
        nautobot_server.populate(server.url, server.token, view)
        yield server
    finally:
        server.stop()


@pytest.fixture
def nornir_config(nautobot: nautobot_server.Nautobot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NAUTOBOT_TOKEN", nautobot.token)
    path = tmp_path / "nautobot.yaml"
    path.write_text("inventory:\n"
                    "  plugin: NautobotInventory\n"
                    "  options:\n"
                    f"    nautobot_url: {nautobot.url}\n"
                    "    nautobot_token: null   # from NAUTOBOT_TOKEN\n"
                    "    ssl_verify: false\n")
    return path


def test_nautobot_gives_the_inventory_back(nornir_config: Path) -> None:
    """What netorch reads of Nautobot is the inventory the devices were made from, but for what the
    mapping says differs: the role is a group too, tags are flat, the management interface."""
    folder, _ = load_inventory(ROOT / "inventory")
    view, problems = load_any(nornir_config)
    assert problems == [] and folder is not None and view is not None
    assert set(view.hosts) == set(folder.hosts)
    for name, want in folder.hosts.items():
        got = view.hosts[name]
        assert (got.hostname, got.port, got.platform, got.transport) == (
            want.hostname, want.port, want.platform, want.transport), name
        assert got.groups == ("router", *want.all_groups), name
        assert got.data.interfaces == want.data.interfaces, name
        assert list(got.data.interfaces) == sorted(want.data.interfaces), name  # Nautobot's order
        assert got.data.mgmt_interface == (want.data.mgmt_interface or "mgmt0"), name
        assert (got.data.site, got.data.region or None, got.data.deploy) == (
            want.data.site, want.data.region or got.data.site, want.data.deploy), name


def netorch(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "netorch", "--inventory", str(config), "--intents",
                           str(ROOT / "intents"), "--templates", str(ROOT / "netorch" / "templates"), *args],
                          capture_output=True, text=True, timeout=600, check=False)


def test_apply_from_nautobot_then_drift_is_clean_and_ipam_shows_in_plan(
        lab: LabStatus, nautobot: nautobot_server.Nautobot, nornir_config: Path) -> None:
    creds = ("--credentials", str(lab.credentials_file))
    applied = netorch(nornir_config, "apply", "--limit", LAB_HOSTS, *creds)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    # a device apply left unchanged can still be re-forming an adjacency with one it changed
    deadline = time.monotonic() + 90
    while (drift := netorch(nornir_config, "drift", "--limit", LAB_HOSTS, *creds)).returncode != 0:
        assert time.monotonic() < deadline, drift.stdout + drift.stderr
        time.sleep(1)
    assert netorch(nornir_config, "plan", "--limit", LAB_HOSTS, *creds).returncode == 0

    nautobot_server.set_address(nautobot.url, nautobot.token, "r1", "eth3", "10.1.0.2/24")
    try:
        plan = netorch(nornir_config, "plan", "--limit", LAB_HOSTS, *creds)
        assert plan.returncode == 2, plan.stdout + plan.stderr
        assert "10.1.0.2/24" in plan.stdout, plan.stdout
        changed = [line for line in plan.stdout.splitlines() if "10.1.0." in line]
        assert any(line.lstrip().startswith("+") and "10.1.0.2/24" in line for line in changed), plan.stdout
        assert any(line.lstrip().startswith("-") and "10.1.0.1/24" in line for line in changed), plan.stdout
    finally:
        nautobot_server.set_address(nautobot.url, nautobot.token, "r1", "eth3", "10.1.0.1/24")
    assert netorch(nornir_config, "plan", "--limit", LAB_HOSTS, *creds).returncode == 0
