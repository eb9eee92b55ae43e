"""Compare XML configurations by meaning: the canonical tree of a NETCONF configuration
(ietf-interfaces, ietf-ip, ietf-routing static routes, netorch-policy), its deterministic
text, and the differences of two trees. Pure, no I/O.

Namespaces, list order and whitespace do not count: list entries are matched by their YANG
keys (``LIST_KEYS``), identityref values by namespace, whatever prefix they were written with.
The namespaces and module prefixes live here too; the NETCONF transport
(netorch.transport.netconf) builds its payloads and filters on these trees.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

from lxml import etree

from netorch.configtree.base import Difference

NC_NS = "urn:ietf:params:xml:ns:netconf:base:1.0"
IF_NS = "urn:ietf:params:xml:ns:yang:ietf-interfaces"
IP_NS = "urn:ietf:params:xml:ns:yang:ietf-ip"
IANAIFT_NS = "urn:ietf:params:xml:ns:yang:iana-if-type"
RT_NS = "urn:ietf:params:xml:ns:yang:ietf-routing"
V4UR_NS = "urn:ietf:params:xml:ns:yang:ietf-ipv4-unicast-routing"
POLICY_NS = "urn:netorch:params:xml:ns:yang:netorch-policy"

#: YANG module prefixes: netconfd resolves identityref prefixes by module prefix, so values
#: netorch writes use these.
MODULE_PREFIXES = {IF_NS: "if", IP_NS: "ip", IANAIFT_NS: "ianaift", RT_NS: "rt", V4UR_NS: "v4ur",
                   POLICY_NS: "nopol", NC_NS: "nc"}

#: keys of the YANG lists netorch deals with: entries sort by them and list them first.
LIST_KEYS: dict[tuple[str, str], tuple[str, ...]] = {
    (IF_NS, "interface"): ("name",),
    (IP_NS, "address"): ("ip",),
    (IP_NS, "neighbor"): ("ip",),
    (RT_NS, "control-plane-protocol"): ("type", "name"),
    (RT_NS, "rib"): ("name",),
    (V4UR_NS, "route"): ("destination-prefix",),
    (V4UR_NS, "next-hop"): ("index",),
    (POLICY_NS, "filter"): ("name",),
    (POLICY_NS, "rule"): ("sequence",),
    (POLICY_NS, "port"): ("start", "end"),
}

#: leaves whose value is an identityref even when written without a prefix.
IDENTITYREF_LEAVES = {(IF_NS, "type"), (RT_NS, "type"), (RT_NS, "address-family")}

_QNAME = re.compile(r"^([A-Za-z_][\w.-]*):([A-Za-z_][\w.-]*)$")
_TOKENS = re.compile(r"\d+|\D+")


# ------------------------------------------------------------------------------ canonical XML


@dataclass
class XNode:
    """One element of a canonical XML tree: namespace, local name, and either a leaf value or
    children. An identityref value is kept as (ident_ns, text) so its prefix does not matter."""

    ns: str
    name: str
    text: str | None = None
    children: list[XNode] = field(default_factory=list)
    ident_ns: str | None = None
    prefix_hint: str | None = None
    operation: str | None = None  # nc:operation, only for edit-config payloads
    literal: bool = False  # in an edit-config payload, write an identityref with the prefix it was read with

    def find(self, name: str, ns: str | None = None) -> list[XNode]:
        return [c for c in self.children if c.name == name and (ns is None or c.ns == ns)]

    def child(self, name: str, ns: str | None = None) -> XNode | None:
        found = self.find(name, ns)
        return found[0] if found else None

    def value(self, name: str) -> str | None:
        found = self.child(name)
        return found.text if found is not None else None

    def identity(self) -> tuple[str, str]:
        """(namespace, name) of an identityref leaf; a plain value resolves in the node's namespace."""
        return (self.ident_ns or self.ns, self.text or "")


def natural_key(text: str) -> tuple[tuple[int, int, str], ...]:
    """Sort key where digit runs compare as numbers: 9.0.0.0/8 < 10.0.0.0/8, eth2 < eth10."""
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in _TOKENS.findall(text))


def _entry_key(node: XNode) -> tuple[Any, ...]:
    keys = LIST_KEYS.get((node.ns, node.name), ())
    out: list[Any] = []
    for key in keys:
        leaf = node.child(key)
        out.append(("", ()) if leaf is None else (leaf.ident_ns or "", natural_key(leaf.text or "")))
    return tuple(out)


def _sort_children(parent: XNode, kids: list[XNode]) -> list[XNode]:
    """List keys first (in key order), then leaves, then containers and lists, by name; entries
    of a list by their keys, leaf-list values by value; whole entries break the remaining ties."""
    keys = LIST_KEYS.get((parent.ns, parent.name), ())
    first = [k for key in keys for k in kids if k.name == key and k.ns == parent.ns and not k.children]
    rest = [k for k in kids if all(k is not f for f in first)]
    primary = [(bool(k.children), k.name, k.ns, _entry_key(k), k.ident_ns or "", natural_key(k.text or ""))
               for k in rest]
    counts: dict[Any, int] = {}
    for key in primary:
        counts[key] = counts.get(key, 0) + 1
    whole = {i: serialize(k) for i, k in enumerate(rest) if counts[primary[i]] > 1}
    order = sorted(range(len(rest)), key=lambda i: (primary[i], whole.get(i, "")))
    return first + [rest[i] for i in order]


