"""Routes of the inbox (站内信): list, unread count, mark read, deliveries, live stream, preferences."""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from kit.auth import CurrentPrincipal, needs_scope
from kit.db import DatabaseDep, SessionDep
from kit.pagination import CursorQuery, LimitQuery, Page
from notifications.api.deps import ERROR_RESPONSES, English, HubDep, NotificationId
from notifications.schemas import (
    DeliveryView,
    MarkedRead,
    NotificationView,
    Preferences,
    PreferencesUpdate,
    UnreadCount,
)
from notifications.service import inbox, live

router = APIRouter(tags=["notifications"], responses=ERROR_RESPONSES)

RETRY_MS = 2000
SSE_DESCRIPTION = (
    "Server-Sent Events. Each new notification is `id: <notification id>`, `event: notification`, `data:` the "
    "notification as JSON (as in the list). A comment line every 15 s keeps the connection open; `event: end` "
    "closes it when the token expires. Reconnect with `Last-Event-ID` (or `?after=`) set to the last id received: "
    "the notifications after it are sent first, each once. Without either, only notifications created from now on.")
SSE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The event stream", "content": {"text/event-stream": {"schema": {
        "type": "object", "properties": {"event": {"type": "string", "enum": ["notification", "end"]},
                                         "data": {"type": "string", "contentMediaType": "application/json"},
                                         "id": {"type": "string", "pattern": "^[0-9]+$"}}}}}}}
After = Annotated[int | None, Query(ge=0, le=2**63 - 1, description="Send the notifications after this id first")]
LastEventId = Annotated[str | None, Header(alias="Last-Event-ID", max_length=19, pattern=r"^[0-9]*$",
                                           description="Set by EventSource on reconnect; wins over `after`")]


@router.get("/v1/notifications", dependencies=[needs_scope("notifications:read")],
            summary="My notifications, newest first (a company account: the company's too)")
async def list_notifications(session: SessionDep, principal: CurrentPrincipal, is_english: English,
                             limit: LimitQuery = 20, cursor: CursorQuery = None,
                             unread: Annotated[bool | None, Query(description="Only unread (true) or read (false)")] = None,
                             ) -> Page[NotificationView]:
    return await inbox.list_notifications(session, principal, limit=limit, cursor=cursor, unread=unread,
                                          english=is_english)


@router.get("/v1/notifications/unread-count", dependencies=[needs_scope("notifications:read")],
            summary="How many of my notifications are unread")
async def unread_count(session: SessionDep, principal: CurrentPrincipal) -> UnreadCount:
    return UnreadCount(unread=await inbox.unread_count(session, principal))


@router.post("/v1/notifications/read-all", dependencies=[needs_scope("notifications:write")],
             summary="Mark all my notifications read")
async def read_all(database: DatabaseDep, principal: CurrentPrincipal) -> MarkedRead:
    return MarkedRead(marked=await inbox.mark_all_read(database, principal))


def _frame(event: str, data: dict[str, Any], event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: ".encode() + orjson.dumps(data) + b"\n\n"


async def _sse(stream: live.NotificationStream, is_english: bool) -> AsyncIterator[bytes]:
    yield f"retry: {RETRY_MS}\n\n".encode()
    async for item in stream.items():
        if isinstance(item, live.Heartbeat):
            yield b": heartbeat\n\n"
        elif isinstance(item, live.Ended):
            yield _frame("end", {"reason": item.reason})
        else:
            yield _frame("notification", inbox.view(item, is_english).model_dump(mode="json"), item.id)


@router.get("/v1/notifications/stream", dependencies=[needs_scope("notifications:read")],
            summary="My new notifications, live (SSE)", description=SSE_DESCRIPTION,
            response_class=StreamingResponse, responses=SSE_RESPONSES)
async def stream(database: DatabaseDep, hub: HubDep, principal: CurrentPrincipal, is_english: English,
                 after: After = None, last_event_id: LastEventId = None) -> StreamingResponse:
    keys = inbox.inbox_keys(principal)
    opened = live.NotificationStream(database, hub, principal, keys,
                                     int(last_event_id) if last_event_id else after)
    return StreamingResponse(_sse(opened, is_english), media_type="text/event-stream",
                             background=BackgroundTask(opened.close),
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/v1/notifications/preferences", dependencies=[needs_scope("notifications:read")],
            summary="My contacts (masked) and which channels I want for each kind")
async def get_preferences(session: SessionDep, principal: CurrentPrincipal) -> Preferences:
    return await inbox.preferences(session, principal)


@router.put("/v1/notifications/preferences", dependencies=[needs_scope("notifications:write")],
            summary="Set my e-mail, mobile number and channels per kind (members left out stay as they are)")
async def put_preferences(database: DatabaseDep, principal: CurrentPrincipal, body: PreferencesUpdate) -> Preferences:
    return await inbox.update_preferences(database, principal, body)


@router.post("/v1/notifications/{notification_id}/read", dependencies=[needs_scope("notifications:write")],
             summary="Mark one of my notifications read")
async def read_one(database: DatabaseDep, principal: CurrentPrincipal, notification_id: NotificationId,
                   is_english: English) -> NotificationView:
    return await inbox.mark_read(database, principal, notification_id, is_english)


@router.get("/v1/notifications/{notification_id}/deliveries", dependencies=[needs_scope("notifications:read")],
            summary="How one of my notifications went out on each outside channel")
async def deliveries(session: SessionDep, principal: CurrentPrincipal, notification_id: NotificationId,
                     ) -> list[DeliveryView]:
    return await inbox.deliveries(session, principal, notification_id)
