"""netorch's NAPALM driver for Linux routers running FRR and nftables ("netorch_frr"): the
driver (driver.FrrDriver) and what it is made of. No re-exports: import from the modules."""
