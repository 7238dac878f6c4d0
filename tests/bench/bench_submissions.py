"""Sustained submissions (issue 3): `POST /v1/applications` through the gateway, against a bare endpoint
of the same service and the same POST straight to svc-matters, in the same run.

Starts the whole suite on free ports (against DATABASE_URL / NATS_URL, or local servers started like
`make run` does), uploads one application's materials, then loads each series with ``wrk -t1 -cN`` for
``--seconds`` (wrk, in C, leaves the two cores to the services rather than to a Python load generator).
Every request is a different application: a Lua script puts a sequence number into the address fields,
so the pre-review sees no two open applications for the same object.

Series, in this order:
1. bare ``GET /healthz`` of svc-matters: what the process can answer with no work at all;
2. ``POST /v1/applications`` straight to svc-matters;
3. ``POST /v1/applications`` through the gateway (token verification, scopes, rate limits, the hop).

The pre-review pipeline (svc-prequal's verdicts, svc-matters taking them in, svc-licences' read model)
runs as in production and shares the same two cores. ``--pipeline paused`` stops (SIGSTOP) the consumers'
processes (svc-prequal, svc-licences) for the submission series and lets them drain afterwards, to show the
submission path alone (in production they run on other nodes); ``--pipeline niced`` lets them run at a
lower CPU priority (nice 10), as a deployment gives the request path precedence over background work. After the series the script waits for every verdict and
reports how long the pipeline took to catch up.

Needs ``wrk`` (``apt-get install wrk``).
Usage: python tests/bench/bench_submissions.py [--seconds 15] [--connections 16] [--pipeline running|niced|paused]
       [--matters-workers 2]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "bench"))

from bench_gateway import parse_wrk  # noqa: E402
from bench_prequal import cpu_seconds  # noqa: E402

from support import all_materials, fresh_suite, valid_form  # noqa: E402

PREFIX = "lvrong_benchsub"
MATTER = "LR-XK-008"
SEQUENCE_MARK = "__SEQ__"

LUA = """
local f = io.open("{body}"); local template = f:read("*a"); f:close()
local counter = {start}
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
{auth}
request = function()
  counter = counter + 1
  return wrk.format(nil, nil, nil, (string.gsub(template, "{mark}", tostring(counter))))
end
"""


def wrk(url: str, args: argparse.Namespace, script: str | None, seconds: int) -> dict[str, float]:
    command = ["wrk", "-t1", f"-c{args.connections}", f"-d{seconds}s", "--latency", url]
    if script:
        command[1:1] = ["-s", script]
    return parse_wrk(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


def post_script(workdir: Path, body: dict, token: str | None, start: int) -> str:
    body_file = workdir / f"body-{start}.json"
    body_file.write_text(json.dumps(body, ensure_ascii=False))
    auth = f'wrk.headers["Authorization"] = "Bearer {token}"' if token else ""
    script = workdir / f"post-{start}.lua"
    script.write_text(LUA.format(body=body_file, start=start, auth=auth, mark=SEQUENCE_MARK))
    return str(script)


async def count_applications(env: dict[str, str]) -> tuple[int, int]:
    """(applications, of which still waiting for their verdict) in svc-matters' database."""
    url = env["DATABASE_URL"].rsplit("/", 1)[0] + f"/{env['DATABASE_NAME_PREFIX']}_matters"
    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow("SELECT count(*) AS n, count(*) FILTER (WHERE status = 'submitted') AS waiting "
                                  "FROM applications")
        return row["n"], row["waiting"]
    finally:
        await conn.close()


async def wait_drained(env: dict[str, str], within: float) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < within:
        _, waiting = await count_applications(env)
        if waiting == 0:
            return time.perf_counter() - started
        await asyncio.sleep(0.5)
    raise RuntimeError(f"the pipeline did not catch up within {within:.0f} s")


async def prepare(gateway: str) -> tuple[str, dict]:
    async with httpx.AsyncClient(base_url=gateway, timeout=30) as client:
        token = (await client.post("/auth/token", data={
            "grant_type": "password", "username": "applicant-person", "password": "demo"})).json()["access_token"]
        matter = (await client.get(f"/v1/matters/{MATTER}", headers={"Authorization": f"Bearer {token}"})).json()
        uploaded = await all_materials(client, token, matter)
    form = valid_form(matter, 1)
    for field in matter["fields"]:
        if field["type"] == "address":
            form[field["key"]] = f"上海市浦东新区压测路{SEQUENCE_MARK}号"
    return token, {"matter_code": MATTER, "form": form, "materials": uploaded}


def server_pids(pattern: str) -> list[int]:
    return [int(p) for p in subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()]


def consumers(suite_processes: dict) -> list[int]:
    return [proc.pid for name, proc in suite_processes.items() if name in ("prequal", "licences")]


