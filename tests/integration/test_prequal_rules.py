"""Review rules as data (审查规则指标化) through the gateway: per-rule results of a review, the
dry-run check of a draft, and the life of a rule-set version (create, test, publish, retire)."""
from __future__ import annotations

import datetime as dt
import uuid

import httpx
import pytest

from support import all_materials, bearer, matter, submit_for_verdict, valid_form, wait_status

pytestmark = pytest.mark.integration






async def test_a_returned_application_shows_every_rule_result(client: httpx.AsyncClient, token) -> None:
    tok = await token("applicant-company")
    m = await matter(client, tok, "LR-XK-007")
    form = valid_form(m, 11)
    form["end_date"] = (dt.date.fromisoformat(form["start_date"]) + dt.timedelta(days=900)).isoformat()
    required = next(x["code"] for x in m["materials"] if x["required"])
    materials = {k: v for k, v in (await all_materials(client, tok, m)).items() if k != required}
    done = await submit_for_verdict(client, tok, m, form, materials)
    assert done["status"] == "returned"

    r = await client.get(f"/v1/prequal/reviews/{done['id']}", headers=bearer(tok))
    assert r.status_code == 200, r.text
    review = r.json()
    # version 2 (revision 0013): the period is the one 《上海市绿化条例》 allows, with the article cited
    assert review["verdict"] == "returned" and review["ruleset"] == "LR-XK-007@v2" and review["ruleset_version"] == 2
    outcomes = {x["rule_id"]: x for x in review["results"]}
    assert outcomes["law.max_period"]["outcome"] == "failed" and "1年" in outcomes["law.max_period"]["message_zh"]
    assert outcomes[f"material.{required}"]["outcome"] == "failed"
    assert outcomes["dates.order"]["outcome"] == "passed"
    assert all(x["outcome"] in ("passed", "not_applicable") for k, x in outcomes.items()
               if k not in ("law.max_period", f"material.{required}"))
    assert {f["target"] for f in review["findings"]} == {"form.end_date", f"materials.{required}"}

    staff = await client.get(f"/v1/prequal/reviews/{done['id']}", headers=bearer(await token("reviewer")))
    assert staff.status_code == 200
    other = await client.get(f"/v1/prequal/reviews/{done['id']}", headers=bearer(await token("applicant-person")))
    assert other.status_code == 404


async def test_check_dry_run_lists_every_problem(client: httpx.AsyncClient, token) -> None:
    tok = await token("applicant-person")
    m = await matter(client, tok, "LR-XK-007")  # known to the pre-review from the catalogue's events

    r = await client.post("/v1/prequal/check", json={"matter_code": "LR-XK-007", "form": {"district": "苏州市"},
                                                      "materials": {}}, headers=bearer(tok))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["verdict"] == "returned"
    problems = {(p["target"], p["rule_id"]) for p in body["problems"]}
    required_fields = {f["key"] for f in m["fields"] if f.get("required")}
    assert {t for t, _ in problems if t.startswith("form.")} >= {f"form.{k}" for k in required_fields - {"district"}}
    assert ("form.district", "format-district") in problems
    assert {t for t, _ in problems if t.startswith("materials.")} == {f"materials.{x['code']}" for x in m["materials"]
                                                                    if x["required"]}
    assert all(p["message_zh"] and p["message_en"] for p in body["problems"])

    ok = await client.post("/v1/prequal/check", json={"matter_code": "LR-XK-007", "form": valid_form(m, 3),
                                                       "materials": {x["code"]: "m" for x in m["materials"]}},
                           headers=bearer(tok))
    assert ok.status_code == 200 and ok.json()["verdict"] == "passed" and ok.json()["problems"] == []
    unknown = await client.post("/v1/prequal/check", json={"matter_code": "LR-ZZ-999", "form": {}}, headers=bearer(tok))
    assert unknown.status_code == 404 and "LR-ZZ-999" in unknown.json()["detail"]


