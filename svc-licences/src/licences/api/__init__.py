"""HTTP routes of svc-licences (routes only: the rules live in ``licences.service``)."""
from kit.audit import audit_router
from licences.api import grants, licences, partner, public, recognition, verifications

# Verification first: a request is matched against the routes in this order, and online 亮证 checks are
# most of the service's traffic (no two routers' paths overlap, so the order changes nothing else).
routers = [verifications.router, public.router, licences.router, grants.router, recognition.router,
           partner.router, audit_router("licences")]
