"""The NETCONF transport without a device: canonical XML, diffs, what netorch owns, edit-config
payloads, route checks, rpc-error texts, and the session's RPC sequences against a fake
ncclient Manager. (tests/lab/test_netconf_transport.py runs the same against netconfd.)"""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from ncclient.operations import RPCError
from ncclient.xml_ import to_ele

from netorch.configtree.xml import POLICY_NS, canonical_tree, canonical_xml, parse_xml, serialize, xml_diff
from netorch.errors import DeviceRejected, DeviceUnreachable, TransportError
from netorch.model.desired import DesiredRoute
from netorch.platforms import Transport
from netorch.service import Workspace
from netorch.transport.base import DeviceJob
from netorch.transport.netconf import connection as nc
from netorch.transport.netconf.errors import rpc_errors
from netorch.transport.netconf.payload import (
    NETORCH_PROTOCOL,
    ROUTING_FILTER,
    Ownership,
    edit_payload,
    filter_xml,
    owned_view,
    ownership,
    restore_payload,
)
from netorch.transport.netconf.routes import route_checks, static_routes
from netorch.transport.netconf.session import NcclientSession, has_capability
from netorch.transport.registry import connect_plugins

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden" / "netconf"
NC = "urn:ietf:params:xml:ns:netconf:base:1.0"
IF = "urn:ietf:params:xml:ns:yang:ietf-interfaces"
RT = "urn:ietf:params:xml:ns:yang:ietf-routing"
V4 = "urn:ietf:params:xml:ns:yang:ietf-ipv4-unicast-routing"

# What netconfd (yuma123 2.13) answers to get-config once the example nc1 config is committed:
# schema order, prefixed identityref, other modules (nacm) beside, routes in another order.
NETCONFD_REPLY = f"""<?xml version="1.0" encoding="UTF-8"?><data xmlns="{NC}" xmlns:nc="{NC}">
    <interfaces xmlns="{IF}">
      <interface>
        <name>eth1</name>
        <description>netconf managed</description>
        <type xmlns:ianaift="urn:ietf:params:xml:ns:yang:iana-if-type">ianaift:ethernetCsmacd</type>
        <enabled>true</enabled>
        <ipv4 xmlns="urn:ietf:params:xml:ns:yang:ietf-ip">
          <address>
            <ip>10.9.0.1</ip>
            <prefix-length>24</prefix-length>
          </address>
        </ipv4>
      </interface>
      <interface>
        <name>eth9</name>
        <description>not netorch</description>
        <type xmlns:ianaift="urn:ietf:params:xml:ns:yang:iana-if-type">ianaift:ethernetCsmacd</type>
      </interface>
    </interfaces>
    <nacm xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-acm">
    </nacm>
    <routing xmlns="{RT}">
      <control-plane-protocols>
        <control-plane-protocol>
          <type xmlns:rt="{RT}">rt:static</type>
          <name>netorch</name>
          <static-routes>
            <ipv4 xmlns="{V4}">
              <route>
                <destination-prefix>10.0.0.0/8</destination-prefix>
                <description>route:nc1-campus</description>
                <next-hop>
                  <next-hop-address>10.9.0.2</next-hop-address>
                </next-hop>
              </route>
              <route>
                <destination-prefix>0.0.0.0/0</destination-prefix>
                <description>route:nc1-default</description>
                <next-hop>
                  <next-hop-address>10.9.0.254</next-hop-address>
                </next-hop>
              </route>
            </ipv4>
          </static-routes>
        </control-plane-protocol>
        <control-plane-protocol>
          <type xmlns:rt="{RT}">rt:static</type>
          <name>ops</name>
          <static-routes>
            <ipv4 xmlns="{V4}">
              <route>
                <destination-prefix>192.0.2.0/24</destination-prefix>
                <next-hop>
                  <next-hop-address>10.9.0.9</next-hop-address>
                </next-hop>
              </route>
            </ipv4>
          </static-routes>
        </control-plane-protocol>
      </control-plane-protocols>
    </routing>
  </data>
"""
EMPTY_REPLY = f'<?xml version="1.0" encoding="UTF-8"?><data xmlns="{NC}" xmlns:nc="{NC}"/>'

LOCK_DENIED = f"""<rpc-error xmlns="{NC}" xmlns:nc="{NC}" xmlns:ncx="http://netconfcentral.org/ns/yuma-ncx">
    <error-type>protocol</error-type>
    <error-tag>lock-denied</error-tag>
    <error-severity>error</error-severity>
    <error-app-tag>no-access</error-app-tag>
    <error-message xml:lang="en">lock denied</error-message>
    <error-info>
      <session-id>34</session-id>
      <error-number xmlns="http://netconfcentral.org/ns/yuma-ncx">268</error-number>
    </error-info>
  </rpc-error>"""
DIRTY = f"""<rpc-error xmlns="{NC}">
    <error-type>protocol</error-type>
    <error-tag>resource-denied</error-tag>
    <error-severity>error</error-severity>
    <error-message xml:lang="en">candidate cannot be locked, discard-changes needed</error-message>
  </rpc-error>"""
