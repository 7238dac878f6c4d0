"""svc-booking's rules against a real PostgreSQL, under a frozen clock: the capacity check, one booking per
person per venue per day, waiting list and promotion, the cancellation cut-off, the gate, no-shows, reports."""
from __future__ import annotations

import asyncio
import datetime as dt

import pytest
import time_machine
from sqlalchemy import func, select, text

from booking import messages
from booking.models import Booking, Slot
from booking.schemas import BookingCreate, ClosedDayCreate, EntryCheck, VenueCreate
from booking.service import bookings, gate, no_shows, reports, venues
from booking.settings import Settings
from booking_support import DAY, applicant, gate_staff, local, partner, person, resident_id, venue
from kit.auth import Principal, Role, SubjectKind
from kit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from support import scratch_service_database

SETTINGS = Settings()


@pytest.fixture(scope="module")
async def database(servers):
    async with scratch_service_database(servers.database_url, "booking", "hbk_unit") as db:
        yield db


@pytest.fixture
def clock():
    with time_machine.travel(local(DAY, 8), tick=False) as traveller:
        yield traveller


async def add_venue(database, venue_id: str, capacity: int = 3, closed_weekdays: list[int] | None = None) -> None:
    await venues.create_venue(database, VenueCreate.model_validate(venue(venue_id, capacity, closed_weekdays)))


def request(venue_id: str, n: int, *, day: dt.date = DAY, slot: str = "09:00", wait: bool = False) -> BookingCreate:
    return BookingCreate.model_validate({"venue_id": venue_id, "day": day.isoformat(), "slot_start": slot,
                                         "person": person(n), "wait_if_full": wait})


async def scalar(database, sql: str, **params) -> object:
    async with database.session() as session:
        return (await session.execute(text(sql), params)).scalar()


async def test_a_booking_is_stored_encrypted_read_masked_and_announced(database, clock) -> None:
    await add_venue(database, "v-basic")
    view = await bookings.book(database, applicant(), request("v-basic", 1), SETTINGS, None)
    assert view.status == "booked" and view.channel == "web" and len(view.code) == 8
    assert view.person_name == "游**" and view.id_number == resident_id(1)[:3] + "*" * 11 + resident_id(1)[-4:]
    assert view.phone == "139****0001"
    raw = (await scalar(database, "SELECT id_number || ' ' || person_name || ' ' || phone FROM bookings WHERE id = :id",
                        id=view.id))
    assert resident_id(1) not in raw and "游客1" not in raw and raw.count("pd1.") == 3
    assert await scalar(database, "SELECT count(*) FROM outbox WHERE envelope->>'subject' = :id AND envelope->>'type' = "
                                  "'lvrong.booking.booking.created'", id=view.id) == 1
    assert await scalar(database, "SELECT taken FROM slots WHERE venue_id = 'v-basic' AND start = '09:00'") == 1
    # Another caller does not see it, not even that it exists.
    with pytest.raises(NotFound):
        async with database.session() as session:
            await bookings.get_own(session, applicant("u-other"), view.id)


async def test_one_booking_per_person_per_venue_per_day_and_nothing_written_when_refused(database, clock) -> None:
    await add_venue(database, "v-once")
    await bookings.book(database, applicant(), request("v-once", 2), SETTINGS, None)
    before = await scalar(database, "SELECT count(*) FROM bookings")
    # The same person, another slot of the same day, through a partner app: refused whole.
    with pytest.raises(Conflict) as refused:
        await bookings.book(database, partner(), request("v-once", 2, slot="13:00"), SETTINGS, None)
    assert refused.value.extensions["reason"] == "already_booked"
    assert await scalar(database, "SELECT count(*) FROM bookings") == before
    assert await scalar(database, "SELECT coalesce(sum(taken), 0) FROM slots WHERE venue_id = 'v-once' AND start = '13:00'") == 0
    # Another day is another booking.
    other = await bookings.book(database, partner(), request("v-once", 2, day=DAY + dt.timedelta(days=1)), SETTINGS, None)
    assert other.channel == "partner:JS"


