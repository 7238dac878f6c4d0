"""What the capabilities share: ids, the time, who may see which department's work."""
from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from kit.auth import Principal, Role
from kit.pagination import Page, newest_first_cursor

R = TypeVar("R")
T = TypeVar("T")

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


def newest_first_page(rows: Sequence[R], limit: int, view: Callable[[R], T], at: Callable[[R], datetime],
                      row_id: Callable[[R], str]) -> Page[T]:
    """A page of ``rows`` fetched as ``limit + 1`` in (time desc, id desc) order, with the cursor after the last."""
    last = rows[limit - 1] if len(rows) > limit else None
    return Page(items=[view(r) for r in rows[:limit]],
                next_cursor=newest_first_cursor(at(last), row_id(last)) if last is not None else None)
