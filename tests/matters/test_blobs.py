"""The material blob stores on a real database and a real directory, and revision 0007 copying the files
of the earlier filesystem store into the database (and back on downgrade)."""
from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from pathlib import Path

import pytest
from alembic import command
from pydantic import ValidationError

from kit.migrations import alembic_config, upgrade
from matters.service.blobs import (
    BlobNotFound,
    FilesystemBlobStore,
    PostgresBlobStore,
    blob_store,
    read_all,
)
from matters.settings import BlobStoreKind, Settings
from support import connect, drop_databases, scratch_service_database

PREFIX = os.environ.get("LVRONG_TEST_DATABASE_PREFIX", "lvrong_itest") + "_unit_blobs"


@pytest.fixture(scope="module")
async def database(servers):
    async with scratch_service_database(servers.database_url, "matters", PREFIX) as db:
        yield db


def content(size: int) -> tuple[str, bytes]:
    data = os.urandom(size)
    return hashlib.sha256(data).hexdigest(), data


@pytest.fixture(params=["postgres", "filesystem"])
def store(request, database, tmp_path: Path):
    # Small chunks, so a few kilobytes cover a blob of several chunks and a short last one.
    return PostgresBlobStore(database, chunk_bytes=1000) if request.param == "postgres" \
        else FilesystemBlobStore(tmp_path, chunk_bytes=1000)


@pytest.mark.parametrize("size", [1, 999, 1000, 1001, 4321])
async def test_what_is_put_reads_back_identical_in_chunks(store, size: int) -> None:
    key, data = content(size)
    assert not await store.exists(key)
    await store.put(key, data)
    assert await store.exists(key)
    chunks = [chunk async for chunk in store.chunks(key)]
    assert b"".join(chunks) == data and len(chunks) == -(-size // 1000)
    assert all(len(chunk) == 1000 for chunk in chunks[:-1])


async def test_a_second_put_of_the_same_bytes_changes_nothing(database) -> None:
    store = PostgresBlobStore(database, chunk_bytes=1000)
    key, data = content(2500)
    await asyncio.gather(*(store.put(key, data) for _ in range(5)))
    await store.put(key, data)
    async with database.engine.connect() as conn:
        rows = (await conn.exec_driver_sql("SELECT (SELECT count(*) FROM material_blobs WHERE key = $1), "
                                           "(SELECT count(*) FROM material_blob_chunks WHERE key = $1)", (key,))).one()
    assert tuple(rows) == (1, 3)
    assert await read_all(store, key) == data


async def test_a_missing_blob_and_a_bad_key_are_told_apart(store) -> None:
    with pytest.raises(BlobNotFound):
        await read_all(store, "0" * 64)
    for bad in ("../../etc/passwd", "ABC", "0" * 63, ""):
        with pytest.raises(ValueError, match="invalid blob key"):
            await store.exists(bad)
        with pytest.raises(ValueError, match="invalid blob key"):
            await store.put(bad, b"x")


def test_the_store_is_chosen_by_matters_blob_store(monkeypatch: pytest.MonkeyPatch, database, tmp_path: Path) -> None:
    assert Settings().blob_store is BlobStoreKind.POSTGRES  # the default: every replica shares it
    monkeypatch.setenv("MATTERS_BLOB_STORE", "filesystem")
    monkeypatch.setenv("MATTERS_BLOB_DIR", str(tmp_path))
    settings = Settings()
    chosen = blob_store(settings.blob_store, database, settings.blob_dir)
    assert isinstance(chosen, FilesystemBlobStore) and chosen.root == tmp_path
    assert isinstance(blob_store(BlobStoreKind.POSTGRES, database, tmp_path), PostgresBlobStore)
    monkeypatch.setenv("MATTERS_BLOB_STORE", "s3")
    with pytest.raises(ValidationError, match="blob_store"):
        Settings()


async def test_revision_0007_copies_the_filesystem_blobs_in_and_the_downgrade_writes_them_back(
        servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = FilesystemBlobStore(tmp_path / "blobs")
    monkeypatch.setenv("MATTERS_BLOB_DIR", str(files.root))
    settings = Settings(database_url=servers.database_url, database_name_prefix=PREFIX + "_rev")
    await drop_databases(servers.database_url, [settings.database_name])
    big_key, big = content(2 * 1024 * 1024 + 7)  # three chunks of the real size
    small_key, small = content(10)
    lost_key = "f" * 64  # a material whose file is gone
    await files.put(big_key, big)
    await files.put(small_key, small)
    try:
        await asyncio.to_thread(upgrade, "matters", settings, "0006")
        conn = await connect(servers.database_url, settings.database_name)
        try:
            for key, size in ((big_key, len(big)), (small_key, len(small)), (big_key, len(big)), (lost_key, 1)):
                await conn.execute("INSERT INTO materials (id, owner_subject, filename, content_type, size, sha256, "
                                   "storage_key) VALUES ($1, 'u-old', 'a.pdf', 'application/pdf', $2, $3, $3)",
                                   uuid.uuid4().hex, size, key)
            await asyncio.to_thread(upgrade, "matters", settings)
            assert await conn.fetchval("SELECT count(*) FROM material_blobs") == 2
            assert await conn.fetchval("SELECT chunk_count FROM material_blobs WHERE key = $1", big_key) == 3
            stored = await conn.fetchval("SELECT string_agg(data, ''::bytea ORDER BY index) FROM material_blob_chunks "
                                         "WHERE key = $1", big_key)
            assert stored == big
            # Downgrade to a filesystem store: the files are written back from the database.
            for path in files.root.rglob("*"):
                if path.is_file():
                    path.unlink()
            await asyncio.to_thread(command.downgrade, alembic_config("matters", settings.service_database_url), "0006")
            assert files.path(big_key).read_bytes() == big and files.path(small_key).read_bytes() == small
            assert not await conn.fetchval("SELECT to_regclass('material_blobs') IS NOT NULL")
        finally:
            await conn.close()
    finally:
        await drop_databases(servers.database_url, [settings.database_name])
