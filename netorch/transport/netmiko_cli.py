"""DeviceSession over netmiko: CLI-only devices, pushed as a merge of computed lines.

The lines come from netorch.configtree.hconfig (the managed scope, hier_config's FRR
driver, remediation and rollback). netorch emulates confirmed commits from the
controller (native_confirm = False): commit(revert_in=N) pushes and verifies but does
not `write memory`; confirm() writes, rollback() restores. The pure functions here
(route_checks_from_rib, cli_errors) need no device.

FRR quirks found on FRR 8.4 through a vtysh login shell (netmiko device_type
cisco_ios):
- vtysh keeps going after a rejected line: the lines after it are applied. Errors
  are lines starting with "% " ("% Unknown command: ...", "% Command incomplete: ...",
  "% Refusing to remove a non-existent route", or "% Configuration failed." followed
  by "Error type" / "Error description" lines). "% Warning..." is not an error.
- `ip route P WORD` accepts any word as an interface name: `ip route 10.99.0.0/24
  not-an-address` (or `... 10.0.13.1 300`, `... 999.0.0.1`) is *accepted*; a
  malformed prefix or extra words (`... not an address`) are rejected.
- `write memory` prints "% Warning: can't chown configuration file" in the lab and
  still succeeds ("Integrated configuration saved to ...").
- Static routes whose next hop does not resolve are not in `show ip route json`.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import paramiko
from netmiko.exceptions import (
    NetmikoAuthenticationException,
    NetmikoBaseException,
    NetmikoTimeoutException,
    ReadTimeout,
)

from netorch.configtree.hconfig import MANAGED, config_artifact, parse, plan, remediation, strip_header
from netorch.errors import DeviceRejected, DeviceUnreachable, NetorchError, TransportError
from netorch.model.desired import DesiredRoute
from netorch.platforms import Platform
from netorch.protocols.state import COMMANDS as PROTOCOL_COMMANDS
from netorch.protocols.state import ProtocolCheck, has_protocols, parse_state, protocol_checks
from netorch.transport.base import DeviceJob, DeviceSession, RouteCheck
from netorch.transport.hostkeys import KnownHosts, verifying_client

#: the Nornir connection plugin this module registers (nornir_netmiko's "netmiko" + host key checking)
CONNECTION_NAME = "netorch_netmiko"

_T = TypeVar("_T")

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


# ------------------------------------------------------------------------ errors and connections


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


def _scrub(text: str, secret: object) -> str:
    return text.replace(secret, "***") if isinstance(secret, str) and len(secret) >= 4 else text


#: what counts as "the device cannot be reached/talked to" during a session
UNREACHABLE = (NetmikoBaseException, paramiko.SSHException, socket.timeout, OSError, EOFError)


def open_netmiko(args: dict[str, Any], known: KnownHosts) -> Any:
    """ConnectHandler(**args), its SSH client checking the host key against `known` (before any
    credential is sent: HostKeyRejected) instead of netmiko's AutoAddPolicy / RejectPolicy."""
    from netmiko import ConnectHandler

    conn = ConnectHandler(**{**args, "auto_connect": False})
    conn._build_ssh_client = lambda: verifying_client(known)  # type: ignore[method-assign]
    try:
        conn._open()
    except BaseException:
        with contextlib.suppress(Exception):
            conn.disconnect()  # closes the SSH client, drops netmiko's log filter
        raise
    return conn


