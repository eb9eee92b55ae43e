"""Shell completion: `netorch --install-completion` (bash, zsh, fish) and --limit completing the
inventory's host and group names, comma lists included."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def complete(words: str, inventory: Path | None = None) -> list[str]:
    env = {**os.environ, "_NETORCH_COMPLETE": "complete_bash", "COMP_WORDS": words,
           "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1))}
    env.pop("NETORCH_INVENTORY", None)
    if inventory is not None:
        env["NETORCH_INVENTORY"] = str(inventory)
    out = subprocess.run([sys.executable, "-m", "netorch"], check=False, cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60)
    assert "Traceback" not in out.stderr
    return out.stdout.split()


def test_limit_completes_hosts_and_groups_of_the_inventory() -> None:
    assert complete("netorch plan --limit r") == ["r1", "r2", "r3", "r4"]
    assert complete("netorch drift --limit lab_") == ["lab_core", "lab_netconf", "lab_routers"]
    assert complete("netorch apply --limit r1,r") == ["r1,r2", "r1,r3", "r1,r4"]  # r1 is taken already


def test_limit_completes_from_the_inventory_the_command_line_names(tmp_path: Path) -> None:
    (tmp_path / "hosts.yaml").write_text("edge9:\n  platform: frr\n  hostname: 127.0.0.1\n")
    assert complete("netorch --inventory " + str(tmp_path) + " plan --limit ") == ["edge9"]
    assert complete("netorch plan --limit e", inventory=tmp_path) == ["edge9"]
    assert complete("netorch plan --limit ", inventory=tmp_path / "missing") == []


def test_limit_completes_from_a_nornir_config_file(tmp_path: Path) -> None:
    (tmp_path / "hosts.yaml").write_text("edge9:\n  platform: frr\n  groups: [edges]\n")
    (tmp_path / "groups.yaml").write_text("edges: {}\n")
    config = tmp_path / "nornir.yaml"
    config.write_text(f"inventory:\n  plugin: SimpleInventory\n  options:\n    host_file: {tmp_path / 'hosts.yaml'}\n"
                      f"    group_file: {tmp_path / 'groups.yaml'}\n")
    assert complete("netorch plan --limit e", inventory=config) == ["edge9", "edges"]


def test_completion_scripts_for_the_usual_shells() -> None:
    # typer detects the shell it runs under unless told not to; then --show-completion takes the shell
    env = {**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    for shell in ("bash", "zsh", "fish"):
        out = subprocess.run([sys.executable, "-m", "netorch", "--show-completion", shell], check=False, cwd=ROOT,
                             env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and "_NETORCH_COMPLETE" in out.stdout, (shell, out.stderr)
