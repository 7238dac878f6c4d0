"""免申即享 (benefits without application): businesses the government already knows are matched by
explicit rules, and their filing is created and completed for them, without an application.

The first benefit is the vehicle-washing business filing (机动车清洗企业设立备案, LR-BA-001).

- Business data comes from an import by ops (``import_businesses``), one report line per input line.
- The eligibility rules are data (``VEHICLE_WASHING.rules``) with a version; every grant records the
  version and the rules it met, and the filing's timeline step shows them.
- A grant is unique per (benefit, business): the row is inserted with ``ON CONFLICT DO NOTHING`` in
  the transaction that creates the filing, so a rerun, or two runs at once, never file twice — the
  loser's transaction is rolled back whole, filing and events included.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy import func, literal_column, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal, SubjectKind
from kit.calendar import local_date
from kit.contracts import BenefitGranted, BusinessDataChanged, MaterialRef
from kit.db import Database
from kit.errors import FieldError, ServiceUnavailable
from kit.events import add_event
from kit.identifiers import is_shanghai_district, is_valid_uscc, normalize_shanghai_district
from kit.pagination import Page, newest_first_after, newest_first_cursor
from matters import messages
from matters.models import BenefitGrant, MatterVersion, RegisteredBusiness
from matters.schemas import (
    ApplicationStatus,
    BenefitGrantView,
    BenefitRulesView,
    BenefitRunReport,
    BusinessImportLine,
    BusinessImportReport,
    EligibilityRuleView,
    GrantedBusiness,
    IneligibleBusiness,
    RegisteredBusinessInput,
)
from matters.service import applications, lifecycle, materials, submission
from matters.service.catalogue import current_matter, requirements_of

log = structlog.get_logger("matters.benefits")

SERVICE_ACTOR = "svc-matters"
REPORT_LIMIT = 200  # businesses named in a run report; the counts always cover all of them
BATCH = 500


# --- the rules ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Facts:
    """What a rule looks at: one registered business, today's date, and the filing form its data gives."""

    business: RegisteredBusiness
    today: date
    form_errors: list[FieldError]


@dataclass(frozen=True)
class Rule:
    id: str
    description_zh: str
    description_en: str
    holds: Callable[[Facts], bool]


@dataclass(frozen=True)
class Benefit:
    code: str
    matter_code: str
    rule_version: str
    rules: tuple[Rule, ...]


SCOPE_KEYWORDS = ("机动车清洗", "洗车", "汽车美容")
BUSINESS_LICENCE_TYPES = frozenset({"营业执照"})
# The drainage permit under its short and its full statutory name.
DRAINAGE_PERMIT_TYPES = frozenset({"排水许可证", "城镇污水排入排水管网许可证"})


def valid_licence(business: RegisteredBusiness, types: frozenset[str], today: date) -> dict[str, Any] | None:
    """The business's licence of one of ``types`` valid today (no end date means without a time limit)."""
    for licence in business.licences or []:
        until = licence.get("valid_until")
        if licence.get("type") in types and (until is None or date.fromisoformat(until) >= today):
            return licence
    return None


VEHICLE_WASHING = Benefit(
    code="vehicle-washing", matter_code="LR-BA-001", rule_version="2026.1",
    rules=(
        Rule("active", "企业登记状态为存续（在营），未停业或注销",
             "the business is registered as active (not suspended or deregistered)",
             lambda f: f.business.status == "active"),
        Rule("scope-vehicle-washing", f"经营范围包含{'、'.join(SCOPE_KEYWORDS)}之一",
             "the business scope mentions vehicle washing (机动车清洗, 洗车 or 汽车美容)",
             lambda f: any(k in f.business.business_scope for k in SCOPE_KEYWORDS)),
        Rule("located-in-shanghai", "经营场所位于上海市的区", "the premises are in a district of Shanghai",
             lambda f: is_shanghai_district(f.business.district)),
        Rule("valid-business-licence", "持有在有效期内的营业执照", "holds a business licence (营业执照) valid today",
             lambda f: valid_licence(f.business, BUSINESS_LICENCE_TYPES, f.today) is not None),
        Rule("valid-drainage-permit", "持有在有效期内的排水许可证（城镇污水排入排水管网许可证）",
             "holds a drainage permit (排水许可证) valid today: it is issued only to premises with sedimentation "
             "and oil-separation facilities",
             lambda f: valid_licence(f.business, DRAINAGE_PERMIT_TYPES, f.today) is not None),
        Rule("filing-form-fits", "登记信息可直接填入备案表（如地址不超过表单长度）",
             "the registered data fits the filing form (e.g. the address is not longer than the form allows)",
             lambda f: not f.form_errors),
    ),
)
BENEFITS = {VEHICLE_WASHING.code: VEHICLE_WASHING}


