"""Webhook notifications: a POST (JSON) per drift transition, from a background thread,
with a timeout and retries. A failing webhook is logged and never stops checks."""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

import httpx

from netorch.daemon.config import Webhook

log = logging.getLogger("netorch.daemon.webhook")


class Notifier:
    def __init__(self, webhook: Webhook | None) -> None:
        self.webhook = webhook
        self.sent = 0
        self.failed = 0
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=10_000)
        self._thread: threading.Thread | None = None
        if webhook is not None:
            self._thread = threading.Thread(target=self._run, name="netorch-webhook", daemon=True)
            self._thread.start()

    def send(self, event: dict[str, Any]) -> None:
        if self.webhook is None:
            return
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            log.warning("webhook queue full: dropping %s event for %s", event.get("event"), event.get("host"))

    def _run(self) -> None:
        assert self.webhook is not None
        hook = self.webhook
        with httpx.Client(timeout=hook.timeout, follow_redirects=False) as client:
            while True:
                event = self._queue.get()
                if event is None:
                    return
                for attempt in range(hook.retries + 1):
                    try:
                        response = client.post(hook.url, json=event)
                        if response.status_code < 300:
                            self.sent += 1
                            break
                        reason = f"HTTP {response.status_code}"
                    except httpx.HTTPError as exc:
                        reason = type(exc).__name__
                    if attempt == hook.retries:
                        self.failed += 1
                        log.warning("webhook: giving up on %s event for %s after %d attempt(s): %s",
                                    event.get("event"), event.get("host"), attempt + 1, reason)
                    else:
                        time.sleep(min(0.5 * 2**attempt, 5.0))

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=2 * (self.webhook.timeout if self.webhook else 1))
