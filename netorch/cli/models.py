"""The --json outputs of the commands whose report has no model of its own below the command
line: history (runs, one run, verifications), diff, verify --against, render and the list of
schemas. Each command prints its JSON through its model (`netorch schema KIND` prints the
model's JSON Schema), so what is printed and what is documented cannot part."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from netorch.verify.report import PacketJson

Verdict = Literal["ok", "fail", "same", "different", "incomplete"]


class _Json(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- history


class VerificationJson(_Json):
    """One kept verification: a `netorch verify`, or the one plan or apply made before touching
    any device."""

    id: int
    run_id: int | None = Field(description="the plan or apply run it was made for (null: a `netorch verify`)")
    kind: str = Field(description="verify, plan or apply: the command that made it")
    created_at: float = Field(description="seconds since the epoch")
    actor: str
    revision: str
    against: str | None = Field(description="what a differential compared the intents with (live, run N, a "
                                "revision); null for the promises of the intents")
    verdict: Verdict
    summary: str
    failures: list[dict[str, Any]] = Field(description="the failed promises, each with its counterexample")
    details: dict[str, Any] = Field(description="the report's statistics; a differential's changed flows")


class DeviceRecordJson(_Json):
    """One device of a recorded run."""

    host: str
    status: str
    changed: bool
    diff: str
    error: str
    details: dict[str, Any] = Field(description="what the run kept of the device: final state, phase, ...")
    duration: float


class RunSummaryJson(_Json):
    """One run in `netorch history --json`."""

    id: int
    kind: str = Field(description="apply, plan, drift or recover")
    started_at: float = Field(description="seconds since the epoch")
    finished_at: float | None = Field(description="null while the run is running, or when it was interrupted")
    actor: str
    revision: str
    status: str
    summary: dict[str, Any] = Field(description="the run's counts of device statuses and its message")
    options: dict[str, Any]
    verification: Verdict | None = Field(None, description="the verdict of the verification linked to the run")


class RunJson(_Json):
    """`netorch history RUN --json`: one run in full, with its devices and verifications."""

    id: int
    kind: str = Field(description="apply, plan, drift or recover")
    started_at: float = Field(description="seconds since the epoch")
    finished_at: float | None
    actor: str
    revision: str
    status: str
    summary: dict[str, Any]
    options: dict[str, Any]
    devices: list[DeviceRecordJson]
    verifications: list[VerificationJson]


class HistoryJson(RootModel[list[RunSummaryJson]]):
    """`netorch history --json`: the latest runs, newest first."""


class VerificationsJson(RootModel[list[VerificationJson]]):
    """`netorch history --kind verify --json`: the latest verifications, newest first."""


# ---------------------------------------------------------------- diff, verify --against, render


class RevisionDiffJson(_Json):
    """`netorch diff REV_A REV_B --json`."""

    a: str = Field(description="the first revision")
    b: str = Field(description="the second revision")
    intents: str = Field(description="unified diff of the intents and inventory files ('' when equal)")
    devices: dict[str, str] = Field(description="device -> unified diff of its configuration as the two "
                                    "revisions' applies pushed it (devices without difference left out)")


class ChangeJson(_Json):
    """Flows whose outcome differs, between one pair of domains."""

    kind: Literal["newly allowed", "newly blocked"]
    source_domain: str
    destination_domain: str
    sources: list[str]
    destinations: list[str]
    services: str
    example: PacketJson = Field(description="one concrete flow of the change")
    before: str = Field(description="what decides the example flow on the `before` side")
    after: str = Field(description="what decides it on the `after` side (the current intents)")
    path_before: list[str]
    path_after: list[str]
    classes: int = Field(description="(source, destination) address classes the change covers")


class DifferentialJson(_Json):
    """`netorch verify --against live|RUN|REV --json`."""

    against: str | None = Field(description="what the intents were compared with")
    before: str
    after: str
    verdict: Literal["same", "different", "incomplete"]
    exit_code: int = Field(description="0 no difference, 2 differences, 1 a device could not be read")
    summary: str
    counts: dict[str, int]
    changes: list[ChangeJson]
    notes: list[str]
    unreadable: list[str] = Field(description="devices that could not be read (the answer is incomplete)")
    stats: dict[str, Any]
    duration: float


class RenderJson(_Json):
    """`netorch render --json`: what was written where."""

    out: str = Field(description="the folder written into")
    hosts: dict[str, list[str]] = Field(description="host -> the artifacts written for it (file names)")
    files: int = Field(description="how many files were written")


# ---------------------------------------------------------------- schema


class SchemaEntryJson(_Json):
    name: str = Field(description="the KIND of `netorch schema KIND`")
    description: str


class SchemaListJson(RootModel[list[SchemaEntryJson]]):
    """`netorch schema --json`: every schema netorch prints."""
