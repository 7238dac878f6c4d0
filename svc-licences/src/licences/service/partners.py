"""长三角 partners on their own: the keys of a partner issuer registered with a ``jwks_uri`` are fetched and
refreshed by the platform (``Partners``, ``refresh_keys``, ``refresh_due``), and a partner's document is verified
against the trust list and the partner's own status list at the time of use (``check_partner_document_current``:
the one function other code calls to know that a partner document still counts now).

Keys: a fetch replaces the issuer's ``jwks`` (and SM2 keys when it has an ``sm2_keys_uri``), so a key the partner
removed is no longer trusted after the next refresh and a new one is trusted from it. The next refresh is due when
the response's ``Cache-Control: max-age`` says, kept within ``partner_refresh_min_seconds`` and
``partner_refresh_max_seconds`` (``partner_refresh_seconds`` without one); a document signed with an unknown kid
refreshes at once, at most every ``partner_unknown_kid_refresh_seconds`` per issuer. A failed fetch keeps the last
good keys (retried after ``partner_retry_seconds``) until ``partner_keys_max_stale_seconds`` after the last good
fetch; after that the issuer's documents are refused (``issuer_keys_stale``). A change of keys is a new version of
the trust list, announced as ``lvrong.licences.trustlist.changed`` (``trust_list_changed``).

Status: a partner SD-JWT VC with ``status.status_list {idx, uri}`` (IETF Token Status List) is checked against the
status list token fetched from ``uri`` — only from under the issuer's registered ``status_list_base`` (or the
issuer's own origin without one) — verified with the partner's keys, its ``lst`` inflated (zlib) and the entry's
``bits`` read: 0 valid, 1 revoked (INVALID), 2 suspended. Tokens are cached per uri for at most
``partner_status_cache_seconds`` (less when their ``ttl`` says); a list that cannot be fetched is served from the
cache while the token's own ``exp`` holds, and refused (``status_unavailable``) otherwise: fail closed.
"""
from __future__ import annotations

import hashlib
import re
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import rfc8785
import structlog
from jwcrypto.jwk import JWK
from prometheus_client import Counter
from sd_jwt.verifier import SDJWTVerifier
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from kit.contracts.licences import TrustListChanged
from kit.db import Database
from kit.errors import Conflict, FieldError, ValidationFailed
from kit.events import add_event
from kit.gm import sm2
from kit.i18n import Text
from kit.scheduling import lock_id
from licences import messages
from licences.models import TrustedIssuer, TrustListVersion
from licences.service import sm2docs
from licences.service.credentials import (
    CREDENTIAL_TYP,
    PERSONAL_FIELDS,
    STATUS_LIST_TYP,
    CredentialInvalid,
    b64url_decode,
)
from licences.service.keys import ALG
from licences.settings import Settings

log = structlog.get_logger("licences.partners")

KEY_FETCHES = Counter("lvrong_partner_key_fetches_total", "Fetches of partners' keys from their jwks_uri",
                      ["province", "outcome"])
STATUS_FETCHES = Counter("lvrong_partner_status_list_fetches_total", "Fetches of partners' status lists",
                         ["province", "outcome"])
PARTNER_REFUSALS = Counter("lvrong_partner_documents_refused_total", "Partner documents refused", ["reason"])

# Why a partner's document is refused: the reason code (kept with the recognition) and its text.
REFUSALS: dict[str, Text] = {
    "malformed": messages.REFUSED_MALFORMED,
    "unknown_issuer": messages.REFUSED_UNKNOWN_ISSUER,
    "issuer_not_trusted_now": messages.REFUSED_ISSUER_NOT_TRUSTED_NOW,
    "issuer_keys_stale": messages.REFUSED_ISSUER_KEYS_STALE,
    "wrong_algorithm_or_type": messages.REFUSED_WRONG_ALGORITHM,
    "unknown_key": messages.REFUSED_UNKNOWN_KEY,
    "bad_signature": messages.REFUSED_BAD_SIGNATURE,
    "document_type_not_recognised": messages.REFUSED_TYPE,
    "expired": messages.REFUSED_EXPIRED,
    "not_yet_valid": messages.REFUSED_NOT_YET_VALID,
    "revoked": messages.REFUSED_REVOKED,
    "suspended": messages.REFUSED_SUSPENDED,
    "status_unavailable": messages.REFUSED_STATUS_UNAVAILABLE,
    "status_invalid": messages.REFUSED_STATUS_INVALID,
    "status_list_not_allowed": messages.REFUSED_STATUS_NOT_ALLOWED,
}
# Token Status List values (2 bits and more; 1 bit lists know only the first two).
STATUS_VALUES = {0: "valid", 1: "revoked", 2: "suspended"}
_STATUS_CACHE_ENTRIES = 10_000  # status lists kept per process
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE)


