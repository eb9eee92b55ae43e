"""Bring a lab up, tear it down, report its status.

How a lab is built (all names start with the topology's prefix, default ``nol``):

* one network namespace per node: ``nol-r1``, ``nol-h1``, ``nol-nc1``;
* a host bridge ``nol-br`` with the management gateway address (198.18.0.1/16) and
  one veth per router / NETCONF device (host end ``nol-<node>``, ``eth0`` inside);
* data links: veth pairs created directly inside the router namespaces
  (``eth1``, ``eth2``...), host links ``ethN`` (router) <-> ``eth0`` (host), and a dummy
  ``ethN`` for a router interface with nothing attached;
* each router runs its processes (zebra, staticd [, ospfd, bgpd], sshd) in its own network,
  UTS (hostname = router name) and mount namespace. In that private mount namespace
  the router's own config dir is mounted on /etc/frr and its vty socket dir on
  /run/frr, so a plain ``vtysh`` inside the router talks to that router;
* users are lab-private: a passwd/group/shadow made for the lab is mounted over
  /etc/passwd, /etc/group, /etc/shadow inside the node namespaces only. The host's
  user database is never modified and no host user is created. Users:
  ``root`` (Linux shell: vtysh, nft, ip...), ``vtyadmin`` (login shell /usr/bin/vtysh:
  an IOS-like CLI for netmiko ``cisco_ios``), ``ncadmin`` (NETCONF device login).
  Each has a generated password; all accept the generated key <run_dir>/keys/id_ed25519;
* every router and NETCONF device has its own SSH host key (nodes/<node>/ssh_host_ed25519_key);
  <run_dir>/known_hosts lists them all, and the lab's credentials file and inventory name it,
  so netorch connects to the lab with host key checking on;
* when lldpd is installed, each router runs one on its links to other routers (never on eth0),
  with a private /run of its own (its compiled-in socket, chroot); its socket is bind-mounted on
  /run/lldpd.socket in the router's mount namespace, where lldpcli finds it;
* the NETCONF device runs netconfd (yuma123) as plain YANG: an empty directory is
  mounted over every SIL library directory in its mount namespace, and the process
  map is checked after start, so no host-touching SIL code is ever loaded.

Processes are tracked by pid file and stopped by pid: `down` stops exactly the
processes that live in the lab's own network namespaces.
"""

from __future__ import annotations

import contextlib
import grp
import json
import os
import pwd
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from netorch.errors import LabError
from netorch.lab import _render as render
from netorch.lab._hostkeys import HOST_KEY, known_hosts_line, new_host_key
from netorch.lab._system import (
    LLDPD_SOCKET,
    check_prerequisites,
    host_links,
    ip_batch,
    lldpd_installed,
    namespaces,
    netns_inode,
    pid_alive,
    pid_in_netns,
    pids_in_namespaces,
    read_pid,
    run,
    stop_pids,
    wait_for,
)
from netorch.lab.inventory import write_inventory
from netorch.lab.state import STATE_FILE, LabState, LabStatus, NodeStatus
from netorch.lab.topology import Topology, dump_topology, load_topology

# Files and dirs inside a run dir that belong to the lab (down removes exactly these).
RUN_DIR_ENTRIES = (
    STATE_FILE,
    "lab.tmp",
    "topology.yaml",
    "credentials.yaml",
    "known_hosts",
    "inventory",
    "keys",
    "etc",
    "nodes",
    "listeners",
    "home",
)
FIRST_LAB_UID = 64000
ALIAS_TAG = "netorch-lab:"
START_WORKERS = 12


def default_topology_path() -> Path:
    """lab/topology.yaml of the repository this package lives in, else of the cwd."""
    beside = Path(__file__).resolve().parents[2] / "lab" / "topology.yaml"
    return beside if beside.is_file() else Path.cwd() / "lab" / "topology.yaml"


# ---------------------------------------------------------------------------- status


