"""`--inventory` naming a Nornir config file: any registered inventory plugin (SimpleInventory,
a plugin of the test's own, NautobotInventory's hosts completed from a Nautobot API answered
here by fakes), the view built from Nornir's Inventory, and clear errors that name the source."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from nornir.core.inventory import Defaults, Group, Groups, Host, Hosts, Inventory
from nornir.core.plugins.inventory import InventoryPluginRegister, TransformFunctionRegister
from typer.testing import CliRunner

from netorch.cli.app import app
from netorch.credentials import CredentialStore
from netorch.model import nornir_config
from netorch.model.inventory import load_inventory
from netorch.model.nornir_config import RESOLVED_NAME, load_any
from netorch.platforms import Platform
from netorch.service import Workspace
from netorch.transport.nornir_setup import build_nornir

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "netorch" / "templates"


def config(tmp_path: Path, plugin: str, options: dict[str, Any] | None = None, **more: Any) -> Path:
    path = tmp_path / "nornir.yaml"
    section = {"plugin": plugin, "options": options or {}, **more}
    path.write_text(json.dumps({"inventory": section, "runner": {"plugin": "threaded"}}))  # JSON is YAML
    return path


def simple(tmp_path: Path, folder: Path) -> Path:
    return config(tmp_path, "SimpleInventory", {"host_file": str(folder / "hosts.yaml"),
                                                "group_file": str(folder / "groups.yaml"),
                                                "defaults_file": str(folder / "defaults.yaml")})


def messages(path: Path) -> list[str]:
    return [str(p) for p in load_any(path)[1]]


def test_simple_inventory_through_a_config_file_is_the_folder(tmp_path: Path) -> None:
    folder = ROOT / "inventory"
    expected, problems = load_inventory(folder)
    assert expected is not None and problems == []
    view, problems = load_any(simple(tmp_path, folder))
    assert problems == []
    assert view is not None and view.source.endswith("nornir.yaml")
    assert view.hosts == expected.hosts
    assert view.groups == expected.groups
    ws = Workspace(tmp_path / "nornir.yaml", ROOT / "intents", TEMPLATES)
    assert ws.render(None) == Workspace(folder, ROOT / "intents", TEMPLATES).render(None)
    nr = build_nornir(ws.inventory(), ["r1", "nc1"], 2, CredentialStore.per_host({}))
    assert {n: (h.hostname, h.port, h.platform) for n, h in nr.inventory.hosts.items()} == {
        "r1": ("198.18.0.11", None, "frr"), "nc1": ("198.18.0.21", 830, "netconf")}


def test_hosts_yaml_names_its_folder() -> None:
    view, problems = load_any(ROOT / "inventory" / "hosts.yaml")
    assert problems == [] and view is not None and not view.source
    assert "r1" in view.hosts


class OwnPlugin:
    """An inventory plugin of a user's own: hosts with NAPALM platform names, nested groups, data."""

    hosts: ClassVar[dict[str, dict[str, Any]]] = {}

    def __init__(self, site: str = "lab") -> None:
        self.site = site

    def load(self) -> Inventory:
        defaults = Defaults(data={"deploy": False})
        core = Group(name="core", data={"site": self.site}, defaults=defaults)
        edge = Group(name="edge", groups=[core], platform="eos", defaults=defaults)
        groups = Groups({"core": core, "edge": edge})
        hosts = Hosts()
        for name, spec in self.hosts.items():
            hosts[name] = Host(name=name, hostname=spec.get("hostname"), platform=spec.get("platform"),
                               password=spec.get("password"), groups=[groups[g] for g in spec.get("groups", [])],
                               data=spec.get("data", {}), defaults=defaults)
        return Inventory(hosts=hosts, groups=groups, defaults=defaults)


class BrokenPlugin:
    def __init__(self) -> None:
        pass

    def load(self) -> Inventory:
        raise RuntimeError("the source of truth is down")


def add_interfaces(host: Host, description: str = "") -> None:
    host.data["interfaces"] = {"Ethernet1": {"address": "10.9.9.1/24", "description": description}}


@pytest.fixture
def registered() -> Any:
    InventoryPluginRegister.register("OwnPlugin", OwnPlugin)
    InventoryPluginRegister.register("BrokenPlugin", BrokenPlugin)
    TransformFunctionRegister.register("add_interfaces", add_interfaces)
    OwnPlugin.hosts = {
        "sw1": {"hostname": "192.0.2.1", "platform": "ios", "groups": ["core"],
                "data": {"region": "north", "other_tool": {"x": 1}}},
        "sw2": {"groups": ["edge"]},
    }
    yield OwnPlugin
    InventoryPluginRegister.deregister("OwnPlugin")
    InventoryPluginRegister.deregister("BrokenPlugin")
    TransformFunctionRegister.deregister("add_interfaces")


