"""netorch verify --against: the differential between two models of the network (a stored run
or revision and the intents; the intents and the network as it runs), exactly; and the
verifications kept in the store."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from netorch.cli.app import app, main
from netorch.configtree.frr import KernelInterface
from netorch.model.desired import DesiredState
from netorch.service import Workspace
from netorch.store import MIGRATIONS, Store
from netorch.transport.base import InterfaceState
from netorch.transport.napalm_frr.parse import route_table
from netorch.verify.against import AgainstError, current_side, stored_side, verify_against
from netorch.verify.differential import Differential, Side, differential
from netorch.verify.headerspace import Atoms
from netorch.verify.live import Reading, live_source, live_state, parse_filters, parse_rule, rib_entries
from netorch.verify.model import Network, RibEntry, model_prefixes

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "tests/cases/static"
SSH = "    ports: [22]\n"


def example() -> Workspace:
    return Workspace(ROOT / "inventory", ROOT / "intents", ROOT / "netorch" / "templates")


def edited(tmp_path: Path, old: str, new: str, name: str = "domains.yaml") -> Workspace:
    intents = tmp_path / "intents"
    shutil.copytree(ROOT / "intents", intents)
    path = intents / name
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new))
    return Workspace(ROOT / "inventory", intents, ROOT / "netorch" / "templates")


def brief(diff: Differential) -> list[tuple[str, str, str, tuple[str, ...], tuple[str, ...], str]]:
    return [(c.kind, c.source_domain, c.destination_domain, c.sources, c.destinations, c.services)
            for c in diff.changes]


@pytest.fixture()
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    path = tmp_path / "store" / "netorch.db"
    monkeypatch.setenv("NETORCH_STORE", str(path))
    monkeypatch.setenv("NETORCH_ACTOR", "tester")
    s = Store(path)
    yield s
    s.close()


def applied(store: Store, ws: Workspace) -> int:
    """What an apply of `ws` keeps: its revision's files and each device's desired state."""
    run = store.start_run("apply", "tester", ws.revision())
    store.save_revision(ws.revision(), "", ws.revision_files())
    store.save_artifacts(run, [(h, s.platform.value, "napalm", {}, s.model_dump(mode="json"))
                               for h, s in ws.compile().items()])
    store.finish_run(run, "changed", {})
    return run


# -- against a stored run or revision ------------------------------------------------------------

def test_a_wider_rule_is_newly_allowed_exactly(tmp_path: Path, store: Store) -> None:
    old = example()
    run = applied(store, old)
    new = edited(tmp_path, SSH, "    ports: [22, 2200-2299]\n")
    expected = [("newly allowed", "users", "servers", ("10.1.0.0/24",), ("10.2.0.0/24",), "tcp/2200-2299")]
    for ref in (str(run), old.revision()[:6]):
        diff = verify_against(new, ref, store)
        assert brief(diff) == expected, ref
        change = diff.changes[0]
        assert str(change.example) == "10.1.0.2 -> 10.2.0.2 tcp/2200"
        assert "default:servers" in change.before and "rule:users-ssh-to-servers" in change.after
        assert diff.exit_code == 2 and diff.verdict == "different"
    assert verify_against(old, str(run), store).exit_code == 0
    # the other way round, the same flows are newly blocked
    applied(store, new)
    back = verify_against(old, new.revision(), store)
    assert brief(back) == [("newly blocked", *expected[0][1:])]


def test_a_removed_route_is_newly_blocked() -> None:
    ws = Workspace(STATIC / "inventory", STATIC / "intents", ROOT / "netorch" / "templates")
    before = current_side(ws)
    desired = dict(before.desired)
    desired["r4"] = desired["r4"].model_copy(update={"routes": tuple(
        r for r in desired["r4"].routes if r.prefix != IPv4Network("10.1.0.0/24"))})
    diff = differential(before, Side("r4 without its routes to the users", desired, before.topo, before.intents))
    # the replies of every users -> servers connection have no way back
    assert brief(diff) == [
        ("newly blocked", "users", "servers", ("10.1.0.0/24",), ("10.2.0.0/24",), "tcp/22, icmp"),
        ("newly blocked", "users", "servers", ("10.1.0.0/24",), ("10.2.0.10",), "tcp/8080")]
    assert all(c.after == "reply: no route at r4" for c in diff.changes)
    assert diff.changes[1].before.endswith("service:web")


def test_run_artifacts_are_what_the_run_pushed(store: Store) -> None:
    """A run's stored desired states win over its revision compiled again."""
    ws = example()
    run = store.start_run("apply", "tester", ws.revision())
    store.save_revision(ws.revision(), "", ws.revision_files())
    r4 = ws.compile()["r4"]
    narrowed = r4.model_copy(update={"filters": tuple(
        f.model_copy(update={"rules": tuple(r for r in f.rules if r.origin != "service:web")}) for f in r4.filters)})
    store.save_artifacts(run, [("r4", "frr", "napalm", {}, narrowed.model_dump(mode="json"))])
    side = stored_side(store, str(run), ws.templates_dir)
    assert side.label == f"run {run} (revision {ws.revision()})"
    diff = differential(side, current_side(ws))
    assert brief(diff) == [("newly allowed", "users", "servers", ("10.1.0.0/24",), ("10.2.0.10",), "tcp/8080")]


