"""Serialised answers of data that rarely changes, kept per process, with strong ETags and ``304``.

Some reads are asked thousands of times between two changes (the catalogue of matters changes a few
times a year). Building their answer each time — a query, pydantic models, JSON — costs milliseconds
of CPU for the same bytes. A ``PageCache`` keeps the bytes of each answer with its ETag (a hash of
those bytes) and answers a client that already holds them with ``304 Not Modified`` and no body.

What makes a cached page wrong is a change of the data, possibly made by another replica. The data's
owner keeps a **generation** in its database, moved in the same transaction as every change of the
data (e.g. by a trigger), and ``follow_generation`` reads it every second on every replica: when it
moved, every page is dropped, so a change is seen everywhere within about a second. The replica that
made a change drops its pages at once after its commit (``PageCache.forget``), so its own caller reads
their write. A page is only served
while the generation was confirmed recently (``max_unconfirmed_seconds``): a replica that has lost its
database does not go on answering from memory what may have changed since.

A page built while the generation moved is not kept (it may hold what the change replaced): each fill
remembers the generation it began under and is stored only if that is still the current one.
"""
from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import structlog
from fastapi import Header, Response
from prometheus_client import Counter, Gauge
from werkzeug.http import parse_etags

log = structlog.get_logger("kit.page_cache")

GENERATION = Gauge("lvrong_page_cache_generation", "The data's generation this process's pages were built under",
                   ["cache"])
PAGES = Counter("lvrong_page_cache_pages_total", "Pages asked for, answered from memory or built from the database",
                ["cache", "source"])

# Public data, the same for every caller: a shared cache (the city's proxy, a CDN) may keep it, but must
# ask again before each use ("no-cache" is "revalidate", not "do not store"). A new version of a matter
# (a material added, a time limit changed) must reach the next applicant at once, and the revalidation
# carries the caller's token to the gateway, so nobody reads a page their token does not allow. The
# answer to a revalidation is a 304 of a few hundred bytes.
PUBLIC_REVALIDATE = "public, no-cache"
JSON = "application/json"


IfNoneMatch = Annotated[str | None, Header(description="The ETag of the copy the client holds: answered 304 "
                                                      "with no body while it is current")]
# What an operation answered from a PageCache adds to its document.
CACHED_RESPONSES: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not Modified: the ETag in If-None-Match is current; no body"}}


@dataclass(frozen=True, slots=True)
class CachedPage:
    body: bytes
    etag: str  # quoted: a strong entity tag as sent in the ETag header

    @classmethod
    def of(cls, body: bytes) -> CachedPage:
        return cls(body, f'"{hashlib.blake2b(body, digest_size=16).hexdigest()}"')


def not_modified(if_none_match: str | None, etag: str) -> bool:
    """Whether the client already holds ``etag`` (RFC 9110 §13.1.2: weak comparison, ``*`` matches)."""
    return if_none_match is not None and parse_etags(if_none_match).contains_weak(etag.strip('"'))


def respond(page: CachedPage, if_none_match: str | None, cache_control: str = PUBLIC_REVALIDATE) -> Response:
    """``304`` without a body when the client holds the page, else ``200`` with its bytes; both carry
    the ETag and the caching rule (RFC 9110 §15.4.5)."""
    headers = {"ETag": page.etag, "Cache-Control": cache_control}
    if not_modified(if_none_match, page.etag):
        return Response(status_code=304, headers=headers)
    return Response(page.body, media_type=JSON, headers=headers)


class PageCache:
    """The pages of one data set in this process, keyed by what the page depends on."""

    def __init__(self, name: str, *, max_pages: int = 1_000, max_unconfirmed_seconds: float = 5.0) -> None:
        self.name = name
        self.max_pages = max_pages
        self.max_unconfirmed_seconds = max_unconfirmed_seconds
        self.generation: int | None = None
        self._confirmed_at = float("-inf")
        self._pages: dict[object, CachedPage] = {}
        # Bound once: a labelled child looked up per request would cost more than the page itself.
        self._from_memory, self._built = PAGES.labels(name, "memory"), PAGES.labels(name, "built")

    def follow(self, generation: int) -> bool:
        """The generation as just read from the database; True when it moved (every page dropped)."""
        self._confirmed_at = time.monotonic()
        if generation == self.generation:
            return False
        self.generation = generation
        self._pages.clear()
        GENERATION.labels(self.name).set(generation)
        return True

    def forget(self) -> None:
        """This process just changed the data: drop every page and build each from the database until
        the next generation read confirms one (``follow``), so the writer reads their own write."""
        self.generation = None
        self._confirmed_at = float("-inf")
        self._pages.clear()

    def _fresh(self) -> bool:
        return time.monotonic() - self._confirmed_at <= self.max_unconfirmed_seconds

    async def page(self, key: object, build: Callable[[], Awaitable[bytes]]) -> CachedPage:
        """The page under ``key``, built (and kept, unless the generation moved meanwhile) when missing."""
        cached = self._pages.get(key)
        if cached is not None and self._fresh():
            self._from_memory.inc()
            return cached
        began_under = self.generation
        self._built.inc()  # counted before: a build that fails (a 404) was asked of the database too
        page = CachedPage.of(await build())
        if began_under == self.generation and self._fresh():
            if len(self._pages) >= self.max_pages:  # bounded: free-text queries must not grow it without end
                del self._pages[next(iter(self._pages))]
            self._pages[key] = page
        return page


async def follow_generation(cache: PageCache, read_generation: Callable[[], Awaitable[int]],
                            interval_seconds: float = 1.0) -> None:
    """Keep ``cache`` on the database's generation for as long as the process runs (a background job)."""
    while True:
        try:
            if cache.follow(await read_generation()):
                log.info("page_cache_dropped", cache=cache.name, generation=cache.generation)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # database away: pages stop being served once unconfirmed for too long
            log.warning("page_cache_generation_unread", error=type(e).__name__,
                        cause=type(getattr(e, "orig", None)).__name__)
        await asyncio.sleep(interval_seconds)
