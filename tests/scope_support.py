"""Every service's FastAPI app built in the test process (no server, no database), so a test can walk
their routes and read the scope declarations the gateway enforces."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI

SERVICES = ("matters", "prequal", "licences", "helpdesk", "knowledge", "notifications", "booking")


def service_apps(key_dir: Path) -> dict[str, FastAPI]:
    from booking.app import create_app as booking
    from helpdesk.app import create_app as helpdesk
    from knowledge.app import create_app as knowledge
    from licences.app import create_app as licences
    from licences.settings import Settings as LicencesSettings
    from matters.app import create_app as matters
    from notifications.app import create_app as notifications
    from prequal.app import create_app as prequal

    # The licence issuer loads (or makes) its signing key when the app is built: keep it out of var/.
    return {"matters": matters(), "prequal": prequal(), "licences": licences(LicencesSettings(key_dir=key_dir)),
            "helpdesk": helpdesk(), "knowledge": knowledge(),
            "notifications": notifications(), "booking": booking()}


def declared_document(apps: dict[str, FastAPI]) -> dict[str, Any]:
    """One OpenAPI document holding every service's paths (their public paths do not overlap)."""
    paths: dict[str, Any] = {}
    for app in apps.values():
        paths.update(app.openapi()["paths"])
    return {"openapi": "3.1.0", "info": {"title": "every service", "version": "0"}, "paths": paths}
