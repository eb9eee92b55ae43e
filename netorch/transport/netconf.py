"""NETCONF transport: ncclient sessions to devices that implement ietf-interfaces, ietf-ip and
ietf-routing (RFC 8022) static routes, plus netorch's own netorch-policy module.

What netorch owns on such a device, and nothing else (``Ownership``):

* each ietf-interfaces ``interface`` entry that appears in the desired ``config.xml``;
* the ietf-routing ``control-plane-protocol`` entry of type ``static`` named ``netorch``
  (every static route netorch pushes lives in it);
* the whole ``netorch-policy`` container, when the device implements that module.

``load`` edits the candidate with ``operation="replace"`` on each of those subtrees, so each
ends up exactly as desired, while other interfaces, other control-plane protocols and other
modules stay untouched. Comparisons (``diff``, drift) are made between canonical XML texts
(``canonical_xml``): namespaces, list order and whitespace do not count.

The RPC sequence of one transaction (plan: the first four, then discard-changes + unlock):

    lock(candidate) -> discard-changes -> get-config(running, filtered) -> edit-config(candidate)
    -> commit [confirmed, confirm-timeout, persist] -> unlock(candidate)

No separate ``<validate>``: netconfd (yuma123) silently drops the candidate edits when a
validate precedes the commit, and commit validates anyway.

netconfd quirks this module works around (yuma123 2.13, found on the netorch lab):

* a dirty candidate cannot be locked ("discard-changes needed"), even by the session that
  made it dirty: ``load`` discards and locks again;
* identityref list keys are compared as written: ``<type>static</type>`` and
  ``<type>rt:static</type>`` name two different control-plane-protocol entries for edit-config,
  and a subtree filter only matches the server's own spelling (``rt:static``). netorch writes
  the unprefixed form (as its template does) and filters protocols by name only, checking
  the type on the client;
* ``operation="remove"`` on an absent interface fails ("required value instance not found"
  for the mandatory ``type``) unless the entry also carries ``type``: restore payloads do;
* the confirmed-commit timer only fires after about one second without any request from
  any client: a client that polls faster than once a second postpones the automatic revert
  indefinitely. Poll at intervals of more than a second when waiting for a revert. It counts
  whole seconds: a revert may come up to a second early;
* ``:confirmed-commit:1.1`` with ``<persist>``: the pending commit survives the session and is
  confirmed with ``<persist-id>`` (netorch does so) or cancelled with ``<cancel-commit>``;
  without ``persist`` netconfd reverts at once when the session closes.

* a request that reaches netconfd right behind the client's hello is sometimes never
  answered (about 1 in 30 sessions when sent at once; the next request is answered):
  ``synchronise`` probes the session before the first real request.

ncclient's reader thread sends queued requests only between its 100 ms polls, so every RPC
costs about 100 ms. ``install_direct_send`` writes requests straight to the SSH channel (about
1 ms per RPC against netconfd); ``fast_send: false`` in the connection extras turns it off.
"""

from __future__ import annotations

import contextlib
import copy
import re
import secrets
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from ipaddress import IPv4Network
from typing import Any, ClassVar

from lxml import etree

from netorch.configtree.xml import (
    IF_NS,
    MODULE_PREFIXES,
    NC_NS,
    POLICY_NS,
    RT_NS,
    V4UR_NS,
    XNode,
    _natural,
    canonical_tree,
    parse_xml,
    serialize,
    tree_diff,
)
from netorch.errors import ConfirmExpired, DeviceRejected, DeviceUnreachable, HostKeyRejected, TransportError
from netorch.model.desired import DesiredRoute
from netorch.transport.base import DeviceJob, DeviceSession, RouteCheck, Snapshot

CONNECTION_NAME = "netorch_ncclient"
DEFAULT_PORT = 830
DEFAULT_TIMEOUT = 30
ARTIFACT = "config.xml"

CAP = "urn:ietf:params:netconf:capability:"

