"""Run things inside the lab's nodes: commands, ping, TCP connects, TCP listeners.

`lab` is either the run dir of a lab (Path) or its LabState. All traffic stays inside
the lab's namespaces.
"""

from __future__ import annotations

import select
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from netorch.errors import LabError
from netorch.lab import _render as render
from netorch.lab._system import netns_inode, pid_alive, pid_in_netns, read_pid, stop_pids
from netorch.lab.state import LabState

LabRef = Path | LabState


def _state(lab: LabRef) -> LabState:
    if isinstance(lab, LabState):
        return lab
    state = LabState.load(lab.absolute())
    if state is None:
        raise LabError(f"no lab in {lab} (run `netorch lab up` first)")
    return state


def node_argv(lab: LabRef, node: str, argv: Sequence[str]) -> list[str]:
    """The command line that runs `argv` inside `node` (network, UTS, mount namespaces)."""
    state = _state(lab)
    kind = state.kind(node)
    ns = state.namespace(node)
    if kind == "host":
        return ["ip", "netns", "exec", ns, *argv]
    d = state.node_dir(node)
    pidfile = d / "run" / "zebra.pid" if kind == "router" else d / "netconfd.pid"
    pid = read_pid(pidfile)
    if pid is None or not pid_in_netns(pid, netns_inode(ns)):
        raise LabError(f"{node} is not running (no live process behind {pidfile.name})")
    return ["nsenter", "-t", str(pid), "-n", "-u", "-m", "--", *argv]


def exec_in(
    lab: LabRef,
    node: str,
    argv: Sequence[str],
    *,
    check: bool = False,
    timeout: float = 30.0,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `argv` inside a lab node (router: its Linux shell; host; netconf device)."""
    proc = subprocess.run(
        node_argv(lab, node, argv), input=input_text, capture_output=True, text=True,
        timeout=timeout, check=False,
    )
    if check and proc.returncode != 0:
        raise LabError(f"{node}: {' '.join(argv)} failed: {proc.stderr.strip()[-300:]}")
    return proc


def start_daemon(lab: LabRef, router: str, daemon: str) -> int:
    """Start one of a router's FRR daemons again (after a failure test stopped it) with its saved
    configuration; returns its pid."""
    state = _state(lab)
    if daemon not in render.router_daemons(state, router) or daemon == "zebra":
        raise LabError(f"{router} does not run {daemon} (or it cannot be restarted alone)")
    exec_in(state, router, render.daemon_argv(state, router, daemon), check=True)
    exec_in(state, router, render.load_config_argv(state, router), check=False)
    pid = read_pid(state.node_dir(router) / "run" / f"{daemon}.pid")
    if pid is None or not pid_alive(pid):
        raise LabError(f"{router}: {daemon} did not start")
    return pid


def ping(lab: LabRef, src: str, dst_ip: str, *, count: int = 1, timeout: float = 2.0) -> bool:
    """True if `dst_ip` answers ICMP echo from node `src`."""
    wait = max(1, int(timeout))
    proc = exec_in(lab, src, ["ping", "-n", "-q", "-c", str(count), "-W", str(wait), dst_ip],
                   timeout=timeout * count + 5)
    return proc.returncode == 0


def tcp_connect(lab: LabRef, src: str, dst_ip: str, port: int, timeout: float = 2.0) -> bool:
    """True if a TCP connection from node `src` to dst_ip:port is accepted."""
    proc = exec_in(
        lab, src, [sys.executable, "-c", render.connect_script(), dst_ip, str(port), str(timeout)],
        timeout=timeout + 10,
    )
    return proc.returncode == 0


@dataclass
class Listener:
    """A TCP listener in a lab node; tracked by pid file, stopped by pid."""

    node: str
    port: int
    pid: int
    pidfile: Path
    _proc: subprocess.Popen[str]

    @property
    def running(self) -> bool:
        return self._proc.poll() is None and pid_alive(self.pid)

    def stop(self) -> None:
        if self._proc.poll() is None:
            stop_pids([self.pid])
        self._proc.wait(timeout=10)
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self.pidfile.unlink(missing_ok=True)


def start_listener(lab: LabRef, node: str, port: int, timeout: float = 10.0) -> Listener:
    """Start a TCP listener on 0.0.0.0:port in `node`; returns once it is listening."""
    state = _state(lab)
    argv = node_argv(state, node, [sys.executable, "-u", "-c", render.listener_script(),
                                   str(port)])
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True,
    )
    listeners = state.run_dir / "listeners"
    listeners.mkdir(mode=0o755, exist_ok=True)
    pidfile = listeners / f"{node}-{port}.pid"
    pidfile.write_text(f"{proc.pid}\n", encoding="ascii")
    listener = Listener(node=node, port=port, pid=proc.pid, pidfile=pidfile, _proc=proc)
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else ""
    if line.strip() != "ready":
        listener.stop()
        raise LabError(f"{node}: TCP listener on port {port} did not start")
    return listener


@contextmanager
def listening(lab: LabRef, node: str, port: int) -> Iterator[Listener]:
    """Context manager around start_listener: the listener is stopped on exit."""
    listener = start_listener(lab, node, port)
    try:
        yield listener
    finally:
        listener.stop()
