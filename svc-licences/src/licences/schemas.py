"""Request and response bodies of svc-licences."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kit.identifiers import is_valid_resident_id, is_valid_uscc

Text500 = Field(min_length=1, max_length=500)
LicenceStatus = Literal["active", "suspended", "revoked", "expired"]
HolderCodeType = Literal["uscc", "resident_id"]
PresentationAlgorithm = Literal["ES256", "SM2"]


class LicenceView(BaseModel):
    id: str
    identifier: str = Field(description="证照标识 1.2.156.3005.2.<type>.<issuer>.<serial>.<version>.<check>")
    licence_number: str
    licence_type: str
    licence_type_code: str
    version: int
    status: LicenceStatus
    holder_name: str
    holder_code: str = Field(description="Masked unless the caller is the holder")
    holder_code_type: HolderCodeType
    issuer_name: str
    issuer_code: str
    region: str
    issued_at: datetime
    valid_from: datetime
    valid_until: datetime
    data: dict[str, Any] = Field(description="Matter-specific data, e.g. vehicles, disposal site, route, quota")
    application_id: str | None = None
    matter_code: str | None = None
    status_list: dict[str, int]
    credential: str | None = Field(default=None, description="The SD-JWT VC (holder only)")
    sm2_document: dict[str, Any] | None = Field(
        default=None, description="The same licence signed with SM2-with-SM3 (holder only; none for a licence issued "
                                  "before SM2 signatures until its next version): `typ` `lvrong-licence+sm2`, `alg` `SM2`, "
                                  "`kid` (in `/.well-known/sm2-keys.json`), `signer_id`, `iss`, `iat`, `licence`, and "
                                  "`signature`, the base64 DER SM2 signature of the RFC 8785 canonical form of the "
                                  "document without `signature`")


class LicenceVersionView(BaseModel):
    version: int
    kind: str
    identifier: str
    valid_from: datetime
    valid_until: datetime
    data: dict[str, Any]
    reason: str | None
    actor: str
    created_at: datetime


class StatusChangeView(BaseModel):
    from_status: str | None
    to_status: str
    reason: str | None
    actor: str
    at: datetime


class LicenceHistory(BaseModel):
    versions: list[LicenceVersionView]
    statuses: list[StatusChangeView]
    reminders: list[dict[str, Any]]


class StatusAction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500, description="Why (required)")


class VersionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["change", "renewal", "reissue"]
    reason: str = Field(min_length=1, max_length=500)
    data_changes: dict[str, Any] | None = None
    valid_until: datetime | None = None


class VerificationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    presentation: str | None = Field(default=None, max_length=4000, examples=["LR1:6BF..."])
    credential: str | None = Field(default=None, max_length=20_000)
    sm2_document: dict[str, Any] | None = Field(default=None, description="A licence's SM2 document, as the licence "
                                                                          "view gives it")


class VerificationResult(BaseModel):
    result: Literal["valid", "invalid", "revoked", "suspended", "expired", "not_yet_valid"]
    reason: str | None = Field(description="Why it is not valid: malformed, bad_signature, unknown_key, unknown_issuer, "
                                           "presentation_expired, replayed, unknown_licence, superseded, revoked, ...")
    reason_zh: str
    licence: dict[str, Any] | None


class QrCode(BaseModel):
    qr_svg: str = Field(description="The QR code (error correction M) as SVG")
    qr_png: str = Field(description="The same as a PNG data URI")
    qr_version: int


class PresentationView(QrCode):
    """亮证: a short-lived signed presentation (CWT in base45) for the holder's app to show."""

    token: str
    expires_at: str
    expires_in: int = Field(description="Seconds the code is valid from now: a holder's app counts down from this "
                                        "rather than from its own clock")
    licence_id: str
    algorithm: PresentationAlgorithm = Field(default="ES256", description="`ES256` (`LR1:`) or `SM2` (`LS1:`, SM2-with-SM3)")


class DataHandleView(QrCode):
    """亮数: a one-time handle (and its URL) to the live data behind a licence."""

    handle: str
    url: str = Field(description="What the QR carries: the verifier page `/app/verify#data=<handle>`, which redeems "
                                 "the handle with `POST /v1/verifications/data/{handle}` (a verifier's token)")
    expires_at: str


