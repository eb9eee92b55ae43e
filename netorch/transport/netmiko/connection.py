"""Connections to netmiko devices, their host keys checked against known_hosts before any
credential is sent: open_netmiko (ConnectHandler with netorch's SSH client), connect
(outside Nornir: tools and tests), NetmikoConnection and register (the Nornir connection
plugin "netorch_netmiko"), and UNREACHABLE (what counts as a device out of reach).
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

import paramiko
from netmiko.exceptions import NetmikoBaseException

from netorch.errors import DeviceUnreachable
from netorch.transport.hostkeys import KnownHosts, verifying_client
from netorch.transport.netmiko.output import describe_error, scrub_secret

#: the Nornir connection plugin this module registers (nornir_netmiko's "netmiko" + host key checking)
CONNECTION_NAME = "netorch_netmiko"

#: what counts as "the device cannot be reached/talked to" during a session
UNREACHABLE = (NetmikoBaseException, paramiko.SSHException, socket.timeout, OSError, EOFError)


def open_netmiko(args: dict[str, Any], known: KnownHosts) -> Any:
    """ConnectHandler(**args), its SSH client checking the host key against `known` (before any
    credential is sent: HostKeyRejected) instead of netmiko's AutoAddPolicy / RejectPolicy."""
    from netmiko import ConnectHandler

    conn = ConnectHandler(**{**args, "auto_connect": False})
    conn._build_ssh_client = lambda: verifying_client(known)  # type: ignore[method-assign]
    try:
        conn._open()
    except BaseException:
        with contextlib.suppress(Exception):
            conn.disconnect()  # closes the SSH client, drops netmiko's log filter
        raise
    return conn


def connect(host: str, hostname: str, username: str, password: str | None = None, *, port: int = 22,
            device_type: str = "cisco_ios", timeout: float = 30, key_file: str | None = None,
            known_hosts: str | None = None, accept_new_host_keys: bool = False, **extras: Any) -> Any:
    """Open a netmiko connection (outside Nornir: tests, tools); connect/auth/timeout
    failures raise DeviceUnreachable naming host, address and user, never the password.
    The host key is checked against known_hosts (default ~/.ssh/known_hosts): HostKeyRejected."""
    args: dict[str, Any] = {"device_type": device_type, "host": hostname, "port": port, "username": username,
                            "fast_cli": True, "conn_timeout": timeout, "auth_timeout": timeout,
                            "banner_timeout": timeout, "session_log": None}
    if password:
        args.update(password=password, use_keys=False, allow_agent=False)
    elif key_file:
        args.update(use_keys=True, key_file=key_file, allow_agent=False)
    args.update(extras)
    try:
        return open_netmiko(args, KnownHosts.of(known_hosts, accept_new_host_keys, host))
    except UNREACHABLE as exc:
        raise DeviceUnreachable(host, scrub_secret("cannot connect over netmiko: "
                                + describe_error(exc, f"for {username}@{hostname}:{port}"), password)) from None


class NetmikoConnection:
    """Nornir connection plugin "netorch_netmiko": nornir_netmiko's, with host key checking.

    extras: what ConnectHandler takes, plus known_hosts (default ~/.ssh/known_hosts),
    accept_new_host_keys (trust on first use) and netorch_host (the device's name in messages)."""

    def __init__(self) -> None:
        self.connection: Any = None

    def open(self, hostname: str | None, username: str | None, password: str | None, port: int | None,
             platform: str | None, extras: dict[str, Any] | None = None, configuration: Any = None) -> None:
        opts = dict(extras or {})
        known = KnownHosts.of(opts.pop("known_hosts", None), bool(opts.pop("accept_new_host_keys", False)),
                              str(opts.pop("netorch_host", None) or hostname or ""))
        args: dict[str, Any] = {"host": hostname, "username": username, "password": password, "port": port}
        if platform is not None:
            args["device_type"] = platform
        self.connection = open_netmiko({**args, **opts}, known)

    def close(self) -> None:
        conn, self.connection = self.connection, None
        if conn is not None:
            conn.disconnect()
