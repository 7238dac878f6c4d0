"""Personal data through the whole platform, as a front-end and an inspector meet it: encrypted in
every table and on the bus, masked for whoever may not see it, every read and staff action by
someone other than the applicant in a hash-chained audit log that detects tampering, and never in
the logs of a real run."""
from __future__ import annotations

import asyncio
import random
import uuid
from typing import Any

import httpx
import pytest

from support import all_materials, bearer, eventually, matter, valid_form, valid_resident_id, wait_for_verdict

pytestmark = pytest.mark.integration

MATTER = "LR-XK-003"  # has the applicant's resident ID number, a contact name and a contact mobile


def personal_values(seed: int) -> dict[str, str]:
    rng = random.Random(seed)
    return {"applicant_id_number": valid_resident_id(rng),
            "contact_mobile": "137" + f"{rng.randrange(10**8):08d}",
            "contact_name": "诸葛" + "".join(rng.choice("甲乙丙丁戊己庚辛壬癸子丑寅卯") for _ in range(3))}


async def rows_text(suite, service: str, sql: str, *args: Any) -> str:
    conn = await suite.db(service)
    try:
        return "\n".join(str(tuple(r)) for r in await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def audit_entries(client: httpx.AsyncClient, tok: str, service: str, resource_id: str) -> list[dict[str, Any]]:
    r = await client.get(f"/v1/audit/{service}/entries", params={"resource_id": resource_id, "limit": 100},
                         headers=bearer(tok))
    assert r.status_code == 200, r.text
    return r.json()["items"]


@pytest.fixture(scope="module")
async def filed(client: httpx.AsyncClient, token) -> dict[str, Any]:
    """One application with personal data, pre-reviewed."""
    tok = await token("applicant-person")
    m = await matter(client, tok, MATTER)
    secrets_ = personal_values(uuid.uuid4().int)
    form = valid_form(m, 7301) | secrets_
    uploaded = await all_materials(client, tok, m)
    r = await client.post("/v1/applications", json={"matter_code": MATTER, "form": form, "materials": uploaded},
                          headers=bearer(tok) | {"Idempotency-Key": uuid.uuid4().hex})
    assert r.status_code == 201, r.text
    created = r.json()
    await wait_for_verdict(client, tok, created["id"])
    return {"id": created["id"], "created": created, "secrets": secrets_, "form": form, "materials": uploaded}


async def test_the_applicant_sees_their_data_and_the_submission_answer_is_masked(client, token, filed) -> None:
    s = filed["secrets"]
    assert filed["created"]["form"]["applicant_id_number"] == s["applicant_id_number"][:3] + "*" * 11 + s["applicant_id_number"][-4:]
    assert filed["created"]["form"]["contact_mobile"] == s["contact_mobile"][:3] + "****" + s["contact_mobile"][-4:]
    assert filed["created"]["form"]["contact_name"] == "诸" + "*" * (len(s["contact_name"]) - 1)
    own = (await client.get(f"/v1/applications/{filed['id']}", headers=bearer(await token("applicant-person")))).json()
    assert {k: own["form"][k] for k in s} == s
    assert own["form"] == filed["form"]


async def test_personal_data_is_never_stored_or_sent_in_clear(suite, filed) -> None:
    found = "\n".join([
        await rows_text(suite, "matters", "SELECT form::text FROM applications WHERE id = $1", filed["id"]),
        await rows_text(suite, "matters", "SELECT envelope::text FROM outbox WHERE envelope::text LIKE '%' || $1 || '%'",
                        filed["id"]),
        await rows_text(suite, "matters", "SELECT response::text FROM idempotency_keys"),
        await rows_text(suite, "matters", "SELECT details::text, reason FROM application_steps WHERE application_id = $1",
                        filed["id"]),
        await rows_text(suite, "prequal", "SELECT form::text FROM prefill_submissions WHERE application_id = $1", filed["id"]),
        await rows_text(suite, "prequal", "SELECT inputs::text, findings::text, results::text FROM verdicts "
                                          "WHERE application_id = $1", filed["id"]),
        await rows_text(suite, "prequal", "SELECT applicant_key, object_label FROM known_applications "
                                          "WHERE application_id = $1", filed["id"]),
    ])
    assert filed["id"] in found and "$protected" in found  # the rows were there to look at
    for value in filed["secrets"].values():
        assert value not in found
    # The duplicate check still has its key, as a keyed hash.
    key = await rows_text(suite, "prequal", "SELECT applicant_key FROM known_applications WHERE application_id = $1",
                          filed["id"])
    assert len(key.strip("(),' \n")) == 64


async def test_who_sees_personal_data_unmasked(client, token, filed) -> None:
    s = filed["secrets"]
    for user, unmasked in (("officer", True), ("reviewer", True), ("ops", False), ("inspector", False), ("agent", False)):
        r = await client.get(f"/v1/applications/{filed['id']}", headers=bearer(await token(user)))
        assert r.status_code == 200, (user, r.text)
        shown = {k: r.json()["form"][k] for k in s}
        if unmasked:
            assert shown == s, user
        else:
            assert all(shown[k] != s[k] and "*" in shown[k] for k in s), (user, shown)
    # Not readable at all for another applicant: 404, nothing masked or otherwise.
    r = await client.get(f"/v1/applications/{filed['id']}", headers=bearer(await token("applicant-company")))
    assert r.status_code == 404


async def test_reads_and_staff_actions_by_others_are_audited(client, token, filed) -> None:
    inspector = await token("inspector")
    before = await audit_entries(client, inspector, "matters", filed["id"])
    officer = await token("officer")
    assert (await client.get(f"/v1/applications/{filed['id']}", headers=bearer(officer))).status_code == 200
    r = await client.post(f"/v1/applications/{filed['id']}/actions/accept", json={"reason": "材料齐全"},
                          headers=bearer(officer))
    assert r.status_code == 200, r.text
    assert (await client.get(f"/v1/applications/{filed['id']}", headers=bearer(await token("ops")))).status_code == 200
    # The applicant's own reads are not audited.
    assert (await client.get(f"/v1/applications/{filed['id']}",
                             headers=bearer(await token("applicant-person")))).status_code == 200
    after = await audit_entries(client, inspector, "matters", filed["id"])
    new = [e for e in after if e["position"] > max((b["position"] for b in before), default=0)]
    assert [(e["action"], e["actor_subject"]) for e in reversed(new)] == [
        ("application.read", "u-officer"), ("application.accept", "u-officer"), ("application.read", "u-ops")]
    officer_read, accept, ops_read = reversed(new)
    assert officer_read["details"]["personal_fields_shown"] == sorted(filed["secrets"])
    assert ops_read["details"]["personal_fields_shown"] == []  # masked for ops
    assert accept["details"]["status"] == "accepted"
    assert {e["owner_subject"] for e in new} == {filed["created"]["applicant"]}
    assert all(e["resource_type"] == "application" and e["request_id"] for e in new)
    text = str(after)
    assert not any(v in text for v in filed["secrets"].values())


async def test_materials_read_by_others_are_audited(client, token, filed) -> None:
    material_id = next(iter(filed["materials"].values()))
    inspector = await token("inspector")
    own = await client.get(f"/v1/materials/{material_id}/content", headers=bearer(await token("applicant-person")))
    assert own.status_code == 200
    assert await audit_entries(client, inspector, "matters", material_id) == []  # the uploader's own read
    officer = await client.get(f"/v1/materials/{material_id}/content", headers=bearer(await token("officer")))
    assert officer.status_code == 200 and officer.content == own.content
    entries = await audit_entries(client, inspector, "matters", material_id)
    assert [(e["action"], e["actor_subject"], e["details"]["application_id"]) for e in entries] == [
        ("material.read", "u-officer", filed["id"])]


async def test_permission_changes_are_audited(client, token) -> None:
    company = await token("applicant-company")
    grantee = f"u-staff-{uuid.uuid4().hex[:8]}"
    r = await client.post("/v1/authorisations", json={"grantee": grantee},
                          headers=bearer(company) | {"Idempotency-Key": uuid.uuid4().hex})
    assert r.status_code == 201, r.text
    grant_id = r.json()["id"]
    assert (await client.delete(f"/v1/authorisations/{grant_id}", headers=bearer(company))).status_code in (200, 204)
    entries = await audit_entries(client, await token("ops"), "matters", grant_id)
    assert [e["action"] for e in reversed(entries)] == ["authorisation.grant", "authorisation.revoke"]
    assert all(e["details"]["grantee"] == grantee and e["resource_type"] == "company_authorisation" for e in entries)


async def test_the_chain_verifies_and_a_tampered_row_is_found(suite, client, token) -> None:
    inspector = await token("inspector")
    for service in ("matters", "prequal"):
        r = await client.get(f"/v1/audit/{service}/verify", headers=bearer(inspector))
        assert r.status_code == 200, r.text
        assert r.json()["valid"] is True and r.json()["first_broken"] is None
    for user in ("applicant-person", "officer", "agent"):
        r = await client.get("/v1/audit/matters/verify", headers=bearer(await token(user)))
        assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/v1/audit/matters/verify")).status_code == 401

    conn = await suite.db("matters")
    try:
        position, actor = (await conn.fetchrow("SELECT position, actor_subject FROM audit_log ORDER BY position DESC "
                                               "LIMIT 1 OFFSET 1"))
        # Refused while the table's triggers stand ...
        with pytest.raises(Exception, match="append-only"):
            await conn.execute("UPDATE audit_log SET actor_subject = 'nobody' WHERE position = $1", position)
        # ... and found when someone with the owner's rights switches them off to edit a row.
        async with conn.transaction():
            await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change")
            await conn.execute("UPDATE audit_log SET actor_subject = 'nobody' WHERE position = $1", position)
            await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_change")
        report = (await client.get("/v1/audit/matters/verify", headers=bearer(await token("ops")))).json()
        assert report["valid"] is False
        assert report["first_broken"] == {"position": position, "reason": "altered", "expected_position": None}
        assert report["entries"] == position - 1
    finally:
        async with conn.transaction():
            await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change")
            await conn.execute("UPDATE audit_log SET actor_subject = $2 WHERE position = $1", position, actor)
            await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_change")
        await conn.close()
    assert (await client.get("/v1/audit/matters/verify", headers=bearer(inspector))).json()["valid"] is True


async def test_personal_data_never_reaches_the_logs(suite, client, token, filed) -> None:
    # A refused submission carrying personal data too: validation messages must not echo values.
    tok = await token("applicant-person")
    leaked = personal_values(uuid.uuid4().int)
    r = await client.post("/v1/applications", json={"matter_code": MATTER, "form": leaked | {"no_such_field": 1}},
                          headers=bearer(tok))
    assert r.status_code == 422
    assert not any(v in r.text for v in leaked.values())
    # The evidence that the processes wrote their lines about it: each logs a request's id when it ends.
    request_id = r.headers["x-request-id"]

    def logged() -> dict[str, bool]:
        return {name: request_id in (suite.log_dir / f"{name}.log").read_text(errors="replace")
                for name in ("gateway", "matters")}

    await eventually(lambda: asyncio.sleep(0, logged()), lambda got: all(got.values()),
                     "the refused request in both processes' logs")
    logs = "".join(p.read_text(errors="replace") for p in suite.log_dir.glob("*.log"))
    assert filed["id"] in logs  # the run's logs are the ones read
    for value in [*filed["secrets"].values(), *leaked.values()]:
        assert value not in logs, value
