"""What a lab is and how it is doing: the state file (<run_dir>/lab.json) and status."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from netorch.errors import LabError
from netorch.lab.topology import Topology

STATE_FILE = "lab.json"
DEFAULT_RUN_DIR = Path("/run/netorch-lab")

NodeKind = Literal["router", "host", "netconf"]


def default_run_dir() -> Path:
    """$NETORCH_LAB_DIR, else /run/netorch-lab."""
    return Path(os.environ.get("NETORCH_LAB_DIR") or DEFAULT_RUN_DIR)


class LabState(BaseModel):
    """Persisted in <run_dir>/lab.json as soon as `up` starts touching the system."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_dir: Path
    prefix: str
    topology: Topology
    digest: str
    phase: Literal["starting", "up"] = "starting"
    created_dirs: tuple[str, ...] = ()  # host dirs (and files) that `up` created (/run/sshd, /run/lldpd.socket)
    lldp: bool = False  # every router runs lldpd on its links to other routers (lldpd was installed)
    users: dict[str, int] = Field(default_factory=dict)  # lab-private users -> uid
    up_seconds: float | None = None

    def namespace(self, node: str) -> str:
        return f"{self.prefix}-{node}"

    @property
    def bridge(self) -> str:
        return f"{self.prefix}-br"

    def node_dir(self, node: str) -> Path:
        return self.run_dir / "nodes" / node

    def kind(self, node: str) -> NodeKind:
        if node in self.topology.routers:
            return "router"
        if node in self.topology.hosts:
            return "host"
        if node in self.topology.netconf:
            return "netconf"
        raise LabError(f"no node {node!r} in this lab")

    def nodes(self) -> list[str]:
        t = self.topology
        return [*t.routers, *t.netconf, *t.hosts]

    @classmethod
    def load(cls, run_dir: Path) -> LabState | None:
        path = run_dir / STATE_FILE
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:  # the run dir is a file, or unreadable
            raise LabError(f"{path}: cannot read lab state: {exc.strerror or exc}") from None
        try:
            return cls.model_validate_json(text)
        except ValueError as exc:
            raise LabError(f"{path}: unreadable lab state ({exc.__class__.__name__})") from None

    def save(self) -> None:
        path = self.run_dir / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.model_dump_json(indent=2), encoding="utf-8")
        tmp.replace(path)


class NodeStatus(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    kind: NodeKind
    namespace: str
    mgmt: str | None = None
    port: int | None = None
    processes: dict[str, int | None] = Field(default_factory=dict)  # name -> live pid or None
    healthy: bool


class LabStatus(BaseModel):
    """The answer of up() and status()."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_dir: Path
    state: Literal["up", "degraded", "down"]
    prefix: str | None = None
    bridge: str | None = None
    inventory_dir: Path | None = None
    credentials_file: Path | None = None
    known_hosts_file: Path | None = None
    up_seconds: float | None = None
    nodes: list[NodeStatus] = Field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return self.state == "up"
