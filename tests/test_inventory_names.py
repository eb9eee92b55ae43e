"""An inventory as operators write it for Nornir: .yml files, NAPALM's and netmiko's platform
names, NAPALM's `secret: ""` (an empty value holds no secret)."""

from __future__ import annotations

from pathlib import Path

import pytest

from netorch.credentials import CredentialStore
from netorch.platforms import Platform, platform_name
from netorch.service import Workspace
from netorch.transport.nornir_setup import build_nornir

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "netorch" / "templates"


def problems(scratch: Path) -> list[str]:
    _, _, found = Workspace(scratch / "inventory", scratch / "intents", TEMPLATES).load()
    return [str(p) for p in found]


def test_yml_files_are_an_inventory(scratch: Path) -> None:
    inv = scratch / "inventory"
    expected = {h.name: h for h in Workspace(inv, scratch / "intents", TEMPLATES).inventory().hosts.values()}
    for name in ("hosts", "groups", "defaults"):
        if (inv / f"{name}.yaml").exists():
            (inv / f"{name}.yaml").rename(inv / f"{name}.yml")
    ws = Workspace(inv, scratch / "intents", TEMPLATES)
    assert problems(scratch) == []
    assert {h.name: h for h in ws.inventory().hosts.values()} == expected
    rendered = ws.render(None)
    assert set(rendered) == set(expected)
    nr = build_nornir(ws.inventory(), sorted(expected), 1, CredentialStore.per_host({}))
    assert set(nr.inventory.hosts) == set(expected)
    assert any(g for h in nr.inventory.hosts.values() for g in h.groups)  # groups.yml was read too


def test_no_hosts_file_names_both_spellings(tmp_path: Path) -> None:
    (tmp_path / "inventory").mkdir()
    (tmp_path / "intents").mkdir()
    assert any("hosts.yaml (or hosts.yml) not found" in p for p in problems(tmp_path))


@pytest.mark.parametrize(("written", "meant"), [
    ("ios", Platform.CISCO_IOS), ("eos", Platform.ARISTA_EOS), ("junos", Platform.JUNIPER_JUNOS),
    ("cisco_ios", Platform.CISCO_IOS), ("frr", Platform.FRR),
])
def test_napalm_and_netmiko_platform_names(scratch: Path, written: str, meant: Platform) -> None:
    hosts = scratch / "inventory" / "hosts.yaml"
    text = hosts.read_text()
    assert "platform: cisco_ios" in text
    hosts.write_text(text.replace("platform: cisco_ios", f"platform: {written}"))
    ws = Workspace(scratch / "inventory", scratch / "intents", TEMPLATES)
    assert problems(scratch) == []
    assert {h.platform for h in ws.inventory().hosts.values()} >= {meant}


def test_an_unknown_platform_names_the_ones_that_exist(scratch: Path) -> None:
    hosts = scratch / "inventory" / "hosts.yaml"
    hosts.write_text(hosts.read_text().replace("platform: cisco_ios", "platform: iosxr"))
    found = [p for p in problems(scratch) if "unknown platform" in p]
    assert len(found) == 1 and "'cisco_xr'" not in found[0] and "'iosxr'" in found[0]
    assert "cisco_ios" in found[0] and "NAPALM" in found[0]
    assert platform_name("iosxr") == "iosxr"  # a NAPALM name netorch has no platform for stays unknown


@pytest.mark.parametrize(("value", "refused"), [('""', False), ("null", False), ('"s3cret"', True)])
def test_an_empty_secret_is_no_secret(scratch: Path, value: str, refused: bool) -> None:
    (scratch / "inventory" / "defaults.yaml").write_text(
        f"connection_options:\n  napalm:\n    extras:\n      optional_args:\n        secret: {value}\n")
    found = [p for p in problems(scratch) if "credentials must not be stored" in p]
    assert bool(found) is refused
    assert all("s3cret" not in p for p in problems(scratch))
