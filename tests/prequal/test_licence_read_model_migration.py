"""Revision 0012 of svc-prequal brings its ``known_licences`` to the one read model of licences
(``kit.licence_read_model``) and keeps the rows already there: each a first version, a revocation
once recorded in ``revoked_at`` becoming the status ``revoked`` at that moment; and back."""
from __future__ import annotations

import asyncio
import datetime as dt
import os

import asyncpg
from alembic import command
from sqlalchemy.engine import make_url

from kit.migrations import alembic_config, upgrade
from prequal.settings import Settings
from support import drop_databases

PREFIX = os.environ.get("LVRONG_TEST_DATABASE_PREFIX", "lvrong_itest") + "_lrm"
BEFORE = "0011_verdict_department"
REVOKED_AT = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)


async def test_the_rows_already_there_are_kept(servers) -> None:
    settings = Settings(database_url=servers.database_url, database_name_prefix=PREFIX)
    await drop_databases(servers.database_url, [settings.database_name])
    url = make_url(servers.database_url)

    async def sql(query: str, *args: object) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username or "postgres",
                                     password=url.password, database=settings.database_name)
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()

    try:
        await asyncio.to_thread(upgrade, "prequal", settings, BEFORE)
        await sql("INSERT INTO known_licences (licence_id, licence_number, licence_type, application_id, holder_subject, "
                  "issued_at, valid_until, revoked_at) VALUES ('in-force', 'N1', 'T', 'a1', 'u1', now(), $1, NULL), "
                  "('revoked', 'N2', 'T', 'a2', 'u2', now(), NULL, $2)", REVOKED_AT + dt.timedelta(days=365), REVOKED_AT)
        await asyncio.to_thread(upgrade, "prequal", settings)
        rows = {r["licence_id"]: dict(r) for r in await sql(
            "SELECT licence_id, licence_number, version, status, status_at, valid_until FROM known_licences")}
        assert rows["in-force"] == {"licence_id": "in-force", "licence_number": "N1", "version": 1, "status": "active",
                                    "status_at": None, "valid_until": REVOKED_AT + dt.timedelta(days=365)}
        assert (rows["revoked"]["version"], rows["revoked"]["status"], rows["revoked"]["status_at"]) == (
            1, "revoked", REVOKED_AT)

        config = alembic_config("prequal", settings.service_database_url)
        await asyncio.to_thread(command.downgrade, config, BEFORE)
        back = {r["licence_id"]: r["revoked_at"] for r in await sql("SELECT licence_id, revoked_at FROM known_licences")}
        assert back == {"in-force": None, "revoked": REVOKED_AT}
    finally:
        await drop_databases(servers.database_url, [settings.database_name])
