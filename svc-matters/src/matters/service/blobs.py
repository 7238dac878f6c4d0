"""The blob store for uploaded materials, chosen by ``MATTERS_BLOB_STORE``:

- ``postgres`` (the default): the bytes in svc-matters' own database, in 1 MiB chunks of ``bytea``
  (``material_blobs`` and ``material_blob_chunks``, revision 0007). Every replica reads what any other
  wrote, a backup of the database is a backup of the materials, and no pod needs a writable volume.
  Why chunked ``bytea`` and not large objects: see svc-matters/README.md ("Where materials are kept").
- ``filesystem``: files under ``MATTERS_BLOB_DIR``, for a single process on a workstation, or replicas
  that all mount one shared volume.

Both are content-addressed (the key is the SHA-256 of the bytes): the same file uploaded twice is
stored once, and a put of bytes already stored changes nothing.
"""
from __future__ import annotations

import asyncio
import os
import re
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

from sqlalchemy import text

from kit.db import Database
from matters.settings import BlobStoreKind

CHUNK_BYTES = 1024 * 1024
_KEY = re.compile(r"^[0-9a-f]{64}$")


class BlobNotFound(LookupError):
    """No blob under this key (a material whose bytes were never stored, or were lost)."""


class BlobStore(Protocol):
    async def put(self, key: str, data: bytes) -> None: ...
    async def exists(self, key: str) -> bool: ...
    def chunks(self, key: str) -> AsyncIterator[bytes]: ...


def _checked(key: str) -> str:
    if not _KEY.match(key):
        raise ValueError("invalid blob key: the SHA-256 of the content, in lower-case hex")
    return key


async def read_all(store: BlobStore, key: str) -> bytes:
    return b"".join([chunk async for chunk in store.chunks(key)])


class PostgresBlobStore:
    """Blobs as rows of the service's database: a header (size, chunk count) and its chunks, written in
    one transaction, so a reader finds a blob whole or not at all."""

    def __init__(self, database: Database, chunk_bytes: int = CHUNK_BYTES) -> None:
        self.database = database
        self.chunk_bytes = chunk_bytes

    async def put(self, key: str, data: bytes) -> None:
        _checked(key)
        chunk_count = max(1, -(-len(data) // self.chunk_bytes))
        async with self.database.engine.begin() as conn:
            # A concurrent put of the same bytes waits here for the first to commit, then finds the
            # key taken and writes nothing (or writes the blob itself if the first rolled back).
            created = await conn.scalar(text(
                "INSERT INTO material_blobs (key, size, chunk_count) VALUES (:key, :size, :chunks) "
                "ON CONFLICT (key) DO NOTHING RETURNING key"), {"key": key, "size": len(data), "chunks": chunk_count})
            if created is None:
                return
            for index in range(chunk_count):
                await conn.execute(text(
                    "INSERT INTO material_blob_chunks (key, index, data) VALUES (:key, :index, :data)"),
                    {"key": key, "index": index, "data": data[index * self.chunk_bytes:(index + 1) * self.chunk_bytes]})

    async def exists(self, key: str) -> bool:
        async with self.database.engine.connect() as conn:
            return await conn.scalar(text("SELECT true FROM material_blobs WHERE key = :key"),
                                     {"key": _checked(key)}) is not None

    async def chunks(self, key: str) -> AsyncIterator[bytes]:
        """The blob a chunk at a time; each chunk is one primary-key read on a connection taken from the
        pool and given back at once, so a slow download does not hold a connection (a blob never
        changes once written, so reading it across transactions is safe)."""
        async with self.database.engine.connect() as conn:
            chunk_count = await conn.scalar(text("SELECT chunk_count FROM material_blobs WHERE key = :key"),
                                            {"key": _checked(key)})
        if chunk_count is None:
            raise BlobNotFound(key)
        for index in range(chunk_count):
            async with self.database.engine.connect() as conn:
                yield await conn.scalar(text("SELECT data FROM material_blob_chunks WHERE key = :key AND index = :index"),
                                        {"key": key, "index": index})


class FilesystemBlobStore:
    """Content-addressed files under ``root``; written to a temporary name and renamed, so a reader never
    sees half a file and two processes writing the same content cannot corrupt it."""

    def __init__(self, root: Path, chunk_bytes: int = CHUNK_BYTES) -> None:
        self.root = root
        self.chunk_bytes = chunk_bytes

    def path(self, key: str) -> Path:
        return self.root / _checked(key)[:2] / key

    def write(self, key: str, data: bytes) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self.write, key, data)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.path(key).exists)

    async def chunks(self, key: str) -> AsyncIterator[bytes]:
        try:
            f = await asyncio.to_thread(self.path(key).open, "rb")
        except FileNotFoundError:
            raise BlobNotFound(key) from None
        try:
            while chunk := await asyncio.to_thread(f.read, self.chunk_bytes):
                yield chunk
        finally:
            f.close()


def blob_store(kind: BlobStoreKind, database: Database, blob_dir: Path) -> BlobStore:
    if kind is BlobStoreKind.POSTGRES:
        return PostgresBlobStore(database)
    return FilesystemBlobStore(blob_dir)