def test_unknown_run_or_revision_is_a_clear_error(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(AgainstError, match="no run 99"):
        stored_side(store, "99", ROOT / "netorch" / "templates")
    with pytest.raises(AgainstError, match="no single stored revision 'beef'"):
        stored_side(store, "beef", ROOT / "netorch" / "templates")
    base = ["--inventory", str(ROOT / "inventory"), "--intents", str(ROOT / "intents"),
            "--templates", str(ROOT / "netorch" / "templates")]
    assert main([*base, "verify", "--against", "beef"]) == 1
    err = capsys.readouterr().err
    assert "error: revision beef: no single stored revision" in err and "Traceback" not in err


# -- against the network as it runs ---------------------------------------------------------------

def rib_of(ws: Workspace) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Each FRR router's RIB as NAPALM get_route_to would give it, from the intents' model."""
    desired, topo = ws.compile(), ws.topology()
    net = Network(desired, topo, Atoms(model_prefixes(desired, topo)))
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for host, router in net.routers.items():
        if router.platform.value != "frr":
            continue
        table: dict[str, list[dict[str, Any]]] = out.setdefault(host, {})
        for by_len in router.fib.get("", {}).values():
            for fe in by_len.values():
                e = fe.entry
                table[str(e.prefix)] = [{"protocol": e.source, "current_active": True, "selected_next_hop": True,
                                         "next_hop": str(fe.next_hop or ""), "outgoing_interface": fe.out_if,
                                         "preference": e.distance, "routing_table": "default"}]
    return out


def live(ws: Workspace, nft: dict[str, str] | None = None, ribs: dict[str, Any] | None = None,
         kernel: dict[str, dict[str, KernelInterface]] | None = None) -> Side:
    """The network read back: the rendered nftables tables and the model's RIB, edited."""
    current = current_side(ws)
    rendered = ws.render()
    ribs = ribs if ribs is not None else rib_of(ws)
    desired: dict[str, DesiredState] = dict(current.desired)
    entries: dict[str, list[RibEntry]] = {}
    notes: list[str] = []
    for host, table in ribs.items():
        config = {"frr.conf": "", "nftables.nft": (nft or {}).get(host, rendered[host]["nftables.nft"])}
        reading = Reading(config, (kernel or {}).get(host), None, table)
        state, found, why = live_state(desired[host], reading, "napalm")
        desired[host], notes = state, notes + why
        assert found is not None
        entries[host] = found
    return Side("live", desired, current.topo, current.intents, (live_source(entries),),
                frozenset(e.prefix for es in entries.values() for e in es), tuple(notes))


def test_the_network_read_back_as_rendered_is_the_intents() -> None:
    ws = example()
    side = live(ws)
    assert side.notes == ()
    diff = differential(current_side(ws), side)
    assert diff.changes == [] and diff.exit_code == 0, diff.lines()
    # the filters read back are the compiled ones (the reply entries are not rendered for FRR)
    for host in ("r1", "r2", "r4"):
        want = [[(r.action, r.protocol, r.sources, r.destinations, r.ports) for r in f.rules if not r.reply]
                for f in ws.compile()[host].filters]
        got = [[(r.action, r.protocol, r.sources, r.destinations, r.ports) for r in f.rules]
               for f in side.desired[host].filters]
        assert got == want, host


def test_an_nft_rule_deleted_out_of_band_is_newly_blocked_exactly() -> None:
    ws = example()
    text = ws.render()["r4"]["nftables.nft"]
    line = next(x for x in text.splitlines() if 'comment "rule:users-ssh-to-servers"' in x)
    diff = differential(current_side(ws), live(ws, nft={"r4": text.replace(line + "\n", "")}))
    assert brief(diff) == [("newly blocked", "users", "servers", ("10.1.0.0/24",), ("10.2.0.0/24",), "tcp/22")]
    change = diff.changes[0]
    assert str(change.example) == "10.1.0.2 -> 10.2.0.2 tcp/22"
    assert change.after == "r4 netorch_servers_eth3_out: default:users (live)"
    assert change.before == ("r1 netorch_users_eth3_in: rule:users-ssh-to-servers; "
                             "r4 netorch_servers_eth3_out: rule:users-ssh-to-servers")
    assert diff.exit_code == 2


def test_a_route_gone_from_the_rib_is_newly_blocked_exactly() -> None:
    ws = example()
    ribs = rib_of(ws)
    del ribs["r1"]["10.2.0.0/24"]  # r1 forgets the servers (an OSPF-learned route gone)
    assert differential(current_side(ws), live(ws, ribs=ribs)).changes == []  # BGP's default still gets there
    del ribs["r1"]["0.0.0.0/0"]
    diff = differential(current_side(ws), live(ws, ribs=ribs))
    assert brief(diff) == [
        ("newly blocked", "users", "servers", ("10.1.0.0/24",), ("10.2.0.0/24",), "tcp/22, icmp"),
        ("newly blocked", "users", "servers", ("10.1.0.0/24",), ("10.2.0.10",), "tcp/8080")]
    assert [c.after for c in diff.changes] == ["no route at r1"] * 2
    assert diff.changes[0].path_after == ("r1[eth3>-]",)


def test_an_interface_down_in_the_kernel_takes_its_subnet_away() -> None:
    ws = example()
    ribs = rib_of(ws)
    kernel = {"r4": {name: KernelInterface((str(a),), name != "eth3")
                     for name, a in ws.topology().addresses["r4"].items()}}
    ribs["r4"] = {p: v for p, v in ribs["r4"].items() if p != "10.2.0.0/24"}
    side = live(ws, ribs=ribs, kernel=kernel)
    assert not next(i for i in side.desired["r4"].interfaces if i.name == "eth3").enabled
    diff = differential(current_side(ws), side)
    assert [(c.kind, c.source_domain, c.destinations, c.services) for c in diff.changes] == [
        ("newly blocked", "guests", ("10.2.0.10",), "tcp/8081"),
        ("newly blocked", "users", ("10.2.0.0/24",), "tcp/22, icmp"),
        ("newly blocked", "users", ("10.2.0.10",), "tcp/8080")]


def test_rib_entries_from_frr_json() -> None:
    """FRR 8.4's `show ip route json` (captured): the selected route of each prefix through its
    installed next hops; a route that is not selected (OSPF under connected, iBGP under OSPF) is not."""
    table = route_table((ROOT / "tests/data/frr/r2_route.json").read_text())
    entries = {str(e.prefix): e for e in rib_entries(table)}
    assert entries["10.1.0.0/24"].source == "live-ospf"
    assert str(entries["10.1.0.0/24"].next_hop) == "10.0.12.1" and entries["10.1.0.0/24"].interface == "eth1"
    assert entries["10.0.12.0/30"].source == "connected" and entries["10.0.12.0/30"].interface == "eth1"
    assert entries["0.0.0.0/0"].source == "live-bgp" and str(entries["0.0.0.0/0"].next_hop) == "10.0.25.2"
    assert entries["0.0.0.0/0"].distance == 20


def test_nft_statements_the_model_does_not_read_are_notes() -> None:
    rule = parse_rule('ip saddr { 10.1.0.0/23, 10.5.0.3 } ip daddr 10.2.0.0-10.2.0.9 tcp dport { 22, 80-81 } '
                      'counter packets 3 bytes 180 accept comment "x"', "c rule 1")
    assert [str(n) for n in rule.sources] == ["10.1.0.0/23", "10.5.0.3/32"]
    assert [str(n) for n in rule.destinations] == ["10.2.0.0/29", "10.2.0.8/31"]
    assert [str(p) for p in rule.ports] == ["22", "80-81"] and rule.origin == "x (live)"
    text = """table inet netorch {
	chain forward {
		type filter hook forward priority filter; policy drop;
		iifname "eth3" jump a
		ip saddr 10.9.0.0/16 log
	}

	chain a {
		ip saddr != 10.1.0.0/24 drop comment "y"
		ip saddr 10.1.0.0/24 meta l4proto gre accept
		ip saddr 10.1.0.0/24 accept comment "z"
	}
}
"""
    filters, notes = parse_filters("r9", text, ())
    assert [r.origin for r in filters[0].rules] == ["z (live)"]
    assert len(notes) == 5, notes
    assert any("policy is drop" in n for n in notes) and any("not modelled (a negated match)" in n for n in notes)
    assert any("established connections" in n for n in notes)


def test_unread_devices_are_modelled_as_intended_and_named() -> None:
    ws = example()
    state, entries, notes = live_state(ws.compile()["r1"], Reading({"config.txt": ""}, None,
                                                                   {"eth3": InterfaceState("eth3", True, True)},
                                                                   None), "netmiko")
    assert entries is None and state.filters == ws.compile()["r1"].filters
    assert notes == ["r1: filters not readable through netmiko: modelled as intended",
                     "r1: RIB not readable through netmiko: routes modelled as intended"]


# -- the records ----------------------------------------------------------------------------------

def test_verifications_are_kept_and_linked(store: Store) -> None:
    assert store._db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    run = store.start_run("plan", "tester", "abc")
    vid = store.save_verification("plan", "tester", "abc", "fail", "1 promise(s) fail",
                                  [{"check": "isolation", "packet": {"src": "10.3.0.2"}}], {"stats": {}})
    assert store.verification(vid) is not None and store.verification(vid).run_id is None  # type: ignore[union-attr]
    store.link_verification(vid, run)
    record = store.run(run)
    assert record is not None and [v.id for v in record.verifications] == [vid]
    assert record.as_dict()["verifications"][0]["failures"][0]["packet"] == {"src": "10.3.0.2"}
    assert [v.id for v in store.verifications(run_ids=[run])] == [vid]
    with pytest.raises(Exception, match="unknown verification verdict"):
        store.save_verification("verify", "t", "abc", "maybe", "", [], {})


BASE = ["--inventory", str(ROOT / "inventory"), "--templates", str(ROOT / "netorch" / "templates")]


def test_cli_keeps_each_verification_and_history_shows_them(tmp_path: Path, store: Store) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, [*BASE, "--intents", str(ROOT / "intents"), "verify"])
    assert ok.exit_code == 0, ok.output
    run = applied(store, example())
    wider = edited(tmp_path, SSH, "    ports: [22, 2200-2299]\n")
    diff = runner.invoke(app, [*BASE, "--intents", str(wider.intents_dir), "verify", "--against", str(run), "--json"])
    assert diff.exit_code == 2, diff.output
    data = json.loads(diff.output)
    assert data["verdict"] == "different" and data["counts"] == {"newly allowed": 1, "newly blocked": 0}
    assert data["changes"][0]["example"] == {"src": "10.1.0.2", "dst": "10.2.0.2", "protocol": "tcp", "port": 2200}
    kept = store.verifications()
    assert [(v.kind, v.verdict, v.against, v.revision) for v in kept] == [
        ("verify", "different", f"run {run} (revision {example().revision()})", wider.revision()),
        ("verify", "ok", "", example().revision())]
    assert kept[0].details["changes"][0]["services"] == "tcp/2200-2299" and kept[0].actor == "tester"
    shown = runner.invoke(app, ["history", "--kind", "verify"])
    assert shown.exit_code == 0 and "different" in shown.output and " ok " in shown.output
    listed = json.loads(runner.invoke(app, ["history", "--kind", "verify", "--json"]).output)
    assert [v["verdict"] for v in listed] == ["different", "ok"]