@pytest.mark.parametrize(("case", "problem"), [
    ("yesterday", ValidationFailed), ("beyond the horizon", ValidationFailed), ("closed weekday", ValidationFailed),
    ("closed day", ValidationFailed), ("unknown slot", NotFound), ("slot started", ValidationFailed),
    ("unknown venue", NotFound)])
async def test_a_day_or_slot_that_cannot_be_booked_is_refused_and_nothing_written(database, clock, case, problem) -> None:
    await add_venue(database, f"v-bad-{case.replace(' ', '-')}", closed_weekdays=[4])  # Thursdays
    venue_id = f"v-bad-{case.replace(' ', '-')}"
    await venues.close_day(database, venue_id, ClosedDayCreate(day=DAY + dt.timedelta(days=2), reason="设施检修"))
    body = {
        "yesterday": request(venue_id, 3, day=DAY - dt.timedelta(days=1)),
        "beyond the horizon": request(venue_id, 3, day=DAY + dt.timedelta(days=SETTINGS.horizon_days)),
        "closed weekday": request(venue_id, 3, day=DAY + dt.timedelta(days=1)),
        "closed day": request(venue_id, 3, day=DAY + dt.timedelta(days=2)),
        "unknown slot": request(venue_id, 3, slot="10:00"),
        "unknown venue": request("v-nowhere", 3),
        "slot started": request(venue_id, 3),
    }[case]
    if case == "slot started":
        clock.move_to(local(DAY, 9, 1))
    before = await scalar(database, "SELECT count(*) FROM bookings")
    with pytest.raises(problem):
        await bookings.book(database, applicant(), body, SETTINGS, None)
    assert await scalar(database, "SELECT count(*) FROM bookings") == before
    assert await scalar(database, "SELECT count(*) FROM slots WHERE venue_id = :v", v=venue_id) == 0


async def test_concurrent_bookings_never_exceed_the_capacity(database, clock) -> None:
    await add_venue(database, "v-rush", capacity=20)
    results = await asyncio.gather(*(bookings.book(database, applicant(f"u-{n}"), request("v-rush", 1000 + n), SETTINGS, None)
                                     for n in range(120)), return_exceptions=True)
    booked = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(booked) == 20 and len(refused) == 100, [r for r in results if isinstance(r, BaseException) and not isinstance(r, Conflict)]
    assert await scalar(database, "SELECT count(*) FROM bookings WHERE venue_id = 'v-rush'") == 20
    assert await scalar(database, "SELECT taken FROM slots WHERE venue_id = 'v-rush' AND start = '09:00'") == 20


async def test_a_cancellation_promotes_the_first_waiting_in_the_same_transaction(database, clock) -> None:
    await add_venue(database, "v-wait", capacity=1)
    first = await bookings.book(database, applicant("u-a"), request("v-wait", 10, slot="13:00"), SETTINGS, None)
    with pytest.raises(Conflict):  # full, and the person did not ask to wait
        await bookings.book(database, applicant("u-b"), request("v-wait", 11, slot="13:00"), SETTINGS, None)
    second = await bookings.book(database, applicant("u-b"), request("v-wait", 11, slot="13:00", wait=True), SETTINGS, None)
    clock.shift(1)
    third = await bookings.book(database, partner("ZJ"), request("v-wait", 12, slot="13:00", wait=True), SETTINGS, None)
    assert (second.status, second.waiting_position, third.waiting_position) == ("waiting", 1, 2)
    cancelled = await bookings.cancel(database, applicant("u-a"), first.id, SETTINGS)
    assert cancelled.status == "cancelled"
    async with database.session() as session:
        promoted = await bookings.get_own(session, applicant("u-b"), second.id)
        still = await bookings.get_own(session, partner("ZJ"), third.id)
    assert promoted.status == "booked" and promoted.promoted_at is not None
    assert still.status == "waiting" and still.waiting_position == 1
    assert await scalar(database, "SELECT taken FROM slots WHERE venue_id = 'v-wait' AND start = '13:00'") == 1
    assert await scalar(database, "SELECT envelope->'data'->>'freed_by' FROM outbox WHERE envelope->>'type' = "
                                  "'lvrong.booking.booking.promoted' AND envelope->>'subject' = :id", id=second.id) == first.id
    assert await scalar(database, "SELECT envelope->'data'->>'venue_name' FROM outbox WHERE envelope->>'type' = "
                                  "'lvrong.booking.booking.promoted' AND envelope->>'subject' = :id", id=second.id) == \
        "测试动物园 v-wait"
    # Cancelled once is cancelled: a second cancel is refused with the booking's state.
    with pytest.raises(Conflict) as again:
        await bookings.cancel(database, applicant("u-a"), first.id, SETTINGS)
    assert again.value.extensions["status_now"] == "cancelled"
    # With nobody waiting, a cancellation gives the place back; the person may book that day again.
    await bookings.cancel(database, partner("ZJ"), third.id, SETTINGS)
    await bookings.cancel(database, applicant("u-b"), second.id, SETTINGS)
    assert await scalar(database, "SELECT taken FROM slots WHERE venue_id = 'v-wait' AND start = '13:00'") == 0
    again_booked = await bookings.book(database, applicant("u-a"), request("v-wait", 10, slot="13:00"), SETTINGS, None)
    assert again_booked.status == "booked"