def rules_view(benefit: Benefit) -> BenefitRulesView:
    return BenefitRulesView(benefit=benefit.code, matter_code=benefit.matter_code, version=benefit.rule_version,
                            rules=[EligibilityRuleView(id=r.id, description_zh=r.description_zh,
                                                       description_en=r.description_en) for r in benefit.rules])


# --- business data --------------------------------------------------------------------------------

def _pydantic_errors(exc: ValidationError) -> list[FieldError]:
    return [FieldError.of(".".join(str(p) for p in e["loc"]) or "line",
                          messages.BUSINESS_LINE_MALFORMED.format(problem=e["msg"]), e["type"]) for e in exc.errors()]


# What a business's data event carries: a rerun of an import that changes none of it sends nothing.
PUBLISHED_BUSINESS_DATA = ("name", "district", "address", "status", "licences", "source")


async def _held_business_data(session: AsyncSession, usccs: list[str]) -> dict[str, dict[str, Any]]:
    """The published data of the businesses already registered among ``usccs``."""
    columns = [getattr(RegisteredBusiness, k) for k in PUBLISHED_BUSINESS_DATA]
    rows = await session.execute(select(RegisteredBusiness.uscc, *columns).where(RegisteredBusiness.uscc.in_(usccs)))
    return {row.uscc: {k: getattr(row, k) for k in PUBLISHED_BUSINESS_DATA} for row in rows}


async def import_businesses(database: Database, lines: list[Any], *, source: str = "import") -> BusinessImportReport:
    """Create or update the registered businesses of ``lines``; a bad line is reported and skipped. Each
    business created or changed is published (``BusinessDataChanged``) for the pre-review's comparison."""
    report: list[BusinessImportLine] = []
    accepted: dict[str, dict[str, Any]] = {}
    for number, raw in enumerate(lines, start=1):
        uscc_seen = raw.get("uscc") if isinstance(raw, dict) and isinstance(raw.get("uscc"), str) else None
        try:
            line = RegisteredBusinessInput.model_validate(raw)
        except ValidationError as exc:
            report.append(BusinessImportLine(line=number, uscc=uscc_seen, result="rejected", errors=_pydantic_errors(exc)))
            continue
        uscc = line.uscc.strip().upper()
        if not is_valid_uscc(uscc):
            report.append(BusinessImportLine(line=number, uscc=line.uscc, result="rejected", errors=[FieldError.of(
                "uscc", messages.BUSINESS_USCC_INVALID, "invalid_uscc")]))
            continue
        if uscc in accepted:
            report.append(BusinessImportLine(line=number, uscc=uscc, result="rejected", errors=[FieldError.of(
                "uscc", messages.BUSINESS_LINE_REPEATED.format(line=accepted[uscc]["line"]), "duplicate_in_import")]))
            continue
        # Outside Shanghai is kept as given: the location rule then says why the business is not eligible.
        district = normalize_shanghai_district(line.district) if is_shanghai_district(line.district) else line.district.strip()
        accepted[uscc] = {"line": number, "values": {
            "uscc": uscc, "name": line.name.strip(), "business_scope": line.business_scope, "district": district,
            "address": line.address.strip(), "status": line.status, "source": source,
            "licences": [lic.model_dump(mode="json") for lic in line.licences]}}
        report.append(BusinessImportLine(line=number, uscc=uscc, result="created"))
    if accepted:
        results: dict[str, bool] = {}
        async with database.transaction() as session:
            # Imports one at a time (they are rare ops actions): each compares with what the one before
            # stored, and a later import's events carry a later as_of, which consumers keep.
            await session.execute(select(func.pg_advisory_xact_lock(func.hashtext("matters-business-import"))))
            now = datetime.now(UTC)
            held = await _held_business_data(session, list(accepted))
            for uscc, item in accepted.items():
                if held.get(uscc) != {k: item["values"][k] for k in PUBLISHED_BUSINESS_DATA}:
                    await add_event(session, BusinessDataChanged(**item["values"], as_of=now), subject=uscc)
                values = {**item["values"], "updated_at": now}
                stmt = insert(RegisteredBusiness).values(**values)
                stmt = stmt.on_conflict_do_update(index_elements=[RegisteredBusiness.uscc],
                                                  set_={k: stmt.excluded[k] for k in values if k != "uscc"})
                # xmax is 0 for a row this statement inserted, not for one it updated.
                inserted = await session.scalar(stmt.returning(literal_column("(xmax = 0)")))
                results[uscc] = bool(inserted)
        for entry in report:
            if entry.result == "created" and entry.uscc in results and not results[entry.uscc]:
                entry.result = "updated"
    rejected = sum(e.result == "rejected" for e in report)
    log.info("businesses_imported", received=len(lines), accepted=len(lines) - rejected, rejected=rejected)
    return BusinessImportReport(received=len(lines), accepted=len(lines) - rejected, rejected=rejected, lines=report)


