"""netorch verify on small intents: each broken promise is found with its exact counterexample."""

from __future__ import annotations

import shutil
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netorch.cli.app import app
from netorch.model.desired import DesiredRoute, DesiredState
from netorch.model.intents import Protocol
from netorch.model.types import PortRange
from netorch.platforms import PLATFORMS
from netorch.service import Workspace
from netorch.simulate import expect
from netorch.verify import Report, VerifyFailed, verify, verify_or_refuse, verify_state
from netorch.verify.headerspace import ALL_SERVICES, Atoms, describe_services, services
from netorch.verify.model import SEMANTICS
from netorch.verify.verifier import Verifier

ROOT = Path(__file__).resolve().parents[1]
#: the example as it was with static routes only: the scenarios of static routing (loops,
#: missing routes, a link failure a static backup does not cover)
STATIC = ROOT / "tests/cases/static"
H1, H2, H3 = IPv4Address("10.1.0.10"), IPv4Address("10.2.0.10"), IPv4Address("10.3.0.10")


def workspace(tmp_path: Path, **replace: str) -> Workspace:
    """The static-route example's intents, with some files replaced."""
    intents = tmp_path / "intents"
    shutil.copytree(STATIC / "intents", intents)
    for name, text in replace.items():
        (intents / f"{name}.yaml").write_text(text)
    return Workspace(STATIC / "inventory", intents, ROOT / "netorch" / "templates")


def static_example() -> Workspace:
    return Workspace(STATIC / "inventory", STATIC / "intents", ROOT / "netorch" / "templates")


def failures_of(report: Report, check: str) -> list:  # type: ignore[type-arg]
    return [f for f in report.failures if f.check == check]


def test_example_holds_every_promise() -> None:
    report = verify(Workspace(ROOT / "inventory", ROOT / "intents", ROOT / "netorch" / "templates"))
    assert report.ok, report.lines()
    assert report.exit_code == 0
    # the explicit guests -> users deny makes the default drop after it unreachable: that is no
    # news (the default entry is netorch's own, and the deny says the same), so no warning
    assert not any(w.check == "shadowed" and w.subject.startswith("default:") for w in report.warnings)


def test_stateless_rule_for_any_protocol_opens_the_way_back(tmp_path: Path) -> None:
    """An allow for any protocol on IOS/EOS carries a reply entry for any protocol: the servers
    can then open connections to the users that no rule allows."""
    ws = workspace(tmp_path, branch=(ROOT / "intents" / "branch.yaml").read_text().replace(
        "    protocol: icmp\n    action: allow", "    protocol: any\n    action: allow"))
    report = verify(ws)
    found = failures_of(report, "isolation")
    assert [f.subject for f in found] == ["branch-servers -> branch-users"]
    f = found[0]
    assert str(f.packet) == "10.22.0.2 -> 10.21.0.2 tcp/1"
    assert f.path == ("ios1[GigabitEthernet0/2>GigabitEthernet0/1] (route:branch-users-from-ios)",
                      "eos1[Ethernet1>Ethernet3] (connected:Ethernet3)")
    assert "rule:branch-users-ping-servers" in f.decided_by
    assert report.exit_code == 1


def test_a_route_that_loops(tmp_path: Path) -> None:
    ws = static_example()
    desired = dict(ws.compile())
    r2 = desired["r2"]
    routes = tuple(r if r.origin != "route:r2-servers" else
                   DesiredRoute(prefix=r.prefix, next_hop=IPv4Address("10.0.12.1"), origin=r.origin)
                   for r in r2.routes)
    desired["r2"] = r2.model_copy(update={"routes": routes})
    _, intents, _ = ws.load()
    report = verify_state(desired, ws.topology(), intents)
    loops = failures_of(report, "loop")
    assert {f.subject for f in loops} >= {"10.2.0.0/24 from r1", "route:r2-servers (10.2.0.0/24)"}
    loop = next(f for f in loops if f.subject == "10.2.0.0/24 from r1")
    assert loop.path == ("r1[eth3>eth1] (route:r1-servers-via-r2)", "r2[eth1>eth1] (route:r2-servers)")
    assert loop.decided_by == "forwarding loop (loop through r1)"
    web = next(f for f in failures_of(report, "service") if f.subject == "service web from users")
    assert str(web.packet) == "10.1.0.2 -> 10.2.0.10 tcp/8080"


def _without(desired: dict[str, DesiredState], host: str, origin: str) -> dict[str, DesiredState]:
    state = desired[host]
    return {**desired, host: state.model_copy(update={"routes": tuple(r for r in state.routes if r.origin != origin)})}