def _router_processes(state: LabState, router: str) -> dict[str, Path]:
    run_dir = state.node_dir(router) / "run"
    daemons = render.router_daemons(state, router)
    procs = {d: run_dir / f"{d}.pid" for d in daemons}
    procs["sshd"] = state.node_dir(router) / "sshd.pid"
    if state.lldp and render.lldp_interfaces(state, router):
        procs["lldpd"] = state.node_dir(router) / "lldpd.pid"
    return procs


def _netconf_processes(state: LabState, node: str) -> dict[str, Path]:
    d = state.node_dir(node)
    return {"netconfd": d / "netconfd.pid", "sshd": d / "sshd.pid"}


def _processes(state: LabState, node: str) -> dict[str, Path]:
    kind = state.kind(node)
    if kind == "router":
        return _router_processes(state, node)
    if kind == "netconf":
        return _netconf_processes(state, node)
    return {}


def _node_status(state: LabState, node: str) -> NodeStatus:
    ns = state.namespace(node)
    inode = netns_inode(ns)
    procs: dict[str, int | None] = {}
    for name, pidfile in _processes(state, node).items():
        pid = read_pid(pidfile)
        procs[name] = pid if pid is not None and pid_in_netns(pid, inode) else None
    kind = state.kind(node)
    mgmt: str | None = None
    port: int | None = None
    if kind == "router":
        mgmt, port = str(state.topology.routers[node].mgmt), 22
    elif kind == "netconf":
        dev = state.topology.netconf[node]
        mgmt, port = str(dev.mgmt), dev.port
    healthy = inode is not None and all(p is not None for p in procs.values())
    return NodeStatus(
        name=node, kind=kind, namespace=ns, mgmt=mgmt, port=port, processes=procs,
        healthy=healthy,
    )


def status(run_dir: Path) -> LabStatus:
    """The lab's state as seen now: up (all healthy), degraded, or down (no lab)."""
    run_dir = run_dir.absolute()
    state = LabState.load(run_dir)
    if state is None:
        return LabStatus(run_dir=run_dir, state="down")
    nodes = [_node_status(state, n) for n in state.nodes()]
    ok = state.phase == "up" and all(n.healthy for n in nodes)
    return LabStatus(
        run_dir=run_dir,
        state="up" if ok else "degraded",
        prefix=state.prefix,
        bridge=state.bridge,
        inventory_dir=run_dir / "inventory",
        credentials_file=run_dir / "credentials.yaml",
        known_hosts_file=run_dir / "known_hosts",
        up_seconds=state.up_seconds,
        nodes=nodes,
    )


# ---------------------------------------------------------------------------- down


def _clean_system(prefix: str, extra_pidfiles: list[Path]) -> None:
    """Stop every process in the prefix's namespaces, delete its links and namespaces."""
    names = namespaces(prefix)
    inodes = {i for i in (netns_inode(n) for n in names) if i is not None}
    pids = pids_in_namespaces(inodes)
    # listeners etc. run in the lab's host namespaces too; pid files are a backstop
    for pidfile in extra_pidfiles:
        pid = read_pid(pidfile)
        if pid is not None and any(pid_in_netns(pid, i) for i in inodes):
            pids.append(pid)
    stop_pids(pids)
    links = [str(lk["ifname"]) for lk in host_links(prefix)]
    lines = [f"link del {name}" for name in links if "@" not in name]
    lines += [f"netns del {name}" for name in names]
    if lines:
        ip_batch(lines, force=True, what=f"removing {prefix}-* links and namespaces")
    wait_for(
        lambda: not namespaces(prefix) and not host_links(prefix),
        15.0,
        f"the kernel to remove the {prefix}-* links and namespaces",
        interval=0.05,
    )


def _other_lab_running(prefix: str) -> bool:
    """Another netorch lab (other prefix) is up on this machine: it may use /run/sshd."""
    links = json.loads(run(["ip", "-j", "link", "show", "type", "bridge"]).stdout or "[]")
    return any(
        str(lk.get("ifalias", "")).startswith(ALIAS_TAG)
        and not str(lk.get("ifname", "")).startswith(prefix + "-")
        for lk in links
    )


