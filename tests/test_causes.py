"""One mistake, one problem at its cause: an invalid object stays known by name, so what names it
is not reported again, and the checks over the whole network wait until every object is valid.
The property test injects one mistake of several kinds into the shipped example (the space is
small: hypothesis draws every place, about a hundred, in a couple of seconds) and finds the
problem at the mistake's file and line, and nothing else."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netorch.errors import Problem
from netorch.service import Workspace
from netorch.util import unknown_name

ROOT = Path(__file__).resolve().parent.parent


def _validate(folder: Path) -> list[Problem]:
    return list(Workspace(folder / "inventory", folder / "intents", ROOT / "netorch" / "templates")
                .validate().problems)


def _copy(tmp: Path) -> Path:
    shutil.copytree(ROOT / "inventory", tmp / "inventory")
    shutil.copytree(ROOT / "intents", tmp / "intents")
    return tmp


# one kind of mistake: (file, a pattern of the lines it can be made on, the line made wrong)
Mistake = tuple[str, str, Callable[[str], str]]
MISTAKES: dict[str, Mistake] = {
    # a field no model has, on a host's interface: the host is invalid
    "interface field": ("inventory/hosts.yaml", r"^\s+\w+: \{address: [^}]*description:",
                        lambda line: line.replace("description:", "descr:", 1)),
    # an address that is no address: the host is invalid
    "interface address": ("inventory/hosts.yaml", r"^\s+\w+: \{address: [\d.]+/\d+",
                          lambda line: re.sub(r"address: ([\d.]+)/\d+", r"address: \1/33", line, count=1)),
    # YAML 1.1's yes, which netorch reads as text: the OSPF intent is invalid
    "passive yes": ("intents/routing.yaml", r"passive: true",
                    lambda line: line.replace("passive: true", "passive: yes", 1)),
    # a protocol that does not exist: the rule or service is invalid
    "protocol": ("intents/(domains|branch|services).yaml", r"^\s+protocol: \w+",
                 lambda line: re.sub(r"protocol: (\w+)", r"protocol: \1x", line, count=1)),
    # a misspelt domain: the rule names nothing
    "domain typo": ("intents/(domains|branch).yaml", r"^\s+(from|to): [\w-]+",
                    lambda line: re.sub(r"(from|to): ([\w-]+)", r"\1: \2s", line, count=1)),
    # a misspelt host: the domain member or the probe names nothing
    "host typo": ("intents/(domains|branch|services).yaml", r"(host|probe_from): [\w-]+",
                  lambda line: re.sub(r"(host|probe_from): ([\w-]+)", r"\1: \2x", line, count=1)),
    # a misspelt router, group or peer in a routing intent: the process or network lacks a member
    "routing typo": ("intents/routing.yaml", r"(\b(host|group|from): |hosts: \[|exits: \[)[\w-]+",
                     lambda line: re.sub(r"(\b(host|group|from): |hosts: \[|exits: \[)([\w-]+)", r"\1\3x", line,
                                         count=1)),
    # a misspelt group of a host
    "group typo": ("inventory/hosts.yaml", r"^\s+groups: \[[\w-]+",
                   lambda line: re.sub(r"groups: \[([\w-]+)", r"groups: [\1x", line, count=1)),
    # a field no intent has
    "intent field": ("intents/services.yaml", r"^\s+probe_from:",
                     lambda line: line.replace("probe_from:", "probe-from:", 1)),
}


def _candidates(kind: str) -> list[tuple[str, int]]:
    """(file, line number) of every line of the example the mistake can be made on."""
    pattern, regex, _ = MISTAKES[kind]
    out = []
    for path in sorted((ROOT / "intents").glob("*.yaml")) + sorted((ROOT / "inventory").glob("*.yaml")):
        rel = f"{path.parent.name}/{path.name}"
        if not re.fullmatch(pattern, rel):
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if re.search(regex, line):
                out.append((rel, number))
    return out


def test_every_kind_of_mistake_has_somewhere_to_be_made() -> None:
    for kind in MISTAKES:
        assert _candidates(kind), kind


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_one_mistake_gives_one_problem_at_its_line(data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(sorted(MISTAKES)), label="kind")
    rel, number = data.draw(st.sampled_from(_candidates(kind)), label="where")
    with tempfile.TemporaryDirectory() as tmp:
        folder = _copy(Path(tmp))
        path = folder / rel
        lines = path.read_text().splitlines(keepends=True)
        wrong = MISTAKES[kind][2](lines[number - 1])
        assert wrong != lines[number - 1]
        lines[number - 1] = wrong
        path.write_text("".join(lines))
        problems = _validate(folder)
    assert problems, f"{kind} at {rel}:{number} ({wrong.strip()}) went unnoticed"
    elsewhere = [str(p) for p in problems if not (p.file.endswith(rel) and p.line == number)]
    assert not elsewhere, f"{kind} at {rel}:{number} ({wrong.strip()}) also gave: {elsewhere}"
    if kind in ("domain typo", "host typo", "group typo", "routing typo"):
        assert all("did you mean" in p.message for p in problems), [str(p) for p in problems]


def _edit(folder: Path, rel: str, old: str, new: str) -> None:
    path = folder / rel
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_a_host_with_a_bad_field_is_not_an_unknown_host(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    _edit(folder, "inventory/hosts.yaml", "eth1: {address: 10.0.12.2/30, description: to r1 eth1}",
          "eth1: {address: 10.0.12.2/30, descr: to r1 eth1}")
    problems = _validate(folder)
    assert [p.message for p in problems] == [
        "unknown field 'descr'; did you mean 'description'? (fields: address, description, enabled)"]


def test_passive_yes_is_one_problem(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    _edit(folder, "intents/routing.yaml", "{group: lab_core, interface: lo, passive: true}",
          "{group: lab_core, interface: lo, passive: yes}")
    problems = _validate(folder)
    assert len(problems) == 1, [str(p) for p in problems]
    assert problems[0].path == "ospf[0].areas[0].interfaces[0].passive"
    # and validate says that the paths wait for the fix
    ws = Workspace(folder / "inventory", folder / "intents", ROOT / "netorch" / "templates")
    assert ws.validate().deferred
    assert not Workspace(ROOT / "inventory", ROOT / "intents", ROOT / "netorch" / "templates").validate().deferred


def test_an_unknown_name_says_what_was_meant_and_what_exists(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    _edit(folder, "intents/services.yaml", "probe_from: r1 ", "probe_from: r11 ")
    _edit(folder, "intents/services.yaml", "consumers: [users]", "consumers: [user]")
    problems = {p.path: p.message for p in _validate(folder)}
    assert problems["services[0].probe_from"].startswith("unknown host 'r11'; did you mean 'r1'? (hosts: ")
    assert "up1" in problems["services[0].probe_from"]
    assert problems["services[0].consumers[0]"].startswith("unknown domain 'user'; did you mean 'users'?")


def test_an_unknown_interface_lists_the_hosts_interfaces(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    _edit(folder, "intents/routing.yaml", "{host: r1, interface: eth3, passive: true}",
          "{host: r1, interface: eht3, passive: true}")
    problems = [p.message for p in _validate(folder)]
    assert problems == ["host r1 has no interface 'eht3' with an address netorch manages; did you mean "
                        "'eth3'? (interfaces: eth1, eth2, eth3, lo)"]


def test_unknown_name_bounds_the_names_it_lists() -> None:
    text = unknown_name("host", "zz", [f"h{i}" for i in range(100)])
    assert text.startswith("unknown host 'zz' (hosts: h0, h1, h10,")
    assert text.endswith("and 88 more)")
    assert "did you mean" not in text
    assert unknown_name("VRF", "gren", []) == "unknown VRF 'gren' (no VRF is declared)"


def test_a_lookalike_name_is_what_was_meant() -> None:
    """'dl' typed for 'd1' (and O for 0) is no near match for difflib, but a reader's mistake."""
    assert unknown_name("host", "dl", ["d1", "d2", "e1"]).startswith("unknown host 'dl'; did you mean 'd1'?")
    assert unknown_name("host", "rO", ["r0", "r9"]).startswith("unknown host 'rO'; did you mean 'r0'?")


def test_a_sequence_orders_the_rules_of_one_domain_pair(tmp_path: Path) -> None:
    """Sequence 30 is the guests -> users rule's; a users -> servers rule may use it too (rules of two
    pairs never match one packet), another users -> servers rule at 10 may not."""
    folder = _copy(tmp_path)
    domains = folder / "intents" / "domains.yaml"
    text = domains.read_text()
    domains.write_text(text.replace("    sequence: 20\n", "    sequence: 30\n", 1))
    assert _validate(folder) == []
    domains.write_text(text.replace("    sequence: 20\n", "    sequence: 10\n", 1))
    problems = _validate(folder)
    assert len(problems) == 1, problems
    assert problems[0].message.startswith("sequence 10 is already used by rule 'users-")
    assert problems[0].message.endswith(") from 'users' to 'servers'") and str(domains) in problems[0].message