#: the control-plane-protocol entry netorch owns: (type identity namespace, type, name)
NETORCH_PROTOCOL = (RT_NS, "static", "netorch")

_RPC_PATH_PREFIX = re.compile(r"^/nc:rpc/nc:[\w-]+/nc:(config|source|target)")


# ------------------------------------------------------------------------------ what netorch owns


@dataclass(frozen=True)
class Ownership:
    """The subtrees of a device's configuration that netorch manages."""

    interfaces: tuple[str, ...]
    protocols: tuple[tuple[str, str, str], ...]  # (type identity namespace, type, name)
    policy: bool


def _interfaces(tree: XNode) -> list[XNode]:
    container = tree.child("interfaces", IF_NS)
    return container.find("interface", IF_NS) if container is not None else []


def _protocols(tree: XNode) -> list[XNode]:
    routing = tree.child("routing", RT_NS)
    cpps = routing.child("control-plane-protocols", RT_NS) if routing is not None else None
    return cpps.find("control-plane-protocol", RT_NS) if cpps is not None else []


def _protocol_id(entry: XNode) -> tuple[str, str, str]:
    leaf = entry.child("type")
    ns, name = leaf.identity() if leaf is not None else ("", "")
    return ns, name, entry.value("name") or ""


def ownership(desired: XNode, policy_supported: bool) -> Ownership:
    """What netorch owns, given the desired config tree: the interfaces it names, its
    control-plane-protocol entries (always static/netorch), the policy container when the
    device implements netorch-policy or the desired config has one."""
    names = sorted({e.value("name") or "" for e in _interfaces(desired)} - {""}, key=_natural)
    protocols = {_protocol_id(e) for e in _protocols(desired)} | {NETORCH_PROTOCOL}
    policy = policy_supported or desired.child("policy", POLICY_NS) is not None
    return Ownership(tuple(names), tuple(sorted(protocols)), policy)


def _wrap(ns: str, name: str, children: list[XNode], **kw: Any) -> XNode:
    return XNode(ns, name, children=children, **kw)


def _config(children: list[XNode]) -> XNode:
    return _wrap(NC_NS, "config", [c for c in children if c is not None])


def _interfaces_node(entries: list[XNode]) -> list[XNode]:
    return [_wrap(IF_NS, "interfaces", entries)] if entries else []


def _routing_node(entries: list[XNode]) -> list[XNode]:
    if not entries:
        return []
    return [_wrap(RT_NS, "routing", [_wrap(RT_NS, "control-plane-protocols", entries)])]


def owned_view(data: XNode, own: Ownership) -> XNode:
    """The part of a configuration (a <data> or <config> tree) that netorch owns, as a <config> tree."""
    interfaces = [e for e in _interfaces(data) if (e.value("name") or "") in own.interfaces]
    protocols = [e for e in _protocols(data) if _protocol_id(e) in own.protocols]
    policy = data.child("policy", POLICY_NS) if own.policy else None
    return _config([*_interfaces_node(interfaces), *_routing_node(protocols), *([policy] if policy else [])])


def filter_xml(own: Ownership, all_protocols: bool = False) -> list[str]:
    """Subtree filters for get-config: the owned interfaces, the control-plane protocols by name
    (netconfd matches identityref content only in its own spelling, so the type is checked on
    the client) or all of them, and the policy container."""
    out = []
    if own.interfaces:
        entries = [_wrap(IF_NS, "interface", [XNode(IF_NS, "name", n)]) for n in own.interfaces]
        out.append(serialize(_wrap(IF_NS, "interfaces", entries)))
    if all_protocols:
        out.append(ROUTING_FILTER)
    else:
        names = sorted({name for _, _, name in own.protocols})
        entries = [_wrap(RT_NS, "control-plane-protocol", [XNode(RT_NS, "name", n)]) for n in names]
        out.append(serialize(_routing_node(entries)[0]))
    if own.policy:
        out.append(f'<policy xmlns="{POLICY_NS}"/>\n')
    return out


