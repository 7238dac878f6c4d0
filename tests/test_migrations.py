"""Every service's migrations: up from nothing, down to nothing and up again, and the models agree
with the schema the migrations build (``alembic check``), on the configured PostgreSQL."""
from __future__ import annotations

import asyncio
import importlib

import pytest
from alembic import command

from kit.migrations import SERVICES, alembic_config, upgrade
from support import drop_databases


@pytest.mark.parametrize("service", SERVICES)
async def test_migrations_round_trip_and_match_the_models(servers, service: str) -> None:
    settings = importlib.import_module(f"{service}.app").Settings(database_url=servers.database_url,
                                                                  database_name_prefix="lvrong_migtest")
    await drop_databases(servers.database_url, [settings.database_name])

    def round_trip() -> None:
        upgrade(service, settings)
        config = alembic_config(service, settings.service_database_url)
        command.check(config)
        command.downgrade(config, "base")
        command.upgrade(config, "head")
        command.check(config)

    await asyncio.to_thread(round_trip)
    await drop_databases(servers.database_url, [settings.database_name])
