"""The gateway: the one public entry of the platform.

A plain ASGI dispatcher sends paths of the routing table to the proxy and everything else to the
gateway's own FastAPI app (token issuer, JWKS, merged OpenAPI, docs, health, readiness, metrics).
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
from fastapi import FastAPI, Form, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.issuer import DevIssuer, InvalidGrant
from gateway.openapi import MergedOpenAPI
from gateway.proxy import Proxy
from gateway.routes import RoutingTable
from gateway.settings import Settings
from kit.auth import TokenVerifier, http_jwks_loader
from kit.errors import (
    PROBLEM_MEDIA_TYPE,
    BadRequest,
    Problem,
    ServiceUnavailable,
    install_problem_handlers,
    problem_body,
)
from kit.http import RequestContextMiddleware
from kit.logging import configure_logging


def create_own_app(settings: Settings, issuer: DevIssuer | None, proxy: Proxy, merged: MergedOpenAPI) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await proxy.start()
        try:
            yield
        finally:
            await proxy.stop()

    app = FastAPI(title="gateway", version="0.1.0", lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)
    install_problem_handlers(app)

    @app.get("/healthz", tags=["operations"], summary="Liveness of the gateway")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": "gateway"}

    @app.get("/readyz", tags=["operations"], summary="Readiness of every service behind the gateway")
    async def readyz() -> Response:
        async with httpx.AsyncClient(timeout=2.0) as client:
            async def check(name: str, base: str) -> tuple[str, Any]:
                try:
                    response = await client.get(base + "/readyz")
                    body = response.json()
                    return name, "ok" if response.status_code == 200 else body.get("checks", f"HTTP {response.status_code}")
                except (httpx.HTTPError, ValueError) as e:
                    return name, f"unreachable ({type(e).__name__})"

            results = dict(await asyncio.gather(*(check(n, b) for n, b in settings.upstream_urls().items())))
        if all(v == "ok" for v in results.values()):
            return JSONResponse({"status": "ready", "services": results})
        problem = ServiceUnavailable("部分服务未就绪 / some services are not ready", services=results)
        return JSONResponse(problem_body(problem, instance="/readyz"), status_code=503, media_type=PROBLEM_MEDIA_TYPE)

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics of the gateway")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/openapi.json", tags=["documentation"], summary="The merged OpenAPI document of the platform")
    async def openapi_document() -> JSONResponse:
        return JSONResponse(await merged.document(app.openapi()))

    @app.get("/docs", tags=["documentation"], summary="The API documentation page", response_class=HTMLResponse)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="绿容一网通办 API")

    if issuer is not None:
        @app.get("/.well-known/jwks.json", tags=["authentication"], summary="Public keys of the development issuer")
        async def jwks() -> JSONResponse:
            return JSONResponse(issuer.jwks(), headers={"Cache-Control": "public, max-age=300"})

        @app.post("/auth/token", tags=["authentication"],
                  summary="OAuth 2.0 token endpoint of the development issuer (password, client_credentials)")
        async def token(
            grant_type: Annotated[str, Form()],
            username: Annotated[str | None, Form()] = None,
            password: Annotated[str | None, Form()] = None,
            client_id: Annotated[str | None, Form()] = None,
            client_secret: Annotated[str | None, Form()] = None,
            scope: Annotated[str | None, Form()] = None,
        ) -> JSONResponse:
            form = {k: v for k, v in {"grant_type": grant_type, "username": username, "password": password,
                                      "client_id": client_id, "client_secret": client_secret, "scope": scope}.items()
                    if v is not None}
            try:
                body = issuer.grant(form)
            except InvalidGrant as e:
                problem: Problem = BadRequest(e.description, error=e.error, error_description=e.description)
                problem.status = e.status
                raise problem from None
            return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    return app


class Gateway:
    """Dispatches each request to the proxy (routing table) or to the gateway's own endpoints."""

    def __init__(self, own: ASGIApp, proxy: Proxy, table: RoutingTable) -> None:
        self.own = own
        self.proxy = proxy
        self.table = table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            route = self.table.match(scope["path"])
            if route is not None:
                scope["route"] = route
                await self.proxy.handle(route, scope, receive, send)
                return
        await self.own(scope, receive, send)


def create_app(settings: Settings | None = None) -> ASGIApp:
    settings = settings or Settings()
    configure_logging("gateway", settings.log_level)
    issuer = None
    if settings.dev_issuer_enabled:
        issuer = DevIssuer(settings.dev_issuer_key_dir, issuer=settings.auth_issuer, audience=settings.auth_audience,
                           ttl_seconds=settings.dev_issuer_token_ttl_seconds)

    async def local_keys() -> dict[str, Any]:
        assert issuer is not None
        return issuer.jwks()

    # With the development issuer on, the gateway checks tokens against its own keys without a network hop.
    key_loader = local_keys if issuer is not None else http_jwks_loader(settings.auth_jwks_url)
    verifier = TokenVerifier(key_loader, issuer=settings.auth_issuer, audience=settings.auth_audience)
    table = RoutingTable()
    upstreams = settings.upstream_urls()
    proxy = Proxy(upstreams, verifier, timeout_seconds=settings.upstream_timeout_seconds,
                  connect_timeout_seconds=settings.upstream_connect_timeout_seconds,
                  pool_size=settings.upstream_pool_size, max_body_bytes=settings.max_body_bytes,
                  upstream_timeouts=settings.upstream_timeouts)
    own = create_own_app(settings, issuer, proxy, MergedOpenAPI(upstreams, table))
    app: ASGIApp = Gateway(own, proxy, table)
    if settings.cors_origins:
        app = CORSMiddleware(app, allow_origins=settings.cors_origins, allow_methods=["*"],
                             allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID",
                                            "Accept-Language"], expose_headers=["X-Request-ID", "Location", "Retry-After"])
    return RequestContextMiddleware(app, service="gateway")
