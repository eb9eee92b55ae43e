"""The daemon's API as an attacker meets it: a real uvicorn server on a free loopback port
(started in a thread, configured as `netorch daemon` configures it), raw sockets for the
framing cases, bounded waits everywhere. No device is needed: the runtime reads the
repository's example inventory and an empty store."""

from __future__ import annotations

import datetime
import io
import ipaddress
import logging
import re
import shutil
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from waiting import wait_for

from netorch.daemon.config import DaemonConfig, load_config
from netorch.daemon.main import build, setup_logging, uvicorn_config
from netorch.errors import NetorchError

ROOT = Path(__file__).resolve().parent.parent
READ = "read-token-" + "r" * 24
OPERATE = "operate-token-" + "o" * 24
BODY_TIMEOUT = 1.5
HEAD_TIMEOUT = 1.5


def offline_inventory(tmp_path: Path) -> Path:
    """The example inventory with no deployable host, every address on loopback: whatever a
    test sends, no request can reach a device."""
    inventory = tmp_path / "inventory"
    if not inventory.is_dir():
        shutil.copytree(ROOT / "inventory", inventory)
        hosts = inventory / "hosts.yaml"
        hosts.write_text(re.sub(r"hostname: \S+", "hostname: 127.0.0.1", hosts.read_text()))
        (inventory / "defaults.yaml").write_text("data:\n  deploy: false\n")
    return inventory


def config(tmp_path: Path, **overrides: Any) -> DaemonConfig:
    data: dict[str, Any] = {
        "inventory": offline_inventory(tmp_path), "intents": ROOT / "intents",
        "templates": ROOT / "netorch" / "templates",
        "store": tmp_path / "netorch.db", "port": 0, "keep_alive_timeout": 2,
        "body_timeout": BODY_TIMEOUT, "header_timeout": HEAD_TIMEOUT,
        "tokens": [{"name": "viewer", "role": "read", "token": READ},
                   {"name": "ci", "role": "operate", "token": OPERATE}],
    }
    data.update(overrides)
    return DaemonConfig.model_validate(data)


class Running:
    def __init__(self, server: uvicorn.Server, port: int, scheme: str) -> None:
        self.server, self.port = server, port
        self.url = f"{scheme}://127.0.0.1:{port}"


@contextmanager
def serving(cfg: DaemonConfig) -> Iterator[Running]:
    """The daemon's app under the daemon's uvicorn settings, on a socket bound here (127.0.0.1:0)."""
    app, _ = build(cfg)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn_config(app, cfg, timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, 15, "the server to start")
        yield Running(server, port, "https" if cfg.tls else "http")
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()
    assert not thread.is_alive(), "the server did not stop"




@pytest.fixture()
def api(tmp_path: Path) -> Iterator[Running]:
    with serving(config(tmp_path)) as running:
        yield running


