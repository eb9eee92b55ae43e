"""The candidate and what a commit does with it: the candidate's text (the FRR configuration,
then netorch's nftables table after NFT_MARKER), its load and check, the difference by meaning,
the checkpoint, the commit (vtysh, with frr-reload.py as the fallback), the revert timer that
restores the checkpoint on the device unless the commit is confirmed, and the rollback or
recovery of a run from the files it left on the device."""

from __future__ import annotations

import contextlib
import re
import secrets
import shlex
import time
from collections.abc import Mapping
from typing import Any

from napalm.base.exceptions import (
    CommitConfirmException,
    CommitError,
    ConnectionException,
    MergeConfigException,
    ReplaceConfigException,
)

from netorch.configtree.base import Difference, render_diffs
from netorch.configtree.frr import KernelInterface, diff_frr, frr_remediation, managed
from netorch.configtree.nft import diff_nft, nft_interference
from netorch.transport.napalm_frr.channel import CLI_ERROR, ChannelMixin, nft_out, strip_header
from netorch.transport.napalm_frr.parse import kernel_interfaces

NFT_MARKER = "#@netorch-nftables"
#: how long the running config read by a confirm or a rollback serves as its read-back (seconds)
READBACK_FRESH = 10.0
FLUSH_RULESET = re.compile(r"^flush ruleset\s*$", re.MULTILINE)  # the candidate owns every table


def join_candidate(frr_conf: str, nft: str | None) -> str:
    """One candidate text from the FRR configuration and an optional nftables ruleset."""
    text = frr_conf if frr_conf.endswith("\n") else frr_conf + "\n"
    if nft is not None:
        text += f"{NFT_MARKER}\n{nft}"
    return text


def split_candidate(text: str) -> tuple[str, str | None]:
    if NFT_MARKER not in text:
        return text, None
    frr, _, nft = text.partition(f"{NFT_MARKER}\n")
    return frr, nft


#: netorch's artifacts of an FRR router, as one NAPALM candidate: the FRR config, the nftables table
ARTIFACTS = ("frr.conf", "nftables.nft")


def candidate_of(artifacts: Mapping[str, str]) -> str:
    """netorch's rendered artifacts as the driver's one candidate text."""
    return join_candidate(artifacts[ARTIFACTS[0]], artifacts.get(ARTIFACTS[1]))


def artifacts_of(frr_conf: str, nft: str | None) -> dict[str, str]:
    """The FRR config and nftables table as netorch's artifacts."""
    return {ARTIFACTS[0]: frr_conf, ARTIFACTS[1]: nft or ""}


