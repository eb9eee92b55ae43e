"""netorch lab: a real multi-router network on this machine, in Linux namespaces.

    up(topology, run_dir) -> LabStatus      build (idempotent; cleans crash leftovers)
    down(run_dir)                           remove everything the lab created
    status(run_dir) -> LabStatus            what is running now

Helpers for tests and demos: exec_in, ping, tcp_connect, start_listener / listening.
The topology format is documented in netorch.lab.topology and lab/topology.yaml;
how the lab is built (namespaces, users, credentials) in netorch.lab.lifecycle.
"""

from netorch.lab.lifecycle import default_topology_path, down, status, up
from netorch.lab.nodes import (
    Listener,
    exec_in,
    listening,
    node_argv,
    ping,
    start_daemon,
    start_listener,
    tcp_connect,
)
from netorch.lab.state import LabState, LabStatus, NodeStatus, default_run_dir
from netorch.lab.topology import Topology, TopologyError, generate, load_topology

__all__ = [
    "LabState",
    "LabStatus",
    "Listener",
    "NodeStatus",
    "Topology",
    "TopologyError",
    "default_run_dir",
    "default_topology_path",
    "down",
    "exec_in",
    "generate",
    "listening",
    "load_topology",
    "node_argv",
    "ping",
    "start_daemon",
    "start_listener",
    "status",
    "tcp_connect",
    "up",
]
