"""svc-booking through the gateway as a family's page and a partner province's app would use it: the
capacity under 2,000 simultaneous attempts, the partner channel, refused input writing nothing, the gate."""
from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import httpx
import pytest

from booking_support import person, resident_id, venue
from kit.calendar import SHANGHAI
from support import bearer, eventually

pytestmark = pytest.mark.integration


async def fetchval(suite, sql: str, *args: Any) -> Any:
    conn = await suite.db("booking")
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def partner_token(client: httpx.AsyncClient, client_id: str) -> str:
    r = await client.post("/auth/token", data={"grant_type": "client_credentials", "client_id": client_id,
                                               "client_secret": "demo"})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


async def add_venue(client: httpx.AsyncClient, ops: str, venue_id: str, capacity: int) -> None:
    r = await client.post("/v1/booking/venues", json=venue(venue_id, capacity), headers=bearer(ops))
    assert r.status_code == 201, r.text


async def venue_once(suite, client: httpx.AsyncClient, ops: str, body: dict[str, Any]) -> None:
    """Add the venue unless an earlier run of the test (the suite's database lives for the session) did."""
    if not await fetchval(suite, "SELECT count(*) FROM venues WHERE id = $1", body["id"]):
        r = await client.post("/v1/booking/venues", json=body, headers=bearer(ops))
        assert r.status_code == 201, r.text


def tomorrow() -> str:
    return (dt.datetime.now(SHANGHAI).date() + dt.timedelta(days=1)).isoformat()


def body(venue_id: str, n: int, **extra: Any) -> dict[str, Any]:
    return {"venue_id": venue_id, "day": tomorrow(), "slot_start": "09:00", "person": person(n), **extra}


@pytest.mark.timeout(900)
async def test_2000_simultaneous_attempts_for_100_places_give_exactly_100_bookings(suite, token) -> None:
    # All 2,000 attempts are started at once; 100 at a time are on the wire (httpx's pool spends time
    # quadratic in the number of requests waiting for a connection, which would measure the client).
    in_flight = asyncio.Semaphore(100)
    async with httpx.AsyncClient(base_url=suite.gateway, timeout=httpx.Timeout(120, pool=None),
                                 limits=httpx.Limits(max_connections=100)) as client:
        await add_venue(client, await token("ops"), "it-rush", capacity=100)
        # Half by our login (a family booking for many), half through the three partner provinces' apps.
        callers = [await token("applicant-person")] + [await partner_token(client, c)
                                                       for c in ("partner-js", "partner-zj", "partner-ah")]

        async def attempt(n: int) -> httpx.Response:
            path = "/v1/booking/bookings" if n % 2 == 0 else "/v1/booking/partner/bookings"
            caller = callers[0] if n % 2 == 0 else callers[1 + n % 3]
            # As an app would: a connection lost mid-request is retried with the same Idempotency-Key,
            # so a booking that was made answers as made instead of being made twice.
            headers = {**bearer(caller), "Idempotency-Key": str(uuid.uuid4())}
            async with in_flight:
                for tries in range(3):
                    try:
                        return await client.post(path, json=body("it-rush", 100_000 + n), headers=headers)
                    except httpx.TransportError:
                        if tries == 2:
                            raise
                raise AssertionError("unreachable")

        responses = await asyncio.gather(*(attempt(n) for n in range(2000)))
    codes = [r.status_code for r in responses]
    assert codes.count(201) == 100, {c: codes.count(c) for c in set(codes)}
    assert codes.count(409) == 1900 and {r.json()["reason"] for r in responses if r.status_code == 409} == {"slot_full"}
    assert await fetchval(suite, "SELECT count(*) FROM bookings WHERE venue_id = 'it-rush'") == 100
    assert await fetchval(suite, "SELECT taken FROM slots WHERE venue_id = 'it-rush'") == 100
    assert await fetchval(suite, "SELECT count(DISTINCT person_hash) FROM bookings WHERE venue_id = 'it-rush'") == 100


async def test_a_partner_app_books_for_a_person_and_sees_only_what_it_made(suite, client, token) -> None:
    await add_venue(client, await token("ops"), "it-partner", capacity=5)
    js, zj = await partner_token(client, "partner-js"), await partner_token(client, "partner-zj")
    r = await client.post("/v1/booking/partner/bookings", json=body("it-partner", 1),
                          headers={**bearer(js), "Idempotency-Key": str(uuid.uuid4())})
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["channel"] == "partner:JS" and made["id_number"] == resident_id(1)[:3] + "*" * 11 + resident_id(1)[-4:]
    assert r.headers["Location"] == f"/v1/booking/partner/bookings/{made['id']}"
    assert (await client.get(f"/v1/booking/partner/bookings/{made['id']}", headers=bearer(js))).json()["code"] == made["code"]
    assert (await client.get(f"/v1/booking/partner/bookings/{made['id']}", headers=bearer(zj))).status_code == 404
    # The same person through our login the same day: one booking per person per venue per day.
    person_token = await token("applicant-person")
    again = await client.post("/v1/booking/bookings", json=body("it-partner", 1), headers=bearer(person_token))
    assert again.status_code == 409 and again.json()["reason"] == "already_booked"
    # A partner's token does not book on the family routes, nor a family's on the partner's.
    assert (await client.post("/v1/booking/bookings", json=body("it-partner", 2), headers=bearer(js))).status_code == 403
    assert (await client.post("/v1/booking/partner/bookings", json=body("it-partner", 2),
                              headers=bearer(person_token))).status_code == 403
    assert await fetchval(suite, "SELECT count(*) FROM bookings WHERE venue_id = 'it-partner'") == 1
    cancelled = await client.post(f"/v1/booking/partner/bookings/{made['id']}/cancel", headers=bearer(js))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"