def connect(port: int, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def head(method: str, path: str, *lines: str) -> bytes:
    return (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(f"{x}\r\n" for x in lines)
            + "\r\n").encode()


def read_response(sock: socket.socket, within: float) -> tuple[int, dict[str, str], bytes, float]:
    """The first response on the socket: status, headers, body and how long it took; fails
    after `within` seconds."""
    started = time.monotonic()
    sock.settimeout(within)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise AssertionError(f"connection closed before a response: {data!r}")
            data += chunk
        raw_head, _, body = data.partition(b"\r\n\r\n")
        lines = raw_head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
        length = int(headers.get("content-length", "-1"))
        while length >= 0 and len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    except TimeoutError:
        raise AssertionError(f"no response within {within}s (got {data[:200]!r})") from None
    return status, headers, body, time.monotonic() - started


def closed_within(sock: socket.socket, within: float) -> bool:
    """True when the server closes the connection (EOF or reset) within `within` seconds;
    whatever else it sends first is read and dropped."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            if not sock.recv(65536):
                return True
        except TimeoutError:
            return False
        except OSError:
            return True
    return False


def send_quietly(sock: socket.socket, data: bytes) -> None:
    """Send, ignoring the server having closed the connection already (the point of most tests)."""
    with suppress(OSError):
        sock.sendall(data)


# -- authentication before anything is read ----------------------------------------------------

def test_no_token_is_401_before_the_body_arrives(api: Running) -> None:
    with connect(api.port) as s:
        s.sendall(head("POST", "/plan", "Content-Type: application/json", "Content-Length: 1000"))
        status, headers, body, took = read_response(s, 3 * BODY_TIMEOUT)
        assert status == 401, body
        assert took < BODY_TIMEOUT, f"answered only after {took:.2f}s: the body was awaited first"
        assert headers.get("connection") == "close"
        assert headers.get("www-authenticate") == "Bearer"
        assert closed_within(s, 3), "the unread body must not stay on an open connection"


def test_no_token_and_a_broken_body_is_401_not_422(api: Running) -> None:
    r = httpx.post(f"{api.url}/plan", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 401
    r = httpx.post(f"{api.url}/apply", content=b"{}", headers={"authorization": "Bearer " + "x" * 30})
    assert (r.status_code, r.json()) == (401, {"error": "invalid bearer token"})


def test_read_token_on_an_operate_endpoint_is_403_before_the_body(api: Running) -> None:
    with connect(api.port) as s:
        s.sendall(head("POST", "/apply", f"Authorization: Bearer {READ}", "Content-Length: 1000"))
        status, _, body, took = read_response(s, 3 * BODY_TIMEOUT)
    assert status == 403, body
    assert took < BODY_TIMEOUT


def test_every_route_but_health_needs_a_token(api: Running) -> None:
    assert httpx.get(f"{api.url}/health").status_code == 200
    for path in ("/inventory", "/runs", "/runs/1", "/drift/status", "/metrics", "/openapi.json",
                 "/docs/assets/swagger-ui-bundle.js", "/no-such-page"):
        assert httpx.get(f"{api.url}{path}").status_code == 401, path
    assert httpx.get(f"{api.url}/no-such-page", headers={"authorization": f"Bearer {READ}"}).status_code == 404


# -- the body limit, whatever the framing --------------------------------------------------------

def chunked(total: int, size: int = 65536) -> bytes:
    out = []
    for start in range(0, total, size):
        n = min(size, total - start)
        out.append(f"{n:x}\r\n".encode() + b"x" * n + b"\r\n")
    return b"".join(out) + b"0\r\n\r\n"


def test_content_length_together_with_chunked_is_refused(api: Running) -> None:
    with connect(api.port) as s:
        s.sendall(head("POST", "/plan", f"Authorization: Bearer {OPERATE}", "Content-Type: application/json",
                       "Content-Length: 2", "Transfer-Encoding: chunked"))
        send_quietly(s, chunked(2 * 1024 * 1024))
        status, _, body, _ = read_response(s, 10)
        assert status in (400, 413), body
        assert closed_within(s, 5)


def test_chunked_body_over_the_limit_is_413(api: Running) -> None:
    with connect(api.port) as s:
        s.sendall(head("POST", "/plan", f"Authorization: Bearer {OPERATE}", "Content-Type: application/json",
                       "Transfer-Encoding: chunked"))
        send_quietly(s, chunked(2 * 1024 * 1024))
        status, _, body, _ = read_response(s, 10)
        assert status == 413, body
        assert closed_within(s, 5)


def test_content_length_over_the_limit_is_413_before_reading(api: Running) -> None:
    with connect(api.port) as s:
        s.sendall(head("POST", "/plan", f"Authorization: Bearer {OPERATE}", "Content-Length: 2000000"))
        status, _, _, took = read_response(s, 3 * BODY_TIMEOUT)
    assert status == 413
    assert took < BODY_TIMEOUT


def test_content_length_that_announces_less_than_is_sent(api: Running) -> None:
    """The body ends where Content-Length says; what follows is not a body (nor a new request
    the API would act on): it is refused and the connection closed."""
    with connect(api.port) as s:
        s.sendall(head("POST", "/validate", f"Authorization: Bearer {READ}", "Content-Type: application/json",
                       "Content-Length: 2") + b"{}" + b"y" * 200_000)
        status, _, body, _ = read_response(s, 10)
        assert status != 500, body
        assert closed_within(s, 5)
    assert httpx.get(f"{api.url}/health").status_code == 200


def test_content_length_that_announces_more_than_is_sent_times_out(api: Running) -> None:
    with connect(api.port) as s:
        s.sendall(head("POST", "/plan", f"Authorization: Bearer {OPERATE}", "Content-Type: application/json",
                       "Content-Length: 1000") + b'{"limit":')
        status, headers, body, took = read_response(s, BODY_TIMEOUT + 5)
        assert status == 408, body
        assert took >= BODY_TIMEOUT * 0.9
        assert headers.get("connection") == "close"


def test_a_slow_body_is_cut_off_even_while_bytes_keep_coming(api: Running) -> None:
    with connect(api.port) as s:
        s.sendall(head("POST", "/plan", f"Authorization: Bearer {OPERATE}", "Content-Type: application/json",
                       "Content-Length: 1000"))
        started = time.monotonic()
        s.settimeout(0.2)
        answer = b""
        while time.monotonic() - started < BODY_TIMEOUT + 5 and not answer:
            send_quietly(s, b" ")
            try:
                answer = s.recv(65536)
            except TimeoutError:
                continue
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]


def test_a_slowloris_request_head_is_closed(api: Running) -> None:
    with connect(api.port) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        started = time.monotonic()
        closed = False
        s.settimeout(0.2)
        while time.monotonic() - started < HEAD_TIMEOUT + 5:
            try:
                s.sendall(b"X-a: b\r\n")
                if s.recv(65536) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue
            except OSError:
                closed = True
                break
        assert closed, "a request head trickled in for ever keeps its connection"
        assert time.monotonic() - started < HEAD_TIMEOUT + 3


# -- ids ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("run_id", ["99999999999999999999999", "9223372036854775808", "-1", "0", "abc", "1e3"])
def test_run_ids_out_of_range_are_404_or_422_never_500(api: Running, run_id: str) -> None:
    r = httpx.get(f"{api.url}/runs/{run_id}", headers={"authorization": f"Bearer {READ}"})
    assert r.status_code in (404, 422), r.text
    assert "error" in r.json()


def test_a_run_id_in_range_that_does_not_exist_is_404(api: Running) -> None:
    r = httpx.get(f"{api.url}/runs/9223372036854775807", headers={"authorization": f"Bearer {READ}"})
    assert r.status_code == 404


# -- log lines -----------------------------------------------------------------------------------------

@pytest.fixture()
def daemon_log() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    setup_logging("info", stream)
    try:
        yield stream
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


def test_a_newline_or_terminal_escape_in_limit_cannot_forge_a_log_line(api: Running, daemon_log: io.StringIO) -> None:
    limit = "r1\n2099-01-01 00:00:00,000 INFO netorch.daemon.api: apply approved by admin\x1b[2J\x1b[31m"
    r = httpx.post(f"{api.url}/apply", json={"limit": limit, "dry_run": True},
                   headers={"authorization": f"Bearer {OPERATE}"})
    assert r.status_code == 400  # no such host
    lines = daemon_log.getvalue().splitlines()
    mine = [x for x in lines if "apply requested" in x]
    assert len(mine) == 1, lines
    assert "\x1b" not in daemon_log.getvalue()
    assert "r1\\n2099-01-01" in mine[0] and "\\x1b[2J" in mine[0]
    assert not any(x.startswith("2099-01-01") for x in lines)


# -- documentation pages from local assets, behind a token ---------------------------------------------

def local_urls(page: str) -> list[str]:
    return re.findall(r"""(?:src|href)=["']([^"']+)["']""", page) + re.findall(r"""url:\s*'([^']+)'""", page)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_only_local_assets(api: Running, page: str) -> None:
    auth = {"authorization": f"Bearer {READ}"}
    r = httpx.get(f"{api.url}{page}", headers=auth)
    assert r.status_code == 200
    assert "http://" not in r.text and "https://" not in r.text and "//" not in r.text.replace("<!--", "")
    urls = local_urls(r.text)
    assert any(u.endswith(".js") for u in urls) and "/openapi.json" in r.text
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = httpx.get(f"{api.url}{url}", headers=auth)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url
    assert httpx.get(f"{api.url}/openapi.json", headers=auth).json()["info"]["title"] == "netorch"


