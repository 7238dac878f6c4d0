"""Who reads a pre-review verdict (``prequal.service.prereview.verdicts_for``) on a real database: the applicant
their own, staff their department's (the bureau, ops and inspectors every department's), each staff
read audited once; a verdict given before submissions carried the department learns it from the
application's next status change, and until then only all-department staff read it."""
from __future__ import annotations

import datetime as dt
import os
import uuid

import pytest
from sqlalchemy import func, select

from kit.audit import audit_log
from kit.auth import Principal, SubjectKind
from kit.contracts import ApplicationStatusChanged
from kit.db import Database
from kit.errors import NotFound
from prequal.models import Verdict
from prequal.service import compare
from prequal.service import prereview as service
from support import scratch_service_database

PREFIX = os.environ.get("LVRONG_TEST_DATABASE_PREFIX", "lvrong_itest") + "_vscope"
LICENSING = "市绿化市容局许可处"


def staff(subject: str, department: str | None, role: str = "helpdesk_agent") -> Principal:
    return Principal(subject=subject, kind=SubjectKind.STAFF, roles=frozenset({role}), department=department)


APPLICANT = Principal(subject="u-applicant", kind=SubjectKind.PERSON, roles=frozenset({"applicant"}))
LICENSING_AGENT = staff("u-agent-licensing", LICENSING)
FORESTRY_AGENT = staff("u-agent-forestry", "市林业总站")
BUREAU_OFFICER = staff("u-officer", "市绿化市容局", "window_officer")
INSPECTOR = staff("u-inspector", None, "inspector")


@pytest.fixture(scope="module")
async def database(servers):
    async with scratch_service_database(servers.database_url, "prequal", PREFIX) as db:
        yield db


async def verdict(db: Database, department: str | None) -> str:
    app_id = uuid.uuid4().hex
    async with db.transaction() as session:
        session.add(Verdict(id=uuid.uuid4().hex, application_id=app_id, attempt=1, matter_code="LR-XK-008",
                            matter_version=1, applicant_subject=APPLICANT.subject, department=department,
                            verdict="passed", findings=[], ruleset="LR-XK-008@v1", results=[],
                            submitted_at=dt.datetime.now(dt.UTC)))
    return app_id


async def read(db: Database, principal: Principal, app_id: str) -> bool:
    try:
        await service.verdicts_for(db, principal, app_id)
    except NotFound:
        return False
    return True


async def audited(db: Database, app_id: str) -> list[str]:
    async with db.session() as session:
        return list((await session.scalars(select(audit_log.c.actor_subject).where(
            audit_log.c.action == "prereview.read", audit_log.c.resource_id == app_id)
            .order_by(audit_log.c.position))).all())


async def test_staff_read_their_departments_verdicts_and_each_read_is_audited(database: Database) -> None:
    app_id = await verdict(database, LICENSING)
    assert await read(database, APPLICANT, app_id)
    assert not await read(database, FORESTRY_AGENT, app_id)
    assert not await read(database, Principal(subject="u-other", kind=SubjectKind.PERSON,
                                              roles=frozenset({"applicant"})), app_id)
    assert await audited(database, app_id) == []
    for reader in (LICENSING_AGENT, BUREAU_OFFICER, INSPECTOR):
        assert await read(database, reader, app_id)
    assert await audited(database, app_id) == [p.subject for p in (LICENSING_AGENT, BUREAU_OFFICER, INSPECTOR)]


async def test_an_older_verdict_learns_its_department_from_the_next_status_change(database: Database) -> None:
    app_id = await verdict(database, None)
    assert not await read(database, LICENSING_AGENT, app_id)  # not known yet: only all-department staff
    assert await read(database, BUREAU_OFFICER, app_id)

    async def status_changed(department: str | None) -> None:
        event = ApplicationStatusChanged(application_id=app_id, matter_code="LR-XK-008",
                                         applicant_subject=APPLICANT.subject, department=department,
                                         from_status="prereviewed", to_status="accepted", actor="u-officer",
                                         occurred_at=dt.datetime.now(dt.UTC)).envelope(subject=app_id)
        async with database.transaction() as session:
            await compare.on_status_changed(session, event)

    await status_changed(LICENSING)
    assert await read(database, LICENSING_AGENT, app_id)
    assert not await read(database, FORESTRY_AGENT, app_id)
    await status_changed("市林业总站")  # a department once known is not overwritten by an event
    async with database.session() as session:
        departments = (await session.scalars(select(Verdict.department).where(Verdict.application_id == app_id))).all()
        count = await session.scalar(select(func.count()).select_from(Verdict).where(Verdict.application_id == app_id))
    assert departments == [LICENSING] and count == 1
