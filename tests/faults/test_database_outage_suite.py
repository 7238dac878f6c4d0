"""The PostgreSQL of svc-prequal and svc-licences stopped for 90 s while 500 applications are
submitted and approved through the gateway, as applicants and staff would.

The gateway and svc-matters keep their databases on the shared server and keep serving; svc-prequal
and svc-licences have theirs on a PostgreSQL of the test's own, which it stops. Before the outage 250
applications are submitted and pre-reviewed; during it the other 250 are submitted (their pre-review
events reach svc-prequal, which cannot store a verdict) and the first 250 are accepted, reviewed and
approved (their approvals reach svc-licences, which cannot issue). After the restart the second 250
get their verdicts and are approved too. In the end every application has exactly one verdict and
exactly one licence, the dead-letter stream is empty, and every consumer's ack floor is at the end
of its stream. The figures (time to drain after the restart, events handled) are printed and
reported in tests/bench/RESULTS.md.
"""
from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import httpx
import nats
import pytest
from nats.js.errors import NotFoundError
from scale.cluster import Cluster, submit_many, wait_until

from kit.events.envelope import DEAD_LETTER_STREAM, stream_name
from support import all_materials, bearer, matter, throughout, valid_form

PREFIX = os.environ.get("LVRONG_TEST_DATABASE_PREFIX", "lvrong_itest") + "_outagesuite"
MATTER = "LR-XK-008"
COUNT = 500
OUTAGE_SECONDS = 90.0
STAFF_STEPS = (("officer", "accept"), ("reviewer", "review"), ("reviewer", "approve"))

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def cluster(servers: Any) -> Iterator[Cluster]:
    keys = tempfile.mkdtemp(prefix="lvrong-outage-licence-keys-")
    with Cluster(PREFIX, database_url=servers.database_url, services=("matters", "prequal", "licences"),
                 isolated=("prequal", "licences"), extra_env={"LICENCES_KEY_DIR": keys}).running() as running:
        yield running


async def _count(cluster: Cluster, service: str, query: str, *args: Any) -> int:
    return (await cluster.sql(service, query, *args))[0]["n"]


async def _with_status(cluster: Cluster, ids: list[str], statuses: list[str]) -> int:
    return await _count(cluster, "matters", "SELECT count(*) AS n FROM applications WHERE id = ANY($1::text[]) "
                                            "AND status = ANY($2::text[])", ids, statuses)


async def _approve_all(client: httpx.AsyncClient, tokens: dict[str, str], ids: list[str]) -> list[int]:
    """Accept, review and approve each application in turn, 16 applications at a time; the answers."""
    answers: list[int] = []
    queue = iter(ids)

    async def staff() -> None:
        for app_id in queue:
            for who, action in STAFF_STEPS:
                r = await client.post(f"/v1/applications/{app_id}/actions/{action}", json={"reason": "符合条件"},
                                      headers=bearer(tokens[who]))
                answers.append(r.status_code)
                if r.status_code != 200:
                    break

    await asyncio.gather(*(staff() for _ in range(16)))
    return answers


async def _metric(client: httpx.AsyncClient, url: str, name: str) -> float | None:
    for line in (await client.get(url)).text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


