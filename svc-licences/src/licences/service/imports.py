"""应归尽归 (plan task 32): licences issued on paper before the platform, brought in as electronic licences.

Ops post a register as CSV (``text/csv``, UTF-8, a header line; Excel's BOM accepted) or JSON
(``application/json``, ``{"licences": [{…}, …]}``) with, per licence, ``licence_number`` (the paper number,
kept as the licence number), ``matter_code`` (the licence matter, e.g. ``LR-XK-002``), ``holder_name``,
``holder_code_type`` (``uscc`` | ``resident_id``), ``holder_code``, ``issued_on``, ``valid_until`` and
optionally ``valid_from`` (default ``issued_on``), ``holder_subject`` (the holder's platform account, when
known) and ``data`` (the matter's data, a JSON object).

Every line is validated on its own (its errors reported in Chinese and English, naming fields, never their
values); each valid line is issued exactly as an approval's licence is (``issuance.issue``: identifier,
status-list slot, SD-JWT VC, SM2 document, ``LicenceIssued`` event) with the paper number and issue date.
A line whose number an earlier import issued is ``already_imported``: a rerun creates nothing new.

Recorded at once, issued by a job: the file is read and validated whole (a malformed file or one over
``LICENCES_IMPORT_MAX_LINES`` is refused with nothing written), then the import and every line are recorded
in one transaction — a valid line ``pending`` with its fields encrypted (``kit.protection``) — and the answer
is ``202`` with the report so far. The import job (``licences.imports``, a ``kit.scheduling.every`` job every
``LICENCES_IMPORT_INTERVAL_SECONDS``) issues the pending lines in transactions of ``LICENCES_IMPORT_BATCH``
under an advisory lock (two replicas never issue one number twice), empties each line's fields once done, and
sets ``finished_at`` when an import's last line is done. Issuing costs a status-list slot and two signatures
a licence (tens of milliseconds on a loaded machine), so a register of thousands cannot be issued within one
request; a replica that stops mid-way leaves the rest pending for the next run. The report (counts and every
line's outcome) stays retrievable by its id."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import structlog
from sqlalchemy import case, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from kit.audit import record_audit
from kit.auth import Principal
from kit.db import Database
from kit.errors import FieldError, NotFound, PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from kit.i18n import Text
from kit.identifiers import is_valid_resident_id, is_valid_uscc
from kit.scheduling import lock_id
from licences import messages
from licences.models import Licence, LicenceImport, LicenceImportLine
from licences.schemas import ImportLineView, ImportReport, ImportSummary
from licences.service import catalogue, issuance, status
from licences.service.catalogue import LicenceType
from licences.service.issuer import Issuer

log = structlog.get_logger("licences.imports")

REQUIRED = ("licence_number", "matter_code", "holder_name", "holder_code_type", "holder_code", "issued_on",
            "valid_until")
OPTIONAL = ("valid_from", "holder_subject", "data")
LIMITS = {"licence_number": 64, "matter_code": 32, "holder_name": 200, "holder_code_type": 16, "holder_code": 32,
          "holder_subject": 128, "issued_on": 10, "valid_from": 10, "valid_until": 10, "data": 20_000}
_IMPORT_LOCK = lock_id("licences.import")


@dataclass(frozen=True)
class Line:
    """A valid line: what its licence is issued from."""

    line: int
    licence_number: str
    licence_type: LicenceType
    matter_code: str
    holder_name: str
    holder_code_type: str
    holder_code: str
    holder_subject: str | None
    issued_at: datetime
    valid_from: datetime
    valid_until: datetime
    data: dict[str, Any]


@dataclass(frozen=True)
class Rejected:
    line: int
    licence_number: str | None
    errors: list[FieldError]


# ---- reading the file ------------------------------------------------------------------------------


def _media_type(content_type: str | None) -> str:
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind in ("text/csv", "application/csv"):
        return "csv"
    if kind == "application/json":
        return "json"
    raise UnsupportedMediaType(messages.IMPORT_UNSUPPORTED_TYPE)


def _file_error(text_: Text, field: str = "file", code: str = "invalid") -> ValidationFailed:
    return ValidationFailed(text_, errors=[FieldError.of(field, text_, code)])


def _csv_rows(body: str) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(body, newline=""), restkey="_extra")
    try:
        header = reader.fieldnames or []
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise ValidationFailed(messages.IMPORT_MISSING_COLUMNS.format(columns=", ".join(missing)), errors=[
                FieldError.of(c, messages.IMPORT_COLUMN_MISSING, "missing_column") for c in missing])
        for row in reader:
            yield reader.line_num, row
    except csv.Error:
        raise _file_error(messages.IMPORT_BAD_CSV.format(line=reader.line_num), code="malformed") from None


def _json_rows(body: str) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        document = json.loads(body)
    except ValueError:
        raise _file_error(messages.IMPORT_BAD_JSON, code="malformed") from None
    items = document.get("licences") if isinstance(document, dict) else None
    if not isinstance(items, list):
        raise _file_error(messages.IMPORT_BAD_JSON, code="malformed")
    for number, item in enumerate(items, start=1):
        yield number, item if isinstance(item, dict) else {"_not_object": True}


def read_file(body: bytes, content_type: str | None, max_lines: int) -> tuple[str, list[tuple[int, dict[str, Any]]]]:
    """(format, [(line number, raw fields)]); refuses (415, 422, 413) a file that is not a register at all."""
    kind = _media_type(content_type)
    try:
        decoded = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _file_error(messages.IMPORT_NOT_UTF8, code="encoding") from None
    rows: list[tuple[int, dict[str, Any]]] = []
    for row in (_csv_rows(decoded) if kind == "csv" else _json_rows(decoded)):
        if len(rows) == max_lines:
            raise PayloadTooLarge(messages.IMPORT_TOO_MANY_LINES.format(limit=max_lines), limit=max_lines)
        rows.append(row)
    if not rows:
        raise _file_error(messages.IMPORT_EMPTY, code="empty")
    return kind, rows


# ---- validating a line ------------------------------------------------------------------------------


def _storable(value: str) -> bool:
    """Text PostgreSQL keeps: UTF-8 (a JSON file may hold a lone surrogate) without a NUL character."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in value