def test_docs_need_a_token_and_offer_a_login_form(api: Running) -> None:
    r = httpx.get(f"{api.url}/docs")
    assert r.status_code == 401
    assert '<form method="post" action="/login">' in r.text
    assert httpx.get(f"{api.url}/openapi.json").status_code == 401


def test_docs_login_sets_a_session_cookie_for_reading_only(api: Running) -> None:
    refused = httpx.post(f"{api.url}/login", data={"token": "x" * 30, "next": "/docs"})
    assert refused.status_code == 401 and "set-cookie" not in refused.headers
    r = httpx.post(f"{api.url}/login", data={"token": OPERATE, "next": "https://elsewhere.example/"})
    assert r.status_code == 303
    assert r.headers["location"] == "/docs"  # never an address from the request
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert OPERATE not in cookie
    sid = cookie.split(";")[0]
    jar = {"cookie": sid}
    assert httpx.get(f"{api.url}/docs", headers=jar).status_code == 200
    assert httpx.get(f"{api.url}/openapi.json", headers=jar).status_code == 200
    # the cookie never acts on devices, even from an operate token: POST needs the bearer header
    assert httpx.post(f"{api.url}/plan", json={}, headers=jar).status_code == 401
    out = httpx.get(f"{api.url}/logout", headers=jar)
    assert out.status_code == 303
    assert httpx.get(f"{api.url}/openapi.json", headers=jar).status_code == 401


