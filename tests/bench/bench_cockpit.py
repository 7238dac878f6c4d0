"""A million applications: a department's overdue list and the cockpit for a matter and a month.

Seeds 1,000,000 applications (set-based ``INSERT … SELECT generate_series``, about 4.6 million
timeline steps) into a dedicated database (prefix ``lvrong_bench1m``), reused by later runs while it
holds the same count, then starts the whole suite on free ports (like ``bench_prereview.py``) and
measures with a real HTTP client, interleaving each request through the gateway with the same
request sent straight to svc-matters:

1. ``GET /v1/applications?overdue=true&department=…`` (first page), rotating over the departments;
2. ``GET /v1/cockpit?matter=…&from=…&to=…`` for one calendar month, rotating over matters and months.

Before the suite starts it also times stall detection on the seeded data (the first tick, the
rest of the backlog, and a tick with nothing new), in process, against the same database.

The seed: 18 matters with a skewed spread, filing dates uniform over the last 365 days (inserted in
date order, as real filings arrive), statuses by age (older ones mostly completed, about 3% stuck
open; recent ones spread over every stage), attempts, exemptions, statutory clocks (some overdue,
some paused for correction) and the timeline steps that lead to each status.

Usage: python tests/bench/bench_cockpit.py [--applications 1000000] [--requests 200] [--reseed]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from kit.devstack import SERVICE_PORTS, Servers, Suite, free_port, migrate_all, platform_environment  # noqa: E402
from support import percentile  # noqa: E402

PREFIX = "lvrong_bench1m"
SEED_VERSION = "bench-cockpit seed v2"

# One row per application with every moment of its life computed up front; the applications and
# their steps are then two INSERT … SELECT from it. Times of recent applications are compressed
# (factor f) so that nothing lies in the future.
STAGING = """
CREATE UNLOGGED TABLE bench_seed AS
WITH m AS (
    SELECT (row_number() OVER (ORDER BY position, code) - 1)::int AS k, code, version, kind, department, statutory_days
      FROM matter_versions WHERE is_current AND kind IN ('licence', 'filing')
), base AS (
    SELECT g, md5('lvrong-bench-' || g) AS id, now() - random() * interval '365 days' AS created,
           floor(power(random(), 1.6) * (SELECT count(*) FROM m))::int AS mk,
           random() AS p, random() AS r2, random() AS r3, random() AS r4
      FROM generate_series(1, $1) g
), st AS (
    SELECT b.*, m.code, m.version, m.kind, m.department, m.statutory_days,
           EXTRACT(EPOCH FROM now() - b.created) / 86400.0 AS age,
           CASE WHEN now() - b.created > interval '45 days' THEN
               CASE WHEN p < 0.04 THEN 'refused' WHEN p < 0.07 THEN 'withdrawn' WHEN p < 0.10 THEN 'denied'
                    WHEN p < 0.13 THEN CASE WHEN r3 < 0.15 THEN 'prereviewed' WHEN r3 < 0.35 THEN 'accepted'
                                            WHEN r3 < 0.75 THEN 'under_review' WHEN r3 < 0.85 THEN 'correction_requested'
                                            ELSE 'approved' END
                    ELSE 'completed' END
           ELSE
               CASE WHEN p < 0.005 THEN 'submitted' WHEN p < 0.03 THEN 'returned' WHEN p < 0.08 THEN 'prereviewed'
                    WHEN p < 0.11 THEN 'refused' WHEN p < 0.13 THEN 'withdrawn' WHEN p < 0.20 THEN 'accepted'
                    WHEN p < 0.42 THEN 'under_review' WHEN p < 0.46 THEN 'correction_requested'
                    WHEN p < 0.50 THEN 'approved' WHEN p < 0.53 AND m.kind = 'licence' THEN 'licence_issued'
                    WHEN p < 0.55 THEN 'denied' ELSE 'completed' END
           END AS status
      FROM base b JOIN m ON m.k = b.mk
), lv AS (
    SELECT *, CASE status WHEN 'submitted' THEN 1 WHEN 'returned' THEN 2 WHEN 'prereviewed' THEN 2
                          WHEN 'refused' THEN 3 WHEN 'withdrawn' THEN 3 WHEN 'accepted' THEN 3
                          WHEN 'under_review' THEN 4 WHEN 'correction_requested' THEN 5 WHEN 'approved' THEN 6
                          WHEN 'denied' THEN 6 WHEN 'licence_issued' THEN 7 ELSE 8 END AS lvl,
              0.2 + r2 * 2 AS d_acc, 0.5 + r3 * 2 AS d_rev, 1 + r3 * 3 AS d_corr,
              3 + power(r2, 2) * 40 AS d_dec, 0.5 + r3 * 3 AS d_lic, 0.2 + r2 AS d_done
      FROM st
), fx AS (
    SELECT *, LEAST(1.0, age * 0.9 / (0.001 + d_acc + d_rev + d_corr + d_dec + d_lic + d_done)) AS f
      FROM lv
), t AS (
    SELECT *,
           CASE WHEN lvl >= 2 THEN created + interval '4 seconds' END AS t_pre,
           CASE WHEN lvl >= 3 THEN created + interval '4 seconds' + d_acc * f * interval '1 day' END AS t_acc
      FROM fx
), t2 AS (
    SELECT *, CASE WHEN lvl >= 4 THEN t_acc + d_rev * f * interval '1 day' END AS t_rev FROM t
), t3 AS (
    SELECT *,
           CASE WHEN status = 'correction_requested' THEN t_rev + d_corr * f * interval '1 day' END AS t_corr,
           CASE WHEN lvl >= 6 AND status <> 'correction_requested' THEN t_rev + d_dec * f * interval '1 day' END AS t_dec
      FROM t2
), t4 AS (
    SELECT *, CASE WHEN kind = 'licence' AND lvl >= 7 THEN t_dec + d_lic * f * interval '1 day' END AS t_lic FROM t3
)
SELECT id, g, code, version, kind, department, statutory_days, status, created, t_pre, t_acc, t_rev, t_corr, t_dec,
       t_lic, CASE WHEN status = 'completed' THEN COALESCE(t_lic, t_dec) + d_done * f * interval '1 day' END AS t_done,
       CASE WHEN lvl >= 3 AND status NOT IN ('refused', 'withdrawn') AND r4 < 0.1 THEN 2 ELSE 1 END AS attempt,
       CASE WHEN r4 > 0.8 THEN 1 + (r4 * 100)::int % 2 ELSE 0 END AS exempted,
       'u-bench-' || (g % 50000) AS applicant
  FROM t4
