"""The catalogue's events on real databases: svc-matters announces every matter version it publishes
(``lvrong.matters.matter.published``: the shipped catalogue at migration time, each created matter and new
version of an import, nothing for a dry run or an unchanged entry), and svc-prequal keeps each version
once, the highest as the current one, so the dry run knows a matter before its first application."""
from __future__ import annotations

import json
import os
from importlib import resources
from typing import Any

import pytest
from sqlalchemy import select

from kit.auth import Principal, Role, SubjectKind
from kit.contracts import MatterPublished, MatterRequirements
from kit.db import Database
from kit.errors import NotFound
from kit.events import CloudEvent, handle_once, outbox
from kit.events.outbox import processed_events
from matters.models import MatterVersion
from matters.service import catalogue
from prequal import events
from prequal.models import MatterRequirementsRow
from prequal.service import prefill
from prequal.service import prereview as service
from support import public_service_item, scratch_service_database

PREFIX = os.environ.get("LVRONG_TEST_DATABASE_PREFIX", "lvrong_itest") + "_catev"
CONSUMER = "prequal-catalogue"
OPS = Principal(subject="u-ops", kind=SubjectKind.STAFF, roles=frozenset({Role.OPS_ADMIN}))
APPLICANT = Principal(subject="u-applicant-person", kind=SubjectKind.PERSON, roles=frozenset({Role.APPLICANT}))


@pytest.fixture(scope="module")
async def matters_db(servers):
    async with scratch_service_database(servers.database_url, "matters", PREFIX) as db:
        yield db


@pytest.fixture(scope="module")
async def prequal_db(servers):
    async with scratch_service_database(servers.database_url, "prequal", PREFIX) as db:
        yield db


def shipped() -> list[dict[str, Any]]:
    return json.loads((resources.files("matters") / "catalogue" / "matters.json").read_text(encoding="utf-8"))


async def announced(db: Database) -> list[dict[str, Any]]:
    """The ``matter.published`` events in svc-matters' outbox, in order."""
    async with db.session() as session:
        rows = (await session.execute(select(outbox.c.event_id, outbox.c.envelope)
                                      .where(outbox.c.subject == MatterPublished.event_type)
                                      .order_by(outbox.c.position))).all()
    return [{"id": r.event_id, **r.envelope} for r in rows]


async def test_the_migration_announces_every_shipped_matter_once(matters_db: Database) -> None:
    events_ = await announced(matters_db)
    codes = [m["code"] for m in shipped()]
    assert sorted(e["data"]["matter"]["code"] for e in events_) == sorted(codes)
    async with matters_db.session() as session:
        for e in events_:
            data = MatterPublished.model_validate(e["data"])
            row = await session.get(MatterVersion, (data.matter.code, 1))
            assert e["id"] == MatterPublished.event_id_for(data.matter.code, 1) and e["subject"] == data.matter.code
            assert e["source"] == "/lvrong/matters" and e["type"] == MatterPublished.event_type
            assert data.matter == catalogue.requirements_of(row) and data.name_zh == row.name_zh
            assert data.department == row.department


async def test_an_import_announces_what_it_publishes_and_nothing_else(matters_db: Database) -> None:
    before = len(await announced(matters_db))
    report = await catalogue.import_matters(matters_db, OPS, [public_service_item("LR-GG-951")], dry_run=True,
                                                    idempotency_key=None)
    assert report.results[0].outcome == "created"
    assert len(await announced(matters_db)) == before  # a dry run writes nothing

    await catalogue.import_matters(matters_db, OPS, [public_service_item("LR-GG-951"), {"code": "LR-GG-952"}], dry_run=False,
                                   idempotency_key=None)
    [created] = (await announced(matters_db))[before:]  # the rejected entry announces nothing
    assert created["id"] == MatterPublished.event_id_for("LR-GG-951", 1)

    await catalogue.import_matters(matters_db, OPS, [public_service_item("LR-GG-951")], dry_run=False, idempotency_key=None)
    assert len(await announced(matters_db)) == before + 1  # unchanged: no new version, no event

    extra = {"key": "site_address", "label": "养护地点", "label_en": "Site", "type": "address", "required": True}
    changed = public_service_item("LR-GG-951", fields=[*public_service_item("LR-GG-951")["fields"], extra])
    report = await catalogue.import_matters(matters_db, OPS, [changed], dry_run=False, idempotency_key=None)
    assert report.results[0].outcome == "new_version" and report.results[0].version == 2
    [v2] = (await announced(matters_db))[before + 1:]
    data = MatterPublished.model_validate(v2["data"])
    assert data.matter.version == 2 and [f.key for f in data.matter.fields] == ["contact_name", "contact_mobile", "topic",
                                                                        "site_address"]


