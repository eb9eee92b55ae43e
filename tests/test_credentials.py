"""Credentials files: each host its own file, refused when others can read them, scrubbed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from netorch.credentials import CredentialStore
from netorch.errors import CredentialsError
from netorch.model.inventory import InventoryView, load_inventory
from netorch.transport.nornir_setup import build_nornir, credential_store

CONNECTIONS = ("napalm", "netorch_netmiko", "netorch_ncclient")


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("NETORCH_CREDENTIALS", "NETORCH_USERNAME", "NETORCH_PASSWORD", "NETORCH_SSH_KEY",
                 "NETORCH_ACCEPT_NEW_HOST_KEYS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def secret_file(path: Path, data: dict[str, Any], mode: int = 0o600) -> Path:
    path.write_text(yaml.safe_dump(data))
    path.chmod(mode)
    return path


def inventory(tmp_path: Path, hosts: dict[str, Any]) -> InventoryView:
    inv = tmp_path / "inventory"
    inv.mkdir()
    (inv / "hosts.yaml").write_text(yaml.safe_dump(hosts))
    view, problems = load_inventory(inv)
    assert view is not None and not problems, problems
    return view


@pytest.fixture
def two_files(tmp_path: Path) -> tuple[InventoryView, Path, Path]:
    a = secret_file(tmp_path / "a.yaml", {"known_hosts": "kh-a",
                                          "default": {"username": "alice", "password": "pass-of-a"}})
    b = secret_file(tmp_path / "b.yaml", {"default": {"username": "bob", "password": "pass-of-b",
                                                      "known_hosts": "/etc/netorch/kh-b"},
                                          "connections": {"netmiko": {"password": "cli-of-b"}}})
    view = inventory(tmp_path, {
        "r1": {"hostname": "192.0.2.1", "platform": "frr", "data": {"credentials_file": str(a)}},
        "r2": {"hostname": "192.0.2.2", "platform": "frr", "data": {"credentials_file": str(b)}},
        "r3": {"hostname": "192.0.2.3", "platform": "frr"},
        "ios1": {"hostname": "192.0.2.4", "platform": "cisco_ios",
                 "data": {"deploy": False, "credentials_file": str(tmp_path / "elsewhere.yaml")}},
    })
    return view, a, b


def options(view: InventoryView, creds: CredentialStore, hosts: list[str]) -> dict[str, dict[str, Any]]:
    nr = build_nornir(view, hosts, 1, creds)
    return {name: {c: h.connection_options[c] for c in CONNECTIONS} for name, h in nr.inventory.hosts.items()}


def test_each_host_uses_its_own_credentials_file(two_files: tuple[InventoryView, Path, Path],
                                                 tmp_path: Path) -> None:
    view = two_files[0]
    creds = credential_store(view)
    opts = options(view, creds, ["r1", "r2", "r3"])
    for conn in CONNECTIONS:
        assert (opts["r1"][conn].username, opts["r1"][conn].password) == ("alice", "pass-of-a")
        assert opts["r2"][conn].username == "bob"
        assert (opts["r3"][conn].username, opts["r3"][conn].password) == (None, None)  # no file: environment
    assert opts["r2"]["napalm"].password == "pass-of-b" and opts["r2"]["netorch_netmiko"].password == "cli-of-b"
    # every password in use is scrubbed; the render-only host's file is never read
    assert creds.secrets() == {"pass-of-a", "pass-of-b", "cli-of-b"}
    # known_hosts: from each host's own file (relative to it), else ~/.ssh/known_hosts
    kh = {h: opts[h]["netorch_netmiko"].extras["known_hosts"] for h in ("r1", "r2", "r3")}
    assert kh == {"r1": str(tmp_path / "kh-a"), "r2": "/etc/netorch/kh-b",
                  "r3": str(tmp_path / "home" / ".ssh" / "known_hosts")}
    assert opts["r1"]["napalm"].extras["optional_args"]["known_hosts"] == kh["r1"]
    assert opts["r2"]["netorch_ncclient"].extras["known_hosts"] == kh["r2"]
    assert all(opts[h][c].extras.get("accept_new_host_keys", opts[h][c].extras.get("optional_args", {}).get(
        "accept_new_host_keys")) is False for h in opts for c in CONNECTIONS)


def test_an_explicit_file_serves_every_host(two_files: tuple[InventoryView, Path, Path], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    view = two_files[0]
    c = secret_file(tmp_path / "c.yaml", {"default": {"username": "carol", "password": "pass-of-c"}})
    for explicit in (str(c), None):
        if explicit is None:
            monkeypatch.setenv("NETORCH_CREDENTIALS", str(c))
        creds = credential_store(view, explicit)
        opts = options(view, creds, ["r1", "r2", "r3"])
        assert {opts[h]["napalm"].password for h in opts} == {"pass-of-c"}
        assert creds.secrets() == {"pass-of-c"}


def test_inventory_known_hosts_wins_relative_to_the_inventory(tmp_path: Path) -> None:
    a = secret_file(tmp_path / "a.yaml", {"known_hosts": "/from/credentials", "default": {"password": "xyz1"}})
    view = inventory(tmp_path, {"r1": {"hostname": "192.0.2.1", "platform": "frr", "data": {
        "credentials_file": str(a), "known_hosts": "lab_known_hosts"}}})
    opts = options(view, credential_store(view), ["r1"])
    assert opts["r1"]["netorch_netmiko"].extras["known_hosts"] == str(tmp_path / "inventory" / "lab_known_hosts")


def test_accept_new_reaches_every_transport(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    view = inventory(tmp_path, {"r1": {"hostname": "192.0.2.1", "platform": "frr"}})
    monkeypatch.setenv("NETORCH_ACCEPT_NEW_HOST_KEYS", "1")
    opts = options(view, credential_store(view), ["r1"])["r1"]
    assert opts["napalm"].extras["optional_args"]["accept_new_host_keys"] is True
    assert opts["netorch_netmiko"].extras["accept_new_host_keys"] is True
    assert opts["netorch_ncclient"].extras["accept_new_host_keys"] is True


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o644], ids=lambda m: f"{m:04o}")
def test_a_file_others_can_access_is_refused_with_the_fix(tmp_path: Path, mode: int) -> None:
    file = secret_file(tmp_path / "creds.yaml", {"default": {"password": "hunter22"}}, mode)
    with pytest.raises(CredentialsError) as info:
        CredentialStore.load(file)
    text = str(info.value)
    assert f"chmod 600 {file}" in text and f"{mode:04o}" in text and "hunter22" not in text
    file.chmod(0o600)
    assert CredentialStore.load(file).resolve("r1", "frr").password == "hunter22"


def test_the_cli_refuses_a_readable_file_without_a_traceback(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    from netorch.cli import main

    root = Path(__file__).resolve().parents[1]
    file = secret_file(tmp_path / "creds.yaml", {"default": {"password": "hunter22"}}, 0o644)
    code = main(["--inventory", str(root / "inventory"), "--intents", str(root / "intents"),
                 "--templates", str(root / "netorch" / "templates"), "plan", "--limit", "r1",
                 "--credentials", str(file)])
    out = capsys.readouterr()
    assert code == 1
    assert f"chmod 600 {file}" in out.err + out.out and "Traceback" not in out.err + out.out


def test_known_hosts_in_the_credentials_file_must_be_a_path(tmp_path: Path) -> None:
    file = secret_file(tmp_path / "creds.yaml", {"known_hosts": ["a", "b"]})
    with pytest.raises(CredentialsError, match="known_hosts must be a file path"):
        CredentialStore.load(file)
