"""The API's front door: a pure ASGI middleware that decides before FastAPI reads anything.

For every request but `/health` it checks the caller first (a bearer token, or for GET and
HEAD a docs login session cookie) and the role the route needs; a request without a valid
token is answered 401 before a byte of its body is read. Only then is the body received,
whatever its framing, under a size limit and a deadline: both Content-Length and
Transfer-Encoding is 400, a body over the limit 413, a body that does not arrive in time 408.
Every early answer closes the connection, so an unread body can never be taken for the next
request. The body is then handed to the application in one piece.

`/login` and `/logout` are served here too: a browser cannot send a bearer header to `/docs`,
so a small form exchanges a token for a random session id in an HttpOnly, SameSite=Strict
cookie (Secure over HTTPS). The cookie is accepted for GET and HEAD only, so it never reaches
an endpoint that acts on devices; the token itself never goes into a cookie, a URL or a log."""

from __future__ import annotations

import asyncio
import hmac
import html
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("netorch.daemon.api")

Role = Literal["read", "operate"]
SCOPE_KEY = "netorch.caller"
COOKIE = "netorch_session"
DOCS_PAGES = ("/docs", "/redoc")
LOGIN_BODY_LIMIT = 4096
_SAFE_METHODS = ("GET", "HEAD")


@dataclass(frozen=True)
class Caller:
    name: str
    role: Role


class Tokens:
    """The configured bearer tokens; every one is compared, in constant time."""

    def __init__(self, tokens: list[tuple[str, Role, str]]) -> None:
        self._tokens = [(name, role, secret.encode()) for name, role, secret in tokens]

    def match(self, given: str) -> Caller | None:
        raw = given.encode("utf-8", "surrogateescape")
        found: Caller | None = None
        for name, role, secret in self._tokens:
            if hmac.compare_digest(raw, secret):
                found = Caller(name, role)
        return found


class Sessions:
    """Docs login sessions: random ids kept in memory (a restart logs everyone out), bounded
    in number and lifetime."""

    def __init__(self, ttl: float = 8 * 3600, limit: int = 1000) -> None:
        self.ttl, self.limit = ttl, limit
        self._sessions: dict[str, tuple[Caller, float]] = {}
        self._lock = threading.Lock()

    def open(self, caller: Caller) -> str:
        sid = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            for key in [k for k, (_, expiry) in self._sessions.items() if expiry <= now]:
                del self._sessions[key]
            while len(self._sessions) >= self.limit:  # the oldest go first (dicts keep insertion order)
                del self._sessions[next(iter(self._sessions))]
            self._sessions[sid] = (caller, now + self.ttl)
        return sid

    def get(self, sid: str | None) -> Caller | None:
        if not sid:
            return None
        with self._lock:
            entry = self._sessions.get(sid)
            if entry is None:
                return None
            if entry[1] <= time.monotonic():
                del self._sessions[sid]
                return None
            return entry[0]

    def close(self, sid: str | None) -> None:
        if sid:
            with self._lock:
                self._sessions.pop(sid, None)


