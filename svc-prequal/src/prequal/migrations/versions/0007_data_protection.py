"""Data protection: the hash-chained audit log, and personal data at rest encrypted or hashed.

- ``audit_log`` (``kit.audit``): rule-set trial runs over recent applications' inputs;
- the personal values (``kit.protection.is_personal``) of ``prefill_submissions.form``,
  ``prefills.filled`` and ``verdicts.inputs -> 'form'`` encrypted in place under the active key;
- ``known_applications.applicant_key`` (a credit code or a resident ID number) replaced by its keyed
  lookup hash, which is what the duplicate-application comparison now stores and compares.

The keys are those the service runs with (``DATA_PROTECTION_*``): run ``lvrong-migrate`` with the
service's environment. Downgrade decrypts the values; the hashes cannot be undone (the comparison
then simply misses duplicates filed before the downgrade).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""
import re

from kit.audit import create_audit_log, drop_audit_log
from kit.migrations import rewrite_column
from kit.protection import keyring, protect_form, reveal_form

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_HASH = re.compile(r"^[0-9a-f]{64}$")


def _forms(transform) -> None:
    rewrite_column("prefill_submissions", ["application_id", "attempt"], "form", transform)
    rewrite_column("prefills", ["id"], "filled", transform)
    rewrite_column("verdicts", ["id"], "inputs",
                   lambda v: {**v, "form": transform(v["form"])} if isinstance(v, dict) and isinstance(v.get("form"), dict) else v)


def upgrade() -> None:
    create_audit_log()
    ring = keyring()
    _forms(lambda form: protect_form(form, ring))
    rewrite_column("known_applications", ["application_id"], "applicant_key",
                   lambda v: v if v is None or _HASH.match(v) else ring.lookup_hash(v, purpose="applicant"), jsonb=False)


def downgrade() -> None:
    ring = keyring()
    _forms(lambda form: reveal_form(form, ring))
    drop_audit_log()