def _remove_files(run_dir: Path, created_dirs: tuple[str, ...], prefix: str) -> None:
    for entry in RUN_DIR_ENTRIES:
        path = run_dir / entry
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    # dirs that `up` created on the host (run dir, /run/sshd, /run/frr), newest first
    shared = _other_lab_running(prefix)
    for directory in reversed(created_dirs):
        if shared and directory != str(run_dir):
            continue
        path = Path(directory)
        with contextlib.suppress(OSError):  # not empty (used by someone else) or gone
            if path.is_dir():
                path.rmdir()
            elif path.is_file() and path.stat().st_size == 0:  # the empty mount point of lldpd's socket
                path.unlink()


def down(run_dir: Path) -> None:
    """Remove every namespace, link, bridge, process and file of the lab in run_dir."""
    run_dir = run_dir.absolute()
    state = LabState.load(run_dir)
    if state is None:
        return
    check_prerequisites(need_netconf=False)
    _clean_system(state.prefix, sorted((run_dir / "listeners").glob("*.pid")))
    _remove_files(run_dir, state.created_dirs, state.prefix)


# ---------------------------------------------------------------------------- up


def _free_uids(count: int) -> list[int]:
    used = {p.pw_uid for p in pwd.getpwall()}
    out: list[int] = []
    uid = FIRST_LAB_UID
    while len(out) < count:
        if uid not in used:
            out.append(uid)
        uid += 1
    return out


def _crypt(password: str) -> str:
    proc = run(["openssl", "passwd", "-6", "-stdin"], input_text=password + "\n",
               what="openssl passwd")
    return proc.stdout.strip()


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path, mode)


def _check_traversable(run_dir: Path) -> None:
    """Lab users (vtyadmin, ncadmin) must reach files under the run dir."""
    for parent in run_dir.parents:
        if parent.exists() and not os.stat(parent).st_mode & 0o001:
            raise LabError(
                f"run dir {run_dir}: its parent {parent} is not searchable by other users "
                f"(mode {os.stat(parent).st_mode & 0o777:o}); the lab's SSH users need it. "
                "Choose another --run-dir (e.g. under /run or /tmp)."
            )


def _mkdirs(paths: list[Path]) -> list[str]:
    created: list[str] = []
    for path in paths:
        missing = [p for p in [path, *path.parents] if not p.exists()]
        for p in reversed(missing):
            p.mkdir(mode=0o755)
            created.append(str(p))
    return created


def _users(state: LabState, passwords: dict[str, str]) -> dict[str, int]:
    etc = state.run_dir / "etc"
    etc.mkdir(mode=0o755)
    uids = dict(zip((render.CLI_USER, render.NETCONF_USER), _free_uids(2), strict=True))
    try:
        frrvty = grp.getgrnam("frrvty").gr_gid
    except KeyError:
        raise LabError("group frrvty not found: is the Debian package frr installed?") from None
    ours = (render.CLI_USER, render.NETCONF_USER)
    # root of a router gets a clean home and /bin/sh: the host's dotfiles (a shell rc that
    # starts tools, for example) must not run on every SSH session to a lab router
    home = state.run_dir / "home" / "root"
    home.mkdir(parents=True, mode=0o700)
    passwd = [ln if ln.split(":")[0] != "root" else f"root:x:0:0:root:{home}:/bin/sh"
              for ln in Path("/etc/passwd").read_text().splitlines()
              if ln and ln.split(":")[0] not in ours]
    passwd += [
        f"{render.CLI_USER}:x:{uids[render.CLI_USER]}:{frrvty}:netorch lab CLI:/:/usr/bin/vtysh",
        f"{render.NETCONF_USER}:x:{uids[render.NETCONF_USER]}:65534:netorch lab NETCONF:/:/bin/sh",
    ]
    group = []
    for line in Path("/etc/group").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == "frrvty" and len(fields) == 4:
            members = [m for m in fields[3].split(",") if m]
            fields[3] = ",".join([*members, render.CLI_USER])
        if line:
            group.append(":".join(fields))
    shadow = [render.shadow_line(user, _crypt(pw)) for user, pw in passwords.items()]
    _write(etc / "passwd", "\n".join(passwd) + "\n")
    _write(etc / "group", "\n".join(group) + "\n")
    # like Debian's: root:shadow 0640, so unix_chkpwd (PAM, used by vtysh) can read it
    _write(etc / "shadow", "\n".join(shadow) + "\n", 0o600)
    with contextlib.suppress(KeyError):
        os.chown(etc / "shadow", 0, grp.getgrnam("shadow").gr_gid)
        os.chmod(etc / "shadow", 0o640)
    _write(etc / "utmp", "", 0o664)
    return uids


