"""The live status fan-out on its own: routing by application and audience, a slow client dropped
with a resync without holding up the others, heartbeats, duplicates and token expiry."""
from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from kit.auth import Principal, SubjectKind
from kit.contracts import ApplicationStatusChanged
from matters.service import live
from matters.service.live import Heartbeat, LiveHub, LiveStream, Resync, StatusEvent


def event(step_id: int, *, app: str = "a1", subject: str = "u-1", org: str | None = None, department: str = "区绿化局",
          from_status: str | None = "prereviewed", to_status: str = "accepted") -> StatusEvent:
    return StatusEvent(step_id=step_id, application_id=app, matter_code="LR-XK-008", from_status=from_status,
                       to_status=to_status, stage="review", action="accept", reason=None,
                       occurred_at=datetime.now(UTC), applicant_subject=subject, applicant_org_code=org,
                       department=department)


def principal(**kw: Any) -> Principal:
    return Principal(subject=kw.pop("subject", "u-1"), kind=kw.pop("kind", SubjectKind.PERSON),
                     roles=frozenset(kw.pop("roles", {"applicant"})), expires_at=kw.pop("expires_at", 0), **kw)


def drain(listener: live.Listener) -> list[Any]:
    items = []
    while not listener.queue.empty():
        items.append(listener.queue.get_nowait())
    return items


def test_events_reach_exactly_the_listeners_whose_keys_match_once_each() -> None:
    hub = LiveHub()
    one_app = hub.register(frozenset({live.application_key("a1")}))
    person = hub.register(frozenset({"subject:u-1"}))
    company = hub.register(frozenset({"subject:u-co", "org:913101"}))
    department = hub.register(frozenset({"department:区绿化局"}))
    everyone = hub.register(frozenset({live.EVERYONE}))
    both = hub.register(frozenset({"subject:u-1", "department:区绿化局"}))
    assert hub.dispatch(event(1)) == 5
    assert [len(drain(x)) for x in (one_app, person, company, department, everyone, both)] == [1, 1, 0, 1, 1, 1]
    hub.dispatch(event(2, app="a2", subject="u-9", org="913101", department="市绿化市容局"))
    assert [len(drain(x)) for x in (one_app, person, company, department, everyone, both)] == [0, 0, 1, 0, 1, 0]
    hub.unregister(everyone)
    hub.unregister(everyone)  # twice is harmless
    assert len(hub) == 5 and hub.dispatch(event(3, app="a3", subject="u-x", department="x")) == 0


def test_a_slow_listener_is_dropped_with_a_resync_and_the_others_go_on() -> None:
    hub = LiveHub(queue_size=3)
    slow = hub.register(frozenset({live.EVERYONE}))
    fast = hub.register(frozenset({live.EVERYONE}))
    for i in range(1, 4):
        hub.dispatch(event(i))
        drain(fast)
    hub.dispatch(event(4))  # the slow one's queue is full
    assert drain(slow) == [Resync("overflow")]
    assert [e.step_id for e in drain(fast)] == [4]
    assert len(hub) == 1
    hub.dispatch(event(5))
    assert drain(slow) == [] and [e.step_id for e in drain(fast)] == [5]


async def test_malformed_messages_are_skipped_and_valid_ones_dispatched() -> None:
    hub = LiveHub()
    listener = hub.register(frozenset({live.application_key("a1")}))
    await hub.on_message(b"not json")
    await hub.on_message(b'{"specversion": "1.0", "source": "/x", "type": "lvrong.matters.application.status_changed",'
                         b' "data": {"application_id": "a1"}}')
    contract = ApplicationStatusChanged(application_id="a1", matter_code="LR-XK-008", applicant_subject="u-1",
                                        step_id=7, from_status="submitted", to_status="prereviewed", stage="acceptance",
                                        action="prereview", actor="svc-prequal", occurred_at=datetime.now(UTC))
    await hub.on_message(contract.envelope(subject="a1").to_json_bytes())
    [received] = drain(listener)
    assert received.step_id == 7 and set(received.data()) == {
        "application_id", "matter_code", "from_status", "to_status", "stage", "action", "reason", "occurred_at"}


async def test_bus_reconnect_resyncs_every_open_stream() -> None:
    hub = LiveHub()
    listeners = [hub.register(frozenset({live.EVERYONE})) for _ in range(3)]
    hub.dispatch(event(1))
    await hub.on_bus_reconnected()
    assert [drain(x) for x in listeners] == [[Resync("reconnected")]] * 3 and len(hub) == 0


