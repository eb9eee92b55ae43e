"""The per-device work of every phase, wherever it runs (this process, or a worker).

A DeviceWork keeps the sessions it opened (warm between runs) and, for each device in a
transaction, what only the side that holds the session knows: the configuration the device
had before the run and the deadline of its confirmed commit's timer. Each action takes a
DeviceRequest and returns a DeviceResult; nothing raises out of it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nornir.core.task import Task

from netorch.device.messages import DeviceRequest, DeviceResult
from netorch.device.session import drop_session, open_session
from netorch.errors import ConfirmExpired, DeviceRejected, DeviceUnreachable, NetorchError, TransportError
from netorch.protocols.state import has_protocols
from netorch.protocols.state import problems as protocol_problems
from netorch.transport.base import DeviceJob, DeviceSession

#: the least time left on a device's timer before it is re-armed
MIN_MARGIN = 5.0


def error_text(exc: BaseException) -> str:
    if isinstance(exc, TransportError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


def classify(job: DeviceJob, live: dict[str, str], before: dict[str, str]) -> str:
    """new when the live config says what the candidate says (by meaning), old when it says
    what the device had before the run, diverged otherwise."""
    from netorch.device.drift import compare_artifact

    mgmt = (job.desired.mgmt_interface,) if job.desired.mgmt_interface else ()
    names = [n for n in job.artifacts if n in live]
    if not any(compare_artifact(job.platform, n, live[n], job.artifacts[n], mgmt) for n in names):
        return "new"
    if before and all(n in before for n in names) and \
            not any(compare_artifact(job.platform, n, live[n], before[n], mgmt) for n in names):
        return "old"
    return "diverged"


def _phase_failure(exc: Exception, what: str, checks: list[str]) -> dict[str, Any]:
    """A verify or confirm that raised, as its result: a fired revert timer is `reverted`, a lost
    device `unreachable`, anything else `failed`; the checks made so far are kept."""
    if isinstance(exc, ConfirmExpired):
        return {"status": "reverted", "error": exc.message, "checks": tuple(checks)}
    if isinstance(exc, DeviceUnreachable):
        return {"status": "unreachable", "error": f"{what}: {error_text(exc)}", "checks": tuple(checks)}
    return {"status": "failed", "error": f"{what} failed: {error_text(exc)}", "checks": tuple(checks)}


@dataclass
class _Tx:
    """What the session's side knows of the device's transaction."""

    before: dict[str, str]
    deadline: float | None = None
    margin: float = MIN_MARGIN
    #: the run that opened it, and whether that run is done with the device (confirmed, rolled
    #: back, discarded)
    run: str = ""
    closed: bool = False


class DeviceWork:
    """Runs actions on devices through the sessions it keeps (a dict shared with its owner)."""

    def __init__(self, sessions: dict[str, DeviceSession] | None = None, worker: str = "") -> None:
        self.sessions: dict[str, DeviceSession] = {} if sessions is None else sessions
        self.worker = worker
        self.tx: dict[str, _Tx] = {}
        self.lock = threading.Lock()

    def handle(self, task: Task, request: DeviceRequest) -> DeviceResult:
        start = time.perf_counter()
        handler: Callable[[Task, DeviceRequest], dict[str, Any]] = getattr(self, f"_{request.action}")
        try:
            fields = handler(task, request)
        except Exception as exc:  # a handler's own failure is the device's failure, never the executor's
            fields = {"status": "failed", "error": error_text(exc)}
        return DeviceResult(host=request.host, action=request.action, duration=time.perf_counter() - start,
                            worker=self.worker, **fields)

    def _session(self, host: str) -> DeviceSession:
        session = self.sessions.get(host)
        if session is None:
            raise DeviceUnreachable(host, "no open session (the device was not prepared here)")
        return session

    def _journal(self, host: str) -> dict[str, Any]:
        session = self.sessions.get(host)
        return session.journal_data() if session is not None else {}

    # -- prepare ------------------------------------------------------------------------------
    def _prepare(self, task: Task, req: DeviceRequest) -> dict[str, Any]:
        from netorch.plans import fingerprint

        assert req.job is not None
        job = req.job.job()
        earlier = self.tx.pop(job.host, None)
        if earlier is not None and earlier.deadline is not None:
            # an earlier transaction left a commit unconfirmed here (its controller went away): that
            # session's state is the device's timer's business now; start from a new connection
            drop_session(task, job, self.sessions, self.lock)
        try:
            session = open_session(task, job, self.sessions, self.lock)
            session.load()
            diff = session.diff()
            before = session.before()
            self.tx[job.host] = _Tx(before, run=req.run)
            fp = fingerprint(before)
            out: dict[str, Any] = {"status": "changes" if diff else "unchanged", "diff": diff, "opened": True,
                                   "fingerprint": fp, "journal": session.journal_data()}
            if req.expected is not None and fp != req.expected:
                out.update(status="failed", error="stale plan: the live configuration changed since the plan was "
                                                  "made (make a new plan)")
            return out
        except DeviceUnreachable as exc:
            return {"status": "unreachable", "error": error_text(exc), "opened": job.host in self.sessions}
        except (DeviceRejected, TransportError, NetorchError) as exc:
            return {"status": "failed", "error": error_text(exc), "opened": job.host in self.sessions}

    def _discard(self, task: Task, req: DeviceRequest) -> dict[str, Any]:
        self._session(req.host).discard()
        self._close_tx(req.host)
        return {}

    def _close_tx(self, host: str) -> None:
        tx = self.tx.get(host)
        if tx is not None:
            tx.deadline = None
            tx.closed = True

    def open_runs(self) -> dict[str, set[str]]:
        """The runs with devices still in a transaction here: run -> hosts."""
        runs: dict[str, set[str]] = {}
        for host, tx in list(self.tx.items()):
            if tx.run and not tx.closed:
                runs.setdefault(tx.run, set()).add(host)
        return runs

    def abandon(self, host: str, close: Callable[[DeviceSession], None]) -> None:
        """Its run is gone (the controller died): close the session, which releases what it held
        on the device (a NETCONF lock); a pending confirmed commit is left to the device's timer."""
        with self.lock:
            session = self.sessions.pop(host, None)
            self.tx.pop(host, None)
        if session is not None:
            with contextlib.suppress(Exception):
                close(session)

    # -- commit -------------------------------------------------------------------------------
    def _commit(self, task: Task, req: DeviceRequest) -> dict[str, Any]:
        session = self._session(req.host)
        mono = time.monotonic()
        try:
            session.commit(revert_in=req.confirm_timeout)
        except DeviceUnreachable as exc:
            return {"status": "unreachable", "error": error_text(exc), "journal": self._journal(req.host)}
        except Exception as exc:
            return {"status": "failed", "error": error_text(exc), "journal": self._journal(req.host)}
        took = time.monotonic() - mono
        tx = self.tx.setdefault(req.host, _Tx(session.before()))
        tx.deadline = mono + req.confirm_timeout
        tx.margin = max(MIN_MARGIN, 2 * took)
        return {"status": "changed", "journal": self._journal(req.host)}

    def _keep_armed(self, host: str, timeout: int, checks: list[str]) -> None:
        """Re-arm the device's timer when less than its margin is left."""
        session = self._session(host)
        tx = self.tx.get(host)
        if not session.native_confirm or tx is None or tx.deadline is None:
            return
        left = tx.deadline - time.monotonic()
        if left >= tx.margin:
            return
        mono = time.monotonic()
        if not session.extend(timeout):
            raise ConfirmExpired(host, f"its confirm timer ({timeout} s) fired before the run could confirm: "
                                 "the device restored its previous configuration")
        tx.deadline = mono + timeout
        checks.append(f"confirm timer re-armed with {left:.1f} s left")

    # -- verify -------------------------------------------------------------------------------
    def _verify(self, task: Task, req: DeviceRequest) -> dict[str, Any]:
        host = req.host
        checks: list[str] = []
        try:
            session = self._session(host)
            # routes reach the RIB asynchronously after a commit: poll until every intended route is
            # there (and the preferred ones active), or the deadline passes (and every intended
            # adjacency, session and protocol route, with its own bound)
            protocols = has_protocols(session.job.desired)
            bound = max(req.verify_timeout, req.protocol_timeout) if protocols else req.verify_timeout
            deadline = time.monotonic() + bound
            while True:
                self._keep_armed(host, req.confirm_timeout, checks)
                try:
                    routes = session.check_routes()
                    problems = [c.detail for c in routes if c.detail]
                    pchecks = session.protocol_checks() if protocols else []
                    problems += protocol_problems(pchecks)
                except (ValueError, KeyError) as exc:  # an answer that does not parse (yet): read again
                    routes, pchecks = [], []
                    problems = [f"the device's state does not read: {type(exc).__name__}: {exc}"]
                if not problems or time.monotonic() >= deadline:
                    break
                time.sleep(0.5 if protocols else 0.1)
            checks += [f"{c.route.prefix} via {c.route.next_hop or c.route.interface}: "
                       f"{'active' if c.active else 'present' if c.present else 'missing'}" for c in routes]
            checks += [f"{c.subject}: {'ok' if c.ok else c.problem}" for c in pchecks]
            # a transport that does not read its commit back itself: the device must now say what
            # the candidate says
            if not session.checks_commit and classify(session.job, session.live_config(), {}) != "new":
                    problems.append("the device does not read back as the candidate after the commit")
            self._keep_armed(host, req.confirm_timeout, checks)
            if problems:
                return {"status": "failed", "error": "post-check failed: " + "; ".join(problems),
                        "checks": tuple(checks), "journal": self._journal(host)}
            return {"checks": tuple(checks), "journal": self._journal(host)}
        except Exception as exc:
            return _phase_failure(exc, "post-check", checks)

    # -- confirm ------------------------------------------------------------------------------
    def _confirm(self, task: Task, req: DeviceRequest) -> dict[str, Any]:
        checks: list[str] = []
        try:
            self._keep_armed(req.host, req.confirm_timeout, checks)
            self._session(req.host).confirm()
        except Exception as exc:
            return _phase_failure(exc, "confirm", checks)
        self._close_tx(req.host)
        return {"checks": tuple(checks), "journal": self._journal(req.host)}

    # -- rollback -----------------------------------------------------------------------------
    def _rollback(self, task: Task, req: DeviceRequest) -> dict[str, Any]:
        try:
            self._session(req.host).rollback()
        except Exception as exc:
            return {"ok": False, "error": error_text(exc)}
        self._close_tx(req.host)
        return {}

    # -- read back ----------------------------------------------------------------------------
    def _read_back(self, task: Task, req: DeviceRequest) -> dict[str, Any]:
        session = self.sessions.get(req.host)
        if session is None:
            return {"final": "unknown"}
        try:
            live = session.live_config()
        except Exception as exc:
            return {"final": "unknown", "checks": (f"read back failed: {error_text(exc)}",)}
        tx = self.tx.get(req.host)
        return {"final": classify(session.job, live, tx.before if tx is not None else {})}

    # -- state, reach -------------------------------------------------------------------------
    def _state(self, task: Task, req: DeviceRequest) -> dict[str, Any]:
        try:
            found = [c.detail for c in self._session(req.host).check_routes() if c.detail]
        except Exception as exc:
            found = [f"state not readable: {error_text(exc)}"]
        return {"problems": tuple(found)}

    def _reach(self, task: Task, req: DeviceRequest) -> dict[str, Any]:
        session = self._session(req.host)
        problems = []
        for probe in req.probes:
            protocol = "tcp" if probe.protocol == "tcp" else "icmp"
            try:
                ok = session.reach(probe.provider, protocol, probe.port, probe.source)
            except Exception as exc:
                ok, detail = False, error_text(exc)
            else:
                detail = f"service {probe.service}: {probe.provider} unreachable from {req.host}"
            if ok is False:
                problems.append(detail)
        return {"problems": tuple(problems)}

    # -- recover ------------------------------------------------------------------------------
    def _recover(self, task: Task, req: DeviceRequest) -> dict[str, Any]:
        """Finish an interrupted run's transaction from its journal data: the device goes back to
        the configuration it had before that run."""
        assert req.job is not None
        job = req.job.job()
        try:
            session = open_session(task, job, self.sessions, self.lock)
            what = session.recover(dict(req.recovery or {}))
        except Exception as exc:
            return {"status": "failed", "final": "unknown", "ok": False, "error": error_text(exc)}
        return {"status": "rolled_back", "final": "old", "detail": what}

    # -- drift --------------------------------------------------------------------------------
    def _drift(self, task: Task, req: DeviceRequest) -> dict[str, Any]:
        from netorch.device.drift import collect

        assert req.job is not None
        job = req.job.job()
        warm = job.host in self.sessions
        drift = collect(job, lambda: open_session(task, job, self.sessions, self.lock),
                        lambda: drop_session(task, job, self.sessions, self.lock), req.show_unmanaged,
                        req.probes, warm)
        return {"drift": drift.model_dump(mode="json")}
