"""Two replicas of svc-matters and two of svc-prequal behind one gateway, against a PostgreSQL server
and a NATS JetStream server of their own (real servers, started for this module): 2,000 applications
submitted through the gateway each get exactly one verdict and one timeline entry per step; each
event is published once and handled once; both replicas of each service took a share of the
consuming and of the relaying; a scheduler's tick never runs in two replicas at once, and what it
does happens once.

How replicas share the work (issue 9): the outbox relay claims rows with ``SELECT … FOR UPDATE SKIP
LOCKED`` (no leader election), consumers are durable JetStream pull consumers bound by every replica,
and periodic jobs take a PostgreSQL advisory lock per tick (``kit.scheduling``).
"""
from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from scale.cluster import Cluster, submit_many, wait_until

from kit.db import Database
from kit.scheduling import run_tick
from support import all_materials, matter, ticked, valid_form

PREFIX = os.environ.get("LVRONG_TEST_DATABASE_PREFIX", "lvrong_itest") + "_scale"
MATTER = "LR-XK-008"
APPLICATIONS = 2000
STALLED = 100

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    # A PostgreSQL of its own: four service processes and the checks need more connections than a
    # server shared with the rest of the suite (and other runs) can be counted on to have free.
    with Cluster(PREFIX, database_url=None, replicas={"matters": 2, "prequal": 2},
                 extra_env={"MATTERS_STALL_DETECTION_INTERVAL_SECONDS": "0.3"}).running() as running:
        yield running


async def test_two_thousand_applications_two_replicas_each_one_verdict_and_one_step_each(cluster: Cluster) -> None:
    async with httpx.AsyncClient(base_url=cluster.gateway, timeout=60,
                                 limits=httpx.Limits(max_connections=64)) as client:
        applicant = await cluster.token(client, "applicant-person")
        detail = await matter(client, applicant, MATTER)
        uploaded = await all_materials(client, applicant, detail)

        def body(i: int) -> dict[str, Any]:
            return {"matter_code": MATTER, "form": valid_form(detail, seed=i), "materials": uploaded}

        # As a front-end does: an answer lost to a timeout is asked again with the same Idempotency-Key,
        # which returns the application already created instead of creating a second one.
        ids, statuses = await submit_many(client, applicant, body, APPLICATIONS, concurrency=32, retry_seconds=60)
    assert len(ids) == APPLICATIONS == len(set(ids)), f"answers other than 201: {sorted(set(statuses) - {201})}"
    assert not set(statuses) - {201, 502, 503, 504}, f"answers: {sorted(set(statuses))}"
    created = await cluster.sql("matters", "SELECT count(*) AS n FROM applications WHERE matter_code = $1", MATTER)
    assert created[0]["n"] == APPLICATIONS  # no retry created a second application

    async def all_decided() -> bool | int:
        rows = await cluster.sql("matters", "SELECT count(*) AS n FROM applications WHERE id = ANY($1::text[]) "
                                            "AND status IN ('prereviewed', 'returned')", ids)
        return rows[0]["n"] == APPLICATIONS or rows[0]["n"]

    await wait_until(all_decided, within=240, what="a verdict for every application")

    # Exactly one verdict per application in svc-prequal …
    verdicts = await cluster.sql("prequal", "SELECT application_id, count(*) AS n FROM verdicts "
                                            "WHERE application_id = ANY($1::text[]) GROUP BY application_id", ids)
    assert len(verdicts) == APPLICATIONS and {r["n"] for r in verdicts} == {1}
    # … and in svc-matters' timeline exactly two steps, submission and verdict, each once.
    steps = await cluster.sql("matters", "SELECT application_id, status, action, count(*) AS n FROM application_steps "
                                         "WHERE application_id = ANY($1::text[]) GROUP BY 1, 2, 3", ids)
    assert {r["n"] for r in steps} == {1}
    per_application: dict[str, list[str]] = {}
    for r in steps:
        per_application.setdefault(r["application_id"], []).append(r["status"])
    assert len(per_application) == APPLICATIONS
    assert all(sorted(s) in (["prereviewed", "submitted"], ["returned", "submitted"]) for s in per_application.values())

    # Every outbox row was published, and each exactly once: the stream holds as many messages as rows.
    for service in ("matters", "prequal"):
        async def relayed(service: str = service) -> bool | int:
            rows = await cluster.sql(service, "SELECT count(*) AS n FROM outbox WHERE published_at IS NULL")
            return rows[0]["n"] == 0 or rows[0]["n"]

        await wait_until(relayed, within=30, what=f"{service}'s outbox drained")
        outbox = (await cluster.sql(service, "SELECT count(*) AS n FROM outbox"))[0]["n"]
        info = await _stream_info(cluster, f"LVRONG_{service.upper()}")
        assert info.state.messages == outbox, f"{service}: {outbox} outbox rows, {info.state.messages} messages"

    # Each submitted event was handled once by svc-prequal's shared durable consumer (one record per
    # event, nothing pending), and each verdict event once by svc-matters'.
    handled = await cluster.sql("prequal", "SELECT event_type, count(*) AS n, count(DISTINCT event_id) AS d "
                                           "FROM processed_events GROUP BY event_type")
    submitted = {r["event_type"]: r for r in handled}["lvrong.matters.application.submitted"]
    assert submitted["n"] == submitted["d"] == APPLICATIONS

    # Every consumer of both streams has handled what it was sent (svc-prequal's status changes can still
    # be arriving after the last verdict): the replicas' counters below stand still only then.
    async def settled() -> bool | list[str]:
        busy = await _busy_consumers(cluster)
        return not busy or busy

    await wait_until(settled, within=60, what="every consumer settled")

    # Both replica processes of each service took part: each handled a share of the events through
    # the shared durable consumer, and each relay published a share of the outbox — the shares add up
    # to every event exactly once.
    for service, consumed in (("prequal", "lvrong.matters.application.submitted"),
                              ("matters", "lvrong.prequal.verdict.issued")):
        assert len(cluster.nats_clients(f"lvrong-{service}")) == 2
        handled = await cluster.replica_metrics(service, "lvrong_events_handled_total", replicas=2)
        assert len(handled) == 2, f"{service}: only {len(handled)} replica answered"
        applied = [sum(v for labels, v in samples.items()
                       if dict(labels).get("type") == consumed and dict(labels).get("outcome") == "applied")
                   for samples in handled.values()]
        assert all(n > 0 for n in applied) and sum(applied) == APPLICATIONS, f"{service} applied {applied}"
        published = await cluster.replica_metrics(service, "lvrong_outbox_published_total", replicas=2)
        shares = [sum(samples.values()) for samples in published.values()]
        outbox = (await cluster.sql(service, "SELECT count(*) AS n FROM outbox"))[0]["n"]
        assert len(shares) == 2 and all(n > 0 for n in shares) and sum(shares) == outbox, \
            f"{service}: relays published {shares} of {outbox}"


