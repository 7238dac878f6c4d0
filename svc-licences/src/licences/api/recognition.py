"""长三角: the trust list (public, signed) and its management, and recognition of partners' documents."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response

from kit.auth import PUBLIC_ROUTE, CurrentPrincipal, needs_scope
from kit.db import DatabaseDep, SessionDep
from kit.errors import PROBLEM_RESPONSES
from kit.idempotency import IdempotencyKey
from kit.openapi import business_rules
from licences.api.deps import IssuerDep, OpsAdmin, RecognitionOfficer
from licences.schemas import (
    PartnerRegistrationCreate,
    PartnerRegistrationView,
    PresentedDocumentView,
    RecognitionRequest,
    RegistrationDecision,
    TrustedIssuerCreate,
)
from licences.service import recognition, registrations

router = APIRouter(tags=["recognition"])
IssuerId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]


@router.get("/v1/trust-list", dependencies=[PUBLIC_ROUTE],
            summary="The trust list of partner issuers, and the same signed as a JWT (`document`)")
async def trust_list(session: SessionDep, issuer: IssuerDep) -> dict[str, Any]:
    return await recognition.trust_list(session, issuer)


ISSUER_RULE = (422, "`valid_until` is after `valid_from`")


@router.post("/v1/trust-list/issuers", dependencies=[needs_scope("recognition:admin")],
             openapi_extra=business_rules(ISSUER_RULE),
             status_code=201, summary="Ops: add a partner issuer with its keys",
             responses={409: PROBLEM_RESPONSES[409], 422: PROBLEM_RESPONSES[422], 403: PROBLEM_RESPONSES[403]})
async def add_issuer(database: DatabaseDep, _: OpsAdmin, body: TrustedIssuerCreate) -> dict[str, Any]:
    return await recognition.add_trusted_issuer(database, body)


@router.put("/v1/trust-list/issuers/{issuer_id}", dependencies=[needs_scope("recognition:admin")],
            openapi_extra=business_rules(ISSUER_RULE),
            summary="Ops: replace a partner issuer's entry (e.g. rotated keys)",
            responses={404: PROBLEM_RESPONSES[404], 422: PROBLEM_RESPONSES[422], 403: PROBLEM_RESPONSES[403]})
async def update_issuer(database: DatabaseDep, _: OpsAdmin, issuer_id: IssuerId, body: TrustedIssuerCreate) -> dict[str, Any]:
    return await recognition.update_trusted_issuer(database, issuer_id, body)


@router.delete("/v1/trust-list/issuers/{issuer_id}", dependencies=[needs_scope("recognition:admin")],
               status_code=204, response_class=Response,
               summary="Ops: remove a partner issuer", responses={404: PROBLEM_RESPONSES[404]})
async def remove_issuer(database: DatabaseDep, _: OpsAdmin, issuer_id: IssuerId) -> Response:
    await recognition.remove_trusted_issuer(database, issuer_id)
    return Response(status_code=204)


@router.post("/v1/recognitions", dependencies=[needs_scope("recognition:write")],
             summary="Verify a partner's document against the trust list and record the recognition",
             responses={401: PROBLEM_RESPONSES[401], 403: PROBLEM_RESPONSES[403], 422: PROBLEM_RESPONSES[422]})
async def recognise(database: DatabaseDep, issuer: IssuerDep, principal: RecognitionOfficer,
                    body: RecognitionRequest) -> dict[str, Any]:
    return await recognition.recognise(database, issuer.partners, principal, body.document)


@router.post("/v1/recognitions/presented", dependencies=[needs_scope("licences:write")], status_code=201,
             summary="An applicant presents a partner's document held by their company, to name it for a material",
             description="Recognised: recorded and announced to the services checking materials (两个免于提交 across "
                         "provinces); the answer's `id` is what the application names for the material "
                         "(`{\"licence_id\": id}`). Refused: 422 with the reason, nothing recorded.",
             openapi_extra=business_rules((422, "the document verifies against the trust list, is current and names "
                                                "a company (credit code) as its holder")),
             responses={401: PROBLEM_RESPONSES[401], 403: PROBLEM_RESPONSES[403], 422: PROBLEM_RESPONSES[422]})
async def present(database: DatabaseDep, issuer: IssuerDep, principal: CurrentPrincipal, body: RecognitionRequest,
                  idempotency_key: IdempotencyKey = None) -> PresentedDocumentView:
    return await recognition.present_partner_document(database, issuer.partners, principal, body, idempotency_key)


@router.get("/v1/recognitions", dependencies=[needs_scope("recognition:read")],
            summary="Partner documents checked, newest first")
async def list_recognitions(session: SessionDep, _: RecognitionOfficer,
                            limit: Annotated[int, Query(ge=1, le=100)] = 50) -> dict[str, Any]:
    return {"items": await recognition.list_recognitions(session, limit)}


@router.post("/v1/trust-list/issuers/{issuer_id}/refresh", dependencies=[needs_scope("recognition:admin")],
             summary="Ops: fetch a self-registered partner's keys from its jwks_uri now",
             responses={404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409], 403: PROBLEM_RESPONSES[403]})
async def refresh_issuer(database: DatabaseDep, issuer: IssuerDep, principal: OpsAdmin,
                         issuer_id: IssuerId) -> dict[str, Any]:
    return await registrations.refresh_now(database, issuer.partners, principal, issuer_id)


# ---- partner self-service (合作方自助接入) ------------------------------------------------------------------

REGISTRATION_RULES = (
    (422, "`jwks_uri`, `sm2_keys_uri`, `status_list_base` and `issuer` are https URLs (http outside production)"),
    (403, "a partner registers only its own province's issuer"),
    (409, "an issuer already on the trust list, or with a pending registration, is not registered again"),
)


@router.post("/v1/partner/registrations", dependencies=[needs_scope("partner:write")], status_code=201,
             openapi_extra=business_rules(*REGISTRATION_RULES),
             summary="A partner registers its issuer by jwks_uri; pending until ops approve it",
             responses={403: PROBLEM_RESPONSES[403], 409: PROBLEM_RESPONSES[409], 422: PROBLEM_RESPONSES[422]})
async def register_partner(database: DatabaseDep, issuer: IssuerDep, principal: CurrentPrincipal,
                           body: PartnerRegistrationCreate,
                           idempotency_key: IdempotencyKey = None) -> PartnerRegistrationView:
    return await registrations.register(database, issuer.partners, principal, body, idempotency_key)


@router.get("/v1/partner/registrations", dependencies=[needs_scope("partner:read")],
            summary="Partner registrations, newest first (a partner sees its own province's)")
async def list_partner_registrations(
        session: SessionDep, principal: CurrentPrincipal,
        state: Annotated[Literal["pending", "approved", "rejected"] | None, Query()] = None) -> dict[str, Any]:
    return {"items": await registrations.list_registrations(session, principal, state)}


@router.get("/v1/partner/registrations/{registration_id}", dependencies=[needs_scope("partner:read")],
            summary="One partner registration", responses={404: PROBLEM_RESPONSES[404]})
async def get_partner_registration(session: SessionDep, principal: CurrentPrincipal,
                                   registration_id: IssuerId) -> PartnerRegistrationView:
    return await registrations.get_registration(session, principal, registration_id)


DECISION_RULES = (
    (403, "the registrant cannot approve or reject their own registration (four eyes)"),
    (409, "only a pending registration is decided; approval fetches the partner's keys and fails when it cannot"),
    (422, "a rejection gives its reason"),
)


@router.post("/v1/partner/registrations/{registration_id}/{action}", dependencies=[needs_scope("recognition:admin")],
             openapi_extra=business_rules(*DECISION_RULES),
             summary="Ops: approve (adds the issuer to the trust list with its fetched keys) or reject",
             responses={403: PROBLEM_RESPONSES[403], 404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409],
                        422: PROBLEM_RESPONSES[422]})
async def decide_partner_registration(database: DatabaseDep, issuer: IssuerDep, principal: OpsAdmin,
                                      registration_id: IssuerId, action: Literal["approve", "reject"],
                                      body: RegistrationDecision) -> PartnerRegistrationView:
    return await registrations.decide(database, issuer.partners, principal, registration_id, action, body.reason)
