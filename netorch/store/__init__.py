"""The store's face: Store and the records, constants and functions its callers use. Code
outside this package imports them from here (``from netorch.store import Store, DeviceRecord,
LEASE_TTL``), never from the modules behind it (which import each other directly).

The local store: runs (apply, plan, drift), per-device results, diffs and the audit trail, in
SQLite by default. Created and migrated automatically; thread-safe. It also keeps each
verification, the webhook outbox, and what makes runs safe across processes: the write-ahead
journal and per-device leases.

Store is one class composed of one part per concern, each in its module:

* schema: the SQL layout (MIGRATIONS), the default path, the connection (StoreBase);
* records: the frozen records the Store takes and returns;
* runs: runs, device results and the write-ahead journal;
* leases: per-device leases, and what names a process;
* revisions: revisions and per-run artifacts, their retention (prune);
* verifications: each verification and its verdict;
* outbox: the webhook outbox.
"""

from __future__ import annotations

from netorch.store.leases import LEASE_TTL, STALE_AFTER, LeasesMixin, process_alive, this_process
from netorch.store.outbox import OUTBOX_KEEP, OutboxMixin
from netorch.store.records import (
    VERDICTS,
    DeviceRecord,
    JournalEntry,
    Lease,
    OutboxEvent,
    RunRecord,
    VerificationRecord,
)
from netorch.store.revisions import DEFAULT_RETENTION, RevisionsMixin
from netorch.store.runs import RunsMixin
from netorch.store.schema import DEFAULT_STORE, MIGRATIONS, ROWID_MAX, default_path
from netorch.store.verifications import VerificationsMixin


class Store(RunsMixin, LeasesMixin, RevisionsMixin, VerificationsMixin, OutboxMixin):
    """The store: ``Store(path)`` opens (creating and migrating) the SQLite database at `path`,
    else default_path(). Its methods come from the parts above; they share one connection."""


__all__ = [
    "DEFAULT_RETENTION",
    "DEFAULT_STORE",
    "LEASE_TTL",
    "MIGRATIONS",
    "OUTBOX_KEEP",
    "ROWID_MAX",
    "STALE_AFTER",
    "VERDICTS",
    "DeviceRecord",
    "JournalEntry",
    "Lease",
    "OutboxEvent",
    "RunRecord",
    "Store",
    "VerificationRecord",
    "default_path",
    "process_alive",
    "this_process",
]
