"""The gateway, svc-matters and svc-prequal on a PostgreSQL and a NATS of the test's own, which the
tests stop and start again while applications are being submitted:

- NATS stopped during a burst: every submission still succeeds (the events wait in the outbox);
  once NATS is back every event is delivered — each application gets its verdict, exactly one, and
  each timeline step once;
- PostgreSQL stopped: requests fail cleanly with 503 problem+json (never a 500 or a traceback);
  after it restarts the same service processes serve again, without being restarted.
"""
from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from scale.cluster import Cluster, submit_many, wait_until

from support import all_materials, bearer, matter, settled, valid_form

PREFIX = os.environ.get("LVRONG_TEST_DATABASE_PREFIX", "lvrong_itest") + "_faultsuite"
MATTER = "LR-XK-008"

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with Cluster(PREFIX, database_url=None).running() as running:  # its own PostgreSQL as well as its own NATS
        yield running


@pytest.fixture(scope="module")
async def applicant(cluster: Cluster) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=cluster.gateway, timeout=30) as client:
        token = await cluster.token(client, "applicant-person")
        detail = await matter(client, token, MATTER)
        uploaded = await all_materials(client, token, detail)
    return {"token": token, "detail": detail, "uploaded": uploaded}


async def _steps_and_verdicts(cluster: Cluster, ids: list[str]) -> tuple[list[Any], list[Any]]:
    steps = await cluster.sql("matters", "SELECT application_id, status, action, count(*) AS n FROM application_steps "
                                         "WHERE application_id = ANY($1::text[]) GROUP BY 1, 2, 3", ids)
    verdicts = await cluster.sql("prequal", "SELECT application_id, count(*) AS n FROM verdicts "
                                            "WHERE application_id = ANY($1::text[]) GROUP BY 1", ids)
    return steps, verdicts


