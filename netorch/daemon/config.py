"""The daemon's configuration file (YAML), validated like intents: unknown keys are errors."""

from __future__ import annotations

import ipaddress
import os
import ssl
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, model_validator

from netorch.errors import NetorchError
from netorch.model.types import Frozen
from netorch.service import templates_folder


class Schedule(Frozen):
    """A drift check over `limit` (hosts/groups; all deployable hosts when empty), every
    `interval` seconds or on a `cron` expression (crontab syntax, five fields)."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,47}$")
    limit: str | None = None
    interval: float | None = Field(default=None, gt=0, le=366 * 86400)  # at least once a year
    cron: str | None = None
    remediate: bool = False

    @model_validator(mode="after")
    def _one_trigger(self) -> Schedule:
        if (self.interval is None) == (self.cron is None):
            raise ValueError("a schedule has exactly one of interval or cron")
        if self.cron is not None:
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(self.cron)
            except ValueError as exc:
                raise ValueError(f"invalid cron expression {self.cron!r}: {exc}") from None
        return self


class Token(Frozen):
    """A bearer token: the secret comes from the file (`token`) or an environment variable (`env`)."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_.@-]{0,63}$")
    role: Literal["read", "operate"]
    token: str | None = Field(default=None, min_length=16, repr=False)
    env: str | None = None

    def secret(self) -> str | None:
        if self.env:
            return os.environ.get(self.env) or None
        return self.token


class Webhook(Frozen):
    """Where events are POSTed. Each event is written to the store's outbox first, then sent in
    order; a failed delivery is retried with exponential backoff (`backoff` seconds, doubling,
    at most `backoff_max`) until it succeeds or is `max_attempts` attempts or `max_age` seconds
    old (then it is dead). Beyond `max_pending` undelivered events the oldest are dropped. With a
    `secret` (or `secret_env`), each POST carries X-Netorch-Signature: sha256=HMAC(secret, body)."""

    url: str = Field(pattern=r"^https?://")
    timeout: float = Field(default=5.0, gt=0, le=60)
    max_attempts: int = Field(default=500, ge=1, le=1_000_000)
    max_age: float = Field(default=86_400.0, gt=0, le=30 * 86_400, description="seconds")
    backoff: float = Field(default=1.0, gt=0, le=3600)
    backoff_max: float = Field(default=300.0, gt=0, le=86_400)
    max_pending: int = Field(default=10_000, ge=1, le=1_000_000)
    secret: str | None = Field(default=None, min_length=16, repr=False)
    secret_env: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _retries(cls, data: object) -> object:
        # older configs: `retries: N` meant N+1 attempts per event
        if isinstance(data, dict) and "retries" in data:
            data = dict(data)
            retries = data.pop("retries")
            if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
                raise ValueError("retries must be a whole number >= 0 (better: max_attempts and max_age)")
            data.setdefault("max_attempts", retries + 1)
        return data

    def signing_key(self) -> str | None:
        if self.secret_env:
            return os.environ.get(self.secret_env) or None
        return self.secret


class Tls(Frozen):
    """The API's certificate chain and private key (PEM files), passed to uvicorn."""

    cert: Path
    key: Path


def is_loopback(listen: str) -> bool:
    """True for a loopback address (127.0.0.0/8, ::1) or the name localhost."""
    if listen.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(listen.strip("[]")).is_loopback
    except ValueError:
        return False  # any other host name may resolve to a routable address


class ExecutorConfig(Frozen):
    """Where the daemon's device work runs: here (inprocess), or on Celery workers through a
    Redis broker (netorch worker --queues REGION)."""

    kind: Literal["inprocess", "celery"] = "inprocess"
    broker: str = Field(default="redis://127.0.0.1:6379/0", pattern=r"^rediss?://\S+$")

    def spec(self) -> str:
        return "inprocess" if self.kind == "inprocess" else f"celery:{self.broker}"


