"""The catalogue of matters (事项): versions, listing, lookup, import and guide completeness (办事指南).

Matters are versioned. Every change publishes version n+1 of the code and makes it the current one;
an application references the (code, version) it was filed under (a foreign key), and its pre-review,
resubmissions and statutory clock read that version, never the current one — so publishing a new
version never changes an open application.

Every published version is announced with ``lvrong.matters.matter.published`` (through the outbox, in
the publishing transaction), so svc-prequal knows each matter's requirements before anyone applies;
the shipped catalogue's versions are announced by the migration that seeds them (0002 seeds, 0008
announces what the catalogue held then). A later revision that seeds matters announces them too.
``LVRONG_MATTERS`` keeps events for its max age only (7 days), so ``reannounce_current`` announces every
current version again once per round (a scheduled job, daily by default): a svc-prequal installed from
scratch, which reads the stream from its start, finds the whole catalogue there whenever it starts.

Import is judged per entry: every entry is validated on its own, a rejected entry is reported with its
field errors and writes nothing, the valid ones are published together in one transaction (created,
new version or unchanged). ``dry_run`` answers the same report and writes nothing at all.
"""
from __future__ import annotations

import time
from typing import Any, get_args

import structlog
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from kit import idempotency
from kit import messages as kit_messages
from kit.auth import Principal
from kit.contracts import FormFieldSpec, MaterialSpec, MatterPublished, MatterRequirements
from kit.db import Database
from kit.errors import BadRequest, FieldError, NotFound
from kit.events import add_event, outbox, outbox_row
from kit.i18n import Text
from kit.pagination import Page, decode_cursor, encode_cursor
from kit.scheduling import JobFn
from matters import messages
from matters.models import CatalogueState, MatterVersion
from matters.schemas import (
    FileType,
    GuideCompletenessReport,
    GuideCompletenessSummary,
    GuideGap,
    ImportEntryResult,
    ImportOutcome,
    ImportReport,
    ImportSummary,
    IncompleteGuide,
    MatterDetail,
    MatterImport,
    MatterSummary,
    MatterVersionDetail,
    MatterVersionSummary,
)
from matters.service.materials import SIGNATURES

log = structlog.get_logger("matters.catalogue")

# A matter may only name file types an upload can be checked against.
assert set(get_args(FileType)) == set(SIGNATURES), "schemas.FileType and materials.SIGNATURES disagree"

# The columns that make up a matter's content: a new version is published when one of them changes.
CONTENT_COLUMNS = ("name_zh", "name_en", "kind", "department", "complexity", "statutory_days", "promised_days", "fee",
                   "legal_basis", "conditions_zh", "channels", "help_video_url", "licence_type", "fields", "materials")
TEXT_FIELD_TYPES = frozenset({"string", "text", "uscc", "resident_id", "mobile", "district", "address"})
NUMERIC_FIELD_TYPES = frozenset({"integer", "decimal"})
# Publishing is serialised across replicas: imports are rare, and one lock keeps "max(version) + 1" and
# the is_current flip free of races without a lock per code (and its deadlock ordering).
IMPORT_LOCK_KEY = "matters.catalogue.publish"
MAX_IMPORT_ENTRIES = 500
_ANNOUNCE_BATCH = 500


def _after(cursor: str | None) -> tuple[int, str] | None:
    after = decode_cursor(cursor)
    if after is None:
        return None
    try:
        return int(after["p"]), str(after["c"])
    except (KeyError, TypeError, ValueError):
        raise BadRequest(kit_messages.CURSOR_INVALID) from None


# --- reading -----------------------------------------------------------------------------------

async def generation(database: Database) -> int:
    """The catalogue's generation: every change of a matter version moves it (revision 0013's trigger),
    so a replica's cached catalogue pages are current while it stands still (``kit.page_cache``)."""
    async with database.session() as session:
        return (await session.execute(select(CatalogueState.generation).where(CatalogueState.id == 1))).scalar_one()