"""

APPLICATIONS = """
INSERT INTO applications (
    id, matter_code, matter_version, applicant_subject, applicant_kind, form, materials, department, matter_kind,
    origin, exempted_materials, status, attempt, created_at, updated_at, submitted_at, status_since, prereviewed_at,
    accepted_at, decided_at, completed_at, clock_started_on, clock_limit_days, clock_due_date, clock_paused_since,
    clock_stopped_at, clock_warned_percent)
SELECT id, code, version, applicant, 'person', '{}'::jsonb, '{}'::jsonb, department, kind, 'application', exempted,
       status, attempt, created, since, created, since, t_pre,
       CASE WHEN t_acc IS NOT NULL AND status NOT IN ('refused', 'withdrawn') THEN t_acc END,
       t_dec, t_done, started, CASE WHEN started IS NOT NULL THEN statutory_days END,
       -- statutory working days as calendar days (7/5): the bench needs plausible due dates, not the calendar
       started + (statutory_days * 7 / 5), CASE WHEN status = 'correction_requested' THEN t_corr END,
       t_dec, 0
  FROM (SELECT s.*, COALESCE(t_done, t_lic, t_dec, t_corr, t_rev, t_acc, t_pre, created) AS since,
               CASE WHEN t_acc IS NOT NULL AND status NOT IN ('refused', 'withdrawn')
                    THEN (t_acc AT TIME ZONE 'Asia/Shanghai')::date END AS started
          FROM bench_seed s) s
 ORDER BY created
"""

STEPS = """
INSERT INTO application_steps (application_id, from_status, status, action, actor_subject, actor_role, details,
                               occurred_at, matter_code, department, application_created_at, from_status_seconds)
