"""Materials as callers upload and read them: an upload in its own transaction, and the metadata and
bytes of a material for its uploader or for whoever may read an application that uses it."""
from __future__ import annotations

from collections.abc import AsyncIterator

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kit.audit import record_audit
from kit.auth import Principal
from kit.db import Database
from kit.errors import NotFound, PayloadTooLarge
from matters import messages
from matters.models import Application, ApplicationMaterial, Material
from matters.schemas import MaterialView
from matters.service import applications, materials
from matters.service.blobs import BlobStore


def check_declared_size(size: int | None, max_bytes: int) -> None:
    """Refuse a file whose declared size is too large before reading it."""
    if size is not None and size > max_bytes:
        raise PayloadTooLarge(messages.FILE_TOO_LARGE.format(mb=max_bytes // (1024 * 1024), bytes=max_bytes))


async def upload(database: Database, store: BlobStore, principal: Principal, filename: str, declared_type: str | None,
                 data: bytes, max_bytes: int) -> MaterialView:
    async with database.transaction() as session:
        material = await materials.store_upload(session, store, principal.subject, filename, declared_type, data,
                                                max_bytes)
        return MaterialView.model_validate(material)


async def readable_material(session: AsyncSession, principal: Principal, material_id: str) -> Material:
    """The material when the caller uploaded it or may read an application that uses it; else 404.

    A material (an ID card scan, a contract) may hold personal data: a read by anyone but its
    uploader is audited."""
    material = await session.get(Material, material_id) if len(material_id) <= 32 else None
    if material is None:
        raise NotFound(messages.MATERIAL_NOT_FOUND)
    if material.owner_subject == principal.subject:
        return material
    application_ids = (await session.scalars(select(ApplicationMaterial.application_id).where(
        ApplicationMaterial.material_id == material.id).distinct())).all()
    for application_id in application_ids:
        app = await session.get(Application, application_id)
        if app is not None and await applications.may_read(session, app, principal):
            await record_audit(session, principal, "material.read", "material", material.id,
                               owner=material.owner_subject, details={"application_id": app.id})
            await session.commit()
            return material
    raise NotFound(messages.MATERIAL_NOT_FOUND)


async def download(database: Database, store: BlobStore, principal: Principal,
                   material_id: str) -> tuple[Material, AsyncIterator[bytes]]:
    """The material and its bytes; the database connection is given back before the (maybe slow) download."""
    async with database.session() as session:
        material = await readable_material(session, principal, material_id)
    return material, await materials.content(store, material)
