"""A PostgreSQL that refuses a new connection (too many clients; the server starting up or shutting
down) makes a request fail cleanly with 503 problem+json and ``Retry-After``, never a 500.

The refusal is a real one: a role whose connection limit is reached (SQLSTATE 53300, the same class
as the server's "sorry, too many clients already").
"""
from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url

from kit.db import Database
from kit.devstack import LocalPostgres
from kit.errors import install_problem_handlers
from support import _admin


@pytest.fixture
async def refused_database(own_postgres: LocalPostgres) -> AsyncIterator[Database]:
    role = f"lvrong_refused_{uuid.uuid4().hex[:8]}"
    admin = await _admin(own_postgres.url)
    await admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'refused' CONNECTION LIMIT 0")
    url = make_url(own_postgres.url).set(drivername="postgresql+asyncpg", username=role, password="refused",
                                             database="postgres")
    database = Database(url.render_as_string(hide_password=False), pool_size=1)
    try:
        yield database
    finally:
        await database.dispose()
        await admin.execute(f"DROP ROLE IF EXISTS {role}")
        await admin.close()


async def test_a_refused_connection_answers_503_problem_json(refused_database: Database) -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/count")
    async def count() -> dict[str, int]:
        async with refused_database.session() as session:
            return {"n": (await session.execute(text("SELECT 1"))).scalar_one()}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                                 base_url="http://test") as client:
        r = await client.get("/count")
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json") and r.headers["retry-after"] == "5"
    body = r.json()
    assert body["status"] == 503 and body["title_zh"] and body["title_en"]
    assert "Traceback" not in r.text and "too many" not in r.text  # nothing of the server's message leaks
