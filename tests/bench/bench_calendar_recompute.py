"""How long svc-matters takes to recompute the statutory due dates when ops approve a calendar year.

Seeds ``--clocks`` running clocks accepted between 1 and 6 December 2026 on a calendar without 2027
(so their due dates are provisional, a third of them with a finished pause), in a scratch database
(prefix ``lvrong_bench_recompute``), then times ``calendar_years.recompute_year(2027)`` with a
synthetic approved 2027 in one transaction, as the ``calendar-approved`` consumer runs it: reading the
clocks and their pauses, counting each again, and writing the changed ones with their timeline step
and two events. Then times the same again (nothing changes: the cost of a redelivered approval).

Usage: DATABASE_URL=… python tests/bench/bench_calendar_recompute.py [--clocks 10000]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from sqlalchemy import insert  # noqa: E402

from kit.calendar import WorkingDayCalendar, parse_year_data  # noqa: E402
from matters.models import Application, ClockPause  # noqa: E402
from matters.service import calendar_years, clock  # noqa: E402
from support import scratch_service_database  # noqa: E402

APPROVED_2027 = parse_year_data({
    "year": 2027, "holidays": ["2027-01-01", "2027-01-04", "2027-02-05", "2027-02-08", "2027-02-09", "2027-02-10"],
    "workdays": ["2027-01-02"], "source": "synthetic benchmark data (not the real 2027 notice)",
    "approved_by": "bench", "approved_at": "2026-12-10T10:00:00+08:00"}, "bench")


async def main(clocks: int) -> None:
    provisional = WorkingDayCalendar()
    async with scratch_service_database(os.environ["DATABASE_URL"], "matters", "lvrong_bench_recompute") as db:
        rows, pauses = [], []
        for i in range(clocks):
            start = date(2026, 12, 1) + timedelta(days=i % 6)
            at = datetime.combine(start, dtime(10), clock.SHANGHAI)
            app = Application(id=uuid.uuid4().hex, matter_code="LR-XK-008", matter_version=1, matter_kind="licence",
                              department="市绿化市容局许可处", origin="application", applicant_subject=f"u-{i}",
                              applicant_kind="person", form={}, materials={}, status="under_review", attempt=1,
                              exempted_materials=0, clock_warned_percent=0, created_at=at, updated_at=at,
                              status_since=at, clock_started_on=start, clock_limit_days=20)
            waited = 0
            if i % 3 == 0:  # paused 3 working days in December
                paused, resumed = at + timedelta(days=1), at + timedelta(days=5)
                waited = provisional.working_days_between(paused.date(), resumed.date())
                pauses.append({"application_id": app.id, "paused_at": paused, "resumed_at": resumed,
                               "reason": "补正", "working_days": waited})
            due = provisional.add_working_days(start, 20 + waited)
            rows.append({c.key: getattr(app, c.key) for c in Application.__table__.columns if c.key in app.__dict__}
                        | {"clock_due_date": due, "clock_due_provisional": True})
        async with db.transaction() as session:
            for chunk in range(0, len(rows), 2000):
                await session.execute(insert(Application.__table__), rows[chunk:chunk + 2000])
            if pauses:
                await session.execute(insert(ClockPause.__table__), pauses)
        approved = WorkingDayCalendar(years=[APPROVED_2027])
        clock.calendar = lambda: approved  # type: ignore[assignment]  # as the bucket watcher would install it
        for label in ("approval", "redelivery"):
            started = time.perf_counter()
            async with db.transaction() as session:
                changed = await calendar_years.recompute_year(session, 2027, datetime.now(clock.SHANGHAI))
            print(f"{label}: {clocks} clocks, {changed} due dates changed in {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--clocks", type=int, default=10_000)
    asyncio.run(main(parser.parse_args().clocks))
