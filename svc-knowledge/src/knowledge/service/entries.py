"""Entries: editors create and change them (each change a new version), editors send them to review,
a reviewer publishes or retires them; JSON Lines import and export; "as of a date" lookups; the
policy deadline (published at least one working day before the policy takes effect) and the
inspection (巡检) cycle."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import nh3
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal, Role
from kit.calendar import CalendarError, default_calendar
from kit.calendar import local_date as today
from kit.contracts.knowledge import PolicyDeadlineMissed
from kit.db import Database
from kit.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from kit.events import add_event
from kit.i18n import Text
from kit.idempotency import create_once
from kit.pagination import newest_first_after, newest_first_cursor
from kit.statemachine import StateMachine, Transition
from knowledge import messages
from knowledge.models import Entry, EntryEvent, EntryVersion
from knowledge.schemas import (
    EntryContent,
    EntryCreate,
    EntryPatch,
    EntryStatus,
    EntryView,
    ImportRejection,
    ImportReport,
    PublicEntry,
)
from knowledge.service.index import bump_generation, holder, version_tokens
from knowledge.service.retrieval import analyzer

SHANGHAI = ZoneInfo("Asia/Shanghai")
INSPECTION_INTERVAL_DAYS = 180
AT_RISK_WORKING_DAYS = 3
MAX_IMPORT_LINES = 20_000

EntryAction = Literal["submit", "publish", "retire", "confirm"]
ALL_STATUSES: frozenset[EntryStatus] = frozenset({"draft", "in_review", "published", "retired"})
# An entry is "live" from its first publication until it is retired; revising it makes a new draft
# version while the published one stays live. Confirming (巡检) is about the live answer, so it is
# possible in any status while the entry is live, and leaves the status as it is.
LIVE, OFFLINE = "live", "offline"

ENTRY_STATES: StateMachine[EntryStatus] = StateMachine(messages.ENTRY, [
    Transition("submit", frozenset({"draft"}), "in_review", frozenset({Role.KNOWLEDGE_EDITOR})),
    Transition("publish", ALL_STATUSES - {"published"}, "published", frozenset({Role.REVIEWER})),
    Transition("retire", ALL_STATUSES - {"retired"}, "retired", frozenset({Role.REVIEWER})),
    Transition("confirm", ALL_STATUSES, None, frozenset({Role.KNOWLEDGE_EDITOR}), kinds=frozenset({LIVE})),
])

ANSWER_TAGS = {"p", "br", "ul", "ol", "li", "strong", "em", "b", "i", "u", "a", "table", "thead", "tbody", "tr",
               "th", "td", "h3", "h4", "blockquote", "span"}


def sanitise(html: str) -> str:
    """Rich text reduced to safe markup: no scripts, styles, event handlers or javascript: links."""
    return nh3.clean(html, tags=ANSWER_TAGS, attributes={"a": {"href", "title"}},
                     url_schemes={"http", "https", "mailto", "tel"}, link_rel="noopener noreferrer").strip()


def policy_deadline(effective: date | None) -> date | None:
    """The last day on which publishing meets the rule: one working day before the policy takes effect.

    None while the platform calendar has no data for that year (a policy announced for a year whose
    holidays are not published yet): the entry is kept, listed as waiting for the calendar, and its
    deadline is set by the policy job once ops add the year.
    """
    if effective is None:
        return None
    try:
        return default_calendar().add_working_days(effective, -1)
    except CalendarError:
        return None


def _content(body: EntryContent) -> dict[str, Any]:
    content = body.model_dump(mode="json", exclude={"id", "note"})
    content["answer"] = sanitise(content["answer"])
    if not content["answer"]:
        raise ValidationFailed(messages.ANSWER_EMPTY_ONCE_SANITISED)
    return content


def _apply(entry: Entry, content: dict[str, Any]) -> None:
    entry.matter = content.get("matter")
    entry.category = content["category"]
    entry.question = content["question"]
    entry.owner_department = content.get("owner_department")
    effective = content.get("policy_effective_date")
    entry.policy_effective_date = date.fromisoformat(effective) if effective else None
    entry.policy_deadline = policy_deadline(entry.policy_effective_date)


async def _history(session: AsyncSession, entry: Entry, action: str, actor: str, note: str | None = None,
                   changed: list[str] | None = None) -> None:
    session.add(EntryEvent(entry_id=entry.id, version=entry.version, action=action, actor=actor, note=note,
                           changed_fields=changed))


async def get_entry(session: AsyncSession, entry_id: str, *, lock: bool = False) -> Entry:
    query = select(Entry).where(Entry.id == entry_id)
    entry = (await session.execute(query.with_for_update() if lock else query)).scalar_one_or_none()
    if entry is None:
        raise NotFound(messages.ENTRY_NOT_FOUND.format(entry_id=entry_id))
    return entry


async def version_content(session: AsyncSession, entry_id: str, version: int) -> dict[str, Any]:
    return (await session.execute(select(EntryVersion.content).where(
        EntryVersion.entry_id == entry_id, EntryVersion.version == version))).scalar_one()


async def view(session: AsyncSession, entry: Entry) -> EntryView:
    return EntryView.model_validate(
        {**{c: getattr(entry, c) for c in ("id", "status", "version", "published_version", "live", "policy_deadline",
                                            "next_inspection_due", "last_inspected_at", "created_by", "created_at",
                                            "updated_at")},
         "content": await version_content(session, entry.id, entry.version)})


async def read_entry(session: AsyncSession, principal: Principal | None, entry_id: str, as_of: date | None
                     ) -> EntryView | PublicEntry:
    """Staff see the newest version; the public (no token) the published one, or as it was published on ``as_of``."""
    if as_of is None and principal is not None and principal.is_staff:
        return await view(session, await get_entry(session, entry_id))
    content = await published_as_of(session, entry_id, as_of)
    return PublicEntry(id=entry_id, version=content["version"], question=content["question"],
                       similar=content.get("similar") or [], answer=content["answer"], matter=content.get("matter"),
                       category=content["category"], policy_ref=content.get("policy_ref"))


async def version_of(session: AsyncSession, entry_id: str, version: int) -> dict[str, Any]:
    """One version's content, as staff read it."""
    entry = await get_entry(session, entry_id)
    if version > entry.version:
        raise NotFound(messages.VERSION_NOT_FOUND.format(version=version))
    return {"id": entry_id, "version": version, "content": await version_content(session, entry_id, version)}