def _keys(run_dir: Path) -> None:
    keys = run_dir / "keys"
    keys.mkdir(mode=0o711)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "netorch-lab", "-f",
         str(keys / "id_ed25519")], what="ssh-keygen")
    _write(keys / "authorized_keys", (keys / "id_ed25519.pub").read_text(), 0o644)


def _node_files(state: LabState) -> None:
    topo = state.topology
    nodes = state.run_dir / "nodes"
    nodes.mkdir(mode=0o711)
    frr = pwd.getpwnam("frr")
    known: list[str] = []
    for name in topo.routers:
        d = state.node_dir(name)
        (d / "etc").mkdir(parents=True)
        (d / "run").mkdir()
        os.chmod(d, 0o755)  # noqa: S103 - lab users must reach it
        _write(d / "etc" / "frr.conf", render.frr_conf(state, name), 0o660)
        _write(d / "etc" / "vtysh.conf", render.vtysh_conf(), 0o660)
        _write(d / "etc" / render.ZEBRA_BOOT, render.ZEBRA_BOOT_TEXT, 0o660)
        frrvty_gid = grp.getgrnam("frrvty").gr_gid
        for path in (d / "etc", d / "etc" / "frr.conf", d / "etc" / "vtysh.conf", d / "etc" / render.ZEBRA_BOOT):
            os.chown(path, frr.pw_uid, frrvty_gid)
        os.chmod(d / "etc", 0o2775)  # noqa: S103 - lab users must reach it
        os.chown(d / "run", frr.pw_uid, frr.pw_gid)
        known.append(known_hosts_line(str(topo.routers[name].mgmt), 22,
                                      new_host_key(d / HOST_KEY, f"netorch-lab-{name}")))
        _write(d / "links.batch", "\n".join(render.router_links(state, name)) + "\n")
        _write(d / "start.sh", render.router_start(state, name), 0o755)
        _write(d / "sshd_config", render.sshd_config(
            state, name, str(topo.routers[name].mgmt), 22,
            [f"AllowUsers {render.SHELL_USER} {render.CLI_USER}", "PermitRootLogin yes",
             "Subsystem sftp /usr/lib/openssh/sftp-server"],
        ))
    for name, dev in topo.netconf.items():
        d = state.node_dir(name)
        (d / "empty").mkdir(parents=True)
        (d / "home").mkdir()
        os.chmod(d, 0o755)  # noqa: S103 - lab users must reach it
        known.append(known_hosts_line(str(dev.mgmt), dev.port, new_host_key(d / HOST_KEY, f"netorch-lab-{name}")))
        _write(d / "startup.xml", "<config/>\n", 0o600)
        _write(d / "start.sh", render.netconf_start(state, name), 0o755)
        sock = d / "ncxserver.sock"
        _write(d / "sshd_config", render.sshd_config(
            state, name, str(dev.mgmt), dev.port,
            [f"AllowUsers {render.NETCONF_USER}", "PermitRootLogin no",
             f'Subsystem netconf "/usr/sbin/netconf-subsystem '
             f'--ncxserver-sockname={dev.port}@{sock}"'],
        ))
    # public keys only: readable by all, like /etc/ssh/ssh_known_hosts
    _write(state.run_dir / "known_hosts", "".join(line + "\n" for line in known), 0o644)


