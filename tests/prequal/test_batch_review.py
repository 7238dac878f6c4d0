"""The pre-review of a batch of submissions in one transaction (the consumer's batch handler,
``events.on_submitted_batch``) against one at a time (``events.on_submitted``), each on its own real
database: every application gets the same verdict, results per rule, rule-set version, shadow verdict,
数据比对 results, verdict event and read-model rows — with the cases a batch makes hard: two
applications of one subject for one object (the later one warned about the earlier), two attempts of one
application, the same submission published twice, a licence given for a material, a shadow version."""
from __future__ import annotations

import copy
import datetime as dt
import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from kit.contracts import ApplicationSubmitted, MatterRequirements
from kit.contracts.licences import LicenceIssued
from kit.db import Database
from kit.events import CloudEvent, outbox
from prequal import events
from prequal.models import KnownApplication, RuleSet, RuleSetShadow, ShadowVerdict, SubmissionSeen, Verdict
from prequal.service import compare
from prequal.service.rules import LATEST_SHIPPED, shipped_rulesets
from support import scratch_service_database, valid_form

CATALOGUE = json.loads((Path(__file__).parents[2] / "svc-matters/src/matters/catalogue/matters.json").read_text("utf-8"))
MATTERS = {m["code"]: m for m in CATALOGUE}
PREFIX = os.environ.get("LVRONG_TEST_DATABASE_PREFIX", "lvrong_itest")
START = dt.datetime(2026, 11, 27, 1, 0, tzinfo=dt.UTC)
SHADOWED = "LR-XK-008"
LICENCE_ID = "lic-" + uuid.uuid4().hex[:12]


@pytest.fixture(scope="module")
async def one_by_one(servers):
    async with scratch_service_database(servers.database_url, "prequal", PREFIX + "_single") as db:
        yield db


@pytest.fixture(scope="module")
async def batched(servers):
    async with scratch_service_database(servers.database_url, "prequal", PREFIX + "_batch") as db:
        yield db


async def prepare(db: Database) -> None:
    """The same starting state: a licence known, and a draft of LR-XK-008 in shadow that refuses any tree."""
    issued = LicenceIssued(licence_id=LICENCE_ID, licence_number="沪绿证0001", licence_type="户外招牌设置许可",
                           application_id=uuid.uuid4().hex, holder_subject="user-0", issued_at=START - dt.timedelta(days=9))
    rules = copy.deepcopy(shipped_rulesets(LATEST_SHIPPED)[SHADOWED]["rules"])
    rules.append({"id": "trees.none", "targets": ["form.tree_count"], "when": "has(form.tree_count)",
                  "expr": "form.tree_count < 1.0", "message_zh": "不得迁移树木", "message_en": "no tree may be moved",
                  "examples": {"pass": [{"form": {"tree_count": 0}}], "fail": [{"form": {"tree_count": 1}}]}})
    async with db.transaction() as session:
        await compare.KNOWN_LICENCES.record_issued(session, issued.envelope(subject=LICENCE_ID))
        session.add(RuleSet(matter_code=SHADOWED, version=LATEST_SHIPPED + 1, status="draft", rules=rules, created_by="test",
                            created_at=START))
        session.add(RuleSetShadow(matter_code=SHADOWED, version=LATEST_SHIPPED + 1, started_by="test", started_at=START))


def submission(code: str, seed: int, at: dt.datetime, *, subject: str | None = None, app_id: str | None = None,
               attempt: int = 1, mistake: int | None = None) -> ApplicationSubmitted:
    matter = MATTERS[code]
    form = valid_form(matter, seed)
    materials: dict[str, Any] = {m["code"]: {"kind": "upload", "material_id": f"m{seed}"} for m in matter["materials"]}
    mistake = seed % 4 if mistake is None else mistake
    if mistake == 1:
        form.pop(next(f["key"] for f in matter["fields"] if f.get("required")), None)
    elif mistake == 2:
        materials.pop(next(m["code"] for m in matter["materials"] if m["required"]), None)
    elif mistake == 3 and matter["materials"]:
        materials[matter["materials"][0]["code"]] = {"kind": "licence", "licence_id": LICENCE_ID}
    return ApplicationSubmitted(
        application_id=app_id or uuid.uuid4().hex[:20], attempt=attempt,
        matter=MatterRequirements(code=code, version=1, kind=matter["kind"], fields=matter["fields"],
                                  materials=matter["materials"]),
        applicant={"subject": subject or f"user-{seed % 3}", "kind": "organisation"}, form=form,
        materials=materials, submitted_at=at)


