"""What the routes share: typed callers, the service's settings, the documented error answers."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends

from helpdesk.settings import Settings
from kit.app import settings_dependency
from kit.auth import Principal, Role, require_roles
from kit.errors import PROBLEM_RESPONSES

# Every route may answer these as problem+json (bad input is 422, a forged cursor 400, …): documented
# on every operation, so clients and the merged OpenAPI know the error body.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: PROBLEM_RESPONSES[status] for status in (400, 401, 403, 404, 409, 422, 503)}

Agent = Annotated[Principal, Depends(require_roles(Role.HELPDESK_AGENT))]
Ops = Annotated[Principal, Depends(require_roles(Role.OPS_ADMIN))]
Staff = Annotated[Principal, Depends(require_roles(Role.HELPDESK_AGENT, Role.OPS_ADMIN, Role.INSPECTOR))]
HallStaff = Annotated[Principal, Depends(require_roles(Role.WINDOW_OFFICER, Role.OPS_ADMIN))]
SettingsDep = Annotated[Settings, Depends(settings_dependency(Settings))]