async def list_matters(session: AsyncSession, *, limit: int, cursor: str | None, kind: str | None = None,
                       q: str | None = None) -> Page[MatterSummary]:
    """Current matters by position: the 18 high-volume matters first, then the imported ones."""
    stmt = select(MatterVersion).where(MatterVersion.is_current.is_(True))
    if kind:
        stmt = stmt.where(MatterVersion.kind == kind)
    if q:
        like = f"%{q}%"
        stmt = stmt.where(or_(MatterVersion.name_zh.ilike(like), MatterVersion.name_en.ilike(like),
                              MatterVersion.code.ilike(like)))
    after = _after(cursor)
    if after:
        stmt = stmt.where(or_(MatterVersion.position > after[0],
                              and_(MatterVersion.position == after[0], MatterVersion.code > after[1])))
    rows = (await session.scalars(stmt.order_by(MatterVersion.position, MatterVersion.code).limit(limit + 1))).all()
    items = [MatterSummary.model_validate(m) for m in rows[:limit]]
    next_cursor = encode_cursor({"p": rows[limit - 1].position, "c": rows[limit - 1].code}) if len(rows) > limit else None
    return Page[MatterSummary](items=items, next_cursor=next_cursor)


# A published matter version never changes (a change is a new version), so each process keeps the
# versions it has used: filing an application then reads one small column, not the whole guide.
_published: dict[tuple[str, int], MatterVersion] = {}
_requirements: dict[tuple[str, int], MatterRequirements] = {}
# Which version is current, as this process last read it. Only for writers that check it in their
# own statement (a new application's insert does) and read again when it no longer holds.
_current_versions: dict[str, int] = {}


async def current_matter(session: AsyncSession, code: str, *, remembered: bool = False) -> MatterVersion | None:
    """The current version of a matter, read-only (detached from the session).

    ``remembered``: the version this process last saw as current, without asking the database; the
    caller must check it is still current where it writes (see ``forget_current``)."""
    version = _current_versions.get(code) if remembered else None
    if version is None:
        version = await session.scalar(select(MatterVersion.version).where(MatterVersion.code == code,
                                                                           MatterVersion.is_current.is_(True)))
        if version is None:
            return None
        _current_versions[code] = version
    matter = _published.get((code, version))
    if matter is None:
        matter = await session.get(MatterVersion, (code, version))
        if matter is None:
            return None
        session.expunge(matter)
        _published[(code, version)] = matter
    return matter


def forget_current(code: str) -> None:
    """A write found the remembered current version superseded: read it again next time."""
    _current_versions.pop(code, None)


async def get_matter(session: AsyncSession, code: str) -> MatterDetail:
    matter = await current_matter(session, code)
    if matter is None:
        raise NotFound(messages.MATTER_NOT_FOUND.format(code=code))
    return MatterDetail.model_validate(matter)


# What the catalogue's cached pages hold (matters.api.catalogue): the answers above as JSON bytes, each
# read in a session of its own, opened only when the page is not in memory.
async def matters_json(database: Database, *, limit: int, cursor: str | None, kind: str | None, q: str | None) -> bytes:
    async with database.session() as session:
        return (await list_matters(session, limit=limit, cursor=cursor, kind=kind, q=q)).model_dump_json().encode()


async def matter_json(database: Database, code: str) -> bytes:
    async with database.session() as session:
        return (await get_matter(session, code)).model_dump_json().encode()


def requirements_of(matter: MatterVersion) -> MatterRequirements:
    key = (matter.code, matter.version)
    requirements = _requirements.get(key)
    if requirements is None:
        requirements = _requirements[key] = MatterRequirements(
            code=matter.code, version=matter.version, kind=matter.kind,
            fields=[FormFieldSpec.model_validate(f) for f in matter.fields],
            materials=[MaterialSpec.model_validate(m) for m in matter.materials])
    return requirements


def publication(matter: Any) -> MatterPublished:
    """The ``matter.published`` event of a stored matter version (an ORM row, or a migration's row)."""
    return MatterPublished(matter=requirements_of(matter), name_zh=matter.name_zh, department=matter.department)


async def announce(session: AsyncSession, matter: MatterVersion) -> None:
    """Publish ``matter.published`` for a version in the session's transaction (once per version: the
    event id is derived from its code and version)."""
    await add_event(session, publication(matter), subject=matter.code)


async def reannounce_current(session: AsyncSession, round_: int) -> int:
    """Announce every current matter version again, as round ``round_`` (``MatterPublished.announcement_id_for``);
    returns how many were announced. Only current versions: svc-prequal checks and pre-fills by the
    current one, and every submission carries the requirements of the version it was filed under.

    A round's ids are fixed, so a round run twice (two replicas at a tick's boundary) writes its events
    once; the next round's are new events, which neither the outbox nor the stream's duplicate window
    refuses, and which svc-prequal applies as a version it already keeps (no write)."""
    matters = (await session.scalars(select(MatterVersion).where(MatterVersion.is_current.is_(True))
                                     .order_by(MatterVersion.code))).all()
    rows = [outbox_row(session, publication(m), subject=m.code,
                       event_id=MatterPublished.announcement_id_for(m.code, m.version, round_)) for m in matters]
    announced = 0
    for start in range(0, len(rows), _ANNOUNCE_BATCH):  # bounded statements for a catalogue of any size
        stmt = pg_insert(outbox).values(rows[start:start + _ANNOUNCE_BATCH])
        announced += len((await session.execute(stmt.on_conflict_do_nothing(index_elements=["event_id"])
                                                .returning(outbox.c.event_id))).all())
    return announced


