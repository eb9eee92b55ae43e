"""Prometheus metrics of the daemon (its own registry)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.drift = Gauge("netorch_device_drift", "Drift status per device: 0 in sync, 1 drift, -1 unreachable "
                           "or error", ["host"], registry=self.registry)
        self.run_duration = Histogram("netorch_run_duration_seconds", "Duration of runs", ["kind"],
                                      registry=self.registry,
                                      buckets=(0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300))
        self.runs = Counter("netorch_runs", "Runs by kind and outcome", ["kind", "status"], registry=self.registry)
        self.device_errors = Counter("netorch_device_errors", "Device errors by host and kind", ["host", "kind"],
                                     registry=self.registry)
        self.last_run = Gauge("netorch_last_run_timestamp_seconds", "When the last run of a kind ended", ["kind"],
                              registry=self.registry)
        self.skipped = Counter("netorch_scheduled_runs_skipped", "Scheduled runs skipped because devices were "
                               "busy", ["schedule"], registry=self.registry)

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))