def connect(host: str, hostname: str, username: str, password: str | None = None, *, port: int = 22,
            device_type: str = "cisco_ios", timeout: float = 30, key_file: str | None = None,
            known_hosts: str | None = None, accept_new_host_keys: bool = False, **extras: Any) -> Any:
    """Open a netmiko connection (outside Nornir: tests, tools); connect/auth/timeout
    failures raise DeviceUnreachable naming host, address and user, never the password.
    The host key is checked against known_hosts (default ~/.ssh/known_hosts): HostKeyRejected."""
    args: dict[str, Any] = {"device_type": device_type, "host": hostname, "port": port, "username": username,
                            "fast_cli": True, "conn_timeout": timeout, "auth_timeout": timeout,
                            "banner_timeout": timeout, "session_log": None}
    if password:
        args.update(password=password, use_keys=False, allow_agent=False)
    elif key_file:
        args.update(use_keys=True, key_file=key_file, allow_agent=False)
    args.update(extras)
    try:
        return open_netmiko(args, KnownHosts.of(known_hosts, accept_new_host_keys, host))
    except UNREACHABLE as exc:
        raise DeviceUnreachable(host, _scrub("cannot connect over netmiko: "
                                + describe_error(exc, f"for {username}@{hostname}:{port}"), password)) from None


class NetmikoConnection:
    """Nornir connection plugin "netorch_netmiko": nornir_netmiko's, with host key checking.

    extras: what ConnectHandler takes, plus known_hosts (default ~/.ssh/known_hosts),
    accept_new_host_keys (trust on first use) and netorch_host (the device's name in messages)."""

    def __init__(self) -> None:
        self.connection: Any = None

    def open(self, hostname: str | None, username: str | None, password: str | None, port: int | None,
             platform: str | None, extras: dict[str, Any] | None = None, configuration: Any = None) -> None:
        opts = dict(extras or {})
        known = KnownHosts.of(opts.pop("known_hosts", None), bool(opts.pop("accept_new_host_keys", False)),
                              str(opts.pop("netorch_host", None) or hostname or ""))
        args: dict[str, Any] = {"host": hostname, "username": username, "password": password, "port": port}
        if platform is not None:
            args["device_type"] = platform
        self.connection = open_netmiko({**args, **opts}, known)

    def close(self) -> None:
        conn, self.connection = self.connection, None
        if conn is not None:
            conn.disconnect()


def register() -> None:
    """Register NetmikoConnection with Nornir as "netorch_netmiko" (idempotent)."""
    from nornir.core.plugins.connections import ConnectionPluginRegister

    if ConnectionPluginRegister.available.get(CONNECTION_NAME) is not NetmikoConnection:
        ConnectionPluginRegister.register(CONNECTION_NAME, NetmikoConnection)


# ------------------------------------------------------------------------ the session


