"""Stalls (堵点) and the data cockpit (数据驾驶舱) through the gateway.

The suite runs stall detection every half second with the default thresholds plus one override
from the environment (``returned``: 3 working days, off by default) — see conftest.py. Idleness
cannot be waited for here, so a test moves an application's ``status_since`` back in the database
(as the lifecycle tests move a clock), then watches the periodic job open and close the stall.
Thresholds are working days of the suite's calendar, so the application is moved back by working
days counted with that calendar, never by calendar days (3 calendar days back from a Sunday or a
Monday, or across a holiday, is not past a threshold of one working day). "Nothing more happened"
is proven by ticks of the job that began after the change, never by a sleep.

The cockpit's period figures are checked exactly on applications the test files and then dates
back to March 2025, a period no other test files into; backlog and overdue ("now") by deltas.
"""
from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.issuer import DemoAccount, DevIssuer
from kit.auth import Role, SubjectKind
from kit.calendar import WorkingDayCalendar
from support import all_materials, bearer, matter, stall_entry_day, ticked, valid_form, wait_status

pytestmark = pytest.mark.integration

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
STALL_MATTER = "LR-XK-008"  # 市绿化市容局许可处
COCKPIT_MATTER = "LR-BA-002"  # a filing of 市绿化市容局分类处
PERIOD = {"from": "2025-03-01", "to": "2025-03-31"}
FORESTRY = "市林业总站"


# --- helpers ------------------------------------------------------------------------------------





async def file(client: httpx.AsyncClient, tok: str, code: str, seed: int, *, drop_material: bool = False,
               exempt_from: str | None = None, draft: bool = False) -> str:
    m = await matter(client, tok, code)
    materials: dict[str, Any] = await all_materials(client, tok, m)
    if drop_material:
        materials.pop(next(x["code"] for x in m["materials"] if x["required"]))
    if exempt_from:
        # 两个免于提交 by the same material of an earlier application: neither material of this filing can
        # stand in by a licence svc-licences issues (营业执照, 食品经营许可证 come from other authorities).
        materials[m["materials"][-1]["code"]] = {"from_application": exempt_from}
    r = await client.post("/v1/applications", json={"matter_code": code, "form": valid_form(m, seed),
                                                    "materials": materials, "draft": draft}, headers=bearer(tok))
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def act(client: httpx.AsyncClient, tok: str, app_id: str, action: str, **body: Any) -> dict[str, Any]:
    r = await client.post(f"/v1/applications/{app_id}/actions/{action}", json=body, headers=bearer(tok))
    assert r.status_code == 200, r.text
    return r.json()


async def sql(suite, query: str, *args: Any) -> Any:
    conn = await suite.db("matters")
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


STALL_JOB = "matters.stall-detection"


def suite_calendar(suite) -> WorkingDayCalendar:
    """The working-day calendar the services count with (CALENDAR_DIR of the suite)."""
    return WorkingDayCalendar(suite.env["CALENDAR_DIR"])


async def idle_past_threshold(suite, app_id: str, working_days: int, extra: int = 0) -> dt.datetime:
    """Move the application's entry into its status back (same time of day) to a day from which
    ``working_days`` working days of the suite's calendar have passed (plus ``extra``), so a threshold of
    ``working_days`` is crossed whatever today is; returns the new ``status_since``."""
    [row] = await sql(suite, "SELECT status_since FROM applications WHERE id = $1", app_id)
    entered = row["status_since"].astimezone(SHANGHAI).date()
    target = stall_entry_day(suite_calendar(suite), working_days, dt.datetime.now(SHANGHAI).date(), extra)
    rows = await sql(suite, "UPDATE applications SET status_since = status_since - make_interval(days => $2) "
                            "WHERE id = $1 RETURNING status_since", app_id, (entered - target).days)
    return rows[0]["status_since"]


async def backdate_filing(suite, ids: list[str], at: str) -> None:
    """Date applications back as if filed at ``at``: their row, and the filing time their steps carry.

    Steps are append-only (a trigger refuses updates); this arrangement lifts it for one transaction.
    """
    conn = await suite.db("matters")
    try:
        async with conn.transaction():
            await conn.execute("ALTER TABLE application_steps DISABLE TRIGGER application_steps_append_only")
            await conn.execute("UPDATE applications SET created_at = $2::text::timestamptz WHERE id = ANY($1::text[])",
                               ids, at)
            await conn.execute("UPDATE application_steps SET application_created_at = $2::text::timestamptz "
                               "WHERE application_id = ANY($1::text[])", ids, at)
            await conn.execute("ALTER TABLE application_steps ENABLE TRIGGER application_steps_append_only")
    finally:
        await conn.close()


async def stalls_of(client: httpx.AsyncClient, tok: str, app_id: str) -> list[dict[str, Any]]:
    r = await client.get("/v1/stalls", params={"application": app_id, "limit": 100}, headers=bearer(tok))
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def wait_stalls(client: httpx.AsyncClient, tok: str, app_id: str, predicate) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        items = await stalls_of(client, tok, app_id)
        if predicate(items):
            return items
        await asyncio.sleep(0.1)
    pytest.fail(f"the stalls of {app_id} never became what was expected: {items}")


async def stall_snapshot(suite, app_id: str) -> list[tuple]:
    rows = await sql(suite, "SELECT id, owner, acknowledged_at, resolved_at, resolution FROM stalls "
                            "WHERE application_id = $1 ORDER BY opened_at", app_id)
    return [tuple(r) for r in rows]


