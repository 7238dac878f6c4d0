"""The licences svc-licences has issued (电子证照), as its events tell: one read model that each service
reading licences keeps in its own database, under one shape and one set of rules.

svc-matters checks a material exempted by a licence (两个免于提交) against it at submission; svc-prequal
compares the licences an application cites (数据比对) and pre-fills licence numbers from it. Both keep a
table ``known_licences`` of this shape (``KnownLicenceColumns``, mixed into each service's own
``Base``), created or completed by ``complete_table`` in their migrations, and fed by one durable
consumer of ``lvrong.licences.licence.issued`` and ``.licence.status_changed`` (``LicenceReadModel``'s
``subscription``). Never read from svc-licences' tables: services share no database.

Recognised partner documents (长三角, ``lvrong.licences.partner_document.recognised``) are kept in the same
table, by the same consumer: the row's ``licence_id`` is the recognition's id, its holder the company's
credit code, ``partner_province`` the province that issued it. So a partner's 检疫要求书 stands in for a
material through the very checks our own licences pass (held, type, status, validity). When the partner
revokes, suspends or reinstates it in its status list, svc-licences' re-check announces it
(``.partner_document.status_changed``) and the row's status follows, by the rules of our own status changes.

Events may arrive late or twice. An issue carries the licence's ``version`` (变更, 延续 and 补发 make a
new one): an older version never replaces a newer one's number, identifier and validity. A status
change carries when it happened: the latest ``occurred_at`` wins, so a redelivered suspension cannot
bring a revoked licence back. A new version leaves the status alone (svc-licences announces a change
of status as its own event).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
import structlog
from alembic import op
from sqlalchemy import DateTime, Index, Integer, String, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from kit.contracts.licences import (
    LicenceIssued,
    LicenceStatusChanged,
    PartnerDocumentRecognised,
    PartnerDocumentStatusChanged,
)
from kit.events import CloudEvent, EventSubscription

log = structlog.get_logger("kit.licence_read_model")

TABLE = "known_licences"
# Each consuming service's durable consumer is ``<service>-licences-held``.
CONSUMER_NAME = "licences-held"
# A reference names a licence by its id, its number or its identifier (one query over the three);
# pre-fill finds the licences of a holder.
INDEXES: Mapping[str, tuple[str, ...]] = {
    "ix_known_licences_number": ("licence_number",),
    "ix_known_licences_identifier": ("identifier",),
    "ix_known_licences_holder": ("holder_subject",),
}


class KnownLicenceColumns:
    """The columns of ``known_licences``: mixed into a service's declarative ``Base``."""

    __tablename__ = TABLE

    licence_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    licence_number: Mapped[str] = mapped_column(String(128), nullable=False)
    # 证照标识 of the current version (it changes with each version; the id and the number do not).
    identifier: Mapped[str | None] = mapped_column(String(128))
    licence_type: Mapped[str] = mapped_column(String(128), nullable=False)
    licence_type_code: Mapped[str | None] = mapped_column(String(32))
    application_id: Mapped[str] = mapped_column(String(64), nullable=False)
    holder_subject: Mapped[str] = mapped_column(String(128), nullable=False)
    holder_org_code: Mapped[str | None] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="active")
    status_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    valid_from: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    valid_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    observed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    # Set for a partner province's recognised document (JS, ZJ, AH); None for the bureau's own licences.
    partner_province: Mapped[str | None] = mapped_column(String(8))

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Index, ...]:
        return tuple(Index(name, *columns) for name, columns in INDEXES.items())

    def held_by(self, subject: str, org_code: str | None) -> bool:
        """Issued to the account, or to the company it acts for (by its credit code)."""
        return self.holder_subject == subject or (org_code is not None and org_code in (self.holder_subject,
                                                                                         self.holder_org_code))

    def revoked_by(self, moment: datetime) -> bool:
        return self.status == "revoked" and (self.status_at is None or self.status_at <= moment)

    def expired_by(self, moment: datetime) -> bool:
        """Judged from ``valid_until`` rather than from an ``expired`` status: a renewal (延续) of an
        expired licence makes it valid again with a new version but no status event."""
        return self.valid_until is not None and self.valid_until < moment


Licence = TypeVar("Licence", bound=KnownLicenceColumns)


