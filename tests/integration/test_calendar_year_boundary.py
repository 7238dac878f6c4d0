"""On Sunday 2026-12-06, on a fresh suite whose calendar data ends with 2026 (the library's, no ops
files), an officer accepts an application whose 20 working days run into 2027: the due date counts on
the provisional 2027 and is marked so everywhere it is shown; ops approve 2027 (with a make-up working
Saturday and a holiday the provisional year does not have) through svc-helpdesk's four-eyes approval,
and svc-matters recomputes the due date with a timeline note and an event, once.

The suite is its own: its own NATS (an approved year lives in the calendar KV bucket, which must not
reach the other tests' suite) and databases, and every process runs on a clock moved to 2026-12-06
10:00 in Shanghai by the test-only ``tests/frozen_clock/sitecustomize.py``.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import os
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from kit.devstack import SERVICE_PORTS, LocalNats, Suite, free_port, migrate_all, platform_environment
from support import all_materials, bearer, drop_databases, matter, valid_form, wait_status

pytestmark = pytest.mark.integration

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
FROZEN_AT = dt.datetime(2026, 12, 6, 10, 0, tzinfo=SHANGHAI)  # a Sunday
PREFIX = os.environ.get("LVRONG_TEST_DATABASE_PREFIX", "lvrong_itest") + "_boundary"
FROZEN_CLOCK_DIR = Path(__file__).resolve().parents[1] / "frozen_clock"
# Shaped like a notice, NOT the real 2027 arrangement: Saturday 2 January worked (调休), Monday 4 January off.
APPROVED_2027 = {"holidays": ["2027-01-01", "2027-01-04", "2027-02-05", "2027-02-08", "2027-02-09", "2027-02-10"],
                 "workdays": ["2027-01-02"], "source": "集成测试数据（非官方 2027 年安排）"}


@pytest.fixture(scope="module")
def boundary_suite(servers) -> Iterator[tuple[Suite, dict[str, str]]]:
    nats_server = LocalNats(Path(tempfile.mkdtemp(prefix="lvrong-boundary-nats-")), port=free_port())
    nats_server.start()
    ports = {name: free_port() for name in SERVICE_PORTS}
    log_dir = Path(tempfile.mkdtemp(prefix="lvrong-boundary-"))
    env = platform_environment(servers.database_url, nats_server.url, ports=ports,
                               nats_credentials_dir=nats_server.credentials_dir)
    env.pop("CALENDAR_DIR", None)  # the library's years only: 2027 has no data
    env["DATABASE_NAME_PREFIX"] = PREFIX
    # A second suite beside the session's on a PostgreSQL of 100 connections shared with the other session: its
    # tests are one request at a time, so its eight processes pool two connections each.
    env.update({f"{s.upper()}_DATABASE_POOL_SIZE": "2" for s in SERVICE_PORTS})
    env["GATEWAY_DEV_ISSUER_KEY_DIR"] = str(log_dir / "dev-issuer")
    env["LVRONG_TEST_CLOCK_SHIFT_SECONDS"] = str(FROZEN_AT.timestamp() - time.time())
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(FROZEN_CLOCK_DIR), env.get("PYTHONPATH")) if p)
    asyncio.run(drop_databases(servers.database_url, [f"{PREFIX}_{s}" for s in SERVICE_PORTS]))
    migrate_all(env)
    suite = Suite(env, ports=ports, log_dir=log_dir)
    try:
        suite.start(timeout=90)
        suite.wait_ready(timeout=90)
    except Exception:
        suite.stop()
        nats_server.stop()
        logs = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in log_dir.glob("*.log"))
        pytest.fail(f"the suite did not start:\n{logs}")
    yield suite, env
    suite.stop()
    nats_server.stop()


@pytest.fixture(scope="module")
async def gateway(boundary_suite) -> AsyncIterator[httpx.AsyncClient]:
    suite, _ = boundary_suite
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{suite.ports['gateway']}", timeout=30) as client:
        yield client


async def login(client: httpx.AsyncClient, username: str) -> str:
    r = await client.post("/auth/token", data={"grant_type": "password", "username": username, "password": "demo"})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


async def matters_db(env: dict[str, str]) -> asyncpg.Connection:
    url = make_url(env["DATABASE_URL"])
    return await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username or "postgres",
                                 password=url.password, database=f"{PREFIX}_matters")


async def eventually(check, seconds: float = 30, what: str = "the expected state"):
    """Poll ``check`` (async, returns a truthy value when done) until it holds; the value is returned."""
    deadline = time.monotonic() + seconds
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what} never came within {seconds:.0f} s")
        await asyncio.sleep(0.1)


async def metric(client: httpx.AsyncClient, name: str) -> float:
    text = (await client.get("/metrics")).text
    return next(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))


async def provisional_in_cockpit(client: httpx.AsyncClient, ops: dict[str, str]) -> int:
    r = await client.get("/v1/cockpit", params={"matter": "LR-XK-008"}, headers=ops)
    assert r.status_code == 200, r.text
    return r.json()["totals"]["provisional_due_dates"]


async def test_accepted_on_6_december_into_an_unapproved_2027_then_recomputed(boundary_suite, gateway) -> None:
    suite, env = boundary_suite
    client = gateway
    applicant, officer = await login(client, "applicant-person"), await login(client, "officer")
    ops, ops2 = bearer(await login(client, "ops")), bearer(await login(client, "ops-2"))
    matters_direct = httpx.AsyncClient(base_url=f"http://127.0.0.1:{suite.ports['matters']}", timeout=10)

    # The ops alarm: a warning in /readyz (still ready) and the gauge; the calendar view says provisional.
    ready = (await matters_direct.get("/readyz")).json()
    assert ready["status"] == "ready" and ready["checks"]["calendar"] == "provisional"
    assert any("2027" in w for w in ready["warnings"])
    assert await metric(matters_direct, "lvrong_calendar_provisional_years") == 1.0
    view = (await client.get("/v1/calendar/2027", headers=ops)).json()
    assert view["known"] is True and view["provisional"] is True and view["workdays"] == []
    assert "2027-01-01" in view["holidays"] and view["alarm"] is True

    # Accepted on Sunday 6 December with 20 working days: no 503.
    m = await matter(client, applicant, "LR-XK-008")
    assert m["statutory_days"] == 20
    r = await client.post("/v1/applications", json={"matter_code": "LR-XK-008", "form": valid_form(m, 7),
                                                    "materials": await all_materials(client, applicant, m)},
                          headers=bearer(applicant))
    assert r.status_code == 201, r.text
    app_id = r.json()["id"]
    await wait_status(client, applicant, app_id, {"prereviewed"}, seconds=30)
    r = await client.post(f"/v1/applications/{app_id}/actions/accept", json={"reason": "材料齐全"},
                          headers=bearer(officer))
    assert r.status_code == 200, r.text
    clock = r.json()["clock"]
    # 19 working days from 7 to 31 December, 元旦 off: the 20th is Monday 4 January on the provisional 2027.
    assert (clock["started_on"], clock["due_date"], clock["due_date_provisional"]) == ("2026-12-06", "2027-01-04", True)
    timeline = (await client.get(f"/v1/applications/{app_id}/timeline", headers=bearer(applicant))).json()["items"]
    accept = next(s for s in timeline if s["action"] == "accept")
    assert accept["details"] == {"due_date": "2027-01-04", "due_date_provisional": True}
    listed = (await client.get("/v1/applications?status=accepted", headers=bearer(officer))).json()["items"]
    assert [(i["due_date"], i["due_date_provisional"]) for i in listed if i["id"] == app_id] == [("2027-01-04", True)]
    assert await provisional_in_cockpit(client, ops) == 1

    # Ops approve 2027, four eyes.
    r = await client.put("/v1/calendar/2027", json=APPROVED_2027, headers=ops)
    assert r.status_code == 202, r.text
    r = await client.post("/v1/calendar/2027/approve", headers=ops2)
    assert r.status_code == 200, r.text

    async def recomputed() -> dict | None:
        body = (await client.get(f"/v1/applications/{app_id}", headers=bearer(applicant))).json()
        return body if body["clock"]["due_date"] != "2027-01-04" else None

    body = await eventually(recomputed, what="the recomputed due date")
    # The approved 2027 works Saturday 2 January: the 20th working day; final now.
    assert (body["clock"]["due_date"], body["clock"]["due_date_provisional"]) == ("2027-01-02", False)
    timeline = (await client.get(f"/v1/applications/{app_id}/timeline", headers=bearer(applicant))).json()["items"]
    notes = [s for s in timeline if s["action"] == "recompute_due_date"]
    assert len(notes) == 1 and notes[0]["status"] == notes[0]["from_status"] == "accepted"
    assert notes[0]["reason"].startswith("法定日历 2027 已批准，办理时限重新计算为 2027-01-02")
    assert notes[0]["details"]["previous_due_date"] == "2027-01-04"
    listed = (await client.get("/v1/applications?status=accepted", headers=bearer(officer))).json()["items"]
    assert [(i["due_date"], i["due_date_provisional"]) for i in listed if i["id"] == app_id] == [("2027-01-02", False)]
    assert await provisional_in_cockpit(client, ops) == 0
    db = await matters_db(env)
    try:
        events = await db.fetch("SELECT envelope FROM outbox WHERE envelope->>'type' = $1 AND envelope->>'subject' = $2",
                                "lvrong.matters.application.due_date_changed", app_id)
        assert len(events) == 1
        # Every process took the approved year: the alarm is off in svc-matters too.
        assert await metric(matters_direct, "lvrong_calendar_provisional_years") == 0.0
        view = (await client.get("/v1/calendar/2027", headers=ops)).json()
        assert view["provisional"] is False and view["workdays"] == ["2027-01-02"]

        # The same year approved again (a second notice with the same days): handled, and nothing changes.
        r = await client.put("/v1/calendar/2027", json=APPROVED_2027, headers=ops2)
        assert r.status_code == 202, r.text
        assert (await client.post("/v1/calendar/2027/approve", headers=ops)).status_code == 200

        async def both_handled() -> bool:
            return await db.fetchval("SELECT count(*) FROM processed_events WHERE event_type = $1",
                                     "lvrong.helpdesk.calendar.approved") == 2

        await eventually(both_handled, what="the second approval handled by svc-matters")
        assert await db.fetchval("SELECT count(*) FROM outbox WHERE envelope->>'type' = $1",
                                 "lvrong.matters.application.due_date_changed") == 1
        assert await db.fetchval("SELECT count(*) FROM application_steps WHERE application_id = $1 AND action = $2",
                                 app_id, "recompute_due_date") == 1
    finally:
        await db.close()
        await matters_direct.aclose()
