"""The run's message follows from what the devices read back as, never from intentions."""

from __future__ import annotations

from netorch.run.report import DeviceOutcome
from netorch.run.transaction import summarise


def outcome(host: str, status: str, final: str) -> DeviceOutcome:
    return DeviceOutcome(host, "frr", "napalm", status, final=final)


def test_all_new_is_changed() -> None:
    outs = [outcome("r1", "changed", "new"), outcome("r2", "changed", "new"), outcome("r3", "unchanged", "")]
    assert summarise(outs, {"r1", "r2"}, 120) == "2 device(s) changed"


def test_all_old_is_as_before_the_run() -> None:
    outs = [outcome("r1", "failed", "old"), outcome("r2", "rolled_back", "old")]
    msg = summarise(outs, {"r1", "r2"}, 120)
    assert msg.startswith("1 device(s) failed") and "the network is as it was before the run" in msg


def test_an_unknown_device_is_never_as_before() -> None:
    outs = [outcome("r1", "unreachable", "unknown"), outcome("r2", "rolled_back", "old")]
    msg = summarise(outs, {"r1", "r2"}, 30)
    assert "as it was before the run" not in msg
    assert "1 device(s) in an unknown state, not readable (r1)" in msg and "within 30 s" in msg
    assert "1 device(s) as before the run (r2)" in msg


def test_a_reverted_device_is_never_changed() -> None:
    outs = [outcome("r1", "reverted", "old"), outcome("r2", "changed", "new")]
    msg = summarise(outs, {"r1", "r2"}, 20)
    assert "changed (r2)" in msg and "as before the run (r1)" in msg and msg.startswith("1 device(s) failed")


def test_nothing_touched() -> None:
    assert summarise([outcome("r1", "unchanged", "")], set(), 120).startswith("no changes")
