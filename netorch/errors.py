"""The exception tree of netorch.

    NetorchError                      root: every error netorch raises on purpose
    ├── SourceError                   a problem in an input file (has file:line)
    │   ├── YamlSyntaxError           malformed YAML
    │   └── ValidationFailed          intents/inventory invalid: carries every Problem
    ├── CredentialsError              credentials missing or unreadable
    ├── RenderError                   a template failed (names host, template, variable)
    ├── TransportError                talking to a device failed (names host)
    │   ├── DeviceUnreachable         connect/auth/timeout
    │   │   └── HostKeyRejected       SSH host key unknown or changed: nothing was sent
    │   ├── DeviceRejected            the device refused the configuration
    │   └── ConfirmExpired            a confirmed commit's timer fired first: the device reverted
    ├── ApplyFailed                   a transactional apply was rolled back
    ├── DeviceBusy                    a device is leased by another run
    ├── StoreError                    the local store failed
    ├── ExecutorUnavailable           the executor (a broker, its workers) cannot take work
    └── LabError                      the local lab could not be built or torn down

Per-host outcomes are returned as typed result objects, not raised; exceptions
are for the caller that asks for them.

Text that quotes input is echoed to terminals, logs and API clients: `printable`
shows control characters, bidirectional overrides and other invisible characters
as escapes (\x1b, \u202e), so input can neither drive a terminal nor forge a line.
A Problem applies it to its fields when it is made.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class NetorchError(Exception):
    """Root of every error netorch raises on purpose."""


_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(ch: str) -> str:
    if ch in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[ch]
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: str) -> str:
    """`text` with every non-printable character (C0 and C1 controls, DEL, ESC, newlines,
    bidirectional overrides and isolates, zero-width and other format characters) escaped."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text)


@dataclass(frozen=True, order=True)
class Problem:
    """One problem found in the inputs, located as precisely as possible. Its text fields are
    stored printable(): a value quoted in a message cannot reach a terminal raw."""

    file: str
    line: int
    path: str
    message: str
    code: str = field(default="invalid", compare=False)

    def __post_init__(self) -> None:
        for name in ("file", "path", "message"):
            value = getattr(self, name)
            if isinstance(value, str) and not value.isprintable():
                object.__setattr__(self, name, printable(value))

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        path = f" [{self.path}]" if self.path else ""
        return f"{where}:{path} {self.message}"


class SourceError(NetorchError):
    """A problem in one input file."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


class YamlSyntaxError(SourceError):
    """An input file is not valid YAML."""


class ValidationFailed(NetorchError):
    """The intents or the inventory are invalid; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__(f"{len(self.problems)} problem(s) found")


class CredentialsError(NetorchError):
    """Credentials are missing, unreadable or malformed."""


class RenderError(NetorchError):
    """A template could not be rendered for a host."""

    def __init__(self, host: str, template: str, message: str) -> None:
        super().__init__(f"{host}: template {template}: {message}")
        self.host = host
        self.template = template


class TransportError(NetorchError):
    """Talking to a device failed."""

    def __init__(self, host: str, message: str) -> None:
        super().__init__(f"{host}: {message}")
        self.host = host
        self.message = message


class DeviceUnreachable(TransportError):
    """The device could not be reached (connect, authentication, timeout)."""


class HostKeyRejected(DeviceUnreachable):
    """The device's SSH host key is not the known one (unknown, or changed): refused before
    any credential was sent."""


class DeviceRejected(TransportError):
    """The device rejected the configuration."""


class ConfirmExpired(TransportError):
    """The device's revert timer fired before the confirm: it restored its previous config."""


class ApplyFailed(NetorchError):
    """A transactional apply failed and was rolled back."""


class DeviceBusy(NetorchError):
    """A device is in another run (its lease is held by another process)."""

    def __init__(self, host: str, run_id: int, actor: str, kind: str, message: str) -> None:
        super().__init__(message)
        self.host = host
        self.run_id = run_id
        self.actor = actor
        self.kind = kind


class StoreError(NetorchError):
    """The local store could not be read or written."""


class ExecutorUnavailable(NetorchError):
    """The executor cannot take work (its broker is down): nothing was sent to any device."""


class LabError(NetorchError):
    """The local lab could not be built, inspected or torn down."""
