"""Two replicas of svc-matters, each answering the catalogue from its own cached pages
(kit.page_cache): a change made through one replica — or by hand in the database — gives a new ETag
on both within about a second, because every replica follows the catalogue's generation, which a
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


async def pages_from_memory(cluster: Cluster) -> list[float]:
    """Per replica (in increasing order), how many catalogue pages it answered from memory so far."""
    replicas = await cluster.replica_metrics("matters", "lvrong_page_cache_pages_total", replicas=2)
    return sorted(samples.get((("cache", "catalogue"), ("source", "memory")), 0.0) for samples in replicas.values())


async def both_replicas_answer(cluster: Cluster, tok: str, etag: str) -> None:
    """Ask with ``etag`` held until each replica has answered some of the asks from memory; every
    answer must be a 304: so both replicas hold the page named ``etag``."""
    start = await pages_from_memory(cluster)
    assert len(start) == 2, f"two replicas answer: {start}"

    async def both() -> bool:
        statuses = {a.status_code for a in await answers(cluster, tok, {"If-None-Match": etag})}
        assert statuses == {304}, f"answers to a client holding {etag}: {statuses}"
        now = await pages_from_memory(cluster)
        # Sorted on both sides: each count grew exactly when the smaller and the larger both grew.
        return len(now) == 2 and all(b > a for a, b in zip(start, now, strict=True))

    await until(both, f"both replicas answering from their page {etag}", within=30)


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
        await both_replicas_answer(cluster, reader, v1)

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
    await both_replicas_answer(cluster, reader, v2)

    # An operator's fix made in the database, not through the service: the trigger moves the generation.
    await cluster.sql("matters", "UPDATE matter_versions SET name_en = name_en || ' (revised)' "
                                 "WHERE code = $1 AND is_current", CODE)
    third = await eventually(lambda: answers(cluster, reader, {"If-None-Match": v2}),
                             lambda rs: all(a.status_code == 200 and a.json()["name_en"].endswith("(revised)")
                                            for a in rs),
                             "the fix from every replica", seconds=5)
    v3 = third[0].headers["etag"]
    assert {a.headers["etag"] for a in third} == {v3} and v3 not in (v1, v2)
    await both_replicas_answer(cluster, reader, v3)
