"""Help videos (帮办微视频) managed by editors: every video set for a matter (an upload in the material blob
store, or a link) in ``help_videos``, and the one each guide version carries in ``matter_versions.help_video``.
Setting a video publishes a new guide version, so the catalogue's generation trigger (0013) drops the
cached pages.

Revision ID: 0015_help_videos
Revises: 0014_recognised_materials
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0015_help_videos"
down_revision = "0014_recognised_materials"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "help_videos",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("matter_code", sa.String(32), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("url", sa.Text()),
        sa.Column("sha256", sa.String(64)),
        sa.Column("content_type", sa.String(64)),
        sa.Column("size", sa.BigInteger()),
        sa.Column("filename", sa.String(255)),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_help_videos_matter_created", "help_videos", ["matter_code", "created_at"])
    op.add_column("matter_versions", sa.Column("help_video", postgresql.JSONB(astext_type=sa.Text())))


def downgrade() -> None:
    op.drop_column("matter_versions", "help_video")
    op.drop_index("ix_help_videos_matter_created", table_name="help_videos")
    op.drop_table("help_videos")
