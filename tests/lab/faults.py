"""Faults for the lab tests, made for real and undone by pid.

* latency: a small TCP delay proxy inside a router's network namespace, behind an nft
  redirect of its SSH port (this kernel may lack sch_netem);
* a lost device: its sshd session processes killed by pid and its management link set down
  inside its namespace.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from netorch.lab import LabStatus, exec_in
from netorch.lab._system import pid_alive, read_pid
from netorch.lab.state import LabState
from netorch.run.engine import Engine
from netorch.service import Workspace
from netorch.store import Store

PROXY = r'''
import asyncio, sys, time
listen_port, target, delay = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])

async def pump(reader, writer):
    queue = asyncio.Queue()
    async def read():
        while True:
            data = await reader.read(65536)
            await queue.put((time.monotonic() + delay, data))
            if not data:
                return
    async def write():
        while True:
            due, data = await queue.get()
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            if not data:
                writer.close()
                return
            writer.write(data)
            await writer.drain()
    await asyncio.gather(read(), write(), return_exceptions=True)

async def handle(client_r, client_w):
    try:
        server_r, server_w = await asyncio.open_connection(target, 22)
    except OSError:
        client_w.close()
        return
    await asyncio.gather(pump(client_r, server_w), pump(server_r, client_w), return_exceptions=True)

async def main():
    server = await asyncio.start_server(handle, target, listen_port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()

asyncio.run(main())
'''

PROXY_PORT = 2222
ROOT = Path(__file__).resolve().parents[2]
HOSTS = "lab_routers,lab_netconf"
DEVICES = ("r1", "r2", "r3", "r4", "up1", "nc1")


def wait_until(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _state(lab: LabStatus) -> LabState:
    state = LabState.load(lab.run_dir)
    assert state is not None
    return state


def mgmt_address(lab: LabStatus, router: str) -> str:
    return str(_state(lab).topology.routers[router].mgmt)


@contextlib.contextmanager
def latency(lab: LabStatus, router: str, rtt: float) -> Iterator[None]:
    """Every new SSH connection to `router` crosses a proxy that delays each direction by rtt/2."""
    state = _state(lab)
    ns = state.namespace(router)
    mgmt = mgmt_address(lab, router)
    script = lab.run_dir.parent / f"delay-proxy-{router}.py"
    script.write_text(PROXY)
    proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, str(script), str(PROXY_PORT), mgmt,
                             str(rtt / 2)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", "the delay proxy did not start"
        rules = (f"table ip nolfault {{\n chain pre {{\n  type nat hook prerouting priority dstnat;\n"
                 f"  ip daddr {mgmt} tcp dport 22 redirect to :{PROXY_PORT}\n }}\n}}\n")
        exec_in(lab.run_dir, router, ["nft", "-f", "-"], input_text=rules, check=True)
        yield
    finally:
        exec_in(lab.run_dir, router, ["nft", "delete", "table", "ip", "nolfault"])
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)


def sshd_sessions(lab: LabStatus, router: str) -> list[int]:
    """The pids of the per-connection sshd processes of `router` (children of its listener)."""
    listener = read_pid(lab.run_dir / "nodes" / router / "sshd.pid")
    assert listener is not None
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == listener:
            children.append(int(entry.name))
    return children


def cut_off(lab: LabStatus, router: str) -> None:
    """Lose the router: kill its SSH sessions by pid and set its management link down."""
    for pid in sshd_sessions(lab, router):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    exec_in(lab.run_dir, router, ["ip", "link", "set", "eth0", "down"], check=True)


def reconnect(lab: LabStatus, router: str) -> None:
    exec_in(lab.run_dir, router, ["ip", "link", "set", "eth0", "up"], check=True)


def daemon_pid(lab: LabStatus, router: str, daemon: str) -> int:
    pid = read_pid(lab.run_dir / "nodes" / router / "run" / f"{daemon}.pid")
    assert pid is not None and pid_alive(pid), f"{router}'s {daemon} is not running"
    return pid


# -- reading devices back, independently of the engine ---------------------------------------------
def _creds(lab: LabStatus) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(Path(lab.credentials_file or "").read_text())
    return data


def live(lab: LabStatus, host: str) -> str:
    """The device's live configuration as the device prints it (FRR + nft, or NETCONF XML)."""
    creds = _creds(lab)
    inventory = Workspace(ROOT / "inventory", ROOT / "intents", ROOT / "netorch" / "templates").inventory()
    view = inventory.hosts[host]
    if view.platform.value == "netconf":
        from netorch.transport.netconf.connection import connect

        nc = creds["platforms"]["netconf"]
        mgr = connect(view.hostname, view.port, nc["username"], nc.get("password"), timeout=20,
                      known_hosts=creds["known_hosts"])
        try:
            return str(mgr.get_config(source="running").data_xml)
        finally:
            mgr.close_session()
    from netorch.transport.napalm_frr.driver import FrrDriver

    drv = FrrDriver(view.hostname, creds["default"]["username"], creds["default"]["password"],
                    optional_args={"key_file": creds["default"]["ssh_key_file"], "timeout": 20,
                                   "known_hosts": creds["known_hosts"]})
    drv.open()
    try:
        return str(drv.get_config(retrieve="running")["running"])
    finally:
        drv.close()


def startup(lab: LabStatus, host: str) -> str:
    """The router's saved configuration (its /etc/frr/frr.conf, which `write memory` writes)."""
    return (lab.run_dir / "nodes" / host / "etc" / "frr.conf").read_text()


def pending_commit(lab: LabStatus, host: str) -> bool:
    from netorch.lab import exec_in

    proc = exec_in(lab.run_dir, host, ["sh", "-c", "test -s /run/frr/netorch/pending"])
    return proc.returncode == 0


def everything(lab: LabStatus) -> dict[str, str]:
    return {h: live(lab, h) for h in DEVICES}


# -- workspaces ------------------------------------------------------------------------------------
def intents_with(tmp_path: Path, name: str, extra: str) -> Path:
    folder = tmp_path / name
    shutil.copytree(ROOT / "intents", folder)
    (folder / "extra.yaml").write_text(extra)
    return folder


def engine_for(lab: LabStatus, intents: Path, store: Store, **kw: Any) -> Engine:
    return Engine(Workspace(ROOT / "inventory", intents, ROOT / "netorch" / "templates"), store,
                  credentials=str(lab.credentials_file), **kw)




# -- dynamic routing: tests start from a converged network ---------------------------------------------
PROTOCOL_ROUTERS = ("r1", "r2", "r3", "r4", "up1")


def protocol_failures(lab: LabStatus) -> list[str]:
    """The example's protocol checks that fail now, read from each router's own vtysh."""
    from netorch.protocols import state as ps

    desired = Workspace(ROOT / "inventory", ROOT / "intents", ROOT / "netorch" / "templates").compile()
    failed = []
    for router in PROTOCOL_ROUTERS:
        outputs = [exec_in(lab.run_dir, router, ["vtysh", "-c", c]).stdout for c in ps.COMMANDS]
        failed += [f"{router}: {c}" for c in ps.protocol_checks(desired[router], ps.parse_state(outputs))
                   if not c.ok]
    return failed


def wait_converged(lab: LabStatus, timeout: float = 150.0) -> None:
    """Until every adjacency, session and intended route of the example is there (a test before may
    have moved links, daemons or sessions: BGP's connect retry alone can take a while)."""
    deadline = time.monotonic() + timeout
    while True:
        failed = protocol_failures(lab)
        if not failed:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the example's protocols did not converge in {timeout:.0f}s: {failed[:5]}")
        time.sleep(0.5)