BAD_PREFIX = f"""<rpc-error xmlns="{NC}" xmlns:nc="{NC}" xmlns:rt="{RT}" xmlns:v4ur="{V4}"
    xmlns:ncx="http://netconfcentral.org/ns/yuma-ncx">
    <error-type>protocol</error-type>
    <error-tag>invalid-value</error-tag>
    <error-severity>error</error-severity>
    <error-app-tag>pattern-test-failed</error-app-tag>
    <error-path>/nc:rpc/nc:edit-config/nc:config/rt:routing/rt:control-plane-protocols/rt:control-plane-protocol[rt:type='rt:static'][rt:name='netorch']/rt:static-routes/v4ur:ipv4/v4ur:route[v4ur:destination-prefix='10.0.0.0/33']/v4ur:destination-prefix</error-path>
    <error-message xml:lang="en">pattern match failed</error-message>
    <error-info>
      <bad-value xmlns="http://netconfcentral.org/ns/yuma-ncx">10.0.0.0/33</bad-value>
      <error-number xmlns="http://netconfcentral.org/ns/yuma-ncx">333</error-number>
    </error-info>
  </rpc-error>"""
BAD_HOP = BAD_PREFIX.replace("10.0.0.0/33']/v4ur:destination-prefix",
                             "10.0.0.0/8']/v4ur:next-hop/v4ur:next-hop-address")
BAD_HOP = BAD_HOP.replace(">10.0.0.0/33<", ">10.9.0.300<")
NOT_PENDING = f"""<rpc-error xmlns="{NC}" xmlns:nc="{NC}">
    <error-type>protocol</error-type>
    <error-tag>operation-failed</error-tag>
    <error-severity>error</error-severity>
    <error-path>/nc:rpc/nc:commit/nc:persist-id</error-path>
    <error-message xml:lang="en">persistent confirmed commit not active</error-message>
  </rpc-error>"""

CAPS = [
    "urn:ietf:params:netconf:base:1.1",
    "urn:ietf:params:netconf:capability:candidate:1.0",
    "urn:ietf:params:netconf:capability:confirmed-commit:1.0",
    "urn:ietf:params:netconf:capability:confirmed-commit:1.1",
    "urn:ietf:params:netconf:capability:rollback-on-error:1.0",
    "urn:ietf:params:netconf:capability:validate:1.1",
    f"{IF}?module=ietf-interfaces&revision=2014-05-08&features=arbitrary-names,pre-provisioning,if-mib",
    f"{RT}?module=ietf-routing&revision=2016-11-04&features=multiple-ribs,router-id",
]


def rpc_error(xml: str) -> RPCError:
    return RPCError(to_ele(xml))


def golden(case: str) -> str:
    return (GOLDEN / case / "config.xml").read_text()


@pytest.fixture(scope="module")
def job() -> DeviceJob:
    ws = Workspace(ROOT / "inventory", ROOT / "intents", ROOT / "netorch" / "templates")
    return DeviceJob("nc1", "netconf", Transport.NCCLIENT, ws.render("nc1")["nc1"], ws.compile()["nc1"])


# ----------------------------------------------------------------------------- canonical XML


def test_golden_and_netconfd_reply_are_the_same_config() -> None:
    """The template's text and netconfd's get-config mean the same (unowned parts aside)."""
    own = ownership(canonical_tree(golden("example_nc1")), policy_supported=False)
    live = serialize(owned_view(canonical_tree(NETCONFD_REPLY), own))
    assert live == canonical_xml(golden("example_nc1"))
    assert xml_diff(live, golden("example_nc1")) == ""


@pytest.mark.parametrize("case", ["example_nc1", "features_f-nc"])
def test_canonical_xml_is_idempotent_and_well_formed(case: str) -> None:
    once = canonical_xml(golden(case))
    assert canonical_xml(once) == once
    assert once.startswith(f'<config xmlns="{NC}">\n') and once.endswith("</config>\n")
    parse_xml(once)


@pytest.mark.parametrize("a,b", [
    # prefixes vs default namespaces
    (f'<config xmlns="{NC}"><interfaces xmlns="{IF}"><interface><name>e</name></interface></interfaces></config>',
     f'<nc:data xmlns:nc="{NC}" xmlns:x="{IF}"><x:interfaces><x:interface><x:name>e</x:name>'
     "</x:interface></x:interfaces></nc:data>"),
    # whitespace, comments, the order of leaves and of list entries, nc:operation attributes
    (f'<config xmlns="{NC}"><interfaces xmlns="{IF}"><interface><name>b</name><enabled>true</enabled></interface>'
     "<interface><name>a</name></interface></interfaces></config>",
     f'<config xmlns="{NC}" xmlns:nc="{NC}">\n  <!-- managed -->\n  <interfaces xmlns="{IF}">\n'
     '    <interface nc:operation="replace">\n      <name> a </name>\n    </interface>\n'
     "    <interface>\n      <enabled>true</enabled>\n      <name>b</name>\n    </interface>\n"
     "  </interfaces>\n</config>\n"),
    # identityref: unprefixed in a known leaf, or any prefix bound to the same namespace
    (f'<config xmlns="{NC}"><routing xmlns="{RT}"><control-plane-protocols><control-plane-protocol>'
     "<type>static</type><name>n</name></control-plane-protocol></control-plane-protocols></routing></config>",
     f'<config xmlns="{NC}"><routing xmlns="{RT}"><control-plane-protocols><control-plane-protocol>'
     f'<name>n</name><type xmlns:foo="{RT}">foo:static</type></control-plane-protocol>'
     "</control-plane-protocols></routing></config>"),
    # empty non-presence containers say nothing
    (f'<config xmlns="{NC}"><routing xmlns="{RT}"><control-plane-protocols/></routing><interfaces xmlns="{IF}">'
     "\n</interfaces></config>",
     f'<config xmlns="{NC}"/>'),
])
def test_canonical_xml_ignores_spelling(a: str, b: str) -> None:
    assert canonical_xml(a) == canonical_xml(b)


