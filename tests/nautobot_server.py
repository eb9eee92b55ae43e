"""A real Nautobot for the tests: the `nautobot` package from PyPI in a virtualenv of its own (it
pins a celery and a Django that clash with netorch's), on PostgreSQL 15 and Redis 7 from Debian,
started without systemd, every wait bounded, every process stopped by its pid.

Built once and kept in a cache outside the repository (NETORCH_NAUTOBOT_CACHE, default
/var/tmp/netorch-nautobot; the postgres user must be able to reach it, so not under /root):

    venv/                  nautobot==VERSION
    nautobot_config.py     `nautobot-server init`'s, configured by NAUTOBOT_* variables
    pgtemplate/            a PostgreSQL data folder, migrated (the slow part: ~7 minutes)
    ready                  VERSION, written when all of the above is complete

A server copies the template into a run folder of its own, so every test session starts from an
empty, migrated Nautobot, and removes the copy when it stops. `python tests/nautobot_server.py
prepare` builds the cache (CI starts it early, in the background); a build in progress holds
cache/.lock and anyone else waits for it (bounded).
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VERSION = "3.2.7"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_USER = "postgres"
BUILD_TIMEOUT = 1800.0
"""Most seconds a cache build (pip install, migrate) may take, and anyone may wait for one."""
START_TIMEOUT = 180.0
"""Most seconds for PostgreSQL, Redis and Nautobot to answer once started."""


def cache_dir() -> Path:
    return Path(os.environ.get("NETORCH_NAUTOBOT_CACHE") or "/var/tmp/netorch-nautobot")


def missing_prerequisites() -> list[str]:
    """What this machine lacks to run Nautobot (empty: it can)."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root (PostgreSQL runs as the postgres user)")
    if not (PG_BIN / "initdb").exists():
        missing.append("PostgreSQL 15 (Debian package postgresql-15)")
    if shutil.which("redis-server") is None:
        missing.append("redis-server (Debian package redis-server)")
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        missing.append("the postgres user")
    return missing


def _log(message: str) -> None:
    print(f"nautobot-server: {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    entry = pwd.getpwnam(PG_USER)

    def demote() -> None:
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)

    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False,
                          preexec_fn=demote, cwd="/", env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"})


def _check(result: subprocess.CompletedProcess[str], what: str) -> None:
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed ({result.returncode}): {result.stdout[-2000:]}{result.stderr[-2000:]}")


def _chown_postgres(path: Path) -> None:
    entry = pwd.getpwnam(PG_USER)
    os.chown(path, entry.pw_uid, entry.pw_gid)


