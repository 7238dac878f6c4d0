"""svc-prequal knows every matter from the catalogue's events, before anyone applies: through the gateway,
the dry run and pre-fill of a shipped matter nobody applied for answer 200 with real findings, and a
matter and its new version imported by ops are checked as soon as their ``matter.published`` events are
handled (evidence: the event id in svc-prequal's ``processed_events``), with no submission at all."""
from __future__ import annotations

import json
from importlib import resources
from typing import Any

import httpx
import pytest

from kit.contracts import MatterPublished
from support import bearer, handled, matter, public_service_item, valid_form

pytestmark = pytest.mark.integration

CONSUMER = "prequal-catalogue"  # kit.events.consumer.durable_name("prequal", the "catalogue" subscription)
NEW_CODE = "LR-GG-971"


async def fetch(suite, service: str, query: str, *args: Any) -> list[Any]:
    conn = await suite.db(service)
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


async def applied_for(suite, code: str) -> int:
    """Applications of ``code`` anywhere: filed in svc-matters, or seen by svc-prequal."""
    filed = await fetch(suite, "matters", "SELECT count(*) AS n FROM applications WHERE matter_code = $1", code)
    seen = await fetch(suite, "prequal", "SELECT count(*) AS n FROM prefill_submissions WHERE matter_code = $1", code)
    return filed[0]["n"] + seen[0]["n"]


async def check(client: httpx.AsyncClient, tok: str, code: str, form: dict[str, Any],
                materials: dict[str, Any] | None = None) -> dict[str, Any]:
    r = await client.post("/v1/prequal/check", json={"matter_code": code, "form": form, "materials": materials or {}},
                          headers=bearer(tok))
    assert r.status_code == 200, r.text
    return r.json()


async def test_a_shipped_matter_nobody_applied_for_is_dry_run_and_pre_filled(suite, client, token) -> None:
    applicant, company = await token("applicant-person"), await token("applicant-company")
    current = await fetch(suite, "matters", "SELECT code, version FROM matter_versions WHERE is_current ORDER BY position")
    untouched = [r for r in current if r["version"] == 1 and await applied_for(suite, r["code"]) == 0]
    assert untouched, "every shipped matter has an application: no test left one to check a first applicant on"
    code = untouched[0]["code"]
    await handled(suite, "prequal", MatterPublished.event_id_for(code, 1), consumer=CONSUMER)
    m = await matter(client, applicant, code)

    empty = await check(client, applicant, code, {})
    assert empty["matter_code"] == code and empty["matter_version"] == 1 and empty["verdict"] == "returned"
    targets = {p["target"] for p in empty["problems"]}
    assert targets >= {f"form.{f['key']}" for f in m["fields"] if f.get("required")}
    assert targets >= {f"materials.{x['code']}" for x in m["materials"] if x["required"]}
    assert all(p["message_zh"] and p["message_en"] for p in empty["problems"])
    complete = await check(client, applicant, code, valid_form(m, 71), {x["code"]: "m" for x in m["materials"]})
    assert complete["verdict"] == "passed" and complete["problems"] == []

    r = await client.post("/v1/prequal/prefill", json={"matter_code": code}, headers=bearer(company))
    assert r.status_code == 200, r.text
    filled = r.json()
    assert filled["matter_code"] == code and filled["matter_version"] == 1
    keys = [f["key"] for f in m["fields"]]
    assert set(filled["fields"]).isdisjoint(filled["unfilled"]) and set(filled["fields"]) | set(filled["unfilled"]) == set(keys)
    assert await applied_for(suite, code) == 0  # still nobody applied: all of it came from the catalogue


