"""Issue 21, parts 2 and 3, through the gateway as front-ends and staff use them:

- 一人（企）一码: a holder generates a rotating code with their consent; an inspector or a window officer scans it
  and sees only what was consented to (valid licences, open applications), masked; an expired code, a superseded
  one and one not ours are refused; every scan is audited and shown to the holder.
- 应归尽归: ops import a register of paper licences (CSV and JSON) validated line by line; the valid lines become
  electronic licences with the paper number, a status-list entry and an SM2 document; a rerun creates nothing;
  a file that is not a register is refused with nothing written."""
from __future__ import annotations

import datetime as dt
import json
import os
import random
import uuid
from typing import Any

import httpx
import pytest

from support import COMPANY_USCC, bearer, eventually, holder_code_cti, prereviewed_application, valid_resident_id

pytestmark = pytest.mark.integration

# The suite's environment is built from this process's when its fixture starts (after collection): the import
# job looks for pending lines every half second.
os.environ.setdefault("LICENCES_IMPORT_INTERVAL_SECONDS", "0.5")

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
COLUMNS = "licence_number,matter_code,holder_name,holder_code_type,holder_code,holder_subject,issued_on,valid_from,valid_until,data"


def _today() -> dt.date:
    return dt.datetime.now(SHANGHAI).date()


def _number(tag: str) -> str:
    return f"沪绿（纸）〔2020〕{tag}-{uuid.uuid4().hex[:8]}号"


def _csv(*lines: str) -> bytes:
    return ("\n".join((COLUMNS, *lines)) + "\n").encode()


async def _count(suite: Any, query: str, *args: Any) -> int:
    conn = await suite.db("licences")
    try:
        return int(await conn.fetchval(query, *args))
    finally:
        await conn.close()


async def _written(suite: Any) -> tuple[int, int, int]:
    return (await _count(suite, "SELECT count(*) FROM licence_imports"),
            await _count(suite, "SELECT count(*) FROM licences"),
            await _count(suite, "SELECT count(*) FROM licence_import_lines"))


async def _import(client: httpx.AsyncClient, ops: str, body: bytes, content_type: str = "text/csv") -> httpx.Response:
    return await client.post("/v1/licences/imports", content=body,
                             headers={**bearer(ops), "Content-Type": content_type})


async def _imported(client: httpx.AsyncClient, ops: str, body: bytes, content_type: str = "text/csv") -> dict[str, Any]:
    """Post a register and wait for the import job to have done every line."""
    return await _finished(client, ops, await _import(client, ops, body, content_type))


async def _finished(client: httpx.AsyncClient, ops: str, r: httpx.Response) -> dict[str, Any]:
    """The report once the import job has done every line of the import ``r`` answered (202: recorded)."""
    assert r.status_code == 202, r.text
    assert r.headers["location"] == f"/v1/licences/imports/{r.json()['id']}"

    async def report() -> dict[str, Any]:
        return dict((await client.get(r.headers["location"], headers=bearer(ops))).json())

    return dict(await eventually(report, lambda x: x["finished_at"] is not None, "the import job finishing", 60))