async def create_entry(database: Database, principal: Principal, body: EntryCreate, idempotency_key: str | None
                       ) -> EntryView:
    """A new draft, once per ``Idempotency-Key`` of the caller."""
    async def create_draft(session: AsyncSession) -> EntryView:
        entry = await create(session, principal, body)
        await session.flush()
        return await view(session, entry)

    return await create_once(database, f"entries:{principal.subject}", idempotency_key, body.model_dump(mode="json"),
                             create_draft, EntryView)


async def change_entry(database: Database, principal: Principal, entry_id: str, patch: EntryPatch) -> EntryView:
    async with database.transaction() as session:
        return await view(session, await change(session, principal, entry_id, patch))


async def create(session: AsyncSession, principal: Principal, body: EntryCreate, *, proposal_id: str | None = None
                 ) -> Entry:
    entry_id = body.id or f"kb-{uuid.uuid4().hex[:12]}"
    if (await session.execute(select(Entry.id).where(Entry.id == entry_id))).first():
        raise Conflict(messages.ENTRY_EXISTS.format(entry_id=entry_id))
    entry, _ = await _add_new(session, principal, entry_id, _content(body), proposal_id)
    return entry


async def _add_new(session: AsyncSession, principal: Principal, entry_id: str, content: dict[str, Any],
                   proposal_id: str | None = None) -> tuple[Entry, EntryVersion]:
    entry = Entry(id=entry_id, status="draft", version=1, created_by=principal.subject, source_proposal_id=proposal_id)
    _apply(entry, content)
    version = EntryVersion(entry_id=entry_id, version=1, content=content, created_by=principal.subject)
    # No flush per entry: the unit of work inserts entries before their versions and history (foreign keys).
    session.add_all([entry, version])
    await _history(session, entry, "created", principal.subject, "proposed by the help desk" if proposal_id else None)
    return entry, version