async def collect(stream: LiveStream, count: int, within: float = 2.0) -> list[Any]:
    items: list[Any] = []

    async def run() -> None:
        async for item in stream.items():
            items.append(item)
            if len(items) == count:
                return

    await asyncio.wait_for(run(), within)
    return items


async def test_stream_sends_heartbeats_drops_duplicates_and_ends_with_the_resync() -> None:
    hub = LiveHub(heartbeat_seconds=0.05)
    listener = hub.register(frozenset({live.application_key("a1")}))
    stream = LiveStream(None, hub, listener, principal(), application_id="a1", after=None,  # type: ignore[arg-type]
                        heartbeat_seconds=0.05, marks={"a1": (10, "prereviewed")})
    hub.dispatch(event(9, from_status="submitted", to_status="prereviewed"))  # older than what the client has
    hub.dispatch(event(11))
    hub.dispatch(event(11))  # the same event twice (a relay retry)
    items = await collect(stream, 2)
    assert [type(i) for i in items] == [StatusEvent, Heartbeat] and items[0].step_id == 11
    hub.resync(listener, "overflow")
    assert (await collect(stream, 1))[0] == Resync("overflow")
    assert len(hub) == 0


async def test_stream_ends_when_the_token_expires() -> None:
    hub = LiveHub(heartbeat_seconds=5)
    listener = hub.register(frozenset({live.EVERYONE}))
    stream = LiveStream(None, hub, listener, principal(expires_at=int(time.time()) + 1), application_id=None,  # type: ignore[arg-type]
                        after=None, heartbeat_seconds=5)
    started = time.monotonic()
    items = await collect(stream, 1, within=3)
    assert items == [Resync("token_expired")] and time.monotonic() - started < 2.5
    assert len(hub) == 0


async def test_stream_resuming_after_a_step_id_drops_live_events_the_client_had() -> None:
    hub = LiveHub(heartbeat_seconds=5)
    listener = hub.register(frozenset({live.EVERYONE}))
    stream = LiveStream(None, hub, listener, principal(), application_id=None, after=20,  # type: ignore[arg-type]
                        heartbeat_seconds=5)
    stream._replay = _no_replay  # type: ignore[method-assign]
    hub.dispatch(event(19, app="a2"))
    hub.dispatch(event(21, app="a3"))
    items = await collect(stream, 1)
    assert [i.step_id for i in items] == [21]


async def test_an_event_that_overtook_an_earlier_one_is_filled_in_from_the_timeline() -> None:
    hub = LiveHub(heartbeat_seconds=5)
    listener = hub.register(frozenset({live.application_key("a1")}))
    stream = LiveStream(None, hub, listener, principal(), application_id="a1", after=None,  # type: ignore[arg-type]
                        heartbeat_seconds=5, marks={"a1": (10, "accepted")})
    review = event(11, from_status="accepted", to_status="under_review")
    approve = event(12, from_status="under_review", to_status="approved")
    asked: list[tuple[str, int]] = []

    async def timeline_after(application_id: str, since: int) -> list[StatusEvent]:
        asked.append((application_id, since))
        return [review, approve]

    stream._fill_gap = timeline_after  # type: ignore[method-assign]
    hub.dispatch(approve)  # published by another replica's relay ahead of step 11
    hub.dispatch(review)
    hub.dispatch(event(13, from_status="approved", to_status="licence_issued"))
    items = await collect(stream, 3)
    assert [i.step_id for i in items] == [11, 12, 13] and asked == [("a1", 10)]


async def _no_replay() -> Any:
    return
    yield  # an async generator that yields nothing


async def test_audience_keys_follow_the_visibility_rule() -> None:
    class NoGrants:
        async def scalars(self, _: Any) -> Any:
            class Rows:
                def all(self) -> list[str]:
                    return []
            return Rows()

    session: Any = NoGrants()
    assert await live.audience_keys(session, principal()) == {"subject:u-1"}
    assert await live.audience_keys(session, principal(subject="u-co", kind=SubjectKind.COMPANY, org_code="913101")) == {
        "subject:u-co", "org:913101"}
    assert await live.audience_keys(session, principal(kind=SubjectKind.STAFF, roles={"reviewer"},
                                                       department="区绿化局")) == {"department:区绿化局"}
    assert await live.audience_keys(session, principal(kind=SubjectKind.STAFF, roles={"reviewer"},
                                                       department="市绿化市容局")) == {live.EVERYONE}
    assert await live.audience_keys(session, principal(kind=SubjectKind.STAFF, roles={"ops_admin"},
                                                       department="区绿化局")) == {live.EVERYONE}
    assert await live.audience_keys(session, principal(kind=SubjectKind.PARTNER, roles={"partner"})) == frozenset()
