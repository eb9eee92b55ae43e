"""Credentials: never in the inventory, never in logs.

Sources, first found wins for each field:
  1. a credentials file (a YAML mapping, mode 0600: a file that group or others can read
     or write is refused, like ssh refuses such a private key):

        known_hosts: ~/.ssh/known_hosts                          # optional, see below
        default:     {username: ..., password: ..., ssh_key_file: ...}
        platforms:   {netconf: {username: ..., password: ...}}
        groups:      {<group>: {...}}
        connections: {netmiko: {username: ..., password: ...}}   # per connection type
        hosts:       {<host>: {..., connections: {netmiko: {...}}}}

     resolved per host and connection type: hosts > groups > platforms > default,
     and a `connections.<type>` entry overrides fields for that connection type only.
     Which file serves a host: the file named by --credentials / NETORCH_CREDENTIALS
     (the daemon's `credentials:`) when one is given, for every host; otherwise the
     host's own inventory data key `credentials_file` (each host its own file);
  2. the environment: NETORCH_USERNAME, NETORCH_PASSWORD, NETORCH_SSH_KEY.

`known_hosts` (top level, or in any section, resolved like the other fields; relative to
the credentials file's directory) names the OpenSSH known_hosts file that the hosts this
file serves are verified against, unless the inventory's `data.known_hosts` names one.
Trust on first use (accept unknown host keys and record them) is off unless
--accept-new-host-keys, NETORCH_ACCEPT_NEW_HOST_KEYS=1 or the daemon's
`accept_new_host_keys: true` turns it on.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netorch.errors import CredentialsError

FIELDS = ("username", "password", "ssh_key_file", "known_hosts")
SECTIONS = frozenset({"default", "platforms", "groups", "connections", "hosts", "known_hosts"})
ACCEPT_NEW_ENV = "NETORCH_ACCEPT_NEW_HOST_KEYS"
_TRUE, _FALSE = frozenset({"1", "true", "yes", "on"}), frozenset({"", "0", "false", "no", "off"})
_accept_new: dict[str, bool] = {"on": False}  # set for the whole process


def set_accept_new_host_keys(on: bool) -> None:
    """Trust on first use for this process (the CLI's --accept-new-host-keys, the daemon's
    `accept_new_host_keys`): unknown host keys are accepted and appended to known_hosts."""
    _accept_new["on"] = on


def accept_new_host_keys() -> bool:
    """Whether unknown SSH host keys are accepted (and recorded); changed keys never are."""
    if _accept_new["on"]:
        return True
    value = os.environ.get(ACCEPT_NEW_ENV, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise CredentialsError(f"{ACCEPT_NEW_ENV}={os.environ[ACCEPT_NEW_ENV]!r}: give 1 (accept new host keys) or 0")


@dataclass(frozen=True)
class Credentials:
    username: str | None = None
    password: str | None = None
    ssh_key_file: str | None = None
    known_hosts: str | None = None

    def __repr__(self) -> str:  # never print a secret by accident
        return (f"Credentials(username={self.username!r}, password={'***' if self.password else None}, "
                f"ssh_key_file={self.ssh_key_file!r}, known_hosts={self.known_hosts!r})")

    __str__ = __repr__


def check_private(file: Path) -> None:
    """Refuse a credentials file that group or others can read or write (like ssh with keys)."""
    try:
        mode = file.stat().st_mode
    except OSError as exc:
        raise CredentialsError(f"cannot read credentials file {file}: {exc.strerror}") from None
    if not stat.S_ISREG(mode):
        raise CredentialsError(f"credentials file {file} is not a regular file")
    if mode & 0o077:
        raise CredentialsError(
            f"credentials file {file} is accessible by group or others (mode {stat.S_IMODE(mode):04o}): "
            f"refused, it holds passwords. Fix: chmod 600 {file}")


class CredentialStore:
    """One credentials file (or none: the environment), or, from per_host(), one file per host.

    resolve() and secrets() are what the transports and the scrubbing use either way."""

    def __init__(self, data: dict[str, Any] | None = None, source: str = "environment",
                 hosts: Mapping[str, CredentialStore] | None = None, file: Path | None = None) -> None:
        self.data = data or {}
        self.source = source
        self.file = file  # the credentials file, when the store is one
        self._hosts = dict(hosts or {})

    @classmethod
    def load(cls, path: str | Path | None = None) -> CredentialStore:
        name = path or os.environ.get("NETORCH_CREDENTIALS")
        if not name:
            return cls()
        file = Path(name).expanduser()
        check_private(file)
        from netorch.errors import YamlSyntaxError
        from netorch.yamlsrc import load_file

        try:
            # bounded like every input (aliases, depth, size; never a FIFO or a device)
            data, problems = load_file(file)
        except YamlSyntaxError as exc:
            where = f" (line {exc.problem.line})" if exc.problem.line else ""
            what = exc.problem.message if exc.problem.code in ("io", "limit") else "not valid YAML"
            raise CredentialsError(f"credentials file {file}: {what}{where}") from None
        if problems:
            raise CredentialsError(f"credentials file {file}: line {problems[0].line}: {problems[0].message}")
        data = data or {}
        if not isinstance(data, dict):
            raise CredentialsError(f"credentials file {file} must hold a mapping")
        unknown = set(data) - SECTIONS
        if unknown:
            raise CredentialsError(f"credentials file {file}: unknown section(s) {sorted(unknown)}")
        if not isinstance(data.get("known_hosts", ""), str):
            raise CredentialsError(f"credentials file {file}: known_hosts must be a file path")
        return cls(data, str(file), file=file)

    @classmethod
    def per_host(cls, files: Mapping[str, str | None]) -> CredentialStore:
        """Each host served by its own file (hosts mapped to None: the environment only);
        a file named by several hosts is read once."""
        loaded: dict[str, CredentialStore] = {}
        hosts: dict[str, CredentialStore] = {}
        for host, name in files.items():
            if name:
                key = str(Path(name).expanduser())
                if key not in loaded:
                    loaded[key] = cls.load(key)
                hosts[host] = loaded[key]
        return cls(None, ", ".join(sorted(loaded)) or "environment", hosts)

    def for_host(self, host: str) -> CredentialStore:
        """The store that serves this host."""
        return self._hosts.get(host, self)

    def _layer(self, entry: Any, connection: str | None) -> dict[str, Any]:
        if not isinstance(entry, dict):
            return {}
        out = {k: entry[k] for k in FIELDS if entry.get(k) is not None}
        if connection:
            conn = (entry.get("connections") or {}).get(connection)
            if isinstance(conn, dict):
                out.update({k: conn[k] for k in FIELDS if conn.get(k) is not None})
        return out

    def resolve(self, host: str, platform: str, groups: tuple[str, ...] = (),
                connection: str | None = None) -> Credentials:
        own = self._hosts.get(host)
        if own is not None:
            return own.resolve(host, platform, groups, connection)
        merged: dict[str, Any] = {}
        env = {"username": os.environ.get("NETORCH_USERNAME"), "password": os.environ.get("NETORCH_PASSWORD"),
               "ssh_key_file": os.environ.get("NETORCH_SSH_KEY")}
        merged.update({k: v for k, v in env.items() if v})
        if self.data.get("known_hosts"):
            merged["known_hosts"] = self.data["known_hosts"]
        layers = [self._layer(self.data.get("default"), None)]
        if connection:
            layers.append(self._layer((self.data.get("connections") or {}).get(connection), None))
        layers.append(self._layer((self.data.get("platforms") or {}).get(platform), connection))
        for group in reversed(groups):
            layers.append(self._layer((self.data.get("groups") or {}).get(group), connection))
        layers.append(self._layer((self.data.get("hosts") or {}).get(host), connection))
        for layer in layers:
            merged.update(layer)
        if merged.get("known_hosts") and self.file is not None:  # relative to the credentials file
            merged["known_hosts"] = str(self.file.parent / Path(str(merged["known_hosts"])).expanduser())
        return Credentials(**{k: (str(v) if v is not None else None) for k, v in merged.items() if k in FIELDS})

    def secrets(self) -> set[str]:
        """Every password known (in every file in use), so that logs and reports can be scrubbed of them."""
        found: set[str] = set()
        for store in {id(s): s for s in self._hosts.values()}.values():
            found |= store.secrets()

        def walk(value: Any) -> None:
            if isinstance(value, dict):
                for key, sub in value.items():
                    if key == "password" and isinstance(sub, str | int) and str(sub):
                        found.add(str(sub))
                    else:
                        walk(sub)

        walk(self.data)
        if os.environ.get("NETORCH_PASSWORD"):
            found.add(os.environ["NETORCH_PASSWORD"])
        return found


def scrub(text: str, secrets: set[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 3:
            text = text.replace(secret, "***")
    return text