class Refused(Exception):
    """A partner's document is not accepted, for ``reason`` (a key of ``REFUSALS``)."""

    def __init__(self, reason: str, entry: TrustedIssuer | None = None, issuer: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.entry = entry
        self.issuer = entry.issuer if entry is not None else issuer


class PartnerDocumentRefused(Conflict):
    """409: the partner's document does not count now; ``reason`` names why (``REFUSALS``), in both languages."""

    def __init__(self, reason: str) -> None:
        super().__init__(messages.PARTNER_DOCUMENT_REFUSED.format(reason=REFUSALS.get(reason, messages.REFUSED_OTHER)),
                         reason=reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class PartnerDocument:
    """A partner's document that counts now: who issued it and what it says (its claims disclosed by the holder,
    the personal ones included — never log them)."""

    issuer: str
    province: str
    trusted_issuer_id: str
    document_identifier: str | None
    document_type: str | None
    valid_until: datetime | None
    claims: dict[str, Any]

    def public_claims(self) -> dict[str, Any]:
        return {k: v for k, v in self.claims.items() if k not in PERSONAL_FIELDS}


class FetchFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class FetchedKeys:
    jwks: dict[str, Any]
    sm2_keys: list[dict[str, Any]] | None  # None: the issuer has no sm2_keys_uri
    max_age: float


@dataclass(slots=True)
class _StatusList:
    bits: int
    lst: bytes
    cache_until: float
    exp: float | None


def uri_problem(uri: str, *, production: bool) -> bool:
    """Whether ``uri`` is not one we fetch from: https (http only outside production), a host, no user
    information, no fragment."""
    try:
        url = httpx.URL(uri)
    except (httpx.InvalidURL, TypeError, ValueError):  # ValueError: UnicodeError of a bad IDNA host among them
        return True
    schemes = ("https",) if production else ("https", "http")
    return url.scheme not in schemes or not url.host or bool(url.userinfo) or bool(url.fragment)


def check_uri(field_name: str, uri: str | None, *, production: bool) -> None:
    if uri is not None and uri_problem(uri, production=production):
        raise ValidationFailed(messages.PARTNER_URI_INVALID, errors=[
            FieldError.of(field_name, messages.PARTNER_URI_FIELD, "invalid_uri")])


def check_keys(jwks: dict[str, Any], sm2_keys: list[dict[str, Any]]) -> None:
    """The partner's ES256 keys (JWKS) and SM2 keys: public, with a kid, at least one of either kind."""
    keys = jwks.get("keys")
    problems: list[tuple[str, Text]] = []
    for i, key in enumerate(sm2_keys):
        try:
            sm2.load_public_key(key["public_key"])
        except (ValueError, TypeError, KeyError):  # not hex, not PEM, not a point on the curve, not SM2
            problems.append(("sm2_keys", messages.SM2_KEY_INVALID.format(index=i)))
    if not isinstance(keys, list) or (not keys and not sm2_keys):
        problems.append(("jwks", messages.JWKS_EMPTY))
    else:
        for i, key in enumerate(keys):
            try:
                parsed = JWK(**key)
            except Exception:  # jwcrypto raises several types for a bad key
                problems.append(("jwks", messages.JWKS_KEY_INVALID.format(index=i)))
                continue
            if parsed.has_private or not key.get("kid"):
                problems.append(("jwks", messages.JWKS_KEY_NOT_PUBLIC.format(index=i)))
    if problems:
        raise ValidationFailed(messages.PARTNER_KEYS_INVALID,
                               errors=[FieldError.of(field, p, f"invalid_{field}") for field, p in problems])


def max_age_of(cache_control: str | None, settings: Settings) -> float:
    """How long fetched keys are good for: the response's ``max-age`` within the bounds, else the default."""
    match = _MAX_AGE.search(cache_control or "")
    if match is None:
        return settings.partner_refresh_seconds
    return min(max(float(match.group(1)), settings.partner_refresh_min_seconds), settings.partner_refresh_max_seconds)


@dataclass
class Partners:
    """What the service keeps about partners in memory: the HTTP client their keys and status lists are fetched
    with, and the status lists' short cache. One per process (``Issuer.partners``)."""

    settings: Settings
    _client: httpx.AsyncClient | None = field(default=None, init=False)
    _status_lists: dict[str, _StatusList] = field(default_factory=dict, init=False)

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.settings.partner_fetch_timeout_seconds,
                                             follow_redirects=False,
                                             headers={"User-Agent": "lvrong-licences/1 (partner keys)"})
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _get(self, uri: str, accept: str) -> httpx.Response:
        if uri_problem(uri, production=self.settings.production):
            raise FetchFailed("uri_not_allowed")
        try:
            response = await self.client().get(uri, headers={"Accept": accept})
        except httpx.HTTPError as e:
            raise FetchFailed(f"unreachable: {type(e).__name__}") from None
        if response.status_code != 200:
            raise FetchFailed(f"http_{response.status_code}")
        if len(response.content) > self.settings.partner_fetch_max_bytes:
            raise FetchFailed("too_large")
        return response

    async def fetch_keys(self, jwks_uri: str, sm2_keys_uri: str | None) -> FetchedKeys:
        """The partner's keys as published now, checked as ops-entered keys are; or ``FetchFailed``."""
        response = await self._get(jwks_uri, "application/jwk-set+json, application/json")
        max_age = max_age_of(response.headers.get("cache-control"), self.settings)
        try:
            jwks = response.json()
        except ValueError:
            raise FetchFailed("not_json") from None
        if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
            raise FetchFailed("not_a_jwk_set")
        jwks = {"keys": jwks["keys"]}
        sm2_keys: list[dict[str, Any]] | None = None
        if sm2_keys_uri:
            sm2_response = await self._get(sm2_keys_uri, "application/json")
            max_age = min(max_age, max_age_of(sm2_response.headers.get("cache-control"), self.settings))
            try:
                published = sm2_response.json()
                sm2_keys = [{"kid": str(k["kid"]), "public_key": str(k["public_key"]),
                             "signer_id": str(k.get("signer_id") or "")} for k in published["keys"]]
            except (ValueError, KeyError, TypeError):
                raise FetchFailed("sm2_keys_malformed") from None
        try:
            check_keys(jwks, sm2_keys or [])
        except ValidationFailed:
            raise FetchFailed("keys_invalid") from None
        return FetchedKeys(jwks=jwks, sm2_keys=sm2_keys, max_age=max_age)

    async def status_list(self, entry: TrustedIssuer, uri: str) -> _StatusList:
        """The partner's status list at ``uri``, verified with its keys; cached briefly. ``Refused`` otherwise."""
        now = time.time()
        cached = self._status_lists.get(uri)
        if cached is not None and cached.cache_until > now:
            return cached
        try:
            response = await self._get(uri, "application/statuslist+jwt")
        except FetchFailed as e:
            STATUS_FETCHES.labels(entry.province, "failed").inc()
            log.warning("partner_status_list_unavailable", province=entry.province, problem=e.reason)
            if cached is not None and cached.exp is not None and cached.exp > now:
                return cached
            raise Refused("status_unavailable", entry) from None
        fetched = self._verified_status_list(entry, uri, response.text.strip(), now)
        STATUS_FETCHES.labels(entry.province, "ok").inc()
        if len(self._status_lists) >= _STATUS_CACHE_ENTRIES:  # bounded: drop what can no longer be served
            self._status_lists = {u: c for u, c in self._status_lists.items()
                                  if c.cache_until > now or (c.exp or 0) > now}
            while len(self._status_lists) >= _STATUS_CACHE_ENTRIES:
                self._status_lists.pop(next(iter(self._status_lists)))
        self._status_lists[uri] = fetched
        return fetched

    def _verified_status_list(self, entry: TrustedIssuer, uri: str, token: str, now: float) -> _StatusList:
        try:
            header = jwt.get_unverified_header(token)
            if header.get("typ") != STATUS_LIST_TYP or header.get("alg") != ALG:
                raise Refused("status_invalid", entry)
            key = _jwk_of(entry, str(header.get("kid")))
            if key is None:
                raise Refused("status_invalid", entry)
            payload = jwt.decode(token, key, algorithms=[ALG], options={"require": ["sub", "iat"]})
            if payload["sub"] != uri or payload.get("iss", entry.issuer) != entry.issuer:
                raise Refused("status_invalid", entry)
            listed = payload["status_list"]
            bits, lst = int(listed["bits"]), zlib.decompress(b64url_decode(str(listed["lst"])))
        except Refused:
            raise
        except (jwt.PyJWTError, KeyError, TypeError, ValueError, zlib.error):
            raise Refused("status_invalid", entry) from None
        if bits not in (1, 2, 4, 8):
            raise Refused("status_invalid", entry)
        ttl = payload.get("ttl")
        keep = self.settings.partner_status_cache_seconds
        if isinstance(ttl, int | float) and ttl >= 0:
            keep = min(keep, float(ttl))
        exp = float(payload["exp"]) if "exp" in payload else None
        return _StatusList(bits=bits, lst=lst, cache_until=min(now + keep, exp or now + keep), exp=exp)


def _jwk_of(entry: TrustedIssuer, kid: str) -> Any:
    for key in entry.jwks.get("keys", []):
        if key.get("kid") == kid:
            return jwt.PyJWK(key).key
    return None


def status_value(listed: _StatusList, index: int) -> int:
    """Entry ``index`` of a Token Status List of ``bits`` bits per entry (least significant bits first)."""
    position = index * listed.bits
    byte = position // 8
    if index < 0 or byte >= len(listed.lst):
        raise IndexError(index)
    return (listed.lst[byte] >> (position % 8)) & ((1 << listed.bits) - 1)


# ---- keys ---------------------------------------------------------------------------------------------------


def _keys_stale(entry: TrustedIssuer, now: datetime, settings: Settings) -> bool:
    return bool(entry.jwks_uri) and (entry.keys_fetched_at is None or (now - entry.keys_fetched_at).total_seconds()
                                     > settings.partner_keys_max_stale_seconds)


async def refresh_keys(session: AsyncSession, partners: Partners, entry: TrustedIssuer, now: datetime) -> bool:
    """Fetch ``entry``'s keys (it has a ``jwks_uri``) and keep them; a failure keeps the last good ones. Whether
    the keys changed (a new trust list version is recorded, and announced, in ``session``)."""
    assert entry.jwks_uri, "only issuers registered with a jwks_uri are refreshed"
    settings = partners.settings
    entry.keys_checked_at = now
    try:
        fetched = await partners.fetch_keys(entry.jwks_uri, entry.sm2_keys_uri)
    except FetchFailed as e:
        entry.keys_fetch_error = e.reason[:300]
        entry.keys_refresh_at = now + timedelta(seconds=settings.partner_retry_seconds)
        KEY_FETCHES.labels(entry.province, "failed").inc()
        stale_for = (now - entry.keys_fetched_at).total_seconds() if entry.keys_fetched_at else None
        log.warning("partner_keys_fetch_failed", province=entry.province, issuer=entry.issuer, problem=e.reason,
                    last_good_seconds_ago=stale_for, stale=_keys_stale(entry, now, settings))
        return False
    changed = fetched.jwks != entry.jwks or (fetched.sm2_keys is not None and fetched.sm2_keys != entry.sm2_keys)
    entry.jwks = fetched.jwks
    if fetched.sm2_keys is not None:
        entry.sm2_keys = fetched.sm2_keys
    entry.keys_fetched_at, entry.keys_fetch_error = now, None
    entry.keys_refresh_at = now + timedelta(seconds=fetched.max_age)
    KEY_FETCHES.labels(entry.province, "changed" if changed else "unchanged").inc()
    if changed:
        entry.updated_at = now
        await session.flush()
        await trust_list_changed(session, "partner_keys_refreshed")
        log.info("partner_keys_changed", province=entry.province, issuer=entry.issuer,
                 kids=[k.get("kid") for k in fetched.jwks["keys"]])
    return changed


async def due_for_refresh(session: AsyncSession, now: datetime) -> list[str]:
    return list((await session.scalars(select(TrustedIssuer.id).where(
        TrustedIssuer.jwks_uri.is_not(None), TrustedIssuer.keys_refresh_at <= now).order_by(TrustedIssuer.id))).all())


async def refresh_due(database: Database, partners: Partners) -> int:
    """Refresh every partner whose keys are due, each in a transaction of its own (run once per interval across
    the replicas by the background job); how many changed."""
    now = datetime.now(UTC)
    async with database.transaction() as session:
        due = await due_for_refresh(session, now)
    changed = 0
    for issuer_id in due:
        async with database.transaction() as session:
            entry = await session.get(TrustedIssuer, issuer_id, with_for_update=True)
            if entry is None or entry.jwks_uri is None or entry.keys_refresh_at is None or entry.keys_refresh_at > now:
                continue  # removed, or refreshed meanwhile on an unknown kid
            changed += await refresh_keys(session, partners, entry, now)
    return changed


async def refresh_issuer_now(session: AsyncSession, partners: Partners, entry: TrustedIssuer) -> bool:
    return await refresh_keys(session, partners, entry, datetime.now(UTC))


async def _refresh_on_unknown_kid(session: AsyncSession, partners: Partners, entry: TrustedIssuer,
                                  kid: str, now: datetime) -> None:
    """A document names a kid we do not hold: the partner may have rotated. Refresh now unless this issuer was
    fetched within ``partner_unknown_kid_refresh_seconds`` (a flood of unknown kids fetches once a period)."""
    if not entry.jwks_uri or any(k.get("kid") == kid for k in entry.jwks.get("keys", [])):
        return
    limit = partners.settings.partner_unknown_kid_refresh_seconds
    if entry.keys_checked_at is not None and (now - entry.keys_checked_at).total_seconds() < limit:
        return
    await session.refresh(entry, with_for_update=True)  # one replica at a time; another may just have done it
    if entry.keys_checked_at is not None and (now - entry.keys_checked_at).total_seconds() < limit:
        return
    log.info("partner_unknown_kid_refresh", province=entry.province, kid=kid)
    await refresh_keys(session, partners, entry, now)


# ---- the trust list's versions ------------------------------------------------------------------------------


def issuer_view(row: TrustedIssuer) -> dict[str, Any]:
    return {"id": row.id, "province": row.province, "name": row.name, "issuer": row.issuer, "jwks": row.jwks,
            "sm2_keys": row.sm2_keys, "document_types": row.document_types, "valid_from": row.valid_from.isoformat(),
            "valid_until": row.valid_until.isoformat(), "jwks_uri": row.jwks_uri, "sm2_keys_uri": row.sm2_keys_uri,
            "status_list_base": row.status_list_base,
            "keys_fetched_at": row.keys_fetched_at.isoformat() if row.keys_fetched_at else None}


def _content(row: TrustedIssuer) -> dict[str, Any]:
    """What a version of the trust list is made of (not when keys were last fetched)."""
    view = issuer_view(row)
    view.pop("keys_fetched_at")
    return view


async def current_version(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.coalesce(func.max(TrustListVersion.version), 0))) or 0)