def test_canonical_xml_keeps_meaning() -> None:
    base = (f'<config xmlns="{NC}"><interfaces xmlns="{IF}"><interface><name>e</name>'
            "<description>{}</description></interface></interfaces></config>")
    assert canonical_xml(base.format("a b")) != canonical_xml(base.format("a  b"))
    # a colon in a plain string is not a prefix, even when it looks like one
    assert "route:x" in canonical_xml(base.format("route:x"))
    # the same identity name in another module is another identity
    a = '<c xmlns="urn:x"><type xmlns:p="urn:a">p:eth</type></c>'
    b = '<c xmlns="urn:x"><type xmlns:p="urn:b">p:eth</type></c>'
    assert canonical_xml(a) != canonical_xml(b)


def test_canonical_xml_sorts_entries_by_key_numerically() -> None:
    routes = "".join(f"<route><destination-prefix>{p}</destination-prefix></route>"
                     for p in ("10.0.0.0/8", "9.0.0.0/8", "10.0.0.0/16", "0.0.0.0/0"))
    out = canonical_xml(f'<ipv4 xmlns="{V4}">{routes}</ipv4>')
    assert [ln.strip() for ln in out.splitlines() if "prefix" in ln] == [
        f"<destination-prefix>{p}</destination-prefix>" for p in ("0.0.0.0/0", "9.0.0.0/8", "10.0.0.0/8",
                                                                  "10.0.0.0/16")]
    # keys first, then leaves, then containers
    entry = canonical_xml(f'<ipv4 xmlns="{V4}"><route><next-hop><next-hop-address>1.1.1.1</next-hop-address>'
                             "</next-hop><description>d</description>"
                             "<destination-prefix>1.0.0.0/8</destination-prefix></route></ipv4>")
    tags = [ln.strip().split(">")[0] for ln in entry.splitlines()][2:5]
    assert tags == ["<destination-prefix", "<description", "<next-hop"]


def test_canonical_xml_sorts_leaf_lists_and_unknown_lists() -> None:
    a = '<p xmlns="urn:x"><src>10.2.0.0/24</src><src>10.10.0.0/24</src><e><k>2</k></e><e><k>1</k></e></p>'
    b = '<p xmlns="urn:x"><e><k>1</k></e><src>10.10.0.0/24</src><e><k>2</k></e><src>10.2.0.0/24</src></p>'
    assert canonical_xml(a) == canonical_xml(b)


def test_canonical_xml_rejects_bad_xml() -> None:
    with pytest.raises(ValueError, match="not well-formed"):
        canonical_xml("<config><unclosed></config>")


def test_canonical_xml_escapes_text() -> None:
    out = canonical_xml('<c xmlns="urn:x"><d>a &lt;b&gt; &amp; "c"</d></c>')
    assert "<d>a &lt;b&gt; &amp; \"c\"</d>" in out
    assert canonical_xml(out) == out


# ----------------------------------------------------------------------------- diff


def test_diff_of_equal_configs_is_empty() -> None:
    assert xml_diff(golden("example_nc1"), canonical_xml(golden("example_nc1"))) == ""


def test_diff_on_a_clean_device_shows_only_additions() -> None:
    diff = xml_diff(EMPTY_REPLY, golden("example_nc1"))
    lines = diff.splitlines()
    assert lines[0] == "--- running" and lines[1] == "+++ candidate"
    body = lines[3:]
    assert not [ln for ln in body if ln.startswith("-")]
    assert "+              <destination-prefix>0.0.0.0/0</destination-prefix>" in body
    assert "+              <destination-prefix>10.0.0.0/8</destination-prefix>" in body
    assert body[0] == f' <config xmlns="{NC}">' and body[-1] == " </config>"


def test_diff_of_a_changed_next_hop_names_the_route() -> None:
    live = golden("example_nc1").replace("10.9.0.2<", "10.9.0.3<")
    diff = xml_diff(live, golden("example_nc1"))
    assert "-                <next-hop-address>10.9.0.3</next-hop-address>" in diff
    assert "+                <next-hop-address>10.9.0.2</next-hop-address>" in diff
    hunk = diff.split("@@")[2]
    assert "<destination-prefix>10.0.0.0/8</destination-prefix>" in hunk  # context shows which route


