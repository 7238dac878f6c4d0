"""A 20 MB material written and read back: svc-matters' store (chunked ``bytea``, 1 MiB chunks, one
transaction per put, one primary-key read per chunk) against PostgreSQL large objects
(``lo_from_bytea`` in one statement, ``lo_get`` in 1 MiB slices), on the configured PostgreSQL, in a
scratch database migrated like svc-matters' own (prefix ``lvrong_benchblobs``).

Each round stores fresh random bytes (incompressible, like a scanned PDF or a JPEG) and reads them
back; the median and the best of the rounds are printed in milliseconds.

Usage: DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres python tests/bench/bench_blobs.py [--rounds 7]
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import statistics
import sys
import time
from pathlib import Path

from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from matters.service.blobs import CHUNK_BYTES, PostgresBlobStore, read_all  # noqa: E402
from support import scratch_service_database  # noqa: E402

SIZE = 20 * 1024 * 1024


async def chunked(store: PostgresBlobStore, data: bytes) -> tuple[float, float]:
    key = hashlib.sha256(data).hexdigest()
    started = time.perf_counter()
    await store.put(key, data)
    written = time.perf_counter()
    assert await read_all(store, key) == data
    return written - started, time.perf_counter() - written


async def large_object(store: PostgresBlobStore, data: bytes) -> tuple[float, float]:
    engine = store.database.engine
    started = time.perf_counter()
    async with engine.begin() as conn:
        oid = await conn.scalar(text("SELECT lo_from_bytea(0, :data)"), {"data": data})
    written = time.perf_counter()
    parts = []
    for offset in range(0, len(data), CHUNK_BYTES):
        async with engine.begin() as conn:
            parts.append(await conn.scalar(text("SELECT lo_get(:oid, :offset, :length)"),
                                           {"oid": oid, "offset": offset, "length": CHUNK_BYTES}))
    read = time.perf_counter()
    assert b"".join(parts) == data
    async with engine.begin() as conn:
        await conn.execute(text("SELECT lo_unlink(:oid)"), {"oid": oid})
    return written - started, read - written


async def main(rounds: int) -> None:
    database_url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    async with scratch_service_database(database_url, "matters", "lvrong_benchblobs") as database:
        store = PostgresBlobStore(database)
        results: dict[str, list[tuple[float, float]]] = {"chunked bytea": [], "large object": []}
        for _ in range(rounds):
            results["chunked bytea"].append(await chunked(store, os.urandom(SIZE)))
            results["large object"].append(await large_object(store, os.urandom(SIZE)))
        async with database.engine.connect() as conn:
            server = await conn.scalar(text("SHOW server_version"))
            fsync = await conn.scalar(text("SHOW fsync"))
    print(f"20 MB blob, {rounds} rounds, PostgreSQL {server} (fsync {fsync}): median / best, ms")
    for name, timings in results.items():
        writes, reads = [w * 1000 for w, _ in timings], [r * 1000 for _, r in timings]
        print(f"  {name:14} write {statistics.median(writes):7.0f} / {min(writes):7.0f}"
              f"   read {statistics.median(reads):7.0f} / {min(reads):7.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    asyncio.run(main(parser.parse_args().rounds))
