"""Business data (企业登记信息) on real databases: svc-matters publishes a business's data when an import
creates or changes it (not when a rerun changes nothing), svc-prequal keeps the newest per credit code
(idempotent, an older as-of never wins), and the name comparison (``prequal.business``) passes, fails or
says it could not compare."""
from __future__ import annotations

import datetime as dt
import os
import random
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select, text

from kit.contracts import ApplicationSubmitted, BusinessDataChanged, MatterRequirements
from kit.db import Database
from kit.events import handle_once, outbox
from kit.protection import keyring
from matters.service.benefits import import_businesses
from prequal.models import KnownBusiness
from prequal.service import business
from prequal.service.rules import verdict_of
from support import scratch_service_database, valid_uscc

PREFIX = os.environ.get("LVRONG_TEST_DATABASE_PREFIX", "lvrong_itest") + "_biz"
NOW = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)
OWN = "91310115MA1H7GXQ3E"
OTHER = "91310000MA1FL0000X"


@pytest.fixture(scope="module")
async def prequal_db(servers):
    async with scratch_service_database(servers.database_url, "prequal", PREFIX) as db:
        yield db


@pytest.fixture(scope="module")
async def matters_db(servers):
    async with scratch_service_database(servers.database_url, "matters", PREFIX) as db:
        yield db


def registration(uscc: str, name: str, **changes: Any) -> dict[str, Any]:
    return {"uscc": uscc, "name": name, "business_scope": "机动车清洗服务", "district": "上海市浦东新区",
            "address": "浦东新区张江路100号", "status": "active",
            "licences": [{"type": "营业执照", "number": f"BL-{uscc}", "valid_until": None, "issued_on": "2024-03-01"}],
            **changes}


async def published(db: Database, uscc: str) -> list[dict[str, Any]]:
    async with db.session() as session:
        rows = (await session.scalars(select(outbox.c.envelope).where(outbox.c.subject == BusinessDataChanged.event_type)
                                      .order_by(outbox.c.position))).all()
    return [e["data"] for e in rows if e["data"]["uscc"] == uscc]


async def test_an_import_publishes_what_it_created_or_changed_and_nothing_on_an_unchanged_rerun(matters_db: Database) -> None:
    line = registration(OWN, "上海演示绿化工程有限公司（洗车场）")
    report = await import_businesses(matters_db, [line, registration("not-a-code", "坏行")])
    assert [entry.result for entry in report.lines] == ["created", "rejected"]
    first = await published(matters_db, OWN)
    assert len(first) == 1
    assert {k: first[0][k] for k in ("uscc", "name", "district", "address", "status", "source")} == {
        "uscc": OWN, "name": "上海演示绿化工程有限公司（洗车场）", "district": "浦东新区", "address": "浦东新区张江路100号",
        "status": "active", "source": "import"}
    assert first[0]["licences"] == [{"type": "营业执照", "number": f"BL-{OWN}", "valid_until": None, "issued_on": "2024-03-01"}]
    assert first[0]["legal_representative"] is None and "business_scope" not in first[0]
    assert BusinessDataChanged.model_validate(first[0]).as_of.tzinfo is not None

    rerun = await import_businesses(matters_db, [line])
    assert rerun.lines[0].result == "updated"  # the report is as before
    assert len(await published(matters_db, OWN)) == 1  # but nothing changed: nothing published

    moved = await import_businesses(matters_db, [registration(OWN, "上海演示绿化工程有限公司（洗车场）", status="suspended")])
    assert moved.lines[0].result == "updated"
    after = await published(matters_db, OWN)
    assert [e["status"] for e in after] == ["active", "suspended"]
    assert after[1]["as_of"] > after[0]["as_of"]


def test_the_legal_representative_never_travels_in_clear() -> None:
    data = {"uscc": OWN, "name": "某公司", "district": "浦东新区", "address": "某路1号", "status": "active",
            "source": "import", "as_of": NOW}
    with pytest.raises(ValueError, match="encrypted"):
        BusinessDataChanged(**data, legal_representative="张三")
    for not_a_token in ("pd1.张三", "pd1.", "pd2.k.x"):  # the prefix alone does not make a token
        with pytest.raises(ValueError, match="encrypted"):
            BusinessDataChanged(**data, legal_representative=not_a_token)
    token = keyring().encrypt("张三", context=BusinessDataChanged.LEGAL_REPRESENTATIVE_CONTEXT)
    assert BusinessDataChanged(**data, legal_representative=token).legal_representative == token


def changed(uscc: str, name: str, as_of: dt.datetime, **extra: Any) -> BusinessDataChanged:
    return BusinessDataChanged(**{"uscc": uscc, "name": name, "district": "浦东新区", "address": "张江路100号",
                                  "status": "active", "source": "import", "as_of": as_of, **extra})


async def held(db: Database, uscc: str) -> KnownBusiness | None:
    async with db.session() as session:
        return await session.get(KnownBusiness, uscc)


