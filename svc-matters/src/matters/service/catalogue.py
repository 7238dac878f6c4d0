"""The catalogue of matters (事项): versions, listing, lookup."""
from __future__ import annotations

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from kit.contracts import FormFieldSpec, MaterialSpec, MatterRequirements
from kit.errors import NotFound
from kit.pagination import Page, decode_cursor, encode_cursor
from matters.models import MatterVersion
from matters.schemas import MatterDetail, MatterSummary


async def list_matters(session: AsyncSession, *, limit: int, cursor: str | None, kind: str | None = None,
                       q: str | None = None) -> Page[MatterSummary]:
    stmt = select(MatterVersion).where(MatterVersion.is_current.is_(True))
    if kind:
        stmt = stmt.where(MatterVersion.kind == kind)
    if q:
        like = f"%{q}%"
        stmt = stmt.where(or_(MatterVersion.name_zh.ilike(like), MatterVersion.name_en.ilike(like),
                              MatterVersion.code.ilike(like)))
    after = decode_cursor(cursor)
    if after:
        stmt = stmt.where(or_(MatterVersion.position > after.get("p", 0),
                              and_(MatterVersion.position == after.get("p", 0), MatterVersion.code > str(after.get("c", "")))))
    rows = (await session.scalars(stmt.order_by(MatterVersion.position, MatterVersion.code).limit(limit + 1))).all()
    items = [MatterSummary.model_validate(m) for m in rows[:limit]]
    next_cursor = encode_cursor({"p": rows[limit - 1].position, "c": rows[limit - 1].code}) if len(rows) > limit else None
    return Page[MatterSummary](items=items, next_cursor=next_cursor)


async def current_matter(session: AsyncSession, code: str) -> MatterVersion | None:
    return await session.scalar(select(MatterVersion).where(MatterVersion.code == code, MatterVersion.is_current.is_(True)))


async def get_matter(session: AsyncSession, code: str) -> MatterDetail:
    matter = await current_matter(session, code)
    if matter is None:
        raise NotFound(f"事项 {code} 不存在 / no matter {code}")
    return MatterDetail.model_validate(matter)


def requirements_of(matter: MatterVersion) -> MatterRequirements:
    return MatterRequirements(code=matter.code, version=matter.version, kind=matter.kind,  # type: ignore[arg-type]
                              fields=[FormFieldSpec.model_validate(f) for f in matter.fields],
                              materials=[MaterialSpec.model_validate(m) for m in matter.materials])