async def trust_list_changed(session: AsyncSession, reason: str) -> int | None:
    """Record a new version of the trust list when its content differs from the last version's, and announce it
    (``lvrong.licences.trustlist.changed``, in the same transaction through the outbox). The new version, or None
    when nothing changed."""
    await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id("licences.trust-list")})
    rows = (await session.scalars(select(TrustedIssuer).order_by(TrustedIssuer.issuer))).all()
    digest = hashlib.sha256(rfc8785.dumps([_content(r) for r in rows])).hexdigest()
    last = await session.scalar(select(TrustListVersion).order_by(TrustListVersion.version.desc()).limit(1))
    if last is not None and last.digest == digest:
        return None
    version = (last.version if last else 0) + 1
    now = datetime.now(UTC)
    session.add(TrustListVersion(version=version, digest=digest, reason=reason, created_at=now))
    await add_event(session, TrustListChanged(version=version, digest=digest, reason=reason,
                                              issuers=sorted(r.issuer for r in rows), changed_at=now),
                    subject=str(version))
    log.info("trust_list_changed", version=version, reason=reason)
    return version


# ---- partners' documents ------------------------------------------------------------------------------------


def unverified_issuer(document: str | dict[str, Any]) -> str:
    if isinstance(document, dict):
        try:
            return str(sm2docs.parse(document)["iss"])
        except CredentialInvalid:
            raise Refused("malformed") from None
    try:
        return str(jwt.decode(document.split("~", 1)[0], options={"verify_signature": False}).get("iss", ""))
    except jwt.PyJWTError:
        raise Refused("malformed") from None


