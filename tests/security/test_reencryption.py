"""The key-rotation job (kit.reencryption, ``lvrong-reencrypt``) on real service databases: values
written under key A, the keyring rotated to B, the job run — every value under B and reading the same;
stopped halfway and run again; a second run changing nothing; a row a service updates meanwhile keeping
the update; and the columns it finds in every service."""
from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from tongsuopy.crypto.ciphers.aead import SM4GCM as TongsuoSM4GCM

from helpdesk.models import Base as HelpdeskBase
from helpdesk.models import Ticket
from kit.protection import SM4_GCM, Keyring, protect_form, using_keyring
from kit.reencryption import ColumnResult, census, protected_columns, reencrypt_database, service_columns
from matters.models import Application
from matters.models import Base as MattersBase
from prequal.models import Base as PrequalBase
from prequal.models import SubmissionSeen, Verdict
from support import scratch_service_database

PREFIX = os.environ.get("LVRONG_TEST_DATABASE_PREFIX", "lvrong_itest") + "_unit_reencrypt"
KEY_A, KEY_B, LOOKUP = secrets.token_bytes(32), secrets.token_bytes(32), secrets.token_bytes(32)
RING_A = Keyring({"key-a": KEY_A}, "key-a", LOOKUP)
RING_AB = Keyring({"key-a": KEY_A, "key-b": KEY_B}, "key-b", LOOKUP)


def test_the_job_finds_every_protected_column_of_every_service() -> None:
    found = {service: {c.name for c in service_columns(service)}
             for service in ("matters", "prequal", "licences", "helpdesk", "knowledge", "notifications", "booking")}
    assert found == {
        "matters": {"applications.form", "outbox.envelope"},
        "prequal": {"verdicts.inputs", "prefill_submissions.form", "prefills.filled", "outbox.envelope"},
        "licences": {"known_applications.form", "licences.holder_name", "licences.holder_code", "licences.credential",
                     "licence_versions.credential", "licences.sm2_document", "licence_versions.sm2_document",
                     "holder_codes.holder_name", "licence_import_lines.payload", "outbox.envelope"},
        "helpdesk": {"tickets.contact_name", "tickets.contact_phone", "outbox.envelope"},
        "knowledge": {"outbox.envelope"},
        "notifications": {"recipients.email", "recipients.phone", "outbox.envelope"},
        "booking": {"bookings.person_name", "bookings.id_number", "bookings.phone", "outbox.envelope"},
    }
    contexts = {c.name: c.context for c in service_columns("helpdesk")}
    assert contexts["tickets.contact_phone"] == "tickets.contact_phone" and contexts["outbox.envelope"] is None


@pytest.fixture(scope="module")
async def matters_db(servers):
    async with scratch_service_database(servers.database_url, "matters", PREFIX) as db:
        yield db


@pytest.fixture(scope="module")
async def helpdesk_db(servers):
    async with scratch_service_database(servers.database_url, "helpdesk", PREFIX) as db:
        yield db


def personal(n: int) -> dict[str, Any]:
    return {"applicant_id_number": f"31011519850612{n:04d}", "contact_mobile": f"139{n:08d}",
            "contact_name": f"张{n}", "species_name": "香樟", "quantity": n}


async def seed_applications(database, count: int) -> dict[str, dict[str, Any]]:
    """``count`` applications written under key A, and one event of each waiting in the outbox."""
    now = datetime.now(UTC)
    forms = {uuid.uuid4().hex: personal(n) for n in range(count)}
    with using_keyring(RING_A):
        async with database.transaction() as session:
            await session.execute(text("TRUNCATE applications, outbox CASCADE"))
            session.add_all(Application(
                id=app_id, matter_code="LR-XK-003", matter_version=1, matter_kind="licence", department="许可处",
                origin="application", applicant_subject="u-owner", applicant_kind="person", form=form, materials={},
                status="submitted", attempt=1, exempted_materials=0, clock_warned_percent=0, created_at=now,
                updated_at=now, status_since=now) for app_id, form in forms.items())
            for app_id, form in forms.items():
                envelope = {"id": uuid.uuid4().hex, "data": {"application_id": app_id, "form": protect_form(form)}}
                await session.execute(text(
                    "INSERT INTO outbox (event_id, subject, envelope) VALUES (:id, 'lvrong.matters.test', "
                    "CAST(:envelope AS jsonb))"), {"id": envelope["id"], "envelope": json.dumps(envelope)})
    return forms


