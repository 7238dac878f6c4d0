"""The service application factory: every service gets the same lifespan, middleware, error
handlers, health, readiness and metrics endpoints, outbox relay and event consumers."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest

from kit.auth import TokenVerifier
from kit.db import Database
from kit.errors import PROBLEM_MEDIA_TYPE, ServiceUnavailable, install_problem_handlers, problem_body
from kit.events import EventConsumer, EventSubscription, JetStreamBus, OutboxRelay, outbox_backlog
from kit.events.envelope import stream_name, stream_subjects
from kit.http import RequestContextMiddleware
from kit.logging import configure_logging
from kit.settings import ServiceSettings

log = structlog.get_logger("kit.app")

OUTBOX_OLDEST_AGE = Gauge("lvrong_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox event", ["service"])


@dataclass
class Runtime:
    """What a running service holds; reachable as ``app.state.runtime``."""

    settings: ServiceSettings
    database: Database
    bus: JetStreamBus
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)


BackgroundJob = Callable[[Runtime], Awaitable[None]]


@dataclass
class ServiceDefinition:
    settings: ServiceSettings
    title: str
    description: str
    version: str = "0.1.0"
    routers: Sequence[APIRouter] = ()
    subscriptions: Sequence[EventSubscription] = ()
    background_jobs: Sequence[BackgroundJob] = ()
    produces_events: bool = True
    openapi_tags: list[dict[str, Any]] | None = None


async def _connect_bus_when_possible(bus: JetStreamBus, service: str, produces: bool) -> None:
    delay = 0.5
    while True:
        try:
            await bus.connect()
            if produces:
                await bus.ensure_stream(stream_name(service), stream_subjects(service))
            return
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.warning("bus_unreachable_retrying", error=type(e).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def create_service_app(definition: ServiceDefinition) -> FastAPI:
    settings = definition.settings
    service = settings.service_name
    configure_logging(service, settings.log_level)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database(settings.service_database_url, pool_size=settings.database_pool_size)
        bus = JetStreamBus(settings.nats_url, name=f"lvrong-{service}")
        runtime = Runtime(settings=settings, database=database, bus=bus)
        app.state.runtime = runtime
        app.state.database = database
        app.state.bus = bus
        app.state.token_verifier = TokenVerifier.from_jwks_url(
            settings.auth_jwks_url, issuer=settings.auth_issuer, audience=settings.auth_audience)

        async def start_event_work() -> None:
            await _connect_bus_when_possible(bus, service, definition.produces_events)
            if definition.produces_events:
                relay = OutboxRelay(database, bus, batch_size=settings.relay_batch_size,
                                    poll_seconds=settings.relay_poll_seconds)
                runtime.tasks.append(asyncio.create_task(relay.run(), name="outbox-relay"))
            for subscription in definition.subscriptions:
                consumer = EventConsumer(database, bus, service, subscription, max_deliver=settings.consumer_max_deliver)
                runtime.tasks.append(asyncio.create_task(consumer.run(), name=f"consumer-{subscription.name}"))

        runtime.tasks.append(asyncio.create_task(start_event_work(), name="bus-start"))
        for job in definition.background_jobs:
            runtime.tasks.append(asyncio.create_task(job(runtime), name=getattr(job, "__name__", "job")))
        log.info("service_started", port=settings.port)
        try:
            yield
        finally:
            for task in runtime.tasks:
                task.cancel()
            # Bounded: a task that ignores its cancellation must not keep the process (and a rollout) waiting.
            _, pending = await asyncio.wait(runtime.tasks, timeout=settings.shutdown_timeout_seconds) \
                if runtime.tasks else (set(), set())
            for task in pending:
                frames = [f"{f.f_code.co_filename.rsplit('/', 1)[-1]}:{f.f_lineno} {f.f_code.co_name}"
                          for f in task.get_stack(limit=6)]
                log.error("task_did_not_stop", task=task.get_name(), stack=frames)
            try:
                async with asyncio.timeout(settings.shutdown_timeout_seconds):
                    await bus.close()
            except TimeoutError:
                log.error("bus_did_not_close")
            await database.dispose()
            log.info("service_stopped")

    app = FastAPI(title=definition.title, description=definition.description, version=definition.version,
                  lifespan=lifespan, openapi_tags=definition.openapi_tags)
    install_problem_handlers(app)
    for router in definition.routers:
        app.include_router(router)
    app.include_router(operations_router(service))
    app.add_middleware(RequestContextMiddleware, service=service)
    return app


def operations_router(service: str) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @router.get("/readyz", summary="Readiness: the database and the bus are reachable",
                responses={503: {"description": "A dependency is unreachable", "content": {PROBLEM_MEDIA_TYPE: {}}}})
    async def readyz(request: Request) -> Response:
        runtime: Runtime = request.app.state.runtime
        checks: dict[str, Any] = {}
        try:
            await asyncio.wait_for(runtime.database.ping(), timeout=2)
            checks["database"] = "ok"
            async with runtime.database.session() as session:
                backlog, age = await outbox_backlog(session)
            checks["outbox_backlog"] = backlog
            OUTBOX_OLDEST_AGE.labels(service).set(age or 0)
        except Exception as e:
            checks["database"] = f"unavailable ({type(e).__name__})"
        try:
            await runtime.bus.ping()
            checks["bus"] = "ok"
        except Exception as e:
            checks["bus"] = f"unavailable ({type(e).__name__})"
        ready = checks["database"] == "ok" and checks["bus"] == "ok"
        if ready:
            return JSONResponse({"status": "ready", "service": service, "checks": checks})
        problem = ServiceUnavailable("依赖服务不可达 / a dependency is unreachable", checks=checks, service=service)
        return JSONResponse(problem_body(problem, instance="/readyz"), status_code=503, media_type=PROBLEM_MEDIA_TYPE)

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