def _status_uri_allowed(entry: TrustedIssuer, uri: str, production: bool) -> bool:
    if uri_problem(uri, production=production):
        return False
    if entry.status_list_base:
        return uri.startswith(entry.status_list_base)
    issuer = httpx.URL(entry.issuer)
    target = httpx.URL(uri)
    return (target.scheme, target.host, target.port) == (issuer.scheme, issuer.host, issuer.port)


async def _check_status(partners: Partners, entry: TrustedIssuer, claims: dict[str, Any], *, sm2_document: bool) -> None:
    """An SD-JWT VC's ``status.status_list {idx, uri}``; an SM2 document's ``status {idx, uri}`` only for a partner
    that registered a ``status_list_base`` (its lists are the same ES256 status list tokens, verified with its
    JWKS: an SM2-only partner entered by ops before self-service has none to verify them with)."""
    reference = claims.get("status")
    if reference is None or (sm2_document and not entry.status_list_base):
        return
    try:
        listed_at = reference if sm2_document else reference["status_list"]
        uri, index = str(listed_at["uri"]), int(listed_at["idx"])
    except (KeyError, TypeError, ValueError):
        raise Refused("status_invalid", entry) from None
    if not _status_uri_allowed(entry, uri, partners.settings.production):
        raise Refused("status_list_not_allowed", entry)
    listed = await partners.status_list(entry, uri)
    try:
        value = status_value(listed, index)
    except IndexError:
        raise Refused("status_invalid", entry) from None
    if value != 0:
        raise Refused(STATUS_VALUES.get(value, "revoked"), entry)