class ConfirmMixin(ChannelMixin):
    """Load, compare, commit (confirmed or not), confirm, roll back; the state a session keeps
    between those steps."""

    frr_reload: str  # path of frr-reload.py
    frr_reload_args: str
    dryrun: bool
    ignore_interfaces: tuple[str, ...]
    flock: str
    confdir: str
    run_tag: str
    _persisted: bool
    _committed: str | None
    _readback: tuple[tuple[str, str | None], float] | None
    _kernel: dict[str, KernelInterface] | None
    _foreign: list[Difference]
    _candidate: str | None
    _mode: str | None
    _running: tuple[str, str | None] | None
    _rib: str | None

    # -- candidate ----------------------------------------------------------------------
    @property
    def tag(self) -> str:
        """The run this session works for: every file it leaves on the device carries it."""
        if not self.run_tag:
            self.run_tag = f"s{secrets.token_hex(4)}"
        return self.run_tag

    def _f(self, name: str, tag: str | None = None) -> str:
        """A state file of a run, e.g. rollback.<tag>.sh (quoted for the shell)."""
        stem, dot, ext = name.partition(".")
        return self._path(f"{stem}.{tag or self.tag}{dot}{ext}")

    def _running_both(self) -> tuple[str, str | None]:
        """The running FRR config and netorch's nftables table: what the confirm or the rollback
        that just ended read back, else read now."""
        if self._readback is not None:
            # read by the confirm or the rollback that just ended (a moment ago): its read-back
            (both, when), self._readback = self._readback, None
            if time.monotonic() - when < READBACK_FRESH:
                return both
        res = self._batch([("nft", self._list_nft())])
        return strip_header(self._vty(["show running-config"])[0]), nft_out(res, "nft")

    def _diff_frr(self, running: str, desired: str) -> list[Difference]:
        """The FRR difference for a replace: over what netorch owns, with the kernel's addresses and
        admin state as read at load time (an `ip addr` change is brought back through FRR)."""
        return diff_frr(running, desired, self.ignore_interfaces, self._kernel)

    def _load(self, filename: str | None, config: str | None, mode: str, error: type[Exception]) -> None:
        if config is None:
            if filename is None:
                raise error("load needs a filename or a config")
            with open(filename, encoding="utf-8") as fh:
                config = fh.read()
        frr, nft = split_candidate(config)
        files = {f"candidate.{self.tag}.frr.conf": frr}
        steps: list[tuple[str, str]] = []
        if self.dryrun:
            steps.append(("frr", f"{self.vtysh} --dryrun -f {self._f('candidate.frr.conf')}"))
        if nft is not None:
            files[f"candidate.{self.tag}.nft"] = nft
            steps.append(("nft", f"{self.nft} -c -f {self._f('candidate.nft')}"))
        else:
            steps.append(("rmnft", f"rm -f {self._f('candidate.nft')}"))
        steps.append(("shownft", self._list_nft()))
        steps.append(("addrs", "ip -j addr show"))
        owns_ruleset = nft is not None and FLUSH_RULESET.search(nft) is not None
        if owns_ruleset:
            steps.append(("ruleset", f"{self.nft} list ruleset"))
        res = self._batch(steps, files)
        rc_addrs, addrs = res.get("addrs", (1, ""))
        self._kernel = kernel_interfaces(addrs) if rc_addrs == 0 else None
        rc_rules, rules = res.get("ruleset", (1, ""))
        self._foreign = (nft_interference(rules, self.nft_table, [], (), owned_all=True)
                         if owns_ruleset and rc_rules == 0 else [])
        rc, out = res.get("frr", (0, "")) if self.dryrun else (0, "")
        if rc != 0 or re.search(r"^% ", out, re.MULTILINE):
            self.discard_config()
            raise error(f"FRR rejected the candidate: {out.strip()}")
        if nft is not None:
            rc, out = res.get("nft", (1, "no answer"))
            if rc != 0:
                self.discard_config()
                raise error(f"nftables rejected the candidate: {out.strip()}")
        self._candidate = config
        self._mode = mode
        self._running = (strip_header(self._vty(["show running-config"])[0]), nft_out(res, "shownft"))

    def load_replace_candidate(self, filename: str | None = None, config: str | None = None) -> None:
        self._load(filename, config, "replace", ReplaceConfigException)

    def load_merge_candidate(self, filename: str | None = None, config: str | None = None) -> None:
        self._load(filename, config, "merge", MergeConfigException)

    def discard_config(self) -> None:
        self._candidate = None
        self._mode = None
        self._running = None
        self._kernel = None
        self._foreign = []
        with contextlib.suppress(ConnectionException, CommitError):
            self._run(f"rm -f {self._f('candidate.frr.conf')} {self._f('candidate.nft')}")

    def _reload(self, action: str, path: str) -> str:
        """frr-reload.py, which saves the running config (`write`) after a reload: the saved config
        is put back as it was, so that only a confirmed commit ever reaches it."""
        reload = f"python3 {shlex.quote(self.frr_reload)} --{action} --stdout {self.frr_reload_args} {path}"
        if action != "reload":
            return reload
        conf = shlex.quote(f"{self.confdir}/frr.conf")
        keep = shlex.quote(f"{self.state_dir}/saved.{self.tag}.conf")
        return (f"if [ -f {conf} ]; then cp {conf} {keep}; else rm -f {keep}; fi; {reload}; rc=$?; "
                f"if [ -f {keep} ]; then cat {keep} > {conf}; rm -f {keep}; else rm -f {conf}; fi; exit $rc")

    def compare_config(self) -> str:
        """The difference by meaning (FRR line order and unmanaged lines ignored; nftables per chain)."""
        if self._candidate is None:
            return ""
        frr, nft = split_candidate(self._candidate)
        diffs = self._differences(*(self._running or self._running_both()), frr, nft)
        return render_diffs(diffs)

    @property
    def checkpoint(self) -> tuple[str, str | None] | None:
        """The running FRR config and nftables table read at load: what rollback restores."""
        return self._running

    @property
    def persisted(self) -> bool:
        """The last commit was saved to the startup config (not a confirmed commit)."""
        return self._persisted

    # netorch's artifacts <-> the driver's texts (NapalmSession asks the driver, not the platform)
    netorch_candidate = staticmethod(candidate_of)
    netorch_artifacts = staticmethod(artifacts_of)

    def netorch_running(self, running: str) -> dict[str, str]:
        """A running config as get_config returns it, as netorch's artifacts."""
        return artifacts_of(*split_candidate(running))

    # -- the revert timer: every step on it is atomic on the device (flock) ------------------
    def _locked(self, script: str) -> str:
        """A shell script run under the state dir's lock (its children do not hold the lock)."""
        return f"cd {self._dir()} && {self.flock} -o {self._path('lock')} sh -c {shlex.quote(script)}"

    def _is_mine(self, tag: str | None = None) -> str:
        return f'[ "$(cat pending 2>/dev/null)" = {shlex.quote(tag or self.tag)} ]'

    def _timer(self, seconds: int, tag: str | None = None) -> str:
        """Start the revert timer (the caller holds the lock): after `seconds`, unless the commit
        was confirmed or rolled back meanwhile, restore the checkpoint and note it."""
        t = tag or self.tag
        fire = self._locked(f"if {self._is_mine(t)}; then sh rollback.{t}.sh > rollback.{t}.log 2>&1; "
                            f"rm -f pending timer.{t}.pid; echo reverted > outcome.{t}; fi")
        timer = f"sleep {int(seconds)}; {fire}"
        return (f"printf '%s\\n' {int(time.time()) + int(seconds)} > deadline.{t}; "
                f"setsid sh -c {shlex.quote(timer)} </dev/null >/dev/null 2>&1 & echo $! > timer.{t}.pid")

    def _kill_timer(self, tag: str | None = None) -> str:
        t = tag or self.tag
        return f"if [ -f timer.{t}.pid ]; then kill $(cat timer.{t}.pid) 2>/dev/null; rm -f timer.{t}.pid; fi"

    def _rollback_script(self) -> str:
        t = self.tag
        return (
            f"cd {self._dir()} || exit 1\n"
            f"( {self._reload('reload', self._path(f'rollback.{t}.frr.conf'))} ) > restore.{t}.log 2>&1\n"
            f"{self.nft} -f {self._path(f'rollback.{t}.nft')} >> restore.{t}.log 2>&1\n"
        )

    def _cleanup_others(self) -> str:
        """Remove the files earlier runs left in the state dir, except a pending commit's."""
        t = shlex.quote(self.tag)
        return (f"cd {self._dir()} || exit 1; p=$(cat pending 2>/dev/null); for f in *; do "
                "case \"$f\" in lock|pending|\\*) continue;; esac; "
                f"case \"$f\" in *.{t}.*|*.{t}) continue;; esac; "
                "if [ -n \"$p\" ]; then case \"$f\" in *.\"$p\".*|*.\"$p\") continue;; esac; fi; "
                "rm -f -- \"$f\"; done; true")

    def commit_config(self, message: str = "", revert_in: int | None = None) -> None:
        """Replace (or merge) as one unit: take a checkpoint, replace the nftables table (nft -f),
        arm the revert timer, apply the FRR difference computed from the running config read at
        load time (vtysh), read the running config back, and start the timer afresh once all of it
        is in place. If the read-back does not say what the candidate says (the running config
        changed since the load, or a construct netorch's diff does not model), frr-reload.py makes
        the replace. Any failure restores the checkpoint (and never writes the startup config).
        Without revert_in the result is persisted (write memory) once it reads back right."""
        if self._candidate is None:
            raise CommitError(f"{self.hostname}: no candidate loaded")
        frr, nft = split_candidate(self._candidate)
        table = self.nft_table
        running_frr, running_nft = self._running or self._running_both()
        if self._mode == "merge":
            # every line of the candidate, as configuration commands (no comments, no `end`, nothing
            # FRR only takes at start-up)
            lines = [line for line in frr.splitlines()
                     if line.strip() and not line.strip().startswith("!") and line.strip() != "end"
                     and (line[0] in " \t" or managed(line) or line.strip() in ("exit", "exit-vrf"))]
        else:
            lines = frr_remediation(self._diff_frr(running_frr, frr))
        t = self.tag
        # the checkpoint is the running config read at load time, written back from here: the
        # read-back below catches a device that changed in between (and the fallback handles it)
        files = {f"rollback.{t}.sh": self._rollback_script(), f"rollback.{t}.frr.conf": running_frr,
                 f"rollback.{t}.nft": (f"table {table}\ndelete table {table}\n"
                                       + (running_nft if running_nft is not None else ""))}
        # one locked step: no other commit pending, the timer armed first (a controller lost from
        # here on leaves a device that reverts by itself), then the nftables table
        seconds = int(revert_in) if revert_in else 0
        start = (f"p=$(cat pending 2>/dev/null); if [ -n \"$p\" ] && [ \"$p\" != {shlex.quote(t)} ]; then "
                 "echo \"PENDING $p\"; exit 3; fi; "
                 + (f"echo {shlex.quote(t)} > pending; {self._timer(seconds)}; " if seconds else "")
                 + (f"{self.nft} -f candidate.{t}.nft || {{ rc=$?; "
                    + (f"rm -f pending; {self._kill_timer()}; " if seconds else "")
                    + "exit $rc; }; " if nft is not None else "")
                 + "true")
        steps = [("clean", self._cleanup_others()), ("start", self._locked(start)), ("shownft", self._list_nft())]
        res = self._batch(steps, files, stop_on_error=True)
        rc, out = res.get("start", (1, "the device did not answer"))
        if rc == 3:
            raise CommitError(f"{self.hostname}: a confirmed commit of another run ({out.split()[-1]}) is pending "
                              "on the device: it reverts by itself at its timeout, or run `netorch recover`")
        if rc != 0:
            # nothing changed on the device (nft -f is atomic), but restore anyway in case
            self._fail(f"nft rejected the ruleset: {out.strip()[-2000:]}")
        # FRR through the session's vtysh: the difference, then read the running config and the
        # static routes back
        config = ["configure terminal", *lines, "end"]
        outputs = self._vty([*config, "show running-config", "show ip route static json"])
        errors = [f"{cmd.strip()!r}: {o.strip()}" for cmd, o in zip(config, outputs, strict=False)
                  if CLI_ERROR.search(o)]
        if errors:
            self._fail("FRR rejected the configuration: " + "; ".join(errors)[:2000])
        res["show"] = (0, strip_header(outputs[-2]))
        self._rib = outputs[-1]
        left = self._residual(res, frr, nft)
        if left and self._mode != "merge":
            # the slow, thorough way: frr-reload.py computes the replace against the live config
            self._batch([("reload", self._reload("reload", self._f("candidate.frr.conf")))])
            again = self._batch([("shownft", self._list_nft())])
            again["show"] = (0, strip_header(self._vty(["show running-config"])[-1]))
            left = self._residual(again, frr, nft)
        if left:
            self._fail("the device did not take the configuration: " + "; ".join(str(d) for d in left[:10]))
        self._committed = frr
        if seconds:
            # the whole commit is in place: the timer counts from now
            if not self.extend_commit(seconds):
                raise CommitConfirmException(f"{self.hostname}: the revert timer fired during the commit: "
                                             "the device restored its previous configuration")
        else:
            self._persist()
        self._candidate = None
        self._mode = None
        self._persisted = not seconds

    def _differences(self, running_frr: str, running_nft: str | None, frr: str, nft: str | None,
                     kernel: bool = True) -> list[Any]:
        """What separates the running config from the candidate (a merge only adds: what is running
        and not in the candidate does not count). With kernel, the kernel state read at load time
        counts too (not after a commit: that reading is stale then)."""
        diffs = self._diff_frr(running_frr, frr) if kernel else diff_frr(running_frr, frr, self.ignore_interfaces)
        if self._mode == "merge":
            diffs = [d for d in diffs if d.kind != "unexpected"]
        if nft is not None:
            diffs += diff_nft(running_nft, nft)
            if kernel:
                diffs += self._foreign
        return diffs

    def _residual(self, res: dict[str, tuple[int, str]], frr: str, nft: str | None) -> list[Any]:
        return self._differences(strip_header(res.get("show", (1, ""))[1]), nft_out(res, "shownft"), frr, nft,
                                 kernel=False)

    def _fail(self, message: str) -> None:
        """Restore the checkpoint (cancelling the timer) and raise; the startup config is left alone."""
        self._restore_run(self.tag)
        self._candidate = None
        self._mode = None
        raise CommitError(f"{self.hostname}: {message}")

    def _restore_run(self, tag: str) -> str:
        """Under the lock: cancel the run's pending commit and restore its checkpoint."""
        script = (f"if {self._is_mine(tag)}; then rm -f pending; fi; {self._kill_timer(tag)}; "
                  f"if [ -f rollback.{tag}.sh ]; then sh rollback.{tag}.sh; echo RESTORED; else echo NOCHECKPOINT; fi")
        return self._batch([("restore", self._locked(script))]).get("restore", (1, ""))[1]

    def _persist(self) -> None:
        """write memory, through the session's vtysh."""
        out = self._vty(["write memory"])[0]
        if CLI_ERROR.search(out):
            raise CommitError(f"{self.hostname}: write memory failed: {out.strip()[:500]}")

    def _cancel_timer(self) -> None:
        self._batch([("cancel", self._locked(self._kill_timer()))])

    def has_pending_commit(self) -> bool:
        rc, _ = self._batch([("pending", f"test -s {self._path('pending')}")]).get("pending", (1, ""))
        return rc == 0

    def extend_commit(self, revert_in: int) -> bool:
        """Start the pending commit's timer afresh (revert_in seconds from now), atomically: False
        when it had fired already (the device reverted)."""
        script = (f"if {self._is_mine()}; then {self._kill_timer()}; {self._timer(revert_in)}; echo REARMED; "
                  "else echo EXPIRED; fi")
        out = self._batch([("rearm", self._locked(script))]).get("rearm", (1, ""))[1]
        return "REARMED" in out

    def confirm_commit(self) -> None:
        """Confirm in one atomic step on the device, which also tells whether the timer had fired
        (CommitConfirmException: the device reverted); then save the running config, but keep it
        saved only if it says what the candidate says: a running config that lost part of it
        meanwhile (a routing daemon that died drops its lines) never replaces the saved one.
        Two round trips; what was read is the read-back the engine asks for next."""
        conf = shlex.quote(f"{self.confdir}/frr.conf")
        keep = shlex.quote(f"{self.state_dir}/startup.{self.tag}.bak")
        script = (f"if {self._is_mine()}; then rm -f pending; {self._kill_timer()}; echo CONFIRMED; "
                  f"elif [ -f outcome.{self.tag} ]; then echo EXPIRED; else echo NONE; fi")
        res = self._batch([("confirm", self._locked(script)),
                           ("keep", f"if [ -f {conf} ]; then cp -p {conf} {keep}; else rm -f {keep}; fi"),
                           ("nft", self._list_nft())], stop_on_error=True)
        out = res.get("confirm", (1, ""))[1]
        if "CONFIRMED" not in out:
            why = "its revert timer fired: the device restored its previous configuration" if "EXPIRED" in out \
                else "no commit of this run is pending on the device"
            raise CommitConfirmException(f"{self.hostname}: cannot confirm: {why}")
        running, saved = self._vty(["show running-config", "write memory"])
        frr_now = strip_header(running)
        left = diff_frr(frr_now, self._committed or "", self.ignore_interfaces)
        if left or CLI_ERROR.search(saved):
            self._batch([("unsave", f"if [ -f {keep} ]; then cat {keep} > {conf}; else rm -f {conf}; fi")])
            why = ("the running config differs from the candidate by: " + "; ".join(str(d) for d in left[:10])
                   if left else f"write memory failed: {saved.strip()[:300]}")
            raise CommitError(f"{self.hostname}: confirmed, but not saved (the saved config is as it was): {why}")
        self._readback = ((frr_now, nft_out(res, "nft")), time.monotonic())
        self._persisted = True

    def rollback(self) -> None:
        """Restore the checkpoint of this session's last commit (cancelling a pending one); the
        startup config is written only if the commit had been persisted and the restore reads
        back as the checkpoint, so a restore the device could not take never reaches it."""
        self.recover_run(self.tag, self._persisted, self._running)

    def recover_run(self, tag: str, persist: bool, checkpoint: tuple[str, str | None] | None = None) -> str:
        """Roll back the run `tag` from the files it left on the device (also from another
        process, after a crash): RESTORED, NOCHECKPOINT; raises CommitError when the device does
        not read back as the checkpoint."""
        out = self._restore_run(tag)
        if "NOCHECKPOINT" in out:
            raise CommitError(f"{self.hostname}: nothing to roll back to (no checkpoint of run {tag} on the device)")
        res = self._batch([("frr", f"cat {self._f('rollback.frr.conf', tag)}"), ("nft", self._list_nft())])
        saved_frr = res.get("frr", (1, ""))[1]
        frr_now = strip_header(self._vty(["show running-config"])[0])
        left = diff_frr(frr_now, saved_frr, self.ignore_interfaces)
        if checkpoint is not None:
            left += diff_nft(nft_out(res, "nft"), checkpoint[1] or "") if checkpoint[1] is not None else []
        if left:
            raise CommitError(f"{self.hostname}: rollback incomplete, the device still differs from its checkpoint by: "
                              + "; ".join(str(d) for d in left[:10]) + " (the startup config was not written)")
        if persist:
            self._persist()
        self._persisted = False
        self._readback = ((frr_now, nft_out(res, "nft")), time.monotonic())
        return "RESTORED"
