"""HTTP routes of svc-licences (routes only: the rules live in ``licences.service``)."""
from kit.audit import audit_router
from licences.api import grants, imports, licences, onecode, partner, public, recognition, verifications

# Verification first: a request is matched against the routes in this order, and online 亮证 checks are
# most of the service's traffic. The holder codes and imports come before ``/v1/licences/{licence_id}``, which
# their paths would otherwise match.
routers = [verifications.router, public.router, onecode.router, imports.router, licences.router, grants.router,
           recognition.router, partner.router, audit_router("licences")]