# --- matching and granting ------------------------------------------------------------------------

def filing_form(business: RegisteredBusiness, matter: MatterVersion) -> tuple[dict[str, Any], list[str]]:
    """The filing form filled from the business data, and the form fields that data does not hold."""
    licence = valid_licence(business, BUSINESS_LICENCE_TYPES, date.min)
    held: dict[str, Any] = {
        "applicant_uscc": business.uscc, "business_name": business.name, "district": business.district,
        "address": business.address,
        # A drainage permit for a washing business is issued only with sedimentation and oil separation in place.
        "sewage_treatment": True,
    }
    if licence and licence.get("issued_on"):
        held["opening_date"] = licence["issued_on"]
    keys = [f["key"] for f in matter.fields]
    return {k: v for k, v in held.items() if k in keys}, [k for k in keys if k not in held]


def _held_licences(business: RegisteredBusiness, matter: MatterVersion, today: date) -> dict[str, MaterialRef]:
    """两个免于提交: the materials the business's licences stand in for."""
    by_material = {"business_licence": BUSINESS_LICENCE_TYPES, "drainage_permit": DRAINAGE_PERMIT_TYPES}
    codes = {m["code"] for m in matter.materials}
    refs = {}
    for code, types in by_material.items():
        licence = valid_licence(business, types, today)
        if code in codes and licence:
            refs[code] = MaterialRef(kind="licence", licence_id=licence["number"])
    return refs


class _AlreadyGranted(Exception):
    pass


async def _grant(database: Database, benefit: Benefit, matter: MatterVersion, business: RegisteredBusiness,
                 form: dict[str, Any], not_held: list[str], today: date) -> str | None:
    """File and complete the filing of one business and record the grant; None when it was granted already."""
    now = datetime.now(UTC)
    # The company's account sees the filing by its code (applications.visibility_filter).
    holder = Principal(subject=f"org:{business.uscc}", kind=SubjectKind.COMPANY, org_code=business.uscc,
                       name=business.name)
    refs = _held_licences(business, matter, today)
    try:
        async with database.transaction() as session:
            app = applications.new_application(matter, holder, form, refs, now, origin="benefit")
            app.submitted_at = app.accepted_at = app.decided_at = app.completed_at = now
            session.add(app)
            await session.flush()
            grant_id = await session.scalar(
                insert(BenefitGrant).values(
                    id=uuid.uuid4().hex, benefit=benefit.code, uscc=business.uscc, application_id=app.id,
                    rule_version=benefit.rule_version, matched_rules=[r.id for r in benefit.rules], granted_at=now)
                .on_conflict_do_nothing(constraint="uq_benefit_grants_benefit_uscc").returning(BenefitGrant.id))
            if grant_id is None:
                raise _AlreadyGranted  # another run granted it first: roll this filing back whole
            app.exempted_materials = await materials.record_application_materials(session, app, refs)
            await lifecycle.record_step(
                session, app, status=ApplicationStatus.COMPLETED, action="auto_match", actor=SERVICE_ACTOR,
                actor_role=lifecycle.SERVICE, reason=messages.BENEFIT_GRANTED_NOTE.both(),
                details={"benefit": benefit.code, "rule_version": benefit.rule_version, "grant_id": grant_id,
                         "matched_rules": [{"id": r.id, "description_zh": r.description_zh} for r in benefit.rules],
                         "data_source": business.source, "fields_not_held": not_held},
                at=now)
            await add_event(session, BenefitGranted(
                benefit=benefit.code, uscc=business.uscc, business_name=business.name, application_id=app.id,
                matter_code=matter.code, matched_rules=[r.id for r in benefit.rules], granted_at=now), subject=app.id)
            return app.id
    except _AlreadyGranted:
        return None


