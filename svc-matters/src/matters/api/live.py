"""HTTP routes of live status (实时状态): Server-Sent Events of applications' status changes.

Registered before ``applications.router`` so that ``/v1/applications/stream`` is not taken for an
application id by ``/v1/applications/{application_id}``.
"""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from kit.auth import CurrentPrincipal, needs_scope
from kit.db import DatabaseDep
from kit.errors import PROBLEM_RESPONSES
from matters.api.deps import ApplicationId, LiveHubDep
from matters.service import live
from matters.service.live import LiveStream

router = APIRouter(tags=["applications"], responses={k: v for k, v in PROBLEM_RESPONSES.items() if k in (400, 401, 503)})

# Sent first: how long an EventSource waits before it reconnects (with Last-Event-ID) after a drop.
RETRY_MS = 2000

SSE_DESCRIPTION = (
    "Server-Sent Events. Each status change is `id: <timeline step id>`, `event: status`, `data:` JSON with "
    "`application_id`, `matter_code`, `from_status`, `to_status`, `stage`, `action`, `reason`, `occurred_at`. "
    "A comment line every 15 s keeps the connection open. `event: resync` ends the stream (the client was too "
    "slow, the service lost the bus for a moment, or the token expired): reconnect with `Last-Event-ID` (or "
    "`?after=`) set to the last id received, and the steps after it are replayed before the live ones, each once. "
    "A front-end that has just loaded an application passes its `last_step.id` as `after`, so no step between "
    "the two requests is missed."
)
SSE_RESPONSES: dict[int | str, dict[str, Any]] = {
    # Before OpenAPI 3.2 (``itemSchema``) the schema of an event stream describes one event.
    200: {"description": "The event stream: `status` events (data: the step as JSON, id: its timeline step id), "
                         "`resync` when the client must reload, and heartbeat comments",
          "content": {"text/event-stream": {"schema": {
              "type": "object",
              "properties": {"event": {"type": "string", "enum": ["status", "resync"]},
                             "data": {"type": "string", "contentMediaType": "application/json"},
                             "id": {"type": "string", "pattern": "^[0-9]+$"},
                             "retry": {"type": "integer"}}}}}},
}

After = Annotated[int | None, Query(ge=0, le=2**63 - 1, description="Replay the steps after this timeline step id")]
LastEventId = Annotated[str | None, Header(alias="Last-Event-ID", max_length=32, pattern=r"^[0-9]*$",
                                           description="Set by EventSource on reconnect; wins over `after`")]


def _resume_point(after: int | None, last_event_id: str | None) -> int | None:
    # The header's pattern admits digits only (anything else is refused as invalid input, 422).
    return int(last_event_id) if last_event_id else after


def _frame(event: str, data: dict[str, Any], event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


async def _sse(stream: LiveStream) -> AsyncIterator[bytes]:
    yield f"retry: {RETRY_MS}\n\n".encode()
    async for item in stream.items():
        if isinstance(item, live.StatusEvent):
            yield _frame("status", item.data(), item.step_id)
        elif isinstance(item, live.Heartbeat):
            yield b": heartbeat\n\n"
        else:
            yield _frame("resync", {"reason": item.reason})


def _response(stream: LiveStream) -> StreamingResponse:
    # No caching and no proxy buffering, or events would arrive in bursts; the background task
    # releases the listener even when the body was never iterated.
    return StreamingResponse(_sse(stream), media_type="text/event-stream", background=BackgroundTask(stream.close),
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/v1/applications/stream", dependencies=[needs_scope("applications:read")],
            summary="Live status of every application the caller may see (SSE)",
            description=SSE_DESCRIPTION, response_class=StreamingResponse, responses=SSE_RESPONSES)
async def stream_all(database: DatabaseDep, hub: LiveHubDep, principal: CurrentPrincipal, after: After = None,
                     last_event_id: LastEventId = None) -> StreamingResponse:
    stream = await live.open_audience_stream(database, hub, principal,
                                             after=_resume_point(after, last_event_id))
    return _response(stream)


@router.get("/v1/applications/{application_id}/stream", dependencies=[needs_scope("applications:read")],
            summary="Live status of one application (SSE)",
            description=SSE_DESCRIPTION, response_class=StreamingResponse,
            responses={**SSE_RESPONSES, 404: PROBLEM_RESPONSES[404]})
async def stream_one(database: DatabaseDep, hub: LiveHubDep, principal: CurrentPrincipal, application_id: ApplicationId,
                     after: After = None,
                     last_event_id: LastEventId = None) -> StreamingResponse:
    stream = await live.open_application_stream(database, hub, principal, application_id,
                                                after=_resume_point(after, last_event_id))
    return _response(stream)
