"""Personal form values of applications at rest (revision 0005 and ``Application.form``): stored
encrypted, read back in clear by the service, masked in views for those who may not see them, and
the applications filed before the revision encrypted by it."""
from __future__ import annotations

import asyncio
import json
import os
import uuid
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import select, text

from kit.auth import Principal, SubjectKind
from kit.migrations import alembic_config, upgrade
from matters.models import Application
from matters.service.applications import application_view, sees_personal_data
from matters.settings import Settings
from support import drop_databases, scratch_service_database

PREFIX = os.environ.get("LVRONG_TEST_DATABASE_PREFIX", "lvrong_itest") + "_unit_protect"
PERSONAL = {"applicant_id_number": "310115198506120014", "contact_mobile": "13912345678", "contact_name": "张三丰"}
FORM = {"applicant_type": "individual", "species_name": "大熊猫", "quantity": 2, **PERSONAL}


def application(form: dict, department: str = "市绿化市容局许可处", subject: str = "u-owner") -> Application:
    now = datetime.now(UTC)
    return Application(id=uuid.uuid4().hex, matter_code="LR-XK-003", matter_version=1, matter_kind="licence",
                       department=department, origin="application", applicant_subject=subject, applicant_kind="person",
                       form=form, materials={}, status="submitted", attempt=1, exempted_materials=0,
                       clock_warned_percent=0, created_at=now, updated_at=now, status_since=now)


def staff(role: str, department: str | None = "市绿化市容局") -> Principal:
    return Principal(subject=f"u-{role}", kind=SubjectKind.STAFF, roles=frozenset({role}), department=department)


@pytest.fixture(scope="module")
async def database(servers):
    async with scratch_service_database(servers.database_url, "matters", PREFIX) as db:
        yield db


async def test_personal_values_are_encrypted_in_the_table_and_clear_in_the_service(database) -> None:
    app = application(FORM)
    async with database.transaction() as session:
        session.add(app)
    async with database.session() as session:
        raw = (await session.execute(text("SELECT form::text FROM applications WHERE id = :id"), {"id": app.id})).scalar()
        stored = json.loads(raw)
        read = await session.scalar(select(Application).where(Application.id == app.id))
    for key, value in PERSONAL.items():
        assert value not in raw and stored[key]["$protected"].startswith("pd1.")
    assert stored["species_name"] == "大熊猫" and stored["quantity"] == 2  # the rest stays queryable in clear
    assert read.form == FORM


@pytest.mark.parametrize(("principal", "revealed"), [
    (Principal(subject="u-owner", kind=SubjectKind.PERSON, roles=frozenset({"applicant"})), True),
    (staff("window_officer"), True),
    (staff("reviewer", "市绿化市容局许可处"), True),
    (staff("reviewer", "市林业总站"), False),  # another department's reviewer (who cannot read it anyway)
    (staff("ops_admin"), False),
    (staff("inspector"), False),
    (staff("helpdesk_agent"), False),
])
async def test_who_sees_personal_data(database, principal: Principal, revealed: bool) -> None:
    app = application(FORM)
    async with database.session() as session:
        reveal = await sees_personal_data(session, app, principal)
    assert reveal is revealed
    form = application_view(app, principal=principal, reveal=reveal).form
    if revealed:
        assert form == FORM
    else:
        assert form == {**FORM, "applicant_id_number": "310***********0014", "contact_mobile": "139****5678",
                        "contact_name": "张**"}


async def test_revision_0005_encrypts_the_applications_filed_before_it(servers) -> None:
    settings = Settings(database_url=servers.database_url, database_name_prefix=PREFIX + "_rev")
    await drop_databases(servers.database_url, [settings.database_name])
    try:
        await asyncio.to_thread(upgrade, "matters", settings, "0004")
        import asyncpg
        from sqlalchemy.engine import make_url
        url = make_url(servers.database_url)
        conn = await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username or "postgres",
                                     password=url.password, database=settings.database_name)
        try:
            app_id = uuid.uuid4().hex
            await conn.execute(
                "INSERT INTO applications (id, matter_code, matter_version, applicant_subject, applicant_kind, form, "
                "materials, department, matter_kind, origin, exempted_materials, status, attempt, clock_warned_percent) "
                "VALUES ($1, 'LR-XK-003', 1, 'u-old', 'person', $2::jsonb, '{}'::jsonb, 'd', 'licence', 'application', "
                "0, 'submitted', 1, 0)", app_id, json.dumps(FORM, ensure_ascii=False))
            await asyncio.to_thread(upgrade, "matters", settings)
            raw = await conn.fetchval("SELECT form::text FROM applications WHERE id = $1", app_id)
            assert not any(v in raw for v in PERSONAL.values()) and "大熊猫" in raw
            assert await conn.fetchval("SELECT count(*) FROM audit_log") == 0
            await asyncio.to_thread(command.downgrade, alembic_config("matters", settings.service_database_url), "0004")
            assert json.loads(await conn.fetchval("SELECT form::text FROM applications WHERE id = $1", app_id)) == FORM
        finally:
            await conn.close()
    finally:
        await drop_databases(servers.database_url, [settings.database_name])