async def test_an_imported_matter_and_its_new_version_are_known_without_any_submission(suite, client, token) -> None:
    ops, applicant = await token("ops"), await token("applicant-person")
    unknown = await client.post("/v1/prequal/check", json={"matter_code": NEW_CODE, "form": {}}, headers=bearer(applicant))
    assert unknown.status_code == 404 and unknown.headers["content-type"].startswith("application/problem+json")
    assert unknown.json()["title_zh"] and NEW_CODE in unknown.json()["detail"]

    # A dry run of the import announces nothing.
    r = await client.post("/v1/matters/import", json=[public_service_item(NEW_CODE)], params={"dry_run": "true"}, headers=bearer(ops))
    assert r.status_code == 200 and r.json()["results"][0]["outcome"] == "created"
    assert await fetch(suite, "matters", "SELECT 1 FROM outbox WHERE subject = $1 AND envelope->>'subject' = $2",
                       MatterPublished.event_type, NEW_CODE) == []

    r = await client.post("/v1/matters/import", json=[public_service_item(NEW_CODE)], headers=bearer(ops))
    assert r.status_code == 200 and r.json()["results"][0]["outcome"] == "created", r.text
    [announced] = await fetch(suite, "matters", "SELECT event_id FROM outbox WHERE subject = $1 "
                                                "AND envelope->>'subject' = $2", MatterPublished.event_type, NEW_CODE)
    assert announced["event_id"] == MatterPublished.event_id_for(NEW_CODE, 1)
    await handled(suite, "prequal", MatterPublished.event_id_for(NEW_CODE, 1), consumer=CONSUMER)
    first = await check(client, applicant, NEW_CODE, {"contact_name": "张三"})
    assert first["matter_version"] == 1
    assert {p["target"] for p in first["problems"]} == {"form.contact_mobile", "form.topic", "materials.request_letter"}

    # Version 2 adds a required field: checked as soon as its event is handled, nobody having applied.
    site = {"key": "tree_site", "label": "古树所在地址", "label_en": "Where the tree stands", "type": "address",
            "required": True}
    v2 = public_service_item(NEW_CODE, fields=[*public_service_item(NEW_CODE)["fields"], site])
    r = await client.post("/v1/matters/import", json=[v2], headers=bearer(ops))
    assert r.status_code == 200 and r.json()["results"][0]["outcome"] == "new_version", r.text
    await handled(suite, "prequal", MatterPublished.event_id_for(NEW_CODE, 2), consumer=CONSUMER)
    second = await check(client, applicant, NEW_CODE, {"contact_name": "张三", "contact_mobile": "13900000000",
                                                       "topic": "maintenance"}, {"request_letter": "m"})
    assert second["matter_version"] == 2 and second["verdict"] == "returned"
    assert [p["target"] for p in second["problems"]] == ["form.tree_site"]
    assert await applied_for(suite, NEW_CODE) == 0


async def test_svc_matters_announces_every_current_version_again_and_prequal_handles_the_round(suite) -> None:
    """The daily round that keeps the catalogue in LVRONG_MATTERS despite its 7-day max age
    (``matters.catalogue-announcements``): the running svc-matters ran it at start, its events carry the
    round's ids, and svc-prequal's catalogue consumer handled every one of them."""
    claimed = await fetch(suite, "matters", "SELECT event_id FROM processed_events WHERE consumer = $1",
                          "scheduler:matters.catalogue-announcements")
    assert claimed, "svc-matters ran no round of its catalogue announcements at start"
    rounds = [int(r["event_id"]) for r in claimed]
    announced = {r["event_id"] for r in await fetch(suite, "matters", "SELECT event_id FROM outbox WHERE subject = $1",
                                                    MatterPublished.event_type)}
    current = await fetch(suite, "matters", "SELECT code, version FROM matter_versions WHERE is_current")
    first = min(rounds)
    # The first round, at svc-matters' start, announced the shipped catalogue's version 1 of each matter.
    codes = {m["code"] for m in json.loads((resources.files("matters") / "catalogue" / "matters.json").read_text("utf-8"))}
    shipped = [r for r in current if r["code"] in codes and r["version"] == 1]
    assert shipped
    for row in shipped:
        event_id = MatterPublished.announcement_id_for(row["code"], row["version"], first)
        assert event_id in announced
        await handled(suite, "prequal", event_id, consumer=CONSUMER)

