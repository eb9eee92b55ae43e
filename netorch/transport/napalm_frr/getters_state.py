"""The driver's NAPALM getters of a router's state and of what is configured beside FRR: BGP
(neighbours, their details, the configuration), the neighbour tables, interface counters,
network instances, environment, users, NTP, SNMP, LLDP, and traceroute. Each reads in one
round trip (a long-lived vtysh batch or one shell batch; network instances take one of each)
and leaves the parsing to bgp_parse and getters_parse."""

from __future__ import annotations

import shlex
from typing import Any

from netorch.transport.napalm_frr.bgp_parse import bgp_config, bgp_neighbors, bgp_neighbors_detail
from netorch.transport.napalm_frr.channel import ChannelMixin
from netorch.transport.napalm_frr.getters_parse import (
    environment,
    interface_counters,
    lldp_neighbors,
    lldp_neighbors_detail,
    neighbors,
    network_instances,
    ntp_servers,
    snmp_information,
    traceroute_result,
    users,
)

BGP_COMMANDS = ["show bgp vrf all summary json", "show bgp vrf all neighbors json"]

#: per CPU busy and total jiffies twice, 0.3 s apart; memory; thermal zones with their alert
#: (passive or hot) and critical trip points; hwmon fans
ENVIRONMENT = r"""echo @@stat1; grep '^cpu' /proc/stat; sleep 0.3; echo @@stat2; grep '^cpu' /proc/stat
echo @@mem; cat /proc/meminfo
echo @@temp
for z in /sys/class/thermal/thermal_zone*; do
  [ -r "$z/temp" ] || continue
  alert=-; crit=-
  for t in "$z"/trip_point_*_type; do
    [ -r "$t" ] || continue
    case "$(cat "$t")" in
      critical) crit=$(cat "${t%_type}_temp") ;;
      hot|passive) [ "$alert" = - ] && alert=$(cat "${t%_type}_temp") ;;
    esac
  done
  echo "$(cat "$z/type" 2>/dev/null || basename "$z")_$(basename "$z") $(cat "$z/temp") $alert $crit"
done
echo @@fans
for f in /sys/class/hwmon/hwmon*/fan*_input; do
  [ -r "$f" ] && echo "$(basename "$(dirname "$f")")_$(basename "$f" _input) $(cat "$f")"
done
true"""

#: accounts, groups, and each login account's authorized keys
USERS = r"""echo @@passwd; cat /etc/passwd
echo @@group; cat /etc/group
while IFS=: read -r name _ _ _ _ home shell; do
  case "$shell" in *nologin|*false|*sync|*shutdown|*halt|'') continue ;; esac
  echo "@@keys $name"; cat "$home/.ssh/authorized_keys" 2>/dev/null
done < /etc/passwd
true"""

NTP_FILES = ("/etc/chrony/chrony.conf", "/etc/chrony.conf", "/etc/chrony/sources.d/*.sources", "/etc/ntp.conf",
             "/etc/ntpsec/ntp.conf", "/etc/systemd/timesyncd.conf", "/etc/systemd/timesyncd.conf.d/*.conf")
SNMP_FILES = ("/etc/snmp/snmpd.conf", "/etc/snmp/snmpd.conf.d/*.conf")

#: traceroute without a traceroute binary (a router seldom has one): UDP probes with a growing
#: TTL; the kernel queues the ICMP answers on the socket's error queue (IP_RECVERR), so no raw
#: socket, no root. Prints `hop probe address rtt_ms` per probe; stops at the destination, after
#: 5 silent hops in a row, or when its time budget is spent.
TRACEROUTE = r"""
import select, socket, struct, sys, time
dst, src, max_ttl, wait, budget = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
try:
    fam, _, _, _, addr = socket.getaddrinfo(dst, 33434, 0, socket.SOCK_DGRAM)[0]
except OSError as e:
    print('error: %s' % e); sys.exit()
v6 = fam == socket.AF_INET6
level, recverr, hops_opt = (41, 25, 16) if v6 else (0, 11, 2)
start, silent, port = time.monotonic(), 0, 33434
for hop in range(1, max_ttl + 1):
    socks = []
    for probe in (1, 2, 3):
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.setsockopt(level, recverr, 1)
        s.setsockopt(level, hops_opt, hop)
        if src:
            s.bind((src, 0))
        port = port + 1 if port < 65000 else 33434
        s.sendto(b'netorch', (addr[0], port) + tuple(addr[2:]))
        socks.append((probe, s, time.monotonic()))
    answers, reached = {}, False
    deadline = time.monotonic() + wait
    while len(answers) < len(socks) and time.monotonic() < deadline:
        ready, _, _ = select.select([s for p, s, t in socks if p not in answers], [], [], deadline - time.monotonic())
        for probe, s, sent in socks:
            if s not in ready:
                continue
            try:
                _, anc, _, _ = s.recvmsg(512, 512, 0x2000)
            except OSError:
                continue
            for lvl, typ, data in anc:
                if (lvl, typ) != (level, recverr) or len(data) < 16:
                    continue
                _, origin, itype, _ = struct.unpack('=IBBB', data[:7])
                offender = data[16:]
                who = socket.inet_ntop(fam, offender[8:24] if v6 else offender[4:8])
                answers[probe] = (who, (time.monotonic() - sent) * 1000)
                reached = reached or (origin in (2, 3) and itype != (3 if v6 else 11))
    for probe, s, sent in socks:
        who, rtt = answers.get(probe, ('*', 0.0))
        print(hop, probe, who, '%.3f' % rtt)
        s.close()
    silent = 0 if answers else silent + 1
    if reached or silent >= 5 or time.monotonic() - start > budget:
        break
"""


