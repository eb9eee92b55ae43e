"""Property tests: valid random intents render deterministically, and no text that
validation rejects ever reaches a template."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from ipaddress import IPv4Network
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from netorch.compile import IPV6_FILTER_NAME, filter_name
from netorch.configtree.nft import parse_nft
from netorch.errors import ValidationFailed
from netorch.model.types import IFNAME_RE, NAME_RE, SAFE_TEXT_RE
from netorch.platforms import Platform, spec
from netorch.service import Workspace

ROOT = Path(__file__).resolve().parent.parent
# every next hop a router of the example can use, from its connected subnets
NEXT_HOPS = {"r1": ["10.0.12.2", "10.0.13.2"], "r2": ["10.0.12.1", "10.0.24.2"],
             "r3": ["10.0.13.1", "10.0.34.2"], "r4": ["10.0.24.1", "10.0.34.1"]}
DANGEROUS = set("\n\r\x00;!#{}\"'`$|\\")


def _workspace(tmp: Path, files: dict[str, str]) -> Workspace:
    (tmp / "intents").mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (tmp / "intents" / name).write_text(text)
    return Workspace(ROOT / "inventory", tmp / "intents", ROOT / "netorch" / "templates")


route_st = st.tuples(
    st.sampled_from(sorted(NEXT_HOPS)),
    st.integers(min_value=0, max_value=255),
    st.integers(min_value=16, max_value=32),
    st.integers(min_value=0, max_value=1),
    st.integers(min_value=1, max_value=255),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(routes=st.lists(route_st, min_size=1, max_size=12, unique_by=lambda r: (r[0], r[1], r[2], r[4])),
       split=st.integers(min_value=1, max_value=4))
def test_random_valid_routes_render_deterministically(routes: list[tuple[str, int, int, int, int]],
                                                      split: int) -> None:
    items = []
    for i, (host, octet, plen, hop, distance) in enumerate(routes):
        # each router its own /16: routes of two routers never overlap, so they cannot loop
        prefix = IPv4Network(f"172.{16 + sorted(NEXT_HOPS).index(host)}.{octet}.0/{plen}", strict=False)
        items.append({"name": f"p{i}", "prefix": str(prefix), "next_hop": NEXT_HOPS[host][hop],
                      "distance": distance, "hosts": [host]})
    # drop conflicting duplicates (same host/prefix/distance) the way an operator would have to
    # and same host/prefix/next hop with two distances (a device keeps one)
    seen, unique = set(), []
    for item in items:
        keys = {(item["hosts"][0], item["prefix"], item["distance"]),
                (item["hosts"][0], item["prefix"], item["next_hop"])}
        if not keys & seen:
            seen |= keys
            unique.append(item)
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        one = _workspace(Path(a), {"all.yaml": json.dumps({"routes": unique})})
        chunks = [unique[i::split] for i in range(split)]
        many = _workspace(Path(b), {f"{9 - i}.yaml": json.dumps({"routes": list(reversed(c))})
                                    for i, c in enumerate(chunks)})
        assert one.validate().ok, one.validate().problems
        rendered = one.render()
        assert rendered == many.render()
        for item in unique:
            host = item["hosts"][0]
            assert f"ip route {item['prefix']} {item['next_hop']}" in rendered[host]["frr.conf"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(min_size=1, max_size=40))
def test_rejected_text_never_reaches_a_template(text: str) -> None:
    intent = {"routes": [{"name": "probe", "description": text, "prefix": "172.30.0.0/16",
                          "next_hop": "10.0.12.2", "hosts": ["r1"]}],
              "domains": [{"name": "probe-domain", "description": text,
                           "members": [{"host": "r3", "interface": "eth1"}]}]}
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        shutil.copytree(ROOT / "intents", tmp_path / "intents")
        dumped = json.dumps(intent, ensure_ascii=False)
        ws = _workspace(tmp_path, {"probe.yaml": dumped})
        try:  # what the YAML parser makes of the text (it folds some line breaks, e.g. U+0085)
            parsed = yaml.safe_load(dumped)["routes"][0]["description"]
        except yaml.YAMLError:
            parsed = None
        accepted = isinstance(parsed, str) and SAFE_TEXT_RE.fullmatch(parsed) is not None
        if accepted:
            assert isinstance(parsed, str) and not (set(parsed) & DANGEROUS)
            rendered = ws.render()
            for files in rendered.values():
                for body in files.values():
                    assert body.isascii()
                    assert all(ch.isprintable() or ch in "\n\t" for ch in body)
        else:
            with pytest.raises(ValidationFailed) as info:
                ws.render()
            assert any("description" in p.path or "YAML" in p.message for p in info.value.problems)


@settings(max_examples=100, deadline=None)
@given(text=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30))
def test_interface_description_never_adds_config_lines(text: str) -> None:
    """Whatever the inventory says in a description, either validation refuses it or the
    rendered FRR config keeps exactly its line structure."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        shutil.copytree(ROOT / "inventory", tmp_path / "inventory")
        hosts = tmp_path / "inventory" / "hosts.yaml"
        hosts.write_text(hosts.read_text().replace("description: to r3 eth2",
                                                   f"description: {json.dumps(text)}"))
        ws = Workspace(tmp_path / "inventory", ROOT / "intents", ROOT / "netorch" / "templates")
        if SAFE_TEXT_RE.fullmatch(text) is None:
            assert not ws.validate().ok
            return
        conf = ws.render("r4")["r4"]["frr.conf"]
        reference = Workspace(ROOT / "inventory", ROOT / "intents", ROOT / "netorch" / "templates").render("r4")
        assert len(conf.splitlines()) == len(reference["r4"]["frr.conf"].splitlines())
        assert f" description {text}\n" in conf


