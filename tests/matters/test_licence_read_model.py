"""svc-matters' read model of the licences svc-licences issued, on a real database: each event applied
once, versions and status changes that arrive late do not undo newer ones, and the check a licence
exemption (两个免于提交) passes at submission — by id, number or identifier, for the account or the
company it files for, in one query for all the submission's licences."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import event, func, select, text

from kit.contracts import MaterialSpec, MatterRequirements
from kit.contracts.licences import (
    LicenceIssued,
    LicenceStatusChanged,
    PartnerDocumentRecognised,
    PartnerDocumentStatusChanged,
)
from kit.events.consumer import handle_once
from matters.models import KnownLicence
from matters.schemas import LicenceExemption
from matters.service import licences, materials

NOW = dt.datetime.now(dt.UTC)
QUARANTINE = "林业有害生物调运检疫要求书"
ORIGIN_CERTIFICATE = "产地检疫合格证"
COMPANY = "91310115MA1H7GXQ3E"
CONSUMER = "matters-licences-held"
REQUIREMENTS = MatterRequirements(code="LR-XK-001", version=1, kind="licence", fields=[], materials=[
    MaterialSpec(code="destination_requirement", name="调运检疫要求书", required=False, substitutes=[QUARANTINE]),
    MaterialSpec(code="origin_quarantine_certificate", name="产地检疫合格证", required=False,
                 substitutes=[ORIGIN_CERTIFICATE]),
    MaterialSpec(code="application_form", name="申请表", file_types=["pdf"]),
])


@pytest.fixture(scope="module")
async def database(servers):
    from support import scratch_service_database

    async with scratch_service_database(servers.database_url, "matters", "lvrong_unit_licences") as db:
        yield db


@pytest.fixture
async def clean(database):
    async with database.transaction() as session:
        await session.execute(text("TRUNCATE known_licences, processed_events"))
    return database


def issued(licence_id: str | None = None, *, holder: str = "u-person", org: str | None = None,
           licence_type: str = QUARANTINE, version: int = 1, number: str | None = None,
           valid_from: dt.datetime | None = NOW - dt.timedelta(days=1),
           valid_until: dt.datetime | None = NOW + dt.timedelta(days=30)) -> LicenceIssued:
    licence_id = licence_id or uuid.uuid4().hex
    return LicenceIssued(licence_id=licence_id, licence_number=number or f"沪绿证〔2026〕YD001第{licence_id[:8]}号",
                         licence_type=licence_type, application_id="", holder_subject=holder, issued_at=NOW,
                         identifier=f"1.2.156.3005.2.1131YD001.X.{licence_id[:8]}.{version:03d}.Z",
                         licence_type_code="1131YD001", holder_org_code=org, version=version,
                         change="issue" if version == 1 else "renewal", valid_from=valid_from, valid_until=valid_until)


def status(licence_id: str, to_status: str, at: dt.datetime, from_status: str = "active") -> LicenceStatusChanged:
    return LicenceStatusChanged(licence_id=licence_id, licence_number="n", holder_subject="u-person",
                                from_status=from_status, to_status=to_status, actor="u-officer", occurred_at=at)


async def apply(database, contract: Any, event_id: str | None = None) -> bool:
    envelope = contract.envelope(subject=contract.licence_id, event_id=event_id)
    return await handle_once(database, CONSUMER, envelope, licences.KNOWN_LICENCES.record_event)


async def row(database, licence_id: str) -> KnownLicence | None:
    async with database.session() as session:
        return await session.get(KnownLicence, licence_id)


async def test_an_event_is_applied_once_and_a_replay_of_the_stream_changes_nothing(clean) -> None:
    lic = issued()
    event_id = uuid.uuid4().hex
    assert await apply(clean, lic, event_id) is True
    first = await row(clean, lic.licence_id)
    assert await apply(clean, lic, event_id) is False  # the same delivery again: not applied
    async with clean.session() as session:
        assert await session.scalar(select(func.count()).select_from(KnownLicence)) == 1
        assert await session.scalar(text("SELECT count(*) FROM processed_events WHERE consumer = :c"),
                                    {"c": CONSUMER}) == 1
    again = await row(clean, lic.licence_id)
    assert (again.licence_number, again.observed_at) == (first.licence_number, first.observed_at)
    assert (first.holder_subject, first.licence_type, first.version, first.status) == ("u-person", QUARANTINE, 1, "active")


async def test_a_late_older_version_does_not_replace_a_newer_one(clean) -> None:
    licence_id = uuid.uuid4().hex
    renewed_until = NOW + dt.timedelta(days=400)
    await apply(clean, issued(licence_id, version=2, valid_until=renewed_until))
    await apply(clean, issued(licence_id, version=1, valid_until=NOW + dt.timedelta(days=30)))
    stored = await row(clean, licence_id)
    assert stored.version == 2 and stored.valid_until == renewed_until and stored.identifier.endswith(".002.Z")
    await apply(clean, issued(licence_id, version=3, valid_until=renewed_until + dt.timedelta(days=1)))
    assert (await row(clean, licence_id)).version == 3


async def test_status_changes_keep_the_latest_whatever_order_they_arrive_in(clean) -> None:
    lic = issued()
    await apply(clean, lic)
    t = NOW
    await apply(clean, status(lic.licence_id, "suspended", t))
    assert (await row(clean, lic.licence_id)).status == "suspended"
    await apply(clean, status(lic.licence_id, "active", t + dt.timedelta(seconds=5), from_status="suspended"))
    assert (await row(clean, lic.licence_id)).status == "active"
    await apply(clean, status(lic.licence_id, "revoked", t + dt.timedelta(seconds=10)))
    # A redelivery of the older suspension arriving last does not bring the revoked licence back.
    await apply(clean, status(lic.licence_id, "suspended", t + dt.timedelta(seconds=1)))
    stored = await row(clean, lic.licence_id)
    assert stored.status == "revoked" and stored.status_at == t + dt.timedelta(seconds=10)
    # A new version of the licence leaves its status alone.
    await apply(clean, issued(lic.licence_id, version=2))
    assert (await row(clean, lic.licence_id)).status == "revoked"


async def test_a_status_change_before_its_licence_is_retried_not_lost(clean) -> None:
    licence_id = uuid.uuid4().hex
    change = status(licence_id, "revoked", NOW)
    event_id = uuid.uuid4().hex
    with pytest.raises(LookupError):
        await apply(clean, change, event_id)
    assert await row(clean, licence_id) is None
    await apply(clean, issued(licence_id))
    assert await apply(clean, change, event_id) is True  # the redelivery is applied, not taken for a duplicate
    assert (await row(clean, licence_id)).status == "revoked"


async def test_a_partners_revocation_reaches_its_recognised_document_and_a_reinstatement_too(clean) -> None:
    """``partner_document.status_changed`` (svc-licences' re-check of the partner's status list) sets the
    recognised document's row as our own status changes do: the latest wins; before its recognition, retried."""
    recognition_id = uuid.uuid4().hex

    async def deliver(contract: Any, event_id: str | None = None) -> bool:
        envelope = contract.envelope(subject=recognition_id, event_id=event_id)
        return await handle_once(clean, CONSUMER, envelope, licences.KNOWN_LICENCES.record_event)

    def changed(to_status: str, at: dt.datetime, from_status: str = "active") -> PartnerDocumentStatusChanged:
        return PartnerDocumentStatusChanged(recognition_id=recognition_id, province="JS", document_identifier="js-1",
                                            from_status=from_status, to_status=to_status, occurred_at=at)

    revoked, early = changed("revoked", NOW), uuid.uuid4().hex
    with pytest.raises(LookupError):  # the revocation read before the recognition: delivered again later
        await deliver(revoked, early)
    await deliver(PartnerDocumentRecognised(
        recognition_id=recognition_id, province="JS", document_identifier="js-1", document_type=QUARANTINE,
        document_type_code="1132YD001", holder_org_code=COMPANY, recognised_at=NOW - dt.timedelta(days=1),
        valid_from=NOW - dt.timedelta(days=2), valid_until=NOW + dt.timedelta(days=300)))
    assert (await row(clean, recognition_id)).status == "active"
    assert await deliver(revoked, early) is True
    assert (await row(clean, recognition_id)).status == "revoked"
    # An older suspension arriving late changes nothing; a later reinstatement does.
    await deliver(changed("suspended", NOW - dt.timedelta(seconds=30)))
    assert (await row(clean, recognition_id)).status == "revoked"
    await deliver(changed("active", NOW + dt.timedelta(seconds=60), from_status="revoked"))
    stored = await row(clean, recognition_id)
    assert (stored.status, stored.status_at, stored.partner_province) == ("active", NOW + dt.timedelta(seconds=60), "JS")


