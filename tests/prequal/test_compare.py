"""The automatic data comparison (数据比对, ``prequal.compare``) on a real database: licences given for
exempted materials, and a second open application for the same object."""
from __future__ import annotations

import datetime as dt
import os
import random
import uuid
from typing import Any

import pytest

from kit.contracts import ApplicationStatusChanged, ApplicationSubmitted, MatterRequirements
from kit.contracts.licences import LicenceIssued, LicenceStatusChanged
from kit.db import Database
from kit.events.consumer import durable_name, handle_once
from prequal.events import SUBSCRIPTIONS
from prequal.service import compare
from prequal.service.rules import verdict_of
from support import scratch_service_database, valid_uscc

PREFIX = os.environ.get("LVRONG_TEST_DATABASE_PREFIX", "lvrong_itest") + "_cmp"
NOW = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
async def database(servers):
    async with scratch_service_database(servers.database_url, "prequal", PREFIX) as db:
        yield db


def submission(matter: str = "LR-XK-005", *, subject: str = "user-a", app_id: str | None = None,
               form: dict[str, Any] | None = None, materials: dict[str, Any] | None = None,
               at: dt.datetime = NOW, attempt: int = 1) -> ApplicationSubmitted:
    return ApplicationSubmitted(
        application_id=app_id or uuid.uuid4().hex, attempt=attempt,
        matter=MatterRequirements(code=matter, version=1, kind="licence", fields=[], materials=[]),
        applicant={"subject": subject, "kind": "organisation", "org_code": None},
        form={"applicant_uscc": "91310115MA1H7GXQ3E", "address": "上海市浦东新区世纪大道100号", **(form or {})},
        materials=materials or {}, submitted_at=at)


async def run(db: Database, s: ApplicationSubmitted) -> dict[str, Any]:
    async with db.transaction() as session:
        return {r.rule_id: r for r in await compare.compare_results(session, s)}


async def status(db: Database, app_id: str, to: str, subject: str = "user-a", matter: str = "LR-XK-005",
                 at: dt.datetime | None = None) -> None:
    event = ApplicationStatusChanged(application_id=app_id, matter_code=matter, applicant_subject=subject,
                                     from_status=None, to_status=to, actor="test",
                                     occurred_at=at or dt.datetime.now(dt.UTC)).envelope(subject=app_id)
    async with db.transaction() as session:
        await compare.on_status_changed(session, event)


# The consumer svc-prequal registers for licences: the read model is filled only through it here.
LICENCES_HELD = next(s for s in SUBSCRIPTIONS if LicenceStatusChanged.event_type in s.subjects)


async def deliver(db: Database, contract: LicenceIssued | LicenceStatusChanged) -> None:
    assert await handle_once(db, durable_name("prequal", LICENCES_HELD), contract.envelope(subject=contract.licence_id),
                             LICENCES_HELD.handler)


async def licence(db: Database, holder: str, *, org: str | None = None, version: int = 1, lid: str | None = None,
                  valid_until: dt.datetime | None = NOW + dt.timedelta(days=300)) -> str:
    lid = lid or uuid.uuid4().hex
    await deliver(db, LicenceIssued(licence_id=lid, licence_number=f"沪绿证{lid[:6]}", licence_type="户外招牌设置许可",
                                    application_id=uuid.uuid4().hex, holder_subject=holder, holder_org_code=org,
                                    version=version, issued_at=NOW - dt.timedelta(days=30), valid_until=valid_until))
    return lid


async def change_status(db: Database, lid: str, to: str, at: dt.datetime, from_status: str = "active") -> None:
    await deliver(db, LicenceStatusChanged(licence_id=lid, licence_number=f"沪绿证{lid[:6]}", holder_subject="user-a",
                                           from_status=from_status, to_status=to, actor="u-reviewer", occurred_at=at))


def lic_ref(lid: str) -> dict[str, Any]:
    return {"kind": "licence", "licence_id": lid}


