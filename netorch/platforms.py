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


PLATFORMS: dict[Platform, PlatformSpec] = {
    Platform.FRR: PlatformSpec(
        Platform.FRR,
        (
            Artifact("frr.conf", "frr/frr.conf.j2", "config"),
            Artifact("nftables.nft", "frr/nftables.nft.j2", "filter"),
        ),
        Transport.NAPALM,
        "netorch_frr",
        "cisco_ios",
        stateful_filter=True,
        comment_prefix="!",
        # nftables: NFT_NAME_MAXLEN is 256 bytes with the terminating NUL (Linux >= 4.14)
        filter_names=NameLimits(255),
    ),
    Platform.NETCONF: PlatformSpec(
        Platform.NETCONF,
        (Artifact("config.xml", "netconf/config.xml.j2", "config"),),
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
        (Artifact("config.txt", "cisco_ios/config.j2", "config"),),
        Transport.NAPALM,
        "ios",
        "cisco_ios",
        stateful_filter=False,
        comment_prefix="!",
        filter_names=NameLimits(64),  # named ACLs; 64 is the conservative bound across IOS trains
    ),
    Platform.ARISTA_EOS: PlatformSpec(
        Platform.ARISTA_EOS,
        (Artifact("config.txt", "arista_eos/config.j2", "config"),),
        Transport.NAPALM,
        "eos",
        "arista_eos",
        stateful_filter=False,
        comment_prefix="!",
        filter_names=NameLimits(64),  # ACL names, kept to the same conservative bound
    ),
    Platform.JUNIPER_JUNOS: PlatformSpec(
        Platform.JUNIPER_JUNOS,
        (Artifact("config.conf", "juniper_junos/config.j2", "config"),),
        Transport.NAPALM,
        "junos",
        "juniper_junos",
        stateful_filter=False,
        comment_prefix="#",
        filter_names=NameLimits(64),  # firewall filter names: up to 64 characters
    ),
}


def spec(platform: Platform) -> PlatformSpec:
    return PLATFORMS[platform]