def _by_line(report: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {line["line"]: line for line in report["lines"]}


async def test_import_validates_each_line_issues_the_valid_ones_and_a_rerun_creates_nothing(client, token, suite):
    ops = await token("ops")
    person_id = valid_resident_id(random.Random(21))
    today = _today()
    company_no, person_no, expired_no = _number("XK002"), _number("XK008"), _number("XK013")
    body = _csv(
        f"{company_no},LR-XK-002,上海演示绿化工程有限公司,uscc,{COMPANY_USCC},,2024-03-01,,{today.year + 1}-02-28,"
        '"{""disposal_site"": ""老港"", ""waste_volume_m3"": 500}"',
        f"{person_no},LR-XK-008,张三丰,resident_id,{person_id},u-applicant-person,2025-01-10,2025-01-15,{today.year + 1}-01-14,",
        f"{_number('BAD')},LR-XX-999,某公司,uscc,91310115MA1H7GXQ3F,,2024-13-01,,2025-01-01,",
        f"{company_no},LR-XK-002,上海演示绿化工程有限公司,uscc,{COMPANY_USCC},,2024-03-01,,2026-02-28,",
        f"{expired_no},LR-XK-013,上海演示绿化工程有限公司,uscc,{COMPANY_USCC},,2019-05-01,,2024-04-30,",
        f",LR-XK-002,,uscc,{COMPANY_USCC},,{today + dt.timedelta(days=3)},,2030-01-01,[1]",
    )
    r = await _import(client, ops, body)
    assert r.status_code == 202, r.text
    recorded = _by_line(r.json())  # validated at once: the valid lines wait for the import job
    assert [recorded[n]["result"] for n in (2, 3, 4, 5, 6, 7)] == ["pending", "pending", "invalid", "invalid",
                                                                    "pending", "invalid"]
    report = await _finished(client, ops, r)
    assert report["pending"] == 0
    assert (report["total"], report["issued"], report["already_imported"], report["invalid"]) == (6, 3, 0, 3)
    assert report["finished_at"] and report["format"] == "csv"
    lines = _by_line(report)
    assert [lines[n]["result"] for n in (2, 3, 4, 5, 6, 7)] == ["issued", "issued", "invalid", "invalid", "issued",
                                                                 "invalid"]
    # Every error of a bad line, each naming its field, in Chinese and English — never the value.
    bad = {e["field"]: e for e in lines[4]["errors"]}
    assert set(bad) == {"matter_code", "holder_code", "issued_on"}
    assert bad["holder_code"]["message"] == "统一社会信用代码无效" and bad["holder_code"]["message_en"]
    assert all("91310115MA1H7GXQ3F" not in json.dumps(e, ensure_ascii=False) for e in lines[4]["errors"])
    assert lines[5]["errors"][0]["code"] == "duplicate" and "第 2 行" in lines[5]["errors"][0]["message"]
    assert {e["field"] for e in lines[7]["errors"]} == {"licence_number", "holder_name", "issued_on", "data"}
    # The report is kept: the same answer later, and in the list of imports.
    again = (await client.get(f"/v1/licences/imports/{report['id']}", headers=bearer(ops))).json()
    assert again == report
    listed = (await client.get("/v1/licences/imports", headers=bearer(ops))).json()["items"]
    assert report["id"] in [i["id"] for i in listed]

    # The person's licence: the paper number kept, an identifier, a status-list entry, an SD-JWT VC and an SM2
    # document the holder receives and anyone verifies online.
    person = await token("applicant-person")
    mine = (await client.get(f"/v1/licences/{lines[3]['licence_id']}", headers=bearer(person))).json()
    assert mine["licence_number"] == person_no and mine["matter_code"] == "LR-XK-008" and mine["status"] == "active"
    assert mine["identifier"].startswith("1.2.156.3005.2.1131XK008.") and mine["status_list"]["index"] >= 0
    assert mine["holder_code"] == person_id and mine["credential"] and mine["sm2_document"]
    assert mine["sm2_document"]["licence"]["licence_number"] == person_no
    assert mine["valid_from"].startswith("2025-01-14T16:00:00")  # 2025-01-15 00:00 in Shanghai
    checked = (await client.post("/v1/verifications", json={"sm2_document": mine["sm2_document"]})).json()
    assert checked["result"] == "valid", checked
    status_list = await client.get("/v1/licences/status-lists/" + str(mine["status_list"]["id"]))
    assert status_list.status_code == 200
    # A paper licence whose term is over is on file, expired from the start.
    officer = await token("officer")
    expired = (await client.get(f"/v1/licences/{lines[6]['licence_id']}",
                                headers={**bearer(officer), "X-Use-Cause": "check"})).json()
    assert expired["status"] == "expired" and expired["licence_number"] == expired_no
    assert "*" in expired["holder_code"]

    # A rerun of the same file creates nothing and says so, line by line.
    before = await _count(suite, "SELECT count(*) FROM licences")
    rerun = await _imported(client, ops, body)
    assert (rerun["issued"], rerun["already_imported"], rerun["invalid"]) == (0, 3, 3)
    relines = _by_line(rerun)
    assert all(relines[n]["licence_id"] == lines[n]["licence_id"] for n in (2, 3, 6))
    assert await _count(suite, "SELECT count(*) FROM licences") == before

    # JSON: the same rules; a number already imported is reported so, a new one issued.
    new_no = _number("XK007")
    doc = {"licences": [
        {"licence_number": company_no, "matter_code": "LR-XK-002", "holder_name": "上海演示绿化工程有限公司",
         "holder_code_type": "uscc", "holder_code": COMPANY_USCC, "issued_on": "2024-03-01", "valid_until": "2030-01-01"},
        {"licence_number": new_no, "matter_code": "LR-XK-007", "holder_name": "上海演示绿化工程有限公司",
         "holder_code_type": "uscc", "holder_code": COMPANY_USCC, "issued_on": "2025-06-01", "valid_until": "2030-05-31",
         "data": {"green_space_area_m2": 120}},
        "not an object"]}
    done = await _imported(client, ops, json.dumps(doc, ensure_ascii=False).encode(), "application/json")
    assert [(x["line"], x["result"]) for x in done["lines"]] == [(1, "already_imported"), (2, "issued"),
                                                                     (3, "invalid")]


async def test_a_file_that_is_not_a_register_is_refused_with_nothing_written(client, token, suite):
    ops = await token("ops")
    good_line = f"{_number('X')},LR-XK-002,某公司,uscc,{COMPANY_USCC},,2024-01-01,,2030-01-01,"
    before = await _written(suite)
    cases = [
        (_csv(good_line), "text/plain", 415),
        ((COLUMNS + "\n" + good_line + "\n").encode("gbk"), "text/csv", 422),  # Excel's GBK, not UTF-8
        (b"licence_number,matter_code\nA,LR-XK-002\n", "text/csv", 422),  # required columns missing
        (_csv(), "text/csv", 422),  # a header and no line
        (b"", "text/csv", 422),
        (b'[{"licence_number": "x"}]', "application/json", 422),  # not {"licences": [...]}
        (b'{"licences": [', "application/json", 422),
        (b'{"licences": []}', "application/json", 422),
        (_csv(*[good_line] * 5001), "text/csv", 413),
    ]
    for body, content_type, code in cases:
        r = await _import(client, ops, body, content_type)
        assert r.status_code == code, (content_type, body[:60], r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert await _written(suite) == before
    # Only ops import: a window officer (who manages licences) and an applicant are refused, nothing written.
    for who in ("officer", "applicant-company"):
        assert (await _import(client, await token(who), _csv(good_line))).status_code == 403
    assert await _written(suite) == before
    assert (await client.get(f"/v1/licences/imports/{uuid.uuid4().hex}", headers=bearer(ops))).status_code == 404


async def _code(client: httpx.AsyncClient, tok: str, consent: list[str]) -> dict[str, Any]:
    r = await client.post("/v1/licences/holder-codes", json={"consent": consent}, headers=bearer(tok))
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _scan(client: httpx.AsyncClient, tok: str, code: str) -> httpx.Response:
    return await client.post("/v1/licences/holder-codes/scan", json={"code": code}, headers=bearer(tok))


async def test_holder_code_shows_what_the_holder_consented_to_and_every_scan_is_audited(client, token, suite):
    ops, company, inspector, officer = [await token(u) for u in ("ops", "applicant-company", "inspector", "officer")]
    # The company holds a licence brought in from paper (found by its credit code) and files an application.
    number = _number("XK002")
    imported = (await _imported(client, ops, _csv(
        f"{number},LR-XK-002,上海演示绿化工程有限公司,uscc,{COMPANY_USCC},,2024-03-01,,2030-02-28,")))
    licence_id = imported["lines"][0]["licence_id"]
    app_id = await prereviewed_application(client, company, "LR-XK-008", seed=2101)
    await eventually(lambda: _count(suite, "SELECT count(*) FROM holder_applications WHERE application_id = $1 "
                                           "AND status = 'prereviewed'", app_id),
                     lambda n: n == 1, "svc-licences learning the application's status")

    # Consent to licences only: the scan shows the valid licences, masked, and no applications.
    first = await _code(client, company, ["licences"])
    assert first["expires_in"] == 300 and first["qr_svg"].startswith("<svg") and first["consent"] == ["licences"]
    r = await _scan(client, inspector, first["code"])
    assert r.status_code == 200, r.text
    shown = r.json()
    assert shown["consent"] == ["licences"] and shown["applications"] is None
    assert shown["holder"]["kind"] == "company" and "*" in shown["holder"]["org_code"]
    mine = [x for x in shown["licences"] if x["id"] == licence_id]
    assert mine and mine[0]["licence_number"] == number and "*" in mine[0]["holder_code"]
    assert mine[0]["credential"] is None and mine[0]["sm2_document"] is None
    assert all(x["status"] == "active" for x in shown["licences"])

    # A new code supersedes the first at once; the new one, consenting to both, shows the open application too,
    # and may be scanned again within its lifetime (the inspector, then the window).
    second = await _code(client, company, ["applications", "licences"])
    r = await _scan(client, inspector, first["code"])
    assert r.status_code == 409 and r.json()["reason"] == "superseded"
    for who in (inspector, officer):
        r = await _scan(client, who, second["code"])
        assert r.status_code == 200, r.text
        assert app_id in [a["application_id"] for a in r.json()["applications"]]
        assert licence_id in [x["id"] for x in r.json()["licences"]]

    # Applications only: no licence is shown.
    third = await _code(client, company, ["applications"])
    r = (await _scan(client, officer, third["code"])).json()
    assert r["licences"] is None and app_id in [a["application_id"] for a in r["applications"]]

    # Its time over (moved into the past: time cannot be waited for), the code is refused, however often shown.
    await _count(suite, "WITH x AS (UPDATE holder_codes SET expires_at = now() - interval '1 second' "
                        "WHERE cti = $1 RETURNING 1) SELECT count(*) FROM x", holder_code_cti(third["code"]))
    for _ in range(2):
        r = await _scan(client, inspector, third["code"])
        assert r.status_code == 409 and r.json()["reason"] == "expired"
        assert r.json()["detail"] and r.json()["title_zh"]

    # Not a holder's code of ours: a tampered code, a 亮证 token, garbage — 422, and still recorded.
    tampered = third["code"][:-4] + ("AAAA" if not third["code"].endswith("AAAA") else "BBBB")
    for code in (tampered, "LC1:" + third["code"][4:20], "hello"):
        r = await _scan(client, inspector, code)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "code"
    # Only inspectors and window officers scan; an applicant is refused at the door (no licences:verify).
    assert (await _scan(client, company, second["code"])).status_code == 403

    # Every scan is in the audit log (who scanned whose code) and shown to the holder.
    entries = (await client.get("/v1/audit/licences/entries", params={"action": "holder_code.scan", "limit": 100},
                                headers=bearer(ops))).json()["items"]
    theirs = [e for e in entries if e["owner_subject"] == "u-applicant-company"]
    results = [e["details"]["result"] for e in theirs]
    assert results.count("shown") >= 4 and results.count("superseded") >= 1 and results.count("expired") >= 2
    assert {e["actor_subject"] for e in theirs} >= {"u-inspector", "u-officer"}
    assert any(licence_id in e["details"].get("licences", []) for e in theirs)
    assert sum(1 for e in entries if e["details"]["result"] == "invalid" and e["actor_subject"] == "u-inspector") >= 3
    scans = (await client.get("/v1/licences/holder-codes/scans", headers=bearer(company))).json()["items"]
    assert {s["scanned_by"] for s in scans} >= {"u-inspector", "u-officer"}
    assert {"shown", "superseded", "expired"} <= {s["result"] for s in scans}
    assert (await client.get("/v1/audit/licences/verify", headers=bearer(ops))).json()["valid"] is True


async def test_a_person_s_code_masks_the_name_and_bad_consent_writes_nothing(client, token, suite):
    ops, person, inspector = [await token(u) for u in ("ops", "applicant-person", "inspector")]
    number = _number("XK008")
    resident = valid_resident_id(random.Random(2102))
    imported = (await _imported(client, ops, _csv(
        f"{number},LR-XK-008,王小明,resident_id,{resident},u-applicant-person,2025-01-10,,2030-01-09,")))
    assert imported["issued"] == 1
    code = await _code(client, person, ["licences"])
    shown = (await _scan(client, inspector, code["code"])).json()
    mine = [x for x in shown["licences"] if x["licence_number"] == number]
    assert mine and mine[0]["holder_name"] == "王**" and resident not in json.dumps(shown)
    assert shown["holder"]["kind"] == "person" and shown["holder"]["org_code"] is None
    # Consent to nothing, or to something that is not a section: refused, no code made.
    before = await _count(suite, "SELECT count(*) FROM holder_codes")
    for body in ({"consent": []}, {"consent": ["everything"]}, {}, {"consent": ["licences"], "subject": "x"}):
        r = await client.post("/v1/licences/holder-codes", json=body, headers=bearer(person))
        assert r.status_code == 422, body
    assert await _count(suite, "SELECT count(*) FROM holder_codes") == before
    # Staff do not generate codes (they hold no licences:write).
    assert (await client.post("/v1/licences/holder-codes", json={"consent": ["licences"]},
                              headers=bearer(inspector))).status_code == 403