class NetmikoSession(DeviceSession):
    """A merge-only CLI device made transactional by computed remediation and rollback.

    Round trips: load = 1 (`show running-config`); commit = one send_config_set call
    (`configure terminal`, the remediation lines, `end`: one round trip each), 1 `show
    running-config` to verify, 1 `write memory` (none with revert_in). A rejected or
    ineffective push costs 2 more `show running-config` and the restoring config session."""

    connection_name = CONNECTION_NAME
    checks_commit = True
    native_confirm = False

    def __init__(self, host: str, connection: Any, job: DeviceJob) -> None:
        super().__init__(host, connection, job)
        self.read_timeout = float(job.options.get("read_timeout", 30))
        mgmt = job.desired.mgmt_interface
        self.ignore_interfaces: tuple[str, ...] = (mgmt,) if mgmt else ()
        self._before: str | None = None  # running config when loaded: what rollback restores
        self._desired: str | None = None
        self._remediation: list[str] = []
        self._rollback: list[str] = []
        self._diff = ""

    # -- plumbing ----------------------------------------------------------------------
    @property
    def remediation(self) -> list[str]:
        """The lines commit() will push (after load())."""
        return list(self._remediation)

    @property
    def rollback_lines(self) -> list[str]:
        """The lines that undo the remediation (after load())."""
        return list(self._rollback)

    def _io(self, what: str, fn: Callable[[], _T]) -> _T:
        try:
            return fn()
        except NetorchError:
            raise
        except UNREACHABLE as exc:
            raise DeviceUnreachable(self.host, self._scrubbed(f"{what}: {describe_error(exc)}")) from None
        except Exception as exc:  # e.g. netmiko's ValueError: never a library exception to the engine
            raise TransportError(self.host, self._scrubbed(f"{what}: {describe_error(exc)}")) from None

    def _scrubbed(self, text: str) -> str:
        return _scrub(text, getattr(self.connection, "password", None))

    def _send(self, command: str) -> str:
        # expect the enable prompt at the end of the output: netmiko's default (auto_find_prompt)
        # costs one extra round trip per command. \S* because cisco_ios cuts base_prompt at 16.
        prompt = rf"{re.escape(str(self.connection.base_prompt))}\S*#\s*$"
        return self._io(command, lambda: str(self.connection.send_command(
            command, expect_string=prompt, read_timeout=self.read_timeout, strip_prompt=True, strip_command=True)))

    def _show_running(self) -> str:
        out = self._send("show running-config")
        if out.lstrip().startswith(ERROR_PREFIX):
            raise TransportError(self.host, f"show running-config: {out.strip()}")
        return out

    def _leave_config_mode(self) -> None:
        with contextlib.suppress(Exception):
            if self.connection.check_config_mode():
                self.connection.exit_config_mode()

    def _push(self, lines: Sequence[str]) -> list[tuple[str, str]]:
        """Send lines in one configuration session (one send_config_set call, one round trip
        per line: `configure terminal` and `end` are sent as lines, which spares netmiko's
        four prompt checks around them); the (command, error) pairs the device rejected.
        After a failure the session leaves configuration mode explicitly."""
        if not lines:
            return []
        try:
            output = self._io("configure", lambda: str(self.connection.send_config_set(
                ["configure terminal", *lines, "end"], read_timeout=self.read_timeout, cmd_verify=True,
                enter_config_mode=False, exit_config_mode=False)))
        except NetorchError:
            self._leave_config_mode()
            raise
        if any(line.startswith("hostname ") for line in lines):
            self._io("prompt", self.connection.set_base_prompt)  # the prompt follows the hostname
        return cli_errors(output)

    def _write_memory(self) -> None:
        out = self._send("write memory")
        if not WRITE_OK_RE.search(out):
            raise TransportError(self.host, f"write memory failed: {' '.join(out.split())[:300]}")

    def _desired_text(self) -> str:
        name = config_artifact(self.job.platform)
        try:
            return self.job.artifacts[name]
        except KeyError:
            raise TransportError(self.host, f"the job has no {name} artifact") from None

    def _compute(self, running: str, desired: str, owned: bool = True) -> list[str]:
        try:
            return remediation(running, desired, self.job.platform, ignore_interfaces=self.ignore_interfaces,
                               owned=owned)
        except NetorchError as exc:
            raise TransportError(self.host, str(exc)) from None

    def _restore(self) -> list[str]:
        """Bring the device back to the configuration it had at load(): push the rollback
        lines for its actual state (read first: they are the stored rollback lines when it
        is as committed, fewer after a partly rejected push, and right even if someone
        changed it meanwhile), then verify. Returns what is still left ([] = done)."""
        assert self._before is not None
        left: list[str] = []
        for _attempt in range(2):
            left = self._compute(self._show_running(), self._before, owned=False)
            if not left:
                return []
            self._push(left)
        return self._compute(self._show_running(), self._before, owned=False)

    # -- DeviceSession -----------------------------------------------------------------
    def load(self) -> None:
        if self.job.platform not in MANAGED:
            raise TransportError(self.host, f"the netmiko transport does not manage platform {self.job.platform!r} "
                                 f"(supported: {', '.join(sorted(MANAGED))})")
        desired = self._desired_text()
        running = self._show_running()
        try:
            computed = plan(running, desired, self.job.platform, ignore_interfaces=self.ignore_interfaces)
        except NetorchError as exc:
            raise TransportError(self.host, str(exc)) from None
        self._remediation, self._rollback, self._diff = computed.remediation, computed.rollback, computed.diff
        self._before, self._desired = running, desired

    def diff(self) -> str:
        if self._desired is None:
            raise TransportError(self.host, "diff() before load()")
        return self._diff

    def commit(self, revert_in: int | None = None) -> None:
        if self._desired is None or self._before is None:
            raise TransportError(self.host, "commit() before load()")
        if not self._remediation:
            return
        errors = self._push(self._remediation)
        if errors:
            left = self._restore()
            rejected = "; ".join(f"{cmd!r}: {err}" if cmd else err for cmd, err in errors)
            raise DeviceRejected(self.host, f"the device rejected {len(errors)} line(s): {rejected}; "
                                 + self._restored_text(left))
        still = self._compute(self._show_running(), self._desired)
        if still:
            left = self._restore()
            raise DeviceRejected(self.host, "the configuration did not take, still to do: "
                                 + " | ".join(still) + "; " + self._restored_text(left))
        if not revert_in:
            self._write_memory()

    @staticmethod
    def _restored_text(left: list[str]) -> str:
        if not left:
            return "the previous configuration was restored"
        return "RESTORE INCOMPLETE, still differs by: " + " | ".join(left)

    def confirm(self) -> None:
        self._write_memory()

    def rollback(self) -> None:
        if self._before is None:
            raise TransportError(self.host, "rollback() before load()")
        left = self._restore()
        if left:
            raise TransportError(self.host, "rollback incomplete, still differs by: " + " | ".join(left))
        self._write_memory()

    def discard(self) -> None:
        self._desired = None
        self._remediation, self._rollback, self._diff = [], [], ""

    def before(self) -> dict[str, str]:
        return {config_artifact(self.job.platform): strip_header(self._before)} if self._before is not None else {}

    def journal_data(self) -> dict[str, Any]:
        """The managed part of the configuration from before the run: without a timer of its own,
        this device is brought back from the journal if the controller dies mid-transaction."""
        if self._before is None:
            return {}
        tree = parse(self._before, self.job.platform, ignore_interfaces=self.ignore_interfaces)
        return {"before": "\n".join(tree.lines()) + "\n"}

    def recover(self, data: dict[str, Any]) -> str:
        before = data.get("before")
        if not before:
            return "nothing to restore (no configuration recorded before the run)"
        self._before = str(before)
        left = self._restore()
        if left:
            raise TransportError(self.host, "recovery incomplete, still differs by: " + " | ".join(left))
        self._write_memory()
        return "restored the configuration from before the run"

    def live_config(self) -> dict[str, str]:
        return {config_artifact(self.job.platform): strip_header(self._show_running())}

    def check_routes(self) -> list[RouteCheck]:
        routes = self.job.desired.routes
        tables: dict[str, dict[str, Any]] = {}
        for vrf in sorted({r.vrf or "" for r in routes}):
            command = f"show ip route vrf {vrf} json" if vrf else "show ip route json"
            out = self._send(command).strip()
            try:
                data = json.loads(out) if out else {}
            except ValueError:
                raise TransportError(self.host, f"{command}: not JSON: {out[:200]}") from None
            tables[vrf] = data if isinstance(data, dict) else {}
        return route_checks_from_rib(routes, tables)

    def rib(self) -> dict[str, list[dict[str, Any]]] | None:
        if self.job.platform != Platform.FRR.value:
            return None  # `show ip route json` is FRR's (vtysh)
        from netorch.transport.napalm_frr import route_table

        out = self._send("show ip route json")
        try:
            return route_table(out)
        except ValueError:
            raise TransportError(self.host, f"show ip route json: not JSON: {out.strip()[:200]}") from None

    def protocol_checks(self) -> list[ProtocolCheck]:
        if not has_protocols(self.job.desired):
            return []
        return protocol_checks(self.job.desired, parse_state([self._send(c) for c in PROTOCOL_COMMANDS]))
