"""Webhook notifications through an outbox in the store.

Every event (a device going into drift or back in sync, an apply finished) is written to the
store's outbox first; a background thread then POSTs the pending events as JSON, oldest first,
one at a time, so the receiver sees them in the order they happened. A delivered event is
marked delivered. A failed one (no connection, a timeout, a status >= 300) is retried with
exponential backoff, the events behind it waiting, until it is delivered or reaches the bound
(`max_attempts` attempts or `max_age` seconds): then it is marked dead and logged once, and the
next one goes. Events still pending when the daemon stops are sent after it starts again. The
outbox is bounded: beyond `max_pending` undelivered events the oldest are dropped (counted).

Each POST carries the event's id (`event_id` in the body, `X-Netorch-Event-Id`), so a receiver
can drop a repeat (an event whose answer was lost is sent again). The signing secret and the
URL's credentials or query are never written to the outbox or to a log: logs name the
receiver by scheme, host and port only. A failing webhook never stops checks."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import httpx

from netorch.daemon.config import Webhook
from netorch.errors import StoreError
from netorch.store import OutboxEvent, Store

log = logging.getLogger("netorch.daemon.webhook")


def receiver_name(url: str) -> str:
    """scheme://host:port of a URL: what a log may say about a receiver (no user, password,
    path or query, any of which may hold a token)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


class Notifier:
    """The outbox's writer (`send`, from any thread) and its sender thread."""

    def __init__(self, webhook: Webhook | None, store: Store) -> None:
        self.webhook = webhook
        self.store = store
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if webhook is None:
            return
        self._key = (webhook.signing_key() or "").encode() or None
        self._where = receiver_name(webhook.url)
        pending = self.counts()["pending"]
        if pending:
            log.info("webhook: %d event(s) from before the restart not yet delivered to %s: sending them in order",
                     pending, self._where)
        self._thread = threading.Thread(target=self._run, name="netorch-webhook", daemon=True)
        self._thread.start()

    def send(self, event: dict[str, Any]) -> None:
        """Write an event to the outbox (the sender delivers it); a no-op without a webhook."""
        if self.webhook is None:
            return
        try:
            _, dropped = self.store.outbox_add(str(event.get("event", "")), event, self.webhook.max_pending)
        except StoreError as exc:
            log.error("webhook: cannot record %s event in the outbox: %s", event.get("event"), exc)
            return
        if dropped:
            log.warning("webhook: outbox full (%d undelivered): dropped the %d oldest event(s)",
                        self.webhook.max_pending, dropped)
        self._wake.set()

    def counts(self) -> dict[str, int]:
        """pending now; delivered, dead and dropped ever (from the store)."""
        return self.store.outbox_counts()

    # -- the sender thread --------------------------------------------------------------------
    def _run(self) -> None:
        assert self.webhook is not None
        hook = self.webhook
        failing = False
        with httpx.Client(timeout=hook.timeout, follow_redirects=False, trust_env=False) as client:
            while not self._stop.is_set():
                self._wake.clear()
                try:
                    item = self.store.outbox_next()
                except Exception as exc:  # the store closed under a stopping daemon, or broke
                    if self._stop.is_set():
                        return
                    log.error("webhook: cannot read the outbox: %s", type(exc).__name__)
                    self._stop.wait(hook.backoff_max)
                    continue
                if item is None:
                    self._wake.wait(60.0)
                    continue
                reason = self._post(client, item)
                attempts = item.attempts + 1
                try:
                    if reason is None:
                        self.store.outbox_attempted(item.id, attempts, "delivered")
                        if failing:
                            log.info("webhook: %s answers again: delivering the pending events", self._where)
                        failing = False
                        continue
                    age = time.time() - item.created_at
                    if attempts >= hook.max_attempts or age >= hook.max_age:
                        self.store.outbox_attempted(item.id, attempts, "dead", reason)
                        log.warning("webhook: giving up on %s event %d%s after %d attempt(s) over %.0fs: %s",
                                    item.event, item.id, _for_host(item), attempts, age, reason)
                        continue
                    self.store.outbox_attempted(item.id, attempts, "pending", reason)
                except Exception as exc:
                    if self._stop.is_set():
                        return
                    log.error("webhook: cannot update the outbox: %s", type(exc).__name__)
                delay = min(hook.backoff * 2 ** (attempts - 1), hook.backoff_max)
                if not failing:
                    log.warning("webhook: %s: %s; events are kept and retried (next in %.1fs)",
                                self._where, reason, delay)
                failing = True
                self._stop.wait(delay)  # new events wait behind this one: the order is kept

    def _post(self, client: httpx.Client, item: OutboxEvent) -> str | None:
        """POST one event; None when delivered, else why not (no secret, no URL in it)."""
        body = json.dumps({**item.payload, "event_id": item.id}, sort_keys=True).encode()
        headers = {"Content-Type": "application/json", "X-Netorch-Event-Id": str(item.id)}
        if self._key is not None:
            headers["X-Netorch-Signature"] = "sha256=" + hmac.new(self._key, body, hashlib.sha256).hexdigest()
        assert self.webhook is not None
        try:
            response = client.post(self.webhook.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return type(exc).__name__
        if response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"

    def close(self) -> None:
        """Stop the sender (an event being sent finishes its attempt); pending events stay."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=(self.webhook.timeout if self.webhook else 1) + 5)


def _for_host(item: OutboxEvent) -> str:
    host = item.payload.get("host")
    return f" for {host}" if isinstance(host, str) else ""