async def test_licence_exemptions(database: Database) -> None:
    mine, theirs = await licence(database, "user-a"), await licence(database, "user-b")
    revoked = await licence(database, "user-a")
    await change_status(database, revoked, "revoked", NOW - dt.timedelta(days=1))
    expired = await licence(database, "user-a", valid_until=NOW - dt.timedelta(days=2))
    s = submission(form={"address": f"地址{uuid.uuid4().hex}"}, materials={
        "m1": lic_ref(mine), "m2": lic_ref(theirs), "m3": lic_ref(revoked), "m4": lic_ref(expired),
        "m5": lic_ref("unknown-licence"), "m6": {"kind": "upload", "material_id": "x"}})
    got = await run(database, s)
    assert got["compare.licence.m1"].outcome == "passed"
    assert got["compare.licence.m2"].outcome == "failed" and "不属于申请人" in got["compare.licence.m2"].message_zh
    assert got["compare.licence.m2"].targets == ["materials.m2"] and got["compare.licence.m2"].severity == "blocking"
    assert got["compare.licence.m3"].outcome == "failed" and "撤销" in got["compare.licence.m3"].message_zh
    assert got["compare.licence.m4"].outcome == "failed" and "expired" in got["compare.licence.m4"].message_en
    unknown = got["compare.licence.m5"]
    assert unknown.outcome == "not_applicable" and "unknown-licence" in unknown.message_zh  # never a false failure
    assert "compare.licence.m6" not in got
    assert verdict_of(got.values()) == "returned"

    only_unknown = await run(database, submission(form={"address": f"地址{uuid.uuid4().hex}"},
                                                  materials={"m5": lic_ref("unknown-licence")}))
    assert verdict_of(only_unknown.values()) == "passed"
    none = await run(database, submission(form={"address": f"地址{uuid.uuid4().hex}"}))
    assert none["compare.licence"].outcome == "not_applicable"


async def test_the_status_events_decide_whether_a_licence_is_revoked(database: Database) -> None:
    """Only a revocation before the submission counts; a late, older reinstatement does not undo it; a
    renewal (a new version) leaves the revocation alone and an older version never undoes a renewal."""
    after, undone, renewed = [await licence(database, "user-a") for _ in range(3)]
    await change_status(database, after, "revoked", NOW + dt.timedelta(minutes=1))
    await change_status(database, undone, "revoked", NOW - dt.timedelta(hours=1))
    await change_status(database, undone, "active", NOW - dt.timedelta(hours=2), from_status="suspended")
    await change_status(database, renewed, "revoked", NOW - dt.timedelta(hours=1))
    await licence(database, "user-a", lid=renewed, version=2, valid_until=NOW + dt.timedelta(days=700))
    expired_then_renewed = await licence(database, "user-a", version=2, valid_until=NOW + dt.timedelta(days=10))
    await licence(database, "user-a", lid=expired_then_renewed, version=1, valid_until=NOW - dt.timedelta(days=1))
    got = await run(database, submission(form={"address": f"地址{uuid.uuid4().hex}"}, materials={
        "m1": lic_ref(after), "m2": lic_ref(undone), "m3": lic_ref(renewed), "m4": lic_ref(expired_then_renewed)}))
    assert got["compare.licence.m1"].outcome == "passed"  # revoked only after it was submitted
    assert got["compare.licence.m2"].outcome == "failed" and "has been revoked" in got["compare.licence.m2"].message_en
    assert got["compare.licence.m3"].outcome == "failed" and "撤销" in got["compare.licence.m3"].message_zh
    assert got["compare.licence.m4"].outcome == "passed"


async def test_a_status_change_before_its_licence_is_delivered_again_not_lost(database: Database) -> None:
    lid = uuid.uuid4().hex
    with pytest.raises(LookupError):
        await change_status(database, lid, "revoked", NOW - dt.timedelta(hours=1))
    await licence(database, "user-a", lid=lid)
    await change_status(database, lid, "revoked", NOW - dt.timedelta(hours=1))
    got = await run(database, submission(form={"address": f"地址{uuid.uuid4().hex}"}, materials={"m1": lic_ref(lid)}))
    assert got["compare.licence.m1"].outcome == "failed"


