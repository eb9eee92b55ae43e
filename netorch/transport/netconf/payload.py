"""What netorch owns on a NETCONF device, and the XML it sends for it.

Owned (``Ownership``), and nothing else:

* each ietf-interfaces ``interface`` entry that appears in the desired ``config.xml``;
* the ietf-routing ``control-plane-protocol`` entry of type ``static`` named ``netorch``
  (every static route netorch pushes lives in it);
* the whole ``netorch-policy`` container, when the device implements that module.

This module computes that ownership from the desired tree, the owned view of a
configuration (``owned_view``), the get-config subtree filters (``filter_xml``) and the
edit-config payloads: ``edit_payload`` (``operation="replace"`` on each owned subtree, so each
ends up exactly as desired while the rest of the device stays untouched) and
``restore_payload`` (back to a view taken before a commit). Pure, on
netorch.configtree.xml trees.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Any

from netorch.configtree.xml import IF_NS, MODULE_PREFIXES, NC_NS, POLICY_NS, RT_NS, XNode, natural_key, serialize

#: the control-plane-protocol entry netorch owns: (type identity namespace, type, name)
NETORCH_PROTOCOL = (RT_NS, "static", "netorch")


@dataclass(frozen=True)


class Ownership:
    """The subtrees of a device's configuration that netorch manages."""

    interfaces: tuple[str, ...]
    protocols: tuple[tuple[str, str, str], ...]  # (type identity namespace, type, name)
    policy: bool


def _interfaces(tree: XNode) -> list[XNode]:
    container = tree.child("interfaces", IF_NS)
    return container.find("interface", IF_NS) if container is not None else []


def control_plane_protocols(tree: XNode) -> list[XNode]:
    routing = tree.child("routing", RT_NS)
    cpps = routing.child("control-plane-protocols", RT_NS) if routing is not None else None
    return cpps.find("control-plane-protocol", RT_NS) if cpps is not None else []


def protocol_id(entry: XNode) -> tuple[str, str, str]:
    leaf = entry.child("type")
    ns, name = leaf.identity() if leaf is not None else ("", "")
    return ns, name, entry.value("name") or ""


def ownership(desired: XNode, policy_supported: bool) -> Ownership:
    """What netorch owns, given the desired config tree: the interfaces it names, its
    control-plane-protocol entries (always static/netorch), the policy container when the
    device implements netorch-policy or the desired config has one."""
    names = sorted({e.value("name") or "" for e in _interfaces(desired)} - {""}, key=natural_key)
    protocols = {protocol_id(e) for e in control_plane_protocols(desired)} | {NETORCH_PROTOCOL}
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
    protocols = [e for e in control_plane_protocols(data) if protocol_id(e) in own.protocols]
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
    present = {protocol_id(e) for e in control_plane_protocols(tree)}
    missing = [_wrap(RT_NS, "control-plane-protocol", [_type_leaf(ns, t), XNode(RT_NS, "name", n)],
                     operation="remove") for ns, t, n in own.protocols if (ns, t, n) not in present]
    seen: dict[tuple[str, str, str], int] = {}
    for entry in control_plane_protocols(live) if live is not None else []:
        seen[protocol_id(entry)] = seen.get(protocol_id(entry), 0) + 1
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
    old_protocols = {protocol_id(e): e for e in control_plane_protocols(before)}
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
