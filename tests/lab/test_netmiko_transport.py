"""The netmiko CLI transport against a real FRR router (r3 of the running lab, through
its vtysh login): load/diff, commit, verify, rejection with restore, rollback,
confirmed commit, connection errors.

They run on the session lab (the fixture `lab`). Only r3 is changed, and every change is
undone: r3's running configuration is restored at the end of the module (and written to
its startup configuration, since commit writes memory).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from netorch.configtree import hconfig as nm
from netorch.errors import DeviceRejected, DeviceUnreachable
from netorch.lab import LabStatus
from netorch.platforms import Transport
from netorch.service import Workspace
from netorch.transport.base import DeviceJob
from netorch.transport.netmiko.connection import CONNECTION_NAME, connect
from netorch.transport.netmiko.session import NetmikoSession
from netorch.transport.registry import connect_plugins

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]
HOST = "r3"  # the only router these tests may change
ROUTES = ["ip route 10.1.0.0/24 10.0.13.1", "ip route 10.2.0.0/24 10.0.34.2"]
TEST_VRF = "nolab-test"


@pytest.fixture(scope="module")
def running_lab(lab: LabStatus) -> LabStatus:
    return lab


@pytest.fixture(scope="module")
def login(running_lab: LabStatus) -> dict[str, Any]:
    assert running_lab.credentials_file is not None
    data: dict[str, Any] = yaml.safe_load(running_lab.credentials_file.read_text())
    node = next(n for n in running_lab.nodes if n.name == HOST)
    assert node.mgmt and node.healthy
    return {"hostname": node.mgmt.split("/")[0], "port": node.port or 22, **data["connections"]["netmiko"],
            "known_hosts": data["known_hosts"]}


class Counter:
    """Counts what a netmiko connection writes to the device: one write, one round trip."""

    def __init__(self, conn: Any) -> None:
        self.conn, self.writes, self.commands = conn, 0, []
        original = conn.write_channel

        def write_channel(out_data: str) -> None:
            self.writes += 1
            original(out_data)

        conn.write_channel = write_channel
        for name in ("send_command", "send_config_set"):
            self._wrap(name)

    def _wrap(self, name: str) -> None:
        fn = getattr(self.conn, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            first = args[0] if args else kwargs.get("command_string", kwargs.get("config_commands"))
            self.commands.append(first if isinstance(first, str) else f"<config {len(first)} lines>")
            return fn(*args, **kwargs)

        setattr(self.conn, name, call)

    def reset(self) -> None:
        self.writes, self.commands = 0, []


@pytest.fixture(scope="module")
def conn(login: dict[str, Any]) -> Iterator[Any]:
    c = connect(HOST, login["hostname"], login["username"], login["password"], port=login["port"], timeout=10,
                   known_hosts=login["known_hosts"])
    try:
        yield c
    finally:
        c.disconnect()


@pytest.fixture(scope="module")
def counter(conn: Any) -> Counter:
    return Counter(conn)


def running(conn: Any) -> str:
    return str(conn.send_command("show running-config"))


def converge(conn: Any, target: str) -> None:
    """Bring r3's managed configuration to target, whatever it is now."""
    lines = nm.remediation(running(conn), target)
    if lines:
        conn.send_config_set(lines)
    assert nm.same_meaning(running(conn), target)


@pytest.fixture(scope="module", autouse=True)
def r3_restored(conn: Any) -> Iterator[str]:
    """r3's configuration before these tests; restored (and saved) afterwards."""
    original = running(conn)
    try:
        yield original
    finally:
        converge(conn, original)
        # a VRF whose last route went stays in zebra ("inactive (configured)", not in the
        # running config): remove the test VRF explicitly
        conn.send_config_set([f"no vrf {TEST_VRF}"])
        conn.send_command("write memory")


@pytest.fixture(scope="module")
def job() -> DeviceJob:
    # r3 as the static-route example has it (two static routes): the transport's mechanics
    static = ROOT / "tests/cases/static"
    ws = Workspace(static / "inventory", static / "intents", ROOT / "netorch" / "templates")
    return DeviceJob(HOST, "frr", Transport.NETMIKO, ws.render(HOST)[HOST], ws.compile()[HOST])


def with_frr_conf(job: DeviceJob, text: str) -> DeviceJob:
    return DeviceJob(job.host, job.platform, job.transport, {**job.artifacts, "frr.conf": text}, job.desired)