# ----------------------------------------------------------------------------- ownership and payloads


def test_ownership_of_the_desired_config() -> None:
    own = ownership(canonical_tree(golden("features_f-nc")), policy_supported=False)
    assert own.interfaces == ("eth1", "lo")
    assert own.protocols == (NETORCH_PROTOCOL,)
    assert own.policy  # the desired config has domain filters


def test_owned_view_leaves_out_what_netorch_does_not_own() -> None:
    own = Ownership(("eth1",), (NETORCH_PROTOCOL,), policy=False)
    view = serialize(owned_view(canonical_tree(NETCONFD_REPLY), own))
    assert "eth1" in view and "10.0.0.0/8" in view
    assert "eth9" not in view and "ops" not in view and "192.0.2.0" not in view and "nacm" not in view
    # an entry named netorch of another protocol type is not netorch's
    other = NETCONFD_REPLY.replace("rt:static</type>\n          <name>netorch", "rt:direct</type>\n"
                                   "          <name>netorch", 1)
    assert "netorch" not in serialize(owned_view(canonical_tree(other), own))


def test_edit_payload_replaces_each_owned_subtree() -> None:
    desired = canonical_tree(golden("example_nc1"))
    before = serialize(desired)
    payload = edit_payload(desired, ownership(desired, policy_supported=False))
    assert serialize(desired, operations=True) == before  # the desired tree is left as it was
    root = parse_xml(payload)
    op = f"{{{NC}}}operation"
    replaced = {e.tag.split("}")[1] for e in root.iter() if e.get(op) == "replace"}
    assert replaced == {"interface", "control-plane-protocol"}
    assert "<type>static</type>" in payload  # netconfd matches identityref keys as written
    assert "policy" not in payload
    assert canonical_xml(payload) == canonical_xml(golden("example_nc1"))


def test_edit_payload_removes_the_policy_the_device_supports_but_intents_do_not_have() -> None:
    desired = canonical_tree(golden("example_nc1"))
    payload = edit_payload(desired, ownership(desired, policy_supported=True))
    assert f'<policy xmlns="{POLICY_NS}" xmlns:nc="{NC}" nc:operation="remove"/>' in payload
    with_filters = canonical_tree(golden("features_f-nc"))
    payload = edit_payload(with_filters, ownership(with_filters, policy_supported=True))
    assert f'<policy xmlns="{POLICY_NS}" xmlns:nc="{NC}" nc:operation="replace">' in payload


def test_edit_payload_removes_the_netorch_protocol_when_the_config_lacks_it() -> None:
    desired = canonical_tree(f'<config xmlns="{NC}"/>')
    payload = edit_payload(desired, ownership(desired, policy_supported=False))
    assert 'nc:operation="remove">' in payload and "<name>netorch</name>" in payload


def test_restore_payload_puts_back_what_was_and_removes_what_was_not() -> None:
    desired = canonical_tree(golden("features_f-nc").replace("<name>lo</name>", "<name>lo0</name>"))
    own = Ownership(("eth1", "lo0"), (NETORCH_PROTOCOL,), policy=False)
    before = owned_view(canonical_tree(NETCONFD_REPLY), own)  # has eth1 and netorch, not lo0
    payload = restore_payload(before, desired, own)
    root = parse_xml(payload)
    op = f"{{{NC}}}operation"
    ops = {(e.tag.split("}")[1], e.findtext(f"{{{e.tag.split('}')[0][1:]}}}name")): e.get(op)
           for e in root.iter() if e.get(op)}
    assert ops == {("interface", "eth1"): "replace", ("interface", "lo0"): "remove",
                   ("control-plane-protocol", "netorch"): "replace"}
    assert "ianaift:softwareLoopback" in payload  # netconfd needs the type to remove an absent interface
    assert "10.9.0.254" in payload and "192.0.2.0" not in payload
    empty = canonical_tree(EMPTY_REPLY)
    assert 'nc:operation="remove">\n        <type>static</type>' in restore_payload(empty, desired, own)


def test_filters_select_owned_parts_by_name() -> None:
    own = Ownership(("eth1", "lo"), (NETORCH_PROTOCOL,), policy=True)
    filters = filter_xml(own)
    assert len(filters) == 3
    assert "<name>eth1</name>" in filters[0] and "<name>lo</name>" in filters[0]
    assert "<name>netorch</name>" in filters[1] and "<type" not in filters[1]
    assert POLICY_NS in filters[2]
    assert filter_xml(Ownership((), (NETORCH_PROTOCOL,), False), all_protocols=True) == [ROUTING_FILTER]


# ----------------------------------------------------------------------------- routes


