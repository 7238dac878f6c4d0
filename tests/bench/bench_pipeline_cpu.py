"""The pipeline's CPU per application, by process (issue 18): what a submission costs, and what the
pre-review pipeline costs to handle it afterwards.

Starts the whole suite on free ports (like ``bench_submissions.py``), stops (SIGSTOP) the consumers'
processes (svc-prequal, svc-licences), submits ``--count`` applications with ``wrk`` straight to
svc-matters (or through the gateway with ``--gateway``), then lets the consumers go and waits until
every application has its verdict. For each phase it prints the CPU time (user + system, from /proc)
of every service process, of the PostgreSQL backends serving the run's databases and of the run's
NATS server, divided by the applications, and the rows each service's database wrote per application
(``pg_stat_database``). A fixed count, not a fixed time, so that two runs compared drain the same
backlog: a batch consumer's cost per event falls with the size of the batches it finds.

CPU time per operation varies with what else the machine runs (cache misses, more wake-ups on a crowded
machine): compare two versions side by side, e.g. a second worktree of the older commit started at the
same time with its own ``--prefix``.

Needs ``wrk``. Usage: python tests/bench/bench_pipeline_cpu.py [--count 2000] [--connections 16]
       [--gateway] [--prefix lvrong_benchcpu] [--profile DIR]  (``--profile``: py-spy record of
       svc-matters while submitting and of the three services while draining, raw format, into DIR)
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "bench"))

from bench_prequal import cpu_seconds  # noqa: E402
from bench_submissions import consumers, count_applications, post_script, prepare, server_pids, wait_drained  # noqa: E402

from support import fresh_suite, settled, until  # noqa: E402

ROW_COUNTERS = ("xact_commit", "tup_inserted", "tup_updated", "tup_deleted")


async def database_counters(env: dict[str, str]) -> dict[str, list[int]]:
    """Commits and rows written so far by each of the run's databases (the statistics PostgreSQL keeps)."""
    conn = await asyncpg.connect(env["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres")
    try:
        rows = await conn.fetch(f"SELECT datname, {', '.join(ROW_COUNTERS)} FROM pg_stat_database WHERE datname LIKE $1",
                                env["DATABASE_NAME_PREFIX"] + "_%")
    finally:
        await conn.close()
    return {r["datname"].rsplit("_", 1)[1]: [r[c] for c in ROW_COUNTERS] for r in rows}


PRODUCERS = ("matters", "prequal", "licences")


class RunDatabases:
    """What tests/support's waits need of a suite: the run's environment and a service's database."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    async def db(self, service: str) -> asyncpg.Connection:
        return await asyncpg.connect(f"{self.env['DATABASE_URL'].rsplit('/', 1)[0]}/"
                                     f"{self.env['DATABASE_NAME_PREFIX']}_{service}")


async def quiet(env: dict[str, str]) -> None:
    """Nothing of the run is in flight: every event each service wrote is on its stream and handled and
    acknowledged by every consumer of it (their ack floors), so the CPU read next covers all the work."""
    for producer in PRODUCERS:
        await settled(RunDatabases(env), producer, seconds=300)


async def _all_inserts_counted(conn: asyncpg.Connection) -> bool:
    for table in ("outbox", "processed_events"):
        rows = await conn.fetchval(f"SELECT count(*) FROM {table}")
        flushed = await conn.fetchval(
            "SELECT coalesce(sum(n_tup_ins), 0) FROM pg_stat_user_tables WHERE relname = $1", table)
        if flushed < rows:
            return False
    return True


async def statistics_flushed(env: dict[str, str]) -> None:
    """Each backend flushes its share of ``pg_stat_*`` on its own, about a second after it goes idle: wait
    until every row the services inserted into the tables every written event (``outbox``) and every
    handled one (``processed_events``) touch is counted, i.e. the backends that did the work have flushed."""
    for service in PRODUCERS:
        conn = await RunDatabases(env).db(service)
        try:
            await until(partial(_all_inserts_counted, conn), f"svc-{service}'s statistics flushed", within=60)
        except AssertionError as late:  # the CPU figures stand; only this database's row counts may be short
            print(f"warning: {late}; its rows per application below may be undercounted", file=sys.stderr)
        finally:
            await conn.close()


def spy(pid: int, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["py-spy", "record", "--subprocesses", "-r", "50", "--format", "raw", "-o", str(out),
                             "-p", str(pid), "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(spies: list[subprocess.Popen[bytes]]) -> None:
    for s in spies:
        s.send_signal(signal.SIGINT)
    for s in spies:
        s.wait()


def report(phase: str, applications: int, cpu: dict[str, float], rows_before: dict[str, list[int]],
           rows_after: dict[str, list[int]]) -> None:
    spent = {name: ms * 1000 / applications for name, ms in cpu.items()}
    print(f"{phase}: CPU per application " + ", ".join(
        f"{name} {ms:.2f}" for name, ms in sorted(spent.items(), key=lambda kv: -kv[1]))
        + f"; total {sum(spent.values()):.2f} ms")
    for service in ("matters", "prequal", "licences"):
        if service in rows_after:
            d = [(a - b) / applications for a, b in zip(rows_after[service], rows_before[service], strict=True)]
            print(f"    {service}'s database per application: commits {d[0]:.2f}, rows inserted {d[1]:.1f}, "
                  f"updated {d[2]:.1f}, deleted {d[3]:.1f}")


def run(args: argparse.Namespace, env: dict[str, str], ports: dict[str, int], processes: dict) -> None:
    gateway = f"http://127.0.0.1:{ports['gateway']}"
    target = (gateway if args.gateway else f"http://127.0.0.1:{ports['matters']}") + "/v1/applications"
    token, body = asyncio.run(prepare(gateway))
    workdir = Path(tempfile.mkdtemp(prefix="lvrong-benchcpu-"))
    warm = subprocess.run(["wrk", "-t1", f"-c{args.connections}", "-d3s", "-s", post_script(workdir, body, token, 0),
                           target], capture_output=True, text=True)
    warm.check_returncode()  # connections, caches and prepared statements warm on both sides
    asyncio.run(wait_drained(env, 300))
    asyncio.run(quiet(env))
    asyncio.run(statistics_flushed(env))  # the warm-up's rows are not counted as the first phase's
    measured = {name: [proc.pid] for name, proc in processes.items()}
    measured.update(postgres=server_pids(f"postgres: .* {env['DATABASE_NAME_PREFIX']}_"),
                    nats=server_pids(f"nats-server.*[ =]{env['NATS_URL'].rsplit(':', 1)[1]}( |$)"))

    def cpu_now() -> dict[str, float]:
        return {name: sum(map(cpu_seconds, pids)) for name, pids in measured.items()}

    paused = consumers(processes)
    for pid in paused:
        os.kill(pid, signal.SIGSTOP)
    first, _ = asyncio.run(count_applications(env))
    cpu0, rows0 = cpu_now(), asyncio.run(database_counters(env))
    spies = [spy(processes["matters"].pid, args.profile / "submitting-matters.txt")] if args.profile else []
    started = time.perf_counter()
    load = subprocess.Popen(["wrk", "-t1", f"-c{args.connections}", "-d600s", "-s",
                             post_script(workdir, body, token, 1_000_000), target],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while (submitted := asyncio.run(count_applications(env))[0] - first) < args.count:
            time.sleep(0.1)
        cpu1 = cpu_now()
        seconds = time.perf_counter() - started
    finally:
        load.terminate()
        load.wait()
        stop(spies)
    asyncio.run(statistics_flushed(env))
    rows1 = asyncio.run(database_counters(env))
    total, waiting = asyncio.run(count_applications(env))
    print(f"\nload average {' '.join(f'{x:.1f}' for x in os.getloadavg())}; wrk -t1 -c{args.connections}, "
          f"{'through the gateway' if args.gateway else 'straight to svc-matters'}; consumers paused")
    print(f"submitted {submitted} in {seconds:.1f} s ({submitted / seconds:.0f}/s)")
    report("submission", submitted, {k: cpu1[k] - cpu0[k] for k in cpu1}, rows0, rows1)

    for pid in paused:
        os.kill(pid, signal.SIGCONT)
    cpu1, rows1 = cpu_now(), asyncio.run(database_counters(env))
    spies = [spy(processes[name].pid, args.profile / f"draining-{name}.txt")
             for name in ("prequal", "matters", "licences")] if args.profile else []
    try:
        drained = asyncio.run(wait_drained(env, 900))
        asyncio.run(quiet(env))  # the verdicts' status events have reached every read model too
        cpu2 = cpu_now()
    finally:
        stop(spies)
    asyncio.run(statistics_flushed(env))
    rows2 = asyncio.run(database_counters(env))
    print(f"\nthe pipeline caught up with {waiting} applications in {drained:.1f} s ({waiting / drained:.0f}/s); "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    report("pipeline", waiting, {k: cpu2[k] - cpu1[k] for k in cpu2}, rows1, rows2)
    print(f"\n({total} applications in the database in all)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--gateway", action="store_true", help="submit through the gateway (default: straight)")
    parser.add_argument("--prefix", default="lvrong_benchcpu",
                        help="the run's database names (<prefix>_<service>): runs side by side each use their own")
    parser.add_argument("--profile", type=Path, help="py-spy records (raw) into this directory")
    args = parser.parse_args()
    os.environ.setdefault("MATTERS_WORKERS", "2")
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    with fresh_suite(args.prefix, ROOT / "var" / "bench", "lvrong-benchcpu-", expose_suite=True) as (env, ports, suite):
        run(args, env, ports, suite.processes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
