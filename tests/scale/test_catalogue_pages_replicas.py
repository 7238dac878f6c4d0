"""Two replicas of svc-matters, each answering the catalogue from its own cached pages
(kit.page_cache): a change made through one replica — or by hand in the database — reaches both
within about a second, because every replica follows the catalogue's generation, which a
trigger on ``matter_versions`` moves with every change.

Both processes listen on one port and the kernel gives each new connection to one of them, so each
check asks over many fresh connections at once, and the replicas' own metrics say that both answered.
"""
from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import httpx
import pytest
from scale.cluster import Cluster

from support import bearer, eventually, public_service_item, until

PREFIX = os.environ.get("LVRONG_TEST_DATABASE_PREFIX", "lvrong_itest") + "_pages"
CODE = "LR-GG-941"
ASKS = 24  # fresh connections per check: both replicas answer some of them

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(servers) -> Iterator[Cluster]:
    with Cluster(PREFIX, database_url=servers.database_url, services=("matters",),
                 replicas={"matters": 2}).running() as running:
        yield running


async def answers(cluster: Cluster, tok: str, headers: dict[str, str] | None = None) -> list[httpx.Response]:
    """The guide of CODE asked straight from svc-matters over ASKS new connections at once."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{cluster.ports['matters']}", timeout=30,
                                 limits=httpx.Limits(max_keepalive_connections=0)) as client:
        return list(await asyncio.gather(*(client.get(f"/v1/matters/{CODE}", headers=bearer(tok) | (headers or {}))
                                           for _ in range(ASKS))))


async def pages(cluster: Cluster, source: str) -> list[float]:
    """Per replica (in increasing order), how many catalogue pages it has answered from ``source`` so far:
    ``memory`` (its kept page), ``built`` (from the database: a 404 is looked up there every time)."""
    replicas = await cluster.replica_metrics("matters", "lvrong_page_cache_pages_total", replicas=2)
    counts = sorted(samples.get((("cache", "catalogue"), ("source", source)), 0.0) for samples in replicas.values())
    # Processes are told apart by their start time and these counts: two started in the same clock tick
    # with the same counts are one answer, and then both hold that count.
    return counts * 2 if len(counts) == 1 else counts


async def both_replicas_answer(cluster: Cluster, tok: str, etag: str, status: int) -> None:
    """Ask holding ``etag`` until each replica has answered some of the asks, every answer ``status``."""
    source = "memory" if status == 304 else "built"
    start = await pages(cluster, source)

    async def both() -> bool:
        rs = await answers(cluster, tok, {"If-None-Match": etag})
        statuses = {a.status_code for a in rs}
        # Never a stale page: holding a current ETag, no replica may answer otherwise than 304 — except a
        # 200 with a new ETag, which only costs the client a download and has been seen once under CI
        # load (not understood yet: the closing note of issue 18 says so); then ask again until both agree.
        assert statuses <= {status, 200}, f"answers to a client holding {etag}: {statuses}"
        if statuses != {status}:
            assert all(a.headers.get("etag") != etag for a in rs if a.status_code == 200)
            return False
        now = await pages(cluster, source)
        # Sorted on both sides: each count grew exactly when the smaller and the larger both grew.
        return len(now) == 2 and all(b > a for a, b in zip(start, now, strict=True))

    await until(both, f"both replicas answering {status} to a client holding {etag}", within=30)


async def test_a_change_gives_a_new_etag_on_both_replicas(cluster: Cluster) -> None:
    async with httpx.AsyncClient(base_url=cluster.gateway, timeout=30) as gateway:
        ops, reader = await cluster.token(gateway, "ops"), await cluster.token(gateway, "applicant-person")
        r = await gateway.post("/v1/matters/import", json=[public_service_item(CODE)], headers=bearer(ops))
        assert r.status_code == 200 and r.json()["summary"]["created"] == 1, r.text

        first = await eventually(lambda: answers(cluster, reader),
                                 lambda rs: len({(a.status_code, a.headers.get("etag")) for a in rs}) == 1,
                                 "one answer for version 1 from every replica", seconds=10)
        v1 = first[0].headers["etag"]
        assert first[0].json()["version"] == 1
        await both_replicas_answer(cluster, reader, v1, 304)

        # A new version published through the gateway, which hands it to one of the two.
        r = await gateway.post("/v1/matters/import", json=[public_service_item(CODE, promised_days=2)],
                               headers=bearer(ops))
        assert r.json()["results"][0]["outcome"] == "new_version", r.text

    def all_new(rs: list[httpx.Response]) -> bool:
        return all(a.status_code == 200 and a.json()["version"] == 2 and a.headers["etag"] != v1 for a in rs)

    second = await eventually(lambda: answers(cluster, reader, {"If-None-Match": v1}), all_new,
                              "version 2 with a new ETag from every replica", seconds=5)
    v2 = second[0].headers["etag"]
    assert {a.headers["etag"] for a in second} == {v2}
    await both_replicas_answer(cluster, reader, v2, 304)

    # An operator withdrawing the matter by hand in the database, not through the service: the trigger
    # moves the generation all the same, and no replica answers the held page any more.
    await cluster.sql("matters", "UPDATE matter_versions SET is_current = false WHERE code = $1", CODE)
    await eventually(lambda: answers(cluster, reader, {"If-None-Match": v2}),
                     lambda rs: {a.status_code for a in rs} == {404}, "the withdrawal from every replica", seconds=5)
    await both_replicas_answer(cluster, reader, v2, 404)
