"""Text of the files the lab writes into its run dir (configs, start scripts). Pure."""

from __future__ import annotations

import shlex
from pathlib import Path

from netorch.lab._system import LLDPD_SOCKET
from netorch.lab.state import LabState
from netorch.service import PACKAGED_TEMPLATES, templates_folder

FRR = "/usr/lib/frr"
SHELL_USER = "root"  # Linux shell of each router (password only valid inside the lab)
CLI_USER = "vtyadmin"  # login shell: vtysh of the router whose sshd it logged into
NETCONF_USER = "ncadmin"  # NETCONF over SSH (netconf-subsystem)
YANG_MODULES = (
    "iana-if-type",
    "ietf-interfaces",
    "ietf-ip",
    "ietf-routing",
    "ietf-ipv4-unicast-routing",
)
#: netorch's own YANG module for domain filters on NETCONF devices, inside a templates folder
POLICY_YANG = Path("netconf") / "netorch-policy.yang"
# Where Debian (and upstream) install netconfd SIL libraries. Each netconfd gets an
# empty directory mounted over every one of these in its private mount namespace, so
# no SIL code (which would act on the host) can ever be loaded: plain YANG only.
SIL_DIRS = (
    "/usr/lib/x86_64-linux-gnu/yuma",
    "/usr/lib/aarch64-linux-gnu/yuma",
    "/usr/lib/yuma",
    "/usr/lib64/yuma",
    "/usr/local/lib/yuma",
)
ROUTER_DAEMONS = ("zebra", "staticd")
#: daemons a router runs when its topology entry asks for them (ospf: true, bgp: true)
PROTOCOL_DAEMONS = (("ospf", "ospfd"), ("bgp", "bgpd"))


def q(value: object) -> str:
    return shlex.quote(str(value))


def router_daemons(state: LabState, router: str) -> list[str]:
    """The FRR daemons of a router, in start order."""
    r = state.topology.routers[router]
    return [*ROUTER_DAEMONS, *(daemon for flag, daemon in PROTOCOL_DAEMONS if getattr(r, flag))]


#: zebra's own start-up configuration (see daemon_argv)
ZEBRA_BOOT = "zebra.boot.conf"
ZEBRA_BOOT_TEXT = "no zebra nexthop kernel enable\n"


def frr_conf(state: LabState, router: str) -> str:
    topo = state.topology
    r = topo.routers[router]
    # zebra installs routes with their next hops inline, not as kernel nexthop groups: FRR 8.4's
    # groups lose a member for good when one of its links flaps (an ECMP route stays single-path)
    lines = ["frr defaults traditional", f"hostname {router}", "no zebra nexthop kernel enable", "ip forwarding",
             "!"]
    if r.loopback is not None:
        lines += ["interface lo", f" ip address {r.loopback}", "exit", "!"]
    for name in sorted(r.interfaces, key=lambda n: int(n[3:])):
        iface = r.interfaces[name]
        lines.append(f"interface {name}")
        description = topo.description(router, name)
        if description:
            lines.append(f" description {description}")
        lines += [f" ip address {iface.address}", "exit", "!"]
    lines += ["line vty", "!", ""]
    return "\n".join(lines)


def vtysh_conf() -> str:
    return "service integrated-vtysh-config\n"


def sshd_config(state: LabState, node: str, listen: str, port: int, extra: list[str]) -> str:
    keys = state.run_dir / "keys"
    d = state.node_dir(node)
    lines = [
        f"# netorch lab: sshd of {node} (runs in namespace {state.namespace(node)})",
        f"ListenAddress {listen}:{port}",
        f"HostKey {d / 'ssh_host_ed25519_key'}",  # each node its own
        f"PidFile {d / 'sshd.pid'}",
        f"AuthorizedKeysFile {keys / 'authorized_keys'}",
        "UsePAM no",
        "StrictModes no",
        "PubkeyAuthentication yes",
        "PasswordAuthentication yes",
        "KbdInteractiveAuthentication no",
        "PermitEmptyPasswords no",
        "PrintMotd no",
        "PrintLastLog no",
        "UseDNS no",
        "X11Forwarding no",
        "AllowAgentForwarding no",
        "MaxStartups 200:30:400",
        "MaxSessions 50",
        "LoginGraceTime 30",
        "AcceptEnv LANG LC_*",
        *extra,
        "",
    ]
    return "\n".join(lines)


