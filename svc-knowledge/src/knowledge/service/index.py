"""The in-memory search index of one process, kept equal to what is live in the database.

Publishing or retiring bumps ``index_state.generation`` in the same transaction; every replica
checks the generation every second (``knowledge.events.refresh_job``) and rebuilds when it changed, so a change is
searchable everywhere within about a second with no restart. The replica that made the change
rebuilds at once. Tokens are cached per entry version, so a rebuild only segments what changed.
"""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import nh3
import structlog
from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kit.db import Database
from knowledge.models import Entry, EntryVersion, IndexState
from knowledge.service.retrieval import EntryTokens, IndexedEntry, SearchIndex, analyzer, entry_tokens

log = structlog.get_logger("knowledge.index")

REFRESH_SECONDS = 1.0


def plain_text(html: str) -> str:
    """The words of a sanitised rich-text answer, for retrieval."""
    return nh3.clean(html, tags=set()).replace("&nbsp;", " ")


def version_tokens(content: dict[str, Any]) -> dict[str, Any]:
    """The retrieval tokens of a version's content, stored with it when it is published."""
    a = analyzer()
    tokens = entry_tokens(a, content["question"], content.get("similar") or [], plain_text(content["answer"]),
                          content.get("matter"))
    return {"fingerprint": a.fingerprint, **tokens.to_json()}


class IndexHolder:
    def __init__(self) -> None:
        self.index = SearchIndex()
        self._tokens: dict[tuple[str, int], EntryTokens] = {}
        self._lock = asyncio.Lock()

    async def refresh(self, database: Database, *, force: bool = False) -> bool:
        """Rebuild when the database's generation differs from the index's; True when rebuilt."""
        async with self._lock:
            async with database.session() as session:
                generation = (await session.execute(select(IndexState.generation).where(IndexState.id == 1))).scalar_one()
                if generation == self.index.generation and not force:
                    return False
                rows = (await session.execute(
                    select(Entry.id, EntryVersion.version, EntryVersion.content, EntryVersion.tokens)
                    .join(EntryVersion, (EntryVersion.entry_id == Entry.id) & (EntryVersion.version == Entry.published_version))
                    .where(Entry.live.is_(True)).order_by(Entry.id))).all()
            self.index = await asyncio.to_thread(self._build, rows, generation)
            log.info("search_index_rebuilt", entries=len(rows), generation=generation)
            return True

    def _build(self, rows: Sequence[Row[str, int, dict[str, Any], dict[str, Any] | None]], generation: int
               ) -> SearchIndex:
        a = analyzer()
        entries = []
        seen = set()
        for entry_id, version, content, stored in rows:
            key = (entry_id, version)
            seen.add(key)
            tokens = self._tokens.get(key)
            if tokens is None:
                if not stored or stored.get("fingerprint") != a.fingerprint:
                    stored = version_tokens(content)
                tokens = EntryTokens.from_json(stored)
                self._tokens[key] = tokens
            entries.append(IndexedEntry(entry_id, version, content["question"], content["answer"],
                                        content.get("matter"), content.get("category"), tokens))
        for key in set(self._tokens) - seen:
            del self._tokens[key]
        return SearchIndex(entries, generation)


holder = IndexHolder()


async def bump_generation(session: AsyncSession) -> None:
    """Mark the live set as changed, in the caller's transaction."""
    await session.execute(update(IndexState).where(IndexState.id == 1).values(generation=IndexState.generation + 1))
