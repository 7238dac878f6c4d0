"""Smart pre-fill (智能预填): a draft form with every field the platform can fill, each with its source.

Built only from the service's own read models, fed by events (never other services' tables):

* ``prefill_submissions`` — every (re)submission (``ApplicationSubmitted``), with form and materials;
* licences issued come from the comparison's read model (``known_licences``, ``prequal.compare``);
* registered businesses (``known_businesses``, ``prequal.business``), from ``BusinessDataChanged``;
* ``prefill_status_changes`` — application status changes (``ApplicationStatusChanged``), for the measures;
* ``matter_requirements`` — the matter's fields, as seen in the submissions consumed.

Sources, in order of precedence: the **business data** of the company the caller acts for (by the
token's org code only; ``prequal.business``: the registered name, and the premises of a filing about
them), which is what the pre-review compares the name with; the caller's **profile** (the verified token:
subject kind, name, unified social credit code of the company acted for), a **licence** they hold (into a field that asks
for a licence number), and **earlier applications** of the same subject or of the same company (the same
field key in any matter, the newest value first). Nothing comes from another applicant's data. Date
fields are never copied from an earlier application: they describe that application's own period; nor is
a value the pre-review found fault with (a finding on that field in that attempt's verdict), so a
mistake is not spread to the next form — only pre-reviewed submissions are used for that reason.
Each pre-fill is recorded, so the measures can compare it with what the applicant then submits.
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal, SubjectKind
from kit.contracts import ApplicationStatusChanged, ApplicationSubmitted, MatterRequirements
from kit.contracts.matters import FormFieldSpec
from kit.db import Database
from kit.errors import NotFound
from kit.protection import reveal_form
from prequal import messages
from prequal.models import KnownLicence, MatterRequirementsRow, Prefill, StatusSeen, SubmissionSeen
from prequal.schemas import PrefillResult
from prequal.service.business import COMPANY_NAME_FIELDS, own_business_values

# Field types never copied from an earlier application (they belong to that application's period).
NOT_CARRIED_OVER = frozenset({"date"})
# Keys that ask for a licence (certificate) number: filled from a licence the caller holds.
LICENCE_NUMBER_KEYS = ("licence_number", "license_number", "permit_number", "certificate_number")
PERSON_NAME_KEYS = frozenset({"applicant_name", "contact_name", "person_name"})


# ---- read models, from events ----------------------------------------------------------------------

# One statement for a batch of submissions (executemany), compiled once.
_RECORD_SUBMISSION = insert(SubmissionSeen).on_conflict_do_nothing()


async def record_submissions(session: AsyncSession, submissions: list[ApplicationSubmitted]) -> None:
    now = dt.datetime.now(dt.UTC)
    await session.execute(_RECORD_SUBMISSION, [dict(
        application_id=submitted.application_id, attempt=submitted.attempt, matter_code=submitted.matter.code,
        matter_version=submitted.matter.version, applicant_subject=submitted.applicant.subject,
        applicant_org_code=submitted.applicant.org_code, form=submitted.form,
        materials={k: v.model_dump(mode="json", exclude_none=True) for k, v in submitted.materials.items()},
        field_types={f.key: f.type for f in submitted.requirements.fields}, submitted_at=submitted.submitted_at,
        observed_at=now) for submitted in submissions])


# One statement for a batch of status changes (executemany), compiled once.
_RECORD_STATUS = insert(StatusSeen).on_conflict_do_nothing()


async def record_statuses(session: AsyncSession, changes: list[tuple[str, ApplicationStatusChanged]]) -> None:
    """Status history for the measures: (event id, status change) of a batch, each kept once."""
    if not changes:
        return
    now = dt.datetime.now(dt.UTC)
    await session.execute(_RECORD_STATUS, [dict(
        event_id=event_id[:64], application_id=changed.application_id, matter_code=changed.matter_code,
        applicant_subject=changed.applicant_subject, from_status=changed.from_status, to_status=changed.to_status,
        actor=changed.actor[:128], occurred_at=changed.occurred_at, observed_at=now) for event_id, changed in changes])


# ---- the pre-fill ----------------------------------------------------------------------------------

def _fits(spec: FormFieldSpec, value: Any) -> bool:
    """A value is offered for a field only if it is valid for that field's type and options."""
    if value is None or value == "":
        return False
    if spec.type == "enum":
        return any(o.value == value for o in spec.options or [])
    if spec.type == "boolean":
        return isinstance(value, bool)
    if spec.type in ("integer", "decimal"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if spec.type == "integer" and not float(value).is_integer():
            return False
        return (spec.min is None or value >= spec.min) and (spec.max is None or value <= spec.max)
    if not isinstance(value, str):
        return False
    return spec.max_length is None or len(value) <= spec.max_length


def _profile(principal: Principal, spec: FormFieldSpec) -> Any:
    company = principal.kind == SubjectKind.COMPANY
    if spec.key == "applicant_type" and spec.type == "enum":
        return "organisation" if company else "individual" if principal.kind == SubjectKind.PERSON else None
    if spec.type == "uscc" and spec.key.startswith("applicant") and principal.org_code:
        return principal.org_code
    if company and spec.key in COMPANY_NAME_FIELDS:
        return principal.name
    if principal.kind == SubjectKind.PERSON and spec.key in PERSON_NAME_KEYS:
        return principal.name
    return None


async def latest_requirements(session: AsyncSession, matter_code: str) -> MatterRequirements:
    """The current (highest) version's requirements of a matter, as the catalogue's events announced it."""
    row = await session.scalar(select(MatterRequirementsRow).where(MatterRequirementsRow.code == matter_code)
                               .order_by(MatterRequirementsRow.version.desc()).limit(1))
    if row is None:
        raise NotFound(messages.MATTER_UNKNOWN.format(matter=matter_code))
    return MatterRequirements.model_validate(row.requirements)


def _own(principal: Principal) -> Any:
    """Submissions the caller may see: their own, and their company's (the token's org code)."""
    own = SubmissionSeen.applicant_subject == principal.subject
    if principal.org_code:
        return or_(own, SubmissionSeen.applicant_org_code == principal.org_code)
    return own


EARLIER_VALUES = text("""
SELECT DISTINCT ON (kv.key) kv.key, kv.value, s.field_types ->> kv.key AS type, s.application_id, s.matter_code,
       s.submitted_at, s.observed_at
FROM prefill_submissions s CROSS JOIN LATERAL jsonb_each(s.form) kv
WHERE (s.applicant_subject = :subject OR (CAST(:org AS text) IS NOT NULL AND s.applicant_org_code = :org))
  AND kv.key = ANY(:keys) AND jsonb_typeof(kv.value) <> 'null' AND kv.value <> '""'::jsonb
  AND EXISTS (SELECT 1 FROM verdicts v WHERE v.application_id = s.application_id AND v.attempt = s.attempt)
  AND NOT EXISTS (SELECT 1 FROM verdicts v CROSS JOIN LATERAL jsonb_array_elements(v.findings) f
                  WHERE v.application_id = s.application_id AND v.attempt = s.attempt
                    AND f ->> 'target' = 'form.' || kv.key)
ORDER BY kv.key, s.submitted_at DESC, s.attempt DESC
""")


async def prefill_for(database: Database, principal: Principal, matter_code: str) -> PrefillResult:
    """The caller's pre-fill of a matter, recorded (the measures compare it with what is then submitted)."""
    async with database.transaction() as session:
        return PrefillResult.model_validate(await build_prefill(session, principal, matter_code))


async def build_prefill(session: AsyncSession, principal: Principal, matter_code: str) -> dict[str, Any]:
    """The pre-fill, recorded in the caller's transaction."""
    requirements = await latest_requirements(session, matter_code)
    now = dt.datetime.now(dt.UTC)
    fields: dict[str, dict[str, Any]] = {}

    business, registered = await own_business_values(session, principal, requirements.code)
    for spec in requirements.fields:
        value = registered.get(spec.key)
        if business is not None and _fits(spec, value):
            fields[spec.key] = {"value": value, "source": "business_data", "source_ref": f"business:{business.uscc}",
                                "as_of": business.as_of, "observed_at": business.observed_at}

    for spec in requirements.fields:
        value = _profile(principal, spec) if spec.key not in fields else None
        if value is not None and _fits(spec, value):
            fields[spec.key] = {"value": value, "source": "profile", "source_ref": f"token:{principal.subject}",
                                "as_of": now}

    own_apps = select(SubmissionSeen.application_id).where(_own(principal))
    licences = (await session.scalars(
        select(KnownLicence).where(or_(KnownLicence.holder_subject == principal.subject,
                                      KnownLicence.application_id.in_(own_apps)))
        .order_by(KnownLicence.issued_at.desc()))).all()
    if licences:
        for spec in requirements.fields:
            if spec.key not in fields and any(k in spec.key for k in LICENCE_NUMBER_KEYS) and spec.type in ("string", "text"):
                lic = licences[0]
                if _fits(spec, lic.licence_number):
                    fields[spec.key] = {"value": lic.licence_number, "source": "licence",
                                        "source_ref": f"licence:{lic.licence_id}", "as_of": lic.issued_at}

    wanted = [s for s in requirements.fields if s.key not in fields and s.type not in NOT_CARRIED_OVER]
    if wanted:
        rows = (await session.execute(EARLIER_VALUES, {"subject": principal.subject, "org": principal.org_code,
                                                       "keys": [s.key for s in wanted]})).mappings().all()
        by_key = {r["key"]: r for r in rows}
        # Personal values come out of the JSONB encrypted (prefill_submissions.form is a ProtectedForm).
        earlier = reveal_form({r["key"]: r["value"] for r in rows})
        for spec in wanted:
            r = by_key.get(spec.key)
            if r is not None and r["type"] == spec.type and _fits(spec, earlier[spec.key]):
                fields[spec.key] = {"value": earlier[spec.key], "source": "earlier_application",
                                    "source_ref": f"application:{r['application_id']}", "as_of": r["submitted_at"],
                                    "matter_code": r["matter_code"], "observed_at": r["observed_at"]}

    ordered = {s.key: {**fields[s.key], "label": s.label} for s in requirements.fields if s.key in fields}
    prefill_id = uuid.uuid4().hex
    session.add(Prefill(id=prefill_id, applicant_subject=principal.subject, applicant_org_code=principal.org_code,
                        matter_code=requirements.code, matter_version=requirements.version,
                        fields_total=len(requirements.fields),
                        filled={k: v["value"] for k, v in ordered.items()},
                        sources={k: {"source": v["source"], "source_ref": v["source_ref"]} for k, v in ordered.items()},
                        created_at=now))
    total = len(requirements.fields)
    return {
        "prefill_id": prefill_id, "matter_code": requirements.code, "matter_version": requirements.version,
        "fields_total": total, "fields_filled": len(ordered), "ratio": round(len(ordered) / total, 4) if total else 0.0,
        "fields": ordered, "unfilled": [s.key for s in requirements.fields if s.key not in ordered],
        "licences": [{"licence_id": x.licence_id, "licence_number": x.licence_number, "licence_type": x.licence_type,
                      "application_id": x.application_id, "issued_at": x.issued_at, "observed_at": x.observed_at}
                     for x in licences],
        "created_at": now,
    }