async def run(database: Database, benefit: Benefit) -> BenefitRunReport:
    """Match every registered business against the rules and grant the benefit to each eligible one not yet granted."""
    ran_at = datetime.now(UTC)
    today = local_date(ran_at)
    examined = granted_now = already = ineligible = 0
    by_rule = {r.id: 0 for r in benefit.rules}
    granted: list[GrantedBusiness] = []
    refused: list[IneligibleBusiness] = []
    async with database.session() as session:
        matter = await current_matter(session, benefit.matter_code)
        if matter is None:
            raise ServiceUnavailable(messages.MATTER_UNAVAILABLE.format(code=benefit.matter_code))
        done = set((await session.scalars(select(BenefitGrant.uscc).where(BenefitGrant.benefit == benefit.code))).all())
    requirements = requirements_of(matter)
    after = ""
    while True:
        # In batches by USCC, each read in its own short session, so a long run holds neither many rows
        # nor an open transaction while it files.
        async with database.session() as session:
            batch = (await session.scalars(select(RegisteredBusiness).where(RegisteredBusiness.uscc > after)
                                           .order_by(RegisteredBusiness.uscc).limit(BATCH))).all()
        if not batch:
            break
        after = batch[-1].uscc
        for business in batch:
            examined += 1
            form, not_held = filing_form(business, matter)
            facts = Facts(business, today, submission.check_form_shape(requirements, form))
            failed = [r.id for r in benefit.rules if not r.holds(facts)]
            if failed:
                ineligible += 1
                for rule_id in failed:
                    by_rule[rule_id] += 1
                if len(refused) < REPORT_LIMIT:
                    refused.append(IneligibleBusiness(uscc=business.uscc, name=business.name, failed_rules=failed))
                continue
            if business.uscc in done:
                already += 1
                continue
            application_id = await _grant(database, benefit, matter, business, form, not_held, today)
            if application_id is None:
                already += 1
                continue
            granted_now += 1
            if len(granted) < REPORT_LIMIT:
                granted.append(GrantedBusiness(uscc=business.uscc, name=business.name, application_id=application_id))
    log.info("benefit_run", benefit=benefit.code, examined=examined, granted_now=granted_now, already=already,
             ineligible=ineligible)
    return BenefitRunReport(benefit=benefit.code, rule_version=benefit.rule_version, ran_at=ran_at, examined=examined,
                            matched=granted_now + already, granted_now=granted_now, already_granted=already,
                            ineligible=ineligible, ineligible_by_rule=by_rule, granted=granted,
                            ineligible_businesses=refused)


async def list_grants(session: AsyncSession, benefit: Benefit, *, limit: int, cursor: str | None) -> Page[BenefitGrantView]:
    stmt = (select(BenefitGrant, RegisteredBusiness.name)
            .join(RegisteredBusiness, RegisteredBusiness.uscc == BenefitGrant.uscc, isouter=True)
            .where(BenefitGrant.benefit == benefit.code))
    after = newest_first_after(cursor, BenefitGrant.granted_at, BenefitGrant.id)
    if after is not None:
        stmt = stmt.where(after)
    rows = (await session.execute(stmt.order_by(BenefitGrant.granted_at.desc(), BenefitGrant.id.desc())
                                  .limit(limit + 1))).all()
    items = [BenefitGrantView(id=g.id, benefit=g.benefit, uscc=g.uscc, business_name=name, application_id=g.application_id,
                              rule_version=g.rule_version, matched_rules=g.matched_rules, granted_at=g.granted_at)
             for g, name in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1][0]
        next_cursor = newest_first_cursor(last.granted_at, last.id)
    return Page[BenefitGrantView](items=items, next_cursor=next_cursor)