async def test_ruleset_create_test_publish_changes_later_verdicts(client: httpx.AsyncClient, token) -> None:
    reviewer, applicant = await token("reviewer"), await token("applicant-person")
    m = await matter(client, applicant, "LR-XK-008")
    form = valid_form(m, 21)
    form["tree_count"] = 20
    mats = await all_materials(client, applicant, m)
    assert (await submit_for_verdict(client, applicant, m, form, mats))["status"] == "prereviewed"

    listing = await client.get("/v1/prequal/rulesets", params={"matter": "LR-XK-008"}, headers=bearer(reviewer))
    assert listing.status_code == 200
    assert [(x["version"], x["status"]) for x in listing.json()["items"]] == [(1, "retired"), (2, "active")]
    current = (await client.get("/v1/prequal/rulesets/LR-XK-008/versions/2", headers=bearer(reviewer))).json()

    new_rule = {"id": "trees.batch_limit", "targets": ["form.tree_count"], "when": "has(form.tree_count)",
                "expr": "form.tree_count <= 10.0", "severity": "blocking",
                "message_zh": "一次申请迁移树木不超过10株，请分批申请", "message_en": "apply for at most 10 trees at a time",
                "legal_basis": "《上海市绿化条例》",
                "examples": {"pass": [{"form": {"tree_count": 10}}], "fail": [{"form": {"tree_count": 11}}]}}
    forbidden = await client.post("/v1/prequal/rulesets/LR-XK-008", json={"rules": [new_rule]}, headers=bearer(applicant))
    assert forbidden.status_code == 403
    bad = await client.post("/v1/prequal/rulesets/LR-XK-008",
                            json={"rules": [{**new_rule, "expr": "form.tree_count <= "}]}, headers=bearer(reviewer))
    assert bad.status_code == 422, bad.text
    assert "trees.batch_limit" in bad.json()["detail"] and "line 1, column" in bad.json()["detail"]

    key = {"Idempotency-Key": uuid.uuid4().hex}
    created = await client.post("/v1/prequal/rulesets/LR-XK-008", json={"rules": [*current["rules"], new_rule]},
                                headers=bearer(reviewer) | key)
    assert created.status_code == 201, created.text
    version = created.json()["version"]
    assert version == 3 and created.json()["status"] == "draft"
    replayed = await client.post("/v1/prequal/rulesets/LR-XK-008", json={"rules": [*current["rules"], new_rule]},
                                 headers=bearer(reviewer) | key)  # a retry: the same draft, no second one
    assert replayed.status_code == 201 and replayed.json() == created.json()
    reused = await client.post("/v1/prequal/rulesets/LR-XK-008", json={"rules": current["rules"]},
                               headers=bearer(reviewer) | key)
    assert reused.status_code == 422 and reused.json()["status"] == 422

    tested = await client.post(f"/v1/prequal/rulesets/LR-XK-008/versions/{version}/test", headers=bearer(reviewer))
    assert tested.status_code == 200, tested.text
    assert tested.json()["examples_passed"] is True
    assert tested.json()["changed"] >= 1
    assert any(a["verdict_now"] == "returned" and "trees.batch_limit" in a["failed_rules"]
               for a in tested.json()["applications"])

    published = await client.post(f"/v1/prequal/rulesets/LR-XK-008/versions/{version}/publish", headers=bearer(reviewer))
    assert published.status_code == 200 and published.json()["status"] == "active"
    listing = (await client.get("/v1/prequal/rulesets", params={"matter": "LR-XK-008"}, headers=bearer(reviewer))).json()
    assert [(x["version"], x["status"]) for x in listing["items"]] == [(1, "retired"), (2, "retired"), (3, "active")]
    try:
        form = valid_form(m, 21) | {"tree_count": 20}  # another place: not a second application for the same trees
        done = await submit_for_verdict(client, applicant, m, form, mats)
        assert done["status"] == "returned"
        review = (await client.get(f"/v1/prequal/reviews/{done['id']}", headers=bearer(applicant))).json()
        assert review["ruleset"] == "LR-XK-008@v3"
        assert [f["rule_id"] for f in review["findings"]] == ["trees.batch_limit"]
        form = valid_form(m, 21) | {"tree_count": 3}
        assert (await submit_for_verdict(client, applicant, m, form, mats))["status"] == "prereviewed"
    finally:
        back = await client.post("/v1/prequal/rulesets/LR-XK-008/versions/2/publish", headers=bearer(reviewer))
        assert back.status_code == 200 and back.json()["status"] == "active"
    retired = await client.post(f"/v1/prequal/rulesets/LR-XK-008/versions/{version}/retire", headers=bearer(reviewer))
    assert retired.status_code == 200 and retired.json()["status"] == "retired"