class LiveData(BaseModel):
    """The live data behind a construction-waste disposal certificate: quota, vehicles, site."""

    licence: dict[str, Any]
    disposal_site: Any
    transport_route: Any
    vehicles_permitted: Any
    vehicles_in_service: list[str]
    quota_m3: str | None
    quota_used_m3: str


class DisposalCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    vehicle_plate: str = Field(min_length=7, max_length=8, pattern=r"^[\u4e00-\u9fa5][A-Z][A-Z0-9]{5,6}$",
                               examples=["沪A12345"])
    volume_m3: Decimal = Field(gt=0, le=1000, max_digits=8, decimal_places=2)


class Grantee(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: str | None = Field(default=None, max_length=128, description="A person or system account")
    org_code: str | None = Field(default=None, max_length=18, description="A company or department (credit code)")
    province: Literal["JS", "ZJ", "AH"] | None = Field(default=None, description="A partner province")

    @model_validator(mode="after")
    def _exactly_one(self) -> Grantee:
        if sum(v is not None for v in (self.subject, self.org_code, self.province)) != 1:
            raise ValueError("give exactly one of subject, org_code, province")
        if self.org_code is not None and not is_valid_uscc(self.org_code):
            raise ValueError("org_code is not a valid unified social credit code")
        return self


class GrantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    licence_id: str = Field(min_length=1, max_length=32)
    grantee: Grantee
    purpose: str = Text500
    scope: list[Literal["fetch", "pdf"]] = Field(default=["fetch"], min_length=1,
                                                 description="`fetch`: the licence's fields; `pdf`: its printable copy")
    valid_from: datetime | None = None
    valid_until: datetime
    delegable: bool = False
    parent_grant_id: str | None = Field(default=None, max_length=32, description="Delegate from this grant (one level)")

    @model_validator(mode="after")
    def _period(self) -> GrantCreate:
        if self.valid_until.tzinfo is None or (self.valid_from and self.valid_from.tzinfo is None):
            raise ValueError("times need a UTC offset")
        if self.valid_from and self.valid_from >= self.valid_until:
            raise ValueError("valid_until must be after valid_from")
        if self.valid_until <= datetime.now(self.valid_until.tzinfo):
            raise ValueError("valid_until must be in the future")
        return self


class GrantView(BaseModel):
    id: str
    licence_id: str
    grantor: str
    grantee: dict[str, str | None]
    purpose: str
    scope: list[str]
    valid_from: datetime
    valid_until: datetime
    delegable: bool
    parent_id: str | None
    created_at: datetime
    revoked_at: datetime | None


class FetchView(BaseModel):
    fetched_by: str
    fetched_by_name: str | None
    grant_id: str | None
    use_cause: str
    at: datetime


class PartnerSM2Key(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kid: str = Field(min_length=1, max_length=64)
    public_key: str = Field(min_length=130, max_length=1000,
                            description="The uncompressed point 04‖x‖y in hex, or SubjectPublicKeyInfo PEM")
    signer_id: str = Field(default="1234567812345678", min_length=1, max_length=128)


class TrustedIssuerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    province: Literal["JS", "ZJ", "AH"]
    name: str = Field(min_length=1, max_length=200)
    issuer: str = Field(min_length=8, max_length=300, pattern=r"^https?://\S+$")
    jwks: dict[str, Any] = Field(description="The partner's ES256 keys (may be `{\"keys\": []}` when it signs with "
                                             "SM2 only)")
    sm2_keys: list[PartnerSM2Key] = Field(default=[], max_length=20,
                                          description="The partner's SM2 public keys (SM2 documents)")
    document_types: list[str] = Field(min_length=1, max_length=50)
    valid_from: datetime
    valid_until: datetime

    @model_validator(mode="after")
    def _period(self) -> TrustedIssuerCreate:
        if self.valid_from >= self.valid_until:
            raise ValueError("valid_until must be after valid_from")
        return self


class PartnerRegistrationCreate(BaseModel):
    """A partner province registers its issuer: the platform fetches its keys from ``jwks_uri`` (and
    ``sm2_keys_uri``) itself once ops approve the registration."""
    model_config = ConfigDict(extra="forbid")
    province: Literal["JS", "ZJ", "AH"]
    name: str = Field(min_length=1, max_length=200)
    issuer: str = Field(min_length=8, max_length=300, pattern=r"^https?://\S+$",
                        description="The `iss` of the partner's documents")
    jwks_uri: str = Field(min_length=8, max_length=500, description="Where the partner publishes its JWK Set (https)")
    sm2_keys_uri: str | None = Field(default=None, min_length=8, max_length=500,
                                     description="Where the partner publishes its SM2 keys (`{\"keys\": [{kid, "
                                                 "public_key, signer_id}]}`), if it signs with SM2")
    status_list_base: str | None = Field(default=None, min_length=8, max_length=500,
                                         description="The prefix of the partner's status list URIs; without it, "
                                                     "only the issuer's own origin")
    sm2_keys: list[PartnerSM2Key] = Field(default=[], max_length=20,
                                          description="SM2 public keys given here instead of an `sm2_keys_uri`")
    document_types: list[str] = Field(min_length=1, max_length=50)
    valid_from: datetime
    valid_until: datetime

    @model_validator(mode="after")
    def _period(self) -> PartnerRegistrationCreate:
        if self.valid_from >= self.valid_until:
            raise ValueError("valid_until must be after valid_from")
        if self.sm2_keys and self.sm2_keys_uri:
            raise ValueError("give sm2_keys or sm2_keys_uri, not both")
        return self


class PartnerRegistrationView(BaseModel):
    id: str
    state: Literal["pending", "approved", "rejected"]
    province: str
    name: str
    issuer: str
    jwks_uri: str
    sm2_keys_uri: str | None
    status_list_base: str | None
    document_types: list[str]
    valid_from: datetime
    valid_until: datetime
    registered_by: str
    registered_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    trusted_issuer_id: str | None


class RegistrationDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=1000, description="Required to reject")


class QuarantineDocumentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    holder_subject: str = Field(min_length=1, max_length=128)
    holder_kind: Literal["person", "company"] = "company"
    holder_name: str = Field(min_length=1, max_length=200)
    holder_code: str = Field(min_length=18, max_length=18)
    holder_code_type: Literal["uscc", "resident_id"] = "uscc"
    year: int = Field(ge=2020, le=2100)
    plant_species: list[str] = Field(min_length=1, max_length=50)
    origin: str = Field(min_length=1, max_length=200)
    destination_provinces: list[Literal["JS", "ZJ", "AH", "SH"]] = Field(min_length=1)
    pests_checked: list[str] = Field(default=[], max_length=50)

    @model_validator(mode="after")
    def _code(self) -> QuarantineDocumentCreate:
        valid = is_valid_uscc(self.holder_code) if self.holder_code_type == "uscc" else is_valid_resident_id(self.holder_code)
        if not valid:
            raise ValueError("holder_code is not a valid code of its type")
        return self


class ShipmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plant_name: str = Field(min_length=1, max_length=200)
    quantity: Decimal = Field(gt=0, max_digits=12, decimal_places=2)
    destination_province: Literal["JS", "ZJ", "AH", "SH"]
    shipped_on: date


class ShipmentView(BaseModel):
    id: int
    licence_id: str
    plant_name: str
    quantity: str
    destination_province: str
    shipped_on: str


class PresentedDocumentView(BaseModel):
    """A partner document an applicant presented, recognised: name its ``id`` for the material."""

    id: str = Field(description="The recognition's id: `{\"licence_id\": id}` for the material it stands in for")
    result: Literal["recognised"]
    reason: None = None
    province: str
    document_identifier: str | None
    document_type: str | None
    claims: dict[str, Any] | None = Field(description="The document's claims without the holder's personal fields")


class RecognitionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    document: Annotated[str, Field(min_length=10, max_length=20_000)] | dict[str, Any] = Field(description="The partner's SD-JWT VC (text, ES256) or SM2 document (object: "
                                                       "the form of our licences' `sm2_document`)")


# ---- 长三角 partners: look-up of our documents, subscriptions, the feed of changes ------------------

class PartnerLookup(BaseModel):
    """One of our documents as a partner names it: its number (or 证照标识) and its holder's code."""

    model_config = ConfigDict(extra="forbid")
    number: str = Field(min_length=1, max_length=128, description="The licence number printed on it, or its 证照标识")
    holder_code: str = Field(min_length=18, max_length=18, pattern=r"^[0-9A-Za-z*]{18}$",
                             description="The holder's 统一社会信用代码, or resident ID number in full or masked as "
                                         "we mask it (`310***********1234`)")


class PartnerDocumentView(BaseModel):
    """What a partner gets for one of our documents: the licence with the holder masked, its SD-JWT VC
    without the disclosures of personal fields (verifiable with our published keys, its `status` pointing
    at our status list), and its status now."""

    licence: LicenceView
    credential: str = Field(description="SD-JWT VC, issuer-signed part only (`<jwt>~`)")
    status: str
    status_list_uri: str


class PartnerSubscriptionView(BaseModel):
    id: str
    licence_id: str
    licence_number: str
    licence_type: str
    created_at: datetime


class PartnerFeedItem(BaseModel):
    cursor: str = Field(description="This change's position: pass as `after` to read what follows it")
    licence_id: str
    licence_number: str
    change: Literal["revoked", "suspended", "reinstated", "expired", "renewed", "changed", "reissued"]
    status: str
    version: int
    valid_until: datetime
    at: datetime


class PartnerFeedPage(BaseModel):
    items: list[PartnerFeedItem]
    next_cursor: str = Field(description="Pass as `after` next time (the same as `after` when nothing is new)")


# ---- 一人（企）一码 ------------------------------------------------------------------------------

ConsentScope = Literal["licences", "applications"]


class HolderCodeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    consent: list[ConsentScope] = Field(
        min_length=1, max_length=2,
        description="What whoever scans the code may see: the holder's valid `licences` and/or open `applications`")


class HolderCodeView(QrCode):
    """一人（企）一码: the holder's code (``LC1:`` + base45 of a CWT signed like 亮证) and its QR; it rotates."""

    code: str
    consent: list[ConsentScope]
    expires_at: datetime
    expires_in: int = Field(description="Seconds the code is valid from now (a new code supersedes it at once)")


class HolderCodeScan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=2000, description="The scanned QR's text (`LC1:…`)")