async def change(session: AsyncSession, principal: Principal, entry_id: str, patch: EntryPatch, *,
                 entry: Entry | None = None, current: dict[str, Any] | None = None) -> Entry:
    """A new version with the patch applied; ``entry`` (locked) and its ``current`` content when the
    caller already has them."""
    entry = entry or await get_entry(session, entry_id, lock=True)
    given = patch.model_dump(mode="json", exclude_unset=True, exclude={"note"})
    current = current if current is not None else await version_content(session, entry.id, entry.version)
    try:
        merged = EntryContent.model_validate({**current, **given})
    except ValidationError as e:  # e.g. a field that may not be null set to null
        raise ValidationFailed(messages.CHANGED_ENTRY_INVALID, errors=[
            FieldError(field=".".join(str(p) for p in err["loc"]), message=err["msg"],
                       message_en=(err.get("ctx") or {}).get("message_en", err["msg"]), code=err["type"])
            for err in e.errors()]) from None
    content = _content(merged)
    changed = sorted(k for k in content if content.get(k) != current.get(k))
    if not changed:
        return entry
    entry.version += 1
    entry.status = "draft"
    entry.updated_at = datetime.now(UTC)
    _apply(entry, content)
    session.add(EntryVersion(entry_id=entry.id, version=entry.version, content=content, created_by=principal.subject))
    await _history(session, entry, "revised", principal.subject, patch.note, changed)
    return entry


async def _checked(session: AsyncSession, principal: Principal, entry_id: str, action: EntryAction) -> Entry:
    """The entry, locked, once the state machine allows ``action`` on it for ``principal``."""
    entry = await get_entry(session, entry_id, lock=True)
    ENTRY_STATES.check(entry.status, action, principal, kind=LIVE if entry.live else OFFLINE)
    return entry


async def take_action(database: Database, principal: Principal, entry_id: str, action: EntryAction,
                      note: str | None) -> EntryView:
    """Submit, publish, retire or confirm, in one transaction; a publication or retirement is
    searchable on this replica at once (the others follow within a second, ``index.refresh_job``)."""
    async with database.transaction() as session:
        entry = await ACTIONS[action](session, principal, entry_id, note)
        result = await view(session, entry)
    if action in ("publish", "retire"):
        await holder.refresh(database)
    return result


async def submit(session: AsyncSession, principal: Principal, entry_id: str, note: str | None) -> Entry:
    entry = await _checked(session, principal, entry_id, "submit")
    entry.status = "in_review"
    entry.updated_at = datetime.now(UTC)
    await _history(session, entry, "submitted", principal.subject, note)
    return entry


async def publish(session: AsyncSession, principal: Principal, entry_id: str, note: str | None = None) -> Entry:
    entry = await _checked(session, principal, entry_id, "publish")
    await _publish(session, entry)
    await _history(session, entry, "published", principal.subject, note)
    await bump_generation(session)
    return entry


async def _publish(session: AsyncSession, entry: Entry, version: EntryVersion | None = None) -> None:
    if version is None:
        version = await session.get_one(EntryVersion, (entry.id, entry.version))
    if version.tokens is None or version.tokens.get("fingerprint") != analyzer().fingerprint:
        version.tokens = version_tokens(version.content)
    now = datetime.now(UTC)
    entry.status, entry.published_version, entry.live = "published", entry.version, True
    entry.published_at, entry.updated_at = now, now
    entry.first_published_at = entry.first_published_at or now
    # A published (or revised and re-published) entry counts as inspected now.
    entry.last_inspected_at = now
    entry.next_inspection_due = today() + timedelta(days=INSPECTION_INTERVAL_DAYS)


async def retire(session: AsyncSession, principal: Principal, entry_id: str, note: str | None) -> Entry:
    entry = await _checked(session, principal, entry_id, "retire")
    entry.status, entry.live, entry.updated_at = "retired", False, datetime.now(UTC)
    entry.next_inspection_due = None
    await _history(session, entry, "retired", principal.subject, note)
    await bump_generation(session)
    return entry