async def test_cancellation_closes_at_the_cut_off(database, clock) -> None:
    await add_venue(database, "v-cutoff")
    view = await bookings.book(database, applicant(), request("v-cutoff", 20, slot="13:00"), SETTINGS, None)
    clock.move_to(local(DAY, 11, 0, ) + dt.timedelta(minutes=1))  # 13:00 less 120 minutes, plus one
    with pytest.raises(Conflict) as late:
        await bookings.cancel(database, applicant(), view.id, SETTINGS)
    assert late.value.extensions["reason"] == "cancel_cut_off"
    assert await scalar(database, "SELECT status FROM bookings WHERE id = :id", id=view.id) == "booked"
    clock.move_to(local(DAY, 11, 0))  # exactly at the cut-off: still possible
    assert (await bookings.cancel(database, applicant(), view.id, SETTINGS)).status == "cancelled"


async def test_the_gate_admits_once_and_refuses_with_its_reason(database, clock) -> None:
    await add_venue(database, "v-gate")
    await add_venue(database, "v-gate-other")
    today = await bookings.book(database, applicant(), request("v-gate", 30, slot="13:00"), SETTINGS, None)
    tomorrow = await bookings.book(database, applicant(), request("v-gate", 31, day=DAY + dt.timedelta(days=1)), SETTINGS, None)
    staff = gate_staff("v-gate")

    async def refused(check: dict[str, str]) -> str:
        with pytest.raises((Conflict, NotFound)) as problem:  # by the staff of the venue checked at
            await gate.admit(database, gate_staff(check["venue_id"]), EntryCheck.model_validate(check), SETTINGS)
        return str(problem.value.extensions["reason"])

    clock.move_to(local(DAY, 12, 0))
    assert await refused({"venue_id": "v-gate", "code": today.code}) == "too_early"
    clock.move_to(local(DAY, 12, 30))
    assert await refused({"venue_id": "v-gate-other", "code": today.code}) == "wrong_venue"
    assert await refused({"venue_id": "v-gate", "code": tomorrow.code}) == "wrong_day"
    assert await refused({"venue_id": "v-gate", "id_number": resident_id(31)}) == "wrong_day"
    assert await refused({"venue_id": "v-gate", "id_number": resident_id(39)}) == "no_booking"
    assert await scalar(database, "SELECT count(*) FROM bookings WHERE status = 'entered'") == 0
    entered = await gate.admit(database, staff, EntryCheck(venue_id="v-gate", id_number=resident_id(30)), SETTINGS)
    assert entered.status == "entered" and entered.person_name == "游***"
    assert await refused({"venue_id": "v-gate", "code": today.code}) == "entered"
    assert await scalar(database, "SELECT count(*) FROM audit_log WHERE action = 'admit' AND resource_id = :id",
                        id=today.id) == 1
    assert await scalar(database, "SELECT count(*) FROM outbox WHERE envelope->>'type' = 'lvrong.booking.booking.entered'"
                                  " AND envelope->>'subject' = :id", id=today.id) == 1
    clock.move_to(local(DAY, 16, 0))
    late = await bookings.book(database, applicant(), request("v-gate-other", 30, day=DAY + dt.timedelta(days=1)), SETTINGS, None)
    clock.move_to(local(DAY + dt.timedelta(days=1), 11, 0))
    assert await refused({"venue_id": "v-gate-other", "code": late.code}) == "too_late"


