"""The transport seam's register: the only place a transport's code is named.

Each transport (netorch.platforms.Transport) has a DeviceSession class, and may bring a
Nornir connection plugin of its own (netmiko and ncclient sessions do; NAPALM's is
nornir_napalm's). The facts about transports (connection name, probes, remediation
dialect) are data in netorch.platforms.TRANSPORTS; this module maps them to code, loaded
the first time a transport is used.
"""

from __future__ import annotations

from typing import Any

from netorch.platforms import TRANSPORTS, Transport
from netorch.register import Register
from netorch.transport.base import DeviceSession

SESSIONS: Register[type[DeviceSession]] = Register("transport session")
CONNECTIONS: Register[type[Any]] = Register("Nornir connection plugin")

SESSIONS.register(Transport.NAPALM.value, "netorch.transport.napalm_session:NapalmSession")
SESSIONS.register(Transport.NETMIKO.value, "netorch.transport.netmiko.session:NetmikoSession")
SESSIONS.register(Transport.NCCLIENT.value, "netorch.transport.netconf.session:NcclientSession")
CONNECTIONS.register(TRANSPORTS[Transport.NETMIKO].connection,
                     "netorch.transport.netmiko.connection:NetmikoConnection")
CONNECTIONS.register(TRANSPORTS[Transport.NCCLIENT].connection,
                     "netorch.transport.netconf.connection:NcclientConnection")


def session_class(transport: Transport | str) -> type[DeviceSession]:
    return SESSIONS.get(Transport(transport).value)


def connect_plugins() -> None:
    """Register netorch's connection plugins with Nornir (idempotent)."""
    from nornir.core.plugins.connections import ConnectionPluginRegister

    for name in CONNECTIONS:
        plugin = CONNECTIONS.get(name)
        if ConnectionPluginRegister.available.get(name) is not plugin:
            ConnectionPluginRegister.register(name, plugin)
