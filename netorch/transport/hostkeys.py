"""SSH host keys: every transport checks the device's host key against an OpenSSH
known_hosts file before it sends any credential.

- known key: the connection goes on;
- unknown host (no entry under its lookup name, `host` on port 22, `[host]:port` elsewhere):
  refused with the key type, its SHA256 fingerprint and the fix, unless trust on first use
  is on (OpenSSH's StrictHostKeyChecking=accept-new): then the key is appended to the file
  (hashed, like Debian's HashKnownHosts; the file is created 0600 if missing);
- changed key (an entry exists, of another key or another key type): always refused.

paramiko checks the host key in SSHClient.connect() right after the key exchange and
before authentication, and so does ncclient's SSHSession.connect(): a refusal there means
no password and no key signature ever left the controller. `verifying_client` is the
SSHClient the FRR NAPALM driver and netmiko use; `prepare_ncclient` sets an ncclient
session up the same way (only the chosen file, only the exact lookup name).
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko

from netorch.errors import HostKeyRejected

DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"
_lock = threading.Lock()
_cache: dict[str, tuple[tuple[int, int], paramiko.HostKeys]] = {}


def lookup_name(hostname: str, port: int | None) -> str:
    """The name a known_hosts entry has for this address (OpenSSH's convention)."""
    return hostname if port in (None, 22) else f"[{hostname}]:{port}"


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's fingerprint: SHA256:<base64, no padding>."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")


def _load(path: Path) -> paramiko.HostKeys:
    """The file's keys, parsed once per version of the file (200 devices share one file); OSError."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return paramiko.HostKeys()
    version = (st.st_mtime_ns, st.st_size)
    with _lock:
        cached = _cache.get(str(path))
        if cached is not None and cached[0] == version:
            return cached[1]
    keys = paramiko.HostKeys()
    keys.load(str(path))
    with _lock:
        _cache[str(path)] = (version, keys)
    return keys


@dataclass(frozen=True)
class KnownHosts:
    """The known_hosts file one device is checked against, and whether new keys are accepted."""

    path: Path
    accept_new: bool = False
    device: str = ""  # netorch's name of the device, for messages

    @classmethod
    def of(cls, path: str | os.PathLike[str] | None, accept_new: bool = False, device: str = "") -> KnownHosts:
        return cls(Path(os.path.expanduser(path or DEFAULT_KNOWN_HOSTS)), bool(accept_new), device)

    def keys_for(self, name: str) -> dict[str, paramiko.PKey]:
        """Known keys (by key type) recorded for this lookup name; hashed entries included."""
        try:
            found = _load(self.path).lookup(name)
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not a text file"
            raise HostKeyRejected(self.device or name, f"cannot read known_hosts file {self.path}: {reason}; "
                                  "refused before sending any credential") from None
        return dict(found) if found else {}

    def check(self, name: str, key: paramiko.PKey) -> None:
        """Accept a known key; refuse a changed one; an unknown one: see missing()."""
        known = self.keys_for(name)
        if not known:
            self.missing(name, key)
        elif known.get(key.get_name()) != key:
            raise self.changed(name, key, next(iter(known.values())))

    def missing(self, name: str, key: paramiko.PKey) -> None:
        """No entry for this name: record the key (trust on first use) or refuse it."""
        if not self.accept_new:
            raise self.unknown(name, key)
        self._append(name, key)

    def _append(self, name: str, key: paramiko.PKey) -> None:
        with _lock:
            _cache.pop(str(self.path), None)
            if not self.path.parent.exists():
                self.path.parent.mkdir(mode=0o700, parents=True)
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "r+", encoding="utf-8") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)  # other netorch processes append too
                text = fh.read()
                keys = paramiko.HostKeys()
                keys.load(str(self.path))  # someone may have added it meanwhile
                known = dict(keys.lookup(name) or {})
                if known:
                    if known.get(key.get_name()) != key:
                        raise self.changed(name, key, next(iter(known.values())))
                    return
                sep = "\n" if text and not text.endswith("\n") else ""
                fh.write(f"{sep}{paramiko.HostKeys.hash_host(name)} {key.get_name()} {key.get_base64()}\n")
            _cache.pop(str(self.path), None)

    def _where(self, name: str) -> str:
        return f"{self.device} ({name})" if self.device and self.device != name else name

    def unknown(self, name: str, key: paramiko.PKey) -> HostKeyRejected:
        host, _, port = name.removeprefix("[").partition("]:")
        scan = f"ssh-keyscan -t {key.get_name()}{f' -p {port}' if port else ''} {host}"
        where = "is not in" if self.path.exists() else "cannot be checked: there is no"
        return HostKeyRejected(self.device or name, (
            f"unknown SSH host key for {self._where(name)}: {key.get_name()} {fingerprint(key)} {where} "
            f"known_hosts file {self.path}; refused before sending any credential. Fix: check this fingerprint "
            f"on the device, then add its key to {self.path} (`{scan} >> {self.path}`), or point the inventory's "
            f"data.known_hosts (or the credentials file's known_hosts) at a file that has it; or, on a network "
            f"you trust, accept it on first use with --accept-new-host-keys (NETORCH_ACCEPT_NEW_HOST_KEYS=1)"))

    def changed(self, name: str, key: paramiko.PKey, known: paramiko.PKey) -> HostKeyRejected:
        return HostKeyRejected(self.device or name, (
            f"host key for {self._where(name)} changed: it presents {key.get_name()} {fingerprint(key)}, "
            f"{self.path} has {known.get_name()} {fingerprint(known)}: possible impostor (man-in-the-middle); "
            f"refused before sending any credential (trust on first use never accepts a changed key). "
            f"If the device was really given a new key, check the new fingerprint on the device, then remove "
            f"the old entry: ssh-keygen -R '{name}' -f {self.path}"))


    def no_known_type(self, name: str) -> HostKeyRejected:
        """The device offered none of the key types recorded for it (key negotiation failed)."""
        types = ", ".join(sorted(self.keys_for(name)))
        return HostKeyRejected(self.device or name, (
            f"host key for {self._where(name)} changed: it offers none of the key types {self.path} has for it "
            f"({types}): possible impostor (man-in-the-middle); refused before sending any credential. If the "
            f"device was really given new keys, check them on the device, then remove the old entry: "
            f"ssh-keygen -R '{name}' -f {self.path}"))


class _Policy(paramiko.MissingHostKeyPolicy):  # type: ignore[misc]
    def __init__(self, known: KnownHosts) -> None:
        self.known = known

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        try:
            self.known.missing(hostname, key)
        except HostKeyRejected:
            client.close()
            raise


class VerifyingSSHClient(paramiko.SSHClient):  # type: ignore[misc]
    """An SSHClient that knows only the entries of one known_hosts file for the address it
    connects to: paramiko then negotiates a known key type, rejects a changed key itself
    (turned into HostKeyRejected) and asks the policy (KnownHosts.missing) about an unknown one."""

    def __init__(self, known: KnownHosts) -> None:
        super().__init__()
        self.known = known

    def connect(self, hostname: str, port: int = 22, *args: Any, **kwargs: Any) -> None:
        name = lookup_name(hostname, port)
        keys = self.get_host_keys()
        keys.clear()
        for keytype, key in self.known.keys_for(name).items():
            keys.add(name, keytype, key)
        self.set_missing_host_key_policy(_Policy(self.known))
        try:
            super().connect(hostname, port, *args, **kwargs)
        except paramiko.BadHostKeyException as exc:
            self.close()
            raise self.known.changed(name, exc.key, exc.expected_key) from None


def verifying_client(known: KnownHosts) -> paramiko.SSHClient:
    return VerifyingSSHClient(known)


def prepare_ncclient(session: Any, known: KnownHosts, hostname: str, port: int) -> Any:
    """Make an ncclient SSHSession (before its connect()) check the host key against `known`
    only; returns the unknown_host_cb to pass to connect() together with hostkey_verify=True.

    ncclient loads ~/.ssh/known_hosts itself and accepts an entry for the bare host on any
    port: here its key table holds just the entries under the exact lookup name, and every
    other case goes through KnownHosts.check (changed: refused; unknown: accept-new or refused)."""
    name = lookup_name(hostname, port)
    table = paramiko.HostKeys()
    for keytype, key in known.keys_for(name).items():
        table.add(name, keytype, key)
    session._host_keys = table
    session.load_known_hosts = lambda filename=None: None  # no other file is consulted

    def unknown_host(host: str, fingerprint: str) -> bool:
        key = session._transport.get_remote_server_key()
        known.check(name, key)  # raises HostKeyRejected, or records a new key (accept-new)
        return True

    return unknown_host
