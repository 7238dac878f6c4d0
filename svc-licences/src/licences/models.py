"""Tables of svc-licences.

A licence (证照) keeps one row with its current version and status; every version (issue, change
变更, renewal 延续, re-issue 补发) and every status change is kept as its own row, never overwritten.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from kit.db import Base as KitBase
from kit.db import new_metadata
from kit.protection import ProtectedForm, ProtectedText


class Base(KitBase):
    __abstract__ = True
    metadata = new_metadata()


def _now() -> Any:
    return mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class KnownApplication(Base):
    """Read model of svc-matters' submissions: what a licence is issued from (never its tables)."""

    __tablename__ = "known_applications"

    application_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    matter_code: Mapped[str] = mapped_column(String(32))
    matter_kind: Mapped[str] = mapped_column(String(32))
    applicant_subject: Mapped[str] = mapped_column(String(128))
    applicant_kind: Mapped[str] = mapped_column(String(32))
    applicant_org_code: Mapped[str | None] = mapped_column(String(32))
    form: Mapped[dict[str, Any]] = mapped_column(ProtectedForm)  # personal fields encrypted
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class StatusList(Base):
    """One IETF Token Status List: 2 bits per licence, kept up to date in place, so publishing it
    is a compression and a signature, not a scan of every licence."""

    __tablename__ = "status_lists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    bits: Mapped[bytes] = mapped_column(LargeBinary)
    allocated: Mapped[int] = mapped_column(Integer, server_default="0")
    revision: Mapped[int] = mapped_column(BigInteger, server_default="0")
    updated_at: Mapped[datetime] = _now()


