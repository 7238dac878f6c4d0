"""Cursor pagination: ``{"items": [...], "next_cursor": "..."}`` with opaque, URL-safe cursors."""
from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field
from sqlalchemy import and_, or_

from kit import messages
from kit.errors import BadRequest

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` to get the next page; null on the last page")


def encode_cursor(values: dict[str, Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), ensure_ascii=False, default=str).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        raise BadRequest(messages.CURSOR_INVALID) from None
    if not isinstance(value, dict):
        raise BadRequest(messages.CURSOR_INVALID)
    return value


LimitQuery = Annotated[int, Query(ge=1, le=100, description="Items per page")]
CursorQuery = Annotated[str | None, Query(max_length=512, description="Opaque cursor from `next_cursor`")]


def newest_first_after(cursor: str | None, time_column: Any, id_column: Any) -> Any:
    """The condition selecting rows after ``cursor`` in (time desc, id desc) order; None without a cursor."""
    after = decode_cursor(cursor)
    if not after:
        return None
    try:
        at = datetime.fromisoformat(str(after["t"]))
        last_id = str(after["id"])
    except (KeyError, ValueError):
        raise BadRequest(messages.CURSOR_INVALID) from None
    return or_(time_column < at, and_(time_column == at, id_column < last_id))


def newest_first_cursor(at: datetime, row_id: str) -> str:
    return encode_cursor({"t": at.isoformat(), "id": row_id})