def test_static_routes_and_route_checks(job: DeviceJob) -> None:
    live = static_routes(canonical_tree(NETCONFD_REPLY))
    assert {(r.protocol, r.prefix, r.next_hop) for r in live} == {
        ("netorch", "0.0.0.0/0", "10.9.0.254"), ("netorch", "10.0.0.0/8", "10.9.0.2"),
        ("ops", "192.0.2.0/24", "10.9.0.9")}
    checks = route_checks(job.desired.routes, live)
    assert [(c.present, c.active, c.detail) for c in checks] == [(True, True, "")] * 2
    moved = static_routes(canonical_tree(NETCONFD_REPLY.replace("10.9.0.2<", "10.9.0.7<")))
    check = next(c for c in route_checks(job.desired.routes, moved) if str(c.route.prefix) == "10.0.0.0/8")
    assert not check.present and not check.active
    assert check.detail == ("static route 10.0.0.0/8 via 10.9.0.2 is not in the running configuration "
                            "(running has 10.0.0.0/8 via 10.9.0.7)")


def test_static_routes_read_interfaces_and_next_hop_lists() -> None:
    data = f"""<data xmlns="{NC}"><routing xmlns="{RT}"><control-plane-protocols><control-plane-protocol>
      <type>static</type><name>x</name><static-routes><ipv4 xmlns="{V4}">
      <route><destination-prefix>10.1.0.0/16</destination-prefix><next-hop><outgoing-interface>eth1</outgoing-interface>
      </next-hop></route>
      <route><destination-prefix>10.2.0.0/16</destination-prefix><next-hop><next-hop-list>
        <next-hop><index>1</index><next-hop-address>10.9.0.1</next-hop-address></next-hop>
        <next-hop><index>2</index><next-hop-address>10.9.0.2</next-hop-address></next-hop>
      </next-hop-list></next-hop></route>
      </ipv4></static-routes></control-plane-protocol></control-plane-protocols></routing></data>"""
    live = static_routes(canonical_tree(data))
    assert {(r.prefix, r.next_hop, r.interface) for r in live} == {
        ("10.1.0.0/16", None, "eth1"), ("10.2.0.0/16", "10.9.0.1", None), ("10.2.0.0/16", "10.9.0.2", None)}
    route = DesiredRoute.model_validate({"prefix": "10.1.0.0/16", "interface": "eth1", "origin": "route:t"})
    assert route_checks([route], live)[0].present


# ----------------------------------------------------------------------------- rpc errors


def test_rpc_error_text_names_message_path_and_value() -> None:
    (err,) = rpc_errors(rpc_error(BAD_PREFIX))
    assert err.tag == "invalid-value"
    assert str(err) == ("pattern match failed at /rt:routing/rt:control-plane-protocols/rt:control-plane-protocol"
                        "[rt:type='rt:static'][rt:name='netorch']/rt:static-routes/v4ur:ipv4/v4ur:route"
                        "[v4ur:destination-prefix='10.0.0.0/33']/v4ur:destination-prefix")
    (lock,) = rpc_errors(rpc_error(LOCK_DENIED))
    assert (lock.tag, lock.session_id, str(lock)) == ("lock-denied", "34", "lock denied")


def test_several_rpc_errors() -> None:
    errors = [rpc_error(BAD_PREFIX), rpc_error(BAD_HOP)]
    many = RPCError(to_ele(f'<rpc-reply xmlns="{NC}">{BAD_PREFIX}{BAD_HOP}</rpc-reply>'), errs=errors)
    texts = [str(e) for e in rpc_errors(many)]
    assert len(texts) == 2
    assert texts[1].endswith("v4ur:next-hop/v4ur:next-hop-address (bad value '10.9.0.300')")


def test_capabilities() -> None:
    assert has_capability(CAPS, "candidate:1.0")
    assert has_capability(CAPS, "confirmed-commit:1.1")
    assert not has_capability(CAPS, "writable-running:1.0")
    assert has_capability(CAPS, RT)
    assert not has_capability(CAPS, POLICY_NS)


# ----------------------------------------------------------------------------- the session


class FakeManager:
    """An ncclient Manager stand-in: records RPCs, answers get-config from `running`, raises
    the RPCErrors queued per operation."""

    def __init__(self, running: str = EMPTY_REPLY, caps: list[str] | None = None) -> None:
        self.connected = True
        self.timeout = 30
        self.server_capabilities = CAPS if caps is None else caps
        self.running = running
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail: dict[str, list[BaseException]] = {}

    def _do(self, op: str, **kw: Any) -> Any:
        self.calls.append((op, kw))
        queued = self.fail.get(op)
        if queued:
            raise queued.pop(0)
        return SimpleNamespace(data_xml=self.running, ok=True)

    def lock(self, target: str) -> Any:
        return self._do("lock", target=target)

    def unlock(self, target: str) -> Any:
        return self._do("unlock", target=target)

    def discard_changes(self) -> Any:
        return self._do("discard-changes")

    def edit_config(self, **kw: Any) -> Any:
        return self._do("edit-config", **kw)

    def get_config(self, **kw: Any) -> Any:
        return self._do("get-config", **kw)

    def commit(self, **kw: Any) -> Any:
        return self._do("commit", **kw)

    def cancel_commit(self, **kw: Any) -> Any:
        return self._do("cancel-commit", **kw)

    def validate(self, **kw: Any) -> Any:  # pragma: no cover - must never be called
        return self._do("validate", **kw)

    @property
    def ops(self) -> list[str]:
        return [op for op, _ in self.calls]