async def stored(engine: AsyncEngine, sql: str) -> dict[str, str]:
    async with engine.connect() as conn:
        return {row[0]: row[1] for row in await conn.execute(text(sql))}


async def read_forms(database) -> dict[str, dict[str, Any]]:
    with using_keyring(RING_AB):
        async with database.session() as session:
            return {a.id: a.form for a in (await session.scalars(select(Application))).all()}


async def rotate(database, **kwargs: Any):
    return await reencrypt_database(database.engine, protected_columns(MattersBase.metadata), service="matters",
                                    ring=RING_AB, **kwargs)


async def test_rotation_moves_every_value_to_the_new_key_and_a_second_run_changes_nothing(matters_db) -> None:
    forms = await seed_applications(matters_db, 25)
    raw = await stored(matters_db.engine, "SELECT id, form::text FROM applications")
    assert all('"pd1.key-a.' in value and '"pd1.key-b.' not in value for value in raw.values())

    result = await rotate(matters_db, batch_size=7)

    assert result.changed_rows == 50 and result.remaining == {}
    by_column = {c.column: c for c in result.columns}
    assert by_column["applications.form"].changed_values == 75 and by_column["outbox.envelope"].changed_values == 75
    for table, column in (("applications", "form"), ("outbox", "envelope")):
        after = await stored(matters_db.engine, f"SELECT {'id' if table == 'applications' else 'event_id'}, "
                                                f"{column}::text FROM {table}")
        assert all('"pd1.key-a.' not in value and value.count('"pd1.key-b.') == 3 for value in after.values())
    assert await read_forms(matters_db) == forms
    # The keyed hashes of lookups are not touched by a data-key rotation: a form's digests stay valid.
    again_before = await stored(matters_db.engine, "SELECT id, form::text FROM applications")
    again = await rotate(matters_db, batch_size=7)
    assert again.changed_rows == 0 and again.remaining == {}
    assert await stored(matters_db.engine, "SELECT id, form::text FROM applications") == again_before


KEY_S, KEY_S2 = secrets.token_bytes(16), secrets.token_bytes(16)
RING_AS = Keyring({"key-a": KEY_A, "key-s": KEY_S}, "key-s", LOOKUP, {"key-s": SM4_GCM})
RING_SS = Keyring({"key-s": KEY_S, "key-s2": KEY_S2}, "key-s2", LOOKUP, {"key-s": SM4_GCM, "key-s2": SM4_GCM})


async def test_rotation_from_aes_to_sm4_and_on_to_a_new_sm4_key(matters_db) -> None:
    forms = await seed_applications(matters_db, 12)
    columns = protected_columns(MattersBase.metadata)
    assert await census(matters_db.engine, columns[0], "key-s") == {"key-a": 36}

    to_sm4 = await reencrypt_database(matters_db.engine, columns, service="matters", ring=RING_AS, batch_size=5)

    assert to_sm4.changed_rows == 24 and to_sm4.remaining == {}
    after = await stored(matters_db.engine, "SELECT id, form::text FROM applications")
    assert all('"pd1.key-a.' not in value and value.count('"pd1.key-s.') == 3 for value in after.values())
    # What is stored is SM4-GCM: Tongsuo opens a value with the SM4 key and the field's key as associated data.
    app_id, form = next(iter(after.items()))
    nonce_sealed = json.loads(form)["contact_mobile"]["$protected"].split(".", 2)[2]
    raw = base64.urlsafe_b64decode(nonce_sealed + "=" * (-len(nonce_sealed) % 4))
    opened = TongsuoSM4GCM(KEY_S).decrypt(raw[:12], raw[12:], b"contact_mobile")
    assert json.loads(opened) == forms[app_id]["contact_mobile"]
    with using_keyring(Keyring({"key-s": KEY_S}, "key-s", LOOKUP, {"key-s": SM4_GCM})):  # the AES key retired
        async with matters_db.session() as session:
            assert {a.id: a.form for a in (await session.scalars(select(Application))).all()} == forms

    to_next = await reencrypt_database(matters_db.engine, columns, service="matters", ring=RING_SS, batch_size=5)

    assert to_next.changed_rows == 24 and to_next.remaining == {}
    with using_keyring(RING_SS):
        async with matters_db.session() as session:
            assert {a.id: a.form for a in (await session.scalars(select(Application))).all()} == forms
    assert all(value.count('"pd1.key-s2.') == 3 for value in
               (await stored(matters_db.engine, "SELECT event_id, envelope::text FROM outbox")).values())