async def test_a_warning_sends_the_application_to_the_officer_not_back_to_the_applicant(client, token) -> None:
    reviewer, applicant, officer = await token("reviewer"), await token("applicant-company"), await token("officer")
    m = await matter(client, applicant, "LR-XK-005")
    current = (await client.get("/v1/prequal/rulesets/LR-XK-005/versions/2", headers=bearer(reviewer))).json()
    warning = {"id": "shop.name_detail", "targets": ["form.shop_name"], "when": "has(form.shop_name)",
               "expr": "size(form.shop_name) >= 6", "severity": "warning",
               "message_zh": "店招名称较短，请核对是否为登记的全称", "message_en": "the shop name is short: check it is the registered name",
               "legal_basis": "《上海市户外招牌设置管理办法》",
               "examples": {"pass": [{"form": {"shop_name": "上海演示绿化商店"}}], "fail": [{"form": {"shop_name": "演示"}}]}}
    created = await client.post("/v1/prequal/rulesets/LR-XK-005", json={"rules": [*current["rules"], warning]},
                                headers=bearer(reviewer))
    assert created.status_code == 201, created.text
    version = created.json()["version"]
    assert (await client.post(f"/v1/prequal/rulesets/LR-XK-005/versions/{version}/publish",
                              headers=bearer(reviewer))).status_code == 200
    try:
        form = valid_form(m, 31)
        form["shop_name"] = "演示"
        done = await submit_for_verdict(client, applicant, m, form, await all_materials(client, applicant, m))
        assert done["status"] == "prereviewed", done["last_step"]
        step = done["last_step"]
        assert step["details"]["needs_human_review"] is True and step["details"]["verdict"] == "needs_human_review"
        assert "店招名称较短" in step["reason"]
        assert (await client.post(f"/v1/applications/{done['id']}/actions/accept", json={"reason": "已人工核对"},
                                  headers=bearer(officer))).status_code == 200
    finally:
        back = await client.post("/v1/prequal/rulesets/LR-XK-005/versions/2/publish", headers=bearer(reviewer))
        assert back.status_code == 200


async def test_the_substantive_rules_return_what_the_law_does_not_allow(client: httpx.AsyncClient, token) -> None:
    """Version 2's rules of a matter's legal basis (prequal.service.substantive), as a front end meets them:
    the dry run names the provision's problem in Chinese and English, a submission is returned with it, and
    the correction (补正) passes."""
    tok = await token("applicant-company")
    m = await matter(client, tok, "LR-XK-012")
    private = valid_form(m, 61) | {"green_space_type": "park", "public_facility": False}
    r = await client.post("/v1/prequal/check", json={"matter_code": "LR-XK-012", "form": private,
                                                      "materials": {x["code"]: "m" for x in m["materials"]}},
                          headers=bearer(tok))
    assert r.status_code == 200, r.text
    assert r.json()["verdict"] == "returned" and r.json()["ruleset_version"] == 2
    [problem] = r.json()["problems"]
    assert problem["rule_id"] == "law-public-green-only-for-public-works" and problem["target"] == "form.public_facility"
    assert "公共服务设施" in problem["message_zh"] and "public-service" in problem["message_en"]

    wash = await matter(client, tok, "LR-BA-001")
    mats = await all_materials(client, tok, wash)
    done = await submit_for_verdict(client, tok, wash, valid_form(wash, 62) | {"water_recycling": False}, mats)
    assert done["status"] == "returned"
    review = (await client.get(f"/v1/prequal/reviews/{done['id']}", headers=bearer(tok))).json()
    assert [(f["rule_id"], f["target"]) for f in review["findings"]] == [("law-water-recycling", "form.water_recycling")]
    fixed = await client.post(f"/v1/applications/{done['id']}/actions/supplement",
                              json={"form": {"water_recycling": True}}, headers=bearer(tok))
    assert fixed.status_code == 200, fixed.text
    await wait_status(client, tok, done["id"], {"prereviewed"})
