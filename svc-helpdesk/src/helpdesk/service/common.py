"""What the capabilities share: ids, the time, who may see which department's work."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime

from kit.auth import Principal, Role

# Staff of the bureau itself (not one of its offices) act for every department.
BUREAU = "市绿化市容局"


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


def sees_every_department(principal: Principal) -> bool:
    return principal.has_role(Role.OPS_ADMIN, Role.INSPECTOR) or (
        principal.is_staff and principal.department in (None, BUREAU))


def staff_of(principal: Principal, department: str) -> bool:
    """Whether a staff member may see and act on the work of ``department``."""
    return principal.is_staff and (sees_every_department(principal) or principal.department == department)
