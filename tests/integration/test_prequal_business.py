"""The applicant's name against business data (数据比对) through the gateway: ops import registered
businesses into svc-matters, which publishes them; svc-prequal keeps them (read model) and compares the
name a form gives for a credit code, pre-fills a company's own registered data, and the dry-run check
shows the comparison's problems with the real verdict's messages, writing nothing."""
from __future__ import annotations

import random
from typing import Any

import httpx
import pytest

from support import all_materials, bearer, eventually, matter, valid_form, valid_uscc, wait_status

pytestmark = pytest.mark.integration

ORG = "91310115MA1H7GXQ3E"  # the org code of the demo account applicant-company
# As the benefits test registers it too, so either test may run first.
REGISTERED = "上海演示绿化工程有限公司洗车场"
RULE = "compare.business_name"


def registration(uscc: str, name: str) -> dict[str, Any]:
    return {"uscc": uscc, "name": name, "business_scope": "绿化工程；洗车服务", "district": "上海市浦东新区",
            "address": "浦东新区张江路100号", "status": "active",
            "licences": [{"type": "营业执照", "number": f"BL-{uscc}", "valid_until": None, "issued_on": "2024-03-01"}]}


async def submit(client: httpx.AsyncClient, tok: str, form: dict[str, Any], materials: dict[str, Any],
                 wanted: str) -> dict[str, Any]:
    r = await client.post("/v1/applications", json={"matter_code": "LR-BA-001", "form": form, "materials": materials},
                          headers=bearer(tok))
    assert r.status_code == 201, r.text
    await wait_status(client, tok, r.json()["id"], {wanted})
    review = await client.get(f"/v1/prequal/reviews/{r.json()['id']}", headers=bearer(tok))
    assert review.status_code == 200, review.text
    return review.json()


def name_result(review: dict[str, Any]) -> dict[str, Any]:
    [got] = [x for x in review["results"] if x["rule_id"] == RULE]
    return got


async def check(client: httpx.AsyncClient, tok: str, form: dict[str, Any], materials: dict[str, Any]) -> httpx.Response:
    return await client.post("/v1/prequal/check", json={"matter_code": "LR-BA-001", "form": form, "materials": materials},
                             headers=bearer(tok))


PREQUAL_TABLES = ("verdicts", "known_applications", "prefill_submissions", "prefills", "known_businesses", "outbox",
                  "audit_log", "shadow_verdicts")


async def counts(suite) -> dict[str, int]:
    conn = await suite.db("prequal")
    try:
        return {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in PREQUAL_TABLES}  # fixed names
    finally:
        await conn.close()


async def test_the_name_is_compared_with_the_business_data(suite, client, token) -> None:
    ops, company = await token("ops"), await token("applicant-company")
    washing = await matter(client, company, "LR-BA-001")
    mats = await all_materials(client, company, washing)
    rng = random.Random()
    other, unknown = valid_uscc(rng), valid_uscc(rng)
    imported = await client.post("/v1/benefits/businesses", headers=bearer(ops),
                                 json=[registration(ORG, REGISTERED), registration(other, "上海绿意（浦东）汽车服务有限公司")])
    assert imported.status_code == 200 and imported.json()["accepted"] == 2, imported.text

    def form(uscc: str, name: str, seed: int) -> dict[str, Any]:
        return valid_form(washing, seed) | {"applicant_uscc": uscc, "business_name": name}

    # A code nobody registered: pre-reviewed as usual, the result says the name was not compared.
    first = await submit(client, company, form(unknown, "上海随便什么有限公司", 61), mats, "prereviewed")
    got = name_result(first)
    assert got["outcome"] == "not_applicable" and unknown in got["message_zh"] and "not compared" in got["message_en"]

    # The other company's data reaches the pre-review through the bus.
    async def other_company_checked() -> dict[str, Any]:
        r = await check(client, company, form(other, "上海错误名称有限公司", 62), mats)
        assert r.status_code == 200, r.text
        return r.json()

    async def own_company_checked() -> dict[str, Any]:
        r = await check(client, company, form(ORG, REGISTERED, 62), mats)
        assert r.status_code == 200, r.text
        return r.json()

    # Other tests register the demo company too: wait for this import's name, not just any.
    for probe, outcome in ((other_company_checked, "failed"), (own_company_checked, "passed")):
        await eventually(probe, lambda body, outcome=outcome: any(x["rule_id"] == RULE and x["outcome"] == outcome
                                                                  for x in body["results"]),
                         "the imported businesses known to the pre-review")

    # A wrong name for the company's own code: returned for correction, told the registered name.
    wrong = await submit(client, company, form(ORG, "上海演示洗车场", 63), mats, "returned")
    got = name_result(wrong)
    assert (got["outcome"], got["severity"]) == ("failed", "blocking")
    assert REGISTERED in got["message_zh"] and "上海演示洗车场" in got["message_zh"] and REGISTERED in got["message_en"]
    [finding] = [f for f in wrong["findings"] if f["rule_id"] == "compare-business-name"]
    assert finding["target"] == "form.business_name" and finding["message_zh"] == got["message_zh"]
    assert wrong["verdict"] == "returned"

    # The registered name, written with half-width brackets and a space, passes.
    right = await submit(client, company, form(other, "上海绿意 (浦东) 汽车服务有限公司", 64), mats, "prereviewed")
    assert name_result(right)["outcome"] == "passed"

    # Another company's code with a wrong name: returned, without telling what is registered under it.
    stranger = await submit(client, company, form(other, "上海错误名称有限公司", 65), mats, "returned")
    got = name_result(stranger)
    assert got["outcome"] == "failed" and "绿意" not in got["message_zh"] + got["message_en"]
    assert "上海错误名称有限公司" in got["message_zh"] and "check the name and the credit code" in got["message_en"]

    # Trying the active rule set again on recent applications keeps the comparison they got: the wrong
    # names are still returned, not "changed" by a rule set that did not change.
    reviewer = await token("reviewer")
    versions = (await client.get("/v1/prequal/rulesets", params={"matter": "LR-BA-001"}, headers=bearer(reviewer))).json()
    [active] = [v["version"] for v in versions["items"] if v["status"] == "active"]
    tried = await client.post(f"/v1/prequal/rulesets/LR-BA-001/versions/{active}/test", headers=bearer(reviewer))
    assert tried.status_code == 200, tried.text
    again = {a["application_id"]: a for a in tried.json()["applications"]}
    for review in (wrong, stranger):
        entry = again[review["application_id"]]
        assert (entry["verdict_then"], entry["verdict_now"], entry["changed"]) == ("returned", "returned", False)
        assert RULE in entry["failed_rules"]
    assert again[right["application_id"]]["verdict_now"] == "passed"


