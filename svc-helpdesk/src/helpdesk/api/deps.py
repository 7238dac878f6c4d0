"""What the routes share: typed callers, the settings, the Idempotency-Key header."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from kit.auth import Principal, Role, require_roles
from kit.errors import PROBLEM_RESPONSES

# Every route may answer these as problem+json (bad input is 422, a forged cursor 400, …): documented
# on every operation, so clients and the merged OpenAPI know the error body.
ERROR_RESPONSES = {status: PROBLEM_RESPONSES[status] for status in (400, 401, 403, 404, 409, 422, 503)}

Agent = Annotated[Principal, Depends(require_roles(Role.HELPDESK_AGENT))]
Ops = Annotated[Principal, Depends(require_roles(Role.OPS_ADMIN))]
Staff = Annotated[Principal, Depends(require_roles(Role.HELPDESK_AGENT, Role.OPS_ADMIN, Role.INSPECTOR))]
HallStaff = Annotated[Principal, Depends(require_roles(Role.WINDOW_OFFICER, Role.OPS_ADMIN))]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255,
                                              description="Repeat a request safely: same key, same result")]


def settings(request: Request):  # noqa: ANN201 - the service's Settings
    return request.app.state.runtime.settings


def database(request: Request):  # noqa: ANN201
    return request.app.state.database