def test_a_plugin_of_ones_own(tmp_path: Path, registered: Any) -> None:
    path = config(tmp_path, "OwnPlugin", {"site": "dc1"}, transform_function="add_interfaces",
                  transform_function_options={"description": "from the transform"})
    view, problems = load_any(path)
    assert problems == [] and view is not None
    sw1, sw2 = view.hosts["sw1"], view.hosts["sw2"]
    assert sw1.platform is Platform.CISCO_IOS  # NAPALM's ios, through lib_mapper
    assert sw2.platform is Platform.ARISTA_EOS  # inherited from the group edge
    assert sw2.hostname == "sw2"  # no hostname: the name
    assert (sw1.groups, sw2.all_groups) == (("core",), ("edge", "core"))
    assert (sw1.data.site, sw1.data.region, sw1.data.deploy) == ("dc1", "north", False)  # group, host, defaults
    assert str(sw1.data.interfaces["Ethernet1"].address) == "10.9.9.1/24"
    assert sw1.data.interfaces["Ethernet1"].description == "from the transform"
    assert view.groups == {"core": (), "edge": ("core",)}
    assert view.select("core") == [sw1, sw2]


def test_problems_name_the_plugin_and_the_host(tmp_path: Path, registered: Any) -> None:
    registered.hosts["sw1"]["platform"] = "vyos"
    registered.hosts["sw2"]["data"] = {"interfaces": {"Ethernet1": {"address": "10.0.0.300/24"}}}
    registered.hosts["sw3"] = {"platform": "ios", "password": "hunter2"}
    found = messages(config(tmp_path, "OwnPlugin"))
    assert any("OwnPlugin host 'sw1'" in m and "[platform] unknown platform 'vyos'" in m for m in found), found
    assert any("OwnPlugin host 'sw2'" in m and "data.interfaces.Ethernet1.address" in m for m in found), found
    assert any("OwnPlugin host 'sw3'" in m and "password" in m for m in found), found
    assert not any("hunter2" in m for m in found)


@pytest.mark.parametrize(("text", "expected"), [
    ("inventory:\n  plugin: NoSuchPlugin\n", "unknown Nornir inventory plugin 'NoSuchPlugin' (registered:"),
    ("inventory:\n  plugin: BrokenPlugin\n", "inventory plugin BrokenPlugin failed: RuntimeError: the source of "
                                             "truth is down"),
    ("inventory:\n  plugin: OwnPlugin\n  options: {colour: red}\n", "inventory plugin OwnPlugin failed: TypeError"),
    ("inventory:\n  plugin: OwnPlugin\n  transform_function: nope\n", "unknown Nornir transform function 'nope'"),
    ("inventory:\n  plugin: OwnPlugin\n  transform_function: add_interfaces\n"
     "  transform_function_options: {colour: red}\n", "transform function add_interfaces failed on host"),
    ("inventory:\n  plugin: NautobotInventory\n  options: {nautobot_url: 'http://x', nautobot_token: abc123}\n",
     "'nautobot_token' looks like a secret"),
    ("inventory:\n  plugin: OwnPlugin\n  option: {}\n", "unknown field 'option'"),
    ("inventory:\n  options: {}\n", "missing inventory plugin name"),
    ("inventory: SimpleInventory\n", "a Nornir config file holds an `inventory` mapping"),
    ("runner: {plugin: threaded}\nrunners: {}\ninventory:\n  plugin: OwnPlugin\n", "unknown section 'runners'"),
    ("inventory: [\n", ""),
])
def test_a_bad_config_file_is_a_clear_error(tmp_path: Path, registered: Any, text: str, expected: str) -> None:
    path = tmp_path / "nornir.yaml"
    path.write_text(text)
    found = messages(path)
    assert found and all(m.startswith(f"{path}:") for m in found), found
    assert any(expected in m for m in found), found
    assert "abc123" not in " ".join(found)
    result = CliRunner().invoke(app, ["--inventory", str(path), "--intents", str(ROOT / "intents"), "validate"])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output and "internal error" not in result.output


class HangingPlugin:
    """A source of truth that never answers (a dropped connection without a timeout)."""

    release = threading.Event()

    def __init__(self) -> None:
        pass

    def load(self) -> Inventory:
        self.release.wait(30)
        raise RuntimeError("released")


