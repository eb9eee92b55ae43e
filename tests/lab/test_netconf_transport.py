"""The NETCONF transport against a real netconfd (nc1 of the lab, 198.18.0.21:830): load and
diff, commit, idempotence, replace semantics, rejection, confirmed commit that reverts by
itself, confirm, rollback, another client's lock, login errors, the Nornir plugin.

The lab is the session fixture `lab`: it builds the default topology (prefix `nol`,
198.18.0.0/16) in a temporary run dir, which cannot come up while the default lab is running
(`up` refuses: "a lab with prefix 'nol' is running from /run/netorch-lab"). With the default
lab up, run these tests on it: NETORCH_TEST_LAB_DIR=/run/netorch-lab pytest -m lab ...
(nothing else should use nc1 meanwhile: engine/drift lab tests push nc1 too, and some rebuild
the lab, which cuts every open session).

Only nc1 is changed. Each test starts from a clean device (no ietf-interfaces, no
ietf-routing configuration); the configuration nc1 had before the module is put back at the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from netorch.configtree.xml import (
    IANAIFT_NS,
    IF_NS,
    IP_NS,
    NC_NS,
    RT_NS,
    V4UR_NS,
    XNode,
    canonical_tree,
    canonical_xml,
    serialize,
)
from netorch.errors import DeviceRejected, DeviceUnreachable, TransportError
from netorch.lab import LabStatus
from netorch.platforms import Transport
from netorch.service import Workspace
from netorch.transport.base import DeviceJob
from netorch.transport.netconf import connection as nc
from netorch.transport.netconf.payload import Ownership, owned_view, ownership
from netorch.transport.netconf.routes import static_routes
from netorch.transport.netconf.session import NcclientSession
from netorch.transport.registry import connect_plugins

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]
HOST = "nc1"
NC = NC_NS
SCOPE = [f'<interfaces xmlns="{IF_NS}"/>', f'<routing xmlns="{RT_NS}"/>']
# netconfd checks its confirmed-commit timer only after ~1 s without any request: poll slower
REVERT_POLL = 1.2
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="module")
def nc_lab(lab: LabStatus) -> LabStatus:
    return lab


@pytest.fixture(scope="module")
def device(nc_lab: LabStatus) -> Callable[..., Any]:
    """connect(**overrides) -> an ncclient Manager to nc1, with the lab's current credentials
    (read at each connect: `netorch lab up` makes new ones)."""
    node = next(n for n in nc_lab.nodes if n.name == HOST)
    assert node.mgmt and node.healthy, node
    address, port = node.mgmt.split("/")[0], node.port or 830

    def connect(**overrides: Any) -> Any:
        assert nc_lab.credentials_file is not None
        data = yaml.safe_load(nc_lab.credentials_file.read_text())
        login = data["platforms"]["netconf"]
        args = {"username": login["username"], "password": login["password"], "timeout": 10,
                "known_hosts": data["known_hosts"], **overrides}
        return nc.connect(address, port, **args)

    return connect


@pytest.fixture(scope="module")
def admin(device: Callable[..., Any]) -> Iterator[Any]:
    """A second client: sets the device up, looks at it, and puts it back at the end."""
    mgr = device()
    saved = canonical_tree(mgr.get_config(source="running", filter=SCOPE).data_xml)
    yield mgr
    if not mgr.connected:
        mgr = device()
    put(mgr, restore_scope(saved))
    mgr.close_session()


@pytest.fixture
def clean(admin: Any) -> Any:
    put(admin, restore_scope(canonical_tree(f'<config xmlns="{NC}"/>')))
    assert running(admin) == canonical_xml(f'<config xmlns="{NC}"/>')
    return admin


@pytest.fixture(scope="module")
def job() -> DeviceJob:
    ws = Workspace(ROOT / "inventory", ROOT / "intents", ROOT / "netorch" / "templates")
    return DeviceJob(HOST, "netconf", Transport.NCCLIENT, ws.render(HOST)[HOST], ws.compile()[HOST])


@pytest.fixture
def open_session(device: Callable[..., Any]) -> Iterator[Callable[[DeviceJob], NcclientSession]]:
    sessions: list[NcclientSession] = []

    def make(job: DeviceJob) -> NcclientSession:
        sessions.append(NcclientSession(HOST, device(), job))
        return sessions[-1]

    yield make
    for s in sessions:
        if s.persist_id:
            s.rollback()  # never leave a pending confirmed commit behind
        s.discard()
        if s.connection.connected:
            s.connection.close_session()


# ----------------------------------------------------------------------------- helpers


def restore_scope(saved: Any) -> str:
    """An edit-config that makes ietf-interfaces and ietf-routing exactly as in `saved`."""
    parts = []
    for ns, name in ((IF_NS, "interfaces"), (RT_NS, "routing")):
        node = saved.child(name, ns)
        if node is None:
            node = XNode(ns, name)
            node.operation = "remove"
        else:
            node.operation = "replace"
        parts.append(node)
    return serialize(XNode(NC, "config", children=parts), operations=True)


def put(mgr: Any, payload: str) -> None:
    mgr.discard_changes()
    mgr.lock("candidate")
    try:
        mgr.edit_config(target="candidate", config=payload)
        mgr.commit()
    finally:
        mgr.unlock("candidate")


def running(mgr: Any) -> str:
    """Canonical ietf-interfaces + ietf-routing configuration of running."""
    return canonical_xml(mgr.get_config(source="running", filter=SCOPE).data_xml)


def netorch_routes(mgr: Any) -> set[tuple[str, str | None]]:
    tree = canonical_tree(mgr.get_config(source="running", filter=SCOPE).data_xml)
    return {(r.prefix, r.next_hop) for r in static_routes(tree) if r.protocol == "netorch"}


def desired_routes(job: DeviceJob) -> set[tuple[str, str | None]]:
    return {(str(r.prefix), str(r.next_hop) if r.next_hop else None) for r in job.desired.routes}


def with_artifact(job: DeviceJob, edit: Callable[[str], str]) -> DeviceJob:
    return replace(job, artifacts={"config.xml": edit(job.artifacts["config.xml"])})


def poll(predicate: Callable[[], bool], deadline: float, interval: float) -> bool:
    end = time.monotonic() + deadline
    while not predicate():
        if time.monotonic() > end:
            return False
        time.sleep(interval)
    return True


# ----------------------------------------------------------------------------- load, diff, commit


def test_load_and_diff_show_the_routes_as_additions(clean: Any, job: DeviceJob,
                                                    open_session: Callable[[DeviceJob], NcclientSession]) -> None:
    before = running(clean)
    s = open_session(job)
    s.load()
    diff = s.diff()
    assert diff.startswith("--- nc1:running\n+++ nc1:candidate\n")
    body = diff.splitlines()[3:]
    assert not [ln for ln in body if ln.startswith("-")]
    for route in job.desired.routes:
        assert any(ln.startswith("+") and f"<destination-prefix>{route.prefix}</destination-prefix>" in ln
                   for ln in body), route
        assert any(ln.startswith("+") and f"<next-hop-address>{route.next_hop}</next-hop-address>" in ln
                   for ln in body), route
    s.discard()
    assert s.rpc_log == ["lock", "discard-changes", "get-config", "edit-config", "discard-changes", "unlock"]
    assert running(clean) == before


def test_commit_makes_running_exactly_the_desired_config(
        clean: Any, job: DeviceJob, open_session: Callable[[DeviceJob], NcclientSession]) -> None:
    s = open_session(job)
    t0 = time.perf_counter()
    s.load()
    t1 = time.perf_counter()
    assert s.diff()
    t2 = time.perf_counter()
    s.commit()
    t3 = time.perf_counter()
    TIMINGS.update(load=t1 - t0, diff=t2 - t1, commit=t3 - t2)
    print(f"\nnc1 load {t1 - t0:.4f}s diff {t2 - t1:.4f}s commit {t3 - t2:.4f}s "
          f"total {t3 - t0:.4f}s, {len(s.rpc_log)} RPCs: {' '.join(s.rpc_log)}")
    assert s.rpc_log == ["lock", "discard-changes", "get-config", "edit-config", "commit", "unlock"]
    assert t3 - t0 < 2.0
    # seen by another client: exactly the desired routes, and the owned config as desired
    assert netorch_routes(clean) == desired_routes(job)
    assert running(clean) == canonical_xml(job.artifacts["config.xml"])
    # idempotent: a second transaction finds nothing to do
    again = open_session(job)
    again.load()
    assert again.diff() == ""
    again.discard()
    assert again.live_config() == {"config.xml": canonical_xml(job.artifacts["config.xml"])}
    checks = again.check_routes()
    assert [(c.present, c.active, c.detail) for c in checks] == [(True, True, "")] * len(job.desired.routes)
    snap = again.snapshot()
    assert snap.config == again.live_config() and snap.routes == checks


def test_replace_semantics_own_only_what_netorch_manages(
        clean: Any, job: DeviceJob, open_session: Callable[[DeviceJob], NcclientSession]) -> None:
    foreign = f"""<config xmlns="{NC}">
      <interfaces xmlns="{IF_NS}">
        <interface><name>eth9</name><description>not netorch</description>
          <type xmlns:ianaift="{IANAIFT_NS}">ianaift:ethernetCsmacd</type></interface>
        <interface><name>eth1</name><description>old</description>
          <type xmlns:ianaift="{IANAIFT_NS}">ianaift:ethernetCsmacd</type>
          <link-up-down-trap-enable>enabled</link-up-down-trap-enable>
          <ipv4 xmlns="{IP_NS}"><address><ip>10.99.0.1</ip><prefix-length>24</prefix-length></address></ipv4>
        </interface>
      </interfaces>
      <routing xmlns="{RT_NS}"><control-plane-protocols>
        <control-plane-protocol><type>static</type><name>ops</name><static-routes><ipv4 xmlns="{V4UR_NS}">
          <route><destination-prefix>192.0.2.0/24</destination-prefix>
            <next-hop><next-hop-address>10.9.0.9</next-hop-address></next-hop></route></ipv4></static-routes>
        </control-plane-protocol>
        <control-plane-protocol><type>static</type><name>netorch</name><static-routes><ipv4 xmlns="{V4UR_NS}">
          <route><destination-prefix>198.51.100.0/24</destination-prefix>
            <next-hop><next-hop-address>10.9.0.9</next-hop-address></next-hop></route></ipv4></static-routes>
        </control-plane-protocol>
      </control-plane-protocols></routing>
    </config>"""
    put(clean, foreign)
    s = open_session(job)
    s.load()
    diff = s.diff()
    for gone in ("<description>old</description>", "<ip>10.99.0.1</ip>", "<link-up-down-trap-enable>",
                 "<destination-prefix>198.51.100.0/24</destination-prefix>"):
        assert any(ln.startswith("-") and gone in ln for ln in diff.splitlines()), gone
    assert "eth9" not in diff and "192.0.2.0" not in diff
    s.commit()
    after = canonical_tree(clean.get_config(source="running", filter=SCOPE).data_xml)
    own = ownership(canonical_tree(job.artifacts["config.xml"]), policy_supported=False)
    assert serialize(owned_view(after, own)) == canonical_xml(job.artifacts["config.xml"])
    untouched = Ownership(("eth9",), ((RT_NS, "static", "ops"),), policy=False)
    assert serialize(owned_view(after, untouched)) == serialize(
        owned_view(canonical_tree(foreign), untouched))


def test_a_rejected_config_leaves_running_unchanged(
        clean: Any, job: DeviceJob, open_session: Callable[[DeviceJob], NcclientSession]) -> None:
    first = open_session(job)
    first.load()
    first.commit()
    before = running(clean)
    # bypass validation: an invalid prefix, and a change that must not slip through either
    bad = with_artifact(job, lambda x: x.replace("10.0.0.0/8", "10.0.0.0/33").replace("10.9.0.254", "10.9.0.253"))
    s = open_session(bad)
    with pytest.raises(DeviceRejected) as info:
        s.load()
    message = str(info.value)
    assert message.startswith("nc1: edit-config rejected: pattern match failed at ")
    assert "destination-prefix='10.0.0.0/33'" in message
    assert running(clean) == before
    assert s.rpc_log[-2:] == ["discard-changes", "unlock"]
    clean.lock("candidate")  # the session let go of its lock
    clean.unlock("candidate")


# ----------------------------------------------------------------------------- confirmed commit, rollback


def test_an_unconfirmed_commit_reverts_by_itself(
        clean: Any, job: DeviceJob, open_session: Callable[[DeviceJob], NcclientSession]) -> None:
    s = open_session(job)
    s.load()
    s.diff()
    started = time.monotonic()
    s.commit(revert_in=3)
    assert s.persist_id
    assert netorch_routes(clean) == desired_routes(job)
    assert poll(lambda: not netorch_routes(clean), deadline=30, interval=REVERT_POLL), "no automatic revert"
    waited = time.monotonic() - started
    print(f"\nnc1 reverted by itself {waited:.1f}s after a confirmed commit with revert_in=3")
    assert waited >= 2.0  # netconfd counts whole seconds: it may revert up to 1 s early
    assert running(clean) == canonical_xml(f'<config xmlns="{NC}"/>')
    with pytest.raises(TransportError, match="not pending any more"):
        s.confirm()


def test_a_confirmed_commit_stays(clean: Any, job: DeviceJob,
                                  open_session: Callable[[DeviceJob], NcclientSession]) -> None:
    s = open_session(job)
    s.load()
    s.commit(revert_in=2)
    s.confirm()
    assert s.persist_id is None
    assert s.rpc_log[-2:] == ["commit", "unlock"]
    started = time.monotonic()
    seen: list[bool] = []

    def still_there() -> bool:  # polled past the timeout, with the idle gaps netconfd's timer needs
        seen.append(netorch_routes(clean) == desired_routes(job))
        return time.monotonic() - started > 4.5

    assert poll(still_there, deadline=15, interval=REVERT_POLL)
    assert all(seen) and len(seen) >= 3


def test_rollback_of_a_pending_commit_cancels_it(
        clean: Any, job: DeviceJob, open_session: Callable[[DeviceJob], NcclientSession]) -> None:
    before = running(clean)
    s = open_session(job)
    s.load()
    s.diff()
    s.commit(revert_in=60)
    assert netorch_routes(clean) == desired_routes(job)
    s.rollback()
    assert s.rpc_log[-2:] == ["cancel-commit", "unlock"]
    assert running(clean) == before


@pytest.mark.parametrize("previous", ["clean device", "older intents"])
def test_rollback_after_a_commit_restores_the_previous_config(
        previous: str, clean: Any, job: DeviceJob,
        open_session: Callable[[DeviceJob], NcclientSession]) -> None:
    if previous == "older intents":
        older = with_artifact(job, lambda x: x.replace("10.9.0.2<", "10.9.0.3<").replace(
            "netconf managed", "before").replace("<ip>10.9.0.1</ip>", "<ip>10.9.0.5</ip>"))
        first = open_session(older)
        first.load()
        first.commit()
    before = running(clean)
    s = open_session(job)
    s.load()
    assert s.diff()
    s.commit()
    assert netorch_routes(clean) == desired_routes(job)
    s.rollback()
    assert s.rpc_log[-5:] == ["lock", "discard-changes", "edit-config", "commit", "unlock"]
    assert running(clean) == before


# ----------------------------------------------------------------------------- errors


def test_another_clients_lock_makes_load_fail_clearly(
        clean: Any, job: DeviceJob, open_session: Callable[[DeviceJob], NcclientSession]) -> None:
    before = running(clean)
    clean.lock("candidate")
    try:
        s = open_session(job)
        with pytest.raises(TransportError) as info:
            s.load()
    finally:
        clean.unlock("candidate")
    assert not isinstance(info.value, DeviceUnreachable)
    assert str(info.value).startswith("nc1: the candidate datastore is locked by another NETCONF session "
                                      "(session-id ")
    assert s.rpc_log == ["lock"]
    assert running(clean) == before


def test_wrong_password_is_unreachable_without_the_password(device: Callable[..., Any]) -> None:
    with pytest.raises(DeviceUnreachable) as info:
        device(password="not-the-password-42")
    assert str(info.value) == "198.18.0.21: NETCONF over SSH to port 830: authentication failed for user 'ncadmin'"
    assert "not-the-password" not in str(info.value) and info.value.__cause__ is None


def test_nornir_connection_plugin(nc_lab: LabStatus, job: DeviceJob) -> None:
    from nornir import InitNornir
    from nornir.core.inventory import ConnectionOptions

    connect_plugins()
    assert nc_lab.inventory_dir is not None and nc_lab.credentials_file is not None
    inv = nc_lab.inventory_dir
    nr = InitNornir(inventory={"plugin": "SimpleInventory", "options": {
        "host_file": str(inv / "hosts.yaml"), "group_file": str(inv / "groups.yaml"),
        "defaults_file": str(inv / "defaults.yaml")}}, logging={"enabled": False})
    login = yaml.safe_load(nc_lab.credentials_file.read_text())["platforms"]["netconf"]
    host = nr.inventory.hosts[HOST]
    host.connection_options[nc.CONNECTION_NAME] = ConnectionOptions(
        username=login["username"], password=login["password"],
        extras={"timeout": 10, "known_hosts": str(nc_lab.known_hosts_file)})
    try:
        manager = host.get_connection(nc.CONNECTION_NAME, nr.config)
        assert manager.connected
        s = NcclientSession(HOST, manager, job)
        assert "config.xml" in s.live_config()
    finally:
        nr.close_connections()
    assert not manager.connected