async def apply(db: Database, event: BusinessDataChanged) -> None:
    async with db.transaction() as session:
        await business.on_business_changed(session, event.envelope(subject=event.uscc))


async def test_the_read_model_keeps_the_newest_data_and_applies_an_event_once(prequal_db: Database) -> None:
    uscc = OTHER
    newer = changed(uscc, "上海新名称有限公司", NOW + dt.timedelta(hours=1))
    envelope = newer.envelope(subject=uscc)
    assert await handle_once(prequal_db, "test-businesses", envelope, business.on_business_changed)
    assert not await handle_once(prequal_db, "test-businesses", envelope, business.on_business_changed)  # redelivered
    await apply(prequal_db, newer)  # the handler itself is idempotent too
    async with prequal_db.session() as session:
        assert await session.scalar(select(func.count()).select_from(KnownBusiness).where(KnownBusiness.uscc == uscc)) == 1
    row = await held(prequal_db, uscc)
    assert row is not None and row.name == "上海新名称有限公司" and row.as_of == NOW + dt.timedelta(hours=1)

    await apply(prequal_db, changed(uscc, "上海旧名称有限公司", NOW))  # an older as-of arriving late
    row = await held(prequal_db, uscc)
    assert row is not None and row.name == "上海新名称有限公司"

    await apply(prequal_db, changed(uscc, "上海更新名称有限公司", NOW + dt.timedelta(hours=2), status="deregistered"))
    row = await held(prequal_db, uscc)
    assert row is not None and (row.name, row.status) == ("上海更新名称有限公司", "deregistered")


def submission(form: dict[str, Any], *, matter: str = "LR-BA-001", org_code: str | None = OWN) -> ApplicationSubmitted:
    return ApplicationSubmitted(
        application_id=uuid.uuid4().hex,
        matter=MatterRequirements(code=matter, version=1, kind="filing", fields=[], materials=[]),
        applicant={"subject": "u-applicant-company", "kind": "company", "org_code": org_code},
        form=form, materials={}, submitted_at=NOW)


async def result(db: Database, form: dict[str, Any], **kw: Any) -> Any:
    async with db.session() as session:
        return await business.business_name_result(session, submission(form, **kw))


async def test_the_name_against_the_business_data(prequal_db: Database) -> None:
    uscc = OWN
    await apply(prequal_db, changed(uscc, "上海演示绿化工程有限公司（洗车场）", NOW))

    # Brackets, letters and spaces written full- or half-width are the same name.
    for name in ("上海演示绿化工程有限公司(洗车场)", " 上海演示绿化工程有限公司 （洗车场）", "上海演示绿化工程有限公司（洗车场）"):
        got = await result(prequal_db, {"applicant_uscc": uscc.lower(), "business_name": name})
        assert (got.rule_id, got.outcome, got.severity) == (business.RULE, "passed", "blocking"), name
        assert got.targets == ["form.business_name", "form.applicant_uscc"]

    # The business itself is told the registered name …
    own = await result(prequal_db, {"applicant_uscc": uscc, "business_name": "上海演示洗车场"})
    assert own.outcome == "failed" and own.severity == "blocking" and own.finding_code == "compare-business-name"
    assert "上海演示绿化工程有限公司（洗车场）" in own.message_zh and "上海演示绿化工程有限公司（洗车场）" in own.message_en
    assert "上海演示洗车场" in own.message_zh and "营业执照" in own.message_zh and "business licence" in own.message_en
    assert verdict_of([own]) == "returned"
    # … anyone else only that the name is not the registered one.
    stranger = await result(prequal_db, {"applicant_uscc": uscc, "business_name": "上海演示洗车场"}, org_code=OTHER)
    assert stranger.outcome == "failed" and "不一致" in stranger.message_zh and "not the name registered" in stranger.message_en
    assert "绿化工程" not in stranger.message_zh + stranger.message_en

    # A code with no business data: not compared, and the result says so.
    unknown_code = valid_uscc(random.Random(4))
    unknown = await result(prequal_db, {"applicant_uscc": unknown_code, "business_name": "任意名称"})
    assert unknown.outcome == "not_applicable" and unknown_code in unknown.message_zh and "not compared" in unknown.message_en
    assert verdict_of([unknown]) == "passed"

    # Nothing to compare: no name field in this matter's form, no code, or a person applying.
    for form, matter in (({"applicant_uscc": uscc, "shop_name": "演示小店"}, "LR-XK-005"),
                         ({"business_name": "上海演示洗车场"}, "LR-BA-001"),
                         ({"applicant_uscc": " ", "business_name": "上海演示洗车场"}, "LR-BA-001"),
                         ({"applicant_type": "individual", "applicant_uscc": uscc, "company_name": "别家"}, "LR-XK-010")):
        got = await result(prequal_db, form, matter=matter)
        assert got.outcome == "not_applicable" and got.message_zh is None, form
    # The generic company-name keys count in any matter.
    generic = await result(prequal_db, {"applicant_uscc": uscc, "company_name": "别家公司"}, matter="LR-XK-002")
    assert generic.outcome == "failed" and generic.targets[0] == "form.company_name"