SELECT s.id, v.from_status, v.status, v.action, v.actor, v.role, '{}'::jsonb, v.at, s.code, s.department, s.created,
       date_part('epoch', v.at - v.previous)
  FROM (SELECT *, CASE WHEN attempt = 2 THEN t_pre + (t_acc - t_pre) / 3 END AS t_again FROM bench_seed) s
 CROSS JOIN LATERAL (VALUES
    (NULL, 'submitted', 'submit', s.applicant, 'applicant', s.created, NULL),
    ('submitted', 'returned', 'prereview', 'svc-prequal', 'service',
        CASE WHEN s.attempt = 2 OR s.status = 'returned' THEN s.t_pre END, s.created),
    ('returned', 'submitted', 'supplement', s.applicant, 'applicant', s.t_again, s.t_pre),
    ('submitted', 'prereviewed', 'prereview', 'svc-prequal', 'service',
        CASE WHEN s.attempt = 2 THEN s.t_again + interval '4 seconds' WHEN s.status <> 'returned' THEN s.t_pre END,
        COALESCE(s.t_again, s.created)),
    ('prereviewed', CASE s.status WHEN 'refused' THEN 'refused' WHEN 'withdrawn' THEN 'withdrawn' ELSE 'accepted' END,
        CASE s.status WHEN 'refused' THEN 'refuse' WHEN 'withdrawn' THEN 'withdraw' ELSE 'accept' END,
        CASE s.status WHEN 'withdrawn' THEN s.applicant ELSE 'u-officer' END,
        CASE s.status WHEN 'withdrawn' THEN 'applicant' ELSE 'window_officer' END, s.t_acc,
        COALESCE(s.t_again + interval '4 seconds', s.t_pre)),
    ('accepted', 'under_review', 'review', 'u-reviewer', 'reviewer', s.t_rev, s.t_acc),
    ('under_review', 'correction_requested', 'request_correction', 'u-reviewer', 'reviewer', s.t_corr, s.t_rev),
    ('under_review', CASE WHEN s.status = 'denied' THEN 'denied' ELSE 'approved' END,
        CASE WHEN s.status = 'denied' THEN 'deny' ELSE 'approve' END, 'u-reviewer', 'reviewer', s.t_dec, s.t_rev),
    ('approved', 'licence_issued', 'issue_licence', 'svc-licences', 'service', s.t_lic, s.t_dec),
    (CASE WHEN s.t_lic IS NOT NULL THEN 'licence_issued' ELSE 'approved' END, 'completed', 'complete', 'u-officer',
        'window_officer', s.t_done, COALESCE(s.t_lic, s.t_dec))
 ) AS v(from_status, status, action, actor, role, at, previous)
 WHERE v.at IS NOT NULL
 ORDER BY v.at
