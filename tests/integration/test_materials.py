"""Materials through the gateway: uploads with type, size and content checks, downloads only for
those who may read, and exemptions (两个免于提交) recorded on the application."""
from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from support import (
    JPEG,
    PDF,
    all_materials,
    another_replica,
    bearer,
    issue_quarantine_document,
    upload,
    valid_form,
    wait_licence_known_to_matters,
    wait_status,
)

pytestmark = pytest.mark.integration


async def count_rows(suite, table: str) -> int:
    conn = await suite.db("matters")
    try:
        return await conn.fetchval(f"SELECT count(*) FROM {table}")  # fixed names
    finally:
        await conn.close()


async def stored_counts(suite) -> tuple[int, int, int]:
    """Materials, blobs and blob chunks in svc-matters' database."""
    return (await count_rows(suite, "materials"), await count_rows(suite, "material_blobs"),
            await count_rows(suite, "material_blob_chunks"))


async def test_upload_returns_id_sha256_size_and_type(client, token) -> None:
    tok = await token("applicant-person")
    r = await upload(client, tok, "方案.pdf")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["sha256"] == hashlib.sha256(PDF).hexdigest() and body["size"] == len(PDF)
    assert body["content_type"] == "application/pdf" and body["filename"] == "方案.pdf" and len(body["id"]) == 32
    image = await upload(client, tok, "photo.JPG", JPEG, "image/jpeg")
    assert image.status_code == 201 and image.json()["content_type"] == "image/jpeg"


@pytest.mark.parametrize(("name", "content", "ctype", "status", "code"), [
    ("virus.pdf", b"MZ\x90\x00\x03fake-executable", "application/pdf", 422, "content_mismatch"),
    ("script.pdf", b"#!/bin/sh\nrm -rf /\n", "application/pdf", 422, "content_mismatch"),
    ("photo.png", JPEG, "image/png", 422, "content_mismatch"),
    ("doc.pdf", PDF, "image/png", 422, "content_mismatch"),
    ("notes.txt", b"hello", "text/plain", 422, "file_type_not_accepted"),
    ("noextension", PDF, "application/pdf", 422, "file_type_not_accepted"),
    ("empty.pdf", b"", "application/pdf", 422, "empty"),
])
async def test_mistyped_or_bad_files_are_refused_and_nothing_is_stored(suite, client, token, name: str,
                                                                       content: bytes, ctype: str, status: int,
                                                                       code: str) -> None:
    before = await stored_counts(suite)
    r = await upload(client, await token("applicant-person"), name, content, ctype)
    assert r.status_code == status and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["code"] == code
    assert await stored_counts(suite) == before


async def test_oversized_file_is_413(suite, client, token) -> None:
    before = await stored_counts(suite)
    big = PDF + b"0" * (21 * 1024 * 1024)
    r = await upload(client, await token("applicant-person"), "big.pdf", big)
    assert r.status_code == 413 and r.headers["content-type"].startswith("application/problem+json")
    assert await stored_counts(suite) == before


async def test_upload_needs_the_applicant_role_and_a_file(client, token) -> None:
    assert (await upload(client, await token("officer"))).status_code == 403
    no_file = await client.post("/v1/materials", data={"x": "y"}, headers=bearer(await token("applicant-person")))
    assert no_file.status_code == 422
    assert (await client.post("/v1/materials", files={"file": ("a.pdf", PDF, "application/pdf")})).status_code == 401


async def _application_with_materials(client, tok: str, code: str = "LR-XK-008", seed: int = 0) -> tuple[str, dict]:
    m = (await client.get(f"/v1/matters/{code}", headers=bearer(tok))).json()
    mats = await all_materials(client, tok, m)
    r = await client.post("/v1/applications", json={"matter_code": code, "form": valid_form(m, seed), "materials": mats},
                          headers=bearer(tok))
    assert r.status_code == 201, r.text
    return r.json()["id"], mats


