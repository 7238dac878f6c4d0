"""Data protection: the hash-chained audit log, and personal form values encrypted at rest.

- ``audit_log`` (``kit.audit``): staff actions on applications, reads of personal data by others
  than the applicant, and company authorisations granted or revoked;
- the personal values of every stored form (resident ID numbers, phone numbers, names of people:
  ``kit.protection.is_personal``) are encrypted in place under the active data-protection key;
  from now on ``Application.form`` is a ``ProtectedForm`` column that encrypts them on write.
  The keys are those the service runs with (``DATA_PROTECTION_*``), so run ``lvrong-migrate`` with
  the service's environment.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""
from kit.audit import create_audit_log, drop_audit_log
from kit.migrations import rewrite_column
from kit.protection import keyring, protect_form, reveal_form

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _rewrite_forms(transform) -> None:
    rewrite_column("applications", ["id"], "form", transform)


def upgrade() -> None:
    create_audit_log()
    ring = keyring()
    _rewrite_forms(lambda form: protect_form(form, ring))


def downgrade() -> None:
    ring = keyring()
    _rewrite_forms(lambda form: reveal_form(form, ring))
    drop_audit_log()