def test_a_service_one_consumer_cannot_reach() -> None:
    ws = static_example()
    _, intents, _ = ws.load()
    desired = _without(dict(ws.compile()), "r4", "service:guest-portal")
    report = verify_state(desired, ws.topology(), intents)
    [f] = failures_of(report, "service")
    assert f.subject == "service guest-portal from guests"
    assert str(f.packet) == "10.3.0.2 -> 10.2.0.10 tcp/8081"
    assert f.decided_by == "reply: no route at r4"
    assert f.reply_path == ("r4[eth3>-]",)
    assert f.flows["services"] == "tcp/8081"


def test_deny_shadowed_by_an_earlier_allow(tmp_path: Path) -> None:
    extra = """
rules:
  - {name: users-udp-to-servers, sequence: 40, from: users, to: servers, protocol: udp, action: allow}
  - {name: users-no-dns-to-servers, sequence: 50, from: users, to: servers, protocol: udp, ports: [53], action: deny}
"""
    report = verify(workspace(tmp_path, extra=extra))
    found = failures_of(report, "deny-shadowed")
    assert {f.subject for f in found} == {"rule:users-no-dns-to-servers shadowed by rule:users-udp-to-servers"}
    f = found[0]
    assert "wholly" in f.message
    assert str(f.packet) == "10.1.0.2 -> 10.2.0.2 udp/53"
    assert f.count == 2  # on r1 (users in) and r4 (servers out)
    with pytest.raises(VerifyFailed) as exc:
        verify_or_refuse(workspace(tmp_path / "again", extra=extra))
    assert "deny-shadowed" in str(exc.value)


def test_ospf_carries_every_promise_through_any_single_campus_failure() -> None:
    """The shipped example routes with OSPF and BGP: a link or router down in the campus moves
    traffic to the backup paths, and BGP to the backup exit (r3) when r2's edge is gone."""
    ws = Workspace(ROOT / "inventory", ROOT / "intents", ROOT / "netorch" / "templates")
    report = verify(ws, failures=1)
    campus = {"r1", "r2", "r3", "r4", "up1"}
    assert not [(f.subject, f.element) for f in report.failures
                if any(h in f.element or h in f.subject for h in campus)], report.lines()
    desired, topo = ws.compile(), ws.topology()
    _, intents, _ = ws.load()
    edge = next(n for n in topo.attached if str(n) == "10.0.25.0/30")
    v = Verifier(desired, topo, intents)
    external = v.atoms.find(IPv4Address("203.0.113.10"))
    from netorch.verify.model import Failure, Network

    normal = Network(desired, topo, v.atoms).trace("r1", external)
    assert normal.outcome == "delivered" and [h.host for h in normal.hops] == ["r1", "r2", "up1"]
    cut = Network(desired, topo, v.atoms, Failure(links=frozenset({edge}))).trace("r1", external)
    assert cut.outcome == "delivered" and [h.host for h in cut.hops] == ["r1", "r3", "up1"]


def test_a_single_link_failure_breaks_a_promise() -> None:
    ws = static_example()
    report = verify(ws, failures=1)
    web = [f for f in failures_of(report, "service") if f.subject == "service web from users"]
    by_element = {f.element: f for f in web}
    r1r2 = by_element["link r1:eth1-r2:eth1 (10.0.12.0/30)"]
    assert str(r1r2.packet) == "10.1.0.2 -> 10.2.0.10 tcp/8080"
    assert r1r2.decided_by == "reply: no route at r2"
    assert r1r2.path[0] == "r1[eth3>eth2] (route:r1-servers-via-r3)"  # the backup route carries it there
    assert r1r2.reply_path == ("r4[eth3>eth1] (route:r4-users-via-r2)", "r2[eth2>-]")
    assert "link r1:eth2-r3:eth1 (10.0.13.0/30)" not in by_element  # the backup is not needed there
    assert report.exit_code == 1


def test_resilient_intent_is_checked_under_failures_without_the_flag(tmp_path: Path) -> None:
    text = (STATIC / "intents" / "services.yaml").read_text().replace(
        "    probe_from: r1 ", "    resilient: true\n    probe_from: r1 ")
    assert "resilient: true" in text
    report = verify(workspace(tmp_path, services=text))
    subjects = {(f.subject, f.element) for f in report.failures}
    assert ("service web from users", "link r1:eth1-r2:eth1 (10.0.12.0/30)") in subjects
    assert not any(s == "service guest-portal from guests" for s, _ in subjects)  # not resilient
    assert report.stats["resilient_only"] is True