async def test_a_venues_gate_and_day_are_its_own_staffs_and_the_bureaus(database, clock) -> None:
    """Staff of one venue can neither admit at another nor read its day: 403 before anything is read or written.
    Ops and the bureau's inspectors see every venue; venue staff without a department see none."""
    await add_venue(database, "v-own")
    await add_venue(database, "v-elsewhere")
    made = await bookings.book(database, applicant(), request("v-elsewhere", 70), SETTINGS, None)
    clock.move_to(local(DAY, 9, 10))
    stranger = gate_staff("v-own")
    nobody = Principal(subject="u-gate-nowhere", kind=SubjectKind.STAFF, roles=frozenset({Role.VENUE_STAFF}))
    for principal in (stranger, nobody, applicant()):
        with pytest.raises(Forbidden) as problem:
            await gate.admit(database, principal, EntryCheck(venue_id="v-elsewhere", code=made.code), SETTINGS)
        assert problem.value.extensions["reason"] == "not_staff_of_venue"
        assert problem.value.detail == messages.NOT_STAFF_OF_VENUE
        with pytest.raises(Forbidden):
            await reports.day_bookings(database, principal, "v-elsewhere", DAY, None, 50)
        async with database.session() as session:
            with pytest.raises(Forbidden):
                await reports.day_report(session, principal, "v-elsewhere", DAY)
    assert await scalar(database, "SELECT status FROM bookings WHERE id = :id", id=made.id) == "booked"
    assert await scalar(database, "SELECT count(*) FROM audit_log WHERE resource_id IN (:b, :d)",
                        b=made.id, d=f"v-elsewhere/{DAY.isoformat()}") == 0
    assert await scalar(database, "SELECT count(*) FROM outbox WHERE envelope->>'subject' = :id "
                                  "AND envelope->>'type' = 'lvrong.booking.booking.entered'", id=made.id) == 0
    for principal in (Principal(subject="u-ops", kind=SubjectKind.STAFF, roles=frozenset({Role.OPS_ADMIN})),
                      Principal(subject="u-inspector", kind=SubjectKind.STAFF, roles=frozenset({Role.INSPECTOR}))):
        async with database.session() as session:
            assert (await reports.day_report(session, principal, "v-elsewhere", DAY)).booked == 1
    # The venue's own staff admit; the same code then says it was used.
    admitted = await gate.admit(database, gate_staff("v-elsewhere"), EntryCheck(venue_id="v-elsewhere", code=made.code),
                                SETTINGS)
    assert admitted.status == "entered"


