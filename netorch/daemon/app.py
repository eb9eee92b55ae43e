"""The HTTP API (FastAPI; OpenAPI at /openapi.json, Swagger UI at /docs, ReDoc at /redoc).

Bearer tokens with two roles: `read` (GET endpoints, validate) and `operate` (plan, apply,
drift). The Guard middleware (guard.py) authenticates and checks the role before any body is
read, then receives the body under a size limit and a deadline. Tokens are compared in
constant time and never logged; errors are JSON; no stack trace ever reaches a client. The
documentation pages load Swagger UI and ReDoc from local assets and need a read token too."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path as FilePath
from typing import Annotated, Any

import fastapi_offline
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Scope

from netorch import __version__
from netorch.daemon.guard import SCOPE_KEY, Caller, Guard, Role, Sessions, Tokens
from netorch.daemon.runtime import CHECKED, Busy, Runtime
from netorch.defaults import CONFIRM_TIMEOUT
from netorch.errors import NetorchError, ValidationFailed
from netorch.run.options import ApplyOptions, PlanOptions
from netorch.run.rollout import Rollout

log = logging.getLogger("netorch.daemon.api")
bearer = HTTPBearer(auto_error=False)  # documents the scheme (Swagger UI's Authorize); the Guard decides
DOCS_ASSETS = FilePath(fastapi_offline.__file__).parent / "static"  # swagger-ui and redoc dist files
ASSETS_URL = "/docs/assets"
RUN_ID_MAX = 2**63 - 1  # SQLite's INTEGER


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlanBody(_Body):
    limit: str | None = Field(None, max_length=4096, description="host or group, comma list")


class ApplyBody(_Body):
    limit: str | None = Field(None, max_length=4096)
    dry_run: bool = False
    confirm_timeout: int | None = Field(None, ge=5, le=3600)
    best_effort: bool = False
    canary: str | None = Field(None, max_length=4096, description="staged rollout: device names or a count")
    wave_size: str | None = Field(None, max_length=8, description="staged rollout: N devices or P%")
    max_failures: int = Field(0, ge=0, le=100_000)
    pause: float = Field(0.0, ge=0, le=86_400)
    keep_completed: bool = False

    def options(self) -> ApplyOptions:
        """The engine's options for this request (the rollout parsed as the CLI parses it)."""
        rollout = None
        if self.canary is not None or self.wave_size is not None:
            rollout = Rollout.parse(self.canary, self.wave_size, self.max_failures, self.pause, self.keep_completed)
        return ApplyOptions(limit=self.limit, dry_run=self.dry_run, confirm_timeout=self.confirm_timeout
                            or CONFIRM_TIMEOUT, best_effort=self.best_effort, rollout=rollout)


class VerifyBody(_Body):
    limit: str | None = Field(None, max_length=4096)
    failures: int = Field(0, ge=0, le=1, description="1: also under each single link and router failure")


class DriftBody(_Body):
    limit: str | None = Field(None, max_length=4096)
    remediate: bool = False