def test_verifier_agrees_with_the_sample_simulator_on_the_example() -> None:
    ws = Workspace(ROOT / "inventory", ROOT / "intents", ROOT / "netorch" / "templates")
    desired, topo = ws.compile(), ws.topology()
    _, intents, _ = ws.load()
    v = Verifier(desired, topo, intents)
    for src in (H1, H2, H3):
        for dst in (H1, H2, H3):
            if src == dst:
                continue
            for proto, port in (("icmp", None), ("tcp", 22), ("tcp", 8080), ("tcp", 8081), ("tcp", 9999)):
                ok, _ = v.flow(src, dst, proto, port)
                assert ok == expect(desired, topo, src, dst, proto, port).allowed, (src, dst, proto, port)


def test_service_axis_and_atoms() -> None:
    svc = services(Protocol.TCP, (PortRange(start=22, end=22), PortRange(start=8000, end=8080)))
    assert describe_services(svc) == "tcp/22, tcp/8000-8080"
    assert describe_services(ALL_SERVICES - svc).startswith("tcp/0-21, tcp/23-7999, tcp/8081-65535, udp (any port)")
    atoms = Atoms([IPv4Network("10.0.0.0/24"), IPv4Network("10.0.0.10/32")])
    assert len(atoms) == 5
    assert atoms.of(IPv4Network("10.0.0.0/24")).last - atoms.of(IPv4Network("10.0.0.0/24")).first == 3


def test_filter_semantics_agree_with_the_platform_table() -> None:
    for platform, spec in PLATFORMS.items():
        assert SEMANTICS[platform].stateful == spec.stateful_filter


def test_cli_verify_and_plan_refuses(tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["--inventory", str(ROOT / "inventory"), "--templates", str(ROOT / "netorch" / "templates")]
    ok = runner.invoke(app, [*base, "--intents", str(ROOT / "intents"), "verify"])
    assert ok.exit_code == 0, ok.output
    assert "every promise holds" in ok.output
    ws = workspace(tmp_path, extra="""
rules:
  - {name: users-udp-to-servers, sequence: 40, from: users, to: servers, protocol: udp, action: allow}
  - {name: users-no-dns-to-servers, sequence: 50, from: users, to: servers, protocol: udp, ports: [53], action: deny}
""")
    bad = runner.invoke(app, [*base, "--intents", str(ws.intents_dir), "verify", "--json"])
    assert bad.exit_code == 1
    assert '"deny-shadowed"' in bad.output
    plan = runner.invoke(app, [*base, "--intents", str(ws.intents_dir), "plan"])
    assert plan.exit_code == 1
    assert "refused: a promise of the intents fails" in plan.output
    assert "counterexample:" in plan.output


def test_the_shipped_examples_resilient_promises_survive_every_single_failure() -> None:
    """The campus routes with OSPF and BGP: its resilient services and rule hold under each single
    link and router failure; the branch site (a chain, no backup) breaks under failures, but none
    of its promises is resilient, so plain verify does not fail on it."""
    ws = Workspace(ROOT / "inventory", ROOT / "intents", ROOT / "netorch" / "templates")
    _, intents, _ = ws.load()
    assert {s.value.name for s in intents.services if s.value.resilient} == {"web", "guest-portal"}
    report = verify(ws)
    assert report.stats["resilient_only"] is True and report.stats["scenarios"] > 10
    assert report.exit_code == 0, [(f.subject, f.element) for f in report.failures]
    campus = verify(ws, limit="lab_routers", failures=1)
    assert campus.exit_code == 0 and not campus.failures, [(f.subject, f.element) for f in campus.failures]
    everything = verify(ws, failures=1)  # every promise, the branch's too: its chain cannot survive
    assert everything.failures and all(f.element.startswith(("link eos1", "router eos1")) for f in everything.failures)


def test_a_rule_the_rules_before_it_cover_is_a_warning(tmp_path: Path) -> None:
    """A second allow the first covers matches no packet: a warning naming both, by the user's
    names (the default entries netorch adds never are)."""
    extra = """
rules:
  - {name: users-udp-to-servers, sequence: 40, from: users, to: servers, protocol: udp, action: allow}
  - {name: users-dns-to-servers, sequence: 50, from: users, to: servers, protocol: udp, ports: [53], action: allow}
"""
    report = verify(workspace(tmp_path, extra=extra))
    found = [w for w in report.warnings if w.check == "shadowed"]
    assert found and all(w.subject.startswith("rule:users-dns-to-servers on ") for w in found), found
    assert all("can match no packet: entry #" in w.message and "(rule:users-udp-to-servers) takes everything"
               in w.message for w in found), [w.message for w in found]
