"""Keyed digests beside the encrypted personal values of ``prefill_submissions.form`` and
``prefills.filled``: the measures compare those values in SQL (a resubmission kept unchanged), which
random-nonce ciphertexts cannot be compared for. Rows written before the service kept digests get them
here; rows that have them are left alone.

Revision 0007 first encrypted these values without digests and is left as it was released, so a
database that ran it is brought up to date by this revision. Needs the service's
``DATA_PROTECTION_*`` keys, like 0007.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""
from typing import Any

from kit.migrations import rewrite_column
from kit.protection import DIGEST_MARKER, PROTECTED_MARKER, keyring, protect_form, reveal_form

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_COMPARED = (("prefill_submissions", ["application_id", "attempt"], "form"), ("prefills", ["id"], "filled"))


def _protected(value: Any) -> bool:
    return isinstance(value, dict) and PROTECTED_MARKER in value


def upgrade() -> None:
    ring = keyring()

    def with_digests(form: Any) -> Any:
        if not isinstance(form, dict) or all(DIGEST_MARKER in v for v in form.values() if _protected(v)):
            return form
        return protect_form(reveal_form(form, ring), ring, digests=True)

    for table, keys, column in _COMPARED:
        rewrite_column(table, keys, column, with_digests)


def downgrade() -> None:
    def without_digests(form: Any) -> Any:
        if not isinstance(form, dict):
            return form
        return {k: {PROTECTED_MARKER: v[PROTECTED_MARKER]} if _protected(v) else v for k, v in form.items()}

    for table, keys, column in _COMPARED:
        rewrite_column(table, keys, column, without_digests)