def _identity(elem: Any, ns: str, name: str, text: str,
              parent_nsmap: dict[str | None, str]) -> tuple[str, str, str | None] | None:
    """(identity namespace, identity name, prefix used) when text is an identityref value: a
    known identityref leaf, or a prefixed value whose prefix is declared on the element itself."""
    known = (ns, name) in IDENTITYREF_LEAVES
    match = _QNAME.match(text)
    nsmap: dict[str | None, str] = elem.nsmap
    if match:
        prefix, local = match.groups()
        uri = nsmap.get(prefix)
        if uri is not None and (known or parent_nsmap.get(prefix) != uri):
            return uri, local, prefix
        if known:
            by_prefix = {p: u for u, p in MODULE_PREFIXES.items()}
            if prefix in by_prefix:
                return by_prefix[prefix], local, prefix
        return None
    if known:
        return nsmap.get(None) or ns, text, None
    return None


def _build(elem: Any, parent_nsmap: dict[str | None, str]) -> XNode | None:
    if not isinstance(elem.tag, str):  # comments, processing instructions
        return None
    qname = etree.QName(elem)
    node = XNode(qname.namespace or "", qname.localname)
    kids = [k for k in (_build(c, elem.nsmap) for c in elem) if k is not None]
    if kids:
        node.children = _sort_children(node, kids)
        return node
    text = (elem.text or "").strip()
    if not text:
        return None  # an empty non-presence container says nothing
    ident = _identity(elem, node.ns, node.name, text, parent_nsmap)
    if ident is not None:
        node.ident_ns, node.text, node.prefix_hint = ident
    else:
        node.text = text
    return node


def parse_xml(xml_text: str | bytes) -> Any:
    """An lxml element from XML text; ValueError when the text is not well-formed XML."""
    data = xml_text.encode("utf-8") if isinstance(xml_text, str) else xml_text
    parser = etree.XMLParser(remove_comments=True, remove_pis=True, resolve_entities=False, no_network=True,
                             huge_tree=True)
    try:
        return etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"not well-formed XML: {exc}") from None


def canonical_tree(xml_text: str | bytes) -> XNode:
    """The canonical tree of an XML document. A NETCONF <data> or <config> root becomes <config>."""
    root = parse_xml(xml_text)
    qname = etree.QName(root)
    node = _build(root, {}) or XNode(qname.namespace or "", qname.localname)
    if node.ns == NC_NS and node.name in ("data", "config"):
        node.name = "config"
        node.text = None
        node.ident_ns = None
    return node


def _prefix_for(ns: str, hint: str | None) -> str:
    if ns in MODULE_PREFIXES:
        return MODULE_PREFIXES[ns]
    if hint:
        return hint
    tail = re.sub(r"[^\w.-]", "", ns.rstrip(":/").rsplit(":", 1)[-1].rsplit("/", 1)[-1])
    return tail if tail and (tail[0].isalpha() or tail[0] == "_") else "ns"


def _attr(value: str) -> str:
    return escape(value, {'"': "&quot;"})


def _lines(node: XNode, depth: int, parent_ns: str | None, operations: bool, out: list[str]) -> None:
    pad = "  " * depth
    attrs = f' xmlns="{_attr(node.ns)}"' if node.ns != parent_ns else ""
    text = node.text
    if operations and node.literal and node.ident_ns is not None and node.prefix_hint:
        attrs += f' xmlns:{node.prefix_hint}="{_attr(node.ident_ns)}"'
        text = f"{node.prefix_hint}:{node.text}"
    elif node.ident_ns is not None and node.ident_ns != node.ns:
        prefix = _prefix_for(node.ident_ns, node.prefix_hint)
        attrs += f' xmlns:{prefix}="{_attr(node.ident_ns)}"'
        text = f"{prefix}:{node.text}"
    if operations and node.operation:
        attrs += f' xmlns:nc="{NC_NS}" nc:operation="{node.operation}"'
    if node.children:
        out.append(f"{pad}<{node.name}{attrs}>")
        for child in node.children:
            _lines(child, depth + 1, node.ns, operations, out)
        out.append(f"{pad}</{node.name}>")
    elif text is not None:
        out.append(f"{pad}<{node.name}{attrs}>{escape(text)}</{node.name}>")
    elif depth == 0:
        out += [f"{pad}<{node.name}{attrs}>", f"{pad}</{node.name}>"]
    else:
        out.append(f"{pad}<{node.name}{attrs}/>")


def serialize(node: XNode, operations: bool = False) -> str:
    """Pretty-printed XML of a tree: two-space indent, one element per line, a default xmlns
    wherever the namespace changes, identityref values prefixed by their module prefix
    (unprefixed when the identity is in the leaf's own namespace)."""
    out: list[str] = []
    _lines(node, 0, None, operations, out)
    return "\n".join(out) + "\n"


