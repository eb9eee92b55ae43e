"""The comparer seam's register: one Dialect per language an artifact is written in.

netorch.platforms names each artifact's dialect (frr, nft, xml, hconfig); this register maps
a dialect to the code that compares a live configuration with the desired one by meaning,
writes the remediation, and says what else the dialect knows (the lines it leaves
unmanaged, whether it is the packet filter whose foreign tables may interfere). A transport
may remediate in another dialect than the artifact's own (netorch.platforms.TRANSPORTS).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from netorch.configtree.base import Difference
from netorch.configtree.frr import KernelInterface
from netorch.platforms import spec
from netorch.register import Register

#: compare(platform, live, desired, ignore_interfaces, kernel) -> differences by meaning
CompareFn = Callable[[str, str, str, tuple[str, ...], "dict[str, KernelInterface] | None"], list[Difference]]
#: remediation(platform, live, desired, differences found) -> the lines that bring live to desired
RemediationFn = Callable[[str, str, str, list[Difference]], list[str]]
#: unmanaged(live, desired, ignore_interfaces) -> live lines netorch does not manage
UnmanagedFn = Callable[[str, str, tuple[str, ...]], list[str]]


@dataclass(frozen=True)
class Dialect:
    name: str
    compare: CompareFn
    remediation: RemediationFn
    #: the first line of a remediation written in this dialect ('' none)
    header: str = ""
    unmanaged: UnmanagedFn | None = None
    #: the host's packet filter: other tables of the same ruleset can interfere with it
    packet_filter: bool = False
    #: how its static route lines start (their absence is no drift while staticd is down)
    static_route_prefix: str | None = None

    def remediation_text(self, lines: list[str]) -> str:
        return (self.header + "\n" if self.header else "") + "\n".join(lines)


def _frr_compare(platform: str, live: str, desired: str, ignore: tuple[str, ...],
                 kernel: dict[str, KernelInterface] | None) -> list[Difference]:
    from netorch.configtree.frr import diff_frr

    return diff_frr(live, desired, ignore, kernel)


def _frr_remediation(platform: str, live: str, desired: str, found: list[Difference]) -> list[str]:
    from netorch.configtree.frr import frr_remediation

    return frr_remediation(found)


def _frr_unmanaged(live: str, desired: str, ignore: tuple[str, ...]) -> list[str]:
    from netorch.configtree.frr import unmanaged_frr

    return unmanaged_frr(live, desired, ignore)


def _nft_compare(platform: str, live: str, desired: str, ignore: tuple[str, ...],
                 kernel: dict[str, KernelInterface] | None) -> list[Difference]:
    from netorch.configtree.nft import diff_nft

    return diff_nft(live or None, desired)


def _whole(platform: str, live: str, desired: str, found: list[Difference]) -> list[str]:
    """The desired artifact whole: it replaces what netorch owns in one step."""
    return [desired.rstrip()]


def _xml_compare(platform: str, live: str, desired: str, ignore: tuple[str, ...],
                 kernel: dict[str, KernelInterface] | None) -> list[Difference]:
    from netorch.configtree.xml import diff_xml

    return diff_xml(live, desired)


def _hconfig_compare(platform: str, live: str, desired: str, ignore: tuple[str, ...],
                     kernel: dict[str, KernelInterface] | None) -> list[Difference]:
    from netorch.configtree.hconfig import structured_diff

    return [Difference("missing" if kind == "missing" else "unexpected", tuple(path.split(" > ")))
            for kind, path in structured_diff(live, desired, platform)]


def _hconfig_remediation(platform: str, live: str, desired: str, found: list[Difference]) -> list[str]:
    from netorch.configtree.hconfig import remediation

    return remediation(live, desired, platform)


DIALECTS: Register[Dialect] = Register("configuration dialect")
DIALECTS.register("frr", Dialect("frr", _frr_compare, _frr_remediation, header="! vtysh: configure terminal",
                                 unmanaged=_frr_unmanaged, static_route_prefix="ip route "))
DIALECTS.register("nft", Dialect("nft", _nft_compare, _whole,
                                 header="# nft -f (replaces table inet netorch atomically)", packet_filter=True))
DIALECTS.register("xml", Dialect("xml", _xml_compare, _whole, header="<!-- edit-config on candidate, then commit -->"))
DIALECTS.register("hconfig", Dialect("hconfig", _hconfig_compare, _hconfig_remediation))


def dialect(name: str) -> Dialect:
    return DIALECTS.get(name)


def packet_filter_artifact(platform: str) -> str | None:
    """The artifact that is the platform's packet filter ruleset (FRR: nftables.nft), if any."""
    return next((a.filename for a in spec(platform).artifacts if dialect(a.dialect).packet_filter), None)