async def _metric_total(client: httpx.AsyncClient, url: str, name: str) -> float:
    """The sum of a metric over all its label sets (0 when it has none yet)."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in (await client.get(url)).text.splitlines()
               if line.startswith(name + " ") or line.startswith(name + "{"))


async def test_a_90_second_outage_of_prequal_and_licences_databases_loses_and_repeats_nothing(cluster: Cluster) -> None:
    assert cluster.isolated_postgres is not None
    async with httpx.AsyncClient(base_url=cluster.gateway, timeout=60) as client:
        tokens = {who: await cluster.token(client, who) for who in ("applicant-person", "officer", "reviewer")}
        applicant = tokens["applicant-person"]
        detail = await matter(client, applicant, MATTER)
        uploaded = await all_materials(client, applicant, detail)

        def body(i: int) -> dict[str, Any]:
            return {"matter_code": MATTER, "form": valid_form(detail, seed=50_000 + i), "materials": uploaded}

        first, statuses = await submit_many(client, applicant, body, COUNT // 2, concurrency=16)
        assert statuses == [201] * (COUNT // 2)

        async def first_prereviewed() -> bool | int:
            n = await _with_status(cluster, first, ["prereviewed"])
            return n == len(first) or n

        await wait_until(first_prereviewed, within=180, what="the first half pre-reviewed")

        # --- the outage: 90 s, with whatever of the traffic gets done in them -------------------------
        await asyncio.to_thread(cluster.isolated_postgres.stop)
        stopped = time.monotonic()

        async def outage_traffic() -> tuple[list[str], list[int], list[int]]:
            submitting = submit_many(client, applicant, lambda i: body(COUNT // 2 + i), COUNT - COUNT // 2,
                                     concurrency=8)
            (ids, submitted), approving = await asyncio.gather(submitting, _approve_all(client, tokens, first))
            return ids, submitted, approving

        traffic = asyncio.create_task(outage_traffic())
        for service in ("prequal", "licences"):  # each notices when the first event it cannot store arrives
            base = f"http://127.0.0.1:{cluster.ports[service]}"

            async def paused(base: str = base) -> bool | float | None:
                return await _metric(client, f"{base}/metrics", "lvrong_database_away") == 1.0 or None

            await wait_until(paused, within=OUTAGE_SECONDS / 2, what=f"svc-{service}'s consumers paused")
            ready = await client.get(f"{base}/readyz")
            assert ready.status_code == 503 and ready.json()["checks"]["database"].startswith("unavailable")

        async def paused_and_nothing_dead_lettered() -> bool | str:
            for service in ("prequal", "licences"):
                metrics = f"http://127.0.0.1:{cluster.ports[service]}/metrics"
                if await _metric(client, metrics, "lvrong_database_away") != 1.0:
                    return f"svc-{service} no longer paused"
                if await _metric_total(client, metrics, "lvrong_events_dead_lettered_total") != 0:
                    return f"svc-{service} dead-lettered an event"
            return True

        # The rest of the 90 s, watched: both services stay paused and nothing reaches the dead letters.
        await throughout(OUTAGE_SECONDS - (time.monotonic() - stopped), paused_and_nothing_dead_lettered,
                         "the outage's holding")
        held = {status: await _count(cluster, "matters", "SELECT count(*) AS n FROM applications WHERE status = $1",
                                     status) for status in ("submitted", "approved")}
        await asyncio.to_thread(cluster.isolated_postgres.start)
        restarted = time.monotonic()
        second, statuses, answers = await traffic  # what was not done during the outage is done now
        assert statuses == [201] * len(second)  # svc-matters' database stayed up: every submission accepted
        assert answers == [200] * (3 * len(first))  # staff work on: the approvals wait for svc-licences
        # Traffic was in flight: verdicts and licences were owed when the database came back.
        assert held["submitted"] > 0 and held["approved"] > 0, held

        # --- after the restart ----------------------------------------------------------------------
        async def drained() -> bool | str:
            verdicts = await _with_status(cluster, second, ["prereviewed"])
            issued = await _with_status(cluster, first, ["licence_issued"])
            return (verdicts == len(second) and issued == len(first)) or f"verdicts {verdicts}, licences {issued}"

        await wait_until(drained, within=300, what="the held events applied after the restart")
        drain_seconds = time.monotonic() - restarted
        assert await _approve_all(client, tokens, second) == [200] * (3 * len(second))

        async def all_issued() -> bool | int:
            n = await _with_status(cluster, first + second, ["licence_issued"])
            return n == COUNT or n

        await wait_until(all_issued, within=300, what="a licence for every application")

    ids = first + second
    assert len(set(ids)) == COUNT
    verdicts = await cluster.sql("prequal", "SELECT application_id, count(*) AS n FROM verdicts "
                                            "WHERE application_id = ANY($1::text[]) GROUP BY 1", ids)
    assert len(verdicts) == COUNT and {r["n"] for r in verdicts} == {1}
    licences = await cluster.sql("licences", "SELECT application_id, count(*) AS n FROM licences "
                                             "WHERE application_id = ANY($1::text[]) GROUP BY 1", ids)
    assert len(licences) == COUNT and {r["n"] for r in licences} == {1}
    handled = await _bus_settled(cluster)
    print(f"\noutage {OUTAGE_SECONDS:.0f} s; at the restart {held['submitted']} applications awaited their verdict and "
          f"{held['approved']} their licence; drained {drain_seconds:.1f} s after the restart; {handled} events in the "
          f"streams, every consumer at its stream's end, no dead letter")


async def _bus_settled(cluster: Cluster) -> int:
    """Waits until every durable consumer has acknowledged its stream to the end; checks that the
    dead-letter stream is empty; returns the number of events the services' streams hold."""
    assert cluster.nats is not None
    nc = await nats.connect(**cluster.nats.client().connect_options())
    try:
        js = nc.jetstream()
        streams = [stream_name(s) for s in ("matters", "prequal", "licences")]

        async def at_the_end() -> bool | list[str]:
            behind = []
            for stream in streams:
                last = (await js.stream_info(stream)).state.last_seq
                for info in await js.consumers_info(stream):
                    if info.num_pending or info.num_ack_pending:
                        behind.append(f"{info.name}: floor {info.ack_floor.stream_seq}/{last}, "
                                      f"pending {info.num_pending}, unacknowledged {info.num_ack_pending}")
            return not behind or behind

        await wait_until(at_the_end, within=120, what="every consumer's ack floor at its stream's end")
        try:
            dead = (await js.stream_info(DEAD_LETTER_STREAM)).state.messages
        except NotFoundError:
            dead = 0
        assert dead == 0
        return sum([(await js.stream_info(s)).state.messages for s in streams])
    finally:
        await nc.close()