# --- the check at submission --------------------------------------------------------------------

async def resolve(database, refs: dict[str, str], subject: str = "u-person", org: str | None = None,
                  ) -> tuple[dict[str, Any], dict[str, str], int]:
    """The references and the error codes by field, and how many statements the check ran."""
    statements = []

    def count(*_: Any) -> None:
        statements.append(1)

    event.listen(database.engine.sync_engine, "before_cursor_execute", count)
    try:
        async with database.session() as session:
            found, errors = await materials.resolve_materials(
                session, subject, REQUIREMENTS, {k: LicenceExemption(licence_id=v) for k, v in refs.items()},
                owner_org_code=org)
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", count)
    return found, {e.field: e.code for e in errors}, len(statements)


async def test_held_licences_of_an_accepted_type_stand_in_by_id_number_or_identifier(clean) -> None:
    quarantine, certificate = issued(), issued(licence_type=ORIGIN_CERTIFICATE)
    for lic in (quarantine, certificate):
        await apply(clean, lic)
    for reference in (quarantine.licence_id, quarantine.licence_number, quarantine.identifier):
        found, errors, statements = await resolve(clean, {"destination_requirement": reference,
                                                          "origin_quarantine_certificate": certificate.licence_number})
        assert errors == {} and statements == 1  # both licences in one query
        ref = found["destination_requirement"]
        assert (ref.kind, ref.licence_id) == ("licence", quarantine.licence_id)  # the id is kept, whatever was sent
        assert found["origin_quarantine_certificate"].licence_id == certificate.licence_id
        assert quarantine.licence_number in ref.exemption_reason and QUARANTINE in ref.exemption_reason
        assert "待" not in ref.exemption_reason
        assert materials.stored_form(found)["destination_requirement"] == {"kind": "licence",
                                                                           "licence_id": quarantine.licence_id}


