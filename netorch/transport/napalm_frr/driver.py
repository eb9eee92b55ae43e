"""A NAPALM driver for Linux routers running FRR and nftables ("netorch_frr").

The device is a Linux shell reached over SSH (paramiko) where `vtysh`, `nft` and
FRR's `frr-reload.py` are available. The candidate configuration is one text: the
FRR configuration, optionally followed by a line `#@netorch-nftables` and an
nftables ruleset (netorch's own table, replaced atomically with `nft -f`).

Replace semantics come from frr-reload.py (it computes and applies the difference
between the running configuration and the candidate). A confirmed commit
(`commit_config(revert_in=N)`) leaves a timer on the device that restores the
checkpoint taken before the commit unless `confirm_commit()` comes first: the device
rolls back by itself, even if the controller is gone.

Optional arguments: port, key_file, timeout, state_dir (where candidate and
checkpoint files live on the device; default /run/frr/netorch, so that a
reboot forgets a pending commit along with the running state), vtysh, nft,
frr_reload (path of frr-reload.py), frr_reload_args (e.g. "--vty_socket DIR
--confdir DIR --rundir DIR" for FRR with private paths), nft_table
(default "inet netorch"), ignore_interfaces (interfaces netorch does not manage, e.g. the
management interface), pid_dir (where FRR's daemons write their pid files; default /run/frr),
dryrun (default False: also check the FRR candidate with
`vtysh --dryrun` at load time; it costs a vtysh start per device, and a line FRR rejects is
caught at commit anyway, where the device is restored and the transaction rolled back).
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

import paramiko
from napalm.base import NetworkDriver

from netorch.configtree.base import Difference
from netorch.configtree.frr import KernelInterface
from netorch.protocols.state import COMMANDS as PROTOCOL_COMMANDS
from netorch.transport.hostkeys import KnownHosts
from netorch.transport.napalm_frr.channel import ChannelMixin, _nft_out, strip_header
from netorch.transport.napalm_frr.confirm import ConfirmMixin, join_candidate
from netorch.transport.napalm_frr.parse import DAEMONS, _daemon_states, _interfaces, _kernel_interfaces, _route_table


class FrrDriver(ConfirmMixin, ChannelMixin, NetworkDriver):  # type: ignore[misc]
    """NAPALM driver for a Linux + FRR + nftables router."""

    platform = "netorch_frr"

    def __init__(self, hostname: str, username: str, password: str, timeout: int = 60,
                 optional_args: dict[str, Any] | None = None) -> None:
        args = optional_args or {}
        self.hostname = hostname
        self.username = username
        self.password = password
        self.timeout = int(args.get("timeout", timeout))
        self.port = int(args.get("port", 22))
        self.key_file = args.get("key_file")
        self.state_dir = str(args.get("state_dir", "/run/frr/netorch"))
        self.vtysh = str(args.get("vtysh", "vtysh"))
        self.nft = str(args.get("nft", "nft"))
        self.frr_reload = str(args.get("frr_reload", "/usr/lib/frr/frr-reload.py"))
        self.frr_reload_args = str(args.get("frr_reload_args", ""))
        self.nft_table = str(args.get("nft_table", "inet netorch"))
        self.dryrun = bool(args.get("dryrun", False))
        self.ignore_interfaces = tuple(str(i) for i in args.get("ignore_interfaces", ()))
        self.flock = str(args.get("flock", "flock"))
        found = re.search(r"--confdir[ =](\S+)", self.frr_reload_args)
        #: where FRR keeps its saved config (frr.conf): the one file write memory changes
        self.confdir = str(args.get("confdir", found.group(1) if found else "/etc/frr"))
        #: the run this session works for (set by netorch's session; random otherwise)
        self.run_tag: str = str(args.get("run_tag", ""))
        self._persisted = False  # the last commit reached the startup config
        self._committed: str | None = None  # the FRR part of the last commit's candidate
        #: the running config read by the last confirm or rollback, and when
        self._readback: tuple[tuple[str, str | None], float] | None = None
        # host key checking: known_hosts (default ~/.ssh/known_hosts), accept_new_host_keys (trust on
        # first use), netorch_host (the device's name in messages); see netorch.transport.hostkeys
        self.known_hosts = KnownHosts.of(args.get("known_hosts"), bool(args.get("accept_new_host_keys", False)),
                                         str(args.get("netorch_host") or hostname))
        self.pid_dir = str(args.get("pid_dir", "/run/frr"))  # where FRR's daemons write their pid files
        self._kernel: dict[str, KernelInterface] | None = None  # read with the candidate's load
        self._foreign: list[Difference] = []  # other tables, when the candidate owns the whole ruleset
        self._ssh: paramiko.SSHClient | None = None
        self._chan: paramiko.Channel | None = None  # a long-lived sh
        self._vtyc: paramiko.Channel | None = None  # a long-lived vtysh
        self._candidate: str | None = None
        self._mode: str | None = None  # "replace" or "merge"
        self._running: tuple[str, str | None] | None = None  # read with the candidate's load
        self._rib: str | None = None  # static routes (`show ip route static json`) read right after a commit

    # -- getters ------------------------------------------------------------------------
    def get_config(self, retrieve: str = "all", full: bool = False, sanitized: bool = False,
                   format: str = "text") -> dict[str, str]:
        out = {"running": "", "startup": "", "candidate": ""}
        if retrieve in ("all", "running"):
            out["running"] = join_candidate(*self._running_both())
        if retrieve in ("all", "startup"):
            _, text, _ = self._run(f"{self.vtysh} -c 'show startup-config'", check=False)
            out["startup"] = strip_header(text)
        if retrieve in ("all", "candidate"):
            out["candidate"] = self._candidate or ""
        return out

    def get_facts(self) -> dict[str, Any]:
        _, hostname, _ = self._run("hostname")
        _, version, _ = self._run(f"{self.vtysh} -c 'show version'", check=False)
        _, uptime, _ = self._run("cat /proc/uptime")
        _, links, _ = self._run("ip -j link show")
        first = version.strip().splitlines()[0] if version.strip() else ""
        return {
            "hostname": hostname.strip(), "fqdn": hostname.strip(), "vendor": "FRRouting",
            "model": "Linux", "os_version": first, "serial_number": "",
            "uptime": float(uptime.split()[0]) if uptime.strip() else -1.0,
            "interface_list": sorted(link["ifname"] for link in json.loads(links or "[]")),
        }

    def get_snapshot(self) -> dict[str, Any]:
        """netorch's one-round-trip read of everything drift detection needs: running FRR config,
        the nftables table, the RIB (as get_route_to), the interfaces (as get_interfaces), the
        kernel's addresses and admin state, which routing daemons run, and the whole ruleset."""
        running, rib = self._vty(["show running-config", "show ip route static json"])
        res = self._batch([("nft", self._list_nft()), ("links", "ip -j link show"), ("addrs", "ip -j addr show"),
                           ("daemons", self._daemons_script()), ("ruleset", f"{self.nft} list ruleset")])
        return {"frr": strip_header(running), "nft": _nft_out(res, "nft"), "routes": _route_table(rib, ""),
                "interfaces": _interfaces(res.get("links", (1, "[]"))[1], ""),
                "kernel": {name: {"addresses": list(k.addresses), "admin_up": k.admin_up}
                           for name, k in (_kernel_interfaces(res.get("addrs", (1, ""))[1]) or {}).items()},
                "daemons": _daemon_states(res.get("daemons", (1, ""))[1]),
                "ruleset": res.get("ruleset", (1, ""))[1] if res.get("ruleset", (1, ""))[0] == 0 else None}

    def _daemons_script(self) -> str:
        """Which FRR daemons run: a pid file whose process is that daemon (one line per daemon)."""
        d = shlex.quote(self.pid_dir)
        return (f"for d in {' '.join(DAEMONS)}; do p=$(cat {d}/$d.pid 2>/dev/null); "
                "if [ -n \"$p\" ] && [ \"$(cat /proc/$p/comm 2>/dev/null)\" = \"$d\" ]; then echo \"$d running\"; "
                "elif [ -e " + d + "/$d.pid ]; then echo \"$d dead\"; else echo \"$d absent\"; fi; done")

    def get_protocol_state(self) -> list[str]:
        """netorch's getter of live protocol state: the outputs of protocols.state.COMMANDS
        (OSPF neighbours, BGP sessions and table, RIB as JSON), in one vtysh round trip."""
        return self._vty(list(PROTOCOL_COMMANDS))

    def get_interfaces(self) -> dict[str, dict[str, Any]]:
        _, links, _ = self._run("ip -j link show")
        _, frr, _ = self._run(f"{self.vtysh} -c 'show interface json'", check=False)
        return _interfaces(links, frr)

    def get_interfaces_ip(self) -> dict[str, dict[str, Any]]:
        _, addrs, _ = self._run("ip -j addr show")
        out: dict[str, dict[str, Any]] = {}
        for link in json.loads(addrs or "[]"):
            for addr in link.get("addr_info", []):
                family = "ipv4" if addr.get("family") == "inet" else "ipv6"
                out.setdefault(link["ifname"], {}).setdefault(family, {})[addr["local"]] = {
                    "prefix_length": int(addr["prefixlen"])}
        return out

    def get_route_to(self, destination: str = "", protocol: str = "", longer: bool = False) -> dict[str, Any]:
        if not destination and self._rib is not None:
            # the RIB read in the same round trip as the commit (post-checks need no other)
            rib, self._rib = self._rib, None
            return _route_table(rib, protocol)
        command = "show ip route"
        if destination:
            command += f" {destination}" + (" longer-prefixes" if longer else "")
        # through the session's long-lived vtysh: starting one costs the router more than the command
        return _route_table(self._vty([command + " json"])[0], protocol)

    def ping(self, destination: str, source: str = "", ttl: int = 255, timeout: int = 2, size: int = 100,
             count: int = 5, vrf: str = "", source_interface: str = "") -> dict[str, Any]:
        args = ["ping", "-n", "-c", str(count), "-W", str(timeout), "-s", str(size), "-t", str(ttl), "-i", "0.2"]
        if source or source_interface:
            args += ["-I", source or source_interface]
        args.append(destination)
        rc, out, err = self._run(" ".join(shlex.quote(a) for a in args), check=False)
        sent = re.search(r"(\d+) packets transmitted, (\d+) (?:packets )?received", out)
        if sent is None:
            return {"error": (err or out).strip() or f"ping exited {rc}"}
        probes, received = int(sent.group(1)), int(sent.group(2))
        rtts = [float(x) for x in re.findall(r"time=([\d.]+) ms", out)]
        stats = re.search(r"= ([\d.]+)/([\d.]+)/([\d.]+)/([\d.]+) ms", out)
        mn, avg, mx, dev = (float(x) for x in stats.groups()) if stats else (0.0, 0.0, 0.0, 0.0)
        return {"success": {
            "probes_sent": probes, "packet_loss": probes - received, "rtt_min": mn, "rtt_max": mx,
            "rtt_avg": avg, "rtt_stddev": dev,
            "results": [{"ip_address": destination, "rtt": r} for r in rtts]}}

    def probe_tcp(self, destination: str, port: int, source: str = "", timeout: float = 2.0) -> str:
        """A TCP connection attempt from the router: "open", "refused" (the path works, nothing
        listens), "timeout" (filtered or no route) or "error: ..."."""
        script = (
            "import socket,sys\n"
            "s=socket.socket(); s.settimeout(float(sys.argv[4]))\n"
            "src=sys.argv[3]\n"
            "s.bind((src,0)) if src else None\n"
            "try:\n s.connect((sys.argv[1],int(sys.argv[2]))); print('open')\n"
            "except ConnectionRefusedError: print('refused')\n"
            "except (TimeoutError, socket.timeout): print('timeout')\n"
            "except OSError as e: print('error: %s' % e)\n"
        )
        args = " ".join(shlex.quote(a) for a in (destination, str(int(port)), source, str(timeout)))
        _, out, _ = self._run(f"python3 -c {shlex.quote(script)} {args}", check=False)
        return out.strip() or "error: no answer"