def _text(raw: dict[str, Any], name: str, errors: list[FieldError]) -> str | None:
    value = raw.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if name in REQUIRED:
            errors.append(FieldError.of(name, messages.IMPORT_FIELD_REQUIRED, "required"))
        return None
    if not isinstance(value, str) or not _storable(value):
        errors.append(FieldError.of(name, messages.IMPORT_NOT_TEXT, "not_text"))
        return None
    value = value.strip()
    if len(value) > LIMITS[name]:
        errors.append(FieldError.of(name, messages.IMPORT_FIELD_TOO_LONG.format(limit=LIMITS[name]), "too_long"))
        return None
    return value


def _day(raw: dict[str, Any], name: str, errors: list[FieldError]) -> date | None:
    value = _text(raw, name, errors)
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.append(FieldError.of(name, messages.IMPORT_BAD_DATE, "date"))
        return None


def _data(raw: dict[str, Any], errors: list[FieldError]) -> dict[str, Any]:
    value = raw.get("data")
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value) if len(value) <= LIMITS["data"] else None
        except ValueError:
            value = None
    if not isinstance(value, dict) or not _storable(json.dumps(value, ensure_ascii=False)) \
            or "\\u0000" in json.dumps(value):
        errors.append(FieldError.of("data", messages.IMPORT_BAD_DATA, "object"))
        return {}
    return value


