"""The whole life of an application: clocks, materials and exemptions, bundles, 免申即享, stalls,
company authorisations; matters may also be public-service items (公共服务事项).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 09:54:57.103499
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bundles",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("bundle_type", sa.String(length=64), nullable=False),
        sa.Column("applicant_subject", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bundles")),
    )
    op.create_index(op.f("ix_bundles_applicant_subject"), "bundles", ["applicant_subject"], unique=False)
    op.create_table(
        "company_authorisations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("org_code", sa.String(length=18), nullable=False),
        sa.Column("grantee_subject", sa.String(length=128), nullable=False),
        sa.Column("granted_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_company_authorisations")),
    )
    op.create_index("ix_company_authorisations_grantee", "company_authorisations", ["grantee_subject"], unique=False)
    op.create_index(
        "uq_company_authorisations_active",
        "company_authorisations",
        ["org_code", "grantee_subject"],
        unique=True,
        postgresql_where="revoked_at IS NULL",
    )
    op.create_table(
        "materials",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner_subject", sa.String(length=128), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_materials")),
    )
    op.create_index(op.f("ix_materials_owner_subject"), "materials", ["owner_subject"], unique=False)
    op.create_table(
        "registered_businesses",
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("business_scope", sa.Text(), nullable=False),
        sa.Column("district", sa.String(length=20), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("licences", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("uscc", name=op.f("pk_registered_businesses")),
    )
    op.create_table(
        "application_materials",
        sa.Column("application_id", sa.String(length=32), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("material_id", sa.String(length=32), nullable=True),
        sa.Column("licence_id", sa.String(length=128), nullable=True),
        sa.Column("from_application_id", sa.String(length=32), nullable=True),
        sa.Column("exemption_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["application_id"], ["applications.id"], name=op.f("fk_application_materials_application_id_applications")
        ),
        sa.ForeignKeyConstraint(
            ["material_id"], ["materials.id"], name=op.f("fk_application_materials_material_id_materials")
        ),
        sa.PrimaryKeyConstraint("application_id", "attempt", "code", name=op.f("pk_application_materials")),
    )
    op.create_index(
        op.f("ix_application_materials_material_id"), "application_materials", ["material_id"], unique=False
    )
    op.create_table(
        "benefit_grants",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("benefit", sa.String(length=64), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("application_id", sa.String(length=32), nullable=False),
        sa.Column("rule_version", sa.String(length=32), nullable=False),
        sa.Column("matched_rules", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"], ["applications.id"], name=op.f("fk_benefit_grants_application_id_applications")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_benefit_grants")),
        sa.UniqueConstraint("benefit", "uscc", name="uq_benefit_grants_benefit_uscc"),
    )
    op.create_table(
        "clock_extensions",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("application_id", sa.String(length=32), nullable=False),
        sa.Column("working_days", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor_subject", sa.String(length=128), nullable=False),
        sa.Column("extended_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"], ["applications.id"], name=op.f("fk_clock_extensions_application_id_applications")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clock_extensions")),
    )
    op.create_index(op.f("ix_clock_extensions_application_id"), "clock_extensions", ["application_id"], unique=False)
    op.create_table(
        "clock_pauses",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("application_id", sa.String(length=32), nullable=False),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resumed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("working_days", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["application_id"], ["applications.id"], name=op.f("fk_clock_pauses_application_id_applications")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clock_pauses")),
    )
    op.create_index(op.f("ix_clock_pauses_application_id"), "clock_pauses", ["application_id"], unique=False)
    op.create_table(
        "stalls",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("application_id", sa.String(length=32), nullable=False),
        sa.Column("matter_code", sa.String(length=32), nullable=False),
        sa.Column("department", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("idle_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("threshold_hours", sa.Double(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["application_id"], ["applications.id"], name=op.f("fk_stalls_application_id_applications")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stalls")),
    )
    op.create_index(op.f("ix_stalls_application_id"), "stalls", ["application_id"], unique=False)
    op.create_index("ix_stalls_matter_status", "stalls", ["matter_code", "status"], unique=False)
    op.create_index(
        "uq_stalls_open", "stalls", ["application_id", "status"], unique=True, postgresql_where="resolved_at IS NULL"
    )
    op.add_column("application_steps", sa.Column("from_status", sa.String(length=32), nullable=True))
    op.add_column("application_steps", sa.Column("actor_name", sa.String(length=200), nullable=True))
    op.add_column(
        "applications", sa.Column("department", sa.String(length=200), nullable=False, server_default=sa.text("''"))
    )
    op.add_column(
        "applications",
        sa.Column("matter_kind", sa.String(length=16), nullable=False, server_default=sa.text("'licence'")),
    )
    op.add_column(
        "applications",
        sa.Column("origin", sa.String(length=16), nullable=False, server_default=sa.text("'application'")),
    )
    op.add_column("applications", sa.Column("bundle_id", sa.String(length=32), nullable=True))
    op.add_column(
        "applications", sa.Column("exempted_materials", sa.Integer(), nullable=False, server_default=sa.text("0"))
    )
    op.add_column(
        "applications",
        sa.Column("status_since", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )
    op.add_column("applications", sa.Column("prereviewed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("applications", sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("applications", sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("applications", sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("applications", sa.Column("clock_started_on", sa.Date(), nullable=True))
    op.add_column("applications", sa.Column("clock_limit_days", sa.Integer(), nullable=True))
    op.add_column("applications", sa.Column("clock_due_date", sa.Date(), nullable=True))
    op.add_column("applications", sa.Column("clock_paused_since", sa.DateTime(timezone=True), nullable=True))
    op.add_column("applications", sa.Column("clock_stopped_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "applications", sa.Column("clock_warned_percent", sa.Integer(), nullable=False, server_default=sa.text("0"))
    )
    op.add_column("applications", sa.Column("clock_next_warning_on", sa.Date(), nullable=True))
    op.create_index(
        "ix_applications_next_warning",
        "applications",
        ["clock_next_warning_on"],
        unique=False,
        postgresql_where="clock_next_warning_on IS NOT NULL",
    )
    # Applications filed before this revision take their department and kind from their matter version.
    op.execute("""
        UPDATE applications a SET department = m.department, matter_kind = m.kind
        FROM matter_versions m WHERE m.code = a.matter_code AND m.version = a.matter_version
    """)
    op.execute("UPDATE applications SET status_since = updated_at")
    op.drop_constraint(op.f("ck_matter_versions_kind"), "matter_versions", type_="check")
    op.create_check_constraint(
        op.f("ck_matter_versions_kind"), "matter_versions", "kind IN ('licence', 'filing', 'public_service')"
    )
    op.create_index("ix_applications_bundle", "applications", ["bundle_id"], unique=False)
    op.create_index(
        "ix_applications_department_created", "applications", ["department", "created_at", "id"], unique=False
    )
    op.create_index("ix_applications_matter_created", "applications", ["matter_code", "created_at"], unique=False)
    op.create_index(
        "ix_applications_org_created", "applications", ["applicant_org_code", "created_at", "id"], unique=False
    )
    op.create_index(
        "ix_applications_running_clock",
        "applications",
        ["department", "clock_due_date"],
        unique=False,
        postgresql_where="clock_started_on IS NOT NULL AND clock_stopped_at IS NULL",
    )
    op.create_index("ix_applications_status_since", "applications", ["status", "status_since"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_applications_next_warning", table_name="applications")
    op.drop_column("applications", "clock_next_warning_on")
    op.drop_constraint(op.f("ck_matter_versions_kind"), "matter_versions", type_="check")
    op.create_check_constraint(op.f("ck_matter_versions_kind"), "matter_versions", "kind IN ('licence', 'filing')")
    op.drop_index("ix_applications_status_since", table_name="applications")
    op.drop_index(
        "ix_applications_running_clock",
        table_name="applications",
        postgresql_where="clock_started_on IS NOT NULL AND clock_stopped_at IS NULL",
    )
    op.drop_index("ix_applications_org_created", table_name="applications")
    op.drop_index("ix_applications_matter_created", table_name="applications")
    op.drop_index("ix_applications_department_created", table_name="applications")
    op.drop_index("ix_applications_bundle", table_name="applications")
    op.drop_column("applications", "clock_warned_percent")
    op.drop_column("applications", "clock_stopped_at")
    op.drop_column("applications", "clock_paused_since")
    op.drop_column("applications", "clock_due_date")
    op.drop_column("applications", "clock_limit_days")
    op.drop_column("applications", "clock_started_on")
    op.drop_column("applications", "completed_at")
    op.drop_column("applications", "decided_at")
    op.drop_column("applications", "accepted_at")
    op.drop_column("applications", "prereviewed_at")
    op.drop_column("applications", "status_since")
    op.drop_column("applications", "exempted_materials")
    op.drop_column("applications", "bundle_id")
    op.drop_column("applications", "origin")
    op.drop_column("applications", "matter_kind")
    op.drop_column("applications", "department")
    op.drop_column("application_steps", "actor_name")
    op.drop_column("application_steps", "from_status")
    op.drop_index("uq_stalls_open", table_name="stalls", postgresql_where="resolved_at IS NULL")
    op.drop_index("ix_stalls_matter_status", table_name="stalls")
    op.drop_index(op.f("ix_stalls_application_id"), table_name="stalls")
    op.drop_table("stalls")
    op.drop_index(op.f("ix_clock_pauses_application_id"), table_name="clock_pauses")
    op.drop_table("clock_pauses")
    op.drop_index(op.f("ix_clock_extensions_application_id"), table_name="clock_extensions")
    op.drop_table("clock_extensions")
    op.drop_table("benefit_grants")
    op.drop_index(op.f("ix_application_materials_material_id"), table_name="application_materials")
    op.drop_table("application_materials")
    op.drop_table("registered_businesses")
    op.drop_index(op.f("ix_materials_owner_subject"), table_name="materials")
    op.drop_table("materials")
    op.drop_index(
        "uq_company_authorisations_active", table_name="company_authorisations", postgresql_where="revoked_at IS NULL"
    )
    op.drop_index("ix_company_authorisations_grantee", table_name="company_authorisations")
    op.drop_table("company_authorisations")
    op.drop_index(op.f("ix_bundles_applicant_subject"), table_name="bundles")
    op.drop_table("bundles")
