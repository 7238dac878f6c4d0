"""HTTP routes of svc-matters, one module per capability; ``routers`` lists them for the app."""
from kit.audit import audit_router
from matters.api import (
    applications,
    authorisations,
    benefits,
    bundles,
    catalogue,
    cockpit,
    help_videos,
    live,
    materials,
    stalls,
)

# live before applications: /v1/applications/stream must not be read as an application id.
routers = [help_videos.router, catalogue.router, live.router, applications.router, materials.router, bundles.router, benefits.router,
           authorisations.router, stalls.router, cockpit.router, audit_router("matters")]
