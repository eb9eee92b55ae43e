"""Transactions, rollouts and recovery under every combination of phase failures, through the
scripted executor (netorch.executor.scripted): no Nornir, no sessions, no lab.

The scripted devices keep a state of their own (old: the configuration before the run, new:
the candidate; lost: no longer readable), changed only by the actions the engine sends. Every
test asserts each device's final state as the device holds it, and that the run's report says
exactly that."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from netorch.device.messages import DeviceRequest, DeviceResult
from netorch.executor.scripted import ScriptedExecutor
from netorch.run.engine import Engine
from netorch.run.options import ApplyOptions, PlanOptions
from netorch.run.recover import recover
from netorch.run.rollout import Rollout
from netorch.service import Workspace
from netorch.store import Store

ROOT = Path(__file__).resolve().parent.parent
HOSTS = ["nc1", "r1", "r2", "r3"]
PHASES = ["prepare", "commit", "verify", "confirm"]


@dataclass
class Devices:
    """Scripted devices: fail[(host, action)] is how that action fails on that device:
    'failed', 'unreachable' (the device is lost from then on), 'reverted' (confirm: its timer
    had fired), 'silent' (no answer at all, as from a lost worker)."""

    fail: dict[tuple[str, str], str] = field(default_factory=dict)
    state: dict[str, str] = field(default_factory=dict)
    lost: set[str] = field(default_factory=set)

    def __call__(self, phase: str, req: DeviceRequest) -> DeviceResult | None:
        host, action = req.host, req.action
        kind = self.fail.get((host, action))
        self.state.setdefault(host, "old")
        if kind == "silent":
            self.lost.add(host)
            return None
        if host in self.lost and action not in ("prepare",):
            return DeviceResult(host=host, action=action, status="unreachable", error=f"{host}: lost", ok=False,
                                final="unknown" if action == "read_back" else None)
        if kind == "unreachable":
            if action == "commit":
                self.state[host] = "new"  # it took the change, then the link went
            self.lost.add(host)
            return DeviceResult(host=host, action=action, status="unreachable", error=f"{action}: {host} lost",
                                ok=False, opened=action != "prepare")
        if action == "prepare":
            if kind == "failed":
                return DeviceResult(host=host, action=action, status="failed", error="candidate rejected",
                                    opened=True)
            return DeviceResult(host=host, action=action, status="changes", diff=f"+ {host} line", opened=True,
                                fingerprint="f", journal={})
        if action == "commit":
            if kind == "failed":
                return DeviceResult(host=host, action=action, status="failed", error="commit rejected", journal={})
            self.state[host] = "new"
            return DeviceResult(host=host, action=action, status="changed", journal={})
        if action == "verify":
            if kind == "failed":
                return DeviceResult(host=host, action=action, status="failed", error="post-check failed: route")
            return DeviceResult(host=host, action=action, checks=("10.9.0.0/24 via 10.0.0.1: active",))
        if action == "confirm":
            if kind == "reverted":
                self.state[host] = "old"
                return DeviceResult(host=host, action=action, status="reverted", error="its timer fired")
            if kind == "failed":
                return DeviceResult(host=host, action=action, status="failed", error="confirm failed")
            return DeviceResult(host=host, action=action)
        if action == "rollback":
            self.state[host] = "old"
            return DeviceResult(host=host, action=action)
        if action == "recover":
            if kind == "failed":
                return DeviceResult(host=host, action=action, status="failed", final="unknown", ok=False,
                                    error="no checkpoint")
            self.state[host] = "old"
            return DeviceResult(host=host, action=action, status="rolled_back", final="old", detail="restored")
        if action == "read_back":
            return DeviceResult(host=host, action=action, final=self.state[host])
        if action in ("discard",):
            return DeviceResult(host=host, action=action)
        if action in ("state", "reach"):
            return DeviceResult(host=host, action=action, problems=())
        raise AssertionError(f"unexpected action {action}")

    def readable(self, host: str) -> str:
        return "unknown" if host in self.lost else self.state.get(host, "old")


def engine(tmp_path: Path, devices: Devices) -> tuple[Engine, ScriptedExecutor, Store]:
    ws = Workspace(ROOT / "inventory", ROOT / "intents", ROOT / "netorch" / "templates")
    store = Store(tmp_path / "store.db")
    executor = ScriptedExecutor(devices)
    return Engine(ws, store, executor=executor), executor, store


def assert_report_says_what_devices_hold(report_devices: list, devices: Devices, committed: set[str]) -> None:
    for d in report_devices:
        if d.host in committed:
            assert d.final == devices.readable(d.host), (d.host, d.final, devices.readable(d.host))
        if d.status == "changed":
            assert devices.readable(d.host) == "new"


def test_every_device_new_when_nothing_fails(tmp_path: Path) -> None:
    devices = Devices()
    eng, executor, store = engine(tmp_path, devices)
    report = eng.apply(ApplyOptions(limit=",".join(HOSTS)))
    assert report.exit_code == 0 and report.status == "changed"
    assert {d.host: (d.status, d.final) for d in report.devices} == {h: ("changed", "new") for h in HOSTS}
    assert all(devices.state[h] == "new" for h in HOSTS)
    assert report.message == f"{len(HOSTS)} device(s) changed"
    assert executor.actions("r1") == ["prepare", "commit", "verify", "confirm", "read_back"]
    assert store.interrupted_runs() == []
    assert {e.phase for e in store.journal_entries(report.run_id or 0)} == {"done"}
    assert executor.runs[0].closed


@pytest.mark.parametrize(("phase", "kind", "failing"), [
    (p, k, h) for p, k, h in itertools.product(PHASES, ["failed", "unreachable", "silent"], ["nc1", "r2"])
] + [("confirm", "reverted", "r1"), ("confirm", "reverted", "nc1")])
def test_one_failure_anywhere_leaves_the_network_as_before(tmp_path: Path, phase: str, kind: str,
                                                           failing: str) -> None:
    devices = Devices(fail={(failing, phase): kind})
    eng, executor, store = engine(tmp_path, devices)
    report = eng.apply(ApplyOptions(limit=",".join(HOSTS)))
    assert report.exit_code == 1 and report.status == "failed"
    committed = {h for h in HOSTS if "commit" in executor.actions(h)}
    by_host = {d.host: d for d in report.devices}
    if phase == "prepare":
        assert committed == set()  # nothing is committed anywhere
        assert "nothing was committed" in report.message
    # every device the run could still read holds what it had before the run
    for host in HOSTS:
        assert devices.readable(host) in ("old", "unknown")
        if devices.readable(host) == "unknown":
            assert host == failing
    assert_report_says_what_devices_hold(report.devices, devices, committed)
    assert not any(d.status == "changed" for d in report.devices)
    assert by_host[failing].status in ("failed", "unreachable", "reverted")
    if any(devices.readable(h) == "unknown" for h in committed):
        assert "as it was before the run" not in report.message
        assert "unknown state" in report.message
    elif committed:
        assert report.message.endswith("every device was rolled back: the network is as it was before the run")
    assert store.interrupted_runs() == []


@pytest.mark.parametrize("phase", ["commit", "verify", "confirm"])
def test_best_effort_keeps_the_devices_that_succeeded(tmp_path: Path, phase: str) -> None:
    devices = Devices(fail={("r2", phase): "failed"})
    eng, _, _ = engine(tmp_path, devices)
    report = eng.apply(ApplyOptions(limit=",".join(HOSTS), best_effort=True))
    by_host = {d.host: d for d in report.devices}
    assert report.exit_code == 1
    for host in HOSTS:
        if host == "r2":
            assert by_host[host].status == "failed"
            assert devices.readable(host) == "old" and by_host[host].final == "old"
        else:
            assert (by_host[host].status, by_host[host].final, devices.readable(host)) == ("changed", "new", "new")


def test_a_dry_run_and_a_plan_commit_nothing(tmp_path: Path) -> None:
    devices = Devices()
    eng, executor, _ = engine(tmp_path, devices)
    report = eng.apply(ApplyOptions(limit=",".join(HOSTS), dry_run=True))
    assert report.exit_code == 0 and report.status == "dry_run"
    plan = eng.plan(PlanOptions(limit=",".join(HOSTS)))
    assert plan.exit_code == 2 and all(d.status == "changes" for d in plan.devices)
    assert set(executor.actions()) == {"prepare", "discard"}
    assert all(devices.readable(h) == "old" for h in HOSTS)


def test_an_unavailable_executor_touches_nothing(tmp_path: Path) -> None:
    from netorch.errors import ExecutorUnavailable

    eng, executor, store = engine(tmp_path, Devices())
    executor.unavailable = "broker down"
    with pytest.raises(ExecutorUnavailable):
        eng.apply(ApplyOptions(limit="r1"))
    assert executor.calls == [] and store.runs(10) == []


def test_a_canary_that_is_no_device_of_the_run_touches_nothing(tmp_path: Path) -> None:
    from netorch.run.rollout import RolloutError

    eng, executor, store = engine(tmp_path, Devices())
    with pytest.raises(RolloutError, match="not in this run: r9"):
        eng.apply(ApplyOptions(limit="r1,r2", rollout=Rollout.parse("r1,r9", "1")))
    assert executor.calls == [] and store.runs(10) == [] and store.interrupted_runs() == []


@pytest.mark.parametrize(("keep", "failing_wave"), [(False, 2), (True, 2), (False, 1)])
def test_a_rollout_stops_at_its_failure_budget(tmp_path: Path, keep: bool, failing_wave: int) -> None:
    # canary r1, then waves of one device in host order: r2 (wave 2), r3 (wave 3), nc1 ...
    waves = ["r1", "nc1", "r2", "r3"]
    failing = waves[failing_wave - 1] if failing_wave > 1 else "r1"
    devices = Devices(fail={(failing, "verify"): "failed"})
    eng, executor, _ = engine(tmp_path, devices)
    rollout = Rollout.parse("r1", "1", max_failures=0, keep_completed=keep)
    report = eng.apply(ApplyOptions(limit=",".join(HOSTS), rollout=rollout))
    assert report.exit_code == 1
    order = [r.host for p, r in executor.calls if r.action == "commit"]
    assert order == waves[:failing_wave]  # the waves after the failing one are never touched
    for host in HOSTS:
        committed = host in order
        expected = "new" if committed and keep and host != failing else "old"
        assert devices.readable(host) == expected, host
    assert_report_says_what_devices_hold(report.devices, devices, set(order))
    assert [w["status"] for w in report.options["waves"]][-1] != "done"


def interrupted(store: Store, hosts: dict[str, str]) -> int:
    run_id = store.start_run("apply", "ci", "rev", {})
    store.journal(run_id, [(h, "frr", "napalm", phase, {"session": {"checkpoint": h}}) for h, phase in hosts.items()])
    store.set_status(run_id, "interrupted")
    return run_id


@pytest.mark.parametrize("fails", [(), ("r2",)])
def test_recover_rolls_back_every_device_the_run_may_have_changed(tmp_path: Path, fails: tuple[str, ...]) -> None:
    devices = Devices(fail={(h, "recover"): "failed" for h in fails})
    for h in ("r1", "r2", "r3"):
        devices.state[h] = "new"
    devices.state["r4"] = "old"
    eng, executor, store = engine(tmp_path, devices)
    run_id = interrupted(store, {"r1": "committed", "r2": "confirming", "r3": "committing", "r4": "prepared"})
    report = recover(eng)
    by_host = {d.host: d for d in report.devices}
    assert executor.actions("r4") == []  # never committed: left alone
    for host in ("r1", "r2", "r3"):
        recovery = next(r.recovery for _, r in executor.calls if r.host == host)
        assert recovery == {"checkpoint": host, "confirming": host == "r2"}
        if host in fails:
            assert devices.readable(host) == "new"
            assert (by_host[host].status, by_host[host].final) == ("failed", "unknown")
            assert "recovery failed: no checkpoint" in by_host[host].error
        else:
            assert devices.readable(host) == "old"
            assert (by_host[host].status, by_host[host].final) == ("rolled_back", "old")
    assert report.exit_code == (1 if fails else 0)
    still = [r.id for r in store.interrupted_runs()]
    assert still == ([run_id] if fails else [])
    if not fails:
        assert recover(eng).message == "no interrupted run: nothing to recover"


def test_an_apply_refuses_devices_of_an_interrupted_run(tmp_path: Path) -> None:
    devices = Devices()
    eng, executor, store = engine(tmp_path, devices)
    run_id = interrupted(store, {"r1": "committed"})
    report = eng.apply(ApplyOptions(limit="r1,r2"))
    assert report.exit_code == 1 and f"run {run_id} was interrupted on r1" in report.message
    assert executor.calls == []
