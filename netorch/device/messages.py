"""What crosses an executor: typed, serialisable requests and results (plain JSON, never a
Nornir Result or a live session).

A DeviceRequest names one action of a transaction (or of a drift check) on one device; the
DeviceResult says what happened, in data the controller folds into its own outcome. The same
messages serve the in-process executor (as objects) and the Celery one (as JSON).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from netorch.defaults import CONFIRM_TIMEOUT, PROTOCOL_CONVERGENCE_TIMEOUT, VERIFY_TIMEOUT
from netorch.model.desired import DesiredState
from netorch.platforms import Transport
from netorch.transport.base import DeviceJob

Action = Literal["prepare", "commit", "verify", "confirm", "rollback", "read_back", "discard", "state",
                 "reach", "drift", "recover"]


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class JobSpec(_Message):
    """A DeviceJob as data."""

    host: str
    platform: str
    transport: Transport
    artifacts: dict[str, str]
    desired: dict[str, Any]
    options: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def of(cls, job: DeviceJob) -> JobSpec:
        return cls(host=job.host, platform=job.platform, transport=job.transport, artifacts=dict(job.artifacts),
                   desired=job.desired.model_dump(mode="json"), options=dict(job.options))

    def job(self) -> DeviceJob:
        return DeviceJob(self.host, self.platform, self.transport, dict(self.artifacts),
                         DesiredState.model_validate(self.desired), dict(self.options))


class Probe(_Message):
    """One service probe a device sends (drift, and a rollout's health gate)."""

    service: str
    provider: str
    protocol: str
    port: int | None = None
    source: str | None = None
    consumers: tuple[str, ...] = ()


class DeviceRequest(_Message):
    """One action on one device. `job` travels with prepare and drift (which open the session);
    the later phases of a transaction find the session the executor kept."""

    host: str
    action: Action
    job: JobSpec | None = None
    #: the run it belongs to, where the executor watches runs (Celery: a key the controller renews)
    run: str = ""
    #: prepare: the saved plan's fingerprint of the live configuration
    expected: str | None = None
    #: commit, verify, confirm: the confirmed commit's timeout (the device's revert timer)
    confirm_timeout: int = CONFIRM_TIMEOUT
    #: verify: how long to poll the RIB, and the protocols (adjacencies, sessions) when the job has any
    verify_timeout: float = VERIFY_TIMEOUT
    protocol_timeout: float = PROTOCOL_CONVERGENCE_TIMEOUT
    #: recover: the journal data of the interrupted run's transaction on the device
    recovery: dict[str, Any] | None = None
    #: drift
    show_unmanaged: bool = False
    probes: tuple[Probe, ...] = ()


class DeviceResult(_Message):
    """What one action did. status/error: the device's new status and error where the action
    set them (None: unchanged); checks are appended to the device's."""

    host: str
    action: Action
    status: str | None = None
    error: str | None = None
    diff: str | None = None
    checks: tuple[str, ...] = ()
    #: prepare: a session is open on the device; the fingerprint of the configuration it had
    opened: bool = False
    fingerprint: str | None = None
    #: what a recovery needs (the session's journal data), after prepare/commit/verify/confirm
    journal: dict[str, Any] | None = None
    #: read_back: new, old, diverged, unknown
    final: str | None = None
    #: rollback: it succeeded
    ok: bool = True
    #: state: what still differs in the live state; reach: the probe's problem per service
    problems: tuple[str, ...] = ()
    #: drift: the device's drift, as DeviceDrift's JSON
    drift: dict[str, Any] | None = None
    duration: float = 0.0
    #: recover: what was done, in words
    detail: str | None = None
    #: the executor lost the device's session (a worker died): the device is in an unknown state
    lost: bool = False
    #: which worker served it (Celery: its private queue)
    worker: str = ""
