"""HTTP routes of materials: upload (multipart), metadata and download."""
from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Path, Request, UploadFile
from fastapi.responses import Response, StreamingResponse

from kit.auth import CurrentPrincipal, Principal, Role, needs_scope, require_roles
from kit.db import SessionDep
from kit.errors import PROBLEM_RESPONSES, PayloadTooLarge
from kit.openapi import business_rules
from matters.schemas import MaterialView
from matters.service import applications, blobs, materials
from matters.service.blobs import BlobStore

router = APIRouter(tags=["materials"], responses={k: v for k, v in PROBLEM_RESPONSES.items() if k in (401, 403, 503)})

MaterialId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Applicant = Annotated[Principal, Depends(require_roles(Role.APPLICANT))]


def blob_store(request: Request) -> BlobStore:
    store = getattr(request.app.state, "blob_store", None)
    if store is None:  # built on first use: the database exists only once the app has started
        runtime = request.app.state.runtime
        store = request.app.state.blob_store = blobs.blob_store(
            runtime.settings.blob_store, runtime.database, runtime.settings.blob_dir)
    return store


@router.post("/v1/materials", dependencies=[needs_scope("applications:write")],
             status_code=201, summary="Upload a material (multipart field `file`)",
             openapi_extra=business_rules((422, "the file is not empty, and its content is a PDF, JPEG, PNG or OFD")),
             responses={413: PROBLEM_RESPONSES[422] | {"description": "File too large"}, 422: PROBLEM_RESPONSES[422]})
async def upload_material(request: Request, session: SessionDep, principal: Applicant,
                          file: Annotated[UploadFile, File(description="PDF, JPEG, PNG or OFD")],
                          store: Annotated[BlobStore, Depends(blob_store)]) -> MaterialView:
    limit = request.app.state.runtime.settings.max_material_bytes
    if file.size is not None and file.size > limit:
        raise PayloadTooLarge(f"文件不能超过 {limit // (1024 * 1024)} MB / the file exceeds {limit} bytes")
    data = await file.read(limit + 1)
    material = await materials.store_upload(session, store, principal.subject, file.filename or "upload",
                                            file.content_type, data, limit)
    view = MaterialView.model_validate(material)
    await session.commit()
    return view


@router.get("/v1/materials/{material_id}", dependencies=[needs_scope("applications:read")],
            summary="A material's metadata", responses={404: PROBLEM_RESPONSES[404]})
async def get_material(session: SessionDep, principal: CurrentPrincipal, material_id: MaterialId) -> MaterialView:
    return MaterialView.model_validate(
        await materials.readable_material(session, principal, material_id, applications.may_read))


@router.get("/v1/materials/{material_id}/content", dependencies=[needs_scope("applications:read")],
            summary="Download a material (its uploader, or readers of an application using it)",
            response_class=Response, responses={404: PROBLEM_RESPONSES[404]})
async def download_material(session: SessionDep, principal: CurrentPrincipal, material_id: MaterialId,
                            store: Annotated[BlobStore, Depends(blob_store)]) -> Response:
    material = await materials.readable_material(session, principal, material_id, applications.may_read)
    await session.close()  # the download may be slow: it holds no database connection meanwhile
    chunks = await materials.content(store, material)
    return StreamingResponse(chunks, media_type=material.content_type, headers={
        "Content-Length": str(material.size),
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(material.filename, safe='')}",
        "X-Content-Type-Options": "nosniff", "ETag": f'"{material.sha256}"'})