"""



def summary(name: str, ms: list[float]) -> str:
    return (f"{name:<58} n={len(ms):<4} p50 {statistics.median(ms):7.1f} ms   p90 {percentile(ms, 90):7.1f} ms   "
            f"p99 {percentile(ms, 99):7.1f} ms   max {max(ms):7.1f} ms")


async def connect(database_url: str) -> asyncpg.Connection:
    url = make_url(database_url)
    return await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username or "postgres",
                                 password=url.password, database=f"{PREFIX}_matters")


async def seed(database_url: str, n: int, reseed: bool) -> None:
    conn = await connect(database_url)
    try:
        marker = await conn.fetchval("SELECT obj_description('applications'::regclass, 'pg_class')")
        wanted = f"{SEED_VERSION}: {n} applications"
        if marker == wanted and not reseed and await conn.fetchval("SELECT count(*) FROM applications") >= n:
            print(f"reusing the seeded database {PREFIX}_matters ({wanted})", flush=True)
            return
        print(f"seeding {n:,} applications into {PREFIX}_matters …", flush=True)
        started = time.perf_counter()
        await conn.execute("SET synchronous_commit = off; SET maintenance_work_mem = '512MB'; SET work_mem = '256MB'")
        await conn.execute("TRUNCATE stalls, application_steps, application_materials, clock_pauses, clock_extensions, "
                           "benefit_grants, applications, outbox CASCADE")
        # Secondary indexes are dropped for the load and rebuilt after: a sorted build is much faster
        # than a million single inserts into each of them.
        indexes = await conn.fetch("""
            SELECT i.indexname, i.indexdef FROM pg_indexes i
             WHERE i.schemaname = 'public' AND i.tablename IN ('applications', 'application_steps')
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)""")
        for row in indexes:
            await conn.execute(f'DROP INDEX "{row["indexname"]}"')
        await conn.execute("DROP TABLE IF EXISTS bench_seed")
        steps = [("staging", STAGING, (n,)), ("applications", APPLICATIONS, ()), ("steps", STEPS, ())]
        for name, sql, args in steps:
            t0 = time.perf_counter()
            await conn.execute(sql, *args)
            print(f"  {name:<14} {time.perf_counter() - t0:6.1f} s", flush=True)
        t0 = time.perf_counter()
        for row in indexes:
            await conn.execute(row["indexdef"])
        print(f"  {'indexes':<14} {time.perf_counter() - t0:6.1f} s ({len(indexes)} rebuilt)", flush=True)
        await conn.execute("DROP TABLE bench_seed")
        t0 = time.perf_counter()
        await conn.execute("VACUUM ANALYZE applications")
        await conn.execute("VACUUM ANALYZE application_steps")
        print(f"  {'vacuum':<14} {time.perf_counter() - t0:6.1f} s", flush=True)
        await conn.execute(f"COMMENT ON TABLE applications IS '{wanted}'")
        total_steps = await conn.fetchval("SELECT count(*) FROM application_steps")
        print(f"seeded {n:,} applications and {total_steps:,} steps in {time.perf_counter() - started:.0f} s", flush=True)
    finally:
        await conn.close()


async def describe(database_url: str) -> dict:
    conn = await connect(database_url)
    try:
        today = (datetime.now(UTC) + timedelta(hours=8)).date()
        departments = [r["department"] for r in await conn.fetch(
            "SELECT department, count(*) FROM applications GROUP BY 1 ORDER BY 2 DESC")]
        matters = [r["code"] for r in await conn.fetch(
            "SELECT matter_code AS code, count(*) FROM applications GROUP BY 1 ORDER BY 2 DESC")]
        first = await conn.fetchval("SELECT min(created_at) FROM applications")
        first_month = (first + timedelta(hours=8)).date().replace(day=1)
        months = []
        month = date(first_month.year + (first_month.month == 12), first_month.month % 12 + 1, 1)
        while True:
            nxt = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
            if nxt > today:
                break
            months.append((month, nxt - timedelta(days=1)))
            month = nxt
        stats = dict(await conn.fetchrow("""
            SELECT count(*) AS applications,
                   count(*) FILTER (WHERE clock_started_on IS NOT NULL AND clock_stopped_at IS NULL
                                      AND clock_paused_since IS NULL AND clock_due_date < $1) AS overdue,
                   count(*) FILTER (WHERE status NOT IN ('draft', 'refused', 'denied', 'withdrawn', 'completed')) AS open
              FROM applications""", today))
        stats["steps"] = await conn.fetchval("SELECT count(*) FROM application_steps")
        stats["size"] = await conn.fetchval("SELECT pg_size_pretty(pg_total_relation_size('applications'))")
        return {"departments": departments, "matters": matters, "months": months, "stats": stats}
    finally:
        await conn.close()


async def time_stall_detection(database_url: str) -> list[str]:
    """Stall detection on the seeded data, in process: the first tick (at most ``batch`` per status),
    draining the rest, then a tick with nothing new. Events of the stalls opened here are marked
    published afterwards so the suite's relay does not spend the measurement publishing them."""
    import logging

    import structlog
    from sqlalchemy import text

    from kit.db import Database
    from matters.service import clock, stalls
    from matters.settings import effective_thresholds

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    url = make_url(database_url).set(drivername="postgresql+asyncpg", database=f"{PREFIX}_matters")
    db = Database(url.render_as_string(hide_password=False))
    thresholds = effective_thresholds({})
    lines = []
    try:
        async with db.transaction() as session:
            await session.execute(text("TRUNCATE stalls"))
        ticks = 0
        t_drain = time.perf_counter()
        while True:
            t0 = time.perf_counter()
            async with db.transaction() as session:
                result = await stalls.detect(session, thresholds, now=datetime.now(UTC), cal=clock.calendar(), batch=2000)
            ticks += 1
            if ticks == 1:
                lines.append(f"first tick (≤2000 per status): {result.opened} opened in {time.perf_counter() - t0:.2f} s")
            if not result.opened:
                lines.append(f"steady tick (nothing new to open, {result.closed} closed): {time.perf_counter() - t0:.2f} s")
                break
        async with db.session() as session:
            opened = (await session.execute(text("SELECT count(*) FROM stalls"))).scalar()
        lines.insert(1, f"backlog drained: {opened:,} stalls in {ticks - 1} ticks, {time.perf_counter() - t_drain:.1f} s")
        async with db.transaction() as session:
            await session.execute(text("UPDATE outbox SET published_at = now() WHERE published_at IS NULL"))
    finally:
        await db.dispose()
    return lines


