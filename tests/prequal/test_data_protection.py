"""svc-prequal's personal data at rest (revisions 0007 and 0009): submissions kept for pre-fill and reviewed
inputs stored encrypted, the duplicate check's declared applicant kept as a keyed hash, and the rows
written before the revision converted by it."""
from __future__ import annotations

import asyncio
import json
import os
import re
from datetime import UTC, datetime

import asyncpg
from alembic import command
from sqlalchemy.engine import make_url

from kit.migrations import alembic_config, upgrade
from kit.protection import keyring, reveal_form
from prequal.settings import Settings
from support import drop_databases

PREFIX = os.environ.get("LVRONG_TEST_DATABASE_PREFIX", "lvrong_itest") + "_unit_pqprotect"
ID_NUMBER = "310115198506120014"
FORM = {"applicant_type": "individual", "applicant_id_number": ID_NUMBER, "contact_mobile": "13912345678",
        "contact_name": "张三丰", "species_name": "大熊猫"}


async def test_revision_0007_protects_what_was_stored_before_it(servers) -> None:
    settings = Settings(database_url=servers.database_url, database_name_prefix=PREFIX)
    await drop_databases(servers.database_url, [settings.database_name])
    url = make_url(servers.database_url)
    try:
        await asyncio.to_thread(upgrade, "prequal", settings, "0006")
        conn = await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username or "postgres",
                                     password=url.password, database=settings.database_name)
        try:
            now = datetime.now(UTC)
            form = json.dumps(FORM, ensure_ascii=False)
            await conn.execute(
                "INSERT INTO prefill_submissions (application_id, attempt, matter_code, matter_version, "
                "applicant_subject, form, materials, field_types, submitted_at) "
                "VALUES ('a1', 1, 'LR-XK-003', 1, 'u-old', $1::jsonb, '{}'::jsonb, '{}'::jsonb, $2)", form, now)
            await conn.execute(
                "INSERT INTO verdicts (id, application_id, attempt, matter_code, matter_version, applicant_subject, "
                "verdict, findings, ruleset, inputs, submitted_at) VALUES ('v1', 'a1', 1, 'LR-XK-003', 1, 'u-old', "
                "'passed', '[]'::jsonb, 'r', $1::jsonb, $2)", json.dumps({"form": FORM, "materials": {}}), now)
            await conn.execute(
                "INSERT INTO known_applications (application_id, matter_code, applicant_subject, applicant_key, status) "
                "VALUES ('a1', 'LR-XK-003', 'u-old', $1, 'submitted')", ID_NUMBER)

            # 0007 as released encrypts without digests; 0009 adds the digests the measures compare.
            await asyncio.to_thread(upgrade, "prequal", settings, "0008")
            assert "$digest" not in await conn.fetchval("SELECT form::text FROM prefill_submissions")
            await asyncio.to_thread(upgrade, "prequal", settings)
            protected = json.loads(await conn.fetchval("SELECT form::text FROM prefill_submissions"))
            digests = {k: v["$digest"] for k, v in protected.items() if isinstance(v, dict) and "$protected" in v}
            assert digests and digests == {k: keyring().lookup_hash(json.dumps(FORM[k], ensure_ascii=False),
                                                                    purpose=f"form:{k}") for k in digests}

            stored = "\n".join([
                await conn.fetchval("SELECT form::text FROM prefill_submissions"),
                await conn.fetchval("SELECT inputs::text FROM verdicts"),
                await conn.fetchval("SELECT applicant_key FROM known_applications"),
            ])
            for value in ("13912345678", "张三丰", ID_NUMBER):
                assert value not in stored
            assert reveal_form(json.loads(await conn.fetchval("SELECT form::text FROM prefill_submissions"))) == FORM
            key = await conn.fetchval("SELECT applicant_key FROM known_applications")
            assert re.fullmatch(r"[0-9a-f]{64}", key) and key == keyring().lookup_hash(ID_NUMBER, purpose="applicant")

            await asyncio.to_thread(command.downgrade, alembic_config("prequal", settings.service_database_url), "0006")
            assert json.loads(await conn.fetchval("SELECT form::text FROM prefill_submissions")) == FORM
            assert json.loads(await conn.fetchval("SELECT inputs::text FROM verdicts"))["form"] == FORM
        finally:
            await conn.close()
    finally:
        await drop_databases(servers.database_url, [settings.database_name])
