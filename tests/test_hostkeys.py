"""SSH host keys are verified before any credential leaves the controller, on every transport.

A paramiko SSH server on 127.0.0.1 with a fresh host key records every authentication
attempt: connecting with a known_hosts that does not have its key (unknown) or has another
key for it (changed) must be refused and the server must never see a password."""

from __future__ import annotations

import contextlib
import socket
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paramiko
import pytest
from napalm.base.exceptions import ConnectAuthError

from netorch.credentials import accept_new_host_keys, set_accept_new_host_keys
from netorch.errors import CredentialsError, DeviceUnreachable, HostKeyRejected
from netorch.transport.hostkeys import KnownHosts, fingerprint, lookup_name
from netorch.transport.napalm_frr.driver import FrrDriver
from netorch.transport.netconf import connection as nc
from netorch.transport.netmiko import connection as nm

PASSWORD = "never-send-me-42"


class Recorder(paramiko.ServerInterface):  # type: ignore[misc]
    """Refuses every login, remembering what each attempt carried."""

    def __init__(self, log: list[tuple[str, str]]) -> None:
        self.log = log

    def get_allowed_auths(self, username: str) -> str:
        return "password,publickey"

    def check_auth_none(self, username: str) -> int:
        self.log.append(("none", username))
        return paramiko.AUTH_FAILED

    def check_auth_password(self, username: str, password: str) -> int:
        self.log.append(("password", password))
        return paramiko.AUTH_FAILED

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        self.log.append(("publickey", key.get_name()))
        return paramiko.AUTH_FAILED


class SshServer:
    """An SSH server in a thread: host key `key`, every auth attempt in `auth`."""

    def __init__(self, key: paramiko.PKey, port: int = 0) -> None:
        self.key = key
        self.auth: list[tuple[str, str]] = []
        self.sock = socket.create_server(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]
        self.transports: list[paramiko.Transport] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            t = paramiko.Transport(conn)
            t.add_server_key(self.key)
            self.transports.append(t)
            try:
                t.start_server(server=Recorder(self.auth))
            except (paramiko.SSHException, EOFError, OSError):
                continue

    @property
    def name(self) -> str:
        return lookup_name("127.0.0.1", self.port)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() up: the port is free again
        self.sock.close()
        self.thread.join(5)
        for t in self.transports:
            t.close()


@pytest.fixture
def server() -> Iterator[SshServer]:
    s = SshServer(paramiko.ECDSAKey.generate())
    yield s
    s.close()


def entry(name: str, key: paramiko.PKey) -> str:
    return f"{name} {key.get_name()} {key.get_base64()}\n"


def ed25519() -> paramiko.PKey:
    from io import StringIO

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    pem = Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption())
    return paramiko.Ed25519Key(file_obj=StringIO(pem.decode()))


# each transport's connect, as netorch calls it: (port, known_hosts, accept_new) -> None or raises
def via_napalm_frr(port: int, known: Path, accept_new: bool) -> None:
    drv = FrrDriver("127.0.0.1", "root", PASSWORD, optional_args={
        "port": port, "timeout": 5, "known_hosts": str(known), "accept_new_host_keys": accept_new,
        "netorch_host": "r1"})
    try:
        drv.open()
    finally:
        drv.close()


def via_netmiko(port: int, known: Path, accept_new: bool) -> None:
    nm.connect("r1", "127.0.0.1", "vtyadmin", PASSWORD, port=port, timeout=5, known_hosts=str(known),
               accept_new_host_keys=accept_new).disconnect()


def via_ncclient(port: int, known: Path, accept_new: bool) -> None:
    nc.connect("127.0.0.1", port, "ncadmin", PASSWORD, known_hosts=str(known), accept_new_host_keys=accept_new,
               device="r1", timeout=5).close_session()


TRANSPORTS: dict[str, Callable[[int, Path, bool], None]] = {
    "napalm_frr": via_napalm_frr, "netmiko": via_netmiko, "ncclient": via_ncclient}
transports = pytest.mark.parametrize("connect", list(TRANSPORTS.values()), ids=list(TRANSPORTS))