async def test_nats_stopped_during_a_burst_loses_nothing_and_applies_nothing_twice(
        cluster: Cluster, applicant: dict[str, Any]) -> None:
    assert cluster.nats is not None
    detail, uploaded = applicant["detail"], applicant["uploaded"]
    count = 300

    def body(i: int) -> dict[str, Any]:
        return {"matter_code": MATTER, "form": valid_form(detail, seed=10_000 + i), "materials": uploaded}

    before = (await cluster.sql("matters", "SELECT count(*) AS n FROM applications"))[0]["n"]

    async def under_way() -> bool | int:
        rows = await cluster.sql("matters", "SELECT count(*) AS n FROM applications")
        return rows[0]["n"] - before >= 16 or rows[0]["n"] - before

    async with httpx.AsyncClient(base_url=cluster.gateway, timeout=30) as client:
        burst = asyncio.create_task(submit_many(client, applicant["token"], body, count, concurrency=16))
        await wait_until(under_way, within=60, what="the burst under way")
        await asyncio.to_thread(cluster.nats.stop)
        ids, statuses = await burst
        # A few more while NATS is still away.
        more, more_statuses = await submit_many(client, applicant["token"], lambda i: body(count + i), 20)
        waiting = await cluster.sql("matters", "SELECT count(*) AS n FROM outbox WHERE published_at IS NULL")
        # Still ready (so Kubernetes keeps routing requests to it), reporting the bus as away.
        ready = await client.get(f"http://127.0.0.1:{cluster.ports['matters']}/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "degraded"
        assert ready.json()["checks"]["bus"].startswith("unavailable")
        await asyncio.to_thread(cluster.nats.start)
    ids += more
    assert statuses + more_statuses == [201] * (count + 20) and len(set(ids)) == count + 20
    assert waiting[0]["n"] > 0  # events were indeed held back while the bus was away

    async def all_decided() -> bool | int:
        rows = await cluster.sql("matters", "SELECT count(*) AS n FROM applications WHERE id = ANY($1::text[]) "
                                            "AND status IN ('prereviewed', 'returned')", ids)
        return rows[0]["n"] == len(ids) or rows[0]["n"]

    await wait_until(all_decided, within=120, what="a verdict for every application after NATS returned")
    # Every submission and every verdict handled and acknowledged: a redelivery would have landed by now.
    await settled(cluster, "matters", ["prequal-submissions"], seconds=60)
    await settled(cluster, "prequal", ["matters-prequal-verdicts"], seconds=60)
    steps, verdicts = await _steps_and_verdicts(cluster, ids)
    assert len(verdicts) == len(ids) and {r["n"] for r in verdicts} == {1}
    assert {r["n"] for r in steps} == {1} and len(steps) == 2 * len(ids)
    for service in ("matters", "prequal"):
        unpublished = await cluster.sql(service, "SELECT count(*) AS n FROM outbox WHERE published_at IS NULL")
        assert unpublished[0]["n"] == 0


async def test_postgres_restarted_requests_fail_cleanly_with_503_and_the_services_recover(
        cluster: Cluster, applicant: dict[str, Any]) -> None:
    assert cluster.postgres is not None
    token, detail, uploaded = applicant["token"], applicant["detail"], applicant["uploaded"]
    pids = {name: proc.pid for name, proc in cluster.suite.processes.items()}  # type: ignore[union-attr]
    before = (await cluster.sql("matters", "SELECT count(*) AS n FROM applications"))[0]["n"]
    reviewed = (await cluster.sql("prequal", "SELECT application_id FROM verdicts LIMIT 1"))[0]["application_id"]
    await asyncio.to_thread(cluster.postgres.stop)
    try:
        async with httpx.AsyncClient(base_url=cluster.gateway, timeout=30) as client:
            answers = [
                await client.get("/v1/applications", headers=bearer(token)),
                await client.post("/v1/applications", headers=bearer(token), json={
                    "matter_code": MATTER, "form": valid_form(detail, seed=99_001), "materials": uploaded}),
                await client.get(f"/v1/prequal/reviews/{reviewed}", headers=bearer(token)),
            ]
            for r in answers:
                assert r.status_code == 503, (r.request.url, r.status_code, r.text)
                assert r.headers["content-type"].startswith("application/problem+json")
                body = r.json()
                assert body["status"] == 503 and body["title_zh"] and body["title_en"]
                assert "Traceback" not in r.text and "asyncpg" not in r.text
            ready = await client.get(f"http://127.0.0.1:{cluster.ports['matters']}/readyz")
            assert ready.status_code == 503 and ready.json()["checks"]["database"].startswith("unavailable")
    finally:
        await asyncio.to_thread(cluster.postgres.start)

    # The same processes serve again once PostgreSQL is back: no restart needed.
    async with httpx.AsyncClient(base_url=cluster.gateway, timeout=30) as client:
        async def serving() -> bool | int:
            r = await client.get("/v1/applications", headers=bearer(token))
            return r.status_code == 200 or r.status_code

        await wait_until(serving, within=30, what="svc-matters serving again")
        r = await client.post("/v1/applications", headers=bearer(token), json={
            "matter_code": MATTER, "form": valid_form(detail, seed=99_002), "materials": uploaded})
        assert r.status_code == 201, r.text
        app_id = r.json()["id"]

        async def decided() -> bool | str:
            got = await client.get(f"/v1/applications/{app_id}", headers=bearer(token))
            return got.json()["status"] in ("prereviewed", "returned") or got.json()["status"]

        await wait_until(decided, within=30, what="the verdict after PostgreSQL returned")
    assert {name: proc.pid for name, proc in cluster.suite.processes.items()} == pids  # type: ignore[union-attr]
    assert not cluster.suite.failed()  # type: ignore[union-attr]
    # The submission refused during the outage left nothing behind: only the later one was written.
    assert (await cluster.sql("matters", "SELECT count(*) AS n FROM applications"))[0]["n"] == before + 1


async def test_ops_see_and_discard_a_services_dead_letters_through_the_gateway(cluster: Cluster) -> None:
    """A message svc-prequal can never handle is dead-lettered at once; ops list and discard it
    through the gateway (``/v1/ops/prequal/deadletters``, scope ops:write, role ops_admin)."""
    import nats

    assert cluster.nats is not None
    nc = await nats.connect(**cluster.nats.client().connect_options())
    try:
        await nc.jetstream().publish("lvrong.matters.application.submitted", b"{not an event",
                                     headers={"Nats-Msg-Id": "faults-not-an-event"})
    finally:
        await nc.close()
    async with httpx.AsyncClient(base_url=cluster.gateway, timeout=30) as client:
        ops, applicant = await cluster.token(client, "ops"), await cluster.token(client, "applicant-person")

        async def listed() -> bool | int:
            r = await client.get("/v1/ops/prequal/deadletters", headers=bearer(ops))
            assert r.status_code == 200, r.text
            return len(r.json()["items"]) >= 1 or 0

        await wait_until(listed, within=20, what="the dead letter listed")
        items = (await client.get("/v1/ops/prequal/deadletters", headers=bearer(ops))).json()["items"]
        assert all(i["consumer"].startswith("prequal-") and i["replayable"] is False for i in items)
        # An applicant's token lacks the ops scope: refused at the door, nothing changes.
        r = await client.delete(f"/v1/ops/prequal/deadletters/{items[0]['sequence']}", headers=bearer(applicant))
        assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
        assert len((await client.get("/v1/ops/prequal/deadletters", headers=bearer(ops))).json()["items"]) == len(items)
        assert (await client.get("/v1/ops/matters/deadletters", headers=bearer(ops))).json()["items"] == []
        for item in items:
            r = await client.delete(f"/v1/ops/prequal/deadletters/{item['sequence']}", headers=bearer(ops))
            assert r.status_code == 200 and r.json()["action"] == "discarded"
        assert (await client.get("/v1/ops/prequal/deadletters", headers=bearer(ops))).json()["items"] == []
