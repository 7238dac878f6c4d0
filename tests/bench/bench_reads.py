"""The hot reads of svc-matters, direct and through the gateway, measured side by side in one run.

One svc-matters process and the gateway on a PostgreSQL and NATS of their own
(``tests/scale/cluster.py``), an applicant with a few applications of their own. ``wrk -t1 -c32``
loads each read for ``--seconds`` with the applicant's token, first straight to svc-matters, then
through the gateway:

- the catalogue's first page (``GET /v1/matters``) and a matter's guide (``GET /v1/matters/{code}``),
  each as a first visit (200 with the body) and as a revisit with the ETag the client holds
  (``If-None-Match``: 304, no body) — the target of issue 18 is ≥ 2,000/s direct;
- reported only: the applicant's own application list, one application and its timeline.

Prints requests/s, p50/p99, the gateway's share of direct throughput and the CPU time svc-matters
(and the gateway) spent per request — read from their ``process_cpu_seconds_total`` around each run,
so it holds on a shared machine where requests/s do not — with the load average before and after.
Needs ``wrk``.
Usage: python tests/bench/bench_reads.py [--seconds 10] [--connections 32] [--applications 5]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import shutil
import sys
import tempfile
import urllib.request
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).parent))

from bench_gateway import wrk  # noqa: E402
from scale.cluster import Cluster  # noqa: E402

from support import all_materials, bearer, matter, valid_form  # noqa: E402

MATTER = "LR-XK-008"


async def prepare(cluster: Cluster, applications: int) -> tuple[str, dict[str, str], dict[str, str]]:
    """The applicant's token, the paths to load (name → path) and the ETag of each cacheable one."""
    async with httpx.AsyncClient(base_url=cluster.gateway, timeout=30) as client:
        token = await cluster.token(client, "applicant-person")
        detail = await matter(client, token, MATTER)
        uploaded = await all_materials(client, token, detail)
        ids = []
        for seed in range(applications):
            r = await client.post("/v1/applications", headers=bearer(token),
                                  json={"matter_code": MATTER, "form": valid_form(detail, seed=seed), "materials": uploaded})
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        paths = {"catalogue": "/v1/matters", "guide": f"/v1/matters/{MATTER}",
                 "own applications": "/v1/applications", "one application": f"/v1/applications/{ids[0]}",
                 "its timeline": f"/v1/applications/{ids[0]}/timeline"}
        etags = {}
        for name in ("catalogue", "guide"):
            r = await client.get(paths[name], headers=bearer(token))
            assert r.status_code == 200, r.text
            if "etag" in r.headers:
                etags[name] = r.headers["etag"]
        return token, paths, etags


def cpu_seconds(base: str) -> float:
    """The process's CPU time so far, from its Prometheus metrics."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as r:  # loopback only
        return float(re.search(r"^process_cpu_seconds_total ([\d.e+]+)$", r.read().decode(), re.M).group(1))


def measured(url: str, seconds: int, connections: int, token: str, headers: dict[str, str],
             processes: dict[str, str]) -> dict[str, float]:
    """wrk's figures, and the CPU milliseconds per request of each of ``processes`` (name → base URL)."""
    before = {name: cpu_seconds(base) for name, base in processes.items()}
    result = wrk(url, seconds, connections, token, headers)
    for name, base in processes.items():
        result[f"{name}_cpu_ms"] = (cpu_seconds(base) - before[name]) * 1000 / max(result["requests"], 1)
    return result


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--applications", type=int, default=5)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    cluster = Cluster("lvrong_bench_reads", database_url=None, services=("matters",), replicas={"matters": 1},
                      var=Path(tempfile.mkdtemp(prefix="lvrong-bench-reads-")))
    cluster.start()
    rows: list[tuple[str, dict[str, float], dict[str, float]]] = []
    loads = [load_average()]
    try:
        token, paths, etags = asyncio.run(prepare(cluster, args.applications))
        direct = f"http://127.0.0.1:{cluster.ports['matters']}"
        runs: list[tuple[str, str, str | None]] = []
        for name, path in paths.items():
            runs.append((name, path, None))
            if name in etags:
                runs.append((f"{name}, revisit (304)", path, etags[name]))
        for name, path, etag in runs:
            headers = {"If-None-Match": etag} if etag else {}
            wrk(direct + path, 1, args.connections, token, headers)  # warm-up: connections, caches, token check
            results = [measured(direct + path, args.seconds, args.connections, token, headers, {"matters": direct}),
                       measured(cluster.gateway + path, args.seconds, args.connections, token, headers,
                                {"matters": direct, "gateway": cluster.gateway})]
            for result in results:
                if result["non2xx"] or result["socket_errors"]:
                    print(f"  {name}: {result['non2xx']} non-2xx/3xx responses, socket errors {result['socket_errors']!r}")
            print(f"  {name:<28} direct {results[0]['rps']:7.0f}/s ({results[0]['matters_cpu_ms']:.2f} ms CPU)   "
                  f"gateway {results[1]['rps']:7.0f}/s", flush=True)
            rows.append((name, results[0], results[1]))
    finally:
        cluster.stop()
    loads.append(load_average())
    print(f"\nreads of svc-matters (1 process) with an applicant's token: wrk -t1 -c{args.connections} "
          f"-d{args.seconds}s; {platform.node()} {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"load average before {loads[0]}, after {loads[1]}")
    print("CPU: milliseconds of CPU per request of svc-matters (direct), and of svc-matters + the gateway "
          "(through the gateway); 1,000 / CPU ms is what one core could answer.")
    print(f"{'read':<28}{'direct/s':>10}{'p50':>9}{'p99':>9}{'CPU':>9}{'gateway/s':>11}{'p50':>9}{'p99':>9}"
          f"{'CPU':>14}{'gw/direct':>11}")
    for name, d, g in rows:
        print(f"{name:<28}{d['rps']:>10.0f}{d['p50']:>7.2f}ms{d['p99']:>7.2f}ms{d['matters_cpu_ms']:>7.2f}ms"
              f"{g['rps']:>11.0f}{g['p50']:>7.2f}ms{g['p99']:>7.2f}ms"
              f"{g['matters_cpu_ms']:>6.2f}+{g['gateway_cpu_ms']:.2f}ms{g['rps'] / d['rps']:>10.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