def validate_line(number: int, raw: dict[str, Any], today: date) -> Line | Rejected:
    """One line checked on its own: every field's error, not only the first."""
    errors: list[FieldError] = []
    if raw.get("_not_object"):
        return Rejected(number, None, [FieldError.of("line", messages.IMPORT_BAD_JSON, "not_object")])
    if raw.get("_extra"):
        errors.append(FieldError.of("line", messages.IMPORT_BAD_CSV.format(line=number), "extra_columns"))
    licence_number = _text(raw, "licence_number", errors)
    matter_code = _text(raw, "matter_code", errors)
    licence_type = catalogue.BY_MATTER.get(matter_code or "")
    if matter_code and licence_type is None:
        errors.append(FieldError.of("matter_code", messages.IMPORT_UNKNOWN_MATTER, "unknown_matter"))
    holder_name = _text(raw, "holder_name", errors)
    code_type = _text(raw, "holder_code_type", errors)
    code = (_text(raw, "holder_code", errors) or "").upper()
    if code_type and code_type not in ("uscc", "resident_id"):
        errors.append(FieldError.of("holder_code_type", messages.IMPORT_BAD_CODE_TYPE, "code_type"))
    elif code and code_type == "uscc" and not is_valid_uscc(code):
        errors.append(FieldError.of("holder_code", messages.IMPORT_BAD_USCC, "uscc"))
    elif code and code_type == "resident_id" and not is_valid_resident_id(code, today):
        errors.append(FieldError.of("holder_code", messages.IMPORT_BAD_RESIDENT_ID, "resident_id"))
    holder_subject = _text(raw, "holder_subject", errors)
    issued_on = _day(raw, "issued_on", errors)
    valid_from = _day(raw, "valid_from", errors) if raw.get("valid_from") else issued_on
    valid_until = _day(raw, "valid_until", errors)
    if issued_on and issued_on > today:
        errors.append(FieldError.of("issued_on", messages.IMPORT_FUTURE_DATE, "future"))
    if issued_on and valid_from and valid_from < issued_on:
        errors.append(FieldError.of("valid_from", messages.IMPORT_START_BEFORE_ISSUE, "before_issue"))
    if valid_from and valid_until and valid_until < valid_from:
        errors.append(FieldError.of("valid_until", messages.IMPORT_END_BEFORE_START, "before_start"))
    data = _data(raw, errors)
    if errors or None in (licence_number, licence_type, matter_code, holder_name, code_type, issued_on, valid_from,
                          valid_until):
        return Rejected(number, licence_number, errors)
    assert licence_number and licence_type and matter_code and holder_name and code_type  # for the type checker
    assert issued_on and valid_from and valid_until
    start = issuance.local_day(valid_from.isoformat(), end=False)
    end = issuance.local_day(valid_until.isoformat(), end=True)
    issued_at = issuance.local_day(issued_on.isoformat(), end=False)
    assert start and end and issued_at
    return Line(number, licence_number, licence_type, matter_code, holder_name, code_type, code, holder_subject,
                issued_at, start, end, data)


def validate(rows: list[tuple[int, dict[str, Any]]], today: date) -> list[Line | Rejected]:
    """Every line validated; a licence number a line repeats from an earlier line of the file is refused."""
    first: dict[str, int] = {}
    checked: list[Line | Rejected] = []
    for number, raw in rows:
        result = validate_line(number, raw, today)
        if isinstance(result, Line):
            if result.licence_number in first:
                result = Rejected(number, result.licence_number, [FieldError.of(
                    "licence_number", messages.IMPORT_DUPLICATE_IN_FILE.format(line=first[result.licence_number]),
                    "duplicate")])
            else:
                first[result.licence_number] = number
        checked.append(result)
    return checked


# ---- recording and issuing --------------------------------------------------------------------------


def _errors(errors: list[FieldError]) -> list[dict[str, Any]]:
    return [e.model_dump(exclude_none=True) for e in errors]


