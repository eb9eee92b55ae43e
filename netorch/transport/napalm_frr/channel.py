"""The FRR driver's SSH side: the connection, a long-lived `sh` that runs a batch of named
steps (and writes files) in one round trip, a long-lived vtysh whose outputs are told apart by
marks, one-off commands; and how what they print reads (vtysh's prompts and error lines, the
header of `show running-config`, netorch's nftables table or its absence)."""

from __future__ import annotations

import contextlib
import re
import secrets
import shlex

import paramiko
from napalm.base.exceptions import (
    CommitError,
    ConnectAuthError,
    ConnectionClosedException,
    ConnectionException,
)

from netorch.transport.hostkeys import KnownHosts, verifying_client

NO_TABLE = "NETORCH_NO_NFT_TABLE"
CLI_ERROR = re.compile(r"^% (?!Warning)", re.MULTILINE)
#: the prompt(s) before a command's output: the prompt vtysh prints after the previous batch's
#: last mark may arrive after that batch was read, and then leads the next batch's output (after
#: the end of that mark's line, when the line's end arrived late too)
PROMPT_HEAD = re.compile(r"\A\s*(?:[\w.-]+(?:\([\w-]+\))?# )+")
PROMPT_TAIL = re.compile(r"[\w.-]+(\([\w-]+\))?# \Z")
HEADER_RE = re.compile(r"\A(Building configuration\.\.\.\s*\n)?\s*(Current configuration:\s*\n)?")


def nft_out(res: dict[str, tuple[int, str]], key: str) -> str | None:
    rc, out = res.get(key, (1, ""))
    return None if rc != 0 or NO_TABLE in out else out


def strip_header(running: str) -> str:
    return HEADER_RE.sub("", running, count=1)


def split_outputs(text: str, marks: list[str]) -> list[str]:
    """Each command's output from what a long-lived vtysh printed for a batch. With the terminal's
    echo off each command gives: prompt, output, prompt, its mark's error."""
    outputs: list[str] = []
    rest = text
    for mark in marks:
        segment, _, rest = rest.partition(f"% Unknown command: {mark}\n")
        segment = PROMPT_HEAD.sub("", segment, count=1)
        outputs.append(PROMPT_TAIL.sub("", segment, count=1))
    return outputs


