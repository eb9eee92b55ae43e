"""The lab's devices each have their own SSH host key, all in the lab's known_hosts, which its
credentials file and inventory name: netorch talks to the lab with host key checking on."""

from __future__ import annotations

import socket
from pathlib import Path

import paramiko
import pytest
import yaml

from netorch.lab import LabStatus
from netorch.transport.hostkeys import KnownHosts, lookup_name

pytestmark = pytest.mark.lab


def presented_key(address: str, port: int) -> paramiko.PKey:
    """The host key a server presents (key exchange only: no authentication attempted)."""
    sock = socket.create_connection((address, port), timeout=10)
    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=10)
        return transport.get_remote_server_key()
    finally:
        transport.close()


def test_every_device_has_its_own_host_key_in_the_labs_known_hosts(lab: LabStatus) -> None:
    assert lab.known_hosts_file is not None and lab.credentials_file is not None
    assert lab.known_hosts_file.stat().st_mode & 0o777 == 0o644
    creds = yaml.safe_load(lab.credentials_file.read_text())
    assert creds["known_hosts"] == str(lab.known_hosts_file)
    assert lab.inventory_dir is not None
    defaults = yaml.safe_load((lab.inventory_dir / "defaults.yaml").read_text())
    assert defaults["data"]["known_hosts"] == str(lab.known_hosts_file)
    known = KnownHosts.of(lab.known_hosts_file)
    devices = [n for n in lab.nodes if n.kind in ("router", "netconf")]
    assert any(n.kind == "netconf" for n in devices) and len(devices) >= 2
    seen: dict[str, str] = {}
    for node in devices:
        assert node.mgmt is not None and node.port is not None
        address = node.mgmt.split("/")[0]
        key = presented_key(address, node.port)
        name = lookup_name(address, node.port)
        assert known.keys_for(name) == {key.get_name(): key}, node.name
        assert key.get_base64() not in seen, f"{node.name} shares its host key with {seen.get(key.get_base64())}"
        seen[key.get_base64()] = node.name
        private = Path(lab.run_dir / "nodes" / node.name / "ssh_host_ed25519_key")
        assert private.stat().st_mode & 0o077 == 0
    lines = [ln for ln in lab.known_hosts_file.read_text().splitlines() if ln.strip()]
    assert len(lines) == len(devices)
    assert any(ln.startswith("[") and "]:830 " in ln for ln in lines)  # NETCONF: [addr]:port