@pytest.mark.parametrize("case", ["bad id number", "bad phone", "unknown field", "no person", "bad slot",
                                  "day as a number", "closed day of the week", "venue unknown"])
async def test_bad_input_is_refused_and_nothing_written(suite, client, token, case: str) -> None:
    ops = await token("ops")
    await venue_once(suite, client, ops, {**venue("it-bad", 5), "closed_weekdays": [1, 2, 3, 4, 5, 6]})
    sunday = dt.datetime.now(SHANGHAI).date() + dt.timedelta(days=(6 - dt.datetime.now(SHANGHAI).date().weekday()) % 7 or 7)
    good = {"venue_id": "it-bad", "day": sunday.isoformat(), "slot_start": "09:00", "person": person(7)}
    sent, status = {
        "bad id number": ({**good, "person": {**person(7), "id_number": resident_id(7)[:-1] + "0"
                                              if resident_id(7)[-1] != "0" else resident_id(7)[:-1] + "1"}}, 422),
        "bad phone": ({**good, "person": {**person(7), "phone": "12345"}}, 422),
        "unknown field": ({**good, "capacity": 9}, 422),
        "no person": ({k: v for k, v in good.items() if k != "person"}, 422),
        "bad slot": ({**good, "slot_start": "9:00"}, 422),
        "day as a number": ({**good, "day": 20261231}, 422),
        "closed day of the week": ({**good, "day": (sunday + dt.timedelta(days=1)).isoformat()}, 422),
        "venue unknown": ({**good, "venue_id": "it-nowhere"}, 404),
    }[case]
    before = await fetchval(suite, "SELECT count(*) FROM bookings"), await fetchval(suite, "SELECT count(*) FROM slots")
    r = await client.post("/v1/booking/bookings", json=sent, headers=bearer(await token("applicant-person")))
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert (await fetchval(suite, "SELECT count(*) FROM bookings"), await fetchval(suite, "SELECT count(*) FROM slots")) == before
    # And the good one books.
    if case == "venue unknown":
        ok = await client.post("/v1/booking/bookings", json=good, headers=bearer(await token("applicant-person")))
        assert ok.status_code == 201, ok.text


async def test_staff_see_the_day_masked_and_their_read_is_audited_the_gate_refuses_tomorrow(suite, client, token) -> None:
    # The demo gate account is 上海动物园's (its department): the venue it staffs here bears that name.
    await venue_once(suite, client, await token("ops"), {**venue("it-staff", 5), "name": "上海动物园"})
    person_token, gate = await token("applicant-person"), await token("gate")
    made = (await client.post("/v1/booking/bookings", json=body("it-staff", 3), headers=bearer(person_token))).json()
    r = await client.post("/v1/booking/gate/entries", json={"venue_id": "it-staff", "code": made["code"]}, headers=bearer(gate))
    assert r.status_code == 409 and r.json()["reason"] == "wrong_day", r.text
    refused = await client.post("/v1/booking/gate/entries", json={"venue_id": "it-staff", "code": made["code"],
                                                                 "id_number": resident_id(3)}, headers=bearer(gate))
    assert refused.status_code == 422
    assert await fetchval(suite, "SELECT status FROM bookings WHERE id = $1", made["id"]) == "booked"
    report = await client.get("/v1/booking/venues/it-staff/report", params={"date": tomorrow()}, headers=bearer(gate))
    assert report.status_code == 200 and report.json()["booked"] == 1 and report.json()["capacity"] == 10
    listed = await client.get("/v1/booking/venues/it-staff/bookings", params={"date": tomorrow()}, headers=bearer(gate))
    assert listed.status_code == 200 and [b["id_number"] for b in listed.json()] == [made["id_number"]]
    assert "*" in made["id_number"] and resident_id(3) not in listed.text
    assert await fetchval(suite, "SELECT count(*) FROM audit_log WHERE action = 'list' AND actor_subject = 'u-gate'") >= 1
    # A family cannot read the venue's day.
    assert (await client.get("/v1/booking/venues/it-staff/report", params={"date": tomorrow()},
                             headers=bearer(person_token))).status_code == 403


