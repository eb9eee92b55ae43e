"""Constrained value types shared by the intent and inventory models.

Every value that can reach a template is constrained here: names and interface
names are identifiers, free text is limited to characters that cannot start a
new configuration line, a comment or a command in any supported platform.

Nothing is coerced: a prefix or an address is a string in dotted form (never a
number, which ipaddress would read as 0.0.0.10), a whole number is a YAML integer
(never text, a float or a boolean), a boolean is true or false. The loader keeps
YAML 1.1's look-alikes (yes/no/on/off, 0022, 1:30) as text, so they fail here with
a message that says why.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Annotated, Any, get_args

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from netorch.util import unknown_name

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
    """Refuse numbers and booleans where a string is expected."""
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {type(value).__name__} {value!r}")
    return value


_LEADING_ZERO_RE = re.compile(r"[-+]?0[0-9_]+")
_SEXAGESIMAL_RE = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+")
_YAML11_BOOLS = frozenset({"yes", "no", "on", "off", "y", "n"})


def _hint(value: Any) -> str:
    """Why a text is not the number or boolean it looks like (YAML 1.1 would have read it so)."""
    text = value.strip() if isinstance(value, str) else ""
    if _LEADING_ZERO_RE.fullmatch(text):
        return " (a leading zero: YAML 1.1 reads it as octal; write the number without it)"
    if _SEXAGESIMAL_RE.fullmatch(text):
        return " (YAML 1.1 reads it as a base-60 number; netorch does not)"
    if text.lower() in _YAML11_BOOLS:
        return " (YAML 1.1 reads it as a boolean; to netorch it is text, and a boolean is true or false)"
    return ""


def _got(value: Any) -> str:
    """What a value is, for a message."""
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"string {value!r}{_hint(value)}"
    return f"{type(value).__name__} {value!r}"


def strict_int(value: Any) -> Any:
    """A whole number written as one: no text, no float, no boolean (bool is an int in Python)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {_got(value)}")
    return value


def _strict_bool(value: Any) -> Any:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {_got(value)}")
    return value


Int = Annotated[int, BeforeValidator(strict_int)]
Bool = Annotated[bool, BeforeValidator(_strict_bool)]


Name = Annotated[str, BeforeValidator(_strict_str), AfterValidator(_check_name)]
IfName = Annotated[str, BeforeValidator(_strict_str), AfterValidator(_check_ifname)]
HostAddress = Annotated[str, BeforeValidator(_strict_str), AfterValidator(_check_hostname)]
SafeText = Annotated[str, BeforeValidator(_strict_str), AfterValidator(_check_text)]
Distance = Annotated[int, BeforeValidator(strict_int), Field(ge=1, le=255)]
Sequence = Annotated[int, BeforeValidator(strict_int), Field(ge=1, le=65000)]
TcpPort = Annotated[int, BeforeValidator(strict_int), Field(ge=1, le=65535)]


def _strict_network(value: Any) -> Any:
    if isinstance(value, IPv4Network):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected an IPv4 prefix like 10.2.0.0/24, got {_got(value)}")
    if "/" not in value:
        raise ValueError(f"invalid IPv4 prefix {value!r}: give network/prefixlen, e.g. 10.2.0.0/24 "
                         "(a /32 for one address)")
    try:
        return IPv4Network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"invalid IPv4 prefix {value!r}: {exc}") from None


def _strict_interface(value: Any) -> Any:
    if isinstance(value, IPv4Interface):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected an interface address like 10.0.12.1/30, got {_got(value)}")
    if "/" not in value:
        raise ValueError(f"invalid interface address {value!r}: give address/prefixlen")
    try:
        return IPv4Interface(value)
    except ValueError as exc:
        raise ValueError(f"invalid interface address {value!r}: {exc}") from None


def _strict_address(value: Any) -> Any:
    if isinstance(value, IPv4Address):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected an IPv4 address like 10.0.12.2, got {_got(value)}")
    try:
        return IPv4Address(value)
    except ValueError as exc:
        raise ValueError(f"invalid IPv4 address {value!r}: {exc}") from None


Prefix = Annotated[IPv4Network, BeforeValidator(_strict_network)]
IfAddress = Annotated[IPv4Interface, BeforeValidator(_strict_interface)]
Address = Annotated[IPv4Address, BeforeValidator(_strict_address)]


class PortRange(Frozen):
    start: TcpPort
    end: TcpPort

    def __str__(self) -> str:
        return str(self.start) if self.start == self.end else f"{self.start}-{self.end}"

    def covers(self, other: PortRange) -> bool:
        return self.start <= other.start and other.end <= self.end

    def overlaps(self, other: PortRange) -> bool:
        return self.start <= other.end and other.start <= self.end


_PORT_TEXT_RE = re.compile(r"([0-9]+)(?:-([0-9]+))?")


def _parse_port(value: Any) -> Any:
    if isinstance(value, PortRange):
        return value
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"invalid port {_got(value)}: give a number or a range like 8000-8080")
    if isinstance(value, int):
        if not 1 <= value <= 65535:
            raise ValueError(f"port {value} is out of range 1-65535")
        return {"start": value, "end": value}
    match = _PORT_TEXT_RE.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"invalid port {value!r}: give a number or a range like 8000-8080{_hint(value)}")
    if any(part and len(part) > 1 and part.startswith("0") for part in match.groups()):
        raise ValueError(f"invalid port {value!r}: a leading zero (YAML 1.1 reads 0022 as octal 18); "
                         "write the number without it")
    start = int(match[1])
    end = int(match[2]) if match[2] else start
    if start > end:
        raise ValueError(f"invalid port range {value!r}: start is above end")
    if not (start >= 1 and end <= 65535):
        raise ValueError(f"port range {value!r} is out of range 1-65535")
    return {"start": start, "end": end}


Port = Annotated[PortRange, BeforeValidator(_parse_port), WithJsonSchema({
    "anyOf": [{"type": "integer", "minimum": 1, "maximum": 65535},
              {"type": "string", "pattern": "^[0-9]{1,5}-[0-9]{1,5}$", "description": "a range: 8000-8080"}],
})]


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation holds (through tuples, lists, dicts, unions, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    for arg in get_args(annotation):
        out += _models_in(arg)
    return out


def unknown_field(loc: tuple[Any, ...], model: type[BaseModel]) -> str:
    """"unknown field 'descr'; did you mean 'description'? (fields: ...)" for an extra field at
    `loc` (pydantic's error location, from `model`): the fields of the model that holds it."""
    models = [model]
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        inner = [m for m in models if part in m.model_fields]
        if inner:
            models = [x for m in inner for x in _models_in(m.model_fields[part].annotation)]
        # else: a key of a mapping (an interface name): the same models hold its value
        if not models:
            break
    fields = sorted({f for m in models for f in m.model_fields})
    return unknown_name("field", str(loc[-1]), fields)