def test_a_plugin_that_never_answers_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nornir_config, "PLUGIN_TIMEOUT", 0.3)
    InventoryPluginRegister.register("HangingPlugin", HangingPlugin)
    try:
        found = messages(config(tmp_path, "HangingPlugin"))
    finally:
        HangingPlugin.release.set()
        InventoryPluginRegister.deregister("HangingPlugin")
    assert found == [f"{tmp_path / 'nornir.yaml'}:1: [inventory.plugin] inventory plugin HangingPlugin gave no "
                     "inventory within 0.3 s (is its source of truth reachable?)"]


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    found = messages(tmp_path / "nautobot.yaml")
    assert found == [f"{tmp_path / 'nautobot.yaml'}: inventory not found (a SimpleInventory folder or a Nornir "
                     "config file)"]


def test_the_revision_follows_the_plugins_hosts(tmp_path: Path, registered: Any) -> None:
    path = config(tmp_path, "OwnPlugin")
    first = Workspace(path, ROOT / "intents", TEMPLATES)
    files = first.revision_files()
    assert set(files) == {f"inventory/{RESOLVED_NAME}", "inventory/nornir.yaml"} | {
        k for k in files if k.startswith("intents/")}
    assert json.loads(files[f"inventory/{RESOLVED_NAME}"])["sw1"]["hostname"] == "192.0.2.1"
    registered.hosts["sw1"]["hostname"] = "192.0.2.99"
    assert Workspace(path, ROOT / "intents", TEMPLATES).revision() != first.revision()


def test_a_stored_revision_loads_without_the_plugin(tmp_path: Path) -> None:
    """What `verify --against REV` does: the revision's files in a folder, loaded again; the hosts
    come from what the plugin gave then, the plugin (a Nautobot) is not asked again."""
    live = Workspace(simple(tmp_path, ROOT / "inventory"), ROOT / "intents", TEMPLATES)
    stored = tmp_path / "revision"
    for name, text in live.revision_files().items():
        (stored / name).parent.mkdir(parents=True, exist_ok=True)
        (stored / name).write_text(text)
    (stored / "inventory" / "nornir.yaml").unlink()  # nothing to ask
    again = Workspace(stored / "inventory", stored / "intents", TEMPLATES)
    assert again.inventory().hosts == live.inventory().hosts
    assert again.inventory().groups == live.inventory().groups
    assert again.render(None) == live.render(None)
    assert again.revision_files()[f"inventory/{RESOLVED_NAME}"] == live.revision_files()[f"inventory/{RESOLVED_NAME}"]
    (stored / "inventory" / RESOLVED_NAME).write_text('{"r1": {"name": "r1"}}')
    assert any("not the hosts of a stored revision" in m for m in messages(stored / "inventory"))


# --- NautobotInventory's hosts, completed from a fake of Nautobot's API ---------------------------

def record(url: str = "", **fields: Any) -> SimpleNamespace:
    return SimpleNamespace(url=url, **fields)


class Endpoint:
    def __init__(self, rows: list[SimpleNamespace], key: str) -> None:
        self.rows, self.key, self.calls = rows, key, 0

    def filter(self, **query: list[str]) -> list[SimpleNamespace]:
        self.calls += 1
        ((name, ids),) = query.items()
        assert name == self.key and len(ids) <= 50
        return [r for r in self.rows if str(self.of(r)) in ids]

    def of(self, row: SimpleNamespace) -> str:
        value = getattr(row, {"device": "device", "interface": "interface"}.get(self.key, "id"))
        return str(getattr(value, "id", value))


