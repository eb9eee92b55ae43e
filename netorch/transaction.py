"""One apply as a transaction over many devices, each ending in a state read back from it.

A device moves through

    prepare -> commit -> verify -> confirm      (or -> rollback)

and the run's write-ahead journal (netorch.store) records its phase before the device
enters it, so that a run whose process dies is visible and `netorch recover` can finish it.
Devices with a revert timer of their own (FRR through netorch's driver, NETCONF) always
commit confirmed: if the controller disappears they revert by themselves. The controller
tracks each device's deadline and re-arms the timer when verify would run past it; a
device whose timer fired anyway has reverted, and the run rolls back everywhere.

After confirm or rollback every device that was touched is read back and compared with
the candidate and with the configuration it had before, by meaning: its final state is
new, old, diverged (readable, neither) or unknown (not readable). The run's message and
exit code follow from those states, never from what the controller intended.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from nornir.core import Nornir
from nornir.core.task import Task

from netorch.errors import ConfirmExpired, DeviceUnreachable, StoreError, TransportError
from netorch.protocols.state import has_protocols
from netorch.protocols.state import problems as protocol_problems
from netorch.store import LEASE_TTL, Store
from netorch.transport.base import DeviceJob, DeviceSession

if TYPE_CHECKING:
    from netorch.engine import DeviceOutcome, ProgressFn

FinalState = Literal["new", "old", "diverged", "unknown"]

#: the confirm timeout of devices that revert by themselves, when the run names none
DEFAULT_CONFIRM_TIMEOUT = 120
#: the least time left on a device's timer before the controller re-arms it
MIN_MARGIN = 5.0
#: how long verify waits for a device's protocols (adjacencies, sessions, routes) to converge;
#: only for devices with protocol intents (the others wait verify_timeout)
PROTOCOL_CONVERGENCE_TIMEOUT = 60.0


def error_text(exc: BaseException) -> str:
    if isinstance(exc, TransportError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


def classify(job: DeviceJob, live: dict[str, str], before: dict[str, str]) -> FinalState:
    """new when the live config says what the candidate says (by meaning), old when it says
    what the device had before the run, diverged otherwise."""
    from netorch.drift import compare_artifact

    mgmt = (job.desired.mgmt_interface,) if job.desired.mgmt_interface else ()
    names = [n for n in job.artifacts if n in live]
    if not any(compare_artifact(job.platform, n, live[n], job.artifacts[n], mgmt) for n in names):
        return "new"
    if before and all(n in before for n in names) and \
            not any(compare_artifact(job.platform, n, live[n], before[n], mgmt) for n in names):
        return "old"
    return "diverged"


@dataclass
class Heartbeat:
    """Renews the run's leases and heartbeat while it runs; a store that cannot be written
    any more is reported through `failed`, which the transaction checks between phases."""

    store: Store
    run_id: int
    holder: str
    failed: str = ""
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=f"netorch-heartbeat-{self.run_id}", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(LEASE_TTL / 3):
            try:
                self.store.renew(self.holder)
                self.store.heartbeat(self.run_id)
            except StoreError as exc:
                self.failed = str(exc)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


class Transaction:
    """The phases of one apply over the devices of `jobs` (sessions opened by prepare)."""

    def __init__(self, nr: Nornir, jobs: list[DeviceJob], outcomes: dict[str, DeviceOutcome],
                 sessions: dict[str, DeviceSession], store: Store, run_id: int,
                 phase: Callable[[Nornir, str, set[str], Callable[[Task], None], ProgressFn | None], None],
                 progress: ProgressFn | None, confirm_timeout: int, verify_timeout: float,
                 heartbeat: Heartbeat | None = None) -> None:
        self.nr = nr
        self.jobs = {j.host: j for j in jobs}
        self.outcomes = outcomes
        self.sessions = sessions
        self.store = store
        self.run_id = run_id
        self._phase_fn = phase
        self.progress = progress
        self.confirm_timeout = confirm_timeout
        self.verify_timeout = verify_timeout
        self.heartbeat = heartbeat
        self.deadlines: dict[str, float] = {}
        self.margins: dict[str, float] = {}
        self.committed: set[str] = set()  # a commit was attempted: the device may have changed
        self.befores: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    # -- journal ----------------------------------------------------------------------------
    def journal(self, hosts: set[str] | list[str], phase: str, data: dict[str, dict[str, Any]] | None = None) -> None:
        """Record the phase of these devices; raises StoreError (the caller stops the run)."""
        entries = []
        for host in sorted(hosts):
            job = self.jobs[host]
            entries.append((host, job.platform, job.transport.value, phase, (data or {}).get(host)))
        self.store.journal(self.run_id, entries)

    def store_trouble(self) -> str:
        return self.heartbeat.failed if self.heartbeat is not None else ""

    def _run(self, name: str, hosts: set[str], fn: Callable[[Task], None]) -> None:
        self._phase_fn(self.nr, name, hosts, fn, self.progress)

    # -- commit -----------------------------------------------------------------------------
    def native(self, host: str) -> bool:
        return self.sessions[host].native_confirm

    def commit(self, hosts: set[str]) -> None:
        def commit(task: Task) -> None:
            host = task.host.name
            out = self.outcomes[host]
            session = self.sessions[host]
            start = time.perf_counter()
            mono = time.monotonic()
            out.phase = "commit"
            out.sent = out.diff
            with self._lock:
                self.committed.add(host)
            try:
                session.commit(revert_in=self.confirm_timeout)
                out.status = "changed"
                took = time.monotonic() - mono
                self.deadlines[host] = mono + self.confirm_timeout
                self.margins[host] = max(MIN_MARGIN, 2 * took)
            except DeviceUnreachable as exc:
                out.status, out.error = "unreachable", error_text(exc)
            except Exception as exc:
                out.status, out.error = "failed", error_text(exc)
            out.duration += time.perf_counter() - start

        self._run("commit", hosts, commit)

    def _keep_armed(self, host: str, needed: float = 0.0) -> None:
        """Re-arm the device's timer when less than its margin (plus `needed`) is left."""
        if not self.native(host) or host not in self.deadlines:
            return
        left = self.deadlines[host] - time.monotonic()
        if left >= self.margins[host] + needed:
            return
        mono = time.monotonic()
        if not self.sessions[host].extend(self.confirm_timeout):
            raise ConfirmExpired(host, f"its confirm timer ({self.confirm_timeout} s) fired before the "
                                 "run could confirm: the device restored its previous configuration")
        self.deadlines[host] = mono + self.confirm_timeout
        out = self.outcomes[host]
        out.checks.append(f"confirm timer re-armed with {left:.1f} s left")

    # -- verify -----------------------------------------------------------------------------
    def verify(self, hosts: set[str]) -> None:
        def verify(task: Task) -> None:
            host = task.host.name
            out = self.outcomes[host]
            session = self.sessions[host]
            start = time.perf_counter()
            out.phase = "verify"
            try:
                # routes reach the RIB asynchronously after a commit: poll until every intended
                # route is there (and the preferred ones active), or the deadline passes
                # (and every intended adjacency, session and protocol route, with its own bound)
                protocols = has_protocols(self.jobs[host].desired)
                bound = max(self.verify_timeout, PROTOCOL_CONVERGENCE_TIMEOUT) if protocols else self.verify_timeout
                deadline = time.monotonic() + bound
                while True:
                    self._keep_armed(host)
                    checks = session.check_routes()
                    problems = [c.detail for c in checks if c.detail]
                    pchecks = session.protocol_checks() if protocols else []
                    problems += protocol_problems(pchecks)
                    if not problems or time.monotonic() >= deadline:
                        break
                    time.sleep(0.5 if protocols else 0.1)
                out.checks += [f"{c.route.prefix} via {c.route.next_hop or c.route.interface}: "
                               f"{'active' if c.active else 'present' if c.present else 'missing'}" for c in checks]
                out.checks += [f"{c.subject}: {'ok' if c.ok else c.problem}" for c in pchecks]
                if not session.checks_commit:
                    # the transport does not read its commit back itself: the device must now say
                    # what the candidate says
                    state = classify(self.jobs[host], session.live_config(), {})
                    if state != "new":
                        problems.append("the device does not read back as the candidate after the commit")
                self._keep_armed(host)
                if problems:
                    out.status, out.error = "failed", "post-check failed: " + "; ".join(problems)
            except ConfirmExpired as exc:
                out.status, out.error = "reverted", exc.message
            except DeviceUnreachable as exc:
                out.status, out.error = "unreachable", f"post-check: {error_text(exc)}"
            except Exception as exc:
                out.status, out.error = "failed", f"post-check failed: {error_text(exc)}"
            out.duration += time.perf_counter() - start

        self._run("verify", hosts, verify)

    # -- confirm ----------------------------------------------------------------------------
    def confirm(self, hosts: set[str]) -> None:
        def confirm(task: Task) -> None:
            host = task.host.name
            out = self.outcomes[host]
            start = time.perf_counter()
            out.phase = "confirm"
            try:
                self._keep_armed(host)
                self.sessions[host].confirm()
            except ConfirmExpired as exc:
                out.status, out.error = "reverted", exc.message
            except DeviceUnreachable as exc:
                out.status, out.error = "unreachable", f"confirm: {error_text(exc)}"
            except Exception as exc:
                out.status, out.error = "failed", f"confirm failed: {error_text(exc)}"
            out.duration += time.perf_counter() - start

        self._run("confirm", hosts, confirm)

    # -- rollback ---------------------------------------------------------------------------
    def rollback(self, hosts: set[str], reason: str | None) -> None:
        """Restore the configuration the devices had before the run. reason None: the device
        failed itself (its error stays); otherwise it is rolled back because of another one."""
        def rollback(task: Task) -> None:
            host = task.host.name
            out = self.outcomes[host]
            start = time.perf_counter()
            try:
                self.sessions[host].rollback()
                if reason is not None:
                    out.status = "rolled_back"
                    out.error = f"rolled back: {reason}"
                elif out.status != "reverted":
                    out.error += " (rolled back)"
            except Exception as exc:
                if out.status not in ("unreachable",):
                    out.status = "failed"
                out.error = (out.error + "; " if out.error else "") + f"ROLLBACK FAILED: {error_text(exc)}"
            out.duration += time.perf_counter() - start

        self._run("rollback", hosts, rollback)

    # -- read back --------------------------------------------------------------------------
    def read_back(self, hosts: set[str]) -> None:
        """Read every touched device's live config and classify it (new, old, diverged, unknown)."""
        def read(task: Task) -> None:
            host = task.host.name
            out = self.outcomes[host]
            session = self.sessions.get(host)
            start = time.perf_counter()
            if session is None:
                out.final = "unknown"
                return
            try:
                live = session.live_config()
            except Exception as exc:
                out.final = "unknown"
                out.checks.append(f"read back failed: {error_text(exc)}")
            else:
                out.final = classify(self.jobs[host], live, self.befores.get(host, {}))
            out.duration += time.perf_counter() - start

        self._run("read back", hosts, read)

    # -- the whole --------------------------------------------------------------------------
    def failed(self) -> set[str]:
        return {h for h, o in self.outcomes.items() if o.status in ("failed", "unreachable", "reverted")}

    def execute(self, to_commit: set[str], best_effort: bool) -> None:
        """commit, verify, confirm the devices of to_commit; roll back on failure (everywhere,
        unless best_effort); then read every touched device back."""
        self.run_wave(to_commit, all_or_nothing=not best_effort)
        self.finish()

    def run_wave(self, hosts: set[str], all_or_nothing: bool,
                 gate: Callable[[set[str]], dict[str, str]] | None = None) -> set[str]:
        """commit, verify (and the gate: extra health checks, {host: problem}), confirm `hosts`.
        all_or_nothing: any failure rolls every device of the wave back. Otherwise only the
        failed devices go back. Returns the devices of the wave that failed."""
        for host in hosts:
            self.befores[host] = self.sessions[host].before()
        bad = ("failed", "unreachable", "reverted")

        def failed_here() -> set[str]:
            return {h for h in hosts if self.outcomes[h].status in bad}

        try:
            self.journal(hosts, "committing", {h: {"diff": self.outcomes[h].diff,
                                                   "artifacts": self.jobs[h].artifacts,
                                                   "session": self.sessions[h].journal_data()}
                                               for h in hosts})
        except StoreError as exc:
            for host in hosts:
                self.sessions[host].discard()
                out = self.outcomes[host]
                out.status, out.error = "failed", f"not committed: the journal cannot be written ({exc})"
            return set(hosts)
        before = set(self.committed)
        self.commit(hosts)
        wave = self.committed - before
        problem = self._note(wave, "committed")
        if (not failed_here() or not all_or_nothing) and not problem:
            self.verify(wave - failed_here())
            if gate is not None and not failed_here():
                for host, why in gate(wave).items():
                    out = self.outcomes[host]
                    out.status, out.error = "failed", f"health check failed: {why}"
            problem = self.store_trouble()
        failed = failed_here()
        if problem or (failed and all_or_nothing):
            self._roll_back_wave(wave, failed, "the journal cannot be written" if problem else "another device failed")
            return failed | (wave if problem else set())
        self.rollback({h for h in failed if self.outcomes[h].status != "unreachable"}, None)
        to_confirm = wave - failed
        problem = self._note(to_confirm, "confirming")
        if problem:
            self._roll_back_wave(to_confirm, set(), "the journal cannot be written")
            return set(hosts)
        self.confirm(to_confirm)
        expired = {h for h in to_confirm if self.outcomes[h].status in bad}
        if expired:
            self.rollback({h for h in expired if self.outcomes[h].status != "unreachable"}, None)
            if all_or_nothing:
                self.rollback(to_confirm - expired, "another device did not confirm")
        self._note(to_confirm, "confirmed")
        return failed_here()

    def finish(self) -> None:
        """Read every touched device back and make its status say what it is."""
        self.read_back(self.committed)
        for host in self.committed:
            self._final_status(host)
        self._note(self.committed, "done")

    def _roll_back_wave(self, wave: set[str], failed: set[str], reason: str) -> None:
        self._note(wave, "rolling_back")
        self.rollback(wave - failed, reason)
        # a device that failed restores itself; roll it back again where it is still reachable
        self.rollback({h for h in wave & failed if self.outcomes[h].status != "unreachable"}, None)

    def _note(self, hosts: set[str], phase: str) -> str:
        """Journal a phase; returns the store's trouble ('' when written)."""
        data = {h: {"status": self.outcomes[h].status, "final": self.outcomes[h].final,
                    "session": self.sessions[h].journal_data()} for h in hosts if h in self.sessions}
        try:
            self.journal(hosts, phase, data)
        except StoreError as exc:
            return str(exc)
        return self.store_trouble()

    def _final_status(self, host: str) -> None:
        """Make the device's status agree with what it reads back as."""
        out = self.outcomes[host]
        final = out.final
        if out.status == "changed" and final != "new":
            out.status = "failed"
            what = "could not be read back" if final == "unknown" else f"reads back as {final}"
            out.error = (out.error + "; " if out.error else "") + f"after confirm the device {what}"
        elif out.status in ("rolled_back", "reverted") and final not in ("old", "unknown"):
            out.status = "failed"
            out.error = (out.error + "; " if out.error else "") + \
                f"after rollback the device reads back as {final}, not as before the run"
        elif out.status in ("rolled_back", "reverted") and final == "unknown":
            out.error = (out.error + "; " if out.error else "") + "the device could not be read back"


