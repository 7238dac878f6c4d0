"""``Idempotency-Key`` for creating POSTs: the first response is stored with the key in the same
transaction as the effect, and a replay of the same request gets that response again.

A key reused with a different request body is refused (422), following the IETF
``Idempotency-Key`` header draft. Keys are scoped by caller, so two callers never collide.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Header
from pydantic import BaseModel
from sqlalchemy import Column, DateTime, Integer, PrimaryKeyConstraint, String, Table, func, select
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from kit import messages
from kit.db import Database, platform_metadata
from kit.errors import IdempotencyKeyReused, ValidationFailed

MAX_KEY_LENGTH = 255

ResultT = TypeVar("ResultT", bound=BaseModel)

idempotency_keys = Table(
    "idempotency_keys",
    platform_metadata,
    Column("scope", String(255), nullable=False),
    Column("key", String(MAX_KEY_LENGTH), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("scope", "key"),
)


def fingerprint(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def check_key(key: str | None) -> str | None:
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationFailed(messages.IDEMPOTENCY_KEY_MALFORMED)
    return key


async def replay(session: AsyncSession, scope: str, key: str, request_fingerprint: str) -> tuple[int, Any] | None:
    """The stored response for (scope, key), or None when the key is new."""
    row = (await session.execute(
        select(idempotency_keys.c.fingerprint, idempotency_keys.c.status_code, idempotency_keys.c.response)
        .where(idempotency_keys.c.scope == scope, idempotency_keys.c.key == key)
    )).first()
    if row is None:
        return None
    if row.fingerprint != request_fingerprint:
        raise IdempotencyKeyReused(messages.IDEMPOTENCY_KEY_REUSED)
    return row.status_code, row.response


async def record(session: AsyncSession, scope: str, key: str, request_fingerprint: str, status_code: int,
                 response: Any) -> bool:
    """Store the response in the caller's transaction; False when a concurrent request stored one first."""
    result = await session.execute(
        insert(idempotency_keys)
        .values(scope=scope, key=key, fingerprint=request_fingerprint, status_code=status_code, response=response)
        .on_conflict_do_nothing()
        .returning(idempotency_keys.c.key)
    )
    return result.first() is not None


class _LostRace(Exception):
    pass


IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=MAX_KEY_LENGTH,
                                              description="Repeat a request safely: same key, same result")]
"""The ``Idempotency-Key`` header of a creating POST (routes: ``idempotency_key: IdempotencyKey = None``)."""

CREATED = 201


async def create_once(database: Database, scope: str, key: str | None, request: Any,
                      create: Callable[[AsyncSession], Awaitable[ResultT]], result: type[ResultT], *,
                      one_write: bool = False) -> ResultT:
    """Run ``create`` in one transaction, honouring ``Idempotency-Key``, and return what it created.

    ``request`` is what makes two requests the same (usually the body; unused without a key); ``result``
    the type of what ``create`` returns, so that a replay answers the same type. A repeated key with the
    same request replays the stored result; with a different request it is refused; when two requests
    with the same key race, the loser's work is rolled back and it answers the winner's result.

    ``one_write``: ``create`` writes with one statement at most, so without a key it runs without a
    transaction (``Database.one_write``: no BEGIN, no COMMIT); with a key the response is stored with
    the effect, in one transaction, as always.
    """
    key = check_key(key)
    if not key and one_write:
        async with database.one_write() as session:
            return await create(session)
    request_fingerprint = fingerprint(request) if key else ""  # what a key is checked against; none without one
    try:
        async with database.transaction() as session:
            if key:
                stored = await replay(session, scope, key, request_fingerprint)
                if stored:
                    return result.model_validate(stored[1])
            created = await create(session)
            if key and not await record(session, scope, key, request_fingerprint, CREATED,
                                        created.model_dump(mode="json", by_alias=True)):
                raise _LostRace
            return created
    except _LostRace:
        async with database.session() as session:
            stored = await replay(session, scope, key or "", request_fingerprint)
            assert stored is not None
            return result.model_validate(stored[1])