@contextlib.contextmanager
def _locked(cache: Path, timeout: float) -> Iterator[None]:
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("a") as lock:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the Nautobot cache {cache} stayed locked for {timeout:.0f} s") from None
                time.sleep(1)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def nautobot_env(cache: Path, db_host: Path, db_port: int, redis_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NAUTOBOT_", "DJANGO_", "VIRTUAL_ENV"))}
    env.update({
        "NAUTOBOT_ROOT": str(cache / "root"),
        "NAUTOBOT_CONFIG": str(cache / "nautobot_config.py"),
        "NAUTOBOT_DB_HOST": str(db_host), "NAUTOBOT_DB_PORT": str(db_port),
        "NAUTOBOT_DB_USER": PG_USER, "NAUTOBOT_DB_PASSWORD": "", "NAUTOBOT_DB_NAME": "nautobot",
        "NAUTOBOT_REDIS_HOST": "127.0.0.1", "NAUTOBOT_REDIS_PORT": str(redis_port),
        # a throwaway test server on 127.0.0.1: its Django key only signs its own sessions
        "NAUTOBOT_SECRET_KEY": "netorch-tests-" + "k" * 50,
        "NAUTOBOT_ALLOWED_HOSTS": "127.0.0.1 localhost",
        "NAUTOBOT_INSTALLATION_METRICS_ENABLED": "False",
    })
    return env


@dataclass
class Processes:
    """PostgreSQL on a data folder, and a Redis, both on private ports; stopped by pid."""

    data: Path
    sockets: Path
    pg_port: int = field(default_factory=free_port)
    redis_port: int = field(default_factory=free_port)
    redis: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.sockets.mkdir(parents=True, exist_ok=True)
        _chown_postgres(self.sockets)
        _check(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.sockets / "postgres.log"),
                             "-o", f"-p {self.pg_port} -k {self.sockets} -c listen_addresses=''",
                             "-w", "-t", "60", "start"], timeout=90), "pg_ctl start")
        self.redis = subprocess.Popen(["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
                                       "--save", "", "--appendonly", "no"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        (self.sockets / "redis.pid").write_text(f"{self.redis.pid}\n")
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.redis_port), timeout=1):
                break
            if self.redis.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not answer on port {self.redis_port}")
            time.sleep(0.1)

    def psql(self, sql: str) -> None:
        _check(_as_postgres([str(PG_BIN / "psql"), "-h", str(self.sockets), "-p", str(self.pg_port), "-U", PG_USER,
                             "-v", "ON_ERROR_STOP=1", "-c", sql], timeout=60), f"psql {sql!r}")

    def stop(self) -> None:
        if self.redis is not None:
            _stop(self.redis)
            self.redis = None
        pid_file = self.data / "postmaster.pid"
        if pid_file.exists():
            result = _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "60",
                                   "stop"], timeout=90)
            if result.returncode != 0 and pid_file.exists():  # by its pid, as a last resort
                with contextlib.suppress(OSError, ValueError):
                    os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def prepare(cache: Path | None = None) -> Path:
    """Build the cache (see the module docstring) unless it is ready; returns it."""
    cache = cache or cache_dir()
    with _locked(cache, BUILD_TIMEOUT):
        if (cache / "ready").exists() and (cache / "ready").read_text().strip() == VERSION:
            return cache
        cache.chmod(0o755)
        start = time.monotonic()
        server = cache / "venv" / "bin" / "nautobot-server"
        if not server.exists():
            _log(f"installing nautobot=={VERSION} into {cache / 'venv'}")
            shutil.rmtree(cache / "venv", ignore_errors=True)
            _check(subprocess.run([sys.executable, "-m", "venv", str(cache / "venv")], capture_output=True,
                                  text=True, timeout=300, check=False), "python -m venv")
            _check(subprocess.run([str(cache / "venv" / "bin" / "pip"), "install", "-q", f"nautobot=={VERSION}"],
                                  capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False),
                   "pip install nautobot")
            _log(f"installed in {time.monotonic() - start:.0f} s")
        env = nautobot_env(cache, cache / "run", 0, 0)
        if not (cache / "nautobot_config.py").exists():
            _check(subprocess.run([str(server), "init", str(cache / "nautobot_config.py")], capture_output=True,
                                  text=True, timeout=120, check=False, env=env), "nautobot-server init")
        template = cache / "pgtemplate"
        shutil.rmtree(template, ignore_errors=True)
        template.mkdir(mode=0o700)
        _chown_postgres(template)
        _check(_as_postgres([str(PG_BIN / "initdb"), "-D", str(template), "-U", PG_USER, "--auth=trust",
                             "-E", "UTF8"], timeout=120), "initdb")
        procs = Processes(template, cache / "run")
        try:
            procs.start()
            procs.psql("CREATE DATABASE nautobot")
            _log("nautobot-server migrate (several minutes)")
            began = time.monotonic()
            env = nautobot_env(cache, procs.sockets, procs.pg_port, procs.redis_port)
            _check(subprocess.run([str(server), "migrate", "--no-input"], capture_output=True, text=True,
                                  timeout=BUILD_TIMEOUT, check=False, env=env), "nautobot-server migrate")
            _log(f"migrated in {time.monotonic() - began:.0f} s")
        finally:
            procs.stop()
        (cache / "ready").write_text(VERSION + "\n")
        _log(f"cache ready in {time.monotonic() - start:.0f} s: {cache}")
        return cache


@dataclass
class Nautobot:
    """A running Nautobot over a copy of the cache's migrated database."""

    cache: Path
    run: Path
    url: str = ""
    token: str = ""
    procs: Processes | None = None
    server: subprocess.Popen[bytes] | None = None

    def stop(self) -> None:
        if self.server is not None:
            _stop(self.server)
            self.server = None
        if self.procs is not None:
            self.procs.stop()
            self.procs = None
        shutil.rmtree(self.run, ignore_errors=True)