#: every control-plane protocol (for route checks)
ROUTING_FILTER = f'<routing xmlns="{RT_NS}"><control-plane-protocols/></routing>'


def _type_leaf(ns: str, name: str) -> XNode:
    return XNode(RT_NS, "type", name, ident_ns=ns)


def _with(node: XNode, children: list[XNode] | None = None, operation: str | None = None) -> XNode:
    """A shallow copy of a node (new children list, same child nodes) with an operation."""
    return replace(node, children=list(node.children if children is None else children), operation=operation)


def _replace_entries(container: XNode, entry: str) -> XNode:
    return _with(container, [_with(e, operation="replace") if e.name == entry else e for e in container.children])


def edit_payload(desired: XNode, own: Ownership, live: XNode | None = None) -> str:
    """The edit-config <config> that makes every owned subtree exactly as desired: replace on
    each interface entry, each owned control-plane-protocol entry and the policy container;
    remove for owned subtrees the desired config does not have. With `live` (the owned running
    view), an owned entry another client wrote with another spelling of the same identity
    (`rt:static` for `static`: the same YANG meaning, a distinct entry for netconfd) is removed
    in its own spelling, so that one run converges. (Copies only the nodes on the way to an
    operation: the desired tree is not changed.)"""
    children: list[XNode] = []
    for top in desired.children:
        if (top.ns, top.name) == (IF_NS, "interfaces"):
            children.append(_replace_entries(top, "interface"))
        elif (top.ns, top.name) == (RT_NS, "routing"):
            children.append(_with(top, [_replace_entries(n, "control-plane-protocol")
                                        if n.name == "control-plane-protocols" else n for n in top.children]))
        elif (top.ns, top.name) == (POLICY_NS, "policy"):
            children.append(_with(top, operation="replace"))
        else:
            children.append(top)
    tree = _with(desired, children)
    present = {_protocol_id(e) for e in _protocols(tree)}
    missing = [_wrap(RT_NS, "control-plane-protocol", [_type_leaf(ns, t), XNode(RT_NS, "name", n)],
                     operation="remove") for ns, t, n in own.protocols if (ns, t, n) not in present]
    seen: dict[tuple[str, str, str], int] = {}
    for entry in _protocols(live) if live is not None else []:
        seen[_protocol_id(entry)] = seen.get(_protocol_id(entry), 0) + 1
    for (ns, t, n), count in sorted(seen.items()):
        if count > 1 and (ns, t, n) in own.protocols:
            # netconfd answers every spelling with its module prefix: the other one is that one
            leaf = XNode(RT_NS, "type", t, ident_ns=ns, prefix_hint=MODULE_PREFIXES.get(ns, "ns"), literal=True)
            missing.append(_wrap(RT_NS, "control-plane-protocol", [leaf, XNode(RT_NS, "name", n)],
                                 operation="remove"))
    if missing:
        routing = tree.child("routing", RT_NS)
        if routing is None:
            tree.children += _routing_node(missing)
        else:
            cpps = routing.child("control-plane-protocols", RT_NS)
            if cpps is None:
                routing.children.append(_wrap(RT_NS, "control-plane-protocols", missing))
            else:
                cpps.children += missing
    if own.policy and tree.child("policy", POLICY_NS) is None:
        tree.children.append(XNode(POLICY_NS, "policy", operation="remove"))
    return serialize(tree, operations=True)