def _payload(line: Line) -> str:
    return json.dumps({"matter_code": line.matter_code, "holder_name": line.holder_name,
                       "holder_code_type": line.holder_code_type, "holder_code": line.holder_code,
                       "holder_subject": line.holder_subject, "issued_at": line.issued_at.isoformat(),
                       "valid_from": line.valid_from.isoformat(), "valid_until": line.valid_until.isoformat(),
                       "data": line.data}, ensure_ascii=False)


def _line_of(row: LicenceImportLine) -> Line:
    fields = json.loads(row.payload or "{}")
    return Line(row.line, row.licence_number or "", catalogue.BY_MATTER[fields["matter_code"]], fields["matter_code"],
                fields["holder_name"], fields["holder_code_type"], fields["holder_code"], fields["holder_subject"],
                datetime.fromisoformat(fields["issued_at"]), datetime.fromisoformat(fields["valid_from"]),
                datetime.fromisoformat(fields["valid_until"]), fields["data"])


async def start_import(database: Database, principal: Principal, body: bytes, content_type: str | None,
                       max_lines: int) -> ImportReport:
    """Read and validate a register and record it, every line (the valid ones ``pending``, their fields
    encrypted), in one transaction; the import job issues them. A file that is not a register writes nothing."""
    kind, rows = read_file(body, content_type, max_lines)
    checked = validate(rows, datetime.now(issuance.SHANGHAI).date())
    import_id = uuid.uuid4().hex
    invalid = sum(1 for item in checked if isinstance(item, Rejected))
    async with database.transaction() as session:
        session.add(LicenceImport(id=import_id, created_by=principal.subject, format=kind,
                                  sha256=hashlib.sha256(body).hexdigest(), total=len(checked), invalid=invalid,
                                  finished_at=datetime.now(UTC) if invalid == len(checked) else None))
        await session.flush()
        session.add_all([LicenceImportLine(import_id=import_id, line=item.line, licence_number=item.licence_number,
                                           result="invalid", errors=_errors(item.errors))
                         if isinstance(item, Rejected) else
                         LicenceImportLine(import_id=import_id, line=item.line, licence_number=item.licence_number,
                                           result="pending", errors=[], payload=_payload(item))
                         for item in checked])
        await record_audit(session, principal, "licence.import", "licence_import", import_id,
                           details={"format": kind, "lines": len(checked), "invalid": invalid})
    log.info("licence_import_recorded", import_id=import_id, lines=len(checked), invalid=invalid)
    async with database.session() as session:
        return await report(session, import_id)


async def _issue(session: AsyncSession, issuer: Issuer, actor: str, line: Line) -> Licence:
    holder_hash = issuance.holder_code_hash(line.holder_code)
    licence = await issuance.issue(
        session, issuer, line.licence_type, holder_subject=line.holder_subject or f"imported:{holder_hash[:40]}",
        holder_kind="company" if line.holder_code_type == "uscc" else "person",
        holder={"holder_name": line.holder_name, "holder_code": line.holder_code,
                "holder_code_type": line.holder_code_type},
        data=line.data, valid_from=line.valid_from, valid_until=line.valid_until, actor=actor,
        matter_code=line.matter_code, licence_number=line.licence_number, issued_at=line.issued_at)
    if licence.valid_until <= datetime.now(UTC):  # a paper licence whose term is over: on file, expired from the start
        await status.set_status(session, licence, "expired", actor=actor, reason=status.VALIDITY_ENDED)
    return licence