def _common_mounts(state: LabState, node: str) -> list[str]:
    """Mounts in the node's private mount namespace (made by `ip netns exec`)."""
    etc = state.run_dir / "etc"
    return [
        f"echo {q(node)} > /proc/sys/kernel/hostname",
        # lab-private users: the host's /etc/passwd, /etc/shadow are never modified
        f"mount --bind {q(etc / 'passwd')} /etc/passwd",
        f"mount --bind {q(etc / 'group')} /etc/group",
        f"mount --bind {q(etc / 'shadow')} /etc/shadow",
        # sshd logins are recorded here, not in the host's wtmp/lastlog/utmp
        "mount -t tmpfs -o size=4m,mode=0755 netorch-lab /var/log",
        f"[ ! -e /run/utmp ] || mount --bind {q(etc / 'utmp')} /run/utmp",
    ]


def router_start(state: LabState, router: str) -> str:
    """Run as `ip netns exec NS unshare --uts sh start.sh`: hostname, mounts, daemons."""
    d = state.node_dir(router)
    run = d / "run"
    daemons = router_daemons(state, router)
    lines = [
        "#!/bin/sh",
        f"# netorch lab: start router {router}",
        "set -e",
        "umask 022",
        *_common_mounts(state, router),
        # plain `vtysh` inside the router talks to this router and writes its config
        f"mount --bind {q(d / 'etc')} /etc/frr",
        f"mount --bind {q(run)} /run/frr",
        f"ip -batch {q(d / 'links.batch')}",
    ]
    lines += [shlex.join(daemon_argv(state, router, daemon)) for daemon in daemons]
    lines += [
        f"{shlex.join(load_config_argv(state, router))} >/dev/null",
        *(lldpd_start(state, router) if state.lldp else []),
        f"/usr/sbin/sshd -f {q(d / 'sshd_config')}",
        "",
    ]
    return "\n".join(lines)


#: what each router's lldpd is told at start (-O): a frame a second, its interface name as port id
LLDPD_CONF = "configure lldp tx-interval 1\nconfigure lldp portidsubtype ifname\n"


def lldp_interfaces(state: LabState, router: str) -> list[str]:
    """The router's interfaces on links to other routers: the only ones its lldpd uses (never eth0,
    the management link to the host's bridge, nor the links to end hosts)."""
    found = []
    for a, b in state.topology.links:
        for end in (a, b):
            node, iface = end.split(":")
            if node == router:
                found.append(iface)
    return sorted(found, key=lambda n: int(n[3:]) if n[3:].isdigit() else 0)


def lldpd_start(state: LabState, router: str) -> list[str]:
    """Start lines for the router's lldpd (in its namespaces, on its router links only). lldpd's
    paths are compiled in under /run (its socket, its privilege-separation chroot): it runs in a
    mount namespace of its own where the node's lldpd/ folder is /run, and its socket is then
    bind-mounted on /run/lldpd.socket in the router's mount namespace, where lldpcli (and so the
    NAPALM driver) finds it. Nothing of it is written on the host's /run."""
    interfaces = lldp_interfaces(state, router)
    if not interfaces:
        return []
    d = state.node_dir(router)
    private = d / "lldpd"
    inner = (f"mount --bind {q(private)} /run && exec /usr/sbin/lldpd -d -I {','.join(interfaces)} "
             f"-O {q(d / 'lldpd.conf')}")
    return [
        f"mkdir -p {q(private / 'lldpd')}",
        f"printf %s {q(LLDPD_CONF)} > {q(d / 'lldpd.conf')}",
        f"setsid unshare --mount --propagation private sh -c {q(inner)} </dev/null >>{q(d / 'lldpd.log')} 2>&1 &",
        f"echo $! > {q(d / 'lldpd.pid')}",
        "i=0",
        f"while [ ! -S {q(private / 'lldpd.socket')} ]; do",
        f"  i=$((i+1)); [ $i -lt 500 ] || {{ tail -n 5 {q(d / 'lldpd.log')}; exit 1; }}",
        "  sleep 0.02",
        "done",
        f"mount --bind {q(private / 'lldpd.socket')} {LLDPD_SOCKET}",
    ]