async def outbox_count(suite) -> int:
    return (await sql(suite, "SELECT count(*) AS n FROM outbox"))[0]["n"]


def crossing_hours(idle_since: dt.datetime, working_days: int, calendar: WorkingDayCalendar) -> float:
    """What stalls.py promises: the stall begins at 00:00 of the (N+1)-th working day after the day of entry."""
    entered = idle_since.astimezone(SHANGHAI).date()
    crossing = dt.datetime.combine(calendar.add_working_days(entered, working_days + 1), dt.time.min, SHANGHAI)
    return (crossing - idle_since).total_seconds() / 3600


def assert_problem(r: httpx.Response, status: int) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and body["title_zh"] and body["title_en"]


@pytest.fixture(scope="module")
def forestry_officer(suite) -> str:
    """A window officer of one office (not the bureau), signed with the gateway's development key."""
    issuer = DevIssuer(Path(suite.env["GATEWAY_DEV_ISSUER_KEY_DIR"]), issuer=suite.env["AUTH_ISSUER"],
                       audience="lvrong", ttl_seconds=3600)
    account = DemoAccount("u-forestry-officer", SubjectKind.STAFF, (Role.WINDOW_OFFICER,), "林业总站窗口",
                          department=FORESTRY)
    return issuer.issue(account)["access_token"]


# --- stalls ---------------------------------------------------------------------------------------

async def test_an_idle_application_opens_one_stall_that_closes_when_it_moves_on(suite, client, token) -> None:
    applicant, ops, officer = await token("applicant-person"), await token("ops"), await token("officer")
    app_id = await file(client, applicant, STALL_MATTER, seed=3001)
    await wait_status(client, applicant, app_id, {"prereviewed"})
    assert await stalls_of(client, ops, app_id) == []
    idle_since = await idle_past_threshold(suite, app_id, 1, extra=5)

    [stall] = await wait_stalls(client, ops, app_id, lambda items: len(items) == 1)
    assert stall["status"] == "prereviewed" and stall["status_label_zh"] == "预审通过" and stall["stage"] == "acceptance"
    assert stall["open"] is True and stall["owner"] is None and stall["matter_code"] == STALL_MATTER
    assert stall["department"] == "市绿化市容局许可处"
    assert dt.datetime.fromisoformat(stall["idle_since"]) == idle_since
    assert stall["threshold_hours"] == pytest.approx(crossing_hours(idle_since, 1, suite_calendar(suite)), abs=1e-3)
    assert stall["hours_lost"] == pytest.approx(stall["idle_hours"] - stall["threshold_hours"], abs=1e-3)
    assert stall["hours_lost"] > 0
    # Later ticks find it again and open nothing more; the event was written once.
    await ticked(suite, "matters", STALL_JOB, ticks=2)
    assert len(await stalls_of(client, ops, app_id)) == 1
    events = await sql(suite, "SELECT envelope FROM outbox WHERE subject = 'lvrong.matters.stall.opened' "
                              "AND envelope->'data'->>'application_id' = $1", app_id)
    assert len(events) == 1
    data = json.loads(events[0]["envelope"])["data"]
    assert data["stall_id"] == stall["id"] and data["status"] == "prereviewed"
    assert data["threshold_hours"] == pytest.approx(stall["threshold_hours"], abs=1e-3)

    accepted = await act(client, officer, app_id, "accept")
    [closed] = await wait_stalls(client, ops, app_id, lambda items: items and not items[0]["open"])
    assert closed["resolution"] == "status changed" and closed["id"] == stall["id"]
    timeline = (await client.get(f"/v1/applications/{app_id}/timeline", headers=bearer(ops))).json()["items"]
    accept_step = next(s for s in timeline if s["status"] == "accepted")
    assert closed["resolved_at"] == accept_step["occurred_at"]
    assert accepted["status"] == "accepted"
    await ticked(suite, "matters", STALL_JOB, ticks=2)  # accepted just now: nothing new to open
    assert [s["id"] for s in await stalls_of(client, ops, app_id)] == [stall["id"]]


