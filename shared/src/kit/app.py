"""The service application factory: every service gets the same lifespan, middleware, error
handlers, health, readiness and metrics endpoints, outbox relay and event consumers."""
from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

import structlog
from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from nats.js.errors import NotFoundError
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest
from pydantic import BaseModel, Field

from kit import messages
from kit.audit import AuditKeyError, AuditSettings, audit_keys
from kit.audit_anchor import AnchorStore, run_anchoring
from kit.auth import PUBLIC_ROUTE, Principal, Role, TokenVerifier, needs_scope, require_roles
from kit.availability import DatabaseGate
from kit.calendar import readiness_warning, unapproved_years, watch_approved_years
from kit.db import Database
from kit.errors import (
    PROBLEM_MEDIA_TYPE,
    PROBLEM_RESPONSES,
    BadRequest,
    Conflict,
    NotFound,
    ServiceUnavailable,
    install_problem_handlers,
    problem_body,
)
from kit.events import EventConsumer, EventSubscription, JetStreamBus, OutboxRelay, outbox_backlog
from kit.events.consumer import durable_name
from kit.events.deadletters import DeadLetterNotFound, DeadLetters, NotReplayable
from kit.events.envelope import stream_name, stream_subjects
from kit.http import RequestContextMiddleware
from kit.i18n import prefers_english
from kit.logging import configure_logging
from kit.openapi import document_problem_responses
from kit.pagination import CursorQuery, LimitQuery, decode_cursor, encode_cursor
from kit.pruning import prune_periodically
from kit.settings import DeploymentCheck, ServiceSettings
from kit.tracing import traced

log = structlog.get_logger("kit.app")

OUTBOX_OLDEST_AGE = Gauge("lvrong_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox event", ["service"])
OUTBOX_UNPUBLISHED = Gauge("lvrong_outbox_unpublished", "Outbox events not yet published", ["service"])
DEAD_LETTERS_WAITING = Gauge("lvrong_dead_letters", "Dead letters waiting for ops (list, replay, discard)", ["consumer"])
CONSUMER_ACK_PENDING = Gauge("lvrong_consumer_ack_pending", "Messages delivered and not yet acknowledged", ["consumer"])
CONSUMER_REDELIVERED = Gauge("lvrong_consumer_redelivered", "Messages delivered more than once and not yet "
                             "acknowledged", ["consumer"])
CONSUMER_LAG = Gauge("lvrong_consumer_lag", "Messages of the stream not yet delivered to the consumer", ["consumer"])
# How often each replica refreshes the gauges above from the database and the server.
OPERATIONS_METRICS_SECONDS = 15.0


@dataclass
class Runtime:
    """What a running service holds; reachable as ``app.state.runtime``."""

    settings: ServiceSettings
    database: Database
    bus: JetStreamBus
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    # Closed while the database is away: consumers and the relay hold their work until it is back.
    gate: DatabaseGate | None = None


BackgroundJob = Callable[[Runtime], Coroutine[Any, Any, None]]

StateT = TypeVar("StateT")
SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


# The dependencies here and in kit.db are ``async def`` although they only read app.state: FastAPI runs
# a plain ``def`` dependency in its thread pool, a thread hop per request (profiled: a fifth of the CPU
# of a cached catalogue read went to it).
def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_runtime(request: Request) -> Runtime:
    return runtime_of(request)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def settings_dependency(kind: type[SettingsT]) -> Callable[[Request], Awaitable[SettingsT]]:
    """A dependency giving a route its service's own settings, typed (``Annotated[Settings, Depends(...)]``)."""
    async def service_settings(request: Request) -> SettingsT:
        settings = runtime_of(request).settings
        if not isinstance(settings, kind):
            raise TypeError(f"the running service's settings are {type(settings).__name__}, not {kind.__name__}")
        return settings
    return service_settings


def state_of(request: Request, name: str, kind: type[StateT]) -> StateT:
    """What the service put on ``app.state`` under ``name``, typed (for a dependency resolving several things at
    once; a route reads it through ``state_dependency``)."""
    value = getattr(request.app.state, name)
    if not isinstance(value, kind):
        raise TypeError(f"app.state.{name} is {type(value).__name__}, not {kind.__name__}")
    return value


