"""NetmikoSession: a DeviceSession over netmiko for CLI-only devices, pushed as a merge of
computed lines.

The desired configuration is the platform's artifact of kind "config" (frr.conf for
FRR); the live configuration is `show running-config`. netorch.configtree.hconfig
computes from the two the *remediation* (replace semantics, pushed as a merge) and the
*rollback*. netorch emulates confirmed commits from the controller (native_confirm =
False): commit(revert_in=N) pushes and verifies but does not `write memory`; confirm()
writes, rollback() restores.

FRR quirks found on FRR 8.4 through a vtysh login shell (netmiko device_type
cisco_ios), see also netorch.transport.netmiko.output:
- vtysh keeps going after a rejected line: the lines after it are applied (so a
  rejected push is undone by restoring the configuration from load()).
- `ip route P WORD` accepts any word as an interface name: `ip route 10.99.0.0/24
  not-an-address` (or `... 10.0.13.1 300`, `... 999.0.0.1`) is *accepted*; a
  malformed prefix or extra words (`... not an address`) are rejected.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from netorch.configtree.hconfig import MANAGED, config_artifact, parse, plan, remediation, strip_header
from netorch.errors import DeviceRejected, DeviceUnreachable, NetorchError, TransportError
from netorch.platforms import spec
from netorch.protocols.state import COMMANDS as PROTOCOL_COMMANDS
from netorch.protocols.state import ProtocolCheck, has_protocols, parse_state, protocol_checks
from netorch.transport.base import DeviceJob, DeviceSession, RouteCheck
from netorch.transport.netmiko.connection import CONNECTION_NAME, UNREACHABLE
from netorch.transport.netmiko.output import (
    ERROR_PREFIX,
    WRITE_OK_RE,
    cli_errors,
    describe_error,
    route_checks_from_rib,
    scrub_secret,
)

_T = TypeVar("_T")


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
        return scrub_secret(text, getattr(self.connection, "password", None))

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
        if not spec(self.job.platform).cli_json_state:
            return None  # `show ip route json` is FRR's (vtysh)
        from netorch.transport.napalm_frr.parse import route_table

        out = self._send("show ip route json")
        try:
            return route_table(out)
        except ValueError:
            raise TransportError(self.host, f"show ip route json: not JSON: {out.strip()[:200]}") from None

    def protocol_checks(self) -> list[ProtocolCheck]:
        if not has_protocols(self.job.desired):
            return []
        return protocol_checks(self.job.desired, parse_state([self._send(c) for c in PROTOCOL_COMMANDS]))