async def test_acknowledge_and_resolve_by_hand(suite, client, token) -> None:
    applicant, ops, inspector = await token("applicant-person"), await token("ops"), await token("inspector")
    app_id = await file(client, applicant, STALL_MATTER, seed=3002)
    await wait_status(client, applicant, app_id, {"prereviewed"})
    await idle_past_threshold(suite, app_id, 1, extra=2)
    [stall] = await wait_stalls(client, ops, app_id, lambda items: len(items) == 1)
    base = f"/v1/stalls/{stall['id']}"

    before, events = await stall_snapshot(suite, app_id), await outbox_count(suite)
    for user in ("applicant-person", "agent", "editor"):
        assert_problem(await client.post(base + "/acknowledge", headers=bearer(await token(user))), 403)
        assert_problem(await client.post(base + "/resolve", json={"reason": "x"}, headers=bearer(await token(user))), 403)
    assert_problem(await client.post(base + "/acknowledge"), 401)
    assert_problem(await client.post("/v1/stalls/no-such-stall/acknowledge", headers=bearer(ops)), 404)
    assert_problem(await client.post("/v1/stalls/" + "x" * 65 + "/acknowledge", headers=bearer(ops)), 422)
    for body in ({}, {"reason": ""}, {"reason": "   "}, {"reason": "x" * 2001}, {"reason": "ok", "owner": "me"}):
        assert_problem(await client.post(base + "/resolve", json=body, headers=bearer(ops)), 422)
    assert await stall_snapshot(suite, app_id) == before and await outbox_count(suite) == events

    acked = await client.post(base + "/acknowledge", headers=bearer(ops))
    assert acked.status_code == 200 and acked.json()["owner"] == "u-ops" and acked.json()["acknowledged_at"]
    again = await client.post(base + "/acknowledge", headers=bearer(ops))
    assert again.json()["acknowledged_at"] == acked.json()["acknowledged_at"]  # idempotent for the owner
    taken = await client.post(base + "/acknowledge", headers=bearer(inspector))
    assert taken.status_code == 200 and taken.json()["owner"] == "u-inspector"

    resolved = await client.post(base + "/resolve", json={"reason": "  已电话督促窗口受理  "}, headers=bearer(ops))
    assert resolved.status_code == 200, resolved.text
    body = resolved.json()
    assert body["open"] is False and body["resolution"] == "已电话督促窗口受理" and body["owner"] == "u-inspector"
    snapshot = await stall_snapshot(suite, app_id)
    assert_problem(await client.post(base + "/resolve", json={"reason": "again"}, headers=bearer(ops)), 409)
    assert_problem(await client.post(base + "/acknowledge", headers=bearer(ops)), 409)
    # Still idle, but resolved by hand for this stay in the status: the job does not reopen it.
    await ticked(suite, "matters", STALL_JOB, ticks=2)
    assert await stall_snapshot(suite, app_id) == snapshot
    listed = await client.get("/v1/stalls", params={"application": app_id, "open": "false"}, headers=bearer(ops))
    assert [s["id"] for s in listed.json()["items"]] == [stall["id"]]
    assert (await client.get("/v1/stalls", params={"application": app_id, "open": "true"},
                             headers=bearer(ops))).json()["items"] == []


async def test_thresholds_come_from_defaults_and_the_environment(suite, client, token) -> None:
    applicant, ops = await token("applicant-company"), await token("ops")
    r = await client.get("/v1/stalls/thresholds", headers=bearer(await token("inspector")))
    assert r.status_code == 200
    by_status = {t["status"]: t for t in r.json()}
    assert by_status["submitted"]["hours"] == pytest.approx(1 / 6) and by_status["submitted"]["working_days"] is None
    assert by_status["prereviewed"]["working_days"] == 1
    assert by_status["returned"]["working_days"] == 3  # MATTERS_STALL_THRESHOLDS in conftest.py
    assert "correction_requested" not in by_status and "draft" not in by_status and "completed" not in by_status

    # 退回补正 is the applicant's move and off by default; the override makes it a stall.
    app_id = await file(client, applicant, STALL_MATTER, seed=3003, drop_material=True)
    await wait_status(client, applicant, app_id, {"returned"})
    idle_since = await idle_past_threshold(suite, app_id, 3, extra=10)
    [stall] = await wait_stalls(client, ops, app_id, lambda items: len(items) == 1)
    assert stall["status"] == "returned" and stall["stage"] == "apply"
    assert stall["threshold_hours"] == pytest.approx(crossing_hours(idle_since, 3, suite_calendar(suite)), abs=1e-3)


async def test_department_staff_see_only_their_departments_stalls(suite, client, token, forestry_officer) -> None:
    applicant, ops = await token("applicant-person"), await token("ops")
    app_id = await file(client, applicant, STALL_MATTER, seed=3004)
    await wait_status(client, applicant, app_id, {"prereviewed"})
    await idle_past_threshold(suite, app_id, 1, extra=2)
    [stall] = await wait_stalls(client, ops, app_id, lambda items: len(items) == 1)
    assert await stalls_of(client, forestry_officer, app_id) == []
    everything = (await client.get("/v1/stalls", params={"limit": 100}, headers=bearer(forestry_officer))).json()
    assert all(s["department"] == FORESTRY for s in everything["items"])
    before = await stall_snapshot(suite, app_id)
    assert_problem(await client.post(f"/v1/stalls/{stall['id']}/acknowledge", headers=bearer(forestry_officer)), 404)
    assert_problem(await client.post(f"/v1/stalls/{stall['id']}/resolve", json={"reason": "x"},
                                     headers=bearer(forestry_officer)), 404)
    assert await stall_snapshot(suite, app_id) == before
    # The bureau's own officer sees every department's.
    assert len(await stalls_of(client, await token("officer"), app_id)) == 1


@pytest.mark.parametrize(("query", "status"), [
    ({"status": "flying"}, 422), ({"open": "maybe"}, 422), ({"limit": 0}, 422), ({"limit": 101}, 422),
    ({"cursor": "%%%"}, 400), ({"matter": "x" * 33}, 422),
])
async def test_bad_stall_list_queries(client, token, query: dict, status: int) -> None:
    assert_problem(await client.get("/v1/stalls", params=query, headers=bearer(await token("ops"))), status)


@pytest.mark.parametrize("user", ["applicant-person", "applicant-company", "agent", "editor"])
async def test_stall_views_are_for_ops_inspectors_and_department_staff(client, token, user: str) -> None:
    tok = await token(user)
    for path in ("/v1/stalls", "/v1/stalls/ranking", "/v1/stalls/thresholds"):
        assert_problem(await client.get(path, headers=bearer(tok)), 403)


