"""Hostile and careless input: YAML bombs, special files, lax coercions, secrets, empty limits,
terminal escapes. Every refusal names the file and the line; nothing hangs, nothing is skipped."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import netorch.model.loader as loader_mod
import netorch.yamlsrc as yamlsrc_mod
from netorch.errors import NetorchError, Problem
from netorch.model.inventory import load_inventory
from netorch.model.loader import load_intents
from netorch.service import Workspace

MakeWs = Callable[..., Workspace]

HOSTS = """\
r1:
  hostname: 192.0.2.1
  platform: frr
  data:
    interfaces:
      eth1: {address: 10.0.12.1/30}
"""


@contextmanager
def within(seconds: float) -> Iterator[None]:
    """Fail (instead of hanging the test run) when the block takes longer than `seconds`."""

    def expired(signum: int, frame: Any) -> None:
        raise TimeoutError(f"took longer than {seconds}s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def bomb(levels: int = 9, width: int = 9, indent: str = "") -> str:
    """A billion-laughs document fragment: anchors a..i, each a list of `width` aliases of the last."""
    lines = [f"{indent}l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for n in range(1, levels):
        lines.append(f"{indent}l{n}: &l{n} [" + ", ".join([f"*l{n - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def inventory(tmp_path: Path, hosts: str = HOSTS, groups: str | None = None,
              defaults: str | None = None) -> Path:
    inv = tmp_path / "inventory"
    inv.mkdir(exist_ok=True)
    (inv / "hosts.yaml").write_text(hosts)
    if groups is not None:
        (inv / "groups.yaml").write_text(groups)
    if defaults is not None:
        (inv / "defaults.yaml").write_text(defaults)
    return inv


def hit(problems: list[Problem], needle: str) -> Problem:
    hits = [p for p in problems if needle in p.message]
    assert hits, f"no problem mentions {needle!r}: {problems}"
    return hits[0]


# --- item 4: bounded YAML ------------------------------------------------------------------


def test_billion_laughs_in_defaults_is_refused_before_expanding(tmp_path: Path) -> None:
    inv = inventory(tmp_path, defaults="data:\n  junk:\n" + bomb(indent="    "))
    with within(10):
        _, problems = load_inventory(inv)
    p = hit(problems, "alias")
    assert p.file.endswith("defaults.yaml") and p.line >= 3
    assert p.code == "limit"


def test_billion_laughs_in_an_intent_field_is_refused(tmp_path: Path) -> None:
    intents = tmp_path / "intents"
    intents.mkdir()
    text = ("routes:\n  - name: a\n    prefix: 10.9.0.0/24\n    next_hop: 10.0.12.2\n"
            "    hosts: [r1]\n    description:\n" + bomb(indent="      "))
    (intents / "bomb.yaml").write_text(text)
    with within(10):
        _, problems = load_intents(intents)
    p = hit(problems, "alias")
    assert p.file.endswith("bomb.yaml") and p.line >= 7


def test_billion_laughs_through_merge_keys_is_refused(tmp_path: Path) -> None:
    lines = ["m0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8}"]
    for n in range(1, 9):
        lines.append(f"m{n}: &m{n} " + "{<<: [" + ", ".join([f"*m{n - 1}"] * 8) + "]}")
    inv = inventory(tmp_path, groups="g:\n  data:\n" + "".join(f"    {line}\n" for line in lines))
    with within(10):
        _, problems = load_inventory(inv)
    assert hit(problems, "alias").file.endswith("groups.yaml")


def test_recursive_alias_is_refused(tmp_path: Path) -> None:
    inv = inventory(tmp_path, defaults="data:\n  loop: &x [a, *x]\n")
    with within(10):
        _, problems = load_inventory(inv)
    p = hit(problems, "recursive")
    assert p.file.endswith("defaults.yaml") and p.line == 2


def test_deep_nesting_is_refused_not_a_traceback(tmp_path: Path) -> None:
    intents = tmp_path / "intents"
    intents.mkdir()
    (intents / "deep.yaml").write_text("routes:\n  - name: a\n    description: " + "[" * 900 + "]" * 900 + "\n")
    _, problems = load_intents(intents)
    p = hit(problems, "nested deeper")
    assert p.file.endswith("deep.yaml") and p.line == 3


def test_a_fifo_in_the_intents_folder_is_refused_without_blocking(tmp_path: Path) -> None:
    intents = tmp_path / "intents"
    intents.mkdir()
    os.mkfifo(intents / "routes.yaml")
    with within(10):
        _, problems = load_intents(intents)
    p = hit(problems, "FIFO")
    assert p.file.endswith("routes.yaml")


def test_a_fifo_given_as_the_intents_path_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "intents.yaml"
    os.mkfifo(fifo)
    with within(10):
        _, problems = load_intents(fifo)
    assert hit(problems, "FIFO").file == str(fifo)


@pytest.mark.parametrize("name", ["hosts.yaml", "groups.yaml", "defaults.yaml"])
def test_a_fifo_in_the_inventory_is_refused_without_blocking(tmp_path: Path, name: str) -> None:
    inv = inventory(tmp_path)
    (inv / name).unlink(missing_ok=True)
    os.mkfifo(inv / name)
    with within(10):
        _, problems = load_inventory(inv)
    assert hit(problems, "FIFO").file.endswith(name)


def test_a_device_linked_into_intents_is_refused(tmp_path: Path) -> None:
    intents = tmp_path / "intents"
    intents.mkdir()
    (intents / "zero.yaml").symlink_to("/dev/zero")
    with within(10):
        _, problems = load_intents(intents)
    assert hit(problems, "character device").file.endswith("zero.yaml")


def test_a_dangling_intents_file_is_an_error_not_fewer_routes(tmp_path: Path) -> None:
    intents = tmp_path / "intents"
    intents.mkdir()
    (intents / "domains.yaml").write_text("domains: []\n")
    (intents / "routes.yaml").symlink_to(tmp_path / "gone.yaml")
    _, problems = load_intents(intents)
    p = hit(problems, "dangling")
    assert p.file.endswith("routes.yaml")


def test_a_dangling_inventory_file_is_an_error_not_an_empty_file(tmp_path: Path) -> None:
    inv = inventory(tmp_path)
    (inv / "groups.yaml").symlink_to(tmp_path / "gone.yaml")
    view, problems = load_inventory(inv)
    assert hit(problems, "dangling").file.endswith("groups.yaml")
    assert view is None


def test_a_symlinked_folder_in_intents_is_an_error_not_skipped(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "routes.yaml").write_text("routes: []\n")
    intents = tmp_path / "intents"
    intents.mkdir()
    (intents / "domains.yaml").write_text("domains: []\n")
    (intents / "site").symlink_to(elsewhere)
    _, problems = load_intents(intents)
    assert hit(problems, "symbolic link to a folder").file.endswith("site")


def test_an_unreadable_intents_file_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    intents = tmp_path / "intents"
    intents.mkdir()
    secret = intents / "routes.yaml"
    secret.write_text("routes: []\n")
    real_open = os.open

    def deny(path: Any, *args: Any, **kwargs: Any) -> int:
        if str(path) == str(secret):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(yamlsrc_mod.os, "open", deny)
    _, problems = load_intents(intents)
    assert hit(problems, "Permission denied").file == str(secret)


def test_a_tree_with_too_many_entries_is_refused_early(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader_mod, "MAX_INTENT_TREE_ENTRIES", 50)
    intents = tmp_path / "intents"
    intents.mkdir()
    for n in range(60):
        (intents / f"note{n}.txt").write_text("")
    _, problems = load_intents(intents)
    p = hit(problems, "more than 50 entries")
    assert p.file == str(intents) and p.code == "limit"


def test_a_tree_with_too_many_intent_files_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader_mod, "MAX_INTENT_FILES", 3)
    intents = tmp_path / "intents"
    intents.mkdir()
    for n in range(4):
        (intents / f"r{n}.yaml").write_text("routes: []\n")
    _, problems = load_intents(intents)
    assert hit(problems, "more than 3 intent files").code == "limit"


def test_a_tree_with_too_many_bytes_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader_mod, "MAX_INTENT_BYTES", 100)
    intents = tmp_path / "intents"
    intents.mkdir()
    for n in range(3):
        (intents / f"r{n}.yaml").write_text("routes: []\n" + "#" * 40 + "\n")
    _, problems = load_intents(intents)
    assert hit(problems, "more than 100 bytes").code == "limit"


def test_a_file_over_the_size_bound_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlsrc_mod, "MAX_YAML_FILE_BYTES", len(HOSTS))
    inv = inventory(tmp_path, defaults="data:\n  deploy: true\n" + "#" * len(HOSTS) + "\n")
    _, problems = load_inventory(inv)
    assert [p.file for p in problems] == [str(inv / "defaults.yaml")]
    assert f"more than the {len(HOSTS)} bytes" in problems[0].message


def test_intents_at_the_root_of_the_machine_stop_at_the_bound() -> None:
    with within(60):
        intents, problems = load_intents(Path("/"))
    assert hit(problems, "entries").code == "limit"
    assert intents.files == ()


# --- item 5: strict values -----------------------------------------------------------------


ROUTE = ("routes:\n  - name: a\n    prefix: {prefix}\n    next_hop: {next_hop}\n    distance: {distance}\n"
         "    hosts: [r1]\n")
RULE = ("rules:\n  - name: a\n    sequence: {sequence}\n    from: x\n    to: y\n    protocol: tcp\n"
        "    ports: [{port}]\n    action: allow\n")


@pytest.mark.parametrize(("text", "line", "needle"), [
    (ROUTE.format(prefix="10", next_hop="10.0.12.2", distance=1), 3, "expected an IPv4 prefix"),
    (ROUTE.format(prefix="10.2.0.0", next_hop="10.0.12.2", distance=1), 3, "network/prefixlen"),
    (ROUTE.format(prefix="10.2.0.0/24", next_hop="10", distance=1), 4, "expected an IPv4 address"),
    (ROUTE.format(prefix="10.2.0.0/24", next_hop="10.0.12.2", distance="yes"), 5, "expected an integer"),
    (ROUTE.format(prefix="10.2.0.0/24", next_hop="10.0.12.2", distance='"200"'), 5, "expected an integer"),
    (ROUTE.format(prefix="10.2.0.0/24", next_hop="10.0.12.2", distance="2.0"), 5, "expected an integer"),
    (RULE.format(sequence="0022", port=22), 3, "leading zero"),
    (RULE.format(sequence='"10"', port=22), 3, "expected an integer"),
    (RULE.format(sequence=10, port="yes"), 7, "invalid port 'yes'"),
    (RULE.format(sequence=10, port="0022"), 7, "leading zero"),
    (RULE.format(sequence=10, port="1:30"), 7, "invalid port '1:30'"),
    (RULE.format(sequence=10, port="22.0"), 7, "invalid port float 22.0"),
])
def test_lax_coercions_in_intents_are_errors(tmp_path: Path, text: str, line: int, needle: str) -> None:
    intents = tmp_path / "intents"
    intents.mkdir()
    (intents / "x.yaml").write_text(text)
    _, problems = load_intents(intents)
    p = hit(problems, needle)
    assert p.file.endswith("x.yaml") and p.line == line, p


@pytest.mark.parametrize(("host_line", "needle"), [
    ("  port: yes", "expected an integer"),
    ("  port: 0022", "leading zero"),
    ('  port: "22"', "expected an integer"),
    ("  data: {deploy: no}", "expected true or false"),
    ("  data: {deploy: off}", "expected true or false"),
    ("  data: {interfaces: {eth1: {address: 10.0.12.1/30, enabled: yes}}}", "expected true or false"),
    ("  data: {interfaces: {eth1: {address: 10, enabled: true}}}", "expected an interface address"),
])
def test_lax_coercions_in_the_inventory_are_errors(tmp_path: Path, host_line: str, needle: str) -> None:
    inv = inventory(tmp_path, hosts=f"r1:\n  hostname: 192.0.2.1\n  platform: frr\n{host_line}\n")
    _, problems = load_inventory(inv)
    p = hit(problems, needle)
    assert p.file.endswith("hosts.yaml") and p.line == 4, p


def test_true_and_false_still_work(tmp_path: Path) -> None:
    inv = inventory(tmp_path, hosts="r1:\n  hostname: 192.0.2.1\n  platform: frr\n  port: 2222\n"
                    "  data: {deploy: false, interfaces: {eth1: {address: 10.0.12.1/30, enabled: true}}}\n")
    view, problems = load_inventory(inv)
    assert problems == [] and view is not None
    host = view.hosts["r1"]
    assert host.port == 2222 and host.data.deploy is False and host.data.interfaces["eth1"].enabled is True


@pytest.mark.parametrize("limit", ["", " ", ",", " , ,"])
def test_an_empty_limit_is_an_error_not_every_device(example: Workspace, limit: str) -> None:
    with pytest.raises(NetorchError, match="--limit is empty"):
        example.select(limit)


def test_no_limit_still_means_every_device(example: Workspace) -> None:
    assert len(example.select(None)) == 8
    assert [h.name for h in example.select("r1, r2,")] == ["r1", "r2"]


def test_an_empty_limit_on_the_command_line_is_an_error(root: Path, monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    from netorch.cli.app import app

    monkeypatch.chdir(root)
    result = CliRunner().invoke(app, ["render", "--limit", "", "--out", str(tmp_path / "out")])
    assert result.exit_code != 0
    assert "--limit is empty" in str(result.exception) + result.output
    assert not (tmp_path / "out").exists()


def test_terminal_escapes_are_shown_escaped() -> None:
    p = Problem("f\x1b]0;x\x07.yaml", 3, "a\u202eb", "bad value \x1b[2J\x9b1m\u2066 end\nforged: line")
    text = str(p)
    for raw in ("\x1b", "\x07", "\x9b", "\u202e", "\u2066", "\n"):
        assert raw not in text
    assert "\\x1b[2J" in text and "\\u202e" in text and "\\n" in text
    assert p.message.startswith("bad value \\x1b[2J")  # the fields are safe too (JSON output, API)


def test_escapes_in_a_host_name_are_not_echoed_raw(tmp_path: Path) -> None:
    inv = inventory(tmp_path, hosts='"r1\\e[2J\\u202e":\n  hostname: 192.0.2.1\n  platform: frr\n')
    _, problems = load_inventory(inv)
    assert problems
    for p in problems:
        assert "\x1b" not in str(p) and "\u202e" not in str(p)
    assert any("\\x1b[2J" in str(p) for p in problems)


# --- item 2 (part): secret-like keys in the inventory ----------------------------------------


@pytest.mark.parametrize(("file", "text", "line", "path"), [
    ("hosts.yaml", HOSTS + "  enable_password: x\n", 7, "r1.enable_password"),
    ("hosts.yaml", HOSTS + "  connection_options:\n    netmiko:\n      extras: {secret: x}\n", 9,
     "r1.connection_options.netmiko.extras.secret"),
    ("hosts.yaml", HOSTS.replace("    interfaces:", "    snmp: {Community: public}\n    interfaces:"), 5,
     "r1.data.snmp.Community"),
    ("groups.yaml", "g:\n  data:\n    api_key: x\n", 3, "g.data.api_key"),
    ("groups.yaml", "g:\n  data:\n    vault:\n      - {auth_token: x}\n", 4, "g.data.vault[0].auth_token"),
    ("defaults.yaml", "data:\n  passwd: x\n", 2, "data.passwd"),
    ("defaults.yaml", "data:\n  ssh_private_key: x\n", 2, "data.ssh_private_key"),
    ("defaults.yaml", "data:\n  tacacs_secret_key: x\n", 2, "data.tacacs_secret_key"),
    ("defaults.yaml", "password: x\n", 1, "password"),
])
def test_secret_like_keys_in_the_inventory_are_refused(tmp_path: Path, file: str, text: str, line: int,
                                                       path: str) -> None:
    inv = inventory(tmp_path, **({"hosts": text} if file == "hosts.yaml" else {file.removesuffix(".yaml"): text}))
    _, problems = load_inventory(inv)
    secrets = [p for p in problems if p.code == "secret"]
    assert len(secrets) == 1, problems
    assert secrets[0].file.endswith(file) and secrets[0].line == line and secrets[0].path == path
    assert "credentials must not be stored" in secrets[0].message


def test_ordinary_keys_are_not_taken_for_secrets(tmp_path: Path) -> None:
    inv = inventory(tmp_path, defaults="data:\n  credentials_file: /etc/netorch/creds.yaml\n"
                    "  site_passage: north\n  keyboard: us\n")
    view, problems = load_inventory(inv)
    assert problems == [] and view is not None


@pytest.mark.parametrize("limit", ["", " , "])
def test_an_empty_limit_in_the_api_is_an_error(root: Path, tmp_path: Path, limit: str) -> None:
    from fastapi.testclient import TestClient

    from netorch.daemon.app import create_app
    from netorch.daemon.config import DaemonConfig, Token
    from netorch.daemon.runtime import Runtime

    secret = "operate-token-0123456789"
    config = DaemonConfig(inventory=root / "inventory", intents=root / "intents",
                          templates=root / "netorch" / "templates",
                          store=tmp_path / "netorch.db", tokens=(Token(name="ci", role="operate", token=secret),))
    with TestClient(create_app(Runtime(config))) as client:
        reply = client.post("/plan", json={"limit": limit}, headers={"Authorization": f"Bearer {secret}"})
    assert reply.status_code == 400
    assert "--limit is empty" in reply.json()["error"]


def test_credentials_and_daemon_config_are_bounded_too(tmp_path: Path) -> None:
    import os

    from netorch.credentials import CredentialStore
    from netorch.daemon.config import load_config
    from netorch.errors import CredentialsError, NetorchError

    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8))
    creds = tmp_path / "creds.yaml"
    creds.write_text(bomb)
    creds.chmod(0o600)
    with pytest.raises(CredentialsError, match=r"creds\.yaml"):
        CredentialStore.load(creds)
    fifo = tmp_path / "daemon.yaml"
    os.mkfifo(fifo)
    with pytest.raises(NetorchError, match="not a regular file"):
        load_config(fifo)