async def test_three_no_shows_in_ninety_days_block_booking_for_thirty_days(database, clock) -> None:
    await add_venue(database, "v-noshow", capacity=10)
    for week in range(3):
        day = DAY + dt.timedelta(days=7 * week)
        clock.move_to(local(day, 8))
        await bookings.book(database, applicant(), request("v-noshow", 40, day=day), SETTINGS, None)
        clock.move_to(local(day, 11, 29))  # the slot ended at 11:00; 30 minutes' grace
        async with database.transaction() as session:
            await no_shows.mark_no_shows(session, local(day, 11, 29), SETTINGS)
        assert await scalar(database, "SELECT count(*) FROM bookings WHERE status = 'no_show' AND venue_id = 'v-noshow'") == week
        async with database.transaction() as session:
            assert await no_shows.mark_no_shows(session, local(day, 11, 31), SETTINGS) >= 1
        assert await scalar(database, "SELECT count(*) FROM bookings WHERE status = 'no_show' AND venue_id = 'v-noshow'") == week + 1
    assert await scalar(database, "SELECT count(*) FROM bookings WHERE status = 'no_show' AND venue_id = 'v-noshow'") == 3
    after = local(DAY + dt.timedelta(days=15), 8)
    clock.move_to(after)
    before = await scalar(database, "SELECT count(*) FROM bookings")
    with pytest.raises(Forbidden) as blocked:
        await bookings.book(database, partner(), request("v-noshow", 40, day=after.date()), SETTINGS, None)
    assert blocked.value.extensions["reason"] == "no_show_block"
    assert await scalar(database, "SELECT count(*) FROM bookings") == before
    # Others are not blocked; the person may book again once the 30 days from the third no-show are over.
    await bookings.book(database, applicant(), request("v-noshow", 41, day=after.date()), SETTINGS, None)
    free = local(DAY + dt.timedelta(days=14 + 31), 8)
    clock.move_to(free)
    assert (await bookings.book(database, applicant(), request("v-noshow", 40, day=free.date()), SETTINGS, None)).status == "booked"


async def expire(database, now: dt.datetime) -> int:
    async with database.transaction() as session:
        return await no_shows.expire_waiting(session, now, SETTINGS)


async def test_a_waiting_entry_expires_after_its_slots_cut_off_and_frees_the_persons_day(database, clock) -> None:
    await add_venue(database, "v-expire", capacity=1)
    await bookings.book(database, applicant("u-e1"), request("v-expire", 70), SETTINGS, None)  # 09:00, full
    late = await bookings.book(database, applicant("u-e2"), request("v-expire", 71, wait=True), SETTINGS, None)
    await bookings.book(database, applicant("u-e3"), request("v-expire", 72, day=DAY + dt.timedelta(days=1)), SETTINGS, None)
    tomorrow = await bookings.book(database, applicant("u-e4"), request("v-expire", 73, day=DAY + dt.timedelta(days=1),
                                                                        wait=True), SETTINGS, None)
    assert (late.status, tomorrow.status) == ("waiting", "waiting")
    # 08:00: 09:00's cut-off (07:00) has passed, nobody can cancel and free a place: the entry ends.
    assert await expire(database, local(DAY, 8)) == 1
    assert await expire(database, local(DAY, 8)) == 0  # a second tick changes nothing
    async with database.session() as session:
        ended = await bookings.get_own(session, applicant("u-e2"), late.id)
        still = await bookings.get_own(session, applicant("u-e4"), tomorrow.id)
    assert (ended.status, ended.waiting_position) == ("expired", None)
    assert (still.status, still.waiting_position) == ("waiting", 1)
    # Announced once, for the family's notification (候补未成功), with the venue's name.
    expired_events = await scalar(database, "SELECT json_agg(envelope->'data') FROM outbox WHERE envelope->>'type' = "
                                            "'lvrong.booking.booking.expired' AND envelope->>'subject' = :id", id=late.id)
    assert [(e["code"], e["venue_name"], e["booked_by"]) for e in expired_events] == \
        [(late.code, "测试动物园 v-expire", "u-e2")]
    # The expired entry no longer holds the person's one booking of the venue and day: the afternoon is theirs.
    afternoon = await bookings.book(database, applicant("u-e2"), request("v-expire", 71, slot="13:00"), SETTINGS, None)
    assert afternoon.status == "booked"
    behind = await bookings.book(database, applicant("u-e5"), request("v-expire", 74, slot="13:00", wait=True), SETTINGS, None)
    # At 13:00's cut-off itself (11:00) the holder may still cancel and hand the place on: the entry waits on.
    assert await expire(database, local(DAY, 11)) == 0
    assert await expire(database, local(DAY, 11) + dt.timedelta(seconds=1)) == 1
    assert await scalar(database, "SELECT status FROM bookings WHERE id = :id", id=behind.id) == "expired"
    async with database.session() as session:
        report = await reports.day_report(session, gate_staff("v-expire"), "v-expire", DAY)
    assert (report.booked, report.waiting, report.expired) == (2, 0, 2)
    assert await scalar(database, "SELECT status FROM bookings WHERE id = :id", id=tomorrow.id) == "waiting"