class HolderRef(BaseModel):
    kind: str
    name: str | None = Field(description="Masked for a person")
    org_code: str | None = Field(default=None, description="A company's credit code, masked")


class HolderApplicationView(BaseModel):
    application_id: str
    matter_code: str
    status: str
    submitted_at: datetime
    status_at: datetime


class HolderCodeScanView(BaseModel):
    """What a scan shows: only the sections the holder consented to (the others are null)."""

    holder: HolderRef
    consent: list[ConsentScope]
    code_expires_at: datetime
    licences: list[LicenceView] | None = Field(description="Valid licences, holder fields masked (consent `licences`)")
    applications: list[HolderApplicationView] | None = Field(
        description="Open applications: submitted and not yet concluded (consent `applications`)")


class HolderCodeScanRecord(BaseModel):
    scanned_by: str
    scanned_by_name: str | None
    result: str
    shown: list[str]
    at: datetime


class HolderCodeScanList(BaseModel):
    items: list[HolderCodeScanRecord]


# ---- 应归尽归: bulk import of earlier licences -------------------------------------------------


class ImportLineView(BaseModel):
    line: int = Field(description="The line's number in the file (CSV: the header is line 1; JSON: from 1)")
    licence_number: str | None
    result: Literal["pending", "issued", "already_imported", "invalid"]
    licence_id: str | None = None
    errors: list[dict[str, Any]] = Field(default_factory=list,
                                         description="field, code, message (Chinese) and message_en")


class ImportSummary(BaseModel):
    id: str
    created_by: str
    created_at: datetime
    format: Literal["csv", "json"]
    total: int
    issued: int
    already_imported: int
    invalid: int
    pending: int = Field(description="Valid lines the import job has not issued yet")
    finished_at: datetime | None = Field(description="When the last line was done; None while lines are pending")


class ImportReport(ImportSummary):
    """An import of earlier licences (应归尽归): its counts and every line's outcome."""

    lines: list[ImportLineView]