async def test_ranking_adds_up_the_stalls_of_the_period(suite, client, token) -> None:
    ops = await token("ops")
    applicant = await token("applicant-person")
    app_id = await file(client, applicant, STALL_MATTER, seed=3005)
    await wait_status(client, applicant, app_id, {"prereviewed"})
    await idle_past_threshold(suite, app_id, 1)
    await wait_stalls(client, ops, app_id, lambda items: len(items) == 1)

    listed: list[dict[str, Any]] = []
    cursor = None
    while True:  # every stall of the database, two at a time: the test suite opened them all today
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/stalls", params=params, headers=bearer(ops))).json()
        listed += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len({s["id"] for s in listed}) == len(listed) >= 4
    assert [s["opened_at"] for s in listed] == sorted((s["opened_at"] for s in listed), reverse=True)
    # The period of every stall of this run (Asia/Shanghai dates): a run that crosses midnight opened
    # some of them yesterday, and a ranking of today alone would then leave those out.
    opened_on = [dt.datetime.fromisoformat(s["opened_at"]).astimezone(SHANGHAI).date() for s in listed]
    period = {"from": min(opened_on).isoformat(), "to": max(opened_on).isoformat()}

    r = await client.get("/v1/stalls/ranking", params=period, headers=bearer(ops))
    assert r.status_code == 200, r.text
    ranking = r.json()
    assert (ranking["from"], ranking["to"]) == (period["from"], period["to"])
    for key, entries in (("matter_code", ranking["matters"]), ("status", ranking["statuses"])):
        expected: dict[str, list[dict[str, Any]]] = {}
        for s in listed:
            expected.setdefault(s[key], []).append(s)
        assert {e["key"]: e["stalls"] for e in entries} == {k: len(v) for k, v in expected.items()}
        assert {e["key"]: e["open"] for e in entries} == {k: sum(s["open"] for s in v) for k, v in expected.items()}
        for e in entries:  # open stalls keep losing time between the two requests: allow a little
            assert e["hours_lost"] == pytest.approx(sum(s["hours_lost"] for s in expected[e["key"]]), abs=0.05)
        assert [e["stalls"] for e in entries] == sorted((e["stalls"] for e in entries), reverse=True)
    assert next(e for e in ranking["matters"] if e["key"] == STALL_MATTER)["label_zh"] == "对迁移树木的许可"
    by_time = (await client.get("/v1/stalls/ranking", params={**period, "order": "hours_lost"},
                                headers=bearer(await token("inspector")))).json()
    assert [e["hours_lost"] for e in by_time["matters"]] == sorted((e["hours_lost"] for e in by_time["matters"]),
                                                                   reverse=True)
    empty = (await client.get("/v1/stalls/ranking", params={"from": "2025-01-01", "to": "2025-01-31"},
                              headers=bearer(ops))).json()
    assert empty["matters"] == [] and empty["statuses"] == []


@pytest.mark.parametrize("query", [{"from": "2026-02-30"}, {"from": "2026-03-02", "to": "2026-03-01"},
                                   {"from": "2024-01-01", "to": "2025-06-01"}, {"order": "random"}])
async def test_bad_ranking_queries(client, token, query: dict) -> None:
    assert_problem(await client.get("/v1/stalls/ranking", params=query, headers=bearer(await token("ops"))), 422)


# --- the cockpit ----------------------------------------------------------------------------------