def state_dependency(name: str, kind: type[StateT]) -> Callable[[Request], Awaitable[StateT]]:
    """A dependency giving a route what its service put on ``app.state`` under ``name``, typed.

    Routes never read ``request.app.state`` themselves: what they use is declared in their signature."""
    async def state(request: Request) -> StateT:
        return state_of(request, name, kind)
    state.__name__ = f"state_{name}"
    return state


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
    # The service keeps an audit log (kit.audit): its keys are loaded at start and its head anchored.
    audit_trail: bool = False
    openapi_tags: list[dict[str, Any]] | None = None
    # Checks beyond the settings that refuse a production start (kit.settings.DeploymentCheck).
    deployment_checks: Sequence[DeploymentCheck] = ()


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
    settings.exit_unless_deployable(*definition.deployment_checks)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if definition.audit_trail:
            audit_settings = AuditSettings()
            # Before anything starts: missing keys, development keys in production, or no key to sign
            # checkpoints with stop the service here rather than at its first audited action.
            if audit_keys().active_anchor is None:
                raise AuditKeyError("AUDIT_ANCHOR_KEY_DIR holds no private key: this service cannot sign checkpoints")
        database = Database(settings.service_database_url, pool_size=settings.database_pool_size)
        bus = JetStreamBus(settings.nats_client, name=f"lvrong-{service}")
        runtime = Runtime(settings=settings, database=database, bus=bus, gate=DatabaseGate(database))
        app.state.runtime = runtime
        app.state.database = database
        app.state.bus = bus
        app.state.token_verifier = TokenVerifier.from_jwks_url(
            settings.auth_jwks_url, issuer=settings.auth_issuer, audience=settings.auth_audience)

        async def start_event_work() -> None:
            await _connect_bus_when_possible(bus, service, definition.produces_events)
            if definition.produces_events:
                relay = OutboxRelay(database, bus, batch_size=settings.relay_batch_size,
                                    poll_seconds=settings.relay_poll_seconds, gate=runtime.gate)
                runtime.tasks.append(asyncio.create_task(relay.run(), name="outbox-relay"))
            consumers = []
            for subscription in definition.subscriptions:
                consumer = EventConsumer(database, bus, service, subscription, max_deliver=settings.consumer_max_deliver,
                                         gate=runtime.gate)
                consumers.append(consumer)
                runtime.tasks.append(asyncio.create_task(consumer.run(), name=f"consumer-{subscription.name}"))
            runtime.tasks.append(asyncio.create_task(
                _refresh_operations_metrics(runtime, service, consumers), name="operations-metrics"))

        runtime.tasks.append(asyncio.create_task(start_event_work(), name="bus-start"))
        # Years of the working-day calendar approved by ops reach every process without a restart.
        runtime.tasks.append(asyncio.create_task(watch_approved_years(settings.nats_client), name="calendar-watch"))
        if definition.audit_trail:
            anchors = AnchorStore.from_settings(audit_settings, settings)
            app.state.audit_anchors = anchors
            runtime.tasks.append(asyncio.create_task(
                run_anchoring(database, service, anchors, audit_settings.anchor_interval_seconds), name="audit-anchor"))
        runtime.tasks.append(asyncio.create_task(prune_periodically(database, settings), name="pruning"))
        for job in definition.background_jobs:
            runtime.tasks.append(asyncio.create_task(job(runtime), name=getattr(job, "__name__", "job")))
        log.info("service_started", port=settings.port)
        if unapproved := unapproved_years():
            log.warning("calendar_years_provisional", years=unapproved,
                        action="ops: approve the State Council's holiday notice (PUT /v1/calendar/{year}, then approve)")
        # What is loaded by now lives as long as the process: keep it out of the cyclic GC, whose full
        # passes over it otherwise stall every request in flight for tens of milliseconds.
        gc.collect()
        gc.freeze()
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
            if definition.audit_trail:
                await app.state.audit_anchors.dispose()
            await database.dispose()
            log.info("service_stopped")

    app = FastAPI(title=definition.title, description=definition.description, version=definition.version,
                  lifespan=lifespan, openapi_tags=definition.openapi_tags)
    install_problem_handlers(app)
    # The document says what the answers are: every error problem+json (checked by Schemathesis).
    document_problem_responses(app)
    for router in definition.routers:
        app.include_router(router)
    app.include_router(operations_router(service))
    if definition.subscriptions:  # a service that consumes nothing has no dead letters (and no ops identity)
        app.include_router(dead_letter_router(service, [durable_name(service, s) for s in definition.subscriptions]))
    # Inner to the request context: records the span whose ids it chose; the app itself when not configured.
    app.add_middleware(traced, service=service)
    app.add_middleware(RequestContextMiddleware, service=service)
    return app


