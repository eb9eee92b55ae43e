"""Platforms and what differs between them, as data.

Names follow netutils' lib_mapper where one exists (cisco_ios, arista_eos,
juniper_junos); frr and netconf are netorch's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Platform(StrEnum):
    FRR = "frr"
    NETCONF = "netconf"
    CISCO_IOS = "cisco_ios"
    ARISTA_EOS = "arista_eos"
    JUNIPER_JUNOS = "juniper_junos"


class Transport(StrEnum):
    NAPALM = "napalm"
    NETMIKO = "netmiko"
    NCCLIENT = "ncclient"


@dataclass(frozen=True)
class Artifact:
    """One rendered file of a device's desired configuration."""

    filename: str
    template: str
    kind: str  # "config" (device configuration) or "filter" (packet filter ruleset)
    #: the language it is written in: which comparer of netorch.configtree reads it by meaning
    dialect: str


@dataclass(frozen=True)
class NameLimits:
    """What a platform accepts as the name of a filter (nftables chain, ACL, firewall filter):
    at most `max_length` characters, each in `charset` (a regular expression character class).
    netorch's generated names use letters, digits, '_' and '-' only."""

    max_length: int
    charset: str = "A-Za-z0-9_-"


@dataclass(frozen=True)
class PlatformSpec:
    platform: Platform
    artifacts: tuple[Artifact, ...]
    transport: Transport
    napalm_driver: str | None
    netmiko_device_type: str | None
    stateful_filter: bool
    comment_prefix: str
    filter_names: NameLimits
    route_distance: bool = True
    vrf_routes: bool = True
    protocols: frozenset[str] = frozenset({"ospf", "bgp", "vrfs"})
    """The routing intent kinds (netorch.model.routing) netorch can configure on the platform."""
    napalm_strict_host_keys: bool = True
    """NAPALM's driver checks host keys through netmiko's own options (the core drivers); netorch's
    FRR driver checks them itself."""
    napalm_ignores_mgmt: bool = False
    cli_json_state: bool = False
    """Its CLI (a vtysh login) prints the RIB and the protocols' state as FRR's JSON."""
    """The NAPALM driver is told the management interface, which it leaves out of its getters."""

    def artifact(self, filename: str) -> Artifact | None:
        return next((a for a in self.artifacts if a.filename == filename), None)

    def dialect(self, filename: str) -> str:
        """The dialect of one of the platform's artifacts (its own file name's, when unknown)."""
        found = self.artifact(filename)
        return found.dialect if found is not None else filename.rpartition(".")[2]


PLATFORMS: dict[Platform, PlatformSpec] = {
    Platform.FRR: PlatformSpec(
        Platform.FRR,
        (
            Artifact("frr.conf", "frr/frr.conf.j2", "config", "frr"),
            Artifact("nftables.nft", "frr/nftables.nft.j2", "filter", "nft"),
        ),
        Transport.NAPALM,
        "netorch_frr",
        "cisco_ios",
        stateful_filter=True,
        comment_prefix="!",
        # nftables: NFT_NAME_MAXLEN is 256 bytes with the terminating NUL (Linux >= 4.14)
        filter_names=NameLimits(255),
        napalm_strict_host_keys=False,
        napalm_ignores_mgmt=True,
        cli_json_state=True,
    ),
    Platform.NETCONF: PlatformSpec(
        Platform.NETCONF,
        (Artifact("config.xml", "netconf/config.xml.j2", "config", "xml"),),
        Transport.NCCLIENT,
        None,
        None,
        stateful_filter=False,
        comment_prefix="",
        filter_names=NameLimits(80),  # netorch-policy.yang: leaf name { length "1..80" }
        route_distance=False,
        vrf_routes=False,
        protocols=frozenset(),  # netorch's NETCONF models hold static routes only
    ),
    Platform.CISCO_IOS: PlatformSpec(
        Platform.CISCO_IOS,
        (Artifact("config.txt", "cisco_ios/config.j2", "config", "hconfig"),),
        Transport.NAPALM,
        "ios",
        "cisco_ios",
        stateful_filter=False,
        comment_prefix="!",
        filter_names=NameLimits(64),  # named ACLs; 64 is the conservative bound across IOS trains
    ),
    Platform.ARISTA_EOS: PlatformSpec(
        Platform.ARISTA_EOS,
        (Artifact("config.txt", "arista_eos/config.j2", "config", "hconfig"),),
        Transport.NAPALM,
        "eos",
        "arista_eos",
        stateful_filter=False,
        comment_prefix="!",
        filter_names=NameLimits(64),  # ACL names, kept to the same conservative bound
    ),
    Platform.JUNIPER_JUNOS: PlatformSpec(
        Platform.JUNIPER_JUNOS,
        (Artifact("config.conf", "juniper_junos/config.j2", "config", "hconfig"),),
        Transport.NAPALM,
        "junos",
        "juniper_junos",
        stateful_filter=False,
        comment_prefix="#",
        filter_names=NameLimits(64),  # firewall filter names: up to 64 characters
    ),
}


def platform_name(name: object) -> object:
    """A platform as an inventory names it, in netorch's names (netutils' lib_mapper): NAPALM's
    (ios, eos, junos) and netmiko's (cisco_ios, ...) driver names are mapped; anything else is
    returned as it is, for validation to refuse with the names that exist."""
    if not isinstance(name, str) or name in PLATFORMS_BY_NAME:
        return name
    from netutils.lib_mapper import NAPALM_LIB_MAPPER, NETMIKO_LIB_MAPPER

    mapped = NAPALM_LIB_MAPPER.get(name) or NETMIKO_LIB_MAPPER.get(name)
    return mapped if mapped in PLATFORMS_BY_NAME else name


def spec(platform: Platform | str) -> PlatformSpec:
    return PLATFORMS[Platform(platform)]


PLATFORMS_BY_NAME = frozenset(p.value for p in Platform)


@dataclass(frozen=True)
class TransportSpec:
    """What differs between transports, as data (their code: netorch.transport.registry)."""

    transport: Transport
    #: the name of its Nornir connection plugin
    connection: str
    #: its sessions can send a ping or a TCP probe from the device (drift's service probes)
    probes: bool
    #: the dialect its remediation is written in, where it is not the artifact's own (a CLI
    #: session edits an FRR config line by line, as hier_config computes it)
    remediation: str | None = None


TRANSPORTS: dict[Transport, TransportSpec] = {
    Transport.NAPALM: TransportSpec(Transport.NAPALM, "napalm", probes=True),
    Transport.NETMIKO: TransportSpec(Transport.NETMIKO, "netorch_netmiko", probes=False, remediation="hconfig"),
    Transport.NCCLIENT: TransportSpec(Transport.NCCLIENT, "netorch_ncclient", probes=False),
}


def transport_spec(transport: Transport | str) -> TransportSpec:
    return TRANSPORTS[Transport(transport)]
