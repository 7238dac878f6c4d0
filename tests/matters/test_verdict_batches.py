"""Pre-review verdicts taken in by svc-matters a fetched batch at a time, on a real database: each
verdict moves its application exactly as it would alone (passed, returned with the blocking findings
as the reason), stale and unknown ones change nothing, two verdicts for one application in one batch
make one step, and every step has its status event with the step's id, in the batch's order."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select, text

from kit.auth import Principal, SubjectKind
from kit.contracts import Finding, PrereviewVerdictIssued
from kit.events import CloudEvent
from matters.models import Application, ApplicationStep
from matters.service import applications
from matters.service.catalogue import current_matter

MATTER = "LR-XK-008"
APPLICANT = Principal(subject="u-batch-applicant", kind=SubjectKind.PERSON, roles=frozenset({"applicant"}))


@pytest.fixture(scope="module")
async def database(servers):
    from support import scratch_service_database

    async with scratch_service_database(servers.database_url, "matters", "lvrong_unit_verdicts") as db:
        yield db


async def submitted(database) -> str:
    async with database.transaction() as session:
        matter = await current_matter(session, MATTER)
        app, _ = await applications.file_application(session, APPLICANT, matter, {}, {})
        return app.id


def verdict(app_id: str, outcome: str = "passed", *, attempt: int = 1, findings: list[Finding] | None = None) -> CloudEvent:
    return PrereviewVerdictIssued(application_id=app_id, attempt=attempt, verdict=outcome, findings=findings or [],
                                  ruleset=f"{MATTER}@v1", checked_at=dt.datetime.now(dt.UTC)).envelope(subject=app_id)


async def test_a_batch_of_verdicts_moves_each_application_as_one_verdict_would(database) -> None:
    passed, returned, stale, twice = [await submitted(database) for _ in range(4)]
    missing = Finding(rule_id="required-owner_opinion", target="materials.owner_opinion", severity="blocking",
                      message_zh="请上传产权人意见", message_en="upload the owner's opinion")
    batch = [verdict(passed), verdict(returned, "returned", findings=[missing]), verdict(stale, attempt=2),
             verdict(uuid.uuid4().hex), verdict(twice), verdict(twice, "returned", findings=[missing])]
    async with database.transaction() as session:
        await session.execute(text("TRUNCATE outbox"))
        await applications.apply_prereview_verdicts(session, batch)

    async with database.session() as session:
        apps = {a.id: a for a in (await session.scalars(select(Application).where(
            Application.id.in_([passed, returned, stale, twice])))).all()}
        steps = (await session.scalars(select(ApplicationStep).where(ApplicationStep.action == "prereview",
                 ApplicationStep.application_id.in_(list(apps))).order_by(ApplicationStep.id))).all()
        published = (await session.execute(text("SELECT subject, envelope FROM outbox ORDER BY position"))).all()
    events = [envelope for _, envelope in published]
    assert {k: a.status for k, a in apps.items()} == {passed: "prereviewed", returned: "returned", stale: "submitted",
                                                      twice: "prereviewed"}
    assert apps[passed].prereviewed_at is not None and apps[stale].prereviewed_at is None
    assert [(s.application_id, s.from_status, s.status, s.reason) for s in steps] == [
        (passed, "submitted", "prereviewed", None), (returned, "submitted", "returned", "请上传产权人意见"),
        (twice, "submitted", "prereviewed", None)]
    assert steps[1].details["findings"][0]["rule_id"] == "required-owner_opinion"
    assert steps[0].details["verdict_event_id"] == batch[0].id
    # One status event per step, in the batch's order, each naming its step.
    assert [(e["type"], e["data"]["application_id"], e["data"]["step_id"], e["data"]["to_status"]) for e in events] == [
        ("lvrong.matters.application.status_changed", s.application_id, s.id, s.status) for s in steps]
    # Each on the subject that names its new status, so consumers may filter on the server (issue 18).
    assert [subject for subject, _ in published] == [f"lvrong.matters.application.status_changed.{s.status}" for s in steps]


async def test_one_verdict_alone_is_the_batch_of_one(database) -> None:
    app_id = await submitted(database)
    async with database.transaction() as session:
        await applications.apply_prereview_verdict(session, verdict(app_id, "needs_human_review", findings=[Finding(
            rule_id="compare-duplicate", target="form.from_address", severity="warning", message_zh="疑似重复申报",
            message_en="a possible duplicate")]))
    async with database.session() as session:
        app = await session.get(Application, app_id)
        step = await session.scalar(select(ApplicationStep).where(ApplicationStep.application_id == app_id,
                                                                  ApplicationStep.action == "prereview"))
    assert app.status == "prereviewed" and step.reason == "需人工核对：疑似重复申报"
    assert step.details["needs_human_review"] is True
