"""Submissions that name their matter version (``MatterVersionRef``: code, version, kind, digest) instead
of carrying its requirements: svc-prequal takes the requirements from the ``matter.published`` event of
that version it kept, and gives exactly the verdict the carried requirements give; events written before
the reference existed (requirements carried) are still read, in the same batch as named ones; a version
svc-prequal has not been told of yet, or kept with other requirements, fails the event (it is delivered
again) and writes nothing."""
from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from kit.contracts import ApplicationSubmitted, MatterPublished, MatterRequirements, MatterVersionRef
from kit.db import Database
from kit.events import CloudEvent, outbox
from prequal import events
from prequal.models import MatterRequirementsRow, SubmissionSeen, Verdict
from support import scratch_service_database, valid_form

CATALOGUE = json.loads((Path(__file__).parents[2] / "svc-matters/src/matters/catalogue/matters.json").read_text("utf-8"))
PREFIX = os.environ.get("LVRONG_TEST_DATABASE_PREFIX", "lvrong_itest")
START = dt.datetime(2026, 11, 27, 1, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
async def carried(servers):
    async with scratch_service_database(servers.database_url, "prequal", PREFIX + "_carried") as db:
        yield db


@pytest.fixture(scope="module")
async def named(servers):
    async with scratch_service_database(servers.database_url, "prequal", PREFIX + "_named") as db:
        yield db


def requirements(m: dict[str, Any], version: int = 1, label: str | None = None) -> MatterRequirements:
    fields = [dict(f, label=label) if label and i == 0 else f for i, f in enumerate(m["fields"])]
    return MatterRequirements(code=m["code"], version=version, kind=m["kind"], fields=fields, materials=m["materials"])


def submission(matter: MatterRequirements | MatterVersionRef, m: dict[str, Any], seed: int) -> ApplicationSubmitted:
    form = valid_form(m, seed)
    if seed % 3 == 1:  # some returned: a required field left out
        form.pop(next(f["key"] for f in m["fields"] if f.get("required")), None)
    return ApplicationSubmitted(
        application_id=f"app-{seed:04d}", matter=matter, applicant={"subject": f"user-{seed}", "kind": "person"},
        form=form, materials={x["code"]: {"kind": "upload", "material_id": f"m{seed}"} for x in m["materials"]},
        submitted_at=START + dt.timedelta(seconds=seed))


def published(r: MatterRequirements) -> CloudEvent:
    return MatterPublished(matter=r, name_zh="事项", department="绿化处").envelope(subject=r.code)


async def state(db: Database) -> dict[str, Any]:
    async with db.session() as session:
        verdicts = {v.application_id: (v.verdict, v.findings, v.results, v.matter_code, v.matter_version)
                    for v in (await session.scalars(select(Verdict))).all()}
        seen = {s.application_id: (s.form, s.field_types) for s in (await session.scalars(select(SubmissionSeen))).all()}
        sent = sorted((e["subject"], json.dumps({k: v for k, v in e["data"].items() if k != "checked_at"}, sort_keys=True))
                      for e in (await session.scalars(select(outbox.c.envelope))).all())
    return {"verdicts": verdicts, "seen": seen, "sent": sent}


async def written(db: Database) -> tuple[int, int, int]:
    async with db.session() as session:
        return (await session.scalar(select(func.count()).select_from(Verdict)) or 0,
                await session.scalar(select(func.count()).select_from(SubmissionSeen)) or 0,
                await session.scalar(select(func.count()).select_from(outbox)) or 0)


def test_a_reference_and_carried_requirements_both_read_as_the_contract() -> None:
    m = CATALOGUE[0]
    r = requirements(m)
    ref = r.reference()
    assert (ref.code, ref.version, ref.kind) == (r.code, 1, r.kind) and len(ref.digest) == 64
    # The digest is of the content, not of how a dict was ordered (PostgreSQL's jsonb reorders keys).
    reordered = MatterRequirements.model_validate(dict(reversed(list(r.model_dump(mode="json").items()))))
    assert reordered.digest == ref.digest and requirements(m, label="别的标签").digest != ref.digest
    slim, full = submission(ref, m, 1), submission(r, m, 1)
    assert len(slim.envelope().to_json_bytes()) * 3 < len(full.envelope().to_json_bytes())
    again = ApplicationSubmitted.from_event(CloudEvent.from_json_bytes(slim.envelope().to_json_bytes()))
    assert again.matter == ref
    with pytest.raises(LookupError):
        again.requirements  # noqa: B018
    old = ApplicationSubmitted.from_event(CloudEvent.from_json_bytes(full.envelope().to_json_bytes()))
    assert old.requirements == r


async def test_named_versions_get_the_verdicts_carried_requirements_get(carried: Database, named: Database) -> None:
    matters = CATALOGUE[:6]
    rs = {m["code"]: requirements(m, label=f"名称 {uuid.uuid4().hex[:6]}") for m in matters}
    subs = [(m, seed) for seed, m in enumerate(matters * 3)]
    async with named.transaction() as session:
        for r in rs.values():
            await events.on_matter_published(session, published(r))
    made = [submission(rs[m["code"]], m, seed) for m, seed in subs]
    with_carried = [s.envelope(subject=s.application_id) for s in made]
    # The first few written before the reference existed: carried, in the same batch as the named ones.
    with_names = with_carried[:3] + [s.model_copy(update={"matter": s.requirements.reference()}).envelope(subject=s.application_id)
                                     for s in made[3:]]
    async with carried.transaction() as session:
        await events.on_submitted_batch(session, with_carried)
    async with named.transaction() as session:
        await events.on_submitted_batch(session, with_names)
    one, other = await state(carried), await state(named)
    assert one == other
    assert len(one["verdicts"]) == len(subs) and {"passed", "returned"} <= {v[0] for v in one["verdicts"].values()}


async def test_an_unknown_or_different_version_fails_and_writes_nothing(named: Database) -> None:
    m = CATALOGUE[7]
    r = requirements(m, version=3, label=f"名称 {uuid.uuid4().hex[:6]}")
    event = submission(r.reference(), m, 900).envelope(subject="app-0900")
    before = await written(named)
    with pytest.raises(events.UnknownMatterVersion):
        async with named.transaction() as session:
            await events.on_submitted(session, event)
    assert await written(named) == before
    # The version kept with other requirements (another database's version 3): not taken for it.
    other = requirements(m, version=3, label="另一个标签")
    async with named.transaction() as session:
        await events.on_matter_published(session, published(other))
    with pytest.raises(events.UnknownMatterVersion):
        async with named.transaction() as session:
            await events.on_submitted(session, event)
    assert await written(named) == before
    # Once the catalogue's event is handled, the same event is: delivered again, it gets its verdict.
    async with named.transaction() as session:
        await events.on_matter_published(session, published(r))
    async with named.transaction() as session:
        await events.on_submitted(session, event)
    async with named.session() as session:
        verdict = await session.scalar(select(Verdict).where(Verdict.application_id == "app-0900"))
        stored = await session.scalar(select(MatterRequirementsRow.requirements).where(
            MatterRequirementsRow.code == m["code"], MatterRequirementsRow.version == 3))
    assert verdict is not None and verdict.matter_version == 3 and verdict.verdict == "passed"
    assert MatterRequirements.model_validate(stored).digest == r.digest