def caller(request: Request,
           _: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Caller:
    found = request.scope.get(SCOPE_KEY)
    if not isinstance(found, Caller):  # the Guard answers first; this only holds if it is missing
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    return found


def operator(who: Annotated[Caller, Depends(caller)]) -> Caller:
    if who.role != "operate":
        raise HTTPException(403, f"token {who.name!r} has role read; this needs operate")
    return who


def _depends_on(dependant: Dependant, call: Any) -> bool:
    return dependant.call is call or any(_depends_on(d, call) for d in dependant.dependencies)


def role_table(app: FastAPI) -> Callable[[Scope], Role]:
    """role_for(scope) for the Guard: operate for the routes that depend on `operator`, read
    for everything else (unknown paths included: they are 404 only for a valid token)."""
    operate = [r for r in app.routes if isinstance(r, APIRoute) and _depends_on(r.dependant, operator)]

    def role_for(scope: Scope) -> Role:
        return "operate" if any(r.matches(scope)[0] is Match.FULL for r in operate) else "read"

    return role_for


Reader = Annotated[Caller, Depends(caller)]
Operator = Annotated[Caller, Depends(operator)]


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(title="netorch", version=__version__,
                  description="Intent-based network orchestration: validate, plan, apply, drift.",
                  docs_url=None, redoc_url=None, swagger_ui_oauth2_redirect_url=None)
    tokens: list[tuple[str, Role, str]] = []
    for t in runtime.config.tokens:
        secret = t.secret()
        if secret:
            tokens.append((t.name, t.role, secret))
        else:
            log.warning("token %r has no secret (environment variable %s is not set): it is disabled",
                        t.name, t.env)
    if not tokens:
        log.warning("no API tokens configured: every endpoint but /health answers 401")

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

    config = runtime.config
    warnings = [f"insecure_http: plain HTTP on {config.listen}, tokens cross the network in clear"] \
        if config.exposed_in_clear else []

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "busy": runtime.locks.busy(),
                "tls": config.tls is not None, "warnings": warnings}

    app.mount(ASSETS_URL, StaticFiles(directory=DOCS_ASSETS), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs(_: Reader) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="netorch API",
                                   swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
                                   swagger_favicon_url=f"{ASSETS_URL}/favicon.png", oauth2_redirect_url=None,
                                   swagger_ui_parameters={"validatorUrl": None})

    @app.get("/redoc", include_in_schema=False)
    def redoc(_: Reader) -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title="netorch API",
                              redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
                              redoc_favicon_url=f"{ASSETS_URL}/favicon.png", with_google_fonts=False)

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

    @app.post("/verify")
    async def verify(who: Reader, body: VerifyBody | None = None) -> dict[str, Any]:
        """Every promise of the intents checked on the compiled network (offline, nothing is
        contacted): `ok`, failures and warnings with counterexamples. Kept in the store
        (`verification`: its id; GET /verifications)."""
        from netorch.verify import verify as run_verify
        from netorch.verify.records import save

        body = body or VerifyBody()
        ws = runtime.workspace()
        report = await run_in_threadpool(run_verify, ws, body.limit, body.failures)
        try:
            kept: int | None = await run_in_threadpool(save, runtime.store, "verify", who.name, ws.revision(), report,
                                                       {"limit": body.limit, "failures": body.failures or None})
        except NetorchError as exc:
            log.warning("verification not kept: %s", exc)
            kept = None
        return {**report.as_dict(), "verification": kept}

    @app.get("/verifications")
    def verifications(_: Reader, limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> list[dict[str, Any]]:
        """The verifications kept, newest first: each `netorch verify` and POST /verify, and the one
        plan and apply make before touching any device (`run_id`: their run)."""
        return [v.as_dict() for v in runtime.store.verifications(limit=limit)]

    @app.post("/plan")
    async def plan(who: Operator, body: PlanBody | None = None) -> dict[str, Any]:
        body = body or PlanBody()
        report = await run_in_threadpool(runtime.plan, who.name, PlanOptions(limit=body.limit))
        return report.as_dict()

    @app.post("/apply")
    async def apply(who: Operator, body: ApplyBody | None = None) -> dict[str, Any]:
        body = body or ApplyBody()
        log.info("apply requested by %s (limit=%s dry_run=%s)", who.name, body.limit, body.dry_run)
        report = await run_in_threadpool(runtime.apply, who.name, body.options())
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
    def run(run_id: Annotated[int, Path(ge=1, le=RUN_ID_MAX)], _: Reader) -> dict[str, Any]:
        """One run with its devices and its verifications (plan, apply: the one made first)."""
        record = runtime.store.run(run_id)
        if record is None:
            raise HTTPException(404, f"no run {run_id}")
        return record.as_dict()

    @app.get("/drift/status")
    def drift_status(_: Reader) -> dict[str, Any]:
        """The devices the daemon checks (its schedules' scope), each with its last drift result
        (status `unknown` before its first check)."""
        latest = runtime.store.latest_by_host("drift", CHECKED)
        out: dict[str, Any] = {}
        for host in runtime.scope():
            if host not in latest:
                out[host] = {"status": "unknown", "run_id": None, "config_differences": 0, "state_issues": 0,
                             "error": ""}
                continue
            run_id, rec = latest[host]
            out[host] = {"status": rec.status, "run_id": run_id,
                         "config_differences": len(rec.details.get("config", [])),
                         "state_issues": len(rec.details.get("state", [])), "error": rec.error}
        return out

    @app.get("/metrics")
    def metrics(_: Reader) -> Response:
        return Response(runtime.metrics.render(), media_type="text/plain; version=0.0.4")

    app.add_middleware(Guard, tokens=Tokens(tokens), sessions=Sessions(), role_for=role_table(app),
                       max_body=config.max_body_bytes, body_timeout=config.body_timeout)
    return app
