"""The audit log (kit.audit) on a real database: one valid chain under concurrent appends, entries
rolled back with their action, UPDATE/DELETE/TRUNCATE refused, and tampering found at its row."""
from __future__ import annotations

import asyncio
import os

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from kit.audit import record_audit, verify_chain
from kit.auth import Principal, SubjectKind
from support import scratch_service_database

PREFIX = os.environ.get("LVRONG_TEST_DATABASE_PREFIX", "lvrong_itest") + "_unit_audit"
OFFICER = Principal(subject="officer-1", kind=SubjectKind.STAFF, roles=frozenset({"window_officer"}))


@pytest.fixture(scope="module")
async def database(servers):  # noqa: ANN001, ANN201
    async with scratch_service_database(servers.database_url, "matters", PREFIX) as db:
        yield db


async def append(database, n: int, actor: Principal | None = OFFICER) -> None:  # noqa: ANN001
    for i in range(n):
        async with database.transaction() as session:
            await record_audit(session, actor, "application.accept", "application", f"app-{i}", owner="u-1",
                               details={"status": "accepted", "n": i})


async def tamper(database, sql: str) -> None:  # noqa: ANN001
    """What someone with the database owner's rights could do: switch the triggers off and edit."""
    async with database.transaction() as session:
        await session.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change"))
        await session.execute(text(sql))
        await session.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_change"))


async def report(database):  # noqa: ANN001, ANN201
    async with database.session() as session:
        return await verify_chain(session)


async def test_concurrent_appends_form_one_valid_chain(database) -> None:  # noqa: ANN001
    await asyncio.gather(*(append(database, 10) for _ in range(8)))
    await append(database, 1, actor=None)
    result = await report(database)
    assert result.valid and result.first_broken is None
    assert result.entries == 81
    async with database.session() as session:
        positions = (await session.scalars(text("SELECT position FROM audit_log ORDER BY position"))).all()
        system = (await session.execute(text("SELECT actor_subject FROM audit_log ORDER BY position DESC LIMIT 1"))).scalar()
    assert positions == list(range(1, 82))
    assert system == "system"


async def test_an_entry_rolls_back_with_its_action(database) -> None:  # noqa: ANN001
    before = (await report(database)).entries

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with database.transaction() as session:
            await record_audit(session, OFFICER, "application.refuse", "application", "app-x")
            raise Boom
    after = await report(database)
    assert after.valid and after.entries == before


@pytest.mark.parametrize("statement", ["UPDATE audit_log SET action = 'x' WHERE position = 1",
                                       "DELETE FROM audit_log WHERE position = 1", "TRUNCATE audit_log"])
async def test_the_table_refuses_changes(database, statement: str) -> None:  # noqa: ANN001
    with pytest.raises(DBAPIError, match="append-only"):
        async with database.transaction() as session:
            await session.execute(text(statement))
    assert (await report(database)).valid


async def test_tampering_is_detected_at_the_first_broken_link(database) -> None:  # noqa: ANN001
    await append(database, 5)
    good = await report(database)
    assert good.valid
    # An altered row: its hash no longer matches its content.
    await tamper(database, "UPDATE audit_log SET actor_subject = 'someone-else' WHERE position = 7")
    altered = await report(database)
    assert not altered.valid
    assert altered.first_broken.position == 7 and altered.first_broken.reason == "altered"
    assert altered.entries == 6
    # Re-hashing the altered row does not help: the next row still names the old hash.
    await tamper(database, "UPDATE audit_log SET hash = repeat('a', 64) WHERE position = 7")
    relinked = await report(database)
    assert relinked.first_broken.position == 7 and relinked.first_broken.reason == "altered"


async def test_a_deleted_row_is_detected(servers) -> None:  # noqa: ANN001
    async with scratch_service_database(servers.database_url, "matters", PREFIX + "_del") as database:
        await append(database, 5)
        await tamper(database, "DELETE FROM audit_log WHERE position = 3")
        result = await report(database)
        assert not result.valid
        assert result.first_broken.position == 4 and result.first_broken.reason == "missing"
        assert result.first_broken.expected_position == 3
