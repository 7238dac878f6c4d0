"""What the routes share: the service's settings, the live hub, the documented error answers."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Path

from kit.app import settings_dependency, state_dependency
from kit.errors import PROBLEM_RESPONSES
from kit.i18n import prefers_english
from notifications.service.live import NotificationHub
from notifications.settings import Settings

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: PROBLEM_RESPONSES[status] for status in (400, 401, 403, 404, 422, 503)}

SettingsDep = Annotated[Settings, Depends(settings_dependency(Settings))]
HubDep = Annotated[NotificationHub, Depends(state_dependency("notification_hub", NotificationHub))]
NotificationId = Annotated[int, Path(ge=1, le=2**63 - 1)]


async def english(accept_language: Annotated[str | None, Header(include_in_schema=False)] = None) -> bool:
    return prefers_english(accept_language)


English = Annotated[bool, Depends(english)]
