"""The device session interface that every transport implements.

A session wraps one open connection to one device (taken from a Nornir host's
connection cache) and offers the transactional steps the engine needs. Every
method raises a netorch TransportError subclass (DeviceUnreachable, DeviceRejected,
TransportError) with a clear message on failure; never a library exception.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from netorch.configtree.frr import KernelInterface
from netorch.model.desired import DesiredRoute, DesiredState
from netorch.platforms import Transport
from netorch.protocols.state import ProtocolCheck


@dataclass(frozen=True)
class DeviceJob:
    """Everything a worker needs to act on one device: serialisable, no live objects."""

    host: str
    platform: str
    transport: Transport
    artifacts: dict[str, str]
    desired: DesiredState
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class InterfaceState:
    name: str
    is_up: bool
    is_enabled: bool


@dataclass(frozen=True)
class Snapshot:
    """Live configuration (per artifact) and live state of one device."""

    config: dict[str, str]
    routes: list[RouteCheck] | None
    interfaces: dict[str, InterfaceState] | None
    #: where the transport sees the kernel: addresses and admin state per interface
    kernel: dict[str, KernelInterface] | None = None
    #: where it sees them: routing daemons -> running
    daemons: dict[str, bool] | None = None
    #: where it sees it: the whole packet filter ruleset (`nft list ruleset`)
    ruleset: str | None = None


@dataclass(frozen=True)
class RouteCheck:
    """The live state of one intended route."""

    route: DesiredRoute
    present: bool
    active: bool
    detail: str = ""


class DeviceSession(ABC):
    """Transactional operations on one device. Implementations: napalm, netmiko, ncclient."""

    #: True when the device itself reverts an unconfirmed commit (confirmed commit);
    #: False when netorch emulates it by rolling back from the controller.
    native_confirm: bool = True
    #: the Nornir connection plugin name this session uses (host.get_connection(name, config))
    connection_name: ClassVar[str] = ""
    #: True when commit() itself reads the result back and fails unless the device says what the
    #: candidate says; otherwise the engine reads it back in the verify phase
    checks_commit: ClassVar[bool] = False

    def __init__(self, host: str, connection: Any, job: DeviceJob) -> None:
        self.host = host
        self.connection = connection
        self.job = job

    @abstractmethod
    def load(self) -> None:
        """Load the job's artifacts as the candidate (replace, or merge where the transport only merges).
        Raises DeviceRejected when the device refuses them; the device is left unchanged."""

    @abstractmethod
    def diff(self) -> str:
        """The difference between the live configuration and the candidate; '' when none."""

    @abstractmethod
    def commit(self, revert_in: int | None = None) -> None:
        """Make the candidate live. With revert_in, a confirmed commit that reverts after revert_in
        seconds unless confirm() comes first. On failure the device is restored, then it raises."""

    @abstractmethod
    def confirm(self) -> None:
        """Confirm a pending confirmed commit: one atomic step on the device that also tells
        whether its revert timer had already fired (then ConfirmExpired: the device reverted)."""

    def extend(self, revert_in: int) -> bool:
        """Re-arm a pending confirmed commit's timer to revert_in seconds from now: True when
        re-armed, False when the timer had already fired (the device reverted)."""
        return not self.native_confirm

    def before(self) -> dict[str, str]:
        """The live configuration (per artifact) read at load(): the state rollback restores."""
        return {}

    def journal_data(self) -> dict[str, Any]:
        """What a recovery needs to finish this device's transaction from another process
        (plain data, no secrets): e.g. the confirmed commit's persist id, the restore point."""
        return {}

    def recover(self, data: dict[str, Any]) -> str:
        """Finish an interrupted transaction from its journal data: bring the device back to
        the configuration it had before that run. Returns what was done, in words."""
        raise NotImplementedError

    @abstractmethod
    def rollback(self) -> None:
        """Restore the configuration the device had before the last commit."""

    @abstractmethod
    def discard(self) -> None:
        """Drop the candidate; the device keeps its live configuration."""

    @abstractmethod
    def live_config(self) -> dict[str, str]:
        """The live configuration of what netorch manages, per artifact filename."""

    def check_routes(self) -> list[RouteCheck]:
        """Where the transport can read the RIB: the live state of every intended route."""
        return []

    def protocol_checks(self) -> list[ProtocolCheck]:
        """Where the transport can read protocol state: every intended OSPF adjacency, BGP session
        and protocol route (netorch.protocols.state), judged against the job's desired state."""
        return []

    def interfaces(self) -> dict[str, InterfaceState] | None:
        """Live interface state, where the transport can read it; None otherwise."""
        return None

    def rib(self) -> dict[str, list[dict[str, Any]]] | None:
        """The whole IPv4 RIB of the default VRF where the transport can read it, in NAPALM's
        get_route_to shape (prefix -> entries with protocol, current_active, next_hop,
        outgoing_interface, selected_next_hop: installed in the FIB, preference); None otherwise."""
        return None

    def reach(self, destination: str, protocol: str = "icmp", port: int | None = None,
              source: str | None = None) -> bool | None:
        """Whether the network carries traffic from the device to destination (a ping, or a TCP
        connection that is accepted or refused: a refusal still came back); None when unsupported."""
        return None

    def snapshot(self) -> Snapshot:
        """Live config and state in as few round trips as the transport allows."""
        return Snapshot(self.live_config(), self.check_routes() or None, self.interfaces())
