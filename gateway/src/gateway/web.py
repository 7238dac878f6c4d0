"""The web front end (``web/``) under ``/app/``: built static files with a strict policy.

Vite names every asset after its content, so ``/app/assets/*`` is cached for a year; the pages
themselves are revalidated on each visit (ETag), so a release reaches phones at once. The pages run
only the platform's own scripts and styles and talk only to this origin: the policy below refuses
inline script, inline style attributes, ``eval`` and any other host.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from gateway.settings import Settings

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    # QR codes arrive as SVG text and camera frames are drawn on a canvas: data: and blob: images.
    "img-src 'self' data: blob:",
    "media-src 'self' blob: mediastream:",
    "connect-src 'self'",
    "worker-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "Cross-Origin-Opener-Policy": "same-origin",
    # The verifier scans QR codes with the camera; nothing else on the pages may use a device.
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=(), payment=(), usb=()",
}
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


class WebFiles(StaticFiles):
    """Starlette's static files (ETag, Last-Modified, 304, ``index.html`` per folder) with the
    platform's headers and cache rules."""

    def file_response(self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope,
                      status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(PAGE_HEADERS)
        hashed = Path(full_path).parent.name == "assets"
        response.headers["Cache-Control"] = IMMUTABLE if hashed else REVALIDATE
        return response


def login_configuration(settings: Settings) -> dict[str, Any]:
    """What the pages need to log someone in (``GET /app/config.json``)."""
    if settings.web_login == "oidc":
        return {"login": "oidc", "authorization_endpoint": settings.web_oidc_authorization_endpoint,
                "token_endpoint": settings.web_oidc_token_endpoint, "client_id": settings.web_oidc_client_id,
                "scope": settings.web_oidc_scope}
    return {"login": "password", "token_endpoint": "/auth/token"}
