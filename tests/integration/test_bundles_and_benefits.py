"""一件事 bundles and 免申即享 benefits through the gateway: a bundle of each kind filed, pre-reviewed
and followed to its combined status and completion (with the ``BundleCompleted`` event on NATS);
the vehicle-washing filing granted without application, twice and concurrently without duplicates;
and every refusal, with proof that a refused request wrote nothing."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import time
import uuid
from typing import Any

import httpx
import pytest

from kit.contracts import LicenceIssued
from kit.identifiers import USCC_CHARSET, uscc_check_char
from support import (
    all_materials,
    bearer,
    matter,
    nats_admin,
    outbox_published,
    publish_as_licences,
    stream_events,
    upload,
    valid_form,
)

pytestmark = pytest.mark.integration

COMPANY_USCC = "91310115MA1H7GXQ3E"  # the org_code of the demo account applicant-company
# What filing a bundle writes; not the pre-review's steps and events for earlier applications, which
# keep arriving asynchronously while a test looks.
BUNDLE_TABLES = ("bundles", "applications", "application_steps WHERE action IN ('submit', 'save_draft')",
                 "outbox WHERE envelope -> 'data' ->> 'from_status' IS NULL", "idempotency_keys")


# --- helpers ----------------------------------------------------------------------------------



async def counts(suite, tables: tuple[str, ...]) -> list[int]:
    conn = await suite.db("matters")
    try:
        return [await conn.fetchval(f"SELECT count(*) FROM {t}") for t in tables]  # fixed names
    finally:
        await conn.close()


async def query(suite, sql: str, *args: Any) -> list[Any]:
    conn = await suite.db("matters")
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def wait_bundle(client: httpx.AsyncClient, tok: str, bundle_id: str, done, what: str) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        r = await client.get(f"/v1/bundles/{bundle_id}", headers=bearer(tok))
        assert r.status_code == 200, r.text
        body = r.json()
        if done(body):
            return body
        await asyncio.sleep(0.05)
    pytest.fail(f"bundle {bundle_id} never {what}: {body}")


async def act(client: httpx.AsyncClient, tok: str, app_id: str, action: str, **body: Any) -> dict[str, Any]:
    r = await client.post(f"/v1/applications/{app_id}/actions/{action}", json=body, headers=bearer(tok))
    assert r.status_code == 200, r.text
    return r.json()


async def events_on(suite, subject: str, wanted) -> list[dict[str, Any]]:
    """The CloudEvents of svc-matters on ``subject`` that ``wanted`` selects. Each is written in the
    transaction of the request that caused it, so once the outbox has published everything written so
    far, the stream holds every one there will be (a duplicate too)."""
    await outbox_published(suite, "matters")
    return [e for e in await stream_events(nats_admin(suite.env), "LVRONG_MATTERS", subject) if wanted(e)]


async def publish_licence_issued(suite, app_id: str, holder: str) -> None:
    """What svc-licences sends when it issues the licence of an approved application (出证)."""
    event = LicenceIssued(licence_id="lic-" + uuid.uuid4().hex[:12], licence_number="沪绿景字〔2026〕第0042号",
                          licence_type="户外招牌设置审批决定书", application_id=app_id, holder_subject=holder,
                          issued_at=dt.datetime.now(dt.UTC)).envelope(subject=app_id)
    await publish_as_licences(suite.env, event, app_id)


def other_uscc(rng: random.Random) -> str:
    body = "91310104" + "".join(rng.choice(USCC_CHARSET[:10] + "ABCDEFGH") for _ in range(9))
    return body + uscc_check_char(body)


# --- bundles: the payload a front-end would send ------------------------------------------------

USERS = {"road-excavation-greening": "applicant-company", "shop-signboard": "applicant-company",
         "plant-quarantine": "applicant-person"}


@pytest.fixture(scope="module")
async def bundle_types(client: httpx.AsyncClient, token) -> dict[str, dict[str, Any]]:
    r = await client.get("/v1/bundles/types", headers=bearer(await token("applicant-person")))
    assert r.status_code == 200, r.text
    return {t["code"]: t for t in r.json()}


async def bundle_payload(client: httpx.AsyncClient, tok: str, bundle_type: dict[str, Any], seed: int = 0) -> dict[str, Any]:
    """Shared applicant data and materials once; each part with only what is its own."""
    members = [await matter(client, tok, m["code"]) for m in bundle_type["matters"]]
    forms = {m["code"]: valid_form(m, seed + i) for i, m in enumerate(members)}
    shared = {k: forms[members[0]["code"]][k] for k in bundle_type["shared_fields"] if k in forms[members[0]["code"]]}
    if "applicant_type" in shared:
        shared["applicant_type"] = "individual"
    shared_materials: dict[str, Any] = {}
    parts: dict[str, Any] = {}
    for m in members:
        uploaded = await all_materials(client, tok, m)
        presets = next(x["preset_form"] for x in bundle_type["matters"] if x["code"] == m["code"])
        for code in bundle_type["shared_materials"]:
            if code in uploaded:
                shared_materials.setdefault(code, uploaded[code])
        parts[m["code"]] = {
            "form": {k: v for k, v in forms[m["code"]].items() if k not in shared and k not in presets},
            "materials": {k: v for k, v in uploaded.items() if k not in bundle_type["shared_materials"]},
        }
    return {"bundle_type": bundle_type["code"], "shared": shared, "shared_materials": shared_materials, "parts": parts}


async def file_bundle(client: httpx.AsyncClient, token, bundle_types, code: str,
                      seed: int = 0) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """File a bundle of type ``code`` as its usual applicant: (their token, the bundle, the payload sent)."""
    tok = await token(USERS[code])
    payload = await bundle_payload(client, tok, bundle_types[code], seed)
    r = await client.post("/v1/bundles", json=payload, headers=bearer(tok))
    assert r.status_code == 201, r.text
    return tok, r.json(), payload


def all_prereviewed(b: dict[str, Any]) -> bool:
    return all(p["status"] == "prereviewed" for p in b["parts"])


# --- bundles ----------------------------------------------------------------------------------

async def test_bundle_types_name_their_matters_and_what_is_shared(bundle_types) -> None:
    assert set(bundle_types) == {"road-excavation-greening", "shop-signboard", "plant-quarantine"}
    road = bundle_types["road-excavation-greening"]
    assert road["name_zh"] == "道路挖掘绿化配套审批" and road["name_en"]
    assert [m["code"] for m in road["matters"]] == ["LR-XK-007", "LR-XK-008"]
    assert {"applicant_uscc", "contact_name", "contact_mobile"} <= set(road["shared_fields"])
    assert "business_licence" in road["shared_materials"]
    assert road["matters"][0]["preset_form"] == {"purpose": "road_excavation", "affects_trees": True}
    shop = bundle_types["shop-signboard"]
    assert {m["kind"] for m in shop["matters"]} == {"filing", "licence"}
    assert {m["code"] for m in bundle_types["plant-quarantine"]["matters"]} == {"LR-XK-001", "LR-XK-010"}


@pytest.mark.parametrize("code", sorted(USERS))
async def test_a_bundle_of_each_kind_files_linked_applications_and_combines_their_status(
        suite, client, token, bundle_types, code: str) -> None:
    before = await counts(suite, ("bundles", "applications"))
    tok, created, payload = await file_bundle(client, token, bundle_types, code, seed=20)
    assert created["bundle_type"] == code and created["name_zh"] == bundle_types[code]["name_zh"]
    assert created["status"] == "in_progress" and created["status_label_zh"] == "办理中"
    assert created["stage"] == "prereview" and created["parts_total"] == 2 and created["completed_at"] is None
    assert [p["matter_code"] for p in created["parts"]] == [m["code"] for m in bundle_types[code]["matters"]]
    assert {p["status"] for p in created["parts"]} == {"submitted"}
    assert len({p["department"] for p in created["parts"]}) >= 1
    assert await counts(suite, ("bundles", "applications")) == [before[0] + 1, before[1] + 2]

    done = await wait_bundle(client, tok, created["id"], all_prereviewed, "got both parts pre-reviewed")
    assert done["status"] == "in_progress" and done["stage"] == "acceptance" and done["needs_applicant"] is False

    payload_shared = payload["shared"]
    for part in done["parts"]:
        app = (await client.get(f"/v1/applications/{part['application_id']}", headers=bearer(tok))).json()
        assert app["origin"] == "bundle" and app["bundle_id"] == created["id"]
        for key, value in payload_shared.items():  # the shared values reached every part that has the field
            assert app["form"][key] == value
        preset = next(m["preset_form"] for m in bundle_types[code]["matters"] if m["code"] == part["matter_code"])
        assert all(app["form"][k] == v for k, v in preset.items())
    if code == "road-excavation-greening":
        apps = [(await client.get(f"/v1/applications/{p['application_id']}", headers=bearer(tok))).json()
                for p in done["parts"]]
        # One upload of the shared business licence serves both parts.
        assert apps[0]["materials"]["business_licence"]["material_id"] == apps[1]["materials"]["business_licence"]["material_id"]

    # Staff see it; the applicant finds it in their list.
    assert (await client.get(f"/v1/bundles/{created['id']}", headers=bearer(await token("officer")))).status_code == 200
    mine = (await client.get("/v1/bundles", headers=bearer(tok))).json()
    assert created["id"] in [b["id"] for b in mine["items"]]


async def test_bundle_completes_when_every_part_completes(suite, client, token, bundle_types) -> None:
    officer, reviewer = await token("officer"), await token("reviewer")
    tok, created, _ = await file_bundle(client, token, bundle_types, "shop-signboard", seed=40)
    bundle = await wait_bundle(client, tok, created["id"], all_prereviewed, "got both parts pre-reviewed")
    filing = next(p["application_id"] for p in bundle["parts"] if p["matter_code"] == "LR-BA-003")
    licence = next(p["application_id"] for p in bundle["parts"] if p["matter_code"] == "LR-XK-005")

    for app_id in (filing, licence):
        await act(client, officer, app_id, "accept")
    state = (await client.get(f"/v1/bundles/{created['id']}", headers=bearer(tok))).json()
    assert state["stage"] == "review"  # accepted: the statutory clocks run
    for app_id in (filing, licence):
        await act(client, reviewer, app_id, "review")
        await act(client, reviewer, app_id, "approve")
    await act(client, officer, filing, "complete")  # a filing needs no licence
    state = (await client.get(f"/v1/bundles/{created['id']}", headers=bearer(tok))).json()
    # One part completed, the other waits for its licence: the bundle is where its slowest part is.
    assert state["status"] == "in_progress" and state["stage"] == "issuance"
    assert state["parts_completed"] == 1 and state["completed_at"] is None

    await publish_licence_issued(suite, licence, "u-applicant-company")
    await wait_bundle(client, tok, created["id"],
                      lambda b: any(p["status"] == "licence_issued" for p in b["parts"]), "got its licence issued")
    await act(client, officer, licence, "complete")
    done = (await client.get(f"/v1/bundles/{created['id']}", headers=bearer(tok))).json()
    assert done["status"] == "completed" and done["status_label_zh"] == "已办结" and done["stage"] == "completed"
    assert done["parts_completed"] == 2 and done["completed_at"] is not None
    row = (await query(suite, "SELECT status, completed_at FROM bundles WHERE id = $1", created["id"]))[0]
    assert row["status"] == "completed" and row["completed_at"] is not None

    completed = await events_on(suite, "lvrong.matters.bundle.completed",
                                lambda e: e["data"]["bundle_id"] == created["id"])
    assert len(completed) == 1, completed  # written once, when the last part completed
    data = completed[0]["data"]
    assert data["bundle_type"] == "shop-signboard" and data["applicant_subject"] == "u-applicant-company"
    assert sorted(data["application_ids"]) == sorted([filing, licence])


async def test_parts_completing_at_the_same_moment_complete_the_bundle_once(suite, client, token,
                                                                           bundle_types) -> None:
    officer, reviewer = await token("officer"), await token("reviewer")
    tok, created, _ = await file_bundle(client, token, bundle_types, "shop-signboard", seed=50)
    bundle = await wait_bundle(client, tok, created["id"], all_prereviewed, "got both parts pre-reviewed")
    ids = [p["application_id"] for p in bundle["parts"]]
    for app_id in ids:
        for action, who in (("accept", officer), ("review", reviewer), ("approve", reviewer)):
            await act(client, who, app_id, action)
    state = (await client.get(f"/v1/bundles/{created['id']}", headers=bearer(tok))).json()
    assert state["stage"] == "decision"  # the approved filing is at 决定, the approved licence waits for 出证
    licence = next(p["application_id"] for p in bundle["parts"] if p["matter_code"] == "LR-XK-005")
    await publish_licence_issued(suite, licence, "u-applicant-company")
    await wait_bundle(client, tok, created["id"],
                      lambda b: any(p["status"] == "licence_issued" for p in b["parts"]), "got its licence issued")
    # Each transaction locks only its own part: the bundle lock makes the later one see the earlier one.
    await asyncio.gather(*(act(client, officer, app_id, "complete") for app_id in ids))
    done = (await client.get(f"/v1/bundles/{created['id']}", headers=bearer(tok))).json()
    assert done["status"] == "completed"
    assert (await query(suite, "SELECT status FROM bundles WHERE id = $1", created["id"]))[0]["status"] == "completed"
    completed = await events_on(suite, "lvrong.matters.bundle.completed",
                                lambda e: e["data"]["bundle_id"] == created["id"])
    assert len(completed) == 1


async def test_bundle_ending_without_every_grant_is_partially_completed_or_closed(suite, client, token,
                                                                                   bundle_types) -> None:
    officer, reviewer = await token("officer"), await token("reviewer")
    tok, created, _ = await file_bundle(client, token, bundle_types, "shop-signboard", seed=60)
    bundle = await wait_bundle(client, tok, created["id"], all_prereviewed, "got both parts pre-reviewed")
    filing = next(p["application_id"] for p in bundle["parts"] if p["matter_code"] == "LR-BA-003")
    licence = next(p["application_id"] for p in bundle["parts"] if p["matter_code"] == "LR-XK-005")
    await act(client, officer, licence, "refuse", reason="招牌位置不符合规划 / position not allowed")
    state = (await client.get(f"/v1/bundles/{created['id']}", headers=bearer(tok))).json()
    assert state["status"] == "in_progress" and state["parts_closed"] == 1 and state["stage"] == "acceptance"
    for action, who in (("accept", officer), ("review", reviewer), ("approve", reviewer), ("complete", officer)):
        await act(client, who, filing, action)
    done = (await client.get(f"/v1/bundles/{created['id']}", headers=bearer(tok))).json()
    assert done["status"] == "partially_completed" and done["status_label_zh"] == "部分办结"
    assert done["completed_at"] is not None

    tok2, other, _ = await file_bundle(client, token, bundle_types, "plant-quarantine", seed=61)
    for part in other["parts"]:
        await act(client, tok2, part["application_id"], "withdraw")
    closed = (await client.get(f"/v1/bundles/{other['id']}", headers=bearer(tok2))).json()
    assert closed["status"] == "closed" and closed["stage"] == "closed" and closed["parts_closed"] == 2

    # Neither completed: no BundleCompleted for them.
    none = await events_on(suite, "lvrong.matters.bundle.completed",
                           lambda e: e["data"]["bundle_id"] in (created["id"], other["id"]))
    assert none == []


async def test_a_returned_part_shows_the_bundle_waits_for_the_applicant(client, token, bundle_types) -> None:
    tok = await token("applicant-company")
    payload = await bundle_payload(client, tok, bundle_types["road-excavation-greening"], seed=70)
    del payload["parts"]["LR-XK-008"]["materials"]["transplant_plan"]  # a required material: pre-review returns it
    r = await client.post("/v1/bundles", json=payload, headers=bearer(tok))
    assert r.status_code == 201, r.text
    state = await wait_bundle(client, tok, r.json()["id"], lambda b: all(p["status"] != "submitted" for p in b["parts"]),
                              "got its pre-review verdicts")
    assert {p["matter_code"]: p["status"] for p in state["parts"]} == {"LR-XK-007": "prereviewed", "LR-XK-008": "returned"}
    assert state["needs_applicant"] is True and state["stage"] == "apply"


BAD_BUNDLES = {
    "unknown bundle type": (lambda p: {**p, "bundle_type": "wedding"}, "bundle_type", "unknown_bundle_type"),
    "missing part": (lambda p: {**p, "parts": {"LR-XK-007": p["parts"]["LR-XK-007"]}}, "parts.LR-XK-008", "missing_part"),
    "extra part": (lambda p: {**p, "parts": {**p["parts"], "LR-XK-002": {"form": {}}}}, "parts.LR-XK-002", "unknown_part"),
    "bad field in one part": (
        lambda p: {**p, "parts": {**p["parts"], "LR-XK-008": {**p["parts"]["LR-XK-008"],
                                                              "form": {**p["parts"]["LR-XK-008"]["form"], "tree_count": "three"}}}},
        "parts.LR-XK-008.form.tree_count", "invalid_type"),
    "unknown field in one part": (
        lambda p: {**p, "parts": {**p["parts"], "LR-XK-007": {**p["parts"]["LR-XK-007"], "form": {"colour": "green"}}}},
        "parts.LR-XK-007.form.colour", "unknown_field"),
    "bad shared value": (lambda p: {**p, "shared": {**p["shared"], "contact_mobile": 13912345678}},
                         "shared.contact_mobile", "invalid_type"),
    "shared field no member has": (lambda p: {**p, "shared": {**p["shared"], "shoe_size": 42}}, "shared.shoe_size",
                                   "unknown_field"),
    "contradicts what the bundle fixes": (
        lambda p: {**p, "parts": {**p["parts"], "LR-XK-007": {**p["parts"]["LR-XK-007"],
                                                              "form": {**p["parts"]["LR-XK-007"]["form"], "purpose": "event"}}}},
        "parts.LR-XK-007.form.purpose", "fixed_by_bundle"),
    "unknown upload in one part": (
        lambda p: {**p, "parts": {**p["parts"], "LR-XK-008": {**p["parts"]["LR-XK-008"], "materials": {
            **p["parts"]["LR-XK-008"]["materials"], "reason_proof": "0" * 32}}}},
        "parts.LR-XK-008.materials.reason_proof", "unknown_upload"),
    "shared material no member needs": (lambda p: {**p, "shared_materials": {**p["shared_materials"], "passport": "x"}},
                                        "shared_materials.passport", "unknown_material"),
    "part not an object": (lambda p: {**p, "parts": {**p["parts"], "LR-XK-008": "all of it"}}, None, None),
    "extra top-level property": (lambda p: {**p, "status": "completed"}, None, None),
}


@pytest.fixture(scope="module")
async def road_payload(client: httpx.AsyncClient, token, bundle_types) -> dict[str, Any]:
    return await bundle_payload(client, await token("applicant-company"), bundle_types["road-excavation-greening"], 80)


@pytest.mark.parametrize("case", sorted(BAD_BUNDLES))
async def test_bad_bundles_are_422_naming_the_part_and_write_nothing(suite, client, token, road_payload,
                                                                     case: str) -> None:
    mutate, field, code = BAD_BUNDLES[case]
    before = await counts(suite, BUNDLE_TABLES)
    r = await client.post("/v1/bundles", json=mutate(road_payload),
                          headers={**bearer(await token("applicant-company")), "Idempotency-Key": str(uuid.uuid4())})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["title_zh"] and body["title_en"] and body["errors"]
    if field:
        assert (field, code) in {(e["field"], e["code"]) for e in body["errors"]}, body["errors"]
        assert all(e["message"] and e["message_en"] for e in body["errors"])
    assert await counts(suite, BUNDLE_TABLES) == before


async def test_errors_in_several_parts_are_all_reported_at_once(suite, client, token, road_payload) -> None:
    payload = json.loads(json.dumps(road_payload))
    payload["parts"]["LR-XK-007"]["form"]["area_m2"] = "large"
    payload["parts"]["LR-XK-008"]["form"]["tree_count"] = 2.5
    before = await counts(suite, BUNDLE_TABLES)
    r = await client.post("/v1/bundles", json=payload, headers=bearer(await token("applicant-company")))
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"parts.LR-XK-007.form.area_m2", "parts.LR-XK-008.form.tree_count"}
    assert await counts(suite, BUNDLE_TABLES) == before


async def test_someone_elses_upload_cannot_be_a_shared_material(suite, client, token, road_payload) -> None:
    theirs = (await upload(client, await token("applicant-person"), "licence.pdf")).json()["id"]
    before = await counts(suite, BUNDLE_TABLES)
    r = await client.post("/v1/bundles", json={**road_payload, "shared_materials": {"business_licence": theirs}},
                          headers=bearer(await token("applicant-company")))
    assert r.status_code == 422
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [("shared_materials.business_licence", "unknown_upload")]
    assert await counts(suite, BUNDLE_TABLES) == before


@pytest.mark.parametrize("user", ["officer", "reviewer", "ops"])
async def test_staff_cannot_file_bundles(suite, client, token, road_payload, user: str) -> None:
    before = await counts(suite, BUNDLE_TABLES)
    r = await client.post("/v1/bundles", json=road_payload, headers=bearer(await token(user)))
    assert r.status_code == 403 and r.json()["type"].endswith(("/forbidden", "/insufficient-scope"))
    assert await counts(suite, BUNDLE_TABLES) == before


async def test_only_the_applicant_and_staff_read_a_bundle(client, token, bundle_types) -> None:
    tok, created, _ = await file_bundle(client, token, bundle_types, "plant-quarantine", seed=90)
    stranger = await token("applicant-company")
    r = await client.get(f"/v1/bundles/{created['id']}", headers=bearer(stranger))
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    assert created["id"] not in [b["id"] for b in (await client.get("/v1/bundles", headers=bearer(stranger))).json()["items"]]
    assert (await client.get("/v1/bundles/no-such-bundle", headers=bearer(tok))).status_code == 404
    for staff in ("officer", "inspector"):
        assert (await client.get(f"/v1/bundles/{created['id']}", headers=bearer(await token(staff)))).status_code == 200
    # Its parts are the applicant's applications like any other.
    part = created["parts"][0]["application_id"]
    assert (await client.get(f"/v1/applications/{part}", headers=bearer(stranger))).status_code == 404


async def test_bundle_list_paginates_newest_first(client, token, bundle_types) -> None:
    tok = await token("applicant-person")
    ids = [(await file_bundle(client, token, bundle_types, "plant-quarantine", seed=100 + i))[1]["id"] for i in range(3)]
    seen: list[str] = []
    cursor = None
    while True:
        body = (await client.get("/v1/bundles", params={"limit": 2, **({"cursor": cursor} if cursor else {})},
                                 headers=bearer(tok))).json()
        assert len(body["items"]) <= 2
        seen += [b["id"] for b in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen[:3] == list(reversed(ids)) and len(seen) == len(set(seen))
    bad = await client.get("/v1/bundles", params={"cursor": "!!"}, headers=bearer(tok))
    assert bad.status_code == 400


async def test_idempotency_key_replays_the_same_bundle(suite, client, token, bundle_types) -> None:
    tok = await token("applicant-person")
    payload = await bundle_payload(client, tok, bundle_types["plant-quarantine"], seed=110)
    key = str(uuid.uuid4())
    before = await counts(suite, ("bundles", "applications"))
    answers = await asyncio.gather(*(client.post("/v1/bundles", json=payload, headers={**bearer(tok), "Idempotency-Key": key})
                                     for _ in range(4)))
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["id"] for a in answers}) == 1
    assert await counts(suite, ("bundles", "applications")) == [before[0] + 1, before[1] + 2]
    reused = await client.post("/v1/bundles", json={**payload, "shared": {}}, headers={**bearer(tok), "Idempotency-Key": key})
    assert reused.status_code == 422 and reused.json()["type"].endswith("/idempotency-key-reused")


# --- 免申即享: vehicle-washing filing --------------------------------------------------------------

def business(uscc: str, name: str, **changes: Any) -> dict[str, Any]:
    """A registered car-wash business that meets every rule, unless ``changes`` say otherwise."""
    today = dt.date.today()
    line = {"uscc": uscc, "name": name, "business_scope": "机动车清洗服务；汽车零配件销售", "district": "上海市浦东新区",
            "address": "浦东新区张江路100号", "status": "active",
            "licences": [{"type": "营业执照", "number": f"BL-{uscc}", "valid_until": None, "issued_on": "2024-03-01"},
                         {"type": "排水许可证", "number": f"沪水务排证字第{uscc[-6:]}号",
                          "valid_until": (today + dt.timedelta(days=365)).isoformat()}]}
    return {**line, **changes}


async def run(client: httpx.AsyncClient, token) -> dict[str, Any]:
    r = await client.post("/v1/benefits/vehicle-washing/runs", headers=bearer(await token("ops")))
    assert r.status_code == 200, r.text
    return r.json()


async def test_vehicle_washing_filing_is_granted_once_without_application(suite, client, token) -> None:
    ops = await token("ops")
    rng = random.Random(2026)
    yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    other = other_uscc(rng)
    ineligible = {rule: other_uscc(rng) for rule in ("active", "scope-vehicle-washing", "located-in-shanghai",
                                                     "valid-business-licence", "valid-drainage-permit", "filing-form-fits")}
    lines = [
        business(COMPANY_USCC, "上海演示绿化工程有限公司洗车场", business_scope="绿化工程；洗车服务"),
        business(other, "上海浦东汽车美容有限公司", business_scope="汽车美容；汽车装饰用品销售", district="徐汇区"),
        business(ineligible["active"], "停业洗车行", status="suspended"),
        business(ineligible["scope-vehicle-washing"], "上海某餐饮管理有限公司", business_scope="餐饮服务"),
        business(ineligible["located-in-shanghai"], "昆山洗车有限公司", district="昆山市"),
        business(ineligible["valid-business-licence"], "执照过期洗车行", licences=[
            {"type": "营业执照", "number": "BL-old", "valid_until": yesterday},
            {"type": "城镇污水排入排水管网许可证", "number": "PS-1", "valid_until": None}]),
        business(ineligible["valid-drainage-permit"], "无排水许可洗车行", licences=[
            {"type": "营业执照", "number": "BL-2", "valid_until": None}]),
        business(ineligible["filing-form-fits"], "地址很长的洗车行", address="浦东新区" + "很长的路" * 60),
        business(COMPANY_USCC[:-1] + ("0" if COMPANY_USCC[-1] != "0" else "1"), "校验位错误的公司"),
        {"uscc": other_uscc(rng), "business_scope": "洗车", "status": "active"},
    ]
    imported = await client.post("/v1/benefits/businesses", json=lines, headers=bearer(ops))
    assert imported.status_code == 200, imported.text
    report = imported.json()
    assert (report["received"], report["accepted"], report["rejected"]) == (10, 8, 2)
    results = [(line["line"], line["result"]) for line in report["lines"]]
    assert results == [(i, "created") for i in range(1, 9)] + [(9, "rejected"), (10, "rejected")]
    assert [(e["field"], e["code"]) for e in report["lines"][8]["errors"]] == [("uscc", "invalid_uscc")]
    assert {e["field"] for e in report["lines"][9]["errors"]} == {"name", "district", "address"}
    again = await client.post("/v1/benefits/businesses", json=[lines[0]], headers=bearer(ops))
    assert again.json()["lines"][0]["result"] == "updated"
    stored = await query(suite, "SELECT district FROM registered_businesses WHERE uscc = $1", COMPANY_USCC)
    assert stored[0]["district"] == "浦东新区"  # normalised to the bare district name

    rules = (await client.get("/v1/benefits/vehicle-washing/rules", headers=bearer(ops))).json()
    assert rules["matter_code"] == "LR-BA-001" and rules["version"]
    assert [r["id"] for r in rules["rules"]] == list(ineligible)
    assert all(r["description_zh"] and r["description_en"] for r in rules["rules"])

    first = await run(client, token)
    granted = {g["uscc"]: g["application_id"] for g in first["granted"]}
    assert {COMPANY_USCC, other} <= set(granted)
    refused = {b["uscc"]: b["failed_rules"] for b in first["ineligible_businesses"]}
    for rule, uscc in ineligible.items():
        assert refused[uscc] == [rule], (rule, refused.get(uscc))
        assert uscc not in granted
    assert first["matched"] == first["granted_now"] + first["already_granted"] and first["rule_version"] == rules["version"]
    assert all(first["ineligible_by_rule"][rule] >= 1 for rule in ineligible)

    second = await run(client, token)
    assert second["granted_now"] == 0 and second["granted"] == []
    assert second["already_granted"] >= 2 and second["matched"] == first["matched"]
    mine = [COMPANY_USCC, other]
    rows = await query(suite, "SELECT uscc, count(*) AS n FROM benefit_grants WHERE uscc = ANY($1) GROUP BY uscc", mine)
    assert {r["uscc"]: r["n"] for r in rows} == {COMPANY_USCC: 1, other: 1}
    apps = await query(suite, "SELECT applicant_org_code, count(*) AS n FROM applications WHERE origin = 'benefit' "
                              "AND applicant_org_code = ANY($1) GROUP BY applicant_org_code", mine)
    assert {r["applicant_org_code"]: r["n"] for r in apps} == {COMPANY_USCC: 1, other: 1}

    # The company sees its completed filing among its applications, with the rules it met.
    company = await token("applicant-company")
    listed = (await client.get("/v1/applications", params={"matter": "LR-BA-001", "status": "completed", "limit": 100},
                               headers=bearer(company))).json()["items"]
    assert granted[COMPANY_USCC] in [a["id"] for a in listed]
    filing = (await client.get(f"/v1/applications/{granted[COMPANY_USCC]}", headers=bearer(company))).json()
    assert filing["status"] == "completed" and filing["origin"] == "benefit" and filing["stage"] == "completed"
    assert filing["form"]["applicant_uscc"] == COMPANY_USCC and filing["form"]["district"] == "浦东新区"
    assert filing["exempted_materials"] == 2  # the business licence and the drainage permit it holds
    timeline = (await client.get(f"/v1/applications/{granted[COMPANY_USCC]}/timeline", headers=bearer(company))).json()
    assert [(s["action"], s["status"], s["actor"]) for s in timeline["items"]] == [("auto_match", "completed", "svc-matters")]
    assert [r["id"] for r in timeline["items"][0]["details"]["matched_rules"]] == list(ineligible)
    # Another company does not see it.
    assert (await client.get(f"/v1/applications/{granted[COMPANY_USCC]}",
                             headers=bearer(await token("applicant-person")))).status_code == 404

    # One BenefitGranted event (the notification) per grant.
    events = await events_on(suite, "lvrong.matters.benefit.granted", lambda e: e["data"]["uscc"] in mine)
    assert sorted((e["data"]["uscc"], e["data"]["application_id"]) for e in events) == sorted((u, granted[u]) for u in mine)
    assert all(e["data"]["matter_code"] == "LR-BA-001" and e["data"]["business_name"] for e in events)

    # Ops (and inspectors) list the grants, page by page.
    seen: list[str] = []
    cursor = None
    while True:
        page = (await client.get("/v1/benefits/vehicle-washing/grants",
                                 params={"limit": 1, **({"cursor": cursor} if cursor else {})}, headers=bearer(ops))).json()
        seen += [g["uscc"] for g in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert set(mine) <= set(seen) and len(seen) == len(set(seen))
    assert (await client.get("/v1/benefits/vehicle-washing/grants", headers=bearer(await token("inspector")))).status_code == 200


async def test_concurrent_runs_grant_each_business_once(suite, client, token) -> None:
    rng = random.Random(7)
    usccs = [other_uscc(rng) for _ in range(6)]
    r = await client.post("/v1/benefits/businesses", headers=bearer(await token("ops")),
                          json=[business(u, f"并发洗车行{i}") for i, u in enumerate(usccs)])
    assert r.json()["accepted"] == 6
    reports = await asyncio.gather(*(run(client, token) for _ in range(4)))
    granted = [g["uscc"] for rep in reports for g in rep["granted"] if g["uscc"] in usccs]
    assert sorted(granted) == sorted(usccs)  # each granted by exactly one of the runs
    rows = await query(suite, "SELECT count(*) AS n, count(DISTINCT uscc) AS d FROM benefit_grants WHERE uscc = ANY($1)", usccs)
    assert (rows[0]["n"], rows[0]["d"]) == (6, 6)
    apps = await query(suite, "SELECT count(*) AS n FROM applications WHERE origin = 'benefit' "
                              "AND applicant_org_code = ANY($1)", usccs)
    assert apps[0]["n"] == 6  # the losing runs' filings were rolled back whole
    events = await events_on(suite, "lvrong.matters.benefit.granted", lambda e: e["data"]["uscc"] in usccs)
    assert sorted(e["data"]["uscc"] for e in events) == sorted(usccs)


@pytest.mark.parametrize(("user", "method", "path"), [
    ("applicant-company", "post", "/v1/benefits/businesses"),
    ("officer", "post", "/v1/benefits/businesses"),
    ("inspector", "post", "/v1/benefits/businesses"),
    ("applicant-company", "post", "/v1/benefits/vehicle-washing/runs"),
    ("reviewer", "post", "/v1/benefits/vehicle-washing/runs"),
    ("applicant-company", "get", "/v1/benefits/vehicle-washing/grants"),
    ("officer", "get", "/v1/benefits/vehicle-washing/grants"),
])
async def test_benefits_need_ops(suite, client, token, user: str, method: str, path: str) -> None:
    tables = ("registered_businesses", "benefit_grants", "applications")
    before = await counts(suite, tables)
    kwargs = {"json": [business(other_uscc(random.Random(1)), "越权导入")]} if path.endswith("businesses") else {}
    r = await getattr(client, method)(path, headers=bearer(await token(user)), **kwargs)
    assert r.status_code == 403 and r.json()["type"].endswith(("/forbidden", "/insufficient-scope"))
    assert await counts(suite, tables) == before


@pytest.mark.parametrize("body", [{"uscc": COMPANY_USCC}, [], "not json", [1] * 5001])
async def test_bad_business_imports_are_422_and_write_nothing(suite, client, token, body: Any) -> None:
    before = await counts(suite, ("registered_businesses",))
    kwargs = {"content": body, "headers": {**bearer(await token("ops")), "Content-Type": "application/json"}} \
        if isinstance(body, str) else {"json": body, "headers": bearer(await token("ops"))}
    r = await client.post("/v1/benefits/businesses", **kwargs)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert await counts(suite, ("registered_businesses",)) == before