async def status_now(partners: Partners, entry: TrustedIssuer, claims: dict[str, Any]) -> str:
    """What the partner's status list says now of a document recognised with ``claims`` (its non-personal claims,
    as a ``Recognition`` keeps them): ``active``, ``suspended`` or ``revoked``. ``Refused`` when the list cannot
    be read or believed (``status_unavailable``, ``status_invalid``, ``status_list_not_allowed``)."""
    reference = claims.get("status")
    sm2_document = not (isinstance(reference, dict) and "status_list" in reference)
    try:
        await _check_status(partners, entry, claims, sm2_document=sm2_document)
    except Refused as e:
        if e.reason in ("revoked", "suspended"):
            return e.reason
        raise
    return "active"


async def verify_partner_document(session: AsyncSession, partners: Partners,
                                  document: str | dict[str, Any]) -> tuple[TrustedIssuer, dict[str, Any]]:
    """The trusted issuer and the verified claims of a partner's SD-JWT VC (or SM2 document), valid now: signed
    with a key the partner publishes (refreshed on an unknown kid), of a recognised type, in its validity, and
    not revoked or suspended in the partner's status list. ``Refused`` otherwise (with the issuer when known)."""
    now = datetime.now(UTC)
    iss = unverified_issuer(document)
    entry = await session.scalar(select(TrustedIssuer).where(TrustedIssuer.issuer == iss))
    if entry is None:
        raise Refused("unknown_issuer", issuer=iss)
    if not (entry.valid_from <= now < entry.valid_until):
        raise Refused("issuer_not_trusted_now", entry)
    if not isinstance(document, dict):
        try:
            kid = str(jwt.get_unverified_header(document.split("~", 1)[0]).get("kid") or "")
        except jwt.PyJWTError:
            raise Refused("malformed", entry) from None
        await _refresh_on_unknown_kid(session, partners, entry, kid, now)
    if _keys_stale(entry, now, partners.settings):
        raise Refused("issuer_keys_stale", entry)
    claims = _verified_claims(entry, iss, document)
    doc_type = claims.get("licence_type_code") or claims.get("vct")
    if doc_type not in entry.document_types and claims.get("vct") not in entry.document_types:
        raise Refused("document_type_not_recognised", entry)
    if not isinstance(document, dict):  # an SM2 document's validity is checked by sm2docs.verify_document
        if int(claims.get("exp", 0)) <= now.timestamp():
            raise Refused("expired", entry)
        if int(claims.get("nbf", 0)) > now.timestamp():
            raise Refused("not_yet_valid", entry)
    await _check_status(partners, entry, claims, sm2_document=isinstance(document, dict))
    return entry, claims