def restore_payload(before: XNode, desired: XNode, own: Ownership) -> str:
    """The edit-config <config> that puts every owned subtree back as it was in `before` (an
    owned view taken before a commit): replace what existed, remove what did not. A removed
    interface carries its type (from the desired config): netconfd needs it."""
    old_ifs = {e.value("name"): e for e in _interfaces(before)}
    new_ifs = {e.value("name"): e for e in _interfaces(desired)}
    interfaces = []
    for name in own.interfaces:
        if name in old_ifs:
            interfaces.append(copy.deepcopy(old_ifs[name]))
            interfaces[-1].operation = "replace"
            continue
        entry = _wrap(IF_NS, "interface", [XNode(IF_NS, "name", name)], operation="remove")
        kind = new_ifs[name].child("type") if name in new_ifs else None
        if kind is not None:
            entry.children.append(copy.deepcopy(kind))
        interfaces.append(entry)
    old_protocols = {_protocol_id(e): e for e in _protocols(before)}
    protocols = []
    for ns, kind_name, name in own.protocols:
        if (ns, kind_name, name) in old_protocols:
            protocols.append(copy.deepcopy(old_protocols[(ns, kind_name, name)]))
            protocols[-1].operation = "replace"
        else:
            protocols.append(_wrap(RT_NS, "control-plane-protocol",
                                   [_type_leaf(ns, kind_name), XNode(RT_NS, "name", name)], operation="remove"))
    extra: list[XNode] = []
    if own.policy:
        old_policy = before.child("policy", POLICY_NS)
        if old_policy is not None:
            extra.append(copy.deepcopy(old_policy))
            extra[-1].operation = "replace"
        else:
            extra.append(XNode(POLICY_NS, "policy", operation="remove"))
    return serialize(_config([*_interfaces_node(interfaces), *_routing_node(protocols), *extra]), operations=True)


# ------------------------------------------------------------------------------ static routes


@dataclass(frozen=True)
class LiveRoute:
    """One static route (one next hop) of a device's configuration."""

    protocol: str
    prefix: str
    next_hop: str | None
    interface: str | None


def static_routes(data: XNode) -> list[LiveRoute]:
    """Every IPv4 static route in a configuration tree, from every static control-plane-protocol."""
    out = []
    for entry in _protocols(data):
        ns, kind, name = _protocol_id(entry)
        if (ns, kind) != (RT_NS, "static"):
            continue
        static = entry.child("static-routes", RT_NS)
        ipv4 = static.child("ipv4", V4UR_NS) if static is not None else None
        for route in ipv4.find("route") if ipv4 is not None else []:
            prefix = route.value("destination-prefix") or ""
            hops: list[XNode] = []
            container = route.child("next-hop")
            if container is not None:
                hops.append(container)
                hop_list = container.child("next-hop-list")
                if hop_list is not None:
                    hops += hop_list.find("next-hop")
            found = [(h.value("next-hop-address"), h.value("outgoing-interface")) for h in hops]
            found = [f for f in found if f != (None, None)] or [(None, None)]
            out += [LiveRoute(name, prefix, nh, oif) for nh, oif in found]
    return out


def _network(text: str) -> IPv4Network | None:
    try:
        return IPv4Network(text, strict=False)
    except ValueError:
        return None


def route_checks(routes: Iterable[DesiredRoute], live: list[LiveRoute]) -> list[RouteCheck]:
    """present: a static route with the prefix and the intended next hop / interface is in the
    running configuration. active = present: a configuration datastore has no RIB to ask (the
    lab's netconfd does not route), so a configured static route is taken as active."""
    out = []
    for route in routes:
        same = [r for r in live if _network(r.prefix) == route.prefix]
        match = [r for r in same if (route.next_hop is None or r.next_hop == str(route.next_hop))
                 and (route.interface is None or r.interface == route.interface)]
        via = " ".join(str(v) for v in (route.next_hop, route.interface) if v)
        detail = ""
        if not match:
            detail = f"static route {route.prefix} via {via} is not in the running configuration"
            if same:
                others = ", ".join(sorted({" ".join(v for v in (r.next_hop, r.interface) if v) or "-" for r in same}))
                detail += f" (running has {route.prefix} via {others})"
        out.append(RouteCheck(route=route, present=bool(match), active=bool(match), detail=detail))
    return out


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


# ------------------------------------------------------------------------------ connection


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


