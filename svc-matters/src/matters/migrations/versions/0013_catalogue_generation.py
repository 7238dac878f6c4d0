"""The catalogue's generation: a counter every change of ``matter_versions`` moves, in its own transaction.

Each replica keeps the serialised pages of the catalogue in memory (``kit.page_cache``) and reads this
counter every second to drop them when the catalogue changed. A trigger moves it rather than the code
that publishes: every writer of the table — an import, a migration seeding matters, an operator's fix
by hand — moves it, and none can forget to. Per statement, not per row: one import is one move.

Revision ID: 0013_catalogue_generation
Revises: 0012_application_assignee
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0013_catalogue_generation"
down_revision = "0012_application_assignee"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalogue_state",
        sa.Column("id", sa.SmallInteger(), primary_key=True),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_catalogue_state_one_row"),
    )
    op.execute("INSERT INTO catalogue_state (id, generation) VALUES (1, 0)")
    op.execute("""
        CREATE FUNCTION catalogue_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE catalogue_state SET generation = generation + 1 WHERE id = 1;
            RETURN NULL;
        END $$""")
    op.execute("CREATE TRIGGER matter_versions_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
               "ON matter_versions FOR EACH STATEMENT EXECUTE FUNCTION catalogue_changed()")


def downgrade() -> None:
    op.execute("DROP TRIGGER matter_versions_changed ON matter_versions")
    op.execute("DROP FUNCTION catalogue_changed()")
    op.drop_table("catalogue_state")
