"""一人（企）一码 in svc-licences' service layer: a code's lifetime under a frozen clock, the rotation, the consent,
and the read model of applications that a scan lists (late and redelivered events never bring back an older
status)."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest
import time_machine
from sqlalchemy import select

from kit.auth import Principal, Role, SubjectKind
from kit.contracts import ApplicantRef, ApplicationStatusChanged, ApplicationSubmitted, MatterRequirements
from kit.db import Database
from kit.errors import Conflict, ValidationFailed
from kit.events.envelope import CloudEvent
from licences.models import HolderApplication, HolderCodeScan
from licences.schemas import HolderCodeCreate
from licences.service import catalogue, issuance, onecode
from licences.service.issuer import Issuer

DATABASE_SUFFIX = "_onecode"  # this module's scratch database (tests/licences/conftest.py)
T0 = dt.datetime(2026, 12, 7, 2, 0, tzinfo=dt.UTC)

HOLDER = Principal(subject="u-company-21", kind=SubjectKind.COMPANY, roles=frozenset({Role.APPLICANT}),
                   name="上海测试绿化有限公司", org_code="91310115MA1H7GXQ3E")
INSPECTOR = Principal(subject="u-inspector-21", kind=SubjectKind.STAFF, roles=frozenset({Role.INSPECTOR}),
                      name="检查员")


def _submitted(application_id: str, at: dt.datetime) -> CloudEvent:
    return ApplicationSubmitted(
        application_id=application_id, matter=MatterRequirements(code="LR-XK-008", version=1, kind="licence",
                                                                  fields=[], materials=[]),
        applicant=ApplicantRef(subject=HOLDER.subject, kind="company", org_code=HOLDER.org_code),
        form={}, materials={}, submitted_at=at).envelope(subject=application_id)


def _changed(application_id: str, to_status: str, at: dt.datetime) -> CloudEvent:
    return ApplicationStatusChanged(
        application_id=application_id, matter_code="LR-XK-008", applicant_subject=HOLDER.subject,
        applicant_org_code=HOLDER.org_code, from_status=None, to_status=to_status, actor="u-officer",
        occurred_at=at).envelope(subject=application_id)


async def _status(database: Database, application_id: str) -> str | None:
    async with database.session() as session:
        return await session.scalar(select(HolderApplication.status)
                                    .where(HolderApplication.application_id == application_id))


async def test_the_read_model_keeps_each_application_s_latest_status(database: Database) -> None:
    open_one, closed, late = (uuid.uuid4().hex for _ in range(3))
    async with database.transaction() as session:  # one fetched batch, a submission and its changes together
        await onecode.remember_applications(session, [
            _submitted(open_one, T0), _changed(open_one, "prereviewed", T0 + dt.timedelta(minutes=1)),
            _submitted(closed, T0), _changed(closed, "withdrawn", T0 + dt.timedelta(minutes=2)),
            _submitted(late, T0), _changed(late, "accepted", T0 + dt.timedelta(hours=1))])
    assert await _status(database, open_one) == "prereviewed"
    # Redelivered or late: an older status never replaces a newer one; a newer one does.
    async with database.transaction() as session:
        await onecode.remember_applications(session, [_changed(late, "prereviewed", T0 + dt.timedelta(minutes=1)),
                                                      _submitted(late, T0)])
    assert await _status(database, late) == "accepted"
    async with database.transaction() as session:
        await onecode.remember_applications(session, [_changed(late, "completed", T0 + dt.timedelta(days=3))])
    assert await _status(database, late) == "completed"
    code = onecode.HolderCode(cti="x", holder_subject=HOLDER.subject, holder_kind="company", holder_name=None,
                              holder_org_code=HOLDER.org_code, consent=["applications"], created_at=T0, expires_at=T0)
    async with database.session() as session:
        listed = {a.application_id for a in await onecode._open_applications(session, code)}
    assert open_one in listed and closed not in listed and late not in listed


async def test_a_code_lives_five_minutes_and_the_next_one_supersedes_it(database: Database, issuer: Issuer) -> None:
    async with database.transaction() as session:
        await issuance.issue(session, issuer, catalogue.TYPES["1131XK002"], holder_subject="imported:x",
                             holder_kind="company", holder={"holder_name": HOLDER.name or "", "holder_code":
                                                            HOLDER.org_code or "", "holder_code_type": "uscc"},
                             data={}, valid_from=T0 - dt.timedelta(days=10), valid_until=T0 + dt.timedelta(days=300),
                             actor="test", licence_number=f"纸-{uuid.uuid4().hex[:8]}")
    with time_machine.travel(T0, tick=False) as clock:
        code = await onecode.create_code(database, issuer, HOLDER, HolderCodeCreate(consent=["licences"]), None)
        assert code.expires_in == 300 and code.code.startswith("LC1:")
        clock.shift(299)
        shown = await onecode.scan(database, issuer, INSPECTOR, code.code)
        assert shown.applications is None and shown.licences
        assert all("*" in licence.holder_code for licence in shown.licences)
        clock.shift(1)  # its 300 seconds are over
        with pytest.raises(Conflict) as refused:
            await onecode.scan(database, issuer, INSPECTOR, code.code)
        assert refused.value.extensions["reason"] == "expired"
        first = await onecode.create_code(database, issuer, HOLDER, HolderCodeCreate(consent=["applications"]), None)
        clock.shift(1)
        second = await onecode.create_code(database, issuer, HOLDER, HolderCodeCreate(consent=["licences"]), None)
        with pytest.raises(Conflict) as superseded:
            await onecode.scan(database, issuer, INSPECTOR, first.code)
        assert superseded.value.extensions["reason"] == "superseded"
        assert (await onecode.scan(database, issuer, INSPECTOR, second.code)).applications is None
        # A code cut short: not ours.
        with pytest.raises(ValidationFailed):
            await onecode.scan(database, issuer, INSPECTOR, second.code[:-3])
    async with database.session() as session:
        results = (await session.scalars(select(HolderCodeScan.result).where(
            HolderCodeScan.scanned_by == INSPECTOR.subject).order_by(HolderCodeScan.id))).all()
    assert list(results) == ["shown", "expired", "superseded", "shown", "invalid"]