async def test_download_only_for_those_who_may_read(client, token) -> None:
    owner = await token("applicant-person")
    app_id, mats = await _application_with_materials(client, owner, seed=301)
    material_id = next(iter(mats.values()))
    mine = await client.get(f"/v1/materials/{material_id}/content", headers=bearer(owner))
    assert mine.status_code == 200 and mine.content == PDF and mine.headers["content-type"] == "application/pdf"
    assert mine.headers["x-content-type-options"] == "nosniff"
    staff = await client.get(f"/v1/materials/{material_id}/content", headers=bearer(await token("reviewer")))
    assert staff.status_code == 200 and staff.content == PDF
    stranger = await client.get(f"/v1/materials/{material_id}/content", headers=bearer(await token("applicant-company")))
    assert stranger.status_code == 404
    meta = await client.get(f"/v1/materials/{material_id}", headers=bearer(await token("applicant-company")))
    assert meta.status_code == 404
    # An upload nobody has used yet is visible to its uploader only, staff included.
    loose = (await upload(client, owner, "loose.pdf")).json()["id"]
    assert (await client.get(f"/v1/materials/{loose}/content", headers=bearer(await token("reviewer")))).status_code == 404


async def test_someone_elses_upload_cannot_be_attached(suite, client, token) -> None:
    other = (await upload(client, await token("applicant-company"), "theirs.pdf")).json()["id"]
    tok = await token("applicant-person")
    m = (await client.get("/v1/matters/LR-XK-008", headers=bearer(tok))).json()
    before = await count_rows(suite, "applications")
    r = await client.post("/v1/applications", json={"matter_code": m["code"], "form": valid_form(m, 302),
                                                    "materials": {m["materials"][0]["code"]: other}}, headers=bearer(tok))
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "unknown_upload"
    assert await count_rows(suite, "applications") == before




async def test_exemptions_by_licence_and_by_an_earlier_application(suite, client, token) -> None:
    """植物检疫证书 (LR-XK-001): one material from an earlier application, one by a licence the applicant
    really holds (a quarantine requirement document issued through svc-licences); the refusals of
    licence exemptions are in test_licence_exemptions.py."""
    tok = await token("applicant-person")
    licence = await issue_quarantine_document(client, await token("officer"), "u-applicant-person", seed=303)
    await wait_licence_known_to_matters(suite, licence["id"])
    first_id, mats = await _application_with_materials(client, tok, "LR-XK-001", seed=303)
    m = (await client.get("/v1/matters/LR-XK-001", headers=bearer(tok))).json()
    codes = [x["code"] for x in m["materials"]]
    assert codes[:2] == ["consignment_list", "destination_requirement"]
    materials: dict[str, Any] = {codes[0]: {"from_application": first_id}, codes[1]: {"licence_id": licence["id"]}}
    for code in codes[2:]:
        materials[code] = mats[code]
    r = await client.post("/v1/applications", json={"matter_code": m["code"], "form": valid_form(m, 304),
                                                    "materials": materials}, headers=bearer(tok))
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["exempted_materials"] == 2
    assert created["materials"][codes[0]] == {"kind": "earlier_application", "from_application": first_id,
                                              "material_id": mats[codes[0]]}
    assert created["materials"][codes[1]] == {"kind": "licence", "licence_id": licence["id"]}
    passed = await wait_status(client, tok, created["id"], {"prereviewed", "returned"})
    assert passed["status"] == "prereviewed", passed["last_step"]
    conn = await suite.db("matters")
    try:
        rows = await conn.fetch("SELECT code, kind, exemption_reason FROM application_materials WHERE application_id = $1",
                                created["id"])
    finally:
        await conn.close()
    kinds = {r["code"]: (r["kind"], r["exemption_reason"]) for r in rows}
    assert kinds[codes[0]][0] == "earlier_application" and kinds[codes[0]][1]
    assert kinds[codes[1]][0] == "licence" and licence["licence_number"] in kinds[codes[1]][1]
    # Someone else's application cannot stand in for a material.
    stranger = await token("applicant-company")
    m2 = (await client.get("/v1/matters/LR-XK-001", headers=bearer(stranger))).json()
    refused = await client.post("/v1/applications", json={"matter_code": m2["code"], "form": valid_form(m2, 305),
                                                          "materials": {codes[0]: {"from_application": first_id}}},
                                headers=bearer(stranger))
    assert refused.status_code == 422 and refused.json()["errors"][0]["code"] == "unknown_application"
    bad_shape = await client.post("/v1/applications", json={"matter_code": m2["code"],
                                                            "materials": {codes[0]: {"licence": "x"}}},
                                  headers=bearer(stranger))
    assert bad_shape.status_code == 422