def session(job: DeviceJob, mgr: FakeManager) -> NcclientSession:
    return NcclientSession("nc1", mgr, job)


def test_load_diff_commit_rpc_sequence(job: DeviceJob) -> None:
    mgr = FakeManager()
    s = session(job, mgr)
    s.load()
    diff = s.diff()
    s.commit()
    assert mgr.ops == ["lock", "discard-changes", "get-config", "edit-config", "commit", "unlock"]
    assert s.rpc_log == mgr.ops
    edit = mgr.calls[3][1]
    assert edit["target"] == "candidate" and edit["error_option"] == "rollback-on-error"
    assert 'nc:operation="replace"' in edit["config"]
    assert mgr.calls[4][1] == {}  # a plain commit: no separate validate, no confirmed
    assert "+              <destination-prefix>0.0.0.0/0</destination-prefix>" in diff


def test_a_dirty_candidate_is_discarded_then_locked(job: DeviceJob) -> None:
    mgr = FakeManager()
    mgr.fail["lock"] = [rpc_error(DIRTY)]
    s = session(job, mgr)
    s.load()
    assert mgr.ops == ["lock", "discard-changes", "lock", "get-config", "edit-config"]


def test_another_sessions_lock_fails_load_clearly(job: DeviceJob) -> None:
    mgr = FakeManager()
    mgr.fail["lock"] = [rpc_error(LOCK_DENIED)]
    s = session(job, mgr)
    with pytest.raises(TransportError, match=r"nc1: the candidate datastore is locked by another NETCONF "
                                             r"session \(session-id 34\)"):
        s.load()
    assert mgr.ops == ["lock"]


def test_rejected_edit_discards_unlocks_and_names_the_error(job: DeviceJob) -> None:
    mgr = FakeManager()
    mgr.fail["edit-config"] = [rpc_error(BAD_PREFIX)]
    s = session(job, mgr)
    with pytest.raises(DeviceRejected) as info:
        s.load()
    assert "edit-config rejected: pattern match failed" in str(info.value)
    assert "destination-prefix='10.0.0.0/33'" in str(info.value)
    assert mgr.ops == ["lock", "discard-changes", "get-config", "edit-config", "discard-changes", "unlock"]
    with pytest.raises(TransportError, match="without a loaded candidate"):
        s.commit()


def test_rejected_commit_discards_and_unlocks(job: DeviceJob) -> None:
    mgr = FakeManager()
    mgr.fail["commit"] = [rpc_error(BAD_PREFIX)]
    s = session(job, mgr)
    s.load()
    s.diff()
    with pytest.raises(DeviceRejected, match=r"commit rejected: pattern match failed.*running is unchanged"):
        s.commit()
    assert mgr.ops[-3:] == ["commit", "discard-changes", "unlock"]


def test_confirmed_commit_keeps_the_lock_until_confirm(job: DeviceJob) -> None:
    mgr = FakeManager()
    s = session(job, mgr)
    s.load()
    s.diff()
    s.commit(revert_in=30)
    op, kw = mgr.calls[-1]
    assert op == "commit" and kw["confirmed"] is True and kw["timeout"] == "30"
    assert kw["persist"].startswith("netorch-") and s.persist_id == kw["persist"]
    assert "unlock" not in mgr.ops
    s.confirm()
    assert mgr.calls[-2] == ("commit", {"persist_id": kw["persist"]})
    assert mgr.ops[-1] == "unlock"
    assert s.persist_id is None
    s.confirm()  # nothing pending: no RPC
    assert mgr.ops[-1] == "unlock"


def test_confirm_after_the_device_reverted_fails(job: DeviceJob) -> None:
    mgr = FakeManager()
    s = session(job, mgr)
    s.load()
    s.commit(revert_in=3)
    mgr.fail["commit"] = [rpc_error(NOT_PENDING)]
    with pytest.raises(TransportError, match="not pending any more"):
        s.confirm()
    assert mgr.ops[-1] == "unlock"


def test_confirmed_commit_without_persist_support(job: DeviceJob) -> None:
    mgr = FakeManager(caps=[c for c in CAPS if "confirmed-commit:1.1" not in c])
    s = session(job, mgr)
    s.load()
    s.commit(revert_in=5)
    assert mgr.calls[-1] == ("commit", {"confirmed": True, "timeout": "5"})
    s.confirm()
    assert mgr.calls[-2] == ("commit", {})


def test_rollback_of_a_pending_commit_cancels_it(job: DeviceJob) -> None:
    mgr = FakeManager()
    s = session(job, mgr)
    s.load()
    s.commit(revert_in=30)
    token = s.persist_id
    s.rollback()
    assert mgr.calls[-2] == ("cancel-commit", {"persist_id": token})
    assert mgr.ops[-1] == "unlock"