async def confirm(session: AsyncSession, principal: Principal, entry_id: str, note: str | None) -> Entry:
    """巡检: an editor confirms the published answer is still right; it is due again after the interval."""
    entry = await _checked(session, principal, entry_id, "confirm")
    now = datetime.now(UTC)
    entry.last_inspected_at, entry.updated_at = now, now
    entry.next_inspection_due = today() + timedelta(days=INSPECTION_INTERVAL_DAYS)
    await _history(session, entry, "confirmed", principal.subject, note)
    return entry


ACTIONS = {"submit": submit, "publish": publish, "retire": retire, "confirm": confirm}


async def list_entries(session: AsyncSession, *, status: str | None, matter: str | None, category: str | None,
                       inspection_due: bool, cursor: str | None, limit: int) -> tuple[list[Entry], str | None]:
    query = select(Entry)
    if status:
        query = query.where(Entry.status == status)
    if matter:
        query = query.where(Entry.matter == matter)
    if category:
        query = query.where(Entry.category == category)
    if inspection_due:
        query = query.where(Entry.live.is_(True), Entry.next_inspection_due <= today())
    after = newest_first_after(cursor, Entry.updated_at, Entry.id)
    if after is not None:
        query = query.where(after)
    rows = list((await session.execute(query.order_by(Entry.updated_at.desc(), Entry.id.desc()).limit(limit + 1)))
                .scalars())
    next_cursor = newest_first_cursor(rows[limit - 1].updated_at, rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor


async def published_as_of(session: AsyncSession, entry_id: str, day: date | None) -> dict[str, Any]:
    """The content the public saw: now, or at the end of ``day`` (Asia/Shanghai) — the version
    published last before then, unless the entry was retired after it, and only inside its
    effective period."""
    entry = await get_entry(session, entry_id)
    if day is None:
        if not entry.live or entry.published_version is None:
            raise NotFound(messages.ENTRY_NOT_PUBLISHED.format(entry_id=entry_id))
        return {"version": entry.published_version, **await version_content(session, entry_id, entry.published_version)}
    end = datetime.combine(day + timedelta(days=1), time.min, SHANGHAI)
    last = (await session.execute(
        select(EntryEvent.action, EntryEvent.version).where(
            EntryEvent.entry_id == entry_id, EntryEvent.action.in_(("published", "retired")), EntryEvent.at < end)
        .order_by(EntryEvent.seq.desc()).limit(1))).first()
    if last is None or last.action == "retired":
        raise NotFound(messages.ENTRY_NOT_PUBLISHED_ON.format(entry_id=entry_id, day=day))
    content = await version_content(session, entry_id, last.version)
    start, stop = content.get("effective_from"), content.get("effective_to")
    if (start and day < date.fromisoformat(start)) or (stop and day > date.fromisoformat(stop)):
        raise NotFound(messages.ENTRY_NOT_IN_EFFECT_ON.format(entry_id=entry_id, day=day))
    return {"version": last.version, **content}


async def history(session: AsyncSession, entry_id: str) -> list[EntryEvent]:
    await get_entry(session, entry_id)
    return list((await session.execute(select(EntryEvent).where(EntryEvent.entry_id == entry_id)
                                       .order_by(EntryEvent.seq))).scalars())


# ---- JSON Lines import and export ----------------------------------------------------------------------

def parse_lines(body: bytes) -> tuple[list[tuple[int, EntryCreate]], list[ImportRejection], int]:
    """Every line checked on its own: good lines are kept, bad ones reported with their reasons."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed(messages.IMPORT_NOT_UTF8) from None
    good: list[tuple[int, EntryCreate]] = []
    rejected: list[ImportRejection] = []
    seen: set[str] = set()
    received = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        received += 1
        if received > MAX_IMPORT_LINES:
            raise ValidationFailed(messages.IMPORT_TOO_MANY_LINES.format(limit=MAX_IMPORT_LINES))
        try:
            data = json.loads(line)
        except json.JSONDecodeError as e:
            rejected.append(ImportRejection(line=number, errors=[_both(messages.LINE_NOT_JSON.format(reason=e.msg))]))
            continue
        if not isinstance(data, dict):
            rejected.append(ImportRejection(line=number, errors=[_both(messages.LINE_NOT_OBJECT)]))
            continue
        entry_id = data.get("id") if isinstance(data.get("id"), str) else None
        try:
            entry = EntryCreate.model_validate(data)
        except ValidationError as e:
            rejected.append(ImportRejection(line=number, id=entry_id, errors=[
                f"{'.'.join(str(p) for p in err['loc'])}: {_pydantic_message(err)}" for err in e.errors()]))
            continue
        if entry.id and entry.id in seen:
            rejected.append(ImportRejection(line=number, id=entry.id, errors=[_both(messages.LINE_DUPLICATE_ID)]))
            continue
        if entry.id:
            seen.add(entry.id)
        good.append((number, entry))
    return good, rejected, received


def _both(text: Text | str | None) -> str:
    """A text of the import report, which is read by both kinds of reader: Chinese / English."""
    if isinstance(text, Text):
        return f"{text.zh} / {text.en}"
    return text or "invalid"


def _pydantic_message(error: ErrorDetails) -> str:
    """pydantic's own message, or both languages of a catalogue text a validator refused with (kit.i18n.invalid)."""
    english = (error.get("ctx") or {}).get("message_en")
    return f"{error['msg']} / {english}" if english else str(error["msg"])


async def import_entries(database: Database, principal: Principal, body: bytes, *, publish_now: bool) -> ImportReport:
    """Import JSON Lines in one transaction; what is published is searchable on this replica at once."""
    if publish_now and not principal.has_role(Role.REVIEWER, Role.OPS_ADMIN):
        raise Forbidden(messages.IMPORT_PUBLISH_ROLE_REQUIRED)
    if not body.strip():
        raise ValidationFailed(messages.IMPORT_EMPTY)
    async with database.transaction() as session:
        report = await import_lines(session, principal, body, publish_now=publish_now)
    if report.published:
        await holder.refresh(database)
    return report


async def import_lines(session: AsyncSession, principal: Principal, body: bytes, *, publish_now: bool) -> ImportReport:
    good, rejected, received = parse_lines(body)
    ids = [item.id for _, item in good if item.id]
    existing: dict[str, Entry] = {}
    current: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 1000):  # the entries the file changes, locked, with their newest content
        chunk = ids[start:start + 1000]
        rows = (await session.execute(select(Entry).where(Entry.id.in_(chunk)).order_by(Entry.id).with_for_update())).scalars()
        existing.update({e.id: e for e in rows})
        versions = (await session.execute(select(EntryVersion.entry_id, EntryVersion.content).join(
            Entry, and_(Entry.id == EntryVersion.entry_id, Entry.version == EntryVersion.version)).where(
            Entry.id.in_(chunk)))).all()
        current.update({v.entry_id: v.content for v in versions})
    created = updated = unchanged = published = 0
    for line_number, item in good:
        entry = existing.get(item.id) if item.id else None
        version: EntryVersion | None = None
        try:
            content = _content(item)
        except ValidationFailed as e:
            rejected.append(ImportRejection(line=line_number, id=item.id, errors=[_both(e.detail)]))
            continue
        if entry is None:
            entry, version = await _add_new(session, principal, item.id or f"kb-{uuid.uuid4().hex[:12]}", content)
            created += 1
        else:
            before = entry.version
            await change(session, principal, entry.id, EntryPatch.model_validate(
                item.model_dump(exclude={"id"}) | {"note": "imported"}), entry=entry, current=current[entry.id])
            if entry.version == before:
                unchanged += 1
            else:
                updated += 1
        if publish_now and not (entry.live and entry.published_version == entry.version):
            await _publish(session, entry, version)
            await _history(session, entry, "published", principal.subject, "imported")
            published += 1
    if published:
        await bump_generation(session)
    rejected.sort(key=lambda r: r.line)
    return ImportReport(received=received, created=created, updated=updated, unchanged=unchanged, published=published,
                        rejected=rejected)