def published_event(code: str, version: int, fields: list[dict[str, Any]]) -> CloudEvent:
    requirements = MatterRequirements(code=code, version=version, kind="public_service", fields=fields, materials=[
        {"code": "request_letter", "name": "咨询函", "required": True, "file_types": ["pdf"]}])
    return MatterPublished(matter=requirements, name_zh="测试事项", department="市绿化市容局").envelope(subject=code)


async def test_prequal_keeps_each_version_once_and_the_highest_is_current(prequal_db: Database) -> None:
    code = "LR-GG-961"
    field = {"key": "contact_name", "label": "联系人", "type": "string", "required": True}
    second = {"key": "site_address", "label": "养护地点", "type": "address", "required": True}
    v1, v2 = published_event(code, 1, [field]), published_event(code, 2, [field, second])
    async with prequal_db.session() as session:
        with pytest.raises(NotFound):
            await prefill.latest_requirements(session, code)

    # Version 2 arrives first (v1's event was late); v1 then lands but never becomes current; v2 again is a duplicate.
    assert await handle_once(prequal_db, CONSUMER, v2, events.on_matter_published)
    assert await handle_once(prequal_db, CONSUMER, v1, events.on_matter_published)
    assert not await handle_once(prequal_db, CONSUMER, v2, events.on_matter_published)
    async with prequal_db.session() as session:
        rows = (await session.scalars(select(MatterRequirementsRow).where(MatterRequirementsRow.code == code)
                                      .order_by(MatterRequirementsRow.version))).all()
        assert [r.version for r in rows] == [1, 2]
        current = await prefill.latest_requirements(session, code)
        assert current.version == 2 and [f.key for f in current.fields] == ["contact_name", "site_address"]
        # The dry run of a matter nobody applied for: every required field and material, by its id.
        checked = await service.dry_run(session, APPLICANT, code, {"contact_name": "张三"}, {})
    assert checked.matter_version == 2 and checked.verdict == "returned"
    assert {p.target for p in checked.problems} == {"form.site_address", "materials.request_letter"}


@pytest.mark.parametrize("data", [
    {},  # no requirements at all
    {"matter": {"code": "LR-GG-962", "version": "two", "kind": "public_service", "fields": [], "materials": []},
     "name_zh": "测试事项", "department": "市绿化市容局"},
    {"matter": {"code": "LR-GG-962", "version": 1, "kind": "permit", "fields": [], "materials": []},
     "name_zh": "测试事项", "department": "市绿化市容局"},
])
async def test_a_malformed_publication_fails_and_writes_nothing(prequal_db: Database, data: dict[str, Any]) -> None:
    """A malformed event fails its handler (the consumer retries it, then dead-letters it): no requirements
    kept, and not recorded as handled, so the fixed event would still be applied."""
    event = CloudEvent(source="/lvrong/matters", type=MatterPublished.event_type, subject="LR-GG-962", data=data)
    with pytest.raises(ValueError):
        await handle_once(prequal_db, CONSUMER, event, events.on_matter_published)
    async with prequal_db.session() as session:
        assert await session.scalar(select(MatterRequirementsRow).where(MatterRequirementsRow.code == "LR-GG-962")) is None
        assert await session.scalar(select(processed_events.c.event_id).where(
            processed_events.c.event_id == event.id)) is None
