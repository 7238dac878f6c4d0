"""svc-helpdesk at scale: recomputing every open SLA clock, and the reports over a million closed tickets.

Seeds a dedicated, migrated database (``<prefix>_helpdesk``, prefix ``lvrong_benchhd`` by default)
with set-based ``INSERT … SELECT generate_series``:

- ``--closed`` closed tickets (default 1,000,000) created over the 365 days of 2025, each with a
  first-response and a resolution clock (stopped; about 4% breached), plus ratings (30%, with a
  rectification for each bad one), hotline transfer attempts (20%) and hall visits (30%);
- ``--open`` open tickets (default 100,000) created in October–November 2026 with a running
  resolution clock of one working day (a fifth of them paused, with their pause interval) and a
  running first-response clock for a tenth.

Then, in process against that database:

1. ``recompute_open_clocks``: every open clock rebuilt from its start and pauses (what ops trigger
   after approving a corrected calendar), timed end to end in one transaction (rolled back);
2. ``build_report`` for the whole of 2025, grouped by nothing, department, matter and agent, and
   for one month: each timed ``--runs`` times (median and worst).

Usage: python tests/bench/bench_helpdesk.py [--closed 1000000] [--open 100000] [--runs 5] [--reseed]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from helpdesk.service import reports, tickets  # noqa: E402
from helpdesk.settings import Settings  # noqa: E402
from kit.db import Database  # noqa: E402
from kit.migrations import upgrade  # noqa: E402
from support import drop_databases  # noqa: E402

DEPARTMENTS = ["市绿化市容局许可处", "市绿化市容局景观处", "市林业总站", "市绿化市容局环卫处", "市绿化市容局野保处"]
MATTERS = [f"LR-XK-{i:03d}" for i in range(1, 15)] + [f"LR-BA-{i:03d}" for i in range(1, 5)]

SEED = [
    # Closed tickets of 2025: created at a uniform moment of the year, answered in 5–95 s, resolved within days.
    """INSERT INTO tickets (id, channel, status, priority, matter_code, department, subject_text, applicant_subject,
                            policy_id, assigned_agent, assigned_at, created_at, first_response_at, resolved_at,
                            closed_at, reopen_count)
       SELECT 'c' || g, (ARRAY['online','hotline','hall','assistant'])[1 + g % 4], 'closed', 'normal',
              (:matters)[1 + g % 18], (:departments)[1 + g % 5], '问题', 'u-' || (g % 50000), 'default',
              'agent-' || (g % 40), t, t, t + make_interval(secs => 5 + g % 91),
              t + make_interval(hours => 1 + g % 50), t + make_interval(hours => 60), (g % 25 = 0)::int
       FROM (SELECT g, timestamptz '2025-01-01 00:00+08' + make_interval(secs => (g::bigint * 31536000 / :closed)::int) AS t
             FROM generate_series(1, :closed) g) s""",
    """INSERT INTO sla_clocks (ticket_id, kind, cycle, unit, amount, target_seconds, warn_percent, escalation_percents,
                               started_at, elapsed_before, stopped_at, elapsed_seconds, alerted_percent, breached_at)
       SELECT id, 'first_response', 0, 'seconds', 60, 60, 80, '[150, 200]', created_at, 0, first_response_at,
              extract(epoch FROM first_response_at - created_at), 0,
              CASE WHEN first_response_at - created_at > interval '60 seconds' THEN first_response_at END
       FROM tickets WHERE id LIKE 'c%'""",
    """INSERT INTO sla_clocks (ticket_id, kind, cycle, unit, amount, target_seconds, warn_percent, escalation_percents,
                               started_at, elapsed_before, stopped_at, elapsed_seconds, alerted_percent, breached_at)
       SELECT id, 'resolution', 0, 'working_days', 1, 25200, 80, '[150, 200]', created_at, 0, resolved_at,
              CASE WHEN right(id, 2) = '00' THEN 30000 ELSE 20000 END, 0,
              CASE WHEN right(id, 2) = '00' THEN resolved_at END
       FROM tickets WHERE id LIKE 'c%'""",
    """INSERT INTO ratings (id, target_kind, target_id, rater_subject, score, tags, matter_code, department,
                            agent_subject, created_at)
       SELECT 'r' || substr(id, 2), 'ticket', id, applicant_subject, 1 + (hashtext(id) & 1023) % 5, '[]', matter_code,
              department, assigned_agent, closed_at
       FROM tickets WHERE id LIKE 'c%' AND (hashtext(id) & 1023) % 10 < 3""",
    """INSERT INTO rectifications (id, rating_id, department, owner_subject, status, opened_at, due_on, closed_at)
       SELECT 'x' || substr(id, 2), id, department, agent_subject,
              CASE WHEN right(id, 1) = '7' THEN 'open' ELSE 'closed' END, created_at,
              (created_at AT TIME ZONE 'Asia/Shanghai')::date + 7,
              CASE WHEN right(id, 1) = '7' THEN NULL ELSE created_at + interval '3 days' END
       FROM ratings WHERE id LIKE 'r%' AND score <= 2""",
    """INSERT INTO hotline_transfers (id, call_id, department, matter_code, attempted_at, connected, wait_seconds,
                                      recorded_by)
       SELECT 'h' || substr(id, 2), 'call-' || (substr(id, 2)::bigint / 2), department, matter_code, created_at,
              (hashtext(id) & 1023) % 10 <> 0, 5 + (hashtext(id) & 1023) % 60, 'bench'
       FROM tickets WHERE id LIKE 'c%' AND (hashtext(id) & 1023) % 5 = 0""",
    """INSERT INTO halls (id, name, windows, opening_periods, open_on_rest_days, slot_minutes, slot_capacity,
                         daily_cap_per_person, matters)
       VALUES ('bench-hall', '基准测试大厅', 10, '[["09:00", "17:00"]]', false, 30, 20, 2, '{}')""",
    """INSERT INTO visits (id, hall_id, local_day, number, matter_code, complexity, status, checked_in_at, called_at,
                           "window", started_at, finished_at)
       SELECT 'v' || substr(id, 2), 'bench-hall', (created_at AT TIME ZONE 'Asia/Shanghai')::date, 'G' || substr(id, 2),
              matter_code, CASE WHEN substr(id, 2)::bigint % 3 = 0 THEN 'complex' ELSE 'general' END, 'done', created_at,
              created_at + make_interval(secs => (hashtext(id) & 1023) % 1500), 1 + substr(id, 2)::bigint % 10,
              created_at + make_interval(secs => (hashtext(id) & 1023) % 1500),
              created_at + make_interval(secs => (hashtext(id) & 1023) % 1500 + 300 + (hashtext(id) & 511) % 1200)
       FROM tickets WHERE id LIKE 'c%' AND (hashtext(id) & 1023) % 10 >= 7""",
    # Open tickets of October–November 2026 on working-day mornings: resolution clocks running or paused.
    """INSERT INTO tickets (id, channel, status, priority, matter_code, department, subject_text, applicant_subject,
                            policy_id, assigned_agent, assigned_at, created_at, first_response_at, reopen_count)
       SELECT 'o' || g, 'online', CASE WHEN g % 5 = 0 THEN 'waiting_applicant' ELSE 'assigned' END, 'normal',
              (:matters)[1 + g % 18], (:departments)[1 + g % 5], '问题', 'u-' || (g % 50000), 'default',
              'agent-' || (g % 40), t, t, CASE WHEN g % 10 = 0 THEN NULL ELSE t + interval '20 seconds' END, 0
       FROM (SELECT g, timestamptz '2026-10-12 09:00+08' + make_interval(days => g % 40, mins => g % 420) AS t
             FROM generate_series(1, :open) g) s""",
    """INSERT INTO sla_clocks (ticket_id, kind, cycle, unit, amount, target_seconds, warn_percent, escalation_percents,
                               started_at, segment_started_at, elapsed_before, paused_since, alerted_percent)
       SELECT id, 'resolution', 0, 'working_days', 1, 25200, 80, '[150, 200]', created_at,
              CASE WHEN status = 'waiting_applicant' THEN NULL ELSE created_at END, 0,
              CASE WHEN status = 'waiting_applicant' THEN created_at + interval '30 minutes' END, 0
       FROM tickets WHERE id LIKE 'o%'""",
    """INSERT INTO sla_clock_pauses (clock_id, paused_at, reason)
       SELECT id, paused_since, 'waiting_applicant' FROM sla_clocks WHERE paused_since IS NOT NULL""",
    """INSERT INTO sla_clocks (ticket_id, kind, cycle, unit, amount, target_seconds, warn_percent, escalation_percents,
                               started_at, segment_started_at, elapsed_before, alerted_percent)
       SELECT id, 'first_response', 0, 'seconds', 60, 60, 80, '[150, 200]', created_at, created_at, 0, 0
       FROM tickets WHERE id LIKE 'o%' AND first_response_at IS NULL""",
]


async def seed(url: str, closed: int, open_: int) -> None:
    from sqlalchemy import bindparam, text
    from sqlalchemy.dialects.postgresql import ARRAY
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.types import Text

    # Not the service's Database: its statements time out after 30 s, and seeding a million rows takes longer.
    engine = create_async_engine(url, connect_args={"command_timeout": 3600})
    params = {"closed": closed, "open": open_, "matters": MATTERS, "departments": DEPARTMENTS}
    async with engine.begin() as session:
        for sql in SEED:
            statement = text(sql)
            arrays = [bindparam(k, type_=ARRAY(Text)) for k in ("matters", "departments") if f":{k}" in sql]
            if arrays:
                statement = statement.bindparams(*arrays)
            started = time.perf_counter()
            await session.execute(statement, {k: v for k, v in params.items() if f":{k}" in sql})
            print(f"  seed step {SEED.index(sql) + 1}/{len(SEED)}: {time.perf_counter() - started:.1f} s", flush=True)
        for table in ("tickets", "sla_clocks", "ratings", "rectifications", "hotline_transfers", "visits"):
            await session.execute(text(f"ANALYZE {table}"))
    await engine.dispose()


async def seeded_count(database: Database) -> tuple[int, int]:
    from sqlalchemy import text

    async with database.session() as session:
        row = (await session.execute(text(
            "SELECT count(*) FILTER (WHERE id LIKE 'c%'), count(*) FILTER (WHERE id LIKE 'o%') FROM tickets"))).one()
    return row[0], row[1]


async def main(args: argparse.Namespace) -> None:
    database_url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    settings = Settings(database_url=database_url, database_name_prefix=args.prefix)
    database = Database(settings.service_database_url)
    try:
        have = await seeded_count(database) if not args.reseed else None
    except Exception:  # no database yet
        have = None
    if have != (args.closed, args.open):
        await database.dispose()
        await drop_databases(database_url, [settings.database_name])
        await asyncio.to_thread(upgrade, "helpdesk", settings)
        database = Database(settings.service_database_url)
        print(f"seeding {args.closed:,} closed and {args.open:,} open tickets …", flush=True)
        started = time.perf_counter()
        await seed(settings.service_database_url, args.closed, args.open)
        print(f"seeded in {time.perf_counter() - started:.0f} s", flush=True)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")

    from sqlalchemy import func, select

    from helpdesk.models import SlaClock

    async with database.session() as session:
        running = await session.scalar(select(func.count()).select_from(SlaClock).where(SlaClock.stopped_at.is_(None)))
    started = time.perf_counter()
    async with database.sessionmaker() as session, session.begin():
        done = await tickets.recompute_open_clocks(session)
        elapsed = time.perf_counter() - started
        await session.rollback()
    print(f"recompute_open_clocks: {done:,} clocks ({running:,} open) of {args.open:,} open tickets in {elapsed:.1f} s "
          f"({done / elapsed:,.0f} clocks/s)")

    periods = [("2025", date(2025, 1, 1), date(2025, 12, 31)), ("2025-06", date(2025, 6, 1), date(2025, 6, 30))]
    for label, start, end in periods:
        for group_by in reports.GROUPS:
            times = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                report = await reports.build_report(database, start, end, group_by)
                times.append(time.perf_counter() - t0)
            tickets_counted = sum(g.get("tickets", {}).get("tickets", 0) for g in report["groups"])
            print(f"report {label:7} group_by={group_by:10} tickets={tickets_counted:>9,}  "
                  f"median {statistics.median(times) * 1000:7.0f} ms  worst {max(times) * 1000:7.0f} ms")
    await database.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--closed", type=int, default=1_000_000)
    parser.add_argument("--open", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--prefix", default="lvrong_benchhd")
    parser.add_argument("--reseed", action="store_true")
    asyncio.run(main(parser.parse_args()))
