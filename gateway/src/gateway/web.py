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
from urllib.parse import urlsplit

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from gateway.settings import Settings


def content_security_policy(settings: Settings) -> str:
    """Scripts, styles and connections of this origin only; with the identity platform's login, the
    pages also exchange the authorization code at its token endpoint (the one other origin)."""
    connect = "'self'"
    if settings.web_login == "oidc" and settings.web_oidc_token_endpoint:
        url = urlsplit(settings.web_oidc_token_endpoint)
        connect += f" {url.scheme}://{url.netloc}"
    return "; ".join((
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        # QR codes arrive as SVG text and camera frames are drawn on a canvas: data: and blob: images.
        "img-src 'self' data: blob:",
        "media-src 'self' blob: mediastream:",
        f"connect-src {connect}",
        "worker-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ))


def page_headers(settings: Settings) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(settings),
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

    def __init__(self, settings: Settings) -> None:
        super().__init__(directory=settings.web_root, html=True, check_dir=False)
        self.headers = page_headers(settings)

    def file_response(self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope,
                      status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(self.headers)
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
