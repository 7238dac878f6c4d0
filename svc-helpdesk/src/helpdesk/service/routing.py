"""Which department's professional staff answer for a matter.

svc-matters owns the catalogue (事项), so its department is asked for over HTTP (``GET
/v1/matters/{code}`` through the gateway, with the caller's own token) and kept in a process-wide
cache: a matter's department changes with a new catalogue version, rarely. Without an answer
(an anonymous hand-over of a matter not seen yet, svc-matters away) the bureau's own desk takes
the ticket: bureau-wide agents serve every department, so nobody is left unanswered.
"""
from __future__ import annotations

import httpx
import structlog

from helpdesk import messages
from helpdesk.service.common import BUREAU
from kit.errors import FieldError, ValidationFailed
from kit.http import call_service

log = structlog.get_logger("helpdesk.routing")

_departments: dict[str, str] = {}


def known_department(matter_code: str | None) -> str | None:
    return _departments.get(matter_code) if matter_code else None


def remember(matter_code: str, department: str) -> None:
    _departments[matter_code] = department


async def department_for(matter_code: str | None, *, matters_url: str, authorization: str | None) -> str:
    if not matter_code:
        return BUREAU
    cached = _departments.get(matter_code)
    if cached:
        return cached
    if authorization:
        try:
            response = await call_service("GET", matters_url, f"/v1/matters/{matter_code}", authorization=authorization,
                                          timeout_seconds=3)
            if response.status_code == 200 and response.json().get("department"):
                remember(matter_code, response.json()["department"])
                return _departments[matter_code]
            if response.status_code == 404:
                raise ValidationFailed(messages.MATTER_NOT_FOUND, errors=[
                    FieldError.of("matter_code", messages.MATTER_NOT_FOUND, "unknown_matter")])
            log.info("matter_department_unknown", matter_code=matter_code, status=response.status_code)
        except httpx.HTTPError as e:
            log.warning("matters_unreachable", error=type(e).__name__)
    return BUREAU