async def test_a_licence_of_the_company_the_applicant_files_for_is_held(database: Database) -> None:
    company = "91310115MA1H7GXQ3E"
    lid = await licence(database, "user-colleague", org=company)
    s = submission(form={"address": f"地址{uuid.uuid4().hex}"}, materials={"m1": lic_ref(lid)})
    assert (await run(database, s))["compare.licence.m1"].outcome == "failed"  # the account acts for no company
    s.applicant.org_code = company
    assert (await run(database, s))["compare.licence.m1"].outcome == "passed"


async def test_a_second_open_application_for_the_same_object_is_flagged(database: Database) -> None:
    address = f"上海市黄浦区南京东路{uuid.uuid4().hex[:6]}号"
    first = submission(form={"address": address}, at=NOW)
    assert (await run(database, first))[compare.OPEN_RULE].outcome == "passed"
    await status(database, first.application_id, "submitted")
    await status(database, first.application_id, "prereviewed")

    # Same object written differently (spaces, full-width comma) is the same object.
    second = submission(form={"address": " " + address.replace("南京东路", "南京东路 ")}, at=NOW + dt.timedelta(hours=1))
    result = (await run(database, second))[compare.OPEN_RULE]
    assert result.outcome == "failed" and result.severity == "warning"
    assert first.application_id in result.message_zh and first.application_id in result.message_en
    assert "重复申报" in result.message_zh and result.targets == ["form.address"]

    # Not the same object, another applicant declared in the form, another account, another matter.
    assert (await run(database, submission(form={"address": address + "甲"}, at=NOW + dt.timedelta(hours=2))))[
        compare.OPEN_RULE].outcome == "passed"
    assert (await run(database, submission(form={"address": address, "applicant_uscc": "91310000MA1FL0000X"},
                                           at=NOW + dt.timedelta(hours=2))))[compare.OPEN_RULE].outcome == "passed"
    assert (await run(database, submission(subject="user-b", form={"address": address},
                                           at=NOW + dt.timedelta(hours=2))))[compare.OPEN_RULE].outcome == "passed"
    assert (await run(database, submission("LR-BA-003", form={"address": address},
                                           at=NOW + dt.timedelta(hours=2))))[compare.OPEN_RULE].outcome == "passed"

    # The original, resubmitted while the duplicate is still open, is not blocked by the later one.
    again = submission(app_id=first.application_id, form={"address": address}, at=NOW + dt.timedelta(hours=3), attempt=2)
    assert (await run(database, again))[compare.OPEN_RULE].outcome == "passed"

    # Once the first is withdrawn (or refused, denied, completed) the object is free again.
    await status(database, first.application_id, "withdrawn")
    third = submission(form={"address": address}, at=NOW + dt.timedelta(hours=4))
    blocked_by_second = (await run(database, third))[compare.OPEN_RULE]
    assert blocked_by_second.outcome == "failed" and second.application_id in blocked_by_second.message_zh
    await status(database, second.application_id, "refused")
    fourth = submission(form={"address": address}, at=NOW + dt.timedelta(hours=5))
    assert (await run(database, fourth))[compare.OPEN_RULE].outcome == "failed"  # the third is still open itself
    for done in (third, fourth):
        await status(database, done.application_id, "withdrawn")
    assert (await run(database, submission(form={"address": address}, at=NOW + dt.timedelta(hours=6))))[
        compare.OPEN_RULE].outcome == "passed"


async def test_status_events_before_the_submission_and_stale_ones(database: Database) -> None:
    app_id = uuid.uuid4().hex
    await status(database, app_id, "accepted", at=NOW + dt.timedelta(minutes=5))
    await status(database, app_id, "submitted", at=NOW)  # older: ignored
    address = f"上海市静安区{uuid.uuid4().hex[:6]}号"
    await run(database, submission(app_id=app_id, form={"address": address}, at=NOW))
    later = (await run(database, submission(form={"address": address}, at=NOW + dt.timedelta(hours=1))))[compare.OPEN_RULE]
    assert later.outcome == "failed" and "accepted" in later.message_en


