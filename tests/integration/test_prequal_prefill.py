"""Smart pre-fill (智能预填) and the measures through the gateway: a company's draft filled from its
profile, its earlier applications and its licences (nothing from another applicant), and the measures
(coverage, first-time acceptance, pre-fill and kept-unchanged ratios, wrongly blocked) checked as
deltas against applications this test creates."""
from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from kit.natsauth import NatsClient
from support import all_materials, bearer, connect_nats, eventually, matter, valid_form, wait_status

pytestmark = pytest.mark.integration

ORG = "91310115MA1H7GXQ3E"
SHANGHAI = ZoneInfo("Asia/Shanghai")






async def submit(client: httpx.AsyncClient, tok: str, code: str, form: dict[str, Any],
                 materials: dict[str, Any], wanted: str = "prereviewed") -> str:
    r = await client.post("/v1/applications", json={"matter_code": code, "form": form, "materials": materials},
                          headers=bearer(tok))
    assert r.status_code == 201, r.text
    await wait_status(client, tok, r.json()["id"], {wanted})
    return r.json()["id"]


async def prefill(client: httpx.AsyncClient, tok: str, code: str) -> httpx.Response:
    return await client.post("/v1/prequal/prefill", json={"matter_code": code}, headers=bearer(tok))


async def publish_licence(env: dict[str, str], app_id: str, holder: str, number: str) -> str:
    """What svc-licences sends when it issues a licence (出证), with svc-licences' identity."""
    nc = await connect_nats(NatsClient.from_directory(env["NATS_URL"], env.get("NATS_CREDENTIALS_DIR"), "licences"))
    js = nc.jetstream()
    event_id = uuid.uuid4().hex
    licence_id = "lic-" + event_id[:8]
    envelope = {"specversion": "1.0", "id": event_id, "source": "/lvrong/licences",
                "type": "lvrong.licences.licence.issued", "time": dt.datetime.now(dt.UTC).isoformat(),
                "subject": app_id, "datacontenttype": "application/json",
                "data": {"licence_id": licence_id, "licence_number": number, "licence_type": "户外设施设置备案回执",
                         "application_id": app_id, "holder_subject": holder,
                         "issued_at": dt.datetime.now(dt.UTC).isoformat()}}
    try:
        await js.add_stream(name="LVRONG_LICENCES", subjects=["lvrong.licences.>"])
    except Exception:  # it exists once svc-licences has started
        pass
    await js.publish("lvrong.licences.licence.issued", json.dumps(envelope).encode(), headers={"Nats-Msg-Id": event_id})
    await nc.close()
    return licence_id


async def test_prefill_for_a_company_from_profile_earlier_application_and_licence(suite, client, token) -> None:
    company, person = await token("applicant-company"), await token("applicant-person")
    washing = await matter(client, company, "LR-BA-001")
    facility = await matter(client, company, "LR-BA-004")

    # The company's earlier application of another matter (the same field keys carry over) …
    earlier = valid_form(washing, 41)
    earlier |= {"applicant_uscc": ORG, "contact_name": "王晓明", "contact_mobile": "13912345678",
                "district": "徐汇区", "address": "漕溪北路88号",
                # The company's registered name, as the benefits test imports it: the pre-review compares it.
                "business_name": "上海演示绿化工程有限公司洗车场"}
    earlier_id = await submit(client, company, "LR-BA-001", earlier, await all_materials(client, company, washing))
    # … and, later, another applicant's application of the very matter asked for: none of it may leak.
    other = valid_form(facility, 42) | {"contact_name": "外人甲", "contact_mobile": "13700000001",
                                        "district": "静安区", "address": "外人路1号"}
    other_id = await submit(client, person, "LR-BA-004", other, await all_materials(client, person, facility))

    async def company_prefill() -> dict[str, Any]:
        r = await prefill(client, company, "LR-BA-004")
        assert r.status_code == 200, r.text
        return r.json()

    body = await eventually(company_prefill, lambda b: "contact_name" in b["fields"], "earlier values pre-filled")
    fields = body["fields"]
    assert body["matter_code"] == "LR-BA-004" and body["fields_total"] == len(facility["fields"])
    assert fields["applicant_uscc"] == {**fields["applicant_uscc"], "value": ORG, "source": "profile"}
    for key in ("contact_name", "contact_mobile", "district", "address"):
        assert fields[key]["value"] == earlier[key], key
        assert fields[key]["source"] == "earlier_application"
        assert fields[key]["source_ref"] == f"application:{earlier_id}"
        assert fields[key]["matter_code"] == "LR-BA-001" and fields[key]["as_of"] and fields[key]["observed_at"]
    # Dates describe an application's own period: never carried over; other fields are left to the applicant.
    assert {"start_date", "end_date"} <= set(body["unfilled"])
    assert body["fields_filled"] == len(fields) and body["ratio"] == round(len(fields) / body["fields_total"], 4)
    assert body["prefill_id"]
    held_before = {x["licence_id"] for x in body["licences"]}  # other tests may have issued some already
    assert other_id not in json.dumps(body, ensure_ascii=False) and "外人" not in json.dumps(body, ensure_ascii=False)

    # The person sees their own values and their name from the profile, nothing of the company's.
    mine = (await prefill(client, person, "LR-BA-004")).json()
    assert mine["fields"]["contact_name"]["source"] == "profile" and mine["fields"]["contact_name"]["value"] == "演示个人申请人"
    assert mine["fields"]["address"] == {**mine["fields"]["address"], "value": "外人路1号",
                                         "source_ref": f"application:{other_id}"}
    assert "王晓明" not in json.dumps(mine, ensure_ascii=False) and ORG not in json.dumps(mine)

    # A licence issued for the company's application is one it holds; the person does not see it.
    licence_id = await publish_licence(suite.env, earlier_id, "u-applicant-company", "沪绿备字〔2026〕第0042号")
    body = await eventually(company_prefill, lambda b: licence_id in {x["licence_id"] for x in b["licences"]},
                            "the licence held")
    new = [(x["licence_id"], x["licence_number"], x["application_id"]) for x in body["licences"]
           if x["licence_id"] not in held_before]
    assert new == [(licence_id, "沪绿备字〔2026〕第0042号", earlier_id)]
    person_held = {x["licence_id"] for x in (await prefill(client, person, "LR-BA-004")).json()["licences"]}
    assert licence_id not in person_held


