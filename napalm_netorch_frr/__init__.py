"""netorch's NAPALM driver for FRR routers (FRR + nftables over SSH), where NAPALM looks for a
community driver: `napalm.get_network_driver("netorch_frr")` imports this module and takes the
NetworkDriver subclass it finds here. The driver itself is netorch.transport.napalm_frr.driver."""

from netorch.transport.napalm_frr.driver import FrrDriver

__all__ = ["FrrDriver"]