def daemon_argv(state: LabState, router: str, daemon: str) -> list[str]:
    """How a router's FRR daemon is started (daemonised, private paths, inside its namespaces)."""
    run = state.node_dir(router) / "run"
    # zebra reads its boot file before it installs a route: FRR 8.4 switched off kernel nexthop
    # groups at run time still installs routes by the ids of groups it no longer keeps in the
    # kernel ("Nexthop id does not exist"), and those routes never reach the FIB
    boot = state.node_dir(router) / "etc" / ZEBRA_BOOT if daemon == "zebra" else Path("/dev/null")
    return [f"{FRR}/{daemon}", "-d", "-F", "traditional", "-P", "0", "-f", str(boot), "--vty_socket", str(run),
            "-z", str(run / "zserv.api"), "-i", str(run / f"{daemon}.pid"), "--log", f"file:{run / daemon}.log"]


def load_config_argv(state: LabState, router: str) -> list[str]:
    """vtysh loading the router's saved frr.conf into its running daemons."""
    d = state.node_dir(router)
    return ["vtysh", "--vty_socket", str(d / "run"), "--config_dir", str(d / "etc"), "-b"]


def router_links(state: LabState, router: str) -> list[str]:
    r = state.topology.routers[router]
    mgmt_len = state.topology.mgmt_gateway.network.prefixlen
    lines = ["link set lo up", f"address add {r.mgmt}/{mgmt_len} dev eth0", "link set eth0 up"]
    lines += [f"link set {name} up" for name in r.interfaces]
    return lines


def policy_yang() -> Path | None:
    """The netorch-policy YANG module the lab's netconfd loads: the one in the templates folder
    netorch renders with (templates_folder()), else the one netorch ships."""
    for folder in (templates_folder(), PACKAGED_TEMPLATES):
        if (folder / POLICY_YANG).is_file():
            return (folder / POLICY_YANG).resolve()
    return None


def netconf_start(state: LabState, node: str) -> str:
    d = state.node_dir(node)
    dev = state.topology.netconf[node]
    mgmt_len = state.topology.mgmt_gateway.network.prefixlen
    sock = d / "ncxserver.sock"
    modules = " ".join(f"--module={m}" for m in YANG_MODULES)
    policy = policy_yang()
    if policy is not None:
        modules += f" --module={q(policy)}"
    lines = [
        "#!/bin/sh",
        f"# netorch lab: start NETCONF device {node}",
        "set -e",
        "umask 022",
        *_common_mounts(state, node),
    ]
    lines += [f"[ ! -d {s} ] || mount --bind {q(d / 'empty')} {s}" for s in SIL_DIRS]
    lines += [
        "ip link set lo up",
        f"ip address add {dev.mgmt}/{mgmt_len} dev eth0",
        "ip link set eth0 up",
        f"export HOME={q(d / 'home')}",
        f"cd {q(d / 'home')}",
        f"setsid /usr/sbin/netconfd --ncxserver-sockname={q(sock)} --port={dev.port}"
        f" --startup={q(d / 'startup.xml')} --runpath={q(d / 'empty')}"
        f" {modules} --target=candidate --with-startup=false"
        f" --superuser={NETCONF_USER} --log={q(d / 'netconfd.log')} --log-level=info"
        f" </dev/null >>{q(d / 'netconfd.out')} 2>&1 &",
        f"echo $! > {q(d / 'netconfd.pid')}",
        "i=0",
        f"while [ ! -S {q(sock)} ]; do",
        f"  i=$((i+1)); [ $i -lt 500 ] || {{ tail -n 5 {q(d / 'netconfd.out')} {q(d / 'netconfd.log')}; exit 1; }}",
        "  sleep 0.02",
        "done",
        f"/usr/sbin/sshd -f {q(d / 'sshd_config')}",
        "",
    ]
    return "\n".join(lines)


def listener_script() -> str:
    """A tiny TCP listener: prints `ready` once listening, accepts and closes forever."""
    return (
        "import socket, sys\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n"
        "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "s.bind(('0.0.0.0', int(sys.argv[1])))\n"
        "s.listen(64)\n"
        "print('ready', flush=True)\n"
        "while True:\n"
        "    c, _ = s.accept()\n"
        "    c.close()\n"
    )


def connect_script() -> str:
    return (
        "import socket, sys\n"
        "try:\n"
        "    socket.create_connection((sys.argv[1], int(sys.argv[2])), float(sys.argv[3])).close()\n"
        "except OSError:\n"
        "    sys.exit(1)\n"
    )


def shadow_line(user: str, crypted: str) -> str:
    return f"{user}:{crypted}:19000:0:99999:7:::"


def rel(path: Path, base: Path) -> str:
    return str(path.relative_to(base))