async def test_prefill_refusals(client, token) -> None:
    company = await token("applicant-company")
    unknown = await prefill(client, company, "LR-ZZ-999")
    assert unknown.status_code == 404 and "LR-ZZ-999" in unknown.json()["detail"]
    assert (await client.post("/v1/prequal/prefill", json={"matter_code": "LR-BA-004"})).status_code == 401
    assert (await prefill(client, await token("officer"), "LR-BA-004")).status_code == 403
    assert (await prefill(client, await token("ops"), "LR-BA-004")).status_code == 403
    assert (await client.post("/v1/prequal/prefill", json={"matter_code": "bad code!"},
                              headers=bearer(company))).status_code == 422


async def test_measures_count_what_the_test_did(client, token) -> None:
    person, officer, reviewer, ops = [await token(u) for u in ("applicant-person", "officer", "reviewer", "ops")]
    code = "LR-BA-003"
    m = await matter(client, person, code)
    mats = await all_materials(client, person, m)

    # The days around the test's start, fixed before it does anything: a test that runs across midnight in
    # Shanghai counts what it did on both days, and "before" and "after" are read over the same period.
    today = dt.datetime.now(SHANGHAI).date()
    period_from, period_to = (today - dt.timedelta(days=1)).isoformat(), (today + dt.timedelta(days=1)).isoformat()

    async def measures(tok: str = ops) -> dict[str, Any]:
        r = await client.get("/v1/prequal/measures", params={"matter": code, "from": period_from, "to": period_to},
                             headers=bearer(tok))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["from"] == period_from and body["to"] == period_to and body["matter"] == code
        assert [i["matter_code"] for i in body["items"]] in ([], [code])
        return body["total"]

    before = await measures()
    known = await submit(client, person, code, valid_form(m, 51), mats)  # so the pre-fill knows the matter's form
    withdrawn = await client.post(f"/v1/applications/{known}/actions/withdraw", json={}, headers=bearer(person))
    assert withdrawn.status_code == 200, withdrawn.text

    # A pre-filled application, one field changed by the applicant (the site: the same site twice would
    # be a duplicate application), accepted first time.
    pre = (await prefill(client, person, code)).json()
    filled = {k: v["value"] for k, v in pre["fields"].items()}
    assert len(filled) >= 3 and "address" in filled
    form = valid_form(m, 52) | filled | {"address": "浦东新区世纪大道100号"}
    first = await submit(client, person, code, form, mats)
    assert (await client.post(f"/v1/applications/{first}/actions/accept", json={}, headers=bearer(officer))).status_code == 200

    # Returned by a too-strict rule version, resubmitted unchanged once it is withdrawn, then accepted.
    current = (await client.get(f"/v1/prequal/rulesets/{code}/versions/2", headers=bearer(reviewer))).json()
    strict = {"id": "shop.name_long", "targets": ["form.shop_name"], "when": "has(form.shop_name)",
              "expr": "size(form.shop_name) >= 20", "severity": "blocking",
              "message_zh": "店招名称须为登记全称", "message_en": "the shop name must be the registered full name",
              "legal_basis": "测试规则 / test rule",
              "examples": {"pass": [{"form": {"shop_name": "上海演示绿化工程有限公司浦东新区第一分公司门店"}}],
                           "fail": [{"form": {"shop_name": "演示"}}]}}
    created = await client.post(f"/v1/prequal/rulesets/{code}", json={"rules": [*current["rules"], strict]},
                                headers=bearer(reviewer))
    assert created.status_code == 201, created.text
    version = created.json()["version"]
    assert (await client.post(f"/v1/prequal/rulesets/{code}/versions/{version}/publish",
                              headers=bearer(reviewer))).status_code == 200
    try:
        blocked = await submit(client, person, code, valid_form(m, 53) | {"address": "浦东新区世纪大道200号"}, mats,
                               wanted="returned")
    finally:
        assert (await client.post(f"/v1/prequal/rulesets/{code}/versions/2/publish",
                                  headers=bearer(reviewer))).status_code == 200
    r = await client.post(f"/v1/applications/{blocked}/actions/supplement", json={}, headers=bearer(person))
    assert r.status_code == 200, r.text
    await wait_status(client, person, blocked, {"prereviewed"})
    assert (await client.post(f"/v1/applications/{blocked}/actions/accept", json={}, headers=bearer(officer))).status_code == 200

    expected = {"submitted": 3, "prereviewed": 3, "decided": 3, "accepted": 2, "accepted_first_time": 1,
                "acceptance_decided": 2,
                "prefills": 1, "form_fields": len(m["fields"]), "fields_prefilled": len(filled),
                "prefills_submitted": 1, "fields_prefilled_submitted": len(filled), "fields_kept": len(filled) - 1,
                "returned_by_prereview": 1, "wrongly_blocked": 1}
    after = await eventually(measures, lambda a: all(a[k] - before[k] == v for k, v in expected.items()),
                             "measures moved by what the test did")
    for ratio in ("prereview_coverage", "first_time_acceptance_rate", "prefill_ratio", "prefill_kept_ratio",
                  "wrongly_blocked_rate"):
        assert after[ratio] is not None and 0 <= after[ratio] <= 1
    if before["submitted"] == 0:  # this test alone: exact figures
        assert after["prereview_coverage"] == 1.0 and after["first_time_acceptance_rate"] == 0.5
        assert after["prefill_ratio"] == round(len(filled) / len(m["fields"]), 4)
        assert after["prefill_kept_ratio"] == round((len(filled) - 1) / len(filled), 4)
        assert after["wrongly_blocked_rate"] == 1.0

    # The inspector may read them too; all matters at once when none is named.
    assert (await measures(await token("inspector")))["submitted"] == after["submitted"]
    everything = await client.get("/v1/prequal/measures", headers=bearer(ops))
    assert everything.status_code == 200 and code in {i["matter_code"] for i in everything.json()["items"]}
    # No period: this month up to today; each rate with its definition beside it (issue 21).
    assert everything.json()["from"] == everything.json()["to"][:8] + "01"
    definition = everything.json()["definitions"]["first_time_acceptance_rate"]
    assert definition["target"] == 0.9 and "refused" in definition["denominator_en"] and definition["denominator_zh"]


async def test_measures_refusals(client, token) -> None:
    ops = await token("ops")
    for user in ("applicant-person", "officer", "reviewer"):
        r = await client.get("/v1/prequal/measures", headers=bearer(await token(user)))
        assert r.status_code == 403, (user, r.text)
    assert (await client.get("/v1/prequal/measures")).status_code == 401
    for params in ({"from": "2026-13-01"}, {"to": "yesterday"}, {"from": "2026-06-02", "to": "2026-06-01"},
                   {"from": "2024-01-01", "to": "2025-01-01"}, {"from": "1999-01-01", "to": "1999-01-02"}):
        r = await client.get("/v1/prequal/measures", params=params, headers=bearer(ops))
        assert r.status_code == 422, (params, r.text)
    empty = await client.get("/v1/prequal/measures", params={"from": "2001-01-01", "to": "2001-01-31"}, headers=bearer(ops))
    assert empty.status_code == 200 and empty.json()["items"] == [] and empty.json()["total"]["prereview_coverage"] is None
