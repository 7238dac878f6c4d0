"""Business data (企业登记信息) in the pre-review: a read model of registered businesses fed by
``lvrong.matters.business.changed`` (svc-matters publishes it for each business an ops import creates
or changes), the name comparison (数据比对) and pre-fill from it.

* ``compare.business_name``: a form that declares a credit code (``applicant_uscc``) and the applicant
  unit's name (``NAME_FIELDS``) must give the name registered for that code. Names are compared after
  NFKC normalisation (full-width brackets, letters and spaces as their half-width forms: 有限公司 names
  often differ only in （）/()), without whitespace and case. A mismatch is blocking, like a licence
  that is not the applicant's: it is either the wrong code or the wrong name, and the applicant fixes
  it. The registered name is shown only to the business itself (the code is the caller's own org
  code); anyone else learns that the two differ, not what is registered. A code with no business
  data is ``not_applicable`` with a note saying so, never a false failure.
* ``compare.business_status``: the applicant unit a form declares (``applicant_uscc``, unless the applicant
  is a person) must still exist: a business deregistered (注销) is ended
  (《中华人民共和国市场主体登记管理条例》第三十一条) and cannot apply — blocking; one whose business is
  suspended (歇业) goes to a reviewer with a warning. A code with no business data is ``not_applicable``.
* Pre-fill: a company's own registered data (by its token's org code only) fills the fields that hold
  it (``fields_of``), with the data's as-of time as its freshness.
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal, SubjectKind
from kit.contracts import ApplicationSubmitted, BusinessDataChanged
from kit.events import CloudEvent
from kit.identifiers import normalize_uscc
from prequal.models import KnownBusiness
from prequal.service.rules import RuleResult

RULE = "compare.business_name"
USCC_FIELD = "applicant_uscc"
# Form keys naming the applicant unit itself (not a shop sign, project or contact person).
COMPANY_NAME_FIELDS = frozenset({"applicant_name", "company_name", "org_name", "organisation_name"})
# Forms about the business's own premises, whose name and place the filing takes from the registration:
# the vehicle-washing enterprise filing (机动车清洗企业设立备案), which 免申即享 fills the same way.
PREMISES_FIELDS: dict[str, dict[str, str]] = {
    "LR-BA-001": {"business_name": "name", "district": "district", "address": "address"},
}
_SPACES = re.compile(r"\s+")


def fields_of(matter_code: str) -> dict[str, str]:
    """Form key → the business data attribute it holds, for one matter."""
    return {key: "name" for key in COMPANY_NAME_FIELDS} | PREMISES_FIELDS.get(matter_code, {})


def name_field(matter_code: str, form: dict[str, Any]) -> str | None:
    """The form key holding the applicant unit's name, when the form gives one."""
    for key, attribute in fields_of(matter_code).items():
        value = form.get(key)
        if attribute == "name" and isinstance(value, str) and value.strip():
            return key
    return None


def normalised_name(name: str) -> str:
    return _SPACES.sub("", unicodedata.normalize("NFKC", name)).casefold()


# ---- the read model ---------------------------------------------------------------------------------

async def on_business_changed(session: AsyncSession, event: CloudEvent) -> None:
    """Keep the newest data per code: an event older than what is held changes nothing."""
    changed = BusinessDataChanged.from_event(event)
    stmt = insert(KnownBusiness).values(
        uscc=changed.uscc, name=changed.name, district=changed.district, address=changed.address,
        status=changed.status, licences=[lic.model_dump(mode="json") for lic in changed.licences],
        source=changed.source, as_of=changed.as_of, observed_at=dt.datetime.now(dt.UTC))
    await session.execute(stmt.on_conflict_do_update(
        index_elements=["uscc"],
        set_={k: stmt.excluded[k] for k in ("name", "district", "address", "status", "licences", "source", "as_of")}
        | {"observed_at": func.now()},
        where=KnownBusiness.as_of <= stmt.excluded.as_of))


# ---- the comparison ---------------------------------------------------------------------------------

def _result(targets: list[str], outcome: str, zh: str | None = None, en: str | None = None) -> RuleResult:
    return RuleResult(rule_id=RULE, finding_code="compare-business-name" if outcome == "failed" else None,
                      targets=targets, outcome=outcome, severity="blocking", message_zh=zh, message_en=en)


# How the catalogue's forms (and older ones) say the applicant is a person, not a company.
PERSON_APPLICANT_TYPES = frozenset({"individual", "person"})


def declared_code(submitted: ApplicationSubmitted) -> str | None:
    """The well-formed credit code whose business data the submission's name is compared with, if any."""
    return applicant_code(submitted) if name_field(submitted.matter.code, submitted.form) is not None else None