async def measure(args: argparse.Namespace, ports: dict[str, int], info: dict) -> dict[str, list[float]]:
    gateway = f"http://127.0.0.1:{ports['gateway']}"
    direct = f"http://127.0.0.1:{ports['matters']}"
    async with httpx.AsyncClient(timeout=30) as client:
        token = (await client.post(gateway + "/auth/token", data={
            "grant_type": "password", "username": "ops", "password": "demo"})).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}

        def overdue(i: int) -> tuple[str, dict]:
            return "/v1/applications", {"overdue": "true", "department": info["departments"][i % len(info["departments"])]}

        def cockpit(i: int) -> tuple[str, dict]:
            start, end = info["months"][i % len(info["months"])]
            matter = info["matters"][(i * 7) % len(info["matters"])]
            return "/v1/cockpit", {"matter": matter, "from": start.isoformat(), "to": end.isoformat()}

        results: dict[str, list[float]] = {}
        for name, request in (("overdue list", overdue), ("cockpit", cockpit)):
            for i in range(20):  # warm-up: connections, token cache, plans
                for base in (gateway, direct):
                    path, params = request(i)
                    (await client.get(base + path, params=params, headers=headers)).raise_for_status()
            via_gateway, straight = [], []
            for i in range(args.requests):
                path, params = request(i)
                for base, into in ((gateway, via_gateway), (direct, straight)):
                    t0 = time.perf_counter()
                    r = await client.get(base + path, params=params, headers=headers)
                    into.append((time.perf_counter() - t0) * 1000)
                    if r.status_code != 200:
                        raise RuntimeError(f"{path} {params}: HTTP {r.status_code} {r.text[:300]}")
                    if name == "overdue list" and not r.json()["items"]:
                        raise RuntimeError(f"no overdue applications for {params}: the seed is not what it should be")
            results[f"{name} through the gateway"] = via_gateway
            results[f"{name} direct to svc-matters"] = straight
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--applications", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--reseed", action="store_true", help="seed again even if the database holds the seed")
    args = parser.parse_args()
    servers = Servers.configured_or_local(ROOT / "var" / "bench", postgres_port=54349, nats_port=free_port())
    database_url, nats_url = servers.database_url, servers.nats_url
    ports = {name: free_port() for name in SERVICE_PORTS}
    log_dir = Path(tempfile.mkdtemp(prefix="lvrong-bench1m-"))
    env = platform_environment(database_url, nats_url, ports=ports, nats_credentials_dir=servers.nats_credentials_dir)
    env.update(DATABASE_NAME_PREFIX=PREFIX, GATEWAY_DEV_ISSUER_KEY_DIR=str(log_dir / "dev-issuer"), LOG_LEVEL="WARNING")
    suite: Suite | None = None
    try:
        migrate_all(env)
        asyncio.run(seed(database_url, args.applications, args.reseed))
        info = asyncio.run(describe(database_url))
        detection = asyncio.run(time_stall_detection(database_url))
        suite = Suite(env, ports=ports, log_dir=log_dir)
        suite.start()
        suite.wait_ready()
        results = asyncio.run(measure(args, ports, info))
    finally:
        if suite is not None:
            suite.stop()
        servers.stop()

    s = info["stats"]
    print(f"\nmachine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"data: {s['applications']:,} applications ({s['size']} with indexes), {s['steps']:,} steps, "
          f"{s['open']:,} open, {s['overdue']:,} overdue; {len(info['departments'])} departments, "
          f"{len(info['matters'])} matters, {len(info['months'])} whole months")
    print("stall detection: " + "; ".join(detection))
    print(f"{args.requests} requests per series, one at a time, gateway and direct interleaved\n")
    for name, ms in results.items():
        print(summary(name, ms))
    for name in ("overdue list", "cockpit"):
        ratio = statistics.median(results[f"{name} through the gateway"]) / statistics.median(
            results[f"{name} direct to svc-matters"])
        print(f"{name:<58} gateway/direct p50 ratio {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
