"""What the capabilities share: ids, the time, who may see which department's work, a missing input."""
from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

# Who may see which department's work is the platform's rule (kit.auth), re-exported for the capabilities.
from helpdesk import messages
from kit.auth import BUREAU as BUREAU
from kit.auth import sees_every_department as sees_every_department
from kit.auth import staff_of as staff_of
from kit.errors import FieldError, ValidationFailed
from kit.pagination import Page, newest_first_cursor

R = TypeVar("R")
T = TypeVar("T")


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


def missing(field: str) -> ValidationFailed:
    """422 for an input an action needs and the body lacks."""
    return ValidationFailed(messages.FIELD_REQUIRED.format(field=field),
                            errors=[FieldError.of(field, messages.REQUIRED, "missing")])


def newest_first_page(rows: Sequence[R], limit: int, view: Callable[[R], T], at: Callable[[R], datetime],
                      row_id: Callable[[R], str]) -> Page[T]:
    """A page of ``rows`` fetched as ``limit + 1`` in (time desc, id desc) order, with the cursor after the last."""
    last = rows[limit - 1] if len(rows) > limit else None
    return Page(items=[view(r) for r in rows[:limit]],
                next_cursor=newest_first_cursor(at(last), row_id(last)) if last is not None else None)