async def test_the_days_report_and_the_staffs_audited_list(database, clock) -> None:
    await add_venue(database, "v-report", capacity=2)
    a = await bookings.book(database, applicant("u-r1"), request("v-report", 50), SETTINGS, None)
    b = await bookings.book(database, applicant("u-r2"), request("v-report", 51), SETTINGS, None)
    await bookings.book(database, applicant("u-r3"), request("v-report", 52, wait=True), SETTINGS, None)
    await bookings.book(database, applicant("u-r4"), request("v-report", 53, slot="13:00"), SETTINGS, None)
    await bookings.cancel(database, applicant("u-r4"), (await _own_id(database, "u-r4")), SETTINGS)
    clock.move_to(local(DAY, 9, 10))
    await gate.admit(database, gate_staff("v-report"), EntryCheck(venue_id="v-report", code=a.code), SETTINGS)
    async with database.transaction() as session:
        await no_shows.mark_no_shows(session, local(DAY, 11, 31), SETTINGS)
    async with database.session() as session:
        report = await reports.day_report(session, gate_staff("v-report"), "v-report", DAY)
    assert (report.capacity, report.booked, report.entered, report.no_show, report.cancelled, report.waiting) == (4, 2, 1, 1, 1, 1)
    assert [(s.start, s.taken, s.remaining) for s in report.slots] == [("09:00", 2, 0), ("13:00", 0, 2)]
    listed = await reports.day_bookings(database, gate_staff("v-report"), "v-report", DAY, None, 50)
    assert {v.id for v in listed} >= {a.id, b.id} and all("*" in v.id_number for v in listed)
    assert await scalar(database, "SELECT count(*) FROM audit_log WHERE action = 'list' AND resource_id = :r",
                        r=f"v-report/{DAY.isoformat()}") == 1


async def _own_id(database, subject: str) -> str:
    async with database.session() as session:
        return (await session.execute(select(Booking.id).where(Booking.booked_by == subject)
                                      .order_by(Booking.created_at.desc()).limit(1))).scalar_one()


async def test_ops_set_a_days_capacity_but_never_below_the_places_taken(database, clock) -> None:
    await add_venue(database, "v-cap", capacity=2)
    await bookings.book(database, applicant(), request("v-cap", 60), SETTINGS, None)
    await bookings.book(database, applicant(), request("v-cap", 61), SETTINGS, None)
    from booking.schemas import CapacitySet
    with pytest.raises(ValidationFailed):
        await venues.set_capacity(database, "v-cap", DAY, "09:00", CapacitySet(capacity=1))
    async with database.session() as session:
        slot = (await session.execute(select(Slot).where(Slot.venue_id == "v-cap", Slot.start == "09:00"))).scalar_one()
    assert (slot.capacity, slot.taken) == (2, 2)
    view = await venues.set_capacity(database, "v-cap", DAY, "09:00", CapacitySet(capacity=3))
    assert (view.capacity, view.taken, view.remaining) == (3, 2, 1)
    assert (await bookings.book(database, applicant(), request("v-cap", 62), SETTINGS, None)).status == "booked"
    async with database.session() as session:
        assert (await session.execute(select(func.count()).select_from(Booking).where(Booking.venue_id == "v-cap"))).scalar() == 3


async def test_the_demo_venues_of_the_four_provinces_are_seeded_once(database) -> None:
    from booking.service.seed import DEMO_VENUES, seed_demo_venues

    assert await seed_demo_venues(database) == len(DEMO_VENUES)
    assert await seed_demo_venues(database) == 0
    async with database.session() as session:
        listed = await venues.list_venues(session, None)
        jiangsu = await venues.list_venues(session, "JS")
    assert {v.province for v in listed if v.id in {d["id"] for d in DEMO_VENUES}} == {"SH", "JS", "ZJ", "AH"}
    assert jiangsu and all(v.province == "JS" for v in jiangsu)