def operations_router(service: str) -> APIRouter:
    router = APIRouter(tags=["operations"], dependencies=[PUBLIC_ROUTE])

    @router.get("/healthz", summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    # Ready means "can serve requests": that needs the database, not the bus — events wait in the
    # outbox while NATS is away. Were the bus part of readiness, a NATS outage would take every pod
    # of every service out of its Service and turn a delayed event into a failed request.
    @router.get("/readyz", summary="Readiness: the database is reachable (the bus is reported; without it the "
                "service still serves and is `degraded`)",
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
        if runtime.gate is not None and runtime.gate.away:
            checks["event_work"] = "paused until the database answers"
        try:
            await runtime.bus.ping()
            checks["bus"] = "ok"
        except Exception as e:
            checks["bus"] = f"unavailable ({type(e).__name__})"
        # An unapproved calendar year is an ops alarm, not a reason to stop serving: clocks count on
        # the provisional year meanwhile.
        calendar_warning = readiness_warning()
        checks["calendar"] = "ok" if calendar_warning is None else "provisional"
        if checks["database"] == "ok":
            body: dict[str, Any] = {"status": "ready" if checks["bus"] == "ok" else "degraded", "service": service,
                                    "checks": checks}
            if calendar_warning:
                body["warnings"] = [calendar_warning.pick(prefers_english(request.headers.get("accept-language")))]
            return JSONResponse(body)
        problem = ServiceUnavailable(messages.DEPENDENCY_UNREACHABLE, checks=checks, service=service)
        return JSONResponse(problem_body(problem, instance="/readyz"), status_code=503, media_type=PROBLEM_MEDIA_TYPE)

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


async def _refresh_operations_metrics(runtime: Runtime, service: str, consumers: list[EventConsumer]) -> None:
    """Keep the gauges ops alert on current without traffic: outbox backlog and age, consumer lag,
    unacknowledged and redelivered messages, dead letters waiting."""
    dead_letters = DeadLetters(runtime.bus, [c.durable for c in consumers])
    while True:
        try:
            async with runtime.database.session() as session:
                backlog, age = await outbox_backlog(session)
            OUTBOX_UNPUBLISHED.labels(service).set(backlog)
            OUTBOX_OLDEST_AGE.labels(service).set(age or 0)
            if consumers:
                js = await runtime.bus.jetstream()
                for consumer in consumers:
                    try:
                        info = await js.consumer_info(consumer.spec.stream, consumer.durable)
                    except NotFoundError:
                        continue
                    CONSUMER_LAG.labels(consumer.durable).set(info.num_pending or 0)
                    CONSUMER_ACK_PENDING.labels(consumer.durable).set(info.num_ack_pending or 0)
                    CONSUMER_REDELIVERED.labels(consumer.durable).set(info.num_redelivered or 0)
                for durable, count in (await dead_letters.counts()).items():
                    DEAD_LETTERS_WAITING.labels(durable).set(count)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a dependency away: the gauges keep their last values; readiness reports it
            log.debug("operations_metrics_unavailable", error=type(e).__name__)
        await asyncio.sleep(OPERATIONS_METRICS_SECONDS)


class DeadLetterEvent(BaseModel):
    id: str
    type: str
    subject: str | None = None
    time: str
    source: str


class DeadLetterOut(BaseModel):
    sequence: int = Field(description="Position in the dead-letter stream: the dead letter's id")
    consumer: str = Field(description="The durable consumer that gave up on the message", examples=["matters-prequal"])
    original_subject: str = Field(examples=["lvrong.prequal.review.completed"])
    original_stream: str | None = None
    original_sequence: int | None = None
    error: str | None = Field(description="The handler's last error (type and message)")
    dead_lettered_at: str | None = None
    replayable: bool = Field(description="False for a message that is not a readable event: it can only be discarded")
    event: DeadLetterEvent | None = None
    raw_base64: str | None = Field(default=None, description="The first bytes of a message that is not an event")


class DeadLetterPage(BaseModel):
    items: list[DeadLetterOut]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page; null on the last")


class DeadLetterAction(BaseModel):
    action: str = Field(description="read, replayed or discarded", examples=["replayed"])
    dead_letter: DeadLetterOut


OpsAdmin = Annotated[Principal, Depends(require_roles(Role.OPS_ADMIN))]
DeadLetterSequence = Annotated[int, PathParam(ge=1, le=2**63 - 1, description="The dead letter's sequence")]
_DEAD_LETTER_ERRORS: dict[int | str, dict[str, Any]] = {
    **{k: v for k, v in PROBLEM_RESPONSES.items() if k in (401, 403)},
    404: {"description": "No such dead letter of this service", "content": {PROBLEM_MEDIA_TYPE: {}}},
    503: {"description": "The message bus is unreachable", "content": {PROBLEM_MEDIA_TYPE: {}}},
}


def dead_letter_router(service: str, durables: list[str]) -> APIRouter:
    """Ops' view of this service's dead letters (死信) at ``/v1/ops/<service>/deadletters``, role ops_admin."""
    router = APIRouter(prefix=f"/v1/ops/{service}/deadletters", tags=["operations"])

    def store(request: Request) -> DeadLetters:
        runtime: Runtime = request.app.state.runtime
        return DeadLetters(runtime.bus, durables, ops_client=runtime.settings.nats_ops_client)

    async def act(request: Request, sequence: int, action: str) -> DeadLetterAction:
        letters = store(request)
        operation = {"read": letters.get, "replayed": letters.replay, "discarded": letters.discard}[action]
        try:
            async with asyncio.timeout(10):
                letter = await operation(sequence)
        except DeadLetterNotFound:
            raise NotFound(messages.DEAD_LETTER_NOT_FOUND.format(sequence=sequence, service=service)) from None
        except NotReplayable:
            raise Conflict(messages.DEAD_LETTER_NOT_REPLAYABLE) from None
        except (TimeoutError, OSError) as e:
            raise ServiceUnavailable(messages.BUS_UNAVAILABLE) from e
        if action != "read":
            log.warning(f"dead_letter_{action}", sequence=sequence, consumer=letter.consumer,
                        event_id=letter.event.id if letter.event else None)
        return DeadLetterAction(action=action, dead_letter=DeadLetterOut.model_validate(letter.summary()))

    @router.get("", response_model=DeadLetterPage, summary="This service's dead letters, oldest first",
                dependencies=[needs_scope("ops:read")],
                responses={**_DEAD_LETTER_ERRORS, 400: {"description": "Invalid pagination cursor",
                                                        "content": {PROBLEM_MEDIA_TYPE: {}}}})
    async def list_dead_letters(
        request: Request, _: OpsAdmin, limit: LimitQuery = 50, cursor: CursorQuery = None,
        consumer: Annotated[str | None, Query(max_length=128, description="Only this consumer's")] = None,
    ) -> DeadLetterPage:
        start = (decode_cursor(cursor) or {}).get("after", 0)
        if not isinstance(start, int) or start < 0:
            raise BadRequest(messages.CURSOR_INVALID)
        if consumer is not None and consumer not in durables:
            return DeadLetterPage(items=[])
        try:
            async with asyncio.timeout(10):
                page, last = await store(request).list(after=start, limit=limit, consumer=consumer)
        except (TimeoutError, OSError) as e:
            raise ServiceUnavailable(messages.BUS_UNAVAILABLE) from e
        return DeadLetterPage(items=[DeadLetterOut.model_validate(d.summary()) for d in page],
                              next_cursor=encode_cursor({"after": last}) if last is not None else None)

    @router.get("/{sequence}", response_model=DeadLetterAction, summary="One dead letter", dependencies=[needs_scope("ops:read")],
                responses=_DEAD_LETTER_ERRORS)
    async def read_dead_letter(request: Request, _: OpsAdmin, sequence: DeadLetterSequence) -> DeadLetterAction:
        return await act(request, sequence, "read")

    @router.post("/{sequence}/replay", response_model=DeadLetterAction, dependencies=[needs_scope("ops:write")],
                 summary="Publish the message again on its original subject (after the fix) and remove the dead letter",
                 responses={**_DEAD_LETTER_ERRORS, 409: {"description": "Not a readable event: discard it",
                                                         "content": {PROBLEM_MEDIA_TYPE: {}}}})
    async def replay_dead_letter(request: Request, _: OpsAdmin, sequence: DeadLetterSequence) -> DeadLetterAction:
        return await act(request, sequence, "replayed")

    @router.delete("/{sequence}", response_model=DeadLetterAction, summary="Discard a dead letter for good",
                   dependencies=[needs_scope("ops:write")],
                   responses=_DEAD_LETTER_ERRORS)
    async def discard_dead_letter(request: Request, _: OpsAdmin, sequence: DeadLetterSequence) -> DeadLetterAction:
        return await act(request, sequence, "discarded")

    return router
