"""One failing example per class of problem: each asserts the message, the file and the line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from netorch.errors import Problem
from netorch.service import Workspace

MakeWs = Callable[..., Workspace]


def problems_of(ws: Workspace) -> list[Problem]:
    result = ws.validate()
    assert not result.ok
    return list(result.problems)


def only(problems: list[Problem], needle: str) -> Problem:
    hits = [p for p in problems if needle in p.message]
    assert len(hits) == 1, f"expected one problem with {needle!r}, got {problems}"
    return hits[0]


def test_examples_are_valid(example: Workspace) -> None:
    result = example.validate()
    assert result.ok, result.problems
    assert result.hosts == 8
    assert result.counts["services"] == 3


def test_unknown_field(make_ws: MakeWs) -> None:
    ws = make_ws({"x.yaml": "routes:\n  - name: a\n    prefix: 10.9.0.0/24\n    next_hop: 10.0.12.2\n"
                  "    hosts: [r1]\n    colour: blue\n"})
    p = only(problems_of(ws), "unknown field 'colour'")
    assert p.file.endswith("x.yaml") and p.line == 6 and p.path == "routes[0].colour"


def test_wrong_type(make_ws: MakeWs) -> None:
    ws = make_ws({"x.yaml": "routes:\n  - name: a\n    prefix: 10.9.0.0/24\n    next_hop: 10.0.12.2\n"
                  "    distance: high\n    hosts: [r1]\n"})
    p = only(problems_of(ws), "integer")
    assert p.line == 5 and p.path == "routes[0].distance"


def test_bad_prefix(make_ws: MakeWs) -> None:
    ws = make_ws({"x.yaml": "routes:\n  - name: a\n    prefix: 10.9.0.1/24\n    next_hop: 10.0.12.2\n"
                  "    hosts: [r1]\n"})
    p = only(problems_of(ws), "invalid IPv4 prefix")
    assert p.line == 3 and "has host bits set" in p.message


def test_unknown_host_and_group(make_ws: MakeWs) -> None:
    ws = make_ws({"x.yaml": "routes:\n  - name: a\n    prefix: 10.9.0.0/24\n    next_hop: 10.0.12.2\n"
                  "    hosts: [r1, r9]\n    groups: [nosuch]\n"})
    problems = problems_of(ws)
    assert only(problems, "unknown host 'r9'").line == 5
    assert only(problems, "unknown group 'nosuch'").line == 6


def test_unknown_interface(make_ws: MakeWs) -> None:
    ws = make_ws({"x.yaml": "routes:\n  - name: a\n    prefix: 10.9.0.0/24\n    interface: eth9\n"
                  "    hosts: [r1]\ndomains:\n  - name: d\n    members:\n"
                  "      - {host: r3, interface: eth7}\n"})
    problems = problems_of(ws)
    assert only(problems, "host r1 has no interface 'eth9'").line == 4
    assert only(problems, "host r3 has no interface 'eth7'").line == 9


def test_unknown_domain_in_rule_and_service(make_ws: MakeWs) -> None:
    ws = make_ws({"x.yaml": "rules:\n  - {name: x, sequence: 900, from: users, to: martians, action: allow}\n"
                  "services:\n  - name: s\n    providers: [10.2.0.10]\n    ports: [1]\n"
                  "    consumers: [venusians]\n"})
    problems = problems_of(ws)
    assert only(problems, "unknown domain 'martians'").line == 2
    assert only(problems, "unknown domain 'venusians'").line == 7


def test_duplicate_names_across_files(make_ws: MakeWs) -> None:
    ws = make_ws({"zz.yaml": "services:\n  - name: web\n    providers: [10.2.0.10]\n    ports: [80]\n"
                  "    consumers: [users]\n"})
    p = only(problems_of(ws), "duplicate service name 'web'")
    assert p.line == 2
    assert "services.yaml:" in p.message  # points at the first declaration


def test_conflicting_routes(make_ws: MakeWs) -> None:
    ws = make_ws({"x.yaml": "routes:\n  - name: zz-other\n    prefix: 10.2.0.0/24\n"
                  "    next_hop: 10.1.0.99\n    hosts: [r1]\n"})
    p = only(problems_of(ws), "conflicting routes on r1")
    assert p.file.endswith("x.yaml") and p.line == 3
    assert "r1-servers-via-r2" in p.message


def test_same_next_hop_at_two_distances_is_a_conflict(make_ws: MakeWs) -> None:
    ws = make_ws({"x.yaml": "routes:\n  - name: zz-other\n    prefix: 10.2.0.0/24\n"
                  "    next_hop: 10.0.12.2\n    distance: 50\n    hosts: [r1]\n"})
    p = only(problems_of(ws), "one route per prefix and next hop")
    assert p.file.endswith("x.yaml") and p.line == 5


def test_same_prefix_other_distance_is_a_backup_not_a_conflict(example: Workspace) -> None:
    # r1-servers-via-r2 and r1-servers-via-r3 share a prefix with distances 1 and 200
    assert example.validate().ok


def test_next_hop_not_connected(make_ws: MakeWs) -> None:
    ws = make_ws({"x.yaml": "routes:\n  - name: a\n    prefix: 10.9.0.0/24\n"
                  "    next_hop: 10.0.34.1\n    hosts: [r1]\n"})
    p = only(problems_of(ws), "is on no connected subnet of r1")
    assert p.line == 4 and p.path == "routes[0].next_hop"


def test_overlapping_domains(make_ws: MakeWs) -> None:
    ws = make_ws({"x.yaml": "domains:\n  - name: lab-all\n    members:\n"
                  "      - {host: r3, subnet: 10.0.13.0/30}\n      - {host: r1, subnet: 10.1.0.0/25}\n"})
    p = only(problems_of(ws), "overlapping domains")
    assert "'users'" in p.message and "'lab-all'" in p.message
    assert (Path(p.file).name, p.line) in {("x.yaml", 5), ("domains.yaml", 8)}


def test_service_blocked_by_explicit_deny(make_ws: MakeWs) -> None:
    ws = make_ws({"x.yaml": "rules:\n  - name: no-guest-web\n    sequence: 5\n    from: guests\n"
                  "    to: servers\n    protocol: tcp\n    ports: [8000-8100]\n    action: deny\n"})
    p = only(problems_of(ws), "deny rule 'no-guest-web'")
    assert p.file.endswith("services.yaml")
    assert "consumer 'guests' cannot reach this service" in p.message
    assert p.path == "services[1].consumers[0]"


def test_deny_on_other_ports_does_not_block(make_ws: MakeWs) -> None:
    ws = make_ws({"x.yaml": "rules:\n  - name: no-guest-ssh\n    sequence: 5\n    from: guests\n"
                  "    to: servers\n    protocol: tcp\n    ports: [22]\n    action: deny\n"})
    assert ws.validate().ok


@pytest.mark.parametrize("text,shown", [
    ("ok\nip route 0.0.0.0/0 10.0.12.2", "U+000A"),
    ("bell\x07", "U+0007"),
    ("a; delete interfaces", "';'"),
    ("end ! comment", "'!'"),
    ("x # y", "'#'"),
    ("quote\" inject", "'\"'"),
    ("brace } x", "'}'"),
    ("cr\rline", "U+000D"),
])
def test_injection_in_free_text_is_rejected(make_ws: MakeWs, text: str, shown: str) -> None:
    import json

    ws = make_ws({"x.yaml": "routes:\n  - name: a\n    prefix: 10.9.0.0/24\n    next_hop: 10.0.12.2\n"
                  f"    hosts: [r1]\n    description: {json.dumps(text)}\n"})
    p = only(problems_of(ws), "could inject configuration")
    assert p.line == 6 and shown in p.message


def test_injection_in_inventory_description(scratch: Path) -> None:
    hosts = scratch / "inventory" / "hosts.yaml"
    hosts.write_text(hosts.read_text().replace("description: users subnet",
                                               'description: "users\\nhostname evil"'))
    ws = Workspace(scratch / "inventory", scratch / "intents")
    p = only(problems_of(ws), "could inject configuration")
    assert p.file.endswith("hosts.yaml") and p.path == "r1.data.interfaces.eth3.description"
    assert p.line == 22


def test_injection_in_names_is_rejected(make_ws: MakeWs) -> None:
    ws = make_ws({"x.yaml": "domains:\n  - name: \"bad name;x\"\n    members: [{host: r3, interface: eth1}]\n"})
    p = only(problems_of(ws), "invalid name")
    assert p.line == 2


def test_malformed_yaml_is_a_problem_with_a_line(make_ws: MakeWs) -> None:
    ws = make_ws({"x.yaml": "routes:\n  - name: a\n    prefix: [10.9.0.0/24\n"})
    p = only(problems_of(ws), "YAML syntax error")
    assert p.file.endswith("x.yaml") and p.line == 4


def test_credentials_in_inventory_are_refused(scratch: Path) -> None:
    (scratch / "inventory" / "defaults.yaml").write_text("username: admin\npassword: hunter2\n")
    p = only(problems_of(Workspace(scratch / "inventory", scratch / "intents")),
             "credentials must not be stored")
    assert p.line == 2
    assert "hunter2" not in str(p)


def test_unknown_platform(scratch: Path) -> None:
    hosts = scratch / "inventory" / "hosts.yaml"
    hosts.write_text(hosts.read_text().replace("platform: cisco_ios", "platform: cisco_xr"))
    p = only(problems_of(Workspace(scratch / "inventory", scratch / "intents")), "unknown platform")
    assert "'cisco_xr'" in p.message


def test_platform_capabilities(make_ws: MakeWs) -> None:
    ws = make_ws({"x.yaml": "routes:\n  - name: a\n    prefix: 10.99.0.0/16\n    next_hop: 10.9.0.3\n"
                  "    distance: 50\n    hosts: [nc1]\n"})
    p = only(problems_of(ws), "cannot express an administrative distance")
    assert p.line == 5


def test_every_problem_at_once(make_ws: MakeWs) -> None:
    ws = make_ws({
        "a.yaml": "routes:\n  - name: a\n    prefix: 10.9.0.0/24\n    next_hop: 10.0.34.1\n    hosts: [r1]\n",
        "b.yaml": "rules:\n  - {name: b, sequence: 901, from: users, to: nobody, action: allow}\n",
        "c.yaml": "services: [\n",
    })
    problems = problems_of(ws)
    files = {Path(p.file).name for p in problems}
    assert {"a.yaml", "b.yaml", "c.yaml"} <= files


def test_cli_exit_codes_and_output(scratch: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from netorch.cli import main

    args = ["--inventory", str(scratch / "inventory"), "--intents", str(scratch / "intents")]
    assert main([*args, "validate"]) == 0
    assert "valid:" in capsys.readouterr().out
    (scratch / "intents" / "x.yaml").write_text("routes:\n  - name: a\n    prefix: nope\n")
    assert main([*args, "validate"]) == 1
    captured = capsys.readouterr().err
    assert "x.yaml:3: [routes[0].prefix]" in captured
    assert "Traceback" not in captured
    assert main([*args, "render", "--out", str(scratch / "out")]) == 1
    assert not (scratch / "out").exists()  # nothing rendered from invalid intents
    assert main(["--no-such-option"]) == 1


# -- semantic holes: each of these used to validate -------------------------------------------
def _route(name: str, host: str, next_hop: str, prefix: str = "10.9.0.0/24", extra: str = "") -> str:
    return f"  - name: {name}\n    prefix: {prefix}\n    next_hop: {next_hop}\n{extra}    hosts: [{host}]\n"


def test_static_routes_that_loop_across_routers(make_ws: MakeWs) -> None:
    # r1 -> r2 -> r4 -> r3 -> r1 for 10.9.0.0/24
    ws = make_ws({"loop.yaml": "routes:\n" + _route("a", "r1", "10.0.12.2") + _route("b", "r2", "10.0.24.2")
                  + _route("c", "r4", "10.0.34.1") + _route("d", "r3", "10.0.13.1")})
    p = only(problems_of(ws), "static routes loop")
    assert p.file.endswith("loop.yaml") and p.line == 4 and p.path == "routes[0].next_hop"
    assert p.message == ("static routes loop for 10.9.0.0/24: r1 (route a) -> r2 (route b) -> r4 (route c) "
                         "-> r3 (route d) -> r1")


def test_a_backup_route_that_loops(make_ws: MakeWs) -> None:
    # r3 sends half of the servers' subnet to r1: fine while r1 uses its primary (through r2),
    # a loop as soon as r1 falls back to its backup through r3
    ws = make_ws({"x.yaml": "routes:\n" + _route("r3-servers-back", "r3", "10.0.13.1", "10.2.0.0/25")})
    p = only(problems_of(ws), "static routes loop")
    assert p.file.endswith("routes.yaml") and p.path == "routes[1].next_hop"
    assert p.message == ("static routes loop for 10.2.0.0/24: r1 (route r1-servers-via-r3) -> "
                         "r3 (route r3-servers-back) -> r1")


def test_next_hop_that_is_the_router_itself_or_no_device(make_ws: MakeWs) -> None:
    ws = make_ws({"x.yaml": "routes:\n" + _route("own", "r1", "10.0.12.1")
                  + _route("own-if", "r1", "10.0.13.1", extra="    interface: eth2\n")
                  + _route("net", "r1", "10.0.12.0", "10.9.1.0/24")
                  + _route("bcast", "r1", "10.0.13.3", "10.9.2.0/24")})
    problems = problems_of(ws)
    assert only(problems, "next hop 10.0.12.1 is the address of r1 eth1 itself").line == 4
    assert only(problems, "next hop 10.0.13.1 is the address of r1 eth2 itself").line == 8
    assert only(problems, "next hop 10.0.12.0 is the network address of 10.0.12.0/30").line == 13
    assert only(problems, "next hop 10.0.13.3 is the broadcast address of 10.0.13.0/30").line == 17


def test_the_same_route_under_two_names(make_ws: MakeWs) -> None:
    ws = make_ws({"x.yaml": "routes:\n" + _route("first", "r1", "10.0.12.2") + _route("second", "r1", "10.0.12.2")})
    p = only(problems_of(ws), "repeats route 'first'")
    assert p.line == 7 and p.path == "routes[1].prefix" and "on r1" in p.message
    # a different distance is a backup, not a repeat
    ws = make_ws({"x.yaml": "routes:\n" + _route("first", "r1", "10.0.12.2")
                  + _route("second", "r1", "10.0.13.2", extra="    distance: 9\n")})
    assert ws.validate().ok, ws.validate().problems


def test_service_provider_in_no_domain(make_ws: MakeWs) -> None:
    ws = make_ws({"x.yaml": "domains:\n  - name: users\n    members: [{host: r1, interface: eth3}]\n"
                  "services:\n  - name: s\n    providers: [10.2.0.10]\n    ports: [80]\n"
                  "    consumers: [users]\n"}, replace=True)
    p = only(problems_of(ws), "provider 10.2.0.10 is in no domain")
    assert p.line == 6 and p.path == "services[0].providers[0]"
    assert "add a domain with its subnet (a member r4 eth3)" in p.message


def test_service_provider_that_is_a_router_address(make_ws: MakeWs) -> None:
    ws = make_ws({"x.yaml": "services:\n  - name: s\n    providers: [10.2.0.1]\n    ports: [80]\n"
                  "    consumers: [users]\n"})
    p = only(problems_of(ws), "provider 10.2.0.1 is the address of r4 eth3 itself")
    assert p.line == 3 and p.path == "services[0].providers[0]"


@pytest.mark.parametrize("probe,needle", [
    ("r9", "unknown host 'r9'"),
    ("eos1", "eos1 is render-only"),
    ("nc1", "nc1 cannot probe"),
    ("r3", "managed through netmiko"),
])
def test_probe_from_a_device_that_cannot_probe(make_ws: MakeWs, probe: str, needle: str) -> None:
    ws = make_ws({"x.yaml": "services:\n  - name: s\n    providers: [10.2.0.10]\n    ports: [80]\n"
                  f"    consumers: [users]\n    probe_from: {probe}\n"})
    p = only(problems_of(ws), needle)
    assert p.line == 6 and p.path == "services[0].probe_from"


def test_rule_whose_traffic_has_no_route(make_ws: MakeWs) -> None:
    rule = ("rules:\n  - {name: users-ping-guests, sequence: 900, from: users, to: guests,"
            " protocol: icmp, action: allow}\n")
    p = only(problems_of(make_ws({"x.yaml": rule})), "has no route")
    assert p.line == 2 and p.path == "rules[0].to"
    assert p.message == ("traffic of rule 'users-ping-guests' from 'users' to 10.3.0.0/24 has no route: "
                         "r1 has no route to 10.3.0.0/24")
    # with a route there (r2 has one back to the users already) the rule is fine
    ws = make_ws({"x.yaml": rule + "routes:\n" + _route("r1-guests", "r1", "10.0.12.2", "10.3.0.0/24")})
    assert ws.validate().ok, ws.validate().problems