def test_a_refused_plan_keeps_its_failed_verification(tmp_path: Path, store: Store) -> None:
    opens = "  - {name: guests-web, sequence: 5, from: guests, to: users, protocol: tcp, ports: [80], action: allow}\n"
    broken = edited(tmp_path, "    action: deny\n", "    action: deny\n" + opens)
    bad = CliRunner().invoke(app, [*BASE, "--intents", str(broken.intents_dir), "plan"])
    assert bad.exit_code == 1 and "refused" in bad.output
    (kept,) = store.verifications()
    assert (kept.kind, kept.verdict, kept.run_id) == ("plan", "fail", None)
    assert kept.failures and kept.failures[0]["packet"]["dst"].startswith("10.1.0.")
    record_run = store.start_run("apply", "tester", broken.revision())
    store.link_verification(kept.id, record_run)
    shown = CliRunner().invoke(app, ["history", str(record_run)])
    assert f"verification {kept.id}: fail" in shown.output and "counterexample" not in shown.output
    assert "FAIL " in shown.output and "-> 10.1.0." in shown.output


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_the_daemon_keeps_and_lists_verifications(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from netorch.daemon.config import DaemonConfig
    from netorch.daemon.main import build

    token = "read-token-" + "r" * 24
    cfg = DaemonConfig.model_validate({
        "inventory": ROOT / "inventory", "intents": ROOT / "intents", "templates": ROOT / "netorch" / "templates",
        "store": tmp_path / "d.db", "port": 0, "tokens": [{"name": "viewer", "role": "read", "token": token}]})
    daemon, runtime = build(cfg)
    auth = {"authorization": f"Bearer {token}"}
    with TestClient(daemon) as client:
        r = client.post("/verify", headers=auth, json={})
        assert r.status_code == 200 and r.json()["ok"] is True
        vid = r.json()["verification"]
        listed = client.get("/verifications", headers=auth).json()
        assert [(v["id"], v["actor"], v["verdict"]) for v in listed] == [(vid, "viewer", "ok")]
        run = runtime.store.start_run("apply", "ci", "x")
        runtime.store.link_verification(vid, run)
        assert client.get(f"/runs/{run}", headers=auth).json()["verifications"][0]["id"] == vid
        assert client.get("/verifications").status_code == 401


class _Vtysh:
    """A netmiko connection to a vtysh login, as far as `show ip route json` goes."""

    base_prompt = "r2"
    password = None

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.sent: list[str] = []

    def send_command(self, command: str, **_: Any) -> str:
        self.sent.append(command)
        return self.answer


def test_the_netmiko_session_reads_the_whole_rib() -> None:
    from netorch.errors import TransportError
    from netorch.platforms import Transport
    from netorch.transport.base import DeviceJob
    from netorch.transport.netmiko.session import NetmikoSession

    text = (ROOT / "tests/data/frr/r2_route.json").read_text()
    job = DeviceJob("r2", "frr", Transport.NETMIKO, {}, example().compile()["r2"])
    conn = _Vtysh(text)
    assert NetmikoSession("r2", conn, job).rib() == route_table(text)
    assert conn.sent == ["show ip route json"]
    with pytest.raises(TransportError, match="not JSON"):
        NetmikoSession("r2", _Vtysh("% Unknown command"), job).rib()
    ios = DeviceJob("r2", "cisco_ios", Transport.NETMIKO, {}, example().compile()["r2"])
    assert NetmikoSession("r2", _Vtysh(text), ios).rib() is None
