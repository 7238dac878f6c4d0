"""Time from submission to pre-review verdict, through the gateway, over 200 applications.

Starts the whole suite on free ports (against DATABASE_URL / NATS_URL, or local servers started
like `make run` does), then:

1. sequential: one application at a time, so each latency is the pipeline's own
   (gateway → svc-matters → outbox relay → NATS → svc-prequal → outbox → NATS → svc-matters);
2. concurrent: the same number submitted by 16 clients at once, for the latency under load and
   the throughput;
3. baseline: the same POST sent straight to svc-matters, to show what the gateway hop adds.

The verdict time is when the status-changed event of the verdict is seen on the bus by this
script (a core NATS subscription), measured from just before the POST was sent.
Usage: python tests/bench/bench_prereview.py [--applications 200] [--concurrency 16]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from support import all_materials, connect_nats, fresh_suite, nats_admin, percentile, valid_form  # noqa: E402

PREFIX = "lvrong_bench"
MATTER = "LR-XK-008"



def summary(name: str, ms: list[float]) -> str:
    return (f"{name:<44} n={len(ms):<4} median {statistics.median(ms):7.1f} ms   p90 {percentile(ms, 90):7.1f} ms   "
            f"p99 {percentile(ms, 99):7.1f} ms   max {max(ms):7.1f} ms")


class VerdictWatcher:
    """Records when each application's pre-review verdict is announced on the bus."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}
        self.waiters: dict[str, asyncio.Event] = {}

    async def on_message(self, msg) -> None:
        event = json.loads(msg.data)
        data = event["data"]
        if data["to_status"] in ("prereviewed", "returned"):
            app_id = data["application_id"]
            self.seen[app_id] = time.perf_counter()
            self.waiters.setdefault(app_id, asyncio.Event()).set()

    async def wait(self, app_id: str) -> float:
        await asyncio.wait_for(self.waiters.setdefault(app_id, asyncio.Event()).wait(), 60)
        return self.seen[app_id]


async def submit(client: httpx.AsyncClient, base: str, token: str, matter: dict, seed: int) -> tuple[str, float]:
    payload = {"matter_code": matter["code"], "form": valid_form(matter, seed), "materials": matter["uploaded"]}
    started = time.perf_counter()
    r = await client.post(base + "/v1/applications", json=payload, headers={"Authorization": f"Bearer {token}"})
    if r.status_code != 201:
        raise RuntimeError(f"submission failed: HTTP {r.status_code} {r.text[:200]}")
    return r.json()["id"], started


async def run(args: argparse.Namespace, env: dict[str, str], ports: dict[str, int]) -> None:
    gateway = f"http://127.0.0.1:{ports['gateway']}"
    direct = f"http://127.0.0.1:{ports['matters']}"
    watcher = VerdictWatcher()
    nc = await connect_nats(nats_admin(env))
    await nc.subscribe("lvrong.matters.application.status_changed.>", cb=watcher.on_message)  # the status in the subject
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        token = (await client.post(gateway + "/auth/token", data={
            "grant_type": "password", "username": "applicant-person", "password": "demo"})).json()["access_token"]
        matter = (await client.get(f"{gateway}/v1/matters/{MATTER}", headers={"Authorization": f"Bearer {token}"})).json()
        client.base_url = gateway
        matter["uploaded"] = await all_materials(client, token, matter)  # uploaded once, reused by every application
        client.base_url = ""
        for i in range(10):  # warm up connections, caches and consumers
            app_id, _ = await submit(client, gateway, token, matter, 10_000 + i)
            await watcher.wait(app_id)

        sequential: list[float] = []
        post_gateway: list[float] = []
        post_direct: list[float] = []
        for i in range(args.applications):
            app_id, started = await submit(client, gateway, token, matter, i)
            post_gateway.append((time.perf_counter() - started) * 1000)
            sequential.append((await watcher.wait(app_id) - started) * 1000)
            # The baseline, interleaved so both see the same state of the machine.
            app_id, started = await submit(client, direct, token, matter, 30_000 + i)
            post_direct.append((time.perf_counter() - started) * 1000)
            await watcher.wait(app_id)

        semaphore = asyncio.Semaphore(args.concurrency)
        concurrent: list[float] = []

        async def one(seed: int) -> None:
            async with semaphore:
                app_id, started = await submit(client, gateway, token, matter, seed)
            concurrent.append((await watcher.wait(app_id) - started) * 1000)

        t0 = time.perf_counter()
        await asyncio.gather(*(one(20_000 + i) for i in range(args.applications)))
        wall = time.perf_counter() - t0
    await nc.close()
    sustained, sustained_latency = await sustained_rate(f"{gateway}/v1/applications", "POST", token, matter, args)
    bare, bare_latency = await sustained_rate(f"{direct}/healthz", "GET", None, None, args)

    print(f"\nmachine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"matter {MATTER}, {args.applications} applications per series\n")
    print(summary("submission → verdict, one at a time", sequential))
    print(summary(f"submission → verdict, {args.concurrency} concurrent", concurrent))
    print(f"{'':<44} throughput {args.applications / wall:7.1f} applications/s (submitted and pre-reviewed)")
    print(summary("POST /v1/applications through the gateway", post_gateway))
    print(summary("POST /v1/applications direct to svc-matters", post_direct))
    print(f"{'':<44} gateway/direct median ratio {statistics.median(post_gateway) / statistics.median(post_direct):.2f}")
    print(summary(f"sustained POST, {args.connections} connections, {args.seconds:.0f} s", sustained_latency))
    print(f"{'':<44} {sustained:7.1f} submissions/s through the gateway")
    print(summary("bare GET /healthz of svc-matters (baseline)", bare_latency))
    print(f"{'':<44} {bare:7.1f} requests/s; submissions at {sustained / bare:.2f} of the bare endpoint's rate")


async def sustained_rate(url: str, method: str, token: str | None, matter: dict | None,
                         args: argparse.Namespace) -> tuple[float, list[float]]:
    """Requests per second over ``args.seconds`` with ``args.connections`` keep-alive connections.

    aiohttp rather than httpx: the load generator shares the two cores with the suite, and a leaner
    client leaves more of them to the services being measured.
    """
    import aiohttp

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {"matter_code": matter["code"], "form": valid_form(matter, 1), "materials": matter["uploaded"]} if matter else None
    latencies: list[float] = []
    deadline = time.perf_counter() + args.seconds
    connector = aiohttp.TCPConnector(limit=args.connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def worker() -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                async with session.request(method, url, json=body, headers=headers) as r:
                    await r.read()
                    if r.status >= 300:
                        raise RuntimeError(f"{method} {url}: HTTP {r.status}")
                latencies.append((time.perf_counter() - started) * 1000)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(args.connections)))
        elapsed = time.perf_counter() - t0
    return len(latencies) / elapsed, latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--applications", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--connections", type=int, default=16, help="for the sustained-rate series")
    parser.add_argument("--seconds", type=float, default=10.0, help="for the sustained-rate series")
    args = parser.parse_args()
    with fresh_suite(PREFIX, ROOT / "var" / "bench", "lvrong-bench-") as (env, ports):
        asyncio.run(run(args, env, ports))
    return 0


if __name__ == "__main__":
    sys.exit(main())
