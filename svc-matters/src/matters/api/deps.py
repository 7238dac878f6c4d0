"""The typed dependencies of svc-matters' routes: what a route needs is declared in its signature,
never read from ``request.app.state``."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from kit.app import settings_dependency, state_dependency
from kit.auth import Principal, Role, require_roles
from kit.db import DatabaseDep
from kit.page_cache import PageCache
from matters.service import blobs
from matters.service.blobs import BlobStore
from matters.service.live import LiveHub
from matters.settings import Settings

SettingsDep = Annotated[Settings, Depends(settings_dependency(Settings))]
LiveHubDep = Annotated[LiveHub, Depends(state_dependency("live_hub", LiveHub))]
# Status → threshold in force (matters.settings.effective_thresholds), set when the app is created.
StallThresholdsDep = Annotated[dict, Depends(state_dependency("stall_thresholds", dict))]
CataloguePages = Annotated[PageCache, Depends(state_dependency("catalogue_pages", PageCache))]


async def blob_store(settings: SettingsDep, database: DatabaseDep) -> BlobStore:
    # The store holds nothing but the database handle or a directory: made for the request from the
    # running service's database (which exists only once the app has started) and its settings.
    return blobs.blob_store(settings.blob_store, database, settings.blob_dir)


BlobStoreDep = Annotated[BlobStore, Depends(blob_store)]

Applicant = Annotated[Principal, Depends(require_roles(Role.APPLICANT))]
ApplicationId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