class _Reject(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class Guard:
    """See the module docstring. `role_for(scope)` names the role a request's route needs."""

    def __init__(self, app: ASGIApp, *, tokens: Tokens, sessions: Sessions, role_for: Callable[[Scope], Role],
                 max_body: int, body_timeout: float, public: frozenset[str] = frozenset({"/health"})) -> None:
        self.app, self.tokens, self.sessions, self.role_for = app, tokens, sessions, role_for
        self.max_body, self.body_timeout, self.public = max_body, body_timeout, public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _with_safety_headers(send, scope["path"])
        headers = _headers(scope)
        path, method = scope["path"], scope["method"]
        try:
            if path == "/login":
                await self._login(scope, receive, send, headers)
                return
            if path == "/logout":
                await self._logout(scope, send, headers)
                return
            if path not in self.public:
                caller = self._caller(method, headers)
                if caller is None:
                    if method == "GET" and path in DOCS_PAGES:
                        await _login_page(send, 401, path, "")
                        return
                    raise _Reject(401, "missing bearer token" if "authorization" not in headers
                                  else "invalid bearer token")
                if self.role_for(scope) == "operate" and caller.role != "operate":
                    raise _Reject(403, f"token {caller.name!r} has role read; this needs operate")
                scope[SCOPE_KEY] = caller
            body = await self._body(receive, headers, self.max_body)
        except _Reject as exc:
            await _json(send, exc.status, {"error": exc.message}, close=True,
                        extra=[(b"www-authenticate", b"Bearer")] if exc.status == 401 else [])
            return
        if body is None:  # the client went away
            return
        await self.app(scope, _replay(body, receive), send)

    def _caller(self, method: str, headers: dict[str, list[str]]) -> Caller | None:
        given = headers.get("authorization")
        if given is not None:
            if len(given) != 1:
                return None
            scheme, _, credentials = given[0].partition(" ")
            if scheme.lower() != "bearer" or not credentials.strip():
                return None
            return self.tokens.match(credentials.strip())
        if method in _SAFE_METHODS:
            return self.sessions.get(_cookie(headers, COOKIE))
        return None

    async def _body(self, receive: Receive, headers: dict[str, list[str]], limit: int) -> bytes | None:
        lengths = headers.get("content-length", [])
        if lengths and "transfer-encoding" in headers:
            raise _Reject(400, "a request has Content-Length or Transfer-Encoding, not both")
        if len(lengths) > 1 or (lengths and not (lengths[0].isascii() and lengths[0].isdigit())):
            raise _Reject(400, "invalid Content-Length")
        if lengths and int(lengths[0]) > limit:
            raise _Reject(413, f"request body larger than {limit} bytes")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_timeout
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0.0))
            except TimeoutError:
                raise _Reject(408, f"request body not received within {self.body_timeout:g} s") from None
            if message["type"] == "http.disconnect":
                return None
            data = message.get("body", b"")
            size += len(data)
            if size > limit:
                raise _Reject(413, f"request body larger than {limit} bytes")
            chunks.append(data)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _login(self, scope: Scope, receive: Receive, send: Send, headers: dict[str, list[str]]) -> None:
        if scope["method"] == "GET":
            await _login_page(send, 200, _next_page(scope.get("query_string", b"").decode("latin-1")), "")
            return
        if scope["method"] != "POST":
            raise _Reject(405, "use GET or POST")
        body = await self._body(receive, headers, LOGIN_BODY_LIMIT)
        if body is None:
            return
        form = parse_qs(body.decode("utf-8", "replace"), max_num_fields=4)
        nxt = _next_page("next=" + (form.get("next") or ["/docs"])[0])
        caller = self.tokens.match((form.get("token") or [""])[0])
        if caller is None:
            client = scope.get("client") or ("?", 0)
            log.warning("docs login refused (invalid token) from %s", client[0])
            await _login_page(send, 401, nxt, "That token is not valid.")
            return
        sid = self.sessions.open(caller)
        secure = "; Secure" if scope.get("scheme") == "https" else ""
        cookie = f"{COOKIE}={sid}; Path=/; HttpOnly; SameSite=Strict; Max-Age={int(self.sessions.ttl)}{secure}"
        log.info("docs login by token %s", caller.name)
        await _respond(send, 303, b"", "text/plain", [(b"location", nxt.encode()), (b"set-cookie", cookie.encode())])

    async def _logout(self, scope: Scope, send: Send, headers: dict[str, list[str]]) -> None:
        self.sessions.close(_cookie(headers, COOKIE))
        secure = "; Secure" if scope.get("scheme") == "https" else ""
        cookie = f"{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"
        await _respond(send, 303, b"", "text/plain", [(b"location", b"/login"), (b"set-cookie", cookie.encode())])


def _headers(scope: Scope) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, value in scope["headers"]:
        found.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))
    return found


def _cookie(headers: dict[str, list[str]], name: str) -> str | None:
    for line in headers.get("cookie", []):
        for part in line.split(";"):
            key, _, value = part.strip().partition("=")
            if key == name:
                return value
    return None


def _next_page(query: str) -> str:
    """Where a login goes next: one of the docs pages, never an address from the request."""
    wanted = (parse_qs(query, max_num_fields=4).get("next") or ["/docs"])[0]
    return wanted if wanted in DOCS_PAGES else "/docs"


def _replay(body: bytes, receive: Receive) -> Receive:
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _with_safety_headers(send: Send, path: str) -> Send:
    extra = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
             (b"referrer-policy", b"no-referrer")]
    if not path.startswith("/docs/assets/"):
        extra.append((b"cache-control", b"no-store"))

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return wrapped


async def _respond(send: Send, status: int, body: bytes, media_type: str,
                   extra: list[tuple[bytes, bytes]] | None = None, close: bool = False) -> None:
    headers = [(b"content-type", media_type.encode()), (b"content-length", str(len(body)).encode()),
               *(extra or [])]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _json(send: Send, status: int, payload: dict[str, Any], close: bool = False,
                extra: list[tuple[bytes, bytes]] | None = None) -> None:
    await _respond(send, status, json.dumps(payload).encode(), "application/json", extra, close)


_LOGIN_HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>netorch API: sign in</title>
<style>body{{font-family:sans-serif;max-width:28em;margin:4em auto}}input{{width:100%;padding:.4em}}
.err{{color:#b00}}</style></head>
<body><h1>netorch API</h1><p>Paste an API token (role read or operate) to open the API documentation.
The page keeps a session cookie, never the token.</p><p class="err">{error}</p>
<form method="post" action="/login"><input type="hidden" name="next" value="{next}">
<p><input type="password" name="token" autocomplete="off" autofocus required></p>
<p><button type="submit">Sign in</button></p></form></body></html>
"""


async def _login_page(send: Send, status: int, nxt: str, error: str) -> None:
    page = _LOGIN_HTML.format(error=html.escape(error), next=html.escape(nxt)).encode()
    csp = b"default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    await _respond(send, status, page, "text/html; charset=utf-8", [(b"content-security-policy", csp)],
                   close=status != 200)