def refused(connect: Callable[[int, Path, bool], None], server: SshServer, known: Path,
            accept_new: bool = False) -> HostKeyRejected:
    with pytest.raises(HostKeyRejected) as info:
        connect(server.port, known, accept_new)
    assert server.auth == [], "a credential was sent before the host key was verified"
    assert "Traceback" not in str(info.value) and PASSWORD not in str(info.value)
    return info.value


def reaches_authentication(connect: Callable[[int, Path, bool], None], server: SshServer, known: Path,
                           accept_new: bool) -> None:
    """The key is accepted: the password goes out, and the server refuses it."""
    with pytest.raises((DeviceUnreachable, ConnectAuthError)) as info:
        connect(server.port, known, accept_new)
    assert not isinstance(info.value, HostKeyRejected)
    assert "authentication failed" in str(info.value)
    assert ("password", PASSWORD) in server.auth


@transports
def test_a_known_key_gets_to_authentication(connect: Callable[[int, Path, bool], None], server: SshServer,
                                            tmp_path: Path) -> None:
    """The control: with the right key in known_hosts the password does reach the server."""
    known = tmp_path / "known_hosts"
    known.write_text(entry(server.name, server.key))
    reaches_authentication(connect, server, known, False)


@transports
def test_an_unknown_key_is_refused_before_any_credential(connect: Callable[[int, Path, bool], None],
                                                         server: SshServer, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    other = paramiko.ECDSAKey.generate()
    # entries for other hosts, and for this address on port 22 (not the port it listens on)
    known.write_text(entry("127.0.0.2", other) + entry("127.0.0.1", server.key))
    exc = refused(connect, server, known)
    text = str(exc)
    assert exc.host == "r1"
    assert "unknown SSH host key" in text and server.name in text
    assert "ecdsa-sha2-nistp256" in text and fingerprint(server.key) in text
    assert str(known) in text and "--accept-new-host-keys" in text and "ssh-keyscan" in text
    assert known.read_text() == entry("127.0.0.2", other) + entry("127.0.0.1", server.key)  # untouched


@transports
def test_a_missing_known_hosts_file_refuses_too(connect: Callable[[int, Path, bool], None],
                                               server: SshServer, tmp_path: Path) -> None:
    exc = refused(connect, server, tmp_path / "nope" / "known_hosts")
    assert "there is no known_hosts file" in str(exc)
    assert not (tmp_path / "nope").exists()


@transports
def test_an_unreadable_known_hosts_refuses(connect: Callable[[int, Path, bool], None], server: SshServer,
                                           tmp_path: Path) -> None:
    exc = refused(connect, server, tmp_path, accept_new=True)  # a directory
    assert "cannot read known_hosts file" in str(exc) and exc.host == "r1"


@transports
def test_a_changed_key_is_refused_even_with_accept_new(connect: Callable[[int, Path, bool], None],
                                                       server: SshServer, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    old = paramiko.ECDSAKey.generate()
    known.write_text(entry(server.name, old))
    for accept_new in (False, True):
        exc = refused(connect, server, known, accept_new)
        text = str(exc)
        assert "host key for r1" in text and "changed" in text and "possible impostor" in text
        assert fingerprint(server.key) in text and fingerprint(old) in text and "ssh-keygen -R" in text
    assert known.read_text() == entry(server.name, old)


@transports
def test_a_key_of_another_type_is_a_changed_key(connect: Callable[[int, Path, bool], None],
                                                server: SshServer, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(entry(server.name, ed25519()))
    exc = refused(connect, server, known, accept_new=True)
    assert "changed" in str(exc) and "possible impostor" in str(exc)


@transports
def test_accept_new_records_the_key_then_refuses_another(connect: Callable[[int, Path, bool], None],
                                                         server: SshServer, tmp_path: Path) -> None:
    known = tmp_path / "ssh" / "known_hosts"  # neither the dir nor the file exists yet
    reaches_authentication(connect, server, known, True)
    assert stat.S_IMODE(known.stat().st_mode) == 0o600
    line = known.read_text()
    assert line.startswith("|1|") and line.count("\n") == 1  # hashed, like OpenSSH's HashKnownHosts
    assert KnownHosts.of(known).keys_for(server.name) == {server.key.get_name(): server.key}
    # the same address now presents another key: refused, whatever accept-new says
    server.close()
    impostor = SshServer(paramiko.ECDSAKey.generate(), server.port)
    try:
        exc = refused(connect, impostor, known, accept_new=True)
        assert "changed" in str(exc)
    finally:
        impostor.close()
    assert known.read_text() == line


def test_default_known_hosts_and_lookup_names(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert KnownHosts.of(None).path == tmp_path / ".ssh" / "known_hosts"
    assert lookup_name("198.18.0.11", 22) == "198.18.0.11" and lookup_name("198.18.0.21", 830) == "[198.18.0.21]:830"


def test_accept_new_switches(monkeypatch: pytest.MonkeyPatch) -> None:
    from netorch.cli import main
    from netorch.daemon.config import DaemonConfig

    monkeypatch.delenv("NETORCH_ACCEPT_NEW_HOST_KEYS", raising=False)
    assert accept_new_host_keys() is False
    monkeypatch.setenv("NETORCH_ACCEPT_NEW_HOST_KEYS", "1")
    assert accept_new_host_keys() is True
    monkeypatch.setenv("NETORCH_ACCEPT_NEW_HOST_KEYS", "maybe")
    with pytest.raises(CredentialsError, match="NETORCH_ACCEPT_NEW_HOST_KEYS"):
        accept_new_host_keys()
    monkeypatch.setenv("NETORCH_ACCEPT_NEW_HOST_KEYS", "0")
    try:
        assert main(["--accept-new-host-keys", "version"]) == 0
        assert accept_new_host_keys() is True
    finally:
        set_accept_new_host_keys(False)
    assert accept_new_host_keys() is False
    assert DaemonConfig.model_validate({"accept_new_host_keys": True}).accept_new_host_keys
    assert not DaemonConfig().accept_new_host_keys


def _inventory(tmp_path: Path, port: int, data: dict[str, Any]) -> Path:
    import yaml

    inv = tmp_path / "inventory"
    inv.mkdir()
    hosts = {
        "r1": {"hostname": "127.0.0.1", "port": port, "platform": "frr"},
        "r3": {"hostname": "127.0.0.1", "port": port, "platform": "frr", "data": {"transport": "netmiko"}},
        "nc1": {"hostname": "127.0.0.1", "port": port, "platform": "netconf"},
    }
    (inv / "hosts.yaml").write_text(yaml.safe_dump(hosts))
    (inv / "defaults.yaml").write_text(yaml.safe_dump({"data": data}))
    return inv


@pytest.mark.parametrize("where", ["credentials", "inventory"])
def test_the_engine_reports_a_refused_host_key_per_device(server: SshServer, tmp_path: Path, where: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the engine: the known_hosts named by the credentials file (or the inventory) is used,
    every device is reported unreachable with the reason, and no password reaches the server."""
    from netorch.run.drift import DriftChecker
    from netorch.run.engine import Engine
    from netorch.service import Workspace

    monkeypatch.delenv("NETORCH_CREDENTIALS", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # ~/.ssh/known_hosts: none
    known = tmp_path / "known_hosts"
    known.write_text(entry(server.name, paramiko.ECDSAKey.generate()))  # a changed key
    creds = tmp_path / "credentials.yaml"
    creds.write_text(f"default: {{username: admin, password: {PASSWORD}}}\n"
                     + ("known_hosts: known_hosts\n" if where == "credentials" else ""))  # relative to the file
    creds.chmod(0o600)
    data = {"known_hosts": "../known_hosts"} if where == "inventory" else {}
    intents = tmp_path / "intents"
    intents.mkdir()
    (intents / "routes.yaml").write_text("routes: []\n")
    ws = Workspace(_inventory(tmp_path, server.port, data), intents,
                   Path(__file__).parents[1] / "netorch" / "templates")
    assert ws.validate().ok, ws.validate().problems
    engine = Engine(ws, None, credentials=str(creds), timeout=5)
    report = engine.plan()
    drift = DriftChecker(engine).check()
    assert report.exit_code == 1 and drift.exit_code == 1
    for devices in (report.devices, drift.devices):
        assert {d.host: d.status for d in devices} == {"r1": "unreachable", "r3": "unreachable",
                                                       "nc1": "unreachable"}
        for d in devices:
            assert f"host key for {d.host}" in d.error and "possible impostor" in d.error, d.error
            assert "Traceback" not in d.error and PASSWORD not in d.error
    assert server.auth == []
