"""Shadow mode of a rule-set version and the automatic data comparison (数据比对) through the gateway:
a draft in shadow sees every new submission without changing its verdict, and its report shows where it
disagrees; a second open application for the same object goes to the officer with the comparison's message."""
from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from support import all_materials, bearer, matter, submit_for_verdict, valid_form

pytestmark = pytest.mark.integration

MATTER = "LR-XK-006"






def unique_form(m: dict[str, Any], seed: int, **values: Any) -> dict[str, Any]:
    form = valid_form(m, seed)
    form["address"] = f"上海市浦东新区影子路{uuid.uuid4().hex[:8]}号"  # another object each time
    return {**form, **values}


AREA_RULE = {"id": "ad.area_limit", "targets": ["form.area_m2"], "when": "has(form.area_m2)",
             "expr": "form.area_m2 <= 10.0", "severity": "blocking",
             "message_zh": "户外广告设施面积不得超过10平方米", "message_en": "an outdoor advertising facility is at most 10 m²",
             "legal_basis": "《上海市户外广告设施管理办法》",
             "examples": {"pass": [{"form": {"area_m2": 10}}], "fail": [{"form": {"area_m2": 11}}]}}


async def test_a_draft_in_shadow_reports_disagreements_without_changing_verdicts(client: httpx.AsyncClient,
                                                                                  token) -> None:
    reviewer, ops, applicant = await token("reviewer"), await token("ops"), await token("applicant-company")
    m = await matter(client, applicant, MATTER)
    mats = await all_materials(client, applicant, m)
    current = (await client.get(f"/v1/prequal/rulesets/{MATTER}/versions/2", headers=bearer(reviewer))).json()
    draft = await client.post(f"/v1/prequal/rulesets/{MATTER}", json={"rules": [*current["rules"], AREA_RULE]},
                              headers=bearer(reviewer))
    assert draft.status_code == 201, draft.text
    version = draft.json()["version"]
    base = f"/v1/prequal/rulesets/{MATTER}/versions/{version}"

    for who in ("applicant-company", "officer"):
        tok = await token(who)
        assert (await client.post(base + "/shadow", headers=bearer(tok))).status_code == 403
        assert (await client.get(base + "/shadow-report", headers=bearer(tok))).status_code == 403
        assert (await client.post(base + "/unshadow", headers=bearer(tok))).status_code == 403
    active = await client.post(f"/v1/prequal/rulesets/{MATTER}/versions/2/shadow", headers=bearer(reviewer))
    assert active.status_code == 409 and active.json()["status"] == 409 and active.json()["status_now"] == "active"
    assert [a["action"] for a in active.json()["allowed_actions"]] == ["publish", "retire", "unshadow"]
    assert (await client.post(f"/v1/prequal/rulesets/{MATTER}/versions/999/shadow", headers=bearer(reviewer))).status_code == 404

    started = await client.post(base + "/shadow", headers=bearer(reviewer))
    assert started.status_code == 200, started.text
    assert started.json()["in_shadow"] is True and started.json()["started_by"]
    again = await client.post(base + "/shadow", headers=bearer(ops))  # idempotent, ops may too
    assert again.status_code == 200 and again.json()["in_shadow"] is True
    other = await client.post(f"/v1/prequal/rulesets/{MATTER}", json={"rules": current["rules"]}, headers=bearer(reviewer))
    second = await client.post(f"/v1/prequal/rulesets/{MATTER}/versions/{other.json()['version']}/shadow",
                               headers={**bearer(reviewer), "Accept-Language": "en"})
    assert second.status_code == 409 and "one shadow per matter" in second.json()["detail"]
    try:
        big = await submit_for_verdict(client, applicant, m, unique_form(m, 41, area_m2=20.0), mats)
        small = await submit_for_verdict(client, applicant, m, unique_form(m, 42, area_m2=2.0), mats)
        assert big["status"] == "prereviewed" and small["status"] == "prereviewed"  # the active verdict stands
        review = (await client.get(f"/v1/prequal/reviews/{big['id']}", headers=bearer(applicant))).json()
        assert review["verdict"] == "passed" and review["ruleset"] == f"{MATTER}@v2"
        assert "ad.area_limit" not in {x["rule_id"] for x in review["results"]}

        report = await client.get(base + "/shadow-report", headers=bearer(ops))
        assert report.status_code == 200, report.text
        body = report.json()
        assert body["in_shadow"] is True
        assert (body["evaluated"], body["agreed"], body["disagreed"]) == (2, 1, 1)
        assert body["by_verdicts"] == [{"active_verdict": "passed", "shadow_verdict": "returned", "count": 1}]
        assert body["by_rule"] == [{"rule_id": "ad.area_limit", "count": 1}]
        [row] = body["disagreements"]
        assert row["application_id"] == big["id"] and row["attempt"] == 1 and row["active_ruleset"] == f"{MATTER}@v2"
        assert (row["active_verdict"], row["shadow_verdict"]) == ("passed", "returned")
        assert row["differing_rules"] == [{"rule_id": "ad.area_limit", "active": "absent", "shadow": "failed"}]
    finally:
        stopped = await client.post(base + "/unshadow", headers=bearer(reviewer))
        assert stopped.status_code == 200 and stopped.json()["in_shadow"] is False
    await submit_for_verdict(client, applicant, m, unique_form(m, 43, area_m2=30.0), mats)
    after = (await client.get(base + "/shadow-report", headers=bearer(reviewer))).json()
    assert after["in_shadow"] is False and after["evaluated"] == 2  # no longer evaluated; the report stays
    for v in (version, other.json()["version"]):
        assert (await client.post(f"/v1/prequal/rulesets/{MATTER}/versions/{v}/retire", headers=bearer(reviewer))).status_code == 200


async def test_a_second_open_application_for_the_same_object_is_flagged_for_the_officer(client: httpx.AsyncClient, token) -> None:
    applicant = await token("applicant-company")
    m = await matter(client, applicant, "LR-XK-007")
    mats = await all_materials(client, applicant, m)
    form = valid_form(m, 51)
    form["address"] = f"上海市浦东新区世纪公园{uuid.uuid4().hex[:6]}号绿地"
    first = await submit_for_verdict(client, applicant, m, form, mats)
    assert first["status"] == "prereviewed", first.get("last_step")

    second = await submit_for_verdict(client, applicant, m, {**form, "area_m2": form["area_m2"] + 1}, mats)
    # Flagged, not turned away: the window officer sees the other application and decides at acceptance.
    assert second["status"] == "prereviewed" and second["last_step"]["details"]["needs_human_review"] is True
    assert first["id"] in second["last_step"]["reason"]
    review = (await client.get(f"/v1/prequal/reviews/{second['id']}", headers=bearer(applicant))).json()
    [finding] = [f for f in review["findings"] if f["rule_id"] == "compare-duplicate"]
    assert first["id"] in finding["message_zh"] and "重复申报" in finding["message_zh"]
    assert first["id"] in finding["message_en"] and finding["target"] == "form.address"
    outcomes = {x["rule_id"]: x["outcome"] for x in review["results"]}
    assert outcomes["compare.open_application"] == "failed" and outcomes["compare.licence"] == "not_applicable"
    assert all(o in ("passed", "not_applicable") for k, o in outcomes.items() if k != "compare.open_application")
    first_review = (await client.get(f"/v1/prequal/reviews/{first['id']}", headers=bearer(applicant))).json()
    assert {x["rule_id"]: x["outcome"] for x in first_review["results"]}["compare.open_application"] == "passed"
