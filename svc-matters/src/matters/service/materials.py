"""Materials (申请材料): what stands for each material of an application — an uploaded file, or an
exemption (两个免于提交) by a licence the applicant holds (checked against the licences svc-licences
announced: ``service.licences``; a partner province's recognised document is one of them) or by the same material of an earlier application of the same
applicant."""
from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from pydantic import Field
from sqlalchemy import String, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from kit.contracts import MaterialRef, MatterRequirements
from kit.errors import FieldError, PayloadTooLarge, ValidationFailed
from kit.i18n import Text
from matters import messages
from matters.models import Application, ApplicationMaterial, Material
from matters.schemas import EarlierApplicationExemption, LicenceExemption
from matters.service import licences
from matters.service.blobs import BlobStore

# A licence exemption not checked by ``resolve_materials``: 免申即享 takes it from the business data the
# government holds, having checked its type and validity there (``service.benefits``).


class VerifiedLicenceRef(MaterialRef):
    """A licence exemption checked at this submission, with the reason the application records; the
    reason stays out of what is stored on the application and sent on the bus."""

    exemption_reason: str = Field(exclude=True)


# Built once: one statement text whatever the number of uploads named (``= ANY``, not an ``IN`` list
# rendered per count), and no query built, cache-keyed and compiled again on every submission.
# Columns, not entities: loading ORM objects was a tenth of a submission's CPU.
_UPLOADS_NAMED = select(Material.id, Material.owner_subject, Material.filename, Material.size, Material.content_type,
                        Material.sha256).where(Material.id == any_(bindparam("ids", type_=ARRAY(String))))


def _error(code: str, kind: str, zh: str, en: str) -> FieldError:
    return FieldError(field=f"materials.{code}", code=kind, message=zh, message_en=en)


async def resolve_materials(session: AsyncSession, owner_subject: str, requirements: MatterRequirements,
                            materials: dict[str, Any], *,
                            owner_org_code: str | None = None) -> tuple[dict[str, MaterialRef], list[FieldError]]:
    """Check every material reference of a submission; returns the references and the problems found.

    ``owner_org_code``: the credit code of the company the application is filed for, whose licences
    the applicant may use as well as those issued to its own account."""
    specs = {m.code: m for m in requirements.materials}
    refs: dict[str, MaterialRef] = {}
    errors: list[FieldError] = []
    # One query for every uploaded material the submission names, and one for every licence, not one per material.
    upload_ids = {v.strip() for v in materials.values() if isinstance(v, str) and len(v.strip()) <= 32}
    uploads = {m.id: m for m in (await session.execute(_UPLOADS_NAMED, {"ids": list(upload_ids)})).all()} \
        if upload_ids else {}
    held = await licences.find(session, (v.licence_id.strip() for v in materials.values() if isinstance(v, LicenceExemption)))
    now = datetime.now(UTC)
    # The company's registration, when a licence is named for a material a business licence may stand in for.
    business = await licences.registration(session, owner_org_code) if owner_org_code and any(
        isinstance(value, LicenceExemption) and code in specs and licences.BUSINESS_LICENCE in specs[code].substitutes
        for code, value in materials.items()) else None
    for code, value in materials.items():
        spec = specs.get(code)
        if spec is None:
            errors.append(_error(code, "unknown_material", "该事项不需要此材料", "this matter has no such material"))
            continue
        if isinstance(value, str):
            material = uploads.get(value.strip())
            if material is None or material.owner_subject != owner_subject:
                errors.append(_error(code, "unknown_upload", "未找到该上传材料，请先上传", "no uploaded material with this id"))
                continue
            extension = material.filename.rsplit(".", 1)[-1].lower() if "." in material.filename else ""
            if spec.file_types and extension not in spec.file_types:
                errors.append(_error(code, "file_type_not_accepted",
                                     f"该材料仅接受以下格式：{'、'.join(spec.file_types)}",
                                     f"this material accepts only: {', '.join(spec.file_types)}"))
                continue
            if spec.max_size_mb and material.size > spec.max_size_mb * 1024 * 1024:
                errors.append(_error(code, "file_too_large", f"该材料不能超过 {spec.max_size_mb} MB",
                                     f"this material may not exceed {spec.max_size_mb} MB"))
                continue
            refs[code] = MaterialRef(kind="upload", material_id=material.id, content_type=material.content_type,
                                     sha256=material.sha256)
        elif isinstance(value, LicenceExemption):
            reference = value.licence_id.strip()
            licence = licences.named_by(held, reference, owner_subject, owner_org_code)
            if licence is None and licences.BUSINESS_LICENCE in spec.substitutes and owner_org_code:
                found = licences.business_licence(business, reference, now)
                if found is not None and found.refusal is not None:
                    errors.append(_error(code, *found.refusal))
                    continue
                if found is not None:
                    refs[code] = VerifiedLicenceRef(kind="licence", licence_id=found.number, exemption_reason=found.reason)
                    continue
            if licence is None:
                errors.append(_error(code, *licences.UNKNOWN))
                continue
            refused = licences.refusal(licence, spec, owner_subject, owner_org_code, now)
            if refused is not None:
                errors.append(_error(code, *refused))
                continue
            partner = licence.partner_province
            refs[code] = VerifiedLicenceRef(kind="licence", licence_id=licence.licence_id, partner_province=partner,
                                            document_number=licence.licence_number if partner else None,
                                            exemption_reason=licences.exemption_reason(licence, now))
        elif isinstance(value, EarlierApplicationExemption):
            earlier = await session.get(Application, value.from_application)
            if earlier is None or earlier.applicant_subject != owner_subject:
                errors.append(_error(code, "unknown_application", "未找到您此前的该办件", "no earlier application of yours with this id"))
                continue
            row = await session.scalar(
                select(ApplicationMaterial).where(ApplicationMaterial.application_id == earlier.id,
                                                  ApplicationMaterial.code == code,
                                                  ApplicationMaterial.material_id.is_not(None))
                .order_by(ApplicationMaterial.attempt.desc()).limit(1))
            if row is None:
                errors.append(_error(code, "material_not_in_application", "该办件中没有可复用的此项材料",
                                     "that application holds no such material to reuse"))
                continue
            refs[code] = MaterialRef(kind="earlier_application", from_application=earlier.id, material_id=row.material_id)
    return refs, errors


