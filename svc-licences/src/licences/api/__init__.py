"""HTTP routes of svc-licences (routes only: the rules live in ``licences.service``)."""
from kit.audit import audit_router
from licences.api import grants, licences, public, recognition, verifications

routers = [public.router, licences.router, verifications.router, grants.router, recognition.router,
           audit_router("licences")]
