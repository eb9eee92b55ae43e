"""The driver's getters: NAPALM's (config, facts, interfaces and their addresses, routes, ping)
and netorch's own (one-round-trip snapshot for drift detection, live protocol state, a TCP
probe from the router), read through channel and, where the output needs it, parsed by parse."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from napalm.base.helpers import sanitize_configs

from netorch.protocols.state import COMMANDS as PROTOCOL_COMMANDS
from netorch.transport.napalm_frr.channel import nft_out, strip_header
from netorch.transport.napalm_frr.confirm import ConfirmMixin, join_candidate
from netorch.transport.napalm_frr.getters_parse import SECRETS
from netorch.transport.napalm_frr.parse import (
    DAEMONS,
    daemon_states,
    kernel_interfaces,
    link_interfaces,
    parse_route_table,
)


class GettersMixin(ConfirmMixin):
    """What the device says: its configuration, state, routes, reachability."""

    pid_dir: str  # where FRR's daemons write their pid files

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
        if sanitized:
            # the secrets FRR's configuration can hold (passwords, keys, communities) as <removed>
            return dict(sanitize_configs(out, SECRETS))
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
        return {"frr": strip_header(running), "nft": nft_out(res, "nft"), "routes": parse_route_table(rib, ""),
                "interfaces": link_interfaces(res.get("links", (1, "[]"))[1], ""),
                "kernel": {name: {"addresses": list(k.addresses), "admin_up": k.admin_up}
                           for name, k in (kernel_interfaces(res.get("addrs", (1, ""))[1]) or {}).items()},
                "daemons": daemon_states(res.get("daemons", (1, ""))[1]),
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
        return link_interfaces(links, frr)

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
            return parse_route_table(rib, protocol)
        command = "show ip route"
        if destination:
            command += f" {destination}" + (" longer-prefixes" if longer else "")
        # through the session's long-lived vtysh: starting one costs the router more than the command
        return parse_route_table(self._vty([command + " json"])[0], protocol)

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
