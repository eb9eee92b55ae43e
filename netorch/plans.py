"""Saved plans (`netorch plan --out FILE`, `netorch apply FILE`) and stored revisions.

A saved plan says, per device, exactly what an apply of it will push: the rendered
artifacts and the desired state they came from, the fingerprint of the live configuration
the plan was computed against, and the diff shown for review. Applying it pushes exactly
those artifacts, and refuses, device by device, a device whose live configuration changed
since the plan (stale), or all of them when the intents changed.

The file holds no secrets (artifacts are what netorch renders from intents, which hold
none). It is versioned and sealed with an HMAC whose key lives beside the store (0600), so
a truncated, edited or foreign plan file is refused on load.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netorch.errors import NetorchError
from netorch.model.desired import DesiredState
from netorch.platforms import Transport
from netorch.transport.base import DeviceJob

FORMAT = "netorch-plan"
VERSION = 1
MAX_PLAN_BYTES = 512 * 1024 * 1024


class PlanError(NetorchError):
    """A saved plan file cannot be used (missing, truncated, tampered, another version)."""


def fingerprint(config: dict[str, str]) -> str:
    """A digest of a device's live configuration (per artifact), as read at prepare."""
    text = json.dumps({k: v for k, v in sorted(config.items())}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def key_path(store_path: Path) -> Path:
    return store_path.parent / "plan.key"


def _key(store_path: Path, create: bool) -> bytes:
    path = key_path(store_path)
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        if not create:
            raise PlanError(f"no plan key at {path}: this plan was not made with this store") from None
    except (OSError, ValueError) as exc:
        raise PlanError(f"plan key {path} unreadable: {exc}") from None
    value = secrets.token_bytes(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(value.hex() + "\n")
    except OSError as exc:
        raise PlanError(f"cannot create the plan key {path}: {exc.strerror or exc}") from None
    return value


@dataclass(frozen=True)
class PlannedDevice:
    host: str
    platform: str
    transport: str
    artifacts: dict[str, str]
    desired: dict[str, Any]
    live_fingerprint: str
    diff: str

    def job(self) -> DeviceJob:
        return DeviceJob(self.host, self.platform, Transport(self.transport), dict(self.artifacts),
                         DesiredState.model_validate(self.desired))


@dataclass(frozen=True)
class SavedPlan:
    revision: str
    created_at: float
    actor: str
    limit: str | None
    devices: tuple[PlannedDevice, ...]

    def body(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "revision": self.revision, "created_at": self.created_at,
                "actor": self.actor, "limit": self.limit,
                "devices": [d.__dict__ for d in self.devices]}

    def save(self, path: Path, store_path: Path) -> None:
        body = self.body()
        text = json.dumps(body, sort_keys=True)
        mac = hmac.new(_key(store_path, create=True), text.encode(), hashlib.sha256).hexdigest()
        try:
            path.write_text(json.dumps({"plan": body, "hmac": mac}, sort_keys=True, indent=1) + "\n",
                            encoding="utf-8")
        except OSError as exc:
            raise PlanError(f"cannot write the plan {path}: {exc.strerror or exc}") from None

    @classmethod
    def load(cls, path: Path, store_path: Path) -> SavedPlan:
        try:
            if path.stat().st_size > MAX_PLAN_BYTES:
                raise PlanError(f"{path}: larger than {MAX_PLAN_BYTES} bytes")
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise PlanError(f"no plan file {path}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PlanError(f"{path} is not a netorch plan (truncated or damaged?): {exc}") from None
        if not isinstance(raw, dict) or set(raw) != {"plan", "hmac"} or not isinstance(raw["plan"], dict):
            raise PlanError(f"{path} is not a netorch plan")
        body = raw["plan"]
        text = json.dumps(body, sort_keys=True)
        mac = hmac.new(_key(store_path, create=False), text.encode(), hashlib.sha256).hexdigest()
        if not isinstance(raw["hmac"], str) or not hmac.compare_digest(mac, raw["hmac"]):
            raise PlanError(f"{path}: the plan's seal does not match: it was changed after it was made, "
                            "or made with another store")
        if body.get("format") != FORMAT or body.get("version") != VERSION:
            raise PlanError(f"{path}: plan format {body.get('format')!r} version {body.get('version')!r}, "
                            f"this netorch reads {FORMAT!r} version {VERSION}")
        try:
            devices = tuple(PlannedDevice(**d) for d in body["devices"])
            return cls(str(body["revision"]), float(body["created_at"]), str(body["actor"]), body.get("limit"),
                       devices)
        except (KeyError, TypeError, ValueError) as exc:
            raise PlanError(f"{path}: malformed plan: {exc}") from None


def new_plan(revision: str, actor: str, limit: str | None, devices: list[PlannedDevice]) -> SavedPlan:
    return SavedPlan(revision, time.time(), actor, limit, tuple(sorted(devices, key=lambda d: d.host)))