def _links_batch(state: LabState) -> list[str]:
    topo = state.topology
    p = state.prefix
    lines = [f"netns add {state.namespace(n)}" for n in state.nodes()]
    br = state.bridge
    lines += [
        f"link add {br} type bridge",
        f'link set {br} alias "{ALIAS_TAG}{state.run_dir}"',
        f"address add {topo.mgmt_gateway} dev {br}",
        f"link set {br} up",
    ]
    for node in [*topo.routers, *topo.netconf]:
        lines += [
            f"link add {p}-{node} type veth peer name eth0 netns {p}-{node}",
            f"link set {p}-{node} master {br} up",
        ]
    attached: set[str] = set()
    for a, b in topo.links:
        (ra, ia), (rb, ib) = a.split(":"), b.split(":")
        lines.append(f"link add name {ia} netns {p}-{ra} type veth peer name {ib} netns {p}-{rb}")
        attached |= {a, b}
    for hname, host in topo.hosts.items():
        lines.append(
            f"link add name {host.interface} netns {p}-{host.router} type veth"
            f" peer name eth0 netns {p}-{hname}"
        )
        attached.add(f"{host.router}:{host.interface}")
    for rname, router in topo.routers.items():
        for iname in router.interfaces:
            if f"{rname}:{iname}" not in attached:
                lines.append(f"link add name {iname} netns {p}-{rname} type dummy")
    return lines


def _host_batch(state: LabState, host: str) -> list[str]:
    h = state.topology.hosts[host]
    return [
        "link set lo up",
        f"address add {h.address} dev eth0",
        "link set eth0 up",
        f"route add default via {h.gateway}",
    ]


def _tail(path: Path, lines: int = 6) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def _start_node(state: LabState, node: str) -> None:
    ns = state.namespace(node)
    kind = state.kind(node)
    if kind == "host":
        ip_batch(_host_batch(state, node), netns=ns, what=f"configuring host {node}")
        return
    d = state.node_dir(node)
    log = d / "start.log"
    with open(log, "wb") as out:
        proc = subprocess.run(
            ["ip", "netns", "exec", ns, "unshare", "--uts", "sh", str(d / "start.sh")],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, timeout=60,
            check=False,
        )
    if proc.returncode != 0:
        raise LabError(f"starting {node} failed (exit {proc.returncode}): {_tail(log)}")


def _wait_ready(state: LabState) -> None:
    """All daemons have written their pid files (sshd writes it once it listens)."""
    pidfiles = [f for n in state.nodes() for f in _processes(state, n).values()]
    wait_for(lambda: all(f.exists() for f in pidfiles), 30.0, "the lab's daemons to start")
    for node in state.topology.netconf:
        pid = read_pid(state.node_dir(node) / "netconfd.pid")
        if pid is None or not pid_alive(pid):
            log = _tail(state.node_dir(node) / "netconfd.out")
            raise LabError(f"{node}: netconfd exited: {log}")
        maps = Path(f"/proc/{pid}/maps").read_text()
        if "/yuma/lib" in maps:
            stop_pids([pid])
            raise LabError(f"{node}: netconfd loaded SIL code (would act on the host): stopped")


def _conflicting_lab(state: LabState) -> Path | None:
    """Another run dir's live lab that uses the same prefix, if any."""
    for link in host_links(state.prefix):
        if link.get("ifname") == state.bridge:
            alias = str(link.get("ifalias", ""))
            if alias.startswith(ALIAS_TAG):
                other = Path(alias[len(ALIAS_TAG):])
                if other != state.run_dir and (other / STATE_FILE).exists():
                    return other
    return None


@contextmanager
def _timed(name: str, timings: dict[str, float]) -> Iterator[None]:
    t0 = time.monotonic()
    yield
    timings[name] = round(time.monotonic() - t0, 3)


