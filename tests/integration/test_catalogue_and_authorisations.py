"""The versioned catalogue (versions, import, guide completeness 办事指南) and company authorisation
(多级授权), through the gateway, with proof that refused requests wrote nothing.

The matters imported here are public-service items (公共服务事项) with codes LR-GG-9xx / LR-GG-5xx of
their own, so the 18 seeded matters, and the tests of others that use them, stay as they are.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from importlib.resources import files
from typing import Any

import httpx
import pytest

from support import bearer, public_service_item, upload, valid_form

pytestmark = pytest.mark.integration

COMPANY_SUBJECT = "u-applicant-company"
COMPANY_ORG = "91310115MA1H7GXQ3E"
PERSON_SUBJECT = "u-applicant-person"
PROBLEM = "application/problem+json"


async def import_matters(client: httpx.AsyncClient, tok: str, body: Any, **params: Any) -> httpx.Response:
    return await client.post("/v1/matters/import", json=body, params=params, headers=bearer(tok))


async def fetchval(suite, sql: str, *args: Any) -> Any:
    conn = await suite.db("matters")
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def get_json(client: httpx.AsyncClient, tok: str, path: str, **params: Any) -> Any:
    r = await client.get(path, params=params, headers=bearer(tok))
    assert r.status_code == 200, r.text
    return r.json()


async def wait_for_status(client: httpx.AsyncClient, tok: str, application_id: str, *statuses: str) -> dict:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        app = await get_json(client, tok, f"/v1/applications/{application_id}")
        if app["status"] in statuses:
            return app
        await asyncio.sleep(0.05)
    pytest.fail(f"{application_id} did not reach {statuses} within 15 s")


def is_problem(r: httpx.Response, status: int) -> bool:
    return r.status_code == status and r.headers["content-type"].startswith(PROBLEM)


# --- versions ---------------------------------------------------------------------------------

async def test_a_seeded_matter_has_one_current_version(client: httpx.AsyncClient, token) -> None:
    tok = await token("applicant-person")
    versions = await get_json(client, tok, "/v1/matters/LR-XK-001/versions")
    assert [(v["version"], v["is_current"]) for v in versions["items"]] == [(1, True)] and versions["next_cursor"] is None
    v1 = await get_json(client, tok, "/v1/matters/LR-XK-001/versions/1")
    assert v1 == {**await get_json(client, tok, "/v1/matters/LR-XK-001"), "is_current": True}


@pytest.mark.parametrize(("path", "status"), [
    ("/v1/matters/LR-XK-001/versions/2", 404), ("/v1/matters/LR-XK-999/versions", 404),
    ("/v1/matters/LR-XK-999/versions/1", 404), ("/v1/matters/LR-XK-001/versions/0", 422),
    ("/v1/matters/LR-XK-001/versions/first", 422), ("/v1/matters/LR-XK-001/versions?cursor=!!", 400),
])
async def test_bad_version_requests(client: httpx.AsyncClient, token, path: str, status: int) -> None:
    r = await client.get(path, headers=bearer(await token("officer")))
    assert is_problem(r, status), r.text


# --- import -----------------------------------------------------------------------------------

async def test_reimporting_the_packaged_catalogue_changes_nothing(suite, client, token) -> None:
    seed = json.loads((files("matters") / "catalogue" / "matters.json").read_text(encoding="utf-8"))
    before = await fetchval(suite, "SELECT count(*) FROM matter_versions")
    r = await import_matters(client, await token("ops"), seed)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["summary"] == {"created": 0, "new_version": 0, "unchanged": 18, "rejected": 0}
    assert [(x["code"], x["outcome"], x["version"]) for x in report["results"]] == [
        (m["code"], "unchanged", 1) for m in seed]
    assert await fetchval(suite, "SELECT count(*) FROM matter_versions") == before


async def test_import_creates_then_publishes_a_new_version_then_changes_nothing(suite, client, token) -> None:
    ops, reader = await token("ops"), await token("applicant-person")
    code = "LR-GG-901"
    r = await import_matters(client, ops, [public_service_item(code)])
    assert r.status_code == 200, r.text
    assert r.json()["results"] == [{"index": 0, "code": code, "outcome": "created", "version": 1,
                                    "previous_version": None, "changed": [], "errors": []}]
    assert r.json()["summary"] == {"created": 1, "new_version": 0, "unchanged": 0, "rejected": 0}
    v1 = await get_json(client, reader, f"/v1/matters/{code}")
    assert (v1["version"], v1["kind"], v1["promised_days"]) == (1, "public_service", 5)

    changed = public_service_item(code, promised_days=3, conditions_zh=["本市绿地的养护单位或个人", "已建立养护台账"])
    r = await import_matters(client, ops, [changed])
    assert r.status_code == 200, r.text
    (result,) = r.json()["results"]
    assert (result["outcome"], result["version"], result["previous_version"]) == ("new_version", 2, 1)
    assert result["changed"] == ["promised_days", "conditions_zh"]

    rows = await fetchval(suite, "SELECT count(*) FROM matter_versions WHERE code = $1", code)
    r = await import_matters(client, ops, [changed])
    assert r.json()["results"][0]["outcome"] == "unchanged" and r.json()["results"][0]["version"] == 2
    assert await fetchval(suite, "SELECT count(*) FROM matter_versions WHERE code = $1", code) == rows == 2
    assert await fetchval(suite, "SELECT count(*) FROM matter_versions WHERE code = $1 AND is_current", code) == 1

    versions = await get_json(client, reader, f"/v1/matters/{code}/versions")
    assert [(v["version"], v["is_current"]) for v in versions["items"]] == [(2, True), (1, False)]
    assert (await get_json(client, reader, f"/v1/matters/{code}"))["promised_days"] == 3
    old = await get_json(client, reader, f"/v1/matters/{code}/versions/1")
    assert (old["promised_days"], old["is_current"], len(old["conditions_zh"])) == (5, False, 1)
    page = await get_json(client, reader, f"/v1/matters/{code}/versions", limit=1)
    assert [v["version"] for v in page["items"]] == [2]
    rest = await get_json(client, reader, f"/v1/matters/{code}/versions", limit=1, cursor=page["next_cursor"])
    assert [v["version"] for v in rest["items"]] == [1] and rest["next_cursor"] is None


async def test_listing_keeps_the_18_matters_first(client: httpx.AsyncClient, token) -> None:
    tok = await token("ops")
    r = await import_matters(client, tok, [public_service_item("LR-GG-908")])
    assert r.status_code == 200 and r.json()["summary"]["rejected"] == 0
    seed_codes = [m["code"] for m in json.loads((files("matters") / "catalogue" / "matters.json").read_text("utf-8"))]
    first = await get_json(client, tok, "/v1/matters", limit=18)
    assert [m["code"] for m in first["items"]] == seed_codes and first["next_cursor"]
    licences = await get_json(client, tok, "/v1/matters", kind="licence", limit=100)
    assert len(licences["items"]) == 14
    services = await get_json(client, tok, "/v1/matters", kind="public_service", limit=100)
    assert "LR-GG-908" in {m["code"] for m in services["items"]}
    assert all(m["kind"] == "public_service" for m in services["items"])
    others = [m for m in (await get_json(client, tok, "/v1/matters", limit=100))["items"] if m["kind"] != "licence"]
    assert len(others) >= 4


async def test_dry_run_reports_and_writes_nothing(suite, client, token) -> None:
    ops = await token("ops")
    assert (await import_matters(client, ops, [public_service_item("LR-GG-903")])).json()["results"][0]["outcome"] == "created"
    before = await fetchval(suite, "SELECT count(*) FROM matter_versions")
    r = await import_matters(client, ops, [public_service_item("LR-GG-902"), public_service_item("LR-GG-903", statutory_days=15)],
                             dry_run="true")
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["dry_run"] is True
    assert [(x["outcome"], x["version"]) for x in report["results"]] == [("created", 1), ("new_version", 2)]
    assert await fetchval(suite, "SELECT count(*) FROM matter_versions") == before
    assert (await client.get("/v1/matters/LR-GG-902", headers=bearer(ops))).status_code == 404
    assert (await get_json(client, ops, "/v1/matters/LR-GG-903"))["version"] == 1


def _edit(fn: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def apply(item: dict[str, Any]) -> dict[str, Any]:
        fn(item)
        return item
    return apply


# (what is wrong, how to break a valid entry, the field named in the error, its code)
REJECTIONS: list[tuple[str, Callable[[dict[str, Any]], dict[str, Any]], str, str]] = [
    ("code not in the pattern", _edit(lambda m: m.update(code="lr_gg_1")), "code", "string_pattern_mismatch"),
    ("promised longer than statutory", _edit(lambda m: m.update(promised_days=30)), "promised_days",
     "promised_exceeds_statutory"),
    ("days given as text", _edit(lambda m: m.update(statutory_days="20")), "statutory_days", "int_type"),
    ("fee in yuan with decimals", _edit(lambda m: m["fee"].update(amount_fen=12.5)), "fee.amount_fen", "int_type"),
    ("fee given as text", _edit(lambda m: m["fee"].update(amount_fen="100")), "fee.amount_fen", "int_type"),
    ("negative fee", _edit(lambda m: m["fee"].update(amount_fen=-1)), "fee.amount_fen", "greater_than_equal"),
    ("unknown kind", _edit(lambda m: m.update(kind="permit")), "kind", "literal_error"),
    ("unknown complexity", _edit(lambda m: m.update(complexity="hard")), "complexity", "literal_error"),
    ("missing Chinese name", _edit(lambda m: m.pop("name_zh")), "name_zh", "missing"),
    ("blank department", _edit(lambda m: m.update(department="   ")), "department", "string_pattern_mismatch"),
    ("misspelt property", _edit(lambda m: m.update(statutory_limit=20)), "statutory_limit", "extra_forbidden"),
    ("unknown channel", _edit(lambda m: m.update(channels=["online", "fax"])), "channels[1]", "literal_error"),
    ("help video not https", _edit(lambda m: m.update(help_video_url="ftp://example.org/v.mp4")), "help_video_url",
     "string_pattern_mismatch"),
    ("duplicate field key", _edit(lambda m: m["fields"].append(dict(m["fields"][0]))), "fields[3].key", "duplicate_key"),
    ("field key not snake_case", _edit(lambda m: m["fields"][0].update(key="ContactName")), "fields[0].key",
     "string_pattern_mismatch"),
    ("unknown field type", _edit(lambda m: m["fields"][0].update(type="money")), "fields[0].type", "literal_error"),
    ("required given as text", _edit(lambda m: m["fields"][0].update(required="yes")), "fields[0].required", "bool_type"),
    ("enum field without options", _edit(lambda m: m["fields"][2].update(options=[])), "fields[2].options",
     "options_required"),
    ("options on a text field", _edit(lambda m: m["fields"][0].update(options=[{"value": "a", "label": "甲"}])),
     "fields[0].options", "options_not_allowed"),
    ("condition on an unknown field", _edit(lambda m: m["fields"][1].update(required_when={"nope": "x"})),
     "fields[1].required_when.nope", "unknown_field"),
    ("duplicate material code", _edit(lambda m: m["materials"].append(dict(m["materials"][0]))), "materials[1].code",
     "duplicate_code"),
    ("file type not accepted", _edit(lambda m: m["materials"][0].update(file_types=["pdf", "exe"])),
     "materials[0].file_types[1]", "literal_error"),
    ("size given as text", _edit(lambda m: m["materials"][0].update(max_size_mb="10")), "materials[0].max_size_mb",
     "int_type"),
]


async def test_import_rejects_bad_entries_field_by_field_and_publishes_the_good_one(suite, client, token) -> None:
    ops = await token("ops")
    bad = [breaker(public_service_item(f"LR-GG-{500 + i}")) for i, (_, breaker, _, _) in enumerate(REJECTIONS)]
    body = [public_service_item("LR-GG-904"), *bad, public_service_item("LR-GG-904", name_zh="同一请求中重复的编码")]
    before = await fetchval(suite, "SELECT count(*) FROM matter_versions")
    r = await import_matters(client, ops, body)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["summary"] == {"created": 1, "new_version": 0, "unchanged": 0, "rejected": len(REJECTIONS) + 1}
    assert report["results"][0]["outcome"] == "created"
    for (what, _, field, code), result in zip(REJECTIONS, report["results"][1:-1], strict=True):
        assert result["outcome"] == "rejected" and result["version"] is None, what
        assert (field, code) in {(e["field"], e["code"]) for e in result["errors"]}, (what, result["errors"])
        assert all(e["message"] and e["message_en"] for e in result["errors"]), what
        assert any("\u4e00" <= ch <= "\u9fff" for e in result["errors"] for ch in e["message"]), what
    duplicate = report["results"][-1]
    assert duplicate["outcome"] == "rejected" and duplicate["errors"][0]["code"] == "duplicate_in_request"
    # The good entry alone was published, with its own content, not the duplicate's.
    assert await fetchval(suite, "SELECT count(*) FROM matter_versions") == before + 1
    assert await fetchval(suite, "SELECT count(*) FROM matter_versions WHERE code LIKE 'LR-GG-5%'") == 0
    assert (await get_json(client, ops, "/v1/matters/LR-GG-904"))["name_zh"] == "园林绿化养护技术咨询"


@pytest.mark.parametrize("user", ["applicant-person", "applicant-company", "officer", "reviewer", "inspector", "editor"])
async def test_only_ops_import(suite, client, token, user: str) -> None:
    before = await fetchval(suite, "SELECT count(*) FROM matter_versions")
    r = await import_matters(client, await token(user), [public_service_item("LR-GG-600")])
    assert is_problem(r, 403), r.text
    assert await fetchval(suite, "SELECT count(*) FROM matter_versions") == before


MALFORMED = {
    "an object, not a list": json.dumps(public_service_item("LR-GG-601")),
    "an empty list": "[]",
    "a list of strings": '["LR-GG-602"]',
    "a list of numbers": "[1, 2]",
    "not JSON": "[{\"code\": ",
    "more than 500 entries": json.dumps([{"code": f"LR-GG-{i:04d}"} for i in range(501)]),
}


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_malformed_import_bodies_are_422(suite, client, token, case: str) -> None:
    before = await fetchval(suite, "SELECT count(*) FROM matter_versions")
    r = await client.post("/v1/matters/import", content=MALFORMED[case].encode(),
                          headers={**bearer(await token("ops")), "Content-Type": "application/json"})
    assert is_problem(r, 422), r.text
    assert r.json()["errors"]
    assert await fetchval(suite, "SELECT count(*) FROM matter_versions") == before


async def test_import_with_a_bad_dry_run_flag_is_422(client: httpx.AsyncClient, token) -> None:
    r = await import_matters(client, await token("ops"), [public_service_item("LR-GG-603")], dry_run="perhaps")
    assert is_problem(r, 422) and r.json()["errors"][0]["field"] == "query.dry_run"


async def test_import_idempotency_key_replays_the_first_report(suite, client, token) -> None:
    headers = {**bearer(await token("ops")), "Idempotency-Key": "import-LR-GG-909"}
    first = await client.post("/v1/matters/import", json=[public_service_item("LR-GG-909")], headers=headers)
    again = await client.post("/v1/matters/import", json=[public_service_item("LR-GG-909")], headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and first.json()["results"][0]["outcome"] == "created"
    reused = await client.post("/v1/matters/import", json=[public_service_item("LR-GG-909", promised_days=1)], headers=headers)
    assert is_problem(reused, 422)
    assert await fetchval(suite, "SELECT count(*) FROM matter_versions WHERE code = 'LR-GG-909'") == 1


# --- an open application keeps its version ------------------------------------------------------

async def test_open_applications_keep_the_version_they_were_filed_under(suite, client, token) -> None:
    ops, person = await token("ops"), await token("applicant-person")
    code = "LR-GG-905"
    v1 = public_service_item(code)
    assert (await import_matters(client, ops, [v1])).json()["results"][0]["outcome"] == "created"
    matter_v1 = await get_json(client, person, f"/v1/matters/{code}")
    letter = await upload(client, person, "request_letter.pdf")
    assert letter.status_code == 201, letter.text
    materials = {"request_letter": letter.json()["id"]}
    form = valid_form(matter_v1, 7)

    # A: filed under v1 without the contact name → returned for correction.
    a = await client.post("/v1/applications", headers=bearer(person), json={
        "matter_code": code, "form": {k: v for k, v in form.items() if k != "contact_name"}, "materials": materials})
    assert a.status_code == 201, a.text
    a_id = a.json()["id"]
    await wait_for_status(client, person, a_id, "returned")
    # B: a draft under v1, complete for v1.
    b = await client.post("/v1/applications", headers=bearer(person),
                          json={"matter_code": code, "form": form, "materials": materials, "draft": True})
    assert b.status_code == 201 and b.json()["matter_version"] == 1, b.text

    # v2 asks for one more field and one more material.
    v2 = public_service_item(code, fields=[*v1["fields"], {"key": "site_address", "label": "绿地地址", "label_en": "Site address",
                                                  "type": "address", "required": True}],
                     materials=[*v1["materials"], {"code": "site_photo", "name": "现场照片", "name_en": "Site photo",
                                                   "required": True, "file_types": ["jpg", "png"], "substitutes": []}])
    published = (await import_matters(client, ops, [v2])).json()["results"][0]
    assert (published["outcome"], published["version"]) == ("new_version", 2)
    assert set(published["changed"]) == {"fields", "materials"}

    # A supplements what v1 asked for and is pre-reviewed against v1: it passes without v2's additions.
    r = await client.post(f"/v1/applications/{a_id}/actions/supplement", headers=bearer(person),
                          json={"form": {"contact_name": "张三"}})
    assert r.status_code == 200, r.text
    a_now = await wait_for_status(client, person, a_id, "prereviewed", "returned")
    assert (a_now["status"], a_now["matter_version"], a_now["attempt"]) == ("prereviewed", 1, 2)
    # B is submitted after v2 was published, and still pre-reviewed against v1.
    r = await client.post(f"/v1/applications/{b.json()['id']}/actions/submit", headers=bearer(person), json={})
    assert r.status_code == 200, r.text
    b_now = await wait_for_status(client, person, b.json()["id"], "prereviewed", "returned")
    assert (b_now["status"], b_now["matter_version"]) == ("prereviewed", 1)
    for app_id in (a_id, b.json()["id"]):
        verdicts = (await get_json(client, person, f"/v1/prequal/applications/{app_id}/verdicts"))["items"]
        assert (verdicts[-1]["matter_version"], verdicts[-1]["verdict"]) == (1, "passed")

    # C: the same form and materials filed now fall under v2 and miss its two new requirements.
    c = await client.post("/v1/applications", headers=bearer(person),
                          json={"matter_code": code, "form": form, "materials": materials})
    assert c.status_code == 201 and c.json()["matter_version"] == 2, c.text
    await wait_for_status(client, person, c.json()["id"], "returned", "prereviewed")
    verdict = (await get_json(client, person, f"/v1/prequal/applications/{c.json()['id']}/verdicts"))["items"][-1]
    assert verdict["matter_version"] == 2 and verdict["verdict"] == "returned"
    assert {f["target"] for f in verdict["findings"]} == {"form.site_address", "materials.site_photo"}
    assert await fetchval(suite, "SELECT matter_version FROM applications WHERE id = $1", a_id) == 1


# --- guide completeness (办事指南) ----------------------------------------------------------------

INCOMPLETE = public_service_item(
    "LR-GG-906", name_en="", legal_basis=[], conditions_zh=[], channels=[], help_video_url=None, fee={"amount_fen": 0},
    fields=[{"key": "contact_name", "label": "联系人", "type": "string", "required": True}],
    materials=[{"code": "request_letter", "name": "咨询函", "required": True, "file_types": []}])


async def test_guide_completeness_lists_what_each_guide_misses(client: httpx.AsyncClient, token) -> None:
    ops = await token("ops")
    r = await import_matters(client, ops, [INCOMPLETE, public_service_item("LR-GG-907", materials=[]), public_service_item("LR-GG-910")])
    assert [x["outcome"] for x in r.json()["results"]] == ["created"] * 3, r.text

    report = await get_json(client, await token("inspector"), "/v1/matters/guide-completeness", limit=100)
    listed = {m["code"]: m for m in report["items"]}
    gaps = {g["element"]: g["detail"] for g in listed["LR-GG-906"]["missing"]}
    assert gaps == {"name": ["name_en"], "legal_basis": [], "conditions": [], "fee_note": [], "channels": [],
                    "help_video": [], "material_names": ["request_letter"], "material_file_types": ["request_letter"],
                    "field_labels": ["contact_name"]}
    assert all(g["label_zh"] and g["label_en"] for g in listed["LR-GG-906"]["missing"])
    assert [g["element"] for g in listed["LR-GG-907"]["missing"]] == ["materials"]
    assert "LR-GG-910" not in listed  # a complete guide is not listed
    seed_codes = {m["code"] for m in json.loads((files("matters") / "catalogue" / "matters.json").read_text("utf-8"))}
    assert not seed_codes & set(listed)  # the 18 matters' guides are complete

    summary = report["summary"]
    assert summary["incomplete"] == len(report["items"]) and report["next_cursor"] is None
    assert summary["complete"] + summary["incomplete"] == summary["current_matters"] >= 21
    assert summary["by_element"]["help_video"] >= 1 and summary["by_element"]["materials"] >= 1
    assert summary["by_element"]["licence_type"] == 0

    first = await get_json(client, ops, "/v1/matters/guide-completeness", limit=1)
    assert len(first["items"]) == 1 and first["next_cursor"] and first["summary"] == summary
    second = await get_json(client, ops, "/v1/matters/guide-completeness", limit=1, cursor=first["next_cursor"])
    assert second["items"][0]["code"] != first["items"][0]["code"]
    only_licences = await get_json(client, ops, "/v1/matters/guide-completeness", kind="licence")
    assert only_licences["items"] == [] and only_licences["summary"]["current_matters"] == 14


@pytest.mark.parametrize(("user", "params", "status"), [
    ("applicant-person", {}, 403), ("officer", {}, 403), ("reviewer", {}, 403),
    ("ops", {"kind": "permit"}, 422), ("ops", {"limit": 0}, 422), ("ops", {"cursor": "!!"}, 400),
])
async def test_guide_completeness_refusals(client: httpx.AsyncClient, token, user: str, params: dict,
                                           status: int) -> None:
    r = await client.get("/v1/matters/guide-completeness", params=params, headers=bearer(await token(user)))
    assert is_problem(r, status), r.text


# --- company authorisation (多级授权) -------------------------------------------------------------

async def count_grants(suite) -> int:
    return await fetchval(suite, "SELECT count(*) FROM company_authorisations")


async def test_a_company_authorises_a_person_and_revokes(suite, client, token) -> None:
    company, person, officer = await token("applicant-company"), await token("applicant-person"), await token("officer")
    m = await get_json(client, company, "/v1/matters/LR-BA-002")
    filed = await client.post("/v1/applications", headers=bearer(company),
                              json={"matter_code": m["code"], "form": valid_form(m, 11), "draft": True})
    assert filed.status_code == 201, filed.text
    app_path = f"/v1/applications/{filed.json()['id']}"

    async def person_sees() -> tuple[int, bool]:
        listed = await get_json(client, person, "/v1/applications", limit=100)
        return (await client.get(app_path, headers=bearer(person))).status_code, filed.json()["id"] in {
            a["id"] for a in listed["items"]}

    assert await person_sees() == (404, False)

    headers = {**bearer(company), "Idempotency-Key": f"grant-{filed.json()['id']}"}
    r = await client.post("/v1/authorisations", json={"grantee": PERSON_SUBJECT}, headers=headers)
    assert r.status_code == 201, r.text
    grant = r.json()
    try:
        assert (grant["org_code"], grant["grantee"], grant["granted_by"], grant["active"]) == (
            COMPANY_ORG, PERSON_SUBJECT, COMPANY_SUBJECT, True)
        assert r.headers["location"] == f"/v1/authorisations/{grant['id']}"
        replay = await client.post("/v1/authorisations", json={"grantee": PERSON_SUBJECT}, headers=headers)
        assert replay.status_code == 201 and replay.json() == grant
        rows = await count_grants(suite)
        twice = await client.post("/v1/authorisations", json={"grantee": PERSON_SUBJECT}, headers=bearer(company))
        assert is_problem(twice, 409) and twice.json()["authorisation_id"] == grant["id"]
        assert await count_grants(suite) == rows

        # Both sides see the grant; the person now lists and reads the company's application.
        for tok in (company, person):
            assert grant["id"] in {g["id"] for g in (await get_json(client, tok, "/v1/authorisations"))["items"]}
            assert (await get_json(client, tok, f"/v1/authorisations/{grant['id']}"))["active"] is True
        assert await person_sees() == (200, True)
        assert (await get_json(client, person, app_path))["applicant"] == COMPANY_SUBJECT
        timeline = await client.get(app_path + "/timeline", headers=bearer(person))
        assert timeline.status_code == 200

        # Only the company revokes.
        for tok in (person, officer):
            assert is_problem(await client.delete(f"/v1/authorisations/{grant['id']}", headers=bearer(tok)), 403)
        assert await person_sees() == (200, True)
    finally:
        revoked = await client.delete(f"/v1/authorisations/{grant['id']}", headers=bearer(company))
    assert revoked.status_code == 204 and revoked.content == b""
    assert await person_sees() == (404, False)
    assert grant["id"] not in {g["id"] for g in (await get_json(client, person, "/v1/authorisations"))["items"]}
    history = await get_json(client, person, "/v1/authorisations", include_revoked="true")
    assert {g["id"]: g["active"] for g in history["items"]}[grant["id"]] is False

    revoked_at = await fetchval(suite, "SELECT revoked_at FROM company_authorisations WHERE id = $1", grant["id"])
    again = await client.delete(f"/v1/authorisations/{grant['id']}", headers=bearer(company))
    assert again.status_code == 204
    assert await fetchval(suite, "SELECT revoked_at FROM company_authorisations WHERE id = $1", grant["id"]) == revoked_at
    assert is_problem(await client.delete("/v1/authorisations/no-such-grant", headers=bearer(company)), 404)
    # A new grant after a revocation is a new authorisation, not a 409.
    regrant = await client.post("/v1/authorisations", json={"grantee": PERSON_SUBJECT}, headers=bearer(company))
    assert regrant.status_code == 201 and regrant.json()["id"] != grant["id"]
    assert (await client.delete(f"/v1/authorisations/{regrant.json()['id']}", headers=bearer(company))).status_code == 204
    assert await person_sees() == (404, False)


@pytest.mark.parametrize(("user", "body", "status"), [
    ("applicant-person", {"grantee": "u-someone"}, 403),  # a person cannot grant
    ("officer", {"grantee": PERSON_SUBJECT}, 403),
    ("ops", {"grantee": PERSON_SUBJECT}, 403),
    ("applicant-company", {}, 422),
    ("applicant-company", {"grantee": ""}, 422),
    ("applicant-company", {"grantee": "two words"}, 422),
    ("applicant-company", {"grantee": "x" * 129}, 422),
    ("applicant-company", {"grantee": PERSON_SUBJECT, "scope": "all"}, 422),
    ("applicant-company", {"grantee": COMPANY_SUBJECT}, 422),  # itself
    ("applicant-company", ["u-applicant-person"], 422),
])
async def test_bad_grants_write_nothing(suite, client, token, user: str, body: Any, status: int) -> None:
    before = await count_grants(suite)
    r = await client.post("/v1/authorisations", json=body, headers=bearer(await token(user)))
    assert is_problem(r, status), r.text
    assert await count_grants(suite) == before


async def test_authorisation_lists_are_per_caller(client: httpx.AsyncClient, token) -> None:
    assert is_problem(await client.get("/v1/authorisations", headers=bearer(await token("officer"))), 403)
    assert (await client.get("/v1/authorisations", headers=bearer(await token("inspector")))).status_code == 200
    r = await client.get("/v1/authorisations", params={"cursor": "!!"}, headers=bearer(await token("applicant-company")))
    assert is_problem(r, 400)
    assert is_problem(await client.get("/v1/authorisations/unknown", headers=bearer(await token("applicant-person"))), 404)