def _pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep(cache: Path) -> None:
    """Stop what a test session that died left running (its run folder names the pids: the
    owner's, Redis's, runserver's, PostgreSQL's postmaster.pid) and remove its run folder."""
    for run in sorted(cache.glob("run-*")):
        if _alive(_pid(run / "owner.pid")):
            continue
        for name, program in (("server.pid", "nautobot-server"), ("sockets/redis.pid", "redis-server")):
            pid = _pid(run / name)
            try:  # only the program it was: a pid can be reused
                ours = pid is not None and program in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
            except OSError:
                ours = False
            if ours and pid is not None:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        Processes(run / "pgdata", run / "sockets").stop()
        shutil.rmtree(run, ignore_errors=True)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health/", timeout=5) as answer:
            return int(answer.status) == 200
    except (OSError, urllib.error.URLError):
        return False


def start(cache: Path | None = None) -> Nautobot:
    """Start PostgreSQL (over a copy of the template), Redis and `nautobot-server runserver`, each
    on a free port; wait (bounded) for /health/; create a superuser and its API token."""
    cache = prepare(cache)
    sweep(cache)
    run = Path(tempfile.mkdtemp(prefix="run-", dir=cache))
    run.chmod(0o755)
    (run / "owner.pid").write_text(f"{os.getpid()}\n")
    nb = Nautobot(cache, run)
    try:
        _check(subprocess.run(["cp", "-a", str(cache / "pgtemplate"), str(run / "pgdata")], capture_output=True,
                              text=True, timeout=300, check=False), "copying the database")
        nb.procs = Processes(run / "pgdata", run / "sockets")
        nb.procs.start()
        env = nautobot_env(cache, nb.procs.sockets, nb.procs.pg_port, nb.procs.redis_port)
        nb.token = secrets.token_hex(20)
        script = ("from django.contrib.auth import get_user_model\n"
                  "from nautobot.users.models import Token\n"
                  f"u = get_user_model().objects.create_superuser('netorch', 'netorch@example.invalid', "
                  f"{secrets.token_urlsafe(16)!r})\n"
                  f"Token.objects.create(user=u, key={nb.token!r})\n")
        server = cache / "venv" / "bin" / "nautobot-server"
        _check(subprocess.run([str(server), "shell", "-c", script], capture_output=True, text=True,
                              timeout=START_TIMEOUT, check=False, env=env), "creating the API token")
        port = free_port()
        nb.url = f"http://127.0.0.1:{port}"
        with (run / "nautobot.log").open("wb") as log:
            nb.server = subprocess.Popen([str(server), "runserver", f"127.0.0.1:{port}", "--noreload"],
                                         stdout=log, stderr=subprocess.STDOUT, env=env, cwd=run)
        (run / "server.pid").write_text(f"{nb.server.pid}\n")
        deadline = time.monotonic() + START_TIMEOUT
        while not _healthy(nb.url):
            if nb.server.poll() is not None or time.monotonic() > deadline:
                tail = (run / "nautobot.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"Nautobot did not answer {nb.url}/health/ within {START_TIMEOUT:.0f} s:\n{tail}")
            time.sleep(0.5)
        return nb
    except BaseException:
        nb.stop()
        raise


# --- the lab's devices, from netorch's inventory ---------------------------------------------------

def _mgmt_network(address: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    ip = ipaddress.ip_address(address)
    return ipaddress.ip_network(f"{ip}/16" if ip in ipaddress.ip_network("198.18.0.0/15") else f"{ip}/24",
                                strict=False)


def populate(url: str, token: str, inventory: Any) -> dict[str, Any]:
    """Put the hosts of a netorch InventoryView into an empty Nautobot as the mapping of
    netorch.model.nautobot reads them back; returns the devices by name."""
    import pynautobot

    api = pynautobot.api(url, token=token)
    active = api.extras.statuses.get(name="Active")
    namespace = api.ipam.namespaces.get(name="Global")
    device_ct = ["dcim.device"]
    campus = api.dcim.location_types.create(name="Campus", content_types=device_ct)
    region_type = api.dcim.location_types.create(name="Region", parent=campus.id, content_types=device_ct)
    manufacturer = api.dcim.manufacturers.create(name="netorch")
    role = api.extras.roles.create(name="router", content_types=device_ct)
    hosts = list(inventory.hosts.values())
    sites = {h.data.site or "default" for h in hosts}
    locations = {s: api.dcim.locations.create(name=s, location_type=campus.id, status=active.id) for s in sites}
    regions = {(h.data.site or "default", h.data.region) for h in hosts if h.data.region}
    for site, region in sorted(regions):
        locations[region] = api.dcim.locations.create(name=region, location_type=region_type.id,
                                                      parent=locations[site].id, status=active.id)
    platforms = {p: api.dcim.platforms.create(name=p, network_driver=p) for p in sorted({h.platform.value
                                                                                      for h in hosts})}
    device_types = {p: api.dcim.device_types.create(manufacturer=manufacturer.id, model=f"{p} device")
                    for p in platforms}
    tags = {g: api.extras.tags.create(name=g, content_types=device_ct)
            for g in sorted({g for h in hosts for g in h.all_groups})}
    networks = {_mgmt_network(h.hostname) for h in hosts}
    networks |= {i.address.network for h in hosts for i in h.data.interfaces.values() if i.address is not None}
    api.ipam.prefixes.create([{"prefix": str(n), "namespace": namespace.id, "status": active.id, "type": "network"}
                              for n in sorted(networks, key=str)])
    devices: dict[str, Any] = {}
    for h in sorted(hosts, key=lambda h: h.name):
        context: dict[str, Any] = {}
        if h.port is not None:
            context["port"] = h.port
        if h.data.transport is not None:
            context["transport"] = h.data.transport.value
        if not h.data.deploy:
            context["deploy"] = False
        device = api.dcim.devices.create(
            name=h.name, device_type=device_types[h.platform.value].id, role=role.id, status=active.id,
            location=locations[h.data.region or h.data.site or "default"].id, platform=platforms[h.platform.value].id,
            tags=[tags[g].id for g in h.all_groups],
            local_config_context_data={"netorch": context} if context else None)
        mgmt_name = h.data.mgmt_interface or "mgmt0"
        mgmt = api.dcim.interfaces.create(device=device.id, name=mgmt_name, type="1000base-t", status=active.id,
                                          mgmt_only=True)
        network = _mgmt_network(h.hostname)
        mgmt_ip = api.ipam.ip_addresses.create(address=f"{h.hostname}/{network.prefixlen}", namespace=namespace.id,
                                               status=active.id, type="host")
        api.ipam.ip_address_to_interface.create(ip_address=mgmt_ip.id, interface=mgmt.id)
        for name, iface in h.data.interfaces.items():
            kind = "virtual" if name.lower().startswith(("lo", "loopback")) else "1000base-t"
            created = api.dcim.interfaces.create(device=device.id, name=name, type=kind, status=active.id,
                                                 description=iface.description or "", enabled=iface.enabled)
            if iface.address is not None:
                ip = api.ipam.ip_addresses.create(address=str(iface.address), namespace=namespace.id,
                                                  status=active.id, type="host")
                api.ipam.ip_address_to_interface.create(ip_address=ip.id, interface=created.id)
        device.update({"primary_ip4": mgmt_ip.id})
        devices[h.name] = device
    return devices


def set_address(url: str, token: str, device: str, interface: str, address: str) -> None:
    """Give a device's interface another IP address in Nautobot's IPAM, as an operator does (a host
    address cannot be edited there): the old address is removed, a new one created and assigned."""
    import pynautobot

    api = pynautobot.api(url, token=token)
    iface = api.dcim.interfaces.get(device=device, name=interface)
    (link,) = api.ipam.ip_address_to_interface.filter(interface=iface.id)
    old = api.ipam.ip_addresses.get(link.ip_address.id)
    namespace = api.ipam.namespaces.get(name="Global").id  # where populate() puts every address
    old.delete()  # its assignment goes with it
    ip = api.ipam.ip_addresses.create(address=address, namespace=namespace, status=old.status.id, type="host")
    api.ipam.ip_address_to_interface.create(ip_address=ip.id, interface=iface.id)


def main(argv: list[str]) -> int:
    if argv != ["prepare"]:
        print("usage: python tests/nautobot_server.py prepare", file=sys.stderr)
        return 2
    missing = missing_prerequisites()
    if missing:
        print("nautobot-server: cannot run Nautobot here: missing " + "; ".join(missing), file=sys.stderr)
        return 1
    prepare()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
