"""Cost of the keyed audit chain (issue 14): appending entries (HMAC-SHA256, one transaction each, as
a staff read appends one) and verifying the whole chain with the key (what ``lvrong-audit-verify``
and the anchoring job's first run do), on a scratch svc-helpdesk database.

Usage: DATABASE_URL=… uv run python tests/bench/bench_audit.py [--entries 5000] [--prefix lvrong_auditbench]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kit.audit import record_audit, verify_chain
from kit.auth import Principal, SubjectKind
from support import scratch_service_database

AGENT = Principal(subject="u-agent-licensing", kind=SubjectKind.STAFF, roles=frozenset({"helpdesk_agent"}),
                  department="市绿化市容局许可处")


async def measure(database_url: str, prefix: str, entries: int) -> None:
    async with scratch_service_database(database_url, "helpdesk", prefix) as database:
        started = time.perf_counter()
        for i in range(entries):
            async with database.transaction() as session:
                await record_audit(session, AGENT, "ticket.messages_read", "ticket", f"ticket-{i}",
                                   owner="u-applicant-person", details={"messages": 3, "after": 0})
        appended = time.perf_counter() - started
        async with database.session() as session:
            started = time.perf_counter()
            report = await verify_chain(session)
            verified = time.perf_counter() - started
    assert report.valid and report.entries == entries, report
    print(f"append: {entries} entries, one transaction each: {appended:.1f} s, "
          f"{appended / entries * 1000:.2f} ms per entry")
    print(f"verify: {entries} entries with the key: {verified:.2f} s, {entries / verified:,.0f} entries/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=5000)
    parser.add_argument("--prefix", default="lvrong_auditbench")
    args = parser.parse_args()
    asyncio.run(measure(os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
                        args.prefix, args.entries))


if __name__ == "__main__":
    main()
