"""Constrained value types shared by the intent and inventory models.

Every value that can reach a template is constrained here: names and interface
names are identifiers, free text is limited to characters that cannot start a
new configuration line, a comment or a command in any supported platform.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,47}")
IFNAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9/._:-]{0,47}")
HOSTNAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.:-]{0,252}")
SAFE_TEXT_RE = re.compile(r"[A-Za-z0-9 _.,:/()@+=-]{0,120}")
SAFE_TEXT_CHARS = "letters, digits, space and _.,:/()@+=-"


class Frozen(BaseModel):
    """Base of every netorch value: immutable, and unknown fields are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=False)


def _describe(ch: str) -> str:
    return repr(ch) if ch.isprintable() else f"U+{ord(ch):04X}"


def _check_name(value: str) -> str:
    if not NAME_RE.fullmatch(value):
        raise ValueError(
            f"invalid name {value!r}: use a letter then up to 47 letters, digits, '_' or '-'"
        )
    return value


def _check_ifname(value: str) -> str:
    if not IFNAME_RE.fullmatch(value):
        raise ValueError(
            f"invalid interface name {value!r}: use a letter then letters, digits or /._:-"
        )
    return value


def _check_hostname(value: str) -> str:
    if not HOSTNAME_RE.fullmatch(value):
        raise ValueError(f"invalid hostname or address {value!r}")
    return value


def _check_text(value: str) -> str:
    if SAFE_TEXT_RE.fullmatch(value):
        return value
    bad = next((ch for ch in value if not SAFE_TEXT_RE.fullmatch(ch)), None)
    if bad is None:
        raise ValueError("text longer than 120 characters")
    raise ValueError(
        f"text contains {_describe(bad)}, which could inject configuration; "
        f"allowed: {SAFE_TEXT_CHARS}"
    )


def _strict_str(value: Any) -> Any:
    """Refuse numbers and booleans where a string is expected (YAML turns 'no' into False)."""
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {type(value).__name__} {value!r}")
    return value


Name = Annotated[str, BeforeValidator(_strict_str), AfterValidator(_check_name)]
IfName = Annotated[str, BeforeValidator(_strict_str), AfterValidator(_check_ifname)]
HostAddress = Annotated[str, BeforeValidator(_strict_str), AfterValidator(_check_hostname)]
SafeText = Annotated[str, BeforeValidator(_strict_str), AfterValidator(_check_text)]
Distance = Annotated[int, Field(ge=1, le=255)]


def _strict_network(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return IPv4Network(value, strict=True)
        except ValueError as exc:
            raise ValueError(f"invalid IPv4 prefix {value!r}: {exc}") from None
    return value


def _strict_interface(value: Any) -> Any:
    if isinstance(value, str):
        if "/" not in value:
            raise ValueError(f"invalid interface address {value!r}: give address/prefixlen")
        try:
            return IPv4Interface(value)
        except ValueError as exc:
            raise ValueError(f"invalid interface address {value!r}: {exc}") from None
    return value


def _strict_address(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return IPv4Address(value)
        except ValueError as exc:
            raise ValueError(f"invalid IPv4 address {value!r}: {exc}") from None
    return value


Prefix = Annotated[IPv4Network, BeforeValidator(_strict_network)]
IfAddress = Annotated[IPv4Interface, BeforeValidator(_strict_interface)]
Address = Annotated[IPv4Address, BeforeValidator(_strict_address)]


class PortRange(Frozen):
    start: int = Field(ge=1, le=65535)
    end: int = Field(ge=1, le=65535)

    def __str__(self) -> str:
        return str(self.start) if self.start == self.end else f"{self.start}-{self.end}"

    def covers(self, other: PortRange) -> bool:
        return self.start <= other.start and other.end <= self.end

    def overlaps(self, other: PortRange) -> bool:
        return self.start <= other.end and other.start <= self.end


def _parse_port(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"invalid port {value!r}")
    if isinstance(value, int):
        if not 1 <= value <= 65535:
            raise ValueError(f"port {value} is out of range 1-65535")
        return {"start": value, "end": value}
    if isinstance(value, str):
        text = value.strip()
        lo, sep, hi = text.partition("-")
        if lo.isdigit() and (not sep or hi.isdigit()):
            start, end = int(lo), int(hi) if sep else int(lo)
            if start > end:
                raise ValueError(f"invalid port range {value!r}: start is above end")
            if not (start >= 1 and end <= 65535):
                raise ValueError(f"port range {value!r} is out of range 1-65535")
            return {"start": start, "end": end}
        raise ValueError(f"invalid port {value!r}: give a number or a range like 8000-8080")
    return value


Port = Annotated[PortRange, BeforeValidator(_parse_port)]
