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

This module owns FrrDriver and its constructor (the optional arguments above); what it does
comes from its mixins: getters (GettersMixin: config, facts, interfaces, routes, ping, netorch's
snapshot), getters_state (StateGettersMixin: BGP, neighbour tables, counters, instances,
environment, users, NTP, SNMP, LLDP, traceroute), confirm (ConfirmMixin: the candidate and its
commit), channel (ChannelMixin: the SSH side); parse, bgp_parse and getters_parse hold the pure
parsing. NAPALM finds the driver through the community module napalm_netorch_frr that the netorch distribution installs
(`napalm.get_network_driver("netorch_frr")`, without importing netorch first).
"""

from __future__ import annotations

import re
from typing import Any

import paramiko
from napalm.base import NetworkDriver

from netorch.configtree.base import Difference
from netorch.configtree.frr import KernelInterface
from netorch.transport.hostkeys import KnownHosts
from netorch.transport.napalm_frr.channel import ChannelMixin
from netorch.transport.napalm_frr.confirm import ConfirmMixin
from netorch.transport.napalm_frr.getters import GettersMixin
from netorch.transport.napalm_frr.getters_state import StateGettersMixin


class FrrDriver(GettersMixin, StateGettersMixin, ConfirmMixin, ChannelMixin, NetworkDriver):  # type: ignore[misc]
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

