"""Online checks of 亮证 presentations, written together (group commit).

Each check must mark its presentation used (a replay is refused, across replicas) and be recorded, in
a transaction that commits durably before the answer leaves. One transaction per check cost six round
trips to PostgreSQL and a WAL flush each, which — not the signature, not Python — bounded the rate. So
every check waiting at the same moment is written by one transaction: the presentations locked in a
fixed order (two batches never deadlock on them) and read with their licences, the new ones marked,
every check recorded, one commit. A writer takes whatever is queued when it is free, so a lone check
is written at once and batches only form under load; a batch that fails fails each of its checks.

The licence is read in the batch's transaction rather than from a copy in memory: the round trip is
needed for the replay mark anyway, and a revocation is then seen by the next check on every replica.
"""
from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import DateTime, String, Table, Text, any_, bindparam, func, insert, literal, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from kit.db import Database
from licences.models import Base, Licence, Presentation, Verification
from licences.service.credentials import PresentationClaims

log = structlog.get_logger("licences.checks")


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


presentations, licences, verifications = _table(Presentation), _table(Licence), _table(Verification)
# The licence's visible columns (not its credential): what a check answers with.
VISIBLE = select(licences.c.id, licences.c.identifier, licences.c.licence_number, licences.c.licence_type,
                 licences.c.type_code, licences.c.holder_name, licences.c.issuer_name, licences.c.version,
                 licences.c.valid_from, licences.c.valid_until, licences.c.status, licences.c.status_list_id)
# One statement of the same text for any batch size (an array, not an IN list), so it is prepared once.
_LOCK_AND_READ = (VISIBLE.add_columns(presentations.c.cti, presentations.c.verified_at)
                  .join_from(presentations, licences, presentations.c.licence_id == licences.c.id)
                  .where(presentations.c.cti == any_(bindparam("ctis", type_=ARRAY(String))))
                  .order_by(presentations.c.cti).with_for_update(of=presentations))
# A batch's writes in one statement, one round trip: its fresh presentations marked (a data-modifying
# CTE) and every check recorded, each from arrays unnested (one text for any batch size, prepared once).
_MARKS = func.unnest(bindparam("m_ctis", type_=ARRAY(String)), bindparam("m_ats", type_=ARRAY(DateTime(timezone=True))),
                     bindparam("m_whos", type_=ARRAY(String))).table_valued("cti", "at", "who").render_derived()
_MARKED = (update(presentations).where(presentations.c.cti == _MARKS.c.cti)
           .values(verified_at=_MARKS.c.at, verified_by=_MARKS.c.who)).cte("marked")
_RECORDS = func.unnest(
    bindparam("r_ids", type_=ARRAY(String)), bindparam("r_licences", type_=ARRAY(String)),
    bindparam("r_results", type_=ARRAY(String)), bindparam("r_reasons", type_=ARRAY(Text)),
    bindparam("r_verifiers", type_=ARRAY(String)), bindparam("r_ats", type_=ARRAY(DateTime(timezone=True))),
).table_valued("id", "licence_id", "result", "reason", "verifier", "at").render_derived()
_MARK_AND_RECORD = insert(verifications).from_select(
    ["id", "licence_id", "kind", "result", "reason", "verifier", "at"],
    select(_RECORDS.c.id, _RECORDS.c.licence_id, literal("presentation", String), _RECORDS.c.result,
           _RECORDS.c.reason, _RECORDS.c.verifier, _RECORDS.c.at)).add_cte(_MARKED)
RECORD = insert(verifications)
_RECORD_COLUMNS = (("r_ids", "id"), ("r_licences", "licence_id"), ("r_results", "result"), ("r_reasons", "reason"),
                   ("r_verifiers", "verifier"), ("r_ats", "at"))


def record_row(kind: str, result: str, licence: Any, verifier: str, at: datetime) -> dict[str, Any]:
    """The ``verifications`` row of one check."""
    return {"id": uuid.uuid4().hex, "licence_id": licence.id if licence else None, "kind": kind, "result": result,
            "reason": None if result == "valid" else result, "verifier": verifier, "at": at}


# What the service decides from a check's claims, whether its presentation was fresh (marked now) and
# the licence (None: never handed out by us): the result to record and answer.
Decide = Callable[[PresentationClaims, bool, Any, datetime], str]


@dataclass
class _Check:
    claims: PresentationClaims
    verifier: str
    at: datetime
    outcome: asyncio.Future[tuple[str, Any]]


@dataclass
class PresentationChecks:
    """The queue of presentation checks and the writers that commit them in batches."""

    decide: Decide
    writers: int = 4
    max_batch: int = 128
    _queue: asyncio.Queue[_Check] = field(default_factory=asyncio.Queue, init=False)

    async def check(self, claims: PresentationClaims, verifier: str, at: datetime) -> tuple[str, Any]:
        """The result of checking a presentation whose signature and lifetime are good, and its licence
        row (None when unknown), once the check is committed."""
        outcome: asyncio.Future[tuple[str, Any]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Check(claims, verifier, at, outcome))
        return await outcome

    async def run(self, database: Database) -> None:
        """The writers, until cancelled (the service's lifespan runs this)."""
        async with asyncio.TaskGroup() as group:
            for n in range(self.writers):
                group.create_task(self._write_forever(database), name=f"presentation-checks-{n}")

    async def _write_forever(self, database: Database) -> None:
        # A connection from the pool per batch, given back at once: a writer that kept one would hold it
        # idle between batches, and writers as many as the pool (4 in the test sessions) starve every
        # other request of the process.
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                async with database.engine.connect() as connection:
                    outcomes = await self._write(connection, batch)
            except Exception as e:  # the batch's transaction failed: so did each of its checks
                for check in batch:
                    if not check.outcome.done():
                        check.outcome.set_exception(e)
                continue
            for check, outcome in zip(batch, outcomes, strict=True):
                if not check.outcome.done():  # its request may have been cancelled meanwhile
                    check.outcome.set_result(outcome)

    async def _write(self, connection: AsyncConnection, batch: list[_Check]) -> list[tuple[str, Any]]:
        async with connection.begin():
            rows = {row.cti: row for row in await connection.execute(
                _LOCK_AND_READ, {"ctis": sorted({c.claims.cti for c in batch})})}
            marks: dict[str, list[Any]] = {"m_ctis": [], "m_ats": [], "m_whos": []}
            records: dict[str, list[Any]] = {"r_ids": [], "r_licences": [], "r_results": [], "r_reasons": [],
                                             "r_verifiers": [], "r_ats": []}
            outcomes = []
            marked: set[str] = set()
            for check in batch:
                row = rows.get(check.claims.cti)
                # Locked, so its verified_at is the latest committed; a second check of the same
                # presentation in this batch finds it marked by the first.
                fresh = row is not None and row.verified_at is None and check.claims.cti not in marked
                if fresh:
                    marked.add(check.claims.cti)
                    marks["m_ctis"].append(check.claims.cti)
                    marks["m_ats"].append(check.at)
                    marks["m_whos"].append(check.verifier)
                result = self.decide(check.claims, fresh, row, check.at)
                record = record_row("presentation", result, row, check.verifier, check.at)
                for key, column in _RECORD_COLUMNS:
                    records[key].append(record[column])
                outcomes.append((result, row))
            await connection.execute(_MARK_AND_RECORD, marks | records)
        log.info("presentations_checked", checks=len(batch), results=dict(Counter(result for result, _ in outcomes)))
        return outcomes