@pytest.fixture
def baseline(conn: Any, job: DeviceJob) -> str:
    """r3 as the desired config without its static routes: a known starting point."""
    text = "\n".join(ln for ln in job.artifacts["frr.conf"].splitlines() if not ln.startswith("ip route "))
    converge(conn, text)
    return running(conn)


def test_load_and_diff_show_the_desired_routes_as_additions(conn: Any, job: DeviceJob, baseline: str) -> None:
    s = NetmikoSession(HOST, conn, job)
    s.load()
    assert s.diff().splitlines() == [f"+ {r}" for r in ROUTES]
    assert s.remediation == ROUTES
    assert s.rollback_lines == [f"no {r}" for r in ROUTES]
    assert nm.same_meaning(running(conn), baseline)  # load changes nothing


def test_commit_applies_and_a_second_load_shows_no_diff(conn: Any, counter: Counter, job: DeviceJob,
                                                        baseline: str) -> None:
    counter.reset()
    start = time.perf_counter()
    s = NetmikoSession(HOST, conn, job)
    s.load()
    diff = s.diff()
    s.commit()
    elapsed = time.perf_counter() - start
    print(f"\nload+diff+commit on r3 ({len(s.remediation)} lines): {elapsed:.3f} s, "
          f"{counter.writes} writes to the channel, commands: {counter.commands}")
    assert diff and elapsed < 5
    assert counter.commands == ["show running-config", "<config 4 lines>", "show running-config", "write memory"]
    assert counter.writes == 7  # show, configure terminal + 2 lines + end, show, write memory

    live = running(conn)
    for route in ROUTES:
        assert route in live.splitlines()
    assert nm.same_meaning(live, job.artifacts["frr.conf"])
    assert nm.same_meaning(s.live_config()["frr.conf"], job.artifacts["frr.conf"])

    again = NetmikoSession(HOST, conn, job)
    again.load()
    assert again.diff() == "" and again.remediation == []
    checks = again.check_routes()
    assert [(str(c.route.prefix), c.present, c.active) for c in checks] == [
        ("10.1.0.0/24", True, True), ("10.2.0.0/24", True, True)]


def test_a_rejected_line_raises_with_frr_text_and_leaves_r3_unchanged(conn: Any, job: DeviceJob,
                                                                       baseline: str) -> None:
    text = job.artifacts["frr.conf"].replace("ip route 10.1.0.0/24", "ip route 10.99.0.0/24 not an address\n"
                                                                    "ip route 10.1.0.0/24")
    s = NetmikoSession(HOST, conn, with_frr_conf(job, text))
    s.load()
    assert "+ ip route 10.99.0.0/24 not an address" in s.diff().splitlines()
    with pytest.raises(DeviceRejected) as info:
        s.commit()
    message = str(info.value)
    assert "% Unknown command: ip route 10.99.0.0/24 not an address" in message
    assert "previous configuration was restored" in message
    assert nm.same_meaning(running(conn), baseline)  # the lines that were accepted are gone again
    assert not conn.check_config_mode()


def test_frr_takes_any_word_as_an_interface_and_rollback_restores(conn: Any, counter: Counter, job: DeviceJob,
                                                                  baseline: str) -> None:
    """`ip route P not-an-address` is *accepted* (an interface named "not-an-address"),
    so it commits; rollback() takes it and the intended routes away again."""
    text = job.artifacts["frr.conf"].replace("ip route 10.1.0.0/24", "ip route 10.99.0.0/24 not-an-address\n"
                                                                    "ip route 10.1.0.0/24")
    s = NetmikoSession(HOST, conn, with_frr_conf(job, text))
    s.load()
    s.commit()
    assert "ip route 10.99.0.0/24 not-an-address" in running(conn).splitlines()
    counter.reset()
    s.rollback()
    assert counter.commands[-1] == "write memory"
    assert nm.same_meaning(running(conn), baseline)


def test_confirmed_commit_writes_memory_only_on_confirm(conn: Any, counter: Counter, job: DeviceJob,
                                                        baseline: str) -> None:
    s = NetmikoSession(HOST, conn, job)
    s.load()
    counter.reset()
    s.commit(revert_in=60)
    assert "write memory" not in counter.commands
    assert nm.same_meaning(running(conn), job.artifacts["frr.conf"])
    s.confirm()
    assert counter.commands[-1] == "write memory"
    s.rollback()  # the engine's revert when a confirm never comes
    assert nm.same_meaning(running(conn), baseline)


