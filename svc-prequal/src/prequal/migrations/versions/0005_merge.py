"""Join the pre-fill and shadow-mode branches, written side by side.

Revision ID: 0005
Revises: 0003_prefill, 0004_shadow
Create Date: 2026-11-27
"""

revision = "0005"
down_revision = ("0003_prefill", "0004_shadow")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
