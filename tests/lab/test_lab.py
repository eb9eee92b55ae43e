"""The lab for real: routers, hosts and the NETCONF device, reached the way netorch will."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import paramiko
import pytest
from ncclient import manager
from nornir import InitNornir
from nornir.core.task import Result, Task
from nornir_netmiko.tasks import netmiko_send_command

from netorch.lab import (
    LabStatus,
    down,
    exec_in,
    listening,
    ping,
    status,
    tcp_connect,
    up,
)
from netorch.lab._system import namespaces, pid_alive, read_pid
from netorch.lab.topology import Topology

pytestmark = pytest.mark.lab

ROUTERS = ("r1", "r2", "r3", "r4", "up1")
LAB_DAEMONS = {"zebra", "staticd", "ospfd", "bgpd", "sshd", "netconfd", "lldpd"}


# ----------------------------------------------------------------- routers over SSH


def test_nornir_netmiko_show_running_config(lab: LabStatus, credentials: dict[str, Any]) -> None:
    assert lab.inventory_dir is not None
    inv = lab.inventory_dir
    nr = InitNornir(
        runner={"plugin": "threaded", "options": {"num_workers": 8}},
        inventory={"plugin": "SimpleInventory", "options": {
            "host_file": str(inv / "hosts.yaml"),
            "group_file": str(inv / "groups.yaml"),
            "defaults_file": str(inv / "defaults.yaml"),
        }},
        logging={"enabled": False},
    )
    assert nr.inventory.defaults.data["credentials_file"] == str(lab.credentials_file)
    nr.inventory.defaults.username = credentials["connections"]["netmiko"]["username"]
    nr.inventory.defaults.password = credentials["connections"]["netmiko"]["password"]
    routers = nr.filter(platform="frr")
    assert sorted(routers.inventory.hosts) == list(ROUTERS)

    def show(task: Task) -> Result:
        task.host.platform = "cisco_ios"  # vtysh login shell: an IOS-style CLI
        return task.run(task=netmiko_send_command, command_string="show running-config")

    results = routers.run(task=show)
    assert not results.failed, {h: r.exception for h, r in results.items()}
    for host, multi in results.items():
        text = multi[1].result
        assert f"hostname {host}\n" in text  # each router has its own hostname
        assert "interface eth1" in text


def _ssh(lab: LabStatus, host: str, credentials: dict[str, Any], command: str,
         *, use_password: bool = False) -> str:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    default = credentials["default"]
    if use_password:
        client.connect(host, username=default["username"], password=default["password"],
                       allow_agent=False, look_for_keys=False, timeout=10)
    else:
        client.connect(host, username=default["username"], key_filename=default["ssh_key_file"],
                       allow_agent=False, look_for_keys=False, timeout=10)
    try:
        _, stdout, stderr = client.exec_command(command, timeout=20)
        out = stdout.read().decode()
        assert stdout.channel.recv_exit_status() == 0, stderr.read().decode()
        return out
    finally:
        client.close()


@pytest.mark.parametrize("router", ROUTERS)
def test_linux_shell_runs_nft_and_vtysh(lab: LabStatus, credentials: dict[str, Any],
                                        router: str) -> None:
    mgmt = next(n.mgmt for n in lab.nodes if n.name == router)
    assert mgmt is not None
    out = _ssh(lab, mgmt, credentials,
               'hostname; nft list ruleset; vtysh -c "show running-config"')
    assert out.startswith(f"{router}\n")
    assert f"hostname {router}\n" in out


def test_linux_shell_password_login(lab: LabStatus, credentials: dict[str, Any]) -> None:
    out = _ssh(lab, "198.18.0.11", credentials, "ip -br address show eth1", use_password=True)
    assert "10.0.12.1/30" in out


def test_cli_user_configures_and_saves(lab: LabStatus, credentials: dict[str, Any]) -> None:
    from netmiko import ConnectHandler

    cli = credentials["connections"]["netmiko"]
    conn = ConnectHandler(device_type="cisco_ios", host="198.18.0.14",
                          username=cli["username"], password=cli["password"])
    try:
        conn.send_config_set(["ip route 10.99.0.0/24 10.0.24.1"])
        conn.save_config()
        assert "ip route 10.99.0.0/24 10.0.24.1" in conn.send_command("show running-config")
        conn.send_config_set(["no ip route 10.99.0.0/24 10.0.24.1"])
        conn.save_config()
    finally:
        conn.disconnect()
    saved = (lab.run_dir / "nodes" / "r4" / "etc" / "frr.conf").read_text()
    assert "10.99.0.0/24" not in saved and "hostname r4" in saved


# ----------------------------------------------------------------- NETCONF device


def test_netconf_get_config(lab: LabStatus, credentials: dict[str, Any]) -> None:
    nc = credentials["platforms"]["netconf"]
    with manager.connect(host="198.18.0.21", port=830, username=nc["username"],
                         password=nc["password"], hostkey_verify=False,  # lab only
                         allow_agent=False, look_for_keys=False, timeout=20) as m:
        caps = list(m.server_capabilities)
        assert "urn:ietf:params:netconf:capability:candidate:1.0" in caps
        assert any("confirmed-commit" in c for c in caps)
        assert any("module=ietf-routing&revision=2016-11-04" in c for c in caps)
        assert any("module=ietf-interfaces" in c for c in caps)
        reply = m.get_config(source="running")
        assert reply.ok


def test_netconfd_loaded_no_sil_code(lab: LabStatus) -> None:
    pid = read_pid(lab.run_dir / "nodes" / "nc1" / "netconfd.pid")
    assert pid is not None
    assert "/yuma/lib" not in Path(f"/proc/{pid}/maps").read_text()


# ----------------------------------------------------------------- end hosts


@pytest.mark.parametrize(("host", "gateway"),
                         [("h1", "10.1.0.1"), ("h2", "10.2.0.1"), ("h3", "10.3.0.1"),
                          ("h4", "203.0.113.1")])
def test_hosts_ping_their_gateway(lab_dir: Path, host: str, gateway: str) -> None:
    assert ping(lab_dir, host, gateway)


def test_listener_and_connect(lab_dir: Path) -> None:
    with listening(lab_dir, "h2", 8080) as listener:
        assert listener.running
        assert tcp_connect(lab_dir, "r4", "10.2.0.10", 8080)
        # nothing listens on another port: the connection is refused
        assert not tcp_connect(lab_dir, "r4", "10.2.0.10", 8089, timeout=1)
    assert not listener.running
    assert not listener.pidfile.exists()


def test_exec_in_router_sees_its_own_namespace(lab_dir: Path) -> None:
    out = exec_in(lab_dir, "r3", ["vtysh", "-c", "show interface brief"], check=True).stdout
    assert "eth2" in out and "10.0.34.1/30" in out


# ----------------------------------------------------------------- lifecycle


def test_up_twice_is_idempotent(lab: LabStatus) -> None:
    before = status(lab.run_dir)
    t0 = time.monotonic()
    again = up(lab.run_dir / "topology.yaml", lab.run_dir)
    assert time.monotonic() - t0 < 3
    assert again.state == "up"
    assert [n.processes for n in again.nodes] == [n.processes for n in before.nodes]


def _snapshot() -> dict[str, Any]:
    def digest(path: str) -> str:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()

    procs = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                comm = Path(f"/proc/{entry}/comm").read_text().strip()
            except OSError:
                continue
            if comm in LAB_DAEMONS and pid_alive(int(entry)):  # zombies are gone already
                procs.add((int(entry), comm))
    links = sorted(Path("/sys/class/net").iterdir())
    return {
        "netns": sorted(os.listdir("/run/netns")) if Path("/run/netns").exists() else [],
        "links": [p.name for p in links],
        "procs": procs,
        "users": [digest(p) for p in ("/etc/passwd", "/etc/group", "/etc/shadow")],
        "mounts": Path("/proc/self/mounts").read_text(),
        "dirs": [Path(p).exists() for p in ("/run/sshd", "/run/frr", "/run/lldpd.socket", "/run/lldpd")],
    }


def _up_down_cycle(run_dir: Path, topo: Topology) -> None:
    st = up(topo, run_dir)
    assert st.state == "up", st
    assert namespaces("nolt")
    assert ping(run_dir, "h1", "10.1.0.1")
    down(run_dir)


def test_up_down_twice_leaves_nothing_behind(fresh_run_dir: Path, alt_topo: Topology) -> None:
    before = _snapshot()
    run_dir = fresh_run_dir
    for _ in range(2):
        _up_down_cycle(run_dir, alt_topo)
        after = _snapshot()
        # the session lab may be up meanwhile: compare without its own processes
        assert after["netns"] == before["netns"]
        assert after["links"] == before["links"]
        assert after["procs"] <= before["procs"]
        assert after["users"] == before["users"]
        assert after["mounts"] == before["mounts"]
        assert after["dirs"] == before["dirs"]
        assert not run_dir.exists()


def test_up_after_crash_comes_up(fresh_run_dir: Path, alt_topo: Topology) -> None:
    run_dir = fresh_run_dir
    st = up(alt_topo, run_dir)
    assert st.state == "up"
    # simulate a crash: kill every daemon by its pid file, leave namespaces and files
    for node in st.nodes:
        for pid in node.processes.values():
            assert pid is not None
            os.kill(pid, 9)
    assert status(run_dir).state == "degraded"
    st2 = up(alt_topo, run_dir)
    assert st2.state == "up"
    assert ping(run_dir, "h3", "10.3.0.1")
    down(run_dir)
    assert not namespaces("nolt")
    assert not run_dir.exists()
