"""Uploaded materials kept in the database (``MATTERS_BLOB_STORE=postgres``, now the default), so every
replica of svc-matters reads what another wrote and the database backup holds them too.

The files an earlier filesystem store wrote under ``MATTERS_BLOB_DIR`` (default ``var/blobs``) are
copied in for every material that names them, so run ``lvrong-migrate matters`` with the service's
environment (the directory is read, never changed). A material whose file is not there is counted and
logged by key (a content hash, nothing personal); it cannot be downloaded. The downgrade writes the blobs back as files under ``MATTERS_BLOB_DIR`` before dropping the tables.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""
import sqlalchemy as sa
import structlog
from alembic import op

from matters.service.blobs import CHUNK_BYTES, FilesystemBlobStore
from matters.settings import Settings

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

log = structlog.get_logger("matters.migrations")


def upgrade() -> None:
    op.create_table(
        "material_blobs",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("chunk_count", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "material_blob_chunks",
        sa.Column("key", sa.String(64), sa.ForeignKey("material_blobs.key", ondelete="CASCADE"), primary_key=True),
        sa.Column("index", sa.Integer, primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    # PDFs, JPEGs and PNGs are compressed already: out of line without another compression attempt.
    op.execute("ALTER TABLE material_blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL")
    copy_files_in(FilesystemBlobStore(Settings().blob_dir))


def copy_files_in(files: FilesystemBlobStore) -> None:
    bind = op.get_bind()
    keys = bind.execute(sa.text(
        "SELECT DISTINCT m.storage_key FROM materials m "
        "WHERE NOT EXISTS (SELECT 1 FROM material_blobs b WHERE b.key = m.storage_key)")).scalars().all()
    copied, missing = 0, []
    for key in keys:
        path = files.path(key)
        if not path.is_file():
            missing.append(key)
            continue
        data = path.read_bytes()
        chunk_count = max(1, -(-len(data) // CHUNK_BYTES))
        bind.execute(sa.text("INSERT INTO material_blobs (key, size, chunk_count) VALUES (:key, :size, :chunks)"),
                     {"key": key, "size": len(data), "chunks": chunk_count})
        for index in range(chunk_count):
            bind.execute(sa.text("INSERT INTO material_blob_chunks (key, index, data) VALUES (:key, :index, :data)"),
                         {"key": key, "index": index, "data": data[index * CHUNK_BYTES:(index + 1) * CHUNK_BYTES]})
        copied += 1
    if keys:
        log.info("material_blobs_copied_in", directory=str(files.root), copied=copied, missing=len(missing))
    if missing:
        log.warning("material_blobs_missing", directory=str(files.root), keys=missing[:100])


def downgrade() -> None:
    files = FilesystemBlobStore(Settings().blob_dir)
    bind = op.get_bind()
    for key in bind.execute(sa.text("SELECT key FROM material_blobs")).scalars().all():
        chunks = bind.execute(sa.text("SELECT data FROM material_blob_chunks WHERE key = :key ORDER BY index"),
                              {"key": key}).scalars().all()
        files.write(key, b"".join(chunks))
    op.drop_table("material_blob_chunks")
    op.drop_table("material_blobs")