async def test_same_bytes_are_stored_once(suite, client, token) -> None:
    tok = await token("applicant-person")
    payload = PDF + b"% unique " + str(time.time()).encode()
    a = (await upload(client, tok, "a.pdf", payload)).json()
    b = (await upload(client, tok, "b.pdf", payload)).json()
    assert a["id"] != b["id"] and a["sha256"] == b["sha256"]
    assert httpx.codes.is_success((await client.get(f"/v1/materials/{b['id']}/content", headers=bearer(tok))).status_code)
    conn = await suite.db("matters")
    try:
        assert await conn.fetchval("SELECT count(*) FROM material_blobs WHERE key = $1", a["sha256"]) == 1
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def second_matters(suite) -> Any:
    """Another svc-matters process on the same database, as a second replica would be: its own port, its
    own working directory for a filesystem store (empty), so only a shared store can serve it."""
    scratch = Path(tempfile.mkdtemp(prefix="lvrong-matters-2-"))
    with another_replica({**suite.env, "MATTERS_BLOB_DIR": str(scratch / "blobs")}, "matters", scratch) as url:
        yield url


async def test_a_material_uploaded_through_one_process_downloads_through_another(suite, client, token,
                                                                                  second_matters: str) -> None:
    tok = await token("applicant-person")
    # Several chunks and a short last one (chunks are 1 MiB), and random so no earlier test stored it.
    payload = PDF + os.urandom(3 * 1024 * 1024 + 12345)
    uploaded = await upload(client, tok, "扫描件.pdf", payload)
    assert uploaded.status_code == 201, uploaded.text
    material = uploaded.json()
    async with httpx.AsyncClient(base_url=second_matters, timeout=30) as other:
        r = await other.get(f"/v1/materials/{material['id']}/content", headers=bearer(tok))
    assert r.status_code == 200 and r.content == payload
    assert r.headers["content-length"] == str(len(payload)) and r.headers["etag"] == f'"{material["sha256"]}"'
    conn = await suite.db("matters")
    try:
        blob = await conn.fetchrow("SELECT size, chunk_count, (SELECT sum(length(data)) FROM material_blob_chunks c "
                                   "WHERE c.key = b.key) AS stored FROM material_blobs b WHERE key = $1", material["sha256"])
    finally:
        await conn.close()
    assert (blob["size"], blob["chunk_count"], blob["stored"]) == (len(payload), 4, len(payload))


async def test_a_material_uploaded_twice_at_once_is_stored_once(suite, client, token) -> None:
    tok = await token("applicant-person")
    payload = PDF + os.urandom(2 * 1024 * 1024)
    answers = await asyncio.gather(*(upload(client, tok, f"copy-{i}.pdf", payload) for i in range(4)))
    assert [a.status_code for a in answers] == [201] * 4
    digest = hashlib.sha256(payload).hexdigest()
    conn = await suite.db("matters")
    try:
        assert await conn.fetchval("SELECT count(*) FROM material_blobs WHERE key = $1", digest) == 1
        assert await conn.fetchval("SELECT count(*) FROM material_blob_chunks WHERE key = $1", digest) == 3
    finally:
        await conn.close()
    for a in answers:
        r = await client.get(f"/v1/materials/{a.json()['id']}/content", headers=bearer(tok))
        assert r.status_code == 200 and r.content == payload
