"""Credentials: never in the inventory, never in logs.

Sources, first found wins for each field:
  1. the credentials file named by NETORCH_CREDENTIALS, else by the inventory data key
     `credentials_file` (a YAML mapping, mode 0600 recommended):

        default:     {username: ..., password: ..., ssh_key_file: ...}
        platforms:   {netconf: {username: ..., password: ...}}
        groups:      {<group>: {...}}
        connections: {netmiko: {username: ..., password: ...}}   # per connection type
        hosts:       {<host>: {..., connections: {netmiko: {...}}}}

     resolved per host and connection type: hosts > groups > platforms > default,
     and a `connections.<type>` entry overrides fields for that connection type only;
  2. the environment: NETORCH_USERNAME, NETORCH_PASSWORD, NETORCH_SSH_KEY.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from netorch.errors import CredentialsError

FIELDS = ("username", "password", "ssh_key_file")


@dataclass(frozen=True)
class Credentials:
    username: str | None = None
    password: str | None = None
    ssh_key_file: str | None = None

    def __repr__(self) -> str:  # never print a secret by accident
        return (f"Credentials(username={self.username!r}, password={'***' if self.password else None}, "
                f"ssh_key_file={self.ssh_key_file!r})")

    __str__ = __repr__


class CredentialStore:
    def __init__(self, data: dict[str, Any] | None = None, source: str = "environment") -> None:
        self.data = data or {}
        self.source = source

    @classmethod
    def load(cls, path: str | Path | None = None) -> CredentialStore:
        name = path or os.environ.get("NETORCH_CREDENTIALS")
        if not name:
            return cls()
        file = Path(name)
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise CredentialsError(f"cannot read credentials file {file}: {exc.strerror}") from None
        except yaml.YAMLError:
            raise CredentialsError(f"credentials file {file} is not valid YAML") from None
        if not isinstance(data, dict):
            raise CredentialsError(f"credentials file {file} must hold a mapping")
        unknown = set(data) - {"default", "platforms", "groups", "connections", "hosts"}
        if unknown:
            raise CredentialsError(f"credentials file {file}: unknown section(s) {sorted(unknown)}")
        return cls(data, str(file))

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
        merged: dict[str, Any] = {}
        env = {"username": os.environ.get("NETORCH_USERNAME"), "password": os.environ.get("NETORCH_PASSWORD"),
               "ssh_key_file": os.environ.get("NETORCH_SSH_KEY")}
        merged.update({k: v for k, v in env.items() if v})
        layers = [self._layer(self.data.get("default"), None)]
        if connection:
            layers.append(self._layer((self.data.get("connections") or {}).get(connection), None))
        layers.append(self._layer((self.data.get("platforms") or {}).get(platform), connection))
        for group in reversed(groups):
            layers.append(self._layer((self.data.get("groups") or {}).get(group), connection))
        layers.append(self._layer((self.data.get("hosts") or {}).get(host), connection))
        for layer in layers:
            merged.update(layer)
        return Credentials(**{k: (str(v) if v is not None else None) for k, v in merged.items() if k in FIELDS})

    def secrets(self) -> set[str]:
        """Every password known, so that logs and reports can be scrubbed of them."""
        found: set[str] = set()

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