def test_login_form_body_is_bounded(api: Running) -> None:
    r = httpx.post(f"{api.url}/login", content=b"token=" + b"a" * 10_000,
                   headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413


# -- exposure: TLS off loopback ----------------------------------------------------------------------------

@pytest.mark.parametrize("listen", ["0.0.0.0", "::", "10.1.2.3", "daemon.example.net"])
def test_a_non_loopback_listen_address_needs_tls_or_an_explicit_opt_out(tmp_path: Path, listen: str) -> None:
    path = tmp_path / "daemon.yaml"
    path.write_text(f"listen: '{listen}'\n")
    with pytest.raises(NetorchError, match=r"not a loopback address.*tls: \{cert: FILE, key: FILE\}.*insecure_http"):
        load_config(path)
    path.write_text(f"listen: '{listen}'\ninsecure_http: true\n")
    assert load_config(path).exposed_in_clear


@pytest.mark.parametrize("listen", ["127.0.0.1", "127.1.2.3", "::1", "localhost"])
def test_loopback_needs_no_tls(tmp_path: Path, listen: str) -> None:
    path = tmp_path / "daemon.yaml"
    path.write_text(f"listen: '{listen}'\n")
    assert not load_config(path).exposed_in_clear


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "netorch test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


def test_tls_config_is_checked_at_load(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    path = tmp_path / "daemon.yaml"
    path.write_text(f"listen: 0.0.0.0\ntls: {{cert: {tmp_path / 'missing.pem'}, key: {key}}}\n")
    with pytest.raises(NetorchError, match=r"tls.cert .*missing.pem is not a readable file"):
        load_config(path)
    path.write_text(f"listen: 0.0.0.0\ntls: {{cert: {key}, key: {key}}}\n")
    with pytest.raises(NetorchError, match=r"cannot load tls.cert"):
        load_config(path)
    path.write_text(f"listen: 0.0.0.0\ntls: {{cert: {cert}, key: {key}}}\n")
    loaded = load_config(path)
    assert loaded.tls is not None and not loaded.exposed_in_clear


def test_the_daemon_serves_https_with_its_certificate(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    with serving(config(tmp_path, tls={"cert": cert, "key": key})) as api:
        assert api.url.startswith("https://")
        context = ssl.create_default_context(cafile=str(cert))
        r = httpx.get(f"{api.url}/health", verify=context)
        assert r.status_code == 200 and r.json()["tls"] is True
        r = httpx.get(f"{api.url}/runs", verify=context, headers={"authorization": f"Bearer {READ}"})
        assert r.status_code == 200
        with connect(api.port) as s:  # plain HTTP on the TLS port gets no API answer
            s.sendall(head("GET", "/health"))
            s.settimeout(5)
            try:
                answer = s.recv(65536)
            except OSError:
                answer = b""
            assert b'"status"' not in answer


def test_insecure_http_is_logged_loudly_and_shown_in_health(tmp_path: Path, daemon_log: io.StringIO) -> None:
    cfg = config(tmp_path, listen="0.0.0.0", insecure_http=True)  # the test still binds 127.0.0.1 only
    with serving(cfg) as api:
        health = httpx.get(f"{api.url}/health").json()
    assert health["tls"] is False and any("insecure_http" in w for w in health["warnings"])
    warnings = [x for x in daemon_log.getvalue().splitlines() if " WARNING " in x and "without TLS" in x]
    assert len(warnings) == 1, daemon_log.getvalue()
