"""The licences applicants hold (电子证照), as svc-licences announces them (``kit.licence_read_model``):
what a material exempted by a licence (两个免于提交) is checked against at submission and supplement.

A front-end names the licence by what ``GET /v1/licences`` of svc-licences gives it: the licence's
``id``, or its ``licence_number`` (printed on it), or its current ``identifier`` (证照标识). The
application keeps the licence's id, whichever was sent.

A partner province's document recognised by svc-licences (长三角) is a row of the same read model (its
recognition id as ``licence_id``, ``partner_province`` set, held by the company of its credit code) and
passes the same checks; the application records which partner document stood in.

A licence stands in for a material when it is known here, belongs to the applicant (issued to the
same account, or to the company the applicant files for, by its credit code), is of a type the
material's ``substitutes`` name, is not suspended or revoked, and is valid at the moment of submission.
Expiry is judged from ``valid_until`` (``expired_by``), not from an ``expired`` status.

A licence issued moments ago may not have reached this read model yet (its event is on its way): the
submission is refused as ``unknown_licence`` with a message asking to retry in a few seconds, rather
than accepted unchecked or checked by a call to svc-licences on the submission's path.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from kit.calendar import local_date
from kit.contracts import MaterialSpec
from kit.licence_read_model import LicenceReadModel
from matters.models import KnownLicence, RegisteredBusiness

# The licence is not (yet) known here; see the module's note on the race with its issue.
UNKNOWN = ("unknown_licence", "未找到该证照；如证照刚刚签发，请稍候几秒再提交",
           "no such licence is known; if it was issued moments ago, submit again in a few seconds")
# The partner provinces (长三角) whose recognised documents may stand in, by the code the trust list uses.
PROVINCES = {"JS": ("江苏省", "Jiangsu"), "ZJ": ("浙江省", "Zhejiang"), "AH": ("安徽省", "Anhui")}
NOT_IN_FORCE = {"suspended": ("已被暂停", "is suspended"), "revoked": ("已被撤销", "has been revoked")}


# The read model (kit.licence_read_model): filled by the consumer ``KNOWN_LICENCES.subscription()``.
KNOWN_LICENCES = LicenceReadModel(KnownLicence)
find = KNOWN_LICENCES.find


# --- checking a reference -----------------------------------------------------------------------

def named_by(found: list[KnownLicence], reference: str, subject: str, org_code: str | None) -> KnownLicence | None:
    """The licence ``reference`` names: by id first; a number or identifier shared by several (never
    the case for svc-licences' own) resolves to the applicant's, then the latest issued."""
    by_id = next((lic for lic in found if lic.licence_id == reference), None)
    if by_id is not None:
        return by_id
    named = [lic for lic in found if reference in (lic.licence_number, lic.identifier)]
    return max(named, key=lambda lic: (lic.held_by(subject, org_code), lic.issued_at), default=None)


def refusal(licence: KnownLicence, spec: MaterialSpec, subject: str, org_code: str | None,
            now: datetime) -> tuple[str, str, str] | None:
    """(code, Chinese, English) of why ``licence`` cannot stand in for the material ``spec``, or None."""
    if not licence.held_by(subject, org_code):
        return ("licence_not_held", "该证照不属于申请人，请上传该材料",
                "this licence is not held by the applicant: upload the material instead")
    if licence.licence_type not in spec.substitutes:
        accepted_zh = f"可替代该材料的证照：{'、'.join(spec.substitutes)}" if spec.substitutes else "该材料不能以证照替代"
        accepted_en = f"accepted: {', '.join(spec.substitutes)}" if spec.substitutes else "no licence stands in for it"
        return ("licence_type_not_accepted", f"「{licence.licence_type}」不能替代该材料；{accepted_zh}",
                f"a {licence.licence_type} cannot stand in for this material; {accepted_en}")
    if licence.status in NOT_IN_FORCE:
        zh, en = NOT_IN_FORCE[licence.status]
        return ("licence_not_valid", f"证照 {licence.licence_number} {zh}，请上传该材料",
                f"the licence {licence.licence_number} {en}: upload the material instead")
    if licence.valid_until is not None and licence.expired_by(now):
        day = local_date(licence.valid_until)
        return ("licence_not_valid", f"证照 {licence.licence_number} 已于 {day} 过期，请上传该材料",
                f"the licence {licence.licence_number} expired on {day}: upload the material instead")
    if licence.valid_from is not None and licence.valid_from > now:
        day = local_date(licence.valid_from)
        return ("licence_not_valid", f"证照 {licence.licence_number} 自 {day} 起生效，尚不能替代该材料",
                f"the licence {licence.licence_number} is valid only from {day}")
    return None


def exemption_reason(licence: KnownLicence, now: datetime) -> str:
    """What the application records for the exempted material: the licence that was verified, and when."""
    day = local_date(now)
    if licence.partner_province:
        province = PROVINCES.get(licence.partner_province, (licence.partner_province, licence.partner_province))
        return (f"以申请人持有的{province[0]}「{licence.licence_type}」{licence.licence_number} 免于提交（长三角互认，认可记录 "
                f"{licence.licence_id}；{day} 核验：属申请人、在有效期内、状态正常）/ exempted by the applicant's "
                f"{licence.licence_type} {licence.licence_number} issued in {province[1]} (Yangtze River Delta mutual "
                f"recognition, recognition {licence.licence_id}; verified on {day}: held by the applicant, valid and in force)")
    return (f"以申请人持有的「{licence.licence_type}」{licence.licence_number} 免于提交（{day} 经电子证照库核验："
            f"属申请人、在有效期内、状态正常）/ exempted by the applicant's {licence.licence_type} "
            f"{licence.licence_number} (verified against the licence records on {day}: held by the applicant, "
            "valid and in force)")


# --- a company's business licence (营业执照), from the business data the platform holds ----------------
# svc-licences never issues a business licence (the market regulator does), yet every matter asks for
# one. A company applicant's own 营业执照 stands in when the business data received from the registry
# (``registered_businesses``: imports and events, also used for 免申即享) lists it for the company.

BUSINESS_LICENCE = "营业执照"


async def registration(session: AsyncSession, org_code: str | None) -> RegisteredBusiness | None:
    return await session.get(RegisteredBusiness, org_code) if org_code else None


@dataclass(frozen=True)
class BusinessLicenceCheck:
    number: str
    refusal: tuple[str, str, str] | None  # (code, Chinese, English) when it cannot stand in
    reason: str = ""  # what the application records when it does


def business_licence(business: RegisteredBusiness | None, reference: str, now: datetime) -> BusinessLicenceCheck | None:
    """The 营业执照 of the company ``business`` (the applicant's own) that ``reference`` names, by the
    company's credit code or the licence's number; None when it names none of the company's."""
    if business is None:
        return None
    record = next((lic for lic in business.licences if lic.get("type") == BUSINESS_LICENCE
                   and reference in (business.uscc, lic.get("number"))), None)
    if record is None:
        return None
    number = str(record.get("number") or business.uscc)
    if business.status != "active":
        return BusinessLicenceCheck(number, ("licence_not_valid", f"该企业登记状态为「{business.status}」，营业执照不能替代该材料",
                                             f"the company's registration is {business.status}: its business licence "
                                             "cannot stand in"))
    today = local_date(now)
    if record.get("valid_until") and str(record["valid_until"]) < today.isoformat():
        return BusinessLicenceCheck(number, ("licence_not_valid", f"营业执照 {number} 已于 {record['valid_until']} 到期，请上传该材料",
                                             f"the business licence {number} expired on {record['valid_until']}: "
                                             "upload the material instead"))
    return BusinessLicenceCheck(number, None, (
        f"以申请企业的营业执照 {number} 免于提交（{today} 经市场主体登记信息核验：在册、有效）/ exempted by the "
        f"company's business licence {number} (verified against the business registration data on {today}: "
        "registered and valid)"))