async def export_lines(session: AsyncSession, *, published_only: bool) -> list[str]:
    """One JSON line per entry in the import format: the published version, or the newest one."""
    version = Entry.published_version if published_only else Entry.version
    query = (select(Entry.id, EntryVersion.content)
             .join(EntryVersion, and_(EntryVersion.entry_id == Entry.id, EntryVersion.version == version))
             .order_by(Entry.id))
    if published_only:
        query = query.where(Entry.live.is_(True))
    rows = (await session.execute(query)).all()
    return [json.dumps({"id": r.id, **r.content}, ensure_ascii=False) for r in rows]


# ---- policy deadline (政策生效前至少 1 个工作日更新) --------------------------------------------------------

async def policy_deadlines(session: AsyncSession) -> dict[str, list[dict[str, Any]]]:
    """Entries linked to a policy that are at risk (not published, deadline within a few working days)
    or late (not published by the deadline, or published after it)."""
    now = today()
    calendar = default_calendar()
    rows = (await session.execute(select(Entry).where(Entry.policy_deadline.is_not(None))
                                  .order_by(Entry.policy_deadline, Entry.id))).scalars()
    at_risk, late = [], []
    waiting = [{"id": e.id, "question": e.question, "policy_ref": None, "policy_effective_date": e.policy_effective_date,
                "policy_deadline": None, "status": e.status, "published_at": e.published_at, "working_days_left": None}
               for e in (await session.execute(select(Entry).where(
                   Entry.policy_effective_date.is_not(None), Entry.policy_deadline.is_(None), Entry.live.is_(False))
                   .order_by(Entry.policy_effective_date, Entry.id))).scalars()]
    for e in rows:
        deadline = e.policy_deadline
        if deadline is None:  # not selected: this only tells the type checker
            continue
        published_on = e.published_at.astimezone(SHANGHAI).date() if e.published_at and e.live else None
        on_time = published_on is not None and published_on <= deadline and e.published_version == e.version
        try:
            left = calendar.working_days_between(now, deadline)
        except CalendarError:
            left = None
        item = {"id": e.id, "question": e.question, "policy_ref": None, "policy_effective_date": e.policy_effective_date,
                "policy_deadline": deadline, "status": e.status, "published_at": e.published_at,
                "working_days_left": left}
        if on_time:
            continue
        if (published_on and published_on > deadline) or (published_on is None and now > deadline):
            late.append(item)
        elif published_on is None and left is not None and left <= AT_RISK_WORKING_DAYS:
            at_risk.append(item)
    return {"at_risk": at_risk, "late": late, "waiting_for_calendar": waiting}


async def report_late_policies(session: AsyncSession) -> int:
    """Raise ``PolicyDeadlineMissed`` once for each entry not published by its policy deadline (after
    setting the deadlines the calendar could not give before)."""
    now = today()
    for e in (await session.execute(select(Entry).where(
            Entry.policy_effective_date.is_not(None), Entry.policy_deadline.is_(None)).with_for_update(skip_locked=True))
            ).scalars():
        e.policy_deadline = policy_deadline(e.policy_effective_date)
    await session.flush()
    rows = (await session.execute(select(Entry).where(
        Entry.policy_deadline < now, Entry.policy_late_reported_at.is_(None),
        or_(Entry.first_published_at.is_(None),
            func.date(func.timezone("Asia/Shanghai", Entry.first_published_at)) > Entry.policy_deadline))
        .with_for_update(skip_locked=True))).scalars().all()
    for e in rows:
        e.policy_late_reported_at = datetime.now(UTC)
        await add_event(session, PolicyDeadlineMissed(
            entry_id=e.id, question=e.question, matter=e.matter, owner_department=e.owner_department,
            policy_effective_date=e.policy_effective_date, deadline=e.policy_deadline,
            published_at=e.first_published_at), subject=e.id)
    return len(rows)