async def register_demo_company(client: httpx.AsyncClient, token) -> dict[str, Any]:
    """Import the demo company's registration (other tests import it too, differently) and wait until the
    pre-review holds this import's data; returns the company's pre-fill of LR-BA-001 then."""
    ops, company, person = await token("ops"), await token("applicant-company"), await token("applicant-person")
    r = await client.post("/v1/benefits/businesses", headers=bearer(ops), json=[registration(ORG, REGISTERED)])
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    washing = await matter(client, person, "LR-BA-001")
    # So the pre-review knows the matter's form.
    await submit(client, person, valid_form(washing, 71), await all_materials(client, person, washing), "prereviewed")

    async def company_prefill() -> dict[str, Any]:
        r = await client.post("/v1/prequal/prefill", json={"matter_code": "LR-BA-001"}, headers=bearer(company))
        assert r.status_code == 200, r.text
        return r.json()

    return await eventually(company_prefill,
                            lambda b: b["fields"].get("address", {}).get("value") == "浦东新区张江路100号"
                            and b["fields"]["address"]["source"] == "business_data", "this import's data pre-filled")


async def test_prefill_from_the_companys_own_business_data(suite, client, token) -> None:
    person = await token("applicant-person")
    body = await register_demo_company(client, token)
    fields = body["fields"]
    for key, value in (("business_name", REGISTERED), ("district", "浦东新区"), ("address", "浦东新区张江路100号")):
        assert fields[key]["value"] == value, key
        assert (fields[key]["source"], fields[key]["source_ref"]) == ("business_data", f"business:{ORG}"), key
        assert fields[key]["as_of"] and fields[key]["observed_at"], key
    assert (fields["applicant_uscc"]["value"], fields["applicant_uscc"]["source"]) == (ORG, "profile")

    # A person acts for no company: nothing of any business data.
    mine = (await client.post("/v1/prequal/prefill", json={"matter_code": "LR-BA-001"}, headers=bearer(person))).json()
    assert all(f["source"] != "business_data" for f in mine["fields"].values())
    assert REGISTERED not in str(mine)


