"""NETCONF sessions: ``NcclientSession``, a transaction on one device through an ncclient Manager,
and ``has_capability``. The devices implement ietf-interfaces, ietf-ip and ietf-routing (RFC 8022)
static routes, plus netorch's own netorch-policy module.

``load`` edits the candidate with ``operation="replace"`` on each subtree netorch owns (see
netorch.transport.netconf.payload), so each ends up exactly as desired, while other interfaces,
other control-plane protocols and other modules stay untouched. Comparisons (``diff``, drift)
are made between canonical XML texts (netorch.configtree.xml): namespaces, list order and
whitespace do not count.

The RPC sequence of one transaction (plan: the first four, then discard-changes + unlock):

    lock(candidate) -> discard-changes -> get-config(running, filtered) -> edit-config(candidate)
    -> commit [confirmed, confirm-timeout, persist] -> unlock(candidate)

No separate ``<validate>``: netconfd (yuma123) silently drops the candidate edits when a
validate precedes the commit, and commit validates anyway.

netconfd quirks this module works around (yuma123 2.13, found on the netorch lab):

* a dirty candidate cannot be locked ("discard-changes needed"), even by the session that
  made it dirty: ``load`` discards and locks again;
* identityref list keys are compared as written: ``<type>static</type>`` and
  ``<type>rt:static</type>`` name two different control-plane-protocol entries for edit-config,
  and a subtree filter only matches the server's own spelling (``rt:static``). netorch writes
  the unprefixed form (as its template does) and filters protocols by name only, checking
  the type on the client;
* ``operation="remove"`` on an absent interface fails ("required value instance not found"
  for the mandatory ``type``) unless the entry also carries ``type``: restore payloads do;
* the confirmed-commit timer only fires after about one second without any request from
  any client: a client that polls faster than once a second postpones the automatic revert
  indefinitely. Poll at intervals of more than a second when waiting for a revert. It counts
  whole seconds: a revert may come up to a second early;
* ``:confirmed-commit:1.1`` with ``<persist>``: the pending commit survives the session and is
  confirmed with ``<persist-id>`` (netorch does so) or cancelled with ``<cancel-commit>``;
  without ``persist`` netconfd reverts at once when the session closes;
* a request that reaches netconfd right behind the client's hello is sometimes never
  answered: ``synchronise`` (netorch.transport.netconf.connection) probes the session before
  the first real request.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from netorch.configtree.xml import POLICY_NS, XNode, canonical_tree, serialize, tree_diff
from netorch.errors import ConfirmExpired, DeviceRejected, DeviceUnreachable, TransportError
from netorch.transport.base import DeviceJob, DeviceSession, RouteCheck, Snapshot
from netorch.transport.netconf.connection import CONNECTION_NAME
from netorch.transport.netconf.errors import RpcFailed, rpc_errors
from netorch.transport.netconf.payload import (
    ROUTING_FILTER,
    Ownership,
    edit_payload,
    filter_xml,
    owned_view,
    ownership,
    restore_payload,
)
from netorch.transport.netconf.routes import route_checks, static_routes

ARTIFACT = "config.xml"

CAP = "urn:ietf:params:netconf:capability:"


def has_capability(capabilities: Iterable[str], name: str) -> bool:
    """Whether a capability is advertised: a short name ("candidate:1.0") or a full URI
    (a module namespace); parameters after "?" are ignored."""
    wanted = name if name.startswith("urn:") else CAP + name
    return any(c.split("?", 1)[0] == wanted for c in capabilities)


class NcclientSession(DeviceSession):
    """A transaction on one NETCONF device through an ncclient Manager (see the module doc).

    `rpc_log` lists the RPCs sent, in order (for measurements and tests)."""

    connection_name: ClassVar[str] = CONNECTION_NAME
    native_confirm = True

    def __init__(self, host: str, connection: Any, job: DeviceJob) -> None:
        super().__init__(host, connection, job)
        self.rpc_log: list[str] = []
        self._locked: list[str] = []
        self._loaded = False
        self._own: Ownership | None = None  # what the current transaction owns (for rollback)
        self._own_cache: tuple[XNode, Ownership] | None = None
        self._before: XNode | None = None  # owned view of running before the commit
        self._state: str | None = None  # None, "pending" (confirmed commit), "committed"
        self._persist_id: str | None = None
        self._caps: list[str] | None = None
        self._desired_cache: tuple[str, XNode] | None = None
        self._next_persist = ""

    # -- plumbing -------------------------------------------------------------------------
    @property
    def persist_id(self) -> str | None:
        """The persist token of the pending confirmed commit, if any."""
        return self._persist_id if self._state == "pending" else None

    def capabilities(self) -> list[str]:
        if self._caps is None:
            try:
                self._caps = [str(c) for c in self.connection.server_capabilities]
            except Exception as exc:
                raise DeviceUnreachable(self.host, f"no NETCONF capabilities: {exc}") from None
        return self._caps

    def _has(self, name: str) -> bool:
        return has_capability(self.capabilities(), name)

    def policy_supported(self) -> bool:
        return any(c.split("?", 1)[0] == POLICY_NS or "module=netorch-policy" in c for c in self.capabilities())

    def _call(self, op: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        from ncclient.operations import OperationError, RPCError, TimeoutExpiredError
        from ncclient.transport.errors import TransportError as NcTransportError

        self.rpc_log.append(op)
        if not getattr(self.connection, "connected", False):
            raise DeviceUnreachable(self.host, f"{op}: the NETCONF session is closed")
        try:
            return fn(*args, **kwargs)
        except RPCError as exc:
            raise RpcFailed(self.host, op, rpc_errors(exc)) from None
        except TimeoutExpiredError:
            timeout = getattr(self.connection, "timeout", "?")
            raise DeviceUnreachable(self.host, f"{op}: no reply within {timeout} s") from None
        except (NcTransportError, OSError) as exc:
            raise DeviceUnreachable(self.host, f"{op}: NETCONF session lost: {exc or type(exc).__name__}") from None
        except OperationError as exc:
            raise TransportError(self.host, f"{op}: {exc}") from None

    def _desired(self) -> XNode:
        """The canonical tree of the job's config.xml (parsed once per artifact text; not mutated)."""
        text = self.job.artifacts.get(ARTIFACT)
        if text is None:
            raise TransportError(self.host, f"the job has no {ARTIFACT} artifact")
        if self._desired_cache is None or self._desired_cache[0] is not text:
            try:
                self._desired_cache = (text, canonical_tree(text))
            except ValueError as exc:
                raise TransportError(self.host, f"{ARTIFACT}: {exc}") from None
        return self._desired_cache[1]

    def _ownership(self, desired: XNode) -> Ownership:
        """What netorch owns for the current job (a warm session may get a new job)."""
        if self._own_cache is None or self._own_cache[0] is not desired:
            self._own_cache = (desired, ownership(desired, self.policy_supported()))
        return self._own_cache[1]

    def _get_config(self, filters: list[str]) -> XNode:
        reply = self._call("get-config", self.connection.get_config, source="running", filter=filters)
        try:
            return canonical_tree(reply.data_xml)
        except ValueError as exc:
            raise TransportError(self.host, f"get-config: the reply is not XML: {exc}") from None

    def _running_owned(self, own: Ownership) -> XNode:
        return owned_view(self._get_config(filter_xml(own)), own)

    def _lock(self, target: str) -> bool:
        """Lock a datastore; True when the candidate had to be discarded to get the lock."""
        try:
            self._call("lock", self.connection.lock, target)
            self._locked.append(target)
            return False
        except RpcFailed as exc:
            first = exc
        sid = next((e.session_id for e in first.errors if e.session_id), "")
        if target == "candidate" and "resource-denied" in first.tags and "discard" in first.text:
            # netconfd: a dirty candidate (uncommitted edits of a session without a lock) cannot be locked
            try:
                self._call("discard-changes", self.connection.discard_changes)
                self._call("lock", self.connection.lock, target)
            except RpcFailed as exc:
                first = exc
                sid = next((e.session_id for e in exc.errors if e.session_id), "")
            else:
                self._locked.append(target)
                return True
        if first.tags & {"lock-denied", "in-use"}:
            held = f" (session-id {sid})" if sid else ""
            raise TransportError(self.host, f"the {target} datastore is locked by another NETCONF session{held}: "
                                 "another client is configuring the device; nothing was changed") from None
        raise TransportError(self.host, f"cannot lock the {target} datastore: {first.text}") from None

    def _release(self) -> None:
        """Unlock whatever this session locked; never raises."""
        locked, self._locked = self._locked, []
        for target in reversed(locked):
            with contextlib.suppress(TransportError):
                self._call("unlock", self.connection.unlock, target)

    def _abort(self) -> None:
        """Drop the candidate and release the locks; never raises."""
        if self._locked:
            with contextlib.suppress(TransportError):
                self._call("discard-changes", self.connection.discard_changes)
        self._release()
        self._loaded = False

    # -- DeviceSession --------------------------------------------------------------------
    def load(self) -> None:
        """lock(candidate) [+ running where it is writable], discard-changes, edit-config
        (replace on every owned subtree, rollback-on-error). On rpc-error: discard, unlock,
        DeviceRejected with the device's error message and path."""
        if self._locked:
            self._abort()
        self._loaded, self._before, self._state, self._persist_id, self._own = False, None, None, None, None
        # known before the commit, so that the journal has it even if the controller dies during it
        self._next_persist = f"netorch-{secrets.token_hex(8)}"
        if not self._has("candidate:1.0"):
            raise TransportError(self.host, "the device has no candidate datastore (:candidate): "
                                 "netorch needs it for transactional changes")
        desired = self._desired()
        own = self._own = self._ownership(desired)
        if desired.child("policy", POLICY_NS) is not None and not self.policy_supported():
            raise DeviceRejected(self.host, f"the device does not implement the netorch-policy YANG module "
                                 f"({POLICY_NS}), needed for its domain filters: load "
                                 "netorch/templates/netconf/netorch-policy.yang on the device")
        discarded = self._lock("candidate")
        try:
            if self._has("writable-running:1.0"):
                self._lock("running")
            if not discarded:
                self._call("discard-changes", self.connection.discard_changes)
            options = {"error_option": "rollback-on-error"} if self._has("rollback-on-error:1.0") else {}
            # the owned running view first: entries other clients spelled differently go too
            # (it is also the restore point of commit(), and what diff() compares: read once)
            live = self._running_owned(own)
            self._call("edit-config", self.connection.edit_config, target="candidate",
                       config=edit_payload(desired, own, live), **options)
            self._before = live
        except RpcFailed as exc:
            self._abort()
            raise DeviceRejected(self.host, f"{exc.op} rejected: {exc.text}") from None
        except TransportError:
            self._abort()
            raise
        self._loaded = True

    def diff(self) -> str:
        """Running (what netorch owns, one filtered get-config) against the desired config,
        both canonical: a unified diff, '' when they are the same. Works without load();
        after load() the running view is kept as the restore point of commit()."""
        desired = self._desired()
        if self._loaded and self._before is not None:
            running = self._before
        else:
            running = self._running_owned(self._own if self._loaded and self._own else self._ownership(desired))
        if self._loaded:
            self._before = running
        return tree_diff(running, desired, f"{self.host}:running", f"{self.host}:candidate")

    def commit(self, revert_in: int | None = None) -> None:
        """commit, or with revert_in a confirmed commit (confirm-timeout, persist when the device
        has :confirmed-commit:1.1) that netconfd reverts by itself unless confirm() comes first.
        No separate validate. A plain commit unlocks; a confirmed one keeps the candidate lock until
        confirm()/rollback()/discard(), so that nobody commits on top of an unconfirmed change."""
        if not self._loaded or self._own is None:
            raise TransportError(self.host, "commit without a loaded candidate (call load() first)")
        if self._before is None:
            self._before = self._running_owned(self._own)
        try:
            if revert_in:
                if not self._has("confirmed-commit:1.0") and not self._has("confirmed-commit:1.1"):
                    raise TransportError(self.host, "the device does not support confirmed commits")
                options: dict[str, Any] = {"confirmed": True, "timeout": str(int(revert_in))}
                persist = None
                if self._has("confirmed-commit:1.1"):
                    persist = self._next_persist
                    options["persist"] = persist
                self._call("commit", self.connection.commit, **options)
                self._state, self._persist_id = "pending", persist
            else:
                self._call("commit", self.connection.commit)
                self._state = "committed"
        except RpcFailed as exc:
            self._abort()
            raise DeviceRejected(self.host, f"commit rejected: {exc.text}; running is unchanged") from None
        except TransportError:
            self._abort()
            raise
        self._loaded = False
        if self._state == "committed":
            self._release()

    def confirm(self) -> None:
        """Confirm a pending confirmed commit (a commit with its persist-id), then unlock.
        TransportError when nothing is pending any more: the device has reverted it."""
        if self._state != "pending":
            return
        try:
            if self._persist_id:
                self._call("commit", self.connection.commit, persist_id=self._persist_id)
            else:
                self._call("commit", self.connection.commit)
        except RpcFailed as exc:
            self._state = None
            self._release()
            raise ConfirmExpired(self.host, f"confirm failed: {exc.text}: the confirmed commit is not pending "
                                 "any more (its confirm timeout passed and the device reverted it)") from None
        self._state = "committed"
        self._release()

    def extend(self, revert_in: int) -> bool:
        """A follow-up confirmed commit (RFC 6241 8.4.5.1) restarts the device's timer; False when
        nothing is pending any more (the device reverted)."""
        if self._state != "pending":
            return self._state == "committed"
        options: dict[str, Any] = {"confirmed": True, "timeout": str(int(revert_in))}
        if self._persist_id:
            options["persist_id"] = self._persist_id
        try:
            self._call("commit", self.connection.commit, **options)
        except RpcFailed:
            self._state = None
            self._release()
            return False
        return True

    def before(self) -> dict[str, str]:
        return {ARTIFACT: serialize(self._before)} if self._before is not None else {}

    def journal_data(self) -> dict[str, Any]:
        persist = self._persist_id or (self._next_persist if self._has("confirmed-commit:1.1") else None)
        return {"persist_id": persist, "before": serialize(self._before) if self._before is not None else None}

    def recover(self, data: dict[str, Any]) -> str:
        """Finish another process's transaction: cancel its confirmed commit while it is pending
        (its persist id), else put the owned subtrees back as they were before it."""
        persist = data.get("persist_id")
        before_text = data.get("before")
        if persist:
            try:
                self._call("cancel-commit", self.connection.cancel_commit, persist_id=str(persist))
                return "cancelled the pending confirmed commit"
            except RpcFailed:
                pass  # not pending any more: the device reverted it, or it was confirmed
        if not before_text:
            return "nothing to restore (no commit recorded)"
        desired = self._desired()
        own = self._ownership(desired)
        before = canonical_tree(str(before_text))
        if serialize(self._running_owned(own)) == serialize(before):
            return "already as before the run"
        self._restore(before, own)
        self._release()
        return "restored the configuration from before the run"

    def rollback(self) -> None:
        """Undo the last commit: cancel-commit while a confirmed commit is pending; after a
        commit that is final, put the owned subtrees back as they were before it
        (lock, discard-changes, edit-config replace/remove, commit, unlock). Otherwise discard."""
        state, self._state = self._state, None
        own = self._own
        if state == "pending":
            self._cancel_commit()
        elif state == "committed" and own is not None and self._before is not None:
            self._restore(self._before, own)
        else:
            self.discard()
            return
        self._release()

    def _cancel_commit(self) -> None:
        options = {"persist_id": self._persist_id} if self._persist_id else {}
        try:
            self._call("cancel-commit", self.connection.cancel_commit, **options)
        except RpcFailed as exc:
            # nothing pending any more: fine if the device already reverted by itself
            if self._own is None or self._before is None:
                raise TransportError(self.host, f"cancel-commit failed: {exc.text}") from None
            if serialize(self._running_owned(self._own)) != serialize(self._before):
                self._release()
                raise TransportError(self.host, f"cancel-commit failed ({exc.text}) and running is not "
                                     "the configuration from before the commit") from None

    def _restore(self, before: XNode, own: Ownership) -> None:
        payload = restore_payload(before, self._desired(), own)
        if "candidate" not in self._locked:
            self._lock("candidate")
        try:
            self._call("discard-changes", self.connection.discard_changes)
            self._call("edit-config", self.connection.edit_config, target="candidate", config=payload)
            self._call("commit", self.connection.commit)
        except TransportError as exc:
            self._abort()
            detail = exc.text if isinstance(exc, RpcFailed) else exc.message
            raise TransportError(self.host, f"rollback failed: {detail}") from None

    def discard(self) -> None:
        """discard-changes and unlock; never raises (a dead session just forgets its state).
        A pending confirmed commit stays pending: the device reverts it at its timeout."""
        try:
            self._abort()
        except Exception:  # discard is best effort by contract
            self._locked = []
        self._loaded = False

    def live_config(self) -> dict[str, str]:
        """{"config.xml": canonical XML of the owned subtrees of running}."""
        return {ARTIFACT: serialize(self._running_owned(self._ownership(self._desired())))}

    def check_routes(self) -> list[RouteCheck]:
        """The intended routes against the static routes of running (all static protocols);
        present = configured, active = present (see route_checks)."""
        routing = self._get_config([ROUTING_FILTER])
        return route_checks(self.job.desired.routes, static_routes(routing))

    def snapshot(self) -> Snapshot:
        """Live config and route checks from one get-config."""
        own = self._ownership(self._desired())
        data = self._get_config(filter_xml(own, all_protocols=True))
        checks = route_checks(self.job.desired.routes, static_routes(data))
        return Snapshot({ARTIFACT: serialize(owned_view(data, own))}, checks or None, None)