def the_submissions() -> list[CloudEvent]:
    at = iter(START + dt.timedelta(seconds=i) for i in range(1000))
    batch = [submission(m["code"], seed, next(at)) for seed, m in enumerate(CATALOGUE * 2)]
    # One subject, one matter, one object, twice: the second is warned about the first.
    first = submission("LR-XK-005", 100, next(at), subject="user-dup", mistake=0)
    second = first.model_copy(update={"application_id": uuid.uuid4().hex[:20], "submitted_at": next(at)})
    # Two attempts of one application, the second after a correction.
    app = uuid.uuid4().hex[:20]
    attempt1 = submission(SHADOWED, 101, next(at), app_id=app, mistake=1)
    attempt2 = submission(SHADOWED, 101, next(at), app_id=app, attempt=2, mistake=0)
    batch[5:5] = [first, attempt1]
    batch += [second, attempt2]
    envelopes = [s.envelope(subject=s.application_id) for s in batch]
    # The same submission published again (another event id): it keeps the verdict it got.
    envelopes.append(batch[0].envelope(subject=batch[0].application_id))
    return envelopes


async def state(db: Database) -> dict[str, Any]:
    """What the pre-review left: verdicts, shadow verdicts, verdict events and read models, without the
    fields that differ by nature (row ids, clocks)."""
    async with db.session() as session:
        verdicts = {(v.application_id, v.attempt): (v.verdict, v.findings, v.ruleset, v.ruleset_version, v.results,
                                                    v.inputs, v.matter_code, v.applicant_subject)
                    for v in (await session.scalars(select(Verdict))).all()}
        shadows = {(s.application_id, s.attempt): (s.shadow_version, s.active_ruleset, s.active_verdict,
                                                   s.shadow_verdict, s.results, s.differing_rules)
                   for s in (await session.scalars(select(ShadowVerdict))).all()}
        published = []
        for envelope in (await session.scalars(select(outbox.c.envelope))).all():
            data = dict(envelope["data"])
            data.pop("checked_at")
            published.append((envelope["type"], envelope["subject"], json.dumps(data, sort_keys=True)))
        known = {a.application_id: (a.applicant_key, a.object_key, a.object_label, a.status, a.first_submitted_at)
                 for a in (await session.scalars(select(KnownApplication))).all()}
        seen = {(s.application_id, s.attempt): (s.form, s.materials, s.field_types)
                for s in (await session.scalars(select(SubmissionSeen))).all()}
    return {"verdicts": verdicts, "shadows": shadows, "published": sorted(published), "known": known, "seen": seen}


async def test_a_batch_gets_what_one_at_a_time_gets(one_by_one: Database, batched: Database) -> None:
    envelopes = the_submissions()
    await prepare(one_by_one)
    await prepare(batched)
    for envelope in envelopes:
        async with one_by_one.transaction() as session:
            await events.on_submitted(session, envelope)
    async with batched.transaction() as session:
        await events.on_submitted_batch(session, envelopes)

    alone, together = await state(one_by_one), await state(batched)
    assert together == alone
    # …and what they got is what the cases call for.
    verdicts = alone["verdicts"]
    assert len(verdicts) == len(envelopes) - 1 and len(alone["published"]) == len(envelopes) - 1
    by_rule = {key: {r["rule_id"]: r for r in v[4]} for key, v in verdicts.items()}
    dup_first, dup_second = (json.loads(e.to_json_bytes())["data"]["application_id"] for e in envelopes
                             if e.data["applicant"]["subject"] == "user-dup")
    assert by_rule[dup_first, 1]["compare.open_application"]["outcome"] == "passed"
    assert by_rule[dup_second, 1]["compare.open_application"]["outcome"] == "failed"
    assert verdicts[dup_second, 1][0] == "needs_human_review"  # a warning: the officer decides
    assert dup_first in by_rule[dup_second, 1]["compare.open_application"]["message_en"]
    assert any(r["rule_id"].startswith("compare.licence.") and r["outcome"] == "passed"
               for rules in by_rule.values() for r in rules.values())
    attempts = sorted(k for k in verdicts if k[0] == envelopes[6].data["application_id"])
    assert [k[1] for k in attempts] == [1, 2]
    assert verdicts[attempts[0]][0] == "returned" and verdicts[attempts[1]][0] != "returned"
    assert {k for k in alone["shadows"]} == {k for k in verdicts if verdicts[k][6] == SHADOWED}
    assert any(s[2] != s[3] for s in alone["shadows"].values())  # the shadow version disagrees somewhere