async def test_a_run_stopped_halfway_carries_on_where_it_stopped(matters_db) -> None:
    forms = await seed_applications(matters_db, 30)

    class Stop(Exception):
        pass

    def stop_after_two_batches(progress: ColumnResult) -> None:
        if progress.column == "applications.form" and progress.changed_rows >= 20:
            raise Stop

    with pytest.raises(Stop):
        await rotate(matters_db, batch_size=10, on_batch=stop_after_two_batches)
    column = next(c for c in protected_columns(MattersBase.metadata) if c.name == "applications.form")
    assert await census(matters_db.engine, column, "key-b") == {"key-a": 30}  # 10 rows of 3 values left
    done = await stored(matters_db.engine, "SELECT id, form::text FROM applications WHERE form::text LIKE '%pd1.key-b.%'")

    resumed = await rotate(matters_db, batch_size=10)

    by_column = {c.column: c for c in resumed.columns}
    assert by_column["applications.form"].changed_rows == 10  # only the rows not done before
    assert by_column["outbox.envelope"].changed_rows == 30 and resumed.remaining == {}
    # The rows the first run had done were not rewritten (a new nonce would have changed their text).
    assert {k: v for k, v in (await stored(matters_db.engine, "SELECT id, form::text FROM applications")).items()
            if k in done} == done
    assert await read_forms(matters_db) == forms


async def test_a_row_a_service_updates_meanwhile_keeps_the_update(helpdesk_db) -> None:
    now = datetime.now(UTC)
    ids = [uuid.uuid4().hex for _ in range(12)]
    with using_keyring(RING_A):
        async with helpdesk_db.transaction() as session:
            session.add_all(Ticket(id=i, channel="online", status="open", department="许可处", subject_text="问题",
                                   contact_name=f"李{n}", contact_phone=f"138{n:08d}", policy_id="p", created_at=now)
                            for n, i in enumerate(ids))
    busy = ids[5]
    columns = protected_columns(HelpdeskBase.metadata)
    # A service (still on key A, as a pod not yet restarted would be) changes one ticket's phone and has
    # not committed when the job runs: the job must neither wait for it nor write over it.
    with using_keyring(RING_A):
        async with helpdesk_db.session() as service:
            ticket = await service.get(Ticket, busy, with_for_update=True)
            ticket.contact_phone = "13900000000"
            await service.flush()
            during = await reencrypt_database(helpdesk_db.engine, columns, service="helpdesk", ring=RING_AB,
                                              batch_size=5)
            await service.commit()
    assert during.changed_rows == 22 and during.remaining == {"key-a": 2}  # the busy ticket's two values

    after = await reencrypt_database(helpdesk_db.engine, columns, service="helpdesk", ring=RING_AB, batch_size=5)
    assert after.changed_rows == 2 and after.remaining == {}  # the busy ticket, once per column
    raw = await stored(helpdesk_db.engine, "SELECT id, contact_name || ' ' || contact_phone FROM tickets")
    assert all(value.count("pd1.key-b.") == 2 and "key-a" not in value for value in raw.values())
    with using_keyring(RING_AB):
        async with helpdesk_db.session() as session:
            tickets = {t.id: t for t in (await session.scalars(select(Ticket))).all()}
    assert tickets[busy].contact_phone == "13900000000" and tickets[busy].contact_name == "李5"
    assert [tickets[i].contact_phone for i in ids if i != busy] == [f"138{n:08d}" for n, i in enumerate(ids) if i != busy]