class LicenceReadModel(Generic[Licence]):
    """The event handlers and queries of one service's ``known_licences`` (its mapped class ``model``)."""

    def __init__(self, model: type[Licence]) -> None:
        self.model = model

    def subscription(self, name: str = CONSUMER_NAME) -> EventSubscription:
        """The consumer a service registers: issues and status changes in one, so that they are applied
        in the order svc-licences published them. A new one reads the licences stream from its start."""
        return EventSubscription(name=name, producer=LicenceIssued.source_service,
                                 subjects=[LicenceIssued.event_type, LicenceStatusChanged.event_type,
                                           PartnerDocumentRecognised.event_type, PartnerDocumentStatusChanged.event_type],
                                 handler=self.record_event)

    async def record_event(self, session: AsyncSession, event: CloudEvent) -> None:
        if event.type == LicenceStatusChanged.event_type:
            await self.record_status_changed(session, event)
        elif event.type == PartnerDocumentRecognised.event_type:
            await self.record_partner_document(session, event)
        elif event.type == PartnerDocumentStatusChanged.event_type:
            changed = PartnerDocumentStatusChanged.from_event(event)
            await self.apply_status(session, changed.recognition_id, changed.to_status, changed.occurred_at)
        else:
            await self.record_issued(session, event)

    async def record_partner_document(self, session: AsyncSession, event: CloudEvent) -> None:
        """A recognised partner document, held by the company of its credit code; a redelivery changes nothing."""
        model: type[KnownLicenceColumns] = self.model
        doc = PartnerDocumentRecognised.from_event(event)
        await session.execute(insert(model).values(
            licence_id=doc.recognition_id, licence_number=doc.document_identifier, identifier=doc.document_identifier,
            licence_type=doc.document_type, licence_type_code=doc.document_type_code, application_id="",
            holder_subject=doc.holder_org_code, holder_org_code=doc.holder_org_code, version=1,
            issued_at=doc.recognised_at, valid_from=doc.valid_from, valid_until=doc.valid_until,
            partner_province=doc.province).on_conflict_do_nothing(index_elements=[model.licence_id]))

    async def record_issued(self, session: AsyncSession, event: CloudEvent) -> None:
        """A licence, or a new version of it: an older version arriving late changes nothing."""
        model: type[KnownLicenceColumns] = self.model
        issued = LicenceIssued.from_event(event)
        values = dict(licence_number=issued.licence_number, identifier=issued.identifier,
                      licence_type=issued.licence_type, licence_type_code=issued.licence_type_code,
                      application_id=issued.application_id, holder_subject=issued.holder_subject,
                      holder_org_code=issued.holder_org_code, version=issued.version, issued_at=issued.issued_at,
                      valid_from=issued.valid_from, valid_until=issued.valid_until)
        stmt = insert(model).values(licence_id=issued.licence_id, **values)
        await session.execute(stmt.on_conflict_do_update(
            index_elements=[model.licence_id],
            set_={**{key: stmt.excluded[key] for key in values}, "observed_at": func.now()},
            where=model.version <= stmt.excluded.version))

    async def record_status_changed(self, session: AsyncSession, event: CloudEvent) -> None:
        """Suspended, revoked, reinstated or expired."""
        changed = LicenceStatusChanged.from_event(event)
        await self.apply_status(session, changed.licence_id, changed.to_status, changed.occurred_at)

    async def apply_status(self, session: AsyncSession, licence_id: str, to_status: str, occurred_at: datetime) -> None:
        """A licence's (or a recognised partner document's) new status; a change older than the one recorded
        is ignored."""
        model: type[KnownLicenceColumns] = self.model
        applied = await session.scalar(
            update(model)
            .where(model.licence_id == licence_id, or_(model.status_at.is_(None), model.status_at <= occurred_at))
            .values(status=to_status, status_at=occurred_at, observed_at=func.now())
            .returning(model.licence_id))
        if applied is None and await session.get(model, licence_id) is None:
            # Raised so the bus delivers the change again once the licence's issue has been read.
            raise LookupError(f"status change of a licence not seen yet: {licence_id}")
        log.info("licence_status_recorded", licence_id=licence_id, to_status=to_status, applied=applied is not None)

    async def find(self, session: AsyncSession, references: Iterable[str]) -> list[Licence]:
        """Every licence one of ``references`` names by id, number or identifier: one indexed query."""
        model: type[KnownLicenceColumns] = self.model
        names = sorted(set(references))
        if not names:
            return []
        return list((await session.scalars(select(self.model).where(or_(
            model.licence_id.in_(names), model.licence_number.in_(names), model.identifier.in_(names))))).all())

    async def by_id(self, session: AsyncSession, licence_ids: Iterable[str]) -> dict[str, Licence]:
        model: type[KnownLicenceColumns] = self.model
        ids = sorted(set(licence_ids))
        if not ids:
            return {}
        return {lic.licence_id: lic for lic in (await session.scalars(
            select(self.model).where(model.licence_id.in_(ids)))).all()}


# --- migrations -----------------------------------------------------------------------------------

class _Shape(DeclarativeBase):
    pass


class _KnownLicenceShape(KnownLicenceColumns, _Shape):
    """The table as the mixin declares it, on a metadata of its own: what ``complete_table`` builds."""


def _fresh(column: sa.Column[Any]) -> sa.Column[Any]:
    default = column.server_default
    return sa.Column(column.name, column.type, primary_key=column.primary_key, nullable=column.nullable,
                     server_default=getattr(default, "arg", None))


def complete_table(*, fill: Mapping[str, str] | None = None) -> tuple[list[str], list[str]]:
    """In a migration: create ``known_licences`` as the read model has it now, or add the columns and
    indexes an earlier shape of it lacks (keeping its rows). A NOT NULL column without a server default
    that is added to rows already there takes the SQL expression ``fill[name]`` first. Returns the
    columns and indexes added, for the migration's records; its downgrade names what it drops."""
    shape = _KnownLicenceShape.__table__
    assert isinstance(shape, sa.Table)
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table(TABLE):
        op.create_table(TABLE, *(_fresh(c) for c in shape.columns))
        existing_columns: set[str] = {c.name for c in shape.columns}
        added_columns = sorted(existing_columns)
        existing_indexes: set[str] = set()
    else:
        existing_columns = {c["name"] for c in inspector.get_columns(TABLE)}
        existing_indexes = {i["name"] for i in inspector.get_indexes(TABLE) if i["name"]}
        added_columns = []
        for column in shape.columns:
            if column.name in existing_columns:
                continue
            needs_fill = not column.nullable and column.server_default is None
            added = _fresh(column)
            added.nullable = added.nullable or needs_fill
            op.add_column(TABLE, added)
            if needs_fill:
                op.execute(sa.text(f"UPDATE {TABLE} SET {column.name} = {(fill or {})[column.name]}"))
                op.alter_column(TABLE, column.name, nullable=False)
            added_columns.append(column.name)
    added_indexes = [name for name in INDEXES if name not in existing_indexes]
    for name in added_indexes:
        op.create_index(name, TABLE, list(INDEXES[name]))
    return added_columns, added_indexes
