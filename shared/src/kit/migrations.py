"""Alembic migrations per service, run by ``make run`` at start and by ``lvrong-migrate`` in production.

Each service keeps its revisions in ``<package>/migrations/`` and its ``env.py`` is one call to
``run_env``. Migrations take a PostgreSQL advisory lock, so replicas starting together migrate once.
"""
from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import command, context, op
from alembic.config import Config
from sqlalchemy import MetaData, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config

from kit.db import asyncpg_tls, ensure_database, platform_metadata
from kit.settings import ServiceSettings

SERVICES = ("gateway", "matters", "prequal", "licences", "helpdesk", "knowledge", "notifications", "booking")
_LOCK_ID = 0x6C76726F6E67  # "lvrong"


def rewrite_column(table: str, key_columns: list[str], column: str, transform: Any, *, jsonb: bool = True,
                   batch: int = 1000) -> None:
    """In a migration: apply ``transform`` to ``column`` of every row of ``table``, in key order, a batch
    at a time, writing back only what changed (for data migrations such as encrypting values in place)."""
    bind = op.get_bind()
    keys = ", ".join(key_columns)
    where = " AND ".join(f"{k} = :k{i}" for i, k in enumerate(key_columns))
    last: tuple[Any, ...] | None = None
    while True:
        after = f"WHERE ({keys}) > ({', '.join(':k' + str(i) for i in range(len(key_columns)))})" if last else ""
        rows = bind.execute(text(f"SELECT {keys}, {column} AS value FROM {table} {after} ORDER BY {keys} LIMIT {batch}"),
                            {f"k{i}": v for i, v in enumerate(last or ())}).all()
        if not rows:
            return
        for row in rows:
            value = json.loads(row.value) if jsonb and isinstance(row.value, str) else row.value
            new = transform(value)
            if new != value:
                bind.execute(text(f"UPDATE {table} SET {column} = {'CAST(:value AS jsonb)' if jsonb else ':value'} "
                                  f"WHERE {where}"),
                             {"value": json.dumps(new, ensure_ascii=False) if jsonb else new,
                              **{f"k{i}": v for i, v in enumerate(row[:len(key_columns)])}})
        last = tuple(rows[-1][:len(key_columns)])


def service_settings(service: str) -> ServiceSettings:
    module = importlib.import_module(f"{service}.app")
    settings: ServiceSettings = module.Settings()
    return settings


def alembic_config(service: str, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", f"{service}:migrations")
    config.attributes["database_url"] = database_url
    return config


def upgrade(service: str, settings: ServiceSettings | None = None, revision: str = "head") -> None:
    """Create the service's database if needed and bring its schema to ``revision`` (blocking)."""
    settings = settings or service_settings(service)
    asyncio.run(ensure_database(settings.admin_database_url, settings.database_name))
    command.upgrade(alembic_config(service, settings.service_database_url), revision)


def run_env(target_metadata: MetaData, *, platform_tables: bool = True, also: Sequence[MetaData] = ()) -> None:
    """The body of every service's ``migrations/env.py`` (online mode, asyncpg); ``platform_tables=False``
    for a database without the kit's tables (the gateway's rate-limit counters); ``also``: other kit
    tables the database holds (the gateway's audit checkpoints)."""
    # Imported for what they do: they register the kit's tables on platform_metadata.
    import kit.events.outbox
    import kit.idempotency  # noqa: F401 - ruff counts only the last import of the package ``kit``
    config = context.config
    url = config.attributes.get("database_url")
    if not url:
        raise RuntimeError("run migrations with `lvrong-migrate <service>`: no database URL was given to Alembic")

    def do_run(connection: Connection) -> None:
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
        # The kit's own tables are part of every service's schema: compare them too, so autogenerate
        # neither drops them nor misses a change to them.
        context.configure(connection=connection, compare_type=True,
                          target_metadata=[target_metadata, *([platform_metadata] if platform_tables else []), *also])
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        bare, tls = asyncpg_tls(url)
        engine = async_engine_from_config({"sqlalchemy.url": bare}, prefix="sqlalchemy.", poolclass=pool.NullPool,
                                          connect_args=tls)
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
            await connection.commit()
        await engine.dispose()

    asyncio.run(run_async())


def create_platform_tables() -> None:
    """Platform schema 1: the kit's own tables, created by each service's first revision."""
    from alembic import op
    from sqlalchemy.dialects.postgresql import JSONB

    op.create_table(
        "outbox",
        sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("envelope", JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("published_at", sa.DateTime(timezone=True)),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.UniqueConstraint("event_id", name=op.f("uq_outbox_event_id")),
    )
    op.create_index("ix_outbox_unpublished", "outbox", ["position"], postgresql_where=sa.text("published_at IS NULL"))
    op.create_table(
        "processed_events",
        sa.Column("consumer", sa.String(128), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(255), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("consumer", "event_id", name="pk_processed_events"),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(255), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("response", JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("scope", "key", name="pk_idempotency_keys"),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lvrong-migrate", description="Apply a service's database migrations")
    parser.add_argument("services", nargs="*", default=list(SERVICES), help=f"any of {', '.join(SERVICES)} (default: all)")
    parser.add_argument("--revision", default="head")
    args = parser.parse_args(argv)
    for service in args.services:
        if service not in SERVICES:
            parser.error(f"unknown service {service!r}")
        upgrade(service, revision=args.revision)
        print(f"{service}: migrated to {args.revision}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
