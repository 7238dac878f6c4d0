"""A licence revoked through svc-licences is flagged by the pre-review (智能预审), from the events alone:
svc-prequal's read model of licences (``kit.licence_read_model``) learns the revocation from
``lvrong.licences.licence.status_changed`` and its comparison (数据比对, ``compare.licence.*``) fails the
material the licence was given for, as it passes it while the licence is in force.

The pre-review here is the dry run of the application (``POST /v1/prequal/check``), with the same
checks and messages as a submission's: a submission citing a revoked licence is refused by svc-matters
before any pre-review (tests/integration/test_licence_exemptions.py), so only the dry run can show the
pre-review's own verdict on it. The processes run as in production; nothing is written by hand.
"""
from __future__ import annotations

from typing import Any

import httpx
import pytest

from support import bearer, issue_quarantine_document, matter, valid_form, wait_licence_known

pytestmark = pytest.mark.integration

MATTER = "LR-XK-001"  # 植物检疫证书
EXEMPTED = "destination_requirement"  # a 林业有害生物调运检疫要求书 may stand in for it
RULE = f"compare.licence.{EXEMPTED}"


async def dry_run(client: httpx.AsyncClient, tok: str, licence_id: str) -> dict[str, Any]:
    m = await matter(client, tok, MATTER)
    r = await client.post("/v1/prequal/check", headers=bearer(tok), json={
        "matter_code": MATTER, "form": valid_form(m, 77),
        "materials": {EXEMPTED: {"kind": "licence", "licence_id": licence_id}}})
    assert r.status_code == 200, r.text
    return r.json()


async def test_a_licence_revoked_through_svc_licences_is_flagged_by_the_pre_review(suite, client, token) -> None:
    officer, reviewer, person = await token("officer"), await token("reviewer"), await token("applicant-person")
    issued = await issue_quarantine_document(client, officer, "u-applicant-person", seed=77)
    await wait_licence_known(suite, "prequal", issued["id"], "active")

    before = {x["rule_id"]: x for x in (await dry_run(client, person, issued["id"]))["results"]}
    assert before[RULE]["outcome"] == "passed"

    r = await client.post(f"/v1/licences/{issued['id']}/revoke", json={"reason": "以欺骗手段取得"},
                          headers=bearer(reviewer))
    assert r.status_code == 200, r.text
    await wait_licence_known(suite, "prequal", issued["id"], "revoked")

    after = await dry_run(client, person, issued["id"])
    result = next(x for x in after["results"] if x["rule_id"] == RULE)
    assert (result["outcome"], result["severity"], result["targets"]) == ("failed", "blocking", [f"materials.{EXEMPTED}"])
    assert "已被撤销" in result["message_zh"] and "has been revoked" in result["message_en"]
    assert issued["licence_number"] in result["message_zh"]
    assert after["verdict"] == "returned"
    problem = next(p for p in after["problems"] if p["target"] == f"materials.{EXEMPTED}")
    assert (problem["rule_id"], problem["severity"]) == ("compare-licence", "blocking")
    assert problem["message_zh"] == result["message_zh"]