def stored_form(refs: dict[str, MaterialRef]) -> dict[str, Any]:
    """How the references are kept on the application and shown back to its readers."""
    return {code: ref.model_dump(exclude_none=True) for code, ref in refs.items()}


def material_rows(refs: dict[str, MaterialRef]) -> list[dict[str, Any]]:
    """The ``application_materials`` values of one attempt (without the application and attempt)."""
    rows = []
    for code, ref in refs.items():
        reason = None
        if isinstance(ref, VerifiedLicenceRef):
            reason = ref.exemption_reason
        elif ref.kind == "licence":
            reason = messages.LICENCE_EXEMPTION_NOTE.both()
        elif ref.kind == "earlier_application":
            reason = messages.EARLIER_EXEMPTION_NOTE.both()
        rows.append({"code": code, "kind": ref.kind, "material_id": ref.material_id, "licence_id": ref.licence_id,
                     "from_application_id": ref.from_application, "exemption_reason": reason})
    return rows


async def record_application_materials(session: AsyncSession, app: Application, refs: dict[str, MaterialRef]) -> int:
    """Link the materials of this attempt to the application; returns how many were exempted."""
    rows = material_rows(refs)
    session.add_all(ApplicationMaterial(application_id=app.id, attempt=app.attempt, **row) for row in rows)
    return sum(row["kind"] != "upload" for row in rows)


# --- uploads ----------------------------------------------------------------------------------

# What a file must start with to be what it says it is (content that does not match its declared
# type is refused: a renamed executable is not a PDF).
SIGNATURES: dict[str, tuple[tuple[bytes, ...], tuple[str, ...]]] = {
    "pdf": ((b"%PDF-",), ("application/pdf",)),
    "jpg": ((b"\xff\xd8\xff",), ("image/jpeg",)),
    "jpeg": ((b"\xff\xd8\xff",), ("image/jpeg",)),
    "png": ((b"\x89PNG\r\n\x1a\n",), ("image/png",)),
    "ofd": ((b"PK\x03\x04",), ("application/ofd", "application/zip", "application/octet-stream")),
}
EXECUTABLE_MAGIC = (b"MZ", b"\x7fELF", b"#!", b"\xca\xfe\xba\xbe")


def check_upload(filename: str, declared_type: str | None, data: bytes, max_bytes: int) -> tuple[str, str]:
    """The (extension, content type) of an acceptable upload; raises ``ValidationFailed`` otherwise."""
    if not data:
        raise ValidationFailed(messages.FILE_EMPTY, errors=[FieldError.of("file", messages.FILE_EMPTY, "empty")])
    if len(data) > max_bytes:
        raise PayloadTooLarge(messages.FILE_TOO_LARGE.format(mb=max_bytes // (1024 * 1024), bytes=max_bytes))
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if extension not in SIGNATURES:
        types = Text("、".join(SIGNATURES), ", ".join(SIGNATURES))
        raise ValidationFailed(messages.FILE_TYPE_NOT_ACCEPTED, errors=[FieldError.of(
            "file", messages.FILE_TYPES_ACCEPTED.format(types=types), "file_type_not_accepted")])
    magics, content_types = SIGNATURES[extension]
    declared = (declared_type or "").split(";")[0].strip().lower()
    if data.startswith(EXECUTABLE_MAGIC) or not data.startswith(magics) or (declared and declared not in content_types):
        raise ValidationFailed(messages.FILE_CONTENT_MISMATCH, errors=[FieldError.of(
            "file", messages.FILE_NOT_VALID.format(extension=extension), "content_mismatch")])
    return extension, content_types[0]


async def store_upload(session: AsyncSession, store: BlobStore, owner_subject: str, filename: str,
                       declared_type: str | None, data: bytes, max_bytes: int) -> Material:
    _, content_type = check_upload(filename, declared_type, data, max_bytes)
    digest = hashlib.sha256(data).hexdigest()
    # Content-addressed: the same bytes uploaded twice are stored once.
    if not await store.exists(digest):
        await store.put(digest, data)
    material = Material(id=uuid.uuid4().hex, owner_subject=owner_subject, filename=filename[-255:],
                        content_type=content_type, size=len(data), sha256=digest, storage_key=digest)
    session.add(material)
    await session.flush()
    return material


async def content(store: BlobStore, material: Material) -> AsyncIterator[bytes]:
    """The material's bytes as they stream from the store (``stream``)."""
    return await stream(store, material.storage_key)


async def stream(store: BlobStore, key: str) -> AsyncIterator[bytes]:
    """A blob's bytes as they stream from the store; the first chunk is read before this returns,
    so a blob that is missing fails the request (500, logged) instead of a download cut short."""
    chunks = store.chunks(key)
    first = await anext(chunks)

    async def stream() -> AsyncIterator[bytes]:
        yield first
        async for chunk in chunks:
            yield chunk

    return stream()