class ChannelMixin:
    """The driver's connection to the device and the ways it runs commands there."""

    hostname: str
    username: str
    password: str
    timeout: int
    port: int
    key_file: str | None
    state_dir: str  # netorch's files on the device
    vtysh: str
    nft: str
    nft_table: str
    known_hosts: KnownHosts
    _ssh: paramiko.SSHClient | None
    _chan: paramiko.Channel | None  # a long-lived sh
    _vtyc: paramiko.Channel | None  # a long-lived vtysh

    def open(self) -> None:
        """Connect; the host key is verified (HostKeyRejected) before any credential is sent."""
        client = verifying_client(self.known_hosts)
        try:
            client.connect(self.hostname, port=self.port, username=self.username, password=self.password or None,
                           key_filename=self.key_file, timeout=self.timeout, banner_timeout=self.timeout,
                           auth_timeout=self.timeout, look_for_keys=False, allow_agent=False)
        except paramiko.AuthenticationException:
            raise ConnectAuthError(f"authentication failed for {self.username}@{self.hostname}") from None
        except (TimeoutError, OSError, paramiko.SSHException) as exc:
            raise ConnectionException(f"cannot connect to {self.hostname}:{self.port}: {exc}") from None
        self._ssh = client
        # the state dir is created by the first batch (umask 077; mkdir -p): no round trip here

    def close(self) -> None:
        for chan in (self._chan, self._vtyc):
            if chan is not None:
                with contextlib.suppress(Exception):
                    chan.close()
        self._chan = self._vtyc = None
        if self._ssh is not None:
            self._ssh.close()
            self._ssh = None

    def _vty(self, commands: list[str]) -> list[str]:
        """Outputs of vtysh commands, through one long-lived vtysh per connection: starting vtysh
        costs more CPU on the router than most commands, so a session starts it once. Each command
        is followed by a unique unknown command whose error marks the end of the output."""
        token = secrets.token_hex(6)
        marks = [f"netorch-mark-{token}-{i}" for i in range(len(commands))]
        script = "".join(f"{cmd}\n{mark}\n" for cmd, mark in zip(commands, marks, strict=True))
        last = f"% Unknown command: {marks[-1]}\n"
        text = ""
        for attempt in (1, 2):
            try:
                if self._vtyc is None or self._vtyc.closed or self._vtyc.exit_status_ready():
                    chan = self._open_channel(self.vtysh, pty=True)
                    # wait until vtysh reads its terminal itself: what is typed before that is
                    # echoed by the terminal too, which would confuse the parsing below
                    ready = f"netorch-ready-{token}"
                    chan.sendall(f"terminal length 0\n{ready}\n".encode())
                    seen = b""
                    # ...and until the end of that line (or the prompt after it) has arrived too
                    while f"% Unknown command: {ready}".encode() not in seen or not (
                            seen.endswith(b"\n") or seen.endswith(b"# ")):
                        chunk = chan.recv(65536)
                        if not chunk:
                            raise ConnectionClosedException(f"{self.hostname}: vtysh ended")
                        seen += chunk
                    self._vtyc = chan
                self._vtyc.sendall(script.encode())
                data = b""
                while last not in (text := data.decode("utf-8", "replace").replace("\r\n", "\n")):
                    chunk = self._vtyc.recv(65536)
                    if not chunk:
                        raise ConnectionClosedException(f"{self.hostname}: vtysh ended")
                    data += chunk
                break
            except (OSError, paramiko.SSHException, ConnectionClosedException) as exc:
                self._vtyc = None
                if attempt == 2:
                    raise ConnectionClosedException(f"{self.hostname}: vtysh: {self._why(exc)}") from None
        return split_outputs(text, marks)

    def _open_channel(self, command: str, pty: bool = False) -> paramiko.Channel:
        if self._ssh is None:
            raise ConnectionClosedException(f"{self.hostname}: not connected")
        transport = self._ssh.get_transport()
        if transport is None or not transport.is_active():
            raise ConnectionClosedException(f"{self.hostname}: connection lost")
        chan = transport.open_session(timeout=self.timeout)
        chan.settimeout(self.timeout)
        chan.set_combine_stderr(True)
        if pty:
            # vtysh buffers its output unless it talks to a terminal; the terminal must not echo
            # what is typed ahead while a command runs (vtysh itself echoes each line it reads)
            chan.get_pty(term="dumb", width=65535, height=0)
            command = f"stty -echo; exec {command}"
        else:
            command = f"exec {command}"
        chan.exec_command(command)
        return chan

    def _shell(self, script: str, done: str) -> str:
        """Run a script in the session's long-lived `sh` (one per connection: no SSH session set up
        per batch) and return its output up to the `done` marker line."""
        for attempt in (1, 2):
            try:
                if self._chan is None or self._chan.closed or self._chan.exit_status_ready():
                    self._chan = self._open_channel("sh")
                self._chan.sendall(script.encode())
                data = b""
                marker = (done + "\n").encode()
                while not data.endswith(marker):
                    chunk = self._chan.recv(65536)
                    if not chunk:
                        raise ConnectionClosedException(f"{self.hostname}: the device closed the session")
                    data += chunk
                return data[: -len(marker)].decode("utf-8", "replace")
            except (TimeoutError, OSError, paramiko.SSHException) as exc:
                self._chan = None
                if attempt == 2:
                    raise ConnectionClosedException(f"{self.hostname}: {self._why(exc)}") from None
        raise ConnectionClosedException(f"{self.hostname}: no shell")  # pragma: no cover

    def is_alive(self) -> dict[str, bool]:
        transport = self._ssh.get_transport() if self._ssh else None
        return {"is_alive": bool(transport and transport.is_active())}

    def _list_nft(self) -> str:
        """List netorch's table; never fails (an absent table prints a marker instead)."""
        return f"{self.nft} list table {self.nft_table} 2>/dev/null || echo {NO_TABLE}"

    def _dir(self) -> str:
        return shlex.quote(self.state_dir)

    def _path(self, name: str) -> str:
        return shlex.quote(f"{self.state_dir}/{name}")

    def _run(self, command: str, stdin: str | None = None, check: bool = True) -> tuple[int, str, str]:
        if self._ssh is None:
            raise ConnectionClosedException(f"{self.hostname}: not connected")
        try:
            chan_in, chan_out, chan_err = self._ssh.exec_command(command, timeout=self.timeout)
            if stdin is not None:
                chan_in.write(stdin)
                chan_in.channel.shutdown_write()
            out = chan_out.read().decode("utf-8", "replace")
            err = chan_err.read().decode("utf-8", "replace")
            rc = chan_out.channel.recv_exit_status()
        except (TimeoutError, OSError, paramiko.SSHException) as exc:
            raise ConnectionClosedException(f"{self.hostname}: {self._why(exc)}") from None
        if check and rc != 0:
            what = command.split(maxsplit=1)[0]
            raise CommitError(f"{self.hostname}: `{what}` failed ({rc}): {(err or out).strip()}")
        return rc, out, err

    def _batch(self, steps: list[tuple[str, str]], files: dict[str, str] | None = None,
               stop_on_error: bool = False) -> dict[str, tuple[int, str]]:
        """Write files and run named shell steps in ONE round trip; {name: (rc, combined output)}.
        With stop_on_error, the steps after a failing one do not run (and are absent from the result)."""
        token = secrets.token_hex(8)
        script = [f"umask 077; mkdir -p {self._dir()}; failed=0"]
        for name, text in (files or {}).items():
            body = text if text.endswith("\n") else text + "\n"
            script.append(f"cat > {self._path(name)} <<'NETORCH_{token}'\n{body}NETORCH_{token}")
        for name, command in steps:
            guard = 'if [ "$failed" = 0 ]; then ' if stop_on_error else "if true; then "
            script.append(f"{guard}echo '@@{token} begin {name}'; ( {command} ) </dev/null 2>&1; rc=$?; "
                          f"[ $rc -ne 0 ] && failed=1; echo \"@@{token} end {name} $rc\"; fi")
        script.append(f"echo '@@{token} done'")
        out = self._shell("\n".join(script) + "\n", f"@@{token} done")
        results: dict[str, tuple[int, str]] = {}
        current: str | None = None
        buf: list[str] = []
        for line in out.splitlines(keepends=True):
            if line.startswith(f"@@{token} begin "):
                current, buf = line.split()[2], []
            elif line.startswith(f"@@{token} end ") and current is not None:
                results[current] = (int(line.split()[3]), "".join(buf))
                current = None
            elif current is not None:
                buf.append(line)
        return results

    def cli(self, commands: list[str], encoding: str = "text") -> dict[str, str]:
        out = {}
        for command in commands:
            _, text, err = self._run(f"{self.vtysh} -c {shlex.quote(command)}", check=False)
            out[command] = text or err
        return out

    def _why(self, exc: BaseException) -> str:
        """A library's exception as a person reads it: a timeout says how long it waited."""
        if isinstance(exc, TimeoutError):
            return f"timed out after {self.timeout} s"
        return str(exc) or type(exc).__name__