def _verified_claims(entry: TrustedIssuer, iss: str, document: str | dict[str, Any]) -> dict[str, Any]:
    def key_of(issuer: str, header: dict[str, Any]) -> JWK:
        if issuer != entry.issuer:
            raise Refused("unknown_issuer", entry)
        if header.get("alg") != ALG or header.get("typ") != CREDENTIAL_TYP:
            raise Refused("wrong_algorithm_or_type", entry)
        for key in entry.jwks.get("keys", []):
            if key.get("kid") == header.get("kid"):
                return JWK(**key)
        raise Refused("unknown_key", entry)

    def sm2_key_of(issuer: str, doc: dict[str, Any]) -> tuple[sm2.PublicKey, bytes]:
        for key in entry.sm2_keys:
            if key.get("kid") == doc["kid"]:
                return sm2.load_public_key(key["public_key"]), str(key.get("signer_id") or "").encode()
        raise Refused("unknown_key", entry)

    if isinstance(document, dict):
        try:
            return {"iss": iss, **sm2docs.verify_document(document, sm2_key_of)["licence"]}
        except CredentialInvalid as e:
            raise Refused(e.reason, entry) from None
    try:
        claims: dict[str, Any] = SDJWTVerifier(document, key_of).get_verified_payload()
    except Refused:
        raise
    except Exception:  # the sd-jwt library raises many types for a bad signature or a tampered disclosure
        raise Refused("bad_signature", entry) from None
    return claims


