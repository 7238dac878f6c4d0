"""Serialised pages with strong ETags (kit.page_cache): what is kept, what is dropped, and when a client
holding an ETag is answered 304."""
from __future__ import annotations

import asyncio

import pytest

from kit.page_cache import CachedPage, PageCache, respond


def built(body: bytes, calls: list[bytes]):
    async def build() -> bytes:
        calls.append(body)
        return body
    return build


async def test_a_page_is_built_once_per_generation_and_again_after_it_moved() -> None:
    cache, calls = PageCache("test"), []
    cache.follow(1)
    first = await cache.page("k", built(b'{"v":1}', calls))
    assert await cache.page("k", built(b"unused", calls)) == first and calls == [b'{"v":1}']
    assert cache.follow(1) is False  # the same generation keeps the pages
    assert await cache.page("k", built(b"unused", calls)) == first
    assert cache.follow(2) is True
    second = await cache.page("k", built(b'{"v":2}', calls))
    assert second.body == b'{"v":2}' and second.etag != first.etag and calls == [b'{"v":1}', b'{"v":2}']


async def test_a_page_built_while_the_generation_moved_is_answered_but_not_kept() -> None:
    cache, calls = PageCache("test"), []
    cache.follow(1)
    started, release = asyncio.Event(), asyncio.Event()

    async def slow() -> bytes:
        started.set()
        await release.wait()  # read under generation 1, possibly before the change committed
        return b"old"

    pending = asyncio.create_task(cache.page("k", slow))
    await started.wait()  # the fill has begun under generation 1
    cache.follow(2)
    release.set()
    assert (await pending).body == b"old"  # this request's answer
    assert (await cache.page("k", built(b"new", calls))).body == b"new" and calls == [b"new"]


async def test_nothing_is_kept_before_the_generation_was_read_nor_after_the_writer_forgot() -> None:
    cache, calls = PageCache("test"), []
    await cache.page("k", built(b"a", calls))
    await cache.page("k", built(b"b", calls))
    assert calls == [b"a", b"b"]  # never confirmed: every read builds
    cache.follow(1)
    await cache.page("k", built(b"c", calls))
    cache.forget()  # this process changed the data
    await cache.page("k", built(b"d", calls))
    await cache.page("k", built(b"e", calls))
    assert calls == [b"a", b"b", b"c", b"d", b"e"]
    cache.follow(2)
    await cache.page("k", built(b"f", calls))
    await cache.page("k", built(b"unused", calls))
    assert calls[-1] == b"f"


async def test_pages_are_not_served_once_the_generation_went_unconfirmed_too_long() -> None:
    cache, calls = PageCache("test", max_unconfirmed_seconds=0.0), []
    cache.follow(1)
    await cache.page("k", built(b"a", calls))
    await cache.page("k", built(b"b", calls))
    assert calls == [b"a", b"b"]  # the database could not confirm that the kept page is current


async def test_the_cache_holds_at_most_max_pages() -> None:
    cache, calls = PageCache("test", max_pages=2), []
    cache.follow(1)
    for key in ("a", "b", "c"):
        await cache.page(key, built(key.encode(), calls))
    await cache.page("c", built(b"unused", calls))
    await cache.page("a", built(b"a", calls))  # the oldest went first
    assert calls == [b"a", b"b", b"c", b"a"]


PAGE = CachedPage.of(b'{"items":[]}')


@pytest.mark.parametrize(("if_none_match", "status"), [
    (None, 200), (PAGE.etag, 304), (f"W/{PAGE.etag}", 304), ("*", 304), (f'"other", {PAGE.etag}', 304),
    ('"other"', 200), ("", 200), ('"a,b", "c"', 200), ("garbage ,,, \"", 200),
])
def test_if_none_match(if_none_match: str | None, status: int) -> None:
    response = respond(PAGE, if_none_match)
    assert response.status_code == status
    assert response.headers["etag"] == PAGE.etag and response.headers["cache-control"] == "public, no-cache"
    assert response.body == (b"" if status == 304 else PAGE.body)
    assert ("content-length" in response.headers) == (status == 200)


def test_the_etag_is_strong_and_names_the_bytes() -> None:
    assert PAGE.etag.startswith('"') and not PAGE.etag.startswith("W/")
    assert CachedPage.of(b'{"items":[]}').etag == PAGE.etag != CachedPage.of(b'{"items":[1]}').etag
