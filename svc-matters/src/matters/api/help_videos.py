"""HTTP routes of help videos (帮办微视频): editors set a matter's video (upload or link), the guide carries
it; anyone watches an uploaded one."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Path, UploadFile
from fastapi.responses import Response, StreamingResponse

from kit.auth import PUBLIC_ROUTE, CurrentPrincipal, Principal, Role, needs_scope, require_roles
from kit.db import DatabaseDep, SessionDep
from kit.errors import PROBLEM_RESPONSES
from kit.openapi import business_rules
from matters.api.catalogue import MatterCode
from matters.api.deps import BlobStoreDep, CataloguePages, SettingsDep
from matters.schemas import HelpVideoLink, HelpVideoVersion, MatterDetail
from matters.service import help_videos as service

router = APIRouter(tags=["help videos"], responses={k: v for k, v in PROBLEM_RESPONSES.items() if k in (401, 403, 503)})

# Knowledge-base editors keep the guides' help videos; ops may too.
GuideEditor = Annotated[Principal, Depends(require_roles(Role.KNOWLEDGE_EDITOR, Role.OPS_ADMIN))]
VideoId = Annotated[str, Path(pattern=r"^[a-f0-9]{32}$")]
_NEW_VERSION = (" Publishes the matter's next guide version carrying it (the guide's history keeps the earlier ones); "
                "the same video again changes nothing. Audited. Scope `guides:write`.")


@router.put("/v1/matters/{code}/help-video", dependencies=[needs_scope("guides:write")],
            summary="Set a matter's help video (帮办微视频) to a link", description="Editors." + _NEW_VERSION,
            responses={404: PROBLEM_RESPONSES[404], 422: PROBLEM_RESPONSES[422]})
async def set_link(database: DatabaseDep, pages: CataloguePages, principal: GuideEditor, code: MatterCode,
                   body: HelpVideoLink) -> MatterDetail:
    guide = await service.set_link(database, principal, code, body.url)
    pages.forget()  # committed: this replica's cached guide is dropped now, the others within a second
    return guide


@router.put("/v1/matters/{code}/help-video/file", dependencies=[needs_scope("guides:write")],
            summary="Upload a matter's help video (MP4 or WebM, multipart field `file`)",
            description="Editors. The bytes go to the material blob store; the video is watched at its public "
                        "`/v1/help-videos/{id}/content`. A longer video than the limit is linked instead." + _NEW_VERSION,
            openapi_extra=business_rules((422, "the file is not empty and is an MP4 or WebM video by its content")),
            responses={404: PROBLEM_RESPONSES[404], 413: PROBLEM_RESPONSES[422] | {"description": "File too large"},
                       422: PROBLEM_RESPONSES[422]})
async def upload(database: DatabaseDep, pages: CataloguePages, settings: SettingsDep, store: BlobStoreDep,
                 principal: GuideEditor, code: MatterCode,
                 file: Annotated[UploadFile, File(description="MP4 or WebM")]) -> MatterDetail:
    limit = settings.max_help_video_bytes
    service.check_size(file.size, limit)
    data = await file.read(limit + 1)
    guide = await service.upload(database, store, principal, code, file.filename or "video", data, limit)
    pages.forget()
    return guide


@router.delete("/v1/matters/{code}/help-video", dependencies=[needs_scope("guides:write")],
               summary="Remove a matter's help video", description="Editors." + _NEW_VERSION,
               responses={404: PROBLEM_RESPONSES[404]})
async def remove(database: DatabaseDep, pages: CataloguePages, principal: GuideEditor, code: MatterCode) -> MatterDetail:
    guide = await service.remove(database, principal, code)
    pages.forget()
    return guide


@router.get("/v1/matters/{code}/help-video/versions", dependencies=[needs_scope("matters:read")],
            summary="Every guide version of a matter with the help video it carried, newest first",
            responses={404: PROBLEM_RESPONSES[404]})
async def history(session: SessionDep, _: CurrentPrincipal, code: MatterCode) -> list[HelpVideoVersion]:
    return await service.history(session, code)


@router.get("/v1/help-videos/{video_id}/content", dependencies=[PUBLIC_ROUTE],
            summary="Watch an uploaded help video (public, as the guide is)", response_class=Response,
            responses={404: PROBLEM_RESPONSES[404]})
async def watch(database: DatabaseDep, store: BlobStoreDep, video_id: VideoId) -> Response:
    video, chunks = await service.content(database, store, video_id)
    return StreamingResponse(chunks, media_type=video.content_type or "application/octet-stream", headers={
        "Content-Length": str(video.size), "X-Content-Type-Options": "nosniff", "ETag": f'"{video.sha256}"',
        "Cache-Control": "public, max-age=31536000, immutable"})