async def test_a_company_licence_is_held_by_whoever_files_for_the_company(clean) -> None:
    lic = issued(holder="u-another-account-of-the-company", org=COMPANY)
    await apply(clean, lic)
    assert (await resolve(clean, {"destination_requirement": lic.licence_id}, "u-staff", COMPANY))[1] == {}
    assert (await resolve(clean, {"destination_requirement": lic.licence_id}, "u-staff", None))[1] == {
        "materials.destination_requirement": "licence_not_held"}
    assert (await resolve(clean, {"destination_requirement": lic.licence_id}, "u-staff", "913101150000000001"))[1] == {
        "materials.destination_requirement": "licence_not_held"}


@pytest.mark.parametrize(("case", "code"), [
    ("unknown", "unknown_licence"),
    ("someone_else", "licence_not_held"),
    ("wrong_type", "licence_type_not_accepted"),
    ("no_substitute", "licence_type_not_accepted"),
    ("expired", "licence_not_valid"),
    ("not_yet_valid", "licence_not_valid"),
    ("suspended", "licence_not_valid"),
    ("revoked", "licence_not_valid"),
])
async def test_every_refusal_names_the_material_and_why(clean, case: str, code: str) -> None:
    material = "application_form" if case == "no_substitute" else "destination_requirement"
    lic = issued(holder="u-someone-else" if case == "someone_else" else "u-person",
                 licence_type=ORIGIN_CERTIFICATE if case == "wrong_type" else QUARANTINE,
                 valid_until=NOW - dt.timedelta(days=1) if case == "expired" else NOW + dt.timedelta(days=30),
                 valid_from=NOW + dt.timedelta(days=2) if case == "not_yet_valid" else NOW - dt.timedelta(days=10))
    if case != "unknown":
        await apply(clean, lic)
    if case in ("suspended", "revoked"):
        await apply(clean, status(lic.licence_id, case, NOW))
    found, errors, _ = await resolve(clean, {material: lic.licence_id})
    assert found == {} and errors == {f"materials.{material}": code}