class DaemonConfig(Frozen):
    listen: str = "127.0.0.1"
    port: int = Field(default=8040, ge=0, le=65535)
    inventory: Path = Path("inventory")
    intents: Path = Path("intents")
    #: unset: NETORCH_TEMPLATES, else ./templates if it exists, else the packaged templates
    templates: Path = Field(default_factory=templates_folder)
    credentials: Path | None = None
    store: Path = Path(".netorch/netorch.db")
    workers: int = Field(default=20, ge=1, le=500)
    schedules: tuple[Schedule, ...] = ()
    tokens: tuple[Token, ...] = ()
    webhook: Webhook | None = None
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    warm_connections: int = Field(default=1000, ge=0, description="device sessions kept open between checks")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    tls: Tls | None = None
    insecure_http: bool = Field(default=False, description="serve plain HTTP on a non-loopback address")
    body_timeout: float = Field(default=30.0, gt=0, le=600, description="seconds to receive a whole request body")
    header_timeout: float = Field(default=10.0, gt=0, le=600, description="seconds to receive a request's head")
    keep_alive_timeout: int = Field(default=5, ge=1, le=300, description="idle seconds before a connection closes")
    max_connections: int = Field(default=200, ge=1, le=10_000, description="beyond it, requests get 503")
    accept_new_host_keys: bool = Field(default=False, description="trust unknown SSH host keys on first use")
    executor: ExecutorConfig = ExecutorConfig()

    @model_validator(mode="after")
    def _tokens(self) -> DaemonConfig:
        names = [t.name for t in self.tokens]
        if len(names) != len(set(names)):
            raise ValueError("token names must be unique")
        return self

    @model_validator(mode="after")
    def _exposure(self) -> DaemonConfig:
        if self.tls is None and not self.insecure_http and not self.loopback:
            raise ValueError(
                f"listen {self.listen!r} is not a loopback address: the API then needs TLS "
                "(tls: {cert: FILE, key: FILE}), or insecure_http: true to serve plain HTTP "
                "(tokens and reports then cross the network in clear)")
        return self

    @property
    def loopback(self) -> bool:
        return is_loopback(self.listen)

    @property
    def exposed_in_clear(self) -> bool:
        """Plain HTTP on a non-loopback address (the insecure_http opt-out)."""
        return self.tls is None and not self.loopback


def load_config(path: Path | None) -> DaemonConfig:
    """The config file, or defaults; tokens may also come from NETORCH_API_TOKENS
    ("name:role:secret,name:role:secret")."""
    data: dict[str, object] = {}
    if path is not None:
        from netorch.errors import YamlSyntaxError
        from netorch.yamlsrc import load_file

        try:
            loaded, problems = load_file(path)  # bounded like every input
        except YamlSyntaxError as exc:
            raise NetorchError(f"daemon config {exc}") from None
        if problems:
            raise NetorchError(f"daemon config {problems[0]}")
        loaded = loaded or {}
        if not isinstance(loaded, dict):
            raise NetorchError(f"daemon config {path} must hold a mapping")
        data = loaded
    env_tokens = os.environ.get("NETORCH_API_TOKENS", "")
    if env_tokens:
        extra = []
        for item in env_tokens.split(","):
            parts = item.strip().split(":", 2)
            if len(parts) != 3:
                raise NetorchError("NETORCH_API_TOKENS: give name:role:secret, comma separated")
            extra.append({"name": parts[0], "role": parts[1], "token": parts[2]})
        data["tokens"] = [*list(data.get("tokens") or []), *extra]  # type: ignore[call-overload]
    try:
        config = DaemonConfig.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            message = err["msg"].removeprefix("Value error, ")
            lines.append(f"  {where}: {message}" if where else f"  {message}")
        raise NetorchError(f"invalid daemon config {path or '(defaults)'}:\n" + "\n".join(lines)) from None
    if config.tls is not None:
        check_tls(config.tls, path)
    return config


def check_tls(tls: Tls, path: Path | None) -> None:
    """Load the certificate and key once, so that a wrong file is an error at start-up, not a traceback."""
    where = f"daemon config {path or '(defaults)'}"
    for what, file in (("cert", tls.cert), ("key", tls.key)):
        if not file.is_file():
            raise NetorchError(f"{where}: tls.{what} {file} is not a readable file")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(tls.cert, tls.key)
    except OSError as exc:  # ssl.SSLError is an OSError
        raise NetorchError(f"{where}: cannot load tls.cert {tls.cert} with tls.key {tls.key}: not a PEM "
                           f"certificate chain and its private key ({exc})") from None