async def test_matters_without_an_object_are_not_compared(database: Database) -> None:
    unknown = await run(database, submission("LR-ZZ-999"))
    assert unknown[compare.OPEN_RULE].outcome == "not_applicable"
    no_address = await run(database, submission(form={"address": "  "}))
    assert no_address[compare.OPEN_RULE].outcome == "not_applicable"
    assert compare.object_of("LR-BA-002", {"address": "某路1号", "declaration_year": 2026.0}) == (
        "某路1号|2026", "某路1号 / 2026.0")
    assert compare.applicant_key({"applicant_type": "person", "applicant_uscc": "X", "applicant_id_number": "y"}) == "Y"
    # The catalogue's forms call a person applicant "individual".
    assert compare.applicant_key({"applicant_type": "individual", "applicant_uscc": "X", "applicant_id_number": "y"}) == "Y"
    assert compare.applicant_key({"applicant_type": "organisation", "applicant_uscc": "x", "applicant_id_number": "y"}) == "X"


def test_the_objects_are_fields_of_their_matters() -> None:
    import json
    from pathlib import Path
    catalogue = json.loads((Path(__file__).parents[2] / "svc-matters/src/matters/catalogue/matters.json").read_text("utf-8"))
    fields = {m["code"]: {f["key"]: f["type"] for f in m["fields"]} for m in catalogue}
    assert len(compare.OBJECT_FIELDS) == 14 and set(compare.OBJECT_FIELDS) <= set(fields)
    for code, keys in compare.OBJECT_FIELDS.items():
        assert set(keys) <= set(fields[code]), code
        assert any(fields[code][k] == "address" for k in keys), code  # every object is a place


async def test_a_second_operator_licence_while_one_is_in_force_is_flagged(database: Database) -> None:
    """LR-XK-013 (生活垃圾经营许可): one licence per operator — a company holding one in force is told to apply
    for a change or renewal; a revoked or expired one, another company's, or another type does not count."""
    holder, other = "91310115MA1H7GXQ3E", valid_uscc(random.Random(21))

    async def operator_licence(org: str, licence_type: str = "生活垃圾经营许可证",
                               valid_until: dt.datetime = NOW + dt.timedelta(days=900)) -> str:
        lid = uuid.uuid4().hex
        await deliver(database, LicenceIssued(licence_id=lid, licence_number=f"沪环卫{lid[:6]}", licence_type=licence_type,
                                              application_id=uuid.uuid4().hex, holder_subject=f"u-{org}",
                                              holder_org_code=org, issued_at=NOW - dt.timedelta(days=400),
                                              valid_until=valid_until))
        return lid

    def waste(org: str) -> ApplicationSubmitted:
        return submission("LR-XK-013", subject=f"u-{org}", form={"applicant_uscc": org})

    await operator_licence(holder, "户外招牌设置许可")  # another type
    await operator_licence(holder, valid_until=NOW - dt.timedelta(days=1))  # expired
    assert (await run(database, waste(holder)))[compare.HELD_RULE].outcome == "passed"
    in_force = await operator_licence(holder)
    got = (await run(database, waste(holder)))[compare.HELD_RULE]
    assert (got.outcome, got.severity, got.finding_code) == ("failed", "warning", "compare-licence-held")
    assert f"沪环卫{in_force[:6]}" in got.message_zh and "变更或延续" in got.message_zh and "renewal" in got.message_en
    assert verdict_of([got]) == "needs_human_review"
    assert (await run(database, waste(other)))[compare.HELD_RULE].outcome == "passed"
    # the batch sees what one at a time sees
    async with database.transaction() as session:
        together = await compare.compare_batch(session, [waste(holder), waste(other), submission("LR-XK-005")])
    assert [next(r.outcome for r in rs if r.rule_id == compare.HELD_RULE) for rs in together] == [
        "failed", "passed", "not_applicable"]
    await deliver(database, LicenceStatusChanged(licence_id=in_force, licence_number=f"沪环卫{in_force[:6]}",
                                                 holder_subject=f"u-{holder}", from_status="active", to_status="revoked",
                                                 actor="u-reviewer", occurred_at=NOW - dt.timedelta(hours=1)))
    assert (await run(database, waste(holder)))[compare.HELD_RULE].outcome == "passed"
