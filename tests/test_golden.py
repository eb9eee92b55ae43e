"""Rendered configs against golden files: tests/golden/<platform>/<case>_<host>/<artifact>.

A mismatch writes <artifact>.actual beside the expected file; `pytest --update-golden`
rewrites the golden files from the current templates."""

from __future__ import annotations

from pathlib import Path

import pytest

from netorch.service import Workspace

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
CASES = {
    "example": (ROOT / "inventory", ROOT / "intents"),
    "static": (ROOT / "tests/cases/static/inventory", ROOT / "tests/cases/static/intents"),
    "features": (ROOT / "tests/cases/features/inventory", ROOT / "tests/cases/features/intents"),
    "routing": (ROOT / "tests/cases/routing/inventory", ROOT / "tests/cases/routing/intents"),
}


def _rendered(case: str) -> tuple[Workspace, dict[str, dict[str, str]]]:
    inventory, intents = CASES[case]
    ws = Workspace(inventory, intents, ROOT / "netorch" / "templates")
    return ws, ws.render()


def _params() -> list[tuple[str, str]]:
    out = []
    for case in CASES:
        _, rendered = _rendered(case)
        out += [(case, host) for host in sorted(rendered)]
    return out


@pytest.mark.parametrize("case,host", _params())
def test_golden(case: str, host: str, request: pytest.FixtureRequest) -> None:
    ws, rendered = _rendered(case)
    platform = ws.inventory().hosts[host].platform.value
    folder = GOLDEN / platform / f"{case}_{host}"
    update = request.config.getoption("--update-golden")
    mismatches = []
    for name, text in rendered[host].items():
        expected_path = folder / name
        actual_path = folder / f"{name}.actual"
        if update:
            folder.mkdir(parents=True, exist_ok=True)
            expected_path.write_text(text)
            actual_path.unlink(missing_ok=True)
            continue
        assert expected_path.exists(), f"no golden file {expected_path}: run pytest --update-golden"
        if expected_path.read_text() != text:
            actual_path.write_text(text)
            mismatches.append(f"{expected_path} differs: see {actual_path}")
        else:
            actual_path.unlink(missing_ok=True)
    assert not mismatches, "\n".join(mismatches)


def test_every_platform_has_golden_files() -> None:
    platforms = {p.name for p in GOLDEN.iterdir() if p.is_dir()}
    assert platforms == {"frr", "netconf", "cisco_ios", "arista_eos", "juniper_junos"}


def test_netconf_xml_is_well_formed() -> None:
    from lxml import etree

    for path in GOLDEN.glob("netconf/*/config.xml"):
        root = etree.fromstring(path.read_bytes())
        assert root.tag == "{urn:ietf:params:xml:ns:netconf:base:1.0}config"
