"""Prometheus metrics of the daemon (its own registry)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class OutboxCollector(Collector):
    """The webhook outbox, read from the store at each scrape (so it is right after a restart)."""

    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self.counts = counts

    def collect(self) -> Iterator[Metric]:
        try:
            counts = self.counts()
        except Exception:  # a closing store: no outbox metrics rather than a failed scrape
            return
        pending = GaugeMetricFamily("netorch_webhook_outbox_pending", "Webhook events not yet delivered")
        pending.add_metric([], counts.get("pending", 0))
        yield pending
        done = CounterMetricFamily("netorch_webhook_events", "Webhook events by outcome: delivered, dead (gave "
                                   "up after retries) or dropped (outbox full)", labels=["state"])
        for state in ("delivered", "dead", "dropped"):
            done.add_metric([state], counts.get(state, 0))
        yield done


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

    def watch_outbox(self, counts: Callable[[], dict[str, int]]) -> None:
        self.registry.register(OutboxCollector(counts))

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))
