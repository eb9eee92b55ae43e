"""Per-device leases (holder, pid, actor, expiry), taken before prepare: runs that touch the
same device never interleave, whichever process they come from. A lease held by a process of
this machine that is gone, or one past its expiry, is stale and taken over.

Also what names a process across machines (this_process, process_alive: a pid reused by
another process does not match), which runs record too, and how long leases and silent runs
live (LEASE_TTL, STALE_AFTER).
"""

from __future__ import annotations

import os
import secrets
import socket
import time

from netorch.errors import DeviceBusy
from netorch.store.records import Lease
from netorch.store.schema import StoreBase

#: a lease lives this long unless its holder renews it (the engine renews every third of it)
LEASE_TTL = 60.0
#: a run whose heartbeat is older than this (and whose process cannot be checked) is interrupted
STALE_AFTER = 3 * LEASE_TTL


def _start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if not fields or fields[0] == "Z":
        return None
    return fields[19] if len(fields) > 19 else ""


def this_process() -> str:
    """machine:pid:start-time of this process: a pid reused by another process does not match."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_time(pid) or ''}"


def process_alive(token: str) -> bool | None:
    """Whether the process a token names still runs; None when it runs on another machine."""
    machine, _, rest = token.partition(":")
    pid_text, _, start = rest.partition(":")
    if machine != socket.gethostname():
        return None
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    current = _start_time(pid)
    return current is not None and (not start or current == start)


class LeasesMixin(StoreBase):
    """The Store's leases: acquire (all or none), acquire_free (those free), renew, release."""

    def acquire(self, hosts: list[str], run_id: int, actor: str, kind: str, wait: float = 0.0,
                ttl: float = LEASE_TTL, holder: str | None = None) -> str:
        """Take a lease on every host, all or none, waiting up to `wait` seconds for busy ones;
        DeviceBusy names the first busy host, its run, actor and since when. Returns the holder."""
        holder = holder or f"{kind}{run_id or ''}:{this_process()}:{secrets.token_hex(4)}"
        deadline = time.monotonic() + max(0.0, wait)
        while True:
            busy = self._try_acquire(sorted(set(hosts)), run_id, holder, actor, kind, ttl)
            if busy is None:
                return holder
            if time.monotonic() >= deadline:
                since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(busy.acquired_at))
                where = f"run {busy.run_id}" if busy.run_id else f"a {busy.kind}"
                raise DeviceBusy(busy.host, busy.run_id, busy.actor, busy.kind,
                                 f"{busy.host} is busy in {where} ({busy.kind} by {busy.actor}, since {since})")
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))

    def acquire_free(self, hosts: list[str], run_id: int, actor: str, kind: str, wait: float = 0.0,
                     ttl: float = LEASE_TTL) -> tuple[str, dict[str, DeviceBusy]]:
        """Take a lease on every host that is free (waiting up to `wait` seconds for busy ones);
        returns the holder and, for each host still busy, why. For runs that can do without some
        devices (a drift check reports a busy device as skipped)."""
        holder = f"{kind}{run_id or ''}:{this_process()}:{secrets.token_hex(4)}"
        todo = sorted(set(hosts))
        busy: dict[str, DeviceBusy] = {}
        deadline = time.monotonic() + max(0.0, wait)
        while True:
            busy = {}
            for host in todo:
                try:
                    self.acquire([host], run_id, actor, kind, wait=0.0, ttl=ttl, holder=holder)
                except DeviceBusy as exc:
                    busy[host] = exc
            if not busy or time.monotonic() >= deadline:
                return holder, busy
            todo = sorted(busy)
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))

    def _try_acquire(self, hosts: list[str], run_id: int, holder: str, actor: str, kind: str,
                     ttl: float) -> Lease | None:
        now = time.time()
        with self._tx() as db:
            if not db.in_transaction:
                db.execute("BEGIN IMMEDIATE")  # read and write the leases atomically across processes
            placeholders = ",".join("?" for _ in hosts)
            rows = db.execute(f"SELECT host, run_id, holder, process, actor, kind, acquired_at, expires_at"  # noqa: S608
                              f" FROM leases WHERE host IN ({placeholders})", hosts).fetchall() if hosts else []
            for row in rows:
                lease = Lease(*row)
                if lease.holder == holder:
                    continue
                if lease.expires_at > now and process_alive(lease.process) is not False:
                    return lease
            for host in hosts:
                db.execute("INSERT OR REPLACE INTO leases (host, run_id, holder, process, actor, kind, acquired_at,"
                           " expires_at) VALUES (?,?,?,?,?,?,?,?)",
                           (host, run_id, holder, this_process(), actor, kind, now, now + ttl))
        return None

    def renew(self, holder: str, ttl: float = LEASE_TTL) -> int:
        with self._tx() as db:
            cur = db.execute("UPDATE leases SET expires_at=? WHERE holder=?", (time.time() + ttl, holder))
            return cur.rowcount

    def release(self, holder: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM leases WHERE holder=?", (holder,))

    def leases(self) -> list[Lease]:
        with self._lock:
            rows = self._db.execute("SELECT host, run_id, holder, process, actor, kind, acquired_at, expires_at"
                                    " FROM leases ORDER BY host").fetchall()
        return [Lease(*r) for r in rows]