async def test_a_scheduler_across_replicas_opens_each_stall_once(cluster: Cluster) -> None:
    """svc-matters' stall detection runs in both replicas every 0.3 s; each idle application gets
    one stall and one stall.opened event."""
    ids = [r["id"] for r in await cluster.sql(
        "matters", "SELECT id FROM applications WHERE status = 'prereviewed' ORDER BY id LIMIT $1", STALLED)]
    assert len(ids) == STALLED
    await cluster.sql("matters", "UPDATE applications SET status_since = status_since - interval '30 days' "
                                 "WHERE id = ANY($1::text[])", ids)

    async def stalls_opened() -> bool | int:
        rows = await cluster.sql("matters", "SELECT count(*) AS n FROM stalls WHERE application_id = ANY($1::text[])", ids)
        return rows[0]["n"] >= STALLED or rows[0]["n"]

    await wait_until(stalls_opened, within=30, what="a stall for each idle application")
    await ticked(cluster, "matters", "matters.stall-detection", ticks=3)  # several more ticks, by either replica
    stalls = await cluster.sql("matters", "SELECT application_id, count(*) AS n FROM stalls "
                                          "WHERE application_id = ANY($1::text[]) GROUP BY 1", ids)
    assert len(stalls) == STALLED and {r["n"] for r in stalls} == {1}
    events = await cluster.sql("matters", "SELECT envelope->'data'->>'application_id' AS a, count(*) AS n FROM outbox "
                                          "WHERE subject = 'lvrong.matters.stall.opened' "
                                          "AND envelope->'data'->>'application_id' = ANY($1::text[]) GROUP BY 1", ids)
    assert len(events) == STALLED and {r["n"] for r in events} == {1}


async def test_one_tick_of_a_job_runs_in_one_replica_at_a_time(cluster: Cluster) -> None:
    """Two replicas (two connection pools) starting the same tick at once: one runs it, one skips."""
    from sqlalchemy.engine import make_url

    url = make_url(cluster.env["DATABASE_URL"]).set(drivername="postgresql+asyncpg", database=f"{PREFIX}_matters")
    replicas = [Database(url.render_as_string(hide_password=False), pool_size=2) for _ in range(2)]
    ran: list[int] = []

    async def job(_session: Any) -> int:
        ran.append(1)
        await asyncio.sleep(0.5)  # long enough that the other replica's attempt overlaps it
        return 1

    try:
        results = await asyncio.gather(*(run_tick(db, "scale-test-job", job) for db in replicas))
        assert sorted(results, key=lambda r: r is None) == [1, None] and len(ran) == 1
        # Once the tick is over the lock is free again: the next tick runs.
        assert await run_tick(replicas[1], "scale-test-job", job) == 1
    finally:
        for db in replicas:
            await db.dispose()


async def _busy_consumers(cluster: Cluster) -> list[str]:
    """The durable consumers of the services' streams with messages pending or unacknowledged."""
    import nats

    assert cluster.nats is not None
    nc = await nats.connect(**cluster.nats.client().connect_options())
    try:
        js = nc.jetstream()
        return [c.name for stream in ("LVRONG_MATTERS", "LVRONG_PREQUAL") for c in await js.consumers_info(stream)
                if c.num_pending or c.num_ack_pending]
    finally:
        await nc.close()


async def _stream_info(cluster: Cluster, stream: str) -> Any:
    import nats

    assert cluster.nats is not None
    nc = await nats.connect(**cluster.nats.client().connect_options())
    try:
        return await nc.jetstream().stream_info(stream)
    finally:
        await nc.close()
