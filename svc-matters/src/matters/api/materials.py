"""HTTP routes of materials: upload (multipart), metadata and download."""
from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Path, UploadFile
from fastapi.responses import Response, StreamingResponse

from kit.auth import CurrentPrincipal, needs_scope
from kit.db import DatabaseDep, SessionDep
from kit.errors import PROBLEM_RESPONSES
from kit.openapi import business_rules
from matters.api.deps import Applicant, BlobStoreDep, SettingsDep
from matters.schemas import MaterialView
from matters.service import uploads

router = APIRouter(tags=["materials"], responses={k: v for k, v in PROBLEM_RESPONSES.items() if k in (401, 403, 503)})

MaterialId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


@router.post("/v1/materials", dependencies=[needs_scope("applications:write")],
             status_code=201, summary="Upload a material (multipart field `file`)",
             openapi_extra=business_rules((422, "the file is not empty and is a PDF, JPEG, PNG or OFD by its content")),
             responses={413: PROBLEM_RESPONSES[422] | {"description": "File too large"}, 422: PROBLEM_RESPONSES[422]})
async def upload_material(database: DatabaseDep, settings: SettingsDep, store: BlobStoreDep, principal: Applicant,
                          file: Annotated[UploadFile, File(description="PDF, JPEG, PNG or OFD")]) -> MaterialView:
    limit = settings.max_material_bytes
    uploads.check_declared_size(file.size, limit)
    data = await file.read(limit + 1)
    return await uploads.upload(database, store, principal, file.filename or "upload", file.content_type, data, limit)


@router.get("/v1/materials/{material_id}", dependencies=[needs_scope("applications:read")],
            summary="A material's metadata", responses={404: PROBLEM_RESPONSES[404]})
async def get_material(session: SessionDep, principal: CurrentPrincipal, material_id: MaterialId) -> MaterialView:
    return MaterialView.model_validate(await uploads.readable_material(session, principal, material_id))


@router.get("/v1/materials/{material_id}/content", dependencies=[needs_scope("applications:read")],
            summary="Download a material (its uploader, or readers of an application using it)",
            response_class=Response, responses={404: PROBLEM_RESPONSES[404]})
async def download_material(database: DatabaseDep, store: BlobStoreDep, principal: CurrentPrincipal,
                            material_id: MaterialId) -> Response:
    material, chunks = await uploads.download(database, store, principal, material_id)
    return StreamingResponse(chunks, media_type=material.content_type, headers={
        "Content-Length": str(material.size),
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(material.filename, safe='')}",
        "X-Content-Type-Options": "nosniff", "ETag": f'"{material.sha256}"'})