def applicant_code(submitted: ApplicationSubmitted) -> str | None:
    """The well-formed credit code of the applicant unit the form declares (any matter), if any."""
    uscc = submitted.form.get(USCC_FIELD)
    if not isinstance(uscc, str) or submitted.form.get("applicant_type") in PERSON_APPLICANT_TYPES:
        return None
    try:
        return normalize_uscc(uscc.strip())
    except ValueError:
        return None  # a malformed one: the format rules say what is wrong


STATUS_RULE = "compare.business_status"


def status_outcome(submitted: ApplicationSubmitted, business: KnownBusiness | None) -> RuleResult:
    """The declared applicant unit's registration status (``business`` its data, None when none is known)."""
    code = applicant_code(submitted)
    targets = [f"form.{USCC_FIELD}"]

    def result(outcome: str, severity: str = "blocking", zh: str | None = None, en: str | None = None) -> RuleResult:
        return RuleResult(rule_id=STATUS_RULE, finding_code="compare-business-status" if outcome == "failed" else None,
                          targets=targets, outcome=outcome, severity=severity, message_zh=zh, message_en=en)

    if code is None or business is None:
        return result("not_applicable")
    if business.status == "deregistered":
        return result("failed", "blocking", f"统一社会信用代码 {code} 的市场主体已注销登记，不能作为申请人，请核对统一社会信用代码",
                      f"the business with credit code {code} has been deregistered and cannot apply: check the credit code")
    if business.status == "suspended":
        return result("failed", "warning", f"统一社会信用代码 {code} 的市场主体处于歇业状态，需由审查人员核实",
                      f"the business with credit code {code} is suspended: a reviewer will check")
    return result("passed")


async def business_status_result(session: AsyncSession, submitted: ApplicationSubmitted) -> RuleResult:
    code = applicant_code(submitted)
    return status_outcome(submitted, await session.get(KnownBusiness, code) if code else None)


async def known_businesses(session: AsyncSession, usccs: set[str]) -> dict[str, KnownBusiness]:
    """The business data of ``usccs`` in one query (for a batch of submissions)."""
    if not usccs:
        return {}
    return {b.uscc: b for b in (await session.scalars(select(KnownBusiness).where(KnownBusiness.uscc.in_(usccs)))).all()}


async def business_name_result(session: AsyncSession, submitted: ApplicationSubmitted) -> RuleResult:
    """The applicant unit's name in the form against the business data of the credit code it declares."""
    uscc = declared_code(submitted)
    return name_outcome(submitted, await session.get(KnownBusiness, uscc) if uscc else None)


def name_outcome(submitted: ApplicationSubmitted, business: KnownBusiness | None) -> RuleResult:
    """``business_name_result`` given the business data of the declared code (None when none is known)."""
    form, uscc = submitted.form, declared_code(submitted)
    key = name_field(submitted.matter.code, form)
    if key is None or uscc is None:
        return _result([f"form.{key or USCC_FIELD}"], "not_applicable")
    targets = [f"form.{key}", f"form.{USCC_FIELD}"]
    if business is None:
        return _result(targets, "not_applicable", f"统一社会信用代码 {uscc} 尚无企业登记信息，未比对名称，请人工核验",
                       f"no business data is known for credit code {uscc}: the name was not compared, check it by hand")
    given = form[key].strip()
    if normalised_name(given) == normalised_name(business.name):
        return _result(targets, "passed")
    if uscc == submitted.applicant.org_code:
        return _result(targets, "failed",
                       f"填写的名称「{given}」与统一社会信用代码 {uscc} 的登记名称「{business.name}」不一致，"
                       "请按营业执照上的名称填写",
                       f"the name given ({given}) is not the name registered for credit code {uscc} "
                       f"({business.name}): give the name on the business licence")
    # Not the caller's own code: what is registered under it is not theirs to read.
    return _result(targets, "failed",
                   f"填写的名称「{given}」与统一社会信用代码 {uscc} 的登记名称不一致，请核对名称和统一社会信用代码",
                   f"the name given ({given}) is not the name registered for credit code {uscc}: check the name "
                   "and the credit code")


# ---- pre-fill ---------------------------------------------------------------------------------------

async def own_business_values(session: AsyncSession, principal: Principal,
                              matter_code: str) -> tuple[KnownBusiness | None, dict[str, Any]]:
    """A company caller's own business (by their token's org code, never a code they type) and, for
    each form key of ``matter_code`` that holds business data, its value."""
    if principal.kind != SubjectKind.COMPANY or not principal.org_code:
        return None, {}
    business = await session.get(KnownBusiness, principal.org_code.strip().upper())
    if business is None:
        return None, {}
    return business, {key: getattr(business, attribute) for key, attribute in fields_of(matter_code).items()}
