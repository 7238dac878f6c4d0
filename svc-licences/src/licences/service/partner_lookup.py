"""长三角: a partner province's system looks up one of OUR documents by its number and its holder's code.

A partner (a client with the ``partner`` role, bound to its province by its token's ``province``) sees
only documents of the kinds the provinces recognise from each other, and only those bound for its
province: a year's 林业有害生物调运检疫要求书 whose destination provinces include it, a 植物检疫证书 whose
destination is in it. A number and a holder code that do not match, a document of another kind or
bound elsewhere: the same 404, so a caller cannot tell which part was wrong. The gateway rate-limits
the route per caller (``/v1/partner`` in its routing table); every answered look-up is audited.
"""
from __future__ import annotations

import hmac

import structlog
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from kit.audit import record_audit
from kit.auth import Principal, Role
from kit.db import Database
from kit.errors import Forbidden, NotFound
from kit.identifiers import mask_resident_id
from licences import messages
from licences.models import Licence
from licences.schemas import PartnerDocumentView, PartnerLookup
from licences.service import catalogue
from licences.service.access import licence_view
from licences.service.credentials import status_list_uri
from licences.service.issuer import Issuer

log = structlog.get_logger("licences.partner_lookup")

# The partner provinces and the names their destinations begin with.
PROVINCES = {"JS": "江苏", "ZJ": "浙江", "AH": "安徽"}
PLANT_QUARANTINE_CERTIFICATE = "1131XK001"  # 植物检疫证书 (per shipment)
# The kinds of our documents partners may look up and follow.
PARTNER_KINDS = frozenset({catalogue.QUARANTINE_REQUIREMENT, PLANT_QUARANTINE_CERTIFICATE})


def partner_province(principal: Principal) -> str:
    """The province a partner's system acts for; anyone else is refused."""
    if not principal.has_role(Role.PARTNER) or principal.province not in PROVINCES:
        raise Forbidden(messages.PARTNER_CLIENT_ONLY)
    return str(principal.province)


def bound_for(licence: Licence, province: str) -> bool:
    """Whether the document is one the province may see: of a recognised kind and bound for it."""
    if licence.type_code == catalogue.QUARANTINE_REQUIREMENT:
        return province in (licence.data.get("destination_provinces") or [])
    if licence.type_code == PLANT_QUARANTINE_CERTIFICATE:
        return str(licence.data.get("destination") or "").startswith(PROVINCES[province])
    return False


def holder_matches(licence: Licence, code: str) -> bool:
    """The holder's code as given: a credit code in full, a resident ID number in full or masked as we mask it."""
    given = code.strip().upper()
    held = licence.holder_code.upper()
    candidates = [held] if licence.holder_code_type == "uscc" else [held, mask_resident_id(held)]
    return any(hmac.compare_digest(given.encode(), c.encode()) for c in candidates)


async def document_in_scope(session: AsyncSession, province: str, body: PartnerLookup) -> Licence:
    """The document the pair names, if the province may see it; the one 404 otherwise."""
    number = body.number.strip()
    rows = (await session.scalars(select(Licence).where(
        Licence.type_code.in_(PARTNER_KINDS), or_(Licence.licence_number == number, Licence.identifier == number)))).all()
    licence = next((r for r in rows if holder_matches(r, body.holder_code) and bound_for(r, province)), None)
    if licence is None:
        log.info("partner_lookup_unmatched", province=province)
        raise NotFound(messages.PARTNER_DOCUMENT_NOT_FOUND)
    return licence


def document_view(licence: Licence, issuer: Issuer) -> PartnerDocumentView:
    return PartnerDocumentView(licence=licence_view(licence, reveal=False),
                               credential=licence.credential.split("~", 1)[0] + "~", status=licence.status,
                               status_list_uri=status_list_uri(issuer.url, licence.status_list_id))


async def look_up(database: Database, issuer: Issuer, principal: Principal, body: PartnerLookup) -> PartnerDocumentView:
    province = partner_province(principal)
    async with database.transaction() as session:
        licence = await document_in_scope(session, province, body)
        await record_audit(session, principal, "licence.partner_lookup", "licence", licence.id,
                           owner=licence.holder_subject, details={"province": province,
                                                                  "fields": ["licence", "holder_code(masked)"]})
        log.info("partner_lookup", province=province, licence_id=licence.id)
        return document_view(licence, issuer)