async def check_partner_document_current(session: AsyncSession, partners: Partners,
                                         document: str | dict[str, Any]) -> PartnerDocument:
    """Whether a partner's document (its SD-JWT VC as presented — issuer-signed JWT with the holder's
    disclosures, ``~``-separated — or its SM2 document) counts *now*: the partner is on the trust list, the
    signature verifies with the keys the partner publishes today, the type is recognised, it is in its validity
    and the partner's status list does not say revoked or suspended.

    ``partners`` is the process's ``Issuer.partners``. May fetch the partner's keys (on an unknown kid) or its
    status list (cached briefly) while ``session``'s transaction is open: a few seconds at most
    (``partner_fetch_timeout_seconds``). Raises ``PartnerDocumentRefused`` (409, ``reason`` one of ``REFUSALS``,
    the text in Chinese and English); records nothing itself (``recognition.recognise`` records recognitions)."""
    try:
        entry, claims = await verify_partner_document(session, partners, document)
    except Refused as e:
        PARTNER_REFUSALS.labels(e.reason).inc()
        raise PartnerDocumentRefused(e.reason) from None
    exp = claims.get("exp") or claims.get("valid_until")
    valid_until = None
    if isinstance(exp, int | float):
        valid_until = datetime.fromtimestamp(exp, UTC)
    elif isinstance(exp, str):
        try:
            valid_until = datetime.fromisoformat(exp)
        except ValueError:
            valid_until = None
    return PartnerDocument(issuer=entry.issuer, province=entry.province, trusted_issuer_id=entry.id,
                           document_identifier=str(claims.get("licence_identifier") or "") or None,
                           document_type=str(claims.get("licence_type_code") or "") or None,
                           valid_until=valid_until, claims=claims)
