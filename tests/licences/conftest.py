"""What svc-licences' service-level tests share: a scratch database of the service per test module (named after
the module, so two modules never share one) and an issuer with its own keys."""
from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from kit.db import Database
from kit.devstack import Servers
from licences.service.issuer import Issuer
from licences.settings import Settings
from support import scratch_service_database


@pytest.fixture(scope="module")
async def database(servers: Servers, request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    prefix = os.environ.get("LVRONG_TEST_DATABASE_PREFIX", "lvrong_itest") + getattr(request.module, "DATABASE_SUFFIX",
                                                                                      "_lic")
    async with scratch_service_database(servers.database_url, "licences", prefix) as db:
        yield db


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Issuer:
    settings = Settings(key_dir=tmp_path_factory.mktemp("keys"), status_list_size=1024)
    found = Issuer(settings=settings, url="https://lvrong.example.gov.cn", key_dir=settings.key_dir)
    found.keys.load()
    return found