async def issue_batch(session: AsyncSession, issuer: Issuer, batch: int) -> int:
    """Issue up to ``batch`` pending lines (oldest import first), one transaction: each becomes a licence, or
    ``already_imported`` when an earlier import issued its number, or ``invalid`` when a licence the platform
    issued has it. Serialised by an advisory lock, so two replicas never issue one number twice."""
    await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _IMPORT_LOCK})
    rows = (await session.scalars(select(LicenceImportLine).join(LicenceImport).where(
        LicenceImportLine.result == "pending").order_by(LicenceImport.created_at, LicenceImportLine.import_id,
                                                        LicenceImportLine.line).limit(batch))).all()
    if not rows:
        return 0
    numbers = [row.licence_number for row in rows]
    imported = dict((await session.execute(select(LicenceImportLine.licence_number, LicenceImportLine.licence_id)
                                           .where(LicenceImportLine.result == "issued",
                                                  LicenceImportLine.licence_number.in_(numbers)))).tuples().all())
    taken = set((await session.scalars(select(Licence.licence_number).where(Licence.licence_number.in_(numbers)))).all())
    actors = dict((await session.execute(select(LicenceImport.id, LicenceImport.created_by).where(
        LicenceImport.id.in_({row.import_id for row in rows})))).tuples().all())
    counts: dict[str, dict[str, int]] = {}
    for row in rows:
        if row.licence_number in imported:
            row.result, row.licence_id = "already_imported", imported[row.licence_number]
        elif row.licence_number in taken:
            row.result, row.errors = "invalid", _errors([FieldError.of("licence_number", messages.IMPORT_NUMBER_TAKEN,
                                                                       "number_taken")])
        else:
            licence = await _issue(session, issuer, actors[row.import_id], _line_of(row))
            row.result, row.licence_id = "issued", licence.id
            imported[licence.licence_number] = licence.id
        row.payload = None  # the holder's fields now live (encrypted) in the licence, or nowhere
        tally = counts.setdefault(row.import_id, {"issued": 0, "already_imported": 0, "invalid": 0})
        tally[row.result] += 1
    await session.flush()
    for import_id, tally in counts.items():
        still = select(LicenceImportLine.line).where(LicenceImportLine.import_id == import_id,
                                                     LicenceImportLine.result == "pending").exists()
        await session.execute(update(LicenceImport).where(LicenceImport.id == import_id).values(
            issued=LicenceImport.issued + tally["issued"],
            already_imported=LicenceImport.already_imported + tally["already_imported"],
            invalid=LicenceImport.invalid + tally["invalid"],
            finished_at=case((still, None), else_=func.now())))
        log.info("licence_import_batch", import_id=import_id, **tally)
    return len(rows)


async def pending(session: AsyncSession) -> int:
    """How many lines wait to be issued (the import job's tick; read through a partial index)."""
    return int(await session.scalar(select(func.count()).where(LicenceImportLine.result == "pending")) or 0)


async def issue_pending(database: Database, issuer: Issuer, batch: int) -> int:
    """Batches until none is left; returns the lines done."""
    done = 0
    while True:
        async with database.transaction() as session:
            lines = await issue_batch(session, issuer, batch)
        if not lines:
            return done
        done += lines


def _summary(row: LicenceImport) -> dict[str, Any]:
    return {"id": row.id, "created_by": row.created_by, "created_at": row.created_at, "format": row.format,
            "total": row.total, "issued": row.issued, "already_imported": row.already_imported,
            "invalid": row.invalid, "pending": row.total - row.issued - row.already_imported - row.invalid,
            "finished_at": row.finished_at}


async def report(session: AsyncSession, import_id: str) -> ImportReport:
    """An import's counts and every line's outcome."""
    row = await session.get(LicenceImport, import_id)
    if row is None:
        raise NotFound(messages.IMPORT_NOT_FOUND)
    lines = (await session.scalars(select(LicenceImportLine).where(LicenceImportLine.import_id == import_id)
                                   .order_by(LicenceImportLine.line))).all()
    return ImportReport(**_summary(row), lines=[ImportLineView(
        line=line.line, licence_number=line.licence_number, result=line.result,
        licence_id=line.licence_id, errors=line.errors) for line in lines])


async def recent(session: AsyncSession, limit: int = 50) -> list[ImportSummary]:
    rows = (await session.scalars(select(LicenceImport).order_by(LicenceImport.created_at.desc(), LicenceImport.id)
                                  .limit(limit))).all()
    return [ImportSummary(**_summary(row)) for row in rows]