class Licence(Base):
    __tablename__ = "licences"
    __table_args__ = (
        UniqueConstraint("status_list_id", "status_index"),
        Index("ix_licences_holder", "holder_subject", "issued_at"),
        Index("ix_licences_valid_until", "valid_until", postgresql_where="status IN ('active', 'suspended')"),
        # The licences still without an SM2 document (licences.service.sm2backfill): empty once it has run.
        Index("ix_licences_sm2_missing", "id", postgresql_where="sm2_document IS NULL"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # One decision, one licence: the approval's application can be issued only once.
    application_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    matter_code: Mapped[str | None] = mapped_column(String(32))
    type_code: Mapped[str] = mapped_column(String(32))
    licence_type: Mapped[str] = mapped_column(String(128))
    licence_number: Mapped[str] = mapped_column(String(64), unique=True)
    serial: Mapped[int] = mapped_column(BigInteger)
    identifier: Mapped[str] = mapped_column(String(128), unique=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    holder_subject: Mapped[str] = mapped_column(String(128))
    holder_kind: Mapped[str] = mapped_column(String(32))
    # The holder's name and code (resident ID or credit code) are encrypted at rest (kit.protection);
    # ``holder_code_hash`` (a keyed hash) finds a holder's licences by code without decrypting.
    holder_name: Mapped[str] = mapped_column(ProtectedText("licences.holder_name"))
    holder_code: Mapped[str] = mapped_column(ProtectedText("licences.holder_code"))
    holder_code_hash: Mapped[str] = mapped_column(String(64), index=True)
    holder_code_type: Mapped[str] = mapped_column(String(16))  # uscc | resident_id
    issuer_name: Mapped[str] = mapped_column(String(200))
    issuer_code: Mapped[str] = mapped_column(String(32))
    region: Mapped[str] = mapped_column(String(16))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status_list_id: Mapped[int] = mapped_column(ForeignKey("status_lists.id"))
    status_index: Mapped[int] = mapped_column(Integer)
    # The SD-JWT VC with its disclosures, which hold the holder's personal fields: encrypted too.
    credential: Mapped[str] = mapped_column(ProtectedText("licences.credential"))
    # The SM2-signed document (licences.service.sm2docs), JSON text with the holder's fields: encrypted.
    # None for a licence issued before SM2 signatures until licences.service.sm2backfill signs it.
    sm2_document: Mapped[str | None] = mapped_column(ProtectedText("licences.sm2_document"))
    updated_at: Mapped[datetime] = _now()


class LicenceVersion(Base):
    __tablename__ = "licence_versions"
    __table_args__ = (
        Index("ix_licence_versions_sm2_missing", "licence_id", postgresql_where="sm2_document IS NULL"),
    )

    licence_id: Mapped[str] = mapped_column(ForeignKey("licences.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # issue | change | renewal | reissue
    identifier: Mapped[str] = mapped_column(String(128), unique=True)
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    reason: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(128))
    credential: Mapped[str] = mapped_column(ProtectedText("licence_versions.credential"))
    sm2_document: Mapped[str | None] = mapped_column(ProtectedText("licence_versions.sm2_document"))
    created_at: Mapped[datetime] = _now()


class LicenceStatusChange(Base):
    __tablename__ = "licence_status_changes"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    licence_id: Mapped[str] = mapped_column(ForeignKey("licences.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = _now()


class Presentation(Base):
    """A 亮证 token handed to the holder; ``verified_at`` set by the first online verification (replay)."""

    __tablename__ = "presentations"

    cti: Mapped[str] = mapped_column(String(32), primary_key=True)
    licence_id: Mapped[str] = mapped_column(ForeignKey("licences.id"), index=True)
    created_at: Mapped[datetime] = _now()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    verified_by: Mapped[str | None] = mapped_column(String(128))


class Verification(Base):
    __tablename__ = "verifications"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    licence_id: Mapped[str | None] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # presentation | credential
    result: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    verifier: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = _now()


class DataHandle(Base):
    """亮数: a one-time handle to the live data behind a licence, redeemed online by a verifier."""

    __tablename__ = "data_handles"

    handle: Mapped[str] = mapped_column(String(64), primary_key=True)
    licence_id: Mapped[str] = mapped_column(ForeignKey("licences.id"), index=True)
    created_at: Mapped[datetime] = _now()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    redeemed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    redeemed_by: Mapped[str | None] = mapped_column(String(128))
    redeemed_by_name: Mapped[str | None] = mapped_column(String(200))


class DisposalRecord(Base):
    """One load disposed under a construction-waste disposal certificate (the quota used)."""

    __tablename__ = "disposal_records"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    licence_id: Mapped[str] = mapped_column(ForeignKey("licences.id"), index=True)
    vehicle_plate: Mapped[str] = mapped_column(String(16))
    volume_m3: Mapped[Any] = mapped_column(Numeric(12, 2))
    at: Mapped[datetime] = _now()


class ExpiryReminder(Base):
    """Sent once per licence version and threshold: the primary key is what makes it exactly once."""

    __tablename__ = "expiry_reminders"

    licence_id: Mapped[str] = mapped_column(ForeignKey("licences.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    days_before: Mapped[int] = mapped_column(Integer, primary_key=True)
    valid_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime] = _now()


class Grant(Base):
    """授权调证: the holder lets another party fetch a licence for a purpose and a period."""

    __tablename__ = "grants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    licence_id: Mapped[str] = mapped_column(ForeignKey("licences.id"), index=True)
    grantor: Mapped[str] = mapped_column(String(128))
    grantee_subject: Mapped[str | None] = mapped_column(String(128), index=True)
    grantee_org_code: Mapped[str | None] = mapped_column(String(32))
    grantee_province: Mapped[str | None] = mapped_column(String(8))
    purpose: Mapped[str] = mapped_column(String(500))
    scope: Mapped[list[str]] = mapped_column(JSONB)
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delegable: Mapped[bool] = mapped_column(Boolean, server_default="false")
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("grants.id"))
    created_at: Mapped[datetime] = _now()
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_by: Mapped[str | None] = mapped_column(String(128))


class LicenceFetch(Base):
    """Every fetch of a licence by someone other than its holder, with the reason (useCause)."""

    __tablename__ = "licence_fetches"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    licence_id: Mapped[str] = mapped_column(ForeignKey("licences.id"), index=True)
    fetched_by: Mapped[str] = mapped_column(String(128))
    fetched_by_name: Mapped[str | None] = mapped_column(String(200))
    grant_id: Mapped[str | None] = mapped_column(String(32))
    use_cause: Mapped[str] = mapped_column(String(500))
    at: Mapped[datetime] = _now()


class TrustedIssuer(Base):
    """长三角 trust list: a partner province's issuer, its keys and the document types recognised."""

    __tablename__ = "trusted_issuers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    province: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(200))
    issuer: Mapped[str] = mapped_column(String(300), unique=True)
    jwks: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # SM2 public keys: [{"kid", "public_key" (04‖x‖y hex or SPKI PEM), "signer_id"}] (licences.service.sm2docs).
    sm2_keys: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    document_types: Mapped[list[str]] = mapped_column(JSONB)
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = _now()
    # A partner that registered itself (licences.service.partners): its keys are fetched from ``jwks_uri`` (and
    # ``sm2_keys_uri``) into ``jwks``/``sm2_keys`` by the platform; ``keys_*`` say when and how that went.
    jwks_uri: Mapped[str | None] = mapped_column(String(500))
    sm2_keys_uri: Mapped[str | None] = mapped_column(String(500))
    status_list_base: Mapped[str | None] = mapped_column(String(500))
    registration_id: Mapped[str | None] = mapped_column(String(32))
    keys_fetched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # the last good fetch
    keys_checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # the last attempt
    keys_refresh_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    keys_fetch_error: Mapped[str | None] = mapped_column(String(300))


class PartnerRegistration(Base):
    """A partner issuer registered by the partner (or ops) with its ``jwks_uri``: pending until an ops user other
    than the registrant approves it (四眼原则), which adds it to the trust list; or rejected with a reason."""

    __tablename__ = "partner_registrations"
    __table_args__ = (Index("ux_partner_registrations_pending", "issuer", unique=True,
                            postgresql_where=text("state = 'pending'")),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))  # pending | approved | rejected
    province: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(200))
    issuer: Mapped[str] = mapped_column(String(300))
    jwks_uri: Mapped[str] = mapped_column(String(500))
    sm2_keys_uri: Mapped[str | None] = mapped_column(String(500))
    status_list_base: Mapped[str | None] = mapped_column(String(500))
    sm2_keys: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    document_types: Mapped[list[str]] = mapped_column(JSONB)
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    registered_by: Mapped[str] = mapped_column(String(128))
    registered_at: Mapped[datetime] = _now()
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    trusted_issuer_id: Mapped[str | None] = mapped_column(String(32))


class TrustListVersion(Base):
    """One version of the trust list: a new one each time its content (issuers, their keys) changes."""

    __tablename__ = "trust_list_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    digest: Mapped[str] = mapped_column(String(64))  # SHA-256 of the RFC 8785 form of the issuers
    reason: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = _now()


class Shipment(Base):
    """A shipment under a year-long quarantine requirement document (调运检疫要求书)."""

    __tablename__ = "shipments"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    licence_id: Mapped[str] = mapped_column(ForeignKey("licences.id"), index=True)
    plant_name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[Any] = mapped_column(Numeric(14, 2))
    destination: Mapped[str] = mapped_column(String(200))
    shipped_on: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_by: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = _now()


class Recognition(Base):
    """A partner's document we verified against the trust list and recognised (or refused)."""

    __tablename__ = "recognitions"
    # The re-check's rows: recognised documents that name a status list, by the end of their validity.
    __table_args__ = (Index("ix_recognitions_recheck", "valid_until",
                            postgresql_where="result = 'recognised' AND claims -> 'status' IS NOT NULL"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    trusted_issuer_id: Mapped[str | None] = mapped_column(String(32))
    issuer: Mapped[str] = mapped_column(String(300))
    document_identifier: Mapped[str | None] = mapped_column(String(200))
    document_type: Mapped[str | None] = mapped_column(String(64))
    result: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    claims: Mapped[dict[str, Any]] = mapped_column(JSONB)
    recognised_by: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = _now()
    # Until when the recognised document is valid (its ``exp``/``valid_until``), and the status its partner's
    # status list gave it at the last re-check (active | suspended | revoked; service.recheck): what was last
    # announced, so a change is announced once.
    valid_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    partner_status: Mapped[str] = mapped_column(String(16), server_default="active")
    status_checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PartnerSubscription(Base):
    """A partner province's system (its client) follows the changes of one of our documents it relies on
    (长三角): they appear in its feed (``GET /v1/partner/feed``) from the moment it subscribed."""

    __tablename__ = "partner_subscriptions"
    __table_args__ = (UniqueConstraint("partner_subject", "licence_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    partner_subject: Mapped[str] = mapped_column(String(128))
    province: Mapped[str] = mapped_column(String(8))
    licence_id: Mapped[str] = mapped_column(ForeignKey("licences.id"), index=True)
    # The feed's position when it subscribed: only later changes are its.
    from_seq: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = _now()


class PartnerFeedEntry(Base):
    """A change of a document some partner follows (revoked, suspended, reinstated, renewed, changed,
    reissued, expired), in the order committed: writers take one advisory lock, so ``seq`` grows in
    commit order and a reader paging by it never skips one committed later."""

    __tablename__ = "partner_feed"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    licence_id: Mapped[str] = mapped_column(ForeignKey("licences.id"), index=True)
    change: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    valid_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    at: Mapped[datetime] = _now()


# ---- 一人（企）一码 ------------------------------------------------------------------------------


class HolderApplication(Base):
    """Read model of every application's submission and status (svc-matters' events, never its tables): what a
    scanned 一人（企）一码 shows as the holder's open applications. Only the identifiers and the status, no form."""

    __tablename__ = "holder_applications"
    __table_args__ = (
        Index("ix_holder_applications_subject", "applicant_subject"),
        Index("ix_holder_applications_org", "applicant_org_code", postgresql_where="applicant_org_code IS NOT NULL"),
    )

    application_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    matter_code: Mapped[str] = mapped_column(String(32))
    applicant_subject: Mapped[str] = mapped_column(String(128))
    applicant_org_code: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # When the status was reached: a status change older than this one (redelivered, late) changes nothing.
    status_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class HolderCode(Base):
    """A 一人（企）一码 code the holder generated: what they consented to show, until when. The QR carries only
    the ``cti`` (and the consent) under the issuer's signature; who the holder is stays here."""

    __tablename__ = "holder_codes"
    __table_args__ = (Index("ix_holder_codes_holder", "holder_subject", "created_at"),)

    cti: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder_subject: Mapped[str] = mapped_column(String(128))
    holder_kind: Mapped[str] = mapped_column(String(32))
    holder_name: Mapped[str | None] = mapped_column(ProtectedText("holder_codes.holder_name"))
    holder_org_code: Mapped[str | None] = mapped_column(String(32))
    consent: Mapped[list[str]] = mapped_column(JSONB)  # "licences" and/or "applications"
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class HolderCodeScan(Base):
    """Every scan of a 一人（企）一码 code, shown or refused: who scanned whose code, when, with what outcome."""

    __tablename__ = "holder_code_scans"
    __table_args__ = (Index("ix_holder_code_scans_holder", "holder_subject", "at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    cti: Mapped[str | None] = mapped_column(String(32))
    holder_subject: Mapped[str | None] = mapped_column(String(128))
    scanned_by: Mapped[str] = mapped_column(String(128))
    scanned_by_name: Mapped[str | None] = mapped_column(String(200))
    result: Mapped[str] = mapped_column(String(32))  # shown | expired | superseded | invalid
    shown: Mapped[list[str]] = mapped_column(JSONB)  # the sections shown (the consent's)
    at: Mapped[datetime] = _now()


# ---- 应归尽归: earlier licences imported ---------------------------------------------------------


class LicenceImport(Base):
    """One bulk import of licences issued before the platform (应归尽归) and its counts; its lines below."""

    __tablename__ = "licence_imports"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = _now()
    format: Mapped[str] = mapped_column(String(8))  # csv | json
    sha256: Mapped[str] = mapped_column(String(64))
    total: Mapped[int] = mapped_column(Integer)
    issued: Mapped[int] = mapped_column(Integer, server_default="0")
    already_imported: Mapped[int] = mapped_column(Integer, server_default="0")
    invalid: Mapped[int] = mapped_column(Integer, server_default="0")
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LicenceImportLine(Base):
    """One line's outcome: ``pending`` (valid, to be issued by the import job), ``issued`` (the licence),
    ``already_imported`` (by an earlier import) or ``invalid`` (its errors, Chinese and English, naming fields,
    never their values)."""

    __tablename__ = "licence_import_lines"
    __table_args__ = (
        # What makes a rerun idempotent: the paper number of a licence an import issued.
        Index("ix_licence_import_lines_issued", "licence_number", unique=True, postgresql_where="result = 'issued'"),
        # What the import job reads: empty once every import is done.
        Index("ix_licence_import_lines_pending", "import_id", "line", postgresql_where="result = 'pending'"),
    )

    import_id: Mapped[str] = mapped_column(ForeignKey("licence_imports.id"), primary_key=True)
    line: Mapped[int] = mapped_column(Integer, primary_key=True)
    licence_number: Mapped[str | None] = mapped_column(String(64))
    result: Mapped[str] = mapped_column(String(20))
    licence_id: Mapped[str | None] = mapped_column(String(32))
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    # A pending line's fields (JSON, the holder's name and code among them): encrypted, and emptied once issued.
    payload: Mapped[str | None] = mapped_column(ProtectedText("licence_import_lines.payload"))
