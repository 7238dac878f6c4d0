"""Bookings per second (issue 20): ``POST /v1/booking/bookings`` with the capacity check, through the gateway
and straight to svc-booking in the same run, and the rush for the last places.

Starts the whole suite on free ports (against DATABASE_URL / NATS_URL, or local servers started like
`make run` does), adds venues, then for each series sends ``--requests`` bookings of distinct persons with
``--concurrency`` in flight from an httpx client in this process (a Python load generator shares the
cores with the services: the figures are a floor, and the machine may be loaded by other work too):

1. direct to svc-booking, a slot with room for all (every booking takes a place: INSERT + conditional UPDATE + outbox);
2. the same through the gateway (token verification, scopes, rate limits, the hop);
3. the rush: ``--rush`` attempts at once through the gateway for 100 places; checks exactly 100 were booked.

Usage: python tests/bench/bench_booking.py [--requests 1000] [--concurrency 32] [--rush 2000]
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from booking_support import person, venue  # noqa: E402
from kit.calendar import SHANGHAI  # noqa: E402
from support import bearer, fresh_suite, percentile  # noqa: E402

PREFIX = "lvrong_benchbk"


async def token(client: httpx.AsyncClient, username: str) -> str:
    r = await client.post("/auth/token", data={"grant_type": "password", "username": username, "password": "demo"})
    r.raise_for_status()
    return str(r.json()["access_token"])


async def series(base: str, tok: str, venue_id: str, first: int, count: int, concurrency: int) -> dict[str, float]:
    day = (dt.datetime.now(SHANGHAI).date() + dt.timedelta(days=1)).isoformat()
    latencies: list[float] = []
    codes: dict[int, int] = {}
    queue = iter(range(first, first + count))

    async with httpx.AsyncClient(base_url=base, timeout=120, limits=httpx.Limits(max_connections=concurrency)) as client:
        async def worker() -> None:
            for n in queue:
                started = time.perf_counter()
                r = await client.post("/v1/booking/bookings", headers=bearer(tok), json={
                    "venue_id": venue_id, "day": day, "slot_start": "09:00", "person": person(n)})
                latencies.append(time.perf_counter() - started)
                codes[r.status_code] = codes.get(r.status_code, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"rps": count / elapsed, "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000, "codes": codes}  # type: ignore[dict-item]


async def rush(gateway: str, tok: str, attempts: int) -> tuple[float, dict[int, int]]:
    day = (dt.datetime.now(SHANGHAI).date() + dt.timedelta(days=1)).isoformat()
    in_flight = asyncio.Semaphore(100)  # httpx's pool is slow with many requests waiting for a connection
    async with httpx.AsyncClient(base_url=gateway, timeout=httpx.Timeout(300, pool=None),
                                 limits=httpx.Limits(max_connections=100)) as client:
        async def attempt(n: int) -> httpx.Response:
            async with in_flight:
                return await client.post("/v1/booking/bookings", headers=bearer(tok), json={
                    "venue_id": "bench-rush", "day": day, "slot_start": "09:00", "person": person(5_000_000 + n)})

        started = time.perf_counter()
        responses = await asyncio.gather(*(attempt(n) for n in range(attempts)))
        elapsed = time.perf_counter() - started
    codes: dict[int, int] = {}
    for r in responses:
        codes[r.status_code] = codes.get(r.status_code, 0) + 1
    return elapsed, codes


async def run(env: dict[str, str], ports: dict[str, int], args: argparse.Namespace) -> None:
    gateway, direct = f"http://127.0.0.1:{ports['gateway']}", f"http://127.0.0.1:{ports['booking']}"
    async with httpx.AsyncClient(base_url=gateway, timeout=30) as client:
        ops, family = await token(client, "ops"), await token(client, "applicant-person")
        for venue_id, capacity in (("bench-direct", 100_000), ("bench-gateway", 100_000), ("bench-rush", 100)):
            (await client.post("/v1/booking/venues", json=venue(venue_id, capacity), headers=bearer(ops))).raise_for_status()
    await series(direct, family, "bench-direct", 9_000_000, 100, args.concurrency)  # warm-up
    results = {
        "direct to svc-booking": await series(direct, family, "bench-direct", 0, args.requests, args.concurrency),
        "through the gateway": await series(gateway, family, "bench-gateway", 1_000_000, args.requests, args.concurrency),
    }
    print(f"machine: {platform.node()} {os.cpu_count()} cores, load average before {args.load_before}")
    for name, r in results.items():
        print(f"{name}: {r['rps']:.0f} bookings/s, p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms, answers {r['codes']}")
    print(f"gateway / direct: {results['through the gateway']['rps'] / results['direct to svc-booking']['rps']:.2f}")
    elapsed, codes = await rush(gateway, family, args.rush)
    url = env["DATABASE_URL"].rsplit("/", 1)[0] + f"/{args.prefix}_booking"
    conn = await asyncpg.connect(url)
    try:
        stored = await conn.fetchval("SELECT count(*) FROM bookings WHERE venue_id = 'bench-rush'")
    finally:
        await conn.close()
    print(f"rush: {args.rush} attempts at once for 100 places in {elapsed:.1f} s ({args.rush / elapsed:.0f} answers/s): "
          f"answers {codes}, bookings stored {stored}")
    if stored != 100 or codes.get(201) != 100:
        raise SystemExit("the capacity was not kept")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rush", type=int, default=2000)
    parser.add_argument("--prefix", default=PREFIX)
    args = parser.parse_args()
    args.load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    with fresh_suite(args.prefix, ROOT / "var" / "bench", "lvrong-benchbk-") as (env, ports):
        asyncio.run(run(env, ports, args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