async def test_check_shows_the_comparison_problems_and_writes_nothing(suite, client, token) -> None:
    company = await token("applicant-company")
    await register_demo_company(client, token)
    washing = await matter(client, company, "LR-BA-001")
    mats = await all_materials(client, company, washing)
    draft = valid_form(washing, 81) | {"applicant_uscc": ORG, "business_name": "上海演示洗车场"}

    # The real verdict of this form, for its messages; it stays open, so the same place again is a duplicate.
    review = await submit(client, company, draft, mats, "returned")
    before = await counts(suite)

    with_licences = {**mats, "business_licence": {"kind": "licence"}, "drainage_permit": {"kind": "licence",
                                                                                          "licence_id": "lic-unknown"}}
    r = await check(client, company, draft, with_licences)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["verdict"] == "returned"
    results = {x["rule_id"]: x for x in body["results"]}
    assert results[RULE] == name_result(review)  # the same result, message and all, as the real verdict
    assert results["compare.licence.business_licence"]["outcome"] == "failed"
    assert "未注明证照编号" in results["compare.licence.business_licence"]["message_zh"]
    unknown_licence = results["compare.licence.drainage_permit"]
    assert unknown_licence["outcome"] == "not_applicable" and "lic-unknown" in unknown_licence["message_zh"]
    duplicate = results["compare.open_application"]
    assert duplicate["outcome"] == "failed" and review["application_id"] in duplicate["message_zh"]
    problems = {p["rule_id"]: p for p in body["problems"]}
    assert {"compare-business-name", "compare-licence", "compare-duplicate"} <= set(problems)
    assert problems["compare-business-name"]["message_en"] == name_result(review)["message_en"]

    # The right name and another place: no comparison problem left.
    fixed = draft | {"business_name": REGISTERED.replace("公司", "公司 "), "address": "浦东新区检查路1号"}
    ok = (await check(client, company, fixed, mats)).json()
    assert ok["verdict"] == "passed" and ok["problems"] == []
    assert {x["rule_id"]: x["outcome"] for x in ok["results"] if x["rule_id"].startswith("compare.")} == {
        "compare.licence": "not_applicable", RULE: "passed", "compare.business_status": "passed",
        "compare.licence_held": "not_applicable", "compare.open_application": "passed"}
    assert await counts(suite) == before  # the dry-run wrote nothing


@pytest.mark.parametrize(("body", "status"), [
    ({"matter_code": "LR-BA-001", "form": {}, "materials": {"business_licence": {"kind": "licence", "licence_id": 7}}}, 422),
    ({"matter_code": "LR-ZZ-999", "form": {}, "materials": {"m": {"kind": "licence", "licence_id": ["a"]}}}, 422),
    ({"matter_code": "LR-BA-001", "form": [], "materials": {}}, 422),
    ({"matter_code": "X" * 33, "form": {}}, 422),
])
async def test_bad_checks_are_refused_and_write_nothing(suite, client, token, body: dict[str, Any], status: int) -> None:
    company = await token("applicant-company")
    before = await counts(suite)
    r = await client.post("/v1/prequal/check", json=body, headers=bearer(company))
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await counts(suite) == before


async def test_a_check_of_a_strange_name_or_code_is_not_compared(suite, client, token) -> None:
    company = await token("applicant-company")
    for form in ({"applicant_uscc": 91310115, "business_name": REGISTERED}, {"applicant_uscc": ORG, "business_name": 42},
                 {"applicant_uscc": "不是代码", "business_name": REGISTERED},
                 {"applicant_uscc": ORG + "X" * 500, "business_name": REGISTERED}):
        r = await check(client, company, form, {})
        assert r.status_code == 200, r.text
        [got] = [x for x in r.json()["results"] if x["rule_id"] == RULE]
        assert (got["outcome"], got["message_zh"]) == ("not_applicable", None), (form, got)
        assert r.json()["verdict"] == "returned"  # the rules say what is malformed


async def test_a_deregistered_applicant_unit_is_returned_for_any_matter(client, token) -> None:
    """The registration status of the applicant unit a form declares (compare.business_status): a business
    ops import as deregistered (注销) cannot apply — the dry run and the submission say so."""
    ops, company = await token("ops"), await token("applicant-company")
    trees = await matter(client, company, "LR-XK-008")
    ended = valid_uscc(random.Random())
    imported = await client.post("/v1/benefits/businesses", headers=bearer(ops),
                                 json=[registration(ended, "上海已注销绿化有限公司") | {"status": "deregistered"}])
    assert imported.status_code == 200 and imported.json()["accepted"] == 1, imported.text
    form = valid_form(trees, 71) | {"applicant_uscc": ended}
    materials = await all_materials(client, company, trees)

    async def probe() -> dict[str, Any]:
        r = await client.post("/v1/prequal/check", json={"matter_code": "LR-XK-008", "form": form, "materials": materials},
                              headers=bearer(company))
        assert r.status_code == 200, r.text
        return dict(r.json())

    body = await eventually(probe, lambda b: b["verdict"] == "returned", "the business data reached the pre-review")
    [problem] = body["problems"]
    assert problem["rule_id"] == "compare-business-status" and ended in problem["message_zh"] and "注销" in problem["message_zh"]
    r = await client.post("/v1/applications", json={"matter_code": "LR-XK-008", "form": form, "materials": materials},
                          headers=bearer(company))
    assert r.status_code == 201, r.text
    await wait_status(client, company, r.json()["id"], {"returned"})