def reannouncement_job(interval_seconds: float) -> JobFn:
    """The scheduled job (``kit.scheduling.every``): one round per interval, numbered by wall-clock interval."""
    async def job(session: AsyncSession) -> int:
        count = await reannounce_current(session, int(time.time() // interval_seconds))
        log.info("catalogue_reannounced", matters=count)
        return count
    return job


async def list_versions(session: AsyncSession, code: str, *, limit: int, cursor: str | None) -> Page[MatterVersionSummary]:
    """Every published version of a matter, newest first."""
    stmt = select(MatterVersion).where(MatterVersion.code == code)
    after = decode_cursor(cursor)
    if after:
        try:
            stmt = stmt.where(MatterVersion.version < int(after["v"]))
        except (KeyError, TypeError, ValueError):
            raise BadRequest(kit_messages.CURSOR_INVALID) from None
    rows = (await session.scalars(stmt.order_by(MatterVersion.version.desc()).limit(limit + 1))).all()
    if not rows and not after:
        raise NotFound(messages.MATTER_NOT_FOUND.format(code=code))
    next_cursor = encode_cursor({"v": rows[limit - 1].version}) if len(rows) > limit else None
    return Page[MatterVersionSummary](items=[MatterVersionSummary.model_validate(m) for m in rows[:limit]],
                                      next_cursor=next_cursor)


async def get_version(session: AsyncSession, code: str, version: int) -> MatterVersionDetail:
    matter = await session.get(MatterVersion, (code, version))
    if matter is None:
        raise NotFound(messages.MATTER_VERSION_NOT_FOUND.format(code=code, version=version))
    return MatterVersionDetail.model_validate(matter)


# --- validating an import entry -----------------------------------------------------------------

def _path(loc: tuple[Any, ...]) -> str:
    """('fields', 2, 'key') → 'fields[2].key', the way the errors name each offending input."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "entry"


def _message_zh(error: ErrorDetails, field: str) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "string_pattern_mismatch":
        if field == "code":
            return "事项编码格式不正确，应形如 LR-GG-001"
        if field.endswith((".key", ".code")) or "required_when" in field:
            return "应为小写字母、数字与下划线组成的蛇形命名，例如 tree_count"
        if field == "help_video_url":
            return "应为 https:// 开头的链接"
        return "不能为空白"
    by_kind = {
        "missing": "必填", "extra_forbidden": "不允许的属性（拼写错误？）", "string_type": "应为文本",
        "int_type": "应为整数", "float_type": "应为数字", "bool_type": "应为 true 或 false", "list_type": "应为数组",
        "dict_type": "应为对象", "model_type": "应为对象", "model_attributes_type": "应为对象",
        "literal_error": f"应为以下之一：{ctx.get('expected', '')}",
        "string_too_short": "不能为空", "string_too_long": f"不能超过 {ctx.get('max_length')} 个字符",
        "too_long": f"不能超过 {ctx.get('max_length')} 项", "too_short": f"至少 {ctx.get('min_length')} 项",
        "greater_than_equal": f"不能小于 {ctx.get('ge')}", "less_than_equal": f"不能大于 {ctx.get('le')}",
    }
    return by_kind.get(kind, "格式不正确")


def _shape_errors(error: ValidationError) -> list[FieldError]:
    errors = []
    for e in error.errors(include_url=False):
        field = _path(tuple(e["loc"]))
        errors.append(FieldError(field=field, code=e["type"], message=_message_zh(e, field), message_en=e["msg"]))
    return errors


def _duplicates(values: list[str]) -> set[int]:
    """Indexes of values already seen earlier in the list."""
    seen: set[str] = set()
    repeated = set()
    for i, v in enumerate(values):
        if v in seen:
            repeated.add(i)
        seen.add(v)
    return repeated


def _consistency_errors(m: MatterImport) -> list[FieldError]:
    """What a well-typed entry can still get wrong: rules across fields."""
    errors: list[FieldError] = []

    def err(field: str, code: str, text: Text) -> None:
        errors.append(FieldError.of(field, text, code))

    if m.promised_days > m.statutory_days:
        err("promised_days", "promised_exceeds_statutory", messages.IMPORT_PROMISED_EXCEEDS_STATUTORY.format(
            promised=m.promised_days, statutory=m.statutory_days))
    for i in _duplicates(list(m.channels)):
        err(f"channels[{i}]", "duplicate", messages.IMPORT_CHANNEL_REPEATED)
    by_key = {f.key: f for f in m.fields}
    for i in _duplicates([f.key for f in m.fields]):
        err(f"fields[{i}].key", "duplicate_key", messages.IMPORT_FIELD_KEY_REPEATED.format(key=m.fields[i].key))
    for i, f in enumerate(m.fields):
        at = f"fields[{i}]"
        if f.type == "enum" and not f.options:
            err(f"{at}.options", "options_required", messages.IMPORT_OPTIONS_REQUIRED)
        if f.type != "enum" and f.options is not None:
            err(f"{at}.options", "options_not_allowed", messages.IMPORT_OPTIONS_NOT_ALLOWED)
        for j in _duplicates([o.value for o in f.options or []]):
            err(f"{at}.options[{j}].value", "duplicate_option", messages.IMPORT_OPTION_REPEATED)
        if (f.min is not None or f.max is not None) and f.type not in NUMERIC_FIELD_TYPES:
            err(f"{at}.min" if f.min is not None else f"{at}.max", "range_not_allowed",
                messages.IMPORT_RANGE_NOT_ALLOWED)
        if f.min is not None and f.max is not None and f.min > f.max:
            err(f"{at}.min", "min_exceeds_max", messages.IMPORT_MIN_EXCEEDS_MAX)
        if f.max_length is not None and f.type not in TEXT_FIELD_TYPES:
            err(f"{at}.max_length", "max_length_not_allowed", messages.IMPORT_MAX_LENGTH_NOT_ALLOWED)
        for other, value in (f.required_when or {}).items():
            target = by_key.get(other)
            if target is None or other == f.key:
                err(f"{at}.required_when.{other}", "unknown_field",
                    messages.IMPORT_CONDITION_FIELD_UNKNOWN.format(other=other))
            elif target.type == "enum" and value not in {o.value for o in target.options or []}:
                err(f"{at}.required_when.{other}", "invalid_option",
                    messages.IMPORT_CONDITION_OPTION_INVALID.format(value=value, other=other))
    for i in _duplicates([x.code for x in m.materials]):
        err(f"materials[{i}].code", "duplicate_code", messages.IMPORT_MATERIAL_CODE_REPEATED.format(code=m.materials[i].code))
    for i, x in enumerate(m.materials):
        for j in _duplicates(list(x.file_types)):
            err(f"materials[{i}].file_types[{j}]", "duplicate", messages.IMPORT_FILE_TYPE_REPEATED)
    return errors


def validate_entry(raw: dict[str, Any]) -> tuple[MatterImport | None, list[FieldError]]:
    try:
        matter = MatterImport.model_validate(raw)
    except ValidationError as e:
        return None, _shape_errors(e)
    errors = _consistency_errors(matter)
    return (None, errors) if errors else (matter, [])


def content_of(m: MatterImport) -> dict[str, Any]:
    """A matter's content as stored in its version row (lists in their given order: order is meaning)."""
    data = m.model_dump(mode="json")
    data["fee"] = m.fee.model_dump(mode="json", exclude_none=True)
    data["fields"] = [f.model_dump(mode="json", exclude_none=True) for f in m.fields]
    data["materials"] = [x.model_dump(mode="json", exclude_none=True) for x in m.materials]
    return {c: data[c] for c in CONTENT_COLUMNS}


def stored_content(row: MatterVersion) -> dict[str, Any]:
    """The content of a stored version, normalised the same way as an incoming entry."""
    raw = {"code": row.code, **{c: getattr(row, c) for c in CONTENT_COLUMNS}}
    try:
        return content_of(MatterImport.model_validate(raw))
    except ValidationError:
        # A version stored before today's rules (or by hand): compared as it is, so any import replaces it.
        return {c: raw[c] for c in CONTENT_COLUMNS}


# --- publishing -----------------------------------------------------------------------------------

async def import_matters(database: Database, principal: Principal, entries: list[dict[str, Any]], *, dry_run: bool,
                         idempotency_key: str | None) -> ImportReport:
    """Validate every entry and publish the valid ones; the report (the first one, for a repeated key)."""
    key = None if dry_run else idempotency.check_key(idempotency_key)
    scope = f"matters-import:{principal.subject}"
    request_fingerprint = idempotency.fingerprint({"entries": entries})

    results: list[ImportEntryResult] = []
    valid: dict[str, tuple[int, MatterImport]] = {}
    for index, raw in enumerate(entries):
        code = raw.get("code") if isinstance(raw.get("code"), str) else None
        matter, errors = validate_entry(raw)
        if matter is not None and matter.code in valid:
            errors = [FieldError.of("code", messages.IMPORT_CODE_REPEATED_IN_REQUEST.format(
                index=valid[matter.code][0], code=matter.code), "duplicate_in_request")]
        elif matter is not None:
            valid[matter.code] = (index, matter)
        results.append(ImportEntryResult(index=index, code=code, outcome=ImportOutcome.REJECTED, version=None,
                                         errors=errors))

    async with database.transaction() as session:
        # Taken before the replay check, so a repeated key waits for the first request and replays it.
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": IMPORT_LOCK_KEY})
        if key:
            stored = await idempotency.replay(session, scope, key, request_fingerprint)
            if stored:
                return ImportReport.model_validate(stored[1])
        if valid:
            await _publish(session, valid, results, dry_run=dry_run)
        counts = {o: sum(1 for r in results if r.outcome == o) for o in ImportOutcome}
        report = ImportReport(dry_run=dry_run, results=results, summary=ImportSummary(
            created=counts[ImportOutcome.CREATED], new_version=counts[ImportOutcome.NEW_VERSION],
            unchanged=counts[ImportOutcome.UNCHANGED], rejected=counts[ImportOutcome.REJECTED]))
        if key:
            await idempotency.record(session, scope, key, request_fingerprint, 200, report.model_dump(mode="json"))
        log.info("catalogue_import", by=principal.subject, dry_run=dry_run, **report.summary.model_dump())
        return report


async def _publish(session: AsyncSession, valid: dict[str, tuple[int, MatterImport]], results: list[ImportEntryResult],
                   *, dry_run: bool) -> None:
    codes = list(valid)
    current = {m.code: m for m in (await session.scalars(
        select(MatterVersion).where(MatterVersion.code.in_(codes), MatterVersion.is_current.is_(True)))).all()}
    latest = dict((await session.execute(select(MatterVersion.code, func.max(MatterVersion.version))
                                         .where(MatterVersion.code.in_(codes)).group_by(MatterVersion.code))).all())
    next_position = (await session.scalar(select(func.coalesce(func.max(MatterVersion.position), 0))) or 0) + 1
    retired: list[MatterVersion] = []
    published: list[MatterVersion] = []
    for code, (index, matter) in valid.items():
        content = content_of(matter)
        row = current.get(code)
        result = results[index]
        result.errors = []
        if row is not None and content["help_video_url"] is None:
            # A new guide version carries its help video (service/help_videos.py): an editor removes one there.
            content["help_video_url"] = row.help_video_url
        if row is not None:
            before = stored_content(row)
            result.changed = [c for c in CONTENT_COLUMNS if before[c] != content[c]]
            if not result.changed:
                result.outcome, result.version = ImportOutcome.UNCHANGED, row.version
                continue
        version = latest.get(code, 0) + 1
        if row is None:
            position = next_position
            next_position += 1
        else:
            position = row.position
            retired.append(row)
        result.outcome = ImportOutcome.CREATED if version == 1 else ImportOutcome.NEW_VERSION
        result.version, result.previous_version = version, (row.version if row is not None else latest.get(code))
        video = row.help_video if row is not None and row.help_video_url == content["help_video_url"] else None
        published.append(MatterVersion(code=code, version=version, is_current=True, position=position,
                                       help_video=video, **content))
    if dry_run:
        return
    for row in retired:
        row.is_current = False
    # The partial unique index allows one current version per code: retire before publishing.
    await session.flush()
    session.add_all(published)
    await session.flush()
    for m in published:
        await announce(session, m)
        log.info("matter_published", code=m.code, version=m.version)


# --- guide completeness (办事指南) ---------------------------------------------------------------

# The elements of a service guide, in the order a guide presents them: name → Chinese and English label.
GUIDE_ELEMENTS: dict[str, tuple[str, str]] = {
    "name": ("事项名称（中英文）", "Name in Chinese and English"),
    "department": ("实施部门", "Responsible department"),
    "legal_basis": ("设定依据", "Legal basis"),
    "conditions": ("受理条件", "Conditions"),
    "time_limits": ("办理时限（法定与承诺）", "Statutory and promised time limits"),
    "fee_note": ("收费标准及依据说明", "Fee and its note"),
    "channels": ("办理渠道", "Channels"),
    "help_video": ("办事视频链接", "Help video link"),
    "licence_type": ("审批结果（证照名称）", "Licence issued"),
    "materials": ("申请材料（至少一项）", "At least one material"),
    "material_names": ("材料名称（中英文）", "Material names in Chinese and English"),
    "material_file_types": ("材料接受的文件格式", "Accepted file types of each material"),
    "field_labels": ("表单字段名称（中英文）", "Form field labels in Chinese and English"),
}


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def guide_gaps(m: MatterVersion) -> list[GuideGap]:
    """The guide elements a matter version lacks, each with the parts that lack it."""
    missing: dict[str, list[str]] = {}
    names = [n for n in ("name_zh", "name_en") if _blank(getattr(m, n))]
    if names:
        missing["name"] = names
    if _blank(m.department):
        missing["department"] = []
    if not any(not _blank(x) for x in m.legal_basis or []):
        missing["legal_basis"] = []
    if not any(not _blank(x) for x in m.conditions_zh or []):
        missing["conditions"] = []
    limits = [n for n, v, least in (("statutory_days", m.statutory_days, 1), ("promised_days", m.promised_days, 0))
              if not isinstance(v, int) or v < least]
    if limits:
        missing["time_limits"] = limits
    fee = m.fee if isinstance(m.fee, dict) else {}
    if not isinstance(fee.get("amount_fen"), int) or _blank(fee.get("note_zh")):
        missing["fee_note"] = []
    if not m.channels:
        missing["channels"] = []
    if _blank(m.help_video_url):
        missing["help_video"] = []
    if m.kind == "licence" and _blank(m.licence_type):
        missing["licence_type"] = []
    materials = m.materials or []
    if not materials:
        missing["materials"] = []
    unnamed = [x.get("code", "?") for x in materials if _blank(x.get("name")) or _blank(x.get("name_en"))]
    if unnamed:
        missing["material_names"] = unnamed
    untyped = [x.get("code", "?") for x in materials if not x.get("file_types")]
    if untyped:
        missing["material_file_types"] = untyped
    unlabelled = [f.get("key", "?") for f in m.fields or [] if _blank(f.get("label")) or _blank(f.get("label_en"))]
    if unlabelled:
        missing["field_labels"] = unlabelled
    return [GuideGap(element=e, label_zh=GUIDE_ELEMENTS[e][0], label_en=GUIDE_ELEMENTS[e][1], detail=missing[e])
            for e in GUIDE_ELEMENTS if e in missing]


async def guide_completeness(session: AsyncSession, *, limit: int, cursor: str | None,
                             kind: str | None = None) -> GuideCompletenessReport:
    """Every current matter whose guide misses an element, in catalogue order, with a summary of all.

    A few hundred current matters at most: checked here rather than in SQL, where the rules on the
    JSON form fields and materials would be much harder to read.
    """
    stmt = select(MatterVersion).where(MatterVersion.is_current.is_(True))
    if kind:
        stmt = stmt.where(MatterVersion.kind == kind)
    rows = (await session.scalars(stmt.order_by(MatterVersion.position, MatterVersion.code))).all()
    incomplete = [(m, gaps) for m in rows if (gaps := guide_gaps(m))]
    summary = GuideCompletenessSummary(
        current_matters=len(rows), complete=len(rows) - len(incomplete), incomplete=len(incomplete),
        by_element={e: sum(1 for _, gaps in incomplete if any(g.element == e for g in gaps)) for e in GUIDE_ELEMENTS})
    after = _after(cursor)
    if after:
        incomplete = [(m, g) for m, g in incomplete if (m.position, m.code) > after]
    page = incomplete[:limit]
    next_cursor = encode_cursor({"p": page[-1][0].position, "c": page[-1][0].code}) if len(incomplete) > limit else None
    return GuideCompletenessReport(
        summary=summary, next_cursor=next_cursor,
        items=[IncompleteGuide(code=m.code, version=m.version, name_zh=m.name_zh, kind=m.kind,
                               department=m.department, missing=gaps) for m, gaps in page])
