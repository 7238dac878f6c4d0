"""What the routes share: typed callers, the service's settings, the documented error answers."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path

from booking.settings import Settings
from kit.app import settings_dependency
from kit.auth import Principal, Role, require_roles
from kit.errors import PROBLEM_RESPONSES

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: PROBLEM_RESPONSES[status] for status in (400, 401, 403, 404, 409, 422, 503)}

# A person signed in with our login (the family's own bookings).
PERSON = Depends(require_roles(Role.APPLICANT))
Person = Annotated[Principal, PERSON]
# A partner province's system (client credentials), booking on a person's behalf.
PARTNER = Depends(require_roles(Role.PARTNER))
Partner = Annotated[Principal, PARTNER]
GateStaff = Annotated[Principal, Depends(require_roles(Role.VENUE_STAFF, Role.OPS_ADMIN))]
ReportReader = Annotated[Principal, Depends(require_roles(Role.VENUE_STAFF, Role.OPS_ADMIN, Role.INSPECTOR))]
Ops = Annotated[Principal, Depends(require_roles(Role.OPS_ADMIN))]
SettingsDep = Annotated[Settings, Depends(settings_dependency(Settings))]
Id = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
SlotStart = Annotated[str, Path(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