def fake_nautobot() -> tuple[SimpleNamespace, list[SimpleNamespace]]:
    base = "http://nautobot.test/api"
    region = record(f"{base}/dcim/locations/l2/", id="l2", name="north", parent=record(id="l1"))
    campus = record(f"{base}/dcim/locations/l1/", id="l1", name="campus", parent=None)
    mgmt_ip = record(f"{base}/ipam/ip-addresses/i0/", id="i0", address="198.18.0.11/16")
    devices = [record(f"{base}/dcim/devices/d1/", id="d1", name="r1", primary_ip4=record(id="i0"), primary_ip6=None,
                      location=record(id="l2"), role=record(name="router"),
                      tags=[record(name="lab_core"), record(name="lab_routers")], config_context=None,
                      local_config_context_data={"netorch": {"port": 2222, "transport": "netmiko"}})]
    ifaces = [record(f"{base}/dcim/interfaces/{i}/", id=i, name=n, device=record(id="d1"), mgmt_only=False,
                     description=d, enabled=e)
              for i, n, d, e in (("f0", "eth0", "", True), ("f1", "eth1", "to r2", True), ("f2", "eth2", "", True),
                                 ("f3", "eth3", "", False), ("f9", "lo", "", True))]
    ips = {"i1": "10.0.12.1/30", "i9": "10.255.0.1/32"}
    links = [record(interface=record(id="f0"), ip_address=mgmt_ip)]
    links += [record(interface=record(id=f"f{k[1]}"), ip_address=record(f"{base}/ipam/ip-addresses/{k}/", id=k,
                                                                         address=v)) for k, v in ips.items()]
    api = SimpleNamespace(dcim=SimpleNamespace(interfaces=Endpoint(ifaces, "device"),
                                               locations=Endpoint([region, campus], "id")),
                          ipam=SimpleNamespace(ip_address_to_interface=Endpoint(links, "interface"),
                                               ip_addresses=Endpoint([], "id")))
    for d in devices:
        d.api = api
    return api, devices


class FakeNautobotInventory:
    """What nornir-nautobot's NautobotInventory gives: a host per device, its record in data."""

    devices: ClassVar[list[SimpleNamespace]] = []

    def __init__(self) -> None:
        pass

    def load(self) -> Inventory:
        defaults = Defaults()
        hosts = Hosts({d.name: Host(name=d.name, hostname="198.18.0.11", platform="frr", defaults=defaults,
                                    data={"pynautobot_object": d, "pynautobot_dictionary": {"name": d.name}})
                       for d in self.devices})
        return Inventory(hosts=hosts, groups=Groups(), defaults=defaults)


@pytest.fixture
def nautobot() -> Any:
    api, devices = fake_nautobot()
    FakeNautobotInventory.devices = devices
    InventoryPluginRegister.register("FakeNautobotInventory", FakeNautobotInventory)
    yield api, devices
    InventoryPluginRegister.deregister("FakeNautobotInventory")


def test_nautobot_devices_become_hosts(tmp_path: Path, nautobot: Any) -> None:
    api, _ = nautobot
    view, problems = load_any(config(tmp_path, "FakeNautobotInventory"))
    assert problems == [] and view is not None
    r1 = view.hosts["r1"]
    assert (r1.hostname, r1.port, r1.platform, r1.transport.value) == ("198.18.0.11", 2222, Platform.FRR, "netmiko")
    assert (r1.groups, r1.data.site, r1.data.region, r1.data.mgmt_interface) == (
        ("router", "lab_core", "lab_routers"), "campus", "north", "eth0")
    assert {n: (str(i.address) if i.address else None, i.description, i.enabled)
            for n, i in r1.data.interfaces.items()} == {
        "eth1": ("10.0.12.1/30", "to r2", True), "eth3": (None, None, False), "lo": ("10.255.0.1/32", None, True)}
    assert set(view.groups) == {"router", "lab_core", "lab_routers"}
    assert api.dcim.interfaces.calls == 1 and api.ipam.ip_address_to_interface.calls == 1  # bulk, not per device


def test_nautobot_problems_name_the_object(tmp_path: Path, nautobot: Any) -> None:
    api, devices = nautobot
    api.ipam.ip_address_to_interface.rows[1].ip_address.address = "10.0.12.300/30"
    api.ipam.ip_address_to_interface.rows.append(
        SimpleNamespace(interface=SimpleNamespace(id="f2"), ip_address=SimpleNamespace(id="x1", address="10.1.0.1/24")))
    api.ipam.ip_address_to_interface.rows.append(
        SimpleNamespace(interface=SimpleNamespace(id="f2"), ip_address=SimpleNamespace(id="x2", address="10.1.1.1/24")))
    devices[0].local_config_context_data = {"netorch": {"colour": "red"}}
    found = messages(config(tmp_path, "FakeNautobotInventory"))
    assert any(m.startswith("Nautobot IP address '10.0.12.300/30' (http://nautobot.test/api/ipam/ip-addresses/i1/)")
               for m in found), found
    assert any(m.startswith("Nautobot interface 'r1 eth2' (http://nautobot.test/api/dcim/interfaces/f2/)") and
               "2 IP addresses are assigned (10.1.0.1/24, 10.1.1.1/24)" in m for m in found), found
    assert any(m.startswith("Nautobot device 'r1' (http://nautobot.test/api/dcim/devices/d1/)") and
               "unknown key 'colour'" in m for m in found), found
