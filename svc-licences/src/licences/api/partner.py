"""长三角 partners' systems: look up one of our documents by number and holder code, follow its changes
(subscriptions and the pull feed). Partners only (role ``partner``, bound to a province); the gateway
limits ``/v1/partner`` per caller."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from kit.auth import CurrentPrincipal, needs_scope
from kit.db import DatabaseDep, SessionDep
from kit.errors import PROBLEM_RESPONSES
from kit.idempotency import IdempotencyKey
from kit.openapi import business_rules
from licences.api.deps import IssuerDep
from licences.schemas import PartnerDocumentView, PartnerFeedPage, PartnerLookup, PartnerSubscriptionView
from licences.service import partner_feed, partner_lookup

router = APIRouter(tags=["partner"], responses={k: v for k, v in PROBLEM_RESPONSES.items() if k in (401, 403)})
SubscriptionId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]


@router.post("/v1/partner/look-up", dependencies=[needs_scope("partner:read")],
             summary="A partner looks up one of our documents by its number and its holder's code (audited)",
             description="Answers the document with the holder masked, its SD-JWT VC without the disclosures of "
                         "personal fields and its status. 404 — the same whichever part did not match — for a pair "
                         "that names nothing, or a document not of a recognised kind or not bound for the partner's "
                         "province. A POST, so that the holder's code stays out of URLs and access logs.",
             responses={404: PROBLEM_RESPONSES[404], 422: PROBLEM_RESPONSES[422]})
async def look_up(database: DatabaseDep, issuer: IssuerDep, principal: CurrentPrincipal,
                  body: PartnerLookup) -> PartnerDocumentView:
    return await partner_lookup.look_up(database, issuer, principal, body)


@router.post("/v1/partner/subscriptions", dependencies=[needs_scope("partner:write")], status_code=201,
             summary="Follow the changes of a document the partner may look up (in the feed)",
             openapi_extra=business_rules((409, "the partner does not already follow the document")),
             responses={404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409], 422: PROBLEM_RESPONSES[422]})
async def subscribe(database: DatabaseDep, principal: CurrentPrincipal, body: PartnerLookup,
                    idempotency_key: IdempotencyKey = None) -> PartnerSubscriptionView:
    return await partner_feed.subscribe(database, principal, body, idempotency_key)


@router.get("/v1/partner/subscriptions", dependencies=[needs_scope("partner:read")],
            summary="The documents the partner follows")
async def list_subscriptions(session: SessionDep, principal: CurrentPrincipal) -> dict[str, list[PartnerSubscriptionView]]:
    return {"items": await partner_feed.subscriptions(session, principal)}


@router.delete("/v1/partner/subscriptions/{subscription_id}", dependencies=[needs_scope("partner:write")],
               status_code=204, response_class=Response, summary="Stop following a document",
               responses={404: PROBLEM_RESPONSES[404]})
async def unsubscribe(database: DatabaseDep, principal: CurrentPrincipal, subscription_id: SubscriptionId) -> Response:
    await partner_feed.unsubscribe(database, principal, subscription_id)
    return Response(status_code=204)


@router.get("/v1/partner/feed", dependencies=[needs_scope("partner:read")],
            summary="Changes of the documents the partner follows, oldest first, after a cursor",
            description="Revoked, suspended, reinstated, expired, renewed (延续), changed (变更), reissued (补发). "
                        "Start without `after`; then pass the answer's `next_cursor`. Pages never skip or repeat "
                        "a change.",
            openapi_extra=business_rules((422, "`after` is a cursor this feed answered")),
            responses={422: PROBLEM_RESPONSES[422]})
async def feed(session: SessionDep, principal: CurrentPrincipal,
               after: Annotated[str | None, Query(max_length=19, description="`next_cursor` of the last page read")] = None,
               limit: Annotated[int, Query(ge=1, le=500)] = 100) -> PartnerFeedPage:
    return await partner_feed.feed(session, principal, after, limit)