def test_rollback_of_a_pending_commit_the_device_already_reverted(job: DeviceJob) -> None:
    mgr = FakeManager()
    s = session(job, mgr)
    s.load()
    s.diff()  # running is empty before the commit
    s.commit(revert_in=3)
    mgr.fail["cancel-commit"] = [rpc_error(NOT_PENDING.replace("persistent confirmed commit not active",
                                                               "operation failed"))]
    s.rollback()  # running is as before: fine
    assert mgr.ops[-3:] == ["cancel-commit", "get-config", "unlock"]


def test_rollback_after_a_plain_commit_restores_the_saved_config(job: DeviceJob) -> None:
    mgr = FakeManager(running=NETCONFD_REPLY.replace("10.9.0.2<", "10.9.0.7<"))
    s = session(job, mgr)
    s.load()
    s.diff()
    s.commit()
    mgr.calls.clear()
    s.rollback()
    assert mgr.ops == ["lock", "discard-changes", "edit-config", "commit", "unlock"]
    payload = mgr.calls[2][1]["config"]
    assert "10.9.0.7" in payload and 'nc:operation="replace"' in payload and "eth9" not in payload


def test_discard_never_raises(job: DeviceJob) -> None:
    mgr = FakeManager()
    s = session(job, mgr)
    s.load()
    mgr.fail["discard-changes"] = [OSError("broken pipe")]
    s.discard()
    mgr.connected = False
    s.discard()
    s2 = session(job, mgr)
    s2.discard()  # nothing loaded, dead session
    assert "validate" not in mgr.ops


def test_a_dead_session_is_unreachable(job: DeviceJob) -> None:
    mgr = FakeManager()
    mgr.connected = False
    with pytest.raises(DeviceUnreachable, match="nc1: lock: the NETCONF session is closed"):
        session(job, mgr).load()
    mgr = FakeManager()
    mgr.fail["get-config"] = [TimeoutError("timed out")]
    with pytest.raises(DeviceUnreachable, match="get-config: NETCONF session lost"):
        session(job, mgr).live_config()


def test_policy_without_the_module_is_rejected_before_any_rpc(job: DeviceJob) -> None:
    with_policy = replace(job, artifacts={"config.xml": golden("features_f-nc")})
    mgr = FakeManager()
    with pytest.raises(DeviceRejected, match="does not implement the netorch-policy YANG module"):
        session(with_policy, mgr).load()
    assert mgr.ops == []


def test_a_device_without_candidate_is_refused(job: DeviceJob) -> None:
    mgr = FakeManager(caps=[c for c in CAPS if "candidate" not in c])
    with pytest.raises(TransportError, match="no candidate datastore"):
        session(job, mgr).load()


def test_diff_without_load_takes_no_lock(job: DeviceJob) -> None:
    mgr = FakeManager(running=NETCONFD_REPLY)
    assert session(job, mgr).diff() == ""
    assert mgr.ops == ["get-config"]
    flt = mgr.calls[0][1]["filter"]
    assert mgr.calls[0][1]["source"] == "running" and len(flt) == 2


def test_live_config_check_routes_and_snapshot(job: DeviceJob) -> None:
    mgr = FakeManager(running=NETCONFD_REPLY)
    s = session(job, mgr)
    assert s.live_config() == {"config.xml": canonical_xml(job.artifacts["config.xml"])}
    assert [c.present for c in s.check_routes()] == [True, True]
    mgr.calls.clear()
    snap = s.snapshot()
    assert mgr.ops == ["get-config"]
    assert snap.config == {"config.xml": canonical_xml(job.artifacts["config.xml"])}
    assert snap.routes is not None and all(c.active for c in snap.routes)
    assert snap.interfaces is None


# ----------------------------------------------------------------------------- connection


def test_register_is_idempotent() -> None:
    from nornir.core.plugins.connections import ConnectionPluginRegister

    connect_plugins()
    connect_plugins()
    assert ConnectionPluginRegister.available["netorch_ncclient"] is nc.NcclientConnection
    assert NcclientSession.connection_name == "netorch_ncclient" and NcclientSession.native_confirm


def test_connection_refused_is_unreachable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    conn = nc.NcclientConnection()
    with pytest.raises(DeviceUnreachable, match=rf"127.0.0.1: NETCONF over SSH to port {port}: connection refused"):
        conn.open("127.0.0.1", "u", "p", port, "netconf", {"timeout": 2})
    assert conn.connection is None
    conn.close()


def test_auth_failure_message_has_no_password(monkeypatch: pytest.MonkeyPatch) -> None:
    from ncclient.transport import SSHSession
    from ncclient.transport.errors import AuthenticationError

    closed = []

    class Sock:
        def close(self) -> None:
            closed.append(True)

    def refuse(self: Any, **kw: Any) -> None:
        raise AuthenticationError(f"AuthenticationException('bad {kw['password']}')")

    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: Sock())
    monkeypatch.setattr(SSHSession, "connect", refuse)
    with pytest.raises(DeviceUnreachable) as info:
        nc.NcclientConnection().open("192.0.2.1", "ncadmin", "s3cret-pw", None, "netconf", {})
    assert str(info.value) == "192.0.2.1: NETCONF over SSH to port 830: authentication failed for user 'ncadmin'"
    assert "s3cret" not in str(info.value) and info.value.__cause__ is None and closed