class StateGettersMixin(ChannelMixin):
    """NAPALM's getters of BGP, neighbours, counters, instances, environment, users, NTP, SNMP,
    LLDP, and traceroute."""

    def get_bgp_neighbors(self) -> dict[str, Any]:
        summary, detail = self._vty(BGP_COMMANDS)
        return bgp_neighbors(summary, detail)

    def get_bgp_neighbors_detail(self, neighbor_address: str = "") -> dict[str, Any]:
        summary, detail = self._vty(BGP_COMMANDS)
        return bgp_neighbors_detail(detail, summary, neighbor_address)

    def get_bgp_config(self, group: str = "", neighbor: str = "") -> dict[str, Any]:
        return bgp_config(self._vty(["show running-config"])[0], group, neighbor)

    def _step(self, name: str, command: str) -> str:
        """One shell step's output ("" when it failed)."""
        rc, out = self._batch([(name, command)]).get(name, (1, ""))
        return out if rc == 0 else ""

    def get_arp_table(self, vrf: str = "") -> list[dict[str, Any]]:
        where = f" vrf {shlex.quote(vrf)}" if vrf and vrf not in ("default", "global") else ""
        return neighbors(self._step("neigh", f"ip -j -s -4 neigh show{where}"))

    def get_ipv6_neighbors_table(self) -> list[dict[str, Any]]:
        return neighbors(self._step("neigh", "ip -j -s -6 neigh show"), ipv6=True)

    def get_interfaces_counters(self) -> dict[str, dict[str, int]]:
        return interface_counters(self._step("links", "ip -j -s link show"))

    def get_network_instances(self, name: str = "") -> dict[str, dict[str, Any]]:
        running = self._vty(["show running-config"])[0]
        return network_instances(self._step("links", "ip -j -d link show"), running, name)

    def get_environment(self) -> dict[str, Any]:
        return environment(self._step("env", ENVIRONMENT))

    def get_users(self) -> dict[str, dict[str, Any]]:
        return users(self._step("users", USERS))

    def _cat(self, patterns: tuple[str, ...]) -> str:
        # the globs are the shell's; an absent file is no error
        return self._batch([("cat", f"cat {' '.join(patterns)} 2>/dev/null; true")]).get("cat", (1, ""))[1]

    def get_ntp_servers(self) -> dict[str, dict[str, Any]]:
        return ntp_servers(self._cat(NTP_FILES))

    def get_snmp_information(self) -> dict[str, Any]:
        return snmp_information(self._cat(SNMP_FILES))

    def _lldp(self) -> str:
        """lldpd's neighbours, or nothing when lldpd is not installed or not running."""
        return self._step("lldp", "lldpcli -f json0 show neighbors details 2>/dev/null")

    def get_lldp_neighbors(self) -> dict[str, list[dict[str, str]]]:
        return lldp_neighbors(self._lldp())

    def get_lldp_neighbors_detail(self, interface: str = "") -> dict[str, list[dict[str, Any]]]:
        return lldp_neighbors_detail(self._lldp(), interface)

    def traceroute(self, destination: str, source: str = "", ttl: int = 255, timeout: int = 2,
                   vrf: str = "") -> dict[str, Any]:
        # the probe's time budget stays inside the session's timeout, so the answer arrives
        budget = max(1.0, self.timeout - 2.0 * timeout - 5.0)
        args = " ".join(shlex.quote(a) for a in (destination, source, str(int(ttl)), str(timeout), str(budget)))
        command = f"python3 -c {shlex.quote(TRACEROUTE)} {args}"
        if vrf and vrf not in ("default", "global"):
            command = f"ip vrf exec {shlex.quote(vrf)} {command}"
        _, out, err = self._run(command, check=False)
        return traceroute_result(out + ("" if out.strip() else err))