def summarise(outcomes: list[DeviceOutcome], committed: set[str], timeout: int) -> str:
    """The run's message, from the final states the devices read back as."""
    touched = [o for o in outcomes if o.host in committed]
    by_state: dict[str, list[str]] = {}
    for o in touched:
        by_state.setdefault(o.final or "unknown", []).append(o.host)
    failed = [o.host for o in outcomes if o.status in ("failed", "unreachable", "reverted")]
    new, old = by_state.get("new", []), by_state.get("old", [])
    unknown, diverged = by_state.get("unknown", []), by_state.get("diverged", [])
    if not touched:
        return "no changes: the network already matches the intents"
    if not failed and len(new) == len(touched):
        return f"{len(new)} device(s) changed"
    parts = []
    if new:
        parts.append(f"{len(new)} device(s) changed ({', '.join(sorted(new))})")
    if old:
        parts.append(f"{len(old)} device(s) as before the run ({', '.join(sorted(old))})")
    if diverged:
        parts.append(f"{len(diverged)} device(s) neither as before nor as intended ({', '.join(sorted(diverged))})")
    if unknown:
        parts.append(f"{len(unknown)} device(s) in an unknown state, not readable ({', '.join(sorted(unknown))}); "
                     f"a device with a revert timer restores its previous configuration within {timeout} s "
                     "of the commit by itself")
    if len(old) == len(touched):
        head = f"{len(failed)} device(s) failed; every device was rolled back: the network is as it was before the run"
        return head
    return f"{len(failed)} device(s) failed; " + "; ".join(parts)