def _connect_error(exc: BaseException, username: str | None) -> str:
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
        raise DeviceUnreachable(host, f"{where}: {_connect_error(exc, username)}") from None
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
        raise DeviceUnreachable(host, f"{where}: {_connect_error(exc, username)}") from None
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


def register() -> None:
    """Register NcclientConnection with Nornir as "netorch_ncclient" (idempotent)."""
    from nornir.core.plugins.connections import ConnectionPluginRegister

    if ConnectionPluginRegister.available.get(CONNECTION_NAME) is not NcclientConnection:
        ConnectionPluginRegister.register(CONNECTION_NAME, NcclientConnection)


# ------------------------------------------------------------------------------ session


def has_capability(capabilities: Iterable[str], name: str) -> bool:
    """Whether a capability is advertised: a short name ("candidate:1.0") or a full URI
    (a module namespace); parameters after "?" are ignored."""
    wanted = name if name.startswith("urn:") else CAP + name
    return any(c.split("?", 1)[0] == wanted for c in capabilities)


class NcclientSession(DeviceSession):
    """A transaction on one NETCONF device through an ncclient Manager (see the module doc).

    `rpc_log` lists the RPCs sent, in order (for measurements and tests)."""

    connection_name: ClassVar[str] = CONNECTION_NAME
    native_confirm = True

    def __init__(self, host: str, connection: Any, job: DeviceJob) -> None:
        super().__init__(host, connection, job)
        self.rpc_log: list[str] = []
        self._locked: list[str] = []
        self._loaded = False
        self._own: Ownership | None = None  # what the current transaction owns (for rollback)
        self._own_cache: tuple[XNode, Ownership] | None = None
        self._before: XNode | None = None  # owned view of running before the commit
        self._state: str | None = None  # None, "pending" (confirmed commit), "committed"
        self._persist_id: str | None = None
        self._caps: list[str] | None = None
        self._desired_cache: tuple[str, XNode] | None = None
        self._next_persist = ""

    # -- plumbing -------------------------------------------------------------------------
    @property
    def persist_id(self) -> str | None:
        """The persist token of the pending confirmed commit, if any."""
        return self._persist_id if self._state == "pending" else None

    def capabilities(self) -> list[str]:
        if self._caps is None:
            try:
                self._caps = [str(c) for c in self.connection.server_capabilities]
            except Exception as exc:
                raise DeviceUnreachable(self.host, f"no NETCONF capabilities: {exc}") from None
        return self._caps

    def _has(self, name: str) -> bool:
        return has_capability(self.capabilities(), name)

    def policy_supported(self) -> bool:
        return any(c.split("?", 1)[0] == POLICY_NS or "module=netorch-policy" in c for c in self.capabilities())

    def _call(self, op: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        from ncclient.operations import OperationError, RPCError, TimeoutExpiredError
        from ncclient.transport.errors import TransportError as NcTransportError

        self.rpc_log.append(op)
        if not getattr(self.connection, "connected", False):
            raise DeviceUnreachable(self.host, f"{op}: the NETCONF session is closed")
        try:
            return fn(*args, **kwargs)
        except RPCError as exc:
            raise RpcFailed(self.host, op, rpc_errors(exc)) from None
        except TimeoutExpiredError:
            timeout = getattr(self.connection, "timeout", "?")
            raise DeviceUnreachable(self.host, f"{op}: no reply within {timeout} s") from None
        except (NcTransportError, OSError) as exc:
            raise DeviceUnreachable(self.host, f"{op}: NETCONF session lost: {exc or type(exc).__name__}") from None
        except OperationError as exc:
            raise TransportError(self.host, f"{op}: {exc}") from None

    def _desired(self) -> XNode:
        """The canonical tree of the job's config.xml (parsed once per artifact text; not mutated)."""
        text = self.job.artifacts.get(ARTIFACT)
        if text is None:
            raise TransportError(self.host, f"the job has no {ARTIFACT} artifact")
        if self._desired_cache is None or self._desired_cache[0] is not text:
            try:
                self._desired_cache = (text, canonical_tree(text))
            except ValueError as exc:
                raise TransportError(self.host, f"{ARTIFACT}: {exc}") from None
        return self._desired_cache[1]

    def _ownership(self, desired: XNode) -> Ownership:
        """What netorch owns for the current job (a warm session may get a new job)."""
        if self._own_cache is None or self._own_cache[0] is not desired:
            self._own_cache = (desired, ownership(desired, self.policy_supported()))
        return self._own_cache[1]

    def _get_config(self, filters: list[str]) -> XNode:
        reply = self._call("get-config", self.connection.get_config, source="running", filter=filters)
        try:
            return canonical_tree(reply.data_xml)
        except ValueError as exc:
            raise TransportError(self.host, f"get-config: the reply is not XML: {exc}") from None

    def _running_owned(self, own: Ownership) -> XNode:
        return owned_view(self._get_config(filter_xml(own)), own)

    def _lock(self, target: str) -> bool:
        """Lock a datastore; True when the candidate had to be discarded to get the lock."""
        try:
            self._call("lock", self.connection.lock, target)
            self._locked.append(target)
            return False
        except RpcFailed as exc:
            first = exc
        sid = next((e.session_id for e in first.errors if e.session_id), "")
        if target == "candidate" and "resource-denied" in first.tags and "discard" in first.text:
            # netconfd: a dirty candidate (uncommitted edits of a session without a lock) cannot be locked
            try:
                self._call("discard-changes", self.connection.discard_changes)
                self._call("lock", self.connection.lock, target)
            except RpcFailed as exc:
                first = exc
                sid = next((e.session_id for e in exc.errors if e.session_id), "")
            else:
                self._locked.append(target)
                return True
        if first.tags & {"lock-denied", "in-use"}:
            held = f" (session-id {sid})" if sid else ""
            raise TransportError(self.host, f"the {target} datastore is locked by another NETCONF session{held}: "
                                 "another client is configuring the device; nothing was changed") from None
        raise TransportError(self.host, f"cannot lock the {target} datastore: {first.text}") from None

    def _release(self) -> None:
        """Unlock whatever this session locked; never raises."""
        locked, self._locked = self._locked, []
        for target in reversed(locked):
            with contextlib.suppress(TransportError):
                self._call("unlock", self.connection.unlock, target)

    def _abort(self) -> None:
        """Drop the candidate and release the locks; never raises."""
        if self._locked:
            with contextlib.suppress(TransportError):
                self._call("discard-changes", self.connection.discard_changes)
        self._release()
        self._loaded = False

    # -- DeviceSession --------------------------------------------------------------------
    def load(self) -> None:
        """lock(candidate) [+ running where it is writable], discard-changes, edit-config
        (replace on every owned subtree, rollback-on-error). On rpc-error: discard, unlock,
        DeviceRejected with the device's error message and path."""
        if self._locked:
            self._abort()
        self._loaded, self._before, self._state, self._persist_id, self._own = False, None, None, None, None
        # known before the commit, so that the journal has it even if the controller dies during it
        self._next_persist = f"netorch-{secrets.token_hex(8)}"
        if not self._has("candidate:1.0"):
            raise TransportError(self.host, "the device has no candidate datastore (:candidate): "
                                 "netorch needs it for transactional changes")
        desired = self._desired()
        own = self._own = self._ownership(desired)
        if desired.child("policy", POLICY_NS) is not None and not self.policy_supported():
            raise DeviceRejected(self.host, f"the device does not implement the netorch-policy YANG module "
                                 f"({POLICY_NS}), needed for its domain filters: load "
                                 "templates/netconf/netorch-policy.yang on the device")
        discarded = self._lock("candidate")
        try:
            if self._has("writable-running:1.0"):
                self._lock("running")
            if not discarded:
                self._call("discard-changes", self.connection.discard_changes)
            options = {"error_option": "rollback-on-error"} if self._has("rollback-on-error:1.0") else {}
            # the owned running view first: entries other clients spelled differently go too
            # (it is also the restore point of commit(), and what diff() compares: read once)
            live = self._running_owned(own)
            self._call("edit-config", self.connection.edit_config, target="candidate",
                       config=edit_payload(desired, own, live), **options)
            self._before = live
        except RpcFailed as exc:
            self._abort()
            raise DeviceRejected(self.host, f"{exc.op} rejected: {exc.text}") from None
        except TransportError:
            self._abort()
            raise
        self._loaded = True

    def diff(self) -> str:
        """Running (what netorch owns, one filtered get-config) against the desired config,
        both canonical: a unified diff, '' when they are the same. Works without load();
        after load() the running view is kept as the restore point of commit()."""
        desired = self._desired()
        if self._loaded and self._before is not None:
            running = self._before
        else:
            running = self._running_owned(self._own if self._loaded and self._own else self._ownership(desired))
        if self._loaded:
            self._before = running
        return tree_diff(running, desired, f"{self.host}:running", f"{self.host}:candidate")

    def commit(self, revert_in: int | None = None) -> None:
        """commit, or with revert_in a confirmed commit (confirm-timeout, persist when the device
        has :confirmed-commit:1.1) that netconfd reverts by itself unless confirm() comes first.
        No separate validate. A plain commit unlocks; a confirmed one keeps the candidate lock until
        confirm()/rollback()/discard(), so that nobody commits on top of an unconfirmed change."""
        if not self._loaded or self._own is None:
            raise TransportError(self.host, "commit without a loaded candidate (call load() first)")
        if self._before is None:
            self._before = self._running_owned(self._own)
        try:
            if revert_in:
                if not self._has("confirmed-commit:1.0") and not self._has("confirmed-commit:1.1"):
                    raise TransportError(self.host, "the device does not support confirmed commits")
                options: dict[str, Any] = {"confirmed": True, "timeout": str(int(revert_in))}
                persist = None
                if self._has("confirmed-commit:1.1"):
                    persist = self._next_persist
                    options["persist"] = persist
                self._call("commit", self.connection.commit, **options)
                self._state, self._persist_id = "pending", persist
            else:
                self._call("commit", self.connection.commit)
                self._state = "committed"
        except RpcFailed as exc:
            self._abort()
            raise DeviceRejected(self.host, f"commit rejected: {exc.text}; running is unchanged") from None
        except TransportError:
            self._abort()
            raise
        self._loaded = False
        if self._state == "committed":
            self._release()

    def confirm(self) -> None:
        """Confirm a pending confirmed commit (a commit with its persist-id), then unlock.
        TransportError when nothing is pending any more: the device has reverted it."""
        if self._state != "pending":
            return
        try:
            if self._persist_id:
                self._call("commit", self.connection.commit, persist_id=self._persist_id)
            else:
                self._call("commit", self.connection.commit)
        except RpcFailed as exc:
            self._state = None
            self._release()
            raise ConfirmExpired(self.host, f"confirm failed: {exc.text}: the confirmed commit is not pending "
                                 "any more (its confirm timeout passed and the device reverted it)") from None
        self._state = "committed"
        self._release()

    def extend(self, revert_in: int) -> bool:
        """A follow-up confirmed commit (RFC 6241 8.4.5.1) restarts the device's timer; False when
        nothing is pending any more (the device reverted)."""
        if self._state != "pending":
            return self._state == "committed"
        options: dict[str, Any] = {"confirmed": True, "timeout": str(int(revert_in))}
        if self._persist_id:
            options["persist_id"] = self._persist_id
        try:
            self._call("commit", self.connection.commit, **options)
        except RpcFailed:
            self._state = None
            self._release()
            return False
        return True

    def before(self) -> dict[str, str]:
        return {ARTIFACT: serialize(self._before)} if self._before is not None else {}

    def journal_data(self) -> dict[str, Any]:
        persist = self._persist_id or (self._next_persist if self._has("confirmed-commit:1.1") else None)
        return {"persist_id": persist, "before": serialize(self._before) if self._before is not None else None}

    def recover(self, data: dict[str, Any]) -> str:
        """Finish another process's transaction: cancel its confirmed commit while it is pending
        (its persist id), else put the owned subtrees back as they were before it."""
        persist = data.get("persist_id")
        before_text = data.get("before")
        if persist:
            try:
                self._call("cancel-commit", self.connection.cancel_commit, persist_id=str(persist))
                return "cancelled the pending confirmed commit"
            except RpcFailed:
                pass  # not pending any more: the device reverted it, or it was confirmed
        if not before_text:
            return "nothing to restore (no commit recorded)"
        desired = self._desired()
        own = self._ownership(desired)
        before = canonical_tree(str(before_text))
        if serialize(self._running_owned(own)) == serialize(before):
            return "already as before the run"
        self._restore(before, own)
        self._release()
        return "restored the configuration from before the run"

    def rollback(self) -> None:
        """Undo the last commit: cancel-commit while a confirmed commit is pending; after a
        commit that is final, put the owned subtrees back as they were before it
        (lock, discard-changes, edit-config replace/remove, commit, unlock). Otherwise discard."""
        state, self._state = self._state, None
        own = self._own
        if state == "pending":
            self._cancel_commit()
        elif state == "committed" and own is not None and self._before is not None:
            self._restore(self._before, own)
        else:
            self.discard()
            return
        self._release()

    def _cancel_commit(self) -> None:
        options = {"persist_id": self._persist_id} if self._persist_id else {}
        try:
            self._call("cancel-commit", self.connection.cancel_commit, **options)
        except RpcFailed as exc:
            # nothing pending any more: fine if the device already reverted by itself
            if self._own is None or self._before is None:
                raise TransportError(self.host, f"cancel-commit failed: {exc.text}") from None
            if serialize(self._running_owned(self._own)) != serialize(self._before):
                self._release()
                raise TransportError(self.host, f"cancel-commit failed ({exc.text}) and running is not "
                                     "the configuration from before the commit") from None

    def _restore(self, before: XNode, own: Ownership) -> None:
        payload = restore_payload(before, self._desired(), own)
        if "candidate" not in self._locked:
            self._lock("candidate")
        try:
            self._call("discard-changes", self.connection.discard_changes)
            self._call("edit-config", self.connection.edit_config, target="candidate", config=payload)
            self._call("commit", self.connection.commit)
        except TransportError as exc:
            self._abort()
            detail = exc.text if isinstance(exc, RpcFailed) else exc.message
            raise TransportError(self.host, f"rollback failed: {detail}") from None

    def discard(self) -> None:
        """discard-changes and unlock; never raises (a dead session just forgets its state).
        A pending confirmed commit stays pending: the device reverts it at its timeout."""
        try:
            self._abort()
        except Exception:  # discard is best effort by contract
            self._locked = []
        self._loaded = False

    def live_config(self) -> dict[str, str]:
        """{"config.xml": canonical XML of the owned subtrees of running}."""
        return {ARTIFACT: serialize(self._running_owned(self._ownership(self._desired())))}

    def check_routes(self) -> list[RouteCheck]:
        """The intended routes against the static routes of running (all static protocols);
        present = configured, active = present (see route_checks)."""
        routing = self._get_config([ROUTING_FILTER])
        return route_checks(self.job.desired.routes, static_routes(routing))

    def snapshot(self) -> Snapshot:
        """Live config and route checks from one get-config."""
        own = self._ownership(self._desired())
        data = self._get_config(filter_xml(own, all_protocols=True))
        checks = route_checks(self.job.desired.routes, static_routes(data))
        return Snapshot({ARTIFACT: serialize(owned_view(data, own))}, checks or None, None)
