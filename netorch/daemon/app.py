"""The HTTP API (FastAPI; OpenAPI at /docs and /openapi.json).

Bearer tokens with two roles: `read` (GET endpoints, validate) and `operate` (plan, apply,
drift). Tokens are compared in constant time and never logged; errors are JSON; request
bodies are size-limited; no stack trace ever reaches a client."""

from __future__ import annotations

import hmac
import logging
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from netorch import __version__
from netorch.daemon.runtime import Busy, Runtime
from netorch.errors import NetorchError, ValidationFailed

log = logging.getLogger("netorch.daemon.api")
bearer = HTTPBearer(auto_error=False)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlanBody(_Body):
    limit: str | None = Field(None, max_length=4096, description="host or group, comma list")


class ApplyBody(_Body):
    limit: str | None = Field(None, max_length=4096)
    dry_run: bool = False
    confirm_timeout: int | None = Field(None, ge=5, le=3600)
    best_effort: bool = False


class DriftBody(_Body):
    limit: str | None = Field(None, max_length=4096)
    remediate: bool = False


class Caller(BaseModel):
    name: str
    role: Literal["read", "operate"]


def caller(request: Request,
           credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Caller:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    given = credentials.credentials.encode()
    found: Caller | None = None
    for name, role, secret in request.app.state.tokens:
        if hmac.compare_digest(given, secret.encode()):  # every token is compared: constant time
            found = Caller.model_validate({"name": name, "role": role})
    if found is None:
        raise HTTPException(401, "invalid bearer token", headers={"WWW-Authenticate": "Bearer"})
    return found


def operator(who: Annotated[Caller, Depends(caller)]) -> Caller:
    if who.role != "operate":
        raise HTTPException(403, f"token {who.name!r} has role read; this needs operate")
    return who


Reader = Annotated[Caller, Depends(caller)]
Operator = Annotated[Caller, Depends(operator)]


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(title="netorch", version=__version__,
                  description="Intent-based network orchestration: validate, plan, apply, drift.")
    tokens: list[tuple[str, str, str]] = []
    for t in runtime.config.tokens:
        secret = t.secret()
        if secret:
            tokens.append((t.name, t.role, secret))
        else:
            log.warning("token %r has no secret (environment variable %s is not set): it is disabled",
                        t.name, t.env)
    if not tokens:
        log.warning("no API tokens configured: every endpoint but /health answers 401")

    app.state.tokens = tokens

    @app.middleware("http")
    async def limit_body(request: Request, call_next: Any) -> Any:
        size = request.headers.get("content-length")
        limit = runtime.config.max_body_bytes
        if size is not None and (not size.isdigit() or int(size) > limit):
            return JSONResponse({"error": f"request body larger than {limit} bytes"}, status_code=413)
        if size is None and request.method in ("POST", "PUT", "PATCH"):
            body = b""
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    return JSONResponse({"error": f"request body larger than {limit} bytes"}, status_code=413)

            async def receive() -> dict[str, Any]:
                return {"type": "http.request", "body": body, "more_body": False}

            request = Request(request.scope, receive)
        return await call_next(request)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        return JSONResponse({"error": "invalid request", "details": details}, status_code=422)

    @app.exception_handler(Busy)
    async def busy(_: Request, exc: Busy) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=409)

    @app.exception_handler(ValidationFailed)
    async def invalid_intents(_: Request, exc: ValidationFailed) -> JSONResponse:
        return JSONResponse({"error": "the intents are invalid", "problems": [
            {"file": p.file, "line": p.line, "path": p.path, "message": p.message} for p in exc.problems]},
            status_code=422)

    @app.exception_handler(NetorchError)
    async def netorch_error(_: Request, exc: NetorchError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=400)

    @app.exception_handler(Exception)
    async def internal(_: Request, exc: Exception) -> JSONResponse:
        log.error("internal error: %s", type(exc).__name__)
        return JSONResponse({"error": "internal error"}, status_code=500)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "busy": runtime.locks.busy()}

    @app.get("/inventory")
    def inventory(_: Reader) -> dict[str, Any]:
        inv = runtime.workspace().inventory()
        return {"hosts": [{"name": h.name, "hostname": h.hostname, "platform": h.platform.value,
                           "groups": list(h.groups), "deploy": h.data.deploy} for h in inv.select(None)],
                "groups": sorted(inv.groups)}

    @app.post("/validate")
    def validate(_: Reader) -> dict[str, Any]:
        result = runtime.workspace().validate()
        return {"ok": result.ok, "summary": result.summary(), "problems": [
            {"file": p.file, "line": p.line, "path": p.path, "message": p.message, "code": p.code}
            for p in result.problems]}

    @app.post("/plan")
    async def plan(who: Operator, body: PlanBody | None = None) -> dict[str, Any]:
        body = body or PlanBody()
        report = await run_in_threadpool(runtime.plan, who.name, limit=body.limit)
        return report.as_dict()

    @app.post("/apply")
    async def apply(who: Operator, body: ApplyBody | None = None) -> dict[str, Any]:
        body = body or ApplyBody()
        log.info("apply requested by %s (limit=%s dry_run=%s)", who.name, body.limit, body.dry_run)
        report = await run_in_threadpool(runtime.apply, who.name, **body.model_dump())
        return report.as_dict()

    @app.post("/drift")
    async def drift(who: Operator, body: DriftBody | None = None) -> dict[str, Any]:
        body = body or DriftBody()
        report = await run_in_threadpool(runtime.drift, body.limit, who.name, body.remediate)
        return report.model_dump(mode="json")

    @app.get("/runs")
    def runs(_: Reader, kind: Annotated[str | None, Query(pattern="^(apply|plan|drift)$")] = None,
             host: Annotated[str | None, Query(max_length=255)] = None,
             limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> list[dict[str, Any]]:
        return [r.as_dict(with_devices=False) for r in runtime.store.runs(limit=limit, kind=kind, host=host)]

    @app.get("/runs/{run_id}")
    def run(run_id: int, _: Reader) -> dict[str, Any]:
        record = runtime.store.run(run_id)
        if record is None:
            raise HTTPException(404, f"no run {run_id}")
        return record.as_dict()

    @app.get("/drift/status")
    def drift_status(_: Reader) -> dict[str, Any]:
        latest = runtime.store.latest_by_host("drift")
        return {host: {"status": rec.status, "run_id": run_id, "config_differences": len(rec.details.get("config", [])),
                       "state_issues": len(rec.details.get("state", [])), "error": rec.error}
                for host, (run_id, rec) in sorted(latest.items())}

    @app.get("/metrics")
    def metrics(_: Reader) -> Response:
        return Response(runtime.metrics.render(), media_type="text/plain; version=0.0.4")

    return app
