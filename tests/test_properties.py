"""Property tests: valid random intents render deterministically, and no text that
validation rejects ever reaches a template."""

from __future__ import annotations

import json
import shutil
import tempfile
from ipaddress import IPv4Network
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netorch.errors import ValidationFailed
from netorch.model.types import SAFE_TEXT_RE
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
    return Workspace(ROOT / "inventory", tmp / "intents", ROOT / "templates")


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
        prefix = IPv4Network(f"172.{16 + octet % 16}.{octet}.0/{plen}", strict=False)
        items.append({"name": f"p{i}", "prefix": str(prefix), "next_hop": NEXT_HOPS[host][hop],
                      "distance": distance, "hosts": [host]})
    # drop conflicting duplicates (same host/prefix/distance) the way an operator would have to
    seen, unique = set(), []
    for item in items:
        key = (item["hosts"][0], item["prefix"], item["distance"])
        if key not in seen:
            seen.add(key)
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
        ws = Workspace(tmp_path / "inventory", ROOT / "intents", ROOT / "templates")
        if SAFE_TEXT_RE.fullmatch(text) is None:
            assert not ws.validate().ok
            return
        conf = ws.render("r4")["r4"]["frr.conf"]
        reference = Workspace(ROOT / "inventory", ROOT / "intents", ROOT / "templates").render("r4")
        assert len(conf.splitlines()) == len(reference["r4"]["frr.conf"].splitlines())
        assert f" description {text}\n" in conf
