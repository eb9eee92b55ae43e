"""NETCONF failures as netorch reads them: the rpc-errors of an ncclient RPCError
(``rpc_errors``, ``RpcErrorDetail``), ``RpcFailed`` (an RPC that got an rpc-error), and the
short, secret-free message of a failed connection (``connect_error``).
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from typing import Any

from lxml import etree

from netorch.configtree.xml import parse_xml
from netorch.errors import TransportError

_RPC_PATH_PREFIX = re.compile(r"^/nc:rpc/nc:[\w-]+/nc:(config|source|target)")


# ------------------------------------------------------------------------------ rpc errors


def _get(obj: Any, name: str) -> Any:
    try:
        return getattr(obj, name)
    except AttributeError:  # ncclient's multi-error RPCError has no tag/path/info
        return None


def _info_fields(info: Any) -> dict[str, str]:
    if not info:
        return {}
    try:
        root = parse_xml(str(info))
    except ValueError:
        return {}
    return {etree.QName(e).localname: (e.text or "").strip() for e in root.iter() if isinstance(e.tag, str)}


@dataclass(frozen=True)
class RpcErrorDetail:
    tag: str
    message: str
    path: str
    bad_value: str
    session_id: str

    def __str__(self) -> str:
        text = self.message or self.tag or "rpc-error"
        if self.path:
            text += f" at {self.path}"
        if self.bad_value and self.bad_value not in self.path:
            text += f" (bad value {self.bad_value!r})"
        return text


def rpc_errors(exc: Any) -> list[RpcErrorDetail]:
    """The rpc-errors an ncclient RPCError carries (one or several)."""
    out = []
    for err in _get(exc, "errlist") or [exc]:
        info = _info_fields(_get(err, "info"))
        path = (_get(err, "path") or "").strip()
        path = _RPC_PATH_PREFIX.sub("", path) or path
        out.append(RpcErrorDetail(tag=(_get(err, "tag") or "").strip(), message=(_get(err, "message") or "").strip(),
                                  path=path, bad_value=info.get("bad-value", ""),
                                  session_id=info.get("session-id", "")))
    return out


class RpcFailed(TransportError):
    """An RPC got an rpc-error reply (internal: the session turns it into a clearer error)."""

    def __init__(self, host: str, op: str, errors: list[RpcErrorDetail]) -> None:
        self.op = op
        self.errors = errors
        super().__init__(host, f"{op}: " + "; ".join(str(e) for e in errors))

    @property
    def text(self) -> str:
        return "; ".join(str(e) for e in self.errors)

    @property
    def tags(self) -> set[str]:
        return {e.tag for e in self.errors}


# ------------------------------------------------------------------------------ connection errors


def connect_error(exc: BaseException, username: str | None) -> str:
    from ncclient.transport.errors import (
        AuthenticationError,
        SessionCloseError,
        SSHError,
        SSHUnknownHostError,
    )
    from ncclient.transport.errors import TransportError as NcTransportError

    if isinstance(exc, AuthenticationError):
        return f"authentication failed for user {username!r}"
    if isinstance(exc, SSHUnknownHostError):
        return "the device's SSH host key is not in known_hosts"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out (unreachable or not answering)"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (no NETCONF server on this port)"
    if isinstance(exc, SessionCloseError):
        return "the SSH server closed the session before the NETCONF hello (is the netconf subsystem enabled?)"
    if isinstance(exc, (SSHError, NcTransportError)):
        return f"SSH/NETCONF session failed: {exc}"
    if isinstance(exc, OSError):
        return f"cannot connect: {exc.strerror or exc}"
    return f"{type(exc).__name__}: {exc}"