async def test_a_value_under_a_key_no_longer_listed_is_reported_and_left_as_it_is(helpdesk_db) -> None:
    retired = Keyring({"key-z": secrets.token_bytes(32)}, "key-z", LOOKUP)
    ticket_id = uuid.uuid4().hex
    with using_keyring(retired):
        async with helpdesk_db.transaction() as session:
            session.add(Ticket(id=ticket_id, channel="online", status="open", department="许可处", subject_text="问题",
                               contact_name="王五", contact_phone=None, policy_id="p", created_at=datetime.now(UTC)))
    before = await stored(helpdesk_db.engine, f"SELECT id, contact_name FROM tickets WHERE id = '{ticket_id}'")

    result = await reencrypt_database(helpdesk_db.engine, protected_columns(HelpdeskBase.metadata), service="helpdesk",
                                      ring=RING_AB)

    by_column = {c.column: c for c in result.columns}
    assert by_column["tickets.contact_name"].failed_rows == 1 and result.remaining == {"key-z": 1}
    assert await stored(helpdesk_db.engine, f"SELECT id, contact_name FROM tickets WHERE id = '{ticket_id}'") == before
    async with helpdesk_db.transaction() as session:
        await session.execute(text("DELETE FROM tickets WHERE id = :id"), {"id": ticket_id})


@pytest.fixture(scope="module")
async def prequal_db(servers):
    async with scratch_service_database(servers.database_url, "prequal", PREFIX) as db:
        yield db


async def test_nested_documents_and_digests_svc_prequal_compares_in_sql(prequal_db) -> None:
    now = datetime.now(UTC)
    forms = {uuid.uuid4().hex: personal(n) for n in range(4)}
    with using_keyring(RING_A):
        async with prequal_db.transaction() as session:
            for app_id, form in forms.items():
                session.add(Verdict(id=app_id, application_id=app_id, attempt=1, matter_code="LR-XK-003", matter_version=1,
                                    applicant_subject="u", verdict="passed", findings=[], ruleset="r",
                                    inputs={"form": form, "materials": {"plan": {"kind": "upload"}}}, submitted_at=now))
                session.add(SubmissionSeen(application_id=app_id, attempt=1, matter_code="LR-XK-003", matter_version=1,
                                              applicant_subject="u", form=form, materials={}, field_types={},
                                              submitted_at=now))
    digests_before = await stored(prequal_db.engine, "SELECT application_id, form -> 'contact_mobile' ->> '$digest' "
                                                     "FROM prefill_submissions")

    result = await reencrypt_database(prequal_db.engine, protected_columns(PrequalBase.metadata), service="prequal",
                                      ring=RING_AB)

    by_column = {c.column: c for c in result.columns}
    assert by_column["verdicts.inputs"].changed_values == 12 and by_column["prefill_submissions.form"].changed_values == 12
    assert result.remaining == {}
    assert await stored(prequal_db.engine, "SELECT application_id, form -> 'contact_mobile' ->> '$digest' "
                                           "FROM prefill_submissions") == digests_before
    with using_keyring(RING_AB):
        async with prequal_db.session() as session:
            assert {v.id: v.inputs["form"] for v in (await session.scalars(select(Verdict))).all()} == forms
            assert {p.application_id: p.form for p in (await session.scalars(select(SubmissionSeen))).all()} == forms


async def test_the_command_reports_what_is_left_and_exits_1_until_nothing_is(servers, matters_db) -> None:
    await seed_applications(matters_db, 3)
    env = {**os.environ, "DATABASE_URL": servers.database_url, "DATABASE_NAME_PREFIX": PREFIX,
           "DATA_PROTECTION_KEYS": json.dumps({"key-a": base64.b64encode(KEY_A).decode(),
                                               "key-b": base64.b64encode(KEY_B).decode()}),
           "DATA_PROTECTION_ACTIVE_KEY": "key-b", "DATA_PROTECTION_LOOKUP_KEY": base64.b64encode(LOOKUP).decode()}

    def run(*args: str) -> tuple[int, dict[str, Any], str]:
        done = subprocess.run([sys.executable, "-m", "kit.reencryption", "matters", *args], env=env,
                              capture_output=True, text=True, timeout=120)
        return done.returncode, json.loads(done.stdout.strip().splitlines()[-1]), done.stdout + done.stderr

    code, report, _ = run("--census")
    assert code == 1 and report["remaining"] == {"key-a": 18} and report["changed_rows"] == 0
    code, report, output = run()
    assert code == 0 and report["changed_rows"] == 6 and report["remaining"] == {}
    assert "reencryption_batch" in output and "310115" not in output and "香樟" not in output
    assert base64.b64encode(KEY_A).decode() not in output
    code, report, _ = run("--census")
    assert code == 0 and report["remaining"] == {}