async def test_a_family_off_the_waiting_list_is_told_in_its_inbox_once(suite, client, token) -> None:
    """A cancellation promotes the first waiting (booking.promoted): svc-notifications puts 候补成功 with the venue,
    day, slot and code into the inbox of the person who booked, once."""
    await venue_once(suite, client, await token("ops"), venue("it-promote", 1))
    family = bearer(await token("applicant-person"))
    held = (await client.post("/v1/booking/bookings", json=body("it-promote", 91), headers=family)).json()
    waiting = await client.post("/v1/booking/bookings", json=body("it-promote", 92, wait_if_full=True), headers=family)
    assert waiting.status_code == 201 and waiting.json()["status"] == "waiting", waiting.text
    cancelled = await client.post(f"/v1/booking/bookings/{held['id']}/cancel", headers=family)
    assert cancelled.status_code == 200, cancelled.text
    promoted = waiting.json()

    async def told() -> list[dict[str, Any]]:
        r = await client.get("/v1/notifications", params={"limit": 100}, headers=family)
        return [n for n in r.json()["items"] if n["kind"] == "booking_promoted" and n["ref_id"] == promoted["id"]]

    found = await eventually(told, lambda items: len(items) >= 1, "the promotion in the family's inbox")
    assert len(found) == 1 and found[0]["ref_type"] == "booking"
    assert found[0]["title"] == "候补成功：测试动物园 it-promote"
    assert promoted["code"] in found[0]["body"] and f"{tomorrow()} 09:00" in found[0]["body"]


async def test_a_venues_staff_cannot_admit_at_or_read_another_venue(suite, client, token) -> None:
    """The gate account of 上海动物园 at another venue: 403 with its reason for the entry check, the day's report
    and its bookings, the booking untouched and nothing audited; ops read that venue's day."""
    ops = await token("ops")
    await venue_once(suite, client, ops, venue("it-elsewhere", 5))
    made = (await client.post("/v1/booking/bookings", json=body("it-elsewhere", 8),
                              headers=bearer(await token("applicant-person")))).json()
    gate = bearer(await token("gate"))
    r = await client.post("/v1/booking/gate/entries", json={"venue_id": "it-elsewhere", "code": made["code"]}, headers=gate)
    assert r.status_code == 403 and r.json()["reason"] == "not_staff_of_venue", r.text
    assert r.json()["detail"] == "您不是该场馆的工作人员"
    english = await client.post("/v1/booking/gate/entries", json={"venue_id": "it-elsewhere", "code": made["code"]},
                                headers={**gate, "Accept-Language": "en"})
    assert english.json()["detail"] == "You are not staff of this venue"
    for path in ("report", "bookings"):
        refused = await client.get(f"/v1/booking/venues/it-elsewhere/{path}", params={"date": tomorrow()}, headers=gate)
        assert refused.status_code == 403 and refused.json()["reason"] == "not_staff_of_venue", refused.text
    assert await fetchval(suite, "SELECT status FROM bookings WHERE id = $1", made["id"]) == "booked"
    assert await fetchval(suite, "SELECT count(*) FROM audit_log WHERE actor_subject = 'u-gate' AND resource_id IN ($1, $2)",
                          made["id"], f"it-elsewhere/{tomorrow()}") == 0
    report = await client.get("/v1/booking/venues/it-elsewhere/report", params={"date": tomorrow()}, headers=bearer(ops))
    assert report.status_code == 200 and report.json()["booked"] >= 1


@pytest.mark.parametrize(("case", "status"), [("overlapping slots", 422), ("slot ends before it starts", 422),
                                              ("weekday 8", 422), ("same id", 409), ("by a gate", 403)])
async def test_a_bad_venue_is_refused_and_nothing_written(suite, client, token, case: str, status: int) -> None:
    ops = await token("ops")
    await venue_once(suite, client, ops, venue("it-venue", 5))
    good = venue("it-venue-new", 5)
    sent, caller = {
        "overlapping slots": ({**good, "slots": [{"start": "09:00", "end": "12:00", "capacity": 5},
                                                 {"start": "11:00", "end": "13:00", "capacity": 5}]}, ops),
        "slot ends before it starts": ({**good, "slots": [{"start": "12:00", "end": "09:00", "capacity": 5}]}, ops),
        "weekday 8": ({**good, "closed_weekdays": [8]}, ops),
        "same id": (venue("it-venue", 5), ops),
        "by a gate": (good, await token("gate")),
    }[case]
    before = await fetchval(suite, "SELECT count(*) FROM venues")
    r = await client.post("/v1/booking/venues", json=sent, headers=bearer(caller))
    assert r.status_code == status, r.text
    assert await fetchval(suite, "SELECT count(*) FROM venues") == before


async def test_a_days_capacity_never_goes_below_the_places_taken(suite, client, token) -> None:
    ops = await token("ops")
    await add_venue(client, ops, "it-capacity", capacity=5)
    assert (await client.post("/v1/booking/bookings", json=body("it-capacity", 90),
                              headers=bearer(await token("applicant-person")))).status_code == 201
    path = f"/v1/booking/venues/it-capacity/days/{tomorrow()}/slots/09:00/capacity"
    r = await client.put(path, json={"capacity": 0}, headers=bearer(ops))
    assert r.status_code == 422, r.text
    assert await fetchval(suite, "SELECT capacity FROM slots WHERE venue_id = 'it-capacity'") == 5
    r = await client.put(path, json={"capacity": 1}, headers=bearer(ops))
    assert r.status_code == 200 and r.json()["remaining"] == 0, r.text
