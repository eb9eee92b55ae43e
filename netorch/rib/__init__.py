"""The one model of what the network's control plane will do: per router and VRF, the routes it
will compute from the desired state (connected, static, OSPF, BGP), the one it selects and the
next hops packets take. Read by validate, verify, compile (expected routes), apply's post-checks
and drift, so that they cannot disagree."""

from netorch.rib.plane import ControlPlane
from netorch.rib.types import DISTANCE, NextHop, Rib, Route

__all__ = ["DISTANCE", "ControlPlane", "NextHop", "Rib", "Route"]
