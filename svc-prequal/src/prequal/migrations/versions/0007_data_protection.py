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
import json
import re

import sqlalchemy as sa
from alembic import op

from kit.audit import create_audit_log, drop_audit_log
from kit.protection import keyring, protect_form, reveal_form

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_BATCH = 1000
_HASH = re.compile(r"^[0-9a-f]{64}$")


def _rewrite(table: str, key_columns: list[str], column: str, transform) -> None:  # noqa: ANN001
    """Apply ``transform`` to ``column`` of every row, in key order, a batch at a time."""
    bind = op.get_bind()
    keys = ", ".join(key_columns)
    last: tuple | None = None
    while True:
        after = f"WHERE ({keys}) > ({', '.join(':k' + str(i) for i in range(len(key_columns)))})" if last else ""
        params = {f"k{i}": v for i, v in enumerate(last or ())}
        rows = bind.execute(sa.text(f"SELECT {keys}, {column} AS value FROM {table} {after} ORDER BY {keys} LIMIT {_BATCH}"),
                            params).all()
        if not rows:
            return
        for row in rows:
            value = row.value if not isinstance(row.value, str) or column == "applicant_key" else json.loads(row.value)
            new = transform(value)
            if new != value:
                where = " AND ".join(f"{k} = :k{i}" for i, k in enumerate(key_columns))
                cast = "" if column == "applicant_key" else "CAST(:value AS jsonb)"
                bind.execute(sa.text(f"UPDATE {table} SET {column} = {cast or ':value'} WHERE {where}"),
                             {"value": new if column == "applicant_key" else json.dumps(new, ensure_ascii=False),
                              **{f"k{i}": v for i, v in enumerate(row[:len(key_columns)])}})
        last = tuple(rows[-1][:len(key_columns)])


def _forms(transform, compared) -> None:  # noqa: ANN001
    """``compared`` for the tables whose values the measures compare in SQL (they keep digests)."""
    _rewrite("prefill_submissions", ["application_id", "attempt"], "form", compared)
    _rewrite("prefills", ["id"], "filled", compared)
    _rewrite("verdicts", ["id"], "inputs",
             lambda v: {**v, "form": transform(v["form"])} if isinstance(v, dict) and isinstance(v.get("form"), dict) else v)


def upgrade() -> None:
    create_audit_log()
    ring = keyring()
    _forms(lambda form: protect_form(form, ring), lambda form: protect_form(form, ring, digests=True))
    _rewrite("known_applications", ["application_id"], "applicant_key",
             lambda v: v if v is None or _HASH.match(v) else ring.lookup_hash(v, purpose="applicant"))


def downgrade() -> None:
    ring = keyring()
    _forms(lambda form: reveal_form(form, ring), lambda form: reveal_form(form, ring))
    drop_audit_log()