def canonical_xml(xml_text: str | bytes) -> str:
    """Deterministic pretty-printed XML, the same for every spelling of the same data: namespace
    prefixes, element and list-entry order, whitespace, comments, attributes (nc:operation...)
    and empty containers do not matter; list entries sort by their keys, numbers numerically.
    Leaf values are compared with surrounding whitespace removed. Raises ValueError on bad XML.

    Limits (no YANG schema at hand): every list is treated as system-ordered, and an element
    with neither text nor children is dropped (netorch's models have no `empty`-type leaves
    and no presence containers)."""
    return serialize(canonical_tree(xml_text))


def xml_diff(live_xml: str, desired_xml: str, fromfile: str = "running", tofile: str = "candidate",
             context: int = 3) -> str:
    """A unified diff of the canonical forms of two XML texts; '' when they mean the same."""
    return tree_diff(canonical_tree(live_xml), canonical_tree(desired_xml), fromfile, tofile, context)


def tree_diff(live: XNode, desired: XNode, fromfile: str = "running", tofile: str = "candidate",
              context: int = 3) -> str:
    """xml_diff of two canonical trees."""
    a, b = serialize(live), serialize(desired)
    if a == b:
        return ""
    return "".join(difflib.unified_diff(a.splitlines(keepends=True), b.splitlines(keepends=True), fromfile, tofile,
                                        n=context))


def _label(node: XNode) -> str:
    """A node as a path step: a list entry with its keys (`route[destination-prefix=10.0.0.0/8]`),
    a leaf with its value, a container by name."""
    keys = LIST_KEYS.get((node.ns, node.name), ())
    if keys:
        return node.name + "".join(f"[{k}={node.value(k) or ''}]" for k in keys)
    if node.text is not None:
        return f"{node.name} {node.text}"
    return node.name


def _step(node: XNode) -> tuple[Any, ...]:
    keys = LIST_KEYS.get((node.ns, node.name), ())
    if keys:
        return (node.ns, node.name, _entry_key(node))
    if node.text is not None and not node.children:
        return (node.ns, node.name, "leaf")
    return (node.ns, node.name, "node")


def _summary(node: XNode, limit: int = 8) -> str:
    leaves: list[str] = []

    def walk(n: XNode) -> None:
        for c in n.children:
            if c.text is not None and not c.children:
                leaves.append(_label(c))
            walk(c)

    walk(node)
    return ", ".join(leaves[:limit]) + (", ..." if len(leaves) > limit else "")


def tree_differences(live: XNode, desired: XNode, path: tuple[str, ...] = ()) -> list[tuple[str, tuple[str, ...], str]]:
    """(kind, path, detail) differences of two canonical trees by meaning: list entries matched
    by their keys (identities by namespace), each path step carrying its list keys, so a
    difference deep in a route names the protocol and the route it belongs to."""
    out: list[tuple[str, tuple[str, ...], str]] = []
    have: dict[tuple[Any, ...], list[XNode]] = {}
    want: dict[tuple[Any, ...], list[XNode]] = {}
    for node, index in ((live, have), (desired, want)):
        for child in node.children:
            index.setdefault(_step(child), []).append(child)
    for step in list(dict.fromkeys([*want, *have])):
        a, b = have.get(step, []), want.get(step, [])
        if step[2] == "leaf":
            av = sorted((n.ident_ns or "", n.text or "") for n in a)
            bv = sorted((n.ident_ns or "", n.text or "") for n in b)
            if av == bv:
                continue
            if a and b and len(a) == len(b) == 1:
                out.append(("changed", (*path, _label(b[0])), f"running: {a[0].text}"))
                continue
            out += [("unexpected", (*path, _label(n)), "") for n in a if (n.ident_ns or "", n.text or "") not in bv]
            out += [("missing", (*path, _label(n)), "") for n in b if (n.ident_ns or "", n.text or "") not in av]
            continue
        for extra in a[len(b):]:
            out.append(("unexpected", (*path, _label(extra)),
                        f"a second entry with the same keys (another spelling of an identity): {_summary(extra)}"
                        if b else ""))
        for absent in b[len(a):]:
            out.append(("missing", (*path, _label(absent)), ""))
        for x, y in zip(a, b, strict=False):
            out += tree_differences(x, y, (*path, _label(y)))
    return out


# ------------------------------------------------------------------------------ as Differences


def diff_xml(live: str, desired: str) -> list[Difference]:
    """By YANG meaning (canonical trees, list entries by their keys, identities by namespace);
    each path step carries its list keys."""
    have = canonical_tree(live) if live.strip() else canonical_tree("<config/>")
    want = canonical_tree(desired)
    kinds = {"missing": "missing", "unexpected": "unexpected", "changed": "changed"}
    return [Difference(kinds[k], path, detail) for k, path, detail in  # type: ignore[arg-type]
            tree_differences(have, want)]
