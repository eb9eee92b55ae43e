"""Executors: where the per-device work of each phase runs (netorch.executor.base is the seam,
netorch.executor.registry names them, netorch.executor.nornir is the Nornir plumbing they share)."""