def test_through_nornir_netmiko(login: dict[str, Any], job: DeviceJob, tmp_path: Path) -> None:
    from nornir import InitNornir

    hosts = {HOST: {"hostname": login["hostname"], "port": login["port"], "username": login["username"],
                    "password": login["password"], "platform": "cisco_ios",
                    "connection_options": {CONNECTION_NAME: {"extras": {
                        "fast_cli": True, "conn_timeout": 10, "known_hosts": login["known_hosts"]}}}}}
    (tmp_path / "hosts.yaml").write_text(yaml.safe_dump(hosts))
    nr = InitNornir(inventory={"plugin": "SimpleInventory", "options": {"host_file": str(tmp_path / "hosts.yaml")}},
                    runner={"plugin": "serial"}, logging={"enabled": False})
    host = nr.inventory.hosts[HOST]
    connect_plugins()
    try:
        session = NetmikoSession(HOST, host.get_connection(NetmikoSession.connection_name, nr.config), job)
        session.load()
        assert "frr.conf" in session.live_config()
    finally:
        nr.close_connections()


def test_connection_failures_are_unreachable_without_the_password(login: dict[str, Any]) -> None:
    secret = login["password"]
    with pytest.raises(DeviceUnreachable) as info:
        connect(HOST, login["hostname"], login["username"], "wrong-" + secret, port=login["port"], timeout=10,
                   known_hosts=login["known_hosts"])
    assert "authentication failed" in info.value.message and secret not in str(info.value)
    with pytest.raises(DeviceUnreachable) as info:
        connect(HOST, login["hostname"], login["username"], secret, port=2, timeout=5,
                   known_hosts=login["known_hosts"])
    assert "connection refused" in info.value.message or "timed out" in info.value.message
    assert secret not in str(info.value)
    start = time.perf_counter()
    with pytest.raises(DeviceUnreachable) as info:
        connect(HOST, "198.18.0.250", login["username"], secret, timeout=2,  # nobody there
                   known_hosts=login["known_hosts"])
    assert time.perf_counter() - start < 10
    assert secret not in str(info.value)


# random changes, for real: only prefixes nobody routes (10.200/16), a test VRF and lo's description
# one route per prefix: FRR keeps one distance per prefix and next hop, and refuses a
# blackhole next to other next hops ("Route cannot have blackhole and non-blackhole nexthops")
LAB_ROUTES = st.dictionaries(st.integers(0, 5),
                             st.tuples(st.sampled_from(["10.0.13.1", "10.0.34.2", "eth1", "blackhole"]),
                                       st.sampled_from([1, 7])), max_size=4).map(
    lambda rs: {f"ip route 10.200.{n}.0/24 {nh}" + (f" {d}" if d != 1 else "") for n, (nh, d) in rs.items()})


def random_frr_conf(job: DeviceJob, routes: set[str], vrf_routes: set[str], lo_description: str | None) -> str:
    lines = [ln for ln in job.artifacts["frr.conf"].splitlines() if not ln.startswith("ip route ")]
    at = lines.index("!", lines.index("service integrated-vtysh-config"))
    block = sorted(routes)
    # the test VRF is rendered (netorch's) even when it has no route left
    block += ["!", f"vrf {TEST_VRF}", *(f" {r}" for r in sorted(vrf_routes)), "exit-vrf"]
    lines[at + 1:at + 1] = block
    if lo_description:
        lines.insert(lines.index("interface lo") + 1, f" description {lo_description}")
    return "\n".join(lines) + "\n"


LAB_CONFIG = st.tuples(LAB_ROUTES, LAB_ROUTES, st.none() | st.sampled_from(["loopback", "router id source"]))


# no shrinking: every example talks to r3, and a failure prints its example anyway
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck),
          phases=(Phase.explicit, Phase.reuse, Phase.generate))
@given(before=LAB_CONFIG, after=LAB_CONFIG)
def test_random_changes_commit_and_roll_back_for_real(conn: Any, job: DeviceJob, before: Any, after: Any) -> None:
    """Real FRR agrees with the model of the unit tests: remediation gets there, rollback back."""
    start = random_frr_conf(job, *before)
    converge(conn, start)
    target = random_frr_conf(job, *after)
    s = NetmikoSession(HOST, conn, with_frr_conf(job, target))
    s.load()
    s.commit(revert_in=60)  # the module fixture saves r3 at the end
    assert nm.same_meaning(running(conn), target), s.remediation
    s.rollback()
    assert nm.same_meaning(running(conn), start), s.rollback_lines