def up(topology: Path | Topology, run_dir: Path) -> LabStatus:
    """Build the lab described by `topology` (a file or a Topology) into run_dir.

    Idempotent: if the same topology is already up and healthy in run_dir, nothing is
    changed. A degraded lab or leftovers of a crash (same prefix) are removed first.
    """
    t0 = time.monotonic()
    topo = topology if isinstance(topology, Topology) else load_topology(topology)
    check_prerequisites(need_netconf=bool(topo.netconf))
    run_dir = run_dir.absolute()
    _check_traversable(run_dir)
    old = LabState.load(run_dir)
    if (old is not None and old.digest == topo.digest() and old.phase == "up"
            and (run_dir / "known_hosts").is_file()):  # (a lab from before per-device host keys: rebuilt)
        current = status(run_dir)
        if current.state == "up":
            return current
    state = LabState(run_dir=run_dir, prefix=topo.prefix, topology=topo, digest=topo.digest(),
                     lldp=lldpd_installed())
    other = _conflicting_lab(state)
    if other is not None:
        raise LabError(
            f"a lab with prefix {topo.prefix!r} is running from {other}; "
            f"run `netorch lab down --run-dir {other}` first"
        )
    if old is not None:
        _clean_system(old.prefix, sorted((run_dir / "listeners").glob("*.pid")))
        _remove_files(run_dir, (), old.prefix)
        created = list(old.created_dirs)
    else:
        created = []
    _clean_system(topo.prefix, [])  # crash leftovers without a state file
    created += _mkdirs([run_dir, Path("/run/sshd"), Path("/run/frr")])
    if state.lldp and not os.path.lexists(LLDPD_SOCKET):
        # an empty file the routers' lldpd sockets are bind-mounted on (in their mount namespaces only)
        _write(Path(LLDPD_SOCKET), "", 0o644)
        created.append(LLDPD_SOCKET)
    if str(run_dir) in created:
        os.chmod(run_dir, 0o711)  # noqa: S103 - lab users must reach it
    state = state.model_copy(update={"created_dirs": tuple(created)})
    state.save()  # from here on, `down` can undo whatever happens
    timings: dict[str, float] = {}
    try:
        passwords = {
            render.SHELL_USER: secrets.token_urlsafe(15),
            render.CLI_USER: secrets.token_urlsafe(15),
            render.NETCONF_USER: secrets.token_urlsafe(15),
        }
        with _timed("files", timings):
            users = _users(state, passwords)
            state = state.model_copy(update={"users": users})
            state.save()
            _keys(run_dir)
            _write(run_dir / "topology.yaml", dump_topology(topo))
            _node_files(state)
            (run_dir / "listeners").mkdir(mode=0o755)
        with _timed("links", timings):
            ip_batch(_links_batch(state), what="creating namespaces and links")
        with _timed("start", timings):
            nodes = [*topo.netconf, *topo.routers, *topo.hosts]
            with ThreadPoolExecutor(max_workers=min(START_WORKERS, len(nodes))) as pool:
                for _ in pool.map(lambda n: _start_node(state, n), nodes):
                    pass
            _wait_ready(state)
        credentials: dict[str, Any] = {
            "known_hosts": str(run_dir / "known_hosts"),
            "default": {
                "username": render.SHELL_USER,
                "password": passwords[render.SHELL_USER],
                "ssh_key_file": str(run_dir / "keys" / "id_ed25519"),
            },
            "platforms": {
                "netconf": {
                    "username": render.NETCONF_USER,
                    "password": passwords[render.NETCONF_USER],
                },
            },
            "connections": {
                "netmiko": {"username": render.CLI_USER, "password": passwords[render.CLI_USER]},
            },
            "hosts": {},
        }
        write_inventory(state, credentials)
    except BaseException:
        _clean_system(state.prefix, [])
        _remove_files(run_dir, state.created_dirs, state.prefix)
        raise
    state = state.model_copy(
        update={"phase": "up", "up_seconds": round(time.monotonic() - t0, 2)}
    )
    state.save()
    _write(run_dir / "nodes" / "timings.json", json.dumps(timings) + "\n")
    return status(run_dir)
