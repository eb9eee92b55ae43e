"""Each lab router and NETCONF device gets its own SSH host key; the lab writes a
known_hosts for them, so netorch talks to the lab with host key checking on."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

HOST_KEY = "ssh_host_ed25519_key"


def new_host_key(path: Path, comment: str) -> str:
    """Write a fresh ed25519 host key (private 0600, `.pub` 0644); returns the public key line."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption())
    public = key.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private)
    line = f"{public} {comment}"
    Path(f"{path}.pub").write_text(line + "\n", encoding="utf-8")
    return line


def known_hosts_line(address: str, port: int, public: str) -> str:
    """A plain known_hosts entry (`addr` on port 22, `[addr]:port` elsewhere, like OpenSSH)."""
    name = address if port == 22 else f"[{address}]:{port}"
    return f"{name} {public}"
