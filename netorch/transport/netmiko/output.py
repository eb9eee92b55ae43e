"""What a CLI device prints, read without a device: the lines a configuration session
rejected (cli_errors), intended static routes against FRR's RIB in JSON
(route_checks_from_rib), and netmiko/paramiko/socket failures as short, secret-free
text (describe_error, scrub_secret).

As FRR 8.4 prints it through a vtysh login shell (netmiko device_type cisco_ios):
- Errors are lines starting with "% " ("% Unknown command: ...", "% Command incomplete: ...",
  "% Refusing to remove a non-existent route", or "% Configuration failed." followed
  by "Error type" / "Error description" lines). "% Warning..." is not an error.
- `write memory` prints "% Warning: can't chown configuration file" in the lab and
  still succeeds ("Integrated configuration saved to ...").
- Static routes whose next hop does not resolve are not in `show ip route json`.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterable
from typing import Any

import paramiko
from netmiko.exceptions import NetmikoAuthenticationException, NetmikoTimeoutException, ReadTimeout

from netorch.model.desired import DesiredRoute
from netorch.transport.base import RouteCheck

#: a CLI prompt echoing a command: "r3(config-if)# description x" -> "description x"
PROMPT_RE = re.compile(r"^[^\s#%()]+(?:\([\w.-]+\))?#\s?(.*)$")
ERROR_PREFIX = "% "
WRITE_OK_RE = re.compile(r"\[OK\]|[Cc]onfiguration saved to|saved to ")


def cli_errors(output: str) -> list[tuple[str, str]]:
    """(command, error text) for every line a CLI rejected in a configuration session's
    output (the echo "r3(config)# cmd" names the command; "% ..." lines and the lines
    after them up to the next prompt are the error). "% Warning..." is not an error."""
    errors: list[tuple[str, str]] = []
    command = ""
    current: list[str] | None = None

    def close() -> None:
        if current:
            errors.append((command, " ".join(part for part in current if part)))

    for raw in output.splitlines():
        line = raw.strip()
        prompt = PROMPT_RE.match(line)
        if prompt:
            close()
            current = None
            command = prompt.group(1).strip()
        elif line.startswith(ERROR_PREFIX.strip()) and not line.startswith("% Warning"):
            close()
            current = [line]
        elif current is not None:
            current.append(line)
    close()
    return errors


def route_checks_from_rib(routes: Iterable[DesiredRoute], tables: dict[str, dict[str, Any]]) -> list[RouteCheck]:
    """Match intended routes against FRR `show ip route [vrf NAME] json` tables, keyed by VRF
    name ("" for the default VRF). present: a static entry with the prefix, next hop,
    interface and distance exists; active: that entry is selected and installed with an
    active next hop."""
    out = []
    for route in routes:
        table = tables.get(route.vrf or "", {})
        entries = [e for e in table.get(str(route.prefix), [])
                   if e.get("protocol") == "static" and int(e.get("distance", route.distance)) == route.distance]
        present = active = False
        for entry in entries:
            hops = [h for h in entry.get("nexthops", [])
                    if (route.next_hop is None or h.get("ip") == str(route.next_hop))
                    and (route.interface is None or h.get("interfaceName") == route.interface)]
            if hops:
                present = True
                if entry.get("selected") and entry.get("installed") and any(h.get("active") for h in hops):
                    active = True
        via = f"{route.next_hop or ''} {route.interface or ''}".strip()
        where = f" (vrf {route.vrf})" if route.vrf else ""
        detail = ("" if active else
                  f"static route {route.prefix} via {via}{where} is in the RIB but not active" if present else
                  f"static route {route.prefix} via {via}{where} is not in the RIB")
        out.append(RouteCheck(route=route, present=present, active=active, detail=detail))
    return out


def describe_error(exc: BaseException, where: str = "") -> str:
    """A short, secret-free description of a netmiko/paramiko/socket failure."""
    at = f" {where}" if where else ""
    if isinstance(exc, (NetmikoAuthenticationException, paramiko.AuthenticationException)):
        return f"authentication failed{at}"
    if isinstance(exc, ReadTimeout):
        return f"no answer from the device{at} within the read timeout"
    if isinstance(exc, (NetmikoTimeoutException, socket.timeout, TimeoutError)):
        return f"timed out{at} (unreachable or not answering)"
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused{at}"
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"network error{at}: {exc.strerror or exc}"
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    return f"{type(exc).__name__}{at}: {first}" if first else f"{type(exc).__name__}{at}"


def scrub_secret(text: str, secret: object) -> str:
    return text.replace(secret, "***") if isinstance(secret, str) and len(secret) >= 4 else text
