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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from netorch.defaults import PROTOCOL_CONVERGENCE_TIMEOUT
from netorch.device.messages import Action, DeviceRequest, DeviceResult
from netorch.errors import StoreError
from netorch.executor.base import ExecutorRun, ProgressFn
from netorch.run.report import DeviceOutcome
from netorch.store import LEASE_TTL, Store
from netorch.transport.base import DeviceJob


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
    """The phases of one apply over the devices of `jobs`, run by an executor's run (`run`) that
    keeps every device's session from prepare on; `prepared`: prepare's results."""

    def __init__(self, jobs: list[DeviceJob], outcomes: dict[str, DeviceOutcome], store: Store, run_id: int,
                 run: ExecutorRun, progress: ProgressFn | None, confirm_timeout: int, verify_timeout: float,
                 heartbeat: Heartbeat | None = None, prepared: dict[str, DeviceResult] | None = None) -> None:
        self.run = run
        self.jobs = {j.host: j for j in jobs}
        self.outcomes = outcomes
        self.store = store
        self.run_id = run_id
        self.progress = progress
        self.confirm_timeout = confirm_timeout
        self.verify_timeout = verify_timeout
        self.heartbeat = heartbeat
        self.committed: set[str] = set()  # a commit was attempted: the device may have changed
        #: devices with a session (prepared), and what a recovery needs of each
        self.opened: set[str] = set()
        self.journals: dict[str, dict[str, Any]] = {}
        for host, result in (prepared or {}).items():
            self._absorb(result)
            if result.opened:
                self.opened.add(host)

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

    def _absorb(self, result: DeviceResult) -> None:
        if result.journal is not None:
            self.journals[result.host] = result.journal

    def _request(self, host: str, action: Action) -> DeviceRequest:
        return DeviceRequest(host=host, action=action, confirm_timeout=self.confirm_timeout,
                             verify_timeout=self.verify_timeout, protocol_timeout=PROTOCOL_CONVERGENCE_TIMEOUT)

    def _phase(self, name: str, action: Action, hosts: set[str]) -> dict[str, DeviceResult]:
        if not hosts:
            return {}
        results = self.run.run(name, [self._request(h, action) for h in sorted(hosts)])
        for host in hosts:
            result = results.get(host)
            if result is None:  # the executor answered nothing for it: its state is not known
                result = DeviceResult(host=host, action=action, status="unreachable", lost=True,
                                      error=f"{name}: no answer from the executor", ok=False)
                results[host] = result
            self._absorb(result)
        return results

    def _apply(self, result: DeviceResult, phase: str | None = None) -> None:
        out = self.outcomes[result.host]
        if phase is not None:
            out.phase = phase
        if result.status is not None:
            out.status = result.status  # type: ignore[assignment]
        if result.error is not None:
            out.error = result.error
        out.checks += list(result.checks)
        out.duration += result.duration

    # -- commit -----------------------------------------------------------------------------
    def commit(self, hosts: set[str]) -> None:
        for host in hosts:
            out = self.outcomes[host]
            out.phase = "commit"
            out.sent = out.diff
            self.committed.add(host)
        for result in self._phase("commit", "commit", hosts).values():
            self._apply(result)

    # -- verify -----------------------------------------------------------------------------
    def verify(self, hosts: set[str]) -> None:
        for result in self._phase("verify", "verify", hosts).values():
            self._apply(result, "verify")

    # -- confirm ----------------------------------------------------------------------------
    def confirm(self, hosts: set[str]) -> None:
        for result in self._phase("confirm", "confirm", hosts).values():
            self._apply(result, "confirm")

    # -- rollback ---------------------------------------------------------------------------
    def rollback(self, hosts: set[str], reason: str | None) -> None:
        """Restore the configuration the devices had before the run. reason None: the device
        failed itself (its error stays); otherwise it is rolled back because of another one."""
        for host, result in self._phase("rollback", "rollback", hosts).items():
            out = self.outcomes[host]
            out.duration += result.duration
            if result.lost:
                out.status = "unreachable"
                out.error = (out.error + "; " if out.error else "") + (result.error or "its session was lost")
            elif result.ok:
                if reason is not None:
                    out.status = "rolled_back"
                    out.error = f"rolled back: {reason}"
                elif out.status != "reverted":
                    out.error += " (rolled back)"
            else:
                if out.status not in ("unreachable",):
                    out.status = "failed"
                out.error = (out.error + "; " if out.error else "") + f"ROLLBACK FAILED: {result.error}"

    # -- read back --------------------------------------------------------------------------
    def read_back(self, hosts: set[str]) -> None:
        """Read every touched device's live config and classify it (new, old, diverged, unknown)."""
        for host, result in self._phase("read back", "read_back", hosts).items():
            out = self.outcomes[host]
            out.final = result.final or "unknown"
            out.checks += list(result.checks)
            if result.lost and result.error:
                out.checks.append(f"read back failed: {result.error}")
            out.duration += result.duration

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
        bad = ("failed", "unreachable", "reverted")

        def failed_here() -> set[str]:
            return {h for h in hosts if self.outcomes[h].status in bad}

        try:
            self.journal(hosts, "committing", {h: {"diff": self.outcomes[h].diff,
                                                   "artifacts": self.jobs[h].artifacts,
                                                   "session": self.journals.get(h, {})}
                                               for h in hosts})
        except StoreError as exc:
            self._phase("discard", "discard", hosts)
            for host in hosts:
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
                    "session": self.journals.get(h, {})} for h in hosts if h in self.opened}
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
