"""Small OS helpers for the lab: commands, prerequisites, namespaces, processes by pid."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from netorch.errors import LabError

NETNS_DIR = Path("/run/netns")

# executable -> Debian package that provides it
REQUIRED: dict[str, str] = {
    "ip": "iproute2",
    "nsenter": "util-linux",
    "unshare": "util-linux",
    "mount": "mount",
    "setsid": "util-linux",
    "/usr/lib/frr/zebra": "frr",
    "/usr/lib/frr/staticd": "frr",
    "/usr/lib/frr/ospfd": "frr",
    "/usr/lib/frr/bgpd": "frr",
    "vtysh": "frr",
    "/usr/sbin/sshd": "openssh-server",
    "ssh-keygen": "openssh-client",
    "nft": "nftables",
    "ping": "iputils-ping",
    "openssl": "openssl",
    "/usr/sbin/netconfd": "netconfd",
    "/usr/sbin/netconf-subsystem": "netconfd",
}


#: lldpd (Debian package lldpd), optional: when installed, every lab router runs one on its links
LLDPD = "/usr/sbin/lldpd"
#: where lldpcli looks for lldpd (compiled in): each router's own lldpd is bind-mounted there, in the
#: router's mount namespace only
LLDPD_SOCKET = "/run/lldpd.socket"


def lldpd_installed() -> bool:
    return os.access(LLDPD, os.X_OK) and bool(shutil.which("lldpcli"))


class PrerequisiteError(LabError):
    """Not root, or a package the lab needs is missing."""


def missing_prerequisites(*, need_netconf: bool = True) -> list[str]:
    """Human readable list of what is missing (empty when the lab can run)."""
    missing: list[str] = []
    if os.geteuid() != 0:
        missing.append("root privileges (run as root)")
    packages: dict[str, list[str]] = {}
    for exe, package in REQUIRED.items():
        if not need_netconf and package == "netconfd":
            continue
        found = os.access(exe, os.X_OK) if exe.startswith("/") else shutil.which(exe)
        if not found:
            packages.setdefault(package, []).append(exe)
    for package, exes in sorted(packages.items()):
        missing.append(f"Debian package {package} (for {', '.join(exes)})")
    yang = Path("/usr/share/yuma/modules/ietf/ietf-interfaces@2014-05-08.yang")
    if need_netconf and not any(Path("/usr/share/yuma/modules").rglob("ietf-interfaces*.yang")):
        missing.append(f"Debian package netconfd-module-ietf-interfaces (for {yang.name})")
    return missing


def check_prerequisites(*, need_netconf: bool = True) -> None:
    missing = missing_prerequisites(need_netconf=need_netconf)
    if missing:
        raise PrerequisiteError("netorch lab cannot run here; missing: " + "; ".join(missing))


def run(
    argv: Sequence[str],
    *,
    input_text: str | None = None,
    check: bool = True,
    timeout: float = 60.0,
    what: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command, capture output; raise LabError naming the command on failure."""
    try:
        proc = subprocess.run(
            list(argv), input=input_text, capture_output=True, text=True, timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise LabError(f"{what or argv[0]}: timed out after {timeout:.0f}s") from None
    except OSError as exc:
        raise LabError(f"{what or argv[0]}: cannot run: {exc.strerror}") from None
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise LabError(f"{what or ' '.join(argv[:4])} failed: {' | '.join(detail)}")
    return proc


def ip_batch(lines: Iterable[str], *, netns: str | None = None, force: bool = False,
             what: str = "ip -batch") -> subprocess.CompletedProcess[str]:
    """Feed many `ip` commands to one process (fast). force: go on after errors."""
    argv = ["ip"]
    if netns:
        argv += ["-n", netns]
    if force:
        argv.append("-force")
    argv += ["-batch", "-"]
    return run(argv, input_text="\n".join(lines) + "\n", check=not force, what=what)


def namespaces(prefix: str) -> list[str]:
    try:
        names = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if n.startswith(prefix + "-"))


def host_links(prefix: str) -> list[dict[str, object]]:
    """Links of the host namespace whose name starts with `<prefix>-`."""
    proc = run(["ip", "-j", "link", "show"], what="ip link show")
    links: list[dict[str, object]] = json.loads(proc.stdout or "[]")
    return [lk for lk in links if str(lk.get("ifname", "")).startswith(prefix + "-")]


def netns_inode(name: str) -> int | None:
    try:
        return os.stat(NETNS_DIR / name).st_ino
    except OSError:
        return None


def pids_in_namespaces(inodes: set[int]) -> list[int]:
    """Every process whose network namespace is one of `inodes` (ours, by construction)."""
    found: list[int] = []
    if not inodes:
        return found
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ino = os.stat(f"/proc/{entry}/ns/net").st_ino
        except OSError:
            continue
        if ino in inodes:
            found.append(int(entry))
    return found


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def read_pid(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def pid_in_netns(pid: int, inode: int | None) -> bool:
    if inode is None:
        return False
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino == inode
    except OSError:
        return False


def wait_for(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.02
             ) -> None:
    """Poll `condition` until true; LabError naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise LabError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def stop_pids(pids: Iterable[int], timeout: float = 5.0) -> None:
    """SIGTERM, wait (polling), then SIGKILL what is left. Only ever by pid."""
    pending = [p for p in set(pids) if p > 1 and p != os.getpid()]
    for pid in pending:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        pending = [p for p in pending if pid_alive(p)]
        if pending:
            time.sleep(0.02)
    for pid in pending:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while pending and time.monotonic() < deadline:
        pending = [p for p in pending if pid_alive(p)]
        if pending:
            time.sleep(0.02)