def run(args: argparse.Namespace, env: dict[str, str], ports: dict[str, int], processes: dict) -> None:
    gateway = f"http://127.0.0.1:{ports['gateway']}"
    direct = f"http://127.0.0.1:{ports['matters']}"
    token, body = asyncio.run(prepare(gateway))
    workdir = Path(tempfile.mkdtemp(prefix="lvrong-benchsub-"))
    bearer_script = post_script(workdir, body, token, 0)
    wrk(f"{direct}/v1/applications", args, bearer_script, 3)  # warm-up: connections, caches, statements
    asyncio.run(wait_drained(env, 120))

    results: dict[str, dict[str, float]] = {}
    results["bare GET /healthz of svc-matters"] = wrk(f"{direct}/healthz", args, None, args.seconds)
    paused = consumers(processes) if args.pipeline == "paused" else []
    if args.pipeline == "niced":
        for pid in consumers(processes):
            os.setpriority(os.PRIO_PROCESS, pid, 10)
    before, _ = asyncio.run(count_applications(env))
    for pid in paused:
        os.kill(pid, signal.SIGSTOP)
    try:
        results["POST /v1/applications direct"] = wrk(
            f"{direct}/v1/applications", args, post_script(workdir, body, token, 1_000_000), args.seconds)
        results["POST /v1/applications through the gateway"] = wrk(
            f"{gateway}/v1/applications", args, post_script(workdir, body, token, 2_000_000), args.seconds)
    finally:
        for pid in paused:
            os.kill(pid, signal.SIGCONT)
    submitted, waiting = asyncio.run(count_applications(env))
    for pid in consumers(processes):
        os.setpriority(os.PRIO_PROCESS, pid, 0)
    # What the pipeline costs per application, by process, while it catches up (with --pipeline paused:
    # every verdict of the two series; the servers' figures include whatever else they serve meanwhile).
    measured = {name: [proc.pid] for name, proc in processes.items()}
    # PostgreSQL: the backends serving this run's databases; NATS: the server on this run's port.
    measured.update(postgres=server_pids(f"postgres: .* {env['DATABASE_NAME_PREFIX']}_"),
                    nats=server_pids(f"nats-server.*[ =]{env['NATS_URL'].rsplit(':', 1)[1]}( |$)"))
    cpu_before = {name: sum(map(cpu_seconds, pids)) for name, pids in measured.items()}
    drained = asyncio.run(wait_drained(env, 900))
    time.sleep(2)  # the last status events reach the read models
    cpu_after = {name: sum(map(cpu_seconds, pids)) for name, pids in measured.items()}
    shutil.rmtree(workdir, ignore_errors=True)

    print(f"\nmachine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; load average before: {args.load_before}")
    print(f"wrk -t1 -c{args.connections} -d{args.seconds}s per series; matter {MATTER}; {args.matters_workers} "
          f"svc-matters process(es); pre-review pipeline {args.pipeline} during the submission series\n")
    print(f"{'series':<44} {'req/s':>9} {'p50':>9} {'p99':>9} {'non-2xx':>8}")
    for name, r in results.items():
        print(f"{name:<44} {r['rps']:9.1f} {r['p50']:7.1f}ms {r['p99']:7.1f}ms {r['non2xx']:8d}")
    bare = results["bare GET /healthz of svc-matters"]["rps"]
    through = results["POST /v1/applications through the gateway"]
    direct_post = results["POST /v1/applications direct"]
    print(f"\nsubmissions through the gateway: {through['rps']:.1f}/s, {through['rps'] / bare:.3f} of the bare "
          f"endpoint's rate, {through['rps'] / direct_post['rps']:.2f} of the direct POST's rate")
    print(f"applications filed in the two POST series: {submitted - before}; still without a verdict when they "
          f"ended: {waiting}; every verdict in {drained:.1f} s after that"
          + (f" ({waiting / drained:.1f} verdicts/s)" if waiting and drained else ""))
    if waiting:
        spent = {name: (cpu_after[name] - cpu_before[name]) * 1000 / waiting for name in measured}
        print("CPU per application while the pipeline caught up: " + ", ".join(
            f"{name} {ms:.2f} ms" for name, ms in sorted(spent.items(), key=lambda kv: -kv[1]))
            + f"; total {sum(spent.values()):.2f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--pipeline", choices=("running", "niced", "paused"), default="running")
    parser.add_argument("--prefix", default=PREFIX,
                        help="the run's database names (<prefix>_<service>): benchmarks sharing a server each use their own")
    parser.add_argument("--matters-workers", type=int, default=2,
                        help="svc-matters processes (MATTERS_WORKERS): one per core serves submissions best")
    args = parser.parse_args()
    os.environ["MATTERS_WORKERS"] = str(args.matters_workers)
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    args.load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    with fresh_suite(args.prefix, ROOT / "var" / "bench", "lvrong-benchsub-", expose_suite=True) as (env, ports, suite):
        run(args, env, ports, suite.processes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
