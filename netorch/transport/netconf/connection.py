"""NETCONF-over-SSH connections: ``connect`` (an ncclient Manager, host key checked before any
credential is sent), the Nornir connection plugin ``NcclientConnection`` and its ``register``.

ncclient's reader thread sends queued requests only between its 100 ms polls, so every RPC
costs about 100 ms. ``install_direct_send`` writes requests straight to the SSH channel (about
1 ms per RPC against netconfd); ``fast_send: false`` in the connection extras turns it off.

A request that reaches netconfd (yuma123 2.13) right behind the client's hello is sometimes
never answered (about 1 in 30 sessions when sent at once; the next request is answered):
``synchronise`` probes the session before the first real request.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any

from netorch.defaults import CONNECT_TIMEOUT
from netorch.errors import DeviceUnreachable, HostKeyRejected
from netorch.transport.netconf.errors import connect_error

CONNECTION_NAME = "netorch_ncclient"
DEFAULT_PORT = 830
DEFAULT_TIMEOUT = CONNECT_TIMEOUT


def install_direct_send(session: Any) -> bool:
    """Make an ncclient session write each message (the hello included) straight to the SSH
    channel, in the caller's thread, instead of queueing it for its reader thread, which looks
    at the queue only every 100 ms (ncclient.transport.session.TICK). Replies still come
    through the reader thread. Install it before session.connect(), so that every message, the
    hello included, is written in program order. Returns False, changing nothing, when the
    session is not an ncclient session of the expected shape."""
    from ncclient.transport.errors import TransportError as NcTransportError
    from ncclient.transport.session import END_DELIM, MSG_DELIM, NetconfBase

    if not hasattr(session, "_channel") or not hasattr(session, "_base") or not hasattr(session, "send"):
        return False
    write_lock = threading.Lock()

    def send(message: str) -> None:
        data = message.encode("utf-8")
        with write_lock:
            if session._base == NetconfBase.BASE_11:
                data = b"\n#%d\n" % len(data) + data + END_DELIM
            else:
                data += MSG_DELIM
            channel = session._channel
            if channel is None or not session.connected:
                raise NcTransportError("Not connected to NETCONF server")
            channel.sendall(data)

    session.send = send
    return True


def connect(host: str, port: int | None = None, username: str | None = None, password: str | None = None,
            *, key_filename: str | None = None, known_hosts: str | None = None, accept_new_host_keys: bool = False,
            device: str = "", timeout: float = DEFAULT_TIMEOUT, fast_send: bool = True) -> Any:
    """An ncclient Manager for a NETCONF-over-SSH device; DeviceUnreachable (with a short,
    secret-free message) when it cannot be reached or refuses the login. The host key is
    checked against known_hosts (default ~/.ssh/known_hosts; entries `[host]:port`) before
    any credential is sent: HostKeyRejected (see netorch.transport.hostkeys)."""
    from ncclient.manager import Manager, make_device_handler
    from ncclient.transport import SSHSession

    from netorch.transport.hostkeys import KnownHosts, lookup_name, prepare_ncclient

    port = int(port or DEFAULT_PORT)
    where = f"NETCONF over SSH to port {port}"
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise DeviceUnreachable(host, f"{where}: {connect_error(exc, username)}") from None
    handler = make_device_handler({"name": "default"})
    session = SSHSession(handler)  # what ncclient.manager.connect does, with direct send installed first
    if fast_send:
        install_direct_send(session)
    known = KnownHosts.of(known_hosts, accept_new_host_keys, device or host)
    unknown_host = prepare_ncclient(session, known, host, port)
    try:
        session.connect(host=host, port=port, sock=sock, username=username, password=password or None,
                        key_filename=key_filename, hostkey_verify=True, unknown_host_cb=unknown_host,
                        allow_agent=False, look_for_keys=False, timeout=timeout)
    except Exception as exc:  # every library failure becomes one clear error
        with contextlib.suppress(Exception):
            if session.transport:
                session.close()
        with contextlib.suppress(OSError):
            sock.close()
        if isinstance(exc, HostKeyRejected):
            raise HostKeyRejected(exc.host, f"{where}: {exc.message}") from None
        if "no acceptable host key" in str(exc) and known.keys_for(lookup_name(host, port)):
            # ncclient offers only the key types known_hosts has for the device
            rejected = known.no_known_type(lookup_name(host, port))
            raise HostKeyRejected(rejected.host, f"{where}: {rejected.message}") from None
        raise DeviceUnreachable(host, f"{where}: {connect_error(exc, username)}") from None
    mgr = Manager(session, handler, timeout=timeout)
    if fast_send:
        try:
            synchronise(mgr, timeout)
        except DeviceUnreachable as exc:
            with contextlib.suppress(Exception):
                session.close()
            raise DeviceUnreachable(host, f"{where}: {exc.message}") from None
    return mgr


#: a get-config filter that selects nothing on any device
SYNC_FILTER = '<netorch-sync xmlns="urn:netorch:params:xml:ns:sync"/>'


def synchronise(mgr: Any, timeout: float, attempts: tuple[float, ...] = (0.5, 1.0, 2.0)) -> int:
    """Send a get-config that selects nothing until one is answered; returns the attempts made.

    netconfd (yuma123 2.13) sometimes never answers a request that reaches it together with the
    client's hello (about 1 first request in 30 with direct send; the next request is answered).
    Stock ncclient hides this by its 100 ms send delay; with direct send, this probe (1 ms when
    answered) makes the session safe before the first real request. Any reply counts, an
    rpc-error too."""
    from ncclient.operations import RPCError, TimeoutExpiredError

    waits = (*attempts, float(timeout))
    saved = mgr.timeout
    try:
        for count, wait in enumerate(waits, 1):
            mgr.timeout = wait
            try:
                mgr.get_config(source="running", filter=[SYNC_FILTER])
                return count
            except RPCError:
                return count
            except TimeoutExpiredError:
                continue
            except Exception as exc:
                raise DeviceUnreachable("", f"the NETCONF session failed: {exc}") from None
    finally:
        mgr.timeout = saved
    raise DeviceUnreachable("", f"no reply to a first get-config within {sum(waits):.1f} s")


class NcclientConnection:
    """Nornir connection plugin "netorch_ncclient": `connection` is an ncclient Manager.

    extras: key_filename (SSH private key), timeout (connect and RPC timeout, seconds, default 30),
    known_hosts (the known_hosts file the host key is checked against, default ~/.ssh/known_hosts),
    accept_new_host_keys (trust on first use), netorch_host (the device's name in messages),
    fast_send (default True, see install_direct_send). The port defaults to 830."""

    def __init__(self) -> None:
        self.connection: Any = None

    def open(self, hostname: str | None, username: str | None, password: str | None, port: int | None,
             platform: str | None, extras: dict[str, Any] | None = None, configuration: Any = None) -> None:
        opts = dict(extras or {})
        self.connection = connect(
            hostname or "", port or DEFAULT_PORT, username, password,
            key_filename=opts.get("key_filename"), known_hosts=opts.get("known_hosts"),
            accept_new_host_keys=bool(opts.get("accept_new_host_keys", False)),
            device=str(opts.get("netorch_host") or ""), timeout=float(opts.get("timeout", DEFAULT_TIMEOUT)),
            fast_send=bool(opts.get("fast_send", True)))

    def close(self) -> None:
        conn, self.connection = self.connection, None
        if conn is not None and getattr(conn, "connected", False):
            with contextlib.suppress(Exception):  # closing a dead session must not fail
                conn.close_session()