def test_names_are_compared_without_width_space_or_case() -> None:
    assert business.normalised_name("ＡＢＣ 科技（上海）有限公司") == business.normalised_name("abc科技(上海)有限公司")
    assert business.normalised_name("上海甲有限公司") != business.normalised_name("上海乙有限公司")


def test_the_premises_fields_are_fields_of_their_matter() -> None:
    import json
    from pathlib import Path
    catalogue = json.loads((Path(__file__).parents[2] / "svc-matters/src/matters/catalogue/matters.json").read_text("utf-8"))
    fields = {m["code"]: {f["key"] for f in m["fields"]} for m in catalogue}
    for code, keys in business.PREMISES_FIELDS.items():
        assert set(keys) <= fields[code], code
        assert business.USCC_FIELD in fields[code], code


async def test_nothing_is_kept_of_the_legal_representative(prequal_db: Database) -> None:
    token = keyring().encrypt("李四", context=BusinessDataChanged.LEGAL_REPRESENTATIVE_CONTEXT)
    await apply(prequal_db, changed("91310000MA1FL2222X", "上海丙有限公司", NOW, legal_representative=token))
    async with prequal_db.session() as session:
        row = (await session.execute(text("SELECT to_jsonb(b) AS r FROM known_businesses b WHERE uscc = :u"),
                                     {"u": "91310000MA1FL2222X"})).scalar_one()
    assert token not in str(row) and "李四" not in str(row) and row["name"] == "上海丙有限公司"


async def test_a_batch_gets_what_each_submission_gets_alone(prequal_db: Database) -> None:
    await apply(prequal_db, changed(OWN, "上海演示绿化工程有限公司（洗车场）", NOW))
    batch = [submission({"applicant_uscc": OWN, "business_name": "上海演示绿化工程有限公司(洗车场)"}),
             submission({"applicant_uscc": OWN, "business_name": "别的名字"}),
             submission({"applicant_uscc": valid_uscc(random.Random(5)), "business_name": "别的名字"}),
             submission({"applicant_uscc": "坏代码", "business_name": "别的名字"}),
             submission({"shop_name": "演示小店"}, matter="LR-XK-005")]
    async with prequal_db.session() as session:
        alone = [await business.business_name_result(session, s) for s in batch]
        held = await business.known_businesses(session, {c for s in batch if (c := business.declared_code(s))})
    assert set(held) == {OWN}
    together = [business.name_outcome(s, held.get(business.declared_code(s) or "")) for s in batch]
    assert together == alone
    assert [r.outcome for r in alone] == ["passed", "failed", "not_applicable", "not_applicable", "not_applicable"]


async def test_a_deregistered_applicant_unit_is_returned_and_a_suspended_one_goes_to_a_reviewer(prequal_db: Database) -> None:
    ended, resting, active = (valid_uscc(random.Random(seed)) for seed in (11, 12, 13))
    for uscc, status in ((ended, "deregistered"), (resting, "suspended"), (active, "active")):
        await apply(prequal_db, changed(uscc, f"上海{status}有限公司", NOW, status=status))
    batch = [submission({"applicant_uscc": ended}, matter="LR-XK-008"),  # any matter, a name field or not
             submission({"applicant_uscc": resting.lower()}, matter="LR-XK-007"),
             submission({"applicant_uscc": active}, matter="LR-XK-002"),
             submission({"applicant_uscc": valid_uscc(random.Random(6))}, matter="LR-XK-002"),  # no data known
             submission({"applicant_type": "individual", "applicant_uscc": ended}, matter="LR-XK-010"),
             submission({"applicant_uscc": "坏代码"}, matter="LR-XK-002")]
    async with prequal_db.session() as session:
        alone = [await business.business_status_result(session, s) for s in batch]
        held = await business.known_businesses(session, {c for s in batch if (c := business.applicant_code(s))})
    assert [business.status_outcome(s, held.get(business.applicant_code(s) or "")) for s in batch] == alone
    assert [(r.outcome, r.severity) for r in alone] == [
        ("failed", "blocking"), ("failed", "warning"), ("passed", "blocking"), ("not_applicable", "blocking"),
        ("not_applicable", "blocking"), ("not_applicable", "blocking")]
    assert all(r.rule_id == business.STATUS_RULE and r.targets == ["form.applicant_uscc"] for r in alone)
    assert ended in alone[0].message_zh and "注销" in alone[0].message_zh and "deregistered" in alone[0].message_en
    assert alone[0].finding_code == "compare-business-status" and verdict_of([alone[0]]) == "returned"
    assert "歇业" in alone[1].message_zh and verdict_of([alone[1]]) == "needs_human_review"
