"""Help videos (帮办微视频): editors set each matter's video — an uploaded file or a link — and the guide
carries it, versioned with the guide.

Setting, replacing or removing a video publishes the matter's next guide version (its content with the
new ``help_video_url`` and ``help_video``), so history is kept where the guide's history is (``GET
/v1/matters/{code}/versions``; ``help_videos`` keeps every video set), open applications keep the
version they were filed under, svc-prequal hears of it (``matter.published``) and the catalogue's
generation trigger drops every replica's cached guide pages (``kit.page_cache``). A guide version
published later by an import carries the current video unless the import names another link
(``catalogue._publish``). The same video set again changes nothing (the PUT is idempotent). Uploaded bytes
go to the material blob store (content-addressed: stored once); their URL is public, as the guide is
meant for everyone. Every change is audited.
"""
from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from kit.audit import record_audit
from kit.auth import Principal
from kit.db import Database
from kit.errors import FieldError, NotFound, PayloadTooLarge, ValidationFailed
from matters import messages
from matters.models import HelpVideo, MatterVersion
from matters.schemas import HelpVideoVersion, MatterDetail
from matters.service import catalogue, materials
from matters.service.blobs import BlobStore

log = structlog.get_logger("matters.help_videos")

# The containers a browser plays: ISO base media (MP4: ``ftyp`` box at offset 4) and WebM (EBML header).
_WEBM_MAGIC = b"\x1a\x45\xdf\xa3"


def video_type(data: bytes) -> str:
    """The content type of an acceptable video by its bytes, whatever it was declared as; 422 otherwise."""
    if data[4:8] == b"ftyp":
        return "video/mp4"
    if data.startswith(_WEBM_MAGIC):
        return "video/webm"
    raise ValidationFailed(messages.VIDEO_TYPE_NOT_ACCEPTED, errors=[FieldError.of(
        "file", messages.VIDEO_TYPE_NOT_ACCEPTED, "video_type_not_accepted")])


def check_size(size: int | None, max_bytes: int) -> None:
    if size is not None and size > max_bytes:
        raise PayloadTooLarge(messages.VIDEO_TOO_LARGE.format(mb=max_bytes // (1024 * 1024)))


def content_url(video_id: str) -> str:
    return f"/v1/help-videos/{video_id}/content"


def describe(video: HelpVideo, at: datetime) -> dict[str, Any]:
    """What a guide version stores of its video (``MatterVersion.help_video``, read as HelpVideoView)."""
    return {"id": video.id, "source": video.source, "url": video.url or content_url(video.id),
            "content_type": video.content_type, "size": video.size, "filename": video.filename,
            "set_at": at.isoformat()}


async def _current(session: AsyncSession, code: str) -> MatterVersion:
    # Publishing is serialised with imports (one lock): "max(version) + 1" and the current flag stay race-free.
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": catalogue.IMPORT_LOCK_KEY})
    row = (await session.scalars(select(MatterVersion).where(MatterVersion.code == code,
                                                             MatterVersion.is_current.is_(True)))).one_or_none()
    if row is None:
        raise NotFound(messages.MATTER_NOT_FOUND.format(code=code))
    return row


async def _publish(session: AsyncSession, principal: Principal, row: MatterVersion, video: HelpVideo | None
                   ) -> MatterDetail:
    """The matter's next guide version, carrying ``video`` (None: no video); audited and announced."""
    now = datetime.now(UTC)
    version = (await session.scalar(select(func.max(MatterVersion.version)).where(MatterVersion.code == row.code)) or 0) + 1
    content = {c: getattr(row, c) for c in catalogue.CONTENT_COLUMNS}
    if video is not None:
        session.add(video)
    content["help_video_url"] = (video.url or content_url(video.id)) if video is not None else None
    published = MatterVersion(code=row.code, version=version, is_current=True, position=row.position,
                              help_video=describe(video, now) if video is not None else None, **content)
    row.is_current = False
    await session.flush()  # the partial unique index allows one current version per code: retire first
    session.add(published)
    await session.flush()
    await catalogue.announce(session, published)
    await record_audit(session, principal, "matter.help_video_set" if video else "matter.help_video_removed", "matter",
                       row.code, details={"version": version, "previous_version": row.version,
                                          "video_id": video.id if video else None,
                                          "source": video.source if video else None})
    catalogue.forget_current(row.code)
    log.info("help_video_published", code=row.code, version=version, source=video.source if video else None)
    return MatterDetail.model_validate(published)


async def set_link(database: Database, principal: Principal, code: str, url: str) -> MatterDetail:
    async with database.transaction() as session:
        row = await _current(session, code)
        if row.help_video_url == url and row.help_video is not None:
            return MatterDetail.model_validate(row)  # the same link again: nothing changes
        video = HelpVideo(id=uuid.uuid4().hex, matter_code=code, source="link", url=url, created_by=principal.subject)
        return await _publish(session, principal, row, video)


async def upload(database: Database, store: BlobStore, principal: Principal, code: str, filename: str,
                 data: bytes, max_bytes: int) -> MatterDetail:
    if not data:
        raise ValidationFailed(messages.FILE_EMPTY, errors=[FieldError.of("file", messages.FILE_EMPTY, "empty")])
    check_size(len(data), max_bytes)
    content_type = video_type(data)
    digest = hashlib.sha256(data).hexdigest()
    async with database.transaction() as session:
        row = await _current(session, code)
        if row.help_video is not None and row.help_video.get("source") == "upload":
            current = await session.get(HelpVideo, row.help_video["id"])
            if current is not None and current.sha256 == digest:
                return MatterDetail.model_validate(row)  # the same file again: nothing changes
        if not await store.exists(digest):
            await store.put(digest, data)
        video = HelpVideo(id=uuid.uuid4().hex, matter_code=code, source="upload", sha256=digest,
                          content_type=content_type, size=len(data), filename=filename[-255:],
                          created_by=principal.subject)
        return await _publish(session, principal, row, video)


async def remove(database: Database, principal: Principal, code: str) -> MatterDetail:
    async with database.transaction() as session:
        row = await _current(session, code)
        if row.help_video_url is None:
            return MatterDetail.model_validate(row)
        return await _publish(session, principal, row, None)


async def history(session: AsyncSession, code: str) -> list[HelpVideoVersion]:
    """Every guide version of the matter with the video it carried, newest first."""
    rows = (await session.scalars(select(MatterVersion).where(MatterVersion.code == code)
                                  .order_by(MatterVersion.version.desc()))).all()
    if not rows:
        raise NotFound(messages.MATTER_NOT_FOUND.format(code=code))
    return [HelpVideoVersion(version=r.version, is_current=r.is_current, published_at=r.published_at,
                             help_video_url=r.help_video_url, help_video=r.help_video) for r in rows]


async def content(database: Database, store: BlobStore, video_id: str) -> tuple[HelpVideo, AsyncIterator[bytes]]:
    """An uploaded video and its bytes; the connection is given back before the (maybe slow) download."""
    async with database.session() as session:
        video = await session.get(HelpVideo, video_id)
    if video is None or video.sha256 is None:
        raise NotFound(messages.HELP_VIDEO_NOT_FOUND)
    return video, await materials.stream(store, video.sha256)