def percentile_cont(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def expected_stage_times(timelines: list[list[dict[str, Any]]]) -> dict[str, tuple[int, float, float]]:
    spent: dict[str, list[float]] = {}
    for steps in timelines:
        changes = [s for s in steps if s["status"] != s["from_status"]]
        for previous, step in zip(changes, changes[1:], strict=False):
            seconds = (dt.datetime.fromisoformat(step["occurred_at"])
                       - dt.datetime.fromisoformat(previous["occurred_at"])).total_seconds()
            spent.setdefault(step["from_status"], []).append(seconds)
    return {k: (len(v), percentile_cont(v, 0.5), percentile_cont(v, 0.9)) for k, v in spent.items()}


async def cockpit(client: httpx.AsyncClient, tok: str, **params: Any) -> dict[str, Any]:
    r = await client.get("/v1/cockpit", params=params, headers=bearer(tok))
    assert r.status_code == 200, r.text
    return r.json()


def row_of(report: dict[str, Any], code: str) -> dict[str, Any]:
    return next(m for m in report["matters"] if m["matter_code"] == code)


@pytest.fixture(scope="module")
async def cockpit_cases(suite, client, token) -> dict[str, Any]:
    """Seven applications of one filing matter, each left at a different point, then dated March 2025."""
    applicant, officer, reviewer = [await token(u) for u in ("applicant-company", "officer", "reviewer")]
    ops = await token("ops")
    now_before = row_of(await cockpit(client, ops, matter=COCKPIT_MATTER), COCKPIT_MATTER)
    ids: dict[str, str] = {}

    ids["completed"] = await file(client, applicant, COCKPIT_MATTER, 4001)
    ids["second_attempt"] = await file(client, applicant, COCKPIT_MATTER, 4002, drop_material=True)
    ids["refused"] = await file(client, applicant, COCKPIT_MATTER, 4003)
    ids["exempted"] = await file(client, applicant, COCKPIT_MATTER, 4004, exempt_from=ids["completed"])
    ids["overdue"] = await file(client, applicant, COCKPIT_MATTER, 4005)
    ids["late"] = await file(client, applicant, COCKPIT_MATTER, 4006)
    ids["draft"] = await file(client, applicant, COCKPIT_MATTER, 4007, draft=True)
    for key in ("completed", "refused", "overdue", "late"):
        await wait_status(client, applicant, ids[key], {"prereviewed"})
    await wait_status(client, applicant, ids["exempted"], {"prereviewed", "returned"})

    for tok, action in ((officer, "accept"), (reviewer, "review"), (reviewer, "approve"), (officer, "complete")):
        await act(client, tok, ids["completed"], action)
    await wait_status(client, applicant, ids["second_attempt"], {"returned"})
    m = await matter(client, applicant, COCKPIT_MATTER)
    await act(client, applicant, ids["second_attempt"], "supplement", materials=await all_materials(client, applicant, m))
    await wait_status(client, applicant, ids["second_attempt"], {"prereviewed"})
    await act(client, officer, ids["second_attempt"], "accept")
    await act(client, officer, ids["refused"], "refuse", reason="不属于本机关职权范围")
    for key in ("overdue", "late"):
        await act(client, officer, ids[key], "accept")
        await act(client, reviewer, ids[key], "review")
        await sql(suite, "UPDATE applications SET clock_due_date = clock_started_on - 3 WHERE id = $1", ids[key])
    await act(client, reviewer, ids["late"], "approve")

    await backdate_filing(suite, list(ids.values()), "2025-03-10 12:00+08")
    timelines = [(await client.get(f"/v1/applications/{i}/timeline", headers=bearer(ops))).json()["items"]
                 for i in ids.values()]
    return {"ids": ids, "now_before": now_before, "timelines": timelines}


async def test_cockpit_counts_the_period_exactly(client, token, cockpit_cases) -> None:
    report = await cockpit(client, await token("ops"), matter=COCKPIT_MATTER, **PERIOD)
    assert report["from"] == PERIOD["from"] and report["to"] == PERIOD["to"] and report["timezone"] == "Asia/Shanghai"
    assert report["department"] is None and [m["matter_code"] for m in report["matters"]] == [COCKPIT_MATTER]
    row = report["matters"][0]
    assert row["name_zh"] and row["kind"] == "filing" and row["department"] == "市绿化市容局分类处"
    assert {k: row[k] for k in ("received", "accepted", "accepted_first_time", "refused", "acceptance_decided",
                                "prereviewed", "exempted_materials", "applications_with_exemptions", "decided",
                                "decided_on_time")} == {
        "received": 6, "accepted": 4, "accepted_first_time": 3, "refused": 1, "acceptance_decided": 5,
        "prereviewed": 6, "exempted_materials": 1, "applications_with_exemptions": 1, "decided": 2, "decided_on_time": 1}
    # 首次申请受理成功率: the refusal and the acceptance after a correction both count against it — 3 of the 5
    # applications whose acceptance was decided, not 3 of the 4 accepted.
    assert row["first_time_acceptance_rate"] == 0.6 and row["prereview_coverage"] == 1.0
    assert row["on_time_completion_rate"] == 0.5

    expected = expected_stage_times(cockpit_cases["timelines"])
    assert {t["status"]: (t["transitions"], t["median_seconds"], t["p90_seconds"]) for t in row["stage_times"]} == {
        k: (n, pytest.approx(p50, abs=2e-3), pytest.approx(p90, abs=2e-3)) for k, (n, p50, p90) in expected.items()}
    assert all(t["median_hours"] == pytest.approx(t["median_seconds"] / 3600, abs=1e-4) for t in row["stage_times"])
    # The steps here take milliseconds; the seconds are small but not all zero, so the check has teeth.
    assert any(t["p90_seconds"] > 0.01 for t in row["stage_times"])
    assert {t["status"] for t in row["stage_times"]} >= {"submitted", "prereviewed", "accepted", "under_review",
                                                         "approved", "returned"}
    assert next(t for t in row["stage_times"] if t["status"] == "prereviewed")["stage"] == "acceptance"

    # Now-figures: 4 still open (second attempt accepted, exempted pre-reviewed or returned, overdue under
    # review, late approved awaiting completion), 1 running clock past its due date.
    before = cockpit_cases["now_before"]
    assert row["backlog"] - before["backlog"] == 4 and row["overdue"] - before["overdue"] == 1
    totals = report["totals"]
    assert {k: totals[k] for k in totals} == {k: row[k] for k in totals}
    # Each figure carries its definition: the rate's numerator and denominator in both languages, the target.
    definition = report["definitions"]["first_time_acceptance_rate"]
    assert definition["name_zh"] == "首次申请受理成功率" and definition["target"] == 0.9
    assert "受理或不予受理" in definition["denominator_zh"] and "refused" in definition["denominator_en"]
    assert "补正" in definition["numerator_zh"] and definition["numerator_en"]
    assert set(report["definitions"]) >= {k for k in totals if isinstance(totals[k], int | float)} - {"provisional_due_dates"}
    assert all(d["name_zh"] and d["name_en"] and d["numerator_zh"] and d["numerator_en"]
               for d in report["definitions"].values())
    assert all(d["denominator_zh"] and d["denominator_en"] for k, d in report["definitions"].items() if k.endswith(
        ("_rate", "_coverage")))


async def test_a_refusal_lowers_first_time_acceptance(suite, client, token) -> None:
    """Two applications filed in a period of their own: one accepted at once, one refused. The rate is
    1 of 2 — before issue 21 it was 1 of 1, as if the refusal had not happened."""
    applicant, officer, ops = [await token(u) for u in ("applicant-company", "officer", "ops")]
    accepted = await file(client, applicant, COCKPIT_MATTER, 4101)
    refused = await file(client, applicant, COCKPIT_MATTER, 4102)
    for app_id in (accepted, refused):
        await wait_status(client, applicant, app_id, {"prereviewed"})
    await act(client, officer, accepted, "accept")
    await backdate_filing(suite, [accepted, refused], "2025-02-12 09:00+08")
    period = {"from": "2025-02-01", "to": "2025-02-28"}
    before = row_of(await cockpit(client, ops, matter=COCKPIT_MATTER, **period), COCKPIT_MATTER)
    assert (before["accepted"], before["acceptance_decided"], before["first_time_acceptance_rate"]) == (1, 1, 1.0)
    await act(client, officer, refused, "refuse", reason="不属于本机关职权范围")
    after = row_of(await cockpit(client, ops, matter=COCKPIT_MATTER, **period), COCKPIT_MATTER)
    assert (after["accepted"], after["refused"], after["acceptance_decided"]) == (1, 1, 2)
    assert after["first_time_acceptance_rate"] == 0.5


async def test_cockpit_csv_matches_the_json(client, token, cockpit_cases) -> None:
    ops = await token("ops")
    report = await cockpit(client, ops, matter=COCKPIT_MATTER, **PERIOD)
    by_accept = await client.get("/v1/cockpit", params={"matter": COCKPIT_MATTER, **PERIOD},
                                 headers={**bearer(ops), "Accept": "text/csv"})
    by_format = await client.get("/v1/cockpit", params={"matter": COCKPIT_MATTER, **PERIOD, "format": "csv"},
                                 headers=bearer(ops))
    for r in (by_accept, by_format):
        assert r.status_code == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
        assert r.content.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
        assert "attachment" in r.headers["content-disposition"]
    assert by_accept.content == by_format.content
    rows = list(csv.reader(io.StringIO(by_format.content.decode("utf-8-sig"))))
    header = [re.fullmatch(r".+ \((\w+)\)", h).group(1) for h in rows[0]]
    assert rows[0][0] == "事项编码 (matter_code)" and len(rows) == 2
    record = dict(zip(header, rows[1], strict=True))
    row = report["matters"][0]
    for key, value in row.items():
        if key in ("stage_times", "name_en", "kind"):
            continue
        assert record[key] == ("" if value is None else str(value)), key
    for t in row["stage_times"]:
        assert float(record[f"{t['status']}_median_hours"]) == t["median_hours"]
        assert float(record[f"{t['status']}_p90_hours"]) == t["p90_hours"]
    assert record["from"] == PERIOD["from"] and record["to"] == PERIOD["to"]
    assert record["draft_median_hours"] == ""  # no application spent time as a draft in the period
    json_anyway = await client.get("/v1/cockpit", params={"matter": COCKPIT_MATTER, **PERIOD, "format": "json"},
                                   headers={**bearer(ops), "Accept": "text/csv"})
    assert json_anyway.headers["content-type"].startswith("application/json")


async def test_cockpit_for_everything_and_for_one_department(client, token, cockpit_cases, forestry_officer) -> None:
    report = await cockpit(client, await token("inspector"), **PERIOD)
    codes = [m["matter_code"] for m in report["matters"]]
    assert len(codes) == len(set(codes)) >= 18 and COCKPIT_MATTER in codes
    assert row_of(report, COCKPIT_MATTER)["received"] == 6
    assert row_of(report, "LR-XK-001")["received"] == 0 and row_of(report, "LR-XK-001")["prereview_coverage"] is None
    assert report["totals"]["received"] == sum(m["received"] for m in report["matters"])
    csv_rows = list(csv.reader(io.StringIO((await client.get("/v1/cockpit", params={**PERIOD, "format": "csv"},
                                                             headers=bearer(await token("ops")))).text.lstrip("\ufeff"))))
    assert len(csv_rows) == 1 + len(codes)

    mine = await cockpit(client, forestry_officer, **PERIOD)
    assert mine["department"] == FORESTRY
    assert {m["matter_code"] for m in mine["matters"]} >= {"LR-XK-001", "LR-XK-010"}
    assert all(m["department"] == FORESTRY for m in mine["matters"])
    assert_problem(await client.get("/v1/cockpit", params={"matter": COCKPIT_MATTER, **PERIOD},
                                    headers=bearer(forestry_officer)), 403)
    assert (await cockpit(client, forestry_officer, matter="LR-XK-010", **PERIOD))["matters"][0]["received"] == 0


async def test_cockpit_defaults_to_this_month(client, token) -> None:
    before = dt.datetime.now(SHANGHAI).date()
    report = await cockpit(client, await token("reviewer"), matter=COCKPIT_MATTER)
    after = dt.datetime.now(SHANGHAI).date()  # the request may straddle midnight (Asia/Shanghai)
    assert (report["from"], report["to"]) in {(d.replace(day=1).isoformat(), d.isoformat()) for d in (before, after)}


@pytest.mark.parametrize(("query", "status"), [
    ({"from": "2025-03-31", "to": "2025-03-01"}, 422),
    ({"from": "2024-01-01", "to": "2025-01-01"}, 422),  # 367 days
    ({"from": "1999-12-01", "to": "1999-12-31"}, 422), ({"from": "2101-01-01", "to": "2101-01-31"}, 422),
    ({"from": "2025-02-30"}, 422), ({"to": "yesterday"}, 422),
    ({"format": "xml"}, 422), ({"matter": "LR XK 001"}, 422), ({"matter": "x" * 33}, 422),
    ({"matter": "LR-XK-999"}, 404),
])
async def test_bad_cockpit_queries(client, token, query: dict, status: int) -> None:
    assert_problem(await client.get("/v1/cockpit", params=query, headers=bearer(await token("ops"))), status)


async def test_a_full_leap_year_is_allowed(client, token) -> None:
    report = await cockpit(client, await token("ops"), matter=COCKPIT_MATTER, **{"from": "2024-01-01", "to": "2024-12-31"})
    assert report["matters"][0]["received"] == 0 and report["matters"][0]["first_time_acceptance_rate"] is None


@pytest.mark.parametrize("user", ["applicant-person", "applicant-company", "agent", "editor"])
async def test_cockpit_is_for_ops_inspectors_and_department_staff(client, token, user: str) -> None:
    assert_problem(await client.get("/v1/cockpit", headers=bearer(await token(user))), 403)
    assert_problem(await client.get("/v1/cockpit", params={"format": "csv"}, headers=bearer(await token(user))), 403)


async def test_cockpit_needs_a_token(client) -> None:
    assert_problem(await client.get("/v1/cockpit"), 401)


# --- the cockpit over time (GET /v1/cockpit/series) -------------------------------------------------

SERIES_PERIOD = {"from": "2025-05-01", "to": "2025-05-31"}  # a month no other test files into


async def series(client: httpx.AsyncClient, tok: str, **params: Any) -> dict[str, Any]:
    r = await client.get("/v1/cockpit/series", params=params, headers=bearer(tok))
    assert r.status_code == 200, r.text
    return r.json()


def expected_stage_medians(timelines: list[list[dict[str, Any]]], kind: str) -> dict[str, tuple[int, float]]:
    """Per stage: how many applications left it, and the median of each one's total time in it."""
    from matters.service.statuses import stage_of
    totals: dict[str, list[float]] = {}
    for steps in timelines:
        changes = [s for s in steps if s["status"] != s["from_status"]]
        spent: dict[str, float] = {}
        for previous, step in zip(changes, changes[1:], strict=False):
            stage = stage_of(step["from_status"], kind).value
            spent[stage] = spent.get(stage, 0.0) + (dt.datetime.fromisoformat(step["occurred_at"])
                                                      - dt.datetime.fromisoformat(previous["occurred_at"])).total_seconds()
        for stage, seconds in spent.items():
            totals.setdefault(stage, []).append(seconds)
    return {k: (len(v), percentile_cont(v, 0.5)) for k, v in totals.items()}


@pytest.fixture(scope="module")
async def series_cases(suite, client, token) -> dict[str, Any]:
    """Four applications of the filing matter: two dated Monday 5 May 2025, two Wednesday 14 May."""
    applicant, officer, reviewer, ops = [await token(u) for u in ("applicant-company", "officer", "reviewer", "ops")]
    ids = {"approved": await file(client, applicant, COCKPIT_MATTER, 5001),
           "refused": await file(client, applicant, COCKPIT_MATTER, 5002),
           "second_attempt": await file(client, applicant, COCKPIT_MATTER, 5003, drop_material=True),
           "overdue": await file(client, applicant, COCKPIT_MATTER, 5004)}
    for key in ("approved", "refused", "overdue"):
        await wait_status(client, applicant, ids[key], {"prereviewed"})
    for tok, action in ((officer, "accept"), (reviewer, "review"), (reviewer, "approve")):
        await act(client, tok, ids["approved"], action)
    await act(client, officer, ids["refused"], "refuse", reason="不属于本机关职权范围")
    await wait_status(client, applicant, ids["second_attempt"], {"returned"})
    m = await matter(client, applicant, COCKPIT_MATTER)
    await act(client, applicant, ids["second_attempt"], "supplement", materials=await all_materials(client, applicant, m))
    await wait_status(client, applicant, ids["second_attempt"], {"prereviewed"})
    await act(client, officer, ids["second_attempt"], "accept")
    await act(client, officer, ids["overdue"], "accept")
    await act(client, reviewer, ids["overdue"], "review")
    await sql(suite, "UPDATE applications SET clock_due_date = clock_started_on - 3 WHERE id = $1", ids["overdue"])
    await backdate_filing(suite, [ids["approved"], ids["refused"]], "2025-05-05 09:00+08")
    await backdate_filing(suite, [ids["second_attempt"], ids["overdue"]], "2025-05-14 23:30+08")
    timelines = {k: (await client.get(f"/v1/applications/{i}/timeline", headers=bearer(ops))).json()["items"]
                 for k, i in ids.items()}
    return {"ids": ids, "timelines": timelines}


ZERO = {"received": 0, "prereviewed": 0, "accepted": 0, "accepted_first_time": 0, "refused": 0, "acceptance_decided": 0,
        "decided": 0,
        "overdue": 0, "prereview_coverage": None, "first_time_acceptance_rate": None, "stage_times": []}
COUNTS = ("received", "prereviewed", "accepted", "accepted_first_time", "refused", "acceptance_decided", "decided",
          "overdue")


async def test_series_puts_each_application_in_the_day_it_was_filed(client, token, series_cases) -> None:
    report = await series(client, await token("ops"), matter=COCKPIT_MATTER, interval="day", **SERIES_PERIOD)
    assert (report["from"], report["to"], report["interval"], report["matter"]) == (
        "2025-05-01", "2025-05-31", "day", COCKPIT_MATTER)
    assert report["timezone"] == "Asia/Shanghai" and report["department"] is None
    buckets = report["buckets"]
    assert [b["start"] for b in buckets] == [f"2025-05-{d:02d}" for d in range(1, 32)]
    assert all(b["start"] == b["end"] for b in buckets)
    by_day = {b["start"]: b for b in buckets}
    assert {k: by_day["2025-05-05"][k] for k in COUNTS} == {
        "received": 2, "prereviewed": 2, "accepted": 1, "accepted_first_time": 1, "refused": 1, "acceptance_decided": 2,
        "decided": 1, "overdue": 0}
    # The refusal counts against first-time acceptance: 1 of 2.
    assert by_day["2025-05-05"]["prereview_coverage"] == 1.0 and by_day["2025-05-05"]["first_time_acceptance_rate"] == 0.5
    # 23:30 in Shanghai is still the 14th (15:30 UTC).
    assert {k: by_day["2025-05-14"][k] for k in COUNTS} == {
        "received": 2, "prereviewed": 2, "accepted": 2, "accepted_first_time": 1, "refused": 0, "acceptance_decided": 2,
        "decided": 0, "overdue": 1}
    assert by_day["2025-05-14"]["first_time_acceptance_rate"] == 0.5
    for day, bucket in by_day.items():
        if day not in ("2025-05-05", "2025-05-14"):
            assert {k: v for k, v in bucket.items() if k not in ("start", "end")} == ZERO, day

    timelines = series_cases["timelines"]
    for day, keys in (("2025-05-05", ("approved", "refused")), ("2025-05-14", ("second_attempt", "overdue"))):
        expected = expected_stage_medians([timelines[k] for k in keys], "filing")
        got = {t["stage"]: (t["applications"], t["median_hours"]) for t in by_day[day]["stage_times"]}
        assert got == {k: (n, pytest.approx(s / 3600, abs=1e-4)) for k, (n, s) in expected.items()}, day
    # The second attempt spent time back with the applicant (申请), and the stages come in their order.
    assert [t["stage"] for t in by_day["2025-05-14"]["stage_times"]] == ["apply", "prereview", "acceptance", "review"]
    assert by_day["2025-05-14"]["stage_times"][0]["stage_label_zh"] == "申请"

    # The buckets add up to the cockpit of the same period.
    whole = row_of(await cockpit(client, await token("ops"), matter=COCKPIT_MATTER, **SERIES_PERIOD), COCKPIT_MATTER)
    for key in ("received", "prereviewed", "accepted", "accepted_first_time", "refused", "acceptance_decided"):
        assert sum(b[key] for b in buckets) == whole[key], key


async def test_series_by_week_runs_monday_to_sunday_within_the_period(client, token, series_cases) -> None:
    report = await series(client, await token("inspector"), matter=COCKPIT_MATTER, interval="week", **SERIES_PERIOD)
    assert [(b["start"], b["end"]) for b in report["buckets"]] == [
        ("2025-05-01", "2025-05-04"), ("2025-05-05", "2025-05-11"), ("2025-05-12", "2025-05-18"),
        ("2025-05-19", "2025-05-25"), ("2025-05-26", "2025-05-31")]
    assert [b["received"] for b in report["buckets"]] == [0, 2, 2, 0, 0]
    assert [b["accepted"] for b in report["buckets"]] == [0, 1, 2, 0, 0]
    assert [b["overdue"] for b in report["buckets"]] == [0, 0, 1, 0, 0]
    # Every matter the caller sees: the filing matter's applications are in, nothing else was filed then.
    everything = await series(client, await token("ops"), interval="week", **SERIES_PERIOD)
    assert everything["matter"] is None and [b["received"] for b in everything["buckets"]] == [0, 2, 2, 0, 0]


async def test_series_of_one_department(client, token, series_cases, forestry_officer) -> None:
    mine = await series(client, forestry_officer, interval="week", **SERIES_PERIOD)
    assert mine["department"] == FORESTRY and all(b["received"] == 0 for b in mine["buckets"])
    assert_problem(await client.get("/v1/cockpit/series", params={"matter": COCKPIT_MATTER, **SERIES_PERIOD},
                                    headers=bearer(forestry_officer)), 403)


async def test_series_defaults_to_this_month_by_day(client, token) -> None:
    report = await series(client, await token("reviewer"), matter=COCKPIT_MATTER)
    today = dt.date.fromisoformat(report["to"])
    assert report["interval"] == "day" and report["from"] == today.replace(day=1).isoformat()
    assert len(report["buckets"]) == today.day


@pytest.mark.parametrize(("query", "status"), [
    ({"from": "2025-05-31", "to": "2025-05-01"}, 422),
    ({"from": "2024-01-01", "to": "2025-01-01"}, 422),  # 367 days
    ({"from": "2025-02-30"}, 422), ({"to": "yesterday"}, 422),
    ({"interval": "month"}, 422), ({"interval": ""}, 422),
    ({"matter": "LR XK 001"}, 422), ({"matter": "x" * 33}, 422),
    ({"matter": "LR-XK-999"}, 404),
])
async def test_bad_series_queries(client, token, query: dict, status: int) -> None:
    assert_problem(await client.get("/v1/cockpit/series", params=query, headers=bearer(await token("ops"))), status)


async def test_a_year_by_day_is_allowed(client, token) -> None:
    report = await series(client, await token("ops"), matter=COCKPIT_MATTER, **{"from": "2024-01-01", "to": "2024-12-31"})
    assert len(report["buckets"]) == 366 and all(b["received"] == 0 for b in report["buckets"])


@pytest.mark.parametrize("user", ["applicant-person", "agent", "editor"])
async def test_series_is_for_ops_inspectors_and_department_staff(client, token, user: str) -> None:
    assert_problem(await client.get("/v1/cockpit/series", headers=bearer(await token(user))), 403)
    assert_problem(await client.get("/v1/cockpit/series"), 401)