def test_direct_send_writes_in_order_with_the_negotiated_framing() -> None:
    from ncclient.transport.session import NetconfBase

    sent: list[bytes] = []
    session = SimpleNamespace(_channel=SimpleNamespace(sendall=sent.append), _base=NetconfBase.BASE_10,
                              connected=True, send=None)
    assert nc.install_direct_send(session)
    session.send("<hello/>")  # before the capability exchange: end-of-message framing
    session._base = NetconfBase.BASE_11
    session.send("<rpc/>")  # after it: chunked framing
    assert sent == [b"<hello/>]]>]]>", b"\n#6\n<rpc/>\n##\n"]
    session.connected = False
    with pytest.raises(Exception, match="Not connected"):
        session.send("<rpc/>")
    assert not nc.install_direct_send(SimpleNamespace())


def test_synchronise_retries_a_request_netconfd_never_answered() -> None:
    from ncclient.operations import TimeoutExpiredError

    class Mgr:
        timeout = 30.0

        def __init__(self, lost: int) -> None:
            self.lost, self.waits = lost, []

        def get_config(self, **kw: Any) -> Any:
            self.waits.append(self.timeout)
            assert kw["filter"] == [nc.SYNC_FILTER]
            if len(self.waits) <= self.lost:
                raise TimeoutExpiredError("ncclient timed out while waiting for an rpc reply.")
            return SimpleNamespace(data_xml=EMPTY_REPLY)

    mgr = Mgr(lost=1)
    assert nc.synchronise(mgr, 30) == 2
    assert mgr.waits == [0.5, 1.0] and mgr.timeout == 30.0
    mgr = Mgr(lost=9)
    with pytest.raises(DeviceUnreachable, match="no reply to a first get-config"):
        nc.synchronise(mgr, 3)
    assert mgr.waits == [0.5, 1.0, 2.0, 3.0] and mgr.timeout == 30.0


def test_a_warm_session_follows_a_new_job(job: DeviceJob) -> None:
    mgr = FakeManager(running=NETCONFD_REPLY)
    s = session(job, mgr)
    assert s.diff() == ""
    s.job = replace(job, artifacts={"config.xml": job.artifacts["config.xml"].replace("<name>eth1</name>",
                                                                                      "<name>eth9</name>")})
    diff = s.diff()
    assert "<name>eth9</name>" in mgr.calls[-1][1]["filter"][0]
    assert "-      <description>not netorch</description>" in diff


def test_rollback_without_a_commit_only_discards(job: DeviceJob) -> None:
    mgr = FakeManager()
    s = session(job, mgr)
    s.rollback()
    assert mgr.ops == []
    s.load()
    mgr.fail["commit"] = [rpc_error(BAD_PREFIX)]
    with pytest.raises(DeviceRejected):
        s.commit()
    mgr.calls.clear()
    s.rollback()  # the engine rolls back a device whose commit failed: nothing to undo
    assert mgr.ops == []


def test_an_entry_spelled_with_another_prefix_is_removed_in_that_spelling() -> None:
    """Two entries of netorch's protocol in the running view (`static` and `rt:static`: one
    identity, two list entries for netconfd): the payload removes the prefixed one too."""
    entry = (f'<control-plane-protocol><type xmlns:rt="{RT}">rt:static</type><name>netorch</name>'
             '</control-plane-protocol>')
    live = canonical_tree(f'<data xmlns="{NC}"><routing xmlns="{RT}"><control-plane-protocols>'
                             f'{entry}{entry}</control-plane-protocols></routing></data>')
    desired = canonical_tree(f'<config xmlns="{NC}"><routing xmlns="{RT}"><control-plane-protocols>'
                                '<control-plane-protocol><type>static</type><name>netorch</name>'
                                '</control-plane-protocol></control-plane-protocols></routing></config>')
    own = ownership(desired, False)
    assert 'nc:operation="remove"' not in edit_payload(desired, own, owned_view(desired, own))
    payload = edit_payload(desired, own, owned_view(live, own))
    removed = payload.split('nc:operation="remove"', 1)[1]
    assert f'<type xmlns:rt="{RT}">rt:static</type>' in removed
    assert 'nc:operation="replace"' in payload


def test_drift_paths_carry_their_parent_keys() -> None:
    from netorch.configtree.xml import diff_xml

    changed = NETCONFD_REPLY.replace("10.9.0.2<", "10.9.0.7<")
    found = [(d.kind, d.path, d.detail) for d in diff_xml(changed, NETCONFD_REPLY)]
    assert len(found) == 1
    kind, path, detail = found[0]
    assert kind == "changed" and detail == "running: 10.9.0.7" and path[-1] == "next-hop-address 10.9.0.2"
    assert "control-plane-protocol[type=static][name=netorch]" in path
    assert any(step.startswith("route[destination-prefix=") for step in path)
    assert diff_xml(NETCONFD_REPLY, NETCONFD_REPLY) == []
