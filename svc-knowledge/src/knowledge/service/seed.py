"""The FAQ corpus shipped with the service (``knowledge/seed/faq.jsonl``, 136 entries), imported and
published on the first start against an empty knowledge base, so ``make run`` answers at once.
Off with ``KNOWLEDGE_SEED_ON_EMPTY=false``; ``python -m knowledge.service.seed FILE`` imports another
file through the same code as ``POST /v1/knowledge/import?publish=true``."""
from __future__ import annotations

import asyncio
import sys
from importlib import resources
from pathlib import Path

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal, Role, SubjectKind
from kit.db import Database
from kit.scheduling import run_tick
from knowledge.models import Entry
from knowledge.service import entries
from knowledge.settings import Settings

log = structlog.get_logger("knowledge.seed")

SEED_AUTHOR = Principal(subject="system:seed", kind=SubjectKind.SERVICE, roles=frozenset({Role.SERVICE}))


def shipped_corpus() -> bytes:
    return resources.files("knowledge.seed").joinpath("faq.jsonl").read_bytes()


async def seed_if_empty(database: Database, corpus: bytes | None = None) -> int:
    """Import and publish the corpus unless the knowledge base has entries; once across replicas."""
    async def job(session: AsyncSession) -> int:
        if (await session.execute(select(func.count()).select_from(Entry))).scalar_one():
            return 0
        report = await entries.import_lines(session, SEED_AUTHOR, corpus or shipped_corpus(), publish_now=True)
        log.info("knowledge_seeded", created=report.created, rejected=len(report.rejected))
        return report.created

    return await run_tick(database, "knowledge-seed", job) or 0


async def _main(corpus: bytes) -> None:
    database = Database(Settings().service_database_url)
    try:
        async with database.transaction() as session:
            report = await entries.import_lines(session, SEED_AUTHOR, corpus, publish_now=True)
        print(report.model_dump_json(indent=1))
    finally:
        await database.dispose()


if __name__ == "__main__":
    asyncio.run(_main(Path(sys.argv[1]).read_bytes()))