# -- generated filter names -------------------------------------------------------------------
# small alphabets on purpose: they make names that differ only in punctuation common
domain_name_st = st.from_regex(r"[ab][ab1_-]{0,5}", fullmatch=True)
if_name_st = st.from_regex(r"[ab][ab1./:-]{0,5}", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(pairs=st.lists(st.tuples(domain_name_st, if_name_st), min_size=2, max_size=6, unique=True),
       platform=st.sampled_from(sorted(Platform)))
@example(pairs=[("d", "eth1.10"), ("d", "eth1-10")], platform=Platform.FRR)
@example(pairs=[("guest", "wg-eth1"), ("guest-wg", "eth1")], platform=Platform.JUNIPER_JUNOS)
def test_filter_names_are_injective(pairs: list[tuple[str, str]], platform: Platform) -> None:
    limits = spec(platform).filter_names
    names = {}
    for domain, ifname in pairs:
        for direction in ("in", "out"):
            name = filter_name(domain, ifname, direction, limits.max_length)
            assert len(name) <= limits.max_length
            assert re.fullmatch(f"[{limits.charset}]+", name), name
            assert name != IPV6_FILTER_NAME
            assert name not in names, f"{(domain, ifname, direction)} and {names[name]} share {name}"
            names[name] = (domain, ifname, direction)


@settings(max_examples=200, deadline=None)
@given(domain=st.from_regex(NAME_RE, fullmatch=True), ifname=st.from_regex(IFNAME_RE, fullmatch=True),
       other=st.from_regex(IFNAME_RE, fullmatch=True), max_length=st.sampled_from([64, 80, 255]))
@example(domain="d" * 48, ifname="i" * 48, other="i" * 47 + "j", max_length=64)
def test_long_filter_names_stay_distinct_and_within_limits(domain: str, ifname: str, other: str,
                                                           max_length: int) -> None:
    """Names over a platform's limit are shortened with a hash of the exact original: still
    distinct, never longer than the limit."""
    a = filter_name(domain, ifname, "in", max_length)
    b = filter_name(domain, other, "in", max_length)
    assert len(a) <= max_length and len(b) <= max_length
    assert (a == b) == (ifname == other)
    assert a != filter_name(domain, ifname, "out", max_length)


def _two_domain_network(tmp: Path, domains: tuple[str, str], ifnames: tuple[str, str]) -> Workspace:
    (tmp / "inventory").mkdir()
    (tmp / "intents").mkdir()
    hosts = {}
    for n, (host, platform) in enumerate((("fw", "frr"), ("acl", "cisco_ios")), start=1):
        hosts[host] = {"hostname": "192.0.2.1", "platform": platform, "data": {"interfaces": {
            ifnames[0]: {"address": f"10.0.1.{n}/24"}, ifnames[1]: {"address": f"10.0.2.{n}/24"}}}}
    (tmp / "inventory" / "hosts.yaml").write_text(json.dumps(hosts))
    intents = {"domains": [{"name": domains[i], "members": [{"host": h, "interface": ifnames[i]}
                                                           for h in ("fw", "acl")]} for i in (0, 1)]}
    (tmp / "intents" / "all.yaml").write_text(json.dumps(intents))
    return Workspace(tmp / "inventory", tmp / "intents", ROOT / "netorch" / "templates")


@settings(max_examples=60, deadline=None)
@given(domains=st.lists(domain_name_st, min_size=2, max_size=2, unique=True),
       ifnames=st.lists(if_name_st, min_size=2, max_size=2, unique=True))
@example(domains=["guest", "guest-wg"], ifnames=["wg-eth1", "eth1"])
@example(domains=["d", "e"], ifnames=["eth1.10", "eth1-10"])
def test_rendered_rules_of_two_domains_never_share_a_chain(domains: list[str], ifnames: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ws = _two_domain_network(Path(tmp), (domains[0], domains[1]), (ifnames[0], ifnames[1]))
        assert ws.validate().ok, ws.validate().problems
        rendered = ws.render()
    nft = rendered["fw"]["nftables.nft"]
    chains = re.findall(r"^\s*chain (\S+) \{", nft, re.MULTILINE)
    assert len(chains) == len(set(chains)) == 5, chains  # forward + in/out per member
    for name, body in parse_nft(nft).items():
        owners = set(re.findall(r'comment "domain:([^"]+)"', " ".join(body)))
        assert name == "forward" or len(owners) == 1, (name, body)
    acls = re.findall(r"^ip access-list extended (\S+)$", rendered["acl"]["config.txt"], re.MULTILINE)
    assert len(acls) == len(set(acls)) == 4, acls
