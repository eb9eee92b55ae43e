"""Which templates folder netorch renders with: the --templates flag, else NETORCH_TEMPLATES,
else ./templates when it exists, else the templates that ship inside the package; one function
(service.templates_folder) that the CLI, the daemon's config and the lab all ask."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from netorch.cli import main
from netorch.daemon.config import DaemonConfig
from netorch.lab import _render as lab_render
from netorch.service import PACKAGED_TEMPLATES, Workspace, templates_folder

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder holding only intents/ and inventory/, as the current folder."""
    work = tmp_path / "work"
    work.mkdir()
    shutil.copytree(ROOT / "intents", work / "intents")
    shutil.copytree(ROOT / "inventory", work / "inventory")
    monkeypatch.chdir(work)
    monkeypatch.delenv("NETORCH_TEMPLATES", raising=False)
    return work


def marked(folder: Path, marker: str) -> Path:
    """A copy of the packaged templates whose FRR config ends with a comment naming it."""
    shutil.copytree(PACKAGED_TEMPLATES, folder)
    conf = folder / "frr" / "frr.conf.j2"
    conf.write_text(conf.read_text() + f"! {marker}\n")
    return folder


def rendered_marker(out: Path) -> str:
    last = (out / "r1" / "frr.conf").read_text().rstrip("\n").splitlines()[-1]
    return last.removeprefix("! ") if last.startswith("! from-") else "packaged"


def test_the_packaged_templates_are_in_the_package() -> None:
    assert Path(__file__).resolve().parents[1] / "netorch" / "templates" == PACKAGED_TEMPLATES
    for platform in ("frr", "netconf", "cisco_ios", "arista_eos", "juniper_junos"):
        assert list((PACKAGED_TEMPLATES / platform).glob("*.j2")), platform
    assert (PACKAGED_TEMPLATES / "netconf" / "netorch-policy.yang").is_file()


def test_lookup_order_flag_env_local_packaged(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert templates_folder() == PACKAGED_TEMPLATES
    (workdir / "templates").mkdir()
    assert templates_folder() == Path("templates")
    monkeypatch.setenv("NETORCH_TEMPLATES", str(workdir / "env"))  # named, even though missing
    assert templates_folder() == workdir / "env"
    assert templates_folder(workdir / "flag") == workdir / "flag"
    assert Workspace().templates_dir == workdir / "env"
    monkeypatch.setenv("NETORCH_TEMPLATES", "")  # empty is unset
    assert templates_folder() == Path("templates")


def test_render_in_an_empty_folder_follows_the_lookup_order(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def render(*flags: str) -> str:
        out = workdir / "out"
        shutil.rmtree(out, ignore_errors=True)
        assert main([*flags, "render", "--out", str(out)]) == 0
        written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
        assert len(written) == 14 and "nc1/config.xml" in written
        return rendered_marker(out)

    assert main(["validate"]) == 0
    assert render() == "packaged"
    marked(workdir / "templates", "from-local")
    assert render() == "from-local"
    monkeypatch.setenv("NETORCH_TEMPLATES", str(marked(workdir / "env", "from-env")))
    assert render() == "from-env"
    assert render("--templates", str(marked(workdir / "flag", "from-flag"))) == "from-flag"


@pytest.mark.parametrize("how", ["flag", "env"])
def test_a_missing_named_folder_is_a_one_line_error(workdir: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str], how: str) -> None:
    marked(workdir / "templates", "from-local")  # not silently used instead of the named folder
    flags = ["--templates", "nowhere"] if how == "flag" else []
    if how == "env":
        monkeypatch.setenv("NETORCH_TEMPLATES", "nowhere")
    assert main([*flags, "render", "--out", "out"]) == 1
    assert capsys.readouterr().err.strip() == "error: templates folder nowhere not found"
    assert not (workdir / "out").exists()


def test_the_daemon_config_and_the_lab_ask_the_same_lookup(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert DaemonConfig().templates == PACKAGED_TEMPLATES
    assert lab_render.policy_yang() == PACKAGED_TEMPLATES / "netconf" / "netorch-policy.yang"
    local = marked(workdir / "templates", "from-local")
    assert DaemonConfig().templates == Path("templates")
    assert lab_render.policy_yang() == (local / "netconf" / "netorch-policy.yang").resolve()
    monkeypatch.setenv("NETORCH_TEMPLATES", str(workdir / "env"))
    assert DaemonConfig().templates == workdir / "env"
    assert DaemonConfig(templates=workdir / "cfg").templates == workdir / "cfg"
    # a templates folder without the YANG module: the lab's netconfd still gets netorch's own
    (workdir / "env").mkdir()
    assert lab_render.policy_yang() == PACKAGED_TEMPLATES / "netconf" / "netorch-policy.yang"
